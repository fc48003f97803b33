import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

# Hypothesis profiles (issue 10): "ci", the default, draws the same examples on every run
# (derandomize, no example database), so CI fails only on a draw someone can reproduce, and
# keeps the whole property-based suite at its fixed size. "dev" draws at random (and keeps
# failures in .hypothesis/ to replay them); "deep" draws ten times as many: run
# HYPOTHESIS_PROFILE=dev pytest tests/test_topk.py (or --hypothesis-seed=N) to look for bugs.
_HYP = dict(deadline=None, print_blob=True,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
settings.register_profile("ci", derandomize=True, database=None, max_examples=20, **_HYP)
settings.register_profile("dev", max_examples=20, **_HYP)
settings.register_profile("deep", max_examples=200, **_HYP)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

ROOT = Path(__file__).resolve().parents[1]
from metricbench.datasets import lfw_xq_path  # noqa: E402

DATA = lfw_xq_path()  # the embedded default competition (inside the package)
LFW = Path(os.environ.get("METRICBENCH_LFW", ROOT.parent / "shared" / "data" / "lfw"))


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture(scope="session")
def lfw_dir():
    if not (LFW / "reference").is_dir():
        pytest.skip(f"LFW reference data not found at {LFW} (set METRICBENCH_LFW)")
    return LFW


def error_line(res) -> str:
    """The one line a failed command printed on stderr, checked to be its whole stderr: one
    ``error:`` line, no progress or stage line above it, no traceback."""
    lines = res.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), res.stderr  # not even a blank line
    return lines[0]


def assert_one_line_error(res, pattern):
    """A CLI result that failed with exactly one line on stderr, an ``error:`` line matching
    ``pattern``, and no traceback."""
    import re

    assert res.exit_code != 0
    line = error_line(res)
    assert "Traceback" not in res.output, res.output
    assert re.search(pattern, line), line



def default_sigint() -> None:
    """``preexec_fn`` of a child that a test interrupts with SIGINT: Ctrl-C's default disposition.

    A shell starts background jobs (``cmd &``, nohup, CI runners) with SIGINT ignored, children
    inherit that, and Python then installs no KeyboardInterrupt handler: the child would finish
    as if never interrupted. Resetting it makes the test see what a terminal user gets.
    """
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)

def write_competition(path: Path, *, n_train=60, n_test=20, d=8, n_cls=6, n_pairs=30, seed=0):
    """A small valid competition directory (synthetic)."""
    import pandas as pd

    r = np.random.default_rng(seed)
    path.mkdir(parents=True, exist_ok=True)
    centres = r.standard_normal((n_cls + 4, d)) * 3
    ytr = np.arange(n_train) % n_cls
    Xtr = (centres[ytr] + r.standard_normal((n_train, d))).astype(np.float32)
    yte = n_cls + (np.arange(n_test) % 4)
    Xte = (centres[yte] + r.standard_normal((n_test, d))).astype(np.float32)
    np.save(path / "train_set.npy", Xtr)
    pd.DataFrame({"index": np.arange(n_train), "class": ytr}).to_csv(path / "train_labels.csv", index=False)
    np.save(path / "test_set.npy", Xte)
    i1 = r.integers(0, n_test, n_pairs)
    i2 = r.integers(0, n_test, n_pairs)
    ids = r.permutation(n_pairs) + 100
    pd.DataFrame({"index1": i1, "index2": i2, "Id": ids}).to_csv(path / "test_pairs.csv", index=False)
    pd.DataFrame({"Id": ids, "Expected": (yte[i1] == yte[i2]).astype(int)}).to_csv(
        path / "solution.csv", index=False
    )
    return path
