"""The LFW verification protocol: 10-fold accuracy from a pairs file.

Two pairs-file formats are read (see LFW's README, section 3c):

* the official ``pairs.txt``: a header line ``<n_sets> <n_per_set>`` (or a single
  ``<n>`` for the View-1 ``pairsDevTrain.txt`` / ``pairsDevTest.txt``, one set), then for
  each set ``n_per_set`` matched lines ``name n1 n2`` followed by ``n_per_set``
  mismatched lines ``name1 n1 name2 n2`` (whitespace-separated);
* a CSV with columns ``fold,name1,num1,name2,num2,same`` (``../shared/data/lfw/pairs_dev.csv``).

Image ``num`` of ``name`` is ``<name>/<name>_<num:04d>.jpg``; it is found in the embeddings'
labels CSV through its ``path`` column, matched on the file name without extension, so
``images/AJ_Cook/AJ_Cook_0001.jpg`` and ``AJ_Cook_0001.png`` both match.

Accuracy follows the protocol: for each of the folds, the threshold that maximises accuracy
on the other folds is applied to the held-out fold
(:func:`metricbench.evaluation.verification.kfold_accuracy`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from metricbench.errors import InputError
from metricbench.io.loaders import line_of, load_embeddings, read_csv_table
from metricbench.catalog import build_metric as get_metric

PAIR_COLUMNS = ["fold", "name1", "num1", "name2", "num2", "same"]


def read_pairs(path) -> pd.DataFrame:
    """Read an LFW pairs file in either format.

    Returns
    -------
    DataFrame with columns ``fold, name1, num1, name2, num2, same`` (``same`` 1/0).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such pairs file")
    with open(path, "rb") as fh:
        first = fh.readline().decode("utf-8", "replace").lstrip("\ufeff")
    # a CSV header in any dialect (',' ';' or tab between names); pairs.txt opens with its counts
    if "," in first or ";" in first or ("\t" in first and not first.strip()[:1].isdigit()):
        return _read_pairs_csv(path)
    return _read_pairs_txt(path)


def _read_pairs_csv(path: Path) -> pd.DataFrame:
    # the one CSV reader (BOM, ; or tab, CRLF, blank lines refused): data row r is file line line_of(r)
    df = read_csv_table(path, PAIR_COLUMNS, f"an LFW pairs CSV with columns {','.join(PAIR_COLUMNS)}")
    df = df[PAIR_COLUMNS].copy()
    for c in ("fold", "num1", "num2", "same"):
        num = pd.to_numeric(df[c], errors="coerce")
        bad = num.isna() | (num != np.round(num))
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise InputError(f"{path}: line {line_of(row)}, column {c!r} holds {df[c].iloc[row]!r}, expected a whole number")
        df[c] = num.astype(np.int64)
    if not df["same"].isin([0, 1]).all():
        row = int(np.flatnonzero(~df["same"].isin([0, 1]).to_numpy())[0])
        raise InputError(f"{path}: line {line_of(row)}, column 'same' is {df['same'].iloc[row]}, must be 0 or 1")
    return df.reset_index(drop=True)


def _read_pairs_txt(path: Path) -> pd.DataFrame:
    lines = [ln.split() for ln in Path(path).read_text(encoding="utf-8").splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    if not lines:
        raise InputError(f"{path}: empty pairs file")
    head = lines[0]
    try:
        nums = [int(x) for x in head]
    except ValueError:
        nums = []
    if len(nums) == 2:
        n_sets, n_per = nums
    elif len(nums) == 1:
        n_sets, n_per = 1, nums[0]
    else:
        raise InputError(
            f"{path}: line 1 must be '<n_sets> <n_pairs_per_set>' (pairs.txt) or '<n>' "
            f"(pairsDevTest.txt), got {' '.join(head)!r}"
        )
    body = lines[1:]
    expected = n_sets * 2 * n_per
    if len(body) != expected:
        raise InputError(
            f"{path}: header promises {n_sets} set(s) x 2 x {n_per} pairs = {expected} lines, "
            f"found {len(body)}"
        )
    rows = []
    for i, tok in enumerate(body):
        line_no = i + 2
        fold, within = divmod(i, 2 * n_per)
        same = within < n_per
        try:
            if same:
                if len(tok) != 3:
                    raise ValueError
                rows.append((fold, tok[0], int(tok[1]), tok[0], int(tok[2]), 1))
            else:
                if len(tok) != 4:
                    raise ValueError
                rows.append((fold, tok[0], int(tok[1]), tok[2], int(tok[3]), 0))
        except ValueError:
            want = "'name n1 n2' (matched)" if same else "'name1 n1 name2 n2' (mismatched)"
            raise InputError(f"{path}: line {line_no} should be {want}, got {' '.join(tok)!r}") from None
    return pd.DataFrame(rows, columns=PAIR_COLUMNS)


def image_key(name: str, num: int) -> str:
    """``('AJ_Cook', 1) -> 'AJ_Cook_0001'``: the file name without extension."""
    return f"{name}_{int(num):04d}"


def read_labels(labels) -> pd.DataFrame:
    """Read a labels CSV (``index,class,path[,...]``) or pass a DataFrame through."""
    if isinstance(labels, pd.DataFrame):
        df = labels
        where = "labels"
    else:
        where = str(labels)
        if not Path(labels).is_file():
            raise InputError(f"{where}: no such labels file")
        df = read_csv_table(labels, ["path"], "a labels CSV with a path column (index,class,path)")
    if "path" not in df.columns:
        raise InputError(
            f"{where}: needs a 'path' column (image path such as Name/Name_0001.jpg) to match LFW pairs"
        )
    return df


def pair_rows(pairs: pd.DataFrame, labels: pd.DataFrame, *, missing: str = "error"):
    """Row indices (into the embeddings) of both images of every pair.

    Parameters
    ----------
    pairs : DataFrame from :func:`read_pairs`
    labels : DataFrame with a ``path`` column; row ``i`` describes embedding row ``i``
    missing : {"error", "skip"}
        What to do with pairs whose image has no embedding.

    Returns
    -------
    index1, index2 : ndarray of int64, keep : ndarray of bool (pairs kept)
    """
    if missing not in ("error", "skip"):
        raise InputError(f"missing must be 'error' or 'skip', got {missing!r}", param="missing")
    stems = labels["path"].astype(str).map(lambda p: Path(p.replace("\\", "/")).stem).to_numpy()
    lookup = pd.Series(np.arange(stems.size), index=stems)
    dup = lookup.index.duplicated()
    if dup.any():
        raise InputError(f"labels: image {lookup.index[dup][0]!r} appears more than once in the path column")
    k1 = [image_key(n, i) for n, i in zip(pairs["name1"], pairs["num1"])]
    k2 = [image_key(n, i) for n, i in zip(pairs["name2"], pairs["num2"])]
    i1 = lookup.reindex(k1).to_numpy()
    i2 = lookup.reindex(k2).to_numpy()
    keep = ~(np.isnan(i1) | np.isnan(i2))
    if not keep.all() and missing == "error":
        j = int(np.flatnonzero(~keep)[0])
        absent = k1[j] if np.isnan(i1[j]) else k2[j]
        raise InputError(
            f"{(~keep).sum()} pair(s) name images without an embedding (first: {absent}); "
            "embed them, or skip the pairs with missing images",
            param="missing",
        )
    return i1[keep].astype(np.int64), i2[keep].astype(np.int64), keep


def _pair_distances(X, i1, i2, metric):
    if callable(metric) and not hasattr(metric, "pair_distance"):
        return np.asarray(metric(X, i1, i2), dtype=np.float64)
    if isinstance(metric, str):
        metric = get_metric(metric)
        if metric.learns:
            raise InputError(
                f"metric {metric.name!r} must be fitted first: pass a fitted metric object instead of its name"
            )
        metric.fit(X)
    return metric.pair_distance(X, i1, i2)


def lfw_verification(
    embeddings,
    labels,
    pairs,
    *,
    metric="euclidean",
    missing: str = "error",
    n_boot: int = 1000,
    seed: int = 0,
    fars=(1e-1, 1e-2, 1e-3),
) -> dict:
    """LFW 10-fold verification accuracy, AUROC with interval and TAR@FAR of ``metric`` on ``embeddings``.

    Parameters
    ----------
    embeddings : ndarray of shape (n_images, d), or path to a ``.npy``
    labels : DataFrame or path to a CSV with a ``path`` column, one row per embedding row
    pairs : DataFrame from :func:`read_pairs`, or path to a pairs file in either format
    metric : str, fitted metric object, or callable ``f(X, index1, index2) -> distances``
        A fixed distance name from the registry (``"euclidean"``, ``"cosine"``, ...), a
        fitted metricbench metric, or a function; lower distance = more alike.
    missing : {"error", "skip"}
        Pairs whose images have no embedding.
    n_boot, seed : bootstrap replicates and seed of the AUROC interval.
    fars : sequence of float, default=(1e-1, 1e-2, 1e-3)
        Target false accept rates of the TAR@FAR operating points (over all pairs).

    Returns
    -------
    dict
        ``accuracies`` (per fold, in fold order), ``folds`` (their ids), ``mean``, ``std``
        (ddof=0), ``thresholds`` (distance thresholds: same when ``distance <= t``),
        ``auroc``, ``auroc_low``, ``auroc_high`` (95 % stratified bootstrap interval), ``tar_at_far``
        (``{far: tar}``; NaN where the pairs hold fewer than ``1 / far`` different-identity pairs),
        ``n_pairs``, ``n_same``, ``n_skipped``.

    Raises
    ------
    InputError
        A missing or malformed file, labels that do not match the embeddings, pairs naming images without an
        embedding (unless ``missing="skip"``), an unfitted learned metric given by name.

    References
    ----------
    G. B. Huang, M. Ramesh, T. Berg, E. Learned-Miller. Labeled Faces in the Wild: A Database for Studying Face
    Recognition in Unconstrained Environments. UMass Amherst TR 07-49, 2007 (View 2: 10-fold protocol).
    """
    from metricbench.evaluation.verification import auroc_ci, kfold_accuracy, tar_at_far

    if isinstance(embeddings, (str, Path)):
        p = Path(embeddings)
        if not p.is_file():
            raise InputError(f"{p}: no such embeddings file")
        X = load_embeddings(p)  # corrupt, truncated, object, NaN: one line
    else:
        X = np.asarray(embeddings)
    if X.ndim != 2:
        raise InputError(f"embeddings must be 2-D (n_images, d), got shape {X.shape}")
    lab = read_labels(labels)
    if len(lab) != X.shape[0]:
        where = labels if isinstance(labels, (str, Path)) else "labels"
        raise InputError(f"{where}: has {len(lab)} rows but the embeddings have {X.shape[0]}; "
                         "row i of the labels must describe embedding row i")
    pr = pairs if isinstance(pairs, pd.DataFrame) else read_pairs(pairs)
    i1, i2, keep = pair_rows(pr, lab, missing=missing)
    pr = pr[keep]
    y = pr["same"].to_numpy().astype(np.int8)
    folds = pr["fold"].to_numpy()
    score = -_pair_distances(X, i1, i2, metric)
    kf = kfold_accuracy(y, score, folds=folds)
    ci = auroc_ci(y, score, n_boot=n_boot, seed=seed)
    fars = [float(f) for f in fars]
    tars = tar_at_far(y, score, fars) if fars else np.array([])
    return {
        "accuracies": kf.accuracies.tolist(),
        "folds": np.unique(folds).tolist(),
        "mean": kf.mean,
        "std": kf.std,
        "thresholds": (-kf.thresholds).tolist(),
        "auroc": ci.auroc,
        "auroc_low": ci.low,
        "auroc_high": ci.high,
        "tar_at_far": {f: float(t) for f, t in zip(fars, tars)},
        "n_pairs": int(y.size),
        "n_same": int(y.sum()),
        "n_skipped": int((~keep).sum()),
    }


__all__ = ["PAIR_COLUMNS", "image_key", "lfw_verification", "pair_rows", "read_labels", "read_pairs"]
