"""Does local validation predict the leaderboard?

Kaggle scores a submission on a random *public* 25 % of the test rows while the
competition runs and ranks it on the other 75 % (*private*) at the end. Given the
solution, :func:`public_private_split` reproduces such a split (seeded), and
:func:`rank_agreement` tells, across the metrics evaluated, how well the validation
AUROC (measured on held-out train identities) ranks them against the private AUROC,
and how well the public board does (Spearman rank correlation), with a one-line verdict.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd

from metricbench.errors import InputError


def public_private_split(n_rows: int, *, public_fraction: float = 0.25, seed: int = 0) -> np.ndarray:
    """Boolean mask of the public rows: ``round(public_fraction * n_rows)`` rows drawn with ``seed``.

    Returns
    -------
    ndarray of bool, shape (n_rows,)
        True for public rows; the others are private.
    """
    if not 0.0 < public_fraction < 1.0:
        raise InputError(f"public_fraction must be between 0 and 1, got {public_fraction}")
    n_rows = int(n_rows)
    n_pub = int(round(public_fraction * n_rows))
    if n_rows < 2 or n_pub == 0 or n_pub == n_rows:
        raise InputError(f"cannot split {n_rows} rows {public_fraction:.0%} / {1 - public_fraction:.0%}")
    rng = np.random.default_rng(seed)
    mask = np.zeros(n_rows, dtype=bool)
    mask[rng.permutation(n_rows)[:n_pub]] = True
    return mask


def leaderboard_aurocs(
    y_true, scores: Mapping[str, np.ndarray], *, public_fraction: float = 0.25, seed: int = 0
) -> pd.DataFrame:
    """AUROC of each metric on all test pairs, the public part and the private part.

    Parameters
    ----------
    y_true : array-like of shape (n_pairs,)
        The solution (1 = same).
    scores : mapping name -> array-like of shape (n_pairs,)
        Similarity scores (larger = more alike).

    Returns
    -------
    DataFrame indexed by metric with columns ``auroc, public_auroc, private_auroc``.
    """
    from metricbench.evaluation.verification import auroc

    y = np.asarray(y_true)
    pub = public_private_split(y.size, public_fraction=public_fraction, seed=seed)
    rows = {}
    for name, s in scores.items():
        s = np.asarray(s)
        if s.shape != y.shape:
            raise InputError(f"metric {name!r}: {s.size} scores for {y.size} pairs")
        rows[name] = {
            "auroc": auroc(y, s),
            "public_auroc": auroc(y[pub], s[pub]),
            "private_auroc": auroc(y[~pub], s[~pub]),
        }
    return pd.DataFrame.from_dict(rows, orient="index")


def _spearman(a, b) -> float:
    from scipy.stats import spearmanr

    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.size < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(spearmanr(a, b).statistic)


def rank_agreement(
    validation: Mapping[str, float],
    private: Mapping[str, float],
    public: Mapping[str, float] | None = None,
) -> dict:
    """Spearman correlation of metric rankings: validation vs private (and public vs private).

    Parameters
    ----------
    validation, private, public : mapping metric name -> AUROC
        Only metrics present in all given mappings are compared.

    Returns
    -------
    dict
        ``n_metrics, spearman_validation_private, spearman_public_private`` (NaN when
        fewer than 2 metrics or constant scores), ``best_validation, best_public,
        best_private`` (metric names) and ``verdict`` (one line).
    """
    names = [n for n in validation if n in private and (public is None or n in public)]
    v = [validation[n] for n in names]
    p = [private[n] for n in names]
    out = {
        "n_metrics": len(names),
        "spearman_validation_private": _spearman(v, p),
        "spearman_public_private": _spearman([public[n] for n in names], p) if public is not None else float("nan"),
        "best_validation": names[int(np.argmax(v))] if names else None,
        "best_private": names[int(np.argmax(p))] if names else None,
        "best_public": names[int(np.argmax([public[n] for n in names]))] if names and public is not None else None,
    }
    out["verdict"] = _verdict(out)
    return out


def _verdict(r: dict) -> str:
    n = r["n_metrics"]
    if n < 3:
        return f"only {n} metric(s) in common: too few to judge whether validation ranks like the leaderboard"
    rho = r["spearman_validation_private"]
    same = r["best_validation"] == r["best_private"]
    winner = (
        f"validation picks the private winner ({r['best_private']})"
        if same
        else f"validation picks {r['best_validation']}, the private winner is {r['best_private']}"
    )
    pub = r["spearman_public_private"]
    pub_txt = f"; public board vs private: Spearman {pub:.2f}" if np.isfinite(pub) else ""
    if not np.isfinite(rho):
        head = "validation AUROCs are all equal: no ranking to compare"
    elif rho >= 0.8:
        head = f"trust validation: it ranks the {n} metrics like the private leaderboard (Spearman {rho:.2f})"
    elif rho >= 0.5:
        head = f"validation roughly follows the private leaderboard (Spearman {rho:.2f}): check close calls against the intervals"
    else:
        head = (
            f"do not trust validation for ranking: Spearman {rho:.2f} against the private leaderboard "
            "(train and test differ, e.g. domain shift)"
        )
    return f"{head}; {winner}{pub_txt}"


__all__ = ["leaderboard_aurocs", "public_private_split", "rank_agreement"]
