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

from . import _dispatch, _loo
from ._loo import (
    DEFAULT_MAX_BYTES,
    ILL_CONDITIONED_RCOND,
    DataGuard,
    Groups,
    check_dense_size,
    in_timed_pieces,
    leverage_one,
    or_empty,
    param_names,
    parse_groups,
    warn_leverage_one,
)
from ._validation import (
    as_float_matrix,
    as_float_vector,
    check_alpha,
    check_bool,
    check_sample_weight,
    column_names,
    resolve_n_jobs,
)
from .exceptions import ExactFitWarning, IllConditionedWarning
from .results import AttributionResult

__all__ = ["GroupLOOResult", "LinearLOOResult", "linear_group_loo", "linear_loo"]


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
        Targets.
    alpha : float, default 0
        Ridge penalty on the coefficients (not the intercept). 0 gives OLS/WLS.
    sample_weight : array-like of shape (n_samples,), optional
        Non-negative weights; a zero weight is the same as deleting the row.
    fit_intercept : bool, default True
        Fit an unpenalised intercept.
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
        The fit and its leave-one-out diagnostics (statsmodels' ``OLSInfluence`` names and signs).

    Raises
    ------
    TypeError
        Non-numeric arrays, or arguments of the wrong type (``fit_intercept`` not a bool, ...).
    ValueError
        NaN or inf, mismatched shapes, negative weights, fewer rows than parameters with
        ``alpha=0``, or a singular design (use ``alpha > 0``).

    Warns
    -----
    LeverageOneWarning
        Rows with leverage 1 (their leave-one-out quantities are NaN).
    IllConditionedWarning
        The column-scaled Gram matrix has a reciprocal condition number below 1e-10.

    Examples
    --------
    >>> import attrib
    >>> data = attrib.datasets.load_breast_cancer()
    >>> r = attrib.linear_loo(data.X, data.y, alpha=1.0)
    >>> r.dfbeta.shape                      # intercept first, then the 30 features
    (569, 31)
    >>> top = r.top(3)                      # the rows with the largest Cook's distance
    >>> bool(r.cooks_distance[top[0]] >= r.cooks_distance.max())
    True
    """
    feature_names = column_names(X)
    Xa = as_float_matrix(X, "X")
    n, d = Xa.shape
    ya = as_float_vector(y, "y", n)
    w = check_sample_weight(sample_weight, n)
    alpha = check_alpha(alpha)
    fit_intercept = check_bool(fit_intercept, "fit_intercept")
    dfbeta = check_bool(dfbeta, "dfbeta")
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
        Xa, ya, or_empty(w), alpha, fit_intercept, n_threads, dfbeta, fingerprint=_loo.KERNEL_CHECKSUMS
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
    warn_leverage_one(np.flatnonzero(result.leverage_one), stacklevel=2)
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
    parameter) have NaN leave-one-out quantities; :attr:`leverage_one` marks them. The O(n)
    diagnostics are computed from the leverages on first access, the O(n p) ones (``dfbeta``,
    ``dfbetas``, :meth:`prediction_change`, :meth:`group_loo`) by one more pass over X.

    ``values`` is Cook's distance, so ``top(k)`` lists the k most influential rows.

    Attributes
    ----------
    coef_ : ndarray of shape (n_features,)
        Coefficients of the full fit.
    intercept_ : float
        Intercept of the full fit (0 without ``fit_intercept``).
    alpha : float
        The ridge penalty.
    fit_intercept : bool
    n_features_in_ : int
    feature_names_in_ : list of str or None
        Column names of a pandas ``X``.
    n_obs : int
        Rows with positive weight.
    n_params : int
        Parameters, the intercept included.
    hat : ndarray of shape (n_samples,)
        Leverages ``h_i = w_i z_i' (Z'WZ + P)^-1 z_i`` (statsmodels' ``hat_matrix_diag``).
    resid : ndarray of shape (n_samples,)
        Residuals ``y - prediction`` of the full fit.
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
        self._w = w
        known = {"X": tuple(fit.x_fingerprint), "sample_weight": tuple(fit.w_fingerprint)}
        self._guard = DataGuard(known, X=X, sample_weight=w)
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
        self.hat = np.array(fit.hat)
        self.resid = np.array(fit.resid)

    def _check_state(self) -> None:
        X, fit, n = self._X, self._fit, self.hat.shape[0]
        self._expect(isinstance(X, np.ndarray) and X.ndim == 2 and X.dtype == np.float64, "X is not a float64 matrix")
        self._expect(
            X.flags.c_contiguous and X.shape == (n, self.n_features_in_), f"X has shape {X.shape}, not ({n}, p)"
        )
        self._expect(np.asarray(fit.coef).shape == (self.n_features_in_,), "the coefficients' size")
        self._expect(np.asarray(fit.hat).shape == (n,) and self.resid.shape == (n,), "the per-row arrays' sizes")
        self._expect(self._w is None or np.shape(self._w) == (n,), "the weights' size")
        self._guard.check({"X": X, "sample_weight": self._w}, "linear_loo")

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
        return param_names(self.feature_names_in_, self.n_features_in_, self.fit_intercept)

    # -- per-row diagnostics (O(n) each, from the leverages) ---------------------------------
    @functools.cached_property
    def leverage_one(self) -> np.ndarray:
        """Boolean, per row: removing it leaves the model unidentified (leave-one-out undefined)."""
        return leverage_one(self.hat, self._w)

    @functools.cached_property
    def _one_minus_h(self) -> np.ndarray:
        return np.where(self.leverage_one, np.nan, 1.0 - self.hat)

    @functools.cached_property
    def _wresid(self) -> np.ndarray:
        return self.resid if self._w is None else np.sqrt(self._w) * self.resid

    @functools.cached_property
    def _rscale(self) -> float:
        # Diagnostics that are ratios of residuals use residuals divided by a power of two (exact),
        # so no square under- or overflows whatever the units of y.
        return _pow2_scale(self._wresid)

    @functools.cached_property
    def _wresid_u(self) -> np.ndarray:
        return self._wresid / self._rscale

    @functools.cached_property
    def loo_resid(self) -> np.ndarray:
        """PRESS residuals: y_i minus the prediction of the fit without row i (statsmodels'
        ``resid_press``)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return self.resid / self._one_minus_h

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
        """Residuals over their standard error ``s sqrt(1 - h_i)`` (statsmodels'
        ``resid_studentized_internal``)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return self._wresid_u / np.sqrt(self._sigma2_u * self._one_minus_h)

    @functools.cached_property
    def resid_studentized_external(self) -> np.ndarray:
        """Residuals over ``s_(i) sqrt(1 - h_i)``, with the variance of the fit without row i
        (statsmodels' ``resid_studentized_external``)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return self._wresid_u / np.sqrt(self._sigma2_loo_u * self._one_minus_h)

    @functools.cached_property
    def cooks_distance(self) -> np.ndarray:
        """Cook's distance (statsmodels' ``cooks_distance[0]``)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return self._wresid_u**2 * self.hat / (self.n_params * self._sigma2_u * self._one_minus_h**2)

    @functools.cached_property
    def dffits(self) -> np.ndarray:
        """DFFITS: externally studentized residual times ``sqrt(h / (1 - h))`` (statsmodels'
        ``dffits[0]``)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return self.resid_studentized_external * np.sqrt(self.hat / self._one_minus_h)

    @functools.cached_property
    def cov_ratio(self) -> np.ndarray:
        """Ratio of the determinants of the coefficient covariance without and with row i
        (statsmodels' ``cov_ratio``)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return (self._sigma2_loo_u / self._sigma2_u) ** self.n_params / self._one_minus_h

    # -- O(n p) quantities, computed on first use --------------------------------------------
    def _check_unchanged(self):
        self._guard.check({"X": self._X, "sample_weight": self._w}, "linear_loo")

    @functools.cached_property
    def _loo_scale(self) -> np.ndarray:
        # c_i = w_i e_i / (1 - h_i): row i of dfbeta is c_i (Z'WZ + P)^-1 z_i.
        c = self.loo_resid if self._w is None else self._w * self.loo_resid
        return np.ascontiguousarray(c)

    @functools.cached_property
    def dfbeta(self) -> np.ndarray:
        """(n, p): coefficients of the full fit minus those without row i; the intercept is
        column 0 when fitted (statsmodels' ``dfbeta`` with a leading constant column)."""
        self._check_unchanged()
        X, c = self._X, self._loo_scale
        out = np.empty((X.shape[0], self.n_params))
        self._in_pieces(
            X.shape[1], lambda a, b: self._core.linear_dfbeta(X[a:b], self._fit, c[a:b], self._n_threads, out[a:b])
        )
        return out

    def _in_pieces(self, cols: int, run) -> None:
        # Rows in short calls of whole blocks (Ctrl-C between calls; the bits of one call). The
        # dual form (d > n) reads every row at once, and n is small there.
        n = self._X.shape[0]
        if self._fit.dual:
            run(0, n)
        else:
            in_timed_pieces(n, int(self._core.linear_row_block(cols)), 4 * self._n_threads, run)

    @functools.cached_property
    def _sd_inv_gram(self) -> np.ndarray:
        # sqrt(diag((Z'WZ + P)^-1)) in the original parametrisation, from the core's factor
        return np.asarray(self._fit.inv_gram_sd())

    @functools.cached_property
    def dfbetas(self) -> np.ndarray:
        """dfbeta scaled by s_(i) sqrt(diag((Z'WZ + P)^-1)) (statsmodels' ``dfbetas`` for OLS)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return self.dfbeta / self._rscale / np.sqrt(self._sigma2_loo_u)[:, None] / self._sd_inv_gram[None, :]

    def prediction_change(self, X_test, *, max_bytes: int = DEFAULT_MAX_BYTES) -> np.ndarray:
        """Change of the prediction at new points when each training row is removed.

        Parameters
        ----------
        X_test : array-like of shape (n_test, n_features)
        max_bytes : int, default 2**31
            Largest result built; split ``X_test`` into batches beyond it.

        Returns
        -------
        ndarray of shape (n_samples, n_test)
            Prediction of the full fit minus that of the fit without row i (the sign of ``dfbeta``;
            DFFIT at a new point). Streams over training rows: the result is the only large array.

        Raises
        ------
        ValueError
            ``X_test`` with another number of features, NaN or inf, or a result over ``max_bytes``.
        RuntimeError
            X was modified in place after the fit.
        """
        Xt = as_float_matrix(X_test, "X_test", n_features=self.n_features_in_)
        check_dense_size(
            self._X.shape[0],
            Xt.shape[0],
            max_bytes,
            "prediction_change",
            "pass X_test in smaller batches or raise max_bytes",
        )
        self._check_unchanged()
        X, c = self._X, self._loo_scale
        out = np.empty((X.shape[0], Xt.shape[0]))
        self._in_pieces(
            max(X.shape[1], Xt.shape[0]),
            lambda a, b: self._core.linear_prediction_change(X[a:b], Xt, self._fit, c[a:b], self._n_threads, out[a:b]),
        )
        return out

    def group_loo(self, groups) -> GroupLOOResult:
        """Exact leave-group-out of this fit; see :func:`linear_group_loo`."""
        g = parse_groups(groups, self._X.shape[0], self._w)
        self._check_unchanged()
        dfbeta, loo_flat, ok = self._core.linear_group_loo(
            self._X, or_empty(self._w), self._fit, g.offsets, g.indices, self._n_threads
        )
        warn_leverage_one(np.flatnonzero(~ok), what="groups", stacklevel=3)
        loo = [loo_flat[g.offsets[j] : g.offsets[j + 1]] for j in range(len(g.arrays))]
        return GroupLOOResult(self, g, dfbeta, loo, ok)


class GroupLOOResult(AttributionResult):
    """Exact leave-group-out results (from :func:`linear_group_loo`), one entry per group.

    Groups whose removal leaves the model unidentified have NaN entries and ``ok`` False.

    Attributes
    ----------
    labels : ndarray
        The group labels (``numpy.unique`` order), or 0..G-1 for a list of index arrays.
    groups : list of ndarray
        The rows of each group.
    size : ndarray of int
        Rows per group.
    dfbeta : ndarray of shape (n_groups, n_params)
        Coefficients of the full fit minus those without the group (intercept first).
    loo_resid : list of ndarray
        Residuals of the group's rows under the fit without the group.
    ok : ndarray of bool
        False where the group cannot be removed.
    param_names : list of str
        Names of the columns of ``dfbeta``.
    """

    _values_name = "cooks_distance"
    _frame_columns = ("labels", "size", "cooks_distance")

    def __init__(self, base: LinearLOOResult, groups: Groups, dfbeta, loo_resid, ok):
        self._base = base
        self.labels = groups.labels
        self.groups = groups.arrays
        self.size = groups.sizes
        self.dfbeta = dfbeta
        self.loo_resid = loo_resid
        self.ok = ok
        self.param_names = base.param_names

    def _check_state(self) -> None:
        n, p = self._base.hat.shape[0], self._base.n_params
        self._expect(all(a.ndim == 1 and np.all((a >= 0) & (a < n)) for a in self.groups), "the groups' rows")
        self._expect(np.shape(self.dfbeta) == (len(self.groups), p), "dfbeta's shape")

    @functools.cached_property
    def cooks_distance(self) -> np.ndarray:
        """Generalised Cook's distance ``d' (Z'WZ + P) d / (p s^2)`` of each removal."""
        base = self._base
        # d' (Z'WZ + P) d from the core's factor, on dfbeta in units of the residual scale.
        quad = np.asarray(base._fit.gram_quad(np.ascontiguousarray(self.dfbeta / base._rscale)))
        with np.errstate(divide="ignore", invalid="ignore"):
            return quad / (base.n_params * base._sigma2_u)


def linear_group_loo(X, y, groups, alpha=0.0, sample_weight=None, fit_intercept=True, *, n_jobs=None) -> GroupLOOResult:
    """Exact leave-group-out for OLS, WLS or ridge: the fit without each group of rows at once.

    Woodbury: removing k rows costs one k x k Cholesky, never a refit.

    Parameters
    ----------
    X, y, alpha, sample_weight, fit_intercept, n_jobs
        As in :func:`linear_loo`.
    groups : array-like of shape (n_samples,) or list of array-like
        A label per row (any sortable values; groups are ordered as ``numpy.unique`` orders the
        labels), or a list of row-index arrays or boolean masks, which may overlap.

    Returns
    -------
    GroupLOOResult

    Raises
    ------
    TypeError, ValueError
        As :func:`linear_loo`; also empty groups, repeated or out-of-range indices, and a group
        holding every row.

    Examples
    --------
    >>> import numpy as np, attrib
    >>> data = attrib.datasets.load_breast_cancer()
    >>> g = attrib.linear_group_loo(data.X, data.y, np.arange(569) % 10, alpha=1.0)
    >>> g.dfbeta.shape, g.size.tolist()[:3]
    ((10, 31), [57, 57, 57])
    """
    return linear_loo(X, y, alpha, sample_weight, fit_intercept, n_jobs=n_jobs).group_loo(groups)
