import numpy as np
import pytest
from _pairdata import two_group_data

from metricbench.errors import InputError
from metricbench.learn.base import load_metric
from metricbench.learn.fusion import Fusion

SUB = {"learned-cosine": {"n_components": 6, "max_epochs": 2, "n_identities": 8, "n_val_pairs": 300},
       "verifier": {"n_components": 6, "n_pairs": 2000, "C": 1.0, "hard_fraction": 0.0}}


@pytest.mark.parametrize("method", ["mean", "logistic"])
def test_fusion_is_the_weighted_sum_symmetric_and_round_trips(method, tmp_path):
    X, y, g = two_group_data(n_ids=50, d=8)
    m = Fusion("cosine,learned-cosine,verifier", method=method, metric_params=SUB, n_val_pairs=800)
    m.fit(X, y, groups=g)
    i1, i2 = np.arange(0, 200), np.arange(399, 199, -1)
    s = m.pair_score(X, i1, i2)
    subs = np.column_stack([sub.pair_score(X, i1, i2) for sub in m.metrics_])
    np.testing.assert_allclose(s, subs @ m.weights_ + m.intercept_, rtol=1e-10)
    if method == "mean":  # mean of z-scores
        np.testing.assert_allclose(m.weights_, 1.0 / (3 * m.z_scale_))
    assert np.array_equal(s, m.pair_score(X, i2, i1))
    back = load_metric(m.save(tmp_path / "f.npz"))
    assert [b.name for b in back.metrics_] == ["cosine", "learned-cosine", "verifier"]
    assert np.array_equal(s, back.pair_score(X, i1, i2))
    assert m.val_auroc_ > 0.8 and "fusion of cosine" in m.describe()


def test_without_refit_keeps_fit_part_models():
    X, y, _ = two_group_data(n_ids=40, d=8)
    m = Fusion("cosine,learned-cosine", refit=False, metric_params={"learned-cosine": SUB["learned-cosine"]},
               n_val_pairs=500).fit(X, y)
    assert not m.refitted_
    assert m.metrics_[1].n_features_in_ == 8


def test_bad_fusions():
    X, y, _ = two_group_data(n_ids=10, d=5)
    with pytest.raises(InputError, match="at least two metrics"):
        Fusion("cosine").fit(X, y)
    with pytest.raises(InputError, match="method.* must be"):
        Fusion("cosine,euclidean", method="max").fit(X, y)
    with pytest.raises(InputError, match="not in the fusion"):
        Fusion("cosine,euclidean", metric_params={"plda": {}}).fit(X, y)


def test_a_sub_metric_may_be_a_search():
    """A sub-metric whose settings the registry leaves to a search (get_metric gives a MetricSearchCV) fits,
    receives the variant tags, and scores as the metric it refitted."""
    X, y, g = two_group_data(n_ids=50, d=8)
    m = Fusion("cosine,cosine-whitened", n_val_pairs=500).fit(X, y, groups=g)
    sub = m.metrics_[1]
    i1, i2 = np.arange(0, 100), np.arange(100, 200)
    np.testing.assert_allclose(sub.pair_score(X, i1, i2), sub.best_estimator_.pair_score(X, i1, i2))
    assert np.isfinite(m.pair_score(X, i1, i2)).all()
