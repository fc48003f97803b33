"""ScatterStats from float32 rows (float32 products about the shift, summed in float64, as
scikit-learn's ``PCA(svd_solver="covariance_eigh")`` forms ``X^T X`` in the input dtype) against a
float64 reference: the same rows read as float64 (float64 products), and numpy's own moments."""

import numpy as np
import pytest

from metricbench.learn.stats import RTOL_FLOAT64, ScatterStats
from metricbench.registry import get_metric


@pytest.fixture(scope="module")
def embeddings():
    """Unit-norm face-like embeddings: identity centres, an anisotropic within scatter whose
    variances span three decades, far from the origin (the case float32 products get wrong
    without a shift)."""
    r = np.random.default_rng(3)
    d, C, n = 64, 200, 12000
    centres = r.standard_normal((C, d)) + 4.0
    y = r.integers(0, C, n)
    scale = np.geomspace(1.0, 1e-3, d) ** 0.5
    X = centres[y] + (r.standard_normal((n, d)) * scale) @ np.linalg.qr(r.standard_normal((d, d)))[0]
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    return X.astype(np.float32), y


def test_float32_statistics_match_float64(embeddings):
    X, y = embeddings
    st32 = ScatterStats.from_data(X, y, chunk=1000, precision="input")
    st64 = ScatterStats.from_data(X.astype(np.float64), y, chunk=1000)
    assert st32.rtol == 1e-5 and st64.rtol == RTOL_FLOAT64 == 1e-10
    # float64 products are the default, whatever the rows' dtype
    assert ScatterStats.from_data(X, y, chunk=1000).rtol == RTOL_FLOAT64
    X64 = X.astype(np.float64)
    np.testing.assert_allclose(st64.total, np.cov(X64.T, bias=True), rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(st32.mean, X64.mean(0), rtol=1e-9, atol=1e-12)
    for a in ("total", "between", "within"):
        ref = getattr(st64, a)
        np.testing.assert_allclose(getattr(st32, a), ref, rtol=0, atol=1e-6 * np.abs(ref).max())
    # eigenvalues of the within-class covariance down to the smallest (1e-3 of the largest)
    w32, w64 = np.linalg.eigvalsh(st32.within), np.linalg.eigvalsh(st64.within)
    np.testing.assert_allclose(w32, w64, rtol=1e-4)


@pytest.mark.parametrize("name,params", [("cosine-whitened", {"n_components": 48, "shrinkage": 0.0}),
                                         ("lda-cosine", {"n_components": 32}),
                                         ("plda", {"n_components": 32}),
                                         ("wccn-cosine", {"shrinkage": 0.0})])
def test_float32_fits_match_float64(embeddings, name, params):
    X, y = embeddings
    r = np.random.default_rng(0)
    i1, i2 = r.integers(0, y.size, 3000), r.integers(0, y.size, 3000)
    X64 = X.astype(np.float64)
    got = get_metric(name, **params).fit(X, y).pair_distance(X64, i1, i2)
    ref = get_metric(name, **params).fit(X64, y).pair_distance(X64, i1, i2)
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4 * np.abs(ref).max())


def test_precision_by_metric(embeddings):
    """PCA whitening asks for products in the rows' precision; the within-class problems
    (LDA, PLDA, WCCN, KISSME) keep float64 products: float32 products moved LDA's validation
    AUROC on the embedded default from 0.8828 to 0.8797."""
    X, y = embeddings
    assert get_metric("cosine-whitened", n_components=8, shrinkage=0.0).gather_stats(X, y).rtol == 1e-5
    for name, params in [("lda-cosine", {"n_components": 8}), ("plda", {"n_components": 8}),
                         ("wccn-cosine", {"shrinkage": 0.0}), ("kissme", {"n_components": 8})]:
        assert get_metric(name, **params).gather_stats(X, y).rtol == RTOL_FLOAT64, name


def test_precision_refuses_unknown(embeddings):
    X, y = embeddings
    with pytest.raises(ValueError, match="precision"):
        ScatterStats.from_data(X[:10], y[:10], precision="half")
