"""All-pairs ``sqeuclidean``, ``euclidean`` and ``cosine`` from float64 BLAS products, checked entry by entry.

How it works
------------
scikit-learn's ``pairwise_distances`` makes the products ``X Y^T`` with one large ``gemm`` (``syrk``
for ``X X^T``) and then walks the whole matrix three to five more times, single-threaded
(``*= -2``, ``+= XX``, ``+= YY``, ``maximum``, ``sqrt`` / ``*= -1``, ``+= 1``, ``clip``). Here:

* **The whole matrix** (:func:`fill_direct`, used by ``pairwise_distances`` when the float64 copies of
  the input fit the working-memory budget): one multithreaded BLAS product written straight into
  the output (``syrk`` when ``Y`` is ``X``: half the products), then **one** parallel pass that turns
  each product into its distance in place, with the certification below.
* **Row blocks** (:func:`fill_rows`, used by ``pairwise_distances_chunked``, and by
  ``pairwise_distances`` when the copies would not fit): square tiles of ``b x b`` entries; each
  numba worker thread multiplies a tile's two row blocks with a single-threaded ``gemm`` into a
  private buffer that stays in its L2 cache and writes the distances from there, each output
  entry once (the design of the top-k search, :mod:`metricbench.distances.topk`, whose helpers this
  module shares). Only a chunk of ``Y``'s rows and the threads' tiles are held besides the output.

float32 input is multiplied in float64 (as scikit-learn's ``_euclidean_distances_upcast`` does for
euclidean), so every product of two float32 values is exact and the result is float64;
scikit-learn returns float32 and multiplies cosine in float32 (``sgemm``: about twice the speed,
about 1e-6 absolute error on the cosine).

When ``Y`` is ``X`` (or None) the matrix is exactly symmetric with a zero diagonal: the whole-matrix
pass computes the upper triangle and copies it; the tiles make every tile below the diagonal from
the same product as the one above it (``X_j X_i^T``, transposed), so the chunked form is
symmetric too.

Error bound and exact recomputation
-----------------------------------
With unit roundoff ``u = 2**-53`` and ``gamma = (d + 4) u / (1 - (d + 4) u)``, a dot product of
length ``d`` in any order or blocking has ``|fl(x.y) - x.y| <= gamma |x| |y|`` (Higham, eq.
3.5), and the squared norms have ``|fl(|x|^2) - |x|^2| <= gamma |x|^2``. Hence

* ``sqeuclidean`` as ``|x|^2 + |y|^2 - 2 x.y`` is within ``E = (2 gamma + 3 u)(|x|^2 + |y|^2)``
  of the true value;
* ``cosine`` as ``1 - (x.y) / (|x| |y|)`` is within ``E = 2 gamma + 7 u``.

An entry is kept only when ``2 E <= RTOL * value`` (:data:`RTOL`, the relative accuracy the
expansion is allowed, 1e-6, with a factor 2 for safety): otherwise, and wherever the value is
not finite, the row norms overflow or underflow, or a row is zero under cosine, it is
recomputed by the metric's own float64 kernel (:func:`metricbench.distances.kernels.pair_distance`,
the one ``paired_distances`` uses). Those are near-duplicate rows (cancellation), the diagonal,
rows far beyond float64's range. Negative values cannot come out (a kept value is positive;
the kernels clamp). On random 512-d embeddings no entry is recomputed.

Memory, besides the output, within the working-memory setting (:mod:`metricbench.config`): the
whole-matrix path, float64 copies of X and Y when they are not float64 already (it is used only
when those fit); the tiles, each thread's two ``b x b`` tiles and ``b x d`` float64 row block, and
a chunk of ``Y``'s rows converted to float64 when ``Y`` is not float64.

References
----------
N. J. Higham, *Accuracy and Stability of Numerical Algorithms*, 2nd ed., SIAM 2002, section 3.1.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba import prange

from metricbench.config import working_memory_bytes
from metricbench.distances.codes import COSINE, EUCLIDEAN
from metricbench.distances.kernels import pair_distance
from metricbench.distances.topk import _U64, SERIAL_WORK, _jit, _l2_bytes, _variant

#: distances computed here (the rest of the BLAS family keeps :func:`metricbench.distances.api._blas_block`)
FUSED = ("sqeuclidean", "euclidean", "cosine")
#: relative accuracy an expanded value must be certified to, else it is recomputed by the exact kernel
RTOL = 1e-6
#: squared norms outside [_SQ_TINY, _SQ_BIG] make the expansion unreliable (underflow, overflow): exact kernel
_SQ_TINY = 1e-280
_SQ_BIG = 1e300
#: largest tile side (entries); 256 x 256 float64 = 512 KiB
MAX_TILE = 256


# -- the tile loop ----------------------------------------------------------------------------------


@numba.njit(cache=True, inline="always")
def _transpose(S, h, w, T):
    """T[:w, :h] = S[:h, :w].T, in 8 x 8 blocks (both stay in cache)."""
    for c0 in range(0, w, 8):
        c1 = min(w, c0 + 8)
        for r0 in range(0, h, 8):
            r1 = min(h, r0 + 8)
            for c in range(c0, c1):
                for r in range(r0, r1):
                    T[c, r] = S[r, c]


@numba.njit(cache=True, inline="always")
def _value(code, s, xr, yc):
    """The expanded distance of one entry from its product s and the rows' terms xr, yc."""
    if code == COSINE:
        return min(1.0 - s * (xr * yc), 2.0)  # xr * yc: the same for (i, j) and (j, i)
    v = xr + yc - 2.0 * s
    if code == EUCLIDEAN:
        return math.sqrt(max(v, 0.0))
    return v


@numba.njit(cache=True, inline="always")
def _good(code, s, xr, yc, K):
    """1 if the bound certifies the expanded value of the entry, else 0 (also for NaN: bitwise, no branch)."""
    if code == COSINE:
        return np.int64(1.0 - s * (xr * yc) > K)
    t = xr + yc
    return np.int64(t - 2.0 * s > K * t) & np.int64(t >= _SQ_TINY)


@numba.njit(cache=True, inline="always")
def _row(code, g, o, ocol, w, xr, ys, y0, K, A, B, r, p, w_, M):
    """o[ocol + c] = distance from the products g[c] (c < w) of row A[r] with rows B[c]; ``g`` and ``o``
    may be the same array (then ``ocol`` is 0). Two vectorised passes when every entry is certified
    (the common case), else one that recomputes the others with the exact kernel."""
    n_good = 0
    for c in range(w):
        n_good += _good(code, g[c], xr, ys[y0 + c], K)
    if n_good == w:
        for c in range(w):
            o[ocol + c] = _value(code, g[c], xr, ys[y0 + c])
    else:
        for c in range(w):
            s = g[c]
            if _good(code, s, xr, ys[y0 + c], K):
                o[ocol + c] = _value(code, s, xr, ys[y0 + c])
            else:
                o[ocol + c] = pair_distance(code, A[r], B[c], p, w_, M)


@numba.njit(cache=True, inline="always")
def _epilogue(code, S, h, w, A, B, xs, ys, x0, y0, K, p, w_, M, out, orow, ocol, diag):
    """out[orow + r, ocol + c] = distance of rows A[r] and B[c], from the product S[r, c] = A[r].B[c].

    xs[x0 + r], ys[y0 + c]: the rows' squared norms (euclidean family) or inverse norms (cosine; NaN
    where the expansion cannot be used). Entries the bound does not certify are recomputed by the
    exact kernel. ``diag``: the tile is on the diagonal of a symmetric problem (entry r, r is 0).
    """
    for r in range(h):
        _row(code, S[r], out[orow + r], ocol, w, xs[x0 + r], ys, y0, K, A, B, r, p, w_, M)
        if diag:
            out[orow + r, ocol + r] = 0.0


def _fill(code, X, Yc, xs, ys, ycol0, rb, b, sym, mirror, K, p, w_, M, out, orow0):
    """Every tile of the row blocks ``rb`` against one chunk of columns, in parallel over row blocks.

    Row block ``rb[t]`` is rows ``rb[t] * b ...`` of X (converted to float64 once per task); the
    chunk ``Yc`` (float64) is columns ``ycol0 ...`` of the output, cut into tiles of ``b`` columns.
    ``xs`` is indexed by X's rows, ``ys`` by the chunk's rows. ``out`` holds the output rows from
    ``orow0`` on, every column.

    sym: Y is X. A tile below the diagonal is then made from the product of its column rows by its
    row rows, transposed: both halves of the matrix come from the same products (exact symmetry).
    mirror (with sym): only tiles on or above the diagonal are multiplied; each one also fills its
    transposed place. Diagonal tiles are symmetrised from their upper half; their diagonal is 0.
    """
    n = X.shape[0]
    nc = Yc.shape[0]
    d = X.shape[1]
    for t in prange(rb.shape[0]):
        i0 = rb[t] * b
        i1 = min(n, i0 + b)
        h = i1 - i0
        A = np.empty((h, d))
        for r in range(h):
            for k in range(d):
                A[r, k] = X[i0 + r, k]
        S = np.empty((h, b))
        T = np.empty((b, h))
        j_first = 0
        if mirror:
            j_first = max(0, i0 - ycol0)
        for j0 in range(j_first, nc, b):
            j1 = min(nc, j0 + b)
            w = j1 - j0
            B = Yc[j0:j1]
            Sv = S if w == b else np.empty((h, w))
            g0 = ycol0 + j0  # global column of the tile's first column
            diag = sym and g0 == i0
            if sym and g0 < i0:
                Tv = T if w == b else np.empty((w, h))
                np.dot(B, A.T, Tv)
                _transpose(Tv, w, h, Sv)
            else:
                np.dot(A, B.T, Sv)
            if diag:
                for r in range(h):
                    for c in range(r):
                        Sv[r, c] = Sv[c, r]
            _epilogue(code, Sv, h, w, A, B, xs, ys, i0, j0, K, p, w_, M, out, i0 - orow0, g0, diag)
            if mirror and not diag:
                Tv = T if w == b else np.empty((w, h))
                _transpose(Sv, h, w, Tv)
                _epilogue(code, Tv, w, h, B, A, ys, xs, j0, i0, K, p, w_, M, out, g0 - orow0, i0, False)


def _finish(code, G, A, B, xs, ys, K, p, w_, M):
    """In place: G[i, j] (the product A[i].B[j]) becomes the distance, recomputed exactly where the bound
    does not certify it."""
    for i in prange(G.shape[0]):
        _row(code, G[i], G[i], 0, G.shape[1], xs[i], ys, 0, K, A, B, i, p, w_, M)


def _finish_sym(code, G, A, xs, K, p, w_, M, eb):
    """In place, Y is X: the upper triangle of G (the products A[i].A[j], i < j) becomes the distance and is
    copied to the lower one (exact symmetry, whatever BLAS left there); the diagonal is 0. Blocks of
    ``eb`` x ``eb`` keep the transposed writes in cache; one task per row of blocks."""
    n = G.shape[0]
    nb = (n + eb - 1) // eb
    for bi in prange(nb):
        i0 = bi * eb
        i1 = min(n, i0 + eb)
        V = np.empty((eb, eb))
        for bj in range(bi, nb):
            j0 = bj * eb
            j1 = min(n, j0 + eb)
            for r in range(i1 - i0):
                i = i0 + r
                c0 = r + 1 if bj == bi else 0
                a = j0 + c0  # the row's entries a .. j1 - 1, in place
                _row(code, G[i, a:j1], G[i], a, j1 - a, xs[i], xs, a, K, A, A[a:j1], i, p, w_, M)
                for c in range(c0, j1 - j0):
                    V[r, c] = G[i, j0 + c]
            for c in range(j1 - j0):
                o = G[j0 + c]
                for r in range(min(i1 - i0, c) if bj == bi else i1 - i0):
                    o[i0 + r] = V[r, c]
            if bj == bi:
                for r in range(i1 - i0):
                    G[i0 + r, i0 + r] = 0.0


_FILL = {"serial": _variant(_fill, "_serial"), "parallel": _variant(_fill, "_parallel", parallel=True)}
_FINISH = {"serial": _variant(_finish, "_serial"), "parallel": _variant(_finish, "_parallel", parallel=True)}
_FINISH_SYM = {"serial": _variant(_finish_sym, "_serial"),
               "parallel": _variant(_finish_sym, "_parallel", parallel=True)}
#: block side of the symmetric finishing pass (64 x 64 float64 = 32 KiB, in L1 / L2)
SYM_BLOCK = 64


# -- the driver -------------------------------------------------------------------------------------


def row_terms(code: int, A: np.ndarray) -> np.ndarray:
    """Per-row terms of the expansion: squared norms (euclidean family) or inverse norms (cosine).

    float64, accumulated in float64. Under cosine a row whose squared norm is 0 or outside
    ``[1e-280, 1e300]`` gets NaN: every entry of its row goes to the exact kernel.
    """
    sq = np.empty(A.shape[0])
    _jit("_row_sqnorms", A.size)(A, sq)
    if code != COSINE:
        return sq
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where((sq >= _SQ_TINY) & (sq <= _SQ_BIG), 1.0 / np.sqrt(sq), np.nan)


def bound_factor(code: int, d: int) -> float:
    """K: an entry is certified when value > K (cosine) or value > K (|x|^2 + |y|^2) (euclidean family).

    2 E / RTOL with E the rounding bound of the module docstring (float64 products)."""
    u = _U64
    gam = (d + 4) * u / (1.0 - (d + 4) * u)
    return 2.0 * ((2.0 * gam + 7.0 * u) if code == COSINE else (2.0 * gam + 3.0 * u)) / RTOL


def tile_size(d: int, working_memory=None, n_threads=None, share: float = 1.0) -> int:
    """Side b of the square tiles: a b x b float64 tile in half the L2 cache, and every thread's
    temporaries (two tiles and a b x d row block) within half of ``share`` of the working-memory budget
    (the other half is for the float64 chunk of Y's rows, :func:`fill_rows`)."""
    n_threads = n_threads or numba.get_num_threads()
    b = min(MAX_TILE, max(8, int(math.isqrt(_l2_bytes() // 16))))
    budget = int(working_memory_bytes(working_memory) * share) // 2
    while b > 1 and n_threads * 8 * (3 * b * b + b * d) > budget:
        b //= 2
    return max(1, b)


def _as64(A: np.ndarray) -> np.ndarray:
    return A if A.dtype == np.float64 and A.flags.c_contiguous else np.ascontiguousarray(A, dtype=np.float64)


def fill_rows(dist, X, Y, xs, ys, out, r0, r1, *, sym, mirror, b, p, w, M, working_memory=None, share=1.0):
    """out[i - r0, j] = d(X[i], Y[j]) for rows r0 <= i < r1 and every row j of Y.

    Parameters
    ----------
    dist : Distance
        One of :data:`FUSED`.
    X, Y : ndarray of shape (n, d), (m, d)
        float32 or float64 rows (``Y is X`` when ``sym``).
    xs, ys : ndarray of shape (n,), (m,)
        :func:`row_terms` of X and Y.
    out : ndarray of shape (r1 - r0, m), float64, C-contiguous
    r0, r1 : int
        The rows to fill; with ``sym``, ``r0`` is a multiple of ``b``.
    sym : bool
        Y is X: exact symmetry and a zero diagonal.
    mirror : bool
        With ``sym`` and ``(r0, r1) = (0, n)``: multiply only the upper tiles (half the work).
    b : int
        Tile side (:func:`tile_size` with the same ``share``).
    working_memory, share :
        The temporaries (the threads' tiles, half; the float64 chunk of Y's rows when Y is not float64,
        the other half) stay within ``share`` of the working-memory budget.
    """
    code = dist.code
    n_rows, m = r1 - r0, Y.shape[0]
    if n_rows == 0 or m == 0:
        return
    d = X.shape[1]
    K = bound_factor(code, d)
    # Y's rows as float64, in chunks of whole tiles within half the budget when they must be converted
    if Y.dtype == np.float64 and Y.flags.c_contiguous:
        mc = m
    else:
        mc = max(b, (int(working_memory_bytes(working_memory) * share) // 2) // (8 * d) // b * b)
    work = n_rows * m * d // (2 if mirror else 1)
    parallel = work >= SERIAL_WORK
    fill = _FILL["parallel" if parallel else "serial"]
    if parallel:
        import scipy.linalg.cython_blas  # noqa: F401  (numba's gemm: loaded before its threads are limited)
        from threadpoolctl import threadpool_limits

        # each numba thread runs its own single-threaded gemm: the tiles stay in that core's cache
        limits = threadpool_limits(limits=1, user_api="blas")
    try:
        rb = np.arange(r0 // b, -(-r1 // b), dtype=np.int64)  # row blocks, the largest tasks first
        for c0 in range(0, m, mc):
            c1 = min(m, c0 + mc)
            Yc = _as64(Y[c0:c1])
            # mirror: a row block whose diagonal lies beyond the chunk has nothing to multiply in it
            todo = rb[rb * b < c1] if mirror else rb
            with numba.parallel_chunksize(1 if parallel else 0):
                fill(code, X, Yc, xs, ys[c0:c1], c0, todo, b, bool(sym), bool(mirror), K, p, w, M, out, r0)
    finally:
        if parallel:
            limits.restore_original_limits()


def direct_fits(X, Y, sym, working_memory=None) -> bool:
    """Whether :func:`fill_direct` may run: the float64 copies it needs (none for float64 C-contiguous
    input) fit the working-memory budget."""
    need = 0 if X.dtype == np.float64 and X.flags.c_contiguous else X.size * 8
    if not sym and not (Y.dtype == np.float64 and Y.flags.c_contiguous):
        need += Y.size * 8
    return need <= working_memory_bytes(working_memory)


def fill_direct(dist, X, Y, xs, ys, out, *, sym, p, w, M):
    """The whole matrix: one multithreaded BLAS product written into ``out`` (``syrk`` when Y is X: half
    the products), then one parallel pass turning each product into its distance in place.

    The full-matrix counterpart of :func:`fill_rows` for when ``out`` is the entire result and the float64
    copies of X and Y fit the budget (:func:`direct_fits`): BLAS's own blocking beats per-thread tiles
    there, and the single pass replaces scikit-learn's three to five. Same bound, same exact
    recomputation; Y is X: exactly symmetric, zero diagonal (:func:`_finish_sym`).
    """
    code = dist.code
    n, m = out.shape
    if n == 0 or m == 0:
        return
    A = _as64(X)
    B = A if sym else _as64(Y)
    with np.errstate(all="ignore"):  # products beyond float64's range: those entries fail the bound
        np.dot(A, A.T if sym else B.T, out=out)  # numpy calls syrk for A A^T
    K = bound_factor(code, A.shape[1])
    kind = "parallel" if n * m >= SERIAL_WORK // 8 else "serial"
    with numba.parallel_chunksize(1 if kind == "parallel" and sym else 0):
        if sym:
            _FINISH_SYM[kind](code, out, A, xs, K, p, w, M, SYM_BLOCK)
        else:
            _FINISH[kind](code, out, A, B, xs, ys, K, p, w, M)
