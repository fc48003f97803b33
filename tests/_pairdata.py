"""Small synthetic data for the pair-learning tests: identities seen clean and degraded."""

import numpy as np


def two_group_data(n_ids=40, per_id=4, d=12, seed=0, noise=0.6, degrade=1.0):
    """Rows of ``n_ids`` identities, each image present clean and degraded.

    Degradation adds a shared nuisance direction plus extra noise, so that the groups
    differ in a learnable way. Returns ``X (float32), y, groups``.
    """
    r = np.random.default_rng(seed)
    centres = r.standard_normal((n_ids, d)) * 1.5
    y = np.repeat(np.arange(n_ids), per_id)
    clean = centres[y] + noise * r.standard_normal((y.size, d))
    shift = r.standard_normal(d)
    deg = clean + degrade * (shift + 0.8 * r.standard_normal((y.size, d)))
    X = np.vstack([clean, deg]).astype(np.float32)
    yy = np.r_[y, y]
    g = np.r_[np.full(y.size, "clean"), np.full(y.size, "xq")]
    return X, yy, g
