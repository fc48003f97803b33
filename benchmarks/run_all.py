"""Every speed comparison of metricbench in one command: ratios printed, a markdown table written.

    python benchmarks/run_all.py                 # the default sizes -> docs/generated/benchmarks.md (+ .json);
                                                 # minutes on the 2-core machine (measured: docs/benchmarks.md)
    python benchmarks/run_all.py --full          # the issue's sizes (10,000,000 pairs, 1,000 x 1,000,000 top-k):
                                                 # tens of minutes (not timed as a whole)
                                                 # -> docs/generated/benchmarks-full.md (+ .json)
    python benchmarks/run_all.py --full --only topk   # some sections; the others stay as last written
    python benchmarks/run_all.py --quick --out /tmp/b.md   # a smoke test (seconds): tiny sizes, same code paths

Sections (each contender against its reference in the same process, taking turns):
  paired     metricbench.paired_distances (euclidean and cosine) vs the numpy gather, scikit-learn's
             paired_distances (on gathered rows, as a user calls it), the baseline's per-pair Python loop (timed
             on a subset, scaled), a plain numba loop in the given order and the "row floor" of
             benchmarks/bench_paired.py (one random row read a pair), and that floor with each first row read
             once too (the memory traffic of any order that streams one side: the fastest such an order can
             go); over three numbers of pairs. The numba contenders take the median of 7 turns (5 with
             --full); the slow ones (numpy, scikit-learn, Python) run in the first turn only
  pairwise   metricbench.pairwise_distances vs sklearn.metrics.pairwise_distances: sqeuclidean, euclidean and
             cosine, float32 and float64 input, X vs X (n x n) and X vs Y (n x m), three sizes
  topk       metricbench.distances.topk vs faiss-cpu IndexFlatIP (cosine, normalised rows) / IndexFlatL2
             (euclidean), top-10, over three gallery sizes, and 11,605 x 11,605
  whitening  the cosine-whitened fit (fixed k, no shrinkage) vs scikit-learn's PCA(whiten=True), three sizes
  lmnn       metricbench's lmnn vs metric-learn's LMNN on a small synthetic set, same iterations
The markdown has the machine (CPU model, cores, BLAS libraries and their threads) and, per section, when it
ran and the load average before and after; and how each cost grows with size. A --only run rewrites only its
sections (the .json beside the markdown keeps the others). Timings on a shared machine are noisy: compare
ratios within one section, which come from one run.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

# OpenMP threads that wait by spinning burn the CPU the other contender needs on a shared or loaded machine
# (faiss's threads would measure their own spinning): both sides' OpenMP runtimes, faiss's and numba's omp
# layer, yield while they wait. Set before either is loaded; an explicit setting is kept and reported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from _report import loadavg  # noqa: E402  (benchmarks/_report.py)

SIZES = {
    "default": {
        "paired_rows": 100_000, "paired_pairs": (100_000, 300_000, 1_000_000), "paired_rounds": 7,
        "slow_max_pairs": 300_000,
        "pairwise": ((2000, None), (2000, 8000), (4000, None)), "pairwise_rounds": 3,
        "topk": ((1000, 10_000), (1000, 30_000), (1000, 100_000), (11_605, 11_605)), "topk_rounds": 2,
        "white_n": (10_000, 20_000, 50_000), "white_rounds": 2,
        "lmnn": (600, 32, 20, 50), "dim": 512,
    },
    "full": {
        "paired_rows": 100_000, "paired_pairs": (1_000_000, 3_000_000, 10_000_000), "paired_rounds": 5,
        "slow_max_pairs": 1_000_000,
        "pairwise": ((2000, None), (5000, 20_000), (11_605, None)), "pairwise_rounds": 2,
        "topk": ((1000, 10_000), (1000, 100_000), (1000, 1_000_000), (11_605, 11_605)), "topk_rounds": 2,
        "white_n": (20_000, 50_000, 100_000), "white_rounds": 3,
        "lmnn": (600, 32, 20, 50), "dim": 512,
    },
    "quick": {
        "paired_rows": 2_000, "paired_pairs": (1_000, 3_000, 10_000), "paired_rounds": 2,
        "slow_max_pairs": 3_000,
        "pairwise": ((50, None), (60, 200), (200, None)), "pairwise_rounds": 1,
        "topk": ((20, 200), (20, 2000), (20, 5000), (300, 300)), "topk_rounds": 1,
        "white_n": (300, 600, 1200), "white_rounds": 1,
        "lmnn": (90, 6, 6, 3), "dim": 16,
    },
}


def best_in_turns(runs: dict, rounds: int, slow: dict | None = None) -> dict:
    """Run every callable once per round, in turns; the best and the median time of each.

    ``slow`` maps names to the number of first rounds they take part in (the others run in every round).
    """
    times = {m: [] for m in runs}
    for r in range(rounds):
        for m, run in runs.items():
            if slow and r >= slow.get(m, rounds):
                continue
            t0 = time.perf_counter()
            run()
            times[m].append(time.perf_counter() - t0)
    return {m: {"best": min(v), "median": float(np.median(v))} for m, v in times.items()}


# -- sections ---------------------------------------------------------------------------


#: turns the slow paired contenders take part in (they are 4x to 50x slower: one turn shows the ratio)
SLOW_ROUNDS = 1


def section_paired(cfg, log):
    from sklearn.metrics.pairwise import paired_distances as sk_paired

    import bench_paired as bp

    rng = np.random.default_rng(0)
    X = rng.standard_normal((cfg["paired_rows"], cfg["dim"]), dtype=np.float32)
    rows = []
    slow = {m: SLOW_ROUNDS for m in ("numpy-gather", "sklearn-paired", "python-loop")}
    for n_pairs in cfg["paired_pairs"]:
        i1 = rng.integers(0, X.shape[0], n_pairs)
        i2 = rng.integers(0, X.shape[0], n_pairs)
        for metric in ("euclidean", "cosine"):
            runs = {m: bp.make_run(m, X, i1, i2, metric=metric)
                    for m in ("metricbench", "row-floor", "row-floor-first", "numba-plain")}
            # the numpy and scikit-learn gathers copy both rows of every pair (float64: 8 GiB at 1M pairs) and
            # take 10x-50x metricbench's time: run up to cfg["slow_max_pairs"] pairs
            gathers = n_pairs <= cfg["slow_max_pairs"]
            if gathers:
                runs["numpy-gather"] = bp.make_run("numpy-gather", X, i1, i2, metric=metric)
                runs["sklearn-paired"] = lambda: sk_paired(X[i1], X[i2], metric=metric)
            n_sub = min(n_pairs, 20_000)
            runs["python-loop"] = bp.make_run("python-loop", X, i1, i2, metric=metric)  # n_sub pairs, scaled
            ref = np.concatenate([bp.numpy_paired(X[i1[s:s + 65536]], X[i2[s:s + 65536]], metric)
                                  for s in range(0, n_pairs, 65536)])
            for m in ("metricbench", "numba-plain", "sklearn-paired")[: 3 if gathers else 2]:
                got = runs[m]()  # also the warm-up
                assert np.allclose(got, ref, rtol=1e-4, atol=1e-6), f"{m} paired {metric} disagrees with numpy"
            runs["row-floor"]()
            runs["row-floor-first"]()
            t = best_in_turns(runs, cfg["paired_rounds"], slow)
            t["python-loop"] = {k: v * n_pairs / n_sub for k, v in t["python-loop"].items()}
            mb = t["metricbench"]["median"]
            row = {"n_pairs": n_pairs, "rows": X.shape[0], "metric": metric, "rounds": cfg["paired_rounds"],
                   "slow_max_pairs": cfg["slow_max_pairs"],
                   "slow_rounds": min(SLOW_ROUNDS, cfg["paired_rounds"]),
                   **{f"{m}_s": v["median"] for m, v in t.items()},
                   **{f"{m}_best_s": v["best"] for m, v in t.items()},
                   "floor_share": t["row-floor"]["median"] / mb,
                   "floor_share_best": t["row-floor"]["best"] / t["metricbench"]["best"],
                   "first_share": t["row-floor-first"]["median"] / mb}
            rows.append(row)
            slow_txt = (f"numpy gather x{t['numpy-gather']['median'] / mb:.1f} | sklearn paired "
                        f"x{t['sklearn-paired']['median'] / mb:.1f}" if gathers else "numpy / sklearn not run (memory)")
            log(f"paired {metric:9s} {n_pairs:>10,} pairs: metricbench {mb:.4f} s | {slow_txt}"
                f" | python loop x{t['python-loop']['median'] / mb:.0f} | plain numba "
                f"x{t['numba-plain']['median'] / mb:.2f} | row floor {row['floor_share']:.0%} of its speed "
                f"(median; best {row['floor_share_best']:.0%}); row floor + first rows {row['first_share']:.0%}")
    return rows


#: the distances whose pairwise matrix is compared with scikit-learn's
PAIRWISE_METRICS = ("sqeuclidean", "euclidean", "cosine")


def section_pairwise(cfg, log):
    """``(n, None)``: X vs X (n x n, ``Y`` not given); ``(n, m)``: X vs Y. Each dtype and metric; best of the rounds."""
    from sklearn.metrics import pairwise_distances as sk_pairwise
    from sklearn.metrics.pairwise import euclidean_distances

    from metricbench.distances import pairwise_distances

    rows = []
    for n, m in cfg["pairwise"]:
        for dtype in (np.float32, np.float64):
            rng = np.random.default_rng(1)
            X = rng.standard_normal((n, cfg["dim"]), dtype=dtype)
            Y = None if m is None else rng.standard_normal((m, cfg["dim"]), dtype=dtype)
            for metric in PAIRWISE_METRICS:
                runs = {"metricbench": lambda: pairwise_distances(X, Y, metric=metric),
                        "sklearn": lambda: sk_pairwise(X, Y, metric=metric)}
                if metric == "sqeuclidean":  # sk_pairwise hands it to scipy's cdist: time scikit-learn's fast way
                    runs["sklearn"] = lambda: euclidean_distances(X, Y, squared=True)
                got, want = runs["metricbench"](), runs["sklearn"]()  # also the warm-up
                scale = 1.0 if metric == "cosine" else float(np.abs(want).max())
                err = float(np.abs(got - want).max()) / scale
                assert err < 1e-3, f"pairwise {metric} disagrees with scikit-learn ({err:.2g})"
                del got, want
                t = best_in_turns(runs, cfg["pairwise_rounds"])
                r = t["metricbench"]["best"] / t["sklearn"]["best"]
                rows.append({"n": n, "m": n if m is None else m, "same": m is None, "dtype": np.dtype(dtype).name,
                             "metric": metric, "metricbench_s": t["metricbench"]["best"],
                             "sklearn_s": t["sklearn"]["best"], "ratio": r, "max_diff": err})
                log(f"pairwise {metric:11s} {np.dtype(dtype).name} {n:>6,} x {n if m is None else m:<6,}"
                    f"{' (X vs X)' if m is None else ' (X vs Y)'}: metricbench {t['metricbench']['best']:.3f} s, "
                    f"sklearn {t['sklearn']['best']:.3f} s, ratio {r:.2f}")
    return rows


def section_topk(cfg, log):
    import bench_topk

    rows = []
    for nq, ng in cfg["topk"]:
        rows += bench_topk.bench(nq, ng, cfg["dim"], 10, cfg["topk_rounds"], log=lambda s: log("topk " + s))
    return rows


def section_whitening(cfg, log):
    from sklearn.decomposition import PCA

    from metricbench.learn.whitening import WhitenedCosine

    rng = np.random.default_rng(2)
    d = cfg["dim"]
    k = d // 2
    A = rng.standard_normal((d, d)).astype(np.float32) / np.sqrt(d)
    rows = []
    for n in cfg["white_n"]:
        X = rng.standard_normal((n, d), dtype=np.float32) @ A
        y = rng.integers(0, max(2, n // 20), n)
        runs = {"metricbench": lambda: WhitenedCosine(n_components=k, shrinkage=0.0).fit(X, y),
                "sklearn-pca": lambda: PCA(n_components=k, whiten=True, random_state=0).fit(X)}
        if n == cfg["white_n"][0]:
            for r in runs.values():  # warm-up (first-use compilation, BLAS threads), not timed
                r()
        t = best_in_turns(runs, cfg["white_rounds"])
        r = t["metricbench"]["best"] / t["sklearn-pca"]["best"]
        rows.append({"n": n, "dim": d, "k": k, "metricbench_s": t["metricbench"]["best"],
                     "sklearn_s": t["sklearn-pca"]["best"], "ratio": r})
        log(f"whitening fit {n:>8,} x {d}: metricbench {t['metricbench']['best']:.3f} s, "
            f"sklearn PCA(whiten) {t['sklearn-pca']['best']:.3f} s, ratio {r:.2f}")
    return rows


def section_lmnn(cfg, log):
    import metric_learn

    from metricbench.learn.lmnn import LMNN

    try:
        from metricbench.learn.compat import fixed_class
    except ImportError:  # older layout
        from metricbench.learn.compat import patch_metric_learn

        patch_metric_learn()

        def fixed_class(c):
            return c

    n, d, n_cls, iters = cfg["lmnn"]
    rng = np.random.default_rng(3)
    centres = rng.standard_normal((n_cls, d)) * 2
    y = np.repeat(np.arange(n_cls), n // n_cls)
    X = centres[y] + rng.standard_normal((y.size, d))
    ML = fixed_class(metric_learn.LMNN)
    # warm-up on a small slice: numba compiles metricbench's kernels on first use (cached later); not timed
    warm = np.isin(y, np.arange(3))
    LMNN(n_components=d, n_neighbors=3, max_iter=2, holdout=0.0).fit(X[warm], y[warm])
    ML(n_neighbors=3, max_iter=2, n_components=d, random_state=0).fit(X[warm], y[warm])
    # holdout=0: no early stopping on held-out identities, so metricbench runs max_iter iterations as
    # metric-learn does (both counts are in the table)
    t0 = time.perf_counter()
    mb = LMNN(n_components=d, n_neighbors=3, max_iter=iters, holdout=0.0).fit(X, y)
    t_mb = time.perf_counter() - t0
    t0 = time.perf_counter()
    ml = ML(n_neighbors=3, max_iter=iters, n_components=d, random_state=0).fit(X, y)
    t_ml = time.perf_counter() - t0
    it_mb, it_ml = int(mb.n_iter_), int(getattr(ml, "n_iter_", iters))
    log(f"lmnn {y.size} x {d}, {n_cls} classes, {iters} iterations (ran {it_mb} / {it_ml}): metricbench {t_mb:.2f} s, "
        f"metric-learn {t_ml:.2f} s, metric-learn / metricbench {t_ml / t_mb:.1f}x")
    return [{"n": int(y.size), "dim": d, "classes": n_cls, "iterations": iters, "metricbench_s": t_mb,
             "metric_learn_s": t_ml, "speedup": t_ml / t_mb, "iterations_run": [it_mb, it_ml]}]


# -- machine and report -----------------------------------------------------------------


def machine() -> dict:
    model = platform.processor() or "?"
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    from threadpoolctl import threadpool_info

    libs = [f"{i.get('internal_api')} {i.get('version') or ''} ({Path(i['filepath']).name}, "
            f"{i.get('architecture') or '-'}, {i['num_threads']} threads)" for i in threadpool_info()]
    from numba import get_num_threads, threading_layer

    try:
        layer = threading_layer()
    except ValueError:
        layer = "not started"
    return {
        "cpu": model, "cores": os.cpu_count(), "python": platform.python_version(), "numpy": np.__version__,
        "blas": libs, "numba_threads": get_num_threads(), "numba_layer": layer,
        "env": {k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OMP_NUM_THREADS",
                                               "OMP_WAIT_POLICY", "NUMBA_NUM_THREADS") if os.environ.get(k)},
    }


def _fmt(x, digits=3):
    return "-" if x is None else f"{x:.{digits}f}"


def _after_run(date: str | None, run: dict) -> bool:
    """Whether a section's start (``_now()``'s minutes) is after the whole run ended."""
    from datetime import datetime, timedelta

    if not date:
        return False
    fmt = "%Y-%m-%d %H:%M UTC"
    try:
        end = datetime.strptime(run["date"], fmt) + timedelta(seconds=run["wall_s"] + 60)
        return datetime.strptime(date, fmt) > end
    except (ValueError, KeyError):
        return False


def _when(meta: dict | None) -> list[str]:
    if not meta:
        return []
    return [f"_Ran {meta['date']} ({meta['wall_s']:.0f} s), load average before {loadavg(meta['load_before'])}, after "
            f"{loadavg(meta['load_after'])}._", ""]


def markdown(results: dict, info: dict, command: str) -> str:
    meta = results.get("meta", {})
    out = ["<!-- generated by benchmarks/run_all.py; do not edit -->", "",
           f"Generated by `{command}`. Every ratio comes from one process in which the contenders took turns. "
           "The machine is shared: compare ratios within a section, not seconds between runs.", "",
           "### Machine", "",
           f"- CPU: {info['cpu']}, {info['cores']} cores",
           f"- Python {info['python']}, numpy {info['numpy']}; numba {info['numba_threads']} threads "
           f"({info['numba_layer']})",
           f"- BLAS / OpenMP libraries loaded: {'; '.join(info['blas'])}",
           f"- environment: {info['env'] or 'no OPENBLAS_* / thread variables set'}"]
    run = results.get("run")
    if run:
        later = sorted(k for k, m in meta.items() if k in SECTIONS and _after_run(m.get("date"), run))
        out.append(f"- whole run (`{run['command']}`, every section): {run['wall_s']:.1f} s wall, {run['cpu_s']:.1f} s CPU "
                   f"(user + system), peak RSS {run['peak_rss_gib']:.2f} GiB; started {run['date']}, load average "
                   f"before {loadavg(run['load_before'])}, after {loadavg(run['load_after'])}"
                   + (f"; rerun alone since (`--only`, its own time in its header): {', '.join(later)}" if later else ""))
    out.append("")
    if results.get("paired"):
        r0 = results["paired"][0]
        out += ["### Paired distances vs the numpy gather, scikit-learn, the Python loop and the row floor", "",
                *_when(meta.get("paired")),
                f"X: {r0['rows']:,} x {info['dim']} float32, random pairs. Seconds, median of {r0['rounds']} turns "
                f"(numpy, scikit-learn and the Python loop: of {r0.get('slow_rounds', 2)}). \"row floor\": one random row read a pair "
                "(`benchmarks/bench_paired.py`); \"share\" = row floor / metricbench (median; best of the turns "
                "in brackets), the target is >= 90 %. \"+ first rows\": the row floor that also reads each first row "
                "once, the memory traffic of any order that streams the first side, and metricbench's share of it.", "",
                "| pairs | metric | metricbench | numpy gather | sklearn paired | python loop* | plain numba | "
                "row floor | share of floor | + first rows | share of it |",
                "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for r in results["paired"]:
            out.append(f"| {r['n_pairs']:,} | {r['metric']} | {_fmt(r['metricbench_s'], 4)} | "
                       f"{_fmt(r.get('numpy-gather_s'), 4)} | {_fmt(r.get('sklearn-paired_s'), 4)} | "
                       f"{_fmt(r['python-loop_s'], 2)} | {_fmt(r['numba-plain_s'], 4)} | {_fmt(r['row-floor_s'], 4)} | "
                       f"{r['floor_share']:.0%} ({r['floor_share_best']:.0%}) | "
                       f"{_fmt(r.get('row-floor-first_s'), 4)} | "
                       + (f"{r['first_share']:.0%} |" if "first_share" in r else "- |"))
        out += ["", "\\* timed on at most 20,000 pairs and scaled. \"-\": not run (the numpy and scikit-learn "
                f"gathers copy both rows of every pair and are slow; run up to {r0.get('slow_max_pairs', 10**6):,} "
                "pairs).", ""]
    if results.get("pairwise"):
        out += ["### Pairwise blocks vs `sklearn.metrics.pairwise_distances` (512-d, all cores)", "",
                *_when(meta.get("pairwise")),
                "X vs X: `Y` not given (both libraries use the symmetry); X vs Y: two matrices. metricbench "
                "returns float64 (float32 input multiplied in float64); scikit-learn returns float32 for float32 "
                "input, its cosine multiplied in float32. sqeuclidean: scikit-learn's `euclidean_distances(squared=True)` "
                "(its `pairwise_distances(metric='sqeuclidean')` calls scipy's `cdist`, several times slower). "
                "Best of the rounds.", "",
                "| rows | columns | input | metric | metricbench s | scikit-learn s | metricbench / sklearn |",
                "|---:|---:|---|---|---:|---:|---:|"]
        for r in results["pairwise"]:
            cols = f"{r.get('m', r['n']):,}" + (" (X vs X)" if r.get("same", True) else "")
            out.append(f"| {r['n']:,} | {cols} | {r.get('dtype', 'float32')} | {r['metric']} | "
                       f"{_fmt(r['metricbench_s'])} | {_fmt(r['sklearn_s'])} | {r['ratio']:.2f} |")
        out.append("")
    if results.get("topk"):
        out += ["### Exact top-10 vs faiss-cpu (IndexFlatIP on normalised rows / IndexFlatL2), float32", "",
                *_when(meta.get("topk")),
                "metricbench: numba threads, each running a single-threaded BLAS gemm on its own block, then the "
                "certified exact re-rank. faiss: its OpenMP threads over its own BLAS. Both on all cores "
                f"(numba {results['topk'][0]['threads_numba']}, faiss OpenMP {results['topk'][0]['threads_faiss']}). "
                "Best of the rounds. Target: metricbench / faiss <= 1.2.", "",
                "| queries | gallery | metric | metricbench s | faiss s | metricbench / faiss | same lists | rows re-searched exactly |",
                "|---:|---:|---|---:|---:|---:|---:|---:|"]
        for r in results["topk"]:
            out.append(f"| {r['n_queries']:,} | {r['n_gallery']:,} | {r['metric']} | {_fmt(r['metricbench_s'])} | "
                       f"{_fmt(r['faiss_s'])} | {r['ratio']:.2f} | {r['agree']:.4f} | {r['n_fallback']} |")
        out.append("")
    if results.get("whitening"):
        out += ["### Whitening fit vs scikit-learn's PCA(whiten=True)", "", *_when(meta.get("whitening")),
                "| rows | dim | k | metricbench s | scikit-learn s | metricbench / sklearn |", "|---:|---:|---:|---:|---:|---:|"]
        for r in results["whitening"]:
            out.append(f"| {r['n']:,} | {r['dim']} | {r['k']} | {_fmt(r['metricbench_s'])} | {_fmt(r['sklearn_s'])} | "
                       f"{r['ratio']:.2f} |")
        out.append("")
    if results.get("lmnn"):
        out += ["### lmnn vs metric-learn's LMNN (synthetic, same iterations)", "", *_when(meta.get("lmnn")),
                "`max_iter` for both; \"ran\": the iterations each ran (metricbench / metric-learn), metricbench "
                "without its held-out early stopping (`holdout=0`).", "",
                "| rows | dim | classes | iterations | ran | metricbench s | metric-learn s | speed-up |",
                "|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for r in results["lmnn"]:
            ran = " / ".join(map(str, r["iterations_run"])) if "iterations_run" in r else "-"
            out.append(f"| {r['n']} | {r['dim']} | {r['classes']} | {r['iterations']} | {ran} | "
                       f"{_fmt(r['metricbench_s'], 3)} | {_fmt(r['metric_learn_s'], 3)} | {r['speedup']:.1f}x |")
        out.append("")
    for name, err in results.get("errors", {}).items():
        out += [f"**{name} failed**: `{err}`", ""]
    return "\n".join(out) + "\n"


SECTIONS = {"paired": section_paired, "pairwise": section_pairwise, "topk": section_topk,
            "whitening": section_whitening, "lmnn": section_lmnn}


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(str(path) + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    size = ap.add_mutually_exclusive_group()
    size.add_argument("--full", action="store_true", help="the issue's full sizes (tens of minutes; not timed as a whole)")
    size.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test of every path")
    ap.add_argument("--only", help=f"comma-separated sections ({', '.join(SECTIONS)})")
    ap.add_argument("--out", help="markdown file to write (default docs/generated/benchmarks.md, "
                                  "benchmarks-full.md with --full); the raw rows go beside it as .json")
    ap.add_argument("--render", action="store_true", help="run nothing: rewrite the markdown from the .json beside it")
    args = ap.parse_args(argv)
    mode = "full" if args.full else "quick" if args.quick else "default"
    cfg = SIZES[mode]
    out = Path(args.out) if args.out else ROOT / "docs" / "generated" / (
        "benchmarks-full.md" if args.full else "benchmarks.md")
    names = list(SECTIONS) if not args.only else [s.strip() for s in args.only.split(",")]
    unknown = set(names) - set(SECTIONS)
    if unknown:
        ap.error(f"unknown section(s) {sorted(unknown)}; choose from {', '.join(SECTIONS)}")
    jpath = out.with_suffix(".json")
    if args.render:
        if not jpath.exists():
            ap.error(f"--render needs {jpath} (written by an earlier run); run without --render first")
        saved = json.loads(jpath.read_text())
        info, command = saved.pop("machine"), saved.pop("command")
        _write(out, markdown(saved, info, command))
        print(f"wrote {out} from {jpath.name}")
        return saved
    results: dict = {"meta": {}, "errors": {}}
    if args.only and jpath.exists():  # keep the sections not re-run
        try:
            old = json.loads(jpath.read_text())
            results = {k: v for k, v in old.items() if k not in ("machine", "command")}
            results.setdefault("meta", {})
            results["errors"] = {k: v for k, v in results.get("errors", {}).items() if k not in names}
        except (OSError, ValueError):
            pass
    info = machine()
    info["dim"] = cfg["dim"]
    print(f"{info['cpu']}, {info['cores']} cores, load average {loadavg()}, sizes: {mode}", flush=True)
    t_all = time.perf_counter()
    started, load_start = _now(), tuple(round(v, 2) for v in os.getloadavg())
    for name in names:
        meta = {"load_before": tuple(round(v, 2) for v in os.getloadavg()), "date": _now()}
        t0 = time.perf_counter()
        try:
            results[name] = SECTIONS[name](cfg, lambda s: print(s, flush=True))
            results["errors"].pop(name, None)
        except Exception as exc:  # one failing comparison must not lose the others
            if args.quick:
                raise
            results[name] = []
            results["errors"][name] = f"{type(exc).__name__}: {exc}"
            print(f"{name}: FAILED {exc}", flush=True)
        meta["wall_s"] = time.perf_counter() - t0
        meta["load_after"] = tuple(round(v, 2) for v in os.getloadavg())
        results["meta"][name] = meta
    wall = time.perf_counter() - t_all
    if not args.only:  # the whole run's own cost (a partial --only run keeps the last whole run's)
        import resource

        me = resource.getrusage(resource.RUSAGE_SELF)
        kids = resource.getrusage(resource.RUSAGE_CHILDREN)
        results["run"] = {
            "command": "python benchmarks/run_all.py" + {"full": " --full", "quick": " --quick", "default": ""}[mode],
            "wall_s": wall, "cpu_s": me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime,
            "peak_rss_gib": max(me.ru_maxrss, kids.ru_maxrss) / 2**20, "date": started,
            "load_before": load_start, "load_after": tuple(round(v, 2) for v in os.getloadavg())}
    info.update({k: v for k, v in machine().items() if k in ("blas", "numba_layer")})
    command = "python benchmarks/run_all.py" + {"full": " --full", "quick": " --quick", "default": ""}[mode]
    _write(out, markdown(results, info, command))
    _write(jpath, json.dumps({"machine": info, "command": command, **results}, indent=1, default=float))
    print(f"wrote {out} and {jpath.name} ({wall:.0f} s, load average after {loadavg()})")
    return results


if __name__ == "__main__":
    main()
