"""Engines: the local engine's out-of-core scoring and statistics fits against independent
references (metricbench.distances.paired_distances / topk on in-memory arrays, the chunked
scatter of metricbench.learn.stats.ScatterStats, ordinary fits), and the Dask engine's results against the
local engine's on a LocalCluster of 2 worker processes started by the tests and closed after."""

from __future__ import annotations

import re
import sys

import numpy as np
import pandas as pd
import pytest

from metricbench.distances import paired_distances, topk
from metricbench.engines import get_engine
from metricbench.engines.local import LocalEngine, score_pairs, score_pairs_file
from metricbench.engines.stats import STATS_METRICS, fit_from_stats
from metricbench.errors import InputError
from metricbench.learn.stats import ScatterStats
from metricbench.registry import get_metric


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    r = np.random.default_rng(7)
    d = tmp_path_factory.mktemp("engines")
    centres = r.standard_normal((30, 12)) * 2
    y = r.integers(0, 30, 2000)
    X = (centres[y] + r.standard_normal((2000, 12))).astype(np.float32)
    np.save(d / "X.npy", X)
    Y = r.standard_normal((700, 12)).astype(np.float32)
    np.save(d / "Y.npy", Y)
    i1, i2 = r.integers(0, 2000, 5000), r.integers(0, 2000, 5000)
    ids = r.permutation(5000) + 10
    pd.DataFrame({"index1": i1, "index2": i2, "Id": ids}).to_csv(d / "pairs.csv", index=False)
    np.save(d / "pairs.npy", np.stack([i1, i2, ids], 1).astype(np.int32))
    return {"dir": d, "X": X, "Y": Y, "y": y, "i1": i1, "i2": i2, "ids": ids}


# --------------------------------------------------------------------------- local, out of core


@pytest.mark.parametrize("metric", ["cosine", "euclidean", "manhattan"])
def test_score_pairs_blocks_equal_in_memory(data, metric):
    ref = paired_distances(data["X"], data["i1"], data["i2"], metric=metric)
    # 0.02 MiB: two blocks of ~400 rows, the pairs spread over many block pairs
    got = score_pairs(data["dir"] / "X.npy", data["i1"], data["i2"], metric, memory=0.02)
    np.testing.assert_array_equal(got, ref)
    j2 = data["i2"] % 700
    ref = paired_distances(data["X"], data["i1"], j2, metric=metric, Y=data["Y"])
    got = score_pairs(data["dir"] / "X.npy", data["i1"], j2, metric, Y=data["dir"] / "Y.npy", memory=0.02)
    np.testing.assert_array_equal(got, ref)


@pytest.mark.parametrize("pairs", ["pairs.csv", "pairs.npy"])
def test_score_pairs_file(data, tmp_path, pairs):
    m = get_metric("wccn-cosine", shrinkage=0.1).fit(data["X"], data["y"])
    calls = []
    out = tmp_path / "sub.csv"
    s = score_pairs_file(np.load(data["dir"] / "X.npy", mmap_mode="r"), data["dir"] / pairs, out, m,
                         memory=0.02, chunk_pairs=1234, similarity=True, progress=lambda a, b: calls.append((a, b)))
    sub = pd.read_csv(out)
    assert list(sub.columns) == ["Id", "Predicted"] and s["n_pairs"] == 5000 and s["chunks"] == 5
    np.testing.assert_array_equal(sub["Id"], data["ids"])  # file order
    ref = -m.pair_distance(data["X"], data["i1"], data["i2"])
    # 9 significant digits, as write_submission
    np.testing.assert_array_equal(sub["Predicted"], np.array(["%.9g" % v for v in ref], dtype=np.float64))
    assert calls[-1][0] == 5000 and len(calls) == 5
    assert [p.name for p in tmp_path.iterdir()] == ["sub.csv"]


def test_score_pairs_file_bad_input_writes_nothing(data, tmp_path):
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"index1": [0, 1, 2], "index2": [1, 2, 2000], "Id": [0, 1, 2]}).to_csv(bad, index=False)
    out = tmp_path / "sub.csv"
    with pytest.raises(InputError, match="bad.csv: line 4: index2 = 2000 is out of range"):
        score_pairs_file(data["dir"] / "X.npy", bad, out, chunk_pairs=2)
    pd.DataFrame({"index1": [0, 1, 2], "index2": [1, 2, 3], "Id": [5, 6, 5]}).to_csv(bad, index=False)
    with pytest.raises(InputError, match="bad.csv: line 4 repeats Id 5"):
        score_pairs_file(data["dir"] / "X.npy", bad, out, chunk_pairs=2)
    pd.DataFrame({"index1": [0, "x"], "index2": [1, 2], "Id": [0, 1]}).to_csv(bad, index=False)
    with pytest.raises(InputError, match="bad.csv: line 3, column 'index1' holds 'x'; expected a whole number"):
        score_pairs_file(data["dir"] / "X.npy", bad, out)
    with pytest.raises(InputError, match="needs V"):
        score_pairs_file(data["dir"] / "X.npy", data["dir"] / "pairs.csv", out, "seuclidean")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.csv"]


def test_chunk_stats_merge_equals_one_pass(data):
    """The map-reduce: statistics of row chunks (sharing identities, global class counts)
    merged by + equal one pass over all rows, class-weighted parts included."""
    X, y = data["X"].astype(np.float64), data["y"]
    cc = (np.unique(y), np.bincount(np.searchsorted(np.unique(y), y)))
    kw = {"wccn": True, "pairs": True}
    parts = [ScatterStats.from_data(X[s : s + 300], y[s : s + 300], shift=X[0], class_counts=cc, **kw)
             for s in range(0, 2000, 300)]
    st = parts[0]
    for p in parts[1:]:
        st = st + p
    R = ScatterStats.from_data(X, y, **kw)
    for a in ("mean", "total", "between", "within"):
        np.testing.assert_allclose(getattr(st, a), getattr(R, a), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(st.mean_class_covariance(), R.mean_class_covariance(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(st.pair_scatter("pairs")[0], R.pair_scatter("pairs")[0], rtol=1e-10, atol=1e-10)
    assert (st.n, st.n_classes) == (R.n, R.n_classes)


@pytest.mark.parametrize("name,params", [("cosine-whitened", {"n_components": 6, "shrinkage": 0.5}),
                                         ("lda-cosine", {"n_components": 8}),
                                         ("within-mahalanobis", {})])
def test_fit_from_stats_equals_fit(data, name, params):
    X, y, i1, i2 = data["X"], data["y"], data["i1"], data["i2"]
    ref = get_metric(name, **params).fit(X, y)
    got = LocalEngine().fit(name, data["dir"] / "X.npy", y, **params)
    assert got.describe() == ref.describe()
    np.testing.assert_allclose(got.pair_distance(X, i1, i2), ref.pair_distance(X, i1, i2), rtol=1e-9, atol=1e-12)
    st = get_metric(name, **params).gather_stats(X, y)
    np.testing.assert_allclose(fit_from_stats(name, st, **params).pair_distance(X, i1, i2),
                               ref.pair_distance(X, i1, i2), rtol=1e-9, atol=1e-12)
    if name != "within-mahalanobis":
        with pytest.raises(InputError, match="auto"):
            fit_from_stats(name, st, n_components="auto")
    with pytest.raises(InputError, match="cannot be fitted from statistics"):
        fit_from_stats("lmnn", st)
    with pytest.raises(InputError, match="sampled pairs are drawn from rows"):
        LocalEngine().fit("kissme", X, y, same_pairs=100)


def test_get_engine_errors():
    with pytest.raises(InputError, match="unknown engine"):
        get_engine("spark")
    with pytest.raises(InputError, match="scheduler address is for the dask engine"):
        get_engine("local", scheduler="tcp://x:1")


# --------------------------------------------------------------------------- dask on a LocalCluster


@pytest.fixture(scope="module")
def dask_engine():
    distributed = pytest.importorskip("distributed", reason="the dask engine needs metricbench[dask]")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0")
    client = distributed.Client(cluster)
    from metricbench.engines.dask import DaskEngine

    eng = DaskEngine(client=client, block_rows=600)
    yield eng
    eng.close()
    client.close()
    cluster.close()


def test_dask_scoring_equals_local(dask_engine, data):
    p = data["dir"] / "X.npy"
    loc = LocalEngine(memory=0.02)
    for metric in ("cosine", "sqeuclidean"):
        np.testing.assert_array_equal(dask_engine.score_pairs(p, data["i1"], data["i2"], metric),
                                      loc.score_pairs(p, data["i1"], data["i2"], metric))
    m = get_metric("lda-cosine", n_components=8).fit(data["X"], data["y"])
    j2 = data["i2"] % 700
    np.testing.assert_array_equal(dask_engine.score_pairs(data["X"], data["i1"], j2, m, Y=data["dir"] / "Y.npy"),
                                  m.pair_distance(data["X"], data["i1"], j2, Y=data["Y"]))


def test_dask_topk_equals_local(dask_engine, data):
    p = data["dir"] / "X.npy"
    ia, da_ = dask_engine.topk(p, None, 5, "cosine", exclude_self=True)
    ib, db = topk(data["X"], data["X"], 5, metric="cosine", exclude_self=True)
    np.testing.assert_array_equal(ia, ib)
    np.testing.assert_array_equal(da_, db)
    ia, da_ = dask_engine.topk(data["Y"][:50], p, 7, "euclidean")
    ib, db = topk(data["Y"][:50], data["X"], 7, metric="euclidean")
    np.testing.assert_array_equal(ia, ib)
    np.testing.assert_array_equal(da_, db)


STATS_CASES = [
    ("cosine-whitened", {"n_components": 6, "shrinkage": 0.5}),
    ("zca-cosine", {"shrinkage": 0.1}),
    ("wccn-cosine", {"shrinkage": 0.1}),
    ("lda-cosine", {"n_components": 8}),
    ("plda", {"n_components": 8}),
    ("within-mahalanobis", {}),
    ("within-mahalanobis", {"estimator": "oas"}),
    ("kissme", {"n_components": 8}),
]


def test_stats_cases_cover_every_stats_metric():
    assert {c[0] for c in STATS_CASES} == set(STATS_METRICS)


@pytest.mark.parametrize("cross", [False, True], ids=["all", "cross"])
@pytest.mark.parametrize("name,params", STATS_CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(STATS_CASES)])
def test_dask_statistics_fit_equals_local(dask_engine, data, name, params, cross):
    """Every statistics-based metric fitted by map-reduce over 4 row blocks (600 rows, the
    identities spread over blocks) equals its local fit, with and without two variants."""
    X, y, i1, i2 = data["X"].astype(np.float64), data["y"], data["i1"], data["i2"]
    variants = np.where(np.arange(y.size) % 3 == 0, "clean", "degraded") if cross else None
    kw = {} if variants is None else {"variants": variants}
    ref = get_metric(name, **params).fit(X, y, **kw)
    got = dask_engine.fit(name, X, y, variants=variants, **params)
    assert got.describe() == ref.describe()
    np.testing.assert_allclose(got.pair_distance(X, i1, i2), ref.pair_distance(X, i1, i2), rtol=1e-9, atol=1e-10)
    if hasattr(ref, "components_"):
        np.testing.assert_allclose(got.transform(X[:50]), ref.transform(X[:50]), rtol=1e-8, atol=1e-9)


def test_dask_statistics_fit_from_npy_and_auto(dask_engine, data, tmp_path):
    """A path read by the workers, float32 rows; and an 'auto' setting searched on statistics
    gathered on the cluster (only the held-out pairs' rows read here) equals the local search."""
    X, y, i1, i2 = data["X"], data["y"], data["i1"], data["i2"]
    got = dask_engine.fit("lda-cosine", data["dir"] / "X.npy", y, n_components=8)
    ref = get_metric("lda-cosine", n_components=8).fit(X, y)
    # float32 products summed over other chunks: equal to rounding
    np.testing.assert_allclose(got.pair_distance(X, i1, i2), ref.pair_distance(X, i1, i2), rtol=1e-5, atol=1e-6)
    X64 = X.astype(np.float64)
    np.save(tmp_path / "X64.npy", X64)
    got = dask_engine.fit("cosine-whitened", tmp_path / "X64.npy", y)
    ref = get_metric("cosine-whitened").fit(X64, y)
    assert got.best_params_ == ref.best_params_ and got.describe() == ref.describe()
    np.testing.assert_allclose(got.pair_distance(X64, i1, i2), ref.pair_distance(X64, i1, i2), rtol=1e-9, atol=1e-10)
    with pytest.raises(InputError, match="cannot be fitted from statistics"):
        dask_engine.fit("lmnn", X64, y)


def test_dask_extract_equals_local(dask_engine, tmp_path):
    PIL = pytest.importorskip("PIL")  # noqa: F841
    import cloudpickle
    from PIL import Image

    from metricbench.extract import Face, FaceBackend, extract_folder

    class TinyBackend(FaceBackend):
        """Pure numpy: a 'face' is the central half of a bright image; embedding = its mean colour and size."""

        name = "tiny"

        def load(self):
            pass

        @property
        def dim(self):
            return 5

        def detect(self, rgb):
            h, w = rgb.shape[:2]
            return [Face(w // 4, h // 4, 3 * w // 4, 3 * h // 4, "bright")] if rgb.mean() > 60 else []

        def align(self, rgb, face):
            return rgb[face.top : face.bottom + 1, face.left : face.right + 1]

        def embed(self, rgb, aligned):
            m = aligned.reshape(-1, 3).mean(0)
            return np.array([m[0], m[1], m[2], aligned.shape[1], aligned.shape[0]], dtype=np.float32)

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    rng = np.random.default_rng(0)
    root = tmp_path / "imgs"
    for i in range(12):
        (root / f"id{i % 4}").mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256 if i % 5 else 40, (40 + i, 36, 3), dtype=np.uint8)).save(
            root / f"id{i % 4}" / f"img{i}.png")
    (root / "id0" / "broken.png").write_bytes(b"not a png")
    ref = extract_folder(root, tmp_path / "local", backend=TinyBackend(), progress=False)
    got = dask_engine.extract(root, tmp_path / "dask", backend=TinyBackend(), shard_size=3, progress=False)
    assert got.n_embedded == ref.n_embedded == 12 and got.n_new == 13
    for f in ("embeddings.npy", "labels.csv", "skipped.csv"):
        assert (tmp_path / "dask" / f).read_bytes() == (tmp_path / "local" / f).read_bytes(), f
    # resumable: a second run embeds only the image added since
    Image.fromarray(rng.integers(0, 256, (50, 50, 3), dtype=np.uint8)).save(root / "id1" / "new.png")
    again = dask_engine.extract(root, tmp_path / "dask", backend=TinyBackend(), shard_size=3, progress=False)
    assert again.n_new == 1 and again.n_resumed == 13 and again.n_embedded == 13


def test_dask_search_with_metric_objects(dask_engine, data):
    from metricbench.engines import pair_distances_on, search_on
    from metricbench.evaluation.retrieval import search

    X, y = data["X"], data["y"]
    m = get_metric("lda-cosine", n_components=8).fit(X, y)
    ia, _ = search_on(dask_engine, m, X[:40], X, 5)
    ib, _ = search(X[:40], X, 5, metric=m)
    np.testing.assert_array_equal(ia, ib)
    c = get_metric("cosine")
    np.testing.assert_array_equal(pair_distances_on(dask_engine, c, X, data["i1"], data["i2"]),
                                  c.pair_distance(X, data["i1"], data["i2"]))
    with pytest.raises(InputError, match="linear learned"):
        search_on(dask_engine, get_metric("plda", n_components=4).fit(X, y), X[:5], X, 3)


def test_cli_engine_flags_checked_first(tmp_path):
    from typer.testing import CliRunner

    from conftest import assert_one_line_error
    from metricbench.cli.main import app

    runner = CliRunner()
    res = runner.invoke(app, ["score", "-m", "cosine", "--engine", "spark", "--out", str(tmp_path / "s.csv")])
    assert_one_line_error(res, "unknown engine .spark.: choose local, dask")
    res = runner.invoke(app, ["retrieve", "-m", "cosine", "-q", "q.npy", "-g", "g.npy", "--scheduler", "tcp://x:1"])
    assert_one_line_error(res, "scheduler address is for the dask engine \\(--scheduler\\)")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("address, words", [
    ("not-an-address", "missing port number"),
    ("http://127.0.0.1:1", "unknown scheme 'http'"),
    ("tcp://host:notaport", "not a dask scheduler address"),
])
def test_cli_bad_scheduler_address_is_exit_2_before_connecting(tmp_path, address, words):
    """A malformed --scheduler is refused as bad input (exit 2, one line naming the flag), before any
    connection or cluster is tried."""
    pytest.importorskip("distributed")
    from typer.testing import CliRunner

    from conftest import assert_one_line_error
    from metricbench.cli.main import app

    for cmd in (["score", "-m", "cosine", "--out", str(tmp_path / "s.csv")],
                ["retrieve", "-m", "cosine", "-q", "q.npy", "-g", "g.npy", "--out", str(tmp_path / "r.csv")]):
        res = CliRunner().invoke(app, [*cmd, "--engine", "dask", "--scheduler", address])
        assert res.exit_code == 2, res.output
        assert_one_line_error(res, f"{re.escape(words)}.*\\(--scheduler\\)")
    assert list(tmp_path.iterdir()) == []


def test_cli_dask_engine_with_faiss_backend_is_refused_first(tmp_path):
    """faiss searches on this machine and the Dask engine on its workers: the combination is refused
    before any cluster starts; the library refuses it too."""
    from typer.testing import CliRunner

    from conftest import assert_one_line_error
    from metricbench.cli.main import app
    from metricbench.workflows import retrieve

    res = CliRunner().invoke(app, ["retrieve", "-m", "cosine", "-q", "q.npy", "-g", "g.npy", "--engine", "dask",
                                   "--backend", "faiss", "--out", str(tmp_path / "r.csv")])
    assert res.exit_code == 2
    assert_one_line_error(res, "--backend faiss .* --engine dask")

    class FakeDask:
        name = "dask"

    with pytest.raises(InputError, match="faiss backend searches on this machine"):
        retrieve("q.npy", "g.npy", metric="cosine", backend="faiss", engine=FakeDask())
    assert list(tmp_path.iterdir()) == []


def test_quiet_close_silences_distributed_logging(dask_engine):
    """After an error or Ctrl-C the engine closes without distributed's and asyncio's tracebacks of the
    tasks it cancels (what `metricbench ... --engine dask` prints on Ctrl-C: one line)."""
    import logging

    from metricbench.engines.dask import DaskEngine

    names = ("distributed", "asyncio", "tornado")
    before = {n: logging.getLogger(n).level for n in names}
    try:
        eng = DaskEngine(client=dask_engine.client)  # not its own client: close leaves the cluster up
        eng.close(quiet=True)
        assert all(logging.getLogger(n).getEffectiveLevel() > logging.CRITICAL for n in names)
    finally:
        for n, lvl in before.items():
            logging.getLogger(n).setLevel(lvl)


def test_score_competition_fits_from_dask_statistics(dask_engine, data, tmp_path):
    """``score_competition(engine=dask)`` (what ``metricbench score --engine dask`` runs): validation,
    the 'auto' search and the final fit from statistics gathered on the cluster; the submission
    equals the local one."""
    from metricbench.workflows.score import score_competition

    X, y = data["X"].astype(np.float64), data["y"]
    np.save(tmp_path / "train_set.npy", X)
    pd.DataFrame({"index": np.arange(y.size), "class": y}).to_csv(tmp_path / "train_labels.csv", index=False)
    np.save(tmp_path / "test_set.npy", data["Y"].astype(np.float64))
    pd.DataFrame({"index1": data["i1"][:300] % 700, "index2": data["i2"][:300] % 700, "Id": np.arange(300)}).to_csv(
        tmp_path / "test_pairs.csv", index=False)
    for name in ("lda-cosine", "within-mahalanobis"):
        loc = score_competition(name, tmp_path, val_pairs=1000)
        got = score_competition(name, tmp_path, val_pairs=1000, engine=dask_engine)
        assert got.fitted_on.startswith("statistics gathered on the dask engine") and loc.fitted_on == "this process"
        assert got.chosen == loc.chosen and got.validation.auroc == loc.validation.auroc
        np.testing.assert_allclose(got.predictions, loc.predictions, rtol=1e-9, atol=1e-10)
