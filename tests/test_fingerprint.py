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
