"""Sufficient statistics of labelled embeddings: one pass over the rows, mergeable.

:class:`ScatterStats` holds, for a set of rows ``x_i`` with identity labels ``y_i`` (and
optionally a variant tag per row, for example clean / degraded), the sums from which every
closed-form metric of :mod:`metricbench.learn` is fitted: the row count and sum, the Gram
matrix, per-identity counts and sums, and (with two variant tags) the per-variant sums and
the class-weighted Gram matrices behind the scatter of same-identity cross-variant pair
differences. Everything is a sum over rows, so

* the statistics of a union of row sets are the sum of theirs (``a + b``; the Gram matrices
  are kept about a reference point ``shift`` and re-centred exactly when two sets use
  different ones: the "sum + mean correction" of the parallel variance formula);
* the statistics of a linear map of the rows follow without reading the rows again
  (:meth:`ScatterStats.project`);
* a model-selection search computes them once per split and fits every candidate setting
  from them, and the final fit adds the held-out part instead of re-reading the train set.

Class-weighted Gram matrices (WCCN's ``1 / n_c`` weights, cross-pair weights) depend on the
identity's total row counts. They are exact when every identity's rows lie in one row set
(identity-disjoint splits), or when ``class_counts`` gives the global counts (row chunks of
a larger set, as a map-reduce over chunks does).

Conventions (those of scikit-learn's ``LinearDiscriminantAnalysis`` and ``PCA``)
-------------------------------------------------------------------------------
* :attr:`total`: covariance of the rows, ddof 0.
* :attr:`between`: ``sum_c (n_c / n) (m_c - mu)(m_c - mu)^T``.
* :attr:`within`: pooled within-class covariance ``total - between``.
"""

from __future__ import annotations

import contextlib
import functools

import numpy as np

from metricbench.config import get_chunk_n_rows
from metricbench.errors import InputError
from metricbench.model_selection._split import class_codes, cross_groups_of  # noqa: F401  (class_codes: re-exported)


def stats_chunk_rows(n_features: int, itemsize: int = 8, working_memory=None) -> int:
    """Rows per chunk of a pass over the data: three ``n_features``-wide copies of the chunk
    (the rows read, the centred rows, one weighted or gathered part) fit the working memory
    (:func:`metricbench.config.get_chunk_n_rows`), and at most :data:`MAX_CHUNK_ROWS` (a larger
    chunk adds no speed to the products, only fresh pages to fault in)."""
    return get_chunk_n_rows(3 * max(1, int(n_features)) * int(itemsize), max_n_rows=MAX_CHUNK_ROWS,
                            working_memory=working_memory)


#: upper bound of :func:`stats_chunk_rows` (16 MiB of 512-wide float32 rows)
MAX_CHUNK_ROWS = 8192


_BLAS: list = []


@contextlib.contextmanager
def one_blas_thread():
    """BLAS / LAPACK on one thread within the block (threadpoolctl).

    For the ``d x d`` factorisations of the closed-form fits (eigendecompositions, inverses of
    512 x 512 matrices): they make thousands of small BLAS calls, each a barrier of the BLAS
    threads, which costs more than it saves at that size and stalls on a machine whose cores are
    shared. The passes over the rows (large products) keep every thread.
    """
    try:
        if not _BLAS:
            from threadpoolctl import ThreadpoolController

            _BLAS.append(ThreadpoolController())
        ctx = _BLAS[0].limit(limits=1, user_api="blas")
    except Exception:  # pragma: no cover - threadpoolctl missing or unable to inspect the libraries
        ctx = contextlib.nullcontext()
    with ctx:
        yield


def one_thread(fn):
    """Decorator: ``fn`` runs under :func:`one_blas_thread`."""

    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        with one_blas_thread():
            return fn(*args, **kwargs)

    return wrapped


def _sym(S):
    return 0.5 * (S + S.T)


def _gram(B, w=None):
    """``B^T diag(w) B`` in the precision of ``B`` (float32 rows give a float32 product,
    twice as fast; the caller accumulates the chunks' products in float64)."""
    if w is None:
        return B.T @ B  # numpy runs A.T @ A as BLAS syrk (half the work of a general product)
    return (B * w[:, None].astype(B.dtype, copy=False)).T @ B


def _class_sums(B, codes, n_classes):
    from scipy.sparse import csr_matrix

    # in B's precision (a class's rows within one chunk), added up in float64 by the caller
    ind = csr_matrix((np.ones(codes.size, dtype=B.dtype), (codes, np.arange(codes.size))), shape=(n_classes, codes.size))
    return np.asarray(ind @ B)


class ScatterStats:
    """Sufficient statistics of labelled rows (see the module docstring).

    Build with :meth:`from_data`; combine with ``+``; read the covariances from the
    properties. All arrays are float64.

    Attributes
    ----------
    n : int
        Rows.
    shift : ndarray of shape (n_features,)
        Reference point the sums are taken about.
    sum : ndarray of shape (n_features,)
        ``sum_i (x_i - shift)``.
    gram : ndarray of shape (n_features, n_features)
        ``sum_i (x_i - shift)(x_i - shift)^T``.
    classes : ndarray of shape (n_classes,)
    counts : ndarray of shape (n_classes,)
    class_sums : ndarray of shape (n_classes, n_features)
        ``sum_{i in c} (x_i - shift)``.
    variants : tuple (a, b) or None
        The two variant tags the cross-variant statistics join.
    """

    def __init__(self, *, n, shift, sum, gram, classes, counts, class_sums, variants=None, cross=None,
                 wgrams=None, global_weights=True):
        self.n = int(n)
        self.shift = shift
        self.sum = sum
        self.gram = gram
        self.classes = classes
        self.counts = counts
        self.class_sums = class_sums
        self.variants = variants
        #: cross-variant part: dict with counts (2, C), sums (2, C, d), grams (2, d, d) and
        #: weighted grams {"rows"|"pairs": (2, d, d)}, or None
        self.cross = cross
        #: class-weighted Gram matrices {"wccn": weights [n_c >= 2] / n_c, "npairs": weights n_c},
        #: each {"gram": (d, d), "weights": (C,)}
        self.wgrams = dict(wgrams or {})
        #: class weights computed from global counts (chunks of identities may be combined)
        self.global_weights = bool(global_weights)
        #: class-weighted parts exact (false after combining shared identities with local weights)
        self.weights_ok = True
        #: relative eigenvalue threshold of the numerical rank (float32 products are coarser)
        self.rtol = RTOL_FLOAT64
        #: second-pass sums over the rows given these statistics (:data:`SECOND_PASS`), by name
        self.extra: dict = {}
        self._memo: dict = {}

    # -- construction ---------------------------------------------------------------------
    @classmethod
    def from_data(cls, X, y, *, variants=None, cross=None, wccn: bool = False, pairs: bool = False,
                  class_counts=None, rows=None,
                  shift=None, chunk: int | None = None, precision: str = "float64") -> "ScatterStats":
        """Statistics of rows ``X`` with labels ``y``, in one pass over ``X``.

        Each chunk of rows is centred on ``shift`` and its products (Gram matrices) are
        computed in float64 by default. With ``precision="input"`` they are computed in the
        rows' own precision, then added up in float64, the way scikit-learn's
        ``PCA(svd_solver="covariance_eigh")`` forms ``X^T X`` in the input's dtype: float32 rows
        give float32 products (twice as fast; relative error about 1e-7 of the largest
        variance, so :attr:`rtol` becomes 1e-5). That suits PCA whitening, which keeps the
        leading directions; the within-class problems (LDA, PLDA, WCCN, KISSME) invert the
        smallest within-class variances and lose accuracy with float32 products (LDA on the
        embedded default: validation AUROC 0.8828 with float64 products, 0.8797 with float32),
        so they keep the float64 default. Sums and per-identity sums are accumulated in float64.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Rows (float32 or float64; other dtypes are read as float64; a memmap is read chunk
            by chunk).
        y : array-like of shape (n_samples,)
            Identity labels.
        variants : array-like of shape (n_samples,), optional
            Variant tag of each row.
        cross : (a, b), optional
            With ``variants``: also gather the statistics of same-identity pairs joining a
            row of variant ``a`` and one of variant ``b``.
        wccn : bool
            Also gather WCCN's class-weighted Gram matrix (weights ``1 / n_c``).
        pairs : bool
            Also gather the Gram matrix weighted by the identity's row count ``n_c`` (the
            scatter of every same-identity pair, :meth:`pair_scatter` without ``cross``).
        class_counts : mapping or (classes, counts [, counts_a, counts_b]), optional
            Global per-identity row counts, for chunks that hold part of an identity's rows.
        shift : ndarray of shape (n_features,), optional
            Reference point (default: the mean of the first 4096 rows).
        chunk : int, optional
            Rows per chunk (default: from the working-memory setting,
            :func:`stats_chunk_rows`).
        rows : array-like of int, optional
            Gather the statistics of ``X[rows]`` only (``y`` and ``variants`` are then of
            ``X``'s full length), reading those rows chunk by chunk without copying them all.
        precision : {"float64", "input"}
            Precision of the chunk products: float64 (default), or the rows' own dtype
            (float32 rows then give float32 products accumulated in float64).

        Returns
        -------
        ScatterStats

        Raises
        ------
        InputError
            ``X`` not 2-D, or ``y`` / ``variants`` of the wrong length.

        References
        ----------
        Chan, Golub & LeVeque, "Algorithms for computing the sample variance: analysis and
        recommendations", The American Statistician 37(3), 1983 (shifted sums, pairwise
        combination).
        """
        shape = tuple(getattr(X, "shape", np.shape(X)))  # a memmap, an array or a row view
        if len(shape) != 2:
            raise InputError(f"X must be 2-D (n_samples, n_features), got shape {shape}")
        y = np.asarray(y)
        if y.shape != (X.shape[0],):
            raise InputError(f"X has {X.shape[0]} rows but y has shape {y.shape}")
        if rows is not None:
            rows = np.asarray(rows, dtype=np.int64)
            y = y[rows]
            if variants is not None:
                variants = np.asarray(variants)[rows]
        n, d = (X.shape[0] if rows is None else rows.size), X.shape[1]

        def block(a, b):
            return X[a:b] if rows is None else X[rows[a:b]]

        classes, codes, counts = class_codes(y)
        C = classes.size
        # products in the rows' precision about a shift near the mean (the centred values are
        # small, so a float32 product's rounding stays about 1e-7 of the largest variance)
        if precision not in ("float64", "input"):
            raise InputError(f"precision must be 'float64' or 'input', got {precision!r}")
        dt = (np.float32 if precision == "input" and np.dtype(getattr(X, "dtype", np.float64)) == np.float32
              else np.float64)
        if chunk is None:
            chunk = stats_chunk_rows(d, np.dtype(dt).itemsize)
        chunk = max(1, int(chunk))
        if shift is None:
            shift = np.asarray(block(0, min(n, 4096)), dtype=np.float64).mean(0) if n else np.zeros(d)
        shift = np.asarray(shift, dtype=np.float64)
        A = B = None
        if cross is not None:
            if variants is None:
                raise InputError("cross-variant statistics need a variant tag per row")
            v = np.asarray(variants)
            if v.shape != (n,):
                raise InputError(f"variants must give one tag per row ({n}), got shape {v.shape}")
            A, B = v == cross[0], v == cross[1]
        # class weights from the global counts when given, else from these rows
        gcounts = counts.astype(np.float64)
        nA = nB = None
        if A is not None:
            nA = np.bincount(codes[A], minlength=C).astype(np.float64)
            nB = np.bincount(codes[B], minlength=C).astype(np.float64)
        global_weights = class_counts is not None
        if class_counts is not None:
            gcounts, nA, nB = _global_counts(class_counts, classes, nA, nB)
        weights = {}
        if wccn:
            weights["wccn"] = np.where(gcounts >= 2, 1.0 / np.maximum(gcounts, 1.0), 0.0)
        if pairs:
            weights["npairs"] = gcounts.copy()
        if A is not None:
            rows_w = np.where(nA * nB > 0, 2.0 / np.maximum(nA + nB, 1.0), 0.0)
            weights["rowsA"], weights["rowsB"] = rows_w * nB, rows_w * nA
            weights["pairsA"], weights["pairsB"] = nB, nA
        G = np.zeros((d, d))
        S = np.zeros((C, d))
        WG = {k: np.zeros((d, d)) for k in weights}
        if A is not None:
            GA, GB = np.zeros((d, d)), np.zeros((d, d))
            SA, SB = np.zeros((C, d)), np.zeros((C, d))
        shift_dt = shift.astype(dt)
        shift = shift_dt.astype(np.float64)  # the point the sums are taken about, exactly
        for a in range(0, n, chunk):
            blk = np.subtract(np.asarray(block(a, a + chunk)), shift_dt, dtype=dt)
            c = codes[a : a + chunk]
            S += _class_sums(blk, c, C)
            if A is None:
                G += _gram(blk)
            else:
                a_, b_ = A[a : a + chunk], B[a : a + chunk]
                ba, bb = blk[a_], blk[b_]
                ga, gb = _gram(ba), _gram(bb)
                GA += ga
                GB += gb
                G += ga + gb
                rest = ~(a_ | b_)
                if rest.any():
                    G += _gram(blk[rest])
                SA += _class_sums(ba, c[a_], C)
                SB += _class_sums(bb, c[b_], C)
                for key in ("rows", "pairs"):
                    WG[key + "A"] += _gram(ba, weights[key + "A"][c[a_]])
                    WG[key + "B"] += _gram(bb, weights[key + "B"][c[b_]])
            for key in ("wccn", "npairs"):
                if key in weights:
                    WG[key] += _gram(blk, weights[key][c])
        s = S.sum(0)  # the row sum, consistent with the per-identity sums
        if not (np.isfinite(s).all() and np.isfinite(G).all()):
            raise InputError("X holds NaN or infinite values (or values too large to square)")
        xpart = None
        if A is not None:
            xpart = {
                "counts": np.stack([np.bincount(codes[A], minlength=C), np.bincount(codes[B], minlength=C)]).astype(np.float64),
                "sums": np.stack([SA, SB]),
                "grams": np.stack([_sym(GA), _sym(GB)]),
                "weighted": {k: np.stack([_sym(WG[k + "A"]), _sym(WG[k + "B"])]) for k in ("rows", "pairs")},
                "weights": {k: np.stack([weights[k + "A"], weights[k + "B"]]) for k in ("rows", "pairs")},
            }
        out = cls(
            n=n, shift=shift, sum=s, gram=_sym(G), classes=classes, counts=counts.astype(np.float64),
            class_sums=S, variants=None if cross is None else tuple(cross), cross=xpart,
            wgrams={k: {"gram": _sym(WG[k]), "weights": weights[k]} for k in ("wccn", "npairs") if k in weights},
            global_weights=global_weights,
        )
        out.rtol = 1e-5 if dt is np.float32 else RTOL_FLOAT64
        return out

    # -- combination ----------------------------------------------------------------------
    def shifted(self, shift) -> "ScatterStats":
        """The same statistics about another reference point (exact)."""
        shift = np.asarray(shift, dtype=np.float64)
        delta = self.shift - shift  # x - new = (x - old) + delta
        if not delta.any():
            return self

        def move(G, w_sum, w_tot):
            # sum w (x-old+delta)(x-old+delta)^T
            o = np.outer(w_sum, delta)
            return G + o + o.T + w_tot * np.outer(delta, delta)

        out = ScatterStats(
            n=self.n, shift=shift, sum=self.sum + self.n * delta,
            gram=move(self.gram, self.sum, self.n), classes=self.classes, counts=self.counts,
            class_sums=self.class_sums + self.counts[:, None] * delta, variants=self.variants,
            global_weights=self.global_weights,
        )
        out.rtol = self.rtol
        out.weights_ok = self.weights_ok
        out.extra = dict(self.extra)  # residuals about class means do not depend on the shift
        if self.cross is not None:
            x = self.cross
            sums = x["sums"]
            grams = np.stack([move(x["grams"][j], sums[j].sum(0), x["counts"][j].sum()) for j in (0, 1)])
            weighted = {}
            for k, W in x["weighted"].items():
                w = x["weights"][k]
                weighted[k] = np.stack(
                    [move(W[j], w[j] @ sums[j], float(w[j] @ x["counts"][j])) for j in (0, 1)]
                )
            out.cross = {
                "counts": x["counts"], "sums": sums + x["counts"][:, :, None] * delta,
                "grams": grams, "weighted": weighted, "weights": x["weights"],
            }
        out.wgrams = {
            k: {"gram": move(v["gram"], v["weights"] @ self.class_sums, float(v["weights"] @ self.counts)),
                "weights": v["weights"]}
            for k, v in self.wgrams.items()
        }
        return out

    def __add__(self, other: "ScatterStats") -> "ScatterStats":
        if not isinstance(other, ScatterStats):
            return NotImplemented
        return self.combine(other)

    def combine(self, other: "ScatterStats") -> "ScatterStats":
        """Statistics of the union of the two row sets."""
        if self.sum.shape != other.sum.shape:
            raise InputError(f"cannot combine statistics of {self.sum.size}-D and {other.sum.size}-D rows")
        if (self.variants is None) != (other.variants is None) or (
            self.variants is not None and tuple(self.variants) != tuple(other.variants)
        ):
            raise InputError("cannot combine statistics gathered for different variant pairs")
        if set(self.wgrams) != set(other.wgrams):
            raise InputError("cannot combine statistics gathered with different class-weighted parts")
        b = other.shifted(self.shift)
        classes = np.union1d(self.classes, b.classes)
        ia = np.searchsorted(classes, self.classes)
        ib = np.searchsorted(classes, b.classes)
        overlap = np.intersect1d(self.classes, b.classes).size > 0
        C = classes.size

        def put(vals_a, vals_b, shape_tail=()):
            out = np.zeros((C,) + shape_tail)
            np.add.at(out, ia, vals_a)
            np.add.at(out, ib, vals_b)
            return out

        counts = put(self.counts, b.counts)
        class_sums = put(self.class_sums, b.class_sums, (self.sum.size,))
        glob = self.global_weights and b.global_weights
        out = ScatterStats(
            n=self.n + b.n, shift=self.shift, sum=self.sum + b.sum, gram=self.gram + b.gram,
            classes=classes, counts=counts, class_sums=class_sums, variants=self.variants,
            global_weights=glob,
        )
        out.weights_ok = self.weights_ok and b.weights_ok and (glob or not overlap)
        out.rtol = max(self.rtol, b.rtol)
        if not overlap:  # sums about each identity's own mean stay exact when no identity is shared
            out.extra = {k: v + b.extra[k] for k, v in self.extra.items() if k in b.extra}
        if self.cross is not None:
            x, y = self.cross, b.cross
            d = self.sum.size
            out.cross = {
                "counts": np.stack([put(x["counts"][j], y["counts"][j]) for j in (0, 1)]),
                "sums": np.stack([put(x["sums"][j], y["sums"][j], (d,)) for j in (0, 1)]),
                "grams": x["grams"] + y["grams"],
                "weighted": {k: x["weighted"][k] + y["weighted"][k] for k in x["weighted"]},
                "weights": {k: np.stack([_max_put(C, ia, ib, x["weights"][k][j], y["weights"][k][j])
                                         for j in (0, 1)]) for k in x["weights"]},
            }
        out.wgrams = {
            k: {"gram": v["gram"] + b.wgrams[k]["gram"],
                "weights": _max_put(C, ia, ib, v["weights"], b.wgrams[k]["weights"])}
            for k, v in self.wgrams.items()
        }
        return out

    def _check_weights(self):
        if not self.weights_ok:
            raise InputError(
                "class-weighted statistics were combined from row sets sharing identities without "
                "the global class counts; pass class_counts= to from_data"
            )

    # -- moments --------------------------------------------------------------------------
    @property
    def n_features(self) -> int:
        return int(self.sum.size)

    @property
    def n_classes(self) -> int:
        return int((self.counts > 0).sum())

    @property
    def mean(self) -> np.ndarray:
        """Mean row, shape (n_features,)."""
        return self.shift + self.sum / self.n

    @property
    def total(self) -> np.ndarray:
        """Covariance of the rows (ddof 0), shape (n_features, n_features)."""
        return _sym((self.gram - np.outer(self.sum, self.sum) / self.n) / self.n)

    @property
    def between(self) -> np.ndarray:
        """Between-class scatter ``sum_c (n_c / n) (m_c - mu)(m_c - mu)^T``."""
        nz = self.counts > 0
        S = self.class_sums[nz]
        return _sym(((S / self.counts[nz, None]).T @ S - np.outer(self.sum, self.sum) / self.n) / self.n)

    @property
    def within(self) -> np.ndarray:
        """Pooled within-class covariance ``total - between`` (class priors as weights)."""
        return _sym(self.total - self.between)

    @property
    def within_unbiased(self) -> np.ndarray:
        """Pooled within-class covariance with ``n - C`` degrees of freedom."""
        return self.within * self.n / max(1, self.n - self.n_classes)

    def class_means(self) -> np.ndarray:
        """Per-class mean rows (n_classes, n_features) (zero rows for empty classes)."""
        return self.shift + self.class_sums / np.maximum(self.counts, 1.0)[:, None]

    def mean_class_covariance(self) -> np.ndarray:
        """WCCN's within-class covariance: the plain average over classes with 2+ rows of each
        class's covariance (ddof 0)."""
        if "wccn" not in self.wgrams:
            raise InputError("these statistics were gathered without the WCCN part (wccn=True)")
        self._check_weights()
        multi = self.counts >= 2
        if not multi.any():
            raise InputError("within-class covariance needs at least one identity with 2 or more rows")
        Sm = self.class_sums[multi] / self.counts[multi, None]
        return _sym((self.wgrams["wccn"]["gram"] - Sm.T @ Sm) / multi.sum())

    def pair_scatter(self, class_weight: str = "rows"):
        """Scatter of same-identity cross-variant pair differences, and of all cross pairs.

        Returns ``same, n_same, every, n_every``: ``same`` the weighted sum of
        ``(x_a - x_b)(x_a - x_b)^T`` over same-identity pairs joining a row of variant ``a``
        and one of ``b`` (``class_weight="pairs"``: each pair weighs 1; ``"rows"``: the pairs
        of identity ``c`` weigh ``2 / (n_a,c + n_b,c)`` each) and ``n_same`` its total
        weight; ``every`` and ``n_every`` the plain sum and count over all cross pairs.
        """
        if class_weight not in ("rows", "pairs"):
            raise InputError(f"class_weight must be 'pairs' or 'rows', got {class_weight!r}")
        if self.cross is None:
            return self._all_pair_scatter(class_weight)
        self._check_weights()
        x = self.cross
        nA, nB = x["counts"]
        SA, SB = x["sums"]
        wc = np.where(nA * nB > 0, 2.0 / np.maximum(nA + nB, 1.0), 0.0) if class_weight == "rows" else np.ones_like(nA)
        WA, WB = x["weighted"][class_weight]
        ct = (SA * wc[:, None]).T @ SB
        same = WA + WB - ct - ct.T
        n_same = float((wc * nA * nB).sum())
        tA, tB = nA.sum(), nB.sum()
        sA, sB = SA.sum(0), SB.sum(0)
        o = np.outer(sA, sB)
        every = tB * x["grams"][0] + tA * x["grams"][1] - o - o.T
        return _sym(same), n_same, _sym(every), float(tA * tB)

    def _all_pair_scatter(self, class_weight):
        """:meth:`pair_scatter` over every pair of distinct rows (no variants)."""
        nc, S = self.counts, self.class_sums
        multi = nc >= 2
        if class_weight == "rows":
            # sum over identities with 2+ rows of 2 (Q_c - S_c S_c^T / n_c); a singleton's Q_c is S_c S_c^T
            single = nc == 1
            Q_multi = self.gram - S[single].T @ S[single]
            Sm = S[multi]
            same = 2.0 * (Q_multi - (Sm / nc[multi, None]).T @ Sm)
            n_same = float((nc[multi] - 1.0).sum())
        else:
            if "npairs" not in self.wgrams:
                raise InputError("these statistics were gathered without the pair part (pairs=True)")
            self._check_weights()
            same = 2.0 * (self.wgrams["npairs"]["gram"] - S.T @ S)
            n_same = float((nc * (nc - 1.0)).sum())
        every = 2.0 * self.n * self.gram - 2.0 * np.outer(self.sum, self.sum)
        return _sym(same), n_same, _sym(every), float(self.n * self.n - self.n)

    def cross_within(self) -> np.ndarray:
        """Half the mean second moment of same-identity cross-variant differences (identities
        weighted by their rows): the within-identity noise a cross-variant pair sees."""
        same, n_same, _, _ = self.pair_scatter("rows")
        if n_same <= 0:
            a, b = self.variants
            raise InputError(f"no identity has rows in both variants {a!r} and {b!r}")
        return same / (2.0 * n_same)

    def within_kind(self, kind: str) -> np.ndarray:
        """``"all"``: :attr:`within_unbiased`; ``"cross"``: :meth:`cross_within`;
        ``"wccn"``: :meth:`mean_class_covariance`."""
        if kind == "all":
            return self.within_unbiased
        if kind == "cross":
            return self.cross_within()
        if kind == "wccn":
            return self.mean_class_covariance()
        raise InputError(f"unknown within-class covariance kind {kind!r}")

    # -- linear maps ----------------------------------------------------------------------
    def project(self, P, center=None) -> "ScatterStats":
        """Statistics of ``(x - center) @ P`` (P of shape (n_features, k)), without the rows."""
        P = np.asarray(P, dtype=np.float64)
        center = np.zeros(self.n_features) if center is None else np.asarray(center, dtype=np.float64)
        out = ScatterStats(
            n=self.n, shift=(self.shift - center) @ P, sum=self.sum @ P, gram=_sym(P.T @ self.gram @ P),
            classes=self.classes, counts=self.counts, class_sums=self.class_sums @ P,
            variants=self.variants, global_weights=self.global_weights,
        )
        out.rtol = self.rtol
        out.weights_ok = self.weights_ok
        if self.cross is not None:
            x = self.cross
            out.cross = {
                "counts": x["counts"], "sums": x["sums"] @ P,
                "grams": np.stack([_sym(P.T @ g @ P) for g in x["grams"]]),
                "weighted": {k: np.stack([_sym(P.T @ g @ P) for g in W]) for k, W in x["weighted"].items()},
                "weights": x["weights"],
            }
        out.wgrams = {k: {"gram": _sym(P.T @ v["gram"] @ P), "weights": v["weights"]} for k, v in self.wgrams.items()}
        return out

    # -- cached decompositions --------------------------------------------------------------
    def memo(self, key, compute):
        """``compute()`` once per key for these statistics (eigendecompositions shared by
        every candidate setting of a search)."""
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]

    def rank(self, s) -> int:
        """Numerical rank of a covariance of these rows with eigenvalues ``s`` (descending)."""
        return numerical_rank(s, n_rows=self.n, rtol=self.rtol)

    def total_eigh(self):
        """Eigenvalues (descending, clipped at 0) and eigenvectors (columns) of :attr:`total`."""

        @one_thread
        def f():
            s, U = np.linalg.eigh(self.total)
            order = np.argsort(s)[::-1]
            return np.clip(s[order], 0.0, None), U[:, order]

        return self.memo("total_eigh", f)


def _max_put(C, ia, ib, wa, wb):
    out = np.zeros(C)
    out[ia] = wa
    out[ib] = np.maximum(out[ib], wb)
    return out


def _global_counts(class_counts, classes, nA, nB):
    """Global counts aligned to ``classes`` from a mapping or a tuple."""
    if isinstance(class_counts, dict):
        g = np.array([class_counts[c] for c in classes.tolist()], dtype=np.float64)
        return g, nA, nB
    parts = list(class_counts)
    cls_all = np.asarray(parts[0])
    idx = np.searchsorted(cls_all, classes)
    out = [np.asarray(p, dtype=np.float64)[idx] for p in parts[1:]]
    g = out[0]
    if len(out) >= 3 and nA is not None:
        nA, nB = out[1], out[2]
    return g, nA, nB


def residual_fourth(X, y, stats: "ScatterStats", *, rows=None, chunk: int | None = None) -> float:
    """``sum_i ||x_i - m_c(i)||^4`` over the rows of identities with 2 or more rows, ``m_c`` the
    identity means of ``stats``: the fourth moment Ledoit & Wolf's shrinkage needs besides the
    within-class covariance. A sum over rows, so chunks of rows (on any number of machines)
    add up.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
    stats : ScatterStats
        Statistics of (at least) every identity these rows belong to.
    rows : array-like of int, optional
        Only ``X[rows]`` (``y`` of ``X``'s length).
    chunk : int, optional
        Rows per chunk (default from the working-memory setting).

    Returns
    -------
    float

    References
    ----------
    Ledoit & Wolf, "A well-conditioned estimator for large-dimensional covariance matrices",
    Journal of Multivariate Analysis 88(2), 2004.
    """
    y = np.asarray(y)
    if rows is not None:
        rows = np.asarray(rows, dtype=np.int64)
        y = y[rows]
    n, d = y.shape[0], X.shape[1]
    idx = np.searchsorted(stats.classes, y)
    idx = np.minimum(idx, stats.classes.size - 1)
    if n and not np.array_equal(stats.classes[idx], y):
        raise InputError("a row's identity is not in the statistics given")
    means = stats.class_means()
    multi = stats.counts[idx] >= 2
    step = stats_chunk_rows(d) if chunk is None else max(1, int(chunk))
    total = 0.0
    for a in range(0, n, step):
        blk = np.asarray(X[a : a + step] if rows is None else X[rows[a : a + step]], dtype=np.float64)
        R = blk - means[idx[a : a + step]]
        q = np.einsum("ij,ij->i", R, R)
        total += float((q[multi[a : a + step]] ** 2).sum())
    return total


#: relative eigenvalue threshold of the numerical rank of a scatter matrix formed with float64
#: products: eigenvalues at or below 1e-10 of the largest count as zero. It is a choice, not only
#: rounding: float64 rounding alone leaves a zero eigenvalue near 1e-13, but rows stored in float32
#: carry noise far above that (on the embedded default the within-class spectrum falls smoothly to
#: 10-40 times eps32^2 times the rows' mean square), and whitening those directions cost
#: lda-cosine 0.005 test AUROC there at 1e-12. On ``metricbench synth --like raai2019`` the cut
#: drops 28 within-class directions (1.5e-11 to 9e-11 of the largest) in which the generator put
#: identity signal: lda-cosine then scores below scikit-learn's LDA, which keeps them (see
#: docs/scale.md)
RTOL_FLOAT64 = 1e-10

#: second-pass sums a fit may need besides the statistics: name -> f(X, y, stats, rows=None)
SECOND_PASS = {"residual_fourth": residual_fourth}


def numerical_rank(s, *, n_rows: int | None = None, rtol: float = RTOL_FLOAT64) -> int:
    """Numerical rank of a covariance from its eigenvalues ``s`` (descending, >= 0).

    Eigenvalues at or below ``rtol * max(s)`` count as zero (``rtol``: :data:`RTOL_FLOAT64` for
    float64 products, :attr:`ScatterStats.rtol` gives 1e-5 for statistics gathered from float32 rows),
    and a covariance of ``n_rows`` centred rows has rank at most ``n_rows - 1``.
    """
    s = np.asarray(s, dtype=np.float64)
    if s.size == 0 or s[0] <= 0:
        return 0
    r = int((s > s[0] * rtol).sum())
    if n_rows is not None:
        r = min(r, max(1, int(n_rows) - 1))
    return r


__all__ = ["RTOL_FLOAT64", "SECOND_PASS", "ScatterStats", "class_codes", "numerical_rank", "residual_fourth", "stats_chunk_rows"]


# -- small matrix helpers shared by the closed-form metrics ---------------------------------
def shrink(S: np.ndarray, alpha: float) -> np.ndarray:
    """``(1 - alpha) S + alpha (trace(S) / d) I``."""
    d = S.shape[0]
    return (1.0 - alpha) * S + alpha * (np.trace(S) / d) * np.eye(d)


@one_thread
def clip_psd(S: np.ndarray, floor: float = 0.0) -> np.ndarray:
    """Nearest symmetric matrix with eigenvalues >= ``floor``."""
    w, V = np.linalg.eigh(_sym(S))
    return _sym((V * np.maximum(w, floor)) @ V.T)


def shrinkage_value(alpha) -> float:
    """A shrinkage intensity as a float in [0, 1]; InputError otherwise."""
    try:
        a = float(alpha)
    except (TypeError, ValueError):
        raise InputError(f"shrinkage must be a number between 0 and 1, got {alpha!r}") from None
    if not 0.0 <= a <= 1.0:
        raise InputError(f"shrinkage must be between 0 and 1, got {alpha!r}")
    return a


@one_thread
def eigh_desc(S: np.ndarray):
    """Eigenvalues (descending) and eigenvectors (columns) of a symmetric matrix."""
    w, V = np.linalg.eigh(_sym(S))
    order = np.argsort(w)[::-1]
    return w[order], V[:, order]


def whitener(S: np.ndarray, rtol: float = RTOL_FLOAT64):
    """``T`` (d, r) with ``T^T S T = I`` on the numerical range of ``S`` (rank ``r``; the
    null space is dropped, never amplified), and the kept eigenvalues."""
    w, V = eigh_desc(S)
    r = numerical_rank(np.clip(w, 0.0, None), rtol=rtol)
    if r < 1:
        raise InputError("covariance is zero: nothing to whiten")
    return V[:, :r] / np.sqrt(w[:r]), w[:r]


def resolve_within(within: str, variants=None, cross_groups=None):
    """The ``within`` option resolved: ``("all", None)`` or ``("cross", (tag_a, tag_b))``.

    ``"auto"`` is ``"cross"`` when ``variants`` (or ``cross_groups``) names two variants,
    else ``"all"``.
    """
    if within not in ("auto", "all", "cross"):
        raise InputError(f"within must be 'auto', 'all' or 'cross', got {within!r}")
    cg = cross_groups_of(variants, cross_groups)
    if within == "all" or (within == "auto" and cg is None):
        return "all", None
    if cg is None:
        raise InputError("within='cross' needs fit(X, y, variants=...) with two variant tags, or cross_groups")
    return "cross", cg


__all__ += ["clip_psd", "eigh_desc", "one_blas_thread", "one_thread", "resolve_within", "shrink", "shrinkage_value", "whitener"]
