"""pytest plugin: run metric-learn 0.7.0 on today's scikit-learn, patched for the whole test session.

Applies :func:`metricbench.learn.compat.patch_metric_learn` (the explicit opt-in that
patches the imported metric-learn) before collection. It lives outside the runtime
package on purpose: metricbench itself never patches metric-learn. Used by
``scripts/run_metric_learn_suite.py`` (metric-learn's own test suite) and by
``tests/test_compat.py``; with ``scripts/`` on ``PYTHONPATH``::

    python -m pytest -p metric_learn_compat_plugin test
"""

from metricbench.learn.compat import patch_metric_learn


def pytest_configure(config):
    config._metricbench_compat = patch_metric_learn()


def pytest_report_header(config):
    patched = getattr(config, "_metricbench_compat", ())
    what = ", ".join(patched) if patched else "nothing needed patching"
    return f"metric-learn patched by metricbench.learn.compat.patch_metric_learn: {what}"
