"""data_shapley: bad input, failing utilities, stopping rules, Ctrl-C, history and bitwise
determinism for any n_jobs."""

from __future__ import annotations

import io

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import attrib
from attrib._progress import Progress
from attrib.exceptions import StoppedEarlyWarning, UtilityError


@pytest.fixture
def reg(rng):
    X = rng.normal(size=(30, 3))
    y = X @ np.array([1.0, 2.0, -1.0]) + rng.normal(size=30)
    Xt = rng.normal(size=(20, 3))
    yt = Xt @ np.array([1.0, 2.0, -1.0]) + rng.normal(size=20)
    return X, y, Xt, yt


@pytest.fixture
def clf(rng):
    X = rng.normal(size=(40, 3))
    y = (X[:, 0] + rng.normal(size=40) > 0).astype(int)
    Xt = rng.normal(size=(25, 3))
    yt = (Xt[:, 0] > 0).astype(int)
    return X, y, Xt, yt


@pytest.mark.parametrize(
    "utility,semivalue,extra",
    [
        ("ridge", "shapley", {}),
        ("ridge", "banzhaf", {}),
        ("ridge", "beta(16,1)", {"truncation": 0.05}),
        ("logistic", "shapley", {"antithetic": True}),
        ("logistic", "banzhaf", {}),
        ("knn", "beta(4,1)", {}),
    ],
)
def test_bitwise_identical_for_any_n_jobs(core, rng, utility, semivalue, extra):
    X = rng.normal(size=(200, 4))  # 32 x 200 steps per block: above the kernels' serial threshold
    y = X[:, 0] + rng.normal(size=200)
    Xt = rng.normal(size=(50, 4))
    yt = Xt[:, 0] + rng.normal(size=50)
    if utility in ("logistic", "knn"):
        y, yt = (y > 0).astype(int), (yt > 0).astype(int)
    runs = [
        attrib.data_shapley(
            X,
            y,
            Xt,
            yt,
            utility=utility,
            semivalue=semivalue,
            max_permutations=100,
            rtol=None,
            seed=123,
            n_jobs=j,
            progress=False,
            **extra,
        )
        for j in (1, 2)
    ]
    assert_array_equal(runs[0].values, runs[1].values)
    assert_array_equal(runs[0].stderr, runs[1].stderr)
    assert runs[0].n_evaluations == runs[1].n_evaluations


def test_seed_changes_the_draws_and_repeats_exactly(reg):
    X, y, Xt, yt = reg
    a = attrib.data_shapley(X, y, Xt, yt, max_permutations=64, rtol=None, seed=1, progress=False)
    b = attrib.data_shapley(X, y, Xt, yt, max_permutations=64, rtol=None, seed=1, progress=False)
    c = attrib.data_shapley(X, y, Xt, yt, max_permutations=64, rtol=None, seed=2, progress=False)
    assert_array_equal(a.values, b.values)
    assert not np.array_equal(a.values, c.values)


def test_callable_and_builtin_share_sampler_and_truncation(reg):
    from sklearn.linear_model import Ridge
    from sklearn.metrics import r2_score

    X, y, Xt, yt = reg

    def utility(idx):
        return 0.0 if idx.size == 0 else r2_score(yt, Ridge(alpha=1.0).fit(X[idx], y[idx]).predict(Xt))

    kw = dict(
        max_permutations=20,
        rtol=None,
        seed=5,
        progress=False,
        truncation=0.05,
        truncation_patience=2,
        truncation_burn_in=0.2,
    )
    fast = attrib.data_shapley(X, y, Xt, yt, utility="ridge", **kw)
    slow = attrib.data_shapley(len(X), utility=utility, **kw)
    assert_allclose(fast.values, slow.values, rtol=0, atol=1e-12)
    assert fast.n_evaluations == slow.n_evaluations < 20 * len(X)  # truncation skipped prefixes


def test_truncation_rule(reg):
    # With a huge tolerance and no burn-in every permutation stops after its first point.
    X, y, Xt, yt = reg
    res = attrib.data_shapley(X, y, Xt, yt, max_permutations=10, rtol=None, truncation=1e6, progress=False)
    assert res.n_evaluations == 10
    res = attrib.data_shapley(
        X, y, Xt, yt, max_permutations=10, rtol=None, truncation=1e6, truncation_burn_in=0.5, progress=False
    )
    assert res.n_evaluations == 10 * 15


def test_utility_that_raises_names_the_subset():
    def utility(idx):
        if idx.size == 3:
            raise RuntimeError("boom")
        return float(idx.size)

    with pytest.raises(
        UtilityError,
        match=r"raised RuntimeError: boom on the first 3 points of permutation 0 "
        r"\(seed 7\): indices \[\d+, \d+, \d+\]",
    ) as info:
        attrib.data_shapley(6, utility=utility, max_permutations=4, seed=7, progress=False)
    assert isinstance(info.value.__cause__, RuntimeError)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), "0.5", None])
def test_utility_returning_a_non_number_is_an_error(bad):
    def utility(idx):
        return bad if idx.size == 2 else 1.0

    with pytest.raises(UtilityError, match="on the first 2 points of permutation 0"):
        attrib.data_shapley(5, utility=utility, max_permutations=4, progress=False)


def test_banzhaf_utility_error_names_the_subset():
    def utility(idx):
        if idx.size > 0 and idx[0] == 0:
            return float("nan")
        return 1.0

    with pytest.raises(UtilityError, match=r"on subset \d+ \(seed 0\): indices \[0"):
        attrib.data_shapley(5, utility=utility, semivalue="banzhaf", max_permutations=64, progress=False)


def test_ctrl_c_returns_partial_unconverged_result():
    calls = {"n": 0}

    def utility(idx):
        calls["n"] += 1
        if calls["n"] > 1 + 32 * 6 + 10:  # u(empty) once, 6 prefixes per permutation: inside block 2
            raise KeyboardInterrupt
        return float(np.sum(idx))

    with pytest.warns(StoppedEarlyWarning, match="interrupted"):
        res = attrib.data_shapley(6, utility=utility, max_permutations=1000, rtol=None, progress=False, block_size=32)
    assert not res.converged and res.status == "interrupted"
    assert res.n_samples == 32  # whole blocks only
    assert_allclose(res.values, np.arange(6.0))  # additive game: exact from any permutation


def test_time_budget_stops_unconverged(reg):
    X, y, Xt, yt = reg
    with pytest.warns(StoppedEarlyWarning, match="time budget"):
        res = attrib.data_shapley(X, y, Xt, yt, rtol=1e-9, time_budget=1e-6, progress=False, block_size=32)
    assert not res.converged and res.n_samples == 32


def test_stderr_target_converges(reg):
    X, y, Xt, yt = reg
    res = attrib.data_shapley(X, y, Xt, yt, rtol=0.2, progress=False, block_size=32)
    assert res.converged and res.status == "standard error target reached" and res.stopped_by == "converged"
    assert res.stderr.max() <= res.target_stderr and res.max_stderr == res.stderr.max()
    assert res.target_stderr >= 0.2 * np.abs(res.values).max()
    assert res.n_samples >= 64 and res.n_samples % 32 == 0
    res = attrib.data_shapley(X, y, Xt, yt, rtol=None, atol=0.05, progress=False)
    assert res.converged and res.stderr.max() <= 0.05


def test_history_and_frame(reg):
    X, y, Xt, yt = reg
    res = attrib.data_shapley(X, y, Xt, yt, max_permutations=100, rtol=None, block_size=10, progress=False)
    h = res.history
    assert_array_equal(h["n_samples"], np.arange(10, 101, 10))
    assert h["values"].shape == (10, 30)
    assert_array_equal(h["values"][-1], res.values)
    assert (np.diff(h["max_stderr"][1:]) < 0.05).all()
    frame = res.to_frame()
    assert list(frame.columns) == ["estimate", "stderr", "counts"]
    assert res.top(3).shape == (3,)


def test_progress_line_only_for_long_runs():
    out = io.StringIO()
    p = Progress(True, 100, "permutations", delay=0.0, stream=out)
    p.update(50, "max stderr 0.1")
    p.close()
    assert "50/100 permutations" in out.getvalue()
    quiet = io.StringIO()
    p = Progress(True, 100, "permutations", delay=60.0, stream=quiet)
    p.update(50)
    p.close()
    assert quiet.getvalue() == ""


def test_bad_arguments(reg, clf):
    X, y, Xt, yt = reg
    kw = dict(progress=False)
    with pytest.raises(ValueError, match="nothing would stop the run"):
        attrib.data_shapley(X, y, Xt, yt, rtol=None, **kw)
    for name, value in [
        ("max_permutations", 0),
        ("time_budget", -1.0),
        ("rtol", 0.0),
        ("atol", float("nan")),
        ("truncation", -0.1),
        ("block_size", 0),
    ]:
        with pytest.raises(ValueError, match=name):
            attrib.data_shapley(X, y, Xt, yt, **{name: value}, **kw)
    with pytest.raises(ValueError, match="semivalue must be"):
        attrib.data_shapley(X, y, Xt, yt, semivalue="owen", **kw)
    with pytest.raises(ValueError, match="alpha must be finite and > 0"):
        attrib.data_shapley(X, y, Xt, yt, alpha=0.0, **kw)
    with pytest.raises(ValueError, match="utility must be one of"):
        attrib.data_shapley(X, y, Xt, yt, utility="svm", **kw)
    with pytest.raises(ValueError, match="metric for the ridge utility"):
        attrib.data_shapley(X, y, Xt, yt, metric="accuracy", **kw)
    with pytest.raises(ValueError, match="y_test is constant"):
        attrib.data_shapley(X, y, Xt, np.ones(20), **kw)
    with pytest.raises(ValueError, match="X_test must have at least one row"):
        attrib.data_shapley(X, y, np.zeros((0, 3)), np.zeros(0), **kw)
    Xn = X.copy()
    Xn[2, 0] = np.nan
    with pytest.raises(ValueError, match="X contains NaN"):
        attrib.data_shapley(Xn, y, Xt, yt, **kw)
    with pytest.raises(ValueError, match="seed must be"):
        attrib.data_shapley(X, y, Xt, yt, seed=-1, **kw)
    with pytest.raises(ValueError, match="n_jobs must not be 0"):
        attrib.data_shapley(X, y, Xt, yt, n_jobs=0, **kw)
    with pytest.raises(ValueError, match="antithetic sampling applies to permutations"):
        attrib.data_shapley(X, y, Xt, yt, semivalue="banzhaf", antithetic=True, **kw)
    Xc, yc, Xct, yct = clf
    with pytest.raises(ValueError, match="at least 2 classes"):
        attrib.data_shapley(Xc, np.zeros(40), Xct, yct, utility="logistic", **kw)
    # (Three or more classes are valid since issue 10: softmax regression, tests/test_shapley_softmax.py.)
    with pytest.raises(ValueError, match="k must be >= 1"):
        attrib.data_shapley(Xc, yc, Xct, yct, utility="knn", k=0, **kw)
    with pytest.raises(ValueError, match="absent from y"):
        attrib.data_shapley(Xc, yc, Xct, yct + 5, utility="logistic", **kw)
    with pytest.raises(ValueError, match="empty_score"):
        from sklearn.linear_model import LogisticRegression

        attrib.data_shapley(Xc, yc, Xct, yct, utility=LogisticRegression(), **kw)
    with pytest.raises(TypeError, match="utility must be"):
        attrib.data_shapley(X, y, Xt, yt, utility=3, **kw)


@pytest.mark.parametrize(
    "name,bad,error",
    [
        ("k", 2.5, TypeError),
        ("k", "3", TypeError),
        ("k", True, TypeError),
        ("k", None, TypeError),
        ("k", 0, ValueError),
        ("k", -2, ValueError),
        ("n_jobs", 1.5, TypeError),
        ("n_jobs", "2", TypeError),
        ("n_jobs", 0, ValueError),
    ],
)
def test_one_exception_type_per_bad_value(clf, name, bad, error):
    # The library's convention (check_positive): a wrong type is a TypeError, a value of the
    # right type out of range a ValueError, the same in every function of the family.
    X, y, Xt, yt = clf
    with pytest.raises(error, match=name):
        attrib.knn_shapley(X, y, Xt, yt, **{name: bad})
    with pytest.raises(error, match=name):
        attrib.data_shapley(X, y, Xt, yt, utility="knn", progress=False, **{name: bad})


@pytest.mark.parametrize(
    "name,bad,error",
    [
        ("max_permutations", 2.0, TypeError),
        ("block_size", "32", TypeError),
        ("refactor_every", 1.5, TypeError),
        ("min_permutations", -1, ValueError),
        ("refactor_every", 0, ValueError),
        ("seed", 1.5, TypeError),
        ("seed", -1, ValueError),
        ("seed", 2**64, ValueError),
        ("truncation_burn_in", "half", TypeError),
        ("truncation_burn_in", 1.5, ValueError),
        ("antithetic", 1, TypeError),
        ("alpha", "1", TypeError),
        ("alpha", -1.0, ValueError),
    ],
)
def test_data_shapley_argument_types(reg, name, bad, error):
    X, y, Xt, yt = reg
    kw = {"truncation": 0.1} if name.startswith("truncation") else {}
    with pytest.raises(error, match=name):
        attrib.data_shapley(X, y, Xt, yt, max_permutations=4, progress=False, **kw, **{name: bad})


def test_estimator_empty_score_must_be_a_finite_number(clf):
    from sklearn.linear_model import LogisticRegression

    X, y, Xt, yt = clf
    for bad, error in [("0.5", TypeError), (float("nan"), ValueError)]:
        with pytest.raises(error, match="empty_score"):
            attrib.data_shapley(X, y, Xt, yt, utility=LogisticRegression(), empty_score=bad, progress=False)
