"""zca-cosine, wccn-cosine, lda-cosine against scikit-learn / numpy, and the scatter helpers by brute force."""

import numpy as np
import pytest
from scipy.linalg import fractional_matrix_power
from sklearn.covariance import LedoitWolf
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

from metricbench import get_metric
from metricbench.errors import InputError
from metricbench.learn.stats import ScatterStats


def _cos_dist(A, B):
    return 1 - (A * B).sum(1) / np.linalg.norm(A, axis=1) / np.linalg.norm(B, axis=1)


def labelled(rng, n_id=25, d=6, sizes=(1, 2, 3, 7)):
    counts = np.resize(np.array(sizes), n_id)
    y = np.repeat(np.arange(n_id), counts)
    X = rng.standard_normal((n_id, d))[y] * 2 + rng.standard_normal((y.size, d)) @ rng.standard_normal((d, d))
    return X, y


# -- scatter helpers ---------------------------------------------------------------------------


def test_scatter_matches_numpy(rng):
    X, y = labelled(rng)
    S = ScatterStats.from_data(X, y, wccn=True, chunk=7)
    np.testing.assert_allclose(S.mean, X.mean(0), atol=1e-12)
    np.testing.assert_allclose(S.total, np.cov(X.T, bias=True), atol=1e-10)
    Sw = sum(np.cov(X[y == c].T, bias=True) * (y == c).sum() for c in np.unique(y)) / y.size
    np.testing.assert_allclose(S.within, Sw, atol=1e-10)
    np.testing.assert_allclose(S.within_unbiased, Sw * y.size / (y.size - np.unique(y).size), atol=1e-10)
    multi = [c for c in np.unique(y) if (y == c).sum() >= 2]
    wc = sum(np.cov(X[y == c].T, bias=True) for c in multi) / len(multi)
    np.testing.assert_allclose(S.mean_class_covariance(), wc, atol=1e-10)


@pytest.mark.parametrize("cross", [False, True])
def test_stats_of_a_union_and_of_a_projection_need_no_rows(rng, cross):
    X, y = labelled(rng, n_id=15, d=5)
    X = X + 50.0  # far from the origin: the sums are re-centred exactly
    g = rng.choice(["a", "b"], size=y.size)
    kw = dict(variants=g, cross=("a", "b")) if cross else dict(pairs=True)
    whole = ScatterStats.from_data(X, y, wccn=True, **kw)
    part = np.isin(y, np.unique(y)[:6])  # identity-disjoint row sets, own reference points
    a = ScatterStats.from_data(X[part], y[part], wccn=True, **{k: (v[part] if k == "variants" else v) for k, v in kw.items()})
    b = ScatterStats.from_data(X[~part], y[~part], wccn=True, shift=np.zeros(5),
                               **{k: (v[~part] if k == "variants" else v) for k, v in kw.items()})
    u = a + b
    assert u.n == whole.n
    for f in ("mean", "total", "between", "within"):
        np.testing.assert_allclose(getattr(u, f), getattr(whole, f), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(u.mean_class_covariance(), whole.mean_class_covariance(), rtol=1e-9, atol=1e-9)
    for w in ("pairs", "rows"):
        for p, q in zip(u.pair_scatter(w), whole.pair_scatter(w)):
            np.testing.assert_allclose(p, q, rtol=1e-9, atol=1e-6)
    # statistics of a linear map of the rows, without the rows
    P = rng.standard_normal((5, 3))
    Z = (X - whole.mean) @ P
    direct = ScatterStats.from_data(Z, y, **kw)
    proj = whole.project(P, whole.mean)
    np.testing.assert_allclose(proj.total, direct.total, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(proj.pair_scatter("rows")[0], direct.pair_scatter("rows")[0], rtol=1e-9, atol=1e-6)
    # row chunks sharing identities combine exactly when given the global class counts
    classes, counts = np.unique(y, return_counts=True)
    halves = [slice(0, y.size // 2), slice(y.size // 2, None)]
    parts = [ScatterStats.from_data(X[h], y[h], wccn=True, class_counts=dict(zip(classes.tolist(), counts)))
             for h in halves]
    np.testing.assert_allclose((parts[0] + parts[1]).mean_class_covariance(),
                               whole.mean_class_covariance(), rtol=1e-9, atol=1e-9)
    # ... and refuse a class-weighted statistic when they were not
    local = [ScatterStats.from_data(X[h], y[h], wccn=True) for h in halves]
    with pytest.raises(InputError, match="class_counts"):
        (local[0] + local[1]).mean_class_covariance()


@pytest.mark.parametrize("cross", [False, True])
@pytest.mark.parametrize("weight", ["pairs", "rows"])
def test_pair_scatter_matches_enumerated_pairs(rng, cross, weight):
    X, y = labelled(rng, n_id=12, d=4)
    g = rng.choice(["a", "b"], size=y.size)
    # cross: each pair (row of a, row of b) once; otherwise every ordered pair i != j
    pairs = [(i, j) for i in range(y.size) for j in range(y.size) if i != j]
    if cross:
        pairs = [(i, j) for i, j in pairs if g[i] == "a" and g[j] == "b"]
    same, every = np.zeros((4, 4)), np.zeros((4, 4))
    n_same = 0.0
    for i, j in pairs:
        D = np.outer(X[i] - X[j], X[i] - X[j])
        every += D
        if y[i] == y[j]:
            in_c = y == y[i]
            na, nb = ((in_c & (g == "a")).sum(), (in_c & (g == "b")).sum()) if cross else (in_c.sum(), in_c.sum())
            w = 1.0 if weight == "pairs" else 2.0 / (na + nb)
            same += w * D
            n_same += w
    n_every = len(pairs)
    st = ScatterStats.from_data(X, y, variants=g if cross else None, cross=("a", "b") if cross else None, pairs=True)
    got = st.pair_scatter(weight)
    np.testing.assert_allclose(got[0], same, atol=1e-9)
    assert got[1] == pytest.approx(n_same)
    np.testing.assert_allclose(got[2], every, atol=1e-9)
    assert got[3] == pytest.approx(n_every)


# -- LDA ---------------------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:Only one sample available")
def test_lda_matches_sklearn_eigen_solver(rng):
    X, y = labelled(rng, n_id=30, d=7)
    k = 4
    m = get_metric("lda-cosine", n_components=k, within="all").fit(X, y)
    sk = LinearDiscriminantAnalysis(solver="eigen", n_components=k).fit(X, y)
    Z_sk = (X - X.mean(0)) @ sk.scalings_[:, :k]  # scikit-learn's eigen transform does not centre
    Z = m.transform(X)
    for j in range(k):  # same directions up to sign
        s = np.sign(Z[:, j] @ Z_sk[:, j])
        np.testing.assert_allclose(Z[:, j], s * Z_sk[:, j], rtol=1e-6, atol=1e-8)
    i1, i2 = rng.integers(0, y.size, 100), rng.integers(0, y.size, 100)
    np.testing.assert_allclose(m.pair_distance(X, i1, i2), _cos_dist(Z_sk[i1], Z_sk[i2]), rtol=1e-6, atol=1e-9)
    # the svd solver spans the same within-class-whitened space
    Zs = LinearDiscriminantAnalysis(solver="svd", n_components=k).fit(X, y).transform(X)
    np.testing.assert_allclose(np.abs(np.corrcoef(Z.T, Zs.T)[:k, k:]).max(0), 1.0, atol=1e-6)


def _small_within_data(rng, n_id=40, per=12, d=10, tiny=3e-5):
    """Identities whose within-class covariance has two directions at about 1e-9 of its largest
    eigenvalue (above the numerical-rank cut) in which the identities differ by several
    within-class deviations: the most discriminative directions there are."""
    Q = np.linalg.qr(rng.standard_normal((d, d)))[0]  # not aligned with the axes
    w = np.r_[np.linspace(1.0, 0.5, d - 2), tiny, 0.7 * tiny]  # within-class deviations
    b = np.r_[0.3 * w[:-2] * np.linspace(1.0, 0.4, d - 2), 4.0 * tiny, 3.0 * tiny]  # identity spread
    y = np.repeat(np.arange(n_id), per)
    Z = (rng.standard_normal((n_id, d)) * b)[y] + rng.standard_normal((y.size, d)) * w
    return 5.0 + Z @ Q.T, y


@pytest.mark.parametrize("k", [2, 5])
def test_lda_keeps_small_within_class_directions_as_sklearn_does(rng, k):
    """Directions of the within-class covariance far below its largest but above the rank cut:
    lda-cosine finds scikit-learn's eigen-solver subspace and scores. (A ridge of 1e-10 times the
    mean eigenvalue, added before the generalised eigenproblem, moved exactly these directions.)"""
    X, y = _small_within_data(rng)
    st = ScatterStats.from_data(X, y)
    w = np.linalg.eigvalsh(st.within)
    assert 1e-10 < w[0] / w[-1] < 1e-8  # the case: a few eigenvalues far below the largest, above the cut
    m = get_metric("lda-cosine", n_components=k, within="all").fit(X, y)
    sk = LinearDiscriminantAnalysis(solver="eigen", n_components=k).fit(X, y)
    Z_sk = (X - X.mean(0)) @ sk.scalings_[:, :k]
    Z = m.transform(X)
    cosines = np.linalg.svd(np.linalg.qr(Z)[0].T @ np.linalg.qr(Z_sk)[0], compute_uv=False)
    np.testing.assert_allclose(cosines, 1.0, atol=1e-6)  # the same subspace
    i1, i2 = rng.integers(0, y.size, 200), rng.integers(0, y.size, 200)
    # Sw's condition number (1e9) bounds either solver's directions to about eps * 1e9 = 2e-7
    np.testing.assert_allclose(m.pair_distance(X, i1, i2), _cos_dist(Z_sk[i1], Z_sk[i2]), rtol=0, atol=1e-5)


def test_a_true_null_space_is_still_cut(rng):
    """Rows in a subspace (a covariance of exact rank r < d, zero eigenvalues at rounding level)
    are whitened on that subspace only: the cut moved, it did not go."""
    X, y = labelled(rng, n_id=30, d=6)
    X = np.c_[X, X[:, :2] @ np.array([[1.0], [-2.0]])]  # a 7th column in the span of the first two
    m = get_metric("wccn-cosine", shrinkage=0.0, within="all").fit(X, y)
    assert m.rank_ == 6 and "numerical rank 6 of 7" in m.describe()
    lda = get_metric("lda-cosine", n_components=None, within="all").fit(X, y)
    assert lda.n_components_ == 6 and np.isfinite(lda.components_).all()


def test_lda_auto_chooses_on_validation(rng):
    X, y = labelled(rng, n_id=60, d=10, sizes=(3, 4))
    m = get_metric("lda-cosine", n_components_grid=(2, 4, 9, 50)).fit(X, y)
    # 50 clipped to min(d, C - 1) = 10
    assert [p["n_components"] for p in m.cv_results_["params"]] == [2, 4, 9, 10]
    best = int(np.argmax(m.cv_results_["mean_test_score"]))
    assert m.best_estimator_.n_components_ == m.cv_results_["params"][best]["n_components"]
    assert "inner-selection AUROC" in m.describe() and "random_state 0" in m.describe()


def test_lda_bad_n_components(rng):
    X, y = labelled(rng)
    with pytest.raises(InputError, match="n_components.* must be between 1 and 6"):
        get_metric("lda-cosine", n_components=9).fit(X, y)


# -- ZCA ---------------------------------------------------------------------------------------


def test_zca_whitens_and_is_symmetric(rng):
    X, y = labelled(rng)
    m = get_metric("zca-cosine", shrinkage=0.0, eps=0.0).fit(X, y)
    W = m.components_
    np.testing.assert_allclose(W, W.T, atol=1e-10)
    np.testing.assert_allclose(W @ np.cov(X.T, bias=True) @ W.T, np.eye(6), atol=1e-8)


def test_zca_ledoit_wolf_equals_sklearn(rng):
    X, y = labelled(rng, n_id=10)
    m = get_metric("zca-cosine", shrinkage="ledoit-wolf", eps=0.0).fit(X, y)
    lw = LedoitWolf().fit(X)
    assert m.shrinkage_ == pytest.approx(lw.shrinkage_)
    np.testing.assert_allclose(m.components_, fractional_matrix_power(lw.covariance_, -0.5).real, rtol=1e-6, atol=1e-9)


def test_zca_shrinkage_one_is_centred_cosine(rng):
    X, y = labelled(rng)
    m = get_metric("zca-cosine", shrinkage=1.0).fit(X, y)
    C = X - X.mean(0)
    i1, i2 = rng.integers(0, y.size, 60), rng.integers(0, y.size, 60)
    np.testing.assert_allclose(m.pair_distance(X, i1, i2), _cos_dist(C[i1], C[i2]), rtol=1e-6, atol=1e-9)


def test_bad_shrinkage(rng):
    X, y = labelled(rng)
    with pytest.raises(InputError, match=r"shrinkage.* must be a float in the range \[0.0, 1.0\]"):
        get_metric("zca-cosine", shrinkage=1.5).fit(X, y)


# -- WCCN --------------------------------------------------------------------------------------


def test_wccn_whitens_the_within_covariance_like_hatchs_cholesky(rng):
    X, y = labelled(rng)
    m = get_metric("wccn-cosine", shrinkage=0.0, within="all").fit(X, y)
    multi = [c for c in np.unique(y) if (y == c).sum() >= 2]
    Sw = sum(np.cov(X[y == c].T, bias=True) for c in multi) / len(multi)
    Bt = m.components_  # a whitening of Sw: Bt^T Bt = inv(Sw), as Hatch's B = chol(inv(Sw)) up to a rotation
    np.testing.assert_allclose(Bt.T @ Bt, np.linalg.inv(Sw), rtol=1e-6, atol=1e-8)
    Z = (X - X.mean(0)) @ np.linalg.cholesky(np.linalg.inv(Sw))
    i1, i2 = rng.integers(0, y.size, 60), rng.integers(0, y.size, 60)
    np.testing.assert_allclose(m.pair_distance(X, i1, i2), _cos_dist(Z[i1], Z[i2]), rtol=1e-6, atol=1e-9)


def test_wccn_singular_within_is_cut_at_its_rank(rng):
    X, y = labelled(rng, n_id=4, d=6, sizes=(2,))  # 4 within-class dof < 6 dims
    m = get_metric("wccn-cosine", shrinkage=0.0, within="all").fit(X, y)
    assert m.rank_ == 4 and m.components_.shape == (4, 6) and "numerical rank 4 of 6" in m.describe()
    # shrinkage makes it full rank again
    assert get_metric("wccn-cosine", shrinkage=0.1, within="all").fit(X, y).rank_ == 6
