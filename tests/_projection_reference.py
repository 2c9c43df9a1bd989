"""An independent numpy reference for the projection entries (projection_entries.hpp): Philox4x32-10
written out with numpy uint64 arithmetic, vectorised over counters, and the three entry kinds built
on it. Used as the oracle of tests/test_projection*.py."""

from __future__ import annotations

import math

import numpy as np

M32 = np.uint64(0xFFFFFFFF)
_LOG, _COS, _SIN = (np.vectorize(f, otypes=[np.float64]) for f in (math.log, math.cos, math.sin))
STREAM = {"rademacher": 5, "gaussian": 6, "sparse": 7}


def philox4x32_10(c0, c1, c2, c3, k0: int, k1: int):
    """Philox4x32-10 on arrays of counter words (any broadcastable shapes); four uint64 arrays of
    32-bit outputs."""
    c = [np.asarray(x, dtype=np.uint64) & M32 for x in (c0, c1, c2, c3)]
    c = list(np.broadcast_arrays(*c))
    k0, k1 = np.uint64(k0 & 0xFFFFFFFF), np.uint64(k1 & 0xFFFFFFFF)
    m0, m1 = np.uint64(0xD2511F53), np.uint64(0xCD9E8D57)
    w0, w1 = np.uint64(0x9E3779B9), np.uint64(0xBB67AE85)
    for r in range(10):
        if r:
            k0, k1 = (k0 + w0) & M32, (k1 + w1) & M32
        p0, p1 = m0 * c[0], m1 * c[2]
        hi0, lo0 = p0 >> np.uint64(32), p0 & M32
        hi1, lo1 = p1 >> np.uint64(32), p1 & M32
        c = [hi1 ^ c[1] ^ k0, lo1, hi0 ^ c[3] ^ k1, lo0]
    return c


def entry_block(seed: int, kind: str, model_id: int, rows, words):
    rows = np.asarray(rows, dtype=np.uint64)
    c3 = ((rows >> np.uint64(32)) & np.uint64(0xFFFF)) | np.uint64(model_id << 16)
    return philox4x32_10(words, STREAM[kind], rows & M32, c3, seed & 0xFFFFFFFF, seed >> 32)


def unscaled(kind: str, seed: int, model_id: int, rows, cols, dim: int, nnz: int = 1) -> np.ndarray:
    """The unscaled entries S[rows][:, cols] in float64 (+-1, N(0,1) by Box-Muller, sparse signs)."""
    r = np.asarray(rows, dtype=np.uint64)[:, None]
    c = np.asarray(cols, dtype=np.uint64)[None, :]
    if kind == "rademacher":
        out = entry_block(seed, kind, model_id, r, c >> np.uint64(7))
        word = np.choose(((c & np.uint64(127)) >> np.uint64(5)).astype(np.int64), out)
        bit = (word >> (c & np.uint64(31))) & np.uint64(1)
        return np.where(bit == 1, -1.0, 1.0)
    if kind == "gaussian":
        u = entry_block(seed, kind, model_id, r, c >> np.uint64(2))
        pair = ((c & np.uint64(3)) >> np.uint64(1)).astype(np.int64)
        ua = np.where(pair == 0, u[0], u[2]).astype(np.float64)
        ub = np.where(pair == 0, u[1], u[3]).astype(np.float64)
        u1 = (ua + 0.5) * 2.0**-32
        t = 6.283185307179586 * (ub * 2.0**-32)
        # The platform's libm (through math), which the C++ core also calls: numpy's own SIMD log
        # differs from glibc's in the last bit for ~0.2 % of arguments.
        rad = np.sqrt(-2.0 * _LOG(u1))
        return np.where((c & np.uint64(1)) == 0, rad * _COS(t), rad * _SIN(t))
    out = np.zeros((r.shape[0], c.shape[1]))
    for t in range(nnz):
        u = entry_block(seed, kind, model_id, r[:, 0], np.uint64(t // 4))[t % 4]
        lo, hi = dim * t // nnz, dim * (t + 1) // nnz
        col = np.uint64(lo) + (((u >> np.uint64(1)) * np.uint64(hi - lo)) >> np.uint64(31))
        sign = np.where((u & np.uint64(1)) == 1, -1.0, 1.0)
        hit = col[:, None] == c
        out = np.where(hit, sign[:, None], out)
    return out


def scale(kind: str, dim: int, nnz: int = 1) -> float:
    return 1.0 / np.sqrt(float(nnz if kind == "sparse" else dim))


def matrix(kind: str, seed: int, model_id: int, rows, cols, dim: int, nnz: int = 1) -> np.ndarray:
    """The scaled entries in float64, computed as the C++ code computes them (value * scale)."""
    return unscaled(kind, seed, model_id, rows, cols, dim, nnz) * scale(kind, dim, nnz)
