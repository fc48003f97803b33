"""Public/private split and rank agreement against closed forms and scikit-learn."""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from metricbench.errors import InputError
from metricbench.evaluation.leaderboard import leaderboard_aurocs, public_private_split, rank_agreement


def test_split_sizes_and_seed():
    a = public_private_split(31444, seed=0)
    assert a.sum() == round(0.25 * 31444)
    np.testing.assert_array_equal(a, public_private_split(31444, seed=0))
    assert (a != public_private_split(31444, seed=1)).any()
    with pytest.raises(InputError, match="public_fraction"):
        public_private_split(10, public_fraction=1.0)


def test_leaderboard_aurocs_match_sklearn():
    rng = np.random.default_rng(0)
    y = (rng.random(4000) < 0.5).astype(int)
    scores = {"a": rng.normal(size=y.size) + y, "b": rng.normal(size=y.size) + 0.3 * y}
    df = leaderboard_aurocs(y, scores, seed=3)
    pub = public_private_split(y.size, seed=3)
    for n, s in scores.items():
        assert df.loc[n, "auroc"] == pytest.approx(roc_auc_score(y, s))
        assert df.loc[n, "public_auroc"] == pytest.approx(roc_auc_score(y[pub], s[pub]))
        assert df.loc[n, "private_auroc"] == pytest.approx(roc_auc_score(y[~pub], s[~pub]))


def _closed_form(a, b):
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    n = len(a)
    return 1 - 6 * np.sum((ra - rb) ** 2) / (n * (n * n - 1))


def test_rank_agreement_spearman_and_verdicts():
    val = {"a": 0.90, "b": 0.80, "c": 0.85, "d": 0.70, "e": 0.75}
    priv = {"a": 0.88, "b": 0.79, "c": 0.81, "d": 0.74, "e": 0.72}
    pub = {"a": 0.87, "b": 0.80, "c": 0.82, "d": 0.73, "e": 0.71}
    r = rank_agreement(val, priv, pub)
    names = list(val)
    assert r["spearman_validation_private"] == pytest.approx(
        _closed_form([val[n] for n in names], [priv[n] for n in names])
    )
    assert r["spearman_public_private"] == pytest.approx(1.0)
    assert r["best_validation"] == r["best_private"] == "a"
    assert r["verdict"].startswith("trust validation") and "public board vs private: Spearman 1.00" in r["verdict"]
    bad = rank_agreement({"a": 0.7, "b": 0.8, "c": 0.9}, {"a": 0.9, "b": 0.8, "c": 0.7})
    assert bad["spearman_validation_private"] == pytest.approx(-1.0)
    assert bad["verdict"].startswith("do not trust") and "the private winner is a" in bad["verdict"]
    few = rank_agreement({"a": 0.7, "b": 0.8}, {"a": 0.9, "b": 0.8})
    assert "too few" in few["verdict"]
