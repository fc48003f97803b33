import numpy as np
import pytest
from _pairdata import two_group_data

from metricbench.errors import InputError
from metricbench.learn.base import DistanceMetric, load_metric
from metricbench.learn.learned_cosine import LearnedCosine
from metricbench.learn.norm import Normalized, apply_norm, draw_cohort


def _brute(metric, X, C, i1, i2, norm, top_k):
    """One pair at a time: raw score, each side against every cohort row, z-norm, average."""
    out = []
    for a, b in zip(i1, i2):
        s = metric.pair_score(X[[a]], [0], [0], Y=X[[b]])[0]
        terms = []
        for x in (a, b):
            cs = np.array([metric.pair_score(X[[x]], [0], [0], Y=C[[j]])[0] for j in range(C.shape[0])])
            if norm == "as-norm":
                cs = np.sort(cs)[::-1][:top_k]
            terms.append((s - cs.mean()) / cs.std())
        out.append(0.5 * (terms[0] + terms[1]))
    return np.array(out)


@pytest.mark.parametrize("norm", ["s-norm", "as-norm"])
@pytest.mark.parametrize("which", ["cosine", "euclidean", "learned"])
def test_matches_brute_force(norm, which):
    X, y, g = two_group_data(n_ids=30, d=6)
    if which == "learned":
        inner = LearnedCosine(n_components=4, max_epochs=1, n_identities=4, n_val_pairs=200)
    else:
        inner = DistanceMetric(which)
    m = Normalized(inner, norm=norm, cohort_size=12, top_k=5, random_state=2).fit(X, y, groups=g)
    i1 = np.array([0, 5, 17, 40, 99])
    i2 = np.array([3, 120, 17, 7, 200])
    ref = _brute(m.metric_, X, m.cohort_, i1, i2, norm, 5)
    np.testing.assert_allclose(m.pair_score(X, i1, i2), ref, rtol=1e-9, atol=1e-9)
    # Y form gives the same numbers
    np.testing.assert_allclose(m.pair_score(X, i1, i2, Y=X), ref, rtol=1e-9, atol=1e-9)


def test_symmetric_save_load_and_prefit(tmp_path):
    X, y, g = two_group_data(n_ids=30, d=6)
    inner = LearnedCosine(n_components=4, max_epochs=1, n_identities=4, n_val_pairs=200).fit(X, y, groups=g)
    m = apply_norm(inner, "as-norm", cohort_size=10, top_k=4, prefit=True).fit(X, y)
    assert m.name == "learned-cosine+as-norm"
    assert m.metric_ is inner
    i1, i2 = np.arange(60), np.arange(60, 120)
    a = m.pair_score(X, i1, i2)
    assert np.array_equal(a, m.pair_score(X, i2, i1))
    back = load_metric(m.save(tmp_path / "n.npz"))
    assert np.array_equal(a, back.pair_score(X, i1, i2))
    assert "as-norm of learned-cosine" in back.describe()


def test_cohort_is_seeded_identity_means():
    X, y, _ = two_group_data(n_ids=20, d=5)
    C = draw_cohort(X, y, size=6, kind="means", random_state=1)
    assert np.array_equal(C, draw_cohort(X, y, size=6, kind="means", random_state=1))
    ids = np.sort(np.random.default_rng(1).choice(20, size=6, replace=False))
    np.testing.assert_allclose(C, np.array([X[y == i].mean(0) for i in ids]), rtol=1e-6)
    R = draw_cohort(X, y, size=6, kind="rows", random_state=1)
    assert all(any(np.array_equal(r, x) for x in X.astype(np.float64)[y == i]) for r, i in zip(R, ids))


def test_bad_norm():
    with pytest.raises(InputError, match="score normalisation must be one of"):
        apply_norm("cosine", "t-norm")
    X, y, _ = two_group_data(n_ids=10, d=5)
    with pytest.raises(InputError, match="top_k must be at least 2"):
        Normalized(DistanceMetric("cosine"), top_k=1).fit(X, y)
