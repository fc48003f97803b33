"""metric-learn's algorithms as metricbench metrics (``ml-lmnn``, ``ml-nca``, ...).

Each ``ml-<name>`` metric fits the named metric-learn 0.7.0 estimator (its
supervised ``*_Supervised`` form where there is one, so every metric takes
``(X, y)``) and keeps only its linear map: ``components_`` is metric-learn's
``components_`` (composed with a PCA projection when the input was reduced), and
``base_metric`` is ``"euclidean"``, so :meth:`pair_distance` equals metric-learn's
own ``pair_distance`` (``sqrt((x - x')^T M (x - x'))``).

metric-learn was written for small data: most of its learners hold n x n, or one
d x d matrix per constraint, and draw ``20 * n_classes**2`` constraints by
default (see the README, "metric-learn's algorithms", for the measured failures). Every metric here
therefore runs under a budget, applied automatically and reported in one line by
:meth:`describe` and by a :class:`BudgetWarning` at fit time:

* ``max_samples``: at most this many rows are used. Rows are drawn by identity
  (seeded): identities with fewer than the algorithm's minimum images are left out,
  the rest are visited in random order and each contributes up to
  ``max(4, ceil(max_samples / n_identities))`` random images, so same-identity
  structure survives the cut.
* ``max_dim``: wider inputs are first projected by PCA (fitted on the rows used) to
  this many dimensions.
* ``max_constraints`` (pair / quadruplet learners): caps metric-learn's
  ``n_constraints``.

``0`` switches a budget off. Each metric lists metric-learn's own parameters in its
signature, by their metric-learn names and with metric-learn's defaults unless a
different default is stated (``get_metric("ml-lmnn", n_neighbors=5, max_iter=200)``);
``random_state`` seeds the subsample, the PCA solver and metric-learn's own
``random_state``. Each metric is a scikit-learn estimator (``clone``, ``get_params``,
``GridSearchCV`` work on it). metric-learn is imported only when
a metric is fitted, and is not modified: what metric-learn 0.7.0 needs on today's
scikit-learn lives in metricbench's own subclasses of its classes
(:func:`metricbench.learn.compat.fixed_class`).
"""

from __future__ import annotations

import inspect
import logging
import math
import time
import warnings

import numpy as np

from metricbench.errors import InputError
from metricbench.learn import _constraints as dom
from metricbench.learn.base import LinearMetric
from metricbench.learn.stats import class_codes

logger = logging.getLogger(__name__)


class BudgetWarning(UserWarning):
    """An ``ml-*`` metric fitted on fewer rows or dimensions than it was given."""


def subsample_by_identity(y, max_samples: int, *, seed: int = 0, min_per_class: int = 2,
                          min_take: int = 4) -> np.ndarray:
    """Rows to keep: whole identities drawn at random, a few images each, seeded.

    Parameters
    ----------
    y : ndarray of shape (n_samples,)
        Identity labels.
    max_samples : int
        Budget of rows (0: no budget; only identities below ``min_per_class`` are dropped).
    seed : int
        Seed of the identity order and of the images drawn within an identity.
    min_per_class : int
        Identities with fewer rows are left out (they cannot form the same-identity
        constraints the learner needs); every kept identity keeps at least this many.
    min_take : int
        Images taken per identity are ``max(min_per_class, min_take, ceil(max_samples / n_ids))``.

    Returns
    -------
    rows : ndarray of int64, sorted
        Selected row indices; all rows of eligible identities when they fit the budget.
    """
    y = np.asarray(y)
    _, codes, counts = class_codes(y)
    eligible = np.flatnonzero(counts >= min_per_class)
    keep = np.isin(codes, eligible)
    n_eligible_rows = int(keep.sum())
    if eligible.size == 0:
        raise InputError(
            f"no identity has {min_per_class} or more images; this metric needs same-identity rows"
        )
    if not max_samples or n_eligible_rows <= max_samples:
        return np.flatnonzero(keep).astype(np.int64)
    rng = np.random.default_rng(seed)
    take = max(min_per_class, min_take, math.ceil(max_samples / eligible.size))
    order = np.argsort(codes, kind="stable")
    starts = np.concatenate([[0], np.cumsum(counts)])
    chosen: list[np.ndarray] = []
    total = 0
    for c in rng.permutation(eligible):
        left = max_samples - total
        if left < min_per_class:
            break
        members = order[starts[c] : starts[c + 1]]
        k = min(members.size, take, left)
        chosen.append(rng.choice(members, size=k, replace=False))
        total += k
    return np.sort(np.concatenate(chosen)).astype(np.int64)


class MetricLearnMetric(LinearMetric):
    """Base of the ``ml-*`` metrics: a metric-learn estimator fitted within a budget.

    Subclasses list every parameter in their ``__init__`` (scikit-learn's rule): the
    budget (``max_samples``, ``max_dim``, and ``max_constraints`` for the pair and
    quadruplet learners), ``random_state``, and metric-learn's parameters, whose names
    :attr:`ml_params` gives. The budget every subclass takes: ``max_samples`` (int), the most
    rows used for fitting (0 uses every row of the identities with enough images); ``max_dim``
    (int), inputs wider than this are PCA-reduced first (0 never reduces); ``random_state``
    (int), the seed of the subsample, the PCA solver and metric-learn's ``random_state``.
    """

    #: domain of every parameter (scikit-learn's form, checked by check_params at fit)
    _parameter_constraints: dict = {
        "max_samples": [dom.NONNEG_INT],
        "max_dim": [dom.NONNEG_INT],
        "max_constraints": [dom.NONNEG_INT],
        "random_state": [dom.NONNEG_INT],
    }

    base_metric = "euclidean"
    #: metric-learn class fitted
    estimator: str = ""
    #: this metric's parameters that are metric-learn's, passed on by name
    ml_params: tuple = ()
    #: whether metric-learn draws ``n_constraints`` pairs (capped by ``max_constraints``)
    uses_constraints: bool = False
    #: fewest input features metric-learn's algorithm runs on
    min_features: int = 1
    #: added to metric-learn's ``n_iter_`` to count iterations run (its loop index is 0-based in some learners)
    n_iter_offset: int = 0

    def _estimator_class(self):
        import metric_learn

        from metricbench.learn.compat import fixed_class

        return fixed_class(getattr(metric_learn, self.estimator))

    def _label(self) -> str:
        return self.name or type(self).__name__

    def _resolved(self, key: str) -> int:
        value = getattr(self, key)
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise InputError(f"{self._label()}: {key} must be an integer >= 0, got {value!r}")
        return int(value)

    def _seed(self) -> int:
        rs = self.random_state
        if isinstance(rs, bool) or not isinstance(rs, (int, np.integer)) or rs < 0:
            raise InputError(f"{self._label()}: random_state must be an integer >= 0, got {rs!r}")
        return int(rs)

    def _estimator_params(self, cls) -> dict:
        kw = {k: getattr(self, k) for k in self.ml_params}
        if "random_state" in inspect.signature(cls.__init__).parameters:
            kw["random_state"] = self._seed()
        return kw

    def _min_per_class(self, kw: dict) -> int:
        return 2

    def _adjust(self, kw: dict, X: np.ndarray, codes: np.ndarray) -> tuple[list[str], list[str]]:
        """Last per-algorithm changes to metric-learn's parameters.

        Returns notes for :meth:`describe`: budget cuts (also warned about) and other choices.
        """
        notes, info = [], []
        if self.uses_constraints and kw.get("n_constraints") is None:
            cap = self._resolved("max_constraints")
            n_classes = int(np.unique(codes).size)
            default = 20 * n_classes**2
            if cap and default > cap:
                kw["n_constraints"] = cap
                notes.append(f"n_constraints {cap} (metric-learn's default 20*classes^2 = {default})")
        return notes, info

    def _run(self, est, X, codes):
        est.fit(X, codes)
        return est

    def _fit(self, X, y, groups=None, **fit_params) -> None:
        # ``groups`` (clean / degraded variant tags) is accepted like every learned metric's, and unused:
        # metric-learn's algorithms know nothing of variants.
        if fit_params:
            raise InputError(f"{self._label()}.fit takes no extra arguments, got {sorted(fit_params)}")
        cls = self._estimator_class()
        kw = self._estimator_params(cls)
        n, d = X.shape
        max_samples = self._resolved("max_samples")
        max_dim = self._resolved("max_dim")
        seed = self._seed()
        if d < self.min_features:
            raise InputError(
                f"{self._label()}: metric-learn {cls.__name__} needs at least {self.min_features} features, "
                f"got {d} feature(s)"
            )

        rows = subsample_by_identity(y, max_samples, seed=seed, min_per_class=self._min_per_class(kw))
        Xs = np.asarray(X[rows] if rows.size < n else X, dtype=np.float64)
        _, codes, _ = class_codes(np.asarray(y)[rows])
        notes = []
        if rows.size < n:
            counts = np.unique(np.asarray(y), return_counts=True)[1]
            min_pc = self._min_per_class(kw)
            n_eligible = int(counts[counts >= min_pc].sum())
            why = f"identities with < {min_pc} images left out"
            if max_samples and n_eligible > max_samples:
                why = f"budget max_samples={max_samples}" + (f", {why}" if n_eligible < n else "")
            notes.append(f"{rows.size:,} of {n:,} rows ({np.unique(codes).size:,} identities, seed {seed}, {why})")
        proj = mean = None
        if max_dim and d > max_dim:
            from sklearn.decomposition import PCA

            k = min(max_dim, Xs.shape[0] - 1)
            pca = PCA(n_components=k, svd_solver="full", random_state=seed).fit(Xs)
            proj, mean = pca.components_, pca.mean_
            Xs = (Xs - mean) @ proj.T
            notes.append(f"PCA {d}->{k} dims ({pca.explained_variance_ratio_.sum():.0%} of variance)")
        more, info = self._adjust(kw, Xs, codes)
        notes += more

        cut = bool(notes)
        if rows.size == n:
            notes.insert(0, f"all {n:,} rows")
        line = f"{self._label()}: metric-learn {cls.__name__} fitted on " + "; ".join(notes)
        if cut:
            warnings.warn(line, BudgetWarning, stacklevel=4)
            logger.info(line)
        t0 = time.perf_counter()
        try:
            est = self._run(cls(**kw), Xs, codes)
        except (ValueError, TypeError, RuntimeError, np.linalg.LinAlgError) as e:
            msg = " ".join(str(e).split())
            raise InputError(
                f"{self._label()}: metric-learn {cls.__name__} failed on "
                f"{Xs.shape[0]} x {Xs.shape[1]} ({msg}); try other max_samples / max_dim / parameters"
            ) from None
        L = np.asarray(est.components_, dtype=np.float64)
        if not np.all(np.isfinite(L)):
            raise InputError(
                f"{self._label()}: metric-learn {cls.__name__} returned non-finite "
                "components; try a smaller max_dim or more samples"
            )
        if L.ndim != 2 or L.shape[0] == 0:
            raise InputError(
                f"{self._label()}: metric-learn {cls.__name__} learned an empty map on "
                f"{Xs.shape[0]} x {Xs.shape[1]} (no component kept, every distance would be 0); "
                "try other parameters (for ml-scml a smaller beta) or more samples"
            )
        self.components_ = L @ proj if proj is not None else L
        if mean is not None:
            self.mean_ = mean
        self.n_rows_used_ = int(Xs.shape[0])
        self.n_identities_used_ = int(np.unique(codes).size)
        self.n_dims_used_ = int(Xs.shape[1])
        self.fit_seconds_ = float(time.perf_counter() - t0)
        if "max_iter" in self.ml_params:
            self.n_iter_ = self._n_iter(est)
        self.budget_note_ = "; ".join(notes)
        self.choices_note_ = "; ".join(info)
        self.estimator_params_ = {k: v for k, v in kw.items() if isinstance(v, (bool, int, float, str, type(None)))}

    def _n_iter(self, est) -> int:
        """Iterations metric-learn ran (its ``n_iter_``, counted from 1)."""
        return int(getattr(est, "n_iter_", 0)) + self.n_iter_offset

    def describe(self) -> str:
        if not hasattr(self, "components_"):
            return ""
        k, d = np.shape(self.components_)
        head = f"metric-learn {self.estimator} -> {k}-D map of {d}-D input; fitted on {self.budget_note_}"
        return f"{head}; {self.choices_note_}" if self.choices_note_ else head


class MLLMNN(MetricLearnMetric):
    """metric-learn's LMNN (large-margin nearest neighbour); n x n distances per iteration.

    Parameters
    ----------
    max_samples, max_dim, random_state
        Budget and seed (:class:`MetricLearnMetric`); defaults 600 rows, 32 dimensions.
    init, n_neighbors, min_iter, max_iter, learn_rate, regularization, convergence_tol, n_components, verbose
        metric-learn's ``LMNN`` parameters; defaults differ from metric-learn's in
        ``init="pca"`` (``"auto"`` there) and ``max_iter=30`` (1000).
    """

    estimator = "LMNN"
    ml_params = ("init", "n_neighbors", "min_iter", "max_iter", "learn_rate", "regularization", "convergence_tol",
                 "n_components", "verbose")

    #: domain of every parameter (scikit-learn's form, checked by check_params at fit)
    _parameter_constraints: dict = {
        **MetricLearnMetric._parameter_constraints,
        "init": [dom.StrOptions({"auto", "pca", "lda", "identity", "random"}), "array-like"],
        "n_neighbors": [dom.POS_INT],
        "min_iter": [dom.NONNEG_INT],
        "max_iter": [dom.POS_INT],
        "learn_rate": [dom.POS_REAL],
        "regularization": [dom.UNIT],
        "convergence_tol": [dom.NONNEG_REAL],
        "n_components": [dom.POS_INT, None],
        "verbose": dom.VERBOSE,
    }

    def __init__(self, max_samples=600, max_dim=32, random_state=0, *, init="pca", n_neighbors=3, min_iter=50,
                 max_iter=30, learn_rate=1e-7, regularization=0.5, convergence_tol=0.001, n_components=None,
                 verbose=False):
        self.max_samples = max_samples
        self.max_dim = max_dim
        self.random_state = random_state
        self.init = init
        self.n_neighbors = n_neighbors
        self.min_iter = min_iter
        self.max_iter = max_iter
        self.learn_rate = learn_rate
        self.regularization = regularization
        self.convergence_tol = convergence_tol
        self.n_components = n_components
        self.verbose = verbose

    #: metric-learn's LMNN fails inside its gradient on 1-feature input
    min_features = 2

    def _min_per_class(self, kw):
        return int(kw.get("n_neighbors", 3)) + 1


class MLNCA(MetricLearnMetric):
    """metric-learn's NCA (neighbourhood components analysis); n x n softmax per iteration.

    Parameters
    ----------
    max_samples, max_dim, random_state
        Budget and seed; defaults 1,000 rows, 64 dimensions.
    init, n_components, max_iter, tol, verbose
        metric-learn's ``NCA`` parameters, metric-learn's defaults.
    """

    estimator = "NCA"
    ml_params = ("init", "n_components", "max_iter", "tol", "verbose")

    #: domain of every parameter (scikit-learn's form, checked by check_params at fit)
    _parameter_constraints: dict = {
        **MetricLearnMetric._parameter_constraints,
        "init": [dom.StrOptions({"auto", "pca", "lda", "identity", "random"}), "array-like"],
        "n_components": [dom.POS_INT, None],
        "max_iter": [dom.POS_INT],
        "tol": [dom.NONNEG_REAL, None],
        "verbose": dom.VERBOSE,
    }

    def __init__(self, max_samples=1000, max_dim=64, random_state=0, *, init="auto", n_components=None,
                 max_iter=100, tol=None, verbose=False):
        self.max_samples = max_samples
        self.max_dim = max_dim
        self.random_state = random_state
        self.init = init
        self.n_components = n_components
        self.max_iter = max_iter
        self.tol = tol
        self.verbose = verbose


class MLLFDA(MetricLearnMetric):
    """metric-learn's LFDA (local Fisher discriminant analysis); closed form.

    Parameters
    ----------
    max_samples, max_dim, random_state
        Budget and seed; defaults 20,000 rows, no PCA.
    n_components, k, embedding_type
        metric-learn's ``LFDA`` parameters, metric-learn's defaults.
    """

    estimator = "LFDA"
    ml_params = ("n_components", "k", "embedding_type")

    #: domain of every parameter (scikit-learn's form, checked by check_params at fit)
    _parameter_constraints: dict = {
        **MetricLearnMetric._parameter_constraints,
        "n_components": [dom.POS_INT, None],
        "k": [dom.POS_INT, None],
        "embedding_type": [dom.StrOptions({"weighted", "orthonormalized", "plain"})],
    }

    def __init__(self, max_samples=20000, max_dim=0, random_state=0, *, n_components=None, k=None,
                 embedding_type="weighted"):
        self.max_samples = max_samples
        self.max_dim = max_dim
        self.random_state = random_state
        self.n_components = n_components
        self.k = k
        self.embedding_type = embedding_type


class MLMLKR(MetricLearnMetric):
    """metric-learn's MLKR (kernel regression on the label codes); n x n per iteration.

    MLKR regresses a real target; identity codes are used as that target, which
    is arbitrary for identities. Kept for completeness.

    Parameters
    ----------
    max_samples, max_dim, random_state
        Budget and seed; defaults 1,000 rows, 32 dimensions.
    n_components, init, tol, max_iter, verbose
        metric-learn's ``MLKR`` parameters; ``max_iter=100`` (1000 in metric-learn).
    """

    estimator = "MLKR"
    ml_params = ("n_components", "init", "tol", "max_iter", "verbose")

    #: domain of every parameter (scikit-learn's form, checked by check_params at fit)
    _parameter_constraints: dict = {
        **MetricLearnMetric._parameter_constraints,
        "n_components": [dom.POS_INT, None],
        "init": [dom.StrOptions({"auto", "pca", "lda", "identity", "random"}), "array-like"],
        "tol": [dom.NONNEG_REAL, None],
        "max_iter": [dom.POS_INT],
        "verbose": dom.VERBOSE,
    }

    def __init__(self, max_samples=1000, max_dim=32, random_state=0, *, n_components=None, init="auto", tol=None,
                 max_iter=100, verbose=False):
        self.max_samples = max_samples
        self.max_dim = max_dim
        self.random_state = random_state
        self.n_components = n_components
        self.init = init
        self.tol = tol
        self.max_iter = max_iter
        self.verbose = verbose


class MLITML(MetricLearnMetric):
    """metric-learn's ITML_Supervised (information-theoretic metric learning on pairs).

    Parameters
    ----------
    max_samples, max_dim, max_constraints, random_state
        Budget and seed; defaults 5,000 rows, 64 dimensions, 5,000 constraints (a cap on
        metric-learn's default ``n_constraints = 20 * n_classes**2``; 0: no cap).
    gamma, max_iter, tol, n_constraints, prior, verbose
        metric-learn's ``ITML_Supervised`` parameters; ``max_iter=100`` (1000 in metric-learn).
    """

    estimator = "ITML_Supervised"
    ml_params = ("gamma", "max_iter", "tol", "n_constraints", "prior", "verbose")
    uses_constraints = True
    n_iter_offset = 1

    #: domain of every parameter (scikit-learn's form, checked by check_params at fit)
    _parameter_constraints: dict = {
        **MetricLearnMetric._parameter_constraints,
        "gamma": [dom.POS_REAL],
        "max_iter": [dom.POS_INT],
        "tol": [dom.NONNEG_REAL],
        "n_constraints": [dom.POS_INT, None],
        "prior": [dom.StrOptions({"identity", "covariance", "random"}), "array-like"],
        "verbose": dom.VERBOSE,
    }

    def __init__(self, max_samples=5000, max_dim=64, max_constraints=5000, random_state=0, *, gamma=1.0,
                 max_iter=100, tol=0.001, n_constraints=None, prior="identity", verbose=False):
        self.max_samples = max_samples
        self.max_dim = max_dim
        self.max_constraints = max_constraints
        self.random_state = random_state
        self.gamma = gamma
        self.max_iter = max_iter
        self.tol = tol
        self.n_constraints = n_constraints
        self.prior = prior
        self.verbose = verbose


class MLSDML(MetricLearnMetric):
    """metric-learn's SDML_Supervised (sparse determinant metric learning, graphical lasso).

    With metric-learn's defaults (``balance_param=0.5``) scikit-learn's graphical lasso
    fails on face embeddings ("not SPD"); the default here, ``balance_param=1e-5`` with
    the identity prior, is the setting metric-learn's own tests use to keep SDML stable.

    Parameters
    ----------
    max_samples, max_dim, max_constraints, random_state
        Budget and seed; defaults 5,000 rows, 64 dimensions, 5,000 constraints.
    balance_param, sparsity_param, prior, n_constraints, verbose
        metric-learn's ``SDML_Supervised`` parameters; ``balance_param=1e-5`` (0.5 in metric-learn).
    """

    estimator = "SDML_Supervised"
    ml_params = ("balance_param", "sparsity_param", "prior", "n_constraints", "verbose")
    uses_constraints = True

    #: domain of every parameter (scikit-learn's form, checked by check_params at fit)
    _parameter_constraints: dict = {
        **MetricLearnMetric._parameter_constraints,
        "balance_param": [dom.NONNEG_REAL],
        "sparsity_param": [dom.NONNEG_REAL],
        "prior": [dom.StrOptions({"identity", "covariance", "random"}), "array-like"],
        "n_constraints": [dom.POS_INT, None],
        "verbose": dom.VERBOSE,
    }

    def __init__(self, max_samples=5000, max_dim=64, max_constraints=5000, random_state=0, *, balance_param=1e-5,
                 sparsity_param=0.01, prior="identity", n_constraints=None, verbose=False):
        self.max_samples = max_samples
        self.max_dim = max_dim
        self.max_constraints = max_constraints
        self.random_state = random_state
        self.balance_param = balance_param
        self.sparsity_param = sparsity_param
        self.prior = prior
        self.n_constraints = n_constraints
        self.verbose = verbose


class MLLSML(MetricLearnMetric):
    """metric-learn's LSML_Supervised (least-squares metric learning on quadruplets).

    Parameters
    ----------
    max_samples, max_dim, max_constraints, random_state
        Budget and seed; defaults 5,000 rows, 64 dimensions, 5,000 constraints.
    tol, max_iter, prior, n_constraints, weights, verbose
        metric-learn's ``LSML_Supervised`` parameters, metric-learn's defaults.
    """

    estimator = "LSML_Supervised"
    ml_params = ("tol", "max_iter", "prior", "n_constraints", "weights", "verbose")
    uses_constraints = True

    #: domain of every parameter (scikit-learn's form, checked by check_params at fit)
    _parameter_constraints: dict = {
        **MetricLearnMetric._parameter_constraints,
        "tol": [dom.NONNEG_REAL],
        "max_iter": [dom.POS_INT],
        "prior": [dom.StrOptions({"identity", "covariance", "random"}), "array-like"],
        "n_constraints": [dom.POS_INT, None],
        "weights": ["array-like", None],
        "verbose": dom.VERBOSE,
    }

    def __init__(self, max_samples=5000, max_dim=64, max_constraints=5000, random_state=0, *, tol=0.001,
                 max_iter=1000, prior="identity", n_constraints=None, weights=None, verbose=False):
        self.max_samples = max_samples
        self.max_dim = max_dim
        self.max_constraints = max_constraints
        self.random_state = random_state
        self.tol = tol
        self.max_iter = max_iter
        self.prior = prior
        self.n_constraints = n_constraints
        self.weights = weights
        self.verbose = verbose


class MLRCA(MetricLearnMetric):
    """metric-learn's RCA_Supervised (relevant components analysis on chunklets).

    Parameters
    ----------
    max_samples, max_dim, random_state
        Budget and seed; defaults 20,000 rows, 64 dimensions.
    n_components, n_chunks, chunk_size
        metric-learn's ``RCA_Supervised`` parameters. ``n_chunks=None`` (metric-learn: 100)
        takes ``min(chunklets the rows allow, max(100, 10 * dims))``.
    """

    estimator = "RCA_Supervised"
    ml_params = ("n_components", "n_chunks", "chunk_size")

    #: domain of every parameter (scikit-learn's form, checked by check_params at fit)
    _parameter_constraints: dict = {
        **MetricLearnMetric._parameter_constraints,
        "n_components": [dom.POS_INT, None],
        "n_chunks": [dom.POS_INT, None],
        "chunk_size": [dom.ints(2)],
    }

    def __init__(self, max_samples=20000, max_dim=64, random_state=0, *, n_components=None, n_chunks=None,
                 chunk_size=2):
        self.max_samples = max_samples
        self.max_dim = max_dim
        self.random_state = random_state
        self.n_components = n_components
        self.n_chunks = n_chunks
        self.chunk_size = chunk_size

    def _adjust(self, kw, X, codes):
        notes, info = super()._adjust(kw, X, codes)
        if kw.get("n_chunks") is None:
            size = int(kw.get("chunk_size", 2))
            possible = int((np.bincount(codes) // size).sum())
            kw["n_chunks"] = int(min(possible, max(100, 10 * X.shape[1])))
            info.append(f"{kw['n_chunks']} chunklets of {size}")
        return notes, info


class MLMMC(MetricLearnMetric):
    """metric-learn's MMC_Supervised (Xing et al.'s mahalanobis metric for clustering).

    Parameters
    ----------
    max_samples, max_dim, max_constraints, random_state
        Budget and seed; defaults 5,000 rows, 64 dimensions, 5,000 constraints.
    max_iter, max_proj, tol, n_constraints, init, diagonal, diagonal_c, verbose
        metric-learn's ``MMC_Supervised`` parameters; ``max_iter=50`` (100 in metric-learn),
        ``max_proj=1000`` (10000).
    """

    estimator = "MMC_Supervised"
    ml_params = ("max_iter", "max_proj", "tol", "n_constraints", "init", "diagonal", "diagonal_c", "verbose")
    uses_constraints = True
    n_iter_offset = 1

    #: domain of every parameter (scikit-learn's form, checked by check_params at fit)
    _parameter_constraints: dict = {
        **MetricLearnMetric._parameter_constraints,
        "max_iter": [dom.POS_INT],
        "max_proj": [dom.POS_INT],
        "tol": [dom.NONNEG_REAL],
        "n_constraints": [dom.POS_INT, None],
        "init": [dom.StrOptions({"identity", "covariance", "random"}), "array-like"],
        "diagonal": dom.BOOL,
        "diagonal_c": [dom.POS_REAL],
        "verbose": dom.VERBOSE,
    }

    def __init__(self, max_samples=5000, max_dim=64, max_constraints=5000, random_state=0, *, max_iter=50,
                 max_proj=1000, tol=1e-6, n_constraints=None, init="identity", diagonal=False, diagonal_c=1.0,
                 verbose=False):
        self.max_samples = max_samples
        self.max_dim = max_dim
        self.max_constraints = max_constraints
        self.random_state = random_state
        self.max_iter = max_iter
        self.max_proj = max_proj
        self.tol = tol
        self.n_constraints = n_constraints
        self.init = init
        self.diagonal = diagonal
        self.diagonal_c = diagonal_c
        self.verbose = verbose


class MLSCML(MetricLearnMetric):
    """metric-learn's SCML_Supervised (sparse compositional metric learning on triplets).

    Parameters
    ----------
    max_samples, max_dim, random_state
        Budget and seed; defaults 3,000 rows, 64 dimensions.
    k_genuine, k_impostor, beta, basis, n_basis, gamma, max_iter, output_iter, batch_size, verbose
        metric-learn's ``SCML_Supervised`` parameters, metric-learn's defaults.
    """

    estimator = "SCML_Supervised"
    ml_params = ("k_genuine", "k_impostor", "beta", "basis", "n_basis", "gamma", "max_iter", "output_iter",
                 "batch_size", "verbose")

    #: domain of every parameter (scikit-learn's form, checked by check_params at fit)
    _parameter_constraints: dict = {
        **MetricLearnMetric._parameter_constraints,
        "k_genuine": [dom.POS_INT],
        "k_impostor": [dom.POS_INT],
        "beta": [dom.NONNEG_REAL],
        "basis": [dom.StrOptions({"lda", "triplet_diffs"}), "array-like"],
        "n_basis": [dom.POS_INT, None],
        "gamma": [dom.POS_REAL],
        "max_iter": [dom.POS_INT],
        "output_iter": [dom.POS_INT],
        "batch_size": [dom.POS_INT],
        "verbose": dom.VERBOSE,
    }

    def __init__(self, max_samples=3000, max_dim=64, random_state=0, *, k_genuine=3, k_impostor=10, beta=1e-5,
                 basis="lda", n_basis=None, gamma=0.005, max_iter=10000, output_iter=500, batch_size=10,
                 verbose=False):
        self.max_samples = max_samples
        self.max_dim = max_dim
        self.random_state = random_state
        self.k_genuine = k_genuine
        self.k_impostor = k_impostor
        self.beta = beta
        self.basis = basis
        self.n_basis = n_basis
        self.gamma = gamma
        self.max_iter = max_iter
        self.output_iter = output_iter
        self.batch_size = batch_size
        self.verbose = verbose

    #: metric-learn's LDA basis divides by the number of eigenvectors, 0 on 1-feature input
    min_features = 2

    def _min_per_class(self, kw):
        return int(kw.get("k_genuine", 3)) + 1

    def _n_iter(self, est) -> int:
        return int(self.max_iter)  # metric-learn's SCML always runs all max_iter SGD steps


class MLCovariance(MetricLearnMetric):
    """metric-learn's Covariance: M = inverse covariance of the data (labels unused).

    Parameters
    ----------
    max_samples, max_dim, random_state
        Budget and seed; defaults: every row, no PCA.
    """

    estimator = "Covariance"

    def __init__(self, max_samples=0, max_dim=0, random_state=0):
        self.max_samples = max_samples
        self.max_dim = max_dim
        self.random_state = random_state

    def fit(self, X, y=None, **fit_params):
        """Fit on ``X``; ``y`` is optional and unused (all rows are used)."""
        if y is None:
            n = X.shape[0] if hasattr(X, "shape") and len(X.shape) else len(X)
            y = np.zeros(n, dtype=np.int64)
        return super().fit(X, y, **fit_params)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = False
        return tags

    def _min_per_class(self, kw):
        return 1

    def _run(self, est, X, codes):
        est.fit(X)
        return est


#: registry name suffix -> class, for tests and docs
ALGORITHMS: dict[str, type[MetricLearnMetric]] = {
    "lmnn": MLLMNN,
    "nca": MLNCA,
    "lfda": MLLFDA,
    "mlkr": MLMLKR,
    "itml": MLITML,
    "sdml": MLSDML,
    "lsml": MLLSML,
    "rca": MLRCA,
    "mmc": MLMMC,
    "scml": MLSCML,
    "covariance": MLCovariance,
}

__all__ = ["ALGORITHMS", "BudgetWarning", "MetricLearnMetric", "subsample_by_identity"] + [
    c.__name__ for c in ALGORITHMS.values()
]
