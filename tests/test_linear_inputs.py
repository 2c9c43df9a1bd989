"""What linear_loo does with bad or unusual input (shared/reference/bad-inputs.md)."""

from __future__ import annotations

import warnings

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
    "convert",
    [
        lambda X: X.astype(np.float32),
        np.asfortranarray,
        lambda X: np.repeat(X, 2, axis=1)[:, ::2],  # non-contiguous view
        lambda X: X.tolist(),
    ],
    ids=["float32", "fortran", "strided", "list"],
)
def test_converted_inputs_give_the_same_answer(data, convert):
    X, y = data
    X = X.astype(np.float32).astype(np.float64)  # representable in float32 exactly
    ref = attrib.linear_loo(X, y)
    got = attrib.linear_loo(convert(X), y)
    assert_array_equal(got.hat, ref.hat)
    assert_array_equal(got.dfbeta, ref.dfbeta)


def test_integer_bool_readonly_and_memmap_inputs(data, tmp_path):
    X, y = data
    Xi = np.round(X * 10).astype(np.int32)
    ref = attrib.linear_loo(Xi.astype(np.float64), y)
    assert_array_equal(attrib.linear_loo(Xi, y).hat, ref.hat)
    attrib.linear_loo(np.hstack([X, (X[:, :1] > 0)]), y)  # a boolean-valued column
    ro = np.array(X)
    ro.setflags(write=False)
    yro = np.array(y)
    yro.setflags(write=False)
    assert_array_equal(attrib.linear_loo(ro, yro).hat, attrib.linear_loo(X, y).hat)
    mm = np.lib.format.open_memmap(tmp_path / "X.npy", mode="w+", dtype=np.float64, shape=X.shape)
    mm[:] = X
    mm.flush()
    mm = np.load(tmp_path / "X.npy", mmap_mode="r")
    assert_array_equal(attrib.linear_loo(mm, y).dfbeta, attrib.linear_loo(X, y).dfbeta)


def test_y_as_column_vector_is_accepted(data):
    X, y = data
    assert_array_equal(attrib.linear_loo(X, y[:, None]).hat, attrib.linear_loo(X, y).hat)


@pytest.mark.parametrize(
    "kwargs,exc,match",
    [
        ({"X": np.zeros(5)}, ValueError, "X must be 2-D"),
        ({"X": np.zeros((0, 3)), "y": np.zeros(0)}, ValueError, "at least one row"),
        ({"X": np.zeros((40, 0))}, ValueError, "at least one row and one column"),
        ({"y": np.zeros(39)}, ValueError, "X has 40 rows but y has 39"),
        ({"y": np.zeros((40, 2))}, ValueError, "y must be 1-D"),
        ({"X": np.full((40, 3), "a")}, TypeError, "X must hold real numbers"),
        ({"X": np.ones((40, 3), complex)}, TypeError, "complex"),
        ({"sample_weight": -np.ones(40)}, ValueError, "sample_weight must be non-negative"),
        ({"sample_weight": np.zeros(40)}, ValueError, "zero for every row"),
        ({"sample_weight": np.ones(41)}, ValueError, "X has 40 rows but sample_weight has 41"),
        ({"alpha": -1.0}, ValueError, "alpha must be finite and >= 0"),
        ({"alpha": np.inf}, ValueError, "alpha must be finite"),
        ({"alpha": "big"}, TypeError, "alpha must be a real number"),
        ({"fit_intercept": "yes"}, TypeError, "fit_intercept must be True or False"),
        ({"n_jobs": 0}, ValueError, "n_jobs must not be 0"),
        ({"n_jobs": 1.5}, TypeError, "n_jobs must be an integer"),
        ({"X": None}, TypeError, "X must be an array"),
    ],
)
def test_bad_input_raises_naming_the_argument(data, kwargs, exc, match):
    X, y = data
    args = {"X": X, "y": y, **kwargs}
    with pytest.raises(exc, match=match):
        attrib.linear_loo(**args)


@pytest.mark.parametrize("name", ["X", "y", "sample_weight"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_and_inf_are_reported_with_position(data, name, bad):
    X, y = data
    args = {"X": X.copy(), "y": y.copy(), "sample_weight": np.ones(40)}
    if name == "X":
        args["X"][5, 2] = bad
        where = "row 5, column 2"
    else:
        args[name][7] = bad
        where = "index 7"
    with pytest.raises(ValueError, match=rf"{name} contains NaN or inf \(first at {where}"):
        attrib.linear_loo(**args)


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


def test_well_posed_inputs_emit_no_warning(data):
    X, y = data
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = attrib.linear_loo(X, y)
        r.dfbetas, r.cov_ratio, r.dffits


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
