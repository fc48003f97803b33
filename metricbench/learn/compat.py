"""metric-learn 0.7.0 on the scikit-learn that pip resolves today, without patching it.

metric-learn's last release (0.7.0, 2023-09) breaks on newer scikit-learn in
two ways, both found by running metric-learn's own test suite
(``scripts/run_metric_learn_suite.py``, see the README, "Checked against metric-learn's own test suite"):

1. It passes arguments scikit-learn has removed:

   * ``check_array`` / ``check_X_y(..., force_all_finite=...)``: renamed
     ``ensure_all_finite`` in scikit-learn 1.6 and removed in 1.8, so every
     estimator fails with ``check_X_y() got an unexpected keyword argument
     'force_all_finite'`` (fixed upstream, unreleased);
   * ``graphical_lasso(..., cov_init=...)`` (SDML): removed from the public
     function in 1.5; the private ``_graphical_lasso`` still takes it.

2. It predates scikit-learn 1.6's estimator contract (``__sklearn_tags__``):

   * its classes list scikit-learn's mixins after ``BaseEstimator``
     (``class NCA(MahalanobisMixin, TransformerMixin)``), so ``BaseEstimator``'s
     tags win: ``is_classifier(ITML())`` is False and NCA is not a transformer;
   * ``transform`` does not reject a wrong input width with scikit-learn's message;
   * ``__init__`` validates and compares deprecated aliases (``k != 'deprecated'``),
     so it raises for values that scikit-learn requires ``__init__`` to just store.

This module offers the fixes in two forms:

* :func:`fixed_class` (what metricbench uses): a subclass of a metric-learn class,
  owned by metricbench, whose methods that reach a broken scikit-learn call run
  metric-learn's own code against a private copy of its module namespace in which
  that call is fixed (1. above). Nothing in metric-learn or scikit-learn is
  modified: importing metricbench or fitting any ``ml-*`` metric leaves every
  metric-learn module attribute and class as it was (``tests/test_mlearn.py``
  checks this in a fresh interpreter). The estimator-contract points (2.) do not
  matter there: the ``ml-*`` metrics are themselves scikit-learn estimators and
  use metric-learn only inside ``fit``.
* :func:`patch_metric_learn` (an explicit opt-in for code that calls metric-learn
  directly): patches the imported metric-learn for the whole process, 1. and 2.
  above, so that ``metric_learn.NCA().fit(X, y)`` works on scikit-learn 1.9 and
  metric-learn's own test suite passes as it does on scikit-learn 1.5.2. metricbench
  never calls it; ``scripts/metric_learn_compat_plugin.py`` is the pytest plugin that
  applies it for that suite.

Either form changes nothing in scikit-learn itself, and each fix applies only where
the installed scikit-learn needs it.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import sys
import threading
import types

#: metric-learn modules that import scikit-learn validators by name
_MODULES = (
    "metric_learn._util",
    "metric_learn.itml",
    "metric_learn.scml",
    "metric_learn.mmc",
    "metric_learn.base_metric",
)
#: validator names whose ``force_all_finite`` keyword was renamed ``ensure_all_finite``
_RENAMED_KW = ("check_array", "check_X_y")
_MARK = "__metricbench_compat__"

_lock = threading.Lock()
_state: dict = {"done": False, "patched": ()}


def _accepts(func, kw: str) -> bool:
    try:
        params = inspect.signature(func).parameters
    except (TypeError, ValueError):  # pragma: no cover - builtins
        return True
    return kw in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def _translate_force_all_finite(func):
    """Wrap ``func`` so that ``force_all_finite=v`` is passed on as ``ensure_all_finite=v``."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        if "force_all_finite" in kwargs:
            value = kwargs.pop("force_all_finite")
            kwargs.setdefault("ensure_all_finite", value)
        return func(*args, **kwargs)

    setattr(wrapper, _MARK, True)
    return wrapper


def _graphical_lasso_with_cov_init(func):
    """Wrap the public ``graphical_lasso`` so that ``cov_init=`` works again.

    With ``cov_init`` the call goes to scikit-learn's private ``_graphical_lasso``
    (the body the public function had before 1.5, starting point included); if
    that is gone too, ``cov_init`` is dropped (the problem is convex, so only the
    starting point changes).
    """

    try:
        from sklearn.covariance._graph_lasso import _graphical_lasso as private
    except ImportError:  # pragma: no cover - future scikit-learn
        private = None
    if private is not None and not _accepts(private, "cov_init"):  # pragma: no cover
        private = None

    @functools.wraps(func)
    def wrapper(emp_cov, alpha, *args, cov_init=None, return_costs=False, return_n_iter=False, **kwargs):
        if cov_init is None or private is None or args:
            return func(emp_cov, alpha, *args, return_costs=return_costs, return_n_iter=return_n_iter, **kwargs)
        covariance, precision, costs, n_iter = private(emp_cov, alpha, cov_init=cov_init, **kwargs)
        out = [covariance, precision]
        if return_costs:
            out.append(costs)
        if return_n_iter:
            out.append(n_iter)
        return tuple(out)

    setattr(wrapper, _MARK, True)
    return wrapper


#: (module, name, keyword the old scikit-learn accepted, wrapper factory)
_PATCHES = tuple(
    (mod, name, "force_all_finite", _translate_force_all_finite)
    for mod in _MODULES
    for name in _RENAMED_KW
) + (("metric_learn.sdml", "graphical_lasso", "cov_init", _graphical_lasso_with_cov_init),)


def _transform_checking_width(func):
    """Wrap ``MahalanobisMixin.transform`` to reject a wrong input width with scikit-learn's message.

    metric-learn only fails inside ``X.dot(components_.T)`` ("shapes not aligned");
    scikit-learn >= 1.6 requires ``X has n features, but Est is expecting d features
    as input``. Only 2-D input without a preprocessor is checked, which fails anyway.
    """

    @functools.wraps(func)
    def transform(self, X):
        L = getattr(self, "components_", None)
        shape = getattr(X, "shape", None)  # arrays, sparse matrices, data frames
        if L is not None and shape is not None and getattr(self, "preprocessor_", None) is None:
            if len(shape) == 2 and shape[1] != L.shape[1]:
                raise ValueError(
                    f"X has {shape[1]} features, but {type(self).__name__} is expecting "
                    f"{L.shape[1]} features as input."
                )
        return func(self, X)

    setattr(transform, _MARK, True)
    return transform


def _mixins_first(cls, mixins) -> bool:
    """Move scikit-learn mixins listed after a ``BaseEstimator`` base to the front of ``cls.__bases__``.

    metric-learn writes ``class NCA(MahalanobisMixin, TransformerMixin)`` and
    ``class _PairsClassifierMixin(BaseMetricLearner, ClassifierMixin)``. Since
    scikit-learn 1.6 the estimator type lives in ``__sklearn_tags__``, which
    ``BaseEstimator`` then shadows: ``is_classifier(ITML())`` is False, NCA is no
    transformer to ``check_estimator``, and ``check_mixin_order`` fails. The methods
    metric-learn defines itself still win (they are the class's own or its bases').
    """
    from sklearn.base import BaseEstimator

    bases = cls.__bases__
    first_estimator = next((i for i, b in enumerate(bases) if issubclass(b, BaseEstimator)), None)
    late = [b for i, b in enumerate(bases) if b in mixins and first_estimator is not None and i > first_estimator]
    if not late:
        return False
    try:
        cls.__bases__ = tuple(late) + tuple(b for b in bases if b not in late)
    except TypeError:  # pragma: no cover - no consistent MRO: leave the class alone
        return False
    return True


def _patch_classes() -> list[str]:
    """Class-level patches (scikit-learn >= 1.6 estimator contract); returns what was patched."""
    import metric_learn  # noqa: F401  (imports every submodule)
    from metric_learn.base_metric import MahalanobisMixin
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, TransformerMixin

    done = []
    if not hasattr(BaseEstimator, "__sklearn_tags__"):  # scikit-learn < 1.6: the old contract holds
        return done
    if not _MARK_ON(MahalanobisMixin.__dict__.get("transform")):
        MahalanobisMixin.transform = _transform_checking_width(MahalanobisMixin.transform)
    done.append("metric_learn.base_metric.MahalanobisMixin.transform")
    mixins = (ClassifierMixin, RegressorMixin, TransformerMixin)
    classes = [
        c
        for modname, mod in sorted(sys.modules.items())
        if modname.startswith("metric_learn.") and mod is not None
        for c in vars(mod).values()
        if isinstance(c, type) and c.__module__ == modname
    ]
    for cls in classes:
        if _mixins_first(cls, mixins) or cls.__dict__.get("_metricbench_reordered", False):
            cls._metricbench_reordered = True
            done.append(f"{cls.__module__}.{cls.__name__}.__bases__")
    for name in getattr(metric_learn, "__all__", ()):
        cls = getattr(metric_learn, name, None)
        if isinstance(cls, type) and issubclass(cls, BaseEstimator):
            if not _MARK_ON(cls.__init__):
                _defer_init_validation(cls)
            done.append(f"{cls.__module__}.{cls.__name__}.__init__")
    return done


def _defer_init_validation(cls) -> None:
    """Make ``cls.__init__`` only store its parameters when metric-learn's checks there fail.

    metric-learn validates in ``__init__`` (LFDA's ``embedding_type``) and compares
    deprecated aliases with ``!= 'deprecated'``, which raises for array values.
    scikit-learn >= 1.6 requires that ``__init__`` and ``set_params`` never raise
    (``check_do_not_raise_errors_in_init_or_set_params``). Valid parameters go through
    metric-learn's ``__init__`` unchanged; otherwise they are stored as given and
    ``fit`` runs metric-learn's ``__init__`` on the current parameters first, so the
    same error is raised there, unless ``set_params`` has fixed them meanwhile.
    """
    init = cls.__init__  # its own, or the metric-learn base's it inherits (ITML: _BaseITML's)
    sig = inspect.signature(init)
    names = [p for p in sig.parameters if p != "self"]

    @functools.wraps(init)
    def __init__(self, *args, **kwargs):
        try:
            init(self, *args, **kwargs)
        except (ValueError, TypeError):
            bound = sig.bind(self, *args, **kwargs)
            bound.apply_defaults()
            for name in names:
                setattr(self, name, bound.arguments[name])
            self._metricbench_deferred_init = init

    setattr(__init__, _MARK, True)
    cls.__init__ = __init__

    fit = cls.__dict__.get("fit")
    if fit is None:
        # inherited fit: wrap it here, on this class, so siblings are unaffected
        fit = getattr(cls, "fit")

    @functools.wraps(fit)
    def fit_wrapper(self, *args, **kwargs):
        deferred = self.__dict__.get("_metricbench_deferred_init")
        if deferred is not None:
            probe = object.__new__(type(self))
            deferred(probe, **{n: getattr(self, n) for n in inspect.signature(deferred).parameters if n != "self"})
            del self._metricbench_deferred_init
        return fit(self, *args, **kwargs)

    setattr(fit_wrapper, _MARK, True)
    cls.fit = fit_wrapper


def _MARK_ON(func) -> bool:
    return bool(getattr(func, _MARK, False))


def needs_compat() -> bool:
    """Whether the installed scikit-learn is one metric-learn 0.7.0 needs the layer for."""
    from sklearn.base import BaseEstimator
    from sklearn.covariance import graphical_lasso
    from sklearn.utils import validation

    return (
        not all(_accepts(getattr(validation, name), "force_all_finite") for name in _RENAMED_KW)
        or not _accepts(graphical_lasso, "cov_init")
        or hasattr(BaseEstimator, "__sklearn_tags__")
    )


def patch_attribute(module, name: str, old_kw: str, factory) -> bool:
    """Replace ``module.name`` by ``factory(module.name)`` if it rejects keyword ``old_kw``.

    Returns whether ``module.name`` is (now, or already was) a compat wrapper.
    """
    func = getattr(module, name, None)
    if func is None:
        return False
    if getattr(func, _MARK, False):
        return True
    if _accepts(func, old_kw):
        return False
    setattr(module, name, factory(func))
    return True


def patch_metric_learn() -> tuple[str, ...]:
    """Patch the imported metric-learn, for the whole process, so that it runs on this scikit-learn.

    An explicit opt-in for code that uses metric-learn directly (metricbench itself
    never calls it; its ``ml-*`` metrics use :func:`fixed_class`). It replaces the
    scikit-learn functions metric-learn's modules imported by name with wrappers that
    accept the removed keywords, and, on scikit-learn >= 1.6, reorders the mixins of
    metric-learn's classes, makes ``MahalanobisMixin.transform`` check the input width
    and makes a failing ``__init__`` store its parameters (``fit`` then raises). See the
    module docstring for why each is needed. Nothing in scikit-learn is modified.

    Idempotent and thread-safe; a no-op where scikit-learn still accepts the old
    arguments (``force_all_finite`` before 1.8, ``cov_init`` before 1.5) and keeps the
    old estimator contract (before 1.6), or where metric-learn is not installed.

    Returns
    -------
    patched : tuple of str
        ``"module.name"`` of everything replaced (by this call or an earlier one);
        empty when nothing needed patching.

    Examples
    --------
    >>> from metricbench.learn.compat import patch_metric_learn
    >>> patched = patch_metric_learn()   # doctest: +SKIP
    >>> import metric_learn
    >>> metric_learn.NCA().fit(X, y)     # doctest: +SKIP
    """
    if _state["done"]:
        return _state["patched"]
    with _lock:
        if _state["done"]:
            return _state["patched"]
        try:
            importlib.import_module("metric_learn")
        except ImportError:
            _state["done"] = True
            return ()
        patched: list[str] = []
        for modname, name, old_kw, factory in _PATCHES:
            try:
                mod = importlib.import_module(modname)
            except ImportError:  # pragma: no cover - other metric-learn layouts
                continue
            if patch_attribute(mod, name, old_kw, factory):
                patched.append(f"{modname}.{name}")
        patched += _patch_classes()
        _state["patched"] = tuple(patched)
        _state["done"] = True
        return _state["patched"]


# -- metricbench's own fixed subclasses (no patching) ---------------------------------


def _rebind(func, namespace: dict, owner: str):
    """A copy of ``func`` (same code, defaults, closure) whose globals are ``namespace``.

    The copy is what metricbench calls; ``func`` and its module are left as they are.
    A zero-argument ``super()`` keeps working: the closure cell still names the class
    that defined ``func``, of which the fixed subclass is a subclass.
    """
    new = types.FunctionType(func.__code__, namespace, func.__name__, func.__defaults__, func.__closure__)
    new.__kwdefaults__ = func.__kwdefaults__
    new.__doc__ = func.__doc__
    new.__qualname__ = f"{owner}.{func.__name__}"
    new.__module__ = __name__
    new.__wrapped__ = func
    setattr(new, _MARK, True)
    return new


def _names_in(code) -> set[str]:
    """Global and attribute names a code object (nested functions included) refers to."""
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _names_in(const)
    return names


class _Overlay:
    """Stands for a metric-learn class in a private namespace, with some methods replaced.

    metric-learn's ``*_Supervised.fit`` calls its base explicitly
    (``_BaseSDML._fit(self, pairs, y)``); in the namespace of the fixed ``fit`` that
    name is this overlay, so the call reaches the fixed ``_fit``. Every other
    attribute is the class's own.
    """

    def __init__(self, cls, methods: dict):
        self._cls = cls
        self._methods = methods

    def __getattr__(self, name):
        if name in self._methods:
            return self._methods[name]
        return getattr(self._cls, name)


@functools.lru_cache(maxsize=None)
def _fixed_methods() -> dict:
    """``{(defining class, method name): fixed copy}`` for every metric-learn method that needs one.

    * ``metric_learn._util``'s functions are copied into a private namespace in which
      ``check_array`` / ``check_X_y`` accept ``force_all_finite`` (where this
      scikit-learn rejects it); ``check_input`` there is the fixed one.
    * every method of ``metric_learn.base_metric`` that calls ``check_input``
      (``_prepare_inputs``, ``transform``, ``pair_distance``, ``decision_function`` ...)
      is copied into a namespace where ``check_input`` is the fixed one;
    * SDML's ``_fit`` gets a ``graphical_lasso`` that takes ``cov_init``, and
      ``SDML_Supervised.fit`` calls that ``_fit``.
    """
    import metric_learn  # noqa: F401  (imports every submodule)
    import metric_learn._util as util
    import metric_learn.base_metric as base_metric
    import metric_learn.sdml as sdml
    from sklearn.utils import validation

    fixed: dict = {}
    util_ns = dict(vars(util))
    changed = set()
    for name in _RENAMED_KW:
        if name in util_ns and not _accepts(getattr(validation, name), "force_all_finite"):
            util_ns[name] = _translate_force_all_finite(util_ns[name])
            changed.add(name)
    if not changed:
        return fixed
    for name, value in vars(util).items():
        if isinstance(value, types.FunctionType) and value.__globals__ is vars(util):
            util_ns[name] = _rebind(value, util_ns, "metric_learn._util")
    base_ns = dict(vars(base_metric), check_input=util_ns["check_input"])
    for cls in vars(base_metric).values():
        if not (isinstance(cls, type) and cls.__module__ == base_metric.__name__):
            continue
        for name, value in vars(cls).items():
            if isinstance(value, types.FunctionType) and "check_input" in _names_in(value.__code__):
                fixed[(cls, name)] = _rebind(value, base_ns, cls.__qualname__)
    gl = getattr(sdml, "graphical_lasso", None)
    if gl is not None and not _accepts(gl, "cov_init"):
        sdml_ns = dict(vars(sdml), graphical_lasso=_graphical_lasso_with_cov_init(gl))
        fit = _rebind(sdml._BaseSDML._fit, sdml_ns, "_BaseSDML")
        fixed[(sdml._BaseSDML, "_fit")] = fit
        sdml_ns["_BaseSDML"] = _Overlay(sdml._BaseSDML, {"_fit": fit})
        fixed[(sdml.SDML_Supervised, "fit")] = _rebind(sdml.SDML_Supervised.fit, sdml_ns, "SDML_Supervised")
    return fixed


_fixed_lock = threading.Lock()
_fixed_classes: dict = {}


def fixed_class(cls: type) -> type:
    """metricbench's subclass of metric-learn estimator class ``cls`` that runs on this scikit-learn.

    The subclass overrides only the methods whose metric-learn code reaches a
    scikit-learn call that no longer accepts metric-learn's arguments (see
    :func:`_fixed_methods`); each override is metric-learn's own code, run against a
    private namespace. ``cls`` itself and metric-learn's modules are not modified.
    Where this scikit-learn needs no fix, ``cls`` itself is returned.

    Parameters
    ----------
    cls : type
        A metric-learn estimator class (``metric_learn.NCA``, ``metric_learn.ITML_Supervised`` ...).

    Returns
    -------
    type
        A subclass of ``cls`` with the same name, parameters and behaviour (or ``cls``).

    Examples
    --------
    >>> import metric_learn                                               # doctest: +SKIP
    >>> NCA = fixed_class(metric_learn.NCA)                               # doctest: +SKIP
    >>> NCA(max_iter=10).fit(X, y).components_.shape                      # doctest: +SKIP
    """
    with _fixed_lock:
        if cls in _fixed_classes:
            return _fixed_classes[cls]
        body = {}
        fixes = _fixed_methods()
        # walk the MRO from the base up, so that what a subclass defines wins, as in ``cls`` itself
        for klass in reversed(cls.__mro__):
            for name in vars(klass):
                if (klass, name) in fixes:
                    body[name] = fixes[(klass, name)]
                else:
                    body.pop(name, None)
        if not body:
            _fixed_classes[cls] = cls
            return cls
        qualname = f"_fixed_{cls.__name__}"
        body.update(__module__=__name__, __qualname__=qualname, __doc__=cls.__doc__)
        new = types.new_class(cls.__name__, (cls,), exec_body=lambda ns: ns.update(body))
        new.__qualname__ = qualname
        globals()[qualname] = new  # picklable: metricbench.learn.compat._fixed_<Name>
        _fixed_classes[cls] = new
        return new


__all__ = ["fixed_class", "needs_compat", "patch_attribute", "patch_metric_learn"]
