"""``attrib retrain | datamodels | lds | trak``: what they write equals the library's results bit
for bit, the runs file is the library's masks layout plus the outputs, and user errors give a
one-line message and a non-zero exit status, never a traceback."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from numpy.testing import assert_array_equal

import attrib
from attrib import _cli


@pytest.fixture(scope="module")
def data():
    d = attrib.datasets.load_breast_cancer()
    X = (d.X[:, :4] - d.X[:, :4].mean(0)) / d.X[:, :4].std(0)
    return X[:60], d.y[:60].astype(float), X[60:66], d.y[60:66].astype(float)


def _write_csv(path, X, y):
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow([f"f{j}" for j in range(X.shape[1])] + ["y"])
        for row, t in zip(X, y):
            w.writerow([repr(float(v)) for v in row] + [repr(float(t))])
    return str(path)


@pytest.fixture(scope="module")
def files(tmp_path_factory, data):
    X, y, Xt, yt = data
    d = tmp_path_factory.mktemp("cli_dm")
    train, test = _write_csv(d / "train.csv", X, y), _write_csv(d / "test.csv", Xt, yt)
    runs = str(d / "runs.npz")
    assert _cli.main(["retrain", train, "--test", test, "--n-subsets", "60", "--seed", "3", "-q", "-o", runs]) == 0
    return {"dir": d, "train": train, "test": test, "runs": runs}


def run(argv, capsys):
    code = _cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def read_csv(path):
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    return {h: np.array([float(r[j]) for r in rows[1:]]) for j, h in enumerate(rows[0])}


def test_retrain_runs_file_equals_library(files, data):
    X, y, Xt, yt = data
    ref = attrib.retrain(X, y, Xt, yt, n_subsets=60, seed=3, progress=False)
    masks = attrib.SubsetMasks.load(files["runs"])  # the library's own masks layout
    assert masks.packed.tobytes() == ref.masks.packed.tobytes() and masks.seed == 3
    with np.load(files["runs"]) as z:
        for key in ("margin", "loss", "correct"):
            assert z[key].tobytes() == ref.outputs[key].tobytes()
        assert str(z["model"]) == "logistic" and bool(z["complete"])


@pytest.mark.parametrize("model", ["ridge", "knn"])
def test_retrain_other_models(files, data, tmp_path, capsys, model):
    X, y, Xt, yt = data
    out = tmp_path / "r.npz"
    argv = ["retrain", files["train"], "--test", files["test"], "--model", model, "--n-subsets", 20, "--alpha", 0.3]
    code, _, err = run([*argv, "--l2", 0.5, "--k", 3, "--seed", 5, "--n-jobs", 2, "-o", out], capsys)
    assert code == 0, err
    ref = attrib.retrain(X, y, Xt, yt, model=model, n_subsets=20, alpha=0.3, seed=5, l2=0.5, k=3, progress=False)
    with np.load(out) as z:
        assert z["margin"].tobytes() == ref.outputs["margin"].tobytes()
    assert "wrote 20 subsets x 6 test points" in err


def test_retrain_checkpoint_and_resume(files, data, tmp_path, capsys):
    X, y, Xt, yt = data
    ck, out = tmp_path / "run.attrib", tmp_path / "r.npz"
    base = ["retrain", files["train"], "--test", files["test"], "--seed", 1, "-q", "--checkpoint", ck, "-o", out]
    assert run([*base, "--n-subsets", 10], capsys)[0] == 0
    code, _, err = run([*base, "--n-subsets", 10], capsys)  # exists, no --resume
    assert code == 2 and "--resume" in err and "Traceback" not in err
    assert run([*base, "--n-subsets", 25, "--resume"], capsys)[0] == 0
    ref = attrib.retrain(X, y, Xt, yt, n_subsets=25, seed=1, progress=False)
    with np.load(out) as z:
        assert z["margin"].tobytes() == ref.outputs["margin"].tobytes()


@pytest.mark.parametrize("fmt", ["npz", "csv"])
def test_datamodels_equals_library(files, tmp_path, capsys, fmt):
    out = tmp_path / f"dm.{fmt}"
    code, _, err = run(["datamodels", files["runs"], "--l1", "0.01", "-o", out], capsys)
    assert code == 0, err
    masks = attrib.SubsetMasks.load(files["runs"])
    with np.load(files["runs"]) as z:
        ref = attrib.datamodels(masks, z["margin"], l1=0.01, progress=False)
    got = np.load(out) if fmt == "npz" else read_csv(out)
    assert_array_equal(got["row"], np.arange(60))
    for j in range(ref.weights.shape[1]):
        assert got[f"weights_{j}"].tobytes() == ref.weights[:, j].tobytes()


def test_datamodels_cv_and_ridge_print(files, capsys):
    code, out, _ = run(["datamodels", files["runs"], "--method", "ridge", "--output-name", "loss", "--top", 3], capsys)
    assert code == 0 and "top 3 of 60 rows by mean_weight" in out


def test_lds_equals_library_from_npy_and_table(files, tmp_path, capsys):
    masks = attrib.SubsetMasks.load(files["runs"])
    with np.load(files["runs"]) as z:
        Y = z["margin"]
    scores = np.random.default_rng(0).normal(size=(60, 6))
    np.save(tmp_path / "s.npy", scores)
    ref = attrib.metrics.lds(scores, masks, Y, n_bootstrap=50, seed=2)
    out = tmp_path / "lds.json"
    code, text, err = run(
        ["lds", tmp_path / "s.npy", files["runs"], "--n-bootstrap", 50, "--seed", 2, "-o", out], capsys
    )
    assert code == 0, err
    got = json.loads(out.read_text())
    assert got["meta"]["mean"] == ref.mean and [got["meta"]["ci_low"], got["meta"]["ci_high"]] == list(ref.ci)
    assert [r["lds"] for r in got["rows"]] == ref.per_target.tolist()
    assert f"LDS {ref.mean:.6g}" in text
    # the datamodels table of the CLI is a score file too
    dm = tmp_path / "dm.csv"
    assert run(["datamodels", files["runs"], "--l1", "0.01", "-o", dm, "-q"], capsys)[0] == 0
    W = attrib.datamodels(masks, Y, l1=0.01, progress=False).weights
    code, text, _ = run(["lds", dm, files["runs"], "--n-bootstrap", 0, "-o", tmp_path / "l.npz"], capsys)
    assert code == 0
    assert float(np.load(tmp_path / "l.npz")["meta_mean"]) == attrib.metrics.lds(W, masks, Y, n_bootstrap=0).mean


@pytest.fixture(scope="module")
def trak_files(tmp_path_factory):
    rng = np.random.default_rng(4)
    d = tmp_path_factory.mktemp("cli_trak")
    paths = {}
    for c in range(2):
        np.save(d / f"train{c}.npy", rng.normal(size=(50, 8)).astype(np.float32))
        np.save(d / f"q{c}.npy", rng.uniform(0.1, 0.9, size=50))
        np.save(d / f"test{c}.npy", rng.normal(size=(7, 8)).astype(np.float32))
        paths[c] = [str(d / f"{k}{c}.npy") for k in ("train", "q", "test")]
    return paths


def _trak_ref(trak_files, cks, **kw):
    t = attrib.TRAK(dim=8, **{k: v for k, v in kw.items() if k in ("lambda_reg", "estimator")})
    for c in cks:
        t.add_checkpoint(np.load(trak_files[c][0], mmap_mode="r"), np.load(trak_files[c][1]))
    tests = [np.load(trak_files[c][2]) for c in cks]
    return t.score(tests if len(cks) > 1 else tests[0], top_k=kw.get("top_k"))


def test_trak_scores_equal_library(trak_files, tmp_path, capsys):
    out = tmp_path / "trak.npz"
    tr, q, te = trak_files[0]
    code, _, err = run(["trak", tr, "--out-to-loss", q, "--test", te, "--lambda-reg", 0.1, "-o", out], capsys)
    assert code == 0, err
    ref = _trak_ref(trak_files, [0], lambda_reg=0.1)
    got = np.load(out)
    for j in range(7):
        assert got[f"score_{j}"].tobytes() == ref[:, j].tobytes()


def test_trak_two_checkpoints_top_k(trak_files, tmp_path, capsys):
    out = tmp_path / "top.csv"
    (a, qa, ta), (b, qb, tb) = trak_files[0], trak_files[1]
    argv = ["trak", a, b, "--out-to-loss", qa, qb, "--test", ta, tb, "--estimator", "newton", "--top-k", 3, "-o", out]
    code, _, err = run(argv, capsys)
    assert code == 0, err
    ref = _trak_ref(trak_files, [0, 1], estimator="newton", top_k=3)
    got = read_csv(out)
    assert_array_equal(got["test"], np.repeat(np.arange(7), 3))
    for name in ("proponent_idx", "proponent_val", "opponent_idx", "opponent_val"):
        assert_array_equal(got[name], getattr(ref, name).reshape(-1))
    code, text, _ = run(["trak", a, "--out-to-loss", qa, "--test", ta], capsys)  # printed
    assert code == 0 and "by mean_score" in text


# ------------------------------------------------------------------ errors: message, exit status
@pytest.mark.parametrize(
    "argv, code, message",
    [
        (["datamodels", "{dir}/missing.npz"], 2, "no such file"),
        (["datamodels", "{train}"], 2, "runs file"),
        (["datamodels", "{runs}", "--output-name", "nope"], 2, "no output 'nope'"),
        (["lds", "{dir}/missing.npy", "{runs}"], 2, "no such file"),
        (["lds", "{dir}/bad_scores.npy", "{runs}"], 1, "scores"),
        (["lds", "{runs}", "{runs}"], 2, "not scores"),
        (["retrain", "{train}", "--test", "{test}"], 2, "needs --output"),
        (["retrain", "{train}", "--test", "{test}", "-o", "{dir}/x.csv"], 2, ".npz runs file"),
        (["retrain", "{train}", "--test", "{test}", "--target", "nope", "-o", "{dir}/x.npz"], 2, "no column 'nope'"),
        (["retrain", "{train}", "-o", "{dir}/x.npz"], 2, "needs a test set"),
        (["retrain", "{train}", "--test", "{test}", "--resume", "-o", "{dir}/x.npz"], 2, "--resume needs --checkpoint"),
        (["retrain", "{train}", "--test", "{test}", "--alpha", "1.5", "-o", "{dir}/x.npz"], 1, "alpha"),
        (["trak", "{dir}/missing.npy", "--out-to-loss", "{dir}/q.npy", "--test", "{dir}/t.npy"], 2, "no such file"),
        (["trak", "{dir}/f.npy", "--test", "{dir}/f.npy"], 2, "--out-to-loss"),
        (["trak", "{dir}/text.npy", "--out-to-loss", "{dir}/q.npy", "--test", "{dir}/f.npy"], 2, "not numeric"),
        (["trak", "{dir}/f.npy", "--out-to-loss", "{dir}/f.npy", "--test", "{dir}/f.npy"], 2, "vector"),
        (["trak", "{dir}/f.npy", "--out-to-loss", "{dir}/q.npy", "--test", "{train}"], 2, ".npy or .npz"),
    ],
)
def test_errors_are_one_line(files, capsys, argv, code, message):
    d = files["dir"]
    np.save(d / "bad_scores.npy", np.ones((3, 6)))
    np.save(d / "f.npy", np.ones((4, 3), np.float32))
    np.save(d / "q.npy", np.full(4, 0.5))
    np.save(d / "text.npy", np.array([["a", "b"], ["c", "d"]]))
    argv = [a.format(dir=d, **{k: v for k, v in files.items() if k != "dir"}) for a in argv]
    got, out, err = run(argv, capsys)
    assert got == code, err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
