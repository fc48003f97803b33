"""``auto`` settings: a metric built with ``param="auto"`` is a search over that parameter's grid."""

from __future__ import annotations

import inspect

import numpy as np

from metricbench.errors import InputError, ParameterError
from metricbench.model_selection._search import MetricSearchCV

#: parameters of the search itself that ``get_metric(..., param="auto", ...)`` accepts
SEARCH_PARAMS = {"holdout": "test_size", "test_size": "test_size", "n_pairs": "n_pairs",
                 "random_state": "random_state"}


def parse_grid(value) -> list:
    """The one grid parser: a sequence, a scalar, or a comma-separated string (``"8,16,32"``)
    as a list of numbers (ints where integral as written) or strings.

    Raises
    ------
    InputError
        An empty grid.
    """
    if isinstance(value, str):
        items = [x.strip() for x in value.replace(";", ",").split(",") if x.strip()]
        out = []
        for it in items:
            try:
                out.append(int(it))
            except ValueError:
                try:
                    out.append(float(it))
                except ValueError:
                    out.append(it)
    elif np.ndim(value) == 0:
        out = [value]
    else:
        out = [v.item() if isinstance(v, np.generic) else v for v in value]
    if not out:
        raise InputError("empty grid of candidate settings")
    return out


def auto_params(cls) -> dict:
    """The parameters of metric class ``cls`` that accept ``"auto"``, with their default grids."""
    return dict(getattr(cls, "auto_grid", {}) or {})


def resolve_auto(cls, params: dict):
    """Build ``cls(**params)``, or a :class:`MetricSearchCV` over the parameters set to ``"auto"``.

    ``<param>_grid`` gives the candidates of an ``auto`` parameter (default: the class's
    ``auto_grid``); ``holdout`` (or ``test_size``), ``n_pairs`` and ``random_state`` set the
    search's split and pairs.

    Raises
    ------
    InputError
        ``"auto"`` for a parameter without a grid, a grid for a parameter not set to auto,
        or search settings without an auto parameter.
    """
    params = dict(params)
    grids = auto_params(cls)
    auto = [k for k, v in params.items() if isinstance(v, str) and v == "auto"]
    relevant = getattr(cls, "_auto_relevant", None)
    for k in [k for k in auto if relevant is not None and k in grids and not relevant(k, params)]:
        params.pop(k)  # nothing to choose under the other settings: the class default
        auto.remove(k)
    bad = [k for k in auto if k not in grids]
    if bad:
        raise InputError(
            f"{cls.__name__}: {', '.join(bad)} cannot be 'auto' "
            f"(auto settings: {', '.join(sorted(grids)) or 'none'})"
        )
    given = {k[: -len("_grid")]: params.pop(k) for k in list(params) if k.endswith("_grid") and k[: -len("_grid")] in grids}
    given_as_holdout = "holdout" in params and "holdout" not in _init_params(cls)
    search_kw = {SEARCH_PARAMS[k]: params.pop(k) for k in list(params) if k in SEARCH_PARAMS and k not in _init_params(cls)}
    stray = [k for k in given if k not in auto]
    if stray:
        raise InputError(f"{cls.__name__}: {', '.join(k + '_grid' for k in stray)} given but {', '.join(stray)} is not 'auto'")
    if not auto:
        if search_kw:
            raise InputError(
                f"{cls.__name__}: {', '.join(search_kw)} only apply to a search; set one of "
                f"{', '.join(sorted(grids)) or 'its parameters'} to 'auto'"
            )
        return cls(**params)
    grid = {k: sorted(parse_grid(given.get(k, grids[k])), key=_order) for k in auto}
    for k in auto:
        params.pop(k)
    est = cls(**params)
    for k in auto:
        for v in grid[k]:
            est.set_params(**{k: v}).check_params()  # a bad candidate fails now, not after a pass
    # the search's own settings are checked against its domains here, before any data are read
    try:
        return MetricSearchCV(cls(**params), grid, **search_kw).check_params()
    except ParameterError as e:
        if given_as_holdout:  # name the parameter as it was given
            raise ParameterError(str(e).replace("parameter 'test_size'", "parameter 'holdout'", 1)) from None
        raise


def _init_params(cls) -> set:
    return {p for p in inspect.signature(cls.__init__).parameters if p != "self"}


def _order(v):
    return (0, float(v), "") if isinstance(v, (int, float)) and not isinstance(v, bool) else (1, 0.0, str(v))


__all__ = ["SEARCH_PARAMS", "auto_params", "parse_grid", "resolve_auto"]
