"""GLM offsets (statsmodels' ``offset``; log exposure for Poisson rates) against statsmodels."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import statsmodels.api as sm
from numpy.testing import assert_allclose, assert_array_equal

import attrib

RTOL = 1e-10  # loo-influence.md §6.1
REFIT_ATOL = 1e-8


def _poisson(rng, n=200):
    X = rng.normal(size=(n, 3))
    exposure = rng.uniform(0.5, 3.0, size=n)
    y = rng.poisson(exposure * np.exp(0.2 + X @ np.array([0.3, -0.2, 0.1]))).astype(float)
    return X, y, np.log(exposure)


def _logistic(rng, n=200):
    X = rng.normal(size=(n, 3))
    o = rng.normal(scale=0.7, size=n)
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-(o + X @ np.array([0.8, -0.5, 0.3]))))).astype(float)
    return X, y, o


@pytest.mark.parametrize(
    "family,sm_family,make",
    [("poisson", sm.families.Poisson(), _poisson), ("logistic", sm.families.Binomial(), _logistic)],
)
def test_newton_step_with_offset_equals_statsmodels(family, sm_family, make):
    X, y, o = make(np.random.default_rng(1))
    Z = sm.add_constant(X)
    res = sm.GLM(y, Z, family=sm_family, offset=o).fit(tol=1e-13)
    infl = res.get_influence()
    r = attrib.glm_loo(X, y, family=family, C=None, offset=o, refine=0)
    assert_allclose(r.params_, res.params, rtol=RTOL, atol=1e-12)
    assert_allclose(r.dcoef, infl.d_params, rtol=RTOL, atol=1e-12)
    assert_allclose(r.hat, infl.hat_matrix_diag, rtol=RTOL, atol=1e-14)
    assert_allclose(r.linear_predictor, Z @ res.params + o, rtol=RTOL, atol=1e-12)
    # Without the offset the fit is a different model.
    assert np.abs(attrib.glm_loo(X, y, family=family, C=None).params_ - res.params).max() > 1e-3


def test_exact_loo_and_groups_with_offset_equal_statsmodels_refits():
    X, y, o = _poisson(np.random.default_rng(2), n=120)
    Z = sm.add_constant(X)
    fam = sm.families.Poisson()
    full = sm.GLM(y, Z, family=fam, offset=o).fit(tol=1e-13).params
    ex = attrib.glm_loo(X, y, family="poisson", C=None, offset=o, method="exact")
    for i in (0, 17, 63):
        keep = np.arange(120) != i
        ref = sm.GLM(y[keep], Z[keep], family=fam, offset=o[keep]).fit(tol=1e-13).params
        assert_allclose(ex.dcoef[i], full - ref, rtol=0, atol=REFIT_ATOL)
        assert_allclose(ex.loo_linear_predictor[i], Z[i] @ ref + o[i], rtol=0, atol=REFIT_ATOL)
    groups = np.arange(120) % 4
    g = attrib.glm_loo(X, y, family="poisson", C=None, offset=o).group_loo(groups, method="exact")
    for k in range(4):
        keep = groups != k
        ref = sm.GLM(y[keep], Z[keep], family=fam, offset=o[keep]).fit(tol=1e-13).params
        assert_allclose(g.dcoef[k], full - ref, rtol=0, atol=REFIT_ATOL)


def test_influence_uses_the_test_offsets():
    rng = np.random.default_rng(3)
    X, y, o = _poisson(rng, n=80)
    Xt, yt, ot = _poisson(rng, n=7)
    Z, Zt = sm.add_constant(X), sm.add_constant(Xt)
    fam = sm.families.Poisson()
    full = sm.GLM(y, Z, family=fam, offset=o).fit(tol=1e-13).params
    M = attrib.influence(X, y, Xt, yt, family="poisson", C=None, method="exact", offset=o, offset_test=ot)

    def loss(theta):  # Poisson loss e^eta - y eta, as attrib defines it
        eta = Zt @ theta + ot
        return np.exp(eta) - yt * eta

    for i in (3, 41):
        keep = np.arange(80) != i
        ref = sm.GLM(y[keep], Z[keep], family=fam, offset=o[keep]).fit(tol=1e-13).params
        assert_allclose(M[i], loss(ref) - loss(full), rtol=1e-7, atol=1e-9)
    top = attrib.influence(X, y, Xt, yt, family="poisson", C=None, method="exact", offset=o, offset_test=ot, top_k=3)
    assert_array_equal(top.helpful_idx[:, 0], np.argmax(M, axis=0))


def test_offset_inputs_are_checked():
    X, y, o = _poisson(np.random.default_rng(4), n=50)
    with pytest.raises(ValueError, match="offset"):
        attrib.glm_loo(X, y, family="poisson", offset=o[:-1])
    bad = o.copy()
    bad[7] = np.nan
    with pytest.raises(ValueError, match="offset contains NaN or inf"):
        attrib.glm_loo(X, y, family="poisson", offset=bad)
    r = attrib.glm_loo(X, y, family="poisson", offset=o)
    with pytest.raises(ValueError, match="offset_test"):
        r.influence(X[:5], y[:5])
    with pytest.raises(ValueError, match="offset_test"):
        r.influence(X[:5], y[:5], offset_test=o[:4])


def test_large_offset_fit_warm_starts_to_the_same_optimum(monkeypatch):
    from attrib import glm as glm_module

    X, y, o = _poisson(np.random.default_rng(5), n=24000)
    warm = attrib.glm_loo(X, y, family="poisson", C=1.0, offset=o)
    monkeypatch.setattr(glm_module, "WARM_MIN_ROWS", 10**9)
    cold = attrib.glm_loo(X, y, family="poisson", C=1.0, offset=o)
    assert_allclose(warm.params_, cold.params_, rtol=1e-10, atol=1e-12)
    assert_allclose(warm.dcoef, cold.dcoef, rtol=1e-9, atol=1e-15)


def test_offset_survives_pickling():
    rng = np.random.default_rng(6)
    X, y, o = _poisson(rng, n=60)
    r = attrib.glm_loo(X, y, family="poisson", C=2.0, offset=o)
    clone = pickle.loads(pickle.dumps(r))
    assert_array_equal(clone.influence(X[:5], y[:5], offset_test=o[:5]), r.influence(X[:5], y[:5], offset_test=o[:5]))
    assert_array_equal(clone.group_loo(np.arange(60) % 3).dcoef, r.group_loo(np.arange(60) % 3).dcoef)


def test_an_offset_that_alone_classifies_every_row_is_not_separation():
    # Separation is a property of X: here only the offset separates, and the MLE is finite.
    rng = np.random.default_rng(7)
    X = rng.normal(size=(300, 2))
    y = (rng.uniform(size=300) < 0.5).astype(float)
    o = 3.0 * (2 * y - 1) + 0.1 * rng.normal(size=300)
    res = sm.GLM(y, sm.add_constant(X), family=sm.families.Binomial(), offset=o).fit(tol=1e-13)
    r = attrib.glm_loo(X, y, C=None, offset=o)
    assert_allclose(r.params_, res.params, rtol=RTOL, atol=1e-12)
    assert_allclose(r.dcoef, res.get_influence().d_params, rtol=RTOL, atol=1e-12)


def test_offset_misuse_is_refused():
    from sklearn.linear_model import PoissonRegressor

    X, y, o = _poisson(np.random.default_rng(8), n=60)
    est = PoissonRegressor(alpha=0.1).fit(X, y)
    with pytest.raises(ValueError, match="cannot be combined with a fitted scikit-learn estimator"):
        attrib.glm_loo(X, y, est, offset=o)
    r = attrib.glm_loo(X, y, family="poisson")
    with pytest.raises(ValueError, match="fitted without an offset"):
        r.influence(X[:5], y[:5], offset_test=o[:5])
