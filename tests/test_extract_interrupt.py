"""Ctrl-C and SIGTERM stop ``metricbench extract --jobs 2`` within seconds (issue 10).

A real subprocess extracts a small folder with a slow pure-numpy backend (half a second an
image, on two worker processes) and is interrupted mid-run: by SIGINT sent to its process
group (what Ctrl-C in a terminal does) or by SIGTERM sent to the main process (``kill``, a
job scheduler). It must stop within seconds with one line and exit code 130, write no
``embeddings.npy`` / ``labels.csv`` (nothing half-written), leave no worker behind, and a
rerun must embed only the images not finished before the interrupt.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import default_sigint

ROOT = Path(__file__).resolve().parents[1]

BACKEND = textwrap.dedent('''
    import os, time
    from pathlib import Path
    import numpy as np
    from metricbench.extract.backends import Face, FaceBackend

    class Slow(FaceBackend):
        name = "slow"
        def __init__(self, seconds=0.5):
            self.seconds = seconds
        def load(self):
            pass
        @property
        def dim(self):
            return 3
        def detect(self, rgb):
            return [Face(0, 0, rgb.shape[1] - 1, rgb.shape[0] - 1, "whole")]
        def align(self, rgb, face):
            return rgb
        def embed(self, rgb, aligned):
            time.sleep(float(os.environ.get("SLOW_SECONDS", self.seconds)))
            Path(os.environ["SLOW_MARKS"], f"{os.getpid()}-{time.monotonic_ns()}").touch()
            return aligned.reshape(-1, 3).mean(0).astype(np.float32)
''')

N_IMAGES = 24


@pytest.fixture
def setup(tmp_path):
    from PIL import Image

    (tmp_path / "slowbackend.py").write_text(BACKEND)
    for c in range(3):
        for i in range(N_IMAGES // 3):
            p = tmp_path / "imgs" / f"id{c}" / f"{i}.png"
            p.parent.mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (32, 32), (20 * i, 60 * c, 100)).save(p)
    return tmp_path


def _run(tmp, marks: Path, seconds: float, **popen):
    marks.mkdir(exist_ok=True)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(tmp)]), "SLOW_SECONDS": str(seconds),
           "SLOW_MARKS": str(marks)}
    cmd = [sys.executable, "-m", "metricbench.cli.main", "extract", str(tmp / "imgs"), "--out", str(tmp / "out"),
           "--backend", "slowbackend:Slow", "--jobs", "2"]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=default_sigint, **popen)


def _workers_of(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-eo", "pid,ppid"], capture_output=True, text=True).stdout.split("\n")[1:]
    return [int(a) for a, b in (ln.split() for ln in out if ln.strip()) if int(b) == pid]


@pytest.mark.parametrize("sig", ["SIGINT to the process group (Ctrl-C)", "SIGTERM to the main process"])
def test_extract_jobs2_stops_within_seconds_and_resumes(setup, sig):
    tmp = setup
    proc = _run(tmp, tmp / "marks1", 0.5, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while len(list((tmp / "marks1").iterdir())) < 3:  # both workers are embedding
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the extraction never started"
            time.sleep(0.05)
        t0 = time.monotonic()
        if sig.startswith("SIGINT"):
            os.killpg(proc.pid, signal.SIGINT)
        else:
            proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
        took = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, (proc.returncode, err)
    assert took < 8.0, f"stopping took {took:.1f} s"
    lines = [ln for ln in err.splitlines() if ln.strip() and "ETA" not in ln]
    assert len(lines) == 1 and "interrupted" in lines[0] and "Traceback" not in err, err
    assert not (tmp / "out" / "embeddings.npy").exists() and not (tmp / "out" / "labels.csv").exists()
    time.sleep(0.5)
    assert not _workers_of(proc.pid)
    finished = len(list((tmp / "marks1").iterdir()))
    assert 3 <= finished < N_IMAGES

    again = _run(tmp, tmp / "marks2", 0.0)
    out, err = again.communicate(timeout=300)
    assert again.returncode == 0, err
    redone = len(list((tmp / "marks2").iterdir()))
    # every image finished before the interrupt (the ones in hand included) was kept: none is embedded twice
    assert redone == N_IMAGES - finished, (redone, finished, err)
    info = json.loads((tmp / "out" / "extract_info.json").read_text())
    assert info["n_embedded"] == N_IMAGES
    X = np.load(tmp / "out" / "embeddings.npy")
    assert X.shape == (N_IMAGES, 3) and np.isfinite(X).all()
