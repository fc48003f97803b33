"""The Dask engine: the local engine's operations over chunked embeddings on a Dask cluster.

Needs the extra ``metricbench[dask]`` (``dask[array]``, ``distributed``). Embeddings are
``dask.array`` objects chunked by rows (:func:`from_npy` reads an ``.npy`` file block by block on
the workers; any dask array or in-memory matrix also works), so a matrix larger than one
machine's memory is never gathered anywhere:

* **pair scoring**: pairs are bucketed by the row blocks of their two sides; each bucket is one
  task on the two blocks it needs; the distances come back to the caller in pair order.
* **top-k retrieval**: one task per (query block, gallery block) finds the exact k best of that
  gallery block; per query block the candidates merge into the k best overall (ties: lower
  gallery index first, as :func:`metricbench.distances.topk`).
* **statistics-based fits**: :class:`~metricbench.learn.stats.ScatterStats` of every block
  (``ScatterStats.from_data`` on the workers), merged by ``+`` in a tree (map-reduce); every
  metric of :data:`metricbench.engines.stats.STATS_METRICS` is fitted from the result by its
  own ``fit_from_stats``.
* **extraction**: the images are cut into shards, each embedded on a worker that loads the
  backend's models once; finished shards go to the resumable store of
  :mod:`metricbench.extract.store` as they arrive and the output is assembled in listing order,
  exactly as :func:`metricbench.extract.extract_folder` writes it.

Results equal the local engine's (the same kernels run on the same rows).

Files given by path must be readable at the same path on every worker (a shared file system).
"""

from __future__ import annotations

import logging
import math
import os
import time
from pathlib import Path

import numpy as np

from metricbench.engines.local import NpyFile, _check_range, _distance_fn, _load
from metricbench.engines.stats import EngineOnPath, fit_on_engine, global_class_counts, stats_metric
from metricbench.errors import InputError
from metricbench.extract.pipeline import MAX_DETECT_SIDE, process_shard
from metricbench.extract.runner import extract_folder

#: default rows per block of a matrix read from ``.npy``
BLOCK_ROWS = 65536


def _need_dask():
    try:
        import dask  # noqa: F401
        import distributed  # noqa: F401
    except ImportError:
        raise InputError("the dask engine needs dask and distributed: pip install 'metricbench[dask]'") from None


def _read_rows(path, start, stop):
    return NpyFile(path).read(start, stop)


def from_npy(path, block_rows: int = BLOCK_ROWS):
    """A dask array of a 2-D ``.npy`` file, one task per block of ``block_rows`` rows, each
    reading its rows with plain file reads on the worker (no copy through the client).

    Parameters
    ----------
    path : path-like
        A C-ordered 2-D ``.npy`` file readable at the same path on every worker.
    block_rows : int

    Returns
    -------
    dask.array.Array of shape (n_rows, n_features), chunks ``(block_rows, n_features)``
    """
    _need_dask()
    import dask
    import dask.array as da

    f = NpyFile(path)
    n, d = f.shape
    block_rows = max(1, int(block_rows))
    path = str(Path(path).resolve())
    parts = [
        da.from_delayed(dask.delayed(_read_rows, pure=True)(path, s, min(n, s + block_rows)),
                        shape=(min(n, s + block_rows) - s, d), dtype=f.dtype)
        for s in range(0, n, block_rows)
    ]
    return da.concatenate(parts, axis=0)


def as_dask_array(X, block_rows: int = BLOCK_ROWS):
    """A row-chunked dask array of ``X``: a path (read by :func:`from_npy`), a dask array (rechunked
    to whole rows) or an in-memory matrix (split into blocks)."""
    _need_dask()
    import dask.array as da

    if isinstance(X, (str, os.PathLike)):
        return from_npy(X, block_rows)
    if isinstance(X, da.Array):
        if X.ndim != 2:
            raise InputError(f"expected a 2-D matrix, got shape {X.shape}")
        return X.rechunk({1: -1}) if len(X.chunks[1]) > 1 else X
    A = np.asarray(X)
    if A.ndim != 2:
        raise InputError(f"expected a 2-D matrix, got shape {A.shape}")
    return da.from_array(A, chunks=(block_rows, A.shape[1]))


def _bounds(chunks):
    return np.concatenate([[0], np.cumsum(chunks)]).astype(np.int64)


# --------------------------------------------------------------------------- tasks (run on workers)


def _bucket_distances(A, B, i1, i2, metric, params):
    return _distance_fn(metric, dict(params))(np.asarray(A), np.asarray(B), i1, i2)


def _block_topk(Qa, Gb, q0, g0, k, metric, exclude_self, params):
    """The k best of gallery block ``Gb`` (rows from ``g0``) for query block ``Qa`` (rows from ``q0``);
    with ``exclude_self`` one more, the query's own row marked absent (index -1, distance inf)."""
    from metricbench.distances import topk

    Qa, Gb = np.asarray(Qa), np.asarray(Gb)
    kk = min(Gb.shape[0], k + (1 if exclude_self else 0))
    idx, dist = topk(Qa, Gb, kk, metric=metric, **params)
    idx = idx + g0
    if exclude_self:
        own = idx == (q0 + np.arange(Qa.shape[0]))[:, None]
        idx = np.where(own, -1, idx)
        dist = np.where(own, np.inf, dist)
    return idx, dist


def _merge_topk(k, *parts):
    idx = np.concatenate([p[0] for p in parts], axis=1)
    dist = np.concatenate([p[1] for p in parts], axis=1)
    dist = np.where(idx < 0, np.inf, dist)
    big = np.iinfo(np.int64).max
    order = np.lexsort((np.where(idx < 0, big, idx), dist), axis=1)[:, :k]
    return np.take_along_axis(idx, order, 1), np.take_along_axis(dist, order, 1)


def _block_stats(blk, y, variants, rows, request, shift, class_counts):
    """:meth:`ScatterStats.from_data <metricbench.learn.stats.ScatterStats.from_data>` of one row
    block (``rows``: the block's rows to use, None = all)."""
    from metricbench.learn.stats import ScatterStats

    return ScatterStats.from_data(blk, y, variants=variants, rows=rows, shift=shift, class_counts=class_counts,
                                  **request)


def _merge_stats(*parts):
    out = parts[0]
    for p in parts[1:]:
        out = out + p
    return out


def _block_extra(key, blk, y, stats, rows):
    from metricbench.learn.stats import SECOND_PASS

    return SECOND_PASS[key](blk, y, stats, rows=rows)


def _add(*parts):
    return sum(parts)


# --------------------------------------------------------------------------- the engine


#: address schemes of distributed's comms that a remote scheduler listens on
SCHEDULER_SCHEMES = ("tcp", "tls", "ws", "wss", "ucx")


def check_scheduler_address(address: str) -> str:
    """Check a scheduler address (``tcp://HOST:PORT``, or ``HOST:PORT``) before connecting.

    Raises
    ------
    InputError
        Not an address distributed can connect to (unknown scheme, no port).
    """
    from distributed.comm import parse_address
    from distributed.comm.addressing import parse_host_port

    hint = "give the address the scheduler prints, e.g. tcp://HOST:8786"
    try:
        scheme, loc = parse_address(str(address))
        if scheme not in SCHEDULER_SCHEMES:
            raise ValueError(f"unknown scheme {scheme!r} (known: {', '.join(SCHEDULER_SCHEMES)})")
        if scheme != "ucx":
            parse_host_port(loc)
    except ValueError as e:
        raise InputError(f"{address!r} is not a dask scheduler address: {e}; {hint}", param="scheduler") from None
    return str(address)


class DaskEngine:
    """Operations of :class:`metricbench.engines.local.LocalEngine` on a Dask cluster.

    Parameters
    ----------
    scheduler : str, optional
        Address of a running scheduler (``tcp://host:8786``, as printed by ``dask scheduler``).
        None starts a ``LocalCluster`` on this machine, closed by :meth:`close`.
    client : distributed.Client, optional
        Use this client instead (not closed by :meth:`close`).
    n_workers : int, optional
        Workers of the local cluster (default: one per CPU core).
    block_rows : int
        Rows per block of matrices given as paths or in memory.

    Raises
    ------
    InputError
        dask / distributed not installed, or the scheduler cannot be reached.
    """

    name = "dask"

    def __init__(self, scheduler=None, *, client=None, n_workers=None, block_rows: int = BLOCK_ROWS):
        _need_dask()
        from distributed import Client, LocalCluster

        self.block_rows = int(block_rows)
        self._cluster = None
        self._own = client is None
        if client is not None:
            self.client = client
        elif scheduler:
            check_scheduler_address(scheduler)
            try:
                self.client = Client(scheduler, timeout="20s")
            except (OSError, TimeoutError) as e:
                raise InputError(f"cannot reach the dask scheduler at {scheduler} ({e})") from None
        else:
            # the workers log errors only: their warnings (a task cancelled as the run stops) are noise
            # on a command's stderr; a task's failure still reaches the client as its exception
            self._cluster = LocalCluster(n_workers=n_workers or os.cpu_count() or 1, threads_per_worker=1,
                                         processes=True, dashboard_address=":0", silence_logs=logging.ERROR)
            self.client = Client(self._cluster)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *exc):
        self.close(quiet=exc_type is not None)
        return False

    def close(self, quiet: bool = False):
        """Close the client (and the local cluster this engine started).

        ``quiet``: the run stopped on an exception or an interrupt; the tasks it leaves cancelled
        log nothing (distributed and asyncio would print a traceback per cancelled future).
        """
        if quiet:
            for name in ("distributed", "asyncio", "tornado"):
                logging.getLogger(name).setLevel(logging.CRITICAL + 1)
        if self._own:
            self.client.close()
            if self._cluster is not None:
                self._cluster.close()

    def describe(self) -> str:
        info = self.client.scheduler_info()
        w = info.get("workers", {})
        return f"dask scheduler {info.get('address', '?')}, {len(w)} workers, {sum(v.get('nthreads', 0) for v in w.values())} threads"

    def _array(self, X):
        """:func:`as_dask_array` of ``X``; an in-memory matrix goes to the workers once, block by
        block (``client.scatter``), instead of inside every task graph that uses it."""
        if isinstance(X, (str, os.PathLike)) or not isinstance(X, np.ndarray):
            try:
                import dask.array as da

                if isinstance(X, da.Array) or isinstance(X, (str, os.PathLike)):
                    return as_dask_array(X, self.block_rows)
            except ImportError:  # pragma: no cover - _need_dask reports it
                pass
        A = np.asarray(X)
        if A.ndim != 2:
            return as_dask_array(A, self.block_rows)
        import dask
        import dask.array as da

        blocks = [A[s : s + self.block_rows] for s in range(0, A.shape[0], self.block_rows)]
        futures = self.client.scatter(blocks, hash=False)
        return da.concatenate([da.from_delayed(dask.delayed(f), shape=b.shape, dtype=A.dtype)
                               for f, b in zip(futures, blocks)], axis=0)

    # -- pair scoring ------------------------------------------------------------------------
    def score_pairs(self, X, index1, index2, metric="cosine", *, Y=None, **params) -> np.ndarray:
        """Distances of the pairs ``(X[index1], Y[index2])``, one task per pair of row blocks.

        Parameters and result as :func:`metricbench.engines.local.score_pairs`; ``X`` / ``Y``
        may also be dask arrays.
        """
        import dask

        _distance_fn(metric, dict(params))  # bad metric / parameters fail here, before any work
        XA = self._array(X)
        YA = XA if Y is None else self._array(Y)
        if XA.shape[1] != YA.shape[1]:
            raise InputError(f"X has {XA.shape[1]} columns but Y has {YA.shape[1]}")
        i1 = np.asarray(index1, dtype=np.int64)
        i2 = np.asarray(index2, dtype=np.int64)
        if i1.shape != i2.shape or i1.ndim != 1:
            raise InputError(f"index1 and index2 must be 1-D and of equal length, got {i1.shape} and {i2.shape}")
        _check_range(i1, XA.shape[0], "index1", 0)
        _check_range(i2, YA.shape[0], "index2", 0)
        out = np.empty(i1.size, dtype=np.float64)
        if i1.size == 0:
            return out
        lb, rb = _bounds(XA.chunks[0]), _bounds(YA.chunks[0])
        xb, yb = XA.to_delayed().ravel(), YA.to_delayed().ravel()
        ba = np.searchsorted(lb, i1, side="right") - 1
        bb = np.searchsorted(rb, i2, side="right") - 1
        key = ba * (len(rb) - 1) + bb
        order = np.argsort(key, kind="stable")
        ks = key[order]
        starts = np.flatnonzero(np.r_[True, ks[1:] != ks[:-1]])
        ends = np.r_[starts[1:], ks.size]
        metric_ref = self.client.scatter(metric, broadcast=True, hash=False) if not isinstance(metric, str) else metric
        tasks, sels = [], []
        for s, e in zip(starts, ends):
            a, b = divmod(int(ks[s]), len(rb) - 1)
            sel = order[s:e]
            tasks.append(dask.delayed(_bucket_distances, pure=True)(
                xb[a], yb[b], i1[sel] - lb[a], i2[sel] - rb[b], metric_ref, params))
            sels.append(sel)
        for sel, d in zip(sels, self.client.compute(tasks, sync=True)):
            out[sel] = d
        return out

    # -- top-k -------------------------------------------------------------------------------
    def topk(self, Q, G, k: int = 10, metric: str = "cosine", *, exclude_self: bool = False, **params):
        """Exact k nearest gallery rows of every query row, gallery and queries in row blocks.

        Returns ``(indices (n_q, k) int64, distances (n_q, k) float64)``, as
        :func:`metricbench.distances.topk`.
        """
        import dask

        from metricbench.distances.api import resolve_distance

        resolve_distance(metric)
        QA = self._array(Q)
        GA = QA if G is None else self._array(G)
        if QA.shape[1] != GA.shape[1]:
            raise InputError(f"query has {QA.shape[1]} columns but gallery has {GA.shape[1]}")
        if exclude_self and QA.shape[0] != GA.shape[0]:
            raise InputError("exclude_self needs query and gallery to be the same rows")
        k = int(k)
        if k < 1:
            raise InputError(f"k must be >= 1, got {k}")
        k = min(k, GA.shape[0] - (1 if exclude_self else 0))
        qb, gb = _bounds(QA.chunks[0]), _bounds(GA.chunks[0])
        qd, gd = QA.to_delayed().ravel(), GA.to_delayed().ravel()
        per_q = []
        for a in range(len(qd)):
            parts = [dask.delayed(_block_topk, pure=True, nout=2)(qd[a], gd[b], int(qb[a]), int(gb[b]), k, metric,
                                                                  bool(exclude_self), params)
                     for b in range(len(gd))]
            per_q.append(dask.delayed(_merge_topk, pure=True)(k, *parts))
        res = self.client.compute(per_q, sync=True)
        return np.concatenate([r[0] for r in res]), np.concatenate([r[1] for r in res])

    # -- statistics --------------------------------------------------------------------------
    def _tree(self, level, fan_in, merge):
        import dask

        while len(level) > 1:
            level = [dask.delayed(merge, pure=True)(*level[i : i + fan_in]) for i in range(0, len(level), fan_in)]
        return self.client.compute(level[0], sync=True)

    def scatter(self, X, y, *, variants=None, rows=None, fan_in: int = 8, **request):
        """:class:`~metricbench.learn.stats.ScatterStats` of ``X`` (or ``X[rows]``) with labels
        ``y``: :meth:`~metricbench.learn.stats.ScatterStats.from_data` of every row block on the
        workers (``request``: its keyword arguments), added in a tree of ``fan_in``-way merges.

        Every block uses one reference point (the mean of the first 4096 rows, as a local
        ``from_data``) and the global class counts, so the merged statistics equal the local
        ones up to the order of the sums.

        Raises
        ------
        InputError
            ``y`` (or ``variants``) of another length than ``X``, or a metric request the
            statistics cannot serve.
        """
        import dask

        XA = self._array(X)
        n = XA.shape[0]
        y = np.asarray(y)
        if y.shape != (n,):
            raise InputError(f"X has {n} rows but y has shape {y.shape}")
        if variants is not None:
            variants = np.asarray(variants)
            if variants.shape != (n,):
                raise InputError(f"X has {n} rows but variants has shape {variants.shape}")
        sel = np.arange(n) if rows is None else np.asarray(rows, dtype=np.int64)
        if sel.size == 0:
            raise InputError("no rows to gather statistics of")
        cross = request.get("cross")
        cc = global_class_counts(y[sel], None if variants is None else variants[sel], cross)
        # the reference point of a local from_data: the mean of the first 4096 rows used
        head = XA[:4096] if rows is None else XA[sel[:4096]]
        shift = np.asarray(head.compute(), dtype=np.float64).mean(0)
        bounds = _bounds(XA.chunks[0])
        blocks = XA.to_delayed().ravel()
        self._last = (XA, bounds, blocks, sel)
        level = []
        for i, blk in enumerate(blocks):
            a, b = int(bounds[i]), int(bounds[i + 1])
            local = None
            if rows is not None:
                local = sel[(sel >= a) & (sel < b)] - a
                if local.size == 0:
                    continue
            yv = None if variants is None or not cross else variants[a:b]
            level.append(dask.delayed(_block_stats, pure=True)(blk, y[a:b], yv, local, request, shift, cc))
        return self._tree(level, fan_in, _merge_stats)

    def gather_stats(self, metric, X, y, *, variants=None, rows=None, fan_in: int = 8):
        """The statistics ``metric`` is fitted from (its
        :meth:`~metricbench.learn.base.StatsFitted.gather_stats` request), by map-reduce over
        the row blocks; a second map adds the sums the metric needs given them (Ledoit-Wolf's
        fourth moment)."""
        import dask

        y = np.asarray(y)
        v_rows = None if variants is None else (np.asarray(variants) if rows is None else np.asarray(variants)[rows])
        request = metric._stats_request(v_rows)
        st = self.scatter(X, y, variants=variants, rows=rows, fan_in=fan_in, **request)
        extra = metric._stats_extra()
        if extra:
            XA, bounds, blocks, sel = self._last
            ref = self.client.scatter(st, broadcast=True, hash=False)
            for key in extra:
                parts = []
                for i, blk in enumerate(blocks):
                    a, b = int(bounds[i]), int(bounds[i + 1])
                    local = None if rows is None else sel[(sel >= a) & (sel < b)] - a
                    if local is not None and local.size == 0:
                        continue
                    parts.append(dask.delayed(_block_extra, pure=True)(key, blk, y[a:b], ref, local))
                st.extra[key] = float(self._tree(parts, fan_in, _add))
        return st

    def fit(self, metric, X, y, *, variants=None, **params):
        """``metric`` (a registry name built with ``params``, or an estimator) fitted from the
        statistics of ``X`` gathered by map-reduce on the cluster: each metric's own
        ``fit_from_stats``, so the result equals the local fit (an ``auto`` setting is searched
        on statistics of its fitting identities, reading only the held-out pairs' rows here).
        See :data:`metricbench.engines.stats.STATS_METRICS`.

        Raises
        ------
        InputError
            A metric or setting that needs the rows themselves.
        """
        m = stats_metric(metric, **params)
        if isinstance(X, (str, os.PathLike)):  # workers read the file, held-out pairs' rows are read here
            return fit_on_engine(EngineOnPath(self, X), m, _load(X), y, variants=variants)[0]
        return fit_on_engine(self, m, X, y, variants=variants)[0]

    # -- extraction --------------------------------------------------------------------------
    def extract(self, images_dir, out, *, labels=None, backend="dlib", backend_params=None, degrade=None,
                fallback="center", max_detect_side=None, shard_size: int = 64, restart: bool = False,
                progress: bool = True):
        """:func:`metricbench.extract.extract_folder` with the images embedded on the workers.

        The images still to embed are cut into shards of ``shard_size``; each is one task on a worker
        (which loads the backend's models once) and goes into the resumable store of ``out`` as soon as
        it is back (a rerun, local or on a cluster, embeds only what is missing); the output files are
        assembled in listing order, the same bytes a local run writes. Images must be readable at the
        same path on every worker (a shared file system).

        Parameters
        ----------
        images_dir, out, labels, backend, backend_params, degrade, fallback, max_detect_side, restart, progress
            As :func:`metricbench.extract.extract_folder`.
        shard_size : int
            Images per task (and per save to the store).

        Returns
        -------
        metricbench.extract.runner.ExtractSummary

        Raises
        ------
        InputError
            As :func:`~metricbench.extract.extract_folder`; ``shard_size`` below 1.
        """
        shard_size = int(shard_size)
        if shard_size < 1:
            raise InputError(f"shard_size must be at least 1, got {shard_size}", param="shard_size")
        return extract_folder(
            Path(images_dir).resolve(), out, labels=labels, backend=backend, backend_params=backend_params,
            degrade=degrade, fallback=fallback,
            max_detect_side=MAX_DETECT_SIDE if max_detect_side is None else max_detect_side,
            restart=restart, progress=progress, flush_every=1, outcomes=self._shard_outcomes(shard_size),
            where=self.describe(),
        )

    def _shard_outcomes(self, shard_size):
        def outcomes(backend, options, root, todo):
            from distributed import as_completed

            shards = [todo[i : i + shard_size] for i in range(0, len(todo), shard_size)]
            futs = [self.client.submit(process_shard, backend, options, root, sh, pure=False) for sh in shards]
            try:
                for fut in as_completed(futs):
                    yield fut.result()  # one shard: saved to the store as a whole
            finally:
                for fut in futs:
                    fut.cancel()

        return outcomes


__all__ = ["BLOCK_ROWS", "DaskEngine", "as_dask_array", "from_npy"]
