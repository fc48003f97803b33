"""Parallel drivers over the scalar kernels: paired, pairwise blocks, and the pair ordering.

Each ``prange`` iteration writes only its own output slot.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from metricbench.distances.codes import COSINE, EUCLIDEAN, SQEUCLIDEAN
from metricbench.distances.kernels import _BIG, _TINY, FASTMATH, cosine, euclidean, pair_distance, sqeuclidean
from metricbench.distances.prefetch import prefetch_row, prefetch_row_l1

#: pairs ahead whose rows are prefetched (into L2: :data:`metricbench.distances.prefetch.LOCALITY`;
#: this module's compiled code is cached on disk against this file's source, so a change of that
#: constant takes effect here only with a change of this file)
PREFETCH_DISTANCE = 4
#: pairs ahead whose rows are moved on from L2 into L1 (:func:`metricbench.distances.prefetch.prefetch_row_l1`)
L1_DISTANCE = 2
#: distances whose finite check is fused into the paired kernel (a non-finite row makes its sums non-finite)
FUSED_CHECK = (SQEUCLIDEAN, EUCLIDEAN, COSINE)


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


@njit(cache=True)
def bucket_sort(index1, index2, n1, n2, starts, order, a2, packed, bits):
    """Stable counting sort of the pairs by ``index1``, with the range checks, in one serial call.

    One pass counts ``index1`` into ``starts``, checks both index ranges and whether ``index1`` is
    already non-decreasing; then prefix sums give ``starts`` (``starts[r]`` = first sorted position of
    row r, ``starts[n1]`` = n) and, unless the pairs are already sorted, a second pass writes, for each
    sorted position, the caller's position k and ``index2[k]``: packed into one int64
    ``packed[pos] = k << bits | index2[k]`` when ``packed`` is not empty, else into ``order`` and ``a2``.
    The packed form writes one random cache line a pair instead of two: 6.3 ms against 10.4 ms for
    1,000,000 pairs on 100,000 rows (a scratch run under the benchmark lock, load average 10).
    Serial on purpose: a parallel scatter had both threads writing into the same lines (each row's
    bucket is contiguous, and both threads hold pairs of every row) and took 2.3x the serial time in a
    scratch run; the passes are a few milliseconds per million pairs.

    Returns
    -------
    int
        -1: an index out of range (nothing else is valid); 1: already sorted (``order`` and ``a2`` not
        written); 0: sorted into ``order`` and ``a2``.
    """
    n = index1.shape[0]
    for r in range(n1 + 1):
        starts[r] = 0
    inc = True
    prev = 0
    for k in range(n):
        a = index1[k]
        b = index2[k]
        if a < 0 or a >= n1 or b < 0 or b >= n2:
            return -1
        if a < prev:
            inc = False
        prev = a
        starts[a + 1] += 1
    for r in range(n1):
        starts[r + 1] += starts[r]
    if inc:
        return 1
    if packed.shape[0] > 0:
        for k in range(n):
            key = index1[k]
            pos = starts[key]
            starts[key] = pos + 1
            packed[pos] = (k << bits) | index2[k]
    else:
        for k in range(n):
            key = index1[k]
            pos = starts[key]
            starts[key] = pos + 1
            order[pos] = k
            a2[pos] = index2[k]
    for r in range(n1, 0, -1):  # the scatter moved every start to the next one's: shift back
        starts[r] = starts[r - 1]
    starts[0] = 0
    return 0


@njit(cache=True, inline="always")
def _second(k, a2, packed, mask):
    """Row of the second side of sorted pair k (see :func:`paired_buckets`)."""
    return packed[k] & mask if packed.shape[0] > 0 else a2[k]


@njit(cache=True, inline="always")
def _slot(k, order, packed, bits):
    """The caller's position of sorted pair k, where its result goes (see :func:`paired_buckets`)."""
    if packed.shape[0] > 0:
        return packed[k] >> bits
    return order[k] if order.shape[0] > 0 else k


@njit(cache=True, inline="always")
def _hint(Y, k, n, a2, packed, mask):
    """Prefetch the second rows of sorted pairs k + PREFETCH_DISTANCE (into L2) and k + L1_DISTANCE (L1)."""
    if k + PREFETCH_DISTANCE < n:
        prefetch_row(Y, _second(k + PREFETCH_DISTANCE, a2, packed, mask))
    if k + L1_DISTANCE < n:
        prefetch_row_l1(Y, _second(k + L1_DISTANCE, a2, packed, mask))


@njit(fastmath=FASTMATH, error_model="numpy", cache=True, inline="always")
def _sqnorm(x):
    s = 0.0
    for i in range(x.shape[0]):
        a = np.float64(x[i])
        s += a * a
    return s


@njit(fastmath=FASTMATH, error_model="numpy", cache=True, inline="always")
def _dot_sq(x, y):
    xy = 0.0
    yy = 0.0
    for i in range(x.shape[0]):
        b = np.float64(y[i])
        xy += np.float64(x[i]) * b
        yy += b * b
    return xy, yy


@njit(fastmath=FASTMATH, error_model="numpy", cache=True)
def _chunk_euclidean(X, Y, rows, starts, a2, order, packed, bits, k0, k1, root, out):
    """Pairs k0..k1-1 of :func:`paired_buckets` for sqeuclidean (``root`` False) or euclidean (True).

    Returns the number of pairs flagged NaN: their sum of squares was not finite (a non-finite input,
    or float64 overflow); finite input never gives NaN here.
    """
    n = starts[starts.shape[0] - 1]
    mask = (np.int64(1) << bits) - 1
    dense = rows.shape[0] == 0
    b = np.searchsorted(starts, k0, side="right") - 1
    end = starts[b + 1]
    x = X[b if dense else rows[b]]
    bad = 0
    for k in range(k0, k1):
        if k >= end:
            while k >= starts[b + 1]:  # skips empty buckets; stops before the last since k < n
                b += 1
            end = starts[b + 1]
            x = X[b if dense else rows[b]]
        _hint(Y, k, n, a2, packed, mask)
        y = Y[_second(k, a2, packed, mask)]
        s = sqeuclidean(x, y)
        if not math.isfinite(s):
            bad += 1
            s = np.nan
        elif root:
            s = euclidean(x, y) if s > _BIG or s < _TINY else math.sqrt(s)
        out[_slot(k, order, packed, bits)] = s
    return bad


@njit(fastmath=FASTMATH, error_model="numpy", cache=True)
def _chunk_cosine(X, Y, rows, starts, a2, order, packed, bits, k0, k1, out):
    """Pairs k0..k1-1 of :func:`paired_buckets` for cosine; |x|^2 once per first row. NaN flags as above."""
    n = starts[starts.shape[0] - 1]
    mask = (np.int64(1) << bits) - 1
    dense = rows.shape[0] == 0
    b = np.searchsorted(starts, k0, side="right") - 1
    end = starts[b + 1]
    x = X[b if dense else rows[b]]
    xx = _sqnorm(x)
    bad = 0
    for k in range(k0, k1):
        if k >= end:
            while k >= starts[b + 1]:
                b += 1
            end = starts[b + 1]
            x = X[b if dense else rows[b]]
            xx = _sqnorm(x)
        _hint(Y, k, n, a2, packed, mask)
        y = Y[_second(k, a2, packed, mask)]
        xy, yy = _dot_sq(x, y)
        if not (math.isfinite(xx) and math.isfinite(yy) and math.isfinite(xy)):
            bad += 1
            d = np.nan
        elif xx > _BIG or xx < _TINY or yy > _BIG or yy < _TINY:
            d = cosine(x, y)  # rescales, and the zero-vector conventions
        else:
            d = min(max(1.0 - xy / math.sqrt(xx * yy), 0.0), 2.0)
        out[_slot(k, order, packed, bits)] = d
    return bad


@njit(fastmath=FASTMATH, error_model="numpy", cache=True)
def _chunk_any(code, X, Y, rows, starts, a2, order, packed, bits, k0, k1, p, w, M, out):
    """Pairs k0..k1-1 of :func:`paired_buckets` for any distance (no flags: its input was checked before)."""
    n = starts[starts.shape[0] - 1]
    mask = (np.int64(1) << bits) - 1
    dense = rows.shape[0] == 0
    b = np.searchsorted(starts, k0, side="right") - 1
    end = starts[b + 1]
    x = X[b if dense else rows[b]]
    for k in range(k0, k1):
        if k >= end:
            while k >= starts[b + 1]:
                b += 1
            end = starts[b + 1]
            x = X[b if dense else rows[b]]
        _hint(Y, k, n, a2, packed, mask)
        out[_slot(k, order, packed, bits)] = pair_distance(code, x, Y[_second(k, a2, packed, mask)], p, w, M)
    return 0


@njit(parallel=True, cache=True)
def paired_buckets(code, X, Y, rows, starts, a2, order, packed, bits, p, w, M, out, flags):
    """out[order[k]] = d(X[rows[b]], Y[a2[k]]) for the pairs k of bucket b (``starts[b] <= k < starts[b+1]``).

    Sorted pair k is read from ``packed[k]`` (``order[k] << bits | a2[k]``) when ``packed`` is not
    empty, else from ``order`` and ``a2``; an empty ``order`` (and ``packed``) means the pairs are
    already in the caller's order, ``a2`` being ``index2``.

    The pairs come sorted by their first row: bucket b holds every pair of first row ``rows[b]`` (when
    ``rows`` is empty, row b). Chunk c of ``flags.shape[0]`` equal stretches of the pairs runs on one
    thread: X is read in row order, each first row (and its squared norm, for cosine) once for all its
    pairs, and only the Y rows are random; those are prefetched PREFETCH_DISTANCE pairs ahead into L2 so
    that memory round trips overlap with arithmetic, and L1_DISTANCE pairs ahead from there into L1. The hottest distances have loops of their own (a loop that dispatches on the
    distance per pair cost about 12 % more CPU time). For :data:`FUSED_CHECK` distances ``flags[c]``
    counts chunk c's pairs whose sums were not finite, written as NaN: the caller checks their rows and
    recomputes them with the full kernel.
    """
    n = starts[starts.shape[0] - 1]
    nch = flags.shape[0]
    for c in prange(nch):
        k0 = c * n // nch
        k1 = (c + 1) * n // nch
        if k0 >= k1:
            continue
        if code == SQEUCLIDEAN or code == EUCLIDEAN:
            flags[c] = _chunk_euclidean(X, Y, rows, starts, a2, order, packed, bits, k0, k1, code == EUCLIDEAN, out)
        elif code == COSINE:
            flags[c] = _chunk_cosine(X, Y, rows, starts, a2, order, packed, bits, k0, k1, out)
        else:
            flags[c] = _chunk_any(code, X, Y, rows, starts, a2, order, packed, bits, k0, k1, p, w, M, out)


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


def paired_plan(index1, index2, n1: int, n2: int, pack: bool = True) -> dict | None:
    """The visiting order of the pairs: sorted by ``index1``, stable, for :func:`paired_buckets`.

    O(n + n1) with a counting sort (:func:`bucket_sort`) when the first side has at most 8 rows a pair
    (else a stable argsort), and no sort at all when ``index1`` is already non-decreasing (the same O(n)
    pass finds out).
    The range of both index arrays is checked in the same pass.

    Parameters
    ----------
    index1, index2 : ndarray of int64, shape (n,)
    n1, n2 : int
        Rows of the first and second matrix.
    pack : bool
        Pack each sorted pair's caller position and second row into one int64 (``packed``, ``bits``)
        where both fit (``bits`` for ``n2`` rows plus the bits of ``n - 1`` at most 63), else two arrays
        ``order`` and ``a2``. False is for tests of the unpacked form.

    Returns
    -------
    dict or None
        ``rows``, ``starts``, ``a2``, ``order``, ``packed``, ``bits`` (the arguments of
        :func:`paired_buckets`; :func:`plan_pairs` decodes them), or None when an index is out of range
        (the caller finds and names it).
    """
    n = index1.shape[0]
    empty = np.zeros(0, dtype=np.int64)
    bits = max(1, int(n2 - 1).bit_length())
    pack = pack and int(max(n - 1, 1)).bit_length() + bits <= 63
    plan = {"rows": empty, "a2": empty, "order": empty, "packed": empty, "bits": bits}
    if n == 0:
        return {**plan, "starts": np.zeros(1, dtype=np.int64)}
    if n1 <= 8 * n:
        starts = np.empty(n1 + 1, dtype=np.int64)
        packed = np.empty(n if pack else 0, dtype=np.int64)
        order = np.empty(0 if pack else n, dtype=np.int64)
        a2 = np.empty(0 if pack else n, dtype=np.int64)
        status = bucket_sort(index1, index2, n1, n2, starts, order, a2, packed, bits)
        if status < 0:
            return None
        if status == 1:
            return {**plan, "starts": starts, "a2": index2}
        return {**plan, "starts": starts, "a2": a2, "order": order, "packed": packed}
    if n and (index1.min() < 0 or index1.max() >= n1 or index2.min() < 0 or index2.max() >= n2):
        return None
    if n < 2 or (index1[1:] >= index1[:-1]).all():
        order, s1, a2 = empty, index1, index2
    else:
        order = np.argsort(index1, kind="stable")
        s1, a2 = index1[order], index2[order]
    brk = np.flatnonzero(s1[1:] != s1[:-1]) + 1
    starts = np.concatenate([[0], brk, [n]]).astype(np.int64)
    rows = np.ascontiguousarray(s1[starts[:-1]])
    if pack and order.size:
        return {**plan, "rows": rows, "starts": starts, "packed": (order << bits) | a2}
    return {**plan, "rows": rows, "starts": starts, "a2": a2, "order": order}


def plan_pairs(plan: dict) -> tuple[np.ndarray, np.ndarray]:
    """``(order, a2)`` of a :func:`paired_plan` whatever its form: the caller's position and the second
    row of each sorted pair (``order`` empty when the pairs are already in the caller's order)."""
    if plan["packed"].size:
        return plan["packed"] >> plan["bits"], plan["packed"] & ((1 << plan["bits"]) - 1)
    return plan["order"], plan["a2"]


def paired_run(code, X, Y, plan: dict, p, w, M, out) -> int:
    """Run :func:`paired_buckets` on a :func:`paired_plan`; the number of NaN-flagged pairs."""
    from numba import get_num_threads

    flags = np.zeros(max(1, min(get_num_threads(), out.shape[0])), dtype=np.int64)
    paired_buckets(code, X, Y, plan["rows"], plan["starts"], plan["a2"], plan["order"], plan["packed"],
                   plan["bits"], p, w, M, out, flags)
    return int(flags.sum())
