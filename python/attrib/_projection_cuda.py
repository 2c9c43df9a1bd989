"""The CUDA path of :class:`attrib.Projector`: device arrays are read in place through
``__cuda_array_interface__`` (torch, CuPy, Numba all expose it), numpy arrays are copied to the GPU
and back. Imported only when ``device="cuda"`` is used."""

from __future__ import annotations

import numpy as np

from .projection import _cuda_module

__all__ = ["cuda_matrix", "project_device", "project_host"]

_KIND_CODES = {"rademacher": 0, "gaussian": 1, "sparse": 2}


def _spec(P, cuda):
    return cuda.Spec(_KIND_CODES[P.kind], P.seed, P.model_id, P.n_features, P.dim, P.nnz_per_column or 1)


def project_host(P, arr: np.ndarray, offset: int) -> np.ndarray:
    """A numpy batch projected on the GPU (one copy there, one back)."""
    cuda = _cuda_module()
    if arr.dtype != P.dtype or not arr.flags.c_contiguous:
        arr = np.ascontiguousarray(arr, dtype=P.dtype)
    fn = cuda.project_host_f32 if P.dtype == np.float32 else cuda.project_host_f64
    return fn(_spec(P, cuda), arr, offset)


def _library(G) -> str:
    mod = type(G).__module__.split(".")[0]
    if mod not in ("torch", "cupy"):
        raise TypeError(
            f"G is a CUDA array of type {type(G).__module__}.{type(G).__name__}; attrib reads torch tensors and CuPy "
            "arrays on the device (convert with torch.as_tensor or cupy.asarray)"
        )
    return mod


def project_device(P, G, feature_offset):
    """A torch or CuPy CUDA batch projected in place on its GPU; the result is of the same library."""
    from .projection import _int_in

    cuda = _cuda_module()
    lib = _library(G)
    squeeze = len(G.shape) == 1
    if squeeze:
        G = G[None, :]
    if len(G.shape) != 2 or G.shape[0] == 0 or G.shape[1] == 0:
        raise ValueError(f"G must be a non-empty 2-D (batch, features) or 1-D array, got shape {tuple(G.shape)}")
    B, p = (int(s) for s in G.shape)
    offset = _int_in(feature_offset, "feature_offset", 0, P.n_features - 1)
    if offset + p > P.n_features:
        raise ValueError(
            f"G has {p} features starting at feature_offset={offset}, which ends at {offset + p} beyond "
            f"n_features={P.n_features}"
        )
    want = "<f4" if P.dtype == np.float32 else "<f8"
    if lib == "torch":
        import torch

        tdtype = torch.float32 if P.dtype == np.float32 else torch.float64
        if G.dtype.is_complex:
            raise TypeError(f"G must hold real numbers, got {G.dtype}")
        if G.dtype != tdtype:
            G = G.to(tdtype)
        if G.stride(1) != 1:
            G = G.contiguous()
        Y = torch.empty((B, P.dim), dtype=tdtype, device=G.device)
    else:
        import cupy

        if G.dtype.kind not in "biuf":
            raise TypeError(f"G must hold real numbers, got {G.dtype}")
        if G.dtype != P.dtype:
            G = G.astype(P.dtype)
        if G.strides[1] != P.dtype.itemsize:
            G = cupy.ascontiguousarray(G)
        Y = cupy.empty((B, P.dim), dtype=P.dtype)
    cai = G.__cuda_array_interface__
    if cai["typestr"] != want:
        raise TypeError(f"G has dtype {cai['typestr']} on the device, expected {want}")
    strides = cai.get("strides")
    item = P.dtype.itemsize
    ld = p if strides is None else strides[0] // item
    if strides is not None and (strides[1] != item or strides[0] % item or ld < p):
        raise ValueError(f"G must be row-major with unit column stride on the device, got strides {strides}")
    g_ptr = int(cai["data"][0])
    y_ptr = int(Y.__cuda_array_interface__["data"][0])
    cuda.project_device(_spec(P, cuda), g_ptr, P.dtype == np.float64, B, p, ld, offset, y_ptr)
    finite = bool(torch.isfinite(Y).all()) if lib == "torch" else bool(cupy.isfinite(Y).all())
    if not finite:
        raise ValueError(
            "G contains NaN or inf, or its projection overflowed "
            f"{P.dtype.name} (checked on the device; copy G to the host for the first position)"
        )
    return Y[0] if squeeze else Y


def cuda_matrix(P, rows, cols) -> np.ndarray:
    """``P.matrix(rows, cols)`` with the entries generated on the GPU (for the cross-device tests)."""
    cuda = _cuda_module()
    fn = cuda.matrix_f32 if P.dtype == np.float32 else cuda.matrix_f64
    return fn(_spec(P, cuda), np.asarray(rows, dtype=np.int64).tolist(), np.asarray(cols, dtype=np.int64).tolist())
