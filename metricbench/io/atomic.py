"""Atomic writes: a temporary file in the target's folder, flushed to disk, renamed into place.

The contract: an existing output is left byte-identical when a new write fails (a
full disk, a permission problem, an exception in the caller) or is interrupted
(Ctrl-C, SIGTERM, even SIGKILL or a power cut: the rename is the only step that
touches the target, and it is atomic on POSIX file systems and on Windows' NTFS).
On failure the temporary file is removed, except after SIGKILL / power loss, when a
hidden ``.<name>.<random>.tmp`` may remain beside the target; it is never read.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from pathlib import Path

from metricbench import errors

#: the exception for an output that cannot be written (the CLI maps it to exit 2)
OutputError = getattr(errors, "OutputPathError", errors.InputError)

_REASONS = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.EROFS: "the file system is read-only",
    errno.EISDIR: "it is a directory",
    errno.ENOTDIR: "a component of the path is a file, not a folder",
    errno.ENOENT: "its folder does not exist and cannot be created",
    errno.EEXIST: "a component of the path is a file, not a folder",
    errno.ENAMETOOLONG: "the name is too long",
    errno.EFBIG: "the file is too large for the file system",
}


def _why(exc: OSError) -> str:
    return _REASONS.get(exc.errno, (exc.strerror or type(exc).__name__).lower())


def _fail(path: Path, exc: OSError, existed: bool):
    kept = f"{path.name} is unchanged" if existed else "nothing was written"
    return OutputError(f"cannot write {path}: {_why(exc)}; {kept}. Choose another path or free the problem first")


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside ``path``; move it onto ``path`` only if the block succeeds.

    The temporary file is flushed to disk (``fsync``) before the rename, so that a
    crash right after cannot leave an empty or partial file under the target's name.

    Raises
    ------
    OutputError
        (:class:`metricbench.errors.OutputPathError` where defined, else
        :class:`~metricbench.errors.InputError`) when the folder cannot be created or
        the file cannot be written or renamed: a full disk, no permission, a
        read-only file system, a directory in the way. ``path`` is left as it was.
    """
    path = Path(path)
    existed = path.exists()
    if path.is_dir():
        raise _fail(path, OSError(errno.EISDIR, "is a directory"), False)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
    except OSError as e:
        raise _fail(path, e, existed) from None
    try:
        yield Path(tmp)
        _fsync(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the usual permissions
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except OSError as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise _fail(path, e, existed) from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _fsync(p) -> None:
    fd = os.open(p, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(d: Path) -> None:
    """Make the rename durable (POSIX; a no-op where folders cannot be opened)."""
    with contextlib.suppress(OSError):
        fd = os.open(d, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_path`)."""
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text)
    return Path(path)


def replace_directory(tmp, out) -> None:
    """Move the finished folder ``tmp`` to ``out``, replacing an existing ``out`` only once ``tmp`` is complete.

    The old folder is first moved aside (same file system), then removed, so ``out`` never holds a mix.
    """
    tmp, out = Path(tmp), Path(out)
    if out.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old.", dir=out.parent))
        os.replace(out, old / out.name)
        os.replace(tmp, out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, out)


@contextlib.contextmanager
def staged_directory(out):
    """A fresh folder beside ``out`` to fill; it replaces ``out`` whole when the block succeeds
    (:func:`replace_directory`) and is removed when it fails, leaving ``out`` as it was.

    >>> with staged_directory("runs/competition") as tmp:  # doctest: +SKIP
    ...     np.save(tmp / "train_set.npy", X)
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    os.chmod(tmp, 0o755)
    try:
        yield tmp
        replace_directory(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
