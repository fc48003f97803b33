#!/usr/bin/env bash
# Re-execute the notebooks in place, so that their committed outputs match the code.
#
#   scripts/run_notebooks.sh                               # every notebooks/*.ipynb
#   scripts/run_notebooks.sh notebooks/01_quickstart.ipynb # some of them
#   PYTHON=/path/to/python scripts/run_notebooks.sh        # another interpreter (default: python3)
#
# Needs nbclient, nbformat and ipykernel (the `dev` extra: pip install -e ".[dev]"). The kernel runs the same
# interpreter as this script (a temporary kernelspec pins it), with the checkout on PYTHONPATH, in notebooks/.
# Outputs stay small: figures are drawn at about 400 x 320 px; the script warns when a notebook passes 300 KB.
# Set METRICBENCH_NB_SLOW=1 to include the slower learned metrics in 02_learned_metrics.ipynb (then do not commit
# the result unless you mean to).
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
if [ "$#" -eq 0 ]; then
  set -- notebooks/*.ipynb
fi
exec "$PY" - "$@" <<'EOF'
import json
import os
import sys
import tempfile
import time
from pathlib import Path

try:
    import nbformat
    from nbclient import NotebookClient
    import ipykernel  # noqa: F401
except ImportError as e:
    sys.exit(f"error: {e.name} is missing: pip install -e '.[dev]' (nbclient, nbformat, ipykernel)")

root = Path.cwd()
with tempfile.TemporaryDirectory() as spec_dir:
    # a kernelspec named python3 that runs this interpreter (JUPYTER_PATH is searched first)
    kdir = Path(spec_dir) / "kernels" / "python3"
    kdir.mkdir(parents=True)
    (kdir / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (ipykernel)", "language": "python",
    }))
    os.environ["JUPYTER_PATH"] = os.pathsep.join(filter(None, [spec_dir, os.environ.get("JUPYTER_PATH")]))
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))
    for name in sys.argv[1:]:
        path = Path(name)
        nb = nbformat.read(path, as_version=4)
        t = time.perf_counter()
        NotebookClient(nb, timeout=600, kernel_name="python3", record_timing=False,
                       resources={"metadata": {"path": str(path.parent.resolve())}}).execute()
        nb.metadata["kernelspec"] = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
        nbformat.write(nb, path)
        kb = path.stat().st_size / 1024
        note = "  WARNING: over 300 KB, shrink the figures" if kb > 300 else ""
        print(f"{path}: executed in {time.perf_counter() - t:.0f} s, {kb:.0f} KB{note}")
EOF
