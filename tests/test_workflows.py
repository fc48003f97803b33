"""The library's workflows: result objects with every figure the CLI prints, progress hooks, no printing."""

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score
from typer.testing import CliRunner

import metricbench as mb
from metricbench.cli.main import app
from metricbench.errors import OutputExistsError, OutputPathError, ParameterError
from metricbench.workflows import ProgressHook
from tests.conftest import write_competition

runner = CliRunner()


class Recorder(ProgressHook):
    def __init__(self):
        self.events = []

    def start(self, description, total=None):
        self.events.append(("start", description, total))

    def advance(self, amount=1):
        self.events.append(("advance", amount))

    def finish(self, seconds, ok=True):
        self.events.append(("finish", ok))


@pytest.fixture
def comp(tmp_path):
    return write_competition(tmp_path / "c", n_train=120, n_cls=10, n_pairs=60)


def _truth(comp, metric):
    X = np.load(comp / "test_set.npy").astype(np.float64)
    pairs = pd.read_csv(comp / "test_pairs.csv")
    sol = pd.read_csv(comp / "solution.csv").set_index("Id").loc[pairs.Id, "Expected"].to_numpy()
    a, b = X[pairs.index1], X[pairs.index2]
    if metric == "cosine":
        d = 1 - (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    else:
        d = ((a - b) ** 2).sum(1)
    return pairs, sol, d


def test_score_competition_figures_match_the_cli_and_an_independent_auroc(comp, tmp_path, capsys):
    hook = Recorder()
    out = tmp_path / "s.csv"
    r = mb.score_competition("cosine", comp, val_pairs=200, out=out, progress=hook)
    assert capsys.readouterr() == ("", "")  # the library prints nothing
    pairs, sol, d = _truth(comp, "cosine")
    _, _, base = _truth(comp, "sqeuclidean")
    assert r.test.auroc == pytest.approx(roc_auc_score(sol, -d))
    assert r.test.baseline_auroc == pytest.approx(roc_auc_score(sol, -base))
    sub = pd.read_csv(out).set_index("Id").loc[pairs.Id, "Predicted"].to_numpy()
    np.testing.assert_allclose(sub, d, rtol=1e-6, atol=1e-7)
    assert isinstance(r, mb.ScoreResult) and r.validation.n_pairs == 200
    starts = [e[1] for e in hook.events if e[0] == "start"]
    assert any(s.startswith("validating") for s in starts) and any(s.startswith("scoring") for s in starts)
    assert sum(e[1] for e in hook.events if e[0] == "advance") == len(pairs)
    # the CLI's --json is the result's to_json
    res = runner.invoke(app, ["score", "-m", "cosine", "--data", str(comp), "--val-pairs", "200", "--json",
                              "--out", str(tmp_path / "t.csv")])
    assert res.exit_code == 0, res.output
    cli = json.loads(res.stdout)
    lib = r.to_json()
    for key in ("metric", "n_train", "n_test_pairs", "predicted"):
        assert cli[key] == lib[key]
    assert cli["validation"]["auroc"] == pytest.approx(lib["validation"]["auroc"])
    assert cli["test"] == pytest.approx(lib["test"])


def test_workflows_check_everything_before_reading_data(tmp_path):
    missing = tmp_path / "nope"  # would fail on reading; the checks must fire first
    with pytest.raises(ParameterError, match="shrinkage"):
        mb.score_competition("cosine-whitened", missing, params={"shrinkage": "abc"})
    with pytest.raises(OutputPathError, match="is a directory"):
        mb.score_competition("cosine", missing, out=tmp_path)
    (tmp_path / "old.csv").write_text("Id,Predicted\n")
    with pytest.raises(OutputExistsError, match="exists"):
        mb.score_competition("cosine", missing, out=tmp_path / "old.csv")
    with pytest.raises(mb.InputError, match="val_pairs must be at least 2"):
        mb.score_competition("cosine", missing, val_pairs=0)
    with pytest.raises(OutputPathError, match="is a file"):
        mb.evaluate_competition("cosine", missing, out=tmp_path / "old.csv")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.csv"]


def test_evaluate_competition_rows_describe_their_own_fit(comp, tmp_path):
    r = mb.evaluate_competition(["cosine", "lda-cosine"], comp, val_pairs=200, n_boot=20, out=tmp_path / "run",
                                plot=False)
    t = r.table
    assert list(t.metric) == ["cosine", "cosine", "lda-cosine", "lda-cosine"]
    val = t[(t.metric == "lda-cosine") & (t.split == "validation")].iloc[0]
    test = t[(t.metric == "lda-cosine") & (t.split == "test")].iloc[0]
    assert "fit identities" in val.fitted_on and test.fitted_on == "all 120 train rows"
    for row in (val, test):  # an AUROC inside a fit's description is its own inner selection
        assert "AUROC" not in row.chosen.replace("inner-selection AUROC", "")
    pairs, sol, d = _truth(comp, "cosine")
    assert t[(t.metric == "cosine") & (t.split == "test")].auroc.iloc[0] == pytest.approx(roc_auc_score(sol, -d))
    assert set(r.files) == {"csv", "json", "summary"}
    assert json.loads((tmp_path / "run" / "evaluation.json").read_text())["settings"]["metrics"] == ["cosine",
                                                                                                   "lda-cosine"]


def test_retrieve_returns_brute_force_ranking(tmp_path, rng):
    Q = rng.standard_normal((15, 6)).astype(np.float32)
    G = rng.standard_normal((40, 6)).astype(np.float32)
    np.save(tmp_path / "q.npy", Q)
    np.save(tmp_path / "g.npy", G)
    r = mb.retrieve(tmp_path / "q.npy", tmp_path / "g.npy", metric="l2", k=5, out=tmp_path / "r.csv")
    D = ((Q[:, None, :].astype(np.float64) - G[None]) ** 2).sum(-1)
    np.testing.assert_array_equal(r.indices, np.argsort(D, axis=1, kind="stable")[:, :5])
    sub = pd.read_csv(tmp_path / "r.csv")
    assert [list(map(int, p.split())) for p in sub.Predicted] == r.indices.tolist()
    assert r.metric == "euclidean" and r.to_json()["output"] == str(tmp_path / "r.csv")
