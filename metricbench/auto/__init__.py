"""``metricbench auto``: the best honestly validated configuration within a time budget.

- :func:`auto_search`: optuna over metric families and their settings plus fusions of the
  best few, on nested identity-disjoint validation; the winner is judged once on an outer
  fold (:mod:`metricbench.auto.search`).
- :func:`run_auto`: the whole workflow on a competition directory: search, fit on all train,
  write the submission, the configuration (JSON) and a markdown report.
- :func:`load_config` / :func:`score_config`: re-run a saved configuration exactly
  (``metricbench score --config FILE``).
"""

from metricbench.auto.config import (
    ConfigRun,
    FittedConfig,
    check_config,
    config_label,
    fit_config,
    load_config,
    make_config,
    save_config,
    score_config,
)
from metricbench.auto.search import AutoResult, Candidate, auto_search, parse_budget
from metricbench.auto.space import Family, default_families
from metricbench.auto.workflow import AutoRun, run_auto

__all__ = [
    "AutoResult",
    "AutoRun",
    "Candidate",
    "ConfigRun",
    "Family",
    "FittedConfig",
    "auto_search",
    "check_config",
    "config_label",
    "default_families",
    "fit_config",
    "load_config",
    "make_config",
    "parse_budget",
    "run_auto",
    "save_config",
    "score_config",
]
