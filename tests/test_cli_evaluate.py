"""``metricbench evaluate``: tables, JSON, plots, leaderboard verdict; one-line errors."""

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score
from typer.testing import CliRunner

from metricbench.cli.main import app
from tests.conftest import DATA, assert_one_line_error, write_competition

runner = CliRunner()


def test_evaluate_small_competition(tmp_path):
    d = write_competition(tmp_path / "c", n_train=120, n_cls=10, n_pairs=60)
    run = tmp_path / "run"
    res = runner.invoke(app, ["evaluate", "--metrics", "euclidean,cosine,manhattan", "--data", str(d),
                              "--out", str(run), "--val-pairs", "200", "--n-boot", "50"])
    assert res.exit_code == 0, res.output
    table = pd.read_csv(run / "evaluation.csv")
    assert list(table.metric) == ["euclidean", "euclidean", "cosine", "cosine", "manhattan", "manhattan"]
    assert list(table.split) == ["validation", "test"] * 3
    # test AUROC recomputed independently from the files
    X = np.load(d / "test_set.npy").astype(np.float64)
    pairs = pd.read_csv(d / "test_pairs.csv")
    sol = pd.read_csv(d / "solution.csv").set_index("Id").loc[pairs.Id, "Expected"].to_numpy()
    dist = np.linalg.norm(X[pairs.index1] - X[pairs.index2], axis=1)
    row = table[(table.metric == "euclidean") & (table.split == "test")].iloc[0]
    assert row.auroc == pytest.approx(roc_auc_score(sol, -dist))
    payload = json.loads((run / "evaluation.json").read_text())
    assert payload["settings"]["metrics"] == ["euclidean", "cosine", "manhattan"]
    assert set(payload["leaderboard"]["aurocs"]) == {"euclidean", "cosine", "manhattan"}
    for split in ("validation", "test"):
        for kind in ("roc", "det", "hist"):
            p = run / f"{split}_{kind}.png"
            assert p.is_file() and f"plot: {p}" in res.stdout
    assert "verdict:" in res.stdout and "AUROC [95% CI]" in res.stdout


def test_evaluate_embedded_default(tmp_path):
    run = tmp_path / "run"
    res = runner.invoke(app, ["evaluate", "--metrics", "euclidean,cosine,cosine-whitened", "--out", str(run),
                              "--val-pairs", "4000", "--n-boot", "100", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    rows = {(r["metric"], r["split"]): r for r in out["rows"]}
    # validation AUROC equals main's validate_metric on the same split and pairs
    from metricbench.model_selection import validate_metric
    from metricbench.io import load_competition

    c = load_competition(DATA)
    v = validate_metric("cosine", c.train_X, c.train_y, n_pairs=4000, groups=c.train_groups, images=c.train_images)
    assert rows[("cosine", "validation")]["auroc"] == pytest.approx(v.auroc)
    assert out["settings"]["cross_groups"] == ["clean", "xq40"]
    for r in out["rows"]:
        assert r["auroc_low"] < r["auroc"] < r["auroc_high"]
        assert 0.5 < r["auroc"] < 1
    assert rows[("cosine-whitened", "test")]["chosen"]
    assert out["leaderboard"]["n_metrics"] == 3 and out["leaderboard"]["verdict"]
    assert len(out["plots"]) == 6


def test_evaluate_without_solution_skips_test(tmp_path):
    d = write_competition(tmp_path / "c", n_train=120, n_cls=10)
    (d / "solution.csv").unlink()
    res = runner.invoke(app, ["evaluate", "-m", "cosine,euclidean", "--data", str(d), "--out", str(tmp_path / "r"),
                              "--val-pairs", "100", "--n-boot", "20", "--no-plot"])
    assert res.exit_code == 0, res.output
    assert "no solution.csv" in res.stdout and "verdict" not in res.stdout
    assert set(pd.read_csv(tmp_path / "r" / "evaluation.csv").split) == {"validation"}
    assert not list((tmp_path / "r").glob("*.png"))


@pytest.mark.parametrize(
    "args,pattern",
    [
        (["-m", "cosine,cosin"], r"unknown metric 'cosin'"),
        (["-m", " , "], r"--metrics is empty"),
        (["-m", "cosine,cosine"], r"metric .cosine. is listed twice"),
        (["-m", "cosine", "-p", "cosine-whitened:k=3"], r"not in --metrics"),
        (["-m", "cosine", "-p", "oops"], r"is not METRIC:key=value"),
    ],
)
def test_evaluate_bad_input(tmp_path, args, pattern):
    run = tmp_path / "run"
    res = runner.invoke(app, ["evaluate", *args, "--out", str(run)])
    assert_one_line_error(res, pattern)
    assert not run.exists()


def test_evaluate_missing_data_dir(tmp_path):
    res = runner.invoke(app, ["evaluate", "--data", str(tmp_path / "nope"), "--out", str(tmp_path / "r")])
    assert_one_line_error(res, r"nope: competition directory not found")
    assert not (tmp_path / "r").exists()
