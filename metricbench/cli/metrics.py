"""``metricbench metrics``: every registered name with a one-line description."""

from __future__ import annotations

import typer


def metrics(
    kind: str = typer.Option("all", help="Which to list: all, distance or learned."),
) -> None:
    """List every metric name with a one-line description."""
    from metricbench.registry import registry

    rows = [m for m in registry().values() if kind == "all" or m.kind == kind]
    width = max(len(m.name) for m in rows) if rows else 0
    for m in rows:
        typer.echo(f"{m.name:<{width}}  {m.kind:<8}  {m.summary}")


def register(app: typer.Typer) -> None:
    app.command("metrics")(metrics)
