"""Blocked pairwise sqeuclidean / euclidean / cosine (metricbench.distances.pairwise): BLAS tiles with a per-entry
error bound, checked against scipy's cdist (float64) and the exact kernel on the cases where the expansion fails."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial import distance as sd

import metricbench.distances.pairwise as pw
from metricbench.distances import paired_distances, pairwise_distances, pairwise_distances_chunked

FUSED = ("sqeuclidean", "euclidean", "cosine")


def _cdist(X, Y, metric):
    return sd.cdist(np.asarray(X, np.float64), np.asarray(Y, np.float64), metric)


def _assert_rel(got, ref, rtol=1e-6, atol=0.0):
    """Every entry within rtol of its own value (the promise of the bound), plus atol."""
    err = np.abs(got - ref)
    bad = err > rtol * np.abs(ref) + atol
    assert not bad.any(), f"{bad.sum()} entries off, worst {err[bad].max():.3g} at {np.argwhere(bad)[0]}"


@pytest.fixture(params=["direct", "tiles"])
def small_tiles(request, monkeypatch):
    """Both ways of filling the full matrix: one BLAS product then the in-place pass (``direct``), and
    per-thread tiles (used when the float64 copies exceed the budget), with tiles of 16 x 16 so that every
    path (edge tiles, tiles below and on the diagonal) runs on small matrices; the symmetric pass in
    blocks of 8."""
    monkeypatch.setattr(pw, "MAX_TILE", 16)
    monkeypatch.setattr(pw, "SYM_BLOCK", 8)
    if request.param == "tiles":
        monkeypatch.setattr(pw, "direct_fits", lambda *a, **k: False)
    return request.param


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("metric", FUSED)
def test_random_rows_match_cdist(metric, dtype, rng, small_tiles):
    X = rng.standard_normal((203, 40)).astype(dtype)
    Y = rng.standard_normal((77, 40)).astype(dtype)
    for A, B, ref in ((X, Y, _cdist(X, Y, metric)), (X, None, _cdist(X, X, metric))):
        got = pairwise_distances(A, B, metric=metric)
        assert got.dtype == np.float64 and got.shape == ref.shape
        _assert_rel(got, ref, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("metric", FUSED)
def test_parallel_path_and_several_chunks_of_columns(metric, rng):
    """Above the serial size; float32 Y converted in chunks of whole tiles under a small budget (the float64
    copies do not fit it: the tile path), and the direct path under the default budget."""
    X = rng.standard_normal((300, 64)).astype(np.float32)
    Y = rng.standard_normal((1000, 64)).astype(np.float32)
    assert pw.tile_size(64, 0.5) < 1000 and 300 * 1000 * 64 >= pw.SERIAL_WORK
    assert not pw.direct_fits(X, Y, False, 0.5) and pw.direct_fits(X, Y, False)
    ref = _cdist(X, Y, metric)
    _assert_rel(pairwise_distances(X, Y, metric=metric, working_memory=0.5), ref, rtol=1e-9, atol=1e-12)
    _assert_rel(pairwise_distances(X, Y, metric=metric), ref, rtol=1e-9, atol=1e-12)
    P = pairwise_distances(Y, metric=metric, working_memory=0.5)  # X vs X over several chunks
    assert np.array_equal(P, P.T) and (np.diag(P) == 0).all()
    _assert_rel(P, _cdist(Y, Y, metric), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("metric", FUSED)
def test_x_vs_x_is_exactly_symmetric_with_zero_diagonal_chunked_too(metric, dtype, rng, small_tiles):
    X = (rng.standard_normal((150, 24)) * 3 + 10).astype(dtype)  # far from the origin
    X[40] = X[7]  # an exact duplicate: 0 off the diagonal too
    P = pairwise_distances(X, metric=metric)
    assert np.array_equal(P, P.T)
    assert (np.diag(P) == 0).all() and P[40, 7] == P[7, 40] == 0.0
    assert (P >= 0).all()
    assert np.array_equal(pairwise_distances(X, X, metric=metric), P)  # Y is X: the same symmetric case
    blocks = list(pairwise_distances_chunked(X, metric=metric, working_memory=0.02))
    assert len(blocks) > 1
    C = np.vstack([b for _, b in blocks])
    assert np.array_equal(C, C.T) and (np.diag(C) == 0).all()
    np.testing.assert_allclose(C, P, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("metric", ("sqeuclidean", "euclidean"))
def test_near_duplicates_far_from_origin_are_recomputed_exactly(metric, rng, small_tiles):
    """|x|^2 + |y|^2 - 2 x.y loses every digit here (norms ~5e4, distances ~1e-6): the bound sends
    those entries to the exact kernel, so they match scipy's direct formula to 1e-6 relative."""
    base = rng.standard_normal(256) + 10
    X = np.repeat(base[None], 40, 0) + rng.standard_normal((40, 256)) * 1e-7
    X[::5] = rng.standard_normal((8, 256))  # ordinary rows mixed in
    Y = X[::-1] + 1e-9
    for A, B in ((X, None), (X, Y), (X.astype(np.float32), None)):
        got = pairwise_distances(A, B, metric=metric)
        ref = _cdist(A, A if B is None else B, metric)
        _assert_rel(got, ref, rtol=1e-6)


def test_cosine_near_duplicates_agree_with_the_kernel(rng, small_tiles):
    """Near-parallel rows: the expansion's error is not small against 1 - cos; those entries are the
    kernel's own value (the same number paired_distances gives)."""
    base = rng.standard_normal(128)
    X = base[None] * rng.uniform(0.5, 2.0, (30, 1)) + rng.standard_normal((30, 128)) * 1e-9
    P = pairwise_distances(X, metric="cosine")
    i, j = np.triu_indices(30, 1)
    np.testing.assert_array_equal(P[i, j], paired_distances(X, i, j, metric="cosine"))
    Q = pairwise_distances(X, X[::-1].copy(), metric="cosine")
    ii, jj = np.meshgrid(np.arange(30), np.arange(30), indexing="ij")
    np.testing.assert_array_equal(Q.ravel(), paired_distances(X, ii.ravel(), (29 - jj).ravel(), metric="cosine"))


def test_cosine_zero_rows_and_extreme_norms(small_tiles):
    rng = np.random.default_rng(3)
    X = rng.standard_normal((40, 12))
    X[[2, 30]] = 0.0
    ref = _cdist(X, X, "cosine")  # cosine does not see the scale: the reference on unscaled rows
    X[5] *= 1e-160  # squared norm underflows the expansion's range (and scipy's own formula)
    X[9] *= 1e160  # squared norm beyond it
    P = pairwise_distances(X, metric="cosine")
    ok = np.isfinite(ref)
    _assert_rel(P[ok], ref[ok], rtol=1e-9, atol=1e-12)
    assert P[2, 30] == P[30, 2] == 0.0 and P[2, 2] == 0.0
    assert (np.delete(P[2], [2, 30]) == 1.0).all() and (np.delete(P[:, 30], [2, 30]) == 1.0).all()
    Q = pairwise_distances(X[:20], X[20:], metric="cosine")
    np.testing.assert_array_equal(Q, P[:20, 20:])


@pytest.mark.parametrize("metric", FUSED)
def test_non_contiguous_and_memmap_input(metric, rng, tmp_path, small_tiles):
    Z = rng.standard_normal((90, 60))
    X = Z[:, ::2]  # strided
    Y = np.asfortranarray(Z[:50, 1::2])
    ref = _cdist(X, Y, metric)
    _assert_rel(pairwise_distances(X, Y, metric=metric), ref, rtol=1e-9, atol=1e-12)
    np.save(tmp_path / "x.npy", np.ascontiguousarray(X, dtype=np.float32))
    Xm = np.load(tmp_path / "x.npy", mmap_mode="r")
    _assert_rel(pairwise_distances(Xm, metric=metric), _cdist(Xm, Xm, metric), rtol=1e-9, atol=1e-12)


def test_mixed_dtypes_and_empty_sides(rng):
    X = rng.standard_normal((20, 8)).astype(np.float32)
    Y = rng.standard_normal((9, 8))
    _assert_rel(pairwise_distances(X, Y, metric="euclidean"), _cdist(X, Y, "euclidean"), rtol=1e-9)
    assert pairwise_distances(X[:0], Y, metric="cosine").shape == (0, 9)
    assert pairwise_distances(X, Y[:0], metric="cosine").shape == (20, 0)


def test_bound_is_the_documented_one():
    """K for d = 512: cosine entries below ~2.3e-7 (and squared distances below ~2.3e-7 (|x|^2 + |y|^2)) go
    to the exact kernel; random embeddings are far above it."""
    for code in (0, 1, 2):
        K = pw.bound_factor(code, 512)
        assert 1e-7 < K < 1e-6


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 40), m=st.integers(1, 40), d=st.integers(1, 20), seed=st.integers(0, 2**31 - 1),
       offset=st.sampled_from([0.0, 1.0, 1e3]), dup=st.booleans(), f32=st.booleans())
def test_property_against_cdist(n, m, d, seed, offset, dup, f32):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)) + offset
    Y = rng.standard_normal((m, d)) + offset
    if dup:  # exact and near duplicates across the two sides
        k = min(n, m)
        Y[:k] = X[:k] + rng.standard_normal((k, d)) * 1e-8 * (1 + offset)
        X[rng.integers(0, n)] = 0.0
    if f32:
        X, Y = X.astype(np.float32), Y.astype(np.float32)
    for metric in FUSED:
        for B in (Y, None):
            got = pairwise_distances(X, B, metric=metric)
            ref = _cdist(X, X if B is None else B, metric)
            ok = np.isfinite(ref)
            if metric == "cosine":  # scipy's own 1 - cos cancels for near-parallel rows: absolute
                np.testing.assert_allclose(got[ok], ref[ok], rtol=1e-6, atol=1e-12)
            else:
                _assert_rel(got[ok], ref[ok], rtol=1e-6, atol=1e-300)
            if B is None:
                assert np.array_equal(got, got.T) and (np.diag(got) == 0).all()
