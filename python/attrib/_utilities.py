"""The utilities data_shapley samples: built-in ones, walked in C++ a whole block per call (GIL
released), and Python ones (a callable or a scikit-learn estimator), called once per subset.

Both kinds offer the same three methods to the sampler loop: ``full()`` (the utility of the whole
training set, for truncation), ``permutations(...)`` and ``subsets(...)``. A built-in utility is
two objects of the compiled core: ``UtilityData`` (views of the arrays) and ``UtilityParams``
(model, metric, hyperparameters). Its names, its metrics and the defaults of its hyperparameters
come from the core; this module only validates and encodes the data each model needs.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from ._validation import (
    as_float_matrix,
    as_float_vector,
    as_labels,
    check_positive,
    encode_labels,
    offset_column_means,
)
from .exceptions import UtilityError

__all__ = ["KNN_RANK_MAX_BYTES", "BuiltinUtility", "CallableUtility", "knn_frame", "make_utility"]

#: Largest n_test x n rank table the "knn" utility builds.
KNN_RANK_MAX_BYTES = 2**31


class BuiltinUtility:
    """A utility evaluated by the C++ walkers; ``core`` is the build that made ``data`` and ``params``."""

    def __init__(self, core, data, params):
        self.core = core
        self.data = data
        self.params = params
        self.n = data.n

    def prefixes(self, order) -> np.ndarray:
        """Utilities of the first 0, 1, ..., len(order) points of ``order`` (distinct indices)."""
        return self.core.walk_order(self.data, self.params, np.ascontiguousarray(order, dtype=np.int64))

    def full(self) -> float:
        return float(self.prefixes(np.arange(self.n))[-1])

    def permutations(self, seed, first, count, antithetic, truncation, n_threads, cancel=None):
        """(perms, U, evaluations), or None when ``cancel`` (a core CancelToken) was set."""
        out = self.core.walk_permutations(
            self.data, self.params, seed, first, count, antithetic, truncation, n_threads, cancel
        )
        if out is None:
            return None
        perms, U, evaluated = out
        return perms, U, int(evaluated.sum())

    def subsets(self, seed, first, count, n_threads, cancel=None):
        out = self.core.evaluate_subsets(self.data, self.params, seed, first, count, n_threads, cancel)
        if out is None:
            return None
        masks, u = out
        return masks, u, count


class CallableUtility:
    """A Python utility(indices) -> float; called once per subset, with the GIL held."""

    def __init__(self, core, func, n):
        self.core = core
        self.func = func
        self.n = n
        self._empty = None

    def __call__(self, idx, where):
        try:
            value = self.func(idx)
        except Exception as exc:  # never KeyboardInterrupt: Ctrl-C must reach the run loop
            raise UtilityError(f"the utility raised {type(exc).__name__}: {exc} on {_describe(idx, where)}") from exc
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Real, np.floating, np.integer)):
            raise UtilityError(
                f"the utility returned {type(value).__name__} {value!r}, not a number, on {_describe(idx, where)}"
            )
        try:
            value = float(value)
        except OverflowError:  # e.g. the integer 10**400
            raise UtilityError(
                f"the utility returned a number too large for float64 ({_short(value)}) on {_describe(idx, where)}"
            ) from None
        if not math.isfinite(value):
            raise UtilityError(f"the utility returned {value} on {_describe(idx, where)}")
        return value

    def empty(self):
        if self._empty is None:
            self._empty = self(np.zeros(0, np.int64), "the empty subset")
        return self._empty

    def full(self) -> float:
        return self(np.arange(self.n, dtype=np.int64), "the full training set")

    def permutations(self, seed, first, count, antithetic, truncation, n_threads, cancel=None):
        t = truncation  # the same rule as the core's truncation_fires
        perms = self.core.random_permutations(seed, first, count, self.n, antithetic)
        U = np.empty((count, self.n + 1))
        evaluated = 0
        for p in range(count):
            perm = perms[p]
            U[p, 0] = self.empty()
            run, k = 0, 1
            while k <= self.n:
                where = f"the first {k} points of permutation {first + p} (seed {seed})"
                U[p, k] = self(perm[:k].copy(), where)
                evaluated += 1
                if k < self.n and t.enabled and k >= t.burn_in:
                    run = run + 1 if abs(U[p, k] - t.full_utility) <= t.rtol * abs(t.full_utility) else 0
                    if run >= t.patience:
                        break
                k += 1
            U[p, k + 1 :] = U[p, min(k, self.n)]
        return perms, U, evaluated

    def subsets(self, seed, first, count, n_threads, cancel=None):
        masks = self.core.random_subsets(seed, first, count, self.n)
        u = np.empty(count)
        for s in range(count):
            idx = np.flatnonzero(masks[s]).astype(np.int64)
            u[s] = self(idx, f"subset {first + s} (seed {seed})") if idx.size else self.empty()
        return masks, u, count


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:20]}...{text[-8:]} ({len(text)} characters)"


def _describe(idx, where) -> str:
    shown = ", ".join(str(int(i)) for i in idx[:20])
    more = f", ... ({idx.size} points)" if idx.size > 20 else ""
    return f"{where}: indices [{shown}{more}]"


def _estimator_utility(estimator, X, y, X_test, y_test, scoring, empty_score):
    """utility(indices) for a scikit-learn estimator: clone, fit on the subset, score on the test set.

    A classifier on a subset with one class predicts that class (a DummyClassifier fitted on the
    subset), as the built-in "logistic" utility does; the empty set scores ``empty_score``.
    """
    from sklearn.base import clone, is_classifier
    from sklearn.dummy import DummyClassifier
    from sklearn.metrics import check_scoring

    scorer = check_scoring(estimator, scoring=scoring)
    classifier = is_classifier(estimator)

    def utility(idx):
        if idx.size == 0:
            return empty_score
        if classifier and np.unique(y[idx]).size < 2:
            model = DummyClassifier(strategy="most_frequent").fit(X[idx], y[idx])
        else:
            model = clone(estimator).fit(X[idx], y[idx])
        return scorer(model, X_test, y_test)

    return utility


# ----------------------------------------------------------------------------------------------
# Built-in utilities: one entry per core UtilityModel. Each validates the targets and the
# hyperparameters its model reads, sets them on `params` and returns the core's UtilityData.
# ----------------------------------------------------------------------------------------------


def _ridge(core, params, X, y, X_test, y_test, *, alpha, refactor_every, **_):
    ya = as_float_vector(y, "y", X.shape[0])
    yt = as_float_vector(y_test, "y_test", X_test.shape[0], what="X_test")
    params.alpha = check_positive(alpha, "alpha")
    params.refactor_every = refactor_every  # checked by data_shapley, whatever the utility
    if params.metric == core.UtilityMetric.r2 and np.ptp(yt) == 0:
        raise ValueError("y_test is constant, so the R^2 utility is undefined; use metric='neg_mse'")
    return core.UtilityData(X, ya, X_test, yt)


def _class_codes(y, y_test, n, m):
    """Labels as float64 class codes over the classes of y (-1: a test label absent from y)."""
    yt = as_labels(y_test, "y_test", m, what="X_test")
    classes, codes, test_codes = encode_labels(as_labels(y, "y", n), yt)
    return yt, classes, codes.astype(np.float64), test_codes.astype(np.float64)


def _logistic(core, params, X, y, X_test, y_test, *, C, **_):
    yt, classes, codes, test_codes = _class_codes(y, y_test, X.shape[0], X_test.shape[0])
    # Two classes: binary logistic regression; K > 2: softmax regression (the core's softmax
    # walker, utility_softmax.cpp), each prefix fitted on the classes it holds, as scikit-learn does.
    params.n_classes = int(classes.size)
    if (test_codes < 0).any():
        i = int(np.argmax(test_codes < 0))
        raise ValueError(f"y_test holds a label absent from y (index {i}: {yt[i]!r})")
    params.C = check_positive(C, "C")
    # The model has an unpenalised intercept, so centring X and X_test by the training means is
    # a reparametrisation; it keeps an offset of 1e8 from making every Newton fit singular.
    center = offset_column_means(X)
    if center is not None:
        X, X_test = X - center, X_test - center
    return core.UtilityData(X, codes, X_test, test_codes)


def _pow2_scale(amax: float) -> float:
    """A power of two p with amax * p in [0.5, 1) (1.0 for amax 0): multiplying by it is exact."""
    if not amax > 0 or not math.isfinite(amax):
        return 1.0
    _, e = math.frexp(amax)
    return math.ldexp(1.0, -e)


#: knn_frame leaves data whose largest |entry| lies in this range (and that has no large offset) as it is.
_KNN_SAFE_MIN, _KNN_SAFE_MAX = 2.0**-250, 2.0**250


def knn_frame(X: np.ndarray, X_test: np.ndarray):
    """X and X_test moved and scaled so that the distance shortcut |x|^2 - 2 x.t ranks safely.

    The KNN kernels rank training points by |x|^2 - 2 x.t (one GEMM per block of test points),
    which loses every digit when the data share a large offset (|x| >> |x - t|) and overflows or
    underflows at extreme scales. Ranking is invariant under a common translation and a positive
    scale, so the data are (1) scaled by a power of two (exact) so that the largest |entry| is
    below 1, (2) moved by a per-column shift close to the training mean, rounded to a grid of
    2^-10 of the column's spread, so that the subtraction is exact for data on a grid (exact
    distance ties stay ties) and the remaining offset is far below the spread, and (3) scaled by
    one power of two so that the largest |entry| lies in [0.5, 1). Data that need none of this
    (every column's |mean| within 16 standard deviations, row norms between 2^-250 and 2^250) are
    returned as they are. Returns C-contiguous float64 arrays (X', X_test') and the squared row norms of X'.
    """
    # The fast check (two vectorised passes): every column's |mean| is at most 16 standard
    # deviations (257 mean^2 <= 256 mean of squares), and the largest row norm and test entry are
    # far from overflow and underflow. Then the shortcut loses at most ~8 of 53 bits (and data on an
    # integer grid keep exact keys): the data are used as given.
    x_sq = np.einsum("ij,ij->i", X, X)
    with np.errstate(over="ignore", invalid="ignore"):
        mean = X.mean(axis=0)
        mean_sq = np.einsum("ij,ij->j", X, X) / X.shape[0]
        rmax = math.sqrt(float(np.max(x_sq)))
        tmax = float(np.max(np.abs(X_test)))
        centred = bool((257.0 * mean * mean <= 256.0 * mean_sq).all())
    if centred and _KNN_SAFE_MIN < rmax < _KNN_SAFE_MAX and tmax < _KNN_SAFE_MAX:
        return X, X_test, x_sq
    amax = max(float(np.max(np.abs(X))), tmax)
    p = _pow2_scale(amax)
    Xp, Tp = X * p, X_test * p
    mean = Xp.mean(axis=0)
    spread = np.max(np.abs(Xp - mean), axis=0)
    shift = np.empty_like(mean)
    for j in range(mean.size):
        if spread[j] > 0:
            q = math.ldexp(1.0, math.frexp(spread[j])[1] - 11)  # 2^-10 of the spread, a power of two
            r = mean[j] / q
            shift[j] = round(r) * q if abs(r) < 2.0**52 else mean[j]
        else:
            shift[j] = Xp[0, j]  # a constant column: exactly 0 after the shift
    Xp -= shift
    Tp -= shift
    s = _pow2_scale(max(float(np.max(np.abs(Xp))), float(np.max(np.abs(Tp)))))
    if s != 1.0:
        Xp *= s
        Tp *= s
    Xp, Tp = np.ascontiguousarray(Xp), np.ascontiguousarray(Tp)
    return Xp, Tp, np.einsum("ij,ij->i", Xp, Xp)


def _knn(core, params, X, y, X_test, y_test, *, k, n_threads, **_):
    _, classes, codes, test_codes = _class_codes(y, y_test, X.shape[0], X_test.shape[0])
    # A subset has at most n points, so K >= n votes with all of them: capping K at n changes
    # nothing, and keeps the per-test-point heaps (n_test x K) at most n_test x n.
    params.k = min(check_positive(k, "k", integer=True), X.shape[0])
    params.n_classes = int(classes.size)
    need = core.knn_rank_itemsize * X.shape[0] * X_test.shape[0]
    if need > KNN_RANK_MAX_BYTES:
        raise ValueError(
            f"the knn utility needs an n_test x n rank table of {need / 2**30:.1f} GiB; "
            "use fewer test points, or attrib.knn_shapley (exact, streaming)"
        )
    Xc, Tc, _ = knn_frame(X, X_test)
    ranks = core.knn_ranks(Xc, Tc, n_threads)
    return core.UtilityData(X, codes, X_test, test_codes, ranks)


#: Keys are the core's UtilityModel names (a test checks the two lists agree).
BUILTIN = {"ridge": _ridge, "logistic": _logistic, "knn": _knn}


def _builtin_utility(core, name, X, y, X_test, y_test, metric, **hyper):
    Xa = as_float_matrix(X, "X")
    Xt = as_float_matrix(X_test, "X_test", n_features=Xa.shape[1])
    params = core.UtilityParams()
    params.model = core.UtilityModel.__members__[name]
    allowed = tuple(m.name for m in core.utility_metrics(params.model))
    metric = allowed[0] if metric is None else metric
    if metric not in allowed:
        raise ValueError(f"metric for the {name} utility must be one of {allowed}, got {metric!r}")
    params.metric = core.UtilityMetric.__members__[metric]
    data = BUILTIN[name](core, params, Xa, y, Xt, y_test, **hyper)
    return BuiltinUtility(core, data, params)


def make_utility(core, utility, X, y, X_test, y_test, *, metric, scoring, empty_score, **hyper):
    """The utility object for data_shapley's ``utility`` argument; ``hyper`` holds alpha, C, k,
    refactor_every and n_threads (each built-in model reads its own)."""
    if isinstance(utility, str):
        name = utility.strip().lower()
        if name not in BUILTIN:
            raise ValueError(
                f"utility must be one of {sorted(BUILTIN)}, a scikit-learn estimator or a callable, got {utility!r}"
            )
        return _builtin_utility(core, name, X, y, X_test, y_test, metric, **hyper)
    if hasattr(utility, "fit"):
        Xa = as_float_matrix(X, "X")
        n, d = Xa.shape
        Xt = as_float_matrix(X_test, "X_test", n_features=d)
        ya = np.asarray(y)
        yt = np.asarray(y_test)
        if ya.shape[0] != n or yt.shape[0] != Xt.shape[0]:
            raise ValueError(f"X has {n} rows and y {ya.shape[0]}; X_test has {Xt.shape[0]} and y_test {yt.shape[0]}")
        if empty_score is None:
            raise ValueError(
                "an estimator utility needs empty_score, the utility of the empty training set "
                "(e.g. the majority-class accuracy, or 0 for R^2)"
            )
        func = _estimator_utility(utility, Xa, ya, Xt, yt, scoring, _check_score(empty_score))
        return CallableUtility(core, func, n)
    if callable(utility):
        if isinstance(X, numbers.Integral) and not isinstance(X, bool):
            n = int(X)
        else:
            n = as_float_matrix(X, "X").shape[0] if X is not None else None
        if n is None or n < 1:
            raise ValueError(f"X (or the number of points) must give at least one training point, got {X!r}")
        return CallableUtility(core, utility, n)
    raise TypeError(f"utility must be a name, a scikit-learn estimator or a callable, got {type(utility).__name__}")


def _check_score(value) -> float:
    """A finite real number (TypeError for another type, ValueError for NaN or inf)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"empty_score must be a real number, got {type(value).__name__}")
    if not math.isfinite(value):
        raise ValueError(f"empty_score must be finite, got {value}")
    return float(value)
