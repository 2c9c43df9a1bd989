"""Game-theoretic data valuation: Monte Carlo semivalues (Shapley, Beta-Shapley, Banzhaf) and
exact KNN-Shapley.

A point's Shapley value is its average marginal contribution to a utility (a model's test score)
over random orderings of the training set. The built-in utilities are computed incrementally in
C++ along each permutation (a ridge model is updated by a rank-one Cholesky update, a logistic
model is warm-started from the previous prefix), so a whole permutation costs about one fit.
Any Python callable, or any scikit-learn estimator, goes through the same sampler, truncation and
stopping rules (slower, one call per subset); see ``_utilities.py``.

Randomness comes from a counter-based generator keyed by (seed, permutation id); permutations
are processed in fixed blocks of ids and merged in block order, so the values are bitwise
identical for any ``n_jobs``.
"""

from __future__ import annotations

import math
import numbers
import operator
import re
import time
import warnings

import numpy as np

from . import _dispatch
from ._progress import Progress
from ._semivalue_stats import MSRMoments, PermutationMoments, semivalue_weights
from ._utilities import KNN_RANK_MAX_BYTES, make_utility  # noqa: F401 (KNN_RANK_MAX_BYTES: public here before)
from ._validation import (
    as_float_matrix,
    as_labels,
    check_positive,
    encode_labels,
    resolve_n_jobs,
)
from .exceptions import StoppedEarlyWarning
from .results import AttributionResult

__all__ = ["ShapleyResult", "data_shapley", "knn_shapley"]

#: Samples per block: fixed, so results never depend on n_jobs (a block is one C++ call).
DEFAULT_BLOCK_SIZE = 32
_MAX_HISTORY = 256
#: The built-in utilities' hyperparameter defaults, read from the compiled core.
_CORE_DEFAULTS = _dispatch.core.UtilityParams()


class ShapleyResult(AttributionResult):
    """Semivalue estimates, one per training point.

    Returned by :func:`data_shapley` and :func:`knn_shapley`; not usually built by hand.

    Parameters
    ----------
    estimate, stderr, counts : array_like of shape (n,)
        Values, their standard errors and the samples behind each.
    converged : bool
        Whether the stopping rule on the standard error was met (True for exact methods).
    method : str
        What computed the values, e.g. ``"knn_shapley(k=5, soft_label=False)"``.
    n_samples, n_evaluations : int, default 0
        Samples drawn and utility evaluations made.
    history : dict, optional
        Snapshots of the estimate (see the attribute); empty when not given.
    status : str, default ""
        Why the run stopped.
    seed : int, optional
        The seed of the random streams (None for exact methods).
    elapsed : float, default 0.0
        Wall-clock seconds.

    Attributes
    ----------
    estimate : ndarray of shape (n,)
        The values (also :attr:`values`).
    stderr : ndarray of shape (n,)
        Standard error of each estimate (0 for exact methods; inf with fewer than 2 samples).
    counts : ndarray of shape (n,)
        Samples behind each estimate (permutations, antithetic pairs, or subsets for Banzhaf; the
        number of test points for KNN-Shapley).
    converged : bool
        True when the stopping rule on the standard error was met (or the method is exact);
        False when the run stopped at ``max_permutations``, the time budget or Ctrl-C first.
    method : str
        The function and its main arguments, for display.
    n_samples : int
        Permutations (or subsets) drawn; test points for KNN-Shapley.
    n_evaluations : int
        Utility evaluations actually made (fewer than n * n_samples with truncation).
    history : dict
        ``n_samples`` (h,), ``max_stderr`` (h,) and ``values`` (h x n): the estimate after some of the
        blocks (thinned to at most 256 snapshots), for convergence plots.
    status : str
        Why the run stopped: ``"standard error target reached"``, ``"max_permutations reached"``,
        ``"time budget reached"``, ``"interrupted"``, or ``"exact"``.
    seed : int or None
        The seed of the random streams.
    elapsed : float
        Wall-clock seconds of the computation.

    Examples
    --------
    >>> import numpy as np
    >>> import attrib
    >>> X = np.array([[0.0], [1.0], [5.0], [6.0]])
    >>> res = attrib.knn_shapley(X, [0, 0, 1, 1], [[0.5]], [0], k=1)
    >>> res.values
    array([0.5, 0.5, 0. , 0. ])
    >>> res.top(2)
    array([0, 1])
    >>> res.stderr, res.converged, res.status
    (array([0., 0., 0., 0.]), True, 'exact')
    >>> list(res.to_frame().columns)
    ['estimate', 'stderr', 'counts']
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
# Checks this family needs beyond _validation.py (same convention: TypeError for a wrong type,
# ValueError for a value out of range)
# ----------------------------------------------------------------------------------------------

def _check_flag(value, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def _check_seed(seed) -> int:
    if isinstance(seed, (bool, np.bool_)):
        raise TypeError("seed must be an integer, got bool")
    try:
        seed = operator.index(seed)
    except TypeError:
        raise TypeError(f"seed must be an integer in [0, 2**64), got {type(seed).__name__}") from None
    if not 0 <= seed < 2**64:
        raise ValueError(f"seed must be an integer in [0, 2**64), got {seed}")
    return int(seed)


def _check_fraction(value, name: str) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a fraction in [0, 1], got {type(value).__name__}")
    value = float(value)
    if not 0 <= value <= 1:
        raise ValueError(f"{name} must be a fraction in [0, 1], got {value!r}")
    return float(value)


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

    Parameters
    ----------
    X : array_like of shape (n, d)
        Training features (converted once to C-contiguous float64; must be finite).
    y : array_like of shape (n,)
        Training class labels (integers, booleans, strings or integral floats), at least 2 classes.
    X_test : array_like of shape (m, d)
        Test features.
    y_test : array_like of shape (m,)
        Test labels; a label absent from ``y`` never matches.
    k : int, default 5
        Neighbours K.
    soft_label : bool, default False
        Use the soft-label utility instead of the hard-label one.
    n_jobs : int, optional
        Threads (None: the OpenMP default; negative counts from the number of cores, as in
        scikit-learn).

    Returns
    -------
    ShapleyResult
        ``values`` the exact Shapley values, ``stderr`` 0, ``counts`` and ``n_samples`` the number
        of test points, ``converged`` True, ``status`` ``"exact"``.

    Raises
    ------
    TypeError
        ``k`` is not an integer, ``soft_label`` not a bool, ``n_jobs`` not an integer, or an array
        does not hold numbers (labels: integers or strings).
    ValueError
        ``k < 1``, ``n_jobs == 0``, an array is empty, of the wrong shape or not finite, the
        row counts or feature counts disagree, a label is a non-integral float, or ``y`` has
        fewer than 2 classes.

    Examples
    --------
    >>> import numpy as np
    >>> import attrib
    >>> X = np.array([[0.0], [1.0], [5.0], [6.0]])
    >>> y = np.array([0, 0, 1, 1])
    >>> attrib.knn_shapley(X, y, [[0.5]], [0], k=1).values
    array([0.5, 0.5, 0. , 0. ])
    >>> attrib.knn_shapley(X, y, [[0.5], [5.2]], [0, 1], k=2).values
    array([0.25, 0.25, 0.25, 0.25])
    """
    Xa = as_float_matrix(X, "X")
    n, d = Xa.shape
    ya = as_labels(y, "y", n)
    Xt = as_float_matrix(X_test, "X_test", n_features=d)
    yt = as_labels(y_test, "y_test", Xt.shape[0], what="X_test")
    k = check_positive(k, "k", integer=True)
    soft_label = _check_flag(soft_label, "soft_label")
    classes, codes, test_codes = encode_labels(ya, yt)
    n_threads = resolve_n_jobs(n_jobs)
    t0 = time.perf_counter()
    values = _dispatch.core.knn_shapley(Xa, codes, Xt, test_codes, k, soft_label, int(classes.size), n_threads)
    return ShapleyResult(values, np.zeros(n), np.full(n, Xt.shape[0]), True,
                         method=f"knn_shapley(k={k}, soft_label={soft_label})", n_samples=Xt.shape[0],
                         status="exact", elapsed=time.perf_counter() - t0)


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
                 alpha=_CORE_DEFAULTS.alpha, C=_CORE_DEFAULTS.C, k=_CORE_DEFAULTS.k, scoring=None, empty_score=None,
                 max_permutations=None, rtol=0.05, atol=None, min_permutations=None, time_budget=None,
                 truncation=None, truncation_patience=1, truncation_burn_in=0.0, antithetic=False, seed=0,
                 n_jobs=None, progress=True, block_size=DEFAULT_BLOCK_SIZE,
                 refactor_every=_CORE_DEFAULTS.refactor_every) -> ShapleyResult:
    """Monte Carlo semivalues (Data Shapley, Beta-Shapley, Data Banzhaf) of every training point.

    Parameters
    ----------
    X : array_like of shape (n, d), or int
        Training features. For a Python-callable utility, just the number of points n will do.
    y : array_like of shape (n,), optional
        Training targets (ridge), or class labels (logistic, knn).
    X_test, y_test : array_like of shape (m, d) and (m,), optional
        The test set the utility scores on (built-in utilities and estimators).
    utility : str, estimator or callable, default "ridge"
        "ridge", "logistic", "knn", a scikit-learn estimator, or a callable ``utility(indices) -> float``:

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
          step); needs an n_test x n int32 rank table (at most 2 GiB).
        - an estimator: cloned, fitted and scored (``scoring``, default ``estimator.score``) on every
          subset; classifiers on one-class subsets predict that class; the empty set scores
          ``empty_score`` (required).
        - a callable: called with the subset's indices (int64 array, in permutation order), must
          return a finite number. Errors and NaN raise :class:`~attrib.exceptions.UtilityError`
          naming the subset; nothing is turned into 0.
    semivalue : str or tuple, default "shapley"
        "shapley", "beta(a, b)" / ("beta", a, b), or "banzhaf". Shapley and Beta(a, b) share the
        permutation sampler (a marginal at position k weighted by n p(k)); Banzhaf uses maximum
        sample reuse (MSR: uniform random subsets, each updating every point).
    metric : str, optional
        The built-in utility's score (see ``utility``); None: its default.
    alpha : float, default 1.0
        Ridge penalty (> 0), for ``utility="ridge"``.
    C : float, default 1.0
        Logistic inverse penalty (> 0), as scikit-learn's ``C``, for ``utility="logistic"``.
    k : int, default 5
        Neighbours, for ``utility="knn"``.
    scoring : str or callable, optional
        scikit-learn scoring for an estimator utility (default ``estimator.score``).
    empty_score : float, optional
        The utility of the empty training set; required for an estimator utility.
    max_permutations : int, optional
        At most this many permutations (subsets for Banzhaf).
    rtol, atol : float, optional
        Stop once the largest standard error is at most ``rtol * max|value|`` or at most ``atol``
        (whichever is given; ``rtol=None`` and ``atol=None`` run to ``max_permutations``).
        ``rtol`` defaults to 0.05.
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
    truncation_patience : int, default 1
        Consecutive prefixes within tolerance before a permutation stops.
    truncation_burn_in : float, default 0.0
        Fraction of n: shorter prefixes never stop a permutation.
    antithetic : bool, default False
        Pair each permutation with its reverse (counts a pair as one sample).
    seed : int, default 0
        Random streams are keyed by (seed, permutation id), seed in [0, 2**64): the same seed gives
        the same bits for any ``n_jobs``.
    n_jobs : int, optional
        Threads for the built-in utilities (None: OpenMP default).
    progress : bool, default True
        A progress line on stderr for runs longer than a second.
    block_size : int, default 32
        Samples per block (one kernel call; the stopping rules are checked between blocks).
    refactor_every : int, default 32
        Ridge: recompute the Cholesky factor from scratch every this many points.

    Returns
    -------
    ShapleyResult
        The estimates with their standard errors, counts and convergence history. Ctrl-C returns
        what was computed so far (whole blocks), marked unconverged, with a
        :class:`~attrib.exceptions.StoppedEarlyWarning`.

    Raises
    ------
    TypeError
        An integer argument (``k``, ``max_permutations``, ``min_permutations``, ``block_size``,
        ``refactor_every``, ``truncation_patience``, ``seed``, ``n_jobs``) is not an integer, a
        number (``alpha``, ``C``, ``rtol``, ``atol``, ``time_budget``, ``truncation``,
        ``truncation_burn_in``, ``empty_score``) is not a real number, ``antithetic`` is not a
        bool, ``utility`` is neither a name, an estimator nor a callable, or an array does not
        hold numbers.
    ValueError
        A number is out of range (integers < 1, ``seed`` outside [0, 2**64), non-positive or
        non-finite reals, ``truncation_burn_in`` outside [0, 1], ``n_jobs == 0``); nothing would
        stop the run; an unknown ``utility``, ``semivalue`` or ``metric``; antithetic sampling
        with Banzhaf or an odd ``block_size``; bad arrays (empty, NaN, shapes that disagree);
        labels unusable by the utility (logistic: not two classes, or test labels absent from
        ``y``); a constant ``y_test`` with R^2; an estimator without ``empty_score``.
    attrib.exceptions.UtilityError
        A callable or estimator utility raised or returned something other than a finite number.

    Examples
    --------
    An additive game: every permutation gives each point its own weight, so the values are exact.

    >>> import numpy as np
    >>> import attrib
    >>> w = np.array([0.0, 1.0, 2.0, 3.0])
    >>> res = attrib.data_shapley(4, utility=lambda idx: float(w[idx].sum()), max_permutations=32,
    ...                           rtol=None, progress=False)
    >>> res.values
    array([0., 1., 2., 3.])
    >>> res.n_samples, res.status
    (32, 'max_permutations reached')

    A ridge utility (test R^2): the values add up to u(D) - u(empty) for any number of permutations.

    >>> rng = np.random.default_rng(0)
    >>> X, Xt = rng.normal(size=(20, 2)), rng.normal(size=(10, 2))
    >>> y, yt = X @ [1.0, -2.0] + 0.1 * rng.normal(size=20), Xt @ [1.0, -2.0]
    >>> res = attrib.data_shapley(X, y, Xt, yt, max_permutations=64, rtol=None, seed=1, progress=False)
    >>> from sklearn.linear_model import Ridge
    >>> bool(np.isclose(res.values.sum(), Ridge(alpha=1.0).fit(X, y).score(Xt, yt)))
    True
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
    antithetic = _check_flag(antithetic, "antithetic")
    if antithetic and kind == "banzhaf":
        raise ValueError("antithetic sampling applies to permutations, not to Banzhaf's random subsets")
    if antithetic and block_size % 2:
        raise ValueError(f"antithetic sampling needs an even block_size, got {block_size}")
    seed = _check_seed(seed)
    if truncation is not None:
        truncation = check_positive(truncation, "truncation")
        truncation_patience = check_positive(truncation_patience, "truncation_patience", integer=True)
        truncation_burn_in = _check_fraction(truncation_burn_in, "truncation_burn_in")
    n_threads = resolve_n_jobs(n_jobs)

    core = _dispatch.core  # one build for the whole run: its objects work only with its own kernels
    util = make_utility(core, utility, X, y, X_test, y_test, metric=metric, scoring=scoring, empty_score=empty_score,
                        alpha=alpha, C=C, k=k, refactor_every=refactor_every, n_threads=n_threads)
    n = util.n
    t_start = time.perf_counter()

    trunc = core.Truncation()
    if truncation is not None and kind != "banzhaf":
        trunc.enabled = True
        trunc.rtol = truncation
        trunc.full_utility = util.full()
        trunc.patience = truncation_patience
        trunc.burn_in = math.ceil(truncation_burn_in * n)

    moments: MSRMoments | PermutationMoments
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
