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

1. Reduce the rows with ``reduce``: LDA (default), PCA, the identity, or a trained
   ``learned-cosine`` map. With train ``groups`` of two values the reduction includes
   learned-cosine's quality gate and restoration (``gate="auto"``).
2. Sample ``n_pairs`` training pairs (:func:`metricbench.model_selection.sample_pairs`;
   across groups when ``groups`` has two values). A ``hard_fraction`` of the
   different-identity pairs is replaced by hard negatives: within random blocks of rows,
   each row's most similar other identity by cosine in the reduced space.
3. Standardise the features and fit the classifier (``C``).

``C`` and ``hard_fraction`` are plain settings; choosing them on held-out identities is a
search outside ``fit``: ``get_metric("verifier", C="auto", hard_fraction="auto")`` (grids in
:attr:`Verifier.auto_grid`, or ``C_grid=...``) is a
:class:`~metricbench.model_selection.MetricSearchCV`, and
``GridSearchCV(Verifier(), {...}, cv=IdentityPairSplit(...), scoring=pair_auroc_scorer)``
works too.
"""

from __future__ import annotations

import time
import warnings

import numpy as np

from metricbench.learn import _constraints as dom
from metricbench.errors import InputError
from metricbench.learn._pairutils import check_groups, unit_rows
from metricbench.learn.base import BaseMetric
from metricbench.learn.stats import class_codes
from metricbench.model_selection import cross_groups_of, sample_pairs
from metricbench.model_selection._split import _seed_int as seed_int
from metricbench.params import unknown_parameter

_REDUCE = ("lda", "pca", "whiten", "none", "learned-cosine")


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
    C : float
        Inverse regularisation strength: scikit-learn's ``LogisticRegression(C=...)``
        objective (solved here by Newton's method), or ``alpha = 1 / C`` of the MLP.
    hard_fraction : float in [0, 1)
        Fraction of the different-identity training pairs that are hard negatives.
    n_pairs : int
        Training pairs (half same-identity).
    block : int
        Rows per block when mining hard negatives.
    max_iter : int
        Iterations of the MLP's solver.
    reduce_params : dict or None
        Extra parameters of the learned-cosine reduction.
    random_state : int, numpy Generator or None
        Seed of the reduction, the training pairs, the hard-negative blocks and the MLP.
    verbose : bool
    """

    #: candidates of the settings a search may choose (``get_metric("verifier", C="auto")``);
    #: the defaults are what this search picked on the embedded default (hard negatives never won)
    auto_grid = {"C": "0.0001,0.001,0.01,0.1,1", "hard_fraction": "0,0.05"}

    #: domain of every parameter (scikit-learn's form, checked by check_params at fit)
    _parameter_constraints: dict = {
        "reduce": [dom.StrOptions({"lda", "pca", "whiten", "none", "learned-cosine"})],
        "n_components": [dom.POS_INT],
        "gate": [dom.StrOptions({"auto", "none"})],
        "hidden": [dom.NONNEG_INT],
        "C": [dom.POS_REAL],
        "hard_fraction": [dom.reals(0, 1, closed="left")],
        "n_pairs": [dom.ints(2)],
        "block": [dom.POS_INT],
        "max_iter": [dom.POS_INT],
        "reduce_params": [dict, None],
        "random_state": dom.SEED,
        "verbose": dom.VERBOSE,
    }

    def __init__(
        self,
        reduce="lda",
        n_components=64,
        gate="auto",
        hidden=0,
        C=0.01,
        hard_fraction=0.0,
        n_pairs=100000,
        block=2048,
        max_iter=500,
        reduce_params=None,
        random_state=0,
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
        self.max_iter = max_iter
        self.reduce_params = reduce_params
        self.random_state = random_state
        self.verbose = verbose

    # -- pieces --------------------------------------------------------------
    def _check_params(self):
        if self.reduce not in _REDUCE:
            raise InputError(f"verifier: reduce must be one of {', '.join(_REDUCE)}, got {self.reduce!r}")
        for name in ("C", "hard_fraction"):
            v = getattr(self, name)
            try:
                ok = not isinstance(v, bool) and np.isfinite(float(v))
            except (TypeError, ValueError):
                ok = False
            if not ok:
                hint = " (a grid of candidates is a search: C='auto', C_grid=...)" if isinstance(v, str) and "," in v else ""
                raise InputError(f"verifier: {name} must be a number, got {v!r}{hint}")
        if not float(self.C) > 0:
            raise InputError(f"verifier: C must be > 0, got {self.C}")
        if not 0.0 <= float(self.hard_fraction) < 1.0:
            raise InputError(f"verifier: hard_fraction must be in [0, 1), got {self.hard_fraction}")
        for name in ("n_pairs", "block", "max_iter"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise InputError(f"verifier: {name} must be a positive integer, got {v!r}")
        self._check_reduce_params()
        return self

    def _check_reduce_params(self):
        """``reduce_params`` name parameters of the learned-cosine reduction: unknown names and
        values outside their domains fail now, not when the reduction is fitted."""
        from metricbench.learn.learned_cosine import LearnedCosine

        valid = set(LearnedCosine._get_param_names()) - {"n_components"}  # n_components is the verifier's own
        for key in dict(self.reduce_params or {}):
            if key not in valid:
                raise unknown_parameter(key, "the verifier's reduction (reduce_params)", valid)
        red = self._reducer(0)
        red.name = "the verifier's reduction (reduce_params)"
        red.check_params()

    def _reducer(self, seed):
        from metricbench.learn.learned_cosine import LearnedCosine

        init = {"lda": "lda", "pca": "pca", "whiten": "whiten", "none": "identity", "learned-cosine": "lda"}
        extra = dict(self.reduce_params or {})
        if self.reduce == "learned-cosine":
            kw = dict(init="lda", random_state=seed)
        else:
            # a closed-form start of learned-cosine, no training steps
            kw = dict(init=init[self.reduce], max_steps=0, holdout=0.0, random_state=seed)
        kw.update(extra)
        k = None if self.reduce == "none" else int(self.n_components)
        kw.setdefault("gate", self.gate)
        return LearnedCosine(n_components=k, **kw)

    def _reduce_rows(self, red, X, rows):
        Z = red.transform(np.asarray(X[rows]))
        return unit_rows(Z)

    def _train_pairs(self, y, groups, U, n_pairs, hard_fraction, seed):
        """Sampled pairs of rows of ``y`` (indices into ``U``), some negatives replaced by hard ones."""
        cross = cross_groups_of(groups)
        i1, i2, same = sample_pairs(y, n_pairs=int(n_pairs), random_state=seed,
                                    variants=groups if cross else None, cross=cross)
        neg = np.flatnonzero(same == 0)
        n_hard = int(round(hard_fraction * neg.size))
        if n_hard == 0:
            return i1, i2, same
        _, codes, _ = class_codes(y)
        gc = None
        if groups is not None and np.unique(groups).size == 2:
            _, gc, _ = class_codes(groups)
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

    def _fit_classifier(self, F, same, C, seed):
        if int(self.hidden) > 0:
            from sklearn.neural_network import MLPClassifier

            clf = MLPClassifier(
                hidden_layer_sizes=(int(self.hidden),), alpha=1.0 / C, max_iter=int(self.max_iter),
                random_state=seed, early_stopping=False,
            )
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
        from metricbench.learn.base import map_rows

        # pairs as rows (j1, j2): the logits' products run on blocks of a fixed multiple of
        # pairs, so that a pair's logit does not depend on which pairs are scored with it
        J = np.stack([j1, j2], axis=1)

        def f(blk):
            b = blk.astype(np.int64)
            return self._logit(model, (pair_features(U, N, b[:, 0], b[:, 1]) - mu) / sd)[:, None]

        return map_rows(f, J, 1, row_bytes=8 * (2 * U.shape[1] + 3))[:, 0]

    # -- fit -----------------------------------------------------------------
    def _fit(self, X, y, groups=None, **fit_params):
        if fit_params:
            raise InputError(f"verifier: unknown fit parameters {', '.join(fit_params)}")
        self._check_params()
        y = np.asarray(y)
        groups = check_groups(groups, X.shape[0])
        seed = seed_int(self.random_state)
        t0 = time.perf_counter()
        red = self._reducer(seed).fit(X, y, groups=groups)
        U, N = self._reduce_rows(red, X, np.arange(X.shape[0]))
        hf, C = float(self.hard_fraction), float(self.C)
        p1, p2, ps = self._train_pairs(y, groups, U, self.n_pairs, hf, seed + 2)
        F = pair_features(U, N, p1, p2)
        mu, sd = F.mean(0), F.std(0) + 1e-12
        model = self._fit_classifier((F - mu) / sd, ps, C, seed)
        if self.verbose:
            print(f"verifier fitted on {X.shape[0]} rows  {time.perf_counter() - t0:.1f} s", flush=True)
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
        return (
            f"{clf} on pair features of {self.reduce}-{self.reducer_.components_.shape[0]}, "
            f"C={float(self.C):g}, hard_fraction={float(self.hard_fraction):g}, seed={self.seed_}"
        )


__all__ = ["Verifier", "pair_features"]
