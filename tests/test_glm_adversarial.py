"""Adversarial inputs for attrib.glm_loo / attrib.influence: translations of X by up to 1e12 and
scales of 1e+-150 must not move the answers beyond what the rounding of the input itself allows.

The oracle for a translation by s is the same call on Xr = fl(X + s) - s, which is exact
(Sterbenz), so both calls see the same data up to an exact translation; without internal
centring an offset of 1e8 made the Hessian numerically singular."""

from __future__ import annotations

import numpy as np
import pytest

import attrib

N = 300


def _data(family: str):
    rng = np.random.default_rng(20261202)
    X = rng.normal(size=(N, 3))
    eta = X @ np.array([1.0, -1.5, 0.5])
    if family == "logistic":
        y = (rng.random(N) < 1 / (1 + np.exp(-eta))).astype(float)
    elif family == "poisson":
        y = rng.poisson(np.exp(0.4 * eta)).astype(float)
    else:
        y = eta + rng.normal(size=N)
    Xt = rng.normal(size=(20, 3))
    return X, y, Xt, y[:20]


def _rel(a, b) -> float:
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


@pytest.mark.parametrize("family", ["logistic", "poisson", "gaussian"])
@pytest.mark.parametrize("shift", [1e8, -3e9, 1e12])
def test_translation_of_X_leaves_every_answer_in_place(core, family, shift):
    X, y, Xt, yt = _data(family)
    Xs, Xts = X + shift, Xt + shift
    Xr, Xtr = Xs - shift, Xts - shift  # exactly the data the shifted call sees, translated back
    a = attrib.glm_loo(Xr, y, family=family, refine=3)
    c = attrib.glm_loo(Xs, y, family=family, refine=3)
    np.testing.assert_allclose(c.coef_, a.coef_, rtol=1e-9)
    # The intercept absorbs the translation: b(X + s) = b(X) - s sum(coef).
    assert abs(c.intercept_ - (a.intercept_ - shift * a.coef_.sum())) <= 1e-9 * abs(shift) * np.abs(a.coef_).sum()
    np.testing.assert_allclose(c.params_[1:], a.params_[1:], rtol=1e-9)
    assert _rel(c.dcoef[:, 1:], a.dcoef[:, 1:]) < 1e-8
    # dcoef's intercept column moves like the intercept: db(X + s) = db(X) - s sum(dcoef).
    moved = a.dcoef[:, 0] - shift * a.dcoef[:, 1:].sum(axis=1)
    assert np.max(np.abs(c.dcoef[:, 0] - moved)) <= 1e-8 * abs(shift) * np.abs(a.dcoef[:, 1:]).max()
    for name in ("hat", "loo_linear_predictor", "linear_predictor", "cooks_distance"):
        assert _rel(getattr(c, name), getattr(a, name)) < 1e-8, name
    np.testing.assert_array_equal(c.refined, a.refined)
    assert _rel(c.influence(Xts, yt), a.influence(Xtr, yt)) < 1e-8
    top_c, top_a = c.influence(Xts, yt, top_k=4), a.influence(Xtr, yt, top_k=4)
    assert _rel(top_c.helpful_val, top_a.helpful_val) < 1e-8
    groups = np.arange(N) % 5
    gc, ga = c.group_loo(groups), a.group_loo(groups)
    assert _rel(gc.dcoef[:, 1:], ga.dcoef[:, 1:]) < 1e-8
    assert _rel(gc.dcoef_sum_newton[:, 1:], ga.dcoef_sum_newton[:, 1:]) < 1e-8
    assert _rel(gc.cooks_distance, ga.cooks_distance) < 1e-8
    assert _rel(gc.influence(Xts, yt), ga.influence(Xtr, yt)) < 1e-8


@pytest.mark.parametrize("family", ["logistic", "poisson"])
def test_translation_with_exact_methods(family):
    X, y, Xt, yt = _data(family)
    shift = 1e8
    Xs = X + shift
    Xr = Xs - shift
    a = attrib.glm_loo(Xr[:120], y[:120], family=family, method="exact")
    c = attrib.glm_loo(Xs[:120], y[:120], family=family, method="exact")
    assert _rel(c.dcoef[:, 1:], a.dcoef[:, 1:]) < 1e-8
    assert _rel(c.loo_linear_predictor, a.loo_linear_predictor) < 1e-8
    groups = np.arange(120) % 4
    ge, gae = c.group_loo(groups, method="exact"), a.group_loo(groups, method="exact")
    assert _rel(ge.dcoef[:, 1:], gae.dcoef[:, 1:]) < 1e-8


def test_translation_of_a_fitted_estimator_start():
    from sklearn.linear_model import LogisticRegression

    X, y, _, _ = _data("logistic")
    Xs = X + 100.0  # far enough to be centred internally; scikit-learn's own solver fails at 1e6
    est = LogisticRegression(C=1.0, solver="newton-cholesky", tol=1e-12).fit(Xs, y)
    c = attrib.glm_loo(Xs, y, family=est)
    a = attrib.glm_loo(Xs - 100.0, y, C=1.0)
    np.testing.assert_allclose(c.coef_, a.coef_, rtol=1e-7)
    np.testing.assert_allclose(c.coef_, est.coef_[0], rtol=1e-6)


@pytest.mark.parametrize("family", ["logistic", "poisson"])
@pytest.mark.parametrize("scale", [1e-150, 1e150])
def test_scale_of_X_scales_the_coefficients_only(family, scale):
    # Unpenalised: the model is the same for X * s with coefficients / s. The fits agree to their
    # stopping tolerance (1e-10 on the step, relative to the largest parameter), and refined rows'
    # exact solves to theirs: hence 1e-8, not the rounding floor.
    X, y, Xt, yt = _data(family)
    a = attrib.glm_loo(X, y, family=family, C=None)
    c = attrib.glm_loo(X * scale, y, family=family, C=None)
    assert _rel(c.dcoef[:, 1:] * scale, a.dcoef[:, 1:]) < 1e-8
    assert np.max(np.abs(c.dcoef[:, 0] - a.dcoef[:, 0])) < 1e-8 * np.abs(a.dcoef).max()
    np.testing.assert_allclose(c.hat, a.hat, rtol=1e-8, atol=1e-14)
    assert _rel(c.influence(Xt * scale, yt), a.influence(Xt, yt)) < 1e-8


def test_centred_results_survive_pickling():
    import pickle

    X, y, Xt, yt = _data("logistic")
    c = attrib.glm_loo(X + 1e8, y)
    back = pickle.loads(pickle.dumps(c))
    np.testing.assert_array_equal(back.dcoef, c.dcoef)
    np.testing.assert_array_equal(back.influence(Xt + 1e8, yt), c.influence(Xt + 1e8, yt))


# -- more features than rows: the fit runs in the rows' span -----------------------------------
def _wide(family: str, n=25, d=400, seed=7):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) + 0.3
    beta = rng.normal(size=d) / np.sqrt(d)
    eta = X @ beta
    y = (
        (rng.random(n) < 1 / (1 + np.exp(-3 * eta))).astype(float)
        if family == "logistic"
        else rng.poisson(np.exp(eta)).astype(float)
    )
    return X, y, rng.normal(size=(6, d)) + 0.3


@pytest.mark.parametrize("family", ["logistic", "poisson"])
def test_more_features_than_rows_matches_dense_algebra(family):
    # d = 6,000 with n = 10 took 73 s (a 6,001 x 6,001 Hessian per Newton step); with an L2 penalty
    # the optimum lies in the rows' span, so the fit runs on n x n. The oracle is the dense
    # algebra in the full d + 1 parameters.
    X, y, Xt = _wide(family)
    n, d = X.shape
    C = 0.7
    r = attrib.glm_loo(X, y, family=family, C=C, refine=0)
    Z = np.hstack([np.ones((n, 1)), X])
    theta = r.params_
    eta = Z @ theta
    mu = 1 / (1 + np.exp(-eta)) if family == "logistic" else np.exp(eta)
    d1, d2 = mu - y, (mu * (1 - mu) if family == "logistic" else mu)
    P = np.eye(d + 1) / C
    P[0, 0] = 0.0
    grad = Z.T @ d1 + P @ theta
    assert np.abs(grad).max() < 1e-9  # the dense optimality condition
    H = Z.T @ (d2[:, None] * Z) + P
    Hinv_Z = np.linalg.solve(H, Z.T).T
    q = (Z * Hinv_Z).sum(axis=1)
    h = d2 * q
    np.testing.assert_allclose(r.hat, h, rtol=1e-9, atol=1e-13)
    step = -(d1 / (1 - h))[:, None] * Hinv_Z
    assert np.abs(r.dcoef - step).max() < 1e-9 * np.abs(step).max()
    np.testing.assert_allclose(r.cooks_distance, ((step @ np.linalg.cholesky(H)) ** 2).sum(1) / (d + 1), rtol=1e-8)
    assert r.coef_.shape == (d,) and r.dcoef.shape == (n, d + 1)
    # Test points outside the rows' span: only their projection meets the coefficients.
    yt = y[:6]
    Zt = np.hstack([np.ones((6, 1)), Xt])
    et = Zt @ theta
    loss = (lambda e: np.logaddexp(0, e) - yt * e) if family == "logistic" else (lambda e: np.exp(e) - yt * e)
    dense = np.stack([loss(et - Zt @ s) - loss(et) for s in step])
    assert np.abs(r.influence(Xt, yt) - dense).max() < 1e-9 * np.abs(dense).max()
    g = r.group_loo(np.arange(n) % 3)
    for k in range(3):
        s = (np.arange(n) % 3 != k).astype(float)
        Hg = Z.T @ ((s * d2)[:, None] * Z) + P
        assert np.abs(g.dcoef[k] - np.linalg.solve(Hg, Z.T @ (s * d1) + P @ theta)).max() < 1e-9


def test_more_features_than_rows_equals_scikit_learn_and_its_refits():
    from sklearn.linear_model import LogisticRegression

    X, y, _ = _wide("logistic", n=30, d=120)
    r = attrib.glm_loo(X, y, C=0.5, method="exact")
    est = LogisticRegression(C=0.5, solver="newton-cholesky", tol=1e-12, max_iter=200).fit(X, y)
    np.testing.assert_allclose(r.coef_, est.coef_[0], rtol=1e-7, atol=1e-10)
    for i in (0, 7, 29):
        keep = np.arange(30) != i
        e = LogisticRegression(C=0.5, solver="newton-cholesky", tol=1e-12, max_iter=200).fit(X[keep], y[keep])
        loo = np.concatenate([e.intercept_, e.coef_[0]])
        np.testing.assert_allclose(r.params_ - r.dcoef[i], loo, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("shift", [1e8, -1e10])
def test_multinomial_translation_of_X_leaves_every_answer_in_place(shift):
    rng = np.random.default_rng(11)
    X = rng.normal(size=(150, 3))
    y = np.argmax(X @ rng.normal(size=(3, 3)) + rng.gumbel(size=(150, 3)), axis=1)
    Xt, yt = X[:10], y[:10]
    Xs = X + shift
    Xr, Xtr = Xs - shift, (Xt + shift) - shift
    a = attrib.glm_loo(Xr, y, family="multinomial", refine=2)
    c = attrib.glm_loo(Xs, y, family="multinomial", refine=2)
    np.testing.assert_allclose(c.coef_, a.coef_, rtol=1e-8)
    moved = a.intercept_ - shift * a.coef_.sum(axis=1)
    assert np.max(np.abs(c.intercept_ - moved)) <= 1e-8 * abs(shift) * np.abs(a.coef_).max()
    assert _rel(c.dcoef[..., 1:], a.dcoef[..., 1:]) < 1e-7
    for name in ("hat", "cooks_distance", "loo_linear_predictor"):
        assert _rel(getattr(c, name), getattr(a, name)) < 1e-7, name
    assert _rel(c.influence(Xt + shift, yt), a.influence(Xtr, yt)) < 1e-7
    g_c, g_a = c.group_loo(np.arange(150) % 4), a.group_loo(np.arange(150) % 4)
    assert _rel(g_c.dcoef[..., 1:], g_a.dcoef[..., 1:]) < 1e-7
