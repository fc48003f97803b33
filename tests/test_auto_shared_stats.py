"""``metricbench auto`` drives ``metricbench.model_selection``: one splitter, one scorer, shared statistics.

- Closed-form candidates (``fit_from_stats``) are fitted from :class:`ScatterStats` gathered once per
  inner fold and kind of statistics, however many candidates the sampler proposes (counted by wrapping
  ``ScatterStats.from_data``), and the fits from statistics equal fits from the rows.
- :meth:`MetricSearchCV.evaluate_candidate` (what auto calls for one proposed setting) gives the same
  per-split AUROC as :meth:`MetricSearchCV.fit` over a grid, with and without shared statistics.
"""

from __future__ import annotations

import traceback

import numpy as np
import pytest

from metricbench.auto import auto_search, default_families
from metricbench.learn.stats import ScatterStats
from metricbench.model_selection import IdentityPairSplit, MetricSearchCV, pair_auroc
from metricbench.registry import get_metric

CLOSED_FORM = ["cosine-whitened", "wccn-cosine", "lda-cosine", "plda", "kissme"]


def _data(seed=0, n_ids=150, per_id=4, d=16):
    """Identities with a clean and a degraded variant per image (the competition's pairing rule)."""
    r = np.random.default_rng(seed)
    y = np.repeat(np.arange(n_ids), per_id)
    centres = r.standard_normal((n_ids, d)) * 2.0
    X = centres[y] + r.standard_normal((y.size, d))
    variants = np.where(np.arange(y.size) % 2 == 0, "clean", "xq40")
    images = y * per_id + np.arange(y.size) % per_id // 2  # two variants of one image share it
    X[variants == "xq40"] += 0.7 * r.standard_normal((int((variants == "xq40").sum()), d))
    return X.astype(np.float32), y, variants, images


def test_closed_form_candidates_share_statistics_gathered_once_per_fold(monkeypatch):
    X, y, v, im = _data()
    calls = []
    original = ScatterStats.from_data.__func__

    def counted(cls, X_, y_, **kw):
        from_rows = any(f.name == "_fit" for f in traceback.extract_stack())  # a metric's fit(X, y)
        n = np.asarray(kw["rows"]).size if kw.get("rows") is not None else len(y_)
        calls.append((n, kw.get("cross"), from_rows))
        return original(cls, X_, y_, **kw)

    monkeypatch.setattr(ScatterStats, "from_data", classmethod(counted))
    n_inner = 2
    res = auto_search(X, y, v, im, budget=None, n_trials=40, metrics=CLOSED_FORM, seed=0, n_pairs=1000,
                      n_inner=n_inner, norm=None, max_fusion=1)
    done = [c for c in res.candidates if c.kind == "single" and c.status == "complete"]
    pruned = [c for c in res.candidates if c.status == "pruned"]
    assert len(done) + len(pruned) >= 30  # many closed-form trials were fitted
    assert {c.family for c in done} == set(CLOSED_FORM)
    shared = [c for c in calls if not c[2]]
    # kinds of statistics: whitening asks for plain ones, the others for clean/xq40 cross-pair ones
    kinds = {cross for _, cross, _ in shared}
    assert len(kinds) == 2
    # one pass per inner fold and kind, plus the outer judgement's held-out part of the first fold
    # (its fitting part is reused): never one per candidate
    assert len(shared) <= (n_inner + 1) * len(kinds), calls
    fold_sizes = {sp.fit_rows.size for sp in _splits(res, y, v, im)}
    assert sum(n in fold_sizes for n, _, _ in shared) == n_inner * len(kinds)
    # the only fits from rows: PLDA with length normalisation (it needs the reduced rows), two passes per fold
    ln = [c for c in res.candidates if c.family == "plda" and c.config["components"][0]["params"].get("length_norm")
          and c.status != "skipped"]
    assert len(calls) - len(shared) <= 2 * n_inner * len(ln)


def _splits(res, y, v, im):
    from metricbench.auto.search import Splits

    return Splits.draw(y, v, im, seed=res.seed, n_pairs=1000).inner


@pytest.mark.parametrize("name, params", [("lda-cosine", {"n_components": 8, "shrinkage": 0.1}),
                                          ("plda", {"n_components": 8}),
                                          ("plda", {"n_components": 8, "length_norm": True}),
                                          ("cosine-whitened", {"n_components": 12, "shrinkage": 0.5})])
def test_fit_from_shared_statistics_equals_fit_from_rows(name, params):
    X, y, v, im = _data(seed=1)
    from metricbench.auto.search import Splits

    sp = Splits.draw(y, v, im, seed=0, n_pairs=1000).inner[0]
    est = get_metric(name, **params)
    cache: dict = {}
    search = MetricSearchCV(est, [{}])
    from_stats = search.fit_candidate(X, y, {}, sp, variants=v, cache=cache)
    stats_cached = any(isinstance(k, tuple) and k and str(k[0]).startswith("[") for k in cache)
    assert stats_cached == (not params.get("length_norm", False))  # length_norm needs the rows: fitted on them
    from_rows = get_metric(name, **params).fit(X[sp.fit_rows], y[sp.fit_rows], variants=v[sp.fit_rows])
    np.testing.assert_allclose(from_stats.pair_score(X, sp.index1, sp.index2),
                               from_rows.pair_score(X, sp.index1, sp.index2), rtol=1e-4, atol=1e-5)
    # the refit on fitting + held-out rows adds the held-out statistics to the cached ones
    rows = np.sort(np.r_[sp.fit_rows, sp.val_rows])
    whole = search.fit_candidate(X, y, {}, sp, variants=v, cache=cache, rows=rows)
    direct = get_metric(name, **params).fit(X[rows], y[rows], variants=v[rows])
    # float32 rows: the statistics are summed in the rows' precision, so two parts added differ from one
    # pass by float32 rounding (about 1e-6 relative), not more
    np.testing.assert_allclose(whole.pair_score(X, sp.index1, sp.index2), direct.pair_score(X, sp.index1, sp.index2),
                               rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name, grid", [("lda-cosine", {"n_components": [4, 8], "shrinkage": [0.0, 0.3]}),
                                        ("within-mahalanobis", {"shrinkage": [0.05, 0.5]})])
def test_evaluate_candidate_matches_the_grid_search(name, grid):
    """One proposed setting at a time (auto's way) scores as the grid search scores it, split by split."""
    X, y, v, im = _data(seed=2)
    base = {"lda-cosine": {"n_components": 4}, "within-mahalanobis": {}}[name]
    cv = IdentityPairSplit(2, test_size=0.25, n_pairs=800, random_state=5)
    search = MetricSearchCV(get_metric(name, **base), grid, cv=cv).fit(X, y, variants=v, images=im)
    splits = search.draw_splits(y, variants=v, images=im)
    cache: dict = {}
    for j, params in enumerate(search.cv_results_["params"]):
        got = search.evaluate_candidate(X, y, params, splits, variants=v, cache=cache)
        for s, res in enumerate(got):
            assert res.auroc == pytest.approx(search.cv_results_[f"split{s}_test_score"][j], abs=1e-9)
            assert res.auroc == pair_auroc(splits[s].same, res.score)
    # a pruner's verdict stops after the first split
    stopped = search.evaluate_candidate(X, y, search.cv_results_["params"][0], splits, variants=v, cache=cache,
                                        callback=lambda i, done: True)
    assert len(stopped) == 1


def test_default_families_closed_form_have_fit_from_stats():
    """The families auto fits from shared statistics are the registry's closed-form metrics."""
    d = 64
    names = [f.name for f in default_families(d)]
    for n in CLOSED_FORM:
        assert n in names
        m = get_metric(n)
        assert hasattr(getattr(m, "estimator", m), "fit_from_stats"), n
