"""Linear maps of classical verification, each followed by cosine: ZCA, WCCN, LDA.

* ``zca-cosine``: ZCA whitening ``W = U diag(1 / sqrt(s + eps)) U^T`` of the (shrunk) train
  covariance, then cosine.
* ``wccn-cosine``: within-class covariance normalisation (Hatch et al., 2006): centre, then
  whiten by the (shrunk) within-class covariance, then cosine.
* ``lda-cosine``: linear discriminant analysis to ``k`` dimensions, then cosine.

All three are fitted in closed form from :class:`~metricbench.learn.stats.ScatterStats` (one
pass over the rows). Whitening never amplifies a covariance's null space: directions beyond
its numerical rank are dropped (``describe()`` says so). ``get_metric`` (and the CLI) sets the
shrinkage (ZCA, WCCN) or ``k`` (LDA) to ``"auto"``: a
:class:`~metricbench.model_selection.MetricSearchCV` chooses it on identity-disjoint pairs.
"""

from __future__ import annotations

import numpy as np

from metricbench.learn import _constraints as dom
from metricbench.errors import InputError, ParameterError
from metricbench.learn.base import LinearMetric, StatsFitted, used_rows
from metricbench.learn.stats import (RTOL_FLOAT64, eigh_desc, numerical_rank, one_thread, resolve_within, shrink,
                                     shrinkage_value, whitener)
from metricbench.model_selection._scorer import cosine_rows, pair_auroc


def _rank_note(r: int, d: int, what: str) -> str:
    return f", cut at the {what}'s numerical rank {r} of {d}" if r < d else ""


# -- ZCA ------------------------------------------------------------------------------------


def _sklearn_shrinkage(X, mean, kind: str) -> float:
    """Ledoit-Wolf or OAS shrinkage intensity of the covariance of ``X`` (scikit-learn)."""
    from sklearn.covariance import OAS, ledoit_wolf_shrinkage

    Xc = np.asarray(X, dtype=np.float64) - mean
    if kind == "ledoit-wolf":
        return float(ledoit_wolf_shrinkage(Xc, assume_centered=True))
    return float(OAS(assume_centered=True).fit(Xc).shrinkage_)


class ZCACosine(StatsFitted, LinearMetric):
    """ZCA whitening of the train covariance, then cosine.

    ``transform(x) = W (x - mean)`` with ``W = U_r diag(1 / sqrt(s_alpha + eps)) U_r^T``, where
    ``C = U diag(s) U^T`` is the train covariance (``U_r``: its ``r`` directions above the
    numerical rank) and ``s_alpha = (1 - alpha) s + alpha mean(s)`` its eigenvalues shrunk
    towards their mean. ``alpha = 0`` is full whitening, ``alpha = 1`` centring only.

    Parameters
    ----------
    shrinkage : float in [0, 1], "ledoit-wolf" or "oas"
        ``alpha`` (default 0.1); "ledoit-wolf" / "oas" take scikit-learn's estimate of it.
    eps : float
        Added to each eigenvalue, relative to their mean.

    Attributes
    ----------
    shrinkage_ : float
    rank_ : int
        Numerical rank of the train covariance.
    covariance_ : ndarray of shape (n_features, n_features)
    components_ : ndarray of shape (n_features, n_features)
    mean_ : ndarray of shape (n_features,)

    References
    ----------
    Kessy, Lewin & Strimmer, "Optimal whitening and decorrelation", 2018.
    """

    auto_grid = {"shrinkage": (0.0, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0)}

    #: domain of every parameter (scikit-learn's form, checked by check_params at fit)
    _parameter_constraints: dict = {
        "shrinkage": [dom.UNIT, dom.StrOptions({"ledoit-wolf", "oas"})],
        "eps": [dom.NONNEG_REAL],
    }

    def __init__(self, shrinkage=0.1, eps: float = 1e-6):
        self.shrinkage = shrinkage
        self.eps = eps

    def _check_params(self):
        if self.shrinkage not in ("ledoit-wolf", "oas"):
            shrinkage_value(self.shrinkage)
        if not np.isfinite(float(self.eps)) or float(self.eps) < 0:
            raise InputError(f"eps must be a number >= 0, got {self.eps!r}")

    def _stats_only(self):
        if self.shrinkage in ("ledoit-wolf", "oas"):
            return f"shrinkage={self.shrinkage!r} is estimated from rows"
        return None

    def _fit(self, X, y, groups=None):
        self._check_params()
        stats = self.gather_stats(X, y, groups)
        alpha = None
        if self.shrinkage in ("ledoit-wolf", "oas"):
            alpha = _sklearn_shrinkage(X, stats.mean, self.shrinkage)
        self._fit_stats(stats, alpha)

    def _fit_stats(self, stats, alpha=None):
        if alpha is None:
            if self.shrinkage in ("ledoit-wolf", "oas"):
                raise InputError(f"shrinkage={self.shrinkage!r} is estimated from rows: use fit(X, y)")
            alpha = shrinkage_value(self.shrinkage)
        s, U = stats.total_eigh()
        r = stats.rank(s)
        if r < 1:
            raise InputError("the train covariance is zero: nothing to whiten")
        self.shrinkage_ = float(alpha)
        self.rank_ = int(r)
        self.mean_ = stats.mean
        self.covariance_ = stats.total
        lam = self._lam(s[:r], alpha)
        self.components_ = (U[:, :r] / np.sqrt(lam)) @ U[:, :r].T

    def _lam(self, s, alpha):
        lam = (1.0 - alpha) * s + alpha * s.mean() + float(self.eps) * s.mean()
        return np.maximum(lam, 1e-300)

    def search_scores(self, stats, X, index1, index2, same, candidates):
        """Every shrinkage from one rotation of the held-out rows (the rotation back by ``U``
        leaves cosine unchanged)."""
        s, U = stats.total_eigh()
        r = stats.rank(s)
        Xu, j1, j2 = used_rows(X, index1, index2)
        Z = (Xu - stats.mean) @ U[:, :r]
        out = np.empty(len(candidates))
        for j, c in enumerate(candidates):
            W = Z / np.sqrt(self._lam(s[:r], shrinkage_value(c.get("shrinkage", self.shrinkage))))
            out[j] = pair_auroc(same, cosine_rows(W[j1], W[j2]))
        return out

    def describe(self) -> str:
        if not hasattr(self, "shrinkage_"):
            return ""
        how = f" ({self.shrinkage} estimate)" if self.shrinkage in ("ledoit-wolf", "oas") else ""
        return (f"ZCA whitening, shrinkage={self.shrinkage_:.4g}{how}"
                + _rank_note(self.rank_, self.n_features_in_, "train covariance") + self._selection_note())


# -- WCCN -----------------------------------------------------------------------------------


class WCCNCosine(StatsFitted, LinearMetric):
    """Within-class covariance normalisation, then cosine.

    Centre on the train mean, then ``transform(x) = diag(w)^(-1/2) V^T (x - mean)`` with
    ``Sw_alpha = V diag(w) V^T``, ``Sw`` the within-class covariance and
    ``Sw_alpha = (1 - alpha) Sw + alpha tr(Sw)/d I`` (the same cosine as Hatch's
    ``B = chol(inv(Sw_alpha))``; directions beyond ``Sw_alpha``'s numerical rank are dropped).

    Parameters
    ----------
    shrinkage : float in [0, 1]
        ``alpha`` (default 0.1).
    within : {"auto", "all", "cross"}
        ``"all"``: WCCN's mean within-class covariance (the average of the identities'
        covariances, identities with 2+ rows). ``"cross"``: the covariance of differences
        between the two variants (clean vs degraded) of one identity, the noise cross-variant
        test pairs see. ``"auto"`` (default): "cross" when ``fit(..., variants=...)`` names two
        variants, else "all".
    cross_groups : (str, str), optional
        The two variant tags (default: those of ``variants``).

    References
    ----------
    Hatch, Kajarekar & Stolcke, "Within-class covariance normalization for SVM-based
    speaker recognition", Interspeech 2006.
    """

    auto_grid = {"shrinkage": (0.0, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0)}

    #: domain of every parameter (scikit-learn's form, checked by check_params at fit)
    _parameter_constraints: dict = {
        "shrinkage": [dom.UNIT],
        "within": dom.WITHIN,
        "cross_groups": dom.CROSS_GROUPS,
    }

    def __init__(self, shrinkage=0.1, within: str = "auto", cross_groups=None):
        self.shrinkage = shrinkage
        self.within = within
        self.cross_groups = cross_groups

    def _check_params(self):
        shrinkage_value(self.shrinkage)
        if self.within not in ("auto", "all", "cross"):
            raise InputError(f"within must be 'auto', 'all' or 'cross', got {self.within!r}")

    def _stats_request(self, variants):
        kind, cg = resolve_within(self.within, variants, self.cross_groups)
        return {"wccn": True} if kind == "all" else {"cross": cg}

    def _within(self, stats):
        kind = "wccn" if stats.variants is None else "cross"
        Sw = stats.memo(("within", kind), lambda: stats.within_kind(kind))
        return Sw, ("all" if kind == "wccn" else f"cross {stats.variants[0]}/{stats.variants[1]}")

    def _eig(self, stats):
        Sw, _ = self._within(stats)
        return stats.memo(("within_eigh", stats.variants is None), lambda: eigh_desc(Sw))

    def _scaled(self, stats, alpha):
        """Eigenvectors and shrunk eigenvalues of ``Sw_alpha`` above its numerical rank."""
        Sw, _ = self._within(stats)
        w, V = self._eig(stats)
        w_a = (1.0 - alpha) * np.clip(w, 0.0, None) + alpha * np.trace(Sw) / Sw.shape[0]
        r = numerical_rank(w_a, rtol=stats.rtol)
        if r < 1:
            raise InputError("within-class covariance is zero: nothing to normalise")
        return V[:, :r], w_a[:r], r

    def _fit_stats(self, stats):
        alpha = shrinkage_value(self.shrinkage)
        Sw, kind = self._within(stats)
        V, w, r = self._scaled(stats, alpha)
        self.shrinkage_ = alpha
        self.within_ = kind
        self.within_covariance_ = Sw
        self.rank_ = int(r)
        self.mean_ = stats.mean
        self.components_ = np.ascontiguousarray((V / np.sqrt(w)).T)

    def search_scores(self, stats, X, index1, index2, same, candidates):
        w, V = self._eig(stats)
        Xu, j1, j2 = used_rows(X, index1, index2)
        Z = (Xu - stats.mean) @ V
        out = np.empty(len(candidates))
        for j, c in enumerate(candidates):
            _, w_a, r = self._scaled(stats, shrinkage_value(c.get("shrinkage", self.shrinkage)))
            W = Z[:, :r] / np.sqrt(w_a)
            out[j] = pair_auroc(same, cosine_rows(W[j1], W[j2]))
        return out

    def describe(self) -> str:
        if not hasattr(self, "shrinkage_"):
            return ""
        return (f"WCCN ({self.within_} within-class covariance), shrinkage={self.shrinkage_:.4g}"
                + _rank_note(self.rank_, self.n_features_in_, "within-class covariance") + self._selection_note())


# -- LDA ------------------------------------------------------------------------------------


@one_thread
def lda_directions(Sb: np.ndarray, Sw: np.ndarray, n_classes: int, shrinkage: float = 0.0,
                   k_max: int | None = None, rtol: float = RTOL_FLOAT64):
    """The one LDA: discriminant directions of the between-class scatter ``Sb`` against the
    within-class covariance ``Sw``.

    Solutions of ``Sb v = lambda Sw_alpha v`` with ``v^T Sw_alpha v = 1``, by decreasing
    ``lambda`` (scikit-learn's ``eigen`` solver), ``Sw_alpha = (1 - alpha) Sw + alpha tr(Sw)/d I``.
    The problem is solved on ``Sw_alpha``'s numerical range (eigenvalues above ``rtol`` of the
    largest): ``Sw_alpha`` is whitened there and ``Sb`` diagonalised in the whitened space, the
    same directions as scikit-learn's ``scipy.linalg.eigh(Sb, Sw)`` when ``Sw_alpha`` has full
    rank, with no ridge added; a null space is dropped, never amplified.

    Returns
    -------
    eigenvalues : ndarray of shape (k,)
    directions : ndarray of shape (n_features, k)
        ``k = min(d, n_classes - 1, rank, k_max)``.

    Raises
    ------
    InputError
        Fewer than 2 classes.

    References
    ----------
    Duda, Hart & Stork, "Pattern Classification", 2nd ed., 2001, section 3.8.3 (the solver of
    scikit-learn's ``LinearDiscriminantAnalysis(solver="eigen")``).
    """
    d = Sw.shape[0]
    Sw_a = shrink(Sw, shrinkage)
    k = min(d, int(n_classes) - 1, d if k_max is None else int(k_max))
    if k < 1:
        raise InputError("LDA needs at least 2 identities")
    T, _ = whitener(Sw_a, rtol)
    Bt = T.T @ Sb @ T
    evals, F = np.linalg.eigh(0.5 * (Bt + Bt.T))
    evecs = T @ F
    k = min(k, T.shape[1])
    order = np.argsort(evals)[::-1][:k]
    return evals[order], evecs[:, order]


class LDACosine(StatsFitted, LinearMetric):
    """Linear discriminant analysis to ``k`` dimensions, then cosine.

    ``transform(x) = V_k^T (x - mean)``, ``V_k`` the top-k solutions of ``Sb v = lambda Sw v``
    normalised to ``v^T Sw v = 1`` (within-class whitened): scikit-learn's
    ``LinearDiscriminantAnalysis(solver="eigen")`` directions, with centring.

    Parameters
    ----------
    n_components : int or None
        ``k``; None (default) keeps ``min(d, C - 1)``; larger values are clipped to it.
    shrinkage : float in [0, 1]
        Shrinkage of ``Sw`` towards ``tr(Sw)/d I`` (0 = none, default).
    within : {"auto", "all", "cross"}
        ``"all"``: pooled within-class covariance (scikit-learn's). ``"cross"``: the covariance
        of clean-vs-degraded differences of one identity; "auto" (default) picks "cross" when
        ``fit(..., variants=...)`` names two variants.
    cross_groups : (str, str), optional

    References
    ----------
    Fisher, "The use of multiple measurements in taxonomic problems", 1936; scikit-learn's
    ``LinearDiscriminantAnalysis``.
    """

    auto_grid = {"n_components": (8, 16, 32, 64, 128)}

    #: domain of every parameter (scikit-learn's form, checked by check_params at fit)
    _parameter_constraints: dict = {
        "n_components": [dom.POS_INT, None],
        "shrinkage": [dom.UNIT],
        "within": dom.WITHIN,
        "cross_groups": dom.CROSS_GROUPS,
    }

    def __init__(self, n_components=None, shrinkage=0.0, within: str = "auto", cross_groups=None):
        self.n_components = n_components
        self.shrinkage = shrinkage
        self.within = within
        self.cross_groups = cross_groups

    def _check_params(self):
        shrinkage_value(self.shrinkage)
        k = self.n_components
        if k is not None and (isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1):
            raise InputError(f"n_components must be an integer >= 1 or None, got {k!r}")
        if self.within not in ("auto", "all", "cross"):
            raise InputError(f"within must be 'auto', 'all' or 'cross', got {self.within!r}")

    def _feasible_params(self, params, n_features, n_classes):
        if params.get("n_components") is not None:
            params["n_components"] = max(1, min(int(params["n_components"]), n_features, n_classes - 1))
        return params

    def _stats_request(self, variants):
        kind, cg = resolve_within(self.within, variants, self.cross_groups)
        return {} if kind == "all" else {"cross": cg}

    def _directions(self, stats, k_max=None):
        a = shrinkage_value(self.shrinkage)
        kind = "all" if stats.variants is None else "cross"

        def f():
            Sw = stats.within if kind == "all" else stats.cross_within()
            return lda_directions(stats.between, Sw, stats.n_classes, a, None, stats.rtol)

        evals, V = stats.memo(("lda", kind, a), f)
        k = V.shape[1] if k_max is None else min(int(k_max), V.shape[1])
        within = "all" if kind == "all" else f"cross {stats.variants[0]}/{stats.variants[1]}"
        return evals[:k], V[:, :k], within

    def _fit_stats(self, stats):
        d = stats.n_features
        if self.n_components is not None and int(self.n_components) > d:
            raise ParameterError(
                f"parameter 'n_components' of {self.name} must be between 1 and {d} (the width of the train rows); got {self.n_components}", param="n_components")
        evals, V, kind = self._directions(stats, self.n_components)
        self.n_components_ = int(V.shape[1])
        self.within_ = kind
        self.mean_ = stats.mean
        self.eigenvalues_ = evals
        self.components_ = np.ascontiguousarray(V.T)

    def search_scores(self, stats, X, index1, index2, same, candidates):
        """Every ``k`` from one projection of the held-out rows per setting of the other
        parameters (the directions are nested in ``k``)."""
        from sklearn.base import clone

        Xu, j1, j2 = used_rows(X, index1, index2)
        out = np.empty(len(candidates))
        projected: dict = {}
        for j, c in enumerate(candidates):
            m = clone(self).set_params(**c)
            key = repr(sorted((p, v) for p, v in c.items() if p != "n_components"))
            if key not in projected:
                _, V, _ = m._directions(stats)
                projected[key] = (Xu - stats.mean) @ V
            Z = projected[key]
            k = Z.shape[1] if m.n_components is None else min(int(m.n_components), Z.shape[1])
            out[j] = pair_auroc(same, cosine_rows(Z[j1, :k], Z[j2, :k]))
        return out

    def describe(self) -> str:
        if not hasattr(self, "n_components_"):
            return ""
        return (
            f"LDA to k={self.n_components_} ({self.within_} within-class covariance, "
            f"shrinkage={float(self.shrinkage):g})" + self._selection_note()
        )


__all__ = ["LDACosine", "WCCNCosine", "ZCACosine", "lda_directions"]
