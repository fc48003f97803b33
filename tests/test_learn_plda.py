"""plda: the closed-form LLR against scipy's multivariate normal on joint vectors, EM, recovery."""

import numpy as np
import pytest
from scipy.stats import multivariate_normal as mvn

from metricbench import get_metric, load_metric
from metricbench.learn import plda as P


def random_spd(rng, d, scale=1.0):
    A = rng.standard_normal((d, d))
    return scale * (A @ A.T / d + 0.2 * np.eye(d))


def two_cov_sample(rng, n_id=300, d=4, max_per=6, B=None, W=None, mu=None):
    """Identities m ~ N(mu, B), rows m + e, e ~ N(0, W); 1..max_per rows each."""
    B = random_spd(rng, d, 3.0) if B is None else B
    W = random_spd(rng, d) if W is None else W
    mu = rng.standard_normal(d) if mu is None else mu
    counts = rng.integers(1, max_per + 1, n_id)
    y = np.repeat(np.arange(n_id), counts)
    m = rng.multivariate_normal(mu, B, n_id)
    X = m[y] + rng.multivariate_normal(np.zeros(d), W, y.size)
    return X, y, mu, B, W


def brute_llr(z1, z2, mu, B, W):
    T = B + W
    joint = mvn(np.r_[mu, mu], np.block([[T, B], [B, T]]))
    return joint.logpdf(np.hstack([z1, z2])) - mvn(mu, T).logpdf(z1) - mvn(mu, T).logpdf(z2)


@pytest.mark.parametrize("method", ["closed", "em"])
def test_llr_equals_scipy_joint_gaussian_ratio(rng, method):
    X, y, *_ = two_cov_sample(rng)
    m = get_metric("plda", reduce="none", within="all", method=method, n_iter=3).fit(X, y)
    i1, i2 = rng.integers(0, y.size, 300), rng.integers(0, y.size, 300)
    Z = X - m.mean_  # no reduction: z is the centred embedding
    ref = brute_llr(Z[i1], Z[i2], m.plda_mean_, m.between_, m.within_)
    np.testing.assert_allclose(m.pair_score(X, i1, i2), ref, rtol=1e-8, atol=1e-8)
    np.testing.assert_array_equal(m.pair_distance(X, i1, i2), m.pair_distance(X, i2, i1))


@pytest.mark.parametrize("kw", [{"reduce": "lda", "n_components": 3}, {"reduce": "pca", "n_components": 3, "length_norm": True}])
def test_llr_after_reduction_equals_scipy(rng, kw):
    X, y, *_ = two_cov_sample(rng, d=6)
    m = get_metric("plda", within="all", **kw).fit(X, y)
    Z = (X - m.mean_) @ m.projection_.T
    if m.length_norm:
        Zw = Z @ m.whitening_.T
        Z = Zw * np.sqrt(Zw.shape[1]) / np.linalg.norm(Zw, axis=1, keepdims=True)
    i1, i2 = rng.integers(0, y.size, 200), rng.integers(0, y.size, 200)
    ref = brute_llr(Z[i1], Z[i2], m.plda_mean_, m.between_, m.within_)
    np.testing.assert_allclose(m.pair_score(X, i1, i2), ref, rtol=1e-8, atol=1e-8)


def test_diagonalisation(rng):
    B, W = random_spd(rng, 5, 2.0), random_spd(rng, 5)
    A, phi = P.simultaneous_diagonalisation(B, W)
    np.testing.assert_allclose(A @ W @ A.T, np.eye(5), atol=1e-10)
    np.testing.assert_allclose(A @ B @ A.T, np.diag(phi), atol=1e-10)
    assert np.all(np.diff(phi) <= 0)


def test_closed_form_and_em_recover_the_model(rng):
    d = 3
    B, W, mu = np.diag([4.0, 2.0, 1.0]), np.array([[1.0, 0.3, 0], [0.3, 0.5, 0], [0, 0, 0.8]]), np.array([1.0, -2.0, 0.5])
    X, y, *_ = two_cov_sample(rng, n_id=4000, d=d, B=B, W=W, mu=mu)
    closed = get_metric("plda", reduce="none", within="all").fit(X, y)
    em = get_metric("plda", reduce="none", within="all", method="em", n_iter=20).fit(X, y)
    for m in (closed, em):
        np.testing.assert_allclose(m.within_, W, atol=0.05)
        np.testing.assert_allclose(m.between_, B, atol=0.35)
        np.testing.assert_allclose(m.plda_mean_ + m.mean_, mu, atol=0.1)
    hist = em.em_loglik_
    assert hist.size == 21 and np.all(np.diff(hist) >= -1e-9)  # EM never lowers the likelihood
    # ML (EM) fits the data at least as well as the moment estimate it starts from
    assert hist[-1] >= hist[0]


def test_loglik_matches_scipy_per_class(rng):
    X, y, mu, B, W = two_cov_sample(rng, n_id=20, d=3, max_per=4)
    ref = 0.0
    for c in np.unique(y):
        Xc = X[y == c]
        m = Xc.shape[0]
        cov = np.kron(np.eye(m), W) + np.kron(np.ones((m, m)), B)
        ref += mvn(np.tile(mu, m), cov).logpdf(Xc.ravel())
    from metricbench.learn.stats import class_codes

    _, codes, counts = class_codes(y)
    S = np.zeros((counts.size, 3))
    np.add.at(S, codes, X)
    got = P._two_cov_loglik(X, codes, counts, S, X.T @ X, mu, B, W)
    assert got == pytest.approx(ref / y.size, rel=1e-9)


def test_auto_dimension_and_save_load(rng, tmp_path):
    X, y, *_ = two_cov_sample(rng, n_id=200, d=8)
    m = get_metric("plda", n_components_grid=(2, 4, 7)).fit(X, y)
    assert [p["n_components"] for p in m.cv_results_["params"]] == [2, 4, 7]
    assert "inner-selection AUROC" in m.describe()
    m2 = load_metric(m.save(tmp_path / "p.npz"))
    i1, i2 = rng.integers(0, y.size, 100), rng.integers(0, y.size, 100)
    np.testing.assert_array_equal(m2.pair_distance(X, i1, i2), m.pair_distance(X, i1, i2))
    np.testing.assert_array_equal(m2.transform(X[:5]), m.transform(X[:5]))
