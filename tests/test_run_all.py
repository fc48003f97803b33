"""The one benchmark command runs every comparison end to end (tiny sizes) and writes its table."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_run_all_quick_writes_every_section(tmp_path):
    pytest.importorskip("faiss")
    spec = importlib.util.spec_from_file_location("run_all", ROOT / "benchmarks" / "run_all.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out = tmp_path / "bench.md"
    res = mod.main(["--quick", "--out", str(out)])
    assert not res["errors"]
    text = out.read_text()
    for title in ("## Machine", "## Paired distances", "## Pairwise blocks", "## Exact top-10 vs faiss",
                  "## Whitening fit", "## lmnn vs metric-learn"):
        assert title in text
    assert len({r["n_pairs"] for r in res["paired"]}) == 3
    assert {r["metric"] for r in res["paired"]} == {"euclidean", "cosine"}
    assert all(0 < r["floor_share"] for r in res["paired"])  # a ratio, no timed assertion
    assert len({r["n_gallery"] for r in res["topk"]}) >= 3
    assert all(r["agree"] == 1.0 for r in res["topk"])  # random data: faiss and the exact ranking agree
    assert not (tmp_path / "bench.md.tmp").exists()
    assert (tmp_path / "bench.json").exists()
    # --only re-runs one section and keeps the others
    res2 = mod.main(["--quick", "--only", "lmnn", "--out", str(out)])
    assert res2["paired"] == res["paired"] and "## Paired distances" in out.read_text()


def test_load_average_is_printed_with_two_decimals(monkeypatch):
    import re

    spec = importlib.util.spec_from_file_location("run_all", ROOT / "benchmarks" / "run_all.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    monkeypatch.setattr(mod.os, "getloadavg", lambda: (7.29931640625, 6.5, 12.0))
    assert mod.loadavg() == "7.30, 6.50, 12.00"
    assert "40 min" not in mod.__doc__ and not re.search(r"\d+ min", mod.__doc__)  # no unmeasured duration
