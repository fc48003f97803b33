"""Common interface of every metric in metricbench, fixed or learned.

Conventions (scikit-learn's, and metric-learn's sign convention):

* ``__init__`` only stores parameters; validation happens in ``fit``;
  fitted attributes end in ``_``; ``fit`` returns ``self``.
* ``pair_distance`` is lower for more alike pairs; ``pair_score`` is
  ``-pair_distance``, so larger means more alike. The sign is defined here once.
* Pairs are given either as an ``(n, 2, d)`` array (metric-learn's form), or as a
  matrix ``X`` plus two index arrays (the competition's ``.npy`` + ``.csv`` form);
  ``index2`` indexes ``Y`` when it is given, else ``X``.
* Fitted metrics save to and load from a single ``.npz`` file holding the fitted
  arrays and a JSON header (no pickle); loading checks the format version, the
  class and the input width.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.utils.validation import check_is_fitted as _sk_check_is_fitted
from sklearn.utils.validation import validate_data

from metricbench.catalog import LEARNED
from metricbench.checks import nonfinite_rows
from metricbench.config import get_chunk_n_rows
from metricbench._constraints import check_table
from metricbench.errors import InputError, NonFiniteError, NotFittedError, ParameterError
from metricbench.io.atomic import atomic_path
from metricbench.learn.stats import SECOND_PASS, ScatterStats
from metricbench.model_selection._scorer import pair_auroc

FORMAT_VERSION = 1

#: dtypes kept as they are by the input checks (anything else becomes float64)
FLOAT_DTYPES = (np.float64, np.float32)


def _as_index(a, name: str) -> np.ndarray:
    a = np.asarray(a)
    if a.ndim != 1:
        raise InputError(f"{name} must be a 1-D array of row indices, got shape {a.shape}")
    if a.size and not np.issubdtype(a.dtype, np.integer):
        raise InputError(f"{name} must hold integer row indices, got dtype {a.dtype}")
    return a.astype(np.int64, copy=False)


def resolve_pairs(X, index1=None, index2=None, Y=None):
    """Normalise the two pair forms to ``(X, index1, index2, Y)``.

    ``X`` of shape ``(n, 2, d)`` with no indices is read as explicit pairs.
    """
    if index1 is None and index2 is None:
        pairs = np.asarray(X)
        if pairs.ndim != 3 or pairs.shape[1] != 2:
            raise InputError(
                f"pairs must have shape (n_pairs, 2, n_features), got {pairs.shape}; "
                "or pass X, index1, index2"
            )
        n = pairs.shape[0]
        idx = np.arange(n, dtype=np.int64)
        return np.ascontiguousarray(pairs[:, 0]), idx, idx, np.ascontiguousarray(pairs[:, 1])
    if index1 is None or index2 is None:
        raise InputError("give both index1 and index2, or neither (pairs array form)")
    i1 = _as_index(index1, "index1")
    i2 = _as_index(index2, "index2")
    if i1.shape != i2.shape:
        raise InputError(f"index1 and index2 differ in length ({i1.size} vs {i2.size})")
    return X, i1, i2, Y


def registry_name(cls: type) -> str | None:
    """The registry name of a metric class (the first name :data:`metricbench.registry.LEARNED`
    gives it), or None for a class the registry does not list."""
    target = f"{cls.__module__}:{cls.__qualname__}"
    cached = _NAMES.get(target, False)
    if cached is not False:
        return cached
    found = None
    for key, spec in LEARNED.items():
        if (spec[0] if isinstance(spec, tuple) else getattr(spec, "target", None)) == target:
            found = key
            break
    _NAMES[target] = found
    return found


_NAMES: dict = {}


class BaseMetric(BaseEstimator):
    """Base class: a distance between pairs of embeddings, possibly fitted on labelled data.

    A scikit-learn estimator: ``__init__`` only stores its parameters, ``fit(X, y)`` checks
    its input with scikit-learn's :func:`~sklearn.utils.validation.validate_data` (2-D,
    finite, real; ``n_features_in_``) and returns ``self``, so :func:`sklearn.base.clone`,
    :class:`~sklearn.model_selection.GridSearchCV` and :class:`~sklearn.pipeline.Pipeline`
    work on every metric. Subclasses implement ``_fit(X, y, **fit_params)`` (learned
    metrics) and ``_pair_distance(X, index1, index2, Y)``.

    ``fit`` takes the variant tag of each train row (for example clean / degraded) as
    ``variants=`` (``groups=`` is accepted as its older name); subclasses receive it as
    ``groups``.
    """

    #: whether ``fit`` learns anything from the data
    learns: bool = True

    # -- name -----------------------------------------------------------------
    @property
    def name(self) -> str | None:
        """Registry name (derived from the class, so :func:`~sklearn.base.clone` keeps it)."""
        own = self.__dict__.get("_name")
        return own if own is not None else registry_name(type(self))

    @name.setter
    def name(self, value) -> None:
        # kept for composite metrics that label themselves; registry metrics need no setting
        if value is not None and value == registry_name(type(self)):
            self.__dict__.pop("_name", None)
        else:
            self.__dict__["_name"] = value

    # -- scikit-learn protocol --------------------------------------------------
    def set_params(self, **params):
        valid = set(self.get_params(deep=True))
        for k in params:
            if k.partition("__")[0] not in valid and k not in valid:
                raise InputError(
                    f"{type(self).__name__} has no parameter {k!r}; valid: {', '.join(sorted(valid)) or 'none'}"
                )
        return super().set_params(**params)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = bool(self.learns)
        tags.input_tags.allow_nan = False
        return tags

    def __sklearn_is_fitted__(self) -> bool:
        return not self.learns or hasattr(self, "n_features_in_")

    def _validate_X(self, X, *, reset: bool, y=None, name: str = "X"):
        """scikit-learn's input checks with metricbench's error type (an InputError is a ValueError)."""
        try:
            if y is None:
                return validate_data(self, X, reset=reset, dtype=FLOAT_DTYPES, ensure_min_samples=1)
            return validate_data(
                self, X, y, reset=reset, dtype=FLOAT_DTYPES, ensure_min_samples=2, y_numeric=False
            )
        except ValueError as e:
            if isinstance(e, InputError):
                raise
            # one line: scikit-learn's message without the dump of the array's values
            lines = [ln.strip() for ln in str(e).splitlines() if ln.strip() and not ln.strip().startswith("array=")]
            msg = " ".join(lines) if lines else repr(e)
            if "is expecting" in msg and hasattr(self, "n_features_in_"):
                msg = msg.rstrip(".") + (
                    f" (fitted on {self.n_features_in_}-D embeddings but got {np.shape(X)[1]}-D ones)"
                )
            if "NaN" in msg or "infinity" in msg:
                # one policy at every entry point of the library (issue 10): NonFiniteError
                if "Input y" in msg:
                    raise NonFiniteError(
                        "y: the identity labels hold NaN or inf; give every train row a label first"
                    ) from None
                try:
                    bad = nonfinite_rows(np.asarray(X, dtype=np.float64).reshape(np.shape(X)[0], -1))
                except (TypeError, ValueError):
                    bad = np.zeros(0, dtype=np.int64)
                first = ", ".join(map(str, bad[:5].tolist())) + (", ..." if bad.size > 5 else "")
                where = f"{bad.size} row(s) hold NaN or inf (row {first}, 0-based)" if bad.size else "holds NaN or inf"
                raise NonFiniteError(
                    f"{name}: {where}; {type(self).__name__} cannot be fitted or scored on them: "
                    "drop or repair those rows first"
                ) from None
            if name != "X":
                msg = msg.replace("Input X", f"Input {name}").replace("X has", f"{name} has")
            raise InputError(msg) from None

    # -- fitting -------------------------------------------------------------
    def fit(self, X, y=None, **fit_params):
        """Fit on train embeddings ``X`` (n, d) with identity labels ``y`` (n,).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Finite real values (float32 is kept; other numbers become float64).
        y : array-like of shape (n_samples,)
            Identity label of each row (required by learned metrics).
        **fit_params : dict
            ``variants``: array-like of shape (n_samples,), the variant tag of each row
            (``groups=`` is the same, older name).

        Returns
        -------
        self

        Raises
        ------
        InputError
            Non-finite, complex, 1-D or empty ``X``; ``y`` missing or of the wrong length.
        """
        self.check_params()  # every parameter's domain, before the data are looked at
        fit_params.pop("images", None)  # used by searches (pairing rule), not by a plain fit
        if "variants" in fit_params:
            v = fit_params.pop("variants")
            if fit_params.get("groups") is not None and v is not None:
                raise InputError("give the variant tags as variants= or groups=, not both")
            fit_params["groups"] = v
        if self.learns:
            if y is None:
                raise InputError(
                    f"{type(self).__name__} requires y to be passed, but the target y is None "
                    "(it learns from the identity label of each train row)"
                )
            X, y = self._validate_X(X, y=y, reset=True)
        else:
            X = self._validate_X(X, reset=True)
            if y is not None:
                y = np.asarray(y)
        g = fit_params.get("groups")
        if g is not None and np.shape(g) != (X.shape[0],):
            raise InputError(f"variants must give one tag per train row ({X.shape[0]}), got shape {np.shape(g)}")
        try:
            self._fit(X, y, **fit_params)
        except BaseException:
            self.__dict__.pop("n_features_in_", None)
            raise
        return self

    def _fit(self, X, y, **fit_params) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    #: domain of each constructor parameter (scikit-learn's form; see metricbench.learn._constraints)
    _parameter_constraints: dict = {}

    def check_params(self):
        """Check every parameter's domain without data: the ``_parameter_constraints`` table
        (scikit-learn's check), then the metric's own cross-parameter checks.

        Returns
        -------
        self

        Raises
        ------
        ParameterError
            One line naming the parameter, the valid domain and the value given.
        """
        check_table(self, self.name or type(self).__name__)
        try:
            self._check_params()
        except ParameterError:
            raise
        except InputError as e:  # the metric's own checks are about parameters only
            raise ParameterError(str(e), param=e.param) from None
        return self

    def _check_params(self) -> None:
        """Checks beyond the table (no data needed); raise InputError. Subclasses extend."""

    def _selection_note(self) -> str:
        """How a search chose this metric's settings (``selection_``, set by
        :class:`~metricbench.model_selection.MetricSearchCV`), as a describe() clause."""
        sel = getattr(self, "selection_", None)
        if not sel:
            return ""
        chosen = ", ".join(f"{k}={v}" for k, v in sel["chosen"].items())
        cross = f", pairs {sel['cross'][0]} vs {sel['cross'][1]}" if sel.get("cross") else ""
        return (
            f"; {chosen} chosen among {sel['n_candidates']} settings on {sel['n_pairs']} pairs of "
            f"{sel['n_held_out_identities']} held-out train identities{cross}, "
            f"inner-selection AUROC {sel['inner_selection_auroc']:.4f}, random_state {sel['random_state']}"
        )

    def check_is_fitted(self) -> None:
        """Raise :class:`~metricbench.errors.NotFittedError` (a scikit-learn ``NotFittedError``)
        unless ``fit`` has run."""
        try:
            _sk_check_is_fitted(self)
        except Exception:
            raise NotFittedError(
                f"{type(self).__name__} is not fitted yet: call fit(X, y) before scoring pairs"
            ) from None

    def _check_width(self, X, name: str = "X"):
        """Check rows ``X`` against the fitted width (and finiteness); returns the checked array."""
        if X is None:
            return None
        return self._validate_X(X, reset=False, name=name)

    # -- scoring -------------------------------------------------------------
    def pair_distance(self, X, index1=None, index2=None, *, Y=None) -> np.ndarray:
        """Distance of each pair (lower = more alike), shape ``(n_pairs,)``, float64."""
        X, i1, i2, Y = resolve_pairs(X, index1, index2, Y)
        if self.learns:
            self.check_is_fitted()
            X = self._check_width(X)
            Y = self._check_width(Y, "Y")
        return np.asarray(self._pair_distance(X, i1, i2, Y), dtype=np.float64)

    def pair_score(self, X, index1=None, index2=None, *, Y=None) -> np.ndarray:
        """Similarity of each pair (larger = more alike): ``-pair_distance``."""
        return -self.pair_distance(X, index1, index2, Y=Y)

    def _pair_distance(self, X, index1, index2, Y):  # pragma: no cover - overridden
        raise NotImplementedError

    def fixed_form(self):
        """``(transform, distance, params)`` when this metric is a fixed distance of
        :mod:`metricbench.distances`, after a learned ``transform`` of the rows (None: the rows as
        they are), else None.

        What exact search ranks with (:func:`metricbench.evaluation.retrieval.search`, the
        engines): a metric with a fixed form is searched by the distance kernels on its
        transformed rows; any other by its ``pair_distance`` over blocks of pairs.
        """
        return None

    def describe(self) -> str:
        """One line on what was fitted (chosen dimension, shrinkage, ...); empty if nothing."""
        return ""

    # -- persistence ---------------------------------------------------------
    def _fitted_state(self) -> tuple[dict, dict]:
        """Split fitted attributes (ending in ``_``) into arrays and JSON scalars."""
        arrays, scalars = {}, {}
        for k, v in vars(self).items():
            if not k.endswith("_") or k.startswith("_") or _is_nested(v):
                continue
            if isinstance(v, np.ndarray):
                if v.dtype == object:
                    raise TypeError(f"cannot save object array attribute {k}")
                arrays[k] = v
            else:
                scalars[k] = _jsonable(v)
        return arrays, scalars

    def _header_and_arrays(self) -> tuple[dict, dict]:
        """JSON header and arrays of this metric, fitted sub-metrics included.

        A fitted attribute holding a metric (or a list of metrics) is saved in the same
        file: its header goes under ``"nested"`` and its arrays under the keys
        ``"<attr>@<i>@<key>"``.
        """
        arrays, scalars = self._fitted_state()
        header = {
            "class": f"{type(self).__module__}:{type(self).__qualname__}",
            "name": self.name,
            "params": {k: _jsonable(v) for k, v in self.get_params(deep=False).items()},
            "fitted": scalars,
        }
        nested = {}
        for k, v in vars(self).items():
            if not k.endswith("_") or k.startswith("_") or not _is_nested(v):
                continue
            subs = [v] if isinstance(v, BaseMetric) else list(v)
            heads = []
            for i, sub in enumerate(subs):
                h, arr = sub._header_and_arrays()
                heads.append(h)
                arrays.update({f"{k}@{i}@{a}": x for a, x in arr.items()})
            nested[k] = {"list": not isinstance(v, BaseMetric), "metrics": heads}
        if nested:
            header["nested"] = nested
        return header, arrays

    def save(self, path) -> Path:
        """Write the fitted metric to ``path`` (``.npz``), atomically."""
        self.check_is_fitted()
        body, arrays = self._header_and_arrays()
        header = {"format": "metricbench-metric", "format_version": FORMAT_VERSION, **body}
        path = Path(path)
        if path.suffix != ".npz":
            path = path.with_suffix(path.suffix + ".npz")
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, __header__=np.array(json.dumps(header)), **arrays)
        return path

    @classmethod
    def load(cls, path, *, n_features: int | None = None):
        """Read a metric saved by :meth:`save`; checks version, class and width."""
        return load_metric(path, n_features=n_features, expected=cls)


def _is_nested(v) -> bool:
    """A fitted metric, or a non-empty list of them (saved as nested metrics)."""
    if isinstance(v, BaseMetric):
        return True
    return isinstance(v, (list, tuple)) and len(v) > 0 and all(isinstance(x, BaseMetric) for x in v)


def _jsonable(v):
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    if isinstance(v, BaseMetric):
        # a metric given as a parameter is recorded by its registry name; the fitted
        # metric itself is saved as a nested metric by its owner
        return v.name or type(v).__name__
    return repr(v)


def load_metric(path, *, n_features: int | None = None, expected: type | None = None) -> BaseMetric:
    """Load any metric saved with :meth:`BaseMetric.save`."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such metric file")
    try:
        with np.load(path, allow_pickle=False) as z:
            header = json.loads(str(z["__header__"]))
            arrays = {k: z[k] for k in z.files if k != "__header__"}
    except (OSError, ValueError, KeyError) as e:
        raise InputError(f"{path}: not a metricbench metric file ({e})") from None
    if header.get("format") != "metricbench-metric":
        raise InputError(f"{path}: not a metricbench metric file")
    if header.get("format_version") != FORMAT_VERSION:
        raise InputError(
            f"{path}: metric file format version {header.get('format_version')} is not supported "
            f"(this metricbench reads version {FORMAT_VERSION}); refit and save again"
        )
    modname, _, qual = header["class"].partition(":")
    klass = getattr(importlib.import_module(modname), qual)
    if expected is not None and not issubclass(klass, expected):
        raise InputError(f"{path}: holds a {qual}, not a {expected.__name__}")
    obj = _build(header, arrays)
    if n_features is not None and obj.n_features_in_ != n_features:
        raise InputError(
            f"{path}: metric was fitted on {obj.n_features_in_}-D embeddings, data is {n_features}-D"
        )
    return obj


def _build(header: dict, arrays: dict) -> BaseMetric:
    """Rebuild a metric (and its nested sub-metrics) from a header and its arrays."""
    modname, _, qual = header["class"].partition(":")
    klass = getattr(importlib.import_module(modname), qual)
    obj = klass(**header["params"])
    obj.name = header.get("name")
    for k, v in header["fitted"].items():
        setattr(obj, k, v)
    for k, v in arrays.items():
        if "@" not in k:
            setattr(obj, k, v)
    for k, spec in header.get("nested", {}).items():
        subs = []
        for i, h in enumerate(spec["metrics"]):
            prefix = f"{k}@{i}@"
            sub_arrays = {a[len(prefix) :]: x for a, x in arrays.items() if a.startswith(prefix)}
            subs.append(_build(h, sub_arrays))
        setattr(obj, k, subs if spec.get("list") else subs[0])
    return obj


class DistanceMetric(BaseMetric):
    """A fixed distance from :mod:`metricbench.distances` (nothing to learn).

    Parameters
    ----------
    metric : str
        Registered distance name.
    **params
        Distance parameters (``p`` for minkowski, ``V`` for seuclidean, ``VI`` for mahalanobis ...).
    """

    learns = False

    def __init__(self, metric: str = "cosine", **params):
        self.metric = metric
        self.params = params

    @property
    def name(self) -> str | None:
        return self.__dict__.get("_name") or self.metric

    @name.setter
    def name(self, value) -> None:
        if value is not None and value != self.metric:
            self.__dict__["_name"] = value
        else:
            self.__dict__.pop("_name", None)

    def get_params(self, deep: bool = True) -> dict:
        return {"metric": self.metric, **self.params}

    def set_params(self, **params):
        if "metric" in params:
            self.metric = params.pop("metric")
        self.params.update(params)
        return self

    def check_params(self) -> None:
        """Check the scalar parameters' domains before any data are read (minkowski's ``p``);
        parameters estimated from the data (seuclidean's ``V``, mahalanobis's ``VI``) are
        checked against the data's width when the distance is computed."""
        from metricbench.distances.api import minkowski_p

        if self.metric == "minkowski" and "p" in self.params:
            minkowski_p(self.params["p"])

    def _fit(self, X, y, **fit_params) -> None:
        self.check_params()

    def fixed_form(self):
        return None, self.metric, dict(self.params)

    def _pair_distance(self, X, index1, index2, Y):
        from metricbench.distances import paired_distances

        return paired_distances(X, index1, index2, metric=self.metric, Y=Y, **self.params)


class LinearMetric(TransformerMixin, BaseMetric):
    """A learned linear map followed by a fixed distance.

    ``transform(X) = (X - mean_) @ components_.T``; the distance ``base_metric``
    (``"cosine"`` or ``"sqeuclidean"`` mostly) is taken between transformed rows.
    Subclasses set ``components_`` (k, d) and optionally ``mean_`` (d,) in ``_fit``.
    """

    base_metric: str = "cosine"

    def transform(self, X) -> np.ndarray:
        """Project ``X`` (n, d) to the learned space (n, k), in row chunks."""
        self.check_is_fitted()
        X = self._check_width(X)
        mean = getattr(self, "mean_", None)
        LT = np.asarray(self.components_, dtype=np.float64).T

        def f(blk):
            return (blk if mean is None else blk - mean) @ LT

        return map_rows(f, X, LT.shape[1])

    def get_mahalanobis_matrix(self) -> np.ndarray:
        """``M = L.T @ L`` (meaningful for a squared-Euclidean base metric)."""
        self.check_is_fitted()
        L = np.asarray(self.components_, dtype=np.float64)
        return L.T @ L

    def _base_params(self) -> dict:
        return {}

    def fixed_form(self):
        return self.transform, self.base_metric, self._base_params()

    def _pair_distance(self, X, index1, index2, Y):
        from metricbench.distances import paired_distances

        ZX, j1 = _transform_used(self, X, index1)
        if Y is None:
            # one transform of the union of rows used on both sides
            used = np.concatenate([index1, index2])
            ZX, j = _transform_used(self, X, used)
            j1, j2 = j[: index1.size], j[index1.size :]
            return paired_distances(ZX, j1, j2, metric=self.base_metric, **self._base_params())
        ZY, j2 = _transform_used(self, Y, index2)
        return paired_distances(ZX, j1, j2, metric=self.base_metric, Y=ZY, **self._base_params())


#: row maps run on blocks of a multiple of this many rows (see :func:`map_rows`)
ROW_TILE = 64


def map_rows(fn, X, n_out: int, *, row_bytes: int | None = None) -> np.ndarray:
    """``fn`` applied to the rows of ``X`` in chunks, each row's result independent of the others.

    BLAS sums a matrix product's terms in an order that depends on the shape of the block it
    is given (its edge kernels, its split over threads), so ``(X @ L.T)[i]`` and
    ``(X[S] @ L.T)`` for a subset ``S`` holding ``i`` may differ in the last bit. Every row map
    of a metric runs here on blocks whose row count is a multiple of :data:`ROW_TILE` (the last
    block padded by repeating its last row), which makes a row's result the same bits whatever
    rows it comes with: a pair scored alone, in a chunk out of core or in a Dask row block
    equals the same pair among all pairs.

    Parameters
    ----------
    fn : callable
        Row-wise map: float64 array of shape (m, n_features) to array of shape (m, n_out).
    X : array-like of shape (n_samples, n_features)
        Rows (a memory map is read one chunk at a time).
    n_out : int
        Width of ``fn``'s result.
    row_bytes : int, optional
        Working bytes per row (default: float64 rows in and out); chunks follow the
        working-memory setting.

    Returns
    -------
    ndarray of shape (n_samples, n_out), float64
    """
    n, d = X.shape
    out = np.empty((n, n_out), dtype=np.float64)
    step = get_chunk_n_rows(row_bytes or 8 * max(1, d + n_out))
    step = max(ROW_TILE, step - step % ROW_TILE)
    for s in range(0, n, step):
        blk = np.asarray(X[s : s + step], dtype=np.float64)
        m = blk.shape[0]
        pad = -m % ROW_TILE
        if pad:
            blk = np.concatenate([blk, np.repeat(blk[-1:], pad, axis=0)])
        out[s : s + m] = fn(blk)[:m]
    return out


def _transform_used(metric: LinearMetric, X, index: np.ndarray):
    """Transform only the rows of ``X`` that ``index`` uses; return them and remapped indices."""
    n = X.shape[0]
    if index.size and (index.min() < 0 or index.max() >= n):
        bad = int(index[(index < 0) | (index >= n)][0])
        raise InputError(f"pair index {bad} is out of range for a matrix of {n} rows")
    if index.size >= n // 2:
        return metric.transform(X), index
    uniq, inv = np.unique(index, return_inverse=True)
    return metric.transform(np.asarray(X)[uniq]), inv.astype(np.int64)




class StatsFitted:
    """Mixin of metrics fitted in closed form from :class:`~metricbench.learn.stats.ScatterStats`.

    Subclasses implement ``_stats_request(variants)`` (the keyword arguments of
    :meth:`ScatterStats.from_data <metricbench.learn.stats.ScatterStats.from_data>` they need)
    and ``_fit_stats(stats)``; ``fit`` gathers the statistics in one pass and fits from them,
    and :class:`~metricbench.model_selection.MetricSearchCV` gathers them once per split and
    calls :meth:`fit_from_stats` / :meth:`search_scores` for every candidate setting.
    """

    def _stats_request(self, variants) -> dict:
        return {}

    def _stats_extra(self) -> tuple:
        """Names of the second-pass sums (:data:`metricbench.learn.stats.SECOND_PASS`) the fit
        needs besides the statistics (each a sum over rows given the first pass's statistics)."""
        return ()

    def _stats_only(self) -> str | None:
        """None when :meth:`fit_from_stats` gives ``fit``'s result with these settings, else
        why the fit needs the rows themselves."""
        return None

    def gather_stats(self, X, y, variants=None, rows=None):
        """The statistics this metric is fitted from, of rows ``X`` (or ``X[rows]``) with labels
        ``y`` (one pass, and a second for the sums of :meth:`_stats_extra`)."""
        v_rows = variants if (variants is None or rows is None) else np.asarray(variants)[rows]
        kw = self._stats_request(v_rows)
        st = ScatterStats.from_data(X, y, variants=variants if kw.get("cross") else None, rows=rows, **kw)
        for key in self._stats_extra():
            st.extra[key] = SECOND_PASS[key](X, y, st, rows=rows)
        return st

    def fit_from_stats(self, stats):
        """Fit from statistics gathered by :meth:`gather_stats` (or their ``+``); returns self."""
        self.check_params()
        self.n_features_in_ = int(stats.n_features)
        try:
            self._fit_stats(stats)
        except BaseException:
            self.__dict__.pop("n_features_in_", None)
            raise
        return self

    def _fit(self, X, y, groups=None):
        self._check_params()
        self._fit_stats(self.gather_stats(X, y, groups))

    def search_scores(self, stats, X, index1, index2, same, candidates) -> np.ndarray:
        """Held-out pair AUROC of each candidate setting fitted from ``stats``.

        ``index1, index2`` index rows of ``X``. Subclasses share work across candidates
        (one projection of the held-out rows for every dimension and shrinkage).
        """
        out = np.full(len(candidates), np.nan)
        for j, c in enumerate(candidates):
            m = clone(self).set_params(**c)
            try:
                m.fit_from_stats(stats)
            except InputError:
                continue  # infeasible for these statistics (a singular covariance): not a candidate
            out[j] = pair_auroc(same, m.pair_score(X, index1, index2))
        return out


def used_rows(X, index1, index2):
    """Rows of ``X`` the pairs use, as float64, and the pairs' indices into them."""
    idx = np.concatenate([index1, index2])
    uniq, inv = np.unique(idx, return_inverse=True)
    Xu = np.asarray(np.asarray(X)[uniq], dtype=np.float64)
    return Xu, inv[: index1.size], inv[index1.size :]


__all__ = ["BaseMetric", "DistanceMetric", "LinearMetric", "StatsFitted", "load_metric", "resolve_pairs", "used_rows"]
