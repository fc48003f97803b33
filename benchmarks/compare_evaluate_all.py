"""Issue 9's behaviour check: `evaluate --metrics all` now against the table the README held before this round.

    python benchmarks/compare_evaluate_all.py                        # new: docs/generated/all-metrics.md
    python benchmarks/compare_evaluate_all.py --new runs/all-metrics/evaluation.csv
    python benchmarks/compare_evaluate_all.py --old-ref d2cd5f5 --tolerance 0.003

"Today's table" is the every-metric table of README.md at commit ``--old-ref`` (d2cd5f5, the last commit before
the work on issues 9-13), printed there by ``metricbench evaluate --metrics all --no-plot --n-boot 200``. The new
figures are those of the same command today: the generated docs file (``python scripts/make_docs_figures.py
--only all-metrics`` writes it) or a run's ``evaluation.csv``. Per metric it prints old and new validation and test
AUROC and the change, and flags a drop larger than the tolerance. Renamed metrics are compared under their new
names (the learned Mahalanobis, ``mahalanobis`` then, is ``within-mahalanobis`` now; ``mahalanobis`` is now the
fixed distance and has no old row). Exit status 1 when a metric dropped by more than the tolerance or an old metric
is missing from the new table, else 0.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OLD_REF = "d2cd5f5"
RENAMED = {"mahalanobis": "within-mahalanobis"}  # old name -> today's name (same learned metric)


def old_table(ref: str) -> dict[str, tuple[float, float]]:
    """``{name: (validation, test)}`` of the README's every-metric table at git commit ``ref`` (today's names)."""
    text = subprocess.run(["git", "show", f"{ref}:README.md"], cwd=ROOT, capture_output=True, text=True,
                          check=True).stdout
    start = text.index("metricbench evaluate --metrics all")
    head = text.index("| metric | validation AUROC | test AUROC |", start)
    out: dict[str, tuple[float, float]] = {}
    for line in text[head:].splitlines()[2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        out[RENAMED.get(cells[0], cells[0])] = (float(cells[1]), float(cells[2]))
    return out


def new_table(path: Path) -> dict[str, tuple[float, float]]:
    """``{name: (validation, test)}`` from an ``evaluation.csv`` or a generated table (docs/generated/*.md)."""
    if path.suffix == ".csv":
        import pandas as pd

        t = pd.read_csv(path)
        out = {}
        for name, g in t.groupby("metric", sort=False):
            by = dict(zip(g["split"], g["auroc"]))
            out[name] = (float(by["validation"]), float(by["test"]))
        return out
    rows = re.findall(r"^\| `([\w-]+)` \| (\d\.\d{4}) [^|]*\| (\d\.\d{4}) ", path.read_text(), re.M)
    return {name: (float(v), float(s)) for name, v, s in rows}


def compare(old, new, tol: float) -> tuple[list[str], list[str]]:
    """Printed lines and the names that dropped by more than ``tol`` (or vanished)."""
    lines = [f"{'metric':<20} {'val old':>8} {'val new':>8} {'change':>8}   {'test old':>8} {'test new':>8} "
             f"{'change':>8}"]
    bad = []
    for name, (vo, to) in old.items():
        if name not in new:
            lines.append(f"{name:<20} {vo:8.4f} {'-':>8} {'':>8}   {to:8.4f} {'-':>8}   MISSING from the new table")
            bad.append(name)
            continue
        vn, tn = new[name]
        dv, dt = vn - vo, tn - to
        flag = "  DROP > %.3f" % tol if min(dv, dt) < -tol - 1e-12 else ""
        if flag:
            bad.append(name)
        lines.append(f"{name:<20} {vo:8.4f} {vn:8.4f} {dv:+8.4f}   {to:8.4f} {tn:8.4f} {dt:+8.4f}{flag}")
    for name in new.keys() - old.keys():
        vn, tn = new[name]
        lines.append(f"{name:<20} {'-':>8} {vn:8.4f} {'':>8}   {'-':>8} {tn:8.4f}           (no old row)")
    return lines, bad


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--old-ref", default=OLD_REF, help="git commit whose README holds the old table")
    ap.add_argument("--new", type=Path, default=ROOT / "docs" / "generated" / "all-metrics.md",
                    help="evaluation.csv of a run, or the generated table")
    ap.add_argument("--tolerance", type=float, default=0.003, help="largest allowed drop of either AUROC")
    a = ap.parse_args(argv)
    old, new = old_table(a.old_ref), new_table(a.new)
    lines, bad = compare(old, new, a.tolerance)
    print(f"old: README.md at {a.old_ref}; new: {a.new}")
    print("\n".join(lines))
    if bad:
        print(f"\n{len(bad)} metric(s) dropped by more than {a.tolerance} or are missing: {', '.join(bad)}")
        return 1
    print(f"\nno metric dropped by more than {a.tolerance} ({len(old)} compared)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
