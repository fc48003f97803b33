"""Submission writers: Kaggle ``Id,Predicted`` CSVs, written atomically."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from metricbench.errors import InputError
from metricbench.io.atomic import atomic_path


def write_submission(path, ids, predicted, *, id_column: str = "Id", value_column: str = "Predicted") -> Path:
    """Write ``Id,Predicted`` sorted by Id, atomically (temporary file + rename).

    Parameters
    ----------
    ids : array-like of int, shape (n_pairs,)
    predicted : array-like of float, shape (n_pairs,)
        Distances (larger = less alike) or scores, as the caller chose.
    """
    import pandas as pd

    ids = np.asarray(ids)
    predicted = np.asarray(predicted, dtype=np.float64)
    if ids.shape != predicted.shape or ids.ndim != 1:
        raise InputError(f"submission: {ids.size} ids but {predicted.size} predictions")
    bad = ~np.isfinite(predicted)
    if bad.any():
        raise InputError(
            f"submission: {int(bad.sum())} prediction(s) are NaN or inf (first for Id {ids[bad][0]}); nothing written"
        )
    if pd.Series(ids).duplicated().any():
        raise InputError("submission: duplicate Id values; nothing written")
    order = np.argsort(ids, kind="stable")
    df = pd.DataFrame({id_column: ids[order], value_column: predicted[order]})
    path = Path(path)
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False, float_format="%.9g")
    return path
