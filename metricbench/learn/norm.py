"""Score normalisation against a cohort drawn from train: ``s-norm`` and ``as-norm``.

Speaker verification's standard post-processing, usable around any registered metric.
For a pair (a, b) with raw score ``s = metric.pair_score(a, b)``:

* every side is scored against a cohort ``C`` of train vectors (unseen at test time
  are the test identities, never the cohort's);
* ``s-norm``: ``0.5 * ((s - mu_a) / sd_a + (s - mu_b) / sd_b)`` with ``mu_x`` and
  ``sd_x`` the mean and standard deviation of ``x``'s scores against the whole cohort;
* ``as-norm`` (adaptive): the same with ``mu_x``, ``sd_x`` taken over ``x``'s ``top_k``
  highest cohort scores only.

The cohort is a seeded sample of ``cohort_size`` train identities, each represented
by its mean row (``cohort="means"``) or by one random row (``cohort="rows"``).
``pair_distance = -normalised score``; the sum of the two sides' terms commutes, so
the normalised score is as symmetric as the raw one.
"""

from __future__ import annotations

import inspect

import numpy as np

from metricbench.learn import _constraints as dom
from metricbench.config import get_chunk_n_rows

from metricbench.errors import InputError
from metricbench.learn.base import BaseMetric, LinearMetric
from metricbench.learn.stats import class_codes
from metricbench.model_selection._split import _seed_int as seed_int
from metricbench.catalog import build_metric as get_metric

NORMS = ("s-norm", "as-norm")


def cohort_stats(metric, X, C, *, top_k=None, working_rows=None):
    """Mean and standard deviation of each row's scores against a cohort.

    Parameters
    ----------
    metric : BaseMetric
        Fitted metric; ``metric.pair_score`` defines the scores.
    X : ndarray of shape (n, d)
        Rows to normalise.
    C : ndarray of shape (m, d)
        Cohort rows.
    top_k : int or None
        Use only each row's ``top_k`` highest cohort scores (adaptive); None = all.

    Returns
    -------
    mean, std : ndarray of shape (n,)
    """
    n, m = X.shape[0], C.shape[0]
    k = m if top_k is None else max(1, min(int(top_k), m))
    mean, std = np.empty(n), np.empty(n)
    step = working_rows or get_chunk_n_rows(8 * max(1, m))  # a block of float64 scores
    dense = _dense_scorer(metric, C)
    for s in range(0, n, step):
        blk = np.asarray(X[s : s + step])
        if dense is not None:
            S = dense(blk)
        else:
            r = blk.shape[0]
            i1 = np.repeat(np.arange(r, dtype=np.int64), m)
            i2 = np.tile(np.arange(m, dtype=np.int64), r)
            S = metric.pair_score(blk, i1, i2, Y=C).reshape(r, m)
        if k < m:
            S = -np.partition(-S, k - 1, axis=1)[:, :k]
        mean[s : s + step] = S.mean(1)
        std[s : s + step] = S.std(1)
    return mean, std


def _dense_scorer(metric, C):
    """A (rows x cohort) score function by matrix products, for linear metrics; else None."""
    if not isinstance(metric, LinearMetric) or metric.base_metric not in ("cosine", "sqeuclidean", "euclidean"):
        return None
    ZC = metric.transform(C)
    if metric.base_metric == "cosine":
        nc = np.linalg.norm(ZC, axis=1)
        UC = ZC / np.where(nc > 0, nc, 1.0)[:, None]

        def f(blk):
            Z = metric.transform(blk)
            nz = np.linalg.norm(Z, axis=1)
            return (Z / np.where(nz > 0, nz, 1.0)[:, None]) @ UC.T - 1.0  # pair_score = -(1 - cos)

        return f
    sq = np.einsum("ij,ij->i", ZC, ZC)

    def g(blk):
        Z = metric.transform(blk)
        D = np.einsum("ij,ij->i", Z, Z)[:, None] + sq[None, :] - 2.0 * Z @ ZC.T
        D = np.maximum(D, 0.0)
        return -(np.sqrt(D) if metric.base_metric == "euclidean" else D)

    return g


class Normalized(BaseMetric):
    """A metric whose pair scores are normalised against a train cohort (s-norm / AS-norm).

    Parameters
    ----------
    metric : str or BaseMetric
        The metric to wrap: a registered name or a metric instance.
    norm : {"s-norm", "as-norm"}
    cohort_size : int
        Number of train identities in the cohort.
    top_k : int
        Cohort scores kept per side for ``as-norm``.
    cohort : {"means", "rows"}
        Each cohort identity as its mean train row or as one random train row.
    prefit : bool
        The wrapped metric instance is already fitted: ``fit`` only draws the cohort.
    metric_params : dict or None
        Parameters for the wrapped metric when given by name.
    random_state : int, numpy Generator or None
        Seed of the cohort draw.

    Notes
    -----
    The metric's name (``"plda+as-norm"``) is derived from ``metric`` and ``norm``, so
    :func:`sklearn.base.clone` keeps it.
    """

    #: domain of every parameter (scikit-learn's form, checked by check_params at fit)
    _parameter_constraints: dict = {
        "metric": [str, dom.HasMethods(["fit", "pair_distance"])],
        "norm": [dom.StrOptions({"s-norm", "as-norm"})],
        "cohort_size": [dom.ints(2)],
        "top_k": [dom.POS_INT],
        "cohort": [dom.StrOptions({"means", "rows"})],
        "prefit": dom.BOOL,
        "metric_params": [dict, None],
        "random_state": dom.SEED,
    }

    def __init__(
        self,
        metric="cosine",
        norm="as-norm",
        cohort_size=1000,
        top_k=100,
        cohort="means",
        prefit=False,
        metric_params=None,
        random_state=0,
    ):
        self.metric = metric
        self.norm = norm
        self.cohort_size = cohort_size
        self.top_k = top_k
        self.cohort = cohort
        self.prefit = prefit
        self.metric_params = metric_params
        self.random_state = random_state

    @property
    def name(self) -> str | None:
        own = self.__dict__.get("_name")
        if own is not None:
            return own
        inner = self.metric.name if isinstance(self.metric, BaseMetric) else str(self.metric)
        return f"{inner or type(self.metric).__name__}+{self.norm}"

    @name.setter
    def name(self, value) -> None:
        if value is None:
            self.__dict__.pop("_name", None)
        else:
            self.__dict__["_name"] = value

    def _check_params(self):
        if self.norm == "as-norm" and int(self.top_k) < 2:
            raise InputError(f"top_k must be at least 2 for as-norm, got {self.top_k}")
        if isinstance(self.metric, str):
            self._inner()  # the wrapped metric's name and parameters (get_metric checks them)

    def _inner(self) -> BaseMetric:
        if isinstance(self.metric, BaseMetric):
            if self.prefit:
                return self.metric
            from sklearn.base import clone

            return clone(self.metric)  # fitting must not change the parameter

        return get_metric(str(self.metric), **dict(self.metric_params or {}))

    def _fit(self, X, y, **fit_params):
        if self.norm not in NORMS:
            raise InputError(f"score normalisation must be one of {', '.join(NORMS)}, got {self.norm!r}")
        if self.cohort not in ("means", "rows"):
            raise InputError(f"cohort must be 'means' or 'rows', got {self.cohort!r}")
        if int(self.cohort_size) < 2:
            raise InputError(f"cohort_size must be at least 2, got {self.cohort_size}")
        if self.norm == "as-norm" and int(self.top_k) < 2:
            raise InputError(f"top_k must be at least 2, got {self.top_k}")
        inner = self._inner()
        if not self.prefit:
            inner.fit(X, y, **_accepted(inner, fit_params))
        else:
            inner.check_is_fitted()
        self.metric_ = inner
        seed = seed_int(self.random_state)
        self.cohort_ = draw_cohort(X, y, size=int(self.cohort_size), kind=self.cohort, random_state=seed)
        self.seed_ = seed

    def _stats(self, X):
        k = int(self.top_k) if self.norm == "as-norm" else None
        return cohort_stats(self.metric_, X, self.cohort_, top_k=k)

    def _pair_distance(self, X, index1, index2, Y):
        raw = self.metric_.pair_score(X, index1, index2, Y=Y)
        if Y is None:
            used = np.concatenate([index1, index2])
            uniq, inv = np.unique(used, return_inverse=True)
            mu, sd = self._stats(np.asarray(X)[uniq])
            j1, j2 = inv[: index1.size], inv[index1.size :]
            m1, s1, m2, s2 = mu[j1], sd[j1], mu[j2], sd[j2]
        else:
            u1, j1 = np.unique(index1, return_inverse=True)
            u2, j2 = np.unique(index2, return_inverse=True)
            mu1, sd1 = self._stats(np.asarray(X)[u1])
            mu2, sd2 = self._stats(np.asarray(Y)[u2])
            m1, s1, m2, s2 = mu1[j1], sd1[j1], mu2[j2], sd2[j2]
        tiny = 1e-12
        z = 0.5 * ((raw - m1) / np.maximum(s1, tiny) + (raw - m2) / np.maximum(s2, tiny))
        return -z

    def describe(self) -> str:
        self.check_is_fitted()
        inner = self.metric_.describe()
        k = f", top {self.top_k}" if self.norm == "as-norm" else ""
        name = self.metric_.name or type(self.metric_).__name__
        return (
            f"{self.norm} of {name} against {self.cohort_.shape[0]} train identities ({self.cohort}{k}), "
            f"seed={self.seed_}" + (f"; {name}: {inner}" if inner else "")
        )


def draw_cohort(X, y, *, size: int, kind: str = "means", random_state=0) -> np.ndarray:
    """A seeded cohort of ``size`` train identities: their mean rows or one random row each.

    Returns
    -------
    ndarray of shape (min(size, n_identities), d), float64
    """
    classes, codes, _ = class_codes(y)
    rng = np.random.default_rng(seed_int(random_state))
    pick = np.sort(rng.choice(classes.size, size=min(size, classes.size), replace=False))
    if kind == "rows":
        order = np.argsort(codes, kind="stable")
        starts = np.searchsorted(codes[order], pick, side="left")
        counts = np.searchsorted(codes[order], pick, side="right") - starts
        rows = order[starts + rng.integers(counts)]
        return np.asarray(X[rows], dtype=np.float64)
    from scipy.sparse import csr_matrix

    sel = np.flatnonzero(np.isin(codes, pick))
    pos = np.searchsorted(pick, codes[sel])
    out = np.zeros((pick.size, X.shape[1]))
    step = get_chunk_n_rows(8 * X.shape[1])
    for s in range(0, sel.size, step):
        p = pos[s : s + step]
        onehot = csr_matrix((np.ones(p.size), (p, np.arange(p.size))), shape=(pick.size, p.size))
        out += onehot @ np.asarray(X[sel[s : s + step]], dtype=np.float64)
    return out / np.bincount(pos, minlength=pick.size)[:, None]


def _accepted(metric, fit_params: dict) -> dict:
    """The fit parameters (``groups`` ...) that ``metric._fit`` accepts."""
    if not fit_params:
        return {}

    # a metricbench metric's _fit says what it uses; anything else (a search) by its fit
    sig = inspect.signature(metric._fit if hasattr(metric, "_fit") else metric.fit)
    if any(p.kind == p.VAR_KEYWORD for p in sig.parameters.values()):
        return dict(fit_params)
    return {k: v for k, v in fit_params.items() if k in sig.parameters}


def apply_norm(metric, norm: str, *, seed=None, **params) -> Normalized:
    """Wrap ``metric`` (a name or an instance) in score normalisation ``norm``.

    What the CLI's ``--norm s-norm|as-norm`` calls; ``params`` are :class:`Normalized`'s
    (``cohort_size``, ``top_k``, ``cohort``, ``random_state``, ``prefit``); ``seed`` (the
    CLI's ``--seed``) is taken as ``random_state``.

    >>> m = apply_norm(get_metric("cosine"), "as-norm", top_k=100)  # doctest: +SKIP
    >>> m.fit(X_train, y_train).pair_score(X_test, i1, i2)  # doctest: +SKIP
    """
    if norm not in NORMS:
        raise InputError(f"score normalisation must be one of {', '.join(NORMS)}, got {norm!r}")
    if seed is not None:
        if "random_state" in params:
            raise InputError("give the cohort's seed as random_state or seed, not both")
        params["random_state"] = seed
    return Normalized(metric=metric, norm=norm, **params).check_params()


__all__ = ["NORMS", "Normalized", "apply_norm", "cohort_stats", "draw_cohort"]
