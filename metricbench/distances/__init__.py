"""Distance functions: numba kernels, parallel paired / pairwise / top-k drivers, one registry.

>>> from metricbench.distances import paired_distances
>>> d = paired_distances(X, index1, index2, metric="cosine")  # doctest: +SKIP

The numba-backed entry points load on first use, so reading the registry stays cheap.
"""

from __future__ import annotations

_API = ("distance_names", "paired_distances", "pairwise_distances", "pairwise_distances_chunked", "topk")
__all__ = list(_API)


def __getattr__(name: str):
    if name in _API:
        from metricbench.distances import api

        value = getattr(api, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'metricbench.distances' has no attribute {name!r}")
