"""Exact KNN-Shapley against brute-force enumeration of the Shapley formula (no recursion in the
oracle), for hard and soft labels, K < N, K = N, K > N and one training point."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import attrib
from attrib import _dispatch


def brute_force_knn_shapley(X, y, X_test, y_test, K, soft, n_classes):
    """sum over subsets S of others of |S|!(n-|S|-1)!/n! (U(S+i) - U(S)), U averaged over tests."""
    n = len(X)
    values = np.zeros(n)
    for t in range(len(X_test)):
        dist = ((X - X_test[t]) ** 2).sum(axis=1)
        rank = np.empty(n, int)
        rank[np.lexsort((np.arange(n), dist))] = np.arange(n)

        def U(S, rank=rank, t=t):
            if not S:
                return 1.0 / n_classes if soft else 0.0
            top = sorted(S, key=lambda i: rank[i])[: min(K, len(S))]
            hits = sum(y[i] == y_test[t] for i in top)
            return hits / len(top) if soft else hits / K

        for i in range(n):
            others = [j for j in range(n) if j != i]
            for r in range(n):
                w = math.factorial(r) * math.factorial(n - r - 1) / math.factorial(n)
                for S in itertools.combinations(others, r):
                    values[i] += w * (U(list(S) + [i]) - U(list(S)))
    return values / len(X_test)


@pytest.mark.parametrize("soft", [False, True], ids=["hard", "soft"])
@pytest.mark.parametrize("n,K", [(7, 1), (7, 3), (7, 7), (6, 9), (8, 20), (1, 1), (1, 4), (2, 1)])
def test_equals_brute_force(rng, n, K, soft):
    X = rng.normal(size=(n, 3))
    y = rng.integers(0, 3, n)
    y[:2] = [0, 1][: min(2, n)]
    if n == 1:  # one point still needs two classes in y for the facade; test the kernel directly
        Xt = rng.normal(size=(5, 3))
        yt = rng.integers(0, 3, 5)
        got = _dispatch.core.knn_shapley(X, y.astype(np.int64), Xt, yt.astype(np.int64), K, soft, 3, 1)
        assert_allclose(got, brute_force_knn_shapley(X, y, Xt, yt, K, soft, 3), rtol=0, atol=1e-12)
        return
    Xt = rng.normal(size=(5, 3))
    yt = rng.integers(0, 3, 5)
    got = attrib.knn_shapley(X, y, Xt, yt, k=K, soft_label=soft)
    n_classes = np.unique(y).size
    assert_allclose(got.values, brute_force_knn_shapley(X, y, Xt, yt, K, soft, n_classes), rtol=0, atol=1e-12)
    assert got.converged and (got.stderr == 0).all()


def test_ties_broken_by_training_index(rng):
    # Integer features: many equal distances, computed exactly in floating point.
    X = rng.integers(0, 3, size=(8, 2)).astype(float)
    y = rng.integers(0, 2, 8)
    y[:2] = [0, 1]
    Xt = rng.integers(0, 3, size=(4, 2)).astype(float)
    yt = rng.integers(0, 2, 4)
    for soft in (False, True):
        got = attrib.knn_shapley(X, y, Xt, yt, k=3, soft_label=soft).values
        assert_allclose(got, brute_force_knn_shapley(X, y, Xt, yt, 3, soft, 2), rtol=0, atol=1e-12)


def test_efficiency_hard_label(rng):
    # Shapley values sum to U(D) - U(empty) = mean over tests of (1/K) #matches among K nearest.
    X = rng.normal(size=(300, 5))
    y = rng.integers(0, 4, 300)
    Xt = rng.normal(size=(40, 5))
    yt = rng.integers(0, 4, 40)
    K = 5
    got = attrib.knn_shapley(X, y, Xt, yt, k=K).values
    d = ((Xt[:, None, :] - X[None]) ** 2).sum(-1)
    nearest = np.argsort(d, axis=1, kind="stable")[:, :K]
    assert_allclose(got.sum(), (y[nearest] == yt[:, None]).mean(axis=1).sum() / len(Xt), rtol=1e-12)


def test_string_labels_and_unseen_test_label(rng):
    X = rng.normal(size=(9, 2))
    y = np.array(list("abcabcabc"))
    Xt = rng.normal(size=(3, 2))
    yt = np.array(["a", "z", "c"])  # 'z' never matches
    got = attrib.knn_shapley(X, y, Xt, yt, k=2).values
    codes = {"a": 0, "b": 1, "c": 2, "z": -1}
    ref = brute_force_knn_shapley(X, np.array([codes[v] for v in y]), Xt, np.array([codes[v] for v in yt]), 2, False, 3)
    assert_allclose(got, ref, rtol=0, atol=1e-12)


def test_bitwise_identical_for_any_thread_count(core):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(2000, 8))
    y = rng.integers(0, 3, 2000)
    Xt = rng.normal(size=(300, 8))
    yt = rng.integers(0, 3, 300)
    for soft in (False, True):
        one = attrib.knn_shapley(X, y, Xt, yt, k=5, soft_label=soft, n_jobs=1).values
        two = attrib.knn_shapley(X, y, Xt, yt, k=5, soft_label=soft, n_jobs=2).values
        assert_array_equal(one, two)


def test_cpu_variants_agree(on_every_core):
    rng = np.random.default_rng(4)
    X = rng.normal(size=(500, 6))
    y = rng.integers(0, 2, 500)
    Xt = rng.normal(size=(50, 6))
    yt = rng.integers(0, 2, 50)
    out = on_every_core(lambda: attrib.knn_shapley(X, y, Xt, yt, k=5).values)
    assert_allclose(out[0], out[1], rtol=0, atol=1e-14)


def test_bad_inputs(rng):
    X = rng.normal(size=(10, 2))
    y = np.array([0, 1] * 5)
    Xt = rng.normal(size=(3, 2))
    yt = np.array([0, 1, 0])
    with pytest.raises(ValueError, match="at least 2 classes"):
        attrib.knn_shapley(X, np.zeros(10), Xt, yt)
    with pytest.raises(ValueError, match="X_test must have at least one row"):
        attrib.knn_shapley(X, y, np.zeros((0, 2)), np.zeros(0))
    with pytest.raises(ValueError, match="k must be >= 1"):
        attrib.knn_shapley(X, y, Xt, yt, k=0)
    with pytest.raises(TypeError, match="k must be a positive integer"):
        attrib.knn_shapley(X, y, Xt, yt, k=2.5)
    Xn = X.copy()
    Xn[4, 1] = np.nan
    with pytest.raises(ValueError, match=r"X contains NaN or inf \(first at row 4, column 1"):
        attrib.knn_shapley(Xn, y, Xt, yt)
    with pytest.raises(ValueError, match="X_test has 3 features but the training data has 2"):
        attrib.knn_shapley(X, y, np.zeros((3, 3)), yt)
    with pytest.raises(ValueError, match="X has 10 rows but y has 9"):
        attrib.knn_shapley(X, y[:9], Xt, yt)
    with pytest.raises(ValueError, match="not an integer"):
        attrib.knn_shapley(X, y + 0.5, Xt, yt)
    with pytest.raises(TypeError, match="noconvert|incompatible"):
        _dispatch.core.knn_shapley(X.astype(np.float32), y, Xt, yt, 1, False, 2, 1)


def test_equals_stored_pydvl_values():
    # pyDVL 0.10's KNNShapleyValuation on continuous data (no distance ties), written by
    # bench/make_pydvl_knn_reference.py; pyDVL itself needs numpy < 2 and is not a test dependency.
    from pathlib import Path

    ref = np.load(Path(__file__).parent / "data" / "pydvl_knn_shapley.npz")
    for k in (1, 5, 20):
        got = attrib.knn_shapley(ref["X"], ref["y"], ref["X_test"], ref["y_test"], k=k).values
        assert_allclose(got, ref[f"values_k{k}"], rtol=0, atol=1e-12)
