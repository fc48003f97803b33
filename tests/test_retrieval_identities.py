"""Ranked identities (``search_identities``, ``retrieve --identities``) and the leak-free retrieval exercise."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from conftest import assert_one_line_error
from metricbench.cli.main import app
from metricbench.evaluation.retrieval import search_identities


def _brute_identities(Q, G, labels, k, exclude_self=False):
    D = np.linalg.norm(Q[:, None, :] - G[None, :, :], axis=2)
    if exclude_self:
        np.fill_diagonal(D, np.inf)
    out = []
    for q in range(Q.shape[0]):
        best: dict = {}
        for g in np.argsort(D[q], kind="stable"):
            if np.isfinite(D[q, g]):
                best.setdefault(labels[g], D[q, g])
        out.append(sorted(best.items(), key=lambda t: t[1])[:k])
    return out


@pytest.mark.parametrize("exclude_self", [False, True])
def test_search_identities_matches_brute_force(rng, exclude_self):
    G = rng.standard_normal((400, 6))
    labels = np.array([f"person_{i % 41}" for i in rng.permutation(400)])
    Q = G if exclude_self else rng.standard_normal((50, 6))
    names, dist = search_identities(Q, G, labels, 7, metric="euclidean", exclude_self=exclude_self)
    ref = _brute_identities(Q, G, labels, 7, exclude_self)
    assert names.shape == (Q.shape[0], 7)
    for q, r in enumerate(ref):
        assert names[q].tolist() == [a for a, _ in r]
        np.testing.assert_allclose(dist[q], [b for _, b in r], rtol=1e-6)


def test_search_identities_caps_k_and_checks_input(rng):
    G = rng.standard_normal((10, 3))
    names, _ = search_identities(G[:2], G, np.arange(10) % 3, 5, metric="cosine")
    assert names.shape == (2, 3) and set(names[0]) == {0, 1, 2}
    from metricbench.errors import InputError

    with pytest.raises(InputError, match="expected 10"):
        search_identities(G, G, np.arange(9), 2)
    with pytest.raises(InputError, match="k must be >= 1"):
        search_identities(G, G, np.arange(10), 0)


@pytest.fixture(scope="module")
def exercise(tmp_path_factory):
    from metricbench.datasets import write_lfw_xq_retrieval

    return write_lfw_xq_retrieval(tmp_path_factory.mktemp("demo"), seed=0)


def test_exercise_is_leak_free(exercise):
    q = pd.read_csv(exercise["query_labels"])
    g = pd.read_csv(exercise["gallery_labels"])
    lab = pd.read_csv(exercise["labelled_labels"])
    assert not set(lab["class"]) & (set(q["class"]) | set(g["class"]))  # disjoint identities
    assert set(q["class"]) <= set(g["class"])  # every query has its identity in the gallery
    assert not set(q["path"]) & set(g["path"])  # and never its own photo
    Q, G = np.load(exercise["query"]), np.load(exercise["gallery"])
    L = np.vstack([np.load(exercise["labelled_clean"]), np.load(exercise["labelled_xq40"])])
    # no embedding of the exercise occurs in the labelled collection
    seen = {r.tobytes() for r in L}
    assert not any(r.tobytes() in seen for r in np.vstack([Q, G]))


def test_retrieve_identities_submission(exercise, tmp_path):
    out = tmp_path / "ranking.csv"
    args = ["retrieve", "-m", "cosine", "-q", str(exercise["query"]), "-g", str(exercise["gallery"]),
            "--query-labels", str(exercise["query_labels"]), "--gallery-labels", str(exercise["gallery_labels"]),
            "--names", "--identities", "-k", "5", "--out", str(out)]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    sub = pd.read_csv(out)
    q = pd.read_csv(exercise["query_labels"])
    g = pd.read_csv(exercise["gallery_labels"])
    assert sub["QueryId"].tolist() == q["path"].tolist()
    ranked = sub["Predicted"].str.split(" ")
    assert (ranked.map(len) == 5).all() and ranked.map(lambda r: len(set(r)) == 5).all()
    Q, G = np.load(exercise["query"]), np.load(exercise["gallery"])
    names, _ = search_identities(Q, G, g["class"].to_numpy(), 5, metric="cosine")
    assert ranked.tolist() == names.tolist()
    # top-1 identity = identity of the top-1 gallery row
    D = 1 - (Q / np.linalg.norm(Q, axis=1, keepdims=True)) @ (G / np.linalg.norm(G, axis=1, keepdims=True)).T
    assert [r[0] for r in ranked] == g["class"].to_numpy()[D.argmin(1)].tolist()
    # --identities needs the gallery's names
    bad = CliRunner().invoke(app, args[:7] + ["--identities", "--out", str(tmp_path / "x.csv")])
    assert_one_line_error(bad, "--identities needs --gallery-labels")
    assert not (tmp_path / "x.csv").exists()
