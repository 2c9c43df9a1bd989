"""Leave-one-out for generalised linear models: Newton step, influence function, and exact.

The model (scikit-learn's ``LogisticRegression`` objective, divided by ``C``)::

    minimise  sum_i s_i * loss(y_i, b + x_i @ coef)  +  ||coef||**2 / (2 C)

with the intercept ``b`` never penalised, ``s_i`` the sample weights and ``C=None`` for no penalty
(statsmodels' GLM). Removing row i is ``s_i = 0`` with ``C`` fixed, exactly what a scikit-learn
refit with ``sample_weight[i] = 0`` does. Losses (canonical links): logistic
``log(1 + e^eta) - y eta``, Poisson ``e^eta - y eta``, Gaussian ``(y - eta)^2 / 2``; so Gaussian
with ``C`` is ridge with ``alpha = 1 / C``.

Three leave-one-out estimates, one API (``method=``):

* ``"newton"``: one Newton step on each leave-one-out objective from the full fit, with the Hessian
  downdated by Sherman-Morrison (Pregibon 1981; ALO; statsmodels' ``GLMInfluence.d_params``).
  Exact for the Gaussian family.
* ``"influence"``: the infinitesimal jackknife (influence function), the same without 1 / (1 - h).
* ``"exact"``: Newton iterations on every leave-one-out problem to convergence: equals refitting.

This module is separate from :mod:`attrib.linear` (exact squared-loss algebra) because GLMs bring their
own fit, label handling, estimator reading and result types; its name matches the C++ family
(``glm.hpp``, ``glm.cpp``, ``bind_glm.cpp``) and its tests (``tests/test_glm*.py``).
"""

from __future__ import annotations

import functools
import numbers
import warnings
from dataclasses import dataclass

import numpy as np

from . import _dispatch
from ._validation import (
    as_float_matrix,
    as_float_vector,
    check_binary_labels,
    check_counts,
    check_positive,
    check_sample_weight,
    column_names,
    fingerprint,
    resolve_n_jobs,
)
from .exceptions import ConvergenceWarning, IllConditionedWarning, LeverageOneWarning, NotAtOptimumWarning
from .linear import _parse_groups
from .results import AttributionResult

__all__ = ["GLMGroupResult", "GLMLOOResult", "TopKInfluence", "glm_loo", "influence"]

#: Family names, as the compiled core's GlmFamily enum spells them (resolved per core at each call:
#: the two CPU builds each have their own enum type).
FAMILIES = tuple(_dispatch.core.GlmFamily.__members__)
METHODS = ("newton", "influence", "exact")
#: 1 - h below this counts as leverage one (kLeverageOneTol in cpp/include/attrib/common.hpp).
LEVERAGE_ONE_TOL = _dispatch.core.LEVERAGE_ONE_TOL
#: Reciprocal condition number of the unit-diagonal Hessian below which results are suspect.
ILL_CONDITIONED_RCOND = 1e-10
#: Largest dense output (bytes) built without being asked to go beyond it.
DEFAULT_MAX_BYTES = 2**31
#: Newton fit: stop once the step is below this times (1 + max|theta|), after taking that step
#: (quadratic convergence puts the result at the rounding floor).
FIT_TOL = 1e-10
#: Exact leave-one-out: stop a row once its step is below this times (1 + max|theta|).
EXACT_TOL = 1e-12
#: A fitted estimator's coefficients count as optimal when they are this close (relative to
#: 1 + max|theta|) to attrib's precise fit; otherwise NotAtOptimumWarning.
OPTIMUM_RTOL = 1e-7

_EMPTY = np.empty(0)  # "none" for the kernels' optional per-row arrays (weights, offsets)


def _or_empty(a) -> np.ndarray:
    return _EMPTY if a is None else a
_NO_HESSIAN = np.empty((0, 0))


def _describe_rows(rows: np.ndarray, what: str = "rows") -> str:
    shown = ", ".join(str(int(i)) for i in rows[:10])
    more = f" and {rows.size - 10} more" if rows.size > 10 else ""
    return f"{what} {shown}{more}"


# ------------------------------------------------------------------------------- arguments
def _check_family(family) -> str:
    if not isinstance(family, str) or family not in FAMILIES:
        raise ValueError(f"family must be one of {sorted(FAMILIES)} or a fitted scikit-learn estimator, got {family!r}")
    return family


def _check_C(C) -> float:
    """C as the penalty l2 = 1 / C (0 for C=None or inf)."""
    if C is None:
        return 0.0
    if isinstance(C, bool) or not isinstance(C, numbers.Real):
        raise TypeError(f"C must be a positive real number or None (no penalty), got {type(C).__name__}")
    C = float(C)
    if np.isnan(C) or C <= 0:
        raise ValueError(f"C must be > 0 (or None for no penalty), got {C}")
    return 0.0 if np.isinf(C) else 1.0 / C


def _check_method(method) -> str:
    if method not in METHODS:
        raise ValueError(f"method must be one of {list(METHODS)}, got {method!r}")
    return method


def _check_targets(y, family: str, n: int, name: str = "y", classes=None):
    if family == "logistic":
        return check_binary_labels(y, name, n, classes=classes)
    if family == "poisson":
        return check_counts(y, name, n), None
    return as_float_vector(y, name, n), None


def _read_estimator(est, X, sample_weight):
    """(family, l2, fit_intercept, theta) from a fitted scikit-learn linear model."""
    kind = type(est).__name__
    if kind not in ("LogisticRegression", "PoissonRegressor", "Ridge", "LinearRegression"):
        raise TypeError(
            "family must be a string or a fitted LogisticRegression, PoissonRegressor, Ridge or LinearRegression, "
            f"got {kind}"
        )
    if not hasattr(est, "coef_"):
        raise ValueError(f"the {kind} estimator is not fitted: call fit() first, or pass family= and C=")
    params = est.get_params()
    coef = np.asarray(est.coef_, dtype=np.float64)
    fit_intercept = bool(params.get("fit_intercept", True))
    if kind == "LogisticRegression":
        if len(est.classes_) != 2 or coef.shape[0] != 1:
            raise ValueError(f"LogisticRegression has {len(est.classes_)} classes; glm_loo handles two")
        penalty = params.get("penalty", "l2")
        l1_ratio = params.get("l1_ratio")
        if penalty not in ("l2", None, "deprecated") or (l1_ratio not in (None, 0, 0.0) and penalty != "l2"):
            raise ValueError(f"LogisticRegression with penalty={penalty!r}, l1_ratio={l1_ratio!r}: only L2 (or none) is supported")
        if params.get("class_weight") is not None:
            raise ValueError("LogisticRegression with class_weight is not supported; pass the weights as sample_weight")
        C = params.get("C", 1.0)
        l2 = 0.0 if penalty is None or np.isinf(C) else 1.0 / C
        return "logistic", l2, fit_intercept, coef[0], float(np.ravel(est.intercept_)[0]) if fit_intercept else 0.0
    if kind == "PoissonRegressor":
        # scikit-learn's objective is the weighted *mean* half-deviance + alpha/2 ||coef||^2; in the
        # sum convention that is l2 = alpha * sum(s) (the penalty of the full fit, held fixed).
        alpha = float(params.get("alpha", 1.0))
        s_sum = X.shape[0] if sample_weight is None else float(np.sum(sample_weight))
        return "poisson", alpha * s_sum, fit_intercept, coef, float(est.intercept_) if fit_intercept else 0.0
    # Ridge or LinearRegression
    if coef.ndim != 1:
        raise ValueError(f"{kind} was fitted to {coef.shape[0]} targets; glm_loo handles one")
    alpha = params.get("alpha", 0.0) if kind == "Ridge" else 0.0
    if np.ndim(alpha) > 0:
        raise ValueError("Ridge with one alpha per target is not supported")
    return "gaussian", float(alpha), fit_intercept, coef, float(est.intercept_) if fit_intercept else 0.0


# ------------------------------------------------------------------------------- the fit
@dataclass
class _Problem:
    X: np.ndarray
    y: np.ndarray
    w: np.ndarray | None
    family: str
    l2: float
    fit_intercept: bool
    classes: np.ndarray | None
    n_threads: int
    feature_names: list | None
    offset: np.ndarray | None = None


def _prepare(X, y, family, C, sample_weight, fit_intercept, n_jobs, offset=None):
    feature_names = column_names(X)
    Xa = as_float_matrix(X, "X")
    n, d = Xa.shape
    w = check_sample_weight(sample_weight, n)
    off = None if offset is None else as_float_vector(offset, "offset", n)
    start = None
    if isinstance(family, str) or family is None:
        family = _check_family(family)
        l2 = _check_C(C)
        if not isinstance(fit_intercept, (bool, np.bool_)):
            raise TypeError(f"fit_intercept must be True or False, got {fit_intercept!r}")
    else:
        if offset is not None:
            raise ValueError(
                "offset= cannot be combined with a fitted scikit-learn estimator (its objective has no offset); "
                "pass family= and C= instead"
            )
        family, l2, fit_intercept, coef, intercept = _read_estimator(family, Xa, w)
        if coef.shape != (d,):
            raise ValueError(f"X has {d} features but the estimator was fitted with {coef.shape[-1]}")
        start = np.concatenate([[intercept], coef]) if fit_intercept else coef
    fit_intercept = bool(fit_intercept)
    ya, classes = _check_targets(y, family, n)
    n_threads = resolve_n_jobs(n_jobs)
    p = d + int(fit_intercept)
    n_obs = n if w is None else int(np.count_nonzero(w))
    if l2 == 0.0 and n_obs < p:
        raise ValueError(
            f"X has {n_obs} rows{' with positive weight' if w is not None else ''} but the model has {p} parameters: "
            "the unpenalised fit is singular; use a penalty (C < inf)"
        )
    if family == "poisson" and fit_intercept and not (ya[slice(None) if w is None else w > 0] > 0).any():
        raise ValueError("y is zero for every row: the Poisson intercept would be -inf")
    prob = _Problem(Xa, ya, w, family, l2, fit_intercept, classes, n_threads, feature_names, off)
    return prob, start


#: Fits on at least this many rows first solve every WARM_STRIDE-th row, and start from there.
WARM_MIN_ROWS = 20_000
WARM_STRIDE = 16
#: The subsample's optimum differs from the full one by sampling noise (~ sqrt(p / rows)), so
#: solving it more precisely than this buys nothing.
WARM_TOL = 1e-4


def _warm_start(prob: _Problem, core):
    """A start for a large fit: the optimum on every WARM_STRIDE-th row (a fixed subsample, so the
    result stays deterministic), with the penalty scaled to the rows it sees so that it solves
    the same problem per row. Most Newton iterations then run on 1/16 of the data; the full fit
    needs only its last, quadratically converging ones. Returns that optimum and the subsample's
    Hessian rescaled to the full data, which stands in for the full fit's first O(n p^2) pass.
    (None, None) when the subsample fails (for example it separates where the full data do not):
    the full fit then starts as usual."""
    n, d = prob.X.shape
    if n < WARM_MIN_ROWS or n < WARM_STRIDE * 20 * (d + 1):
        return None, None
    Xs = np.ascontiguousarray(prob.X[::WARM_STRIDE])
    ys = np.ascontiguousarray(prob.y[::WARM_STRIDE])
    ws = _EMPTY if prob.w is None else np.ascontiguousarray(prob.w[::WARM_STRIDE])
    os_ = _EMPTY if prob.offset is None else np.ascontiguousarray(prob.offset[::WARM_STRIDE])
    scale = Xs.shape[0] / n if prob.w is None else float(ws.sum() / prob.w.sum())
    try:
        opts = core.GlmFitOptions(
            family=getattr(core.GlmFamily, prob.family), l2=prob.l2 * scale, fit_intercept=prob.fit_intercept,
            max_iter=50, tol=WARM_TOL, n_threads=prob.n_threads,
        )
        fit = core.glm_fit(Xs, ys, ws, os_, _EMPTY, _NO_HESSIAN, opts)
    except ValueError:
        return None, None
    theta = _theta(fit)
    if not (fit.converged and np.isfinite(theta).all()):
        return None, None
    L = np.asarray(fit.chol)
    return theta, (L @ L.T) / scale


def _fit(prob: _Problem, start=None, *, max_iter=100, tol=FIT_TOL, polish=False, core=None, hessian=None):
    """The penalised Newton fit. ``polish``: end at the rounding floor rather than within ``tol``
    (one more O(n p) pass), which exact leave-one-out needs: it subtracts the fit from problems
    solved to EXACT_TOL."""
    core = core or _dispatch.core
    if start is None:
        start, hessian = _warm_start(prob, core)
    s = _EMPTY if start is None else np.ascontiguousarray(start, dtype=np.float64)
    opts = core.GlmFitOptions(
        family=getattr(core.GlmFamily, prob.family), l2=prob.l2, fit_intercept=prob.fit_intercept,
        max_iter=max_iter, tol=tol, polish=polish, n_threads=prob.n_threads,
    )
    fit = core.glm_fit(
        prob.X, prob.y, _or_empty(prob.w), _or_empty(prob.offset), s, _NO_HESSIAN if hessian is None else hessian,
        opts,
    )
    if not fit.converged:
        warnings.warn(
            f"the Newton fit stopped after {fit.n_iter} iterations with last step {fit.step_max:.2g} and gradient "
            f"{fit.grad_max:.2g} (tolerance {tol:.0e}); leave-one-out results may be inaccurate"
            + ("; for logistic regression without a penalty this suggests (quasi-)separation: use C < inf"
               if prob.family == "logistic" and prob.l2 == 0 else "")
            + ("; for Poisson regression without a penalty this suggests rows with zero counts that a linear "
               "function of X isolates (their coefficient runs to -inf): use C < inf"
               if prob.family == "poisson" and prob.l2 == 0 else ""),
            ConvergenceWarning,
            stacklevel=4,
        )
    if fit.rcond < ILL_CONDITIONED_RCOND:
        warnings.warn(
            f"the Hessian is ill-conditioned (reciprocal condition number {fit.rcond:.2g} after scaling to a unit "
            "diagonal): results may have lost digits; consider a stronger penalty (smaller C)",
            IllConditionedWarning,
            stacklevel=4,
        )
    return fit


def _theta(fit) -> np.ndarray:
    return np.concatenate([[fit.intercept], fit.coef]) if fit.fit_intercept else np.array(fit.coef)


def _check_refine(refine, n: int, score) -> np.ndarray:
    """Rows to solve exactly: the k with the largest score (leverage or Cook's distance; computed
    only when needed), or the rows named."""
    if isinstance(refine, (numbers.Integral, np.integer)) and not isinstance(refine, bool):
        k = int(refine)
        if k < 0:
            raise ValueError(f"refine must be >= 0 or a list of row indices, got {k}")
        key = -np.nan_to_num(np.asarray(score()), nan=-np.inf)
        return np.sort(np.argsort(key, kind="stable")[: min(k, n)]).astype(np.int64)
    rows = np.asarray(refine)
    if rows.dtype == bool:
        if rows.shape != (n,):
            raise ValueError(f"refine as a boolean mask must have length {n}, got shape {rows.shape}")
        return np.flatnonzero(rows).astype(np.int64)
    if rows.ndim != 1 or (rows.size and not np.issubdtype(rows.dtype, np.integer)):
        raise TypeError("refine must be an int (how many rows to pick by refine_by) or an array of row indices")
    if rows.size and (rows.min() < -n or rows.max() >= n):
        raise ValueError(f"refine has a row index out of range for X with {n} rows")
    return np.unique(np.where(rows < 0, rows + n, rows)).astype(np.int64)


def glm_loo(
    X,
    y,
    family="logistic",
    C=1.0,
    sample_weight=None,
    fit_intercept=True,
    method="newton",
    *,
    refine=None,
    refine_by="cooks_distance",
    offset=None,
    n_jobs=None,
    max_iter=100,
) -> GLMLOOResult:
    """Leave-one-out coefficients of a logistic, Poisson or Gaussian GLM, without refitting.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Training design without a constant column (use ``fit_intercept``); converted once to
        C-contiguous float64. The result keeps a reference: do not modify it in place afterwards.
    y : array-like of shape (n_samples,)
        Logistic: any two classes (the larger one is 1, as in scikit-learn). Poisson: non-negative
        (non-integer rates are allowed). Gaussian: any real numbers.
    family : {"logistic", "poisson", "gaussian"} or a fitted scikit-learn estimator
        A fitted ``LogisticRegression``, ``PoissonRegressor``, ``Ridge`` or ``LinearRegression``
        supplies the family, ``C`` and ``fit_intercept`` (``C`` and ``fit_intercept`` given here are
        then ignored) and a starting point; ``X``, ``y`` and ``sample_weight`` must be what it was
        fitted on. attrib refits from its coefficients to full precision and warns
        (:class:`NotAtOptimumWarning`) when they were not at the optimum. ``Ridge(alpha)`` is
        ``C = 1/alpha``; ``PoissonRegressor(alpha)`` (a mean objective) is ``C = 1/(alpha sum(s))``,
        held fixed for every leave-one-out problem.
    C : float or None, default 1.0
        Inverse L2 penalty on the coefficients (not the intercept), scikit-learn's ``C``:
        the objective is ``C sum_i s_i loss_i + ||coef||^2 / 2``. None (or inf): no penalty.
    sample_weight : array-like of shape (n_samples,), optional
        Non-negative weights; zero weight is the same as deleting the row.
    fit_intercept : bool, default True
    method : {"newton", "influence", "exact"}, default "newton"
        One Newton step per left-out row (Pregibon / ALO), the influence function (no 1/(1-h)), or
        Newton iterations to convergence (equal to refitting).
    refine : int or array of row indices, optional
        With "newton" or "influence": solve these rows exactly (an int k means the k rows with the
        largest ``refine_by``) and keep the approximation elsewhere. :attr:`GLMLOOResult.refined`
        lists them.
    refine_by : {"cooks_distance", "hat"}, default "cooks_distance"
        How an int ``refine`` picks rows: largest estimated influence (Cook's distance of the
        approximation), or largest leverage. The one-step error grows with the square of the step,
        so the most influential rows carry it; they are not always the highest-leverage ones. On
        breast cancer (C=1) refining 5 rows by Cook's distance lifts the Pearson correlation of
        test-loss changes with exact LOO from 0.987 to 0.9999, while 50 rows by leverage leave it
        at 0.987 (bench/bench_glm.py).
    offset : array-like of shape (n_samples,), optional
        A known term added to each row's linear predictor, ``eta_i = b + x_i @ coef + offset_i``
        (statsmodels' GLM ``offset``); for a Poisson rate with exposure ``t_i`` pass
        ``offset=np.log(t)``. Test points get theirs through ``offset_test`` in :meth:`influence`.
    n_jobs : int, optional
        Threads (None: OpenMP default). Results are bitwise identical for every value.
    max_iter : int, default 100
        Newton iterations for the fit and for each exact leave-one-out problem.

    Returns
    -------
    GLMLOOResult
        ``coef_``, ``intercept_``, ``dcoef`` (n x p: full-fit parameters minus leave-one-out ones,
        intercept in column 0; statsmodels' ``d_params`` sign), ``loo_linear_predictor`` (x_i'
        theta_(i), the ALO estimate for "newton"), ``hat`` (leverages).

    Raises
    ------
    ValueError
        Bad labels (not two classes; negative counts), NaN or inf, mismatched shapes, negative
        weights, a singular Hessian, or perfect separation without a penalty.
    """
    method = _check_method(method)
    if refine is not None and method == "exact":
        raise ValueError("refine is for method='newton' or 'influence'; method='exact' solves every row exactly")
    if refine_by not in ("hat", "cooks_distance"):
        raise ValueError(f"refine_by must be 'hat' or 'cooks_distance', got {refine_by!r}")
    max_iter = check_positive(max_iter, "max_iter", integer=True)
    prob, start = _prepare(X, y, family, C, sample_weight, fit_intercept, n_jobs, offset)
    core = _dispatch.core
    # Exact leave-one-out (all rows, or the refined ones) needs the fit at the rounding floor.
    polish = method == "exact" or refine is not None
    fit = _fit(prob, start, max_iter=int(max_iter), polish=polish, core=core)
    if start is not None:
        theta = _theta(fit)
        gap = float(np.max(np.abs(theta - start)))
        if gap > OPTIMUM_RTOL * (1.0 + float(np.max(np.abs(theta)))):
            warnings.warn(
                f"the estimator's coefficients differ from the optimum of its objective by up to {gap:.2g} "
                "(fit it with a tighter tol, e.g. solver='newton-cholesky', tol=1e-12); attrib refitted "
                "precisely and uses its own coefficients",
                NotAtOptimumWarning,
                stacklevel=2,
            )
    return GLMLOOResult(prob, fit, method, (refine, refine_by), int(max_iter), core, polished=polish)


class GLMLOOResult(AttributionResult):
    """Leave-one-out of a GLM fit (from :func:`glm_loo`).

    ``values`` is Cook's distance ``dcoef_i' H dcoef_i / p`` (H the Hessian of the objective at the
    fit; for an unpenalised logistic or Poisson GLM this is statsmodels' ``cooks_distance[0]``), so
    ``top(k)`` lists the k most influential rows. Rows with leverage 1 have NaN leave-one-out
    quantities; rows whose exact solve did not converge have NaN and are listed in a warning.
    """

    _values_name = "cooks_distance"
    _frame_columns = ("hat", "linear_predictor", "loo_linear_predictor", "cooks_distance")

    def __init__(self, prob: _Problem, fit, method: str, refine_spec, max_iter: int, core, *, polished: bool = False):
        refine, refine_by = refine_spec
        self._prob = prob
        self._polished = polished  # the fit ends at the rounding floor (see _fit)
        self._X_print = fingerprint(prob.X)
        self._fit = fit
        self._core = core
        self.family = prob.family
        self.method = method
        self.C = None if prob.l2 == 0 else 1.0 / prob.l2
        self.fit_intercept = prob.fit_intercept
        self.classes_ = prob.classes
        self.coef_ = np.array(fit.coef)
        self.intercept_ = float(fit.intercept)
        self.params_ = _theta(fit)
        self.n_features_in_ = prob.X.shape[1]
        self.feature_names_in_ = prob.feature_names
        self.n_iter_ = int(fit.n_iter)
        n = prob.X.shape[0]
        w = _or_empty(prob.w)
        step = getattr(core.GlmStep, {"exact": "none", "newton": "newton", "influence": "influence"}[method])
        quad, hat, dcoef = core.glm_loo_rows(prob.X, w, fit, step, prob.n_threads)
        #: Leverages h_i = s_i l''_i z_i' H^-1 z_i.
        self.hat = hat
        #: Linear predictors of the full fit.
        self.linear_predictor = np.array(fit.eta)
        s = np.ones(n) if prob.w is None else prob.w
        #: Rows whose removal leaves the model unidentified.
        self.leverage_one = (s > 0) & ((1.0 - self.hat) < LEVERAGE_ONE_TOL)
        self.refined = np.empty(0, dtype=np.int64)
        if method == "exact":
            self.dcoef, self.loo_linear_predictor = self._exact(np.arange(n, dtype=np.int64), max_iter)
            return
        if method == "newton" and self.leverage_one.any():
            warnings.warn(
                f"{_describe_rows(np.flatnonzero(self.leverage_one))} have leverage 1: without them the model "
                "is not identified, so their leave-one-out quantities are NaN",
                LeverageOneWarning,
                stacklevel=3,
            )
        #: (n, p): full-fit parameters minus leave-one-out parameters (intercept first).
        self.dcoef = dcoef
        # x_i' theta_(i) = eta_i - z_i' dcoef_i, with z_i' H^-1 z_i already known: O(n), no pass.
        sd1 = s * np.asarray(fit.d1)
        with np.errstate(divide="ignore", invalid="ignore"):
            one_minus_h = np.where(self.leverage_one, np.nan, 1.0 - self.hat) if method == "newton" else 1.0
            #: x_i' theta_(i): the linear predictor of row i by the fit without it (ALO for "newton").
            self.loo_linear_predictor = self.linear_predictor + sd1 * quad / one_minus_h
            # d_i' H d_i = c_i^2 z_i' H^-1 z_i for d_i = c_i H^-1 z_i: Cook's distance in O(n).
            self._cooks_closed_form = (sd1 / one_minus_h) ** 2 * quad / self.params_.size
        if refine is not None:
            rows = _check_refine(refine, n, lambda: getattr(self, refine_by))
            if rows.size:
                d, eta = self._exact(rows, max_iter)
                self.dcoef[rows] = d
                self.loo_linear_predictor[rows] = eta
            self.refined = rows
            self.__dict__.pop("cooks_distance", None)  # recomputed from the refined dcoef

    def _exact(self, rows: np.ndarray, max_iter: int):
        prob = self._prob
        d, eta, _, converged = self._core.glm_exact_loo(
            prob.X, prob.y, _or_empty(prob.w), self._fit, rows.tolist(), max_iter, EXACT_TOL,
            prob.n_threads,
        )
        bad = rows[~converged & ~self.leverage_one[rows]]
        lev1 = rows[self.leverage_one[rows]]
        if lev1.size:
            warnings.warn(
                f"{_describe_rows(lev1)} have leverage 1: without them the model is not identified, so their "
                "leave-one-out quantities are NaN",
                LeverageOneWarning,
                stacklevel=4,
            )
        if bad.size:
            warnings.warn(
                f"exact leave-one-out did not converge within {max_iter} iterations for {_describe_rows(bad)}; "
                "their entries are NaN",
                ConvergenceWarning,
                stacklevel=4,
            )
        return d, eta

    @property
    def param_names(self) -> list[str]:
        """Names of the columns of ``dcoef``: the intercept first, then the features."""
        feats = self.feature_names_in_ or [f"x{j}" for j in range(self.n_features_in_)]
        return (["intercept"] if self.fit_intercept else []) + list(feats)

    @functools.cached_property
    def cooks_distance(self) -> np.ndarray:
        L = np.asarray(self._fit.chol)
        if self.method == "exact":
            return ((self.dcoef @ L) ** 2).sum(axis=1) / L.shape[0]
        out = self._cooks_closed_form.copy()
        if self.refined.size:
            out[self.refined] = ((self.dcoef[self.refined] @ L) ** 2).sum(axis=1) / L.shape[0]
        return out

    def influence(self, X_test, y_test, *, top_k=None, offset_test=None, max_bytes: int = DEFAULT_MAX_BYTES):
        """Change of each test point's loss when each training row is removed (this result's
        ``dcoef`` plugged into the loss): entry (i, j) = loss_j(theta_(i)) - loss_j(theta-hat).
        Positive: row i helps test point j. See :func:`influence`."""
        if top_k is None:
            return self._loss_change(
                self.dcoef, X_test, y_test, offset_test, max_bytes,
                "pass top_k= to get the k most helpful and harmful training rows per test point without it, split "
                "X_test, or raise max_bytes",
            )
        prob = self._prob
        Xt, yt, ot = self._test_data(X_test, y_test, offset_test)
        n = prob.X.shape[0]
        D = np.ascontiguousarray(self.dcoef)
        k = min(check_positive(top_k, "top_k", integer=True), n)
        hi, hv, li, lv = self._core.glm_loss_change_topk(Xt, yt, ot, self._fit, D, k, prob.n_threads)
        return TopKInfluence(hi, hv, li, lv)

    def _optimum_at_rounding_floor(self, H) -> np.ndarray:
        """The full fit's parameters to the rounding floor: params_ itself when the fit was
        polished (exact methods, refine), else one more Newton step from it, computed once.
        Exact removals are measured from here (params_ may be up to FIT_TOL away)."""
        if self._polished:
            return self.params_
        if "_theta_floor" not in self.__dict__:
            fit = _fit(self._prob, self.params_, polish=True, core=self._core, hessian=np.ascontiguousarray(H))
            self._theta_floor = _theta(fit)
        return self._theta_floor

    def _test_data(self, X_test, y_test, offset_test):
        Xt = as_float_matrix(X_test, "X_test", n_features=self.n_features_in_)
        m = Xt.shape[0]
        yt, _ = _check_targets(y_test, self._prob.family, m, "y_test", classes=self._prob.classes)
        if (offset_test is None) != (self._prob.offset is None):
            raise ValueError(
                "the model was fitted with an offset: pass offset_test for the test points"
                if offset_test is None
                else "offset_test was given but the model was fitted without an offset"
            )
        ot = _EMPTY if offset_test is None else as_float_vector(offset_test, "offset_test", m, what="X_test")
        return Xt, yt, ot

    def _loss_change(self, D, X_test, y_test, offset_test, max_bytes, hint="split X_test, or raise max_bytes"):
        """(rows of D) x n_test matrix of loss_j(theta-hat - D_i) - loss_j(theta-hat)."""
        Xt, yt, ot = self._test_data(X_test, y_test, offset_test)
        rows, m = D.shape[0], Xt.shape[0]
        need = rows * m * 8
        if need > max_bytes:
            raise ValueError(
                f"influence would allocate a {rows} x {m} float64 matrix ({need / 2**30:.1f} GiB > max_bytes="
                f"{max_bytes}); {hint}"
            )
        return self._core.glm_loss_change(Xt, yt, ot, self._fit, np.ascontiguousarray(D), self._prob.n_threads)

    def group_loo(self, groups, method: str = "newton", *, max_iter: int = 100) -> GLMGroupResult:
        """Removal of whole groups of rows, next to the sums of the individual Newton-step and
        influence-function estimates. ``groups`` is a label per row or a list of row-index arrays,
        as in :func:`attrib.linear_group_loo`.

        ``method="newton"``: one Newton step on each group-removed objective, with the Hessian
        downdated by Woodbury (one k x k Cholesky per group of k rows). ``method="exact"``: each
        group-removed problem solved to convergence, starting from that step and its downdated
        Hessian: the same as refitting without the group (O(n p^2) per Newton iteration, a few
        iterations per group)."""
        if method not in ("newton", "exact"):
            raise ValueError(f"method must be 'newton' or 'exact', got {method!r}")
        max_iter = check_positive(max_iter, "max_iter", integer=True)
        prob = self._prob
        if fingerprint(prob.X) != self._X_print:
            raise RuntimeError("X was modified in place after glm_loo(); refit to get consistent results")
        labels, arrays = _parse_groups(groups, prob.X.shape[0], prob.w)
        offsets = np.zeros(len(arrays) + 1, dtype=np.int64)
        offsets[1:] = np.cumsum([g.size for g in arrays])
        indices = np.concatenate(arrays).astype(np.int64)
        w = _or_empty(prob.w)
        dcoef, ok = self._core.glm_group_step(prob.X, w, self._fit, offsets.tolist(), indices.tolist(), prob.n_threads)
        if not ok.all():
            warnings.warn(
                f"{_describe_rows(np.flatnonzero(~ok), 'groups')} cannot be removed: without them the model is not "
                "identified, so their entries are NaN",
                LeverageOneWarning,
                stacklevel=2,
            )
        # Individual one-step and influence-function estimates, summed per group.
        s = np.ones(prob.X.shape[0]) if prob.w is None else prob.w
        sd1 = s * np.asarray(self._fit.d1)
        with np.errstate(divide="ignore", invalid="ignore"):
            c_ns = -sd1 / np.where(self.leverage_one, np.nan, 1.0 - self.hat)
        D_ns = self._core.glm_solve_rows(prob.X, self._fit, np.ascontiguousarray(c_ns), prob.n_threads)
        D_if = self._core.glm_solve_rows(prob.X, self._fit, np.ascontiguousarray(-sd1), prob.n_threads)
        sum_ns = np.array([D_ns[a].sum(axis=0) for a in arrays]).reshape(len(arrays), -1)
        sum_if = np.array([D_if[a].sum(axis=0) for a in arrays]).reshape(len(arrays), -1)
        exact = self._exact_groups(arrays, dcoef, ok, int(max_iter)) if method == "exact" else None
        return GLMGroupResult(self, method, labels, arrays, dcoef, exact, sum_ns, sum_if, ok)

    def _exact_groups(self, arrays, newton: np.ndarray, ok: np.ndarray, max_iter: int) -> np.ndarray:
        """theta-hat minus the refit without each group: Newton iterations on the full data with
        the group's weights set to 0 (penalty unchanged), from the group's Newton step and its
        Woodbury-downdated Hessian (which stands in for the first O(n p^2) pass)."""
        prob = self._prob
        n = prob.X.shape[0]
        L = np.asarray(self._fit.chol)
        H = L @ L.T
        theta = self._optimum_at_rounding_floor(H)
        s_all = np.ones(n) if prob.w is None else prob.w
        sd2 = s_all * np.asarray(self._fit.d2)
        out = np.full_like(newton, np.nan)
        failed = []
        for g, rows in enumerate(arrays):
            if not ok[g]:
                continue  # not identified without the group: NaN, already warned about
            s = s_all.copy()
            s[rows] = 0.0
            Zg = prob.X[rows]
            if prob.fit_intercept:
                Zg = np.hstack([np.ones((rows.size, 1)), Zg])
            Hg = np.ascontiguousarray(H - (Zg.T * sd2[rows]) @ Zg)
            try:
                opts = self._core.GlmFitOptions(
                    family=getattr(self._core.GlmFamily, prob.family), l2=prob.l2, fit_intercept=prob.fit_intercept,
                    max_iter=max_iter, tol=FIT_TOL, polish=True, n_threads=prob.n_threads,
                )
                fit = self._core.glm_fit(
                    prob.X, prob.y, s, _or_empty(prob.offset), np.ascontiguousarray(theta - newton[g]), Hg, opts
                )
            except ValueError:
                failed.append(g)  # e.g. the rows left are separable or collinear
                continue
            if not fit.converged:
                failed.append(g)
                continue
            out[g] = theta - _theta(fit)
        if failed:
            warnings.warn(
                f"exact removal failed for {_describe_rows(np.array(failed), 'groups')} (the fit without the group is "
                f"singular, separates the data, or did not converge within {max_iter} iterations); their entries are NaN",
                ConvergenceWarning,
                stacklevel=3,
            )
        return out


@dataclass
class TopKInfluence:
    """The k most helpful and most harmful training rows per test point (from ``influence(top_k=k)``).

    Each array is (n_test, k), best first. Helpful rows have the largest loss change when removed
    (removing them hurts the test point most); harmful rows the smallest (most negative). Ties go
    to the lower row index.
    """

    helpful_idx: np.ndarray
    helpful_val: np.ndarray
    harmful_idx: np.ndarray
    harmful_val: np.ndarray


class GLMGroupResult(AttributionResult):
    """Removal of whole groups of rows, one entry per group (from :meth:`GLMLOOResult.group_loo`).

    ``dcoef[g]``: full-fit parameters minus those without group g, by ``method``: the Newton step
    ("newton"; Woodbury, the joint effect including interactions between the group's rows) or
    the converged refit ("exact"). ``dcoef_newton`` is always the Newton step.
    ``dcoef_sum_newton`` and ``dcoef_sum_influence``: sums of the rows' individual estimates, the
    additive approximations that are known to underestimate group effects.
    ``values`` is the generalised Cook's distance ``dcoef' H dcoef / p``.
    """

    _values_name = "cooks_distance"
    _frame_columns = ("labels", "size", "cooks_distance")

    def __init__(self, base: GLMLOOResult, method, labels, groups, newton, exact, sum_ns, sum_if, ok):
        self._base = base
        self.method = method
        self.labels = labels
        self.groups = groups
        self.size = np.array([g.size for g in groups])
        self.dcoef_newton = newton
        self.dcoef = newton if exact is None else exact
        self.dcoef_sum_newton = sum_ns
        self.dcoef_sum_influence = sum_if
        self.ok = ok if exact is None else ok & np.isfinite(exact).all(axis=1)
        chol = np.asarray(base._fit.chol)
        self.cooks_distance = ((self.dcoef @ chol) ** 2).sum(axis=1) / chol.shape[0]

    def influence(
        self, X_test, y_test, *, estimate: str = "group", offset_test=None, max_bytes: int = DEFAULT_MAX_BYTES
    ):
        """Change of each test point's loss when each group is removed, (n_groups, n_test): entry
        (g, j) = loss_j(theta without g) - loss_j(theta-hat), with the parameters from ``dcoef``
        (``estimate="group"``), the group Newton step (``"newton"``; the same as "group" for
        method="newton"), or the additive ``"sum_newton"`` / ``"sum_influence"``."""
        D = {
            "group": self.dcoef,
            "newton": self.dcoef_newton,
            "sum_newton": self.dcoef_sum_newton,
            "sum_influence": self.dcoef_sum_influence,
        }
        if estimate not in D:
            raise ValueError(f"estimate must be one of {sorted(D)}, got {estimate!r}")
        return self._base._loss_change(D[estimate], X_test, y_test, offset_test, max_bytes)


def influence(
    X,
    y,
    X_test,
    y_test,
    family="logistic",
    C=1.0,
    sample_weight=None,
    fit_intercept=True,
    method="newton",
    *,
    top_k=None,
    refine=None,
    refine_by="cooks_distance",
    offset=None,
    offset_test=None,
    n_jobs=None,
    max_bytes: int = DEFAULT_MAX_BYTES,
):
    """Change in each test point's loss when each training point is removed.

    Entry (i, j) of the (n_train, n_test) result is ``loss(y_test_j, x_test_j' theta_(i)) -
    loss(y_test_j, x_test_j' theta-hat)``, with theta_(i) estimated by ``method`` (see
    :func:`glm_loo`; "exact" gives the true leave-one-out change). Positive: training point i helps
    test point j (removing it raises that loss); negative: it harms it. Computed in tiles; a result
    larger than ``max_bytes`` is refused unless ``top_k`` is given.

    With ``top_k=k`` returns a :class:`TopKInfluence` with the k most helpful and k most harmful
    training points per test point, streamed without the full matrix. ``offset`` and
    ``offset_test`` add known terms to the training and test linear predictors (see
    :func:`glm_loo`).
    """
    res = glm_loo(
        X, y, family, C, sample_weight, fit_intercept, method, refine=refine, refine_by=refine_by, offset=offset,
        n_jobs=n_jobs,
    )
    return res.influence(X_test, y_test, top_k=top_k, offset_test=offset_test, max_bytes=max_bytes)
