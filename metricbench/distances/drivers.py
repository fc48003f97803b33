"""Parallel drivers over the scalar kernels: paired, pairwise blocks, and the pair ordering.

Each ``prange`` iteration writes only its own output slot.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from metricbench.distances.codes import COSINE, EUCLIDEAN, SQEUCLIDEAN
from metricbench.distances.kernels import FASTMATH, cosine, euclidean, pair_distance, sqeuclidean
from metricbench.distances.prefetch import prefetch_row

#: pairs ahead whose rows are prefetched
PREFETCH_DISTANCE = 4


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


@njit(parallel=True, cache=True)
def gather_sorted(index1, index2, order, a1, a2):
    """a1 = index1[order], a2 = index2[order] (the pairs in visiting order, contiguous)."""
    for k in prange(order.shape[0]):
        t = order[k]
        a1[k] = index1[t]
        a2[k] = index2[t]


@njit(parallel=True, cache=True, fastmath=FASTMATH, error_model="numpy")
def paired_sorted(code, X, Y, a1, a2, order, p, w, M, out):
    """out[order[k]] = d(X[a1[k]], Y[a2[k]]) with ``a1`` sorted.

    Each thread walks a contiguous stretch of the sorted pairs: X is read in row
    order (a row serves all its pairs from cache) and only the Y rows are random;
    those are prefetched PREFETCH_DISTANCE pairs ahead so that memory round trips
    overlap with arithmetic. Results land in the caller's order.
    """
    n = a1.shape[0]
    ahead = PREFETCH_DISTANCE
    # the hottest kernels get loops of their own, so that they inline and vectorise
    if code == SQEUCLIDEAN:
        for k in prange(n):
            if k + ahead < n:
                prefetch_row(Y, a2[k + ahead])
            out[order[k]] = sqeuclidean(X[a1[k]], Y[a2[k]])
    elif code == EUCLIDEAN:
        for k in prange(n):
            if k + ahead < n:
                prefetch_row(Y, a2[k + ahead])
            out[order[k]] = euclidean(X[a1[k]], Y[a2[k]])
    elif code == COSINE:
        for k in prange(n):
            if k + ahead < n:
                prefetch_row(Y, a2[k + ahead])
            out[order[k]] = cosine(X[a1[k]], Y[a2[k]])
    else:
        for k in prange(n):
            if k + ahead < n:
                prefetch_row(Y, a2[k + ahead])
            out[order[k]] = pair_distance(code, X[a1[k]], Y[a2[k]], p, w, M)


@njit(parallel=True, cache=True, fastmath=FASTMATH, error_model="numpy")
def paired_plain(code, X, Y, index1, index2, p, w, M, out):
    """out[t] = d(X[index1[t]], Y[index2[t]]) in the given order (the reference loop)."""
    for t in prange(index1.shape[0]):
        out[t] = pair_distance(code, X[index1[t]], Y[index2[t]], p, w, M)


@njit(parallel=True, cache=True, fastmath=FASTMATH, error_model="numpy")
def pairwise_block(code, A, B, p, w, M, out):
    """out[i, j] = d(A[i], B[j]) for a block of rows of A against a block of rows of B."""
    for i in prange(A.shape[0]):
        a = A[i]
        for j in range(B.shape[0]):
            out[i, j] = pair_distance(code, a, B[j], p, w, M)
