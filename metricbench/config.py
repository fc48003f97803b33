"""One working-memory setting for every chunked loop in metricbench.

Every loop that walks rows in blocks (distance blocks, top-k search, paired
scoring, covariance and scatter passes, finite-value scans, learned-metric
transforms) sizes its blocks from one budget in MiB, the way scikit-learn's
``working_memory`` does (:func:`sklearn.set_config`,
:func:`sklearn.utils.get_chunk_n_rows`).

The budget is resolved in this order:

1. an explicit ``working_memory=`` argument of the function called;
2. :func:`set_config` / :func:`config_context` of this module;
3. the environment variable ``METRICBENCH_WORKING_MEMORY`` (MiB);
4. :data:`DEFAULT_WORKING_MEMORY` (512 MiB).

scikit-learn's own ``working_memory`` (1024 MiB by default) still governs the
scikit-learn functions metricbench calls; metricbench's setting is separate because
it also bounds the numba kernels' blocks, which scikit-learn does not know about.

>>> import metricbench.config as cfg
>>> with cfg.config_context(working_memory=64):
...     cfg.get_working_memory()
64.0
"""

from __future__ import annotations

import contextlib
import os

from metricbench.errors import InputError

_config: dict = {"working_memory": None}

#: environment variable read when no explicit or configured budget is set
ENV_VAR = "METRICBENCH_WORKING_MEMORY"
#: budget in MiB when nothing else is set
DEFAULT_WORKING_MEMORY = 512.0


def _check(value, source: str) -> float:
    try:
        mib = float(value)
    except (TypeError, ValueError):
        raise InputError(f"{source}: working memory must be a number of MiB, got {value!r}") from None
    if not mib > 0 or mib == float("inf"):
        raise InputError(f"{source}: working memory must be a positive, finite number of MiB, got {value!r}")
    return mib


def get_config() -> dict:
    """A copy of metricbench's settings (``working_memory``: MiB or None = not set here)."""
    return dict(_config)


def set_config(*, working_memory=None) -> None:
    """Set the working-memory budget (MiB) of every chunked loop; None restores the default.

    Parameters
    ----------
    working_memory : float or None
        Budget in MiB of one block of temporary data (a distance block, a chunk
        of rows converted to float64, ...). None falls back to
        ``$METRICBENCH_WORKING_MEMORY``, else :data:`DEFAULT_WORKING_MEMORY`.

    Raises
    ------
    metricbench.errors.InputError
        If the value is not a positive finite number.
    """
    _config["working_memory"] = None if working_memory is None else _check(working_memory, "set_config")


@contextlib.contextmanager
def config_context(*, working_memory=None):
    """Temporarily set the working-memory budget (MiB) within a ``with`` block."""
    old = dict(_config)
    set_config(working_memory=working_memory)
    try:
        yield
    finally:
        _config.clear()
        _config.update(old)


def get_working_memory(working_memory=None) -> float:
    """The budget in MiB: the argument if given, else the configured, environment or default one."""
    if working_memory is not None:
        return _check(working_memory, "working_memory")
    if _config["working_memory"] is not None:
        return _config["working_memory"]
    env = os.environ.get(ENV_VAR)
    if env:
        return _check(env, ENV_VAR)
    return DEFAULT_WORKING_MEMORY


def working_memory_bytes(working_memory=None) -> int:
    """The budget in bytes (see :func:`get_working_memory`)."""
    return max(1, int(get_working_memory(working_memory) * 2**20))


def get_chunk_n_rows(row_bytes: int, *, max_n_rows: int | None = None, working_memory=None) -> int:
    """Rows per chunk so that one chunk of ``row_bytes``-byte rows fits the budget (at least 1).

    The same rule as :func:`sklearn.utils.get_chunk_n_rows`, without its warning
    when one row exceeds the budget (then one row at a time is used).

    Parameters
    ----------
    row_bytes : int
        Bytes of temporary memory one row of the chunk needs.
    max_n_rows : int, optional
        Upper bound (the number of rows there are).
    working_memory : float, optional
        Budget in MiB; default :func:`get_working_memory`.

    Returns
    -------
    int
    """
    n = max(1, working_memory_bytes(working_memory) // max(1, int(row_bytes)))
    if max_n_rows is not None:
        n = min(n, max(1, int(max_n_rows)))
    return int(n)
