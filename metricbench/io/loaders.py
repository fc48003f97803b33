"""Loaders for competition files, with one-line errors that name the file, row or column."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from metricbench.errors import InputError

_SCAN_ROWS = 65536


def _need(path: Path, what: str) -> Path:
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: file not found ({what}); check the path or the --data directory")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, expected {what}")
    return path


def first_nonfinite_rows(X, limit: int = 5) -> tuple[int, list[int]]:
    """Count rows holding NaN or inf, and return the first ``limit`` of them; scans in chunks."""
    count = 0
    first: list[int] = []
    for s in range(0, X.shape[0], _SCAN_ROWS):
        blk = np.asarray(X[s : s + _SCAN_ROWS])
        bad = ~np.isfinite(blk).all(axis=1)
        if bad.any():
            rows = np.flatnonzero(bad) + s
            count += rows.size
            first.extend(int(r) for r in rows[: max(0, limit - len(first))])
    return count, first


def load_embeddings(path, *, mmap: bool = True, check_finite: bool = True) -> np.ndarray:
    """Load an embedding matrix from ``.npy``, memory-mapped by default.

    Parameters
    ----------
    path : path-like
        ``.npy`` file holding an (n_rows, n_features) float matrix of any width.
    mmap : bool
        Map the file read-only instead of reading it into memory.
    check_finite : bool
        Scan for NaN / inf rows (in chunks) and refuse them.

    Returns
    -------
    ndarray of shape (n_rows, n_features), float16/32/64 as stored
    """
    path = _need(path, "an .npy embedding matrix")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: file is empty; expected an .npy matrix of embeddings")
    with open(path, "rb") as fh:
        magic = fh.read(6)
    if magic != b"\x93NUMPY":
        if magic[:2] == b"PK":
            raise InputError(f"{path}: is an .npz archive, not one .npy matrix; save one matrix with numpy.save")
        raise InputError(f"{path}: not a valid .npy file (bad header); save it with numpy.save")
    try:
        X = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except ValueError as e:
        msg = str(e).splitlines()[0]
        if "pickle" in msg.lower() or "python objects" in msg.lower():
            raise InputError(f"{path}: holds Python objects, not a numeric matrix; save a float32 array") from None
        raise InputError(f"{path}: not a valid .npy file ({msg}); save it with numpy.save") from None
    except (OSError, EOFError) as e:
        raise InputError(f"{path}: not a valid .npy file ({e}); save it with numpy.save") from None
    if not isinstance(X, np.ndarray):
        raise InputError(f"{path}: not a single .npy array (an .npz archive?); save one matrix with numpy.save")
    if X.ndim != 2:
        raise InputError(f"{path}: expected a 2-D matrix (n_rows, n_features), got shape {X.shape}")
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise InputError(f"{path}: matrix is empty (shape {X.shape})")
    if not np.issubdtype(X.dtype, np.floating):
        raise InputError(
            f"{path}: embeddings must be floating point, got dtype {X.dtype}; convert with X.astype('float32')"
        )
    if check_finite:
        count, first = first_nonfinite_rows(X)
        if count:
            rows = ", ".join(map(str, first)) + (", ..." if count > len(first) else "")
            raise InputError(
                f"{path}: {count} row(s) contain NaN or inf (rows {rows}); fix or drop those embeddings"
            )
    return X


def _read_csv(path: Path, columns: list[str], what: str, dtypes: dict | None = None):
    import pandas as pd

    path = _need(path, what)
    if path.stat().st_size == 0:
        raise InputError(f"{path}: file is empty; expected a CSV with columns {','.join(columns)}")
    try:
        df = pd.read_csv(path, dtype=dtypes, keep_default_na=False, na_values=[""])
    except pd.errors.EmptyDataError:
        raise InputError(f"{path}: file is empty; expected a CSV with columns {','.join(columns)}") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as e:
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise InputError(f"{path}: cannot parse as CSV ({msg})") from None
    df.columns = [str(c).strip() for c in df.columns]
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise InputError(
            f"{path}: missing column {missing[0]!r} (found: {', '.join(map(str, df.columns)) or 'none'}); "
            f"expected columns {','.join(columns)}"
        )
    if len(df) == 0:
        raise InputError(f"{path}: has a header but no rows")
    return df


def _int_column(df, col: str, path) -> np.ndarray:
    """Column as int64, or an error naming the first bad row (row numbers count data rows from 0)."""
    import pandas as pd

    s = df[col]
    if pd.api.types.is_integer_dtype(s.dtype):
        return s.to_numpy(dtype=np.int64)
    num = pd.to_numeric(s, errors="coerce")
    bad = num.isna() | (num != np.floor(num.fillna(0)))
    if bad.any():
        r = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(f"{path}: column {col!r} row {r} holds {str(s.iloc[r])!r}, expected an integer row index")
    return num.to_numpy(dtype=np.int64)


def load_labels(path, n_rows: int | None = None, *, extra_columns: bool = False):
    """Read ``index,class`` labels; returns the class of each row in row order.

    Parameters
    ----------
    path : path-like
        CSV with columns ``index`` (row of the embedding matrix) and ``class``
        (identity: integer or string). Other columns are ignored.
    n_rows : int, optional
        Rows of the matching embedding matrix; every row must be labelled exactly once.

    Returns
    -------
    ndarray of shape (n_rows,): int64 when every class is an integer, else str
    (and the ordered DataFrame too if ``extra_columns``).
    """
    path = Path(path)
    df = _read_csv(path, ["index", "class"], "a labels CSV with columns index,class", dtypes={"class": str})
    idx = _int_column(df, "index", path)
    cls = df["class"]
    if cls.isna().any():
        r = int(np.flatnonzero(cls.isna().to_numpy())[0])
        raise InputError(f"{path}: column 'class' row {r} is empty; every row needs an identity")
    n = len(df) if n_rows is None else int(n_rows)
    if (idx < 0).any() or (idx >= n).any():
        r = int(np.flatnonzero((idx < 0) | (idx >= n))[0])
        raise InputError(
            f"{path}: column 'index' row {r} = {idx[r]} is out of range for an embedding matrix of {n} rows"
        )
    dup = np.bincount(idx, minlength=n)
    if (dup > 1).any():
        v = int(np.flatnonzero(dup > 1)[0])
        raise InputError(f"{path}: index {v} is labelled more than once")
    if len(df) != n:
        missing = int(np.flatnonzero(dup == 0)[0])
        raise InputError(
            f"{path}: labels {len(df)} rows but the embedding matrix has {n} rows (row {missing} has no label); "
            "labels must match the matrix row for row"
        )
    order = np.argsort(idx, kind="stable")
    raw = cls.to_numpy(dtype=str)[order]
    stripped = np.char.strip(raw)
    is_int = np.char.isdigit(np.char.lstrip(stripped, "-"))
    y = stripped.astype(np.int64) if is_int.all() else stripped.astype(str)
    if extra_columns:
        return y, df.iloc[order].reset_index(drop=True)
    return y


def load_pairs(path, n_rows: int | None = None, *, n_rows2: int | None = None):
    """Read ``index1,index2,Id`` test pairs.

    Returns a DataFrame with int64 columns ``index1``, ``index2``, ``Id``, rows in
    file order. Checks integer columns, indices within ``n_rows`` (``n_rows2`` for
    ``index2`` if the second side is another matrix) and unique ``Id``.
    """
    import pandas as pd

    path = Path(path)
    df = _read_csv(path, ["index1", "index2", "Id"], "a pairs CSV with columns index1,index2,Id")
    out = pd.DataFrame({c: _int_column(df, c, path) for c in ("index1", "index2", "Id")})
    for col, n in (("index1", n_rows), ("index2", n_rows if n_rows2 is None else n_rows2)):
        if n is None:
            continue
        v = out[col].to_numpy()
        bad = (v < 0) | (v >= n)
        if bad.any():
            r = int(np.flatnonzero(bad)[0])
            raise InputError(
                f"{path}: column {col!r} row {r} = {v[r]} is out of range for test_set.npy with {n} rows "
                f"(valid: 0..{n - 1}); {int(bad.sum())} row(s) affected"
            )
    ids = out["Id"].to_numpy()
    dup = pd.Series(ids).duplicated().to_numpy()
    if dup.any():
        r = int(np.flatnonzero(dup)[0])
        raise InputError(f"{path}: column 'Id' row {r} repeats Id {ids[r]}; every pair needs a unique Id")
    return out


def load_solution(path, ids=None):
    """Read ``Id,Expected`` (1 = same identity, 0 = different); aligned to ``ids`` if given."""
    import pandas as pd

    path = Path(path)
    df = _read_csv(path, ["Id", "Expected"], "a solution CSV with columns Id,Expected")
    sol = pd.DataFrame({"Id": _int_column(df, "Id", path), "Expected": _int_column(df, "Expected", path)})
    bad = ~sol["Expected"].isin([0, 1])
    if bad.any():
        r = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(f"{path}: column 'Expected' row {r} is {sol['Expected'].iloc[r]}, expected 0 or 1")
    if sol["Id"].duplicated().any():
        r = int(np.flatnonzero(sol["Id"].duplicated().to_numpy())[0])
        raise InputError(f"{path}: column 'Id' row {r} repeats Id {sol['Id'].iloc[r]}")
    if ids is not None:
        s = sol.set_index("Id")["Expected"]
        missing = ~pd.Index(ids).isin(s.index)
        if missing.any():
            raise InputError(f"{path}: no Expected value for Id {np.asarray(ids)[missing][0]}")
        return s.loc[np.asarray(ids)].to_numpy(dtype=np.int8)
    return sol
