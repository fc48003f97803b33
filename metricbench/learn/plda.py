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
sees (see :meth:`metricbench.learn.stats.ScatterStats.cross_within`).
"""

from __future__ import annotations

import numpy as np
from sklearn.base import TransformerMixin

from metricbench.learn import _constraints as dom
from metricbench.config import get_chunk_n_rows
from metricbench.errors import InputError, ParameterError
from metricbench.learn.base import BaseMetric, StatsFitted, _transform_used, map_rows, used_rows
from metricbench.learn.linear import lda_directions
from metricbench.learn.stats import RTOL_FLOAT64, ScatterStats, class_codes, clip_psd, one_thread, resolve_within, stats_chunk_rows, whitener
from metricbench.model_selection._scorer import pair_auroc



def two_cov_closed_form(stats: ScatterStats):
    """Closed-form two-covariance parameters from statistics of the (reduced) rows:
    ``mu, B, W, kind`` with ``W`` the within-identity covariance (pooled with ``n - C``
    degrees of freedom, or from cross-variant differences when ``stats`` has two variants)
    and ``B = St - W`` clipped to be positive semi-definite."""
    if stats.variants is None:
        W, kind = stats.within_unbiased, "all"
    else:
        W, kind = stats.cross_within(), f"cross {stats.variants[0]}/{stats.variants[1]}"
    B = clip_psd(stats.total - W, 0.0)
    return stats.mean, B, W, kind


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


@one_thread
def simultaneous_diagonalisation(B, W, rtol: float = RTOL_FLOAT64):
    """``A, phi`` with ``A W A^T = I`` and ``A B A^T = diag(phi)``, phi descending, >= 0.

    ``A`` has one row per direction of ``W``'s numerical range: a rank-deficient ``W`` is
    whitened on its range, its null space dropped rather than amplified.
    """
    T, _ = whitener(W, rtol)
    Bt = T.T @ B @ T
    phi, V = np.linalg.eigh(0.5 * (Bt + Bt.T))
    order = np.argsort(phi)[::-1]
    return V[:, order].T @ T.T, np.clip(phi[order], 0.0, None)


def diagonal_llr(U1, U2, c_cross, c_square, const) -> np.ndarray:
    """LLR of row pairs of the diagonalised variables (n, k) each."""
    return (U1 * U2) @ c_cross - (U1 * U1 + U2 * U2) @ c_square + const


class PLDA(StatsFitted, TransformerMixin, BaseMetric):
    """Two-covariance PLDA log-likelihood-ratio scoring; ``pair_distance = -LLR``.

    Parameters
    ----------
    n_components : int or None
        Dimension after the reduction, clipped to ``min(d, C - 1)`` for LDA; None (default)
        keeps ``min(64, C - 1, d)``.
    reduce : {"lda", "pca", "none"}
        Reduction fitted on train before PLDA (default "lda"; "none" keeps all ``d`` dims).
    method : {"closed", "em"}
        Closed-form ``B, W`` (default) or ``n_iter`` EM iterations of the two-covariance model
        started from the closed form (EM pools all rows; it ignores ``variants``).
    n_iter : int
        EM iterations.
    length_norm : bool
        Whiten by the total covariance and scale each reduced embedding to norm ``sqrt(k)``.
    within : {"auto", "all", "cross"}
        Within-identity covariance ``W`` (and LDA's): pooled within-class ("all") or from
        same-identity differences across the two variants ("cross"); "auto" (default) uses
        "cross" when ``fit(..., variants=...)`` names two variants.
    cross_groups : (str, str), optional
        Variant tags to pair across (default: the two tags of ``variants``).

    References
    ----------
    Ioffe, "Probabilistic linear discriminant analysis", ECCV 2006; Sizov, Lee & Kinnunen,
    "Unifying probabilistic linear discriminant analysis variants in biometric
    authentication", S+SSPR 2014.
    """

    auto_grid = {"n_components": (16, 32, 64, 128)}

    @staticmethod
    def _auto_relevant(param, params) -> bool:
        return not (param == "n_components" and params.get("reduce") == "none")

    #: domain of every parameter (scikit-learn's form, checked by check_params at fit)
    _parameter_constraints: dict = {
        "n_components": [dom.POS_INT, None],
        "reduce": [dom.StrOptions({"lda", "pca", "none"})],
        "method": [dom.StrOptions({"closed", "em"})],
        "n_iter": [dom.NONNEG_INT],
        "length_norm": dom.BOOL,
        "within": dom.WITHIN,
        "cross_groups": dom.CROSS_GROUPS,
    }

    def __init__(self, n_components=None, reduce: str = "lda", method: str = "closed", n_iter: int = 10,
                 length_norm: bool = False, within: str = "auto", cross_groups=None):
        self.n_components = n_components
        self.reduce = reduce
        self.method = method
        self.n_iter = n_iter
        self.length_norm = length_norm
        self.within = within
        self.cross_groups = cross_groups

    # -- fitting ----------------------------------------------------------------------------
    def _check_params(self):
        if self.reduce not in ("lda", "pca", "none"):
            raise InputError(f"reduce must be 'lda', 'pca' or 'none', got {self.reduce!r}")
        if self.method not in ("closed", "em"):
            raise InputError(f"method must be 'closed' or 'em', got {self.method!r}")
        if self.within not in ("auto", "all", "cross"):
            raise InputError(f"within must be 'auto', 'all' or 'cross', got {self.within!r}")
        k = self.n_components
        if k is not None and (isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1):
            raise InputError(f"n_components must be an integer >= 1 or None, got {k!r}")
        if isinstance(self.n_iter, bool) or not isinstance(self.n_iter, (int, np.integer)) or self.n_iter < 0:
            raise InputError(f"n_iter must be an integer >= 0, got {self.n_iter!r}")

    def _stats_request(self, variants):
        kind, cg = resolve_within(self.within, variants, self.cross_groups)
        return {} if kind == "all" else {"cross": cg}

    def _stats_only(self):
        if self.length_norm or self.method == "em":
            return "length_norm and method='em' need the reduced rows themselves"
        return None

    def _k_max(self, d, n_classes):
        return min(d, n_classes - 1) if self.reduce == "lda" else d

    def _feasible_params(self, params, n_features, n_classes):
        if params.get("n_components") is not None:
            params["n_components"] = max(1, min(int(params["n_components"]), self._k_max(n_features, n_classes)))
        return params

    def _k(self, stats):
        d = stats.n_features
        k_max = self._k_max(d, stats.n_classes)
        if k_max < 1:
            raise InputError("PLDA with LDA reduction needs at least 2 identities")
        if self.reduce == "none":
            return d
        if self.n_components is None:
            return min(64, k_max)
        k = int(self.n_components)
        if k > d:
            raise ParameterError(
                f"parameter 'n_components' of {self.name} must be between 1 and {d} (the width of the train rows); got {k}", param="n_components")
        return min(k, k_max)

    def _reduction(self, stats):
        """``mean (d,), P (d, k_max)`` of the reduction, columns nested by importance."""
        d = stats.n_features
        if self.reduce == "none":
            return stats.mean, np.eye(d)
        if self.reduce == "pca":
            s, U = stats.total_eigh()
            return stats.mean, U[:, : stats.rank(s)]

        def f():
            Sw = stats.within if stats.variants is None else stats.cross_within()
            return lda_directions(stats.between, Sw, stats.n_classes, 0.0, None, stats.rtol)[1]

        return stats.mean, stats.memo(("plda-lda",), f)

    def _set(self, mean, P, white, mu, A, phi, B, W, kind, history):
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

    def _fits_from_stats(self) -> bool:
        """Whether these settings are fitted from statistics alone (length normalisation and EM
        need the reduced rows too): a search fits them from the rows otherwise."""
        return not (self.length_norm or self.method == "em")

    def _fit_stats(self, stats):
        if self.length_norm or self.method == "em":
            raise InputError("length_norm and method='em' are fitted from rows: use fit(X, y)")
        k = self._k(stats)
        mean, P = self._reduction(stats)
        P = P[:, :k]
        zs = stats.project(P, mean)
        mu, B, W, kind = two_cov_closed_form(zs)
        A, phi = simultaneous_diagonalisation(B, W, stats.rtol)
        self._set(mean, P, None, mu, A, phi, B, W, kind, [])

    def _fit(self, X, y, groups=None):
        self._check_params()
        stats = self.gather_stats(X, y, groups)
        if not (self.length_norm or self.method == "em"):
            return self._fit_stats(stats)
        # length normalisation and EM need the reduced rows themselves
        k = self._k(stats)
        mean, P = self._reduction(stats)
        P = P[:, :k]
        Z = np.empty((X.shape[0], P.shape[1]))
        step = stats_chunk_rows(X.shape[1])
        for a in range(0, X.shape[0], step):
            Z[a : a + step] = (np.asarray(X[a : a + step], dtype=np.float64) - mean) @ P
        white = None
        if self.length_norm:
            # Z is centred on the train mean by the reduction: whiten about 0, then normalise
            s, U = np.linalg.eigh(Z.T @ Z / Z.shape[0])
            white = (U / np.sqrt(np.maximum(s, 1e-12 * max(s.max(), 1e-300)))) @ U.T
            Z = _length_norm(Z, white)
        zs = ScatterStats.from_data(Z, y, variants=groups if stats.variants else None, cross=stats.variants)
        mu, B, W, kind = two_cov_closed_form(zs)
        history = []
        if self.method == "em":
            mu, B, W, history = two_cov_em(Z, y, mu, B, W, self.n_iter)
        A, phi = simultaneous_diagonalisation(B, W, stats.rtol)
        self._set(mean, P, white, mu, A, phi, B, W, kind, history)

    def search_scores(self, stats, X, index1, index2, same, candidates):
        """Every ``k`` from one projection of the held-out rows and of the statistics (the
        reduction's directions are nested)."""
        if self.length_norm or self.method == "em":
            return super().search_scores(stats, X, index1, index2, same, candidates)
        mean, P = self._reduction(stats)
        ks = []
        for c in candidates:
            kc = c.get("n_components", self.n_components)
            ks.append(min(P.shape[1], self._k_max(stats.n_features, stats.n_classes) if kc is None else int(kc)))
        kmax = max(ks)
        zs_max = stats.project(P[:, :kmax], mean)
        Xu, j1, j2 = used_rows(X, index1, index2)
        Zu = (Xu - mean) @ P[:, :kmax]
        eye = np.eye(kmax)
        out = np.empty(len(candidates))
        for j, k in enumerate(ks):
            mu, B, W, _ = two_cov_closed_form(zs_max.project(eye[:, :k]))
            A, phi = simultaneous_diagonalisation(B, W, stats.rtol)
            U = (Zu[:, :k] - mu) @ A.T
            out[j] = pair_auroc(same, diagonal_llr(U[j1], U[j2], *llr_coefficients(phi)))
        return out

    # -- scoring ----------------------------------------------------------------------------
    def transform(self, X) -> np.ndarray:
        """Diagonalised PLDA variables ``u`` (n, k) of rows ``X`` (n, d) (not linear when
        ``length_norm``)."""
        self.check_is_fitted()
        X = self._check_width(X)
        white = self.whitening_ if self.whitening_.size else None
        PT = self.projection_.T

        def f(blk):
            return _to_u((blk - self.mean_) @ PT, white, self.plda_mean_, self.plda_transform_)

        return map_rows(f, X, self.plda_transform_.shape[0], row_bytes=8 * 3 * max(X.shape[1], PT.shape[1]))

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
        if self.phi_.size < self.n_components_:
            msg += f", cut at the within-identity covariance's numerical rank {self.phi_.size}"
        return msg + self._selection_note()


def _length_norm(Zc, white):
    Zw = Zc @ white.T
    nrm = np.linalg.norm(Zw, axis=1, keepdims=True)
    return Zw * (np.sqrt(Zw.shape[1]) / np.where(nrm > 0, nrm, 1.0))


def _to_u(Z, white, mu, A):
    if white is not None:
        Z = _length_norm(Z, white)  # Z is already centred on the train mean by the reduction
    return (Z - mu) @ A.T


__all__ = ["PLDA", "diagonal_llr", "llr_coefficients", "simultaneous_diagonalisation", "two_cov_em"]
