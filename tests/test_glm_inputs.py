"""What glm_loo and influence do with bad or unusual input (shared/reference/bad-inputs.md)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from numpy.testing import assert_array_equal

import attrib
from attrib import _dispatch


@pytest.fixture
def data(rng):
    X = rng.normal(size=(60, 3))
    y = (rng.random(60) < 1 / (1 + np.exp(-X @ np.array([1.0, -1.0, 0.5])))).astype(float)
    return X, y


@pytest.mark.parametrize(
    "kwargs,exc,match",
    [
        ({"y": np.arange(60) % 3}, ValueError, "exactly two classes for family='logistic', got 3"),
        ({"y": np.ones(60)}, ValueError, "exactly two classes for family='logistic', got 1"),
        ({"family": "poisson", "y": np.r_[-1.0, np.ones(59)]}, ValueError, "non-negative counts.*index 0"),
        ({"family": "poisson", "y": np.zeros(60)}, ValueError, "zero for every row"),
        ({"family": "binomial"}, ValueError, "family must be one of"),
        ({"family": 3}, TypeError, "family must be a string or a fitted"),
        ({"method": "ns"}, ValueError, "method must be one of"),
        ({"C": 0.0}, ValueError, "C must be > 0"),
        ({"C": -1.0}, ValueError, "C must be > 0"),
        ({"C": "big"}, TypeError, "C must be a positive real number"),
        ({"method": "exact", "refine": 3}, ValueError, "refine is for method='newton'"),
        ({"refine": -1}, ValueError, "refine must be >= 0"),
        ({"refine": "all"}, ValueError, "refine must be 'auto', an int"),
        ({"refine": 2.5}, TypeError, "refine must be 'auto', an int"),
        ({"refine": True}, TypeError, "refine must be 'auto', an int"),
        ({"refine": [0, 99]}, ValueError, "refine has a row index out of range"),
        ({"refine_by": "leverage", "refine": 2}, ValueError, "refine_by must be"),
        ({"max_iter": 0}, ValueError, "max_iter must be >= 1"),
        ({"max_iter": True}, TypeError, "max_iter must be a positive integer"),
    ],
)
def test_bad_input_raises_naming_the_argument(data, kwargs, exc, match):
    X, y = data
    args = {"X": X, "y": y, **kwargs}
    with pytest.raises(exc, match=match):
        attrib.glm_loo(**args)


def test_bad_test_data_for_influence(data):
    X, y = data
    r = attrib.glm_loo(X, y)
    with pytest.raises(ValueError, match="X_test has 2 features but the training data has 3"):
        r.influence(X[:5, :2], y[:5])
    with pytest.raises(ValueError, match="X has 5 rows but y_test has 4"):
        r.influence(X[:5], y[:4])
    with pytest.raises(ValueError, match=r"y_test has a label not among the training classes"):
        r.influence(X[:5], np.array([0, 1, 2, 0, 1]))
    Xt = X[:5].copy()
    Xt[1, 0] = np.nan
    with pytest.raises(ValueError, match=r"X_test contains NaN or inf \(first at row 1, column 0"):
        r.influence(Xt, y[:5])
    with pytest.raises(ValueError, match="top_k must be >= 1"):
        r.influence(X[:5], y[:5], top_k=0)
    with pytest.raises(TypeError, match="top_k must be a positive integer"):
        r.influence(X[:5], y[:5], top_k=1.5)
    assert r.influence(X[:5], y[:5], top_k=1000).helpful_idx.shape == (5, 60)  # k > n is clipped


def test_perfect_separation_without_penalty_is_an_error(rng):
    X = rng.normal(size=(40, 2))
    y = (X[:, 0] > 0).astype(float)
    with pytest.raises(ValueError, match="perfect separation.*C < inf"):
        attrib.glm_loo(X, y, C=None)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        attrib.glm_loo(X, y, C=1.0)  # a penalty makes it well posed


def test_collinear_unpenalised_design_is_an_error(rng):
    X = rng.normal(size=(50, 2))
    X = np.hstack([X, X[:, :1] * 2.0])
    y = (rng.random(50) < 0.5).astype(float)
    with pytest.raises(ValueError, match="singular.*C < inf"):
        attrib.glm_loo(X, y, C=None)
    with pytest.raises(ValueError, match="has 3 rows but the model has 4 parameters.*C < inf"):
        attrib.glm_loo(X[:3], np.array([0.0, 1.0, 0.0]), C=None)


def test_non_convergence_warns_with_the_reached_step(data):
    X, y = data
    with pytest.warns(attrib.ConvergenceWarning, match=r"stopped after 1 iterations with last step"):
        attrib.glm_loo(X, y, C=100.0, max_iter=1)


def test_leverage_one_row_is_nan_with_a_warning(rng):
    # Column 2 is non-zero in row 0 only: without row 0 its coefficient is not identified.
    X = rng.normal(size=(30, 3))
    X[:, 2] = 0.0
    X[0, 2] = 1.0
    y = rng.normal(size=30)
    with pytest.warns(attrib.LeverageOneWarning, match="rows 0 have leverage 1"):
        r = attrib.glm_loo(X, y, family="gaussian", C=None)
    assert np.isnan(r.dcoef[0]).all() and np.isfinite(r.dcoef[1:]).all()
    with pytest.warns(attrib.LeverageOneWarning, match="rows 0 have leverage 1"):
        ex = attrib.glm_loo(X, y, family="gaussian", C=None, method="exact")
    assert np.isnan(ex.dcoef[0]).all()
    assert_array_equal(np.isfinite(ex.dcoef[1:]), True)


def test_unfitted_or_unsupported_estimators(data):
    from sklearn.linear_model import Lasso, LogisticRegression

    X, y = data
    with pytest.raises(ValueError, match="not fitted"):
        attrib.glm_loo(X, y, LogisticRegression())
    with pytest.raises(TypeError, match="got Lasso"):
        attrib.glm_loo(X, y, Lasso().fit(X, y))
    with pytest.raises(ValueError, match="class_weight"):
        attrib.glm_loo(X, y, LogisticRegression(class_weight="balanced").fit(X, y))
    with pytest.raises(ValueError, match="X has 2 features but the estimator was fitted with 3"):
        attrib.glm_loo(X[:, :2], y, LogisticRegression(solver="newton-cholesky", tol=1e-12).fit(X, y))


def test_converted_and_read_only_inputs_give_the_same_answer(data):
    X, y = data
    X = X.astype(np.float32).astype(np.float64)
    ref = attrib.glm_loo(X, y)
    ro = np.array(X)
    ro.setflags(write=False)
    for Xc in (np.asfortranarray(X), X.astype(np.float32), X.tolist(), ro, np.repeat(X, 2, axis=1)[:, ::2]):
        assert_array_equal(attrib.glm_loo(Xc, y).dcoef, ref.dcoef)
    import pandas as pd

    df = pd.DataFrame(X, columns=["a", "b", "c"])
    r = attrib.glm_loo(df, pd.Series(y))
    assert r.param_names == ["intercept", "a", "b", "c"]
    assert_array_equal(r.dcoef, ref.dcoef)
    assert list(r.to_frame().columns) == ["hat", "linear_predictor", "loo_linear_predictor", "cooks_distance"]


def _options(core):
    return core.GlmFitOptions(family=core.GlmFamily.logistic, l2=1.0, max_iter=10, n_threads=1)


def test_kernels_refuse_silent_copies_and_integer_codes():
    core = _dispatch.core
    X = np.asfortranarray(np.ones((5, 2)))
    none = np.empty(0), np.empty(0), np.empty(0), np.empty((0, 0))
    with pytest.raises(TypeError):
        core.glm_fit(X, np.ones(5), *none, _options(core))
    with pytest.raises(TypeError):  # a family is a GlmFamily, never a bare integer
        core.GlmFitOptions(family=0)
    with pytest.raises(TypeError):
        core.glm_loo_rows(np.ones((5, 2)), np.empty(0), None, 1, 1)


def test_fit_refuses_a_bad_start_hessian():
    core = _dispatch.core
    X = np.random.default_rng(0).normal(size=(20, 2))
    y = (X[:, 0] > 0).astype(float)
    start, e = np.zeros(3), np.empty(0)
    with pytest.raises(ValueError, match="start_hessian"):  # p x p only together with start
        core.glm_fit(X, y, e, e, e, np.eye(3), _options(core))
    with pytest.raises(ValueError, match="start_hessian"):
        core.glm_fit(X, y, e, e, start, np.eye(2), _options(core))
    with pytest.raises(ValueError, match="positive definite"):
        core.glm_fit(X, y, e, e, start, -np.eye(3), _options(core))


def test_well_posed_inputs_emit_no_warning(data):
    X, y = data
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for method in ("newton", "influence", "exact"):
            r = attrib.glm_loo(X, y, method=method)
            r.cooks_distance, r.influence(X[:4], y[:4]), r.group_loo(np.arange(60) % 4)


def test_quasi_separation_and_diverging_poisson_warn_with_the_likely_cause(rng):
    X = rng.normal(size=(100, 2))
    y = (X[:, 0] > 0).astype(float)
    X[:10, 0] = 0.0  # a few rows of both classes on the boundary: quasi-complete separation
    y[:5], y[5:10] = 1.0, 0.0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        attrib.glm_loo(X, y, C=None)
    msgs = [str(w.message) for w in caught if issubclass(w.category, attrib.ConvergenceWarning)]
    assert len(msgs) == 1 and "separation" in msgs[0] and "C < inf" in msgs[0]
    Xp = np.column_stack([rng.normal(size=50), (np.arange(50) < 10).astype(float)])
    yp = rng.poisson(2.0, size=50).astype(float)
    yp[:10] = 0.0  # the indicator column isolates rows with zero counts
    with pytest.warns(attrib.ConvergenceWarning, match="zero counts.*-inf"):
        attrib.glm_loo(Xp, yp, family="poisson", C=None)


@pytest.mark.parametrize(
    "labels",
    [
        np.array([0.0, 1.0]),
        np.array([-1, 1]),
        np.array([False, True]),
        np.array([3, 7], dtype=np.uint8),
        np.array(["ham", "spam"]),
    ],
)
def test_binary_labels_match_np_unique(labels):
    # Numeric labels take a min/max fast path; it must give np.unique's classes and encoding.
    from attrib._validation import check_binary_labels

    y = labels[np.random.default_rng(0).integers(0, 2, size=50)]
    enc, classes = check_binary_labels(y, "y", 50)
    assert_array_equal(classes, np.unique(y))
    assert classes.dtype == np.unique(y).dtype
    assert_array_equal(enc, (y == np.unique(y)[1]).astype(float))
    with pytest.raises(ValueError, match="exactly two classes"):  # one class only
        check_binary_labels(np.full(50, labels[0]), "y", 50)


def test_group_kernels_refuse_malformed_groups(data):
    # The facade builds the compressed group lists; the kernels still check them (C++ never
    # trusts Python), with one shared validator.
    X, y = data
    r = attrib.glm_loo(X, y)
    lin = attrib.linear_loo(X, y.astype(float))
    w = np.empty(0)
    for offsets, indices, err in (
        ([0, 2], [0, 1, 2], ValueError),
        ([0, 2, 1, 3], [0, 1, 2], ValueError),
        ([0, 2], [0, X.shape[0]], IndexError),
    ):
        with pytest.raises(err):
            r._core.glm_group_step(r._prob.X, w, r._fit, offsets, indices, 1)
        with pytest.raises(err):
            lin._core.linear_group_loo(lin._X, w, lin._fit, offsets, indices, 1)
