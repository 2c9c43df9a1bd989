"""The embedded data set and the `python -m attrib demo` entry point."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
from numpy.testing import assert_array_equal

import attrib


def test_breast_cancer_matches_scikit_learn():
    from sklearn.datasets import load_breast_cancer

    ours = attrib.datasets.load_breast_cancer()
    theirs = load_breast_cancer()
    assert ours.X.shape == (569, 30) and ours.X.flags.c_contiguous
    assert_array_equal(ours.X, theirs.data)
    assert_array_equal(ours.y, theirs.target)
    assert ours.feature_names == [f.replace(" ", "_") for f in theirs.feature_names]
    assert "CC BY 4.0" in ours.description


def test_demo_prints_the_most_influential_rows():
    out = subprocess.run(
        [sys.executable, "-m", "attrib", "demo", "--top", "5"], capture_output=True, text=True, check=True
    ).stdout
    assert "most influential" in out
    rows = [line.split() for line in out.splitlines() if line.strip() and line.split()[0].isdigit()]
    assert len(rows) == 5
    # The listed rows are the top Cook's distances of the same model.
    data = attrib.datasets.load_breast_cancer()
    X = (data.X - data.X.mean(axis=0)) / data.X.std(axis=0)
    expected = attrib.linear_loo(X, data.y, alpha=1.0).top(5)
    assert [int(r[0]) for r in rows] == expected.tolist()


def test_info_command():
    out = subprocess.run([sys.executable, "-m", "attrib", "info"], capture_output=True, text=True, check=True).stdout
    assert "isa:" in out and "openmp:" in out
    assert np.isin(attrib.build_info()["isa"], ["baseline", "x86-64-v3", "x86-64-v4"])
