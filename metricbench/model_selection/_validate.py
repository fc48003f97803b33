"""Identity-disjoint validation of any metric: fit on some identities, score pairs of others."""

from __future__ import annotations

import inspect
import time
from dataclasses import asdict, dataclass, field

import numpy as np
from sklearn.base import clone

from metricbench.model_selection._scorer import pair_auroc
from metricbench.model_selection._search import MetricSearchCV, block_stats
from metricbench.model_selection._split import IdentityPairSplit
from metricbench.catalog import build_metric as get_metric


@dataclass
class ValidationResult:
    """Outcome of :func:`validate_metric` (``auroc`` is the honest validation AUROC: the
    held-out identities never reached ``fit``, nor any selection inside it)."""

    metric: str
    auroc: float
    n_pairs: int
    n_same: int
    n_fit_identities: int
    n_val_identities: int
    fit_seconds: float
    score_seconds: float
    random_state: int
    holdout: float
    cross_groups: tuple | None = None
    chosen: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def seed(self) -> int:  # the CLI's word for it
        return self.random_state

    def as_dict(self) -> dict:
        return asdict(self)


def validate_metric(metric, X, y, *, holdout: float = 0.2, random_state=0, n_pairs: int = 20000,
                    same_fraction: float = 0.5, variants=None, groups=None, cross_groups=None, images=None,
                    **params) -> ValidationResult:
    """Fit ``metric`` on identities outside a held-out set, report AUROC on pairs of held-out identities.

    Parameters
    ----------
    metric : str or metric
        A registry name (built with ``params``) or an unfitted metric (cloned).
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
        Identity labels.
    holdout : float in (0, 1)
        Share of identities held out.
    random_state : int
        Seed of the identity split (pairs: ``random_state + 1``).
    n_pairs, same_fraction :
        Held-out pairs and their same-identity share.
    variants : array-like of shape (n_samples,), optional
        Variant tag per row (``groups=`` is its older name): with two tags pairs join one of
        each, like the test pairs; the metric's ``fit`` receives the fitting rows' tags.
    images : array-like of shape (n_samples,), optional
        Source image per row: same pairs never join two variants of one image.

    Returns
    -------
    ValidationResult
        The metric sees ``X[fit_rows]`` only; a search inside it (an ``auto`` setting)
        splits those rows again, so the AUROC here stays an honest estimate.
    """
    if variants is None:
        variants = groups
    if isinstance(metric, str):
        metric = get_metric(metric, **params)
    return validate_and_fit(metric, X, y, holdout=holdout, random_state=random_state, n_pairs=n_pairs,
                            same_fraction=same_fraction, variants=variants, images=images,
                            cross_groups=cross_groups, final_fit=False)[0]


def validate_and_fit(metric, X, y, *, holdout: float = 0.2, random_state=0, n_pairs: int = 20000,
                     same_fraction: float = 0.5, variants=None, images=None, cross_groups=None,
                     final_fit: bool = True, engine=None):
    """Identity-disjoint validation of ``metric``, then its fit on every row, sharing statistics.

    The validation is :func:`~metricbench.model_selection.validate_metric`'s: the metric is
    fitted on the identities outside a held-out set (a search inside it splits those again)
    and scored on pairs of the held-out ones. The final fit then uses every row; a search in
    it holds out the same identities (its inner-selection pairs are the validation pairs).
    A metric fitted from :class:`~metricbench.learn.stats.ScatterStats` reads each row once
    for both: the statistics of every identity block are gathered once and added.

    Parameters
    ----------
    metric : str or metric
        A registry name or an unfitted metric (cloned).
    X, y, holdout, random_state, n_pairs, same_fraction, variants, images, cross_groups :
        As in :func:`validate_metric`.
    final_fit : bool
        Also fit on every row (default); False returns None in its place.
    engine : metricbench.engines engine, optional
        Gather the statistics on this engine (a Dask cluster: map-reduce over row blocks);
        only the held-out pairs' rows are read here. Metrics not fitted from statistics fit
        in this process.

    Returns
    -------
    result : ValidationResult
    fitted : metric or None
        ``metric`` (cloned) fitted on all rows.
    """
    if isinstance(metric, str):
        metric = get_metric(metric)
    y = np.asarray(y)
    if variants is not None:
        variants = np.asarray(variants)
    name = getattr(metric, "name", None) or type(metric).__name__
    split = IdentityPairSplit(test_size=holdout, n_pairs=n_pairs, same_fraction=same_fraction, variants=variants,
                              images=images, cross=cross_groups, random_state=random_state)
    sp = next(split.pairs(X, y))
    inner = metric.estimator if isinstance(metric, MetricSearchCV) else metric
    shared = (
        getattr(metric, "learns", False)
        and hasattr(inner, "fit_from_stats")
        and (isinstance(metric, MetricSearchCV) or inner._stats_only() is None)
        and (not isinstance(metric, MetricSearchCV) or (metric.cv is None and metric.refit))
    )
    if shared:
        X, y = inner._validate_X(X, y=y, reset=True)
        inner.__dict__.pop("n_features_in_", None)
    cache: dict = {} if engine is None or not shared else {"engine": engine}
    all_rows = np.arange(y.shape[0])

    def fit_on(m, rows, final: bool):
        if not shared:
            r = all_rows if rows is None else rows
            if not getattr(m, "learns", True):  # nothing to learn: check the input's width only
                return m.fit(np.asarray(X[r[:2]]), y[r[:2]])
            kw = fit_kwargs(m, variants=None if variants is None else variants[r],
                            images=None if images is None else np.asarray(images)[r])
            return m.fit(np.asarray(X[r]) if rows is not None else X, y[r], **kw)
        if isinstance(m, MetricSearchCV):
            return m._fit_rows(X, y, rows, variants, images, cache, splits=[sp] if final else None)
        parts = (sp.fit_rows, sp.val_rows) if final else None
        return m.fit_from_stats(block_stats(m, X, y, variants, all_rows if final else rows, cache, parts=parts))

    t0 = time.perf_counter()
    m_val = fit_on(clone(metric), sp.fit_rows, False)
    t1 = time.perf_counter()
    d = m_val.pair_distance(X, sp.index1, sp.index2)
    t2 = time.perf_counter()
    result = ValidationResult(
        metric=name, auroc=pair_auroc(sp.same, -d), n_pairs=int(sp.same.size), n_same=int(sp.same.sum()),
        n_fit_identities=int(np.unique(y[sp.fit_rows]).size), n_val_identities=int(np.unique(y[sp.val_rows]).size),
        fit_seconds=t1 - t0, score_seconds=t2 - t1, random_state=random_state, holdout=holdout,
        cross_groups=sp.cross, chosen=m_val.describe() if hasattr(m_val, "describe") else "",
    )
    result.extra["statistics_shared"] = bool(shared)
    t3 = time.perf_counter()
    fitted = fit_on(clone(metric), None, True) if final_fit else None
    if final_fit:
        result.extra["final_fit_seconds"] = time.perf_counter() - t3
    return result, fitted



def fit_kwargs(metric, *, variants=None, images=None) -> dict:
    """The keyword arguments of ``metric.fit`` for the train rows' variant tags and source
    images: ``variants`` for a learned metric, ``images`` for a search (its held-out pairs
    never join an image with its own copy); nothing a metric does not use."""
    kw = {}
    if not getattr(metric, "learns", False):
        return kw
    if variants is not None:
        kw["variants"] = variants
    if images is not None and _takes("images", metric):
        kw["images"] = images
    return kw


def _takes(name: str, metric) -> bool:
    try:
        return name in inspect.signature(metric.fit).parameters
    except (TypeError, ValueError):
        return False


__all__ = ["ValidationResult", "fit_kwargs", "validate_and_fit", "validate_metric"]
