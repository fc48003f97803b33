"""``metricbench evaluate``: compare metrics on validation and test pairs; tables and plots into a run folder."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Annotated, Optional

import typer

from metricbench.cli.common import default_data_dir, fail, info, parse_value, reports_errors

DEFAULT_METRICS = "euclidean,cosine,cosine-whitened"


def _parse_metric_params(items: list[str] | None, names: list[str]) -> dict:
    """``--param METRIC:key=value`` -> ``{metric: {key: value}}``."""
    out: dict = {}
    for item in items or []:
        name, sep, kv = item.partition(":")
        key, sep2, value = kv.partition("=")
        if not sep or not sep2 or not key.strip():
            fail(f"--param {item!r} is not METRIC:key=value (for example cosine-whitened:n_components=64)")
        if name not in names:
            fail(f"--param {item!r} names metric {name!r}, which is not in --metrics")
        out.setdefault(name, {})[key.strip()] = parse_value(value.strip())
    return out


GROUPS = ("all", "distances", "learned")


def expand_metric_names(text: str) -> list[str]:
    """Comma-separated names; ``all``, ``distances`` and ``learned`` expand from the registry."""
    from metricbench.registry import registry

    reg = registry()
    out: list[str] = []
    for item in (t.strip() for t in text.split(",")):
        if not item:
            continue
        if item in GROUPS:
            kinds = {"all": ("distance", "learned"), "distances": ("distance",), "learned": ("learned",)}[item]
            out.extend(n for n, m in reg.items() if m.kind in kinds and n not in out)
        else:
            out.append(item)
    return out


def summary_markdown(table) -> str:
    """One row per metric: validation AUROC, test AUROC, fit and score seconds (markdown)."""
    lines = [
        "| metric | validation AUROC | test AUROC | fit s (validation / all train) | score s (validation / test) |",
        "|---|---|---|---|---|",
    ]
    for name in dict.fromkeys(table["metric"]):
        rows = {r["split"]: r for r in table[table["metric"] == name].to_dict(orient="records")}
        v, t = rows.get("validation", {}), rows.get("test", {})

        def f(r, key, fmt):
            x = r.get(key)
            return "n/a" if x is None or x != x else format(x, fmt)

        lines.append(
            f"| {name} | {f(v, 'auroc', '.4f')} | {f(t, 'auroc', '.4f')} | "
            f"{f(v, 'fit_seconds', '.1f')} / {f(t, 'fit_seconds', '.1f')} | "
            f"{f(v, 'score_seconds', '.2f')} / {f(t, 'score_seconds', '.2f')} |"
        )
    return "\n".join(lines) + "\n"


def _fmt(x, digits: int = 4) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    return f"{x:.{digits}f}"


def format_tables(table, fars) -> str:
    """One small text table per metric: a row for each split."""
    from metricbench.evaluation.verification import far_label

    lines = []
    far_heads = [f"TAR@{f:.0e}".replace("e-0", "e-") for f in fars]
    head = (
        f"  {'split':<11}{'AUROC [95% CI]':<27}"
        + "".join(f"{h:>10}" for h in far_heads)
        + f"{'EER':>9}{'fit s':>8}{'score s':>9}"
    )
    for name, g in table.groupby("metric", sort=False):
        chosen = g["chosen"].iloc[0] if "chosen" in g and g["chosen"].iloc[0] else ""
        lines.append(name + (f"  ({chosen})" if chosen else ""))
        lines.append(head)
        for _, r in g.iterrows():
            ci = f"{_fmt(r.auroc)} [{_fmt(r.auroc_low)}, {_fmt(r.auroc_high)}]"
            tars = "".join(f"{_fmt(r[far_label(f)]):>10}" for f in fars)
            lines.append(
                f"  {r.split:<11}{ci:<27}{tars}{_fmt(r.eer):>9}{r.fit_seconds:>8.2f}{r.score_seconds:>9.3f}"
            )
        lines.append("")
    return "\n".join(lines)


@reports_errors
def evaluate(
    metrics: Annotated[
        str, typer.Option("--metrics", "-m", help="Comma-separated metric names (run 'metricbench metrics'), or all, distances, learned.")
    ] = DEFAULT_METRICS,
    data: Annotated[
        Optional[Path], typer.Option(help="Competition directory (default: the embedded lfw-xq, shipped inside the package).")
    ] = None,
    out: Annotated[
        Optional[Path], typer.Option(help="Run folder for the tables and plots (default: runs/<timestamp>).")
    ] = None,
    param: Annotated[
        Optional[list[str]], typer.Option("--param", "-p", help="METRIC:key=value parameter; repeatable.")
    ] = None,
    holdout: Annotated[float, typer.Option(help="Share of train identities held out for validation.")] = 0.2,
    val_pairs: Annotated[int, typer.Option(help="Validation pairs (half same identity).")] = 20000,
    seed: Annotated[int, typer.Option(help="Seed of the split, pairs, bootstrap and public/private split.")] = 0,
    n_boot: Annotated[int, typer.Option(help="Bootstrap replicates of the AUROC interval.")] = 1000,
    test: Annotated[
        bool, typer.Option("--test/--no-test", help="Also evaluate on the test pairs when solution.csv exists.")
    ] = True,
    plot: Annotated[bool, typer.Option("--plot/--no-plot", help="Write ROC, DET and histogram PNGs.")] = True,
    json_out: Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout.")] = False,
) -> None:
    """Compare METRICS on identity-disjoint validation pairs and, with solution.csv, on the test pairs.

    Per metric: AUROC with a bootstrap interval, TAR@FAR, EER, fit and score time.

    Writes evaluation.csv, evaluation.json and ROC / DET / histogram PNGs into the run folder.

    Example: metricbench evaluate --metrics euclidean,cosine,cosine-whitened --out runs/demo
    """
    from metricbench.evaluation.compare import evaluate_metrics, json_safe
    from metricbench.evaluation.verification import DEFAULT_FARS
    from metricbench.io import atomic_write_text, load_competition
    from metricbench.registry import metric_info

    names = expand_metric_names(metrics)
    if not names:
        fail("--metrics is empty; give comma-separated names such as euclidean,cosine")
    if len(set(names)) != len(names):
        fail(f"--metrics lists a name twice: {metrics}")
    for n in names:
        metric_info(n)  # unknown names fail before any work
    params = _parse_metric_params(param, names)
    if n_boot < 1:
        fail(f"--n-boot must be at least 1, got {n_boot}")
    data = data or default_data_dir()
    comp = load_competition(data, validate=True)
    run_dir = out or Path("runs") / time.strftime("%Y%m%d-%H%M%S")

    ev = evaluate_metrics(
        names, comp, holdout=holdout, val_pairs=val_pairs, seed=seed, n_boot=n_boot,
        fars=DEFAULT_FARS, params=params, test=test, progress=info,
    )
    payload = ev.to_json()
    plots = {}
    if plot:
        from metricbench.evaluation.plots import save_verification_plots

        for split, curves in ev.curves.items():
            for kind, p in save_verification_plots(curves, run_dir, prefix=f"{split}_", title=split).items():
                plots[f"{split}_{kind}"] = str(p)
    payload["plots"] = plots
    csv_path = run_dir / "evaluation.csv"
    json_path = run_dir / "evaluation.json"
    atomic_write_text(csv_path, ev.table.to_csv(index=False))
    atomic_write_text(json_path, json.dumps(json_safe(payload), indent=2, allow_nan=False))
    payload["files"] = {"csv": str(csv_path), "json": str(json_path)}

    if json_out:
        typer.echo(json.dumps(json_safe(payload), indent=2, allow_nan=False))
        return
    s = ev.settings
    typer.echo(
        f"validation: {s['val_pairs']} pairs of {s['val_identities']} held-out identities "
        f"(metrics fitted on {s['fit_identities']} other identities)"
        + (f", pairs {s['cross_groups'][0]} vs {s['cross_groups'][1]}" if s.get("cross_groups") else "")
        + f", seed {seed}"
    )
    if "test" in ev.curves:
        typer.echo(f"test: {s['test_pairs']} pairs scored against solution.csv (metrics fitted on all of train)")
    elif test and comp.solution is None:
        typer.echo("test: no solution.csv, test pairs not evaluated")
    typer.echo("")
    typer.echo(format_tables(ev.table, DEFAULT_FARS))
    lb = ev.leaderboard
    if lb is not None:
        typer.echo(
            f"leaderboard: public {lb['public_fraction']:.0%} / private {1 - lb['public_fraction']:.0%} "
            f"of the test pairs (seed {lb['seed']})"
        )
        for n, a in lb["aurocs"].items():
            typer.echo(
                f"  {n:<24} validation {a['validation']:.4f}  public {a['public']:.4f}  private {a['private']:.4f}"
            )
        typer.echo(f"verdict: {lb['verdict']}")
    summary_path = run_dir / "summary.md"
    atomic_write_text(summary_path, summary_markdown(ev.table))
    typer.echo("")
    typer.echo(summary_markdown(ev.table))
    typer.echo(f"table: {csv_path}  {json_path}  {summary_path}")
    for key, p in plots.items():
        typer.echo(f"plot: {p}")


def register(app: typer.Typer) -> None:
    app.command("evaluate")(evaluate)
