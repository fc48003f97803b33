"""Mergeable sufficient statistics of labelled rows, and the metrics fitted from them alone.

A :class:`ClassStats` of a chunk of rows holds the row count, per-class counts and sums and the
Gram matrix of the rows about a fixed shift point; two of them merge by adding. So the
statistics of a train set of any size are a map over its chunks (on any number of machines)
and a reduce by :meth:`ClassStats.merge`; the total, between- and within-class scatter follow
in closed form (:class:`metricbench.learn.stats.ScatterStats`, which this adds up per chunk).

:func:`fit_from_stats` fits the metrics that need nothing else: ``cosine-whitened`` (PCA
whitening) and ``lda-cosine`` (LDA), with their dimension and shrinkage given (the automatic
choices need held-out rows, not statistics).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from metricbench.errors import InputError


@dataclass
class ClassStats:
    """Sufficient statistics of labelled rows.

    Attributes
    ----------
    classes : ndarray of shape (C,)
        The class labels the per-class arrays follow (sorted).
    counts : ndarray of shape (C,), int64
    sums : ndarray of shape (C, d), float64
        Per-class sums of ``x - shift``.
    gram : ndarray of shape (d, d), float64
        ``sum (x - shift)(x - shift)^T`` over the rows.
    shift : ndarray of shape (d,)
        The point every sum is taken about (the same for statistics that merge).
    """

    classes: np.ndarray
    counts: np.ndarray
    sums: np.ndarray
    gram: np.ndarray
    shift: np.ndarray

    @classmethod
    def zero(cls, d: int, classes, shift=None) -> "ClassStats":
        classes = np.asarray(classes)
        return cls(classes, np.zeros(classes.size, np.int64), np.zeros((classes.size, d)), np.zeros((d, d)),
                   np.zeros(d) if shift is None else np.asarray(shift, dtype=np.float64))

    @classmethod
    def of(cls, X, y, classes, shift=None) -> "ClassStats":
        """Statistics of the rows ``X`` (m, d) with labels ``y`` (m,), all in ``classes``."""
        from scipy.sparse import csr_matrix

        X = np.asarray(X, dtype=np.float64)
        classes = np.asarray(classes)
        d = X.shape[1]
        shift = np.zeros(d) if shift is None else np.asarray(shift, dtype=np.float64)
        codes = np.searchsorted(classes, np.asarray(y))
        if codes.size and (codes.max() >= classes.size or not np.array_equal(classes[codes], np.asarray(y))):
            raise InputError("a label is not among the classes given")
        B = X - shift
        ind = csr_matrix((np.ones(codes.size), (codes, np.arange(codes.size))), shape=(classes.size, codes.size))
        return cls(classes, np.bincount(codes, minlength=classes.size).astype(np.int64), np.asarray(ind @ B),
                   B.T @ B, shift)

    def merge(self, other: "ClassStats") -> "ClassStats":
        """The statistics of both sets of rows."""
        if not np.array_equal(self.classes, other.classes) or not np.array_equal(self.shift, other.shift):
            raise InputError("statistics to merge must share their classes and shift point")
        return ClassStats(self.classes, self.counts + other.counts, self.sums + other.sums, self.gram + other.gram,
                          self.shift)

    __add__ = merge

    @property
    def n(self) -> int:
        return int(self.counts.sum())

    def scatter(self):
        """:class:`metricbench.learn.stats.ScatterStats` of these rows (mean, total, between,
        within ...), from which the closed-form metrics fit."""
        from metricbench.learn.stats import ScatterStats  # the learn package imports scikit-learn

        n = self.n
        if n < 2:
            raise InputError("need at least 2 train rows")
        keep = self.counts > 0
        return ScatterStats(n=n, shift=self.shift, sum=self.sums.sum(0), gram=self.gram, classes=self.classes[keep],
                            counts=self.counts[keep].astype(np.float64), class_sums=self.sums[keep])


def fit_from_stats(metric, stats: ClassStats, **params):
    """A metric fitted from sufficient statistics alone.

    Parameters
    ----------
    metric : {"cosine-whitened", "lda-cosine"}
    stats : ClassStats
    **params
        ``cosine-whitened``: ``n_components`` (int or None = all), ``shrinkage`` (float, default 0).
        ``lda-cosine``: ``n_components`` (int or None = min(d, C - 1)), ``shrinkage`` (float, default 0).

    Returns
    -------
    The fitted metric, equal to ``get_metric(metric, **params).fit(X, y)`` with the same settings.

    Raises
    ------
    InputError
        Another metric, or an automatic choice (``"auto"``) that needs held-out rows.
    """
    from metricbench.registry import get_metric

    for k in ("n_components", "shrinkage"):
        if params.get(k) == "auto":
            raise InputError(f"{metric}: {k}='auto' chooses on held-out rows; a statistics fit needs it given")
    if metric == "cosine-whitened":
        params.setdefault("shrinkage", 0.0)
    elif metric == "lda-cosine":
        params.setdefault("within", "all")
    else:
        raise InputError(f"{metric!r} cannot be fitted from statistics; choose cosine-whitened or lda-cosine")
    return get_metric(metric, **params).fit_from_stats(stats.scatter())


__all__ = ["ClassStats", "fit_from_stats"]
