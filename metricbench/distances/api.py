"""Public entry points of the distance library."""

from __future__ import annotations

import math

import numpy as np

from metricbench.checks import check_finite, nonfinite_rows  # noqa: F401  (re-exported)
from metricbench.config import get_chunk_n_rows, working_memory_bytes  # noqa: F401  (working_memory_bytes: re-export)
from metricbench.distances import drivers
from metricbench.distances import pairwise as _pw
from metricbench.distances.registry import DISTANCES, Distance
from metricbench.errors import InputError, NonFiniteError
from metricbench.params import unknown_parameter
from metricbench.distances.names import resolve_distance as resolve

#: bytes of temporary memory per pair in paired scoring (the sorted index2 copy, the order, the counts)
_PAIR_BYTES = 24

_EMPTY1 = np.zeros(1, dtype=np.float64)
_EMPTY2 = np.zeros((1, 1), dtype=np.float64)


def distance_names() -> list[str]:
    """Canonical names of the fixed distances."""
    return list(DISTANCES)


def resolve_distance(metric: str) -> Distance:
    """The fixed distance named ``metric``: resolved through the one name table (:mod:`metricbench.distances.names`)."""
    return resolve(metric)


def as_float_matrix(X, name: str = "X") -> np.ndarray:
    """A C-contiguous float32/float64 2-D view of ``X`` (memory maps stay memory maps).

    Integer, boolean and float16 input is converted to float64 (exact); big-endian
    float32/64 to native order. Complex, object and string arrays, and matrices
    without rows or columns, are refused.

    Raises
    ------
    metricbench.errors.InputError
    """
    if not (isinstance(X, np.ndarray) and X.ndim == 2 and X.dtype in (np.float32, np.float64)
            and X.flags.c_contiguous):
        try:
            X = np.asarray(X)
        except (TypeError, ValueError) as e:  # ragged lists
            raise InputError(f"{name} must be a 2-D numeric matrix ({str(e).splitlines()[0]})") from None
        if X.ndim != 2:
            raise InputError(f"{name} must be a 2-D matrix (n_rows, n_features), got shape {X.shape}")
        if np.iscomplexobj(X):
            raise InputError(f"{name} is complex ({X.dtype}); distances are defined on real vectors")
        if X.dtype.kind not in "fiub":
            raise InputError(f"{name} must be numeric, got dtype {X.dtype}")
        if X.dtype not in (np.float32, np.float64):  # float16, ints, bools, big-endian floats
            X = X.astype(np.float32 if X.dtype.kind == "f" and X.dtype.itemsize <= 4 else np.float64)
        X = np.ascontiguousarray(X)
    else:
        X = np.asarray(X)  # drops the memmap subclass, keeps the mapping: no copy
    if X.shape[1] == 0:
        raise InputError(f"{name} has no columns (shape {X.shape}); embeddings need at least one feature")
    return X


_assert_finite = check_finite  # the entry points' ``check_finite`` flag shadows the name


def _common(X: np.ndarray, Y: np.ndarray):
    if X.dtype != Y.dtype:
        return X.astype(np.float64, copy=False), Y.astype(np.float64, copy=False)
    return X, Y


def _row_chunks(m: np.ndarray):
    """Row blocks of ``m`` as float64 copies (the caller may modify them), sized by the budget."""
    step = get_chunk_n_rows(16 * m.shape[1], max_n_rows=m.shape[0])
    for a in range(0, m.shape[0], step):
        yield np.array(m[a : a + step], dtype=np.float64, copy=True)


def _variance(mats) -> np.ndarray:
    """Per-column variance (ddof=1) of the stacked rows of ``mats``, in row chunks."""
    n = sum(m.shape[0] for m in mats)
    if n < 2:
        raise InputError("seuclidean needs V or at least 2 rows to estimate it")
    d = mats[0].shape[1]
    s = np.zeros(d)
    for m in mats:
        for blk in _row_chunks(m):
            s += blk.sum(0)
    mean = s / n
    ss = np.zeros(d)
    for m in mats:
        for blk in _row_chunks(m):
            blk -= mean
            ss += (blk * blk).sum(0)
    V = ss / (n - 1)
    if not (V > 0).all():
        j = int(np.flatnonzero(~(V > 0))[0])
        raise InputError(
            f"seuclidean: column {j} of the data is constant (variance 0), so 1 / V is undefined; "
            "pass V explicitly or drop constant columns"
        )
    return V


def _inverse_covariance(mats) -> np.ndarray:
    n = sum(m.shape[0] for m in mats)
    d = mats[0].shape[1]
    if n <= d:
        raise InputError(f"mahalanobis needs VI or more rows ({n}) than dimensions ({d}) to estimate it")
    s = np.zeros(d)
    for m in mats:
        for blk in _row_chunks(m):
            s += blk.sum(0)
    mean = s / n
    C = np.zeros((d, d))
    for m in mats:
        for blk in _row_chunks(m):
            blk -= mean
            C += blk.T @ blk
    C /= n - 1
    evals, evecs = np.linalg.eigh(C)
    tol = d * np.finfo(np.float64).eps * max(float(evals[-1]), 0.0)
    if not evals[0] > tol:
        rank = int((evals > tol).sum())
        raise InputError(
            f"mahalanobis: the covariance of the data is singular (rank {rank} of {d}), so its inverse is "
            "undefined; pass VI explicitly (e.g. a regularised inverse) or use a learned metric"
        )
    return (evecs / evals) @ evecs.T


def _float_param(value, what: str) -> float:
    if isinstance(value, (bool, np.bool_)):
        raise InputError(f"{what} must be a number, got {value!r}")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise InputError(f"{what} must be a number, got {value!r}") from None


def _array_param(value, what: str) -> np.ndarray:
    try:
        a = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"{what} must be numeric, got {type(value).__name__} {str(value)[:40]!r}") from None
    if not np.isfinite(a).all():
        raise NonFiniteError(f"{what} holds NaN or inf")
    return a


def minkowski_p(value) -> float:
    """Minkowski's ``p`` checked against its domain ``p > 0`` (``inf`` is Chebyshev's distance).

    Raises
    ------
    metricbench.errors.InputError
        ``p`` not a number, NaN, zero or negative.
    """
    p = _float_param(value, "minkowski: p")
    if not p > 0:  # also NaN
        raise InputError(f"minkowski: p must be > 0 (p = inf is Chebyshev's distance), got {p}")
    return p


def prepare_params(dist: Distance, mats, params: dict):
    """Turn user parameters into the kernels' (p, w, M), checking each one's domain.

    Defaults are scipy's ``cdist`` defaults computed from the rows in ``mats``.

    * ``minkowski``: ``p > 0`` (``p < 1`` gives scipy's value, which is not a metric);
      ``p = inf`` is the Chebyshev distance; NaN, 0, negative and non-numbers are refused.
    * ``seuclidean``: ``V`` of length ``n_features``, every entry finite and > 0
      (estimated from the data with ddof=1 when absent; a constant column is refused).
    * ``mahalanobis``: ``VI`` of shape ``(n_features, n_features)``, finite, symmetric
      and positive semi-definite (estimated as the inverse covariance when absent; a
      singular covariance is refused).

    Raises
    ------
    metricbench.errors.InputError
        An unknown parameter or a value outside its domain, naming the valid range.
    """
    unknown = set(params) - set(dist.params)
    if unknown:
        raise unknown_parameter(sorted(unknown)[0], dist.name, dist.params)
    d = mats[0].shape[1]
    p = 2.0
    w = _EMPTY1
    M = _EMPTY2
    if dist.name == "minkowski":
        p = minkowski_p(params.get("p", 2.0))
    elif dist.name == "seuclidean":
        V = params.get("V")
        V = _variance(mats) if V is None else _array_param(V, "seuclidean: V").ravel()
        if V.shape != (d,):
            raise InputError(f"seuclidean: V must have one variance per column ({d}), got {V.size}")
        if not (V > 0).all():
            j = int(np.flatnonzero(~(V > 0))[0])
            raise InputError(f"seuclidean: every variance in V must be > 0, V[{j}] = {V[j]}")
        w = np.ascontiguousarray(1.0 / V)
    elif dist.name == "mahalanobis":
        VI = params.get("VI")
        if VI is None:
            VI = _inverse_covariance(mats)
        else:
            VI = _array_param(VI, "mahalanobis: VI")
            if VI.shape != (d, d):
                raise InputError(f"mahalanobis: VI must be {d} x {d} (n_features squared), got shape {VI.shape}")
            scale = max(float(np.abs(VI).max()), np.finfo(np.float64).tiny)
            if not np.allclose(VI, VI.T, rtol=1e-7, atol=1e-10 * scale):
                raise InputError("mahalanobis: VI must be symmetric (an inverse covariance matrix)")
            VI = 0.5 * (VI + VI.T)
            lo = float(np.linalg.eigvalsh(VI)[0])
            if lo < -1e-10 * scale * d:
                raise InputError(
                    f"mahalanobis: VI must be positive semi-definite (smallest eigenvalue {lo:.3g}); "
                    "(x - y)' VI (x - y) would be negative"
                )
        M = np.ascontiguousarray(VI)
    return p, w, M


def _as_index(index, name: str) -> np.ndarray:
    """A 1-D int64 copy of ``index``; float indices must be whole numbers, bools are refused."""
    a = np.asarray(index)
    if a.dtype == bool or a.dtype.kind not in "iuf" and a.size:
        raise InputError(f"{name} must hold integer row indices, got dtype {a.dtype}")
    if a.dtype.kind == "f":
        with np.errstate(invalid="ignore"):
            bad = ~np.isfinite(a) | (a != np.round(a))
        if bad.any():
            t = int(np.flatnonzero(bad.ravel())[0])
            raise InputError(f"{name}[{t}] = {a.ravel()[t].item()!r} is not a whole row index")
    if a.dtype.kind == "u" and a.size and a.max() > np.iinfo(np.int64).max:
        raise InputError(f"{name} holds indices beyond int64")
    return np.ascontiguousarray(a, dtype=np.int64)


def _check_index(idx, n: int, name: str, side: str):
    if idx.size == 0:
        return
    lo, hi = int(idx.min()), int(idx.max())
    if lo < 0 or hi >= n:
        bad_pos = int(np.flatnonzero((idx < 0) | (idx >= n))[0])
        raise InputError(
            f"{name}[{bad_pos}] = {int(idx[bad_pos])} is out of range for {side} with {n} rows (valid: 0..{n - 1})"
        )


def paired_distances(
    X,
    index1,
    index2,
    *,
    metric: str = "cosine",
    Y=None,
    ordered: bool = True,
    check_finite: bool = True,
    **params,
) -> np.ndarray:
    """Distance of each pair ``(X[index1[t]], Y[index2[t]])``; ``Y`` defaults to ``X``.

    Parameters
    ----------
    X : ndarray of shape (n_rows, n_features)
        Embeddings; a memory map is read in place, never copied.
    index1, index2 : array-like of int, shape (n_pairs,)
        Row indices of the two sides of each pair.
    metric : str
        A registered distance name (``metricbench metrics`` lists them).
    Y : ndarray of shape (m_rows, n_features), optional
        Second matrix for ``index2``.
    ordered : bool
        Visit the pairs sorted by ``index1`` so that one side streams through
        memory in order (results are still returned in the caller's order).
    check_finite : bool
        Refuse rows holding NaN or inf (a chunked scan of the rows the pairs use).
        Pass False only for input already checked (the loaders check files).
    **params
        Distance parameters: ``p`` (minkowski), ``V`` (seuclidean), ``VI`` (mahalanobis).

    Returns
    -------
    ndarray of shape (n_pairs,), float64
        Finite for finite input, except where the true value exceeds float64's
        range (``inf``).

    Raises
    ------
    metricbench.errors.NonFiniteError
        A row used by a pair holds NaN or inf.
    metricbench.errors.InputError
        Bad shapes, indices out of range or not whole numbers, a parameter outside
        its domain (see :func:`prepare_params`).
    metricbench.errors.UnknownMetricError
        ``metric`` is not registered.
    """
    dist = resolve_distance(metric)
    X = as_float_matrix(X, "X")
    Y = X if Y is None else as_float_matrix(Y, "Y")
    if Y.shape[1] != X.shape[1]:
        raise InputError(f"X has {X.shape[1]} columns but Y has {Y.shape[1]}")
    i1 = _as_index(index1, "index1")
    i2 = _as_index(index2, "index2")
    if i1.ndim != 1 or i2.shape != i1.shape:
        raise InputError(f"index1 and index2 must be 1-D and of equal length, got {i1.shape} and {i2.shape}")
    side2 = "Y" if Y is not X else "X"
    fused = dist.code in drivers.FUSED_CHECK  # the kernel flags non-finite rows: no scan before
    if not ordered or not fused:
        _check_index(i1, X.shape[0], "index1", "X")
        _check_index(i2, Y.shape[0], "index2", side2)
    if check_finite and not fused:
        _check_rows_finite(X, Y, i1, i2)
    mats = [X] if Y is X else [X, Y]
    p, w, M = prepare_params(dist, mats, params)
    X, Y = _common(X, Y)
    out = np.empty(i1.size, dtype=np.float64)
    if i1.size == 0:
        return out
    chunk = get_chunk_n_rows(_PAIR_BYTES, max_n_rows=i1.size)
    for s in range(0, i1.size, chunk):
        a, b = i1[s : s + chunk], i2[s : s + chunk]
        o = out[s : s + chunk]
        if ordered:
            plan = drivers.paired_plan(a, b, X.shape[0], Y.shape[0])
            if plan is None:  # an index out of range: name the first
                _check_index(i1, X.shape[0], "index1", "X")
                _check_index(i2, Y.shape[0], "index2", side2)
            n_flagged = drivers.paired_run(dist.code, X, Y, plan, p, w, M, o)
            if n_flagged and fused:
                # pairs whose sums were not finite: a non-finite row (refused), or sums beyond float64
                # (recomputed by the full kernel, which rescales)
                bad = np.flatnonzero(np.isnan(o))
                if check_finite:
                    _check_rows_finite(X, Y, a[bad], b[bad])
                vals = np.empty(bad.size)
                drivers.paired_plain(dist.code, X, Y, a[bad], b[bad], p, w, M, vals)
                o[bad] = vals
        else:
            if check_finite and fused:
                _check_rows_finite(X, Y, a, b)
            drivers.paired_plain(dist.code, X, Y, a, b, p, w, M, o)
    return out


def _check_rows_finite(X, Y, i1, i2) -> None:
    """Refuse NaN / inf in the rows the pairs use (X's first, then Y's)."""
    if Y is X:
        _assert_finite(X, "X", rows=np.concatenate([i1, i2]))
    else:
        _assert_finite(X, "X", rows=i1)
        _assert_finite(Y, "Y", rows=i2)


# -- pairwise blocks -------------------------------------------------------

#: the rest of the inner-product family, through one matrix product per block (sqeuclidean, euclidean and cosine:
#: :mod:`metricbench.distances.pairwise`)
_BLAS = {"angular", "dot", "correlation"}


def _row_sqnorms(A: np.ndarray) -> np.ndarray:
    return np.einsum("ij,ij->i", A, A)


def _block(dist: Distance, A: np.ndarray, B: np.ndarray, p, w, M, *, exact: bool = True) -> np.ndarray:
    """Distances between all rows of A and all rows of B (float64 block)."""
    name = dist.name
    if name in _BLAS:
        D = _blas_block(dist, A, B)
        _repair(dist, A, B, D, p, w, M)
        return D
    A, B = _common(A, B)
    out = np.empty((A.shape[0], B.shape[0]), dtype=np.float64)
    drivers.pairwise_block(dist.code, A, B, p, w, M, out)
    return out


def _repair(dist: Distance, A, B, D, p, w, M) -> None:
    """Recompute with the exact kernel the cells of a BLAS block that cannot be trusted.

    Those are non-finite cells and, under angular and correlation, every cell of a
    row whose squared norm overflowed or underflowed.
    """
    bad = ~np.isfinite(D)
    if dist.name in ("angular", "correlation"):
        # a squared norm that overflowed or underflowed makes every cell of its row wrong
        ra, rb = _norm_out_of_range(A), _norm_out_of_range(B)
        if ra.any() or rb.any():
            bad[ra, :] = True
            bad[:, rb] = True
    if not bad.any():
        return
    ii, jj = np.nonzero(bad)
    A, B = _common(np.ascontiguousarray(A), np.ascontiguousarray(B))
    vals = np.empty(ii.size, dtype=np.float64)
    drivers.paired_plain(dist.code, A, B, ii.astype(np.int64), jj.astype(np.int64), p, w, M, vals)
    D[ii, jj] = vals


def _norm_out_of_range(A) -> np.ndarray:
    """Rows whose float64 squared norm overflows, or underflows below 1e-280 while not zero."""
    A64 = np.asarray(A, dtype=np.float64)
    with np.errstate(over="ignore", under="ignore"):
        sq = _row_sqnorms(A64)
        return ~np.isfinite(sq) | ((sq < 1e-280) & (np.abs(A64).max(1) > 0))


def _blas_block(dist: Distance, A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """The block through one matrix product (float64); see :func:`_repair` for its limits."""
    name = dist.name
    with np.errstate(over="ignore", invalid="ignore"):
        A64 = np.asarray(A, dtype=np.float64)
        B64 = np.asarray(B, dtype=np.float64)
        if name == "correlation":  # centred rows; a constant row centres to exactly zero
            A64 = np.where((A64 == A64[:, :1]).all(1, keepdims=True), 0.0, A64 - A64.mean(1, keepdims=True))
            B64 = np.where((B64 == B64[:, :1]).all(1, keepdims=True), 0.0, B64 - B64.mean(1, keepdims=True))
        G = A64 @ B64.T
        if name == "dot":
            return -G
        na = np.sqrt(_row_sqnorms(A64))
        nb = np.sqrt(_row_sqnorms(B64))
        den = na[:, None] * nb[None, :]
        with np.errstate(divide="ignore", invalid="ignore"):
            C = np.where(den > 0, G / np.where(den > 0, den, 1.0), 0.0)
        D = 1.0 - C
        # zero-vector conventions of the kernels
        za, zb = na == 0, nb == 0
        if za.any() or zb.any():
            D[za, :] = 1.0
            D[:, zb] = 1.0
            D[np.ix_(za, zb)] = 0.0
        np.clip(D, 0.0, 2.0, out=D)
        if name == "angular":
            D = np.arccos(np.clip(1.0 - D, -1.0, 1.0)) / np.pi
            if za.any() or zb.any():
                D[za, :] = 0.5
                D[:, zb] = 0.5
                D[np.ix_(za, zb)] = 0.0
        return D


def _chunk_rows(n_cols: int, working_memory, per_cell: int = 24) -> int:
    return get_chunk_n_rows(max(1, n_cols) * per_cell, working_memory=working_memory)


def _has_identity(dist: Distance) -> bool:
    """d(x, x) = 0: every distance but ``dot`` and scipy's Russell-Rao ((n - x.x) / n)."""
    return dist.name not in ("dot", "russellrao")


def _pairwise_setup(X, Y, metric, working_memory, check_finite, params):
    """Validated (dist, X, Y, sym, p, w, M) of the pairwise entry points (sym: Y is None or is X)."""
    dist = resolve_distance(metric)
    sym = Y is None or Y is X
    X = as_float_matrix(X, "X")
    Yv = X if sym else as_float_matrix(Y, "Y")
    if Yv.shape[1] != X.shape[1]:
        raise InputError(f"X has {X.shape[1]} columns but Y has {Yv.shape[1]}")
    if check_finite:
        _assert_finite(X, "X", working_memory=working_memory)
        if not sym:
            _assert_finite(Yv, "Y", working_memory=working_memory)
    p, w, M = prepare_params(dist, [X] if sym else [X, Yv], params)
    return dist, X, Yv, sym, p, w, M


def pairwise_distances_chunked(
    X, Y=None, *, metric: str = "cosine", working_memory=None, check_finite: bool = True, **params
):
    """Yield ``(start, block)``: distances of rows ``start:start+len(block)`` of X to all of Y.

    Blocks are sized by the working-memory budget (:mod:`metricbench.config`); the
    full ``n x m`` matrix is never built here. When ``Y`` is None (or is ``X``) the diagonal
    ``d(x_i, x_i)`` is exactly 0 for every distance but ``dot`` and ``russellrao``; under
    ``sqeuclidean``, ``euclidean`` and ``cosine`` the blocks are then also exactly symmetric
    (block ``[i, j]`` equals block ``[j, i]``).

    ``sqeuclidean``, ``euclidean`` and ``cosine`` are computed through float64 BLAS tiles with a
    per-entry error bound, entries it does not certify to 1e-6 relative accuracy recomputed by
    the exact kernel (:mod:`metricbench.distances.pairwise`); the other distances by their kernels.

    Parameters
    ----------
    X : ndarray of shape (n_rows, n_features)
    Y : ndarray of shape (m_rows, n_features), optional
        Defaults to ``X``.
    metric : str
        A registered distance name.
    working_memory : float, optional
        MiB for one block and its temporaries (default: :func:`metricbench.config.get_working_memory`).
    check_finite : bool
        Refuse NaN / inf rows (chunked scan).
    **params
        Distance parameters, checked as in :func:`prepare_params`.

    Yields
    ------
    start : int
    block : ndarray of shape (n_block_rows, m_rows), float64

    Raises
    ------
    metricbench.errors.NonFiniteError, metricbench.errors.InputError
    """
    dist, X, Yv, sym, p, w, M = _pairwise_setup(X, Y, metric, working_memory, check_finite, params)
    yield from _chunks(dist, X, Yv, sym, p, w, M, working_memory)


def _chunks(dist, X, Yv, sym, p, w, M, working_memory):
    """The blocks of :func:`pairwise_distances_chunked` on validated input."""
    if dist.name in _pw.FUSED:
        # half the budget for the block, half for the tiles and the float64 copies (pairwise.fill_rows)
        step = _chunk_rows(Yv.shape[0], working_memory, per_cell=16)
        b = min(_pw.tile_size(X.shape[1], working_memory, share=0.5), step)
        step = max(b, step // b * b)  # whole tiles: the symmetric case pairs tiles across blocks
        xs = _pw.row_terms(dist.code, X)
        ys = xs if sym else _pw.row_terms(dist.code, Yv)
        for s in range(0, X.shape[0], step):
            e = min(X.shape[0], s + step)
            blk = np.empty((e - s, Yv.shape[0]), dtype=np.float64)
            _pw.fill_rows(dist, X, Yv, xs, ys, blk, s, e, sym=sym, mirror=False, b=b, p=p, w=w, M=M,
                          working_memory=working_memory, share=0.5)
            yield s, blk
        return
    step = _chunk_rows(Yv.shape[0], working_memory)
    for s in range(0, X.shape[0], step):
        blk = _block(dist, np.asarray(X[s : s + step]), Yv, p, w, M)
        if sym and _has_identity(dist):
            r = np.arange(blk.shape[0])
            blk[r, s + r] = 0.0
        yield s, blk


def pairwise_distances(
    X, Y=None, *, metric: str = "cosine", working_memory=None, check_finite: bool = True, **params
) -> np.ndarray:
    """The full distance matrix (n x m). Only for when it is really wanted; prefer the chunked form.

    Parameters and Raises as :func:`pairwise_distances_chunked`. Under ``sqeuclidean``,
    ``euclidean`` and ``cosine`` the matrix is filled in place by per-thread BLAS tiles (no
    other n x m array; temporaries within the working-memory budget) and, when ``Y`` is None or
    is ``X``, only its upper half is multiplied (exactly symmetric, zero diagonal).

    Returns
    -------
    ndarray of shape (n_rows, m_rows), float64

    References
    ----------
    N. J. Higham, *Accuracy and Stability of Numerical Algorithms*, 2nd ed., SIAM 2002, section 3.1
    (the dot-product error bound that decides which entries are recomputed exactly).
    """
    dist, X, Yv, sym, p, w, M = _pairwise_setup(X, Y, metric, working_memory, check_finite, params)
    out = np.empty((X.shape[0], Yv.shape[0]), dtype=np.float64)
    if dist.name in _pw.FUSED:
        xs = _pw.row_terms(dist.code, X)
        ys = xs if sym else _pw.row_terms(dist.code, Yv)
        if _pw.direct_fits(X, Yv, sym, working_memory):
            _pw.fill_direct(dist, X, Yv, xs, ys, out, sym=sym, p=p, w=w, M=M)
        else:
            b = _pw.tile_size(X.shape[1], working_memory)
            _pw.fill_rows(dist, X, Yv, xs, ys, out, 0, X.shape[0], sym=sym, mirror=sym, b=b, p=p, w=w, M=M,
                          working_memory=working_memory)
        return out
    for s, blk in _chunks(dist, X, Yv, sym, p, w, M, working_memory):
        out[s : s + blk.shape[0]] = blk
    return out


def topk(Q, G, k: int = 10, *, metric: str = "cosine", working_memory=None, exclude_self: bool = False,
         progress=None, backend: str = "metricbench", check_finite: bool = True, **params):
    """Exact k nearest gallery rows of every query row: see :func:`metricbench.distances.topk.topk`."""
    from metricbench.distances.topk import topk as _topk

    # one policy for non-finite input at every entry point (metricbench.errors.NonFiniteError)
    if check_finite:
        _assert_finite(as_float_matrix(Q, "query"), "query", working_memory=working_memory)
        if G is not Q:
            _assert_finite(as_float_matrix(G, "gallery"), "gallery", working_memory=working_memory)
    return _topk(Q, G, k, metric=metric, working_memory=working_memory, exclude_self=exclude_self,
                 progress=progress, backend=backend, **params)
