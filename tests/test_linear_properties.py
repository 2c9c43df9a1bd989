"""Property tests: on random small problems, every leave-one-out and leave-group-out quantity
equals an SVD least-squares refit without the rows."""

from __future__ import annotations

import numpy as np
from conftest import full_params, refit_least_squares
from hypothesis import given
from hypothesis import strategies as st
from numpy.testing import assert_allclose

import attrib


@st.composite
def problems(draw):
    n = draw(st.integers(8, 30))
    d = draw(st.integers(1, 4))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) * rng.uniform(0.1, 10.0, size=d) + rng.normal(size=d) * 5
    y = X @ rng.normal(size=d) + rng.normal(size=n)
    w = rng.uniform(0.2, 3.0, size=n) if draw(st.booleans()) else None
    alpha = draw(st.sampled_from([0.0, 0.1, 10.0]))
    fit_intercept = draw(st.booleans())
    group = rng.choice(n, size=draw(st.integers(1, 3)), replace=False)
    return X, y, w, alpha, fit_intercept, group


@given(problems())
def test_loo_and_group_equal_refits(problem):
    X, y, w, alpha, fit_intercept, group = problem
    n = X.shape[0]
    r = attrib.linear_loo(X, y, alpha=alpha, sample_weight=w, fit_intercept=fit_intercept)
    b, coef = refit_least_squares(X, y, w, alpha, fit_intercept)
    full = full_params(b, coef, fit_intercept)
    scale = max(1.0, np.abs(full).max())
    assert_allclose(full_params(r.intercept_, r.coef_, fit_intercept), full, rtol=1e-9, atol=1e-9 * scale)
    i = int(group[0])
    keep = np.arange(n) != i
    bi, ci = refit_least_squares(X[keep], y[keep], None if w is None else w[keep], alpha, fit_intercept)
    assert_allclose(r.dfbeta[i], full - full_params(bi, ci, fit_intercept), rtol=1e-8, atol=1e-9 * scale)
    assert_allclose(r.loo_resid[i], y[i] - bi - X[i] @ ci, rtol=1e-8, atol=1e-9 * scale)
    g = r.group_loo([group])
    keep = np.ones(n, bool)
    keep[group] = False
    bg, cg = refit_least_squares(X[keep], y[keep], None if w is None else w[keep], alpha, fit_intercept)
    assert_allclose(g.dfbeta[0], full - full_params(bg, cg, fit_intercept), rtol=1e-8, atol=1e-9 * scale)
