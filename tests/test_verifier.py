import numpy as np
import pytest
from _pairdata import two_group_data

from metricbench.errors import InputError
from metricbench.learn.base import load_metric
from metricbench.learn.verifier import Verifier, pair_features

FAST = dict(n_components=8, n_pairs=3000, C=1.0, hard_fraction=0.1)


def test_pair_features_closed_form_and_exact_symmetry():
    r = np.random.default_rng(0)
    Z = r.standard_normal((30, 5))
    N = np.linalg.norm(Z, axis=1)
    U = Z / N[:, None]
    i1, i2 = r.integers(0, 30, 50), r.integers(0, 30, 50)
    F = pair_features(U, N, i1, i2)
    a, b = U[i1], U[i2]
    ref = np.hstack([a * b, (a - b) ** 2, (a * b).sum(1, keepdims=True),
                     (N[i1] * N[i2])[:, None], ((N[i1] - N[i2]) ** 2)[:, None]])
    np.testing.assert_allclose(F, ref, rtol=1e-12)
    assert np.array_equal(F, pair_features(U, N, i2, i1))


@pytest.mark.parametrize("groups", [False, True])
def test_fit_beats_chance_and_is_exactly_commutative(groups):
    X, y, g = two_group_data(n_ids=60)
    m = Verifier(**FAST).fit(X, y, groups=g if groups else None)
    from metricbench.model_selection import IdentityPairSplit, pair_auroc

    # held-out identities: fitted on the others, scored on pairs of them
    sp = next(IdentityPairSplit(test_size=0.3, n_pairs=600, random_state=0).pairs(X, y, variants=g if groups else None))
    held = Verifier(**FAST).fit(X[sp.fit_rows], y[sp.fit_rows], groups=g[sp.fit_rows] if groups else None)
    assert pair_auroc(sp.same, held.pair_score(X, sp.index1, sp.index2)) > 0.8
    r = np.random.default_rng(1)
    i1, i2 = r.integers(0, X.shape[0], 500), r.integers(0, X.shape[0], 500)
    a = m.pair_distance(X, i1, i2)
    assert np.array_equal(a, m.pair_distance(X, i2, i1))
    # (n, 2, d) pairs form, swapped
    P = np.stack([X[i1], X[i2]], axis=1)
    np.testing.assert_allclose(m.pair_distance(P), a, rtol=1e-9, atol=1e-9)


def test_score_is_the_logistic_model_on_the_features():
    X, y, _ = two_group_data(n_ids=40)
    m = Verifier(reduce="pca", **FAST).fit(X, y)
    i1, i2 = np.arange(50), np.arange(50, 100)
    Z = m.reducer_.transform(X)
    N = np.linalg.norm(Z, axis=1)
    F = (pair_features(Z / N[:, None], N, i1, i2) - m.feature_mean_) / m.feature_scale_
    np.testing.assert_allclose(m.pair_score(X, i1, i2), F @ m.clf_w_ + m.clf_b_, rtol=1e-9)


def test_mlp_save_load_and_seed(tmp_path):
    X, y, g = two_group_data(n_ids=40)
    kw = dict(FAST, hidden=8, C=1.0, hard_fraction=0.0, max_iter=50)
    m = Verifier(**kw).fit(X, y, groups=g)
    m2 = Verifier(**kw).fit(X, y, groups=g)
    i1, i2 = np.arange(100), np.arange(100, 200)
    a = m.pair_score(X, i1, i2)
    assert np.array_equal(a, m2.pair_score(X, i1, i2))
    assert np.array_equal(a, m.pair_score(X, i2, i1))
    back = load_metric(m.save(tmp_path / "v.npz"))
    assert np.array_equal(a, back.pair_score(X, i1, i2))
    assert "MLP(8)" in back.describe()


def test_bad_parameters():
    X, y, _ = two_group_data(n_ids=20)
    with pytest.raises(InputError, match="reduce.* must be a str among"):
        Verifier(reduce="umap").fit(X, y)
    with pytest.raises(InputError, match="'C' of verifier must be a float"):
        Verifier(C="a,b").fit(X, y)
    with pytest.raises(InputError, match=r"hard_fraction.* must be a float in the range \[0.0, 1.0\)"):
        Verifier(hard_fraction=1.5).fit(X, y)


def test_settings_are_chosen_outside_fit_by_the_search():
    """C / hard_fraction 'auto' is a search on held-out identities, refitted with the winner."""
    from metricbench.model_selection import MetricSearchCV, resolve_auto

    X, y, g = two_group_data(n_ids=60)
    s = resolve_auto(Verifier, dict(n_components=6, n_pairs=2000, C="auto", C_grid="0.01,1", hard_fraction="auto"))
    assert isinstance(s, MetricSearchCV)
    s.fit(X, y, groups=g)
    assert set(s.best_params_) == {"C", "hard_fraction"}
    assert s.best_params_["C"] in (0.01, 1) and s.best_params_["hard_fraction"] in (0, 0.05)
    best = s.best_estimator_
    assert best.C == s.best_params_["C"] and best.hard_fraction == s.best_params_["hard_fraction"]
    ref = Verifier(n_components=6, n_pairs=2000, **s.best_params_).fit(X, y, groups=g)
    i1, i2 = np.arange(50), np.arange(50, 100)
    np.testing.assert_allclose(best.pair_score(X, i1, i2), ref.pair_score(X, i1, i2))


@pytest.mark.parametrize("C", [0.01, 1.0])
def test_newton_logistic_matches_sklearn(C):
    from sklearn.linear_model import LogisticRegression

    from metricbench.learn.verifier import logistic_newton

    r = np.random.default_rng(3)
    F = r.standard_normal((800, 6))
    y = (F @ r.standard_normal(6) + 0.5 * r.standard_normal(800) > 0.3).astype(int)
    w, b = logistic_newton(F, y, C)
    ref = LogisticRegression(C=C, tol=1e-10, max_iter=10000).fit(F, y)
    np.testing.assert_allclose(w, ref.coef_[0], rtol=1e-4, atol=1e-6)
    assert b == pytest.approx(ref.intercept_[0], rel=1e-4, abs=1e-6)
