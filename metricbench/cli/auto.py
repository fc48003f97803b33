"""``metricbench auto``: search metrics and settings within a time budget, write the best submission."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from metricbench.cli.common import default_data_dir, reports_errors
from metricbench.errors import InputError


@reports_errors
def auto(
    data: Annotated[
        Optional[Path], typer.Option(help="Competition directory (default: the embedded data/lfw-xq).")
    ] = None,
    budget: Annotated[
        str, typer.Option(help="Wall-clock budget for everything: 10m, 90s, 1h30m or seconds.")
    ] = "10m",
    metrics: Annotated[
        Optional[str],
        typer.Option(help="Comma-separated metric names to search (default: every family auto knows)."),
    ] = None,
    out: Annotated[
        Path, typer.Option(help="Submission CSV; <stem>.config.json and <stem>.report.md are written beside it.")
    ] = Path("submissions/auto.csv"),
    seed: Annotated[int, typer.Option(min=0, help="Seed of the splits, the pairs, the sampler and every metric.")] = 0,
    trials: Annotated[
        Optional[int], typer.Option(help="Also stop after this many optuna trials (reproducible short runs).")
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace an existing submission, configuration or report.")
    ] = False,
) -> None:
    """Try metrics, settings and fusions on nested identity-disjoint validation; write the best submission.

    The figure reported for the winner is its AUROC on outer identities that no candidate was
    chosen on. Ctrl-C stops the search and writes the best configuration so far.

    Example: metricbench auto --budget 10m --out submissions/auto.csv
    """
    from metricbench.auto.search import parse_budget
    from metricbench.auto.space import default_families, select_families

    seconds = parse_budget(budget)
    if trials is not None and trials < 1:
        raise InputError(f"trials must be at least 1, got {trials}")
    if metrics is not None:
        select_families(default_families(128), metrics)  # unknown names fail before any work
    data = data or default_data_dir()
    command = "metricbench auto" + "".join(
        f" {k} {v}" for k, v in (("--data", data), ("--budget", budget), ("--metrics", metrics), ("--out", out),
                                 ("--seed", seed), ("--trials", trials)) if v is not None
    )
    run = _run_with_progress(data, seconds, metrics, out, seed, trials, command, force)
    _print_report(run)


def _run_with_progress(data, seconds, metrics, out, seed, trials, command, force=False):
    from rich.console import Console
    from rich.markup import escape
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from metricbench.auto.workflow import run_auto

    console = Console(stderr=True, width=max(Console(stderr=True).width, 140))
    progress = Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.fields[best]}"), TimeElapsedColumn(),
        console=console, transient=True, disable=not console.is_terminal,  # off a terminal: no bar, no blank line
    )
    state = {"best": None, "task": None, "fusions": 0}

    def on_event(event, **kw):
        task = state["task"]
        if event == "phase" and task is not None:
            progress.update(task, description=kw["text"][:60])
        elif event == "phase":
            console.print(kw["text"])
        elif event == "candidate":
            c = kw["candidate"]
            if task is not None:
                progress.update(task, completed=min(kw["elapsed"], seconds))
            if c.status == "complete" and (state["best"] is None or c.inner_auroc > state["best"].inner_auroc):
                state["best"] = c
                if task is not None:
                    progress.update(task, best=f"best inner {c.inner_auroc:.4f}")
            if c.kind == "fusion":
                state["fusions"] += 1
                return
            fig = f"{c.inner_auroc:.4f}" if c.fold_aurocs else "  -   "
            console.print(f"{kw['elapsed']:6.0f} s  #{c.id:<4d} {c.status:8s} inner {fig}  fit {c.fit_seconds:5.1f} s  "
                          f"{escape(c.label)}" + (f"  [dim]{escape(c.note)}[/dim]" if c.note and c.status != "complete" else ""))

    with progress:
        state["task"] = progress.add_task("searching", total=seconds, best="")
        run = run_auto(data, budget=seconds, n_trials=trials, metrics=metrics, out=out, seed=seed, overwrite=force,
                       progress=on_event, command=command)
    if state["fusions"]:
        console.print(f"{state['fusions']} fusions of the best candidates scored from the stored fold scores")
    return run


def _print_report(run, top: int = 20) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from metricbench.auto.workflow import rows

    r, f = run.result, run.final
    console = Console(width=max(Console().width, 140))
    table = Table(title=f"metricbench auto: {sum(c.status == 'complete' for c in r.candidates)} candidates "
                        f"compared on inner folds (top {top}; all in the report)")
    for col, kw in (("rank", {"justify": "right"}), ("candidate", {}), ("fit s", {"justify": "right"}),
                    ("inner AUROC", {"justify": "right"}), ("interval", {}), ("status", {})):
        table.add_column(col, **kw)
    for row in rows(r)[:top]:
        style = "bold green" if row["winner"] else None
        table.add_row(str(row["rank"] or ""), escape(f"#{row['id']} {row['short']}"), f"{row['fit_s']:.1f}", f"{row['inner']:.4f}",
                      f"{row['low']:.4f} - {row['high']:.4f}", row["status"], style=style)
    console.print(table)
    console.print(f"winner        {escape(r.winner.label)}")
    console.print(f"inner AUROC   {r.winner.inner_auroc:.4f}   (best of {len(r.ranked())}: selection-biased, "
                  "not the estimate)")
    console.print(f"outer AUROC   {r.outer_auroc:.4f}   (95 % bootstrap {r.outer_interval[0]:.4f} - "
                  f"{r.outer_interval[1]:.4f}; fitted on the search identities, judged on "
                  f"{r.split['outer_identities']} held-out ones: the reported figure)")
    if f.test_auroc is not None:
        console.print(f"test AUROC    {f.test_auroc:.4f}   (from solution.csv; never used to choose)")
    stop = r.stopped_because or "sampler done"
    console.print(f"time          {run.seconds:.0f} s of {r.budget:.0f} s budget; {r.n_trials} optuna trials; "
                  f"search stopped: {stop}" if r.budget is not None else f"time          {run.seconds:.0f} s")
    if r.interrupted:
        console.print("[yellow]interrupted: the best configuration so far was written[/yellow]")
    console.print(f"submission    {run.submission}  ({f.ids.size} rows, Predicted = distance)")
    console.print(f"config        {run.config_path}  (re-run: metricbench score --config {run.config_path})")
    console.print(f"report        {run.report_path}")


def register(app: typer.Typer) -> None:
    app.command("auto")(auto)
