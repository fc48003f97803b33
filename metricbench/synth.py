"""Synthetic competition directories of any size, with the structure of real face embeddings.

``metricbench synth --like raai2019 --out DIR`` writes a directory in the reference
competition's format and shapes (454,714 x 512 train rows of 10,575 identities, 11,605 x 512
test rows, 31,444 test pairs, ``solution.csv``), so that every command can be run and timed at
full size without the real embeddings. The rows follow a generative model fitted to real
embeddings (``data/lfw-xq``: dlib descriptors of LFW, clean and degraded):

.. math::

    x = \\mu + c_{y} + w + (1 - q)(\\delta + v), \\qquad
    c_y \\sim N(0, S_b),\\; w \\sim N(0, S_w),\\; v \\sim N(0, S_q)

then rescaled to a norm drawn from a log-normal whose mean and spread depend on the quality
``q`` in [0, 1] (1 = clean): identity centres ``c_y`` (between-identity covariance ``S_b``), a
shared anisotropic within-identity scatter ``S_w``, a quality-dependent degradation (mean shift
``delta`` and covariance ``S_q``, the difference between a degraded image and its clean
original) and norms that vary with quality. Test identities are drawn apart from the train
ones (identity-disjoint) and test rows are of lower quality than train rows (a train/test
shift).

Two ways to get the parameters:

* ``like="raai2019"``: the spectra (eigenvalues) of ``S_b``, ``S_w`` and ``S_q`` fitted on
  ``data/lfw-xq`` (stored in :data:`RAAI2019_PRESET`), stretched to ``dim`` by relative rank, in
  random orthogonal bases; per-row quality drawn from Beta distributions (train mostly clean,
  test lower); identity sizes long-tailed (log-normal, at least 2 rows).
* ``like=PATH``: every parameter fitted on the competition directory ``PATH`` (full
  matrices, so the same bases; sizes bootstrapped from its identities). With a
  ``train_meta.csv`` naming two variants of each image (as ``data/lfw-xq``: ``clean`` and
  ``xq40``), the synthetic data has them too: each image a clean (q = 1) and a degraded
  (q = 0) row, test pairs clean vs degraded of another image, and a ``train_meta.csv``.

Every array is written in fixed-size chunks into ``.npy`` memory maps (never a second full
copy in memory) inside a temporary folder renamed onto ``out`` at the end; the same seed gives
the same bytes.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from metricbench._synth_preset import RAAI2019_PRESET
from metricbench.errors import InputError
from metricbench.io.atomic import replace_directory

#: shapes of the reference competition (ArcFace embeddings of CASIA-WebFace)
RAAI2019_SHAPES = {"n_train": 454_714, "n_classes": 10_575, "dim": 512, "n_test": 11_605, "n_pairs": 31_444}
#: images generated per chunk (fixed: the bytes must not depend on memory settings)
CHUNK = 8192


@dataclass
class SynthParams:
    """Parameters of the generative model (see the module docstring).

    Spectra are eigenvalues, largest first; a basis of None means a random orthogonal one.
    """

    dim: int
    mean: np.ndarray  # (d,)
    between: np.ndarray  # (d,) eigenvalues of S_b
    within: np.ndarray  # (d,) eigenvalues of S_w
    degrade: np.ndarray  # (d,) eigenvalues of S_q
    shift: np.ndarray  # (d,) delta
    log_norm_clean: tuple = (0.0, 0.0)  # mean, sd of log ||x|| at q = 1
    log_norm_degraded: tuple = (0.0, 0.0)  # at q = 0
    between_basis: np.ndarray | None = None  # (d, d) columns = eigenvectors
    within_basis: np.ndarray | None = None
    degrade_basis: np.ndarray | None = None
    sizes: np.ndarray | None = None  # empirical images per identity, for bootstrap (None: log-normal)
    variants: int = 1  # 2: every image a clean and a degraded row
    within_tail: float = 0.0  # sigma^2 of the log-normal per-image scale^2 of w (E = 1): heavier tails
    degrade_tail: float = 0.0  # the same for v, per degraded row
    quality_train: tuple = (5.0, 1.5)  # Beta(a, b) of q for train rows (variants == 1)
    quality_test: tuple = (2.5, 2.0)  # Beta(a, b) of q for test rows
    source: dict = field(default_factory=dict)

    def summary(self) -> dict:
        """JSON-able description (spectra summarised) for ``manifest.json``."""
        def spec(s):
            return {"trace": float(s.sum()), "top": [float(v) for v in s[:5]]}

        return {
            "dim": self.dim,
            "between": spec(self.between),
            "within": spec(self.within),
            "degrade": spec(self.degrade),
            "mean_norm": float(np.linalg.norm(self.mean)),
            "shift_norm": float(np.linalg.norm(self.shift)),
            "within_tail": float(self.within_tail),
            "degrade_tail": float(self.degrade_tail),
            "log_norm_clean": list(map(float, self.log_norm_clean)),
            "log_norm_degraded": list(map(float, self.log_norm_degraded)),
            "bases": "fitted" if self.between_basis is not None else "random orthogonal",
            "sizes": "bootstrapped" if self.sizes is not None else "log-normal",
            "variants": self.variants,
            "quality_train": list(self.quality_train) if self.variants == 1 else "clean + degraded",
            "quality_test": list(self.quality_test) if self.variants == 1 else "clean + degraded",
            "source": self.source,
        }


# --------------------------------------------------------------------------- fitting


def _eig_desc(S):
    w, V = np.linalg.eigh(0.5 * (S + S.T))
    order = np.argsort(w)[::-1]
    return np.clip(w[order], 0.0, None), V[:, order]


def _tail(sq_norms, eig) -> float:
    """sigma^2 of a log-normal scale^2 (mean 1) that turns Gaussian rows of covariance eigenvalues ``eig``
    into rows whose squared norms (over their mean) disperse as ``sq_norms`` do."""
    r = np.asarray(sq_norms, dtype=np.float64)
    if r.size < 10 or eig.sum() <= 0:
        return 0.0
    r = r / r.mean()
    v_gauss = 2.0 * float((eig**2).sum()) / float(eig.sum()) ** 2
    return float(max(0.0, np.log((1.0 + r.var()) / (1.0 + v_gauss))))


def fit_params(X, y, *, groups=None, images=None, clean_group=None) -> SynthParams:
    """Fit the generative model to labelled embeddings.

    Parameters
    ----------
    X : ndarray of shape (n, d)
    y : array-like of shape (n,)
        Identity of each row.
    groups, images : array-like of shape (n,), optional
        Variant tag and source image of each row (``train_meta.csv``). With exactly two tags,
        the clean one (``clean_group``, default the first in sorted order) gives the
        between/within scatter and the pairs (clean, other) of one image the degradation.
    clean_group : str, optional

    Returns
    -------
    SynthParams
        Full bases (the same dimension as ``X``); sizes bootstrapped from ``y``.

    Raises
    ------
    InputError
        Fewer than two identities, or groups without images.
    """
    from metricbench.learn.stats import ScatterStats

    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y)
    n, d = X.shape
    variants = 1
    clean = np.ones(n, dtype=bool)
    deg_rows = None
    if groups is not None:
        g = np.asarray(groups).astype(str)
        tags = sorted(set(g.tolist()))
        if len(tags) == 2:
            if images is None:
                raise InputError("fitting two variants needs the source image of each row (train_meta.csv 'image')")
            cg = clean_group if clean_group is not None else tags[0]
            if cg not in tags:
                raise InputError(f"clean_group {cg!r} is not one of the groups {tags}")
            other = tags[1] if cg == tags[0] else tags[0]
            clean = g == cg
            img = np.asarray(images)
            # rows of one image in both variants
            ci = {v: i for i, v in zip(np.flatnonzero(clean), img[clean])}
            oi = np.flatnonzero(g == other)
            pairs = np.array([(ci[img[j]], j) for j in oi if img[j] in ci], dtype=np.int64).reshape(-1, 2)
            if len(pairs) >= 2:
                deg_rows = pairs
                variants = 2
    Xc, yc = X[clean], y[clean]
    if np.unique(yc).size < 2:
        raise InputError("need at least 2 identities to fit the synthetic model")
    S = ScatterStats.from_data(Xc, yc)
    Sw = S.within_unbiased
    C = S.n_classes
    # class means of small classes carry within noise: E[Sb] = Cov(c) + (C / n) Sw
    Sb = S.between - (C / S.n) * Sw
    lb, Ub = _eig_desc(Sb)
    lw, Uw = _eig_desc(Sw)
    # dispersion of within-identity residual norms (identities with 2+ rows), for the tails
    _, codes, counts = np.unique(yc, return_inverse=True, return_counts=True)
    codes = codes.ravel()
    means = np.zeros((counts.size, d))
    np.add.at(means, codes, Xc)
    means /= counts[:, None]
    multi = counts[codes] >= 2
    res = (Xc - means[codes])[multi]
    w_tail = _tail((res**2).sum(1) * (counts[codes][multi] / (counts[codes][multi] - 1.0)), lw)
    if deg_rows is not None:
        D = X[deg_rows[:, 1]] - X[deg_rows[:, 0]]
        shift = D.mean(0)
        lq, Uq = _eig_desc(np.cov(D, rowvar=False, bias=True))
        # D = w_deg... the pair difference holds v only (w is shared by the two variants of an image)
        q_tail = _tail(((D - shift) ** 2).sum(1), lq)
        ln_c = np.log(np.linalg.norm(X[deg_rows[:, 0]], axis=1))
        ln_d = np.log(np.linalg.norm(X[deg_rows[:, 1]], axis=1))
    else:
        shift = np.zeros(d)
        lq, Uq = np.zeros(d), np.eye(d)
        q_tail = 0.0
        ln_c = ln_d = np.log(np.maximum(np.linalg.norm(X, axis=1), 1e-300))
    return SynthParams(
        dim=d, mean=S.mean, between=lb, within=lw, degrade=lq, shift=shift,
        log_norm_clean=(float(ln_c.mean()), float(ln_c.std())),
        log_norm_degraded=(float(ln_d.mean()), float(ln_d.std())),
        between_basis=Ub, within_basis=Uw, degrade_basis=Uq,
        sizes=counts.astype(np.int64), variants=variants, within_tail=w_tail, degrade_tail=q_tail,
    )


def fit_competition(path, **kw) -> SynthParams:
    """:func:`fit_params` on the train rows of a competition directory (``train_meta.csv`` if present)."""
    from metricbench.io import load_competition

    comp = load_competition(path)
    p = fit_params(comp.train_X, comp.train_y, groups=comp.train_groups, images=comp.train_images, **kw)
    p.source = {"like": str(path)}
    return p


def _stretch(s: np.ndarray, dim: int) -> np.ndarray:
    """A spectrum of ``len(s)`` eigenvalues resampled to ``dim`` by relative rank, same trace."""
    s = np.asarray(s, dtype=np.float64)
    if s.size == dim:
        return s.copy()
    tiny = max(s.max(), 1e-300) * 1e-12
    r_src = (np.arange(s.size) + 0.5) / s.size
    r_new = (np.arange(dim) + 0.5) / dim
    out = np.exp(np.interp(r_new, r_src, np.log(np.maximum(s, tiny))))
    return out * (s.sum() / max(out.sum(), 1e-300))


def preset_params(dim: int = 512, preset: dict | None = None) -> SynthParams:
    """The ``raai2019`` parameters: spectra fitted on ``data/lfw-xq``, stretched to ``dim``,
    random bases (drawn at generation from the seed)."""
    p = RAAI2019_PRESET if preset is None else preset
    if dim < 2:
        raise InputError(f"dim must be at least 2, got {dim}")
    unit = np.zeros(dim)
    return SynthParams(
        dim=dim,
        mean=unit,  # direction drawn at generation; norm in source
        between=_stretch(p["between"], dim),
        within=_stretch(p["within"], dim),
        degrade=_stretch(p["degrade"], dim),
        shift=unit.copy(),
        log_norm_clean=tuple(p["log_norm_clean"]),
        log_norm_degraded=tuple(p["log_norm_degraded"]),
        within_tail=float(p.get("within_tail", 0.0)),
        degrade_tail=float(p.get("degrade_tail", 0.0)),
        source={"like": "raai2019", "fitted_on": p.get("fitted_on", "data/lfw-xq"),
                "mean_norm": p["mean_norm"], "shift_norm": p["shift_norm"]},
    )


# --------------------------------------------------------------------------- generation


def _random_basis(rng, d):
    Q, R = np.linalg.qr(rng.standard_normal((d, d)))
    return Q * np.sign(np.diag(R))


def _random_direction(rng, d, norm):
    v = rng.standard_normal(d)
    return v / np.linalg.norm(v) * norm


def class_sizes(total: int, n_classes: int, rng, *, minimum: int = 1, empirical=None, sigma: float = 0.9):
    """Identity sizes (>= ``minimum``) summing exactly to ``total``: log-normal weights, or
    weights bootstrapped from ``empirical`` sizes."""
    if n_classes < 1:
        raise InputError(f"need at least 1 identity, got {n_classes}")
    if total < minimum * n_classes:
        raise InputError(f"{total} rows cannot give {n_classes} identities of {minimum}+ rows each")
    if empirical is not None:
        w = rng.choice(np.asarray(empirical, dtype=np.float64), size=n_classes, replace=True)
        w = np.maximum(w - minimum, 0.0) + 1e-3
    else:
        w = rng.lognormal(mean=0.0, sigma=sigma, size=n_classes)
    sizes = minimum + np.floor(w / w.sum() * (total - minimum * n_classes)).astype(np.int64)
    rest = int(total - sizes.sum())
    if rest:
        sizes[rng.choice(n_classes, size=rest, replace=rest > n_classes)] += 1
    return sizes


@dataclass
class _Model:
    mean: np.ndarray
    Fb: np.ndarray  # (d, d): c = z @ Fb
    Fw: np.ndarray
    Fq: np.ndarray
    shift: np.ndarray
    ln_c: tuple
    ln_d: tuple
    w_tail: float = 0.0
    q_tail: float = 0.0


def _factor(eig, basis):
    return (basis * np.sqrt(np.maximum(eig, 0.0))).T


def _model(params: SynthParams, rng) -> _Model:
    d = params.dim
    if params.between_basis is None:
        Ub, Uw, Uq = _random_basis(rng, d), _random_basis(rng, d), _random_basis(rng, d)
        mean = _random_direction(rng, d, params.source.get("mean_norm", 0.0))
        shift = _random_direction(rng, d, params.source.get("shift_norm", 0.0))
    else:
        Ub, Uw, Uq = params.between_basis, params.within_basis, params.degrade_basis
        mean, shift = np.asarray(params.mean, float), np.asarray(params.shift, float)
    return _Model(mean, _factor(params.between, Ub), _factor(params.within, Uw), _factor(params.degrade, Uq),
                  shift, params.log_norm_clean, params.log_norm_degraded, params.within_tail, params.degrade_tail)


def _scale(rng, m, tail):
    """Per-row scales s with s^2 log-normal of mean 1 and log-variance ``tail``, shape (m, 1)."""
    z = rng.standard_normal(m)
    return np.exp(0.5 * (np.sqrt(tail) * z - 0.5 * tail))[:, None]


def _rows(model: _Model, centres, q, rng, shared=None):
    """Rows ``mean + centres + w + (1 - q)(shift + v)`` rescaled to a quality-dependent norm.

    ``shared``: (w, v) given (for the variants of one image), else drawn."""
    m, d = centres.shape
    if shared is None:
        w = rng.standard_normal((m, d)) @ model.Fw
        w *= _scale(rng, m, model.w_tail)
        v = rng.standard_normal((m, d)) @ model.Fq
    else:
        w, _ = shared
        v = rng.standard_normal((m, d)) @ model.Fq  # each degraded row its own degradation
    v *= _scale(rng, m, model.q_tail)
    X = model.mean + centres + w + (1.0 - q)[:, None] * (model.shift + v)
    mu = q * model.ln_c[0] + (1.0 - q) * model.ln_d[0]
    sd = q * model.ln_c[1] + (1.0 - q) * model.ln_d[1]
    target = np.exp(mu + sd * rng.standard_normal(m))
    nrm = np.linalg.norm(X, axis=1)
    X *= (target / np.maximum(nrm, 1e-300))[:, None]
    return X.astype(np.float32), (w, v)


def _write_set(path, model, centres, img_class, rng, params: SynthParams, quality, chunk=CHUNK):
    """Write the rows of every image (class ``img_class``) into ``path`` in a random order.

    Returns ``(row_class, row_group, row_image)`` (group None when one variant)."""
    n_img = img_class.size
    V = params.variants
    n = n_img * V
    X = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, params.dim))
    pos = rng.permutation(n).reshape(n_img, V)  # row of variant v of image i
    row_class = np.empty(n, dtype=np.int64)
    row_image = np.empty(n, dtype=np.int64)
    row_group = np.empty(n, dtype=np.int8)
    for s in range(0, n_img, chunk):
        e = min(n_img, s + chunk)
        c = centres[img_class[s:e]]
        if V == 1:
            q = rng.beta(*quality, size=e - s)
            rows, _ = _rows(model, c, q, rng)
            p = pos[s:e, 0]
            # rows land in increasing positions: sort for a sequential write
            o = np.argsort(p)
            X[p[o]] = rows[o]
        else:
            rows, shared = _rows(model, c, np.ones(e - s), rng)
            X[np.sort(pos[s:e, 0])] = rows[np.argsort(pos[s:e, 0])]
            rows, _ = _rows(model, c, np.zeros(e - s), rng, shared=shared)
            X[np.sort(pos[s:e, 1])] = rows[np.argsort(pos[s:e, 1])]
        for v in range(V):
            row_class[pos[s:e, v]] = img_class[s:e]
            row_image[pos[s:e, v]] = np.arange(s, e)
            row_group[pos[s:e, v]] = v
    X.flush()
    del X
    return row_class, (row_group if V > 1 else None), row_image


def sample_pairs(row_class, n_pairs, rng, *, same_fraction=0.5, row_group=None, row_image=None):
    """Test pairs: ``same_fraction`` of the same identity (distinct rows, or with two variants:
    a clean row and the degraded row of another image), the rest of different identities;
    no pair repeats. Returns ``(index1, index2, same)`` in random order."""
    n = row_class.size
    if row_group is not None:
        left = np.flatnonzero(row_group == 0)
        right = np.flatnonzero(row_group == 1)
    else:
        left = right = np.arange(n)
    # right rows grouped by class (for same pairs), by image within class
    rc = row_class[right]
    order = np.lexsort((row_image[right] if row_image is not None else right, rc))
    r_sorted = right[order]
    rc_sorted = rc[order]
    classes, start, size = np.unique(rc_sorted, return_index=True, return_counts=True)
    size_of = dict(zip(classes.tolist(), size.tolist()))
    ok_left = left[np.array([size_of.get(c, 0) for c in row_class[left].tolist()]) >= 2]
    n_same = int(round(n_pairs * same_fraction))
    n_diff = n_pairs - n_same
    if n_same and ok_left.size == 0:
        raise InputError("no test identity has 2 or more rows: cannot form same-identity pairs")
    if n_diff and classes.size < 2:
        raise InputError("need 2 or more test identities for different-identity pairs")
    cls_idx = {c: i for i, c in enumerate(classes.tolist())}

    def draw_same(m):
        a = ok_left[rng.integers(ok_left.size, size=m)]
        ci = np.array([cls_idx[c] for c in row_class[a].tolist()], dtype=np.int64)
        st, sz = start[ci], size[ci]
        b = r_sorted[st + rng.integers(sz)]
        if row_image is not None:
            bad = row_image[b] == row_image[a]
        else:
            bad = b == a
        return a[~bad], b[~bad]

    def draw_diff(m):
        a = left[rng.integers(left.size, size=m)]
        b = right[rng.integers(right.size, size=m)]
        keep = row_class[a] != row_class[b]
        return a[keep], b[keep]

    def fill(draw, m, seen):
        A, B = [], []
        got = 0
        for _ in range(200):
            if got >= m:
                break
            a, b = draw(max(64, 2 * (m - got)))
            key = a * n + b
            _, first = np.unique(key, return_index=True)
            first.sort()
            a, b, key = a[first], b[first], key[first]
            fresh = ~np.isin(key, seen)
            a, b = a[fresh][: m - got], b[fresh][: m - got]
            seen = np.concatenate([seen, a * n + b])
            A.append(a)
            B.append(b)
            got += a.size
        if got < m:
            raise InputError(f"could not draw {m} distinct pairs from {n} test rows; ask for fewer pairs")
        return np.concatenate(A), np.concatenate(B), seen

    seen = np.empty(0, dtype=np.int64)
    a1, b1, seen = fill(draw_same, n_same, seen) if n_same else (np.empty(0, np.int64),) * 2 + (seen,)
    a2, b2, seen = fill(draw_diff, n_diff, seen) if n_diff else (np.empty(0, np.int64),) * 2 + (seen,)
    i1 = np.concatenate([a1, a2])
    i2 = np.concatenate([b1, b2])
    same = np.r_[np.ones(a1.size, np.int8), np.zeros(a2.size, np.int8)]
    perm = rng.permutation(i1.size)
    return i1[perm], i2[perm], same[perm]


def _write_csv(path, columns: dict, chunk: int = 1 << 20):
    """A CSV of integer columns, written in row chunks."""
    names = list(columns)
    n = len(next(iter(columns.values())))
    with open(path, "w", newline="") as fh:
        fh.write(",".join(names) + "\n")
        for s in range(0, n, chunk):
            block = np.column_stack([np.asarray(columns[k][s : s + chunk]) for k in names])
            np.savetxt(fh, block, fmt="%d", delimiter=",")


def synth(
    out,
    *,
    like="raai2019",
    n_train: int | None = None,
    n_classes: int | None = None,
    dim: int | None = None,
    n_test: int | None = None,
    n_test_classes: int | None = None,
    n_pairs: int | None = None,
    same_fraction: float = 0.5,
    seed: int = 0,
    overwrite: bool = False,
    params: SynthParams | None = None,
    progress=None,
) -> dict:
    """Write a synthetic competition directory.

    Parameters
    ----------
    out : path-like
        Directory to create (``train_set.npy`` (n_train, dim) float32, ``train_labels.csv``
        ``index,class``, ``test_set.npy`` (n_test, dim) float32, ``test_pairs.csv``
        ``index1,index2,Id``, ``solution.csv`` ``Id,Expected``, ``manifest.json``; with two
        variants also ``train_meta.csv`` ``index,group,image``).
    like : "raai2019" or path-like
        The preset (reference shapes, spectra fitted on ``data/lfw-xq``) or a competition
        directory to fit every parameter and take every default shape from.
    n_train, n_classes, dim, n_test, n_test_classes, n_pairs : int, optional
        Shapes; defaults from ``like``. With two variants, ``n_train`` and ``n_test`` must be even.
        ``n_test_classes`` defaults to ``n_test`` over the mean train identity size.
    same_fraction : float
        Share of same-identity test pairs.
    seed : int
        Seed of every random draw; the same seed gives the same bytes.
    overwrite : bool
        Replace ``out`` if it exists.
    params : SynthParams, optional
        Use these instead of fitting (``like`` then only gives default shapes).
    progress : callable, optional
        ``progress(stage: str)`` before each file.

    Returns
    -------
    dict
        The manifest written to ``manifest.json``.

    Raises
    ------
    InputError
        ``out`` exists (without ``overwrite``), impossible shapes, unknown preset.
    """
    import pandas as pd

    out = Path(out)
    if out.exists() and not overwrite:
        raise InputError(f"{out} exists; pass --overwrite to replace it")
    if str(like).lower() == "raai2019":
        shapes = dict(RAAI2019_SHAPES)
        d = int(dim or shapes["dim"])
        p = params if params is not None else preset_params(d)
    else:
        src = Path(like)
        if not src.is_dir():
            raise InputError(f"--like {like!r}: not 'raai2019' nor a competition directory")
        man = {}
        if (src / "manifest.json").exists():
            man = json.loads((src / "manifest.json").read_text())
        p = params if params is not None else fit_competition(src)
        from metricbench.io import load_competition

        comp = load_competition(src)
        shapes = {
            "n_train": comp.train_X.shape[0],
            "n_classes": int(man.get("n_train_identities", np.unique(comp.train_y).size)),
            "dim": comp.train_X.shape[1],
            "n_test": comp.test_X.shape[0],
            "n_pairs": len(comp.pairs),
        }
        if "n_test_identities" in man:
            shapes["n_test_classes"] = int(man["n_test_identities"])
        d = p.dim
        if dim is not None and int(dim) != d:
            raise InputError(f"--like {like}: the fitted bases are {d}-D; --dim must be {d} or omitted")
    V = p.variants
    n_train = int(n_train if n_train is not None else shapes["n_train"])
    n_classes = int(n_classes if n_classes is not None else shapes["n_classes"])
    n_test = int(n_test if n_test is not None else shapes["n_test"])
    n_pairs = int(n_pairs if n_pairs is not None else shapes["n_pairs"])
    for name, v in (("n_train", n_train), ("n_test", n_test)):
        if v < 2:
            raise InputError(f"{name} must be at least 2, got {v}")
        if v % V:
            raise InputError(f"{name} must be a multiple of {V} (each image has {V} variants), got {v}")
    if n_pairs < 1:
        raise InputError(f"n_pairs must be at least 1, got {n_pairs}")
    if not 0.0 <= same_fraction <= 1.0:
        raise InputError(f"same_fraction must be between 0 and 1, got {same_fraction}")
    minimum = 2 if V == 1 else 1
    mean_size = (n_train // V) / max(1, n_classes)
    if n_test_classes is None:
        n_test_classes = shapes.get("n_test_classes") if n_test == shapes["n_test"] else None
        if n_test_classes is None:
            n_test_classes = max(2, int(round((n_test // V) / max(mean_size, 1.0))))
    n_test_classes = int(n_test_classes)

    ss = np.random.SeedSequence(seed)
    r_model, r_sizes, r_train, r_test, r_pairs = (np.random.default_rng(s) for s in ss.spawn(5))
    model = _model(p, r_model)
    say = progress or (lambda stage: None)

    tr_sizes = class_sizes(n_train // V, n_classes, r_sizes, minimum=minimum, empirical=p.sizes)
    te_sizes = class_sizes(n_test // V, n_test_classes, r_sizes, minimum=minimum, empirical=p.sizes)
    # identity centres: train and test drawn apart (disjoint identities)
    tr_centres = r_model.standard_normal((n_classes, d)) @ model.Fb
    te_centres = r_model.standard_normal((n_test_classes, d)) @ model.Fb

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    os.chmod(tmp, 0o755)
    try:
        say("train_set.npy")
        tr_img_class = np.repeat(np.arange(n_classes, dtype=np.int64), tr_sizes)
        ytr, gtr, itr = _write_set(tmp / "train_set.npy", model, tr_centres, tr_img_class, r_train, p, p.quality_train)
        say("train_labels.csv")
        _write_csv(tmp / "train_labels.csv", {"index": np.arange(ytr.size), "class": ytr})
        if gtr is not None:
            meta = pd.DataFrame({"index": np.arange(ytr.size), "group": np.where(gtr == 0, "clean", "degraded"),
                                 "image": itr})
            meta.to_csv(tmp / "train_meta.csv", index=False)
        say("test_set.npy")
        te_img_class = np.repeat(np.arange(n_test_classes, dtype=np.int64), te_sizes)
        yte, gte, ite = _write_set(tmp / "test_set.npy", model, te_centres, te_img_class, r_test, p, p.quality_test)
        say("test_pairs.csv")
        i1, i2, same = sample_pairs(yte, n_pairs, r_pairs, same_fraction=same_fraction, row_group=gte,
                                    row_image=ite if gte is not None else None)
        ids = np.arange(i1.size)
        _write_csv(tmp / "test_pairs.csv", {"index1": i1, "index2": i2, "Id": ids})
        _write_csv(tmp / "solution.csv", {"Id": ids, "Expected": same})
        manifest = {
            "generator": "metricbench synth",
            "like": str(like),
            "seed": int(seed),
            "n_train_rows": int(ytr.size),
            "n_train_identities": int(n_classes),
            "n_test_rows": int(yte.size),
            "n_test_identities": int(n_test_classes),
            "n_test_pairs": int(i1.size),
            "n_same_pairs": int(same.sum()),
            "dim": int(d),
            "chunk": CHUNK,
            "model": p.summary(),
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
        replace_directory(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return manifest


def preset_from(params: SynthParams) -> dict:
    """The ``raai2019``-style preset (spectra and scalars) of fitted parameters."""
    return {
        "between": [float(f"{v:.6g}") for v in params.between],
        "within": [float(f"{v:.6g}") for v in params.within],
        "degrade": [float(f"{v:.6g}") for v in params.degrade],
        "mean_norm": float(np.linalg.norm(params.mean)),
        "shift_norm": float(np.linalg.norm(params.shift)),
        "within_tail": float(params.within_tail),
        "degrade_tail": float(params.degrade_tail),
        "log_norm_clean": [float(v) for v in params.log_norm_clean],
        "log_norm_degraded": [float(v) for v in params.log_norm_degraded],
        "fitted_on": params.source.get("like", ""),
    }


__all__ = ["RAAI2019_SHAPES", "SynthParams", "class_sizes", "fit_competition", "fit_params", "preset_params",
           "sample_pairs", "synth"]
