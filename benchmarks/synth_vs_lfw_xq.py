"""How close ``metricbench synth`` comes to the real embeddings it was fitted on (``data/lfw-xq``).

Builds three synthetic competitions:

* ``fitted``: ``metricbench synth --like data/lfw-xq`` in lfw-xq's shapes (15,518 x 128 train, clean
  and degraded rows; 4,832 x 128 test, 4,000 clean-vs-degraded pairs): every parameter fitted, same
  bases, noise gain 1;
* ``preset``: the shipped ``raai2019`` preset at 128-D (in a random rotation) with lfw-xq's identity
  sizes, two variants per image, noise gain calibrated to lfw-xq's cosine AUROC;
* ``raai2019``: ``metricbench synth --like raai2019`` at 512-D (full test set, ``--n-train-512`` train rows).

Then writes (``--out``, default ``docs/generated/synth_vs_lfw_xq.md``) (1) the spectra of between-identity,
within-identity and degradation scatter refitted on the 128-D sets against lfw-xq's (trace ratio,
Pearson correlation of the log eigenvalues over the top 64, top-3 eigenvalues), the shares of
identity a degraded row keeps and the norms; (2) the test AUROC of every closed-form metric on each
set and the Spearman correlation of the metric ranking with lfw-xq's; (3) the plain cosine's test AUROC with the
rows as they are and centred on the train mean.

Usage::

    PYTHONPATH=. python benchmarks/synth_vs_lfw_xq.py                 # the report
    PYTHONPATH=. python benchmarks/synth_vs_lfw_xq.py --fit   # refit metricbench/_synth_preset.py + data/synth-raai2019.npz
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
METRICS = ["sqeuclidean", "euclidean", "cosine", "manhattan", "chebyshev", "correlation", "mahalanobis",
           "cosine-whitened", "zca-cosine", "wccn-cosine", "lda-cosine", "plda", "kissme", "within-mahalanobis"]

PRESET_HEADER = '''"""Parameters of ``metricbench synth --like raai2019``, fitted on ``data/lfw-xq``.

Written by ``python benchmarks/synth_vs_lfw_xq.py --fit`` (do not edit by hand):
eigenvalues (largest first) of the between-identity covariance (corrected for the noise in the
means of small identities), of the pooled within-identity covariance of clean rows and of the
residual covariance of a degraded row given its clean original; the shares of the identity centre
(``keep_between``) and of the image's own part (``keep_within``) that a degraded row keeps (overall: the
per-direction shares are matrices in ``data/synth-raai2019.npz``); the norms
of the mean row and of the mean degradation shift; mean and sd of log ||x|| of clean and of
degraded rows; the cosine test AUROC of lfw-xq (``target_auroc``: the test-pair difficulty the
generator's noise gain is calibrated to at any dimension).
"""

'''


def cosine_auroc(path):
    """Test AUROC of the plain cosine on a competition directory (nothing fitted)."""
    return aurocs(path, ["cosine"])["cosine"]


def write_preset():
    from metricbench.synth import PRESET_BLOCKS, blocks_from, fit_competition, preset_from

    fitted = fit_competition(LFW_XQ)
    np.savez_compressed(PRESET_BLOCKS, **{k: v.astype(np.float32) for k, v in blocks_from(fitted).items()})
    print(f"wrote {PRESET_BLOCKS}")
    pr = preset_from(fitted)
    pr["fitted_on"] = "data/lfw-xq"
    # the test-pair difficulty: --like raai2019 scales the noise so that cosine reaches this on its test pairs
    pr["target_auroc"] = round(cosine_auroc(LFW_XQ), 4)
    path = ROOT / "metricbench" / "_synth_preset.py"
    path.write_text(PRESET_HEADER + "RAAI2019_PRESET = " + pprint.pformat(pr, width=110, compact=True) + "\n")
    print(f"wrote {path}")


#: bands of between-identity directions (largest eigenvalue first) over which the per-direction shares are averaged
KEEP_BANDS = ((0, 8), (8, 32), (32, 64))


def spectra_rows(name, p, ref):
    """Markdown rows: trace ratio and correlation of log eigenvalues (top 64) of each scatter, refitted."""
    rows = []
    for part in ("between", "within", "degrade"):
        a, b = getattr(p, part), getattr(ref, part)
        k = 64
        la, lb = np.log(np.maximum(a[:k], 1e-12)), np.log(np.maximum(b[:k], 1e-12))
        r = float(np.corrcoef(la, lb)[0, 1])
        rows.append(f"| {name} | {part} | {a.sum() / b.sum():.3f} | {r:.3f} | {', '.join(f'{v:.4f}' for v in a[:3])} | "
                    f"{', '.join(f'{v:.4f}' for v in b[:3])} |")
    rows.append(f"| {name} | shares kept by a degraded row (centre, own part) | {p.keep_between:.3f}, {p.keep_within:.3f} "
                f"| | lfw-xq: {ref.keep_between:.3f}, {ref.keep_within:.3f} | |")
    if p.keep_between_dirs is not None and ref.keep_between_dirs is not None:
        def bands(k):
            return ", ".join(f"{np.mean(k[lo:hi]):.3f}" for lo, hi in KEEP_BANDS)
        rows.append(f"| {name} | shares of the centre kept along S_b's directions 1-8, 9-32, 33-64 (mean) | "
                    f"{bands(p.keep_between_dirs)} | | lfw-xq: {bands(ref.keep_between_dirs)} | |")
    rows.append(f"| {name} | log-norm clean / degraded (mean, sd) | {p.log_norm_clean[0]:.3f}, {p.log_norm_clean[1]:.3f} / "
                f"{p.log_norm_degraded[0]:.3f}, {p.log_norm_degraded[1]:.3f} | | lfw-xq: {ref.log_norm_clean[0]:.3f}, "
                f"{ref.log_norm_clean[1]:.3f} / {ref.log_norm_degraded[0]:.3f}, {ref.log_norm_degraded[1]:.3f} | |")
    return rows


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


def centring(path):
    """The plain cosine's test AUROC on the rows as they are and centred on the train rows' mean (what every
    whitening, WCCN, LDA and PLDA metric does first)."""
    from metricbench.evaluation.verification import auroc as roc_auc
    from metricbench.io import load_competition

    comp = load_competition(path)
    X = np.asarray(comp.train_X, dtype=np.float64)
    m = X.mean(0)
    T = np.asarray(comp.test_X, dtype=np.float64)
    i1, i2 = comp.pairs["index1"].to_numpy(), comp.pairs["index2"].to_numpy()

    def cos(A, B):
        return (A * B).sum(1) / (np.linalg.norm(A, axis=1) * np.linalg.norm(B, axis=1))

    return roc_auc(comp.solution, cos(T[i1], T[i2])), roc_auc(comp.solution, cos(T[i1] - m, T[i2] - m))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fit", "--write-preset", dest="write_preset", action="store_true",
                    help="refit metricbench/_synth_preset.py (and data/synth-raai2019.npz) on data/lfw-xq")
    ap.add_argument("--metrics", default=",".join(METRICS))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n-train-512", type=int, default=40_000,
                    help="train rows of the 512-D raai2019 set (its test set has the full 11,605 rows, 31,444 pairs)")
    ap.add_argument("--out", default=str(ROOT / "docs" / "generated" / "synth_vs_lfw_xq.md"))
    args = ap.parse_args(argv)
    if args.write_preset:
        write_preset()
        return
    from scipy.stats import spearmanr

    from metricbench.synth import fit_competition, preset_params, synth

    load0 = os.getloadavg()
    start = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    print(f"load average before: {load0}; cpus {os.cpu_count()}", flush=True)
    ref = fit_competition(LFW_XQ)
    metrics = args.metrics.split(",")
    gains = {}
    with tempfile.TemporaryDirectory(prefix="synth-vs-lfw-xq-") as tmp:
        sets = {}
        t0 = time.perf_counter()
        man = synth(Path(tmp) / "fitted", like=LFW_XQ, seed=args.seed)
        sets["fitted"], gains["fitted"] = Path(tmp) / "fitted", man["model"]["gain"]
        pp = preset_params(128)
        pp.variants, pp.sizes = 2, ref.sizes
        man = synth(Path(tmp) / "preset", like=LFW_XQ, params=pp, seed=args.seed)
        sets["preset"], gains["preset"] = Path(tmp) / "preset", man["model"]["gain"]
        n_cls = max(2, round(args.n_train_512 * 10_575 / 454_714))
        man = synth(Path(tmp) / "raai2019", like="raai2019", n_train=args.n_train_512, n_classes=n_cls, seed=args.seed)
        sets["raai2019"], gains["raai2019"] = Path(tmp) / "raai2019", man["model"]["gain"]
        print(f"built the synthetic sets in {time.perf_counter() - t0:.1f} s; noise gains {gains}", flush=True)
        spec = []
        for name in ("fitted", "preset"):
            spec += spectra_rows(name, fit_competition(sets[name]), ref)
        t0 = time.perf_counter()
        real = aurocs(LFW_XQ, metrics)
        cent = {"lfw-xq": centring(LFW_XQ), **{name: centring(path) for name, path in sets.items()}}
        syn = {}
        for name, path in sets.items():
            syn[name] = aurocs(path, metrics)
            print(f"{name}: {syn[name]}", flush=True)
        fit_s = time.perf_counter() - t0
    rho = {name: spearmanr([real[m] for m in metrics], [syn[name][m] for m in metrics]).statistic for name in sets}
    load1 = os.getloadavg()
    n512 = f"{args.n_train_512:,} x 512 train rows of {n_cls:,} identities, 11,605 x 512 test rows, 31,444 pairs"
    lines = [
        f"Measured by `PYTHONPATH=. python benchmarks/synth_vs_lfw_xq.py --seed {args.seed}` ({start}; "
        f"{os.cpu_count()} CPUs, load average {load0[0]:.1f} before, {load1[0]:.1f} after; fitting and scoring "
        f"{len(metrics)} metrics on 4 sets took {fit_s:.0f} s). Three synthetic sets:",
        "",
        "- **fitted**: `metricbench synth --like data/lfw-xq` (every parameter fitted, lfw-xq's bases and shapes: "
        "15,518 x 128 train, clean and degraded rows; 4,000 clean-vs-degraded test pairs); noise gain "
        f"{gains['fitted']:.3f} (not calibrated);",
        "- **preset**: the `raai2019` preset at 128-D (the shipped fit, in a random rotation) in lfw-xq's shapes "
        f"and protocol; noise gain calibrated to lfw-xq's cosine AUROC: {gains['preset']:.3f};",
        f"- **raai2019**: `metricbench synth --like raai2019` at 512-D ({n512}: the full test set, a smaller train "
        f"set so that the {len(metrics)} fits stay short); one row per image, quality q ~ Beta(5, 1.5) in train "
        f"and Beta(2.5, 2) in test; noise gain {gains['raai2019']:.3f}.",
        "",
        "Spectra and norms refitted on the synthetic train set against lfw-xq's:",
        "",
        "| set | part | trace ratio (synth / lfw-xq) | corr. of log eigenvalues (top 64) | top-3 synth | top-3 lfw-xq |",
        "|---|---|---|---|---|---|",
        *spec,
        "",
        "Test AUROC of each metric (fitted on the set's train rows, scored on its test pairs):",
        "",
        "| metric | lfw-xq | synth fitted | synth preset (128-D) | synth raai2019 (512-D) |",
        "|---|---|---|---|---|",
        *[f"| `{m}` | {real[m]:.4f} | {syn['fitted'][m]:.4f} | {syn['preset'][m]:.4f} | {syn['raai2019'][m]:.4f} |"
          for m in metrics],
        "",
        *[f"- Spearman correlation of the {len(metrics)} metrics' AUROCs, synth {name} vs lfw-xq: {rho[name]:.3f}"
          for name in sets],
        "",
        "The plain cosine's test AUROC with the rows as they are and centred on the train rows' mean (the first "
        "step of every whitening, WCCN, LDA and PLDA metric):",
        "",
        "| set | cosine | cosine, centred on the train mean |",
        "|---|---|---|",
        *[f"| {name} | {c[0]:.4f} | {c[1]:.4f} |" for name, c in cent.items()],
        "",
    ]
    text = "\n".join(lines)
    print("\n" + text)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("<!-- generated by benchmarks/synth_vs_lfw_xq.py; do not edit -->\n" + text)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
