"""Native LMNN: loss and gradient against brute force and metric-learn, behaviour on data
whose answer is known, and the metric interface (symmetry, save/load, determinism)."""

import numpy as np
import pytest

from metricbench.errors import InputError
from metricbench.learn.base import load_metric
from metricbench.learn.lmnn import LMNN, _class_layout, _Problem, find_target_neighbors


def _random_problem(seed=1, n=40, d=5, n_classes=4):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = rng.integers(0, n_classes, size=n)
    return X, y


def _sorted(X, y):
    order = np.argsort(y, kind="stable")
    return np.ascontiguousarray(X[order]), y[order]


def _problem(Xs, ys, K, k, **kw):
    """A _Problem on class-sorted rows; exhaustive unless told otherwise."""
    _, _, counts, starts = _class_layout(ys)
    T = find_target_neighbors(Xs, ys, K)
    kw.setdefault("max_impostors", 0)
    kw.setdefault("n_random", Xs.shape[0])  # population <= r: every impostor, weight 1
    return _Problem(Xs, T, starts, counts, Xs.mean(axis=0), k, **kw), T


def _brute_loss_grad(X, y, T, L, mu):
    """LMNN loss and gradient by explicit loops over every triplet."""
    f = 0.0
    G = np.zeros_like(L)
    for i in range(X.shape[0]):
        for j in T[i]:
            if j < 0:
                continue
            dij = np.sum((L @ (X[i] - X[j])) ** 2)
            Cij = np.outer(L @ (X[i] - X[j]), X[i] - X[j])
            f += (1 - mu) * dij
            G += 2 * (1 - mu) * Cij
            for l in np.flatnonzero(y != y[i]):
                h = 1 + dij - np.sum((L @ (X[i] - X[l])) ** 2)
                if h > 0:
                    f += mu * h
                    G += 2 * mu * (Cij - np.outer(L @ (X[i] - X[l]), X[i] - X[l]))
    return f, G


# -- target neighbours ------------------------------------------------------------------
def test_target_neighbors_match_brute_force():
    X, y = _random_problem(n=60, d=6, n_classes=5)
    y[:2] = 9  # an identity of two rows: one target each, the rest -1
    T = find_target_neighbors(X, y, 3)
    D = ((X[:, None] - X[None]) ** 2).sum(-1)
    for i in range(X.shape[0]):
        same = np.flatnonzero((y == y[i]) & (np.arange(y.size) != i))
        want = same[np.argsort(D[i, same], kind="stable")][:3]
        got = T[i][T[i] >= 0]
        np.testing.assert_array_equal(got, want)
    assert (T[:2, 1:] == -1).all()


# -- loss and gradient ------------------------------------------------------------------
@pytest.mark.parametrize("mu", [0.5, 0.3])
def test_loss_and_gradient_match_brute_force(mu):
    X, y = _random_problem()
    Xs, ys = _sorted(X, y)
    prob, T = _problem(Xs, ys, K=2, k=3, mu=mu)
    L = np.random.default_rng(2).normal(size=(3, 5))
    prob.search(L)
    f, g = prob.loss_grad(L.ravel())
    fb, Gb = _brute_loss_grad(Xs, ys, T, L, mu)
    assert f == pytest.approx(fb, rel=1e-10)
    np.testing.assert_allclose(g.reshape(L.shape), Gb, rtol=1e-9, atol=1e-9 * np.abs(Gb).max())


def test_searched_impostors_give_the_same_loss_as_exhaustive():
    # all identities are candidates and the margin radius is enlarged: the search finds
    # every active impostor, so searched-only equals the exhaustive loss
    X, y = _random_problem(n=50)
    Xs, ys = _sorted(X, y)
    L = np.random.default_rng(3).normal(size=(3, 5))
    exhaustive, _ = _problem(Xs, ys, K=2, k=3)
    searched, _ = _problem(Xs, ys, K=2, k=3, max_impostors=50, n_random=0)
    exhaustive.search(L)
    searched.search(L)
    f1, g1 = exhaustive.loss_grad(L.ravel())
    f2, g2 = searched.loss_grad(L.ravel())
    assert f2 == pytest.approx(f1, rel=1e-12)
    np.testing.assert_allclose(g2, g1, rtol=1e-10, atol=1e-10)


def test_gradient_matches_finite_differences():
    X, y = _random_problem(n=30, d=4)
    Xs, ys = _sorted(X, y)
    prob, _ = _problem(Xs, ys, K=2, k=4)
    rng = np.random.default_rng(4)
    w = rng.normal(size=16)
    prob.search(w.reshape(4, 4))
    _, g = prob.loss_grad(w)
    for _ in range(5):
        v = rng.normal(size=16)
        eps = 1e-6
        num = (prob.loss_grad(w + eps * v)[0] - prob.loss_grad(w - eps * v)[0]) / (2 * eps)
        assert num == pytest.approx(g @ v, rel=1e-5, abs=1e-6)


def test_loss_and_gradient_match_metric_learn():
    ml = pytest.importorskip("metric_learn")
    X, y = _random_problem(n=45, d=5, n_classes=3)
    Xs, ys = _sorted(X, y)
    prob, T = _problem(Xs, ys, K=3, k=5)
    L = np.random.default_rng(5).normal(size=(5, 5))
    prob.search(L)
    f, g = prob.loss_grad(L.ravel())
    # metric-learn's own (private, n x n) loss and gradient at the same map
    est = ml.LMNN(n_neighbors=3, regularization=0.5)
    codes = np.unique(ys, return_inverse=True)[1]
    est.labels_ = np.arange(codes.max() + 1)
    tn = est._select_targets(Xs, codes)
    np.testing.assert_array_equal(np.sort(tn, axis=1), np.sort(T, axis=1))
    a, b = tn.ravel(), np.repeat(np.arange(Xs.shape[0]), 3)
    dfG = (Xs[a] - Xs[b]).T @ (Xs[a] - Xs[b])
    G_ml, f_ml, _ = est._loss_grad(Xs, L.copy(), dfG, 3, 0.5, tn, codes)
    assert f == pytest.approx(f_ml, rel=1e-10)
    np.testing.assert_allclose(g.reshape(5, 5), G_ml, rtol=1e-9, atol=1e-9 * np.abs(G_ml).max())


def test_sampled_impostors_are_unbiased():
    # no search, 4 sampled impostors per identity out of ~45: averaged over draws the
    # weighted loss and gradient equal the exhaustive ones
    X, y = _random_problem(n=60, d=4, n_classes=4)
    Xs, ys = _sorted(X, y)
    w = np.random.default_rng(6).normal(size=(2, 4)).ravel() * 0.5
    exact, _ = _problem(Xs, ys, K=2, k=2)
    exact.search(w.reshape(2, 4))
    f_exact, g_exact = exact.loss_grad(w)
    sampled, _ = _problem(Xs, ys, K=2, k=2, n_random=4, seed=0)
    fs, gs = [], []
    for _ in range(600):
        sampled.search(w.reshape(2, 4))
        f, g = sampled.loss_grad(w)
        fs.append(f)
        gs.append(g)
    fs, gs = np.array(fs), np.array(gs)
    assert abs(fs.mean() - f_exact) < 4 * fs.std() / np.sqrt(fs.size)
    z = np.abs(gs.mean(0) - g_exact) / (gs.std(0) / np.sqrt(fs.size) + 1e-12)
    assert z.max() < 5


# -- fitting ------------------------------------------------------------------------------
def _noise_dims_data(seed, n_per=25, n_classes=6, d_inf=3, d_noise=7):
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(0).normal(size=(n_classes, d_inf)) * 2
    y = np.repeat(np.arange(n_classes), n_per)
    X = np.hstack([centres[y] + 0.5 * rng.normal(size=(y.size, d_inf)), 4 * rng.normal(size=(y.size, d_noise))])
    return X, y


def test_noise_dimensions_are_down_weighted_and_knn_improves():
    from sklearn.neighbors import KNeighborsClassifier

    X, y = _noise_dims_data(0)
    Xt, yt = _noise_dims_data(1)
    m = LMNN(n_components=10, init="identity", holdout=0, max_iter=100).fit(X, y)
    col = np.linalg.norm(m.components_, axis=0)
    # the identity start weighs every input dimension 1; LMNN shrinks the noise ones
    assert col[:3].mean() > 3 * col[3:].mean()
    assert col[:3].min() > 2 * col[3:].max()
    acc_raw = KNeighborsClassifier(3).fit(X, y).score(Xt, yt)
    acc_lmnn = KNeighborsClassifier(3).fit(m.transform(X), y).score(m.transform(Xt), yt)
    acc_oracle = KNeighborsClassifier(3).fit(X[:, :3], y).score(Xt[:, :3], yt)  # noise dims dropped
    # measured: raw 0.26, LMNN 0.79, informative dimensions alone 0.88
    assert acc_lmnn > acc_raw + 0.4
    assert acc_lmnn > acc_oracle - 0.15


def test_loss_decreases():
    X, y = _noise_dims_data(0)
    m = LMNN(n_components=10, init="pca", holdout=0, max_iter=30, n_random_impostors=1000).fit(X, y)
    assert m.loss_ < 0.5 * m.initial_loss_
    assert m.n_iter_ >= 1 and m.n_loss_evaluations_ >= m.n_iter_


def test_holdout_keeps_the_best_iteration_and_groups_give_cross_pairs():
    X, y = _noise_dims_data(0, n_per=20, n_classes=12)
    groups = np.where(np.arange(y.size) % 2 == 0, "clean", "low")
    m = LMNN(n_components=4, holdout=0.3, max_iter=20, patience=5).fit(X, y, groups=groups)
    assert m.val_auroc_ >= m.init_val_auroc_
    assert m.val_history_[0] == m.init_val_auroc_
    assert m.val_auroc_ == pytest.approx(m.val_history_.max())
    assert 0 <= m.best_iter_ <= m.n_iter_
    assert "held-out AUROC" in m.describe()


def test_gradient_descent_lowers_the_loss_at_every_kept_step():
    X, y = _noise_dims_data(0)
    m = LMNN(n_components=10, init="pca", holdout=0, max_iter=40, solver="gd", learn_rate=0.05,
             n_random_impostors=1000)
    m.fit(X, y)
    assert m.loss_ < 0.8 * m.initial_loss_
    assert "gradient descent" in m.describe()
    # the step rule itself, on a convex quadratic whose minimum is known: every kept step lowers the loss
    from metricbench.learn.lmnn import _gradient_descent

    A = np.diag([1.0, 10.0])
    fun = lambda x: (0.5 * x @ A @ x, A @ x)  # noqa: E731
    seen = []
    res = _gradient_descent(fun, np.array([3.0, -2.0]), lambda x: seen.append(fun(x)[0]), 200, {}, 0.1)
    assert all(b < a for a, b in zip(seen, seen[1:]))
    assert res.fun < 1e-6 and np.allclose(res.x, 0, atol=1e-3)


def test_refit_equals_a_fit_of_all_rows_for_the_chosen_iterations():
    X, y = _noise_dims_data(0, n_per=20, n_classes=12)
    m = LMNN(n_components=4, holdout=0.3, max_iter=20, patience=5, solver="gd", refit=True).fit(X, y)
    assert m.best_iter_ >= 1 and m.refit_iter_ == m.best_iter_
    ref = LMNN(n_components=4, holdout=0, max_iter=m.best_iter_, solver="gd").fit(X, y)
    np.testing.assert_array_equal(m.components_, ref.components_)
    assert f"refit on all rows for {m.best_iter_} iterations" in m.describe()
    # without refit the kept map is the held-out choice, fitted on fewer rows: a different map
    m0 = LMNN(n_components=4, holdout=0.3, max_iter=20, patience=5, solver="gd").fit(X, y)
    assert m0.refit_iter_ == 0 and not np.array_equal(m0.components_, m.components_)


def test_float32_input_and_cosine_scoring():
    X, y = _noise_dims_data(0)
    m64 = LMNN(n_components=5, holdout=0, max_iter=5).fit(X, y)
    m32 = LMNN(n_components=5, holdout=0, max_iter=5).fit(X.astype(np.float32), y)
    assert m32.components_.shape == (5, 10) and np.isfinite(m32.components_).all()
    np.testing.assert_allclose(m32.components_, m64.components_, rtol=0.05, atol=0.05 * np.abs(m64.components_).max())
    mc = LMNN(n_components=5, holdout=0, max_iter=5, metric="cosine").fit(X, y)
    i1, i2 = np.arange(0, 20), np.arange(20, 40)
    Z = mc.transform(X)
    cos = (Z[i1] * Z[i2]).sum(1) / np.linalg.norm(Z[i1], axis=1) / np.linalg.norm(Z[i2], axis=1)
    np.testing.assert_allclose(mc.pair_distance(X, i1, i2), 1 - cos, atol=1e-10)


def test_memmap_input_gives_the_same_map(tmp_path):
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(20), 10)  # already grouped by identity: fitted in place
    X = (rng.normal(size=(20, 8))[y] + 0.3 * rng.normal(size=(200, 8))).astype(np.float32)
    np.save(tmp_path / "x.npy", X)
    Xm = np.load(tmp_path / "x.npy", mmap_mode="r")
    a = LMNN(n_components=4, holdout=0, max_iter=5).fit(Xm, y)
    b = LMNN(n_components=4, holdout=0, max_iter=5).fit(X, y)
    np.testing.assert_array_equal(a.components_, b.components_)


# -- metric interface -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def fitted():
    X, y = _noise_dims_data(0)
    return LMNN(n_components=6, holdout=0, max_iter=10).fit(X, y), X


def test_pair_scores_are_symmetric_and_match_transform(fitted):
    m, X = fitted
    rng = np.random.default_rng(0)
    i1, i2 = rng.integers(0, X.shape[0], 50), rng.integers(0, X.shape[0], 50)
    d12 = m.pair_distance(X, i1, i2)
    np.testing.assert_array_equal(d12, m.pair_distance(X, i2, i1))
    np.testing.assert_array_equal(m.pair_score(X, i1, i2), -d12)
    Z = (X - m.mean_) @ m.components_.T
    np.testing.assert_allclose(d12, ((Z[i1] - Z[i2]) ** 2).sum(1), rtol=1e-10, atol=1e-10)
    pairs = np.stack([X[i1], X[i2]], axis=1)
    np.testing.assert_allclose(m.pair_distance(pairs), d12, rtol=1e-10, atol=1e-12)


def test_save_load_round_trip(fitted, tmp_path):
    m, X = fitted
    path = m.save(tmp_path / "lmnn.npz")
    back = load_metric(path)
    assert isinstance(back, LMNN)
    np.testing.assert_array_equal(back.components_, m.components_)
    assert back.get_params() == m.get_params()
    assert back.describe() == m.describe()
    i = np.arange(20)
    np.testing.assert_array_equal(back.pair_distance(X, i, i[::-1]), m.pair_distance(X, i, i[::-1]))
    with pytest.raises(InputError, match="fitted on 10-D"):
        LMNN.load(path, n_features=12)


def test_same_seed_same_map_other_seed_other_map():
    X, y = _noise_dims_data(0, n_per=15, n_classes=30)
    kw = dict(n_components=4, max_iter=8, n_random_impostors=5, max_impostors=4, n_candidate_classes=3)
    a = LMNN(random_state=3, **kw).fit(X, y)
    b = LMNN(random_state=3, **kw).fit(X, y)
    c = LMNN(random_state=4, **kw).fit(X, y)
    np.testing.assert_array_equal(a.components_, b.components_)
    assert not np.array_equal(a.components_, c.components_)
    assert "seed 3" in a.describe()


def test_registry_builds_lmnn():
    from metricbench.registry import get_metric

    m = get_metric("lmnn", n_components=8, metric="cosine")
    assert isinstance(m, LMNN) and m.name == "lmnn" and m.base_metric == "cosine"


# -- input errors -------------------------------------------------------------------------------
def test_input_errors():
    X, y = _noise_dims_data(0)
    bad = X.copy()
    bad[7, 2] = np.nan
    with pytest.raises(InputError, match="row 7"):
        LMNN(holdout=0).fit(bad, y)
    with pytest.raises(InputError, match="two identities"):
        LMNN(holdout=0).fit(X, np.zeros(len(y)))
    with pytest.raises(InputError, match="2 or more rows"):
        LMNN(holdout=0).fit(X[:6], np.arange(6))
    with pytest.raises(InputError, match="init.* must be"):
        LMNN(init="lda").fit(X, y)
    with pytest.raises(InputError, match=r"shape \(k, 10\)"):
        LMNN(init=np.eye(3)).fit(X, y)
    with pytest.raises(InputError, match="max_iter.* must be"):
        LMNN(max_iter=0).fit(X, y)
    with pytest.raises(InputError, match="metric.* must be"):
        LMNN(metric="cityblock").fit(X, y)
    with pytest.raises(InputError, match="solver.* must be"):
        LMNN(solver="sgd").fit(X, y)
    with pytest.raises(InputError, match="learn_rate.* must be"):
        LMNN(solver="gd", learn_rate=0).fit(X, y)


# -- real data ------------------------------------------------------------------------------------
def test_lfw_loss_and_gradient_match_metric_learn(lfw_dir):
    """On real embeddings (LFW, dlib 128-D, clean + xq40 rows) the objective equals metric-learn's."""
    import pandas as pd

    ml = pytest.importorskip("metric_learn")
    ref = lfw_dir / "reference"
    X = np.vstack([np.load(ref / "dev_clean_embeddings.npy"), np.load(ref / "dev_xq40_embeddings.npy")])
    y = np.concatenate([pd.read_csv(ref / f"dev_{v}_labels.csv")["class"].to_numpy() for v in ("clean", "xq40")])
    ids, cnt = np.unique(y, return_counts=True)
    rows = np.flatnonzero(np.isin(y, ids[cnt >= 4][:40]))
    Xs, ys = _sorted(X[rows].astype(np.float64), y[rows])
    prob, T = _problem(Xs, ys, K=3, k=16)
    # PCA-16 start scaled up, so that the loss has both active and inactive triplets
    L = 3.0 * np.linalg.svd(Xs - Xs.mean(0), full_matrices=False)[2][:16]
    prob.search(L)
    f, g = prob.loss_grad(L.ravel())
    est = ml.LMNN(n_neighbors=3, regularization=0.5)
    codes = np.unique(ys, return_inverse=True)[1]
    est.labels_ = np.arange(codes.max() + 1)
    tn = est._select_targets(Xs, codes)
    a, b = tn.ravel(), np.repeat(np.arange(Xs.shape[0]), 3)
    dfG = (Xs[a] - Xs[b]).T @ (Xs[a] - Xs[b])
    G_ml, f_ml, active = est._loss_grad(Xs, L.copy(), dfG, 3, 0.5, tn, codes)
    assert 0 < active < 3 * Xs.shape[0] * (Xs.shape[0] - 4)
    assert prob.last["n_active"] == active
    assert f == pytest.approx(f_ml, rel=1e-9)
    np.testing.assert_allclose(g.reshape(L.shape), G_ml, rtol=1e-8, atol=1e-8 * np.abs(G_ml).max())
