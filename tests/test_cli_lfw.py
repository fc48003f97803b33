"""``metricbench lfw``: the LFW 10-fold protocol as a command, checked against scikit-learn and brute force."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score, roc_curve
from typer.testing import CliRunner

from conftest import LFW, assert_one_line_error
from metricbench.cli.main import app

runner = CliRunner()


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """Pairs made from the embedded default (always available)."""
    from metricbench.datasets import write_lfw_xq_protocol

    return write_lfw_xq_protocol(tmp_path_factory.mktemp("lfw-demo"), n_folds=10, pairs_per_fold=200, seed=3)


def _brute(files, dist):
    """Rows of each pair through a dict lookup, distances, and LFW accuracy by exhaustive threshold search."""
    lab = pd.read_csv(files["labels"])
    row = {p.split("/")[-1][:-4]: i for i, p in enumerate(lab["path"])}
    pr = pd.read_csv(files["pairs"])
    i1 = np.array([row[f"{n}_{k:04d}"] for n, k in zip(pr.name1, pr.num1)])
    i2 = np.array([row[f"{n}_{k:04d}"] for n, k in zip(pr.name2, pr.num2)])
    X = np.load(files["embeddings"]).astype(np.float64)
    d = dist(X[i1], X[i2])
    y = pr.same.to_numpy()
    accs = []
    for f in sorted(pr.fold.unique()):
        tr, te = pr.fold.to_numpy() != f, pr.fold.to_numpy() == f
        cands = np.unique(d[tr])
        acc_tr = [np.mean((d[tr] <= t) == (y[tr] == 1)) for t in cands]
        t = cands[int(np.argmax(acc_tr))]
        accs.append(np.mean((d[te] <= t) == (y[te] == 1)))
    return y, d, np.array(accs)


def _cosine(a, b):
    return 1 - (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def test_lfw_command_on_embedded_default(demo):
    args = ["lfw", str(demo["pairs"]), "-e", str(demo["embeddings"]), "-l", str(demo["labels"]),
            "-m", "cosine", "--n-boot", "200", "--json"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    y, d, accs = _brute(demo, _cosine)
    assert out["n_pairs"] == y.size == 2000 and out["n_same"] == int(y.sum()) == 1000
    assert out["auroc"] == pytest.approx(roc_auc_score(y, -d), abs=1e-9)
    assert out["auroc_low"] < out["auroc"] < out["auroc_high"]
    np.testing.assert_allclose(out["accuracies"], accs, atol=0.011)  # one pair per fold of threshold tie-breaking
    assert out["mean"] == pytest.approx(np.mean(out["accuracies"])) and out["std"] == pytest.approx(np.std(out["accuracies"]))
    fpr, tpr, _ = roc_curve(y, -d, drop_intermediate=False)
    for far, tar in out["tar_at_far"].items():
        assert tar == pytest.approx(tpr[fpr <= float(far)].max(), abs=1e-12), far
    # the plain report carries the same figures
    text = runner.invoke(app, args[:-1])
    assert text.exit_code == 0
    assert f"{out['mean']:.4f} +- {out['std']:.4f}" in text.stdout and f"AUROC     {out['auroc']:.4f}" in text.stdout


@pytest.mark.skipif(not (LFW / "reference" / "dev_clean_embeddings.npy").is_file(),
                    reason=f"LFW reference embeddings not found at {LFW} (set METRICBENCH_LFW)")
def test_lfw_command_on_reference_embeddings():
    ref = LFW / "reference"
    files = {"embeddings": ref / "dev_clean_embeddings.npy", "labels": ref / "dev_clean_labels.csv",
             "pairs": LFW / "pairs_dev.csv"}
    res = runner.invoke(app, ["lfw", str(files["pairs"]), "-e", str(files["embeddings"]), "-l", str(files["labels"]),
                              "--n-boot", "100", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    y, d, accs = _brute(files, lambda a, b: np.linalg.norm(a - b, axis=1))
    assert out["n_pairs"] == 4126 and out["n_same"] == 2306
    assert out["auroc"] == pytest.approx(roc_auc_score(y, -d), abs=1e-9)
    np.testing.assert_allclose(out["accuracies"], accs, atol=0.01)
    assert out["mean"] > 0.98  # dlib's ResNet on clean LFW (the model's own report: 99.38 %)


def test_lfw_command_errors(demo, tmp_path):
    base = ["-e", str(demo["embeddings"]), "-l", str(demo["labels"])]
    assert_one_line_error(runner.invoke(app, ["lfw", str(tmp_path / "nope.csv"), *base]), "no such pairs file")
    assert_one_line_error(runner.invoke(app, ["lfw", str(demo["pairs"]), *base, "--fars", "0.1,x"]), "--fars")
    assert_one_line_error(runner.invoke(app, ["lfw", str(demo["pairs"]), *base, "-m", "lmnn"]), "fitted first")
    bad = tmp_path / "pairs.csv"
    pd.read_csv(demo["pairs"]).assign(name1="Nobody").to_csv(bad, index=False)
    res = runner.invoke(app, ["lfw", str(bad), *base])
    assert_one_line_error(res, r"without an embedding.*skip the pairs with missing images \(--skip-missing\)$")
    assert res.exit_code == 2 and "missing='skip'" not in res.output  # the CLI names its own option
    res = runner.invoke(app, ["lfw", str(bad), *base, "--skip-missing"])
    assert res.exit_code != 0  # every pair dropped: nothing left to evaluate, still one line


def test_library_missing_images_name_the_argument(demo, tmp_path):
    from metricbench.errors import InputError
    from metricbench.evaluation.lfw import lfw_verification

    bad = tmp_path / "pairs.csv"
    pd.read_csv(demo["pairs"]).assign(name1="Nobody").to_csv(bad, index=False)
    with pytest.raises(InputError, match="without an embedding") as e:
        lfw_verification(demo["embeddings"], demo["labels"], bad)
    assert e.value.param == "missing"
