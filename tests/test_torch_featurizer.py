"""attrib.torch.featurize: per-example margin gradients (torch.func) against a per-example autograd
loop and against traker's own gradients, projected per parameter tensor == projected whole;
``import attrib`` never imports torch."""

from __future__ import annotations

import doctest
import subprocess
import sys

import numpy as np
import pytest
from _trak_doubles import DenseProjector, IdentityProjector
from numpy.testing import assert_allclose

import attrib

torch = pytest.importorskip("torch")
from attrib.torch import featurize  # noqa: E402


@pytest.fixture(autouse=True)
def one_thread():
    """One torch and one BLAS thread: these problems are tiny, and on a shared 2-core machine
    oversubscribed thread pools make each small op tens of times slower."""
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(1):
        yield
    torch.set_num_threads(before)


def _mlp():
    torch.manual_seed(3)
    return torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.ReLU(), torch.nn.Linear(7, 4))


def _data(n=40):
    g = torch.Generator().manual_seed(4)
    return torch.randn(n, 5, generator=g), torch.randint(0, 4, (n,), generator=g)


def _batches(x, y, size=16):
    return [(x[i : i + size], y[i : i + size]) for i in range(0, len(x), size)]


def _loop_gradients(model, x, y):
    """Per example: the flattened gradient of logit_y - logsumexp_{c != y} logit_c, and 1 - p_y."""
    rows, qs = [], []
    for xi, yi in zip(x, y):
        logits = model(xi[None])[0]
        others = torch.cat([logits[:yi], logits[yi + 1 :]])
        margin = logits[yi] - torch.logsumexp(others, 0)
        grads = torch.autograd.grad(margin, list(model.parameters()))
        rows.append(torch.cat([g.reshape(-1) for g in grads]).detach().numpy())
        qs.append(1.0 - torch.softmax(logits, 0)[yi].item())
    return np.array(rows), np.array(qs)


def test_gradients_match_a_per_example_autograd_loop():
    model = _mlp()
    x, y = _data()
    p = sum(t.numel() for t in model.parameters())
    ckpts = [model.state_dict(), {k: v * 0.5 for k, v in model.state_dict().items()}]
    feats, qs = featurize(model, ckpts, _batches(x, y), IdentityProjector(p))
    for sd, F, q in zip(ckpts, feats, qs):
        ref = _mlp()
        ref.load_state_dict(sd)
        G, q_ref = _loop_gradients(ref, x, y)
        assert F.dtype == np.float32 and F.shape == (40, p)
        assert_allclose(F, G, rtol=1e-5, atol=1e-6)
        assert_allclose(q, q_ref, rtol=1e-6, atol=1e-7)


def test_projected_per_tensor_equals_projected_whole():
    model = _mlp()
    x, y = _data()
    p = sum(t.numel() for t in model.parameters())
    P = DenseProjector(p, 9, seed=1)
    (F,), _ = featurize(model, model.state_dict(), _batches(x, y), P)
    G, _ = _loop_gradients(model, x, y)
    assert_allclose(F, G @ P.matrix, rtol=1e-4, atol=1e-5 * np.abs(G @ P.matrix).max())


def test_matches_traker_gradients(tmp_path):
    trak = pytest.importorskip("trak")
    from trak.projectors import NoOpProjector

    model = _mlp()
    x, y = _data()
    p = sum(t.numel() for t in model.parameters())
    tr = trak.TRAKer(
        model=model,
        task="image_classification",
        train_set_size=40,
        save_dir=str(tmp_path / "t"),
        device="cpu",
        projector=NoOpProjector(device="cpu"),
        use_half_precision=False,
        logging_level=40,
    )
    tr.load_checkpoint(model.state_dict(), model_id=0)
    tr.featurize(batch=(x, y), num_samples=40)
    tr.saver.load_current_store(0)
    grads = np.array(tr.saver.current_store["grads"]) * np.sqrt(p)  # traker divides by sqrt(p)
    q_trak = np.array(tr.saver.current_store["out_to_loss"])[:, 0]
    (F,), (q,) = featurize(model, model.state_dict(), _batches(x, y), IdentityProjector(p))
    assert_allclose(F, grads, rtol=1e-5, atol=1e-6)
    assert_allclose(q, q_trak, rtol=1e-6)


def test_end_to_end_with_trak():
    model = _mlp()
    x, y = _data(120)
    p = sum(t.numel() for t in model.parameters())
    projs = [DenseProjector(p, 12, seed=s) for s in (1, 2)]
    ckpts = [model.state_dict(), {k: v * 0.9 for k, v in model.state_dict().items()}]
    train = featurize(model, ckpts, _batches(x[:100], y[:100]), projs)
    test = featurize(model, ckpts, _batches(x[100:], y[100:]), projs)
    t = attrib.TRAK(dim=12)
    for F, q in zip(*train):
        t.add_checkpoint(F, q)
    S = t.score(test[0])
    assert S.shape == (100, 20) and np.isfinite(S).all()
    top = t.score(test[0], top_k=3)
    assert (top.proponent_val[:, 0] == S.max(axis=0)).all()


def test_bad_input():
    model = _mlp()
    x, y = _data()
    p = sum(t.numel() for t in model.parameters())
    with pytest.raises(ValueError, match=f"the projector takes 10 features but the model has {p} parameters"):
        featurize(model, model.state_dict(), _batches(x, y), IdentityProjector(10))
    with pytest.raises(ValueError, match="task must be one of"):
        featurize(model, model.state_dict(), _batches(x, y), IdentityProjector(p), task="regression")
    sd = dict(model.state_dict())
    del sd["2.bias"]
    with pytest.raises(ValueError, match=r"checkpoint 0 has no entry for parameter\(s\) \['2.bias'\]"):
        featurize(model, sd, _batches(x, y), IdentityProjector(p))
    with pytest.raises(ValueError, match="projector lists 1 projectors for 2 checkpoints"):
        featurize(model, [sd, sd], _batches(x, y), [IdentityProjector(p)])
    one = torch.nn.Linear(5, 1)
    with pytest.raises(ValueError, match="n_classes >= 2"):
        featurize(one, one.state_dict(), _batches(x, y), IdentityProjector(6))


def test_model_mode_is_restored():
    model = _mlp().train()
    x, y = _data()
    featurize(model, model.state_dict(), _batches(x, y), IdentityProjector(sum(t.numel() for t in model.parameters())))
    assert model.training


def test_docstring_example_runs():
    import attrib.torch as module

    failed, tried = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS)
    assert failed == 0 and tried > 0


def test_import_attrib_does_not_import_torch():
    code = "import sys, attrib; sys.exit(1 if 'torch' in sys.modules else 0)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_readme_worked_example_runs(monkeypatch):
    """The README's TRAK example (a ```python torch block, which test_readme.py leaves out)."""
    import re
    from pathlib import Path

    pytest.importorskip("sklearn")
    readme = Path(__file__).resolve().parents[1] / "README.md"
    if not readme.exists():
        pytest.skip("README.md not beside the tests")
    (block,) = re.findall(r"```python torch\n(.*?)```", readme.read_text(), re.S)
    if not hasattr(attrib, "Projector"):  # until attrib.Projector lands: the dense test double
        monkeypatch.setattr(
            attrib,
            "Projector",
            lambda n, dim, seed=0, model_id=0: DenseProjector(n, dim, seed=1000 * seed + model_id),
            raising=False,
        )
    ns: dict = {}
    exec(compile(block, str(readme), "exec"), ns)
    assert ns["scores"].shape == (1500, 297)
    assert (ns["ytr"].numpy()[ns["top"].proponent_idx[:, 0]] == ns["yte"].numpy()).mean() > 0.8
