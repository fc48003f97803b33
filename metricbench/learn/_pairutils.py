"""Shared helpers of the pair-learning metrics (learned cosine, verifier, norm, fusion, lmnn).

Thin adapters over the one implementation of each job: statistics
(:class:`~metricbench.learn.stats.ScatterStats`), the LDA
(:func:`~metricbench.learn.linear.lda_directions`), the AUROC
(:func:`~metricbench.model_selection.pair_auroc`) and the pair sampler
(:func:`~metricbench.model_selection.sample_pairs`). Everything works in row chunks on
float32 inputs (a memmap is fine).
"""

from __future__ import annotations

import numpy as np

from metricbench.config import get_chunk_n_rows
from metricbench.errors import InputError
from metricbench.learn.linear import lda_directions
from metricbench.learn.stats import ScatterStats, eigh_desc
from metricbench.model_selection._scorer import pair_auroc as auroc  # noqa: F401  (the one AUROC)
from metricbench.model_selection._split import cross_groups_of, sample_pairs


def column_mean(X) -> np.ndarray:
    """Mean row of ``X`` (n, d), streamed in chunks, float64."""
    n, d = X.shape
    step = get_chunk_n_rows(8 * max(1, d))
    s = np.zeros(d)
    for a in range(0, n, step):
        s += np.asarray(X[a : a + step], dtype=np.float64).sum(0)
    return s / n


def mean_and_scatter(X, codes: np.ndarray | None = None, n_classes: int = 0):
    """Mean, total covariance and (with ``codes``) within-class covariance (ddof 0, class
    priors as weights), from :class:`~metricbench.learn.stats.ScatterStats` (one pass).

    Returns
    -------
    mean : ndarray of shape (n_features,)
    total : ndarray of shape (n_features, n_features)
    within : ndarray of shape (n_features, n_features) or None
    """
    y = np.zeros(X.shape[0], dtype=np.int64) if codes is None else np.asarray(codes)
    st = ScatterStats.from_data(X, y)
    return st.mean, st.total, (None if codes is None else st.within)


def pca_basis(total: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` eigenvectors (rows, descending) and eigenvalues of a covariance matrix."""
    w, V = eigh_desc(total)
    return V[:, :k].T.copy(), np.clip(w[:k], 0.0, None)


def lda_basis(total: np.ndarray, within: np.ndarray, k: int, shrinkage: float = 1e-3):
    """Top-``k`` LDA directions as rows (``v^T W v = 1``), by the one LDA
    (:func:`metricbench.learn.linear.lda_directions`) with ``W = within + shrinkage *
    mean(diag(within)) * I``."""
    d = total.shape[0]
    W = within + shrinkage * max(np.trace(within) / d, 1e-12) * np.eye(d)
    evals, V = lda_directions(total - within, W, d + 1, 0.0, k)
    return V.T.copy(), evals


def unit_rows(Z: np.ndarray, eps: float = 1e-12) -> tuple[np.ndarray, np.ndarray]:
    """Rows scaled to unit length, and the original norms (zero rows stay zero)."""
    nrm = np.sqrt(np.einsum("ij,ij->i", Z, Z))
    return Z / np.maximum(nrm, eps)[:, None], nrm


def validation_pairs(y, groups, *, n_pairs: int, seed: int = 0, random_state=None):
    """Pairs on held-out rows: across the two variants when ``groups`` has exactly two."""
    rs = seed if random_state is None else random_state
    cross = cross_groups_of(groups)
    return sample_pairs(y, n_pairs=n_pairs, random_state=rs, variants=groups if cross else None, cross=cross)


def check_groups(groups, n: int):
    if groups is None:
        return None
    groups = np.asarray(groups)
    if groups.shape != (n,):
        raise InputError(f"groups must give one tag per train row ({n}), got shape {groups.shape}")
    return groups
