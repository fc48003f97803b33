"""Fit time of learned metrics at the competition's full size, on synthetic data.

The reference competition's train set is 454,714 x 512 float32 with 10,575
identities (ArcFace embeddings of CASIA-WebFace). This script builds a synthetic
set of that shape, seeded: identity centres plus anisotropic within-identity noise,
a long-tailed identity size distribution (2 to about 800 rows, mean 43), every row
L2-normalised like ArcFace output. Then it times ``fit`` of each metric named.

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
import time

import numpy as np

N_FULL, D_FULL, C_FULL = 454_714, 512, 10_575


def class_sizes(n: int, n_classes: int, seed: int = 0) -> np.ndarray:
    """Long-tailed identity sizes, each >= 2, summing exactly to ``n``."""
    rng = np.random.default_rng(seed)
    if n < 2 * n_classes:
        raise ValueError(f"{n} rows cannot give {n_classes} identities of 2+ rows")
    w = rng.lognormal(mean=0.0, sigma=0.9, size=n_classes)
    sizes = 2 + np.floor(w / w.sum() * (n - 2 * n_classes)).astype(np.int64)
    rest = n - sizes.sum()
    sizes[rng.choice(n_classes, size=rest, replace=False)] += 1
    return sizes


def make_synthetic(n: int = N_FULL, d: int = D_FULL, n_classes: int = C_FULL, *, seed: int = 0,
                   noise: float = 2.5):
    """Synthetic face-embedding-like data: ``(X float32 (n, d), y int64 (n,))``.

    Identity centres are Gaussian; within-identity noise is Gaussian with a
    per-dimension scale that decays (some directions carry mostly nuisance variance,
    which is what a learned metric should down-weight); rows are L2-normalised.
    """
    rng = np.random.default_rng(seed)
    sizes = class_sizes(n, n_classes, seed)
    y = np.repeat(np.arange(n_classes, dtype=np.int64), sizes)
    centres = rng.standard_normal((n_classes, d), dtype=np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    scale = (noise * np.sqrt(np.linspace(3.0, 0.2, d) / d)).astype(np.float32)
    # a random rotation so that the nuisance directions are not the coordinate axes
    Q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    Q = Q.astype(np.float32)
    X = np.empty((n, d), dtype=np.float32)
    step = 65536
    for s in range(0, n, step):
        e = min(n, s + step)
        E = rng.standard_normal((e - s, d), dtype=np.float32) * scale
        X[s:e] = centres[y[s:e]] + E @ Q
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    perm = rng.permutation(n)
    return X[perm], y[perm]


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

    print(f"load average before: {os.getloadavg()}; cpus {os.cpu_count()}")
    t0 = time.perf_counter()
    X, y = make_synthetic(args.n, args.d, args.classes, seed=args.seed)
    print(f"synthetic {X.shape[0]} x {X.shape[1]} float32, {np.unique(y).size} identities "
          f"(sizes {np.bincount(y).min()}..{np.bincount(y).max()}), built in {time.perf_counter() - t0:.1f}s")
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
    print(f"load average after: {os.getloadavg()}")
    if len(rows) > 1:
        print("\n| metric | fit wall (s) | fit CPU (s) | load at start | what was fitted |")
        print("|---|---|---|---|---|")
        for name, dt, cpu, load0, desc in rows:
            print(f"| `{name}` | {dt:.1f} | {cpu:.1f} | {load0:.1f} | {desc} |")


if __name__ == "__main__":
    main()
