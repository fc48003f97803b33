"""Choosing a hyper-parameter inside ``fit`` on identity-disjoint validation pairs."""

from __future__ import annotations

import numpy as np

from metricbench.errors import InputError


class Holdout:
    """An identity split of the train rows plus seeded pairs among the held-out identities.

    Attributes
    ----------
    fit_rows : ndarray of int
        Rows of the identities the candidate metrics are fitted on.
    val_rows : ndarray of int
        Rows of the held-out identities.
    i1, i2 : ndarray of int
        Pair indices into ``val_rows`` (cross-variant when ``groups`` names two variants).
    same : ndarray of int8
    """

    def __init__(self, y, *, holdout: float, seed: int, n_pairs: int, groups=None, cross_groups=None):
        from metricbench.evaluation.validation import validation_pairs

        fit_mask, val_rows, i1, i2, same = validation_pairs(
            y, holdout=holdout, seed=seed, n_pairs=n_pairs, groups=groups, cross_groups=cross_groups
        )
        if same.min() == same.max():
            raise InputError("identity-disjoint validation drew only one kind of pair; give more identities")
        self.fit_rows = np.flatnonzero(fit_mask)
        self.val_rows = val_rows
        self.i1, self.i2, self.same = i1, i2, same

    def auroc(self, score) -> float:
        from metricbench.evaluation.validation import roc_auc

        return roc_auc(self.same, score)


def cosine_rows(A, B) -> np.ndarray:
    """Row-wise cosine similarity of two (n, k) arrays (0 where a row is zero)."""
    num = np.einsum("ij,ij->i", A, B)
    den = np.sqrt(np.einsum("ij,ij->i", A, A) * np.einsum("ij,ij->i", B, B))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0)


def as_grid(v) -> list:
    """A grid given as a sequence or as a comma-separated string (from ``--param``)."""
    if isinstance(v, str):
        return [x.strip() for x in v.replace(";", ",").split(",") if x.strip()]
    if np.ndim(v) == 0:
        return [v]
    return list(v)


def int_grid(v, hi: int) -> list[int]:
    """Integers of a grid clipped to ``[1, hi]``, deduplicated, ascending."""
    out = sorted({min(hi, max(1, int(float(x)))) for x in as_grid(v)})
    if not out:
        raise InputError("empty n_components grid")
    return out
