"""Large-margin nearest neighbour (LMNN), native and scalable.

LMNN (Weinberger & Saul, JMLR 2009) learns a linear map ``L`` (k x d) so that each
row's ``n_neighbors`` *target neighbours* (its nearest rows of the same identity,
fixed before training) come close, while rows of other identities (*impostors*)
stay at least a unit margin further away:

.. math::

    \\varepsilon(L) = (1-\\mu) \\sum_{i, j \\in T(i)} d_{ij}
        + \\mu \\sum_{i, j \\in T(i), l: y_l \\ne y_i} [1 + d_{ij} - d_{il}]_+ ,
    \\qquad d_{ab} = \\lVert L (x_a - x_b) \\rVert^2 .

This is metric-learn's objective (its ``regularization`` is ``1 - mu``). What makes it
fit 454,714 x 512 in minutes on two cores:

* **Target neighbours** are found once, exactly, within each identity (numba, in the
  input space), on a class-sorted copy of the rows, so that a row's targets and its
  identity's impostor candidates sit close in memory.
* **Impostors** are stored per anchor row and refreshed every ``impostor_refresh``
  L-BFGS iterations, in two parts:

  - *searched*: among the rows of the ``n_candidate_classes`` identities whose
    centroids are nearest in the current projection (at most
    ``max_candidates_per_class`` rows each, a seeded random subset of a larger
    identity), the ``max_impostors`` nearest rows inside the anchor's margin radius
    ``1 + max_j d_ij`` (enlarged by 25 %, so that triplets that become active before
    the next refresh are already there);
  - *sampled*: ``n_random_impostors`` rows drawn uniformly from all other identities
    (one seeded draw per identity, shared by its rows), each weighted by the inverse
    of its sampling probability, minus those already searched. Their loss is an
    unbiased (Horvitz-Thompson) estimate of the loss over every row the search did
    not keep, which matters when the margin is large against the spread of the data
    and most pairs are active.

  Memory is ``n * (n_neighbors + max_impostors + n_random_impostors)`` edges, never
  n x n. On small problems (other identities' rows fewer than ``n_random_impostors``)
  the sample is the whole population and the loss is exact.
* **Loss and gradient** treat the stored triplets as a weighted graph: a target edge
  weighs ``(1-mu) + mu * (sum of the multipliers of its active impostors)`` and an
  impostor edge ``-mu * multiplier * #active targets``. With that graph's Laplacian
  ``Lap`` and ``Z = X L^T``, the gradient is ``2 L X^T Lap X = 2 (Lap Z)^T X``:
  ``Lap Z`` takes two row-parallel numba passes (anchor side; far side through the
  transposed target lists and a compacted list of the active impostor edges), the
  rest is two dense GEMMs of n x k x d per evaluation. No per-pair outer products,
  no d x d matrix.
* **L-BFGS** (scipy) runs between impostor refreshes. With ``holdout > 0`` a
  fraction of the identities is held out and the map with the best AUROC on their
  pairs (across the two ``groups`` when ``fit`` is given two) is kept; training stops
  after ``patience`` iterations without gain.
"""

from __future__ import annotations

import sys
import time

import numpy as np

from metricbench.config import get_chunk_n_rows, get_working_memory
from metricbench.learn import _constraints as dom
from metricbench.errors import InputError
from metricbench.learn.base import LinearMetric
from metricbench.learn.stats import class_codes
from metricbench.model_selection import IdentityPairSplit, pair_auroc
from metricbench.model_selection._scorer import cosine_rows
from metricbench.model_selection._split import _seed_int as seed_int

_SLACK = 0.25  # relative enlargement of the margin radius when storing impostors
_METRICS = ("sqeuclidean", "cosine")
_SERIAL_EDGES = 200_000  # below this many stored edges the kernels run on one thread
_PCA_ROWS = 100_000  # rows used for the PCA start


def _class_layout(y):
    """Classes, codes, rows per class and each class's offset in class-sorted order."""
    classes, codes, counts = class_codes(y)
    starts = np.zeros(classes.size, dtype=np.int64)
    np.cumsum(counts[:-1], out=starts[1:])
    return classes, codes, counts, starts


def find_target_neighbors(X, y, n_neighbors):
    """Exact ``n_neighbors`` nearest rows of the same identity (squared Euclidean).

    Parameters
    ----------
    X : ndarray of shape (n, d)
    y : array-like of shape (n,)
    n_neighbors : int

    Returns
    -------
    T : ndarray of int32, shape (n, n_neighbors)
        Row indices of the target neighbours, nearest first; ``-1`` where the
        identity has fewer than ``n_neighbors + 1`` rows. Ties go to the lower index.
    """
    from metricbench.learn import _lmnn_kernels as kern

    X = np.asarray(X)
    if not np.issubdtype(X.dtype, np.floating):
        X = X.astype(np.float64)
    _, codes, counts, starts = _class_layout(y)
    order = np.argsort(codes, kind="stable")
    Xs = np.ascontiguousarray(X[order])
    T = np.empty((X.shape[0], n_neighbors), dtype=np.int32)
    D = np.empty((X.shape[0], n_neighbors), dtype=np.float64)
    kern.class_knn(Xs, starts, counts, T, D)
    out = np.full_like(T, -1)
    out[order] = np.where(T >= 0, order[np.maximum(T, 0)], -1)
    return out


def _pair_dist(Zv, i1, i2, metric):
    a, b = Zv[i1], Zv[i2]
    if metric == "cosine":
        return 1.0 - cosine_rows(a, b)
    u = a - b
    return np.einsum("ij,ij->i", u, u)


class LMNN(LinearMetric):
    """Large-margin nearest neighbour metric learning, in numba, for large n.

    See the module docstring for the algorithm.

    Parameters
    ----------
    n_components : int
        Output dimension ``k`` of ``L`` (k x d); clipped to the input width.
    n_neighbors : int
        Target neighbours per row, searched within its identity (exact).
    push_loss_weight : float
        ``mu`` in ``(1 - mu) * pull + mu * push`` (metric-learn's ``regularization``
        is ``1 - mu``).
    init : {"pca", "identity"} or array-like of shape (k, d)
        Starting ``L``: the top-``k`` principal axes (orthonormal rows; from at most
        100,000 rows evenly spaced over the identities), the first ``k`` rows of the
        identity, or a given matrix.
    init_scale : "auto", float or None
        Factor applied to the starting ``L``. ``"auto"`` scales it so that the median
        over rows of the squared distance to the farthest target neighbour is 1: LMNN's
        unit margin then means one typical target-neighbour distance whatever the scale
        of the embeddings (ArcFace rows of norm 1 or 30 give the same fit, up to scale).
        None keeps the starting map as it is (metric-learn's behaviour).
    max_iter : int
        Maximum number of optimiser iterations in total.
    solver : {"lbfgs", "gd"}
        ``"lbfgs"``: scipy's L-BFGS-B between impostor searches (few iterations to the
        optimum; the choice at scale). ``"gd"``: gradient descent with an adaptive step,
        as metric-learn does (the step grows by 5 % after a step that lowers the loss
        and halves until one does): many more, smaller iterations, whose path the
        held-out identities can stop at a finer point. On small train sets, where the
        LMNN optimum over-fits, that generalises better.
    learn_rate : float
        ``"gd"`` only: the first step, relative: ``learn_rate * ||L|| / ||gradient||``.
    refit : bool
        With ``holdout``: after the held-out identities have chosen the iteration,
        fit again on all rows (none held out) for that many iterations and keep that
        map. Costs a second fit; uses the held-out identities too.
    tol : float
        Stop when one impostor round lowers the loss by less than ``tol`` relatively;
        also L-BFGS's ``ftol`` inside a round.
    impostor_refresh : int
        L-BFGS iterations between two impostor searches.
    max_impostors : int
        Searched impostor candidates kept per anchor (the nearest ones inside its
        enlarged margin radius, among the rows of its ``n_candidate_classes`` nearest
        identities).
    n_random_impostors : int
        Sampled impostor candidates per anchor: rows of other identities drawn
        uniformly (seeded, one draw per identity shared by its rows, redrawn at every
        search) and weighted by the inverse sampling rate, so that the loss over them
        is an unbiased estimate of the loss over every row the search did not keep
        (when there are at most this many such rows they are all taken, and the loss
        is exact). 0 keeps only the searched ones.
    n_candidate_classes : int
        Nearest identities (by centroid in the current projection) searched for the
        impostors of an identity's rows.
    max_candidates_per_class : int
        Rows scanned per candidate identity; larger identities are subsampled
        (seeded, redrawn at every search).
    holdout : float
        Fraction of the identities (with 2+ rows) held out to pick the iteration:
        the map with the best AUROC on their pairs is kept. 0 disables it (all rows
        are fitted and the last map is kept).
    patience : int
        With ``holdout``: stop after this many L-BFGS iterations without a gain.
    n_val_pairs : int
        Validation pairs (half same; across the two ``groups`` given to ``fit``
        when there are exactly two).
    metric : {"sqeuclidean", "cosine"}
        Distance taken after the map when scoring pairs. LMNN optimises squared
        Euclidean; ``"cosine"`` scores ``cos(L(x - mean), L(x' - mean))`` instead.
    working_memory : float or None
        Budget in MiB for the temporary row blocks of the chunked products; None (default):
        the one global setting (:func:`metricbench.config.get_working_memory`).
    random_state : int, numpy Generator or None
        Seed of the held-out identities and pairs, the candidate subsampling and the
        sampled impostors.
    verbose : bool
        Print one line per iteration and per impostor search to stderr.

    Attributes
    ----------
    components_ : ndarray of shape (k, d)
    mean_ : ndarray of shape (d,)
    init_scale_ : float
        Factor applied to the starting map.
    n_iter_ : int
        Optimiser iterations run (before any refit).
    refit_iter_ : int
        Iterations of the refit on all rows (0: no refit).
    best_iter_ : int
        Iteration whose map was kept (``n_iter_`` without ``holdout``).
    val_auroc_, init_val_auroc_ : float or None
        Held-out AUROC of the kept map and of the initial one.
    val_history_ : ndarray of shape (n_iter_ + 1,)
        Held-out AUROC after each iteration (empty without ``holdout``).
    n_impostor_searches_, n_loss_evaluations_ : int
    loss_ : float
        Loss of the kept map on the last stored impostor set.
    initial_loss_ : float
        Loss of the initial map on the first stored impostor set.
    n_active_ : int
        Active triplets of the kept map (sampled ones counted once).
    converged_ : bool
        Whether the loss stopped decreasing (``tol``) before ``max_iter``.
    stopped_early_ : bool
        Whether validation stopped training (``patience``).
    timings_ : dict
        Seconds spent in target search, initialisation, impostor searches,
        loss/gradient evaluations, validation, and in total.
    """

    #: domain of every parameter (scikit-learn's form, checked by check_params at fit)
    _parameter_constraints: dict = {
        "n_components": [dom.POS_INT],
        "n_neighbors": [dom.POS_INT],
        "push_loss_weight": [dom.UNIT],
        "init": [dom.StrOptions({"pca", "identity"}), "array-like"],
        "init_scale": [dom.StrOptions({"auto"}), dom.POS_REAL, None],
        "max_iter": [dom.POS_INT],
        "solver": [dom.StrOptions({"lbfgs", "gd"})],
        "learn_rate": [dom.POS_REAL],
        "refit": dom.BOOL,
        "tol": [dom.NONNEG_REAL],
        "impostor_refresh": [dom.POS_INT],
        "max_impostors": [dom.NONNEG_INT],
        "n_random_impostors": [dom.NONNEG_INT],
        "n_candidate_classes": [dom.POS_INT],
        "max_candidates_per_class": [dom.POS_INT],
        "holdout": [dom.HOLDOUT],
        "patience": [dom.POS_INT],
        "n_val_pairs": [dom.POS_INT],
        "metric": [dom.StrOptions({"sqeuclidean", "cosine"})],
        "working_memory": [dom.POS_REAL, None],
        "random_state": dom.SEED,
        "verbose": dom.VERBOSE,
    }

    def __init__(
        self,
        n_components: int = 128,
        n_neighbors: int = 3,
        push_loss_weight: float = 0.5,
        init="pca",
        init_scale="auto",
        max_iter: int = 50,
        solver: str = "lbfgs",
        learn_rate: float = 0.03,
        refit: bool = False,
        tol: float = 1e-5,
        impostor_refresh: int = 10,
        max_impostors: int = 16,
        n_random_impostors: int = 16,
        n_candidate_classes: int = 16,
        max_candidates_per_class: int = 64,
        holdout: float = 0.1,
        patience: int = 10,
        n_val_pairs: int = 20000,
        metric: str = "sqeuclidean",
        working_memory: float | None = None,
        random_state=0,
        verbose: bool = False,
    ):
        self.n_components = n_components
        self.n_neighbors = n_neighbors
        self.push_loss_weight = push_loss_weight
        self.init = init
        self.init_scale = init_scale
        self.max_iter = max_iter
        self.solver = solver
        self.learn_rate = learn_rate
        self.refit = refit
        self.tol = tol
        self.impostor_refresh = impostor_refresh
        self.max_impostors = max_impostors
        self.n_random_impostors = n_random_impostors
        self.n_candidate_classes = n_candidate_classes
        self.max_candidates_per_class = max_candidates_per_class
        self.holdout = holdout
        self.patience = patience
        self.n_val_pairs = n_val_pairs
        self.metric = metric
        self.working_memory = working_memory
        self.random_state = random_state
        self.verbose = verbose

    @property
    def base_metric(self) -> str:  # type: ignore[override]
        return self.metric

    def get_params(self, deep: bool = True) -> dict:
        p = super().get_params(deep)
        if isinstance(p["init"], np.ndarray):
            p["init"] = p["init"].tolist()
        return p

    # -- validation ------------------------------------------------------------
    def _check_params(self, d: int | None = None) -> int:
        ints = ("n_neighbors", "max_iter", "impostor_refresh", "max_impostors", "n_random_impostors",
                "n_candidate_classes", "max_candidates_per_class", "patience", "n_val_pairs")
        for name in ints:
            v = getattr(self, name)
            low = 0 if name in ("max_impostors", "n_random_impostors") else 1
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < low:
                raise InputError(f"LMNN: {name} must be an integer >= {low}, got {v!r}")
        if self.max_impostors + self.n_random_impostors < 1:
            raise InputError("LMNN: max_impostors + n_random_impostors must be at least 1")
        if not 0.0 <= float(self.push_loss_weight) <= 1.0:
            raise InputError(f"LMNN: push_loss_weight must be in [0, 1], got {self.push_loss_weight}")
        if not 0.0 <= float(self.holdout) < 1.0:
            raise InputError(f"LMNN: holdout must be in [0, 1), got {self.holdout}")
        if self.metric not in _METRICS:
            raise InputError(f"LMNN: metric must be one of {', '.join(_METRICS)}, got {self.metric!r}")
        if self.solver not in ("lbfgs", "gd"):
            raise InputError(f"LMNN: solver must be 'lbfgs' or 'gd', got {self.solver!r}")
        if not _is_positive(self.learn_rate):
            raise InputError(f"LMNN: learn_rate must be a positive number, got {self.learn_rate!r}")
        if float(self.tol) < 0:
            raise InputError(f"LMNN: tol must be >= 0, got {self.tol}")
        if self.init_scale is not None and self.init_scale != "auto" and not _is_positive(self.init_scale):
            raise InputError(f"LMNN: init_scale must be 'auto', a positive number or None, got {self.init_scale!r}")
        if not isinstance(self.init, str):
            A = np.asarray(self.init, dtype=np.float64)
            if A.ndim != 2 or (d is not None and A.shape[1] != d) or A.shape[0] < 1:
                raise InputError(f"LMNN: init matrix must have shape (k, {d}), got {A.shape}")
            if not np.isfinite(A).all():
                raise InputError("LMNN: init matrix holds NaN or infinity")
            return int(A.shape[0])
        if self.init not in ("pca", "identity"):
            raise InputError(f"LMNN: init must be 'pca', 'identity' or a (k, d) matrix, got {self.init!r}")
        k = self.n_components
        if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 1:
            raise InputError(f"LMNN: n_components must be a positive integer, got {k!r}")
        return int(k if d is None else min(k, d))

    def _log(self, msg: str) -> None:
        if self.verbose:
            print(f"[lmnn] {msg}", file=sys.stderr, flush=True)

    # -- fitting -------------------------------------------------------------------
    def _fit(self, X, y, groups=None, **fit_params) -> None:
        import numba
        from threadpoolctl import threadpool_limits

        if fit_params:
            raise InputError(f"LMNN: unknown fit parameters {', '.join(fit_params)}")
        # every parallel region (numba or BLAS) costs a thread hand-off; on small
        # problems, and all the more on a loaded machine, one thread is faster
        n_edges = X.shape[0] * (int(self.n_neighbors) + int(self.max_impostors) + int(self.n_random_impostors))
        if n_edges >= _SERIAL_EDGES:
            self._fit_and_refit(X, y, groups)
            return
        saved = numba.get_num_threads()
        numba.set_num_threads(1)
        try:
            with threadpool_limits(limits=1):
                self._fit_and_refit(X, y, groups)
        finally:
            numba.set_num_threads(saved)

    def _fit_and_refit(self, X, y, groups) -> None:
        self._fit_impl(X, y, groups)
        self.refit_iter_ = 0
        if not (self.refit and self.val_auroc_ is not None and self.best_iter_ > 0):
            return
        # the iteration is chosen: fit all rows for that many iterations, same settings
        again = type(self)(**{**self.get_params(), "holdout": 0.0, "max_iter": int(self.best_iter_),
                              "refit": False})
        again._fit_impl(X, y, groups)
        for name in ("components_", "mean_", "init_scale_", "loss_", "initial_loss_", "n_active_"):
            setattr(self, name, getattr(again, name))
        self.n_impostor_searches_ += again.n_impostor_searches_
        self.n_loss_evaluations_ += again.n_loss_evaluations_
        self.timings_ = {key: round(self.timings_.get(key, 0.0) + again.timings_.get(key, 0.0), 3)
                         for key in self.timings_}
        self.refit_iter_ = int(again.n_iter_)

    def _fit_impl(self, X, y, groups) -> None:
        from scipy.optimize import minimize

        from metricbench.learn import _lmnn_kernels as kern
        from metricbench.learn._pairutils import check_groups

        t_start = time.perf_counter()
        timings = {"targets": 0.0, "init": 0.0, "impostors": 0.0, "loss_grad": 0.0, "validation": 0.0}
        n_all, d = X.shape
        k = self._check_params(d)
        y = np.asarray(y)
        groups = check_groups(groups, n_all)
        dtype = np.float32 if X.dtype == np.float32 else np.float64
        wm = get_working_memory(self.working_memory)
        step = get_chunk_n_rows(d * np.dtype(dtype).itemsize * 4, working_memory=wm)

        # held-out identities for choosing the iteration
        rows = np.arange(n_all)
        val = None
        self.holdout_used_ = 0.0
        seed = seed_int(self.random_state)
        self.seed_ = seed
        if float(self.holdout) > 0:
            try:
                split = next(IdentityPairSplit(test_size=float(self.holdout), n_pairs=int(self.n_val_pairs),
                                               random_state=seed).pairs(X, y, variants=groups))
            except InputError as e:
                self._log(f"no validation ({e})")
            else:
                rows = split.fit_rows
                used, inv = np.unique(np.r_[split.index1, split.index2], return_inverse=True)
                Xv = np.asarray(X[used], dtype=dtype)
                if not np.isfinite(Xv).all():
                    bad = used[int(np.flatnonzero(~np.isfinite(Xv).all(axis=1))[0])]
                    raise InputError(f"LMNN: X row {bad} holds NaN or infinity; drop or repair that row")
                m = split.index1.size
                val = (Xv, inv[:m], inv[m:], split.same)
                self.holdout_used_ = float(self.holdout)

        classes, codes, counts, starts = _class_layout(y[rows])
        if classes.size < 2:
            raise InputError("LMNN needs at least two identities in y (impostors come from other identities)")
        if not (counts >= 2).any():
            raise InputError("LMNN needs at least one identity with 2 or more rows in y")
        n = rows.size

        # one class-sorted copy of the fitted rows (skipped when X already is one): a
        # row's target neighbours and its identity's impostor candidates are then close
        order = rows[np.argsort(codes, kind="stable")]
        if n == n_all and np.array_equal(order, rows) and X.dtype == dtype and X.flags.c_contiguous:
            Xs = np.asarray(X)  # a plain ndarray view (numba does not take np.memmap)
        else:
            Xs = np.empty((n, d), dtype=dtype)
            for s in range(0, n, step):
                Xs[s : s + step] = X[order[s : s + step]]
        # mean (float64, chunked), finiteness check on the way
        mean = np.zeros(d, dtype=np.float64)
        for s in range(0, n, step):
            blk = Xs[s : s + step]
            if not np.isfinite(blk).all():
                bad = order[s + int(np.flatnonzero(~np.isfinite(blk).all(axis=1))[0])]
                raise InputError(f"LMNN: X row {bad} holds NaN or infinity; drop or repair that row")
            mean += blk.sum(axis=0, dtype=np.float64)
        del order
        mean /= n
        K = int(self.n_neighbors)

        t0 = time.perf_counter()
        T = np.empty((n, K), dtype=np.int32)
        kern.class_knn(Xs, starts, counts, T, np.empty((n, K), dtype=np.float64))
        timings["targets"] = time.perf_counter() - t0
        self._log(f"target neighbours: {n} rows, {classes.size} identities, k={K} "
                  f"({timings['targets']:.1f}s)")

        t0 = time.perf_counter()
        L = self._initial_components(Xs, mean, k, step)
        timings["init"] = time.perf_counter() - t0

        prob = _Problem(Xs, T, starts, counts, mean, k, mu=float(self.push_loss_weight),
                        max_impostors=int(self.max_impostors), n_random=int(self.n_random_impostors),
                        n_candidate_classes=int(self.n_candidate_classes),
                        max_candidates_per_class=int(self.max_candidates_per_class),
                        seed=seed, step=step, working_memory=wm)

        def val_score(w):
            t1 = time.perf_counter()
            Xv, j1, j2, same = val
            Zv = ((Xv - mean.astype(dtype)) @ w.reshape(k, d).T.astype(dtype)).astype(np.float64)
            score = pair_auroc(same, -_pair_dist(Zv, j1, j2, self.metric))
            timings["validation"] += time.perf_counter() - t1
            return score

        self.init_scale_ = 1.0
        if self.init_scale == "auto":
            radius = np.empty(n, dtype=np.float64)
            kern.margin_radius(prob.project(L), T, 1.0, radius)
            med = float(np.median(radius[T[:, 0] >= 0])) - 1.0
            if med > 0 and np.isfinite(med):
                self.init_scale_ = 1.0 / np.sqrt(med)
        elif self.init_scale is not None:
            self.init_scale_ = float(self.init_scale)
        L = L * self.init_scale_
        w = L.ravel().astype(np.float64)
        history = []
        best = {"w": w.copy(), "it": 0, "score": None}
        if val is not None:
            best["score"] = val_score(w)
            history.append(best["score"])
        self.init_val_auroc_ = best["score"]
        self._log(f"start: L {k}x{d}, init {self.init if isinstance(self.init, str) else 'matrix'}, "
                  f"{np.dtype(dtype).name}, {prob.n_parts} thread(s), {n} rows fitted"
                  + (f", {val[3].size} validation pairs, AUROC {best['score']:.4f}" if val else ""))
        it = 0
        initial_loss = None
        converged = stopped = False
        gd_state = {}
        while it < self.max_iter and not stopped:
            t1 = time.perf_counter()
            info = prob.search(w.reshape(k, d))
            timings["impostors"] += time.perf_counter() - t1
            self._log(f"impostor search {prob.n_search}: {info['near']} searched candidates "
                      f"({info['near'] / n:.1f} per row), {info['random']} sampled, "
                      f"{time.perf_counter() - t1:.1f}s")
            n_round = [0]
            first = {}

            def fun(x):
                t2 = time.perf_counter()
                out = prob.loss_grad(x)
                first.setdefault("f", out[0])
                timings["loss_grad"] += time.perf_counter() - t2
                return out

            def callback(xk):
                nonlocal stopped
                n_round[0] += 1
                i = it + n_round[0]
                msg = (f"iter {i}: loss {prob.last['f']:.6g}, {prob.last['n_active']} active triplets")
                if val is not None:
                    score = val_score(xk)
                    history.append(score)
                    msg += f", validation AUROC {score:.4f}"
                    if score > best["score"]:
                        best.update(w=np.array(xk, dtype=np.float64), it=i, score=score)
                    elif i - best["it"] >= int(self.patience):
                        stopped = True
                self._log(f"{msg}, {time.perf_counter() - t_start:.1f}s")
                if stopped:
                    raise StopIteration

            maxiter = int(min(self.impostor_refresh, self.max_iter - it))
            if self.solver == "gd":
                res = _gradient_descent(fun, w, callback, maxiter, gd_state, float(self.learn_rate))
            else:
                res = minimize(fun, w, jac=True, method="L-BFGS-B", callback=callback,
                               options={"maxiter": maxiter, "ftol": float(self.tol), "gtol": 0.0, "maxcor": 10})
            it += max(n_round[0], 1)
            f0 = first["f"]
            if prob.n_search == 1:
                initial_loss = f0
            if res.fun <= f0:
                w = np.asarray(res.x, dtype=np.float64)
            if not stopped and (f0 - float(res.fun)) / max(abs(f0), 1.0) < float(self.tol):
                converged = True
                break
        if val is None:
            best.update(w=w, it=it)
        w = best["w"]
        if prob.last.get("w") is None or not np.array_equal(prob.last["w"], w):
            t2 = time.perf_counter()
            prob.loss_grad(w)
            timings["loss_grad"] += time.perf_counter() - t2
        self.components_ = w.reshape(k, d).copy()
        self.mean_ = mean
        self.n_iter_ = int(it)
        self.best_iter_ = int(best["it"])
        self.val_auroc_ = None if best["score"] is None else float(best["score"])
        self.val_history_ = np.asarray(history, dtype=np.float64)
        self.n_impostor_searches_ = int(prob.n_search)
        self.n_loss_evaluations_ = int(prob.n_eval)
        self.loss_ = float(prob.last["f"])
        self.initial_loss_ = float(initial_loss)
        self.n_active_ = int(prob.last["n_active"])
        self.converged_ = bool(converged)
        self.stopped_early_ = bool(stopped)
        timings["total"] = time.perf_counter() - t_start
        self.timings_ = {key: round(v, 3) for key, v in timings.items()}
        self._log(f"done: {it} iterations, kept iteration {self.best_iter_}, loss {self.loss_:.6g}, "
                  f"{self.n_active_} active, {timings['total']:.1f}s")

    def _initial_components(self, X, mean, k, step) -> np.ndarray:
        n, d = X.shape
        if not isinstance(self.init, str):
            return np.asarray(self.init, dtype=np.float64).copy()
        if self.init == "identity":
            return np.eye(k, d)
        # PCA through the d x d covariance (chunked, float64 accumulation), on at most
        # _PCA_ROWS rows evenly spaced in the class-sorted order (every identity represented)
        rows = np.arange(n) if n <= _PCA_ROWS else np.linspace(0, n - 1, _PCA_ROWS).astype(np.int64)
        C = np.zeros((d, d), dtype=np.float64)
        for s in range(0, rows.size, step):
            blk = np.asarray(X[rows[s : s + step]]) - mean.astype(X.dtype)
            C += (blk.T @ blk).astype(np.float64)
        C /= rows.size
        _, vecs = np.linalg.eigh(C)
        top = vecs[:, ::-1][:, :k].T
        # deterministic sign: largest-magnitude coordinate positive
        sign = np.sign(top[np.arange(k), np.abs(top).argmax(axis=1)])
        sign[sign == 0] = 1.0
        return top * sign[:, None]

    def describe(self) -> str:
        if not hasattr(self, "components_"):
            return ""
        k, d = np.shape(self.components_)
        init = self.init if isinstance(self.init, str) else "matrix"
        if self.val_auroc_ is not None:
            stop = (f"kept iteration {self.best_iter_} of {self.n_iter_} (held-out AUROC "
                    f"{self.init_val_auroc_:.4f} -> {self.val_auroc_:.4f})")
        else:
            stop = f"{self.n_iter_} iterations ({'converged' if self.converged_ else 'max_iter reached'})"
        solver = "L-BFGS" if self.solver == "lbfgs" else "gradient descent"
        refit = getattr(self, "refit_iter_", 0)
        if refit:
            stop += f", refit on all rows for {refit} iterations"
        return (
            f"LMNN L {k}x{d} (init {init}, {self.n_neighbors} target neighbours, mu {self.push_loss_weight}), "
            f"{solver} {stop}, {self.n_impostor_searches_} impostor searches, {self.n_active_} active triplets, "
            f"scored by {self.metric}, seed {self.seed_}"
        )


def _is_positive(v) -> bool:
    try:
        return float(v) > 0
    except (TypeError, ValueError):
        return False


class _Result:
    def __init__(self, x, fun):
        self.x = x
        self.fun = fun


def _gradient_descent(fun, w, callback, maxiter, state, learn_rate):
    """Up to ``maxiter`` descent steps from ``w``; every kept step lowers ``fun``.

    The step (kept in ``state`` across impostor rounds) starts at
    ``learn_rate * ||w|| / ||grad||``, grows by 5 % after a kept step and halves until
    a step lowers the loss (metric-learn's rule). ``callback(x)`` after every kept step
    may raise StopIteration to end the round.
    """
    x = np.array(w, dtype=np.float64)
    f, g = fun(x)
    if "step" not in state:
        gn = float(np.linalg.norm(g))
        state["step"] = learn_rate * float(np.linalg.norm(x)) / gn if gn > 0 else 0.0
        state["first"] = state["step"]
    for _ in range(maxiter):
        step = state["step"]
        if step <= 0:
            break
        while True:
            xn = x - step * g
            fn, gn_ = fun(xn)
            if fn < f or step < 1e-12 * state["first"]:
                break
            step *= 0.5
        if not fn < f:  # no step lowers the loss: a (local) minimum
            state["step"] = step
            break
        x, f, g = xn, fn, gn_
        state["step"] = step * 1.05
        try:
            callback(x)
        except StopIteration:
            break
    return _Result(x, f)


class _Problem:
    """The LMNN loss on class-sorted data, with its stored impostor set.

    ``search(L)`` refreshes the impostor candidates for the map ``L``;
    ``loss_grad(w)`` gives the loss and its gradient at ``L = w.reshape(k, d)`` on the
    stored candidates. Rows of ``Xs`` are sorted by class (class ``c`` occupies
    ``starts[c]:starts[c] + counts[c]``) and ``T`` indexes that order.
    """

    def __init__(self, Xs, T, starts, counts, mean, k, *, mu=0.5, max_impostors=16, n_random=16,
                 n_candidate_classes=16, max_candidates_per_class=64, seed=0, step=None,
                 working_memory=None):
        import numba

        from metricbench.learn import _lmnn_kernels as kern

        self.kern = kern
        n, d = Xs.shape
        self.Xs, self.T, self.mean = Xs, T, mean
        self.n, self.d, self.k = n, d, k
        self.dtype = Xs.dtype.type
        self.starts = starts
        self.counts = counts
        self.ends = starts + counts
        self.codes = np.repeat(np.arange(starts.size), counts)
        self.mu, self.m, self.r = mu, max_impostors, n_random
        self.C, self.cap = n_candidate_classes, max_candidates_per_class
        self.wm = get_working_memory(working_memory)
        self.step = step or get_chunk_n_rows(d * Xs.itemsize * 4, working_memory=working_memory)
        self.rng = np.random.default_rng(seed)
        self.n_parts = int(numba.get_num_threads())
        K = T.shape[1]
        self.tptr, self.tsrc = kern.transpose_edges(T, n)
        self.wt = np.empty((n, K), dtype=self.dtype)
        self.wi = np.empty((n, self.m + self.r), dtype=self.dtype)
        self.dt = np.empty((n, K), dtype=np.float64)
        self.loss_row = np.empty(n, dtype=np.float64)
        self.nact_row = np.empty(n, dtype=np.int64)
        self.nz_row = np.empty(n, dtype=np.int64)
        self.Z = np.empty((n, k), dtype=self.dtype)
        self.Y = np.empty((n, k), dtype=self.dtype)
        self.I = self.cw = None
        self.n_eval = self.n_search = 0
        self.last: dict = {}

    def project(self, L):
        """``Z = (Xs - mean) @ L.T`` in the data's dtype, chunked."""
        Lt = np.ascontiguousarray(L.T, dtype=self.dtype)
        shift = (self.mean @ L.T).astype(self.dtype)
        Z, Xs, step = self.Z, self.Xs, self.step
        for s in range(0, self.n, step):
            np.dot(Xs[s : s + step], Lt, out=Z[s : s + step])
            Z[s : s + step] -= shift
        return Z

    def search(self, L) -> dict:
        """Store the impostor candidates for the map ``L`` (k, d)."""
        kern, n, m, r = self.kern, self.n, self.m, self.r
        Z = self.project(L)
        radius = np.empty(n, dtype=np.float64)
        kern.margin_radius(Z, self.T, 1.0 + _SLACK, radius)
        cent = np.add.reduceat(Z, self.starts, axis=0, dtype=np.float64) / self.counts[:, None]
        nbr = _nearest_classes(cent, self.C, self.wm)
        # a fresh seeded within-identity order: which rows of a large identity are scanned
        sub = np.lexsort((self.rng.random(n), self.codes)).astype(np.int64)
        near = np.empty((n, m), dtype=np.int32)
        kern.find_impostors(Z, self.starts, self.ends, nbr, sub, self.cap, radius, near,
                            np.empty((n, m), dtype=np.float64))
        far_idx = np.empty((n, r), dtype=np.int32)
        far_w = np.empty((n, r), dtype=self.dtype)
        key = int(self.rng.integers(0, 2**62))
        kern.sample_far(self.starts, self.ends, radius, near, key, far_idx, far_w)
        self.I = np.ascontiguousarray(np.hstack([near, far_idx]))
        self.cw = np.ascontiguousarray(np.hstack([(near >= 0).astype(self.dtype), far_w]))
        self.n_search += 1
        self.last = {}
        return {"near": int((near >= 0).sum()), "random": int((far_idx >= 0).sum())}

    def loss_grad(self, w):
        """Loss (float) and gradient (flat, float64) at ``L = w.reshape(k, d)``."""
        kern, n = self.kern, self.n
        w = np.asarray(w, dtype=np.float64)
        Z = self.project(w.reshape(self.k, self.d))
        Y = self.Y
        kern.loss_weights(Z, self.T, self.I, self.cw, self.mu, self.wt, self.wi, self.dt, Y,
                          self.loss_row, self.nact_row, self.nz_row)
        kern.scatter_targets(Z, self.wt, self.tptr, self.tsrc, Y)
        offsets = np.zeros(n, dtype=np.int64)
        np.cumsum(self.nz_row[:-1], out=offsets[1:])
        E = int(offsets[-1] + self.nz_row[-1])
        src = np.empty(E, dtype=np.int32)
        dst = np.empty(E, dtype=np.int32)
        we = np.empty(E, dtype=self.dtype)
        kern.compact_edges(self.I, self.wi, offsets, src, dst, we)
        kern.scatter_edges(Z, src, dst, we, self.n_parts, Y)
        # grad = 2 Y^T X; the mean term vanishes since the rows of a Laplacian sum to 0
        G = np.zeros((self.d, self.k), dtype=np.float64)
        Xs, step = self.Xs, self.step
        for s in range(0, n, step):
            G += Xs[s : s + step].T @ Y[s : s + step]
        f = float(self.loss_row.sum())
        self.n_eval += 1
        self.last = {"w": w.copy(), "f": f, "n_active": int(self.nact_row.sum())}
        return f, 2.0 * G.T.ravel()


def _nearest_classes(cent, C, working_memory):
    """For each class centroid, the ``C`` nearest other centroids (-1 padded), chunked."""
    nc = cent.shape[0]
    C = min(C, nc - 1)
    out = np.full((nc, max(C, 1)), -1, dtype=np.int64)
    if C <= 0:
        return out
    sq = np.einsum("ij,ij->i", cent, cent)
    step = get_chunk_n_rows(8 * nc * 2, working_memory=working_memory)
    for s in range(0, nc, step):
        D = sq[s : s + step, None] + sq[None, :] - 2.0 * (cent[s : s + step] @ cent.T)
        D[np.arange(D.shape[0]), np.arange(s, s + D.shape[0])] = np.inf
        if C < nc - 1:
            part = np.argpartition(D, C - 1, axis=1)[:, :C]
        else:
            part = np.argsort(D, axis=1)[:, :C]
        o = np.argsort(np.take_along_axis(D, part, axis=1), axis=1, kind="stable")
        out[s : s + step] = np.take_along_axis(part, o, axis=1)
    return out


__all__ = ["LMNN", "find_target_neighbors"]
