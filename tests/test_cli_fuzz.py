"""A bounded fuzz of every command that reads user files (issue 10): ``evaluate``, ``retrieve``,
``extract`` (its labels CSV and images folder), ``make-competition``, ``synth`` (its
competition to imitate and its numeric settings), ``auto`` and ``lfw`` (pairs file,
embeddings, labels); ``score`` is fuzzed in tests/test_hypothesis_edges.py.

Each example copies a small valid input set, mutates one file's bytes (insertions,
deletions, replacements, duplicated or dropped lines, truncation) or one setting's text,
and runs the command in-process. Whatever the mutation: no traceback, exit code 0 or 2,
and on 2 exactly one ``error:`` line and no output left behind. Sized by the hypothesis
profile (tests/conftest.py): a few examples per command, a few seconds each.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from metricbench.cli.main import app
from tests.conftest import error_line, write_competition
from tests.test_hypothesis_edges import _edits, _mutate

runner = CliRunner()
#: examples per command: a quarter of the profile's size (5 in CI), at least 3
N = max(3, settings().max_examples // 4)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """One valid input of every kind the commands read."""
    from PIL import Image

    root = tmp_path_factory.mktemp("world")
    write_competition(root / "comp", n_train=80, n_test=24, d=4, n_cls=8, n_pairs=40)
    r = np.random.default_rng(0)
    # retrieve: query / gallery matrices and labels
    centres = r.standard_normal((5, 4)) * 3
    yq, yg = np.arange(10) % 5, np.arange(20) % 5
    np.save(root / "q.npy", (centres[yq] + r.standard_normal((10, 4))).astype(np.float32))
    np.save(root / "g.npy", (centres[yg] + r.standard_normal((20, 4))).astype(np.float32))
    pd.DataFrame({"index": range(10), "class": yq}).to_csv(root / "q.csv", index=False)
    pd.DataFrame({"index": range(20), "class": yg}).to_csv(root / "g.csv", index=False)
    # make-competition: labelled embeddings
    ye = np.arange(60) % 12
    np.save(root / "emb.npy", (r.standard_normal((12, 4))[ye] * 3 + r.standard_normal((60, 4))).astype(np.float32))
    pd.DataFrame({"index": range(60), "class": ye}).to_csv(root / "emb.csv", index=False)
    # extract: a folder of images and a labels CSV
    for i, (who, colour) in enumerate([("bob", 200), ("bob", 180), ("amy", 220), ("amy", 160)]):
        p = root / "imgs" / who / f"{i}.png"
        p.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (32, 32), (colour, 150, 120 + 10 * i)).save(p)
    (root / "imgs.csv").write_text("path,class\nbob/0.png,bob\nbob/1.png,bob\namy/2.png,amy\namy/3.png,amy\n")
    # lfw: pairs, embeddings and labels from the embedded default
    from metricbench.datasets import write_lfw_xq_protocol

    write_lfw_xq_protocol(root / "lfw", n_folds=2, pairs_per_fold=20, seed=3)
    return root


def _names(d: Path) -> dict:
    return {p.name: p for p in d.rglob("*") if p.is_file()}


def _run(args, out: Path):
    res = runner.invoke(app, [str(a) for a in args])
    text = res.output
    assert "Traceback" not in text, text
    assert res.exit_code in (0, 2), (res.exit_code, text, repr(res.exception))
    if res.exit_code == 2:
        error_line(res)  # the whole of stderr is one error line
        assert not out.exists(), f"a failed command left {out} behind"
    return res


def _copy_and_mutate(world, tmp_path_factory, src: str, which: str, edits) -> Path:
    d = tmp_path_factory.mktemp("fz")
    shutil.copytree(world / src, d / src) if (world / src).is_dir() else shutil.copy(world / src, d / src)
    for name in ("q.npy", "g.npy", "q.csv", "g.csv", "emb.npy", "emb.csv", "imgs.csv"):
        if not (d / name).exists():
            shutil.copy(world / name, d / name)
    if not (d / "imgs").exists():
        shutil.copytree(world / "imgs", d / "imgs")
    if not (d / "lfw").exists():
        shutil.copytree(world / "lfw", d / "lfw")
    if not (d / "comp").exists():
        shutil.copytree(world / "comp", d / "comp")
    p = next(p for p in d.rglob(which) if p.is_file())
    p.write_bytes(_mutate(p.read_bytes(), edits))
    return d


_COMP_FILES = ["train_labels.csv", "test_pairs.csv", "solution.csv", "train_set.npy", "test_set.npy"]


@settings(max_examples=N)
@given(which=st.sampled_from(_COMP_FILES), edits=_edits)
def test_fuzz_evaluate(world, tmp_path_factory, which, edits):
    d = _copy_and_mutate(world, tmp_path_factory, "comp", which, edits)
    out = d / "run"
    _run(["evaluate", "-m", "cosine", "--data", d / "comp", "--out", out, "--no-plot", "--n-boot", "5",
          "--val-pairs", "100"], out)


@settings(max_examples=N)
@given(which=st.sampled_from(["q.npy", "g.npy", "q.csv", "g.csv"]), edits=_edits)
def test_fuzz_retrieve(world, tmp_path_factory, which, edits):
    d = _copy_and_mutate(world, tmp_path_factory, which, which, edits)
    out = d / "ranks.csv"
    _run(["retrieve", "-m", "cosine", "-q", d / "q.npy", "-g", d / "g.npy", "-k", "3", "--query-labels",
          d / "q.csv", "--gallery-labels", d / "g.csv", "--out", out], out)


@settings(max_examples=N)
@given(which=st.sampled_from(["emb.npy", "emb.csv"]), edits=_edits)
def test_fuzz_make_competition(world, tmp_path_factory, which, edits):
    d = _copy_and_mutate(world, tmp_path_factory, which, which, edits)
    out = d / "made"
    _run(["make-competition", f"clean={d / 'emb.npy'}", "--labels", d / "emb.csv", "--out", out, "--pairs", "40"],
         out)


@settings(max_examples=N)
@given(which=st.sampled_from(["imgs.csv", "0.png", "2.png"]), edits=_edits)
def test_fuzz_extract(world, tmp_path_factory, which, edits):
    d = _copy_and_mutate(world, tmp_path_factory, which if which.endswith(".csv") else "imgs", which, edits)
    out = d / "out"
    res = _run(["extract", d / "imgs", "--out", out, "--labels", d / "imgs.csv",
                "--backend", "tests.test_extract:FakeBackend", "--no-progress"], out)
    if res.exit_code == 0:  # a damaged image is skipped and said, never a traceback
        X = np.load(out / "embeddings.npy")
        assert np.isfinite(X).all()


_SYNTH_SETTINGS = ["--n-train", "--n-classes", "--dim", "--n-test", "--n-pairs", "--seed"]


@settings(max_examples=N)
@given(which=st.sampled_from(["train_set.npy", "train_labels.csv", "none"]), edits=_edits,
       setting=st.sampled_from(_SYNTH_SETTINGS),
       value=st.one_of(st.integers(-5, 200).map(str), st.text("0123456789.-e+x ", min_size=0, max_size=5)))
def test_fuzz_synth(world, tmp_path_factory, which, edits, setting, value):
    d = _copy_and_mutate(world, tmp_path_factory, "comp", "train_set.npy" if which == "none" else which,
                         [] if which == "none" else edits)
    out = d / "synth"
    base = {"--n-train": "60", "--n-classes": "6", "--dim": "4", "--n-test": "12", "--n-pairs": "12", "--seed": "0"}
    base[setting] = value
    _run(["synth", "--like", d / "comp", "--out", out, *[x for kv in base.items() for x in kv]], out)


@settings(max_examples=max(2, N // 2))
@given(which=st.sampled_from(_COMP_FILES), edits=_edits)
def test_fuzz_auto(world, tmp_path_factory, which, edits):
    d = _copy_and_mutate(world, tmp_path_factory, "comp", which, edits)
    out = d / "auto.csv"
    _run(["auto", "--data", d / "comp", "--out", out, "--budget", "60s", "--trials", "1", "--metrics", "cosine"], out)


@settings(max_examples=N)
@given(which=st.sampled_from(["pairs.csv", "embeddings.npy", "labels.csv"]), edits=_edits)
def test_fuzz_lfw(world, tmp_path_factory, which, edits):
    d = _copy_and_mutate(world, tmp_path_factory, "lfw", which, edits)
    files = _names(d / "lfw")
    out = d / "never-written"  # lfw prints; nothing may appear
    _run(["lfw", files["pairs.csv"], "-e", files["embeddings.npy"], "-l", files["labels.csv"], "-m", "cosine",
          "--n-boot", "20"], out)
