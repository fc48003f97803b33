"""Fit time of learned metrics at the competition's full size, on synthetic data.

The reference competition's train set is 454,714 x 512 float32 with 10,575
identities (ArcFace embeddings of CASIA-WebFace). This script builds a synthetic
set of that shape with ``metricbench synth --like raai2019`` (seeded; identity centres, a
shared anisotropic within-identity scatter, quality-dependent norms, long-tailed identity
sizes, the model fitted on ``data/lfw-xq``), cached in the temp folder, and times ``fit`` of
each metric named on its memory map.

Usage::

    PYTHONPATH=. python benchmarks/bench_fit_full_size.py                  # lmnn, full size
    PYTHONPATH=. python benchmarks/bench_fit_full_size.py --metrics all     # every learned metric, one table
    PYTHONPATH=. python benchmarks/bench_fit_full_size.py --metrics lmnn --n 45471 --classes 1057
    PYTHONPATH=. python benchmarks/bench_fit_full_size.py --param n_components=256

It prints the machine load before and after, peak resident memory, the fit time
and the metric's own ``describe()`` line.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/_report.py
from _report import loadavg  # noqa: E402

N_FULL, D_FULL, C_FULL = 454_714, 512, 10_575


def make_synthetic(n: int = N_FULL, d: int = D_FULL, n_classes: int = C_FULL, *, seed: int = 0, cache=None):
    """The train set of ``metricbench synth --like raai2019`` of that shape: ``(X, y)``, ``X`` a
    read-only float32 memory map (n, d), ``y`` int64 (n,).

    Written once into ``cache`` (default: a folder under the system temp directory named by
    the shape and seed) and reused by later runs; see :mod:`metricbench.synth` for the model
    (spectra fitted on ``data/lfw-xq``, quality-dependent norms, long-tailed identity sizes).
    """
    import tempfile

    from metricbench.io import load_competition
    from metricbench.synth import synth

    cache = Path(cache or Path(tempfile.gettempdir()) / f"metricbench-synth-raai2019-{n}x{d}-{n_classes}-s{seed}")
    if not (cache / "manifest.json").exists():
        synth(cache, like="raai2019", n_train=n, n_classes=n_classes, dim=d, n_test=max(2, min(11_605, n // 40)),
              n_pairs=min(31_444, max(2, n // 20)), seed=seed, overwrite=True)
    comp = load_competition(cache)
    return comp.train_X, comp.train_y


def _parse_params(items):
    out = {}
    for it in items or []:
        k, _, v = it.partition("=")
        for cast in (int, float):
            try:
                v = cast(v)
                break
            except ValueError:
                pass
        out[k] = v
    return out


def _build(name, **params):
    """The metric registered as ``name`` (learned ones straight from ``LEARNED``)."""
    import importlib

    from metricbench.registry import LEARNED

    if name not in LEARNED:
        from metricbench.registry import get_metric

        return get_metric(name, **params)
    target, _, defaults = LEARNED[name]
    mod, _, cls = target.partition(":")
    m = getattr(importlib.import_module(mod), cls)(**{**defaults, **params})
    m.name = name
    return m


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--metrics", default="lmnn",
                    help="comma-separated registry names, or 'all' for every learned metric")
    ap.add_argument("--n", type=int, default=N_FULL)
    ap.add_argument("--d", type=int, default=D_FULL)
    ap.add_argument("--classes", type=int, default=C_FULL)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--param", action="append", help="key=value passed to every metric")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args(argv)

    print(f"load average before: {loadavg()}; cpus {os.cpu_count()}")
    t0 = time.perf_counter()
    X, y = make_synthetic(args.n, args.d, args.classes, seed=args.seed)
    print(f"synthetic {X.shape[0]} x {X.shape[1]} float32, {np.unique(y).size} identities "
          f"(sizes {np.bincount(y).min()}..{np.bincount(y).max()}), built or loaded in {time.perf_counter() - t0:.1f}s")
    params = _parse_params(args.param)
    if args.metrics == "all":
        from metricbench.registry import LEARNED

        names = list(LEARNED)
    else:
        names = args.metrics.split(",")
    rows = []
    for name in names:
        extra = dict(params)
        if args.verbose:
            extra["verbose"] = True
        load0 = os.getloadavg()[0]
        c0 = time.process_time()
        t0 = time.perf_counter()
        try:
            m = _build(name, **extra)
            m.fit(X, y)
        except Exception as exc:  # report and go on with the next metric
            print(f"{name}: FAILED after {time.perf_counter() - t0:.1f}s: {type(exc).__name__}: {exc}", flush=True)
            rows.append((name, float("nan"), float("nan"), float("nan"), f"failed: {type(exc).__name__}"))
            continue
        dt = time.perf_counter() - t0
        cpu = time.process_time() - c0
        # ru_maxrss is the process's peak so far: it only grows along the list
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
        print(f"{name}: fit {dt:.1f}s wall, {cpu:.1f}s CPU on {X.shape[0]} x {X.shape[1]} "
              f"(process peak RSS so far {peak:.2f} GiB, load {load0:.1f})", flush=True)
        desc = m.describe()
        print(f"  {desc}", flush=True)
        if hasattr(m, "timings_"):
            print(f"  timings: {m.timings_}")
        rows.append((name, dt, cpu, load0, desc))
        del m
    print(f"load average after: {loadavg()}")
    if len(rows) > 1:
        print("\n| metric | fit wall (s) | fit CPU (s) | load at start | what was fitted |")
        print("|---|---|---|---|---|")
        for name, dt, cpu, load0, desc in rows:
            print(f"| `{name}` | {dt:.1f} | {cpu:.1f} | {load0:.1f} | {desc} |")


if __name__ == "__main__":
    main()
