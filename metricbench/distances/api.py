"""Public entry points of the distance library."""

from __future__ import annotations

import os

import numpy as np

from metricbench.distances import drivers
from metricbench.distances.registry import DISTANCES, Distance
from metricbench.errors import InputError

#: default working-memory budget in MiB for blocks (override with METRICBENCH_WORKING_MEMORY)
DEFAULT_WORKING_MEMORY = 512
#: pairs handled per ordered chunk (bounds the permutation's memory)
PAIR_CHUNK = 1 << 22

_EMPTY1 = np.zeros(1, dtype=np.float64)
_EMPTY2 = np.zeros((1, 1), dtype=np.float64)


def distance_names() -> list[str]:
    """Canonical names of the fixed distances."""
    return list(DISTANCES)


def resolve_distance(metric: str) -> Distance:
    """The fixed distance named ``metric``: resolved through the one name table (:mod:`metricbench.registry`)."""
    from metricbench.registry import resolve_distance as resolve

    return resolve(metric)


def working_memory_bytes(working_memory=None) -> int:
    if working_memory is None:
        working_memory = float(os.environ.get("METRICBENCH_WORKING_MEMORY", DEFAULT_WORKING_MEMORY))
    return max(1, int(float(working_memory) * 2**20))


def as_float_matrix(X, name: str = "X") -> np.ndarray:
    """A C-contiguous float32/float64 2-D view of ``X`` (memory maps stay memory maps)."""
    if isinstance(X, np.ndarray) and X.ndim == 2 and X.dtype in (np.float32, np.float64) and X.flags.c_contiguous:
        return np.asarray(X)  # drops the memmap subclass, keeps the mapping: no copy
    X = np.asarray(X)
    if X.ndim != 2:
        raise InputError(f"{name} must be a 2-D matrix (n_rows, n_features), got shape {X.shape}")
    if X.dtype not in (np.float32, np.float64):
        if not (np.issubdtype(X.dtype, np.number) or X.dtype == bool):
            raise InputError(f"{name} must be numeric, got dtype {X.dtype}")
        X = X.astype(np.float64)
    return np.ascontiguousarray(X)


def _common(X: np.ndarray, Y: np.ndarray):
    if X.dtype != Y.dtype:
        return X.astype(np.float64, copy=False), Y.astype(np.float64, copy=False)
    return X, Y


def _variance(mats) -> np.ndarray:
    """Per-column variance (ddof=1) of the stacked rows of ``mats``, in row chunks."""
    n = sum(m.shape[0] for m in mats)
    if n < 2:
        raise InputError("seuclidean needs V or at least 2 rows to estimate it")
    d = mats[0].shape[1]
    s = np.zeros(d)
    for m in mats:
        for a in range(0, m.shape[0], 65536):
            s += np.asarray(m[a : a + 65536], dtype=np.float64).sum(0)
    mean = s / n
    ss = np.zeros(d)
    for m in mats:
        for a in range(0, m.shape[0], 65536):
            blk = np.asarray(m[a : a + 65536], dtype=np.float64) - mean
            ss += (blk * blk).sum(0)
    return ss / (n - 1)


def _inverse_covariance(mats) -> np.ndarray:
    n = sum(m.shape[0] for m in mats)
    d = mats[0].shape[1]
    if n <= d:
        raise InputError(f"mahalanobis needs VI or more rows ({n}) than dimensions ({d}) to estimate it")
    s = np.zeros(d)
    for m in mats:
        s += np.asarray(m, dtype=np.float64).sum(0)
    mean = s / n
    C = np.zeros((d, d))
    for m in mats:
        for a in range(0, m.shape[0], 16384):
            blk = np.asarray(m[a : a + 16384], dtype=np.float64) - mean
            C += blk.T @ blk
    C /= n - 1
    return np.linalg.inv(C)


def prepare_params(dist: Distance, mats, params: dict):
    """Turn user parameters into the kernels' (p, w, M); defaults as scipy's cdist computes them."""
    unknown = set(params) - set(dist.params)
    if unknown:
        from metricbench.params import unknown_parameter

        raise unknown_parameter(sorted(unknown)[0], dist.name, dist.params)
    d = mats[0].shape[1]
    p = 2.0
    w = _EMPTY1
    M = _EMPTY2
    if dist.name == "minkowski":
        p = float(params.get("p", 2.0))
        if not p > 0:
            raise InputError(f"minkowski needs p > 0, got {p}")
    elif dist.name == "seuclidean":
        V = params.get("V")
        V = _variance(mats) if V is None else np.asarray(V, dtype=np.float64).ravel()
        if V.shape != (d,):
            raise InputError(f"seuclidean: V must have {d} entries, got {V.shape[0]}")
        if np.any(V <= 0):
            raise InputError("seuclidean: every variance in V must be > 0")
        w = np.ascontiguousarray(1.0 / V)
    elif dist.name == "mahalanobis":
        VI = params.get("VI")
        VI = _inverse_covariance(mats) if VI is None else np.asarray(VI, dtype=np.float64)
        if VI.shape != (d, d):
            raise InputError(f"mahalanobis: VI must be {d} x {d}, got {VI.shape}")
        M = np.ascontiguousarray(VI)
    return p, w, M


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
    **params
        Distance parameters: ``p`` (minkowski), ``V`` (seuclidean), ``VI`` (mahalanobis).

    Returns
    -------
    ndarray of shape (n_pairs,), float64
    """
    dist = resolve_distance(metric)
    X = as_float_matrix(X, "X")
    Y = X if Y is None else as_float_matrix(Y, "Y")
    if Y.shape[1] != X.shape[1]:
        raise InputError(f"X has {X.shape[1]} columns but Y has {Y.shape[1]}")
    i1 = np.ascontiguousarray(np.asarray(index1), dtype=np.int64)
    i2 = np.ascontiguousarray(np.asarray(index2), dtype=np.int64)
    if i1.ndim != 1 or i2.shape != i1.shape:
        raise InputError(f"index1 and index2 must be 1-D and of equal length, got {i1.shape} and {i2.shape}")
    _check_index(i1, X.shape[0], "index1", "X")
    _check_index(i2, Y.shape[0], "index2", "Y" if Y is not X else "X")
    mats = [X] if Y is X else [X, Y]
    p, w, M = prepare_params(dist, mats, params)
    X, Y = _common(X, Y)
    out = np.empty(i1.size, dtype=np.float64)
    if i1.size == 0:
        return out
    for s in range(0, i1.size, PAIR_CHUNK):
        a, b = i1[s : s + PAIR_CHUNK], i2[s : s + PAIR_CHUNK]
        o = out[s : s + PAIR_CHUNK]
        if ordered:
            if X.shape[0] <= 8 * a.size:
                order = drivers.counting_order(a, X.shape[0])
            else:
                order = np.argsort(a, kind="stable")
            a1 = np.empty_like(a)
            a2 = np.empty_like(b)
            drivers.gather_sorted(a, b, order, a1, a2)
            drivers.paired_sorted(dist.code, X, Y, a1, a2, order, p, w, M, o)
        else:
            drivers.paired_plain(dist.code, X, Y, a, b, p, w, M, o)
    return out


# -- pairwise blocks -------------------------------------------------------

_BLAS = {"sqeuclidean", "euclidean", "cosine", "angular", "dot", "correlation"}


def _row_sqnorms(A: np.ndarray) -> np.ndarray:
    return np.einsum("ij,ij->i", A, A)


def _block(dist: Distance, A: np.ndarray, B: np.ndarray, p, w, M, *, exact: bool = True) -> np.ndarray:
    """Distances between all rows of A and all rows of B (float64 block)."""
    name = dist.name
    if name in _BLAS:
        A64 = np.asarray(A, dtype=np.float64)
        B64 = np.asarray(B, dtype=np.float64)
        if name == "correlation":
            A64 = A64 - A64.mean(1, keepdims=True)
            B64 = B64 - B64.mean(1, keepdims=True)
        G = A64 @ B64.T
        if name == "dot":
            return -G
        if name in ("sqeuclidean", "euclidean"):
            D = _row_sqnorms(A64)[:, None] + _row_sqnorms(B64)[None, :] - 2.0 * G
            np.maximum(D, 0.0, out=D)
            return np.sqrt(D) if name == "euclidean" else D
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
    A, B = _common(A, B)
    out = np.empty((A.shape[0], B.shape[0]), dtype=np.float64)
    drivers.pairwise_block(dist.code, A, B, p, w, M, out)
    return out


def _chunk_rows(n_cols: int, working_memory, per_cell: int = 24) -> int:
    return max(1, working_memory_bytes(working_memory) // max(1, n_cols * per_cell))


def pairwise_distances_chunked(X, Y=None, *, metric: str = "cosine", working_memory=None, **params):
    """Yield ``(start, block)``: distances of rows ``start:start+len(block)`` of X to all of Y.

    Blocks are sized by a working-memory budget (MiB, default 512); the full
    ``n x m`` matrix is never built here.
    """
    dist = resolve_distance(metric)
    X = as_float_matrix(X, "X")
    Yv = X if Y is None else as_float_matrix(Y, "Y")
    if Yv.shape[1] != X.shape[1]:
        raise InputError(f"X has {X.shape[1]} columns but Y has {Yv.shape[1]}")
    p, w, M = prepare_params(dist, [X] if Y is None else [X, Yv], params)
    step = _chunk_rows(Yv.shape[0], working_memory)
    for s in range(0, X.shape[0], step):
        yield s, _block(dist, np.asarray(X[s : s + step]), Yv, p, w, M)


def pairwise_distances(X, Y=None, *, metric: str = "cosine", working_memory=None, **params) -> np.ndarray:
    """The full distance matrix (n x m). Only for when it is really wanted; prefer the chunked form."""
    X = as_float_matrix(X, "X")
    m = X.shape[0] if Y is None else np.shape(Y)[0]
    out = np.empty((X.shape[0], m), dtype=np.float64)
    for s, blk in pairwise_distances_chunked(X, Y, metric=metric, working_memory=working_memory, **params):
        out[s : s + blk.shape[0]] = blk
    return out


def topk(Q, G, k: int = 10, *, metric: str = "cosine", working_memory=None, exclude_self: bool = False,
         progress=None, backend: str = "metricbench", **params):
    """Exact k nearest gallery rows of every query row: see :func:`metricbench.distances.topk.topk`."""
    from metricbench.distances.topk import topk as _topk

    return _topk(Q, G, k, metric=metric, working_memory=working_memory, exclude_self=exclude_self,
                 progress=progress, backend=backend, **params)
