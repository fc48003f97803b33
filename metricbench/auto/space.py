"""What ``metricbench auto`` searches: metric families, their settings, their cost tier.

A :class:`Family` names a registered metric (or builds its own metric, for tests), a cost
tier (0 fixed distance, 1 closed form, 2 iterative, 3 heavy: cheap tiers are tried first),
the settings tried first (its defaults) and a function that asks an optuna trial for the
rest. Parameter names in the optuna study are prefixed by the family (``plda.n_components``)
so that the families' spaces never collide.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from metricbench.errors import InputError
from metricbench.registry import metric_info


@dataclass(frozen=True)
class Family:
    """One searchable metric family.

    Parameters
    ----------
    name : str
        Registered metric name (what the saved configuration names).
    tier : int
        Cost tier: 0 fixed distance, 1 closed form, 2 iterative, 3 heavy.
    suggest : callable
        ``suggest(trial, d) -> dict`` of metric parameters; ``trial`` is an optuna trial (or
        anything with ``suggest_categorical`` / ``suggest_float`` / ``suggest_int``), ``d``
        the embedding width. Parameter names must start with ``name + "."``.
    first : list of dict
        Optuna parameter settings (prefixed names) enqueued before any sampled trial.
    build : callable, optional
        ``build(params) -> metric`` for families that are not in the registry (tests); such a
        family cannot be saved as a configuration.
    """

    name: str
    tier: int
    suggest: Callable = field(compare=False)
    first: tuple = ()
    build: Callable | None = field(default=None, compare=False)

    def key(self, p: str) -> str:
        return f"{self.name}.{p}"

    def params_of(self, optuna_params: dict) -> dict:
        """Metric parameters from a trial's (prefixed) parameters."""
        pre = self.name + "."
        return {k[len(pre):]: v for k, v in optuna_params.items() if k.startswith(pre)}


def _dims(d: int, fracs) -> list[int]:
    return sorted({max(1, min(d, int(round(f * d)))) for f in fracs})


def _none(trial, d):
    return {}


def _whitened(trial, d):
    return {
        "n_components": trial.suggest_categorical("cosine-whitened.n_components", _dims(d, (0.25, 0.5, 0.75, 1.0))),
        "shrinkage": trial.suggest_float("cosine-whitened.shrinkage", 0.0, 1.0),
    }


def _wccn(trial, d):
    return {"shrinkage": trial.suggest_float("wccn-cosine.shrinkage", 0.0, 1.0)}


def _lda(trial, d):
    return {
        "n_components": trial.suggest_categorical("lda-cosine.n_components", _dims(d, (0.0625, 0.125, 0.25, 0.5))),
        "shrinkage": trial.suggest_float("lda-cosine.shrinkage", 0.0, 0.5),
    }


def _plda(trial, d):
    return {
        "n_components": trial.suggest_categorical("plda.n_components", _dims(d, (0.125, 0.25, 0.375, 0.5, 0.75))),
        "length_norm": trial.suggest_categorical("plda.length_norm", [False, True]),
    }


def _kissme(trial, d):
    return {"n_components": trial.suggest_categorical("kissme.n_components", _dims(d, (0.125, 0.25, 0.5, 0.75)))}


def _learned_cosine(trial, d):
    return {
        "n_components": trial.suggest_categorical("learned-cosine.n_components", _dims(d, (0.25, 0.375, 0.5, 0.75))),
        "learning_rate": trial.suggest_float("learned-cosine.learning_rate", 1e-4, 3e-3, log=True),
        "scale": trial.suggest_categorical("learned-cosine.scale", [5.0, 10.0, 20.0]),
        "n_hard": trial.suggest_categorical("learned-cosine.n_hard", [32, 64, 128]),
    }


def _verifier(trial, d):
    return {
        "n_components": trial.suggest_categorical("verifier.n_components", _dims(d, (0.25, 0.375, 0.5, 0.75))),
        "reduce": trial.suggest_categorical("verifier.reduce", ["lda", "learned-cosine"]),
        "C": trial.suggest_categorical("verifier.C", [0.01, 0.001, 0.1]),
    }


def default_families(d: int) -> list[Family]:
    """The families ``metricbench auto`` searches by default, for ``d``-dimensional embeddings.

    The first settings of each are its registry defaults where those are explicit, else
    sound explicit values (no inner ``auto`` search inside ``fit``).
    """
    half = max(1, d // 2)
    return [
        Family("sqeuclidean", 0, _none, ({},)),
        Family("cosine", 0, _none, ({},)),
        Family("cosine-whitened", 1, _whitened,
               ({"cosine-whitened.n_components": d, "cosine-whitened.shrinkage": 0.9},)),
        Family("wccn-cosine", 1, _wccn, ({"wccn-cosine.shrinkage": 0.5},)),
        Family("lda-cosine", 1, _lda,
               ({"lda-cosine.n_components": _dims(d, (0.125,))[0], "lda-cosine.shrinkage": 0.0},)),
        Family("plda", 1, _plda, ({"plda.n_components": half, "plda.length_norm": False},)),
        Family("kissme", 1, _kissme, ({"kissme.n_components": half},)),
        Family("learned-cosine", 2, _learned_cosine, ({
            "learned-cosine.n_components": half, "learned-cosine.learning_rate": 3e-4,
            "learned-cosine.scale": 10.0, "learned-cosine.n_hard": 64,
        },)),
        Family("verifier", 3, _verifier, ({
            "verifier.n_components": half, "verifier.reduce": "lda", "verifier.C": 0.01,
        },)),
    ]


def select_families(families: list[Family], names) -> list[Family]:
    """The families named in ``names`` (a list or a comma-separated string), in the order of ``families``.

    A registered metric that has no search space here is searched at its defaults only.

    Raises
    ------
    InputError
        An empty list, or a name that is not a registered metric.
    """
    if names is None:
        return list(families)
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    names = list(dict.fromkeys(names))
    if not names:
        raise InputError("auto: the metric list is empty")
    if "fusion" in names:
        raise InputError("auto: 'fusion' is not searched by name; auto fuses the best candidates itself")
    by_name = {f.name: f for f in families}
    out = []
    for n in names:
        if n in by_name:
            out.append(by_name[n])
        else:
            info = metric_info(n)  # unknown names fail here with a suggestion
            out.append(Family(n, 0 if info.kind == "distance" else 2, _none, ({},)))
    order = {f.name: i for i, f in enumerate(families)}
    return sorted(out, key=lambda f: (f.tier, order.get(f.name, len(order))))


__all__ = ["Family", "default_families", "select_families"]
