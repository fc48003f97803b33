"""The CLI end to end: score writes valid submissions; bad input gives one line, non-zero exit, no file."""

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from metricbench.cli.main import app
from metricbench.registry import metric_names
from tests.conftest import DATA, assert_one_line_error, write_competition

runner = CliRunner()


def _valid_submission(path, pairs_csv):
    sub = pd.read_csv(path)
    pairs = pd.read_csv(pairs_csv)
    assert list(sub.columns) == ["Id", "Predicted"]
    assert sorted(sub.Id) == sorted(pairs.Id) and list(sub.Id) == sorted(sub.Id)
    assert np.isfinite(sub.Predicted).all()
    return sub


@pytest.mark.parametrize("metric", ["cosine-whitened", "euclidean"])
def test_score_on_embedded_default(metric, tmp_path):
    out = tmp_path / f"{metric}.csv"
    res = runner.invoke(app, ["score", "--metric", metric, "--out", str(out), "--val-pairs", "4000", "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    sub = _valid_submission(out, DATA / "test_pairs.csv")
    assert len(sub) == 4000
    assert 0.5 < summary["validation"]["auroc"] <= 1 and 0.5 < summary["test"]["auroc"] <= 1
    assert summary["validation"]["cross_groups"] == ["clean", "xq40"]
    if metric == "euclidean":  # same ordering as the baseline
        assert summary["test"]["auroc"] == pytest.approx(summary["test"]["baseline_sqeuclidean_auroc"])


def test_score_similarity_and_params(tmp_path):
    d = write_competition(tmp_path / "c")
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    r1 = runner.invoke(app, ["score", "-m", "minkowski", "--data", str(d), "--out", str(a), "-p", "p=3", "--no-validate"])
    r2 = runner.invoke(app, ["score", "-m", "minkowski", "--data", str(d), "--out", str(b), "-p", "p=3",
                             "--no-validate", "--similarity"])
    assert r1.exit_code == 0 and r2.exit_code == 0, r1.output + r2.output
    np.testing.assert_allclose(pd.read_csv(a).Predicted, -pd.read_csv(b).Predicted)


def test_pair_index_out_of_range_leaves_no_file(tmp_path):
    d = write_competition(tmp_path / "c")
    pairs = pd.read_csv(d / "test_pairs.csv")
    pairs.loc[3, "index2"] = 999
    pairs.to_csv(d / "test_pairs.csv", index=False)
    out = tmp_path / "out.csv"
    res = runner.invoke(app, ["score", "--metric", "cosine", "--data", str(d), "--out", str(out)])
    assert_one_line_error(res, r"test_pairs\.csv: line 5: index2 999 is out of range")
    assert not out.exists() and list(tmp_path.glob("*.tmp")) == []


def test_nan_rows_exit_non_zero_and_leave_no_file(tmp_path):
    d = write_competition(tmp_path / "c")
    X = np.load(d / "test_set.npy")
    X[[4, 7]] = np.nan
    np.save(d / "test_set.npy", X)
    out = tmp_path / "out.csv"
    res = runner.invoke(app, ["score", "--metric", "cosine-whitened", "--data", str(d), "--out", str(out)])
    assert_one_line_error(res, r"test_set\.npy: 2 row\(s\) contain NaN or inf \(row index 4, 7, 0-based")
    assert not out.exists()


def test_unknown_metric_and_bad_param(tmp_path):
    res = runner.invoke(app, ["score", "--metric", "cosine-whitend"])
    assert_one_line_error(res, r"unknown metric 'cosine-whitend'; did you mean cosine-whitened")
    d = write_competition(tmp_path / "c")
    res = runner.invoke(app, ["score", "--metric", "cosine", "--data", str(d), "-p", "oops"])
    assert_one_line_error(res, r"'oops' is not key=value")
    res = runner.invoke(app, ["score", "--metric", "cosine", "--data", str(tmp_path / "nope")])
    assert_one_line_error(res, r"nope: competition directory not found")


def test_metrics_lists_every_registered_name():
    res = runner.invoke(app, ["metrics"])
    assert res.exit_code == 0
    listed = [ln.split()[0] for ln in res.stdout.strip().splitlines()]
    assert listed == metric_names()


def test_make_competition_is_identity_disjoint_and_seeded(tmp_path, rng):
    n, d = 120, 6
    y = np.repeat(np.arange(30), 4)
    A = rng.standard_normal((n, d)).astype(np.float32)
    B = (A + 0.1 * rng.standard_normal((n, d))).astype(np.float32)
    np.save(tmp_path / "a.npy", A)
    np.save(tmp_path / "b.npy", B)
    pd.DataFrame({"index": np.arange(n), "class": [f"p{c}" for c in y]}).to_csv(tmp_path / "l.csv", index=False)
    args = ["make-competition", f"clean={tmp_path / 'a.npy'}", f"deg={tmp_path / 'b.npy'}", "--labels",
            str(tmp_path / "l.csv"), "--cross", "clean,deg", "--pairs", "60", "--seed", "3"]
    r1 = runner.invoke(app, args + ["--out", str(tmp_path / "c1")])
    r2 = runner.invoke(app, args + ["--out", str(tmp_path / "c2")])
    assert r1.exit_code == 0 and r2.exit_code == 0, r1.output
    for f in ("train_set.npy", "test_set.npy", "test_pairs.csv", "solution.csv", "train_labels.csv"):
        assert (tmp_path / "c1" / f).read_bytes() == (tmp_path / "c2" / f).read_bytes()
    from metricbench.io import load_competition

    c = load_competition(tmp_path / "c1", validate=True)
    # rows of the test set trace back to identities never seen in train
    Xte = np.asarray(c.test_X)
    row_of = {A[i].tobytes(): y[i] for i in range(n)} | {B[i].tobytes(): y[i] for i in range(n)}
    test_ids = {row_of[r.tobytes()] for r in Xte}
    train_ids = {row_of[r.tobytes()] for r in np.asarray(c.train_X)}
    assert not test_ids & train_ids
    p = c.pairs
    yt = np.array([row_of[r.tobytes()] for r in Xte])
    assert (c.solution == (yt[p.index1] == yt[p.index2])).all()
    assert set(c.train_groups) == {"clean", "deg"}
    res = runner.invoke(app, args + ["--out", str(tmp_path / "c1")])
    assert_one_line_error(res, r"already exists and was kept; pass --overwrite to replace it")


def test_score_learned_metric_with_train_groups(tmp_path):
    """Every learned metric accepts the variant tags that score passes from train_meta.csv."""
    out = tmp_path / "s.csv"
    res = runner.invoke(app, ["score", "--metric", "ml-covariance", "--out", str(out), "--val-pairs", "2000"])
    assert res.exit_code == 0, res.output
    assert len(pd.read_csv(out)) == 4000


@pytest.mark.parametrize("command", [["score", "-m", "cosine"], ["evaluate", "-m", "cosine"], ["auto"],
                                     ["retrieve", "-m", "lda-cosine", "-q", "Q", "-g", "Q"]])
def test_data_that_is_a_file_is_named_as_such(tmp_path, command):
    """--data naming an existing file: say it is a file, not 'competition directory not found'."""
    f = tmp_path / "train_set.npy"
    np.save(f, np.zeros((4, 3), dtype=np.float32))
    args = [str(f) if a == "Q" else a for a in command]
    res = runner.invoke(app, [*args, "--data", str(f)])
    assert_one_line_error(res, r"train_set.npy is a file, not a competition directory; give the folder .*\(--data\)$")
    assert res.exit_code == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train_set.npy"]


def test_help_usage_names_arguments_plainly_and_reflows_paragraphs():
    """lfw -h showed '{pairs}'; auto -h broke a sentence where the docstring's source line ended."""
    import re

    for cmd, usage in (("lfw", "PAIRS"), ("extract", "IMAGES_DIR"), ("make-competition", "EMBEDDINGS...")):
        out = runner.invoke(app, [cmd, "-h"], env={"COLUMNS": "120"}).output
        assert re.search(rf"Usage: metricbench {cmd} \[OPTIONS\] {re.escape(usage)}\s", out), out
        assert "{" not in out.split("\n\n")[0] + out.splitlines()[1]
    out = runner.invoke(app, ["auto", "-h"], env={"COLUMNS": "200"}).output
    assert "no candidate was chosen on" in out, out
