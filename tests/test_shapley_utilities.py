"""Each incremental utility equals a fresh scikit-learn fit on the same prefix, along long random
permutations (ridge to 1e-10, logistic to 1e-8), including the documented small-set values."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy.special import log_expit
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import accuracy_score, log_loss, mean_squared_error, r2_score
from threadpoolctl import threadpool_limits

from attrib import _dispatch

RIDGE, LOGISTIC, KNN = "ridge", "logistic", "knn"


def walk(core, X, y, Xt, yt, model, metric, order, knn_ranks=None, **hyper):
    """Utilities of the prefixes of `order`, straight from the core (hyper: UtilityParams fields)."""
    params = core.UtilityParams()
    params.model = core.UtilityModel.__members__[model]
    params.metric = core.UtilityMetric.__members__[metric]
    for name, value in hyper.items():
        setattr(params, name, value)
    data = core.UtilityData(X, y, Xt, yt) if knn_ranks is None else core.UtilityData(X, y, Xt, yt, knn_ranks)
    return core.walk_order(data, params, order.astype(np.int64))


@pytest.mark.parametrize("metric", ["r2", "neg_mse"])
def test_ridge_prefixes_equal_fresh_fits(rng, core, metric):
    n, d, m = 600, 8, 80
    X = rng.normal(size=(n, d)) * rng.uniform(0.1, 10, d) + 3.0  # uneven scales, off-centre
    y = X @ rng.normal(size=d) + rng.normal(size=n) + 5.0
    Xt = rng.normal(size=(m, d)) * 2 + 3.0
    yt = Xt @ rng.normal(size=d) + rng.normal(size=m)
    order = rng.permutation(n)
    got = walk(core, X, y, Xt, yt, RIDGE, metric, order, alpha=0.3)
    ref = [0.0 if metric == "r2" else -np.var(yt)]
    for k in range(1, n + 1):
        pred = Ridge(alpha=0.3, solver="cholesky").fit(X[order[:k]], y[order[:k]]).predict(Xt)
        ref.append(r2_score(yt, pred) if metric == "r2" else -mean_squared_error(yt, pred))
    scale = max(1.0, np.abs(ref).max())
    assert_allclose(got, ref, rtol=0, atol=1e-10 * scale)


def test_ridge_refactorisation_period_does_not_change_the_answer(rng):
    n, d = 400, 5
    X = rng.normal(size=(n, d))
    y = X @ rng.normal(size=d) + rng.normal(size=n)
    Xt, yt = X[:50] + 0.1, y[:50]
    order = rng.permutation(n)
    a = walk(_dispatch.core, X, y, Xt, yt, RIDGE, "r2", order, refactor_every=1)
    b = walk(_dispatch.core, X, y, Xt, yt, RIDGE, "r2", order, refactor_every=10**9)
    assert_allclose(a, b, rtol=0, atol=1e-11)


def stable_log_loss(yt, decision):
    """scikit-learn's log_loss (probabilities clipped to [eps, 1 - eps]) computed from the
    decision function with log_expit: sklearn's own 1 - p loses digits on confident mistakes
    (about 2e-8 here at C = 1e4), which would otherwise be charged to attrib."""
    ll = -log_expit(np.where(yt == 1, decision, -decision))
    return float(np.mean(np.minimum(ll, -np.log(np.finfo(float).eps))))


def _constant_logistic_score(y_sub, yt, metric):
    """The documented utility of a subset with fewer than two classes."""
    k, k1 = y_sub.size, int(y_sub.sum())
    if metric == "accuracy":
        label = (1.0 if yt.sum() * 2 > yt.size else 0.0) if k == 0 else float(k1 > 0)
        return np.mean(yt == label)
    p = (k1 + 1.0) / (k + 2.0)
    return -log_loss(yt, np.full(yt.size, p), labels=[0, 1])


@pytest.mark.parametrize("metric,C", [("accuracy", 0.5), ("neg_log_loss", 0.5), ("neg_log_loss", 1e4)])
def test_logistic_prefixes_equal_fresh_fits(rng, core, metric, C):
    # C = 1e4 on nearly separable data: large coefficients, confident test mistakes (log-loss
    # clipped at -log(eps) as scikit-learn does) and Hessian weights that change fast.
    n, d, m = 250, 5, 120
    X = rng.normal(size=(n, d))
    w = rng.normal(size=d)
    noise = 1.0 if C < 1 else 0.1
    y = (X @ w + noise * rng.normal(size=n) > 0.3).astype(float)
    Xt = rng.normal(size=(m, d))
    yt = (Xt @ w + rng.normal(size=m) > 0.3).astype(float)
    first = np.flatnonzero(y == 1)[:3]  # start with one class: exercises the constant model
    order = np.concatenate([first, rng.permutation(np.setdiff1d(np.arange(n), first))])
    got = walk(core, X, y, Xt, yt, LOGISTIC, metric, order, C=C)
    for k in range(0, n + 1):
        S = order[:k]
        if np.unique(y[S]).size < 2:
            ref = _constant_logistic_score(y[S], yt, metric)
        else:
            lr = LogisticRegression(C=C, solver="newton-cholesky", tol=1e-14, max_iter=500).fit(X[S], y[S])
            if metric == "accuracy":
                ref = accuracy_score(yt, lr.predict(Xt))
            else:
                ref = -stable_log_loss(yt, lr.decision_function(Xt))
        assert abs(got[k] - ref) <= 1e-8, (k, got[k], ref)


def _knn_reference(X, y, Xt, yt, S, k):
    """KNeighborsClassifier refit, with the documented rules for sets smaller than k."""
    from sklearn.neighbors import KNeighborsClassifier

    if S.size == 0:
        counts = np.bincount(yt, minlength=3)
        return counts.max() / yt.size
    kk = min(k, S.size)
    model = KNeighborsClassifier(n_neighbors=kk, algorithm="brute").fit(X[S], y[S])
    # scikit-learn labels classes by the subset's own labels; map its argmax back
    return accuracy_score(yt, model.predict(Xt))


@pytest.mark.parametrize("k", [1, 3, 6])
def test_knn_prefixes_equal_fresh_fits(rng, k):
    # Integer arithmetic only (ranks, votes): one CPU variant suffices.
    core = _dispatch.core
    n, d, m = 90, 4, 60
    X = rng.normal(size=(n, d))
    y = (np.digitize(X[:, 0] + 0.7 * rng.normal(size=n), [-0.5, 0.5])).astype(np.int64)  # 3 classes
    Xt = rng.normal(size=(m, d))
    yt = np.digitize(Xt[:, 0], [-0.5, 0.5]).astype(np.int64)
    ranks = core.knn_ranks(X, Xt, 1)
    order = rng.permutation(n).astype(np.int64)
    got = walk(
        core, X, y.astype(float), Xt, yt.astype(float), KNN, "accuracy", order, knn_ranks=ranks, k=k, n_classes=3
    )
    with threadpool_limits(1):  # scikit-learn's threaded neighbour search is slow on tiny problems
        ref = [_knn_reference(X, y, Xt, yt, order[:j], k) for j in range(n + 1)]
    # Vote ties: scikit-learn picks the lowest label among the subset's classes, as attrib does.
    assert_allclose(got, ref, rtol=0, atol=1e-15)


def test_knn_ranks_match_sorted_distances(rng):
    X = rng.normal(size=(50, 3))
    Xt = rng.normal(size=(7, 3))
    ranks = _dispatch.core.knn_ranks(X, Xt, 2)
    d = ((Xt[:, None] - X[None]) ** 2).sum(-1)
    for j in range(7):
        np.testing.assert_array_equal(np.argsort(ranks[j]), np.argsort(d[j], kind="stable"))


def test_logistic_survives_saturated_margins_on_real_data():
    # Raw breast cancer features (scales up to 1e3), C=1: on small separable two-class prefixes
    # every margin saturates and the Hessian's intercept direction is flat to rounding. The walk
    # must factor it (with a jitter that never moves the optimum) and still equal fresh fits.
    import attrib

    data = attrib.datasets.load_breast_cancer()
    X, y = data.X, data.y
    v = attrib.data_shapley(
        X[:200], y[:200], X[400:], y[400:], utility="logistic", max_permutations=500, seed=0, progress=False
    )
    assert np.isfinite(v.values).all() and np.isfinite(v.stderr).all()
    order = np.random.default_rng(5).permutation(200)
    got = walk(
        _dispatch.core,
        np.ascontiguousarray(X[:200]),
        y[:200],
        np.ascontiguousarray(X[400:]),
        y[400:],
        LOGISTIC,
        "neg_log_loss",
        order,
    )
    for k in range(2, 201, 9):
        S = order[:k]
        if np.unique(y[S]).size < 2:
            continue
        lr = LogisticRegression(C=1.0, solver="newton-cholesky", tol=1e-14, max_iter=500).fit(X[S], y[S])
        assert abs(got[k] + stable_log_loss(y[400:], lr.decision_function(X[400:]))) <= 1e-8, k


def test_python_entries_match_the_core_models():
    from attrib import _utilities

    core = _dispatch.core
    assert set(_utilities.BUILTIN) == set(core.UtilityModel.__members__)
    for model in core.UtilityModel.__members__.values():
        assert len(core.utility_metrics(model)) >= 1


def test_facade_defaults_are_the_core_defaults():
    import inspect

    import attrib

    defaults = _dispatch.core.UtilityParams()
    sig = inspect.signature(attrib.data_shapley).parameters
    for name in ("alpha", "C", "k", "refactor_every"):
        assert sig[name].default == getattr(defaults, name), name


def test_binding_refuses_codes_and_shapes_it_cannot_use(rng):
    core = _dispatch.core
    X, y = rng.normal(size=(6, 2)), rng.normal(size=6)
    params = core.UtilityParams()
    with pytest.raises(TypeError):
        params.model = 3  # enums only: an integer code never reaches the core
    with pytest.raises(TypeError):
        params.metric = 0
    with pytest.raises(ValueError, match="inconsistent shapes"):
        core.UtilityData(X, y[:5], X, y)
    with pytest.raises(ValueError, match="knn ranks must be n_test x n"):
        core.UtilityData(X, y, X, y, np.zeros((2, 2), np.int32))
    with pytest.raises(TypeError):
        core.UtilityData(X.astype(np.float32), y, X, y)  # noconvert: no hidden copy
    data = core.UtilityData(X, y, X, y)
    params.metric = core.UtilityMetric.accuracy  # not a ridge metric
    with pytest.raises(ValueError, match="not scored by that metric"):
        core.walk_order(data, params, np.arange(6, dtype=np.int64))
    params.metric = core.UtilityMetric.r2
    params.refactor_every = 0
    with pytest.raises(ValueError, match="refactor_every"):
        core.walk_order(data, params, np.arange(6, dtype=np.int64))
    params.model = core.UtilityModel.knn
    params.metric = core.UtilityMetric.accuracy
    with pytest.raises(ValueError, match="missing neighbour ranks"):
        core.walk_order(data, params, np.arange(6, dtype=np.int64))


def test_utility_data_keeps_its_arrays_alive(rng):
    import gc

    core = _dispatch.core
    X, y = rng.normal(size=(40, 3)), rng.normal(size=40)
    order = rng.permutation(40)
    expected = walk(core, X, y, X.copy(), y.copy(), RIDGE, "r2", order)
    data = core.UtilityData(X.copy(), y.copy(), X.copy(), y.copy())  # temporaries: only `data` holds them
    gc.collect()
    _ = [np.full((40, 3), np.nan) for _ in range(50)]  # would reuse freed buffers
    got = core.walk_order(data, core.UtilityParams(), order.astype(np.int64))
    np.testing.assert_array_equal(got, expected)
