"""``metricbench auto``: the selection guard, budgets, Ctrl-C, the saved configuration and its exact re-run."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from metricbench.auto import Family, auto_search, fit_config, load_config, make_config, parse_budget
from metricbench.evaluation.verification import auroc_se as hanley_mcneil_se
from metricbench.errors import InputError
from metricbench.evaluation.verification import auroc as sk_free_auroc
from metricbench.learn.base import BaseMetric
from tests.conftest import assert_one_line_error, write_competition

runner = CliRunner()


# -- a seeded synthetic competition whose "noise" dimensions carry no identity at all -----------------
def _competition(seed=0, *, n_ids=240, n_test_ids=400, per_id=4, d_signal=4, d_noise=16, n_test_pairs=20000):
    r = np.random.default_rng(seed)

    def rows(n_id):
        y = np.repeat(np.arange(n_id), per_id)
        centres = r.standard_normal((n_id, d_signal))
        sig = centres[y] + 0.8 * r.standard_normal((y.size, d_signal))
        noise = r.standard_normal((y.size, d_noise))  # i.i.d. per row: independent of identity
        return np.hstack([sig, noise]), y

    X, y = rows(n_ids)
    Xt, yt = rows(n_test_ids)
    i1 = r.integers(0, yt.size, n_test_pairs)
    same_rows = np.flatnonzero(np.arange(n_test_pairs) % 2 == 0)
    i2 = r.integers(0, yt.size, n_test_pairs)
    # half the test pairs same identity: another row of i1's identity
    i2[same_rows] = yt[i1[same_rows]] * per_id + (i1[same_rows] % per_id + 1 + r.integers(0, per_id - 1, same_rows.size)) % per_id
    same = (yt[i1] == yt[i2]).astype(int)
    return X, y, Xt, i1, i2, same


class NoiseProjection(BaseMetric):
    """Cosine after a seeded random projection of the identity-free dimensions: useless by construction."""

    learns = False

    def __init__(self, proj=0, k=2, start=4):
        self.proj, self.k, self.start = proj, k, start

    def _fit(self, X, y, **kw):
        pass

    def _pair_distance(self, X, i1, i2, Y):
        X = np.asarray(X, dtype=np.float64)
        P = np.random.default_rng(int(self.proj)).standard_normal((X.shape[1] - self.start, self.k))
        Z = X[:, self.start:] @ P
        Z2 = Z if Y is None else np.asarray(Y, dtype=np.float64)[:, self.start:] @ P
        a, b = Z[i1], Z2[i2]
        return 1.0 - np.einsum("ij,ij->i", a, b) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def _noise_family():
    return Family(
        "noise-projection", 0,
        lambda trial, d: {"proj": trial.suggest_int("noise-projection.proj", 0, 10**6)},
        ({"noise-projection.proj": 0},),
        build=lambda p: NoiseProjection(**p),
    )


@pytest.mark.parametrize("data_seed", [3, 4, 5])
def test_guard_reported_auroc_does_not_drift_above_test(data_seed):
    """Among many useless candidates the best inner figure drifts up; the reported outer one does not.

    60 random projections of identity-free dimensions (true AUROC 0.5 each), chosen on one
    small inner fold (600 pairs): the winner's inner figure is the maximum of 60 noisy numbers.
    The reported figure is judged on 300 outer identities (3,000 pairs) and must stay within
    the noise of the winner's test AUROC (20,000 test pairs of unseen identities).
    """
    X, y, Xt, i1, i2, same = _competition(seed=data_seed, n_ids=600)
    res = auto_search(X, y, budget=None, n_trials=60, families=[_noise_family()], seed=0, n_pairs=600,
                      outer_pairs=3000, outer_holdout=0.5, n_inner=1, norm=None, max_fusion=1)
    fitted = fit_config(res.config, X, y, build=lambda c: NoiseProjection(**c["params"]))
    test = sk_free_auroc(same, fitted.pair_score(Xt, i1, i2))
    inner = res.winner.inner_auroc
    n_out = res.split["outer_pairs"]
    se = hanley_mcneil_se(0.5, n_out // 2, n_out - n_out // 2)
    se_test = hanley_mcneil_se(0.5, int(same.sum()), int(same.size - same.sum()))
    assert sum(c.status == "complete" for c in res.candidates) == 60
    # every candidate is useless: its test AUROC is 0.5 up to the test set's noise
    assert abs(test - 0.5) < 4 * se_test
    # the maximum of many noisy inner figures is biased upwards ...
    assert inner - test > 0.03
    # ... the reported (outer) figure is not: it stays within the noise of the test figure
    assert res.outer_auroc - test < 2.5 * np.hypot(se, se_test)
    assert res.outer_auroc < inner - 0.02


def test_guard_keeps_a_real_signal():
    """With one useful family among the useless ones, it wins and its outer figure matches its test figure."""
    X, y, Xt, i1, i2, same = _competition(seed=4)

    class Signal(NoiseProjection):
        def _pair_distance(self, X, i1, i2, Y):
            X = np.asarray(X, dtype=np.float64)[:, :4]
            a, b = X[i1], (X if Y is None else np.asarray(Y)[:, :4])[i2]
            return np.sum((a - b) ** 2, axis=1)

    sig = Family("signal", 0, lambda t, d: {}, ({},), build=lambda p: Signal())
    builders = {"signal": lambda c: Signal(), "noise-projection": lambda c: NoiseProjection(**c["params"])}
    res = auto_search(X, y, budget=None, n_trials=30, families=[_noise_family(), sig], seed=1, n_pairs=2000,
                      norm=None, max_fusion=1)
    assert res.winner.family == "signal"
    fitted = fit_config(res.config, X, y, build=lambda c: builders[c["metric"]](c))
    test = sk_free_auroc(same, fitted.pair_score(Xt, i1, i2))
    assert test > 0.8
    assert abs(res.outer_auroc - test) < 0.03


def test_ctrl_c_returns_best_so_far():
    X, y, *_ = _competition(seed=5, n_ids=120)
    calls = {"n": 0}

    def build(p):
        calls["n"] += 1
        if calls["n"] == 9:  # a few trials in
            raise KeyboardInterrupt
        return NoiseProjection(**p)

    fam = Family("noise-projection", 0, _noise_family().suggest, ({"noise-projection.proj": 0},), build=build)
    res = auto_search(X, y, budget=None, n_trials=50, families=[fam], seed=0, n_pairs=500, norm=None, max_fusion=1)
    assert res.interrupted
    assert "interrupted" in res.stopped_because
    done = sum(c.status == "complete" for c in res.candidates)
    assert 1 <= done < 5 and res.n_trials == done + 1  # the interrupted trial is not counted as done
    assert res.winner.status == "complete" and np.isfinite(res.outer_auroc)


def test_parse_budget():
    assert parse_budget("10m") == 600
    assert parse_budget("90s") == 90
    assert parse_budget("1h30m") == 5400
    assert parse_budget("45") == 45
    for bad in ("abc", "0", "10x", "", "m"):
        with pytest.raises(InputError):
            parse_budget(bad)


def test_hanley_mcneil_matches_monte_carlo():
    """The closed-form standard error agrees with the spread of AUROCs over repeated samples."""
    from sklearn.metrics import roc_auc_score

    r = np.random.default_rng(0)
    same = np.repeat([1, 0], 300)
    aucs = [roc_auc_score(same, r.standard_normal(600) + 1.2 * same) for _ in range(400)]
    assert hanley_mcneil_se(float(np.mean(aucs)), 300, 300) == pytest.approx(np.std(aucs), rel=0.15)


def test_config_checks(tmp_path):
    cfg = make_config([{"metric": "cosine"}], seed=3)
    assert cfg["fusion"] is None
    with pytest.raises(InputError, match="fusion"):
        make_config([{"metric": "cosine"}, {"metric": "sqeuclidean"}])
    with pytest.raises(InputError, match="one finite weight"):
        make_config([{"metric": "cosine"}, {"metric": "sqeuclidean"}], fusion={"method": "mean", "weights": [1.0]})
    with pytest.raises(Exception, match="unknown metric"):
        make_config([{"metric": "cosin"}])
    p = tmp_path / "c.json"
    p.write_text("{not json")
    with pytest.raises(InputError, match="not valid JSON"):
        load_config(p)
    p.write_text(json.dumps({"components": []}))
    with pytest.raises(InputError, match="not a metricbench configuration"):
        load_config(p)


def test_fused_score_is_weighted_standardised_scores():
    """A fusion's score equals the weighted sum of its parts' standardised scores (closed form)."""
    r = np.random.default_rng(1)
    X = r.standard_normal((50, 6))
    y = np.arange(50) % 10
    i1, i2 = r.integers(0, 50, 80), r.integers(0, 50, 80)
    cfg = make_config([{"metric": "cosine"}, {"metric": "sqeuclidean"}], fusion={"method": "logistic",
                                                                                  "weights": [0.7, -0.2]})
    got = fit_config(cfg, X, y).pair_score(X, i1, i2)
    from scipy.spatial.distance import cdist

    c = -np.array([cdist(X[[a]], X[[b]], "cosine")[0, 0] for a, b in zip(i1, i2)])
    e = -np.array([cdist(X[[a]], X[[b]], "sqeuclidean")[0, 0] for a, b in zip(i1, i2)])
    z = lambda v: (v - v.mean()) / v.std()  # noqa: E731
    np.testing.assert_allclose(got, 0.7 * z(c) - 0.2 * z(e), rtol=1e-9, atol=1e-9)


# -- the command line ---------------------------------------------------------------------------------
def _cli_competition(tmp_path):
    return write_competition(tmp_path / "c", n_train=480, n_cls=120, n_test=40, d=12, n_pairs=200, seed=2)


def test_cli_auto_writes_outputs_and_score_config_reruns_exactly(tmp_path):
    from metricbench.cli.main import app

    d = _cli_competition(tmp_path)
    out = tmp_path / "o" / "auto.csv"
    res = runner.invoke(app, ["auto", "--data", str(d), "--budget", "2m", "--trials", "8", "--metrics",
                              "cosine,sqeuclidean,lda-cosine,wccn-cosine", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "outer AUROC" in res.output and "test AUROC" in res.output
    cfg_path = tmp_path / "o" / "auto.config.json"
    report = (tmp_path / "o" / "auto.report.md").read_text()
    assert "## Everything tried" in report and "outer validation (reported)" in report
    cfg = load_config(cfg_path)
    assert "outer_auroc" in cfg["selection"]
    sub = pd.read_csv(out)
    assert list(sub.columns) == ["Id", "Predicted"] and len(sub) == 200
    again = tmp_path / "again.csv"
    res2 = runner.invoke(app, ["score", "--config", str(cfg_path), "--data", str(d), "--out", str(again)])
    assert res2.exit_code == 0, res2.output
    pd.testing.assert_frame_equal(sub, pd.read_csv(again))


def test_cli_auto_bad_input_is_one_line_and_writes_nothing(tmp_path):
    from metricbench.cli.main import app

    d = _cli_competition(tmp_path)
    out = tmp_path / "o" / "auto.csv"
    for args, pat in ((["--budget", "soon"], "budget must be a duration"),
                      (["--metrics", "cosine,nosuch"], "unknown metric 'nosuch'"),
                      (["--metrics", "fusion"], "auto fuses"),
                      (["--trials", "0"], "trials must be at least 1")):
        res = runner.invoke(app, ["auto", "--data", str(d), "--out", str(out), *args])
        assert res.exit_code == 2
        assert_one_line_error(res, pat)
    res = runner.invoke(app, ["score", "--config", str(tmp_path / "missing.json"), "--data", str(d)])
    assert res.exit_code == 2
    assert_one_line_error(res, "configuration file not found")
    assert not (tmp_path / "o").exists()
