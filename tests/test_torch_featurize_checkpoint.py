"""attrib.torch.featurize with checkpoint= / resume=: interrupted (Ctrl-C, or SIGKILL of the
process) and resumed equals uninterrupted, bit for bit; other parameters, projectors, batches or
a damaged file are refused with a ValueError."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from _trak_doubles import DenseProjector

import attrib
from attrib import _progress

torch = pytest.importorskip("torch")
from attrib.torch import featurize  # noqa: E402


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _setup(n=48, size=6):
    torch.manual_seed(3)
    model = torch.nn.Sequential(torch.nn.Linear(5, 6), torch.nn.ReLU(), torch.nn.Linear(6, 3))
    g = torch.Generator().manual_seed(4)
    x, y = torch.randn(n, 5, generator=g), torch.randint(0, 3, (n,), generator=g)
    batches = [(x[i : i + size], y[i : i + size]) for i in range(0, n, size)]
    ckpts = [model.state_dict(), {k: v * 0.5 for k, v in model.state_dict().items()}]
    p = sum(t.numel() for t in model.parameters())
    return model, ckpts, batches, DenseProjector(p, 8, seed=1)


class Interrupting:
    """A loader that raises KeyboardInterrupt (as Ctrl-C would) after ``limit`` batches in all."""

    def __init__(self, batches, limit):
        self.batches, self.limit, self.given = batches, limit, 0

    def __iter__(self):
        for b in self.batches:
            if self.given >= self.limit:
                raise KeyboardInterrupt
            self.given += 1
            yield b


def _same(a, b):
    for fa, fb in zip(a[0], b[0]):
        assert fa.tobytes() == fb.tobytes()
    for qa, qb in zip(a[1], b[1]):
        assert qa.tobytes() == qb.tobytes()
    assert len(a[0]) == len(b[0])


@pytest.mark.parametrize("limit", [3, 8, 11], ids=["first-pass", "pass-boundary", "second-pass"])
def test_interrupted_and_resumed_equals_uninterrupted(tmp_path, limit, monkeypatch):
    monkeypatch.setattr(_progress, "BLOCK_SECONDS", 1e-9)  # blocks of one batch: stop exactly at `limit`
    model, ckpts, batches, P = _setup()
    whole = featurize(model, ckpts, batches, P)
    path = tmp_path / "feat.attrib"
    with pytest.raises(KeyboardInterrupt):
        featurize(model, ckpts, Interrupting(batches, limit), P, checkpoint=path, checkpoint_every=1)
    with np.load(path) as z:
        assert int(z["done"]) == limit
    resumed = featurize(model, ckpts, batches, P, checkpoint=path, resume=True)
    _same(resumed, whole)
    again = featurize(model, ckpts, batches, P, checkpoint=path, resume=True)  # finished: nothing new
    _same(again, whole)


_KILLED_SCRIPT = textwrap.dedent(
    """
    import sys, time
    import torch
    sys.path.insert(0, sys.argv[2])
    from test_torch_featurize_checkpoint import _setup
    from attrib.torch import featurize
    torch.set_num_threads(1)
    model, ckpts, batches, P = _setup(n=240, size=3)

    class Slow:
        def __iter__(self):
            for b in batches:
                time.sleep(0.02)  # 160 batches: about 3 s, killed well before the end
                yield b

    featurize(model, ckpts, Slow(), P, checkpoint=sys.argv[1], checkpoint_every=1)
    """
)


def test_sigkill_mid_run_then_resume(tmp_path):
    path = tmp_path / "killed.attrib"
    script = tmp_path / "run.py"
    script.write_text(_KILLED_SCRIPT)
    here = os.path.dirname(os.path.dirname(os.path.abspath(attrib.__file__)))
    tests = os.path.dirname(os.path.abspath(__file__))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([here, tests, os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.Popen([sys.executable, str(script), str(path), tests], env=env)
    try:
        deadline = time.monotonic() + 60
        while not path.exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.02)
        time.sleep(0.3)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    with np.load(path, allow_pickle=False) as z:
        done = int(z["done"])
    assert 0 < done < 160
    model, ckpts, batches, P = _setup(n=240, size=3)
    resumed = featurize(model, ckpts, batches, P, checkpoint=path, resume=True)
    _same(resumed, featurize(model, ckpts, batches, P))


def test_mismatches_are_refused(tmp_path):
    model, ckpts, batches, P = _setup()
    path = tmp_path / "f.attrib"
    with pytest.raises(KeyboardInterrupt):
        featurize(model, ckpts, Interrupting(batches, 5), P, checkpoint=path, checkpoint_every=1)
    other = [ckpts[0], {k: v * 0.25 for k, v in ckpts[1].items()}]
    with pytest.raises(ValueError, match="other data"):
        featurize(model, other, batches, P, checkpoint=path, resume=True)
    with pytest.raises(ValueError, match="other options"):
        featurize(model, ckpts, batches, DenseProjector(P.n_features, 8, seed=2), checkpoint=path, resume=True)
    shuffled = [batches[1], batches[0], *batches[2:]]
    with pytest.raises(ValueError, match="differs"):
        featurize(model, ckpts, shuffled, P, checkpoint=path, resume=True)
    with pytest.raises(FileExistsError):
        featurize(model, ckpts, batches, P, checkpoint=path)
    raw = path.read_bytes()
    path.write_bytes(raw[:-40])
    with pytest.raises(ValueError, match="not a readable attrib checkpoint"):
        featurize(model, ckpts, batches, P, checkpoint=path, resume=True)
