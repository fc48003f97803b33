"""``metricbench extract --engine dask``: real LFW images (the shared data) embedded by dlib on a
``LocalCluster`` of two worker processes, started by the test and closed after, give the same bytes
as the local engine, and a rerun resumes."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from conftest import assert_one_line_error
from metricbench.cli.main import app

LFW = Path(os.environ.get("METRICBENCH_LFW", Path(__file__).resolve().parents[1].parent / "shared" / "data" / "lfw"))
needs_lfw = pytest.mark.skipif(not (LFW / "images").is_dir(), reason=f"shared LFW data not found at {LFW}")
OUTPUTS = ("embeddings.npy", "labels.csv", "skipped.csv")


@needs_lfw
def test_extract_on_a_local_cluster_equals_local(tmp_path):
    distributed = pytest.importorskip("distributed", reason="the dask engine needs metricbench[dask]")
    pytest.importorskip("dlib", reason="the dlib backend is not installed")
    lab = pd.read_csv(LFW / "reference" / "dev_clean_labels.csv", keep_default_na=False)
    sample = lab.iloc[:: len(lab) // 4][:4][["path", "class"]]
    csv = tmp_path / "few.csv"
    sample.to_csv(csv, index=False)
    base = ["extract", str(LFW / "images"), "--labels", str(csv), "--no-progress"]
    runner = CliRunner()
    local = runner.invoke(app, [*base, "--out", str(tmp_path / "local")])
    assert local.exit_code == 0, local.output
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cl:
        args = [*base, "--out", str(tmp_path / "dask"), "--engine", "dask", "--scheduler", cl.scheduler_address,
                "--shard-size", "2"]
        res = runner.invoke(app, args)
        assert res.exit_code == 0, res.output
        assert "4 processed now" in res.output and "on dask scheduler" not in res.output
        for f in OUTPUTS:
            assert (tmp_path / "dask" / f).read_bytes() == (tmp_path / "local" / f).read_bytes(), f
        # the shards went to the resumable store: a rerun embeds nothing
        again = runner.invoke(app, args)
        assert again.exit_code == 0, again.output
        assert "0 processed now, 4 taken from earlier runs" in again.output
    info = (tmp_path / "dask" / "extract_info.json").read_text()
    assert "on dask scheduler" in info and "2 workers" in info


def test_scheduler_needs_the_dask_engine(tmp_path):
    (tmp_path / "imgs" / "a").mkdir(parents=True)
    res = CliRunner().invoke(app, ["extract", str(tmp_path / "imgs"), "--out", str(tmp_path / "o"),
                                   "--scheduler", "tcp://127.0.0.1:1"])
    assert res.exit_code == 2 and "--engine dask" in res.output
    res = CliRunner().invoke(app, ["extract", str(tmp_path / "imgs"), "--out", str(tmp_path / "o"), "--engine", "spark"])
    assert_one_line_error(res, "unknown engine")
    assert not (tmp_path / "o").exists()
