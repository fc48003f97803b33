"""Why LMNN needs early stopping on a small train set: validation AUROC along the optimiser's path.

Same 2,998 x 128 LFW subset and validation pairs as ``bench_lmnn.py``. Prints

1. L-BFGS with exact impostors and no hold-out, stopped after 1, 2, 3, 4, 6, 8, 20, 40 iterations;
2. gradient descent (``solver="gd"``, metric-learn's adaptive-step rule) without hold-out, for first steps
   (``learn_rate``) 0.003, 0.01, 0.03, stopped after 5 ... 150 iterations;
3. ``solver="gd"`` stopped by the held-out identities, with and without ``refit``, over the split seeds 0-2 and
   ``holdout`` 0.1 / 0.2.

    PYTHONPATH=. python benchmarks/lmnn_small_data_curves.py        # about 2 minutes
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_lmnn as B  # noqa: E402


def main() -> None:
    from metricbench.learn.lmnn import LMNN, find_target_neighbors

    warnings.simplefilter("ignore")
    (X, y, g), (Xv, yv, gv) = B.load_subset(3000, 0)
    T = find_target_neighbors(X, y, 3)
    far = ((X[:, None, :] - X[T]) ** 2).sum(-1).max(axis=1)
    sc = np.float32(1.0 / np.sqrt(np.median(far)))
    X, Xv = X * sc, Xv * sc

    def auc(m):
        return B.val_auroc(m.transform(Xv), yv, gv, 0)

    base = dict(n_components=128, init="pca", seed=0)
    exact = dict(n_candidate_classes=400, max_candidates_per_class=100, max_impostors=3000, n_random_impostors=0)
    print("L-BFGS, exact impostors, no hold-out (iterations: validation AUROC)")
    print("  " + "  ".join(f"{k}: {auc(LMNN(**base, **exact, holdout=0, max_iter=k).fit(X, y, groups=g)):.4f}"
                           for k in (1, 2, 3, 4, 6, 8, 20, 40)))
    print("gradient descent, no hold-out")
    for lr in (0.003, 0.01, 0.03):
        row = [f"{k}: {auc(LMNN(**base, solver='gd', learn_rate=lr, holdout=0, max_iter=k).fit(X, y, groups=g)):.4f}"
               for k in (5, 10, 20, 40, 80, 150)]
        print(f"  learn_rate {lr}: " + "  ".join(row))
    print("gradient descent stopped by held-out identities (patience 30), without / with refit")
    for seed in (0, 1, 2):
        for hold in (0.1, 0.2):
            kw = dict(base, seed=seed, solver="gd", holdout=hold, max_iter=300, patience=30)
            a = LMNN(**kw).fit(X, y, groups=g)
            b = LMNN(**kw, refit=True).fit(X, y, groups=g)
            print(f"  seed {seed} holdout {hold}: kept iteration {a.best_iter_}: {auc(a):.4f}; refit: {auc(b):.4f}")


if __name__ == "__main__":
    main()
