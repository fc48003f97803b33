"""CPU time of paired-kernel variants beside the row floor: what the gap between them is made of.

    OMP_WAIT_POLICY=PASSIVE python benchmarks/paired_variants.py              # 1,000,000 pairs, 9 turns
    OMP_WAIT_POLICY=PASSIVE python benchmarks/paired_variants.py --pairs 200000 --rounds 3

One process, the variants taking turns; for each, the median wall time and the median CPU time (user + system of
the process; with OMP_WAIT_POLICY=PASSIVE idle threads sleep instead of spinning, so CPU time is work done, which
on a loaded machine says more than wall time). Variants, all on the pairs sorted by index1 (plan not timed):
  floor          the row floor of benchmarks/bench_paired.py (one random row summed a pair, written in order)
  metricbench    metricbench's kernel (drivers.paired_run, sqeuclidean)
  bookkeeping    metricbench's loop (buckets, order, scatter to the caller's position) with the floor's arithmetic
  no-scatter     metricbench's loop and arithmetic, results written in visiting order
  x64-row        metricbench's loop with the first row converted to float64 once per bucket
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
    from metricbench.distances.prefetch import prefetch_row

    @njit(parallel=True, fastmath=FASTMATH, error_model="numpy")
    def variant(X, starts, a2, order, out, mode):
        n = a2.shape[0]
        nch = 2
        d = X.shape[1]
        for c in prange(nch):
            k0, k1 = c * n // nch, (c + 1) * n // nch
            b = np.searchsorted(starts, k0, side="right") - 1
            end = starts[b + 1]
            x = X[b]
            buf = np.empty(d)
            for i in range(d):
                buf[i] = x[i]
            for k in range(k0, k1):
                if k >= end:
                    while k >= starts[b + 1]:
                        b += 1
                    end = starts[b + 1]
                    x = X[b]
                    if mode == 3:
                        for i in range(d):
                            buf[i] = x[i]
                if k + 4 < n:
                    prefetch_row(X, a2[k + 4])
                y = X[a2[k]]
                s = 0.0
                if mode == 1:
                    for i in range(d):
                        s += y[i]
                elif mode == 3:
                    for i in range(d):
                        t = buf[i] - np.float64(y[i])
                        s += t * t
                else:
                    s = sqeuclidean(x, y)
                if not math.isfinite(s):
                    s = np.nan
                out[k if mode == 2 else order[k]] = s

    return variant


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--pairs", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=9)
    a = ap.parse_args(argv)

    import bench_paired as bp

    from metricbench.distances import drivers, paired_distances

    rng = np.random.default_rng(0)
    X = rng.standard_normal((a.rows, a.dim), dtype=np.float32)
    n = a.pairs
    i1, i2 = rng.integers(0, a.rows, n), rng.integers(0, a.rows, n)
    plan = drivers.paired_plan(i1, i2, a.rows, a.rows)
    variant = kernels()
    p, w, M = 2.0, np.zeros(1), np.zeros((1, 1))

    def v(mode):
        return lambda: variant(X, plan["starts"], plan["a2"], plan["order"], np.empty(n), mode)

    runs = {"floor": bp.make_run("row-floor", X, i1, i2),
            "metricbench": lambda: drivers.paired_run(0, X, X, plan, p, w, M, np.empty(n)),
            "bookkeeping": v(1), "no-scatter": v(2), "x64-row": v(3)}
    ref = paired_distances(X, i1, i2, metric="sqeuclidean")
    out = np.empty(n)
    variant(X, plan["starts"], plan["a2"], plan["order"], out, 3)
    assert np.allclose(out, ref, rtol=1e-9)
    for r in runs.values():
        r()
    wall = {m: [] for m in runs}
    cpu = {m: [] for m in runs}
    print(f"X {a.rows:,} x {a.dim} float32, {n:,} pairs, load average {os.getloadavg()}, "
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
    print(f"{'variant':<13}{'wall s':>9}{'floor/this':>12}{'cpu s':>9}{'floor/this':>12}   (medians of {a.rounds})")
    for m in runs:
        w_, c_ = np.median(wall[m]), np.median(cpu[m])
        print(f"{m:<13}{w_:9.4f}{fw / w_:12.0%}{c_:9.4f}{fc / c_:12.0%}")
    print(f"load average after {os.getloadavg()}")


if __name__ == "__main__":
    main()
