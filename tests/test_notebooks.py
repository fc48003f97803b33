"""The notebooks in notebooks/ run from top to bottom without an error (CI keeps them from rotting).

Each notebook is executed with nbclient in a kernel that runs this test's own interpreter (a temporary
kernelspec named ``python3`` pins it), with the checkout on PYTHONPATH and ``notebooks/`` as the working
directory, on the embedded default competition ``lfw-xq`` (``metricbench.datasets.load_lfw_xq()``). The committed files themselves are also checked:
valid notebooks, no error outputs, small enough to review. Executing never modifies the committed files
(``scripts/run_notebooks.sh`` likewise writes executed copies elsewhere unless told ``--in-place``), and the
figures a fresh execution prints must equal the committed outputs' (so a committed notebook cannot go stale).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
MAX_BYTES = 300 * 1024


def _missing_runner() -> str | None:
    """Why the notebooks cannot be executed here, or None."""
    import importlib.util

    for mod in ("nbformat", "nbclient", "ipykernel"):
        if importlib.util.find_spec(mod) is None:
            return f"{mod} is not installed: pip install -e '.[dev]' (nbclient, nbformat, ipykernel) to execute the notebooks"
    return None


def test_notebooks_exist():
    names = [p.name for p in NOTEBOOKS]
    assert "01_quickstart.ipynb" in names and "02_learned_metrics.ipynb" in names, names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_committed_notebook_is_small_and_clean(path):
    """Committed outputs stay small and hold no traceback (read as JSON; needs no Jupyter package)."""
    size = path.stat().st_size
    assert size < MAX_BYTES, f"{path.name} is {size / 1024:.0f} KB; shrink its figures (limit {MAX_BYTES // 1024} KB)"
    nb = json.loads(path.read_text(encoding="utf-8"))
    assert nb["nbformat"] == 4
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    for i, cell in enumerate(nb["cells"]):
        for out in cell.get("outputs", []):
            assert out.get("output_type") != "error", f"{path.name}: cell {i} holds an error output"


def _figures(cell) -> list[str]:
    """The 4-decimal numbers of a cell's text outputs (AUROCs, rates; timings are printed with fewer decimals)."""
    import re

    text = ""
    for out in cell.get("outputs", []):
        text += "".join(out.get("text", "")) + "".join(out.get("data", {}).get("text/plain", ""))
    return re.findall(r"(?<![\d.])\d\.\d{4}(?!\d)", text)


@pytest.fixture()
def kernel_env(tmp_path, monkeypatch):
    """A ``python3`` kernelspec that runs this interpreter, found first through JUPYTER_PATH."""
    why = _missing_runner()
    if why:
        pytest.skip(why)
    kdir = tmp_path / "jupyter" / "kernels" / "python3"
    kdir.mkdir(parents=True)
    (kdir / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "Python 3 (ipykernel)",
                "language": "python",
            }
        )
    )
    monkeypatch.setenv("JUPYTER_PATH", os.pathsep.join(filter(None, [str(tmp_path / "jupyter"), os.environ.get("JUPYTER_PATH")])))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    out = tmp_path / "out"
    out.mkdir()
    monkeypatch.setenv("METRICBENCH_NB_OUT", str(out))  # notebook 1's submission goes here, not into the checkout
    monkeypatch.delenv("METRICBENCH_NB_SLOW", raising=False)
    return out


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_executes(path, kernel_env):
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    before = path.read_bytes()
    listing = sorted(p.name for p in path.parent.iterdir())
    nb = nbformat.read(path, as_version=4)  # executed in memory: the committed file is never rewritten
    # first, prove the kernel runs this environment's interpreter (so it sees the same installed packages)
    probe = nbformat.v4.new_code_cell("import sys; print(sys.prefix)")
    probe["id"] = "test-probe"
    nb.cells.insert(0, probe)
    client = NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    )
    try:
        client.execute()
    except CellExecutionError as e:  # nbclient's message names the cell and holds the traceback
        pytest.fail(f"{path.name}: a cell raised\n{e}", pytrace=False)
    printed = "".join(o.get("text", "") for o in nb.cells[0].outputs).strip()
    assert printed == sys.prefix, f"the kernel runs the interpreter of {printed}, not {sys.prefix}"
    assert path.read_bytes() == before, f"executing {path.name} modified the committed file"
    assert sorted(p.name for p in path.parent.iterdir()) == listing, "the notebook wrote files into notebooks/"
    errors = [c for c in nb.cells if any(o.get("output_type") == "error" for o in c.get("outputs", []))]
    assert not errors
    # the committed outputs are what a fresh run prints: every 4-decimal figure (AUROC, TAR, EER ...) per cell
    committed = json.loads(before.decode("utf-8"))["cells"]
    stale = [i for i, (old, new) in enumerate(zip(committed, nb.cells[1:]))
             if old["cell_type"] == "code" and _figures(old) != _figures(new)]
    assert not stale, (f"{path.name}: cells {stale} print other figures than the committed outputs: "
                       f"scripts/run_notebooks.sh --in-place {path.relative_to(ROOT)} (then commit)")
    if path.name == "01_quickstart.ipynb":
        written = list(kernel_env.glob("quickstart-*.csv"))
        assert len(written) == 1, written
        import pandas as pd

        sub = pd.read_csv(written[0])
        assert list(sub.columns) == ["Id", "Predicted"] and len(sub) == 4000
