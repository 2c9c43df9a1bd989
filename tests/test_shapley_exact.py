"""Monte Carlo semivalues against exact values from enumerating all 2^n subsets, each subset's
utility from a fresh scikit-learn fit (n <= 10). Fixed seeds throughout."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.special import beta as beta_fn
from scipy.special import comb
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import accuracy_score, r2_score
from threadpoolctl import threadpool_limits

import attrib


def all_subset_utilities(n, utility):
    return {S: utility(np.array(S, dtype=int)) for r in range(n + 1) for S in itertools.combinations(range(n), r)}


def exact_semivalue(n, u, kind, a=1.0, b=1.0):
    """phi_i = sum_{S not containing i} coef(|S|) (u(S + i) - u(S))."""

    def coef(k):
        if kind == "shapley":
            return 1.0 / (n * comb(n - 1, k))
        if kind == "banzhaf":
            return 1.0 / 2 ** (n - 1)
        return beta_fn(k + b, n - 1 - k + a) / beta_fn(a, b)  # per-subset Beta(a, b) weight

    phi = np.zeros(n)
    for S, uS in u.items():
        for i in range(n):
            if i not in S:
                phi[i] += coef(len(S)) * (u[tuple(sorted(S + (i,)))] - uS)
    return phi


@pytest.fixture(scope="module")
def ridge_game():
    rng = np.random.default_rng(12)
    n, d = 10, 3
    X = rng.normal(size=(n, d))
    y = X @ np.array([1.0, -1.0, 0.5]) + rng.normal(size=n)
    y[3] += 4.0  # an outlier with a clearly negative value
    Xt = rng.normal(size=(60, d))
    yt = Xt @ np.array([1.0, -1.0, 0.5]) + 0.5 * rng.normal(size=60)

    def utility(idx):
        if idx.size == 0:
            return 0.0
        return r2_score(yt, Ridge(alpha=0.5).fit(X[idx], y[idx]).predict(Xt))

    return X, y, Xt, yt, all_subset_utilities(n, utility)


@pytest.fixture(scope="module")
def logistic_game():
    rng = np.random.default_rng(5)
    n, d = 8, 2
    X = rng.normal(size=(n, d))
    y = (X[:, 0] + 0.8 * rng.normal(size=n) > 0).astype(int)
    y[:2] = [0, 1]
    y[5] = 1 - y[5]  # a flipped label
    Xt = rng.normal(size=(80, d))
    yt = (Xt[:, 0] > 0).astype(int)

    def utility(idx):
        if idx.size == 0:
            return max(yt.mean(), 1 - yt.mean())  # test-set majority class
        model = (
            DummyClassifier(strategy="most_frequent")
            if np.unique(y[idx]).size < 2
            else LogisticRegression(C=2.0, solver="newton-cholesky", tol=1e-12)
        )
        return accuracy_score(yt, model.fit(X[idx], y[idx]).predict(Xt))

    return X, y, Xt, yt, all_subset_utilities(n, utility)


CASES = [
    ("shapley", "shapley", ()),
    ("beta(4,1)", "beta", (4.0, 1.0)),
    ("beta(1,4)", "beta", (1.0, 4.0)),
    ("banzhaf", "banzhaf", ()),
]


def check_coverage(game, semivalue, kind, ab, **kw):
    """The estimate's 95% intervals cover the exact values (10 points at a fixed seed)."""
    X, y, Xt, yt, u = game
    exact = exact_semivalue(len(X), u, kind, *ab)
    budget = 20000 if kind == "banzhaf" else 3000
    res = attrib.data_shapley(
        X, y, Xt, yt, semivalue=semivalue, max_permutations=budget, rtol=None, progress=False, **kw
    )
    z = np.abs(res.values - exact) / np.maximum(res.stderr, 1e-300)
    assert (z < 4).all(), z
    assert np.mean(z < 1.96) >= 0.7
    return res


@pytest.mark.parametrize("semivalue,kind,ab", CASES, ids=[c[0] for c in CASES])
def test_ridge_estimates_cover_exact_values(ridge_game, semivalue, kind, ab):
    res = check_coverage(ridge_game, semivalue, kind, ab, utility="ridge", alpha=0.5, seed=1)
    assert not res.converged and res.status == "max_permutations reached"


@pytest.mark.parametrize("semivalue,kind,ab", CASES[:2] + CASES[3:], ids=["shapley", "beta(4,1)", "banzhaf"])
def test_logistic_estimates_cover_exact_values(logistic_game, semivalue, kind, ab):
    check_coverage(logistic_game, semivalue, kind, ab, utility="logistic", C=2.0, seed=2)


def test_efficiency_of_every_permutation(ridge_game):
    # Shapley along each permutation telescopes: the values sum to u(D) - u(empty) exactly.
    X, y, Xt, yt, u = ridge_game
    res = attrib.data_shapley(X, y, Xt, yt, utility="ridge", alpha=0.5, max_permutations=64, rtol=None, progress=False)
    assert abs(res.values.sum() - (u[tuple(range(len(X)))] - u[()])) < 1e-12


def test_error_shrinks_like_one_over_sqrt_permutations(ridge_game):
    X, y, Xt, yt, u = ridge_game
    exact = exact_semivalue(len(X), u, "shapley")

    def rmse(p):
        errs = [
            attrib.data_shapley(
                X, y, Xt, yt, utility="ridge", alpha=0.5, max_permutations=p, rtol=None, seed=s, progress=False
            ).values
            - exact
            for s in range(8)
        ]
        return np.sqrt(np.mean(np.square(errs)))

    ratio = rmse(64) / rmse(1024)  # 16x the permutations: expect 4x smaller error
    assert 2.5 < ratio < 6.5, ratio


def test_antithetic_pairs_are_unbiased_and_counted_as_one_sample(ridge_game):
    X, y, Xt, yt, u = ridge_game
    exact = exact_semivalue(len(X), u, "shapley")
    res = attrib.data_shapley(
        X,
        y,
        Xt,
        yt,
        utility="ridge",
        alpha=0.5,
        max_permutations=3000,
        rtol=None,
        antithetic=True,
        seed=4,
        progress=False,
    )
    assert res.n_samples == 1500 and (res.counts == 1500).all()
    assert (np.abs(res.values - exact) / res.stderr < 4).all()


def test_builtin_and_estimator_paths_agree(logistic_game):
    # The generic path (clone + fit + score per subset) with the same permutations and rules.
    X, y, Xt, yt, _ = logistic_game
    kw = dict(max_permutations=40, rtol=None, seed=9, progress=False)
    fast = attrib.data_shapley(X, y, Xt, yt, utility="logistic", C=2.0, **kw)
    slow = attrib.data_shapley(
        X,
        y,
        Xt,
        yt,
        utility=LogisticRegression(C=2.0, solver="newton-cholesky", tol=1e-12),
        scoring="accuracy",
        empty_score=max(yt.mean(), 1 - yt.mean()),
        **kw,
    )
    np.testing.assert_allclose(fast.values, slow.values, rtol=0, atol=1e-12)
    np.testing.assert_allclose(fast.stderr, slow.stderr, rtol=0, atol=1e-12)


@pytest.fixture(scope="module")
def knn_game():
    from sklearn.neighbors import KNeighborsClassifier

    rng = np.random.default_rng(8)
    n = 8
    X = rng.normal(size=(n, 2))
    y = (X[:, 1] > 0).astype(int)
    y[[2, 6]] = 1 - y[[2, 6]]  # two flipped labels
    y[:2] = [0, 1]
    Xt = rng.normal(size=(50, 2))
    yt = (Xt[:, 1] > 0).astype(int)

    def utility(idx):
        if idx.size == 0:
            return max(yt.mean(), 1 - yt.mean())
        model = KNeighborsClassifier(n_neighbors=min(3, idx.size), algorithm="brute").fit(X[idx], y[idx])
        return accuracy_score(yt, model.predict(Xt))

    with threadpool_limits(1):  # scikit-learn's threaded neighbour search is slow on tiny problems
        return X, y, Xt, yt, all_subset_utilities(n, utility)


@pytest.mark.parametrize("semivalue,kind,ab", CASES[:2] + CASES[3:], ids=["shapley", "beta(4,1)", "banzhaf"])
def test_knn_estimates_cover_exact_values(knn_game, semivalue, kind, ab):
    X, y, Xt, yt, u = knn_game
    exact = exact_semivalue(len(X), u, kind, *ab)
    budget = 20000 if kind == "banzhaf" else 3000
    res = attrib.data_shapley(
        X,
        y,
        Xt,
        yt,
        utility="knn",
        k=3,
        semivalue=semivalue,
        max_permutations=budget,
        rtol=None,
        seed=3,
        progress=False,
    )
    z = np.abs(res.values - exact) / res.stderr
    assert (z < 4).all(), z
    assert np.mean(z < 1.96) >= 0.7
