"""PCA whitening then cosine (``cosine-whitened``), with the dimension and shrinkage chosen honestly.

Full whitening divides every principal direction by its standard deviation, so
the many low-variance directions, mostly noise for identity, are blown up as
much as the informative ones. Two knobs tame it:

* ``n_components`` keeps only the top-k principal directions;
* ``shrinkage`` alpha replaces each eigenvalue s_i by ``(1 - alpha) s_i + alpha mean(s)``
  before dividing: alpha = 0 is full whitening, alpha = 1 no rescaling at all
  (centring + projection only).

By default both are chosen on identity-disjoint validation inside ``fit``: the
metric is fitted on some identities and scored on same / different pairs of the
others (cross-variant pairs when ``groups`` names two variants), then refitted
on all rows with the winning setting, which ``describe()`` reports.
"""

from __future__ import annotations

import numpy as np

from metricbench.errors import InputError
from metricbench.learn.base import LinearMetric


def _mean_cov(X, chunk: int | None = None):
    """Mean and covariance (ddof=0) of the rows of X, accumulated in float64 chunks."""
    n, d = X.shape
    if chunk is None:
        from metricbench.config import get_chunk_n_rows

        chunk = get_chunk_n_rows(16 * max(1, d))
    s = np.zeros(d)
    for a in range(0, n, chunk):
        s += np.asarray(X[a : a + chunk], dtype=np.float64).sum(0)
    mean = s / n
    C = np.zeros((d, d))
    for a in range(0, n, chunk):
        blk = np.asarray(X[a : a + chunk], dtype=np.float64) - mean
        C += blk.T @ blk
    return mean, C / n


def _pca(X):
    mean, C = _mean_cov(X)
    s, U = np.linalg.eigh(C)
    order = np.argsort(s)[::-1]
    return mean, np.clip(s[order], 0.0, None), U[:, order]


def _components(s, U, k: int, alpha: float) -> np.ndarray:
    s_k = s[:k]
    lam = (1.0 - alpha) * s_k + alpha * s_k.mean()
    lam = np.maximum(lam, 1e-12 * max(1e-300, s_k.max()))
    return (U[:, :k] / np.sqrt(lam)).T


def _cosine_rows(A, B):
    num = np.einsum("ij,ij->i", A, B)
    den = np.sqrt(np.einsum("ij,ij->i", A, A) * np.einsum("ij,ij->i", B, B))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0)


class WhitenedCosine(LinearMetric):
    """PCA whitening fitted on train, then cosine.

    Parameters
    ----------
    n_components : int, "auto" or None
        Principal directions kept; ``"auto"`` (default) chooses among
        ``n_components_grid`` on validation; None keeps all.
    shrinkage : float or "auto"
        Eigenvalue shrinkage alpha in [0, 1] (0 = full whitening, 1 = centring only);
        ``"auto"`` chooses among ``shrinkage_grid``.
    n_components_grid, shrinkage_grid : sequence
        Candidates for the automatic choice (fractions <= 1 of the width are allowed in
        ``n_components_grid``).
    holdout : float
        Share of identities held out for the choice.
    n_pairs : int
        Validation pairs (half same identity).
    seed : int
        Seed of the identity split and pair sampling.
    """

    base_metric = "cosine"

    def __init__(
        self,
        n_components="auto",
        shrinkage="auto",
        n_components_grid=(0.125, 0.25, 0.5, 1.0),
        shrinkage_grid=(0.0, 0.25, 0.5, 0.75, 0.9, 1.0),
        holdout: float = 0.2,
        n_pairs: int = 20000,
        seed: int = 0,
    ):
        self.n_components = n_components
        self.shrinkage = shrinkage
        self.n_components_grid = n_components_grid
        self.shrinkage_grid = shrinkage_grid
        self.holdout = holdout
        self.n_pairs = n_pairs
        self.seed = seed

    def _grid(self, d: int):
        def ks():
            if self.n_components == "auto":
                vals = []
                for g in _as_list(self.n_components_grid):
                    g = float(g)
                    vals.append(int(round(g * d)) if g <= 1.0 else int(g))
                return sorted({min(d, max(1, v)) for v in vals})
            if self.n_components is None:
                return [d]
            k = int(self.n_components)
            if not 1 <= k <= d:
                raise InputError(f"n_components must be between 1 and {d}, got {k}")
            return [k]

        def alphas():
            if self.shrinkage == "auto":
                return sorted({float(a) for a in _as_list(self.shrinkage_grid)})
            a = float(self.shrinkage)
            if not 0.0 <= a <= 1.0:
                raise InputError(f"shrinkage must be between 0 and 1, got {a}")
            return [a]

        return ks(), alphas()

    def _fit(self, X, y, groups=None):
        from metricbench.evaluation.validation import roc_auc, validation_pairs

        n, d = X.shape
        if n < 2:
            raise InputError("cosine-whitened needs at least 2 train rows")
        ks, alphas = self._grid(d)
        self.validation_ = {}
        if len(ks) * len(alphas) > 1:
            fit_mask, val_rows, i1, i2, same = validation_pairs(
                y, holdout=self.holdout, seed=self.seed, n_pairs=self.n_pairs, groups=groups
            )
            mean, s, U = _pca(np.asarray(X)[fit_mask])
            Z = (np.asarray(X[val_rows], dtype=np.float64) - mean) @ U  # all directions, unscaled
            best = (-np.inf, None)
            for k in ks:
                for a in alphas:
                    lam = (1.0 - a) * s[:k] + a * s[:k].mean()
                    lam = np.maximum(lam, 1e-12 * max(1e-300, s[:k].max()))
                    W = Z[:, :k] / np.sqrt(lam)
                    auc = roc_auc(same, _cosine_rows(W[i1], W[i2]))
                    self.validation_[f"k={k},alpha={a:g}"] = auc
                    if auc > best[0] + 1e-12:
                        best = (auc, (k, a))
            self.validation_auroc_ = float(best[0])
            k, a = best[1]
        else:
            k, a = ks[0], alphas[0]
        self.n_components_ = int(k)
        self.shrinkage_ = float(a)
        mean, s, U = _pca(X)
        self.mean_ = mean
        self.explained_variance_ = s[:k]
        self.components_ = _components(s, U, k, a)

    def describe(self) -> str:
        if not hasattr(self, "n_components_"):
            return ""
        msg = f"k={self.n_components_} of {self.n_features_in_} dims, shrinkage={self.shrinkage_:g}"
        if getattr(self, "validation_auroc_", None) is not None and self.validation_:
            msg += f" (chosen on identity-disjoint validation, AUROC {self.validation_auroc_:.4f}, seed {self.seed})"
        return msg

    def _fitted_state(self):
        arrays, scalars = super()._fitted_state()
        scalars.pop("validation_", None)
        scalars["validation_"] = {k: float(v) for k, v in getattr(self, "validation_", {}).items()}
        return arrays, scalars


def _as_list(v):
    if isinstance(v, str):
        return [x for x in v.replace(";", ",").split(",") if x.strip()]
    return list(v)
