"""Verification measures: AUROC (with a bootstrap interval), TAR@FAR, EER, k-fold accuracy.

Every function follows scikit-learn's signature ``f(y_true, y_score, *, ...)``:

* ``y_true`` holds 1 for a same-identity pair and 0 for a different-identity pair;
* ``y_score`` is a **similarity**: larger means more alike. A submission's
  ``Predicted`` column and :meth:`BaseMetric.pair_distance` are distances, so
  negate them first (``y_score = -distance``, which is what ``pair_score`` returns).

Operating points
----------------
A pair is *accepted* (declared "same") when ``y_score >= threshold``. Thresholds
are taken only among the distinct observed scores, so tied pairs are always
accepted or rejected together, exactly as on scikit-learn's ROC curve
(``roc_curve(..., drop_intermediate=False)``).

**TAR at FAR = f** is read off that curve as the *largest TAR whose FAR does not
exceed f*: the lowest threshold (the most accepting one) at which the fraction of
different-identity pairs accepted is still ``<= f``. No interpolation between ROC
points is done, so the achieved FAR is never above the target (it may be below it
when a tie block of scores straddles the target). When there are fewer than
``1 / f`` different-identity pairs, FAR ``f`` cannot be resolved (the only
reachable FAR below ``f`` is 0): the TAR is then reported as NaN, and
:func:`operating_points` says so in its ``resolvable`` field.
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np
from numba import njit, prange

from metricbench.errors import InputError

DEFAULT_FARS = (1e-1, 1e-2, 1e-3, 1e-4)


# -- input checks ---------------------------------------------------------------
def _check(y_true, y_score, *, need_both: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Validate and return ``(y_true as int8 0/1, y_score as float64)``."""
    y = np.asarray(y_true)
    s = np.asarray(y_score, dtype=np.float64)
    if y.ndim != 1 or s.ndim != 1:
        raise InputError(
            f"y_true and y_score must be 1-D, got shapes {y.shape} and {s.shape}"
        )
    if y.shape[0] != s.shape[0]:
        raise InputError(f"y_true has {y.shape[0]} labels but y_score has {s.shape[0]} scores")
    if y.dtype == bool:
        y = y.astype(np.int8)
    else:
        bad = ~np.isin(y, (0, 1))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise InputError(
                f"y_true must hold 0 (different) or 1 (same); row {i} holds {y[i].item()!r}"
            )
        y = y.astype(np.int8)
    if not np.isfinite(s).all():
        i = int(np.flatnonzero(~np.isfinite(s))[0])
        raise InputError(f"y_score row {i} is {s[i]}: scores must be finite numbers")
    if need_both:
        n_pos = int(y.sum())
        if n_pos == 0 or n_pos == y.size:
            raise InputError(
                f"need both same (1) and different (0) pairs, got {n_pos} same of {y.size}"
            )
    return y, s


# -- ROC curve --------------------------------------------------------------------
def roc_curve(y_true, y_score):
    """ROC curve over every distinct score (scikit-learn's ``drop_intermediate=False``).

    Parameters
    ----------
    y_true : array-like of shape (n_pairs,)
        1 = same identity, 0 = different.
    y_score : array-like of shape (n_pairs,)
        Similarity (larger = more alike).

    Returns
    -------
    fpr, tpr : ndarray of shape (n_thresholds + 1,)
        False / true accept rate when accepting ``y_score >= thresholds[i]``;
        the first point is (0, 0), accepting nothing.
    thresholds : ndarray of shape (n_thresholds + 1,)
        Decreasing; ``thresholds[0] = inf``.
    """
    y, s = _check(y_true, y_score)
    fps, tps, thr = _cumulative_counts(y, s)
    n_pos = tps[-1]
    n_neg = fps[-1]
    return fps / n_neg, tps / n_pos, thr


def _cumulative_counts(y: np.ndarray, s: np.ndarray):
    """False / true accepts at each distinct threshold, highest threshold first.

    Returns ``fps, tps, thresholds`` with a leading (0, 0, inf) point.
    """
    order = np.argsort(-s, kind="stable")
    s_sorted = s[order]
    y_sorted = y[order].astype(np.int64)
    # last index of each run of equal scores
    ends = np.r_[np.flatnonzero(np.diff(s_sorted)), s_sorted.size - 1]
    tps = np.cumsum(y_sorted)[ends]
    fps = (ends + 1) - tps
    return (
        np.r_[0, fps].astype(np.float64),
        np.r_[0, tps].astype(np.float64),
        np.r_[np.inf, s_sorted[ends]],
    )


# -- AUROC --------------------------------------------------------------------------
def auroc(y_true, y_score) -> float:
    """Area under the ROC curve (ties count one half), equal to ``roc_auc_score``.

    Computed from ranks (Mann-Whitney U): ``(sum of the ranks of same pairs -
    n_same (n_same + 1) / 2) / (n_same n_different)`` with average ranks for ties.
    """
    y, s = _check(y_true, y_score)
    return _auroc_ranks(y, s)


def _auroc_ranks(y: np.ndarray, s: np.ndarray) -> float:
    from scipy.stats import rankdata

    r = rankdata(s)  # average ranks, 1-based
    n_pos = float(y.sum())
    n_neg = float(y.size - n_pos)
    u = r[y == 1].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


class AurocInterval(NamedTuple):
    """AUROC with a percentile bootstrap interval."""

    auroc: float
    low: float
    high: float
    level: float
    n_boot: int
    seed: int


@njit(cache=True, parallel=True)
def _weighted_auc_rows(group, counts_pos, counts_neg, pos_idx, neg_idx, n_groups):
    """AUROC of each bootstrap replicate given per-row multiplicities.

    ``group[i]`` is the rank of row i's score among the distinct scores (ascending);
    ``counts_pos[b, j]`` is how many times positive ``pos_idx[j]`` was drawn in
    replicate b (likewise for negatives). Ties count one half.
    """
    n_boot = counts_pos.shape[0]
    out = np.empty(n_boot, dtype=np.float64)
    for b in prange(n_boot):
        negw = np.zeros(n_groups, dtype=np.float64)
        posw = np.zeros(n_groups, dtype=np.float64)
        for j in range(neg_idx.size):
            negw[group[neg_idx[j]]] += counts_neg[b, j]
        for j in range(pos_idx.size):
            posw[group[pos_idx[j]]] += counts_pos[b, j]
        below = 0.0
        u = 0.0
        wp = 0.0
        for g in range(n_groups):
            u += posw[g] * (below + 0.5 * negw[g])
            below += negw[g]
            wp += posw[g]
        out[b] = u / (wp * below)
    return out


def auroc_ci(
    y_true,
    y_score,
    *,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
    stratified: bool = True,
) -> AurocInterval:
    """AUROC and its percentile bootstrap interval.

    Each replicate redraws, with replacement, ``n_same`` same pairs from the same
    pairs and ``n_different`` pairs from the different ones (``stratified=True``,
    pROC's default; otherwise all pairs are redrawn together and a replicate
    lacking one class is redrawn), and the AUROC is recomputed exactly (ties one
    half) from the multiplicities, with no re-sorting (the replicates run in
    parallel, each one pass over the sorted scores).

    Parameters
    ----------
    y_true, y_score : array-like of shape (n_pairs,)
    n_boot : int
        Number of bootstrap replicates.
    level : float
        Coverage of the interval (0.95 gives the 2.5 and 97.5 percentiles).
    seed : int
        Seed of the resampling (``numpy.random.default_rng``).

    Returns
    -------
    AurocInterval
        ``(auroc, low, high, level, n_boot, seed)``; ``auroc`` is the full-sample value.
    """
    y, s = _check(y_true, y_score)
    if n_boot < 1:
        raise InputError(f"n_boot must be at least 1, got {n_boot}")
    if not 0.0 < level < 1.0:
        raise InputError(f"level must be between 0 and 1, got {level}")
    point = _auroc_ranks(y, s)
    boots = _bootstrap_aurocs(y, s, n_boot=n_boot, seed=seed, stratified=stratified)
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(boots, [alpha, 1.0 - alpha])
    return AurocInterval(point, float(low), float(high), float(level), int(n_boot), int(seed))


def auroc_se(auc: float, n_pos: int, n_neg: int) -> float:
    """Standard error of an AUROC from its value and the class counts (Hanley and McNeil [1]_).

    The closed form for independent scores: cheap where a bootstrap (:func:`auroc_ci`) per
    figure would cost too much, as for every candidate of a search.

    Parameters
    ----------
    auc : float
        The AUROC.
    n_pos, n_neg : int
        Numbers of positive (same) and negative (different) pairs.

    Returns
    -------
    float

    References
    ----------
    .. [1] J. A. Hanley, B. J. McNeil. The meaning and use of the area under a receiver
       operating characteristic (ROC) curve. Radiology 143, 29-36, 1982.
    """
    q1 = auc / (2.0 - auc)
    q2 = 2.0 * auc * auc / (1.0 + auc)
    var = (auc * (1 - auc) + (n_pos - 1) * (q1 - auc * auc) + (n_neg - 1) * (q2 - auc * auc)) / (n_pos * n_neg)
    return float(np.sqrt(max(var, 0.0)))


def _bootstrap_aurocs(y, s, *, n_boot: int, seed: int, stratified: bool, chunk: int = 64):
    """``n_boot`` bootstrap AUROCs (float64), drawn in chunks to bound memory."""
    _, group = np.unique(s, return_inverse=True)
    group = group.astype(np.int64)
    n_groups = int(group.max()) + 1
    pos_idx = np.flatnonzero(y == 1).astype(np.int64)
    neg_idx = np.flatnonzero(y == 0).astype(np.int64)
    n = y.size
    rng = np.random.default_rng(seed)
    out = np.empty(n_boot, dtype=np.float64)
    for start in range(0, n_boot, chunk):
        m = min(chunk, n_boot - start)
        if stratified:
            cp = _draw_counts(rng, pos_idx.size, m)
            cn = _draw_counts(rng, neg_idx.size, m)
        else:
            c = _draw_counts(rng, n, m)
            # redraw any replicate that lacks one class
            for r in range(m):
                while c[r, pos_idx].sum() == 0 or c[r, neg_idx].sum() == 0:
                    c[r] = _draw_counts(rng, n, 1)[0]
            cp = np.ascontiguousarray(c[:, pos_idx])
            cn = np.ascontiguousarray(c[:, neg_idx])
        out[start : start + m] = _weighted_auc_rows(
            group, cp, cn, pos_idx, neg_idx, n_groups
        )
    return out


def _draw_counts(rng, n: int, m: int) -> np.ndarray:
    """Multiplicities of ``m`` bootstrap draws of size ``n`` from ``n`` items: (m, n) float64."""
    idx = rng.integers(0, n, size=(m, n))
    idx += (np.arange(m) * n)[:, None]
    return np.bincount(idx.ravel(), minlength=m * n).reshape(m, n).astype(np.float64)


# -- operating points -------------------------------------------------------------
class OperatingPoint(NamedTuple):
    """The ROC point chosen for a target FAR (see the module docstring)."""

    far_target: float
    threshold: float  # accept when score >= threshold (inf: accept nothing)
    far: float  # achieved false accept rate (<= far_target)
    tar: float  # true accept rate; NaN when not resolvable
    false_accepts: int
    true_accepts: int
    n_different: int
    n_same: int
    resolvable: bool  # n_different * far_target >= 1


def operating_points(y_true, y_score, fars: Sequence[float] = DEFAULT_FARS) -> list[OperatingPoint]:
    """The threshold, achieved FAR and TAR for each target FAR.

    The point is the lowest distinct-score threshold whose FAR is ``<= far``
    (no interpolation). ``resolvable`` is False, and ``tar`` NaN, when
    ``n_different * far < 1``: too few different-identity pairs to measure that FAR.
    """
    y, s = _check(y_true, y_score)
    return _operating_points(y, s, fars)


def _operating_points(y, s, fars) -> list[OperatingPoint]:
    fps, tps, thr = _cumulative_counts(y, s)
    n_neg = int(fps[-1])
    n_pos = int(tps[-1])
    fpr = fps / n_neg
    out = []
    for f in np.atleast_1d(np.asarray(fars, dtype=np.float64)):
        if not 0.0 < f <= 1.0:
            raise InputError(f"FAR targets must be in (0, 1], got {f}")
        # fpr is non-decreasing: last index with fpr <= f (index 0 is fpr = 0)
        i = int(np.searchsorted(fpr, f * (1 + 1e-12), side="right") - 1)
        resolvable = n_neg * f >= 1.0
        tar = tps[i] / n_pos if resolvable else float("nan")
        out.append(
            OperatingPoint(
                float(f), float(thr[i]), float(fpr[i]), float(tar),
                int(fps[i]), int(tps[i]), n_neg, n_pos, bool(resolvable),
            )
        )
    return out


def tar_at_far(y_true, y_score, fars: Sequence[float] = DEFAULT_FARS) -> np.ndarray:
    """True accept rate at each target false accept rate.

    Parameters
    ----------
    y_true, y_score : array-like of shape (n_pairs,)
    fars : sequence of float
        Target FARs in (0, 1].

    Returns
    -------
    ndarray of shape (len(fars),)
        The largest TAR reachable with FAR ``<= far`` (see the module docstring);
        NaN where there are fewer than ``1 / far`` different-identity pairs.
    """
    return np.array([p.tar for p in operating_points(y_true, y_score, fars)])


def precision_recall_f1_at_far(y_true, y_score, *, far: float = 1e-3) -> dict:
    """Precision, recall (= TAR), F1 and accuracy at the threshold where FAR = ``far``.

    The threshold is the one :func:`tar_at_far` uses. Precision depends on the
    share of same pairs in ``y_true``, so it is only comparable between pair sets
    with the same balance. ``macro_f1`` averages the F1 of the "same" and
    "different" classes. All values are NaN when ``far`` is not resolvable.
    """
    y, s = _check(y_true, y_score)
    (p,) = _operating_points(y, s, [far])
    n = y.size
    tp, fp = p.true_accepts, p.false_accepts
    fn = p.n_same - tp
    tn = p.n_different - fp
    if not p.resolvable:
        nan = float("nan")
        return {"far_target": far, "threshold": p.threshold, "far": p.far, "precision": nan,
                "recall": nan, "f1": nan, "accuracy": nan, "macro_f1": nan, "resolvable": False}
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    # "different" as the positive class
    p0 = tn / (tn + fn) if tn + fn else 0.0
    r0 = tn / (tn + fp)
    f1_0 = 2 * p0 * r0 / (p0 + r0) if p0 + r0 else 0.0
    return {
        "far_target": float(far),
        "threshold": p.threshold,
        "far": p.far,
        "precision": float(precision),
        "recall": float(recall),
        "f1": float(f1),
        "accuracy": float((tp + tn) / n),
        "macro_f1": float((f1 + f1_0) / 2),
        "resolvable": True,
    }


# -- EER -------------------------------------------------------------------------------
def eer(y_true, y_score, *, return_threshold: bool = False):
    """Equal error rate: where the false accept rate equals the false reject rate.

    The ROC polyline (through every distinct-score point) is intersected with the
    line ``FRR = 1 - TAR = FAR``; the EER is the FAR at that intersection, linearly
    interpolated between the two neighbouring ROC points (the convention of
    ``brentq(lambda x: 1 - x - interp1d(fpr, tpr)(x), 0, 1)``).

    Returns
    -------
    float, or (float, float) with ``return_threshold``
        The EER, and the score threshold interpolated at the same position.
    """
    y, s = _check(y_true, y_score)
    fps, tps, thr = _cumulative_counts(y, s)
    fpr = fps / fps[-1]
    fnr = 1.0 - tps / tps[-1]
    # g = fnr - fpr decreases from 1 (accept nothing) to -1 (accept all)
    g = fnr - fpr
    i = int(np.flatnonzero(g <= 0)[0])  # first point at or past the crossing (i >= 1)
    g0, g1 = g[i - 1], g[i]
    t = 0.0 if g0 == g1 else g0 / (g0 - g1)
    rate = fpr[i - 1] + t * (fpr[i] - fpr[i - 1])
    if not return_threshold:
        return float(rate)
    t0 = thr[i - 1] if np.isfinite(thr[i - 1]) else thr[i]
    return float(rate), float(t0 + t * (thr[i] - t0))


# -- k-fold accuracy -------------------------------------------------------------------
class KFoldAccuracy(NamedTuple):
    """LFW-style k-fold accuracy."""

    mean: float
    std: float  # population std over folds (numpy's ddof=0, as InsightFace reports)
    accuracies: np.ndarray  # (n_folds,)
    thresholds: np.ndarray  # (n_folds,) accept when score >= threshold
    folds: np.ndarray  # (n_pairs,) fold id of each pair


def best_accuracy_threshold(y_true, y_score) -> tuple[float, float]:
    """The threshold maximising accuracy of ``accept iff score >= threshold``.

    Candidates are every cut between two neighbouring distinct scores (placed at
    their midpoint) plus "accept all" (the lowest score) and "accept none" (the
    next float above the highest score). Ties in accuracy go to the highest threshold.

    Returns
    -------
    threshold, accuracy : float
    """
    y, s = _check(y_true, y_score, need_both=False)
    return _best_threshold(y, s)


def _best_threshold(y, s) -> tuple[float, float]:
    fps, tps, thr = _cumulative_counts(y, s)
    n = y.size
    n_neg = n - int(y.sum())
    acc = (tps + (n_neg - fps)) / n  # index 0: accept none; index j: accept scores >= thr[j]
    j = int(np.argmax(acc))
    d = thr[1:]  # distinct scores, decreasing
    if j == 0:  # accept none: just above the highest score
        t = np.nextafter(d[0], np.inf)
    elif j == d.size:  # accept all: the lowest score
        t = d[-1]
    else:
        t = 0.5 * (d[j - 1] + d[j])
        if not d[j] < t <= d[j - 1]:  # neighbours too close for a midpoint
            t = d[j - 1]
    return float(t), float(acc[j])


def kfold_accuracy(y_true, y_score, *, n_folds: int = 10, folds=None, seed: int = 0) -> KFoldAccuracy:
    """LFW-style accuracy: threshold fitted on k-1 folds, accuracy on the held-out one.

    Parameters
    ----------
    y_true, y_score : array-like of shape (n_pairs,)
    n_folds : int
        Number of folds when ``folds`` is not given.
    folds : array-like of shape (n_pairs,), optional
        Fold id of each pair (for LFW, the official 10 sets). Without it the pairs are
        shuffled with ``seed`` and dealt into ``n_folds`` folds of near-equal size,
        keeping the same/different balance in each fold.
    seed : int

    Returns
    -------
    KFoldAccuracy
        ``mean``, ``std`` (ddof=0), per-fold ``accuracies`` and ``thresholds``, ``folds``.
        The threshold of each fold comes from :func:`best_accuracy_threshold` on the
        other folds.
    """
    y, s = _check(y_true, y_score)
    if folds is None:
        if n_folds < 2:
            raise InputError(f"n_folds must be at least 2, got {n_folds}")
        if n_folds > y.size:
            raise InputError(f"n_folds={n_folds} exceeds the {y.size} pairs")
        rng = np.random.default_rng(seed)
        f = np.empty(y.size, dtype=np.int64)
        offset = 0
        for cls in (1, 0):  # deal each class round-robin after a shuffle
            idx = rng.permutation(np.flatnonzero(y == cls))
            f[idx] = (np.arange(idx.size) + offset) % n_folds
            offset += idx.size
    else:
        f = np.asarray(folds)
        if f.shape != y.shape:
            raise InputError(f"folds has {f.shape[0] if f.ndim else 0} entries, expected {y.size}")
    ids = np.unique(f)
    if ids.size < 2:
        raise InputError("k-fold accuracy needs at least 2 folds")
    accs, ths = [], []
    for k in ids:
        test = f == k
        t, _ = _best_threshold(y[~test], s[~test])
        pred = s[test] >= t
        accs.append(float(np.mean(pred == (y[test] == 1))))
        ths.append(t)
    accs = np.array(accs)
    return KFoldAccuracy(float(accs.mean()), float(accs.std()), accs, np.array(ths), f)


# -- everything at once ---------------------------------------------------------------
def far_label(f: float) -> str:
    """Column name of a FAR target: ``1e-3 -> 'tar@far=1e-03'``."""
    return f"tar@far={f:.0e}"


def verification_report(
    y_true,
    y_score,
    *,
    fars: Sequence[float] = DEFAULT_FARS,
    n_boot: int = 1000,
    level: float = 0.95,
    seed: int = 0,
    n_folds: int = 10,
    folds=None,
    prf_far: float = 1e-3,
) -> dict:
    """All verification measures as one flat dict (ready for a table row or JSON).

    Keys: ``n_pairs, n_same, n_different, auroc, auroc_low, auroc_high, ci_level,
    n_boot, seed, tar@far=1e-01 ...`` (NaN where not resolvable), ``eer,
    eer_threshold, kfold_accuracy, kfold_std, n_folds, threshold@far, precision@far,
    recall@far, f1@far, macro_f1@far, prf_far``.
    """
    y, s = _check(y_true, y_score)
    ci = auroc_ci(y, s, n_boot=n_boot, level=level, seed=seed)
    rate, rate_t = eer(y, s, return_threshold=True)
    kf = kfold_accuracy(y, s, n_folds=n_folds, folds=folds, seed=seed)
    prf = precision_recall_f1_at_far(y, s, far=prf_far)
    out = {
        "n_pairs": int(y.size),
        "n_same": int(y.sum()),
        "n_different": int(y.size - y.sum()),
        "auroc": ci.auroc,
        "auroc_low": ci.low,
        "auroc_high": ci.high,
        "ci_level": ci.level,
        "n_boot": ci.n_boot,
        "seed": ci.seed,
    }
    for p in _operating_points(y, s, fars):
        out[far_label(p.far_target)] = p.tar
    out.update(
        {
            "eer": rate,
            "eer_threshold": rate_t,
            "kfold_accuracy": kf.mean,
            "kfold_std": kf.std,
            "n_folds": int(kf.accuracies.size),
            "prf_far": float(prf_far),
            "threshold@far": prf["threshold"],
            "precision@far": prf["precision"],
            "recall@far": prf["recall"],
            "f1@far": prf["f1"],
            "macro_f1@far": prf["macro_f1"],
        }
    )
    return out


__all__ = [
    "AurocInterval",
    "DEFAULT_FARS",
    "KFoldAccuracy",
    "OperatingPoint",
    "auroc",
    "auroc_ci",
    "auroc_se",
    "best_accuracy_threshold",
    "eer",
    "far_label",
    "kfold_accuracy",
    "operating_points",
    "precision_recall_f1_at_far",
    "roc_curve",
    "tar_at_far",
    "verification_report",
]
