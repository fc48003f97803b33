"""Fit time of ``learned-cosine`` and ``verifier`` at the reference competition's full size.

A synthetic train set shaped like the competition's (454,714 x 512 float32, 10,575
identities; ``metricbench synth --like raai2019``) is written once to a ``.npy`` file and read as a
memory map, as ``metricbench score`` reads ``train_set.npy``. In the same run the
peer, scikit-learn's ``LinearDiscriminantAnalysis(n_components=64)`` (the issue's
baseline recipe), is timed on the same matrix, and the ratio is printed.

The synthetic set has no groups, so learned-cosine runs without its quality gate.
Fit times are bounded by ``max_epochs`` / ``max_steps`` (defaults shown in the output).

Usage::

    PYTHONPATH=. python benchmarks/bench_fit_full_size_pairs.py            # defaults
    PYTHONPATH=. python benchmarks/bench_fit_full_size_pairs.py --rows 50000 --no-peer   # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def make_train(path: Path, n: int, d: int, n_classes: int, seed: int = 0):
    """Write the synthetic (n, d) float32 train set of ``metricbench synth --like raai2019`` to
    ``path``; returns its labels."""
    from metricbench.io import load_labels
    from metricbench.synth import synth

    comp_dir = path.parent / "synth"
    synth(comp_dir, like="raai2019", n_train=n, n_classes=n_classes, dim=d, n_test=max(2, min(11_605, n // 40)),
          n_pairs=min(31_444, max(2, n // 20)), seed=seed, overwrite=True)
    os.replace(comp_dir / "train_set.npy", path)
    return load_labels(comp_dir / "train_labels.csv", n_rows=n)


def timed(label, fn):
    t0 = time.perf_counter()
    out = fn()
    dt = time.perf_counter() - t0
    print(f"{label:55s} {dt:8.1f} s", flush=True)
    return out, dt


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=454714)
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--classes", type=int, default=10575)
    ap.add_argument("--no-peer", action="store_true", help="skip scikit-learn's LDA")
    ap.add_argument("--only", nargs="*", default=None, help="learned-cosine and/or verifier")
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)

    from metricbench.registry import get_metric

    res = {"rows": a.rows, "dim": a.dim, "classes": a.classes, "cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "train_set.npy"
        y, dt = timed(f"write synthetic {a.rows} x {a.dim} ({a.classes} identities)",
                      lambda: make_train(path, a.rows, a.dim, a.classes))
        X = np.load(path, mmap_mode="r")
        # a realistic pair set to score: 30,000 pairs among 12,000 rows
        rng = np.random.default_rng(1)
        T = np.asarray(X[:12000])
        i1, i2 = rng.integers(0, 12000, 30000), rng.integers(0, 12000, 30000)
        names = a.only or ["learned-cosine", "verifier"]
        for name in names:
            m = get_metric(name, verbose=True)
            _, fit_s = timed(f"{name}: fit", lambda: m.fit(X, y))
            _, score_s = timed(f"{name}: score 30,000 pairs", lambda: m.pair_distance(T, i1, i2))
            print(f"    {m.describe()}", flush=True)
            res[name] = {"fit_s": fit_s, "score_s": score_s, "chosen": m.describe()}
        if not a.no_peer:
            from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

            _, lda_s = timed("peer: sklearn LinearDiscriminantAnalysis(64).fit",
                             lambda: LinearDiscriminantAnalysis(n_components=64).fit(X, y))
            res["sklearn-lda64"] = {"fit_s": lda_s}
            for name in names:
                r = res[name]["fit_s"] / lda_s
                print(f"{name} fit time / sklearn LDA-64 fit time: {r:.2f}", flush=True)
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
