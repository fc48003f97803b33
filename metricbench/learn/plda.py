"""Two-covariance PLDA (joint Bayesian) log-likelihood-ratio scoring: ``plda``.

Model (Ioffe 2006; Prince & Elder 2007; Sizov et al. 2014 "two-covariance"): an identity
draws ``m ~ N(mu, B)``; each of its embeddings is ``z = m + e``, ``e ~ N(0, W)``. A pair
``(z1, z2)`` is scored by

    LLR = log N([z1; z2]; [mu; mu], [[B + W, B], [B, B + W]])
          - log N(z1; mu, B + W) - log N(z2; mu, B + W),

the log-ratio of "one identity" against "two identities". With ``A`` such that
``A W A^T = I`` and ``A B A^T = diag(phi)`` (simultaneous diagonalisation) and
``u = A (z - mu)``, it is a sum over dimensions

    LLR = sum_i  phi_i / (1 + 2 phi_i) u1_i u2_i
                 - phi_i^2 / (2 (1 + phi_i)(1 + 2 phi_i)) (u1_i^2 + u2_i^2)
                 + log(1 + phi_i) - log(1 + 2 phi_i) / 2,

which is what :meth:`PLDA.pair_distance` evaluates (vectorised over pairs, exactly
symmetric in the two sides); ``pair_distance = -LLR``.

``z`` is the embedding after an optional reduction fitted on train (LDA by default, or
PCA), optionally length-normalised (whitened by the total covariance, scaled to norm
``sqrt(k)``, Garcia-Romero & Espy-Wilson 2011).

``B`` and ``W`` are estimated in closed form (``W`` the within-identity covariance,
``B = St - W`` clipped to be positive semi-definite) or by EM of the two-covariance model.
With train ``groups`` naming two variants (clean / degraded), ``within="auto"`` estimates
``W`` from same-identity clean-vs-degraded differences, the noise a cross-quality test pair
sees (see :func:`metricbench.learn._scatter.within_covariance`).
"""

from __future__ import annotations

import numpy as np

from metricbench.config import get_chunk_n_rows
from metricbench.errors import InputError
from metricbench.learn._scatter import (
    class_codes,
    clip_psd,
    cross_groups_from,
    iter_blocks,
    resolve_within,
    row_mean,
    scatter,
    weighted_gram,
    within_covariance,
)
from metricbench.learn._select import Holdout, int_grid
from metricbench.learn.base import BaseMetric, _transform_used
from metricbench.learn.linear import lda_directions



def two_cov_closed_form(Z, y, *, within="all", groups=None, cross_groups=None):
    """Closed-form two-covariance parameters of ``Z`` (n, k): ``mu, B, W, kind``."""
    W, kind = within_covariance(Z, y, within=within, groups=groups, cross_groups=cross_groups)
    mu = row_mean(Z)
    St = weighted_gram(Z, mu) / Z.shape[0]
    B = clip_psd(St - W, 0.0)
    return mu, B, W, kind


def two_cov_em(Z, y, mu, B, W, n_iter: int = 10):
    """EM iterations of the two-covariance model (Sizov et al. 2014), from ``mu, B, W``.

    E-step: the identity variable of class ``c`` (``n_c`` rows summing to ``s_c``) has posterior
    precision ``L_c = B^-1 + n_c W^-1`` and mean ``L_c^-1 (B^-1 mu + W^-1 s_c)``. M-step: ``mu``
    and ``B`` the mean and covariance of the posteriors, ``W`` the expected within scatter.
    Returns ``mu, B, W, loglik_history`` (the marginal log-likelihood before each step).
    """
    Z = np.asarray(Z, dtype=np.float64)
    n, k = Z.shape
    classes, codes, counts = class_codes(y)
    C = classes.size
    S = np.zeros((C, k))
    np.add.at(S, codes, Z)
    G = Z.T @ Z
    uniq, inv = np.unique(counts, return_inverse=True)
    history = []
    eye = np.eye(k)
    for _ in range(int(n_iter)):
        W = 0.5 * (W + W.T) + 1e-10 * np.trace(W) / k * eye
        B = 0.5 * (B + B.T) + 1e-10 * np.trace(W) / k * eye
        Bi = np.linalg.inv(B)
        Wi = np.linalg.inv(W)
        history.append(_two_cov_loglik(Z, codes, counts, S, G, mu, B, W))
        Ey = np.empty((C, k))
        covsum_b = np.zeros((k, k))  # sum_c Cov_c
        covsum_w = np.zeros((k, k))  # sum_c n_c Cov_c
        for j, m in enumerate(uniq):
            sel = inv == j
            Lc_inv = np.linalg.inv(Bi + m * Wi)
            Ey[sel] = (Bi @ mu + S[sel] @ Wi) @ Lc_inv
            covsum_b += sel.sum() * Lc_inv
            covsum_w += sel.sum() * m * Lc_inv
        mu = Ey.mean(0)
        B = (Ey.T @ Ey + covsum_b) / C - np.outer(mu, mu)
        cross = S.T @ Ey
        W = (G - cross - cross.T + (Ey * counts[:, None]).T @ Ey + covsum_w) / n
    history.append(_two_cov_loglik(Z, codes, counts, S, G, mu, B, W))
    return mu, 0.5 * (B + B.T), 0.5 * (W + W.T), history


def _two_cov_loglik(Z, codes, counts, S, G, mu, B, W) -> float:
    """Marginal log-likelihood of all rows under the two-covariance model (per row)."""
    n, k = Z.shape
    Wi = np.linalg.inv(W)
    _, ldW = np.linalg.slogdet(W)
    total = 0.0
    # one class of m rows: Cov = I (x) W + 11^T (x) B, whose inverse is
    # I (x) W^-1 - 11^T (x) W^-1 B (W + m B)^-1 and log-determinant (m - 1) log|W| + log|W + m B|
    Sc = S - counts[:, None] * mu
    quad_all = np.einsum("ij,ji->", Wi, G) - 2 * (S.sum(0) @ Wi @ mu) + n * (mu @ Wi @ mu)
    total -= 0.5 * quad_all
    for m in np.unique(counts):
        sel = counts == m
        M = W + m * B
        _, ldM = np.linalg.slogdet(M)
        # correction term: (s - m mu)^T [W^-1 - (W + m B)^-1 ... ]: with P = W^-1 B (W + m B)^-1
        Pm = Wi @ B @ np.linalg.inv(M)
        total += 0.5 * np.einsum("ij,jk,ik->", Sc[sel], Pm, Sc[sel])
        total -= 0.5 * sel.sum() * ((m - 1) * ldW + ldM + m * k * np.log(2 * np.pi))
    return float(total / n)


def llr_coefficients(phi: np.ndarray):
    """Per-dimension coefficients ``(c_cross, c_square, const)`` of the diagonal LLR."""
    phi = np.clip(np.asarray(phi, dtype=np.float64), 0.0, None)
    c_cross = phi / (1.0 + 2.0 * phi)
    c_square = phi**2 / (2.0 * (1.0 + phi) * (1.0 + 2.0 * phi))
    const = float(np.sum(np.log1p(phi) - 0.5 * np.log1p(2.0 * phi)))
    return c_cross, c_square, const


def simultaneous_diagonalisation(B, W):
    """``A, phi`` with ``A W A^T = I`` and ``A B A^T = diag(phi)``, phi descending, >= 0."""
    k = W.shape[0]
    L = np.linalg.cholesky(0.5 * (W + W.T) + 1e-12 * max(np.trace(W) / k, 1e-300) * np.eye(k))
    Li = np.linalg.inv(L)
    Bt = Li @ B @ Li.T
    phi, V = np.linalg.eigh(0.5 * (Bt + Bt.T))
    order = np.argsort(phi)[::-1]
    return V[:, order].T @ Li, np.clip(phi[order], 0.0, None)


def diagonal_llr(U1, U2, c_cross, c_square, const) -> np.ndarray:
    """LLR of row pairs of the diagonalised variables (n, k) each."""
    return (U1 * U2) @ c_cross - (U1 * U1 + U2 * U2) @ c_square + const


class PLDA(BaseMetric):
    """Two-covariance PLDA log-likelihood-ratio scoring; ``pair_distance = -LLR``.

    Parameters
    ----------
    n_components : int, "auto" or None
        Dimension after the reduction. "auto" (default) chooses among ``n_components_grid``
        (clipped to ``min(d, C - 1)`` for LDA) on identity-disjoint validation; None keeps
        ``min(64, C - 1, d)``.
    reduce : {"lda", "pca", "none"}
        Reduction fitted on train before PLDA (default "lda"; "none" keeps all ``d`` dims).
    method : {"closed", "em"}
        Closed-form ``B, W`` (default) or ``n_iter`` EM iterations of the two-covariance model
        started from the closed form (EM pools all rows; it ignores ``groups``).
    n_iter : int
        EM iterations.
    length_norm : bool
        Whiten by the total covariance and scale each reduced embedding to norm ``sqrt(k)``.
    within : {"auto", "all", "cross"}
        Within-identity covariance ``W`` (and LDA's): pooled within-class ("all") or from
        same-identity differences across the two variants of ``groups`` ("cross"); "auto"
        (default) uses "cross" when ``fit(..., groups=...)`` names two variants.
    n_components_grid : sequence of int
    holdout, n_pairs, seed : validation split and pairs
    cross_groups : (str, str), optional
        Variant tags to pair across (default: the two tags of ``groups``).
    """

    def __init__(
        self,
        n_components="auto",
        reduce: str = "lda",
        method: str = "closed",
        n_iter: int = 10,
        length_norm: bool = False,
        within: str = "auto",
        n_components_grid=(16, 32, 64, 128),
        holdout: float = 0.2,
        n_pairs: int = 20000,
        seed: int = 0,
        cross_groups=None,
    ):
        self.n_components = n_components
        self.reduce = reduce
        self.method = method
        self.n_iter = n_iter
        self.length_norm = length_norm
        self.within = within
        self.n_components_grid = n_components_grid
        self.holdout = holdout
        self.n_pairs = n_pairs
        self.seed = seed
        self.cross_groups = cross_groups

    # -- fitting ----------------------------------------------------------------------------
    def _check_params(self):
        if self.reduce not in ("lda", "pca", "none"):
            raise InputError(f"reduce must be 'lda', 'pca' or 'none', got {self.reduce!r}")
        if self.method not in ("closed", "em"):
            raise InputError(f"method must be 'closed' or 'em', got {self.method!r}")
        if self.within not in ("auto", "all", "cross"):
            raise InputError(f"within must be 'auto', 'all' or 'cross', got {self.within!r}")

    def _within_kind(self, groups):
        return resolve_within(self.within, groups, self.cross_groups)

    def _reduction(self, X, y, groups, k_max):
        """``mean (d,), P (d, k_max)`` of the reduction, columns nested by importance."""
        d = X.shape[1]
        kind, cg = self._within_kind(groups)
        if self.reduce == "none":
            return row_mean(X), np.eye(d)
        if self.reduce == "pca":
            mean = row_mean(X)
            s, U = np.linalg.eigh(weighted_gram(X, mean) / X.shape[0])
            return mean, U[:, np.argsort(s)[::-1]][:, :k_max]
        S = scatter(X, y)
        Sw = S.Sw if kind == "all" else within_covariance(X, y, within="cross", groups=groups, cross_groups=cg)[0]
        _, V = lda_directions(S, Sw, 0.0, k_max)
        return S.mean, V

    def _k_max(self, X, y):
        d = X.shape[1]
        if self.reduce == "lda":
            return min(d, int(np.unique(np.asarray(y)).size) - 1)
        return d

    def _core(self, Z, y, groups):
        """PLDA on reduced rows ``Z``: returns ``whiten (k,k) or None, mu, A, phi, B, W, kind, history``."""
        k = Z.shape[1]
        white = None
        if self.length_norm:
            # Z is centred on the train mean by the reduction: whiten about 0, then normalise
            s, U = np.linalg.eigh(weighted_gram(Z, np.zeros(k)) / Z.shape[0])
            white = (U / np.sqrt(np.maximum(s, 1e-12 * max(s.max(), 1e-300)))) @ U.T
            Z = _length_norm(Z, white)
        kind, cg = self._within_kind(groups)
        mu, B, W, kind_s = two_cov_closed_form(Z, y, within=kind, groups=groups, cross_groups=cg)
        history = []
        if self.method == "em":
            mu, B, W, history = two_cov_em(Z, y, mu, B, W, self.n_iter)
        A, phi = simultaneous_diagonalisation(B, W)
        return white, mu, A, phi, B, W, kind_s, history

    def _fit(self, X, y, groups=None):
        self._check_params()
        y = np.asarray(y)
        k_max = self._k_max(X, y)
        if k_max < 1:
            raise InputError("PLDA with LDA reduction needs at least 2 identities")
        self.validation_ = {}
        if self.reduce == "none":
            k = X.shape[1]
        elif self.n_components == "auto":
            h = Holdout(
                y,
                holdout=self.holdout,
                seed=self.seed,
                n_pairs=self.n_pairs,
                groups=groups,
                cross_groups=cross_groups_from(groups, self.cross_groups),
            )
            Xf, yf = np.asarray(X[h.fit_rows]), y[h.fit_rows]
            gf = None if groups is None else np.asarray(groups)[h.fit_rows]
            grid = int_grid(self.n_components_grid, self._k_max(Xf, yf))
            mean, P = self._reduction(Xf, yf, gf, max(grid))
            Zf = (Xf - mean) @ P
            Zv = (np.asarray(X[h.val_rows], dtype=np.float64) - mean) @ P
            table = {}
            for kk in grid:
                white, mu, A, phi, *_ = self._core(Zf[:, :kk], yf, gf)
                U = _to_u(Zv[:, :kk], white, mu, A)
                table[kk] = h.auroc(diagonal_llr(U[h.i1], U[h.i2], *llr_coefficients(phi)))
            k = max(table, key=lambda kk: (table[kk], -kk))
            self.validation_ = {str(kk): float(v) for kk, v in table.items()}
            self.validation_auroc_ = float(table[k])
        elif self.n_components is None:
            k = min(64, k_max)
        else:
            k = int(self.n_components)
            if not 1 <= k <= k_max:
                raise InputError(f"n_components must be between 1 and {k_max}, got {k}")
        mean, P = self._reduction(X, y, groups, k)
        Z = np.empty((X.shape[0], P.shape[1]))
        for a, blk in iter_blocks(X):
            Z[a : a + blk.shape[0]] = (blk - mean) @ P
        white, mu, A, phi, B, W, kind, history = self._core(Z, y, groups)
        self.n_components_ = int(P.shape[1])
        self.mean_ = mean
        self.projection_ = np.ascontiguousarray(P.T)
        self.whitening_ = white if white is not None else np.zeros((0, 0))
        self.plda_mean_ = mu
        self.plda_transform_ = A
        self.between_ = B
        self.within_ = W
        self.phi_ = phi
        self.within_kind_ = kind
        self.em_loglik_ = np.asarray(history, dtype=np.float64)

    # -- scoring ----------------------------------------------------------------------------
    def transform(self, X) -> np.ndarray:
        """Diagonalised PLDA variables ``u`` (n, k) of rows ``X`` (n, d) (not linear when
        ``length_norm``)."""
        self.check_is_fitted()
        X = np.asarray(X)
        self._check_width(X)
        white = self.whitening_ if self.whitening_.size else None
        out = np.empty((X.shape[0], self.n_components_))
        for a, blk in iter_blocks(X):
            Z = (blk - self.mean_) @ self.projection_.T
            out[a : a + blk.shape[0]] = _to_u(Z, white, self.plda_mean_, self.plda_transform_)
        return out

    def pair_llr(self, X, index1=None, index2=None, *, Y=None) -> np.ndarray:
        """Log-likelihood ratio of each pair (same identity vs different); = pair_score."""
        return self.pair_score(X, index1, index2, Y=Y)

    def _pair_distance(self, X, index1, index2, Y):
        coef = llr_coefficients(self.phi_)
        if Y is None:
            U, j = _transform_used(self, X, np.concatenate([index1, index2]))
            j1, j2 = j[: index1.size], j[index1.size :]
            U2 = U
        else:
            U, j1 = _transform_used(self, X, index1)
            U2, j2 = _transform_used(self, Y, index2)
        out = np.empty(index1.size)
        chunk = get_chunk_n_rows(8 * 4 * U.shape[1])  # two gathered rows and two temporaries per pair
        for a in range(0, index1.size, chunk):
            b = a + chunk
            out[a:b] = -diagonal_llr(U[j1[a:b]], U2[j2[a:b]], *coef)
        return out

    def describe(self) -> str:
        if not hasattr(self, "n_components_"):
            return ""
        red = {"lda": "LDA", "pca": "PCA", "none": "no reduction"}[self.reduce]
        msg = (
            f"two-covariance PLDA on {red} k={self.n_components_}, {self.method}"
            + (f" ({self.n_iter} EM iterations)" if self.method == "em" else "")
            + f", W from {self.within_kind_} pairs"
            + (", length-normalised" if self.length_norm else "")
        )
        if getattr(self, "validation_", None):
            msg += f" (k chosen on identity-disjoint validation, AUROC {self.validation_auroc_:.4f}, seed {self.seed})"
        return msg

    def _fitted_state(self):
        arrays, scalars = super()._fitted_state()
        scalars["validation_"] = {k: float(v) for k, v in getattr(self, "validation_", {}).items()}
        return arrays, scalars


def _length_norm(Zc, white):
    Zw = Zc @ white.T
    nrm = np.linalg.norm(Zw, axis=1, keepdims=True)
    return Zw * (np.sqrt(Zw.shape[1]) / np.where(nrm > 0, nrm, 1.0))


def _to_u(Z, white, mu, A):
    if white is not None:
        Z = _length_norm(Z, white)  # Z is already centred on the train mean by the reduction
    return (Z - mu) @ A.T


__all__ = ["PLDA", "diagonal_llr", "llr_coefficients", "simultaneous_diagonalisation", "two_cov_em"]
