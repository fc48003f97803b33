"""How close ``metricbench synth`` comes to the real embeddings it was fitted on (``data/lfw-xq``).

Builds two synthetic competitions in the shapes of ``data/lfw-xq`` (15,518 x 128 train, 4,832 x 128
test, 4,000 clean-vs-degraded pairs):

* ``fitted``: ``metricbench synth --like data/lfw-xq`` (every parameter fitted, same bases);
* ``preset``: the ``raai2019`` preset's spectra (the ones ``--like raai2019`` uses at 512-D) in
  random orthogonal bases at 128-D, with lfw-xq's identity sizes and two variants per image.

Then prints (1) the spectra of between-identity, within-identity and degradation scatter refitted
on each synthetic set against lfw-xq's (trace ratio, Pearson correlation of the log
eigenvalues over the top 64, top-3 eigenvalues) and the norms by variant; (2) the test AUROC of
every closed-form metric on each set and the Spearman correlation of the metric ranking.

Usage::

    PYTHONPATH=. python benchmarks/synth_vs_lfw_xq.py                 # the report
    PYTHONPATH=. python benchmarks/synth_vs_lfw_xq.py --write-preset  # refit metricbench/_synth_preset.py
"""

from __future__ import annotations

import argparse
import os
import pprint
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
def _lfw_xq():
    from metricbench.datasets import lfw_xq_path

    return lfw_xq_path()


LFW_XQ = _lfw_xq()
METRICS = ["sqeuclidean", "euclidean", "cosine", "manhattan", "chebyshev", "correlation", "cosine-whitened",
           "zca-cosine", "wccn-cosine", "lda-cosine", "plda", "kissme", "mahalanobis"]

PRESET_HEADER = '''"""Parameters of ``metricbench synth --like raai2019``, fitted on ``data/lfw-xq``.

Written by ``python benchmarks/synth_vs_lfw_xq.py --write-preset`` (do not edit by hand):
eigenvalues (largest first) of the between-identity covariance (corrected for the noise in the
means of small identities), of the pooled within-identity covariance of clean rows and of the
covariance of (degraded - clean) of one image; the norms of the mean row and of the mean
degradation shift; mean and sd of log ||x|| of clean and of degraded rows.
"""

'''


def write_preset():
    from metricbench.synth import fit_competition, preset_from

    pr = preset_from(fit_competition(LFW_XQ))
    pr["fitted_on"] = "data/lfw-xq"
    path = ROOT / "metricbench" / "_synth_preset.py"
    path.write_text(PRESET_HEADER + "RAAI2019_PRESET = " + pprint.pformat(pr, width=110, compact=True) + "\n")
    print(f"wrote {path}")


def spectra_report(name, p, ref):
    print(f"\n## spectra: {name} vs lfw-xq (refitted on the synthetic train set)")
    print("| scatter | trace ratio | corr. of log eigenvalues (top 64) | top-3 synth | top-3 lfw-xq |")
    print("|---|---|---|---|---|")
    for part in ("between", "within", "degrade"):
        a, b = getattr(p, part), getattr(ref, part)
        k = 64
        la, lb = np.log(np.maximum(a[:k], 1e-12)), np.log(np.maximum(b[:k], 1e-12))
        r = float(np.corrcoef(la, lb)[0, 1])
        print(f"| {part} | {a.sum() / b.sum():.3f} | {r:.3f} | {', '.join(f'{v:.4f}' for v in a[:3])} | "
              f"{', '.join(f'{v:.4f}' for v in b[:3])} |")
    print(f"log-norm clean (mean, sd): synth {p.log_norm_clean[0]:.4f}, {p.log_norm_clean[1]:.4f}; "
          f"lfw-xq {ref.log_norm_clean[0]:.4f}, {ref.log_norm_clean[1]:.4f}")
    print(f"log-norm degraded:         synth {p.log_norm_degraded[0]:.4f}, {p.log_norm_degraded[1]:.4f}; "
          f"lfw-xq {ref.log_norm_degraded[0]:.4f}, {ref.log_norm_degraded[1]:.4f}")


def aurocs(path, metrics):
    from metricbench.evaluation.verification import auroc as roc_auc
    from metricbench.io import load_competition
    from metricbench.registry import get_metric

    comp = load_competition(path, validate=True)
    i1, i2 = comp.pairs["index1"].to_numpy(), comp.pairs["index2"].to_numpy()
    out = {}
    for name in metrics:
        m = get_metric(name)
        kw = {"groups": comp.train_groups} if (comp.train_groups is not None and m.learns) else {}
        m.fit(comp.train_X, comp.train_y, **kw)
        out[name] = roc_auc(comp.solution, -m.pair_distance(comp.test_X, i1, i2))
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write-preset", action="store_true")
    ap.add_argument("--metrics", default=",".join(METRICS))
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    if args.write_preset:
        write_preset()
        return
    from scipy.stats import spearmanr

    from metricbench.synth import fit_competition, preset_params, synth

    print(f"load average before: {os.getloadavg()}; cpus {os.cpu_count()}")
    ref = fit_competition(LFW_XQ)
    metrics = args.metrics.split(",")
    with tempfile.TemporaryDirectory(prefix="synth-vs-lfw-xq-") as tmp:
        sets = {}
        t0 = time.perf_counter()
        synth(Path(tmp) / "fitted", like=LFW_XQ, seed=args.seed)
        sets["fitted"] = Path(tmp) / "fitted"
        pp = preset_params(128)
        pp.variants, pp.sizes = 2, ref.sizes
        synth(Path(tmp) / "preset", like=LFW_XQ, params=pp, seed=args.seed)
        sets["preset"] = Path(tmp) / "preset"
        print(f"built both synthetic sets in {time.perf_counter() - t0:.1f} s")
        for name, path in sets.items():
            spectra_report(name, fit_competition(path), ref)
        t0 = time.perf_counter()
        real = aurocs(LFW_XQ, metrics)
        syn = {name: aurocs(path, metrics) for name, path in sets.items()}
        print(f"\nfitted and scored {len(metrics)} metrics on 3 sets in {time.perf_counter() - t0:.1f} s")
    print("\n## test AUROC per metric (fit on train, clean-vs-degraded test pairs)")
    print("| metric | lfw-xq | synth fitted | synth preset |")
    print("|---|---|---|---|")
    for m in metrics:
        print(f"| `{m}` | {real[m]:.4f} | {syn['fitted'][m]:.4f} | {syn['preset'][m]:.4f} |")
    for name in sets:
        rho = spearmanr([real[m] for m in metrics], [syn[name][m] for m in metrics]).statistic
        print(f"Spearman of the metric ranking, synth {name} vs lfw-xq: {rho:.3f} ({len(metrics)} metrics)")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
