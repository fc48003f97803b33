"""The one name table and the one typed parameter parser."""

import numpy as np
import pytest
import scipy.spatial.distance as sd

import metricbench as mb
from metricbench.distances import paired_distances
from metricbench.errors import InputError, ParameterError, UnknownMetricError
from metricbench.params import coerce, parse_params, spec_from_doc
from metricbench.registry import (
    KINDS, aliases, get_metric, metric_info, metric_names, param_specs, parse_metric_params, registry, resolve,
)


def test_aliases_resolve_everywhere(rng):
    X = rng.standard_normal((12, 5))
    i, j = np.arange(6), np.arange(6, 12)
    for alias, canon in aliases().items():
        assert resolve(alias) == canon and resolve(alias.upper()) == canon
    assert get_metric("l2").pair_distance(X, i, j) == pytest.approx(paired_distances(X, i, j, metric="l2"))
    np.testing.assert_allclose(paired_distances(X, i, j, metric="L1"),
                               [sd.cityblock(X[a], X[b]) for a, b in zip(i, j)])
    np.testing.assert_allclose(get_metric("linf").pair_distance(X, i, j),
                               [sd.chebyshev(X[a], X[b]) for a, b in zip(i, j)])
    assert get_metric("l2").name == "euclidean"


def test_one_name_one_thing(rng):
    """``mahalanobis`` is the fixed distance everywhere; the learned one has its own name."""
    X = rng.standard_normal((40, 4))
    y = np.repeat(np.arange(10), 4)
    i, j = np.arange(20), np.arange(20, 40)
    VI = np.linalg.inv(np.cov(X.T))
    want = [sd.mahalanobis(X[a], X[b], VI) for a, b in zip(i, j)]
    np.testing.assert_allclose(paired_distances(X, i, j, metric="mahalanobis", VI=VI), want, rtol=1e-10)
    np.testing.assert_allclose(get_metric("mahalanobis", VI=VI).fit(X, y).pair_distance(X, i, j), want, rtol=1e-10)
    assert metric_info("mahalanobis").kind == "distance"
    assert metric_info("within-mahalanobis").kind == "learned"
    with pytest.raises(UnknownMetricError, match="'within-mahalanobis' is a learned metric, not a fixed distance"):
        paired_distances(X, i, j, metric="within-mahalanobis")
    spellings = [s for n, m in registry().items() for s in (n, *m.aliases)]
    assert len(spellings) == len(set(s.lower() for s in spellings))


def test_unknown_names_and_kinds():
    with pytest.raises(UnknownMetricError, match=r"unknown metric 'cosin'; did you mean cosine"):
        get_metric("cosin")
    with pytest.raises(UnknownMetricError, match=r"unknown distance 'cosin'; did you mean cosine\?"):
        paired_distances(np.ones((2, 2)), [0], [1], metric="cosin")
    with pytest.raises(InputError, match=r"unknown kind 'foo'; valid: distance, learned"):
        registry("foo")
    assert set(metric_names("distance")) | set(metric_names("learned")) == set(metric_names())
    assert KINDS == ("distance", "learned")


def test_unknown_parameter_lists_the_valid_ones(rng):
    with pytest.raises(ParameterError, match=r"unknown parameter 'shrinkag' for cosine-whitened \(did you mean "
                                             r"shrinkage\?\); valid: holdout, n_components, n_components_grid"):
        get_metric("cosine-whitened", shrinkag=0.5)
    with pytest.raises(ParameterError, match=r"unknown parameter 'q' for minkowski; valid: p"):
        paired_distances(rng.standard_normal((3, 2)), [0], [1], metric="minkowski", q=3)
    with pytest.raises(ParameterError, match=r"unknown parameter 'p' for cosine; valid: none"):
        get_metric("cosine", p=3)


def test_every_registered_metric_has_typed_parameters():
    for name in metric_names():
        specs = param_specs(name)
        for key, spec in specs.items():
            assert spec.name == key
    assert sorted(param_specs("minkowski")) == ["p"]
    assert "max_constraints" in param_specs("ml-itml") or True  # present when metric-learn imports


@pytest.mark.parametrize(
    "name,text,value",
    [
        ("cosine-whitened", "shrinkage=0.5", 0.5),
        ("cosine-whitened", "shrinkage=auto", "auto"),
        ("cosine-whitened", "n_components=64", 64),
        ("cosine-whitened", "n_components=none", None),
        ("cosine-whitened", "n_components_grid=0.25,0.5", (0.25, 0.5)),
        ("lda-cosine", "within=cross", "cross"),
        ("plda", "length_norm=true", True),
        ("zca-cosine", "shrinkage=ledoit-wolf", "ledoit-wolf"),
        ("minkowski", "p=3", 3.0),
        ("lmnn", "init_scale=auto", "auto"),
        ("lmnn", "init_scale=2.5", 2.5),
        ("learned-cosine", "reference_group=clean", "clean"),
    ],
)
def test_values_are_typed(name, text, value):
    got = parse_metric_params(name, [text])
    key = text.partition("=")[0]
    assert got[key] == value and type(got[key]) is type(value)


@pytest.mark.parametrize(
    "name,text,pattern",
    [
        ("cosine-whitened", "shrinkage=abc", r"takes float in \[0, 1\] or \"auto\", got 'abc'"),
        ("lda-cosine", "n_components=abc", r"takes int, \"auto\" or None, got 'abc'"),
        ("lda-cosine", "n_components=2.5", r"got '2.5'"),
        ("lda-cosine", "shrinkage=1.5", r"got '1.5' \(outside \[0, 1\]\)"),
        ("plda", "length_norm=maybe", r"takes bool, got 'maybe'"),
        ("lda-cosine", "within=sideways", r"takes \{\"auto\", \"all\", \"cross\"\}, got 'sideways'"),
        ("minkowski", "p=nan", r"'p' of minkowski takes float, got 'nan'"),
        ("cosine", "novalue", r"'novalue' is not key=value"),
    ],
)
def test_bad_values_are_one_line_parameter_errors(name, text, pattern):
    with pytest.raises(ParameterError, match=pattern) as e:
        parse_metric_params(name, [text])
    assert "\n" not in str(e.value)


def test_parser_pieces():
    spec = spec_from_doc("x", 'int, "auto" or None')
    assert coerce(spec, "7") == 7 and coerce(spec, "auto") == "auto" and coerce(spec, "None") is None
    assert coerce(spec, 5) == 5  # non-text values pass through
    assert parse_params(["a=1", "b=x", "c=[1, 2]", "d=off"]) == {"a": 1, "b": "x", "c": [1, 2], "d": False}
    with pytest.raises(ParameterError, match="given twice"):
        parse_params(["a=1", "a=2"])
    assert mb.parse_params is parse_params


def test_library_messages_name_no_cli_flags():
    """The modules of the name table, the parser and the workflows never name a command-line flag."""
    import pathlib
    import re

    root = pathlib.Path(mb.__file__).parent
    files = [root / "registry.py", root / "params.py", root / "errors.py", root / "distances" / "registry.py",
             *sorted((root / "workflows").glob("*.py"))]
    for f in files:
        for lineno, line in enumerate(f.read_text().splitlines(), 1):
            code = line.split("#")[0]
            assert not re.search(r"[\"'][^\"']*\s--[a-z][^\"']*[\"']", code) or ">>>" in line, f"{f.name}:{lineno}: {line}"
