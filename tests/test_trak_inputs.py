"""TRAK: bad input gets a clear error naming the argument; Ctrl-C between tiles leaves it usable."""

from __future__ import annotations

import numpy as np
import pytest
from _trak_doubles import DenseProjector

import attrib
import attrib.trak as trak_module
from attrib import _dispatch


@pytest.fixture
def data(rng):
    return rng.normal(size=(120, 6)).astype(np.float32), rng.uniform(0.1, 0.9, 120)


def test_constructor_arguments():
    with pytest.raises(ValueError, match="estimator must be one of"):
        attrib.TRAK(estimator="exact")
    with pytest.raises(ValueError, match="weighting must be one of"):
        attrib.TRAK(weighting="madry")
    with pytest.raises(ValueError, match="dim must be >= 1"):
        attrib.TRAK(dim=0)
    with pytest.raises(ValueError, match="lambda_reg must be finite and >= 0"):
        attrib.TRAK(lambda_reg=-1.0)
    with pytest.raises(TypeError, match="projector must have n_features, dim and project"):
        attrib.TRAK(projector=np.eye(3))
    # The seed rule of every seeded function: a wrong type is a TypeError, a bad value a ValueError.
    for bad in (-1, 2**64):
        with pytest.raises(ValueError, match=r"seed must be an integer in \[0, 2\*\*64\)"):
            attrib.TRAK(seed=bad)
    for bad in (1.5, True, "0"):
        with pytest.raises(TypeError, match="seed must be an integer"):
            attrib.TRAK(seed=bad)


def test_score_before_add_checkpoint(data):
    with pytest.raises(ValueError, match="call add_checkpoint"):
        attrib.TRAK(dim=6).score(data[0])
    with pytest.raises(ValueError, match="call add_checkpoint"):
        attrib.TRAK(dim=6).self_influence()


def test_mismatched_shapes(data):
    phi, q = data
    t = attrib.TRAK(dim=6)
    with pytest.raises(ValueError, match="train_features has 120 rows but out_to_loss has shape"):
        t.add_checkpoint(phi, q[:-1])
    with pytest.raises(ValueError, match="must be 2-D"):
        t.add_checkpoint(phi[0], q[:1])
    with pytest.raises(ValueError, match="fewer than dim=6"):
        t.add_checkpoint(phi[:, :4], q)
    t.add_checkpoint(phi, q)
    with pytest.raises(ValueError, match="train_features has 100 rows but the earlier checkpoints have 120"):
        t.add_checkpoint(phi[:100], q[:100])
    with pytest.raises(ValueError, match="test_features has 5 columns but checkpoint 0 has dimension 6"):
        t.score(phi[:3, :5])
    with pytest.raises(TypeError, match="must hold real numbers"):
        t.score(np.array([["a"] * 6]))
    t.add_checkpoint(phi, q)
    with pytest.raises(ValueError, match="must be a list of 2 arrays"):
        t.score(phi[:3])
    with pytest.raises(ValueError, match="test_features has 1 arrays but 2 checkpoints"):
        t.score([phi[:3]])
    with pytest.raises(ValueError, match=r"test_features\[1\] has 4 rows but test_features\[0\] has 3"):
        t.score([phi[:3], phi[:4]])


def test_dimension_mismatch_across_checkpoints(data, rng):
    phi, q = data
    P1, P2 = DenseProjector(6, 4, seed=1), DenseProjector(6, 5, seed=2)
    t = attrib.TRAK(projector=[P1, P2])
    t.add_checkpoint(phi, q)
    with pytest.raises(ValueError, match="checkpoint 1 has dimension 5 but the earlier checkpoints have 4"):
        t.add_checkpoint(phi, q)
    with pytest.raises(ValueError, match="the features have 7 columns but the projector takes gradients of 6"):
        attrib.TRAK(projector=P1).add_checkpoint(rng.normal(size=(120, 7)), q)


def test_nan_and_inf(data):
    phi, q = data
    bad = phi.copy()
    bad[17, 3] = np.nan
    with pytest.raises(ValueError, match=r"train_features contains NaN or inf \(first at row 17, column 3"):
        attrib.TRAK(dim=6).add_checkpoint(bad, q)
    qb = q.copy()
    qb[5] = np.inf
    with pytest.raises(ValueError, match=r"out_to_loss contains NaN or inf \(first at index 5"):
        attrib.TRAK(dim=6).add_checkpoint(phi, qb)
    t = attrib.TRAK(dim=6)
    t.add_checkpoint(phi, q)
    with pytest.raises(ValueError, match=r"test_features contains NaN or inf \(first at row 17, column 3"):
        t.score(bad)


def test_newton_needs_probabilities(data):
    phi, q = data
    with pytest.raises(ValueError, match=r"estimator='newton' needs out_to_loss = 1 - p\(correct\) in \[0, 1\]"):
        attrib.TRAK(dim=6, estimator="newton").add_checkpoint(phi, q + 1.0)


def test_singular_and_ill_conditioned_kernels_suggest_lambda(data, rng):
    phi, q = data
    with pytest.raises(ValueError, match=r"singular .*pass lambda_reg >= "):
        attrib.TRAK(dim=6).add_checkpoint(phi[:4], q[:4])  # 4 points, dimension 6
    t = attrib.TRAK(dim=6, lambda_reg=1e-3)
    t.add_checkpoint(phi[:4], q[:4])  # a ridge makes it solvable
    assert 1e-10 < t.rcond[0] < 1 and t.condition_number[0] == 1 / t.rcond[0]
    near = phi.copy()
    near[:, 5] = near[:, 4] + np.float32(3e-6) * rng.normal(size=120).astype(np.float32)  # rcond ~ 1e-12
    with pytest.warns(attrib.IllConditionedWarning, match="ill-conditioned .*pass lambda_reg >= "):
        attrib.TRAK(dim=6).add_checkpoint(near, q)


def test_default_projector_needs_attrib_projector(data, rng):
    phi, q = data
    G = rng.normal(size=(120, 40))
    t = attrib.TRAK(dim=6)
    if hasattr(attrib, "Projector"):
        t.add_checkpoint(G, q)
        assert t._ckpts[0].features.shape == (120, 6)
    else:
        with pytest.raises(ImportError, match="attrib.Projector"):
            t.add_checkpoint(G, q)


def test_ctrl_c_between_tiles_leaves_the_scorer_usable(data, monkeypatch):
    phi, q = data
    monkeypatch.setattr(trak_module, "_rows_per_call", lambda k: 256)
    big = np.tile(phi, (5, 1))  # 600 rows: three tiles
    t = attrib.TRAK(dim=6)
    t.add_checkpoint(big, np.tile(q, 5))
    before = t.score(phi[:4])
    real, calls = _dispatch.core.trak_score_rows, []

    def interrupted(*args):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(_dispatch.core, "trak_score_rows", interrupted)
    with pytest.raises(KeyboardInterrupt):
        t.score(phi[:4])
    assert len(calls) == 2  # stopped at the tile boundary, not after all of them
    monkeypatch.setattr(_dispatch.core, "trak_score_rows", real)
    np.testing.assert_array_equal(t.score(phi[:4]), before)


@pytest.mark.parametrize("what", ["features", "out_to_loss"])
def test_editing_the_added_arrays_in_place_is_caught(rng, what):
    # float32 features are used in place, without a copy: an edit after add_checkpoint changed
    # the scores silently (by ~1 here) while the kernel stayed factored from the old ones.
    F = rng.normal(size=(100, 8)).astype(np.float32)
    q = np.full(100, 0.5)
    Ft = rng.normal(size=(5, 8)).astype(np.float32)
    t = attrib.TRAK(dim=8)
    t.add_checkpoint(F, q)
    t.score(Ft)
    (F if what == "features" else q)[3] += 1.0
    name = "train_features" if what == "features" else "out_to_loss"
    with pytest.raises(RuntimeError, match=f"{name} was modified in place"):
        t.score(Ft)
    with pytest.raises(RuntimeError, match="modified in place"):
        t.self_influence()
