"""The learned metrics' name table and the metric factory hook (data only: imports nothing of metricbench).

:data:`LEARNED` lists every learned metric as ``name -> (module:Class, summary, default params)``;
the classes are imported only when asked for. It sits at the bottom layer so that the low-level
packages (``distances``, ``learn``) read the names without importing :mod:`metricbench.registry`,
which sits above them. Metrics that build another metric given by name (``Normalized``,
``Fusion``, ``validate_metric``, ``evaluation.lfw``) call :func:`build_metric`, which forwards to
the factory :mod:`metricbench.registry` registers when it is imported (``import metricbench``
imports it, so the factory is always there).
"""

from __future__ import annotations

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


_FACTORY = None


def set_metric_factory(factory) -> None:
    """Register ``factory(name, **params) -> metric`` (done once by :mod:`metricbench.registry`)."""
    global _FACTORY
    _FACTORY = factory


def build_metric(name: str, **params):
    """The metric registered as ``name`` with ``params``: :func:`metricbench.registry.get_metric`.

    Raises
    ------
    UnknownMetricError, ParameterError
        As :func:`metricbench.registry.get_metric`.
    RuntimeError
        No factory registered (``metricbench`` was not imported: it cannot happen through ``import``).
    """
    if _FACTORY is None:
        raise RuntimeError("no metric factory registered: import metricbench.registry first")
    return _FACTORY(name, **params)
