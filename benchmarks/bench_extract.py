"""Images per second: ``metricbench extract`` vs calling dlib directly in a plain loop, same run.

    PYTHONPATH=. python benchmarks/bench_extract.py --n 300 --jobs 2

Both sides do the same work on the same LFW images: read the JPEG as RGB with Pillow, HOG
detection (upsample 1), the face nearest the centre or the centre box, 5-point landmarks,
the 128-D ResNet descriptor; both include loading the models. ``extract`` also lists and stats
the files, writes its resumable shards and the outputs (each timed run starts from an empty
output folder). Prints the overhead of ``extract --jobs 1`` over the plain loop (target
<= 10 %) and the speed-up of ``--jobs N`` over ``--jobs 1``. Runs alternate and each method
keeps its best of ``--repeats`` (the machine may be shared).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from metricbench.extract import extract_folder


def lfw_root(arg=None) -> Path:
    if arg:
        return Path(arg)
    if os.environ.get("METRICBENCH_LFW"):
        return Path(os.environ["METRICBENCH_LFW"])
    return Path(__file__).resolve().parents[1].parent / "shared" / "data" / "lfw"


def plain_dlib_loop(paths):
    """The peer: dlib called directly, as a user would write it."""
    import dlib
    from PIL import Image

    from metricbench.extract.backends import dlib_model_path

    det = dlib.get_frontal_face_detector()
    sp = dlib.shape_predictor(str(dlib_model_path("landmarks5")))
    rec = dlib.face_recognition_model_v1(str(dlib_model_path("resnet")))
    out = np.empty((len(paths), 128), np.float32)
    for i, p in enumerate(paths):
        img = np.asarray(Image.open(p).convert("RGB"))
        h, w = img.shape[:2]
        faces = det(img, 1)
        if len(faces):
            r = min(faces, key=lambda r: ((r.left() + r.right()) / 2 - w / 2) ** 2 + ((r.top() + r.bottom()) / 2 - h / 2) ** 2)
        else:
            r = dlib.rectangle(70, 70, 180, 180)
        out[i] = np.asarray(rec.compute_face_descriptor(img, sp(img, r)), dtype=np.float32)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lfw", help="LFW folder (default ../shared/data/lfw or $METRICBENCH_LFW)")
    ap.add_argument("--n", type=int, default=300, help="number of images")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args(argv)

    root = lfw_root(args.lfw)
    ref = root / "reference" / "dev_clean_labels.csv"
    if not ref.is_file():
        print(f"LFW data not found under {root}; set --lfw or METRICBENCH_LFW", file=sys.stderr)
        return 2
    labels = pd.read_csv(ref, keep_default_na=False)
    sample = labels.iloc[np.linspace(0, len(labels) - 1, args.n).astype(int)]
    paths = [str(root / "images" / p) for p in sample["path"]]
    tmp = Path(tempfile.mkdtemp(prefix="bench_extract_"))
    csv = tmp / "labels.csv"
    sample[["path", "class"]].to_csv(csv, index=False)

    def run_extract(jobs):
        out = tmp / f"out{jobs}"
        shutil.rmtree(out, ignore_errors=True)
        extract_folder(root / "images", out, labels=csv, jobs=jobs, progress=False)
        return np.load(out / "embeddings.npy")

    best = {"plain": np.inf, "extract-j1": np.inf, f"extract-j{args.jobs}": np.inf}
    results = {}
    try:
        for _ in range(args.repeats):
            for name, fn in (
                ("plain", lambda: plain_dlib_loop(paths)),
                ("extract-j1", lambda: run_extract(1)),
                (f"extract-j{args.jobs}", lambda: run_extract(args.jobs)),
            ):
                t0 = time.perf_counter()
                results[name] = fn()
                best[name] = min(best[name], time.perf_counter() - t0)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    same = all(np.array_equal(results["plain"], results[k]) for k in results)
    n = len(paths)
    print(f"{n} LFW images, best of {args.repeats}, cpus available: {len(os.sched_getaffinity(0))}")
    for name, t in best.items():
        print(f"  {name:12s} {t:8.2f} s  {n / t:7.2f} images/s")
    print(f"extract --jobs 1 vs plain dlib loop: time ratio {best['extract-j1'] / best['plain']:.3f} "
          f"(overhead {100 * (best['extract-j1'] / best['plain'] - 1):+.1f} %, target <= +10 %)")
    print(f"extract --jobs {args.jobs} vs --jobs 1: speed-up {best['extract-j1'] / best[f'extract-j{args.jobs}']:.2f}x; "
          f"vs plain loop {best['plain'] / best[f'extract-j{args.jobs}']:.2f}x")
    print(f"embeddings identical across the three: {same}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
