"""TRAK: bitwise identical results for any thread count; the two CPU builds agree to rounding."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import attrib


@pytest.fixture(scope="module")
def problem():
    rng = np.random.default_rng(5)
    phis = [rng.normal(size=(2000, 300)).astype(np.float32) for _ in range(2)]  # 2 x 2 Gram tiles
    tests = [p[:100] + np.float32(0.1) for p in phis]  # 2 test blocks
    qs = [rng.uniform(0.05, 0.95, 2000) for _ in range(2)]
    return phis, tests, qs


def _everything(problem, n_jobs, estimator="trak"):
    phis, tests, qs = problem
    t = attrib.TRAK(dim=300, estimator=estimator, weighting="trak", n_jobs=n_jobs)
    for phi, q in zip(phis, qs):
        t.add_checkpoint(phi, q)
    top = t.score(tests, top_k=5)
    return {"scores": t.score(tests), "self": t.self_influence(), "idx": top.proponent_idx, "val": top.opponent_val}


@pytest.mark.parametrize("estimator", ["trak", "newton"])
def test_one_and_two_threads_are_bitwise_equal(problem, core, estimator):
    one = _everything(problem, 1, estimator)
    two = _everything(problem, 2, estimator)
    three = _everything(problem, 3, estimator)
    for key in one:
        assert_array_equal(one[key], two[key], err_msg=key)
        assert_array_equal(one[key], three[key], err_msg=key)


def test_cpu_builds_agree(problem, on_every_core):
    base, avx = on_every_core(lambda: _everything(problem, None))
    assert_allclose(avx["scores"], base["scores"], rtol=1e-9, atol=1e-12 * np.abs(base["scores"]).max())
    assert_allclose(avx["self"], base["self"], rtol=1e-9)
