"""Classical verification metrics on a competition directory: validation and test AUROC, in one run.

    python benchmarks/classic_auroc.py                       # embedded lfw-xq, every classic metric
    python benchmarks/classic_auroc.py --data metricbench/data/lfw-xq --only plda,lda-cosine
    python benchmarks/classic_auroc.py --no-groups           # ignore train_meta.csv (no variant tags)

For each metric (registry name plus parameters):
  val AUROC   identity-disjoint validation on train (metricbench.model_selection.validate_metric:
              20 % of identities held out, seed 0, 20,000 pairs; cross-variant pairs when the train
              rows carry variant tags in train_meta.csv, which are also passed to fit as ``groups``)
  test AUROC  fitted on all of train, scored on test_pairs.csv against solution.csv
  fit s / score s   wall-clock seconds of that final fit and of scoring the test pairs
The reference recipe of the issue is printed first: scikit-learn's LinearDiscriminantAnalysis
(svd solver) fitted on train with k in {16, 32, 64}, then cosine; its best k (by test AUROC, the
most favourable choice for the reference) is the bar.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from eval_pairs_lfw_xq import validation_pairs  # noqa: E402  (one adapter over IdentityPairSplit)

CONFIGS = [
    ("cosine", {}),
    ("zca-cosine", {"shrinkage": 1.0}),  # = centring, then cosine
    ("zca-cosine", {}),
    ("wccn-cosine", {}),
    ("wccn-cosine", {"within": "all"}),
    ("lda-cosine", {}),
    ("lda-cosine", {"within": "all"}),
    ("mahalanobis", {}),
    ("mahalanobis", {"estimator": "oas"}),
    ("kissme", {}),
    ("kissme", {"within": "all"}),
    ("plda", {}),
    ("plda", {"within": "all"}),
    ("plda", {"length_norm": True}),
    ("plda", {"method": "em", "within": "all"}),
]


def _cos(A, B):
    return (A * B).sum(1) / np.linalg.norm(A, axis=1) / np.linalg.norm(B, axis=1)


def sklearn_lda_reference(Xtr, ytr, Xte, i1, i2, sol, Xv_parts=None):
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

    from metricbench.evaluation.verification import auroc as roc_auc

    out = {}
    for k in (16, 32, 64):
        Z = LinearDiscriminantAnalysis(n_components=k).fit(Xtr, ytr).transform(Xte)
        out[k] = roc_auc(sol, _cos(Z[i1], Z[i2]))
    val = {}
    if Xv_parts is not None:
        Xf, yf, Xv, j1, j2, same = Xv_parts
        for k in (16, 32, 64):
            Z = LinearDiscriminantAnalysis(n_components=k).fit(Xf, yf).transform(Xv)
            val[k] = roc_auc(same, _cos(Z[j1], Z[j2]))
    return out, val


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(ROOT / "metricbench" / "data" / "lfw-xq"))
    ap.add_argument("--only", default="", help="comma-separated registry names to run (default: all configs)")
    ap.add_argument("--no-groups", action="store_true", help="do not use train_meta.csv variant tags")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    from metricbench.evaluation.verification import auroc as roc_auc
    from metricbench.model_selection import cross_groups_of, validate_metric
    from metricbench.io.competition import load_competition
    from metricbench.registry import get_metric

    comp = load_competition(args.data)
    Xtr, ytr = np.asarray(comp.train_X), np.asarray(comp.train_y)
    Xte = np.asarray(comp.test_X)
    i1, i2 = comp.pairs["index1"].to_numpy(), comp.pairs["index2"].to_numpy()
    sol = np.asarray(comp.solution)
    groups = None if args.no_groups else comp.train_groups
    print(f"data {args.data}: train {Xtr.shape}, test {Xte.shape}, {i1.size} test pairs, "
          f"groups {'none' if groups is None else sorted(set(groups.tolist()))}")

    fit_mask, val_rows, j1, j2, same = validation_pairs(ytr, holdout=0.2, seed=args.seed, groups=groups)
    ref_test, ref_val = sklearn_lda_reference(
        Xtr, ytr, Xte, i1, i2, sol, (Xtr[fit_mask], ytr[fit_mask], Xtr[val_rows], j1, j2, same)
    )
    best_k = max(ref_test, key=ref_test.get)
    print("reference: sklearn LinearDiscriminantAnalysis(k) + cosine   "
          + "  ".join(f"k={k}: val {ref_val[k]:.4f} test {ref_test[k]:.4f}" for k in ref_test))
    print(f"bar: best k={best_k}, test {ref_test[best_k]:.4f}, val {max(ref_val.values()):.4f} (best val k)\n")

    only = {s.strip() for s in args.only.split(",") if s.strip()}
    header = f"{'metric':12s} {'params':28s} {'val AUROC':>9s} {'test AUROC':>10s} {'fit s':>7s} {'score s':>7s}  chosen"
    print(header)
    print("-" * len(header))
    for name, params in CONFIGS:
        if only and name not in only:
            continue
        v = validate_metric(name, Xtr, ytr, random_state=args.seed, variants=groups, **params)
        m = get_metric(name, **params)
        kw = {"groups": groups} if (groups is not None and m.learns) else {}
        t0 = time.perf_counter()
        m.fit(Xtr, ytr, **kw)
        t1 = time.perf_counter()
        score = m.pair_score(Xte, i1, i2)
        t2 = time.perf_counter()
        test = roc_auc(sol, score)
        p = ",".join(f"{k}={val}" for k, val in params.items()) or "-"
        print(f"{name:12s} {p:28s} {v.auroc:9.4f} {test:10.4f} {t1 - t0:7.2f} {t2 - t1:7.3f}  {m.describe()}",
              flush=True)
    print(f"\ncross-variant validation pairs: {cross_groups_of(groups)}; seed {args.seed}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
