"""Check metricbench's extractor against the LFW reference embeddings (and detection on originals).

    PYTHONPATH=. python scripts/check_extractor_reference.py --jobs 2 --out runs/extract-check
    PYTHONPATH=. python scripts/check_extractor_reference.py --originals --out runs/extract-check
    PYTHONPATH=. python scripts/check_extractor_reference.py --originals --detector hog,cnn --out runs/extract-check

Reference mode embeds every image of ``lfw/images`` clean and ``xq40`` with the default dlib
recipe, aligns rows with ``lfw/reference/dev_{clean,xq40}_*`` through the ``path`` column and
reports the share of images with cosine similarity >= 0.999 among those where both sides used
the HOG detector (pass: >= 99 %). Originals mode embeds ``lfw/originals`` (unaligned 150 x 150
crops) and reports the share where a detector found a face (pass: >= 98 %).

Extraction is resumable: rerunning with the same ``--out`` only compares. Exit status 1 if a
criterion fails. ``--limit N`` uses the first N reference rows (a quick look).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from metricbench.extract import extract_folder


def lfw_root(arg=None) -> Path:
    if arg:
        return Path(arg)
    env = os.environ.get("METRICBENCH_LFW")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[1].parent / "shared" / "data" / "lfw"


def compare(out_dir: Path, ref_X: np.ndarray, ref_labels: pd.DataFrame) -> dict:
    """Cosine similarity of our rows vs the reference rows with the same ``path``."""
    ours = pd.read_csv(out_dir / "labels.csv", keep_default_na=False)
    X = np.load(out_dir / "embeddings.npy")
    ref = ref_labels.set_index("path")
    common = ours[ours["path"].isin(ref.index)]
    a = X[common["index"].to_numpy()]
    b = ref_X[ref.loc[common["path"], "index"].to_numpy()]
    cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    ours_det = common["detector"].to_numpy()
    ref_det = ref.loc[common["path"], "detector"].to_numpy()
    both_hog = (ours_det == "hog") & (ref_det == "hog")
    return {
        "n_reference": len(ref_labels),
        "n_compared": len(common),
        "n_both_hog": int(both_hog.sum()),
        "share_both_hog_ge_0.999": float((cos[both_hog] >= 0.999).mean()) if both_hog.any() else float("nan"),
        "share_all_ge_0.999": float((cos >= 0.999).mean()) if len(cos) else float("nan"),
        "min_cos_both_hog": float(cos[both_hog].min()) if both_hog.any() else float("nan"),
        "median_cos_all": float(np.median(cos)) if len(cos) else float("nan"),
        "detector_agree": float((ours_det == ref_det).mean()) if len(cos) else float("nan"),
        "detector_counts_ours": {k: int(v) for k, v in pd.Series(ours_det).value_counts().items()},
        "detector_counts_ref": {k: int(v) for k, v in pd.Series(ref_det).value_counts().items()},
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lfw", help="LFW folder (default: ../shared/data/lfw or $METRICBENCH_LFW)")
    ap.add_argument("--out", default="runs/extract-check", help="where extractions are written (resumable)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--variants", default="clean,xq40")
    ap.add_argument("--limit", type=int, default=None, help="only the first N reference rows")
    ap.add_argument("--originals", action="store_true", help="detection rate on lfw/originals instead")
    ap.add_argument("--detector", default="hog", help="detector cascade for --originals, e.g. hog,hog:2,cnn")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)

    root = lfw_root(args.lfw)
    if not (root / "images").is_dir():
        print(f"LFW images not found under {root}; set --lfw or METRICBENCH_LFW", file=sys.stderr)
        return 2
    out = Path(args.out)
    ok = True

    if args.originals:
        tag = "originals-" + args.detector.replace(",", "+").replace(":", "up")
        t0 = time.perf_counter()
        s = extract_folder(
            root / "originals",
            out / tag,
            backend_params={"detectors": args.detector},
            jobs=args.jobs,
            progress=not args.no_progress,
        )
        labels = pd.read_csv(out / tag / "labels.csv", keep_default_na=False)
        found = labels["detector"] != "center"
        rate = float(found.mean())
        stages = {k: int(v) for k, v in labels["detector"].value_counts().items()}
        print(f"originals ({args.detector}): {len(labels)} images, face detected in {int(found.sum())} "
              f"= {100 * rate:.2f} % (criterion >= 98 %); by stage {stages}; "
              f"skipped {len(s.skipped)}; {time.perf_counter() - t0:.0f} s")
        missed = labels.loc[~found, "path"].tolist()
        if missed:
            print("  no face: " + ", ".join(missed))
        return 0 if rate >= 0.98 else 1

    for variant in args.variants.split(","):
        ref_labels = pd.read_csv(root / "reference" / f"dev_{variant}_labels.csv", keep_default_na=False)
        ref_X = np.load(root / "reference" / f"dev_{variant}_embeddings.npy")
        labels_csv = None
        if args.limit:
            out.mkdir(parents=True, exist_ok=True)
            labels_csv = out / f"subset-{args.limit}.csv"
            ref_labels.iloc[: args.limit][["path", "class"]].to_csv(labels_csv, index=False)
        dest = out / (f"{variant}-{args.limit}" if args.limit else variant)
        t0 = time.perf_counter()
        s = extract_folder(
            root / "images",
            dest,
            labels=labels_csv,
            jobs=args.jobs,
            degrade=None if variant == "clean" else variant,
            progress=not args.no_progress,
        )
        secs = time.perf_counter() - t0
        r = compare(dest, ref_X, ref_labels)
        passed = r["share_both_hog_ge_0.999"] >= 0.99
        ok &= passed
        print(
            f"{variant}: compared {r['n_compared']} of {args.limit or r['n_reference']} images; "
            f"both HOG {r['n_both_hog']}, of which cos >= 0.999: {100 * r['share_both_hog_ge_0.999']:.2f} % "
            f"(criterion >= 99 %: {'PASS' if passed else 'FAIL'}); min cos (both HOG) {r['min_cos_both_hog']:.6f}; "
            f"all images cos >= 0.999: {100 * r['share_all_ge_0.999']:.2f} %; detector agreement "
            f"{100 * r['detector_agree']:.2f} % (ours {r['detector_counts_ours']}, reference {r['detector_counts_ref']}); "
            f"skipped {len(s.skipped)}; extraction {secs:.0f} s ({s.n_new} new)"
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
