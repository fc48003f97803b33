"""Parallel drivers over the scalar kernels: paired, pairwise blocks, and the pair ordering.

Each ``prange`` iteration writes only its own output slot.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from metricbench.distances.kernels import pair_distance


@njit(cache=True)
def counting_order(keys, n_keys):
    """Stable permutation that sorts ``keys`` (ints in [0, n_keys)) in O(n + n_keys)."""
    counts = np.zeros(n_keys + 1, dtype=np.int64)
    for k in range(keys.shape[0]):
        counts[keys[k] + 1] += 1
    for k in range(n_keys):
        counts[k + 1] += counts[k]
    order = np.empty(keys.shape[0], dtype=np.int64)
    for k in range(keys.shape[0]):
        key = keys[k]
        order[counts[key]] = k
        counts[key] += 1
    return order


@njit(parallel=True, cache=True, fastmath=True)
def paired_ordered(code, X, Y, index1, index2, order, p, w, M, out):
    """out[t] = d(X[index1[t]], Y[index2[t]]) for t visited in ``order``.

    With ``order`` sorting ``index1``, each thread streams through X in row order
    (one row serves all its pairs from cache) and only the Y side is read at random.
    """
    for k in prange(order.shape[0]):
        t = order[k]
        out[t] = pair_distance(code, X[index1[t]], Y[index2[t]], p, w, M)


@njit(parallel=True, cache=True, fastmath=True)
def paired_plain(code, X, Y, index1, index2, p, w, M, out):
    """out[t] = d(X[index1[t]], Y[index2[t]]) in the given order (the reference loop)."""
    for t in prange(index1.shape[0]):
        out[t] = pair_distance(code, X[index1[t]], Y[index2[t]], p, w, M)


@njit(parallel=True, cache=True, fastmath=True)
def pairwise_block(code, A, B, p, w, M, out):
    """out[i, j] = d(A[i], B[j]) for a block of rows of A against a block of rows of B."""
    for i in prange(A.shape[0]):
        a = A[i]
        for j in range(B.shape[0]):
            out[i, j] = pair_distance(code, a, B[j], p, w, M)
