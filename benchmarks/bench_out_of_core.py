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
    PYTHONPATH=. python benchmarks/bench_out_of_core.py --dir BIG --write docs/generated/out_of_core.md

With ``--write PATH`` the table, the machine, the date, the load average and the command are written
as Markdown (the table docs/scale.md includes); it is rewritten after each format, so an interrupted
run leaves the formats already measured (and names the ones missing).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _report import commit, loadavg, machine, shown_command, utc  # benchmarks/_report.py

ROOT = Path(__file__).resolve().parents[1]

CHILD = """
import json, sys, time
from metricbench.engines.local import score_pairs_file
t0 = time.perf_counter(); last = [0.0]
def progress(done, total):
    now = time.perf_counter()
    if now - last[0] > 15 or (total and done == total):
        last[0] = now
        tot = f"/{total:,}" if total else ""
        print(f"  {done:,}{tot} pairs, {now - t0:.0f} s", file=sys.stderr, flush=True)
s = score_pairs_file(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], memory=float(sys.argv[5]), progress=progress)
print("RESULT " + json.dumps({k: s[k] for k in ("n_pairs", "blocks", "chunks")}), flush=True)
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
    info = json.loads(re.search(r"^RESULT (.*)$", p.stdout, re.M).group(1))
    return wall, rss_kb / 2**20, cpu, info


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


def write_table(path, a, argv, started, info, rows, missing):
    """The Markdown docs/scale.md includes: command, machine, date, load, the table."""
    cmd = shown_command("bench_out_of_core.py", argv, {"--dir": "BIG"})
    lines = [
        f"<!-- written by: {cmd} -->",
        "",
        f"`{cmd}`{' (`BIG`: a folder with ~9 GB free)' if a.dir else ''}, code {commit()}, run {started} to {utc()} "
        f"at niceness {os.nice(0)} on "
        f"{machine()}; load average {info['load0']:.2f} at the start. Matrix {a.rows:,} x {a.dim} float32 "
        f"({info['X_bytes'] / 2**30:.2f} GiB, {info['X_bytes'] / 1e9:.2f} GB); pairs {info['sizes']}; "
        f"`memory={a.memory:g}` MiB; each format scored in its own process under `/usr/bin/time -v`, "
        f"{min(100_000, a.pairs):,} output rows sampled (seeded) and checked against `paired_distances`.",
        "",
        "| pairs file | pairs | matrix | row blocks x pair chunks | load at start | wall | CPU (s) "
        "| peak RSS (GiB) | max abs diff |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for fmt, wall, rss, cpu, err, res, load in rows:
        lines.append(f"| {fmt} | {res['n_pairs']:,} | {a.rows:,} x {a.dim} float32 | {res['blocks']} x {res['chunks']} "
                     f"| {load:.1f} | {wall} | {cpu:.0f} | **{rss:.2f}** | {err:.1e} |")
    if missing:
        lines += ["", f"Not measured (the run stopped before them): {', '.join(missing)}."]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("\n".join(lines) + "\n")
    tmp.replace(path)
    print(f"wrote {path}", flush=True)


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
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
    ap.add_argument("--write", type=Path, default=None,
                    help="write the table (with machine, date, load and command) as Markdown here")
    a = ap.parse_args(argv)
    formats = a.formats.split(",")
    work = Path(a.dir or tempfile.mkdtemp(prefix="metricbench-ooc-"))
    work.mkdir(parents=True, exist_ok=True)
    started, load0 = utc(), os.getloadavg()
    print(f"{started}; load average before: {loadavg(load0)}; {machine()}; disk free "
          f"{shutil.disk_usage(work).free / 2**30:.0f} GiB at {work}", flush=True)
    X, npy, csv = work / "X.npy", work / "pairs.npy", work / "pairs.csv"
    try:
        t0 = time.perf_counter()
        make_matrix(X, a.rows, a.dim, a.seed)
        print(f"wrote {X} ({X.stat().st_size / 1e9:.2f} GB) in {time.perf_counter() - t0:.0f} s", flush=True)
        t0 = time.perf_counter()
        make_pairs(npy, csv if "csv" in formats else None, a.rows, a.pairs, a.seed)
        sizes = ", ".join(f"`{p.name}` {p.stat().st_size / 1e9:.2f} GB" for p in (npy, csv) if p.exists())
        print(f"wrote {sizes} in {time.perf_counter() - t0:.0f} s", flush=True)
        info = {"load0": load0[0], "X_bytes": X.stat().st_size, "sizes": sizes}
        rows = []
        for k, fmt in enumerate(formats):
            out = work / f"submission-{fmt}.csv"
            load = os.getloadavg()[0]
            print(f"{utc()} {fmt}: load average {load:.2f}", flush=True)
            wall, rss, cpu, res = run_child(X, npy if fmt == "npy" else csv, out, a.metric, a.memory)
            err, n_out = check(X, npy, out, a.metric, 100_000, a.seed)
            print(f"{fmt}: {n_out:,} rows written; max |difference| vs paired_distances on 100,000 sampled pairs "
                  f"{err:.2e}; peak RSS {rss:.2f} GiB; {cpu:.0f} s CPU; wall {wall}", flush=True)
            if n_out != a.pairs:
                raise SystemExit(f"{fmt}: {n_out:,} rows written for {a.pairs:,} pairs")
            rows.append((fmt, wall, rss, cpu, err, res, load))
            out.unlink()
            if a.write is not None:
                write_table(a.write, a, argv, started, info, rows, formats[k + 1 :])
        print(f"load average after: {loadavg()}")
        print("\n| pairs file | pairs | matrix | blocks x chunks | wall | CPU (s) | peak RSS (GiB) | max abs diff (100k sampled) |")
        print("|---|---|---|---|---|---|---|---|")
        for fmt, wall, rss, cpu, err, res, load in rows:
            print(f"| {fmt} | {a.pairs:,} | {a.rows:,} x {a.dim} float32 | {res['blocks']} x {res['chunks']} | {wall} "
                  f"| {cpu:.0f} | {rss:.2f} | {err:.1e} |")
    finally:
        if not a.keep:
            for p in (X, npy, csv):
                p.unlink(missing_ok=True)
            if a.dir is None:
                shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
