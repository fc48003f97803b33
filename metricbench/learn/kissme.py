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
from sklearn.base import clone

from metricbench.learn import _constraints as dom
from metricbench.errors import InputError, ParameterError
from metricbench.learn.base import LinearMetric, StatsFitted, used_rows
from metricbench.learn.stats import clip_psd, one_thread, resolve_within, stats_chunk_rows
from metricbench.model_selection._scorer import pair_auroc
from metricbench.model_selection._split import _rng, sample_pairs


def difference_covariances(stats, *, weighting="rows"):
    """``S_same, S_diff`` (k, k): mean ``d d^T`` of same- and different-identity pair
    differences, from statistics (every ordered pair, summed in closed form; only pairs
    joining the two variants when ``stats`` has them). ``weighting`` of the same pairs:
    ``"pairs"`` (every pair weighs 1, the original KISSME; identities with many rows
    dominate) or ``"rows"`` (an identity weighs as much as it has rows, like sampled pairs).
    """
    same_p, n_same_p, every, n_every = stats.pair_scatter("pairs")
    if weighting == "pairs":
        same, n_same = same_p, n_same_p
    else:
        same, n_same, _, _ = stats.pair_scatter(weighting)
    if n_same <= 0:
        raise InputError("KISSME needs identities with 2 or more train rows (same-identity pairs)")
    if n_every - n_same_p <= 0:
        raise InputError("KISSME needs at least 2 identities")
    return same / n_same, (every - same_p) / (n_every - n_same_p)


def _sampled(Z, y, n, same_fraction, variants, cross, random_state):
    if n < 1:
        raise InputError(f"number of sampled pairs must be positive, got {n}")
    i1, i2, _ = sample_pairs(y, n_pairs=n, same_fraction=same_fraction, random_state=random_state,
                             variants=variants, cross=cross)
    if i1.size == 0:
        raise InputError("no pairs of the requested kind could be sampled from train")
    D = Z[i1] - Z[i2]
    return D.T @ D / D.shape[0]


@one_thread
def _kissme_raw(S_same, S_diff) -> np.ndarray:
    """``inv(S_same) - inv(S_diff)`` (a tiny ridge keeps it finite), before the PSD clip."""
    k = S_same.shape[0]
    reg = 1e-10 * max(np.trace(S_same) / k, 1e-300) * np.eye(k)
    try:
        return np.linalg.inv(S_same + reg) - np.linalg.inv(S_diff + reg)
    except np.linalg.LinAlgError:
        raise InputError("KISSME covariance is singular; lower n_components") from None


def kissme_matrix(S_same, S_diff) -> np.ndarray:
    """``M = inv(S_same) - inv(S_diff)`` clipped to be positive semi-definite."""
    return clip_psd(_kissme_raw(S_same, S_diff), 0.0)


@one_thread
def _psd_factor(M):
    """``L`` (k, k) with ``L^T L = M`` (M positive semi-definite)."""
    w, V = np.linalg.eigh(M)
    return (V * np.sqrt(np.clip(w, 0.0, None))).T


class KISSME(StatsFitted, LinearMetric):
    """KISSME in a PCA subspace, clipped to PSD; squared Mahalanobis distance.

    Parameters
    ----------
    n_components : int or None
        PCA dimension (default 64), clipped to the width and to the train covariance's
        numerical rank; None keeps all of them.
    same_pairs, diff_pairs : "all" or int
        Every pair of the kind (closed form, default) or that many seeded samples.
    weighting : {"rows", "pairs"}
        Weight of the same-identity pairs under ``same_pairs="all"``: "pairs" gives every pair
        weight 1 (the original KISSME, dominated by identities with many rows); "rows"
        (default) weighs each identity by its rows, like sampled pairs.
    within : {"auto", "all", "cross"}
        Which pairs: any two rows ("all") or one row of each variant ("cross"); "auto"
        (default) uses "cross" when ``fit(..., variants=...)`` names two variants.
    cross_groups : (str, str), optional
        Variant tags to pair across (default: the two tags of ``variants``).
    random_state : int
        Seed of sampled pairs.

    References
    ----------
    Koestinger, Hirzer, Wohlhart, Roth & Bischof, "Large scale metric learning from
    equivalence constraints", CVPR 2012.
    """

    base_metric = "sqeuclidean"
    auto_grid = {"n_components": (16, 32, 48, 64, 96, 128)}

    #: domain of every parameter (scikit-learn's form, checked by check_params at fit)
    _parameter_constraints: dict = {
        "n_components": [dom.POS_INT, None],
        "same_pairs": [dom.StrOptions({"all"}), dom.POS_INT],
        "diff_pairs": [dom.StrOptions({"all"}), dom.POS_INT],
        "weighting": [dom.StrOptions({"rows", "pairs"})],
        "within": dom.WITHIN,
        "cross_groups": dom.CROSS_GROUPS,
        "random_state": dom.SEED,
    }

    def __init__(self, n_components=64, same_pairs="all", diff_pairs="all", weighting: str = "rows",
                 within: str = "auto", cross_groups=None, random_state=0):
        self.n_components = n_components
        self.same_pairs = same_pairs
        self.diff_pairs = diff_pairs
        self.weighting = weighting
        self.within = within
        self.cross_groups = cross_groups
        self.random_state = random_state

    def _check_params(self):
        k = self.n_components
        if k is not None and (isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1):
            raise InputError(f"n_components must be an integer >= 1 or None, got {k!r}")
        if self.weighting not in ("rows", "pairs"):
            raise InputError(f"weighting must be 'rows' or 'pairs', got {self.weighting!r}")
        if self.within not in ("auto", "all", "cross"):
            raise InputError(f"within must be 'auto', 'all' or 'cross', got {self.within!r}")
        for name in ("same_pairs", "diff_pairs"):
            v = _pairs_arg(getattr(self, name))
            if v != "all" and v < 1:
                raise InputError(f"{name} must be 'all' or a positive number of pairs, got {v}")

    def _sampling(self) -> bool:
        return _pairs_arg(self.same_pairs) != "all" or _pairs_arg(self.diff_pairs) != "all"

    def _stats_only(self):
        return "sampled pairs are drawn from rows" if self._sampling() else None

    def _stats_request(self, variants):
        kind, cg = resolve_within(self.within, variants, self.cross_groups)
        return {"pairs": True} if kind == "all" else {"cross": cg}

    def _feasible_params(self, params, n_features, n_classes):
        if params.get("n_components") is not None:
            params["n_components"] = max(1, min(int(params["n_components"]), n_features))
        return params

    def _k(self, stats, s):
        r = stats.rank(s)
        k = stats.n_features if self.n_components is None else int(self.n_components)
        return min(k, stats.n_features, r)

    def _fit_stats(self, stats):
        if self._sampling():
            raise InputError("sampled pairs are drawn from rows: use fit(X, y)")
        s, U = stats.total_eigh()
        k = self._k(stats, s)
        P = U[:, :k]
        S_same, S_diff = difference_covariances(stats.project(P, stats.mean), weighting=self.weighting)
        self._set(stats, P, k, S_same, S_diff)

    def _set(self, stats, P, k, S_same, S_diff):
        M = kissme_matrix(S_same, S_diff)
        self.n_components_ = int(k)
        self.rank_ = int(stats.rank(stats.total_eigh()[0]))
        self.pairs_kind_ = "all" if stats.variants is None else "cross " + "/".join(stats.variants)
        self.mean_ = stats.mean
        self.pca_components_ = np.ascontiguousarray(P.T)
        self.cov_same_ = S_same
        self.cov_diff_ = S_diff
        self.metric_matrix_ = M
        self.n_clipped_ = int((np.linalg.eigvalsh(_kissme_raw(S_same, S_diff)) < 0).sum())
        self.components_ = np.ascontiguousarray(_psd_factor(M) @ P.T)

    def _fit(self, X, y, groups=None):
        self._check_params()
        stats = self.gather_stats(X, y, groups)
        if not self._sampling():
            return self._fit_stats(stats)
        s, U = stats.total_eigh()
        k = self._k(stats, s)
        for name in ("same_pairs", "diff_pairs"):
            v = _pairs_arg(getattr(self, name))
            if v != "all" and v < k:  # fewer difference vectors than dimensions: a singular covariance
                raise ParameterError(
                    f"parameter {name!r} of kissme must be 'all' or at least n_components ({k}) pairs; got {v}",
                    param=name)
        P = U[:, :k]
        Z = np.empty((X.shape[0], k))
        step = stats_chunk_rows(X.shape[1])
        for a in range(0, X.shape[0], step):
            Z[a : a + step] = (np.asarray(X[a : a + step], dtype=np.float64) - stats.mean) @ P
        zs = stats.project(P, stats.mean)
        S_same = S_diff = None
        if not self._sampling() or _pairs_arg(self.same_pairs) == "all" or _pairs_arg(self.diff_pairs) == "all":
            all_same, all_diff = difference_covariances(zs, weighting=self.weighting)
            S_same = all_same if _pairs_arg(self.same_pairs) == "all" else None
            S_diff = all_diff if _pairs_arg(self.diff_pairs) == "all" else None
        rng = _rng(self.random_state)
        seed = int(rng.integers(2**31)) if not isinstance(self.random_state, (int, np.integer)) else int(self.random_state)
        v = groups if stats.variants is not None else None
        if S_same is None:
            S_same = _sampled(Z, y, int(self.same_pairs), 1.0, v, stats.variants, seed)
        if S_diff is None:
            S_diff = _sampled(Z, y, int(self.diff_pairs), 0.0, v, stats.variants, seed + 1)
        self._set(stats, P, k, S_same, S_diff)

    def search_scores(self, stats, X, index1, index2, same, candidates):
        """Every ``k`` from one PCA projection of the held-out rows and of the statistics
        (a smaller ``k``'s covariances are the leading blocks of a larger one's)."""
        if self._sampling():
            return super().search_scores(stats, X, index1, index2, same, candidates)
        s, U = stats.total_eigh()
        ks = [clone_k(self, c, stats, s) for c in candidates]
        kmax = max(ks)
        S_same, S_diff = difference_covariances(stats.project(U[:, :kmax], stats.mean), weighting=self.weighting)
        Xu, j1, j2 = used_rows(X, index1, index2)
        Zv = (Xu - stats.mean) @ U[:, :kmax]
        out = np.empty(len(candidates))
        for j, k in enumerate(ks):
            L = _psd_factor(kissme_matrix(S_same[:k, :k], S_diff[:k, :k]))
            D = (Zv[j1, :k] - Zv[j2, :k]) @ L.T
            out[j] = pair_auroc(same, -np.einsum("ij,ij->i", D, D))
        return out

    def describe(self) -> str:
        if not hasattr(self, "n_components_"):
            return ""
        sp = lambda v: "all" if _pairs_arg(v) == "all" else f"{int(v)} sampled (random_state {self.random_state})"  # noqa: E731
        msg = (
            f"KISSME in PCA k={self.n_components_}, {self.pairs_kind_} pairs (same: {sp(self.same_pairs)}"
            + (f" {self.weighting}-weighted" if _pairs_arg(self.same_pairs) == "all" else "")
            + ", "
            f"different: {sp(self.diff_pairs)}), {self.n_clipped_} negative eigenvalues clipped"
        )
        asked = self.n_features_in_ if self.n_components is None else int(self.n_components)
        if self.n_components_ < min(asked, self.n_features_in_):
            msg += f" (k cut at the train covariance's numerical rank {self.rank_})"
        return msg + self._selection_note()


def clone_k(metric, params, stats, s) -> int:
    return clone(metric).set_params(**params)._k(stats, s)


def _pairs_arg(v):
    if v is None or (isinstance(v, str) and v.strip().lower() == "all"):
        return "all"
    try:
        return int(v)
    except (TypeError, ValueError):
        raise InputError(f"pairs must be 'all' or a number of pairs, got {v!r}") from None


__all__ = ["KISSME", "difference_covariances", "kissme_matrix"]
