"""Property-based tests (hypothesis) of the distance kernels, the loaders and the CLI's file inputs.

Kernels: symmetry, non-negativity, identity, the triangle inequality for true metrics,
agreement with scipy's ``cdist``, cosine's invariance under positive scaling, every
distance's equivariance under a permutation of the pairs, finite output for finite
input. Loaders: any well-formed CSV dialect reads to the same labels; any byte string
gives labels or an InputError, nothing else. CLI: a bounded fuzz of the competition
files never ends in a traceback. Sized to run in about a minute (``max_examples``).
"""

from __future__ import annotations

import math
import shutil
import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.spatial import distance as sd

from metricbench.distances import paired_distances, pairwise_distances
from metricbench.distances.registry import DISTANCES
from metricbench.errors import InputError
from tests.conftest import error_line

#: the profile's size and randomness (tests/conftest.py: "ci" derandomized by default, "dev", "deep")
SETTINGS = settings()

#: true metrics (triangle inequality holds); minkowski with p >= 1, mahalanobis with a PSD VI
METRICS = ["euclidean", "manhattan", "chebyshev", "minkowski", "seuclidean", "mahalanobis", "angular", "canberra",
           "hamming", "jaccard"]
BOOLEAN = {"yule", "rogerstanimoto", "dice", "russellrao", "sokalsneath"}


def _params(name, d):
    if name == "minkowski":
        return {"p": 3.0}
    if name == "seuclidean":
        return {"V": np.linspace(0.5, 2.0, d)}
    if name == "mahalanobis":
        A = np.arange(d * d, dtype=float).reshape(d, d) % 7 - 3
        return {"VI": A @ A.T / d + np.eye(d)}
    return {}


@st.composite
def matrices(draw, min_rows=2, max_rows=7, boolean=False, d=None):
    n = draw(st.integers(min_rows, max_rows))
    d = draw(st.integers(1, 9)) if d is None else d
    if boolean:
        return draw(arrays(np.float64, (n, d), elements=st.sampled_from([0.0, 1.0])))
    elems = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False, width=64)
    X = draw(arrays(np.float64, (n, d), elements=elems))
    if draw(st.booleans()):  # exact duplicates and zero rows are the interesting cases
        X[draw(st.integers(0, n - 1))] = X[0]
        X[draw(st.integers(0, n - 1))] = 0.0
    return X


def _tol(X):
    return 1e-9 * (1.0 + float(np.abs(X).max()) ** 2)


@pytest.mark.parametrize("name", sorted(DISTANCES))
@SETTINGS
@given(data=st.data())
def test_kernel_properties(name, data):
    X = data.draw(matrices(boolean=name in BOOLEAN))
    n, d = X.shape
    params = _params(name, d)
    i1, i2 = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    i1, i2 = i1.ravel(), i2.ravel()
    D = paired_distances(X, i1, i2, metric=name, **params).reshape(n, n)
    # finite output for finite input (braycurtis of x = -y: sum|x - y| / 0 is truly infinite)
    if name == "braycurtis":
        den = np.abs(X[:, None, :] + X[None, :, :]).sum(-1)
        assert np.isfinite(D[den > 0]).all()
    else:
        assert np.isfinite(D).all()
    fin = np.isfinite(D)
    tol = _tol(X)
    # arccos near 1 turns rounding of the cosine (1e-16) into angles of ~1e-8
    soft = 1e-7 if name == "angular" else 0.0
    # symmetry
    np.testing.assert_allclose(D[fin], D.T[fin], rtol=1e-12, atol=1e-12)
    # non-negativity and identity
    if name != "dot":
        assert (D[fin] >= 0).all()
        if name != "russellrao":
            assert (np.diag(D) == 0).all()
    # pairwise agrees with paired
    P = pairwise_distances(X, metric=name, **params)
    np.testing.assert_allclose(P[fin], D[fin], rtol=1e-7, atol=max(tol, 1e-9, soft))
    # triangle inequality
    if name in METRICS:
        lhs = D[:, None, :]  # d(i, k)
        rhs = D[:, :, None] + D[None, :, :]  # d(i, j) + d(j, k)
        assert (lhs <= rhs + 1e-9 * (1 + rhs) + soft).all()
    # permutation of the pairs permutes the distances exactly
    perm = np.random.default_rng(0).permutation(i1.size)
    np.testing.assert_array_equal(paired_distances(X, i1[perm], i2[perm], metric=name, **params), D.ravel()[perm])


@pytest.mark.parametrize("name", sorted(n for n, dist in DISTANCES.items() if dist.scipy))
@SETTINGS
@given(data=st.data())
def test_agrees_with_scipy_cdist(name, data):
    X = data.draw(matrices(boolean=name in BOOLEAN))
    Y = data.draw(matrices(boolean=name in BOOLEAN, d=X.shape[1]))
    # scipy's direct formulas underflow on subnormal values (cosine of (0, 1) and (1e-311, 1e-311)
    # comes out 0); metricbench rescales (tests/test_distance_edges.py checks those cases)
    X[np.abs(X) < 1e-100] = 0.0
    Y[np.abs(Y) < 1e-100] = 0.0
    params = _params(name, X.shape[1])
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        try:
            ref = sd.cdist(X, Y, DISTANCES[name].scipy, **params)
        except (ValueError, ZeroDivisionError):
            return
    got = pairwise_distances(X, Y, metric=name, **params)
    ok = np.isfinite(ref)  # where scipy gives NaN, metricbench's documented conventions apply
    np.testing.assert_allclose(got[ok], ref[ok], rtol=1e-7, atol=1e-9 * (1 + np.abs(X).max() + np.abs(Y).max()) ** 2)
    i = np.arange(min(X.shape[0], Y.shape[0]))
    np.testing.assert_allclose(paired_distances(X, i, i, Y=Y, metric=name, **params)[ok[i, i]], ref[i, i][ok[i, i]],
                               rtol=1e-9, atol=1e-9)


@SETTINGS
@given(X=matrices(), a=st.floats(1e-3, 1e3), b=st.floats(1e-3, 1e3))
def test_cosine_is_invariant_under_positive_scaling(X, a, b):
    n = X.shape[0]
    i, j = np.arange(n), np.arange(n)[::-1]
    base = paired_distances(X, i, j, metric="cosine")
    scaled = paired_distances(X * a, i, j, Y=X * b, metric="cosine")
    np.testing.assert_allclose(scaled, base, atol=1e-9)


@SETTINGS
@given(X=matrices(min_rows=3), seed=st.integers(0, 2**32 - 1))
def test_every_distance_under_a_permutation_of_the_gallery(X, seed):
    perm = np.random.default_rng(seed).permutation(X.shape[0])
    for name in sorted(DISTANCES):
        if name in BOOLEAN:
            continue
        params = _params(name, X.shape[1])
        P = pairwise_distances(X, X, metric=name, **params)
        Pp = pairwise_distances(X, X[perm], metric=name, **params)
        np.testing.assert_allclose(Pp, P[:, perm], rtol=1e-9, atol=_tol(X), err_msg=name)


# -- loaders ------------------------------------------------------------------------------------

_class = st.one_of(st.integers(-50, 10**6), st.text("abcdefgh_- ", min_size=1, max_size=8).map(str.strip)
                   .filter(lambda s: s and not s.replace("-", "").isdigit()))


@SETTINGS
@given(
    classes=st.lists(_class, min_size=1, max_size=20),
    sep=st.sampled_from([",", ";", "\t"]),
    crlf=st.booleans(),
    bom=st.booleans(),
    quote=st.booleans(),
    extra=st.booleans(),
    shuffle=st.randoms(use_true_random=False),
)
def test_any_csv_dialect_reads_to_the_same_labels(tmp_path_factory, classes, sep, crlf, bom, quote, extra, shuffle):
    from metricbench.io import load_labels

    n = len(classes)
    rows = list(range(n))
    shuffle.shuffle(rows)
    q = (lambda v: f'"{v}"') if quote else str
    lt = "\r\n" if crlf else "\n"
    header = ["index", "class"] + (["note"] if extra else [])
    lines = [sep.join(header)] + [sep.join([q(r), q(classes[r])] + ([q("x")] if extra else [])) for r in rows]
    text = lt.join(lines) + lt
    p = tmp_path_factory.mktemp("csv") / "l.csv"
    p.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode())
    y = load_labels(p, n_rows=n)
    if all(isinstance(c, int) for c in classes):
        assert y.dtype == np.int64 and list(y) == classes
    else:
        assert list(y) == [str(c) for c in classes]


@SETTINGS
@given(blob=st.one_of(st.binary(max_size=300), st.text(max_size=300).map(lambda s: s.encode("utf-8", "replace"))),
       prefix=st.sampled_from([b"", b"index,class\n", b"index;class\r\n", b"\x93NUMPY"]))
def test_any_bytes_give_labels_or_one_input_error(tmp_path_factory, blob, prefix):
    from metricbench.io import load_embeddings, load_labels, load_pairs

    p = tmp_path_factory.mktemp("fz") / "f.csv"
    p.write_bytes(prefix + blob)
    for load in (lambda: load_labels(p), lambda: load_pairs(p, n_rows=10), lambda: load_embeddings(p)):
        try:
            load()
        except InputError as e:
            assert "\n" not in str(e) and str(p) in str(e)


# -- a bounded fuzz of the CLI's file inputs ----------------------------------------------------

@pytest.fixture(scope="module")
def fuzz_comp(tmp_path_factory):
    from tests.conftest import write_competition

    return write_competition(tmp_path_factory.mktemp("fuzz") / "c", n_train=40, n_test=12, d=4, n_cls=4, n_pairs=12)


_edits = st.lists(
    st.tuples(st.sampled_from(["insert", "delete", "replace", "dupline", "dropline", "truncate"]),
              st.integers(0, 10**6), st.text(",;\"\n\r\t -.0123456789eEnaifxINF\x00\u00e9", max_size=4)),
    min_size=1, max_size=4,
)


def _mutate(data: bytes, edits) -> bytes:
    b = bytearray(data)
    for op, pos, s in edits:
        pos = pos % (len(b) + 1)
        if op == "insert":
            b[pos:pos] = s.encode()
        elif op == "delete":
            del b[pos : pos + max(1, len(s))]
        elif op == "replace":
            b[pos : pos + len(s)] = s.encode()
        elif op == "truncate":
            del b[pos:]
        else:
            lines = bytes(b).split(b"\n")
            k = pos % max(1, len(lines))
            if op == "dupline":
                lines.insert(k, lines[k])
            else:
                lines.pop(k)
            b = bytearray(b"\n".join(lines))
    return bytes(b)


@settings(max_examples=2 * settings().max_examples)
@given(which=st.sampled_from(["train_labels.csv", "test_pairs.csv", "solution.csv", "train_set.npy", "test_set.npy"]),
       edits=_edits)
def test_cli_fuzz_of_competition_files_never_tracebacks(fuzz_comp, tmp_path_factory, which, edits):
    from typer.testing import CliRunner

    from metricbench.cli.main import app

    d = tmp_path_factory.mktemp("fz") / "c"
    shutil.copytree(fuzz_comp, d)
    p = d / which
    p.write_bytes(_mutate(p.read_bytes(), edits))
    out = d.parent / "sub.csv"
    res = CliRunner().invoke(app, ["score", "-m", "cosine", "--no-validate", "--data", str(d), "--out", str(out)])
    assert "Traceback" not in res.output, res.output
    assert res.exit_code in (0, 2), (res.exit_code, res.output, repr(res.exception))
    if res.exit_code == 2:
        error_line(res)
        assert not out.exists()
    else:
        sub = pd.read_csv(out)
        assert np.isfinite(sub["Predicted"]).all() and not math.isnan(sub["Predicted"].sum())
