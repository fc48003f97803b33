"""Scatter matrices of labelled embeddings, accumulated in float64 row chunks.

Shared by the classical verification metrics (:mod:`metricbench.learn.linear`,
:mod:`~metricbench.learn.mahalanobis`, :mod:`~metricbench.learn.plda`,
:mod:`~metricbench.learn.kissme`). Nothing here materialises more than a chunk of
rows in float64 or anything of size ``n x n``; every statistic is a ``d x d`` sum,
so the full competition size (454,714 x 512) costs a few passes over the rows.

Conventions
-----------
* ``St`` total covariance, ddof 0.
* ``Sb`` between-class scatter ``sum_c (n_c / n) (m_c - mu)(m_c - mu)^T``.
* ``Sw`` pooled within-class covariance ``(1/n) sum_i (x_i - m_c(i))(x_i - m_c(i))^T``
  = ``St - Sb`` (scikit-learn's ``LinearDiscriminantAnalysis`` convention: class
  covariances weighted by the class priors).
* Pair scatters: ``sum (x_i - x_j)(x_i - x_j)^T`` over ordered pairs ``i != j``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from metricbench.config import get_chunk_n_rows
from metricbench.errors import InputError

def iter_blocks(X, chunk: int | None = None):
    """Yield ``(start, block)`` with ``block`` a float64 copy of ``X[start:start+chunk]``.

    ``chunk`` defaults to the rows the working-memory budget allows (:mod:`metricbench.config`).
    """
    if chunk is None:
        chunk = get_chunk_n_rows(16 * max(1, X.shape[1]))  # the block and one temporary
    for a in range(0, X.shape[0], chunk):
        yield a, np.asarray(X[a : a + chunk], dtype=np.float64)


def class_codes(y) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``classes, codes, counts`` of the labels ``y`` (codes index classes)."""
    y = np.asarray(y)
    classes, codes = np.unique(y, return_inverse=True)
    codes = codes.astype(np.int64).ravel()
    return classes, codes, np.bincount(codes, minlength=classes.size)


def weighted_gram(X, mean, weights=None, rows=None) -> np.ndarray:
    """``sum_i w_i (x_i - mean)(x_i - mean)^T`` over ``rows`` (all if None), chunked."""
    d = X.shape[1]
    G = np.zeros((d, d))
    for a, blk in iter_blocks(X):
        sl = np.arange(a, a + blk.shape[0])
        keep = None if rows is None else rows[sl]
        B = blk - mean
        w = None if weights is None else weights[sl]
        if keep is not None:
            B = B[keep]
            w = None if w is None else w[keep]
        if w is None:
            G += B.T @ B
        else:
            G += (B * w[:, None]).T @ B
    return G


def class_sums(X, codes, n_classes: int, mean, rows=None) -> np.ndarray:
    """Per-class sums of ``x - mean`` (n_classes, d), over ``rows`` (bool mask) if given."""
    from scipy.sparse import csr_matrix

    S = np.zeros((n_classes, X.shape[1]))
    for a, blk in iter_blocks(X):
        c = codes[a : a + blk.shape[0]]
        B = blk - mean
        if rows is not None:
            keep = rows[a : a + blk.shape[0]]
            B, c = B[keep], c[keep]
        # one sparse (n_classes x rows) indicator product instead of a slow np.add.at
        ind = csr_matrix((np.ones(c.size), (c, np.arange(c.size))), shape=(n_classes, c.size))
        S += ind @ B
    return S


def row_mean(X) -> np.ndarray:
    s = np.zeros(X.shape[1])
    for _, blk in iter_blocks(X):
        s += blk.sum(0)
    return s / X.shape[0]


@dataclass
class Scatter:
    """Moments of labelled rows (see module docstring for the conventions)."""

    mean: np.ndarray  # (d,)
    St: np.ndarray  # (d, d) total covariance, ddof 0
    Sb: np.ndarray  # (d, d) between-class scatter, prior weighted
    Sw: np.ndarray  # (d, d) pooled within-class covariance, = St - Sb
    n: int
    n_classes: int
    n_multi: int  # classes with 2+ rows

    @property
    def Sw_unbiased(self) -> np.ndarray:
        """Pooled within-class covariance with ``n - C`` degrees of freedom."""
        return self.Sw * self.n / max(1, self.n - self.n_classes)


def scatter(X, y) -> Scatter:
    """Total, between- and within-class scatter of ``X`` (n, d) with labels ``y`` (n,)."""
    X = _check_X(X)
    classes, codes, counts = class_codes(y)
    n = X.shape[0]
    mean = row_mean(X)
    St = weighted_gram(X, mean) / n
    S = class_sums(X, codes, classes.size, mean)  # n_c (m_c - mu)
    Sb = (S / counts[:, None]).T @ S / n
    Sw = St - Sb
    return Scatter(mean, St, Sb, _sym(Sw), n, int(classes.size), int((counts >= 2).sum()))


def mean_class_covariance(X, y, mean=None) -> np.ndarray:
    """WCCN's within-class covariance: the plain average over classes with 2+ rows of each
    class's covariance (ddof 0), ``(1/C) sum_c (1/n_c) sum_{i in c} (x_i - m_c)(x_i - m_c)^T``."""
    X = _check_X(X)
    classes, codes, counts = class_codes(y)
    multi = counts >= 2
    if multi.sum() < 1:
        raise InputError("within-class covariance needs at least one identity with 2 or more rows")
    mean = row_mean(X) if mean is None else mean
    rows = multi[codes]
    w = np.where(rows, 1.0 / counts[codes], 0.0)
    G = weighted_gram(X, mean, w, rows)
    S = class_sums(X, codes, classes.size, mean, rows)
    Sm = S[multi] / counts[multi][:, None]  # m_c - mean
    return _sym((G - Sm.T @ Sm) / multi.sum())


def pair_scatter(X, y, *, groups=None, cross=None, class_weight: str = "pairs", mean=None):
    """Scatter of differences over same-identity pairs and over all pairs.

    Parameters
    ----------
    X : ndarray of shape (n, d)
    y : array-like of shape (n,)
    groups : array-like of shape (n,), optional
        Variant tag per row.
    cross : tuple (a, b), optional
        With ``groups``, only pairs joining a row of group ``a`` with a row of group ``b``.
        Without it, every pair of distinct rows.
    class_weight : {"pairs", "rows"}
        ``"pairs"``: every same-identity pair weighs 1 (KISSME's estimate, dominated by the
        identities with most rows); ``"rows"``: the pairs of identity ``c`` weigh
        ``2 / (|A_c| + |B_c|)`` each, so an identity weighs about as much as it has rows
        (the weighting of a pooled within-class covariance).

    Returns
    -------
    same, n_same, every, n_every
        ``same`` (d, d) the (weighted) sum of ``(x_i - x_j)(x_i - x_j)^T`` over ordered
        same-identity pairs ``i != j`` and ``n_same`` its total weight; ``every`` and
        ``n_every`` the plain sum and count over all ordered pairs (any identity). The
        different-identity scatter is ``every - same`` when ``class_weight="pairs"``.
    """
    X = _check_X(X)
    classes, codes, counts = class_codes(y)
    C, n = classes.size, X.shape[0]
    mean = row_mean(X) if mean is None else mean
    if cross is not None:
        if groups is None:
            raise InputError("cross pairs need groups (a variant tag per train row)")
        g = np.asarray(groups)
        A, B = g == cross[0], g == cross[1]
        if not A.any() or not B.any():
            raise InputError(f"no train rows in group {cross[0]!r} or {cross[1]!r}")
    else:
        A = B = np.ones(n, dtype=bool)
    nA = np.bincount(codes[A], minlength=C).astype(np.float64)
    nB = np.bincount(codes[B], minlength=C).astype(np.float64)
    nAB = np.bincount(codes[A & B], minlength=C).astype(np.float64)  # rows on both sides (i == j excluded)
    npairs = nA * nB - nAB
    if class_weight == "pairs":
        wc = np.ones(C)
    elif class_weight == "rows":
        wc = np.where(npairs > 0, 2.0 / np.maximum(nA + nB, 1.0), 0.0)
    else:
        raise InputError(f"class_weight must be 'pairs' or 'rows', got {class_weight!r}")
    # sum_{i in A_c, j in B_c} (x_i - x_j)(x_i - x_j)^T
    #   = |B_c| Q_Ac + |A_c| Q_Bc - S_Ac S_Bc^T - S_Bc S_Ac^T
    wa = (wc * nB)[codes]
    wb = (wc * nA)[codes]
    SA = class_sums(X, codes, C, mean, A)
    SB = SA if B is A else class_sums(X, codes, C, mean, B)
    if A is B:
        same = 2.0 * weighted_gram(X, mean, wa) - 2.0 * (SA * wc[:, None]).T @ SA
    else:
        same = weighted_gram(X, mean, wa, A) + weighted_gram(X, mean, wb, B)
        cross_t = (SA * wc[:, None]).T @ SB
        same -= cross_t + cross_t.T
    n_same = float((wc * npairs).sum())
    # all pairs, any identity
    tA, tB = float(A.sum()), float(B.sum())
    sA, sB = SA.sum(0), SB.sum(0)
    if A is B:
        every = 2.0 * tA * weighted_gram(X, mean) - 2.0 * np.outer(sA, sA)
        n_every = tA * tA - tA
    else:
        every = tB * weighted_gram(X, mean, None, A) + tA * weighted_gram(X, mean, None, B)
        ct = np.outer(sA, sB)
        every -= ct + ct.T
        n_every = tA * tB - float((A & B).sum())
    return _sym(same), n_same, _sym(every), n_every


def cross_groups_from(groups, cross=None):
    """The two variant tags to pair across: ``cross`` if given, else the two tags of
    ``groups`` when it has exactly two (sorted); None otherwise."""
    if cross is not None:
        if isinstance(cross, str):
            cross = tuple(x.strip() for x in cross.split(",") if x.strip())
        if len(cross) != 2:
            raise InputError(f"cross_groups must name two variant tags, got {cross!r}")
        return tuple(cross)
    if groups is None:
        return None
    vals = sorted(set(np.asarray(groups).tolist()))
    return tuple(vals) if len(vals) == 2 else None


def resolve_within(within: str, groups=None, cross_groups=None):
    """The ``within`` option resolved: ``("all", None)`` or ``("cross", (tag_a, tag_b))``.

    ``"auto"`` is ``"cross"`` when ``groups`` (or ``cross_groups``) names two variants, else ``"all"``.
    """
    if within not in ("auto", "all", "cross"):
        raise InputError(f"within must be 'auto', 'all' or 'cross', got {within!r}")
    cg = cross_groups_from(groups, cross_groups)
    if within == "all" or (within == "auto" and cg is None):
        return "all", None
    if cg is None:
        raise InputError("within='cross' needs fit(X, y, groups=...) with two variant tags, or cross_groups")
    return "cross", cg


def within_covariance(X, y, *, within: str = "auto", groups=None, cross_groups=None):
    """Within-identity covariance of the kind ``within`` asks for, and the kind used.

    ``"all"``: pooled within-class covariance (``n - C`` degrees of freedom).
    ``"cross"``: half the mean second moment of ``x_a - x_b`` over same-identity pairs joining
    the two variants (for example clean vs degraded), identities weighted by their rows:
    the noise a cross-variant pair actually sees, including the systematic shift.
    ``"auto"``: ``"cross"`` when ``groups`` names two variants, else ``"all"``.
    """
    kind, cg = resolve_within(within, groups, cross_groups)
    if kind == "all":
        return scatter(X, y).Sw_unbiased, "all"
    same, n_same, _, _ = pair_scatter(X, y, groups=groups, cross=cg, class_weight="rows")
    if n_same <= 0:
        raise InputError(f"no identity has rows in both groups {cg[0]!r} and {cg[1]!r}")
    return same / (2.0 * n_same), f"cross {cg[0]}/{cg[1]}"


def shrink(S: np.ndarray, alpha: float) -> np.ndarray:
    """``(1 - alpha) S + alpha (trace(S) / d) I``."""
    d = S.shape[0]
    return (1.0 - alpha) * S + alpha * (np.trace(S) / d) * np.eye(d)


def clip_psd(S: np.ndarray, floor: float = 0.0) -> np.ndarray:
    """Nearest symmetric matrix with eigenvalues >= ``floor``."""
    w, V = np.linalg.eigh(_sym(S))
    return _sym((V * np.maximum(w, floor)) @ V.T)


def _sym(S: np.ndarray) -> np.ndarray:
    return 0.5 * (S + S.T)


def _check_X(X):
    if np.ndim(X) != 2:
        raise InputError(f"X must be 2-D (n_samples, n_features), got shape {np.shape(X)}")
    if X.shape[0] < 2:
        raise InputError("need at least 2 train rows")
    return X
