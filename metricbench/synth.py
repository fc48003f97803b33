"""Synthetic competition directories of any size, with the structure of real face embeddings.

``metricbench synth --like raai2019 --out DIR`` writes a directory in the reference
competition's format and shapes (454,714 x 512 train rows of 10,575 identities, 11,605 x 512
test rows, 31,444 test pairs, ``solution.csv``), so that every command can be run and timed at
full size without the real embeddings. The rows follow a generative model fitted to real
embeddings (``data/lfw-xq``: dlib descriptors of LFW, clean and degraded):

.. math::

    x = \\mu + G_b(q)\\, c_{y} + \\gamma\\,(G_w(q)\\, w + (1 - q)\\, v) + (1 - q)\\,\\delta, \\qquad
    G(q) = q I + (1 - q) K, \\quad
    c_y \\sim N(0, S_b),\\; w \\sim N(0, S_w),\\; v \\sim N(0, S_q)

then rescaled to a norm drawn from a log-normal whose mean and spread depend on the quality
``q`` in [0, 1] (1 = clean): identity centres ``c_y`` (between-identity covariance ``S_b``), a
shared anisotropic within-identity scatter ``S_w`` (the image's own part), and a degradation: a
degraded row keeps a share of its identity centre and of its own part that differs by direction:
``K_b = U_b diag(rho_b) U_b'`` along the eigenvectors ``U_b`` of ``S_b`` and ``K_w`` likewise along
those of ``S_w`` (fitted by least squares of degraded rows on their clean originals; on lfw-xq a
degraded row keeps about half of its identity along the top between-identity directions and next
to nothing along the weak ones, 0.29 and 0.15 overall), plus a mean shift ``delta`` and the residual
noise ``v``; norms vary with quality. Test identities are drawn
apart from the train ones (identity-disjoint) and test rows are of lower quality than train rows (a
train/test shift). ``gamma`` is the noise gain (1 when fitted; calibrated for the preset).

Two ways to get the parameters:

* ``like="raai2019"``: the full model fitted on ``data/lfw-xq`` (128-D; shipped as
  ``data/synth-raai2019.npz`` and :data:`RAAI2019_PRESET`, written by
  ``benchmarks/synth_vs_lfw_xq.py --fit``) in ``ceil(dim / 128)`` independent copies in a random
  orthonormal projection to ``dim``; the gain ``gamma`` calibrated so that the cosine test AUROC is
  lfw-xq's (:func:`calibrate_gain`); per-row quality drawn from Beta distributions (train mostly
  clean, test lower); identity sizes long-tailed (log-normal, at least 2 rows).
* ``like=PATH``: every parameter fitted on the competition directory ``PATH`` (full
  matrices, so the same bases; sizes bootstrapped from its identities; gain 1). With a
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
from metricbench.errors import InputError, OutputExistsError
from metricbench.io import load_competition
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
    keep_between: float = 1.0  # rho_b: share of the identity centre a degraded (q = 0) row keeps
    keep_within: float = 1.0  # rho_w: share of the within-identity (image) part it keeps
    # per-direction shares (None: the scalars): rho_b along each eigenvector of S_b, rho_w along each of S_w
    keep_between_dirs: np.ndarray | None = None  # (d,) in the order of ``between``
    keep_within_dirs: np.ndarray | None = None  # (d,) in the order of ``within``
    noise_gain: float | None = None  # None: calibrate w and v's scale to ``target_auroc`` at generation
    target_auroc: float | None = None  # cosine AUROC of the test pairs the calibration aims at
    blocks: dict | None = None  # fitted full model of a smaller width (preset): copies in a random projection
    source: dict = field(default_factory=dict)

    def summary(self) -> dict:
        """JSON-able description (spectra summarised) for ``manifest.json``."""
        def spec(s):
            return {"trace": float(s.sum()), "top": [float(v) for v in s[:5]]}

        def spec_keep(k, eig):  # the shares along the top directions and weighted by their variance
            k = np.asarray(k, dtype=np.float64)
            return {"weighted": float((k * eig).sum() / max(eig.sum(), 1e-300)), "top": [float(v) for v in k[:5]]}

        return {
            "dim": self.dim,
            "between": spec(self.between),
            "within": spec(self.within),
            "degrade": spec(self.degrade),
            "mean_norm": float(np.linalg.norm(self.mean)),
            "shift_norm": float(np.linalg.norm(self.shift)),
            "within_tail": float(self.within_tail),
            "degrade_tail": float(self.degrade_tail),
            "keep_between": float(self.keep_between),
            "keep_within": float(self.keep_within),
            **({"keep_between_dirs": spec_keep(self.keep_between_dirs, self.between),
                "keep_within_dirs": spec_keep(self.keep_within_dirs, self.within)}
               if self.keep_between_dirs is not None else {}),
            "noise_gain": None if self.noise_gain is None else float(self.noise_gain),
            "target_auroc": None if self.target_auroc is None else float(self.target_auroc),
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


def _fit_keep_dirs(A, B, T, Ub, Uw):
    """Shares ``kb`` (along each column of ``Ub``) and ``kw`` (along each of ``Uw``) of the least-squares fit
    ``T ~ A Ub diag(kb) Ub' + B Uw diag(kw) Uw'`` (A: identity centres, B: own parts, T: degraded rows, all
    centred): how much of its identity a degraded row keeps in each direction; clipped to [0, 1]."""
    a, b = A @ Ub, B @ Uw  # coordinates of the centres and own parts in their eigenbases
    d = Ub.shape[1]
    G = np.zeros((2 * d, 2 * d))
    G[:d, :d] = np.diag((a * a).sum(0))
    G[d:, d:] = np.diag((b * b).sum(0))
    G[:d, d:] = (a.T @ b) * (Ub.T @ Uw)
    G[d:, :d] = G[:d, d:].T
    r = np.r_[((T @ Ub) * a).sum(0), ((T @ Uw) * b).sum(0)]
    k = np.clip(np.linalg.lstsq(G, r, rcond=1e-10)[0], 0.0, 1.0)
    return k[:d], k[d:]


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
    classes, codes, counts = np.unique(yc, return_inverse=True, return_counts=True)
    codes = codes.ravel()
    means = np.zeros((counts.size, d))
    np.add.at(means, codes, Xc)
    means /= counts[:, None]
    multi = counts[codes] >= 2
    res = (Xc - means[codes])[multi]
    w_tail = _tail((res**2).sum(1) * (counts[codes][multi] / (counts[codes][multi] - 1.0)), lw)
    keep_b = keep_w = 1.0
    kb_dirs = kw_dirs = None
    if deg_rows is not None:
        # degraded row of an image = mean + delta + rho_b * centre + rho_w * own part + v: least squares of the
        # two shares over the identities with 2+ clean images (their centre and own part are told apart)
        Xcl, Dg = X[deg_rows[:, 0]], X[deg_rows[:, 1]]
        shift = Dg.mean(0) - Xcl.mean(0)
        code_of = dict(zip(classes.tolist(), range(classes.size)))
        pc = np.array([code_of[v] for v in y[deg_rows[:, 0]].tolist()], dtype=np.int64)
        Cb = means[pc] - S.mean
        Cw = Xcl - means[pc]
        Dc = Dg - Dg.mean(0)
        fit_rows = counts[pc] >= 2
        if fit_rows.sum() >= 2:
            A, B, T = Cb[fit_rows], Cw[fit_rows], Dc[fit_rows]
            G = np.array([[(A * A).sum(), (A * B).sum()], [(A * B).sum(), (B * B).sum()]])
            r = np.array([(A * T).sum(), (B * T).sum()])
            keep_b, keep_w = (float(v) for v in np.clip(np.linalg.lstsq(G, r, rcond=None)[0], 0.0, 1.0))
            kb_dirs, kw_dirs = _fit_keep_dirs(A - A.mean(0), B - B.mean(0), T, Ub, Uw)
        else:
            kb_dirs, kw_dirs = np.full(d, keep_b), np.full(d, keep_w)
        Kb, Kw = (Ub * kb_dirs) @ Ub.T, (Uw * kw_dirs) @ Uw.T
        R = Dc - (Cb - Cb.mean(0)) @ Kb - (Cw - Cw.mean(0)) @ Kw
        lq, Uq = _eig_desc(np.cov(R, rowvar=False, bias=True))
        q_tail = _tail((R**2).sum(1), lq)
        ln_c = np.log(np.linalg.norm(Xcl, axis=1))
        ln_d = np.log(np.linalg.norm(Dg, axis=1))
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
        keep_between=keep_b, keep_within=keep_w, keep_between_dirs=kb_dirs, keep_within_dirs=kw_dirs,
        noise_gain=1.0,
    )


def fit_competition(path, **kw) -> SynthParams:
    """:func:`fit_params` on the train rows of a competition directory (``train_meta.csv`` if present)."""
    comp = load_competition(path)
    p = fit_params(comp.train_X, comp.train_y, groups=comp.train_groups, images=comp.train_images, **kw)
    p.source = {"like": str(path)}
    return p


def preset_params(dim: int = 512, preset: dict | None = None, blocks: dict | None = None) -> SynthParams:
    """The ``raai2019`` parameters: the full model fitted on ``data/lfw-xq`` (128-D), taken to ``dim``.

    ``dim`` is reached by ``ceil(dim / 128)`` independent copies of the fitted 128-D model (identity
    centre, image part and degradation of each copy drawn apart; so the geometry between the
    between-identity, within-identity and degradation covariances is lfw-xq's in every copy) in a random
    orthonormal projection (drawn at generation from the seed); the noise gain is then calibrated to
    lfw-xq's cosine test AUROC (``target_auroc``), since more dimensions make pairs easier to tell apart.
    """
    p = RAAI2019_PRESET if preset is None else preset
    if dim < 2:
        raise InputError(f"dim must be at least 2, got {dim}")
    if blocks is None:
        blocks = preset_blocks()
    d0 = int(blocks["between"].shape[0])
    k = -(-int(dim) // d0)

    def spectrum(name):
        return np.sort(np.tile(np.asarray(p[name], dtype=np.float64), k))[::-1][:dim]

    unit = np.zeros(dim)
    return SynthParams(
        dim=dim,
        mean=unit,  # from the blocks at generation
        between=spectrum("between"),
        within=spectrum("within"),
        degrade=spectrum("degrade"),
        shift=unit.copy(),
        log_norm_clean=tuple(p["log_norm_clean"]),
        log_norm_degraded=tuple(p["log_norm_degraded"]),
        within_tail=float(p.get("within_tail", 0.0)),
        degrade_tail=float(p.get("degrade_tail", 0.0)),
        keep_between=float(p.get("keep_between", 1.0)),
        keep_within=float(p.get("keep_within", 1.0)),
        noise_gain=p.get("noise_gain"),
        target_auroc=p.get("target_auroc"),
        blocks=blocks,
        source={"like": "raai2019", "fitted_on": p.get("fitted_on", "data/lfw-xq"), "copies": k,
                "mean_norm": p["mean_norm"], "shift_norm": p["shift_norm"],
                "shares_kept": "per direction" if "keep_between" in blocks else "scalar"},
    )


#: file of the preset's full fitted matrices (written with _synth_preset.py)
PRESET_BLOCKS = Path(__file__).resolve().parent / "data" / "synth-raai2019.npz"


def preset_blocks(path=PRESET_BLOCKS) -> dict:
    """The preset's fitted 128-D model: ``between``, ``within``, ``degrade`` covariances (d0, d0),
    ``mean`` and ``shift`` (d0,), and where fitted the shares a degraded row keeps as matrices
    ``keep_between``, ``keep_within`` (d0, d0)."""
    with np.load(path) as z:
        keys = ("between", "within", "degrade", "mean", "shift", "keep_between", "keep_within")
        return {k: np.asarray(z[k], dtype=np.float64) for k in keys if k in z.files}


def blocks_from(params: SynthParams) -> dict:
    """The full covariances and vectors of fitted parameters (for :data:`PRESET_BLOCKS`)."""
    def cov(eig, basis):
        return (basis * eig) @ basis.T

    return {
        "between": cov(params.between, params.between_basis),
        "within": cov(params.within, params.within_basis),
        "degrade": cov(params.degrade, params.degrade_basis),
        "mean": np.asarray(params.mean, dtype=np.float64),
        "shift": np.asarray(params.shift, dtype=np.float64),
        **({"keep_between": cov(params.keep_between_dirs, params.between_basis),
            "keep_within": cov(params.keep_within_dirs, params.within_basis)}
           if params.keep_between_dirs is not None else {}),
    }


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
    keep_b: float = 1.0
    keep_w: float = 1.0
    Kb: np.ndarray | None = None  # (d, d) shares as matrices (per direction); None: the scalars
    Kw: np.ndarray | None = None
    gain: float = 1.0  # scale of w and v (the image's own part and the degradation)


def _factor(eig, basis):
    return (basis * np.sqrt(np.maximum(eig, 0.0))).T


def _sqrt_factor(S):
    """F with F.T @ F = S (S symmetric PSD), shape (d, d)."""
    lam, U = _eig_desc(S)
    return _factor(lam, U)


def _model(params: SynthParams, rng) -> _Model:
    d = params.dim
    Kb = Kw = None
    if params.blocks is not None:
        b = params.blocks
        d0 = b["between"].shape[0]
        k = -(-d // d0)
        P = _random_basis(rng, k * d0)[:, :d]  # (k d0, d) orthonormal columns

        def copies(S):  # z (m, k d0) @ blockdiag(F, ..., F) @ P
            F = _sqrt_factor(S)
            return np.kron(np.eye(k), F) @ P

        Fb, Fw, Fq = copies(b["between"]), copies(b["within"]), copies(b["degrade"])
        mean, shift = np.tile(b["mean"], k) @ P, np.tile(b["shift"], k) @ P
        if "keep_between" in b:  # the shares in the same copies and projection: P' blockdiag(K) P
            Kb = P.T @ np.kron(np.eye(k), b["keep_between"]) @ P
            Kw = P.T @ np.kron(np.eye(k), b["keep_within"]) @ P
    else:
        if params.between_basis is None:
            Ub, Uw, Uq = _random_basis(rng, d), _random_basis(rng, d), _random_basis(rng, d)
            mean = _random_direction(rng, d, params.source.get("mean_norm", 0.0))
            shift = _random_direction(rng, d, params.source.get("shift_norm", 0.0))
        else:
            Ub, Uw, Uq = params.between_basis, params.within_basis, params.degrade_basis
            mean, shift = np.asarray(params.mean, float), np.asarray(params.shift, float)
        Fb, Fw, Fq = _factor(params.between, Ub), _factor(params.within, Uw), _factor(params.degrade, Uq)
        if params.keep_between_dirs is not None:
            Kb = (Ub * np.asarray(params.keep_between_dirs, float)) @ Ub.T
            Kw = (Uw * np.asarray(params.keep_within_dirs, float)) @ Uw.T
    return _Model(mean, Fb, Fw, Fq, shift, params.log_norm_clean, params.log_norm_degraded, params.within_tail,
                  params.degrade_tail, params.keep_between, params.keep_within, Kb, Kw,
                  1.0 if params.noise_gain is None else float(params.noise_gain))


def _scale(rng, m, tail):
    """Per-row scales s with s^2 log-normal of mean 1 and log-variance ``tail``, shape (m, 1)."""
    z = rng.standard_normal(m)
    return np.exp(0.5 * (np.sqrt(tail) * z - 0.5 * tail))[:, None]


def _draw_parts(model: _Model, m, rng, shared=None):
    """The image's own part ``w`` (unless ``shared``) and the degradation ``v`` of ``m`` rows, before the gain."""
    d = model.Fw.shape[0]
    if shared is None:
        w = rng.standard_normal((m, d)) @ model.Fw
        w *= _scale(rng, m, model.w_tail)
    else:
        w = shared[0]
    v = rng.standard_normal((m, d)) @ model.Fq  # each degraded row its own degradation
    v *= _scale(rng, m, model.q_tail)
    return w, v


def _compose(model: _Model, centres, w, v, q, gain):
    """``mean + g_b(q) c + gain (g_w(q) w + (1 - q) v) + (1 - q) delta`` with ``g(q) = q + (1 - q) rho``:
    a degraded row keeps the share ``rho_b`` of its identity centre and ``rho_w`` of its own part."""
    q = q[:, None]
    if model.Kb is not None:  # per-direction shares: g(q) = q + (1 - q) K, K a matrix
        kept_c = q * centres + (1.0 - q) * (centres @ model.Kb)
        kept_w = q * w + (1.0 - q) * (w @ model.Kw)
        return model.mean + kept_c + (1.0 - q) * model.shift + gain * (kept_w + (1.0 - q) * v)
    gb = q + (1.0 - q) * model.keep_b
    gw = q + (1.0 - q) * model.keep_w
    return model.mean + gb * centres + (1.0 - q) * model.shift + gain * (gw * w + (1.0 - q) * v)


def _rows(model: _Model, centres, q, rng, shared=None):
    """Rows of quality ``q`` (see :func:`_compose`) rescaled to a quality-dependent norm.

    ``shared``: (w, v) given (for the variants of one image), else drawn."""
    m = centres.shape[0]
    w, v = _draw_parts(model, m, rng, shared)
    X = _compose(model, centres, w, v, q, model.gain)
    mu = q * model.ln_c[0] + (1.0 - q) * model.ln_d[0]
    sd = q * model.ln_c[1] + (1.0 - q) * model.ln_d[1]
    target = np.exp(mu + sd * rng.standard_normal(m))
    nrm = np.linalg.norm(X, axis=1)
    X *= (target / np.maximum(nrm, 1e-300))[:, None]
    return X.astype(np.float32), (w, v)


def _auroc(score, label):
    """Area under the ROC curve of ``score`` for ``label``: the one AUROC,
    :func:`metricbench.evaluation.verification.auroc` (loads numba, hence imported here)."""
    from metricbench.evaluation.verification import auroc

    return auroc(label, score)


def calibrate_gain(model: _Model, params: SynthParams, target: float, rng, *, n_pairs: int = 4000) -> float:
    """The gain of the noise (``w`` and ``v``) at which the cosine AUROC of test-like pairs is ``target``.

    Same-identity pairs are two images of one identity, different-identity pairs images of two; with two
    variants a clean row against the degraded row of another image, else rows of test quality
    (``params.quality_test``). Common random numbers over the bisection (on log gain, in [1/64, 64]).

    Parameters
    ----------
    model : _Model
        The drawn model (factors of shape (k * 128, dim) for the preset).
    params : SynthParams
        For ``variants`` and ``quality_test``.
    target : float
        Cosine AUROC to reach, in (0.5, 1).
    rng : numpy.random.Generator
        Seeded: the same seed gives the same gain.
    n_pairs : int
        Pairs drawn (half same identity).

    Returns
    -------
    float
        The gain; the end of the range when ``target`` lies outside what it reaches.
    """
    d = model.Fb.shape[0]
    m = int(n_pairs)
    ca = rng.standard_normal((m, d)) @ model.Fb
    cd = rng.standard_normal((m, d)) @ model.Fb
    same = np.r_[np.ones(m // 2, bool), np.zeros(m - m // 2, bool)]
    cb = np.where(same[:, None], ca, cd)  # the other side's identity
    if params.variants == 2:
        qa, qb = np.ones(m), np.zeros(m)
    else:
        qa, qb = rng.beta(*params.quality_test, size=m), rng.beta(*params.quality_test, size=m)
    wa, va = _draw_parts(model, m, rng)
    wb, vb = _draw_parts(model, m, rng)

    def auroc(gain):
        A = _compose(model, ca, wa, va, qa, gain)
        B = _compose(model, cb, wb, vb, qb, gain)
        cos = (A * B).sum(1) / np.maximum(np.linalg.norm(A, axis=1) * np.linalg.norm(B, axis=1), 1e-300)
        return _auroc(cos, same)

    lo, hi = np.log(1.0 / 64), np.log(64.0)
    if auroc(np.exp(lo)) <= target:
        return float(np.exp(lo))
    if auroc(np.exp(hi)) >= target:
        return float(np.exp(hi))
    for _ in range(40):
        mid = 0.5 * (lo + hi)
        if auroc(np.exp(mid)) > target:
            lo = mid
        else:
            hi = mid
    return float(np.exp(0.5 * (lo + hi)))


def _write_set(path, model, centres, img_class, rng, params: SynthParams, quality, chunk=CHUNK):
    """Write the rows of every image (class ``img_class``) into ``path`` in a random order.

    Returns ``(row_class, row_group, row_image)`` (group None when one variant)."""
    n_img = img_class.size
    V = params.variants
    n = n_img * V
    # the header and the file's full size, then rows written where they belong with plain positional writes:
    # a memory map would keep every page it touched resident (the whole file, in random order)
    X = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, params.dim))
    offset, row_bytes = X.offset, 4 * params.dim
    del X
    pos = rng.permutation(n).reshape(n_img, V)  # row of variant v of image i
    row_class = np.empty(n, dtype=np.int64)
    row_image = np.empty(n, dtype=np.int64)
    row_group = np.empty(n, dtype=np.int8)
    fd = os.open(path, os.O_WRONLY)
    try:
        def put(p, rows):
            o = np.argsort(p)  # increasing positions: a forward sweep of the file
            for at, row in zip(p[o].tolist(), np.ascontiguousarray(rows[o])):
                os.pwrite(fd, row.data, offset + at * row_bytes)

        for s in range(0, n_img, chunk):
            e = min(n_img, s + chunk)
            c = centres[img_class[s:e]]
            if V == 1:
                q = rng.beta(*quality, size=e - s)
                rows, _ = _rows(model, c, q, rng)
                put(pos[s:e, 0], rows)
            else:
                rows, shared = _rows(model, c, np.ones(e - s), rng)
                put(pos[s:e, 0], rows)
                rows, _ = _rows(model, c, np.zeros(e - s), rng, shared=shared)
                put(pos[s:e, 1], rows)
            for v in range(V):
                row_class[pos[s:e, v]] = img_class[s:e]
                row_image[pos[s:e, v]] = np.arange(s, e)
                row_group[pos[s:e, v]] = v
    finally:
        os.close(fd)
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
            raise InputError(f"could not draw {m} distinct pairs from {n} test rows; ask for fewer pairs", param="n_pairs")
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


#: the smallest value of each size argument of :func:`synth`
_SIZE_MIN = {"n_train": 2, "n_classes": 1, "dim": 2, "n_test": 2, "n_test_classes": 1, "n_pairs": 1}


def _check_sizes(given: dict, same_fraction) -> None:
    """Each size given to :func:`synth` (None: the default) is a whole number at least its minimum."""
    for name, v in given.items():
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise InputError(f"{name} must be a whole number, got {v!r}", param=name)
        if v < _SIZE_MIN[name]:
            raise InputError(f"{name} must be at least {_SIZE_MIN[name]}, got {v}", param=name)
    if not 0.0 <= same_fraction <= 1.0:
        raise InputError(f"same_fraction must be between 0 and 1, got {same_fraction}", param="same_fraction")


def _test_classes(n_train, n_classes, n_test, n_test_classes, shapes, V) -> int:
    """``n_test_classes`` as given, else the source's (same test rows), else test rows over the mean
    train identity size."""
    if n_test_classes is None:
        n_test_classes = shapes.get("n_test_classes") if n_test == shapes["n_test"] else None
        if n_test_classes is None:
            mean_size = (n_train // V) / max(1, n_classes)
            n_test_classes = max(2, int(round((n_test // V) / max(mean_size, 1.0))))
            # the default never asks for more identities than the test rows can hold
            n_test_classes = min(n_test_classes, max(1, n_test // 2))
    return int(n_test_classes)


def _check_shapes(given: dict, shapes: dict, same_fraction) -> None:
    """Refuse sizes that cannot be drawn together, before any work: every identity needs 2+ rows
    (one image in two variants, or two images) in train and in test, and different-identity pairs
    need 2+ test identities."""
    v = {k: (given[k] if given[k] is not None else shapes[k]) for k in ("n_train", "n_classes", "n_test")}
    n_train, n_classes, n_test = v["n_train"], v["n_classes"], v["n_test"]
    if n_train < 2 * n_classes:
        culprit = "n_classes" if given["n_classes"] is not None else "n_train"
        raise InputError(
            f"n_train={n_train} rows cannot hold n_classes={n_classes} identities of 2+ rows each: "
            f"give n_train at least {2 * n_classes} or n_classes at most {n_train // 2}", param=culprit)
    # the variants of the source do not change these bounds: 2 rows per identity either way
    ntc = _test_classes(n_train, n_classes, n_test, given["n_test_classes"], shapes, 1)
    if n_test < 2 * ntc:
        culprit = "n_test_classes" if given["n_test_classes"] is not None else "n_test"
        raise InputError(
            f"n_test={n_test} rows cannot hold n_test_classes={ntc} identities of 2+ rows each: "
            f"give n_test at least {2 * ntc} or n_test_classes at most {n_test // 2}", param=culprit)
    if ntc < 2 and same_fraction < 1.0:
        if given["n_test_classes"] is not None:
            raise InputError("n_test_classes must be at least 2 for different-identity test pairs "
                             f"(same_fraction={same_fraction})", param="n_test_classes")
        raise InputError(f"n_test={n_test} rows hold only 1 test identity (2+ rows each); different-identity "
                         "test pairs need 2: give n_test at least 4", param="n_test")


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
        ``out`` exists (without ``overwrite``), impossible shapes, a negative seed, unknown preset.
    """
    import pandas as pd

    out = Path(out)
    if out.exists() and not overwrite:
        raise OutputExistsError(f"{out} exists", path=out)
    given = {"n_train": n_train, "n_classes": n_classes, "dim": dim, "n_test": n_test,
             "n_test_classes": n_test_classes, "n_pairs": n_pairs}
    _check_sizes(given, same_fraction)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError(f"seed must be a whole number >= 0, got {seed!r}", param="seed")
    if str(like).lower() == "raai2019":
        shapes = dict(RAAI2019_SHAPES)
        d = int(dim if dim is not None else shapes["dim"])
        _check_shapes(given, shapes, same_fraction)
        p = params if params is not None else preset_params(d)
    else:
        src = Path(like)
        if not src.is_dir():
            raise InputError(f"like={like!r}: not 'raai2019' nor a competition directory", param="like")
        man = {}
        if (src / "manifest.json").exists():
            man = json.loads((src / "manifest.json").read_text())
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
        d = int(params.dim) if params is not None else shapes["dim"]
        if dim is not None and int(dim) != d:
            raise InputError(f"like={like}: the fitted bases are {d}-D; dim must be {d} or None", param="dim")
        _check_shapes(given, shapes, same_fraction)
        p = params if params is not None else fit_competition(src)
    V = p.variants
    n_train = int(n_train if n_train is not None else shapes["n_train"])
    n_classes = int(n_classes if n_classes is not None else shapes["n_classes"])
    n_test = int(n_test if n_test is not None else shapes["n_test"])
    n_pairs = int(n_pairs if n_pairs is not None else shapes["n_pairs"])
    for name, v in (("n_train", n_train), ("n_test", n_test)):
        if v % V:
            raise InputError(f"{name} must be a multiple of {V} (each image has {V} variants), got {v}", param=name)
    minimum = 2 if V == 1 else 1
    n_test_classes = _test_classes(n_train, n_classes, n_test, n_test_classes, shapes, V)

    ss = np.random.SeedSequence(seed)
    r_model, r_sizes, r_train, r_test, r_pairs, r_cal = (np.random.default_rng(s) for s in ss.spawn(6))
    model = _model(p, r_model)
    if p.noise_gain is None and p.target_auroc is not None:
        model.gain = calibrate_gain(model, p, float(p.target_auroc), r_cal)
    say = progress or (lambda stage: None)

    tr_sizes = class_sizes(n_train // V, n_classes, r_sizes, minimum=minimum, empirical=p.sizes)
    te_sizes = class_sizes(n_test // V, n_test_classes, r_sizes, minimum=minimum, empirical=p.sizes)
    # identity centres: train and test drawn apart (disjoint identities)
    tr_centres = r_model.standard_normal((n_classes, model.Fb.shape[0])) @ model.Fb
    te_centres = r_model.standard_normal((n_test_classes, model.Fb.shape[0])) @ model.Fb

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
            "model": {**p.summary(), "gain": float(model.gain)},
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
        "keep_between": float(params.keep_between),
        "keep_within": float(params.keep_within),
        "log_norm_clean": [float(v) for v in params.log_norm_clean],
        "log_norm_degraded": [float(v) for v in params.log_norm_degraded],
        "fitted_on": params.source.get("like", ""),
    }


__all__ = ["RAAI2019_SHAPES", "SynthParams", "blocks_from", "calibrate_gain", "class_sizes", "fit_competition",
           "fit_params", "preset_blocks", "preset_params", "sample_pairs", "synth"]
