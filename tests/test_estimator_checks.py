"""Every learned metric the registry lists passes scikit-learn's estimator checks.

``parametrize_with_checks`` runs scikit-learn's own API checks (clone, get/set_params, input
validation: NaN/inf, complex, 1-D, empty, sparse; ``n_features_in_``; fit idempotence;
pickling; transformer behaviour ...) on each metric built with its default parameters. A
check may be skipped only where it cannot apply, with the reason below; the closed-form
metrics skip none.
"""

from __future__ import annotations

import importlib

from sklearn.utils.estimator_checks import parametrize_with_checks

from metricbench.registry import LEARNED

#: TEMPORARY: learned metrics still being converted to the scikit-learn contract by the
#: "learners" helper (issue 9, item 1). They empty this set as each class lands; when it is
#: empty, every registered learned metric is checked.
NOT_YET_CONVERTED = {
    "learned-cosine", "lmnn", "verifier", "fusion",
    "ml-lmnn", "ml-nca", "ml-lfda", "ml-mlkr", "ml-itml", "ml-sdml", "ml-lsml", "ml-rca", "ml-mmc",
    "ml-scml", "ml-covariance",
}

#: class name -> {check name: reason it cannot apply}. The closed-form metrics have none.
CANNOT_APPLY: dict[str, dict[str, str]] = {}


def _registered_learned_metrics():
    out = []
    for name, spec in LEARNED.items():
        if name in NOT_YET_CONVERTED:
            continue
        modname, _, clsname = spec[0].partition(":")
        out.append(getattr(importlib.import_module(modname), clsname)())
    return out


def test_every_registered_learned_metric_is_listed_or_checked():
    checked = {type(e).__name__ for e in _registered_learned_metrics()}
    assert len(checked) + len(NOT_YET_CONVERTED & set(LEARNED)) == len(LEARNED)


@parametrize_with_checks(
    _registered_learned_metrics(), expected_failed_checks=lambda est: CANNOT_APPLY.get(type(est).__name__, {})
)
def test_scikit_learn_estimator_checks(estimator, check):
    check(estimator)
