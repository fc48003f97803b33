"""Mahalanobis distance with the inverse within-class covariance: ``mahalanobis``.

``d(x, y) = (x - y)^T VI (x - y)`` with ``VI`` the inverse of the within-identity
covariance, estimated as one of scikit-learn's covariance estimators would from the residuals
``x_i - m_c(i)`` of the identities with 2+ rows (shrinkage keeps it invertible and well
conditioned). Every row is used by default, and then the estimate comes from sufficient
statistics (:class:`~metricbench.learn.stats.ScatterStats`: the residuals' Gram matrix is ``n``
times the pooled within-class covariance; Ledoit-Wolf adds one second-pass sum,
:func:`~metricbench.learn.stats.residual_fourth`), so it needs no residual matrix in memory and
fits by map-reduce on a cluster; ``max_samples`` fits scikit-learn's estimator on a seeded
subsample of residual rows instead. It is a :class:`~metricbench.learn.base.LinearMetric` with a squared-Euclidean
base: ``components_ = L^T`` where ``VI = L L^T`` (Cholesky), so
``||L^T (x - y)||^2 = (x - y)^T VI (x - y)`` (scipy's ``mahalanobis(x, y, VI)`` squared).
"""

from __future__ import annotations

import numpy as np

from metricbench.learn import _constraints as dom
from metricbench.config import get_chunk_n_rows
from metricbench.errors import InputError
from metricbench.learn.base import LinearMetric, StatsFitted
from metricbench.learn.stats import ScatterStats, class_codes, whitener
from metricbench.model_selection._split import _rng

ESTIMATORS = ("ledoit-wolf", "oas", "shrunk", "empirical")


def within_residuals(X, y, *, max_samples: int | None = None, random_state=0) -> np.ndarray:
    """``x_i - m_c(i)`` (float64) for rows of identities with 2+ rows, optionally a seeded subsample."""
    classes, codes, counts = class_codes(y)
    M = ScatterStats.from_data(X, y).class_means()
    rows = np.flatnonzero(counts[codes] >= 2)
    if rows.size < 2:
        raise InputError("mahalanobis needs identities with 2 or more train rows")
    if max_samples is not None and rows.size > int(max_samples):
        rows = np.sort(_rng(random_state).choice(rows, size=int(max_samples), replace=False))
    R = np.empty((rows.size, X.shape[1]))
    step = get_chunk_n_rows(16 * X.shape[1])
    for a in range(0, rows.size, step):
        r = rows[a : a + step]
        R[a : a + r.size] = np.asarray(X[r], dtype=np.float64) - M[codes[r]]
    return R


class Mahalanobis(StatsFitted, LinearMetric):
    """Squared Mahalanobis distance with a shrunk inverse within-class covariance.

    Parameters
    ----------
    estimator : {"ledoit-wolf", "oas", "shrunk", "empirical"}
        scikit-learn estimator of the within-class covariance: ``LedoitWolf``, ``OAS``,
        ``ShrunkCovariance(shrinkage=shrinkage)`` or ``EmpiricalCovariance`` (default
        "ledoit-wolf").
    shrinkage : float in [0, 1]
        Used by "shrunk" only.
    max_samples : int or None
        Estimate from at most this many residual rows (seeded subsample, fitted from the rows
        by scikit-learn's estimator); None = all (fitted from statistics, default).
    random_state : int, numpy Generator or None
        Seed of that subsample.

    References
    ----------
    Ledoit & Wolf, "A well-conditioned estimator for large-dimensional covariance matrices",
    Journal of Multivariate Analysis 88(2), 2004; Chen, Wiesel, Eldar & Hero, "Shrinkage
    algorithms for MMSE covariance estimation", IEEE Trans. Signal Processing 58(10), 2010
    (OAS).
    """

    base_metric = "sqeuclidean"

    #: domain of every parameter (scikit-learn's form, checked by check_params at fit)
    _parameter_constraints: dict = {
        "estimator": [dom.StrOptions({"ledoit-wolf", "oas", "shrunk", "empirical"})],
        "shrinkage": [dom.UNIT],
        "max_samples": [dom.POS_INT, None],
        "random_state": dom.SEED,
    }

    def __init__(self, estimator: str = "ledoit-wolf", shrinkage: float = 0.1, max_samples=None, random_state=0):
        self.estimator = estimator
        self.shrinkage = shrinkage
        self.max_samples = max_samples
        self.random_state = random_state

    def _estimator(self):
        from sklearn.covariance import OAS, EmpiricalCovariance, LedoitWolf, ShrunkCovariance

        if self.estimator == "ledoit-wolf":
            return LedoitWolf(assume_centered=True)
        if self.estimator == "oas":
            return OAS(assume_centered=True)
        if self.estimator == "shrunk":
            a = float(self.shrinkage)
            if not 0.0 <= a <= 1.0:
                raise InputError(f"shrinkage must be between 0 and 1, got {self.shrinkage!r}")
            return ShrunkCovariance(shrinkage=a, assume_centered=True)
        if self.estimator == "empirical":
            return EmpiricalCovariance(assume_centered=True)
        raise InputError(f"estimator must be one of {', '.join(ESTIMATORS)}; got {self.estimator!r}")

    def _check_params(self):
        self._estimator()
        if self.max_samples is not None and (isinstance(self.max_samples, bool) or int(self.max_samples) < 2):
            raise InputError(f"max_samples must be an integer >= 2 or None, got {self.max_samples!r}")

    def _stats_extra(self) -> tuple:
        return ("residual_fourth",) if self.estimator == "ledoit-wolf" else ()

    def _stats_only(self):
        if self.max_samples is not None:
            return "max_samples subsamples residual rows"
        return None

    def _fit(self, X, y, groups=None):
        self._check_params()
        if self.max_samples is None:
            return self._fit_stats(self.gather_stats(X, y))
        est = self._estimator()
        R = within_residuals(X, y, max_samples=self.max_samples, random_state=self.random_state)
        est.fit(R)
        self._set(est.covariance_, float(getattr(est, "shrinkage_", getattr(est, "shrinkage", 0.0))), R.shape[0])

    def _fit_stats(self, stats):
        msg = self._stats_only()
        if msg is not None:
            raise InputError(f"{msg}: fit from the rows (fit(X, y))")
        multi = stats.counts >= 2
        n_res = float(stats.counts[multi].sum())
        if n_res < 2:
            raise InputError("mahalanobis needs identities with 2 or more train rows")
        # the residuals' Gram matrix: sum_c (Q_c - S_c S_c^T / n_c) = n * pooled within (a
        # singleton's residual is zero)
        emp = stats.within * (stats.n / n_res)
        d = emp.shape[0]
        mu = float(np.trace(emp)) / d
        if self.estimator == "empirical":
            a = 0.0
        elif self.estimator == "shrunk":
            a = float(self.shrinkage)
        elif d == 1:
            a = 0.0  # one feature: every shrinkage gives the same estimate (scikit-learn's 0)
        elif self.estimator == "oas":
            # scikit-learn's _oas (Chen et al. 2010, Eq. 23)
            alpha = float(np.mean(emp**2))
            num = alpha + mu**2
            den = (n_res + 1.0) * (alpha - mu**2 / d)
            a = 1.0 if den == 0 else min(num / den, 1.0)
        else:
            # scikit-learn's ledoit_wolf_shrinkage from the same sums: beta_ = sum ||r||^4,
            # delta_ = ||R^T R||_F^2 / n^2
            if "residual_fourth" not in stats.extra:
                raise InputError("Ledoit-Wolf shrinkage needs the residuals' fourth moment (a second pass)")
            delta_ = float((emp**2).sum())
            beta = (stats.extra["residual_fourth"] / n_res - delta_) / (d * n_res)
            delta = (delta_ - 2.0 * mu * float(np.trace(emp)) + d * mu**2) / d
            beta = min(beta, delta)
            a = 0.0 if beta == 0 else beta / delta
        cov = (1.0 - a) * emp + a * mu * np.eye(d)
        self._set(cov, a, int(n_res))

    def _set(self, cov, shrinkage, n_residuals):
        cov = 0.5 * (cov + cov.T)
        # the inverse on the covariance's numerical range (a singular direction is dropped,
        # never amplified): VI = T T^T with T^T cov T = I
        T, _ = whitener(cov)
        L = T
        VI = T @ T.T
        self.rank_ = int(T.shape[1])
        self.n_residuals_ = int(n_residuals)
        self.covariance_ = cov
        self.precision_ = 0.5 * (VI + VI.T)
        self.shrinkage_ = float(shrinkage)
        self.components_ = np.ascontiguousarray(L.T)

    def get_mahalanobis_matrix(self) -> np.ndarray:
        """``VI`` (d, d), the inverse within-class covariance."""
        self.check_is_fitted()
        return self.precision_

    def describe(self) -> str:
        if not hasattr(self, "shrinkage_"):
            return ""
        sub = f", subsample random_state {self.random_state}" if self.max_samples is not None else ""
        cut = (f", inverted on its numerical rank {self.rank_} of {self.n_features_in_}"
               if self.rank_ < self.n_features_in_ else "")
        return (
            f"inverse within-class covariance ({self.estimator}, shrinkage={self.shrinkage_:.4g}, "
            f"{self.n_residuals_} residual rows{sub}{cut})"
        )


__all__ = ["ESTIMATORS", "Mahalanobis", "within_residuals"]
