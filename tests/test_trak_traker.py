"""Parity with MadryLab's traker 0.3.2 (CPU, float32): its own featurize / finalize / score pipeline,
then attrib.TRAK(weighting="trak") on the very features and out-to-loss weights traker stored."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from numpy.testing import assert_allclose

import attrib

torch = pytest.importorskip("torch")
trak = pytest.importorskip("trak")


def _run_traker(tmp_path, n=300, T=25, k=48, M=2):
    from trak.projectors import BasicProjector, ProjectionType

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(6, 30), torch.nn.Tanh(), torch.nn.Linear(30, 3))
    p = sum(t.numel() for t in model.parameters())
    x, xt = torch.randn(n, 6), torch.randn(T, 6)
    y, yt = torch.randint(0, 3, (n,)), torch.randint(0, 3, (T,))
    ckpts = []
    for _ in range(M):
        sd = {k_: v + 0.3 * torch.randn_like(v) for k_, v in model.state_dict().items()}
        ckpts.append(sd)
    proj = BasicProjector(
        grad_dim=p, proj_dim=k, seed=0, proj_type=ProjectionType.normal, device="cpu", dtype=torch.float32
    )
    tr = trak.TRAKer(
        model=model,
        task="image_classification",
        train_set_size=n,
        save_dir=str(tmp_path / "trak"),
        device="cpu",
        projector=proj,
        use_half_precision=False,
        logging_level=logging.ERROR,
    )
    for m, sd in enumerate(ckpts):
        tr.load_checkpoint(sd, model_id=m)
        tr.featurize(batch=(x, y), num_samples=n)
    tr.finalize_features()
    for m, sd in enumerate(ckpts):
        tr.start_scoring_checkpoint("exp", sd, model_id=m, num_targets=T)
        tr.score(batch=(xt, yt), num_samples=T)
    scores = np.array(tr.finalize_scores("exp"))
    feats, qs, tests = [], [], []
    for m in range(M):
        tr.saver.load_current_store(m)
        feats.append(np.array(tr.saver.current_store["grads"]))
        qs.append(np.array(tr.saver.current_store["out_to_loss"])[:, 0].astype(np.float64))
        tr.saver.load_current_store(m, "exp", T)
        tests.append(np.array(tr.saver.current_store["exp_grads"]))
    return scores, feats, qs, tests


def test_trak_weighting_reproduces_traker(tmp_path):
    scores, feats, qs, tests = _run_traker(tmp_path)
    t = attrib.TRAK(dim=feats[0].shape[1], weighting="trak")
    for F, q in zip(feats, qs):
        t.add_checkpoint(F, q)
    S = t.score(tests)
    # traker inverts the kernel in float32: agreement to its rounding
    assert_allclose(S, scores, rtol=0, atol=2e-4 * np.abs(scores).max())
    assert np.corrcoef(S.ravel(), scores.ravel())[0, 1] > 1 - 1e-7


def test_uniform_weighting_differs_only_by_the_per_checkpoint_scale(tmp_path):
    scores, feats, qs, tests = _run_traker(tmp_path, k=128, M=1)  # k > 100: its block path
    t = attrib.TRAK(dim=feats[0].shape[1])
    t.add_checkpoint(feats[0], qs[0])
    S = t.score(tests[0])
    ratio = np.median(scores / S)
    assert_allclose(S * ratio, scores, rtol=0, atol=2e-4 * np.abs(scores).max())
