"""Shared helpers of the pair-learning metrics (learned cosine, verifier, norm, fusion).

Everything here works in row chunks on float32 inputs (a memmap is fine), so the
competition's full 454,714 x 512 train set is never copied to float64 at once.
"""

from __future__ import annotations

import numpy as np

from metricbench.config import get_chunk_n_rows
from metricbench.errors import InputError

def _chunk_rows(d: int) -> int:
    """Rows per chunk when streaming a (n, d) matrix as float64 (the working-memory budget)."""
    return get_chunk_n_rows(8 * max(1, d))


def column_mean(X) -> np.ndarray:
    """Mean row of ``X`` (n, d), streamed in chunks, float64."""
    n, d = X.shape
    step = _chunk_rows(d)
    s = np.zeros(d)
    for a in range(0, n, step):
        s += np.asarray(X[a : a + step], dtype=np.float64).sum(0)
    return s / n


def auroc(same, score) -> float:
    """Area under the ROC curve of ``score`` (larger = more alike) for labels ``same``.

    Ties count one half (the Mann-Whitney statistic), as scikit-learn's ``roc_auc_score``.
    """
    from scipy.stats import rankdata

    same = np.asarray(same).astype(bool)
    score = np.asarray(score, dtype=np.float64)
    n_pos = int(same.sum())
    n_neg = same.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    r = rankdata(score)
    return float((r[same].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def class_codes(y) -> tuple[np.ndarray, np.ndarray]:
    """``(classes, codes)``: the sorted distinct labels and each row's code into them."""
    classes, codes = np.unique(np.asarray(y), return_inverse=True)
    return classes, codes.astype(np.int64)


def mean_and_scatter(X, codes: np.ndarray | None = None, n_classes: int = 0):
    """Mean, total covariance and (with ``codes``) within-class covariance, streamed in chunks.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Rows (float32 or float64; a memmap is read chunk by chunk).
    codes : ndarray of shape (n_samples,), optional
        Class code of each row (0 .. n_classes - 1).

    Returns
    -------
    mean : ndarray of shape (n_features,)
    total : ndarray of shape (n_features, n_features)
        ``sum((x - mean)(x - mean)^T) / n``.
    within : ndarray of shape (n_features, n_features) or None
        ``sum((x - mean_c)(x - mean_c)^T) / n`` (None without ``codes``).
    """
    n, d = X.shape
    step = _chunk_rows(d)
    mean = column_mean(X)
    total = np.zeros((d, d))
    sums = np.zeros((n_classes, d)) if codes is not None else None
    for a in range(0, n, step):
        blk = np.asarray(X[a : a + step], dtype=np.float64) - mean
        # the d x d product in float32 (twice as fast), accumulated over chunks in float64
        b32 = blk.astype(np.float32)
        total += b32.T @ b32
        if codes is not None:
            c = codes[a : a + step]
            # per-class sums of the centred rows, via a sparse one-hot product
            from scipy.sparse import csr_matrix

            oh = csr_matrix((np.ones(c.size), (c, np.arange(c.size))), shape=(n_classes, c.size))
            sums += oh @ blk
    total /= n
    if codes is None:
        return mean, total, None
    counts = np.bincount(codes, minlength=n_classes).astype(np.float64)
    nz = counts > 0
    between = (sums[nz].T / counts[nz]) @ sums[nz] / n
    within = total - between
    return mean, total, (within + within.T) / 2.0


def pca_basis(total: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` eigenvectors (rows, descending) and eigenvalues of a covariance matrix."""
    w, V = np.linalg.eigh(total)
    order = np.argsort(w)[::-1][:k]
    return V[:, order].T.copy(), np.clip(w[order], 0.0, None)


def lda_basis(total: np.ndarray, within: np.ndarray, k: int, shrinkage: float = 1e-3):
    """Top-``k`` generalised eigenvectors of (between, within): LDA directions as rows.

    Each row ``v`` is scaled so that ``v^T W v = 1`` (within-class whitening), with
    ``W = within + shrinkage * mean(diag(within)) * I``.
    """
    from scipy.linalg import eigh

    d = total.shape[0]
    W = within + shrinkage * max(np.trace(within) / d, 1e-12) * np.eye(d)
    between = total - within
    w, V = eigh((between + between.T) / 2.0, W)
    order = np.argsort(w)[::-1][:k]
    return V[:, order].T.copy(), w[order]


def unit_rows(Z: np.ndarray, eps: float = 1e-12) -> tuple[np.ndarray, np.ndarray]:
    """Rows scaled to unit length, and the original norms (zero rows stay zero)."""
    nrm = np.sqrt(np.einsum("ij,ij->i", Z, Z))
    return Z / np.maximum(nrm, eps)[:, None], nrm


def validation_pairs(y, groups, *, n_pairs: int, seed: int):
    """Pairs on held-out rows: across the two groups when ``groups`` has exactly two values."""
    from metricbench.evaluation.splits import sample_pairs

    cross = None
    if groups is not None:
        vals = np.unique(np.asarray(groups))
        if vals.size == 2:
            cross = (vals[0], vals[1])
    return sample_pairs(y, n_pairs=n_pairs, seed=seed, groups=groups if cross else None, cross_groups=cross)


def check_groups(groups, n: int):
    if groups is None:
        return None
    groups = np.asarray(groups)
    if groups.shape != (n,):
        raise InputError(f"groups must give one tag per train row ({n}), got shape {groups.shape}")
    return groups
