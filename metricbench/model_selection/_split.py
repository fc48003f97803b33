"""Identity-disjoint splits and seeded pair sampling (the one implementation).

Test identities of a verification benchmark are never seen in train, so a local estimate
must hold out *identities*, never images of identities used for fitting. Held-out pairs
follow the project's pairing rule: with two variant tags (clean / degraded) every pair
joins one row of each, and a same-identity pair never joins an image with its own
degraded copy. Every random choice takes ``random_state``.
"""

from __future__ import annotations

import numpy as np

from metricbench import _constraints as dom
from metricbench.errors import InputError


def _rng(random_state) -> np.random.Generator:
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(random_state.randint(2**31))
    return np.random.default_rng(random_state)


def _seed_int(random_state, offset: int = 0):
    """An int seed ``random_state + offset`` for int states; a drawn one otherwise."""
    if random_state is None or isinstance(random_state, (np.random.Generator, np.random.RandomState)):
        return int(_rng(random_state).integers(2**31))
    return int(random_state) + offset


def class_codes(y) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The one label encoder: ``classes, codes, counts`` of labels ``y``.

    Parameters
    ----------
    y : array-like of shape (n_samples,)

    Returns
    -------
    classes : ndarray of shape (n_classes,)
        Sorted distinct labels.
    codes : ndarray of int64, shape (n_samples,)
        Index of each row's label in ``classes``.
    counts : ndarray of int64, shape (n_classes,)
        Rows per class.
    """
    classes, codes = np.unique(np.asarray(y), return_inverse=True)
    codes = codes.astype(np.int64).ravel()
    return classes, codes, np.bincount(codes, minlength=classes.size).astype(np.int64)


def cross_groups_of(variants, cross=None) -> tuple | None:
    """The two variant tags to pair across: ``cross`` if given (a pair, or ``"a,b"``), else the
    two tags of ``variants`` when it holds exactly two (sorted); None otherwise."""
    if cross is not None:
        if isinstance(cross, str):
            cross = tuple(x.strip() for x in cross.split(",") if x.strip())
        if len(cross) != 2:
            raise InputError(f"cross_groups must name two variant tags, got {cross!r}")
        return tuple(cross)
    if variants is None:
        return None
    vals = sorted(set(np.asarray(variants).tolist()))
    return tuple(vals) if len(vals) == 2 else None


def identity_split(y, *, holdout: float = 0.2, random_state=0, min_images: int = 2):
    """Split rows into a fitting part and a held-out part with disjoint identities.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Identity label of each row (ints or strings).
    holdout : float in (0, 1)
        Fraction of the identities with at least ``min_images`` rows to hold out (only they
        can form same-identity pairs; identities with fewer rows stay on the fitting side).
    random_state : int, Generator or None
        Seed of the identity draw.

    Returns
    -------
    fit_mask, val_mask : ndarray of bool, shape (n_samples,)
        Disjoint masks; no identity has rows on both sides.

    Raises
    ------
    InputError
        ``holdout`` outside (0, 1), or fewer than 4 identities with ``min_images`` rows.
    """
    if not 0.0 < float(holdout) < 1.0:
        raise InputError(f"holdout must be between 0 and 1, got {holdout}")
    classes, codes, _ = class_codes(y)
    counts = np.bincount(codes, minlength=classes.size)
    eligible = np.flatnonzero(counts >= min_images)
    if eligible.size < 4:
        raise InputError(
            f"identity-disjoint validation needs at least 4 identities with {min_images}+ images, "
            f"found {eligible.size}"
        )
    rng = _rng(random_state)
    n_val = max(2, int(round(holdout * eligible.size)))
    val_ids = rng.choice(eligible, size=n_val, replace=False)
    is_val = np.zeros(classes.size, dtype=bool)
    is_val[val_ids] = True
    val_mask = is_val[codes]
    return ~val_mask, val_mask


def sample_pairs(y, *, n_pairs: int = 20000, same_fraction: float = 0.5, random_state=0, variants=None,
                 cross=None, images=None):
    """Seeded labelled pairs of rows: ``same_fraction`` same-identity, the rest different.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Identity labels.
    n_pairs : int
        Pairs wanted (fewer same pairs are returned if not enough exist).
    same_fraction : float in [0, 1]
    random_state : int, Generator or None
        Seed of every draw.
    variants : array-like of shape (n_samples,), optional
        Variant tag per row (for example ``"clean"`` / ``"xq40"``). With ``cross=(a, b)``
        every pair joins a row of variant ``a`` (first) with one of ``b`` (second).
    cross : (a, b), optional
    images : array-like of shape (n_samples,), optional
        Source image per row (variants of one image share it): same pairs never join two
        rows of one image.

    Returns
    -------
    index1, index2 : ndarray of int64, shape (n_pairs_drawn,)
    same : ndarray of int8, shape (n_pairs_drawn,)
        1 for a same-identity pair.

    Raises
    ------
    InputError
        ``n_pairs < 1``, an empty variant, or a single identity.
    """
    if int(n_pairs) < 1:
        raise InputError(f"n_pairs must be a positive integer, got {n_pairs}")
    if not 0.0 <= float(same_fraction) <= 1.0:
        raise InputError(f"same_fraction must be between 0 and 1, got {same_fraction}")
    y = np.asarray(y)
    classes, codes, _ = class_codes(y)
    images = None if images is None else np.asarray(images)
    rng = _rng(random_state)
    n_same = int(round(n_pairs * same_fraction))
    n_diff = int(n_pairs) - n_same

    if variants is not None and cross is not None:
        variants = np.asarray(variants)
        left = np.flatnonzero(variants == cross[0])
        right = np.flatnonzero(variants == cross[1])
        if left.size == 0 or right.size == 0:
            raise InputError(f"no rows in variant {cross[0]!r} or {cross[1]!r}")
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
    self_in_right = np.isin(left, right)
    usable = rcount[lcodes] - self_in_right.astype(np.int64) > 0
    cand = left[usable]
    i1s, i2s = [], []
    every = _all_same_pairs(left, right, codes, rsorted, starts, rcount, images, cap=n_same) if n_same else None
    if every is not None:
        # no more distinct same pairs exist than are wanted: all of them, without drawing (drawing would
        # try 20 n_same times to find the last few)
        i1s, i2s = every[0].tolist(), every[1].tolist()
    elif cand.size and n_same:
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


def _all_same_pairs(left, right, codes, rsorted, starts, rcount, images, *, cap: int):
    """Every distinct same-identity pair :func:`sample_pairs` could draw, when there are at most ``cap``
    of them (else None): rows of one identity, not a row with itself nor two rows of one image; unordered
    ``(a, b)`` with ``a < b`` when both sides are all rows, else ``a`` from ``left`` and ``b`` from ``right``.
    Ordered by identity, then rows."""
    same_side = left is right
    lcount = np.bincount(codes[left], minlength=rcount.size)
    bound = lcount * rcount  # ordered pairs, an upper bound of the distinct ones
    if int(bound.sum()) // (2 if same_side else 1) > 4 * cap + 64:
        return None  # surely more than wanted (at most rows-of-one-image fewer): draw
    lorder = left[np.argsort(codes[left], kind="stable")]
    lstarts = np.concatenate([[0], np.cumsum(lcount)])
    out1, out2 = [], []
    for c in np.flatnonzero(bound):
        a = lorder[lstarts[c]:lstarts[c + 1]]
        b = rsorted[starts[c]:starts[c] + rcount[c]]
        aa, bb = np.repeat(a, b.size), np.tile(b, a.size)
        keep = aa < bb if same_side else aa != bb
        if images is not None:
            keep &= images[aa] != images[bb]
        out1.append(aa[keep])
        out2.append(bb[keep])
    i1 = np.concatenate(out1) if out1 else np.zeros(0, np.int64)
    i2 = np.concatenate(out2) if out2 else np.zeros(0, np.int64)
    return (i1.astype(np.int64), i2.astype(np.int64)) if i1.size <= cap else None


class HeldOutPairs:
    """One identity-disjoint split with its held-out pairs (what :meth:`IdentityPairSplit.pairs`
    yields).

    Attributes
    ----------
    fit_rows : ndarray of int64
        Rows of the identities a candidate is fitted on.
    val_rows : ndarray of int64
        Every row of the held-out identities.
    index1, index2 : ndarray of int64
        The held-out pairs, as row indices of the whole matrix.
    same : ndarray of int8
    cross : (a, b) or None
        The variant tags the pairs join.
    random_state : int
        Seed of the identity draw (the pairs use ``random_state + 1``).
    """

    def __init__(self, fit_rows, val_rows, index1, index2, same, cross, random_state):
        self.fit_rows, self.val_rows = fit_rows, val_rows
        self.index1, self.index2, self.same = index1, index2, same
        self.cross, self.random_state = cross, random_state

    @property
    def val_index1(self) -> np.ndarray:
        """``index1`` as positions in ``val_rows`` (for scoring ``X[val_rows]``)."""
        return np.searchsorted(self.val_rows, self.index1)

    @property
    def val_index2(self) -> np.ndarray:
        return np.searchsorted(self.val_rows, self.index2)

    @property
    def test_indices(self) -> np.ndarray:
        """The pairs as one index array: left rows, then right rows."""
        return np.r_[self.index1, self.index2]


class IdentityPairSplit:
    """Identity-disjoint splits whose test part is a list of labelled pairs.

    A scikit-learn splitter (``split(X, y, groups)``, ``get_n_splits``; ``groups`` are the
    identities, ``y`` when not given): each split holds out a ``test_size`` share of the
    identities with 2+ rows, and its *test indices are pairs* among them, the left rows
    followed by the right rows (so a row may appear more than once and the held-out
    identities' other rows appear in neither list). :func:`pair_auroc_scorer` reads a test
    fold that way, so ``GridSearchCV(metric, grid, cv=IdentityPairSplit(...),
    scoring=pair_auroc_scorer)`` selects settings on identity-disjoint pairs.

    Parameters
    ----------
    n_splits : int
        Independent random splits (split ``i`` uses ``random_state + 2 i``).
    test_size : float in (0, 1)
        Share of identities held out.
    n_pairs : int
        Pairs per split (``same_fraction`` of them same-identity).
    same_fraction : float
    variants : array-like of shape (n_samples,), optional
        Variant tag per row; with exactly two tags (or ``cross``) every pair joins one of each.
    images : array-like of shape (n_samples,), optional
        Source image per row: a same pair never joins an image with its own copy.
    cross : (a, b), optional
    random_state : int
    """

    #: domain of every parameter (scikit-learn's form), checked when the splitter is built, as
    #: scikit-learn's own splitters check theirs; a split needs both kinds of pair, so
    #: ``same_fraction`` is strictly between 0 and 1
    _parameter_constraints: dict = {
        "n_splits": [dom.POS_INT],
        "test_size": [dom.reals(0, 1, closed="neither")],
        "n_pairs": [dom.ints(2)],
        "same_fraction": [dom.reals(0, 1, closed="neither")],
        "variants": ["array-like", None],
        "images": ["array-like", None],
        "cross": [tuple, list, str, None],
        "random_state": dom.SEED,
    }

    def __init__(self, n_splits: int = 1, *, test_size: float = 0.2, n_pairs: int = 20000,
                 same_fraction: float = 0.5, variants=None, images=None, cross=None, random_state=0):
        self.n_splits = n_splits
        self.test_size = test_size
        self.n_pairs = n_pairs
        self.same_fraction = same_fraction
        self.variants = variants
        self.images = images
        self.cross = cross
        self.random_state = random_state
        self.check_params()

    def check_params(self):
        """Check every parameter against :attr:`_parameter_constraints` (no data needed).

        Returns
        -------
        self

        Raises
        ------
        ParameterError
            One line naming the parameter, the valid domain and the value given.
        """
        dom.check_table(self, type(self).__name__)
        return self

    def __repr__(self) -> str:
        return (f"IdentityPairSplit(n_splits={self.n_splits}, test_size={self.test_size}, "
                f"n_pairs={self.n_pairs}, random_state={self.random_state!r})")

    def get_n_splits(self, X=None, y=None, groups=None) -> int:
        return int(self.n_splits)

    def pairs(self, X=None, y=None, groups=None, *, variants=None, images=None):
        """Yield one :class:`HeldOutPairs` per split.

        ``variants`` / ``images`` override the ones given at construction (a search passes
        the ones of the rows it is fitted on).
        """
        ids = groups if groups is not None else y
        if ids is None:
            raise InputError("IdentityPairSplit needs identity labels: pass y or groups")
        ids = np.asarray(ids)
        n = ids.shape[0]
        if X is not None and np.shape(X)[0] != n:
            raise InputError(f"X has {np.shape(X)[0]} rows but the identity labels {n}")
        variants = self.variants if variants is None else variants
        images = self.images if images is None else images
        for name, a in (("variants", variants), ("images", images)):
            if a is not None and np.shape(a) != (n,):
                raise InputError(f"{name} must give one value per row ({n}), got shape {np.shape(a)}")
        cross = cross_groups_of(variants, self.cross)
        if int(self.n_splits) < 1:
            raise InputError(f"n_splits must be at least 1, got {self.n_splits}")
        for i in range(int(self.n_splits)):
            seed = _seed_int(self.random_state, 2 * i)
            fit_mask, val_mask = identity_split(ids, holdout=self.test_size, random_state=seed)
            val_rows = np.flatnonzero(val_mask)
            v = None if variants is None else np.asarray(variants)[val_rows]
            im = None if images is None else np.asarray(images)[val_rows]
            i1, i2, same = sample_pairs(
                ids[val_rows], n_pairs=self.n_pairs, same_fraction=self.same_fraction, random_state=seed + 1,
                variants=v if cross else None, cross=cross, images=im,
            )
            if same.size == 0 or same.min() == same.max():
                raise InputError(
                    "identity-disjoint validation drew only one kind of pair; give more identities or pairs"
                )
            yield HeldOutPairs(np.flatnonzero(fit_mask), val_rows, val_rows[i1], val_rows[i2], same, cross, seed)

    def split(self, X, y=None, groups=None):
        """Yield ``(train, test)`` index arrays; ``test`` lists the pairs (left rows, then right rows)."""
        for p in self.pairs(X, y, groups):
            yield p.fit_rows, p.test_indices


__all__ = ["HeldOutPairs", "IdentityPairSplit", "cross_groups_of", "identity_split", "sample_pairs"]
