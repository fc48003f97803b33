"""The Dask engine on a LocalCluster against the local engine: times and equality of the results.

Builds a synthetic competition (``metricbench synth --like raai2019``, default 100,000 x 512 train,
11,605 test rows) and, on a ``LocalCluster`` of ``--workers`` processes (1 thread each), times:
pair scoring (``--pairs`` random pairs over the train matrix, cosine), exact top-10 (``--queries``
test rows against the train matrix as gallery), and a statistics-based fit (``lda-cosine``, k = 128)
by map-reduce; each beside the local engine on the same input, with the largest difference.

Usage::

    PYTHONPATH=. python benchmarks/bench_dask_localcluster.py
    PYTHONPATH=. python benchmarks/bench_dask_localcluster.py --n-train 20000 --pairs 200000 --queries 500
    PYTHONPATH=. python benchmarks/bench_dask_localcluster.py --scheduler tcp://host:8786   # a real cluster
    PYTHONPATH=. python benchmarks/bench_dask_localcluster.py --n-train 50000 --n-classes 1150 --pairs 1000000 \
        --queries 1000 --block-rows 12500 --write docs/generated/dask_localcluster.md

With ``--write PATH`` the table, the cluster, the machine, the date, the load average and the command
are written as Markdown (the table docs/scale.md includes).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _report import commit, loadavg, machine, shown_command, utc  # benchmarks/_report.py


def clock(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-train", type=int, default=100_000)
    ap.add_argument("--n-classes", type=int, default=2_300)
    ap.add_argument("--pairs", type=int, default=2_000_000)
    ap.add_argument("--queries", type=int, default=2_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--block-rows", type=int, default=25_000)
    ap.add_argument("--scheduler", default=None)
    ap.add_argument("--write", type=Path, default=None,
                    help="write the table (with cluster, machine, date, load and command) as Markdown here")
    a = ap.parse_args(argv)

    from metricbench.engines.dask import DaskEngine
    from metricbench.engines.local import LocalEngine
    from metricbench.io import load_competition
    from metricbench.synth import synth

    started, load0 = utc(), os.getloadavg()
    print(f"{started}; load average before: {loadavg(load0)}; {machine()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="metricbench-dask-") as tmp:
        d = Path(tmp) / "c"
        _, t = clock(lambda: synth(d, like="raai2019", n_train=a.n_train, n_classes=a.n_classes, seed=0))
        comp = load_competition(d)
        Xp, Qp = d / "train_set.npy", d / "test_set.npy"
        y = comp.train_y
        print(f"synth {a.n_train} x 512 ({a.n_classes} identities) in {t:.1f} s")
        rng = np.random.default_rng(0)
        i1, i2 = rng.integers(0, a.n_train, a.pairs), rng.integers(0, a.n_train, a.pairs)
        Q = np.asarray(comp.test_X[: a.queries])
        loc = LocalEngine()
        rows = []
        eng, t_start = clock(lambda: DaskEngine(scheduler=a.scheduler, n_workers=a.workers, block_rows=a.block_rows))
        cluster = eng.describe()
        print(f"{cluster} started in {t_start:.1f} s", flush=True)
        try:
            # a first small call of each kind warms both engines (imports, numba caches)
            for e in (loc, eng):
                e.score_pairs(Xp, i1[:1000], i2[:1000], "cosine")
                e.topk(Q[:10], Xp, 10, "cosine")
            dl, tl = clock(lambda: loc.score_pairs(Xp, i1, i2, "cosine"))
            dd, td = clock(lambda: eng.score_pairs(Xp, i1, i2, "cosine"))
            rows.append((f"score {a.pairs:,} pairs (cosine)", tl, td, float(np.max(np.abs(dl - dd)))))
            (il, dl), tl = clock(lambda: loc.topk(Q, Xp, 10, "cosine"))
            (idd, dd), td = clock(lambda: eng.topk(Q, Xp, 10, "cosine"))
            rows.append((f"top-10 of {a.queries:,} queries in {a.n_train:,} rows (cosine)", tl, td,
                         float(np.max(np.abs(dl - dd))) if np.array_equal(il, idd) else float("nan")))
            ml, tl = clock(lambda: loc.fit("lda-cosine", Xp, y, n_components=128))
            md, td = clock(lambda: eng.fit("lda-cosine", Xp, y, n_components=128))
            j = np.arange(min(100_000, a.pairs))
            diff = float(np.max(np.abs(ml.pair_distance(comp.test_X, i1[j] % Q.shape[0], i2[j] % Q.shape[0])
                                       - md.pair_distance(comp.test_X, i1[j] % Q.shape[0], i2[j] % Q.shape[0]))))
            rows.append((f"fit lda-cosine k=128 on {a.n_train:,} x 512 (statistics map-reduce)", tl, td, diff))
        finally:
            eng.close()
    load1 = os.getloadavg()
    print(f"load average after: {loadavg(load1)}")
    print(f"\n| operation | local engine (s) | dask, {a.workers} workers (s) | max abs difference |")
    print("|---|---|---|---|")
    for name, tl, td, diff in rows:
        print(f"| {name} | {tl:.1f} | {td:.1f} | {diff:.1e} |")
    print("(a top-k difference of nan would mean the neighbour lists differ)")
    if a.write is not None:
        cmd = shown_command("bench_dask_localcluster.py", argv, {"--scheduler": "ADDRESS"})
        workers = re.sub(r"^dask scheduler \S+, ", "", cluster)   # not the address: a new port each run
        where = "the scheduler at ADDRESS" if a.scheduler else f"a `LocalCluster` of {a.workers} worker processes, 1 thread each"
        lines = [
            f"<!-- written by: {cmd} -->",
            "",
            f"`{cmd}`: a `metricbench synth --like raai2019` set of {a.n_train:,} x 512 train rows "
            f"({a.n_classes:,} identities) in blocks of {a.block_rows:,} rows, on {where} "
            f"({workers}, started in {t_start:.1f} s), against the local engine in the same run, both warmed up "
            f"first. Code {commit()}, run {started} to {utc()} at niceness {os.nice(0)} on {machine()}; "
            f"load average {load0[0]:.2f} at the start, {load1[0]:.2f} at the end. Wall times of one call each.",
            "",
            f"| operation | local engine (s) | dask, {a.workers} workers (s) | max abs difference |",
            "|---|---:|---:|---:|",
        ]
        for name, tl, td, diff in rows:
            lines.append(f"| {name} | {tl:.1f} | {td:.1f} | {diff:.1e} |")
        a.write.parent.mkdir(parents=True, exist_ok=True)
        a.write.write_text("\n".join(lines) + "\n")
        print(f"wrote {a.write}")


if __name__ == "__main__":
    main()
