import numpy as np
import pytest
from _pairdata import two_group_data

from metricbench.errors import InputError
from metricbench.learn.base import load_metric
from metricbench.learn.learned_cosine import LearnedCosine, _backward, _forward, batch_loss, pair_loss
from metricbench.registry import get_metric

FAST = dict(max_epochs=4, n_identities=8, n_per_identity=4, n_val_pairs=400, n_components=8)


def _numeric_grad(f, A, h=1e-6):
    g = np.zeros_like(A)
    for idx in np.ndindex(A.shape):
        E = np.zeros_like(A)
        E[idx] = h
        g[idx] = (f(A + E) - f(A - E)) / (2 * h)
    return g


@pytest.mark.parametrize("loss", ["logistic", "margin"])
@pytest.mark.parametrize("cross", [False, True])
def test_gradient_matches_finite_differences(loss, cross):
    r = np.random.default_rng(0)
    Xb = r.standard_normal((24, 7))
    ids = np.repeat(np.arange(6), 4)
    grp = np.tile([0, 1], 12)
    A = r.standard_normal((5, 7))
    kw = dict(loss=loss, cross=cross, n_hard=3, margin=0.5, scale=4.0)
    L, gA, gb = batch_loss(A, 0.3, Xb, ids, grp, **kw)
    num = _numeric_grad(lambda M: batch_loss(M, 0.3, Xb, ids, grp, **kw)[0], A)
    np.testing.assert_allclose(gA, num, rtol=1e-5, atol=1e-7)
    nb = (batch_loss(A, 0.3 + 1e-6, Xb, ids, grp, **kw)[0] - batch_loss(A, 0.3 - 1e-6, Xb, ids, grp, **kw)[0]) / 2e-6
    assert gb == pytest.approx(nb, rel=1e-5, abs=1e-8)


def test_gated_gradient_matches_finite_differences():
    r = np.random.default_rng(1)
    Xc = r.standard_normal((16, 6))
    p = r.uniform(size=16)
    ids = np.repeat(np.arange(4), 4)
    params = {"A0": r.standard_normal((4, 6)), "c0": r.standard_normal(4),
              "A1": r.standard_normal((4, 6)), "c1": r.standard_normal(4)}

    def loss_of(name, val):
        P = dict(params, **{name: val})
        return pair_loss(_forward(P, Xc, p), ids, None, 0.2, n_hard=2)[0]

    _, dZ, _ = pair_loss(_forward(params, Xc, p), ids, None, 0.2, n_hard=2)
    grads = _backward(params, Xc, p, dZ)
    for name in params:
        num = _numeric_grad(lambda v: loss_of(name, v), params[name])
        np.testing.assert_allclose(grads[name], num, rtol=1e-5, atol=1e-7)


def test_fit_improves_on_start_and_scores_symmetrically():
    X, y, g = two_group_data(n_ids=60)
    m = LearnedCosine(init="whiten", gate="none", **FAST).fit(X, y)
    assert m.val_auroc_ >= m.init_val_auroc_
    i1 = np.arange(0, 100)
    i2 = np.arange(100, 200)
    a = m.pair_score(X, i1, i2)
    b = m.pair_score(X, i2, i1)
    assert np.array_equal(a, b)
    # a plain linear metric: cosine of (x - mean) A^T
    Z = (X.astype(np.float64) - m.mean_) @ m.components_.T
    Z /= np.linalg.norm(Z, axis=1, keepdims=True)
    np.testing.assert_allclose(a, np.einsum("ij,ij->i", Z[i1], Z[i2]) - 1.0, atol=1e-10)


def test_whiten_init_matches_sklearn_pca_whitening():
    from sklearn.decomposition import PCA

    X, y, _ = two_group_data(n_ids=30, d=10)
    m = LearnedCosine(init="whiten", n_components=6, max_steps=0, holdout=0.0, gate="none", shrinkage=0.0).fit(X, y)
    ref = PCA(n_components=6, whiten=True).fit(X.astype(np.float64)).transform(X)
    Z = m.transform(X)
    # same cosines (the global scale and per-axis signs are free)
    Z, ref = Z / np.linalg.norm(Z, axis=1, keepdims=True), ref / np.linalg.norm(ref, axis=1, keepdims=True)
    np.testing.assert_allclose(Z @ Z.T, ref @ ref.T, atol=1e-4)  # covariance products are float32


def test_gated_fit_save_load_round_trip(tmp_path):
    X, y, g = two_group_data(n_ids=50)
    m = LearnedCosine(**FAST).fit(X, y, groups=g)
    assert m.gated_ and "quality gate" in m.describe()
    i1, i2 = np.arange(0, 150), np.arange(399, 249, -1)
    a = m.pair_score(X, i1, i2)
    assert np.array_equal(a, m.pair_score(X, i2, i1))
    m2 = load_metric(m.save(tmp_path / "lc.npz"))
    assert np.array_equal(a, m2.pair_score(X, i1, i2))
    with pytest.raises(InputError, match="not a single linear map"):
        m.get_mahalanobis_matrix()


def test_seeded_fits_are_identical_and_seeds_differ():
    X, y, g = two_group_data(n_ids=40)
    a = LearnedCosine(random_state=3, **FAST).fit(X, y, groups=g)
    b = LearnedCosine(random_state=3, **FAST).fit(X, y, groups=g)
    c = LearnedCosine(random_state=4, **FAST).fit(X, y, groups=g)
    assert np.array_equal(a.components_, b.components_)
    assert not np.array_equal(a.components_, c.components_)


def test_max_steps_bounds_the_work():
    X, y, _ = two_group_data(n_ids=40)
    m = LearnedCosine(max_steps=3, holdout=0.0, gate="none", n_components=8, max_epochs=50).fit(X, y)
    assert m.n_steps_ == 3


def test_registry_and_bad_parameters():
    X, y, _ = two_group_data(n_ids=10)
    with pytest.raises(InputError, match="'loss' of learned-cosine must be a str among"):
        get_metric("learned-cosine", loss="hinge")  # checked when built, before any data
    with pytest.raises(InputError, match="'loss' of learned-cosine must be a str among"):
        LearnedCosine(loss="hinge").fit(X, y)
    with pytest.raises(InputError, match=r"'n_components' of learned-cosine must be an int in the range \[1, inf\)"):
        LearnedCosine(n_components=0, init="pca", holdout=0.0).fit(X, y)
    capped = LearnedCosine(n_components=99, init="pca", holdout=0.0, max_steps=0).fit(X, y)
    assert capped.components_.shape == (X.shape[1], X.shape[1])
    with pytest.raises(InputError, match="reference_group 'hq' is not one of"):
        LearnedCosine(reference_group="hq", **FAST).fit(X, y, groups=np.where(np.arange(y.size) % 2, "a", "b"))
