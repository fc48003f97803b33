"""Linear maps of classical verification, each followed by cosine: ZCA, WCCN, LDA.

* ``zca-cosine``: ZCA whitening ``W = U diag(1 / sqrt(s + eps)) U^T`` of the (shrunk) train
  covariance, then cosine.
* ``wccn-cosine``: within-class covariance normalisation (Hatch et al., 2006): centre, then
  ``B = chol(inv(Sw))`` of the (shrunk) mean within-class covariance, then cosine.
* ``lda-cosine``: linear discriminant analysis to ``k`` dimensions, then cosine.

Every hyper-parameter left at ``"auto"`` is chosen inside ``fit`` on identity-disjoint
validation (:class:`metricbench.learn._select.Holdout`: some identities held out, pairs of
them scored, cross-variant pairs when ``groups`` names two variants), then the metric is
refitted on all rows with the winner, which ``describe()`` reports with the seed.
"""

from __future__ import annotations

import numpy as np

from metricbench.errors import InputError
from metricbench.learn._scatter import (
    cross_groups_from,
    mean_class_covariance,
    resolve_within,
    row_mean,
    scatter,
    shrink,
    weighted_gram,
    within_covariance,
)
from metricbench.learn._select import Holdout, as_grid, cosine_rows, int_grid
from metricbench.learn.base import LinearMetric


class _ChosenOnValidation(LinearMetric):
    """Shared plumbing: a validation table of candidates and a describe() line."""

    base_metric = "cosine"

    def _fitted_state(self):
        arrays, scalars = super()._fitted_state()
        scalars["validation_"] = {k: float(v) for k, v in getattr(self, "validation_", {}).items()}
        return arrays, scalars

    def _holdout(self, y, groups):
        return Holdout(
            y,
            holdout=self.holdout,
            seed=self.seed,
            n_pairs=self.n_pairs,
            groups=groups,
            cross_groups=cross_groups_from(groups, getattr(self, "cross_groups", None)),
        )

    def _pick(self, table: dict):
        key = max(table, key=lambda k: (table[k], -list(table).index(k)))  # first of equals
        self.validation_ = {str(k): float(v) for k, v in table.items()}
        self.validation_auroc_ = float(table[key])
        return key

    def _chosen_note(self) -> str:
        if getattr(self, "validation_", None):
            return f" (chosen on identity-disjoint validation, AUROC {self.validation_auroc_:.4f}, seed {self.seed})"
        return ""


def _shrinkage_value(alpha) -> float:
    a = float(alpha)
    if not 0.0 <= a <= 1.0:
        raise InputError(f"shrinkage must be between 0 and 1, got {alpha!r}")
    return a


# -- ZCA ------------------------------------------------------------------------------------


def _sklearn_shrinkage(X, mean, kind: str) -> float:
    """Ledoit-Wolf or OAS shrinkage intensity of the covariance of ``X`` (scikit-learn)."""
    from sklearn.covariance import OAS, ledoit_wolf_shrinkage

    Xc = np.asarray(X, dtype=np.float64) - mean
    if kind == "ledoit-wolf":
        return float(ledoit_wolf_shrinkage(Xc, assume_centered=True))
    return float(OAS(assume_centered=True).fit(Xc).shrinkage_)


class ZCACosine(_ChosenOnValidation):
    """ZCA whitening of the train covariance, then cosine.

    ``transform(x) = W (x - mean)`` with ``W = U diag(1 / sqrt(s_alpha + eps)) U^T``, where
    ``C = U diag(s) U^T`` is the train covariance and ``s_alpha = (1 - alpha) s + alpha mean(s)``
    its eigenvalues shrunk towards their mean (the covariance ``(1 - alpha) C + alpha tr(C)/d I``).
    ``alpha = 0`` is full whitening, ``alpha = 1`` centring only.

    Parameters
    ----------
    shrinkage : float in [0, 1], "ledoit-wolf", "oas" or "auto"
        ``alpha``; "ledoit-wolf" / "oas" take scikit-learn's estimate of it, "auto" (default)
        chooses among ``shrinkage_grid`` on identity-disjoint validation.
    eps : float
        Added to each eigenvalue, relative to their mean (guards against zero variance).
    shrinkage_grid : sequence of float
    holdout, n_pairs, seed :
        Share of identities held out, number of validation pairs, seed of the split and pairs.
    cross_groups : (str, str), optional
        Variant tags to pair across in validation (default: the two tags of ``groups``).
    """

    def __init__(
        self,
        shrinkage="auto",
        eps: float = 1e-6,
        shrinkage_grid=(0.0, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0),
        holdout: float = 0.2,
        n_pairs: int = 20000,
        seed: int = 0,
        cross_groups=None,
    ):
        self.shrinkage = shrinkage
        self.eps = eps
        self.shrinkage_grid = shrinkage_grid
        self.holdout = holdout
        self.n_pairs = n_pairs
        self.seed = seed
        self.cross_groups = cross_groups

    def _fit(self, X, y, groups=None):
        n, d = X.shape
        self.validation_ = {}
        if self.shrinkage == "auto":
            grid = [_shrinkage_value(a) for a in as_grid(self.shrinkage_grid)]
            h = self._holdout(y, groups)
            Xf = np.asarray(X[h.fit_rows])
            mean = row_mean(Xf)
            s, U = np.linalg.eigh(weighted_gram(Xf, mean) / Xf.shape[0])
            s = np.clip(s, 0.0, None)
            Z = (np.asarray(X[h.val_rows], dtype=np.float64) - mean) @ U
            table = {}
            for a in grid:
                lam = (1.0 - a) * s + a * s.mean() + self.eps * s.mean()
                W = Z / np.sqrt(np.maximum(lam, 1e-300))  # rotation back by U leaves cosine unchanged
                table[a] = h.auroc(cosine_rows(W[h.i1], W[h.i2]))
            alpha = self._pick(table)
        elif self.shrinkage in ("ledoit-wolf", "oas"):
            alpha = _sklearn_shrinkage(X, row_mean(X), self.shrinkage)
        else:
            alpha = _shrinkage_value(self.shrinkage)
        self.shrinkage_ = float(alpha)
        self.mean_ = row_mean(X)
        C = weighted_gram(X, self.mean_) / n
        self.covariance_ = C
        s, U = np.linalg.eigh(C)
        s = np.clip(s, 0.0, None)
        lam = (1.0 - alpha) * s + alpha * s.mean() + self.eps * s.mean()
        self.components_ = (U / np.sqrt(np.maximum(lam, 1e-300))) @ U.T

    def describe(self) -> str:
        if not hasattr(self, "shrinkage_"):
            return ""
        how = f" ({self.shrinkage} estimate)" if self.shrinkage in ("ledoit-wolf", "oas") else ""
        return f"ZCA whitening, shrinkage={self.shrinkage_:.4g}{how}" + self._chosen_note()


# -- WCCN -----------------------------------------------------------------------------------


class WCCNCosine(_ChosenOnValidation):
    """Within-class covariance normalisation, then cosine.

    Centre on the train mean, then ``transform(x) = B^T (x - mean)`` with ``B B^T = inv(Sw_alpha)``
    (``B`` the Cholesky factor), ``Sw`` the within-class covariance and
    ``Sw_alpha = (1 - alpha) Sw + alpha tr(Sw)/d I``.

    Parameters
    ----------
    shrinkage : float in [0, 1] or "auto"
        ``alpha``; "auto" (default) chooses among ``shrinkage_grid`` on validation.
    within : {"auto", "all", "cross"}
        ``"all"``: WCCN's mean within-class covariance (the average of the identities'
        covariances, identities with 2+ rows). ``"cross"``: the covariance of differences
        between the two variants of ``groups`` (clean vs degraded) of one identity, which is
        the noise cross-variant test pairs see. ``"auto"`` (default): "cross" when
        ``fit(..., groups=...)`` names two variants, else "all".
    shrinkage_grid, holdout, n_pairs, seed, cross_groups :
        As in :class:`ZCACosine`.
    """

    def __init__(
        self,
        shrinkage="auto",
        within: str = "auto",
        shrinkage_grid=(0.0, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0),
        holdout: float = 0.2,
        n_pairs: int = 20000,
        seed: int = 0,
        cross_groups=None,
    ):
        self.shrinkage = shrinkage
        self.within = within
        self.shrinkage_grid = shrinkage_grid
        self.holdout = holdout
        self.n_pairs = n_pairs
        self.seed = seed
        self.cross_groups = cross_groups

    def _within(self, X, y, groups):
        kind, cg = resolve_within(self.within, groups, self.cross_groups)
        if kind == "all":
            return mean_class_covariance(X, y), "all"
        return within_covariance(X, y, within="cross", groups=groups, cross_groups=cg)

    def _fit(self, X, y, groups=None):
        self.validation_ = {}
        if self.shrinkage == "auto":
            grid = [_shrinkage_value(a) for a in as_grid(self.shrinkage_grid)]
            h = self._holdout(y, groups)
            Xf = np.asarray(X[h.fit_rows])
            gf = None if groups is None else np.asarray(groups)[h.fit_rows]
            Sw, _ = self._within(Xf, np.asarray(y)[h.fit_rows], gf)
            mean = row_mean(Xf)
            Z = np.asarray(X[h.val_rows], dtype=np.float64) - mean
            table = {}
            for a in grid:
                try:
                    W = Z @ _wccn_factor(shrink(Sw, a))
                except InputError:  # singular without enough shrinkage: not a candidate
                    continue
                table[a] = h.auroc(cosine_rows(W[h.i1], W[h.i2]))
            if not table:
                raise InputError("within-class covariance is singular for every shrinkage in shrinkage_grid")
            alpha = self._pick(table)
        else:
            alpha = _shrinkage_value(self.shrinkage)
        Sw, kind = self._within(X, y, groups)
        self.shrinkage_ = float(alpha)
        self.within_ = kind
        self.within_covariance_ = Sw
        self.mean_ = row_mean(X)
        self.components_ = _wccn_factor(shrink(Sw, alpha)).T

    def describe(self) -> str:
        if not hasattr(self, "shrinkage_"):
            return ""
        return f"WCCN ({self.within_} within-class covariance), shrinkage={self.shrinkage_:.4g}" + self._chosen_note()


def _wccn_factor(Sw: np.ndarray) -> np.ndarray:
    """Lower Cholesky factor ``B`` of ``inv(Sw)`` (so ``B B^T = inv(Sw)``)."""
    from scipy.linalg import cho_solve

    d = Sw.shape[0]
    msg = (
        "within-class covariance is singular (too few rows per identity for the width); "
        "use shrinkage > 0 (e.g. --param shrinkage=0.1)"
    )
    try:
        L = np.linalg.cholesky(Sw)
    except np.linalg.LinAlgError:
        raise InputError(msg) from None
    if np.min(np.diag(L)) ** 2 <= 1e-10 * max(np.max(np.diag(Sw)), 1e-300):
        raise InputError(msg)
    P = cho_solve((L, True), np.eye(d))
    return np.linalg.cholesky(0.5 * (P + P.T))


# -- LDA ------------------------------------------------------------------------------------


def lda_directions(S, Sw: np.ndarray, shrinkage: float = 0.0, k_max: int | None = None):
    """Discriminant directions of the scatter ``S`` (a :class:`~metricbench.learn._scatter.Scatter`)
    against the within-class covariance ``Sw``: solutions of ``Sb v = lambda Sw_alpha v`` with
    ``v^T Sw_alpha v = 1``, by decreasing ``lambda`` (scikit-learn's ``eigen`` solver).

    Returns ``(eigenvalues (k,), directions (d, k))``, ``k = min(d, C - 1, k_max)``.
    """
    from scipy.linalg import eigh

    d = Sw.shape[0]
    Sw_a = shrink(Sw, shrinkage)
    Sw_a = Sw_a + 1e-10 * max(np.trace(Sw_a) / d, 1e-300) * np.eye(d)
    evals, evecs = eigh(S.Sb, Sw_a)
    order = np.argsort(evals)[::-1]
    k = min(d, S.n_classes - 1, d if k_max is None else int(k_max))
    if k < 1:
        raise InputError("LDA needs at least 2 identities")
    return evals[order][:k], evecs[:, order][:, :k]


class LDACosine(_ChosenOnValidation):
    """Linear discriminant analysis to ``k`` dimensions, then cosine.

    ``transform(x) = V_k^T (x - mean)``, ``V_k`` the top-k solutions of
    ``Sb v = lambda Sw v`` normalised to ``v^T Sw v = 1`` (within-class whitened), exactly
    scikit-learn's ``LinearDiscriminantAnalysis(solver="eigen")`` directions, with centring.

    Parameters
    ----------
    n_components : int, "auto" or None
        ``k``; "auto" (default) chooses among ``n_components_grid`` (clipped to
        ``min(d, C - 1)``) on identity-disjoint validation; None keeps ``min(d, C - 1)``.
    shrinkage : float in [0, 1]
        Shrinkage of ``Sw`` towards ``tr(Sw)/d I`` (0 = none).
    within : {"auto", "all", "cross"}
        ``"all"``: pooled within-class covariance (scikit-learn's). ``"cross"``: the covariance of
        clean-vs-degraded differences of one identity (see
        :func:`metricbench.learn._scatter.within_covariance`); "auto" (default) picks "cross"
        when ``fit(..., groups=...)`` names two variants.
    n_components_grid : sequence of int
    holdout, n_pairs, seed, cross_groups :
        As in :class:`ZCACosine`.
    """

    def __init__(
        self,
        n_components="auto",
        shrinkage: float = 0.0,
        within: str = "auto",
        n_components_grid=(8, 16, 32, 64, 128),
        holdout: float = 0.2,
        n_pairs: int = 20000,
        seed: int = 0,
        cross_groups=None,
    ):
        self.n_components = n_components
        self.shrinkage = shrinkage
        self.within = within
        self.n_components_grid = n_components_grid
        self.holdout = holdout
        self.n_pairs = n_pairs
        self.seed = seed
        self.cross_groups = cross_groups

    def _directions(self, X, y, groups, k_max=None):
        S = scatter(X, y)
        kind, cg = resolve_within(self.within, groups, self.cross_groups)
        if kind == "all":
            Sw = S.Sw
        else:
            Sw, kind = within_covariance(X, y, within="cross", groups=groups, cross_groups=cg)
        evals, V = lda_directions(S, Sw, _shrinkage_value(self.shrinkage), k_max)
        return S.mean, evals, V, kind

    def _fit(self, X, y, groups=None):
        d = X.shape[1]
        self.validation_ = {}
        if self.n_components == "auto":
            h = self._holdout(y, groups)
            gf = None if groups is None else np.asarray(groups)[h.fit_rows]
            mean, _, V, _ = self._directions(np.asarray(X[h.fit_rows]), np.asarray(y)[h.fit_rows], gf)
            Z = (np.asarray(X[h.val_rows], dtype=np.float64) - mean) @ V
            table = {}
            for k in int_grid(self.n_components_grid, V.shape[1]):
                table[k] = h.auroc(cosine_rows(Z[h.i1, :k], Z[h.i2, :k]))
            k = int(self._pick(table))
        elif self.n_components is None:
            k = None
        else:
            k = int(self.n_components)
            if not 1 <= k <= d:
                raise InputError(f"n_components must be between 1 and {d}, got {k}")
        mean, evals, V, kind = self._directions(X, y, groups, k)
        self.n_components_ = int(V.shape[1])
        self.within_ = kind
        self.mean_ = mean
        self.eigenvalues_ = evals
        self.components_ = np.ascontiguousarray(V.T)

    def describe(self) -> str:
        if not hasattr(self, "n_components_"):
            return ""
        return (
            f"LDA to k={self.n_components_} ({self.within_} within-class covariance, "
            f"shrinkage={float(self.shrinkage):g})" + self._chosen_note()
        )


__all__ = ["LDACosine", "WCCNCosine", "ZCACosine", "lda_directions"]
