"""The one name table of metricbench: every metric name and alias, fixed distances and learned metrics.

Fixed distances come from :data:`metricbench.distances.registry.DISTANCES` (with their aliases:
``l2``, ``l1``, ``cityblock``, ``linf``); learned metrics from :data:`metricbench.catalog.LEARNED`.
This module sits in the ``distances`` layer (it imports nothing above it), so the distance
functions resolve names through it; :mod:`metricbench.registry` (above ``learn``) re-exports it
and adds the factory :func:`~metricbench.registry.get_metric`.
"""

from __future__ import annotations

import difflib
import importlib
from dataclasses import dataclass, field
from functools import lru_cache

from metricbench.catalog import LEARNED
from metricbench.distances.registry import DISTANCES
from metricbench.errors import InputError, UnknownMetricError

#: the kinds of metric, as ``metricbench metrics --kind`` takes them
KINDS = ("distance", "learned")


@dataclass(frozen=True)
class MetricInfo:
    """One row of the name table."""

    name: str
    summary: str
    kind: str  # "distance" or "learned"
    target: str  # "module:Class"
    defaults: dict = field(default_factory=dict)
    aliases: tuple = ()

    def load_class(self):
        """The estimator class (imported on first use)."""
        modname, _, clsname = self.target.partition(":")
        return getattr(importlib.import_module(modname), clsname)


@lru_cache(maxsize=1)
def _table() -> tuple[dict, dict]:
    out: dict[str, MetricInfo] = {}
    spellings: dict[str, str] = {}
    for name, d in DISTANCES.items():
        out[name] = MetricInfo(name, d.summary, "distance", "metricbench.learn.base:DistanceMetric",
                               {"metric": name}, tuple(d.aliases))
    for name, (target, summary, defaults) in LEARNED.items():
        if name in out:  # one name, one thing: a programming error, caught by the test suite
            raise RuntimeError(f"learned metric name {name!r} clashes with a distance")
        out[name] = MetricInfo(name, summary, "learned", target, dict(defaults), ())
    for name, info in out.items():
        for spelling in (name, *info.aliases):
            if spelling.lower() in spellings:
                raise RuntimeError(f"metric name or alias {spelling!r} is taken twice")
            spellings[spelling.lower()] = name
    return out, spellings


def registry(kind: str | None = None) -> dict[str, MetricInfo]:
    """All metrics by canonical name (fixed distances first, then learned metrics).

    Parameters
    ----------
    kind : {"distance", "learned"}, optional
        Only metrics of this kind.

    Raises
    ------
    InputError
        ``kind`` is not one of :data:`KINDS`.
    """
    table = _table()[0]
    if kind is None:
        return dict(table)
    check_kind(kind)
    return {n: m for n, m in table.items() if m.kind == kind}


def check_kind(kind: str) -> str:
    """``kind`` if it is one of :data:`KINDS`, else a one-line error naming them."""
    if kind not in KINDS:
        raise InputError(f"unknown kind {kind!r}; valid: {', '.join(KINDS)}")
    return kind


def aliases() -> dict[str, str]:
    """Every accepted spelling (lower case) -> canonical name."""
    return dict(_table()[1])


def metric_names(kind: str | None = None) -> list[str]:
    """Canonical names, optionally of one kind."""
    return list(registry(kind))


def resolve(name: str, kind: str | None = None) -> str:
    """The canonical name of ``name`` (an alias, any letter case).

    Parameters
    ----------
    name : str
    kind : {"distance", "learned"}, optional
        Suggest only names of this kind when ``name`` is unknown.

    Raises
    ------
    UnknownMetricError
        ``name`` is in the table under no spelling; the message suggests the nearest names.
    """
    table, spellings = _table()
    canon = spellings.get(str(name).strip().lower())
    if canon is None:
        pool = [s for s, n in spellings.items() if kind is None or table[n].kind == kind]
        close = difflib.get_close_matches(str(name).lower(), pool, n=3)
        close = list(dict.fromkeys(spellings[c] for c in close))
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        what = {"distance": "distance", "learned": "learned metric"}.get(kind, "metric")
        n = sum(1 for m in table.values() if kind is None or m.kind == kind)
        raise UnknownMetricError(f"unknown {what} {name!r}{hint} (run 'metricbench metrics' for the {n} names)")
    return canon


def metric_info(name: str) -> MetricInfo:
    """The table row of ``name`` (aliases resolve)."""
    return _table()[0][resolve(name)]


def resolve_distance(name: str):
    """The :class:`~metricbench.distances.registry.Distance` named ``name`` (aliases resolve).

    Raises
    ------
    UnknownMetricError
        An unknown name, or the name of a learned metric (which must be fitted first).
    """
    info = _table()[0][resolve(name, kind="distance")]
    if info.kind != "distance":
        raise UnknownMetricError(
            f"{info.name!r} is a learned metric, not a fixed distance: build it with "
            f"get_metric({info.name!r}), fit it on labelled rows, then call its pair_distance"
        )
    return DISTANCES[info.name]
