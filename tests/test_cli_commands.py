"""The data subcommands of the command line: what they write equals the library's results, every
file format reads and writes, and user errors give a message and a non-zero exit status, never a
traceback. Most tests call ``attrib._cli.main`` in-process (fast); a few run the console entry
point in a subprocess, as a user would."""

from __future__ import annotations

import csv
import functools
import inspect
import json
import subprocess
import sys

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import attrib
from attrib import _cli, _cli_io


@pytest.fixture(scope="module")
def data():
    d = attrib.datasets.load_breast_cancer()
    X = d.X[:, :6].copy()
    names = d.feature_names[:6]
    return X, d.y.copy(), names


def _write_csv(path, X, y, names, target="y", ylabels=None):
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow([*names, target])
        for i, (row, t) in enumerate(zip(X, y)):
            w.writerow([repr(float(v)) for v in row] + [ylabels[i] if ylabels is not None else repr(float(t))])
    return str(path)


@pytest.fixture(scope="module")
def files(tmp_path_factory, data):
    X, y, names = data
    d = tmp_path_factory.mktemp("cli")
    train = _write_csv(d / "train.csv", X[:300], y[:300], names)
    test = _write_csv(d / "test.csv", X[300:400], y[300:400], names)
    return {"dir": d, "train": train, "test": test}


def run(argv, capsys):
    code = _cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def read_csv(path):
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    header, body = rows[0], rows[1:]
    return {h: np.array([float(r[j]) for r in body]) for j, h in enumerate(header)}


# ------------------------------------------------------------------ outputs equal the library's
def test_linear_loo_csv_equals_library(files, data, capsys, tmp_path):
    X, y, names = data
    out = tmp_path / "loo.csv"
    code, _, err = run(["linear-loo", files["train"], "--alpha", "0.5", "-o", out, "--params"], capsys)
    assert code == 0, err
    got = read_csv(out)
    ref = attrib.linear_loo(X[:300], y[:300], alpha=0.5)
    assert_array_equal(got["row"], np.arange(300))
    for name in ref._frame_columns:
        assert_array_equal(got[name], getattr(ref, name))  # repr() round-trips float64 exactly
    assert_array_equal(got["dfbeta_intercept"], ref.dfbeta[:, 0])
    assert_array_equal(got[f"dfbeta_{names[2]}"], ref.dfbeta[:, 3])
    assert "linear_loo on 300 rows x 6 features" in err and f"to {out}" in err


def test_glm_loo_npz_equals_library(files, data, capsys, tmp_path):
    X, y, _ = data
    out = tmp_path / "glm.npz"
    code, _, err = run(["glm-loo", files["train"], "--C", "2", "--method", "exact", "-o", out, "--params"], capsys)
    assert code == 0, err
    ref = attrib.glm_loo(X[:300], y[:300], family="logistic", C=2.0, method="exact")
    with np.load(out) as got:
        for name in ref._frame_columns:
            assert_array_equal(got[name], getattr(ref, name))
        assert_array_equal(got["dcoef_intercept"], ref.dcoef[:, 0])
        assert str(got["meta_method"]) == "exact" and str(got["meta_command"]) == "glm-loo"


def test_glm_poisson_weights_no_intercept(tmp_path, capsys, rng):
    X = rng.normal(size=(80, 3))
    y = rng.poisson(np.exp(0.3 * X[:, 0])).astype(float)
    w = rng.uniform(0.5, 2.0, size=80)
    path = tmp_path / "p.csv"
    with open(path, "w", newline="") as fh:
        cw = csv.writer(fh)
        cw.writerow(["a", "b", "c", "w", "count"])
        for row, wi, yi in zip(X, w, y):
            cw.writerow([*map(repr, map(float, row)), repr(float(wi)), repr(float(yi))])
    out = tmp_path / "o.csv"
    argv = ["glm-loo", path, "--target", "count", "--weights", "w", "--family", "poisson", "--C", "none"]
    code, _, err = run([*argv, "--no-intercept", "--refine", "0", "-o", out], capsys)
    assert code == 0, err
    ref = attrib.glm_loo(X, y, family="poisson", C=None, sample_weight=w, fit_intercept=False, refine=0)
    assert_array_equal(read_csv(out)["cooks_distance"], ref.cooks_distance)


def test_influence_json_equals_library(files, data, capsys, tmp_path):
    X, y, _ = data
    out = tmp_path / "infl.json"
    code, _, err = run(["influence", files["train"], "--test", files["test"], "-o", out, "--per-test"], capsys)
    assert code == 0, err
    E = attrib.influence(X[:300], y[:300], X[300:400], y[300:400])
    doc = json.loads(out.read_text())
    assert doc["meta"]["n_test"] == 100 and doc["meta"]["command"] == "influence"
    rows = doc["rows"]
    assert len(rows) == 300 and rows[7]["row"] == 7
    assert_allclose([r["mean_test_loss_change"] for r in rows], E.mean(axis=1), rtol=0, atol=0)
    assert_allclose([r["test_5"] for r in rows], E[:, 5], rtol=0, atol=0)


def test_knn_shapley_equals_library(files, data, capsys, tmp_path):
    X, y, _ = data
    out = tmp_path / "knn.csv"
    code, _, err = run(["knn-shapley", files["train"], "--test", files["test"], "--k", "3", "-o", out], capsys)
    assert code == 0, err
    ref = attrib.knn_shapley(X[:300], y[:300], X[300:400], y[300:400], k=3)
    got = read_csv(out)
    assert list(got) == ["row", "values", "stderr", "counts"]
    assert_array_equal(got["values"], ref.values)
    assert_array_equal(got["counts"], ref.counts)


def test_knn_shapley_text_labels(tmp_path, data, capsys):
    X, y, names = data
    words = np.where(y == 1, "benign", "malignant")
    train = _write_csv(tmp_path / "tr.csv", X[:200], y[:200], names, target="diagnosis", ylabels=words[:200])
    test = _write_csv(tmp_path / "te.csv", X[200:260], y[200:260], names, target="diagnosis", ylabels=words[200:260])
    out = tmp_path / "o.csv"
    code, _, err = run(["knn-shapley", train, "--test", test, "--target", "diagnosis", "-o", out], capsys)
    assert code == 0, err
    assert_array_equal(read_csv(out)["values"], attrib.knn_shapley(X[:200], y[:200], X[200:260], y[200:260]).values)


@pytest.mark.parametrize("utility", ["ridge", "logistic"])
def test_shapley_equals_library(files, data, capsys, tmp_path, utility):
    X, y, _ = data
    out = tmp_path / "s.npz"
    argv = ["shapley", files["train"], "--test", files["test"], "--utility", utility, "--max-permutations", "24"]
    code, _, err = run([*argv, "--seed", "7", "--n-jobs", "1", "-q", "-o", out], capsys)
    assert code == 0, err
    ref = attrib.data_shapley(
        X[:300], y[:300], X[300:400], y[300:400], utility=utility, max_permutations=24, seed=7, progress=False
    )
    with np.load(out) as got:
        assert_array_equal(got["values"], ref.values)
        assert_array_equal(got["stderr"], ref.stderr)
        assert int(got["meta_n_samples"]) == 24 and str(got["meta_stopped_by"]) == "max_permutations"
    assert err == ""  # -q: nothing on stderr


def test_shapley_options_reach_the_library(files, data, capsys, tmp_path):
    X, y, _ = data
    out = tmp_path / "b.csv"
    argv = ["shapley", files["train"], "--test", files["test"], "--utility", "knn", "--k", "3"]
    argv += ["--semivalue", "banzhaf", "--max-permutations", "40", "--seed", "3", "-q", "-o", out]
    assert run(argv, capsys)[0] == 0
    ref = attrib.data_shapley(
        X[:300],
        y[:300],
        X[300:400],
        y[300:400],
        utility="knn",
        k=3,
        semivalue="banzhaf",
        max_permutations=40,
        seed=3,
        progress=False,
    )
    assert_array_equal(read_csv(out)["values"], ref.values)


def test_shapley_progress_and_summary_on_stderr(files, capsys):
    argv = ["shapley", files["train"], "--test", files["test"], "--utility", "ridge", "--max-permutations", "16"]
    code, out, err = run(argv, capsys)
    assert code == 0
    assert "16 samples" in err and "max_permutations reached" in err
    assert out.startswith("top 10 of 300 rows by values")
    assert len([ln for ln in out.splitlines()[2:] if ln.strip()]) == 10


def test_output_to_stdout(files, data, capsys):
    X, y, _ = data
    code, out, _ = run(["linear-loo", files["train"], "-o", "-", "-q"], capsys)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split(",")[:3] == ["row", "hat", "resid"] and len(lines) == 301
    hat = np.array([float(ln.split(",")[1]) for ln in lines[1:]])
    assert_array_equal(hat, attrib.linear_loo(X[:300], y[:300]).hat)


def test_npz_and_parquet_inputs(tmp_path, data, capsys):
    X, y, names = data
    ref = attrib.linear_loo(X, y).cooks_distance
    npz = tmp_path / "d.npz"
    np.savez(npz, X=X, y=y, feature_names=np.array(names))
    out = tmp_path / "o.csv"
    assert run(["linear-loo", npz, "-o", out, "-q"], capsys)[0] == 0
    assert_array_equal(read_csv(out)["cooks_distance"], ref)
    # named 1-D arrays act as columns
    cols = tmp_path / "cols.npz"
    np.savez(cols, **{nm: X[:, j] for j, nm in enumerate(names)}, outcome=y)
    assert run(["linear-loo", cols, "--target", "outcome", "-o", out, "-q"], capsys)[0] == 0
    assert_array_equal(read_csv(out)["cooks_distance"], ref)
    # a subset of the features
    assert run(["linear-loo", npz, "--features", f"{names[0]},{names[3]}", "-o", out, "-q"], capsys)[0] == 0
    assert_array_equal(read_csv(out)["cooks_distance"], attrib.linear_loo(X[:, [0, 3]], y).cooks_distance)
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    pq_path = tmp_path / "d.parquet"
    pq.write_table(pa.table({**{nm: X[:, j] for j, nm in enumerate(names)}, "y": y}), pq_path)
    assert run(["linear-loo", pq_path, "-o", out, "-q"], capsys)[0] == 0
    assert_array_equal(read_csv(out)["cooks_distance"], ref)


def test_parquet_without_pyarrow_says_so(tmp_path, capsys, monkeypatch):
    path = tmp_path / "d.parquet"
    path.write_bytes(b"PAR1")
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    code, _, err = run(["linear-loo", path], capsys)
    assert code == 2 and "needs pyarrow" in err and "pip install pyarrow" in err


# ------------------------------------------------------------------ user errors
def _csv_text(path, text):
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "text,argv,message",
    [
        (None, [], "no such file"),
        ("a,b,y\n1,2,3\n4,5,6\n", ["--target", "z"], "no column 'z'"),
        ("a,b,q\n1,2,3\n4,5,6\n", [], "name the target column with --target"),
        ("a,b,y\n1,x,3\n4,5,6\n7,8,9\n", [], "column 'b' is not numeric: row 1 holds 'x'"),
        ("a,b,y\n1,2,3\n4,,6\n7,8,9\n", [], "column 'b' row 2 holds a missing value"),
        ("a,b,y\n1,2,3\n4,5\n", [], "line 3 has 2 fields"),
        ("1,2,3\n4,5,6\n", [], "the first line must name the columns"),
        ("", [], "the file is empty"),
        ("a,b,y\n", [], "no data rows"),
        ("a,b,y\n1,2,3\n4,5,6\n", ["--features", "a,c"], "no column 'c' (the feature)"),
    ],
)
def test_bad_input_exits_2(tmp_path, capsys, text, argv, message):
    path = tmp_path / "bad.csv"
    if text is not None:
        _csv_text(path, text)
    code, out, err = run(["linear-loo", path, *argv], capsys)
    assert code == 2
    assert message in err and err.startswith("attrib linear-loo: error: ")
    assert "Traceback" not in err and out == ""


def test_unknown_suffixes_exit_2(tmp_path, files, capsys):
    (tmp_path / "d.xlsx").write_text("x")
    code, _, err = run(["linear-loo", tmp_path / "d.xlsx"], capsys)
    assert code == 2 and "unknown file type '.xlsx'" in err
    code, _, err = run(["linear-loo", files["train"], "-o", tmp_path / "o.txt"], capsys)
    assert code == 2 and "--output" in err and "'.txt'" in err
    code, _, err = run(["linear-loo", files["train"], "-o", tmp_path / "missing" / "o.csv"], capsys)
    assert code == 2 and "does not exist" in err


def test_missing_test_file_and_test_columns(files, tmp_path, capsys):
    code, _, err = run(["knn-shapley", files["train"]], capsys)
    assert code == 2 and "needs a test set: --test FILE" in err
    _csv_text(tmp_path / "t.csv", "mean_radius,y\n1,0\n2,1\n")
    code, _, err = run(["knn-shapley", files["train"], "--test", tmp_path / "t.csv"], capsys)
    assert code == 2 and "no column 'mean_texture' (the feature)" in err


def test_library_refusal_exits_1(tmp_path, capsys):
    # Two identical columns and no penalty: the design is singular; the library's message is shown.
    _csv_text(tmp_path / "s.csv", "a,b,y\n1,1,0\n2,2,1\n3,3,0\n4,4,1\n")
    code, _, err = run(["linear-loo", tmp_path / "s.csv"], capsys)
    assert code == 1 and "alpha" in err and "Traceback" not in err


def test_bad_option_values_exit_2(files, capsys):
    for argv in (["--n-jobs", "0"], ["--top", "0"], ["--n-jobs", "x"]):
        with pytest.raises(SystemExit) as exc:
            _cli.main(["linear-loo", files["train"], *argv])
        assert exc.value.code == 2
    capsys.readouterr()


def test_errors_in_a_subprocess_have_no_traceback(tmp_path):
    missing = tmp_path / "nothing.csv"
    proc = subprocess.run([sys.executable, "-m", "attrib", "glm-loo", str(missing)], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"attrib glm-loo: error: {missing}: no such file"
    assert proc.stdout == ""


def test_console_script_round_trip(files, data, tmp_path):
    X, y, _ = data
    out = tmp_path / "o.json"
    proc = subprocess.run(
        [sys.executable, "-m", "attrib", "knn-shapley", files["train"], "--test", files["test"], "-o", str(out)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(out.read_text())["rows"]
    ref = attrib.knn_shapley(X[:300], y[:300], X[300:400], y[300:400])
    assert_array_equal([r["values"] for r in rows], ref.values)


def test_nan_values_written_as_null_and_nan(tmp_path, capsys):
    # A row with leverage 1 has NaN leave-one-out quantities: JSON null, CSV nan.
    _csv_text(tmp_path / "l.csv", "a,b,y\n0,0,1\n1,0,2\n2,0,2\n0,1,5\n3,0,4\n")
    out = tmp_path / "o.json"
    code, _, err = run(["linear-loo", tmp_path / "l.csv", "-o", out], capsys)
    assert code == 0 and "warning" in err
    rows = json.loads(out.read_text())["rows"]
    assert rows[3]["loo_resid"] is None
    assert run(["linear-loo", tmp_path / "l.csv", "-o", tmp_path / "o.csv"], capsys)[0] == 0
    assert np.isnan(read_csv(tmp_path / "o.csv")["loo_resid"][3])


def test_output_is_replaced_atomically(files, tmp_path, capsys):
    out = tmp_path / "o.csv"
    out.write_text("old")
    assert run(["linear-loo", files["train"], "-o", out, "-q"], capsys)[0] == 0
    assert out.read_text().startswith("row,")
    assert [p.name for p in tmp_path.iterdir()] == ["o.csv"]  # no temporary left behind


# ------------------------------------------------------------------ long runs: Dask, checkpoints
def _has(func, param):
    return param in inspect.signature(func).parameters


# The flags are passed through as client=, checkpoint=, resume= (the spies keep data_shapley's
# signature, which the command line reads to refuse flags a function does not take).
def test_checkpoint_and_resume_pass_through(files, capsys, tmp_path, monkeypatch):
    seen = {}
    real = attrib.data_shapley

    @functools.wraps(real)
    def spy(*args, **kwargs):
        seen.update(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(attrib, "data_shapley", spy)
    ck = tmp_path / "run.attrib"
    argv = ["shapley", files["train"], "--test", files["test"], "--utility", "ridge", "--max-permutations", "16"]
    assert run([*argv, "--checkpoint", ck, "-q"], capsys)[0] == 0
    assert seen["checkpoint"] == str(ck) and not seen.get("resume", False)
    assert run([*argv, "--checkpoint", ck, "--resume", "-q"], capsys)[0] == 0
    assert seen["resume"] is True


def test_scheduler_passes_a_client(files, capsys, monkeypatch):
    distributed = pytest.importorskip("dask.distributed")
    made = []

    class FakeClient:
        def __init__(self, address, timeout=None):
            made.append(address)

        def close(self):
            made.append("closed")

    monkeypatch.setattr(distributed, "Client", FakeClient)
    seen = {}

    @functools.wraps(attrib.data_shapley)
    def fake(*a, **kw):
        seen.update(kw)
        return _fake_result()

    monkeypatch.setattr(attrib, "data_shapley", fake)
    argv = ["shapley", files["train"], "--test", files["test"], "--scheduler", "tcp://somewhere:8786", "-q"]
    assert run(argv, capsys)[0] == 0
    assert made == ["tcp://somewhere:8786", "closed"] and isinstance(seen["client"], FakeClient)


def _fake_result():
    return attrib.ShapleyResult(np.zeros(300), np.zeros(300), np.ones(300), True, method="fake")


def test_long_run_flags_refused_or_checked(files, capsys):
    argv = ["shapley", files["train"], "--test", files["test"]]
    code, _, err = run([*argv, "--resume"], capsys)
    if _has(attrib.data_shapley, "resume"):
        assert code == 2 and "--resume needs --checkpoint" in err
    else:
        assert code == 2 and "no resume= parameter" in err
    if not _has(attrib.knn_shapley, "checkpoint"):
        code, _, err = run(["knn-shapley", files["train"], "--test", files["test"], "--checkpoint", "x"], capsys)
        assert code == 2 and "knn_shapley has no checkpoint= parameter" in err


def test_read_table_keeps_text_columns_as_labels(tmp_path):
    _csv_text(tmp_path / "t.csv", "a,label\n1.5,cat\n2.5,dog\n")
    t = _cli_io.read_table(str(tmp_path / "t.csv"))
    assert t.columns["a"].dtype == np.float64 and t.columns["label"].tolist() == ["cat", "dog"]
    X, y, names = _cli_io.split_target(t, None, labels=True)
    assert names == ["a"] and y.tolist() == ["cat", "dog"] and X.shape == (2, 1)
