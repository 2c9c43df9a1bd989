"""attrib.metrics: mislabel detection (against scikit-learn's roc_auc_score and a brute-force
curve) and removal curves (against a loop of scikit-learn refits)."""

from __future__ import annotations

import numpy as np
import pytest

import attrib
from attrib import metrics

sklearn = pytest.importorskip("sklearn")
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.metrics import roc_auc_score  # noqa: E402
from sklearn.neighbors import KNeighborsClassifier  # noqa: E402


@pytest.mark.parametrize("ties", [False, True])
def test_mislabel_auc_equals_roc_auc_score(rng, ties):
    n = 500
    flipped = rng.random(n) < 0.1
    values = rng.normal(size=n) - 1.5 * flipped
    if ties:
        values = np.round(values * 2) / 2
    r = metrics.mislabel_auc(values, flipped)
    assert r.auc == pytest.approx(roc_auc_score(flipped, -values), abs=1e-12)
    assert r.n_flipped == int(flipped.sum())
    # the curve: inspect from the lowest value up (ties by lower index), count the flipped found
    order = sorted(range(n), key=lambda i: (values[i], i))
    np.testing.assert_array_equal(r.order, order)
    found = np.concatenate([[0], np.cumsum(flipped[order])]) / flipped.sum()
    np.testing.assert_allclose(r.found, found)
    np.testing.assert_allclose(r.inspected, np.arange(n + 1) / n)
    assert r.found[-1] == 1.0
    assert r.found_at(0.5) == r.found[250]


def test_mislabel_auc_of_shapley_values_on_flipped_labels():
    data = attrib.datasets.load_breast_cancer()
    X = (data.X - data.X.mean(0)) / data.X.std(0)
    rng = np.random.default_rng(3)
    y = data.y[:300].copy()
    flipped = rng.random(300) < 0.1
    y[flipped] = 1 - y[flipped]
    v = attrib.knn_shapley(X[:300], y, X[300:], data.y[300:], k=10)
    r = metrics.mislabel_auc(v, flipped)  # a result object is accepted
    assert r.auc > 0.85
    assert "MislabelResult(auc=" in repr(r)


def test_mislabel_auc_bad_input():
    with pytest.raises(ValueError, match="at least one flipped and one clean"):
        metrics.mislabel_auc([1.0, 2.0], [False, False])
    with pytest.raises(ValueError, match="is_flipped must have shape"):
        metrics.mislabel_auc([1.0, 2.0, 3.0], [True, False])
    with pytest.raises(ValueError, match="boolean or 0/1"):
        metrics.mislabel_auc([1.0, 2.0], [2, 0])
    with pytest.raises(ValueError, match="values contains NaN"):
        metrics.mislabel_auc([1.0, np.nan], [True, False])
    with pytest.raises(ValueError, match="1-D"):
        metrics.mislabel_auc(np.ones((2, 2)), [True, False])
    with pytest.raises(ValueError, match=r"fraction must be in \[0, 1\]"):
        metrics.mislabel_auc([1.0, 2.0], [1, 0]).found_at(1.5)


def _data():
    data = attrib.datasets.load_breast_cancer()
    X = (data.X - data.X.mean(0)) / data.X.std(0)
    return X[:250], data.y[:250], X[250:], data.y[250:]


@pytest.mark.parametrize("order", ["high", "low"])
def test_removal_curve_equals_sklearn_refits(order):
    X, y, Xt, yt = _data()
    values = attrib.knn_shapley(X, y, Xt, yt).values
    fractions = [0.0, 0.1, 0.25, 0.4]
    curve = metrics.removal_curve(values, X, y, Xt, yt, fractions=fractions, order=order, C=0.5)
    removal = np.argsort(-values if order == "high" else values, kind="stable")
    np.testing.assert_array_equal(curve.removal_order, removal)
    for j, f in enumerate(fractions):
        k = round(f * len(y))
        keep = np.sort(removal[k:])
        est = LogisticRegression(C=0.5, solver="newton-cholesky", tol=1e-12, max_iter=1000).fit(X[keep], y[keep])
        assert curve.n_removed[j] == k
        assert curve.score[j] == est.score(Xt, yt)
        p = est.predict_proba(Xt)[:, 1]
        ll = -np.mean(yt * np.log(p) + (1 - yt) * np.log1p(-p))
        assert curve.log_loss[j] == pytest.approx(ll, rel=1e-8)
    assert curve.complete and curve.order == order and curve.model == "logistic(C=0.5)"


def test_removal_curve_with_an_estimator_and_one_class_left():
    X, y, Xt, yt = _data()
    values = np.where(y == 1, 1.0, -1.0) + np.arange(y.size) * 1e-6  # class 1 has the high values
    n1 = int(y.sum())
    f = (y.size - n1) / y.size  # "low" removes every class-0 point at this fraction
    knn = KNeighborsClassifier(3)
    curve = metrics.removal_curve(values, X, y, Xt, yt, model=knn, fractions=[0.0, 0.2, f], order="low")
    assert curve.score[0] == KNeighborsClassifier(3).fit(X, y).score(Xt, yt)
    keep = np.sort(np.argsort(values, kind="stable")[50:])
    assert curve.score[1] == KNeighborsClassifier(3).fit(X[keep], y[keep]).score(Xt, yt)
    assert curve.score[2] == np.mean(yt == 1)  # one class left: predicts it
    assert curve.log_loss is None
    builtin = metrics.removal_curve(values, X, y, Xt, yt, fractions=[f], order="low")
    assert builtin.score[0] == np.mean(yt == 1)
    p = (n1 + 1) / (n1 + 2)
    assert builtin.log_loss[0] == pytest.approx(-np.mean(yt * np.log(p) + (1 - yt) * np.log(1 - p)))


def test_removal_curve_bad_input():
    X, y, Xt, yt = _data()
    v = np.zeros(y.size)
    with pytest.raises(ValueError, match="order must be"):
        metrics.removal_curve(v, X, y, Xt, yt, order="top")
    with pytest.raises(ValueError, match=r"fractions must lie in \[0, 1\)"):
        metrics.removal_curve(v, X, y, Xt, yt, fractions=[0.5, 1.0])
    with pytest.raises(ValueError, match="removes every one of the 250"):
        metrics.removal_curve(v, X, y, Xt, yt, fractions=[0.999])
    with pytest.raises(ValueError, match="values has 249 entries but X has 250 rows"):
        metrics.removal_curve(v[1:], X, y, Xt, yt)
    with pytest.raises(ValueError, match="exactly two classes"):
        metrics.removal_curve(v, X, np.arange(250) % 3, Xt, yt)
    with pytest.raises(ValueError, match="model must be"):
        metrics.removal_curve(v, X, y, Xt, yt, model="ridge")
    with pytest.raises(TypeError, match="model must be"):
        metrics.removal_curve(v, X, y, Xt, yt, model=object())
    with pytest.raises(ValueError, match="X_test has 3 features"):
        metrics.removal_curve(v, X, y, Xt[:, :3], yt)
