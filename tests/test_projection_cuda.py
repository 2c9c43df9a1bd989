"""The CUDA projection against the CPU one (run by bench/gpu_check.sh on a GPU machine; skipped
elsewhere): the GPU matrix equals the CPU matrix bit for bit for Rademacher and sparse and to
float rounding for Gaussian, and projections agree to 1e-5 relative."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import attrib

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not attrib.cuda_available(), reason="needs attrib's CUDA extension and a GPU"),
]

KINDS = ["rademacher", "gaussian", "sparse"]


def assert_close_rows(got, want, dtype, p):
    """Row-wise relative error: 1e-5 in float32 (grown like sqrt(p) past 4096 features, the
    typical rounding of a p-term sum), 1e-12 in float64."""
    tol = 1e-12 if dtype == np.float64 else 1e-5 * max(1.0, np.sqrt(p / 4096))
    err = np.linalg.norm(np.asarray(got, np.float64) - want, axis=-1) / np.linalg.norm(want, axis=-1)
    assert err.max() < tol, err.max()


def _proj(kind, n, dim, **kw):
    if kind == "sparse":
        kw.setdefault("nnz_per_column", 5)
    return attrib.Projector(n, dim, kind=kind, **kw)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gpu_matrix_equals_cpu_matrix(kind, dtype):
    from attrib._projection_cuda import cuda_matrix

    P = _proj(kind, 2**40, 700, dtype=dtype, seed=9, model_id=3)
    rows = np.r_[0:64, 2**32 - 3 : 2**32 + 3, 10**10 : 10**10 + 5]
    cols = np.r_[0:700]
    cpu, gpu = P.matrix(rows, cols), cuda_matrix(P, rows, cols)
    if kind == "gaussian":
        # CUDA's log, sin and cos are within 2 ulp of the host libm's
        assert_allclose(gpu, cpu, rtol=16 * np.finfo(dtype).eps, atol=16 * np.finfo(dtype).eps * P.scale)
    else:
        assert_array_equal(gpu, cpu)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(1, 5), (37, 1000), (300, 40000)])
def test_gpu_projection_equals_cpu(rng, kind, dtype, shape):
    B, p = shape
    dim = 333
    G = rng.normal(size=(B, p)).astype(dtype)
    cpu = _proj(kind, p + 100, dim, dtype=dtype).project(G, feature_offset=100)
    gpu = _proj(kind, p + 100, dim, dtype=dtype, device="cuda").project(G, feature_offset=100)
    assert gpu.dtype == dtype and gpu.shape == (B, dim)
    assert_close_rows(gpu, cpu.astype(np.float64), dtype, p)


@pytest.mark.parametrize("kind", KINDS)
def test_gpu_is_deterministic_and_chunks_add_up(rng, kind):
    G = rng.normal(size=(70, 50000)).astype(np.float32)
    P = _proj(kind, 50000, 256, device="cuda")
    a, b = P.project(G), P.project(G)
    assert_array_equal(a, b)
    parts = P.project(G[:, :20000]) + P.project(G[:, 20000:], feature_offset=20000)
    assert_close_rows(parts, a.astype(np.float64), np.float32, 50000)


def test_gpu_nan_is_reported():
    G = np.ones((2, 100), dtype=np.float32)
    G[1, 7] = np.nan
    with pytest.raises(ValueError, match="NaN or inf"):
        attrib.Projector(100, 8, device="cuda").project(G)


@pytest.mark.parametrize("kind", KINDS)
def test_torch_cuda_tensors_stay_on_device(kind):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("torch without CUDA")
    g = torch.randn(16, 3000, device="cuda")
    P = _proj(kind, 3000, 128, device="cuda")
    y = P.project(g)
    assert isinstance(y, torch.Tensor) and y.is_cuda and y.shape == (16, 128)
    cpu = _proj(kind, 3000, 128).project(g.cpu().numpy())
    assert_close_rows(y.cpu().numpy(), cpu.astype(np.float64), np.float32, 3000)
    # a column slice (row stride > width) is read in place
    ys = P.project(g[:, 1000:2000], feature_offset=1000)
    cs = _proj(kind, 3000, 128).project(g[:, 1000:2000].cpu().numpy(), feature_offset=1000)
    assert_close_rows(ys.cpu().numpy(), cs.astype(np.float64), np.float32, 1000)
