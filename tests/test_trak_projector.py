"""TRAK and the torch featurizer with the real attrib.Projector (the other TRAK tests use dense
and identity test doubles, against which the numpy oracles are exact): the default projector is
attrib.Projector(p, dim, seed, model_id=checkpoint), and per-tensor projection in the featurizer
sums to the projection of the whole gradient."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import attrib


def test_default_projector_is_attrib_projector_per_checkpoint():
    rng = np.random.default_rng(0)
    G = [rng.normal(size=(80, 300)).astype(np.float32) for _ in range(2)]
    Gt = [rng.normal(size=(7, 300)).astype(np.float32) for _ in range(2)]
    q = rng.uniform(0.1, 0.9, size=80)
    lazy = attrib.TRAK(dim=16, seed=3)
    for g in G:
        lazy.add_checkpoint(g, q)
    explicit = attrib.TRAK(dim=16, seed=3)
    for m, g in enumerate(G):
        P = attrib.Projector(300, 16, seed=3, model_id=m)
        explicit.add_checkpoint(P.project(g), q)
    Pt = [attrib.Projector(300, 16, seed=3, model_id=m).project(g) for m, g in enumerate(Gt)]
    assert_array_equal(lazy.score(Gt), explicit.score(Pt))


def test_featurize_with_attrib_projector_equals_projecting_the_whole_gradient():
    torch = pytest.importorskip("torch")
    from attrib.torch import featurize

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.Tanh(), torch.nn.Linear(7, 3))
    p = sum(t.numel() for t in model.parameters())
    x = torch.randn(30, 5)
    y = torch.randint(0, 3, (30,))
    P = attrib.Projector(p, 24, seed=1, dtype=np.float64)
    (F,), (q,) = featurize(model, model.state_dict(), [(x[:16], y[:16]), (x[16:], y[16:])], P)

    class Whole:  # the full per-example gradient, then one projection
        n_features, dim = p, p

        def project(self, G, feature_offset=0):
            out = np.zeros((G.shape[0], p))
            out[:, feature_offset : feature_offset + G.shape[1]] = G
            return out

    (Gfull,), _ = featurize(model, model.state_dict(), [(x, y)], Whole())
    assert_allclose(F, P.project(Gfull), rtol=1e-6, atol=1e-7)
    assert F.shape == (30, 24) and q.shape == (30,)
