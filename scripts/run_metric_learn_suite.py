#!/usr/bin/env python
"""Run metric-learn 0.7.0's own test suite, with or without metricbench's compat layer.

metric-learn's source distribution on PyPI ships its tests (``test/``, 1,965 of
them). This script fetches that sdist with pip (from PyPI only, nothing else),
unpacks it to a temporary folder, and runs the tests with pytest against the
metric-learn and scikit-learn installed for ``--python``:

* with the layer (default): pytest gets ``-p metric_learn_compat_plugin``
  (``scripts/metric_learn_compat_plugin.py``, outside the runtime package), which
  calls the explicit opt-in :func:`metricbench.learn.compat.patch_metric_learn`
  before collection;
* ``--no-compat``: metric-learn as released, no patch.

The bundled ``metric_learn/`` package is removed from the unpacked copy so that
the installed metric-learn (the one metricbench uses) is what runs; an empty
``test/__init__.py`` is added so that ``from test.test_utils import ...`` finds
these tests rather than the standard library's ``test`` package.

Examples
--------
Today's scikit-learn with the layer, then scikit-learn 1.5.2 without it::

    python scripts/run_metric_learn_suite.py --junitxml new.xml
    python scripts/run_metric_learn_suite.py --python /path/to/venv-sklearn-1.5/bin/python --no-compat --junitxml old.xml
    python scripts/run_metric_learn_suite.py --compare old.xml new.xml

It prints per-file counts, the most common failure messages, and a last line
``N passed, N failed`` (errors count as failed, skips are listed apart).
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SPEC = "metric-learn==0.7.0"
PLUGIN = "metric_learn_compat_plugin"  # scripts/metric_learn_compat_plugin.py


def _run(cmd, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=True, text=True, **kw)


def versions(python: str) -> dict:
    code = (
        "import json, sklearn, numpy, scipy, metric_learn, pytest;"
        "print(json.dumps({'python': __import__('platform').python_version(), 'scikit-learn': sklearn.__version__,"
        " 'numpy': numpy.__version__, 'scipy': scipy.__version__, 'metric-learn': metric_learn.__version__,"
        " 'pytest': pytest.__version__}))"
    )
    out = _run([python, "-c", code], capture_output=True).stdout
    import json

    return json.loads(out.strip().splitlines()[-1])


def fetch_sdist(python: str, dest: Path, sdist: str | None) -> Path:
    """The metric-learn 0.7.0 sdist: ``sdist`` if given, else ``pip download`` from PyPI."""
    if sdist:
        return Path(sdist)
    _run(
        [python, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:", SPEC, "-d", str(dest)],
    )
    found = sorted(dest.glob("metric[-_]learn-0.7.0.tar.gz"))
    if not found:
        sys.exit(f"pip download did not produce metric-learn-0.7.0.tar.gz in {dest}")
    return found[0]


def unpack(sdist: Path, dest: Path) -> Path:
    with tarfile.open(sdist) as tf:
        try:
            tf.extractall(dest, filter="data")
        except TypeError:  # Python < 3.11.4
            tf.extractall(dest)
    root = next(p for p in dest.iterdir() if p.is_dir() and (p / "test").is_dir())
    (root / "test" / "__init__.py").touch()
    shutil.rmtree(root / "metric_learn", ignore_errors=True)  # test the installed metric-learn
    return root


def outcomes(junitxml: Path) -> dict[str, tuple[str, str]]:
    """``test id -> (outcome, message)`` from a pytest JUnit XML file."""
    out = {}
    for tc in ET.parse(junitxml).iter("testcase"):
        classname = tc.get("classname", "")
        tid = f"{classname}::{tc.get('name')}"
        state, msg = "passed", ""
        for child in tc:
            if child.tag in ("failure", "error"):
                state, msg = "failed", (child.get("message") or "").strip()
                break
            if child.tag == "skipped":
                state, msg = "skipped", (child.get("message") or "").strip()
        out[tid] = (state, msg)
    return out


def summarise(res: dict[str, tuple[str, str]], top: int = 10) -> str:
    counts = collections.Counter(s for s, _ in res.values())
    per_file = collections.defaultdict(collections.Counter)
    reasons = collections.Counter()
    for tid, (state, msg) in res.items():
        per_file[".".join(tid.split("::")[0].split(".")[:2])][state] += 1
        if state == "failed":
            first = msg.splitlines()[0] if msg else "(no message)"
            reasons[re.sub(r"\d+", "N", first)[:110]] += 1
    lines = ["per file (passed / failed / skipped):"]
    for f in sorted(per_file):
        c = per_file[f]
        lines.append(f"  {f:<40} {c['passed']:>5} {c['failed']:>5} {c['skipped']:>5}")
    if reasons:
        lines.append(f"most common failure messages (top {top}):")
        lines += [f"  {n:>5}  {m}" for m, n in reasons.most_common(top)]
    line = f"{counts['passed']} passed, {counts['failed']} failed"
    if counts["skipped"]:
        line += f", {counts['skipped']} skipped"
    lines.append(line)
    return "\n".join(lines)


def compare(a: Path, b: Path) -> int:
    ra, rb = outcomes(a), outcomes(b)
    only_a = sorted(t for t in ra if ra[t][0] == "passed" and rb.get(t, ("missing",))[0] != "passed")
    only_b = sorted(t for t in rb if rb[t][0] == "passed" and ra.get(t, ("missing",))[0] != "passed")
    pa = sum(s == "passed" for s, _ in ra.values())
    pb = sum(s == "passed" for s, _ in rb.values())
    print(f"{a}: {pa} of {len(ra)} passed; {b}: {pb} of {len(rb)} passed")
    print(f"passed in {a.name} only: {len(only_a)}")
    for t in only_a:
        print(f"  {t}  [{b.name}: {rb.get(t, ('missing', ''))[1].splitlines()[0][:100] if rb.get(t, ('', ''))[1] else ''}]")
    print(f"passed in {b.name} only: {len(only_b)}")
    for t in only_b:
        print(f"  {t}")
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--python", default=sys.executable, help="interpreter whose metric-learn/scikit-learn to test")
    ap.add_argument("--no-compat", action="store_true", help="run without metricbench's compat layer")
    ap.add_argument("--sdist", help="use this metric-learn-0.7.0.tar.gz instead of pip download")
    ap.add_argument("--junitxml", help="keep pytest's JUnit XML report here")
    ap.add_argument("--keep", action="store_true", help="keep the unpacked suite (path is printed)")
    ap.add_argument("--compare", nargs=2, metavar=("A.xml", "B.xml"), help="only compare two earlier reports")
    ap.add_argument("pytest_args", nargs="*",
                    help="extra pytest arguments (after --), e.g. -- -k LMNN, or -- test/test_constraints.py")
    args = ap.parse_args(argv)
    if args.compare:
        return compare(Path(args.compare[0]), Path(args.compare[1]))

    v = versions(args.python)
    layer = "off" if args.no_compat else "on"
    print(f"metric-learn {v['metric-learn']} suite; scikit-learn {v['scikit-learn']}, numpy {v['numpy']}, "
          f"scipy {v['scipy']}, pytest {v['pytest']}, Python {v['python']}; compat layer {layer}", flush=True)
    if v["metric-learn"] != "0.7.0":
        print(f"warning: installed metric-learn is {v['metric-learn']}, the suite is 0.7.0's", file=sys.stderr)

    work = Path(tempfile.mkdtemp(prefix="mlsuite-"))
    try:
        root = unpack(fetch_sdist(args.python, work, args.sdist), work)
        junit = Path(args.junitxml).resolve() if args.junitxml else work / "report.xml"
        # a test file or node id among the extra arguments replaces the default target "test"
        target = [] if any(a.startswith("test") for a in args.pytest_args) else ["test"]
        cmd = [args.python, "-m", "pytest", *target, "-q", "-p", "no:cacheprovider", "-o", "addopts=",
               f"--junitxml={junit}", "-rN", *args.pytest_args]
        env = dict(os.environ)
        env.setdefault("OMP_NUM_THREADS", "1")
        env.setdefault("OPENBLAS_NUM_THREADS", "1")
        env.setdefault("MKL_NUM_THREADS", "1")
        if not args.no_compat:
            cmd[3:3] = ["-p", PLUGIN]
            env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(REPO / "scripts")]
                                                + [p for p in [env.get("PYTHONPATH")] if p])
        if not args.no_compat:
            code = "from metricbench.learn.compat import patch_metric_learn as f; print(', '.join(f()))"
            patched = _run([args.python, "-c", code], env=env, capture_output=True).stdout.strip()
            print("compat layer patches:", patched or "nothing (this scikit-learn needs none)", flush=True)
        print("running:", " ".join(cmd), f"(in {root})", flush=True)
        proc = subprocess.run(cmd, cwd=root, env=env, text=True, capture_output=True)
        tail = proc.stdout.strip().splitlines()[-1:] if proc.stdout.strip() else []
        print("pytest:", tail[0] if tail else f"(no output; exit {proc.returncode})", flush=True)
        if not junit.exists():
            print(proc.stdout[-3000:], proc.stderr[-3000:], sep="\n", file=sys.stderr)
            return 2
        print(summarise(outcomes(junit)))
        return 0
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
