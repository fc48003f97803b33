"""Identity-disjoint validation of any metric: fit on some identities, score pairs of others."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import numpy as np

from metricbench.evaluation.splits import identity_split, sample_pairs


def roc_auc(same, score) -> float:
    """AUROC of ``score`` (larger = more alike) for 0/1 labels ``same``.

    The Mann-Whitney statistic with average ranks for ties, which equals
    scikit-learn's ``roc_auc_score`` without importing scikit-learn.
    """
    from scipy.stats import rankdata

    same = np.asarray(same).astype(bool).ravel()
    score = np.asarray(score, dtype=np.float64).ravel()
    n_pos = int(same.sum())
    n_neg = same.size - n_pos
    if n_pos == 0 or n_neg == 0:
        raise ValueError("AUROC needs both same and different pairs")
    ranks = rankdata(score)
    return float((ranks[same].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def cross_groups_of(groups) -> tuple | None:
    """The two variant tags to pair across, when exactly two are present (sorted, e.g. clean, xq40)."""
    if groups is None:
        return None
    vals = sorted(set(np.asarray(groups).tolist()))
    return tuple(vals) if len(vals) == 2 else None


@dataclass
class ValidationResult:
    metric: str
    auroc: float
    n_pairs: int
    n_same: int
    n_fit_identities: int
    n_val_identities: int
    fit_seconds: float
    score_seconds: float
    seed: int
    holdout: float
    cross_groups: tuple | None = None
    chosen: str = ""
    extra: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


def validation_pairs(
    y, *, holdout=0.2, seed=0, n_pairs=20000, same_fraction=0.5, groups=None, cross_groups=None, images=None
):
    """Identity split plus seeded pairs among held-out identities.

    Returns ``fit_mask, val_rows, i1, i2, same`` where ``i1, i2`` index ``val_rows``.
    """
    y = np.asarray(y)
    fit_mask, val_mask = identity_split(y, holdout=holdout, seed=seed)
    val_rows = np.flatnonzero(val_mask)
    g = None if groups is None else np.asarray(groups)[val_rows]
    if cross_groups is None:
        cross_groups = cross_groups_of(groups)
    im = None if images is None else np.asarray(images)[val_rows]
    i1, i2, same = sample_pairs(
        y[val_rows], n_pairs=n_pairs, same_fraction=same_fraction, seed=seed + 1, groups=g,
        cross_groups=cross_groups, images=im,
    )
    return fit_mask, val_rows, i1, i2, same


def validate_metric(
    metric,
    X,
    y,
    *,
    holdout: float = 0.2,
    seed: int = 0,
    n_pairs: int = 20000,
    same_fraction: float = 0.5,
    groups=None,
    cross_groups=None,
    images=None,
    **params,
) -> ValidationResult:
    """Fit ``metric`` on identities outside a held-out set, report AUROC on pairs of held-out identities.

    Parameters
    ----------
    metric : str or metric object
        A registry name (built with ``params``) or an unfitted metric (cloned from its parameters).
    X : ndarray of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
    groups : array-like, optional
        Variant tag per row; with two tags, pairs join one of each (cross-variant, like the test pairs).
    images : array-like, optional
        Source image per row: same pairs never join two variants of one image.

    Notes
    -----
    The held-out identities never reach ``fit``: the metric sees ``X[fit_mask]`` only.
    """
    from metricbench.registry import get_metric

    if isinstance(metric, str):
        name, m = metric, get_metric(metric, **params)
    else:
        name = getattr(metric, "name", None) or type(metric).__name__
        m = type(metric)(**metric.get_params())
        m.name = getattr(metric, "name", None)
    y = np.asarray(y)
    cg = cross_groups if cross_groups is not None else cross_groups_of(groups)
    fit_mask, val_rows, i1, i2, same = validation_pairs(
        y, holdout=holdout, seed=seed, n_pairs=n_pairs, same_fraction=same_fraction, groups=groups, cross_groups=cg,
        images=images,
    )
    fit_rows = np.flatnonzero(fit_mask)
    t0 = time.perf_counter()
    Xf = np.asarray(X[fit_rows])
    fit_kw = {}
    if groups is not None and getattr(m, "learns", False):
        fit_kw["groups"] = np.asarray(groups)[fit_rows]
    m.fit(Xf, y[fit_rows], **fit_kw)
    t1 = time.perf_counter()
    Xv = np.asarray(X[val_rows])
    d = m.pair_distance(Xv, i1, i2)
    t2 = time.perf_counter()
    return ValidationResult(
        metric=name,
        auroc=roc_auc(same, -d),
        n_pairs=int(same.size),
        n_same=int(same.sum()),
        n_fit_identities=int(np.unique(y[fit_rows]).size),
        n_val_identities=int(np.unique(y[val_rows]).size),
        fit_seconds=t1 - t0,
        score_seconds=t2 - t1,
        seed=seed,
        holdout=holdout,
        cross_groups=cg,
        chosen=m.describe(),
    )
