"""Retrieve: exact top-k gallery rows per query, a ranked submission, and retrieval measures."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from metricbench.engines import search_on
from metricbench.errors import InputError
from metricbench.evaluation.retrieval import retrieval_metrics_from_embeddings, search
from metricbench.evaluation.retrieval import search_identities
from metricbench.io import atomic_write_text, load_embeddings, load_labels
from metricbench.io.loaders import harmonise_labels
from metricbench.registry import check_params, get_metric, metric_info, parse_metric_params
from metricbench.workflows.data import open_competition
from metricbench.workflows.outputs import check_output_file
from metricbench.workflows.progress import ProgressHook, step
from metricbench.workflows.score import inner_selection_label

FORMATS = ("csv", "json")


def write_ranking(path, query_ids, indices, *, gallery_names=None, fmt: str = "csv", entries=None) -> Path:
    """Write a ranking atomically: CSV ``QueryId,Predicted`` (gallery entries best first, space-separated)
    or JSON ``{query id: [gallery entries, ...]}``.

    Parameters
    ----------
    path : str or Path
    query_ids : array-like of str, shape (n_queries,)
    indices : ndarray of int, shape (n_queries, k)
        Gallery rows, best first.
    gallery_names : array-like of str, shape (n_gallery,), optional
        Written instead of the row numbers.
    fmt : {"csv", "json"}
    entries : array-like of str, shape (n_queries, k), optional
        What to write instead of gallery rows (identities, say); empty or None cells are left out.

    Returns
    -------
    Path
    """
    if fmt not in FORMATS:
        raise InputError(f"unknown ranking format {fmt!r}; valid: {', '.join(FORMATS)}")
    idx = np.asarray(indices)
    names = None if gallery_names is None else np.asarray(gallery_names).astype(str)
    qids = np.asarray(query_ids).astype(str)

    def row(q):
        if entries is not None:
            return [str(e) for e in entries[q] if e is not None and str(e) != ""]
        return names[idx[q]].tolist() if names is not None else idx[q].tolist()

    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["QueryId", "Predicted"])
        for q in range(len(qids)):
            w.writerow([qids[q], " ".join(map(str, row(q)))])
        text = buf.getvalue()
    else:
        obj = {qids[q]: row(q) for q in range(len(qids))}
        text = json.dumps(obj) + "\n"
    return atomic_write_text(path, text)


@dataclass
class RetrieveResult:
    """Every figure of :func:`retrieve` (what ``metricbench retrieve`` prints and ``--json`` writes)."""

    metric: str
    params: dict
    k: int
    n_queries: int
    n_gallery: int
    exclude_self: bool
    search_seconds: float
    output: str | None
    format: str
    fit_seconds: float | None = None
    chosen: str = ""
    fitted_on: str = ""
    backend: str = "metricbench"
    exact: bool = True
    measures: dict | None = None
    indices: np.ndarray | None = field(default=None, repr=False)
    identities: np.ndarray | None = field(default=None, repr=False)
    distances: np.ndarray | None = field(default=None, repr=False)

    @property
    def ks(self) -> list[int]:
        return sorted({1, 5, 10, int(self.k)})

    def to_json(self) -> dict:
        from metricbench.workflows.compare import json_safe

        out = {"metric": self.metric, "params": self.params, "k": self.k, "n_queries": self.n_queries,
               "n_gallery": self.n_gallery, "exclude_self": self.exclude_self}
        if self.fit_seconds is not None:
            out["fit_seconds"] = self.fit_seconds
            out["fitted_on"] = self.fitted_on
        if self.chosen:
            out["chosen"] = self.chosen
        out["backend"] = self.backend
        out["exact"] = self.exact
        out["search_seconds"] = self.search_seconds
        out["output"] = self.output
        out["format"] = self.format
        if self.measures is not None:
            out["measures"] = self.measures
        return json_safe(out)


def _ranked_by(m) -> tuple:
    """``(distance, params)``: the fixed distance a search under the unfitted metric ``m`` ranks
    by (after its linear map, for a linear learned metric or a search over one), or
    ``(None, {})`` for a metric ranked from its ``pair_distance``."""
    est = m.estimator if hasattr(m, "param_grid") else m  # a search ranks as the metric it searches
    form = est.fixed_form() if hasattr(est, "fixed_form") else None  # needs no fit (the map is not called)
    return (None, {}) if form is None else (form[1], dict(form[2]))


def _read_side(path, n_rows: int):
    y, df = load_labels(path, n_rows=n_rows, extra_columns=True)
    paths = df["path"].astype(str).to_numpy() if "path" in df.columns else None
    return y, paths


def retrieve(
    query,
    gallery,
    *,
    metric: str = "cosine",
    k: int = 10,
    params: dict | None = None,
    query_labels=None,
    gallery_labels=None,
    names: bool = False,
    identities: bool = False,
    data=None,
    exclude_self: bool = False,
    working_memory=None,
    out=None,
    fmt: str = "csv",
    overwrite: bool = False,
    progress: ProgressHook | None = None,
    backend: str = "metricbench",
    engine=None,
) -> RetrieveResult:
    """Rank the gallery for every query (exact, chunked), write the top ``k``, measure with labels.

    What ``metricbench retrieve`` runs. Names, parameters, settings and the output path are checked
    before anything is read.

    Parameters
    ----------
    query, gallery : str, Path or ndarray of shape (n, d)
        Embeddings (``.npy`` paths are memory-mapped).
    metric : str
        A name from the table; a learned metric is fitted on the train set of ``data``.
    k : int
        Gallery rows kept per query, at least 1.
    params : dict, optional
        Parameters of the metric; text values are typed.
    query_labels, gallery_labels : str or Path, optional
        ``index,class[,path]`` CSVs; with both, retrieval measures are computed (top-1/5/10
        accuracy, precision@1, R-precision, mAP@R, mAP).
    names : bool
        Write the labels' ``path`` column instead of row numbers (needs ``gallery_labels`` with it;
        for the query ids only, with ``identities``).
    identities : bool
        Write the ``k`` nearest distinct gallery identities (the class column of ``gallery_labels``)
        instead of gallery rows (:func:`metricbench.evaluation.retrieval.search_identities`).
    data : str, Path or Competition, optional
        Competition whose train set fits a learned metric.
    exclude_self : bool
        Query and gallery are the same rows: query ``i`` never returns gallery row ``i``.
    working_memory : float, optional
        MiB of one query x gallery distance block.
    out : str or Path, optional
        Ranking file; None writes nothing (the indices are in the result).
    fmt : {"csv", "json"}
    overwrite : bool
        Allow replacing an existing ``out``.
    progress : ProgressHook, optional
    backend : {"metricbench", "faiss"}
        ``"faiss"``: faiss-cpu's flat index (the ``faiss`` extra; fixed inner-product / L2
        distances and linear learned metrics), float32 and not exact on near-ties; the result
        says which ran (``backend``, ``exact``).
    engine : metricbench.engines engine, optional
        Search on this engine (for example a Dask cluster, :func:`metricbench.engines.get_engine`)
        instead of ``backend``; fixed distances and linear learned metrics. A Dask engine with
        ``backend="faiss"`` is refused (faiss runs on this machine only).

    Returns
    -------
    RetrieveResult

    Raises
    ------
    UnknownMetricError, ParameterError, OutputPathError, OutputExistsError, InputError
    """
    info = metric_info(metric)
    name = info.name
    raw = dict(params or {})
    texts = [f"{kk}={v}" for kk, v in raw.items() if isinstance(v, str)]
    typed = {**{kk: v for kk, v in raw.items() if not isinstance(v, str)}, **parse_metric_params(name, texts)}
    check_params(name, typed)
    if backend not in ("metricbench", "faiss"):
        raise InputError(f"unknown top-k backend {backend!r}; valid: metricbench, faiss")
    if backend == "faiss" and engine is not None and getattr(engine, "name", "local") != "local":
        raise InputError(f"the faiss backend searches on this machine, the {engine.name} engine on its workers "
                         "with metricbench's exact top-k: choose one", param="backend")
    if fmt not in FORMATS:
        raise InputError(f"unknown ranking format {fmt!r}; valid: {', '.join(FORMATS)}")
    if int(k) < 1:
        raise InputError(f"k must be at least 1, got {k}")
    if (query_labels is None) != (gallery_labels is None) and not names:
        raise InputError("retrieval measures need both the query labels and the gallery labels")
    if identities and gallery_labels is None:
        raise InputError("ranking identities needs gallery labels (index,class: the class column names them)")
    if names and gallery_labels is None and not identities:
        raise InputError("writing names needs gallery labels with a path column (index,class,path)")
    m = get_metric(name, **typed)
    if backend == "faiss":  # a distance faiss cannot serve fails now, not after loading and fitting
        from metricbench.distances.topk import check_faiss  # numba kernels: loaded when used

        check_faiss(*_ranked_by(m))
    learns = info.kind == "learned" or m.learns
    if learns and data is None:
        raise InputError(f"metric {name!r} learns from labelled data: give a competition whose train set fits it")
    # the competition directory is checked (it opens lazily) before the embeddings are read
    comp = open_competition(data, validate=False) if learns else None
    if out is not None:
        out = check_output_file(out, overwrite=overwrite)

    with step(progress, "loading the query and gallery embeddings"):
        Q = load_embeddings(query) if not isinstance(query, np.ndarray) else query
        G = load_embeddings(gallery) if not isinstance(gallery, np.ndarray) else gallery
        if Q.ndim != 2 or G.ndim != 2:
            raise InputError(f"query and gallery must be 2-D, got shapes {Q.shape} and {G.shape}")
        if Q.shape[1] != G.shape[1]:
            raise InputError(
                f"{query} is {Q.shape[1]}-D but {gallery} is {G.shape[1]}-D; both must come from the same network"
            )
        if exclude_self and Q.shape[0] != G.shape[0]:
            raise InputError(f"excluding self needs query and gallery of the same rows ({Q.shape[0]} vs {G.shape[0]})")
        yq = qpaths = yg = gpaths = None
        if query_labels is not None:
            yq, qpaths = _read_side(query_labels, Q.shape[0])
        if gallery_labels is not None:
            yg, gpaths = _read_side(gallery_labels, G.shape[0])
        if yq is not None and yg is not None:  # 1 in one file and "1.0" in the other name one class

            yq, yg = harmonise_labels(yq, yg, str(query_labels), str(gallery_labels))
        if names and gpaths is None and not identities:
            raise InputError(f"{gallery_labels}: no path column, so names cannot be written (index,class,path)")

    result = RetrieveResult(metric=name, params=typed, k=int(k), n_queries=int(Q.shape[0]), n_gallery=int(G.shape[0]),
                            exclude_self=bool(exclude_self), search_seconds=0.0, output=None, format=fmt)
    if learns:
        Xtr, ytr, groups = comp.train_X, comp.train_y, comp.train_groups
        if Xtr.shape[1] != Q.shape[1]:
            raise InputError(f"{data}: train embeddings are {Xtr.shape[1]}-D but the queries are {Q.shape[1]}-D")
        with step(progress, f"fitting {name} on {Xtr.shape[0]} train rows") as st:
            m.fit(Xtr, ytr, **({"groups": groups} if groups is not None else {}))
        result.fit_seconds = st.seconds
        result.fitted_on = f"{Xtr.shape[0]} train rows of {comp.path}"

        result.chosen = inner_selection_label(m.describe())

    with step(progress, f"searching the top {k} of {G.shape[0]} gallery rows for {Q.shape[0]} queries") as st:
        if engine is None:
            found = search(Q, G, k, metric=m, exclude_self=exclude_self, working_memory=working_memory,
                           backend=backend)
        else:
            found = search_on(engine, m, Q, G, k, exclude_self=exclude_self)
        idx, dist = found
    result.search_seconds = st.seconds
    result.backend = getattr(found, "backend", "metricbench" if engine is None else f"{engine.name} engine")
    result.exact = getattr(found, "exact", True)
    result.indices, result.distances = idx, dist
    if identities:
        with step(progress, f"ranking the {k} nearest distinct identities"):
            ranked, _ = search_identities(Q, G, yg, k, metric=m, exclude_self=exclude_self,
                                          working_memory=working_memory)
        result.identities = ranked

    if out is not None:
        qids = qpaths if (names and qpaths is not None) else np.arange(Q.shape[0]).astype(str)
        write_ranking(out, qids, idx, gallery_names=gpaths if (names and not identities) else None, fmt=fmt,
                      entries=result.identities)
        result.output = str(out)

    if yq is not None and yg is not None:
        with step(progress, "retrieval measures (exact ranks over the whole gallery)"):
            rep = retrieval_metrics_from_embeddings(
                Q, G, yq, yg, metric=m, ks=result.ks, exclude_self=exclude_self, working_memory=working_memory,
            )
        result.measures = {key: v for key, v in rep.items() if key != "per_query"}
    return result


__all__ = ["FORMATS", "RetrieveResult", "retrieve", "write_ranking"]
