"""Exceptions raised by the library; the CLI turns them into one-line messages.

The contract of the ``metricbench`` command line:

| what happened | exit code |
|---|---|
| success | 0 |
| an :class:`InputError` (bad file, bad value, unknown name or parameter, unusable output path) or a usage error | 2 |
| anything else (a bug, out of memory) | 1 |
| interrupted (Ctrl-C) | 130 |

Messages are one line, meant for a user: they name the file, 1-based line or column, or the
parameter at fault and what to do about it. The library never names command-line flags; the
CLI adds those.
"""

from __future__ import annotations


class MetricbenchError(Exception):
    """Base class of every error metricbench raises on purpose."""


class InputError(MetricbenchError, ValueError):
    """Invalid user input: a missing file, a malformed table, NaN rows, bad indices, a bad value.

    ``param``, when given, is the name of the library argument at fault (``"jobs"``,
    ``"restart"``): the message speaks in the library's terms, and a front end such as the CLI
    can map the argument to its own option.
    """

    def __init__(self, *args, param: str | None = None):
        super().__init__(*args)
        self.param = param


class UnknownMetricError(InputError, KeyError):
    """A metric name that is not in the name table (:mod:`metricbench.registry`)."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it plain
        return str(self.args[0]) if self.args else ""


class ParameterError(InputError):
    """A parameter name that the metric does not take, or a value of the wrong type or range."""


class OutputPathError(InputError):
    """An output path that cannot be written: a directory, an unwritable or uncreatable folder,
    or an existing file that would be replaced without consent."""


class OutputExistsError(OutputPathError):
    """An output that exists already and would be replaced; ``path`` is the file or folder."""

    def __init__(self, message: str, path=None):
        super().__init__(message, param="overwrite")
        self.path = path


class NonFiniteError(InputError):
    """Input holding NaN or infinity where a distance or a fit needs finite numbers.

    Raised at the library's entry points (``paired_distances``, ``pairwise_distances``,
    ``topk``, the loaders): no distance is defined on such values, and a finite number
    computed from them would be wrong.
    """


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


__all__ = [
    "InputError",
    "MetricbenchError",
    "NonFiniteError",
    "NotFittedError",
    "OutputExistsError",
    "OutputPathError",
    "ParameterError",
    "UnknownMetricError",
]
