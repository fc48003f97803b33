"""``fusion``: several metrics combined into one score.

``Fusion(metrics="cosine-whitened,plda,verifier", method="mean"|"logistic")``.

Fitting, precisely:

1. Train identities are split (:class:`metricbench.model_selection.IdentityPairSplit`,
   ``holdout``, ``random_state``) into a fitting part and a held-out part with
   ``n_val_pairs`` labelled pairs.
2. Every sub-metric (built with :func:`metricbench.registry.get_metric`, parameters from
   ``metric_params[name]``) is fitted on the fitting part only (with ``groups`` when
   its ``fit`` accepts them).
3. The sub-metrics score the held-out pairs (across the two groups when ``groups``
   has two values). Per sub-metric the mean and standard
   deviation of these scores give its z-normalisation.
4. ``method="mean"``: the fused score is the mean of the z-normalised scores (no
   labels used). ``method="logistic"``: a logistic regression (``C``) on the
   z-normalised scores of the held-out pairs, labelled same / different, gives the
   weights. Its validation AUROC is measured by 2-fold cross-fitting over the held-out
   identities (pairs assigned to a fold by the identity of their first row).
5. With ``refit=True`` (default) every sub-metric is fitted again on all train rows and
   the fused score uses these refitted sub-metrics with the weights of step 3/4 (the
   weights were estimated on sub-metrics fitted on 1 - ``holdout`` of the identities;
   ``refit=False`` keeps those sub-metrics instead).

Fused score: ``sum_j w_j s_j + b``; ``pair_distance = -score``. Sub-metric scores are
added in a fixed order, so the fusion is exactly as symmetric as its parts.
"""

from __future__ import annotations

import time

import numpy as np

from metricbench.learn import _constraints as dom
from metricbench.distances.names import metric_info
from metricbench.errors import InputError, UnknownMetricError
from metricbench.learn._pairutils import check_groups
from metricbench.learn.base import BaseMetric
from metricbench.learn.norm import _accepted
from metricbench.learn.stats import class_codes
from metricbench.model_selection import IdentityPairSplit, cross_groups_of, pair_auroc, sample_pairs
from metricbench.model_selection._split import _seed_int as seed_int
from metricbench.catalog import build_metric as get_metric


def _names(metrics) -> list[str]:
    """The sub-metrics' registered names (aliases resolved), checked without data.

    Raises
    ------
    InputError
        Fewer than two names, ``fusion`` itself among them, or an unknown name (the message
        suggests the nearest registered ones).
    """
    if isinstance(metrics, str):
        given = [m.strip() for m in metrics.replace(";", ",").split(",") if m.strip()]
    else:
        given = [str(m) for m in metrics]
    if len(given) < 2:
        raise InputError(f"fusion needs at least two metrics, e.g. metrics=cosine-whitened,plda; got {metrics!r}")
    names = []
    for n in given:
        try:
            names.append(metric_info(n).name)
        except UnknownMetricError as e:
            raise InputError(f"fusion metrics: {e}") from None
    if "fusion" in names:
        raise InputError("fusion cannot contain itself")
    return names


class Fusion(BaseMetric):
    """Z-normalised score averaging or a logistic stacker over several metrics.

    Parameters
    ----------
    metrics : str or list of str
        Registered metric names, comma-separated in a string.
    method : {"mean", "logistic"}
    metric_params : dict or None
        ``{name: {param: value}}`` for the sub-metrics.
    C : float
        Inverse regularisation of the logistic stacker.
    holdout : float in [0, 1)
        Fraction of train identities held out for the z-statistics / stacker; 0 takes
        them from pairs of the train rows themselves (optimistic for the stacker).
    n_val_pairs : int
    refit : bool
        Refit the sub-metrics on all train rows after estimating the weights.
    random_state : int, numpy Generator or None
        Seed of the held-out identities and pairs.
    verbose : bool
    """

    #: domain of every parameter (scikit-learn's form, checked by check_params at fit)
    _parameter_constraints: dict = {
        "metrics": [str, list, tuple],
        "method": [dom.StrOptions({"mean", "logistic"})],
        "metric_params": [dict, None],
        "C": [dom.POS_REAL],
        "holdout": [dom.HOLDOUT],
        "n_val_pairs": [dom.ints(2)],
        "refit": dom.BOOL,
        "random_state": dom.SEED,
        "verbose": dom.VERBOSE,
    }

    def __init__(
        self,
        metrics="cosine-whitened,plda,verifier",
        method="mean",
        metric_params=None,
        C=1.0,
        holdout=0.2,
        n_val_pairs=20000,
        refit=True,
        random_state=0,
        verbose=False,
    ):
        self.metrics = metrics
        self.method = method
        self.metric_params = metric_params
        self.C = C
        self.holdout = holdout
        self.n_val_pairs = n_val_pairs
        self.refit = refit
        self.random_state = random_state
        self.verbose = verbose

    def _check_params(self):
        """The sub-metrics' names and parameters, before any data are read: every name is
        registered (else a did-you-mean suggestion), and every sub-metric builds with its
        ``metric_params`` (their names and domains checked by ``get_metric``)."""
        self._build(_names(self.metrics))

    def _build(self, names):
        """The unfitted sub-metrics ``names`` with their ``metric_params`` (keys may be aliases)."""
        mp = {}
        for key, value in dict(self.metric_params or {}).items():
            try:
                name = metric_info(str(key)).name
            except UnknownMetricError:
                name = str(key)
            if name not in names:
                raise InputError(f"fusion: metric_params for {key!r}, which is not in the fusion "
                                 f"({', '.join(names)})")
            if not isinstance(value, dict):
                raise InputError(f"fusion: metric_params[{key!r}] must be a dict of parameters, got {value!r}")
            mp[name] = value
        return [get_metric(n, **dict(mp.get(n, {}))) for n in names]

    def _fit_all(self, subs, X, y, groups):
        t0 = time.perf_counter()
        for m in subs:
            kw = {} if groups is None else _accepted(m, {"groups": groups})
            m.fit(X, y, **kw)
            if self.verbose:
                print(f"fusion: fitted {m.name} on {X.shape[0]} rows  {time.perf_counter() - t0:.1f} s", flush=True)
        return subs

    def _fit(self, X, y, groups=None, **fit_params):
        if fit_params:
            raise InputError(f"fusion: unknown fit parameters {', '.join(fit_params)}")
        if self.method not in ("mean", "logistic"):
            raise InputError(f"fusion: method must be 'mean' or 'logistic', got {self.method!r}")
        names = _names(self.metrics)
        y = np.asarray(y)
        groups = check_groups(groups, X.shape[0])
        if not 0.0 <= float(self.holdout) < 1.0:
            raise InputError(f"fusion: holdout must be in [0, 1), got {self.holdout}")
        seed = seed_int(self.random_state)
        if float(self.holdout) > 0:
            split = next(IdentityPairSplit(test_size=float(self.holdout), n_pairs=int(self.n_val_pairs),
                                           random_state=seed).pairs(X, y, variants=groups))
            rows, vrows = split.fit_rows, split.val_rows
            v1, v2, vs = split.val_index1, split.val_index2, split.same
        else:
            # no identities held out: statistics and weights from pairs of the fitted rows (optimistic)
            cross = cross_groups_of(groups)
            rows = vrows = np.arange(X.shape[0])
            v1, v2, vs = sample_pairs(y, n_pairs=int(self.n_val_pairs), random_state=seed + 1,
                                      variants=groups if cross else None, cross=cross)
            if vs.size == 0 or vs.min() == vs.max():
                raise InputError("fusion: the train rows gave only one kind of pair; give more identities")
        subs = self._fit_all(self._build(names), X[rows], y[rows], None if groups is None else groups[rows])
        Xv = np.asarray(X[vrows])
        S = np.column_stack([m.pair_score(Xv, v1, v2) for m in subs])
        mu, sd = S.mean(0), S.std(0)
        sd = np.where(sd > 0, sd, 1.0)
        Zs = (S - mu) / sd
        self.sub_val_auroc_ = np.array([pair_auroc(vs, S[:, j]) for j in range(S.shape[1])])
        if self.method == "mean":
            coef = np.full(len(subs), 1.0 / len(subs))
            icpt = 0.0
            self.val_auroc_ = pair_auroc(vs, Zs @ coef)
        else:
            from sklearn.linear_model import LogisticRegression

            clf = LogisticRegression(C=float(self.C), max_iter=1000).fit(Zs, vs)
            coef, icpt = clf.coef_[0], float(clf.intercept_[0])
            # honest estimate: 2-fold cross-fitting over held-out identities
            _, codes, _ = class_codes(y[vrows])
            fold = codes[v1] % 2
            pred = np.empty(vs.size)
            for f in (0, 1):
                tr, te = fold != f, fold == f
                if np.unique(vs[tr]).size < 2:
                    pred[te] = Zs[te] @ coef
                    continue
                c = LogisticRegression(C=float(self.C), max_iter=1000).fit(Zs[tr], vs[tr])
                pred[te] = c.decision_function(Zs[te])
            self.val_auroc_ = pair_auroc(vs, pred)
        # weights on the raw scores: sum_j w_j s_j + b
        self.weights_ = coef / sd
        self.intercept_ = float(icpt - np.sum(coef * mu / sd))
        self.z_mean_, self.z_scale_ = mu, sd
        self.metric_names_ = names
        self.refitted_ = False
        if self.refit and float(self.holdout) > 0:
            subs = self._fit_all(self._build(names), X, y, groups)
            self.refitted_ = True
        self.metrics_ = subs
        self.seed_ = seed

    def _pair_distance(self, X, index1, index2, Y):
        score = np.full(index1.size, self.intercept_, dtype=np.float64)
        for w, m in zip(self.weights_, self.metrics_):
            score += w * m.pair_score(X, index1, index2, Y=Y)
        return -score

    def describe(self) -> str:
        self.check_is_fitted()
        parts = ", ".join(
            f"{n} (w {w * s:.3g}, val {a:.4f})"
            for n, w, s, a in zip(self.metric_names_, self.weights_, self.z_scale_, self.sub_val_auroc_)
        )
        r = ", sub-metrics refit on all rows" if self.refitted_ else ""
        return f"{self.method} fusion of {parts}; val AUROC {self.val_auroc_:.4f}{r}, seed={self.seed_}"


__all__ = ["Fusion"]
