"""The metric-learn compatibility layer: precise, idempotent, behaviour-preserving."""

from __future__ import annotations

import inspect
import types

import numpy as np
import pytest

metric_learn = pytest.importorskip("metric_learn")

from sklearn.datasets import load_iris  # noqa: E402
from sklearn.utils import validation  # noqa: E402

from metricbench.learn import compat  # noqa: E402


@pytest.fixture(scope="module")
def patched():
    return compat.ensure_metric_learn_compat()


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    return X, y


def _accepts_force_all_finite() -> bool:
    return "force_all_finite" in inspect.signature(validation.check_array).parameters


def test_idempotent(patched):
    again = compat.ensure_metric_learn_compat()
    assert again == patched
    # never wrapped twice: one wrapper around scikit-learn's own function
    f = metric_learn._util.check_X_y
    assert getattr(f, "__wrapped__", validation.check_X_y) is validation.check_X_y


def test_patches_exactly_what_this_scikit_learn_needs(patched):
    if _accepts_force_all_finite():
        assert not any(p.endswith(("check_array", "check_X_y")) for p in patched)
    else:
        assert {"metric_learn._util.check_array", "metric_learn._util.check_X_y",
                "metric_learn.itml.check_array", "metric_learn.scml.check_array"} <= set(patched)
    # scikit-learn itself is untouched
    assert not getattr(validation.check_array, compat._MARK, False)
    assert not getattr(validation.check_X_y, compat._MARK, False)


def test_translated_keyword_keeps_its_meaning(patched):
    """force_all_finite=True still rejects NaN; False still lets it through."""
    from metric_learn._util import check_input

    X = np.array([[0.0, 1.0], [np.nan, 2.0], [3.0, 4.0]])
    with pytest.raises(ValueError, match="(?i)nan"):
        check_input(X, type_of_inputs="classic", force_all_finite=True)
    out = check_input(X, type_of_inputs="classic", force_all_finite=False)
    assert np.isnan(out[1, 0])


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


def test_graphical_lasso_cov_init_matches_the_private_solver(patched):
    from sklearn.covariance import graphical_lasso
    from sklearn.covariance._graph_lasso import _graphical_lasso

    rng = np.random.default_rng(0)
    A = rng.normal(size=(200, 5))
    emp = np.cov(A.T)
    init = emp + 0.5 * np.eye(5)
    gl = metric_learn.sdml.graphical_lasso
    cov, prec = gl(emp, alpha=0.05, cov_init=init)
    ref_cov, ref_prec, _, _ = _graphical_lasso(emp, 0.05, cov_init=init)
    np.testing.assert_allclose(prec, ref_prec)
    np.testing.assert_allclose(cov, ref_cov)
    # without cov_init it is scikit-learn's public function
    c2, p2 = gl(emp, alpha=0.05)
    r2c, r2p = graphical_lasso(emp, alpha=0.05)
    np.testing.assert_allclose(p2, r2p)


@pytest.mark.parametrize(
    "make",
    [
        lambda: metric_learn.Covariance(),
        lambda: metric_learn.LFDA(k=2),
        lambda: metric_learn.NCA(max_iter=10, random_state=0),
        lambda: metric_learn.MLKR(max_iter=10, random_state=0),
        lambda: metric_learn.LMNN(n_neighbors=3, max_iter=20, random_state=0),
        lambda: metric_learn.ITML_Supervised(max_iter=20, random_state=0),
        lambda: metric_learn.LSML_Supervised(max_iter=20, random_state=0),
        lambda: metric_learn.SDML_Supervised(prior="covariance", balance_param=1e-5, random_state=0),
        lambda: metric_learn.RCA_Supervised(n_chunks=30, random_state=0),
        lambda: metric_learn.MMC_Supervised(max_iter=10, random_state=0),
        lambda: metric_learn.SCML_Supervised(max_iter=200, output_iter=100, n_basis=20, random_state=0),
    ],
    ids=["Covariance", "LFDA", "NCA", "MLKR", "LMNN", "ITML", "LSML", "SDML", "RCA", "MMC", "SCML"],
)
def test_every_estimator_fits_on_todays_scikit_learn(patched, iris, make):
    import warnings

    X, y = iris
    est = make()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X, y) if not isinstance(est, metric_learn.Covariance) else est.fit(X)
    L = est.components_
    assert L.shape[1] == 4 and np.all(np.isfinite(L))
    # its own pair_distance agrees with the Mahalanobis form
    pairs = np.stack([X[:10], X[10:20]], axis=1)
    diff = pairs[:, 0] - pairs[:, 1]
    M = est.get_mahalanobis_matrix()
    np.testing.assert_allclose(est.pair_distance(pairs), np.sqrt(np.einsum("ij,jk,ik->i", diff, M, diff)),
                               rtol=1e-6, atol=1e-8)


def test_covariance_closed_form(patched, iris):
    X, _ = iris
    M = metric_learn.Covariance().fit(X).get_mahalanobis_matrix()
    np.testing.assert_allclose(M, np.linalg.inv(np.cov(X.T)), rtol=1e-6)
