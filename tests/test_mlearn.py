"""The ``ml-*`` metrics: metric-learn's own results, budgets, persistence, metric-learn left untouched."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import warnings

import numpy as np
import pytest

metric_learn = pytest.importorskip("metric_learn")

from sklearn.datasets import load_iris  # noqa: E402
from sklearn.decomposition import PCA  # noqa: E402

from metricbench.errors import InputError  # noqa: E402
from metricbench.learn.compat import fixed_class  # noqa: E402
from metricbench.learn.mlearn import ALGORITHMS, BudgetWarning, subsample_by_identity  # noqa: E402
from metricbench.registry import LEARNED, get_metric  # noqa: E402

#: small settings so every algorithm fits iris in well under a second
FAST = {
    "lmnn": {"max_iter": 20},
    "nca": {"max_iter": 20},
    "lfda": {"k": 2},
    "mlkr": {"max_iter": 20},
    "itml": {"max_iter": 20},
    "sdml": {},
    "lsml": {"max_iter": 20},
    "rca": {},
    "mmc": {"max_iter": 10},
    "scml": {"max_iter": 200, "output_iter": 100, "n_basis": 20},
    "covariance": {},
}


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    return X, y


@pytest.fixture(scope="module")
def pairs():
    rng = np.random.default_rng(1)
    return rng.integers(0, 150, 60), rng.integers(0, 150, 60)


def _quiet_fit(m, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return m.fit(X, y)


def test_registry_has_every_algorithm():
    for name, cls in ALGORITHMS.items():
        target, summary, _ = LEARNED[f"ml-{name}"]
        assert target == f"metricbench.learn.mlearn:{cls.__name__}"
        assert summary and "\n" not in summary
    assert set(ALGORITHMS) == {"lmnn", "nca", "lfda", "mlkr", "itml", "sdml", "lsml", "rca", "mmc", "scml",
                               "covariance"}


@pytest.mark.parametrize("name", list(ALGORITHMS))
def test_pair_distance_equals_metric_learn(name, iris, pairs):
    """Same data, same parameters and seed: metricbench's pair_distance is metric-learn's."""
    X, y = iris
    i1, i2 = pairs
    m = _quiet_fit(get_metric(f"ml-{name}", max_samples=0, max_dim=0, **FAST[name]), X, y)
    cls = fixed_class(getattr(metric_learn, m.estimator))
    kw = dict(m.estimator_params_)
    ref = cls(**kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref.fit(X) if name == "covariance" else ref.fit(X, y)
    expected = ref.pair_distance(np.stack([X[i1], X[i2]], axis=1))
    got = m.pair_distance(X, i1, i2)
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-9)
    # (n, 2, d) form and symmetry
    np.testing.assert_allclose(m.pair_distance(np.stack([X[i2], X[i1]], axis=1)), got, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(m.pair_score(X, i1, i2), -got)
    assert "all 150 rows" in m.describe()


def test_overridden_defaults_and_passthrough(iris):
    X, y = iris
    m = _quiet_fit(get_metric("ml-lmnn", max_iter=7, n_neighbors=2), X, y)
    assert m.estimator_params_["max_iter"] == 7 and m.estimator_params_["n_neighbors"] == 2
    assert m.estimator_params_["random_state"] == 0
    assert m.get_params()["max_iter"] == 7


def test_unknown_parameter_is_one_clear_line(iris):
    X, y = iris
    with pytest.raises(InputError, match=r"unknown parameter 'n_neighbors' for ml-nca; valid: .*max_samples"):
        get_metric("ml-nca", n_neighbors=3)  # the name table knows metric-learn's parameters: fails before fit
    with pytest.raises(InputError, match=r"'max_dim' of ml-nca must be an int in the range \[0, inf\)"):
        get_metric("ml-nca", max_dim=-1).fit(X, y)


def test_budget_subsamples_and_reduces(pairs):
    rng = np.random.default_rng(0)
    n, d, c = 900, 40, 60
    centres = rng.normal(size=(c, d))
    y = np.repeat(np.arange(c), n // c)
    X = centres[y] + 0.5 * rng.normal(size=(n, d))
    m = get_metric("ml-nca", max_samples=300, max_dim=10, max_iter=15)
    with pytest.warns(BudgetWarning, match=r"ml-nca: metric-learn NCA fitted on 300 of 900 rows .*PCA 40->10"):
        m.fit(X, y)
    assert m.components_.shape == (10, d)
    assert m.n_rows_used_ == 300 and m.n_dims_used_ == 10
    assert "300 of 900 rows" in m.describe() and "seed 0" in m.describe() and "PCA 40->10" in m.describe()
    # equals the same pipeline done by hand: same rows, scikit-learn PCA, metric-learn NCA
    rows = subsample_by_identity(y, 300, seed=0, min_per_class=2)
    pca = PCA(n_components=10, svd_solver="full", random_state=0).fit(X[rows])
    _, codes = np.unique(y[rows], return_inverse=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = fixed_class(metric_learn.NCA)(max_iter=15, random_state=0).fit(pca.transform(X[rows]), codes)
    i1, i2 = pairs
    expected = ref.pair_distance(np.stack([pca.transform(X[i1]), pca.transform(X[i2])], axis=1))
    np.testing.assert_allclose(m.pair_distance(X, i1, i2), expected, rtol=1e-6, atol=1e-9)


def test_constraint_budget(iris):
    X, y = iris
    m = _quiet_fit(get_metric("ml-mmc", max_constraints=40, max_iter=5), X, y)
    assert m.estimator_params_["n_constraints"] == 40
    assert "n_constraints 40 (metric-learn's default 20*classes^2 = 180)" in m.describe()


def test_subsample_by_identity():
    rng = np.random.default_rng(0)
    y = np.concatenate([np.repeat(np.arange(200), rng.integers(1, 12, 200))])
    counts = np.bincount(y)
    rows = subsample_by_identity(y, 500, seed=3, min_per_class=4)
    assert rows.size <= 500 and rows.size > 450
    assert np.array_equal(rows, np.unique(rows))
    kept = np.bincount(y[rows], minlength=200)
    assert np.all((kept == 0) | (kept >= 4))
    assert np.all(counts[kept > 0] >= 4)
    assert np.array_equal(rows, subsample_by_identity(y, 500, seed=3, min_per_class=4))
    assert not np.array_equal(rows, subsample_by_identity(y, 500, seed=4, min_per_class=4))
    # under budget: every row of the identities with enough images
    all_rows = subsample_by_identity(y, 0, min_per_class=4)
    np.testing.assert_array_equal(all_rows, np.flatnonzero(counts[y] >= 4))
    with pytest.raises(InputError, match="no identity has 20 or more images"):
        subsample_by_identity(y, 100, min_per_class=20)


def test_save_load_round_trip(tmp_path, iris, pairs):
    X, y = iris
    i1, i2 = pairs
    m = _quiet_fit(get_metric("ml-nca", max_dim=2, max_iter=10), X, y)
    path = m.save(tmp_path / "nca.npz")
    back = type(m).load(path)
    np.testing.assert_allclose(back.pair_distance(X, i1, i2), m.pair_distance(X, i1, i2))
    assert back.get_params() == m.get_params()
    assert back.describe() == m.describe()


def test_covariance_needs_no_labels(iris):
    X, _ = iris
    m = get_metric("ml-covariance").fit(X)
    np.testing.assert_allclose(m.get_mahalanobis_matrix(), np.linalg.inv(np.cov(X.T)), rtol=1e-6)


def test_groups_are_accepted_and_unused(iris, pairs):
    X, y = iris
    i1, i2 = pairs
    g = np.where(np.arange(150) % 2, "clean", "xq40")
    a = _quiet_fit(get_metric("ml-lfda", k=2), X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        b = get_metric("ml-lfda", k=2).fit(X, y, groups=g)
    np.testing.assert_allclose(a.pair_distance(X, i1, i2), b.pair_distance(X, i1, i2))
    with pytest.raises(InputError, match="takes no extra arguments"):
        get_metric("ml-lfda").fit(X, y, weights=np.ones(150))


def test_empty_map_is_a_clear_error(iris):
    """A strong L1 penalty makes SCML keep no basis: an empty map must not pass as a metric."""
    X, y = iris
    m = get_metric("ml-scml", beta=1e6, **FAST["scml"])
    with pytest.raises(InputError, match=r"learned an empty map .* smaller beta"):
        _quiet_fit(m, X, y)
    # the same data and settings with metric-learn's default penalty keep bases
    ok = _quiet_fit(get_metric("ml-scml", **FAST["scml"]), X, y)
    assert ok.components_.shape[0] > 0


#: run in a fresh interpreter, so that nothing an earlier test did can hide a change
_UNTOUCHED = textwrap.dedent(
    """
    import sys, types, warnings
    import numpy as np
    import metric_learn, sklearn, sklearn.base, sklearn.covariance, sklearn.utils, sklearn.utils.validation
    from sklearn.datasets import load_iris

    WATCHED = ("sklearn.base", "sklearn.covariance", "sklearn.covariance._graph_lasso", "sklearn.utils",
               "sklearn.utils.validation")

    def snapshot():
        out = {}
        for name, mod in sorted(sys.modules.items()):
            if mod is None or not (name == "metric_learn" or name.startswith("metric_learn.") or name in WATCHED):
                continue
            for k, v in vars(mod).items():
                if k == "__warningregistry__":  # Python's warnings module records issued warnings here
                    continue
                out[(name, k)] = v
                if isinstance(v, type) and v.__module__.startswith(("metric_learn", "sklearn")):
                    out[(name, k, "__bases__")] = v.__bases__
                    out[(name, k, "__mro__")] = v.__mro__
                    for a, b in vars(v).items():
                        out[(name, k, a)] = b
        return out

    before = snapshot()
    import metricbench
    from metricbench.registry import get_metric
    from metricbench.learn.mlearn import ALGORITHMS

    FAST = %r
    X, y = load_iris(return_X_y=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in ALGORITHMS:
            m = get_metric("ml-" + name, **FAST[name]).fit(X, y)
            m.pair_distance(X, np.arange(10), np.arange(10, 20))
            m.transform(X)
    after = snapshot()
    changed = sorted(str(k) for k in set(before) | set(after)
                     if k not in before or k not in after or before[k] is not after[k])
    print("CHANGED", changed)
    print("FITTED", len(ALGORITHMS))
    """
)


def test_metric_learn_untouched():
    """Importing metricbench and fitting every ml-* changes no attribute of metric-learn or scikit-learn.

    Compared by identity, in a fresh interpreter: every attribute of every ``metric_learn`` module, every
    class's ``__dict__``, ``__bases__`` and ``__mro__``, and the scikit-learn modules metric-learn calls.
    """
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", _UNTOUCHED % (FAST,)], capture_output=True, text=True,
                         cwd=root, env={**__import__("os").environ, "PYTHONPATH": str(root)}, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert f"FITTED {len(ALGORITHMS)}" in out.stdout
    assert "CHANGED []" in out.stdout, out.stdout


@pytest.mark.parametrize("name", list(ALGORITHMS))
def test_fixed_class_is_metric_learn_own_class_underneath(name):
    """The estimator fitted is metric-learn's class (or a subclass owned by metricbench), same parameters."""
    cls = getattr(metric_learn, ALGORITHMS[name].estimator)
    fixed = fixed_class(cls)
    assert issubclass(fixed, cls) and fixed.__name__ == cls.__name__
    assert fixed().get_params() == cls().get_params()
