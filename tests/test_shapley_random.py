"""The counter-based generator: Random123's known answers, and permutations/subsets that are a
pure function of (seed, id)."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from attrib import _dispatch

# Random123's published known-answer vectors for Philox4x32-10 (tests/kat_vectors).
KAT = [
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    (
        (0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344),
        (0xA4093822, 0x299F31D0),
        (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1),
    ),
]


@pytest.mark.parametrize("ctr,key,expected", KAT)
def test_philox_known_answers(core, ctr, key, expected):
    assert tuple(core.philox4x32_10(list(ctr), list(key))) == expected


def test_permutations_depend_only_on_seed_and_id():
    core = _dispatch.core
    block = core.random_permutations(7, 0, 40, 25, False)
    for p in range(40):
        assert_array_equal(np.sort(block[p]), np.arange(25))
    # any split of the id range gives the same rows
    assert_array_equal(core.random_permutations(7, 13, 5, 25, False), block[13:18])
    assert not np.array_equal(core.random_permutations(8, 0, 40, 25, False), block)
    assert len({tuple(r) for r in block}) == 40


def test_antithetic_pairs_are_reverses():
    core = _dispatch.core
    block = core.random_permutations(3, 0, 10, 17, True)
    plain = core.random_permutations(3, 0, 10, 17, False)
    for j in range(5):
        assert_array_equal(block[2 * j + 1], block[2 * j][::-1])
        assert_array_equal(block[2 * j], plain[2 * j])


def test_permutations_are_uniform():
    # Position of each element over 60,000 permutations of 6: a chi-square test at a fixed seed.
    perms = _dispatch.core.random_permutations(11, 0, 60000, 6, False)
    counts = np.stack([(perms == e).sum(axis=0) for e in range(6)])  # element x position
    chi2 = ((counts - 10000.0) ** 2 / 10000.0).sum()
    assert chi2 < 70.0  # 25 degrees of freedom: P(chi2 > 70) < 1e-5
    # all 720 orderings appear about equally often
    codes = (perms * 6 ** np.arange(6)).sum(axis=1)
    freq = np.unique(codes, return_counts=True)[1]
    assert freq.size == 720
    assert ((freq - 60000 / 720) ** 2 / (60000 / 720)).sum() < 900  # 719 dof, P(> 900) < 1e-5


def test_subsets_are_fair_coin_flips():
    masks = _dispatch.core.random_subsets(5, 0, 4000, 70)
    assert masks.dtype == np.uint8 and set(np.unique(masks)) == {0, 1}
    frac = masks.mean(axis=0)
    assert np.abs(frac - 0.5).max() < 5 * 0.5 / np.sqrt(4000)
    assert_array_equal(_dispatch.core.random_subsets(5, 100, 10, 70), masks[100:110])
