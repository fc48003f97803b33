"""The registry of fixed distances: the only source of their names.

``DISTANCES`` maps a name (aliases are extra keys) to a :class:`Distance`. The
``proxy`` field names a cheaper distance with the same ordering and the
monotone correction that recovers the real value (``euclidean`` is
``sqrt(sqeuclidean)``), used by top-k search where only the ranking matters.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from metricbench.distances import codes as K


@dataclass(frozen=True)
class Distance:
    name: str
    code: int
    summary: str
    params: tuple = ()
    scipy: str | None = None  # the scipy.spatial.distance function it matches, if any
    proxy: str | None = None
    correction: object = None
    aliases: tuple = field(default=())


_LIST = [
    Distance("sqeuclidean", K.SQEUCLIDEAN, "squared Euclidean distance (the competition baseline)", scipy="sqeuclidean"),
    Distance("euclidean", K.EUCLIDEAN, "Euclidean (L2) distance", scipy="euclidean", proxy="sqeuclidean",
             correction=math.sqrt, aliases=("l2",)),
    Distance("cosine", K.COSINE, "1 - cosine similarity; zero vectors: 0 to each other, 1 to others", scipy="cosine"),
    Distance("angular", K.ANGULAR, "angle between vectors / pi, in [0, 1]", proxy="cosine",
             correction=lambda d: math.acos(min(1.0, max(-1.0, 1.0 - d))) / math.pi),
    Distance("manhattan", K.MANHATTAN, "Manhattan (L1, city-block) distance", scipy="cityblock",
             aliases=("cityblock", "l1")),
    Distance("chebyshev", K.CHEBYSHEV, "Chebyshev (L-infinity) distance", scipy="chebyshev", aliases=("linf",)),
    Distance("minkowski", K.MINKOWSKI, "Minkowski distance of order p (parameter p, e.g. p=3)", params=("p",), scipy="minkowski"),
    Distance("canberra", K.CANBERRA, "Canberra distance, 0/0 terms count 0", scipy="canberra"),
    Distance("braycurtis", K.BRAYCURTIS, "Bray-Curtis dissimilarity", scipy="braycurtis"),
    Distance("correlation", K.CORRELATION, "1 - Pearson correlation (centred cosine)", scipy="correlation"),
    Distance("seuclidean", K.SEUCLIDEAN, "standardised Euclidean; V = per-dimension variances (default: of the data)",
             params=("V",), scipy="seuclidean"),
    Distance("mahalanobis", K.MAHALANOBIS, "Mahalanobis with VI (default: inverse covariance of the data)",
             params=("VI",), scipy="mahalanobis"),
    Distance("yule", K.YULE, "Yule dissimilarity, scipy's definition on the raw values", scipy="yule"),
    Distance("rogerstanimoto", K.ROGERSTANIMOTO, "Rogers-Tanimoto dissimilarity, scipy's definition on raw values",
             scipy="rogerstanimoto"),
    Distance("dice", K.DICE, "Dice dissimilarity, scipy's definition on raw values", scipy="dice"),
    Distance("jaccard", K.JACCARD, "Jaccard dissimilarity of the non-zero patterns", scipy="jaccard"),
    Distance("hamming", K.HAMMING, "fraction of unequal coordinates", scipy="hamming"),
    Distance("russellrao", K.RUSSELLRAO, "Russell-Rao dissimilarity, scipy's definition on raw values",
             scipy="russellrao"),
    Distance("sokalsneath", K.SOKALSNEATH, "Sokal-Sneath dissimilarity, scipy's definition on raw values",
             scipy="sokalsneath"),
    Distance("tanimoto", K.TANIMOTO, "Tanimoto distance for real vectors: 1 - x.y / (|x|^2 + |y|^2 - x.y)"),
    Distance("dot", K.DOT, "negative inner product (for L2-normalised embeddings)"),
]

#: canonical name -> Distance
DISTANCES: dict[str, Distance] = {d.name: d for d in _LIST}
#: every accepted spelling -> canonical name
ALIASES: dict[str, str] = {**{d.name: d.name for d in _LIST}, **{a: d.name for d in _LIST for a in d.aliases}}
