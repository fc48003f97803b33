"""``metricbench score``: fit a metric on train, score every test pair, write the submission."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from metricbench.cli.common import Stage, default_data_dir, info, parse_params, reports_errors
from metricbench.registry import metric_names


def _metric_help() -> str:
    return "Metric name (run 'metricbench metrics'): " + ", ".join(metric_names()) + "."


@reports_errors
def score(
    metric: Annotated[str, typer.Option("--metric", "-m", help=_metric_help())] = "cosine-whitened",
    data: Annotated[
        Optional[Path], typer.Option(help="Competition directory (default: the embedded lfw-xq, shipped inside the package).")
    ] = None,
    out: Annotated[Optional[Path], typer.Option(help="Submission CSV (default: submissions/<metric>.csv).")] = None,
    param: Annotated[
        Optional[list[str]], typer.Option("--param", "-p", help="Metric parameter key=value; repeatable.")
    ] = None,
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
    holdout: Annotated[float, typer.Option(help="Share of train identities held out for validation.")] = 0.2,
    val_pairs: Annotated[int, typer.Option(help="Validation pairs (half same identity).")] = 20000,
    seed: Annotated[int, typer.Option(help="Seed of the validation split and pair sampling.")] = 0,
    save_metric: Annotated[
        Optional[Path], typer.Option(help="Also save the fitted metric (.npz) here.")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the summary as JSON on stdout.")] = False,
    config: Annotated[
        Optional[Path], typer.Option(help="Re-run a configuration saved by 'metricbench auto' (replaces --metric).")
    ] = None,
) -> None:
    """Fit METRIC on train, score every test pair and write a Kaggle submission (Id,Predicted).

    Example: metricbench score --metric cosine-whitened --data path/to/competition
    """
    if config is not None:
        return _score_config(config, data or default_data_dir(), out, param, norm, similarity, json_out)
    from metricbench.evaluation.validation import roc_auc, validate_metric
    from metricbench.io import load_competition, write_submission
    from metricbench.registry import get_metric, metric_info

    metric_info(metric)  # unknown names fail here, before any work
    params = parse_params(param)

    def build():
        if norm is None:
            return get_metric(metric, **params)
        from metricbench.learn.norm import apply_norm

        return apply_norm(metric, norm, metric_params=params or None, seed=seed)

    build()  # bad parameters / --norm fail here too
    data = data or default_data_dir()
    comp = load_competition(data)
    with Stage(f"loading {data}"):
        comp.validate()
    Xtr, ytr, groups = comp.train_X, comp.train_y, comp.train_groups
    pairs = comp.pairs
    summary: dict = {
        "metric": metric,
        "params": params,
        "norm": norm,
        "data": str(data),
        "n_train": int(Xtr.shape[0]),
        "n_test_pairs": int(len(pairs)),
        "seed": seed,
    }
    out = out or Path("submissions") / f"{metric}{'+' + norm if norm else ''}.csv"

    if validate:
        with Stage(f"validating {metric} on held-out identities"):
            images = comp.train_images
            val = validate_metric(
                build(), Xtr, ytr, holdout=holdout, seed=seed, n_pairs=val_pairs, groups=groups, images=images
            )
            base = validate_metric(
                "sqeuclidean", Xtr, ytr, holdout=holdout, seed=seed, n_pairs=val_pairs, groups=groups, images=images
            )
        summary["validation"] = {
            "auroc": val.auroc,
            "baseline_sqeuclidean_auroc": base.auroc,
            "n_pairs": val.n_pairs,
            "held_out_identities": val.n_val_identities,
            "cross_groups": list(val.cross_groups) if val.cross_groups else None,
        }

    m = build()
    with Stage(f"fitting {metric} on {Xtr.shape[0]} x {Xtr.shape[1]} train embeddings") as st:
        fit_kw = {"groups": groups} if (groups is not None and m.learns) else {}
        m.fit(Xtr, ytr, **fit_kw)
    summary["fit_seconds"] = st.seconds
    if m.describe():
        summary["chosen"] = m.describe()
    i1 = pairs["index1"].to_numpy()
    i2 = pairs["index2"].to_numpy()
    with Stage(f"scoring {len(pairs)} test pairs") as st:
        dist = m.pair_distance(comp.test_X, i1, i2)
    summary["score_seconds"] = st.seconds
    pred = -dist if similarity else dist
    write_submission(out, pairs["Id"].to_numpy(), pred)
    summary["submission"] = str(out)
    summary["predicted"] = "similarity (larger = more alike)" if similarity else "distance (larger = less alike)"

    if comp.solution is not None:
        base_d = get_metric("sqeuclidean").pair_distance(comp.test_X, i1, i2)
        summary["test"] = {
            "auroc": roc_auc(comp.solution, -dist),
            "baseline_sqeuclidean_auroc": roc_auc(comp.solution, -base_d),
        }
    if save_metric is not None and m.learns:
        summary["saved_metric"] = str(m.save(save_metric))

    if json_out:
        typer.echo(json.dumps(summary, indent=2, default=float))
        return
    label = metric + (f" + {norm}" if norm else "")
    typer.echo(f"metric        {label}" + (f"  ({summary['chosen']})" if "chosen" in summary else ""))
    if validate:
        v = summary["validation"]
        cg = f", pairs {v['cross_groups'][0]} vs {v['cross_groups'][1]}" if v["cross_groups"] else ""
        typer.echo(
            f"validation    AUROC {v['auroc']:.4f}   (sqeuclidean baseline {v['baseline_sqeuclidean_auroc']:.4f}; "
            f"{v['n_pairs']} pairs of {v['held_out_identities']} held-out identities{cg}, seed {seed})"
        )
    if "test" in summary:
        t = summary["test"]
        typer.echo(
            f"test          AUROC {t['auroc']:.4f}   (sqeuclidean baseline {t['baseline_sqeuclidean_auroc']:.4f}; "
            "from solution.csv)"
        )
    typer.echo(f"submission    {out}  ({len(pairs)} rows, Predicted = {summary['predicted']})")


def _score_config(config, data, out, param, norm, similarity, json_out) -> None:
    """``score --config FILE``: the library re-runs the saved configuration; this only prints."""
    from metricbench.auto.config import config_label
    from metricbench.auto.workflow import rerun_config
    from metricbench.errors import InputError

    if param or norm:
        raise InputError("--config gives the metric, its parameters and normalisation: drop --param / --norm")
    run, path = rerun_config(config, data, out, similarity=similarity)
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
    app.command("score")(score)
