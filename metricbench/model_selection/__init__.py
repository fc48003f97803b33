"""Model selection outside ``fit``: identity-disjoint splits, seeded pairs, a pair-AUROC scorer
and a search over candidate settings that shares statistics across candidates.

Everything here follows scikit-learn's protocols, so its own tools work too::

    from sklearn.model_selection import GridSearchCV
    from metricbench.model_selection import IdentityPairSplit, pair_auroc_scorer

    cv = IdentityPairSplit(test_size=0.2, n_pairs=20000, variants=variants, random_state=0)
    GridSearchCV(LDACosine(), {"n_components": [16, 32, 64]}, cv=cv,
                 scoring=pair_auroc_scorer).fit(X, y, groups=y, variants=variants)

:class:`MetricSearchCV` does the same search on shared sufficient statistics (one pass over
the rows per split) and is what ``auto`` settings (``get_metric(name, n_components="auto")``,
the CLI's defaults) resolve to.
"""

from metricbench.model_selection._auto import SEARCH_PARAMS, auto_params, parse_grid, resolve_auto
from metricbench.model_selection._scorer import cosine_rows, pair_auroc, pair_auroc_scorer
from metricbench.model_selection._search import MetricSearchCV, SplitScore, draw_splits, rows_of
from metricbench.model_selection._split import (
    HeldOutPairs,
    IdentityPairSplit,
    cross_groups_of,
    identity_split,
    sample_pairs,
)
from metricbench.model_selection._validate import ValidationResult, fit_kwargs, validate_and_fit, validate_metric

__all__ = [
    "HeldOutPairs",
    "IdentityPairSplit",
    "MetricSearchCV",
    "SEARCH_PARAMS",
    "SplitScore",
    "ValidationResult",
    "auto_params",
    "cosine_rows",
    "cross_groups_of",
    "draw_splits",
    "fit_kwargs",
    "identity_split",
    "pair_auroc",
    "pair_auroc_scorer",
    "parse_grid",
    "resolve_auto",
    "rows_of",
    "sample_pairs",
    "validate_and_fit",
    "validate_metric",
]
