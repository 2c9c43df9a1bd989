"""Checkpoint and resume of attrib.retrain (the datamodel / LDS data collection): interrupted
(Ctrl-C, or SIGKILL of the process) and resumed equals uninterrupted, bit for bit; checkpoints of
other data, seeds, models or options, and damaged files, are refused with a ValueError."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from numpy.testing import assert_array_equal

import attrib
from attrib import _progress
from attrib.exceptions import StoppedEarlyWarning


@pytest.fixture(scope="module")
def data():
    d = attrib.datasets.load_breast_cancer()
    X = (d.X[:, :5] - d.X[:, :5].mean(0)) / d.X[:, :5].std(0)
    return X[:80], d.y[:80], X[80:90], d.y[80:90]


def _same(a, b):
    assert a.masks.packed.tobytes() == b.masks.packed.tobytes()
    assert sorted(a.outputs) == sorted(b.outputs)
    for key in a.outputs:
        assert a.outputs[key].tobytes() == b.outputs[key].tobytes(), key
    if a.n_iter is not None or b.n_iter is not None:
        assert_array_equal(a.n_iter, b.n_iter)


class Interrupting:
    """outputs(indices) that raises KeyboardInterrupt (as Ctrl-C would) after ``limit`` calls;
    instances differ only in their attributes, so they share a fingerprint."""

    def __init__(self, w, limit=None):
        self.w, self.limit, self.calls = w, limit, 0

    def __call__(self, idx):
        self.calls += 1
        if self.limit is not None and self.calls > self.limit:
            raise KeyboardInterrupt
        return {"margin": [float(np.tanh(self.w[idx].sum())), float(idx.size)], "loss": [float(self.w[idx].max()), 0.0]}


def test_interrupted_and_resumed_equals_uninterrupted(tmp_path, monkeypatch):
    monkeypatch.setattr(_progress, "BLOCK_SECONDS", 1e-9)  # many small blocks
    w = np.random.default_rng(1).normal(size=30)
    path = tmp_path / "run.attrib"
    whole = attrib.retrain(30, model=Interrupting(w), n_subsets=200, seed=4, progress=False)
    with pytest.warns(StoppedEarlyWarning, match="interrupted"):
        part = attrib.retrain(30, model=Interrupting(w, 90), n_subsets=200, seed=4, progress=False, checkpoint=path)
    assert 0 < part.n_subsets < 200 and not part.complete
    resumed = attrib.retrain(
        30, model=Interrupting(w), n_subsets=200, seed=4, progress=False, checkpoint=path, resume=True
    )
    _same(resumed, whole)
    assert resumed.complete
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]


@pytest.mark.parametrize("model", ["logistic", "ridge", "knn"])
def test_builtin_resume_and_train_more(data, tmp_path, model):
    X, y, Xt, yt = data
    path = tmp_path / f"{model}.attrib"
    kw = dict(model=model, seed=2, progress=False, n_jobs=2)
    first = attrib.retrain(X, y, Xt, yt, n_subsets=12, checkpoint=path, checkpoint_every=1, **kw)
    again = attrib.retrain(X, y, Xt, yt, n_subsets=12, checkpoint=path, resume=True, **kw)
    _same(again, first)
    longer = attrib.retrain(X, y, Xt, yt, n_subsets=30, checkpoint=path, resume=True, **kw)
    _same(longer, attrib.retrain(X, y, Xt, yt, n_subsets=30, **kw))


def test_given_masks_resume(data, tmp_path):
    X, y, Xt, yt = data
    masks = attrib.sample_subsets(len(X), 20, seed=7, sampler="bernoulli", first_id=5)
    path = tmp_path / "masks.attrib"
    whole = attrib.retrain(X, y, Xt, yt, masks=masks, progress=False)
    first = attrib.retrain(X, y, Xt, yt, masks=masks, progress=False, checkpoint=path)
    _same(first, whole)
    _same(attrib.retrain(X, y, Xt, yt, masks=masks, progress=False, checkpoint=path, resume=True), whole)
    with pytest.raises(ValueError, match="other data"):  # other masks are other data
        attrib.retrain(X, y, Xt, yt, masks=masks[:8], progress=False, checkpoint=path, resume=True)


_KILLED_SCRIPT = textwrap.dedent(
    """
    import sys
    import numpy as np
    import attrib
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 4)); y = X @ [1.0, -1.0, 0.5, 0.0] + 0.3 * rng.normal(size=200)
    Xt = rng.normal(size=(20, 4)); yt = Xt @ [1.0, -1.0, 0.5, 0.0]
    attrib.retrain(X, y, Xt, yt, model="ridge", n_subsets=int(sys.argv[2]), seed=9, progress=False, n_jobs=1,
                   checkpoint=sys.argv[1], checkpoint_every=1)
    """
)


def test_sigkill_mid_run_then_resume(tmp_path):
    path = tmp_path / "killed.attrib"
    script = tmp_path / "run.py"
    script.write_text(_KILLED_SCRIPT)
    here = os.path.dirname(os.path.dirname(os.path.abspath(attrib.__file__)))
    env = dict(os.environ, PYTHONPATH=here + os.pathsep + os.environ.get("PYTHONPATH", ""))
    total = 10**6  # far more than the run gets to do before it is killed
    proc = subprocess.Popen([sys.executable, str(script), str(path), str(total)], env=env)
    try:
        deadline = time.monotonic() + 60
        while not path.exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.02)
        time.sleep(0.3)  # a few more checkpoints, then kill it mid-write or mid-block
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    with np.load(path, allow_pickle=False) as z:
        done = int(z["done"])
    assert 0 < done < total
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 4))
    y = X @ [1.0, -1.0, 0.5, 0.0] + 0.3 * rng.normal(size=200)
    Xt = rng.normal(size=(20, 4))
    yt = Xt @ [1.0, -1.0, 0.5, 0.0]
    kw = dict(model="ridge", n_subsets=done + 16, seed=9, progress=False)
    resumed = attrib.retrain(X, y, Xt, yt, checkpoint=path, resume=True, **kw)
    _same(resumed, attrib.retrain(X, y, Xt, yt, **kw))


@pytest.fixture
def saved(data, tmp_path):
    X, y, Xt, yt = data
    path = tmp_path / "saved.attrib"
    attrib.retrain(X, y, Xt, yt, n_subsets=8, seed=1, progress=False, checkpoint=path)
    return path


@pytest.mark.parametrize(
    "change, match",
    [
        (dict(seed=2), "seed=1"),
        (dict(C=2.0), "other options"),
        (dict(alpha=0.3), "other options"),
        (dict(model="knn"), "other options"),
        (dict(X=None), "other data"),
    ],
    ids=["seed", "C", "alpha", "model", "data"],
)
def test_mismatched_checkpoint_is_refused(data, saved, change, match):
    X, y, Xt, yt = data
    kw = dict(n_subsets=8, seed=1, progress=False)
    kw.update(change)
    if "X" in kw:
        kw.pop("X")
        X = X + 1e-3
    with pytest.raises(ValueError, match=match):
        attrib.retrain(X, y, Xt, yt, checkpoint=saved, resume=True, **kw)


def test_checkpoint_of_another_job_and_damaged_files_are_refused(data, saved, tmp_path):
    X, y, Xt, yt = data
    rng = np.random.default_rng(0)
    other = tmp_path / "shapley.attrib"
    attrib.data_shapley(
        rng.normal(size=(10, 2)), rng.normal(size=10), rng.normal(size=(5, 2)), rng.normal(size=5),
        utility="ridge", max_permutations=8, rtol=None, progress=False, checkpoint=other,
    )  # fmt: skip
    with pytest.raises(ValueError, match="data_shapley"):
        attrib.retrain(X, y, Xt, yt, n_subsets=8, seed=1, progress=False, checkpoint=other, resume=True)
    raw = saved.read_bytes()
    saved.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValueError, match="not a readable attrib checkpoint"):
        attrib.retrain(X, y, Xt, yt, n_subsets=8, seed=1, progress=False, checkpoint=saved, resume=True)
    with pytest.raises(FileExistsError, match="resume=True"):
        attrib.retrain(X, y, Xt, yt, n_subsets=8, seed=1, progress=False, checkpoint=other)
    with pytest.raises(ValueError, match="needs checkpoint"):
        attrib.retrain(X, y, Xt, yt, n_subsets=8, progress=False, resume=True)
