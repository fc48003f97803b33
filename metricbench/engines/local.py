"""The local engine: one machine, bounded memory, inputs larger than memory streamed from disk.

:func:`score_pairs_file` scores a pairs file of any length (``index1,index2,Id`` CSV or an
integer ``.npy``) over an embedding matrix of any size and writes the submission, never holding
more than a budget of memory: the matrix is read in row blocks with plain file reads (a
memory map touched at random rows makes the whole file resident, and the kernel maps pages
around every fault), the pairs a chunk at a time, and the submission is written chunk by chunk
into a temporary file renamed into place at the end.

:class:`LocalEngine` exposes the operations :class:`metricbench.engines.dask.DaskEngine`
spreads over a cluster, with the same signatures and results.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path

import numpy as np

from metricbench.config import get_working_memory
from metricbench.engines.stats import fit_on_engine, stats_metric
from metricbench.errors import InputError
from metricbench.io import load_embeddings
from metricbench.io.atomic import atomic_path

#: pairs per chunk of the pairs file
PAIR_CHUNK = 1 << 22
#: memory budget (MiB) for the two resident row blocks of the matrix: None = metricbench.config's setting
BLOCK_MEMORY = None


# --------------------------------------------------------------------------- matrices on disk


class NpyFile:
    """A 2-D ``.npy`` matrix on disk read by row ranges with plain reads (no memory map).

    Parameters
    ----------
    path : path-like
        C-ordered 2-D ``.npy`` file.

    Raises
    ------
    InputError
        Not a 2-D C-ordered ``.npy`` file.
    """

    def __init__(self, path):
        self.path = Path(path)
        if not self.path.is_file():
            raise InputError(f"{self.path}: file not found")
        with open(self.path, "rb") as fh:
            try:
                version = np.lib.format.read_magic(fh)
                read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
                shape, fortran, dtype = read(fh)
            except ValueError as e:
                raise InputError(f"{self.path}: not a valid .npy file ({e})") from None
            self.offset = fh.tell()
        if fortran or len(shape) not in (1, 2):
            raise InputError(f"{self.path}: expected a C-ordered 1-D or 2-D .npy array, got shape {shape}")
        self.shape = tuple(shape) if len(shape) == 2 else (shape[0], 1)
        self.dtype = np.dtype(dtype)
        self.row_bytes = self.shape[1] * self.dtype.itemsize

    def read(self, start: int, stop: int, out: np.ndarray | None = None) -> np.ndarray:
        """Rows ``start:stop`` as an array (into ``out``'s first rows when given)."""
        m = stop - start
        buf = np.empty((m, self.shape[1]), self.dtype) if out is None else out[:m]
        with open(self.path, "rb", buffering=0) as fh:
            fh.seek(self.offset + start * self.row_bytes)
            view = memoryview(buf.reshape(-1).view(np.uint8))
            got = 0
            while got < view.nbytes:
                k = fh.readinto(view[got:])
                if not k:
                    raise InputError(f"{self.path}: file is shorter than its header says")
                got += k
        return buf


def _as_source(X, name):
    """``(kind, obj, shape, dtype)``: a file read by blocks, or an in-memory array."""
    if isinstance(X, (str, os.PathLike)):
        f = NpyFile(X)
        return f, f.shape, f.dtype
    if isinstance(X, np.memmap) and X.filename and X.ndim == 2 and X.flags.c_contiguous and X.base is not None:
        try:
            f = NpyFile(X.filename)
            if f.shape == X.shape and f.dtype == X.dtype and f.offset == X.offset:
                return f, f.shape, f.dtype
        except InputError:
            pass
    A = np.asarray(X)
    if A.ndim != 2:
        raise InputError(f"{name} must be a 2-D matrix, got shape {A.shape}")
    return A, A.shape, A.dtype


def _block(src, a0, a1, buf):
    if isinstance(src, NpyFile):
        return src.read(a0, a1, buf)
    return src[a0:a1]


# --------------------------------------------------------------------------- pairs on disk


def iter_pair_chunks(pairs, chunk: int = PAIR_CHUNK):
    """Yield ``(start, index1, index2, ids)`` chunks of a pairs file.

    Parameters
    ----------
    pairs : path-like or tuple of arrays
        A CSV with columns ``index1,index2,Id`` (read in chunks, other columns ignored), an
        integer ``.npy`` of shape (n, 2) or (n, 3) (``index1, index2[, Id]``; ``Id`` defaults to
        the row number), or a tuple ``(index1, index2[, ids])`` of arrays.
    chunk : int
        Pairs per chunk.

    Raises
    ------
    InputError
        Missing columns, non-integer values (naming the row).
    """
    if isinstance(pairs, tuple):
        i1, i2 = np.asarray(pairs[0]), np.asarray(pairs[1])
        ids = np.asarray(pairs[2]) if len(pairs) > 2 else np.arange(i1.size)
        for s in range(0, i1.size, chunk):
            yield s, i1[s : s + chunk].astype(np.int64), i2[s : s + chunk].astype(np.int64), ids[s : s + chunk]
        return
    path = Path(pairs)
    if not path.is_file():
        raise InputError(f"{path}: pairs file not found")
    if path.suffix == ".npy":
        f = NpyFile(path)
        if not np.issubdtype(f.dtype, np.integer) or f.shape[1] not in (2, 3):
            raise InputError(f"{path}: expected an integer (n, 2) or (n, 3) array index1,index2[,Id], "
                             f"got {f.dtype} {f.shape}")
        buf = np.empty((min(chunk, f.shape[0]), f.shape[1]), f.dtype)
        for s in range(0, f.shape[0], chunk):
            B = f.read(s, min(f.shape[0], s + chunk), buf)
            ids = B[:, 2].astype(np.int64) if f.shape[1] == 3 else np.arange(s, s + B.shape[0], dtype=np.int64)
            yield s, B[:, 0].astype(np.int64), B[:, 1].astype(np.int64), ids
        return
    import pandas as pd

    cols = ["index1", "index2", "Id"]
    try:
        head = pd.read_csv(path, nrows=0)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: cannot read as CSV ({str(e).splitlines()[0] if str(e) else type(e).__name__})") from None
    missing = [c for c in cols if c not in [str(c).strip() for c in head.columns]]
    if missing:
        raise InputError(f"{path}: missing column {missing[0]!r}; expected columns index1,index2,Id")
    s = 0
    try:
        # blank lines are kept (and refused), so that data row r is line r + 2 of the file
        # and every column is read, so that a line with more fields than the header is refused
        reader = pd.read_csv(path, chunksize=chunk, dtype={c: np.int64 for c in cols}, engine="c",
                             skip_blank_lines=False)
        for df in reader:
            yield s, df["index1"].to_numpy(), df["index2"].to_numpy(), df["Id"].to_numpy()
            s += len(df)
    except (ValueError, pd.errors.ParserError) as e:
        raise InputError(_bad_pairs_line(path, cols, chunk, s, e)) from None


def _bad_pairs_line(path, cols, chunk, start, err) -> str:
    """The message for a pairs CSV chunk that did not read as integers: its first bad cell, by
    the 1-based line of the file (the header is line 1). Runs only on that error."""
    import pandas as pd

    first = str(err).splitlines()[0] if str(err) else type(err).__name__
    m = re.search(r"line (\d+)", first)
    if isinstance(err, pd.errors.ParserError) and m:  # pandas counts the file's lines from 1, header included
        return f"{path}: line {m.group(1)} does not split into the header's fields ({first})"
    whole = re.compile(r"^\s*[+-]?\d+\s*$")
    s = 0
    try:
        for df in pd.read_csv(path, usecols=cols, chunksize=chunk, dtype=str, keep_default_na=False,
                              skip_blank_lines=False):
            if s >= start:
                for col in cols:
                    bad = np.flatnonzero(~df[col].str.match(whole).to_numpy(dtype=bool))
                    if bad.size:
                        r = int(bad[0])
                        what = "is empty" if not df[col].iloc[r].strip() else f"holds {df[col].iloc[r]!r}"
                        return (f"{path}: line {s + r + 2}, column {col!r} {what}; expected a whole number "
                                f"(a 0-based row index{' or a pair Id' if col == 'Id' else ''})")
            s += len(df)
    except (ValueError, pd.errors.ParserError):
        pass
    return f"{path}: a line after line {start + 1} does not read as whole numbers ({first})"


def pair_position(pairs):
    """``where(r)``: how messages name pair ``r`` (0-based) of ``pairs``: the 1-based line of a CSV
    file (the header is line 1), the 0-based row of an ``.npy`` file, the 0-based position of arrays."""
    if pairs is None or isinstance(pairs, tuple):
        return lambda r: f"pair {r} (0-based)"
    path = Path(pairs)
    if path.suffix == ".npy":
        return lambda r: f"{path}: row {r} (0-based)"
    return lambda r: f"{path}: line {r + 2}"


def _count_pairs(pairs):
    if isinstance(pairs, tuple):
        return len(pairs[0])
    path = Path(pairs)
    if path.suffix == ".npy":
        return NpyFile(path).shape[0]
    return None  # a CSV: unknown until read


class _IdSet:
    """Duplicate detection over a stream of non-negative integer Ids (a growable bitmap)."""

    LIMIT = 1 << 34

    def __init__(self, where=None):
        self.bits = np.zeros(1 << 20, dtype=bool)
        self.where = where or pair_position(None)

    def add(self, ids, start):
        if ids.size == 0:
            return
        lo, hi = int(ids.min()), int(ids.max())
        if lo < 0 or hi >= self.LIMIT:
            bad = int(np.flatnonzero((ids < 0) | (ids >= self.LIMIT))[0])
            raise InputError(f"{self.where(start + bad)}: Id {ids[bad]} is outside 0..{self.LIMIT - 1}")
        if hi >= self.bits.size:
            grown = np.zeros(max(hi + 1, 2 * self.bits.size), dtype=bool)
            grown[: self.bits.size] = self.bits
            self.bits = grown
        u, first = np.unique(ids, return_index=True)
        if u.size != ids.size or self.bits[u].any():
            if u.size != ids.size:
                dup = np.setdiff1d(np.arange(ids.size), first)[0]
            else:
                dup = int(np.flatnonzero(self.bits[ids])[0])
            raise InputError(f"{self.where(start + dup)} repeats Id {ids[dup]}; every pair needs a unique Id")
        self.bits[u] = True


# --------------------------------------------------------------------------- scoring


def _distance_fn(metric, params):
    """``f(A, B, i1, i2)``: distances of pairs ``(A[i1], B[i2])``."""
    if isinstance(metric, str):
        from metricbench.distances.api import paired_distances, resolve_distance

        dist = resolve_distance(metric)
        if dist.name == "seuclidean" and "V" not in params:
            raise InputError("out-of-core seuclidean needs V (the per-dimension variances) given explicitly")
        if dist.name == "mahalanobis" and "VI" not in params:
            raise InputError("out-of-core mahalanobis needs VI given explicitly (or use a fitted metric)")

        def f(A, B, i1, i2):
            return paired_distances(A, i1, i2, metric=dist.name, Y=B, **params)

        return f
    if not hasattr(metric, "pair_distance"):
        raise InputError("metric must be a distance name or a fitted metric with pair_distance")
    if params:
        raise InputError("parameters go to the metric object itself, not to score_pairs_file")

    def f(A, B, i1, i2):
        return np.asarray(metric.pair_distance(A, i1, i2, Y=B), dtype=np.float64)

    return f


def _blocks(n_rows, row_bytes, memory_mib, two: bool):
    """Row-block boundaries such that one (or two) blocks fit in ``memory_mib`` (None: the setting)."""
    budget = max(1, int(get_working_memory(memory_mib) * 2**20) // (2 if two else 1))
    rows = max(1, budget // max(1, row_bytes))
    nb = max(1, math.ceil(n_rows / rows))
    step = math.ceil(n_rows / nb)
    return np.arange(0, n_rows + step, step).clip(max=n_rows)[: nb + 1]


def score_pairs(X, index1, index2, metric="cosine", *, Y=None, memory=BLOCK_MEMORY, **params):
    """Distances of pairs ``(X[index1], Y[index2])`` with ``X`` (and ``Y``) read in row blocks.

    Parameters
    ----------
    X : path-like or ndarray of shape (n_rows, n_features)
        An ``.npy`` path (or a memory map of one) is read in row blocks with file reads,
        at most two blocks of ``memory / 2`` MiB resident; an in-memory array is used as is.
    index1, index2 : ndarray of int, shape (n_pairs,)
    metric : str or fitted metric
        A distance name (``metricbench metrics``) or a fitted metric object.
    Y : path-like or ndarray, optional
        Matrix of the second side (default ``X``).
    memory : float
        MiB for the resident row blocks.
    **params
        Distance parameters (``p``, ``V``, ``VI``) for a distance name.

    Returns
    -------
    ndarray of shape (n_pairs,), float64, in the order of the pairs

    Raises
    ------
    InputError
        Indices out of range, widths that differ, parameters a block cannot estimate.
    """
    f = _distance_fn(metric, params)
    left, lshape, ldtype = _as_source(X, "X")
    same = Y is None
    right, rshape, rdtype = (left, lshape, ldtype) if same else _as_source(Y, "Y")
    if lshape[1] != rshape[1]:
        raise InputError(f"X has {lshape[1]} columns but Y has {rshape[1]}")
    i1 = np.asarray(index1, dtype=np.int64)
    i2 = np.asarray(index2, dtype=np.int64)
    return _score_chunk(f, left, lshape, ldtype, right, rshape, rdtype, same, i1, i2, memory, 0)


def _check_range(idx, n, col, start, where=None):
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        r = int(np.flatnonzero((idx < 0) | (idx >= n))[0])
        raise InputError(f"{(where or pair_position(None))(start + r)}: {col} = {idx[r]} is out of range for a "
                         f"matrix of {n} rows (valid: 0..{n - 1})")


def _score_chunk(f, left, lshape, ldtype, right, rshape, rdtype, same, i1, i2, memory, start, cache=None, where=None):
    _check_range(i1, lshape[0], "index1", start, where)
    _check_range(i2, rshape[0], "index2", start, where)
    out = np.empty(i1.size, dtype=np.float64)
    if i1.size == 0:
        return out
    in_memory = not isinstance(left, NpyFile) and not isinstance(right, NpyFile)
    if in_memory:
        out[:] = f(left, right, i1, i2)
        return out
    row_bytes = lshape[1] * max(ldtype.itemsize, rdtype.itemsize)
    lb = _blocks(lshape[0], row_bytes, memory, two=True)
    rb = lb if same else _blocks(rshape[0], row_bytes, memory, two=True)
    ba = np.searchsorted(lb, i1, side="right") - 1
    bb = np.searchsorted(rb, i2, side="right") - 1
    key = ba * (len(rb) - 1) + bb
    order = np.argsort(key, kind="stable")
    ks = key[order]
    nb_r = len(rb) - 1
    bounds = np.searchsorted(ks, np.arange((len(lb) - 1) * nb_r + 1))
    cache = {} if cache is None else cache

    def load(side, src, edges, b, slot):
        k = (side, b)
        if cache.get(slot, (None,))[0] == k:
            return cache[slot][1]
        cache.pop(slot, None)
        buf = cache.pop(("buf", slot), None)
        rows = int(edges[b + 1] - edges[b])
        if isinstance(src, NpyFile):
            if buf is None or buf.shape[0] < rows or buf.dtype != src.dtype:
                buf = np.empty((int(np.max(np.diff(edges))), src.shape[1]), src.dtype)
            blk = src.read(int(edges[b]), int(edges[b + 1]), buf)
            cache[("buf", slot)] = buf
        else:
            blk = src[int(edges[b]) : int(edges[b + 1])]
        cache[slot] = (k, blk)
        return blk

    def run(a, b, A, B):
        s, e = bounds[a * nb_r + b], bounds[a * nb_r + b + 1]
        if e > s:
            sel = order[s:e]
            out[sel] = f(A, B, i1[sel] - lb[a], i2[sel] - rb[b])

    nl = len(lb) - 1
    if same:
        # blocks a <= b resident together serve the buckets (a, b) and (b, a)
        for a in range(nl):
            A = load("L", left, lb, a, 0)
            run(a, a, A, A)
            for b in range(a + 1, nl):
                if bounds[a * nb_r + b + 1] == bounds[a * nb_r + b] and bounds[b * nb_r + a + 1] == bounds[b * nb_r + a]:
                    continue
                B = load("L", left, lb, b, 1)
                run(a, b, A, B)
                run(b, a, B, A)
    else:
        for a in range(nl):
            if bounds[(a + 1) * nb_r] == bounds[a * nb_r]:
                continue
            A = load("L", left, lb, a, 0)
            for b in range(nb_r):
                if bounds[a * nb_r + b + 1] > bounds[a * nb_r + b]:
                    run(a, b, A, load("R", right, rb, b, 1))
    return out


def score_pairs_file(
    X,
    pairs,
    out,
    metric="cosine",
    *,
    Y=None,
    similarity: bool = False,
    memory: float | None = BLOCK_MEMORY,
    chunk_pairs: int = PAIR_CHUNK,
    progress=None,
    **params,
) -> dict:
    """Score a pairs file of any length and write the submission ``Id,Predicted`` in chunks.

    Memory stays bounded by ``memory`` (two row blocks of the matrix) plus one chunk of pairs
    (about 100 bytes a pair), whatever the sizes of the matrix and of the pairs file.

    Parameters
    ----------
    X : path-like or ndarray of shape (n_rows, n_features)
        Embeddings; an ``.npy`` path (or memory map of one) is read in row blocks, never mapped whole.
    pairs : path-like or tuple
        ``index1,index2,Id`` CSV, integer ``.npy`` (n, 2) / (n, 3), or ``(index1, index2[, ids])``.
    out : path-like
        Submission CSV. Rows come in the order of the pairs file (not sorted by Id); written to a
        temporary file beside ``out`` and renamed onto it only when every pair is scored.
    metric : str or fitted metric
        Distance name or fitted metric object (see :func:`score_pairs`).
    Y : path-like or ndarray, optional
        Matrix of ``index2`` (default ``X``).
    similarity : bool
        Write ``-distance`` (larger = more alike).
    memory : float
        MiB for the matrix blocks.
    chunk_pairs : int
        Pairs read, scored and written per chunk.
    progress : callable, optional
        ``progress(done_pairs, total_pairs_or_None)`` after each chunk.
    **params
        Distance parameters.

    Returns
    -------
    dict
        ``n_pairs``, ``out``, ``blocks`` (row blocks of X), ``chunks``.

    Raises
    ------
    InputError
        Bad pairs (non-integer, out of range, repeated Id), non-finite distances; nothing is written.
    """
    f = _distance_fn(metric, params)
    left, lshape, ldtype = _as_source(X, "X")
    same = Y is None
    right, rshape, rdtype = (left, lshape, ldtype) if same else _as_source(Y, "Y")
    if lshape[1] != rshape[1]:
        raise InputError(f"X has {lshape[1]} columns but Y has {rshape[1]}")
    chunk_pairs = int(chunk_pairs)
    if chunk_pairs < 1:
        raise InputError(f"chunk_pairs must be >= 1, got {chunk_pairs}")
    total = _count_pairs(pairs)
    where = pair_position(pairs)
    seen = _IdSet(where)
    done = 0
    n_chunks = 0
    cache: dict = {}
    out = Path(out)
    with atomic_path(out) as tmp, open(tmp, "w", newline="") as fh:
        fh.write("Id,Predicted\n")
        for start, i1, i2, ids in iter_pair_chunks(pairs, chunk_pairs):
            seen.add(ids, start)
            d = _score_chunk(f, left, lshape, ldtype, right, rshape, rdtype, same, i1, i2, memory, start, cache, where)
            bad = ~np.isfinite(d)
            if bad.any():
                r = int(np.flatnonzero(bad)[0])
                raise InputError(f"{where(start + r)} (Id {ids[r]}): the distance is NaN or inf; nothing written")
            if similarity:
                np.negative(d, out=d)
            _write_rows(fh, ids, d)
            done += i1.size
            n_chunks += 1
            if progress is not None:
                progress(done, total)
    lsrc_rows = lshape[0]
    return {"n_pairs": done, "out": str(out), "chunks": n_chunks,
            "blocks": len(_blocks(lsrc_rows, lshape[1] * ldtype.itemsize, memory, True)) - 1}


def _write_rows(fh, ids, values, step: int = 1 << 18):
    """``Id,value`` lines, values to 9 significant digits (as :func:`metricbench.io.write_submission`)."""
    fmt = "%d,%.9g\n".__mod__
    for s in range(0, len(ids), step):
        fh.write("".join(map(fmt, zip(np.asarray(ids[s : s + step]).tolist(), values[s : s + step].tolist()))))


# --------------------------------------------------------------------------- the engine


class LocalEngine:
    """Every operation in this process (the reference the Dask engine's results must equal).

    Parameters
    ----------
    memory : float
        MiB for the resident row blocks of matrices read from disk.
    """

    name = "local"

    def __init__(self, memory: float | None = BLOCK_MEMORY):
        self.memory = memory

    def score_pairs(self, X, index1, index2, metric="cosine", *, Y=None, **params) -> np.ndarray:
        """See :func:`score_pairs`."""
        return score_pairs(X, index1, index2, metric, Y=Y, memory=self.memory, **params)

    def topk(self, Q, G, k: int = 10, metric: str = "cosine", *, exclude_self: bool = False, **params):
        """Exact top-k of every query row over the gallery: :func:`metricbench.distances.topk`.

        Returns ``(indices (n_q, k) int64, distances (n_q, k) float64)``."""
        from metricbench.distances import topk

        Q = _load(Q)
        G = Q if G is None else _load(G)
        return topk(Q, G, k, metric=metric, exclude_self=exclude_self, **params)

    def gather_stats(self, metric, X, y, *, variants=None, rows=None):
        """The statistics ``metric`` is fitted from (:meth:`~metricbench.learn.base.StatsFitted.gather_stats`),
        of ``X`` (a matrix or an ``.npy`` path, memory-mapped) or ``X[rows]``: one pass in chunks
        from the working-memory setting."""
        return metric.gather_stats(_load(X), np.asarray(y), variants, rows=rows)

    def scatter(self, X, y, *, variants=None, **request):
        """:class:`~metricbench.learn.stats.ScatterStats` of ``X`` with labels ``y`` (``request``:
        the keyword arguments of :meth:`~metricbench.learn.stats.ScatterStats.from_data`)."""
        from metricbench.learn.stats import ScatterStats

        return ScatterStats.from_data(_load(X), np.asarray(y), variants=variants, **request)

    def fit(self, metric, X, y, *, variants=None, **params):
        """``metric`` (a name built with ``params``, or an estimator) fitted from the statistics of
        ``X`` (see :func:`metricbench.engines.stats.fit_on_engine`); raises for a metric that
        needs the rows themselves."""
        return fit_on_engine(self, stats_metric(metric, **params), _load(X), y, variants=variants)[0]

    def close(self, quiet: bool = False):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _load(X):
    if isinstance(X, (str, os.PathLike)):
        return load_embeddings(X, mmap=True)
    return X
