"""attrib.datamodels: the lasso against scikit-learn's Lasso on the same standardised masks,
ridge against Ridge, recovery of a planted sparse datamodel, the cross-validated protocol,
determinism, and bad input."""

from __future__ import annotations

import doctest
import importlib

import numpy as np
import pytest
from numpy.testing import assert_allclose

import attrib
from attrib.exceptions import ConvergenceWarning, StoppedEarlyWarning

sklearn = pytest.importorskip("sklearn")
from sklearn.linear_model import Lasso, Ridge  # noqa: E402


def _standardise(B):
    B = B.astype(float)
    mu, sd = B.mean(0), B.std(0)
    Xs = np.zeros_like(B)
    ok = sd > 0
    Xs[:, ok] = (B[:, ok] - mu[ok]) / sd[ok]
    return Xs, mu, sd


@pytest.fixture(scope="module")
def planted():
    rng = np.random.default_rng(12)
    n, m, T = 40, 300, 5
    masks = attrib.sample_subsets(n, m, alpha=0.5, seed=7)
    theta = np.zeros((n, T))
    for t in range(T):
        theta[rng.choice(n, 4, replace=False), t] = rng.normal(0, 1, 4)
    Y = masks.bool() @ theta + rng.normal(size=T) + 0.3 * rng.normal(size=(m, T))
    return masks, theta, Y


@pytest.mark.parametrize("l1", [0.3, 0.05, 0.01, 0.001])
def test_lasso_equals_sklearn(planted, core, l1):
    masks, _, Y = planted
    dm = attrib.datamodels(masks, Y, l1=l1, tol=1e-13, progress=False)
    Xs, mu, sd = _standardise(masks.bool())
    for t in range(Y.shape[1]):
        ref = Lasso(alpha=l1, tol=1e-12, max_iter=100_000).fit(Xs, Y[:, t])
        assert_allclose(dm.weights[:, t] * sd, ref.coef_, rtol=0, atol=1e-8)  # standardised weights
        assert_allclose(dm.weights[:, t], ref.coef_ / sd, rtol=0, atol=1e-8)
        assert_allclose(dm.intercept[t], ref.intercept_ - (ref.coef_ / sd) @ mu, rtol=0, atol=1e-8)
    assert_allclose(dm.l1, l1)
    assert_allclose(dm.predict(masks), masks.bool() @ dm.weights + dm.intercept)


def test_lasso_per_target_penalties_and_bernoulli_masks():
    rng = np.random.default_rng(2)
    masks = attrib.sample_subsets(25, 200, alpha=0.3, sampler="bernoulli", seed=1)
    Y = masks.bool() @ rng.normal(size=(25, 3)) + rng.normal(size=(200, 3))
    lams = np.array([0.2, 0.02, 0.0])
    dm = attrib.datamodels(masks, Y, l1=lams, tol=1e-13, progress=False)
    Xs, _, sd = _standardise(masks.bool())
    for t, lam in enumerate(lams[:2]):
        ref = Lasso(alpha=lam, tol=1e-12, max_iter=100_000).fit(Xs, Y[:, t])
        assert_allclose(dm.weights[:, t] * sd, ref.coef_, atol=1e-8)
    ols = np.linalg.lstsq(np.hstack([np.ones((200, 1)), masks.bool()]), Y[:, 2], rcond=None)[0]
    assert_allclose(dm.weights[:, 2], ols[1:], atol=1e-6)


def test_recovers_a_planted_sparse_datamodel(planted):
    masks, theta, Y = planted
    dm = attrib.datamodels(masks, Y, progress=False)
    for t in range(Y.shape[1]):
        true = np.flatnonzero(theta[:, t])
        big = np.abs(theta[:, t]) > 0.3
        assert set(np.flatnonzero(big)) <= set(np.flatnonzero(dm.weights[:, t]))
        assert np.abs(dm.weights[:, t] - theta[:, t]).max() < 0.25  # lasso shrinkage ~ lambda / sigma
        assert np.corrcoef(dm.weights[:, t], theta[:, t])[0, 1] > 0.97
        strongest = true[np.argmax(theta[true, t])]
        if theta[strongest, t] > 0.3:
            assert dm.top(1, target=t)[0] == strongest
    assert dm.lambda_path.shape[0] == Y.shape[1] and dm.val_mse.shape == dm.lambda_path.shape
    assert dm.complete and dm.converged.all()


def test_cv_refits_all_subsets_at_the_chosen_penalty(planted):
    masks, _, Y = planted
    dm = attrib.datamodels(masks, Y, l1="cv", tol=1e-13, progress=False)
    m = len(masks)
    split = m - round(0.1 * m)
    for t in range(Y.shape[1]):
        k = int(np.nanargmin(dm.val_mse[t]))
        assert dm.l1[t] == dm.lambda_path[t, k]
        # the path is fitted on the first rows: its grid starts at their lambda_max
        Xtr, _, _ = _standardise(masks.bool()[:split])
        yc = Y[:split, t] - Y[:split, t].mean()
        assert_allclose(dm.lambda_path[t, 0], np.abs(Xtr.T @ yc).max() / split, rtol=1e-12)
    again = attrib.datamodels(masks, Y, l1=dm.l1, tol=1e-13, progress=False)
    assert_allclose(again.weights, dm.weights, atol=1e-8)


def test_ridge_equals_sklearn(planted):
    masks, _, Y = planted
    dm = attrib.datamodels(masks, Y, method="ridge", l2=5.0, progress=False)
    Xs, mu, sd = _standardise(masks.bool())
    for t in range(Y.shape[1]):
        ref = Ridge(alpha=5.0).fit(Xs, Y[:, t])
        assert_allclose(dm.weights[:, t], ref.coef_ / sd, atol=1e-10)
        assert_allclose(dm.intercept[t], ref.intercept_ - (ref.coef_ / sd) @ mu, atol=1e-10)
    cv = attrib.datamodels(masks, Y, method="ridge", progress=False)
    assert np.isin(cv.l2, cv.lambda_path[0]).all() and np.isnan(cv.l1).all()


def test_bitwise_identical_for_any_threads_and_chunks():
    rng = np.random.default_rng(0)
    masks = attrib.sample_subsets(50, 120, seed=3)
    Y = masks.bool() @ rng.normal(size=(50, 70)) + rng.normal(size=(120, 70))
    a = attrib.datamodels(masks, Y, n_jobs=1, progress=False)
    b = attrib.datamodels(masks, Y, n_jobs=2, progress=False)
    c = attrib.datamodels(masks, Y[:, 32:64], n_jobs=2, progress=False)  # a chunk at a block boundary
    assert a.weights.tobytes() == b.weights.tobytes() and a.intercept.tobytes() == b.intercept.tobytes()
    assert c.weights.tobytes() == np.ascontiguousarray(a.weights[:, 32:64]).tobytes()
    d = attrib.datamodels(masks.bool(), Y, n_jobs=2, progress=False)  # a boolean matrix works the same
    assert d.weights.tobytes() == a.weights.tobytes()


def test_points_in_every_subset_get_zero_weight():
    B = attrib.sample_subsets(12, 80, seed=1).bool()
    B[:, 3] = True
    B[:, 5] = False
    y = B @ np.arange(12.0)
    dm = attrib.datamodels(B, y, l1=0.01, progress=False)
    assert dm.weights[3, 0] == 0 and dm.weights[5, 0] == 0 and np.isfinite(dm.weights).all()


def test_max_sweeps_warns():
    rng = np.random.default_rng(0)
    masks = attrib.sample_subsets(30, 100, seed=3)
    y = masks.bool() @ rng.normal(size=30)
    with pytest.warns(ConvergenceWarning, match="max_sweeps"):
        attrib.datamodels(masks, y, l1=1e-4, max_sweeps=1, tol=1e-14, progress=False)


def test_bad_input():
    masks = attrib.sample_subsets(10, 30, seed=0)
    y = np.random.default_rng(0).normal(size=(30, 2))
    with pytest.raises(ValueError, match="masks have 30 subsets .* outputs have 29"):
        attrib.datamodels(masks, y[:29])
    with pytest.raises(ValueError, match="NaN"):
        attrib.datamodels(masks, np.where(y > 1, np.nan, y))
    with pytest.raises(ValueError, match=r"same on every subset \(targets 1\)"):
        attrib.datamodels(masks, np.column_stack([y[:, 0], np.ones(30)]))
    dm = attrib.datamodels(masks, np.column_stack([y[:, 0], np.ones(30)]), constant="zero", progress=False)
    assert (dm.weights[:, 1] == 0).all() and dm.intercept[1] == 1.0
    with pytest.raises(TypeError, match="pick one"):
        attrib.datamodels(masks, {"margin": y})
    with pytest.raises(ValueError, match="method"):
        attrib.datamodels(masks, y, method="elasticnet")
    with pytest.raises(ValueError, match="l1 must be finite and >= 0"):
        attrib.datamodels(masks, y, l1=-1.0)
    with pytest.raises(ValueError, match="one entry per target"):
        attrib.datamodels(masks, y, l1=[0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="2-D"):
        attrib.datamodels(np.ones(30), y)
    with pytest.raises(ValueError, match="only 0 and 1"):
        attrib.datamodels(np.full((30, 10), 0.5), y)
    with pytest.raises(ValueError, match="too few"):
        attrib.datamodels(masks[:2], y[:2])


@pytest.mark.parametrize("name", ["attrib.datamodels", "attrib._retrain"])
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    failed, tried = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS)
    assert failed == 0 and tried > 0


def test_ctrl_c_keeps_the_targets_done(monkeypatch):
    from attrib import _dispatch, _progress

    rng = np.random.default_rng(0)
    masks = attrib.sample_subsets(20, 60, seed=3)
    Y = masks.bool() @ rng.normal(size=(20, 100)) + rng.normal(size=(60, 100))
    full = attrib.datamodels(masks, Y, l1=0.05, progress=False)
    real = _dispatch.core.lasso_at
    calls = []

    def interrupted_after_one(*args, **kwargs):
        calls.append(1)
        if len(calls) > 1:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(_dispatch.core, "lasso_at", interrupted_after_one)
    monkeypatch.setattr(_progress, "BLOCK_SECONDS", 1e-9)  # chunks of one block (32 targets)
    with pytest.warns(StoppedEarlyWarning, match="32 of 100 targets"):
        part = attrib.datamodels(masks, Y, l1=0.05, progress=False)
    assert not part.complete
    assert part.weights[:, :32].tobytes() == np.ascontiguousarray(full.weights[:, :32]).tobytes()
    assert np.isnan(part.weights[:, 32:]).all()
