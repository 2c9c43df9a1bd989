"""Dask backend: the blocks of work ids of a long job run as tasks on a ``dask.distributed`` cluster.

Pass ``client=`` (a :class:`dask.distributed.Client`) to :func:`attrib.data_shapley`,
:func:`attrib.knn_shapley` or :func:`attrib.retrain` (blocks of subset ids; a built-in learner
travels with its data, rebuilt on the worker with the client's core build); install the extra with ``pip install "attrib[dask]"``. This module is
imported only then: ``import attrib`` never imports dask.

How it works (``_blocks.run_blocks`` drives it, exactly as it drives a local run):

- The job's *spec* (the data, the options, the utility) is scattered once to every worker
  (``broadcast=True``: each holds a replica, so losing a worker loses no data); a Python
  callable or estimator utility travels with it, pickled by cloudpickle.
- Blocks of ids ``[first, first + count)`` are submitted in id order, a window of about two
  per worker thread ahead; each task runs the job's module-level block function on a worker,
  which computes its partial result from (spec, ids) alone, with the same build of the core
  as the client (the worker refuses to run another).
- Partials come back in any order and are merged in id order only (a block waits until every
  earlier one has been merged), through the same code as a local run. So the result is bitwise
  the one of a local run, for any number of workers. data_shapley's partials are per-unit
  (count, mean, M2) summaries, not raw samples; knn_shapley's are one length-n sum per
  super-block of test points, and each task carries only its own shard of test points.
- A worker that dies mid-block (crash, OOM kill, preemption) loses nothing: the scheduler runs
  that task again elsewhere, and a block's result is merged once, when it first arrives for its
  id, so nothing is double counted. A task that kills its worker three times (dask's
  ``distributed.scheduler.allowed-failures``) fails the run with dask's KilledWorker.
- Stopping rules, the progress line, time budgets, Ctrl-C and checkpoints act between merged
  blocks, as locally; when the run stops, the tasks still queued or running are cancelled (a
  task already running on a worker finishes there and is discarded).

Block sizes aim at :data:`attrib._blocks.DASK_BLOCK_SECONDS` of worker time per task, so the
per-task overhead of the scheduler (milliseconds) stays small; each task uses ``n_jobs`` threads
(default 1: one task per worker thread, as dask schedules them).

Other long jobs plug in the same way: a ``_blocks.BlockJob`` with a picklable ``spec``, a
module-level ``block_fn`` and an id-ordered ``merge``; :class:`DaskExecutor` runs any of them.
"""

from __future__ import annotations

import uuid

__all__ = ["DaskExecutor", "check_client"]


def _require():
    try:
        import distributed
    except ImportError:  # pragma: no cover - exercised only without dask
        raise ImportError(
            "client= needs dask.distributed; install it with: pip install 'attrib[dask]' "
            "(or pip install 'dask[distributed]')"
        ) from None
    return distributed


def check_client(client) -> None:
    """TypeError unless ``client`` is a dask.distributed.Client (ImportError without dask)."""
    distributed = _require()
    if not isinstance(client, distributed.Client):
        raise TypeError(f"client must be a dask.distributed.Client, got {type(client).__name__}")
    if client.status not in ("running", "connecting", "newly-created"):
        raise ValueError(f"client is not connected to a scheduler (status {client.status!r})")


def _check_picklable(spec, name) -> None:
    import cloudpickle

    for what, obj in getattr(spec, "user_objects", lambda: ())():
        try:
            cloudpickle.dumps(obj)
        except Exception as exc:
            raise TypeError(
                f"{name} on a Dask cluster sends the {what} to every worker, so it must be picklable by "
                f"cloudpickle, and {what} {obj!r} is not ({type(exc).__name__}: {exc}). Define it at module "
                "level (or as a closure over picklable data), or run without client="
            ) from None


def _core_for(name: str):
    """The core build ``name``, refusing an x86-64-v3 build on a CPU that cannot run it."""
    import importlib

    if name.endswith("_core_avx2"):
        from . import _core

        if not _core.cpu_supports_x86_64_v3():
            raise RuntimeError(
                "this Dask worker's CPU cannot run the x86-64-v3 (AVX2) build of attrib that the client uses; "
                "set ATTRIB_CPU=baseline on the client so that every machine runs the portable build"
            )
    return importlib.import_module(name)


def _run_block(fn, spec, first, count, n_threads, extra):
    """One task on a worker: the job's block function on (spec, ids)."""
    core_name = getattr(spec, "core_name", None)
    if core_name is not None:
        _core_for(core_name)
    return fn(spec, first, count, n_threads, None, **extra)


#: Times one block is submitted again after the cluster cancelled it (a dead worker, lost data).
MAX_RESUBMITS = 3


class DaskExecutor:
    """Runs a ``_blocks.BlockJob``'s blocks as tasks of ``client``; used by ``run_blocks``."""

    def __init__(self, client, job, n_threads):
        check_client(client)
        _check_picklable(job.spec, job.name)
        self.client, self.job, self.n_threads = client, job, n_threads
        self._distributed = _require()
        self.spec_future = client.scatter(job.spec, broadcast=True, hash=False)
        threads = sum(client.nthreads().values())
        self.room = max(2, 2 * threads)
        self.futures: dict = {}  # first id -> (future, count)
        self._tag = f"attrib-{job.name}-{uuid.uuid4().hex[:12]}"
        self._retries: dict = {}  # first id -> times resubmitted after the cluster cancelled it

    def submit(self, first, count, per_item, *, retry: int = 0):
        extra = self.job.extra(first, count)
        future = self.client.submit(
            _run_block,
            self.job.block_fn,
            self.spec_future,
            first,
            count,
            self.n_threads,
            extra,
            key=f"{self._tag}-{first}" + (f"-retry{retry}" if retry else ""),
            pure=False,
        )
        self.futures[first] = (future, count)

    def inflight(self) -> int:
        return len(self.futures)

    def collect(self, timeout):
        """(first, count, partial or exception, worker seconds) of the blocks finished so far,
        waiting up to ``timeout`` seconds for one."""
        if not self.futures:
            return []
        try:
            self._distributed.wait(
                [f for f, _ in self.futures.values()], timeout=timeout, return_when="FIRST_COMPLETED"
            )
        except TimeoutError:
            pass
        except Exception as wait_error:  # newer distributed raises when a future was cancelled under it
            if "Cancelled" not in type(wait_error).__name__:
                raise
        out = []
        for first, (future, count) in list(self.futures.items()):
            if not future.done():
                continue
            del self.futures[first]
            if future.status == "finished":
                part = future.result()
                seconds = part.get("seconds", 0.0) if isinstance(part, dict) else 0.0
                out.append((first, count, part, seconds))
            elif future.status == "cancelled" and self._retries.get(first, 0) < MAX_RESUBMITS:
                # Not by us (cancel() clears the table first): the cluster dropped the task, e.g. a
                # worker died and the scheduler forgot the task or the data it needs. A block is a
                # pure function of its ids, so it is submitted again (the data scattered again if
                # it is gone), and merged once, when a result first arrives.
                self._retries[first] = self._retries.get(first, 0) + 1
                if self.spec_future is None or self.spec_future.status != "finished":
                    self.spec_future = self.client.scatter(self.job.spec, broadcast=True, hash=False)
                self.submit(first, count, None, retry=self._retries[first])
            else:
                exc = future.exception() if future.status == "error" else None
                if exc is None:
                    exc = RuntimeError(
                        f"the Dask task for {self.job.name} ids {first}..{first + count - 1} was cancelled"
                    )
                elif isinstance(exc, (ImportError, AttributeError)):
                    exc.add_note(
                        "A Dask worker could not load part of the job: attrib (the same version) must be installed "
                        "on every worker, and a utility defined in a module the workers cannot import must be "
                        "pickled by value (cloudpickle.register_pickle_by_value(module))."
                    )
                out.append((first, count, exc, 0.0))
        return out

    def cancel(self):
        if self.futures:
            self.client.cancel([f for f, _ in self.futures.values()])
            self.futures.clear()

    def close(self):
        if self.spec_future is not None:
            self.client.cancel([self.spec_future])
            self.spec_future = None
