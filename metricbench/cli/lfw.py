"""``metricbench lfw``: the LFW 10-fold verification protocol on a pairs file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from metricbench.cli.common import alias_options, fail, reports_errors


@reports_errors
def lfw(
    pairs: Annotated[
        Path, typer.Argument(help="LFW pairs file: the official pairs.txt, or a CSV fold,name1,num1,name2,num2,same.")
    ],
    embeddings: Annotated[Path, typer.Option("--embeddings", "-e", help="Embeddings .npy, one row per image.")],
    labels: Annotated[
        Path, typer.Option("--labels", "-l", help="CSV with a path column (Name/Name_0001.jpg), row i = embedding row i.")
    ],
    metric: Annotated[
        str, typer.Option("--metric", "-m", help="A fixed distance (euclidean, cosine, ...; see metricbench metrics).")
    ] = "euclidean",
    load_metric: Annotated[
        Optional[Path], typer.Option(help="A fitted metric saved by score --save-metric (replaces --metric).")
    ] = None,
    fars: Annotated[str, typer.Option(help="Comma-separated false accept rates of the TAR@FAR points.")] = "1e-1,1e-2,1e-3",
    skip_missing: Annotated[
        bool, typer.Option("--skip-missing", help="Drop pairs whose images have no embedding (default: error).")
    ] = False,
    n_boot: Annotated[int, typer.Option(help="Bootstrap replicates of the AUROC interval.")] = 1000,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the bootstrap.")] = 0,
    json_out: Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout.")] = False,
) -> None:
    """LFW protocol: per-fold accuracy (threshold chosen on the other folds), mean +- std, AUROC with a 95 %
    bootstrap interval, and TAR at each FAR.

    Example (files made from the embedded default):
    python scripts/make_lfw_demo.py runs/lfw-demo &&
    metricbench lfw runs/lfw-demo/pairs.csv -e runs/lfw-demo/embeddings.npy -l runs/lfw-demo/labels.csv -m cosine
    """
    from metricbench.evaluation.lfw import lfw_verification

    try:
        far_list = [float(f) for f in fars.split(",") if f.strip()]
    except ValueError:
        fail(f"--fars takes comma-separated numbers such as 1e-1,1e-2, got {fars!r}")
    if any(not 0 < f <= 1 for f in far_list):
        fail(f"--fars must lie in (0, 1], got {fars!r}")
    if n_boot < 1:
        fail(f"--n-boot must be at least 1, got {n_boot}")
    alias_options(missing="skip_missing")
    used = metric
    if load_metric is not None:
        from metricbench.learn.base import load_metric as _load

        used = _load(load_metric)
    res = lfw_verification(
        embeddings, labels, pairs, metric=used, missing="skip" if skip_missing else "error",
        n_boot=n_boot, seed=seed, fars=far_list,
    )
    name = getattr(used, "name", used)
    if json_out:
        out = {k: v for k, v in res.items()}
        out["tar_at_far"] = {f"{f:g}": (None if t != t else t) for f, t in res["tar_at_far"].items()}
        out["metric"] = str(name)
        typer.echo(json.dumps(out, indent=2))
        return
    typer.echo(f"metric    {name}")
    typer.echo(
        f"pairs     {res['n_pairs']} ({res['n_same']} same) in {len(res['folds'])} folds"
        + (f"; {res['n_skipped']} skipped (images without an embedding)" if res["n_skipped"] else "")
    )
    typer.echo("fold  accuracy  threshold (distance)")
    for f, a, t in zip(res["folds"], res["accuracies"], res["thresholds"]):
        typer.echo(f"{f:>4}  {a:8.4f}  {t:.6g}")
    typer.echo(f"accuracy  {res['mean']:.4f} +- {res['std']:.4f}  (mean +- std over folds)")
    typer.echo(f"AUROC     {res['auroc']:.4f}  [{res['auroc_low']:.4f}, {res['auroc_high']:.4f}]  (95 % bootstrap, {n_boot} replicates)")
    for f, t in res["tar_at_far"].items():
        shown = "n/a (too few different pairs)" if t != t else f"{t:.4f}"
        typer.echo(f"TAR@FAR={f:g}  {shown}")


def register(app: typer.Typer) -> None:
    app.command("lfw")(lfw)
