"""Sherman-Morrison-Woodbury primitives against dense numpy algebra (loo-influence.md §6.1.1)."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose


def spd(rng, p):
    B = rng.normal(size=(p, p))
    return B @ B.T + p * np.eye(p)


@pytest.mark.parametrize("s", [1.0, -0.3, 2.5])
def test_sherman_morrison(rng, core, s):
    A = spd(rng, 6)
    u = rng.normal(size=6)
    got = core._sherman_morrison_update(np.linalg.inv(A), u, s)
    assert_allclose(got, np.linalg.inv(A + s * np.outer(u, u)), rtol=1e-10, atol=1e-13)


def test_sherman_morrison_singular_downdate_raises(core):
    A = np.eye(3)
    u = np.array([1.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="singular"):
        core._sherman_morrison_update(np.linalg.inv(A), u, -1.0)


def test_woodbury(rng, core):
    A = spd(rng, 7)
    U = rng.normal(size=(7, 3))
    c = np.array([1.0, -0.2, 0.0])
    got = core._woodbury_update(np.linalg.inv(A), U, c)
    assert_allclose(got, np.linalg.inv(A + U @ np.diag(c) @ U.T), rtol=1e-10, atol=1e-13)


def test_woodbury_singular_raises(core):
    U = np.eye(3)[:, :1]
    with pytest.raises(ValueError, match="singular"):
        core._woodbury_update(np.eye(3), U, np.array([-1.0]))


def test_cholesky_update_and_downdate(rng, core):
    A = spd(rng, 8)
    x = rng.normal(size=8)
    L = np.linalg.cholesky(A)
    up = core._cholesky_update(L, x)
    assert_allclose(up, np.linalg.cholesky(A + np.outer(x, x)), rtol=1e-10, atol=1e-13)
    down = core._cholesky_downdate(up, x)
    assert_allclose(down, L, rtol=1e-10, atol=1e-12)


def test_cholesky_downdate_to_indefinite_raises(core):
    L = np.eye(2)
    with pytest.raises(ValueError, match="not positive definite"):
        core._cholesky_downdate(L, np.array([1.0, 0.5]))
