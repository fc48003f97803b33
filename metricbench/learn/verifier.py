"""``verifier``: a shallow commutative verifier on symmetric pair features.

A pair (a, b) is described by features that cannot change when a and b swap:

* ``u * v`` and ``(u - v) ** 2`` of the unit-length reduced rows ``u``, ``v``,
* their cosine ``sum(u * v)``,
* ``|a| |b|`` and ``(|a| - |b|) ** 2`` of the reduced rows' norms,

and a classifier (logistic regression, or a one-hidden-layer MLP) says how likely
the pair is the same identity. ``pair_distance = -logit``. Multiplication and
addition of two floats commute exactly and ``(x - y) ** 2 == (y - x) ** 2`` bit for
bit, and each row is reduced once, so ``f(a, b) == f(b, a)`` exactly.

Fitting:

1. Hold out identities (:func:`metricbench.model_selection.identity_split`).
2. Reduce the rows with ``reduce``: LDA (default), PCA, the identity, or a trained
   ``learned-cosine`` map, all fitted on the fitting identities only. With train
   ``groups`` of two values the reduction includes learned-cosine's quality gate and
   restoration (``gate="auto"``).
3. Sample ``n_pairs`` training pairs of the fitting identities (across groups when
   ``groups`` has two values). A ``hard_fraction`` of the different-identity pairs is
   replaced by hard negatives: within random blocks of rows, each row's most similar
   other identity by cosine in the reduced space.
4. Standardise the features and fit the classifier for every ``C`` x
   ``hard_fraction`` in the grids; keep the one with the best AUROC on pairs of the
   held-out identities.
5. With ``refit=True`` (default) reduce, sample and fit again on all train rows with
   the chosen settings.
"""

from __future__ import annotations

import time

import numpy as np

from metricbench.config import get_chunk_n_rows
from metricbench.errors import InputError
from metricbench.learn._pairutils import auroc, check_groups, class_codes, unit_rows, validation_pairs
from metricbench.learn.base import BaseMetric

_REDUCE = ("lda", "pca", "whiten", "none", "learned-cosine")


def _grid(v, name) -> list[float]:
    if isinstance(v, str):
        parts = [p for p in v.replace(";", ",").split(",") if p.strip()]
        try:
            return [float(p) for p in parts]
        except ValueError:
            raise InputError(f"verifier: {name} must be numbers separated by commas, got {v!r}") from None
    if np.ndim(v) == 0:
        return [float(v)]
    return [float(x) for x in v]


def logistic_newton(F, y, C=1.0, *, max_iter=50, tol=1e-7):
    """L2-regularised logistic regression by Newton's method (few features, many rows).

    Minimises ``C * sum(log(1 + exp(-t_i (F_i w + b)))) + 0.5 |w|^2`` with ``t = 2 y - 1``,
    scikit-learn's ``LogisticRegression(C=C)`` objective (intercept not penalised).

    Parameters
    ----------
    F : ndarray of shape (n, p)
    y : ndarray of shape (n,) of 0/1

    Returns
    -------
    w : ndarray of shape (p,)
    b : float
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):  # one thread: steadier on a shared machine
        return _newton(F, y, C, max_iter, tol)


def _newton(F, y, C, max_iter, tol):
    n, p = F.shape
    A = np.hstack([F, np.ones((n, 1))])
    y = np.asarray(y, dtype=np.float64)
    theta = np.zeros(p + 1)
    reg = np.full(p + 1, 1.0 / C)
    reg[-1] = 0.0

    def objective(th):
        z = A @ th
        return np.sum(np.logaddexp(0.0, z) - y * z) + 0.5 * np.sum(reg * th * th)

    f = objective(theta)
    for _ in range(int(max_iter)):
        z = A @ theta
        prob = 0.5 * (1.0 + np.tanh(0.5 * z))
        g = A.T @ (prob - y) + reg * theta
        W = prob * (1.0 - prob)
        H = (A * W[:, None]).T @ A + np.diag(reg) + 1e-10 * np.eye(p + 1)
        step = np.linalg.solve(H, g)
        t = 1.0
        while True:  # backtracking line search
            cand = theta - t * step
            fc = objective(cand)
            if fc <= f - 1e-4 * t * (g @ step) or t < 1e-8:
                break
            t *= 0.5
        theta, f_old, f = cand, f, fc
        if abs(f_old - f) <= tol * max(1.0, abs(f)):
            break
    return theta[:-1].copy(), float(theta[-1])


def pair_features(U, N, j1, j2, out=None) -> np.ndarray:
    """Symmetric features of pairs ``(j1[i], j2[i])`` of unit rows ``U`` with norms ``N``.

    Parameters
    ----------
    U : ndarray of shape (n, k)
        Unit-length reduced rows.
    N : ndarray of shape (n,)
        Their norms before normalisation.
    j1, j2 : ndarray of shape (m,)

    Returns
    -------
    F : ndarray of shape (m, 2 k + 3)
        ``[u * v, (u - v) ** 2, cos, |a| |b|, (|a| - |b|) ** 2]``.
    """
    k = U.shape[1]
    a, b = U[j1], U[j2]
    F = np.empty((j1.size, 2 * k + 3)) if out is None else out
    np.multiply(a, b, out=F[:, :k])
    d = a - b
    np.multiply(d, d, out=F[:, k : 2 * k])
    F[:, 2 * k] = F[:, :k].sum(1)
    na, nb = N[j1], N[j2]
    F[:, 2 * k + 1] = na * nb
    dn = na - nb
    F[:, 2 * k + 2] = dn * dn
    return F


class Verifier(BaseMetric):
    """Classifier on symmetric pair features; ``pair_distance = -logit``.

    Parameters
    ----------
    reduce : {"lda", "pca", "whiten", "none", "learned-cosine"}
        Reduction of the rows before the features (fitted on train identities).
    n_components : int
        Reduced dimension k (LDA caps it at ``n_classes - 1``).
    gate : {"auto", "none"}
        Quality gate and restoration of learned-cosine, when fit ``groups`` has two values.
    hidden : int
        Hidden units of a one-layer MLP (scikit-learn's ``MLPClassifier``); 0 = logistic regression.
    C : float, list or str
        Grid of inverse regularisation strengths, chosen on held-out identities: scikit-learn's
        ``LogisticRegression(C=...)`` objective (solved here by Newton's method), or
        ``alpha = 1 / C`` of the MLP. A string ``"0.0001,0.01,1"`` is accepted.
    hard_fraction : float, list or str
        Grid of fractions of different-identity training pairs that are hard negatives.
    n_pairs : int
        Training pairs (half same-identity).
    block : int
        Rows per block when mining hard negatives.
    holdout : float
        Fraction of identities held out for choosing ``C`` / ``hard_fraction``.
    n_val_pairs : int
    refit : bool
        Refit reduction and classifier on all train rows with the chosen settings.
    max_iter : int
        Iterations of the MLP's solver.
    reduce_params : dict or None
        Extra parameters of the learned-cosine reduction.
    seed : int
    verbose : bool
    """

    def __init__(
        self,
        reduce="lda",
        n_components=64,
        gate="auto",
        hidden=0,
        C="0.01",
        hard_fraction="0,0.05",
        n_pairs=100000,
        block=2048,
        holdout=0.2,
        n_val_pairs=20000,
        refit=True,
        max_iter=500,
        reduce_params=None,
        seed=0,
        verbose=False,
    ):
        self.reduce = reduce
        self.n_components = n_components
        self.gate = gate
        self.hidden = hidden
        self.C = C
        self.hard_fraction = hard_fraction
        self.n_pairs = n_pairs
        self.block = block
        self.holdout = holdout
        self.n_val_pairs = n_val_pairs
        self.refit = refit
        self.max_iter = max_iter
        self.reduce_params = reduce_params
        self.seed = seed
        self.verbose = verbose

    # -- pieces --------------------------------------------------------------
    def _reducer(self):
        from metricbench.learn.learned_cosine import LearnedCosine

        init = {"lda": "lda", "pca": "pca", "whiten": "whiten", "none": "identity", "learned-cosine": "lda"}
        extra = dict(self.reduce_params or {})
        if self.reduce == "learned-cosine":
            kw = dict(init="lda", seed=int(self.seed))
        else:
            # a closed-form start of learned-cosine, no training steps
            kw = dict(init=init[self.reduce], max_steps=0, holdout=0.0, seed=int(self.seed))
        kw.update(extra)
        k = None if self.reduce == "none" else int(self.n_components)
        kw.setdefault("gate", self.gate)
        r = LearnedCosine(n_components=k, **kw)
        r.name = "learned-cosine"
        return r

    def _fit_reducer(self, X, y, groups, rows):
        red = self._reducer()
        Xr = X if rows is None else X[rows]
        yr = y if rows is None else y[rows]
        gr = None if groups is None else (groups if rows is None else groups[rows])
        red.fit(Xr, yr, groups=gr)
        return red

    def _reduce_rows(self, red, X, rows):
        Z = red.transform(np.asarray(X[rows]))
        return unit_rows(Z)

    def _train_pairs(self, y, groups, U, n_pairs, hard_fraction, seed):
        """Sampled pairs of rows of ``y`` (indices into ``U``), some negatives replaced by hard ones."""
        i1, i2, same = validation_pairs(y, groups, n_pairs=int(n_pairs), seed=seed)
        neg = np.flatnonzero(same == 0)
        n_hard = int(round(hard_fraction * neg.size))
        if n_hard == 0:
            return i1, i2, same
        _, codes = class_codes(y)
        gc = None
        if groups is not None and np.unique(groups).size == 2:
            _, gc = class_codes(groups)
        rng = np.random.default_rng(seed + 7)
        h1, h2 = [], []
        B = max(2, int(self.block))
        n = U.shape[0]
        while sum(len(h) for h in h1) < n_hard:
            perm = rng.permutation(n)
            for s in range(0, n, B):
                b = perm[s : s + B]
                S = U[b] @ U[b].T
                bad = codes[b][:, None] == codes[b][None, :]
                if gc is not None:
                    bad |= gc[b][:, None] == gc[b][None, :]
                S[bad] = -np.inf
                j = S.argmax(1)
                ok = np.isfinite(S[np.arange(b.size), j])
                h1.append(b[ok])
                h2.append(b[j[ok]])
            if not any(len(h) for h in h1):
                break
        h1, h2 = np.concatenate(h1), np.concatenate(h2)
        take = rng.choice(h1.size, size=min(n_hard, h1.size), replace=False)
        sel = rng.choice(neg, size=take.size, replace=False)
        i1, i2 = i1.copy(), i2.copy()
        i1[sel], i2[sel] = h1[take], h2[take]
        return i1, i2, same

    def _fit_classifier(self, F, same, C):
        if int(self.hidden) > 0:
            from sklearn.neural_network import MLPClassifier

            clf = MLPClassifier(
                hidden_layer_sizes=(int(self.hidden),), alpha=1.0 / C, max_iter=int(self.max_iter),
                random_state=int(self.seed), early_stopping=False,
            )
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                clf.fit(F, same)
            return {
                "W1": clf.coefs_[0].copy(), "b1": clf.intercepts_[0].copy(),
                "W2": clf.coefs_[1][:, 0].copy(), "b2": float(clf.intercepts_[1][0]),
            }
        w, b = logistic_newton(F, same, C)
        return {"w": w, "b": b}

    @staticmethod
    def _logit(model, F):
        if "W1" in model:
            H = np.maximum(F @ model["W1"] + model["b1"], 0.0)
            return H @ model["W2"] + model["b2"]
        return F @ model["w"] + model["b"]

    def _scores(self, model, U, N, j1, j2, mu, sd):
        """Logits of pairs ``(j1, j2)`` of unit rows ``U``, features computed in chunks."""
        out = np.empty(j1.size)
        step = get_chunk_n_rows(16 * (2 * U.shape[1] + 3))  # features and their standardised copy
        for s in range(0, j1.size, step):
            F = pair_features(U, N, j1[s : s + step], j2[s : s + step])
            out_blk = (F - mu) / sd
            out[s : s + step] = self._logit(model, out_blk)
        return out

    # -- fit -----------------------------------------------------------------
    def _fit(self, X, y, groups=None, **fit_params):
        if fit_params:
            raise InputError(f"verifier: unknown fit parameters {', '.join(fit_params)}")
        if self.reduce not in _REDUCE:
            raise InputError(f"verifier: reduce must be one of {', '.join(_REDUCE)}, got {self.reduce!r}")
        if not 0.0 < float(self.holdout) < 1.0:
            raise InputError(f"verifier: holdout must be between 0 and 1, got {self.holdout}")
        Cs = _grid(self.C, "C")
        hfs = _grid(self.hard_fraction, "hard_fraction")
        if any(c <= 0 for c in Cs) or any(not 0 <= h < 1 for h in hfs):
            raise InputError("verifier: C must be > 0 and hard_fraction in [0, 1)")
        y = np.asarray(y)
        groups = check_groups(groups, X.shape[0])
        seed = int(self.seed)
        t0 = time.perf_counter()
        from metricbench.model_selection import identity_split

        fit_mask, val_mask = identity_split(y, holdout=float(self.holdout), random_state=seed)
        rows, vrows = np.flatnonzero(fit_mask), np.flatnonzero(val_mask)
        red = self._fit_reducer(X, y, groups, rows)
        U, N = self._reduce_rows(red, X, rows)
        gf = None if groups is None else groups[rows]
        v1, v2, vs = validation_pairs(
            y[vrows], None if groups is None else groups[vrows], n_pairs=int(self.n_val_pairs), seed=seed + 1
        )
        Uv, Nv = self._reduce_rows(red, X, vrows)
        results = []
        best = None
        for hf in hfs:
            p1, p2, ps = self._train_pairs(y[rows], gf, U, self.n_pairs, hf, seed + 2)
            F = pair_features(U, N, p1, p2)
            mu, sd = F.mean(0), F.std(0) + 1e-12
            F = (F - mu) / sd
            for C in Cs:
                model = self._fit_classifier(F, ps, C)
                a = auroc(vs, self._scores(model, Uv, Nv, v1, v2, mu, sd))
                results.append((hf, C, a))
                if self.verbose:
                    print(
                        f"verifier hard_fraction {hf:g}  C {C:g}  val AUROC {a:.4f}  "
                        f"{time.perf_counter() - t0:.1f} s",
                        flush=True,
                    )
                if best is None or a > best[2]:
                    best = (hf, C, a, model, mu, sd, red)
        hf, C, a, model, mu, sd, red = best
        self.val_auroc_ = float(a)
        self.hard_fraction_ = float(hf)
        self.C_ = float(C)
        self.grid_ = np.array(results, dtype=np.float64)
        self.refitted_ = False
        if self.refit:
            red = self._fit_reducer(X, y, groups, None)
            rows = np.arange(X.shape[0])
            U, N = self._reduce_rows(red, X, rows)
            p1, p2, ps = self._train_pairs(y, groups, U, self.n_pairs, hf, seed + 2)
            F = pair_features(U, N, p1, p2)
            mu, sd = F.mean(0), F.std(0) + 1e-12
            model = self._fit_classifier((F - mu) / sd, ps, C)
            self.refitted_ = True
            if self.verbose:
                print(f"verifier refit on all {X.shape[0]} rows  {time.perf_counter() - t0:.1f} s", flush=True)
        self.reducer_ = red
        self.feature_mean_, self.feature_scale_ = mu, sd
        for k, v in model.items():
            setattr(self, f"clf_{k}_", np.asarray(v, dtype=np.float64) if np.ndim(v) else float(v))
        self.seed_ = seed

    def _fitted_model(self) -> dict:
        keys = ("W1", "b1", "W2", "b2") if hasattr(self, "clf_W1_") else ("w", "b")
        return {k: getattr(self, f"clf_{k}_") for k in keys}

    # -- scoring -------------------------------------------------------------
    def _pair_distance(self, X, index1, index2, Y):
        from metricbench.learn.base import _transform_used

        red = self.reducer_
        if Y is None:
            used = np.concatenate([index1, index2])
            Z, j = _transform_used(red, X, used)
            j1, j2 = j[: index1.size], j[index1.size :]
        else:
            Z1, j1 = _transform_used(red, X, index1)
            Z2, j2 = _transform_used(red, Y, index2)
            j2 = j2 + Z1.shape[0]
            Z = np.vstack([Z1, Z2])
        U, N = unit_rows(Z)
        return -self._scores(self._fitted_model(), U, N, j1, j2, self.feature_mean_, self.feature_scale_)

    def describe(self) -> str:
        self.check_is_fitted()
        clf = f"MLP({self.hidden})" if int(self.hidden) > 0 else "logistic"
        r = ", refit on all rows" if self.refitted_ else ""
        return (
            f"{clf} on pair features of {self.reduce}-{self.reducer_.components_.shape[0]}, "
            f"C={self.C_:g}, hard_fraction={self.hard_fraction_:g}, val AUROC {self.val_auroc_:.4f}{r}, "
            f"seed={self.seed_}"
        )


__all__ = ["Verifier", "pair_features"]
