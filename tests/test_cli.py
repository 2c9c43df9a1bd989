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
    assert "isa:" in out and "openmp:" in out and "optional matplotlib:" in out
    assert np.isin(attrib.build_info()["isa"], ["baseline", "x86-64-v3", "x86-64-v4"])


def test_demo_tour_reports_each_step_with_its_time(capsys):
    from attrib import _cli

    assert _cli.main(["demo", "--top", "3"]) == 0
    out = capsys.readouterr().out
    for step in ("Exact leave-one-out", "Logistic regression", "KNN-Shapley", "Data Shapley", "Tour done in"):
        assert step in out
    assert out.count(" ms") + out.count(" s;") + out.count(" s.") >= 5
    # Only the leave-one-out table's lines start with a row number (scripts read them).
    rows = [line.split() for line in out.splitlines() if line.strip() and line.split()[0].isdigit()]
    assert len(rows) == 3
    # The GLM step's rows are the library's.
    data = attrib.datasets.load_breast_cancer()
    X = (data.X - data.X.mean(axis=0)) / data.X.std(axis=0)
    top = attrib.glm_loo(X, data.y, family="logistic", C=1.0).top(3)
    assert f"most influential rows: {', '.join(map(str, top))}" in out


def test_demo_short_is_the_table_only(capsys):
    from attrib import _cli

    assert _cli.main(["demo", "--short", "--top", "2"]) == 0
    out = capsys.readouterr().out
    assert "most influential tumours" in out and "Shapley" not in out


def test_version_and_help():
    out = subprocess.run([sys.executable, "-m", "attrib", "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"attrib {attrib.__version__}"
    helptext = subprocess.run([sys.executable, "-m", "attrib", "--help"], capture_output=True, text=True, check=True)
    for command in ("linear-loo", "glm-loo", "influence", "shapley", "knn-shapley", "demo", "info"):
        assert command in helptext.stdout
