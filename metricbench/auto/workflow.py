"""``metricbench auto`` as a library function: search, judge, fit on all train, write the outputs."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from metricbench.auto.config import ConfigRun, save_config, score_config
from metricbench.auto.search import AutoResult, auto_search
from metricbench.io import write_submission
from metricbench.io.atomic import atomic_write_text
from metricbench.workflows.data import open_competition
from metricbench.workflows.outputs import check_output_file


@dataclass
class AutoRun:
    """Everything ``metricbench auto`` produced.

    Attributes
    ----------
    result : AutoResult
        The search, the winner and its outer (reported) AUROC.
    final : ConfigRun
        The winner fitted on all train rows: test-pair scores, and the test AUROC when the
        competition has a ``solution.csv`` (information only: nothing was chosen with it).
    submission, config_path, report_path : Path
    seconds : float
        Wall time of the whole run.
    """

    result: AutoResult
    final: ConfigRun
    submission: Path
    config_path: Path
    report_path: Path
    seconds: float
    data: str
    command: str


def output_paths(out) -> tuple[Path, Path, Path]:
    """Submission, configuration and report paths from the submission path ``out``."""
    out = Path(out)
    stem = out.with_suffix("")
    return out, Path(f"{stem}.config.json"), Path(f"{stem}.report.md")


def run_auto(
    data,
    *,
    budget: float | None = 600.0,
    n_trials: int | None = None,
    metrics=None,
    out="submissions/auto.csv",
    seed: int = 0,
    progress=None,
    command: str = "",
    overwrite: bool = False,
    **search_params,
) -> AutoRun:
    """Run the whole ``auto`` workflow on the competition directory ``data``.

    Parameters
    ----------
    data : path-like
        A competition directory (``train_set.npy``, ``train_labels.csv``, ``test_set.npy``,
        ``test_pairs.csv``; ``train_meta.csv`` and ``solution.csv`` optional).
    budget : float or None
        Wall-clock seconds for the search, the outer judgement and the final fit.
    out : path-like
        Submission CSV; the configuration (``<stem>.config.json``) and the report
        (``<stem>.report.md``) are written beside it. All three are written atomically,
        after everything else succeeded.
    overwrite : bool
        Replace existing outputs; otherwise an existing one is kept and an error raised
        before any work (a run with other settings never replaces an earlier submission
        silently).
    search_params
        Passed on to :func:`metricbench.auto.search.auto_search`.

    Returns
    -------
    AutoRun

    Raises
    ------
    InputError
        Bad competition files, an unknown metric, too few identities, a budget too short for
        any candidate.
    """
    t0 = time.perf_counter()
    search_params.setdefault("started", t0)
    sub, cfg_path, rep_path = output_paths(out)
    for path in (sub, cfg_path, rep_path):  # before any work: a directory, an unwritable folder, an earlier run
        check_output_file(path, overwrite=overwrite)
    comp = open_competition(data, validate=False)
    comp.validate()
    result = auto_search(
        comp.train_X, comp.train_y, comp.train_groups, comp.train_images, budget=budget, n_trials=n_trials,
        metrics=metrics, seed=seed, progress=progress, **search_params,
    )
    if progress is not None:
        progress("phase", text=f"fitting the winner on all {comp.train_X.shape[0]} train rows")
    final = score_config(result.config, comp)
    run = AutoRun(result, final, sub, cfg_path, rep_path, time.perf_counter() - t0, str(data), command)
    write_submission(sub, final.ids, -final.score)  # distances: larger = less alike, as `score` writes
    save_config(result.config, cfg_path)

    atomic_write_text(rep_path, report_markdown(run))
    return run


# -- the report ---------------------------------------------------------------------------------------
def _f(x, nd=4) -> str:
    return "" if x is None or (isinstance(x, float) and not np.isfinite(x)) else f"{x:.{nd}f}"


def rows(result: AutoResult) -> list[dict]:
    """The report's table: complete candidates by inner AUROC, then the pruned, skipped and failed ones."""
    done = result.ranked()
    rest = [c for c in result.candidates if c.status != "complete"]
    out = []
    for rank, c in enumerate(done + rest, 1):
        lo, hi = c.interval
        out.append({
            "rank": rank if c.status == "complete" else None,
            "id": c.id,
            "candidate": c.label,
            "short": c.short,
            "kind": c.kind,
            "status": c.status,
            "fit_s": c.fit_seconds,
            "inner": c.inner_auroc,
            "low": lo,
            "high": hi,
            "winner": c is result.winner,
            "note": c.note,
        })
    return out


def above_any(r: AutoResult) -> bool:
    return any(c.inner_auroc > r.winner.inner_auroc for c in r.ranked())


def why(run: AutoRun) -> list[str]:
    """Sentences that say why the winner won and how good it is."""
    r = run.result
    w = r.winner
    ranked = r.ranked()
    lines = [
        f"**Winner:** {w.label} (candidate {w.id}).",
        f"Of {len(ranked)} complete candidates ({sum(c.kind == 'single' for c in ranked)} single metrics, "
        f"{sum(c.kind == 'fusion' for c in ranked)} fusions; {sum(c.status != 'complete' for c in r.candidates)} more "
        f"pruned, skipped or failed) it had the best mean inner-validation AUROC, {w.inner_auroc:.4f}"
        + (", among those whose final fits fit the time left." if above_any(r) else "."),
    ]
    above = [c for c in ranked if c.inner_auroc > w.inner_auroc]
    if above:
        lines.append(f"{len(above)} candidate(s) scored higher on the inner folds but were not chosen: fitting "
                     "them on the search part and on all train rows would not have fit the time left "
                     f"(best of them: {above[0].short} at {above[0].inner_auroc:.4f}).")
    second = next((c for c in ranked if c is not w and c not in above), None)
    if second is not None:
        lines.append(f"Runner-up: {second.label} at {second.inner_auroc:.4f} "
                     f"({w.inner_auroc - second.inner_auroc:+.4f}; the inner figures' standard error is about "
                     f"{w.se:.4f}, so close runners-up are not separable).")
    bs = r.best_single()
    if bs is not None and bs is not w:
        lines.append(f"Best single metric: {bs.label} at {bs.inner_auroc:.4f}.")
    lines.append(
        f"The inner figure is the maximum over many candidates and so biased upwards; the reported figure is the "
        f"winner refitted on the search identities and judged once on {r.split['outer_identities']} outer identities "
        f"no candidate saw: **outer AUROC {r.outer_auroc:.4f}** (95 % pair bootstrap {r.outer_interval[0]:.4f} - "
        f"{r.outer_interval[1]:.4f}); inner minus outer = {w.inner_auroc - r.outer_auroc:+.4f}."
    )
    return lines


def report_markdown(run: AutoRun) -> str:
    r = run.result
    f = run.final
    sp = r.split
    budget = "none" if r.budget is None else f"{r.budget:.0f} s"
    lines = [
        "# metricbench auto report",
        "",
        f"Command: `{run.command}`" if run.command else "",
        "",
        f"Data: `{run.data}`; seed {r.seed}; budget {budget}; whole run {run.seconds:.0f} s "
        f"(search and outer judgement {r.seconds:.0f} s, final fit {f.fit_seconds:.0f} s); "
        f"{r.n_trials} optuna trials; search stopped: {r.stopped_because or 'sampler done'}"
        + ("; **interrupted by Ctrl-C**" if r.interrupted else "") + ".",
        "",
        f"Validation: {sp['n_train_rows']} train rows; outer split keeps {sp['search_rows']} rows for the search and "
        f"holds out {sp['outer_identities']} identities ({sp['outer_pairs']} pairs); "
        + "; ".join(f"inner fold {i + 1}: fit on {x['fit_rows']} rows, {x['pairs']} pairs of {x['val_identities']} "
                    f"held-out identities" for i, x in enumerate(sp["inner_folds"])) + ".",
        "",
        "## Result",
        "",
        *why(run),
        "",
        "| figure | AUROC |",
        "|---|---|",
        f"| inner validation (mean over folds; selection-biased) | {r.winner.inner_auroc:.4f} |",
        f"| **outer validation (reported)** | **{r.outer_auroc:.4f}** ({r.outer_interval[0]:.4f} - "
        f"{r.outer_interval[1]:.4f}) |",
    ]
    if f.test_auroc is not None:
        lines.append(f"| test, from solution.csv (never used to choose) | {f.test_auroc:.4f} |")
    lines += [
        "",
        f"Submission: `{run.submission}` ({f.ids.size} rows, Predicted = distance). Configuration: "
        f"`{run.config_path}` (re-run: `metricbench score --config {run.config_path}`).",
        "",
        "## Everything tried",
        "",
        "Fusions name their parts by candidate id (#n). Inner AUROC = mean over the inner folds; interval = +/- 1.96 Hanley-McNeil standard errors (pairs treated "
        "as independent); fit s = mean seconds per inner fold (fusions: sum of their parts, not refitted).",
        "",
        "| rank | id | candidate | status | fit s | inner AUROC | interval | note |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows(r):
        name = f"**{row['short']}**" if row["winner"] else row["short"]
        iv = f"{_f(row['low'])} - {_f(row['high'])}" if np.isfinite(row["inner"]) else ""
        lines.append(
            f"| {row['rank'] or ''} | {row['id']} | {name.replace('|', '/')} | {row['status']} | {_f(row['fit_s'], 1)} "
            f"| {_f(row['inner'])} | {iv} | {row['note'].replace('|', '/')} |"
        )
    lines.append("")
    return "\n".join(lines)


__all__ = ["AutoRun", "output_paths", "report_markdown", "rerun_config", "rows", "run_auto", "why"]


def rerun_config(config, data, out=None, *, similarity: bool = False,
                 overwrite: bool = False) -> tuple[ConfigRun, Path]:
    """Fit a saved configuration on all train rows of ``data`` and write its submission (atomically).

    What ``metricbench score --config FILE`` runs; the scores are exactly those ``auto`` wrote
    for the same configuration and data.

    Parameters
    ----------
    config : path-like or dict
        A configuration file written by ``metricbench auto`` (or the dictionary itself).
    data : path-like
        Competition directory.
    out : path-like, optional
        Submission CSV (default ``submissions/<config stem>.csv``).
    similarity : bool
        Write scores (larger = more alike) instead of distances.
    overwrite : bool
        Replace an existing submission (otherwise it is kept and an error raised, before
        any work).

    Returns
    -------
    (ConfigRun, Path)
        The run and the submission path.

    Raises
    ------
    InputError
        A missing or invalid configuration file, bad competition files.
    """
    from metricbench.auto.config import check_config, load_config

    if isinstance(config, dict):
        cfg, stem = check_config(config), "config"
    else:
        cfg, stem = load_config(config), Path(config).name.split(".")[0]
    out = Path(out) if out is not None else Path("submissions") / f"{stem}.csv"
    check_output_file(out, overwrite=overwrite)  # before any work; an earlier submission is kept
    comp = open_competition(data, validate=False)
    comp.validate()
    run = score_config(cfg, comp)
    write_submission(out, run.ids, run.score if similarity else -run.score)
    return run, out
