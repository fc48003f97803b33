"""``metricbench retrieve``: exact top-k gallery rows per query, written as a submission."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import numpy as np
import typer

from metricbench.cli.common import Stage, fail, info, parse_params, reports_errors
from metricbench.registry import metric_names


def _metric_help() -> str:
    return "Metric name (run 'metricbench metrics'): " + ", ".join(metric_names()) + "."


def _read_side(path: Path, n_rows: int, side: str):
    """Labels (``index,class``) of one side, and its ``path`` column when present."""
    from metricbench.io import load_labels

    y, df = load_labels(path, n_rows=n_rows, extra_columns=True)
    paths = df["path"].astype(str).to_numpy() if "path" in df.columns else None
    return y, paths


@reports_errors
def retrieve(
    metric: Annotated[str, typer.Option("--metric", "-m", help=_metric_help())] = "cosine",
    query: Annotated[Path, typer.Option("--query", "-q", help="Query embeddings (.npy, n_queries x d).")] = ...,
    gallery: Annotated[Path, typer.Option("--gallery", "-g", help="Gallery embeddings (.npy, n_gallery x d).")] = ...,
    k: Annotated[int, typer.Option("-k", "--k", help="Gallery rows returned per query.")] = 10,
    out: Annotated[
        Optional[Path], typer.Option(help="Output file (default: submissions/retrieve-<metric>.csv or .json).")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="csv (QueryId,Predicted) or json ({query: [gallery, ...]}).")] = "csv",
    names: Annotated[
        bool,
        typer.Option("--names", help="Write image paths from the labels CSVs' path column instead of row indices."),
    ] = False,
    identities: Annotated[
        bool,
        typer.Option("--identities", help="Predicted = the k nearest distinct identities (class column of "
                     "--gallery-labels, e.g. names), best first, instead of gallery rows."),
    ] = False,
    query_labels: Annotated[
        Optional[Path], typer.Option(help="index,class[,path] CSV of the query rows.")
    ] = None,
    gallery_labels: Annotated[
        Optional[Path], typer.Option(help="index,class[,path] CSV of the gallery rows.")
    ] = None,
    data: Annotated[
        Optional[Path], typer.Option(help="Competition directory whose train set fits a learned metric.")
    ] = None,
    param: Annotated[
        Optional[list[str]], typer.Option("--param", "-p", help="Metric parameter key=value; repeatable.")
    ] = None,
    exclude_self: Annotated[
        bool, typer.Option("--exclude-self", help="Query and gallery are the same rows: never return the query itself.")
    ] = False,
    working_memory: Annotated[
        Optional[float], typer.Option(help="MiB for one query x gallery distance block (default 512).")
    ] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the summary as JSON on stdout.")] = False,
) -> None:
    """Rank the gallery for every query with METRIC (exact, chunked) and write the top k.

    CSV rows: QueryId (row index, or path with --names), Predicted (gallery rows best first, space-separated).

    With --query-labels and --gallery-labels, prints top-1/5/10 accuracy, precision@1, R-precision, mAP@R, mAP.

    Example: metricbench retrieve -m cosine -q q.npy -g g.npy -k 10 --query-labels q.csv --gallery-labels g.csv
    """
    from metricbench.evaluation.retrieval import retrieval_metrics_from_embeddings, search
    from metricbench.io import atomic_write_text, load_competition, load_embeddings
    from metricbench.registry import get_metric, metric_info

    info_ = metric_info(metric)
    if fmt not in ("csv", "json"):
        fail(f"--format must be csv or json, got {fmt!r}")
    if k < 1:
        fail(f"-k must be at least 1, got {k}")
    if (query_labels is None) != (gallery_labels is None) and not names:
        fail("give both --query-labels and --gallery-labels to compute retrieval measures")
    params = parse_params(param)
    Q = load_embeddings(query)
    G = load_embeddings(gallery)
    if Q.shape[1] != G.shape[1]:
        fail(f"{query} is {Q.shape[1]}-D but {gallery} is {G.shape[1]}-D; both must come from the same network")
    if exclude_self and Q.shape[0] != G.shape[0]:
        fail(f"--exclude-self needs query and gallery of the same rows ({Q.shape[0]} vs {G.shape[0]})")
    yq = qpaths = yg = gpaths = None
    if query_labels is not None:
        yq, qpaths = _read_side(query_labels, Q.shape[0], "query")
    if gallery_labels is not None:
        yg, gpaths = _read_side(gallery_labels, G.shape[0], "gallery")
    if names and gpaths is None and not identities:
        fail("--names needs --gallery-labels with a path column (index,class,path)")
    if identities and yg is None:
        fail("--identities needs --gallery-labels (index,class: the class column names the identities)")

    m = get_metric(metric, **params)
    summary: dict = {"metric": metric, "params": params, "k": int(k), "n_queries": int(Q.shape[0]),
                     "n_gallery": int(G.shape[0]), "exclude_self": exclude_self}
    if info_.kind == "learned" or m.learns:
        if data is None:
            fail(f"metric {metric!r} learns from labelled data: pass --data DIR (a competition with a train set)")
        comp = load_competition(data)
        Xtr, ytr, groups = comp.train_X, comp.train_y, comp.train_groups
        if Xtr.shape[1] != Q.shape[1]:
            fail(f"{data}: train embeddings are {Xtr.shape[1]}-D but the queries are {Q.shape[1]}-D")
        with Stage(f"fitting {metric} on {Xtr.shape[0]} train rows") as st:
            m.fit(Xtr, ytr, **({"groups": groups} if groups is not None else {}))
        summary["fit_seconds"] = st.seconds
        if m.describe():
            summary["chosen"] = m.describe()

    with Stage(f"searching top-{k} of {G.shape[0]} gallery rows for {Q.shape[0]} queries") as st:
        idx, _ = search(Q, G, k, metric=m,
                           exclude_self=exclude_self, working_memory=working_memory)
    summary["search_seconds"] = st.seconds
    ranked = None
    if identities:
        from metricbench.evaluation.retrieval import search_identities

        ranked, _ = search_identities(Q, G, yg, k, metric=m, exclude_self=exclude_self,
                                      working_memory=working_memory)
        ranked = np.where(ranked == None, "", ranked).astype(str)  # noqa: E711 (object array)

    qids = qpaths if (names and qpaths is not None) else np.arange(Q.shape[0]).astype(str)
    gnames = gpaths if names else None
    if out is None:
        out = Path("submissions") / f"retrieve-{metric}.{fmt}"
    if fmt == "csv":
        import csv
        import io

        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["QueryId", "Predicted"])
        for q in range(idx.shape[0]):
            row = idx[q]
            cells = ranked[q][ranked[q] != ""] if ranked is not None else (
                gnames[row] if gnames is not None else row.astype(str))
            w.writerow([qids[q], " ".join(cells)])
        text = buf.getvalue()
    else:
        obj = {
            str(qids[q]): (ranked[q][ranked[q] != ""].tolist() if ranked is not None
                           else gnames[idx[q]].tolist() if gnames is not None else idx[q].tolist())
            for q in range(idx.shape[0])
        }
        text = json.dumps(obj, indent=None) + "\n"
    atomic_write_text(out, text)
    summary["output"] = str(out)

    if yq is not None and yg is not None:
        with Stage("retrieval measures (exact ranks over the whole gallery)"):
            rep = retrieval_metrics_from_embeddings(
                Q, G, yq, yg, metric=m, ks=sorted({1, 5, 10, int(k)}), exclude_self=exclude_self,
                working_memory=working_memory,
            )
        summary["measures"] = {key: v for key, v in rep.items() if key != "per_query"}

    if json_out:
        typer.echo(json.dumps(summary, indent=2, default=float))
        return
    typer.echo(f"metric     {metric}" + (f"  ({summary['chosen']})" if "chosen" in summary else ""))
    typer.echo(f"searched   {Q.shape[0]} queries x {G.shape[0]} gallery rows, top {idx.shape[1]} "
               f"({summary['search_seconds']:.2f} s)")
    if "measures" in summary:
        r = summary["measures"]
        typer.echo(
            f"queries    {r['n_queries_evaluated']} evaluated, {r['n_queries_no_match']} without a gallery match "
            "(excluded)"
        )
        tops = "  ".join(
            f"top-{kk} {r[f'top{kk}_accuracy']:.4f}" for kk in sorted({1, 5, 10, int(k)})
        )
        typer.echo(f"accuracy   {tops}")
        typer.echo(
            f"ranking    precision@1 {r['precision_at_1']:.4f}  R-precision {r['r_precision']:.4f}  "
            f"mAP@R {r['map_at_r']:.4f}  mAP {r['map']:.4f}"
        )
    typer.echo(f"output     {out}  ({idx.shape[0]} rows, {fmt})")


def register(app: typer.Typer) -> None:
    app.command("retrieve")(retrieve)
