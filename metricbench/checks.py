"""Cheap, chunked checks of input matrices shared by the loaders and the distance entry points.

Light on purpose (numpy only): the loaders use it without importing numba.
"""

from __future__ import annotations

import numpy as np

from metricbench.config import get_chunk_n_rows
from metricbench.errors import NonFiniteError


def nonfinite_rows(X, *, rows=None, working_memory=None) -> np.ndarray:
    """Indices of the rows of ``X`` (or of its ``rows``) that hold NaN or inf, ascending.

    Scans in row chunks sized by the working-memory budget: a matrix-vector product
    with a vector of ones flags a chunk (NaN and inf propagate through it), and only
    a flagged chunk is looked at element by element (a finite row whose sum
    overflows is no error). No ``n x d`` boolean temporary, unlike ``np.isfinite(X).all()``.

    Parameters
    ----------
    X : ndarray of shape (n_rows, n_features)
    rows : ndarray of int, optional
        Look only at these rows.
    working_memory : float, optional
        MiB per chunk (default :func:`metricbench.config.get_working_memory`).

    Returns
    -------
    ndarray of int64
    """
    X = np.asarray(X)
    if X.dtype.kind not in "fc" or X.size == 0:
        return np.zeros(0, dtype=np.int64)
    n = X.shape[0] if rows is None else rows.size
    step = get_chunk_n_rows(X.shape[1] * max(8, X.dtype.itemsize), max_n_rows=n, working_memory=working_memory)
    ones = np.ones(X.shape[1], dtype=X.dtype)
    found = []
    for s in range(0, n, step):
        blk = np.asarray(X[s : s + step] if rows is None else X[rows[s : s + step]])
        with np.errstate(over="ignore", invalid="ignore"):
            if np.isfinite(blk @ ones).all():
                continue
        bad = np.flatnonzero(~np.isfinite(blk).all(axis=1)) + s
        found.append(bad if rows is None else np.asarray(rows)[bad])
    return np.sort(np.concatenate(found)).astype(np.int64) if found else np.zeros(0, dtype=np.int64)


def _raise_nonfinite(bad: np.ndarray, name: str):
    first = ", ".join(map(str, bad[:5].tolist())) + (", ..." if bad.size > 5 else "")
    raise NonFiniteError(
        f"{name}: {bad.size} row(s) hold NaN or inf (row {first}); distances are not defined on them: "
        "drop or repair those rows first"
    )


def check_finite(X, name: str = "X", *, rows=None, working_memory=None) -> None:
    """Raise :class:`~metricbench.errors.NonFiniteError` if ``X`` holds NaN or inf in the rows used.

    Parameters
    ----------
    X : ndarray of shape (n_rows, n_features)
    name : str
        What to call ``X`` in the message.
    rows : array-like of int, optional
        The rows that will be used (pair indices, repeats allowed); default all.
        Rows not used may hold anything.

    Raises
    ------
    metricbench.errors.NonFiniteError
        Naming the first offending rows (0-based indices into ``X``) and their count.
    """
    if rows is None:
        bad = nonfinite_rows(X, working_memory=working_memory)
    else:
        rows = np.asarray(rows, dtype=np.int64).ravel()
        if rows.size == 0:
            return
        if 4 * rows.size < np.shape(X)[0]:
            bad = nonfinite_rows(X, rows=np.unique(rows), working_memory=working_memory)
        else:  # a scan of every row is cheaper than gathering; keep the used ones
            bad = nonfinite_rows(X, working_memory=working_memory)
            bad = bad[np.isin(bad, rows)]
    if bad.size:
        _raise_nonfinite(bad, name)
