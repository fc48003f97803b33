"""Every output path is checked before any work, and an earlier submission is never replaced
silently: ``score --config`` with its default name, ``auto`` with a directory as ``--out``, a
folder that cannot be created on a virtual file system, and fixed distances' parameter domains
(checked when the metric is built, before the data are read)."""

from __future__ import annotations

import hashlib
import os
import sys

import pytest
from typer.testing import CliRunner

from metricbench.auto.config import make_config, save_config
from metricbench.auto.workflow import run_auto
from metricbench.errors import InputError, OutputPathError
from metricbench.registry import get_metric
from metricbench.workflows.outputs import check_output_file
from tests.conftest import assert_one_line_error, write_competition

runner = CliRunner()


def _md5(p):
    return hashlib.md5(p.read_bytes()).hexdigest()


def test_score_config_default_name_keeps_an_earlier_submission(tmp_path, monkeypatch):
    from metricbench.cli.main import app

    d = write_competition(tmp_path / "c", n_train=200, n_cls=50, n_test=30, d=8, n_pairs=60, seed=1)
    a, b = tmp_path / "x" / "a.config.json", tmp_path / "y" / "a.config.json"
    a.parent.mkdir(), b.parent.mkdir()
    save_config(make_config([{"metric": "cosine"}]), a)
    save_config(make_config([{"metric": "sqeuclidean"}]), b)
    monkeypatch.chdir(tmp_path)
    res = runner.invoke(app, ["score", "--config", str(a), "--data", str(d)])
    assert res.exit_code == 0, res.output
    sub = tmp_path / "submissions" / "a.csv"
    before = _md5(sub)
    res = runner.invoke(app, ["score", "--config", str(b), "--data", str(d)])
    assert res.exit_code == 2
    assert_one_line_error(res, "exists")
    assert _md5(sub) == before  # the earlier submission is kept byte for byte
    res = runner.invoke(app, ["score", "--config", str(b), "--data", str(d), "--force"])
    assert res.exit_code == 0, res.output
    assert _md5(sub) != before


def test_auto_refuses_a_directory_before_reading_anything(tmp_path):
    # the data folder does not exist: the output check must come first
    with pytest.raises(OutputPathError, match="is a directory"):
        run_auto(tmp_path / "no-such-competition", budget=60, out=tmp_path)


@pytest.mark.skipif(not sys.platform.startswith("linux") or not os.path.isdir("/proc/self"),
                    reason="needs Linux's /proc (a file system where no folder can be created)")
def test_uncreatable_folder_is_refused_before_work(tmp_path):
    with pytest.raises(OutputPathError, match="cannot create folders in /proc"):
        check_output_file("/proc/no-such-folder/sub.csv")
    check_output_file(tmp_path / "new" / "deeper" / "x.csv")
    assert not (tmp_path / "new").exists()  # the probe leaves nothing behind
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".metricbench-probe")]


@pytest.mark.parametrize("p", [0, -1.0, float("nan"), "abc"])
def test_fixed_distance_domain_checked_when_built(p):
    with pytest.raises(InputError, match="minkowski: p"):
        get_metric("minkowski", p=p)
    assert get_metric("minkowski", p=float("inf")).params["p"] == float("inf")


def test_auto_keeps_an_earlier_run_unless_forced(tmp_path):
    from metricbench.cli.main import app
    from metricbench.errors import OutputExistsError

    out = tmp_path / "auto.csv"
    out.write_text("Id,Predicted\n0,1.0\n")
    before = _md5(out)
    # the data folder does not exist: the existing output is found first
    with pytest.raises(OutputExistsError):
        run_auto(tmp_path / "no-such-competition", budget=60, out=out)
    res = runner.invoke(app, ["auto", "--data", str(tmp_path / "no-such-competition"), "--out", str(out)])
    assert res.exit_code == 2
    assert_one_line_error(res, "--force")
    assert _md5(out) == before
    # with --force the output check passes and the (missing) data are what fails
    res = runner.invoke(app, ["auto", "--data", str(tmp_path / "no-such-competition"), "--out", str(out), "--force"])
    assert res.exit_code == 2 and "no-such-competition" in res.output
    assert _md5(out) == before


def test_search_over_a_setting_that_needs_the_rows():
    """PLDA with length normalisation cannot be fitted from statistics: its 'auto' search must
    fit each candidate from the rows (it raised 'no candidate setting could be scored'), and
    choose as a plain per-candidate loop over the same held-out pairs does."""
    import numpy as np

    from metricbench.model_selection import pair_auroc

    r = np.random.default_rng(0)
    C, per, d = 60, 6, 10
    y = np.repeat(np.arange(C), per)
    X = r.standard_normal((C, d))[y] * 2 + r.standard_normal((C * per, d))
    search = get_metric("plda", length_norm=True, n_components="auto").fit(X, y)
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    sp = next(search._splitter().pairs(X, y))  # the same split, every candidate refitted from its rows
    ref = [pair_auroc(sp.same, get_metric("plda", length_norm=True, **p).fit(X[sp.fit_rows], y[sp.fit_rows])
                      .pair_score(X, sp.index1, sp.index2)) for p in search.cv_results_["params"]]
    np.testing.assert_allclose(search.cv_results_["mean_test_score"], ref, rtol=1e-10)
