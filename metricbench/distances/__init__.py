"""Distance functions: numba kernels, parallel paired / pairwise / top-k drivers, one registry.

>>> from metricbench.distances import paired_distances
>>> d = paired_distances(X, index1, index2, metric="cosine")  # doctest: +SKIP

The numba-backed entry points load on first use, so reading the registry stays cheap.
``metricbench.distances.topk`` is the *function*; its implementation module is imported as
``from metricbench.distances.topk import ...`` (importing it does not shadow the function).
"""

from __future__ import annotations

import sys
import types

_API = ("distance_names", "paired_distances", "pairwise_distances", "pairwise_distances_chunked", "topk")
__all__ = list(_API)


def __getattr__(name: str):
    if name in _API:
        from metricbench.distances import api

        value = getattr(api, name)
        if name != "topk":
            globals()[name] = value
        return value
    raise AttributeError(f"module 'metricbench.distances' has no attribute {name!r}")


class _Package(types.ModuleType):
    """Keeps ``metricbench.distances.topk`` the function once the ``topk`` submodule is imported."""

    @property
    def topk(self):
        from metricbench.distances.api import topk

        return topk

    @topk.setter
    def topk(self, value):  # the import system sets the submodule here; the function stays
        pass


sys.modules[__name__].__class__ = _Package
