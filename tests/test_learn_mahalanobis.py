"""mahalanobis against scipy's mahalanobis and scikit-learn's covariance estimators."""

import numpy as np
import pytest
from scipy.spatial.distance import mahalanobis as scipy_mahalanobis
from sklearn.covariance import OAS, EmpiricalCovariance, LedoitWolf, ShrunkCovariance

from metricbench import get_metric
from metricbench.errors import InputError


def labelled(rng, n_id=30, d=5):
    y = np.repeat(np.arange(n_id), np.resize([1, 2, 4, 6], n_id))
    X = rng.standard_normal((n_id, d))[y] * 3 + rng.standard_normal((y.size, d)) @ rng.standard_normal((d, d))
    return X, y


def residuals(X, y):
    keep = np.array([(y == c).sum() >= 2 for c in y])
    means = {c: X[y == c].mean(0) for c in np.unique(y)}
    return np.array([X[i] - means[y[i]] for i in np.flatnonzero(keep)])


@pytest.mark.parametrize(
    "estimator, reference",
    [
        ("ledoit-wolf", LedoitWolf(assume_centered=True)),
        ("oas", OAS(assume_centered=True)),
        ("shrunk", ShrunkCovariance(shrinkage=0.3, assume_centered=True)),
        ("empirical", EmpiricalCovariance(assume_centered=True)),
    ],
)
def test_matches_scipy_with_sklearn_precision(rng, estimator, reference):
    X, y = labelled(rng)
    m = get_metric("within-mahalanobis", estimator=estimator, shrinkage=0.3).fit(X, y)
    VI = np.linalg.inv(reference.fit(residuals(X, y)).covariance_)
    np.testing.assert_allclose(m.get_mahalanobis_matrix(), VI, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(m.components_.T @ m.components_, VI, rtol=1e-8, atol=1e-10)
    i1, i2 = rng.integers(0, y.size, 50), rng.integers(0, y.size, 50)
    ref = [scipy_mahalanobis(X[a], X[b], VI) ** 2 for a, b in zip(i1, i2)]
    np.testing.assert_allclose(m.pair_distance(X, i1, i2), ref, rtol=1e-7, atol=1e-9)


def test_subsample_is_seeded(rng):
    X, y = labelled(rng, n_id=60)
    a = get_metric("within-mahalanobis", max_samples=50, random_state=3).fit(X, y)
    b = get_metric("within-mahalanobis", max_samples=50, random_state=3).fit(X, y)
    np.testing.assert_array_equal(a.precision_, b.precision_)
    assert a.n_residuals_ == 50 and "random_state 3" in a.describe()


def test_bad_estimator_and_no_multi_image_identity(rng):
    X, y = labelled(rng)
    with pytest.raises(InputError, match="estimator.* must be a str among"):
        get_metric("within-mahalanobis", estimator="mcd").fit(X, y)
    with pytest.raises(InputError, match="2 or more train rows"):
        get_metric("within-mahalanobis").fit(X[:5], np.arange(5))
