"""metricbench.synth / ``metricbench synth``: shapes, validity through metricbench's own loaders,
seeded byte-for-byte determinism, the fitted model's recovery of known spectra."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from conftest import DATA, assert_one_line_error
from metricbench.errors import InputError
from metricbench.io import load_competition
from metricbench.synth import RAAI2019_SHAPES, class_sizes, fit_params, preset_params, synth

SMALL = dict(n_train=3000, n_classes=120, dim=32, n_test=600, n_pairs=800)
FILES = ["train_set.npy", "train_labels.csv", "test_set.npy", "test_pairs.csv", "solution.csv", "manifest.json"]


def _digests(path):
    return {f: hashlib.sha256((path / f).read_bytes()).hexdigest() for f in FILES}


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth") / "comp"
    synth(out, like="raai2019", seed=3, **SMALL)
    return out


def test_shapes_dtypes_and_loaders(small):
    comp = load_competition(small, validate=True)
    assert comp.train_X.shape == (3000, 32) and comp.train_X.dtype == np.float32
    assert comp.test_X.shape == (600, 32) and comp.test_X.dtype == np.float32
    assert len(comp.pairs) == 800 and comp.solution.sum() == 400
    counts = np.bincount(comp.train_y)
    assert counts.size == 120 and counts.min() >= 2 and counts.sum() == 3000
    assert comp.train_groups is None
    # pairs: distinct, same = same identity (checked against the class of the generated rows through distances:
    # same-identity pairs are much closer, as real embeddings)
    p = comp.pairs
    assert not p.duplicated(["index1", "index2"]).any()
    assert (p["index1"] != p["index2"]).all()
    X = np.asarray(comp.test_X, dtype=np.float64)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    cos = (X[p["index1"]] * X[p["index2"]]).sum(1)
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(comp.solution, cos) > 0.8
    assert set(pd.read_csv(small / "train_labels.csv").columns) == {"index", "class"}


def test_same_seed_same_bytes(small, tmp_path):
    again = tmp_path / "again"
    synth(again, like="raai2019", seed=3, **SMALL)
    assert _digests(again) == _digests(small)
    other = tmp_path / "other"
    synth(other, like="raai2019", seed=4, **SMALL)
    assert _digests(other)["train_set.npy"] != _digests(small)["train_set.npy"]


def test_norms_vary_with_quality_and_test_is_shifted(tmp_path):
    out = tmp_path / "c"
    synth(out, like="raai2019", seed=0, **SMALL)
    comp = load_competition(out)
    ntr = np.linalg.norm(comp.train_X, axis=1)
    nte = np.linalg.norm(comp.test_X, axis=1)
    assert ntr.std() > 0.01
    # test rows are of lower quality: their norms follow the degraded log-norm more closely
    p = preset_params(32)
    assert abs(np.log(nte).mean() - p.log_norm_degraded[0]) < abs(np.log(ntr).mean() - p.log_norm_degraded[0])


def test_like_directory_two_variants(tmp_path):
    out = tmp_path / "like"
    man = synth(out, like=DATA, n_train=2000, n_classes=400, n_test=600, n_test_classes=120, n_pairs=300, seed=1)
    comp = load_competition(out, validate=True)
    assert comp.train_X.shape == (2000, 128) and man["n_test_pairs"] == 300
    g = comp.train_groups
    assert sorted(set(g)) == ["clean", "degraded"] and (g == "clean").sum() == 1000
    img = comp.train_images
    # every image has a clean and a degraded row of the same identity
    df = pd.DataFrame({"img": img, "y": comp.train_y, "g": g})
    assert (df.groupby("img")["g"].nunique() == 2).all() and (df.groupby("img")["y"].nunique() == 1).all()


def test_fit_recovers_known_spectra():
    rng = np.random.default_rng(0)
    d, C, per = 8, 400, 20
    lb = np.linspace(2.0, 0.5, d)
    lw = np.linspace(0.6, 0.1, d)
    centres = rng.standard_normal((C, d)) * np.sqrt(lb)
    y = np.repeat(np.arange(C), per)
    X = centres[y] + rng.standard_normal((C * per, d)) * np.sqrt(lw)
    p = fit_params(X, y)
    np.testing.assert_allclose(p.within, np.sort(lw)[::-1], rtol=0.1)
    np.testing.assert_allclose(p.between.sum(), lb.sum(), rtol=0.1)


def test_class_sizes_exact():
    rng = np.random.default_rng(0)
    s = class_sizes(RAAI2019_SHAPES["n_train"], RAAI2019_SHAPES["n_classes"], rng, minimum=2)
    assert s.sum() == 454_714 and s.size == 10_575 and s.min() >= 2
    with pytest.raises(InputError):
        class_sizes(10, 6, rng, minimum=2)


def test_bad_input_leaves_nothing(tmp_path):
    with pytest.raises(InputError, match="cannot hold"):
        synth(tmp_path / "x", like="raai2019", n_train=10, n_classes=6, dim=4, n_test=10, n_pairs=5)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(InputError, match="raai2019"):
        synth(tmp_path / "y", like="nope")


def test_cli(tmp_path):
    from metricbench.cli.main import app

    runner = CliRunner()
    out = tmp_path / "c"
    args = ["synth", "--out", str(out), "--n-train", "400", "--n-classes", "20", "--dim", "8", "--n-test", "100",
            "--n-pairs", "50", "--seed", "2"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    assert load_competition(out, validate=True).train_X.shape == (400, 8)
    res = runner.invoke(app, args)
    assert_one_line_error(res, "exists.*--overwrite")
    res = runner.invoke(app, args + ["--overwrite"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["synth", "--out", str(tmp_path / "d"), "--n-train", "3", "--n-classes", "2"])
    assert_one_line_error(res, "cannot hold.*--n-classes")
    res = runner.invoke(app, ["synth", "--out", str(tmp_path / "e"), "--n-train", "200", "--n-classes", "20",
                              "--dim", "8", "--n-test", "20", "--n-pairs", "50000"])
    assert_one_line_error(res, "could not draw 25000 distinct pairs from 20 test rows.*--n-pairs")
    assert not (tmp_path / "e").exists()


@pytest.mark.parametrize("args, pattern", [
    (["--dim", "0"], "dim must be at least 2, got 0 .--dim"),
    (["--dim", "-3"], "dim must be at least 2.*--dim"),
    (["--n-train", "0"], "n_train must be at least 2.*--n-train"),
    (["--n-train", "-5"], "n_train must be at least 2, got -5 .--n-train"),
    (["--n-classes", "0"], "n_classes must be at least 1.*--n-classes"),
    (["--n-test", "0"], "n_test must be at least 2.*--n-test"),
    (["--n-test-classes", "0"], "n_test_classes must be at least 1.*--n-test-classes"),
    (["--n-pairs", "0"], "n_pairs must be at least 1.*--n-pairs"),
    (["--n-pairs", "-1"], "n_pairs must be at least 1.*--n-pairs"),
    (["--n-classes", "5000", "--n-train", "100"], "n_train=100 rows cannot hold n_classes=5000.*--n-classes"),
    (["--n-train", "100"], "n_train=100 rows cannot hold n_classes=10575.*--n-train"),
    (["--n-test", "10", "--n-test-classes", "6"], "n_test=10 rows cannot hold n_test_classes=6.*--n-test-classes"),
    (["--n-test", "2"], "n_test=2 rows hold only 1 test identity.*--n-test"),
    (["--n-test-classes", "1"], "n_test_classes must be at least 2.*--n-test-classes"),
    (["--seed", "-1"], "--seed.*greater than or equal to 0"),
])
def test_cli_refuses_sizes_before_any_work(tmp_path, monkeypatch, args, pattern):
    """Every size option is checked before the model is built: 0 is not "the default" (it wrote a
    454,714 x 512 set for --dim 0), and impossible combinations fail at once, not after the draws."""
    import metricbench.synth as ms
    from metricbench.cli.main import app

    def no_work(*a, **k):
        raise AssertionError("work started before the sizes were checked")

    monkeypatch.setattr(ms, "preset_params", no_work)
    monkeypatch.setattr(ms, "fit_competition", no_work)
    res = CliRunner().invoke(app, ["synth", "--out", str(tmp_path / "o"), *args])
    assert_one_line_error(res, pattern)
    assert res.exit_code == 2
    assert list(tmp_path.iterdir()) == []


def test_library_sizes_name_the_argument(tmp_path):
    with pytest.raises(InputError, match="dim must be at least 2") as e:
        synth(tmp_path / "o", dim=0)
    assert e.value.param == "dim"
    with pytest.raises(InputError, match="whole number") as e:
        synth(tmp_path / "o", n_pairs=2.5)
    assert e.value.param == "n_pairs"
    with pytest.raises(InputError, match="cannot hold") as e:
        synth(tmp_path / "o", like=DATA, n_train=10, n_classes=6)
    assert e.value.param == "n_classes"
    for seed in (-1, 1.5, True):
        with pytest.raises(InputError, match="seed must be a whole number >= 0") as e:
            synth(tmp_path / "o", seed=seed)
        assert e.value.param == "seed"
    assert not (tmp_path / "o").exists()


def test_fit_recovers_the_shares_a_degraded_row_keeps():
    # degraded = 0.3 * centre + 0.1 * own part + noise (+ a shift): the fit finds both shares
    rng = np.random.default_rng(1)
    d, C, per = 6, 300, 4
    centres = rng.standard_normal((C, d))
    y = np.repeat(np.arange(C), per)
    own = 0.5 * rng.standard_normal((C * per, d))
    clean = centres[y] + own
    degraded = 0.3 * centres[y] + 0.1 * own + 0.2 * rng.standard_normal((C * per, d)) + 1.0
    X = np.vstack([clean, degraded])
    img = np.r_[np.arange(C * per), np.arange(C * per)]
    g = np.r_[["clean"] * (C * per), ["xq"] * (C * per)]
    p = fit_params(X, np.r_[y, y], groups=g, images=img, clean_group="clean")
    assert p.variants == 2
    assert abs(p.keep_between - 0.3) < 0.05 and abs(p.keep_within - 0.1) < 0.05
    np.testing.assert_allclose(p.degrade.sum(), d * 0.04, rtol=0.15)


def test_fit_recovers_shares_that_differ_by_direction():
    # the degraded row keeps 0.6 of the centre along its 3 strongest directions, 0.1 along the others
    rng = np.random.default_rng(2)
    d, C, per = 6, 400, 4
    sd = np.array([3.0, 2.6, 2.2, 1.8, 1.4, 1.0])
    centres = rng.standard_normal((C, d)) * sd
    y = np.repeat(np.arange(C), per)
    own = 0.5 * rng.standard_normal((C * per, d))
    clean = centres[y] + own
    keep = np.array([0.6, 0.6, 0.6, 0.1, 0.1, 0.1])
    degraded = keep * centres[y] + 0.1 * own + 0.2 * rng.standard_normal((C * per, d)) + 1.0
    X = np.vstack([clean, degraded])
    img = np.r_[np.arange(C * per), np.arange(C * per)]
    g = np.r_[["clean"] * (C * per), ["xq"] * (C * per)]
    p = fit_params(X, np.r_[y, y], groups=g, images=img, clean_group="clean")
    np.testing.assert_allclose(p.keep_between_dirs, keep, atol=0.06)
    np.testing.assert_allclose(p.keep_within_dirs, 0.1, atol=0.06)


@pytest.mark.parametrize("dim", [32, 200])
def test_preset_difficulty_is_calibrated_to_lfw_xq(tmp_path, dim):
    # the noise gain makes the plain cosine about as good on the test pairs as on lfw-xq (target_auroc),
    # at any width (200: two copies of the 128-D model, projected)
    from sklearn.metrics import roc_auc_score

    from metricbench._synth_preset import RAAI2019_PRESET

    man = synth(tmp_path / "c", like="raai2019", seed=0, n_train=2000, n_classes=100, dim=dim, n_test=3000,
                n_pairs=3000)
    comp = load_competition(tmp_path / "c")
    X = np.asarray(comp.test_X, dtype=np.float64)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    p = comp.pairs
    cos = (X[p["index1"]] * X[p["index2"]]).sum(1)
    assert abs(roc_auc_score(comp.solution, cos) - RAAI2019_PRESET["target_auroc"]) < 0.04
    assert man["model"]["gain"] > 0
