"""Every parameter of every learned metric has its domain checked (issue 10, fault 1's kind).

The domains are the classes' ``_parameter_constraints`` (scikit-learn's form). For every
parameter of every registered learned metric (and of the score normalisations), values
outside its domain, derived from the table itself so that no parameter is left out, raise
:class:`~metricbench.errors.ParameterError` with one line naming the parameter, the domain
and the value: at ``fit`` (scikit-learn's convention, before the data are looked at) and
when :func:`~metricbench.registry.get_metric` builds the metric. ``metricbench score -p
name=bad`` exits 2 with that line before the data are read. Limit cases at the edges of
the domains fit and give finite distances.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from sklearn.utils._param_validation import make_constraint

from metricbench.errors import ParameterError
from metricbench.registry import LEARNED, get_metric, metric_info
from tests.conftest import error_line

#: values tried against every parameter; those its domain refuses must raise
CANDIDATES = [-1, 0, 1, 2, -0.5, 0.5, 1.5, math.nan, math.inf, -math.inf, "bogus", True, [1.0, 2.0]]


def _classes():
    out = [(name, metric_info(name).load_class()) for name in sorted(LEARNED)]
    from metricbench.learn.norm import Normalized

    return out + [("s-norm/as-norm", Normalized)]


def _refused(constraints, value) -> bool:
    return not any(make_constraint(c).is_satisfied_by(value) for c in constraints)


def _bad_cases():
    import inspect

    cases = []
    for name, cls in _classes():
        takes = set(inspect.signature(cls.__init__).parameters)
        for param, constraints in cls._parameter_constraints.items():
            if param not in takes:  # the ml-* base lists max_constraints for the learners that have it
                continue
            for v in CANDIDATES:
                if _refused(constraints, v):
                    cases.append(pytest.param(name, cls, param, v, id=f"{name}-{param}-{v!r}"))
    return cases


def test_every_constructor_parameter_has_a_domain():
    """No parameter is left unchecked: the table names every constructor parameter."""
    import inspect

    for name, cls in _classes():
        params = {p for p in inspect.signature(cls.__init__).parameters if p not in ("self", "params")}
        missing = params - set(cls._parameter_constraints)
        assert not missing, f"{name}: no domain for {sorted(missing)}"


def _data():
    r = np.random.default_rng(0)
    y = np.repeat(np.arange(6), 5)
    return r.standard_normal((6, 5))[y] * 2 + r.standard_normal((30, 5)), y


BAD = _bad_cases()


@pytest.mark.parametrize("name, cls, param, value", BAD)
def test_a_value_outside_the_domain_raises_at_fit(name, cls, param, value):
    X, y = _data()
    est = cls(**{param: value})
    with pytest.raises(ParameterError) as e:
        est.fit(X, y)
    msg = str(e.value)
    assert "\n" not in msg and f"'{param}'" in msg and "must be" in msg, msg


def test_the_bad_value_table_is_large():
    assert len({(c.values[0], c.values[2]) for c in BAD}) > 150  # (metric, parameter) pairs with a case


#: the classic faults, by hand: (metric, parameter, value, words of the domain in the message)
TABLE = [
    ("cosine-whitened", "shrinkage", 1.5, "[0.0, 1.0]"),
    ("cosine-whitened", "n_components", 0, "[1, inf)"),
    ("cosine-whitened", "n_components", 1.5, "(0.0, 1.0]"),
    ("zca-cosine", "eps", -1e-3, "[0.0, inf)"),
    ("lda-cosine", "n_components", -2, "[1, inf)"),
    ("within-mahalanobis", "estimator", "ledoitwolf", "ledoit-wolf"),
    ("plda", "n_iter", -1, "[0, inf)"),
    ("kissme", "same_pairs", 0, "[1, inf)"),
    ("learned-cosine", "learning_rate", math.inf, "(0.0, inf)"),
    ("learned-cosine", "momentum", 1.0, "[0.0, 1.0)"),
    ("learned-cosine", "n_per_identity", 1, "[2, inf)"),
    ("lmnn", "push_loss_weight", 2.0, "[0.0, 1.0]"),
    ("lmnn", "n_neighbors", 0, "[1, inf)"),
    ("verifier", "C", 0.0, "(0.0, inf)"),
    ("verifier", "hard_fraction", 1.0, "[0.0, 1.0)"),
    ("fusion", "holdout", 1.0, "[0.0, 1.0)"),
    ("fusion", "C", math.nan, "(0.0, inf)"),
    ("ml-lmnn", "regularization", 1.5, "[0.0, 1.0]"),
    ("ml-lmnn", "learn_rate", 0.0, "(0.0, inf)"),
    ("ml-itml", "gamma", -1.0, "(0.0, inf)"),
    ("ml-rca", "chunk_size", 1, "[2, inf)"),
    ("ml-scml", "basis", "pca", "triplet_diffs"),
    ("ml-nca", "max_dim", -1, "[0, inf)"),
    ("ml-sdml", "max_constraints", -5, "[0, inf)"),
]


@pytest.mark.parametrize("name, param, value, domain", TABLE)
def test_get_metric_refuses_a_value_outside_the_domain(name, param, value, domain):
    with pytest.raises(ParameterError) as e:
        get_metric(name, **{param: value})
    msg = str(e.value)
    assert "\n" not in msg and f"'{param}'" in msg and domain in msg and name in msg, msg
    assert repr(value) in msg or str(value) in msg, msg


def test_normalisation_parameters_are_checked_when_built():
    from metricbench.learn.norm import apply_norm

    with pytest.raises(ParameterError, match="'cohort_size'.*\\[2, inf\\).*got 1"):
        apply_norm("cosine", "s-norm", cohort_size=1)
    with pytest.raises(ParameterError, match="top_k must be at least 2 for as-norm"):
        apply_norm("cosine", "as-norm", top_k=1)
    with pytest.raises(ParameterError, match="'shrinkage' of cosine-whitened"):
        apply_norm("cosine-whitened", "s-norm", metric_params={"shrinkage": 3.0})
    # a metric instance, a search included (docs/learned-metrics.md), is wrapped as it is
    apply_norm(get_metric("cosine-whitened"), "as-norm", cohort_size=1000, top_k=100)
    apply_norm(get_metric("plda", n_components=8), "s-norm")


@pytest.mark.parametrize("args, words", [
    (["-m", "cosine-whitened", "-p", "shrinkage=2"], "shrinkage"),
    (["-m", "verifier", "-p", "C=inf"], "'C' of verifier must be a float in the range (0.0, inf); got inf"),
    (["-m", "ml-lmnn", "-p", "regularization=-1"], "'regularization' of ml-lmnn must be"),
    (["-m", "plda", "-p", "n_components=0"], "'n_components' of plda must be an int in the range [1, inf)"),
    (["-m", "learned-cosine", "-p", "optimizer=adamw"], "'optimizer' of learned-cosine"),
    (["-m", "kissme", "-p", "weighting=row"], "'weighting' of kissme"),
    # a parameter that names metrics is checked when the metric is built, not when it fits
    (["-m", "fusion", "-p", "metrics=cosin,plda"], "fusion metrics: unknown metric 'cosin'; did you mean cosine"),
    (["-m", "fusion", "-p", "metrics=cosine,fusion"], "fusion cannot contain itself"),
    # the search's own settings
    (["-m", "lda-cosine", "-p", "holdout=1.5"], "parameter 'holdout' of the search over lda-cosine must be a float"),
    (["-m", "plda", "-p", "n_pairs=1"], "parameter 'n_pairs' of the search over plda must be an int in the range [2"),
])
def test_cli_refuses_a_bad_value_before_reading_data(monkeypatch, tmp_path, args, words):
    from typer.testing import CliRunner

    import metricbench.workflows.data as data
    from metricbench.cli.main import app

    def no_data(*a, **k):
        raise AssertionError("the data were read before the parameters were checked")

    monkeypatch.setattr(data, "open_competition", no_data)
    out = tmp_path / "s.csv"
    res = CliRunner().invoke(app, ["score", *args, "--out", str(out)])
    assert res.exit_code == 2, res.output
    lines = [error_line(res)]
    assert "Traceback" not in res.output, res.output
    assert words in lines[0], lines[0]
    assert not out.exists()


#: limit cases at the edges of the domains: (metric, parameters)
LIMITS = [
    ("cosine-whitened", {"shrinkage": 0.0, "n_components": 1}),
    ("cosine-whitened", {"shrinkage": 1.0, "n_components": 1.0}),
    ("zca-cosine", {"shrinkage": 0.0, "eps": 0.0}),
    ("zca-cosine", {"shrinkage": 1.0}),
    ("wccn-cosine", {"shrinkage": 0.0}),
    ("wccn-cosine", {"shrinkage": 1.0}),
    ("lda-cosine", {"n_components": 5, "shrinkage": 1.0}),  # the width, above the 5 identities' LDA rank
    ("within-mahalanobis", {"estimator": "shrunk", "shrinkage": 0.0}),
    ("within-mahalanobis", {"estimator": "shrunk", "shrinkage": 1.0}),
    ("plda", {"n_components": 5, "method": "em", "n_iter": 0}),
    ("plda", {"n_components": 1, "reduce": "none"}),
    ("kissme", {"n_components": 10**6}),  # above the width: the width (describe says)
    ("kissme", {"n_components": 2, "same_pairs": 2, "diff_pairs": 2}),  # as few pairs as dimensions
    ("learned-cosine", {"holdout": 0.0, "momentum": 0.0, "weight_decay": 0.0, "max_epochs": 1, "n_identities": 2,
                        "n_per_identity": 2, "n_components": 10**6, "max_steps": 0}),
    # mu = 0 (pull only) crashed the process: impostor edges of weight 0 were counted but not listed
    ("lmnn", {"push_loss_weight": 0.0, "max_iter": 2}),
    ("lmnn", {"push_loss_weight": 0.5, "max_iter": 1, "n_components": 10**6, "max_impostors": 0}),
    ("lmnn", {"push_loss_weight": 1.0, "max_iter": 1, "n_components": 1}),
    ("verifier", {"hard_fraction": 0.0, "n_components": 10**6, "n_pairs": 2, "hidden": 0}),
    ("fusion", {"metrics": "cosine,euclidean", "holdout": 0.0, "n_val_pairs": 2}),
    ("ml-lmnn", {"regularization": 0.0, "max_iter": 2, "max_samples": 0, "max_dim": 0}),
    ("ml-lmnn", {"regularization": 1.0, "max_iter": 2, "min_iter": 0}),
    ("ml-rca", {"chunk_size": 2}),
    ("ml-lfda", {"k": 10**6}),  # above the width: metric-learn uses d - 1
]


@pytest.mark.parametrize("name, params", LIMITS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(LIMITS)])
def test_limit_cases_fit_and_give_finite_distances(name, params):
    X, y = _data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = get_metric(name, **params).fit(X, y)
    d = m.pair_distance(X, np.arange(10), np.arange(10, 20))
    assert d.shape == (10,) and np.isfinite(d).all()
    same = m.pair_distance(X, np.arange(10), np.arange(10))
    assert np.isfinite(same).all()


@pytest.mark.parametrize("name, params, words", [
    ("cosine-whitened", {"n_components": 6, "shrinkage": 0.0}, "between 1 and 5 (the width of the train rows); got 6"),
    ("lda-cosine", {"n_components": 6}, "between 1 and 5 (the width of the train rows); got 6"),
    ("plda", {"n_components": 6}, "between 1 and 5 (the width of the train rows); got 6"),
    ("kissme", {"n_components": 3, "same_pairs": 1}, "'same_pairs' of kissme must be 'all' or at least n_components (3)"),
])
def test_data_dependent_limits_are_refused_at_fit_with_the_limit(name, params, words):
    X, y = _data()
    with pytest.raises(ParameterError) as e:
        get_metric(name, **params).fit(X, y)
    assert words in str(e.value) and "\n" not in str(e.value), str(e.value)


def test_normalisation_limits_cohort_above_the_identities_and_top_k_above_the_cohort():
    from metricbench.learn.norm import Normalized

    X, y = _data()
    for norm in ("s-norm", "as-norm"):
        m = Normalized(metric="cosine", norm=norm, cohort_size=10**6, top_k=10**6).fit(X, y)
        assert np.isfinite(m.pair_distance(X, np.arange(10), np.arange(10, 20))).all()


def test_cli_minkowski_p_inf_writes_chebyshev_distances(tmp_path):
    """Issue 10 fault 1, the CLI case: ``score -m minkowski -p p=inf`` wrote Predicted = 1 on every row;
    the right values are Chebyshev's (scipy), and p outside its domain exits 2 with one line."""
    import pandas as pd
    import scipy.spatial.distance as sd
    from typer.testing import CliRunner

    from metricbench.cli.main import app
    from tests.conftest import write_competition

    d = write_competition(tmp_path / "c")
    out = tmp_path / "s.csv"
    res = CliRunner().invoke(app, ["score", "-m", "minkowski", "-p", "p=inf", "--no-validate", "--data", str(d),
                                   "--out", str(out)])
    assert res.exit_code == 0, res.output
    sub = pd.read_csv(out)
    pairs = pd.read_csv(d / "test_pairs.csv")
    X = np.load(d / "test_set.npy").astype(np.float64)
    ref = np.array([sd.chebyshev(X[a], X[b]) for a, b in zip(pairs.index1, pairs.index2)])
    got = sub.set_index("Id").loc[pairs.Id, "Predicted"].to_numpy()
    np.testing.assert_allclose(got, ref, rtol=1e-8)
    assert np.unique(got).size > 1
    bad = tmp_path / "bad.csv"
    res = CliRunner().invoke(app, ["score", "-m", "minkowski", "-p", "p=0", "--no-validate", "--data", str(d),
                                   "--out", str(bad)])
    assert res.exit_code == 2 and not bad.exists(), res.output
    error_line(res)


# -- parameters that name metrics or configure a nested estimator: checked when built ----------------

@pytest.mark.parametrize("name, params, words", [
    ("fusion", {"metrics": "cosin,plda"}, "fusion metrics: unknown metric 'cosin'; did you mean cosine"),
    ("fusion", {"metrics": ["cosine", "lda-cosin"]}, "unknown metric 'lda-cosin'; did you mean lda-cosine"),
    ("fusion", {"metrics": "cosine,fusion"}, "fusion cannot contain itself"),
    ("fusion", {"metrics": "cosine"}, "fusion needs at least two metrics"),
    ("fusion", {"metrics": "cosine,plda", "metric_params": {"lda-cosine": {}}}, "'lda-cosine', which is not in the fusion"),
    ("fusion", {"metrics": "cosine,plda", "metric_params": {"plda": {"n_componets": 8}}},
     "unknown parameter 'n_componets' for plda (did you mean n_components?)"),
    ("fusion", {"metrics": "cosine,plda", "metric_params": {"plda": {"n_components": 0}}},
     "parameter 'n_components' of plda must be an int in the range [1, inf)"),
    ("fusion", {"metrics": "cosine,plda", "metric_params": {"plda": 8}}, "metric_params['plda'] must be a dict"),
    ("verifier", {"reduce_params": {"momentun": 0.5}}, "unknown parameter 'momentun' for the verifier's reduction"),
    ("verifier", {"reduce_params": {"momentum": 2.0}}, "parameter 'momentum' of the verifier's reduction"),
    ("s-norm", {"metric": "cosin"}, "unknown metric 'cosin'"),
])
def test_a_parameter_naming_metrics_is_checked_when_built(name, params, words):
    """``get_metric`` refuses a bad sub-metric name (with a did-you-mean suggestion) or a bad
    sub-metric parameter at once; before, fusion and the verifier's reduction found them in fit."""
    if name == "s-norm":
        from metricbench.learn.norm import apply_norm

        build = lambda: apply_norm(params["metric"], "s-norm")  # noqa: E731
    else:
        build = lambda: get_metric(name, **params)  # noqa: E731
    with pytest.raises(ParameterError) as e:
        build()
    assert words in str(e.value) and "\n" not in str(e.value), str(e.value)


def test_a_fusion_of_aliases_builds_and_keys_its_parameters_by_either_name():
    m = get_metric("fusion", metrics="l1,minkowski", metric_params={"minkowski": {"p": 3.0}})
    subs = m._build(["manhattan", "minkowski"])
    assert [s.name for s in subs] == ["manhattan", "minkowski"] and subs[1].params == {"p": 3.0}
    m = get_metric("fusion", metrics="cityblock,euclidean", metric_params={"l1": {}})  # keyed by an alias
    assert [s.name for s in m._build(["manhattan", "euclidean"])] == ["manhattan", "euclidean"]


# -- the search and its splitter: a domain for every parameter ----------------------------------------

def _search_classes():
    from metricbench.model_selection import IdentityPairSplit, MetricSearchCV

    return [MetricSearchCV, IdentityPairSplit]


def test_the_search_and_the_splitter_have_a_domain_for_every_parameter():
    import inspect

    for cls in _search_classes():
        params = {p for p in inspect.signature(cls.__init__).parameters if p != "self"}
        assert params == set(cls._parameter_constraints), cls.__name__


def _search_bad_cases():
    from metricbench.model_selection import IdentityPairSplit, MetricSearchCV

    cases = []
    for cls in _search_classes():
        for param, constraints in cls._parameter_constraints.items():
            if param in ("estimator", "param_grid", "variants", "images", "cv"):
                continue  # objects, tried by hand below
            for v in CANDIDATES + [0.0, 1.0]:
                if _refused(constraints, v):
                    cases.append(pytest.param(cls, param, v, id=f"{cls.__name__}-{param}-{v!r}"))
    return cases


@pytest.mark.parametrize("cls, param, value", _search_bad_cases())
def test_a_search_or_splitter_value_outside_its_domain_is_one_line(cls, param, value):
    from metricbench.learn.linear import LDACosine
    from metricbench.model_selection import IdentityPairSplit

    X, y = _data()
    with pytest.raises(ParameterError) as e:
        if cls is IdentityPairSplit:
            IdentityPairSplit(**{param: value})  # scikit-learn's splitters check when built
        else:
            cls(LDACosine(), {"n_components": [1, 2]}, **{param: value}).fit(X, y)
    msg = str(e.value)
    assert "\n" not in msg and f"'{param}'" in msg and "must be" in msg, msg


@pytest.mark.parametrize("params, words", [
    ({"n_components": "auto", "holdout": 0.0}, "'holdout' of the search over lda-cosine must be a float in the range (0.0, 1.0); got 0.0"),
    ({"n_components": "auto", "holdout": "abc"}, "'holdout' of the search over lda-cosine must be a float"),
    ({"n_components": "auto", "n_pairs": 1}, "'n_pairs' of the search over lda-cosine must be an int in the range [2, inf); got 1"),
    ({"n_components": "auto", "n_pairs": 2.5}, "'n_pairs' of the search over lda-cosine must be an int"),
    ({"n_components": "auto", "random_state": -1}, "'random_state' of the search over lda-cosine"),
])
def test_get_metric_checks_the_search_settings_when_built(params, words):
    with pytest.raises(ParameterError) as e:
        get_metric("lda-cosine", **params)
    assert words in str(e.value), str(e.value)


def test_the_search_refuses_objects_that_are_not_a_metric_or_a_splitter():
    from metricbench.learn.linear import LDACosine
    from metricbench.model_selection import MetricSearchCV

    X, y = _data()
    with pytest.raises(ParameterError, match="'estimator' of the search .* must be an object implementing"):
        MetricSearchCV("lda-cosine", {"n_components": [1]}).fit(X, y)
    with pytest.raises(ParameterError, match="'cv' of the search over lda-cosine must be an object implementing"):
        MetricSearchCV(LDACosine(), {"n_components": [1]}, cv=5).fit(X, y)
    with pytest.raises(ParameterError, match="'param_grid' of the search over lda-cosine must be"):
        MetricSearchCV(LDACosine(), "n_components=1").fit(X, y)
