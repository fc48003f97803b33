"""PCA whitening then cosine (``cosine-whitened``).

Full whitening divides every principal direction by its standard deviation, so the many
low-variance directions, mostly noise for identity, are blown up as much as the
informative ones. Two knobs tame it:

* ``n_components`` keeps only the top-k principal directions;
* ``shrinkage`` alpha replaces each kept eigenvalue s_i by ``(1 - alpha) s_i + alpha mean(s)``
  before dividing: alpha = 0 is full whitening, alpha = 1 no rescaling at all (centring +
  projection only).

Directions beyond the train covariance's numerical rank are never kept: with fewer train
rows than dimensions the covariance has zero eigenvalues, and whitening them would blow up
directions train never varied in (``describe()`` says when ``k`` was cut).

The metric is fitted in closed form from :class:`~metricbench.learn.stats.ScatterStats`
(mean and covariance, one pass over the rows). ``get_metric("cosine-whitened")`` (and the
CLI) sets both knobs to ``"auto"``: a :class:`~metricbench.model_selection.MetricSearchCV`
chooses them on identity-disjoint pairs, sharing one eigendecomposition across candidates.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import clone

from metricbench.errors import InputError, ParameterError
from metricbench.learn import _constraints as dom
from metricbench.learn.base import LinearMetric, StatsFitted
from metricbench.learn.stats import shrinkage_value
from metricbench.model_selection._scorer import pair_auroc


def resolve_n_components(value, d: int) -> int:
    """``n_components`` as a number of directions: an int in [1, d], a float in (0, 1] (a
    fraction of the width ``d``, rounded, at least 1) or None (all ``d``)."""
    if value is None:
        return d
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InputError(f"n_components must be an int, a fraction in (0, 1] or None, got {value!r}")
    if isinstance(value, (float, np.floating)):
        if not 0.0 < value <= 1.0:
            raise InputError(f"n_components as a float is a fraction of the width in (0, 1], got {value!r}")
        return min(d, max(1, int(round(value * d))))
    k = int(value)
    if k < 1:
        raise InputError(f"n_components must be at least 1, got {k}")
    return k


def _scales(s_k, alpha):
    lam = (1.0 - alpha) * s_k + alpha * s_k.mean()
    return np.sqrt(np.maximum(lam, 1e-12 * max(1e-300, s_k.max())))


class WhitenedCosine(StatsFitted, LinearMetric):
    """PCA whitening fitted on train, then cosine.

    ``transform(x) = diag(lam_k)^(-1/2) U_k^T (x - mean)`` with ``U_k`` the top-k eigenvectors
    of the train covariance and ``lam_k`` their eigenvalues shrunk towards their mean.

    Parameters
    ----------
    n_components : int, float in (0, 1] or None
        Principal directions kept: a number, a fraction of the width, or None for all
        (default). Never more than the covariance's numerical rank.
    shrinkage : float in [0, 1]
        Eigenvalue shrinkage alpha (0 = full whitening, 1 = centring and projection only);
        default 0.5.

    Attributes
    ----------
    n_components_ : int
        Directions kept.
    rank_ : int
        Numerical rank of the train covariance.
    components_ : ndarray of shape (n_components_, n_features)
    mean_ : ndarray of shape (n_features,)
    explained_variance_ : ndarray of shape (n_components_,)
    n_features_in_ : int

    References
    ----------
    Kessy, Lewin & Strimmer, "Optimal whitening and decorrelation", The American
    Statistician 72(4), 2018.
    """

    base_metric = "cosine"
    #: grids of the settings ``"auto"`` searches
    auto_grid = {"n_components": (0.125, 0.25, 0.5, 1.0), "shrinkage": (0.0, 0.25, 0.5, 0.75, 0.9, 1.0)}

    #: domain of every parameter (scikit-learn's form, checked by check_params at fit)
    _parameter_constraints: dict = {
        "n_components": [dom.POS_INT, dom.reals(0, 1, closed="right"), None],
        "shrinkage": [dom.UNIT],
    }

    def __init__(self, n_components=None, shrinkage=0.5):
        self.n_components = n_components
        self.shrinkage = shrinkage

    def _check_params(self):
        resolve_n_components(self.n_components, 1 << 30)
        shrinkage_value(self.shrinkage)

    def _feasible_params(self, params, n_features, n_classes):
        if "n_components" in params:
            params["n_components"] = min(n_features, resolve_n_components(params["n_components"], n_features))
        return params

    def _k(self, stats):
        d = stats.n_features
        k = resolve_n_components(self.n_components, d)
        if k > d:
            raise ParameterError(
                f"parameter 'n_components' of {self.name} must be between 1 and {d} (the width of the train rows); got {k}", param="n_components")
        return k

    def _stats_request(self, variants):
        # PCA keeps the leading directions: float32 products (as scikit-learn's covariance_eigh
        # forms X^T X in the input's dtype) change no AUROC here and halve the pass's time
        return {"precision": "input"}

    def _fit_stats(self, stats):
        k = self._k(stats)
        a = shrinkage_value(self.shrinkage)
        s, U = stats.total_eigh()
        r = stats.rank(s)
        if r < 1:
            raise InputError("the train covariance is zero: nothing to whiten")
        k_eff = min(k, r)
        self.rank_ = int(r)
        self.n_components_ = int(k_eff)
        self.shrinkage_ = a
        self.mean_ = stats.mean
        self.explained_variance_ = s[:k_eff]
        self.components_ = np.ascontiguousarray((U[:, :k_eff] / _scales(s[:k_eff], a)).T)

    def search_scores(self, stats, X, index1, index2, same, candidates):
        """Every (k, alpha) from one rotation of the held-out rows."""
        s, U = stats.total_eigh()
        r = stats.rank(s)
        ks = [min(r, clone(self).set_params(**c)._k(stats)) for c in candidates]
        uniq, inv = np.unique(np.concatenate([index1, index2]), return_inverse=True)
        j1, j2 = inv[: len(index1)], inv[len(index1) :]
        Xu = np.asarray(np.asarray(X)[uniq])
        # the rotation in the rows' precision (as the statistics' products), the rest in float64
        dt = np.float32 if Xu.dtype == np.float32 else np.float64
        Z = (np.subtract(Xu, stats.mean.astype(dt), dtype=dt) @ U[:, : max(ks)].astype(dt)).astype(np.float64)
        # cosine of whitened rows = sum_k z1 z2 / lam_k / sqrt(sum z1^2 / lam_k * sum z2^2 / lam_k):
        # three products per pair and direction, shared by every (k, alpha)
        # one matrix product per part for every candidate: column j weighs the first k_j directions
        Wt = np.zeros((Z.shape[1], len(candidates)))
        for j, (c, k) in enumerate(zip(candidates, ks)):
            Wt[:k, j] = _scales(s[:k], shrinkage_value(c.get("shrinkage", self.shrinkage))) ** -2.0
        Z1, Z2 = Z[j1], Z[j2]
        num = (Z1 * Z2) @ Wt
        den = np.sqrt(((Z1 * Z1) @ Wt) * ((Z2 * Z2) @ Wt))
        with np.errstate(invalid="ignore", divide="ignore"):
            cos = np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0)
        return np.array([pair_auroc(same, cos[:, j]) for j in range(len(candidates))])

    def describe(self) -> str:
        if not hasattr(self, "n_components_"):
            return ""
        msg = f"k={self.n_components_} of {self.n_features_in_} dims, shrinkage={self.shrinkage_:g}"
        asked = resolve_n_components(self.n_components, self.n_features_in_)
        if self.n_components_ < min(asked, self.n_features_in_):
            msg += f" (cut at the train covariance's numerical rank {self.rank_})"
        return msg + self._selection_note()


__all__ = ["WhitenedCosine", "resolve_n_components"]
