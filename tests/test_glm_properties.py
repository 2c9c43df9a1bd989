"""Property tests: on random small penalised logistic problems, the exact leave-one-out of a
random row equals a scikit-learn refit with that row's weight set to 0, and the Newton step and
influence function obey their defining identities."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from numpy.testing import assert_allclose
from sklearn.linear_model import LogisticRegression

import attrib


@st.composite
def problems(draw):
    n = draw(st.integers(20, 60))
    d = draw(st.integers(1, 5))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) * rng.uniform(0.2, 3.0, size=d) + rng.normal(size=d)
    y = (rng.random(n) < 1 / (1 + np.exp(-(X @ rng.normal(size=d))))).astype(float)
    y[:2] = [0.0, 1.0]  # both classes present
    w = rng.uniform(0.2, 3.0, size=n) if draw(st.booleans()) else None
    C = draw(st.sampled_from([0.05, 1.0, 20.0]))
    row = int(rng.integers(n))
    return X, y, w, C, row


def sklearn_params(X, y, C, w):
    m = LogisticRegression(C=C, solver="newton-cholesky", tol=1e-12, max_iter=1000).fit(X, y, sample_weight=w)
    return np.concatenate([m.intercept_, m.coef_[0]])


@given(problems())
def test_exact_row_equals_a_refit_without_it(problem):
    X, y, w, C, i = problem
    r = attrib.glm_loo(X, y, C=C, sample_weight=w, refine=[i])
    wi = np.ones(X.shape[0]) if w is None else w.copy()
    wi[i] = 0.0
    full = sklearn_params(X, y, C, w)
    assert_allclose(r.params_, full, rtol=0, atol=1e-8)
    assert_allclose(r.dcoef[i], full - sklearn_params(X, y, C, wi), rtol=0, atol=1e-8)


@given(problems())
def test_newton_step_and_influence_function_identities(problem):
    X, y, w, C, _ = problem
    ns = attrib.glm_loo(X, y, C=C, sample_weight=w, refine=0)
    ij = attrib.glm_loo(X, y, C=C, sample_weight=w, method="influence")
    Z = np.hstack([np.ones((X.shape[0], 1)), X])
    s = np.ones(X.shape[0]) if w is None else w
    mu = 1 / (1 + np.exp(-Z @ ns.params_))
    P = np.eye(Z.shape[1]) / C
    P[0, 0] = 0.0
    H = Z.T @ ((s * mu * (1 - mu))[:, None] * Z) + P
    Hinv_z = np.linalg.solve(H, Z.T).T
    h = s * mu * (1 - mu) * np.einsum("ij,ij->i", Z, Hinv_z)
    assert_allclose(ns.hat, h, rtol=1e-10, atol=1e-14)
    assert_allclose(ij.dcoef, -(s * (mu - y))[:, None] * Hinv_z, rtol=1e-9, atol=1e-13)
    assert_allclose(ns.dcoef, ij.dcoef / (1 - h)[:, None], rtol=1e-9, atol=1e-13)
