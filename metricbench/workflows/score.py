"""Score a competition: validate a metric on held-out identities, fit it on train, score the test pairs."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from metricbench.engines import pair_distances_on
from metricbench.engines.stats import EngineOnPath, fit_on_engine
from metricbench.errors import InputError
from metricbench.io import write_submission
from metricbench.registry import check_params, get_metric, metric_info, parse_metric_params
from metricbench.workflows.data import open_competition
from metricbench.workflows.outputs import check_output_file
from metricbench.workflows.progress import ProgressHook, step

#: score normalisations (see :mod:`metricbench.learn.norm`)
NORMS = ("s-norm", "as-norm")
#: pairs scored per progress update
PAIR_CHUNK = 1 << 20


def inner_selection_label(text: str) -> str:
    """A fitted metric's ``describe()`` with its own hyper-parameter selection labelled as such.

    A learned metric that chooses a setting inside ``fit`` does so on an inner identity split of
    the rows it is given; the AUROC it reports is that inner selection's, not the validation or
    test AUROC of the workflow. ``"AUROC 0.8458"`` becomes ``"inner-selection AUROC 0.8458"``.
    """
    if not text or "inner-selection" in text:
        return text or ""
    return re.sub(r"\bAUROC\b", "inner-selection AUROC", text)


def check_split_settings(holdout: float, val_pairs: int) -> None:
    """Raise :class:`~metricbench.errors.InputError` for a validation split that cannot work."""
    if not (0.0 < float(holdout) < 1.0):
        raise InputError(f"holdout must be a fraction strictly between 0 and 1, got {holdout}")
    if int(val_pairs) < 2:
        raise InputError(f"val_pairs must be at least 2 (one same-identity and one different pair), got {val_pairs}")


@dataclass
class Validation:
    """Identity-disjoint validation of one metric (fitted on the other identities of train)."""

    auroc: float
    baseline_auroc: float  # sqeuclidean on the same pairs
    n_pairs: int
    n_fit_identities: int
    n_held_out_identities: int
    cross_groups: list | None
    seed: int
    holdout: float
    chosen: str  # what the fit on the fit identities chose (inner selection labelled)
    fit_seconds: float
    score_seconds: float


@dataclass
class TestScore:
    """AUROC on the test pairs against ``solution.csv`` (fitted on all of train)."""

    auroc: float
    baseline_auroc: float  # sqeuclidean


@dataclass
class ScoreResult:
    """Every figure :func:`score_competition` computed (what ``metricbench score`` prints and ``--json`` writes)."""

    metric: str
    params: dict
    norm: str | None
    data: str
    n_train: int
    n_features: int
    n_test_pairs: int
    seed: int
    similarity: bool
    validation: Validation | None
    fit_seconds: float
    score_seconds: float
    chosen: str  # what the final fit (all of train) chose, inner selection labelled
    test: TestScore | None
    submission: str | None
    saved_metric: str | None = None
    fitted_on: str = "this process"  # or the engine whose statistics the fits came from
    predictions: np.ndarray | None = field(default=None, repr=False)

    @property
    def label(self) -> str:
        return self.metric + (f" + {self.norm}" if self.norm else "")

    @property
    def predicted(self) -> str:
        return "similarity (larger = more alike)" if self.similarity else "distance (larger = less alike)"

    def to_json(self) -> dict:
        """A plain JSON-able dict (the keys of earlier versions kept)."""
        out = {
            "metric": self.metric, "params": self.params, "norm": self.norm, "data": self.data,
            "n_train": self.n_train, "n_test_pairs": self.n_test_pairs, "seed": self.seed,
        }
        if self.validation is not None:
            v = asdict(self.validation)
            out["validation"] = {
                "auroc": v["auroc"], "baseline_sqeuclidean_auroc": v["baseline_auroc"], "n_pairs": v["n_pairs"],
                "held_out_identities": v["n_held_out_identities"], "fit_identities": v["n_fit_identities"],
                "cross_groups": v["cross_groups"], "chosen": v["chosen"], "fit_seconds": v["fit_seconds"],
                "score_seconds": v["score_seconds"],
            }
        out["fit_seconds"] = self.fit_seconds
        out["fitted_on"] = self.fitted_on
        if self.chosen:
            out["chosen"] = self.chosen
        out["score_seconds"] = self.score_seconds
        out["submission"] = self.submission
        out["predicted"] = self.predicted
        if self.test is not None:
            out["test"] = {"auroc": self.test.auroc, "baseline_sqeuclidean_auroc": self.test.baseline_auroc}
        if self.saved_metric:
            out["saved_metric"] = self.saved_metric
        return out


def paired_distance_chunked(metric, X, i1, i2, hook: ProgressHook | None = None, chunk: int = PAIR_CHUNK):
    """``metric.pair_distance(X, i1, i2)`` in chunks of pairs, advancing ``hook`` after each."""
    n = len(i1)
    if n <= chunk:
        out = metric.pair_distance(X, i1, i2)
        if hook is not None:
            hook.advance(n)
        return out
    out = np.empty(n, dtype=np.float64)
    for s in range(0, n, chunk):
        out[s : s + chunk] = metric.pair_distance(X, i1[s : s + chunk], i2[s : s + chunk])
        if hook is not None:
            hook.advance(min(chunk, n - s))
    return out


def score_competition(
    metric: str = "cosine-whitened",
    data=None,
    *,
    params: dict | None = None,
    norm: str | None = None,
    similarity: bool = False,
    validate: bool = True,
    holdout: float = 0.2,
    val_pairs: int = 20000,
    seed: int = 0,
    out=None,
    overwrite: bool = False,
    save_metric=None,
    progress: ProgressHook | None = None,
    engine=None,
) -> ScoreResult:
    """Validate ``metric`` on held-out identities, fit it on all of train, score every test pair.

    What ``metricbench score`` runs. Every check that needs no data (metric name, parameters,
    normalisation, split settings, output paths) runs before the data is read.

    Parameters
    ----------
    metric : str
        A name from :mod:`metricbench.registry` (aliases resolve).
    data : str, Path, Competition or None
        Competition directory (``train_set.npy``, ``train_labels.csv``, ``test_set.npy``,
        ``test_pairs.csv``; ``solution.csv`` and ``train_meta.csv`` optional); None: the
        embedded default (:func:`metricbench.workflows.data.default_data_dir`).
    params : dict, optional
        Parameters of the metric; text values are typed (:mod:`metricbench.params`).
    norm : {"s-norm", "as-norm"}, optional
        Score normalisation against a train cohort.
    similarity : bool
        Submit scores (larger = more alike) instead of distances.
    validate : bool
        Report the identity-disjoint validation AUROC (and the sqeuclidean baseline on the same pairs).
    holdout : float
        Share of train identities held out for validation, in (0, 1).
    val_pairs : int
        Validation pairs (half same identity), at least 2.
    seed : int
        Seed of the validation split and pairs (and of the normalisation cohort).
    out : str or Path, optional
        Submission CSV (``Id,Predicted``) to write, atomically; None writes nothing (the
        predictions are in the result).
    overwrite : bool
        Allow replacing an existing ``out`` (or ``save_metric``).
    save_metric : str or Path, optional
        Also save the fitted metric (``.npz``) here.
    progress : ProgressHook, optional
        Receives each step (validation, fitting, scoring); the library prints nothing.
    engine : metricbench.engines engine, optional
        Compute on this engine (for example a Dask cluster,
        :func:`metricbench.engines.get_engine`): the test pairs are scored there, and a metric
        fitted from sufficient statistics (:data:`metricbench.engines.stats.STATS_METRICS`) is
        fitted, validation and ``auto`` search included, from statistics gathered there by
        map-reduce over blocks of the train file (only held-out pairs' rows are read here);
        other metrics fit in this process. None: everything in this process.

    Returns
    -------
    ScoreResult

    Raises
    ------
    UnknownMetricError, ParameterError
        An unknown metric or parameter, or a parameter value of the wrong type.
    OutputPathError, OutputExistsError
        ``out`` or ``save_metric`` cannot be written, or exists and ``overwrite`` is False.
    InputError
        Anything else wrong with the inputs (one line naming the file).
    """
    from metricbench.evaluation.verification import auroc as roc_auc
    from metricbench.model_selection import fit_kwargs, validate_and_fit, validate_metric

    info = metric_info(metric)
    name = info.name
    raw = dict(params or {})
    texts = [f"{k}={v}" for k, v in raw.items() if isinstance(v, str)]
    typed = {**{k: v for k, v in raw.items() if not isinstance(v, str)}, **parse_metric_params(name, texts)}

    check_params(name, typed)
    if norm is not None and norm not in NORMS:
        raise InputError(f"unknown score normalisation {norm!r}; valid: {', '.join(NORMS)}")
    if validate:
        check_split_settings(holdout, val_pairs)
    if out is not None:
        out = check_output_file(out, overwrite=overwrite)
    if save_metric is not None:
        check_output_file(save_metric, overwrite=overwrite)

    def build():
        if norm is None:
            return get_metric(name, **typed)
        from metricbench.learn.norm import apply_norm

        return apply_norm(name, norm, metric_params=typed or None, seed=seed)

    build()  # a parameter the constructor refuses fails here, before the data is read
    hook = progress or ProgressHook()
    with step(hook, f"loading {data if data is not None else 'the embedded default competition'}"):
        comp = open_competition(data)
    Xtr, ytr, groups = comp.train_X, comp.train_y, comp.train_groups
    pairs = comp.pairs

    validation = None
    m = None
    stats_engine = None
    if engine is not None:
        stats_engine = EngineOnPath(engine, comp.file("train_set.npy")) if hasattr(comp, "file") else engine
    on_engine = False
    if validate:
        with step(hook, f"validating {name} on held-out identities (fit on the others), then fitting it on all rows"):
            images = comp.train_images
            # one pass over the rows for both when the metric is fitted from statistics
            val, m = validate_and_fit(
                build(), Xtr, ytr, holdout=holdout, random_state=seed, n_pairs=val_pairs, variants=groups,
                images=images, engine=stats_engine,
            )
            on_engine = stats_engine is not None and bool(val.extra.get("statistics_shared"))
            base = validate_metric(
                "sqeuclidean", Xtr, ytr, holdout=holdout, random_state=seed, n_pairs=val_pairs, variants=groups,
                images=images,
            )
        validation = Validation(
            auroc=float(val.auroc), baseline_auroc=float(base.auroc), n_pairs=int(val.n_pairs),
            n_fit_identities=int(val.n_fit_identities), n_held_out_identities=int(val.n_val_identities),
            cross_groups=list(val.cross_groups) if val.cross_groups else None, seed=seed, holdout=holdout,
            chosen=inner_selection_label(val.chosen), fit_seconds=float(val.fit_seconds),
            score_seconds=float(val.score_seconds),
        )

    if m is None:
        m = build()
        with step(hook, f"fitting {name} on {Xtr.shape[0]} x {Xtr.shape[1]} train embeddings") as st:
            if stats_engine is None:
                m.fit(Xtr, ytr, **fit_kwargs(m, variants=groups, images=comp.train_images))
            else:
                m, on_engine = fit_on_engine(stats_engine, m, Xtr, ytr, variants=groups, images=comp.train_images)
        fit_seconds = st.seconds
    else:
        fit_seconds = float(val.extra["final_fit_seconds"])
    chosen = inner_selection_label(m.describe())
    i1 = pairs["index1"].to_numpy()
    i2 = pairs["index2"].to_numpy()
    with step(hook, f"scoring {len(pairs)} test pairs", total=len(pairs)) as st:
        if engine is None:
            dist = paired_distance_chunked(m, comp.test_X, i1, i2, hook)
        else:
            dist = pair_distances_on(engine, m, comp.test_X, i1, i2)
    score_seconds = st.seconds
    pred = -dist if similarity else dist
    if out is not None:
        write_submission(out, pairs["Id"].to_numpy(), pred)

    test = None
    if comp.solution is not None:
        base_d = get_metric("sqeuclidean").pair_distance(comp.test_X, i1, i2)
        test = TestScore(auroc=float(roc_auc(comp.solution, -dist)),
                         baseline_auroc=float(roc_auc(comp.solution, -base_d)))
    saved = None
    if save_metric is not None and m.learns:
        saved = str(m.save(save_metric))

    return ScoreResult(
        metric=name, params=typed, norm=norm, data=str(getattr(comp, "path", data)), n_train=int(Xtr.shape[0]),
        n_features=int(Xtr.shape[1]), n_test_pairs=int(len(pairs)), seed=seed, similarity=similarity,
        validation=validation, fit_seconds=fit_seconds, score_seconds=score_seconds, chosen=chosen, test=test,
        submission=None if out is None else str(out), saved_metric=saved, predictions=pred,
        fitted_on=(f"statistics gathered on the {engine.name} engine (map-reduce over row blocks)"
                   if on_engine else "this process"),
    )


__all__ = ["NORMS", "ScoreResult", "TestScore", "Validation", "inner_selection_label", "score_competition"]
