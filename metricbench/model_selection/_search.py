"""Search over candidate settings on identity-disjoint pairs, sharing statistics across candidates.

:class:`MetricSearchCV` follows scikit-learn's search protocol (``best_params_``,
``best_score_``, ``best_index_``, ``cv_results_``, ``best_estimator_``, ``refit``) and is itself
a metric (``pair_distance``, ``pair_score``, ``transform``, ``describe``, ``save``), so it can
stand wherever a metric does: ``get_metric(name, n_components="auto")`` returns one.

A metric fitted in closed form from :class:`~metricbench.learn.stats.ScatterStats` (it has
``fit_from_stats``) is searched without refitting from rows: the statistics of the fitting
identities are gathered once per split, every candidate is fitted from them (sharing their
eigendecompositions), and the final fit adds the held-out identities' statistics to them
instead of reading the train set again. Other metrics are cloned and fitted per candidate,
as :class:`~sklearn.model_selection.GridSearchCV` does.

A sampler that proposes settings one at a time (optuna in ``metricbench auto``) drives the same
machinery: :func:`draw_splits` once, then :meth:`MetricSearchCV.evaluate_candidate` per
proposal (its fits by :meth:`MetricSearchCV.fit_candidate`, with a shared cache of statistics
and row copies).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass

import numpy as np
from sklearn.base import BaseEstimator, MetaEstimatorMixin, clone
from sklearn.model_selection import ParameterGrid
from sklearn.utils.validation import check_is_fitted

from sklearn.utils._param_validation import HasMethods

from metricbench.errors import InputError, NotFittedError
from metricbench import _constraints as dom
from metricbench.model_selection._scorer import pair_auroc
from metricbench.model_selection._split import HeldOutPairs, IdentityPairSplit


def _candidates(estimator, param_grid, n_features: int, n_classes: int) -> list[dict]:
    """The grid's settings, made feasible for this data by the estimator and deduplicated."""
    out, seen = [], set()
    norm = getattr(estimator, "_feasible_params", None)
    for p in ParameterGrid(param_grid):
        q = dict(norm(dict(p), n_features, n_classes)) if norm else dict(p)
        key = tuple(sorted((k, repr(v)) for k, v in q.items()))
        if key not in seen:
            seen.add(key)
            out.append(q)
    if not out:
        raise InputError("the search has no candidate settings")
    return out


@dataclass
class SplitScore:
    """One candidate setting on one split (what :meth:`MetricSearchCV.evaluate_candidate` returns).

    Attributes
    ----------
    metric : metric
        The candidate fitted on the split's fitting rows.
    score : ndarray of shape (n_pairs,)
        Its scores of the split's held-out pairs (larger = more alike), in the split's order.
    auroc : float
        :func:`~metricbench.model_selection.pair_auroc` of those scores.
    fit_seconds, score_seconds : float
    """

    metric: object
    score: np.ndarray
    auroc: float
    fit_seconds: float
    score_seconds: float


class MetricSearchCV(MetaEstimatorMixin, BaseEstimator):
    """Choose a metric's settings on identity-disjoint held-out pairs, then refit.

    Parameters
    ----------
    estimator : metric
        A metricbench metric (any estimator with ``pair_score`` works; one with
        ``fit_from_stats`` is searched on shared statistics).
    param_grid : dict or list of dicts
        Candidate settings (scikit-learn's ``ParameterGrid``). Values the data make
        infeasible (a dimension above the width) are clipped by the metric.
    cv : IdentityPairSplit, optional
        The splitter; default ``IdentityPairSplit(test_size=test_size, n_pairs=n_pairs,
        random_state=random_state)`` with the ``variants`` / ``images`` given to ``fit``.
    test_size : float
        Share of identities held out.
    n_pairs : int
        Held-out pairs (half same identity).
    refit : bool
        Refit the best setting on all rows (default); otherwise only select.
    random_state : int
        Seed of the identity split and the pairs.

    Attributes
    ----------
    best_params_, best_score_, best_index_ :
        The chosen setting and its inner-selection AUROC (the mean over splits of the AUROC
        on held-out pairs; it picked the setting, so it is optimistic: an honest estimate of
        the chosen metric needs identities the search never saw).
    cv_results_ : dict of arrays
        ``params``, ``param_<name>``, ``split<i>_test_score``, ``mean_test_score``,
        ``std_test_score``, ``rank_test_score``, ``mean_fit_time``.
    best_estimator_ : metric
        The refitted metric (``refit=True``).
    selection_ : dict
        What was chosen, on how many held-out identities and pairs, with which seed.
    """

    learns = True

    #: domain of every parameter (scikit-learn's form), checked by :meth:`check_params` when
    #: :func:`~metricbench.registry.get_metric` builds a search and again at ``fit``
    _parameter_constraints: dict = {
        "estimator": [HasMethods(["fit", "pair_score"])],
        "param_grid": [dict, list],
        "cv": [HasMethods(["pairs", "split"]), None],
        "test_size": [dom.reals(0, 1, closed="neither")],
        "n_pairs": [dom.ints(2)],
        "refit": dom.BOOL,
        "random_state": dom.SEED,
    }

    def __init__(self, estimator, param_grid, *, cv=None, test_size: float = 0.2, n_pairs: int = 20000,
                 refit: bool = True, random_state=0):
        self.estimator = estimator
        self.param_grid = param_grid
        self.cv = cv
        self.test_size = test_size
        self.n_pairs = n_pairs
        self.refit = refit
        self.random_state = random_state

    # -- the metric's name and scikit-learn plumbing --------------------------------------
    @property
    def name(self):
        return getattr(self.estimator, "name", None)

    @name.setter
    def name(self, value):
        if value is not None and value != getattr(self.estimator, "name", None):
            self.estimator.name = value

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        tags.input_tags.allow_nan = False
        return tags

    def check_params(self):
        """Check the search's own parameters, its splitter's and its estimator's, without data.

        Returns
        -------
        self

        Raises
        ------
        ParameterError
            One line naming the parameter, the valid domain and the value given.
        """
        dom.check_table(self, f"the search over {self.name or type(self.estimator).__name__}")
        if isinstance(self.cv, IdentityPairSplit):
            self.cv.check_params()
        if hasattr(self.estimator, "check_params"):
            self.estimator.check_params()
        return self

    def _splitter(self):
        if self.cv is not None:
            return self.cv
        return IdentityPairSplit(test_size=self.test_size, n_pairs=self.n_pairs, random_state=self.random_state)

    # -- fitting -----------------------------------------------------------------------------
    def fit(self, X, y, *, variants=None, groups=None, images=None):
        """Search on identity-disjoint pairs of ``X``'s rows, then refit the best setting.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
            Identity labels.
        variants : array-like of shape (n_samples,), optional
            Variant tag per row (``groups=`` is its older name): pairs join two variants, and
            the metric receives them.
        images : array-like of shape (n_samples,), optional
            Source image per row: held-out same pairs never join an image with its own copy.

        Returns
        -------
        self
        """
        self.check_params()
        if variants is None:
            variants = groups
        elif groups is not None:
            raise InputError("give the variant tags as variants= or groups=, not both")
        est = self.estimator
        if hasattr(est, "_validate_X"):  # a metricbench metric: its own input checks
            X, y = est._validate_X(X, y=y, reset=True)
            est.__dict__.pop("n_features_in_", None)
        else:
            X, y = np.asarray(X), np.asarray(y)
        return self._fit_rows(X, y, None, variants, images, {})

    def _fit_rows(self, X, y, rows, variants, images, cache: dict, splits=None):
        """The search on rows ``rows`` of ``X`` (all if None).

        ``cache`` maps row sets to their statistics (shared with other searches on the same
        ``X``, see :func:`validate_and_fit`); ``splits`` (``HeldOutPairs`` in ``X``'s row
        indices) replaces the splitter's.
        """
        y = np.asarray(y)
        if variants is not None:
            variants = np.asarray(variants)
        est = self.estimator
        d = X.shape[1]
        sub = np.arange(X.shape[0]) if rows is None else np.asarray(rows, dtype=np.int64)
        self.n_features_in_ = int(d)
        cands = _candidates(est, self.param_grid, d, int(np.unique(y[sub]).size))
        if splits is None:
            splitter = self._splitter()
            splits = self.draw_splits(y, rows=sub, variants=variants, images=images)
            rs = getattr(splitter, "random_state", self.random_state)
            ts = getattr(splitter, "test_size", self.test_size)
        else:
            rs, ts = splits[0].random_state, None
        n_splits = len(splits)
        scores = np.full((n_splits, len(cands)), np.nan)
        times = np.zeros((n_splits, len(cands)))
        use_stats = _from_stats(est)  # a setting that needs the rows (PLDA with length_norm) is fitted per candidate
        for s, sp in enumerate(splits):
            t0 = time.perf_counter()
            if use_stats:
                stats = block_stats(est, X, y, variants, sp.fit_rows, cache)
                scores[s] = est.search_scores(stats, X, sp.index1, sp.index2, sp.same, cands)
            else:
                for j, c in enumerate(cands):
                    m = self.fit_candidate(X, y, c, sp, variants=variants)
                    scores[s, j] = pair_auroc(sp.same, m.pair_score(X, sp.index1, sp.index2))
            times[s] = (time.perf_counter() - t0) / len(cands)
        mean = np.nanmean(scores, axis=0) if np.isfinite(scores).any() else scores[0]
        if not np.isfinite(mean).any():
            raise InputError("no candidate setting could be scored on the held-out pairs")
        filled = np.where(np.isfinite(mean), mean, -np.inf)
        best = int(np.flatnonzero(filled == filled.max())[0])  # the first of equals
        order = np.argsort(-filled, kind="stable")
        rank = np.empty(len(cands), dtype=np.int32)
        rank[order] = np.arange(1, len(cands) + 1)
        res = {"params": cands}
        for key in sorted({k for c in cands for k in c}):
            res[f"param_{key}"] = np.ma.masked_array([c.get(key) for c in cands], dtype=object)
        for s in range(n_splits):
            res[f"split{s}_test_score"] = scores[s]
        res["mean_test_score"] = mean
        res["std_test_score"] = np.nanstd(scores, axis=0) if n_splits > 1 else np.zeros(len(cands))
        res["rank_test_score"] = rank
        res["mean_fit_time"] = times.mean(0)
        self.cv_results_ = res
        self.best_index_ = best
        self.best_params_ = dict(cands[best])
        self.best_score_ = float(mean[best])
        sp0 = splits[0]
        self.selection_ = {
            "chosen": {k: _plain(v) for k, v in self.best_params_.items()},
            "inner_selection_auroc": self.best_score_,
            "n_candidates": len(cands),
            "n_splits": int(n_splits),
            "n_pairs": int(sp0.same.size),
            "n_held_out_identities": int(np.unique(y[sp0.val_rows]).size),
            "n_fit_identities": int(np.unique(y[sp0.fit_rows]).size),
            "cross": list(sp0.cross) if sp0.cross else None,
            "random_state": _plain(rs),
            "test_size": None if ts is None else float(ts),
        }
        if self.refit:
            m = clone(est).set_params(**self.best_params_)
            if use_stats and n_splits == 1:
                # the fitting identities' statistics plus the held-out ones': no second pass
                m.fit_from_stats(block_stats(est, X, y, variants, sub, cache, parts=(sp0.fit_rows, sp0.val_rows)))
            else:
                m.fit(np.asarray(X[sub]), y[sub], **({} if variants is None else {"variants": variants[sub]}))
            m.selection_ = dict(self.selection_)
            self.best_estimator_ = m
        return self

    # -- one candidate at a time (what a sampler that proposes settings drives) --------------
    def draw_splits(self, y, *, rows=None, variants=None, images=None) -> list:
        """The splitter's identity-disjoint splits of rows ``rows`` (all if None), drawn once
        (:func:`draw_splits` with this search's splitter)."""
        return draw_splits(self._splitter(), y, rows=rows, variants=variants, images=images)

    def fit_candidate(self, X, y, params: dict, split, *, variants=None, cache: dict | None = None,
                      rows=None):
        """A clone of the estimator with ``params`` set, fitted on ``split.fit_rows`` of ``X``.

        A metric with ``fit_from_stats`` is fitted from the statistics of those rows, taken
        from ``cache`` when another candidate (of any setting, or another search sharing
        ``cache``) already gathered them: one pass over the rows per split, whatever the
        number of candidates. Other metrics are fitted on the rows (their copy kept in
        ``cache``, so later candidates do not gather them again).

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        params : dict
            The candidate setting (the estimator's parameters).
        split : HeldOutPairs
            From :meth:`draw_splits` (or anything with ``fit_rows`` and ``val_rows``).
        variants : array-like of shape (n_samples,), optional
            Variant tag per row; the metric receives the fitting rows' tags.
        cache : dict, optional
            Statistics and row copies shared across candidates (see :func:`block_stats`).
        rows : array-like of int, optional
            Fit on these rows instead of ``split.fit_rows``; they must be the union of
            ``split.fit_rows`` and ``split.val_rows`` (a refit on the whole search part: the
            statistics of the held-out part are added, the fitting part's are reused).

        Returns
        -------
        metric
            The fitted clone.
        """
        cache = {} if cache is None else cache
        m = clone(self.estimator).set_params(**params)
        fit_rows = split.fit_rows if rows is None else np.asarray(rows, dtype=np.int64)
        if _from_stats(m):
            parts = None if rows is None else (split.fit_rows, split.val_rows)
            return m.fit_from_stats(block_stats(m, X, y, variants, fit_rows, cache, parts=parts))
        Xf = rows_of(X, fit_rows, cache)
        if not getattr(m, "learns", True):
            return m.fit(Xf[:2], np.asarray(y)[fit_rows[:2]])  # nothing to learn: the width only
        vf = None if variants is None else np.asarray(variants)[fit_rows]
        return m.fit(Xf, np.asarray(y)[fit_rows], **({} if vf is None else {"variants": vf}))

    def evaluate_candidate(self, X, y, params: dict, splits, *, variants=None, cache: dict | None = None,
                           callback=None) -> list:
        """Fit one candidate setting on each split and score its held-out pairs.

        What a sampler that proposes settings one at a time (optuna, in ``metricbench auto``)
        drives: the same fitting (:meth:`fit_candidate`, shared statistics) and the same
        scorer (:func:`~metricbench.model_selection.pair_auroc`) as :meth:`fit`.

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        params : dict
            The candidate setting.
        splits : list of HeldOutPairs
            From :meth:`draw_splits`, shared by every candidate.
        variants : array-like of shape (n_samples,), optional
        cache : dict, optional
            Shared statistics and row copies (see :meth:`fit_candidate`).
        callback : callable, optional
            ``callback(i, results)`` after split ``i``; a true return value stops (a pruner's
            verdict), leaving the remaining splits unscored.

        Returns
        -------
        list of SplitScore
            One per split scored, in order.
        """
        cache = {} if cache is None else cache
        out = []
        for i, sp in enumerate(splits):
            t0 = time.perf_counter()
            m = self.fit_candidate(X, y, params, sp, variants=variants, cache=cache)
            t1 = time.perf_counter()
            Xv = rows_of(X, sp.val_rows, cache)
            score = np.asarray(m.pair_score(Xv, sp.val_index1, sp.val_index2), dtype=np.float64)
            out.append(SplitScore(m, score, pair_auroc(sp.same, score), t1 - t0, time.perf_counter() - t1))
            if callback is not None and callback(i, out):
                break
        return out

    # -- the fitted metric -------------------------------------------------------------------
    def _best(self):
        try:
            check_is_fitted(self, "best_estimator_")
        except Exception:
            raise NotFittedError(
                f"{type(self.estimator).__name__} search is not fitted yet: call fit(X, y) before scoring pairs"
            ) from None
        return self.best_estimator_

    def pair_distance(self, X, index1=None, index2=None, *, Y=None) -> np.ndarray:
        """The refitted metric's distances (see :meth:`BaseMetric.pair_distance`)."""
        return self._best().pair_distance(X, index1, index2, Y=Y)

    def pair_score(self, X, index1=None, index2=None, *, Y=None) -> np.ndarray:
        return self._best().pair_score(X, index1, index2, Y=Y)

    def transform(self, X):
        return self._best().transform(X)

    def get_mahalanobis_matrix(self):
        return self._best().get_mahalanobis_matrix()

    @property
    def components_(self):
        return self._best().components_

    def check_is_fitted(self) -> None:
        self._best()

    def fixed_form(self):
        """The refitted metric's fixed form (see :meth:`metricbench.learn.base.BaseMetric.fixed_form`):
        exact search ranks a search over a linear metric with the distance kernels, as it ranks
        that metric."""
        form = getattr(self._best(), "fixed_form", None)
        return form() if callable(form) else None

    def describe(self) -> str:
        """The refitted metric's description, with what was chosen and how."""
        if not hasattr(self, "best_estimator_"):
            return ""
        return self.best_estimator_.describe()

    def save(self, path):
        """Save the refitted metric (with its ``selection_`` record); loads as that metric."""
        return self._best().save(path)


def _digest(rows) -> str:
    r = np.sort(np.asarray(rows, dtype=np.int64))
    return hashlib.blake2b(r.tobytes(), digest_size=16).hexdigest()


def block_stats(est, X, y, variants, rows, cache: dict, parts=None):
    """Statistics of ``X[rows]`` for ``est`` (its ``gather_stats`` request), from ``cache`` when
    a search already gathered them; ``parts`` (disjoint row sets whose union is ``rows``)
    are gathered (or found) separately and added. ``cache["engine"]``, when set, is the
    engine (:mod:`metricbench.engines`) that gathers them."""
    req = est._stats_request(None if variants is None else np.asarray(variants)[rows])
    key = (repr(sorted(req.items())), _digest(rows))
    if key in cache:
        return cache[key]
    if parts is not None:
        st = None
        for p in parts:
            b = block_stats(est, X, y, variants, p, cache)
            st = b if st is None else st + b
    else:
        engine = cache.get("engine")  # an engine (Dask) gathers them by map-reduce
        st = (est.gather_stats(X, y, variants, rows=rows) if engine is None
              else engine.gather_stats(est, X, y, variants=variants, rows=rows))
    cache[key] = st
    return st


def draw_splits(splitter, y, *, rows=None, variants=None, images=None) -> list:
    """The identity-disjoint splits of rows ``rows`` (all if None) by ``splitter``, drawn once.

    Parameters
    ----------
    splitter : IdentityPairSplit
    y : array-like of shape (n_samples,)
        Identity labels of every row of the matrix the splits index.
    rows : array-like of int, optional
        The rows to split (a search part of the matrix).
    variants, images : array-like of shape (n_samples,), optional
        Variant tag and source image per row (see :class:`IdentityPairSplit`).

    Returns
    -------
    list of HeldOutPairs
        In the whole matrix's row indices; :meth:`MetricSearchCV.evaluate_candidate` judges
        every candidate on them, so all candidates meet the same pairs.
    """
    y = np.asarray(y)
    sub = np.arange(y.shape[0]) if rows is None else np.asarray(rows, dtype=np.int64)
    local = splitter.pairs(
        None, y[sub], variants=None if variants is None else np.asarray(variants)[sub],
        images=None if images is None else np.asarray(images)[sub],
    )
    return [_lift(p, sub) for p in local]


def _from_stats(m) -> bool:
    """Whether metric ``m`` is fitted in closed form from statistics with its current settings."""
    if not getattr(m, "learns", True) or not hasattr(m, "fit_from_stats"):
        return False
    only = getattr(m, "_fits_from_stats", None)
    return True if only is None else bool(only())


def rows_of(X, rows, cache: dict) -> np.ndarray:
    """``X[rows]`` as an array, kept in ``cache`` for the next candidate on the same rows."""
    rows = np.asarray(rows, dtype=np.int64)
    key = ("rows", _digest(rows), rows.size)
    if key not in cache:
        cache[key] = np.asarray(X[rows])
    return cache[key]


def _lift(p: HeldOutPairs, sub: np.ndarray) -> HeldOutPairs:
    """A split of the rows ``sub`` of a matrix, in the matrix's row indices."""
    return HeldOutPairs(sub[p.fit_rows], sub[p.val_rows], sub[p.index1], sub[p.index2], p.same, p.cross,
                        p.random_state)


def _plain(v):
    if isinstance(v, np.generic):
        return v.item()
    return v


__all__ = ["MetricSearchCV", "SplitScore", "block_stats", "draw_splits", "rows_of"]
