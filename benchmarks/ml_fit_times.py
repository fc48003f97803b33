"""Fit time and held-out-identity AUROC of every ``ml-*`` metric (metric-learn under budgets).

Data: LFW dlib reference embeddings, clean and xq40 (cross-quality) stacked, 20,350 x 128,
4,546 identities (from ``../shared/data/lfw/reference`` or ``$METRICBENCH_LFW``); or, with
``--synthetic N D C``, Gaussian classes. 20 % of the identities are held out; the metric is
fitted on the rest (about 16,000 x 128, the size of ``data/lfw-xq``) with its default budget,
and scored on clean-vs-xq40 pairs of the held-out identities next to cosine and Euclidean.

    PYTHONPATH=. python benchmarks/ml_fit_times.py                  # all ml-* metrics
    PYTHONPATH=. python benchmarks/ml_fit_times.py --only lmnn nca  # some of them
    PYTHONPATH=. python benchmarks/ml_fit_times.py --synthetic 20000 512 2000
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def lfw_dir() -> Path:
    return Path(os.environ.get("METRICBENCH_LFW", REPO.parent / "shared" / "data" / "lfw"))


def load_lfw():
    import pandas as pd

    ref = lfw_dir() / "reference"
    if not (ref / "dev_clean_embeddings.npy").exists():
        sys.exit(f"no LFW reference embeddings under {ref}; pass --synthetic N D C")
    Xs, ys, gs = [], [], []
    for variant in ("clean", "xq40"):
        Xs.append(np.load(ref / f"dev_{variant}_embeddings.npy"))
        ys.append(pd.read_csv(ref / f"dev_{variant}_labels.csv")["class"].to_numpy())
        gs.append(np.full(Xs[-1].shape[0], variant))
    return np.vstack(Xs), np.concatenate(ys), np.concatenate(gs)


def synthetic(n: int, d: int, c: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(c, d)).astype(np.float32)
    y = rng.integers(0, c, size=n)
    X = centres[y] + 1.5 * rng.normal(size=(n, d)).astype(np.float32)
    return X, y, np.where(rng.random(n) < 0.5, "clean", "xq40")


def main(argv=None) -> int:
    from sklearn.metrics import roc_auc_score

    from metricbench.evaluation.splits import identity_split, sample_pairs
    from metricbench.learn.mlearn import ALGORITHMS
    from metricbench.registry import get_metric

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", nargs="*", default=list(ALGORITHMS), help="algorithm names (lmnn nca ...)")
    ap.add_argument("--synthetic", nargs=3, type=int, metavar=("N", "D", "C"))
    ap.add_argument("--pairs", type=int, default=6000)
    ap.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                    help="parameter for every metric fitted (e.g. max_samples=1000)")
    args = ap.parse_args(argv)

    params = {}
    for kv in args.param:
        k, _, v = kv.partition("=")
        try:
            params[k] = int(v)
        except ValueError:
            try:
                params[k] = float(v)
            except ValueError:
                params[k] = v
    X, y, g = synthetic(*args.synthetic) if args.synthetic else load_lfw()
    fit_mask, val_mask = identity_split(y, holdout=0.2, seed=0)
    Xf, yf = X[fit_mask], y[fit_mask]
    Xv, yv, gv = X[val_mask], y[val_mask], g[val_mask]
    i1, i2, same = sample_pairs(yv, n_pairs=args.pairs, seed=0, groups=gv, cross_groups=("clean", "xq40"))
    print(f"fit on {Xf.shape[0]:,} x {Xf.shape[1]} ({np.unique(yf).size:,} identities); "
          f"validation: {same.size:,} clean-vs-xq40 pairs of {np.unique(yv).size:,} held-out identities")

    def auroc(d):
        return roc_auc_score(same, -np.asarray(d))

    for base in ("cosine", "euclidean"):
        print(f"{base:<14} fit     0.0 s                 val AUROC {auroc(get_metric(base).fit(Xf).pair_distance(Xv, i1, i2)):.4f}")
    for name in args.only:
        m = get_metric(f"ml-{name}", **params)
        t0, c0 = time.perf_counter(), time.process_time()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                m.fit(Xf, yf)
        except Exception as e:  # report and go on to the next algorithm
            print(f"ml-{name:<11} FAILED after {time.perf_counter() - t0:.1f} s: {type(e).__name__}: {e}")
            continue
        t, c = time.perf_counter() - t0, time.process_time() - c0
        print(f"ml-{name:<11} fit {t:7.1f} s (cpu {c:6.1f} s)  val AUROC {auroc(m.pair_distance(Xv, i1, i2)):.4f}"
              f"  {m.describe()}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
