"""family="multinomial" against oracles nobody here wrote: scikit-learn's multinomial
LogisticRegression(C, solver="newton-cholesky", tol=1e-12) fits and refits without each row (exact
leave-one-out, test cross-entropy changes to 1e-8), the binary family after the K = 2
reparametrisation, and the Newton step's agreement with exact leave-one-out on digits.

Data are small subsets of digits and wine (scikit-learn's copies) so that the refits stay fast."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.special import logsumexp
from sklearn.datasets import load_digits, load_wine
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

import attrib
from attrib.exceptions import LeverageOneWarning, NotAtOptimumWarning

REFIT_ATOL = 1e-8


def standardised(X):
    sd = X.std(axis=0)
    return (X - X.mean(axis=0)) / np.where(sd > 0, sd, 1.0)


@pytest.fixture(scope="module")
def digits():
    d = load_digits()
    rng = np.random.default_rng(7)
    idx = rng.permutation(d.target.size)
    X = standardised(d.data.astype(float))[idx]
    return X, d.target[idx]


@pytest.fixture(scope="module")
def wine():
    d = load_wine()
    rng = np.random.default_rng(3)
    idx = rng.permutation(d.target.size)
    return standardised(d.data)[idx], d.target[idx]


def sk_fit(X, y, C, w=None, fit_intercept=True):
    kw = {"C": np.inf} if C is None else {"C": C}
    m = LogisticRegression(**kw, solver="newton-cholesky", tol=1e-12, max_iter=1000, fit_intercept=fit_intercept)
    # One BLAS thread: scikit-learn's multinomial newton-cholesky runs ~50x slower on a loaded
    # 2-core machine when its BLAS calls spawn threads.
    with warnings.catch_warnings(), threadpool_limits(1):
        warnings.simplefilter("ignore")  # C=inf: scikit-learn's note about no penalty
        return m.fit(X, y, sample_weight=w)


def xent(model, X, y):
    """Per-point test cross-entropy from the decision function (stable log-softmax)."""
    eta = model.decision_function(X)
    return logsumexp(eta, axis=1) - eta[np.arange(len(y)), np.searchsorted(model.classes_, y)]


def params(model):
    return np.hstack([model.intercept_[:, None], model.coef_])


# ---------------------------------------------------------------- the fit
@pytest.mark.parametrize("C", [0.1, 1.0])
def test_fit_equals_scikit_learn_on_digits(digits, C):
    X, y = digits
    X, y = X[:500], y[:500]
    r = attrib.glm_loo(X, y, family="multinomial", C=C, refine=0)
    sk = sk_fit(X, y, C)
    assert r.coef_.shape == (10, 64) and r.intercept_.shape == (10,) and r.dcoef.shape == (500, 10, 65)
    scale = max(1.0, np.abs(params(sk)).max())
    assert_allclose(r.coef_, sk.coef_, rtol=0, atol=1e-8 * scale)
    assert_allclose(r.intercept_, sk.intercept_, rtol=0, atol=1e-8 * scale)
    assert abs(r.intercept_.sum()) < 1e-10 and np.abs(r.coef_.sum(axis=0)).max() < 1e-9


@pytest.mark.parametrize("C,fit_intercept", [(1.0, True), (0.05, True), (1.0, False)])
def test_fit_equals_scikit_learn_on_wine(wine, C, fit_intercept):
    X, y = wine
    r = attrib.glm_loo(X, y, family="multinomial", C=C, fit_intercept=fit_intercept, refine=0)
    sk = sk_fit(X, y, C, fit_intercept=fit_intercept)
    assert_allclose(r.coef_, sk.coef_, rtol=0, atol=1e-8 * max(1.0, np.abs(sk.coef_).max()))
    assert_allclose(r.intercept_, sk.intercept_ if fit_intercept else 0.0, rtol=0, atol=1e-8)


def test_unpenalised_fit_is_scikit_learns_symmetric_solution(rng):
    # C=None: the loss alone fixes the coefficients only up to a common shift per coordinate;
    # attrib reports the one summing to zero over the classes, as scikit-learn does for C=inf.
    X = rng.normal(size=(300, 3))
    eta = X @ rng.normal(size=(3, 4))
    y = np.array([rng.choice(4, p=np.exp(e) / np.exp(e).sum()) for e in eta])
    r = attrib.glm_loo(X, y, family="multinomial", C=None, refine=0)
    sk = sk_fit(X, y, None)
    assert_allclose(r.coef_, sk.coef_, rtol=0, atol=1e-8)
    assert_allclose(r.intercept_, sk.intercept_, rtol=0, atol=1e-8)
    assert np.abs(r.coef_.sum(axis=0)).max() < 1e-10


def numpy_hessian(X, P, C, K):
    """The gauge-free Hessian of the multinomial objective (sum convention) at probabilities P."""
    n, d = X.shape
    Z = np.hstack([np.ones((n, 1)), X])
    p = d + 1
    Y = (P[:, :, None] * Z[:, None, :]).reshape(n, K * p)
    H = -(Y.T @ Y)
    for k in range(K):
        H[k * p : (k + 1) * p, k * p : (k + 1) * p] += (Z * P[:, k : k + 1]).T @ Z
        H[k * p + 1 + np.arange(d), k * p + 1 + np.arange(d)] += 1.0 / C
    return H


def test_fit_on_all_of_digits_ends_on_the_exact_hessian_at_its_optimum(digits):
    # The benchmark problem (1,797 x 64, K = 10): the fit solves its Newton steps by conjugate
    # gradients preconditioned by older Hessians (a Kronecker one at the null start), so check that
    # it still lands on scikit-learn's optimum and that the Hessian it reports (every leave-one-out
    # formula uses it) is the one at that optimum, not a stale preconditioner.
    X, y = digits
    r = attrib.glm_loo(X, y, family="multinomial", C=1.0, refine=0)
    sk = sk_fit(X, y, 1.0)
    scale = max(1.0, np.abs(params(sk)).max())
    assert_allclose(r.coef_, sk.coef_, rtol=0, atol=1e-8 * scale)
    assert_allclose(r.intercept_, sk.intercept_, rtol=0, atol=1e-8 * scale)
    fit, K, p = r._fit, 10, 65
    L = np.asarray(fit.chol)
    H = L @ L.T
    # The gauge term (gamma/2)(sum_k b_k)^2 on the intercepts: gamma = n / K^2 (unit weights).
    G = numpy_hessian(X, sk.predict_proba(X), 1.0, K)
    G[np.ix_(np.arange(K) * p, np.arange(K) * p)] += len(y) / K**2
    assert_allclose(H, G, rtol=0, atol=1e-9 * np.abs(G).max())
    Hi = np.asarray(fit.hess_inv)
    assert_array_equal(Hi, Hi.T)
    assert_allclose(Hi @ H, np.eye(K * p), rtol=0, atol=1e-10)
    # rcond: the 1-norm reciprocal condition number of H scaled to a unit diagonal.
    dh = np.sqrt(np.diag(H))
    S, Si = H / np.outer(dh, dh), Hi * np.outer(dh, dh)
    want = 1.0 / (np.abs(S).sum(axis=0).max() * np.abs(Si).sum(axis=0).max())
    assert fit.rcond == pytest.approx(want, rel=1e-8)


def test_ill_conditioned_fit_equals_scikit_learn(digits):
    # Raw pixel counts (0 to 16, not centred, some columns constant zero) with a weak penalty: a
    # Hessian far from a unit diagonal, where the conjugate-gradient steps need their refreshes and
    # fallbacks.
    d = load_digits()
    X, y = d.data[:400].astype(float), d.target[:400]
    r = attrib.glm_loo(X, y, family="multinomial", C=100.0, refine=0)
    sk = sk_fit(X, y, 100.0)
    scale = max(1.0, np.abs(params(sk)).max())
    assert_allclose(r.coef_, sk.coef_, rtol=0, atol=1e-8 * scale)
    assert_allclose(r.intercept_, sk.intercept_, rtol=0, atol=1e-8 * scale)


def test_fit_started_at_the_optimum_takes_one_iteration(wine):
    # A fitted estimator's coefficients are the start: the first (exact) Hessian is the last one.
    X, y = wine
    a = attrib.glm_loo(X, y, family=sk_fit(X, y, 0.3))
    b = attrib.glm_loo(X, y, family="multinomial", C=0.3)
    assert a.n_iter_ == 1 and b.n_iter_ > 1
    assert_allclose(np.asarray(a._fit.hess_inv), np.asarray(b._fit.hess_inv), rtol=0, atol=1e-9)


def test_fitted_estimator_as_family(wine):
    X, y = wine
    est = sk_fit(X, y, 0.3)
    a = attrib.glm_loo(X, y, family=est)
    b = attrib.glm_loo(X, y, family="multinomial", C=0.3)
    assert a.family == "multinomial" and a.C == pytest.approx(0.3)
    assert_allclose(a.dcoef, b.dcoef, rtol=0, atol=1e-8)  # two fits within FIT_TOL of each other
    loose = LogisticRegression(C=0.3, tol=1e-2, max_iter=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loose.fit(X, y)
    with pytest.warns(NotAtOptimumWarning):
        c = attrib.glm_loo(X, y, family=loose)
    assert_allclose(c.coef_, b.coef_, rtol=0, atol=1e-9)


# ---------------------------------------------------------------- exact leave-one-out
def test_exact_loo_equals_refits_without_each_row(wine):
    X, y = wine
    Xtr, ytr, Xte, yte = X[:140], y[:140], X[140:], y[140:]
    C = 0.5
    r = attrib.glm_loo(Xtr, ytr, family="multinomial", C=C, method="exact")
    E = r.influence(Xte, yte)
    full = sk_fit(Xtr, ytr, C)
    base = xent(full, Xte, yte)
    for i in [0, 7, 33, 64, 101, 139]:
        keep = np.arange(140) != i
        sk = sk_fit(Xtr[keep], ytr[keep], C)
        assert_allclose(r.dcoef[i], params(full) - params(sk), rtol=0, atol=REFIT_ATOL)
        assert_allclose(E[i], xent(sk, Xte, yte) - base, rtol=0, atol=REFIT_ATOL)


def test_exact_loo_equals_refits_on_digits(digits):
    X, y = digits
    Xtr, ytr, Xte, yte = X[:400], y[:400], X[1500:1560], y[1500:1560]
    rows = np.array([3, 50, 222, 399])
    r = attrib.glm_loo(Xtr, ytr, family="multinomial", C=1.0, refine=rows)
    assert_array_equal(r.refined, rows)
    E = r.influence(Xte, yte)
    full = sk_fit(Xtr, ytr, 1.0)
    base = xent(full, Xte, yte)
    for i in rows:
        keep = np.arange(400) != i
        sk = sk_fit(Xtr[keep], ytr[keep], 1.0)
        assert_allclose(E[i], xent(sk, Xte, yte) - base, rtol=0, atol=REFIT_ATOL)


def test_zero_weight_is_deletion(wine):
    X, y = wine
    w = np.ones(len(y))
    w[5] = 0.0
    a = attrib.glm_loo(X, y, family="multinomial", C=1.0, sample_weight=w, refine=0)
    b = attrib.glm_loo(np.delete(X, 5, 0), np.delete(y, 5), family="multinomial", C=1.0, refine=0)
    assert_allclose(a.coef_, b.coef_, rtol=0, atol=1e-10)
    assert_allclose(np.delete(a.dcoef, 5, 0), b.dcoef, rtol=0, atol=1e-10)
    assert_array_equal(a.dcoef[5], 0.0)


# ---------------------------------------------------------------- Newton step vs exact
@pytest.mark.parametrize("C", [0.1, 1.0])
def test_newton_step_tracks_exact_on_digits(digits, C):
    # 1,000 training rows of digits (all ten classes) and 200 test points: the subsample keeps the
    # exact leave-one-out of every row within a few seconds (bench_glm.py --multiclass-only runs
    # 1,500 / 297). Measured here: Newton 0.9994 (C = 0.1) and 0.9969 (C = 1), "auto" 1.0000 and 0.9996.
    X, y = digits
    Xtr, ytr, Xte, yte = X[:1000], y[:1000], X[1200:1400], y[1200:1400]
    ex = attrib.glm_loo(Xtr, ytr, family="multinomial", C=C, method="exact")
    ns = attrib.glm_loo(Xtr, ytr, family="multinomial", C=C, refine=0)
    auto = attrib.glm_loo(Xtr, ytr, family="multinomial", C=C)
    e = ex.influence(Xte, yte).ravel()
    for r, floor in ((ns, 0.99), (auto, 0.99)):
        assert np.corrcoef(r.influence(Xte, yte).ravel(), e)[0, 1] >= floor
    inf = attrib.glm_loo(Xtr, ytr, family="multinomial", C=C, method="influence")
    err_ns = np.linalg.norm(ns.dcoef - ex.dcoef)
    assert err_ns < np.linalg.norm(inf.dcoef - ex.dcoef)
    assert np.linalg.norm(auto.dcoef - ex.dcoef) <= err_ns
    assert auto.refined.size == 65  # ceil(K p / 10) = ceil(650 / 10)


# ---------------------------------------------------------------- K = 2 is the binary family
@pytest.mark.parametrize("method", ["newton", "influence", "exact"])
def test_two_classes_equal_the_binary_family(rng, method):
    # Softmax with two classes: the penalty C keeps w_0 = -w_1, so beta = w_1 - w_0 = 2 w_1 and
    # ||w_0||^2 + ||w_1||^2 = ||beta||^2 / 2: the objective C sum loss + ||beta||^2 / 4 is binary
    # logistic regression with C_binary = 2 C, and the class-1-minus-class-0 differences of
    # coefficients, intercepts and dcoef are the binary ones.
    X = rng.normal(size=(150, 4))
    y = (X @ np.array([1.0, -0.5, 0.3, 0.0]) + rng.normal(size=150) > 0).astype(int)
    Xt = rng.normal(size=(40, 4))
    yt = (Xt[:, 0] > 0).astype(int)
    m = attrib.glm_loo(X, y, family="multinomial", C=0.4, method=method, refine=0 if method != "exact" else "auto")
    b = attrib.glm_loo(X, y, family="logistic", C=0.8, method=method, refine=0 if method != "exact" else "auto")
    # Unpolished fits (refine=0) stop within 1e-10 (relative) of their optimum: compare to 1e-8.
    tol = 1e-10 if method == "exact" else 1e-8
    assert_allclose(m.params_[1] - m.params_[0], b.params_, rtol=0, atol=tol)
    assert_allclose(m.dcoef[:, 1] - m.dcoef[:, 0], b.dcoef, rtol=0, atol=tol)
    assert_allclose(m.hat, b.hat, rtol=0, atol=tol)
    assert_allclose(m.influence(Xt, yt), b.influence(Xt, yt), rtol=0, atol=tol)


# ---------------------------------------------------------------- influence, top-k, groups
def test_influence_function_and_top_k(wine):
    X, y = wine
    r = attrib.glm_loo(X[:120], y[:120], family="multinomial", C=1.0)
    E = attrib.influence(X[:120], y[:120], X[120:], y[120:], family="multinomial", C=1.0)
    assert_allclose(E, r.influence(X[120:], y[120:]), rtol=0, atol=0)
    T = attrib.influence(X[:120], y[:120], X[120:], y[120:], family="multinomial", C=1.0, top_k=5)
    order = np.argsort(-E, axis=0, kind="stable")[:5].T
    assert_array_equal(T.helpful_idx, order)
    assert_array_equal(T.helpful_val, np.take_along_axis(E.T, order, axis=1))
    low = np.argsort(E, axis=0, kind="stable")[:5].T
    assert_array_equal(T.harmful_idx, low)


def test_influence_method_is_the_plain_gradient_solve(wine):
    X, y = wine
    r = attrib.glm_loo(X, y, family="multinomial", C=1.0, method="influence")
    fit = r._fit
    K, p = 3, X.shape[1] + 1
    Z = np.hstack([np.ones((len(y), 1)), X])
    resid = np.asarray(fit.prob) - np.eye(K)[y]
    Hinv = np.asarray(fit.hess_inv)
    grads = np.einsum("ik,ip->ikp", resid, Z).reshape(len(y), K * p)
    assert_allclose(r.dcoef.reshape(len(y), -1), -grads @ Hinv, rtol=0, atol=1e-12)


def test_group_removal_equals_refits(wine):
    X, y = wine
    r = attrib.glm_loo(X, y, family="multinomial", C=1.0, refine=0)
    singles = r.group_loo([np.array([i]) for i in range(10)])
    assert_allclose(singles.dcoef, r.dcoef[:10], rtol=0, atol=1e-12)
    groups = [np.array([0, 1, 2]), np.array([10, 50, 90, 130]), np.arange(100, 120)]
    g = r.group_loo(groups, method="exact")
    full = sk_fit(X, y, 1.0)
    for k, rows in enumerate(groups):
        keep = np.setdiff1d(np.arange(len(y)), rows)
        sk = sk_fit(X[keep], y[keep], 1.0)
        assert_allclose(g.dcoef[k], params(full) - params(sk), rtol=0, atol=REFIT_ATOL)
    # the Newton step of a group is close to its exact removal, closer than the sum of row steps
    assert np.linalg.norm(g.dcoef_newton - g.dcoef) < 0.2 * np.linalg.norm(g.dcoef)


# ---------------------------------------------------------------- determinism, pickling
@pytest.mark.parametrize("method", ["newton", "exact"])
def test_bitwise_equal_for_any_thread_count(wine, method):
    X, y = wine
    runs = [attrib.glm_loo(X, y, family="multinomial", C=0.7, method=method, n_jobs=j) for j in (1, 2, 3)]
    for r in runs[1:]:
        assert_array_equal(r.dcoef, runs[0].dcoef)
        assert_array_equal(r.coef_, runs[0].coef_)
    E = [r.influence(X[:30], y[:30]) for r in runs]
    assert_array_equal(E[1], E[0])


def test_pickle_round_trip(wine):
    X, y = wine
    r = attrib.glm_loo(X, y, family="multinomial", C=0.7)
    s = pickle.loads(pickle.dumps(r))
    assert_array_equal(s.dcoef, r.dcoef)
    assert_array_equal(s.influence(X[:20], y[:20]), r.influence(X[:20], y[:20]))


# ---------------------------------------------------------------- bad input
def test_a_class_with_one_member_has_an_undefined_leave_one_out(wine):
    X, y = wine
    y = y.copy()
    y[4] = 7  # the only member of class 7
    with pytest.warns(LeverageOneWarning, match="only training rows of their class"):
        r = attrib.glm_loo(X, y, family="multinomial", C=1.0)
    assert r.leverage_one[4] and np.isnan(r.dcoef[4]).all()
    assert np.isfinite(np.delete(r.dcoef, 4, 0)).all()
    # without an intercept the class's coefficients stay finite (penalised): defined
    r0 = attrib.glm_loo(X, y, family="multinomial", C=1.0, fit_intercept=False, method="exact")
    assert np.isfinite(r0.dcoef).all()


def test_as_many_classes_as_rows():
    X = np.arange(8.0).reshape(4, 2)
    with pytest.warns(LeverageOneWarning):
        r = attrib.glm_loo(X, [0, 1, 2, 3], family="multinomial", C=1.0)
    assert np.isnan(r.dcoef).all() and r.coef_.shape == (4, 2)


def test_bad_labels_and_arguments(wine):
    X, y = wine
    r = attrib.glm_loo(X, y, family="multinomial", C=1.0)
    with pytest.raises(ValueError, match="y_test has a label not among the training classes"):
        r.influence(X[:3], [0, 1, 5])
    with pytest.raises(ValueError, match="at least two classes"):
        attrib.glm_loo(X, np.zeros(len(y)), family="multinomial")
    with pytest.raises(ValueError, match="offset is not supported"):
        attrib.glm_loo(X, y, family="multinomial", offset=np.zeros(len(y)))
    est = sk_fit(X, y, 1.0)
    with pytest.raises(ValueError, match="lacks"):
        attrib.glm_loo(X[y > 0], y[y > 0], family=est)  # more classes than y holds
    with pytest.raises(ValueError, match="features"):
        attrib.glm_loo(X[:, :5], y, family=est)
    with pytest.raises(ValueError, match="perfect separation|singular|did not converge"):
        attrib.glm_loo(X, y, family="multinomial", C=None)  # wine separates


def test_influence_in_many_calls_equals_one_call(monkeypatch):
    # influence() runs in short calls of whole tiles so that Ctrl-C takes effect between them.
    rng = np.random.default_rng(9)
    X = rng.normal(size=(700, 4))
    y = np.argmax(X @ rng.normal(size=(4, 3)) + rng.gumbel(size=(700, 3)), axis=1)
    r = attrib.glm_loo(X, y, family="multinomial", refine=0)
    whole, top = r.influence(X[:300], y[:300]), r.influence(X[:300], y[:300], top_k=4)
    core = attrib._dispatch.core
    one = np.empty_like(whole)
    core.multinomial_loss_change(X[:300], y[:300].astype(float), r._fit, r._dcoef.reshape(700, -1), 2, one)
    np.testing.assert_array_equal(whole, one)
    monkeypatch.setattr(attrib._loo, "PIECE_SECONDS", 1e-9)  # one round of tiles per call
    np.testing.assert_array_equal(r.influence(X[:300], y[:300]), whole)
    pieces = r.influence(X[:300], y[:300], top_k=4)
    for name in ("helpful_idx", "helpful_val", "harmful_idx", "harmful_val"):
        np.testing.assert_array_equal(getattr(pieces, name), getattr(top, name))
