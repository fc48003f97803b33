"""Output paths: checked before any work, named so that runs with other settings never collide.

:func:`check_output_file` and :func:`check_output_dir` raise
:class:`~metricbench.errors.OutputPathError` (one line) for a path that cannot be written: a
directory where a file is wanted, a folder that cannot be created (a file is in the way), a
folder without write permission, or an existing output that would be replaced without consent
(:class:`~metricbench.errors.OutputExistsError`). They create nothing that stays (a probe folder
is made and removed at once), so a run that fails later leaves no empty folders behind.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from metricbench.errors import OutputExistsError, OutputPathError


def _nearest_existing(path: Path) -> Path:
    p = path
    while not p.exists():
        if p.parent == p:
            break
        p = p.parent
    return p


def _check_parent(path: Path) -> None:
    parent = path.parent if str(path.parent) else Path(".")
    base = _nearest_existing(parent)
    if not base.is_dir():
        raise OutputPathError(f"{path}: cannot create folder {parent}: {base} is a file, not a folder")
    what = "write in" if base == parent else "create folders in"
    if not os.access(base, os.W_OK | os.X_OK):
        raise OutputPathError(f"{path}: cannot {what} {base} (permission denied); choose a writable location")
    # permission bits do not tell everything (a read-only or virtual file system such as /proc,
    # a superuser's access): a probe folder made and removed at once shows it before any work
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".metricbench-probe-", dir=base))
    except OSError as e:
        raise OutputPathError(f"{path}: cannot {what} {base} ({e.strerror or e}); choose a writable location") from None


def check_output_file(path, *, overwrite: bool = False) -> Path:
    """Check that ``path`` can be written as a file, before any work.

    Parameters
    ----------
    path : str or Path
    overwrite : bool
        Allow replacing an existing file.

    Returns
    -------
    Path

    Raises
    ------
    OutputPathError
        ``path`` is a directory, its folder cannot be created or written.
    OutputExistsError
        ``path`` exists and ``overwrite`` is False.
    """
    path = Path(path)
    if path.is_dir():
        raise OutputPathError(f"{path}: is a directory; give a file path")
    _check_parent(path)
    if path.exists():
        if not overwrite:
            raise OutputExistsError(f"{path}: exists (an earlier run?) and was kept", path=path)
        if not os.access(path, os.W_OK) and not os.access(path.parent, os.W_OK):
            raise OutputPathError(f"{path}: cannot be replaced (permission denied)")
    return path


def check_output_dir(path, *, marker: str | None = None, overwrite: bool = False) -> Path:
    """Check that ``path`` can be used as an output folder, before any work.

    Parameters
    ----------
    path : str or Path
    marker : str, optional
        A file whose presence in ``path`` means an earlier run wrote there.
    overwrite : bool
        Allow replacing an earlier run's files.

    Raises
    ------
    OutputPathError
        ``path`` is a file, or it cannot be created or written.
    OutputExistsError
        ``path / marker`` exists and ``overwrite`` is False.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise OutputPathError(f"{path}: is a file; give a folder path")
    if path.is_dir():
        if not os.access(path, os.W_OK | os.X_OK):
            raise OutputPathError(f"{path}: cannot write in this folder (permission denied)")
        if marker and (path / marker).exists() and not overwrite:
            raise OutputExistsError(f"{path}: holds an earlier run ({marker}), which was kept", path=path)
        return path
    _check_parent(path / "x")
    return path


def _text(v) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def _slug(value) -> str:
    text = ",".join(map(_text, value)) if isinstance(value, (tuple, list)) else _text(value)
    keep = "".join(c if (c.isalnum() or c in ".-,") else "-" for c in text)
    return keep.strip("-")[:40] or "x"


def settings_suffix(params: dict | None = None, **settings) -> str:
    """``_key=value`` for every parameter and non-default setting (sorted; ``None``/False left out).

    >>> settings_suffix({"n_components": 64}, norm="s-norm", similarity=True)
    '_n_components=64_norm=s-norm_similarity'
    """
    parts = [f"{k}={_slug(v)}" for k, v in sorted((params or {}).items())]
    for k, v in settings.items():
        if v is None or v is False:
            continue
        parts.append(k if v is True else f"{k}={_slug(v)}")
    return "".join("_" + p for p in parts)


def default_submission_path(metric: str, params: dict | None = None, *, folder="submissions", ext: str = "csv",
                            prefix: str = "", **settings) -> Path:
    """``folder/[prefix]metric[_k=v...].ext``: the name records every non-default setting, so a run
    with other settings never writes over an earlier one."""
    return Path(folder) / f"{prefix}{metric}{settings_suffix(params, **settings)}.{ext}"


__all__ = ["check_output_dir", "check_output_file", "default_submission_path", "settings_suffix"]
