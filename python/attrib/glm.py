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

from . import _dispatch, _loo
from ._loo import (
    DEFAULT_MAX_BYTES,
    EMPTY,
    EXACT_TOL,
    FIT_TOL,
    ILL_CONDITIONED_RCOND,
    DataGuard,
    Groups,
    check_dense_size,
    check_refine_rows,
    describe_rows,
    in_timed_pieces,
    leverage_one,
    or_empty,
    param_names,
    parse_groups,
    penalty_from_C,
    warn_if_not_at_optimum,
    warn_leverage_one,
)
from ._validation import (
    as_float_matrix,
    as_float_vector,
    check_binary_labels,
    check_bool,
    check_counts,
    check_positive,
    check_sample_weight,
    column_names,
    offset_column_means,
    resolve_n_jobs,
)
from .exceptions import ConvergenceWarning, IllConditionedWarning
from .glm_multinomial import MultinomialLOOResult, is_multinomial, multinomial_loo
from .results import AttributionResult

__all__ = ["GLMGroupResult", "GLMLOOResult", "TopKInfluence", "glm_loo", "influence"]

#: Family names, as the compiled core's GlmFamily enum spells them (resolved per core at each call:
#: the two CPU builds each have their own enum type).
FAMILIES = tuple(_dispatch.core.GlmFamily.__members__)
METHODS = ("newton", "influence", "exact")

_NO_HESSIAN = np.empty((0, 0))


# ------------------------------------------------------------------------------- arguments
def _check_family(family) -> str:
    if not isinstance(family, str) or family not in FAMILIES:
        raise ValueError(
            f"family must be one of {sorted((*FAMILIES, 'multinomial'))} or a fitted scikit-learn estimator, got {family!r}"
        )
    return family


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
            raise ValueError(
                f"LogisticRegression with penalty={penalty!r}, l1_ratio={l1_ratio!r}: only L2 (or none) is supported"
            )
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
    if params.get("positive", False):
        raise ValueError(f"{kind}(positive=True) is a constrained fit, which glm_loo does not model; refit without it")
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
    #: The column means subtracted from X (see offset_column_means), or None. The kernels then see
    #: the centred design and an intercept b_c = b + center' coef.
    center: np.ndarray | None = None
    #: With more features than rows (and a penalty): an orthonormal basis Q (d x r, r <= n) of the
    #: rows' span, or None. The kernels then see X Q (n x r) and coefficients gamma, coef = Q gamma.
    basis: np.ndarray | None = None

    @property
    def n_features(self) -> int:
        """Features of the user's X (the kernels may see fewer, see basis)."""
        return self.X.shape[1] if self.basis is None else self.basis.shape[0]

    def design(self, X: np.ndarray) -> np.ndarray:
        """Rows in the kernels' coordinates: (X - center) Q."""
        if self.center is not None:
            X = X - self.center
        if self.basis is not None:
            X = np.ascontiguousarray(X @ self.basis)
        return X


def _internal(prob: _Problem, D: np.ndarray) -> np.ndarray:
    """Parameters (theta or rows of parameter changes, intercept first) in the kernels'
    coordinates: b_c = b + center' coef and gamma = Q' coef. The same array when neither applies."""
    if prob.center is None and prob.basis is None:
        return D
    D = np.array(D, dtype=np.float64)
    off = int(prob.fit_intercept)
    if prob.center is not None:
        D[..., 0] += D[..., 1:] @ prob.center
    if prob.basis is not None:
        D = np.concatenate([D[..., :off], D[..., off:] @ prob.basis], axis=-1)
    return D


def _public(prob: _Problem, D: np.ndarray) -> np.ndarray:
    """The inverse of _internal: coef = Q gamma, then b = b_c - center' coef."""
    if prob.center is None and prob.basis is None:
        return D
    D = np.array(D, dtype=np.float64)
    off = int(prob.fit_intercept)
    if prob.basis is not None:
        D = np.concatenate([D[..., :off], D[..., off:] @ prob.basis.T], axis=-1)
    if prob.center is not None:
        D[..., 0] -= D[..., 1:] @ prob.center
    return D


def _row_space_basis(X: np.ndarray) -> np.ndarray:
    """Q (d x n), orthonormal, whose span holds every row of X (Householder QR of X'). With an L2
    penalty on coef the optimum lies in the rows' span (any component outside it only adds to
    the penalty), for the full data and for every subset of the rows alike, so the problem in
    gamma = Q' coef, on the n x n design X Q, has the same fit, leave-one-out and group solutions,
    leverages and Cook's distances, at O(n^2 d) instead of O(d^3)."""
    return np.ascontiguousarray(np.linalg.qr(X.T, mode="reduced")[0])


def _prepare(X, y, family, C, sample_weight, fit_intercept, n_jobs, offset=None):
    feature_names = column_names(X)
    Xa = as_float_matrix(X, "X")
    n, d = Xa.shape
    w = check_sample_weight(sample_weight, n)
    off = None if offset is None else as_float_vector(offset, "offset", n)
    start = None
    if isinstance(family, str) or family is None:
        family = _check_family(family)
        l2 = penalty_from_C(C)
        fit_intercept = check_bool(fit_intercept, "fit_intercept")
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
    center = offset_column_means(Xa) if fit_intercept else None
    basis = _row_space_basis(Xa if center is None else Xa - center) if l2 > 0 and d > n else None
    prob = _Problem(Xa, ya, w, family, l2, fit_intercept, classes, n_threads, feature_names, off, center, basis)
    prob.X = prob.design(Xa)
    return prob, None if start is None else _internal(prob, start)


#: Fits on at least this many rows first solve every WARM_STRIDE-th row, and start from there.
WARM_MIN_ROWS = 20_000
WARM_STRIDE = 16
#: The subsample's optimum differs from the full one by sampling noise (~ sqrt(p / rows)), so
#: solving it more precisely than this buys nothing.
WARM_TOL = 1e-4


def _fit_options(prob: _Problem, core, **options):
    """The core's GlmFitOptions for this problem (family, penalty, intercept, threads), with
    ``options`` set on top (l2, max_iter, tol, polish)."""
    opts = core.GlmFitOptions(
        family=getattr(core.GlmFamily, prob.family),
        l2=prob.l2,
        fit_intercept=prob.fit_intercept,
        n_threads=prob.n_threads,
    )
    for name, value in options.items():
        setattr(opts, name, value)
    return opts


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
    ws = EMPTY if prob.w is None else np.ascontiguousarray(prob.w[::WARM_STRIDE])
    os_ = EMPTY if prob.offset is None else np.ascontiguousarray(prob.offset[::WARM_STRIDE])
    scale = Xs.shape[0] / n if prob.w is None else float(ws.sum() / prob.w.sum())
    try:
        opts = _fit_options(prob, core, l2=prob.l2 * scale, max_iter=50, tol=WARM_TOL)
        fit = core.glm_fit(Xs, ys, ws, os_, EMPTY, _NO_HESSIAN, opts)
    except ValueError:
        return None, None
    theta = _theta(fit)
    if not (fit.converged and np.isfinite(theta).all()):
        return None, None
    L = np.asarray(fit.chol)
    return theta, (L @ L.T) / scale


def _fit(
    prob: _Problem, start=None, *, max_iter=100, tol=FIT_TOL, polish=False, core=None, hessian=None, fingerprint=False
):
    """The penalised Newton fit. ``polish``: end at the rounding floor rather than within ``tol``
    (one more O(n p) pass), which exact leave-one-out needs: it subtracts the fit from problems
    solved to EXACT_TOL. ``fingerprint``: the fit's first pass also checksums X, y, w and offset
    (``fit.fingerprints``, for the result's in-place edit check)."""
    core = core or _dispatch.core
    if start is None:
        start, hessian = _warm_start(prob, core)
    s = EMPTY if start is None else np.ascontiguousarray(start, dtype=np.float64)
    opts = _fit_options(prob, core, max_iter=max_iter, tol=tol, polish=polish, fingerprint=fingerprint)
    fit = core.glm_fit(
        prob.X,
        prob.y,
        or_empty(prob.w),
        or_empty(prob.offset),
        s,
        _NO_HESSIAN if hessian is None else hessian,
        opts,
    )
    if not fit.converged:
        warnings.warn(
            f"the Newton fit stopped after {fit.n_iter} iterations with last step {fit.step_max:.2g} and gradient "
            f"{fit.grad_max:.2g} (tolerance {tol:.0e}); leave-one-out results may be inaccurate"
            + (
                "; for logistic regression without a penalty this suggests (quasi-)separation: use C < inf"
                if prob.family == "logistic" and prob.l2 == 0
                else ""
            )
            + (
                "; for Poisson regression without a penalty this suggests rows with zero counts that a linear "
                "function of X isolates (their coefficient runs to -inf): use C < inf"
                if prob.family == "poisson" and prob.l2 == 0
                else ""
            ),
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


#: refine="auto" refines rows until this bound on the relative error of the remaining Newton
#: steps holds (see _auto_refine): the Pearson correlation of their test-loss changes with exact
#: leave-one-out is then about 1 - error^2 / 2 or better.
AUTO_REFINE_RTOL = 0.02


def _auto_refine_max_rows(n_params: int) -> int:
    """At most this many rows for refine="auto": each exact solve takes a few Newton iterations
    of two products of X with the block of rows, so p / 10 rows keep the call within about twice
    the bare Newton step (bench/bench_glm.py measures it)."""
    return max(1, -(-n_params // 10))


def _refine_is_explicit(refine) -> bool:
    """Whether refine names rows or a positive count (rather than "auto", None or 0)."""
    if isinstance(refine, str):
        if refine != "auto":
            raise ValueError(f"refine must be 'auto', an int >= 0 or an array of row indices, got {refine!r}")
        return False
    if refine is None:
        return False
    if isinstance(refine, (numbers.Integral, np.integer)) and not isinstance(refine, (bool, np.bool_)):
        k = int(refine)
        if k < 0:
            raise ValueError(f"refine must be >= 0 or a list of row indices, got {k}")
        return k > 0
    if isinstance(refine, (bool, np.bool_, numbers.Number)):
        raise TypeError(f"refine must be 'auto', an int >= 0 or an array of row indices, got {type(refine).__name__}")
    return True


def _auto_refine(family: str, quad, hat, step_sq, w, n_params: int) -> tuple[np.ndarray, float]:
    """Rows for refine="auto", and the error bound of the Newton steps that are left.

    To first order the error of row i's Newton step D_i is e_i = H_(i)^-1 T[D_i, D_i] / 2, with T
    the third derivative of the objective. The logistic and Poisson losses have |l'''| <= l''
    (self-concordance in eta), so with q_j = z_j' H^-1 z_j and H_(i) >= (1 - h_i) H,

        ||e_i||_H <= rho_i ||D_i||_H,   rho_i = sqrt(max_j q_j) ||D_i||_H / (2 (1 - h_i)),

    all O(n) from what the Newton pass computed (``step_sq`` is ||D_i||_H^2). Rows are refined in
    decreasing ||D_i||_H until the relative error of the others, sqrt(sum rho_i^2 ||D_i||^2 /
    sum ||D_i||^2), is at most AUTO_REFINE_RTOL, or _auto_refine_max_rows rows are refined. The
    bound is conservative (it ignores that l''' changes sign; measured 10-100x above the actual
    error), so the cap usually decides; the rows refined are those that carry the error. The Gaussian
    family's Newton step is exact: nothing to refine."""
    n = quad.shape[0]
    a = np.where(np.isfinite(step_sq), step_sq, 0.0)  # leverage-one rows: NaN, nothing to refine
    total = float(a.sum())
    if family == "gaussian" or total == 0.0:
        return np.empty(0, dtype=np.int64), 0.0
    q_max = float(quad.max() if w is None else quad[w > 0].max())
    with np.errstate(divide="ignore", invalid="ignore"):
        err_sq = np.where(a > 0.0, (0.25 * q_max) * a * a / (1.0 - hat) ** 2, 0.0)
    k_max = min(n, _auto_refine_max_rows(n_params))
    top = np.argpartition(-a, k_max - 1)[:k_max] if k_max < n else np.arange(n)
    top = top[np.argsort(-a[top], kind="stable")]
    # left[k]: the squared relative bound once the first k rows of `top` are refined.
    left = (float(err_sq.sum()) - np.concatenate([[0.0], np.cumsum(err_sq[top])])) / total
    ok = left <= AUTO_REFINE_RTOL**2
    k = int(np.argmax(ok)) if ok.any() else k_max
    return np.sort(top[:k]).astype(np.int64), float(np.sqrt(max(left[k], 0.0)))


#: Exact leave-one-out runs in calls of about this many seconds (see _exact_rows).
def _threads(prob: _Problem, core) -> int:
    return prob.n_threads if prob.n_threads > 0 else int(core.default_num_threads())


def _no_rows(fit):
    p = len(fit.coef) + int(fit.fit_intercept)
    return np.empty((0, p)), np.empty(0), np.empty(0, np.int32), np.empty(0, bool)


def _exact_rows(prob: _Problem, fit, rows: np.ndarray, lev1: np.ndarray, max_iter: int, core, stacklevel: int):
    """Exact leave-one-out of the listed rows: (dcoef rows, their leave-one-out linear predictors).
    Rows that cannot be left out or did not converge are NaN, each kind in one warning."""
    # In short calls of whole blocks of the core (Ctrl-C between them; the bits of one call).
    parts: list = []
    in_timed_pieces(
        rows.size,
        int(core.glm_exact_block_rows(prob.X.shape[0])),
        _threads(prob, core),
        lambda start, stop: parts.append(
            core.glm_exact_loo(
                prob.X, prob.y, or_empty(prob.w), fit, rows[start:stop].tolist(), max_iter, EXACT_TOL, prob.n_threads
            )
        ),
    )
    d, eta, _, converged = (np.concatenate(a) for a in zip(*parts)) if parts else _no_rows(fit)
    warn_leverage_one(rows[lev1[rows]], stacklevel=stacklevel + 1)
    bad = rows[~converged & ~lev1[rows]]
    if bad.size:
        warnings.warn(
            f"exact leave-one-out did not converge within {max_iter} iterations for {describe_rows(bad)}; "
            "their entries are NaN",
            ConvergenceWarning,
            stacklevel=stacklevel + 1,
        )
    return d, eta


def glm_loo(
    X,
    y,
    family="logistic",
    C=1.0,
    sample_weight=None,
    fit_intercept=True,
    method="newton",
    *,
    refine="auto",
    refine_by="cooks_distance",
    offset=None,
    n_jobs=None,
    max_iter=100,
) -> GLMLOOResult | MultinomialLOOResult:
    """Leave-one-out coefficients of a logistic, multinomial, Poisson or Gaussian GLM, without refitting.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Training design without a constant column (use ``fit_intercept``); converted once to
        C-contiguous float64. The result keeps a reference: do not modify it in place afterwards.
        With an intercept, columns whose mean exceeds eight standard deviations are centred
        internally (a copy of X), so that results do not move with a translation of X. With a
        penalty and more features than rows, the fit runs in the rows' span (an orthonormal basis
        from a QR factorisation: n x n instead of d x d, the same solutions).
    y : array-like of shape (n_samples,)
        Logistic: any two classes (the larger one is 1, as in scikit-learn). Poisson: non-negative
        (non-integer rates are allowed). Gaussian: any real numbers. Multinomial: any K >= 2
        classes (``numpy.unique`` order, as scikit-learn's ``classes_``).
    family : {"logistic", "multinomial", "poisson", "gaussian"} or a fitted scikit-learn estimator
        ``"multinomial"``: softmax regression, scikit-learn's multiclass ``LogisticRegression(C)``
        (K coefficient vectors, unpenalised intercepts summing to zero); the result is a
        :class:`attrib.glm_multinomial.MultinomialLOOResult` with ``dcoef`` of shape
        (n, K, n_params) (see :mod:`attrib.glm_multinomial`; ``offset`` is not supported, and a
        row that is the only one of its class has an undefined leave-one-out, NaN with a warning).
        A fitted multiclass ``LogisticRegression`` selects it too.
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
        Fit an unpenalised intercept.
    method : {"newton", "influence", "exact"}, default "newton"
        One Newton step per left-out row (Pregibon / ALO), the influence function (no 1/(1-h)), or
        Newton iterations to convergence (equal to refitting).
    refine : "auto", int or array of row indices, default "auto"
        Rows to solve exactly while the others keep the approximation. ``"auto"`` (with
        ``method="newton"``): the rows with the largest Newton steps, until a bound on the
        relative error of the remaining steps (:attr:`GLMLOOResult.error_bound`) is at most 0.02,
        and at most one row per 10 parameters, so the call costs at most about twice the bare
        step; on breast cancer and digits this takes the Pearson correlation of test-loss changes
        with exact leave-one-out from 0.987 to above 0.999 (bench/bench_glm.py). With
        ``method="influence"`` "auto" refines nothing (the influence function is what was asked
        for). 0 (or None): the bare approximation, statsmodels' ``d_params`` for "newton". An int
        k: the k rows with the largest ``refine_by``. Rows named by index or boolean mask: those.
        Rows picked by "auto" are exact to the fit's tolerance (1e-10 relative to the
        parameters); an explicit ``refine`` first takes the fit to the rounding floor.
        :attr:`GLMLOOResult.refined` lists the rows.
    refine_by : {"cooks_distance", "hat"}, default "cooks_distance"
        How an int ``refine`` picks rows: largest estimated influence (Cook's distance of the
        approximation), or largest leverage. The one-step error grows with the square of the step,
        so the most influential rows carry it; they are not always the highest-leverage ones.
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
    TypeError
        Arguments of the wrong type (non-numeric arrays, ``C`` not a number, ``fit_intercept`` not
        a bool, an unsupported estimator).
    ValueError
        Bad labels (not two classes; negative counts), NaN or inf, mismatched shapes, negative
        weights, a singular Hessian, or perfect separation without a penalty.

    Warns
    -----
    LeverageOneWarning
        Rows whose removal leaves the model unidentified (their entries are NaN).
    ConvergenceWarning
        The fit, or the exact solve of some rows, stopped before its tolerance.
    IllConditionedWarning
        The unit-diagonal Hessian has a reciprocal condition number below 1e-10.
    NotAtOptimumWarning
        A fitted estimator's coefficients were not at its optimum.

    Examples
    --------
    >>> import attrib
    >>> data = attrib.datasets.load_breast_cancer()
    >>> X = (data.X - data.X.mean(0)) / data.X.std(0)
    >>> m = attrib.glm_loo(X, data.y, family="logistic", C=1.0)
    >>> m.dcoef.shape                            # intercept first
    (569, 31)
    >>> m.refined.size                           # rows solved exactly by refine="auto"
    4
    >>> bare = attrib.glm_loo(X, data.y, refine=0)   # statsmodels' d_params, without refinement
    >>> bare.refined.size
    0
    """
    method = _check_method(method)
    explicit = _refine_is_explicit(refine)
    if explicit and method == "exact":
        raise ValueError("refine is for method='newton' or 'influence'; method='exact' solves every row exactly")
    if refine_by not in ("hat", "cooks_distance"):
        raise ValueError(f"refine_by must be 'hat' or 'cooks_distance', got {refine_by!r}")
    max_iter = check_positive(max_iter, "max_iter", integer=True)
    if is_multinomial(family):  # softmax regression: attrib.glm_multinomial
        return multinomial_loo(
            X,
            y,
            family,
            C,
            sample_weight,
            fit_intercept,
            method,
            refine=refine,
            refine_by=refine_by,
            offset=offset,
            n_jobs=n_jobs,
            max_iter=max_iter,
            explicit=explicit,
        )
    prob, start = _prepare(X, y, family, C, sample_weight, fit_intercept, n_jobs, offset)
    core = _dispatch.core
    # Exact leave-one-out of every row, or of rows the caller named, needs the fit at the rounding
    # floor; rows that "auto" picks are solved from the fit as it is (see refine).
    polish = method == "exact" or explicit
    fit = _fit(prob, start, max_iter=max_iter, polish=polish, core=core, fingerprint=_loo.KERNEL_CHECKSUMS)
    if start is not None:
        warn_if_not_at_optimum(_theta(fit), start, stacklevel=2)
    # What to refine: the rows named (explicit), "auto" (True; Newton steps only) or none (False).
    rows_spec = refine if explicit else (method == "newton" and isinstance(refine, str))
    return _leave_one_out(prob, fit, method, rows_spec, refine_by, max_iter, core, polish)


def _leave_one_out(prob: _Problem, fit, method: str, refine, refine_by: str, max_iter: int, core, polished: bool):
    """The leave-one-out pass (leverages and the chosen step), then the exact solves: every row
    for "exact", else the rows ``refine`` asks for (True: "auto", False: none)."""
    n = prob.X.shape[0]
    step = getattr(core.GlmStep, {"exact": "none", "newton": "newton", "influence": "influence"}[method])
    quad, hat, dcoef = core.glm_loo_rows(prob.X, or_empty(prob.w), fit, step, prob.n_threads)
    lev1 = leverage_one(hat, prob.w)
    result = dict(hat=hat, leverage_one=lev1, refined=np.empty(0, dtype=np.int64), error_bound=np.nan)
    if method == "exact":
        dcoef, loo_eta = _exact_rows(prob, fit, np.arange(n, dtype=np.int64), lev1, max_iter, core, stacklevel=3)
        return GLMLOOResult(prob, fit, method, core, polished, dcoef=dcoef, loo_linear_predictor=loo_eta, **result)
    if method == "newton":
        warn_leverage_one(np.flatnonzero(lev1), stacklevel=3)
    # x_i' theta_(i) = eta_i - z_i' dcoef_i and Cook's distance d_i' H d_i / p = c_i^2 q_i / p for
    # d_i = c_i H^-1 z_i: O(n) from q_i = z_i' H^-1 z_i, no pass.
    sd1 = (1.0 if prob.w is None else prob.w) * np.asarray(fit.d1)
    with np.errstate(divide="ignore", invalid="ignore"):
        one_minus_h = np.where(lev1, np.nan, 1.0 - hat) if method == "newton" else 1.0
        loo_eta = np.asarray(fit.eta) + sd1 * quad / one_minus_h
        step_sq = (sd1 / one_minus_h) ** 2 * quad  # ||d_i||_H^2
    p = dcoef.shape[1]  # parameters the kernels see (fewer than the model's with a row-space basis)
    n_params = prob.n_features + int(prob.fit_intercept)  # Cook's distance divides by the model's
    cooks = step_sq / n_params
    if refine is True and fit.converged:  # (exact solves from a fit that stopped early mean nothing)
        rows, result["error_bound"] = _auto_refine(prob.family, quad, hat, step_sq, prob.w, p)
    elif refine is False or refine is True:
        rows = np.empty(0, dtype=np.int64)
    else:
        rows = check_refine_rows(refine, n, lambda: cooks if refine_by == "cooks_distance" else hat)
    if rows.size:
        d, eta = _exact_rows(prob, fit, rows, lev1, max_iter, core, stacklevel=3)
        dcoef[rows] = d
        loo_eta[rows] = eta
        L = np.asarray(fit.chol)
        cooks[rows] = ((d @ L) ** 2).sum(axis=1) / n_params
    result["refined"] = rows
    return GLMLOOResult(
        prob, fit, method, core, polished, dcoef=dcoef, loo_linear_predictor=loo_eta, cooks_distance=cooks, **result
    )


class GLMLOOResult(AttributionResult):
    """Leave-one-out of a GLM fit (from :func:`glm_loo`).

    ``values`` is Cook's distance ``dcoef_i' H dcoef_i / p`` (H the Hessian of the objective at the
    fit; for an unpenalised logistic or Poisson GLM this is statsmodels' ``cooks_distance[0]``), so
    ``top(k)`` lists the k most influential rows. Rows with leverage 1 have NaN leave-one-out
    quantities; rows whose exact solve did not converge have NaN and are listed in a warning.

    Attributes
    ----------
    family : str
    method : str
    C : float or None
        The penalty (None: unpenalised).
    fit_intercept : bool
    classes_ : ndarray or None
        The two classes of a logistic model (the second is coded 1).
    coef_ : ndarray of shape (n_features,)
    intercept_ : float
    params_ : ndarray of shape (n_params,)
        ``(intercept_, *coef_)`` (or ``coef_`` alone without an intercept).
    n_features_in_ : int
    feature_names_in_ : list of str or None
    n_iter_ : int
        Newton iterations of the fit.
    hat : ndarray of shape (n_samples,)
        Leverages ``h_i = s_i l''_i z_i' H^-1 z_i``.
    linear_predictor : ndarray of shape (n_samples,)
        ``eta_i`` of the full fit (offset included).
    dcoef : ndarray of shape (n_samples, n_params)
        Full-fit parameters minus leave-one-out parameters (intercept first).
    loo_linear_predictor : ndarray of shape (n_samples,)
        ``z_i' theta_(i) (+ offset_i)``: row i's linear predictor by the fit without it.
    leverage_one : ndarray of bool
        Rows whose removal leaves the model unidentified.
    refined : ndarray of int
        Rows solved exactly (see ``refine``).
    error_bound : float
        ``refine="auto"``: the bound on the relative error (Hessian norm) of the Newton steps left
        unrefined; NaN when "auto" was not used, 0 for the Gaussian family (exact).
    """

    _values_name = "cooks_distance"
    _frame_columns = ("hat", "linear_predictor", "loo_linear_predictor", "cooks_distance")

    def __init__(
        self,
        prob: _Problem,
        fit,
        method: str,
        core,
        polished: bool,
        *,
        hat,
        dcoef,
        loo_linear_predictor,
        leverage_one,
        refined,
        error_bound,
        cooks_distance=None,
    ):
        self._prob = prob
        self._polished = polished  # the fit ends at the rounding floor (see _fit)
        names = ("X", "y", "sample_weight", "offset")
        known = {k: tuple(v) for k, v in zip(names, fit.fingerprints)}
        self._guard = DataGuard(known, X=prob.X, y=prob.y, sample_weight=prob.w, offset=prob.offset)
        self._fit = fit
        self._core = core
        self.family = prob.family
        self.method = method
        self.C = None if prob.l2 == 0 else 1.0 / prob.l2
        self.fit_intercept = prob.fit_intercept
        self.classes_ = prob.classes
        self.coef_ = _public(prob, _theta(fit))[int(prob.fit_intercept) :]
        self.intercept_ = float(_public(prob, _theta(fit))[0]) if prob.fit_intercept else 0.0
        self.n_features_in_ = prob.n_features
        self.feature_names_in_ = prob.feature_names
        self.n_iter_ = int(fit.n_iter)
        self.hat = hat
        self._dcoef = dcoef  # in the kernels' (centred) coordinates, which the kernels take back
        self.dcoef = _public(prob, dcoef)
        self.loo_linear_predictor = loo_linear_predictor
        self.leverage_one = leverage_one
        self.refined = refined
        self.error_bound = error_bound
        if cooks_distance is not None:
            self.__dict__["cooks_distance"] = cooks_distance  # fills the cached_property

    def _check_state(self) -> None:
        prob, fit, n = self._prob, self._fit, self.hat.shape[0]
        X = prob.X
        self._expect(isinstance(X, np.ndarray) and X.ndim == 2 and X.dtype == np.float64, "X is not a float64 matrix")
        r = self.n_features_in_ if prob.basis is None else prob.basis.shape[1]  # features the kernels see
        self._expect(X.flags.c_contiguous and X.shape == (n, r), f"X has shape {X.shape}, not ({n}, {r})")
        self._expect(np.asarray(fit.coef).shape == (r,), "the coefficients' size")
        self._expect(prob.basis is None or prob.basis.shape == (self.n_features_in_, r), "the basis' shape")
        per_row = [prob.y, fit.eta, fit.d1, fit.d2, self.loo_linear_predictor, self.leverage_one]
        per_row += [a for a in (prob.w, prob.offset) if a is not None]
        self._expect(all(np.shape(a) == (n,) for a in per_row), "the per-row arrays' sizes")
        p, q = self.n_features_in_ + int(self.fit_intercept), r + int(self.fit_intercept)
        self._expect(
            np.shape(self.dcoef) == (n, p) and np.shape(self._dcoef) == (n, q) and np.asarray(fit.chol).shape == (q, q),
            "dcoef or the Hessian",
        )
        self._expect(prob.center is None or np.shape(prob.center) == (self.n_features_in_,), "the centre's size")
        self._expect(bool(np.all((self.refined >= 0) & (self.refined < n))), "refined rows out of range")
        self._check_unchanged()

    @functools.cached_property
    def params_(self) -> np.ndarray:
        return _public(self._prob, _theta(self._fit))

    @functools.cached_property
    def linear_predictor(self) -> np.ndarray:
        return np.array(self._fit.eta)

    @property
    def param_names(self) -> list[str]:
        """Names of the columns of ``dcoef``: the intercept first, then the features."""
        return param_names(self.feature_names_in_, self.n_features_in_, self.fit_intercept)

    @functools.cached_property
    def cooks_distance(self) -> np.ndarray:
        """Cook's distance ``dcoef_i' H dcoef_i / p`` of every row (``values``)."""
        L = np.asarray(self._fit.chol)
        return ((self._dcoef @ L) ** 2).sum(axis=1) / (self.n_features_in_ + int(self.fit_intercept))

    def _check_unchanged(self):
        prob = self._prob
        self._guard.check({"X": prob.X, "y": prob.y, "sample_weight": prob.w, "offset": prob.offset}, "glm_loo")

    def influence(self, X_test, y_test, *, top_k=None, offset_test=None, max_bytes: int = DEFAULT_MAX_BYTES):
        """Change of each test point's loss when each training row is removed, by this result's
        ``dcoef``.

        Parameters
        ----------
        X_test : array-like of shape (n_test, n_features)
        y_test : array-like of shape (n_test,)
            Labels among the training classes (logistic), counts (Poisson) or reals.
        top_k : int, optional
            Return the ``top_k`` most helpful and most harmful training rows per test point,
            streamed without the full matrix.
        offset_test : array-like of shape (n_test,), optional
            The test points' offsets; required exactly when the model has an offset.
        max_bytes : int, default 2**31
            Largest dense result built (without ``top_k``).

        Returns
        -------
        ndarray of shape (n_samples, n_test), or TopKInfluence with ``top_k``
            Entry (i, j) = loss_j(theta_(i)) - loss_j(theta-hat). Positive: row i helps test point j.

        Raises
        ------
        ValueError
            Test data of the wrong shape or with unseen labels, a missing or unexpected
            ``offset_test``, or a result over ``max_bytes``.
        """
        if top_k is None:
            return self._loss_change(
                self._dcoef,
                X_test,
                y_test,
                offset_test,
                max_bytes,
                "pass top_k= to get the k most helpful and harmful training rows per test point without it, split "
                "X_test, or raise max_bytes",
            )
        Xt, yt, ot = self._test_data(X_test, y_test, offset_test)
        n = self._prob.X.shape[0]
        k = min(check_positive(top_k, "top_k", integer=True), n)
        D, core, parts = np.ascontiguousarray(self._dcoef), self._core, []
        # Test points in short calls of whole tiles (Ctrl-C between them; the bits of one call).
        in_timed_pieces(
            Xt.shape[0],
            int(core.GLM_LOSS_TEST_TILE),
            # One round of tiles first (a tile of test points reads every training row: at
            # n = 200,000 one tile takes 0.2 s, four rounds 1.2 s), then sized by time.
            _threads(self._prob, core),
            lambda a, b: parts.append(
                core.glm_loss_change_topk(
                    Xt[a:b], yt[a:b], ot[a:b] if ot.size else ot, self._fit, D, k, self._prob.n_threads
                )
            ),
        )
        hi, hv, li, lv = (np.concatenate(a) for a in zip(*parts))
        return TopKInfluence(hi, hv, li, lv)

    def _optimum_at_rounding_floor(self, H) -> np.ndarray:
        """The full fit's parameters to the rounding floor: params_ itself when the fit was
        polished (exact methods, explicit refine), else one more Newton step from it, computed
        once. Exact removals are measured from here (params_ may be up to FIT_TOL away)."""
        if self._polished:
            return _theta(self._fit)
        if "_theta_floor" not in self.__dict__:
            fit = _fit(self._prob, _theta(self._fit), polish=True, core=self._core, hessian=np.ascontiguousarray(H))
            self._theta_floor = _theta(fit)
        return self._theta_floor

    def _test_data(self, X_test, y_test, offset_test):
        Xt = self._prob.design(as_float_matrix(X_test, "X_test", n_features=self.n_features_in_))
        m = Xt.shape[0]
        yt, _ = _check_targets(y_test, self._prob.family, m, "y_test", classes=self._prob.classes)
        if (offset_test is None) != (self._prob.offset is None):
            raise ValueError(
                "the model was fitted with an offset: pass offset_test for the test points"
                if offset_test is None
                else "offset_test was given but the model was fitted without an offset"
            )
        ot = EMPTY if offset_test is None else as_float_vector(offset_test, "offset_test", m, what="X_test")
        return Xt, yt, ot

    def _loss_change(self, D, X_test, y_test, offset_test, max_bytes, hint="split X_test, or raise max_bytes"):
        """(rows of D) x n_test matrix of loss_j(theta-hat - D_i) - loss_j(theta-hat)."""
        Xt, yt, ot = self._test_data(X_test, y_test, offset_test)
        check_dense_size(D.shape[0], Xt.shape[0], max_bytes, "influence", hint)
        D, core = np.ascontiguousarray(D), self._core
        out = np.empty((D.shape[0], Xt.shape[0]))
        # Training rows in short calls of whole tiles, written in place (Ctrl-C between calls).
        in_timed_pieces(
            D.shape[0],
            int(core.GLM_LOSS_TRAIN_TILE),
            4 * _threads(self._prob, core),
            lambda a, b: core.glm_loss_change(Xt, yt, ot, self._fit, D[a:b], self._prob.n_threads, out[a:b]),
        )
        return out

    def group_loo(self, groups, method: str = "newton", *, max_iter: int = 100) -> GLMGroupResult:
        """Removal of whole groups of rows at once.

        Parameters
        ----------
        groups : array-like of shape (n_samples,) or list of array-like
            A label per row or a list of row-index arrays or boolean masks (which may overlap), as
            in :func:`attrib.linear_group_loo`.
        method : {"newton", "exact"}, default "newton"
            ``"newton"``: one Newton step on each group-removed objective, with the Hessian
            downdated by Woodbury (one k x k Cholesky per group of k rows). ``"exact"``: each
            group-removed problem solved to convergence, starting from that step and its
            downdated Hessian: the same as refitting without the group (O(n p^2) per Newton
            iteration, a few iterations per group).
        max_iter : int, default 100
            Newton iterations per group for ``"exact"``.

        Returns
        -------
        GLMGroupResult
            One entry per group; the sums of the rows' individual Newton-step and influence
            estimates are computed on first access.

        Raises
        ------
        ValueError
            Malformed groups (empty, repeated or out-of-range rows, a group holding every row).
        RuntimeError
            X, y, the weights or the offset were modified in place after the fit.
        """
        if method not in ("newton", "exact"):
            raise ValueError(f"method must be 'newton' or 'exact', got {method!r}")
        max_iter = check_positive(max_iter, "max_iter", integer=True)
        prob = self._prob
        self._check_unchanged()
        g = parse_groups(groups, prob.X.shape[0], prob.w)
        dcoef, ok = self._core.glm_group_step(
            prob.X, or_empty(prob.w), self._fit, g.offsets.tolist(), g.indices.tolist(), prob.n_threads
        )
        warn_leverage_one(np.flatnonzero(~ok), what="groups", stacklevel=2)
        exact = self._exact_groups(g, dcoef, ok, max_iter) if method == "exact" else None
        return GLMGroupResult(self, method, g, dcoef, exact, ok)

    def _exact_groups(self, groups: Groups, newton: np.ndarray, ok: np.ndarray, max_iter: int) -> np.ndarray:
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
        opts = _fit_options(prob, self._core, max_iter=max_iter, tol=FIT_TOL, polish=True)
        for g, rows in enumerate(groups.arrays):
            if not ok[g]:
                continue  # not identified without the group: NaN, already warned about
            s = s_all.copy()
            s[rows] = 0.0
            Zg = prob.X[rows]
            if prob.fit_intercept:
                Zg = np.hstack([np.ones((rows.size, 1)), Zg])
            Hg = np.ascontiguousarray(H - (Zg.T * sd2[rows]) @ Zg)
            try:
                fit = self._core.glm_fit(
                    prob.X, prob.y, s, or_empty(prob.offset), np.ascontiguousarray(theta - newton[g]), Hg, opts
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
                f"exact removal failed for {describe_rows(np.array(failed), 'groups')} (the fit without the group is "
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

    Attributes
    ----------
    helpful_idx, harmful_idx : ndarray of int64, shape (n_test, k)
        Training row indices.
    helpful_val, harmful_val : ndarray of float64, shape (n_test, k)
        Their loss changes.
    """

    helpful_idx: np.ndarray
    helpful_val: np.ndarray
    harmful_idx: np.ndarray
    harmful_val: np.ndarray


class GLMGroupResult(AttributionResult):
    """Removal of whole groups of rows, one entry per group (from :meth:`GLMLOOResult.group_loo`).

    ``values`` is the generalised Cook's distance ``dcoef' H dcoef / p``.

    Attributes
    ----------
    method : str
    labels : ndarray
        Group labels (``numpy.unique`` order), or 0..G-1 for a list of index arrays.
    groups : list of ndarray
        The rows of each group.
    size : ndarray of int
        Rows per group.
    dcoef : ndarray of shape (n_groups, n_params)
        Full-fit parameters minus those without group g, by ``method``: the Newton step
        ("newton"; Woodbury, the joint effect including interactions between the group's rows) or
        the converged refit ("exact").
    dcoef_newton : ndarray of shape (n_groups, n_params)
        Always the Newton step.
    ok : ndarray of bool
        False where the group cannot be removed (or its exact refit failed); those rows are NaN.
    """

    _values_name = "cooks_distance"
    _frame_columns = ("labels", "size", "cooks_distance")

    def __init__(self, base: GLMLOOResult, method: str, groups: Groups, newton, exact, ok):
        self._base = base
        self._groups = groups
        self.method = method
        self.labels = groups.labels
        self.groups = groups.arrays
        self.size = groups.sizes
        # The kernels' (centred) coordinates, kept for the kernels; the public arrays are converted.
        self._newton = newton
        self._dcoef = newton if exact is None else exact
        self.dcoef_newton = _public(base._prob, self._newton)
        self.dcoef = _public(base._prob, self._dcoef)
        self.ok = ok if exact is None else ok & np.isfinite(exact).all(axis=1)

    def _check_state(self) -> None:
        base, g = self._base, self._groups
        self._expect(g.consistent(base.hat.shape[0]), "the groups' row lists")
        public = {np.shape(a) for a in (self.dcoef, self.dcoef_newton)}
        internal = {np.shape(a) for a in (self._dcoef, self._newton)}
        self._expect(public == {(len(g.arrays), base.dcoef.shape[1])}, "dcoef's shape")
        self._expect(internal == {(len(g.arrays), base._dcoef.shape[1])}, "dcoef's shape")

    @functools.cached_property
    def cooks_distance(self) -> np.ndarray:
        """Generalised Cook's distance ``dcoef_g' H dcoef_g / p`` of each removal."""
        chol = np.asarray(self._base._fit.chol)
        base = self._base
        return ((self._dcoef @ chol) ** 2).sum(axis=1) / (base.n_features_in_ + int(base.fit_intercept))

    def _summed(self, c: np.ndarray) -> np.ndarray:
        base = self._base
        prob = base._prob
        base._check_unchanged()
        D = base._core.glm_solve_rows(prob.X, base._fit, np.ascontiguousarray(c), prob.n_threads)
        return self._groups.sum_rows(D)

    @functools.cached_property
    def _sd1(self) -> np.ndarray:
        prob = self._base._prob
        return (1.0 if prob.w is None else prob.w) * np.asarray(self._base._fit.d1)

    @functools.cached_property
    def _sum_newton(self) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return self._summed(-self._sd1 / np.where(self._base.leverage_one, np.nan, 1.0 - self._base.hat))

    @functools.cached_property
    def _sum_influence(self) -> np.ndarray:
        return self._summed(-self._sd1)

    @functools.cached_property
    def dcoef_sum_newton(self) -> np.ndarray:
        """(n_groups, n_params): the sum of the rows' individual Newton steps (additive; known to
        underestimate group effects)."""
        return _public(self._base._prob, self._sum_newton)

    @functools.cached_property
    def dcoef_sum_influence(self) -> np.ndarray:
        """(n_groups, n_params): the sum of the rows' influence functions (Koh et al. 2019)."""
        return _public(self._base._prob, self._sum_influence)

    def influence(
        self, X_test, y_test, *, estimate: str = "group", offset_test=None, max_bytes: int = DEFAULT_MAX_BYTES
    ):
        """Change of each test point's loss when each group is removed.

        Parameters
        ----------
        X_test, y_test, offset_test, max_bytes
            As in :meth:`GLMLOOResult.influence`.
        estimate : {"group", "newton", "sum_newton", "sum_influence"}, default "group"
            Which parameter change: ``dcoef``, the group Newton step (the same as "group" for
            method="newton"), or the additive sums of the rows' estimates.

        Returns
        -------
        ndarray of shape (n_groups, n_test)
            Entry (g, j) = loss_j(theta without g) - loss_j(theta-hat).
        """
        names = ("group", "newton", "sum_newton", "sum_influence")
        if estimate not in names:
            raise ValueError(f"estimate must be one of {sorted(names)}, got {estimate!r}")
        D = {
            "group": lambda: self._dcoef,
            "newton": lambda: self._newton,
            "sum_newton": lambda: self._sum_newton,
            "sum_influence": lambda: self._sum_influence,
        }[estimate]()
        return self._base._loss_change(D, X_test, y_test, offset_test, max_bytes)


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
    refine="auto",
    refine_by="cooks_distance",
    offset=None,
    offset_test=None,
    n_jobs=None,
    max_bytes: int = DEFAULT_MAX_BYTES,
):
    """Change in each test point's loss when each training point is removed.

    Parameters
    ----------
    X, y, family, C, sample_weight, fit_intercept, method, refine, refine_by, offset, n_jobs
        The training data and model, as in :func:`glm_loo`.
    X_test : array-like of shape (n_test, n_features)
    y_test : array-like of shape (n_test,)
    top_k : int, optional
        Return a :class:`TopKInfluence` with the ``top_k`` most helpful and most harmful training
        points per test point, streamed without the full matrix.
    offset_test : array-like of shape (n_test,), optional
        The test points' offsets (required exactly when ``offset`` is given).
    max_bytes : int, default 2**31
        Largest dense result built; beyond it use ``top_k`` or split ``X_test``.

    Returns
    -------
    ndarray of shape (n_samples, n_test), or TopKInfluence with ``top_k``
        Entry (i, j) is ``loss(y_test_j, x_test_j' theta_(i)) - loss(y_test_j, x_test_j'
        theta-hat)``, with theta_(i) estimated by ``method`` ("exact" gives the true leave-one-out
        change). Positive: training point i helps test point j (removing it raises that loss);
        negative: it harms it. Computed in tiles.

    Raises
    ------
    TypeError, ValueError
        As :func:`glm_loo` and :meth:`GLMLOOResult.influence`.

    Examples
    --------
    >>> import attrib
    >>> data = attrib.datasets.load_breast_cancer()
    >>> X = (data.X - data.X.mean(0)) / data.X.std(0)
    >>> E = attrib.influence(X[:400], data.y[:400], X[400:], data.y[400:], family="logistic")
    >>> E.shape
    (400, 169)
    >>> T = attrib.influence(X[:400], data.y[:400], X[400:], data.y[400:], top_k=5)
    >>> T.helpful_idx.shape
    (169, 5)
    """
    res = glm_loo(
        X,
        y,
        family,
        C,
        sample_weight,
        fit_intercept,
        method,
        refine=refine,
        refine_by=refine_by,
        offset=offset,
        n_jobs=n_jobs,
    )
    return res.influence(X_test, y_test, top_k=top_k, offset_test=offset_test, max_bytes=max_bytes)
