"""Leave-one-out for multinomial (softmax) logistic regression: ``glm_loo(..., family="multinomial")``.

The model is scikit-learn's multinomial ``LogisticRegression(C)`` divided by ``C``::

    minimise  sum_i s_i [logsumexp(eta_i) - eta_{i, y_i}]  +  sum_k ||coef_k||**2 / (2 C),
    eta_ik = intercept_k + x_i @ coef_k,

with K coefficient vectors and K unpenalised intercepts. The loss does not change when the same
number is added to every intercept (or, without a penalty, the same vector to every coefficient
vector), so attrib reports scikit-learn's symmetric solution: the intercepts sum to zero over the
classes (and so do the coefficient vectors, which the penalty already ensures; with ``C=None`` the
coefficients are made to sum to zero as scikit-learn does for ``C=np.inf``). Every leave-one-out
problem keeps that convention, so ``dcoef`` compares like with like.

Removing row i downdates the (K p) x (K p) Hessian by a term of rank K - 1, so its Newton step is a
K x K Woodbury solve (``method="newton"``); ``"influence"`` drops the downdate; ``"exact"`` runs
Newton on every leave-one-out problem to convergence (the same as refitting). The core is in
``cpp/src/glm_multinomial_*.cpp``; :func:`attrib.glm_loo` and :func:`attrib.influence` call this
module for ``family="multinomial"`` or a fitted multiclass ``LogisticRegression``.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np

from . import _dispatch
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
    or_empty,
    param_names,
    parse_groups,
    penalty_from_C,
    warn_if_not_at_optimum,
    warn_leverage_one,
)
from ._validation import (
    as_float_matrix,
    as_labels,
    check_bool,
    check_positive,
    check_sample_weight,
    column_names,
    offset_column_means,
    resolve_n_jobs,
)
from .exceptions import ConvergenceWarning, IllConditionedWarning, LeverageOneWarning
from .results import AttributionResult

__all__ = ["MultinomialGroupResult", "MultinomialLOOResult", "is_multinomial"]


def is_multinomial(family) -> bool:
    """Whether ``family`` asks for the multinomial model: the name, or a fitted scikit-learn
    ``LogisticRegression`` with more than two classes."""
    if isinstance(family, str):
        return family == "multinomial"
    return type(family).__name__ == "LogisticRegression" and len(getattr(family, "classes_", ())) > 2


class _MnProblem:
    """The validated training problem (arrays as the kernels take them)."""

    def __init__(self, X, codes, w, classes, l2, fit_intercept, n_threads, feature_names):
        self.X = X
        self.y = codes  # float64 class codes 0 .. K-1
        self.w = w
        self.classes = classes
        self.l2 = l2
        self.fit_intercept = fit_intercept
        self.n_threads = n_threads
        self.feature_names = feature_names
        #: Column means subtracted from X (offset_column_means), or None: the kernels then see the
        #: centred design, and each class's intercept b_c = b + center' coef (see _public).
        self.center: np.ndarray | None = None

    def public(self, D: np.ndarray) -> np.ndarray:
        """Parameters (last axis: intercept first, then the features) from the kernels' centred
        coordinates back to the user's: b = b_c - center' coef. The same array when not centred."""
        if self.center is None:
            return D
        D = np.array(D, dtype=np.float64)
        D[..., 0] -= D[..., 1:] @ self.center
        return D

    def internal(self, D: np.ndarray) -> np.ndarray:
        """The inverse of public."""
        if self.center is None:
            return D
        D = np.array(D, dtype=np.float64)
        D[..., 0] += D[..., 1:] @ self.center
        return D

    @property
    def n_classes(self) -> int:
        return int(self.classes.size)

    @property
    def p(self) -> int:
        return self.X.shape[1] + int(self.fit_intercept)


def _read_estimator(est, d: int):
    """(classes, l2, fit_intercept, start) of a fitted multiclass LogisticRegression."""
    params = est.get_params()
    penalty = params.get("penalty", "l2")
    l1_ratio = params.get("l1_ratio")
    if penalty not in ("l2", None, "deprecated") or (l1_ratio not in (None, 0, 0.0) and penalty != "l2"):
        raise ValueError(
            f"LogisticRegression with penalty={penalty!r}, l1_ratio={l1_ratio!r}: only L2 (or none) is supported"
        )
    if params.get("class_weight") is not None:
        raise ValueError("LogisticRegression with class_weight is not supported; pass the weights as sample_weight")
    if params.get("multi_class", "auto") == "ovr" or params.get("solver") == "liblinear":
        raise ValueError(
            "a one-vs-rest LogisticRegression is not the multinomial model; fit it with multi_class left "
            "at its default and a solver other than liblinear"
        )
    coef = np.asarray(est.coef_, dtype=np.float64)
    classes = np.asarray(est.classes_)
    if coef.shape != (classes.size, d):
        raise ValueError(f"X has {d} features but the estimator was fitted with {coef.shape[-1]}")
    fit_intercept = bool(params.get("fit_intercept", True))
    C = params.get("C", 1.0)
    l2 = 0.0 if penalty is None or np.isinf(C) else 1.0 / float(C)
    if fit_intercept:
        start = np.hstack([np.asarray(est.intercept_, dtype=np.float64).reshape(-1, 1), coef])
    else:
        start = coef.copy()
    if l2 == 0.0:
        start = start - start.mean(axis=0)
    elif fit_intercept:
        start[:, 0] -= start[:, 0].mean()
    return classes, l2, fit_intercept, np.ascontiguousarray(start.reshape(-1))


def _prepare(X, y, family, C, sample_weight, fit_intercept, n_jobs, offset):
    if offset is not None:
        raise ValueError("offset is not supported for family='multinomial'")
    feature_names = column_names(X)
    Xa = as_float_matrix(X, "X")
    n, d = Xa.shape
    w = check_sample_weight(sample_weight, n)
    labels = as_labels(y, "y", n)
    start = None
    if isinstance(family, str):
        l2 = penalty_from_C(C)
        fit_intercept = check_bool(fit_intercept, "fit_intercept")
        classes = np.unique(labels if w is None else labels[w > 0])
    else:
        if not hasattr(family, "coef_"):
            raise ValueError("the LogisticRegression estimator is not fitted: call fit() first, or pass family= and C=")
        classes, l2, fit_intercept, start = _read_estimator(family, d)
        present = np.unique(labels if w is None else labels[w > 0])
        missing = np.setdiff1d(classes, present)
        if missing.size:
            raise ValueError(
                f"the estimator has {classes.size} classes but y (rows with positive weight) lacks "
                f"{missing.tolist()[:5]}; pass the data it was fitted on"
            )
    if classes.size < 2:
        raise ValueError(f"y must hold at least two classes for family='multinomial', got {classes.size}")
    codes = np.searchsorted(classes, labels)
    bad = (codes >= classes.size) | (classes[np.minimum(codes, classes.size - 1)] != labels)
    if bad.any():
        i = int(np.argmax(bad))
        what = "only on rows with zero weight" if w is not None else "not among the estimator's classes"
        raise ValueError(f"y has a label {what} (index {i}: {labels[i]!r}); drop those rows")
    p = d + int(fit_intercept)
    n_obs = n if w is None else int(np.count_nonzero(w))
    if l2 == 0.0 and n_obs < p:
        raise ValueError(
            f"X has {n_obs} rows but each class has {p} parameters: the unpenalised fit is singular; "
            "use a penalty (C < inf)"
        )
    # Far from zero, columns are centred (an exact reparametrisation with intercepts), as in glm_loo.
    center = offset_column_means(Xa) if fit_intercept else None
    prob = _MnProblem(
        Xa if center is None else Xa - center,
        codes.astype(np.float64),
        w,
        classes,
        l2,
        bool(fit_intercept),
        resolve_n_jobs(n_jobs),
        feature_names,
    )
    prob.center = center
    if start is not None and center is not None:
        start = prob.internal(np.asarray(start, dtype=np.float64).reshape(classes.size, p)).reshape(-1)
    return prob, start


def _fit(prob: _MnProblem, start, core, *, max_iter: int, polish: bool, stacklevel: int):
    opts = core.MultinomialFitOptions(
        n_classes=prob.n_classes,
        l2=prob.l2,
        fit_intercept=prob.fit_intercept,
        max_iter=max_iter,
        tol=FIT_TOL,
        polish=polish,
        n_threads=prob.n_threads,
    )
    s = EMPTY if start is None else np.ascontiguousarray(start, dtype=np.float64)
    fit = core.multinomial_fit(prob.X, prob.y, or_empty(prob.w), s, opts)
    if not fit.converged:
        warnings.warn(
            f"the Newton fit stopped after {fit.n_iter} iterations with last step {fit.step_max:.2g} (tolerance "
            f"{FIT_TOL:.0e}); leave-one-out results may be inaccurate"
            + ("; without a penalty this suggests (quasi-)separation: use C < inf" if prob.l2 == 0 else ""),
            ConvergenceWarning,
            stacklevel=stacklevel + 1,
        )
    if fit.rcond < ILL_CONDITIONED_RCOND:
        warnings.warn(
            f"the Hessian is ill-conditioned (reciprocal condition number {fit.rcond:.2g} after scaling to a unit "
            "diagonal): results may have lost digits; consider a stronger penalty (smaller C)",
            IllConditionedWarning,
            stacklevel=stacklevel + 1,
        )
    return fit


def _theta(fit) -> np.ndarray:
    """(K, p) parameters, intercept first."""
    coef = np.asarray(fit.coef)
    return np.hstack([np.asarray(fit.intercept)[:, None], coef]) if fit.fit_intercept else coef.copy()


def _sole_members(prob: _MnProblem) -> np.ndarray:
    """Rows that are their class's only row with positive weight. Without such a row its class has
    no rows: with an unpenalised intercept (or no penalty) the leave-one-out fit does not exist (the
    class's intercept runs to -inf), so these rows are treated as having leverage one."""
    if not prob.fit_intercept and prob.l2 > 0:
        return np.zeros(prob.X.shape[0], bool)
    pos = np.ones(prob.X.shape[0], bool) if prob.w is None else prob.w > 0
    codes = prob.y.astype(np.int64)
    counts = np.bincount(codes[pos], minlength=prob.n_classes)
    return pos & (counts[codes] == 1)


def _threads(prob: _MnProblem, core) -> int:
    return prob.n_threads if prob.n_threads > 0 else int(core.default_num_threads())


def _exact_rows(prob: _MnProblem, fit, rows: np.ndarray, max_iter: int, core, stacklevel: int) -> np.ndarray:
    """theta-hat minus the exact leave-one-out fit of each listed row ((len(rows), K p)), in short
    calls of whole blocks of the core (Ctrl-C between them; the bits of one call)."""
    parts: list = []
    in_timed_pieces(
        rows.size,
        int(core.multinomial_exact_block_rows(prob.X.shape[0], prob.n_classes)),
        _threads(prob, core),
        lambda a, b: parts.append(
            core.multinomial_exact_loo(
                prob.X, prob.y, or_empty(prob.w), fit, rows[a:b].tolist(), max_iter, EXACT_TOL, prob.n_threads
            )
        ),
    )
    P = prob.n_classes * prob.p
    if not parts:
        return np.empty((0, P))
    D = np.concatenate([d for d, _, _ in parts])
    converged = np.concatenate([ok for _, _, ok in parts])
    bad = rows[~converged]
    if bad.size:
        warnings.warn(
            f"exact leave-one-out did not converge within {max_iter} iterations for {describe_rows(bad)}; "
            "their entries are NaN",
            ConvergenceWarning,
            stacklevel=stacklevel + 1,
        )
    return D


def auto_refine_rows(step_sq: np.ndarray, n_params: int) -> np.ndarray:
    """Rows for refine="auto": the ceil(n_params / 10) rows with the largest Newton steps in the
    Hessian norm (the one-step error grows with the square of the step, so they carry it), which
    keeps the call within about twice the bare Newton step."""
    a = np.where(np.isfinite(step_sq), step_sq, 0.0)
    k = min(int(np.count_nonzero(a)), max(1, -(-n_params // 10)))
    if k == 0:
        return np.empty(0, dtype=np.int64)
    top = np.argsort(-a, kind="stable")[:k]
    return np.sort(top).astype(np.int64)


def multinomial_loo(
    X,
    y,
    family,
    C,
    sample_weight,
    fit_intercept,
    method,
    *,
    refine,
    refine_by,
    offset,
    n_jobs,
    max_iter,
    explicit: bool,
):
    """glm_loo for family="multinomial" (arguments checked by glm_loo where shared)."""
    core = _dispatch.core
    prob, start = _prepare(X, y, family, C, sample_weight, fit_intercept, n_jobs, offset)
    polish = method == "exact" or explicit
    fit = _fit(prob, start, core, max_iter=max_iter, polish=polish, stacklevel=3)
    if start is not None:
        warn_if_not_at_optimum(_theta(fit), start, stacklevel=3)
    n, K, p = prob.X.shape[0], prob.n_classes, prob.p
    P = K * p
    step = core.MultinomialStep.influence if method == "influence" else core.MultinomialStep.newton
    hat, step_sq, lev1, dcoef = core.multinomial_loo_rows(prob.X, prob.y, or_empty(prob.w), fit, step, prob.n_threads)
    sole = _sole_members(prob)
    undefined = lev1 | sole
    refined = np.empty(0, dtype=np.int64)
    if method == "exact":
        rows = np.flatnonzero(~undefined).astype(np.int64)
        dcoef = np.full((n, P), np.nan)
        dcoef[rows] = _exact_rows(prob, fit, rows, max_iter, core, stacklevel=3)
    else:
        if explicit:
            rows = check_refine_rows(refine, n, lambda: step_sq if refine_by == "cooks_distance" else hat)
        elif method == "newton" and isinstance(refine, str) and fit.converged:
            rows = auto_refine_rows(np.where(undefined, np.nan, step_sq), P)
        else:
            rows = np.empty(0, dtype=np.int64)
        rows = rows[~undefined[rows]]
        if rows.size:
            dcoef[rows] = _exact_rows(prob, fit, rows, max_iter, core, stacklevel=3)
        refined = rows
    dcoef[undefined] = np.nan
    _warn_undefined(np.flatnonzero(lev1 & ~sole), np.flatnonzero(sole), stacklevel=3)
    return MultinomialLOOResult(
        prob, fit, method, core, hat=hat, dcoef=dcoef.reshape(n, K, p), leverage_one=undefined, refined=refined
    )


def _warn_undefined(lev1_rows: np.ndarray, sole_rows: np.ndarray, stacklevel: int) -> None:
    warn_leverage_one(lev1_rows, stacklevel=stacklevel + 1)
    if sole_rows.size:
        warnings.warn(
            f"{describe_rows(sole_rows)} are the only training rows of their class: without them the class has no "
            "rows and its unpenalised intercept runs to -inf, so their leave-one-out is undefined (NaN)",
            LeverageOneWarning,
            stacklevel=stacklevel + 1,
        )


class MultinomialLOOResult(AttributionResult):
    """Leave-one-out of a multinomial logistic regression (from ``glm_loo(family="multinomial")``).

    ``values`` is Cook's distance ``dcoef_i' H dcoef_i / (K p)`` with H the Hessian at the fit, so
    ``top(k)`` lists the most influential rows. Rows whose leave-one-out is undefined (leverage one,
    or the only row of their class) are NaN.

    Attributes
    ----------
    family : str
        ``"multinomial"``.
    method : str
    C : float or None
    fit_intercept : bool
    classes_ : ndarray of shape (n_classes,)
    coef_ : ndarray of shape (n_classes, n_features)
        As scikit-learn's ``LogisticRegression.coef_`` (rows sum to zero over the classes).
    intercept_ : ndarray of shape (n_classes,)
        Summing to zero, as scikit-learn's.
    params_ : ndarray of shape (n_classes, n_params)
        Per class ``(intercept_k, *coef_k)`` (or ``coef_k`` without an intercept).
    n_features_in_ : int
    feature_names_in_ : list of str or None
    n_iter_ : int
    hat : ndarray of shape (n_samples,)
        Generalised leverage ``trace(s_i A_i Z_i' H^-1 Z_i)``, ``A_i = diag(pi_i) - pi_i pi_i'``.
    dcoef : ndarray of shape (n_samples, n_classes, n_params)
        Full-fit parameters minus leave-one-out parameters, each class's intercept first.
    leverage_one : ndarray of bool
        Rows whose leave-one-out is undefined (NaN in ``dcoef``).
    refined : ndarray of int
        Rows solved exactly (see ``refine``).
    error_bound : float
        NaN: the multinomial family has no error bound for ``refine="auto"`` (it refines the
        ceil(K p / 10) rows with the largest Newton steps).

    Examples
    --------
    >>> import numpy as np
    >>> import attrib
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 3))
    >>> y = rng.integers(0, 4, size=200)                  # four classes
    >>> m = attrib.glm_loo(X, y, family="multinomial", C=1.0)
    >>> m.coef_.shape, m.intercept_.shape, m.dcoef.shape  # dcoef: (n, K, intercept + d)
    ((4, 3), (4,), (200, 4, 4))
    >>> m.influence(X[:5], y[:5]).shape                   # change of test cross-entropy
    (200, 5)
    """

    _values_name = "cooks_distance"
    _frame_columns = ("hat", "cooks_distance")

    def __init__(self, prob: _MnProblem, fit, method: str, core, *, hat, dcoef, leverage_one, refined):
        self._prob = prob
        self._guard = DataGuard(X=prob.X, y=prob.y, sample_weight=prob.w)
        self._fit = fit
        self._core = core
        self.family = "multinomial"
        self.method = method
        self.C = None if prob.l2 == 0 else 1.0 / prob.l2
        self.fit_intercept = prob.fit_intercept
        self.classes_ = prob.classes
        self.coef_ = np.array(fit.coef)
        self.intercept_ = prob.public(_theta(fit))[:, 0] if prob.fit_intercept else np.zeros(prob.n_classes)
        self.n_features_in_ = prob.X.shape[1]
        self.feature_names_in_ = prob.feature_names
        self.n_iter_ = int(fit.n_iter)
        self.hat = hat
        self._dcoef = dcoef  # the kernels' (centred) coordinates, which the kernels take back
        self.dcoef = prob.public(dcoef)
        self.leverage_one = leverage_one
        self.refined = refined
        self.error_bound = float("nan")

    def _check_state(self) -> None:
        prob, fit, n = self._prob, self._fit, self.hat.shape[0]
        K, p = prob.n_classes, prob.p
        X = prob.X
        self._expect(isinstance(X, np.ndarray) and X.ndim == 2 and X.dtype == np.float64, "X is not a float64 matrix")
        self._expect(X.flags.c_contiguous and X.shape == (n, self.n_features_in_), "X's shape")
        self._expect(np.asarray(fit.coef).shape == (K, self.n_features_in_), "the coefficients' shape")
        self._expect(np.asarray(fit.prob).shape == (n, K) and np.shape(prob.y) == (n,), "the per-row arrays")
        self._expect(prob.w is None or np.shape(prob.w) == (n,), "the weights")
        codes = np.asarray(prob.y)
        self._expect(bool(np.all((codes >= 0) & (codes < K) & (codes == np.round(codes)))), "class codes")
        self._expect(
            np.shape(self.dcoef) == (n, K, p) == np.shape(self._dcoef)
            and np.asarray(fit.hess_inv).shape == (K * p, K * p),
            "dcoef",
        )
        self._expect(prob.center is None or np.shape(prob.center) == (self.n_features_in_,), "the centre's size")
        self._expect(bool(np.all((self.refined >= 0) & (self.refined < n))), "refined rows out of range")
        self._check_unchanged()

    def _check_unchanged(self):
        prob = self._prob
        self._guard.check({"X": prob.X, "y": prob.y, "sample_weight": prob.w}, "glm_loo")

    @functools.cached_property
    def params_(self) -> np.ndarray:
        return self._prob.public(_theta(self._fit))

    @property
    def param_names(self) -> list[str]:
        """Names of the last axis of ``dcoef``: the intercept first, then the features."""
        return param_names(self.feature_names_in_, self.n_features_in_, self.fit_intercept)

    @functools.cached_property
    def cooks_distance(self) -> np.ndarray:
        """``dcoef_i' H dcoef_i / (K p)`` of every row (``values``)."""
        n = self._dcoef.shape[0]
        L = np.asarray(self._fit.chol)
        return ((self._dcoef.reshape(n, -1) @ L) ** 2).sum(axis=1) / L.shape[0]

    @functools.cached_property
    def loo_linear_predictor(self) -> np.ndarray:
        """(n_samples, n_classes): row i's linear predictors by the fit without it."""
        prob = self._prob
        Z = np.hstack([np.ones((prob.X.shape[0], 1)), prob.X]) if prob.fit_intercept else prob.X
        theta = _theta(self._fit)  # the kernels' coordinates, like prob.X
        return Z @ theta.T - np.einsum("ikp,ip->ik", self._dcoef, Z)

    def _test_data(self, X_test, y_test):
        Xt = as_float_matrix(X_test, "X_test", n_features=self.n_features_in_)
        if self._prob.center is not None:
            Xt = Xt - self._prob.center
        labels = as_labels(y_test, "y_test", Xt.shape[0], what="X_test")
        classes = self.classes_
        codes = np.searchsorted(classes, labels)
        bad = (codes >= classes.size) | (classes[np.minimum(codes, classes.size - 1)] != labels)
        if bad.any():
            i = int(np.argmax(bad))
            raise ValueError(
                f"y_test has a label not among the training classes {classes.tolist()[:10]} (index {i}: {labels[i]!r})"
            )
        return Xt, codes.astype(np.float64)

    def _loss_change(self, D, X_test, y_test, max_bytes, hint="split X_test, or raise max_bytes"):
        Xt, yt = self._test_data(X_test, y_test)
        check_dense_size(D.shape[0], Xt.shape[0], max_bytes, "influence", hint)
        D2 = np.ascontiguousarray(D.reshape(D.shape[0], -1))
        core, out = self._core, np.empty((D2.shape[0], Xt.shape[0]))
        # Training rows in short calls of whole tiles, written in place (Ctrl-C between calls).
        in_timed_pieces(
            D2.shape[0],
            int(core.MULTINOMIAL_LOSS_TRAIN_TILE),
            4 * _threads(self._prob, core),
            lambda a, b: core.multinomial_loss_change(Xt, yt, self._fit, D2[a:b], self._prob.n_threads, out[a:b]),
        )
        return out

    def influence(self, X_test, y_test, *, top_k=None, offset_test=None, max_bytes: int = DEFAULT_MAX_BYTES):
        """Change of each test point's cross-entropy when each training row is removed, by ``dcoef``.

        Parameters
        ----------
        X_test : array-like of shape (n_test, n_features)
        y_test : array-like of shape (n_test,)
            Labels among the training classes.
        top_k : int, optional
            Return the ``top_k`` most helpful and most harmful training rows per test point
            (a :class:`attrib.TopKInfluence`), streamed without the full matrix.
        offset_test : None
            Not supported for the multinomial family (must be None).
        max_bytes : int, default 2**31
            Largest dense result built (without ``top_k``).

        Returns
        -------
        ndarray of shape (n_samples, n_test), or TopKInfluence with ``top_k``
            Entry (i, j) = loss_j(theta_(i)) - loss_j(theta-hat), the test cross-entropy
            ``logsumexp(eta_j) - eta_{j, y_j}``. Positive: row i helps test point j.

        Raises
        ------
        ValueError
            Test data of the wrong shape, labels not among the training classes, an offset, or a
            result over ``max_bytes``.
        """
        from .glm import TopKInfluence

        if offset_test is not None:
            raise ValueError("offset_test is not supported for family='multinomial'")
        if top_k is None:
            return self._loss_change(
                self._dcoef,
                X_test,
                y_test,
                max_bytes,
                "pass top_k= to get the k most helpful and harmful training rows per test point without it, split "
                "X_test, or raise max_bytes",
            )
        Xt, yt = self._test_data(X_test, y_test)
        n = self._dcoef.shape[0]
        k = min(check_positive(top_k, "top_k", integer=True), n)
        D2 = np.ascontiguousarray(self._dcoef.reshape(n, -1))
        core, parts = self._core, []
        # Test points in short calls of whole tiles (Ctrl-C between them; the bits of one call).
        in_timed_pieces(
            Xt.shape[0],
            int(core.MULTINOMIAL_LOSS_TEST_TILE),
            4 * _threads(self._prob, core),
            lambda a, b: parts.append(
                core.multinomial_loss_change_topk(Xt[a:b], yt[a:b], self._fit, D2, k, self._prob.n_threads)
            ),
        )
        hi, hv, li, lv = (np.concatenate(a) for a in zip(*parts))
        return TopKInfluence(hi, hv, li, lv)

    def group_loo(self, groups, method: str = "newton", *, max_iter: int = 100) -> MultinomialGroupResult:
        """Removal of whole groups of rows at once.

        Parameters
        ----------
        groups : array-like of shape (n_samples,) or list of array-like
            A label per row or a list of row-index arrays or boolean masks, as in
            :meth:`attrib.GLMLOOResult.group_loo`.
        method : {"newton", "exact"}, default "newton"
            One Newton step per group (Woodbury: one (k K) x (k K) Cholesky per group of k rows),
            or each group-removed problem solved to convergence from that step.
        max_iter : int, default 100
            Newton iterations per group for ``"exact"``.

        Returns
        -------
        MultinomialGroupResult

        Raises
        ------
        ValueError
            Malformed groups.
        RuntimeError
            X, y or the weights were modified in place after the fit.
        """
        if method not in ("newton", "exact"):
            raise ValueError(f"method must be 'newton' or 'exact', got {method!r}")
        max_iter = check_positive(max_iter, "max_iter", integer=True)
        prob = self._prob
        self._check_unchanged()
        g = parse_groups(groups, prob.X.shape[0], prob.w)
        dcoef, ok = self._core.multinomial_group_step(
            prob.X, prob.y, or_empty(prob.w), self._fit, g.offsets.tolist(), g.indices.tolist(), prob.n_threads
        )
        # A group holding every positive-weight row of a class removes the class: undefined.
        pos = np.ones(prob.X.shape[0], bool) if prob.w is None else prob.w > 0
        codes = prob.y.astype(np.int64)
        counts = np.bincount(codes[pos], minlength=prob.n_classes)
        if prob.fit_intercept or prob.l2 == 0:
            for gi, rows in enumerate(g.arrays):
                r = rows[pos[rows]]
                if (np.bincount(codes[r], minlength=prob.n_classes) == counts)[counts > 0].any():
                    ok[gi] = False
                    dcoef[gi] = np.nan
        warn_leverage_one(np.flatnonzero(~ok), what="groups", stacklevel=2)
        exact = self._exact_groups(g, dcoef, ok, max_iter) if method == "exact" else None
        return MultinomialGroupResult(self, method, g, dcoef, exact, ok)

    def _exact_groups(self, groups: Groups, newton, ok, max_iter: int) -> np.ndarray:
        prob = self._prob
        n = prob.X.shape[0]
        theta = _theta(self._fit).reshape(-1)
        s_all = np.ones(n) if prob.w is None else prob.w
        out = np.full_like(newton, np.nan)
        failed = []
        opts = self._core.MultinomialFitOptions(
            n_classes=prob.n_classes,
            l2=prob.l2,
            fit_intercept=prob.fit_intercept,
            max_iter=max_iter,
            tol=FIT_TOL,
            polish=True,
            n_threads=prob.n_threads,
        )
        for gi, rows in enumerate(groups.arrays):
            if not ok[gi]:
                continue
            s = s_all.copy()
            s[rows] = 0.0
            try:
                fit = self._core.multinomial_fit(prob.X, prob.y, s, np.ascontiguousarray(theta - newton[gi]), opts)
            except ValueError:
                failed.append(gi)
                continue
            if not fit.converged:
                failed.append(gi)
                continue
            out[gi] = theta - _theta(fit).reshape(-1)
        if failed:
            warnings.warn(
                f"exact removal failed for {describe_rows(np.array(failed), 'groups')}; their entries are NaN",
                ConvergenceWarning,
                stacklevel=3,
            )
        return out


class MultinomialGroupResult(AttributionResult):
    """Removal of whole groups of rows of a multinomial fit (from :meth:`MultinomialLOOResult.group_loo`).

    ``values`` is Cook's distance ``dcoef_g' H dcoef_g / (K p)``.

    Attributes
    ----------
    method : str
    labels : ndarray
    groups : list of ndarray
    size : ndarray of int
    dcoef : ndarray of shape (n_groups, n_classes, n_params)
        Full-fit parameters minus those without group g ("newton": the Woodbury Newton step;
        "exact": the converged refit).
    dcoef_newton : ndarray of shape (n_groups, n_classes, n_params)
    ok : ndarray of bool
    """

    _values_name = "cooks_distance"
    _frame_columns = ("labels", "size", "cooks_distance")

    def __init__(self, base: MultinomialLOOResult, method, groups: Groups, newton, exact, ok):
        K, p = base._prob.n_classes, base._prob.p
        self._base = base
        self._groups = groups
        self.method = method
        self.labels = groups.labels
        self.groups = groups.arrays
        self.size = groups.sizes
        # The kernels' (centred) coordinates, kept for the kernels; the public arrays are converted.
        self._newton = newton.reshape(-1, K, p)
        self._dcoef = self._newton if exact is None else exact.reshape(-1, K, p)
        self.dcoef_newton = base._prob.public(self._newton)
        self.dcoef = base._prob.public(self._dcoef)
        self.ok = ok if exact is None else ok & np.isfinite(exact).all(axis=1)

    @functools.cached_property
    def cooks_distance(self) -> np.ndarray:
        """Generalised Cook's distance of each group removal."""
        L = np.asarray(self._base._fit.chol)
        return ((self._dcoef.reshape(self._dcoef.shape[0], -1) @ L) ** 2).sum(axis=1) / L.shape[0]

    def influence(self, X_test, y_test, *, max_bytes: int = DEFAULT_MAX_BYTES):
        """Change of each test point's cross-entropy when each group is removed.

        Parameters
        ----------
        X_test, y_test, max_bytes
            As in :meth:`MultinomialLOOResult.influence`.

        Returns
        -------
        ndarray of shape (n_groups, n_test)
        """
        return self._base._loss_change(self._dcoef, X_test, y_test, max_bytes)
