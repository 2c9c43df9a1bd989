"""The "logistic" utility on K > 2 classes (softmax regression, utility_softmax.cpp) equals a fresh
scikit-learn LogisticRegression fit on every prefix of a permutation (1e-8), with the documented
small-set values; data_shapley with it is bitwise the same for any thread count."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from scipy.special import logsumexp
from sklearn.datasets import load_wine
from sklearn.linear_model import LogisticRegression

import attrib
from attrib import _dispatch

EPS_LOSS = -np.log(np.finfo(float).eps)


def walk(X, y, Xt, yt, metric, order, C):
    core = _dispatch.core
    params = core.UtilityParams()
    params.model = core.UtilityModel.logistic
    params.metric = core.UtilityMetric.__members__[metric]
    params.C = C
    params.n_classes = int(max(y.max(), yt.max()) + 1)
    data = core.UtilityData(X, y.astype(float), Xt, yt.astype(float))
    return core.walk_order(data, params, order.astype(np.int64))


def reference(X, y, Xt, yt, S, metric, C, K):
    """A fresh scikit-learn fit on the prefix S, or the documented constant model."""
    present = np.unique(y[S])
    if S.size == 0 or present.size < 2:
        if metric == "accuracy":
            label = np.bincount(yt, minlength=K).argmax() if S.size == 0 else present[0]
            return np.mean(yt == label)
        p = (np.bincount(y[S], minlength=K) + 1.0) / (S.size + K)
        return np.mean(np.log(p[yt]))
    # (At C >= 10 on these nearly separable prefixes scikit-learn's own solvers give up near the
    # rounding floor, newton-cholesky falling back to lbfgs, so they are no oracle there.)
    lr = LogisticRegression(C=C, solver="newton-cholesky", tol=1e-12, max_iter=1000).fit(X[S], y[S])
    if metric == "accuracy":
        return np.mean(lr.predict(Xt) == yt)
    dec = lr.decision_function(Xt)
    if present.size == 2:  # binary: one decision column, class 1 minus class 0
        dec = np.stack([np.zeros_like(dec), dec], axis=1)
    logp = dec - logsumexp(dec, axis=1, keepdims=True)
    col = np.searchsorted(present, yt)
    ok = (col < present.size) & (present[np.minimum(col, present.size - 1)] == yt)
    loss = np.where(ok, -logp[np.arange(yt.size), np.minimum(col, present.size - 1)], EPS_LOSS)
    return -np.mean(np.minimum(loss, EPS_LOSS))


@pytest.fixture(scope="module")
def wine():
    d = load_wine()
    X = (d.data - d.data.mean(0)) / d.data.std(0)
    rng = np.random.default_rng(11)
    idx = rng.permutation(len(d.target))
    return X[idx], d.target[idx]


@pytest.mark.parametrize("metric,C", [("accuracy", 1.0), ("neg_log_loss", 1.0), ("neg_log_loss", 0.1)])
def test_softmax_prefixes_equal_fresh_fits(wine, metric, C):
    X, y = wine
    Xtr, ytr, Xt, yt = X[:90], y[:90], X[120:], y[120:]
    rng = np.random.default_rng(5)
    # Start with two rows of one class, then one of a second (a binary prefix), then the rest:
    # the constant model, the two-class model and the class appearing later are all exercised.
    a = np.flatnonzero(ytr == 0)[:2]
    b = np.flatnonzero(ytr == 1)[:1]
    rest = rng.permutation(np.setdiff1d(np.arange(90), np.concatenate([a, b])))
    order = np.concatenate([a, b, rest])
    got = walk(Xtr, ytr, Xt, yt, metric, order, C)
    for k in range(0, 91):
        ref = reference(Xtr, ytr, Xt, yt, order[:k], metric, C, 3)
        assert abs(got[k] - ref) <= 1e-8, (k, got[k], ref)


def test_test_labels_absent_from_a_prefix_cost_the_clipped_loss(wine):
    X, y = wine
    Xtr, ytr = X[:60], y[:60]
    order = np.concatenate([np.flatnonzero(ytr != 2), np.flatnonzero(ytr == 2)])
    got = walk(Xtr, ytr, X[120:], y[120:], "neg_log_loss", order, 1.0)
    k = int(np.count_nonzero(ytr != 2))
    ref = reference(Xtr, ytr, X[120:], y[120:], order[:k], "neg_log_loss", 1.0, 3)
    assert abs(got[k] - ref) <= 1e-8 and ref < -EPS_LOSS * np.mean(y[120:] == 2) + 1e-9


def test_data_shapley_multiclass_is_bitwise_equal_for_any_thread_count(wine):
    X, y = wine
    runs = [
        attrib.data_shapley(
            X[:60], y[:60], X[120:], y[120:], utility="logistic", max_permutations=8, seed=3, n_jobs=j, progress=False
        )
        for j in (1, 2)
    ]
    assert_array_equal(runs[0].values, runs[1].values)
    assert np.isfinite(runs[0].values).all()
    # efficiency: the values add up to u(D) - u(empty) on every permutation
    u_full = np.mean(
        LogisticRegression(C=1.0, solver="newton-cholesky", tol=1e-12).fit(X[:60], y[:60]).predict(X[120:]) == y[120:]
    )
    u_empty = np.mean(y[120:] == np.bincount(y[120:]).argmax())
    assert runs[0].values.sum() == pytest.approx(u_full - u_empty, abs=1e-10)


def test_unseen_test_labels_are_refused(wine):
    X, y = wine
    with pytest.raises(ValueError, match="absent from y"):
        attrib.data_shapley(
            X[:30],
            y[:30],
            X[120:125],
            np.array([0, 1, 2, 3, 1]),
            utility="logistic",
            max_permutations=2,
            progress=False,
        )
