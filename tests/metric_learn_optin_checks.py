"""Checks of the explicit opt-in :func:`metricbench.learn.compat.patch_metric_learn`.

Not collected by the main test session (the name does not start with ``test_``): patching
metric-learn for the whole process would hide whether metricbench itself leaves it
untouched. ``tests/test_compat.py::test_opt_in_patch`` runs this file in its own pytest
process, with the plugin ``scripts/metric_learn_compat_plugin.py`` that applies the patch.
"""

from __future__ import annotations

import inspect
import warnings

import numpy as np
import pytest

metric_learn = pytest.importorskip("metric_learn")

from sklearn.datasets import load_iris  # noqa: E402
from sklearn.utils import validation  # noqa: E402

from metricbench.learn import compat  # noqa: E402


@pytest.fixture(scope="module")
def patched(pytestconfig):
    # applied by the plugin before collection; calling again returns the same names
    return compat.patch_metric_learn()


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    return X, y


def _accepts_force_all_finite() -> bool:
    return "force_all_finite" in inspect.signature(validation.check_array).parameters


def test_plugin_applied_it(pytestconfig, patched):
    assert pytestconfig._metricbench_compat == patched


def test_idempotent(patched):
    again = compat.patch_metric_learn()
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
    from sklearn.base import BaseEstimator
    from sklearn.covariance import graphical_lasso

    assert ("metric_learn.sdml.graphical_lasso" in patched) == (
        "cov_init" not in inspect.signature(graphical_lasso).parameters
    )
    new_contract = hasattr(BaseEstimator, "__sklearn_tags__")
    class_level = [p for p in patched if p.endswith(("__bases__", "__init__", ".transform"))]
    assert bool(class_level) == new_contract
    if new_contract:
        assert "metric_learn.base_metric.MahalanobisMixin.transform" in patched
        assert "metric_learn.nca.NCA.__bases__" in patched
    assert compat.needs_compat() == bool(patched)
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


def _new_sklearn_tags() -> bool:
    from sklearn.base import BaseEstimator

    return hasattr(BaseEstimator, "__sklearn_tags__")


new_contract_only = pytest.mark.skipif(
    not _new_sklearn_tags(), reason="scikit-learn < 1.6 keeps the estimator contract metric-learn was written for"
)


@new_contract_only
def test_estimator_types_survive_new_tags(patched):
    """is_classifier / transformer tags as on scikit-learn < 1.6 (mixins before BaseEstimator)."""
    from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin, is_classifier
    from sklearn.utils import get_tags

    for cls in (metric_learn.ITML, metric_learn.MMC, metric_learn.SDML, metric_learn.LSML, metric_learn.SCML):
        assert is_classifier(cls())
        mro = cls.__mro__
        assert mro.index(ClassifierMixin) < mro.index(BaseEstimator)
    for cls in (metric_learn.NCA, metric_learn.LMNN, metric_learn.ITML_Supervised, metric_learn.Covariance):
        mro = cls.__mro__
        assert mro.index(TransformerMixin) < mro.index(BaseEstimator)
        assert get_tags(cls()).transformer_tags is not None
    # metric-learn's own methods still win over the mixins'
    assert metric_learn.ITML.score is metric_learn.base_metric._PairsClassifierMixin.score


@new_contract_only
def test_transform_rejects_wrong_width_with_sklearn_message(patched, iris):
    X, y = iris
    nca = metric_learn.NCA(max_iter=5, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="X has 2 features, but NCA is expecting 4 features as input"):
        nca.transform(X[:, :2])
    np.testing.assert_allclose(nca.transform(X.tolist()), X @ nca.components_.T)


@new_contract_only
@pytest.mark.filterwarnings("ignore:k >= N:RuntimeWarning")
def test_init_only_stores_and_fit_validates(patched, iris):
    X, y = iris
    odd = np.array([1.0, 4.0])
    lmnn = metric_learn.LMNN(k=odd, n_neighbors=odd)  # no error at construction (scikit-learn's rule)
    assert lmnn.get_params()["n_neighbors"] is odd
    with pytest.raises(ValueError, match="truth value of an array"):
        lmnn.fit(X, y)
    # inherited __init__ too (ITML's is _BaseITML's)
    itml = metric_learn.ITML(convergence_threshold=odd)
    with pytest.raises(ValueError, match="truth value of an array"):
        itml.fit(np.stack([X[:10], X[10:20]], axis=1), np.r_[np.ones(5), -np.ones(5)])
    lfda = metric_learn.LFDA(embedding_type="nonsense")
    with pytest.raises(ValueError, match="Invalid embedding_type: 'nonsense'"):
        lfda.fit(X, y)
    # fixed by set_params before fit: fits normally
    lfda.set_params(embedding_type="plain")
    assert lfda.fit(X, y).components_.shape[1] == 4
    # valid parameters go through metric-learn's __init__ unchanged (deprecated alias included)
    with pytest.warns(FutureWarning, match="renamed"):
        assert metric_learn.LMNN(k=2).n_neighbors == 2


@pytest.mark.slow
@pytest.mark.parametrize("make", [lambda: metric_learn.NCA(), lambda: metric_learn.LFDA(),
                                  lambda: metric_learn.Covariance()], ids=["NCA", "LFDA", "Covariance"])
def test_check_estimator_passes(patched, make):
    """scikit-learn's own estimator checks (the ones metric-learn's suite runs)."""
    from sklearn.utils.estimator_checks import check_estimator

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_estimator(make())


@pytest.mark.parametrize("name", ["NCA", "LFDA", "ITML_Supervised", "SDML_Supervised", "LSML_Supervised",
                                  "MMC_Supervised", "RCA_Supervised", "Covariance"])
def test_patched_and_fixed_class_learn_the_same(patched, iris, name):
    """The opt-in patch and metricbench's fixed subclass run the same metric-learn code: same map."""
    X, y = iris
    kw = {"random_state": 0} if "random_state" in inspect.signature(getattr(metric_learn, name)).parameters else {}
    if name == "SDML_Supervised":
        kw.update(prior="identity", balance_param=1e-5)
    if name == "RCA_Supervised":
        kw.update(n_chunks=30)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = getattr(metric_learn, name)(**kw)
        b = compat.fixed_class(getattr(metric_learn, name))(**kw)
        a.fit(X) if name == "Covariance" else a.fit(X, y)
        b.fit(X) if name == "Covariance" else b.fit(X, y)
    np.testing.assert_allclose(a.components_, b.components_, rtol=1e-10, atol=1e-12)
