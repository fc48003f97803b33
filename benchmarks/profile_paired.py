"""Where the time of metricbench's paired scoring goes, phase by phase, beside the row floor.

    python benchmarks/profile_paired.py            # 1,000,000 and 10,000,000 pairs
    python benchmarks/profile_paired.py --pairs 200000 --rounds 3           # quicker

Each phase of ``metricbench.paired_distances`` is re-run on its own (same inputs, same compiled functions) and
timed in turns with the whole call and the row floor of ``benchmarks/bench_paired.py``; the median of the rounds
is printed. Phases: input checks (index conversion), ordering the pairs (the counting sort, with both index
range checks), the kernel (with the finite flags and the scatter back into the caller's order), and allocation;
beside the row floor, the row floor with each first row read once too (``bench_paired.first_row_floor``: the
memory traffic of any order that streams the first side, the ceiling of such orders). The scan of the rows
for NaN / inf that ran before the kernel until the check was fused into it is no longer timed here: its 16 MB
index copy, freed just before the next whole call, made that call's fresh allocations fault in new pages and
cost it a quarter more than in a program that scores pairs in turn. The phase times need not add up to the whole call exactly (each phase re-run alone warms or cools
the caches differently); they show where the time goes. ``--out`` writes the tables as markdown.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--pairs", type=int, nargs="+", default=[1_000_000, 10_000_000])
    ap.add_argument("--metrics", nargs="+", default=["sqeuclidean", "euclidean", "cosine"])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", help="write the tables here (markdown)")
    a = ap.parse_args(argv)

    import bench_paired as bp

    from metricbench.distances import api, drivers, paired_distances
    from metricbench.distances.registry import DISTANCES

    rng = np.random.default_rng(a.seed)
    X = rng.standard_normal((a.rows, a.dim), dtype=np.float32)
    load0 = tuple(round(v, 2) for v in os.getloadavg())
    print(f"X {a.rows:,} x {a.dim} float32, {os.cpu_count()} cores, load average {load0}, "
          f"median of {a.rounds} rounds (seconds)")
    md = []
    for n in a.pairs:
        i1 = rng.integers(0, a.rows, n)
        i2 = rng.integers(0, a.rows, n)
        floor = bp.make_run("row-floor", X, i1, i2)
        floor1 = bp.make_first_row_floor(X, i1, i2)
        for metric in a.metrics:
            code = DISTANCES[metric].code
            p, w, M = api.prepare_params(DISTANCES[metric], [X], {})
            prep = {}

            def checks():
                api.as_float_matrix(X)
                api._as_index(i1, "index1")
                api._as_index(i2, "index2")

            def order():
                prep.update(drivers.paired_plan(i1, i2, X.shape[0], X.shape[0]))

            order()

            def kernel():
                out = np.empty(n)
                drivers.paired_run(code, X, X, prep, p, w, M, out)
                return out

            def alloc():
                return np.empty(n)

            runs = {"whole call": lambda: paired_distances(X, i1, i2, metric=metric),
                    "input checks": checks, "ordering (+ range checks)": order,
                    "kernel (+ finite flags, scatter)": kernel, "allocation": alloc,
                    "row floor": floor, "row floor + first rows": floor1}
            ref = paired_distances(X, i1, i2, metric=metric, ordered=False)
            assert np.allclose(runs["whole call"](), ref, rtol=1e-6, atol=1e-9)
            for r in runs.values():
                r()
            times = {m: [] for m in runs}
            for _ in range(a.rounds):
                for m, r in runs.items():
                    t0 = time.perf_counter()
                    r()
                    times[m].append(time.perf_counter() - t0)
            med = {m: float(np.median(v)) for m, v in times.items()}
            print(f"\n{n:,} pairs, {metric}:  floor / whole call = {med['row floor'] / med['whole call']:.0%} "
                  f"(best of rounds: {min(times['row floor']) / min(times['whole call']):.0%}); "
                  f"floor + first rows / whole call = {med['row floor + first rows'] / med['whole call']:.0%}, "
                  f"/ kernel = {med['row floor + first rows'] / med['kernel (+ finite flags, scatter)']:.0%}")
            for m, v in med.items():
                print(f"  {m:<34}{v:9.4f}  {v / med['row floor']:6.2f}x floor")
            md += [f"| {n:,} | {metric} | {med['row floor'] / med['whole call']:.0%} | "
                   f"{med['row floor + first rows'] / med['whole call']:.0%} | "
                   + " | ".join(f"{med[m]:.4f} ({med[m] / med['row floor']:.2f})" for m in runs) + " |"]
    load1 = tuple(round(v, 2) for v in os.getloadavg())
    print(f"\nload average after {load1}")
    if a.out:
        import datetime as dt

        when = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        head = ["<!-- generated by benchmarks/profile_paired.py; do not edit -->", "",
                f"_{when}: `python benchmarks/profile_paired.py --pairs {' '.join(map(str, a.pairs))} --metrics "
                f"{' '.join(a.metrics)} --rounds {a.rounds}`, X {a.rows:,} x {a.dim} float32, random pairs, "
                f"{os.cpu_count()} cores, load average before {load0}, after {load1}. Seconds, median of "
                f"{a.rounds} rounds in turns; in brackets, the multiple of the row floor's time._", "",
                "| pairs | metric | floor / call | floor + first rows / call | " + " | ".join(runs) + " |",
                "|---:|---|---:|---:|" + "---:|" * len(runs)]
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        Path(a.out).write_text("\n".join(head + md) + "\n")


if __name__ == "__main__":
    main()
