"""LFW protocol: pairs-file readers, and accuracy on the real dlib reference embeddings."""

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from metricbench.errors import InputError
from metricbench.evaluation.lfw import lfw_verification, pair_rows, read_pairs

LFW = Path(os.environ.get("METRICBENCH_LFW", Path(__file__).resolve().parents[1].parent / "shared" / "data" / "lfw"))
REF = LFW / "reference"
needs_lfw = pytest.mark.skipif(
    not (REF / "dev_clean_embeddings.npy").is_file(),
    reason=f"LFW reference embeddings not found at {REF} (set METRICBENCH_LFW)",
)


def _euclid(X, i1, i2):
    X = np.asarray(X, dtype=np.float64)
    return np.linalg.norm(X[i1] - X[i2], axis=1)


def _to_pairs_txt(df: pd.DataFrame, path: Path) -> pd.DataFrame:
    """Write a balanced subsample of ``df`` in the official format; return what was written."""
    folds = sorted(df["fold"].unique())
    n_per = min(min((g.same == 1).sum(), (g.same == 0).sum()) for _, g in df.groupby("fold"))
    lines = [f"{len(folds)}\t{n_per}"]
    kept = []
    for f in folds:
        g = df[df.fold == f]
        s, d = g[g.same == 1].head(n_per), g[g.same == 0].head(n_per)
        lines += [f"{r.name1}\t{r.num1}\t{r.num2}" for r in s.itertuples()]
        lines += [f"{r.name1}\t{r.num1}\t{r.name2}\t{r.num2}" for r in d.itertuples()]
        kept += [s, d]
    path.write_text("\n".join(lines) + "\n")
    return pd.concat(kept).reset_index(drop=True)


SMALL = pd.DataFrame(
    {
        "fold": [0, 0, 1, 1],
        "name1": ["A_B", "A_B", "C", "C"],
        "num1": [1, 2, 1, 1],
        "name2": ["A_B", "C", "C", "A_B"],
        "num2": [2, 1, 2, 1],
        "same": [1, 0, 1, 0],
    }
)


def test_pairs_txt_and_csv_read_the_same(tmp_path):
    csv = tmp_path / "pairs.csv"
    SMALL.to_csv(csv, index=False)
    written = _to_pairs_txt(SMALL, tmp_path / "pairs.txt")
    a = read_pairs(csv)
    b = read_pairs(tmp_path / "pairs.txt")
    pd.testing.assert_frame_equal(a, SMALL)
    pd.testing.assert_frame_equal(b, written, check_dtype=False)


def test_dev_format_single_set(tmp_path):
    p = tmp_path / "pairsDevTest.txt"
    p.write_text("1\nA_B 1 2\nA_B 1 C 3\n")
    df = read_pairs(p)
    assert df.to_dict("records") == [
        {"fold": 0, "name1": "A_B", "num1": 1, "name2": "A_B", "num2": 2, "same": 1},
        {"fold": 0, "name1": "A_B", "num1": 1, "name2": "C", "num2": 3, "same": 0},
    ]


@pytest.mark.parametrize(
    "text,match",
    [
        ("10 300\nA 1 2\n", "promises 10 set"),
        ("1 1\nA 1\nA 1 B 2\n", "line 2 should be 'name n1 n2'"),
        ("1 1\nA 1 2\nA 1 B\n", "line 3 should be 'name1 n1 name2 n2'"),
        ("x y\n", "line 1 must be"),
    ],
)
def test_bad_pairs_txt(tmp_path, text, match):
    p = tmp_path / "pairs.txt"
    p.write_text(text)
    with pytest.raises(InputError, match=match):
        read_pairs(p)


def test_bad_pairs_csv(tmp_path):
    p = tmp_path / "p.csv"
    p.write_text("fold,name1,num1,name2,num2\n0,A,1,A,2\n")
    with pytest.raises(InputError, match="missing column.*same"):
        read_pairs(p)
    p.write_text("fold,name1,num1,name2,num2,same\n0,A,x,A,2,1\n")
    with pytest.raises(InputError, match="line 2, column 'num1' holds 'x'"):
        read_pairs(p)


def test_pair_rows_match_paths_and_missing():
    labels = pd.DataFrame({"path": ["A_B/A_B_0001.jpg", "images/A_B/A_B_0002.jpg", "C_0001.png", "C/C_0002.jpg"]})
    i1, i2, keep = pair_rows(SMALL, labels)
    np.testing.assert_array_equal(i1, [0, 1, 2, 2])
    np.testing.assert_array_equal(i2, [1, 2, 3, 0])
    with pytest.raises(InputError, match="1 pair\\(s\\) name images without an embedding \\(first: C_0002\\)"):
        pair_rows(SMALL, labels.iloc[:3])
    i1, i2, keep = pair_rows(SMALL, labels.iloc[:3], missing="skip")
    assert keep.tolist() == [True, True, False, True]


def test_synthetic_protocol(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(4, 3))
    labels = pd.DataFrame({"path": ["A_B/A_B_0001.jpg", "A_B/A_B_0002.jpg", "C/C_0001.jpg", "C/C_0002.jpg"]})
    X[1] = X[0] + 0.01
    X[3] = X[2] + 0.01
    res = lfw_verification(X, labels, SMALL, metric=_euclid, n_boot=10)
    assert res["mean"] == 1.0 and res["auroc"] == 1.0 and res["n_pairs"] == 4


@needs_lfw
def test_real_clean_dlib_embeddings_reach_99_percent(tmp_path):
    X = np.load(REF / "dev_clean_embeddings.npy")
    labels = REF / "dev_clean_labels.csv"
    res = lfw_verification(X, labels, LFW / "pairs_dev.csv", metric=_euclid, n_boot=200)
    assert res["n_pairs"] == 4126 and len(res["accuracies"]) == 10
    assert 0.985 <= res["mean"] <= 1.0, res
    # AUROC recomputed independently
    pr = read_pairs(LFW / "pairs_dev.csv")
    i1, i2, _ = pair_rows(pr, pd.read_csv(labels))
    assert res["auroc"] == pytest.approx(roc_auc_score(pr["same"], -_euclid(X, i1, i2)))
    # the official text format gives the same answer on the same (balanced) pairs
    written = _to_pairs_txt(pr, tmp_path / "pairs.txt")
    a = lfw_verification(X, labels, tmp_path / "pairs.txt", metric=_euclid, n_boot=10)
    b = lfw_verification(X, labels, written, metric=_euclid, n_boot=10)
    assert a["accuracies"] == b["accuracies"] and a["n_pairs"] == len(written)


@needs_lfw
def test_real_cross_quality_is_harder():
    Xq = np.load(REF / "dev_xq40_embeddings.npy")
    res = lfw_verification(Xq, REF / "dev_xq40_labels.csv", LFW / "pairs_dev.csv", metric=_euclid, n_boot=10)
    assert res["mean"] < 0.97


@needs_lfw
@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_real_with_registered_distance(metric):
    X = np.load(REF / "dev_clean_embeddings.npy")
    res = lfw_verification(X, REF / "dev_clean_labels.csv", LFW / "pairs_dev.csv", metric=metric, n_boot=10)
    if metric == "euclidean":
        ref = lfw_verification(X, REF / "dev_clean_labels.csv", LFW / "pairs_dev.csv", metric=_euclid, n_boot=10)
        np.testing.assert_allclose(res["accuracies"], ref["accuracies"])
    assert res["mean"] > 0.98
