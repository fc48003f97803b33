"""Where a workflow's competition comes from: a directory, a loaded competition, or the embedded default."""

from __future__ import annotations

from pathlib import Path

from metricbench.datasets import default_data_dir as _default
from metricbench.errors import InputError
from metricbench.io import Competition, load_competition


def default_data_dir() -> Path:
    """The embedded default competition: ``$METRICBENCH_DATA``, else ``lfw-xq`` inside the installed package
    (:func:`metricbench.datasets.default_data_dir`)."""
    return _default()


def open_competition(data=None, *, validate: bool = True):
    """A :class:`~metricbench.io.Competition` from ``data`` (a path, a competition, or None for the default).

    Raises
    ------
    InputError
        The directory or one of its files is missing or malformed (one line naming the file).
    """
    if isinstance(data, Competition):
        comp = data
    else:
        try:
            comp = load_competition(default_data_dir() if data is None else data)
        except InputError as e:
            if e.param is None and data is not None and not Path(data).is_dir():
                e.param = "data"  # the directory itself (absent, or a file): the argument at fault
            raise
    if validate:
        comp.validate()
    return comp


__all__ = ["default_data_dir", "open_competition"]
