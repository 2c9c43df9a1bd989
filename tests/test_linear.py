"""attrib.linear_loo / linear_group_loo against oracles nobody here wrote: statsmodels'
OLSInfluence, scikit-learn's RidgeCV and Ridge, and SVD least-squares refits. Tolerances from
shared/reference/loo-influence.md §6.1 (rtol 1e-10 on well-conditioned designs)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import statsmodels.api as sm
from conftest import full_params, refit_least_squares
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.linear_model import Ridge, RidgeCV

import attrib

RTOL = 1e-10
ATOL = 1e-12


def make_data(rng, n=120, d=4, scale=1.0, offset=0.0):
    X = rng.normal(size=(n, d)) * scale + offset
    y = X @ rng.normal(size=d) + 0.5 + rng.normal(size=n)
    return X, y


def assert_close(actual, desired, rtol=RTOL, atol=ATOL):
    # atol scaled by the magnitude of the oracle: statsmodels' refit-based dfbeta subtracts two
    # fits, so its own error is relative to the coefficients, not to the (small) difference.
    desired = np.asarray(desired)
    assert_allclose(actual, desired, rtol=rtol, atol=atol * max(1.0, np.nanmax(np.abs(desired))))


def assert_matches_olsinfluence(r, infl):
    """The per-row diagnostics statsmodels computes by refitting (and hat)."""
    assert_close(r.hat, infl.hat_matrix_diag)
    assert_close(r.sigma2_loo, infl.sigma2_not_obsi)
    assert_close(r.resid_studentized_internal, infl.resid_studentized_internal)
    assert_close(r.resid_studentized_external, infl.resid_studentized_external)
    assert_close(r.cooks_distance, infl.cooks_distance[0])
    assert_close(r.dffits, infl.dffits[0])
    assert_close(r.cov_ratio, infl.cov_ratio)
    assert_close(r.dfbeta, infl.dfbeta)
    assert_close(r.dfbetas, infl.dfbetas)


# ---------------------------------------------------------------- OLS vs statsmodels
@pytest.mark.parametrize("eager", [False, True], ids=["lazy-dfbeta", "eager-dfbeta"])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_ols_matches_statsmodels_olsinfluence(rng, fit_intercept, eager):
    X, y = make_data(rng, n=150, d=5, offset=3.0)
    Z = sm.add_constant(X) if fit_intercept else X
    ols = sm.OLS(y, Z).fit()
    infl = ols.get_influence()
    r = attrib.linear_loo(X, y, fit_intercept=fit_intercept, dfbeta=eager)
    assert_close(full_params(r.intercept_, r.coef_, fit_intercept), ols.params)
    assert_close(r.resid, ols.resid)
    assert_close(r.loo_resid, infl.resid_press)
    assert_close(r.sigma2, ols.mse_resid)
    assert_matches_olsinfluence(r, infl)
    assert r.df_resid == ols.df_resid


def test_ols_matches_brute_force_refits(rng):
    X, y = make_data(rng, n=60, d=3, scale=2.0, offset=-1.0)
    r = attrib.linear_loo(X, y)
    b, coef = refit_least_squares(X, y)
    full = full_params(b, coef)
    for i in range(X.shape[0]):
        keep = np.arange(X.shape[0]) != i
        bi, ci = refit_least_squares(X[keep], y[keep])
        assert_close(r.dfbeta[i], full - full_params(bi, ci))
        assert_close(r.loo_resid[i], y[i] - bi - X[i] @ ci)


# ---------------------------------------------------------------- WLS
@pytest.mark.parametrize("eager", [False, True], ids=["lazy-dfbeta", "eager-dfbeta"])
def test_wls_matches_weighted_refits(rng, eager):
    X, y = make_data(rng, n=50, d=3)
    w = rng.uniform(0.2, 3.0, size=50)
    w[[3, 17]] = 0.0  # zero weight = deleted row
    r = attrib.linear_loo(X, y, sample_weight=w, dfbeta=eager)
    b, coef = refit_least_squares(X, y, w)
    assert_close(r.coef_, coef)
    assert_close(r.intercept_, b)
    full = full_params(b, coef)
    for i in range(X.shape[0]):
        keep = np.arange(X.shape[0]) != i
        bi, ci = refit_least_squares(X[keep], y[keep], w[keep])
        assert_close(r.dfbeta[i], full - full_params(bi, ci))
        assert_close(r.loo_resid[i], y[i] - bi - X[i] @ ci)
    # Zero-weight rows change nothing when removed.
    assert_array_equal(r.dfbeta[[3, 17]], 0.0)
    assert_array_equal(r.hat[[3, 17]], 0.0)
    # Deleting the zero-weight rows gives the same fit.
    keep = w > 0
    r2 = attrib.linear_loo(X[keep], y[keep], sample_weight=w[keep])
    assert_close(r2.coef_, r.coef_)
    assert_close(r2.loo_resid, r.loo_resid[keep])


def test_wls_diagnostics_match_statsmodels_on_whitened_data(rng):
    # WLS is OLS on sqrt(w)-scaled rows (the constant column becomes sqrt(w)). statsmodels'
    # OLSInfluence on that whitened design is an independent oracle for the weighted diagnostics.
    X, y = make_data(rng, n=80, d=4)
    w = rng.uniform(0.5, 2.0, size=80)
    sw = np.sqrt(w)
    infl = sm.OLS(sw * y, sw[:, None] * sm.add_constant(X)).fit().get_influence()
    r = attrib.linear_loo(X, y, sample_weight=w)
    assert_close(sw * r.loo_resid, infl.resid_press)
    assert_matches_olsinfluence(r, infl)


# ---------------------------------------------------------------- ridge
@pytest.mark.parametrize("weighted", [False, True])
def test_ridge_loo_matches_ridgecv(rng, weighted):
    X, y = make_data(rng, n=90, d=6, offset=2.0)
    w = rng.uniform(0.3, 2.0, size=90) if weighted else None
    alpha = 3.7
    cv = RidgeCV(alphas=[alpha], store_cv_results=True).fit(X, y, sample_weight=w)
    r = attrib.linear_loo(X, y, alpha=alpha, sample_weight=w)
    # RidgeCV stores w_i * (LOO residual)^2 with weights, (LOO residual)^2 without.
    expected = cv.cv_results_[:, 0]
    got = r.loo_resid**2 * (1.0 if w is None else w)
    assert_close(got, expected, rtol=1e-9)
    assert_close(r.coef_, cv.coef_, rtol=1e-9)
    assert_close(r.intercept_, cv.intercept_, rtol=1e-9)


@pytest.mark.parametrize("fit_intercept", [True, False])
def test_ridge_dfbeta_matches_ridge_refits(rng, fit_intercept):
    X, y = make_data(rng, n=40, d=5, offset=1.0)
    w = rng.uniform(0.5, 2.0, size=40)
    alpha = 0.8
    r = attrib.linear_loo(X, y, alpha=alpha, sample_weight=w, fit_intercept=fit_intercept)
    ridge = Ridge(alpha=alpha, solver="cholesky", fit_intercept=fit_intercept).fit(X, y, sample_weight=w)
    assert_close(r.coef_, ridge.coef_)
    full = full_params(ridge.intercept_, ridge.coef_, fit_intercept)
    for i in range(0, 40, 3):
        keep = np.arange(40) != i
        ri = Ridge(alpha=alpha, solver="cholesky", fit_intercept=fit_intercept).fit(
            X[keep], y[keep], sample_weight=w[keep]
        )
        assert_close(r.dfbeta[i], full - full_params(ri.intercept_, ri.coef_, fit_intercept))


def test_ridge_underdetermined_is_fine(rng):
    # More features than rows is well posed with alpha > 0.
    X, y = make_data(rng, n=15, d=30)
    r = attrib.linear_loo(X, y, alpha=2.0)
    b, coef = refit_least_squares(X, y, alpha=2.0)
    assert_close(r.coef_, coef)
    keep = np.arange(15) != 4
    bi, ci = refit_least_squares(X[keep], y[keep], alpha=2.0)
    assert_close(r.dfbeta[4], full_params(b, coef) - full_params(bi, ci))


def test_eager_and_lazy_dfbeta_agree(rng):
    X, y = make_data(rng, n=3000, d=12, offset=1.0)
    w = rng.uniform(0.1, 2.0, size=3000)
    lazy = attrib.linear_loo(X, y, alpha=0.3, sample_weight=w)
    eager = attrib.linear_loo(X, y, alpha=0.3, sample_weight=w, dfbeta=True)
    assert "dfbeta" in eager.__dict__  # computed by the fit, not on access
    assert_close(eager.dfbeta, lazy.dfbeta, rtol=1e-12, atol=1e-14)
    assert_close(eager.hat, lazy.hat, rtol=1e-12, atol=1e-15)
    with pytest.raises(TypeError, match="dfbeta must be True or False"):
        attrib.linear_loo(X, y, dfbeta="yes")


# ---------------------------------------------------------------- predictions at new points
def test_prediction_change_matches_refits(rng):
    X, y = make_data(rng, n=45, d=3)
    Xt = rng.normal(size=(7, 3))
    w = rng.uniform(0.5, 2.0, size=45)
    r = attrib.linear_loo(X, y, alpha=0.5, sample_weight=w)
    delta = r.prediction_change(Xt)
    assert delta.shape == (45, 7)
    b, coef = refit_least_squares(X, y, w, alpha=0.5)
    for i in range(45):
        keep = np.arange(45) != i
        bi, ci = refit_least_squares(X[keep], y[keep], w[keep], alpha=0.5)
        assert_close(delta[i], (b + Xt @ coef) - (bi + Xt @ ci))
    # Equals dfbeta applied to the test design.
    assert_close(delta, r.dfbeta @ np.hstack([np.ones((7, 1)), Xt]).T)


def test_prediction_change_refuses_huge_outputs(rng):
    X, y = make_data(rng, n=30, d=2)
    r = attrib.linear_loo(X, y)
    with pytest.raises(ValueError, match="smaller batches"):
        r.prediction_change(np.zeros((10, 2)), max_bytes=1000)
    with pytest.raises(ValueError, match="X_test has 3 features"):
        r.prediction_change(np.zeros((10, 3)))


# ---------------------------------------------------------------- leave-group-out
@pytest.mark.parametrize(
    "alpha,weighted,fit_intercept", [(0.0, False, True), (0.0, True, True), (1.5, True, True), (0.7, False, False)]
)
def test_group_loo_matches_refits(rng, alpha, weighted, fit_intercept):
    n = 60
    X, y = make_data(rng, n=n, d=4)
    w = rng.uniform(0.3, 2.0, size=n) if weighted else None
    labels = rng.integers(0, 7, size=n)
    g = attrib.linear_group_loo(X, y, labels, alpha=alpha, sample_weight=w, fit_intercept=fit_intercept)
    b, coef = refit_least_squares(X, y, w, alpha, fit_intercept)
    full = full_params(b, coef, fit_intercept)
    assert_array_equal(g.labels, np.unique(labels))
    for k, lab in enumerate(g.labels):
        rows = np.flatnonzero(labels == lab)
        assert_array_equal(g.groups[k], rows)
        keep = labels != lab
        bk, ck = refit_least_squares(X[keep], y[keep], None if w is None else w[keep], alpha, fit_intercept)
        assert_close(g.dfbeta[k], full - full_params(bk, ck, fit_intercept))
        assert_close(g.loo_resid[k], y[rows] - bk - X[rows] @ ck)
    assert g.ok.all()


def test_group_loo_index_lists_overlap_and_singletons(rng):
    X, y = make_data(rng, n=40, d=3)
    r = attrib.linear_loo(X, y)
    groups = [np.array([0, 5, 9]), np.array([5, 6]), [12], np.arange(40) == 20]
    g = r.group_loo(groups)
    b, coef = refit_least_squares(X, y)
    for k, rows in enumerate([[0, 5, 9], [5, 6], [12], [20]]):
        keep = np.ones(40, bool)
        keep[rows] = False
        bk, ck = refit_least_squares(X[keep], y[keep])
        assert_close(g.dfbeta[k], full_params(b, coef) - full_params(bk, ck))
    # A group of one row is exactly leave-one-out.
    assert_close(g.dfbeta[2], r.dfbeta[12])
    assert_close(g.loo_resid[2], r.loo_resid[[12]])
    assert_close(g.cooks_distance[2], r.cooks_distance[12])
    assert_close(g.cooks_distance[3], r.cooks_distance[20])


def test_group_loo_bad_groups(rng):
    X, y = make_data(rng, n=20, d=2)
    with pytest.raises(ValueError, match="every row"):
        attrib.linear_group_loo(X, y, np.zeros(20))
    with pytest.raises(ValueError, match=r"groups\[1\] is empty"):
        attrib.linear_group_loo(X, y, [[1, 2], []])
    with pytest.raises(ValueError, match="more than once"):
        attrib.linear_group_loo(X, y, [[1, 1]])
    with pytest.raises(ValueError, match="out of range"):
        attrib.linear_group_loo(X, y, [[1, 20]])
    with pytest.raises(ValueError, match="label per row"):
        attrib.linear_group_loo(X, y, np.zeros(19))
    with pytest.raises(TypeError, match="integer row indices"):
        attrib.linear_group_loo(X, y, [np.array([0.5, 1.0])])


def test_group_whose_removal_is_singular_is_nan_with_warning(rng):
    # 4 parameters, 6 rows: removing 3 rows leaves too few to fit.
    X, y = make_data(rng, n=6, d=3)
    with pytest.warns(attrib.LeverageOneWarning, match="groups 0"):
        g = attrib.linear_group_loo(X, y, [[0, 1, 2], [3]])
    assert not g.ok[0] and g.ok[1]
    assert np.isnan(g.dfbeta[0]).all() and np.isfinite(g.dfbeta[1]).all()


# ---------------------------------------------------------------- leverage one
@pytest.mark.parametrize("eager", [False, True], ids=["lazy-dfbeta", "eager-dfbeta"])
def test_leverage_one_rows_are_nan_and_warned(rng, eager):
    X, y = make_data(rng, n=30, d=2)
    dummy = np.zeros((30, 1))
    dummy[7] = 1.0  # a column only row 7 uses: the fit interpolates row 7, h_7 = 1
    X = np.hstack([X, dummy])
    with pytest.warns(attrib.LeverageOneWarning, match="rows 7 have leverage 1"):
        r = attrib.linear_loo(X, y, dfbeta=eager)
    assert r.leverage_one.tolist() == [i == 7 for i in range(30)]
    for name in ("loo_resid", "cooks_distance", "resid_studentized_external", "dffits", "cov_ratio"):
        assert np.isnan(getattr(r, name)[7]), name
        assert np.isfinite(np.delete(getattr(r, name), 7)).all(), name
    assert np.isnan(r.dfbeta[7]).all()
    # The other rows are still exact.
    keep = np.arange(30) != 3
    bi, ci = refit_least_squares(X[keep], y[keep])
    b, coef = refit_least_squares(X, y)
    assert_close(r.dfbeta[3], full_params(b, coef) - full_params(bi, ci), rtol=1e-9)


# ---------------------------------------------------------------- results object
def test_result_ranking_and_frame(rng):
    X, y = make_data(rng, n=50, d=3)
    y[11] += 15.0  # an outlier
    r = attrib.linear_loo(X, y)
    assert r.top(1)[0] == 11
    assert_array_equal(r.values, r.cooks_distance)
    assert_array_equal(r.top(3, by="hat"), np.argsort(-r.hat)[:3])
    assert_array_equal(r.top(2, largest=False), np.argsort(r.cooks_distance)[:2])
    frame = r.to_frame()
    assert list(frame.columns) == list(r._frame_columns) and len(frame) == 50
    with pytest.raises(ValueError, match="k must be >= 1"):
        r.top(0)
    with pytest.raises(TypeError, match="k must be a positive integer"):  # as every other k
        r.top(2.5)


def test_pandas_feature_names_label_parameters(rng):
    import pandas as pd

    X, y = make_data(rng, n=30, d=2)
    df = pd.DataFrame(X, columns=["age", "dose"])
    r = attrib.linear_loo(df, pd.Series(y))
    assert r.param_names == ["intercept", "age", "dose"]
    assert_array_equal(r.coef_, attrib.linear_loo(X, y).coef_)


def test_ill_conditioned_warns_and_singular_raises(rng):
    X, y = make_data(rng, n=50, d=3)
    near = np.hstack([X, X[:, :1] + 1e-6 * rng.normal(size=(50, 1))])
    with pytest.warns(attrib.IllConditionedWarning, match="ill-conditioned"):
        attrib.linear_loo(near, y)
    exact = np.hstack([X, 2.0 * X[:, :1] - X[:, 1:2]])
    with pytest.raises(ValueError, match="alpha > 0"):
        attrib.linear_loo(exact, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        attrib.linear_loo(exact, y, alpha=1.0)  # a penalty makes it well posed
