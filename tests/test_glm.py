"""attrib.glm_loo against oracles nobody here wrote: statsmodels' GLMInfluence (unpenalised
Newton step), scikit-learn refits with sample_weight 0 (exact, penalised), statsmodels refits
(exact, Poisson) and attrib.linear_loo (Gaussian). Tolerances from
shared/reference/loo-influence.md §6: identities rtol 1e-10; refits atol 1e-8 on coefficients."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import statsmodels.api as sm
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.linear_model import LinearRegression, LogisticRegression, PoissonRegressor, Ridge

import attrib
from attrib.exceptions import ConvergenceWarning

RTOL = 1e-10
ATOL = 1e-12
REFIT_ATOL = 1e-8  # exact LOO vs refits (the issue); the reference's §6.1.8 asks 1e-9 of the fit itself
FIT_ATOL = 1e-9


def assert_close(actual, desired, rtol=RTOL, atol=ATOL):
    desired = np.asarray(desired)
    assert_allclose(actual, desired, rtol=rtol, atol=atol * max(1.0, np.nanmax(np.abs(desired))))


def logistic_data(rng, n=300, d=5, scale=1.0):
    X = rng.normal(size=(n, d))
    eta = 0.3 + X @ (scale * rng.normal(size=d) / np.sqrt(d))
    y = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(float)
    return X, y


def poisson_data(rng, n=300, d=4):
    X = rng.normal(size=(n, d))
    y = rng.poisson(np.exp(0.5 + X @ (0.3 * rng.normal(size=d)))).astype(float)
    return X, y


def sk_logistic(X, y, C, w=None):
    m = LogisticRegression(C=C, solver="newton-cholesky", tol=1e-12, max_iter=1000).fit(X, y, sample_weight=w)
    return np.concatenate([m.intercept_, m.coef_[0]])


# ---------------------------------------------------------------- Newton step vs statsmodels
@pytest.mark.parametrize(
    "family,sm_family,make",
    [
        ("logistic", sm.families.Binomial(), logistic_data),
        ("poisson", sm.families.Poisson(), poisson_data),
    ],
)
def test_newton_step_matches_statsmodels_glm_influence(rng, family, sm_family, make):
    X, y = make(rng)
    res = sm.GLM(y, sm.add_constant(X), family=sm_family).fit(tol=1e-12)
    infl = res.get_influence()
    r = attrib.glm_loo(X, y, family=family, C=None, refine=0)
    assert_close(r.params_, res.params)
    assert_close(r.hat, infl.hat_matrix_diag)
    assert_close(r.dcoef, infl.d_params)
    assert_close(r.cooks_distance, infl.cooks_distance[0])
    assert_close(r.linear_predictor, sm.add_constant(X) @ res.params)


def test_newton_step_without_intercept_matches_statsmodels(rng):
    X, y = logistic_data(rng, n=200, d=3)
    res = sm.GLM(y, X, family=sm.families.Binomial()).fit(tol=1e-12)
    r = attrib.glm_loo(X, y, C=None, fit_intercept=False, refine=0)
    assert_close(r.params_, res.params)
    assert_close(r.dcoef, res.get_influence().d_params)


def test_alo_identity_and_influence_function_relation(rng):
    # loo_linear_predictor = x_i'(theta - dcoef_i) (ALO = Newton step, §6.1.7); the influence
    # function drops exactly the 1/(1-h) factor.
    X, y = logistic_data(rng)
    w = rng.uniform(0.5, 2.0, size=X.shape[0])
    ns = attrib.glm_loo(X, y, C=0.7, sample_weight=w, refine=0)
    ij = attrib.glm_loo(X, y, C=0.7, sample_weight=w, method="influence")
    Z = np.hstack([np.ones((X.shape[0], 1)), X])
    assert_close(ns.loo_linear_predictor, np.einsum("ij,ij->i", Z, ns.params_ - ns.dcoef))
    assert_close(ij.loo_linear_predictor, np.einsum("ij,ij->i", Z, ij.params_ - ij.dcoef))
    assert_close(ns.dcoef * (1 - ns.hat)[:, None], ij.dcoef)


# ---------------------------------------------------------------- Gaussian = exact linear LOO
@pytest.mark.parametrize("C,weighted,fit_intercept", [(None, False, True), (2.0, True, True), (0.5, False, False)])
def test_gaussian_family_equals_linear_loo(rng, C, weighted, fit_intercept):
    X = rng.normal(size=(80, 4)) + 1.0
    y = X @ rng.normal(size=4) + 2.0 + rng.normal(size=80)
    w = rng.uniform(0.2, 3.0, size=80) if weighted else None
    g = attrib.glm_loo(X, y, family="gaussian", C=C, sample_weight=w, fit_intercept=fit_intercept)
    lin = attrib.linear_loo(X, y, alpha=0.0 if C is None else 1.0 / C, sample_weight=w, fit_intercept=fit_intercept)
    assert_close(g.coef_, lin.coef_)
    assert_close(g.intercept_, lin.intercept_)
    assert_close(g.hat, lin.hat)
    assert_close(g.dcoef, lin.dfbeta)
    assert_close(g.loo_linear_predictor, y - lin.loo_resid)
    ex = attrib.glm_loo(X, y, family="gaussian", C=C, sample_weight=w, fit_intercept=fit_intercept, method="exact")
    assert_close(ex.dcoef, lin.dfbeta)


# ---------------------------------------------------------------- the fit itself
@pytest.mark.parametrize("C", [0.05, 1.0, 100.0])
def test_penalised_fit_matches_scikit_learn(rng, C):
    X, y = logistic_data(rng, n=250, d=6, scale=2.0)
    w = rng.uniform(0.0, 2.0, size=250)
    for weights in (None, w):
        r = attrib.glm_loo(X, y, C=C, sample_weight=weights)
        assert_close(r.params_, sk_logistic(X, y, C, weights), rtol=0, atol=FIT_ATOL)
        assert r.n_iter_ < 30


def test_poisson_and_gaussian_fits_match_scikit_learn(rng):
    X, y = poisson_data(rng, n=200)
    alpha = 0.01
    pr = PoissonRegressor(alpha=alpha, solver="newton-cholesky", tol=1e-12, max_iter=1000).fit(X, y)
    r = attrib.glm_loo(X, y, family="poisson", C=1.0 / (alpha * X.shape[0]))
    assert_close(r.params_, np.concatenate([[pr.intercept_], pr.coef_]), rtol=0, atol=FIT_ATOL)
    yg = X @ rng.normal(size=4) + rng.normal(size=200)
    rg = Ridge(alpha=3.0).fit(X, yg)
    g = attrib.glm_loo(X, yg, family="gaussian", C=1 / 3.0)
    assert_close(g.params_, np.concatenate([[rg.intercept_], rg.coef_]))


# ---------------------------------------------------------------- exact LOO vs refits
def test_exact_matches_scikit_learn_refits(rng):
    X, y = logistic_data(rng, n=70, d=4, scale=2.0)
    w = rng.uniform(0.5, 2.0, size=70)
    w[5] = 0.0  # already deleted: its leave-one-out changes nothing
    C = 0.5
    r = attrib.glm_loo(X, y, C=C, sample_weight=w, method="exact")
    full = sk_logistic(X, y, C, w)
    for i in range(X.shape[0]):
        wi = w.copy()
        wi[i] = 0.0
        theta_i = sk_logistic(X, y, C, wi)
        assert_allclose(r.dcoef[i], full - theta_i, rtol=0, atol=REFIT_ATOL)
        assert_allclose(r.loo_linear_predictor[i], theta_i[0] + X[i] @ theta_i[1:], rtol=0, atol=REFIT_ATOL)
    assert_array_equal(r.dcoef[5], 0.0)


def test_exact_matches_statsmodels_refits_poisson_unpenalised(rng):
    X, y = poisson_data(rng, n=50, d=3)
    r = attrib.glm_loo(X, y, family="poisson", C=None, method="exact")
    Z = sm.add_constant(X)
    full = sm.GLM(y, Z, family=sm.families.Poisson()).fit(tol=1e-13).params
    for i in range(X.shape[0]):
        keep = np.arange(X.shape[0]) != i
        theta_i = sm.GLM(y[keep], Z[keep], family=sm.families.Poisson()).fit(tol=1e-13).params
        assert_allclose(r.dcoef[i], full - theta_i, rtol=0, atol=REFIT_ATOL)


def test_exact_converges_on_high_leverage_rows_of_real_data():
    # The breast cancer rows where the one-step estimate is worst: the exact solver still converges,
    # and agrees with a scikit-learn refit.
    from sklearn.preprocessing import StandardScaler

    data = attrib.datasets.load_breast_cancer()
    X = StandardScaler().fit_transform(data.X)
    y = data.y
    ns = attrib.glm_loo(X, y, C=1.0, refine=0)
    rows = ns.top(3, by="hat")
    r = attrib.glm_loo(X, y, C=1.0, refine=rows)
    full = sk_logistic(X, y, 1.0)
    for i in rows:
        w = np.ones(X.shape[0])
        w[i] = 0.0
        assert_allclose(r.dcoef[i], full - sk_logistic(X, y, 1.0, w), rtol=0, atol=REFIT_ATOL)
    # ... where the one-step estimate is far off (the motivation for refine=).
    rel = np.linalg.norm(ns.dcoef[rows] - r.dcoef[rows], axis=1) / np.linalg.norm(r.dcoef[rows], axis=1)
    assert rel.max() > 0.05


# ---------------------------------------------------------------- refine
def test_refine_solves_the_named_rows_exactly_and_keeps_the_rest(rng):
    X, y = logistic_data(rng, n=200, d=5, scale=2.0)
    ns = attrib.glm_loo(X, y, C=2.0, refine=0)
    ex = attrib.glm_loo(X, y, C=2.0, method="exact")
    r = attrib.glm_loo(X, y, C=2.0, refine=15, refine_by="hat")
    top = np.sort(np.argsort(-ns.hat)[:15])
    assert_array_equal(r.refined, top)
    by_cooks = attrib.glm_loo(X, y, C=2.0, refine=15)  # the default picks by Cook's distance
    assert_array_equal(by_cooks.refined, np.sort(np.argsort(-ns.cooks_distance)[:15]))
    others = np.setdiff1d(np.arange(200), top)
    # The others keep the Newton step (of a fit polished to the rounding floor for the refined
    # rows' sake, hence equal to the plain one to rounding rather than bit for bit).
    assert_close(r.dcoef[others], ns.dcoef[others])
    assert_close(r.loo_linear_predictor[others], ns.loo_linear_predictor[others])
    assert_close(r.dcoef[top], ex.dcoef[top])
    assert_close(r.loo_linear_predictor[top], ex.loo_linear_predictor[top])
    full = attrib.glm_loo(X, y, C=2.0, refine=200)
    assert_close(full.dcoef, ex.dcoef)


# ---------------------------------------------------------------- approximation quality (§6.2)
def test_approximation_quality_against_exact_loo(rng):
    X, y = logistic_data(rng, n=400, d=10, scale=2.0)
    Xt, yt = logistic_data(np.random.default_rng(1), n=60, d=10, scale=2.0)
    ex = attrib.glm_loo(X, y, C=1.0, method="exact")
    ns = attrib.glm_loo(X, y, C=1.0)
    ij = attrib.glm_loo(X, y, C=1.0, method="influence")
    assert ns.hat.max() <= 0.3
    rel = lambda a: np.linalg.norm(a.dcoef - ex.dcoef) / np.linalg.norm(ex.dcoef)  # noqa: E731
    assert rel(ns) <= 0.10
    assert rel(ij) <= 0.25
    assert np.abs(ns.loo_linear_predictor - ex.loo_linear_predictor).max() <= 5e-2
    truth = ex.influence(Xt, yt).ravel()
    for approx in (ns, ij):
        pred = approx.influence(Xt, yt).ravel()
        assert np.corrcoef(pred, truth)[0, 1] >= 0.98


def _digits_two_classes():
    from sklearn.datasets import load_digits

    X, y = load_digits(n_class=2, return_X_y=True)
    return X / 16.0, y


def _breast_cancer():
    from sklearn.preprocessing import StandardScaler

    d = attrib.datasets.load_breast_cancer()
    return StandardScaler().fit_transform(d.X), d.y


def _split(X, y):
    from sklearn.model_selection import train_test_split

    return train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)


def _test_loss_correlation(X, y, C, **kwargs):
    Xtr, Xte, ytr, yte = _split(X, y)
    truth = attrib.influence(Xtr, ytr, Xte, yte, C=C, method="exact").ravel()
    pred = attrib.influence(Xtr, ytr, Xte, yte, C=C, method="newton", **kwargs).ravel()
    return np.corrcoef(pred, truth)[0, 1]


@pytest.mark.parametrize("C", [0.1, 1.0])
def test_newton_step_test_loss_change_correlates_with_exact_on_digits(C):
    assert _test_loss_correlation(*_digits_two_classes(), C) >= 0.99


def test_newton_step_test_loss_change_correlates_with_exact_on_breast_cancer():
    # With C=0.1 the one-step estimate alone reaches 0.99. With scikit-learn's default C=1 it
    # does not on every split (0.987-0.997; bench/bench_glm.py prints the figures): a handful of
    # influential rows carry the error, and solving the 5 rows with the largest Cook's distance
    # exactly (refine=5; Cook's distance is the default refine_by) brings it above 0.99.
    X, y = _breast_cancer()
    assert _test_loss_correlation(X, y, 0.1) >= 0.99
    assert _test_loss_correlation(X, y, 1.0, refine=5) >= 0.99


@pytest.mark.parametrize("C", [0.1, 1.0])
@pytest.mark.parametrize("data", [_breast_cancer, _digits_two_classes])
def test_default_refinement_reaches_0999_against_exact(data, C):
    # The aim for the default call: >= 0.999 on breast cancer and digits at C = 0.1 and 1
    # (the bare step gives 0.987 on breast cancer at C=1; bench/bench_glm.py prints both).
    assert _test_loss_correlation(*data(), C) >= 0.999


def test_auto_refinement_solves_the_largest_steps_exactly():
    X, y = _breast_cancer()
    bare = attrib.glm_loo(X, y, C=1.0, refine=0)
    auto = attrib.glm_loo(X, y, C=1.0)
    ex = attrib.glm_loo(X, y, C=1.0, method="exact")
    rows = auto.refined
    assert 0 < rows.size <= -(-bare.params_.size // 10)  # at most one row per 10 parameters
    # The rows with the largest Newton steps in the Hessian norm, i.e. the largest Cook's distance.
    assert_array_equal(rows, np.sort(np.argsort(-bare.cooks_distance)[: rows.size]))
    # Solved from the fit as it is (within FIT_TOL of the optimum): exact to that tolerance.
    assert_allclose(auto.dcoef[rows], ex.dcoef[rows], rtol=0, atol=1e-8)
    others = np.setdiff1d(np.arange(y.size), rows)
    assert_array_equal(auto.dcoef[others], bare.dcoef[others])
    assert_allclose(auto.cooks_distance, ((auto.dcoef @ np.asarray(auto._fit.chol)) ** 2).sum(1) / 31, rtol=1e-12)
    assert np.isfinite(auto.error_bound) and auto.error_bound > 0
    assert np.isnan(bare.error_bound) and bare.refined.size == 0
    assert_array_equal(attrib.glm_loo(X, y, C=1.0, refine=None).dcoef, bare.dcoef)


def test_auto_refinement_stops_when_its_bound_holds(rng):
    # Many rows, few parameters: the Newton steps are already accurate and the bound holds
    # before the cap, so fewer rows than the cap are refined and the bound is reported below 0.02.
    X, y = logistic_data(rng, n=4000, d=3, scale=1.0)
    r = attrib.glm_loo(X, y, C=1.0)
    assert r.refined.size == 0 and 0 < r.error_bound <= 0.02
    # Gaussian: the Newton step is exact, nothing to refine; influence: "auto" refines nothing.
    g = attrib.glm_loo(X, X @ [1.0, 2.0, 3.0] + rng.normal(size=4000), family="gaussian")
    assert g.refined.size == 0 and g.error_bound == 0.0
    assert attrib.glm_loo(X, y, method="influence").refined.size == 0


# ---------------------------------------------------------------- influence on test losses
def test_influence_is_the_refit_change_in_test_loss(rng):
    X, y = logistic_data(rng, n=40, d=3, scale=2.0)
    Xt, yt = logistic_data(rng, n=9, d=3, scale=2.0)
    C = 1.0
    M = attrib.influence(X, y, Xt, yt, C=C, method="exact")

    def test_losses(theta):
        eta = theta[0] + Xt @ theta[1:]
        return np.logaddexp(0, eta) - yt * eta

    base = test_losses(sk_logistic(X, y, C))
    for i in range(X.shape[0]):
        w = np.ones(X.shape[0])
        w[i] = 0.0
        assert_allclose(M[i], test_losses(sk_logistic(X, y, C, w)) - base, rtol=0, atol=REFIT_ATOL)


def test_top_k_equals_ranking_the_full_matrix(rng):
    X, y = logistic_data(rng, n=600, d=4)
    Xt, yt = logistic_data(rng, n=70, d=4)
    r = attrib.glm_loo(X, y, C=1.0)
    M = r.influence(Xt, yt)
    tk = r.influence(Xt, yt, top_k=5)
    for j in range(Xt.shape[0]):
        help_ = np.lexsort((np.arange(600), -M[:, j]))[:5]
        harm = np.lexsort((np.arange(600), M[:, j]))[:5]
        assert_array_equal(tk.helpful_idx[j], help_)
        assert_array_equal(tk.harmful_idx[j], harm)
        assert_array_equal(tk.helpful_val[j], M[help_, j])
        assert_array_equal(tk.harmful_val[j], M[harm, j])
    assert (tk.helpful_val[:, 0] > 0).all() and (tk.harmful_val[:, 0] < 0).all()


def test_influence_refuses_a_huge_dense_matrix_and_names_top_k(rng):
    X, y = logistic_data(rng, n=100, d=3)
    r = attrib.glm_loo(X, y)
    with pytest.raises(ValueError, match=r"100 x 50 float64 matrix.*top_k="):
        r.influence(X[:50], y[:50], max_bytes=1000)
    assert r.influence(X[:50], y[:50], top_k=3, max_bytes=1000).helpful_idx.shape == (50, 3)


# ---------------------------------------------------------------- group removal
def test_group_newton_step_matches_dense_algebra(rng):
    X, y = logistic_data(rng, n=120, d=4)
    w = rng.uniform(0.5, 2.0, size=120)
    C = 0.8
    r = attrib.glm_loo(X, y, C=C, sample_weight=w)
    groups = [np.arange(0, 10), np.array([3, 50, 77]), np.array([9])]
    g = r.group_loo(groups)
    # Independent: one Newton step on the group-removed objective from the full fit, in numpy.
    Z = np.hstack([np.ones((120, 1)), X])
    mu = 1 / (1 + np.exp(-Z @ r.params_))
    P = np.eye(5) / C
    P[0, 0] = 0.0
    for k, G in enumerate(groups):
        s = w.copy()
        s[G] = 0.0
        H = Z.T @ ((s * mu * (1 - mu))[:, None] * Z) + P
        grad = Z.T @ (s * (mu - y)) + P @ r.params_
        assert_close(g.dcoef[k], np.linalg.solve(H, grad))
    assert_close(g.dcoef[2], r.dcoef[9])
    assert_close(g.dcoef_sum_newton[1], r.dcoef[[3, 50, 77]].sum(axis=0))
    ij = attrib.glm_loo(X, y, C=C, sample_weight=w, method="influence")
    assert_close(g.dcoef_sum_influence[0], ij.dcoef[:10].sum(axis=0))


def test_large_groups_take_the_downdated_hessian_and_match_dense_algebra(rng):
    # Groups much larger than p are removed by downdating the p x p Hessian (Woodbury's k x k
    # Cholesky cost 38 s for 25 groups of 4,000 rows); the step is the same Newton step.
    n, d = 2000, 3
    X = rng.normal(size=(n, d))
    y = rng.poisson(np.exp(0.3 * X @ np.array([1.0, -1.0, 0.5]))).astype(float)
    r = attrib.glm_loo(X, y, family="poisson", C=None)
    labels = np.repeat(np.arange(4), n // 4)
    g = r.group_loo(labels)
    Z = np.hstack([np.ones((n, 1)), X])
    mu = np.exp(Z @ r.params_)
    for k in range(4):
        s = (labels != k).astype(float)
        H = Z.T @ ((s * mu)[:, None] * Z)
        grad = Z.T @ (s * (mu - y))
        assert_close(g.dcoef[k], np.linalg.solve(H, grad))
    # A column that only the group uses: without it the model is unidentified, in either form.
    Xu = np.column_stack([X, np.where(labels == 0, rng.normal(size=n), 0.0)])
    ru = attrib.glm_loo(Xu, y, family="poisson", C=None)
    with pytest.warns(attrib.LeverageOneWarning):
        gu = ru.group_loo(labels)
    assert not gu.ok[0] and gu.ok[1:].all()
    assert np.isnan(gu.dcoef[0]).all()


def test_ill_conditioned_fit_still_reaches_scikit_learn_optimum(rng):
    # Nearly collinear and badly scaled columns: the single-precision Hessians of the early Newton
    # steps carry large relative errors here (or lose definiteness, and are redone in double);
    # the fit must still reach scikit-learn's optimum in a normal number of iterations.
    n = 3000
    Z = rng.normal(size=(n, 4))
    X = np.column_stack([Z, Z[:, 0] + 1e-4 * rng.normal(size=n), 1e3 * Z[:, 1]])
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-(Z @ rng.normal(size=4))))).astype(float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", attrib.IllConditionedWarning)
        r = attrib.glm_loo(X, y, C=10.0)
    sk = LogisticRegression(C=10.0, solver="newton-cholesky", tol=1e-12, max_iter=1000).fit(X, y)
    assert r.n_iter_ <= 12
    assert_allclose(r.params_, np.concatenate([sk.intercept_, sk.coef_[0]]), rtol=0, atol=1e-9)


def test_exact_loo_is_precise_relative_to_each_change():
    # The full fit must sit at the rounding floor, not merely within the fit tolerance: exact LOO
    # subtracts it from leave-one-out problems solved to 1e-12, so every dcoef row must match
    # statsmodels refits (tol 1e-15) relative to its own size. (A fit stopped ~1e-10 short of the
    # optimum left rows off by ~4e-8 relative; with this seed the fit's last step is 9e-11.)
    rng = np.random.default_rng(28)
    X = rng.normal(size=(250, 7)) * 1.7
    y = (rng.uniform(size=250) < 1 / (1 + np.exp(-(X @ (0.5 * rng.normal(size=7)))))).astype(float)
    r = attrib.glm_loo(X, y, C=None, method="exact")
    # Exact group removal from a plain (Newton-step) result measures from the optimum too.
    rows = np.arange(0, 250, 25)
    g = attrib.glm_loo(X, y, C=None).group_loo([np.array([i]) for i in rows], method="exact")
    Z = sm.add_constant(X)
    fam = sm.families.Binomial()
    full = sm.GLM(y, Z, family=fam).fit(tol=1e-15, maxiter=200).params
    for k, i in enumerate(rows):
        keep = np.arange(250) != i
        d = full - sm.GLM(y[keep], Z[keep], family=fam).fit(tol=1e-15, maxiter=200).params
        assert np.abs(r.dcoef[i] - d).max() <= 1e-9 * np.abs(d).max()
        assert np.abs(g.dcoef[k] - d).max() <= 1e-9 * np.abs(d).max()


def test_influence_keeps_relative_accuracy_for_confident_test_points():
    # Test points with eta up to 30 have losses ~1e-13; their changes must keep relative accuracy
    # (a loss evaluated as log(1 + e) instead of log1p(e) was off by 8% at eta = 30).
    rng = np.random.default_rng(22)
    X = rng.normal(size=(200, 2))
    y = (X[:, 0] + 0.5 * rng.normal(size=200) > 0).astype(float)
    r = attrib.glm_loo(X, y, C=1.0)
    Xt = np.column_stack([np.linspace(5.0, 30.0, 12) / r.coef_[0], np.zeros(12)])
    yt = np.ones(12)
    Zt = np.column_stack([np.ones(12), Xt])

    def loss(theta):
        eta = Zt @ theta
        return np.log1p(np.exp(-np.abs(eta))) + np.maximum(eta, 0) - yt * eta

    ref = np.array([loss(r.params_ - r.dcoef[i]) - loss(r.params_) for i in range(200)])
    M = r.influence(Xt, yt)
    scale = np.abs(ref).max(axis=0)
    assert (scale > 0).all()
    assert (np.abs(M - ref) <= 1e-9 * scale).all()


def test_exact_group_removal_equals_refits(rng):
    # Logistic with a penalty and weights against scikit-learn refits with the group's weights 0;
    # overlapping groups and a singleton (which must equal exact leave-one-out).
    X, y = logistic_data(rng, n=150, d=4, scale=1.5)
    w = rng.uniform(0.5, 2.0, size=150)
    C = 0.7
    r = attrib.glm_loo(X, y, C=C, sample_weight=w)
    groups = [np.arange(0, 30), np.arange(20, 45), rng.choice(150, size=40, replace=False), np.array([77])]
    g = r.group_loo(groups, method="exact")
    assert g.method == "exact" and g.ok.all()
    full = sk_logistic(X, y, C, w)
    for k, G in enumerate(groups):
        s = w.copy()
        s[G] = 0.0
        assert_allclose(g.dcoef[k], full - sk_logistic(X, y, C, s), rtol=0, atol=REFIT_ATOL)
    ex = attrib.glm_loo(X, y, C=C, sample_weight=w, method="exact")
    assert_allclose(g.dcoef[3], ex.dcoef[77], rtol=0, atol=1e-10)
    # The Newton step is kept beside the exact answer, and differs from it for big groups.
    assert_array_equal(g.dcoef_newton, r.group_loo(groups).dcoef)
    assert np.abs(g.dcoef_newton[2] - g.dcoef[2]).max() > 1e-4


def test_exact_group_removal_poisson_unpenalised_equals_statsmodels_refits(rng):
    X, y = poisson_data(rng, n=120)
    r = attrib.glm_loo(X, y, family="poisson", C=None)
    groups = np.arange(120) % 6  # labels per row: six groups of 20
    g = r.group_loo(groups, method="exact")
    Z = sm.add_constant(X)
    full = sm.GLM(y, Z, family=sm.families.Poisson()).fit(tol=1e-13).params
    for k in range(6):
        keep = groups != k
        ref = sm.GLM(y[keep], Z[keep], family=sm.families.Poisson()).fit(tol=1e-13).params
        assert_allclose(g.dcoef[k], full - ref, rtol=0, atol=REFIT_ATOL)


def test_exact_group_removal_reports_groups_it_cannot_remove(rng):
    # Removing every row of one class leaves a separable (one-class) problem without a penalty.
    X, y = logistic_data(rng, n=80, d=2)
    r = attrib.glm_loo(X, y, C=None)
    with pytest.warns(ConvergenceWarning, match="exact removal failed for groups 0 "):
        g = r.group_loo([np.flatnonzero(y == 1), np.arange(5)], method="exact")
    assert np.isnan(g.dcoef[0]).all() and not g.ok[0]
    assert g.ok[1] and np.isfinite(g.dcoef[1]).all()
    with pytest.raises(ValueError, match="method must be"):
        r.group_loo([np.arange(5)], method="refit")


def test_group_influence_underestimates_coherent_groups_more_as_they_grow():
    # Reference loo-influence.md §6.2 (Koh et al. 2019): for groups up to 25% of the data the
    # additive influence estimate ranks the actual test-loss changes well (Spearman >= 0.9) but
    # underestimates their size, more so for larger groups. Groups are "coherent": windows of the
    # rows sorted by one feature.
    from scipy.stats import spearmanr

    rng = np.random.default_rng(5)
    n, d = 500, 10
    X = rng.normal(size=(n, d))
    beta = rng.normal(size=d)
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-(X @ beta)))).astype(float)
    Xt = rng.normal(size=(200, d))
    yt = (rng.uniform(size=200) < 1 / (1 + np.exp(-(Xt @ beta)))).astype(float)
    r = attrib.glm_loo(X, y, C=1.0)
    ratios = []
    for frac in (0.01, 0.05, 0.10, 0.25):
        size = int(frac * n)
        groups = []
        for _ in range(40):
            order = np.argsort(X[:, rng.integers(d)])
            start = rng.integers(n - size + 1)
            groups.append(order[start : start + size])
        g = r.group_loo(groups, method="exact")
        actual = g.influence(Xt, yt).mean(axis=1)
        predicted = g.influence(Xt, yt, estimate="sum_influence").mean(axis=1)
        assert spearmanr(actual, predicted)[0] >= 0.9, frac
        # The Woodbury group step, which keeps the interactions, tracks the exact removal closely.
        newton = g.influence(Xt, yt, estimate="newton").mean(axis=1)
        assert spearmanr(actual, newton)[0] >= 0.99, frac
        ratios.append(np.abs(actual).sum() / np.abs(predicted).sum())
    assert ratios[0] > 1.0
    assert all(b > a for a, b in zip(ratios, ratios[1:])), ratios


# ---------------------------------------------------------------- scikit-learn estimators
def test_fitted_estimators_supply_the_hyperparameters(rng):
    X, y = logistic_data(rng, n=150, d=4)
    est = LogisticRegression(C=0.3, solver="newton-cholesky", tol=1e-12).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = attrib.glm_loo(X, y, est)
    assert_close(r.dcoef, attrib.glm_loo(X, y, C=0.3).dcoef)
    assert r.C == pytest.approx(0.3)
    yg = X @ rng.normal(size=4) + rng.normal(size=150)
    assert_close(attrib.glm_loo(X, yg, Ridge(alpha=2.0).fit(X, yg)).dcoef, attrib.linear_loo(X, yg, alpha=2.0).dfbeta)
    assert_close(attrib.glm_loo(X, yg, LinearRegression().fit(X, yg)).dcoef, attrib.linear_loo(X, yg).dfbeta)
    Xp, yp = poisson_data(rng, n=150)
    pr = PoissonRegressor(alpha=0.02, solver="newton-cholesky", tol=1e-12).fit(Xp, yp)
    assert_close(attrib.glm_loo(Xp, yp, pr).dcoef, attrib.glm_loo(Xp, yp, "poisson", C=1 / (0.02 * 150)).dcoef)


@pytest.mark.parametrize("cls", [Ridge, LinearRegression])
def test_constrained_estimators_are_refused(rng, cls):
    # positive=True is a constrained fit: its leave-one-out is not the unconstrained formula's.
    X = rng.normal(size=(60, 3))
    y = X @ [1.0, -2.0, 0.5] + rng.normal(size=60)
    with pytest.raises(ValueError, match=r"positive=True\) is a constrained fit"):
        attrib.glm_loo(X, y, cls(positive=True).fit(X, y))


def test_estimator_not_at_optimum_is_refitted_with_a_warning(rng):
    X, y = logistic_data(rng, n=150, d=4)
    loose = LogisticRegression(C=1.0, tol=1e-2, max_iter=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scikit-learn's own ConvergenceWarning
        loose.fit(X, y)
    with pytest.warns(attrib.NotAtOptimumWarning, match="differ from the optimum"):
        r = attrib.glm_loo(X, y, loose)
    assert_close(r.params_, sk_logistic(X, y, 1.0), rtol=0, atol=REFIT_ATOL)


def test_labels_may_be_any_two_classes(rng):
    X, y = logistic_data(rng, n=100, d=3)
    ref = attrib.glm_loo(X, y)
    for labels in (np.where(y > 0, 1, -1), np.where(y > 0, "yes", "no"), y.astype(bool)):
        r = attrib.glm_loo(X, labels)
        assert_array_equal(r.dcoef, ref.dcoef)
    assert list(attrib.glm_loo(X, np.where(y > 0, "yes", "no")).classes_) == ["no", "yes"]


def test_exact_without_intercept_matches_scikit_learn_refits(rng):
    X, y = logistic_data(rng, n=50, d=3, scale=2.0)
    r = attrib.glm_loo(X, y, C=0.7, fit_intercept=False, method="exact")

    def fit(w=None):
        m = LogisticRegression(C=0.7, fit_intercept=False, solver="newton-cholesky", tol=1e-12, max_iter=1000)
        return m.fit(X, y, sample_weight=w).coef_[0]

    full = fit()
    assert_allclose(r.params_, full, rtol=0, atol=FIT_ATOL)
    for i in range(X.shape[0]):
        w = np.ones(X.shape[0])
        w[i] = 0.0
        assert_allclose(r.dcoef[i], full - fit(w), rtol=0, atol=REFIT_ATOL)


def test_penalised_poisson_exact_matches_poisson_regressor_refits(rng):
    # PoissonRegressor minimises mean(loss) + alpha/2 ||coef||^2: the same problem as attrib's
    # sum convention with l2 = 1/C when alpha = l2 / (number of rows it sees).
    X, y = poisson_data(rng, n=40, d=3)
    C = 0.5
    r = attrib.glm_loo(X, y, family="poisson", C=C, method="exact")

    def fit(alpha, w=None):
        m = PoissonRegressor(alpha=alpha, solver="newton-cholesky", tol=1e-12, max_iter=1000).fit(X, y, sample_weight=w)
        return np.concatenate([[m.intercept_], m.coef_])

    full = fit(1 / (C * 40))
    assert_allclose(r.params_, full, rtol=0, atol=FIT_ATOL)
    for i in range(40):
        w = np.ones(40)
        w[i] = 0.0
        assert_allclose(r.dcoef[i], full - fit(1 / (C * 39), w), rtol=0, atol=REFIT_ATOL)


def test_exact_solves_ill_conditioned_problems_to_optimality():
    # Digits 0/1 with almost no penalty: nearly separable, constant-zero pixels held only by the
    # penalty (condition ~1e8). A line search there used to stall on rounding noise. Checked by the
    # optimality condition of every leave-one-out problem, computed here with numpy: at this
    # conditioning scikit-learn's tol=1e-12 refits are only accurate to ~1e-7 themselves.
    X, y = _digits_two_classes()
    C = 1e4
    r = attrib.glm_loo(X, y, C=C, method="exact")
    n = X.shape[0]
    Z = np.hstack([np.ones((n, 1)), X])
    theta = r.params_[None, :] - r.dcoef  # (n, p): theta_(i)
    mu = 1 / (1 + np.exp(-(theta @ Z.T)))  # (n_problems, n_rows)
    resid = mu - y[None, :]
    resid[np.arange(n), np.arange(n)] = 0.0  # row i is left out of problem i
    grad = resid @ Z
    grad[:, 1:] += theta[:, 1:] / C
    assert np.abs(grad).max() <= 1e-10


def test_large_fit_warm_started_on_a_subsample_reaches_the_same_optimum(monkeypatch):
    # n >= WARM_MIN_ROWS: the fit first solves every 16th row. The optimum must not move.
    from attrib import glm as glm_module

    rng = np.random.default_rng(3)
    X = rng.normal(size=(24000, 6))
    y = (rng.uniform(size=24000) < 1 / (1 + np.exp(-(X @ rng.normal(size=6))))).astype(float)
    w = rng.uniform(0.5, 2.0, size=24000)
    prob, _ = glm_module._prepare(X, y, "logistic", 0.5, w, True, None)
    start, hessian = glm_module._warm_start(prob, attrib._dispatch.core)
    assert start is not None
    # The subsample's rescaled Hessian estimates the full one (it replaces the first full pass).
    Z = np.column_stack([np.ones(len(y)), X])
    mu = 1 / (1 + np.exp(-(Z @ start)))
    H = Z.T @ ((w * mu * (1 - mu))[:, None] * Z) + np.diag([0.0] + [1 / 0.5] * 6)
    assert np.linalg.norm(hessian - H) <= 0.1 * np.linalg.norm(H)
    warm = attrib.glm_loo(X, y, family="logistic", C=0.5, sample_weight=w)
    monkeypatch.setattr(glm_module, "WARM_MIN_ROWS", 10**9)
    cold = attrib.glm_loo(X, y, family="logistic", C=0.5, sample_weight=w)
    np.testing.assert_allclose(warm.coef_, cold.coef_, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(warm.dcoef, cold.dcoef, rtol=1e-10, atol=1e-14)
    from sklearn.linear_model import LogisticRegression

    sk = LogisticRegression(C=0.5, solver="newton-cholesky", tol=1e-12).fit(X, y, sample_weight=w)
    np.testing.assert_allclose(warm.coef_, sk.coef_[0], atol=1e-9)
