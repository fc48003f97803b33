"""Datasets: the embedded default competition, and building competitions from labelled embeddings.

``load_lfw_xq()`` opens the embedded default, ``lfw-xq`` (real LFW face embeddings, clean vs degraded), which
ships inside the installed package (``metricbench/data/lfw-xq``), so it works from any folder and from a built
wheel as well as from a checkout. ``make_competition`` builds such a directory (``metricbench make-competition``).
The split is identity-disjoint, as in the reference competition: test identities never appear in train. Every
random draw uses ``seed``, and the seed is written to ``manifest.json`` beside the files.
"""

from __future__ import annotations

import hashlib
import json
import os
from importlib.resources import files
from pathlib import Path

import numpy as np

from metricbench.errors import InputError, OutputExistsError
from metricbench.io import load_competition, load_embeddings, load_labels
from metricbench.io.atomic import staged_directory
from metricbench.io.loaders import first_nonfinite_rows

#: Environment variable that, when set, replaces the embedded default directory (a competition directory).
DATA_ENV = "METRICBENCH_DATA"


def lfw_xq_path() -> Path:
    """Folder of the embedded default competition ``lfw-xq`` inside the installed package.

    Returns
    -------
    path : Path
        ``<site-packages or checkout>/metricbench/data/lfw-xq``, holding ``train_set.npy`` (15,518 x 128),
        ``train_labels.csv``, ``train_meta.csv``, ``test_set.npy`` (4,832 x 128), ``test_pairs.csv``,
        ``solution.csv``, ``manifest.json`` and a README with the citation.

    Raises
    ------
    FileNotFoundError
        If the package was installed without its data (a broken build).

    Examples
    --------
    >>> from metricbench.datasets import lfw_xq_path
    >>> (lfw_xq_path() / "train_set.npy").is_file()
    True
    """
    path = Path(str(files("metricbench") / "data" / "lfw-xq"))
    if not (path / "train_set.npy").is_file():
        raise FileNotFoundError(f"{path}: the embedded default is missing from this installation of metricbench")
    return path


def default_data_dir() -> Path:
    """The competition used when none is given: ``$METRICBENCH_DATA`` if set, else :func:`lfw_xq_path`."""
    env = os.environ.get(DATA_ENV)
    return Path(env) if env else lfw_xq_path()


def load_lfw_xq(*, mmap: bool = True):
    """The embedded default competition, ``lfw-xq``, as a :class:`~metricbench.io.Competition`.

    Real face embeddings (dlib ResNet, 128-D) of Labeled Faces in the Wild in the reference competition's
    format: the train set holds a clean and a degraded (``xq40``: 40 x 40, JPEG quality 30) embedding of every
    image of 3,637 identities; the 4,000 test pairs put a clean embedding against a degraded one of another
    image, over 909 other identities (identity-disjoint from train), half of them same-identity.

    Parameters
    ----------
    mmap : bool, default=True
        Open ``train_set.npy`` and ``test_set.npy`` as read-only memory maps.

    Returns
    -------
    comp : Competition
        ``comp.train_X`` (15,518, 128) float32, ``comp.train_y`` (15,518,), ``comp.test_X`` (4,832, 128),
        ``comp.pairs`` (4,000 rows ``index1, index2, Id``), ``comp.solution`` (4,000,) 0/1.

    References
    ----------
    G. B. Huang, M. Ramesh, T. Berg, E. Learned-Miller. Labeled Faces in the Wild: A Database for Studying Face
    Recognition in Unconstrained Environments. UMass Amherst TR 07-49, 2007.

    Examples
    --------
    >>> from metricbench.datasets import load_lfw_xq
    >>> comp = load_lfw_xq()
    >>> comp.train_X.shape, len(comp.pairs)
    ((15518, 128), 4000)
    """
    return load_competition(lfw_xq_path(), mmap=mmap)


def _split_identities(codes, image_ids, test_fraction, rng):
    """Test identities: ``test_fraction`` of those with 2+ distinct images and of the others."""
    n_cls = codes.max() + 1
    n_imgs = np.zeros(n_cls, dtype=np.int64)
    # distinct images per identity
    pairs = np.unique(np.stack([codes, image_ids], 1), axis=0)
    np.add.at(n_imgs, pairs[:, 0], 1)
    multi = np.flatnonzero(n_imgs >= 2)
    single = np.flatnonzero(n_imgs < 2)
    if multi.size < 2:
        raise InputError("need at least 2 identities with 2 or more images to form same-identity test pairs")
    t_multi = rng.choice(multi, size=max(1, int(round(test_fraction * multi.size))), replace=False)
    t_single = rng.choice(single, size=int(round(test_fraction * single.size)), replace=False) if single.size else []
    is_test = np.zeros(n_cls, dtype=bool)
    is_test[t_multi] = True
    is_test[np.asarray(t_single, dtype=np.int64)] = True
    return is_test


def _cos(A, B):
    A = A / np.maximum(np.linalg.norm(A, axis=-1, keepdims=True), 1e-12)
    B = B / np.maximum(np.linalg.norm(B, axis=-1, keepdims=True), 1e-12)
    return (A * B).sum(-1)


def sample_test_pairs(X, codes, image_ids, left, right, *, n_pairs, same_fraction, negatives, rng, n_candidates=32):
    """Same pairs (distinct images of one identity) and different pairs, ``left`` x ``right`` rows."""
    n_same = int(round(n_pairs * same_fraction))
    n_diff = n_pairs - n_same
    by_id: dict[int, np.ndarray] = {}
    rc = codes[right]
    order = np.argsort(rc, kind="stable")
    bounds = np.flatnonzero(np.diff(rc[order])) + 1
    for grp in np.split(right[order], bounds):
        if grp.size:
            by_id[int(codes[grp[0]])] = grp
    lc = codes[left]
    eligible_ids = [c for c in np.unique(lc) if c in by_id]
    left_by_id = {int(c): left[lc == c] for c in eligible_ids}
    # an identity qualifies if some left row has a right row of another image
    ok_ids = [
        c
        for c in eligible_ids
        if any((image_ids[by_id[c]] != image_ids[a]).any() for a in left_by_id[c][:50])
    ]
    if not ok_ids:
        raise InputError("no identity has two distinct images across the chosen variants")
    seen = set()
    same_pairs = []
    tries = 0
    while len(same_pairs) < n_same and tries < 50 * max(1, n_same):
        tries += 1
        c = ok_ids[rng.integers(len(ok_ids))]
        a = int(left_by_id[c][rng.integers(left_by_id[c].size)])
        cand = by_id[c][image_ids[by_id[c]] != image_ids[a]]
        if cand.size == 0:
            continue
        b = int(cand[rng.integers(cand.size)])
        if (a, b) in seen:
            continue
        seen.add((a, b))
        same_pairs.append((a, b))
    diff_pairs = []
    tries = 0
    while len(diff_pairs) < n_diff and tries < 50 * max(1, n_diff):
        tries += 1
        a = int(left[rng.integers(left.size)])
        if negatives == "hard":
            cand = right[rng.integers(right.size, size=n_candidates)]
            cand = cand[codes[cand] != codes[a]]
            if cand.size == 0:
                continue
            b = int(cand[np.argmax(_cos(np.asarray(X[a], dtype=np.float64)[None], np.asarray(X[cand], dtype=np.float64)))])
        else:
            b = int(right[rng.integers(right.size)])
            if codes[b] == codes[a]:
                continue
        if (a, b) in seen:
            continue
        seen.add((a, b))
        diff_pairs.append((a, b))
    pairs = np.array(same_pairs + diff_pairs, dtype=np.int64).reshape(-1, 2)
    same = np.r_[np.ones(len(same_pairs), np.int8), np.zeros(len(diff_pairs), np.int8)]
    perm = rng.permutation(len(pairs))
    return pairs[perm], same[perm]


def make_competition(
    variants: dict,
    labels,
    out,
    *,
    test_fraction: float = 0.2,
    n_pairs: int = 4000,
    same_fraction: float = 0.5,
    negatives: str = "random",
    cross: tuple | None = None,
    seed: int = 0,
    overwrite: bool = False,
    source: dict | None = None,
) -> dict:
    """Write an identity-disjoint competition directory.

    Parameters
    ----------
    variants : dict of name -> ndarray (n_images, d)
        One or more embedding matrices of the same images, row for row (for example
        ``{"clean": A, "xq40": B}``). Every variant of a train image goes to train.
    labels : array-like of shape (n_images,)
        Identity of each image (int or str).
    out : path-like
        Directory to create (written to a temporary sibling and renamed, so it
        appears complete or not at all).
    cross : (left, right), optional
        Test pairs join a ``left``-variant row with a ``right``-variant row of
        another image (clean vs degraded). Default: the first variant on both sides.
    negatives : "random" or "hard"
        Different-identity partners drawn uniformly, or the most similar (cosine)
        of 32 random candidates.

    Returns
    -------
    dict: the manifest written to ``out/manifest.json``.
    """
    import pandas as pd

    if not variants:
        raise InputError("give at least one embedding matrix")
    names = list(variants)
    mats = [np.asarray(variants[n]) for n in names]
    n_img, d = mats[0].shape
    for n, m in zip(names, mats):
        if m.ndim != 2 or m.shape != (n_img, d):
            raise InputError(f"variant {n!r} has shape {m.shape}, expected {(n_img, d)} like {names[0]!r}")
        cnt, first = first_nonfinite_rows(m)
        if cnt:
            raise InputError(f"variant {n!r}: {cnt} row(s) contain NaN or inf (first rows {first})")
    labels = np.asarray(labels)
    if labels.shape[0] != n_img:
        raise InputError(f"{labels.shape[0]} labels for {n_img} embeddings")
    if not 0 < test_fraction < 1:
        raise InputError(f"test fraction must be between 0 and 1, got {test_fraction}")
    if negatives not in ("random", "hard"):
        raise InputError(f"negatives must be 'random' or 'hard', got {negatives!r}")
    if cross is None:
        cross = (names[0], names[0])
    for c in cross:
        if c not in variants:
            raise InputError(f"cross names variant {c!r}, but the variants are {', '.join(names)}", param="cross")
    out = Path(out)
    if out.exists() and not overwrite:
        raise OutputExistsError(f"{out}: already exists and was kept", path=out)

    rng = np.random.default_rng(seed)
    classes, codes_img = np.unique(labels, return_inverse=True)
    is_test = _split_identities(codes_img, np.arange(n_img), test_fraction, rng)
    train_img = np.flatnonzero(~is_test[codes_img])
    test_img = np.flatnonzero(is_test[codes_img])

    # stacked rows: variant v of image i
    def stack(imgs):
        X = np.concatenate([m[imgs] for m in mats]).astype(np.float32)
        img = np.tile(imgs, len(mats))
        grp = np.repeat(np.array(names), imgs.size)
        return X, img, grp

    Xtr, img_tr, grp_tr = stack(train_img)
    Xte, img_te, grp_te = stack(test_img)
    # shuffle train rows so that row order carries no variant or identity information
    p = rng.permutation(Xtr.shape[0])
    Xtr, img_tr, grp_tr = Xtr[p], img_tr[p], grp_tr[p]
    p = rng.permutation(Xte.shape[0])
    Xte, img_te, grp_te = Xte[p], img_te[p], grp_te[p]
    # integer class ids, as the competition's, numbered by sorted identity name
    ytr = codes_img[img_tr]
    codes_te = codes_img[img_te]
    left = np.flatnonzero(grp_te == cross[0])
    right = np.flatnonzero(grp_te == cross[1])
    pairs, same = sample_test_pairs(
        Xte, codes_te, img_te, left, right,
        n_pairs=n_pairs, same_fraction=same_fraction, negatives=negatives, rng=rng,
    )
    ids = np.arange(len(pairs))

    manifest = {
        "seed": seed,
        "test_fraction": test_fraction,
        "n_pairs_requested": n_pairs,
        "same_fraction": same_fraction,
        "negatives": negatives,
        "cross": list(cross),
        "variants": names,
        "n_train_rows": int(Xtr.shape[0]),
        "n_train_identities": int(np.unique(ytr).size),
        "n_test_rows": int(Xte.shape[0]),
        "n_test_identities": int(np.unique(codes_te).size),
        "n_test_pairs": int(len(pairs)),
        "n_same_pairs": int(same.sum()),
        "dim": int(d),
        "source": source or {},
    }
    with staged_directory(out) as tmp:
        np.save(tmp / "train_set.npy", Xtr)
        pd.DataFrame({"index": np.arange(len(ytr)), "class": ytr}).to_csv(tmp / "train_labels.csv", index=False)
        if len(names) > 1:
            pd.DataFrame({"index": np.arange(len(ytr)), "group": grp_tr, "image": img_tr}).to_csv(
                tmp / "train_meta.csv", index=False
            )
        np.save(tmp / "test_set.npy", Xte)
        pd.DataFrame({"index1": pairs[:, 0], "index2": pairs[:, 1], "Id": ids}).to_csv(
            tmp / "test_pairs.csv", index=False
        )
        pd.DataFrame({"Id": ids, "Expected": same}).to_csv(tmp / "solution.csv", index=False)
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def make_competition_from_files(embeddings, labels, out, **kw) -> dict:
    """:func:`make_competition` from files, with their provenance in the manifest.

    What ``metricbench make-competition`` runs: each embedding file is read (memory-mapped),
    checked and hashed, and the manifest's ``source`` records every file's name and the
    SHA-256 of each embedding file.

    Parameters
    ----------
    embeddings : sequence of (name, path) or of path
        The ``.npy`` embedding matrices of the same images, row for row; a bare path is named
        by its file stem.
    labels : path-like
        CSV with columns ``index,class`` for the rows of the embeddings.
    out : path-like
        Directory to create.
    **kw
        Passed to :func:`make_competition` (``test_fraction``, ``n_pairs``, ``cross``, ``seed``,
        ``overwrite`` ...).

    Returns
    -------
    dict: the manifest written to ``out/manifest.json``.

    Raises
    ------
    InputError
        A variant name given twice, or a file :func:`make_competition` refuses.
    """
    variants, source = {}, {}
    for item in embeddings:
        name, path = (Path(item).stem, item) if isinstance(item, (str, os.PathLike)) else item
        if name in variants:
            raise InputError(f"variant name {name!r} given twice; name the variants apart", param="embeddings")
        variants[name] = load_embeddings(path, mmap=True)
        source[name] = {"file": Path(path).name, "sha256": hashlib.sha256(Path(path).read_bytes()).hexdigest()}
    if not variants:
        raise InputError("give at least one embedding matrix", param="embeddings")
    y = load_labels(labels, n_rows=next(iter(variants.values())).shape[0])
    source["labels"] = {"file": Path(labels).name}
    return make_competition(variants, y, out, source=source, **kw)


def write_lfw_xq_protocol(out, *, n_folds: int = 10, pairs_per_fold: int = 300, seed: int = 0,
                          exclude=None) -> dict:
    """Write LFW-protocol files made from the embedded default, for ``metricbench lfw`` and its examples.

    The train part of ``lfw-xq`` becomes an image collection in LFW's naming: identity ``c`` is named
    ``id<c>`` (five digits), and its rows are numbered ``1, 2, ...`` (clean and degraded rows of one photo get
    different numbers), so row ``i`` is the image ``id<c>/id<c>_<num:04d>.jpg``. The pairs follow the
    cross-quality protocol of the embedded test pairs: each pair is a clean embedding against a degraded
    (``xq40``) one, same-identity pairs never join a photo with its own degraded copy, and, as in LFW's View 2,
    the folds hold disjoint identities.

    Parameters
    ----------
    out : str or Path
        Folder to create (parents included); existing files of the same names are replaced.
    n_folds : int, default=10
        Number of folds (LFW: 10).
    pairs_per_fold : int, default=300
        Pairs per fold, half same identity (LFW: 600). Fewer are written where a fold runs out of candidates.
    seed : int, default=0
        Seed of the identity-to-fold assignment and of every pair draw.
    exclude : iterable of str, optional
        Identity names (``id<c>``) to leave out of the pairs, for example those a metric was fitted on
        (``labels.csv`` of :func:`write_lfw_xq_retrieval`'s labelled collection), so that the protocol measures
        that metric on people it never saw.

    Returns
    -------
    paths : dict
        ``{"embeddings": Path, "labels": Path, "pairs": Path}``: ``embeddings.npy`` (15,518 x 128 float32),
        ``labels.csv`` (``index,class,path,group``) and ``pairs.csv`` (``fold,name1,num1,name2,num2,same``).

    Raises
    ------
    InputError
        If ``n_folds < 2`` or ``pairs_per_fold < 2``.
    """
    import pandas as pd

    if n_folds < 2 or pairs_per_fold < 2:
        raise InputError(f"need n_folds >= 2 and pairs_per_fold >= 2, got {n_folds} and {pairs_per_fold}")
    X, y, groups, images, names, num, paths = _lfw_xq_rows()

    rng = np.random.default_rng(seed)
    clean = groups == "clean"
    by_id: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    excluded = {str(e) for e in (exclude if exclude is not None else ())}
    for c in np.unique(y):
        if f"id{int(c):05d}" in excluded:
            continue
        rows = np.flatnonzero(y == c)
        cl, xq = rows[clean[rows]], rows[~clean[rows]]
        if cl.size and xq.size and np.unique(images[rows]).size >= 2:
            by_id[int(c)] = (cl, xq)
    if len(by_id) < 2 * n_folds:
        raise InputError(f"only {len(by_id)} identities with two photos are left: too few for {n_folds} folds")
    ids = rng.permutation(np.array(sorted(by_id)))
    fold_of = {int(c): k % n_folds for k, c in enumerate(ids)}
    rows_out = []
    for k in range(n_folds):
        members = [c for c in ids if fold_of[int(c)] == k]
        n_same = pairs_per_fold // 2
        seen: set = set()
        tries = 0
        while len(seen) < n_same and tries < 50 * n_same:
            tries += 1
            cl, xq = by_id[int(members[rng.integers(len(members))])]
            a = int(cl[rng.integers(cl.size)])
            cand = xq[images[xq] != images[a]]
            if cand.size:
                b = int(cand[rng.integers(cand.size)])
                if (a, b) not in seen:
                    seen.add((a, b))
                    rows_out.append((k, a, b, 1))
        diff: set = set()
        tries = 0
        while len(diff) < pairs_per_fold - n_same and tries < 50 * pairs_per_fold:
            tries += 1
            c1, c2 = rng.choice(len(members), size=2, replace=False)
            a = int(by_id[int(members[c1])][0][rng.integers(by_id[int(members[c1])][0].size)])
            b = int(by_id[int(members[c2])][1][rng.integers(by_id[int(members[c2])][1].size)])
            if (a, b) not in diff:
                diff.add((a, b))
                rows_out.append((k, a, b, 0))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files = {"embeddings": out / "embeddings.npy", "labels": out / "labels.csv", "pairs": out / "pairs.csv"}
    np.save(files["embeddings"], X)
    pd.DataFrame({"index": np.arange(y.size), "class": names, "path": paths, "group": groups}).to_csv(
        files["labels"], index=False
    )
    r = np.array(rows_out, dtype=np.int64)
    pd.DataFrame(
        {"fold": r[:, 0], "name1": names[r[:, 1]], "num1": num[r[:, 1]],
         "name2": names[r[:, 2]], "num2": num[r[:, 2]], "same": r[:, 3]}
    ).to_csv(files["pairs"], index=False)
    return files


def _lfw_xq_rows():
    """Train rows of the embedded default with LFW-style names:
    ``(X, y, groups, images, names, num, paths)`` (``groups`` as text)."""
    comp = load_lfw_xq()
    X = np.asarray(comp.train_X)
    y = np.asarray(comp.train_y)
    groups = np.asarray(comp.train_groups).astype(str)
    images = np.asarray(comp.train_images)
    order = np.lexsort((groups, images, y))
    num = np.empty(y.size, dtype=np.int64)
    _, first, counts = np.unique(y[order], return_index=True, return_counts=True)
    num[order] = np.arange(y.size) - np.repeat(first, counts) + 1
    names = np.array([f"id{int(c):05d}" for c in y])
    paths = np.array([f"{n}/{n}_{k:04d}.jpg" for n, k in zip(names, num)])
    return X, y, groups, images, names, num, paths


def write_lfw_xq_retrieval(out, *, query_fraction: float = 0.2, seed: int = 0) -> dict:
    """Write a leak-free retrieval exercise made from the embedded default (for the ``retrieve`` examples).

    The identities of the embedded train set that have two or more photos are split in two, with ``seed``:

    * ``query_fraction`` of them become the **exercise**: for each, one degraded (``xq40``) photo is the query,
      and the clean embeddings of its *other* photos join the gallery (so the query's own photo is never in the
      gallery);
    * the rest, and every identity with a single photo, become a **labelled collection** to learn a metric from:
      ``labelled/clean.npy`` and ``labelled/xq40.npy`` (the same photos row for row) with ``labelled/labels.csv``,
      ready for ``metricbench make-competition``.

    No identity of the exercise is in the labelled collection, so a metric fitted on it cannot have seen the
    queries or the gallery: that is what makes the exercise leak-free by construction. (Fitting on the embedded
    default itself would not be: its train set holds every one of these photos.)

    Parameters
    ----------
    out : str or Path
        Folder to create; files of the same names are replaced.
    query_fraction : float, default=0.2
        Share of the multi-photo identities used for the exercise.
    seed : int, default=0
        Seed of the identity split and of the choice of each query photo.

    Returns
    -------
    paths : dict
        ``query``, ``query_labels``, ``gallery``, ``gallery_labels``, ``labelled_clean``, ``labelled_xq40``,
        ``labelled_labels``: Paths of ``.npy`` (float32, d = 128) and ``index,class,path`` CSVs (``class`` an
        LFW-style name ``id<number>``).

    Raises
    ------
    InputError
        If ``query_fraction`` is not in (0, 1).
    """
    import pandas as pd

    if not 0 < query_fraction < 1:
        raise InputError(f"query_fraction must lie in (0, 1), got {query_fraction}")
    X, y, groups, images, names, num, paths = _lfw_xq_rows()
    rng = np.random.default_rng(seed)
    n_photos = {int(c): np.unique(images[y == c]).size for c in np.unique(y)}
    multi = np.array(sorted(c for c, n in n_photos.items() if n >= 2))
    exercise = set(rng.choice(multi, size=max(1, int(round(query_fraction * multi.size))), replace=False).tolist())
    q_rows, g_rows = [], []
    for c in sorted(exercise):
        rows = np.flatnonzero(y == c)
        photo = rng.choice(np.unique(images[rows]))
        q_rows.append(int(rows[(images[rows] == photo) & (groups[rows] == "xq40")][0]))
        g_rows += rows[(images[rows] != photo) & (groups[rows] == "clean")].tolist()
    in_ex = np.isin(y, list(exercise))
    clean_rows = np.flatnonzero(~in_ex & (groups == "clean"))
    clean_rows = clean_rows[np.lexsort((images[clean_rows], y[clean_rows]))]
    xq_of = {int(im): r for r, im in zip(np.flatnonzero(~in_ex & (groups == "xq40")), images[~in_ex & (groups == "xq40")])}
    xq_rows = np.array([xq_of[int(im)] for im in images[clean_rows]])

    out = Path(out)
    (out / "labelled").mkdir(parents=True, exist_ok=True)
    files = {
        "query": out / "query.npy", "query_labels": out / "query_labels.csv",
        "gallery": out / "gallery.npy", "gallery_labels": out / "gallery_labels.csv",
        "labelled_clean": out / "labelled" / "clean.npy", "labelled_xq40": out / "labelled" / "xq40.npy",
        "labelled_labels": out / "labelled" / "labels.csv",
    }

    def side(rows, npy, csv):
        rows = np.asarray(rows, dtype=np.int64)
        np.save(npy, X[rows])
        pd.DataFrame({"index": np.arange(rows.size), "class": names[rows], "path": paths[rows]}).to_csv(csv, index=False)

    side(q_rows, files["query"], files["query_labels"])
    side(g_rows, files["gallery"], files["gallery_labels"])
    side(clean_rows, files["labelled_clean"], files["labelled_labels"])
    np.save(files["labelled_xq40"], X[xq_rows])
    return files
