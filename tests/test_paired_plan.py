"""Paired scoring's visiting plan and fused finite check, against scipy and the plain loop (no timing here)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from metricbench.distances import drivers, paired_distances
from metricbench.distances.codes import CODES
from metricbench.errors import InputError, NonFiniteError

FUSED = ("sqeuclidean", "euclidean", "cosine")


def _scipy(X, Y, i1, i2, metric):
    return np.array([cdist(X[a : a + 1].astype(np.float64), Y[b : b + 1].astype(np.float64), metric=metric)[0, 0]
                     for a, b in zip(i1, i2)])


@pytest.mark.parametrize("n_rows,n_pairs", [(40, 1), (40, 7), (40, 500), (5000, 60)])  # dense and sparse plans
@pytest.mark.parametrize("presorted", [False, True])
@pytest.mark.parametrize("pack", [True, False])
def test_plan_is_a_stable_sort_by_index1(n_rows, n_pairs, presorted, pack):
    rng = np.random.default_rng(n_rows + n_pairs)
    i1 = rng.integers(0, n_rows, n_pairs)
    i2 = rng.integers(0, n_rows, n_pairs)
    if presorted:
        i1 = np.sort(i1)
    plan = drivers.paired_plan(i1, i2, n_rows, n_rows, pack=pack)
    order, a2 = drivers.plan_pairs(plan)
    if presorted:
        assert order.size == 0 and plan["packed"].size == 0  # no sort when the pairs come sorted
    elif n_pairs > 1:
        assert (plan["packed"].size > 0) == pack
    order = order if order.size else np.arange(n_pairs)
    np.testing.assert_array_equal(order, np.argsort(i1, kind="stable"))
    np.testing.assert_array_equal(a2, i2[order])
    rows = plan["rows"] if plan["rows"].size else np.arange(n_rows)
    first = np.repeat(rows, np.diff(plan["starts"]))
    np.testing.assert_array_equal(first, i1[order])


def test_plan_refuses_out_of_range_indices():
    assert drivers.paired_plan(np.array([0, 10]), np.array([0, 1]), 10, 10) is None
    assert drivers.paired_plan(np.array([0, 1]), np.array([-1, 1]), 10, 10) is None
    assert drivers.paired_plan(np.array([0, 1]), np.array([0, 3]), 10, 3) is None


@pytest.mark.parametrize("metric", [*FUSED, "cityblock", "correlation"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sorted_unsorted_and_sparse_pairs_equal_scipy(metric, dtype):
    rng = np.random.default_rng(7)
    X = rng.standard_normal((60, 12)).astype(dtype)
    Y = rng.standard_normal((30, 12)).astype(dtype)
    name = "manhattan" if metric == "cityblock" else metric
    i1 = rng.integers(0, 60, 400)
    i2 = rng.integers(0, 30, 400)
    for a in (i1, np.sort(i1)):
        want = _scipy(X, Y, a, i2, metric)
        np.testing.assert_allclose(paired_distances(X, a, i2, Y=Y, metric=name), want, rtol=1e-10, atol=1e-12)
    # first side much larger than the pairs: the argsort plan with the used rows only
    j1 = rng.integers(0, 60, 5)
    np.testing.assert_allclose(paired_distances(X, j1, i2[:5], Y=Y, metric=name), _scipy(X, Y, j1, i2[:5], metric),
                               rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("metric", FUSED)
def test_fused_finite_check_names_the_rows_and_check_off_keeps_the_kernels_values(metric):
    rng = np.random.default_rng(3)
    X = rng.standard_normal((50, 8))
    X[5, 3] = np.nan
    X[7, 0] = np.inf
    i1 = np.array([1, 5, 7, 2, 9])
    i2 = np.array([7, 2, 3, 3, 9])
    with pytest.raises(NonFiniteError, match=r"X: 2 row\(s\) hold NaN or inf \(row 5, 7\)"):
        paired_distances(X, i1, i2, metric=metric)
    got = paired_distances(X, i1, i2, metric=metric, check_finite=False)
    plain = paired_distances(X, i1, i2, metric=metric, check_finite=False, ordered=False)
    np.testing.assert_array_equal(np.isfinite(got), np.isfinite(plain))
    np.testing.assert_array_equal(got[np.isfinite(got)], plain[np.isfinite(plain)])
    assert np.isfinite(got[3:]).all()
    # a bad row on the Y side is named as Y's
    Y = rng.standard_normal((4, 8))
    Y[2, 1] = np.nan
    with pytest.raises(NonFiniteError, match=r"Y: 1 row\(s\) hold NaN or inf \(row 2\)"):
        paired_distances(X, [1, 2], [0, 2], Y=Y, metric=metric)


def test_flagged_pairs_beyond_float64_are_recomputed_not_refused():
    X = np.random.default_rng(4).standard_normal((6, 8)) * 1e200  # squared sums overflow float64
    X[3] = 0.0
    i1, i2 = np.array([1, 2, 3, 3, 4]), np.array([3, 4, 3, 5, 4])
    want = _scipy(X / 1e200, X / 1e200, i1, i2, "euclidean") * 1e200
    np.testing.assert_allclose(paired_distances(X, i1, i2, metric="euclidean"), want, rtol=1e-12)
    want = _scipy(X / 1e200, X / 1e200, i1, i2, "cosine")
    want[[0, 3]] = 1.0  # the kernels' zero-vector convention (scipy: NaN): 1 to a non-zero row, 0 between zeros
    want[2] = 0.0
    np.testing.assert_allclose(paired_distances(X, i1, i2, metric="cosine"), want, rtol=1e-12, atol=1e-15)
    assert np.isinf(paired_distances(X, [1], [2], metric="sqeuclidean")).all()  # the true value exceeds float64


def test_out_of_range_named_after_the_fused_plan():
    X = np.zeros((10, 3))
    with pytest.raises(InputError, match=r"index2\[2\] = 10 is out of range for X with 10 rows"):
        paired_distances(X, [0, 1, 2], [0, 1, 10], metric="cosine")


@pytest.mark.parametrize("metric", [*FUSED, "manhattan"])
@pytest.mark.parametrize("n_rows", [40, 3000])  # the counting sort and the argsort plan
def test_packed_and_unpacked_plans_give_the_float64_brute_force(metric, n_rows):
    rng = np.random.default_rng(5)
    X = rng.standard_normal((n_rows, 24)).astype(np.float32)
    i1 = rng.integers(0, n_rows, 300)
    i2 = rng.integers(0, n_rows, 300)
    X64 = X.astype(np.float64)
    A, B = X64[i1], X64[i2]
    if metric == "cosine":
        want = 1.0 - (A * B).sum(1) / np.sqrt((A * A).sum(1) * (B * B).sum(1))
    elif metric == "manhattan":
        want = np.abs(A - B).sum(1)
    else:
        want = ((A - B) ** 2).sum(1)
        want = np.sqrt(want) if metric == "euclidean" else want
    got = {}
    for pack in (True, False):
        plan = drivers.paired_plan(i1, i2, n_rows, n_rows, pack=pack)
        assert (plan["packed"].size > 0) == pack
        out = np.full(i1.size, -1.0)
        assert drivers.paired_run(CODES[metric], X, X, plan, 2.0, np.zeros(1), np.zeros((1, 1)), out) == 0
        got[pack] = out
    np.testing.assert_array_equal(got[True], got[False])
    np.testing.assert_allclose(got[True], want, rtol=1e-12, atol=1e-13)
    np.testing.assert_array_equal(paired_distances(X, i1, i2, metric=metric), got[True])


def test_packing_falls_back_when_the_bits_do_not_fit():
    i1, i2 = np.array([3, 1, 2]), np.array([0, 2, 1])
    plan = drivers.paired_plan(i1, i2, 4, 2**62)  # 62 bits for the second side's rows + 2 for the positions
    assert plan["packed"].size == 0 and plan["order"].size == 3
    plan = drivers.paired_plan(i1, i2, 4, 2**61)
    assert plan["bits"] == 61 and plan["packed"].size == 3
    np.testing.assert_array_equal(drivers.plan_pairs(plan)[0], [1, 2, 0])
    np.testing.assert_array_equal(drivers.plan_pairs(plan)[1], [2, 1, 0])
