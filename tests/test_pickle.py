"""Results survive pickling (joblib, Dask and caches need it), in this process, in a fresh one,
and into the other CPU build."""

from __future__ import annotations

import copy
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import attrib
from attrib import _dispatch


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(11)
    X = rng.normal(size=(300, 5))
    y_lin = X @ rng.normal(size=5) + rng.normal(size=300)
    y_bin = (X[:, 0] + 0.5 * rng.normal(size=300) > 0).astype(float)
    w = rng.uniform(0.5, 2.0, size=300)
    return X, y_lin, y_bin, w


def _lazy_outputs(result, X, y_bin):
    """Everything a result computes after the fact from its stored fit."""
    groups = np.arange(X.shape[0]) % 7
    if isinstance(result, attrib.GLMLOOResult):
        return {
            "cooks": result.cooks_distance,
            "influence": result.influence(X[:20], y_bin[:20]),
            "topk": result.influence(X[:20], y_bin[:20], top_k=3).helpful_idx,
            "group": result.group_loo(groups).dcoef,
        }
    return {
        "dfbeta": result.dfbeta,
        "dfbetas": result.dfbetas,
        "pred": result.prediction_change(X[:20]),
        "group": result.group_loo(groups).dfbeta,
    }


def _results(data):
    X, y_lin, y_bin, w = data
    return {
        "linear": attrib.linear_loo(X, y_lin, alpha=0.3, sample_weight=w),
        "glm": attrib.glm_loo(X, y_bin, C=0.7, sample_weight=w),
        "poisson": attrib.glm_loo(X, np.round(np.exp(0.3 * X[:, 1])), family="poisson", C=2.0),
    }


@pytest.mark.parametrize("kind", ["linear", "glm", "poisson"])
def test_round_trip_gives_the_same_bits(data, kind):
    X, _, y_bin, _ = data
    r = _results(data)[kind]
    for clone in (pickle.loads(pickle.dumps(r)), copy.deepcopy(r)):
        assert type(clone) is type(r)
        assert clone._core is r._core
        assert_array_equal(clone.coef_, r.coef_)
        assert_array_equal(clone.values, r.values)
        want, got = _lazy_outputs(r, X, y_bin), _lazy_outputs(clone, X, y_bin)
        for key in want:
            assert_array_equal(got[key], want[key], err_msg=key)


@pytest.mark.parametrize("kind", ["linear", "glm"])
def test_loads_into_the_other_cpu_build(data, kind, monkeypatch):
    variants = _dispatch.variants()
    if len(variants) < 2:
        pytest.skip("this CPU runs only the baseline build")
    X, _, y_bin, _ = data
    monkeypatch.setattr(_dispatch, "core", variants[-1])
    r = _results(data)[kind]
    want = _lazy_outputs(r, X, y_bin)
    blob = pickle.dumps(r)
    monkeypatch.setattr(_dispatch, "core", variants[0])
    clone = pickle.loads(blob)
    assert clone._core is variants[0]
    got = _lazy_outputs(clone, X, y_bin)
    for key in want:
        assert_allclose(got[key], want[key], rtol=1e-10, atol=1e-13, err_msg=key)


def test_loads_in_a_fresh_process(data, tmp_path):
    # A new interpreter has another hash salt and may pick another CPU build: the result must
    # still recognise its X as unmodified and compute the same lazy outputs.
    X, _, y_bin, _ = data
    results = _results(data)
    path = tmp_path / "results.pkl"
    with open(path, "wb") as fh:
        pickle.dump({"results": results, "X": X, "y": y_bin}, fh)
    want = {k: _lazy_outputs(r, X, y_bin) for k, r in results.items()}
    script = f"""
import pickle, sys
sys.path.insert(0, {str(__import__("pathlib").Path(__file__).parent)!r})
from test_pickle import _lazy_outputs
with open({str(path)!r}, "rb") as fh:
    blob = pickle.load(fh)
out = {{k: _lazy_outputs(r, blob["X"], blob["y"]) for k, r in blob["results"].items()}}
with open({str(path)!r}, "wb") as fh:
    pickle.dump(out, fh)
"""
    env = {"PYTHONHASHSEED": "12345", "PATH": ""}
    if "PYTHONPATH" in os.environ:  # a run from the source tree (an installed attrib needs none)
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    subprocess.run([sys.executable, "-c", script], check=True, env=env)
    with open(path, "rb") as fh:
        got = pickle.load(fh)
    for kind in want:
        for key in want[kind]:
            assert_allclose(got[kind][key], want[kind][key], rtol=1e-10, atol=1e-13, err_msg=f"{kind}.{key}")


def test_a_corrupt_fit_state_is_refused(data):
    X, _, y_bin, _ = data
    r = _results(data)["glm"]
    state = r.__getstate__()
    name, fit_state = state["_fit"]
    bad = {**state, "_fit": (name, fit_state[:5])}
    clone = attrib.GLMLOOResult.__new__(attrib.GLMLOOResult)
    with pytest.raises(ValueError, match="pickle state"):
        clone.__setstate__(bad)


def test_glm_group_result_round_trip(data):
    X, _, y_bin, w = data
    g = attrib.glm_loo(X, y_bin, C=0.7, sample_weight=w).group_loo(np.arange(X.shape[0]) % 9, method="exact")
    clone = pickle.loads(pickle.dumps(g))
    assert_array_equal(clone.dcoef, g.dcoef)
    assert_array_equal(clone.influence(X[:20], y_bin[:20]), g.influence(X[:20], y_bin[:20]))


def _tampered(result, **changes):
    state = result.__getstate__()
    state.update(changes)
    clone = type(result).__new__(type(result))
    clone.__setstate__(state)
    return clone


@pytest.mark.parametrize("kind", ["linear", "glm"])
def test_tampered_arrays_are_refused_on_load(data, kind):
    # A pickle whose arrays disagree in size with its fit used to load and then read out of bounds
    # in group_loo (segfaults, values like 2.7e+202); and a swapped X went unnoticed.
    import dataclasses

    X = data[0]
    r = _results(data)[kind]
    if kind == "linear":
        bad_x = {"_X": np.ascontiguousarray(X[:-5])}
        swapped = {"_X": X + 1.0}
    else:
        bad_x = {"_prob": dataclasses.replace(r._prob, X=np.ascontiguousarray(X[:-5]))}
        swapped = {"_prob": dataclasses.replace(r._prob, X=X + 1.0)}
    for changes, match in [
        (bad_x, "does not match its fit"),
        ({"hat": r.hat[:-1]}, "does not match its fit"),
        (swapped, "modified in place"),
    ]:
        with pytest.raises((ValueError, RuntimeError), match=match):
            _tampered(r, **changes)
    good = _tampered(r)  # the untouched state still loads
    assert_array_equal(good.hat, r.hat)


def test_tampered_group_lists_are_refused_on_load(data):
    X, _, y_bin, w = data
    g = attrib.glm_loo(X, y_bin, C=0.7, sample_weight=w).group_loo(np.arange(X.shape[0]) % 9)
    groups = g._groups
    bad = type(groups)(groups.labels, groups.arrays, groups.offsets, groups.indices + 10_000)
    with pytest.raises(ValueError, match="groups' row lists"):
        _tampered(g, _groups=bad)
    lin = attrib.linear_loo(X, data[1]).group_loo(np.arange(X.shape[0]) % 4)
    with pytest.raises(ValueError, match="groups' rows"):
        _tampered(lin, groups=[a + 10_000 for a in lin.groups])
