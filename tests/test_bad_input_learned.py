"""Non-finite input to every registered learned metric (and the score normalisations) raises
:class:`~metricbench.errors.NonFiniteError` at every entry point: ``fit``, ``transform``,
``pair_distance`` and ``pair_score`` (issue 10, fault 2's kind: one policy at every library
entry point). The message is one line naming the rows and what to do."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from metricbench.errors import NonFiniteError
from metricbench.registry import LEARNED, get_metric

#: small, fast settings (the policy is about input checks, not the fit's quality)
FAST = {
    "learned-cosine": {"max_epochs": 1, "n_identities": 4, "n_components": 4, "holdout": 0.0},
    "lmnn": {"max_iter": 2, "n_components": 4},
    "verifier": {"n_components": 4, "n_pairs": 200},
    "fusion": {"metrics": "cosine,euclidean", "holdout": 0.0, "n_val_pairs": 200},
    "ml-lmnn": {"max_iter": 3},
    "ml-nca": {"max_iter": 3},
    "ml-mlkr": {"max_iter": 3},
    "ml-itml": {"max_iter": 3},
    "ml-lsml": {"max_iter": 3},
    "ml-mmc": {"max_iter": 3},
    "ml-scml": {"max_iter": 200, "output_iter": 100, "basis": "triplet_diffs", "n_basis": 20, "beta": 0.0},
    "cosine-whitened": {"n_components": 4, "shrinkage": 0.1},
    "zca-cosine": {"shrinkage": 0.1},
    "wccn-cosine": {"shrinkage": 0.1},
    "lda-cosine": {"n_components": 3},
    "plda": {"n_components": 3},
    "kissme": {"n_components": 4},
}


def _data():
    r = np.random.default_rng(0)
    y = np.repeat(np.arange(8), 6)
    X = r.standard_normal((8, 6))[y] * 2 + r.standard_normal((48, 6))
    return X, y


def _build(name):
    if name.endswith("-norm"):
        from metricbench.learn.norm import Normalized

        return Normalized(metric="cosine", norm=name, cohort_size=5, top_k=2)
    return get_metric(name, **FAST.get(name, {}))


CASES = sorted(LEARNED) + ["s-norm", "as-norm"]


@pytest.mark.parametrize("name", CASES)
def test_non_finite_input_raises_non_finite_error_everywhere(name):
    X, y = _data()

    def spoilt(v):
        Z = X.copy()
        Z[5, 2] = v
        return Z

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for v in (np.nan, np.inf):
            with pytest.raises(NonFiniteError) as e:
                _build(name).fit(spoilt(v), y)
            msg = str(e.value)
            assert "\n" not in msg and "row 5" in msg and "NaN or inf" in msg, msg
        m = _build(name).fit(X, y)
    i1, i2 = np.array([0, 5, 7]), np.array([1, 2, 9])
    calls = [lambda: m.pair_distance(spoilt(np.nan), i1, i2), lambda: m.pair_score(spoilt(-np.inf), i1, i2),
             lambda: m.pair_distance(X, i1, i2, Y=spoilt(np.inf))]
    if hasattr(m, "transform"):
        calls.append(lambda: m.transform(spoilt(np.nan)))
    for call in calls:
        with pytest.raises(NonFiniteError) as e:
            call()
        assert "\n" not in str(e.value), str(e.value)
    # clean input still gives finite distances
    assert np.isfinite(m.pair_distance(X, i1, i2)).all()
