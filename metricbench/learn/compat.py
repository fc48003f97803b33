"""Make metric-learn 0.7.0 work on the scikit-learn that pip resolves today.

metric-learn's last release (0.7.0, 2023-09) calls scikit-learn with arguments
that scikit-learn has since removed:

* ``check_array`` / ``check_X_y(..., force_all_finite=...)``: renamed
  ``ensure_all_finite`` in scikit-learn 1.6 and removed in 1.8, so every
  metric-learn estimator fails on today's scikit-learn with
  ``check_X_y() got an unexpected keyword argument 'force_all_finite'``
  (the fix is merged upstream but unreleased);
* ``graphical_lasso(..., cov_init=...)`` (SDML): removed from the public function
  in scikit-learn 1.5, so SDML fails on 1.5 already; the private
  ``_graphical_lasso`` still takes the starting point.

Running metric-learn's own test suite (``scripts/run_metric_learn_suite.py``)
against scikit-learn 1.9 finds no other breakage of the library itself: every
other failure there also fails on scikit-learn 1.5.2 (see ``docs/metric-learn.md``).

:func:`ensure_metric_learn_compat` therefore patches precisely: it replaces only
the names that metric-learn's modules imported from scikit-learn
(``metric_learn._util.check_array`` ...) by thin wrappers that translate the old
arguments and call scikit-learn. scikit-learn itself is not modified, and each
patch is applied only where the installed scikit-learn rejects the old argument,
so on an old scikit-learn the call does nothing. It is idempotent and cheap; the
``ml-*`` metrics call it before building a metric-learn estimator.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import threading

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


def needs_compat() -> bool:
    """Whether the installed scikit-learn rejects arguments that metric-learn 0.7.0 passes."""
    from sklearn.covariance import graphical_lasso
    from sklearn.utils import validation

    return not (
        all(_accepts(getattr(validation, name), "force_all_finite") for name in _RENAMED_KW)
        and _accepts(graphical_lasso, "cov_init")
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


def ensure_metric_learn_compat() -> tuple[str, ...]:
    """Patch the imported metric-learn so that it runs on the installed scikit-learn.

    Idempotent and thread-safe; a no-op where scikit-learn still accepts the old
    arguments (``force_all_finite`` before 1.8, ``cov_init`` before 1.5) or where
    metric-learn is not installed.

    Returns
    -------
    patched : tuple of str
        ``"module.name"`` of every function replaced (by this call or an earlier one);
        empty when nothing needed patching.
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
        _state["patched"] = tuple(patched)
        _state["done"] = True
        return _state["patched"]


__all__ = ["ensure_metric_learn_compat", "needs_compat", "patch_attribute"]
