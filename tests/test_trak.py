"""TRAK: oracles. The newton estimator is attrib.glm_loo's Newton step on a logistic regression
whose design is the features; the default estimator is the same kernel with R -> I and no leverage
term; ensembles, traker's weighting, soft-thresholding, top-k and self-influence against numpy."""

from __future__ import annotations

import numpy as np
import pytest
from _trak_doubles import DenseProjector, IdentityProjector
from numpy.testing import assert_allclose, assert_array_equal

import attrib
import attrib.trak as trak_module


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _logistic(rng, n, d):
    """Design with an intercept column, exactly representable in float32 (features are float32)."""
    X = np.hstack([np.ones((n, 1)), rng.normal(size=(n, d))]).astype(np.float32).astype(np.float64)
    beta = rng.normal(size=d + 1) * 0.8
    y = (rng.random(n) < _sigmoid(X @ beta)).astype(np.float64)
    return X, y


def _trak_inputs(X, y, theta):
    """TRAK's features for a logistic regression: the gradient of the correct-class margin
    (2y - 1) x'theta, i.e. (2y - 1) x, and Q = 1 - p(correct)."""
    sgn = 2.0 * y - 1.0
    pc = _sigmoid(sgn * (X @ theta))
    return (sgn[:, None] * X).astype(np.float32), 1.0 - pc


@pytest.mark.parametrize("C", [None, 0.5])
def test_newton_estimator_is_glm_newton_step_on_test_margins(rng, C):
    X, y = _logistic(rng, 400, 6)
    Xt, yt = _logistic(rng, 50, 6)
    m = attrib.glm_loo(X, y, family="logistic", C=C, fit_intercept=False, method="newton", refine=0)
    phi, q = _trak_inputs(X, y, m.coef_)
    phit, _ = _trak_inputs(Xt, yt, m.coef_)
    t = attrib.TRAK(
        projector=IdentityProjector(X.shape[1]), estimator="newton", lambda_reg=0.0 if C is None else 1.0 / C
    )
    t.add_checkpoint(phi, q)
    S = t.score(phit)
    # full-fit margin minus leave-one-out margin: (2 y_t - 1) x_t' (theta-hat - theta_(i))
    expected = (m.dcoef @ Xt.T) * (2.0 * yt - 1.0)[None, :]
    assert_allclose(S, expected, rtol=1e-8, atol=1e-8 * np.abs(expected).max())
    # leverages equal the GLM's; self-influence is the training margin's own change
    assert_allclose(t._ckpts[0].leverage, m.hat, rtol=1e-10, atol=1e-14)
    own = np.einsum("ij,ij->i", m.dcoef, X) * (2.0 * y - 1.0)
    assert_allclose(t.self_influence(), own, rtol=1e-8, atol=1e-8 * np.abs(own).max())


def test_trak_estimator_drops_R_and_leverage(rng):
    X, y = _logistic(rng, 300, 5)
    Xt, yt = _logistic(rng, 40, 5)
    m = attrib.glm_loo(X, y, family="logistic", C=None, fit_intercept=False, refine=0)
    phi, q = _trak_inputs(X, y, m.coef_)
    phit, _ = _trak_inputs(Xt, yt, m.coef_)
    t = attrib.TRAK(projector=IdentityProjector(X.shape[1]))
    t.add_checkpoint(phi, q)
    P, Pt = phi.astype(np.float64), phit.astype(np.float64)
    expected = q[:, None] * (P @ np.linalg.solve(P.T @ P, Pt.T))
    assert_allclose(t.score(phit), expected, rtol=1e-9, atol=1e-10 * np.abs(expected).max())
    # the same numbers from features given already projected (dim = k)
    t2 = attrib.TRAK(dim=X.shape[1])
    t2.add_checkpoint(phi, q)
    assert_array_equal(t2.score(phit), t.score(phit))


def _ensemble(rng, n=500, p=40, k=12, T=30, M=3):
    Gs = [rng.normal(size=(n, p)) for _ in range(M)]
    Gts = [rng.normal(size=(T, p)) for _ in range(M)]
    qs = [rng.uniform(0.05, 0.95, size=n) for _ in range(M)]
    projs = [DenseProjector(p, k, seed=10 + m) for m in range(M)]
    phis = [np.float32(P.project(np.float32(G))).astype(np.float64) for P, G in zip(projs, Gs)]
    phits = [np.float32(P.project(np.float32(G))).astype(np.float64) for P, G in zip(projs, Gts)]
    return Gs, Gts, qs, projs, phis, phits


@pytest.mark.parametrize("weighting", ["uniform", "trak"])
@pytest.mark.parametrize("lam", [0.0, 3.0])
def test_ensemble_matches_numpy(rng, weighting, lam):
    Gs, Gts, qs, projs, phis, phits = _ensemble(rng)
    t = attrib.TRAK(projector=projs, lambda_reg=lam, weighting=weighting)
    for G, q in zip(Gs, qs):
        t.add_checkpoint(G, q)
    M = len(Gs)
    acc = 0.0
    for P, Pt in zip(phis, phits):
        K = P.T @ P + lam * np.eye(P.shape[1])
        Kinv = np.linalg.inv(K)
        w = 1.0 / np.abs(Kinv).mean() if weighting == "trak" else 1.0
        acc = acc + w * (P @ np.linalg.solve(K, Pt.T))
    qbar = sum(qs) / M
    expected = qbar[:, None] * acc / M
    S = t.score(Gts)
    assert_allclose(S, expected, rtol=1e-8, atol=1e-9 * np.abs(expected).max())
    # soft-thresholding of the averaged scores
    thr = float(np.quantile(np.abs(expected), 0.5))
    St = t.score(Gts, soft_threshold=thr)
    assert_allclose(St, np.sign(S) * np.maximum(np.abs(S) - thr, 0.0), rtol=0, atol=1e-15)
    # self-influence is the diagonal of the train x train scores
    assert_allclose(t.self_influence(), np.diag(t.score(Gs)), rtol=1e-10)


def test_top_k_is_the_dense_ranking_across_tiles(rng, monkeypatch):
    Gs, Gts, qs, projs, _, _ = _ensemble(rng, n=1100, T=70, M=2)
    monkeypatch.setattr(trak_module, "_rows_per_call", lambda k: 256)  # several training tiles
    t = attrib.TRAK(projector=projs)
    for G, q in zip(Gs, qs):
        t.add_checkpoint(G, q)
    S = t.score(Gts)
    top = t.score(Gts, top_k=7)
    assert_array_equal(top.proponent_idx, np.argsort(-S, axis=0, kind="stable")[:7].T)
    assert_array_equal(top.opponent_idx, np.argsort(S, axis=0, kind="stable")[:7].T)
    assert_array_equal(top.proponent_val, np.take_along_axis(S, top.proponent_idx.T, 0).T)
    assert_array_equal(top.opponent_val, np.take_along_axis(S, top.opponent_idx.T, 0).T)
    # test points in chunks (as for many test points): the same ranking
    monkeypatch.setattr(trak_module, "TOPK_TEST_CHUNK", 64)
    chunked = t.score(Gts, top_k=7)
    assert_array_equal(chunked.proponent_idx, top.proponent_idx)
    assert_array_equal(chunked.opponent_idx, top.opponent_idx)
    assert_allclose(chunked.proponent_val, top.proponent_val, rtol=1e-12)
    # top_k larger than n keeps every training point, ranked
    full = t.score([G[:3] for G in Gts], top_k=5000)
    assert full.proponent_idx.shape == (3, 1100)
    assert_array_equal(np.sort(full.proponent_idx, axis=1), np.tile(np.arange(1100), (3, 1)))


def test_top_k_ties_go_to_the_lower_index(rng):
    phi = rng.normal(size=(60, 4)).astype(np.float32)
    phi = np.vstack([phi, phi[:10]])  # rows 60..69 repeat rows 0..9: equal scores
    t = attrib.TRAK(dim=4)
    t.add_checkpoint(phi, np.full(70, 0.5))
    S = t.score(phi[:5])
    top = t.score(phi[:5], top_k=70)
    assert_array_equal(top.proponent_idx, np.argsort(-S, axis=0, kind="stable").T)
    assert_array_equal(top.opponent_idx, np.argsort(S, axis=0, kind="stable").T)


def test_memory_mapped_features_give_the_same_bits(rng, tmp_path, monkeypatch):
    monkeypatch.setattr(trak_module, "_rows_per_call", lambda k: 256)
    phi = rng.normal(size=(900, 20)).astype(np.float32)
    q = rng.uniform(0.1, 0.9, 900)
    path = tmp_path / "phi.npy"
    np.save(path, phi)
    a, b, c = attrib.TRAK(dim=20), attrib.TRAK(dim=20), attrib.TRAK(dim=20)
    a.add_checkpoint(phi, q)
    b.add_checkpoint(str(path), q)
    c.add_checkpoint(np.load(path, mmap_mode="r"), q)
    assert isinstance(b._ckpts[0].features, np.memmap)
    for other in (b, c):
        assert_array_equal(other.score(phi[:50]), a.score(phi[:50]))
        assert_array_equal(other.score(phi[:50], top_k=3).proponent_idx, a.score(phi[:50], top_k=3).proponent_idx)


def test_scores_are_invariant_to_feature_scale_without_ridge(rng):
    phi = rng.normal(size=(200, 8)).astype(np.float32)
    q = rng.uniform(0.1, 0.9, 200)
    a, b = attrib.TRAK(dim=8), attrib.TRAK(dim=8)
    a.add_checkpoint(phi, q)
    b.add_checkpoint(phi * np.float32(4.0), q)
    assert_allclose(b.score(phi[:9] * np.float32(4.0)), a.score(phi[:9]), rtol=1e-10)
