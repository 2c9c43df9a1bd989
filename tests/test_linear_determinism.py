"""Bitwise identical results for any thread count; the two CPU builds agree to rounding."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from threadpoolctl import threadpool_limits

import attrib
from attrib import _dispatch

FIELDS = ("coef_", "hat", "resid", "loo_resid", "dfbeta", "cooks_distance")


@pytest.fixture(scope="module")
def big():
    # Large enough for several row chunks and blocks in every pass.
    rng = np.random.default_rng(7)
    X = rng.normal(size=(30000, 24)) + 0.3
    y = X @ rng.normal(size=24) + rng.normal(size=30000)
    w = rng.uniform(0.1, 2.0, size=30000)
    return X, y, w


def test_one_and_two_threads_are_bitwise_equal(big, core):
    X, y, w = big
    one = attrib.linear_loo(X, y, alpha=0.5, sample_weight=w, n_jobs=1)
    two = attrib.linear_loo(X, y, alpha=0.5, sample_weight=w, n_jobs=2)
    for f in FIELDS:
        assert_array_equal(getattr(one, f), getattr(two, f), err_msg=f)
    assert_array_equal(one.prediction_change(X[:50]), two.prediction_change(X[:50]))
    groups = np.arange(30000) % 97
    assert_array_equal(one.group_loo(groups).dfbeta, two.group_loo(groups).dfbeta)
    eager = [attrib.linear_loo(X, y, alpha=0.5, sample_weight=w, dfbeta=True, n_jobs=k) for k in (1, 2)]
    for f in FIELDS:
        assert_array_equal(getattr(eager[0], f), getattr(eager[1], f), err_msg=f)


def test_default_threads_follow_threadpoolctl(big):
    if not _dispatch.core._openmp:
        pytest.skip("built without OpenMP")
    X, y, _ = big
    with threadpool_limits(1, user_api="openmp"):
        assert _dispatch.core.default_num_threads() == 1
        limited = attrib.linear_loo(X, y)
    assert_array_equal(limited.hat, attrib.linear_loo(X, y, n_jobs=2).hat)


def test_cpu_variants_agree(big, on_every_core):
    X, y, w = big
    results = on_every_core(lambda: attrib.linear_loo(X, y, sample_weight=w))
    for f in FIELDS:
        a, b = (np.asarray(getattr(r, f)) for r in results)
        assert_allclose(a, b, rtol=1e-10, atol=1e-13 * np.abs(a).max(), err_msg=f)


def test_attrib_cpu_environment_variable(monkeypatch):
    import importlib

    monkeypatch.setenv("ATTRIB_CPU", "baseline")
    assert importlib.reload(_dispatch).core._isa == "baseline"
    monkeypatch.setenv("ATTRIB_CPU", "nonsense")
    with pytest.raises(ImportError, match="ATTRIB_CPU"):
        importlib.reload(_dispatch)
    monkeypatch.delenv("ATTRIB_CPU")
    importlib.reload(_dispatch)


def test_lazy_dense_outputs_in_many_calls_equal_one_call(big, monkeypatch):
    # dfbeta and prediction_change run in short calls of whole blocks (Ctrl-C between them): the
    # bits are those of one call over every row (the eager dfbeta of the fit pass agrees to rounding).
    X, y, w = big
    r = attrib.linear_loo(X, y, alpha=0.5, sample_weight=w, n_jobs=2)
    Xt = X[:300]
    core = _dispatch.core
    one_dfbeta = np.empty((X.shape[0], X.shape[1] + 1))
    core.linear_dfbeta(r._X, r._fit, r._loo_scale, 2, one_dfbeta)
    one_change = np.empty((X.shape[0], Xt.shape[0]))
    core.linear_prediction_change(r._X, Xt, r._fit, r._loo_scale, 2, one_change)
    monkeypatch.setattr(attrib._loo, "PIECE_SECONDS", 1e-9)  # one round of blocks per call
    assert_array_equal(r.dfbeta, one_dfbeta)
    assert_array_equal(r.prediction_change(Xt), one_change)
    eager = attrib.linear_loo(X, y, alpha=0.5, sample_weight=w, dfbeta=True, n_jobs=2)
    assert_allclose(eager.dfbeta, one_dfbeta, rtol=1e-9, atol=1e-12 * np.abs(one_dfbeta).max())


def test_ctrl_c_stops_prediction_change_within_a_second():
    # 40,000 x 1,500 changes at d = 200 take several seconds in one kernel call; Ctrl-C must not
    # wait for it (dfbeta goes through the same pieces).
    import os
    import signal
    import threading
    import time

    rng = np.random.default_rng(11)
    X = rng.normal(size=(40_000, 200))
    r = attrib.linear_loo(X, rng.normal(size=40_000))
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
    t0 = time.perf_counter()
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            r.prediction_change(X[:1500])
    finally:
        timer.cancel()
    assert time.perf_counter() - t0 < 0.3 + 1.0
