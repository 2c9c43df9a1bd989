"""Projector: bad input gets a clear error naming the argument; the CUDA path fails softly."""

from __future__ import annotations

import numpy as np
import pytest

import attrib


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"n_features": 10, "dim": 0}, "dim must be in"),
        ({"n_features": 0, "dim": 4}, "n_features must be in"),
        ({"n_features": 10, "dim": -3}, "dim must be in"),
        ({"n_features": 10, "dim": 4, "kind": "fjlt"}, "kind must be one of"),
        ({"n_features": 10, "dim": 4, "seed": -1}, "seed must be in"),
        ({"n_features": 10, "dim": 4, "seed": 2**64}, "seed must be in"),
        ({"n_features": 10, "dim": 4, "model_id": 65536}, "model_id must be in"),
        ({"n_features": 10, "dim": 20, "kind": "sparse"}, r"dim \(20\) must not exceed n_features \(10\)"),
        ({"n_features": 100, "dim": 4, "kind": "sparse", "nnz_per_column": 5}, r"nnz_per_column \(5\) must not exceed"),
        ({"n_features": 100, "dim": 4, "kind": "sparse", "nnz_per_column": 0}, "nnz_per_column must be in"),
        ({"n_features": 100, "dim": 4, "nnz_per_column": 2}, "applies to kind='sparse' only"),
        ({"n_features": 100, "dim": 4, "device": "tpu"}, "device must be"),
        ({"n_features": 100, "dim": 4, "n_jobs": 0}, "n_jobs must not be 0"),
    ],
)
def test_bad_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        attrib.Projector(**kwargs)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"n_features": 10.5, "dim": 4}, "n_features must be an integer"),
        ({"n_features": 10, "dim": "4"}, "dim must be an integer"),
        ({"n_features": 10, "dim": True}, "dim must be an integer, got bool"),
        ({"n_features": 10, "dim": 4, "dtype": np.int32}, "dtype must be numpy.float32 or numpy.float64"),
        ({"n_features": 10, "dim": 4, "dtype": np.float16}, "dtype must be"),
    ],
)
def test_bad_parameter_types(kwargs, match):
    with pytest.raises(TypeError, match=match):
        attrib.Projector(**kwargs)


def test_sparse_default_nnz():
    assert attrib.Projector(100, 20, kind="sparse").nnz_per_column == 8
    assert attrib.Projector(100, 3, kind="sparse").nnz_per_column == 3
    assert attrib.Projector(100, 3).nnz_per_column is None


def test_mismatched_features():
    P = attrib.Projector(100, 8)
    G = np.ones((2, 60), dtype=np.float32)
    P.project(G, feature_offset=40)
    with pytest.raises(ValueError, match=r"feature_offset=41, which ends at 101 beyond n_features=100"):
        P.project(G, feature_offset=41)
    with pytest.raises(ValueError, match="ends at 101 beyond n_features=100"):
        P.project(np.ones((2, 101)))
    with pytest.raises(ValueError, match="feature_offset must be in"):
        P.project(G, feature_offset=-1)
    with pytest.raises(TypeError, match="feature_offset must be an integer"):
        P.project(G, feature_offset=1.5)


@pytest.mark.parametrize("kind", ["rademacher", "gaussian", "sparse"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_gradients(kind, bad):
    P = attrib.Projector(600, 8, kind=kind)
    G = np.ones((3, 600), dtype=np.float32)
    G[2, 517] = bad
    with pytest.raises(ValueError, match=r"G contains NaN or inf \(first at row 2, column 517"):
        P.project(G)


def test_overflow_is_reported():
    P = attrib.Projector(600, 8)
    with pytest.raises(ValueError, match="overflowed float32"):
        P.project(np.full((1, 600), 3e38, dtype=np.float32))
    assert np.isfinite(attrib.Projector(600, 8, dtype=np.float64).project(np.full((1, 600), 3e38))).all()


@pytest.mark.parametrize(
    "G,exc,match",
    [
        (np.ones((0, 5)), ValueError, "at least one row and one column"),
        (np.ones((2, 0)), ValueError, "at least one row and one column"),
        (np.ones((2, 3, 4)), ValueError, "must be 2-D"),
        (np.array([["a", "b"]]), TypeError, "G must hold real numbers"),
        (np.ones((2, 3), dtype=complex), TypeError, "G must hold real numbers"),
        (None, TypeError, "G must be an array"),
    ],
)
def test_bad_batches(G, exc, match):
    with pytest.raises(exc, match=match):
        attrib.Projector(100, 8).project(G)


def test_matrix_bad_indices():
    P = attrib.Projector(100, 8)
    with pytest.raises(ValueError, match=r"rows\[1\] = 100 is out of range \[0, 100\)"):
        P.matrix([0, 100])
    with pytest.raises(ValueError, match=r"cols\[0\] = -1 is out of range"):
        P.matrix(0, [-1])
    with pytest.raises(TypeError, match="rows must be None, an integer"):
        P.matrix([0.5])
    with pytest.raises(ValueError, match="would materialise"):
        attrib.Projector(10**9, 2048).matrix()
    assert P.matrix(slice(10, 20, 2), 3).shape == (5, 1)


def test_cuda_unavailable_fails_softly():
    if attrib.cuda_available():
        pytest.skip("a GPU is usable here")
    with pytest.raises(ValueError, match="device='cuda'"):
        attrib.Projector(100, 8, device="cuda")
    # the CPU path is unaffected
    assert attrib.Projector(100, 8).project(np.ones(100)).shape == (8,)


def test_attributes_repr_equality_pickle():
    import pickle

    P = attrib.Projector(1000, 64, kind="sparse", seed=3, model_id=2, nnz_per_column=4, dtype=np.float64, n_jobs=1)
    assert (P.n_features, P.dim, P.kind, P.seed, P.model_id, P.nnz_per_column) == (1000, 64, "sparse", 3, 2, 4)
    assert P.dtype == np.float64 and P.device == "cpu" and P.n_jobs == 1
    assert P.scale == 0.5
    assert "kind='sparse'" in repr(P)
    Q = pickle.loads(pickle.dumps(P))
    assert Q == P and hash(Q) == hash(P) and Q.fingerprint == P.fingerprint
    assert attrib.Projector(1000, 64, kind="sparse", seed=4, nnz_per_column=4).fingerprint != P.fingerprint
    assert len(P.fingerprint) == 16
