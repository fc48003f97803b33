"""Out-of-core scoring: 100,000,000 pairs over a 1,000,000 x 512 float32 matrix, peak RSS measured.

Writes (in chunks, seeded) a 1,000,000 x 512 float32 ``.npy`` (2.05 GB) and the pairs twice, as an
int32 ``(n, 2)`` ``.npy`` and as an ``index1,index2,Id`` CSV, then runs
:func:`metricbench.engines.local.score_pairs_file` on each in a child process under
``/usr/bin/time -v`` (wall time, peak resident set size), checks 100,000 sampled output rows
against :func:`metricbench.distances.paired_distances`, and deletes the big files.

Usage::

    df -h /tmp                                   # needs ~9 GB free
    PYTHONPATH=. python benchmarks/bench_out_of_core.py                       # full size, both formats
    PYTHONPATH=. python benchmarks/bench_out_of_core.py --rows 100000 --pairs 2000000   # a quick look
    PYTHONPATH=. python benchmarks/bench_out_of_core.py --formats npy --keep   # keep the files
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

CHILD = """
import sys, time
from metricbench.engines.local import score_pairs_file
t0 = time.perf_counter(); last = [0.0]
def progress(done, total):
    now = time.perf_counter()
    if now - last[0] > 15 or (total and done == total):
        last[0] = now
        tot = f"/{total:,}" if total else ""
        print(f"  {done:,}{tot} pairs, {now - t0:.0f} s", file=sys.stderr, flush=True)
s = score_pairs_file(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], memory=float(sys.argv[5]), progress=progress)
print(f"RESULT {s} {time.perf_counter() - t0:.1f}", flush=True)
"""


def make_matrix(path, n, d, seed):
    rng = np.random.default_rng(seed)
    X = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, d))
    for s in range(0, n, 65536):
        blk = rng.standard_normal((min(n, s + 65536) - s, d), dtype=np.float32)
        blk /= np.linalg.norm(blk, axis=1, keepdims=True)
        X[s : s + blk.shape[0]] = blk
    X.flush()
    del X


def make_pairs(npy, csv, n_rows, n_pairs, seed, chunk=1 << 22):
    rng = np.random.default_rng(seed + 1)
    P = np.lib.format.open_memmap(npy, mode="w+", dtype=np.int32, shape=(n_pairs, 2))
    with open(csv, "w") if csv else open(os.devnull, "w") as fh:
        if csv:
            fh.write("index1,index2,Id\n")
        for s in range(0, n_pairs, chunk):
            m = min(n_pairs, s + chunk) - s
            blk = rng.integers(0, n_rows, size=(m, 2), dtype=np.int32)
            P[s : s + m] = blk
            if csv:
                import pandas as pd

                pd.DataFrame({"index1": blk[:, 0], "index2": blk[:, 1], "Id": np.arange(s, s + m)}).to_csv(
                    fh, header=False, index=False
                )
    P.flush()
    del P


def run_child(X, pairs, out, metric, memory):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    cmd = ["/usr/bin/time", "-v", sys.executable, "-c", CHILD, str(X), str(pairs), str(out), metric, str(memory)]
    print("$ " + " ".join(cmd[:3]) + " -c <score_pairs_file> " + " ".join(cmd[5:]), flush=True)
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    sys.stderr.write(p.stderr.split("\tCommand being timed")[0])
    if p.returncode:
        print(p.stdout, p.stderr)
        raise SystemExit(f"child failed ({p.returncode})")
    wall = re.search(r"Elapsed \(wall clock\) time.*: (.*)", p.stderr).group(1).strip()
    rss_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr).group(1))
    cpu = float(re.search(r"User time \(seconds\): ([\d.]+)", p.stderr).group(1)) + float(
        re.search(r"System time \(seconds\): ([\d.]+)", p.stderr).group(1))
    print(p.stdout.strip())
    return wall, rss_kb / 2**20, cpu


def check(X, npy_pairs, out, metric, n_check, seed):
    import pandas as pd

    from metricbench.distances import paired_distances

    rng = np.random.default_rng(seed + 2)
    P = np.load(npy_pairs, mmap_mode="r")
    rows = np.sort(rng.choice(P.shape[0], size=min(n_check, P.shape[0]), replace=False))
    sub = pd.read_csv(out, usecols=["Predicted"], dtype=np.float64, engine="c")["Predicted"].to_numpy()
    Xm = np.load(X, mmap_mode="r")
    ref = paired_distances(Xm, P[rows, 0], P[rows, 1], metric=metric)
    return float(np.max(np.abs(sub[rows] - ref))), sub.size


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--pairs", type=int, default=100_000_000)
    ap.add_argument("--metric", default="cosine")
    ap.add_argument("--memory", type=float, default=768, help="MiB for the matrix's two resident row blocks")
    ap.add_argument("--formats", default="npy,csv")
    ap.add_argument("--dir", default=None, help="where the big files go (default: a temp folder)")
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    formats = a.formats.split(",")
    work = Path(a.dir or tempfile.mkdtemp(prefix="metricbench-ooc-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"load average before: {os.getloadavg()}; cpus {os.cpu_count()}; disk free "
          f"{shutil.disk_usage(work).free / 2**30:.0f} GiB at {work}")
    X, npy, csv = work / "X.npy", work / "pairs.npy", work / "pairs.csv"
    try:
        t0 = time.perf_counter()
        make_matrix(X, a.rows, a.dim, a.seed)
        print(f"wrote {X} ({X.stat().st_size / 1e9:.2f} GB) in {time.perf_counter() - t0:.0f} s", flush=True)
        t0 = time.perf_counter()
        make_pairs(npy, csv if "csv" in formats else None, a.rows, a.pairs, a.seed)
        sizes = ", ".join(f"{p.name} {p.stat().st_size / 1e9:.2f} GB" for p in (npy, csv) if p.exists())
        print(f"wrote {sizes} in {time.perf_counter() - t0:.0f} s", flush=True)
        rows = []
        for fmt in formats:
            out = work / f"submission-{fmt}.csv"
            wall, rss, cpu = run_child(X, npy if fmt == "npy" else csv, out, a.metric, a.memory)
            err, n_out = check(X, npy, out, a.metric, 100_000, a.seed)
            print(f"{fmt}: {n_out:,} rows written; max |difference| vs paired_distances on 100,000 sampled pairs {err:.2e}")
            rows.append((fmt, wall, rss, cpu, err))
            out.unlink()
        print(f"load average after: {os.getloadavg()}")
        print(f"\n| pairs file | pairs | matrix | wall | CPU (s) | peak RSS (GiB) | max abs diff (100k sampled) |")
        print("|---|---|---|---|---|---|---|")
        for fmt, wall, rss, cpu, err in rows:
            print(f"| {fmt} | {a.pairs:,} | {a.rows:,} x {a.dim} float32 | {wall} | {cpu:.0f} | {rss:.2f} | {err:.1e} |")
    finally:
        if not a.keep:
            for p in (X, npy, csv):
                p.unlink(missing_ok=True)
            if a.dir is None:
                shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
