"""Adversarial inputs for attrib.linear_loo / linear_group_loo: extreme scales and offsets, exact
fits, buffer alignment, many more features than rows, large groups. Each test failed before the
fix it guards. Oracles are independent of attrib's algebra: SVD least-squares refits, statsmodels,
scikit-learn, and exact identities (results on rescaled data equal results on the original data
mapped by the known units). Tolerances from shared/reference/loo-influence.md §6.1."""

from __future__ import annotations

import time
import warnings

import numpy as np
import pytest
import statsmodels.api as sm
from conftest import refit_least_squares
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.linear_model import Ridge

import attrib
from attrib import _dispatch
from attrib.exceptions import ExactFitWarning

RTOL = 1e-10
ATOL = 1e-12

PER_ROW = ("hat", "resid_studentized_internal", "resid_studentized_external", "cooks_distance", "dffits", "cov_ratio")
SIGMA_BASED = ("resid_studentized_internal", "resid_studentized_external", "cooks_distance", "dffits", "cov_ratio")

variants = pytest.mark.parametrize("core", _dispatch.variants(), ids=lambda m: m.__name__.rsplit(".", 1)[-1])


def close(actual, desired, rtol=RTOL, atol=ATOL, err_msg=""):
    desired = np.asarray(desired)
    assert np.all(np.isfinite(actual)), err_msg
    assert_allclose(actual, desired, rtol=rtol, atol=atol * max(1.0, np.nanmax(np.abs(desired))), err_msg=err_msg)


def reproducer(n=1000, d=3, seed=0):
    r = np.random.default_rng(seed)
    X = r.normal(size=(n, d))
    y = X @ np.arange(1.0, d + 1) + r.normal(size=n)
    return X, y


def use(core, monkeypatch):
    monkeypatch.setattr(_dispatch, "core", core)


# -- 1. scale and offset invariance ------------------------------------------------------------
@variants
@pytest.mark.parametrize("s", [1e-160, 1e-150, 1e150, 1e160, 2.0**-900, 2.0**900])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("dfbeta_now", [False, True])
def test_scaling_X_moves_nothing_but_units(s, weighted, dfbeta_now, core, monkeypatch):
    use(core, monkeypatch)
    X, y = reproducer()
    w = np.random.default_rng(1).uniform(0.2, 3.0, size=len(y)) if weighted else None
    ref = attrib.linear_loo(X, y, sample_weight=w)
    r = attrib.linear_loo(X * s, y, sample_weight=w, dfbeta=dfbeta_now)
    for f in PER_ROW + ("resid", "loo_resid"):
        close(getattr(r, f), getattr(ref, f), err_msg=f)
    # coef and dfbeta slopes are in units of y / X; the intercept in units of y.
    close(r.coef_ * s, ref.coef_)
    close(r.dfbeta[:, 0], ref.dfbeta[:, 0])
    close(r.dfbeta[:, 1:] * s, ref.dfbeta[:, 1:])
    close(r.dfbetas, ref.dfbetas)
    close(r.prediction_change(X[:7] * s), ref.prediction_change(X[:7]))
    for g in (np.arange(len(y)) % 7, np.arange(len(y)) % 400):  # the Gram-downdate and Woodbury forms
        gs, g0 = r.group_loo(g), ref.group_loo(g)
        close(gs.cooks_distance, g0.cooks_distance)
        close(gs.dfbeta[:, 1:] * s, g0.dfbeta[:, 1:])
        close(np.concatenate(gs.loo_resid), np.concatenate(g0.loo_resid))


@variants
@pytest.mark.parametrize("s", [1e-170, 1e-160, 1e160, 1e170])
@pytest.mark.parametrize("dfbeta_now", [False, True])
def test_scaling_y_moves_nothing_but_units(s, dfbeta_now, core, monkeypatch):
    use(core, monkeypatch)
    X, y = reproducer()
    ref = attrib.linear_loo(X, y, dfbeta=dfbeta_now)
    r = attrib.linear_loo(X, y * s, dfbeta=dfbeta_now)
    for f in PER_ROW:
        close(getattr(r, f), getattr(ref, f), err_msg=f)
    close(r.resid / s, ref.resid)
    close(r.loo_resid / s, ref.loo_resid)
    close(r.dfbeta / s, ref.dfbeta)
    close(r.dfbetas, ref.dfbetas)
    g = np.arange(len(y)) % 5
    close(r.group_loo(g).cooks_distance, ref.group_loo(g).cooks_distance)


@variants
@pytest.mark.parametrize("s", [1e-150, 1e150])
def test_scaling_ridge_with_its_penalty(s, core, monkeypatch):
    # X -> s X with alpha -> s^2 alpha is the same ridge problem in other units.
    use(core, monkeypatch)
    X, y = reproducer(n=300, d=5)
    w = np.random.default_rng(2).uniform(0.0, 2.0, size=len(y))
    ref = attrib.linear_loo(X, y, alpha=3.0, sample_weight=w)
    r = attrib.linear_loo(X * s, y, alpha=3.0 * s * s, sample_weight=w)
    for f in PER_ROW + ("loo_resid",):
        close(getattr(r, f), getattr(ref, f), err_msg=f)
    close(r.dfbeta[:, 1:] * s, ref.dfbeta[:, 1:])


@variants
@pytest.mark.parametrize("shift", [1e8, -3e9, 1e6])
@pytest.mark.parametrize("weighted", [False, True])
def test_shifting_X_columns_moves_only_the_intercept(shift, weighted, core, monkeypatch):
    use(core, monkeypatch)
    X, y = reproducer()
    Xs = X + shift * np.array([1.0, -0.5, 2.0])
    X0 = Xs - shift * np.array([1.0, -0.5, 2.0])  # exact: the same data, centred near 0
    w = np.random.default_rng(3).uniform(0.2, 3.0, size=len(y)) if weighted else None
    ref = attrib.linear_loo(X0, y, sample_weight=w)
    r = attrib.linear_loo(Xs, y, sample_weight=w)
    for f in PER_ROW + ("resid", "loo_resid"):
        close(getattr(r, f), getattr(ref, f), err_msg=f)
    close(r.coef_, ref.coef_)
    close(r.dfbeta[:, 1:], ref.dfbeta[:, 1:])
    close(r.dfbetas[:, 1:], ref.dfbetas[:, 1:])


@variants
@pytest.mark.parametrize("shift", [1e8, -1e10])
def test_shifting_y_moves_only_the_intercept(shift, core, monkeypatch):
    use(core, monkeypatch)
    X, y = reproducer()
    ys = y + shift
    ref = attrib.linear_loo(X, ys - shift)
    r = attrib.linear_loo(X, ys)
    for f in PER_ROW + ("resid", "loo_resid"):
        close(getattr(r, f), getattr(ref, f), err_msg=f)
    close(r.dfbeta[:, 1:], ref.dfbeta[:, 1:])


def test_extreme_scales_against_statsmodels():
    # Anchor the invariance tests to an oracle that is not attrib.
    X, y = reproducer(n=200)
    infl = sm.OLS(y, sm.add_constant(X)).fit().get_influence()
    r = attrib.linear_loo(X * 1e-160, y * 1e-170)
    close(r.hat, infl.hat_matrix_diag)
    close(r.cooks_distance, infl.cooks_distance[0])
    close(r.resid_studentized_external, infl.resid_studentized_external)
    close(r.dfbetas, infl.dfbetas)
    close(r.cov_ratio, infl.cov_ratio)


# -- 2. exact fits -----------------------------------------------------------------------------
def exact_cases():
    X, _ = reproducer()
    r = np.random.default_rng(4)
    w = r.uniform(0.5, 2.0, size=len(X))
    w0 = w.copy()
    w0[::10] = 0.0
    return {
        "constant": (X, np.full(len(X), 3.7), None),
        "constant_0.1": (X, np.full(len(X), 0.1), None),
        "zero": (X, np.zeros(len(X)), None),
        "linear": (X, X @ [1.0, 2.0, 3.0] + 0.3, None),
        "linear_weighted": (X, X @ [0.1, -2.0, 30.0] - 7.0, w),
        "linear_offset_X": (X + 1e6, (X + 1e6) @ [1.0, 2.0, 3.0] + 0.3, None),
        "linear_big_y": (X, 1e9 * (X @ [1.0, 2.0, 3.0]) + 1e12, None),
        "linear_tiny": (X * 1e-160, X @ [1.0, 2.0, 3.0] * 1e-170, None),
        "zero_weight_rows": (X, X @ [1.0, 2.0, 3.0] + 0.3, w0),
    }


@variants
@pytest.mark.parametrize("case", list(exact_cases()))
@pytest.mark.parametrize("dfbeta_now", [False, True])
def test_exact_fit_gives_exact_zeros_nans_and_one_warning(case, dfbeta_now, core, monkeypatch):
    use(core, monkeypatch)
    X, y, w = exact_cases()[case]
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        r = attrib.linear_loo(X, y, sample_weight=w, dfbeta=dfbeta_now)
        diag = {f: getattr(r, f) for f in SIGMA_BASED + ("dfbetas", "dfbeta", "loo_resid")}
        g = r.group_loo(np.arange(len(y)) % 9)
    assert [type(x.message) for x in rec] == [ExactFitWarning], [str(x.message) for x in rec]
    pos = np.ones(len(y), bool) if w is None else w > 0
    assert r.sigma2 == 0.0
    assert_array_equal(r.resid[pos], 0.0)
    assert_array_equal(diag["loo_resid"][pos], 0.0)
    assert_array_equal(diag["dfbeta"], 0.0)
    for f in SIGMA_BASED + ("dfbetas",):
        assert np.isnan(diag[f]).all(), f
    assert_array_equal(g.dfbeta, 0.0)
    assert np.isnan(g.cooks_distance).all()
    # leverages stay defined and correct: QR oracle on the centred, unit-scaled design (the hat
    # matrix with an intercept does not change under column shifts and scalings)
    Xn = X - X.mean(axis=0)
    Xn = Xn / np.abs(Xn).max(axis=0)
    sw = np.ones(len(y)) if w is None else np.sqrt(w)
    Q = np.linalg.qr(sw[:, None] * np.hstack([np.ones((len(y), 1)), Xn]))[0]
    close(r.hat, (Q**2).sum(axis=1))
    # zero-weight rows keep their real residual (they are not fitted)
    if w is not None and not pos.all():
        b, coef = refit_least_squares(X, y, w)
        close(r.resid[~pos], (y - b - X @ coef)[~pos], atol=1e-9)


@variants
@pytest.mark.parametrize("noise", [1e-7, 1e-9])
def test_tiny_but_real_noise_is_not_an_exact_fit(noise, core, monkeypatch):
    use(core, monkeypatch)
    X, _ = reproducer(n=300)
    y = X @ [1.0, 2.0, 3.0] + 0.3 + noise * np.random.default_rng(5).normal(size=300)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = attrib.linear_loo(X, y)
    infl = sm.OLS(y, sm.add_constant(X)).fit().get_influence()
    # residuals carry about 1e-16 * |y| / noise of relative rounding, in attrib and in statsmodels
    # (measured against a 50-digit refit: 2e-6 and 5e-6 at noise 1e-9), so the tolerance follows
    tol = 1e-12 / noise
    close(r.cooks_distance, infl.cooks_distance[0], rtol=tol, atol=tol)
    close(r.resid_studentized_external, infl.resid_studentized_external, rtol=tol, atol=tol)


# -- 3. alignment ------------------------------------------------------------------------------
def at_offset(a, k):
    """A C-contiguous float64 copy of a starting k doubles past a (numpy-)aligned base."""
    buf = np.zeros(a.size + 8)
    v = buf[k : k + a.size].reshape(a.shape)
    v[...] = a
    assert v.flags.c_contiguous and v.ctypes.data % 8 == 0
    return v


@variants
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("alpha", [0.0, 0.7])
@pytest.mark.parametrize("n,d", [(1001, 3), (5003, 7), (20001, 2)])
def test_results_do_not_depend_on_buffer_addresses(n, d, alpha, weighted, core, monkeypatch):
    use(core, monkeypatch)
    X, y = reproducer(n=n, d=d, seed=n)
    X = X + 0.37  # non-zero means
    w = np.random.default_rng(6).uniform(0.1, 2.0, size=n) if weighted else None
    fields = ("coef_", "intercept_", "hat", "resid", "loo_resid", "cooks_distance", "dfbeta", "dfbetas")
    out = []
    for k in range(4):
        r = attrib.linear_loo(
            at_offset(X, k),
            at_offset(y, (k + 1) % 4),
            alpha=alpha,
            sample_weight=None if w is None else at_offset(w, 3 - k),
        )
        eager = attrib.linear_loo(at_offset(X, 3 - k), at_offset(y, k), alpha=alpha, sample_weight=w, dfbeta=True)
        g = r.group_loo(np.arange(n) % 13)
        out.append(
            (
                [np.asarray(getattr(r, f)) for f in fields],
                [eager.hat, eager.dfbeta],
                [g.dfbeta, np.concatenate(g.loo_resid)],
                r.prediction_change(at_offset(X[:20], k)),
            )
        )
    for k in range(1, 4):
        for a, b in zip(out[0][0], out[k][0]):
            assert_array_equal(a, b)
        for a, b in zip(out[0][1] + out[0][2], out[k][1] + out[k][2]):
            assert_array_equal(a, b)
        assert_array_equal(out[0][3], out[k][3])


# -- 4. more features than rows (ridge) ---------------------------------------------------------
def sklearn_loo(X, y, alpha, w=None, fit_intercept=True):
    """LOO residuals, coefficient changes by refits without each row."""
    n = len(y)
    full = Ridge(alpha=alpha, fit_intercept=fit_intercept, solver="svd").fit(X, y, sample_weight=w)
    loo = np.empty(n)
    dfb = np.empty((n, X.shape[1] + int(fit_intercept)))
    for i in range(n):
        keep = np.arange(n) != i
        m = Ridge(alpha=alpha, fit_intercept=fit_intercept, solver="svd").fit(
            X[keep], y[keep], sample_weight=None if w is None else w[keep]
        )
        loo[i] = y[i] - m.predict(X[i : i + 1])[0]
        fb = np.r_[full.intercept_, full.coef_] if fit_intercept else full.coef_
        mb = np.r_[m.intercept_, m.coef_] if fit_intercept else m.coef_
        dfb[i] = fb - mb
    return full, loo, dfb


@variants
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("n,d,alpha", [(12, 40, 1.0), (25, 60, 0.05), (8, 300, 30.0)])
def test_wide_ridge_against_refits(n, d, alpha, weighted, fit_intercept, core, monkeypatch):
    use(core, monkeypatch)
    r0 = np.random.default_rng(n * d)
    X = r0.normal(size=(n, d)) + 0.5
    y = X @ r0.normal(size=d) / np.sqrt(d) + 2.0 + r0.normal(size=n)
    w = r0.uniform(0.3, 2.0, size=n) if weighted else None
    r = attrib.linear_loo(X, y, alpha=alpha, sample_weight=w, fit_intercept=fit_intercept)
    full, loo, dfb = sklearn_loo(X, y, alpha, w, fit_intercept)
    close(r.coef_, full.coef_, rtol=1e-9)
    close(r.loo_resid, loo, rtol=1e-9)
    close(r.dfbeta, dfb, rtol=1e-8, atol=1e-10)
    # h_i = 1 - e_i / e_(i), by the LOO identity, from the refits
    close(r.hat, 1.0 - r.resid / loo, rtol=1e-8)
    b_full = np.r_[full.intercept_, full.coef_] if fit_intercept else full.coef_
    groups = np.arange(n) % 3
    gl = r.group_loo(groups)
    for gi in range(3):
        keep = groups != gi
        m = Ridge(alpha=alpha, fit_intercept=fit_intercept, solver="svd").fit(
            X[keep], y[keep], sample_weight=None if w is None else w[keep]
        )
        mb = np.r_[m.intercept_, m.coef_] if fit_intercept else m.coef_
        close(gl.dfbeta[gi], b_full - mb, rtol=1e-8, atol=1e-10)
        close(gl.loo_resid[gi], y[~keep] - m.predict(X[~keep]), rtol=1e-8)
    Xt = r0.normal(size=(4, d))
    close(
        r.prediction_change(Xt), dfb[:, 1:] @ Xt.T + dfb[:, :1] if fit_intercept else dfb @ Xt.T, rtol=1e-8, atol=1e-10
    )


@variants
@pytest.mark.parametrize("weighted", [False, True])
def test_dual_and_primal_forms_agree(weighted, core, monkeypatch):
    use(core, monkeypatch)
    r0 = np.random.default_rng(9)
    n, d = 60, 80
    X = r0.normal(size=(n, d)) * np.linspace(0.5, 3, d) + 1.0
    y = X @ r0.normal(size=d) / 9 + r0.normal(size=n)
    w = r0.uniform(0.0, 2.0, size=n) if weighted else np.empty(0)
    outs = {}
    for form in (core.LinearForm.primal, core.LinearForm.dual):
        fit, dfb = core.linear_fit(X, y, w, 2.0, True, 1, True, form)
        c = np.linspace(-1, 1, n)
        outs[form] = (
            np.array(fit.hat),
            np.array(fit.resid),
            np.array(fit.coef),
            dfb,
            _filled((n, d + 1), core.linear_dfbeta, X, fit, c, 1),
            _filled((n, 5), core.linear_prediction_change, X, X[:5] * 2, fit, c, 1),
            np.asarray(fit.inv_gram_sd()),
        )
    for a, b in zip(*outs.values()):
        close(a, b)


def _filled(shape, kernel, *args):
    out = np.empty(shape)
    kernel(*args, out)
    return out


def test_wide_ridge_is_fast():
    r0 = np.random.default_rng(0)
    X = r0.normal(size=(10, 6000))
    y = r0.normal(size=10)
    attrib.linear_loo(X[:, :100], y, alpha=1.0)  # warm-up
    t0 = time.perf_counter()
    r = attrib.linear_loo(X, y, alpha=1.0)
    r.dfbeta, r.cooks_distance, r.dfbetas
    elapsed = time.perf_counter() - t0
    assert elapsed < 1.0, elapsed  # was 17.6 s in the primal (d x d) form
    full, loo, _ = sklearn_loo(X, y, 1.0)
    close(r.loo_resid, loo, rtol=1e-9)


# -- 5. large groups ---------------------------------------------------------------------------
@variants
@pytest.mark.parametrize("alpha", [0.0, 0.5])
@pytest.mark.parametrize("weighted", [False, True])
def test_large_and_small_groups_against_refits(alpha, weighted, core, monkeypatch):
    use(core, monkeypatch)
    r0 = np.random.default_rng(11)
    n, d = 3000, 4
    X = r0.normal(size=(n, d)) + 2.0
    y = X @ r0.normal(size=d) + r0.normal(size=n)
    w = r0.uniform(0.2, 2.0, size=n) if weighted else None
    perm = r0.permutation(n)
    groups = [perm[:1500], perm[1500:1503], perm[1503:2500], perm[2500:2501], perm[2501:]]
    res = attrib.linear_group_loo(X, y, groups, alpha=alpha, sample_weight=w)
    b, coef = refit_least_squares(X, y, w, alpha)
    for g, idx in enumerate(groups):
        keep = np.ones(n, bool)
        keep[idx] = False
        bg, cg = refit_least_squares(X[keep], y[keep], None if w is None else w[keep], alpha)
        close(res.dfbeta[g], np.r_[b - bg, coef - cg], rtol=1e-9, atol=1e-11)
        close(res.loo_resid[g], y[idx] - bg - X[idx] @ cg, rtol=1e-9)


def test_large_groups_are_fast():
    r0 = np.random.default_rng(0)
    n, d = 100_000, 20
    X = r0.normal(size=(n, d))
    y = X @ r0.normal(size=d) + r0.normal(size=n)
    base = attrib.linear_loo(X, y)
    groups = np.arange(n) % 25
    t0 = time.perf_counter()
    g = base.group_loo(groups)
    elapsed = time.perf_counter() - t0
    assert elapsed < 3.0, elapsed  # was 38 s with one 4000 x 4000 Cholesky per group
    idx = g.groups[3]
    keep = groups != 3
    bg, cg = refit_least_squares(X[keep], y[keep])
    close(g.dfbeta[3], np.r_[base.intercept_ - bg, base.coef_ - cg], rtol=1e-9, atol=1e-11)
    close(g.loo_resid[3], y[idx] - bg - X[idx] @ cg, rtol=1e-9)


def test_group_that_leaves_a_singular_problem_is_flagged_in_the_gram_form():
    # One big group holding every row with x1 != 0: without it column 1 is zero (unidentified).
    r0 = np.random.default_rng(12)
    n = 2000
    X = r0.normal(size=(n, 3))
    X[1000:, 1] = 0.0
    y = X @ [1.0, 2.0, 3.0] + r0.normal(size=n)
    with pytest.warns(attrib.LeverageOneWarning):
        g = attrib.linear_group_loo(X, y, [np.arange(1000), np.arange(1000, 1010)], fit_intercept=False)
    assert not g.ok[0] and g.ok[1]
    assert np.isnan(g.dfbeta[0]).all() and np.isfinite(g.dfbeta[1]).all()


@pytest.mark.parametrize("n,d,alpha", [(10, 300, 1000.0), (200, 5, 0.0)])
def test_dual_and_scaled_fits_survive_pickling(n, d, alpha):
    import pickle

    r0 = np.random.default_rng(13)
    X = r0.normal(size=(n, d)) * 1e-150 + 1e-145
    y = r0.normal(size=n) * 1e100
    r = attrib.linear_loo(X, y, alpha=alpha * 1e-300)
    back = pickle.loads(pickle.dumps(r))
    assert back._fit.dual == (d > n)
    for f in ("hat", "cooks_distance", "dfbeta", "dfbetas"):
        assert np.isfinite(getattr(r, f)).all(), f
        assert_array_equal(getattr(back, f), getattr(r, f))
    g = np.arange(n) % 3
    assert_array_equal(back.group_loo(g).dfbeta, r.group_loo(g).dfbeta)
