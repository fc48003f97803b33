"""Retrieval measures: top-k accuracy, precision@1, R-precision, mAP@R and mAP.

A query is answered by ranking the gallery, best first. A gallery row is
*relevant* to a query when it carries the query's label. For a query with ``R``
relevant gallery rows found at (1-based) ranks ``r_1 < r_2 < ...``:

* **top-k accuracy** = 1 if ``r_1 <= k`` (a relevant row among the first k), else 0;
* **precision@1** = 1 if ``r_1 == 1`` (equal to top-1 accuracy, reported under both names);
* **R-precision** = ``#{m : r_m <= R} / R``;
* **mAP@R** = ``(1/R) sum_{m : r_m <= R} m / r_m`` (Musgrave et al., "A Metric Learning
  Reality Check", 2020; pytorch-metric-learning's ``mean_average_precision_at_r``);
* **mAP** = ``(1/R) sum_m m / r_m`` over all relevant rows (average precision over the
  whole ranking). When only the top ``depth`` rows are known, relevant rows beyond it
  contribute 0 (``trec_eval``'s convention) and the report says ``map_exact = False``.

Averages are taken over the queries that have at least one relevant gallery row; the
others are excluded and counted (``n_queries_no_match``), as the field does. Gallery
rows whose label no query has (distractors) are allowed and simply never relevant.
With ``exclude_self`` (query and gallery are the same rows), gallery row ``i`` is
removed from query ``i``'s ranking and from its relevant set.

Two entry points:

* :func:`retrieval_metrics` from an index matrix (query x depth, best first);
* :func:`retrieval_metrics_from_embeddings`, which ranks exactly: it computes the full
  ranks of every relevant row from chunked query x gallery distance blocks (bounded by a
  working-memory budget, never the full matrix), so every measure, mAP included, is exact.

Ties in distance are broken by the lower gallery index first (the order of
:func:`metricbench.distances.topk`).
"""

from __future__ import annotations

from typing import Callable, Iterable, Sequence

import numpy as np

from metricbench.config import get_chunk_n_rows
from metricbench.errors import InputError

DEFAULT_KS = (1, 5, 10)


# -- labels -----------------------------------------------------------------------
def _encode_labels(query_labels, gallery_labels) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Integer codes for both label arrays on a shared vocabulary, and gallery counts per code."""
    ql = np.asarray(query_labels)
    gl = np.asarray(gallery_labels)
    if ql.ndim != 1 or gl.ndim != 1:
        raise InputError(f"labels must be 1-D, got shapes {ql.shape} and {gl.shape}")
    if ql.dtype.kind != gl.dtype.kind and not (ql.dtype.kind in "iu" and gl.dtype.kind in "iu"):
        ql = ql.astype(str)
        gl = gl.astype(str)
    vocab, codes = np.unique(np.concatenate([ql, gl]), return_inverse=True)
    codes = codes.astype(np.int64)
    qc, gc = codes[: ql.size], codes[ql.size :]
    counts = np.bincount(gc, minlength=vocab.size)
    return qc, gc, counts


def _relevant_counts(qc, gc, counts, exclude_self: bool) -> np.ndarray:
    """R of each query: gallery rows with its label (minus itself with ``exclude_self``)."""
    R = counts[qc].copy()
    if exclude_self:
        R -= 1  # query i is gallery row i, which has its own label
    return R


# -- per-query measures from ranks ---------------------------------------------------
def _per_query_from_ranks(ranks: np.ndarray, R: np.ndarray, ks: Sequence[int]) -> dict:
    """Per-query measures from a padded (n, max R) array of sorted 1-based ranks (inf = unknown)."""
    n, width = ranks.shape
    m = np.arange(1, width + 1, dtype=np.float64)[None, :]
    first = ranks[:, 0] if width else np.full(n, np.inf)
    Rf = R.astype(np.float64)[:, None]
    within_r = ranks <= Rf
    R = np.maximum(R, 1)  # queries without a match are excluded later; avoid 0 / 0
    out = {f"top{k}": (first <= k).astype(np.float64) for k in ks}
    out["p1"] = (first <= 1).astype(np.float64)
    out["rprec"] = within_r.sum(axis=1) / R
    prec = np.where(np.isfinite(ranks), m / ranks, 0.0)
    out["ap_r"] = np.where(within_r, prec, 0.0).sum(axis=1) / R
    out["ap"] = prec.sum(axis=1) / R
    out["found"] = np.isfinite(ranks).sum(axis=1)
    return out


def _summarise(per_query: dict, R: np.ndarray, valid: np.ndarray, ks, depth: int, n_gallery: int) -> dict:
    nv = int(valid.sum())
    mean = (lambda a: float(np.mean(a[valid]))) if nv else (lambda a: float("nan"))
    rep = {
        "n_queries": int(valid.size),
        "n_queries_evaluated": nv,
        "n_queries_no_match": int(valid.size - nv),
        "n_gallery": int(n_gallery),
        "depth": int(depth),
        "max_r": int(R[valid].max()) if nv else 0,
    }
    for k in ks:
        rep[f"top{k}_accuracy"] = mean(per_query[f"top{k}"]) if k <= depth or depth >= n_gallery else float("nan")
    rep["precision_at_1"] = mean(per_query["p1"])
    r_ok = depth >= n_gallery or (nv and int(R[valid].max()) <= depth)
    rep["r_precision"] = mean(per_query["rprec"]) if r_ok else float("nan")
    rep["map_at_r"] = mean(per_query["ap_r"]) if r_ok else float("nan")
    rep["map"] = mean(per_query["ap"])
    rep["map_exact"] = bool(depth >= n_gallery or (nv and np.all(per_query["found"][valid] == R[valid])))
    return rep


def _check_ks(ks) -> tuple[int, ...]:
    ks = tuple(int(k) for k in np.atleast_1d(ks))
    if not ks or min(ks) < 1:
        raise InputError(f"ks must be positive integers, got {ks}")
    return ks


# -- (a) from an index matrix -------------------------------------------------------------
def retrieval_metrics(
    indices,
    query_labels,
    gallery_labels,
    *,
    ks: Sequence[int] = DEFAULT_KS,
    exclude_self: bool = False,
    return_per_query: bool = False,
) -> dict:
    """Retrieval measures from a ranked index matrix.

    Parameters
    ----------
    indices : array-like of int, shape (n_queries, depth)
        Gallery row indices per query, best first (``-1`` pads a short row).
    query_labels : array-like of shape (n_queries,)
    gallery_labels : array-like of shape (n_gallery,)
    ks : sequence of int
        Cut-offs of the top-k accuracies; a ``k`` beyond ``depth`` gives NaN.
    exclude_self : bool
        Query ``i`` is gallery row ``i``: drop ``i`` from its row (compute the matrix with one
        extra column) and from its relevant set.
    return_per_query : bool
        Also return the per-query arrays (``top{k}``, ``p1``, ``rprec``, ``ap_r``, ``ap``) and
        the mask of evaluated queries under ``"per_query"``.

    Returns
    -------
    dict
        ``n_queries, n_queries_evaluated, n_queries_no_match, n_gallery, depth, max_r,
        top{k}_accuracy, precision_at_1, r_precision, map_at_r, map, map_exact``.
        ``r_precision`` and ``map_at_r`` are NaN when some evaluated query has more
        relevant rows than ``depth`` (compute the matrix with ``depth >= max_r``).
    """
    ks = _check_ks(ks)
    idx = np.asarray(indices)
    if idx.ndim != 2:
        raise InputError(f"indices must be a 2-D (n_queries, k) matrix, got shape {idx.shape}")
    if idx.size and not np.issubdtype(idx.dtype, np.integer):
        raise InputError(f"indices must hold integer gallery rows, got dtype {idx.dtype}")
    qc, gc, counts = _encode_labels(query_labels, gallery_labels)
    nq, ng = qc.size, gc.size
    if idx.shape[0] != nq:
        raise InputError(f"indices has {idx.shape[0]} rows but there are {nq} query labels")
    if idx.size and (idx.max() >= ng or idx.min() < -1):
        bad = int(idx[(idx >= ng) | (idx < -1)][0])
        raise InputError(f"indices holds gallery row {bad}, outside 0..{ng - 1}")
    if exclude_self:
        if nq != ng:
            raise InputError("exclude_self needs query and gallery to be the same rows")
        idx = _drop_self(idx)
    depth = idx.shape[1]
    R = _relevant_counts(qc, gc, counts, exclude_self)
    valid = R > 0
    rel = (idx >= 0) & (gc[np.maximum(idx, 0)] == qc[:, None])
    width = max(1, int(min(depth, R.max() if R.size else 0)))
    pos = np.arange(1, depth + 1, dtype=np.float64)
    ranks = np.full((nq, width), np.inf)
    # sorted ranks of the relevant entries, left-packed
    order = np.argsort(~rel, axis=1, kind="stable")[:, :width]
    got = np.take_along_axis(rel, order, axis=1)
    ranks[got] = pos[order[got]]
    per_query = _per_query_from_ranks(ranks, R, ks)
    rep = _summarise(per_query, R, valid, ks, depth, ng)
    if return_per_query:
        rep["per_query"] = {**per_query, "valid": valid, "R": R}
    return rep


def _drop_self(idx: np.ndarray) -> np.ndarray:
    """Remove entry ``i`` from row ``i``; rows without it lose their last column."""
    nq, depth = idx.shape
    if depth == 0:
        return idx
    is_self = idx == np.arange(nq)[:, None]
    drop = np.where(is_self.any(axis=1), is_self.argmax(axis=1), depth - 1)
    keep = np.ones_like(idx, dtype=bool)
    keep[np.arange(nq), drop] = False
    return idx[keep].reshape(nq, depth - 1)


# -- (b) exact, from embeddings --------------------------------------------------------------
def _fixed_form(metric):
    """A metric object's ``fixed_form()`` (see :meth:`metricbench.learn.base.BaseMetric.fixed_form`),
    or None for an object without one."""
    form = getattr(metric, "fixed_form", None)
    return form() if callable(form) else None


def _distance_blocks(Q, G, metric, working_memory) -> Iterable[tuple[int, np.ndarray]]:
    """Yield ``(start, block)``: distances of query rows ``start:`` to every gallery row."""
    if callable(metric) and not hasattr(metric, "pair_distance"):
        step = _rows_per_block(G.shape[0], working_memory)
        for s in range(0, Q.shape[0], step):
            yield s, np.asarray(metric(Q[s : s + step], G), dtype=np.float64)
        return
    from metricbench.distances import pairwise_distances_chunked

    if isinstance(metric, str):
        yield from pairwise_distances_chunked(Q, G, metric=metric, working_memory=working_memory)
        return
    # a metricbench metric object: a fixed distance (after its linear map), or any other
    form = _fixed_form(metric)
    if form is not None:
        transform, name, params = form
        ZQ, ZG = (Q, G) if transform is None else (transform(Q), transform(G))
        yield from pairwise_distances_chunked(ZQ, ZG, metric=name, working_memory=working_memory, **params)
    else:  # any other metric: its pair_distance over a block of index pairs
        step = _rows_per_block(G.shape[0], working_memory, per_cell=40)
        ng = G.shape[0]
        for s in range(0, Q.shape[0], step):
            c = min(step, Q.shape[0] - s)
            i1 = np.repeat(np.arange(s, s + c, dtype=np.int64), ng)
            i2 = np.tile(np.arange(ng, dtype=np.int64), c)
            yield s, metric.pair_distance(Q, i1, i2, Y=G).reshape(c, ng)


def _rows_per_block(n_cols: int, working_memory, per_cell: int = 24) -> int:
    return get_chunk_n_rows(max(1, n_cols) * per_cell, working_memory=working_memory)


def _ranks_of_relevant(block: np.ndarray, rows_q: np.ndarray, gc: np.ndarray, width: int,
                       self_rows: np.ndarray | None) -> np.ndarray:
    """Sorted 1-based ranks of the relevant gallery rows for each query row of ``block``.

    ``rows_q`` are the query codes of the block's rows; ties go to the lower gallery index.
    """
    c, ng = block.shape
    out = np.full((c, max(1, width)), np.inf)
    srt = np.sort(block, axis=1)
    by_code = np.argsort(gc, kind="stable")
    starts = np.searchsorted(gc[by_code], rows_q, side="left")
    ends = np.searchsorted(gc[by_code], rows_q, side="right")
    for r in range(c):
        d = block[r]
        rel = by_code[starts[r] : ends[r]]
        if self_rows is not None:
            rel = rel[rel != self_rows[r]]
        if rel.size == 0:
            continue
        dr = d[rel]
        less = np.searchsorted(srt[r], dr, side="left")
        hi = np.searchsorted(srt[r], dr, side="right")
        tied = hi - less > 1
        if tied.any():  # count equal distances at lower gallery indices
            for t in np.flatnonzero(tied):
                less[t] += int(np.count_nonzero(d[: rel[t]] == dr[t]))
        out[r, : rel.size] = np.sort(less + 1).astype(np.float64)
    return out


def retrieval_metrics_from_embeddings(
    Q,
    G,
    query_labels,
    gallery_labels,
    *,
    metric="cosine",
    ks: Sequence[int] = DEFAULT_KS,
    exclude_self: bool = False,
    working_memory=None,
    return_per_query: bool = False,
) -> dict:
    """Exact retrieval measures: every relevant gallery row's rank in the full ranking.

    Parameters
    ----------
    Q : ndarray of shape (n_queries, n_features)
    G : ndarray of shape (n_gallery, n_features)
    query_labels, gallery_labels : array-like of shape (n_queries,), (n_gallery,)
    metric : str, metric object or callable
        A registered distance name, a fitted metricbench metric (``DistanceMetric``,
        ``LinearMetric`` or any ``BaseMetric``), or ``f(Q_block, G) -> (rows, n_gallery)``
        distances (lower = more alike).
    ks : sequence of int
    exclude_self : bool
        ``Q`` and ``G`` are the same rows: query ``i`` never retrieves gallery row ``i``.
    working_memory : float, optional
        MiB budget of one query x gallery distance block (default 512).

    Returns
    -------
    dict
        As :func:`retrieval_metrics`, with ``depth = n_gallery`` (full ranking) and
        ``map_exact = True``.
    """
    ks = _check_ks(ks)
    Q = np.asarray(Q)
    G = np.asarray(G)
    if Q.ndim != 2 or G.ndim != 2 or Q.shape[1] != G.shape[1]:
        raise InputError(f"query and gallery must be 2-D with equal widths, got {Q.shape} and {G.shape}")
    qc, gc, counts = _encode_labels(query_labels, gallery_labels)
    if qc.size != Q.shape[0] or gc.size != G.shape[0]:
        raise InputError(
            f"{Q.shape[0]} query rows but {qc.size} query labels, or {G.shape[0]} gallery rows "
            f"but {gc.size} gallery labels"
        )
    if exclude_self and Q.shape[0] != G.shape[0]:
        raise InputError("exclude_self needs query and gallery to be the same rows")
    if Q.shape[0] == 0 or G.shape[0] == 0:
        raise InputError(f"need at least one query and one gallery row, got {Q.shape[0]} and {G.shape[0]}")
    ng = G.shape[0]
    R = _relevant_counts(qc, gc, counts, exclude_self)
    valid = R > 0
    width = int(R.max()) if R.size else 1
    parts = []  # per-query measures of each block: memory stays O(block x max R)
    for s, block in _distance_blocks(Q, G, metric, working_memory):
        block = np.array(block, dtype=np.float64, copy=True)
        c = block.shape[0]
        rows = np.arange(s, s + c)
        if exclude_self:
            block[np.arange(c), rows] = np.inf
        ranks = _ranks_of_relevant(block, qc[s : s + c], gc, width, rows if exclude_self else None)
        parts.append(_per_query_from_ranks(ranks, R[s : s + c], ks))
    depth = ng - (1 if exclude_self else 0)
    per_query = {key: np.concatenate([p[key] for p in parts]) for key in parts[0]}
    rep = _summarise(per_query, R, valid, ks, depth, depth)
    rep["n_gallery"] = int(ng)
    if return_per_query:
        rep["per_query"] = {**per_query, "valid": valid, "R": R}
    return rep


def search(Q, G, k: int = 10, *, metric="cosine", exclude_self: bool = False, working_memory=None,
           backend: str = "metricbench"):
    """Exact top-k gallery rows of each query under ``metric``, best first.

    Parameters
    ----------
    Q : ndarray of shape (n_queries, n_features)
    G : ndarray of shape (n_gallery, n_features)
    k : int
        Neighbours per query (capped at the gallery size, minus one with ``exclude_self``).
    metric : str or metric object
        A registered distance name, or a fitted metricbench metric. Fixed distances and
        linear learned metrics run :func:`metricbench.distances.topk` (chunked numba kernels,
        in the transformed space for linear ones); any other metric is ranked from its
        ``pair_distance`` over chunked query x gallery blocks.
    exclude_self : bool
        Query ``i`` never returns gallery row ``i``.
    working_memory : float, optional
        MiB budget of one distance block.
    backend : {"metricbench", "faiss"}
        ``"faiss"``: faiss-cpu's flat index for the distances it serves (not exact on
        near-ties; see :func:`metricbench.distances.topk.topk`); other metrics refuse it.

    Returns
    -------
    indices : ndarray of int64, shape (n_queries, k); distances : ndarray of float64, same shape.
    Ties go to the lower gallery index. For fixed distances and linear learned metrics the
    pair is a :class:`~metricbench.distances.topk.TopKResult` (``.backend``, ``.exact``).
    """
    from metricbench.distances.api import topk

    if int(k) < 1:
        raise InputError(f"k must be >= 1, got {k}")
    kw = {"working_memory": working_memory, "exclude_self": exclude_self, "backend": backend}
    if isinstance(metric, str):
        return topk(Q, G, k, metric=metric, **kw)
    form = _fixed_form(metric)
    if form is not None:
        transform, name, params = form
        if transform is None:
            return topk(Q, G, k, metric=name, **kw, **params)
        ZQ = transform(Q)
        ZG = ZQ if (exclude_self and Q is G) else transform(G)
        return topk(ZQ, ZG, k, metric=name, **kw, **params)
    if backend != "metricbench":
        raise InputError(f"backend={backend!r} serves fixed distances and linear learned metrics only")
    Q, G = np.asarray(Q), np.asarray(G)
    if exclude_self and Q.shape[0] != G.shape[0]:
        raise InputError("exclude_self needs query and gallery to be the same rows")
    k = min(int(k), G.shape[0] - (1 if exclude_self else 0))
    idx = np.empty((Q.shape[0], k), dtype=np.int64)
    dist = np.empty((Q.shape[0], k), dtype=np.float64)
    for s, block in _distance_blocks(Q, G, metric, working_memory):
        block = np.array(block, dtype=np.float64, copy=True)
        c = block.shape[0]
        if exclude_self:
            block[np.arange(c), np.arange(s, s + c)] = np.inf
        order = np.argsort(block, axis=1, kind="stable")[:, :k]
        idx[s : s + c] = order
        dist[s : s + c] = np.take_along_axis(block, order, axis=1)
    return idx, dist


def brute_force_topk(Q, G, k: int, *, metric: Callable | str = "euclidean", exclude_self: bool = False):
    """Reference top-k by a full numpy distance matrix and a stable sort (small data only).

    Returns ``(indices, distances)`` of shape (n_queries, k), ties to the lower gallery index.
    """
    Q = np.asarray(Q, dtype=np.float64)
    G = np.asarray(G, dtype=np.float64)
    if callable(metric):
        D = np.asarray(metric(Q, G), dtype=np.float64)
    elif metric in ("euclidean", "sqeuclidean"):
        D = ((Q[:, None, :] - G[None, :, :]) ** 2).sum(-1)
        D = np.sqrt(D) if metric == "euclidean" else D
    elif metric == "cosine":
        qn = Q / np.linalg.norm(Q, axis=1, keepdims=True)
        gn = G / np.linalg.norm(G, axis=1, keepdims=True)
        D = 1.0 - qn @ gn.T
    else:
        raise InputError(f"brute_force_topk knows euclidean, sqeuclidean, cosine; got {metric!r}")
    if exclude_self:
        D[np.arange(D.shape[0]), np.arange(D.shape[0])] = np.inf
    k = min(k, G.shape[0] - (1 if exclude_self else 0))
    order = np.argsort(D, axis=1, kind="stable")[:, :k]
    return order, np.take_along_axis(D, order, axis=1)


def search_identities(Q, G, gallery_labels, k: int = 5, *, metric="cosine", exclude_self: bool = False,
                      working_memory=None):
    """The ``k`` nearest distinct gallery identities of each query, best first.

    An identity's distance to a query is that of its nearest gallery row, so the identities come in the order of
    their first appearance in the exact gallery ranking of :func:`search`. Many assignments ask for this form
    ("name the five most likely people"), not for gallery rows.

    Parameters
    ----------
    Q : ndarray of shape (n_queries, n_features)
    G : ndarray of shape (n_gallery, n_features)
    gallery_labels : array-like of shape (n_gallery,)
        Identity (name or integer id) of each gallery row.
    k : int, default=5
        Identities per query (capped at the number of distinct gallery identities).
    metric, exclude_self, working_memory
        As in :func:`search`.

    Returns
    -------
    names : ndarray of object, shape (n_queries, k)
        Identities, nearest first.
    distances : ndarray of float64, shape (n_queries, k)
        Distance of each identity's nearest gallery row.

    Raises
    ------
    InputError
        If ``k < 1`` or ``gallery_labels`` does not hold one entry per gallery row.

    Notes
    -----
    The search is repeated with twice as many gallery rows until every query has ``k`` distinct identities (or the
    whole gallery is ranked), so the answer is exact; a query rarely needs more than ``k`` times the largest number
    of images of one identity.
    """
    labels = np.asarray(gallery_labels)
    n_g = np.shape(G)[0]
    if labels.ndim != 1 or labels.shape[0] != n_g:
        raise InputError(f"gallery_labels has {labels.shape[0] if labels.ndim else 0} entries, expected {n_g}")
    if int(k) < 1:
        raise InputError(f"k must be >= 1, got {k}")
    _, codes = np.unique(labels, return_inverse=True)
    n_id = int(codes.max()) + 1 if n_g else 0
    k = min(int(k), n_id)
    n_q = np.shape(Q)[0]
    out_c = np.full((n_q, k), -1, dtype=np.int64)
    out_d = np.full((n_q, k), np.inf)
    todo = np.arange(n_q)
    depth = max(2 * k, 16)
    cap = n_g - (1 if exclude_self else 0)
    Qa = Q
    while todo.size:
        depth = min(depth, cap)
        if exclude_self:  # the self row must stay aligned with its query: search every query
            idx, dist = search(Qa, G, depth, metric=metric, exclude_self=True, working_memory=working_memory)
            idx, dist = idx[todo], dist[todo]
        else:
            idx, dist = search(np.asarray(Qa)[todo], G, depth, metric=metric, working_memory=working_memory)
        still = []
        for j, q in enumerate(todo):
            c = codes[idx[j]]
            _, first = np.unique(c, return_index=True)
            first = np.sort(first)[:k]
            if first.size < k and depth < cap:
                still.append(q)
                continue
            out_c[q, : first.size] = c[first]
            out_d[q, : first.size] = dist[j, first]
        todo = np.asarray(still, dtype=np.int64)
        depth *= 2
    uniq = np.unique(labels)
    names = np.empty(out_c.shape, dtype=object)
    ok = out_c >= 0
    names[ok] = uniq[out_c[ok]]
    names[~ok] = None
    return names, out_d


__all__ = [
    "DEFAULT_KS",
    "brute_force_topk",
    "search",
    "search_identities",
    "retrieval_metrics",
    "retrieval_metrics_from_embeddings",
]
