"""``metricbench synth``: a synthetic competition directory of the reference shapes (or any)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from metricbench.cli.common import Stage, report_competition, reports_errors
from metricbench.synth import synth as build


@reports_errors
def synth(
    out: Annotated[Path, typer.Option(help="Competition directory to create.")],
    like: Annotated[
        str, typer.Option(help="raai2019 (454,714 x 512 train; the model fitted on data/lfw-xq, noise calibrated to its cosine AUROC) or a competition "
                               "directory to fit every parameter and shape to.")
    ] = "raai2019",
    n_train: Annotated[Optional[int], typer.Option(help="Train rows (default: from --like).")] = None,
    n_classes: Annotated[Optional[int], typer.Option(help="Train identities.")] = None,
    dim: Annotated[Optional[int], typer.Option(help="Embedding width.")] = None,
    n_test: Annotated[Optional[int], typer.Option(help="Test rows.")] = None,
    n_test_classes: Annotated[
        Optional[int], typer.Option(help="Test identities (default: test rows / mean train identity size).")
    ] = None,
    n_pairs: Annotated[Optional[int], typer.Option(help="Test pairs (half same identity).")] = None,
    seed: Annotated[int, typer.Option(min=0, help="Seed of every draw (same seed, same bytes).")] = 0,
    overwrite: Annotated[bool, typer.Option(help="Replace OUT if it exists.")] = False,
) -> None:
    """Write a synthetic competition (train_set.npy, train_labels.csv, test_set.npy, test_pairs.csv,
    solution.csv, manifest.json) with identity centres, a shared anisotropic within-identity
    scatter, quality-dependent degradation and norms, and identity-disjoint lower-quality test rows.

    Example: metricbench synth --like raai2019 --out /tmp/raai2019-synth
    """
    with Stage(f"writing {out}"):
        man = build(
            out, like=like, n_train=n_train, n_classes=n_classes, dim=dim, n_test=n_test,
            n_test_classes=n_test_classes, n_pairs=n_pairs, seed=seed, overwrite=overwrite,
        )
    report_competition(out, man)


def register(app: typer.Typer) -> None:
    app.command("synth")(synth)
