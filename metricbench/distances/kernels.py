"""numba scalar kernels: one distance between two vectors ``x`` and ``y``.

Every kernel accumulates in float64 whatever the input dtype, so results agree
with :mod:`scipy.spatial.distance` (which converts to float64) to ~1e-12.
Kernels never allocate. The parallel drivers in :mod:`.drivers` select a kernel
by an integer code (:data:`CODES`) rather than receiving a function object: a
jitted function that takes another jitted function as an argument cannot be
cached on disk by numba, and start-up time matters.

Conventions where scipy returns NaN (documented per kernel): a zero vector has
cosine distance 1 to any non-zero vector (scikit-learn's ``cosine_distances`` gives
the same) and 0 to another zero vector (so that ``d(x, x) = 0`` always holds), and
so on.

Floating point: the kernels are compiled with ``error_model="numpy"`` (a division
by zero gives inf or NaN, never an exception from compiled code) and :data:`FASTMATH`, the fast-math flags
that allow vectorised reductions (``reassoc``, ``contract``, ...) but *not* ``nnan``
/ ``ninf``: with those, LLVM assumes that no value is NaN or infinite and folds
every ``isinf`` test to false. Non-finite input is refused at the library's entry
points (:func:`metricbench.distances.api.check_finite`); within the kernels, sums
that overflow float64 (or underflow to zero) are recomputed on rescaled vectors, so
that a finite result is the true value and ``inf`` means the true value exceeds
float64's range (``sqeuclidean`` of rows far apart), never a lost digit.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from metricbench.distances.codes import *  # noqa: F403  (integer codes, compile-time constants)
from metricbench.distances.codes import CODES  # noqa: F401

#: LLVM fast-math flags of every kernel and driver: vectorisable, NaN/inf-aware
FASTMATH = {"nsz", "contract", "reassoc"}
#: outside [_TINY, _BIG] a sum of squares may have lost digits (underflow), or a product of two
#: of them may overflow or underflow: such cases are recomputed on rescaled vectors
_TINY = 1e-150
_BIG = 1e150


@njit(fastmath=FASTMATH, error_model="numpy", cache=True, inline="always")
def sqeuclidean(x, y):
    """sum_i (x_i - y_i)^2."""
    s = 0.0
    for i in range(x.shape[0]):
        d = np.float64(x[i]) - np.float64(y[i])
        s += d * d
    return s


@njit(fastmath=FASTMATH, error_model="numpy", cache=True)
def _euclidean_scaled(x, y):
    """sqrt(sum (x_i - y_i)^2) on differences divided by their largest magnitude."""
    m = 0.0
    for i in range(x.shape[0]):
        d = abs(np.float64(x[i]) - np.float64(y[i]))
        if d > m:
            m = d
    if m == 0.0 or m == np.inf:
        return m
    s = 0.0
    for i in range(x.shape[0]):
        d = (np.float64(x[i]) - np.float64(y[i])) / m
        s += d * d
    return m * math.sqrt(s)


@njit(fastmath=FASTMATH, error_model="numpy", cache=True, inline="always")
def euclidean(x, y):
    """sqrt(sum_i (x_i - y_i)^2), rescaled when the sum of squares overflows or underflows."""
    s = sqeuclidean(x, y)
    if _out_of_range(s):
        return _euclidean_scaled(x, y)
    return math.sqrt(s)


@njit(fastmath=FASTMATH, error_model="numpy", cache=True, inline="always")
def manhattan(x, y):
    """sum_i |x_i - y_i| (scipy's cityblock)."""
    s = 0.0
    for i in range(x.shape[0]):
        s += abs(np.float64(x[i]) - np.float64(y[i]))
    return s


@njit(fastmath=FASTMATH, error_model="numpy", cache=True, inline="always")
def chebyshev(x, y):
    """max_i |x_i - y_i|."""
    s = 0.0
    for i in range(x.shape[0]):
        d = abs(np.float64(x[i]) - np.float64(y[i]))
        if d > s:
            s = d
    return s


@njit(fastmath=FASTMATH, error_model="numpy", cache=True, inline="always")
def minkowski(x, y, p):
    """(sum_i |x_i - y_i|^p)^(1/p) for p > 0; p = inf is Chebyshev's max_i |x_i - y_i|.

    Computed as m (sum_i (|x_i - y_i| / m)^p)^(1/p) with m = max_i |x_i - y_i|, so
    that neither a large p nor large or tiny differences overflow or underflow.
    """
    m = chebyshev(x, y)
    if p == np.inf or m == 0.0 or m == np.inf:
        return m
    if p == 1.0:
        return manhattan(x, y)
    s = 0.0
    for i in range(x.shape[0]):
        s += (abs(np.float64(x[i]) - np.float64(y[i])) / m) ** p
    return m * s ** (1.0 / p)


@njit(fastmath=FASTMATH, error_model="numpy", cache=True, inline="always")
def _dots(x, y):
    xy = 0.0
    xx = 0.0
    yy = 0.0
    for i in range(x.shape[0]):
        a = np.float64(x[i])
        b = np.float64(y[i])
        xy += a * b
        xx += a * a
        yy += b * b
    return xy, xx, yy


@njit(fastmath=FASTMATH, error_model="numpy", cache=True)
def _dots_scaled(x, y, sx, sy):
    """_dots of x / sx and y / sy (sx, sy > 0)."""
    xy = 0.0
    xx = 0.0
    yy = 0.0
    for i in range(x.shape[0]):
        a = np.float64(x[i]) / sx
        b = np.float64(y[i]) / sy
        xy += a * b
        xx += a * a
        yy += b * b
    return xy, xx, yy


@njit(fastmath=FASTMATH, error_model="numpy", cache=True)
def _absmax(x):
    m = 0.0
    for i in range(x.shape[0]):
        a = abs(np.float64(x[i]))
        if a > m:
            m = a
    return m


@njit(fastmath=FASTMATH, error_model="numpy", cache=True, inline="always")
def _out_of_range(v):
    """A sum of squares that overflowed, or that may have underflowed (zero included: recheck)."""
    return v > _BIG or v < _TINY


@njit(fastmath=FASTMATH, error_model="numpy", cache=True)
def _dots_safe(x, y, common):
    """_dots after rescaling: each vector by its own largest magnitude, or both by the common one.

    Returns the dot products of the rescaled vectors; zero vectors stay zero. Only
    ratios that do not depend on the scale may be taken from the result.
    """
    mx = _absmax(x)
    my = _absmax(y)
    if common:
        mx = max(mx, my)
        my = mx
    return _dots_scaled(x, y, mx if mx > 0.0 else 1.0, my if my > 0.0 else 1.0)


@njit(fastmath=FASTMATH, error_model="numpy", cache=True, inline="always")
def cosine(x, y):
    """1 - x.y / (|x| |y|), clipped to [0, 2]; 0 if both vectors are zero, 1 if one is."""
    xy, xx, yy = _dots(x, y)
    if _out_of_range(xx) or _out_of_range(yy) or abs(xy) == np.inf:
        xy, xx, yy = _dots_safe(x, y, False)
    if xx == 0.0 and yy == 0.0:
        return 0.0
    if xx == 0.0 or yy == 0.0:
        return 1.0
    d = 1.0 - xy / math.sqrt(xx * yy)
    return min(max(d, 0.0), 2.0)


@njit(fastmath=FASTMATH, error_model="numpy", cache=True, inline="always")
def angular(x, y):
    """arccos(cosine similarity) / pi in [0, 1]; 0 if both zero, 0.5 if one is zero."""
    xy, xx, yy = _dots(x, y)
    if _out_of_range(xx) or _out_of_range(yy) or abs(xy) == np.inf:
        xy, xx, yy = _dots_safe(x, y, False)
    if xx == 0.0 and yy == 0.0:
        return 0.0
    if xx == 0.0 or yy == 0.0:
        return 0.5
    c = xy / math.sqrt(xx * yy)
    c = min(max(c, -1.0), 1.0)
    return math.acos(c) / math.pi


@njit(fastmath=FASTMATH, error_model="numpy", cache=True, inline="always")
def tanimoto(x, y):
    """Tanimoto distance for real vectors: 1 - x.y / (|x|^2 + |y|^2 - x.y); 0 if both zero."""
    xy, xx, yy = _dots(x, y)
    if _out_of_range(xx) or _out_of_range(yy) or abs(xy) == np.inf:
        xy, xx, yy = _dots_safe(x, y, True)  # the ratio is invariant under a common scale
    den = xx + yy - xy
    if den == 0.0:
        return 0.0
    return 1.0 - xy / den


@njit(fastmath=FASTMATH, error_model="numpy", cache=True, inline="always")
def dot(x, y):
    """-x.y (a 'distance' whose order is the inner product's, for normalised embeddings)."""
    xy, xx, yy = _dots(x, y)
    return -xy


@njit(fastmath=FASTMATH, error_model="numpy", cache=True)
def _centred_dots(x, y, sx, sy):
    """Dot products of x / sx and y / sy, each centred on its mean (a constant vector: exactly 0)."""
    n = x.shape[0]
    mx = 0.0
    my = 0.0
    cx = True
    cy = True
    for i in range(n):
        mx += np.float64(x[i]) / sx
        my += np.float64(y[i]) / sy
        cx = cx and x[i] == x[0]
        cy = cy and y[i] == y[0]
    mx = np.float64(x[0]) / sx if cx else mx / n
    my = np.float64(y[0]) / sy if cy else my / n
    xy = 0.0
    xx = 0.0
    yy = 0.0
    for i in range(n):
        a = np.float64(x[i]) / sx - mx
        b = np.float64(y[i]) / sy - my
        xy += a * b
        xx += a * a
        yy += b * b
    return xy, xx, yy


@njit(fastmath=FASTMATH, error_model="numpy", cache=True, inline="always")
def correlation(x, y):
    """1 - centred cosine, clipped to [0, 2]; constant vectors follow cosine's zero rule."""
    xy, xx, yy = _centred_dots(x, y, 1.0, 1.0)
    if _out_of_range(xx) or _out_of_range(yy) or abs(xy) == np.inf or xx != xx or yy != yy:
        mx = _absmax(x)
        my = _absmax(y)
        xy, xx, yy = _centred_dots(x, y, mx if mx > 0.0 else 1.0, my if my > 0.0 else 1.0)
    if xx == 0.0 and yy == 0.0:
        return 0.0
    if xx == 0.0 or yy == 0.0:
        return 1.0
    d = 1.0 - xy / math.sqrt(xx * yy)
    return min(max(d, 0.0), 2.0)


@njit(fastmath=FASTMATH, error_model="numpy", cache=True, inline="always")
def canberra(x, y):
    """sum_i |x_i - y_i| / (|x_i| + |y_i|), a 0/0 term counting as 0."""
    s = 0.0
    for i in range(x.shape[0]):
        a = np.float64(x[i])
        b = np.float64(y[i])
        den = abs(a) + abs(b)
        if den == np.inf:  # halving is exact here and keeps the term finite
            a *= 0.5
            b *= 0.5
            den = abs(a) + abs(b)
        if den > 0.0:
            s += abs(a - b) / den
    return s


@njit(fastmath=FASTMATH, error_model="numpy", cache=True, inline="always")
def braycurtis(x, y):
    """sum |x - y| / sum |x + y|; 0 if both sums are zero (scipy: NaN)."""
    num = 0.0
    den = 0.0
    for i in range(x.shape[0]):
        a = np.float64(x[i])
        b = np.float64(y[i])
        num += abs(a - b)
        den += abs(a + b)
    if num == np.inf or den == np.inf:  # the ratio is invariant under a common scale
        m = max(_absmax(x), _absmax(y))
        num = 0.0
        den = 0.0
        for i in range(x.shape[0]):
            a = np.float64(x[i]) / m
            b = np.float64(y[i]) / m
            num += abs(a - b)
            den += abs(a + b)
    if den == 0.0:
        return 0.0 if num == 0.0 else np.inf
    return num / den


@njit(fastmath=FASTMATH, error_model="numpy", cache=True, inline="always")
def seuclidean(x, y, w):
    """sqrt(sum_i (x_i - y_i)^2 / V_i); ``w`` holds 1 / V."""
    s = 0.0
    for i in range(x.shape[0]):
        d = np.float64(x[i]) - np.float64(y[i])
        s += d * d * w[i]
    if _out_of_range(s):
        m = 0.0
        for i in range(x.shape[0]):
            m = max(m, abs(np.float64(x[i]) - np.float64(y[i])) * math.sqrt(w[i]))
        if m == 0.0 or m == np.inf:
            return m
        s = 0.0
        for i in range(x.shape[0]):
            d = (np.float64(x[i]) - np.float64(y[i])) * math.sqrt(w[i]) / m
            s += d * d
        return m * math.sqrt(s)
    return math.sqrt(s)


@njit(fastmath=FASTMATH, error_model="numpy", cache=True, inline="always")
def _mahalanobis_sq(x, y, M, scale):
    n = x.shape[0]
    s = 0.0
    for i in range(n):
        di = (np.float64(x[i]) - np.float64(y[i])) / scale
        if di == 0.0:
            continue
        t = 0.0
        for j in range(n):
            t += M[i, j] * ((np.float64(x[j]) - np.float64(y[j])) / scale)
        s += di * t
    return max(s, 0.0)


@njit(fastmath=FASTMATH, error_model="numpy", cache=True, inline="always")
def mahalanobis(x, y, M):
    """sqrt((x - y)^T VI (x - y)), VI = ``M`` (symmetric PSD, checked at entry); no temporary vector."""
    s = _mahalanobis_sq(x, y, M, 1.0)
    if _out_of_range(s) or s != s:
        m = 0.0
        for i in range(x.shape[0]):
            m = max(m, abs(np.float64(x[i]) - np.float64(y[i])))
        if m == 0.0 or m == np.inf:
            return m
        return m * math.sqrt(_mahalanobis_sq(x, y, M, m))
    return math.sqrt(s)


@njit(fastmath=FASTMATH, error_model="numpy", cache=True, inline="always")
def _counts(x, y):
    """scipy's boolean counts on real input: ntt = sum x*y, ntf = sum x*(1-y), ... (float64)."""
    sx = 0.0
    sy = 0.0
    sxy = 0.0
    for i in range(x.shape[0]):
        a = np.float64(x[i])
        b = np.float64(y[i])
        sx += a
        sy += b
        sxy += a * b
    n = np.float64(x.shape[0])
    ntt = sxy
    ntf = sx - sxy
    nft = sy - sxy
    nff = n - sx - sy + sxy
    return nff, nft, ntf, ntt


@njit(fastmath=FASTMATH, error_model="numpy", cache=True, inline="always")
def yule(x, y):
    """scipy's Yule: 2 ntf nft / (ntt nff + ntf nft), 0 when ntf nft = 0 (real input as scipy reads it)."""
    nff, nft, ntf, ntt = _counts(x, y)
    half_r = ntf * nft
    if half_r == 0.0:
        return 0.0
    return 2.0 * half_r / (ntt * nff + half_r)


@njit(fastmath=FASTMATH, error_model="numpy", cache=True, inline="always")
def rogerstanimoto(x, y):
    """scipy's Rogers-Tanimoto: 2 (ntf + nft) / (ntt + nff + 2 (ntf + nft))."""
    nff, nft, ntf, ntt = _counts(x, y)
    r = 2.0 * (ntf + nft)
    den = ntt + nff + r
    if den == 0.0:
        return 0.0
    return r / den


@njit(fastmath=FASTMATH, error_model="numpy", cache=True, inline="always")
def dice(x, y):
    """scipy's Dice: (ntf + nft) / (2 ntt + ntf + nft); 0 if both vectors are zero (scipy: NaN)."""
    nff, nft, ntf, ntt = _counts(x, y)
    den = 2.0 * ntt + ntf + nft
    if den == 0.0:
        return 0.0
    return (ntf + nft) / den


@njit(fastmath=FASTMATH, error_model="numpy", cache=True, inline="always")
def russellrao(x, y):
    """scipy's Russell-Rao: (n - ntt) / n."""
    nff, nft, ntf, ntt = _counts(x, y)
    n = np.float64(x.shape[0])
    return (n - ntt) / n


@njit(fastmath=FASTMATH, error_model="numpy", cache=True, inline="always")
def sokalsneath(x, y):
    """scipy's Sokal-Sneath: 2 (ntf + nft) / (ntt + 2 (ntf + nft)); 0 if both zero (scipy raises)."""
    nff, nft, ntf, ntt = _counts(x, y)
    r = 2.0 * (ntf + nft)
    den = ntt + r
    if den == 0.0:
        return 0.0
    return r / den


@njit(fastmath=FASTMATH, error_model="numpy", cache=True, inline="always")
def jaccard(x, y):
    """scipy's Jaccard on the non-zero pattern: #(exactly one non-zero) / #(any non-zero); 0 if none."""
    a = 0.0
    b = 0.0
    for i in range(x.shape[0]):
        nx = x[i] != 0
        ny = y[i] != 0
        if nx != ny:
            a += 1.0
        if nx or ny:
            b += 1.0
    if b == 0.0:
        return 0.0
    return a / b


@njit(fastmath=FASTMATH, error_model="numpy", cache=True, inline="always")
def hamming(x, y):
    """Fraction of coordinates where x_i != y_i."""
    a = 0.0
    for i in range(x.shape[0]):
        if x[i] != y[i]:
            a += 1.0
    return a / x.shape[0]


@njit(fastmath=FASTMATH, error_model="numpy", cache=True)
def pair_distance(code, x, y, p, w, M):
    """Distance ``code`` between ``x`` and ``y``; ``p``, ``w`` (1-D) and ``M`` (2-D) are its parameters."""
    if code == SQEUCLIDEAN:
        return sqeuclidean(x, y)
    if code == COSINE:
        return cosine(x, y)
    if code == EUCLIDEAN:
        return euclidean(x, y)
    if code == ANGULAR:
        return angular(x, y)
    if code == MANHATTAN:
        return manhattan(x, y)
    if code == CHEBYSHEV:
        return chebyshev(x, y)
    if code == MINKOWSKI:
        return minkowski(x, y, p)
    if code == CANBERRA:
        return canberra(x, y)
    if code == BRAYCURTIS:
        return braycurtis(x, y)
    if code == CORRELATION:
        return correlation(x, y)
    if code == SEUCLIDEAN:
        return seuclidean(x, y, w)
    if code == MAHALANOBIS:
        return mahalanobis(x, y, M)
    if code == YULE:
        return yule(x, y)
    if code == ROGERSTANIMOTO:
        return rogerstanimoto(x, y)
    if code == DICE:
        return dice(x, y)
    if code == JACCARD:
        return jaccard(x, y)
    if code == HAMMING:
        return hamming(x, y)
    if code == RUSSELLRAO:
        return russellrao(x, y)
    if code == SOKALSNEATH:
        return sokalsneath(x, y)
    if code == TANIMOTO:
        return tanimoto(x, y)
    if code == DOT:
        return dot(x, y)
    return np.nan
