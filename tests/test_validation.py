"""Identity-disjoint validation: no held-out identity ever reaches fit; AUROC matches scikit-learn."""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from metricbench.evaluation.splits import identity_split, sample_pairs
from metricbench.evaluation.validation import roc_auc, validate_metric
from metricbench.learn.base import BaseMetric


class SpyMetric(BaseMetric):
    """Records the labels it is fitted on; scores by Euclidean distance."""

    seen: list = []

    def __init__(self, tag: int = 0):
        self.tag = tag

    def _fit(self, X, y, **kw):
        SpyMetric.seen.append(np.unique(y))

    def _pair_distance(self, X, i1, i2, Y):
        Y = X if Y is None else Y
        return np.linalg.norm(np.asarray(X)[i1] - np.asarray(Y)[i2], axis=1)


def test_held_out_identities_never_reach_fit(rng):
    y = np.repeat(np.arange(50), 4)
    X = rng.standard_normal((200, 5)) + y[:, None] * 0.1
    SpyMetric.seen = []
    res = validate_metric(SpyMetric(), X, y, holdout=0.3, seed=3, n_pairs=300)
    fit_ids = SpyMetric.seen[0]
    _, val_mask = identity_split(y, holdout=0.3, seed=3)
    val_ids = np.unique(y[val_mask])
    assert len(np.intersect1d(fit_ids, val_ids)) == 0
    assert len(fit_ids) + len(val_ids) == 50
    assert res.n_val_identities == len(val_ids) == 15


def test_identity_split_is_disjoint_and_seeded():
    y = np.repeat(np.array(list("abcdefghij")), 3)
    f1, v1 = identity_split(y, holdout=0.3, seed=1)
    f2, v2 = identity_split(y, holdout=0.3, seed=1)
    assert (v1 == v2).all() and not (f1 & v1).any() and (f1 | v1).all()
    assert not set(y[f1]) & set(y[v1])


def test_sample_pairs_labels_are_correct_and_cross_groups(rng):
    y = np.repeat(np.arange(30), 4)
    groups = np.tile(["clean", "clean", "xq", "xq"], 30)
    i1, i2, same = sample_pairs(y, n_pairs=200, seed=0, groups=groups, cross_groups=("clean", "xq"))
    assert (same == (y[i1] == y[i2])).all()
    assert (groups[i1] == "clean").all() and (groups[i2] == "xq").all()
    assert 0.4 < same.mean() < 0.6
    assert not (i1 == i2).any()
    a = sample_pairs(y, n_pairs=100, seed=5)
    b = sample_pairs(y, n_pairs=100, seed=5)
    assert all((x == z).all() for x, z in zip(a, b))


def test_roc_auc_matches_sklearn_with_ties(rng):
    same = rng.integers(0, 2, 500)
    score = np.round(rng.standard_normal(500) + same, 1)  # many ties
    assert roc_auc(same, score) == pytest.approx(roc_auc_score(same, score), abs=1e-12)


def test_same_pairs_never_join_two_variants_of_one_image():
    y = np.repeat(np.arange(40), 4)  # 2 images per identity, each in two variants
    images = np.repeat(np.arange(80), 2)
    groups = np.tile(["clean", "xq"], 80)
    i1, i2, same = sample_pairs(y, n_pairs=100, seed=0, groups=groups, cross_groups=("clean", "xq"), images=images)
    assert same.sum() > 20
    assert not (images[i1] == images[i2]).any()
    # without image ids, own-copy pairs do occur (what the option prevents)
    j1, j2, s2 = sample_pairs(y, n_pairs=100, seed=0, groups=groups, cross_groups=("clean", "xq"))
    assert (images[j1] == images[j2]).any()
