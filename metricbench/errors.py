"""Exceptions raised by the library; the CLI turns them into one-line messages."""

from __future__ import annotations


class MetricbenchError(Exception):
    """Base class of every error metricbench raises on purpose.

    The message is a single line meant for a user: it names the file, row or
    column at fault and what to do about it.
    """


class InputError(MetricbenchError, ValueError):
    """Invalid user input: a missing file, a malformed table, NaN rows, bad indices."""


class UnknownMetricError(MetricbenchError, KeyError):
    """A metric name that is not in the registry."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it plain
        return str(self.args[0]) if self.args else ""


def __getattr__(name: str):
    # NotFittedError subclasses scikit-learn's, which is imported only when the name is
    # first asked for (scikit-learn takes seconds to import; the CLI starts without it)
    if name == "NotFittedError":
        from sklearn.exceptions import NotFittedError as _SkNotFitted

        cls = type(
            "NotFittedError",
            (MetricbenchError, _SkNotFitted),
            {"__doc__": "A learned metric used before ``fit`` (a scikit-learn ``NotFittedError``).",
             "__module__": __name__},
        )
        globals()["NotFittedError"] = cls
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
