"""numba kernels of the native LMNN (see :mod:`metricbench.learn.lmnn`).

Conventions: rows are in class-sorted order (so a row's target neighbours sit next
to it in memory). ``T`` (n, K) holds the target neighbours of each anchor row and
``I`` (n, m) its stored impostor candidates, int32 row indices padded with ``-1``.
Every parallel loop writes only the rows (or the row range) of its own index;
distances accumulate in the dtype of ``Z`` (float32 data stay float32 in the inner
loops, float64 data are exact to float64).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(cache=True, fastmath=True)
def _sqdist(Z, a, b):
    """Squared Euclidean distance between rows ``a`` and ``b`` of ``Z``."""
    s = Z[a, 0] - Z[a, 0]
    for t in range(Z.shape[1]):
        u = Z[a, t] - Z[b, t]
        s += u * u
    return s


@njit(cache=True, fastmath=True, parallel=True)
def loss_weights(Z, T, I, cw, mu, wt, wi, dt, Y, loss_row, nact_row, nz_row):
    """Loss per anchor, edge weights, and the anchor half of ``Y = Lap @ Z``.

    For anchor ``i`` with targets ``j`` and impostor candidates ``l``:
    ``loss_i = (1 - mu) sum_j d_ij + mu sum_{j, l} [1 + d_ij - d_il]_+``.
    Each stored impostor slot carries a multiplier ``cw[i, q]`` (1 for a searched
    candidate; the inverse sampling rate for a random one, see :func:`sample_far`),
    so its triplets count ``cw`` times. A target edge weighs
    ``(1 - mu) + mu * sum over active l of cw``, an impostor edge ``-mu * cw * #active j``;
    ``Y[i] = sum_e w_e (z_i - z_other)`` over the anchor's edges.

    Parameters
    ----------
    Z : ndarray of shape (n, k)
        Projected rows.
    T : ndarray of int32, shape (n, K)
    I : ndarray of int32, shape (n, m)
    cw : ndarray of shape (n, m), dtype of Z
        Multiplier of each impostor slot.
    mu : float
        Push-loss weight.
    wt : ndarray of shape (n, K), dtype of Z   (output)
    wi : ndarray of shape (n, m), dtype of Z   (output)
    dt : ndarray of float64, shape (n, K)      (output: target distances)
    Y : ndarray of shape (n, k), dtype of Z   (output)
    loss_row : ndarray of float64, shape (n,) (output)
    nact_row : ndarray of int64, shape (n,)   (output: active triplets)
    nz_row : ndarray of int64, shape (n,)     (output: impostor edges of nonzero weight)
    """
    n, K = T.shape
    m = I.shape[1]
    k = Z.shape[1]
    for i in prange(n):
        loss = 0.0
        for s in range(K):
            j = T[i, s]
            wt[i, s] = 0.0
            dt[i, s] = 0.0
            if j >= 0:
                dt[i, s] = _sqdist(Z, i, j)
                wt[i, s] = 1.0 - mu
                loss += (1.0 - mu) * dt[i, s]
        nact = 0
        nz = 0
        for q in range(m):
            l = I[i, q]
            wi[i, q] = 0.0
            if l < 0:
                continue
            dl = np.float64(_sqdist(Z, i, l))
            c = 0
            mw = mu * np.float64(cw[i, q])
            for s in range(K):
                if T[i, s] < 0:
                    continue
                h = 1.0 + dt[i, s] - dl
                if h > 0.0:
                    loss += mw * h
                    wt[i, s] += mw
                    c += 1
            if c > 0:
                wi[i, q] = -mw * c
                nact += c
                if wi[i, q] != 0.0:  # the edges compact_edges lists (none when mu = 0: a pull-only fit)
                    nz += 1
        loss_row[i] = loss
        nact_row[i] = nact
        nz_row[i] = nz
        # anchor half of Lap @ Z
        for t in range(k):
            Y[i, t] = 0.0
        for s in range(K):
            j = T[i, s]
            if j < 0:
                continue
            w = wt[i, s]
            for t in range(k):
                Y[i, t] += w * (Z[i, t] - Z[j, t])
        for q in range(m):
            l = I[i, q]
            w = wi[i, q]
            if l < 0 or w == 0.0:
                continue
            for t in range(k):
                Y[i, t] += w * (Z[i, t] - Z[l, t])


@njit(cache=True, fastmath=True, parallel=True)
def scatter_targets(Z, wt, tptr, tsrc, Y):
    """Far-end half of the target edges: ``Y[b] += sum w (z_b - z_a)`` over ``T[a, s] == b``.

    ``tptr``/``tsrc`` is the transposed CSR of ``T`` (:func:`transpose_edges`).
    """
    n, k = Y.shape
    K = wt.shape[1]
    for b in prange(n):
        for p in range(tptr[b], tptr[b + 1]):
            e = tsrc[p]
            a = e // K
            w = wt[a, e - a * K]
            if w == 0.0:
                continue
            for t in range(k):
                Y[b, t] += w * (Z[b, t] - Z[a, t])


@njit(cache=True, parallel=True)
def compact_edges(I, wi, offsets, src, dst, w):
    """Nonzero-weight impostor edges as flat arrays; anchor ``i`` writes from ``offsets[i]``."""
    n, m = I.shape
    for i in prange(n):
        p = offsets[i]
        for q in range(m):
            if wi[i, q] != 0.0:
                src[p] = i
                dst[p] = I[i, q]
                w[p] = wi[i, q]
                p += 1


@njit(cache=True, fastmath=True, parallel=True)
def scatter_edges(Z, src, dst, w, n_parts, Y):
    """Far-end half of listed edges: ``Y[dst] += w (z_dst - z_src)``.

    Part ``p`` of ``n_parts`` owns the destination rows ``[p n / P, (p+1) n / P)``
    and scans the whole (short) list, so no two threads write the same row.
    """
    n, k = Y.shape
    E = src.shape[0]
    for p in prange(n_parts):
        lo = (n * p) // n_parts
        hi = (n * (p + 1)) // n_parts
        for e in range(E):
            b = dst[e]
            if b < lo or b >= hi:
                continue
            a = src[e]
            we = w[e]
            for t in range(k):
                Y[b, t] += we * (Z[b, t] - Z[a, t])


@njit(cache=True)
def transpose_edges(E, n):
    """Transposed CSR of an (n_anchor, width) int32 edge table padded with -1.

    Returns ``(indptr, src)``: for row ``b``, ``src[indptr[b]:indptr[b+1]]`` holds the
    flat slot ids ``a * width + s`` with ``E[a, s] == b``, in increasing order.
    """
    na, w = E.shape
    indptr = np.zeros(n + 1, dtype=np.int64)
    for a in range(na):
        for s in range(w):
            b = E[a, s]
            if b >= 0:
                indptr[b + 1] += 1
    for b in range(n):
        indptr[b + 1] += indptr[b]
    fill = indptr[:-1].copy()
    src = np.empty(indptr[n], dtype=np.int64)
    for a in range(na):
        for s in range(w):
            b = E[a, s]
            if b >= 0:
                src[fill[b]] = a * w + s
                fill[b] += 1
    return indptr, src


@njit(cache=True, fastmath=True, parallel=True)
def margin_radius(Z, T, factor, out):
    """``out[i] = factor * (1 + max_j d(i, T[i, j]))``, or 0 for rows without targets."""
    n, K = T.shape
    for i in prange(n):
        r = -1.0
        for s in range(K):
            j = T[i, s]
            if j >= 0:
                r = max(r, np.float64(_sqdist(Z, i, j)))
        out[i] = factor * (1.0 + r) if r >= 0.0 else 0.0


@njit(cache=True)
def _heap_push(hd, hi, cnt, d, l):
    """Keep the ``len(hd)`` smallest ``d`` in a max-heap ``(hd, hi)`` of ``cnt`` items."""
    m = hd.shape[0]
    if cnt < m:
        p = cnt
        cnt += 1
        while p > 0:
            par = (p - 1) // 2
            if hd[par] >= d:
                break
            hd[p] = hd[par]
            hi[p] = hi[par]
            p = par
        hd[p] = d
        hi[p] = l
        return cnt
    if d >= hd[0]:
        return cnt
    p = 0
    while True:
        c = 2 * p + 1
        if c >= m:
            break
        if c + 1 < m and hd[c + 1] > hd[c]:
            c += 1
        if hd[c] <= d:
            break
        hd[p] = hd[c]
        hi[p] = hi[c]
        p = c
    hd[p] = d
    hi[p] = l
    return cnt


@njit(cache=True, fastmath=True, parallel=True)
def find_impostors(Z, starts, ends, nbr, sub, cap, radius, out_idx, out_d):
    """Nearest different-class rows inside each anchor's margin radius.

    Rows of ``Z`` are class-sorted: class ``c`` occupies ``starts[c]:ends[c]``. For
    every anchor ``i`` of class ``c`` with ``radius[i] > 0``, the candidates are the
    rows ``sub[starts[cc] + t]`` for ``t < min(cap, size of cc)`` of each class ``cc``
    in ``nbr[c]`` (-1-padded); ``sub`` permutes rows within each class. The ``m``
    nearest candidates with ``d(i, l) < radius[i]`` are written to ``out_idx[i]`` /
    ``out_d[i]`` (in heap order; unused slots: -1 / inf).
    """
    nc = starts.shape[0]
    m = out_idx.shape[1]
    C = nbr.shape[1]
    for c in prange(nc):
        for i in range(starts[c], ends[c]):
            hd = out_d[i]
            hi = out_idx[i]
            for q in range(m):
                hi[q] = -1
                hd[q] = np.inf
            r = radius[i]
            if r <= 0.0 or m == 0:
                continue
            cnt = 0
            for u in range(C):
                cc = nbr[c, u]
                if cc < 0:
                    break
                stop = min(ends[cc], starts[cc] + cap)
                for v in range(starts[cc], stop):
                    l = sub[v]
                    d = np.float64(_sqdist(Z, i, l))
                    if d < r and (cnt < m or d < hd[0]):
                        cnt = _heap_push(hd, hi, cnt, d, l)


@njit(cache=True)
def _mix(x):
    """splitmix64 finaliser: a counter-based random 64-bit integer."""
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


@njit(cache=True, parallel=True)
def sample_far(starts, ends, radius, near, key, out_idx, out_w):
    """Random rows of other classes per class, shared by its anchors, with weights.

    For class ``c`` the population is every row of another class (``N_c`` rows).
    ``r = out_idx.shape[1]`` distinct rows are drawn uniformly (a counter-based hash of
    ``key, c, attempt``: the same for any thread count), and each anchor ``i`` of the
    class (``radius[i] > 0``) gets them with the weight ``N_c / r``, except rows already
    in its searched list ``near[i]`` (set to -1). Each population row is drawn with
    probability ``r / N_c``, so the weighted sum over the draws is an unbiased
    (Horvitz-Thompson) estimate of the sum over the rows outside ``near[i]``. When
    ``N_c <= r`` the whole population is taken with weight 1 (exact). Sharing the
    draw within a class keeps the drawn rows in cache for all its anchors.
    """
    nc = starts.shape[0]
    n = out_idx.shape[0]
    r = out_idx.shape[1]
    mn = near.shape[1]
    for c in prange(nc):
        s0 = starts[c]
        s1 = ends[c]
        size_c = s1 - s0
        pop = n - size_c
        for i in range(s0, s1):
            for q in range(r):
                out_idx[i, q] = -1
                out_w[i, q] = 0.0
        if r == 0 or pop <= 0:
            continue
        # the class's draw goes into the first anchor row, then is copied
        first = s0
        got = 0
        w = 1.0
        if pop <= r:
            for l in range(n):
                if l < s0 or l >= s1:
                    out_idx[first, got] = l
                    got += 1
        else:
            w = pop / r
            attempt = 0
            span = np.uint64(pop)
            while got < r and attempt < 64 * r:
                h = _mix(np.uint64(key) * np.uint64(0x9E3779B97F4A7C15)
                         + np.uint64(c) * np.uint64(1048576) + np.uint64(attempt))
                attempt += 1
                l = np.int64(h % span)
                if l >= s0:
                    l += size_c
                ok = True
                for q in range(got):
                    if out_idx[first, q] == l:
                        ok = False
                        break
                if ok:
                    out_idx[first, got] = l
                    got += 1
            if got < r:
                w = pop / max(got, 1)
        for i in range(s0 + 1, s1):
            for q in range(got):
                out_idx[i, q] = out_idx[first, q]
        for i in range(s0, s1):
            if radius[i] <= 0.0:
                for q in range(got):
                    out_idx[i, q] = -1
                continue
            for q in range(got):
                l = out_idx[i, q]
                for u in range(mn):
                    if near[i, u] == l:
                        l = -1
                        break
                out_idx[i, q] = l
                if l >= 0:
                    out_w[i, q] = w


@njit(cache=True, fastmath=True, parallel=True)
def class_knn(X, starts, counts, T, D):
    """Exact within-class nearest neighbours of class-sorted rows.

    Class ``c`` occupies rows ``starts[c]:starts[c] + counts[c]`` of ``X``. Writes
    to ``T[i]`` (width K, -1 padded) the ``min(K, size - 1)`` nearest other rows of
    the same class, nearest first, and their squared distances to ``D[i]``.
    """
    nc = starts.shape[0]
    K = T.shape[1]
    for c in prange(nc):
        s0 = starts[c]
        s1 = s0 + counts[c]
        for i in range(s0, s1):
            for q in range(K):
                T[i, q] = -1
                D[i, q] = np.inf
            cnt = 0
            for j in range(s0, s1):
                if j == i:
                    continue
                d = np.float64(_sqdist(X, i, j))
                if cnt == K and d >= D[i, K - 1]:
                    continue
                p = cnt if cnt < K else K - 1
                while p > 0 and D[i, p - 1] > d:
                    D[i, p] = D[i, p - 1]
                    T[i, p] = T[i, p - 1]
                    p -= 1
                D[i, p] = d
                T[i, p] = j
                if cnt < K:
                    cnt += 1
