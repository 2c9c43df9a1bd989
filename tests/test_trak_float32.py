"""TRAK(compute_dtype=numpy.float32): float32 Gram and score products agree with the float64 path
within the documented error, keep every determinism promise, and the argument is checked."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import attrib

# Documented error (attrib.trak module docstring): about cond(G) 2^-24 sqrt(256) + 2^-24 sqrt(k)
# relative to |Q_i| |phi_i| |G^-1 phi_test|. These kernels have cond(G) < 10 (n >> k, Gaussian
# features), so that bound is ~3e-6 of the norm product; 2e-5 leaves room for the worst entries.
NORM_TOL = 2e-5


@pytest.fixture(scope="module")
def problem():
    rng = np.random.default_rng(11)
    n, k, T = 1500, 300, 70  # 2 x 2 Gram tiles, several float32 row blocks, 6 row tiles
    phis = [rng.normal(size=(n, k)).astype(np.float32) for _ in range(2)]
    tests = [rng.normal(size=(T, k)).astype(np.float32) for _ in range(2)]
    qs = [rng.uniform(0.05, 0.95, n) for _ in range(2)]
    return phis, tests, qs


def _fit(problem, dtype, n_jobs=None, **kw):
    phis, tests, qs = problem
    t = attrib.TRAK(dim=phis[0].shape[1], compute_dtype=dtype, n_jobs=n_jobs, **kw)
    for phi, q in zip(phis, qs):
        t.add_checkpoint(phi, q)
    return t


def _norm_bound(problem, t64):
    """|Q| |phi_i| |G^-1 phi_test_j| summed over checkpoints (the scale of each score's error)."""
    phis, tests, qs = problem
    qbar = np.mean(qs, axis=0)
    total = 0.0
    for c, phi, test in zip(t64._ckpts, phis, tests):
        L = c.chol
        Y = np.linalg.solve(L.T, np.linalg.solve(L, test.T.astype(np.float64)))  # k x T
        total = total + np.outer(np.linalg.norm(phi, axis=1), np.linalg.norm(Y, axis=0)) * c.weight
    return qbar[:, None] * total / len(phis)


@pytest.mark.parametrize("kw", [{}, {"weighting": "trak"}, {"lambda_reg": 50.0}, {"estimator": "newton"}], ids=str)
def test_float32_scores_agree_with_float64(problem, kw):
    phis, tests, _ = problem
    t64, t32 = _fit(problem, np.float64, **kw), _fit(problem, np.float32, **kw)
    assert t32.compute_dtype == np.float32 and t64.compute_dtype == np.float64
    S64, S32 = t64.score(tests), t32.score(tests)
    assert S32.dtype == np.float64 and S32.shape == S64.shape
    assert not np.array_equal(S32, S64)  # the float32 products really ran
    if kw.get("estimator") != "newton":  # (newton: other row scales; the max check below covers it)
        assert np.all(np.abs(S32 - S64) <= NORM_TOL * _norm_bound(problem, t64))
    assert np.abs(S32 - S64).max() <= 1e-4 * np.abs(S64).max()
    # the kernel's condition estimate and the factor come from nearly the same Gram matrix
    assert_allclose(t32.rcond, t64.rcond, rtol=1e-3)
    # self-influence is float64 in both modes, from the float32-accumulated kernel
    assert_allclose(t32.self_influence(), t64.self_influence(), rtol=1e-4)


def test_float32_top_k_matches_its_dense_scores(problem):
    _, tests, _ = problem
    t = _fit(problem, np.float32)
    S = t.score(tests)
    top = t.score(tests, top_k=4)
    order = np.argsort(-S, axis=0, kind="stable")[:4].T
    assert_array_equal(top.proponent_idx, order)
    assert_array_equal(top.proponent_val, np.take_along_axis(S.T, order, axis=1))


def test_float32_bitwise_for_any_n_jobs(problem, core):
    _, tests, _ = problem
    ref = _fit(problem, np.float32, n_jobs=1).score(tests)
    for n_jobs in (2, 3):
        assert_array_equal(_fit(problem, np.float32, n_jobs=n_jobs).score(tests), ref)


def test_float32_accepts_dtype_spellings(problem):
    for spelling in (np.float32, "float32", np.dtype("float32")):
        assert attrib.TRAK(dim=4, compute_dtype=spelling).compute_dtype == np.float32
    assert attrib.TRAK(dim=4).compute_dtype == np.float64  # the exact path stays the default


@pytest.mark.parametrize("bad", [np.float16, np.int32, "banana", object, np.complex128, None])
def test_bad_compute_dtype(bad):
    with pytest.raises(TypeError, match="compute_dtype"):
        attrib.TRAK(dim=4, compute_dtype=bad)
