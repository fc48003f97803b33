"""Compare several metrics on a competition: validation and test tables, curves, leaderboard check.

This is the library behind ``metricbench evaluate``. Every metric is

* fitted on the *fit* identities of an identity-disjoint split of train and scored on
  seeded pairs of the held-out identities (the same pairs for every metric;
  :class:`metricbench.model_selection.IdentityPairSplit`), and
* when ``solution.csv`` exists, fitted on all of train and scored on the test pairs,

and each split gets the full :func:`~metricbench.evaluation.verification.verification_report`
plus fit / score times. With a solution, the test pairs are also split 25 / 75 into a
public and a private board (seeded) and :func:`~metricbench.evaluation.leaderboard.rank_agreement`
says whether validation AUROC ranks the metrics as the private board does.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd

from metricbench.evaluation.leaderboard import leaderboard_aurocs, rank_agreement
from metricbench.evaluation.verification import DEFAULT_FARS, verification_report
from metricbench.model_selection import IdentityPairSplit, cross_groups_of, fit_kwargs
from metricbench.registry import get_metric, metric_info
from metricbench.workflows.progress import step
from metricbench.workflows.score import inner_selection_label, paired_distance_chunked


@dataclass
class Evaluation:
    """What :func:`evaluate_metrics` found."""

    table: pd.DataFrame  # one row per (metric, split)
    curves: dict  # split -> {metric: (y_true, y_score)}
    leaderboard: dict | None  # rank_agreement(...) plus per-metric public/private AUROC, or None
    settings: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        """Plain JSON-able dict; NaN (a FAR that cannot be resolved, say) becomes None."""
        rows = self.table.to_dict(orient="records")
        return json_safe({"settings": self.settings, "rows": rows, "leaderboard": self.leaderboard})


def json_safe(obj):
    """Recursively turn numpy scalars into Python ones and NaN / inf into None."""
    if isinstance(obj, dict):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [json_safe(v) for v in obj.tolist()]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj


def _fit(m, X, y, groups, images=None):
    kw = fit_kwargs(m, variants=groups, images=images)
    t = time.perf_counter()
    m.fit(X, y, **kw)
    return time.perf_counter() - t


def evaluate_metrics(
    names: Sequence[str],
    comp,
    *,
    holdout: float = 0.2,
    val_pairs: int = 20000,
    seed: int = 0,
    n_boot: int = 1000,
    fars: Sequence[float] = DEFAULT_FARS,
    public_fraction: float = 0.25,
    params: dict | None = None,
    test: bool = True,
    progress=None,
) -> Evaluation:
    """Evaluate each metric of ``names`` on ``comp`` (a :class:`metricbench.io.Competition`).

    Parameters
    ----------
    names : sequence of str
        Registered metric names.
    comp : Competition
    holdout, val_pairs, seed : identity split and validation pairs (as ``metricbench score``).
    n_boot : bootstrap replicates of the AUROC intervals (seeded with ``seed``).
    fars : FAR targets of the TAR columns.
    params : dict, optional
        ``{metric name: {param: value}}``.
    test : bool
        Also evaluate on the test pairs when the competition has a solution.
    progress : ProgressHook, optional
        Receives each fit and scoring step (:mod:`metricbench.workflows.progress`); the library
        prints nothing.

    Returns
    -------
    Evaluation
    """
    names = [metric_info(n).name for n in names]  # unknown names fail before any work; aliases resolve
    params = params or {}
    Xtr, ytr, groups = comp.train_X, comp.train_y, comp.train_groups
    sp = next(IdentityPairSplit(test_size=holdout, n_pairs=val_pairs, variants=groups, images=comp.train_images,
                                random_state=seed).pairs(Xtr, ytr))
    fit_rows, val_rows, i1, i2, same = sp.fit_rows, sp.val_rows, sp.val_index1, sp.val_index2, sp.same
    Xfit, yfit = np.asarray(Xtr[fit_rows]), ytr[fit_rows]
    gfit = None if groups is None else np.asarray(groups)[fit_rows]
    Xval = np.asarray(Xtr[val_rows])
    solution = comp.solution if test else None
    rows, curves = [], {"validation": {}}
    common = dict(fars=fars, n_boot=n_boot, seed=seed)
    for name in names:
        m = get_metric(name, **params.get(name, {}))
        with step(progress, f"{name}: fitting on {fit_rows.size} rows of the fit identities"):
            fit_s = _fit(m, Xfit, yfit, gfit, None if comp.train_images is None else np.asarray(comp.train_images)[fit_rows])
        with step(progress, f"{name}: scoring {same.size} validation pairs"):
            t = time.perf_counter()
            score = -m.pair_distance(Xval, i1, i2)
            score_s = time.perf_counter() - t
        rep = verification_report(same, score, **common)
        rows.append({"metric": name, "split": "validation", **rep, "fit_seconds": fit_s,
                     "score_seconds": score_s, "fitted_on": f"{fit_rows.size} rows of {np.unique(yfit).size} "
                     "fit identities", "chosen": inner_selection_label(m.describe())})
        curves["validation"][name] = (same, score)
    if solution is not None:
        curves["test"] = {}
        pairs = comp.pairs
        t1, t2 = pairs["index1"].to_numpy(), pairs["index2"].to_numpy()
        y = np.asarray(solution)
        for name in names:
            m = get_metric(name, **params.get(name, {}))
            with step(progress, f"{name}: fitting on all {Xtr.shape[0]} train rows"):
                fit_s = _fit(m, Xtr, ytr, groups, comp.train_images)
            with step(progress, f"{name}: scoring {len(pairs)} test pairs", total=len(pairs)) as st:
                score = -paired_distance_chunked(m, comp.test_X, t1, t2, progress)
            score_s = st.seconds
            rep = verification_report(y, score, **common)
            rows.append({"metric": name, "split": "test", **rep, "fit_seconds": fit_s,
                         "score_seconds": score_s, "fitted_on": f"all {Xtr.shape[0]} train rows",
                         "chosen": inner_selection_label(m.describe())})
            curves["test"][name] = (y, score)
    order = {n: i for i, n in enumerate(names)}
    rows.sort(key=lambda r: (order[r["metric"]], r["split"] != "validation"))
    table = pd.DataFrame(rows)
    leaderboard = None
    if solution is not None:
        lb = leaderboard_aurocs(
            y, {n: s for n, (_, s) in curves["test"].items()}, public_fraction=public_fraction, seed=seed
        )
        val_auc = dict(zip(table.loc[table.split == "validation", "metric"], table.loc[table.split == "validation", "auroc"]))
        table["public_auroc"] = table.apply(
            lambda r: lb.loc[r.metric, "public_auroc"] if r.split == "test" else np.nan, axis=1
        )
        table["private_auroc"] = table.apply(
            lambda r: lb.loc[r.metric, "private_auroc"] if r.split == "test" else np.nan, axis=1
        )
        leaderboard = rank_agreement(val_auc, lb["private_auroc"].to_dict(), lb["public_auroc"].to_dict())
        leaderboard["public_fraction"] = public_fraction
        leaderboard["seed"] = seed
        leaderboard["aurocs"] = {
            n: {"validation": float(val_auc[n]), "public": float(lb.loc[n, "public_auroc"]),
                "private": float(lb.loc[n, "private_auroc"])}
            for n in names
        }
    settings = {
        "metrics": list(names),
        "data": str(getattr(comp, "path", "")),
        "holdout": holdout,
        "val_pairs": int(same.size),
        "val_identities": int(np.unique(ytr[val_rows]).size),
        "fit_identities": int(np.unique(yfit).size),
        "cross_groups": list(cross_groups_of(groups)) if cross_groups_of(groups) else None,
        "seed": seed,
        "n_boot": n_boot,
        "fars": [float(f) for f in fars],
        "params": params,
        "test_pairs": int(len(comp.pairs)) if solution is not None else None,
    }
    return Evaluation(table, curves, leaderboard, settings)


__all__ = ["Evaluation", "evaluate_metrics", "json_safe"]
