"""data_shapley and knn_shapley on a Dask cluster (a LocalCluster of 2 worker processes, started
and closed here): bitwise the local result, also when a worker is killed mid-run, with stopping
rules, errors and checkpoints as locally."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import numpy as np
import pytest
from numpy.testing import assert_array_equal

import attrib
from attrib import shapley as shapley_module
from attrib.exceptions import StoppedEarlyWarning, UtilityError

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=40
    )
    c = distributed.Client(cluster)
    try:
        yield c
    finally:
        c.close()
        cluster.close()


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(11)
    X = rng.normal(size=(50, 4))
    y = X @ [1.0, -1.0, 0.5, 0.0] + 0.3 * rng.normal(size=50)
    Xt = rng.normal(size=(30, 4))
    yt = Xt @ [1.0, -1.0, 0.5, 0.0]
    return X, y, Xt, yt


def _same(a, b, stopped=True):
    assert_array_equal(a.values, b.values)
    assert_array_equal(a.stderr, b.stderr)
    assert_array_equal(a.counts, b.counts)
    assert (a.n_samples, a.n_evaluations) == (b.n_samples, b.n_evaluations)
    assert a.stopped_by == b.stopped_by or not stopped
    for key in ("n_samples", "max_stderr", "values"):
        assert_array_equal(a.history[key], b.history[key])


def test_import_attrib_does_not_import_dask():
    code = "import sys, attrib; sys.exit(any(m.split('.')[0] in ('dask', 'distributed') for m in sys.modules))"
    env = dict(os.environ, PYTHONPATH=os.path.dirname(attrib.__path__[0]))
    assert subprocess.run([sys.executable, "-c", code], env=env).returncode == 0


@pytest.mark.parametrize(
    "case",
    ["ridge", "banzhaf", "beta", "antithetic-truncated", "logistic", "knn-utility", "callable", "odd-blocks"],
)
def test_dask_equals_local_bitwise(client, data, case):
    X, y, Xt, yt = data
    w = np.random.default_rng(2).normal(size=50)
    kw = dict(max_permutations=120, rtol=None, progress=False, seed=3)
    args = (X, y, Xt, yt)
    if case == "banzhaf":
        kw["semivalue"] = "banzhaf"
    elif case == "beta":
        kw["semivalue"] = "beta(4,1)"
    elif case == "antithetic-truncated":
        kw.update(antithetic=True, truncation=0.05, truncation_patience=2)
    elif case in ("logistic", "knn-utility"):
        args = (X, y > 0, Xt, yt > 0)
        kw["utility"] = "logistic" if case == "logistic" else "knn"
    elif case == "callable":
        args = (50,)
        kw["utility"] = lambda idx: float(np.tanh(w[idx].sum()))
    else:
        kw["block_size"] = 7
    local = attrib.data_shapley(*args, **kw)
    _same(attrib.data_shapley(*args, client=client, **kw), local)


def test_stopping_rule_stops_at_the_same_sample(client, data):
    # converged runs stop where the rule first holds at a fixed sample count, whatever the
    # block sizes, the timing or the number of workers
    X, y, Xt, yt = data
    local = attrib.data_shapley(X, y, Xt, yt, rtol=0.15, progress=False, seed=5)
    remote = attrib.data_shapley(X, y, Xt, yt, rtol=0.15, progress=False, seed=5, client=client)
    assert local.stopped_by == "converged"
    _same(remote, local)


def test_time_budget_keeps_whole_blocks(client, data):
    X, y, Xt, yt = data
    w = np.random.default_rng(4).normal(size=50)

    def utility(idx):
        return float(np.tanh(w[idx].sum()))

    with pytest.warns(StoppedEarlyWarning, match="time budget"):
        # rtol=None: on a quiet machine the default target can be met within the budget
        res = attrib.data_shapley(50, utility=utility, time_budget=0.5, rtol=None, progress=False, client=client)
    assert res.stopped_by == "time_budget" and res.n_samples > 0
    again = attrib.data_shapley(50, utility=utility, max_permutations=res.n_samples, progress=False)
    _same(res, again, stopped=False)


@pytest.mark.parametrize("soft", [False, True])
def test_knn_shapley_dask_equals_local(client, monkeypatch, soft):
    rng = np.random.default_rng(6)
    X, y = rng.normal(size=(400, 5)), rng.integers(0, 3, 400)
    Xt, yt = rng.normal(size=(300, 5)), rng.integers(0, 3, 300)
    monkeypatch.setattr(shapley_module, "_KNN_SUPERBLOCK_WORK", 400 * 21 * 32)  # super-blocks of 32 test points
    local = attrib.knn_shapley(X, y, Xt, yt, k=4, soft_label=soft)
    remote = attrib.knn_shapley(X, y, Xt, yt, k=4, soft_label=soft, client=client)
    assert_array_equal(remote.values, local.values)
    assert remote.n_samples == 300 and remote.stopped_by == "exact"


def _killer(w, marker, parent, n):
    """A utility that kills the worker process running it the first time it reaches a given
    prefix (the marker file makes it once per test); never in the test process itself."""

    def utility(idx):
        if len(idx) == n // 2 and os.getpid() != parent and not os.path.exists(marker):
            open(marker, "w").close()
            os.kill(os.getpid(), signal.SIGKILL)
        return float(np.tanh(w[idx].sum()))

    return utility


def test_worker_killed_mid_block_loses_nothing(client, tmp_path):
    n = 30
    w = np.random.default_rng(8).normal(size=n)
    marker = str(tmp_path / "killed")
    utility = _killer(w, marker, os.getpid(), n)
    kw = dict(max_permutations=160, rtol=None, progress=False, seed=1)
    res = attrib.data_shapley(n, utility=utility, client=client, **kw)
    assert os.path.exists(marker)  # a worker really died mid-block
    _same(res, attrib.data_shapley(n, utility=utility, **kw))
    client.wait_for_workers(2, timeout=60)  # the nanny restarted it


def test_ctrl_c_keeps_the_merged_blocks(client, tmp_path):
    import threading
    import time

    w = np.random.default_rng(9).normal(size=20)

    def slow(idx):
        return float(np.tanh(w[idx].sum()))

    path = tmp_path / "c.attrib"
    timer = threading.Timer(3.0, os.kill, args=(os.getpid(), signal.SIGINT))
    timer.start()
    t0 = time.perf_counter()
    try:
        with pytest.warns(StoppedEarlyWarning, match="interrupted"):
            res = attrib.data_shapley(
                20, utility=slow, max_permutations=10**6, progress=False, client=client, checkpoint=path
            )
    finally:
        timer.cancel()
    assert time.perf_counter() - t0 < 8
    assert res.stopped_by == "interrupted" and res.n_samples > 0
    _same(res, attrib.data_shapley(20, utility=slow, max_permutations=res.n_samples, progress=False), stopped=False)
    with np.load(path, allow_pickle=False) as z:  # saved at Ctrl-C
        assert int(z["done"].reshape(-1)[0]) == res.n_samples


def test_checkpoint_written_on_dask_resumes_locally(client, data, tmp_path):
    X, y, Xt, yt = data
    path = tmp_path / "run.attrib"
    kw = dict(rtol=None, progress=False, seed=7)
    attrib.data_shapley(X, y, Xt, yt, max_permutations=64, checkpoint=path, client=client, **kw)
    resumed = attrib.data_shapley(X, y, Xt, yt, max_permutations=160, checkpoint=path, resume=True, **kw)
    _same(resumed, attrib.data_shapley(X, y, Xt, yt, max_permutations=160, **kw))


def test_utility_errors_arrive_in_order(client):
    def utility(idx):
        if len(idx) == 3:
            raise RuntimeError("boom")
        return float(len(idx))

    with pytest.raises(
        UtilityError, match="the utility raised RuntimeError: boom on the first 3 points of permutation 0"
    ):
        attrib.data_shapley(6, utility=utility, max_permutations=64, progress=False, client=client)


def test_unpicklable_utility_is_a_clear_error(client):
    import threading

    lock = threading.Lock()

    def utility(idx):
        with lock:
            return float(len(idx))

    with pytest.raises(TypeError, match="must be picklable by cloudpickle"):
        attrib.data_shapley(6, utility=utility, max_permutations=16, progress=False, client=client)


def test_client_must_be_a_dask_client(data):
    X, y, Xt, yt = data
    with pytest.raises(TypeError, match="client must be a dask.distributed.Client"):
        attrib.data_shapley(X, y, Xt, yt, max_permutations=16, progress=False, client="tcp://127.0.0.1:8786")
    with pytest.raises(TypeError, match="client must be a dask.distributed.Client"):
        attrib.knn_shapley(X, y > 0, Xt, yt > 0, client=object())


def test_knn_shapley_resumed_on_dask_mid_super_block(client, monkeypatch, tmp_path):
    rng = np.random.default_rng(12)
    X, y = rng.normal(size=(300, 4)), rng.integers(0, 3, 300)
    Xt, yt = rng.normal(size=(400, 4)), rng.integers(0, 3, 400)
    monkeypatch.setattr(shapley_module, "_KNN_SUPERBLOCK_WORK", 300 * 20 * 48)  # super-blocks of 48 test points
    monkeypatch.setattr(shapley_module, "_KNN_PARTIAL_BYTES", 8 * 300 * 2)  # local blocks of 32 test points
    whole = attrib.knn_shapley(X, y, Xt, yt, k=3)
    real = shapley_module._KnnJob.block_fn
    calls = {"n": 0}

    def flaky(*args, **kw):
        calls["n"] += 1
        if calls["n"] == 3:  # after 64 test points: inside the second super-block
            raise KeyboardInterrupt
        return real(*args, **kw)

    path = tmp_path / "knn.attrib"
    with monkeypatch.context() as m:
        m.setattr(shapley_module._KnnJob, "block_fn", staticmethod(flaky))
        with pytest.warns(StoppedEarlyWarning, match="interrupted"):
            part = attrib.knn_shapley(X, y, Xt, yt, k=3, checkpoint=path)
    assert part.n_samples == 64
    resumed = attrib.knn_shapley(X, y, Xt, yt, k=3, checkpoint=path, resume=True, client=client)
    assert_array_equal(resumed.values, whole.values)


# ------------------------------------------------------------------ retrain on Dask
def _same_retrain(a, b):
    assert a.masks.packed.tobytes() == b.masks.packed.tobytes()
    assert sorted(a.outputs) == sorted(b.outputs)
    for key in a.outputs:
        assert a.outputs[key].tobytes() == b.outputs[key].tobytes(), key


@pytest.mark.parametrize("model", ["logistic", "ridge", "knn", "callable", "masks"])
def test_retrain_dask_equals_local(client, data, model, monkeypatch):
    from attrib import _blocks

    monkeypatch.setattr(_blocks, "DASK_BLOCK_SECONDS", 1e-6)  # many small blocks over both workers
    X, y, Xt, yt = data
    w = np.random.default_rng(3).normal(size=50)
    kw = dict(n_subsets=40, seed=2, progress=False)
    args = (X, y > 0, Xt, yt > 0)
    if model == "ridge":
        args, kw["model"] = (X, y, Xt, yt), "ridge"
    elif model == "knn":
        kw["model"] = "knn"
    elif model == "callable":
        args, kw["model"] = (50,), lambda idx: [float(np.tanh(w[idx].sum())), float(idx.size)]
    elif model == "masks":
        kw = dict(masks=attrib.sample_subsets(50, 30, seed=4, first_id=7), progress=False)
    local = attrib.retrain(*args, **kw)
    remote = attrib.retrain(*args, client=client, **kw)
    _same_retrain(remote, local)
    assert remote.complete


def test_retrain_checkpoint_on_dask_resumes_locally(client, data, tmp_path):
    X, y, Xt, yt = data
    path = tmp_path / "retrain.attrib"
    kw = dict(model="ridge", seed=8, progress=False)
    attrib.retrain(X, y, Xt, yt, n_subsets=16, checkpoint=path, client=client, **kw)
    resumed = attrib.retrain(X, y, Xt, yt, n_subsets=40, checkpoint=path, resume=True, **kw)
    _same_retrain(resumed, attrib.retrain(X, y, Xt, yt, n_subsets=40, **kw))


def test_retrain_worker_killed_mid_block_loses_nothing(client, tmp_path):
    n = 30
    w = np.random.default_rng(9).normal(size=n)
    marker = str(tmp_path / "killed")
    parent = os.getpid()

    def model(idx):
        if os.getpid() != parent and not os.path.exists(marker):  # the first subset run on a worker
            open(marker, "w").close()
            os.kill(os.getpid(), signal.SIGKILL)
        return [float(np.tanh(w[idx].sum()))]

    kw = dict(model=model, n_subsets=30, seed=3, progress=False)
    remote = attrib.retrain(n, client=client, **kw)
    assert os.path.exists(marker)  # a worker really died mid-block
    _same_retrain(remote, attrib.retrain(n, **kw))
    client.wait_for_workers(2, timeout=60)


def test_cli_retrain_with_scheduler_equals_local(client, data, tmp_path, capsys):
    from attrib import _cli

    X, y, Xt, yt = data
    paths = []
    for name, A, b in (("train", X, y), ("test", Xt, yt)):
        path = tmp_path / f"{name}.csv"
        rows = [",".join([f"f{j}" for j in range(A.shape[1])] + ["y"])]
        rows += [",".join(repr(float(v)) for v in [*a, t]) for a, t in zip(A, b)]
        path.write_text("\n".join(rows) + "\n")
        paths.append(str(path))
    out = tmp_path / "runs.npz"
    argv = ["retrain", paths[0], "--test", paths[1], "--model", "ridge", "--n-subsets", "24", "--seed", "6"]
    assert _cli.main([*argv, "--scheduler", client.scheduler.address, "-o", str(out)]) == 0, capsys.readouterr().err
    ref = attrib.retrain(X, y, Xt, yt, model="ridge", n_subsets=24, seed=6, progress=False)
    with np.load(out) as z:
        assert z["margin"].tobytes() == ref.outputs["margin"].tobytes()
        assert z["packed"].tobytes() == ref.masks.packed.tobytes()
