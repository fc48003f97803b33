"""Show metricbench's retrieval measures equal pytorch-metric-learning's AccuracyCalculator.

Splits made from the LFW dlib reference embeddings (../shared/data/lfw/reference):

* ``clean->clean``: for each identity with 2+ images, its first image (clean) is a query;
  the gallery is every other clean image (identities with one image are distractors);
* ``xq40->clean``: the same queries taken from the cross-quality (xq40) embeddings;
* ``clean, same set``: all clean images of identities with 2+ images, each a query
  against all the others (PML's ``ref_includes_query=True``, metricbench's ``exclude_self``).

PML runs with its own exact kNN (``CustomKNN`` over ``LpDistance`` / ``CosineSimilarity``,
no faiss) and ``k=None`` (the whole gallery), which makes its ``mean_average_precision``
the full-ranking mAP. Needs the ``compare`` extra (torch CPU build, pytorch-metric-learning).

    PYTHONPATH=. python scripts/check_retrieval_vs_pml.py [--lfw DIR]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

PAIRS = {  # metricbench key -> PML key
    "precision_at_1": "precision_at_1",
    "r_precision": "r_precision",
    "map_at_r": "mean_average_precision_at_r",
    "map": "mean_average_precision",
}


def lfw_dir(arg: str | None) -> Path:
    if arg:
        return Path(arg)
    if os.environ.get("METRICBENCH_LFW"):
        return Path(os.environ["METRICBENCH_LFW"])
    return Path(__file__).resolve().parents[1].parent / "shared" / "data" / "lfw"


def load(ref: Path, variant: str):
    X = np.load(ref / f"dev_{variant}_embeddings.npy")
    lab = pd.read_csv(ref / f"dev_{variant}_labels.csv")
    return X, lab


def splits(ref: Path):
    Xc, lab = load(ref, "clean")
    Xq, labq = load(ref, "xq40")
    assert (lab["path"].to_numpy() == labq["path"].to_numpy()).all()
    y = lab["class"].to_numpy()
    codes = pd.factorize(y)[0]
    counts = np.bincount(codes)
    multi = counts[codes] >= 2
    # first image (lowest path) of each identity with 2+ images
    first = lab.assign(code=codes)[multi].sort_values("path").groupby("code").head(1).index.to_numpy()
    is_q = np.zeros(len(lab), bool)
    is_q[first] = True
    yield "clean->clean", Xc[is_q], codes[is_q], Xc[~is_q], codes[~is_q], False
    yield "xq40->clean", Xq[is_q], codes[is_q], Xc[~is_q], codes[~is_q], False
    yield "clean, same set", Xc[multi], codes[multi], Xc[multi], codes[multi], True


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lfw", help="LFW folder (default ../shared/data/lfw or $METRICBENCH_LFW)")
    args = ap.parse_args(argv)
    ref = lfw_dir(args.lfw) / "reference"
    if not ref.is_dir():
        print(f"no reference embeddings at {ref}; set --lfw or METRICBENCH_LFW", file=sys.stderr)
        return 2
    try:
        import torch
        from pytorch_metric_learning.distances import CosineSimilarity, LpDistance
        from pytorch_metric_learning.utils.accuracy_calculator import AccuracyCalculator
        from pytorch_metric_learning.utils.inference import CustomKNN
    except ImportError as e:
        print(f"needs the 'compare' extra (torch, pytorch-metric-learning): {e}", file=sys.stderr)
        return 2
    import pytorch_metric_learning

    from metricbench.evaluation.retrieval import retrieval_metrics_from_embeddings

    torch.set_num_threads(max(1, os.cpu_count() or 1))
    print(f"torch {torch.__version__}, pytorch-metric-learning {pytorch_metric_learning.__version__}")
    knns = {
        "euclidean": CustomKNN(LpDistance(p=2, normalize_embeddings=False), batch_size=512),
        "cosine": CustomKNN(CosineSimilarity(), batch_size=512),
    }
    rows = []
    for name, Q, yq, G, yg, same in splits(ref):
        for metric, knn in knns.items():
            calc = AccuracyCalculator(
                include=tuple(PAIRS.values()), k=None, knn_func=knn, device=torch.device("cpu")
            )
            t = time.perf_counter()
            if same:
                pml = calc.get_accuracy(Q, yq)  # reference = query, self excluded
            else:
                pml = calc.get_accuracy(Q, yq, G, yg)
            t_pml = time.perf_counter() - t
            t = time.perf_counter()
            mb = retrieval_metrics_from_embeddings(Q, G, yq, yg, metric=metric, exclude_self=same)
            t_mb = time.perf_counter() - t
            diffs = {k: abs(mb[k] - pml[v]) for k, v in PAIRS.items()}
            rows.append(
                {"split": name, "metric": metric, "queries": mb["n_queries_evaluated"],
                 "gallery": mb["n_gallery"], **{k: mb[k] for k in PAIRS},
                 "max_abs_diff": max(diffs.values()), "metricbench_s": t_mb, "pml_s": t_pml}
            )
            print(
                f"{name:16s} {metric:9s} q={mb['n_queries_evaluated']:5d} g={mb['n_gallery']:5d}  "
                + "  ".join(f"{k}={mb[k]:.6f}/{pml[v]:.6f}" for k, v in PAIRS.items())
                + f"  max|diff|={max(diffs.values()):.2e}  ({t_mb:.1f} s vs PML {t_pml:.1f} s)"
            )
    worst = max(r["max_abs_diff"] for r in rows)
    print(f"largest absolute difference over {len(rows)} runs x {len(PAIRS)} measures: {worst:.2e}")
    return 0 if worst < 1e-6 else 1


if __name__ == "__main__":
    raise SystemExit(main())
