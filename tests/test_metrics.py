"""attrib.metrics: LDS and LOO correlation against scipy, the additive prediction from packed
masks, invariances, determinism, and the bootstrap interval."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

import attrib
from attrib import metrics


class PackedMasks:
    """The mask contract of attrib.SubsetMasks, duck-typed: .packed (uint8, packbits little) and .n_train."""

    def __init__(self, masks: np.ndarray):
        self.packed = np.packbits(masks, axis=1, bitorder="little")
        self.n_train = masks.shape[1]
        self.n_subsets = masks.shape[0]


def _problem(rng, m=60, n=203, T=37, alpha=0.5, fixed=True, noise=1.0):
    theta = rng.normal(size=(n, T))
    if fixed:
        k = round(alpha * n)
        masks = np.zeros((m, n), bool)
        for j in range(m):
            masks[j, rng.choice(n, k, replace=False)] = True
    else:
        masks = rng.random((m, n)) < alpha
    outputs = masks @ theta + noise * rng.normal(size=(m, T)) * np.sqrt(n)
    return theta + 0.5 * rng.normal(size=(n, T)), masks, outputs


def _spearman_loop(scores, masks, outputs):
    pred = masks.astype(float) @ scores
    return np.array([stats.spearmanr(pred[:, t], outputs[:, t]).statistic for t in range(scores.shape[1])])


def test_lds_equals_a_loop_of_spearmanr(rng, core):
    scores, masks, outputs = _problem(rng)
    r = metrics.lds(scores, masks, outputs)
    expected = _spearman_loop(scores, masks, outputs)
    np.testing.assert_allclose(r.per_target, expected, rtol=0, atol=1e-12)
    assert r.mean == pytest.approx(expected.mean(), abs=1e-12)
    assert r.n_subsets == 60 and r.n_train == 203 and r.complete


def test_lds_with_ties_in_outputs_and_scores(rng):
    # outputs rounded to a few levels (e.g. correctness), integer scores: many exact ties
    scores, masks, outputs = _problem(rng, m=80, n=64, T=40)
    scores = np.round(scores)
    outputs = np.round(outputs / outputs.std())
    r = metrics.lds(scores, masks, outputs, nan_policy="propagate")
    np.testing.assert_allclose(r.per_target, _spearman_loop(scores, masks, outputs), rtol=0, atol=1e-12)


@pytest.mark.parametrize("n", [1, 3, 8, 127, 128, 129, 300])
def test_lds_any_n_train(rng, n):
    # row blocks of 128 and nibbles of 4: every remainder
    scores, masks, outputs = _problem(rng, m=12, n=n, T=33, fixed=False)
    masks[0] = ~masks[1]  # the subsets differ even for n = 1
    r = metrics.lds(scores, masks, outputs, nan_policy="propagate")
    np.testing.assert_allclose(r.per_target, _spearman_loop(scores, masks, outputs), rtol=0, atol=1e-12)


def test_additive_prediction_is_the_masked_sum(rng, core):
    scores, masks, _ = _problem(rng, m=300, n=261, T=70, fixed=False)  # two subset blocks, three tiles
    pred = metrics.additive_prediction(scores, masks)
    np.testing.assert_allclose(pred, masks.astype(float) @ scores, rtol=1e-13, atol=1e-12)
    one = metrics.additive_prediction(scores[:, 5], masks)
    assert one.shape == (300,)
    np.testing.assert_array_equal(one, pred[:, 5])


def test_packed_masks_equal_boolean_masks(rng):
    scores, masks, outputs = _problem(rng, n=205)
    a = metrics.lds(scores, masks, outputs)
    b = metrics.lds(scores, PackedMasks(masks), outputs)
    c = metrics.lds(scores, masks.astype(np.int8), outputs)
    d = metrics.lds(scores, masks.astype(float), outputs)
    for other in (b, c, d):
        np.testing.assert_array_equal(other.per_target, a.per_target)
        np.testing.assert_array_equal(other.bootstrap_means, a.bootstrap_means)
    np.testing.assert_array_equal(
        metrics.additive_prediction(scores, PackedMasks(masks)), metrics.additive_prediction(scores, masks)
    )


def test_padding_bits_of_packed_masks_are_ignored(rng):
    scores, masks, outputs = _problem(rng, n=205)  # 205 = 25 bytes + 5 bits
    pm = PackedMasks(masks)
    dirty = PackedMasks(masks)
    dirty.packed[:, -1] |= 0b11100000
    np.testing.assert_array_equal(metrics.additive_prediction(scores, dirty), metrics.additive_prediction(scores, pm))


def test_bitwise_identical_for_any_n_jobs_and_block(rng):
    scores, masks, outputs = _problem(rng, m=270, n=300, T=100, fixed=False)
    ref = metrics.lds(scores, masks, outputs, n_jobs=1)
    pred = metrics.additive_prediction(scores, masks, n_jobs=1)
    for n_jobs in (2, 3, 5):
        r = metrics.lds(scores, masks, outputs, n_jobs=n_jobs)
        assert r.per_target.tobytes() == ref.per_target.tobytes()
        assert r.bootstrap_means.tobytes() == ref.bootstrap_means.tobytes()
        assert r.ci == ref.ci
        assert metrics.additive_prediction(scores, masks, n_jobs=n_jobs).tobytes() == pred.tobytes()
    # a target's value and prediction do not depend on the other targets or the other subsets
    part = metrics.lds(scores[:, 40:41], masks, outputs[:, 40])
    assert part.per_target[0] == ref.per_target[40]
    assert metrics.additive_prediction(scores[:, 7], masks[100:110]).tobytes() == pred[100:110, 7].tobytes()


def test_lds_invariant_to_scale_and_constant(rng):
    scores, masks, outputs = _problem(rng, fixed=True)
    base = metrics.lds(scores, masks, outputs).per_target
    np.testing.assert_array_equal(metrics.lds(4.0 * scores, masks, outputs).per_target, base)
    np.testing.assert_allclose(metrics.lds(3.7 * scores, masks, outputs).per_target, base, rtol=0, atol=1e-12)
    # fixed-size subsets: a constant added to every score shifts each prediction by the same amount
    np.testing.assert_allclose(metrics.lds(scores + 2.5, masks, outputs).per_target, base, rtol=0, atol=1e-12)
    # a positive scale per target, too
    np.testing.assert_allclose(
        metrics.lds(scores * rng.uniform(0.1, 10, size=scores.shape[1]), masks, outputs).per_target,
        base,
        rtol=0,
        atol=1e-12,
    )
    # and a monotone transform of the outputs
    np.testing.assert_allclose(metrics.lds(scores, masks, np.exp(outputs / 50)).per_target, base, atol=1e-12)


def test_lds_of_the_true_additive_model_is_one(rng):
    n, T, m = 150, 20, 100
    theta = rng.normal(size=(n, T))
    masks = rng.random((m, n)) < 0.5
    r = metrics.lds(theta, masks, masks @ theta + 3.0)
    np.testing.assert_allclose(r.per_target, 1.0, rtol=0, atol=1e-12)
    assert r.ci == pytest.approx((1.0, 1.0), abs=1e-12)
    # the reversed sign (harmful > 0) is -1: the convention matters
    assert metrics.lds(-theta, masks, masks @ theta).mean == pytest.approx(-1.0, abs=1e-12)


def test_lds_accepts_one_target_and_result_objects(rng):
    scores, masks, outputs = _problem(rng, T=1)
    r1 = metrics.lds(scores[:, 0], masks, outputs[:, 0])
    r2 = metrics.lds(scores, masks, outputs)
    assert r1.per_target.tobytes() == r2.per_target.tobytes()
    shap = attrib.ShapleyResult(scores[:, 0], np.zeros(scores.shape[0]), np.ones(scores.shape[0]), True, method="x")
    assert metrics.lds(shap, masks, outputs[:, 0]).mean == r1.mean

    class Datamodels:
        weights = scores

    assert metrics.lds(Datamodels(), masks, outputs).mean == r1.mean


def test_bootstrap_interval(rng):
    scores, masks, outputs = _problem(rng, T=200, noise=3.0)
    r = metrics.lds(scores, masks, outputs, n_bootstrap=2000, ci=0.9, seed=7)
    assert r.bootstrap_means.shape == (2000,)
    lo, hi = r.ci
    assert lo < r.mean < hi
    # the percentile interval of the resampled means, which centre on the mean with the
    # standard error of a mean over targets
    np.testing.assert_allclose((lo, hi), np.quantile(r.bootstrap_means, [0.05, 0.95]))
    se = r.per_target.std(ddof=1) / np.sqrt(200)
    assert r.bootstrap_means.mean() == pytest.approx(r.mean, abs=0.2 * se)
    assert r.bootstrap_means.std() == pytest.approx(se, rel=0.1)
    again = metrics.lds(scores, masks, outputs, n_bootstrap=2000, ci=0.9, seed=7)
    assert again.bootstrap_means.tobytes() == r.bootstrap_means.tobytes()
    other = metrics.lds(scores, masks, outputs, n_bootstrap=2000, ci=0.9, seed=8)
    assert other.ci != r.ci
    # resample b is a pure function of (values, seed, b): more resamples extend the same sequence
    more = metrics.lds(scores, masks, outputs, n_bootstrap=3000, ci=0.9, seed=7)
    assert more.bootstrap_means[:2000].tobytes() == r.bootstrap_means.tobytes()
    none = metrics.lds(scores, masks, outputs, n_bootstrap=0)
    assert np.isnan(none.ci).all() and none.bootstrap_means.size == 0
    assert "CorrelationResult(metric='lds'" in repr(r) and float(r) == r.mean


def test_bootstrap_draws_uniform_targets():
    # values 0..T-1: each resampled mean is the mean of T uniform draws from 0..T-1
    core = attrib._dispatch.core
    T = 50
    means = np.asarray(core.bootstrap_means(np.arange(T, dtype=float), 20000, 3, 1))
    assert means.mean() == pytest.approx((T - 1) / 2, abs=0.05)
    assert means.var() == pytest.approx((T**2 - 1) / 12 / T, rel=0.05)


def test_constant_targets_follow_the_nan_policy(rng):
    scores, masks, outputs = _problem(rng, T=6)
    outputs[:, [1, 4]] = 2.0
    with pytest.warns(attrib.UndefinedValueWarning, match=r"undefined for 2 of 6 targets \(columns 1, 4\)"):
        r = metrics.lds(scores, masks, outputs)
    assert np.isnan(r.per_target[[1, 4]]).all() and r.undefined.tolist() == [1, 4]
    assert r.mean == pytest.approx(np.nanmean(r.per_target))
    with pytest.raises(ValueError, match=r"undefined for 2 of 6 targets.*nan_policy='omit'"):
        metrics.lds(scores, masks, outputs, nan_policy="raise")
    p = metrics.lds(scores, masks, outputs, nan_policy="propagate")
    assert np.isnan(p.mean) and np.isnan(p.ci).all()
    # every target constant: nothing to average
    with pytest.raises(ValueError, match="undefined for every target"):
        metrics.lds(scores, masks, np.ones_like(outputs))
    # constant predictions (all-zero scores) are undefined too
    with pytest.warns(attrib.UndefinedValueWarning):
        metrics.lds(np.column_stack([np.zeros(scores.shape[0]), scores[:, 1]]), masks, outputs[:, [0, 2]])


def test_loo_correlation_equals_numpy_and_scipy(rng, core):
    A = rng.normal(size=(120, 15))
    B = A + 0.5 * rng.normal(size=A.shape)
    B[:, 3] = np.round(B[:, 3])  # ties
    p = metrics.loo_correlation(A, B)
    expected = [np.corrcoef(A[:, t], B[:, t])[0, 1] for t in range(15)]
    np.testing.assert_allclose(p.per_target, expected, rtol=0, atol=1e-12)
    s = metrics.loo_correlation(A, B, "spearman")
    expected = [stats.spearmanr(A[:, t], B[:, t]).statistic for t in range(15)]
    np.testing.assert_allclose(s.per_target, expected, rtol=0, atol=1e-12)
    assert p.metric == "loo_pearson" and s.metric == "loo_spearman" and p.n_subsets is None
    one = metrics.loo_correlation(A[:, 0], B[:, 0])
    assert one.per_target.shape == (1,) and one.mean == p.per_target[0]
    for n_jobs in (1, 3):
        assert metrics.loo_correlation(A, B, "spearman", n_jobs=n_jobs).per_target.tobytes() == s.per_target.tobytes()


def test_loo_correlation_of_glm_estimates_with_exact():
    data = attrib.datasets.load_breast_cancer()
    X = (data.X - data.X.mean(0)) / data.X.std(0)
    Xtr, ytr, Xq, yq = X[:400], data.y[:400], X[400:440], data.y[400:440]
    exact = attrib.glm_loo(Xtr, ytr, method="exact").influence(Xq, yq)
    newton = attrib.influence(Xtr, ytr, Xq, yq, method="newton")
    r = metrics.loo_correlation(newton, exact)
    assert r.mean > 0.99
    assert metrics.loo_correlation(exact, exact).mean == pytest.approx(1.0, abs=1e-12)


def test_a_leave_one_out_result_is_refused():
    data = attrib.datasets.load_breast_cancer()
    res = attrib.glm_loo(data.X[:100], data.y[:100], C=0.01)
    with pytest.raises(TypeError, match="Cook's distances.*influence"):
        metrics.lds(res, np.ones((3, 100), bool), np.zeros(3))


# ------------------------------------------------------------------------------- bad input
def test_bad_masks(rng):
    scores, masks, outputs = _problem(rng, n=50)
    with pytest.raises(ValueError, match="masks has 49 columns but scores has 50 rows"):
        metrics.lds(scores, masks[:, :49], outputs)
    with pytest.raises(ValueError, match="masks must be 2-D"):
        metrics.lds(scores, masks[0], outputs)
    with pytest.raises(ValueError, match=r"boolean or 0/1 \(row 0, column 3 is 2"):
        bad = masks.astype(int)
        bad[0, 3] = 2
        metrics.lds(scores, bad, outputs)
    with pytest.raises(TypeError, match="boolean or 0/1"):
        metrics.lds(scores, masks.astype(str), outputs)
    with pytest.raises(ValueError, match="at least 2 subsets"):
        metrics.lds(scores, masks[:1], outputs[:1])
    pm = PackedMasks(masks)
    pm.n_train = 51
    with pytest.raises(ValueError, match="masks cover 51 training points but scores has 50 rows"):
        metrics.lds(scores, pm, outputs)
    pm = PackedMasks(masks)
    pm.packed = pm.packed[:, :-1]
    with pytest.raises(ValueError, match=r"masks.packed must be uint8 of shape \(n_subsets, 7\)"):
        metrics.lds(scores, pm, outputs)
    with pytest.raises(TypeError, match="None"):
        metrics.lds(scores, None, outputs)


def test_bad_scores_and_outputs(rng):
    scores, masks, outputs = _problem(rng, n=50, T=4)
    bad = scores.copy()
    bad[7, 2] = np.nan
    with pytest.raises(ValueError, match=r"scores contains NaN or inf \(first at row 7, column 2"):
        metrics.lds(bad, masks, outputs)
    bad = outputs.copy()
    bad[3, 1] = np.inf
    with pytest.raises(ValueError, match="outputs contains NaN or inf"):
        metrics.lds(scores, masks, bad)
    with pytest.raises(ValueError, match=r"outputs must have shape \(60, 4\)"):
        metrics.lds(scores, masks, outputs[:, :3])
    with pytest.raises(ValueError, match=r"outputs must have shape \(60, 4\)"):
        metrics.lds(scores, masks, outputs[:-1])
    with pytest.raises(TypeError, match=r"outputs is a mapping.*outputs\['margin'\]"):
        metrics.lds(scores, masks, {"margin": outputs, "loss": outputs})
    with pytest.raises(ValueError, match="scores must be 1-D or 2-D"):
        metrics.lds(scores[None], masks, outputs)
    with pytest.raises(TypeError, match="scores must hold real numbers"):
        metrics.lds(scores.astype(complex), masks, outputs)


@pytest.mark.parametrize(
    "kwargs,exc,match",
    [
        (dict(ci=1.0), ValueError, r"ci must be in \(0, 1\)"),
        (dict(ci="0.9"), TypeError, "ci must be a number"),
        (dict(n_bootstrap=-1), ValueError, "n_bootstrap must be >= 0"),
        (dict(n_bootstrap=1.5), TypeError, "n_bootstrap must be an integer"),
        (dict(seed=-1), ValueError, "seed must be an integer in"),
        (dict(nan_policy="drop"), ValueError, "nan_policy must be one of"),
        (dict(n_jobs=0), ValueError, "n_jobs must not be 0"),
    ],
)
def test_bad_options(rng, kwargs, exc, match):
    scores, masks, outputs = _problem(rng, n=20, T=2)
    with pytest.raises(exc, match=match):
        metrics.lds(scores, masks, outputs, **kwargs)


def test_bad_loo_correlation_input(rng):
    A = rng.normal(size=(10, 3))
    with pytest.raises(ValueError, match=r"scores has shape \(10, 3\) but exact_loo has shape \(10, 2\)"):
        metrics.loo_correlation(A, A[:, :2])
    with pytest.raises(ValueError, match="method must be"):
        metrics.loo_correlation(A, A, "kendall")
    with pytest.raises(ValueError, match="at least 2 training points"):
        metrics.loo_correlation(A[:1], A[:1])
    B = A.copy()
    B[:, 1] = 0.0
    with pytest.raises(ValueError, match="undefined for 1 of 3 targets"):
        metrics.loo_correlation(A, B, nan_policy="raise")


def test_ctrl_c_keeps_the_targets_done(rng, monkeypatch):
    from attrib import _dispatch

    real = _dispatch.core
    calls = []

    class Interrupting:
        def __getattr__(self, name):
            return getattr(real, name)

        def lds_targets(self, *args):
            calls.append(args[4:6])
            if len(calls) == 2:
                raise KeyboardInterrupt
            return real.lds_targets(*args)

    # big enough (m x n) that the first block holds only some of the targets
    scores, masks, outputs = _problem(rng, m=2000, n=2000, T=200, fixed=False)
    monkeypatch.setattr(_dispatch, "core", Interrupting())
    with pytest.warns(attrib.StoppedEarlyWarning, match="interrupted after"):
        r = metrics.lds(scores, masks, outputs)
    done = calls[0][1]
    assert 0 < done < 200 and not r.complete
    assert np.isnan(r.per_target[done:]).all() and np.isfinite(r.per_target[:done]).all()
    assert r.undefined.size == 0 and r.mean == pytest.approx(r.per_target[:done].mean())
    monkeypatch.setattr(_dispatch, "core", real)
    np.testing.assert_array_equal(metrics.lds(scores, masks, outputs).per_target[:done], r.per_target[:done])


def test_results_pickle(rng):
    import pickle

    scores, masks, outputs = _problem(rng, T=3)
    r = metrics.lds(scores, masks, outputs)
    back = pickle.loads(pickle.dumps(r))
    assert back.mean == r.mean and back.ci == r.ci and back.per_target.tobytes() == r.per_target.tobytes()
    s = pickle.loads(pickle.dumps(attrib.select(scores, 5)))
    np.testing.assert_array_equal(s.indices, attrib.select(scores, 5).indices)
