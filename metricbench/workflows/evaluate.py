"""Evaluate several metrics on a competition: validation and test tables, curves, leaderboard check, files."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from metricbench.errors import InputError, ParameterError
from metricbench.evaluation.plots import save_verification_plots
from metricbench.io import atomic_write_text
from metricbench.registry import check_params, get_metric, metric_info, parse_metric_params, registry
from metricbench.workflows.data import open_competition
from metricbench.workflows.outputs import check_output_dir
from metricbench.workflows.progress import ProgressHook, step
from metricbench.workflows.score import check_split_settings

#: metric groups that expand from the name table
GROUPS = {"all": ("distance", "learned"), "distances": ("distance",), "learned": ("learned",)}
#: the file whose presence marks an earlier evaluation in a run folder
MARKER = "evaluation.json"


def expand_metric_names(names) -> list[str]:
    """Canonical names from a comma-separated text or a list; ``all``, ``distances``, ``learned`` expand.

    Raises
    ------
    UnknownMetricError
        A name that is not in the table.
    InputError
        No names, or a metric named twice.
    """
    items = [t.strip() for t in names.split(",")] if isinstance(names, str) else [str(t).strip() for t in names]
    out: list[str] = []
    for item in items:
        if not item:
            continue
        if item in GROUPS:
            out.extend(n for n, m in registry().items() if m.kind in GROUPS[item] and n not in out)
            continue
        name = metric_info(item).name
        if name in out:
            raise InputError(f"metric {name!r} is listed twice")
        out.append(name)
    if not out:
        raise InputError("no metric names given (for example euclidean,cosine)")
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
            return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, fmt)

        lines.append(
            f"| {name} | {f(v, 'auroc', '.4f')} | {f(t, 'auroc', '.4f')} | "
            f"{f(v, 'fit_seconds', '.1f')} / {f(t, 'fit_seconds', '.1f')} | "
            f"{f(v, 'score_seconds', '.2f')} / {f(t, 'score_seconds', '.2f')} |"
        )
    return "\n".join(lines) + "\n"


@dataclass
class EvaluateResult:
    """Every figure and file of :func:`evaluate_competition` (what ``metricbench evaluate`` prints
    and ``--json`` writes).

    ``evaluation.table`` has one row per (metric, split) with the AUROC, its bootstrap interval,
    TAR@FAR, EER, fit / score seconds, what the row's own fit was given (``fitted_on``) and what
    it chose (``chosen``, inner selection labelled).
    """

    evaluation: object  # metricbench.workflows.compare.Evaluation
    run_dir: str
    files: dict = field(default_factory=dict)
    plots: dict = field(default_factory=dict)
    solution_missing: bool = False

    @property
    def table(self):
        return self.evaluation.table

    @property
    def settings(self) -> dict:
        return self.evaluation.settings

    @property
    def leaderboard(self):
        return self.evaluation.leaderboard

    def to_json(self) -> dict:
        from metricbench.workflows.compare import json_safe

        payload = self.evaluation.to_json()
        payload["plots"] = dict(self.plots)
        payload["files"] = dict(self.files)
        return json_safe(payload)


def _check_params(params: dict | None, names: Sequence[str]) -> dict:
    """``{metric: {param: value}}`` with canonical metric names, typed and checked."""
    out: dict = {}
    for key, values in (params or {}).items():
        name = metric_info(key).name
        if name not in names:
            raise ParameterError(f"parameters are given for metric {name!r}, which is not among the metrics evaluated")
        texts = [f"{k}={v}" for k, v in values.items() if isinstance(v, str)]
        typed = {**{k: v for k, v in values.items() if not isinstance(v, str)}, **parse_metric_params(name, texts)}
        check_params(name, typed)
        out[name] = typed
    return out


def evaluate_competition(
    metrics="euclidean,cosine,cosine-whitened",
    data=None,
    *,
    params: dict | None = None,
    holdout: float = 0.2,
    val_pairs: int = 20000,
    seed: int = 0,
    n_boot: int = 1000,
    fars=None,
    test: bool = True,
    out=None,
    overwrite: bool = False,
    plot: bool = True,
    progress: ProgressHook | None = None,
) -> EvaluateResult:
    """Compare metrics on identity-disjoint validation pairs and, with ``solution.csv``, on the test pairs.

    What ``metricbench evaluate`` runs: :func:`metricbench.workflows.compare.evaluate_metrics`, then
    the tables (``evaluation.csv``, ``evaluation.json``, ``summary.md``) and ROC / DET / histogram
    plots written into ``out``. Names, parameters, settings and the run folder are checked before
    the data is read.

    Parameters
    ----------
    metrics : str or sequence of str
        Names (aliases resolve), comma-separated or a list; ``all``, ``distances``, ``learned`` expand.
    data : str, Path, Competition or None
        Competition directory; None: the embedded default.
    params : dict, optional
        ``{metric: {param: value}}``; text values are typed.
    holdout, val_pairs, seed : identity split and validation pairs (as :func:`score_competition`).
    n_boot : int
        Bootstrap replicates of the AUROC intervals, at least 1.
    fars : sequence of float, optional
        FAR targets of the TAR columns (default :data:`metricbench.evaluation.verification.DEFAULT_FARS`).
    test : bool
        Also evaluate on the test pairs when the competition has a solution.
    out : str or Path, optional
        Run folder for the files; None writes nothing.
    overwrite : bool
        Allow replacing an earlier run's files in ``out``.
    plot : bool
        Write the PNG plots (with ``out``).
    progress : ProgressHook, optional

    Returns
    -------
    EvaluateResult

    Raises
    ------
    UnknownMetricError, ParameterError, OutputPathError, OutputExistsError, InputError
    """
    from metricbench.workflows.compare import evaluate_metrics, json_safe
    from metricbench.evaluation.verification import DEFAULT_FARS

    names = expand_metric_names(metrics)
    typed = _check_params(params, names)
    for name in names:  # a parameter a constructor refuses fails here, before the data is read
        get_metric(name, **typed.get(name, {}))
    check_split_settings(holdout, val_pairs)
    if int(n_boot) < 1:
        raise InputError(f"n_boot must be at least 1, got {n_boot}")
    run_dir = None if out is None else check_output_dir(out, marker=MARKER, overwrite=overwrite)
    fars = DEFAULT_FARS if fars is None else tuple(fars)

    with step(progress, f"loading {data if data is not None else 'the embedded default competition'}"):
        comp = open_competition(data)
    ev = evaluate_metrics(
        names, comp, holdout=holdout, val_pairs=val_pairs, seed=seed, n_boot=n_boot,
        fars=fars, params=typed, test=test, progress=progress,
    )
    result = EvaluateResult(ev, str(run_dir) if run_dir is not None else "",
                            solution_missing=bool(test and comp.solution is None))
    if run_dir is None:
        return result
    if plot:
        with step(progress, "plotting ROC, DET and score histograms"):
            for split, curves in ev.curves.items():
                for kind, p in save_verification_plots(curves, run_dir, prefix=f"{split}_", title=split).items():
                    result.plots[f"{split}_{kind}"] = str(p)
    csv_path, json_path, md_path = run_dir / "evaluation.csv", run_dir / "evaluation.json", run_dir / "summary.md"
    atomic_write_text(csv_path, ev.table.to_csv(index=False))
    atomic_write_text(md_path, summary_markdown(ev.table))
    payload = ev.to_json()
    payload["plots"] = dict(result.plots)
    atomic_write_text(json_path, json.dumps(json_safe(payload), indent=2, allow_nan=False))  # last: the marker
    result.files = {"csv": str(csv_path), "json": str(json_path), "summary": str(md_path)}
    return result


__all__ = ["EvaluateResult", "evaluate_competition", "expand_metric_names", "summary_markdown"]
