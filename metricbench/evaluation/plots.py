"""ROC, DET and score-histogram figures comparing several metrics, saved as PNG.

matplotlib is imported only when a figure is drawn, and only its object API
(``matplotlib.figure.Figure``, rendered by Agg) is used: no pyplot, no global
backend switch, so importing this module is cheap and notebooks keep their backend
(a returned ``Figure`` displays inline).

Every function takes ``curves``: a mapping ``name -> (y_true, y_score)`` with
``y_score`` a similarity (larger = more alike; negate distances).
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np

from metricbench.errors import InputError
from metricbench.io.atomic import atomic_path

Curves = Mapping[str, tuple]

_DET_TICKS = [0.0001, 0.001, 0.01, 0.05, 0.2, 0.5, 0.8, 0.95, 0.99]


def _figure(w: float = 6.4, h: float = 4.8):
    from matplotlib.figure import Figure

    return Figure(figsize=(w, h), dpi=100, layout="constrained")


def _check_curves(curves: Curves) -> list[tuple[str, np.ndarray, np.ndarray]]:
    from metricbench.evaluation.verification import _check

    if not curves:
        raise InputError("nothing to plot: give at least one metric's (y_true, y_score)")
    return [(str(name), *_check(*ys)) for name, ys in curves.items()]


def roc_figure(curves: Curves, *, title: str | None = None):
    """ROC curves, TAR against FAR on a log axis (down to one false accept), AUROC in the legend."""
    from metricbench.evaluation.verification import _auroc_ranks, _cumulative_counts

    fig = _figure()
    ax = fig.add_subplot()
    lo = 1.0
    for name, y, s in _check_curves(curves):
        fps, tps, _ = _cumulative_counts(y, s)
        fpr, tpr = fps / fps[-1], tps / tps[-1]
        keep = fpr > 0
        lo = min(lo, 1.0 / fps[-1])
        ax.plot(fpr[keep], tpr[keep], label=f"{name} (AUROC {_auroc_ranks(y, s):.4f})")
    ax.set_xscale("log")
    ax.set_xlim(lo, 1.0)
    ax.set_ylim(0.0, 1.01)
    ax.set_xlabel("false accept rate (FAR, log scale)")
    ax.set_ylabel("true accept rate (TAR)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower right", fontsize="small")
    ax.set_title(title or "ROC")
    return fig


def det_figure(curves: Curves, *, title: str | None = None):
    """DET curves: false reject against false accept rate on normal-deviate axes, EER marked."""
    from scipy.stats import norm

    from metricbench.evaluation.verification import _cumulative_counts, eer

    fig = _figure()
    ax = fig.add_subplot()
    lo = 0.5
    for name, y, s in _check_curves(curves):
        fps, tps, _ = _cumulative_counts(y, s)
        fpr, fnr = fps / fps[-1], 1.0 - tps / tps[-1]
        eps = 0.5 / max(fps[-1], tps[-1])
        lo = min(lo, eps)
        keep = (fpr > 0) & (fnr > 0)
        rate = eer(y, s)
        (line,) = ax.plot(norm.ppf(fpr[keep]), norm.ppf(fnr[keep]), label=f"{name} (EER {rate:.2%})")
        ax.plot([norm.ppf(max(rate, eps))], [norm.ppf(max(rate, eps))], "o", color=line.get_color(), ms=4)
    ticks = [t for t in _DET_TICKS if t >= lo]
    pos = norm.ppf(ticks)
    labels = [f"{t * 100:g}%" for t in ticks]
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_ticks(pos, labels)
    lim = (norm.ppf(lo), norm.ppf(0.99))
    ax.set_xlim(lim)
    ax.set_ylim(lim)
    ax.plot(lim, lim, ":", color="grey", lw=0.8)
    ax.set_xlabel("false accept rate")
    ax.set_ylabel("false reject rate")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper right", fontsize="small")
    ax.set_title(title or "DET")
    return fig


def histogram_figure(curves: Curves, *, bins: int = 60, title: str | None = None):
    """Same- vs different-identity score histograms, one panel per metric (scales differ)."""
    items = _check_curves(curves)
    n = len(items)
    cols = min(3, n)
    rows = int(np.ceil(n / cols))
    fig = _figure(4.0 * cols, 3.0 * rows)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax, (name, y, s) in zip(axes, items):
        edges = np.histogram_bin_edges(s, bins=bins)
        ax.hist(s[y == 0], bins=edges, density=True, alpha=0.55, label=f"different ({(y == 0).sum()})")
        ax.hist(s[y == 1], bins=edges, density=True, alpha=0.55, label=f"same ({(y == 1).sum()})")
        ax.set_title(name, fontsize="medium")
        ax.set_xlabel("score (larger = more alike)")
        ax.legend(fontsize="x-small")
    for ax in axes[n:]:
        ax.set_visible(False)
    fig.suptitle(title or "same vs different scores")
    return fig


def save_figure(fig, path) -> Path:
    """Write ``fig`` as PNG to ``path``, atomically."""
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    return path


def save_verification_plots(curves: Curves, out_dir, *, prefix: str = "", title: str | None = None) -> dict[str, Path]:
    """Write ``<prefix>roc.png``, ``<prefix>det.png`` and ``<prefix>hist.png`` into ``out_dir``.

    Returns
    -------
    dict ``{"roc": path, "det": path, "hist": path}``
    """
    out = Path(out_dir)
    suffix = f" ({title})" if title else ""
    return {
        "roc": save_figure(roc_figure(curves, title=f"ROC{suffix}"), out / f"{prefix}roc.png"),
        "det": save_figure(det_figure(curves, title=f"DET{suffix}"), out / f"{prefix}det.png"),
        "hist": save_figure(histogram_figure(curves, title=f"same vs different scores{suffix}"), out / f"{prefix}hist.png"),
    }


__all__ = ["det_figure", "histogram_figure", "roc_figure", "save_figure", "save_verification_plots"]
