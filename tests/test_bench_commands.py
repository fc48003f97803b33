"""benchmarks/bench_commands_full_size.py: it lists every closed-form metric of the registry, and a tiny
run writes its table (rows, AUROC from score --json, what was not measured)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from conftest import write_competition

ROOT = Path(__file__).resolve().parents[1]


def _module():
    spec = importlib.util.spec_from_file_location("bench_commands", ROOT / "benchmarks" / "bench_commands_full_size.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_every_closed_form_metric_is_listed():
    from metricbench.registry import registry

    names = _module().closed_form_metrics()
    assert set(registry("distance")) <= set(names)
    for m in ("cosine-whitened", "zca-cosine", "wccn-cosine", "lda-cosine", "plda", "kissme", "within-mahalanobis"):
        assert m in names
    for m in ("lmnn", "learned-cosine", "verifier", "fusion"):
        assert m not in names


def test_tiny_run_writes_the_table(tmp_path):
    data = tmp_path / "comp"
    write_competition(data)
    table = tmp_path / "t.md"
    _module().main(["--data", str(data), "--work", str(tmp_path / "w"), "--metrics", "cosine", "--no-learned",
                    "--only", "score:cosine", "--table", str(table)])
    text = table.read_text()
    assert "| `metricbench score --metric cosine" in text and "| 0 |" in text
    assert "**Not measured**" in text and "`retrieve`" in text and "`evaluate`" in text
