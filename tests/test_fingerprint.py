"""The core's checksum behind the "modified in place" check: every byte counts, positions count,
and the value is the same in every CPU build and for any thread count."""

from __future__ import annotations

import numpy as np
import pytest

from attrib import _dispatch


def fp(a, n_threads=0):
    return _dispatch.core.fingerprint(np.ascontiguousarray(a), n_threads)


def test_every_single_bit_flip_changes_it():
    a = np.random.default_rng(0).normal(size=300)
    base = fp(a)
    bits = a.view(np.uint64)
    for i in range(0, 300, 7):
        for b in (0, 31, 52, 63):
            e = bits.copy()
            e[i] ^= np.uint64(1) << np.uint64(b)
            assert fp(e) != base


def test_swaps_and_shapes_change_it():
    a = np.arange(24.0).reshape(6, 4)
    base = fp(a)
    for edit in ((slice(None), [0, 1]), ([0, 1], slice(None))):
        e = a.copy()
        e[edit] = e[edit][::-1] if isinstance(edit[0], list) else e[:, [1, 0]]
        assert fp(e) != base
    assert fp(a[:, :3]) != fp(a[:, :3].copy().ravel()[:17])  # different byte counts
    assert fp(np.zeros(3)) != fp(np.zeros(4))  # zeros of another length


@pytest.mark.parametrize("dtype", [np.uint8, np.int32, np.float32, np.float64, bool])
def test_any_dtype_and_tail_bytes(dtype):
    for n in (0, 1, 7, 8, 9, 1000, 70_001):
        a = (np.arange(n) % 5).astype(dtype)
        assert fp(a) == fp(a.copy())
        if n:
            e = a.copy()
            # the last element sits in the tail bytes for sizes that are not whole words
            e[-1] = (not e[-1]) if dtype is bool else (3 if e[-1] != 3 else 2)
            assert fp(e) != fp(a)


def test_non_contiguous_is_refused():
    a = np.zeros((4, 4))
    with pytest.raises(ValueError, match="C-contiguous"):
        _dispatch.core.fingerprint(a[:, ::2], 0)


def test_misaligned_views_are_read_correctly():
    buf = np.zeros(8 * 40 + 1, np.uint8)
    buf[1:] = np.arange(320) % 251
    view = buf[1:].view(np.uint8)  # not 8-byte aligned
    assert fp(view) == fp(view.copy())


def test_same_for_any_thread_count_and_every_build(on_every_core):
    a = np.random.default_rng(1).normal(size=(23_000, 50))  # past the 8 MB where threads start
    vals = on_every_core(lambda: [fp(a, t) for t in (1, 2, 3, 64)])
    flat = [v for per_core in vals for v in per_core]
    assert len(set(flat)) == 1


@pytest.mark.parametrize("shape", [(1, 1), (7, 3), (4099, 21), (70_001, 5)])
def test_fits_take_the_same_checksum_in_their_own_pass(shape, on_every_core):
    # linear_fit and glm_fit checksum X, y, w and the offset while they read them (row blocks
    # that start at any word); the result must be core.fingerprint of the same bytes, or every
    # lazy result would report an edit that never happened. Odd sizes: blocks off lane 0.
    n, d = shape
    rng = np.random.default_rng(n)
    X = rng.normal(size=(n, d))
    y = (rng.random(n) < 0.5).astype(float)
    y[:2] = [0.0, 1.0][: min(2, n)]
    w = rng.uniform(0.5, 2.0, size=n)
    off = rng.normal(size=n) * 0.1

    def run():
        core = _dispatch.core
        lin, _ = core.linear_fit(X, y, w, 1.0, True, 2, False, fingerprint=True)
        opts = core.GlmFitOptions(family=core.GlmFamily.logistic, l2=1.0, fingerprint=True, n_threads=2)
        glm = core.glm_fit(X, y, w, off, np.empty(0), np.empty((0, 0)), opts)
        return tuple(lin.x_fingerprint), tuple(lin.w_fingerprint), tuple(map(tuple, glm.fingerprints))

    for lin_x, lin_w, (gx, gy, gw, go) in on_every_core(run):
        assert lin_x == gx == fp(X) and lin_w == gw == fp(w)
        assert gy == fp(y) and go == fp(off)


@pytest.mark.parametrize("in_kernel", [True, False])
def test_edits_after_a_fit_are_caught_with_or_without_the_kernels_checksum(in_kernel, monkeypatch):
    # The result's guard takes the kernel's checksum when it took one, and computes its own when
    # not: either way an edit of any byte after the fit is refused by the lazy results.
    import attrib

    monkeypatch.setattr(attrib._loo, "KERNEL_CHECKSUMS", in_kernel)
    rng = np.random.default_rng(3)
    X = rng.normal(size=(5000, 7))
    y = X @ rng.normal(size=7) + rng.normal(size=5000)
    b = (y > 0).astype(float)
    lin, glm = attrib.linear_loo(X, y), attrib.glm_loo(X, b, refine=0)
    lin.dfbeta, glm.group_loo(np.arange(5000) % 10)  # unedited: no complaint
    lin.__dict__.pop("dfbeta")
    X[4999, 6] = np.nextafter(X[4999, 6], np.inf)
    with pytest.raises(RuntimeError, match="modified in place"):
        lin.dfbeta
    with pytest.raises(RuntimeError, match="modified in place"):
        glm.group_loo(np.arange(5000) % 10)
