"""``metricbench retrieve``: parse, call :func:`metricbench.workflows.retrieve`, print."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from metricbench import workflows
from metricbench.cli.common import (EngineOption, JsonOption, MetricbenchCommand, ParamOption, RichProgress,
                                    SchedulerOption, UserError, engine_from_options, print_table, table)
from metricbench.registry import metric_info, parse_metric_params
from metricbench.workflows.outputs import default_submission_path

HELP = """Rank the gallery for every query with METRIC (exact, chunked) and write the top k.

CSV rows: QueryId (row index, or path with --names), Predicted (gallery rows best first, space-separated). JSON: {query: [gallery, ...]}. A learned metric is fitted on the train set of --data.

With --query-labels and --gallery-labels, prints top-1/5/10 accuracy, precision@1, R-precision, mAP@R, mAP. An existing output file is never replaced without --force.

Examples:

  metricbench retrieve -m cosine -q query.npy -g gallery.npy -k 10 --query-labels query.csv --gallery-labels gallery.csv

  metricbench retrieve -m cosine-whitened --data path/to/competition -q query.npy -g gallery.npy --format json --out top10.json
"""


class Format(str, Enum):
    csv = "csv"
    json = "json"


class Backend(str, Enum):
    metricbench = "metricbench"
    faiss = "faiss"


def retrieve(
    metric: Annotated[str, typer.Option("--metric", "-m", help="Metric name or alias (run 'metricbench metrics').")] = "cosine",
    query: Annotated[Path, typer.Option("--query", "-q", help="Query embeddings (.npy, n_queries x d).")] = ...,
    gallery: Annotated[Path, typer.Option("--gallery", "-g", help="Gallery embeddings (.npy, n_gallery x d).")] = ...,
    k: Annotated[int, typer.Option("-k", "--k", min=1, help="Gallery rows returned per query.")] = 10,
    out: Annotated[
        Optional[Path],
        typer.Option("--out", "-o", help="Output file (default: submissions/retrieve-<metric>[_<setting>=<value>...].csv or .json)."),
    ] = None,
    fmt_: Annotated[Format, typer.Option("--format", help="csv (QueryId,Predicted) or json ({query: [gallery, ...]}).")] = Format.csv,
    names: Annotated[
        bool, typer.Option("--names", help="Write image paths from the labels CSVs' path column instead of row indices.")
    ] = False,
    identities: Annotated[
        bool,
        typer.Option("--identities", help="Predicted = the k nearest distinct identities (class column of "
                     "--gallery-labels, e.g. names), best first, instead of gallery rows."),
    ] = False,
    query_labels: Annotated[Optional[Path], typer.Option(help="index,class[,path] CSV of the query rows.")] = None,
    gallery_labels: Annotated[Optional[Path], typer.Option(help="index,class[,path] CSV of the gallery rows.")] = None,
    data: Annotated[Optional[Path], typer.Option(help="Competition directory whose train set fits a learned metric.")] = None,
    param: ParamOption = None,
    exclude_self: Annotated[
        bool, typer.Option("--exclude-self", help="Query and gallery are the same rows: never return the query itself.")
    ] = False,
    working_memory: Annotated[
        Optional[float], typer.Option(min=1, help="MiB for one query x gallery distance block (default 512).")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing output file.")] = False,
    json_out: JsonOption = False,
    backend: Annotated[
        Backend, typer.Option("--backend", help="Top-k engine: metricbench (exact ranking) or faiss (faiss-cpu's flat "
                              "index, the 'faiss' extra; float32, not exact on near-ties).")
    ] = Backend.metricbench,
    engine: EngineOption = "local",
    scheduler: SchedulerOption = None,
) -> None:
    info = metric_info(metric)
    fmt = fmt_.value
    if (query_labels is None) != (gallery_labels is None) and not names:
        raise UserError("give both --query-labels and --gallery-labels to compute retrieval measures")
    if identities and gallery_labels is None:
        raise UserError("--identities needs --gallery-labels (index,class: the class column names the identities)")
    if names and gallery_labels is None:
        raise UserError("--names needs --gallery-labels with a path column (index,class,path)")
    if info.kind == "learned" and data is None:
        raise UserError(f"metric {info.name!r} learns from labelled data: pass --data DIR (a competition with a train set)")
    if backend == Backend.faiss and engine != "local":
        raise UserError("--backend faiss searches on this machine, --engine dask on the workers with metricbench's "
                        "exact top-k: give one of them")
    params = parse_metric_params(info.name, param)
    if out is None:
        out = default_submission_path(f"retrieve-{info.name}", params, ext=fmt, k=k if k != 10 else None,
                                      names=names, identities=identities, exclude_self=exclude_self)

    with engine_from_options(engine, scheduler) as eng, RichProgress(quiet=json_out) as hook:
        r = workflows.retrieve(query, gallery, metric=info.name, k=k, params=params, query_labels=query_labels,
                               gallery_labels=gallery_labels, names=names, identities=identities, data=data,
                               exclude_self=exclude_self, working_memory=working_memory, out=out, fmt=fmt,
                               overwrite=force, progress=hook, engine=eng, backend=backend.value)
    if json_out:
        typer.echo(json.dumps(r.to_json(), indent=2))
        return
    typer.echo(f"metric     {r.metric}")
    if r.fit_seconds is not None:
        typer.echo(f"fitted on  {r.fitted_on} ({r.fit_seconds:.1f} s)" + (f"; chose {r.chosen}" if r.chosen else ""))
    typer.echo(f"searched   {r.n_queries} queries x {r.n_gallery} gallery rows, top {r.indices.shape[1]} "
               f"({r.search_seconds:.2f} s)" + ("" if r.exact else f"; backend {r.backend}: not exact on near-ties"))
    if r.measures is not None:
        m = r.measures
        typer.echo(f"queries    {m['n_queries_evaluated']} evaluated, {m['n_queries_no_match']} without a gallery "
                   "match (excluded)")
        t = table(*[f"top-{kk}>" for kk in r.ks], "precision@1>", "R-precision>", "mAP@R>", "mAP>",
                  title="retrieval (exact ranks over the whole gallery)")
        t.add_row(*[f"{m[f'top{kk}_accuracy']:.4f}" for kk in r.ks], f"{m['precision_at_1']:.4f}",
                  f"{m['r_precision']:.4f}", f"{m['map_at_r']:.4f}", f"{m['map']:.4f}")
        print_table(t)
    typer.echo(f"output     {r.output}  ({r.n_queries} rows, {r.format})")


def register(app: typer.Typer) -> None:
    app.command("retrieve", cls=MetricbenchCommand, help=HELP)(retrieve)
