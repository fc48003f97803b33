"""Every classical verification metric: pair-score symmetry, both pair forms, save/load, groups."""

import numpy as np
import pytest

from metricbench import get_metric, load_metric
from metricbench.errors import InputError, NotFittedError

#: name -> fast parameters (fixed dimension, no validation) and the default ("auto") ones
CLASSIC = {
    "zca-cosine": {"shrinkage": 0.1},
    "wccn-cosine": {"shrinkage": 0.1},
    "lda-cosine": {"n_components": 4},
    "within-mahalanobis": {},
    "plda": {"n_components": 4},
    "kissme": {"n_components": 4},
}


def two_variant_data(rng, n_id=40, per=4, d=8, shift=0.5):
    """Identities with a 'clean' and a degraded 'xq' row of each image (a copy plus noise and a shift)."""
    centres = rng.standard_normal((n_id, d)) * 2
    y_img = np.repeat(np.arange(n_id), per)
    clean = centres[y_img] + rng.standard_normal((y_img.size, d))
    xq = clean * 0.8 + shift + rng.standard_normal(clean.shape) * 0.7
    X = np.vstack([clean, xq])
    y = np.r_[y_img, y_img]
    groups = np.array(["clean"] * y_img.size + ["xq"] * y_img.size)
    perm = rng.permutation(y.size)
    return X[perm], y[perm], groups[perm]


@pytest.mark.parametrize("name", list(CLASSIC))
@pytest.mark.parametrize("auto", [False, True])
def test_symmetric_pair_forms_and_round_trip(name, auto, rng, tmp_path):
    X, y, groups = two_variant_data(rng)
    m = get_metric(name, **({} if auto else CLASSIC[name])).fit(X, y)
    i1, i2 = rng.integers(0, X.shape[0], 200), rng.integers(0, X.shape[0], 200)
    d12 = m.pair_distance(X, i1, i2)
    assert d12.dtype == np.float64 and d12.shape == (200,) and np.isfinite(d12).all()
    np.testing.assert_array_equal(d12, m.pair_distance(X, i2, i1))  # exactly symmetric
    np.testing.assert_array_equal(m.pair_score(X, i1, i2), -d12)
    np.testing.assert_allclose(m.pair_distance(np.stack([X[i1], X[i2]], 1)), d12, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(m.pair_distance(X[i1], np.arange(200), np.arange(200), Y=X[i2]), d12, rtol=1e-10, atol=1e-10)
    assert m.describe()
    path = m.save(tmp_path / f"{name}.npz")
    m2 = load_metric(path)
    assert type(m2) is type(getattr(m, "best_estimator_", m)) and m2.name == name
    np.testing.assert_array_equal(m2.pair_distance(X, i1, i2), d12)
    assert m2.describe() == m.describe()
    with pytest.raises(InputError, match="fitted on 8-D embeddings"):
        load_metric(path, n_features=5)
    with pytest.raises(InputError, match="fitted on 8-D embeddings but got 3-D"):
        m2.pair_distance(rng.standard_normal((4, 3)), [0], [1])


@pytest.mark.parametrize("name", list(CLASSIC))
def test_groups_fit_param_and_not_fitted(name, rng):
    X, y, groups = two_variant_data(rng)
    with pytest.raises(NotFittedError, match="not fitted yet"):
        get_metric(name).pair_distance(X, [0], [1])
    m = get_metric(name, **CLASSIC[name]).fit(X, y, groups=groups)
    i1, i2 = rng.integers(0, X.shape[0], 50), rng.integers(0, X.shape[0], 50)
    np.testing.assert_array_equal(m.pair_distance(X, i1, i2), m.pair_distance(X, i2, i1))
    if name not in ("zca-cosine", "within-mahalanobis"):  # these two take no within-identity statistic from groups
        assert "cross clean/xq" in m.describe()


@pytest.mark.parametrize("name", [n for n in CLASSIC if n not in ("zca-cosine", "within-mahalanobis")])
def test_within_cross_without_groups_is_a_clear_error(name, rng):
    X, y, _ = two_variant_data(rng)
    with pytest.raises(InputError, match="variants"):
        get_metric(name, **CLASSIC[name], within="cross").fit(X, y)


@pytest.mark.parametrize("name", list(CLASSIC))
def test_learned_metric_separates_identities(name, rng):
    # held-out identities from the same generator: every metric must beat chance clearly
    from metricbench.evaluation.verification import auroc as roc_auc

    X, y, groups = two_variant_data(rng, n_id=60)
    Xt, yt, _ = two_variant_data(np.random.default_rng(7), n_id=30)
    m = get_metric(name, **CLASSIC[name]).fit(X, y)
    i1, i2 = np.triu_indices(Xt.shape[0], 1)
    assert roc_auc(yt[i1] == yt[i2], m.pair_score(Xt, i1, i2)) > 0.8
