"""metric-learn 0.7.0 on today's scikit-learn: metricbench's fixed subclasses, and the explicit opt-in patch.

Everything here runs without patching metric-learn (``tests/test_mlearn.py::test_metric_learn_untouched``
checks that fitting every ``ml-*`` leaves metric-learn as it was). The opt-in
:func:`~metricbench.learn.compat.patch_metric_learn` is checked in its own pytest process
(:func:`test_opt_in_patch`), so that its process-wide changes cannot leak into this session.
"""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
import types
import warnings
from pathlib import Path

import numpy as np
import pytest

metric_learn = pytest.importorskip("metric_learn")

from sklearn.datasets import load_iris  # noqa: E402
from sklearn.utils import validation  # noqa: E402

from metricbench.learn import compat  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    return X, y


def _needs_fit_fixes() -> bool:
    return "force_all_finite" not in inspect.signature(validation.check_array).parameters


def test_wrapper_renames_force_all_finite():
    seen = {}

    def new_api(X, *, ensure_all_finite=True):
        seen["ensure_all_finite"] = ensure_all_finite
        return X

    w = compat._translate_force_all_finite(new_api)
    assert w("x", force_all_finite="allow-nan") == "x"
    assert seen["ensure_all_finite"] == "allow-nan"
    w("x")
    assert seen["ensure_all_finite"] is True


def test_patch_attribute_is_a_no_op_for_an_old_api():
    def old_api(X, *, force_all_finite=True):
        return X

    def new_api(X, *, ensure_all_finite=True):
        return X

    mod = types.ModuleType("fake_metric_learn_module")
    mod.check_array, mod.check_X_y = old_api, new_api
    f = compat._translate_force_all_finite
    assert compat.patch_attribute(mod, "check_array", "force_all_finite", f) is False
    assert mod.check_array is old_api
    assert compat.patch_attribute(mod, "check_X_y", "force_all_finite", f) is True
    wrapped = mod.check_X_y
    assert wrapped is not new_api and wrapped.__wrapped__ is new_api
    # applying again leaves the wrapper as it is
    assert compat.patch_attribute(mod, "check_X_y", "force_all_finite", f) is True
    assert mod.check_X_y is wrapped
    assert compat.patch_attribute(mod, "missing", "force_all_finite", f) is False


def test_graphical_lasso_wrapper_matches_the_private_solver():
    from sklearn.covariance import graphical_lasso
    from sklearn.covariance._graph_lasso import _graphical_lasso

    rng = np.random.default_rng(0)
    A = rng.normal(size=(200, 5))
    emp = np.cov(A.T)
    init = emp + 0.5 * np.eye(5)
    gl = compat._graphical_lasso_with_cov_init(graphical_lasso)
    cov, prec = gl(emp, alpha=0.05, cov_init=init)
    ref_cov, ref_prec, _, _ = _graphical_lasso(emp, 0.05, cov_init=init)
    np.testing.assert_allclose(prec, ref_prec)
    np.testing.assert_allclose(cov, ref_cov)
    # without cov_init it is scikit-learn's public function
    _, p2 = gl(emp, alpha=0.05)
    _, r2p = graphical_lasso(emp, alpha=0.05)
    np.testing.assert_allclose(p2, r2p)


@pytest.mark.skipif(not _needs_fit_fixes(), reason="this scikit-learn still accepts force_all_finite")
def test_fixed_class_overrides_only_what_reaches_a_broken_call():
    nca = compat.fixed_class(metric_learn.NCA)
    assert nca is compat.fixed_class(metric_learn.NCA)  # cached
    assert issubclass(nca, metric_learn.NCA) and nca.__name__ == "NCA"
    own = {k for k, v in vars(nca).items() if isinstance(v, types.FunctionType)}
    # the methods of metric-learn's base_metric that call check_input, nothing else
    assert {"_prepare_inputs", "transform", "pair_distance"} <= own and "pair_score" not in own
    assert "fit" not in own and "__init__" not in own
    for name in own:
        # metric-learn's own function underneath (scikit-learn's set_output wraps a subclass's transform)
        assert inspect.unwrap(getattr(nca, name)) is getattr(metric_learn.NCA, name)
    sdml = compat.fixed_class(metric_learn.SDML_Supervised)
    assert {"fit", "_fit"} <= set(vars(sdml))
    # a fixed instance is still a metric-learn estimator, and its own parameters
    assert isinstance(sdml(), metric_learn.SDML_Supervised)
    assert sdml(balance_param=0.1).get_params() == metric_learn.SDML_Supervised(balance_param=0.1).get_params()


def test_fixed_class_keeps_metric_learns_input_checks(iris):
    """The translated keyword keeps its meaning: NaN is still rejected by metric-learn's check."""
    X, y = iris
    Xn = X.copy()
    Xn[3, 1] = np.nan
    with pytest.raises(ValueError, match="(?i)nan"):
        compat.fixed_class(metric_learn.NCA)(max_iter=5).fit(Xn, y)
    with pytest.raises(ValueError, match="2D array of formed points"):
        compat.fixed_class(metric_learn.NCA)(max_iter=5).fit(X[:, 0], y)


@pytest.mark.parametrize(
    "make",
    [
        lambda ml: ml.Covariance(),
        lambda ml: ml.LFDA(k=2),
        lambda ml: ml.NCA(max_iter=10, random_state=0),
        lambda ml: ml.MLKR(max_iter=10, random_state=0),
        lambda ml: ml.LMNN(n_neighbors=3, max_iter=20, random_state=0),
        lambda ml: ml.ITML_Supervised(max_iter=20, random_state=0),
        lambda ml: ml.LSML_Supervised(max_iter=20, random_state=0),
        lambda ml: ml.SDML_Supervised(prior="covariance", balance_param=1e-5, random_state=0),
        lambda ml: ml.RCA_Supervised(n_chunks=30, random_state=0),
        lambda ml: ml.MMC_Supervised(max_iter=10, random_state=0),
        lambda ml: ml.SCML_Supervised(max_iter=200, output_iter=100, n_basis=20, random_state=0),
    ],
    ids=["Covariance", "LFDA", "NCA", "MLKR", "LMNN", "ITML", "LSML", "SDML", "RCA", "MMC", "SCML"],
)
def test_every_fixed_class_fits_on_todays_scikit_learn(iris, make):
    X, y = iris
    proto = make(metric_learn)
    est = compat.fixed_class(type(proto))(**proto.get_params())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X) if isinstance(est, metric_learn.Covariance) else est.fit(X, y)
    L = est.components_
    assert L.shape[1] == 4 and np.all(np.isfinite(L))
    # its own pair_distance agrees with the Mahalanobis form
    pairs = np.stack([X[:10], X[10:20]], axis=1)
    diff = pairs[:, 0] - pairs[:, 1]
    M = est.get_mahalanobis_matrix()
    np.testing.assert_allclose(est.pair_distance(pairs), np.sqrt(np.einsum("ij,jk,ik->i", diff, M, diff)),
                               rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(est.transform(X), X @ L.T)


def test_fixed_covariance_closed_form(iris):
    X, _ = iris
    M = compat.fixed_class(metric_learn.Covariance)().fit(X).get_mahalanobis_matrix()
    np.testing.assert_allclose(M, np.linalg.inv(np.cov(X.T)), rtol=1e-6)


def test_fixed_class_pickles(iris):
    import pickle

    X, y = iris
    est = compat.fixed_class(metric_learn.NCA)(max_iter=5, random_state=0).fit(X, y)
    back = pickle.loads(pickle.dumps(est))
    np.testing.assert_allclose(back.transform(X), est.transform(X))


@pytest.mark.slow
def test_opt_in_patch():
    """``patch_metric_learn`` (applied by the pytest plugin in scripts/): tests/metric_learn_optin_checks.py.

    Run in its own pytest process, since the patch changes metric-learn for the whole process.
    """
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "scripts")])}
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=", "-p",
         "metric_learn_compat_plugin", "tests/metric_learn_optin_checks.py"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900,
    )
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    assert " passed" in out.stdout and "failed" not in out.stdout
