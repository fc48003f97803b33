"""Every documented command example runs as written, on files the examples make themselves.

The ```bash blocks of the README and of the site's pages (docs/**/*.md; docs/generated/ is checked by
tests/test_docs.py) are extracted and executed in order, one page per test, in a fresh folder that holds only a
link to this checkout's ``scripts/`` (as a fresh clone would), with ``metricbench`` meaning this checkout's CLI.
A block right after ``<!-- example: skip (why) -->`` is not run (installs, data a user must bring); one after
``<!-- example: slow -->`` makes its page's test ``slow``. A page whose blocks all skip has no test.
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
# README.md joins when its rewrite (issue 13: short README, examples that run) lands
PAGES = sorted(p for p in (ROOT / "docs").rglob("*.md") if "generated" not in p.parts)
FENCE = re.compile(r"(?:<!-- example: (?P<mark>\w+)[^>]*-->\s*\n)?```bash\n(?P<body>.*?)```", re.S)


def blocks(page: Path) -> list[tuple[str, str]]:
    """``(mark, body)`` of every bash block; mark is '', 'skip' or 'slow'."""
    return [(m["mark"] or "", m["body"]) for m in FENCE.finditer(page.read_text(encoding="utf-8"))]


def _cases():
    for page in PAGES:
        if not page.is_file():
            continue
        run = [(mark, body) for mark, body in blocks(page) if mark != "skip"]
        if not run:
            continue
        marks = [pytest.mark.slow] if any(mark == "slow" for mark, _ in run) else []
        yield pytest.param(page, run, id=str(page.relative_to(ROOT)), marks=marks)


def test_markers_are_known():
    for page in PAGES:
        if page.is_file():
            for mark, _ in blocks(page):
                assert mark in ("", "skip", "slow"), f"{page.name}: unknown example marker {mark!r}"


@pytest.mark.parametrize(("page", "run"), list(_cases()))
def test_documented_examples_run(page, run, tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "metricbench"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m metricbench.cli.main "$@"\n')
    shim.chmod(shim.stat().st_mode | stat.S_IXUSR)
    for name in ("python", "python3"):  # a script, not a link: a link would lose the virtual environment
        py = bin_dir / name
        py.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
        py.chmod(py.stat().st_mode | stat.S_IXUSR)
    work = tmp_path / "work"
    work.mkdir()
    (work / "scripts").symlink_to(ROOT / "scripts")
    env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    env.pop("METRICBENCH_DATA", None)
    for i, (_, body) in enumerate(run):
        res = subprocess.run(["bash", "-euo", "pipefail", "-c", body], cwd=work, env=env,
                             capture_output=True, text=True, timeout=900)
        assert res.returncode == 0, (
            f"{page.relative_to(ROOT)}, example {i + 1} failed ({res.returncode}):\n{body}\n"
            f"--- stdout\n{res.stdout[-3000:]}\n--- stderr\n{res.stderr[-3000:]}"
        )
