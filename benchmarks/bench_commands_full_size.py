"""Every command at the reference competition's full size: wall time, CPU time and peak memory.

Runs, one at a time, each in its own process under ``/usr/bin/time -v``:

1. ``metricbench synth --like raai2019`` (454,714 x 512 train, 10,575 identities; 11,605 x 512 test;
   31,444 pairs), unless ``--data`` names an existing directory;
2. ``metricbench score --metric M --data DIR --json`` for every closed-form metric of the registry
   (:func:`closed_form_metrics`: every fixed distance, and the learned metrics fitted in closed form:
   the statistics-based ones, ``within-mahalanobis`` and metric-learn's ``ml-covariance`` / ``ml-lfda``),
   with the default validation (a fit on 80 % of the identities, which also chooses the ``auto``
   parameters) then the fit on all train rows and the test pairs;
3. ``metricbench evaluate`` of three metrics;
4. ``metricbench retrieve`` of the 11,605 test rows against themselves (an 11,605-row gallery);
5. the iteratively learned metrics (``learned-cosine``, ``lmnn``, ``verifier``, ``fusion``) by
   ``metricbench score --no-validate`` (one fit on all train rows, at their default iterations, then the
   test pairs).

Each finished command is appended to ``WORK/commands.jsonl``, so an interrupted run resumes with
``--resume`` (commands done are kept, not rerun). The markdown table (command, wall time, CPU time,
peak RSS, test AUROC, load at the start, exit status) goes to ``--table`` (default
``docs/generated/commands_full_size.md``, included by ``docs/scale.md``) with the machine and its load.

Usage::

    env PYTHONPATH=. python benchmarks/bench_commands_full_size.py --data DIR --work W
    PYTHONPATH=. python benchmarks/bench_commands_full_size.py --only synth,score:cosine-whitened
    PYTHONPATH=. python benchmarks/bench_commands_full_size.py --data DIR --work W --resume   # after a stop
    PYTHONPATH=. python benchmarks/bench_commands_full_size.py --data DIR --generate --only synth  # (re)write DIR
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/_report.py
from _report import loadavg  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
ITERATIVE = ["learned-cosine", "lmnn", "verifier", "fusion"]
#: learned metrics fitted in closed form that are not statistics-based (StatsFitted) classes
CLOSED_FORM_OTHERS = ["within-mahalanobis", "ml-covariance", "ml-lfda"]


def closed_form_metrics() -> list[str]:
    """Every fixed distance of the registry, then its learned metrics fitted in closed form."""
    from metricbench.learn.base import StatsFitted
    from metricbench.registry import registry

    fixed, learned = [], []
    for info in registry().values():
        if info.kind == "distance":
            fixed.append(info.name)
        elif issubclass(info.load_class(), StatsFitted) or info.name in CLOSED_FORM_OTHERS:
            learned.append(info.name)
    return fixed + learned


def closed_form_fixed() -> set[str]:
    from metricbench.registry import registry

    return set(registry("distance"))


def machine() -> str:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem = next(ln for ln in Path("/proc/meminfo").read_text().splitlines() if ln.startswith("MemTotal"))
        gib = int(mem.split()[1]) / 2**20
    except (OSError, StopIteration):
        gib = float("nan")
    return f"{platform.node() or 'this machine'}: {os.cpu_count()} CPUs ({cpu}), {gib:.0f} GiB RAM, {platform.system()}"


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return f"load average {loadavg()}"


def timed(label, cmd, log, timeout, lock=None):
    """Run ``cmd`` under ``/usr/bin/time -v`` (holding the ``flock`` of ``lock`` while it runs)."""
    import fcntl

    env = dict(os.environ, PYTHONPATH=str(ROOT))
    with open(lock or os.devnull, "a") as lk:
        if lock:
            fcntl.flock(lk, fcntl.LOCK_EX)  # waits for whoever holds it
        load = os.getloadavg()[0]
        t0 = time.perf_counter()
        # its own session, so that a timeout stops the command itself, not only /usr/bin/time
        p = subprocess.Popen(["/usr/bin/time", "-v", *cmd], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, start_new_session=True)
        try:
            out, err = p.communicate(timeout=timeout)
            status = p.returncode
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            out, err = p.communicate()
            status = f"stopped after {timeout:.0f} s"
        wall = time.perf_counter() - t0
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", err)
    user = re.search(r"User time \(seconds\): ([\d.]+)", err)
    sys_ = re.search(r"System time \(seconds\): ([\d.]+)", err)
    cpu = (float(user.group(1)) + float(sys_.group(1))) if user and sys_ else None
    rss_gib = int(rss.group(1)) / 2**20 if rss else None
    auroc = None
    if "--json" in cmd and status == 0:
        try:
            auroc = json.loads(out[out.index("{"):]).get("test", {}).get("auroc")
        except (ValueError, AttributeError):
            auroc = None
    with open(log, "a") as fh:
        fh.write(f"\n$ {' '.join(cmd)}\n{out}{err.split(chr(9) + 'Command being timed')[0]}")
    row = {"label": label, "cmd": " ".join(cmd), "wall": wall, "cpu": cpu, "rss": rss_gib, "load": load,
           "exit": status, "auroc": auroc, "at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    print(f"{label:32s} {wall:8.1f} s wall {cpu or float('nan'):8.1f} s CPU {rss_gib or float('nan'):6.2f} GiB  "
          f"load {load:.1f}  AUROC {auroc}  exit {status}", flush=True)
    return row


def _f(v, fmt):
    return "-" if v is None else format(v, fmt)


def write_table(rows, path, work, head_lines, data=None):
    lines = [
        "| command | wall (s) | CPU (s) | peak RSS (GiB) | test AUROC | load at start | exit |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        cmd = r["cmd"].replace(sys.executable + " -m metricbench.cli.main", "metricbench").replace(str(work), "$W")
        cmd = re.sub(r"\S*python\S* -m metricbench\.cli\.main", "metricbench", cmd)  # another interpreter's path
        if data is not None:
            cmd = cmd.replace(str(data), "DIR")
        lines.append(f"| `{cmd}` | {r['wall']:.1f} | {_f(r['cpu'], '.1f')} | {_f(r['rss'], '.2f')} | "
                     f"{_f(r['auroc'], '.4f')} | {r['load']:.1f} | {r['exit']} |")
    text = "\n".join(head_lines) + "\n\n" + "\n".join(lines) + "\n"
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text("<!-- generated by benchmarks/bench_commands_full_size.py; do not edit -->\n" + text)
    return text


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=None, help="existing full-size competition directory (skips synth)")
    ap.add_argument("--generate", action="store_true", help="(re)write --data with metricbench synth first (timed)")
    ap.add_argument("--work", default=None, help="folder for the outputs and commands.jsonl (default: temp)")
    ap.add_argument("--metrics", default=None, help="score these (default: every closed-form metric)")
    ap.add_argument("--no-learned", action="store_true", help="skip " + ", ".join(ITERATIVE))
    ap.add_argument("--only", default=None, help="comma-separated labels to run (synth, score:M, evaluate, retrieve)")
    ap.add_argument("--resume", action="store_true", help="keep the commands already in WORK/commands.jsonl")
    ap.add_argument("--timeout", type=float, default=3600.0, help="seconds per command before it is stopped")
    ap.add_argument("--deadline", default=None,
                    help="HH:MM (UTC, today): start no command after it, and stop a command that runs past it")
    ap.add_argument("--lock", default=None,
                    help="hold flock(LOCK) during each command (a machine shared with other benchmarks)")
    ap.add_argument("--table", default=str(ROOT / "docs" / "generated" / "commands_full_size.md"))
    a = ap.parse_args(argv)
    work = Path(a.work or tempfile.mkdtemp(prefix="metricbench-commands-"))
    work.mkdir(parents=True, exist_ok=True)
    log, done_file = work / "commands.log", work / "commands.jsonl"
    mb = [sys.executable, "-m", "metricbench.cli.main"]
    data = Path(a.data) if a.data else work / "raai2019-synth"
    only = set(a.only.split(",")) if a.only else None
    done = {}
    if a.resume and done_file.exists():
        for line in done_file.read_text().splitlines():
            r = json.loads(line)
            done[r["label"]] = r
    elif done_file.exists():
        done_file.unlink()

    jobs = []
    if not a.data or a.generate:
        jobs.append(("synth", mb + ["synth", "--like", "raai2019", "--out", str(data), "--overwrite"]))
    metrics = a.metrics.split(",") if a.metrics else closed_form_metrics()
    # the issue's headline command first, then the distances the docs compare, the learned closed-form
    # metrics, the other fixed distances (a run stopped by its deadline measures what matters most)
    first = ["cosine-whitened", "cosine", "euclidean", "mahalanobis"]
    fixed = closed_form_fixed()
    metrics.sort(key=lambda m: (first.index(m) if m in first else len(first), m in fixed))
    for m in metrics:
        jobs.append((f"score:{m}", mb + ["score", "--metric", m, "--data", str(data), "--json", "--force",
                                         "--out", str(work / f"sub-{m}.csv")]))
    retrieve = ("retrieve", mb + ["retrieve", "--metric", "cosine", "-q", str(data / "test_set.npy"), "-g",
                                  str(data / "test_set.npy"), "--exclude-self", "-k", "10", "--out",
                                  str(work / "retrieve.csv"), "--force"])
    labels = [label for label, _ in jobs]
    jobs.insert(labels.index("score:cosine") + 1 if "score:cosine" in labels else len(jobs), retrieve)
    jobs.append(("evaluate", mb + ["evaluate", "--metrics", "cosine,cosine-whitened,lda-cosine", "--data", str(data),
                                   "--out", str(work / "evaluate"), "--no-plot"]))
    if not a.no_learned:
        for m in ITERATIVE:
            jobs.append((f"fit:{m}", mb + ["score", "--metric", m, "--data", str(data), "--no-validate", "--json",
                                           "--force", "--out", str(work / f"sub-{m}.csv")]))
    # the load when the measuring began (kept when a later --resume only adds rows or rewrites the table)
    start_file = work / "start_uptime.txt"
    if not (a.resume and start_file.exists()):
        start_file.write_text(uptime())
    start_up = start_file.read_text().strip()
    print(f"{start_up}; {machine()}; log {log}", flush=True)

    def table():
        rows = [done[label] for label, _ in jobs if label in done]
        missing = [label for label, _ in jobs if label not in done]
        man = json.loads((data / "manifest.json").read_text()) if (data / "manifest.json").exists() else {}
        gain = man.get("model", {}).get("gain")
        ats = sorted(r["at"] for r in rows)
        head = [
            f"Measured by `PYTHONPATH=. python benchmarks/bench_commands_full_size.py --data DIR --work $W"
            f"{' --generate' if a.generate else ''}{' --lock LOCK' if a.lock else ''}` on {machine()}, "
            f"{ats[0] if ats else '?'} to {ats[-1] if ats else '?'}; one command at a time, each in its own process "
            "under `/usr/bin/time -v`; wall time includes Python start-up and loading the data.",
            "",
            f"- Data: `metricbench synth --like raai2019` ({man.get('n_train_rows', 0):,} x {man.get('dim', 0)} "
            f"train rows of {man.get('n_train_identities', 0):,} identities, {man.get('n_test_rows', 0):,} test "
            f"rows, {man.get('n_test_pairs', 0):,} pairs; seed {man.get('seed', '?')}, noise gain "
            f"{'?' if gain is None else round(gain, 3)})." if man else f"- Data: {data}",
            f"- Load: `uptime` at the start of this run: `{start_up}`; when the table was written: `{uptime()}`. "
            "The machine is shared (other people's jobs ran beside it): compare CPU times and peak memory; wall "
            "times depend on the load shown per row.",
            "- `score` rows run the identity-disjoint validation (a fit on 80 % of the identities, choosing the "
            "`auto` parameters) and then the fit on all train rows; `fit:` rows are `score --no-validate` of the "
            "iteratively learned metrics (one fit on all train rows at their default iterations, then the test "
            "pairs). Test AUROC is `score --json`'s, on the synthetic test pairs.",
        ]
        if missing:
            head.append("- **Not measured** (not run in the time there was): "
                        + ", ".join(f"`{m}`" for m in missing) + ".")
        return write_table(rows, a.table, work, head, data)

    end = None
    if a.deadline:
        hh, mm = (int(v) for v in a.deadline.split(":"))
        now = time.gmtime()
        end = time.time() + ((hh * 60 + mm) - (now.tm_hour * 60 + now.tm_min)) * 60 - now.tm_sec
    for label, cmd in jobs:
        if label in done or (only is not None and label not in only):
            continue
        limit = a.timeout if end is None else min(a.timeout, end - time.time())
        if end is not None and limit < 30:
            print(f"deadline {a.deadline} UTC reached: {label} and the rest not run", flush=True)
            break
        done[label] = timed(label, cmd, log, limit, a.lock)
        with open(done_file, "a") as fh:
            fh.write(json.dumps(done[label]) + "\n")
        table()  # after every command: an interrupted run leaves its table
    print("\n" + table())
    print(f"wrote {a.table}")


if __name__ == "__main__":
    main()
