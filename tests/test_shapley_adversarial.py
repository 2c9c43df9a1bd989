"""Regression tests for the adversarial findings in the Shapley family: stopping rules that never
stop, Ctrl-C and time budgets, translation/scale invariance of the KNN distance, and inputs that
gave silent wrong answers or raw errors. Each test failed before its fix."""

from __future__ import annotations

import os
import signal
import threading
import time
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import attrib
from attrib import _dispatch, _progress
from attrib import shapley as shapley_module
from attrib.exceptions import StoppedEarlyWarning, UndefinedValueWarning, UtilityError


@pytest.fixture
def data():
    r = np.random.default_rng(0)
    X = r.normal(size=(1000, 3))
    y = X @ [1, 2, 3] + r.normal(size=1000)
    return X, y, (y > 0).astype(int)


def _sigint_after(seconds):
    timer = threading.Timer(seconds, os.kill, args=(os.getpid(), signal.SIGINT))
    timer.start()
    return timer


# ----------------------------------------------------------------------------------------------
# 1. Stopping rules
# ----------------------------------------------------------------------------------------------


def test_all_zero_values_still_reach_the_target():
    # Every value is 0: a target relative to max|value| alone is 0 and was never met.
    t0 = time.perf_counter()
    res = attrib.data_shapley(10, utility=lambda i: (-1.0) ** len(i), rtol=0.2, progress=False)
    assert time.perf_counter() - t0 < 20
    assert res.converged and res.stopped_by == "converged"
    # scale = max(max|value|, (max u - min u) / n) = 2 / 10
    assert_allclose(res.target_stderr, 0.2 * 2 / 10)
    assert res.max_stderr <= res.target_stderr
    assert np.abs(res.values).max() < 5 * res.target_stderr


def test_default_cap_stops_and_says_so(monkeypatch):
    monkeypatch.setattr(shapley_module, "DEFAULT_TIME_CAP", 0.3)
    rng = np.random.default_rng(1)
    w = rng.normal(size=8)

    def noisy(idx):
        return float(w[idx].sum() + np.sin(1e3 * idx.sum()))

    t0 = time.perf_counter()
    with pytest.warns(StoppedEarlyWarning, match="default cap of 0.3 s.*largest standard error"):
        res = attrib.data_shapley(8, utility=noisy, rtol=None, atol=1e-9, progress=False)
    assert time.perf_counter() - t0 < 3
    assert res.stopped_by == "cap" and not res.converged and res.status == "default time cap reached"
    assert res.target_stderr >= 1e-9 and res.max_stderr > res.target_stderr


def test_explicit_max_permutations_runs_that_many():
    w = np.arange(5.0)
    res = attrib.data_shapley(5, utility=lambda i: float(w[i].sum()), max_permutations=500, progress=False)
    assert res.n_samples == 500 and res.stopped_by == "max_permutations" and res.target_stderr is None
    # with an explicit target the cap is an upper bound again
    res = attrib.data_shapley(5, utility=lambda i: float(w[i].sum()), max_permutations=500, rtol=0.05, progress=False)
    assert res.stopped_by == "converged" and res.n_samples < 500


def test_time_budget_without_target_says_no_target_was_set():
    with pytest.warns(StoppedEarlyWarning) as rec:
        res = attrib.data_shapley(6, utility=lambda i: float(len(i) ** 2), rtol=None, time_budget=0.05, progress=False)
    msg = str(rec[0].message)
    assert "before the standard-error target" not in msg and "no standard-error target was set" in msg
    assert res.stopped_by == "time_budget"


def test_progress_line_estimates_time_to_target():
    note = shapley_module._progress_note(0.2, 0.1, 100, 10.0, 64)
    assert "target 0.1" in note and "~30 s to go" in note  # 4x the samples: 300 more at 0.1 s each
    assert "to go" not in shapley_module._progress_note(0.05, 0.1, 100, 10.0, 64)


# ----------------------------------------------------------------------------------------------
# 2. Blocks, Ctrl-C and time budgets
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", ["ridge", "callable", "banzhaf", "antithetic", "beta"])
def test_bitwise_identical_for_any_block_size(data, case, monkeypatch):
    X, y, _ = data
    Xs, ys, Xt, yt = X[:40], y[:40], X[500:560], y[500:560]
    w = np.random.default_rng(2).normal(size=40)
    kw = dict(max_permutations=50, rtol=None, progress=False, seed=3)
    if case == "ridge":
        args, kw2 = (Xs, ys, Xt, yt), {}
    elif case == "callable":
        args, kw2 = (40,), dict(utility=lambda i: float(np.tanh(w[i].sum())))
    elif case == "banzhaf":
        args, kw2 = (Xs, ys, Xt, yt), dict(semivalue="banzhaf")
    elif case == "beta":
        args, kw2 = (Xs, ys, Xt, yt), dict(semivalue="beta(4,1)")
    else:
        args, kw2 = (Xs, ys, Xt, yt), dict(antithetic=True)
    sizes = [2, 6, 50] if case == "antithetic" else [1, 7, 50]
    runs = [attrib.data_shapley(*args, block_size=b, **kw, **kw2) for b in sizes]
    runs.append(attrib.data_shapley(*args, **kw, **kw2))  # adaptive
    monkeypatch.setattr(_progress, "BLOCK_SECONDS", 1e-9)  # adaptive, smallest blocks
    runs.append(attrib.data_shapley(*args, **kw, **kw2))
    for r in runs[1:]:
        assert_array_equal(r.values, runs[0].values)
        assert_array_equal(r.stderr, runs[0].stderr)
        assert_array_equal(r.counts, runs[0].counts)


def test_ctrl_c_builtin_keeps_completed_blocks(data):
    X, y, _ = data
    Xs, ys, Xt, yt = X[:600], y[:600], X[600:], y[600:]
    timer = _sigint_after(0.5)
    t0 = time.perf_counter()
    try:
        with pytest.warns(StoppedEarlyWarning, match="interrupted"):
            res = attrib.data_shapley(Xs, ys, Xt, yt, max_permutations=10**7, progress=False)
    finally:
        timer.cancel()
    assert time.perf_counter() - t0 < 2.5  # signal at 0.5 s, effect within about a block
    assert res.stopped_by == "interrupted" and not res.converged and res.n_samples > 0
    # every completed block is kept, and nothing else: the same run to that many permutations
    again = attrib.data_shapley(Xs, ys, Xt, yt, max_permutations=res.n_samples, progress=False)
    assert_array_equal(res.values, again.values)


def test_ctrl_c_callable_stops_within_a_block():
    def slow(idx):
        time.sleep(0.001)
        return float(len(idx) ** 0.5)

    timer = _sigint_after(0.4)
    t0 = time.perf_counter()
    try:
        with pytest.warns(StoppedEarlyWarning, match="interrupted"):
            res = attrib.data_shapley(20, utility=slow, max_permutations=10**6, progress=False)
    finally:
        timer.cancel()
    assert time.perf_counter() - t0 < 2.0
    assert res.stopped_by == "interrupted" and res.n_samples > 0
    again = attrib.data_shapley(20, utility=slow, max_permutations=res.n_samples, progress=False)
    assert_array_equal(res.values, again.values)


def test_time_budget_holds_with_a_slow_utility():
    def slow(idx):
        time.sleep(0.01)
        return float(len(idx))

    t0 = time.perf_counter()
    with pytest.warns(StoppedEarlyWarning, match="time budget"):
        res = attrib.data_shapley(20, utility=slow, time_budget=0.2, progress=False)
    # one permutation (21 calls, ~0.25 s) is the smallest block
    assert time.perf_counter() - t0 < 1.2
    assert res.stopped_by == "time_budget" and res.n_samples >= 1


def _knn_problem(n, m, d=8, seed=5):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = rng.integers(0, 3, n)
    Xt = rng.normal(size=(m, d))
    yt = rng.integers(0, 3, m)
    return X, y, Xt, yt


def test_knn_shapley_ctrl_c_returns_the_test_points_done():
    X, y, Xt, yt = _knn_problem(200_000, 3000)
    timer = _sigint_after(0.4)
    t0 = time.perf_counter()
    try:
        with pytest.warns(StoppedEarlyWarning, match="knn_shapley interrupted after"):
            res = attrib.knn_shapley(X, y, Xt, yt, k=5, n_jobs=1)
    finally:
        timer.cancel()
    assert time.perf_counter() - t0 < 2.5
    assert res.stopped_by == "interrupted" and not res.converged and 0 < res.n_samples < 3000
    done = res.n_samples
    assert_array_equal(res.values, attrib.knn_shapley(X, y, Xt[:done], yt[:done], k=5).values)


@pytest.mark.parametrize("soft", [False, True])
def test_knn_shapley_blocks_are_bitwise_one_call(monkeypatch, soft):
    X, y, Xt, yt = _knn_problem(3000, 400)
    default = attrib.knn_shapley(X, y, Xt, yt, k=4, soft_label=soft).values
    # one kernel call over every test point, on the same frame
    core = _dispatch.core
    from attrib._utilities import knn_frame

    Xc, Tc, x_sq = knn_frame(X.astype(float), Xt.astype(float))
    acc = np.zeros(len(X))
    core.knn_shapley_accumulate(
        Xc, x_sq, y.astype(np.int64), Tc, yt.astype(np.int64), 4, soft, 3, core.knn_test_chunk(len(X)), 1, acc
    )
    assert_array_equal(default, acc / len(Xt))
    monkeypatch.setattr(_progress, "BLOCK_SECONDS", 1e-9)  # one chunk per call
    assert_array_equal(default, attrib.knn_shapley(X, y, Xt, yt, k=4, soft_label=soft, n_jobs=2).values)


# ----------------------------------------------------------------------------------------------
# 3. KNN: translation and scale invariance
# ----------------------------------------------------------------------------------------------


def _reference_knn_shapley(X, y, Xt, yt, K):
    """Jia et al.'s hard-label recursion on exact differences (x - t), ties to the lower index."""
    n = len(X)
    values = np.zeros(n)
    for t in range(len(Xt)):
        dist = ((X - Xt[t]) ** 2).sum(axis=1)
        order = np.lexsort((np.arange(n), dist))
        match = (y[order] == yt[t]).astype(float)
        s = match[n - 1] * min(K, n) / (n * K)
        values[order[n - 1]] += s
        for i in range(n - 1, 0, -1):
            s += (match[i - 1] - match[i]) / K * min(K, i) / i
            values[order[i - 1]] += s
    return values / len(Xt)


@pytest.mark.parametrize("offset", [1e6, 1e7, 1e8])
def test_knn_shapley_translation_invariant(offset):
    X, y, Xt, yt = _knn_problem(200, 30, d=3)
    base = attrib.knn_shapley(X, y, Xt, yt, k=5).values
    Xs, Ts = X + offset, Xt + offset
    got = attrib.knn_shapley(Xs, y, Ts, yt, k=5).values
    assert_allclose(got, base, rtol=0, atol=1e-12)
    assert_allclose(got, _reference_knn_shapley(Xs, y, Ts, yt, 5), rtol=0, atol=1e-12)
    util = [
        attrib.data_shapley(A, y, B, yt, utility="knn", k=3, max_permutations=6, progress=False).values
        for A, B in ((X, Xt), (Xs, Ts))
    ]
    assert_array_equal(util[1], util[0])


@pytest.mark.parametrize("metric", ["accuracy", "neg_log_loss"])
@pytest.mark.parametrize("offset", [1e8, -1e12])
def test_logistic_utility_translation_invariant(metric, offset):
    # An offset of 1e8 made every Newton fit of the utility singular (values off by 60%). The
    # oracle sees fl(X + offset) - offset, exactly the shifted call's data translated back.
    r = np.random.default_rng(4)
    X, Xt = r.normal(size=(40, 3)), r.normal(size=(30, 3))
    y, yt = (X @ [1.0, 2.0, 3.0] + r.normal(size=40) > 0).astype(int), (Xt @ [1.0, 2.0, 3.0] > 0).astype(int)
    kw = dict(utility="logistic", metric=metric, max_permutations=4, progress=False, seed=1)
    shifted = attrib.data_shapley(X + offset, y, Xt + offset, yt, **kw)
    back = attrib.data_shapley((X + offset) - offset, y, (Xt + offset) - offset, yt, **kw)
    np.testing.assert_allclose(shifted.values, back.values, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("scale", [1e-170, 1e-100, 1e100, 1e155, 1e200])
def test_knn_shapley_scale_invariant(scale):
    X, y, Xt, yt = _knn_problem(200, 30, d=3)
    base = attrib.knn_shapley(X, y, Xt, yt, k=5).values
    got = attrib.knn_shapley(X * scale, y, Xt * scale, yt, k=5).values
    assert_allclose(got, base, rtol=0, atol=1e-12)
    util = [
        attrib.data_shapley(A, y, B, yt, utility="knn", k=3, max_permutations=6, progress=False).values
        for A, B in ((X, Xt), (X * scale, Xt * scale))
    ]
    assert_array_equal(util[1], util[0])


def test_knn_exact_ties_on_grid_data_survive_the_shift():
    # integer grid far from the origin: equal distances must stay equal (ties to the lower index)
    X = np.array([[0.0], [2.0], [4.0], [6.0], [8.0], [10.0]]) + 1e6
    y = np.array([0, 1, 0, 1, 0, 1])
    Xt = np.array([[1.0], [5.0], [9.0]]) + 1e6
    yt = np.array([1, 0, 1])
    got = attrib.knn_shapley(X, y, Xt, yt, k=2).values
    assert_allclose(got, _reference_knn_shapley(X, y, Xt, yt, 2), rtol=0, atol=1e-15)


# ----------------------------------------------------------------------------------------------
# 4. Silent wrong answers and unclear errors
# ----------------------------------------------------------------------------------------------


def test_banzhaf_with_one_subset_warns_about_undefined_values():
    with pytest.warns(UndefinedValueWarning, match="undefined"):
        res = attrib.data_shapley(
            6, utility=lambda i: float(len(i)), semivalue="banzhaf", max_permutations=1, progress=False
        )
    assert np.isnan(res.values).all() and np.isinf(res.stderr).all()


def test_banzhaf_with_enough_subsets_does_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error", UndefinedValueWarning)
        res = attrib.data_shapley(
            6, utility=lambda i: float(len(i)), semivalue="banzhaf", max_permutations=64, progress=False
        )
    assert np.isfinite(res.values).all() and np.isfinite(res.stderr).all()


@pytest.mark.parametrize("semivalue", ["shapley", "banzhaf"])
def test_huge_utilities_name_the_subset(semivalue):
    with pytest.raises(UtilityError, match="too large to average.*(permutation 0|subset)"):
        attrib.data_shapley(
            6, utility=lambda i: 1.7e308 * (-1.0) ** len(i), semivalue=semivalue, max_permutations=20, progress=False
        )


def test_integer_too_large_for_float_names_the_subset():
    with pytest.raises(UtilityError, match="too large for float64.*on the first 1 points of permutation 0"):
        attrib.data_shapley(4, utility=lambda i: 10**400 if len(i) else 0, max_permutations=4, progress=False)


def test_huge_integer_arguments_are_clear_value_errors(data):
    X, y, b = data
    with pytest.raises(ValueError, match="k must be at most 2\\*\\*62"):
        attrib.knn_shapley(X[:50], b[:50], X[50:60], b[50:60], k=2**63)
    with pytest.raises(ValueError, match="refactor_every must be at most"):
        attrib.data_shapley(
            X[:50], y[:50], X[50:60], y[50:60], refactor_every=2**63, max_permutations=2, progress=False
        )
    with pytest.raises(ValueError, match="k must be at most"):
        attrib.data_shapley(
            X[:50], b[:50], X[50:60], b[50:60], utility="knn", k=2**64, max_permutations=2, progress=False
        )


def test_knn_utility_caps_k_at_n(data):
    X, _, b = data
    big = attrib.data_shapley(
        X[:40], b[:40], X[40:70], b[40:70], utility="knn", k=2**40, max_permutations=4, progress=False
    )
    at_n = attrib.data_shapley(
        X[:40], b[:40], X[40:70], b[40:70], utility="knn", k=40, max_permutations=4, progress=False
    )
    assert_array_equal(big.values, at_n.values)


def test_history_is_bounded_in_memory(monkeypatch):
    monkeypatch.setattr(shapley_module, "_HISTORY_BYTES", 8 * 30 * 12)  # 12 snapshots of 30 values
    res = attrib.data_shapley(
        30, utility=lambda i: float(len(i) ** 0.5), max_permutations=200, block_size=1, progress=False
    )
    h = res.history
    assert 6 <= h["values"].shape[0] <= 12 and h["values"].shape == (len(h["n_samples"]), 30)
    assert len(h["max_stderr"]) == len(h["n_samples"])
    # the rule itself: at most 64 MiB of snapshots, so n = 10**6 keeps 8
    assert int(min(256, max(8, (64 * 2**20) // (8 * 10**6)))) == 8


@pytest.mark.parametrize("name", ["Ridge", "LinearRegression"])
def test_positive_constrained_estimators_keep_the_constraint(data, name):
    # The Shapley path fits the estimator itself (clone + fit), so positive=True is honoured: the
    # values add up to u(D) - u(empty) for the constrained model, not the unconstrained one.
    from sklearn import linear_model

    X, y, _ = data
    Xs, ys, Xt, yt = X[:8], -y[:8], X[100:140], -y[100:140]
    est = getattr(linear_model, name)(positive=True)
    res = attrib.data_shapley(
        Xs, ys, Xt, yt, utility=est, empty_score=0.0, max_permutations=4, rtol=None, progress=False
    )
    full = est.fit(Xs, ys).score(Xt, yt)
    assert_allclose(res.values.sum(), full, rtol=1e-10)
    free = getattr(linear_model, name)().fit(Xs, ys).score(Xt, yt)
    assert abs(full - free) > 1e-3


def test_ctrl_c_cancels_a_long_builtin_block():
    # logistic with n = 4000: one permutation (a warm-started Newton fit per prefix) takes seconds,
    # so the block in flight is cancelled (and discarded) shortly after Ctrl-C.
    rng = np.random.default_rng(7)
    X = rng.normal(size=(4000, 10))
    y = (X[:, 0] + rng.normal(size=4000) > 0).astype(int)
    Xt = rng.normal(size=(300, 10))
    yt = (Xt[:, 0] > 0).astype(int)
    timer = _sigint_after(0.3)
    t0 = time.perf_counter()
    try:
        with pytest.warns(StoppedEarlyWarning, match="interrupted"):
            res = attrib.data_shapley(X, y, Xt, yt, utility="logistic", max_permutations=1000, progress=False)
    finally:
        timer.cancel()
    assert time.perf_counter() - t0 < 2.0
    assert res.stopped_by == "interrupted" and not res.converged
