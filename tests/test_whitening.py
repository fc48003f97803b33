"""cosine-whitened against scikit-learn's PCA whitening, and its automatic choice."""

import numpy as np
import pytest
from sklearn.decomposition import PCA

from metricbench import get_metric, load_metric
from metricbench.errors import InputError, NotFittedError


def _cos(A, B):
    return 1 - (A * B).sum(1) / np.linalg.norm(A, axis=1) / np.linalg.norm(B, axis=1)


def test_full_whitening_equals_sklearn_pca_whiten(rng):
    X = rng.standard_normal((300, 6)) @ rng.standard_normal((6, 6))
    y = np.arange(300) % 30
    m = get_metric("cosine-whitened", n_components=4, shrinkage=0.0).fit(X, y)
    Z = PCA(n_components=4, whiten=True).fit(X).transform(X)
    i1, i2 = rng.integers(0, 300, 100), rng.integers(0, 300, 100)
    np.testing.assert_allclose(m.pair_distance(X, i1, i2), _cos(Z[i1], Z[i2]), rtol=1e-6, atol=1e-9)


def test_shrinkage_one_is_centring_and_projection(rng):
    X = rng.standard_normal((200, 5)) * [5, 3, 1, 1, 0.1] + 2
    y = np.arange(200) % 20
    m = get_metric("cosine-whitened", n_components=None, shrinkage=1.0).fit(X, y)
    C = X - X.mean(0)
    i1, i2 = rng.integers(0, 200, 50), rng.integers(0, 200, 50)
    np.testing.assert_allclose(m.pair_distance(X, i1, i2), _cos(C[i1], C[i2]), rtol=1e-6, atol=1e-9)


def test_auto_choice_prefers_informative_directions(rng):
    # identity lives in 3 high-variance dims; 20 low-variance noise dims that full whitening would amplify
    n_id, per = 80, 5
    y = np.repeat(np.arange(n_id), per)
    centres = rng.standard_normal((n_id, 3)) * 4
    X = np.hstack([centres[y] + rng.standard_normal((y.size, 3)) * 0.5, rng.standard_normal((y.size, 20)) * 0.3])
    m = get_metric("cosine-whitened").fit(X, y)
    b = m.best_estimator_
    assert b.n_components_ < 23 or b.shrinkage_ > 0
    assert "inner-selection AUROC" in m.describe() and "validation" not in m.describe()
    res = m.cv_results_
    assert m.best_score_ == max(res["mean_test_score"])
    full = res["params"].index({"n_components": 23, "shrinkage": 0.0})
    assert m.best_score_ > res["mean_test_score"][full] + 0.01  # full whitening is clearly worse


def test_save_load_round_trip_and_checks(tmp_path, rng):
    X = rng.standard_normal((120, 8))
    y = np.arange(120) % 12
    m = get_metric("cosine-whitened").fit(X, y)
    path = m.save(tmp_path / "m.npz")
    m2 = load_metric(path)
    i1, i2 = rng.integers(0, 120, 40), rng.integers(0, 120, 40)
    np.testing.assert_array_equal(m.pair_distance(X, i1, i2), m2.pair_distance(X, i1, i2))
    assert m2.describe() == m.describe()
    with pytest.raises(InputError, match="fitted on 8-D embeddings"):
        load_metric(path, n_features=5)
    with pytest.raises(InputError, match="fitted on 8-D embeddings but got 3-D"):
        m2.pair_distance(rng.standard_normal((4, 3)), [0], [1])
    with pytest.raises(NotFittedError, match="not fitted yet"):
        get_metric("cosine-whitened").pair_distance(X, [0], [1])


def test_pair_scores_are_symmetric_and_pairs_form_agrees(rng):
    X = rng.standard_normal((60, 5))
    y = np.arange(60) % 6
    m = get_metric("cosine-whitened", n_components=3, shrinkage=0.5).fit(X, y)
    i1, i2 = rng.integers(0, 60, 30), rng.integers(0, 60, 30)
    np.testing.assert_allclose(m.pair_distance(X, i1, i2), m.pair_distance(X, i2, i1), rtol=1e-12)
    np.testing.assert_allclose(m.pair_distance(np.stack([X[i1], X[i2]], 1)), m.pair_distance(X, i1, i2), rtol=1e-12)
    np.testing.assert_allclose(m.pair_score(X, i1, i2), -m.pair_distance(X, i1, i2))


def test_search_scores_equal_one_fit_per_candidate():
    """The shared-product search scores every (k, shrinkage) as fitting each candidate and
    scoring its pairs would (the generic StatsFitted.search_scores)."""
    from metricbench.learn.base import StatsFitted
    from metricbench.learn.whitening import WhitenedCosine

    r = np.random.default_rng(5)
    y = r.integers(0, 40, 1500)
    X = r.standard_normal((40, 16))[y] + r.standard_normal((1500, 16)) * np.linspace(2, 0.1, 16)
    i1, i2 = r.integers(0, 1500, 800), r.integers(0, 1500, 800)
    same = y[i1] == y[i2]
    m = WhitenedCosine()
    st = m.gather_stats(X, y)
    cands = [{"n_components": k, "shrinkage": a} for k in (2, 8, 16) for a in (0.0, 0.5, 1.0)]
    np.testing.assert_allclose(m.search_scores(st, X, i1, i2, same, cands),
                               StatsFitted.search_scores(m, st, X, i1, i2, same, cands), rtol=1e-12)
