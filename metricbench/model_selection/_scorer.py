"""Pair-AUROC scoring of a metric on a test fold that lists pairs (see :class:`IdentityPairSplit`)."""

from __future__ import annotations

import numpy as np

from metricbench.errors import InputError


def cosine_rows(A, B) -> np.ndarray:
    """The one row-wise cosine: cosine similarity of the rows of two (n, k) arrays.

    A zero row has similarity 0 with anything.
    """
    A = np.asarray(A, dtype=np.float64)
    B = np.asarray(B, dtype=np.float64)
    num = np.einsum("ij,ij->i", A, B)
    den = np.sqrt(np.einsum("ij,ij->i", A, A) * np.einsum("ij,ij->i", B, B))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0)


def pair_auroc(same, score) -> float:
    """AUROC of pair similarities ``score`` for same-identity flags ``same`` (the one AUROC,
    :func:`metricbench.evaluation.verification.auroc`: ties count one half; a single kind of
    pair raises :class:`~metricbench.errors.InputError`)."""
    from metricbench.evaluation.verification import auroc  # numba-compiled module, loaded on use

    return auroc(np.asarray(same).astype(np.int8), score)


def pair_auroc_scorer(estimator, X, y) -> float:
    """Scorer for scikit-learn's search tools (``scoring=pair_auroc_scorer``).

    ``X`` and ``y`` are a test fold from :class:`IdentityPairSplit`: the left rows of the
    pairs followed by the right rows. The score is the AUROC of the estimator's
    ``pair_score`` (larger = more alike) on those pairs, same identity = positive. An
    estimator without ``pair_score`` but with ``transform`` (a scikit-learn ``PCA`` or
    ``Pipeline``) is scored by the cosine of the transformed rows.

    Raises
    ------
    InputError
        An odd number of rows (not a pair list), or pairs of a single kind.
    """
    X = np.asarray(X)
    y = np.asarray(y)
    if X.shape[0] % 2 or X.shape[0] != y.shape[0]:
        raise InputError(
            f"a pair test fold lists left rows then right rows; got {X.shape[0]} rows and {y.shape[0]} labels"
        )
    m = X.shape[0] // 2
    same = (y[:m] == y[m:]).astype(np.int8)
    if hasattr(estimator, "pair_score"):
        i = np.arange(m, dtype=np.int64)
        score = estimator.pair_score(X, i, i + m)
    elif hasattr(estimator, "transform"):
        Z = estimator.transform(X)
        score = cosine_rows(Z[:m], Z[m:])
    else:
        raise InputError(f"{type(estimator).__name__} has neither pair_score nor transform")
    return pair_auroc(same, score)


__all__ = ["cosine_rows", "pair_auroc", "pair_auroc_scorer"]
