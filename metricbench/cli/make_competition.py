"""``metricbench make-competition``: an identity-disjoint competition directory from embeddings."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from metricbench.cli.common import MetricbenchCommand, fail, report_competition
from metricbench.datasets import make_competition_from_files


def make_competition(
    embeddings: Annotated[
        list[str],
        typer.Argument(help="Embedding .npy files of the same images row for row, each NAME=PATH or PATH."),
    ],
    labels: Annotated[Path, typer.Option(help="CSV with index,class for the rows of the embeddings.")],
    out: Annotated[Path, typer.Option(help="Competition directory to create.")],
    test_fraction: Annotated[float, typer.Option(help="Share of identities held out as test.")] = 0.2,
    pairs: Annotated[int, typer.Option(help="Number of test pairs.")] = 4000,
    same_fraction: Annotated[float, typer.Option(help="Share of same-identity test pairs.")] = 0.5,
    negatives: Annotated[str, typer.Option(help="Different-identity partners: random or hard.")] = "random",
    cross: Annotated[
        Optional[str], typer.Option(help="Pair across variants LEFT,RIGHT, e.g. clean,xq40 (clean vs degraded).")
    ] = None,
    seed: Annotated[int, typer.Option(min=0, help="Seed of every random draw (written to manifest.json).")] = 0,
    overwrite: Annotated[bool, typer.Option(help="Replace OUT if it exists.")] = False,
) -> None:
    """Split labelled embeddings by identity into train_set.npy, train_labels.csv, test_set.npy, test_pairs.csv and solution.csv (plus train_meta.csv and manifest.json).

    Examples:

      metricbench make-competition clean=clean.npy xq40=xq40.npy --labels labels.csv --cross clean,xq40 --out my-competition

      metricbench make-competition embeddings.npy --labels labels.csv --out my-competition --pairs 10000 --seed 1
    """
    items = [(n, p) if sep else e for e in embeddings for n, sep, p in [e.partition("=")]]  # NAME=PATH or PATH
    cross_t = None
    if cross:
        parts = [c.strip() for c in cross.split(",")]
        if len(parts) != 2:
            fail(f"--cross takes LEFT,RIGHT (two variant names), got {cross!r}")
        cross_t = tuple(parts)
    man = make_competition_from_files(
        items, labels, out,
        test_fraction=test_fraction, n_pairs=pairs, same_fraction=same_fraction,
        negatives=negatives, cross=cross_t, seed=seed, overwrite=overwrite,
    )
    report_competition(out, man)


def register(app: typer.Typer) -> None:
    app.command("make-competition", cls=MetricbenchCommand)(make_competition)
