"""``metricbench metrics``: every name of the name table with a one-line description."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from metricbench.cli.common import MetricbenchCommand
from metricbench.registry import check_kind, registry

HELP = """List every metric name (and its aliases) with a one-line description.

Examples:

  metricbench metrics

  metricbench metrics --kind learned
"""


def metrics(
    kind: Annotated[
        Optional[str], typer.Option("--kind", "-k", help="Only this kind: distance or learned (default: all).")
    ] = None,
) -> None:
    if kind is not None and kind != "all":
        check_kind(kind)
    rows = list(registry(None if kind in (None, "all") else kind).values())
    width = max(len(m.name) for m in rows)
    for m in rows:
        alias = f" (also {', '.join(m.aliases)})" if m.aliases else ""
        typer.echo(f"{m.name:<{width}}  {m.kind:<8}  {m.summary}{alias}")


def register(app: typer.Typer) -> None:
    app.command("metrics", cls=MetricbenchCommand, help=HELP)(metrics)
