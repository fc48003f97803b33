"""The search behind ``metricbench auto``: optuna over metrics and settings, nested identity-disjoint validation.

Honest selection, precisely:

1. **Outer split.** The train identities are split once (``outer_holdout``, ``seed``) into a
   *search* part and an *outer* part; seeded validation pairs are drawn among the outer
   identities (across the two variant groups when there are two, never an image against its
   own other variant, like the test pairs). Nothing in steps 2-4 sees the outer rows.
2. **Inner folds.** ``n_inner`` identity-disjoint hold-outs of the search part, each with its
   own seeded validation pairs, drawn once and shared by every candidate. Both splits come
   from :class:`metricbench.model_selection.IdentityPairSplit` (the library's one splitter and
   pair sampler) through :func:`metricbench.model_selection.draw_splits`.
3. **Singles.** An optuna study (TPE sampler, median pruner over the folds) proposes a metric
   family and its settings; cheap families' first settings are enqueued first, expensive ones
   run as the budget allows (a trial whose estimated cost does not fit the time left, with the
   final fits reserved, is skipped). optuna only proposes: each proposal is fitted on every
   inner fold and scored on its pairs by
   :meth:`metricbench.model_selection.MetricSearchCV.evaluate_candidate` (the pruner's verdict
   after each fold), AUROC by :func:`metricbench.model_selection.pair_auroc`. A closed-form
   metric is fitted from the fold's :class:`~metricbench.learn.stats.ScatterStats`, gathered
   once per fold and kind of statistics and shared by every later candidate (``self.cache``);
   the fold's rows are copied once for the others. The same fitted metric is also scored with
   AS-norm score normalisation (the cohort drawn from the fold's fitting rows), so
   "normalisation on or off" costs no refit. Its figure is the mean AUROC over the folds.
4. **Fusions.** The best few singles (best of each family first) are fused, every subset of
   2 .. ``max_fusion`` of them, by the mean of their standardised scores and by logistic
   stacking; the fold scores of step 3 are reused, nothing is refitted. The stacker's inner
   figure is cross-fitted (weights from the other folds' pairs).
5. **Choice and guard.** The candidate with the best inner figure wins. Because that figure
   is the maximum of many noisy numbers, it is *not* reported as the estimate: the winner is
   fitted again on the whole search part (closed-form parts: the first fold's fitting and
   held-out statistics added, no pass over the rows) and judged once on the outer pairs, and
   that outer AUROC (with a bootstrap interval) is the figure reported.

The caller then fits the winner on all train rows for the submission
(:func:`metricbench.auto.config.score_config`).

References
----------
.. [1] G. C. Cawley, N. L. C. Talbot. On over-fitting in model selection and subsequent
   selection bias in performance evaluation. JMLR 11, 2079-2107, 2010.
.. [2] J. A. Hanley, B. J. McNeil. The meaning and use of the area under a receiver operating
   characteristic (ROC) curve. Radiology 143, 29-36, 1982.
"""

from __future__ import annotations

import itertools
import math
import re
import time
from dataclasses import dataclass, field

import numpy as np

from metricbench.auto.config import component, config_label, standardize
from metricbench.auto.space import Family, default_families, select_families
from metricbench.errors import InputError, MetricbenchError
from metricbench.evaluation.verification import auroc_se
from metricbench.model_selection import IdentityPairSplit, MetricSearchCV, draw_splits, pair_auroc, rows_of

#: default seconds per inner fold of one trial, by cost tier, before anything was measured
_TIER_GUESS = {0: 0.5, 1: 3.0, 2: 10.0, 3: 30.0}
#: inner-AUROC gap under which the search keeps time only for the cheapest of the leading candidates
_LEADER_TIE = 0.001
#: how many times a fit on the search part and on all train rows costs more than a fit on an inner fold
_FINAL_FACTOR = 3.2


# -- the splits: model_selection's one splitter, drawn once ----------------------------------------------
@dataclass
class Splits:
    """The outer split and the inner folds of the search part, drawn once and shared by all candidates.

    Both come from :class:`metricbench.model_selection.IdentityPairSplit` (the project's one
    identity-disjoint splitter and pair sampler) through
    :func:`metricbench.model_selection.draw_splits`; every split is a
    :class:`~metricbench.model_selection.HeldOutPairs` in the train matrix's row indices.

    Attributes
    ----------
    search_rows : ndarray of int64
        The rows outside the outer hold-out (what the inner folds split).
    outer : HeldOutPairs
    inner : list of HeldOutPairs
    inner_cv : IdentityPairSplit
        The splitter of the inner folds (every candidate's :class:`MetricSearchCV` uses it).
    """

    search_rows: np.ndarray
    outer: object
    inner: list
    inner_cv: object = None

    @classmethod
    def draw(cls, y, groups=None, images=None, *, seed=0, outer_holdout=0.2, inner_holdout=0.25, n_inner=2,
             n_pairs=20000, outer_pairs=None) -> "Splits":
        """Draw the outer split (seed ``seed``) and ``n_inner`` inner folds of the rest (seed ``seed + 1000``).

        Raises
        ------
        InputError
            Too few identities for a split, or a split with only one kind of pair.
        """
        y = np.asarray(y)
        outer_cv = IdentityPairSplit(1, test_size=outer_holdout, n_pairs=n_pairs if outer_pairs is None else outer_pairs,
                                     variants=groups, images=images, random_state=int(seed))
        (outer,) = draw_splits(outer_cv, y)
        inner_cv = IdentityPairSplit(int(n_inner), test_size=inner_holdout, n_pairs=n_pairs, variants=groups,
                                     images=images, random_state=int(seed) + 1000)
        inner = draw_splits(inner_cv, y, rows=outer.fit_rows, variants=groups, images=images)
        return cls(outer.fit_rows, outer, inner, inner_cv)


def n_identities(y, rows) -> int:
    return int(np.unique(np.asarray(y)[rows]).size)


def _norm_is_cheap(m) -> bool:
    """Whether cohort scores of ``m`` come from matrix products or plain distances (no per-pair model).

    Score normalisation scores every validation row against a 1,000-identity cohort: cheap for
    fixed distances and for linear maps followed by cosine / Euclidean, but a million pairs
    through a pair model (PLDA, verifier) cost more than the model's fit, so those are not
    normalised in the search.
    """
    from metricbench.learn.base import LinearMetric

    if not getattr(m, "learns", True):
        return True
    return isinstance(m, LinearMetric) and getattr(m, "base_metric", None) in ("cosine", "sqeuclidean", "euclidean")


# -- candidates and results ---------------------------------------------------------------------------
@dataclass
class Candidate:
    """One configuration tried: its settings, cost and inner-validation figures."""

    id: int
    kind: str  # "single" or "fusion"
    family: str
    config: dict
    status: str = "complete"  # complete, pruned, skipped, failed
    fold_aurocs: list = field(default_factory=list)
    fit_seconds: float = 0.0  # mean per inner fold (singles); 0 for fusions (nothing refitted)
    seconds: float = 0.0  # wall time the candidate took in the search
    trial: int | None = None
    note: str = ""
    se: float = float("nan")
    members: tuple = ()  # candidate ids a fusion combines

    @property
    def short(self) -> str:
        """The label, with a fusion's parts named by their candidate ids."""
        if self.kind != "fusion":
            return self.label
        return f"{self.config['fusion']['method']} fusion of " + " + ".join(f"#{i}" for i in self.members)

    @property
    def label(self) -> str:
        return config_label(self.config)

    @property
    def inner_auroc(self) -> float:
        return float(np.mean(self.fold_aurocs)) if self.fold_aurocs else float("nan")

    @property
    def interval(self) -> tuple[float, float]:
        a = self.inner_auroc
        return (a - 1.96 * self.se, a + 1.96 * self.se)

    def as_dict(self) -> dict:
        lo, hi = self.interval
        return {
            "id": self.id, "kind": self.kind, "family": self.family, "label": self.label, "status": self.status,
            "members": list(self.members),
            "inner_auroc": self.inner_auroc, "interval": [lo, hi], "fold_aurocs": list(self.fold_aurocs),
            "fit_seconds": self.fit_seconds, "seconds": self.seconds, "trial": self.trial, "note": self.note,
            "config": self.config,
        }


@dataclass
class AutoResult:
    """What :func:`auto_search` found.

    Attributes
    ----------
    winner : Candidate
        The configuration with the best inner figure.
    config : dict
        The winner's configuration (with a ``selection`` entry saying how it was chosen).
    outer_auroc, outer_interval : float, (float, float)
        The winner's AUROC on the outer identities (fitted on the search part only) and its
        95 % pair-bootstrap interval: the figure to report.
    candidates : list of Candidate
        Everything tried, in order.
    """

    winner: Candidate
    config: dict
    outer_auroc: float
    outer_interval: tuple
    candidates: list
    seconds: float
    budget: float | None
    interrupted: bool
    seed: int
    n_trials: int
    split: dict
    outer_seconds: float = 0.0
    stopped_because: str = ""

    def ranked(self) -> list:
        done = [c for c in self.candidates if c.status == "complete"]
        return sorted(done, key=lambda c: -c.inner_auroc)

    def best_single(self) -> Candidate | None:
        singles = [c for c in self.ranked() if c.kind == "single"]
        return singles[0] if singles else None


# -- the search ---------------------------------------------------------------------------------------
class _Search:
    def __init__(self, X, y, groups, splits: Splits, families, *, seed, budget, n_trials, max_fusion, fusion_pool,
                 norm, progress, t0):
        self.X, self.y, self.groups = X, np.asarray(y), None if groups is None else np.asarray(groups)
        self.splits = splits
        self.families = {f.name: f for f in families}
        self.order = [f.name for f in families]
        self.seed, self.budget, self.n_trials = int(seed), budget, n_trials
        self.max_fusion, self.fusion_pool, self.norm = int(max_fusion), int(fusion_pool), norm
        self.progress = progress
        self.t0 = t0
        self.candidates: list[Candidate] = []
        self.scores: dict[int, list] = {}  # candidate id -> scores on each inner fold
        self.fold_fit: dict[int, float] = {}  # candidate id -> mean fit seconds per inner fold
        self.seen: dict[tuple, float] = {}  # settings key -> objective value
        self.cost: dict[str, list] = {}  # family -> seconds per trial
        self.duplicates = 0
        self.skips = 0
        self.skipped: set = set()
        self._zcache: dict = {}
        #: statistics and row copies of the folds, shared by every candidate (see MetricSearchCV.fit_candidate)
        self.cache: dict = {}
        self._leader_key, self._leader_fit = None, 0.0
        self.stopped_because = ""

    # time bookkeeping
    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    def left(self) -> float:
        return math.inf if self.budget is None else self.budget - self.elapsed()

    def trial_cost(self, fam: str) -> float:
        seen = self.cost.get(fam)
        n = len(self.splits.inner)
        if seen:
            return float(np.median(seen))
        return _TIER_GUESS.get(self.families[fam].tier, 10.0) * n

    def reserve(self, extra_fold_fit: float = 0.0) -> float:
        """Seconds kept for fitting a winner on the search part and on all rows (plus scoring).

        Enough for the current leader (the best single or mean fusion so far, :meth:`leader_fit`);
        at the end a costlier winner is only chosen if its final fits fit the time then left
        (:meth:`final_cost`).
        """
        return _FINAL_FACTOR * (self.leader_fit() + extra_fold_fit) + 10.0

    @staticmethod
    def final_cost(c: "Candidate") -> float:
        """Estimated seconds to fit ``c`` on the search part and on all rows."""
        return _FINAL_FACTOR * c.fit_seconds + 10.0

    def emit(self, what, **kw):
        if self.progress is not None:
            self.progress(what, **kw)

    def add(self, c: Candidate) -> Candidate:
        self.candidates.append(c)
        self.emit("candidate", candidate=c, elapsed=self.elapsed())
        return c

    def _component(self, fam: Family, params: dict, norm=None) -> dict:
        params = dict(params)
        m = self._build(component(fam.name, params) if fam.build is None else {"metric": fam.name, "params": params})
        for key in ("seed", "random_state"):
            if key in m.get_params():
                params[key] = self.seed
        return {"metric": fam.name, "params": params, "norm": norm}

    def build(self, c: dict):
        return self._build(c)

    def _build(self, c: dict):
        fam = self.families.get(c["metric"])
        if fam is not None and fam.build is not None:
            m = fam.build(dict(c.get("params") or {}))
            if c.get("norm"):
                from metricbench.learn.norm import apply_norm

                m = apply_norm(m, c["norm"], seed=self.seed)
            return m
        from metricbench.auto.config import build_metric

        return build_metric(c)

    def searcher(self, c: dict) -> MetricSearchCV:
        """The model-selection search that fits and scores component ``c`` (its norm aside) on the inner folds.

        The metric carries the proposed settings, so the search's one candidate is ``{}``;
        closed-form metrics are fitted from the folds' shared statistics (``self.cache``).
        """
        m = self._build(dict(c, norm=None))
        return MetricSearchCV(m, [{}], cv=self.splits.inner_cv, random_state=self.seed)

    def fit_on_search_part(self, cfg: dict):
        """Fit configuration ``cfg`` on the search part (every row outside the outer hold-out).

        A closed-form component adds the first inner fold's held-out statistics to its fitting
        ones (both already gathered): no pass over the rows. Score normalisation is fitted on
        the search rows around the fitted metric, as :func:`fit_config` does in one step.
        """
        from metricbench.auto.config import FittedConfig
        from metricbench.learn.norm import Normalized

        rows = self.splits.search_rows
        sp = self.splits.inner[0]  # its fitting and held-out rows make up the search part
        metrics, secs = [], []
        for c in cfg["components"]:
            t0 = time.perf_counter()
            m = self.searcher(c).fit_candidate(self.X, self.y, {}, sp, variants=self.groups, cache=self.cache,
                                               rows=rows)
            if c.get("norm"):
                m = Normalized(metric=m, norm=c["norm"], prefit=True, random_state=self.seed).fit(
                    rows_of(self.X, rows, self.cache), self.y[rows])
            metrics.append(m)
            secs.append(time.perf_counter() - t0)
        return FittedConfig(cfg, metrics, secs)

    # one proposal: fit on each inner fold, score plain (and with AS-norm)
    def evaluate_single(self, fam: Family, params: dict, trial=None):
        import optuna

        params = {k: (float(f"{v:.3g}") if isinstance(v, float) else v) for k, v in params.items()}
        key = (fam.name, tuple(sorted(params.items())))
        if key in self.seen:
            self.duplicates += 1
            if self.seen[key] is None:
                raise optuna.TrialPruned()
            return self.seen[key]
        self.duplicates = 0
        est = self.trial_cost(fam.name)
        n = len(self.splits.inner)
        if self.budget is not None and est + self.reserve(est / n) > self.left():
            self.skips += 1
            if fam.name not in self.skipped:  # one row per family, not one per proposal
                self.skipped.add(fam.name)
                self.add(Candidate(len(self.candidates), "single", fam.name,
                                   self._config([self._component(fam, params)]), status="skipped",
                                   trial=None if trial is None else trial.number,
                                   note=f"{fam.name} skipped from here on: a trial takes about {est:.0f} s, "
                                        f"{max(self.left(), 0):.0f} s were left (final fits reserved)"))
            raise optuna.TrialPruned()
        self.skips = 0
        tnum = None if trial is None else trial.number
        plain = self._component(fam, params)
        variants = {"plain": plain}
        if self.norm:
            variants["norm"] = dict(plain, norm=self.norm)
        scores = {v: [] for v in variants}
        fit_secs = []
        t_start = time.perf_counter()
        status, note = "complete", ""
        folds = self.splits.inner

        def after_fold(r, done):
            """Score the fold's fitted metric with normalisation too; report to the pruner."""
            nonlocal status, note
            res = done[-1]
            fit_secs.append(res.fit_seconds)
            scores["plain"].append(res.score)
            if r == 0 and self.norm and not _norm_is_cheap(res.metric):
                del variants["norm"], scores["norm"]
            if "norm" in variants:
                from metricbench.learn.norm import Normalized

                sp = folds[r]
                nm = Normalized(metric=res.metric, norm=self.norm, prefit=True, random_state=self.seed)
                nm.fit(rows_of(self.X, sp.fit_rows, self.cache), self.y[sp.fit_rows])
                scores["norm"].append(nm.pair_score(rows_of(self.X, sp.val_rows, self.cache), sp.val_index1,
                                                    sp.val_index2))
            best_so_far = max(float(np.mean([pair_auroc(f.same, x) for f, x in zip(folds, scores[v])]))
                              for v in variants)
            if trial is not None and r < n - 1:
                trial.report(best_so_far, r)
                if trial.should_prune():
                    status, note = "pruned", f"pruned after fold {r + 1} of {n} (median rule)"
                    return True
            return False

        try:
            searcher = self.searcher(plain)
            searcher.evaluate_candidate(self.X, self.y, {}, folds, variants=self.groups, cache=self.cache,
                                        callback=after_fold)
        except KeyboardInterrupt:
            raise
        except (MetricbenchError, ValueError, np.linalg.LinAlgError, FloatingPointError) as e:
            status, note = "failed", str(e).splitlines()[0][:200] if str(e) else type(e).__name__
        seconds = time.perf_counter() - t_start
        if status != "failed":
            self.cost.setdefault(fam.name, []).append(seconds * (n / max(1, len(fit_secs))))
        value = None
        for v, comp in variants.items():
            c = Candidate(len(self.candidates), "single", fam.name, self._config([comp]), status=status,
                          fit_seconds=float(np.mean(fit_secs)) if fit_secs else 0.0, seconds=seconds, trial=tnum,
                          note=note or (f"{self.norm} of the same fitted metric" if v == "norm" else ""))
            c.fold_aurocs = [pair_auroc(f.same, x) for f, x in zip(self.splits.inner, scores[v])]
            c.se = self._se(c.fold_aurocs)
            if status == "complete":
                self.scores[c.id] = scores[v]
                self.fold_fit[c.id] = c.fit_seconds
                value = c.inner_auroc if value is None else max(value, c.inner_auroc)
            self.add(c)
        if status != "complete":
            self.seen[key] = None
            raise optuna.TrialPruned()
        self.seen[key] = value
        return value

    def _se(self, aurocs) -> float:
        if not aurocs:
            return float("nan")
        ses = [auroc_se(a, int(f.same.sum()), int(f.same.size - f.same.sum()))
               for a, f in zip(aurocs, self.splits.inner)]
        return float(np.mean(ses))  # the folds share identities: no sqrt(n) reduction claimed

    def _config(self, comps, fusion=None) -> dict:
        return {"metricbench_config": 1, "components": comps, "fusion": fusion, "seed": self.seed}

    # the optuna study over singles
    def run_singles(self):
        import optuna

        old = optuna.logging.get_verbosity()
        optuna.logging.set_verbosity(optuna.logging.ERROR)  # our own table says what failed and why
        sampler = optuna.samplers.TPESampler(seed=self.seed, n_startup_trials=5)
        pruner = optuna.pruners.MedianPruner(n_startup_trials=6, n_warmup_steps=0)
        study = optuna.create_study(direction="maximize", sampler=sampler, pruner=pruner)
        for name in sorted(self.order, key=lambda n: (self.families[n].tier, self.order.index(n))):
            for first in self.families[name].first:
                study.enqueue_trial({"metric": name, **first}, skip_if_exists=True)

        def objective(trial):
            name = trial.suggest_categorical("metric", self.order)
            fam = self.families[name]
            return self.evaluate_single(fam, fam.suggest(trial, self.X.shape[1]) if fam.suggest else {}, trial)

        def stopper(study, trial):
            if self.n_trials is not None and len(study.trials) >= self.n_trials:
                self.stopped_because = f"{self.n_trials} trials done"
                study.stop()
            elif self.budget is not None:
                cheapest = min(self.trial_cost(n) for n in self.order)
                if self.left() < self.reserve() + cheapest:
                    self.stopped_because = "budget spent (time kept for the final fits)"
                    study.stop()
            if self.duplicates >= 25:
                self.stopped_because = "the sampler kept proposing settings already tried"
                study.stop()
            if self.skips >= 25:
                self.stopped_because = "nothing left that fits the budget"
                study.stop()

        self.study = study
        try:
            study.optimize(objective, n_trials=None if self.n_trials is None else self.n_trials * 50,
                           callbacks=[stopper], gc_after_trial=False)
        finally:
            optuna.logging.set_verbosity(old)

    # fusions of the best few, from the stored fold scores
    def _pool(self) -> list:
        """The singles that may enter fusions: the best of each family first (diversity), then the next best."""
        ranked = sorted((c for c in self.candidates if c.id in self.scores), key=lambda c: -c.inner_auroc)
        pool, trials, fams = [], set(), set()
        for c in ranked:
            if c.family not in fams and c.trial not in trials:
                pool.append(c)
                fams.add(c.family)
                trials.add(c.trial)
        pool = pool[: self.fusion_pool]
        for c in ranked:
            if len(pool) >= self.fusion_pool:
                break
            if c not in pool and c.trial not in trials:
                pool.append(c)
                trials.add(c.trial)
        return pool

    def _z(self, cid: int, r: int) -> np.ndarray:
        key = (cid, r)
        if key not in self._zcache:
            self._zcache[key] = standardize(self.scores[cid][r])
        return self._zcache[key]

    def leader_fit(self) -> float:
        """Fit seconds per fold of the current leader: the best single or mean fusion of the pool.

        What the search keeps time for; recomputed only when the pool of fusable singles changes.
        """
        pool = self._pool()
        key = tuple(c.id for c in pool)
        if key != self._leader_key:
            options = [(c.inner_auroc, c.fit_seconds) for c in pool]
            folds = self.splits.inner
            for size in range(2, min(self.max_fusion, len(pool)) + 1):
                for subset in itertools.combinations(pool, size):
                    a = np.mean([pair_auroc(f.same, sum(self._z(c.id, r) for c in subset)) for r, f in enumerate(folds)])
                    options.append((float(a), sum(c.fit_seconds for c in subset)))
            top = max((a for a, _ in options), default=0.0)
            # the cheapest of the practical ties: a 0.001 gain is not worth reserving minutes for
            fit = min((f for a, f in options if a >= top - _LEADER_TIE), default=0.0)
            self._leader_key, self._leader_fit = key, fit
        return self._leader_fit

    def run_fusions(self, logistic: bool = True):
        if self.max_fusion < 2:
            return
        pool = self._pool()
        if len(pool) < 2:
            return
        folds = self.splits.inner
        n = len(folds)
        for size in range(2, min(self.max_fusion, len(pool)) + 1):
            for subset in itertools.combinations(pool, size):
                Z = [np.column_stack([self._z(c.id, r) for c in subset]) for r in range(n)]
                comps = [c.config["components"][0] for c in subset]
                fam = "+".join(c.family for c in subset)
                ids = tuple(c.id for c in subset)
                fit = sum(c.fit_seconds for c in subset)
                w = np.full(size, 1.0 / size)
                self._add_fusion(fam, ids, comps, "mean", w, [pair_auroc(f.same, z @ w) for f, z in zip(folds, Z)], fit)
                if n >= 2 and logistic:
                    # scikit-learn's LogisticRegression(C=1) objective, by the project's Newton solver
                    from metricbench.learn.verifier import logistic_newton

                    aurocs = []
                    for r in range(n):
                        tr = np.vstack([Z[q] for q in range(n) if q != r])
                        ytr = np.concatenate([folds[q].same for q in range(n) if q != r])
                        coef, _ = logistic_newton(tr, ytr, C=1.0)
                        aurocs.append(pair_auroc(folds[r].same, Z[r] @ coef))
                    coef, _ = logistic_newton(np.vstack(Z), np.concatenate([f.same for f in folds]), C=1.0)
                    self._add_fusion(fam, ids, comps, "logistic", coef, aurocs, fit,
                                     note="inner figure cross-fitted over the folds")
                if self.left() < 0:
                    return

    def _add_fusion(self, fam, ids, comps, method, w, aurocs, fit, note=""):
        c = Candidate(len(self.candidates), "fusion", fam,
                      self._config(comps, {"method": method, "weights": [float(x) for x in w]}),
                      fold_aurocs=[float(a) for a in aurocs], fit_seconds=fit, note=note, members=ids)
        c.se = self._se(c.fold_aurocs)
        self.add(c)


def parse_budget(text) -> float:
    """Seconds from ``"10m"``, ``"90s"``, ``"1h"``, ``"1h30m"`` or a plain number of seconds.

    Raises
    ------
    InputError
        Not a positive duration.
    """
    s = str(text).strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", s):
        sec = float(s)
    else:
        parts = re.findall(r"(\d+(?:\.\d+)?)\s*(h|m|s)", s)
        if not parts or re.sub(r"(\d+(?:\.\d+)?)\s*(h|m|s)", "", s).strip():
            raise InputError(f"budget must be a duration like 10m, 90s or 1h30m; got {text!r}")
        sec = sum(float(v) * {"h": 3600, "m": 60, "s": 1}[u] for v, u in parts)
    if not sec > 0:
        raise InputError(f"budget must be positive; got {text!r}")
    return sec


def auto_search(
    X,
    y,
    groups=None,
    images=None,
    *,
    budget: float | None = 600.0,
    n_trials: int | None = None,
    metrics=None,
    families: list | None = None,
    seed: int = 0,
    outer_holdout: float = 0.2,
    inner_holdout: float = 0.25,
    n_inner: int = 2,
    n_pairs: int = 20000,
    outer_pairs: int | None = None,
    norm: str | None = "as-norm",
    max_fusion: int = 4,
    fusion_pool: int = 6,
    n_boot: int = 1000,
    progress=None,
    started: float | None = None,
) -> AutoResult:
    """Search metrics and settings on nested identity-disjoint validation; judge the winner on an outer fold.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Train embeddings.
    y : array-like of shape (n_samples,)
        Identity of each row.
    groups : array-like of shape (n_samples,), optional
        Variant tag per row (``clean`` / ``xq40``): validation pairs join one of each.
    images : array-like of shape (n_samples,), optional
        Source image per row: same pairs never join two variants of one image.
    budget : float or None
        Wall-clock seconds for everything: the search stops early enough to leave time for
        judging the winner on the outer fold and for the caller's fit on all train rows
        (estimated from the winner's measured fit time). None: no limit (give ``n_trials``).
    n_trials : int, optional
        Stop after this many optuna trials (deterministic runs, tests).
    metrics : list of str or str, optional
        Registered metric names to search (default: every family of
        :func:`metricbench.auto.space.default_families`).
    families : list of Family, optional
        The families to search instead of the defaults (tests pass their own).
    seed : int
        Seed of the splits, the pair sampling, the sampler and every metric's ``seed``.
    outer_holdout, inner_holdout : float
        Share of identities held out by the outer split, and by each inner fold of the rest.
    n_inner : int
        Inner folds (repeated identity-disjoint hold-outs of the search part).
    n_pairs : int
        Validation pairs per inner fold (half same identity, fewer where the identities lack them).
    outer_pairs : int, optional
        Validation pairs of the outer fold (default ``n_pairs``).
    norm : {"as-norm", "s-norm", None}
        Score normalisation also tried on every fitted candidate (None: off).
    max_fusion, fusion_pool : int
        Largest fusion tried, and how many of the best singles may enter fusions.
    n_boot : int
        Bootstrap replicates of the outer interval.
    progress : callable, optional
        ``progress(event, **info)`` with events ``"start"``, ``"candidate"``, ``"phase"``.
    started : float, optional
        ``time.perf_counter()`` at which the budget started (default: now), so that a
        caller's loading time counts against the budget.

    Returns
    -------
    AutoResult

    Raises
    ------
    InputError
        Too few identities for the splits, an unknown metric name, no budget and no ``n_trials``.

    Notes
    -----
    Ctrl-C during the search stops it; the best configuration so far is then judged on the
    outer fold and returned (``interrupted=True``).
    """
    import optuna  # noqa: F401  (fail early if missing)

    t0 = time.perf_counter() if started is None else float(started)
    if budget is None and n_trials is None:
        raise InputError("auto: give a time budget or a number of trials")
    X = np.asarray(X) if not hasattr(X, "shape") else X
    if X.ndim != 2:
        raise InputError(f"X must be 2-D (n_samples, n_features), got shape {X.shape}")
    fams = families if families is not None else default_families(int(X.shape[1]))
    fams = select_families(fams, metrics) if metrics is not None else list(fams)
    if not fams:
        raise InputError("auto: nothing to search")
    if progress is not None:
        progress("phase", text="drawing the outer split and the inner folds")
    splits = Splits.draw(y, groups, images, seed=seed, outer_holdout=outer_holdout, inner_holdout=inner_holdout,
                         n_inner=n_inner, n_pairs=n_pairs, outer_pairs=outer_pairs)
    s = _Search(X, y, groups, splits, fams, seed=seed, budget=budget, n_trials=n_trials, max_fusion=max_fusion,
                fusion_pool=fusion_pool, norm=norm, progress=progress, t0=t0)
    if progress is not None:
        progress("start", budget=budget, splits=splits)
        progress("phase", text="searching metrics and settings (inner folds)")
    interrupted = False
    try:
        s.run_singles()
    except KeyboardInterrupt:
        interrupted = True
        s.stopped_because = "interrupted (Ctrl-C): best so far kept"
    if not any(c.status == "complete" for c in s.candidates):
        if interrupted:
            raise KeyboardInterrupt  # nothing to keep: the caller says so and writes nothing
        raise InputError("auto: no candidate finished within the budget; give a longer budget")
    if progress is not None:
        progress("phase", text="fusing the best candidates (stored fold scores)")
    try:
        s.run_fusions(logistic=not interrupted)  # after Ctrl-C only the quick mean fusions
    except KeyboardInterrupt:
        interrupted = True
        s.stopped_because = "interrupted (Ctrl-C): best so far kept"
    ranked = sorted((c for c in s.candidates if c.status == "complete"), key=lambda c: -c.inner_auroc)
    winner = ranked[0]
    if budget is not None:  # the winner's final fits must fit the time left; else the best one that does
        left = s.left()
        fits = [c for c in ranked if s.final_cost(c) <= left]
        winner = fits[0] if fits else min(ranked, key=lambda c: c.fit_seconds)
        for c in ranked:
            if c is winner:
                break
            c.note = (c.note + "; " if c.note else "") + (
                f"not chosen: its final fits (about {s.final_cost(c):.0f} s) exceed the {max(left, 0):.0f} s left")
    # the guard: the winner is judged once, on identities no candidate has seen
    if progress is not None:
        progress("phase", text=f"judging the winner on the outer identities: {winner.label}")
    t1 = time.perf_counter()
    o = splits.outer
    fitted = s.fit_on_search_part(winner.config)
    so = fitted.pair_score(np.asarray(X[o.val_rows]), o.val_index1, o.val_index2)
    from metricbench.evaluation.verification import auroc_ci

    ci = auroc_ci(o.same, so, n_boot=int(n_boot), seed=seed)
    outer_seconds = time.perf_counter() - t1
    split = {
        "n_train_rows": int(np.asarray(y).size),
        "search_rows": int(splits.search_rows.size),
        "outer_identities": n_identities(y, o.val_rows),
        "outer_pairs": int(o.same.size),
        "inner_folds": [{"fit_rows": int(f.fit_rows.size), "val_identities": n_identities(y, f.val_rows),
                         "pairs": int(f.same.size)} for f in splits.inner],
        "outer_holdout": outer_holdout,
        "inner_holdout": inner_holdout,
    }
    n_complete = len(ranked)
    cfg = dict(winner.config)
    cfg["selection"] = {
        "by": "metricbench auto",
        "inner_auroc": winner.inner_auroc,
        "outer_auroc": ci.auroc,
        "outer_interval": [ci.low, ci.high],
        "candidates_compared": n_complete,
        "seed": int(seed),
        "split": split,
    }
    return AutoResult(
        winner=winner, config=cfg, outer_auroc=ci.auroc, outer_interval=(ci.low, ci.high), candidates=s.candidates,
        seconds=time.perf_counter() - t0, budget=budget, interrupted=interrupted, seed=int(seed),
        n_trials=sum(t.state.is_finished() for t in s.study.trials) if hasattr(s, "study") else 0,  # not the enqueued
        split=split, outer_seconds=outer_seconds,
        stopped_because=s.stopped_because,
    )


__all__ = ["AutoResult", "Candidate", "Splits", "auto_search", "parse_budget"]
