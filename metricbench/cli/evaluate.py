"""``metricbench evaluate``: parse, call :func:`metricbench.workflows.evaluate_competition`, print."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from metricbench import workflows
from metricbench.cli.common import MetricbenchCommand, RichProgress, UserError, fmt, print_table, table
from metricbench.registry import metric_info, parse_metric_params
from metricbench.workflows.evaluate import expand_metric_names

DEFAULT_METRICS = "euclidean,cosine,cosine-whitened"

HELP = """Compare METRICS on identity-disjoint validation pairs and, with solution.csv, on the test pairs.

Per metric and split: AUROC with a bootstrap interval, TAR@FAR, EER, fit and score time, what the row's fit was given and what it chose. Writes evaluation.csv, evaluation.json, summary.md and ROC / DET / histogram PNGs into the run folder; an earlier run's folder is never overwritten without --force.

Examples:

  metricbench evaluate

  metricbench evaluate --metrics euclidean,cosine,cosine-whitened --out runs/demo

  metricbench evaluate -m learned -p lda-cosine:n_components=64 --no-plot --json
"""


def parse_metric_param_items(items: list[str] | None, names: list[str]) -> dict:
    """``--param METRIC:key=value`` -> ``{metric: {key: typed value}}`` (aliases resolve)."""
    grouped: dict[str, list[str]] = {}
    for item in items or []:
        name, sep, kv = item.partition(":")
        if not sep or "=" not in kv or not kv.partition("=")[0].strip():
            raise UserError(f"--param {item!r} is not METRIC:key=value (for example cosine-whitened:n_components=64)")
        canon = metric_info(name.strip()).name
        if canon not in names:
            raise UserError(f"--param {item!r} names metric {canon!r}, which is not in --metrics")
        grouped.setdefault(canon, []).append(kv)
    return {name: parse_metric_params(name, kvs) for name, kvs in grouped.items()}


def _print(r, fars, test: bool) -> None:
    from metricbench.evaluation.verification import far_label

    s = r.settings
    typer.echo(
        f"validation: {s['val_pairs']} pairs of {s['val_identities']} held-out identities "
        f"(metrics fitted on {s['fit_identities']} other identities)"
        + (f", pairs {s['cross_groups'][0]} vs {s['cross_groups'][1]}" if s.get("cross_groups") else "")
        + f", seed {s['seed']}"
    )
    if "test" in r.evaluation.curves:
        typer.echo(f"test: {s['test_pairs']} pairs scored against solution.csv (metrics fitted on all of train)")
    elif r.solution_missing:
        typer.echo("test: no solution.csv, test pairs not evaluated")
    far_heads = [f"TAR@{f:.0e}".replace("e-0", "e-") for f in fars]
    t = table("metric", "split", "fitted on", "AUROC [95% CI]", *[h + ">" for h in far_heads], "EER>", "fit s>",
              "score s>")
    for _, row in r.table.iterrows():
        ci = f"{fmt(row.auroc)} [{fmt(row.auroc_low)}, {fmt(row.auroc_high)}]"
        t.add_row(row.metric, row.split, str(row.get("fitted_on", "")), ci, *[fmt(row[far_label(f)]) for f in fars],
                  fmt(row.eer), f"{row.fit_seconds:.2f}", f"{row.score_seconds:.3f}")
    print_table(t)
    chosen = [(row.metric, row.split, row.chosen) for _, row in r.table.iterrows() if row.get("chosen")]
    if chosen:
        c = table("metric", "split", "what this row's fit chose", title="fits")
        for row in chosen:
            c.add_row(*row)
        print_table(c)
    lb = r.leaderboard
    if lb is not None:
        typer.echo(f"leaderboard: public {lb['public_fraction']:.0%} / private {1 - lb['public_fraction']:.0%} "
                   f"of the test pairs (seed {lb['seed']})")
        b = table("metric", "validation>", "public>", "private>")
        for n, a in lb["aurocs"].items():
            b.add_row(n, fmt(a["validation"]), fmt(a["public"]), fmt(a["private"]))
        print_table(b)
        typer.echo(f"verdict: {lb['verdict']}")
    for key, p in r.files.items():
        typer.echo(f"{key}: {p}")
    for key, p in r.plots.items():
        typer.echo(f"plot: {p}")


def evaluate(
    metrics: Annotated[
        str, typer.Option("--metrics", "-m", help="Comma-separated metric names or aliases (run 'metricbench metrics'), or all, distances, learned.")
    ] = DEFAULT_METRICS,
    data: Annotated[
        Optional[Path], typer.Option(help="Competition directory (default: the embedded LFW cross-quality one).")
    ] = None,
    out: Annotated[
        Optional[Path], typer.Option("--out", "-o", help="Run folder for the tables and plots (default: runs/<timestamp>).")
    ] = None,
    param: Annotated[
        Optional[list[str]], typer.Option("--param", "-p", metavar="METRIC:KEY=VALUE", help="METRIC:key=value parameter, typed; repeatable.")
    ] = None,
    holdout: Annotated[float, typer.Option(help="Share of train identities held out for validation, in (0, 1).")] = 0.2,
    val_pairs: Annotated[int, typer.Option(min=2, help="Validation pairs (half same identity).")] = 20000,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the split, pairs, bootstrap and public/private split.")] = 0,
    n_boot: Annotated[int, typer.Option(min=1, help="Bootstrap replicates of the AUROC interval.")] = 1000,
    test: Annotated[
        bool, typer.Option("--test/--no-test", help="Also evaluate on the test pairs when solution.csv exists.")
    ] = True,
    plot: Annotated[bool, typer.Option("--plot/--no-plot", help="Write ROC, DET and histogram PNGs.")] = True,
    force: Annotated[bool, typer.Option("--force", help="Replace an earlier run's files in --out.")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout.")] = False,
) -> None:
    from metricbench.evaluation.verification import DEFAULT_FARS

    if not [t for t in metrics.split(",") if t.strip()]:
        raise UserError("--metrics is empty; give comma-separated names such as euclidean,cosine")
    names = expand_metric_names(metrics)
    params = parse_metric_param_items(param, names)
    run_dir = out or Path("runs") / time.strftime("%Y%m%d-%H%M%S")
    with RichProgress(quiet=json_out) as hook:
        r = workflows.evaluate_competition(
            names, data, params=params, holdout=holdout, val_pairs=val_pairs, seed=seed, n_boot=n_boot,
            fars=DEFAULT_FARS, test=test, out=run_dir, overwrite=force, plot=plot, progress=hook,
        )
    if json_out:
        typer.echo(json.dumps(r.to_json(), indent=2, allow_nan=False))
        return
    _print(r, DEFAULT_FARS, test)


def register(app: typer.Typer) -> None:
    app.command("evaluate", cls=MetricbenchCommand, help=HELP)(evaluate)
