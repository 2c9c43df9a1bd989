"""attrib.select: DsDm's top-k rule against a brute-force search, the baselines, bad input."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import attrib


@pytest.mark.parametrize("sign", ["positive", "negative"])
@pytest.mark.parametrize("trial", range(5))
def test_dsdm_is_the_best_k_subset(rng, sign, trial):
    n, T, k = 9, 4, 3 + trial % 3
    scores = rng.normal(size=(n, T))
    w = rng.uniform(0, 2, size=T)
    r = attrib.select(scores, k, target_weights=w, sign=sign)
    s = 1.0 if sign == "positive" else -1.0
    # brute force: the k-subset with the largest total estimated benefit to the weighted targets
    best = max(itertools.combinations(range(n), k), key=lambda S: s * scores[list(S)].sum(0) @ w)
    assert set(r.indices.tolist()) == set(best)
    assert r.mask.sum() == k and r.mask[list(best)].all()
    np.testing.assert_allclose(r.benefit, s * scores @ (w / w.sum()))
    assert (np.diff(r.benefit[r.indices]) <= 0).all()  # best first
    np.testing.assert_array_equal(r.top(k), r.indices)


def test_default_weights_are_the_mean_and_ties_go_to_the_lower_index():
    scores = np.array([[1.0, 1.0], [2.0, 0.0], [0.0, 0.0], [1.5, 0.5]])
    r = attrib.select(scores, 3)
    np.testing.assert_array_equal(r.indices, [0, 1, 3])
    np.testing.assert_allclose(r.target_weights, [0.5, 0.5])
    # negative weights (avoid hurting a target) are used as given
    r = attrib.select(scores, 1, target_weights=[1.0, -3.0])
    np.testing.assert_array_equal(r.indices, [1])


def test_one_column_scores_and_results():
    v = attrib.ShapleyResult([0.1, -0.2, 0.3], np.zeros(3), np.ones(3), True, method="x")
    np.testing.assert_array_equal(attrib.select(v, 2).indices, [2, 0])
    np.testing.assert_array_equal(attrib.select(np.array([0.1, -0.2, 0.3]), 2, sign="negative").indices, [1, 0])


def test_random_selection(rng):
    scores = rng.normal(size=(50, 3))
    a = attrib.select(scores, 10, method="random", seed=4)
    b = attrib.select(scores, 10, method="random", seed=4)
    c = attrib.select(scores, 10, method="random", seed=5)
    np.testing.assert_array_equal(a.indices, b.indices)
    assert set(a.indices) != set(c.indices)
    assert len(set(a.indices.tolist())) == 10 and a.target_weights is None
    # the candidates are equally likely
    counts = np.zeros(50)
    for seed in range(400):
        counts += attrib.select(None, 10, method="random", seed=seed, X=np.ones((50, 1))).mask
    assert counts.min() > 40 and counts.max() < 125  # mean 80


def test_similarity_baseline(rng):
    X = rng.normal(size=(30, 5))
    Xt = X[[3, 7]] * 2.0  # cosine similarity ignores the scale
    r = attrib.select(None, 2, method="similarity", X=X, X_target=Xt, target_weights=[1, 1])
    Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
    Tn = Xt / np.linalg.norm(Xt, axis=1, keepdims=True)
    np.testing.assert_allclose(r.benefit, (Xn @ Tn.T).mean(1))
    assert set(r.indices.tolist()) == {3, 7} or r.benefit[r.indices].min() >= r.benefit[[3, 7]].min()


def test_bad_input(rng):
    scores = rng.normal(size=(5, 2))
    with pytest.raises(ValueError, match="k=6 is more than the 5 candidates"):
        attrib.select(scores, 6)
    with pytest.raises(ValueError, match="k must be >= 1"):
        attrib.select(scores, 0)
    with pytest.raises(TypeError, match="k must be a positive integer"):
        attrib.select(scores, 2.5)
    bad = scores.copy()
    bad[1, 1] = np.nan
    with pytest.raises(ValueError, match="scores contains NaN"):
        attrib.select(bad, 2)
    with pytest.raises(ValueError, match=r"one entry per target \(2\), got 3 entries"):
        attrib.select(scores, 2, target_weights=[1, 2, 3])
    with pytest.raises(ValueError, match="zero for every target"):
        attrib.select(scores, 2, target_weights=[0, 0])
    with pytest.raises(ValueError, match="target_weights contains NaN"):
        attrib.select(scores, 2, target_weights=[1, np.inf])
    with pytest.raises(ValueError, match="sign must be"):
        attrib.select(scores, 2, sign="+")
    with pytest.raises(ValueError, match="method must be"):
        attrib.select(scores, 2, method="dsir")
    with pytest.raises(ValueError, match="needs scores"):
        attrib.select(None, 2)
    with pytest.raises(ValueError, match="needs the candidates' features"):
        attrib.select(scores, 2, method="similarity")
    with pytest.raises(ValueError, match="X_target has 2 features"):
        attrib.select(None, 2, method="similarity", X=np.ones((5, 3)), X_target=np.ones((2, 2)))
    with pytest.raises(ValueError, match="all-zero row"):
        attrib.select(None, 2, method="similarity", X=np.zeros((5, 3)), X_target=np.ones((2, 3)))
    with pytest.raises(ValueError, match="number of candidates"):
        attrib.select(None, 2, method="random")
    with pytest.raises(ValueError, match="seed must be"):
        attrib.select(scores, 2, method="random", seed=-3)
