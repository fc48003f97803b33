"""Plots: PNG files written, one curve per metric, no pyplot state touched."""

import sys

import numpy as np
import pytest

from metricbench.errors import InputError
from metricbench.evaluation import plots


def _curves():
    rng = np.random.default_rng(0)
    y = (rng.random(3000) < 0.5).astype(int)
    return {
        "good": (y, rng.normal(size=y.size) + 2.0 * y),
        "weak": (y, rng.normal(size=y.size) + 0.5 * y),
    }


def test_save_verification_plots_writes_pngs(tmp_path):
    paths = plots.save_verification_plots(_curves(), tmp_path / "run", prefix="val_", title="toy")
    assert set(paths) == {"roc", "det", "hist"}
    for p in paths.values():
        assert p.parent == tmp_path / "run" and p.name.startswith("val_")
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 5000
    assert sorted(x.name for x in (tmp_path / "run").iterdir()) == ["val_det.png", "val_hist.png", "val_roc.png"]


def test_figures_have_one_line_per_metric():
    fig = plots.roc_figure(_curves())
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[0].startswith("good (AUROC 0.9") and labels[1].startswith("weak (AUROC 0.6")
    det = plots.det_figure(_curves())
    assert [t.get_text()[:4] for t in det.axes[0].get_legend().get_texts()] == ["good", "weak"]
    hist = plots.histogram_figure(_curves())
    assert [a.get_title() for a in hist.axes if a.get_visible()] == ["good", "weak"]
    assert "matplotlib.pyplot" not in sys.modules


def test_empty_curves_rejected():
    with pytest.raises(InputError, match="nothing to plot"):
        plots.roc_figure({})
