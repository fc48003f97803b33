"""The one name table of metricbench.

Every metric name and alias that :func:`get_metric`, :func:`metricbench.distances.paired_distances`
(and the other distance functions), the CLI's choices and ``metricbench metrics`` accept comes from
here, and so does every unknown-name and unknown-parameter error. Fixed distances are taken from
:data:`metricbench.distances.registry.DISTANCES` (with their aliases: ``l2``, ``l1``, ``cityblock``,
``linf``); learned metrics are listed in :data:`LEARNED` as ``name -> (module:Class, summary,
default params)`` and imported only when asked for, so start-up stays fast.

One name means one thing: ``mahalanobis`` is the fixed distance ``sqrt((x-y)^T VI (x-y))`` (``VI``
given, or the inverse covariance of the scored rows, as scipy's ``cdist``); the learned metric with
the inverse *within-class* covariance of train is ``within-mahalanobis``.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
import inspect
from dataclasses import dataclass, field
from functools import lru_cache

from metricbench.distances.registry import DISTANCES
from metricbench.errors import InputError, ParameterError, UnknownMetricError
from metricbench.params import (
    coerce,
    estimator_specs,
    parse_params,
    spec_from_default,
    spec_from_doc,
    unknown_parameter,
)

#: the kinds of metric, as ``metricbench metrics --kind`` takes them
KINDS = ("distance", "learned")


@dataclass(frozen=True)
class MetricInfo:
    """One row of the name table."""

    name: str
    summary: str
    kind: str  # "distance" or "learned"
    target: str  # "module:Class"
    defaults: dict = field(default_factory=dict)
    aliases: tuple = ()

    def load_class(self):
        """The estimator class (imported on first use)."""
        modname, _, clsname = self.target.partition(":")
        return getattr(importlib.import_module(modname), clsname)


#: learned metrics: name -> (target, one-line summary, default parameters)
LEARNED: dict[str, tuple[str, str, dict]] = {
    "cosine-whitened": (
        "metricbench.learn.whitening:WhitenedCosine",
        "PCA-whiten on train (centre, whiten, dimension/shrinkage chosen on held-out identities), then cosine",
        {"n_components": "auto", "shrinkage": "auto"},
    ),
    "zca-cosine": (
        "metricbench.learn.linear:ZCACosine",
        "ZCA-whiten the train covariance (shrinkage chosen on held-out identities), then cosine",
        {"shrinkage": "auto"},
    ),
    "wccn-cosine": (
        "metricbench.learn.linear:WCCNCosine",
        "within-class covariance normalisation: centre, B = chol(inv(Sw)) with shrinkage, then cosine",
        {"shrinkage": "auto"},
    ),
    "lda-cosine": (
        "metricbench.learn.linear:LDACosine",
        "LDA to k dimensions (k chosen on held-out identities), then cosine",
        {"n_components": "auto"},
    ),
    "within-mahalanobis": (
        "metricbench.learn.mahalanobis:Mahalanobis",
        "learned: squared Mahalanobis distance with the inverse within-class covariance of train (Ledoit-Wolf, "
        "OAS, ...); the fixed distance with a given VI is 'mahalanobis'",
        {},
    ),
    "plda": (
        "metricbench.learn.plda:PLDA",
        "two-covariance PLDA / joint Bayesian log-likelihood ratio on LDA-k (distance = -LLR)",
        {"n_components": "auto"},
    ),
    "kissme": (
        "metricbench.learn.kissme:KISSME",
        "KISSME: M = inv(S_same) - inv(S_diff) in a PCA subspace, clipped to PSD",
        {"n_components": "auto"},
    ),
    "learned-cosine": (
        "metricbench.learn.learned_cosine:LearnedCosine",
        "cosine after a linear map learned on same/different pairs (hard negatives, early stop on held-out "
        "identities); with two train groups, a quality gate and two maps",
        {},
    ),
    "lmnn": (
        "metricbench.learn.lmnn:LMNN",
        "large-margin nearest neighbour (native numba, scales to 454k x 512): linear map L, "
        "squared Euclidean (or cosine via metric=cosine)",
        {},
    ),
    "verifier": (
        "metricbench.learn.verifier:Verifier",
        "logistic (or MLP) classifier on symmetric pair features [u*v, (u-v)^2, cos, norms] of LDA-reduced rows",
        {},
    ),
    "fusion": (
        "metricbench.learn.fusion:Fusion",
        "z-normalised mean or logistic stacker of several metrics (metrics=a,b,c), weights from held-out identities",
        {},
    ),
    # metric-learn 0.7.0's algorithms (made to run on today's scikit-learn by metricbench.learn.compat),
    # each under a size budget (max_samples rows by identity, PCA to max_dim, max_constraints); see describe()
    "ml-lmnn": ("metricbench.learn.mlearn:MLLMNN",
                "metric-learn LMNN (large-margin nearest neighbour); budget 600 rows, PCA to 32 dims, 30 iterations", {}),
    "ml-nca": ("metricbench.learn.mlearn:MLNCA",
               "metric-learn NCA (neighbourhood components analysis); budget 1,000 rows, PCA to 64 dims", {}),
    "ml-lfda": ("metricbench.learn.mlearn:MLLFDA",
                "metric-learn LFDA (local Fisher discriminant analysis, closed form); budget 20,000 rows", {}),
    "ml-mlkr": ("metricbench.learn.mlearn:MLMLKR",
                "metric-learn MLKR (kernel regression on identity codes); budget 1,000 rows, PCA to 32 dims", {}),
    "ml-itml": ("metricbench.learn.mlearn:MLITML",
                "metric-learn ITML_Supervised (information-theoretic, on pairs); 5,000 pairs, PCA to 64 dims", {}),
    "ml-sdml": ("metricbench.learn.mlearn:MLSDML",
                "metric-learn SDML_Supervised (sparse determinant, graphical lasso); 5,000 pairs, PCA to 64", {}),
    "ml-lsml": ("metricbench.learn.mlearn:MLLSML",
                "metric-learn LSML_Supervised (least squares on quadruplets); 5,000 constraints, PCA to 64", {}),
    "ml-rca": ("metricbench.learn.mlearn:MLRCA",
               "metric-learn RCA_Supervised (relevant components analysis on chunklets); PCA to 64 dims", {}),
    "ml-mmc": ("metricbench.learn.mlearn:MLMMC",
               "metric-learn MMC_Supervised (Xing et al., on pairs); 5,000 pairs, PCA to 64 dims", {}),
    "ml-scml": ("metricbench.learn.mlearn:MLSCML",
                "metric-learn SCML_Supervised (sparse compositional, triplets); budget 3,000 rows, PCA to 64", {}),
    "ml-covariance": ("metricbench.learn.mlearn:MLCovariance",
                      "metric-learn Covariance: Mahalanobis with the inverse covariance of train (labels unused)", {}),
}



#: types of the fixed distances' parameters, as numpydoc type lines (read by metricbench.params)
DISTANCE_PARAM_TYPES = {
    "p": "float",
    "V": "array-like of shape (n_features,) (a .npy file from the command line)",
    "VI": "array-like of shape (n_features, n_features) (a .npy file from the command line)",
}


@lru_cache(maxsize=1)
def _table() -> tuple[dict, dict]:
    out: dict[str, MetricInfo] = {}
    spellings: dict[str, str] = {}
    for name, d in DISTANCES.items():
        out[name] = MetricInfo(name, d.summary, "distance", "metricbench.learn.base:DistanceMetric",
                               {"metric": name}, tuple(d.aliases))
    for name, (target, summary, defaults) in LEARNED.items():
        if name in out:  # one name, one thing: a programming error, caught by the test suite
            raise RuntimeError(f"learned metric name {name!r} clashes with a distance")
        out[name] = MetricInfo(name, summary, "learned", target, dict(defaults), ())
    for name, info in out.items():
        for spelling in (name, *info.aliases):
            if spelling.lower() in spellings:
                raise RuntimeError(f"metric name or alias {spelling!r} is taken twice")
            spellings[spelling.lower()] = name
    return out, spellings


def registry(kind: str | None = None) -> dict[str, MetricInfo]:
    """All metrics by canonical name (fixed distances first, then learned metrics).

    Parameters
    ----------
    kind : {"distance", "learned"}, optional
        Only metrics of this kind.

    Raises
    ------
    InputError
        ``kind`` is not one of :data:`KINDS`.
    """
    table = _table()[0]
    if kind is None:
        return dict(table)
    check_kind(kind)
    return {n: m for n, m in table.items() if m.kind == kind}


def check_kind(kind: str) -> str:
    """``kind`` if it is one of :data:`KINDS`, else a one-line error naming them."""
    if kind not in KINDS:
        raise InputError(f"unknown kind {kind!r}; valid: {', '.join(KINDS)}")
    return kind


def aliases() -> dict[str, str]:
    """Every accepted spelling (lower case) -> canonical name."""
    return dict(_table()[1])


def metric_names(kind: str | None = None) -> list[str]:
    """Canonical names, optionally of one kind."""
    return list(registry(kind))


def resolve(name: str, kind: str | None = None) -> str:
    """The canonical name of ``name`` (an alias, any letter case).

    Parameters
    ----------
    name : str
    kind : {"distance", "learned"}, optional
        Suggest only names of this kind when ``name`` is unknown.

    Raises
    ------
    UnknownMetricError
        ``name`` is in the table under no spelling; the message suggests the nearest names.
    """
    table, spellings = _table()
    canon = spellings.get(str(name).strip().lower())
    if canon is None:
        pool = [s for s, n in spellings.items() if kind is None or table[n].kind == kind]
        close = difflib.get_close_matches(str(name).lower(), pool, n=3)
        close = list(dict.fromkeys(spellings[c] for c in close))
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        what = {"distance": "distance", "learned": "learned metric"}.get(kind, "metric")
        n = sum(1 for m in table.values() if kind is None or m.kind == kind)
        raise UnknownMetricError(f"unknown {what} {name!r}{hint} (run 'metricbench metrics' for the {n} names)")
    return canon


def metric_info(name: str) -> MetricInfo:
    """The table row of ``name`` (aliases resolve)."""
    return _table()[0][resolve(name)]


def resolve_distance(name: str):
    """The :class:`~metricbench.distances.registry.Distance` named ``name`` (aliases resolve).

    Raises
    ------
    UnknownMetricError
        An unknown name, or the name of a learned metric (which must be fitted first).
    """
    info = _table()[0][resolve(name, kind="distance")]
    if info.kind != "distance":
        raise UnknownMetricError(
            f"{info.name!r} is a learned metric, not a fixed distance: build it with "
            f"get_metric({info.name!r}), fit it on labelled rows, then call its pair_distance"
        )
    return DISTANCES[info.name]


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


__all__ = [
    "KINDS", "LEARNED", "MetricInfo", "aliases", "check_kind", "check_params", "get_metric", "metric_info",
    "metric_names", "param_specs", "parse_metric_params", "registry", "resolve", "resolve_distance",
]
