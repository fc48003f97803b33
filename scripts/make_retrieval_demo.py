"""Write a leak-free retrieval exercise made from the embedded default lfw-xq (query, gallery, labelled collection).

    python scripts/make_retrieval_demo.py runs/demo          # seed 0, 20 % of the identities as the exercise

Writes query.npy / query_labels.csv (one degraded photo per identity), gallery.npy / gallery_labels.csv (clean
embeddings of the other photos of the same identities) and labelled/{clean,xq40}.npy + labelled/labels.csv (other
identities only, for metricbench make-competition). See metricbench.datasets.write_lfw_xq_retrieval.
"""

from __future__ import annotations

import argparse

from metricbench.datasets import write_lfw_xq_retrieval

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", help="folder to write")
    ap.add_argument("--query-fraction", type=float, default=0.2)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    files = write_lfw_xq_retrieval(a.out, query_fraction=a.query_fraction, seed=a.seed)
    print("\n".join(f"{k:16s} {v}" for k, v in files.items()))
