"""The one registry of metric names.

Every name the CLI accepts, ``metricbench metrics`` lists, and an unknown-name
error suggests comes from here. Fixed distances are taken from
:data:`metricbench.distances.registry.DISTANCES`; learned metrics are listed in
:data:`LEARNED` as ``name -> (module:Class, summary, default params)`` and
imported only when asked for, so start-up stays fast.
"""

from __future__ import annotations

import difflib
import importlib
from dataclasses import dataclass, field

from metricbench.errors import UnknownMetricError


@dataclass(frozen=True)
class MetricInfo:
    name: str
    summary: str
    kind: str  # "distance" or "learned"
    target: str  # "module:Class"
    defaults: dict = field(default_factory=dict)


#: learned metrics: name -> (target, one-line summary, default parameters)
LEARNED: dict[str, tuple[str, str, dict]] = {
    "cosine-whitened": (
        "metricbench.learn.whitening:WhitenedCosine",
        "PCA-whiten on train (centre, whiten, dimension/shrinkage chosen on held-out identities), then cosine",
        {},
    ),
    "zca-cosine": (
        "metricbench.learn.linear:ZCACosine",
        "ZCA-whiten the train covariance (shrinkage chosen on held-out identities), then cosine",
        {},
    ),
    "wccn-cosine": (
        "metricbench.learn.linear:WCCNCosine",
        "within-class covariance normalisation: centre, B = chol(inv(Sw)) with shrinkage, then cosine",
        {},
    ),
    "lda-cosine": (
        "metricbench.learn.linear:LDACosine",
        "LDA to k dimensions (k chosen on held-out identities), then cosine",
        {},
    ),
    "mahalanobis": (
        "metricbench.learn.mahalanobis:Mahalanobis",
        "squared Mahalanobis distance with the inverse within-class covariance (Ledoit-Wolf, OAS, ...)",
        {},
    ),
    "plda": (
        "metricbench.learn.plda:PLDA",
        "two-covariance PLDA / joint Bayesian log-likelihood ratio on LDA-k (distance = -LLR)",
        {},
    ),
    "kissme": (
        "metricbench.learn.kissme:KISSME",
        "KISSME: M = inv(S_same) - inv(S_diff) in a PCA subspace, clipped to PSD",
        {},
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


def _distance_infos() -> dict[str, MetricInfo]:
    from metricbench.distances.registry import DISTANCES

    return {
        name: MetricInfo(name, d.summary, "distance", "metricbench.learn.base:DistanceMetric", {"metric": name})
        for name, d in DISTANCES.items()
    }


#: learned metrics that deliberately take the name of a fixed distance: ``mahalanobis`` learns its VI
#: (inverse within-class covariance) from train; the fixed form stays reachable as
#: ``paired_distances(..., metric="mahalanobis", VI=...)``
SHADOWS = {"mahalanobis"}


def registry() -> dict[str, MetricInfo]:
    """All metrics by name: fixed distances first, then learned metrics."""
    out = _distance_infos()
    clash = (set(out) & set(LEARNED)) - SHADOWS
    if clash:  # a programming error, caught by the test suite
        raise RuntimeError(f"learned metric names clash with distances: {sorted(clash)}")
    for name, (target, summary, defaults) in LEARNED.items():
        out[name] = MetricInfo(name, summary, "learned", target, dict(defaults))
    return out


def metric_names() -> list[str]:
    return list(registry())


def metric_info(name: str) -> MetricInfo:
    reg = registry()
    if name not in reg:
        close = difflib.get_close_matches(name, reg, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise UnknownMetricError(
            f"unknown metric {name!r}{hint} (run 'metricbench metrics' for the {len(reg)} names)"
        )
    return reg[name]


def get_metric(name: str, **params):
    """Build the metric registered as ``name`` with ``params`` (unfitted for learned ones).

    >>> m = get_metric("cosine")
    >>> m.fit(X_train, y_train).pair_distance(X_test, i1, i2)  # doctest: +SKIP
    """
    info = metric_info(name)
    modname, _, clsname = info.target.partition(":")
    cls = getattr(importlib.import_module(modname), clsname)
    kwargs = {**info.defaults, **params}
    try:
        obj = cls(**kwargs)
    except TypeError as e:
        from metricbench.errors import InputError

        raise InputError(f"metric {name!r}: bad parameters ({e})") from None
    if info.kind == "distance" or obj.name != name:
        obj.name = name  # the class gives learned metrics their name (clone keeps it)
    return obj
