"""Metrics fitted from sufficient statistics alone, on any engine.

The statistics object is :class:`metricbench.learn.stats.ScatterStats`: row count and sum, the
Gram matrix, per-identity counts and sums (and the class-weighted parts a metric asks for),
gathered per chunk of rows by :meth:`ScatterStats.from_data
<metricbench.learn.stats.ScatterStats.from_data>` and merged by ``+``
(:meth:`~metricbench.learn.stats.ScatterStats.combine`). So the statistics of a train set of any
size are a map over its chunks, on any number of machines, and a reduce; each metric's own
``fit_from_stats`` (the code its local ``fit`` and :class:`~metricbench.model_selection.MetricSearchCV`
run) fits from the result, so an engine's fit equals the local one.

The metrics fitted this way (:data:`STATS_METRICS`): ``cosine-whitened`` (PCA whitening),
``zca-cosine`` (numeric shrinkage), ``wccn-cosine``, ``lda-cosine``, ``plda`` (closed-form
two-covariance model, no length normalisation), ``within-mahalanobis`` (every residual row;
Ledoit-Wolf adds one second-pass sum) and ``kissme`` (every pair).

References
----------
Chan, Golub & LeVeque, "Algorithms for computing the sample variance: analysis and
recommendations", The American Statistician 37(3), 1983; Dean & Ghemawat, "MapReduce:
simplified data processing on large clusters", OSDI 2004.
"""

from __future__ import annotations

import numpy as np

from metricbench.errors import InputError
from metricbench.registry import get_metric

#: registry names of the metrics an engine can fit from statistics alone (with explicit settings)
STATS_METRICS = ("cosine-whitened", "zca-cosine", "wccn-cosine", "lda-cosine", "plda", "within-mahalanobis",
                 "kissme")


def stats_metric(metric, **params):
    """The unfitted metric ``metric`` (a registry name built with ``params``, or an estimator,
    cloned), checked to be fittable from statistics alone.

    Parameters
    ----------
    metric : str or metric
    **params
        Settings of a metric given by name.

    Returns
    -------
    metricbench.learn.base.StatsFitted
        A fresh estimator, or a :class:`~metricbench.model_selection.MetricSearchCV` over one
        (its candidates are searched on statistics too).

    Raises
    ------
    InputError
        A metric not fitted from statistics, or settings that need the rows themselves.
    """
    from sklearn.base import clone

    from metricbench.learn.base import StatsFitted
    from metricbench.model_selection import MetricSearchCV

    m = get_metric(metric, **params) if isinstance(metric, str) else clone(metric)
    inner = m.estimator if isinstance(m, MetricSearchCV) else m
    name = getattr(inner, "name", None) or type(inner).__name__
    if not isinstance(inner, StatsFitted):
        raise InputError(f"{name!r} cannot be fitted from statistics; these can: {', '.join(STATS_METRICS)}")
    inner._check_params()
    why = inner._stats_only()
    if why is not None:
        raise InputError(f"{name}: {why}, so it cannot be fitted from statistics alone")
    return m


def global_class_counts(y, variants=None, cross=None):
    """``(classes, counts[, counts_a, counts_b])`` of labels ``y`` (and of the rows of each of
    the two variants ``cross``): the ``class_counts`` every chunk's statistics need so that the
    class-weighted parts merge exactly."""
    from metricbench.learn.stats import class_codes

    classes, codes, counts = class_codes(y)
    if cross is None:
        return classes, counts
    v = np.asarray(variants)
    return (classes, counts, np.bincount(codes[v == cross[0]], minlength=classes.size),
            np.bincount(codes[v == cross[1]], minlength=classes.size))


def fit_from_stats(metric, stats, **params):
    """A metric fitted from :class:`~metricbench.learn.stats.ScatterStats` alone.

    Parameters
    ----------
    metric : str or metric
        One of :data:`STATS_METRICS` (built with ``params``) or such an estimator (cloned).
    stats : ScatterStats
        Gathered with the metric's request (``metric.gather_stats``, or an engine's
        ``gather_stats``).
    **params
        Settings of a metric given by name.

    Returns
    -------
    The fitted metric, equal to ``get_metric(metric, **params).fit(X, y)`` on the same rows.

    Raises
    ------
    InputError
        A metric or setting that needs the rows, or an automatic choice (``"auto"``: it
        chooses on held-out pairs, which need rows).
    """
    from metricbench.model_selection import MetricSearchCV

    m = stats_metric(metric, **params)
    if isinstance(m, MetricSearchCV):
        raise InputError(f"{m.estimator.name}: an 'auto' setting chooses on held-out pairs of rows; "
                         "a fit from statistics alone needs it given")
    return m.fit_from_stats(stats)


class EngineOnPath:
    """``engine`` gathering statistics from the file ``path`` (read by its workers) whatever
    matrix the caller passes: the caller reads the held-out pairs' rows from its own memory
    map of the same file."""

    def __init__(self, engine, path):
        self.engine, self.path = engine, path
        self.name = getattr(engine, "name", "engine")

    def gather_stats(self, metric, X, y, **kw):
        return self.engine.gather_stats(metric, self.path, y, **kw)


def fit_on_engine(engine, metric, X, y, *, variants=None, images=None):
    """Fit ``metric`` (unfitted, fitted in place) on ``engine`` from statistics when it can be,
    else in this process.

    A metric of :data:`STATS_METRICS` with explicit settings is fitted from the engine's
    map-reduce of statistics; a search (``auto`` settings) gathers the statistics of its
    fitting and held-out identities on the engine and reads only the held-out pairs' rows here.

    Returns
    -------
    metric, bool
        The fitted metric and whether it was fitted from the engine's statistics.
    """
    from metricbench.learn.base import StatsFitted
    from metricbench.model_selection import MetricSearchCV
    from metricbench.model_selection._validate import fit_kwargs

    inner = metric.estimator if isinstance(metric, MetricSearchCV) else metric
    if isinstance(metric, MetricSearchCV) and isinstance(inner, StatsFitted) and metric.cv is None:
        y = np.asarray(y)
        metric._fit_rows(X, y, None, variants, images, {"engine": engine})
        return metric, True
    if isinstance(metric, StatsFitted) and metric._stats_only() is None:
        metric._check_params()
        return metric.fit_from_stats(engine.gather_stats(metric, X, y, variants=variants)), True
    return metric.fit(X, y, **fit_kwargs(metric, variants=variants, images=images)), False


__all__ = ["EngineOnPath", "STATS_METRICS", "fit_from_stats", "fit_on_engine", "global_class_counts", "stats_metric"]
