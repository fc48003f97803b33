"""Identity-disjoint splits and seeded pair sampling.

Test identities in a verification competition are never seen in train, so a
local estimate must hold out *identities*, never images of identities that
were used for fitting. Every random choice here takes an explicit ``seed``.
"""

from __future__ import annotations

import numpy as np

from metricbench.errors import InputError


def _codes(y) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y)
    classes, codes = np.unique(y, return_inverse=True)
    return classes, codes.astype(np.int64)


def identity_split(y, *, holdout: float = 0.2, seed: int = 0, min_images: int = 2):
    """Split rows into a fitting part and a held-out part with disjoint identities.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Identity label of each row (ints or strings).
    holdout : float
        Fraction of the identities that have at least ``min_images`` rows to hold out.
        Only such identities can form same-identity pairs, so only they are held out;
        identities with fewer rows always stay on the fitting side.
    seed : int
        Seed of the identity shuffle.

    Returns
    -------
    fit_mask, val_mask : ndarray of bool, shape (n_samples,)
        Disjoint masks; no identity has rows on both sides.
    """
    if not 0.0 < holdout < 1.0:
        raise InputError(f"holdout must be between 0 and 1, got {holdout}")
    classes, codes = _codes(y)
    counts = np.bincount(codes, minlength=classes.size)
    eligible = np.flatnonzero(counts >= min_images)
    if eligible.size < 4:
        raise InputError(
            f"identity-disjoint validation needs at least 4 identities with {min_images}+ images, "
            f"found {eligible.size}"
        )
    rng = np.random.default_rng(seed)
    n_val = max(2, int(round(holdout * eligible.size)))
    val_ids = rng.choice(eligible, size=n_val, replace=False)
    is_val = np.zeros(classes.size, dtype=bool)
    is_val[val_ids] = True
    val_mask = is_val[codes]
    return ~val_mask, val_mask


def sample_pairs(
    y,
    *,
    n_pairs: int = 20000,
    same_fraction: float = 0.5,
    seed: int = 0,
    groups=None,
    cross_groups: tuple | None = None,
    images=None,
):
    """Sample labelled pairs of rows: ``same_fraction`` same-identity, the rest different.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Identity labels.
    n_pairs : int
        Number of pairs wanted (fewer same pairs are returned if not enough exist).
    groups : array-like of shape (n_samples,), optional
        A variant tag per row (for example ``"clean"`` / ``"xq40"``). With
        ``cross_groups=(a, b)`` every pair joins a row of group ``a`` (first) with a
        row of group ``b`` (second), mimicking cross-quality test pairs.
    images : array-like of shape (n_samples,), optional
        Source image of each row (variants of one image share it). Same pairs never
        join two rows of one image, as test pairs never pair an image with its own
        degraded copy.
    seed : int
        Seed of every random draw.

    Returns
    -------
    index1, index2 : ndarray of int64
    same : ndarray of int8 (1 = same identity)
    """
    y = np.asarray(y)
    classes, codes = _codes(y)
    images = None if images is None else np.asarray(images)
    rng = np.random.default_rng(seed)
    n_same = int(round(n_pairs * same_fraction))
    n_diff = n_pairs - n_same

    if groups is not None and cross_groups is not None:
        groups = np.asarray(groups)
        left = np.flatnonzero(groups == cross_groups[0])
        right = np.flatnonzero(groups == cross_groups[1])
        if left.size == 0 or right.size == 0:
            raise InputError(f"no rows in group {cross_groups[0]!r} or {cross_groups[1]!r}")
    else:
        left = right = np.arange(y.shape[0])

    # same pairs: draw a left row, then a right row of the same identity (not itself)
    order = np.argsort(codes[right], kind="stable")
    rsorted = right[order]
    rcodes = codes[rsorted]
    starts = np.searchsorted(rcodes, np.arange(classes.size), side="left")
    ends = np.searchsorted(rcodes, np.arange(classes.size), side="right")
    rcount = ends - starts
    lcodes = codes[left]
    # a left row can pair if its identity has a right row other than itself
    self_in_right = np.isin(left, right)
    usable = rcount[lcodes] - self_in_right.astype(np.int64) > 0
    cand = left[usable]
    i1s, i2s = [], []
    if cand.size and n_same:
        seen = set()
        tries = 0
        while len(i1s) < n_same and tries < 20 * n_same:
            tries += 1
            a = int(cand[rng.integers(cand.size)])
            c = codes[a]
            b = int(rsorted[starts[c] + rng.integers(rcount[c])])
            if a == b or (images is not None and images[a] == images[b]):
                continue
            key = (min(a, b), max(a, b)) if left is right else (a, b)
            if key in seen:
                continue
            seen.add(key)
            i1s.append(a)
            i2s.append(b)
    # different pairs: uniform over left x right with different identities
    j1s, j2s = [], []
    tries = 0
    while len(j1s) < n_diff and tries < 50 * max(1, n_diff):
        m = max(16, 2 * (n_diff - len(j1s)))
        a = left[rng.integers(left.size, size=m)]
        b = right[rng.integers(right.size, size=m)]
        ok = codes[a] != codes[b]
        j1s.extend(a[ok][: n_diff - len(j1s)].tolist())
        j2s.extend(b[ok][: n_diff - len(j2s)].tolist())
        tries += m
    if not j1s and n_diff:
        raise InputError("cannot sample different-identity pairs: only one identity present")
    i1 = np.array(i1s + j1s, dtype=np.int64)
    i2 = np.array(i2s + j2s, dtype=np.int64)
    same = np.r_[np.ones(len(i1s), np.int8), np.zeros(len(j1s), np.int8)]
    perm = rng.permutation(i1.size)
    return i1[perm], i2[perm], same[perm]
