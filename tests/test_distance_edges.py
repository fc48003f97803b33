"""Edges of the distance library: parameter domains and limit cases, non-finite input,
overflow and underflow, zero vectors, a row against itself. Right values from scipy,
scikit-learn or closed forms."""

import math

import numpy as np
import pytest
from scipy.spatial import distance as sd

from metricbench.distances import paired_distances, pairwise_distances, pairwise_distances_chunked, topk
from metricbench.distances.api import check_finite, nonfinite_rows
from metricbench.distances.registry import DISTANCES
from metricbench.errors import InputError, NonFiniteError


def _params(name, d):
    if name == "minkowski":
        return {"p": 3.0}
    if name == "seuclidean":
        return {"V": np.linspace(0.5, 2.0, d)}
    if name == "mahalanobis":
        return {"VI": np.eye(d) * 2.0}
    return {}


# -- 1. parameter domains and limit cases -------------------------------------------------------

def test_minkowski_p_inf_is_chebyshev_on_the_issue_case():
    X = np.array([[0.0, 0.0, 0.0], [1.0, 2.0, 3.0]])
    assert paired_distances(X, [0], [1], metric="minkowski", p=np.inf)[0] == 3.0
    assert pairwise_distances(X, metric="minkowski", p=np.inf)[0, 1] == 3.0
    idx, dist = topk(X[:1], X[1:], 1, metric="minkowski", p=np.inf)
    assert dist[0, 0] == 3.0
    assert sd.minkowski(X[0], X[1], p=np.inf) == 3.0


@pytest.mark.parametrize("p", [0.3, 0.5, 1.0, 1.5, 2.0, 3.0, 7.5, 40.0, np.inf])
def test_minkowski_matches_scipy_for_every_p(p, rng):
    X = rng.standard_normal((12, 9))
    i, j = np.arange(12), np.arange(12)[::-1]
    got = paired_distances(X, i, j, metric="minkowski", p=p)
    ref = sd.cdist(X, X, "minkowski", p=p)[i, j]
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=0)
    np.testing.assert_allclose(pairwise_distances(X, metric="minkowski", p=p), sd.cdist(X, X, "minkowski", p=p),
                               rtol=1e-12, atol=1e-15)


def test_minkowski_large_p_and_large_values_do_not_overflow():
    X = np.array([[0.0, 0.0], [1e7, 2e7]])
    # scipy's direct formula overflows (2e7^50 > 1.8e308): the exact value is 2e7 * (1 + 2^-50)^(1/50)
    got = paired_distances(X, [0], [1], metric="minkowski", p=50.0)[0]
    assert math.isclose(got, 2e7 * (1 + 0.5**50) ** (1 / 50), rel_tol=1e-14)
    tiny = np.array([[0.0, 0.0], [1e-200, 2e-200]])
    got = paired_distances(tiny, [0], [1], metric="minkowski", p=3.0)[0]
    assert math.isclose(got, 1e-200 * (1 + 8) ** (1 / 3), rel_tol=1e-14)


@pytest.mark.parametrize("p", [0, -1, -np.inf, np.nan, "abc", True, None, [1, 2]])
def test_minkowski_p_outside_its_domain_is_refused(p):
    X = np.eye(3)
    with pytest.raises(InputError, match=r"minkowski: p must be"):
        paired_distances(X, [0], [1], metric="minkowski", p=p)
    with pytest.raises(InputError, match=r"minkowski: p must be"):
        pairwise_distances(X, metric="minkowski", p=p)


def test_seuclidean_V_matches_scipy_and_default_is_the_data_variance(rng):
    X = rng.standard_normal((30, 5))
    V = np.array([0.5, 1.0, 2.0, 3.0, 0.1])
    i, j = np.arange(30), np.roll(np.arange(30), 1)
    np.testing.assert_allclose(paired_distances(X, i, j, metric="seuclidean", V=V),
                               sd.cdist(X, X, "seuclidean", V=V)[i, j], rtol=1e-12)
    # the default V is the variance of the rows given (scipy's cdist(X, X) would stack X twice)
    np.testing.assert_allclose(paired_distances(X, i, j, metric="seuclidean"),
                               sd.cdist(X, X, "seuclidean", V=X.var(0, ddof=1))[i, j], rtol=1e-12)
    Y = X[:7] + 1
    np.testing.assert_allclose(pairwise_distances(X, Y, metric="seuclidean"), sd.cdist(X, Y, "seuclidean"),
                               rtol=1e-12)


@pytest.mark.parametrize(
    "V, match",
    [
        (np.ones(4), r"one variance per column \(5\), got 4"),
        (np.ones((5, 2)), r"one variance per column \(5\), got 10"),
        (np.array([1, 1, 0, 1, 1.0]), r"V\[2\] = 0"),
        (np.array([1, 1, 1, -2, 1.0]), r"V\[3\] = -2"),
        (np.array([1, np.nan, 1, 1, 1.0]), r"NaN or inf"),
        (np.array([1, np.inf, 1, 1, 1.0]), r"NaN or inf"),
        ("abc", r"must be numeric"),
    ],
)
def test_seuclidean_bad_V_is_refused(V, match):
    X = np.random.default_rng(0).standard_normal((6, 5))
    with pytest.raises(InputError, match=match):
        paired_distances(X, [0], [1], metric="seuclidean", V=V)


def test_seuclidean_constant_column_without_V_is_refused():
    X = np.random.default_rng(0).standard_normal((6, 3))
    X[:, 1] = 4.0
    with pytest.raises(InputError, match=r"column 1 of the data is constant"):
        paired_distances(X, [0], [1], metric="seuclidean")


def test_mahalanobis_VI_matches_scipy_and_default_is_the_inverse_covariance(rng):
    X = rng.standard_normal((40, 4))
    i, j = np.arange(40), np.roll(np.arange(40), 3)
    A = rng.standard_normal((4, 4))
    VI = A @ A.T + np.eye(4)
    np.testing.assert_allclose(paired_distances(X, i, j, metric="mahalanobis", VI=VI),
                               sd.cdist(X, X, "mahalanobis", VI=VI)[i, j], rtol=1e-10)
    np.testing.assert_allclose(paired_distances(X, i, j, metric="mahalanobis"),
                               sd.cdist(X, X, "mahalanobis", VI=np.linalg.inv(np.cov(X.T)))[i, j], rtol=1e-8)
    Y = X[:9] * 2
    np.testing.assert_allclose(pairwise_distances(X, Y, metric="mahalanobis"), sd.cdist(X, Y, "mahalanobis"),
                               rtol=1e-8)
    # PSD but singular VI is a valid (semi-)metric
    VI0 = np.diag([1.0, 0.0, 2.0, 0.0])
    np.testing.assert_allclose(paired_distances(X, i, j, metric="mahalanobis", VI=VI0),
                               sd.cdist(X, X, "mahalanobis", VI=VI0)[i, j], rtol=1e-12)


@pytest.mark.parametrize(
    "VI, match",
    [
        (np.eye(3), r"VI must be 4 x 4"),
        (np.ones(4), r"VI must be 4 x 4"),
        (np.array([[1, 2, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1.0]]), r"symmetric"),
        (np.diag([1.0, -1.0, 1.0, 1.0]), r"positive semi-definite \(smallest eigenvalue -1"),
        (np.diag([1.0, np.nan, 1.0, 1.0]), r"NaN or inf"),
    ],
)
def test_mahalanobis_bad_VI_is_refused(VI, match):
    X = np.random.default_rng(0).standard_normal((10, 4))
    with pytest.raises(InputError, match=match):
        paired_distances(X, [0], [1], metric="mahalanobis", VI=VI)


def test_mahalanobis_singular_covariance_without_VI_is_refused():
    X = np.random.default_rng(0).standard_normal((30, 4))
    X[:, 3] = X[:, 0] + X[:, 1]  # rank 3
    with pytest.raises(InputError, match=r"covariance of the data is singular \(rank 3 of 4\)"):
        paired_distances(X, [0], [1], metric="mahalanobis")


def test_unknown_parameter_lists_the_valid_ones():
    with pytest.raises(InputError, match=r"unknown parameter 'q' for minkowski; valid: p"):
        paired_distances(np.eye(3), [0], [1], metric="minkowski", q=3)
    with pytest.raises(InputError, match=r"unknown parameter 'p' for cosine"):
        paired_distances(np.eye(3), [0], [1], metric="cosine", p=3)


# -- inputs: dtypes, shapes, indices ------------------------------------------------------------

@pytest.mark.parametrize(
    "X, match",
    [
        (np.ones((3, 2), dtype=complex), r"X is complex"),
        (np.array([["a", "b"], ["c", "d"]]), r"X must be numeric, got dtype <U1"),
        (np.array([[1, 2], [3, 4]], dtype=object), r"X must be numeric, got dtype object"),
        (np.ones(3), r"X must be a 2-D matrix"),
        (np.ones((2, 2, 2)), r"X must be a 2-D matrix"),
        (np.ones((3, 0)), r"X has no columns"),
    ],
)
def test_bad_matrices_are_refused(X, match):
    with pytest.raises(InputError, match=match):
        paired_distances(X, [0], [1])


def test_convertible_dtypes_give_the_float64_values(rng):
    X = rng.integers(-5, 5, (8, 6))
    i, j = np.arange(8), np.arange(8)[::-1]
    ref = paired_distances(X.astype(np.float64), i, j, metric="euclidean")
    for Xc in (X.astype(np.int32), X.astype(np.float16), X.astype(">f8"), X.astype(">f4"),
               np.asfortranarray(X.astype(np.float64)), X.astype(np.uint8) if X.min() >= 0 else X.astype(np.int8)):
        np.testing.assert_allclose(paired_distances(Xc, i, j, metric="euclidean"), ref, rtol=1e-7)


@pytest.mark.parametrize(
    "index, match",
    [
        ([0.5], r"index1\[0\] = 0.5 is not a whole row index"),
        ([np.nan], r"is not a whole row index"),
        ([True], r"must hold integer row indices, got dtype bool"),
        (["0"], r"must hold integer row indices"),
        ([-1], r"index1\[0\] = -1 is out of range for X with 3 rows"),
        ([3], r"index1\[0\] = 3 is out of range"),
    ],
)
def test_bad_indices_are_refused(index, match):
    with pytest.raises(InputError, match=match):
        paired_distances(np.eye(3), index, [1])


def test_whole_float_indices_are_accepted():
    X = np.eye(3)
    assert paired_distances(X, [0.0, 2.0], [1.0, 2.0], metric="sqeuclidean").tolist() == [2.0, 0.0]


# -- 2. non-finite input: one policy, every distance, every entry point --------------------------

@pytest.mark.parametrize("name", sorted(DISTANCES))
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nonfinite_row_is_refused_by_every_distance(name, bad):
    X = np.array([[bad, 1.0, 2.0], [1.0, 1.0, 2.0], [0.5, 2.0, 1.0], [1.0, 3.0, 2.0]])
    params = _params(name, 3)
    with pytest.raises(NonFiniteError, match=r"X: 1 row\(s\) hold NaN or inf \(row 0\)"):
        paired_distances(X, [0], [1], metric=name, **params)
    with pytest.raises(NonFiniteError, match=r"Y: 1 row\(s\) hold NaN or inf \(row 0\)"):
        paired_distances(X[1:], [0], [0], Y=X, metric=name, **params)
    with pytest.raises(NonFiniteError):
        pairwise_distances(X, metric=name, **params)
    with pytest.raises(NonFiniteError):
        next(pairwise_distances_chunked(X[1:], X, metric=name, **params))
    with pytest.raises(NonFiniteError, match=r"query: 1 row"):
        topk(X[:1], X[1:], 2, metric=name, **params)
    with pytest.raises(NonFiniteError, match=r"gallery: 1 row"):
        topk(X[1:], X, 2, metric=name, **params)
    # rows the pairs do not use may hold anything
    assert np.isfinite(paired_distances(X, [1, 2], [3, 1], metric=name, **params)).all()


def test_nonfinite_check_is_chunked_and_names_rows(rng):
    X = rng.standard_normal((1000, 4)).astype(np.float32)
    X[[3, 500, 999], 1] = np.nan
    X[700, 0] = np.inf
    np.testing.assert_array_equal(nonfinite_rows(X, working_memory=0.001), [3, 500, 700, 999])
    with pytest.raises(NonFiniteError, match=r"4 row\(s\) hold NaN or inf \(row 3, 500, 700, 999\)"):
        check_finite(X, "emb", working_memory=0.001)
    # finite rows whose sum overflows are finite
    Y = np.full((3, 4), 3e38, dtype=np.float32)
    assert nonfinite_rows(Y).size == 0
    # only the rows given are looked at
    check_finite(X, rows=np.array([0, 1, 2]))
    # the check can be skipped for input already checked
    assert paired_distances(X, [0], [1], check_finite=False).shape == (1,)


def test_learned_metric_pair_distance_refuses_nonfinite_rows(rng):
    from metricbench.registry import get_metric

    X = rng.standard_normal((40, 5))
    y = np.arange(40) % 4
    m = get_metric("cosine")
    Xb = X.copy()
    Xb[0, 0] = np.nan
    with pytest.raises(NonFiniteError):
        m.pair_distance(Xb, [0], [1])


# -- 3. overflow, underflow, zero vectors, a row with itself ---------------------------------------

def test_float32_values_whose_squares_overflow_float32(rng):
    X = (rng.standard_normal((6, 8)) * 1e20).astype(np.float32)  # squares ~1e40 > float32 max
    i, j = np.arange(6), np.roll(np.arange(6), 1)
    X64 = X.astype(np.float64)
    for name in ("sqeuclidean", "euclidean", "cosine", "correlation", "manhattan", "chebyshev", "braycurtis",
                 "canberra"):
        ref = sd.cdist(X64, X64, DISTANCES[name].scipy)
        got = paired_distances(X, i, j, metric=name)
        assert np.isfinite(got).all(), name
        np.testing.assert_allclose(got, ref[i, j], rtol=1e-10, err_msg=name)
        np.testing.assert_allclose(pairwise_distances(X, metric=name), ref, rtol=1e-9, atol=1e-9, err_msg=name)


def test_float64_values_whose_squares_overflow_float64():
    X = np.array([[1e200, 0.0], [-1e200, 0.0], [1e200, 1e200], [1.0, 0.0]])
    for entry in ("paired", "pairwise"):
        def d(i, j, name):
            if entry == "paired":
                return paired_distances(X, [i], [j], metric=name)[0]
            return pairwise_distances(X, metric=name)[i, j]

        assert math.isclose(d(0, 1, "euclidean"), 2e200, rel_tol=1e-15), entry
        assert d(0, 1, "sqeuclidean") == np.inf  # the true value 4e400 exceeds float64
        assert math.isclose(d(0, 2, "cosine"), 1 - 1 / math.sqrt(2), rel_tol=1e-12), entry
        assert math.isclose(d(2, 3, "cosine"), 1 - 1 / math.sqrt(2), rel_tol=1e-12), entry
        assert math.isclose(d(0, 1, "cosine"), 2.0, rel_tol=1e-15), entry
        assert math.isclose(d(0, 2, "angular"), 0.25, rel_tol=1e-12), entry
        assert math.isclose(d(0, 2, "tanimoto"), 0.5, rel_tol=1e-12), entry  # 1 - 1 / (1 + 2 - 1)
        assert math.isclose(d(0, 2, "braycurtis"), 1 / 3, rel_tol=1e-15), entry
    huge = np.array([[1e308, 1.0], [-1e308, 1.0]])
    assert paired_distances(huge, [0], [1], metric="canberra")[0] == 1.0
    assert math.isclose(paired_distances(huge, [0], [1], metric="chebyshev")[0], 2e308) or \
        paired_distances(huge, [0], [1], metric="chebyshev")[0] == np.inf


def test_tiny_values_do_not_underflow_to_zero_vectors():
    X = np.array([[1e-200, 0.0], [1e-200, 1e-200], [0.0, 0.0]])
    for name, want in (("cosine", 1 - 1 / math.sqrt(2)), ("euclidean", 1e-200), ("angular", 0.25)):
        assert math.isclose(paired_distances(X, [0], [1], metric=name)[0], want, rel_tol=1e-12), name
        assert math.isclose(pairwise_distances(X, metric=name)[0, 1], want, rel_tol=1e-12), name


def test_zero_vector_convention_under_cosine():
    """scipy: NaN; scikit-learn's cosine_distances: 1 for zero vs non-zero (and 1 for zero vs zero).

    metricbench: 1 for zero vs non-zero (as scikit-learn), 0 for zero vs zero so that d(x, x) = 0."""
    from sklearn.metrics.pairwise import cosine_distances

    X = np.array([[0.0, 0.0, 0.0], [1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    for name, one, both in (("cosine", 1.0, 0.0), ("correlation", 1.0, 0.0), ("angular", 0.5, 0.0)):
        P = pairwise_distances(X, metric=name)
        assert P[0, 1] == P[1, 0] == one and P[0, 2] == both, name
        assert paired_distances(X, [0, 1, 0], [1, 0, 2], metric=name).tolist() == [one, one, both], name
    assert cosine_distances(X[:1], X[1:2])[0, 0] == 1.0
    assert np.isnan(sd.cdist(X[:1], X[1:2], "cosine")[0, 0])


@pytest.mark.parametrize("name", sorted(set(DISTANCES) - {"dot"}))
def test_a_row_with_itself_is_at_distance_exactly_zero(name, rng):
    X = rng.standard_normal((25, 16)) * 3 + 10  # far from the origin: the expansion's worst case
    if name in ("yule", "rogerstanimoto", "dice", "russellrao", "sokalsneath", "jaccard", "hamming"):
        X = (X > 10).astype(np.float64)
    params = _params(name, 16)
    i = np.arange(25)
    if name != "russellrao":  # scipy's Russell-Rao is (n - ntt) / n, not 0 on identical rows
        assert (paired_distances(X, i, i, metric=name, **params) == 0).all()
        assert (np.diag(pairwise_distances(X, metric=name, **params)) == 0).all()


def test_pairwise_euclidean_near_duplicates_far_from_origin(rng):
    q = rng.standard_normal(512) + 10
    G = np.repeat(q[None], 4, 0)
    G[:, 0] += np.array([3e-6, 1e-6, 2e-6, 4e-6])
    for name in ("euclidean", "sqeuclidean"):
        got = pairwise_distances(q[None], G, metric=name)[0]
        ref = sd.cdist(q[None], G, name)[0]
        np.testing.assert_allclose(got, ref, rtol=1e-6)
        assert list(np.argsort(got, kind="stable")) == [1, 2, 0, 3]
