"""metricbench.model_selection: identity-disjoint splits and pairs, the pair-AUROC scorer, the search.

References: scikit-learn's roc_auc_score and GridSearchCV (same protocol, same choice), brute force."""

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from sklearn.base import clone
from sklearn.model_selection import GridSearchCV

from metricbench import get_metric
from metricbench.errors import InputError
from metricbench.learn.base import BaseMetric
from metricbench.learn.linear import LDACosine
from metricbench.learn.whitening import WhitenedCosine
from metricbench.model_selection import (
    IdentityPairSplit,
    MetricSearchCV,
    identity_split,
    pair_auroc,
    pair_auroc_scorer,
    sample_pairs,
    validate_and_fit,
    validate_metric,
)

roc_auc = pair_auroc


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
    res = validate_metric(SpyMetric(), X, y, holdout=0.3, random_state=3, n_pairs=300)
    fit_ids = SpyMetric.seen[0]
    _, val_mask = identity_split(y, holdout=0.3, random_state=3)
    val_ids = np.unique(y[val_mask])
    assert len(np.intersect1d(fit_ids, val_ids)) == 0
    assert len(fit_ids) + len(val_ids) == 50
    assert res.n_val_identities == len(val_ids) == 15


def test_identity_split_is_disjoint_and_seeded():
    y = np.repeat(np.array(list("abcdefghij")), 3)
    f1, v1 = identity_split(y, holdout=0.3, random_state=1)
    f2, v2 = identity_split(y, holdout=0.3, random_state=1)
    assert (v1 == v2).all() and not (f1 & v1).any() and (f1 | v1).all()
    assert not set(y[f1]) & set(y[v1])


def test_sample_pairs_labels_are_correct_and_cross_groups(rng):
    y = np.repeat(np.arange(30), 4)
    groups = np.tile(["clean", "clean", "xq", "xq"], 30)
    i1, i2, same = sample_pairs(y, n_pairs=200, random_state=0, variants=groups, cross=("clean", "xq"))
    assert (same == (y[i1] == y[i2])).all()
    assert (groups[i1] == "clean").all() and (groups[i2] == "xq").all()
    assert 0.4 < same.mean() < 0.6
    assert not (i1 == i2).any()
    a = sample_pairs(y, n_pairs=100, random_state=5)
    b = sample_pairs(y, n_pairs=100, random_state=5)
    assert all((x == z).all() for x, z in zip(a, b))


def test_roc_auc_matches_sklearn_with_ties(rng):
    same = rng.integers(0, 2, 500)
    score = np.round(rng.standard_normal(500) + same, 1)  # many ties
    assert roc_auc(same, score) == pytest.approx(roc_auc_score(same, score), abs=1e-12)


def test_same_pairs_never_join_two_variants_of_one_image():
    y = np.repeat(np.arange(40), 4)  # 2 images per identity, each in two variants
    images = np.repeat(np.arange(80), 2)
    groups = np.tile(["clean", "xq"], 80)
    i1, i2, same = sample_pairs(y, n_pairs=100, random_state=0, variants=groups, cross=("clean", "xq"), images=images)
    assert same.sum() > 20
    assert not (images[i1] == images[i2]).any()
    # without image ids, own-copy pairs do occur (what the option prevents)
    j1, j2, s2 = sample_pairs(y, n_pairs=100, random_state=0, variants=groups, cross=("clean", "xq"))
    assert (images[j1] == images[j2]).any()


@pytest.mark.parametrize("cross", [False, True])
def test_when_fewer_same_pairs_exist_than_wanted_all_of_them_come_back_at_once(cross):
    # 3 identities of 8 rows (4 images in two variants): far fewer distinct same pairs than the 5,000
    # wanted; the brute-force set of every allowed pair is the reference
    y = np.repeat(np.arange(3), 8)
    images = np.repeat(np.arange(12), 2)
    groups = np.tile(["clean", "xq"], 12)
    kw = {"variants": groups, "cross": ("clean", "xq"), "images": images} if cross else {"images": images}
    i1, i2, same = sample_pairs(y, n_pairs=10_000, random_state=3, **kw)
    n = y.size
    if cross:
        want = {(a, b) for a in range(n) for b in range(n) if groups[a] == "clean" and groups[b] == "xq"
                and y[a] == y[b] and images[a] != images[b]}
        got = set(zip(i1[same == 1].tolist(), i2[same == 1].tolist()))
    else:
        want = {(a, b) for a in range(n) for b in range(a + 1, n) if y[a] == y[b] and images[a] != images[b]}
        got = {(min(a, b), max(a, b)) for a, b in zip(i1[same == 1].tolist(), i2[same == 1].tolist())}
    assert got == want and (same == 1).sum() == len(want)
    assert (y[i1[same == 0]] != y[i2[same == 0]]).all() and (same == 0).sum() == 5_000
    # seeded: the same call gives the same pairs
    j1, j2, s2 = sample_pairs(y, n_pairs=10_000, random_state=3, **kw)
    assert (j1 == i1).all() and (j2 == i2).all() and (s2 == same).all()


def test_one_auroc_raises_on_a_single_kind_of_pair():
    with pytest.raises(InputError, match="both same"):
        pair_auroc(np.ones(10), np.arange(10.0))


def _two_variant(rng, n_id=60, per=3, d=6):
    centres = rng.standard_normal((n_id, d)) * 2
    yi = np.repeat(np.arange(n_id), per)
    clean = centres[yi] + rng.standard_normal((yi.size, d))
    X = np.vstack([clean, clean * 0.8 + 0.3 + 0.6 * rng.standard_normal(clean.shape)])
    y = np.r_[yi, yi]
    v = np.array(["clean"] * yi.size + ["xq"] * yi.size)
    images = np.r_[np.arange(yi.size), np.arange(yi.size)]
    return X, y, v, images


def test_splitter_follows_sklearn_protocol_and_the_pairing_rule(rng):
    X, y, v, images = _two_variant(rng)
    cv = IdentityPairSplit(n_splits=2, test_size=0.25, n_pairs=400, variants=v, images=images, random_state=4)
    assert cv.get_n_splits() == 2
    for train, test in cv.split(X, y, groups=y):
        m = test.size // 2
        left, right = test[:m], test[m:]
        assert not set(y[train]) & set(y[test])  # identity-disjoint
        assert (v[left] == "clean").all() and (v[right] == "xq").all()  # one clean, one degraded
        assert not (images[left] == images[right]).any()  # never an image with its own copy
        assert 0.3 < (y[left] == y[right]).mean() < 0.7
    # seeded
    a = [t for _, t in cv.split(X, y)]
    b = [t for _, t in cv.split(X, y)]
    assert all((p == q).all() for p, q in zip(a, b))


def test_search_equals_sklearn_gridsearchcv_with_the_splitter_and_scorer(rng):
    X, y, v, images = _two_variant(rng)
    grid = {"n_components": [2, 4, 6], "shrinkage": [0.0, 0.5, 1.0]}  # k = 1: cosine ties that rounding breaks
    cv = IdentityPairSplit(test_size=0.25, n_pairs=600, variants=v, images=images, random_state=2)
    sk = GridSearchCV(WhitenedCosine(), grid, cv=cv, scoring=pair_auroc_scorer).fit(X, y, groups=y)
    ours = MetricSearchCV(WhitenedCosine(), grid, test_size=0.25, n_pairs=600, random_state=2).fit(
        X, y, variants=v, images=images
    )
    np.testing.assert_allclose(ours.cv_results_["mean_test_score"], sk.cv_results_["mean_test_score"], atol=1e-12)
    assert ours.best_params_ == sk.best_params_ and ours.best_score_ == pytest.approx(sk.best_score_)
    i1, i2 = rng.integers(0, y.size, 50), rng.integers(0, y.size, 50)
    np.testing.assert_allclose(ours.pair_distance(X, i1, i2), sk.best_estimator_.pair_distance(X, i1, i2),
                               rtol=1e-9, atol=1e-12)
    assert "inner-selection AUROC" in ours.describe() and "validation" not in ours.describe()
    assert ours.selection_["random_state"] == 2 and ours.selection_["cross"] == ["clean", "xq"]
    # clone keeps the name, and an unfitted search reports it
    assert clone(ours).name == "cosine-whitened"


def test_auto_resolves_to_a_search_and_bad_auto_is_a_clear_error(rng):
    m = get_metric("lda-cosine")
    assert isinstance(m, MetricSearchCV) and m.name == "lda-cosine"
    assert isinstance(get_metric("lda-cosine", n_components=8), LDACosine)
    with pytest.raises(InputError, match="cannot be 'auto'"):
        get_metric("lda-cosine", n_components=4, shrinkage="auto")
    with pytest.raises(InputError, match="only apply to a search"):
        get_metric("lda-cosine", n_components=4, n_pairs=100)
    with pytest.raises(InputError, match=r"shrinkage.* must be a float in the range \[0.0, 1.0\]"):
        get_metric("cosine-whitened", shrinkage_grid="0.5,2")


@pytest.mark.parametrize("name", ["cosine-whitened", "zca-cosine", "wccn-cosine", "lda-cosine", "plda", "kissme"])
def test_validate_and_fit_shares_statistics_and_equals_separate_runs(rng, name):
    X, y, v, images = _two_variant(rng)
    kw = dict(holdout=0.25, random_state=1, n_pairs=500, variants=v, images=images)
    res, fitted = validate_and_fit(get_metric(name), X, y, **kw)
    alone = validate_metric(get_metric(name), X, y, **kw)
    assert res.auroc == pytest.approx(alone.auroc, abs=1e-9)
    # the final search held out the validation identities: refitting it plainly on rows gives the same metric
    ref = get_metric(name, n_pairs=500, holdout=0.25, random_state=1).fit(X, y, variants=v, images=images)
    i1, i2 = rng.integers(0, y.size, 60), rng.integers(0, y.size, 60)
    np.testing.assert_allclose(fitted.pair_distance(X, i1, i2), ref.pair_distance(X, i1, i2), rtol=1e-7, atol=1e-9)
    assert fitted.best_params_ == ref.best_params_
