"""Integer codes of the distance kernels (no numba import: the registry reads them at start-up)."""

SQEUCLIDEAN = 0
EUCLIDEAN = 1
COSINE = 2
ANGULAR = 3
MANHATTAN = 4
CHEBYSHEV = 5
MINKOWSKI = 6
CANBERRA = 7
BRAYCURTIS = 8
CORRELATION = 9
SEUCLIDEAN = 10
MAHALANOBIS = 11
YULE = 12
ROGERSTANIMOTO = 13
DICE = 14
JACCARD = 15
HAMMING = 16
RUSSELLRAO = 17
SOKALSNEATH = 18
TANIMOTO = 19
DOT = 20

CODES = {
    "sqeuclidean": SQEUCLIDEAN,
    "euclidean": EUCLIDEAN,
    "cosine": COSINE,
    "angular": ANGULAR,
    "manhattan": MANHATTAN,
    "chebyshev": CHEBYSHEV,
    "minkowski": MINKOWSKI,
    "canberra": CANBERRA,
    "braycurtis": BRAYCURTIS,
    "correlation": CORRELATION,
    "seuclidean": SEUCLIDEAN,
    "mahalanobis": MAHALANOBIS,
    "yule": YULE,
    "rogerstanimoto": ROGERSTANIMOTO,
    "dice": DICE,
    "jaccard": JACCARD,
    "hamming": HAMMING,
    "russellrao": RUSSELLRAO,
    "sokalsneath": SOKALSNEATH,
    "tanimoto": TANIMOTO,
    "dot": DOT,
}

__all__ = [n for n in dir() if n.isupper()]
