"""KISSME, "keep it simple and straightforward" metric learning (Koestinger et al., CVPR 2012): ``kissme``.

The log-likelihood ratio of a pair's difference ``d = x_i - x_j`` under two zero-mean
Gaussians, same identity ``N(0, S_same)`` against different identities ``N(0, S_diff)``,
is (up to a constant) ``-d^T M d`` with

    M = inv(S_same) - inv(S_diff),

computed in a PCA subspace of the train embeddings and clipped to the positive
semi-definite cone (negative eigenvalues set to 0), so that it is a Mahalanobis metric:
a :class:`~metricbench.learn.base.LinearMetric` with ``components_ = L P^T`` where
``M = L^T L`` and ``P`` the PCA basis, and a squared-Euclidean base.

``S_same`` and ``S_diff`` come from every same-identity and every different-identity pair
of train rows, summed in closed form (no pair is enumerated), or from seeded samples of
pairs. With train ``groups`` naming two variants (clean / degraded), ``within="auto"``
uses only pairs joining one row of each variant, the kind of pair the test asks about.
"""

from __future__ import annotations

import numpy as np

from metricbench.errors import InputError
from metricbench.learn._scatter import (
    clip_psd,
    cross_groups_from,
    iter_blocks,
    pair_scatter,
    resolve_within,
    row_mean,
    weighted_gram,
)
from metricbench.learn._select import Holdout, int_grid
from metricbench.learn.base import LinearMetric


def difference_covariances(
    Z, y, *, same_pairs="all", diff_pairs="all", weighting="rows", groups=None, cross=None, seed=0
):
    """``S_same, S_diff`` (k, k): mean ``d d^T`` of same- and different-identity pair differences.

    ``"all"`` sums every ordered pair in closed form; an int samples that many pairs
    (seeded, :func:`metricbench.evaluation.splits.sample_pairs`, which draws a row uniformly
    and then its partner). With ``cross=(a, b)`` and ``groups``, only pairs of one row of
    group ``a`` and one of group ``b`` count. ``weighting`` of the same pairs under "all":
    ``"pairs"`` (every pair weighs 1, the original KISSME; identities with many rows dominate)
    or ``"rows"`` (an identity weighs as much as it has rows, like sampled pairs).
    """
    Z = np.asarray(Z, dtype=np.float64)
    need_all = same_pairs == "all" or diff_pairs == "all"
    if need_all:
        same, n_same, every, n_every = pair_scatter(Z, y, groups=groups, cross=cross, class_weight="pairs")
    S_same = S_diff = None
    if same_pairs == "all":
        if n_same <= 0:
            raise InputError("KISSME needs identities with 2 or more train rows (same-identity pairs)")
        if weighting == "pairs":
            S_same = same / n_same
        else:
            same_w, n_w, _, _ = pair_scatter(Z, y, groups=groups, cross=cross, class_weight=weighting)
            S_same = same_w / n_w
    if diff_pairs == "all":
        if n_every - n_same <= 0:
            raise InputError("KISSME needs at least 2 identities")
        S_diff = (every - same) / (n_every - n_same)
    if S_same is None:
        S_same = _sampled(Z, y, int(same_pairs), 1.0, groups, cross, seed)
    if S_diff is None:
        S_diff = _sampled(Z, y, int(diff_pairs), 0.0, groups, cross, seed + 1)
    return S_same, S_diff


def _sampled(Z, y, n, same_fraction, groups, cross, seed):
    from metricbench.evaluation.splits import sample_pairs

    if n < 1:
        raise InputError(f"number of sampled pairs must be positive, got {n}")
    i1, i2, _ = sample_pairs(y, n_pairs=n, same_fraction=same_fraction, seed=seed, groups=groups, cross_groups=cross)
    if i1.size == 0:
        raise InputError("no pairs of the requested kind could be sampled from train")
    D = Z[i1] - Z[i2]
    return D.T @ D / D.shape[0]


def kissme_matrix(S_same, S_diff) -> np.ndarray:
    """``M = inv(S_same) - inv(S_diff)`` clipped to be positive semi-definite."""
    k = S_same.shape[0]
    reg = 1e-10 * max(np.trace(S_same) / k, 1e-300) * np.eye(k)
    try:
        M = np.linalg.inv(S_same + reg) - np.linalg.inv(S_diff + reg)
    except np.linalg.LinAlgError:
        raise InputError("KISSME covariance is singular; lower n_components") from None
    return clip_psd(M, 0.0)


def _psd_factor(M):
    """``L`` (k, k) with ``L^T L = M`` (M positive semi-definite)."""
    w, V = np.linalg.eigh(M)
    return (V * np.sqrt(np.clip(w, 0.0, None))).T


class KISSME(LinearMetric):
    """KISSME in a PCA subspace, clipped to PSD; squared Mahalanobis distance.

    Parameters
    ----------
    n_components : int, "auto" or None
        PCA dimension; "auto" (default) chooses among ``n_components_grid`` on
        identity-disjoint validation; None keeps all ``d``.
    same_pairs, diff_pairs : "all" or int
        Every pair of the kind (closed form, default) or that many seeded samples.
    weighting : {"rows", "pairs"}
        Weight of the same-identity pairs under ``same_pairs="all"``: "pairs" gives every pair
        weight 1 (the original KISSME, dominated by identities with many rows); "rows"
        (default) weighs each identity by its rows, like sampled pairs.
    within : {"auto", "all", "cross"}
        Which pairs: any two rows ("all") or one row of each variant of ``groups`` ("cross");
        "auto" (default) uses "cross" when ``fit(..., groups=...)`` names two variants.
    n_components_grid : sequence of int
    holdout, n_pairs, seed :
        Validation split and pairs; ``seed`` also seeds sampled pairs.
    cross_groups : (str, str), optional
        Variant tags to pair across (default: the two tags of ``groups``).
    """

    base_metric = "sqeuclidean"

    def __init__(
        self,
        n_components="auto",
        same_pairs="all",
        diff_pairs="all",
        weighting: str = "rows",
        within: str = "auto",
        n_components_grid=(16, 32, 48, 64, 96, 128),
        holdout: float = 0.2,
        n_pairs: int = 20000,
        seed: int = 0,
        cross_groups=None,
    ):
        self.n_components = n_components
        self.same_pairs = same_pairs
        self.diff_pairs = diff_pairs
        self.weighting = weighting
        self.within = within
        self.n_components_grid = n_components_grid
        self.holdout = holdout
        self.n_pairs = n_pairs
        self.seed = seed
        self.cross_groups = cross_groups

    def _cross(self, groups):
        return resolve_within(self.within, groups, self.cross_groups)[1]

    def _stats(self, X, y, groups, k):
        """PCA mean, basis (d, k) and the two difference covariances in it."""
        mean = row_mean(X)
        s, U = np.linalg.eigh(weighted_gram(X, mean) / X.shape[0])
        P = U[:, np.argsort(s)[::-1][:k]]
        Z = np.empty((X.shape[0], k))
        for a, blk in iter_blocks(X):
            Z[a : a + blk.shape[0]] = (blk - mean) @ P
        cross = self._cross(groups)
        S_same, S_diff = difference_covariances(
            Z, y, same_pairs=_pairs_arg(self.same_pairs), diff_pairs=_pairs_arg(self.diff_pairs),
            weighting=self.weighting, groups=groups, cross=cross, seed=self.seed,
        )
        return mean, P, S_same, S_diff

    def _fit(self, X, y, groups=None):
        d = X.shape[1]
        y = np.asarray(y)
        self.validation_ = {}
        if self.n_components == "auto":
            h = Holdout(
                y, holdout=self.holdout, seed=self.seed, n_pairs=self.n_pairs, groups=groups,
                cross_groups=cross_groups_from(groups, self.cross_groups),
            )
            grid = int_grid(self.n_components_grid, d)
            Xf = np.asarray(X[h.fit_rows])
            gf = None if groups is None else np.asarray(groups)[h.fit_rows]
            mean, P, S_same, S_diff = self._stats(Xf, y[h.fit_rows], gf, max(grid))
            Zv = (np.asarray(X[h.val_rows], dtype=np.float64) - mean) @ P
            table = {}
            for k in grid:
                L = _psd_factor(kissme_matrix(S_same[:k, :k], S_diff[:k, :k]))
                D = (Zv[h.i1, :k] - Zv[h.i2, :k]) @ L.T
                table[k] = h.auroc(-np.einsum("ij,ij->i", D, D))
            k = max(table, key=lambda kk: (table[kk], -kk))
            self.validation_ = {str(kk): float(v) for kk, v in table.items()}
            self.validation_auroc_ = float(table[k])
        elif self.n_components is None:
            k = d
        else:
            k = int(self.n_components)
            if not 1 <= k <= d:
                raise InputError(f"n_components must be between 1 and {d}, got {k}")
        mean, P, S_same, S_diff = self._stats(X, y, groups, k)
        M = kissme_matrix(S_same, S_diff)
        self.n_components_ = int(k)
        self.pairs_kind_ = "all" if self._cross(groups) is None else "cross " + "/".join(self._cross(groups))
        self.mean_ = mean
        self.pca_components_ = np.ascontiguousarray(P.T)
        self.cov_same_ = S_same
        self.cov_diff_ = S_diff
        self.metric_matrix_ = M
        self.n_clipped_ = int((np.linalg.eigvalsh(np.linalg.inv(S_same) - np.linalg.inv(S_diff)) < 0).sum())
        self.components_ = np.ascontiguousarray(_psd_factor(M) @ P.T)

    def describe(self) -> str:
        if not hasattr(self, "n_components_"):
            return ""
        sp = lambda v: "all" if _pairs_arg(v) == "all" else f"{int(v)} sampled (seed {self.seed})"  # noqa: E731
        msg = (
            f"KISSME in PCA k={self.n_components_}, {self.pairs_kind_} pairs (same: {sp(self.same_pairs)}"
            + (f" {self.weighting}-weighted" if _pairs_arg(self.same_pairs) == "all" else "")
            + ", "
            f"different: {sp(self.diff_pairs)}), {self.n_clipped_} negative eigenvalues clipped"
        )
        if getattr(self, "validation_", None):
            msg += f" (k chosen on identity-disjoint validation, AUROC {self.validation_auroc_:.4f}, seed {self.seed})"
        return msg

    def _fitted_state(self):
        arrays, scalars = super()._fitted_state()
        scalars["validation_"] = {k: float(v) for k, v in getattr(self, "validation_", {}).items()}
        return arrays, scalars


def _pairs_arg(v):
    if v is None or (isinstance(v, str) and v.strip().lower() == "all"):
        return "all"
    return int(v)


__all__ = ["KISSME", "difference_covariances", "kissme_matrix"]
