"""Loaders for competition files, with one-line errors that name the file, line or column.

Positions are given as users count them: CSV files by their 1-based **line** number
(the header is line 1, the first data row line 2), CSV columns by name and 1-based
position; rows of an ``.npy`` matrix by their 0-based **row index**, the number the
CSVs' ``index`` / ``index1`` / ``index2`` columns use for them.

What is accepted (converted safely) and what is refused is tabulated in
``docs/errors.md``:

* ``.npy``: float16/32/64 as stored (memory-mapped); big-endian and
  Fortran-ordered floats converted to native C order (read into memory); integer
  and boolean arrays converted to float64 when exact (``|x| <= 2**53``). Refused:
  object, complex, string, structured and date arrays, anything not 2-D, empty,
  truncated or corrupt files, ``.npz`` archives, text files, NaN and inf rows.
* CSV: UTF-8 with or without a BOM, ``,`` ``;`` or tab separators (found from the
  header), LF or CRLF line ends, quoted values, extra columns (ignored). Refused:
  missing or duplicated required columns (renamed ones get a hint), no header,
  rows with more fields than the header, empty cells, indices that are not whole
  numbers or out of range, duplicate indices or ``Id``\\ s.
* Class labels: when every label of a file is a whole number (``1``, ``"1"``,
  ``1.0``) the classes are int64, so ``1`` in one file and ``1.0`` or ``"1"`` in
  another name the same class; otherwise they are strings. Two files whose labels
  share no class because one holds numbers and the other names are refused by
  :func:`harmonise_labels`.
"""

from __future__ import annotations

import csv
import difflib
import re
from pathlib import Path

import numpy as np

from metricbench.checks import nonfinite_rows
from metricbench.errors import InputError

#: integers beyond this lose digits as float64
_EXACT_INT = 2**53
#: delimiters recognised in a CSV header
_DELIMITERS = (",", ";", "\t")
#: name of the spare column that catches one field too many
_SPARE = "\x00spare"


def _need(path: Path, what: str) -> Path:
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: file not found ({what}); check the path or the competition directory", param="data")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, expected {what}")
    try:
        with open(path, "rb"):
            pass
    except PermissionError:
        raise InputError(f"{path}: cannot be read (permission denied); check the file's permissions") from None
    return path


def first_nonfinite_rows(X, limit: int = 5) -> tuple[int, list[int]]:
    """Count rows holding NaN or inf, and return the first ``limit`` of them; scans in chunks."""
    bad = nonfinite_rows(X)
    return int(bad.size), [int(r) for r in bad[:limit]]


# -- .npy ---------------------------------------------------------------------------------------

def _npy_header(path: Path):
    """``(shape, fortran_order, dtype, data_offset)`` from an .npy header, or a one-line InputError."""
    fmt = np.lib.format
    with open(path, "rb") as fh:
        magic = fh.read(6)
        if magic != b"\x93NUMPY":
            if magic[:2] == b"PK":
                raise InputError(f"{path}: is an .npz archive, not one .npy matrix; save one matrix with numpy.save")
            head = magic + fh.read(200)
            if b"\x00" not in head and head.strip():
                raise InputError(
                    f"{path}: is a text file, not an .npy matrix (wrong file or extension?); "
                    "save the embeddings with numpy.save"
                )
            raise InputError(f"{path}: not a valid .npy file (bad header); save it with numpy.save")
        fh.seek(0)
        try:
            version = fmt.read_magic(fh)
            if version == (1, 0):
                shape, fortran, dtype = fmt.read_array_header_1_0(fh)
            elif version == (2, 0):
                shape, fortran, dtype = fmt.read_array_header_2_0(fh)
            else:  # version 3.0 (utf-8 header): numpy's private reader
                from numpy.lib import _format_impl

                shape, fortran, dtype = _format_impl._read_array_header(fh, version)
        except Exception as e:  # noqa: BLE001  (any parse failure of the header is a corrupt file)
            msg = " ".join(str(e).split())[:120] or type(e).__name__
            raise InputError(
                f"{path}: corrupt .npy header ({msg}); the file is damaged: save or copy it again"
            ) from None
        offset = fh.tell()
    return tuple(shape), bool(fortran), dtype, offset


def _describe_kind(dtype: np.dtype) -> str | None:
    """Why ``dtype`` cannot hold embeddings, or None if it can (possibly after conversion)."""
    if dtype.hasobject:
        return "holds Python objects, not a numeric matrix; save a float32 array (X.astype('float32'))"
    kind = dtype.kind
    if kind == "c":
        return (f"holds complex numbers ({dtype}); embeddings are real: save X.real.astype('float32') "
                "if the imaginary part is zero")
    if kind in "US":
        return f"holds strings ({dtype}), not numbers; save a float32 array"
    if kind == "V":
        return f"holds structured records ({dtype}), not a plain matrix; save a float32 array"
    if kind in "mM":
        return f"holds dates or times ({dtype}), not embeddings"
    if kind not in "fiub":
        return f"holds dtype {dtype}, not numbers; save a float32 array"
    return None


def load_embeddings(path, *, mmap: bool = True, check_finite: bool = True) -> np.ndarray:
    """Load an embedding matrix from ``.npy``, memory-mapped by default.

    Parameters
    ----------
    path : path-like
        ``.npy`` file holding an (n_rows, n_features) matrix of any width.
    mmap : bool
        Map the file read-only instead of reading it into memory (native-order,
        C-ordered float files only; others are converted in memory).
    check_finite : bool
        Scan for NaN / inf rows (in chunks) and refuse them.

    Returns
    -------
    ndarray of shape (n_rows, n_features)
        float16/32/64 as stored; integer and boolean files as float64.

    Raises
    ------
    metricbench.errors.InputError
        One line naming the file and what to do: missing, empty, truncated or corrupt
        file, ``.npz`` or text file, a dtype that is not real numbers, not 2-D,
        integers too large for float64, NaN or inf rows (by 0-based row index).
    """
    path = _need(path, "an .npy embedding matrix")
    size = path.stat().st_size
    if size == 0:
        raise InputError(f"{path}: file is empty; expected an .npy matrix of embeddings")
    shape, fortran, dtype, offset = _npy_header(path)
    why = _describe_kind(dtype)
    if why:
        raise InputError(f"{path}: {why}")
    if len(shape) != 2:
        hint = ("a 1-D array is a single vector: save one row per image, e.g. X.reshape(1, -1)"
                if len(shape) == 1 else "save one row per image, shape (n_rows, n_features)")
        raise InputError(f"{path}: expected a 2-D matrix (n_rows, n_features), got shape {shape}; {hint}")
    if shape[0] == 0 or shape[1] == 0:
        raise InputError(f"{path}: matrix is empty (shape {shape})")
    need = int(np.prod(shape)) * dtype.itemsize
    have = size - offset
    if have < need:
        raise InputError(
            f"{path}: file is truncated: its header promises shape {shape} {dtype} ({need} bytes of data) "
            f"but it holds {have}; the copy is incomplete: copy or save it again"
        )
    native = dtype.isnative or dtype.itemsize == 1
    use_mmap = mmap and native and not fortran and dtype.kind == "f" and dtype.itemsize <= 8
    try:
        X = np.load(path, mmap_mode="r" if use_mmap else None, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        msg = " ".join(str(e).split())[:120]
        raise InputError(f"{path}: not a valid .npy file ({msg}); save it with numpy.save") from None
    if not use_mmap:
        X = _convert(X, path)
    if check_finite:
        bad = nonfinite_rows(X)
        if bad.size:
            rows = ", ".join(map(str, bad[:5].tolist())) + (", ..." if bad.size > 5 else "")
            raise InputError(
                f"{path}: {bad.size} row(s) contain NaN or inf (row index {rows}, 0-based as in the index "
                "columns); fix or drop those embeddings"
            )
    return X


def _convert(X: np.ndarray, path: Path) -> np.ndarray:
    """Native, C-ordered float: the safe conversions of the module docstring."""
    kind = X.dtype.kind
    if kind in "iub":
        if kind != "b" and X.size and max(abs(int(X.min())), abs(int(X.max()))) > _EXACT_INT:
            raise InputError(
                f"{path}: integer values beyond 2**53 cannot be converted to float exactly; save floats"
            )
        return np.ascontiguousarray(X, dtype=np.float64)
    if X.dtype.itemsize > 8:  # long double
        return np.ascontiguousarray(X, dtype=np.float64)
    return np.ascontiguousarray(X, dtype=X.dtype.newbyteorder("="))


def npy_shape(path) -> tuple[int, ...]:
    """Shape stored in an ``.npy`` header (no data read), or a one-line InputError."""
    path = _need(path, "an .npy embedding matrix")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: file is empty; expected an .npy matrix of embeddings")
    return _npy_header(path)[0]


# -- CSV ----------------------------------------------------------------------------------------

def line_of(row: int) -> int:
    """1-based file line of 0-based data row ``row`` (the header is line 1)."""
    return int(row) + 2


def _sniff(path: Path, columns: list[str], what: str) -> tuple[str, list[str]]:
    """``(delimiter, header names)`` from the first line; refuses binary, non-UTF-8 and header-less files."""
    with open(path, "rb") as fh:
        head = fh.read(65536)
    if head.startswith(b"\x93NUMPY"):
        raise InputError(f"{path}: is an .npy matrix, not a CSV (wrong file?); expected {what}")
    if head.startswith(b"PK") or b"\x00" in head:
        raise InputError(f"{path}: is a binary file, not a CSV (wrong file?); expected {what}")
    try:
        text = head.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        if e.start < len(head) - 4:  # not just a character cut by the 64 KiB boundary
            raise InputError(
                f"{path}: is not UTF-8 text (byte {e.start + 1}); save it as UTF-8 CSV"
            ) from None
        text = head[: e.start].decode("utf-8-sig")
    first = text.splitlines()[0] if text.splitlines() else ""
    if not first.strip():
        raise InputError(f"{path}: line 1 is empty; expected a header line {','.join(columns)}")
    best = None
    for delim in _DELIMITERS:
        names = [c.strip() for c in next(csv.reader([first], delimiter=delim))]
        score = (sum(c in names for c in columns), len(names))
        if best is None or score > best[0]:
            best = (score, delim, names)
    _, delim, names = best
    return delim, names


def read_csv_table(path, columns: list[str], what: str):
    """Read a CSV whose header holds ``columns`` (others are ignored); every cell as a stripped string.

    Parameters
    ----------
    path : path-like
    columns : list of str
        Required column names.
    what : str
        What the file should be, for messages ("a labels CSV with columns index,class").

    Returns
    -------
    pandas.DataFrame
        The required columns (plus any others) as str; data row ``r`` is file line
        :func:`line_of` ``(r)``. Trailing empty lines are dropped.

    Raises
    ------
    metricbench.errors.InputError
        Naming the file and the line or column at fault.
    """
    import pandas as pd

    path = _need(path, what)
    if path.stat().st_size == 0:
        raise InputError(f"{path}: file is empty; expected {what}")
    delim, names = _sniff(path, columns, what)
    for c in columns:
        pos = [i + 1 for i, n in enumerate(names) if n == c]
        if len(pos) > 1:
            raise InputError(
                f"{path}: line 1: column {c!r} appears {len(pos)} times (columns {', '.join(map(str, pos))}); "
                "keep one"
            )
    missing = [c for c in columns if c not in names]
    if missing:
        c = missing[0]
        if all(_is_number(n) for n in names if n):
            raise InputError(f"{path}: line 1 holds data, not a header; add the header line {','.join(columns)}")
        close = difflib.get_close_matches(c, [n for n in names if n not in columns], n=1, cutoff=0.5)
        hint = f"rename column {close[0]!r} to {c!r}" if close else f"the header must name {','.join(columns)}"
        raise InputError(
            f"{path}: line 1: missing column {c!r} (found: {', '.join(names) or 'none'}); {hint}"
        )
    # read the header as data under explicit names plus one spare column: a row with one
    # field too many fills the spare, one with more makes pandas name the line (pandas would
    # otherwise take a longer first row's extra field as an index)
    n = len(names)
    try:
        df = pd.read_csv(
            path, sep=delim, dtype=str, keep_default_na=False, na_filter=False, skip_blank_lines=False,
            encoding="utf-8-sig", skipinitialspace=True, header=None, names=list(range(n + 1)),
        )
    except pd.errors.ParserError as e:
        raise InputError(f"{path}: {_parser_message(str(e), n)}") from None
    except UnicodeDecodeError as e:
        raise InputError(f"{path}: is not UTF-8 text ({e.reason}); save it as UTF-8 CSV") from None
    df = df.iloc[1:].reset_index(drop=True)
    df.columns = [f"{c}.{i}" if c in names[:i] else c for i, c in enumerate(names)] + [_SPARE]
    spare = (df.pop(_SPARE).str.strip() != "").to_numpy()
    if spare.any():
        r = int(np.flatnonzero(spare)[0])
        raise InputError(
            f"{path}: line {line_of(r)} has {len(names) + 1} fields but the header has {len(names)}; "
            "remove the extra value (a separator inside a value must be quoted)"
        )
    # trailing empty lines are no rows
    blank = (df.apply(lambda s: s.str.strip()) == "").all(axis=1).to_numpy()
    if blank.any():
        last = len(df)
        while last and blank[last - 1]:
            last -= 1
        df = df.iloc[:last]
        blank = blank[:last]
        if blank.any():
            r = int(np.flatnonzero(blank)[0])
            raise InputError(f"{path}: line {line_of(r)} is empty; remove it or fill in {','.join(columns)}")
    if len(df) == 0:
        raise InputError(f"{path}: has a header but no rows; expected {what}")
    for c in columns:
        s = df[c].str.strip()
        empty = (s == "").to_numpy()
        if empty.any():
            r = int(np.flatnonzero(empty)[0])
            col = names.index(c) + 1
            raise InputError(
                f"{path}: line {line_of(r)}, column {col} ({c!r}) is empty; every row needs a value "
                f"({int(empty.sum())} row(s) affected)"
            )
        df[c] = s
    return df


def _plain_int_table(path, columns: list[str], what: str) -> dict | None:
    """The columns of a plain integer table as int64 arrays, or None to read it strictly.

    The fast path for the common file: a header naming exactly ``columns`` and then only
    whole numbers within 2**53, one row per line. It reads through pandas' C parser
    straight into int64 (about 5x faster than reading every cell as a string). Anything
    else - another header, an empty or ragged line, a blank cell, a float, a name, a
    number out of range - returns None, and :func:`read_csv_table` reads the file again
    and names the line at fault, so both paths give the same values or the same error.
    """
    import pandas as pd

    path = _need(path, what)
    if path.stat().st_size == 0:
        return None
    delim, names = _sniff(path, columns, what)
    if names != list(columns):
        return None
    try:
        df = pd.read_csv(
            path, sep=delim, header=0, names=list(columns), dtype=np.int64, engine="c", encoding="utf-8-sig",
            skip_blank_lines=False, skipinitialspace=True, na_filter=False,
        )
    except (ValueError, OverflowError, UnicodeDecodeError, pd.errors.ParserError):
        return None
    if len(df) == 0:
        return None
    out = {c: df[c].to_numpy(dtype=np.int64) for c in columns}
    if any(np.abs(v).max() > _EXACT_INT for v in out.values()):
        return None
    return out


def _parser_message(msg: str, n_fields: int) -> str:
    m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", msg)
    if m:
        return (f"line {m.group(2)} has {m.group(3)} fields but the header has {n_fields}; "
                "remove the extra values (a separator inside a value must be quoted)")
    return f"cannot parse as CSV ({' '.join(msg.split())[:120]})"


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _int_column(df, col: str, path, names: list[str] | None = None) -> np.ndarray:
    """Column of whole numbers as int64 (``3``, ``"3"``, ``3.0``), or an error naming the line."""
    import pandas as pd

    s = df[col]
    num = pd.to_numeric(s, errors="coerce")
    vals = num.to_numpy(dtype=np.float64, na_value=np.nan)
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(vals) | (vals != np.round(vals)) | (np.abs(vals) > _EXACT_INT)
    if bad.any():
        r = int(np.flatnonzero(bad)[0])
        pos = list(df.columns).index(col) + 1
        raise InputError(
            f"{path}: line {line_of(r)}, column {pos} ({col!r}) holds {str(s.iloc[r])!r}, expected a whole "
            f"number ({int(bad.sum())} row(s) affected)"
        )
    if pd.api.types.is_integer_dtype(num.dtype):
        return num.to_numpy(dtype=np.int64)
    return vals.astype(np.int64)


def _check_range(values: np.ndarray, n: int, col: str, path, target: str):
    bad = (values < 0) | (values >= n)
    if bad.any():
        r = int(np.flatnonzero(bad)[0])
        raise InputError(
            f"{path}: line {line_of(r)}: {col} {values[r]} is out of range for {target} with {n} rows "
            f"(valid: 0..{n - 1}, 0-based); {int(bad.sum())} row(s) affected"
        )


def _first_duplicate(values: np.ndarray):
    """``(row, earlier_row)`` of the first value seen twice, or None."""
    import pandas as pd

    dup = pd.Series(values).duplicated().to_numpy()
    if not dup.any():
        return None
    r = int(np.flatnonzero(dup)[0])
    earlier = int(np.flatnonzero(values == values[r])[0])
    return r, earlier


def canonical_labels(raw, path=None) -> np.ndarray:
    """Class labels from their text: int64 if every label is a whole number, else stripped strings.

    ``"1"``, ``1``, ``"1.0"`` and ``" 1 "`` all become the class ``1``, so files that
    write the same classes differently agree. Labels that are not all whole numbers
    stay strings as written.
    """
    import pandas as pd

    s = pd.Series(np.asarray(raw, dtype=str)).str.strip()
    num = pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    with np.errstate(invalid="ignore"):
        whole = np.isfinite(num) & (num == np.round(num)) & (np.abs(num) <= _EXACT_INT)
    if whole.all():
        return num.astype(np.int64)
    return s.to_numpy(dtype=str)


def harmonise_labels(a: np.ndarray, b: np.ndarray, name_a: str, name_b: str):
    """Make two label arrays comparable: numbers vs names are compared as text, or refused.

    Returns ``(a, b)`` of one kind. If one file's classes are whole numbers and the
    other's are names, the numbers are compared as text (``1`` matches ``"1"``); if
    then no class is shared, no row of one can ever match the other and an
    InputError says so.
    """
    a, b = np.asarray(a), np.asarray(b)
    if (a.dtype.kind in "iu") == (b.dtype.kind in "iu"):
        return a, b
    a2, b2 = a.astype(str), b.astype(str)
    if not np.isin(a2, b2).any():
        num, txt = (name_a, name_b) if a.dtype.kind in "iu" else (name_b, name_a)
        ex_n = (a if a.dtype.kind in "iu" else b)[0]
        ex_t = (b if a.dtype.kind in "iu" else a)[0]
        raise InputError(
            f"{num} labels are numbers (e.g. {ex_n}) but {txt} labels are names (e.g. {ex_t!r}) and no class "
            "is shared, so nothing can match; write the classes the same way in both files"
        )
    return a2, b2


def load_labels(path, n_rows: int | None = None, *, extra_columns: bool = False, matrix: str = "the embedding matrix"):
    """Read ``index,class`` labels; returns the class of each row in row order.

    Parameters
    ----------
    path : path-like
        CSV with columns ``index`` (0-based row of the embedding matrix) and
        ``class`` (identity: integer or string). Other columns are ignored.
    n_rows : int, optional
        Rows of the matching embedding matrix; every row must be labelled exactly once.
    extra_columns : bool
        Also return the whole table, ordered by ``index``.
    matrix : str
        Name of the matching matrix, for messages.

    Returns
    -------
    ndarray of shape (n_rows,)
        int64 when every class is a whole number (see :func:`canonical_labels`), else str.

    Raises
    ------
    metricbench.errors.InputError
        Naming the file line of the fault.
    """
    path = Path(path)
    what = "a labels CSV with columns index,class"
    plain = None if extra_columns else _plain_int_table(path, ["index", "class"], what)
    if plain is not None:  # only whole numbers: no string cells to build (the checks below are the same)
        df = None
        idx = plain["index"]
    else:
        df = read_csv_table(path, ["index", "class"], what)
        idx = _int_column(df, "index", path)
    n = len(idx) if n_rows is None else int(n_rows)
    _check_range(idx, n, "index", path, matrix)
    d = _first_duplicate(idx)
    if d is not None:
        r, e = d
        raise InputError(f"{path}: line {line_of(r)} labels index {idx[r]} again (first on line {line_of(e)}); "
                         "label each row once")
    if len(idx) != n:
        missing = int(np.flatnonzero(np.bincount(idx, minlength=n) == 0)[0])
        raise InputError(
            f"{path}: has labels for {len(idx)} rows but {matrix} has {n} rows (row index {missing} has no label); "
            "labels must match the matrix row for row"
        )
    order = np.argsort(idx, kind="stable")
    y = plain["class"][order] if plain is not None else canonical_labels(df["class"].to_numpy()[order], path)
    if extra_columns:
        return y, df.iloc[order].reset_index(drop=True)
    return y


def load_pairs(path, n_rows: int | None = None, *, n_rows2: int | None = None, matrix: str = "test_set.npy"):
    """Read ``index1,index2,Id`` test pairs.

    Returns a DataFrame with int64 columns ``index1``, ``index2``, ``Id``, rows in
    file order. Checks whole-number columns, indices within ``n_rows`` (``n_rows2``
    for ``index2`` if the second side is another matrix) and unique ``Id``.

    Raises
    ------
    metricbench.errors.InputError
        Naming the file line of the fault.
    """
    import pandas as pd

    path = Path(path)
    df = read_csv_table(path, ["index1", "index2", "Id"], "a pairs CSV with columns index1,index2,Id")
    out = pd.DataFrame({c: _int_column(df, c, path) for c in ("index1", "index2", "Id")})
    for col, n in (("index1", n_rows), ("index2", n_rows if n_rows2 is None else n_rows2)):
        if n is not None:
            _check_range(out[col].to_numpy(), int(n), col, path, matrix)
    ids = out["Id"].to_numpy()
    d = _first_duplicate(ids)
    if d is not None:
        r, e = d
        raise InputError(f"{path}: line {line_of(r)} repeats Id {ids[r]} of line {line_of(e)}; "
                         "every pair needs a unique Id")
    return out


def load_solution(path, ids=None):
    """Read ``Id,Expected`` (1 = same identity, 0 = different); aligned to ``ids`` if given.

    Raises
    ------
    metricbench.errors.InputError
        Naming the file line of the fault.
    """
    import pandas as pd

    path = Path(path)
    df = read_csv_table(path, ["Id", "Expected"], "a solution CSV with columns Id,Expected")
    sol = pd.DataFrame({"Id": _int_column(df, "Id", path), "Expected": _int_column(df, "Expected", path)})
    bad = ~sol["Expected"].isin([0, 1])
    if bad.any():
        r = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(f"{path}: line {line_of(r)}: Expected is {sol['Expected'].iloc[r]}, must be 0 or 1")
    d = _first_duplicate(sol["Id"].to_numpy())
    if d is not None:
        r, e = d
        raise InputError(f"{path}: line {line_of(r)} repeats Id {sol['Id'].iloc[r]} of line {line_of(e)}")
    if ids is not None:
        s = sol.set_index("Id")["Expected"]
        missing = ~pd.Index(ids).isin(s.index)
        if missing.any():
            raise InputError(f"{path}: no Expected value for Id {np.asarray(ids)[missing][0]} of the test pairs")
        return s.loc[np.asarray(ids)].to_numpy(dtype=np.int8)
    return sol


__all__ = [
    "canonical_labels",
    "first_nonfinite_rows",
    "harmonise_labels",
    "line_of",
    "load_embeddings",
    "load_labels",
    "load_pairs",
    "load_solution",
    "npy_shape",
    "read_csv_table",
]
