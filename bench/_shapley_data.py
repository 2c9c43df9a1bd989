"""Data for bench_shapley.py, built identically in attrib's environment and in the peer's
(numpy + scikit-learn only, fixed seeds)."""

from __future__ import annotations

import numpy as np


def breast_cancer():
    """200 train / 100 test points of scikit-learn's breast cancer data, standardised by the
    training split (logistic regression on raw features is badly conditioned)."""
    from sklearn.datasets import load_breast_cancer

    X, y = load_breast_cancer(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(X))
    X, y = X[order], y[order].astype(np.int64)
    mu, sd = X[:200].mean(0), X[:200].std(0)
    X = (X - mu) / sd
    return X[:200], y[:200], X[200:300], y[200:300]


def diabetes():
    """scikit-learn's diabetes data: 300 train / 142 test."""
    from sklearn.datasets import load_diabetes

    X, y = load_diabetes(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(X))
    X, y = X[order], y[order]
    return X[:300], y[:300], X[300:], y[300:]


def digits():
    """scikit-learn's digits: the first 1,500 images train, the other 297 test."""
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return X[:1500].astype(np.float64), y[:1500], X[1500:].astype(np.float64), y[1500:]


def synthetic_knn(n=20_000, m=1_000, d=64, seed=0):
    """Gaussian features, 4 classes from two noisy linear rules."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n + m, d))
    W = rng.standard_normal((d, 2))
    z = X @ W + 0.5 * rng.standard_normal((n + m, 2))
    y = ((z[:, 0] > 0).astype(np.int64) * 2 + (z[:, 1] > 0)).astype(np.int64)
    return X[:n], y[:n], X[n:], y[n:]


DATASETS = {"breast_cancer": breast_cancer, "diabetes": diabetes, "digits": digits, "synthetic_knn": synthetic_knn}
