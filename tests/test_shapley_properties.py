"""Property tests (Hypothesis) for the Shapley engines: exact KNN-Shapley against brute force on
random small problems with ties, and identities that every Monte Carlo Shapley estimate must
satisfy exactly, whatever the permutations drawn: additive games, null players, efficiency."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from numpy.testing import assert_allclose
from test_knn_shapley import brute_force_knn_shapley

import attrib


@st.composite
def knn_problems(draw):
    n = draw(st.integers(2, 7))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    # Few distinct coordinates: duplicated points and equal distances (ties) are common.
    X = rng.integers(0, 3, size=(n, 2)).astype(float)
    y = rng.integers(0, 3, size=n)
    y[:2] = [0, 1]
    Xt = rng.integers(0, 3, size=(3, 2)).astype(float)
    yt = rng.integers(0, 3, size=3)
    K = draw(st.integers(1, 9))
    soft = draw(st.booleans())
    return X, y, Xt, yt, K, soft


@given(knn_problems())
def test_knn_shapley_equals_brute_force(problem):
    X, y, Xt, yt, K, soft = problem
    got = attrib.knn_shapley(X, y, Xt, yt, k=K, soft_label=soft)
    want = brute_force_knn_shapley(X, y, Xt, yt, K, soft, np.unique(y).size)
    assert_allclose(got.values, want, rtol=0, atol=1e-12)


def _shapley(n, utility, semivalue="shapley", **kw):
    return attrib.data_shapley(n, utility=utility, semivalue=semivalue, rtol=None, progress=False, **kw)


@given(
    a=st.lists(st.floats(-5, 5, allow_nan=False), min_size=2, max_size=10),
    perms=st.integers(1, 12),
    seed=st.integers(0, 2**31 - 1),
    antithetic=st.booleans(),
)
def test_additive_game_values_are_exact_for_any_sample(a, perms, seed, antithetic):
    # u(S) = sum of a_i: every marginal of i is a_i, so every permutation estimate is exact.
    a = np.array(a)
    res = _shapley(a.size, lambda S: float(a[S].sum()), max_permutations=perms, seed=seed, antithetic=antithetic)
    assert_allclose(res.values, a, rtol=0, atol=1e-12 * (1 + np.abs(a).max()))


@given(
    n=st.integers(2, 9),
    null=st.sets(st.integers(0, 8), max_size=4),
    perms=st.integers(1, 10),
    seed=st.integers(0, 2**31 - 1),
    semivalue=st.sampled_from(["shapley", "beta(1, 4)", "beta(4, 1)"]),
)
def test_null_players_get_exactly_zero(n, null, perms, seed, semivalue):
    # A player that never changes the utility has marginal 0 in every permutation, whatever the
    # position weights of the semivalue.
    null = sorted(i for i in null if i < n)
    w = np.arange(1, n + 1)  # integers: the sum over a subset is exact in any order
    w[null] = 0

    def utility(S):
        t = int(w[S].sum())
        return float(np.sin(t) + t**2)

    res = _shapley(n, utility, semivalue=semivalue, max_permutations=perms, seed=seed)
    assert (res.values[null] == 0.0).all()


@given(n=st.integers(2, 9), perms=st.integers(1, 10), seed=st.integers(0, 2**31 - 1), salt=st.integers(0, 10**6))
def test_efficiency_holds_for_any_game_and_sample(n, perms, seed, salt):
    # Shapley estimates from whole permutations (no truncation) sum to u(D) - u(empty) exactly.
    def utility(S):
        key = sum(1 << int(i) for i in S) + salt
        return float(np.sin(key * 0.7) * 3.0 + np.cos(key * 1.3))

    res = _shapley(n, utility, max_permutations=perms, seed=seed)
    total = utility(np.arange(n)) - utility(np.array([], dtype=np.int64))
    assert abs(res.values.sum() - total) <= 1e-12 * (1.0 + abs(total)) * n
