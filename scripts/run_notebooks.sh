#!/usr/bin/env bash
# Execute the notebooks top to bottom. By default the committed files are NOT modified: each notebook is executed
# from a copy, and the executed copy is written to OUT (default: a fresh temporary folder, printed at the end).
#
#   scripts/run_notebooks.sh                                  # every notebooks/*.ipynb, copies into a temp folder
#   scripts/run_notebooks.sh --out runs/notebooks             # executed copies kept in runs/notebooks/
#   scripts/run_notebooks.sh notebooks/01_quickstart.ipynb    # some of them
#   scripts/run_notebooks.sh --in-place                       # deliberately refresh the committed outputs
#   PYTHON=/path/to/python scripts/run_notebooks.sh           # another interpreter (default: python3)
#
# Needs nbclient, nbformat and ipykernel (the `dev` extra: pip install -e ".[dev]"). The kernel runs the same
# interpreter as this script (a temporary kernelspec pins it), with the checkout on PYTHONPATH, in notebooks/
# (so relative paths resolve as they do for a reader). Files a notebook writes go to METRICBENCH_NB_OUT (= OUT),
# not into the checkout. Exits non-zero if a cell raises. Outputs stay small: figures are drawn at about
# 400 x 320 px; the script warns when a notebook passes 300 KB. Set METRICBENCH_NB_SLOW=1 to include the slower
# learned metrics in 02_learned_metrics.ipynb (then do not commit the result unless you mean to).
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
out=""
inplace=0
args=()
while [ "$#" -gt 0 ]; do
  case "$1" in
    --in-place) inplace=1; shift ;;
    --out) out="$2"; shift 2 ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) args+=("$1"); shift ;;
  esac
done
if [ "${#args[@]}" -eq 0 ]; then
  args=(notebooks/*.ipynb)
fi
if [ "$inplace" -eq 0 ] && [ -z "$out" ]; then
  out="$(mktemp -d "${TMPDIR:-/tmp}/metricbench-notebooks.XXXXXX")"
fi
[ -n "$out" ] && mkdir -p "$out"
export NB_INPLACE="$inplace" NB_OUT="$out"
exec "$PY" - "${args[@]}" <<'PYEOF'
import json
import os
import sys
import tempfile
import time
from pathlib import Path

try:
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError
    import ipykernel  # noqa: F401
except ImportError as e:
    sys.exit(f"error: {e.name} is missing: pip install -e '.[dev]' (nbclient, nbformat, ipykernel)")

root = Path.cwd()
inplace = os.environ["NB_INPLACE"] == "1"
out = Path(os.environ["NB_OUT"]).resolve() if os.environ["NB_OUT"] else None
failed = 0
with tempfile.TemporaryDirectory() as spec_dir, tempfile.TemporaryDirectory() as scratch:
    # a kernelspec named python3 that runs this interpreter (JUPYTER_PATH is searched first)
    kdir = Path(spec_dir) / "kernels" / "python3"
    kdir.mkdir(parents=True)
    (kdir / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (ipykernel)", "language": "python",
    }))
    os.environ["JUPYTER_PATH"] = os.pathsep.join(filter(None, [spec_dir, os.environ.get("JUPYTER_PATH")]))
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))
    os.environ["METRICBENCH_NB_OUT"] = str(out or scratch)
    for name in sys.argv[1:]:
        path = Path(name)
        nb = nbformat.read(path, as_version=4)  # a copy in memory; the file is only rewritten with --in-place
        t = time.perf_counter()
        try:
            NotebookClient(nb, timeout=600, kernel_name="python3", record_timing=False,
                           resources={"metadata": {"path": str(path.parent.resolve())}}).execute()
        except CellExecutionError as e:
            failed += 1
            print(f"{path}: FAILED\n{e}", file=sys.stderr)
        nb.metadata["kernelspec"] = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
        dest = path if inplace else out / path.name
        nbformat.write(nb, dest)
        kb = dest.stat().st_size / 1024
        note = "  WARNING: over 300 KB, shrink the figures" if kb > 300 else ""
        print(f"{path}: executed in {time.perf_counter() - t:.0f} s -> {dest} ({kb:.0f} KB){note}")
if not inplace:
    print(f"executed copies in {out}; the committed notebooks are unchanged (--in-place refreshes them)")
sys.exit(1 if failed else 0)
PYEOF
