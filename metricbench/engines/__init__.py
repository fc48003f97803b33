"""Engines: where the heavy operations run.

* ``local`` (:class:`metricbench.engines.local.LocalEngine`): this process, bounded memory,
  matrices and pairs larger than memory streamed from disk
  (:func:`~metricbench.engines.local.score_pairs_file`).
* ``dask`` (:class:`metricbench.engines.dask.DaskEngine`, extra ``metricbench[dask]``): the same
  operations over chunked embeddings on a Dask cluster (a ``LocalCluster`` or ``dask scheduler``
  / ``dask worker`` processes on real machines), results equal to the local engine's.

Both expose ``score_pairs``, ``topk``, ``scatter`` (mergeable sufficient statistics),
``fit`` (statistics-based metrics) and ``close``.
"""

from __future__ import annotations

import numpy as np

from metricbench.engines.dask import DaskEngine
from metricbench.engines.local import LocalEngine
from metricbench.errors import InputError

ENGINES = ("local", "dask")


def get_engine(name: str = "local", *, scheduler=None, **kw):
    """The engine ``name``; ``scheduler`` (dask) is an address like ``tcp://host:8786``, or None
    for a ``LocalCluster`` on this machine."""
    if name == "local":
        if scheduler is not None:
            raise InputError("a scheduler address is for the dask engine", param="scheduler")
        return LocalEngine(**kw)
    if name == "dask":
        return DaskEngine(scheduler=scheduler, **kw)
    raise InputError(f"unknown engine {name!r}: choose {', '.join(ENGINES)}")


def _as_distance(m):
    """``(name, params)`` of a fixed-distance metric object, else None."""
    if isinstance(m, str):
        return m, {}
    form = m.fixed_form() if callable(getattr(m, "fixed_form", None)) else None
    if form is not None and form[0] is None:
        return form[1], form[2]
    return None


def pair_distances_on(engine, metric, X, index1, index2, *, Y=None):
    """Distances of pairs with a metric object (fixed or fitted) on ``engine``.

    A fixed distance runs as the engine's pair scoring with its name; a fitted metric object
    travels to the workers and scores the pairs of each bucket there.
    """
    d = _as_distance(metric)
    if d is not None:
        return engine.score_pairs(X, index1, index2, d[0], Y=Y, **d[1])
    return engine.score_pairs(X, index1, index2, metric, Y=Y)


def search_on(engine, metric, Q, G, k: int = 10, *, exclude_self: bool = False):
    """Exact top-k with a metric object on ``engine``: a fixed distance directly; a fitted linear
    metric (``transform`` then a fixed distance) by transforming both sides first.

    Raises
    ------
    InputError
        A learned metric that is not a linear map followed by a fixed distance.
    """
    d = _as_distance(metric)
    if d is not None:
        return engine.topk(Q, G, k, d[0], exclude_self=exclude_self, **d[1])
    form = metric.fixed_form() if callable(getattr(metric, "fixed_form", None)) else None
    if form is not None:
        transform, name, params = form
        ZQ = transform(np.asarray(Q))
        ZG = ZQ if G is None or G is Q else transform(np.asarray(G))
        return engine.topk(ZQ, ZG, k, name, exclude_self=exclude_self, **params)
    raise InputError(f"the {engine.name} engine searches with fixed distances and linear learned metrics; "
                     f"{getattr(metric, 'name', metric)!r} is neither")


__all__ = ["ENGINES", "get_engine", "pair_distances_on", "search_on"]
