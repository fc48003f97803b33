"""Every registered distance against scipy.spatial.distance (or a closed form), plus the drivers."""

import math

import numpy as np
import pytest
from scipy.spatial import distance as sd

from metricbench.distances import paired_distances, pairwise_distances, pairwise_distances_chunked, topk
from metricbench.distances.registry import ALIASES, DISTANCES
from metricbench.errors import InputError, UnknownMetricError


def _angular(u, v):
    nu, nv = np.linalg.norm(u), np.linalg.norm(v)
    if nu == 0 and nv == 0:
        return 0.0
    if nu == 0 or nv == 0:
        return 0.5
    return math.acos(max(-1.0, min(1.0, float(u @ v) / (nu * nv)))) / math.pi


def _tanimoto(u, v):
    uv = float(u @ v)
    den = float(u @ u) + float(v @ v) - uv
    return 0.0 if den == 0 else 1.0 - uv / den


def reference(name, u, v, params):
    """Independent reference value of ``name`` for one pair (float64 inputs)."""
    if name == "angular":
        return _angular(u, v)
    if name == "tanimoto":
        return _tanimoto(u, v)
    if name == "dot":
        return -float(u @ v)
    fn = getattr(sd, DISTANCES[name].scipy)
    if name == "minkowski":
        return fn(u, v, p=params["p"])
    if name == "seuclidean":
        return fn(u, v, params["V"])
    if name == "mahalanobis":
        return fn(u, v, params["VI"])
    return fn(u, v)


def params_for(name, X):
    if name == "minkowski":
        return {"p": 3.0}
    if name == "seuclidean":
        return {"V": X.astype(np.float64).var(0, ddof=1) + 0.1}
    if name == "mahalanobis":
        C = np.cov(X.astype(np.float64).T) + 0.5 * np.eye(X.shape[1])
        return {"VI": np.linalg.inv(C)}
    return {}


def edge_rows(d):
    """Rows that exercise edge cases: zeros, identical, constant, tiny, huge, 0/1, negative, sparse."""
    r = np.random.default_rng(7)
    rows = [
        np.zeros(d),
        np.ones(d),
        np.full(d, 3.5),
        r.standard_normal(d),
        r.standard_normal(d) * 1e-6,
        r.standard_normal(d) * 1e4,
        (r.random(d) > 0.5).astype(float),
        (r.random(d) > 0.5).astype(float),
        -np.abs(r.standard_normal(d)),
        np.where(r.random(d) > 0.8, r.standard_normal(d), 0.0),
        r.random(d),
    ]
    return np.array(rows)


@pytest.mark.parametrize("name", sorted(DISTANCES))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matches_reference_on_random_data(name, dtype, rng):
    X = rng.standard_normal((40, 17)).astype(dtype)
    if name in ("yule", "rogerstanimoto", "dice", "russellrao", "sokalsneath", "jaccard", "hamming"):
        X[:20] = (X[:20] > 0).astype(dtype)  # half boolean-valued rows, half real rows
    i1 = rng.integers(0, 40, 200)
    i2 = rng.integers(0, 40, 200)
    params = params_for(name, X)
    got = paired_distances(X, i1, i2, metric=name, **params)
    X64 = X.astype(np.float64)
    want = np.array([reference(name, X64[a], X64[b], params) for a, b in zip(i1, i2)])
    ok = np.isfinite(want)
    # arccos is ill-conditioned at 1: for (near-)identical rows an absolute tolerance is the honest one
    atol = 1e-7 if name == "angular" else 1e-9
    np.testing.assert_allclose(got[ok], want[ok], rtol=1e-5, atol=atol)


@pytest.mark.parametrize("name", sorted(DISTANCES))
def test_matches_reference_on_edge_cases(name):
    X = edge_rows(12)
    n = X.shape[0]
    i1, i2 = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    i1, i2 = i1.ravel(), i2.ravel()
    params = params_for(name, np.vstack([X, np.random.default_rng(1).standard_normal((30, 12))]))
    got = paired_distances(X, i1, i2, metric=name, **params)
    assert np.isfinite(got).all() or name == "braycurtis"
    for a, b, g in zip(i1, i2, got):
        with np.errstate(all="ignore"), __import__("warnings").catch_warnings():
            __import__("warnings").simplefilter("ignore")
            try:
                w = reference(name, X[a], X[b], params)
            except (ValueError, ZeroDivisionError):
                w = float("nan")  # scipy refuses (sokalsneath of two all-false vectors)
        if np.isfinite(w):
            assert g == pytest.approx(w, rel=1e-5, abs=1e-7 if name == "angular" else 1e-9), (name, a, b)
        else:
            # where scipy gives NaN, metricbench follows its documented zero-vector convention
            u, v = X[a], X[b]
            if name == "correlation":  # constant vectors are zero once centred
                u, v = u - u.mean(), v - v.mean()
            both_zero = not u.any() and not v.any()
            if name in ("cosine", "correlation", "dice", "sokalsneath", "braycurtis") and both_zero:
                assert g == 0.0
            elif name in ("cosine", "correlation"):
                assert g == 1.0


def test_identical_rows_are_at_distance_zero(rng):
    X = rng.standard_normal((5, 9))
    idx = np.arange(5)
    for name in ("sqeuclidean", "euclidean", "cosine", "angular", "manhattan", "chebyshev", "canberra",
                 "braycurtis", "correlation", "tanimoto", "hamming", "jaccard"):
        np.testing.assert_allclose(paired_distances(X, idx, idx, metric=name), 0.0, atol=1e-7)


def test_aliases_resolve_to_the_same_kernel(rng):
    X = rng.standard_normal((10, 4))
    i = np.arange(10)
    j = i[::-1]
    for alias, name in ALIASES.items():
        np.testing.assert_array_equal(paired_distances(X, i, j, metric=alias), paired_distances(X, i, j, metric=name))


def test_ordered_visit_returns_callers_order(rng):
    X = rng.standard_normal((300, 32)).astype(np.float32)
    i1 = rng.integers(0, 300, 5000)
    i2 = rng.integers(0, 300, 5000)
    a = paired_distances(X, i1, i2, metric="sqeuclidean", ordered=True)
    b = paired_distances(X, i1, i2, metric="sqeuclidean", ordered=False)
    np.testing.assert_array_equal(a, b)
    ref = ((X[i1].astype(np.float64) - X[i2]) ** 2).sum(1)
    np.testing.assert_allclose(a, ref, rtol=1e-10)


def test_second_matrix_and_memmap(tmp_path, rng):
    X = rng.standard_normal((50, 6)).astype(np.float32)
    Y = rng.standard_normal((30, 6)).astype(np.float32)
    np.save(tmp_path / "x.npy", X)
    Xm = np.load(tmp_path / "x.npy", mmap_mode="r")
    i1 = rng.integers(0, 50, 100)
    i2 = rng.integers(0, 30, 100)
    got = paired_distances(Xm, i1, i2, metric="cosine", Y=Y)
    want = [sd.cosine(X[a].astype(float), Y[b].astype(float)) for a, b in zip(i1, i2)]
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_default_parameters_follow_scipy_cdist(rng):
    X = rng.standard_normal((40, 5))
    i = np.arange(40)
    j = np.roll(i, 1)
    got = paired_distances(X, i, j, metric="seuclidean")
    want = np.diag(sd.cdist(X, X[j], "seuclidean", V=X.var(0, ddof=1)))
    np.testing.assert_allclose(got, want, rtol=1e-10)
    got = paired_distances(X, i, j, metric="mahalanobis")
    want = np.diag(sd.cdist(X, X[j], "mahalanobis", VI=np.linalg.inv(np.cov(X.T))))
    np.testing.assert_allclose(got, want, rtol=1e-8)


def test_bad_inputs_raise_one_line_errors(rng):
    X = rng.standard_normal((10, 3))
    with pytest.raises(InputError, match=r"index2\[1\] = 10 is out of range"):
        paired_distances(X, [0, 1], [0, 10])
    with pytest.raises(UnknownMetricError, match="unknown distance 'cosin'.*did you mean cosine"):
        paired_distances(X, [0], [1], metric="cosin")
    with pytest.raises(InputError, match="unknown parameter 'q' for minkowski; valid: p"):
        paired_distances(X, [0], [1], metric="minkowski", q=3)
    with pytest.raises(InputError, match="equal length"):
        paired_distances(X, [0, 1], [1])


@pytest.mark.parametrize("name", ["sqeuclidean", "euclidean", "cosine", "angular", "correlation", "manhattan",
                                  "canberra", "dot", "chebyshev"])
def test_pairwise_chunked_matches_cdist(name, rng):
    X = rng.standard_normal((37, 8))
    Y = rng.standard_normal((23, 8))
    X[3] = 0.0
    blocks = list(pairwise_distances_chunked(X, Y, metric=name, working_memory=0.001))
    assert len(blocks) > 1  # the budget forced several blocks
    D = np.vstack([b for _, b in blocks])
    ref = np.array([[reference(name, a, b, {}) for b in Y] for a in X])
    ok = np.isfinite(ref)
    np.testing.assert_allclose(D[ok], ref[ok], rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(pairwise_distances(X, Y, metric=name)[ok], ref[ok], rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("name", ["euclidean", "cosine", "manhattan", "angular"])
def test_topk_matches_brute_force(name, rng):
    Q = rng.standard_normal((31, 6))
    G = rng.standard_normal((257, 6))
    G[10] = G[11]  # an exact tie: lower index must come first
    Q[0] = G[10]
    idx, dist = topk(Q, G, 7, metric=name, working_memory=0.01)
    full = np.array([[reference(name, q, g, {}) for g in G] for q in Q])
    order = np.argsort(full, axis=1, kind="stable")[:, :7]
    np.testing.assert_array_equal(idx, order)
    atol = 1e-7 if name == "angular" else 1e-12  # arccos is ill-conditioned at 1
    np.testing.assert_allclose(dist, np.take_along_axis(full, order, 1), rtol=1e-9, atol=atol)
    assert idx[0, 0] == 10 and idx[0, 1] == 11


def test_topk_excludes_self(rng):
    X = rng.standard_normal((50, 4))
    idx, _ = topk(X, X, 3, metric="euclidean", exclude_self=True)
    assert not (idx == np.arange(50)[:, None]).any()
    full = sd.cdist(X, X)
    np.fill_diagonal(full, np.inf)
    np.testing.assert_array_equal(idx, np.argsort(full, 1, kind="stable")[:, :3])
