"""Shared CLI plumbing: one-line errors, --param parsing, default paths, progress."""

from __future__ import annotations

import functools
import sys
import time
from pathlib import Path

import typer

from metricbench.errors import MetricbenchError

#: exit code for bad input / user mistakes
EXIT_INPUT = 2


def fail(message: str, code: int = EXIT_INPUT):
    """Print ``error: message`` on one line to stderr and exit non-zero."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=code)


def reports_errors(func):
    """Turn library exceptions into one-line messages and a non-zero exit (no traceback)."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except MetricbenchError as e:
            fail(str(e).splitlines()[0] if str(e) else type(e).__name__)
        except MemoryError:
            fail("out of memory; lower --working-memory or use a smaller --param setting", code=3)
        except KeyboardInterrupt:
            fail("interrupted; nothing was written", code=130)

    return wrapper


def parse_value(text: str):
    """``--param`` values: int, float, true/false, none, else the string itself."""
    low = text.strip().lower()
    if low in ("true", "yes", "on"):
        return True
    if low in ("false", "no", "off"):
        return False
    if low in ("none", "null"):
        return None
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def parse_params(items: list[str] | None) -> dict:
    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            fail(f"--param {item!r} is not key=value (for example --param n_components=64)")
        out[key.strip()] = parse_value(value.strip())
    return out


def default_data_dir() -> Path:
    """The embedded default dataset: $METRICBENCH_DATA, else lfw-xq inside the installed package."""
    from metricbench.datasets import default_data_dir as _default

    return _default()


def info(msg: str) -> None:
    typer.echo(msg, err=True)


class Stage:
    """Context manager printing ``label ...`` then its duration to stderr (progress of long steps)."""

    def __init__(self, label: str, quiet: bool = False):
        self.label = label
        self.quiet = quiet

    def __enter__(self):
        self.t0 = time.perf_counter()
        if not self.quiet:
            sys.stderr.write(f"{self.label} ...")
            sys.stderr.flush()
        return self

    def __exit__(self, exc_type, exc, tb):
        self.seconds = time.perf_counter() - self.t0
        if not self.quiet:
            sys.stderr.write(f" {'done' if exc_type is None else 'failed'} ({self.seconds:.1f} s)\n")
            sys.stderr.flush()
        return False
