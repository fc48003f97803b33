"""metricbench: distances, learned metrics and honest evaluation for face-verification embeddings.

Heavy modules (numba kernels, scikit-learn) load on first use, so ``import metricbench``
and the CLI start fast.

>>> import metricbench as mb
>>> comp = mb.load_lfw_xq()  # the embedded default; mb.load_competition(path) for your own  # doctest: +SKIP
>>> m = mb.get_metric("cosine-whitened").fit(comp.train_X, comp.train_y)  # doctest: +SKIP
>>> d = m.pair_distance(comp.test_X, comp.pairs.index1, comp.pairs.index2)  # doctest: +SKIP
>>> r = mb.score_competition("cosine-whitened")  # what `metricbench score` runs  # doctest: +SKIP
"""

from __future__ import annotations

import importlib

# the name table and the factory: imported now so that it registers get_metric with
# metricbench.catalog before any lower package (learn, model_selection, evaluation) builds a metric by name
from metricbench import registry as _registry  # noqa: F401

__version__ = "0.1.0"

_LAZY = {
    "load_competition": "metricbench.io",
    "load_lfw_xq": "metricbench.datasets",
    "Competition": "metricbench.io",
    "load_embeddings": "metricbench.io",
    "load_labels": "metricbench.io",
    "load_pairs": "metricbench.io",
    "write_submission": "metricbench.io",
    "paired_distances": "metricbench.distances",
    "pairwise_distances_chunked": "metricbench.distances",
    "topk": "metricbench.distances",
    "get_metric": "metricbench.registry",
    "metric_names": "metricbench.registry",
    "load_metric": "metricbench.learn.base",
    "validate_metric": "metricbench.model_selection",
    "identity_split": "metricbench.model_selection",
    "sample_pairs": "metricbench.model_selection",
    "IdentityPairSplit": "metricbench.model_selection",
    "MetricSearchCV": "metricbench.model_selection",
    "score_competition": "metricbench.workflows",
    "evaluate_competition": "metricbench.workflows",
    "retrieve": "metricbench.workflows",
    "ScoreResult": "metricbench.workflows",
    "EvaluateResult": "metricbench.workflows",
    "RetrieveResult": "metricbench.workflows",
    "ProgressHook": "metricbench.workflows",
    "parse_params": "metricbench.params",
    "MetricbenchError": "metricbench.errors",
    "InputError": "metricbench.errors",
}

__all__ = sorted(_LAZY) + ["__version__"]


def __getattr__(name: str):
    mod = _LAZY.get(name)
    if mod is None:
        raise AttributeError(f"module 'metricbench' has no attribute {name!r}")
    value = getattr(importlib.import_module(mod), name)
    globals()[name] = value
    return value


def __dir__():
    return __all__
