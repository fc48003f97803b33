"""Validation and test AUROC of the pair-learning metrics on the embedded ``lfw-xq`` (metricbench/data/lfw-xq).

Compares, in one run, against the issue's three-line scikit-learn recipe
(``LinearDiscriminantAnalysis(n_components=k)`` fitted on train, then cosine, best
of k in {16, 32, 64}) and against cosine / centred cosine:

* validation: identity-disjoint, as ``metricbench score`` reports it
  (``metricbench.model_selection.validate_metric``: fit on 80 % of the train
  identities, AUROC on clean-vs-xq40 pairs of the other 20 %, never an image against its
  own degraded copy, from ``train_meta.csv``'s ``image`` column);
* test: fit on all train, AUROC of ``test_pairs.csv`` against ``solution.csv``.

Usage::

    PYTHONPATH=. python benchmarks/eval_pairs_lfw_xq.py              # every row
    PYTHONPATH=. python benchmarks/eval_pairs_lfw_xq.py --only learned-cosine verifier
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from metricbench.evaluation.verification import auroc as roc_auc  # noqa: E402
from metricbench.model_selection import validate_metric  # noqa: E402
from metricbench.io import load_competition  # noqa: E402
from metricbench.registry import get_metric  # noqa: E402

#: rows of the table: label -> (registry name, params, norm or None)
CONFIGS = {
    "learned-cosine": ("learned-cosine", {}, None),
    "learned-cosine (no gate)": ("learned-cosine", {"gate": "none"}, None),
    "verifier": ("verifier", {}, None),
    "verifier (no gate)": ("verifier", {"gate": "none"}, None),
    "cosine + s-norm": ("cosine", {}, "s-norm"),
    "learned-cosine + as-norm": ("learned-cosine", {}, "as-norm"),
    "fusion mean(learned-cosine, verifier)": (
        "fusion", {"metrics": "learned-cosine,verifier", "method": "mean"}, None),
    "fusion logistic(learned-cosine, verifier)": (
        "fusion", {"metrics": "learned-cosine,verifier", "method": "logistic"}, None),
}


def _cos(Z, i1, i2):
    Z = Z / np.linalg.norm(Z, axis=1, keepdims=True)
    return np.einsum("ij,ij->i", Z[i1], Z[i2])


def validation_pairs(y, *, holdout=0.2, seed=0, n_pairs=20000, groups=None, images=None):
    """``fit_mask, val_rows, i1, i2, same`` (i1, i2 index val_rows) from IdentityPairSplit."""
    from metricbench.model_selection import IdentityPairSplit

    sp = next(IdentityPairSplit(test_size=holdout, n_pairs=n_pairs, variants=groups, images=images,
                                random_state=seed).pairs(None, y))
    fit_mask = np.zeros(len(y), dtype=bool)
    fit_mask[sp.fit_rows] = True
    return fit_mask, sp.val_rows, sp.val_index1, sp.val_index2, sp.same


def baselines(comp, holdout, seed, n_pairs):
    """cosine, centred cosine and scikit-learn LDA-k then cosine, on validation and test."""
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

    X, y, g = np.asarray(comp.train_X), comp.train_y, comp.train_groups
    fit_mask, vrows, v1, v2, vs = validation_pairs(
        y, holdout=holdout, seed=seed, n_pairs=n_pairs, groups=g, images=comp.train_images
    )
    Xf, yf, Xv = X[fit_mask], y[fit_mask], X[vrows]
    T = np.asarray(comp.test_X)
    t1, t2 = comp.pairs["index1"].to_numpy(), comp.pairs["index2"].to_numpy()
    ts = comp.solution
    rows = {}
    rows["cosine"] = (roc_auc(vs, _cos(Xv, v1, v2)), roc_auc(ts, _cos(T, t1, t2)), 0.0)
    rows["centred cosine"] = (
        roc_auc(vs, _cos(Xv - Xf.mean(0), v1, v2)), roc_auc(ts, _cos(T - X.mean(0), t1, t2)), 0.0)
    best_v, best_t = (0, None), (0, None)
    for k in (16, 32, 64):
        t0 = time.perf_counter()
        lv = LinearDiscriminantAnalysis(n_components=k).fit(Xf, yf)
        lt = LinearDiscriminantAnalysis(n_components=k).fit(X, y)
        a_v, a_t = roc_auc(vs, _cos(lv.transform(Xv), v1, v2)), roc_auc(ts, _cos(lt.transform(T), t1, t2))
        rows[f"sklearn LDA-{k} + cosine"] = (a_v, a_t, (time.perf_counter() - t0) / 2)
        best_v = max(best_v, (a_v, k))
        best_t = max(best_t, (a_t, k))
    rows["sklearn LDA best-of-k + cosine"] = (best_v[0], best_t[0], float("nan"))
    return rows, {"val_k": best_v[1], "test_k": best_t[1]}


def evaluate(label, comp, holdout, seed, n_pairs):
    from metricbench.learn.norm import apply_norm

    name, params, norm = CONFIGS[label]
    X, y, g = comp.train_X, comp.train_y, comp.train_groups

    def build():
        m = get_metric(name, **params)
        return apply_norm(m, norm) if norm else m

    val = validate_metric(
        build(), X, y, holdout=holdout, random_state=seed, n_pairs=n_pairs, variants=g, images=comp.train_images
    )
    m = build()
    t0 = time.perf_counter()
    m.fit(X, y, **({"groups": g} if g is not None and m.learns else {}))
    t1 = time.perf_counter()
    d = m.pair_distance(comp.test_X, comp.pairs["index1"].to_numpy(), comp.pairs["index2"].to_numpy())
    t2 = time.perf_counter()
    return val.auroc, roc_auc(comp.solution, -d), t1 - t0, t2 - t1, m.describe()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(ROOT / "metricbench" / "data" / "lfw-xq"))
    ap.add_argument("--only", nargs="*", default=None, help="labels (exact, else prefixes) of rows to run")
    ap.add_argument("--holdout", type=float, default=0.2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--val-pairs", type=int, default=20000)
    ap.add_argument("--json", default=None, help="also write the table as JSON here")
    a = ap.parse_args(argv)
    comp = load_competition(a.data)
    rows, chosen = baselines(comp, a.holdout, a.seed, a.val_pairs)
    def wanted(label):  # an exact label, or a prefix of labels when no label matches exactly
        return any(label == o or (o not in CONFIGS and label.startswith(o)) for o in a.only)

    labels = [c for c in CONFIGS if a.only is None or wanted(c)]
    print(f"{'metric':45s} {'val AUROC':>9s} {'test AUROC':>10s} {'fit s':>7s} {'score s':>7s}")
    for k, (v, t, f) in rows.items():
        print(f"{k:45s} {v:9.4f} {t:10.4f} {f:7.1f} {'':>7s}", flush=True)
    out = {k: {"val": v, "test": t, "fit_s": f} for k, (v, t, f) in rows.items()}
    bv, bt = rows["sklearn LDA best-of-k + cosine"][:2]
    for label in labels:
        v, t, f, s, desc = evaluate(label, comp, a.holdout, a.seed, a.val_pairs)
        print(f"{label:45s} {v:9.4f} {t:10.4f} {f:7.1f} {s:7.2f}   (vs LDA best: val {v - bv:+.4f}, "
              f"test {t - bt:+.4f})", flush=True)
        print(f"    {desc}", flush=True)
        out[label] = {"val": v, "test": t, "fit_s": f, "score_s": s, "chosen": desc}
    if a.json:
        Path(a.json).write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
