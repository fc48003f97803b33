"""CPU time of paired-kernel variants beside the row floor: what the gap between them is made of.

    OMP_WAIT_POLICY=PASSIVE python benchmarks/paired_variants.py              # 1,000,000 pairs, 9 turns
    OMP_WAIT_POLICY=PASSIVE python benchmarks/paired_variants.py --pairs 200000 --rounds 3

One process, the variants taking turns; for each, the median wall time and the median CPU time (user + system of
the process; with OMP_WAIT_POLICY=PASSIVE idle threads sleep instead of spinning, so CPU time is work done, which
on a loaded machine says more than wall time). Variants, all on the pairs sorted by index1 (plan not timed, except
in "ordering"):
  floor          the row floor of benchmarks/bench_paired.py (one random row summed a pair, written in order)
  sqeuclidean, euclidean, cosine
                 metricbench's kernel (drivers.paired_run) for that distance
  bookkeeping    metricbench's loop (buckets, packed pairs, scatter to the caller's position) with the floor's
                 arithmetic (the second row summed); the first rows are not read
  + first rows   the same, and each bucket's first row read (summed once a bucket): the memory traffic of
                 metricbench's order, the arithmetic of the floor
  no-scatter     metricbench's loop and sqeuclidean arithmetic, results written in visiting order
  float32-arith  metricbench's loop with sqeuclidean summed in float32: NOT a candidate (about 1e-7 relative error,
                 where the tests hold 1e-10 of scipy and near-duplicates must keep their order), only the size of
                 what float64 arithmetic on two rows costs
  no L1 hint     metricbench's loop and sqeuclidean arithmetic with the L2 hint only, as the kernel was before
                 drivers.L1_DISTANCE (the row needed two pairs later moved on into L1)
  ordering       drivers.paired_plan (the serial counting sort, with the range checks)
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))


def kernels():
    from numba import njit, prange

    from metricbench.distances.kernels import FASTMATH, sqeuclidean
    from metricbench.distances.prefetch import prefetch_row, prefetch_row_l1

    @njit(fastmath=FASTMATH, error_model="numpy", inline="always")
    def sq32(x, y):
        t = np.float32(0.0)
        for i in range(x.shape[0]):
            u = x[i] - y[i]
            t += u * u
        return np.float64(t)

    @njit(parallel=True, fastmath=FASTMATH, error_model="numpy")
    def variant(X, starts, packed, bits, out, mode):
        n = packed.shape[0]
        mask = (np.int64(1) << bits) - 1
        nch = 2
        d = X.shape[1]
        for c in prange(nch):
            k0, k1 = c * n // nch, (c + 1) * n // nch
            b = np.searchsorted(starts, k0, side="right") - 1
            end = starts[b + 1]
            x = X[b]
            xs = 0.0
            for k in range(k0, k1):
                if k >= end:
                    while k >= starts[b + 1]:
                        b += 1
                    end = starts[b + 1]
                    x = X[b]
                    if mode == 4:
                        xs = 0.0
                        for i in range(d):
                            xs += x[i]
                if k + 4 < n:
                    prefetch_row(X, packed[k + 4] & mask)
                if k + 2 < n and mode != 5:
                    prefetch_row_l1(X, packed[k + 2] & mask)
                v = packed[k]
                y = X[v & mask]
                s = 0.0
                if mode == 1 or mode == 4:
                    for i in range(d):
                        s += y[i]
                    s += xs
                elif mode == 3:
                    s = sq32(x, y)
                else:
                    s = sqeuclidean(x, y)
                if not math.isfinite(s):
                    s = np.nan
                out[k if mode == 2 else v >> bits] = s

    return variant


#: what each variant is, for the written table
WHAT = {
    "floor": "row floor",
    "sqeuclidean": "metricbench's kernel, sqeuclidean",
    "euclidean": "metricbench's kernel, euclidean",
    "cosine": "metricbench's kernel, cosine",
    "bookkeeping": "metricbench's loop with the floor's arithmetic (buckets, packed pairs, scatter)",
    "+ first rows": "the same, also reading each bucket's first row",
    "no-scatter": "the loop with sqeuclidean's float64 arithmetic, results written in visiting order (no scatter)",
    "float32-arith": "the kernel with sqeuclidean summed in float32 (not a candidate)",
    "no L1 hint": "the loop with sqeuclidean's float64 arithmetic and the L2 hint only (the kernel before the L1 hint)",
    "ordering": "ordering (the serial counting sort with the range checks)",
}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--pairs", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--out", help="also write the table here (markdown)")
    a = ap.parse_args(argv)

    import bench_paired as bp

    from metricbench.distances import drivers, paired_distances
    from metricbench.distances.codes import CODES

    rng = np.random.default_rng(0)
    X = rng.standard_normal((a.rows, a.dim), dtype=np.float32)
    n = a.pairs
    i1, i2 = rng.integers(0, a.rows, n), rng.integers(0, a.rows, n)
    plan = drivers.paired_plan(i1, i2, a.rows, a.rows)
    assert plan["packed"].size == n and plan["rows"].size == 0, "the variants read a dense, packed plan"
    variant = kernels()
    p, w, M = 2.0, np.zeros(1), np.zeros((1, 1))

    def v(mode):
        return lambda: variant(X, plan["starts"], plan["packed"], plan["bits"], np.empty(n), mode)

    def mb(metric):
        return lambda: drivers.paired_run(CODES[metric], X, X, plan, p, w, M, np.empty(n))

    runs = {"floor": bp.make_run("row-floor", X, i1, i2),
            "sqeuclidean": mb("sqeuclidean"), "euclidean": mb("euclidean"), "cosine": mb("cosine"),
            "bookkeeping": v(1), "+ first rows": v(4), "no-scatter": v(2), "float32-arith": v(3), "no L1 hint": v(5),
            "ordering": lambda: drivers.paired_plan(i1, i2, a.rows, a.rows)}
    ref = paired_distances(X, i1, i2, metric="sqeuclidean")
    out = np.empty(n)
    variant(X, plan["starts"], plan["packed"], plan["bits"], out, 0)
    assert np.allclose(out, ref, rtol=1e-12)
    for r in runs.values():
        r()
    wall = {m: [] for m in runs}
    cpu = {m: [] for m in runs}
    load0 = os.getloadavg()
    print(f"X {a.rows:,} x {a.dim} float32, {n:,} pairs, load average {load0[0]:.2f}, "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '(unset)')}")
    for _ in range(a.rounds):
        for m, r in runs.items():
            u0 = resource.getrusage(resource.RUSAGE_SELF)
            t0 = time.perf_counter()
            r()
            wall[m].append(time.perf_counter() - t0)
            u1 = resource.getrusage(resource.RUSAGE_SELF)
            cpu[m].append(u1.ru_utime - u0.ru_utime + u1.ru_stime - u0.ru_stime)
    fw, fc = np.median(wall["floor"]), np.median(cpu["floor"])
    load0 = ", ".join(f"{v:.2f}" for v in load0)
    print(f"{'variant':<15}{'wall s':>9}{'floor/this':>12}{'cpu s':>9}{'this/floor':>12}   (medians of {a.rounds})")
    md = []
    for m in runs:
        w_, c_ = np.median(wall[m]), np.median(cpu[m])
        print(f"{m:<15}{w_:9.4f}{fw / w_:12.0%}{c_:9.4f}{c_ / fc:12.2f}")
        md.append(f"| {WHAT.get(m, m)} | {w_:.4f} | {fw / w_:.0%} | {c_:.4f} | {c_ / fc:.2f} |")
    load1 = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    print(f"load average after {load1}")
    if a.out:
        import datetime as dt

        when = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        head = ["<!-- generated by benchmarks/paired_variants.py; do not edit -->", "",
                f"_{when}: `OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '(unset)')} python "
                f"benchmarks/paired_variants.py --pairs {n} --rounds {a.rounds}`, X {a.rows:,} x {a.dim} float32, "
                f"{n:,} random pairs, {os.cpu_count()} cores, load average before {load0}, after {load1}. "
                f"Medians of {a.rounds} rounds in turns._", "",
                "| variant | wall (s) | floor / this (wall) | CPU (s) | this / floor (CPU) |",
                "|---|---:|---:|---:|---:|"]
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        Path(a.out).write_text("\n".join(head + md) + "\n")


if __name__ == "__main__":
    main()
