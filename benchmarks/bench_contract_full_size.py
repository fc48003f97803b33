"""``metricbench score`` against the five-line scikit-learn script, at the competition's full size.

Issue 9, item 3: at 454,714 x 512 (10,575 identities, synthetic: the generator of
``bench_fit_full_size.py``), ``metricbench score --metric cosine-whitened`` (identity-disjoint
validation, the sqeuclidean baseline, the ``auto`` search of k and shrinkage, the final fit,
scoring the test pairs and writing the submission) is timed against the five-line
scikit-learn script ``PCA(n_components=256, whiten=True, svd_solver="covariance_eigh")`` +
cosine on the same files; ``lda-cosine`` and ``plda`` against
``LinearDiscriminantAnalysis(n_components=128, solver="eigen")`` + cosine. Every command runs
as its own process (start-up and imports included on both sides), one after the other in the
same run, timed by wall clock, with its peak resident memory (GNU ``time``'s maximum resident set size).

The test set: 20,000 new images of the train identities (same centres and nuisance
rotation, fresh noise) and 100,000 seeded pairs, half same identity.

Usage::

    PYTHONPATH=. python benchmarks/bench_contract_full_size.py              # full size
    PYTHONPATH=. python benchmarks/bench_contract_full_size.py --n 45471 --classes 1057   # a tenth
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_fit_full_size import C_FULL, D_FULL, N_FULL, make_synthetic  # noqa: E402

PCA_SCRIPT = """
import numpy as np, pandas as pd, sys; from sklearn.decomposition import PCA
d = sys.argv[1]; X = np.load(d + "/train_set.npy"); T = np.load(d + "/test_set.npy"); p = pd.read_csv(d + "/test_pairs.csv")
Z = PCA(n_components=256, whiten=True, svd_solver="covariance_eigh").fit(X).transform(T)
Z /= np.linalg.norm(Z, axis=1, keepdims=True); s = np.einsum("ij,ij->i", Z[p.index1], Z[p.index2])
pd.DataFrame({"Id": p.Id, "Predicted": 1 - s}).to_csv(sys.argv[2], index=False)
"""

LDA_SCRIPT = """
import numpy as np, pandas as pd, sys; from sklearn.discriminant_analysis import LinearDiscriminantAnalysis as LDA
d = sys.argv[1]; X = np.load(d + "/train_set.npy"); y = pd.read_csv(d + "/train_labels.csv")["class"].to_numpy()
T = np.load(d + "/test_set.npy"); p = pd.read_csv(d + "/test_pairs.csv"); Z = LDA(n_components=128, solver="eigen").fit(X, y).transform(T)
Z /= np.linalg.norm(Z, axis=1, keepdims=True); s = np.einsum("ij,ij->i", Z[p.index1], Z[p.index2])
pd.DataFrame({"Id": p.Id, "Predicted": 1 - s}).to_csv(sys.argv[2], index=False)
"""


def make_test(n_test: int, d: int, n_classes: int, *, seed: int = 0, noise: float = 2.5):
    """New images of ``make_synthetic(..., seed)``'s identities: its centres and nuisance
    rotation (drawn first from the same seed), fresh noise."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_classes, d), dtype=np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    scale = (noise * np.sqrt(np.linspace(3.0, 0.2, d) / d)).astype(np.float32)
    Q = np.linalg.qr(rng.standard_normal((d, d)))[0].astype(np.float32)
    r2 = np.random.default_rng(seed + 1000)
    y = r2.integers(0, n_classes, n_test)
    X = centres[y] + (r2.standard_normal((n_test, d), dtype=np.float32) * scale) @ Q
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    return X, y


def write_competition(path: Path, n: int, d: int, n_classes: int, n_test: int, n_pairs: int) -> None:
    import pandas as pd

    from metricbench.model_selection import sample_pairs

    X, y = make_synthetic(n, d, n_classes, seed=0)
    np.save(path / "train_set.npy", X)
    pd.DataFrame({"index": np.arange(y.size), "class": y}).to_csv(path / "train_labels.csv", index=False)
    T, yt = make_test(n_test, d, n_classes, seed=0)
    np.save(path / "test_set.npy", T)
    i1, i2, same = sample_pairs(yt, n_pairs=n_pairs, random_state=0)
    ids = np.arange(i1.size)
    pd.DataFrame({"index1": i1, "index2": i2, "Id": ids}).to_csv(path / "test_pairs.csv", index=False)
    pd.DataFrame({"Id": ids, "Expected": same.astype(int)}).to_csv(path / "solution.csv", index=False)


def run(cmd: list[str]) -> tuple[float, float, str]:
    """Wall seconds, peak resident memory (GiB, GNU time's %M) of the command, and its output."""
    t0 = time.perf_counter()
    p = subprocess.run(["/usr/bin/time", "-f", "PEAK_KB %M", *cmd], capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        raise SystemExit(f"failed ({p.returncode}): {' '.join(cmd)}\n{p.stdout}\n{p.stderr}")
    peak = [ln for ln in p.stderr.splitlines() if ln.startswith("PEAK_KB ")]
    return wall, int(peak[-1].split()[1]) / 2**20, p.stdout + p.stderr


def test_auroc(data: Path, sub: Path) -> float:
    import pandas as pd

    from metricbench.evaluation.verification import auroc

    s = pd.read_csv(data / "solution.csv").merge(pd.read_csv(sub), on="Id")
    return auroc(s["Expected"].to_numpy(), -s["Predicted"].to_numpy())


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=N_FULL)
    ap.add_argument("--d", type=int, default=D_FULL)
    ap.add_argument("--classes", type=int, default=C_FULL)
    ap.add_argument("--test", type=int, default=20000)
    ap.add_argument("--pairs", type=int, default=100000)
    ap.add_argument("--dir", type=Path, default=None, help="keep the competition files here (default: a temp dir)")
    args = ap.parse_args(argv)

    tmp = tempfile.TemporaryDirectory() if args.dir is None else None
    data = Path(tmp.name) if tmp else args.dir
    data.mkdir(parents=True, exist_ok=True)
    print(f"load average before: {os.getloadavg()}; cpus {os.cpu_count()}", flush=True)
    t0 = time.perf_counter()
    if not (data / "solution.csv").exists():
        write_competition(data, args.n, args.d, args.classes, args.test, args.pairs)
    print(f"competition files: {args.n} x {args.d} train ({args.classes} identities), {args.test} test rows, "
          f"{args.pairs} pairs in {data} ({time.perf_counter() - t0:.1f} s)", flush=True)
    py = sys.executable
    mb = [shutil.which("metricbench") or "metricbench"]
    rows = []
    for metric, script, ref in (
        ("cosine-whitened", PCA_SCRIPT, 'PCA(256, whiten, covariance_eigh)'),
        ("lda-cosine", LDA_SCRIPT, 'LDA(128, eigen)'),
        ("plda", LDA_SCRIPT, 'LDA(128, eigen)'),
    ):
        out_mb = data / f"mb_{metric}.csv"
        w_mb, m_mb, log = run([*mb, "score", "-m", metric, "--data", str(data), "--out", str(out_mb)])
        chosen = next((ln for ln in log.splitlines() if ln.startswith("metric")), "")
        out_sk = data / f"sk_{metric}.csv"
        w_sk, m_sk, _ = run([py, "-c", script, str(data), str(out_sk)])
        a_mb, a_sk = test_auroc(data, out_mb), test_auroc(data, out_sk)
        rows.append((metric, w_mb, m_mb, a_mb, ref, w_sk, m_sk, a_sk))
        print(f"{metric:16s} metricbench score {w_mb:6.1f} s (peak {m_mb:4.1f} GiB, test AUROC {a_mb:.4f}) | "
              f"scikit-learn {ref} + cosine {w_sk:6.1f} s (peak {m_sk:4.1f} GiB, test AUROC {a_sk:.4f}) | "
              f"ratio {w_mb / w_sk:.2f}x", flush=True)
        print(f"{'':16s} {chosen}", flush=True)
    print(f"load average after: {os.getloadavg()}")
    print("\nratios (target <= 1.5x): " + ", ".join(f"{r[0]} {r[1] / r[5]:.2f}x" for r in rows))
    if tmp:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
