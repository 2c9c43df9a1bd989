"""Per-example gradients of a torch model as TRAK features (optional: ``pip install attrib[torch]``).

:func:`featurize` differentiates TRAK's model output, the correct-class margin
``logit_y - logsumexp_{c != y} logit_c``, for every example with ``torch.func`` (``functional_call``
and ``vmap(grad)``), and projects the gradient one parameter tensor at a time, each at its offset in
the flattened parameter vector, so that the flattened batch x p gradient is never formed. It also
returns TRAK's out-to-loss weights ``1 - softmax(logits)_y``. ``import attrib`` does not import
torch; this module does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np

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
        output is not (batch, n_classes) with at least two classes.

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
    was_training = model.training
    model.eval()
    feats, qs = [], []
    try:
        for ck, (state, P) in enumerate(zip(params_per_checkpoint, projs)):
            missing = [nm for nm in names if nm not in state]
            if missing:
                raise ValueError(f"checkpoint {ck} has no entry for parameter(s) {missing[:5]}")
            dev = next(iter(model.parameters())).device
            params = {nm: torch.as_tensor(state[nm]).detach().to(dev) for nm in names}
            buffers = {nm: torch.as_tensor(state.get(nm, b)).detach().to(dev) for nm, b in model.named_buffers()}
            grad_fn = torch.func.vmap(
                torch.func.grad(_margin_fn(torch, model, names, buffers)), in_dims=(None, 0, 0), randomness="different"
            )
            ck_feats, ck_q = [], []
            for batch in loader:
                x, y = batch[0], batch[1]
                x = torch.as_tensor(x).to(dev)
                y = torch.as_tensor(y).to(dev).long()
                with torch.no_grad():
                    logits = torch.func.functional_call(model, ({**params, **buffers}), (x,))
                if logits.ndim != 2 or logits.shape[1] < 2:
                    raise ValueError(
                        f"task='classification' needs logits of shape (batch, n_classes >= 2), got {tuple(logits.shape)}"
                    )
                ck_q.append((1.0 - torch.softmax(logits, dim=-1).gather(1, y[:, None])[:, 0]).double().cpu().numpy())
                grads = grad_fn(params, x, y)
                acc = np.zeros((x.shape[0], int(P.dim)), dtype=np.float64)
                for j, nm in enumerate(names):
                    g = grads.pop(nm).reshape(x.shape[0], -1)
                    G = g if getattr(P, "device", "cpu") == "cuda" else g.detach().cpu().numpy()
                    part = P.project(G, feature_offset=int(offsets[j]))
                    acc += part.detach().cpu().numpy() if hasattr(part, "detach") else np.asarray(part)
                    del g, G
                ck_feats.append(acc.astype(np.float32))
            if not ck_feats:
                raise ValueError("loader yielded no batches")
            feats.append(np.concatenate(ck_feats))
            qs.append(np.concatenate(ck_q))
    finally:
        model.train(was_training)
    return feats, qs
