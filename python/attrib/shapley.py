"""Game-theoretic data valuation: Monte Carlo semivalues (Shapley, Beta-Shapley, Banzhaf) and
exact KNN-Shapley.

A point's Shapley value is its average marginal contribution to a utility (a model's test score)
over random orderings of the training set. The built-in utilities are computed incrementally in
C++ along each permutation (a ridge model is updated by a rank-one Cholesky update, a logistic
model is warm-started from the previous prefix), so a whole permutation costs about one fit.
Any Python callable, or any scikit-learn estimator, goes through the same sampler, truncation and
stopping rules (slower, one call per subset).

Randomness comes from a counter-based generator keyed by (seed, permutation id); permutations
are processed in fixed blocks of ids and merged in block order, so the values are bitwise
identical for any ``n_jobs``.
"""

from __future__ import annotations

import math
import numbers
import re
import time
import warnings

import numpy as np

from . import _dispatch
from ._progress import Progress
from ._semivalue_stats import MSRMoments, PermutationMoments, semivalue_weights
from ._validation import (
    as_float_matrix,
    as_float_vector,
    as_labels,
    check_positive,
    encode_labels,
    resolve_n_jobs,
)
from .exceptions import StoppedEarlyWarning, UtilityError
from .results import AttributionResult

__all__ = ["ShapleyResult", "data_shapley", "knn_shapley"]

#: Built-in utilities: model code and (default metric, allowed metrics) for the C++ kernel.
_MODELS = {"ridge": 0, "logistic": 1, "knn": 2}
_METRICS = {"r2": 0, "neg_mse": 1, "accuracy": 2, "neg_log_loss": 3}
_MODEL_METRICS = {"ridge": ("r2", "neg_mse"), "logistic": ("accuracy", "neg_log_loss"), "knn": ("accuracy",)}
#: Largest n_test x n rank table the "knn" utility builds (int32).
KNN_RANK_MAX_BYTES = 2**31
_NO_RANKS = np.zeros((0, 0), np.int32)
#: Samples per block: fixed, so results never depend on n_jobs (a block is one C++ call).
DEFAULT_BLOCK_SIZE = 32
_MAX_HISTORY = 256


class ShapleyResult(AttributionResult):
    """Semivalue estimates, one per training point.

    Attributes
    ----------
    estimate : ndarray (n,)
        The values (also :attr:`values`).
    stderr : ndarray (n,)
        Standard error of each estimate (0 for exact methods; inf with fewer than 2 samples).
    counts : ndarray (n,)
        Samples behind each estimate (permutations, antithetic pairs, or subsets for Banzhaf).
    converged : bool
        True when the stopping rule on the standard error was met (or the method is exact);
        False when the run stopped at ``max_permutations``, the time budget or Ctrl-C first.
    n_samples : int
        Permutations (or subsets) drawn.
    n_evaluations : int
        Utility evaluations actually made (fewer than n * n_samples with truncation).
    history : dict
        ``n_samples`` (h,), ``max_stderr`` (h,) and ``values`` (h x n): the estimate after some of the
        blocks (thinned to at most 256 snapshots), for convergence plots.
    """

    _values_name = "estimate"
    _frame_columns = ("estimate", "stderr", "counts")

    def __init__(self, estimate, stderr, counts, converged, *, method, n_samples=0, n_evaluations=0,
                 history=None, status="", seed=None, elapsed=0.0):
        self.estimate = np.asarray(estimate, dtype=np.float64)
        self.stderr = np.asarray(stderr, dtype=np.float64)
        self.counts = np.asarray(counts, dtype=np.int64)
        self.converged = bool(converged)
        self.method = method
        self.n_samples = int(n_samples)
        self.n_evaluations = int(n_evaluations)
        self.history = history if history is not None else {
            "n_samples": np.zeros(0, np.int64), "max_stderr": np.zeros(0), "values": np.zeros((0, self.estimate.size))}
        self.status = status
        self.seed = seed
        self.elapsed = float(elapsed)

    def __repr__(self) -> str:
        return (f"ShapleyResult(method={self.method!r}, n={self.estimate.size}, n_samples={self.n_samples}, "
                f"converged={self.converged}, status={self.status!r})")


# ----------------------------------------------------------------------------------------------
# KNN-Shapley
# ----------------------------------------------------------------------------------------------

def knn_shapley(X, y, X_test, y_test, k=5, soft_label=False, *, n_jobs=None) -> ShapleyResult:
    """Exact Shapley values of the K-nearest-neighbour utility (Jia et al. 2019).

    The utility of a subset S for one test point is, with the neighbours of S ranked by Euclidean
    distance (ties: lower training index first):

    - hard label (``soft_label=False``): (1/K) * #{the min(K, |S|) nearest points of S with the
      test label}; U(empty) = 0;
    - soft label (Wang & Jia 2023): the same count divided by min(K, |S|); U(empty) = 1/C with C
      the number of classes in y.

    Utilities (and values) are averaged over the test points. One sort and one O(n) recursion per
    test point; test points are streamed in parallel, so memory is O(n) per thread and nothing
    n_test x n is formed. ``k > n`` is valid and exact. Values are bitwise identical for any n_jobs.

    Returns a :class:`ShapleyResult` with ``stderr`` 0, ``counts`` = number of test points and
    ``converged`` True.
    """
    Xa = as_float_matrix(X, "X")
    n, d = Xa.shape
    ya = as_labels(y, "y", n)
    Xt = as_float_matrix(X_test, "X_test", n_features=d)
    yt = as_labels(y_test, "y_test", Xt.shape[0], what="X_test")
    if isinstance(k, bool) or not isinstance(k, numbers.Integral):
        raise TypeError(f"k must be a positive integer, got {type(k).__name__}")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if not isinstance(soft_label, (bool, np.bool_)):
        raise TypeError(f"soft_label must be True or False, got {soft_label!r}")
    classes, codes, test_codes = encode_labels(ya, yt)
    n_threads = resolve_n_jobs(n_jobs)
    t0 = time.perf_counter()
    values = _dispatch.core.knn_shapley(Xa, codes, Xt, test_codes, int(k), bool(soft_label), int(classes.size),
                                        n_threads)
    return ShapleyResult(values, np.zeros(n), np.full(n, Xt.shape[0]), True,
                         method=f"knn_shapley(k={k}, soft_label={bool(soft_label)})", n_samples=Xt.shape[0],
                         status="exact", elapsed=time.perf_counter() - t0)


# ----------------------------------------------------------------------------------------------
# Utilities
# ----------------------------------------------------------------------------------------------

class _BuiltinUtility:
    """A built-in utility evaluated by the C++ kernels (the whole block in one call, GIL released)."""

    def __init__(self, name, X, y, X_test, y_test, metric, alpha, C, refactor_every, ranks=_NO_RANKS, k=1,
                 n_classes=2):
        self.name = name
        self.n = X.shape[0]
        self.args = (X, y, X_test, y_test, _MODELS[name], _METRICS[metric], alpha, C, refactor_every, ranks, k,
                     n_classes)

    def full(self) -> float:
        return float(_dispatch.core.walk_order(*self.args, np.arange(self.n, dtype=np.int64))[-1])

    def permutations(self, seed, first, count, antithetic, trunc, n_threads):
        enabled, rtol, full, patience, burn_in = trunc
        perms, U, evaluated = _dispatch.core.walk_permutations(
            *self.args, seed, first, count, antithetic, enabled, rtol, full, patience, burn_in, n_threads)
        return perms, U, int(evaluated.sum())

    def subsets(self, seed, first, count, n_threads):
        masks, u = _dispatch.core.evaluate_subsets(*self.args, seed, first, count, n_threads)
        return masks, u, count


class _CallableUtility:
    """A Python utility(indices) -> float; called once per subset, with the GIL held."""

    def __init__(self, func, n):
        self.func = func
        self.n = n
        self._empty = None

    def __call__(self, idx, where):
        try:
            value = self.func(idx)
        except Exception as exc:  # never KeyboardInterrupt: Ctrl-C must reach the run loop
            raise UtilityError(f"the utility raised {type(exc).__name__}: {exc} on {_describe(idx, where)}") from exc
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Real, np.floating, np.integer)):
            raise UtilityError(f"the utility returned {type(value).__name__} {value!r}, not a number, on "
                               f"{_describe(idx, where)}")
        value = float(value)
        if not math.isfinite(value):
            raise UtilityError(f"the utility returned {value} on {_describe(idx, where)}")
        return value

    def empty(self):
        if self._empty is None:
            self._empty = self(np.zeros(0, np.int64), "the empty subset")
        return self._empty

    def full(self) -> float:
        return self(np.arange(self.n, dtype=np.int64), "the full training set")

    def permutations(self, seed, first, count, antithetic, trunc, n_threads):
        enabled, rtol, full, patience, burn_in = trunc
        perms = _dispatch.core.random_permutations(seed, first, count, self.n, antithetic)
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
                if k < self.n and enabled and k >= burn_in:
                    run = run + 1 if abs(U[p, k] - full) <= rtol * abs(full) else 0
                    if run >= patience:
                        break
                k += 1
            U[p, k + 1:] = U[p, min(k, self.n)]
        return perms, U, evaluated

    def subsets(self, seed, first, count, n_threads):
        masks = _dispatch.core.random_subsets(seed, first, count, self.n)
        u = np.empty(count)
        for s in range(count):
            idx = np.flatnonzero(masks[s]).astype(np.int64)
            u[s] = self(idx, f"subset {first + s} (seed {seed})") if idx.size else self.empty()
        return masks, u, count


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
# data_shapley
# ----------------------------------------------------------------------------------------------

def _parse_semivalue(semivalue):
    if isinstance(semivalue, str):
        s = semivalue.strip().lower()
        if s in ("shapley", "banzhaf"):
            return s, 1.0, 1.0
        m = re.fullmatch(r"beta\(\s*([^,]+)\s*,\s*([^)]+)\)", s)
        if m:
            semivalue = ("beta", float(m.group(1)), float(m.group(2)))
    if isinstance(semivalue, tuple) and len(semivalue) == 3 and semivalue[0] == "beta":
        a = check_positive(semivalue[1], "the Beta semivalue's alpha")
        b = check_positive(semivalue[2], "the Beta semivalue's beta")
        return "beta", a, b
    raise ValueError(f"semivalue must be 'shapley', 'banzhaf', 'beta(a, b)' or ('beta', a, b), got {semivalue!r}")


def data_shapley(X, y=None, X_test=None, y_test=None, utility="ridge", semivalue="shapley", *, metric=None,
                 alpha=1.0, C=1.0, k=5, scoring=None, empty_score=None, max_permutations=None, rtol=0.05, atol=None,
                 min_permutations=None, time_budget=None, truncation=None, truncation_patience=1,
                 truncation_burn_in=0.0, antithetic=False, seed=0, n_jobs=None, progress=True,
                 block_size=DEFAULT_BLOCK_SIZE, refactor_every=32) -> ShapleyResult:
    """Monte Carlo semivalues (Data Shapley, Beta-Shapley, Data Banzhaf) of every training point.

    Parameters
    ----------
    X, y : training data. For a Python-callable utility, ``X`` may be just the number of points.
    X_test, y_test : the test set the utility scores on (built-in utilities and estimators).
    utility : "ridge", "logistic", "knn", a scikit-learn estimator, or a callable ``utility(indices) -> float``
        - "ridge": scikit-learn's ``Ridge(alpha)`` with an intercept, scored by ``metric`` "r2"
          (default) or "neg_mse" on the test set. Exact rank-one updates along each permutation,
          the Cholesky factor recomputed every ``refactor_every`` steps. The empty set predicts
          the test-set mean (R^2 = 0).
        - "logistic": ``LogisticRegression(C)`` (L2 on the weights, intercept free), labels in two
          classes, scored by "accuracy" (default) or "neg_log_loss"; warm-started Newton run to a
          tight tolerance, so every prefix is the real fit. The empty set predicts the test set's
          majority class (TMC-Shapley's baseline); a subset with one class predicts that class
          (log-loss: probability (k1 + 1) / (k + 2)).
        - "knn": test accuracy of ``KNeighborsClassifier(k)`` (uniform weights, Euclidean; vote ties
          to the smallest label, distance ties to the lower training index); a subset with fewer
          than k points votes with all of them; the empty set predicts the test majority class.
          Each test point keeps a heap of its k nearest points in the prefix (O(n_test log k) per
          step); needs an n_test x n int32 rank table.
        - an estimator: cloned, fitted and scored (``scoring``, default ``estimator.score``) on every
          subset; classifiers on one-class subsets predict that class; the empty set scores
          ``empty_score`` (required).
        - a callable: called with the subset's indices (int64 array, in permutation order), must
          return a finite number. Errors and NaN raise :class:`~attrib.exceptions.UtilityError`
          naming the subset; nothing is turned into 0.
    semivalue : "shapley", "beta(a, b)" / ("beta", a, b), or "banzhaf"
        Shapley and Beta(a, b) share the permutation sampler (a marginal at position k weighted by
        n p(k)); Banzhaf uses maximum sample reuse (MSR: uniform random subsets, each updating
        every point).
    max_permutations : int, optional
        At most this many permutations (subsets for Banzhaf).
    rtol, atol : float, optional
        Stop once the largest standard error is at most ``rtol * max|value|`` or at most ``atol``
        (whichever is given; ``rtol=None`` and ``atol=None`` run to ``max_permutations``).
    min_permutations : int, optional
        No convergence check before this many samples (default 2 blocks), so a few lucky samples
        with zero spread cannot look converged.
    time_budget : float, optional
        Seconds; the run stops at the first block boundary after it (marked unconverged).
    truncation : float, optional
        TMC-Shapley truncation: stop a permutation once the prefix utility is within
        ``truncation * |u(D)|`` of the full-data utility for ``truncation_patience`` consecutive
        prefixes, ignoring prefixes shorter than ``truncation_burn_in * n``; the remaining marginals
        are 0. None (default) evaluates every prefix (unbiased).
    antithetic : bool
        Pair each permutation with its reverse (counts a pair as one sample).
    seed : int
        Random streams are keyed by (seed, permutation id): the same seed gives the same bits for
        any ``n_jobs``.
    n_jobs : int, optional
        Threads for the built-in utilities (None: OpenMP default).
    progress : bool
        A progress line on stderr for runs longer than a second.
    block_size : int
        Samples per block (one kernel call; the stopping rules are checked between blocks).

    Returns
    -------
    ShapleyResult
        Ctrl-C returns what was computed so far (whole blocks), marked unconverged, with a
        :class:`~attrib.exceptions.StoppedEarlyWarning`.
    """
    kind, beta_a, beta_b = _parse_semivalue(semivalue)
    block_size = check_positive(block_size, "block_size", integer=True)
    max_permutations = check_positive(max_permutations, "max_permutations", integer=True, allow_none=True)
    min_permutations = check_positive(min_permutations, "min_permutations", integer=True, allow_none=True)
    rtol = check_positive(rtol, "rtol", allow_none=True)
    atol = check_positive(atol, "atol", allow_none=True)
    time_budget = check_positive(time_budget, "time_budget", allow_none=True)
    refactor_every = check_positive(refactor_every, "refactor_every", integer=True)
    if max_permutations is None and time_budget is None and rtol is None and atol is None:
        raise ValueError("nothing would stop the run: give max_permutations, time_budget, rtol or atol")
    if not isinstance(antithetic, (bool, np.bool_)):
        raise TypeError(f"antithetic must be True or False, got {antithetic!r}")
    antithetic = bool(antithetic)
    if antithetic and kind == "banzhaf":
        raise ValueError("antithetic sampling applies to permutations, not to Banzhaf's random subsets")
    if antithetic and block_size % 2:
        raise ValueError(f"antithetic sampling needs an even block_size, got {block_size}")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or not 0 <= seed < 2**64:
        raise ValueError(f"seed must be an integer in [0, 2**64), got {seed!r}")
    seed = int(seed)
    if truncation is not None:
        truncation = check_positive(truncation, "truncation")
        truncation_patience = check_positive(truncation_patience, "truncation_patience", integer=True)
        if not isinstance(truncation_burn_in, numbers.Real) or not 0 <= truncation_burn_in <= 1:
            raise ValueError(f"truncation_burn_in must be a fraction in [0, 1], got {truncation_burn_in!r}")
    n_threads = resolve_n_jobs(n_jobs)

    util = _make_utility(utility, X, y, X_test, y_test, metric, alpha, C, k, scoring, empty_score, refactor_every,
                         n_threads)
    n = util.n
    t_start = time.perf_counter()

    trunc = (False, 0.0, 0.0, 1, 0)
    if truncation is not None and kind != "banzhaf":
        full = util.full()
        trunc = (True, truncation, full, truncation_patience, int(math.ceil(truncation_burn_in * n)))

    if kind == "banzhaf":
        moments = MSRMoments(n)
    else:
        moments = PermutationMoments(n, semivalue_weights(n, kind, beta_a, beta_b), antithetic)
    # Antithetic pairs are one sample; permutations are always drawn in whole pairs.
    per_sample = 2 if antithetic else 1
    if max_permutations is not None and antithetic:
        max_permutations += max_permutations % 2
    if min_permutations is None:
        min_permutations = 2 * block_size
    if max_permutations is not None:
        min_permutations = min(min_permutations, max_permutations)

    unit = "subsets" if kind == "banzhaf" else "permutations"
    bar = Progress(bool(progress), max_permutations, unit)
    hist_n, hist_se, hist_v = [], [], []
    drawn = evaluations = 0
    converged = False
    status = ""
    try:
        while True:
            count = block_size if max_permutations is None else min(block_size, max_permutations - drawn)
            if count <= 0:
                status = "max_permutations reached"
                break
            if kind == "banzhaf":
                masks, u, evals = util.subsets(seed, drawn, count, n_threads)
                moments.add_block(masks, u)
            else:
                perms, U, evals = util.permutations(seed, drawn, count, antithetic, trunc, n_threads)
                moments.add_block(perms, U)
            drawn += count
            evaluations += evals
            values, stderr = moments.values, moments.stderr
            max_se = float(np.max(stderr))
            hist_n.append(drawn)
            hist_se.append(max_se)
            hist_v.append(values)
            if len(hist_n) > _MAX_HISTORY:  # keep every other snapshot: cheap, still spans the run
                hist_n, hist_se, hist_v = hist_n[::2], hist_se[::2], hist_v[::2]
            bar.update(drawn, f"max stderr {max_se:.3g}")
            if drawn >= min_permutations and np.isfinite(max_se):
                target = max(atol or 0.0, (rtol or 0.0) * float(np.nanmax(np.abs(values))))
                if (rtol is not None or atol is not None) and max_se <= target:
                    converged = True
                    status = "standard error target reached"
                    break
            if time_budget is not None and time.perf_counter() - t_start >= time_budget:
                status = "time budget reached"
                warnings.warn(f"data_shapley stopped at the time budget ({time_budget} s) after {drawn} {unit}, "
                              "before the standard-error target", StoppedEarlyWarning, stacklevel=2)
                break
    except KeyboardInterrupt:
        status = "interrupted"
        warnings.warn(f"data_shapley interrupted: returning the estimate from {drawn} {unit}, marked unconverged",
                      StoppedEarlyWarning, stacklevel=2)
    finally:
        bar.close()

    history = {"n_samples": np.array(hist_n, np.int64), "max_stderr": np.array(hist_se),
               "values": np.array(hist_v).reshape(len(hist_v), n)}
    name = utility if isinstance(utility, str) else type(utility).__name__
    sv = kind if kind != "beta" else f"beta({beta_a:g},{beta_b:g})"
    return ShapleyResult(moments.values, moments.stderr, moments.counts, converged,
                         method=f"data_shapley(utility={name}, semivalue={sv})", n_samples=drawn // per_sample
                         if kind != "banzhaf" else drawn, n_evaluations=evaluations, history=history, status=status,
                         seed=seed, elapsed=time.perf_counter() - t_start)


def _make_utility(utility, X, y, X_test, y_test, metric, alpha, C, k, scoring, empty_score, refactor_every,
                  n_threads):
    if isinstance(utility, str):
        name = utility.strip().lower()
        if name not in _MODELS:
            raise ValueError(f"utility must be one of {sorted(_MODELS)}, a scikit-learn estimator or a callable, "
                             f"got {utility!r}")
        Xa = as_float_matrix(X, "X")
        n, d = Xa.shape
        Xt = as_float_matrix(X_test, "X_test", n_features=d)
        allowed = _MODEL_METRICS[name]
        metric = allowed[0] if metric is None else metric
        if metric not in allowed:
            raise ValueError(f"metric for the {name} utility must be one of {allowed}, got {metric!r}")
        if name == "ridge":
            ya = as_float_vector(y, "y", n)
            yt = as_float_vector(y_test, "y_test", Xt.shape[0], what="X_test")
            alpha = check_positive(alpha, "alpha")
            if metric == "r2" and np.ptp(yt) == 0:
                raise ValueError("y_test is constant, so the R^2 utility is undefined; use metric='neg_mse'")
        else:
            yl = as_labels(y, "y", n)
            ytl = as_labels(y_test, "y_test", Xt.shape[0], what="X_test")
            classes, codes, test_codes = encode_labels(yl, ytl)
            if name == "knn":
                if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
                    raise ValueError(f"k must be a positive integer, got {k!r}")
                need = 4 * n * Xt.shape[0]
                if need > KNN_RANK_MAX_BYTES:
                    raise ValueError(f"the knn utility needs an n_test x n rank table of {need / 2**30:.1f} GiB; "
                                     "use fewer test points, or attrib.knn_shapley (exact, streaming)")
                ranks = _dispatch.core.knn_ranks(Xa, Xt, n_threads)
                return _BuiltinUtility(name, Xa, codes.astype(np.float64), Xt, test_codes.astype(np.float64), metric,
                                       1.0, 1.0, refactor_every, ranks, int(k), int(classes.size))
            if classes.size != 2:
                raise ValueError(f"the logistic utility needs exactly 2 classes in y, got {classes.size}")
            if (test_codes < 0).any():
                i = int(np.argmax(test_codes < 0))
                raise ValueError(f"y_test holds a label absent from y (index {i}: {ytl[i]!r})")
            ya, yt = codes.astype(np.float64), test_codes.astype(np.float64)
            C = check_positive(C, "C")
        return _BuiltinUtility(name, Xa, ya, Xt, yt, metric, float(alpha), float(C), refactor_every)
    if hasattr(utility, "fit"):
        Xa = as_float_matrix(X, "X")
        n, d = Xa.shape
        Xt = as_float_matrix(X_test, "X_test", n_features=d)
        ya = np.asarray(y)
        yt = np.asarray(y_test)
        if ya.shape[0] != n or yt.shape[0] != Xt.shape[0]:
            raise ValueError(f"X has {n} rows and y {ya.shape[0]}; X_test has {Xt.shape[0]} and y_test {yt.shape[0]}")
        if empty_score is None:
            raise ValueError("an estimator utility needs empty_score, the utility of the empty training set "
                             "(e.g. the majority-class accuracy, or 0 for R^2)")
        func = _estimator_utility(utility, Xa, ya, Xt, yt, scoring, float(empty_score))
        return _CallableUtility(func, n)
    if callable(utility):
        if isinstance(X, numbers.Integral) and not isinstance(X, bool):
            n = int(X)
        else:
            n = as_float_matrix(X, "X").shape[0] if X is not None else None
        if n is None or n < 1:
            raise ValueError(f"X (or the number of points) must give at least one training point, got {X!r}")
        return _CallableUtility(utility, n)
    raise TypeError(f"utility must be a name, a scikit-learn estimator or a callable, got {type(utility).__name__}")
