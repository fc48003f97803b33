"""Every command at the reference competition's full size: wall time and peak memory.

Runs, one at a time (each is a separate process under ``/usr/bin/time -v``):

1. ``metricbench synth --like raai2019`` (454,714 x 512 train, 10,575 identities; 11,605 x 512 test;
   31,444 pairs), unless ``--data`` names an existing directory;
2. ``metricbench score --metric M --data DIR`` for every metric asked (default: every
   closed-form one: the fixed distances for real vectors and the closed-form learned metrics);
3. ``metricbench evaluate`` on a few metrics;
4. ``metricbench retrieve`` of the 11,605 test rows against themselves (an 11,605-row gallery);
5. with ``--learned``, ``score`` with the iteratively learned metrics (their fit dominates).

and writes a markdown table (command, wall time, CPU time, peak RSS, exit status) to ``--table``
(default ``benchmarks/results/commands_full_size.md``) with the machine's load.

Usage::

    PYTHONPATH=. python benchmarks/bench_commands_full_size.py                 # everything closed-form
    PYTHONPATH=. python benchmarks/bench_commands_full_size.py --only synth,score:cosine-whitened
    PYTHONPATH=. python benchmarks/bench_commands_full_size.py --learned       # + lmnn, learned-cosine, verifier
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXED = ["sqeuclidean", "euclidean", "cosine", "angular", "manhattan", "chebyshev", "minkowski", "canberra",
         "braycurtis", "correlation", "seuclidean", "tanimoto", "dot"]
CLOSED_FORM = ["cosine-whitened", "zca-cosine", "wccn-cosine", "lda-cosine", "plda", "kissme", "mahalanobis"]
ITERATIVE = ["lmnn", "learned-cosine", "verifier"]


def timed(label, cmd, log):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    p = subprocess.run(["/usr/bin/time", "-v", *cmd], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", p.stderr)
    user = re.search(r"User time \(seconds\): ([\d.]+)", p.stderr)
    sys_ = re.search(r"System time \(seconds\): ([\d.]+)", p.stderr)
    cpu = (float(user.group(1)) + float(sys_.group(1))) if user and sys_ else float("nan")
    rss_gib = int(rss.group(1)) / 2**20 if rss else float("nan")
    status = p.returncode
    with open(log, "a") as fh:
        fh.write(f"\n$ {' '.join(cmd)}\n{p.stdout}{p.stderr.split(chr(9) + 'Command being timed')[0]}")
    print(f"{label:40s} {wall:8.1f} s wall {cpu:8.1f} s CPU {rss_gib:6.2f} GiB peak RSS  load {load:.1f}  "
          f"exit {status}", flush=True)
    return {"label": label, "cmd": " ".join(cmd), "wall": wall, "cpu": cpu, "rss": rss_gib, "load": load,
            "exit": status}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=None, help="existing full-size competition directory (skips synth)")
    ap.add_argument("--work", default=None, help="folder for the synthetic data and outputs (default: temp)")
    ap.add_argument("--metrics", default=",".join(FIXED + CLOSED_FORM))
    ap.add_argument("--learned", action="store_true", help="also score with " + ", ".join(ITERATIVE))
    ap.add_argument("--only", default=None, help="comma-separated labels to run (synth, score:M, evaluate, retrieve)")
    ap.add_argument("--table", default=str(ROOT / "benchmarks" / "results" / "commands_full_size.md"))
    a = ap.parse_args(argv)
    work = Path(a.work or tempfile.mkdtemp(prefix="metricbench-commands-"))
    work.mkdir(parents=True, exist_ok=True)
    log = work / "commands.log"
    mb = [sys.executable, "-m", "metricbench.cli.main"]
    data = Path(a.data) if a.data else work / "raai2019-synth"
    only = set(a.only.split(",")) if a.only else None

    def want(label):
        return only is None or label in only

    jobs = []
    if not a.data:
        jobs.append(("synth", mb + ["synth", "--like", "raai2019", "--out", str(data), "--overwrite"]))
    metrics = a.metrics.split(",") + (ITERATIVE if a.learned else [])
    for m in metrics:
        jobs.append((f"score:{m}", mb + ["score", "--metric", m, "--data", str(data), "--out",
                                         str(work / f"sub-{m}.csv")]))
    jobs.append(("evaluate", mb + ["evaluate", "--metrics", "cosine,cosine-whitened,lda-cosine", "--data", str(data),
                                   "--out", str(work / "evaluate"), "--no-plot"]))
    jobs.append(("retrieve", mb + ["retrieve", "--metric", "cosine", "-q", str(data / "test_set.npy"), "-g",
                                   str(data / "test_set.npy"), "--exclude-self", "-k", "10", "--out",
                                   str(work / "retrieve.csv")]))
    print(f"load average before: {os.getloadavg()}; cpus {os.cpu_count()}; log {log}", flush=True)
    rows = [timed(label, cmd, log) for label, cmd in jobs if want(label)]
    loads = os.getloadavg()
    print(f"load average after: {loads}")
    lines = [
        "| command | wall (s) | CPU (s) | peak RSS (GiB) | load at start | exit |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        cmd = r["cmd"].replace(sys.executable + " -m metricbench.cli.main", "metricbench").replace(str(work), "$W")
        lines.append(f"| `{cmd}` | {r['wall']:.1f} | {r['cpu']:.1f} | {r['rss']:.2f} | {r['load']:.1f} | {r['exit']} |")
    head = (f"Measured by `PYTHONPATH=. python benchmarks/bench_commands_full_size.py` on {platform.node() or 'this machine'} "
            f"({os.cpu_count()} CPUs, {platform.machine()}), one command at a time, "
            f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; `$W` = the work folder; "
            "wall time includes Python start-up and loading; the machine was shared (load average at start shown).\n\n")
    table = head + "\n".join(lines) + "\n"
    Path(a.table).parent.mkdir(parents=True, exist_ok=True)
    Path(a.table).write_text(table)
    print("\n" + table)
    print(f"wrote {a.table}")


if __name__ == "__main__":
    main()
