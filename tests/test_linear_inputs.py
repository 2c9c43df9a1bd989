"""What linear_loo does with bad or unusual input (shared/reference/bad-inputs.md)."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_array_equal

import attrib
from attrib import _dispatch


@pytest.fixture
def data(rng):
    X = rng.normal(size=(40, 3))
    y = X @ np.array([1.0, -2.0, 0.5]) + rng.normal(size=40)
    return X, y


@pytest.mark.parametrize(
    "kwargs,exc,match",
    [
        ({"alpha": -1.0}, ValueError, "alpha must be finite and >= 0"),
        ({"alpha": np.inf}, ValueError, "alpha must be finite"),
        ({"alpha": "big"}, TypeError, "alpha must be a real number"),
        ({"dfbeta": 1}, TypeError, "dfbeta must be True or False"),
    ],
)
def test_bad_input_raises_naming_the_argument(data, kwargs, exc, match):
    X, y = data
    args = {"X": X, "y": y, **kwargs}
    with pytest.raises(exc, match=match):
        attrib.linear_loo(**args)


def test_a_boolean_valued_column_is_a_column(data):
    X, y = data
    Xb = np.hstack([X, X[:, :1] > 0])
    assert_array_equal(attrib.linear_loo(Xb, y).hat, attrib.linear_loo(Xb.astype(np.float64), y).hat)


def test_too_few_rows_and_singular_designs(rng):
    X = rng.normal(size=(3, 4))
    with pytest.raises(ValueError, match="X has 3 rows but the model has 5 parameters.*alpha > 0"):
        attrib.linear_loo(X, np.ones(3))
    w = np.array([1.0, 1.0, 0.0, 0.0, 0.0, 1.0])
    with pytest.raises(ValueError, match="3 rows with positive weight"):
        attrib.linear_loo(rng.normal(size=(6, 4)), np.ones(6), sample_weight=w)
    Xc = np.hstack([rng.normal(size=(20, 2)), np.full((20, 1), 3.0)])
    with pytest.raises(ValueError, match="column 2 of X is constant.*alpha > 0"):
        attrib.linear_loo(Xc, np.ones(20))
    Xz = np.hstack([rng.normal(size=(20, 2)), np.zeros((20, 1))])
    with pytest.raises(ValueError, match="column 2 of X is all zeros"):
        attrib.linear_loo(Xz, np.ones(20), fit_intercept=False)


def test_kernels_refuse_silent_copies():
    # The facade converts once; the bindings must never copy behind its back.
    core = _dispatch.core
    X = np.asfortranarray(np.ones((5, 2)))
    with pytest.raises(TypeError):
        core.linear_fit(X, np.ones(5), np.empty(0), 0.0, True, 1)
    with pytest.raises(TypeError):
        core.linear_fit(np.ones((5, 2), np.float32), np.ones(5), np.empty(0), 0.0, True, 1)


def test_finite_values_whose_sum_overflows_are_accepted():
    # The finiteness check's fast path sums X; an overflowing sum must fall back to the exact test.
    X = np.array([[1e308, 1.0], [1e308, 2.0], [-3.0, 5.0], [2.0, 1.0]])
    with np.errstate(over="ignore"):
        assert not np.isfinite(X.sum())
    from attrib._validation import as_float_matrix

    assert_array_equal(as_float_matrix(X), X)  # and no overflow warning (warnings are errors here)
    bad = X.copy()
    bad[2, 1] = np.inf
    with pytest.raises(ValueError, match="row 2, column 1"):
        as_float_matrix(bad)
