"""Fit time of ``learned-cosine`` and ``verifier`` at the reference competition's full size.

A synthetic train set shaped like the competition's (454,714 x 512 float32, 10,575
identities, 2 to ~130 rows each) is written once to a ``.npy`` file and read as a
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
    """Write a synthetic (n, d) float32 train set: identity centres in a 64-D subspace plus noise."""
    rng = np.random.default_rng(seed)
    sizes = rng.zipf(1.6, size=n_classes).clip(2, 130).astype(np.int64)
    sizes = np.maximum(2, np.round(sizes * (n / sizes.sum()))).astype(np.int64)
    sizes[np.argmax(sizes)] += n - sizes.sum()
    y = np.repeat(np.arange(n_classes), sizes)[:n]
    rng.shuffle(y)
    basis = np.linalg.qr(rng.standard_normal((d, 64)))[0].T  # (64, d)
    centres = rng.standard_normal((n_classes, 64)) @ basis * 0.35
    nuisance = np.linalg.qr(rng.standard_normal((d, 32)))[0].T
    X = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, d))
    step = 50000
    for s in range(0, n, step):
        yy = y[s : s + step]
        m = yy.size
        blk = centres[yy] + 0.7 * rng.standard_normal((m, d))
        blk += rng.standard_normal((m, 32)) @ nuisance * 1.5
        X[s : s + step] = blk.astype(np.float32)
    X.flush()
    del X
    return y


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
