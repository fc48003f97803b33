"""Verification measures against scikit-learn, scipy and brute force."""

import numpy as np
import pytest
from scipy.interpolate import interp1d
from scipy.optimize import brentq
from sklearn.metrics import precision_recall_fscore_support, roc_auc_score
from sklearn.metrics import roc_curve as sk_roc_curve

from metricbench.errors import InputError
from metricbench.evaluation import verification as V


def _data(n=2000, seed=0, ties=False, frac=0.3):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < frac).astype(int)
    s = rng.normal(size=n) + 1.2 * y
    if ties:
        s = np.round(s, 1)
    return y, s


@pytest.mark.parametrize("ties", [False, True])
def test_auroc_equals_sklearn(ties):
    y, s = _data(ties=ties)
    assert V.auroc(y, s) == pytest.approx(roc_auc_score(y, s), abs=1e-12)


@pytest.mark.parametrize("ties", [False, True])
def test_roc_curve_equals_sklearn(ties):
    y, s = _data(ties=ties)
    fpr, tpr, thr = V.roc_curve(y, s)
    f2, t2, th2 = sk_roc_curve(y, s, drop_intermediate=False)
    np.testing.assert_allclose(fpr, f2)
    np.testing.assert_allclose(tpr, t2)
    np.testing.assert_array_equal(thr[1:], th2[1:])


@pytest.mark.parametrize("ties", [False, True])
def test_bootstrap_kernel_equals_weighted_sklearn(ties):
    y, s = _data(n=500, ties=ties)
    _, group = np.unique(s, return_inverse=True)
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    rng = np.random.default_rng(3)
    cp = V._draw_counts(rng, pos.size, 5)
    cn = V._draw_counts(rng, neg.size, 5)
    got = V._weighted_auc_rows(group.astype(np.int64), cp, cn, pos, neg, int(group.max()) + 1)
    for b in range(5):
        w = np.zeros(y.size)
        w[pos] = cp[b]
        w[neg] = cn[b]
        assert got[b] == pytest.approx(roc_auc_score(y, s, sample_weight=w), abs=1e-12)
        # and the same as materialising the resample
        rows = np.r_[np.repeat(pos, cp[b].astype(int)), np.repeat(neg, cn[b].astype(int))]
        assert got[b] == pytest.approx(roc_auc_score(y[rows], s[rows]), abs=1e-12)


def test_auroc_ci_brackets_and_is_seeded():
    y, s = _data(n=3000)
    a = V.auroc_ci(y, s, n_boot=300, seed=1)
    b = V.auroc_ci(y, s, n_boot=300, seed=1)
    c = V.auroc_ci(y, s, n_boot=300, seed=2)
    assert a == b and a.low != c.low
    assert a.low < a.auroc < a.high
    assert a.auroc == pytest.approx(roc_auc_score(y, s))
    # width close to the normal approximation of Hanley & McNeil
    auc, n1, n0 = a.auroc, y.sum(), (1 - y).sum()
    q1, q2 = auc / (2 - auc), 2 * auc**2 / (1 + auc)
    se = np.sqrt((auc * (1 - auc) + (n1 - 1) * (q1 - auc**2) + (n0 - 1) * (q2 - auc**2)) / (n1 * n0))
    assert (a.high - a.low) == pytest.approx(2 * 1.96 * se, rel=0.25)
    u = V.auroc_ci(y, s, n_boot=200, seed=1, stratified=False)
    assert u.low < u.auroc < u.high


def test_auroc_ci_fast_for_30k_pairs():
    import time

    y, s = _data(n=30000)
    V.auroc_ci(y[:100], s[:100], n_boot=2)  # compile
    t = time.perf_counter()
    V.auroc_ci(y, s, n_boot=1000)
    assert time.perf_counter() - t < 20


def _brute_tar(y, s, far):
    """Try every threshold (each distinct score, and +inf); keep the best TAR with FAR <= far."""
    best = 0.0
    for t in np.r_[np.inf, np.unique(s)]:
        acc = s >= t
        f = acc[y == 0].mean()
        if f <= far + 1e-15:
            best = max(best, acc[y == 1].mean())
    return best


@pytest.mark.parametrize("ties", [False, True])
def test_tar_at_far_brute_force(ties):
    y, s = _data(n=3000, ties=ties)
    fars = (0.3, 0.1, 0.01, 1e-3)
    got = V.tar_at_far(y, s, fars)
    for f, g in zip(fars, got):
        assert g == pytest.approx(_brute_tar(y, s, f))
    # same via sklearn's curve: last point with fpr <= far
    fpr, tpr, _ = sk_roc_curve(y, s, drop_intermediate=False)
    for f, g in zip(fars, got):
        assert g == pytest.approx(tpr[np.flatnonzero(fpr <= f)[-1]])


def test_tar_at_far_unresolvable_is_nan():
    y, s = _data(n=3000)  # about 2100 different pairs: 1e-4 needs 10,000
    tars = V.tar_at_far(y, s, (1e-2, 1e-4))
    assert np.isfinite(tars[0]) and np.isnan(tars[1])
    pts = V.operating_points(y, s, (1e-2, 1e-4))
    assert pts[0].resolvable and not pts[1].resolvable
    assert pts[0].far <= 1e-2 and pts[0].false_accepts == int(np.sum(s[y == 0] >= pts[0].threshold))


def test_operating_point_threshold_semantics():
    y = np.array([1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])
    s = np.array([9, 8, 5, 7, 4, 3, 2, 1, 0, -1, -2, -3, -4], float)
    (p,) = V.operating_points(y, s, [0.1])  # 10 negatives: one false accept allowed
    assert p.threshold == 5 and p.false_accepts == 1 and p.tar == 1.0


def _brentq_eer(y, s):
    fpr, tpr, _ = sk_roc_curve(y, s)
    return brentq(lambda x: 1.0 - x - interp1d(fpr, tpr)(x), 0.0, 1.0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_eer_equals_brentq(seed):
    y, s = _data(n=1500, seed=seed)
    assert V.eer(y, s) == pytest.approx(_brentq_eer(y, s), abs=1e-9)


def test_eer_threshold_balances_errors():
    y, s = _data(n=20000)
    rate, t = V.eer(y, s, return_threshold=True)
    far = np.mean(s[y == 0] >= t)
    frr = np.mean(s[y == 1] < t)
    assert far == pytest.approx(rate, abs=2e-3) and frr == pytest.approx(rate, abs=2e-3)


def _brute_best_threshold(y, s):
    u = np.unique(s)[::-1]  # decreasing
    cands = np.r_[np.nextafter(u[0], np.inf), (u[:-1] + u[1:]) / 2, u[-1]]
    accs = [np.mean((s >= t) == (y == 1)) for t in cands]
    j = int(np.argmax(accs))  # first max = highest threshold
    return cands[j], accs[j]


@pytest.mark.parametrize("ties", [False, True])
def test_kfold_accuracy_brute_force(ties):
    y, s = _data(n=900, ties=ties, frac=0.5)
    folds = np.arange(y.size) % 10
    got = V.kfold_accuracy(y, s, folds=folds)
    accs = []
    for k in range(10):
        te = folds == k
        t, _ = _brute_best_threshold(y[~te], s[~te])
        accs.append(np.mean((s[te] >= t) == (y[te] == 1)))
    np.testing.assert_allclose(got.accuracies, accs)
    assert got.mean == pytest.approx(np.mean(accs)) and got.std == pytest.approx(np.std(accs))


def test_kfold_seeded_folds_are_balanced():
    y, s = _data(n=1000)
    a = V.kfold_accuracy(y, s, n_folds=10, seed=0)
    b = V.kfold_accuracy(y, s, n_folds=10, seed=0)
    np.testing.assert_array_equal(a.folds, b.folds)
    per_fold = np.bincount(a.folds, weights=y, minlength=10)
    assert per_fold.max() - per_fold.min() <= 1
    assert 0.5 < a.mean < 1


def test_best_threshold_separable():
    t, acc = V.best_accuracy_threshold([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9])
    assert acc == 1.0 and t == pytest.approx(0.5)


def test_precision_recall_f1_at_far_equals_sklearn():
    y, s = _data(n=20000)
    r = V.precision_recall_f1_at_far(y, s, far=1e-2)
    pred = (s >= r["threshold"]).astype(int)
    p, rc, f, _ = precision_recall_fscore_support(y, pred, average="binary")
    _, _, fm, _ = precision_recall_fscore_support(y, pred, average="macro")
    assert (r["precision"], r["recall"], r["f1"], r["macro_f1"]) == pytest.approx((p, rc, f, fm))
    assert r["recall"] == pytest.approx(V.tar_at_far(y, s, [1e-2])[0])
    assert r["far"] <= 1e-2


def test_verification_report_keys_and_values():
    y, s = _data(n=3000)
    rep = V.verification_report(y, s, n_boot=100)
    assert rep["auroc"] == pytest.approx(roc_auc_score(y, s))
    assert rep["auroc_low"] < rep["auroc"] < rep["auroc_high"]
    assert np.isnan(rep["tar@far=1e-04"]) and np.isfinite(rep["tar@far=1e-01"])
    assert rep["n_same"] + rep["n_different"] == 3000
    assert rep["eer"] == pytest.approx(_brentq_eer(y, s), abs=1e-9)


@pytest.mark.parametrize(
    "y,s,match",
    [
        ([1, 1], [0.1, 0.2], "both same"),
        ([1, 2], [0.1, 0.2], "row 1 holds 2"),
        ([1, 0], [0.1, np.nan], "row 1 is nan"),
        ([1, 0, 1], [0.1, 0.2], "3 labels but y_score has 2"),
    ],
)
def test_bad_input(y, s, match):
    with pytest.raises(InputError, match=match):
        V.auroc(y, s)


def test_bad_far():
    with pytest.raises(InputError, match="FAR targets"):
        V.tar_at_far([0, 1], [0.0, 1.0], [0.0])
