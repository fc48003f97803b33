"""The library's workflows: what the ``metricbench`` commands run, as functions returning result objects.

>>> import metricbench as mb
>>> r = mb.score_competition("cosine-whitened")            # doctest: +SKIP
>>> r.validation.auroc, r.test.auroc                        # doctest: +SKIP

The functions print nothing; pass a :class:`~metricbench.workflows.progress.ProgressHook` to follow
their steps. Every check that needs no data runs before any data is read.
"""

from metricbench.workflows.evaluate import EvaluateResult, evaluate_competition
from metricbench.workflows.progress import ProgressHook
from metricbench.workflows.retrieve import RetrieveResult, retrieve, write_ranking
from metricbench.workflows.score import ScoreResult, score_competition

__all__ = [
    "EvaluateResult", "ProgressHook", "RetrieveResult", "ScoreResult", "evaluate_competition", "retrieve",
    "score_competition", "write_ranking",
]
