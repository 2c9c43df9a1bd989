"""GLM kernels: bitwise identical results for any thread count; the two CPU builds agree."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import attrib


@pytest.fixture(scope="module")
def big():
    # Several row chunks in the fit's passes, several blocks in exact LOO and tiles in influence.
    rng = np.random.default_rng(11)
    X = rng.normal(size=(20000, 12))
    y = (rng.random(20000) < 1 / (1 + np.exp(-(X @ rng.normal(size=12) * 0.5)))).astype(float)
    w = rng.uniform(0.1, 2.0, size=20000)
    return X, y, w


def _everything(X, y, w, n_jobs):
    r = attrib.glm_loo(X, y, C=0.5, sample_weight=w, refine=40, n_jobs=n_jobs)
    ex = attrib.glm_loo(X[:3000], y[:3000], C=0.5, sample_weight=w[:3000], method="exact", n_jobs=n_jobs)
    tk = r.influence(X[:300], y[:300], top_k=4)
    return {
        "params": r.params_,
        "hat": r.hat,
        "dcoef": r.dcoef,
        "loo_eta": r.loo_linear_predictor,
        "exact": ex.dcoef,
        "influence": r.influence(X[:300], y[:300]),
        "topk_idx": tk.helpful_idx,
        "topk_val": tk.harmful_val,
        "group": r.group_loo(np.arange(20000) % 37).dcoef,
    }


def test_one_and_two_threads_are_bitwise_equal(big, core):
    one = _everything(*big, n_jobs=1)
    two = _everything(*big, n_jobs=2)
    for key in one:
        assert_array_equal(one[key], two[key], err_msg=key)


def test_cpu_variants_agree(big, on_every_core):
    X, y, w = big

    def run():
        r = attrib.glm_loo(X, y, C=0.5, sample_weight=w)
        return r.params_, r.hat, r.dcoef

    for a, b in zip(*on_every_core(run)):
        assert_allclose(a, b, rtol=1e-9, atol=1e-12 * np.abs(a).max())


@pytest.mark.parametrize("family", ["poisson", "gaussian"])
def test_other_families_are_bitwise_equal_across_threads(big, family):
    X, _, w = big
    rng = np.random.default_rng(5)
    eta = X @ (0.2 * rng.normal(size=X.shape[1]))
    y = rng.poisson(np.exp(eta)).astype(float) if family == "poisson" else eta + rng.normal(size=X.shape[0])
    runs = []
    for n_jobs in (1, 2):
        r = attrib.glm_loo(X, y, family=family, C=0.5, sample_weight=w, refine=30, n_jobs=n_jobs)
        runs.append((r.params_, r.hat, r.dcoef, r.influence(X[:200], y[:200])))
    for a, b in zip(*runs):
        assert_array_equal(a, b)


def test_exact_loo_in_many_calls_equals_one_call(big, monkeypatch):
    # Exact leave-one-out runs in short calls (so Ctrl-C takes effect between them), each a whole
    # number of the core's blocks: the bits must be those of one call over every row.
    X, y, w = (a[:3000] for a in big)
    monkeypatch.setattr(attrib._loo, "PIECE_SECONDS", 1e-9)  # one block per thread per call
    r = attrib.glm_loo(X, y, C=0.5, sample_weight=w, method="exact", n_jobs=2)
    core = attrib._dispatch.core
    one = core.glm_exact_loo(X, y, w, r._fit, list(range(3000)), 100, attrib.glm.EXACT_TOL, 2)
    assert_array_equal(r.dcoef, one[0])
    assert_array_equal(r.loo_linear_predictor, one[1])


def test_ctrl_c_stops_exact_loo_within_a_second():
    # 40,000 rows take about 20 s here; Ctrl-C must not wait for them (it waited 79 s before).
    import os
    import signal
    import threading
    import time

    rng = np.random.default_rng(3)
    X = rng.normal(size=(40000, 20))
    y = (rng.random(40000) < 1 / (1 + np.exp(-(X @ rng.normal(size=20) * 0.3)))).astype(float)
    timer = threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT))
    t0 = time.perf_counter()
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            attrib.glm_loo(X, y, method="exact")
    finally:
        timer.cancel()
    assert time.perf_counter() - t0 < 0.5 + 1.0


def test_influence_in_many_calls_equals_one_call(big, monkeypatch):
    # influence() runs in short calls of whole tiles (training rows for the dense matrix, test
    # points for top_k) so that Ctrl-C takes effect between them: the bits are those of one call.
    X, y, w = (a[:3000] for a in big)
    r = attrib.glm_loo(X, y, C=0.5, sample_weight=w, n_jobs=2)
    Xt, yt = X[:700], y[:700]
    whole = r.influence(Xt, yt)
    top = r.influence(Xt, yt, top_k=5)
    monkeypatch.setattr(attrib._loo, "PIECE_SECONDS", 1e-9)  # one tile per call
    assert_array_equal(r.influence(Xt, yt), whole)
    pieces = r.influence(Xt, yt, top_k=5)
    for name in ("helpful_idx", "helpful_val", "harmful_idx", "harmful_val"):
        assert_array_equal(getattr(pieces, name), getattr(top, name))
    core = attrib._dispatch.core
    one = np.empty_like(whole)
    core.glm_loss_change(Xt, yt, attrib.glm.EMPTY, r._fit, np.ascontiguousarray(r._dcoef), 2, one)
    assert_array_equal(whole, one)


def test_ctrl_c_stops_influence_top_k_within_a_second():
    # 200,000 training rows x 3,000 test points take several seconds; Ctrl-C must not wait.
    import os
    import signal
    import threading
    import time

    rng = np.random.default_rng(5)
    X = rng.normal(size=(200_000, 5))
    y = (rng.random(200_000) < 1 / (1 + np.exp(-X @ rng.normal(size=5)))).astype(float)
    r = attrib.glm_loo(X, y, refine=0)
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
    t0 = time.perf_counter()
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            r.influence(X[:3000], y[:3000], top_k=10)
    finally:
        timer.cancel()
    assert time.perf_counter() - t0 < 0.3 + 1.0
