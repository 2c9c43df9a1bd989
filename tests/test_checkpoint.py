"""Checkpoint and resume of data_shapley and knn_shapley: interrupted (Ctrl-C, or SIGKILL of the
process) and resumed equals uninterrupted, bit for bit; checkpoints of other data, seeds,
options or functions, and truncated or corrupted files, are refused with a ValueError."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import zipfile

import numpy as np
import pytest
from numpy.testing import assert_array_equal

import attrib
from attrib import _checkpoint
from attrib import shapley as shapley_module
from attrib.exceptions import StoppedEarlyWarning


def _reg(n=40, m=30, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    y = X @ [1.0, -1.0, 0.5] + 0.3 * rng.normal(size=n)
    Xt = rng.normal(size=(m, 3))
    return X, y, Xt, Xt @ [1.0, -1.0, 0.5]


class Interrupting:
    """An additive-ish utility that raises KeyboardInterrupt (as Ctrl-C would) after `limit`
    calls; instances differ only in their attributes, so they share a fingerprint."""

    def __init__(self, w, limit=None):
        self.w, self.limit, self.calls = w, limit, 0

    def __call__(self, idx):
        self.calls += 1
        if self.limit is not None and self.calls > self.limit:
            raise KeyboardInterrupt
        return float(np.tanh(self.w[idx].sum()))


def _same(a, b):
    assert_array_equal(a.values, b.values)
    assert_array_equal(a.stderr, b.stderr)
    assert_array_equal(a.counts, b.counts)
    assert (a.n_samples, a.n_evaluations, a.stopped_by) == (b.n_samples, b.n_evaluations, b.stopped_by)
    for key in ("n_samples", "max_stderr", "values"):
        assert_array_equal(a.history[key], b.history[key])


@pytest.mark.parametrize(
    "kw",
    [
        dict(max_permutations=200, rtol=None, block_size=16),
        dict(max_permutations=200, rtol=None, block_size=7),
        dict(max_permutations=200, rtol=None, semivalue="banzhaf", block_size=16),
        dict(max_permutations=200, rtol=None, antithetic=True, block_size=16),
        dict(rtol=0.2, min_permutations=32),  # stopped by the standard-error target, adaptive blocks
    ],
    ids=["fixed", "odd-blocks", "banzhaf", "antithetic", "converged"],
)
def test_interrupted_and_resumed_equals_uninterrupted(tmp_path, kw):
    w = np.random.default_rng(1).normal(size=12)
    path = tmp_path / "run.attrib"
    whole = attrib.data_shapley(12, utility=Interrupting(w), progress=False, seed=4, **kw)
    with pytest.warns(StoppedEarlyWarning, match="interrupted"):
        limit = 100 if kw.get("semivalue") == "banzhaf" else 700  # Banzhaf: one call per subset
        part = attrib.data_shapley(
            12, utility=Interrupting(w, limit=limit), progress=False, seed=4, checkpoint=path, **kw
        )
    assert part.stopped_by == "interrupted" and 0 < part.n_samples < whole.n_samples
    resumed = attrib.data_shapley(
        12, utility=Interrupting(w), progress=False, seed=4, checkpoint=path, resume=True, **kw
    )
    _same(resumed, whole)
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]  # no temporary file left behind


def test_builtin_utility_resume_and_run_longer(tmp_path):
    X, y, Xt, yt = _reg()
    path = tmp_path / "ridge.attrib"
    kw = dict(rtol=None, progress=False, seed=2, block_size=16)
    first = attrib.data_shapley(X, y, Xt, yt, max_permutations=96, checkpoint=path, checkpoint_every=2, **kw)
    # a finished run resumes to the same result without new work ...
    again = attrib.data_shapley(X, y, Xt, yt, max_permutations=96, checkpoint=path, resume=True, **kw)
    _same(again, first)
    # ... and runs longer when the stopping rule says so: the same as one longer run
    longer = attrib.data_shapley(X, y, Xt, yt, max_permutations=160, checkpoint=path, resume=True, **kw)
    _same(longer, attrib.data_shapley(X, y, Xt, yt, max_permutations=160, **kw))
    assert longer.elapsed >= first.elapsed  # the clock counts every session


def test_resume_without_a_file_starts_afresh(tmp_path):
    X, y, Xt, yt = _reg()
    path = tmp_path / "new.attrib"
    res = attrib.data_shapley(
        X, y, Xt, yt, max_permutations=40, rtol=None, progress=False, checkpoint=path, resume=True
    )
    assert path.exists()
    _same(res, attrib.data_shapley(X, y, Xt, yt, max_permutations=40, rtol=None, progress=False))


def test_knn_shapley_interrupted_and_resumed(tmp_path, monkeypatch):
    rng = np.random.default_rng(3)
    X, y = rng.normal(size=(300, 4)), rng.integers(0, 3, 300)
    Xt, yt = rng.normal(size=(500, 4)), rng.integers(0, 3, 500)
    monkeypatch.setattr(shapley_module, "_KNN_SUPERBLOCK_WORK", 300 * 20 * 48)  # super-blocks of 48 test points
    monkeypatch.setattr(shapley_module, "_KNN_PARTIAL_BYTES", 8 * 300 * 2)  # blocks of 2 chunks (32 test points)
    whole = attrib.knn_shapley(X, y, Xt, yt, k=3)
    real = shapley_module._KnnJob.block_fn
    calls = {"n": 0}

    def flaky(*args, **kw):
        calls["n"] += 1
        if calls["n"] == 5:  # after 4 blocks: 128 test points, inside the third super-block
            raise KeyboardInterrupt
        return real(*args, **kw)

    path = tmp_path / "knn.attrib"
    with monkeypatch.context() as m:
        m.setattr(shapley_module._KnnJob, "block_fn", staticmethod(flaky))
        with pytest.warns(StoppedEarlyWarning, match="interrupted"):
            part = attrib.knn_shapley(X, y, Xt, yt, k=3, checkpoint=path)
    assert 0 < part.n_samples < 500 and part.n_samples % 48  # stopped inside a super-block
    resumed = attrib.knn_shapley(X, y, Xt, yt, k=3, checkpoint=path, resume=True)
    assert_array_equal(resumed.values, whole.values)
    assert resumed.stopped_by == "exact" and resumed.n_samples == 500


_KILLED_SCRIPT = textwrap.dedent(
    """
    import sys, numpy as np, attrib
    rng = np.random.default_rng(0)
    X = rng.normal(size=(150, 3)); y = X @ [1.0, -1.0, 0.5] + 0.3 * rng.normal(size=150)
    Xt = rng.normal(size=(60, 3)); yt = Xt @ [1.0, -1.0, 0.5]
    attrib.data_shapley(X, y, Xt, yt, max_permutations=int(sys.argv[2]), rtol=None, block_size=16, seed=9,
                        progress=False, n_jobs=1, checkpoint=sys.argv[1], checkpoint_every=1)
    """
)


def test_sigkill_mid_run_then_resume(tmp_path):
    path = tmp_path / "killed.attrib"
    script = tmp_path / "run.py"
    script.write_text(_KILLED_SCRIPT)
    # The attrib this test imported (the source tree with its built core, or an installed wheel).
    here = os.path.dirname(os.path.dirname(os.path.abspath(attrib.__file__)))
    env = dict(os.environ, PYTHONPATH=here + os.pathsep + os.environ.get("PYTHONPATH", ""))
    total = 100_000  # far more than the run gets to do before it is killed
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
    X = rng.normal(size=(150, 3))
    y = X @ [1.0, -1.0, 0.5] + 0.3 * rng.normal(size=150)
    Xt = rng.normal(size=(60, 3))
    yt = Xt @ [1.0, -1.0, 0.5]
    upto = done + 48  # resume and run a little further than the killed process got
    kw = dict(rtol=None, block_size=16, seed=9, progress=False, max_permutations=upto)
    resumed = attrib.data_shapley(X, y, Xt, yt, checkpoint=path, resume=True, **kw)
    _same(resumed, attrib.data_shapley(X, y, Xt, yt, **kw))


# ---------------------------------------------------------------------------------------------- refusals


@pytest.fixture
def saved(tmp_path):
    X, y, Xt, yt = _reg()
    path = tmp_path / "saved.attrib"
    attrib.data_shapley(X, y, Xt, yt, max_permutations=32, rtol=None, progress=False, seed=1, checkpoint=path)
    return path, (X, y, Xt, yt)


@pytest.mark.parametrize(
    "change, match",
    [
        (lambda d: ((d[0], d[1] + 1.0, d[2], d[3]), {}), "other data \\(y differ"),
        (lambda d: (d, {"seed": 2}), "seed=1, this run has seed=2"),
        (lambda d: (d, {"alpha": 2.0}), "other options"),
        (lambda d: (d, {"semivalue": "beta(4,1)"}), "other options"),
        (lambda d: (d, {"truncation": 0.1}), "other options"),
    ],
    ids=["data", "seed", "alpha", "semivalue", "truncation"],
)
def test_mismatched_checkpoint_is_refused(saved, change, match):
    path, data = saved
    data, kw = change(data)
    kw = {"seed": 1, **kw}
    with pytest.raises(ValueError, match=match):
        attrib.data_shapley(*data, max_permutations=64, rtol=None, progress=False, checkpoint=path, resume=True, **kw)


def test_checkpoint_of_another_function_is_refused(saved):
    path, (X, y, Xt, yt) = saved
    with pytest.raises(ValueError, match="written by 'data_shapley', not 'knn_shapley'"):
        attrib.knn_shapley(X, y > 0, Xt, yt > 0, checkpoint=path, resume=True)


def test_callable_with_other_code_is_refused(tmp_path):
    path = tmp_path / "f.attrib"
    attrib.data_shapley(5, utility=lambda i: float(len(i)), max_permutations=16, progress=False, checkpoint=path)
    with pytest.raises(ValueError, match="other options"):
        attrib.data_shapley(
            5, utility=lambda i: float(len(i)) ** 2, max_permutations=16, progress=False, checkpoint=path, resume=True
        )


def _corrupt_middle(path):
    raw = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as z:
        info = z.getinfo("moments_mean.npy")
    at = info.header_offset + 30 + len(info.filename) + 250  # inside the array's bytes
    raw[at] ^= 0xFF
    path.write_bytes(bytes(raw))


def _npz_bytes(**arrays):
    import io

    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


@pytest.mark.parametrize(
    "damage",
    [
        lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]),  # truncated
        _corrupt_middle,
        lambda p: p.write_bytes(b"not a checkpoint at all"),
        lambda p: p.write_bytes(__import__("pickle").dumps({"done": 5})),  # a pickle is never loaded
        lambda p: p.write_bytes(_npz_bytes(done=np.array(3))),  # an npz without our header
    ],
    ids=["truncated", "flipped-byte", "garbage", "pickle", "foreign-npz"],
)
def test_damaged_checkpoint_is_refused(saved, damage):
    path, data = saved
    damage(path)
    with pytest.raises(ValueError, match="checkpoint|corrupted"):
        attrib.data_shapley(*data, max_permutations=64, rtol=None, progress=False, seed=1, checkpoint=path, resume=True)


def test_forged_digest_is_refused(saved):
    # state edited by someone who rewrote the arrays but not the digest
    path, data = saved
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["moments_mean"] = arrays["moments_mean"] + 1.0
    with open(path, "wb") as f:
        np.savez(f, **arrays)
    with pytest.raises(ValueError, match="do not match the digest"):
        attrib.data_shapley(*data, max_permutations=64, rtol=None, progress=False, seed=1, checkpoint=path, resume=True)


def test_argument_errors(saved, tmp_path):
    path, data = saved
    kw = dict(max_permutations=32, rtol=None, progress=False, seed=1)
    with pytest.raises(FileExistsError, match="resume=True"):
        attrib.data_shapley(*data, checkpoint=path, **kw)
    with pytest.raises(ValueError, match="resume=True needs checkpoint="):
        attrib.data_shapley(*data, resume=True, **kw)
    with pytest.raises(ValueError, match="checkpoint_every needs checkpoint="):
        attrib.data_shapley(*data, checkpoint_every=3, **kw)
    with pytest.raises(TypeError, match="resume must be True or False"):
        attrib.data_shapley(*data, checkpoint=path, resume="yes", **kw)
    with pytest.raises(ValueError, match="checkpoint_every must be at least 1"):
        attrib.data_shapley(*data, checkpoint=tmp_path / "x.attrib", checkpoint_every=0, **kw)
    with pytest.raises(TypeError, match="checkpoint must be a path"):
        attrib.data_shapley(*data, checkpoint=3, **kw)
    with pytest.raises(ValueError, match="does not exist"):
        attrib.data_shapley(*data, checkpoint=tmp_path / "no" / "such" / "dir.attrib", **kw)


def test_file_format_is_npz_with_a_json_header(saved):
    path, _ = saved
    with np.load(path, allow_pickle=False) as z:
        header = __import__("json").loads(bytes(z["__header__"]).decode())
        assert all(z[k].dtype.kind in "biuf" for k in z.files)
    assert header["format"] == "attrib-checkpoint" and header["fingerprint"]["job"] == "data_shapley"
    assert header["fingerprint"]["attrib_version"] == attrib.__version__
    assert set(header["fingerprint"]["data"]) == {"X", "y", "X_test", "y_test"}
    # the version is part of the fingerprint: another attrib refuses it
    fp = dict(header["fingerprint"], attrib_version="0.0.1")
    with pytest.raises(ValueError, match="attrib 0.1"):
        _checkpoint.load(path, fp)
