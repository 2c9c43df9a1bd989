"""Datamodel subset samplers: the bits (against a Python re-implementation on the core's Philox
block, and golden values), sizes, determinism for any n_jobs and chunking, the packed layout, the
.npz file format and bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
from numpy.testing import assert_array_equal

import attrib

# ---------------------------------------------------------------- a reference implementation
_STREAM = {"fixed": 3, "bernoulli": 4}


class _Stream:
    """The words of CounterRng(seed, stream, id), from the core's (known-answer tested) Philox block."""

    def __init__(self, core, seed, stream, sid):
        self.core = core
        self.key = [seed & 0xFFFFFFFF, seed >> 32]
        self.ctr = [0, stream, sid & 0xFFFFFFFF, sid >> 32]
        self.buf: list[int] = []

    def next_u32(self):
        if not self.buf:
            self.buf = list(self.core.philox4x32_10(self.ctr, self.key))
            self.ctr[0] += 1
        return self.buf.pop(0)

    def bounded(self, bound):
        m = self.next_u32() * bound
        low = m & 0xFFFFFFFF
        if low < bound:
            threshold = (2**32 - bound) % bound
            while low < threshold:
                m = self.next_u32() * bound
                low = m & 0xFFFFFFFF
        return m >> 32


def _reference(core, n, alpha, sampler, seed, sid):
    rng = _Stream(core, seed, _STREAM[sampler], sid)
    out = np.zeros(n, bool)
    if sampler == "bernoulli":
        for i in range(n):
            hi, lo = rng.next_u32(), rng.next_u32()
            out[i] = (((hi << 32) | lo) >> 11) * 2.0**-53 < alpha
        return out
    k = math.floor(alpha * n + 0.5)
    pick = min(k, n - k)
    idx = list(range(n))
    for i in range(pick):
        j = i + rng.bounded(n - i)
        idx[i], idx[j] = idx[j], idx[i]
        out[idx[i]] = True
    return ~out if k > n - k else out


@pytest.mark.parametrize("sampler,alpha,n", [("fixed", 0.5, 37), ("fixed", 0.8, 21), ("bernoulli", 0.3, 29)])
def test_bits_match_the_reference(core, sampler, alpha, n):
    seed = 2**40 + 7
    masks = attrib.sample_subsets(n, 5, alpha=alpha, sampler=sampler, seed=seed, first_id=3)
    for s in range(5):
        assert_array_equal(masks.bool()[s], _reference(core, n, alpha, sampler, seed, 3 + s))


def test_golden_bits_seed_0():
    # Fixed: 10 of 20 points; Bernoulli(0.5). Any change here changes every saved ground truth.
    fixed = attrib.sample_subsets(20, 3, alpha=0.5, seed=0)
    bern = attrib.sample_subsets(20, 3, alpha=0.5, sampler="bernoulli", seed=0)
    assert fixed.packed.tobytes().hex() == GOLDEN_FIXED
    assert bern.packed.tobytes().hex() == GOLDEN_BERNOULLI


GOLDEN_FIXED = "85390b26b6065e2303"
GOLDEN_BERNOULLI = "ab9300e26d09aeed02"


def test_fixed_sizes_and_bernoulli_rate():
    for alpha in (0.1, 0.5, 0.77):
        masks = attrib.sample_subsets(101, 50, alpha=alpha, seed=4)
        assert (masks.sizes == math.floor(alpha * 101 + 0.5)).all()
    bern = attrib.sample_subsets(1000, 200, alpha=0.3, sampler="bernoulli", seed=4)
    rate = bern.sizes.mean() / 1000
    assert abs(rate - 0.3) < 0.005
    # every point is equally likely to be in
    freq = attrib.sample_subsets(10, 20000, alpha=0.3, seed=9).bool().mean(axis=0)
    assert np.abs(freq - 0.3).max() < 0.02


def test_masks_do_not_depend_on_threads_or_chunks():
    whole = attrib.sample_subsets(333, 64, alpha=0.5, seed=11, n_jobs=1)
    assert whole == attrib.sample_subsets(333, 64, alpha=0.5, seed=11, n_jobs=2)
    parts = [attrib.sample_subsets(333, c, alpha=0.5, seed=11, first_id=f) for f, c in [(0, 5), (5, 40), (45, 19)]]
    joined = attrib.SubsetMasks.concat(parts)
    assert joined == whole
    assert whole[5:45] == parts[1]
    # different seeds, samplers and ids differ
    assert not np.array_equal(whole.packed, attrib.sample_subsets(333, 64, alpha=0.5, seed=12).packed)


def test_packed_layout_and_views():
    masks = attrib.sample_subsets(19, 7, alpha=0.4, seed=2)
    B = masks.bool()
    assert B.dtype == bool and B.shape == (7, 19) and len(masks) == 7 == masks.n_subsets
    assert_array_equal(np.packbits(B, axis=1, bitorder="little"), masks.packed)
    assert_array_equal(np.asarray(masks), B)
    assert_array_equal(np.asarray(masks, dtype=float), B.astype(float))
    assert (masks.packed[:, -1] >> 3 == 0).all()  # padding bits are zero
    assert not masks.packed.flags.writeable
    assert_array_equal(attrib.SubsetMasks.from_bool(B.astype(int)).packed, masks.packed)


def test_file_round_trip_and_refusals(tmp_path):
    data = attrib.datasets.load_breast_cancer()
    r = attrib.retrain(data.X[:60], data.y[:60], data.X[60:62], data.y[60:62], model="knn", n_subsets=6, progress=False)
    path = tmp_path / "m.npz"
    r.masks.save(path)
    back = attrib.SubsetMasks.load(path, X=data.X[:60], y=data.y[:60])
    assert back == r.masks and back.fingerprint == attrib.data_fingerprint(data.X[:60], data.y[:60])
    with pytest.raises(ValueError, match="other training data"):
        attrib.SubsetMasks.load(path, X=data.X[1:61], y=data.y[1:61])
    with pytest.raises(ValueError, match="incompatible masks: seed"):
        attrib.SubsetMasks.load(path, like=attrib.sample_subsets(60, 2, seed=1))
    # bits that are not the sampler's
    with np.load(path) as f:
        fields = dict(f)
    fields["packed"] = fields["packed"].copy()
    fields["packed"][0, 0] ^= 1
    np.savez(tmp_path / "bad.npz", **fields)
    with pytest.raises(ValueError, match="not those of sampler"):
        attrib.SubsetMasks.load(tmp_path / "bad.npz")
    fields["version"] = np.array(2)
    np.savez(tmp_path / "v2.npz", **fields)
    with pytest.raises(ValueError, match="version 2"):
        attrib.SubsetMasks.load(tmp_path / "v2.npz")
    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    with pytest.raises(ValueError, match="not an attrib SubsetMasks file"):
        attrib.SubsetMasks.load(tmp_path / "other.npz")
    # a custom mask file round-trips too
    custom = attrib.SubsetMasks.from_bool([[1, 0, 1], [0, 1, 1]])
    custom.save(tmp_path / "c.npz")
    assert attrib.SubsetMasks.load(tmp_path / "c.npz") == custom


def test_concat_refuses_mixing():
    a = attrib.sample_subsets(30, 4, seed=0)
    with pytest.raises(ValueError, match="alpha"):
        attrib.SubsetMasks.concat([a, attrib.sample_subsets(30, 4, alpha=0.3, seed=0, first_id=4)])
    with pytest.raises(ValueError, match="sampler"):
        attrib.SubsetMasks.concat([a, attrib.sample_subsets(30, 4, sampler="bernoulli", seed=0, first_id=4)])
    with pytest.raises(ValueError, match="n_train"):
        attrib.SubsetMasks.concat([a, attrib.sample_subsets(31, 4, seed=0, first_id=4)])
    with pytest.raises(ValueError, match="do not follow on"):
        attrib.SubsetMasks.concat([a, attrib.sample_subsets(30, 4, seed=0, first_id=5)])


@pytest.mark.parametrize("alpha", [0.0, 1.0, 1.5, -0.1, float("nan")])
def test_alpha_outside_the_open_interval(alpha):
    with pytest.raises(ValueError, match="alpha must be a fraction strictly between 0 and 1"):
        attrib.sample_subsets(10, 2, alpha=alpha)


def test_bad_arguments():
    with pytest.raises(ValueError, match="n must be >= 1"):
        attrib.sample_subsets(0, 2)
    with pytest.raises(ValueError, match="n_subsets must be >= 1"):
        attrib.sample_subsets(10, 0)
    with pytest.raises(ValueError, match="sampler must be one of"):
        attrib.sample_subsets(10, 2, sampler="uniform")
    with pytest.raises(ValueError, match="gives fixed-size subsets of 0 of 10"):
        attrib.sample_subsets(10, 2, alpha=0.01)
    with pytest.raises(TypeError, match="seed"):
        attrib.sample_subsets(10, 2, seed=1.5)
    with pytest.raises(TypeError, match="alpha"):
        attrib.sample_subsets(10, 2, alpha="half")
    with pytest.raises(ValueError, match="only 0 and 1"):
        attrib.SubsetMasks.from_bool([[0, 2]])
    with pytest.raises(ValueError, match="2-D"):
        attrib.SubsetMasks.from_bool([0, 1])
    with pytest.raises(ValueError, match="bytes per row"):
        attrib.SubsetMasks(np.zeros((2, 3), np.uint8), 10)
    with pytest.raises(ValueError, match="padding"):
        attrib.SubsetMasks(np.full((1, 2), 255, np.uint8), 10)


def test_masks_beyond_the_memory_limit_are_refused_with_the_remedy():
    # 2**62 subsets used to reach the core and die as a bare std::bad_alloc (MemoryError).
    with pytest.raises(ValueError, match=r"GiB bit-packed.*first_id="):
        attrib.sample_subsets(10, 2**62)
