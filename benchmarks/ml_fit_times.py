"""Fit time and AUROC of every ``ml-*`` metric (metric-learn under its default budgets).

Default data: the embedded competition ``lfw-xq`` (metricbench/data/lfw-xq) (train 15,518 x 128, 3,637 identities,
clean + xq40 variants; test pairs clean vs xq40 of 909 other identities). 20 % of the train
identities are held out; each metric is fitted once, on the other 80 % (about 12,400 x 128),
and scored on clean-vs-xq40 pairs of the held-out identities (validation) and on the
competition's test pairs (test, against ``solution.csv``), next to cosine and Euclidean.
``--synthetic N D C`` times Gaussian classes instead (no AUROC on test).

    PYTHONPATH=. python benchmarks/ml_fit_times.py                  # all ml-* metrics
    PYTHONPATH=. python benchmarks/ml_fit_times.py --only lmnn nca  # some of them
    PYTHONPATH=. python benchmarks/ml_fit_times.py --param max_samples=1000 --only nca
    PYTHONPATH=. python benchmarks/ml_fit_times.py --synthetic 20000 512 2000

Times are wall-clock and process CPU seconds (CPU exceeds wall where BLAS runs threads;
wall exceeds CPU where the machine is shared).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def synthetic(n: int, d: int, c: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(c, d)).astype(np.float32)
    y = rng.integers(0, c, size=n)
    X = centres[y] + 1.5 * rng.normal(size=(n, d)).astype(np.float32)
    return X, y, np.where(rng.random(n) < 0.5, "clean", "xq40"), None


def competition(path: Path):
    from metricbench.io import load_competition

    comp = load_competition(path)
    test = None
    if comp.solution is not None:
        test = (np.asarray(comp.test_X), comp.pairs["index1"].to_numpy(), comp.pairs["index2"].to_numpy(),
                np.asarray(comp.solution))
    return np.asarray(comp.train_X), comp.train_y, comp.train_groups, test


def _parse(kv: str):
    k, _, v = kv.partition("=")
    for cast in (int, float):
        try:
            return k, cast(v)
        except ValueError:
            pass
    return k, v


def main(argv=None) -> int:
    from sklearn.metrics import roc_auc_score

    from metricbench.model_selection import identity_split, sample_pairs
    from metricbench.learn.mlearn import ALGORITHMS
    from metricbench.registry import get_metric

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default=str(REPO / "metricbench" / "data" / "lfw-xq"), help="competition directory")
    ap.add_argument("--only", nargs="*", default=list(ALGORITHMS), help="algorithm names (lmnn nca ...)")
    ap.add_argument("--synthetic", nargs=3, type=int, metavar=("N", "D", "C"))
    ap.add_argument("--pairs", type=int, default=6000, help="validation pairs")
    ap.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                    help="parameter for every metric fitted (e.g. max_samples=1000)")
    args = ap.parse_args(argv)
    params = dict(_parse(kv) for kv in args.param)

    X, y, g, test = synthetic(*args.synthetic) if args.synthetic else competition(Path(args.data))
    fit_mask, val_mask = identity_split(y, holdout=0.2, random_state=0)
    Xf, yf = X[fit_mask], y[fit_mask]
    Xv, yv = X[val_mask], y[val_mask]
    cross = {}
    if g is not None and {"clean", "xq40"} <= set(np.unique(g)):
        cross = {"variants": g[val_mask], "cross": ("clean", "xq40")}
    i1, i2, same = sample_pairs(yv, n_pairs=args.pairs, random_state=0, **cross)
    print(f"fit on {Xf.shape[0]:,} x {Xf.shape[1]} ({np.unique(yf).size:,} identities); validation: "
          f"{same.size:,} {'clean-vs-xq40 ' if cross else ''}pairs of {np.unique(yv).size:,} held-out identities"
          + (f"; test: {test[3].size:,} pairs" if test else ""))

    def aurocs(m) -> str:
        out = f"val {roc_auc_score(same, -m.pair_distance(Xv, i1, i2)):.4f}"
        if test:
            tX, t1, t2, truth = test
            out += f"  test {roc_auc_score(truth, -m.pair_distance(tX, t1, t2)):.4f}"
        return out

    print(f"{'metric':<14} {'fit wall':>9} {'fit cpu':>9}  AUROC")
    for base in ("cosine", "euclidean"):
        print(f"{base:<14} {0:9.1f} {0:9.1f}  {aurocs(get_metric(base).fit(Xf))}", flush=True)
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
        print(f"ml-{name:<11} {t:9.1f} {c:9.1f}  {aurocs(m)}  | {m.describe()}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
