"""Per-example gradients of a torch model as TRAK features (optional: ``pip install attrib[torch]``).

:func:`featurize` differentiates TRAK's model output, the correct-class margin
``logit_y - logsumexp_{c != y} logit_c``, for every example with ``torch.func`` (``functional_call``
and ``vmap(grad)``), and projects the gradient one parameter tensor at a time, each at its offset in
the flattened parameter vector, so that the flattened batch x p gradient is never formed. It also
returns TRAK's out-to-loss weights ``1 - softmax(logits)_y``. ``import attrib`` does not import
torch; this module does.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from . import _checkpoint
from ._blocks import BlockJob, run_blocks
from ._progress import BlockSizer, Progress

__all__ = ["featurize"]

TASKS = ("classification",)


def _torch():
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("attrib.torch needs PyTorch: pip install 'attrib[torch]' (or torch itself)") from exc
    return torch


def _margin_fn(torch, model, names, buffers):
    def margin(params, x, y):
        logits = torch.func.functional_call(model, ({**params, **buffers}), (x.unsqueeze(0),))[0]
        mask = torch.arange(logits.shape[-1], device=logits.device) == y
        correct = torch.where(mask, logits, torch.zeros_like(logits)).sum()
        others = torch.logsumexp(torch.where(mask, torch.full_like(logits, -torch.inf), logits), dim=-1)
        return correct - others

    return margin


def _projectors(projector, n_ckpt: int, p: int) -> list:
    projs = list(projector) if isinstance(projector, (list, tuple)) else [projector] * n_ckpt
    if len(projs) != n_ckpt:
        raise ValueError(f"projector lists {len(projs)} projectors for {n_ckpt} checkpoints")
    for P in projs:
        if not all(hasattr(P, a) for a in ("n_features", "dim", "project")):
            raise TypeError(
                f"projector must have n_features, dim and project(G, feature_offset=0), got {type(P).__name__}"
            )
        if int(P.n_features) != p:
            raise ValueError(f"the projector takes {P.n_features} features but the model has {p} parameters")
    return projs


def featurize(
    model,
    params_per_checkpoint,
    loader: Iterable,
    projector,
    task: str = "classification",
    *,
    checkpoint=None,
    resume: bool = False,
    checkpoint_every=None,
    progress: bool = False,
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Projected per-example gradients of the margin, and out-to-loss weights, per checkpoint.

    Parameters
    ----------
    model : torch.nn.Module
        The architecture; its parameters are replaced by each checkpoint's (the module itself is
        not modified, except that it is put in eval mode for the call and restored afterwards).
    params_per_checkpoint : mapping or sequence of mappings
        One ``state_dict``-like mapping (name to tensor) per checkpoint; entries for every
        parameter of ``model`` (buffers are taken from it when present, else from ``model``).
    loader : iterable of (inputs, labels)
        Batches, e.g. a ``torch.utils.data.DataLoader`` without shuffling; iterated once per
        checkpoint.
    projector : object or sequence of objects
        Anything with ``n_features`` (the model's parameter count), ``dim`` and
        ``project(G, feature_offset=0)`` (an :class:`attrib.Projector`), or one per checkpoint.
        Each parameter tensor's per-example gradient (batch x numel) is projected at its offset
        in the flattened parameter vector (``named_parameters`` order) and the parts are summed.
    task : {"classification"}, default "classification"
        Multiclass classification: the output is the correct-class margin and the out-to-loss
        weight is ``1 - p(correct)``.
    checkpoint : str or os.PathLike, optional
        Save the features of the batches done to this file (atomically), every
        ``checkpoint_every`` blocks of batches, at Ctrl-C and at the end; fingerprinted with every
        checkpoint's parameters, the projectors' settings, the task and the attrib version, and
        with a digest of each batch (so the loader must yield the same batches in the same order).
    resume : bool, default False
        Continue the run saved in ``checkpoint`` (start afresh if the file does not exist yet):
        interrupted (Ctrl-C, or the process killed) and resumed gives the same bits as
        uninterrupted. Other parameters, projectors or batches, or a damaged file: ValueError.
    checkpoint_every : int, optional
        Blocks of batches between checkpoints (default: about every 30 seconds).
    progress : bool, default False
        A progress line on stderr (batches done) for runs longer than a second.

    Returns
    -------
    features : list of ndarray of shape (n, dim), float32
        One per checkpoint.
    out_to_loss : list of ndarray of shape (n,), float64
        One per checkpoint.

    Raises
    ------
    ImportError
        torch is not installed.
    ValueError
        A projector of the wrong size, a checkpoint without some parameter, or a model whose
        output is not (batch, n_classes) with at least two classes; a checkpoint to resume written
        for other parameters, projectors or batches, or damaged.
    FileExistsError
        ``checkpoint`` exists and ``resume`` is False.
    KeyboardInterrupt
        Ctrl-C, after the checkpoint (if any) was written.

    Examples
    --------
    >>> import numpy as np
    >>> import torch
    >>> from attrib.torch import featurize
    >>> class Identity:                       # a projector that keeps every coordinate
    ...     n_features = dim = 3 * 2 + 2
    ...     def project(self, G, feature_offset=0):
    ...         out = np.zeros((G.shape[0], self.dim), np.float32)
    ...         out[:, feature_offset:feature_offset + G.shape[1]] = G
    ...         return out
    >>> model = torch.nn.Linear(3, 2)
    >>> x, y = torch.randn(5, 3), torch.tensor([0, 1, 1, 0, 1])
    >>> phi, q = featurize(model, [model.state_dict()], [(x, y)], Identity())
    >>> phi[0].shape, q[0].shape
    ((5, 8), (5,))
    """
    torch = _torch()
    if task not in TASKS:
        raise ValueError(f"task must be one of {list(TASKS)}, got {task!r}")
    if isinstance(params_per_checkpoint, Mapping):
        params_per_checkpoint = [params_per_checkpoint]
    if not isinstance(params_per_checkpoint, Sequence) or not params_per_checkpoint:
        raise ValueError("params_per_checkpoint must be a non-empty list of state dicts (one per checkpoint)")
    named = list(model.named_parameters())
    names = [nm for nm, _ in named]
    sizes = [int(t.numel()) for _, t in named]
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    p = int(offsets[-1])
    projs = _projectors(projector, len(params_per_checkpoint), p)
    for ck, state in enumerate(params_per_checkpoint):
        missing = [nm for nm in names if nm not in state]
        if missing:
            raise ValueError(f"checkpoint {ck} has no entry for parameter(s) {missing[:5]}")
    ckpt = None
    if checkpoint is not None or resume or checkpoint_every is not None:
        fp = _featurize_fingerprint(model, names, params_per_checkpoint, projs, task)
        ckpt = _checkpoint.open_run(checkpoint, resume, checkpoint_every, fp)
    passes = _Passes(torch, model, names, offsets, params_per_checkpoint, projs, loader, verify=ckpt is not None)
    job = _FeaturizeJob(passes)
    was_training = model.training
    model.eval()
    try:
        elapsed_before = 0.0
        if ckpt is not None and ckpt.resumed:
            job.restore(ckpt.arrays)
            elapsed_before = _checkpoint.scalar(ckpt.arrays, "__elapsed__", 0.0)
        stopped_by, _ = run_blocks(
            job,
            total=None,
            elapsed_before=elapsed_before,
            progress=Progress(bool(progress), None, "batches"),
            checkpointer=ckpt,
            meta={"job": "featurize", "unit": "batches"},
        )
    finally:
        model.train(was_training)
    if stopped_by == "interrupted":  # the checkpoint (if any) holds the batches done
        raise KeyboardInterrupt
    return job.result()


def _featurize_fingerprint(model, names, states, projs, task) -> dict:
    """The checkpoints' parameters (every tensor's bytes), the projectors' settings and the task.
    The loader's batches are checked as they come (a digest per batch), since an iterable cannot
    be hashed up front."""
    torch = _torch()
    data = {}
    for ck, state in enumerate(states):
        h = hashlib.sha256()
        buffers = dict(model.named_buffers())
        for nm in names + sorted(buffers):
            t = state.get(nm, buffers.get(nm))
            h.update(nm.encode() + b"\0" + _checkpoint.array_digest(torch.as_tensor(t).detach().cpu().numpy()).encode())
        data[f"checkpoint_{ck}"] = h.hexdigest()
    options = {"task": task, "parameters": names, "projectors": [_describe_projector(P) for P in projs]}
    return _checkpoint.fingerprint(job="featurize", data=data, seed=None, options=options)


def _describe_projector(P) -> dict:
    """A projector's class and settings (seed, model id, kind, dim..., digests of numeric arrays it
    holds; not thread counts)."""
    out = {"type": type(P).__qualname__, "n_features": int(P.n_features), "dim": int(P.dim)}
    for key, value in sorted(vars(P).items()) if hasattr(P, "__dict__") else ():
        if "n_jobs" in key or "thread" in key:
            continue
        if value is None or isinstance(value, (bool, int, float, str)):
            out[key] = value
        elif isinstance(value, np.ndarray) and value.dtype.kind in "biuf":  # e.g. a stored matrix
            out[key] = _checkpoint.array_digest(value)
    return out


def _batch_digest(x, y) -> np.ndarray:
    h = hashlib.sha256()
    for t in (x, y):
        a = t.detach().cpu().numpy() if hasattr(t, "detach") else np.asarray(t)
        h.update(_checkpoint.array_digest(a).encode())
    return np.frombuffer(h.digest(), dtype=np.uint8)


class _Passes:
    """One pass of the loader per checkpoint, batch after batch: the block runner takes ``count``
    batches at a time (local runs only: a loader is an iterator, not a list of ids)."""

    def __init__(self, torch, model, names, offsets, states, projs, loader, *, verify):
        self.torch, self.model, self.names, self.offsets = torch, model, names, offsets
        self.states, self.projs, self.loader = states, projs, loader
        self.verify = verify
        self.n_ck = len(states)
        self.ck, self.b, self.it = 0, 0, None
        self.pass_len: int | None = None
        self.digests: list[np.ndarray] = []  # of the first pass: every later pass must match

    def seek(self, done: int, pass_len: int | None, digests) -> None:
        """Position after ``done`` batches (a resumed run): skip, checking their digests."""
        self.pass_len = pass_len
        self.digests = [np.asarray(d, np.uint8) for d in digests]
        self.ck, b = divmod(done, pass_len) if pass_len else (0, done)
        if self.ck >= self.n_ck:
            return
        self._open()
        for _ in range(b):
            try:
                batch = next(self.it)
            except StopIteration:
                raise ValueError(
                    f"cannot resume: the loader yields fewer batches ({self.b}) than the checkpointed run had done"
                ) from None
            self._digest(batch)
            self.b += 1

    def _open(self) -> None:
        torch, ck = self.torch, self.ck
        state = self.states[ck]
        dev = next(iter(self.model.parameters())).device
        self.params = {nm: torch.as_tensor(state[nm]).detach().to(dev) for nm in self.names}
        self.buffers = {nm: torch.as_tensor(state.get(nm, b)).detach().to(dev) for nm, b in self.model.named_buffers()}
        self.grad_fn = torch.func.vmap(
            torch.func.grad(_margin_fn(torch, self.model, self.names, self.buffers)),
            in_dims=(None, 0, 0),
            randomness="different",
        )
        self.dev = dev
        self.it = iter(self.loader)
        self.b = 0

    def _digest(self, batch):
        if not self.verify:
            return None
        d = _batch_digest(batch[0], batch[1])
        if self.ck == 0 and self.b == len(self.digests):
            self.digests.append(d)
        elif self.b >= len(self.digests) or not np.array_equal(self.digests[self.b], d):
            raise ValueError(
                f"batch {self.b} of the loader differs from the run's earlier pass or checkpoint (for checkpoint= "
                "the loader must yield the same batches in the same order every time: no shuffling)"
            )
        return d

    def take(self, count: int) -> list:
        """Up to ``count`` (checkpoint, features, out_to_loss, digest) batches; fewer only at the end."""
        out: list = []
        while len(out) < count and self.ck < self.n_ck:
            if self.it is None:
                self._open()
            try:
                batch = next(self.it)
            except StopIteration:
                if self.b == 0:
                    raise ValueError("loader yielded no batches") from None
                if self.pass_len is None:
                    self.pass_len = self.b
                elif self.verify and self.b != self.pass_len:
                    raise ValueError(
                        f"the loader yielded {self.b} batches for checkpoint {self.ck}, {self.pass_len} before"
                    ) from None
                self.ck, self.it = self.ck + 1, None
                continue
            digest = self._digest(batch)
            feats, q = self._compute(batch)
            out.append((self.ck, feats, q, digest))
            self.b += 1
        return out

    def _compute(self, batch):
        torch, P = self.torch, self.projs[self.ck]
        x = torch.as_tensor(batch[0]).to(self.dev)
        y = torch.as_tensor(batch[1]).to(self.dev).long()
        with torch.no_grad():
            logits = torch.func.functional_call(self.model, ({**self.params, **self.buffers}), (x,))
        if logits.ndim != 2 or logits.shape[1] < 2:
            raise ValueError(
                f"task='classification' needs logits of shape (batch, n_classes >= 2), got {tuple(logits.shape)}"
            )
        q = (1.0 - torch.softmax(logits, dim=-1).gather(1, y[:, None])[:, 0]).double().cpu().numpy()
        grads = self.grad_fn(self.params, x, y)
        acc = np.zeros((x.shape[0], int(P.dim)), dtype=np.float64)
        for j, nm in enumerate(self.names):
            g = grads.pop(nm).reshape(x.shape[0], -1)
            G = g if getattr(P, "device", "cpu") == "cuda" else g.detach().cpu().numpy()
            part = P.project(G, feature_offset=int(self.offsets[j]))
            acc += part.detach().cpu().numpy() if hasattr(part, "detach") else np.asarray(part)
            del g, G
        return acc.astype(np.float32), q


def _featurize_block(spec, first, count, n_threads, cancel=None):
    t0 = time.perf_counter()
    return {"batches": spec.take(count), "seconds": time.perf_counter() - t0}


class _FeaturizeJob(BlockJob):
    """featurize's state between blocks: the features and weights of the batches done."""

    name = "featurize"
    block_fn = staticmethod(_featurize_block)

    spec: _Passes

    def __init__(self, passes: _Passes):
        self.spec = passes
        self.n_ck = passes.n_ck
        self.done = 0
        self.feats: list[list[np.ndarray]] = [[] for _ in range(self.n_ck)]
        self.qs: list[list[np.ndarray]] = [[] for _ in range(self.n_ck)]
        self.counts = [0] * self.n_ck  # batches merged per checkpoint
        self.digests: list[np.ndarray] = []

    def sizer(self, dask):
        if dask:  # pragma: no cover - a loader is consumed here
            raise ValueError("featurize runs locally (its loader is an iterator)")
        return BlockSizer(1, minimum=1, maximum=1 << 12)

    def merge(self, first, count, p):
        for ck, feats, q, digest in p["batches"]:
            self.feats[ck].append(feats)
            self.qs[ck].append(q)
            self.counts[ck] += 1
            if ck == 0 and digest is not None:
                self.digests.append(digest)
        self.done += len(p["batches"])
        return "complete" if len(p["batches"]) < count else ""

    def note(self) -> str:
        return f"checkpoint {min(self.spec.ck + 1, self.n_ck)} of {self.n_ck}"

    def _pass_len(self):
        # (from the merged batches only: a block discarded at a second Ctrl-C may have run ahead)
        finished = self.n_ck > 1 and self.counts[1] > 0 or self.spec.pass_len == self.counts[0] > 0
        return self.counts[0] if finished else None

    def state(self):
        arrays = {
            "done": np.array(self.done, np.int64),
            "pass_len": np.array(self._pass_len() or -1, np.int64),
            "digests": np.array(self.digests, np.uint8).reshape(-1, 32),
        }
        for ck in range(self.n_ck):
            if self.counts[ck]:
                arrays[f"features_{ck}"] = np.concatenate(self.feats[ck])
                arrays[f"out_to_loss_{ck}"] = np.concatenate(self.qs[ck])
                arrays[f"batch_rows_{ck}"] = np.array([len(a) for a in self.qs[ck]], np.int64)
        return arrays

    def restore(self, arrays):
        try:
            done = int(arrays["done"])
            pass_len = int(arrays["pass_len"])
            digests = np.asarray(arrays["digests"], np.uint8)
            for ck in range(self.n_ck):
                if f"batch_rows_{ck}" not in arrays:
                    continue
                rows = np.asarray(arrays[f"batch_rows_{ck}"], np.int64)
                F, q = np.asarray(arrays[f"features_{ck}"]), np.asarray(arrays[f"out_to_loss_{ck}"])
                if F.shape[0] != rows.sum() or q.shape != (rows.sum(),):
                    raise ValueError("rows disagree")
                cuts = np.cumsum(rows)[:-1]
                self.feats[ck] = list(np.split(F, cuts))
                self.qs[ck] = list(np.split(q, cuts))
                self.counts[ck] = int(rows.size)
        except (KeyError, ValueError, TypeError) as exc:
            raise ValueError(f"the checkpoint's featurize state is incomplete or malformed ({exc})") from None
        if sum(self.counts) != done or digests.ndim != 2 or digests.shape[1] != 32:
            raise ValueError("the checkpoint's featurize state is malformed")
        self.done = done
        self.digests = list(digests)
        self.spec.seek(done, pass_len if pass_len > 0 else None, self.digests)

    def result(self):
        feats = [np.concatenate(f) for f in self.feats]
        qs = [np.concatenate(q) for q in self.qs]
        return feats, qs
