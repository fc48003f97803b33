"""Parameter domains of the learned metrics and the search, in scikit-learn's ``_parameter_constraints`` form.

It sits below every subpackage, so that :mod:`metricbench.model_selection` (below ``learn``) shares
the same domains and the same one-line message; :mod:`metricbench.learn._constraints` re-exports it.

Every learned metric lists the domain of each constructor parameter in its class attribute
``_parameter_constraints`` (scikit-learn's convention, checked by
:meth:`sklearn.base.BaseEstimator._validate_params`); :meth:`BaseMetric.check_params
<metricbench.learn.base.BaseMetric.check_params>` runs the check at ``fit`` (and
:func:`metricbench.registry.get_metric` when it builds a metric, so a bad value costs no
data reading) and turns scikit-learn's ``InvalidParameterError`` into a one-line
:class:`~metricbench.errors.ParameterError` naming the parameter, the valid domain and the
value. Data-dependent limits (``n_components`` above the width) are limit cases the metrics
handle when fitting (clipped, and said by ``describe()``).

The shorthands below are the domains the metrics share. Unbounded intervals exclude
infinity and NaN (scikit-learn's ``Interval`` with an open or absent right end), and no
number domain accepts a boolean.
"""

from __future__ import annotations

import re
from numbers import Integral, Real

import numpy as np
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions

from metricbench.errors import ParameterError


class _Number(Interval):
    """scikit-learn's ``Interval`` without booleans (``True`` is an ``Integral`` to Python)."""

    def is_satisfied_by(self, val):
        if isinstance(val, (bool, np.bool_)):
            return False
        return super().is_satisfied_by(val)


def _closed_ends(low, high, closed: str) -> str:
    """``closed`` without the ends that are unbounded (None): scikit-learn's ``Interval`` closes
    only bounded ends."""
    if low is None:
        closed = {"both": "right", "left": "neither"}.get(closed, closed)
    if high is None:
        closed = {"both": "left", "right": "neither"}.get(closed, closed)
    return closed


def ints(low=None, high=None, closed="both"):
    """Whole numbers in ``[low, high]`` (either end open by ``closed``; None: unbounded)."""
    return _Number(Integral, low, high, closed=_closed_ends(low, high, closed))


def reals(low=None, high=None, closed="both"):
    """Finite real numbers in ``[low, high]`` (either end open by ``closed``; None: unbounded)."""
    return _Number(Real, low, high, closed=_closed_ends(low, high, closed))


#: a count of at least one
POS_INT = ints(1)
#: a count that may be zero
NONNEG_INT = ints(0)
#: a finite number > 0
POS_REAL = reals(0, None, closed="neither")
#: a finite number >= 0
NONNEG_REAL = reals(0)
#: a share in [0, 1]
UNIT = reals(0, 1)
#: a held-out share in [0, 1)
HOLDOUT = reals(0, 1, closed="left")
#: a seed: an int >= 0, a numpy Generator or RandomState, or None
SEED = [ints(0), np.random.Generator, np.random.RandomState, None]
#: the within-class scatter option of the closed-form metrics
WITHIN = [StrOptions({"auto", "all", "cross"})]
#: two variant tags, or None
CROSS_GROUPS = [tuple, list, None]
#: an on/off switch
BOOL = ["boolean"]
#: verbosity: a bool or a level
VERBOSE = ["verbose"]


def parameter_message(err, owner: str) -> str:
    """scikit-learn's ``InvalidParameterError`` message as metricbench's one line:
    ``parameter 'shrinkage' of cosine-whitened must be a float in the range [0.0, 1.0]; got 2``."""
    text = " ".join(str(err).split())
    m = re.match(r"The '([^']+)' parameter of \S+ must be (.*)\. Got (.*) instead\.?$", text)
    if not m:
        return text
    name, domain, value = m.groups()
    return f"parameter {name!r} of {owner} must be {domain}; got {value}"


def check_table(obj, owner: str) -> None:
    """Check ``obj``'s parameters against its ``_parameter_constraints`` (scikit-learn's check).

    The values are ``obj.get_params(deep=False)`` for an estimator (what scikit-learn's
    ``_validate_params`` checks), else the attributes the table names (a splitter).

    Raises
    ------
    metricbench.errors.ParameterError
        One line naming the parameter, its domain, ``owner`` and the value given.
    """
    from sklearn.utils._param_validation import InvalidParameterError, validate_parameter_constraints

    table = obj._parameter_constraints
    params = obj.get_params(deep=False) if hasattr(obj, "get_params") else {k: getattr(obj, k) for k in table}
    try:
        validate_parameter_constraints(table, params, caller_name=type(obj).__name__)
    except InvalidParameterError as e:
        raise ParameterError(parameter_message(e, owner)) from None


__all__ = ["HasMethods", "StrOptions", "BOOL", "CROSS_GROUPS", "HOLDOUT", "NONNEG_INT", "NONNEG_REAL", "POS_INT", "POS_REAL", "SEED",
           "UNIT", "VERBOSE", "WITHIN", "check_table", "ints", "parameter_message", "reals"]
