"""numba top-k merge: keep the k smallest distances per row, deterministic on ties."""

from __future__ import annotations

from numba import njit, prange


@njit(parallel=True, cache=True)
def merge_topk(block, g_offset, q_offset, exclude_self, best_d, best_i):
    """Merge a (rows x cols) distance block into each row's sorted best-k lists.

    Columns are scanned in increasing gallery index and a candidate replaces an
    entry only if strictly smaller, so equal distances keep the lower index first.
    """
    k = best_d.shape[1]
    for r in prange(block.shape[0]):
        q = q_offset + r
        for c in range(block.shape[1]):
            g = g_offset + c
            if exclude_self and g == q:
                continue
            v = block[r, c]
            if not v < best_d[r, k - 1]:
                continue
            pos = k - 1
            while pos > 0 and v < best_d[r, pos - 1]:
                best_d[r, pos] = best_d[r, pos - 1]
                best_i[r, pos] = best_i[r, pos - 1]
                pos -= 1
            best_d[r, pos] = v
            best_i[r, pos] = g
