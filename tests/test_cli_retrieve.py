"""``metricbench retrieve``: exact top-k files and measures equal a brute-force ranking."""

import json
import re

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from metricbench.cli.main import app
from tests.conftest import DATA, assert_one_line_error

runner = CliRunner()


@pytest.fixture(scope="module")
def xq_split(tmp_path_factory):
    """Queries: 400 xq40 train rows of the embedded lfw-xq; gallery: every clean train row."""
    tmp = tmp_path_factory.mktemp("xq")
    X = np.load(DATA / "train_set.npy")
    y = pd.read_csv(DATA / "train_labels.csv").sort_values("index")["class"].to_numpy()
    g = pd.read_csv(DATA / "train_meta.csv").sort_values("index")["group"].to_numpy()
    q_rows = np.flatnonzero(g == "xq40")[:400]
    g_rows = np.flatnonzero(g == "clean")
    np.save(tmp / "q.npy", X[q_rows])
    np.save(tmp / "g.npy", X[g_rows])
    pd.DataFrame({"index": range(q_rows.size), "class": y[q_rows],
                  "path": [f"q/{i}.jpg" for i in q_rows]}).to_csv(tmp / "q.csv", index=False)
    pd.DataFrame({"index": range(g_rows.size), "class": y[g_rows],
                  "path": [f"g/{i}.jpg" for i in g_rows]}).to_csv(tmp / "g.csv", index=False)
    return tmp, X[q_rows].astype(np.float64), X[g_rows].astype(np.float64), y[q_rows], y[g_rows]


def _brute(Q, G, metric):
    if metric == "cosine":
        Qn = Q / np.linalg.norm(Q, axis=1, keepdims=True)
        Gn = G / np.linalg.norm(G, axis=1, keepdims=True)
        D = 1 - Qn @ Gn.T
    else:
        D = np.sqrt(np.maximum((Q**2).sum(1)[:, None] + (G**2).sum(1)[None] - 2 * Q @ G.T, 0))
    return np.argsort(D, axis=1, kind="stable")


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_retrieve_topk_and_accuracies_equal_brute_force(xq_split, tmp_path, metric):
    d, Q, G, yq, yg = xq_split
    out = tmp_path / "top.csv"
    res = runner.invoke(app, ["retrieve", "--metric", metric, "--query", str(d / "q.npy"), "--gallery",
                              str(d / "g.npy"), "-k", "10", "--out", str(out), "--query-labels", str(d / "q.csv"),
                              "--gallery-labels", str(d / "g.csv"), "--json"])
    assert res.exit_code == 0, res.output
    order = _brute(Q, G, metric)
    sub = pd.read_csv(out)
    assert list(sub.columns) == ["QueryId", "Predicted"] and list(sub.QueryId) == list(range(len(Q)))
    got = np.array([list(map(int, s.split())) for s in sub.Predicted])
    np.testing.assert_array_equal(got, order[:, :10])
    rel = yg[order] == yq[:, None]
    has = rel.any(axis=1)
    m = json.loads(res.stdout)["measures"]
    assert m["n_queries_no_match"] == int((~has).sum())
    for k in (1, 5, 10):
        assert m[f"top{k}_accuracy"] == pytest.approx(rel[has, :k].any(axis=1).mean(), abs=1e-12)
    R = rel.sum(axis=1)[has]
    rprec = np.mean([rel[has][i, : R[i]].sum() / R[i] for i in range(R.size)])
    assert m["r_precision"] == pytest.approx(rprec, abs=1e-12)


def test_retrieve_names_json_and_plain_output(xq_split, tmp_path):
    d, Q, G, yq, yg = xq_split
    out = tmp_path / "top.json"
    res = runner.invoke(app, ["retrieve", "-m", "cosine", "-q", str(d / "q.npy"), "-g", str(d / "g.npy"), "-k", "3",
                              "--format", "json", "--names", "--query-labels", str(d / "q.csv"),
                              "--gallery-labels", str(d / "g.csv"), "--out", str(out)])
    assert res.exit_code == 0, res.output
    obj = json.loads(out.read_text())
    qpaths = pd.read_csv(d / "q.csv").path.tolist()
    gpaths = pd.read_csv(d / "g.csv").path.to_numpy()
    order = _brute(Q, G, "cosine")
    assert list(obj) == qpaths
    assert obj[qpaths[5]] == gpaths[order[5, :3]].tolist()
    assert re.search(r"top-1\s+top-3\s+top-5\s+top-10\s+precision@1\s+R-precision\s+mAP@R\s+mAP", res.stdout)
    assert re.search(r"(0\.\d{4}\s+){7}0\.\d{4}", res.stdout)
    assert "without a gallery match (excluded)" in res.stdout


def test_retrieve_learned_metric_and_exclude_self(xq_split, tmp_path):
    d, Q, G, yq, yg = xq_split
    res = runner.invoke(app, ["retrieve", "-m", "cosine-whitened", "-q", str(d / "q.npy"), "-g", str(d / "q.npy"),
                              "--exclude-self", "--data", str(DATA), "-k", "5", "--out", str(tmp_path / "o.csv"),
                              "--query-labels", str(d / "q.csv"), "--gallery-labels", str(d / "q.csv"), "--json"])
    assert res.exit_code == 0, res.output
    s = json.loads(res.stdout)
    assert s["chosen"] and s["measures"]["n_gallery"] == len(Q)
    got = np.array([list(map(int, p.split())) for p in pd.read_csv(tmp_path / "o.csv").Predicted])
    assert not (got == np.arange(len(Q))[:, None]).any()


@pytest.mark.parametrize(
    "extra,pattern",
    [
        (["-m", "cosine-whitened"], r"learns from labelled data: pass --data"),
        (["-m", "cosin"], r"unknown metric 'cosin'"),
        (["--format", "xml"], r"invalid value for --format: .*xml.*csv.*json"),
        (["-k", "0"], r"invalid value for -k: .* 1"),
        (["--query-labels", "{q_csv}"], r"give both --query-labels and --gallery-labels"),
        (["--names"], r"--names needs --gallery-labels with a path column"),
        (["--gallery-labels", "{bad_csv}", "--query-labels", "{q_csv}"], r"labels .* rows but the embedding matrix"),
    ],
)
def test_retrieve_bad_input_leaves_no_file(xq_split, tmp_path, extra, pattern):
    d = xq_split[0]
    pd.DataFrame({"index": [0, 1], "class": [1, 2]}).to_csv(tmp_path / "bad.csv", index=False)
    extra = [e.format(q_csv=d / "q.csv", bad_csv=tmp_path / "bad.csv") for e in extra]
    out = tmp_path / "o.csv"
    res = runner.invoke(app, ["retrieve", "-q", str(d / "q.npy"), "-g", str(d / "g.npy"), "--out", str(out), *extra])
    assert_one_line_error(res, pattern)
    assert not out.exists() and not list(tmp_path.glob(".o.csv*"))


def test_retrieve_width_mismatch_and_missing_file(tmp_path):
    np.save(tmp_path / "a.npy", np.ones((3, 4), np.float32))
    np.save(tmp_path / "b.npy", np.ones((3, 5), np.float32))
    out = tmp_path / "o.csv"
    res = runner.invoke(app, ["retrieve", "-q", str(tmp_path / "a.npy"), "-g", str(tmp_path / "b.npy"), "--out", str(out)])
    assert_one_line_error(res, r"4-D but .* is 5-D")
    res = runner.invoke(app, ["retrieve", "-q", str(tmp_path / "nope.npy"), "-g", str(tmp_path / "b.npy"),
                              "--out", str(out)])
    assert_one_line_error(res, r"nope\.npy")
    assert not out.exists()


def test_retrieve_backend_faiss_says_so(xq_split, tmp_path):
    pytest.importorskip("faiss")
    d, Q, G, yq, yg = xq_split
    out = tmp_path / "top.csv"
    args = ["retrieve", "-m", "cosine", "-q", str(d / "q.npy"), "-g", str(d / "g.npy"), "-k", "5"]
    res = runner.invoke(app, [*args, "--out", str(out), "--backend", "faiss", "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert summary["backend"] == "faiss" and summary["exact"] is False
    got = np.array([list(map(int, s.split())) for s in pd.read_csv(out).Predicted])
    np.testing.assert_array_equal(got, _brute(Q, G, "cosine")[:, :5])  # no near-ties in these rows
    res = runner.invoke(app, [*args, "--out", str(tmp_path / "t2.csv"), "--backend", "faiss"])
    assert res.exit_code == 0 and "backend faiss: not exact on near-ties" in res.output
    res = runner.invoke(app, ["retrieve", "-m", "canberra", "-q", str(d / "q.npy"), "-g", str(d / "g.npy"),
                              "--out", str(tmp_path / "t3.csv"), "--backend", "faiss"])
    assert_one_line_error(res, "faiss")
    assert not (tmp_path / "t3.csv").exists()
