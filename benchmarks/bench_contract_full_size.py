"""``metricbench score`` against the five-line scikit-learn script, at the competition's full size.

Issue 9, item 3: on a competition directory written by ``metricbench synth --like raai2019``
(454,714 x 512 train in 10,575 identities, 11,605 test rows, 31,444 pairs, ``solution.csv``),
``metricbench score --metric cosine-whitened`` (identity-disjoint validation, the ``auto``
search of dimension and shrinkage, the final fit, scoring the test pairs and writing the
submission) is timed against the five-line scikit-learn script
``PCA(n_components=256, whiten=True, svd_solver="covariance_eigh")`` + cosine on the same
files; ``lda-cosine`` and ``plda`` against
``LinearDiscriminantAnalysis(n_components=128, solver="eigen")`` + cosine. Every command runs as
its own process (start-up and imports included on both sides), one after the other in the
same run, timed by wall clock, with its CPU time and peak resident memory (GNU ``time``'s
user + system time and maximum resident set size of the child). Each command runs ``--repeat``
times, alternating metricbench and scikit-learn, and the fastest run of each is compared (on a
shared machine the load changes from one run to the next; the fastest is the least disturbed). Each submission's test AUROC is computed from the directory's
``solution.csv``.

Usage::

    metricbench synth --like raai2019 --out /tmp/raai2019      # once (about 20 s)
    PYTHONPATH=. python benchmarks/bench_contract_full_size.py /tmp/raai2019
    PYTHONPATH=. python benchmarks/bench_contract_full_size.py /tmp/raai2019 --write docs/generated/contract_full_size.md

A directory that does not exist yet is generated first with ``metricbench synth --like
raai2019`` (``--n-train`` / ``--n-classes`` make a smaller one).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

PCA_SCRIPT = """
import numpy as np, pandas as pd, sys; from sklearn.decomposition import PCA
d = sys.argv[1]; X = np.load(d + "/train_set.npy"); T = np.load(d + "/test_set.npy"); p = pd.read_csv(d + "/test_pairs.csv")
Z = PCA(n_components=256, whiten=True, svd_solver="covariance_eigh").fit(X).transform(T)
Z /= np.linalg.norm(Z, axis=1, keepdims=True); s = np.einsum("ij,ij->i", Z[p.index1], Z[p.index2])
pd.DataFrame({"Id": p.Id, "Predicted": 1 - s}).to_csv(sys.argv[2], index=False)
"""

LDA_SCRIPT = """
import numpy as np, pandas as pd, sys; from sklearn.discriminant_analysis import LinearDiscriminantAnalysis as LDA
d = sys.argv[1]; X = np.load(d + "/train_set.npy"); y = pd.read_csv(d + "/train_labels.csv")["class"].to_numpy()
T = np.load(d + "/test_set.npy"); p = pd.read_csv(d + "/test_pairs.csv"); Z = LDA(n_components=128, solver="eigen").fit(X, y).transform(T)
Z /= np.linalg.norm(Z, axis=1, keepdims=True); s = np.einsum("ij,ij->i", Z[p.index1], Z[p.index2])
pd.DataFrame({"Id": p.Id, "Predicted": 1 - s}).to_csv(sys.argv[2], index=False)
"""

CASES = (
    ("cosine-whitened", PCA_SCRIPT, "PCA(256, whiten, covariance_eigh)"),
    ("lda-cosine", LDA_SCRIPT, "LDA(128, eigen)"),
    ("plda", LDA_SCRIPT, "LDA(128, eigen)"),
)


def run(cmd: list[str]) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds (user + system) and peak resident memory (GiB) of ``cmd``'s
    process (GNU time's %U, %S and %M of the child)."""
    t0 = time.perf_counter()
    p = subprocess.run(["/usr/bin/time", "-f", "CHILD %U %S %M", *cmd], capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        raise SystemExit(f"failed ({p.returncode}): {' '.join(cmd)}\n{p.stdout}\n{p.stderr}")
    u, s, kb = [ln for ln in p.stderr.splitlines() if ln.startswith("CHILD ")][-1].split()[1:]
    return wall, float(u) + float(s), int(kb) / 2**20


def test_auroc(data: Path, sub: Path) -> float:
    """AUROC of a submission (``Id,Predicted``: a distance, smaller = same) against ``solution.csv``."""
    import pandas as pd
    from sklearn.metrics import roc_auc_score

    s = pd.read_csv(data / "solution.csv").merge(pd.read_csv(sub), on="Id")
    return float(roc_auc_score(s["Expected"].to_numpy(), -s["Predicted"].to_numpy()))


def ensure_data(data: Path, mb: list[str], extra: list[str]) -> None:
    """Write the competition directory with ``metricbench synth`` unless it is there."""
    if (data / "solution.csv").exists():
        return
    t0 = time.perf_counter()
    p = subprocess.run([*mb, "synth", "--like", "raai2019", "--out", str(data), *extra], capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(f"metricbench synth failed:\n{p.stdout}\n{p.stderr}")
    print(f"generated {data} in {time.perf_counter() - t0:.1f} s", flush=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", type=Path, help="competition directory (written by metricbench synth if missing)")
    ap.add_argument("--n-train", type=int, default=None, help="train rows when generating (default: full size)")
    ap.add_argument("--n-classes", type=int, default=None, help="train identities when generating")
    ap.add_argument("--metrics", default=",".join(c[0] for c in CASES), help="comma-separated subset")
    ap.add_argument("--write", type=Path, default=None, help="also write the table as Markdown here")
    ap.add_argument("--readme", action="store_true",
                    help="also write the README's 'contract' region (the same rows, between its markers)")
    ap.add_argument("--repeat", type=int, default=3,
                    help="runs of each command, alternating metricbench / scikit-learn; the fastest of each is "
                         "compared (default 3: a shared machine's load changes between runs)")
    args = ap.parse_args(argv)

    mb = [shutil.which("metricbench") or "metricbench"]
    extra = [f for k, v in (("--n-train", args.n_train), ("--n-classes", args.n_classes)) if v
             for f in (k, str(v))]
    ensure_data(args.data, mb, extra)
    import numpy as np

    shape = np.load(args.data / "train_set.npy", mmap_mode="r").shape
    n_pairs = sum(1 for _ in open(args.data / "test_pairs.csv")) - 1
    load0 = os.getloadavg()
    print(f"data {args.data}: train {shape[0]} x {shape[1]}, {n_pairs} test pairs; "
          f"load average before {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f}; {os.cpu_count()} cpus", flush=True)
    py = sys.executable
    wanted = args.metrics.split(",")
    rows = []
    for metric, script, ref in CASES:
        if metric not in wanted:
            continue
        out_mb, out_sk = args.data / f"mb_{metric}.csv", args.data / f"sk_{metric}.csv"
        mb_runs, sk_runs = [], []
        for _ in range(max(1, args.repeat)):
            mb_runs.append(run([*mb, "score", "-m", metric, "--data", str(args.data), "--out", str(out_mb), "--force"]))
            sk_runs.append(run([py, "-c", script, str(args.data), str(out_sk)]))
            print(f"  {metric}: metricbench {mb_runs[-1][0]:.1f} s wall / {mb_runs[-1][1]:.1f} s CPU, scikit-learn "
                  f"{sk_runs[-1][0]:.1f} s wall / {sk_runs[-1][1]:.1f} s CPU (load {os.getloadavg()[0]:.1f})", flush=True)
        a_mb, a_sk = test_auroc(args.data, out_mb), test_auroc(args.data, out_sk)
        for f in (out_mb, out_sk):
            f.unlink()
        w_mb, c_mb, m_mb = min(mb_runs)
        w_sk, c_sk, m_sk = min(sk_runs)
        m_mb, m_sk = max(r[2] for r in mb_runs), max(r[2] for r in sk_runs)
        rows.append((metric, w_mb, c_mb, m_mb, a_mb, ref, w_sk, c_sk, m_sk, a_sk))
        print(f"{metric:16s} metricbench score {w_mb:6.1f} s ({c_mb:.1f} s CPU, peak {m_mb:4.2f} GiB, test AUROC "
              f"{a_mb:.4f}) | scikit-learn {ref} + cosine {w_sk:6.1f} s ({c_sk:.1f} s CPU, peak {m_sk:4.2f} GiB, "
              f"test AUROC {a_sk:.4f}) | ratio {w_mb / w_sk:.2f}x (CPU {c_mb / c_sk:.2f}x)", flush=True)
    load1 = os.getloadavg()
    print(f"load average after {load1[0]:.2f} {load1[1]:.2f} {load1[2]:.2f}")
    print("ratios (target <= 1.5x): " + ", ".join(f"{r[0]} {r[1] / r[6]:.2f}x" for r in rows))
    if args.write is not None:
        lines = [
            f"<!-- written by: python benchmarks/bench_contract_full_size.py DIR --write {args.write} -->",
            "",
            f"Train {shape[0]:,} x {shape[1]} (`metricbench synth --like raai2019`), {n_pairs:,} test pairs; "
            f"{os.cpu_count()} cpus ({platform.machine()}), load average {load0[0]:.2f} before, "
            f"{load1[0]:.2f} after; {time.strftime('%Y-%m-%d', time.gmtime())}.",
            "",
            f"Fastest of {max(1, args.repeat)} runs of each command, alternating; peak RSS the largest of them.",
            "",
            "| metric | `metricbench score` (validation included) | CPU | peak RSS | test AUROC "
            "| scikit-learn script + cosine | CPU | peak RSS | test AUROC | ratio (wall) |",
            "|---|---:|---:|---:|---:|---|---:|---:|---:|---:|",
        ]
        for metric, w_mb, c_mb, m_mb, a_mb, ref, w_sk, c_sk, m_sk, a_sk in rows:
            lines.append(f"| `{metric}` | {w_mb:.1f} s | {c_mb:.1f} s | {m_mb:.2f} GiB | {a_mb:.4f} | `{ref}` {w_sk:.1f} s "
                         f"| {c_sk:.1f} s | {m_sk:.2f} GiB | {a_sk:.4f} | **{w_mb / w_sk:.2f}x** |")
        args.write.parent.mkdir(parents=True, exist_ok=True)
        args.write.write_text("\n".join(lines) + "\n")
        print(f"wrote {args.write}")
    if args.readme:
        readme_rows(rows, load0, load1)
    return 0


def readme_rows(rows, load0, load1) -> None:
    """Write the README's ``contract`` region: one row per metric, from this run."""
    readme = Path(__file__).resolve().parents[1] / "README.md"
    start = "<!-- generated: contract (benchmarks/bench_contract_full_size.py --readme; do not edit) -->\n"
    end = "<!-- /generated: contract -->"
    old = readme.read_text(encoding="utf-8")
    i, j = old.index(start) + len(start), old.index(end)
    lines = [f"Same run, {os.cpu_count()} cores, load average {load0[0]:.1f} before and {load1[0]:.1f} after "
             f"({time.strftime('%Y-%m-%d', time.gmtime())}); fastest of the alternating runs:", "",
             "| metric | `metricbench score` | scikit-learn script + cosine | ratio |", "|---|---|---|---|"]
    for metric, w_mb, c_mb, m_mb, a_mb, ref, w_sk, c_sk, m_sk, a_sk in rows:
        lines.append(f"| `{metric}` | {w_mb:.1f} s ({c_mb:.1f} s CPU, peak {m_mb:.2f} GiB, test AUROC {a_mb:.4f}) "
                     f"| `{ref}` {w_sk:.1f} s ({c_sk:.1f} s CPU, {m_sk:.2f} GiB, {a_sk:.4f}) | **{w_mb / w_sk:.2f}x** |")
    readme.write_text(old[:i] + "\n".join(lines) + "\n" + old[j:], encoding="utf-8")
    print(f"wrote the README's contract region")


if __name__ == "__main__":
    raise SystemExit(main())
