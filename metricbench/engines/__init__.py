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

ENGINES = ("local", "dask")


def get_engine(name: str = "local", *, scheduler=None, **kw):
    """The engine ``name``; ``scheduler`` (dask) is an address like ``tcp://host:8786``, or None
    for a ``LocalCluster`` on this machine."""
    from metricbench.errors import InputError

    if name == "local":
        if scheduler is not None:
            raise InputError("--scheduler is for --engine dask")
        from metricbench.engines.local import LocalEngine

        return LocalEngine(**kw)
    if name == "dask":
        from metricbench.engines.dask import DaskEngine

        return DaskEngine(scheduler=scheduler, **kw)
    raise InputError(f"unknown engine {name!r}: choose {', '.join(ENGINES)}")


__all__ = ["ENGINES", "get_engine"]
