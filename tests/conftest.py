from __future__ import annotations

import numpy as np
import pytest
from hypothesis import settings

# Property tests compare against brute-force refits: no deadline (CI machines are noisy).
settings.register_profile("ci", deadline=None, max_examples=40, derandomize=True)
settings.load_profile("ci")


@pytest.fixture
def rng():
    return np.random.default_rng(20261129)


def refit_least_squares(X, y, w=None, alpha=0.0, fit_intercept=True):
    """Independent oracle: weighted ridge by SVD least squares on the augmented system
    [sqrt(W) Z; sqrt(P)] beta = [sqrt(W) y; 0]; never the normal equations. Returns (b, coef)."""
    n, d = X.shape
    Z = np.hstack([np.ones((n, 1)), X]) if fit_intercept else X
    sw = np.ones(n) if w is None else np.sqrt(w)
    P = np.sqrt(alpha) * np.eye(d)
    if fit_intercept:
        P = np.hstack([np.zeros((d, 1)), P])
    A = np.vstack([sw[:, None] * Z, P])
    rhs = np.concatenate([sw * y, np.zeros(d)])
    beta = np.linalg.lstsq(A, rhs, rcond=None)[0]
    return (beta[0], beta[1:]) if fit_intercept else (0.0, beta)


def full_params(b, coef, fit_intercept=True):
    return np.concatenate([[b], coef]) if fit_intercept else np.asarray(coef)
