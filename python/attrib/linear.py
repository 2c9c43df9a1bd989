"""Exact leave-one-out and leave-group-out for squared-loss models (OLS, WLS, ridge).

Nothing is refitted: one Cholesky factorisation of the centred Gram matrix gives every leverage,
every leave-one-out residual and coefficient change (Sherman-Morrison), and every leave-group-out
fit (Woodbury, one k x k solve per group of k rows). Names and signs follow statsmodels'
``OLSInfluence`` so results can be compared directly.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np

from . import _dispatch
from ._validation import (
    as_float_matrix,
    as_float_vector,
    check_alpha,
    check_sample_weight,
    column_names,
    fingerprint,
    resolve_n_jobs,
)
from .exceptions import ExactFitWarning, IllConditionedWarning, LeverageOneWarning
from .results import AttributionResult

__all__ = ["GroupLOOResult", "LinearLOOResult", "linear_group_loo", "linear_loo"]

#: 1 - h below this counts as leverage one (mirrors kLeverageOneTol in cpp/include/attrib/common.hpp).
LEVERAGE_ONE_TOL = 1e-10
#: Reciprocal condition number of the unit-diagonal Gram matrix below which results are suspect.
ILL_CONDITIONED_RCOND = 1e-10
#: Largest dense output (bytes) built without being asked to go beyond it.
DEFAULT_MAX_BYTES = 2**31

_NO_WEIGHTS = np.empty(0)


def _describe_rows(rows: np.ndarray, what: str = "rows") -> str:
    shown = ", ".join(str(int(i)) for i in rows[:10])
    more = f" and {rows.size - 10} more" if rows.size > 10 else ""
    return f"{what} {shown}{more}"


def linear_loo(
    X, y, alpha=0.0, sample_weight=None, fit_intercept=True, *, dfbeta=False, n_jobs=None
) -> LinearLOOResult:
    """Exact leave-one-out diagnostics of an OLS, WLS or ridge fit, without refitting.

    Minimises ``sum_i w_i (y_i - b - x_i @ coef)**2 + alpha * ||coef||**2`` (the intercept ``b`` is
    never penalised; the same objective as scikit-learn's ``Ridge`` and statsmodels' ``OLS``/``WLS``
    with a constant column) and returns every leave-one-out quantity in O(n d^2) time and O(n d)
    memory. Nothing n x n is ever formed.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Training design, without a constant column (use ``fit_intercept``). Converted once to
        C-contiguous float64: float32, integer, boolean, Fortran-ordered and pandas inputs work at
        the cost of that one copy. The result keeps a reference to it for the lazily computed
        ``dfbeta``, ``dfbetas`` and :meth:`~LinearLOOResult.prediction_change`: do not modify it in
        place afterwards (attrib checks and raises if you do).
    y : array-like of shape (n_samples,)
    alpha : float, default 0
        Ridge penalty on the coefficients (not the intercept). 0 gives OLS/WLS.
    sample_weight : array-like of shape (n_samples,), optional
        Non-negative weights; a zero weight is the same as deleting the row.
    fit_intercept : bool, default True
    dfbeta : bool, default False
        Compute the (n, p) ``dfbeta`` now, in the same pass over X as the leverages, instead of on
        first access (which costs one more O(n d^2) pass). Either way the values are exact; the
        two paths may differ in the last bits.
    n_jobs : int, optional
        Threads. None follows OpenMP (``OMP_NUM_THREADS``, threadpoolctl); negative values count
        back from the number of threads. Results are bitwise identical for every value.

    Returns
    -------
    LinearLOOResult

    Raises
    ------
    ValueError
        NaN or inf, mismatched shapes, negative weights, fewer rows than parameters with
        ``alpha=0``, or a singular design (use ``alpha > 0``).
    """
    feature_names = column_names(X)
    Xa = as_float_matrix(X, "X")
    n, d = Xa.shape
    ya = as_float_vector(y, "y", n)
    w = check_sample_weight(sample_weight, n)
    alpha = check_alpha(alpha)
    if not isinstance(fit_intercept, (bool, np.bool_)):
        raise TypeError(f"fit_intercept must be True or False, got {fit_intercept!r}")
    if not isinstance(dfbeta, (bool, np.bool_)):
        raise TypeError(f"dfbeta must be True or False, got {dfbeta!r}")
    fit_intercept = bool(fit_intercept)
    n_threads = resolve_n_jobs(n_jobs)
    p = d + int(fit_intercept)
    n_obs = n if w is None else int(np.count_nonzero(w))
    if alpha == 0.0 and n_obs < p:
        rows = "rows" if w is None else "rows with positive weight"
        raise ValueError(
            f"X has {n_obs} {rows} but the model has {p} parameters "
            f"({d} features{' + intercept' if fit_intercept else ''}): least squares is singular; "
            "use alpha > 0 (ridge)"
        )
    core = _dispatch.core
    fit, dfbeta_now = core.linear_fit(
        Xa, ya, _NO_WEIGHTS if w is None else w, alpha, fit_intercept, n_threads, bool(dfbeta)
    )
    if fit.rcond < ILL_CONDITIONED_RCOND:
        warnings.warn(
            f"the design is ill-conditioned (reciprocal condition number {fit.rcond:.2g} of the "
            "column-scaled Gram matrix): leave-one-out results may have lost digits; consider alpha > 0",
            IllConditionedWarning,
            stacklevel=2,
        )
    _warn_if_exact_fit(fit)
    result = LinearLOOResult(fit, Xa, w, alpha, n_obs, n_threads, feature_names, core)
    if dfbeta_now is not None:
        dfbeta_now[result.leverage_one] = np.nan  # undefined rows, as on the lazy path
        result.__dict__["dfbeta"] = dfbeta_now  # fills the cached_property
    return result


def _warn_if_exact_fit(fit) -> None:
    """One warning when the core found y fitted exactly (residuals zero to rounding)."""
    if fit.exact_fit:
        warnings.warn(
            "y is fitted exactly (the residuals are zero up to rounding relative to the scale of y): "
            "the residual variance is 0, so residuals, leave-one-out residuals and dfbeta are exact "
            "zeros and Cook's distance, studentized residuals, DFFITS, COVRATIO and DFBETAS are NaN",
            ExactFitWarning,
            stacklevel=3,
        )


def _pow2_scale(v: np.ndarray) -> float:
    """A power of two at or above max|v| (1 for an all-zero v): dividing by it is exact."""
    m = float(np.max(np.abs(v))) if v.size else 0.0
    return float(np.ldexp(1.0, np.frexp(m)[1])) if m > 0.0 and np.isfinite(m) else 1.0


class LinearLOOResult(AttributionResult):
    """Leave-one-out diagnostics of a squared-loss fit (from :func:`linear_loo`).

    Per-row arrays have one entry per training row. With weights, residual-based diagnostics use
    the whitened residual ``sqrt(w_i) * resid_i`` (what a weighted refit sees), while ``resid`` and
    ``loo_resid`` stay in the units of ``y``. Rows with leverage 1 (they alone determine some
    parameter) have NaN leave-one-out quantities; :attr:`leverage_one` marks them.

    ``values`` is Cook's distance, so ``top(k)`` lists the k most influential rows.
    """

    _values_name = "cooks_distance"
    _frame_columns = (
        "hat",
        "resid",
        "loo_resid",
        "resid_studentized_internal",
        "resid_studentized_external",
        "cooks_distance",
        "dffits",
        "cov_ratio",
    )

    def __init__(self, fit, X, w, alpha, n_obs, n_threads, feature_names, core):
        self._fit = fit
        self._X = X
        self._X_print = fingerprint(X)
        self._w = w
        self._n_threads = n_threads
        self._core = core
        self.alpha = alpha
        self.fit_intercept = bool(fit.fit_intercept)
        self.coef_ = np.array(fit.coef)
        self.intercept_ = float(fit.intercept)
        self.n_features_in_ = X.shape[1]
        self.feature_names_in_ = feature_names
        self.n_obs = n_obs
        self.n_params = self.n_features_in_ + int(self.fit_intercept)
        #: Leverages h_i = w_i z_i' (Z'WZ + P)^-1 z_i.
        self.hat = np.array(fit.hat)
        #: Residuals y - prediction of the full fit.
        self.resid = np.array(fit.resid)
        positive = np.ones(X.shape[0], bool) if w is None else w > 0
        #: Rows whose removal leaves the model unidentified (leave-one-out undefined).
        self.leverage_one = positive & ((1.0 - self.hat) < LEVERAGE_ONE_TOL)
        if self.leverage_one.any():
            warnings.warn(
                f"{_describe_rows(np.flatnonzero(self.leverage_one))} have leverage 1: without them the "
                "model is not identified, so their leave-one-out quantities are NaN",
                LeverageOneWarning,
                stacklevel=3,
            )
        with np.errstate(divide="ignore", invalid="ignore"):
            self._one_minus_h = np.where(self.leverage_one, np.nan, 1.0 - self.hat)
            #: PRESS residuals: y_i minus the prediction of the fit without row i.
            self.loo_resid = self.resid / self._one_minus_h
        self._sqrt_w = None if w is None else np.sqrt(w)
        self._wresid = self.resid if w is None else self._sqrt_w * self.resid
        # Diagnostics that are ratios of residuals use residuals divided by a power of two (exact),
        # so no square under- or overflows whatever the units of y.
        self._rscale = _pow2_scale(self._wresid)
        self._wresid_u = self._wresid / self._rscale

    # -- scalars -----------------------------------------------------------------------------
    @functools.cached_property
    def df_resid(self) -> float:
        """Residual degrees of freedom: n_obs - p (OLS/WLS) or n_obs - trace(H) (ridge)."""
        if self.alpha == 0.0:
            return float(self.n_obs - self.n_params)
        return float(self.n_obs - self.hat.sum())

    @functools.cached_property
    def sigma2(self) -> float:
        """Residual variance s^2 = sum w e^2 / df_resid (statsmodels' ``mse_resid``)."""
        return float((np.sqrt(self._sigma2_u) * self._rscale) ** 2)

    @functools.cached_property
    def _sigma2_u(self) -> float:
        # sigma2 in units of the residual scale _rscale
        if self.df_resid <= 0:
            return float("nan")
        return float(self._wresid_u @ self._wresid_u / self.df_resid)

    @property
    def param_names(self) -> list[str]:
        """Names of the columns of ``dfbeta``: the intercept first, then the features."""
        feats = self.feature_names_in_ or [f"x{j}" for j in range(self.n_features_in_)]
        return (["intercept"] if self.fit_intercept else []) + list(feats)

    # -- per-row diagnostics (O(n) each, from the leverages) ---------------------------------
    @functools.cached_property
    def sigma2_loo(self) -> np.ndarray:
        """Residual variance of the fit without row i (statsmodels' ``sigma2_not_obsi``)."""
        return (np.sqrt(self._sigma2_loo_u) * self._rscale) ** 2

    @functools.cached_property
    def _sigma2_loo_u(self) -> np.ndarray:
        df = self.df_resid
        with np.errstate(divide="ignore", invalid="ignore"):
            s2 = (df * self._sigma2_u - self._wresid_u**2 / self._one_minus_h) / (df - 1.0)
        return np.maximum(s2, 0.0)  # rounding can push an exact 0 below 0

    @functools.cached_property
    def resid_studentized_internal(self) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return self._wresid_u / np.sqrt(self._sigma2_u * self._one_minus_h)

    @functools.cached_property
    def resid_studentized_external(self) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return self._wresid_u / np.sqrt(self._sigma2_loo_u * self._one_minus_h)

    @functools.cached_property
    def cooks_distance(self) -> np.ndarray:
        """Cook's distance (statsmodels' ``cooks_distance[0]``)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return self._wresid_u**2 * self.hat / (self.n_params * self._sigma2_u * self._one_minus_h**2)

    @functools.cached_property
    def dffits(self) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return self.resid_studentized_external * np.sqrt(self.hat / self._one_minus_h)

    @functools.cached_property
    def cov_ratio(self) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return (self._sigma2_loo_u / self._sigma2_u) ** self.n_params / self._one_minus_h

    # -- O(n p) quantities, computed on first use --------------------------------------------
    def _check_X_unchanged(self):
        if fingerprint(self._X) != self._X_print:
            raise RuntimeError("X was modified in place after linear_loo(); refit to get consistent results")

    @functools.cached_property
    def _loo_scale(self) -> np.ndarray:
        # c_i = w_i e_i / (1 - h_i): row i of dfbeta is c_i (Z'WZ + P)^-1 z_i.
        c = self.loo_resid if self._w is None else self._w * self.loo_resid
        return np.ascontiguousarray(c)

    @functools.cached_property
    def dfbeta(self) -> np.ndarray:
        """(n, p): coefficients of the full fit minus those without row i; the intercept is
        column 0 when fitted (statsmodels' ``dfbeta`` with a leading constant column)."""
        self._check_X_unchanged()
        return self._core.linear_dfbeta(self._X, self._fit, self._loo_scale, self._n_threads)

    @functools.cached_property
    def _sd_inv_gram(self) -> np.ndarray:
        # sqrt(diag((Z'WZ + P)^-1)) in the original parametrisation, from the core's factor
        return np.asarray(self._fit.inv_gram_sd())

    @functools.cached_property
    def dfbetas(self) -> np.ndarray:
        """dfbeta scaled by s_(i) sqrt(diag((Z'WZ + P)^-1)) (statsmodels' ``dfbetas`` for OLS)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return (
                self.dfbeta / self._rscale / np.sqrt(self._sigma2_loo_u)[:, None] / self._sd_inv_gram[None, :]
            )

    def prediction_change(self, X_test, *, max_bytes: int = DEFAULT_MAX_BYTES) -> np.ndarray:
        """(n, m): prediction at each test point of the full fit minus that of the fit without
        row i (the sign of ``dfbeta``; DFFIT at a new point). Streams over training rows; the
        only large array is the (n, m) result, refused above ``max_bytes`` (split X_test then)."""
        Xt = as_float_matrix(X_test, "X_test", n_features=self.n_features_in_)
        need = self._X.shape[0] * Xt.shape[0] * 8
        if need > max_bytes:
            raise ValueError(
                f"prediction_change would allocate a {self._X.shape[0]} x {Xt.shape[0]} float64 matrix "
                f"({need / 2**30:.1f} GiB > max_bytes={max_bytes}); pass X_test in smaller batches "
                "or raise max_bytes"
            )
        self._check_X_unchanged()
        return self._core.linear_prediction_change(self._X, Xt, self._fit, self._loo_scale, self._n_threads)

    def group_loo(self, groups) -> GroupLOOResult:
        """Exact leave-group-out of this fit; see :func:`linear_group_loo`."""
        labels, index_arrays = _parse_groups(groups, self._X.shape[0], self._w)
        offsets = np.zeros(len(index_arrays) + 1, dtype=np.int64)
        offsets[1:] = np.cumsum([g.size for g in index_arrays])
        indices = np.concatenate(index_arrays).astype(np.int64)
        self._check_X_unchanged()
        dfbeta, loo_flat, ok = self._core.linear_group_loo(
            self._X, _NO_WEIGHTS if self._w is None else self._w, self._fit, offsets, indices, self._n_threads
        )
        if not ok.all():
            warnings.warn(
                f"{_describe_rows(np.flatnonzero(~ok), 'groups')} cannot be removed: without them the "
                "model is not identified, so their leave-group-out quantities are NaN",
                LeverageOneWarning,
                stacklevel=3,
            )
        loo = [loo_flat[offsets[g] : offsets[g + 1]] for g in range(len(index_arrays))]
        return GroupLOOResult(self, labels, index_arrays, dfbeta, loo, ok)


def _parse_groups(groups, n: int, w) -> tuple[np.ndarray, list[np.ndarray]]:
    """Labels and row-index arrays from a label per row or a list of index arrays (or masks)."""
    if groups is None:
        raise TypeError("groups must be a label per row or a list of row-index arrays, got None")
    is_list = isinstance(groups, (list, tuple)) and len(groups) > 0 and np.ndim(groups[0]) >= 1
    if is_list:
        arrays = []
        for g, idx in enumerate(groups):
            a = np.asarray(idx)
            if a.ndim != 1:
                raise ValueError(f"groups[{g}] must be a 1-D array of row indices, got shape {a.shape}")
            if a.dtype == bool:
                if a.size != n:
                    raise ValueError(f"groups[{g}] is a boolean mask of length {a.size}, but X has {n} rows")
                a = np.flatnonzero(a)
            elif a.size and not np.issubdtype(a.dtype, np.integer):
                raise TypeError(f"groups[{g}] must hold integer row indices, got dtype {a.dtype}")
            a = a.astype(np.int64)
            if a.size == 0:
                raise ValueError(f"groups[{g}] is empty")
            if a.min() < -n or a.max() >= n:
                raise ValueError(f"groups[{g}] has a row index out of range for X with {n} rows")
            a = np.where(a < 0, a + n, a)
            if np.unique(a).size != a.size:
                raise ValueError(f"groups[{g}] lists a row more than once")
            arrays.append(a)
        labels = np.arange(len(arrays))
    else:
        lab = np.asarray(groups)
        if lab.ndim != 1 or lab.shape[0] != n:
            raise ValueError(
                f"groups must be a label per row (length {n}) or a list of row-index arrays, got shape {lab.shape}"
            )
        labels, inverse = np.unique(lab, return_inverse=True)
        order = np.argsort(inverse, kind="stable")
        bounds = np.searchsorted(inverse[order], np.arange(labels.size + 1))
        arrays = [order[bounds[g] : bounds[g + 1]].astype(np.int64) for g in range(labels.size)]
    positive = np.ones(n, bool) if w is None else w > 0
    n_pos = int(positive.sum())
    for g, a in enumerate(arrays):
        if int(positive[a].sum()) == n_pos:
            raise ValueError(
                f"group {labels[g]!r} contains every row{' with positive weight' if w is not None else ''}: "
                "nothing would be left to fit"
            )
    return labels, arrays


class GroupLOOResult(AttributionResult):
    """Exact leave-group-out results (from :func:`linear_group_loo`), one entry per group.

    ``dfbeta[g]`` is the full fit's coefficients minus those without group g (intercept first);
    ``loo_resid[g]`` the residuals of the group's rows under the fit without the group;
    ``cooks_distance`` the generalised Cook's distance d' (Z'WZ + P) d / (p s^2) of each removal.
    Groups whose removal leaves the model unidentified have NaN entries and ``ok`` False.
    """

    _values_name = "cooks_distance"
    _frame_columns = ("labels", "size", "cooks_distance")

    def __init__(self, base: LinearLOOResult, labels, groups, dfbeta, loo_resid, ok):
        self.labels = labels
        self.groups = groups
        self.size = np.array([g.size for g in groups])
        self.dfbeta = dfbeta
        self.loo_resid = loo_resid
        self.ok = ok
        self.param_names = base.param_names
        # d' (Z'WZ + P) d from the core's factor, on dfbeta in units of the residual scale
        quad = np.asarray(base._fit.gram_quad(np.ascontiguousarray(dfbeta / base._rscale)))
        with np.errstate(divide="ignore", invalid="ignore"):
            self.cooks_distance = quad / (base.n_params * base._sigma2_u)


def linear_group_loo(
    X, y, groups, alpha=0.0, sample_weight=None, fit_intercept=True, *, n_jobs=None
) -> GroupLOOResult:
    """Exact leave-group-out for OLS, WLS or ridge: the fit without each group of rows at once.

    Woodbury: removing k rows costs one k x k Cholesky, never a refit. Same model and arguments
    as :func:`linear_loo`; ``groups`` is either a label per row (any hashable values; groups are
    ordered as ``numpy.unique`` orders the labels) or a list of row-index arrays (or boolean masks),
    which may overlap.
    """
    return linear_loo(X, y, alpha, sample_weight, fit_intercept, n_jobs=n_jobs).group_loo(groups)
