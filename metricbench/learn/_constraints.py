"""The parameter domains of the learned metrics: :mod:`metricbench._constraints`, re-exported here
for the metrics that import them as ``from metricbench.learn import _constraints as dom``."""

from metricbench._constraints import *  # noqa: F401,F403
from metricbench._constraints import __all__  # noqa: F401
