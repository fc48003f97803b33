"""Write LFW-protocol files (embeddings.npy, labels.csv, pairs.csv) made from the embedded default lfw-xq.

    python scripts/make_lfw_demo.py runs/lfw-demo            # 10 folds x 300 pairs, seed 0
    python scripts/make_lfw_demo.py runs/lfw-demo --pairs-per-fold 600 --seed 1
    python scripts/make_lfw_demo.py runs/lfw-heldout --exclude runs/demo/labelled/labels.csv   # unseen identities

Then: metricbench lfw runs/lfw-demo/pairs.csv -e runs/lfw-demo/embeddings.npy -l runs/lfw-demo/labels.csv
(see metricbench.datasets.write_lfw_xq_protocol for how the pairs are drawn).
"""

from __future__ import annotations

import argparse

from metricbench.datasets import write_lfw_xq_protocol

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", help="folder to write")
    ap.add_argument("--folds", type=int, default=10)
    ap.add_argument("--pairs-per-fold", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--exclude", help="labels CSV whose class column names identities to leave out")
    a = ap.parse_args()
    exclude = None
    if a.exclude:
        import pandas as pd

        exclude = pd.read_csv(a.exclude, dtype={"class": str})["class"].unique()
    files = write_lfw_xq_protocol(a.out, n_folds=a.folds, pairs_per_fold=a.pairs_per_fold, seed=a.seed,
                                  exclude=exclude)
    print(" ".join(str(p) for p in files.values()))
