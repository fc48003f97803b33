"""Retrieval measures against a brute-force ranking computed query by query."""

import numpy as np
import pytest

from metricbench.errors import InputError
from metricbench.evaluation.retrieval import (
    brute_force_topk,
    retrieval_metrics,
    retrieval_metrics_from_embeddings,
)


def _sqdist(A, B):
    return ((A[:, None, :] - B[None, :, :]) ** 2).sum(-1)


def _reference(Q, G, ql, gl, ks=(1, 5, 10), exclude_self=False):
    """Plain-Python measures from a full stable ranking."""
    D = _sqdist(Q, G)
    rows = {f"top{k}": [] for k in ks}
    rows.update(p1=[], rprec=[], apr=[], ap=[])
    skipped = 0
    for i in range(len(Q)):
        order = [j for j in np.argsort(D[i], kind="stable") if not (exclude_self and j == i)]
        rel = [gl[j] == ql[i] for j in order]
        R = sum(rel)
        if R == 0:
            skipped += 1
            continue
        for k in ks:
            rows[f"top{k}"].append(float(any(rel[:k])))
        rows["p1"].append(float(rel[0]))
        rows["rprec"].append(sum(rel[:R]) / R)
        hits, s_r, s_all = 0, 0.0, 0.0
        for pos, r in enumerate(rel, start=1):
            if r:
                hits += 1
                s_all += hits / pos
                if pos <= R:
                    s_r += hits / pos
        rows["apr"].append(s_r / R)
        rows["ap"].append(s_all / R)
    out = {f"top{k}_accuracy": np.mean(rows[f"top{k}"]) for k in ks}
    out.update(
        precision_at_1=np.mean(rows["p1"]), r_precision=np.mean(rows["rprec"]),
        map_at_r=np.mean(rows["apr"]), map=np.mean(rows["ap"]), n_queries_no_match=skipped,
    )
    return out


def _toy(seed=0, nq=60, ng=200, n_ids=25, d=6, distractors=10):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_ids + distractors, d))
    ql = rng.integers(0, n_ids + 5, size=nq)  # ids >= n_ids ... some without gallery match
    gl = rng.integers(0, n_ids + distractors, size=ng)
    gl[(gl >= n_ids) & (gl < n_ids + 5)] = 0  # ids n_ids..n_ids+4: queries only
    Q = centres[np.minimum(ql, n_ids + distractors - 1)] + 0.9 * rng.normal(size=(nq, d))
    G = centres[gl] + 0.9 * rng.normal(size=(ng, d))
    return Q, G, ql, gl


KEYS = ["top1_accuracy", "top5_accuracy", "top10_accuracy", "precision_at_1", "r_precision", "map_at_r", "map"]


@pytest.mark.parametrize("seed", [0, 1])
def test_from_embeddings_equals_brute_force(seed):
    Q, G, ql, gl = _toy(seed)
    ref = _reference(Q, G, ql, gl)
    got = retrieval_metrics_from_embeddings(Q, G, ql, gl, metric=_sqdist, working_memory=0.01)
    assert ref["n_queries_no_match"] > 0 and got["n_queries_no_match"] == ref["n_queries_no_match"]
    for k in KEYS:
        assert got[k] == pytest.approx(ref[k], abs=1e-12), k
    assert got["map_exact"] and got["depth"] == len(G)


def test_from_index_matrix_equals_brute_force():
    Q, G, ql, gl = _toy(2)
    ref = _reference(Q, G, ql, gl)
    idx, _ = brute_force_topk(Q, G, len(G), metric=_sqdist)
    got = retrieval_metrics(idx, ql, gl)
    for k in KEYS:
        assert got[k] == pytest.approx(ref[k], abs=1e-12), k
    # a shallower matrix still gives top-k, and the R measures while depth >= max R
    depth = got["max_r"]
    shallow = retrieval_metrics(idx[:, :depth], ql, gl)
    for k in KEYS[:-1]:
        assert shallow[k] == pytest.approx(ref[k], abs=1e-12), k
    assert shallow["map"] <= ref["map"] + 1e-12
    too_shallow = retrieval_metrics(idx[:, :5], ql, gl)
    assert np.isnan(too_shallow["r_precision"]) and np.isnan(too_shallow["top10_accuracy"])
    assert too_shallow["top5_accuracy"] == pytest.approx(ref["top5_accuracy"])
    assert not too_shallow["map_exact"]


def test_exclude_self_same_set():
    Q, _, ql, _ = _toy(3, nq=120)
    ref = _reference(Q, Q, ql, ql, exclude_self=True)
    got = retrieval_metrics_from_embeddings(Q, Q, ql, ql, metric=_sqdist, exclude_self=True)
    idx, _ = brute_force_topk(Q, Q, len(Q), metric=_sqdist)  # self included: first column
    got_idx = retrieval_metrics(idx, ql, ql, exclude_self=True)
    for k in KEYS:
        assert got[k] == pytest.approx(ref[k], abs=1e-12), k
        assert got_idx[k] == pytest.approx(ref[k], abs=1e-12), k
    # singletons have no other image: excluded
    singles = np.sum(np.bincount(ql)[ql] == 1)
    assert got["n_queries_no_match"] == singles == ref["n_queries_no_match"]


def test_ties_go_to_lower_gallery_index():
    G = np.array([[1.0], [1.0], [0.0]])
    Q = np.array([[1.0]])
    got = retrieval_metrics_from_embeddings(Q, G, [7], [8, 7, 7], metric=_sqdist, ks=(1, 2))
    # ranking: 0 (label 8), 1 (label 7), 2 (label 7)
    assert got["top1_accuracy"] == 0 and got["top2_accuracy"] == 1
    assert got["map"] == pytest.approx((1 / 2 + 2 / 3) / 2)


def test_string_labels_and_per_query():
    Q, G, ql, gl = _toy(4)
    a = retrieval_metrics_from_embeddings(Q, G, ql, gl, metric=_sqdist, return_per_query=True)
    b = retrieval_metrics_from_embeddings(
        Q, G, np.char.add("id", ql.astype(str)), np.char.add("id", gl.astype(str)), metric=_sqdist
    )
    for k in KEYS:
        assert a[k] == b[k]
    pq = a["per_query"]
    assert pq["valid"].sum() == a["n_queries_evaluated"]
    assert np.mean(pq["ap"][pq["valid"]]) == pytest.approx(a["map"])


def test_bad_inputs():
    with pytest.raises(InputError, match="outside 0..2"):
        retrieval_metrics(np.array([[0, 3]]), [1], [1, 2, 3])
    with pytest.raises(InputError, match="2 rows but there are 1 query labels"):
        retrieval_metrics(np.zeros((2, 2), int), [1], [1, 2, 3])
    with pytest.raises(InputError, match="same rows"):
        retrieval_metrics(np.zeros((1, 2), int), [1], [1, 2, 3], exclude_self=True)
    with pytest.raises(InputError, match="equal widths"):
        retrieval_metrics_from_embeddings(np.zeros((2, 3)), np.zeros((2, 4)), [1, 2], [1, 2])
    with pytest.raises(InputError, match="ks must be positive"):
        retrieval_metrics(np.zeros((1, 2), int), [1], [1, 2, 3], ks=(0,))


@pytest.mark.parametrize("metric", ["euclidean", "cosine", "sqeuclidean"])
def test_registered_distances_and_topk_agree_with_brute_force(metric):
    from metricbench.distances.api import topk  # the package attribute is shadowed by the topk submodule

    Q, G, ql, gl = _toy(5)
    idx_ref, _ = brute_force_topk(Q, G, len(G), metric=metric)
    ref = retrieval_metrics(idx_ref, ql, gl)
    got = retrieval_metrics_from_embeddings(Q, G, ql, gl, metric=metric)
    idx, _ = topk(Q, G, 40, metric=metric)
    np.testing.assert_array_equal(idx, idx_ref[:, :40])
    from_topk = retrieval_metrics(idx, ql, gl)
    for k in KEYS:
        assert got[k] == pytest.approx(ref[k], abs=1e-12), k
        if k != "map":
            assert from_topk[k] == pytest.approx(ref[k], abs=1e-12), k


def test_metric_objects():
    from metricbench.registry import get_metric

    Q, G, ql, gl = _toy(6)
    ref = retrieval_metrics_from_embeddings(Q, G, ql, gl, metric="cosine")
    m = get_metric("cosine")
    got = retrieval_metrics_from_embeddings(Q, G, ql, gl, metric=m)
    for k in KEYS:
        assert got[k] == pytest.approx(ref[k], abs=1e-12), k
