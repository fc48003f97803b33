"""``learned-cosine``: a linear map A learned so that cos(A x, A y) separates same from different pairs.

The idea of the reference competition's winner (a CSML-like method, "cosine similarity
metric learning"), done with mini-batches and in-batch hard-negative mining:

1. Centre on the train mean and initialise ``A`` (k x d) from PCA whitening, LDA, PCA or
   the identity.
2. Draw batches of ``n_identities`` identities x ``n_per_identity`` rows. With train
   ``groups`` (for example ``clean`` / ``xq40`` per row) the rows of each identity are
   taken from every group in turn, and with ``cross_groups=True`` only pairs across
   groups enter the loss, as in cross-quality test pairs.
3. In each batch, all same-identity pairs are positives; for each row, its
   ``n_hard`` most similar different-identity rows are the negatives (hard negatives).
   Loss ``"logistic"`` (binomial deviance) is
   ``mean_pos softplus(-s (cos - b)) + mean_neg softplus(s (cos - b))`` with a learned
   threshold ``b``; loss ``"margin"`` is the batch-hard triplet loss
   ``mean_(a,p) relu(cos(a, n_hard) - cos(a, p) + margin)``.
4. The gradient goes through the cosine in closed form (vectorised numpy) and Adam or
   SGD with momentum updates ``A``.
5. After every epoch the validation AUROC is measured on pairs of held-out identities
   (:class:`metricbench.model_selection.IdentityPairSplit`, scored by
   :func:`metricbench.model_selection.pair_auroc`); the best ``A`` is kept and
   training stops after ``patience`` epochs without gain, or at ``max_epochs`` /
   ``max_steps``. With ``refit=True`` it then trains again on all train rows for the
   chosen number of steps.
"""

from __future__ import annotations

import time

import numpy as np

from metricbench.config import get_chunk_n_rows
from metricbench.learn import _constraints as dom
from metricbench.errors import InputError
from metricbench.learn._pairutils import (
    check_groups,
    column_mean,
    lda_basis,
    mean_and_scatter,
    pca_basis,
    unit_rows,
)
from metricbench.learn.base import LinearMetric, map_rows
from metricbench.learn.stats import class_codes
from metricbench.model_selection import IdentityPairSplit, pair_auroc
from metricbench.model_selection._split import _seed_int as seed_int

_INITS = ("whiten", "lda", "pca", "identity")
_LOSSES = ("logistic", "margin")
_OPTIMIZERS = ("adam", "sgd")


def _softplus(x):
    return np.logaddexp(0.0, x)


def _sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def pair_loss(Z, ids, grp, b, *, loss="logistic", scale=10.0, margin=0.2, n_hard=4, cross=False):
    """Loss of one batch of mapped rows and its gradient with respect to the rows and threshold.

    Parameters
    ----------
    Z : ndarray of shape (B, k)
        Mapped batch rows; the loss looks only at their cosines.
    ids : ndarray of shape (B,)
        Identity code of each row; rows with equal ``ids`` are positives.
    grp : ndarray of shape (B,) or None
        Group code of each row; with ``cross=True`` only pairs of different groups count.
    b : float
        Threshold of the logistic loss (unused by ``"margin"``).

    Returns
    -------
    loss : float
    grad_Z : ndarray of shape (B, k)
    grad_b : float
    """
    N, nrm = unit_rows(Z)
    S = N @ N.T
    B = S.shape[0]
    same = ids[:, None] == ids[None, :]
    allowed = ~np.eye(B, dtype=bool)
    if cross and grp is not None:
        allowed &= grp[:, None] != grp[None, :]
    pos = same & allowed
    negc = ~same & allowed
    if not pos.any() or not negc.any():
        return 0.0, np.zeros_like(Z), 0.0
    G = np.zeros_like(S)  # dL/dS (entries of selected pairs only)
    gb = 0.0
    # hard negatives: the n_hard most similar allowed negatives of each row
    Sn = np.where(negc, S, -np.inf)
    h = max(1, min(int(n_hard), B - 1))
    top = np.argpartition(-Sn, h - 1, axis=1)[:, :h]
    rows = np.repeat(np.arange(B), h)
    cols = top.ravel()
    ok = np.isfinite(Sn[rows, cols])
    rows, cols = rows[ok], cols[ok]
    if loss == "logistic":
        pr, pc = np.nonzero(pos)
        sp = S[pr, pc]
        sn = S[rows, cols]
        L = _softplus(-scale * (sp - b)).mean() + _softplus(scale * (sn - b)).mean()
        dp = -scale * _sigmoid(-scale * (sp - b)) / sp.size
        dn = scale * _sigmoid(scale * (sn - b)) / sn.size
        np.add.at(G, (pr, pc), dp)
        np.add.at(G, (rows, cols), dn)
        gb = float(-dp.sum() - dn.sum())
    elif loss == "margin":
        # batch-hard triplets: every positive (a, p) against a's hardest negative
        hard_s = np.full(B, -np.inf)
        np.maximum.at(hard_s, rows, S[rows, cols])
        hard = np.full(B, -1, dtype=np.int64)
        hit = S[rows, cols] == hard_s[rows]
        hard[rows[hit]] = cols[hit]
        pr, pc = np.nonzero(pos & (hard >= 0)[:, None])
        if pr.size == 0:
            return 0.0, np.zeros_like(Z), 0.0
        viol = S[pr, hard[pr]] - S[pr, pc] + margin
        L = float(np.maximum(viol, 0.0).sum() / pr.size)
        w = (viol > 0) / pr.size
        np.add.at(G, (pr, pc), -w)
        np.add.at(G, (pr, hard[pr]), w)
    else:  # pragma: no cover - validated in fit
        raise InputError(f"unknown loss {loss!r}")
    # S = N N^T, N = Z / |Z|
    dN = (G + G.T) @ N
    dZ = (dN - N * np.einsum("ij,ij->i", dN, N)[:, None]) / np.maximum(nrm, 1e-12)[:, None]
    return float(L), dZ, gb


def batch_loss(A, b, Xb, ids, grp, **kw):
    """:func:`pair_loss` of ``Z = Xb @ A.T`` with the gradient carried to ``A`` (k, d)."""
    L, dZ, gb = pair_loss(Xb @ A.T, ids, grp, b, **kw)
    return L, dZ.T @ Xb, gb


class QualityGate:
    """Logistic model of the probability that a row belongs to the second group.

    Features are the centred row and its squares, standardised; ``p(x) = sigmoid(w . f(x) + w0)``.
    Fitted with scikit-learn's ``LogisticRegression`` on at most ``max_rows`` rows.
    """

    def __init__(self, mu, sd, w, w0):
        self.mu, self.sd, self.w, self.w0 = mu, sd, w, float(w0)

    @staticmethod
    def features(Xc):
        return np.hstack([Xc, Xc * Xc])

    @classmethod
    def fit(cls, Xc, target, *, C=10.0, max_rows=50000, seed=0):
        from sklearn.linear_model import LogisticRegression

        rng = np.random.default_rng(seed)
        if Xc.shape[0] > max_rows:
            take = np.sort(rng.choice(Xc.shape[0], size=max_rows, replace=False))
            Xc, target = Xc[take], target[take]
        F = cls.features(Xc)
        mu, sd = F.mean(0), F.std(0) + 1e-12
        clf = LogisticRegression(C=C, max_iter=2000).fit((F - mu) / sd, target)
        return cls(mu, sd, clf.coef_[0].copy(), clf.intercept_[0])

    def proba(self, Xc):
        return _sigmoid(((self.features(Xc) - self.mu) / self.sd) @ self.w + self.w0)


class _BatchSampler:
    """Batches of ``P`` identities x up to ``K`` rows, the rows of each identity spread over groups."""

    def __init__(self, codes, gcodes, rows, P, K, rng, min_per_group=1):
        self.rng = rng
        self.P, self.K = P, K
        codes_r = codes[rows]
        g = gcodes[rows] if gcodes is not None else np.zeros(rows.size, np.int64)
        order = np.lexsort((g, codes_r))
        self.rows = rows[order]
        self.codes = codes_r[order]
        self.g = g[order]
        uniq, start, count = np.unique(self.codes, return_index=True, return_counts=True)
        keep = count >= 2
        if min_per_group > 1:
            # identities with at least min_per_group rows in every group present
            n_g = int(self.g.max()) + 1 if self.g.size else 1
            per = np.bincount(np.searchsorted(uniq, self.codes) * n_g + self.g, minlength=uniq.size * n_g)
            keep &= per.reshape(uniq.size, n_g).min(1) >= min_per_group
        self.ids, self.start, self.count = uniq[keep], start[keep], count[keep]
        if self.ids.size < 2:
            raise InputError("learned-cosine needs at least 2 identities with 2+ train rows")

    def batch(self):
        """Rows, identity codes and group codes of one batch (vectorised)."""
        rng = self.rng
        sel = rng.choice(self.ids.size, size=min(self.P, self.ids.size), replace=False)
        start, count = self.start[sel], self.count[sel]
        # every row of the chosen identities (rows are sorted by identity, then group)
        owner = np.repeat(np.arange(sel.size), count)
        pos = np.repeat(start - np.r_[0, np.cumsum(count)[:-1]], count) + np.arange(count.sum())
        g = self.g[pos]
        key = rng.random(pos.size)
        # rank of each row within its (identity, group) in random order ...
        o = np.lexsort((key, g, owner))
        run_start = np.r_[True, (owner[o][1:] != owner[o][:-1]) | (g[o][1:] != g[o][:-1])]
        first = np.maximum.accumulate(np.where(run_start, np.arange(o.size), 0))
        rank = np.empty(o.size, np.int64)
        rank[o] = np.arange(o.size) - first
        # ... then take the first K of each identity by (rank, key): the K rows span the groups
        o2 = np.lexsort((key, rank, owner))
        id_first = np.searchsorted(owner[o2], np.arange(sel.size))
        within = np.arange(o2.size) - id_first[owner[o2]]
        idx = pos[o2[within < self.K]]
        return self.rows[idx], self.codes[idx], self.g[idx]


class LearnedCosine(LinearMetric):
    """Cosine similarity after a linear map learned on same / different pairs.

    Without train ``groups`` (or with ``gate="none"``) the metric is
    ``cos(A (x - mean), A (y - mean))``: a :class:`LinearMetric` with
    ``components_ = A``. With ``groups`` of exactly two values (for example ``clean`` /
    ``xq40``) and ``gate="auto"``, it learns from the cross-group structure of train:

    * a quality gate ``p(x)``: logistic regression on the centred row and its squares,
      the probability that a row is of the non-reference group;
    * two maps, ``z(x) = (1 - p(x)) (A0 x_c + c0) + p(x) (A1 x_c + c1)`` with
      ``x_c = x - mean``, initialised from a ridge "restoration" regression of
      non-reference rows onto their identity's reference-group mean followed by LDA
      (or the chosen ``init``) of the restored rows, then trained together on
      cross-group pairs.

    The same ``z`` is applied to each side of a pair, so the score is symmetric.

    Parameters
    ----------
    n_components : int or None
        Output dimension k, capped at the input width and, for ``init="lda"``, at
        ``n_classes - 1`` (None: the input width).
    init : {"lda", "whiten", "pca", "identity"}
        Starting map: LDA (within-class whitened), PCA whitening, PCA projection, or the
        first k rows of the identity.
    loss : {"logistic", "margin"}
        Binomial deviance with a learned threshold, or batch-hard triplet margin loss.
    scale : float
        Slope ``s`` of the logistic loss on the cosine.
    margin : float
        Margin of the triplet loss.
    n_identities, n_per_identity : int
        Batch shape P x K.
    n_hard : int
        Hard negatives per row in the logistic loss (the hardest one in the margin loss).
    cross_groups : bool
        With train ``groups``: use only pairs of rows from different groups in the loss.
    min_per_group : int
        Batches draw only identities with at least this many rows in every group (with
        ``groups``; else in total). 2 with clean / degraded copies of each image keeps
        identities with two or more images, whose positives are not all the same image.
    gate : {"auto", "none"}
        ``"auto"``: learn the quality gate and two maps when ``groups`` has two values.
    reference_group : str or None
        Group whose identity means the other group is restored towards at
        initialisation (None: the first value in sorted order).
    restore_shrinkage : float
        Ridge of the restoration regression, relative to the mean variance of a feature.
    gate_C : float
        Inverse regularisation of the gate's logistic regression.
    optimizer : {"adam", "sgd"}
    learning_rate, momentum : float
        Step size (the map is scaled to unit row norm on average) and SGD momentum.
    weight_decay : float
        Pull of the maps towards their initial values (L2 on ``A - A_init``).
    max_epochs : int
        Epochs (one epoch = as many rows as the fitting part holds).
    max_steps : int or None
        Cap on optimiser steps over the whole fit (bounds the time at full size).
    patience : int
        Epochs without validation gain before stopping.
    holdout : float
        Fraction of identities held out for validation (0 disables validation: all epochs
        run and the last map is kept).
    n_val_pairs : int
        Validation pairs (half same; across the two groups when ``groups`` has two values).
    refit : bool
        After choosing the number of steps on validation, train again on all rows.
    shrinkage : float
        Ridge added to covariances at initialisation (relative to their mean eigenvalue).
    random_state : int, numpy Generator or None
        Seed of the held-out identities and pairs, the batches and the gate's subsample.
    verbose : bool
        Print one progress line per epoch.
    """

    base_metric = "cosine"

    #: domain of every parameter (scikit-learn's form, checked by check_params at fit)
    _parameter_constraints: dict = {
        "n_components": [dom.POS_INT, None],
        "init": [dom.StrOptions({"lda", "whiten", "pca", "identity"})],
        "loss": [dom.StrOptions({"logistic", "margin"})],
        "scale": [dom.POS_REAL],
        "margin": [dom.NONNEG_REAL],
        "n_identities": [dom.ints(2)],
        "n_per_identity": [dom.ints(2)],
        "n_hard": [dom.POS_INT],
        "cross_groups": dom.BOOL,
        "min_per_group": [dom.POS_INT],
        "gate": [dom.StrOptions({"auto", "none"})],
        "reference_group": [str, dom.ints(), None],
        "restore_shrinkage": [dom.NONNEG_REAL],
        "gate_C": [dom.POS_REAL],
        "optimizer": [dom.StrOptions({"adam", "sgd"})],
        "learning_rate": [dom.POS_REAL],
        "momentum": [dom.reals(0, 1, closed="left")],
        "weight_decay": [dom.NONNEG_REAL],
        "max_epochs": [dom.POS_INT],
        "max_steps": [dom.NONNEG_INT, None],
        "patience": [dom.POS_INT],
        "holdout": [dom.HOLDOUT],
        "n_val_pairs": [dom.ints(2)],
        "refit": dom.BOOL,
        "shrinkage": [dom.UNIT],
        "random_state": dom.SEED,
        "verbose": dom.VERBOSE,
    }

    def __init__(
        self,
        n_components=64,
        init="lda",
        loss="logistic",
        scale=10.0,
        margin=0.2,
        n_identities=64,
        n_per_identity=4,
        n_hard=64,
        cross_groups=True,
        min_per_group=1,
        gate="auto",
        reference_group=None,
        restore_shrinkage=0.01,
        gate_C=10.0,
        optimizer="adam",
        learning_rate=3e-4,
        momentum=0.9,
        weight_decay=0.0,
        max_epochs=30,
        max_steps=None,
        patience=3,
        holdout=0.2,
        n_val_pairs=20000,
        refit=True,
        shrinkage=1e-3,
        random_state=0,
        verbose=False,
    ):
        self.n_components = n_components
        self.init = init
        self.loss = loss
        self.scale = scale
        self.margin = margin
        self.n_identities = n_identities
        self.n_per_identity = n_per_identity
        self.n_hard = n_hard
        self.cross_groups = cross_groups
        self.min_per_group = min_per_group
        self.gate = gate
        self.reference_group = reference_group
        self.restore_shrinkage = restore_shrinkage
        self.gate_C = gate_C
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.max_epochs = max_epochs
        self.max_steps = max_steps
        self.patience = patience
        self.holdout = holdout
        self.n_val_pairs = n_val_pairs
        self.refit = refit
        self.shrinkage = shrinkage
        self.random_state = random_state
        self.verbose = verbose

    # -- helpers -------------------------------------------------------------
    def _check_params(self):
        for name, val, allowed in (
            ("init", self.init, _INITS),
            ("loss", self.loss, _LOSSES),
            ("optimizer", self.optimizer, _OPTIMIZERS),
            ("gate", self.gate, ("auto", "none")),
        ):
            if val not in allowed:
                raise InputError(f"learned-cosine: {name} must be one of {', '.join(allowed)}, got {val!r}")
        if int(self.n_per_identity) < 2 or int(self.n_identities) < 2:
            raise InputError("learned-cosine: n_identities and n_per_identity must be at least 2")
        if not 0.0 <= float(self.holdout) < 1.0:
            raise InputError(f"learned-cosine: holdout must be in [0, 1), got {self.holdout}")
        if self.max_steps is not None and int(self.max_steps) < 0:
            raise InputError(f"learned-cosine: max_steps must be >= 0, got {self.max_steps}")

    def _initial_model(self, X, codes, n_classes, rows, gcodes, ref, seed):
        """Mean, gate and starting parameters from the train rows ``rows``."""
        d = X.shape[1]
        k = d if self.n_components is None else int(self.n_components)
        if k < 1:
            raise InputError(f"learned-cosine: n_components must be at least 1, got {k}")
        k = min(k, d)  # capped at the input width (and below for LDA): describe() reports k
        if self.init == "lda":
            k = min(k, max(1, n_classes - 1))
        mean = column_mean(_Rows(X, rows, None))
        gate = None
        restore = None
        if gcodes is not None:
            g = gcodes[rows]
            Xs = _Rows(X, rows, mean)
            sub = np.random.default_rng(seed).choice(rows.size, size=min(rows.size, 50000), replace=False)
            sub.sort()
            gate = QualityGate.fit(
                Xs[sub], g[sub] != ref, C=float(self.gate_C), max_rows=50000, seed=seed
            )
            restore = _restoration(X, rows, codes, n_classes, g, ref, mean, float(self.restore_shrinkage))
        src = _Rows(X, rows, mean, gate=gate, restore=restore)
        need_within = self.init == "lda"
        m_h, total, within = mean_and_scatter(
            src, codes[rows] if need_within else None, n_classes if need_within else 0
        )
        ridge = float(self.shrinkage) * max(np.trace(total) / d, 1e-12)
        if self.init == "identity":
            A = np.eye(d)[:k]
        elif self.init == "pca":
            A, _ = pca_basis(total, k)
        elif self.init == "whiten":
            V, w = pca_basis(total, k)
            A = V / np.sqrt(w + ridge)[:, None]
        else:
            A, _ = lda_basis(total, within, k, shrinkage=float(self.shrinkage))
        # cosine does not see a global scale: fix it so that rows have unit norm on average
        A = A * np.sqrt(k) / max(np.linalg.norm(A), 1e-300)
        if gate is None:
            return mean, None, {"A0": A}
        R, r = restore
        params = {
            "A0": A,
            "c0": -(A @ m_h),
            "A1": A @ R,
            "c1": A @ (r - m_h),
        }
        return mean, gate, params

    def _train(self, X, codes, gcodes, rows, start, n_steps, val, rng, tag):
        """Run the optimiser; with ``val`` keep the best parameters by validation AUROC."""
        mean, gate, P0 = start
        P, K = int(self.n_identities), int(self.n_per_identity)
        sampler = _BatchSampler(codes, gcodes, rows, P, K, rng, int(self.min_per_group))
        batch = P * K
        steps_per_epoch = max(1, int(np.ceil(rows.size / batch)))
        max_epochs = int(self.max_epochs)
        cap = None if self.max_steps is None else int(self.max_steps)
        if n_steps is not None:
            max_epochs = int(np.ceil(n_steps / steps_per_epoch))
            cap = n_steps if cap is None else min(cap, n_steps)
        cross = bool(self.cross_groups) and gcodes is not None
        params = {k: v.copy() for k, v in P0.items()}
        from threadpoolctl import threadpool_limits

        limiter = threadpool_limits(limits=1, user_api="blas")  # small products: 1 thread is fastest
        try:
            return self._loop(X, sampler, steps_per_epoch, max_epochs, cap, cross, params, P0, mean, gate,
                              val, tag)
        finally:
            limiter.restore_original_limits()

    def _loop(self, X, sampler, steps_per_epoch, max_epochs, cap, cross, params, P0, mean, gate, val, tag):
        b = 0.5
        lr = float(self.learning_rate)
        mom1 = {k: np.zeros_like(v) for k, v in params.items()}
        mom2 = {k: np.zeros_like(v) for k, v in params.items()}
        mb1 = mb2 = 0.0
        beta1, beta2, eps = 0.9, 0.999, 1e-8
        step = 0
        best = (-np.inf, {k: v.copy() for k, v in params.items()}, 0, 0)  # (auroc, params, epoch, step)
        history = []
        bad = 0
        epoch = 0
        for epoch in range(1, max_epochs + 1):
            t0 = time.perf_counter()
            losses = []
            for _ in range(steps_per_epoch):
                if cap is not None and step >= cap:
                    break
                r, ids, gg = sampler.batch()
                o = np.argsort(r, kind="stable")  # sorted reads are faster on a memmap
                r, ids, gg = r[o], ids[o], gg[o]
                Xb = np.asarray(X[r], dtype=np.float64) - mean
                p = None if gate is None else gate.proba(Xb)
                Z = _forward(params, Xb, p)
                L, dZ, gb = pair_loss(
                    Z, ids, gg if cross else None, b,
                    loss=self.loss, scale=float(self.scale), margin=float(self.margin),
                    n_hard=int(self.n_hard), cross=cross,
                )
                grads = _backward(params, Xb, p, dZ)
                if self.weight_decay:
                    for k in grads:
                        grads[k] = grads[k] + float(self.weight_decay) * (params[k] - P0[k])
                step += 1
                losses.append(L)
                if self.optimizer == "adam":
                    c1, c2 = 1 - beta1**step, 1 - beta2**step
                    for k, gk in grads.items():
                        mom1[k] = beta1 * mom1[k] + (1 - beta1) * gk
                        mom2[k] = beta2 * mom2[k] + (1 - beta2) * gk * gk
                        params[k] = params[k] - lr * (mom1[k] / c1) / (np.sqrt(mom2[k] / c2) + eps)
                    mb1 = beta1 * mb1 + (1 - beta1) * gb
                    mb2 = beta2 * mb2 + (1 - beta2) * gb * gb
                    b = b - lr * (mb1 / c1) / (np.sqrt(mb2 / c2) + eps)
                else:
                    mu = float(self.momentum)
                    for k, gk in grads.items():
                        mom1[k] = mu * mom1[k] + gk
                        params[k] = params[k] - lr * mom1[k]
                    mb1 = mu * mb1 + gb
                    b = b - lr * mb1
            if not losses:
                break
            msg = f"learned-cosine {tag} epoch {epoch}/{max_epochs}  steps {step}  loss {np.mean(losses):.4f}"
            if val is not None:
                a = _val_auroc(params, val)
                history.append(a)
                if a > best[0]:
                    best = (a, {k: v.copy() for k, v in params.items()}, epoch, step)
                    bad = 0
                else:
                    bad += 1
                msg += f"  val AUROC {a:.4f} (best {best[0]:.4f} @ epoch {best[2]})"
            if self.verbose:
                print(msg + f"  {time.perf_counter() - t0:.1f} s", flush=True)
            if val is not None and bad >= int(self.patience):
                break
            if cap is not None and step >= cap:
                break
        if val is None:
            return params, None, epoch, step, history
        return best[1], best[0], best[2], best[3], history

    # -- fit -----------------------------------------------------------------
    def _fit(self, X, y, groups=None, **fit_params):
        if fit_params:
            raise InputError(f"learned-cosine: unknown fit parameters {', '.join(fit_params)}")
        self._check_params()
        n, d = X.shape
        classes, codes, _ = class_codes(y)
        groups = check_groups(groups, n)
        gcodes, ref, gvals = None, 0, None
        if groups is not None:
            gvals, gcodes, _ = class_codes(groups)
            if self.reference_group is not None:
                hit = np.flatnonzero(gvals.astype(str) == str(self.reference_group))
                if hit.size == 0:
                    raise InputError(
                        f"learned-cosine: reference_group {self.reference_group!r} is not one of the groups "
                        f"({', '.join(map(str, gvals))})"
                    )
                ref = int(hit[0])
        gated = self.gate == "auto" and gvals is not None and gvals.size == 2
        gate_codes = gcodes if gated else None
        seed = seed_int(self.random_state)
        rng = np.random.default_rng(seed)
        all_rows = np.arange(n, dtype=np.int64)
        val = None
        rows = all_rows
        self.init_val_auroc_ = None
        if float(self.holdout) > 0:
            split = next(IdentityPairSplit(test_size=float(self.holdout), n_pairs=int(self.n_val_pairs),
                                           random_state=seed).pairs(X, y, variants=groups))
            rows = split.fit_rows
            start = self._initial_model(X, codes, classes.size, rows, gate_codes, ref, seed)
            used, inv = np.unique(np.r_[split.index1, split.index2], return_inverse=True)
            Xv = np.asarray(X[used], dtype=np.float64) - start[0]
            pv = None if start[1] is None else start[1].proba(Xv)
            m = split.index1.size
            val = (Xv, pv, inv[:m], inv[m:], split.same)
            # the starting map's own score: training must beat it to be kept
            self.init_val_auroc_ = _val_auroc(start[2], val)
        else:
            start = self._initial_model(X, codes, classes.size, rows, gate_codes, ref, seed)
        params, score, epoch, step, history = self._train(
            X, codes, gcodes, rows, start, None, val, rng, "fit"
        )
        if val is not None and score <= self.init_val_auroc_:
            params, score, epoch, step = start[2], self.init_val_auroc_, 0, 0
        self.val_auroc_ = None if score is None else float(score)
        self.val_history_ = np.asarray(history, dtype=np.float64)
        self.best_epoch_ = int(epoch)
        self.n_steps_ = int(step)
        self.refitted_ = False
        if self.refit and val is not None:
            start = self._initial_model(X, codes, classes.size, all_rows, gate_codes, ref, seed)
            params = start[2]
            if step > 0:
                params, _, _, _, _ = self._train(X, codes, gcodes, all_rows, start, step, None, rng, "refit")
            self.refitted_ = True
        mean, gate = start[0], start[1]
        self.mean_ = mean
        self.components_ = params["A0"]
        self.gated_ = gate is not None
        if gate is not None:
            self.offset0_ = params["c0"]
            self.components1_ = params["A1"]
            self.offset1_ = params["c1"]
            self.gate_mu_, self.gate_sd_, self.gate_w_ = gate.mu, gate.sd, gate.w
            self.gate_b_ = gate.w0
            self.groups_ = [str(v) for v in gvals]
            self.reference_group_ = str(gvals[ref])
        self.seed_ = seed

    # -- scoring -------------------------------------------------------------
    def transform(self, X) -> np.ndarray:
        """Map ``X`` (n, d) to the learned space (n, k), in row chunks (gated when fitted so)."""
        if not getattr(self, "gated_", False):
            return super().transform(X)
        self.check_is_fitted()
        X = self._check_width(X)
        gate = QualityGate(self.gate_mu_, self.gate_sd_, self.gate_w_, self.gate_b_)
        params = {"A0": self.components_, "c0": self.offset0_, "A1": self.components1_, "c1": self.offset1_}

        def f(blk):
            blk = blk - self.mean_
            return _forward(params, blk, gate.proba(blk))

        return map_rows(f, X, self.components_.shape[0])

    def get_mahalanobis_matrix(self) -> np.ndarray:
        if getattr(self, "gated_", False):
            raise InputError("learned-cosine with a quality gate is not a single linear map")
        return super().get_mahalanobis_matrix()

    def describe(self) -> str:
        self.check_is_fitted()
        k = self.components_.shape[0]
        v = ""
        if self.val_auroc_ is not None:
            v = f", val AUROC {self.val_auroc_:.4f} (start {self.init_val_auroc_:.4f})"
        r = ", refit on all rows" if self.refitted_ else ""
        gt = ""
        if getattr(self, "gated_", False):
            gt = f", quality gate over groups {'/'.join(self.groups_)} (reference {self.reference_group_})"
        return (
            f"k={k}, init={self.init}, loss={self.loss}{gt}, best epoch {self.best_epoch_} "
            f"({self.n_steps_} steps){v}{r}, seed={self.seed_}"
        )


def _forward(params, Xc, p):
    """Mapped rows: ``Xc A0^T`` or the gated mix of the two affine maps."""
    if p is None:
        return Xc @ params["A0"].T
    q = p[:, None]
    return (1.0 - q) * (Xc @ params["A0"].T + params["c0"]) + q * (Xc @ params["A1"].T + params["c1"])


def _backward(params, Xc, p, dZ):
    if p is None:
        return {"A0": dZ.T @ Xc}
    q = p[:, None]
    d0, d1 = (1.0 - q) * dZ, q * dZ
    return {"A0": d0.T @ Xc, "c0": d0.sum(0), "A1": d1.T @ Xc, "c1": d1.sum(0)}


def _val_auroc(params, val) -> float:
    Xv, pv, i1, i2, same = val
    N, _ = unit_rows(_forward(params, Xv, pv))
    return pair_auroc(same, np.einsum("ij,ij->i", N[i1], N[i2]))


def _restoration(X, rows, codes, n_classes, g, ref, mean, shrinkage):
    """Ridge map of non-reference rows onto their identity's reference-group mean.

    Returns ``(R, r)`` so that a centred row ``x_c`` is restored to ``x_c @ R.T + r``
    (both centred on the train mean). Streamed in chunks.
    """
    from scipy.sparse import csr_matrix

    d = X.shape[1]
    src = _Rows(X, rows, mean)
    step = get_chunk_n_rows(8 * d)
    c = codes[rows]
    isref = g == ref
    sums = np.zeros((n_classes, d))
    for a in range(0, rows.size, step):
        blk = src[a : a + step]
        m = isref[a : a + step]
        cc = c[a : a + step][m]
        oh = csr_matrix((np.ones(cc.size), (cc, np.arange(cc.size))), shape=(n_classes, cc.size))
        sums += oh @ blk[m]
    cnt = np.bincount(c[isref], minlength=n_classes).astype(np.float64)
    has = cnt > 0
    cmeans = np.zeros_like(sums)
    cmeans[has] = sums[has] / cnt[has, None]
    Sxx, Sxt = np.zeros((d, d)), np.zeros((d, d))
    sx, st = np.zeros(d), np.zeros(d)
    m_tot = 0
    for a in range(0, rows.size, step):
        blk = src[a : a + step]
        cc = c[a : a + step]
        m = ~isref[a : a + step] & has[cc]
        xb, tb = blk[m], cmeans[cc[m]]
        Sxx += xb.T @ xb
        Sxt += xb.T @ tb
        sx += xb.sum(0)
        st += tb.sum(0)
        m_tot += int(m.sum())
    if m_tot < 2:
        raise InputError("learned-cosine: the quality gate needs identities with rows in both groups")
    mx, mt = sx / m_tot, st / m_tot
    Cxx = Sxx - m_tot * np.outer(mx, mx)
    Cxt = Sxt - m_tot * np.outer(mx, mt)
    lam = shrinkage * max(np.trace(Cxx) / d, 1e-12)
    W = np.linalg.solve(Cxx + lam * np.eye(d), Cxt)  # x_c @ W + r
    r = mt - mx @ W
    return W.T.copy(), r


class _Rows:
    """Rows ``rows`` of a (memmap) matrix, centred on ``mean`` and optionally restored.

    Supports ``len``-free chunk reads ``obj[a:b]`` and fancy ``obj[idx]`` (float64).
    With ``gate`` and ``restore`` the rows are ``x_c + p(x) (x_c R^T + r - x_c)``.
    """

    def __init__(self, X, rows, mean, *, gate=None, restore=None):
        self.X, self.rows, self.mean = X, rows, mean
        self.gate, self.restore = gate, restore
        self.shape = (rows.size, X.shape[1])
        # all rows in order: read plain slices (fast on a memmap) instead of fancy indexing
        self.contiguous = rows.size == X.shape[0] and (rows.size == 0 or (rows[0] == 0 and rows[-1] == rows.size - 1))

    def __getitem__(self, sl):
        if self.contiguous and isinstance(sl, slice):
            blk = np.asarray(self.X[sl], dtype=np.float64)
        else:
            blk = np.asarray(self.X[self.rows[sl]], dtype=np.float64)
        if self.mean is not None:
            blk = blk - self.mean
        if self.gate is not None:
            R, r = self.restore
            p = self.gate.proba(blk)[:, None]
            blk = blk + p * (blk @ R.T + r - blk)
        return blk


__all__ = ["LearnedCosine", "QualityGate", "batch_loss", "pair_loss"]
