"""Progress of long runs: a tqdm bar where tqdm is installed, the plain line otherwise (or with
ATTRIB_PROGRESS=plain); nothing for quick runs; data_shapley shows it on stderr."""

from __future__ import annotations

import io
import sys

import numpy as np
import pytest

import attrib
from attrib import _progress


def drive(total=100, **kw):
    stream = io.StringIO()
    bar = _progress.Progress(True, total, "permutations", delay=0.0, stream=stream, **kw)
    for done in (10, 60, 100):
        bar.update(done, "max stderr 0.01")
    bar.close()
    return stream.getvalue()


def test_plain_line_without_tqdm(monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    out = drive()
    assert "[########################] 100/100 permutations" in out and "max stderr 0.01" in out
    assert out.endswith("\n") and out.count("\r") == 3


def test_plain_line_forced(monkeypatch):
    pytest.importorskip("tqdm")
    monkeypatch.setenv("ATTRIB_PROGRESS", "plain")
    assert "[########################] 100/100 permutations" in drive()


def test_tqdm_bar_where_installed(monkeypatch):
    pytest.importorskip("tqdm")
    monkeypatch.delenv("ATTRIB_PROGRESS", raising=False)
    out = drive()
    assert "100/100" in out and "permutations" in out and "max stderr 0.01" in out
    assert "[####" not in out  # tqdm's bar, not ours
    unbounded = io.StringIO()
    bar = _progress.Progress(True, None, "subsets", delay=0.0, stream=unbounded)
    bar.update(7, "note")
    bar.close()
    assert "7 subsets" in unbounded.getvalue()


def test_tqdm_demanded_but_missing(monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    monkeypatch.setenv("ATTRIB_PROGRESS", "tqdm")
    with pytest.raises(ImportError, match="pip install tqdm"):
        drive()


def test_quiet_when_disabled_or_short():
    stream = io.StringIO()
    bar = _progress.Progress(False, 10, "x", delay=0.0, stream=stream)
    bar.update(5)
    bar.close()
    quick = _progress.Progress(True, 10, "x", delay=60.0, stream=stream)
    quick.update(5)
    quick.close()
    assert stream.getvalue() == ""


def test_data_shapley_reports_on_stderr(capsys, monkeypatch):
    monkeypatch.setattr(_progress.Progress.__init__, "__defaults__", (0.0, None))  # delay 0: show at once
    w = np.arange(5.0)
    res = attrib.data_shapley(5, utility=lambda i: float(w[i].sum()), max_permutations=64, block_size=16)
    err = capsys.readouterr().err
    assert res.n_samples == 64 and "64/64" in err and "permutations" in err
