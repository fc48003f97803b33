"""Exact top-k: metricbench.topk against faiss-cpu's exact flat indexes, in one run, taking turns.

    python benchmarks/bench_topk.py                          # 11,605 x 11,605 and 1,000 x 1,000,000, 512-d float32
    python benchmarks/bench_topk.py --sizes 2000x20000 --repeats 2   # quicker

Contenders, top-10, float32 rows:
  cosine      metricbench ``topk(metric="cosine")`` on raw rows vs faiss ``IndexFlatIP`` on L2-normalised
              copies (normalising and building the index are timed: both start from the same raw arrays)
  euclidean   metricbench ``topk(metric="euclidean")`` vs faiss ``IndexFlatL2``
Threads: metricbench runs numba's prange on every core with a single-threaded BLAS per thread; faiss runs
its OpenMP loop on the same cores (``faiss.omp_get_max_threads()``), with its own OpenBLAS. The table says
how many each had. Rounds alternate metricbench and faiss; the best of the rounds is reported, with the
ratio metricbench / faiss (<= 1.2 is the target). Agreement: the fraction of identical neighbour lists
(faiss is not exact on near-ties, so 1.0 is not guaranteed on real data; on random data it is).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/_report.py
from _report import loadavg  # noqa: E402


def make_data(nq, ng, d, seed):
    rng = np.random.default_rng(seed)
    G = np.empty((ng, d), dtype=np.float32)
    for s in range(0, ng, 65536):
        G[s : s + 65536] = rng.standard_normal((min(65536, ng - s), d), dtype=np.float32)
    Q = G[:nq].copy() if nq == ng else rng.standard_normal((nq, d), dtype=np.float32)
    if nq != ng:
        Q += 0.1 * G[:nq]  # some structure: each query leans towards one gallery row
    return Q, G


def run_faiss(Q, G, k, metric):
    import faiss

    d = Q.shape[1]
    if metric == "cosine":
        Qn, Gn = Q.copy(), G.copy()
        faiss.normalize_L2(Qn)
        faiss.normalize_L2(Gn)
        index = faiss.IndexFlatIP(d)
        index.add(Gn)
        _, idx = index.search(Qn, k)
    else:
        index = faiss.IndexFlatL2(d)
        index.add(G)
        _, idx = index.search(Q, k)
    return idx


def run_metricbench(Q, G, k, metric):
    from metricbench.distances.topk import topk

    res = topk(Q, G, k, metric=metric)
    return res[0], res.info


def bench(nq, ng, d=512, k=10, repeats=3, metrics=("cosine", "euclidean"), seed=0, log=print):
    import faiss
    from numba import get_num_threads

    Q, G = make_data(nq, ng, d, seed)
    # warm both (numba's cached compile, faiss's OpenMP pool) on a slice
    run_metricbench(Q[:50], G[:5000], k, "cosine")
    run_faiss(Q[:50], G[:5000], k, "cosine")
    rows = []
    for metric in metrics:
        t_mb, t_fa = [], []
        for _ in range(repeats):
            t = time.perf_counter()
            i_mb, info = run_metricbench(Q, G, k, metric)
            t_mb.append(time.perf_counter() - t)
            t = time.perf_counter()
            i_fa = run_faiss(Q, G, k, metric)
            t_fa.append(time.perf_counter() - t)
        agree = float((i_mb == i_fa).all(1).mean())
        row = {
            "metric": metric, "n_queries": nq, "n_gallery": ng, "dim": d, "k": k,
            "metricbench_s": min(t_mb), "faiss_s": min(t_fa), "ratio": min(t_mb) / min(t_fa),
            "metricbench_runs": t_mb, "faiss_runs": t_fa, "agree": agree,
            "n_fallback": info.get("n_fallback"), "threads_numba": get_num_threads(),
            "threads_faiss": faiss.omp_get_max_threads(),
        }
        log(f"top-{k} {metric:9s} {nq:>9,} x {ng:>11,}: metricbench {row['metricbench_s']:7.3f} s  "
            f"faiss {row['faiss_s']:7.3f} s  ratio {row['ratio']:.2f}  (same lists {agree:.4f}, "
            f"exact re-search rows {row['n_fallback']})")
        rows.append(row)
    del Q, G
    return rows


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="11605x11605,1000x1000000", help="comma-separated QxG")
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("-k", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--metrics", default="cosine,euclidean")
    ap.add_argument("--json", help="write the rows here")
    a = ap.parse_args(argv)
    rows = []
    for size in a.sizes.split(","):
        nq, ng = (int(v) for v in size.lower().split("x"))
        rows += bench(nq, ng, a.dim, a.k, a.repeats, tuple(a.metrics.split(",")))
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(rows, fh, indent=1)
    print(f"load average {loadavg()}")


if __name__ == "__main__":
    main()
