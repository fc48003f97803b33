"""Issue 10, fault 5: whitening or inverting a rank-deficient covariance cuts at its numerical rank.

With fewer train rows than dimensions (18 x 40) the train covariance has zero eigenvalues. Flooring
them at a tiny value and dividing (what cosine-whitened did) puts every whitened test vector in the
train null space; cutting at the numerical rank keeps the directions train actually measured.
"""

import numpy as np
import pytest

from metricbench import get_metric
from metricbench.evaluation.verification import auroc


def _data(seed, per, d=40, noise=0.1):
    """Six identities in R^d (new images of them at test time: closed-set verification)."""
    C = np.random.default_rng(0).standard_normal((6, d))
    y = np.repeat(np.arange(6), per)
    return C[y] + noise * np.random.default_rng(seed).standard_normal((y.size, d)), y


def _pairs():
    Xt, yt = _data(1, 20)
    i1, i2 = np.triu_indices(yt.size, 1)
    return Xt, i1, i2, (yt[i1] == yt[i2]).astype(np.int8)


def _test_auroc(m):
    Xt, i1, i2, same = _pairs()
    return auroc(same, m.pair_score(Xt, i1, i2))


def test_whitening_18_by_40_cuts_at_rank_and_keeps_the_auroc():
    X, y = _data(2, 3)  # 18 x 40
    m = get_metric("cosine-whitened", n_components=40, shrinkage=0.0).fit(X, y)
    assert m.rank_ == 17 and m.n_components_ == 17  # centred: rank n - 1
    assert "numerical rank 17" in m.describe()
    good = _test_auroc(m)
    # the old behaviour, written out: all 40 directions, zero eigenvalues floored at 1e-12 of the largest
    Xc = X - X.mean(0)
    s, U = np.linalg.eigh(Xc.T @ Xc / X.shape[0])
    s, U = s[::-1], U[:, ::-1]
    W = U / np.sqrt(np.maximum(s, 1e-12 * s[0]))
    Xt, i1, i2, same = _pairs()
    Z = (Xt - X.mean(0)) @ W
    cos = np.einsum("ij,ij->i", Z[i1], Z[i2]) / np.linalg.norm(Z[i1], axis=1) / np.linalg.norm(Z[i2], axis=1)
    bad = auroc(same, cos)
    assert good > 0.93 and bad < 0.86, (good, bad)


@pytest.mark.parametrize(
    "name, params",
    [
        ("zca-cosine", {"shrinkage": 0.0, "eps": 0.0}),
        ("wccn-cosine", {"shrinkage": 0.0, "within": "all"}),
        ("lda-cosine", {"n_components": 5, "within": "all"}),
        ("plda", {"n_components": 5, "within": "all"}),
        ("kissme", {"n_components": 40, "within": "all"}),
        ("within-mahalanobis", {"estimator": "empirical"}),
    ],
)
def test_every_covariance_inverting_metric_fits_18_by_40(name, params):
    X, y = _data(2, 3)
    m = get_metric(name, **params).fit(X, y)
    a = _test_auroc(m)
    assert np.isfinite(a) and a > 0.9, (name, a, m.describe())
    if name not in ("lda-cosine", "plda"):  # both keep C - 1 = 5 LDA directions, inside the rank
        assert "rank" in m.describe(), m.describe()
