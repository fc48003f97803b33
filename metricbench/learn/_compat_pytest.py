"""pytest plugin: apply :func:`metricbench.learn.compat.ensure_metric_learn_compat` before collection.

Used by ``scripts/run_metric_learn_suite.py`` to run metric-learn's own test suite
on today's scikit-learn: ``python -m pytest -p metricbench.learn._compat_pytest test``.
"""

from metricbench.learn.compat import ensure_metric_learn_compat


def pytest_configure(config):
    patched = ensure_metric_learn_compat()
    config._metricbench_compat = patched


def pytest_report_header(config):
    patched = getattr(config, "_metricbench_compat", ())
    what = ", ".join(patched) if patched else "nothing needed patching"
    return f"metricbench metric-learn compat layer: {what}"
