"""Paired distances on random pairs: metricbench against the usual alternatives, in one run.

    python benchmarks/bench_paired.py                 # 100,000 x 512 float32, 1,000,000 pairs
    python benchmarks/bench_paired.py --rows 20000 --pairs 200000   # quicker

Contenders (squared Euclidean, results checked equal):
  metricbench   metricbench.paired_distances (pairs visited sorted by index1, results in caller order)
  numba-plain   a plain numba prange loop over the pairs in their given order (written here as the reference)
  numpy-gather  ((X[i] - X[j]) ** 2).sum(1), the vectorised gather
  python-loop   the competition baseline's per-row Python loop (timed on a subset, extrapolated)
  l3-blocked    (timed in turns only) pairs ordered by blocks of the second side that fit the L3 cache
                (``--block-mib``), by index1 within a block: the second side then comes from cache, but the
                first is re-streamed once per block. Kept to show why metricbench does not do this.
  row-floor     not a contender: one random row read per pair and summed, no second row, no arithmetic
                on pairs, pairs already sorted (ordering not timed), rows prefetched with metricbench's own
                hints (metricbench.distances.prefetch: into L2 PREFETCH_DISTANCE pairs ahead, then into L1
                L1_DISTANCE pairs ahead, as drivers.paired_buckets does), so a better hint speeds up both. Any order that streams one side still
                reads one random row a pair, so this is the fastest such a method can be on this machine;
                plain / row-floor is the largest speed-up over the plain loop that is attainable here.
Each contender runs in its own subprocess so that its peak memory (ru_maxrss) is its own.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def plain_numba():
    from numba import njit, prange

    @njit(parallel=True, fastmath=True, cache=False)
    def plain(X, i1, i2, out):
        for t in prange(i1.shape[0]):
            a = X[i1[t]]
            b = X[i2[t]]
            s = 0.0
            for k in range(a.shape[0]):
                d = np.float64(a[k]) - np.float64(b[k])
                s += d * d
            out[t] = s

    return plain


def row_floor():
    from numba import njit, prange

    from metricbench.distances.drivers import L1_DISTANCE as L1
    from metricbench.distances.drivers import PREFETCH_DISTANCE as PD
    from metricbench.distances.prefetch import prefetch_row, prefetch_row_l1

    @njit(parallel=True, fastmath=True, cache=False)
    def floor(Y, a2, out):
        n = a2.shape[0]
        for t in prange(n):
            if t + PD < n:
                prefetch_row(Y, a2[t + PD])
            if t + L1 < n:
                prefetch_row_l1(Y, a2[t + L1])
            y = Y[a2[t]]
            s = 0.0
            for k in range(y.shape[0]):
                s += y[k]
            out[t] = s

    return floor


def first_row_floor():
    """The row floor plus each first row read once (summed once a bucket): the memory traffic of any order
    that streams the first side (one random second row a pair and every first row once), with no arithmetic
    on pairs and nothing written back in the caller's order. Not a contender: the ceiling of such orders,
    which the row floor leaves the first rows out of."""
    from numba import njit, prange

    from metricbench.distances.drivers import L1_DISTANCE as L1
    from metricbench.distances.drivers import PREFETCH_DISTANCE as PD
    from metricbench.distances.prefetch import prefetch_row, prefetch_row_l1

    @njit(parallel=True, fastmath=True, cache=False)
    def floor1(X, starts, a2, out):
        n = a2.shape[0]
        for b in prange(starts.shape[0] - 1):
            if starts[b] == starts[b + 1]:
                continue
            x = X[b]
            xs = 0.0
            for k in range(x.shape[0]):
                xs += x[k]
            for t in range(starts[b], starts[b + 1]):
                if t + PD < n:
                    prefetch_row(X, a2[t + PD])
                if t + L1 < n:
                    prefetch_row_l1(X, a2[t + L1])
                y = X[a2[t]]
                s = xs
                for k in range(y.shape[0]):
                    s += y[k]
                out[t] = s

    return floor1


def make_first_row_floor(X, i1, i2):
    """A callable running :func:`first_row_floor` on these pairs (sorted and bucketed here, not timed)."""
    f = first_row_floor()
    order = np.argsort(i1, kind="stable")
    a2 = np.ascontiguousarray(i2[order])
    starts = np.concatenate([[0], np.cumsum(np.bincount(i1, minlength=X.shape[0]))]).astype(np.int64)

    def run():
        out = np.empty(i1.size)
        f(X, starts, a2, out)
        return out

    return run


def blocked_numba():
    from numba import njit, prange

    from metricbench.distances.kernels import sqeuclidean  # metricbench's arithmetic, another visiting order
    from metricbench.distances.prefetch import prefetch_row, prefetch_row_l1

    @njit(parallel=True, fastmath=True, cache=False)
    def blocked(X, a1, a2, order, starts, out):
        for b in range(starts.shape[0] - 1):  # blocks one after the other, both threads in each
            s0, s1 = starts[b], starts[b + 1]
            for t in prange(s0, s1):
                if t + 4 < s1:
                    prefetch_row(X, a2[t + 4])
                if t + 2 < s1:
                    prefetch_row_l1(X, a2[t + 2])
                out[order[t]] = sqeuclidean(X[a1[t]], X[a2[t]])

    return blocked


def numpy_paired(A, B, metric: str):
    """The vectorised numpy formula on gathered rows (float64)."""
    A = A.astype(np.float64)
    if metric == "cosine":
        B = B.astype(np.float64)
        num = (A * B).sum(1)
        den = np.sqrt((A * A).sum(1) * (B * B).sum(1))
        return np.clip(1.0 - num / den, 0.0, 2.0)
    s = ((A - B) ** 2).sum(1)
    return np.sqrt(s) if metric == "euclidean" else s


def make_run(method: str, X, i1, i2, block_mib: float = 16.0, metric: str = "sqeuclidean"):
    """A no-argument callable that computes the method's result on all pairs (or a subset: see python-loop).

    ``metric`` (sqeuclidean, euclidean or cosine) applies to metricbench, numpy-gather, python-loop and
    numba-plain (for other than sqeuclidean: metricbench's own kernel in the given order); the row floor
    has no metric.
    """
    if method == "row-floor-first":
        return make_first_row_floor(X, i1, i2)
    if method == "l3-blocked":
        from metricbench.distances.drivers import counting_order

        blocked = blocked_numba()
        rows = max(1, int(block_mib * 2**20 // (X.shape[1] * X.itemsize)))
        nb = (X.shape[0] + rows - 1) // rows

        def run():
            o1 = counting_order(i1, X.shape[0])  # by index1, then stably by block of index2
            o2 = counting_order(i2[o1] // rows, nb)
            order = o1[o2]
            a1, a2 = i1[order], i2[order]
            starts = np.searchsorted(a2 // rows, np.arange(nb + 1))
            out = np.empty(i1.size)
            blocked(X, a1, a2, order, starts, out)
            return out

        return run

    if method == "metricbench":
        from metricbench.distances import paired_distances

        def run():
            return paired_distances(X, i1, i2, metric=metric)
    elif method == "numba-plain" and metric != "sqeuclidean":
        from metricbench.distances import drivers
        from metricbench.distances.codes import CODES

        code, p, w, M = CODES[metric], 2.0, np.zeros(1), np.zeros((1, 1))

        def run():
            out = np.empty(i1.size)
            drivers.paired_plain(code, X, X, i1, i2, p, w, M, out)
            return out
    elif method == "numba-plain":
        plain = plain_numba()

        def run():
            out = np.empty(i1.size)
            plain(X, i1, i2, out)
            return out
    elif method == "row-floor":
        floor = row_floor()
        a2 = np.ascontiguousarray(i2[np.argsort(i1, kind="stable")])

        def run():
            out = np.empty(i1.size)
            floor(X, a2, out)
            return out
    elif method == "numpy-gather":
        def run():
            return numpy_paired(X[i1], X[i2], metric)
    elif method == "python-loop":
        n_sub = min(i1.size, 20000)

        def run():
            out = np.empty(n_sub)
            for t in range(n_sub):  # the baseline: one pair at a time in Python
                a, b = X[i1[t]], X[i2[t]]
                if metric == "cosine":
                    out[t] = 1.0 - (a @ b) / np.sqrt((a @ a) * (b @ b))
                else:
                    s = ((a - b) ** 2).sum()
                    out[t] = np.sqrt(s) if metric == "euclidean" else s
            return out
    else:
        raise SystemExit(f"unknown method {method}")
    return run


def interleaved(xpath: str, ipath: str, rounds: int, block_mib: float) -> dict:
    """The numba contenders timed in one process, in turns: each round runs each once.

    This machine's memory speed drifts from minute to minute (other tenants of the host); taking turns puts every
    contender under the same conditions, so the ratios are steadier than those of separate processes.
    """
    X = np.load(xpath)
    idx = np.load(ipath)
    i1, i2 = idx[0], idx[1]
    names = ("metricbench", "numba-plain", "row-floor", "l3-blocked")
    runs = {m: make_run(m, X, i1, i2, block_mib) for m in names}
    ref = runs["metricbench"]()
    for m, r in runs.items():
        res = r()  # warm-up
        if m == "l3-blocked" and not np.allclose(res, ref, rtol=1e-6):
            raise SystemExit("l3-blocked disagrees with metricbench")
    times = {m: [] for m in names}
    for _ in range(rounds):
        for m in names:
            t0 = time.perf_counter()
            runs[m]()
            times[m].append(time.perf_counter() - t0)
    return {m: {"best": min(v), "median": float(np.median(v))} for m, v in times.items()}


def worker(method: str, xpath: str, ipath: str, repeats: int) -> dict:
    X = np.load(xpath)  # in memory, as a user would hold it
    idx = np.load(ipath)
    i1, i2 = idx[0], idx[1]
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    run = make_run(method, X, i1, i2)
    res = run()  # warm-up (numba compilation, page faults)
    times = []
    for _ in range(repeats if method != "python-loop" else 1):
        t0 = time.perf_counter()
        res = run()
        times.append(time.perf_counter() - t0)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # before the check below gathers
    n_done = res.size
    if method == "row-floor":  # not a distance: nothing to check
        best = min(times)
        return {"method": method, "seconds": best, "extrapolated": False, "pairs_per_s": n_done / best,
                "extra_peak_mib": (peak - base_rss) / 1024.0, "correct": None}
    ref = np.empty(n_done)
    for s in range(0, n_done, 65536):
        e = min(n_done, s + 65536)
        ref[s:e] = ((X[i1[s:e]].astype(np.float64) - X[i2[s:e]]) ** 2).sum(1)
    ok = bool(np.allclose(res, ref, rtol=1e-5))
    best = min(times)
    return {
        "method": method,
        "seconds": best * (i1.size / n_done),
        "extrapolated": n_done < i1.size,
        "pairs_per_s": n_done / best,
        "extra_peak_mib": (peak - base_rss) / 1024.0,
        "correct": ok,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--pairs", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=15, help="turns of the interleaved numba timing")
    ap.add_argument("--block-mib", type=float, default=16.0, help="second-side block of l3-blocked (MiB)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--files", nargs=2, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker == "interleaved":
        print(json.dumps(interleaved(a.files[0], a.files[1], a.rounds, a.block_mib)))
        return
    if a.worker:
        print(json.dumps(worker(a.worker, a.files[0], a.files[1], a.repeats)))
        return
    rng = np.random.default_rng(a.seed)
    with tempfile.TemporaryDirectory() as tmp:
        xpath, ipath = Path(tmp) / "x.npy", Path(tmp) / "i.npy"
        np.save(xpath, rng.standard_normal((a.rows, a.dim), dtype=np.float32))
        np.save(ipath, rng.integers(0, a.rows, size=(2, a.pairs)))
        print(f"X {a.rows} x {a.dim} float32 ({a.rows * a.dim * 4 / 2**20:.0f} MiB), {a.pairs:,} random pairs, "
              f"seed {a.seed}, {os.cpu_count()} cores, best of {a.repeats}")
        results = {}
        for method in ("metricbench", "numba-plain", "numpy-gather", "python-loop", "row-floor"):
            out = subprocess.run(
                [sys.executable, __file__, "--worker", method, "--files", str(xpath), str(ipath),
                 "--repeats", str(a.repeats)],
                capture_output=True, text=True,
            )
            if out.returncode != 0:
                raise SystemExit(f"{method} failed:\n{out.stderr}")
            results[method] = json.loads(out.stdout.strip().splitlines()[-1])
        out = subprocess.run(
            [sys.executable, __file__, "--worker", "interleaved", "--files", str(xpath), str(ipath),
             "--rounds", str(a.rounds), "--block-mib", str(a.block_mib)],
            capture_output=True, text=True,
        )
        if out.returncode != 0:
            raise SystemExit(f"interleaved timing failed:\n{out.stderr}")
        turns = json.loads(out.stdout.strip().splitlines()[-1])
    mb = results["metricbench"]["seconds"]
    print(f"{'method':<14}{'seconds':>10}{'Mpairs/s':>10}{'extra peak MiB':>16}{'vs metricbench':>16}  correct")
    for m, r in results.items():
        note = " (extrapolated from 20,000 pairs)" if r["extrapolated"] else ""
        ok = "-" if r["correct"] is None else r["correct"]
        print(f"{m:<14}{r['seconds']:>10.3f}{a.pairs / r['seconds'] / 1e6:>10.2f}{r['extra_peak_mib']:>16.0f}"
              f"{r['seconds'] / mb:>15.2f}x  {ok}{note}")
    print(f"metricbench speed-up: {results['numba-plain']['seconds'] / mb:.2f}x the plain numba loop "
          f"(target >= 2.5), {results['numpy-gather']['seconds'] / mb:.1f}x the numpy gather (target >= 10), "
          f"{results['python-loop']['seconds'] / mb:.0f}x the Python loop")
    print(f"\nnumba contenders in turns, one process, {a.rounds} rounds (seconds, best / median):")
    for m, r in turns.items():
        print(f"  {m:<12} {r['best']:.3f} / {r['median']:.3f}")
    tb = {m: r["best"] for m, r in turns.items()}
    tm = {m: r["median"] for m, r in turns.items()}
    print(f"in turns: metricbench {tb['numba-plain'] / tb['metricbench']:.2f}x the plain loop (best), "
          f"{tm['numba-plain'] / tm['metricbench']:.2f}x (median); the plain loop takes "
          f"{tb['numba-plain'] / tb['row-floor']:.2f}x the row floor, metricbench "
          f"{tb['metricbench'] / tb['row-floor']:.2f}x")
    fl = results["row-floor"]["seconds"]
    print(f"attainable here: the plain loop takes {results['numba-plain']['seconds'] / fl:.2f}x the row floor "
          f"(one random row a pair, {a.pairs / fl / 1e6:.1f} M rows/s); metricbench runs at "
          f"{fl / mb:.0%} of the floor's speed")


if __name__ == "__main__":
    main()
