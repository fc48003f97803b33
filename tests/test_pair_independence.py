"""A pair's distance does not depend on which other pairs are scored with it.

Every registered learned metric, the score normalisations and every fixed distance give each
pair the same bits whether it is scored alone, in a subset, in a different order or among all
pairs: the engines (row blocks on Dask, chunks out of core) score arbitrary subsets, and their
results must equal the local engine's. BLAS's sums depend on the shape of the block they run
on, so row maps run on blocks of a fixed multiple of rows
(:func:`metricbench.learn.base.map_rows`).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from metricbench.registry import LEARNED, get_metric, metric_names
from tests.test_bad_input_learned import FAST, _build


def _data():
    r = np.random.default_rng(3)
    y = np.repeat(np.arange(12), 9)
    X = r.standard_normal((12, 10))[y] * 2 + r.standard_normal((108, 10))
    Y = r.standard_normal((77, 10)) + 0.3
    return X, y, Y


def _subsets(n, r):
    """Index sets of the pairs: all, one alone, odd sizes, a permutation."""
    yield np.arange(n)
    yield np.array([n // 2])
    for size in sorted({min(s, n - 1) for s in (3, 65, 130, n - 1)}):
        yield np.sort(r.choice(n, size=size, replace=False))
    yield r.permutation(n)


@pytest.mark.parametrize("name", sorted(LEARNED) + ["s-norm", "as-norm"])
def test_learned_pair_distance_independent_of_other_pairs(name):
    X, y, Y = _data()
    r = np.random.default_rng(1)
    n = 400
    i1, i2, j2 = r.integers(0, X.shape[0], n), r.integers(0, X.shape[0], n), r.integers(0, Y.shape[0], n)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = _build(name).fit(X, y)
    full = m.pair_distance(X, i1, i2)
    cross = m.pair_distance(X, i1, j2, Y=Y)
    for s in _subsets(n, r):
        np.testing.assert_array_equal(m.pair_distance(X, i1[s], i2[s]), full[s])
        np.testing.assert_array_equal(m.pair_distance(X, i1[s], j2[s], Y=Y), cross[s])
    if hasattr(m, "transform"):
        Z = m.transform(X)
        for s in _subsets(X.shape[0], r):
            np.testing.assert_array_equal(m.transform(X[s]), Z[s])


@pytest.mark.parametrize("name", [n for n in metric_names("distance") if n not in ("seuclidean", "mahalanobis")])
def test_distance_pair_distance_independent_of_other_pairs(name):
    from metricbench.distances import paired_distances

    X, _, Y = _data()
    X = np.abs(X) if name in ("jensenshannon",) else X
    r = np.random.default_rng(2)
    n = 400
    i1, i2 = r.integers(0, X.shape[0], n), r.integers(0, Y.shape[0], n)
    full = paired_distances(X, i1, i2, metric=name, Y=Y)
    for s in _subsets(n, r):
        np.testing.assert_array_equal(paired_distances(X, i1[s], i2[s], metric=name, Y=Y), full[s])
