"""Native ``lmnn`` against metric-learn's LMNN on the same subset, same run.

Data: the dlib reference embeddings of the shared LFW folder (128-D), clean and
cross-quality (``xq40``) rows of every identity with 2+ images, so each identity has
4+ rows and its clean and degraded versions are target-neighbour candidates.
Identities are split (``identity_split``, seeded) into a fitting side and a held-out
side; both learners fit the same ``--rows`` rows (whole identities) of the fitting side
with the same settings (``n_neighbors``, ``n_components``, PCA initialisation,
push weight 0.5); validation pairs are cross-quality pairs (clean vs xq40) of the
held-out identities (``sample_pairs``), scored by AUROC of ``-distance``.

Usage::

    PYTHONPATH=. python benchmarks/bench_lmnn.py                 # 3,000 rows x 128
    PYTHONPATH=. python benchmarks/bench_lmnn.py --rows 1500 --ml-max-iter 200

The native ``lmnn`` is given the rows' clean/xq40 tags (``fit(..., groups=...)``) so
that its own held-out identities (``holdout``, inside the fitting subset) are scored on
cross-quality pairs too; metric-learn has no such option and runs its iterations.
Both learners see the same rows scaled by one constant, chosen so that the median
squared distance to the farthest target neighbour is 1: LMNN's unit margin is then on
the data's scale. (The native ``lmnn`` does this by itself, ``init_scale="auto"``;
metric-learn does not, and on the raw dlib scale, where a target neighbour lies at
about 0.25, nearly every pair is an impostor and its impostor arrays take gigabytes
per iteration.)

Prints each fit time (wall and CPU), the ratios, and the validation AUROCs (with Euclidean, cosine
and the PCA initialisation alone for scale). metric-learn 0.7.0 needs a
compatibility layer on scikit-learn >= 1.8; the script uses
``metricbench.learn.compat.patch_metric_learn`` where it exists and a minimal
local shim otherwise.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/_report.py
from _report import loadavg  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def lfw_dir() -> Path:
    env = os.environ.get("METRICBENCH_LFW")
    return Path(env) if env else ROOT.parent / "shared" / "data" / "lfw"


def ensure_metric_learn_compat() -> str:
    """Make metric-learn 0.7.0 importable and usable on today's scikit-learn."""
    try:
        from metricbench.learn.compat import patch_metric_learn as ensure
    except ImportError:
        ensure = None
    if ensure is not None:
        ensure()
        return "metricbench.learn.compat"
    # minimal local shim: translate force_all_finite -> ensure_all_finite
    import inspect

    import metric_learn._util as mlu

    def wrap(func):
        if "force_all_finite" in inspect.signature(func).parameters or getattr(func, "_mb_shim", False):
            return func

        def inner(*args, force_all_finite=None, **kw):
            if force_all_finite is not None:
                kw.setdefault("ensure_all_finite", force_all_finite)
            return func(*args, **kw)

        inner._mb_shim = True
        return inner

    mlu.check_array = wrap(mlu.check_array)
    mlu.check_X_y = wrap(mlu.check_X_y)
    return "local shim (benchmarks/bench_lmnn.py)"


def load_subset(rows: int, seed: int):
    import pandas as pd

    from metricbench.model_selection import identity_split

    ref = lfw_dir() / "reference"
    if not ref.is_dir():
        raise SystemExit(f"LFW reference embeddings not found under {ref} (set METRICBENCH_LFW)")
    Xc = np.load(ref / "dev_clean_embeddings.npy")
    Xq = np.load(ref / "dev_xq40_embeddings.npy")
    yc = pd.read_csv(ref / "dev_clean_labels.csv")["class"].to_numpy()
    yq = pd.read_csv(ref / "dev_xq40_labels.csv")["class"].to_numpy()
    X = np.vstack([Xc, Xq]).astype(np.float32)
    y = np.concatenate([yc, yq])
    group = np.array(["clean"] * len(yc) + ["xq40"] * len(yq))
    ids, cnt = np.unique(yc, return_counts=True)
    keep = np.isin(y, ids[cnt >= 2])
    X, y, group = X[keep], y[keep], group[keep]
    fit_mask, val_mask = identity_split(y, holdout=0.3, random_state=seed)
    # whole identities of the fitting side, in a seeded order, until `rows` rows
    rng = np.random.default_rng(seed)
    fit_ids = rng.permutation(np.unique(y[fit_mask]))
    sizes = {c: n for c, n in zip(*np.unique(y[fit_mask], return_counts=True))}
    chosen, total = [], 0
    for c in fit_ids:
        if total + sizes[c] > rows:
            continue
        chosen.append(c)
        total += sizes[c]
    sel = np.isin(y, chosen)
    return (X[sel], y[sel], group[sel]), (X[val_mask], y[val_mask], group[val_mask])


def val_auroc(Zv, yv, gv, seed, metric="sqeuclidean"):
    from sklearn.metrics import roc_auc_score

    from metricbench.model_selection import sample_pairs

    i1, i2, same = sample_pairs(yv, n_pairs=20000, random_state=seed, variants=gv, cross=("clean", "xq40"))
    a, b = Zv[i1].astype(np.float64), Zv[i2].astype(np.float64)
    if metric == "cosine":
        a = a / np.linalg.norm(a, axis=1, keepdims=True)
        b = b / np.linalg.norm(b, axis=1, keepdims=True)
        dist = 1.0 - (a * b).sum(1)
    else:
        dist = ((a - b) ** 2).sum(1)
    return roc_auc_score(same, -dist)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=3000)
    ap.add_argument("--n-components", type=int, default=128)
    ap.add_argument("--n-neighbors", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-iter", type=int, default=50, help="native lmnn L-BFGS iterations")
    ap.add_argument("--gd-max-iter", type=int, default=300, help="native lmnn iterations with solver=gd")
    ap.add_argument("--holdout", type=float, default=0.1,
                    help="native lmnn: identities of the fitting subset held out to pick the iteration")
    ap.add_argument("--ml-max-iter", type=int, default=1000, help="metric-learn LMNN max_iter (its default)")
    ap.add_argument("--ml-learn-rate", type=float, default=1e-7, help="metric-learn's default 1e-7")
    ap.add_argument("--skip-ml", action="store_true")
    ap.add_argument("--no-scale", action="store_true",
                    help="keep the embeddings' own scale (metric-learn then treats nearly every pair as an "
                         "impostor: ~9 GB of arrays per iteration at 3,000 rows)")
    args = ap.parse_args(argv)

    from metricbench.learn.lmnn import LMNN

    (X, y, g), (Xv, yv, gv) = load_subset(args.rows, args.seed)
    if not args.no_scale:
        from metricbench.learn.lmnn import find_target_neighbors

        T = find_target_neighbors(X, y, args.n_neighbors)
        far = ((X[:, None, :] - X[T]) ** 2).sum(-1).max(axis=1)
        scale = 1.0 / np.sqrt(np.median(far))
        X, Xv = X * np.float32(scale), Xv * np.float32(scale)
        print(f"rows scaled by {scale:.4f} (median squared distance to the farthest target neighbour -> 1)")
    print(f"fit subset {X.shape[0]} x {X.shape[1]}, {np.unique(y).size} identities; "
          f"validation: {np.unique(yv).size} held-out identities, cross-quality pairs; "
          f"load average {loadavg()}")
    print(f"  euclidean  val AUROC {val_auroc(Xv, yv, gv, args.seed):.4f}")
    print(f"  cosine     val AUROC {val_auroc(Xv, yv, gv, args.seed, 'cosine'):.4f}")

    # warm the numba cache outside the timing (a compiled, cached kernel is the steady state)
    LMNN(n_components=4, max_iter=1, holdout=0).fit(X, y)
    if args.n_components < X.shape[1]:
        from sklearn.decomposition import PCA

        pca = PCA(args.n_components).fit(X)
        print(f"  PCA-{args.n_components} (the init) val AUROC {val_auroc(pca.transform(Xv), yv, gv, args.seed):.4f}")
    # two native settings: the defaults (L-BFGS, built for scale) and the small-data ones (metric-learn's kind
    # of optimiser, gradient descent with an adaptive step, stopped by the held-out identities, then refit)
    settings = {"defaults": {}, "solver=gd refit=True": {"solver": "gd", "refit": True,
                                                         "max_iter": args.gd_max_iter, "patience": 30}}
    natives = {}
    for label, extra in settings.items():
        kw = dict(n_components=args.n_components, n_neighbors=args.n_neighbors, init="pca",
                  max_iter=args.max_iter, holdout=args.holdout, seed=args.seed)
        kw.update(extra)
        t0, c0 = time.perf_counter(), time.process_time()
        ours = LMNN(**kw).fit(X, y, groups=g)
        t_ours, c_ours = time.perf_counter() - t0, time.process_time() - c0
        auc_ours = val_auroc(ours.transform(Xv), yv, gv, args.seed)
        natives[label] = (t_ours, c_ours, auc_ours)
        print(f"  metricbench lmnn ({label}): fit {t_ours:.2f}s wall, {c_ours:.2f}s CPU, val AUROC {auc_ours:.4f}  "
              f"[{ours.describe()}]", flush=True)
    if args.skip_ml:
        return
    how = ensure_metric_learn_compat()
    from metric_learn import LMNN as MLLMNN

    t0, c0 = time.perf_counter(), time.process_time()
    ml = MLLMNN(n_neighbors=args.n_neighbors, n_components=args.n_components, init="pca",
                max_iter=args.ml_max_iter, learn_rate=args.ml_learn_rate, regularization=0.5,
                random_state=args.seed).fit(X, y)
    t_ml, c_ml = time.perf_counter() - t0, time.process_time() - c0
    auc_ml = val_auroc(ml.transform(Xv), yv, gv, args.seed)
    print(f"  metric-learn LMNN: fit {t_ml:.2f}s wall, {c_ml:.2f}s CPU, val AUROC {auc_ml:.4f}, "
          f"n_iter {ml.n_iter_} (compat: {how})")
    for label, (t_ours, c_ours, auc_ours) in natives.items():
        print(f"lmnn ({label}): speed-up {t_ml / t_ours:.1f}x wall, {c_ml / c_ours:.1f}x CPU; AUROC difference "
              f"(ours - metric-learn) {auc_ours - auc_ml:+.4f}")
    print(f"load average {loadavg()}")


if __name__ == "__main__":
    main()
