"""The one name table of metricbench.

Every metric name and alias that :func:`get_metric`, :func:`metricbench.distances.paired_distances`
(and the other distance functions), the CLI's choices and ``metricbench metrics`` accept comes from
here, and so does every unknown-name and unknown-parameter error. The table itself (names, aliases,
:func:`resolve`) lives low, in :mod:`metricbench.distances.names`, over
:data:`metricbench.distances.registry.DISTANCES` and :data:`metricbench.catalog.LEARNED`
(``name -> (module:Class, summary, default params)``, imported only when asked for, so start-up
stays fast); this module re-exports it and adds the factory :func:`get_metric`, which it
registers with :func:`metricbench.catalog.set_metric_factory` for the packages below it.

One name means one thing: ``mahalanobis`` is the fixed distance ``sqrt((x-y)^T VI (x-y))`` (``VI``
given, or the inverse covariance of the scored rows, as scipy's ``cdist``); the learned metric with
the inverse *within-class* covariance of train is ``within-mahalanobis``.
"""

from __future__ import annotations

import dataclasses
import inspect

from metricbench.catalog import LEARNED, set_metric_factory
from metricbench.distances.names import (  # noqa: F401  (the name table, re-exported)
    KINDS,
    MetricInfo,
    _table,
    aliases,
    check_kind,
    metric_info,
    metric_names,
    registry,
    resolve,
    resolve_distance,
)
from metricbench.distances.registry import DISTANCES
from metricbench.errors import ParameterError
from metricbench.params import (
    coerce,
    estimator_specs,
    parse_params,
    spec_from_default,
    spec_from_doc,
    unknown_parameter,
)

#: types of the fixed distances' parameters, as numpydoc type lines (read by metricbench.params)
DISTANCE_PARAM_TYPES = {
    "p": "float",
    "V": "array-like of shape (n_features,) (a .npy file from the command line)",
    "VI": "array-like of shape (n_features, n_features) (a .npy file from the command line)",
}


def param_specs(name: str) -> dict:
    """``{parameter: ParamSpec}`` of the metric ``name``: every parameter it takes, typed.

    Fixed distances take their own parameters (``p``, ``V``, ``VI``); learned metrics take their
    constructor's parameters, typed from their docstrings, annotations and defaults; the
    ``ml-*`` metrics also take their metric-learn estimator's parameters.
    """
    info = metric_info(name)
    if info.kind == "distance":
        return {p: spec_from_doc(p, DISTANCE_PARAM_TYPES.get(p, "float")) for p in DISTANCES[info.name].params}
    cls = info.load_class()
    specs = estimator_specs(cls)

    takes_more = any(p.kind == p.VAR_KEYWORD for p in inspect.signature(cls.__init__).parameters.values())
    if takes_more and hasattr(cls, "_estimator_class") and getattr(cls, "estimator", ""):
        specs.update(_metric_learn_specs(cls, specs))  # **params passed on to metric-learn
    if getattr(cls, "auto_grid", None):
        # "auto" settings are searched (metricbench.model_selection): their grids and the search's split
        for p in cls.auto_grid:
            specs.setdefault(f"{p}_grid", spec_from_default(f"{p}_grid", tuple(cls.auto_grid[p])))
            spec = specs.get(p)
            if spec is not None and "auto" not in spec.literals:  # "auto" = choose it by the search
                doc = spec.doc
                if doc.endswith(" or None"):
                    doc = f'{doc[: -len(" or None")]}, "auto" or None'
                elif doc:
                    doc = f'{doc} or "auto"'
                specs[p] = dataclasses.replace(spec, literals=(*spec.literals, "auto"), doc=doc)
        for p, default in (("holdout", 0.2), ("n_pairs", 20000), ("random_state", 0)):
            specs.setdefault(p, spec_from_default(p, default))
    return specs


def _metric_learn_specs(cls, own: dict) -> dict:
    try:
        ml_cls = cls()._estimator_class()
    except Exception:  # metric-learn missing: its parameters are then checked when fitting
        return {}
    out = {}
    for p in inspect.signature(ml_cls.__init__).parameters.values():
        if p.name in ("self", "preprocessor") or p.name in own or p.default == "deprecated":
            continue
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        out[p.name] = spec_from_default(p.name, p.default)
    if getattr(cls, "uses_constraints", False):
        out["max_constraints"] = spec_from_default("max_constraints", None)
    return out


def check_params(name: str, params: dict) -> None:
    """Raise :class:`~metricbench.errors.ParameterError` for a parameter ``name`` does not take."""
    specs = param_specs(name)
    for key in params:
        if key not in specs:
            raise unknown_parameter(key, metric_info(name).name, specs)


def parse_metric_params(name: str, items) -> dict:
    """Typed parameters of metric ``name`` from ``key=value`` texts (see :mod:`metricbench.params`).

    Raises
    ------
    ParameterError
        An unknown parameter (the message lists the valid ones) or a value of the wrong type.
    """
    info = metric_info(name)
    return parse_params(items, param_specs(info.name), owner=info.name)


def get_metric(name: str, **params):
    """Build the metric registered as ``name`` with ``params`` (unfitted for learned ones).

    Parameters
    ----------
    name : str
        A name or alias from the table (``metricbench metrics`` lists them).
    **params
        The metric's parameters; text values that read as the parameter's type (``"0.5"`` for a
        float) are converted; values are checked by the estimator when it is fitted.

    Returns
    -------
    BaseMetric

    Raises
    ------
    UnknownMetricError
        ``name`` is not in the table.
    ParameterError
        A parameter the metric does not take (the valid ones are listed), or a value outside
        its domain (one line naming the parameter, the domain and the value).

    Examples
    --------
    >>> m = get_metric("cosine")
    >>> m.fit(X_train, y_train).pair_distance(X_test, i1, i2)  # doctest: +SKIP
    """
    info = metric_info(name)
    specs = param_specs(info.name)
    typed = {}
    for key, value in params.items():
        if key not in specs:
            raise unknown_parameter(key, info.name, specs)
        try:
            typed[key] = coerce(specs[key], value, info.name)
        except ParameterError:  # the estimator validates values in fit (scikit-learn's convention)
            typed[key] = value
    cls = info.load_class()
    try:
        if getattr(cls, "auto_grid", None):
            # "auto" settings resolve to a search on identity-disjoint pairs (scikit-learn is
            # already imported by the metric class)
            from metricbench.model_selection import resolve_auto

            obj = resolve_auto(cls, {**info.defaults, **typed})
        else:
            obj = cls(**{**info.defaults, **typed})
    except TypeError as e:
        raise ParameterError(f"metric {info.name!r}: bad parameters ({e})") from None
    if info.kind == "distance" or obj.name != info.name:
        obj.name = info.name  # the class gives learned metrics their name (clone keeps it)
    # every parameter's domain now, before any data are read (fit checks again, scikit-learn's way);
    # a search checked each candidate of its grid when it was built
    target = obj if hasattr(obj, "check_params") else getattr(obj, "estimator", None)
    if hasattr(target, "check_params"):
        target.check_params()
    return obj


set_metric_factory(get_metric)

__all__ = [
    "KINDS", "LEARNED", "MetricInfo", "aliases", "check_kind", "check_params", "get_metric", "metric_info",
    "metric_names", "param_specs", "parse_metric_params", "registry", "resolve", "resolve_distance",
]
