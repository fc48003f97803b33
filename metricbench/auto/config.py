"""The configuration ``metricbench auto`` chooses: one metric or a fusion of a few, saved as JSON.

A configuration is a plain dictionary (what the JSON file holds)::

    {
      "metricbench_config": 1,
      "components": [
        {"metric": "learned-cosine", "params": {"n_components": 64, "seed": 0}, "norm": "as-norm"},
        {"metric": "verifier", "params": {"n_components": 48, "seed": 0}, "norm": null}
      ],
      "fusion": {"method": "mean", "weights": [0.5, 0.5]},
      "seed": 0,
      "selection": {...}
    }

``fusion`` is ``null`` for a single component. A fused score is ``sum_j w_j z_j`` where
``z_j`` is component ``j``'s pair score standardised over the pairs being scored (its mean
and standard deviation over those pairs; no label is used), so the same rule applies on
inner validation, on the outer fold and on the test pairs. ``selection`` is information
only (how the configuration was chosen and how good it was judged); it does not change the
scores. :func:`fit_config` fits a configuration and :func:`score_config` re-runs it on a
competition exactly as ``metricbench auto`` did, which is what ``metricbench score --config
FILE`` calls.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from metricbench.errors import InputError
from metricbench.io.atomic import atomic_write_text
from metricbench.registry import get_metric, metric_info

#: version of the configuration format
CONFIG_VERSION = 1
_NORMS = (None, "s-norm", "as-norm")


def component(metric: str, params: dict | None = None, norm: str | None = None) -> dict:
    """One component of a configuration: a registered metric, its parameters, optional score normalisation."""
    if norm not in _NORMS:
        raise InputError(f"config: norm must be null, 's-norm' or 'as-norm', got {norm!r}")
    return {"metric": str(metric), "params": dict(params or {}), "norm": norm}


def make_config(components: list[dict], *, fusion: dict | None = None, seed: int = 0, selection=None) -> dict:
    """A configuration dictionary (checked)."""
    cfg = {
        "metricbench_config": CONFIG_VERSION,
        "components": [component(c["metric"], c.get("params"), c.get("norm")) for c in components],
        "fusion": None if fusion is None else {"method": str(fusion["method"]),
                                               "weights": [float(w) for w in fusion["weights"]]},
        "seed": int(seed),
    }
    if selection is not None:
        cfg["selection"] = selection
    return check_config(cfg)


def check_config(cfg, *, where: str = "config") -> dict:
    """Check a configuration's structure; raise :class:`InputError` with one line naming the fault.

    Raises
    ------
    InputError
        Not a mapping, a wrong version, no components, an unknown metric name, a bad norm,
        fusion weights that do not match the components.
    """
    if not isinstance(cfg, dict):
        raise InputError(f"{where}: expected a JSON object, got {type(cfg).__name__}")
    if cfg.get("metricbench_config") != CONFIG_VERSION:
        raise InputError(f"{where}: not a metricbench configuration (need \"metricbench_config\": {CONFIG_VERSION})")
    comps = cfg.get("components")
    if not isinstance(comps, list) or not comps:
        raise InputError(f"{where}: \"components\" must be a non-empty list")
    for i, c in enumerate(comps):
        if not isinstance(c, dict) or not isinstance(c.get("metric"), str):
            raise InputError(f"{where}: component {i} needs a \"metric\" name")
        metric_info(c["metric"])  # unknown names fail with the registry's suggestion
        if not isinstance(c.get("params", {}), dict):
            raise InputError(f"{where}: component {i}: \"params\" must be an object")
        if c.get("norm") not in _NORMS:
            raise InputError(f"{where}: component {i}: norm must be null, 's-norm' or 'as-norm'")
    fus = cfg.get("fusion")
    if fus is None:
        if len(comps) != 1:
            raise InputError(f"{where}: {len(comps)} components need a \"fusion\" entry")
    else:
        if not isinstance(fus, dict) or fus.get("method") not in ("mean", "logistic"):
            raise InputError(f"{where}: fusion method must be 'mean' or 'logistic'")
        w = fus.get("weights")
        if not isinstance(w, list) or len(w) != len(comps) or not all(np.isfinite(np.asarray(w, float))):
            raise InputError(f"{where}: fusion needs one finite weight per component ({len(comps)})")
    return cfg


def load_config(path) -> dict:
    """Read and check a configuration JSON file.

    Raises
    ------
    InputError
        The file is missing, is not JSON, or is not a valid configuration.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: configuration file not found")
    try:
        cfg = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: not valid JSON ({e})") from None
    return check_config(cfg, where=str(path))


def save_config(cfg: dict, path) -> Path:
    """Write a configuration as JSON, atomically."""
    check_config(cfg)
    return atomic_write_text(Path(path), json.dumps(cfg, indent=2, default=_json_default) + "\n")


def _json_default(o):
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, tuple):
        return list(o)
    return str(o)


def label(c: dict) -> str:
    """A short readable name of one component: ``verifier(n_components=48)+as-norm``."""
    shown = {k: v for k, v in c.get("params", {}).items() if k != "seed"}
    args = ", ".join(f"{k}={_fmt(v)}" for k, v in shown.items())
    return f"{c['metric']}" + (f"({args})" if args else "") + (f"+{c['norm']}" if c.get("norm") else "")


def config_label(cfg: dict) -> str:
    """A readable name of a whole configuration."""
    if cfg.get("fusion") is None:
        return label(cfg["components"][0])
    parts = " + ".join(label(c) for c in cfg["components"])
    return f"{cfg['fusion']['method']} fusion of {parts}"


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.3g}"
    return str(v)


# -- building, fitting, scoring -------------------------------------------------------------------------
def build_metric(c: dict):
    """The unfitted metric of one component (with its score normalisation, if any)."""
    m = get_metric(c["metric"], **dict(c.get("params") or {}))
    if c.get("norm"):
        from metricbench.learn.norm import apply_norm

        seed = int(dict(c.get("params") or {}).get("seed", 0))
        m = apply_norm(m, c["norm"], seed=seed)
    return m


def fit_metric(m, X, y, groups=None):
    """Fit ``m`` on rows ``X`` with labels ``y`` (and ``groups`` where the metric learns)."""
    if groups is not None and getattr(m, "learns", False):
        return m.fit(X, y, groups=groups)
    return m.fit(X, y)


def standardize(s) -> np.ndarray:
    """Scores standardised over the pairs given (mean 0, standard deviation 1; constant scores give 0)."""
    s = np.asarray(s, dtype=np.float64)
    sd = s.std()
    return (s - s.mean()) / (sd if sd > 0 else 1.0)


def combine(scores: list, fusion: dict | None) -> np.ndarray:
    """The configuration's score from its components' pair scores (one array per component)."""
    if fusion is None:
        return np.asarray(scores[0], dtype=np.float64)
    w = np.asarray(fusion["weights"], dtype=np.float64)
    out = np.zeros(np.asarray(scores[0]).shape[0])
    for wj, s in zip(w, scores):  # fixed order: the fused score is as symmetric as its parts
        out += wj * standardize(s)
    return out


@dataclass
class FittedConfig:
    """A configuration fitted on some train rows: ``pair_score`` gives its scores (larger = more alike)."""

    config: dict
    metrics: list
    fit_seconds: list = field(default_factory=list)

    def pair_score(self, X, index1, index2) -> np.ndarray:
        """Scores of the pairs ``(index1[i], index2[i])`` of rows of ``X``, shape ``(n_pairs,)``."""
        return combine([m.pair_score(X, index1, index2) for m in self.metrics], self.config.get("fusion"))

    def describe(self) -> list[str]:
        return [m.describe() for m in self.metrics]


def fit_config(cfg: dict, X, y, groups=None, *, progress=None, build=None) -> FittedConfig:
    """Fit every component of ``cfg`` on ``X``, ``y`` (``groups``: variant tag per row, optional).

    Parameters
    ----------
    cfg : dict
        A configuration (see the module docstring).
    X : ndarray of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
    groups : array-like of shape (n_samples,), optional
    progress : callable, optional
        Called as ``progress(i, n, label)`` before component ``i`` of ``n`` is fitted.
    build : callable, optional
        ``build(component) -> metric`` instead of :func:`build_metric` (metrics that are not
        registered, as in tests); the configuration is then not checked against the registry.

    Returns
    -------
    FittedConfig
    """
    if build is None:
        check_config(cfg)
        build = build_metric
    metrics, secs = [], []
    comps = cfg["components"]
    for i, c in enumerate(comps):
        if progress is not None:
            progress(i, len(comps), label(c))
        t0 = time.perf_counter()
        metrics.append(fit_metric(build(c), X, y, groups))
        secs.append(time.perf_counter() - t0)
    return FittedConfig(cfg, metrics, secs)


@dataclass
class ConfigRun:
    """What :func:`score_config` did: the scores of the test pairs and the figures around them."""

    config: dict
    ids: np.ndarray
    score: np.ndarray
    fit_seconds: float
    score_seconds: float
    test_auroc: float | None = None
    chosen: list = field(default_factory=list)


def score_config(cfg: dict, competition, *, progress=None) -> ConfigRun:
    """Fit ``cfg`` on all train rows of ``competition`` and score its test pairs.

    ``competition`` is a :class:`metricbench.io.Competition`. When it has a ``solution.csv``
    the test AUROC is filled in (for information; nothing is chosen with it).
    """
    from metricbench.model_selection import pair_auroc

    t0 = time.perf_counter()
    fitted = fit_config(cfg, competition.train_X, competition.train_y, competition.train_groups, progress=progress)
    t1 = time.perf_counter()
    pairs = competition.pairs
    s = fitted.pair_score(competition.test_X, pairs["index1"].to_numpy(), pairs["index2"].to_numpy())
    t2 = time.perf_counter()
    sol = competition.solution
    return ConfigRun(
        config=cfg,
        ids=pairs["Id"].to_numpy(),
        score=s,
        fit_seconds=t1 - t0,
        score_seconds=t2 - t1,
        test_auroc=None if sol is None else pair_auroc(sol, s),
        chosen=fitted.describe(),
    )


__all__ = [
    "CONFIG_VERSION",
    "ConfigRun",
    "FittedConfig",
    "build_metric",
    "check_config",
    "combine",
    "component",
    "config_label",
    "fit_config",
    "fit_metric",
    "label",
    "load_config",
    "make_config",
    "save_config",
    "score_config",
    "standardize",
]
