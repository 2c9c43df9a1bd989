"""The block runner every long job goes through: blocks of work ids, here or on Dask workers,
merged in block-id order, with stopping rules, progress, Ctrl-C and checkpoints between blocks.

A long job (a :class:`BlockJob`) is a sequence of work ids 0, 1, 2, ... (permutation ids, subset
ids, test points, retraining subsets...). It provides

- ``block_fn(spec, first, count, n_threads, cancel, **extra)``: a *module-level* function that
  computes the partial result of ids ``[first, first + count)`` from ``spec`` (a picklable object
  holding the data and options) and the ids only: the same bits wherever it runs. It returns
  None if ``cancel`` (a core CancelToken, local runs only) was set;
- ``merge(first, count, partial)``: folds a block into the job's state; called in id order only,
  so the state after any number of ids is one fixed sequence of float operations; returns a stop
  reason ("converged") or "" and may consume fewer ids than given (then ``done`` says how many);
- ``done`` (ids merged), ``note()`` (progress text), ``state()`` / ``restore(arrays)``
  (checkpoint, numeric arrays only), ``extra(first)`` (per-block arguments, e.g. a carry), and
  ``sizer(dask)`` (block sizes; on Dask they must be multiples of the job's accumulation unit).

:func:`run_blocks` then runs the job locally (one block at a time, in this process) or, given a
``dask.distributed.Client``, through ``attrib.distributed`` (blocks as tasks, ``spec`` scattered
once, partials merged in id order whatever order they finish in). Retraining jobs and TRAK
featurisation plug in by writing such a job class; nothing here knows about Shapley values.
"""

from __future__ import annotations

import math
import time
from typing import Any

from ._progress import DeferredInterrupt

__all__ = ["BlockJob", "run_blocks"]


class BlockJob:
    """The protocol a long job implements (see the module docstring)."""

    name = "job"
    spec: object = None
    done = 0
    #: ``block_fn(spec, first, count, n_threads, cancel=None, **extra)``, a module-level function
    #: (wrapped in staticmethod) so that Dask can send it to workers by reference.
    block_fn: Any = None

    def merge(self, first, count, partial) -> str:  # pragma: no cover - protocol
        raise NotImplementedError

    def extra(self, first, count) -> dict:
        """Per-block keyword arguments for ``block_fn`` (e.g. a shard of test points, a carry)."""
        return {}

    def clip(self, first, count) -> int:
        """The size of the block starting at ``first`` (e.g. to end at an accumulation boundary)."""
        return count

    def check_now(self) -> str:
        """A stop reason for the state as it is (a resumed run that had already converged)."""
        return ""

    def token_factory(self, count, per_item):
        """A core CancelToken class for a block that may run long (local runs), else None."""
        return None

    def note(self) -> str:
        return ""

    def state(self) -> dict:  # pragma: no cover - protocol
        raise NotImplementedError

    def restore(self, arrays) -> None:  # pragma: no cover - protocol
        raise NotImplementedError

    def sizer(self, dask: bool):  # pragma: no cover - protocol
        raise NotImplementedError


class _Local:
    """Runs each block here, at once (cancellable in a worker thread when it may run long)."""

    def __init__(self, job, n_threads, interrupt):
        self.job, self.n_threads, self.interrupt = job, n_threads, interrupt
        self.room = 1
        self._out = []

    def submit(self, first, count, per_item):
        job = self.job
        extra = job.extra(first, count)
        t0 = time.perf_counter()
        out = self.interrupt.run(
            lambda token: job.block_fn(job.spec, first, count, self.n_threads, token, **extra),
            job.token_factory(count, per_item),
        )
        self._out.append((first, count, out, time.perf_counter() - t0))

    def inflight(self) -> int:
        return len(self._out)  # a block done but not yet merged still fills the one slot

    def collect(self, timeout):
        out, self._out = self._out, []
        return out

    def cancel(self):
        pass

    def close(self):
        pass


def run_blocks(
    job,
    *,
    total,
    time_budget=None,
    cap=None,
    elapsed_before=0.0,
    progress=None,
    checkpointer=None,
    client=None,
    n_threads=-1,
    meta=None,
):
    """Run ``job`` until ``total`` ids are merged, ``job.merge`` says stop, the time budget or
    cap (seconds, counted over every session of a resumed run) is reached, or Ctrl-C.

    Returns ``(stopped_by, elapsed)``: "max" (all ids), the job's reason, "time_budget", "cap"
    or "interrupted"; elapsed counts this session plus ``elapsed_before``. With a checkpointer,
    the state is saved every N blocks, at Ctrl-C and at the end (after an error, the last
    periodic checkpoint stays as it was).
    """
    t_start = time.perf_counter()
    limit = min(x for x in (time_budget, cap, math.inf) if x is not None)

    def elapsed():
        return elapsed_before + (time.perf_counter() - t_start)

    def save():
        if checkpointer is not None:
            arrays = job.state()
            arrays["__elapsed__"] = elapsed()
            checkpointer.save(arrays, meta)

    stopped_by = ""
    executor = None
    try:
        with DeferredInterrupt() as interrupt:
            if client is None:
                executor = _Local(job, n_threads, interrupt)
                sizer = job.sizer(False)
            else:
                from .distributed import DaskExecutor

                executor = DaskExecutor(client, job, n_threads)
                sizer = job.sizer(True)
            next_id = job.done
            ready: dict = {}
            stopped_by = job.check_now() if job.done > 0 else ""
            while not stopped_by:
                if job.done > 0:  # (a fresh run does at least one block, as a resumed one may do none)
                    now = elapsed()
                    if time_budget is not None and now >= time_budget:
                        stopped_by = "time_budget"
                        break
                    if cap is not None and now >= cap:
                        stopped_by = "cap"
                        break
                if total is not None and job.done >= total:
                    stopped_by = "max"
                    break
                # Submit in id order while there is room and work (and time) left.
                while executor.inflight() < executor.room and (total is None or next_id < total):
                    left = limit - elapsed()
                    if left <= 0 and executor.inflight():
                        break
                    remaining_s = None if limit == math.inf else left
                    count = job.clip(next_id, sizer.next(None if total is None else total - next_id, remaining_s))
                    executor.submit(next_id, count, sizer.per_item)
                    next_id += count
                for first, count, out, seconds in executor.collect(timeout=0.05):
                    ready[first] = (count, out, seconds)
                reason = ""
                merged = 0
                while job.done in ready and not reason:
                    first = job.done
                    count, out, seconds = ready.pop(first)
                    if isinstance(out, BaseException):
                        raise out
                    if out is None:  # cancelled block (local Ctrl-C)
                        raise KeyboardInterrupt
                    sizer.record(count, seconds)
                    reason = job.merge(first, count, out)
                    merged += 1
                    if checkpointer is not None and checkpointer.due():
                        save()
                if merged and progress is not None:
                    progress.update(job.done, job.note())
                if reason:
                    stopped_by = reason
                    break
                if interrupt.hit and not (total is not None and job.done >= total):
                    raise KeyboardInterrupt
    except KeyboardInterrupt:
        stopped_by = "interrupted"
    finally:
        if executor is not None:
            executor.cancel()
            executor.close()
        if progress is not None:
            progress.close()
    # Reached on a normal stop and on Ctrl-C (not on an error: the last periodic save stays).
    save()
    return stopped_by, elapsed()


#: Seconds a block aims at on a Dask worker: long enough that the per-task overhead (a few
#: milliseconds) costs under 1%, short enough that stopping rules and Ctrl-C act promptly.
DASK_BLOCK_SECONDS = 0.5
