"""Projector: the matrix against an independent numpy Philox reference (bitwise in float64), golden
entries, projection == G @ matrix, layer by layer == whole, determinism for any n_jobs and any
chunking, JL distortion across dims."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import attrib

from _projection_reference import matrix as ref_matrix
from _projection_reference import unscaled as ref_unscaled

KINDS = ["rademacher", "gaussian", "sparse"]

# ---------------------------------------------------------------- golden entries (seed 0, model 0)
# Rademacher, rows (features) 0..15 x columns 0..15: bit j of word i set = entry (i, j) is -1.
GOLDEN_RADEMACHER = [
    0x134E, 0xE5CB, 0x061E, 0xAEE3, 0x9CAD, 0x08EF, 0xE76B, 0x81C3,
    0x7732, 0x9A73, 0x74C9, 0x38D5, 0x6476, 0xE447, 0x4884, 0x0FF4,
]  # fmt: skip
# Gaussian: sha256 of the 16 x 16 unscaled float64 entries (C order), and the top-left 2 x 2.
GOLDEN_GAUSSIAN_SHA = "43369196b7b3f310c10c8860754172656b8923508011b5499463e369625a017a"
GOLDEN_GAUSSIAN_2X2 = [[-1.0785932086298562, -0.5550767055062975], [-0.3714338477799319, -0.47768612052667214]]
# Sparse, dim=64, nnz_per_column=4: the signed columns (sign * (col + 1)) of rows 0..15.
GOLDEN_SPARSE = [
    [7, 18, 47, -54], [-14, 32, 45, -54], [16, -31, 48, -49], [12, -32, 42, -57],
    [11, -26, 34, -54], [9, 28, -46, 55], [-1, -25, 41, 50], [8, -23, -40, 54],
    [-12, -31, -41, 62], [1, 18, -39, -50], [4, 25, 40, 53], [1, 19, -40, 64],
    [13, -17, -45, -60], [-12, 31, -34, 50], [5, 27, -45, 53], [-5, 19, -47, -57],
]  # fmt: skip


def _unscaled16(kind, dim=16, nnz=4):
    P = attrib.Projector(
        1000, dim, kind=kind, dtype=np.float64, **({"nnz_per_column": nnz} if kind == "sparse" else {})
    )
    return P.matrix(range(16), range(16 if kind != "sparse" else dim)) / P.scale


def test_golden_rademacher():
    S = _unscaled16("rademacher")
    bits = [int(sum(1 << j for j in range(16) if S[i, j] < 0)) for i in range(16)]
    assert bits == GOLDEN_RADEMACHER
    assert set(np.unique(S)) == {-1.0, 1.0}


def test_golden_gaussian():
    S = _unscaled16("gaussian")
    assert hashlib.sha256(np.ascontiguousarray(S).tobytes()).hexdigest() == GOLDEN_GAUSSIAN_SHA
    assert_array_equal(S[:2, :2], np.array(GOLDEN_GAUSSIAN_2X2))


def test_golden_sparse():
    S = _unscaled16("sparse", dim=64, nnz=4)
    got = [[int(np.sign(S[i, j])) * (j + 1) for j in np.flatnonzero(S[i])] for i in range(16)]
    assert got == GOLDEN_SPARSE


# ---------------------------------------------------------------- numpy reference, bitwise
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("seed,model_id", [(0, 0), (12345, 7), (2**64 - 1, 65535)])
def test_matrix_equals_numpy_reference_bitwise(core, kind, seed, model_id):
    dim, nnz = 300, 5
    rows = np.array([0, 1, 2, 127, 128, 4095, 2**32 - 1, 2**32, 2**32 + 5, 10**10, 2**48 - 1])
    cols = np.r_[0:20, 126:131, 250:300]
    kw = {"nnz_per_column": nnz} if kind == "sparse" else {}
    P = attrib.Projector(2**48, dim, kind=kind, seed=seed, model_id=model_id, dtype=np.float64, **kw)
    got = P.matrix(rows, cols)
    want = ref_matrix(kind, seed, model_id, rows, cols, dim, nnz)
    assert_array_equal(got, want)  # bit for bit in float64
    # float32 entries are the float64 values rounded once
    P32 = attrib.Projector(2**48, dim, kind=kind, seed=seed, model_id=model_id, **kw)
    assert_array_equal(P32.matrix(rows, cols), want.astype(np.float32))


def test_sparse_rows_have_nnz_distinct_blocks():
    dim, nnz = 50, 7
    P = attrib.Projector(200, dim, kind="sparse", nnz_per_column=nnz, dtype=np.float64)
    M = P.matrix()
    assert ((M != 0).sum(axis=1) == nnz).all()
    assert_allclose(np.abs(M[M != 0]), 1 / np.sqrt(nnz), rtol=0, atol=0)
    for t in range(nnz):  # one nonzero in each block of columns
        lo, hi = dim * t // nnz, dim * (t + 1) // nnz
        assert ((M[:, lo:hi] != 0).sum(axis=1) == 1).all()


def test_streams_independent():
    a = attrib.Projector(64, 64, seed=1, model_id=0).matrix()
    for other in (
        attrib.Projector(64, 64, seed=2, model_id=0),
        attrib.Projector(64, 64, seed=1, model_id=1),
        attrib.Projector(64, 64, seed=0, model_id=0),
    ):
        b = other.matrix()
        assert abs((a * b).sum()) / np.abs(a * b).sum() < 0.1  # ~ 1/64 for independent signs
    # trak's BasicProjector aliases block 100 of model m with block 0 of model m+1; here the
    # columns of different models never coincide
    m0 = attrib.Projector(8, 20000, model_id=0).matrix(range(8), range(10000, 10064))
    m1 = attrib.Projector(8, 20000, model_id=1).matrix(range(8), range(64))
    assert not np.array_equal(m0, m1)


def test_gaussian_moments():
    P = attrib.Projector(400, 1000, kind="gaussian", dtype=np.float64, seed=3)
    z = P.matrix() / P.scale
    assert abs(z.mean()) < 0.01 and abs(z.var() - 1) < 0.01
    assert abs((z**4).mean() - 3) < 0.05


# ---------------------------------------------------------------- projection
def _proj(kind, n_features, dim, **kw):
    if kind == "sparse":
        kw.setdefault("nnz_per_column", 3)
    return attrib.Projector(n_features, dim, kind=kind, **kw)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_project_equals_matmul_with_matrix(core, rng, kind, dtype):
    p, dim = 700, 300  # dim not a multiple of the tiles; p spans feature tiles
    P = _proj(kind, 5000, dim, dtype=dtype, seed=5)
    G = rng.normal(size=(37, p)).astype(dtype)
    off = 1234
    Y = P.project(G, feature_offset=off)
    assert Y.dtype == dtype and Y.shape == (37, dim)
    M = P.matrix(range(off, off + p))
    want = G.astype(np.float64) @ M.astype(np.float64)
    tol = 2e-5 if dtype == np.float32 else 1e-12
    assert_allclose(Y, want, rtol=tol, atol=tol * np.abs(want).max())
    if dtype == np.float64:
        # against the independent reference, not only our own matrix()
        R = ref_unscaled(kind, 5, 0, np.arange(off, off + p), np.arange(dim), dim, 3) * P.scale
        assert_allclose(Y, G @ R, rtol=1e-12, atol=1e-12 * np.abs(want).max())


@pytest.mark.parametrize("kind", KINDS)
def test_layer_by_layer_equals_whole(rng, kind):
    p, dim = 2000, 130
    P = _proj(kind, p, dim)
    G = rng.normal(size=(9, p)).astype(np.float32)
    whole = P.project(G)
    cuts = [0, 3, 256, 700, 701, 1999, 2000]
    parts = sum(P.project(G[:, a:b], feature_offset=a) for a, b in zip(cuts[:-1], cuts[1:]))
    assert_allclose(parts, whole, rtol=1e-5, atol=1e-5 * np.abs(whole).max())


@pytest.mark.parametrize("kind", KINDS)
def test_bitwise_for_any_n_jobs_and_chunk(monkeypatch, rng, kind):
    p, dim = 3000, 520
    G = rng.normal(size=(300, p)).astype(np.float32)  # > one batch tile
    ref = _proj(kind, p, dim, n_jobs=1).project(G)
    for n_jobs in (2, 3, 7):
        assert_array_equal(_proj(kind, p, dim, n_jobs=n_jobs).project(G), ref)
    # the facade's Ctrl-C chunks (multiples of the feature tile) change no bit
    from attrib import projection

    monkeypatch.setattr(projection, "_CALL_WORK", 1.0)  # one feature tile per kernel call
    assert_array_equal(_proj(kind, p, dim, n_jobs=2).project(G), ref)


def test_views_and_dtypes_are_read_correctly(rng):
    P = attrib.Projector(4000, 64)
    big = rng.normal(size=(5, 4000))
    want = P.project(big.astype(np.float32))
    # a column slice (outer stride) is read in place; Fortran order, float64, int are converted
    assert_array_equal(
        P.project(np.ascontiguousarray(big, dtype=np.float32)[:, 100:900], feature_offset=100),
        P.project(np.ascontiguousarray(big[:, 100:900], dtype=np.float32), feature_offset=100),
    )
    assert_allclose(P.project(np.asfortranarray(big)), want, rtol=1e-5, atol=1e-5)
    assert_allclose(P.project(big), want, rtol=1e-5, atol=1e-5)
    assert P.project(np.ones((2, 10), dtype=np.int64)).dtype == np.float32
    y1 = P.project(big[0].astype(np.float32))
    assert y1.shape == (64,)
    assert_array_equal(y1, P.project(big[:1].astype(np.float32))[0])
    G = np.ascontiguousarray(big, dtype=np.float32)
    G.setflags(write=False)
    P.project(G)


def test_builds_agree(on_every_core, rng):
    G = rng.normal(size=(20, 1000)).astype(np.float32)
    outs = on_every_core(lambda: [_proj(k, 1000, 96).project(G) for k in KINDS])
    for a, b in zip(outs[0], outs[1]):
        assert_allclose(a, b, rtol=1e-5, atol=1e-5 * np.abs(a).max())


# ---------------------------------------------------------------- JL distortion
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("dim", [64, 256, 1024])
def test_jl_distortion_within_theory(kind, dim):
    # 40 points in 2000 dimensions; pairwise squared distances are kept within (1 +- eps) with
    # eps = 4 sqrt(log(n^2) / dim), a constant-factor JL bound (the observed distortion is ~2x
    # smaller; the bound shrinks like 1/sqrt(dim) across the dims tested).
    rng = np.random.default_rng(dim)
    X = rng.normal(size=(40, 2000)) * rng.gamma(1.0, size=2000)  # anisotropic
    P = _proj(kind, 2000, dim, dtype=np.float64, seed=dim, **({"nnz_per_column": 8} if kind == "sparse" else {}))
    Y = P.project(X)
    i, j = np.triu_indices(40, 1)
    ratio = ((Y[i] - Y[j]) ** 2).sum(1) / ((X[i] - X[j]) ** 2).sum(1)
    eps = 4 * np.sqrt(np.log(40**2) / dim)
    assert np.abs(ratio - 1).max() < eps
    assert abs(ratio.mean() - 1) < eps / 4  # unbiased: E |P^T x|^2 = |x|^2
