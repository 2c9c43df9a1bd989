"""attrib.retrain: the built-in learners against scikit-learn refits on the same subsets, the
estimator and callable paths, bitwise determinism for any n_jobs and block size, Ctrl-C, and bad input."""

from __future__ import annotations

import os
import signal
import threading
import time

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import attrib
from attrib import _progress
from attrib.exceptions import StoppedEarlyWarning, UtilityError

sklearn = pytest.importorskip("sklearn")
from sklearn.linear_model import LogisticRegression, Ridge  # noqa: E402
from sklearn.neighbors import KNeighborsClassifier  # noqa: E402


@pytest.fixture(scope="module")
def cancer():
    data = attrib.datasets.load_breast_cancer()
    X = (data.X - data.X.mean(0)) / data.X.std(0)
    rng = np.random.default_rng(3)
    idx = rng.permutation(569)
    tr, te = idx[:160], idx[160:172]
    return X[tr][:, :8], data.y[tr], X[te][:, :8], data.y[te]


def test_logistic_equals_sklearn_refits(cancer, core):
    X, y, Xt, yt = cancer
    C = 0.7
    r = attrib.retrain(X, y, Xt, yt, model="logistic", n_subsets=6, C=C, seed=5, progress=False)
    B = r.masks.bool()
    sign = np.where(yt == 1, 1.0, -1.0)
    for s in range(6):
        ref = LogisticRegression(C=C, solver="newton-cholesky", tol=1e-14, max_iter=1000).fit(X[B[s]], y[B[s]])
        dec = ref.decision_function(Xt)
        assert_allclose(r.outputs["margin"][s], sign * dec, rtol=0, atol=1e-8)
        assert_allclose(r.outputs["loss"][s], np.logaddexp(0, -sign * dec), rtol=0, atol=1e-8)
        assert_array_equal(r.outputs["correct"][s], (ref.predict(Xt) == yt).astype(float))
    assert r.n_iter.shape == (6,) and (r.n_iter >= 1).all()


def test_ridge_equals_sklearn_refits(cancer):
    X, _, Xt, _ = cancer
    rng = np.random.default_rng(1)
    y = X @ rng.normal(size=X.shape[1]) + 3.0 + rng.normal(size=X.shape[0])
    yt = Xt @ rng.normal(size=X.shape[1])
    r = attrib.retrain(X + 100.0, y, Xt + 100.0, yt, model="ridge", l2=2.5, n_subsets=5, progress=False)
    assert sorted(r.outputs) == ["loss", "margin"]
    B = r.masks.bool()
    for s in range(5):
        pred = Ridge(alpha=2.5).fit(X[B[s]] + 100.0, y[B[s]]).predict(Xt + 100.0)
        assert_allclose(r.outputs["margin"][s], pred, rtol=0, atol=1e-8)
        assert_allclose(r.outputs["loss"][s], (yt - pred) ** 2, rtol=0, atol=1e-7)
    r0 = attrib.retrain(X, y, Xt, yt, model="ridge", l2=2.5, n_subsets=2, fit_intercept=False, progress=False)
    B0 = r0.masks.bool()
    pred0 = Ridge(alpha=2.5, fit_intercept=False).fit(X[B0[1]], y[B0[1]]).predict(Xt)
    assert_allclose(r0.outputs["margin"][1], pred0, rtol=0, atol=1e-8)


def test_knn_equals_sklearn_refits():
    rng = np.random.default_rng(8)
    X = rng.normal(size=(80, 3))
    y = rng.integers(0, 3, 80)
    Xt = rng.normal(size=(15, 3))
    yt = np.concatenate([rng.integers(0, 3, 14), [7]])  # the last label is absent from y
    r = attrib.retrain(X, y, Xt, yt, model="knn", k=5, n_subsets=6, seed=2, progress=False)
    B = r.masks.bool()
    for s in range(6):
        ref = KNeighborsClassifier(n_neighbors=5).fit(X[B[s]], y[B[s]])
        proba = np.zeros((15, 3))
        proba[:, ref.classes_] = ref.predict_proba(Xt)
        p_y = np.array([proba[t, c] if c < 3 else 0.0 for t, c in enumerate(yt)])
        other = np.array([np.delete(proba[t], c).max() if c < 3 else proba[t].max() for t, c in enumerate(yt)])
        assert_allclose(r.outputs["margin"][s], p_y - other, atol=1e-12)
        assert_allclose(r.outputs["loss"][s], 1 - p_y, atol=1e-12)
        assert_array_equal(r.outputs["correct"][s], (ref.predict(Xt) == yt).astype(float))


def test_estimator_and_callable_paths(cancer):
    X, y, Xt, yt = cancer
    est = LogisticRegression(C=1.0, solver="newton-cholesky", tol=1e-14, max_iter=1000)
    a = attrib.retrain(X, y, Xt, yt, model=est, n_subsets=4, seed=1, progress=False)
    b = attrib.retrain(X, y, Xt, yt, model="logistic", n_subsets=4, seed=1, progress=False)
    assert a.masks == b.masks
    for key in ("margin", "loss", "correct"):
        assert_allclose(a.outputs[key], b.outputs[key], atol=1e-8)

    sign = np.where(yt == 1, 1.0, -1.0)

    def fit(idx):
        return sign * LogisticRegression(solver="newton-cholesky", tol=1e-14).fit(X[idx], y[idx]).decision_function(Xt)

    c = attrib.retrain(len(X), model=fit, n_subsets=4, seed=1, progress=False)
    assert sorted(c.outputs) == ["margin"] and c.masks.packed.tobytes() == b.masks.packed.tobytes()
    assert_allclose(c.outputs["margin"], b.outputs["margin"], atol=1e-8)
    with pytest.raises(UtilityError, match="subset 0"):
        attrib.retrain(len(X), model=lambda idx: [np.nan], n_subsets=2, progress=False)
    with pytest.raises(UtilityError, match="outputs"):
        attrib.retrain(
            5, model=lambda idx: {"margin": [1.0]} if idx[0] == 0 else {"loss": [1.0]}, n_subsets=40, progress=False
        )


def test_bitwise_identical_for_any_threads_and_blocks(cancer, monkeypatch):
    X, y, Xt, yt = cancer
    runs = [attrib.retrain(X, y, Xt, yt, n_subsets=24, seed=3, n_jobs=j, progress=False) for j in (1, 2, 3)]
    monkeypatch.setattr(_progress, "BLOCK_SECONDS", 1e-9)  # the smallest blocks
    runs.append(attrib.retrain(X, y, Xt, yt, n_subsets=24, seed=3, n_jobs=2, progress=False))
    masks = attrib.sample_subsets(len(X), 24, seed=3)
    runs.append(attrib.retrain(X, y, Xt, yt, masks=masks, progress=False))
    for r in runs[1:]:
        assert r.masks.packed.tobytes() == runs[0].masks.packed.tobytes()
        for key in ("margin", "loss", "correct"):
            assert r.outputs[key].tobytes() == runs[0].outputs[key].tobytes()


def test_ctrl_c_keeps_completed_blocks():
    def slow(idx):
        time.sleep(0.002)
        return [float(idx.size)]

    timer = threading.Timer(0.4, os.kill, args=(os.getpid(), signal.SIGINT))
    timer.start()
    t0 = time.perf_counter()
    try:
        with pytest.warns(StoppedEarlyWarning, match="interrupted"):
            r = attrib.retrain(30, model=slow, n_subsets=100_000, progress=False)
    finally:
        timer.cancel()
    assert time.perf_counter() - t0 < 2.0
    assert not r.complete and 0 < r.n_subsets < 100_000
    assert r.outputs["margin"].shape == (r.n_subsets, 1)
    assert_array_equal(r.masks.packed, attrib.sample_subsets(30, r.n_subsets).packed)


def test_ctrl_c_builtin_keeps_completed_blocks(cancer):
    X, y, Xt, yt = cancer
    timer = threading.Timer(0.5, os.kill, args=(os.getpid(), signal.SIGINT))
    timer.start()
    t0 = time.perf_counter()
    try:
        with pytest.warns(StoppedEarlyWarning, match="interrupted"):
            r = attrib.retrain(X, y, Xt, yt, n_subsets=10**7, progress=False)
    finally:
        timer.cancel()
    assert time.perf_counter() - t0 < 2.5
    assert not r.complete and 0 < r.n_subsets < 10**7 and r.outputs["margin"].shape == (r.n_subsets, len(yt))
    again = attrib.retrain(X, y, Xt, yt, masks=attrib.sample_subsets(len(X), r.n_subsets), progress=False)
    assert again.outputs["margin"].tobytes() == r.outputs["margin"].tobytes()


def test_bad_input(cancer):
    X, y, Xt, yt = cancer
    with pytest.raises(ValueError, match="exactly two classes"):
        attrib.retrain(X, np.arange(len(X)) % 3, Xt, yt % 3, progress=False)
    with pytest.raises(ValueError, match="alpha must be a fraction"):
        attrib.retrain(X, y, Xt, yt, alpha=1.0, progress=False)
    with pytest.raises(ValueError, match="model must be one of"):
        attrib.retrain(X, y, Xt, yt, model="svm", progress=False)
    with pytest.raises(ValueError, match="NaN"):
        attrib.retrain(np.where(X > 2, np.nan, X), y, Xt, yt, progress=False)
    with pytest.raises(ValueError, match="features"):
        attrib.retrain(X, y, Xt[:, :3], yt, progress=False)
    with pytest.raises(ValueError, match="masks are for 10 training points"):
        attrib.retrain(X, y, Xt, yt, masks=attrib.sample_subsets(10, 2), progress=False)
    other = attrib.retrain(X[1:], y[1:], Xt, yt, model="knn", n_subsets=2, progress=False).masks
    with pytest.raises(ValueError, match="other training data"):
        attrib.retrain(X[:-1], y[:-1], Xt, yt, masks=other, progress=False)
    yy = np.zeros(len(X))
    yy[0] = 1
    with pytest.raises(ValueError, match="subset .*one class"):
        attrib.retrain(X, yy, Xt, np.zeros(len(Xt)), n_subsets=3, alpha=0.1, progress=False)
    with pytest.raises(TypeError, match="model must be"):
        attrib.retrain(X, y, Xt, yt, model=3, progress=False)


@pytest.mark.parametrize("model", ["logistic", "ridge", "knn"])
def test_translation_of_X_leaves_the_outputs_in_place(model):
    # An offset of 1e8 made every logistic fit singular. The oracle sees fl(X + s) - s, exactly
    # the shifted call's data translated back.
    rng = np.random.default_rng(3)
    X = rng.normal(size=(120, 4))
    y = (X @ [1.0, 2.0, -1.0, 0.5] + rng.logistic(size=120) > 0).astype(int)
    if model == "ridge":
        y = X @ [1.0, 2.0, -1.0, 0.5] + rng.normal(size=120)
    kw = dict(model=model, n_subsets=6, seed=0, progress=False)
    s = 1e8
    shifted = attrib.retrain(X + s, y, X[:15] + s, y[:15], **kw)
    back = attrib.retrain((X + s) - s, y, (X[:15] + s) - s, y[:15], **kw)
    for name, out in back.outputs.items():
        np.testing.assert_allclose(shifted.outputs[name], out, rtol=1e-7, atol=1e-7 * np.abs(out).max())
