"""Exact top-k retrieval: one fused pass of BLAS blocks and selection, then an exact re-rank.

How it works
------------
For the inner-product distances (``sqeuclidean``, ``euclidean``, ``cosine``, ``angular``,
``correlation``, ``dot``) each worker thread takes a block of ``qb`` query rows, walks the
gallery in blocks of ``gb`` rows, multiplies the two blocks with a single-threaded BLAS
``gemm`` (``sgemm`` for float32 input, ``dgemm`` for float64) into a private ``qb x gb``
buffer that stays in its L2 cache, and immediately keeps the ``K' = k + extra`` best
*approximate* distances of each query row (an insertion list with a running threshold). No
score matrix is ever materialised beyond that buffer. This is the shape of faiss's exact
``IndexFlat`` search; the block sizes come from the L2 cache size and the working-memory
setting.

The approximate values go through the expansion ``|x|^2 + |y|^2 - 2 x.y`` (or the
normalised inner product), which loses the differences between close vectors far from the
origin. The result is nevertheless *exact* in ranking and value:

* **Rounding bound.** In floating point with unit roundoff ``u`` (``2**-24`` for float32,
  ``2**-53`` for float64) a dot product of length ``d`` has
  ``|fl(x.y) - x.y| <= gamma_d |x| |y|`` with ``gamma_d = d u / (1 - d u)`` (Higham, Accuracy
  and Stability of Numerical Algorithms, 2nd ed., eq. 3.5, with Cauchy-Schwarz), whatever
  order or blocking the BLAS uses. So every approximate distance ``a_j`` of query ``q`` is
  within ``E_q`` of the exact kernel value ``d_j``: ``E_q = 2 gamma |q| max_j |g_j|`` for
  squared Euclidean, ``gamma`` for cosine on normalised queries (plus the rounding of the
  normalisation), and so on (``_row_bounds``); a factor 2 and the float64 kernel's own
  rounding are added for safety.
* **Margin certificate.** Let ``a_(k)`` and ``a_(K')`` be the ``k``-th and ``K'``-th best
  approximate values kept. Every gallery row not kept has ``d_j >= a_(K') - E``, and at least
  ``k`` kept rows have ``d <= a_(k) + E``. If ``a_(K') > a_(k) + 2 E`` no row outside the
  kept list can enter the exact top ``k`` (not even on a tie), so re-ranking the kept list
  with the exact float64 kernel gives the exact ranking.
* **Fallback.** Rows where the certificate fails (near-duplicates crowding the margin, a zero
  query under cosine, non-finite values, a gallery smaller than ``K'``) are searched again
  with the exact kernel over the whole gallery.

Every other distance (``manhattan``, ``canberra``, ``braycurtis``, ...) has no cheap
expansion; it is computed exactly by its float64 kernel in cache-sized query x gallery
tiles with the same fused selection.

Ranking order: smaller distance first, ties to the lower gallery index; ``inf`` after every
finite distance and NaN after ``inf`` (ties by index again), so a ranking never has a hole.

``backend="faiss"`` hands the search to faiss-cpu's ``IndexFlatIP`` / ``IndexFlatL2``
(optional extra ``faiss``); faiss ranks by float32 expansion values, so it is *not* exact
for near-duplicates, and the result says so (``result.exact`` is False).
"""

from __future__ import annotations

import math
import os
import types

import numpy as np
from numba import njit, prange

from metricbench.config import get_working_memory
from metricbench.distances.codes import ANGULAR, CORRELATION, COSINE, DOT, EUCLIDEAN, SQEUCLIDEAN
from metricbench.distances.kernels import pair_distance
from metricbench.errors import InputError

#: distances ranked through a BLAS inner product (the rest use their exact kernel directly)
BLAS_DISTANCES = ("sqeuclidean", "euclidean", "cosine", "angular", "correlation", "dot")
#: distances the faiss backend serves
FAISS_DISTANCES = ("sqeuclidean", "euclidean", "cosine", "angular", "dot")
#: gallery rows per BLAS block (the gemm's n; 512 x 512 float32 = 1 MiB, streamed from L3)
GALLERY_BLOCK = 512

_U32 = 2.0**-24
_U64 = 2.0**-53


class TopKResult(tuple):
    """``(indices, distances)`` with what produced them.

    Unpacks as a pair: ``idx, dist = topk(...)``.

    Attributes
    ----------
    indices : ndarray of shape (n_queries, k), int64
    distances : ndarray of shape (n_queries, k), float64
    backend : str
        ``"metricbench"`` or ``"faiss"``.
    exact : bool
        True when the ranking is the exact kernel's (ties to the lower index).
    k : int
        Neighbours returned per query (the request, capped at the gallery size).
    info : dict
        Details: block sizes, rows re-searched by the exact kernel (``n_fallback``), ...
    """

    def __new__(cls, indices, distances, *, backend, exact, info=None):
        self = super().__new__(cls, (indices, distances))
        self.indices = indices
        self.distances = distances
        self.backend = backend
        self.exact = bool(exact)
        self.k = int(indices.shape[1])
        self.info = dict(info or {})
        return self

    def __reduce__(self):
        return (_rebuild, (self.indices, self.distances, self.backend, self.exact, self.info))


def _rebuild(indices, distances, backend, exact, info):
    return TopKResult(indices, distances, backend=backend, exact=exact, info=info)


# -- ordering -------------------------------------------------------------------------


@njit(cache=True, inline="always")
def _before(a, ia, b, ib):
    """Total order of (distance, index): finite < inf < NaN, ties to the lower index."""
    if a < b:
        return True
    if a > b:
        return False
    if a == b:
        return ia < ib
    a_nan = a != a
    b_nan = b != b
    if a_nan and b_nan:
        return ia < ib
    return b_nan


@njit(cache=True, inline="always")
def _insert_total(bd, bi, r, v, j, kk):
    """Insert (v, j) into the sorted length-kk list of row r if it beats the last entry."""
    if not _before(v, j, bd[r, kk - 1], bi[r, kk - 1]):
        return
    pos = kk - 1
    while pos > 0 and _before(v, j, bd[r, pos - 1], bi[r, pos - 1]):
        bd[r, pos] = bd[r, pos - 1]
        bi[r, pos] = bi[r, pos - 1]
        pos -= 1
    bd[r, pos] = v
    bi[r, pos] = j


# -- fused BLAS pass ------------------------------------------------------------------


def _fused_blas(Qt, G, rowadd, coladd, colscale, alpha, qb, gb, exclude_self, q_offset, bd, bi):
    """Approximate best-K' lists of every row of ``Qt`` (transformed queries) over ``G``.

    approx(r, j) = rowadd[r] + coladd[j] + alpha * (Qt[r] . G[j]) * colscale[j]; ``bd`` must
    come in as +inf and ``bi`` as -1. Lists are sorted ascending; values that are not
    finite are never kept (their rows fail the certificate and go to the exact kernel).
    """
    nq = Qt.shape[0]
    ng = G.shape[0]
    kk = bd.shape[1]
    nblk = (nq + qb - 1) // qb
    for b in prange(nblk):
        q0 = b * qb
        q1 = min(nq, q0 + qb)
        S = np.empty((q1 - q0, gb), dtype=Qt.dtype)
        for g0 in range(0, ng, gb):
            g1 = min(ng, g0 + gb)
            if g1 - g0 == gb:
                np.dot(Qt[q0:q1], G[g0:g1].T, S)
                Sv = S
            else:
                Sv = np.dot(Qt[q0:q1], G[g0:g1].T)
            for r in range(q1 - q0):
                q = q0 + r
                ra = rowadd[q]
                thr = bd[q, kk - 1]
                for j in range(g1 - g0):
                    g = g0 + j
                    a = ra + coladd[g] + alpha * np.float64(Sv[r, j]) * colscale[g]
                    if a < thr:
                        if exclude_self and g == q + q_offset:
                            continue
                        pos = kk - 1
                        while pos > 0 and a < bd[q, pos - 1]:
                            bd[q, pos] = bd[q, pos - 1]
                            bi[q, pos] = bi[q, pos - 1]
                            pos -= 1
                        bd[q, pos] = a
                        bi[q, pos] = g
                        thr = bd[q, kk - 1]


# -- exact kernel pass ----------------------------------------------------------------


def _fused_exact(code, Q, G, rows, p, w, M, qb, gb, exclude_self, bd, bi):
    """Exact best-k lists (total order) of query rows ``rows`` over all of ``G``.

    Tiles of ``qb`` queries x ``gb`` gallery rows keep both sides in cache.
    """
    nr = rows.shape[0]
    ng = G.shape[0]
    kk = bd.shape[1]
    nblk = (nr + qb - 1) // qb
    for b in prange(nblk):
        r0 = b * qb
        r1 = min(nr, r0 + qb)
        for g0 in range(0, ng, gb):
            g1 = min(ng, g0 + gb)
            for t in range(r0, r1):
                q = rows[t]
                x = Q[q]
                for g in range(g0, g1):
                    if exclude_self and g == q:
                        continue
                    v = pair_distance(code, x, G[g], p, w, M)
                    _insert_total(bd, bi, t, v, g, kk)


def _rerank(code, Q, G, cand, approx, limit, p, w, M, k, out_i, out_d):
    """Exact kernel values of every row's candidates with ``approx <= limit[q]``, sorted in the
    total order; the first k kept. (Candidates beyond the certified margin cannot be in the top k.)"""
    nq = cand.shape[0]
    kk = cand.shape[1]
    for q in prange(nq):
        vals = np.empty(kk)
        idx = np.empty(kk, dtype=np.int64)
        n = 0
        for c in range(kk):
            g = cand[q, c]
            if g < 0:
                continue
            if c >= k and not approx[q, c] <= limit[q]:
                break
            v = pair_distance(code, Q[q], G[g], p, w, M)
            pos = n
            while pos > 0 and _before(v, g, vals[pos - 1], idx[pos - 1]):
                vals[pos] = vals[pos - 1]
                idx[pos] = idx[pos - 1]
                pos -= 1
            vals[pos] = v
            idx[pos] = g
            n += 1
        for c in range(k):
            out_i[q, c] = idx[c]
            out_d[q, c] = vals[c]


def _certify(bd, bi, k, E, ok, limit):
    """ok[q] = the kept list is full and a_(K') > a_(k) + 2 E[q] (see the module docstring);
    limit[q] = a_(k) + 2 E[q], the largest approximate value that can still be in the top k."""
    kk = bd.shape[1]
    for q in prange(bd.shape[0]):
        full = bi[q, kk - 1] >= 0
        limit[q] = bd[q, k - 1] + 2.0 * E[q]
        ok[q] = full and (bd[q, kk - 1] > limit[q])


def _row_sqnorms(A, out):
    for i in prange(A.shape[0]):
        s = 0.0
        for t in range(A.shape[1]):
            v = np.float64(A[i, t])
            s += v * v
        out[i] = s


def _scaled_rows(A, shift, scale, out):
    """out[i] = (A[i] - shift[i]) * scale[i], computed in float64, stored in out's dtype."""
    for i in prange(A.shape[0]):
        m = shift[i]
        c = scale[i]
        for t in range(A.shape[1]):
            out[i, t] = (np.float64(A[i, t]) - m) * c


def _row_means_centred_sqnorms(A, mean, css):
    d = A.shape[1]
    for i in prange(A.shape[0]):
        m = 0.0
        for t in range(d):
            m += np.float64(A[i, t])
        m /= d
        s = 0.0
        for t in range(d):
            v = np.float64(A[i, t]) - m
            s += v * v
        mean[i] = m
        css[i] = s


# each loop above exists twice: parallel for real sizes, serial for small ones (a parallel region's start-up
# costs more than the work there, and much more on a loaded machine)
def _variant(f, suffix, **options):
    """``f`` jitted under its own qualified name, so that each variant has its own on-disk cache entry."""
    g = types.FunctionType(f.__code__, f.__globals__, f.__name__ + suffix, f.__defaults__, f.__closure__)
    g.__qualname__ = f.__qualname__ + suffix
    g.__module__ = f.__module__
    g.__doc__ = f.__doc__
    return njit(cache=True, **options)(g)


_SERIAL = {}
_PARALLEL = {}
for _f in (_fused_blas, _fused_exact, _rerank, _certify, _row_sqnorms, _scaled_rows, _row_means_centred_sqnorms):
    _SERIAL[_f.__name__] = _variant(_f, "_serial")
    _PARALLEL[_f.__name__] = _variant(_f, "_parallel", parallel=True)
#: work (rows x columns x features) below which the serial loops run
SERIAL_WORK = 1 << 21


def _jit(name, work):
    return (_SERIAL if work < SERIAL_WORK else _PARALLEL)[name]


# -- block sizes ----------------------------------------------------------------------


def working_memory_mib(working_memory=None) -> float:
    """The working-memory budget in MiB: :func:`metricbench.config.get_working_memory`."""
    return get_working_memory(working_memory)


def _l2_bytes() -> int:
    try:
        v = os.sysconf("SC_LEVEL2_CACHE_SIZE")
        if v and v > 0:
            return int(v)
    except (ValueError, OSError, AttributeError):
        pass
    return 1 << 20


def block_sizes(n_queries: int, n_features: int, itemsize: int, working_memory=None, n_threads=None):
    """(qb, gb): query rows per worker task and gallery rows per gemm.

    The ``qb x gb`` product buffer of each thread is half the L2 cache (so the selection
    reads what the gemm just wrote from cache), all threads' buffers together stay within
    the working-memory budget, and there are at least two tasks per thread when the
    queries allow it.
    """
    from numba import get_num_threads

    n_threads = n_threads or get_num_threads()
    gb = GALLERY_BLOCK
    budget = working_memory_mib(working_memory) * 2**20
    qb = max(16, (_l2_bytes() // 2) // (gb * itemsize))
    qb = min(qb, max(1, int(budget // (n_threads * gb * itemsize))))
    per_task = -(-n_queries // (2 * n_threads))
    qb = max(1, min(qb, per_task))
    return int(qb), int(gb)


# -- the search -----------------------------------------------------------------------


def _blas_transform(name, Q, G, dt, gn2):
    """Transformed queries and the per-row / per-column terms of the approximate distance.

    Returns (Qt, rowadd, coladd, colscale, alpha, E, bad_rows): E is each query row's bound
    on |approx - exact| (see the module docstring); bad_rows must use the exact kernel.
    """
    u = _U32 if dt == np.float32 else _U64
    d = Q.shape[1]
    gam = (d + 4) * u / (1.0 - (d + 4) * u)
    gam_ref = (d + 4) * _U64  # the float64 kernel's own rounding
    ng = G.shape[0]
    qn2 = np.empty(Q.shape[0])
    _jit("_row_sqnorms", Q.size)(Q, qn2)
    qn = np.sqrt(qn2)
    with np.errstate(all="ignore"):  # overflowing norms give inf / NaN bounds: those rows fail the certificate
        return _transform_terms(name, Q, G, dt, gn2, qn2, qn, u, gam, gam_ref)


def _transform_terms(name, Q, G, dt, gn2, qn2, qn, u, gam, gam_ref):
    d = Q.shape[1]
    ng = G.shape[0]
    ones_g = np.ones(ng)
    zeros_g = np.zeros(ng)
    if name in ("sqeuclidean", "euclidean"):
        gmax = math.sqrt(float(gn2.max())) if ng else 0.0
        scale = qn * gmax
        E = 2.0 * (2.0 * gam * scale + gam_ref * (qn2 + gmax**2 + 2.0 * scale))
        return np.ascontiguousarray(Q, dtype=dt), qn2, gn2, ones_g, -2.0, E, np.zeros(Q.shape[0], bool)
    if name == "dot":
        gmax = math.sqrt(float(gn2.max())) if ng else 0.0
        E = 2.0 * (gam + gam_ref) * qn * gmax
        return np.ascontiguousarray(Q, dtype=dt), np.zeros(Q.shape[0]), zeros_g, ones_g, -1.0, E, np.zeros(Q.shape[0], bool)
    if name in ("cosine", "angular"):
        Qt = np.empty(Q.shape, dtype=dt)
        _jit("_scaled_rows", Q.size)(Q, np.zeros(Q.shape[0]), np.where(qn > 0, 1.0 / np.where(qn > 0, qn, 1.0), 0.0), Qt)
        with np.errstate(divide="ignore", invalid="ignore"):
            gnorm = np.sqrt(gn2)
            colscale = np.where(gnorm > 0, 1.0 / np.where(gnorm > 0, gnorm, 1.0), 0.0)
        E = 2.0 * (gam + 2 * u + gam_ref) * np.ones(Q.shape[0])
        return Qt, np.ones(Q.shape[0]), zeros_g, colscale, -1.0, E, ~(qn > 0)
    if name == "correlation":
        qmean = np.empty(Q.shape[0])
        qcss = np.empty(Q.shape[0])
        _jit("_row_means_centred_sqnorms", Q.size)(Q, qmean, qcss)
        gmean = np.empty(ng)
        gcss = np.empty(ng)
        _jit("_row_means_centred_sqnorms", G.size)(G, gmean, gcss)
        qcn = np.sqrt(qcss)
        gcn = np.sqrt(gcss)
        Qt = np.empty(Q.shape, dtype=dt)
        _jit("_scaled_rows", Q.size)(Q, qmean, np.where(qcn > 0, 1.0 / np.where(qcn > 0, qcn, 1.0), 0.0), Qt)
        with np.errstate(divide="ignore", invalid="ignore"):
            colscale = np.where(gcn > 0, 1.0 / np.where(gcn > 0, gcn, 1.0), 0.0)
            ratio = np.where(gcn > 0, np.sqrt(gn2) * colscale, 0.0)
        rmax = float(ratio.max()) if ng else 0.0
        with np.errstate(divide="ignore", invalid="ignore"):
            qratio = np.where(qcn > 0, qn / np.where(qcn > 0, qcn, 1.0), 0.0)
        # q~.g = q~.g_c + mean(g) sum(q~). The computed mean of a row is off by up to
        # gam |x| / sqrt(d), so centring loses digits in proportion to |x| / |x_c| (a row close to
        # constant, far from the origin): sum(q~) is up to ~gam |q| / |q_c| (plus the rounding of q~
        # to its dtype, sqrt(d) u), and |mean(g)| sqrt(d) <= |g|; the reference kernel centres the
        # same way with float64's rounding. So the error grows with the product of both rows'
        # ratios |x| / |x_c| (issue 10: nearly constant rows tied at 0 came back out of index order)
        E = 4.0 * (gam + 3 * u + gam_ref) * (1.0 + qratio) * (1.0 + rmax)
        return Qt, np.ones(Q.shape[0]), zeros_g, colscale, -1.0, E, ~(qcn > 0)
    raise AssertionError(name)


def _search_metricbench(dist, Q, G, k, p, w, M, exclude_self, working_memory, progress):
    from metricbench.distances.api import _common

    Q, G = _common(Q, G)
    nq, ng = Q.shape[0], G.shape[0]
    info = {}
    out_i = np.empty((nq, k), dtype=np.int64)
    out_d = np.empty((nq, k), dtype=np.float64)
    if nq == 0:
        return out_i, out_d, info
    dt = Q.dtype
    qb, gb = block_sizes(nq, Q.shape[1], dt.itemsize, working_memory)
    info.update(query_block=qb, gallery_block=gb)
    n_avail = ng - (1 if exclude_self else 0)
    name = dist.name
    if name in BLAS_DISTANCES:
        extra = max(10, k)
        kk = min(k + extra, n_avail)
        gn2 = np.empty(ng)
        _jit("_row_sqnorms", G.size)(G, gn2)
        Qt, rowadd, coladd, colscale, alpha, E, bad = _blas_transform(name, Q, G, dt, gn2)
        bd = np.full((nq, kk), np.inf)
        bi = np.full((nq, kk), -1, dtype=np.int64)
        step = nq if progress is None else max(qb, qb * 8)
        parallel = nq * G.size >= SERIAL_WORK
        if parallel:
            import scipy.linalg.cython_blas  # noqa: F401  (numba's gemm: loaded before its threads are limited)
            from threadpoolctl import threadpool_limits

            # each numba thread runs its own single-threaded gemm: the blocks stay in that core's cache
            limits = threadpool_limits(limits=1, user_api="blas")
        try:
            for s in range(0, nq, step):
                e = min(nq, s + step)
                fused = _PARALLEL["_fused_blas"] if parallel else _SERIAL["_fused_blas"]
                fused(Qt[s:e], G, rowadd[s:e], coladd, colscale, float(alpha), qb, gb, bool(exclude_self), s,
                      bd[s:e], bi[s:e])
                if progress is not None:
                    progress(e, nq)
        finally:
            if parallel:
                limits.restore_original_limits()
        ok = np.empty(nq, dtype=np.bool_)
        limit = np.empty(nq)
        _jit("_certify", bd.size)(bd, bi, k, np.ascontiguousarray(E, dtype=np.float64), ok, limit)
        ok &= ~bad
        if kk == n_avail:  # every gallery row is a candidate: nothing can be missed, if all were kept
            ok = bi[:, kk - 1] >= 0
            limit[:] = np.inf
        _jit("_rerank", bd.size * Q.shape[1])(dist.code, Q, G, bi, bd, limit, p, w, M, k, out_i, out_d)
        fallback = np.flatnonzero(~ok)
        info.update(candidates=kk, n_fallback=int(fallback.size))
    else:
        fallback = np.arange(nq)
        info.update(candidates=k, n_fallback=0)
    if fallback.size:
        qe = max(1, min(64, -(-fallback.size // 4)))
        # empty slots: (NaN, largest index) sorts after everything, so any value fills them
        fb_d = np.full((fallback.size, k), np.nan)
        fb_i = np.full((fallback.size, k), np.iinfo(np.int64).max, dtype=np.int64)
        step = fallback.size if (progress is None or name in BLAS_DISTANCES) else max(qe, qe * 8)
        for s in range(0, fallback.size, step):
            e = min(fallback.size, s + step)
            rows = np.ascontiguousarray(fallback[s:e], dtype=np.int64)
            _jit("_fused_exact", (e - s) * G.size)(dist.code, Q, G, rows, p, w, M, qe, gb, bool(exclude_self),
                                                   fb_d[s:e], fb_i[s:e])
            if progress is not None and name not in BLAS_DISTANCES:
                progress(e, nq)
        out_i[fallback] = fb_i
        out_d[fallback] = fb_d
    return out_i, out_d, info


def check_faiss(name: str | None, params: dict | None = None) -> None:
    """Refuse, before any work, a search the faiss backend cannot serve: faiss-cpu missing, a
    distance other than :data:`FAISS_DISTANCES` (``name`` None: a metric ranked from its
    ``pair_distance``), or distance parameters.

    Raises
    ------
    InputError
    """
    try:
        import faiss  # noqa: F401
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise InputError("backend='faiss' needs faiss-cpu: pip install 'metricbench[faiss]'") from exc
    if name is None:
        raise InputError("backend='faiss' serves fixed distances and linear learned metrics only")
    if name not in FAISS_DISTANCES:
        raise InputError(f"backend='faiss' serves {', '.join(FAISS_DISTANCES)}; not {name!r}")
    if params:
        raise InputError("backend='faiss' takes no distance parameters")


def _search_faiss(dist, Q, G, k, exclude_self):
    check_faiss(dist.name)
    import faiss

    name = dist.name
    Qf = np.ascontiguousarray(Q, dtype=np.float32)
    Gf = np.ascontiguousarray(G, dtype=np.float32)
    if name in ("cosine", "angular"):
        Qf = Qf.copy()
        Gf = Gf.copy()
        faiss.normalize_L2(Qf)
        faiss.normalize_L2(Gf)
    d = Q.shape[1]
    index = faiss.IndexFlatL2(d) if name in ("sqeuclidean", "euclidean") else faiss.IndexFlatIP(d)
    index.add(Gf)
    kq = min(k + (1 if exclude_self else 0), G.shape[0])
    D, I = index.search(Qf, kq)
    D = D.astype(np.float64)
    I = I.astype(np.int64)
    if exclude_self:
        keep_i = np.empty((Q.shape[0], k), dtype=np.int64)
        keep_d = np.empty((Q.shape[0], k))
        for q in range(Q.shape[0]):
            m = I[q] != q
            if m.all():
                m[-1] = False
            keep_i[q] = I[q][m][:k]
            keep_d[q] = D[q][m][:k]
        I, D = keep_i, keep_d
    if name == "euclidean":
        D = np.sqrt(np.maximum(D, 0.0))
    elif name == "sqeuclidean":
        D = np.maximum(D, 0.0)
    elif name == "cosine":
        D = np.clip(1.0 - D, 0.0, 2.0)
    elif name == "angular":
        D = np.arccos(np.clip(D, -1.0, 1.0)) / np.pi
    elif name == "dot":
        D = -D
    return I, D


def topk(
    Q,
    G,
    k: int = 10,
    *,
    metric: str = "cosine",
    working_memory=None,
    exclude_self: bool = False,
    progress=None,
    backend: str = "metricbench",
    **params,
) -> TopKResult:
    """Exact k nearest gallery rows of every query row.

    Parameters
    ----------
    Q : ndarray of shape (n_queries, n_features)
        Query rows, float32 or float64 (a memory map is read in place).
    G : ndarray of shape (n_gallery, n_features)
        Gallery rows, same width.
    k : int
        Neighbours per query, >= 1. A ``k`` above the gallery size (minus one with
        ``exclude_self``) is **capped** to it: the result then has that many columns
        (``result.k``), as a ranking of the whole gallery.
    metric : str
        A registered distance name (``metricbench metrics``).
    working_memory : float, optional
        MiB budget for the per-thread product blocks (default: the library setting,
        else scikit-learn's ``working_memory``).
    exclude_self : bool
        Skip gallery row ``i`` for query row ``i`` (when Q and G are the same rows).
    progress : callable, optional
        Called as ``progress(done_queries, n_queries)`` as query blocks finish.
    backend : {"metricbench", "faiss"}
        ``"faiss"`` runs faiss-cpu's exact flat index (float32, needs the ``faiss`` extra;
        cosine, angular, dot, euclidean, sqeuclidean). It is *not* exact for
        near-duplicates (float32 expansion, ties in its own order): ``result.exact`` is False.
    **params
        Distance parameters: ``p`` (minkowski), ``V`` (seuclidean), ``VI`` (mahalanobis).

    Returns
    -------
    TopKResult
        Unpacks as ``(indices, distances)``: indices int64 of shape (n_queries, k), best
        first, ties to the lower gallery index, infinite distances after finite ones and
        NaN last; distances float64, the metric's exact kernel values. Also carries
        ``backend``, ``exact``, ``k`` and ``info``.

    Raises
    ------
    InputError
        Unknown metric or backend, width mismatch, ``k < 1``, an empty gallery, or
        ``exclude_self`` with different query and gallery sizes.

    References
    ----------
    N. J. Higham, *Accuracy and Stability of Numerical Algorithms*, 2nd ed., SIAM 2002,
    section 3.1 (the dot-product error bound used to certify the ranking).
    J. Johnson, M. Douze, H. Jegou, "Billion-scale similarity search with GPUs", IEEE
    Trans. Big Data 2019 (the blocked gemm + selection design of faiss's flat index).
    """
    from metricbench.distances.api import as_float_matrix, prepare_params, resolve_distance

    dist = resolve_distance(metric)
    if backend not in ("metricbench", "faiss"):
        raise InputError(f"unknown top-k backend {backend!r} (choose metricbench or faiss)")
    Q = as_float_matrix(Q, "query")
    G = as_float_matrix(G, "gallery")
    if Q.shape[1] != G.shape[1]:
        raise InputError(f"query has {Q.shape[1]} columns but gallery has {G.shape[1]}")
    if exclude_self and Q.shape[0] != G.shape[0]:
        raise InputError("exclude_self needs query and gallery to be the same rows")
    try:
        k = int(k)
    except (TypeError, ValueError):
        raise InputError(f"k must be an integer >= 1, got {k!r}") from None
    if k < 1:
        raise InputError(f"k must be >= 1, got {k}")
    n_avail = G.shape[0] - (1 if exclude_self else 0)
    if n_avail < 1:
        raise InputError(f"the gallery has {G.shape[0]} rows: nothing to rank" +
                         (" once each query's own row is excluded" if exclude_self else ""))
    k_req = k
    k = min(k, n_avail)
    p, w, M = prepare_params(dist, [Q, G] if Q is not G else [Q], params)
    if backend == "faiss":
        check_faiss(dist.name, params)
        idx, d = _search_faiss(dist, Q, G, k, exclude_self)
        return TopKResult(idx, d, backend="faiss", exact=False,
                          info={"k_requested": k_req, "index": "IndexFlatL2" if dist.name in ("sqeuclidean", "euclidean")
                                else "IndexFlatIP"})
    idx, d, info = _search_metricbench(dist, Q, G, k, p, w, M, bool(exclude_self), working_memory, progress)
    info["k_requested"] = k_req
    return TopKResult(idx, d, backend="metricbench", exact=True, info=info)
