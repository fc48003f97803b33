"""An interrupted or failed write leaves the previous output byte-identical.

A child process writing a large submission is killed (SIGKILL) or interrupted
(SIGINT) mid-write; a full disk and unwritable paths are simulated (the suite runs
as root, so permissions are simulated by patching, and a path under a file is real).
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from metricbench.errors import InputError
from metricbench.io import atomic_path, atomic_write_text, write_submission
from tests.conftest import default_sigint, write_competition

ROOT = Path(__file__).resolve().parents[1]

_CHILD = textwrap.dedent(
    """
    import sys
    import numpy as np
    from metricbench.io import write_submission
    n = int(sys.argv[2])
    rng = np.random.default_rng(0)
    write_submission(sys.argv[1], np.arange(n), rng.random(n))
    print("finished", flush=True)
    """
)


def _previous(out: Path) -> bytes:
    write_submission(out, [2, 1], [0.25, 0.5])
    return out.read_bytes()


def _temps(folder: Path):
    return [p for p in folder.iterdir() if p.name.endswith(".tmp")]


def _start_and_signal(out: Path, sig) -> tuple[subprocess.Popen, bool]:
    """Start a child writing a large submission to ``out``; send ``sig`` once its temporary file grows."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-c", _CHILD, str(out), "6000000"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=default_sigint)
    deadline = time.monotonic() + 120
    hit = False
    while time.monotonic() < deadline and proc.poll() is None:
        tmps = _temps(out.parent)
        if tmps and any(t.stat().st_size > 1_000_000 for t in tmps if t.exists()):
            proc.send_signal(sig)
            hit = True
            break
        time.sleep(0.02)
    proc.wait(timeout=120)
    return proc, hit


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT, signal.SIGTERM], ids=["SIGKILL", "SIGINT", "SIGTERM"])
def test_killed_mid_write_leaves_previous_submission_byte_identical(tmp_path, sig):
    out = tmp_path / "sub.csv"
    before = _previous(out)
    proc, hit = _start_and_signal(out, sig)
    assert hit, "the child finished before it could be interrupted: " + proc.stdout.read()
    assert proc.returncode != 0
    assert out.read_bytes() == before
    if sig != signal.SIGKILL:  # Python's handlers ran: the temporary file is removed
        if sig == signal.SIGINT:
            assert "KeyboardInterrupt" in proc.stderr.read()
            assert _temps(tmp_path) == []


def test_a_complete_write_replaces_the_file(tmp_path):
    out = tmp_path / "sub.csv"
    _previous(out)
    write_submission(out, [5, 3], [0.1, 0.2])
    assert out.read_text() == "Id,Predicted\n3,0.2\n5,0.1\n"
    assert _temps(tmp_path) == []
    assert (out.stat().st_mode & 0o777) == 0o666 & ~_umask()


def _umask():
    m = os.umask(0)
    os.umask(m)
    return m


def test_full_disk_mid_write(tmp_path, monkeypatch):
    out = tmp_path / "sub.csv"
    before = _previous(out)
    real = pd.DataFrame.to_csv

    def half_then_full(self, path, *a, **k):
        Path(path).write_text("Id,Predicted\n1,0.")  # a partial write ...
        raise OSError(errno.ENOSPC, "No space left on device")  # ... then the disk is full

    monkeypatch.setattr(pd.DataFrame, "to_csv", half_then_full)
    with pytest.raises(InputError, match=r"cannot write .*sub\.csv: no space left on the device; sub\.csv is unchanged"):
        write_submission(out, [1, 2], [0.1, 0.2])
    monkeypatch.setattr(pd.DataFrame, "to_csv", real)
    assert out.read_bytes() == before
    assert _temps(tmp_path) == []


def test_full_disk_at_the_rename(tmp_path, monkeypatch):
    out = tmp_path / "r.json"
    atomic_write_text(out, "old\n")

    def no_space(src, dst):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", no_space)
    with pytest.raises(InputError, match=r"no space left on the device; r\.json is unchanged"):
        atomic_write_text(out, "new\n")
    assert out.read_text() == "old\n" and _temps(tmp_path) == []


@pytest.mark.parametrize("err, reason", [(errno.EACCES, "permission denied"), (errno.EROFS, "read-only"),
                                         (errno.EDQUOT, "quota")])
def test_unwritable_folder(tmp_path, monkeypatch, err, reason):
    import tempfile

    def refuse(*a, **k):
        raise OSError(err, os.strerror(err))

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    with pytest.raises(InputError, match=rf"cannot write .*new\.csv: .*{reason}.*; nothing was written"):
        write_submission(tmp_path / "new.csv", [1], [0.5])
    assert not (tmp_path / "new.csv").exists()


def test_path_under_a_file_and_a_directory_as_path(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(InputError, match=r"a component of the path is a file, not a folder; nothing was written"):
        write_submission(f / "sub.csv", [1], [0.5])
    with pytest.raises(InputError, match=r"cannot write .*: it is a directory"):
        write_submission(tmp_path, [1], [0.5])
    assert f.read_text() == "x"


def test_exception_in_the_block_keeps_the_target(tmp_path):
    out = tmp_path / "a.txt"
    out.write_text("keep")
    with pytest.raises(KeyboardInterrupt), atomic_path(out) as tmp:
        Path(tmp).write_text("half")
        raise KeyboardInterrupt
    assert out.read_text() == "keep" and _temps(tmp_path) == []


# -- through the CLI -----------------------------------------------------------------------------

def test_cli_full_disk_and_ctrl_c_keep_the_previous_submission(tmp_path, monkeypatch):
    from metricbench.cli.main import app

    runner = CliRunner()
    d = write_competition(tmp_path / "c")
    out = tmp_path / "sub.csv"
    args = ["score", "-m", "cosine", "--no-validate", "--data", str(d), "--out", str(out)]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    before = out.read_bytes()

    def full(self, path, *a, **k):
        Path(path).write_text("Id,Pre")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_csv", full)
    res = runner.invoke(app, args + ["--force"] if "--force" in _score_options() else args)
    assert res.exit_code == 2, res.output
    errors = [ln for ln in res.output.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "no space left on the device" in errors[0] and "Traceback" not in res.output
    assert out.read_bytes() == before and _temps(tmp_path) == []

    def interrupted(self, path, *a, **k):
        Path(path).write_text("Id,Pre")
        raise KeyboardInterrupt

    monkeypatch.setattr(pd.DataFrame, "to_csv", interrupted)
    res = runner.invoke(app, args + ["--force"] if "--force" in _score_options() else args)
    assert res.exit_code == 130, res.output
    assert "Traceback" not in res.output
    assert out.read_bytes() == before and _temps(tmp_path) == []


def _score_options():
    from metricbench.cli.main import app

    runner = CliRunner()
    return runner.invoke(app, ["score", "--help"]).output


def test_retrieve_and_evaluate_write_atomically(tmp_path, monkeypatch):
    """The JSON / CSV writers of retrieve and evaluate go through atomic_path too."""
    from metricbench.cli.main import app

    runner = CliRunner()
    rng = np.random.default_rng(0)
    np.save(tmp_path / "q.npy", rng.standard_normal((5, 4)).astype(np.float32))
    np.save(tmp_path / "g.npy", rng.standard_normal((9, 4)).astype(np.float32))
    out = tmp_path / "r.csv"
    out.write_text("previous\n")
    real = Path.write_text

    def full(self, *a, **k):
        if self.name.endswith(".tmp"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, *a, **k)

    monkeypatch.setattr(Path, "write_text", full)
    args = ["retrieve", "-q", str(tmp_path / "q.npy"), "-g", str(tmp_path / "g.npy"), "--out", str(out)]
    if "--force" in runner.invoke(app, ["retrieve", "--help"]).output:
        args.append("--force")
    res = runner.invoke(app, args)
    assert res.exit_code == 2 and "no space left on the device" in res.output, res.output
    monkeypatch.setattr(Path, "write_text", real)
    assert out.read_text() == "previous\n" and _temps(tmp_path) == []
