"""attrib.retrain as a block job (``_blocks.BlockJob``): blocks of consecutive subset ids, run here
or on Dask workers, merged in id order, checkpointed between blocks.

A block's outputs are a fixed function of (learner, masks, ids): the built-in learners fit each
subset on one thread, a callable or estimator is called once per subset. So the merged outputs
are the same bits for any block sizes, any ``n_jobs``, any number of Dask workers, and for a run
interrupted (Ctrl-C, SIGKILL) and resumed from its checkpoint.
"""

from __future__ import annotations

import math
import time

import numpy as np

from . import _blocks
from ._blocks import BlockJob
from ._progress import BlockSizer
from .datamodels import _draw
from .exceptions import UtilityError

#: A first block of the built-in learners on this many training points or more may take long:
#: it runs cancellable (in a worker thread) until its speed is measured.
_LONG_FIRST_BLOCK_N = 2000


class _RetrainSpec:
    """What a block needs: the learner and where the masks come from (drawn from (seed, id), or
    rows of given packed masks). Picklable (cloudpickle, for Dask)."""

    def __init__(self, learner, *, n, draw=None, packed=None, first_id=0):
        self.learner = learner
        self.n = n
        self.draw = draw  # (alpha, sampler, seed) of sampled masks, or None
        self.packed = packed  # the given masks (packed rows), or None
        self.first_id = first_id
        self.core_name = getattr(getattr(learner, "core", None), "__name__", None)

    def user_objects(self):
        return self.learner.user_objects()

    def masks(self, start, count) -> np.ndarray:
        """Packed masks of subsets ``[start, start + count)`` (positions in this run)."""
        if self.draw is None:
            return np.ascontiguousarray(self.packed[start : start + count])
        alpha, sampler, seed = self.draw
        return _draw(self.n, count, alpha, sampler, seed, start, 1)  # cheap: one thread


def _retrain_block(spec, first, count, n_threads, cancel=None):
    """Outputs of subsets ``[first, first + count)``; None if cancelled. A UtilityError is returned,
    not raised, so that the caller raises it in id order."""
    t0 = time.perf_counter()
    packed = spec.masks(first, count)
    try:
        out = spec.learner.run(packed, spec.first_id + first, cancel, n_threads)
    except UtilityError as exc:
        return {"error": exc, "seconds": time.perf_counter() - t0}
    if out is None:
        return None
    outputs, info = out
    return {"error": None, "outputs": outputs, "info": info, "seconds": time.perf_counter() - t0}


class RetrainJob(BlockJob):
    """retrain's state between blocks: the outputs of the subsets merged so far."""

    name = "retrain"
    block_fn = staticmethod(_retrain_block)

    def __init__(self, spec, *, m, minimum, builtin, core, keys=None):
        self.spec = spec
        self.m = m
        self.minimum = minimum
        self.builtin = builtin
        self.core = core
        self.done = 0
        self.parts: dict[str, list[np.ndarray]] = {}
        self.keys = keys  # output names (known beforehand for the built-in learners)
        self.n_iter: list[np.ndarray] = []
        self.bad: list[int] = []

    def sizer(self, dask):
        m = self.minimum
        if dask:
            return BlockSizer(m, minimum=m, maximum=max(m, 1 << 16), seconds=_blocks.DASK_BLOCK_SECONDS)
        return BlockSizer(m, minimum=m, maximum=max(m, 1 << 16))

    def token_factory(self, count, per_item):
        long_block = per_item * count > 0.5 if math.isfinite(per_item) else self.spec.n >= _LONG_FIRST_BLOCK_N
        return self.core.CancelToken if self.builtin and long_block else None

    def note(self) -> str:
        return ""

    def merge(self, first, count, p):
        if first != self.done:  # pragma: no cover - the runner merges in order
            raise RuntimeError(f"retrain block {first} merged out of order (expected {self.done})")
        if p["error"] is not None:
            raise p["error"]
        outputs = p["outputs"]
        keys = tuple(sorted(outputs))
        if self.keys is None:
            self.keys = keys
        elif keys != tuple(sorted(self.keys)) and count:
            raise UtilityError(
                f"the model returned outputs {list(keys)} on subsets {first}..{first + count - 1}, "
                f"but {sorted(self.keys)} before"
            )
        widths = {v.shape[1] for parts in self.parts.values() for v in parts[:1]}
        for key, val in outputs.items():
            if widths and val.shape[1] not in widths:
                raise UtilityError(
                    f"output {key!r} has {val.shape[1]} values on subset {first}, but {widths.pop()} before"
                )
            self.parts.setdefault(key, []).append(val)
        if "n_iter" in p["info"]:
            self.n_iter.append(p["info"]["n_iter"])
            self.bad += np.asarray(p["info"]["bad"]).tolist()
        self.done += count
        return ""

    def outputs(self, T: int) -> dict[str, np.ndarray]:
        keys = self.keys or ()
        return {k: np.vstack(self.parts[k]) if self.parts.get(k) else np.empty((0, T)) for k in keys}

    # -- checkpoint (numeric arrays only)
    def state(self):
        arrays = {"done": np.array(self.done, np.int64), "bad": np.asarray(self.bad, np.int64)}
        for k in self.keys or ():
            arrays[f"out_{k}"] = np.vstack(self.parts[k]) if self.parts.get(k) else np.empty((0, 0))
        if self.n_iter:
            arrays["n_iter"] = np.concatenate(self.n_iter)
        return arrays

    def restore(self, arrays):
        try:
            done = int(arrays["done"])
            bad = np.asarray(arrays["bad"], np.int64).tolist()
            outs = {k[4:]: np.array(v, np.float64) for k, v in arrays.items() if k.startswith("out_")}
            n_iter = [np.array(arrays["n_iter"], np.int32)] if "n_iter" in arrays else []
        except (KeyError, ValueError, TypeError) as exc:
            raise ValueError(f"the checkpoint's retrain state is incomplete or malformed ({exc})") from None
        if not 0 <= done or any(v.ndim != 2 or (done and v.shape[0] != done) for v in outs.values()):
            raise ValueError("the checkpoint's retrain state is malformed (outputs and subset count disagree)")
        if self.keys is not None and done and sorted(outs) != sorted(self.keys):
            raise ValueError("the checkpoint's retrain state is malformed (other outputs than the model's)")
        self.done = done
        if done:
            self.keys = tuple(sorted(outs))
            self.parts = {k: [v] for k, v in outs.items()}
        self.bad = bad
        self.n_iter = n_iter
