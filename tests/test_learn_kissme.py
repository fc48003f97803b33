"""kissme: difference covariances by enumeration, the closed form on Gaussian data, PSD clipping."""

import numpy as np
import pytest

from metricbench import get_metric
from metricbench.errors import InputError
from metricbench.learn import kissme as K
from metricbench.learn.stats import ScatterStats


def gaussian_identities(rng, n_id, d, per, B, W):
    y = np.repeat(np.arange(n_id), per)
    m = rng.multivariate_normal(np.zeros(d), B, n_id)
    return m[y] + rng.multivariate_normal(np.zeros(d), W, y.size), y


def test_difference_covariances_match_enumeration(rng):
    X = rng.standard_normal((40, 3))
    y = rng.integers(0, 8, 40)
    i, j = np.nonzero(~np.eye(40, dtype=bool))
    D = X[i] - X[j]
    same = y[i] == y[j]
    st = ScatterStats.from_data(X, y, pairs=True)
    S_same, S_diff = K.difference_covariances(st, weighting="pairs")
    np.testing.assert_allclose(S_same, D[same].T @ D[same] / same.sum(), atol=1e-10)
    np.testing.assert_allclose(S_diff, D[~same].T @ D[~same] / (~same).sum(), atol=1e-10)
    # "rows": the pairs of identity c weigh 1 / n_c
    n_c = np.bincount(y)[y[i]]
    w = np.where(same, 1.0 / n_c, 0.0)
    S_rows, _ = K.difference_covariances(st, weighting="rows")
    np.testing.assert_allclose(S_rows, (D * w[:, None]).T @ D / w.sum(), atol=1e-10)


def test_cross_difference_covariances_match_enumeration(rng):
    X = rng.standard_normal((40, 3))
    y = rng.integers(0, 6, 40)
    g = np.where(np.arange(40) % 2, "clean", "xq")
    i, j = np.nonzero((g[:, None] == "clean") & (g[None, :] == "xq"))
    D = X[i] - X[j]
    same = y[i] == y[j]
    st = ScatterStats.from_data(X, y, variants=g, cross=("clean", "xq"))
    S_same, S_diff = K.difference_covariances(st, weighting="pairs")
    np.testing.assert_allclose(S_same, D[same].T @ D[same] / same.sum(), atol=1e-10)
    np.testing.assert_allclose(S_diff, D[~same].T @ D[~same] / (~same).sum(), atol=1e-10)


def test_closed_form_on_gaussian_identities(rng):
    # S_same -> 2 W and S_diff -> 2 (B + W), so M -> (inv(W) - inv(B + W)) / 2, already PSD
    d = 3
    B = np.diag([3.0, 1.0, 0.5])
    W = np.array([[1.0, 0.2, 0.0], [0.2, 0.6, 0.1], [0.0, 0.1, 0.4]])
    X, y = gaussian_identities(rng, 3000, d, 4, B, W)
    m = get_metric("kissme", n_components=None, within="all").fit(X, y)
    M_true = 0.5 * (np.linalg.inv(W) - np.linalg.inv(B + W))
    M = m.get_mahalanobis_matrix()
    np.testing.assert_allclose(M, M_true, atol=0.05 * np.abs(M_true).max())
    assert m.n_clipped_ == 0
    i1, i2 = rng.integers(0, y.size, 50), rng.integers(0, y.size, 50)
    D = X[i1] - X[i2]
    np.testing.assert_allclose(m.pair_distance(X, i1, i2), np.einsum("ij,jk,ik->i", D, M, D), rtol=1e-8)


def test_clipped_to_psd(rng):
    # identity-free dims where same pairs vary more than different ones give negative eigenvalues
    X = rng.standard_normal((400, 6))
    y = np.repeat(np.arange(100), 4)
    X[:, :2] += rng.standard_normal((100, 2))[y] * 3
    m = get_metric("kissme", n_components=6, within="all").fit(X, y)
    assert m.n_clipped_ > 0
    assert np.linalg.eigvalsh(m.metric_matrix_).min() >= -1e-12
    assert np.linalg.eigvalsh(m.get_mahalanobis_matrix()).min() >= -1e-10
    raw = np.linalg.inv(m.cov_same_) - np.linalg.inv(m.cov_diff_)
    w, V = np.linalg.eigh(raw)
    np.testing.assert_allclose(m.metric_matrix_, (V * np.clip(w, 0, None)) @ V.T, atol=1e-10)


def test_pca_subspace_and_sampled_pairs_are_seeded(rng):
    X = rng.standard_normal((300, 8))
    y = np.repeat(np.arange(60), 5)
    a = get_metric("kissme", n_components=4, same_pairs=500, diff_pairs=800, random_state=5, within="all").fit(X, y)
    b = get_metric("kissme", n_components=4, same_pairs=500, diff_pairs=800, random_state=5, within="all").fit(X, y)
    np.testing.assert_array_equal(a.components_, b.components_)
    assert a.components_.shape == (4, 8) and "500 sampled (random_state 5)" in a.describe()
    # the learned map lives in the span of the top-4 principal directions
    from sklearn.decomposition import PCA

    U = PCA(4).fit(X).components_
    np.testing.assert_allclose(a.components_ @ U.T @ U, a.components_, atol=1e-8)


def test_bad_pairs_argument(rng):
    X = rng.standard_normal((30, 3))
    y = np.repeat(np.arange(10), 3)
    with pytest.raises(InputError, match=r"same_pairs.*\[1, inf\)"):
        get_metric("kissme", n_components=2, same_pairs=0).fit(X, y)
