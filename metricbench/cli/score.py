"""``metricbench score``: parse, call :func:`metricbench.workflows.score_competition`, print."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from metricbench import workflows
from metricbench.cli.common import (EngineOption, JsonOption, MetricbenchCommand, ParamOption, RichProgress,
                                    SchedulerOption, UserError, engine_from_options, fmt, print_table, table)
from metricbench.registry import metric_info, parse_metric_params
from metricbench.workflows.data import default_data_dir
from metricbench.workflows.outputs import default_submission_path

HELP = """Fit METRIC on train, score every test pair and write a Kaggle submission (Id,Predicted).

Prints the identity-disjoint validation AUROC (fitted on the other train identities) and, with solution.csv, the test AUROC (fitted on all of train), each beside the sqeuclidean baseline on the same pairs.

The default submission name records every non-default setting (submissions/cosine-whitened_n_components=64.csv), and an existing file is never replaced without --force.

Examples:

  metricbench score --metric cosine-whitened

  metricbench score -m lda-cosine -p n_components=64 --data path/to/competition

  metricbench score -m cosine --norm as-norm --out my-submission.csv --json
"""


def _metric_help() -> str:
    return "Metric name or alias (run 'metricbench metrics')."


def score(
    metric: Annotated[str, typer.Option("--metric", "-m", help=_metric_help())] = "cosine-whitened",
    data: Annotated[
        Optional[Path], typer.Option(help="Competition directory (default: the embedded LFW cross-quality one).")
    ] = None,
    out: Annotated[
        Optional[Path],
        typer.Option("--out", "-o", help="Submission CSV (default: submissions/<metric>[_<setting>=<value>...].csv)."),
    ] = None,
    param: ParamOption = None,
    norm: Annotated[
        Optional[str],
        typer.Option(help="Score normalisation against a train cohort: s-norm or as-norm (adaptive, top-k cohort)."),
    ] = None,
    similarity: Annotated[
        bool, typer.Option("--similarity", help="Write scores (larger = more alike) instead of distances.")
    ] = False,
    validate: Annotated[
        bool, typer.Option("--validate/--no-validate", help="Report identity-disjoint validation AUROC.")
    ] = True,
    holdout: Annotated[float, typer.Option(help="Share of train identities held out for validation, in (0, 1).")] = 0.2,
    val_pairs: Annotated[int, typer.Option(min=2, help="Validation pairs (half same identity).")] = 20000,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the validation split and pair sampling.")] = 0,
    save_metric: Annotated[Optional[Path], typer.Option(help="Also save the fitted metric (.npz) here.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing submission or saved metric.")] = False,
    json_out: JsonOption = False,
    config: Annotated[
        Optional[Path], typer.Option(help="Re-run a configuration saved by 'metricbench auto' (replaces --metric).")
    ] = None,
    engine: EngineOption = "local",
    scheduler: SchedulerOption = None,
) -> None:
    if config is not None:
        return _score_config(config, data, out, param, norm, similarity, json_out, force)
    name = metric_info(metric).name
    params = parse_metric_params(name, param)
    if out is None:
        out = default_submission_path(name, params, norm=norm, similarity=similarity,
                                      seed=seed if (norm and seed != 0) else None,
                                      prefix="" if data is None else f"{Path(data).name}_")

    with engine_from_options(engine, scheduler) as eng, RichProgress(quiet=json_out) as hook:
        r = workflows.score_competition(
            name, data, params=params, norm=norm, similarity=similarity, validate=validate, holdout=holdout,
            val_pairs=val_pairs, seed=seed, out=out, overwrite=force, save_metric=save_metric, progress=hook, engine=eng,
        )
    if json_out:
        typer.echo(json.dumps(r.to_json(), indent=2, default=float))
        return
    t = table("split", "AUROC>", "sqeuclidean>", "fitted on", "scored on", title=f"metric  {r.label}")
    if r.validation is not None:
        v = r.validation
        cg = f", {v.cross_groups[0]} vs {v.cross_groups[1]}" if v.cross_groups else ""
        t.add_row("validation", fmt(v.auroc), fmt(v.baseline_auroc),
                  f"{v.n_fit_identities} train identities", f"{v.n_pairs} pairs of {v.n_held_out_identities} "
                  f"held-out identities{cg}, seed {v.seed}")
    if r.test is not None:
        t.add_row("test", fmt(r.test.auroc), fmt(r.test.baseline_auroc), f"all {r.n_train} train rows",
                  f"{r.n_test_pairs} test pairs (solution.csv)")
    if t.row_count:
        print_table(t)
    if r.validation is not None and r.validation.chosen:
        typer.echo(f"validation fit chose  {r.validation.chosen}")
    if r.chosen:
        typer.echo(f"final fit chose       {r.chosen}")
    if r.fitted_on != "this process":
        typer.echo(f"fitted from           {r.fitted_on}")
    typer.echo(f"submission  {r.submission}  ({r.n_test_pairs} rows, Predicted = {r.predicted})")
    if r.saved_metric:
        typer.echo(f"saved metric  {r.saved_metric}")


def _score_config(config, data, out, param, norm, similarity, json_out, force=False) -> None:
    """``score --config FILE``: the library re-runs the saved configuration; this only prints."""
    from metricbench.auto.config import config_label
    from metricbench.auto.workflow import rerun_config

    if param or norm:
        raise UserError("--config gives the metric, its parameters and normalisation: drop --param / --norm")
    data = data or default_data_dir()
    run, path = rerun_config(config, data, out, similarity=similarity, overwrite=force)
    summary = {"config": str(config), "metric": config_label(run.config), "data": str(data), "submission": str(path),
               "fit_seconds": run.fit_seconds, "score_seconds": run.score_seconds, "test_auroc": run.test_auroc,
               "selection": run.config.get("selection")}
    if json_out:
        typer.echo(json.dumps(summary, indent=2, default=float))
        return
    sel = run.config.get("selection") or {}
    typer.echo(f"metric        {summary['metric']}  (from {config})")
    if "outer_auroc" in sel:
        typer.echo(f"validation    AUROC {sel['outer_auroc']:.4f}   (outer identities, as 'auto' judged it)")
    if run.test_auroc is not None:
        typer.echo(f"test          AUROC {run.test_auroc:.4f}   (from solution.csv)")
    typer.echo(f"submission    {path}  ({run.ids.size} rows, Predicted = {'similarity' if similarity else 'distance'})")


def register(app: typer.Typer) -> None:
    app.command("score", cls=MetricbenchCommand, help=HELP)(score)
