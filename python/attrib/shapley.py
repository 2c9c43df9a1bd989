"""Game-theoretic data valuation: Monte Carlo semivalues (Shapley, Beta-Shapley, Banzhaf) and
exact KNN-Shapley.

A point's Shapley value is its average marginal contribution to a utility (a model's test score)
over random orderings of the training set. The built-in utilities are computed incrementally in
C++ along each permutation (a ridge model is updated by a rank-one Cholesky update, a logistic
model is warm-started from the previous prefix), so a whole permutation costs about one fit.
Any Python callable, or any scikit-learn estimator, goes through the same sampler, truncation and
stopping rules (slower, one call per subset); see ``_utilities.py``.

Randomness comes from a counter-based generator keyed by (seed, permutation id); permutations
are processed in fixed blocks of ids and merged in block order, so the values are bitwise
identical for any ``n_jobs``.
"""

from __future__ import annotations

import math
import numbers
import re
import time
import warnings

import numpy as np

from . import _checkpoint, _dispatch
from ._blocks import DASK_BLOCK_SECONDS, BlockJob, run_blocks
from ._progress import BlockSizer, Progress, format_seconds
from ._semivalue_stats import UNIT, MSRMoments, PermutationMoments, semivalue_weights
from ._utilities import KNN_RANK_MAX_BYTES, BuiltinUtility, _describe, knn_frame, make_utility  # noqa: F401
from ._validation import (
    as_float_matrix,
    as_labels,
    check_bool,
    check_positive,
    check_seed,
    encode_labels,
    resolve_n_jobs,
)
from .exceptions import StoppedEarlyWarning, UndefinedValueWarning, UtilityError
from .results import AttributionResult

__all__ = ["ShapleyResult", "data_shapley", "knn_shapley"]

#: The fixed block size of earlier versions; blocks now adapt to the time per sample
#: (``block_size=None``) and results depend on neither (see _semivalue_stats.UNIT).
DEFAULT_BLOCK_SIZE = 32
#: The default standard-error target (``rtol="auto"`` without ``max_permutations``).
DEFAULT_RTOL = 0.05
#: Seconds after which a run with neither ``max_permutations`` nor ``time_budget`` stops
#: (``stopped_by="cap"``, with a StoppedEarlyWarning that says how precise the estimate is).
DEFAULT_TIME_CAP = 60.0
#: No convergence check before this many samples.
DEFAULT_MIN_PERMUTATIONS = 64
_MAX_HISTORY = 256
#: The history keeps at most this many bytes of value snapshots (and at least 8 snapshots).
_HISTORY_BYTES = 64 * 2**20
#: ShapleyResult.status for each ShapleyResult.stopped_by.
_STATUS = {
    "converged": "standard error target reached",
    "max_permutations": "max_permutations reached",
    "time_budget": "time budget reached",
    "cap": "default time cap reached",
    "interrupted": "interrupted",
    "exact": "exact",
    "": "",
}
#: The largest integer a count or size argument may take (the core's 64-bit indices).
_INT_MAX = 2**62
#: data_shapley: a first block (time per sample unknown) over at least this many points runs cancellable.
_LONG_FIRST_BLOCK_N = 1000
#: knn_shapley: the most bytes of per-chunk partial sums one kernel call holds.
_KNN_PARTIAL_BYTES = 64 * 2**20
#: knn_shapley: flop-equivalents (n (d + 16) per test point) of one super-block of test points
#: (about a second of work): the unit in which partial sums are added, locally and on Dask.
_KNN_SUPERBLOCK_WORK = 2**30
#: The built-in utilities' hyperparameter defaults, read from the compiled core.
_CORE_DEFAULTS = _dispatch.core.UtilityParams()


class ShapleyResult(AttributionResult):
    """Semivalue estimates, one per training point.

    Returned by :func:`data_shapley` and :func:`knn_shapley`; not usually built by hand.

    Parameters
    ----------
    estimate, stderr, counts : array_like of shape (n,)
        Values, their standard errors and the samples behind each.
    converged : bool
        Whether the stopping rule on the standard error was met (True for exact methods).
    method : str
        What computed the values, e.g. ``"knn_shapley(k=5, soft_label=False)"``.
    n_samples, n_evaluations : int, default 0
        Samples drawn and utility evaluations made.
    history : dict, optional
        Snapshots of the estimate (see the attribute); empty when not given.
    status : str, default ""
        Why the run stopped, in words.
    seed : int, optional
        The seed of the random streams (None for exact methods).
    elapsed : float, default 0.0
        Wall-clock seconds.
    stopped_by : str, default ""
        Why the run stopped, as a code (see the attribute).
    target_stderr : float, optional
        The standard-error target the run aimed at (None: none was set).

    Attributes
    ----------
    estimate : ndarray of shape (n,)
        The values (also :attr:`values`).
    stderr : ndarray of shape (n,)
        Standard error of each estimate (0 for exact methods; inf with fewer than 2 samples).
    counts : ndarray of shape (n,)
        Samples behind each estimate (permutations, antithetic pairs, or subsets for Banzhaf; the
        number of test points for KNN-Shapley).
    converged : bool
        True when the stopping rule on the standard error was met (or the method is exact);
        False when the run stopped at ``max_permutations``, the time budget or Ctrl-C first.
    method : str
        The function and its main arguments, for display.
    n_samples : int
        Permutations (or subsets) drawn; test points for KNN-Shapley.
    n_evaluations : int
        Utility evaluations actually made (fewer than n * n_samples with truncation).
    history : dict
        ``n_samples`` (h,), ``max_stderr`` (h,) and ``values`` (h x n): the estimate after some of the
        blocks, for convergence plots, thinned (every other snapshot dropped when full) to at most
        256 snapshots and at most 64 MiB of values (but at least 8 snapshots): at n = 10^6, 8.
    status : str
        Why the run stopped, in words: ``"standard error target reached"``, ``"max_permutations
        reached"``, ``"time budget reached"``, ``"default time cap reached"``, ``"interrupted"``,
        ``"exact"``, or ``"interrupted"`` for a partial KNN-Shapley.
    stopped_by : str
        Why the run stopped: ``"converged"`` (the standard-error target was met),
        ``"max_permutations"`` (the requested workload was done), ``"time_budget"``,
        ``"cap"`` (neither ``max_permutations`` nor ``time_budget`` was given and the default
        cap of ``DEFAULT_TIME_CAP`` = 60 s was reached), ``"interrupted"`` (Ctrl-C), or ``"exact"``.
    target_stderr : float or None
        The standard-error target (None when no target was set; 0 for exact methods).
    max_stderr : float
        The largest standard error: with :attr:`target_stderr`, how precise the estimate is.
    seed : int or None
        The seed of the random streams.
    elapsed : float
        Wall-clock seconds of the computation.

    Examples
    --------
    >>> import numpy as np
    >>> import attrib
    >>> X = np.array([[0.0], [1.0], [5.0], [6.0]])
    >>> res = attrib.knn_shapley(X, [0, 0, 1, 1], [[0.5]], [0], k=1)
    >>> res.values
    array([0.5, 0.5, 0. , 0. ])
    >>> res.top(2)
    array([0, 1])
    >>> res.stderr, res.converged, res.status
    (array([0., 0., 0., 0.]), True, 'exact')
    >>> list(res.to_frame().columns)
    ['estimate', 'stderr', 'counts']
    """

    _values_name = "estimate"
    _frame_columns = ("estimate", "stderr", "counts")

    def __init__(
        self,
        estimate,
        stderr,
        counts,
        converged,
        *,
        method,
        n_samples=0,
        n_evaluations=0,
        history=None,
        status="",
        seed=None,
        elapsed=0.0,
        stopped_by="",
        target_stderr=None,
    ):
        self.estimate = np.asarray(estimate, dtype=np.float64)
        self.stderr = np.asarray(stderr, dtype=np.float64)
        self.counts = np.asarray(counts, dtype=np.int64)
        self.converged = bool(converged)
        self.method = method
        self.n_samples = int(n_samples)
        self.n_evaluations = int(n_evaluations)
        self.history = (
            history
            if history is not None
            else {
                "n_samples": np.zeros(0, np.int64),
                "max_stderr": np.zeros(0),
                "values": np.zeros((0, self.estimate.size)),
            }
        )
        self.status = status
        self.seed = seed
        self.elapsed = float(elapsed)
        self.stopped_by = stopped_by
        self.target_stderr = None if target_stderr is None else float(target_stderr)
        self.max_stderr = float(np.max(self.stderr)) if self.stderr.size else math.nan

    def __repr__(self) -> str:
        return (
            f"ShapleyResult(method={self.method!r}, n={self.estimate.size}, n_samples={self.n_samples}, "
            f"converged={self.converged}, stopped_by={self.stopped_by!r})"
        )


# ----------------------------------------------------------------------------------------------
# Checks this family needs beyond _validation.py (same convention: TypeError for a wrong type,
# ValueError for a value out of range)
# ----------------------------------------------------------------------------------------------


def _check_fraction(value, name: str) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a fraction in [0, 1], got {type(value).__name__}")
    value = float(value)
    if not 0 <= value <= 1:
        raise ValueError(f"{name} must be a fraction in [0, 1], got {value!r}")
    return float(value)


def _check_int_size(value: int, name: str) -> int:
    if value > _INT_MAX:
        raise ValueError(f"{name} must be at most 2**62, got {value}")
    return value


def _target(values, utility_range, n, rtol, atol) -> float:
    """The standard-error target: at most atol, or rtol times the scale of the values, where the
    scale is max|value| but at least (max u - min u) / n (the values of a game sum to
    u(D) - u(empty), so typical values are that large; a game whose values are all about 0, such
    as u(S) = (-1)^|S|, still gets a target it can reach)."""
    if rtol is None and atol is None:
        return math.nan
    t = 0.0 if atol is None else atol
    if rtol is not None:
        with np.errstate(invalid="ignore"):
            vmax = float(np.nanmax(np.abs(values))) if np.isfinite(values).any() else 0.0
        scale = max(vmax, utility_range / n if math.isfinite(utility_range) else 0.0)
        t = max(t, rtol * scale)
    return t


def _progress_note(max_se, target, drawn, elapsed, min_samples) -> str:
    note = f"max stderr {max_se:.3g}"
    if math.isfinite(target):
        note += f" (target {target:.3g}"
        if math.isfinite(max_se) and max_se > target > 0 and drawn > 0:
            # stderr ~ 1/sqrt(samples): the target needs about drawn * (max_se / target)^2 samples
            need = max(drawn * (max_se / target) ** 2, min_samples) - drawn
            note += f", ~{format_seconds(need * elapsed / drawn)} to go"
        note += ")"
    return note


def _overflow_error_permutations(perms, U, weights, first, seed) -> UtilityError:
    """The subset at which the weighted marginals (or their squares) overflow float64."""
    with np.errstate(over="ignore", invalid="ignore"):
        marg = np.diff(U, axis=1) * weights
    bad = ~np.isfinite(marg)
    p, k = np.unravel_index(int(np.argmax(bad)) if bad.any() else int(np.argmax(np.abs(marg))), marg.shape)
    return UtilityError(
        f"the utility's values are too large to average in float64: u = {U[p, k]:.6g} on the first {k} points and "
        f"{U[p, k + 1]:.6g} on the first {k + 1} points of permutation {first + p} (seed {seed}), so the marginal "
        f"contribution (or its square) overflows; rescale the utility. "
        + _describe(perms[p, : k + 1], "the larger subset").capitalize()
    )


def _overflow_error_subsets(masks, u, first, seed) -> UtilityError:
    s = int(np.argmax(np.abs(u)))
    idx = np.flatnonzero(masks[s]).astype(np.int64)
    return UtilityError(
        f"the utility's values are too large to average in float64 (u = {u[s]:.6g}); rescale the "
        f"utility. Largest |u| on {_describe(idx, f'subset {first + s} (seed {seed})')}"
    )


# ----------------------------------------------------------------------------------------------
# Blocks of work ids (see _blocks.py): what one block computes, wherever it runs, and how the
# caller merges blocks in id order. The same code serves local runs, Dask workers and resumes.
# ----------------------------------------------------------------------------------------------


class _ShapleySpec:
    """Everything a block of data_shapley needs. Picklable (cloudpickle, for Dask): the utility
    and the core's truncation object are rebuilt once per process from the arguments, with the
    same build of the core (``core_name``) as the caller, so every process computes the same bits."""

    def __init__(self, *, core_name, make_args, make_kwargs, kind, weights, antithetic, trunc, seed, n, summarize):
        self.core_name = core_name
        self.make_args = make_args
        self.make_kwargs = make_kwargs
        self.kind = kind
        self.weights = weights
        self.antithetic = antithetic
        self.trunc = trunc  # the Truncation fields, as a dict
        self.seed = seed
        self.n = n
        self.per_sample = 2 if antithetic else 1
        self.summarize = summarize  # summarise whole units (False: return raw rows only)
        self._util = self._truncation = self._moments = None

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_util"] = state["_truncation"] = state["_moments"] = None  # rebuilt where unpickled
        return state

    def user_objects(self):
        """The user's Python objects in the spec (checked for picklability before a Dask run)."""
        utility = self.make_args[0]
        return () if isinstance(utility, str) else (("utility", utility),)

    def utility(self, n_threads):
        if self._util is None:
            import importlib

            core = importlib.import_module(self.core_name)
            self._util = make_utility(core, *self.make_args, **self.make_kwargs, n_threads=n_threads)
        return self._util

    def truncation(self):
        if self._truncation is None:
            t = self._util.core.Truncation()
            for name, value in self.trunc.items():
                setattr(t, name, value)
            self._truncation = t
        return self._truncation

    def moments(self):
        if self._moments is None:
            self._moments = (
                MSRMoments(self.n)
                if self.kind == "banzhaf"
                else PermutationMoments(self.n, self.weights, self.antithetic)
            )
        return self._moments


def _shapley_block(spec, first, count, n_threads, cancel=None):
    """Samples ``[first, first + count)`` (permutation or subset ids) of data_shapley: raw rows
    for the ids before the first and after the last whole accumulation unit, (count, mean, M2)
    summaries of the whole units, and per-sample evaluations and utility ranges. None if
    cancelled. A UtilityError is returned, not raised, so that the caller raises it in id order."""
    t0 = time.perf_counter()
    util = spec.utility(n_threads)
    mom = spec.moments()
    ps = spec.per_sample
    S = count // ps
    try:
        if spec.kind == "banzhaf":
            out = util.subsets(spec.seed, first, count, n_threads, cancel)
            if out is None:
                return None
            masks, u, _ = out
            rows = mom.rows(masks, u)
            evals = np.ones(S, np.int64)
            umin = umax = rows[1]
            big = not np.isfinite(u).all() or float(np.max(np.abs(u))) > 1e150
            hint = str(_overflow_error_subsets(masks, u, first, spec.seed)) if big else None
        else:
            trunc = spec.truncation()
            if isinstance(util, BuiltinUtility):
                out = util.core.walk_permutations(
                    util.data, util.params, spec.seed, first, count, spec.antithetic, trunc, n_threads, cancel
                )
                if out is None:
                    return None
                perms, U, evaluated = out
                evals = np.asarray(evaluated, np.int64).reshape(S, ps).sum(axis=1)
            else:  # one sample per call: per-sample evaluation counts
                parts = [
                    util.permutations(spec.seed, first + s * ps, ps, spec.antithetic, trunc, n_threads)
                    for s in range(S)
                ]
                perms = np.concatenate([p[0] for p in parts])
                U = np.concatenate([p[1] for p in parts])
                evals = np.array([p[2] for p in parts], np.int64)
            rows = mom.rows(perms, U)
            flat = U.reshape(S, -1)
            umin, umax = flat.min(axis=1), flat.max(axis=1)
            with np.errstate(invalid="ignore", over="ignore"):
                big = not np.isfinite(rows).all() or float(np.max(np.abs(rows))) > 1e150
            hint = str(_overflow_error_permutations(perms, U, spec.weights, first, spec.seed)) if big else None
    except UtilityError as exc:
        return {"error": exc, "seconds": time.perf_counter() - t0}
    s0 = first // ps
    head = min(S, (-s0) % UNIT)
    units = (S - head) // UNIT if spec.summarize else 0
    tail = head + units * UNIT
    return {
        "error": None,
        "head": mom.take(rows, 0, head),
        "units": [mom.summarize(mom.take(rows, a, a + UNIT)) for a in range(head, tail, UNIT)],
        "tail": mom.take(rows, tail, S),
        "evals": evals,
        "umin": np.asarray(umin, np.float64),
        "umax": np.asarray(umax, np.float64),
        "hint": hint,
        "seconds": time.perf_counter() - t0,
    }


class _ShapleyJob(BlockJob):
    """data_shapley's state between blocks: the moments, the counts, the history and the
    stopping rule, which is checked at fixed sample counts (every ``block_size`` ids if given,
    else at every accumulation unit) so that where a run stops depends on neither the block
    sizes, the timing nor the number of workers."""

    name = "data_shapley"
    block_fn = staticmethod(_shapley_block)

    def __init__(self, spec, *, block_size, minimum, total, min_ids, rtol, atol, history_cap, builtin, core):
        self.spec = spec
        self.n = spec.n
        self.ps = spec.per_sample
        self.moments = (  # the state; the spec's own moments object is scratch for rows and summaries
            MSRMoments(self.n) if spec.kind == "banzhaf" else PermutationMoments(self.n, spec.weights, spec.antithetic)
        )
        self.block_size = block_size
        self.check_ids = block_size if block_size is not None else UNIT * self.ps
        self.minimum = minimum
        self.total = total
        self.min_ids = min_ids
        self.rtol, self.atol = rtol, atol
        self.history_cap = history_cap
        self.builtin = builtin
        self.core = core
        self.done = 0
        self.evaluations = 0
        self.umin, self.umax = math.inf, -math.inf
        self.hist_n: list = []
        self.hist_se: list = []
        self.hist_v: list = []
        self.max_se = math.inf
        self.target = math.nan
        self._hint = None
        self.t_session = time.perf_counter()
        self.done_before = 0

    # -- sizes
    def sizer(self, dask):
        n, ps = self.n, self.ps
        if self.block_size is not None:
            return BlockSizer(self.block_size, minimum=self.block_size, maximum=self.block_size)
        if dask:  # whole units only, so that workers send summaries (see _blocks.DASK_BLOCK_SECONDS)
            m = UNIT * ps
            return BlockSizer(m, minimum=m, maximum=max(m, 2**21 // (n + 1)), multiple=m, seconds=DASK_BLOCK_SECONDS)
        m = self.minimum
        return BlockSizer(m, minimum=m, maximum=max(m, 2**21 // (n + 1)), multiple=ps)

    def token_factory(self, count, per_item):
        # A block that may run long (its minimum takes seconds, e.g. logistic at n = 5000) runs
        # in a worker thread, cancellable after Ctrl-C; short ones run here.
        long_block = per_item * count > 0.5 if math.isfinite(per_item) else self.n >= _LONG_FIRST_BLOCK_N
        return self.core.CancelToken if self.builtin and long_block else None

    # -- merging, in id order
    def merge(self, first, count, p):
        if first != self.done:  # pragma: no cover - the runner merges in order
            raise RuntimeError(f"block {first} merged out of order (expected {self.done})")
        if p["error"] is not None:
            raise p["error"]
        self._hint = p["hint"]
        self._meta = (p["evals"], p["umin"], p["umax"])
        self._off = 0
        if self._raw(p["head"]):
            return "converged"
        for summary in p["units"]:
            self.moments.commit(summary)
            if self._advance(UNIT):
                return "converged"
        if self._raw(p["tail"]):
            return "converged"
        self._check_finite()
        return ""

    def _raw(self, rows) -> bool:
        m = self.moments
        total, i = m.n_rows(rows), 0
        check_samples = self.check_ids // self.ps
        while i < total:
            pos = self.done // self.ps
            k = min(total - i, UNIT - m.n_rows(m.pending), check_samples - pos % check_samples)
            m.append_pending(m.take(rows, i, i + k))
            i += k
            if m.n_rows(m.pending) == UNIT:
                m.commit(m.summarize(m.pending))
                m.set_pending(m.take(m.pending, 0, 0))
            if self._advance(k):
                return True
        return False

    def _check_finite(self):
        if not self.moments.finite():
            raise UtilityError(
                self._hint
                or "the utility's values are too large to average in float64 (the running sums overflow "
                f"after {self.done} samples); rescale the utility"
            )

    def _advance(self, k) -> bool:
        evals, lo, hi = self._meta
        o = self._off
        self.evaluations += int(evals[o : o + k].sum())
        self.umin = min(self.umin, float(np.min(lo[o : o + k])))
        self.umax = max(self.umax, float(np.max(hi[o : o + k])))
        self._off = o + k
        self.done += k * self.ps
        return self._check_point()

    def _at_check(self) -> bool:
        return self.done % self.check_ids == 0 or (self.total is not None and self.done == self.total)

    def _check_point(self, record=True) -> bool:
        if not self._at_check():
            return False
        self._check_finite()
        values, stderr = self.moments.values, self.moments.stderr
        max_se = float(np.max(stderr))
        if record:
            self.hist_n.append(self.done)
            self.hist_se.append(max_se)
            self.hist_v.append(values)
            if len(self.hist_n) > self.history_cap:  # keep every other snapshot: cheap, still spans the run
                self.hist_n, self.hist_se, self.hist_v = self.hist_n[::2], self.hist_se[::2], self.hist_v[::2]
        self.max_se = max_se
        self.target = _target(values, self.umax - self.umin, self.n, self.rtol, self.atol)
        return self.done >= self.min_ids and bool(np.isfinite(max_se)) and max_se <= self.target

    def check_now(self) -> str:
        return "converged" if self._check_point(record=False) else ""

    def note(self) -> str:
        elapsed = time.perf_counter() - self.t_session
        return _progress_note(self.max_se, self.target, self.done - self.done_before, elapsed, self.min_ids)

    # -- checkpoint
    def state(self) -> dict:
        arrays = {f"moments_{k}": v for k, v in self.moments.state_arrays().items()}
        arrays.update(
            done=np.array(self.done, np.int64),
            evaluations=np.array(self.evaluations, np.int64),
            urange=np.array([self.umin, self.umax]),
            hist_n=np.array(self.hist_n, np.int64),
            hist_se=np.array(self.hist_se, np.float64),
            hist_v=np.array(self.hist_v, np.float64).reshape(len(self.hist_v), self.n),
        )
        return arrays

    def restore(self, arrays) -> None:
        try:
            self.moments.load_state({k[8:]: v for k, v in arrays.items() if k.startswith("moments_")})
            self.done = int(arrays["done"])
            self.evaluations = int(arrays["evaluations"])
            self.umin, self.umax = (float(v) for v in arrays["urange"])
            self.hist_n = [int(v) for v in arrays["hist_n"]]
            self.hist_se = [float(v) for v in arrays["hist_se"]]
            self.hist_v = [np.array(v) for v in arrays["hist_v"]]
            ok = self.moments.values.shape == (self.n,) and len(self.hist_v) == len(self.hist_n) == len(self.hist_se)
        except (KeyError, ValueError, TypeError) as exc:
            raise ValueError(f"the checkpoint's data_shapley state is incomplete or malformed ({exc})") from None
        if not ok or self.done < 0 or self.done % self.ps:
            raise ValueError("the checkpoint's data_shapley state is malformed")
        self.done_before = self.done
        if self.done:
            self._check_finite()
            self.max_se = float(np.max(self.moments.stderr))
            self.target = _target(self.moments.values, self.umax - self.umin, self.n, self.rtol, self.atol)


class _KnnSpec:
    """The training side of knn_shapley (scattered once to Dask workers); test points travel
    with each block (``tests``) unless they are held here (local runs)."""

    def __init__(self, *, core_name, X, x_sq, codes, k, soft_label, n_classes, chunk, superblock, tests=None):
        self.core_name = core_name
        self.X, self.x_sq, self.codes = X, x_sq, codes
        self.k, self.soft_label, self.n_classes = k, soft_label, n_classes
        self.chunk, self.superblock = chunk, superblock
        self.tests = tests

    def __getstate__(self):
        state = self.__dict__.copy()
        state["tests"] = None  # sharded: each block carries its own test points
        return state


def _knn_block(spec, first, count, n_threads, cancel=None, tests=None, carry=None):
    """Exact KNN-Shapley sums of test points ``[first, first + count)``, one length-n vector per
    *super-block* of ``spec.superblock`` test points (a fixed function of n and d): the kernel
    adds chunk after chunk into it, from 0 (or from ``carry``, the caller's sum of the super-block
    so far). The caller adds the super-block sums in order, so the values are the same bits for
    any blocks and any number of workers."""
    import importlib

    t0 = time.perf_counter()
    core = importlib.import_module(spec.core_name)
    if tests is None:
        T, tc = spec.tests[0][first : first + count], spec.tests[1][first : first + count]
    else:
        T, tc = tests
    sb, n = spec.superblock, spec.X.shape[0]
    sums, ends = [], []
    acc = np.zeros(n) if carry is None else np.array(carry, dtype=np.float64)
    pos, end = first, first + count
    while pos < end:
        seg_end = min(end, (pos // sb + 1) * sb)
        core.knn_shapley_accumulate(
            spec.X, spec.x_sq, spec.codes, T[pos - first : seg_end - first], tc[pos - first : seg_end - first],
            spec.k, spec.soft_label, spec.n_classes, spec.chunk, n_threads, acc,
        )  # fmt: skip
        sums.append(acc)
        ends.append(seg_end)
        acc = np.zeros(n)
        pos = seg_end
    return {"sums": sums, "ends": ends, "seconds": time.perf_counter() - t0}


class _KnnJob(BlockJob):
    name = "knn_shapley"
    block_fn = staticmethod(_knn_block)

    def __init__(self, spec, Tc, test_codes, first_block, max_chunks):
        self.spec = spec
        self.Tc, self.test_codes = Tc, test_codes
        self.m = Tc.shape[0]
        self.n = spec.X.shape[0]
        self.first_block, self.max_chunks = first_block, max_chunks
        self.done = 0
        self.acc = np.zeros(self.n)  # the sum of the completed super-blocks
        self.part = np.zeros(self.n)  # the current super-block's sum so far
        self._dask = False

    def sizer(self, dask):
        self._dask = dask
        c, sb = self.spec.chunk, self.spec.superblock
        if dask:  # whole super-blocks; at most ~64 MiB of sums per block
            return BlockSizer(
                sb, minimum=sb, maximum=sb * max(1, 2**23 // self.n), multiple=sb, seconds=DASK_BLOCK_SECONDS
            )
        return BlockSizer(self.first_block, minimum=c, maximum=c * self.max_chunks, multiple=c)

    def clip(self, first, count):
        sb = self.spec.superblock
        if self._dask and first % sb:  # a resumed run: first complete the super-block in progress
            return min(count, sb - first % sb)
        return count

    def extra(self, first, count):
        out = {}
        if self._dask:
            out["tests"] = (self.Tc[first : first + count], self.test_codes[first : first + count])
        if first == self.done and first % self.spec.superblock:
            out["carry"] = self.part.copy()
        return out

    def merge(self, first, count, p):
        sb = self.spec.superblock
        for s, e in zip(p["sums"], p["ends"]):
            if e % sb == 0:
                self.acc += s
                self.part = np.zeros(self.n)
            else:
                self.part = s
            self.done = e
        return ""

    def values(self):
        return (self.acc + self.part) / self.done if self.done else np.full(self.n, np.nan)

    def state(self):
        return {"done": np.array(self.done, np.int64), "acc": self.acc, "part": self.part}

    def restore(self, arrays):
        try:
            self.done = int(arrays["done"])
            self.acc = np.array(arrays["acc"], np.float64)
            self.part = np.array(arrays["part"], np.float64)
        except (KeyError, ValueError, TypeError) as exc:
            raise ValueError(f"the checkpoint's knn_shapley state is incomplete or malformed ({exc})") from None
        if self.acc.shape != (self.n,) or self.part.shape != (self.n,) or not 0 <= self.done <= self.m:
            raise ValueError("the checkpoint's knn_shapley state is malformed")


# ----------------------------------------------------------------------------------------------
# KNN-Shapley
# ----------------------------------------------------------------------------------------------


def _resume_and_place(job, ckpt, client, n_jobs, n_threads: int) -> tuple[float, int]:
    """Restores a resumed checkpoint into ``job`` and checks ``client``: (seconds already spent
    in earlier sessions, threads per block). On Dask each task runs one thread unless ``n_jobs``
    says otherwise (the workers are the parallelism)."""
    elapsed_before = 0.0
    if ckpt is not None and ckpt.resumed:
        job.restore(ckpt.arrays)
        elapsed_before = _checkpoint.scalar(ckpt.arrays, "__elapsed__", 0.0)
    if client is None:
        return elapsed_before, n_threads
    from . import distributed

    distributed.check_client(client)
    return elapsed_before, n_threads if n_jobs is not None else 1


def knn_shapley(
    X,
    y,
    X_test,
    y_test,
    k=5,
    soft_label=False,
    *,
    n_jobs=None,
    client=None,
    checkpoint=None,
    resume=False,
    checkpoint_every=None,
) -> ShapleyResult:
    """Exact Shapley values of the K-nearest-neighbour utility (Jia et al. 2019).

    The utility of a subset S for one test point is, with the neighbours of S ranked by Euclidean
    distance (ties: lower training index first):

    - hard label (``soft_label=False``): (1/K) * #{the min(K, |S|) nearest points of S with the
      test label}; U(empty) = 0;
    - soft label (Wang & Jia 2023): the same count divided by min(K, |S|); U(empty) = 1/C with C
      the number of classes in y.

    Utilities (and values) are averaged over the test points. One sort and one O(n) recursion per
    test point; test points are streamed in parallel, so memory is O(n) per thread and nothing
    n_test x n is formed. ``k > n`` is valid and exact. Values are bitwise identical for any n_jobs.

    Neighbours are ranked by |x|^2 - 2 x.t on data moved near the training mean and scaled by
    powers of two (see ``attrib._utilities.knn_frame``), so the values do not depend on a common
    offset (tested to 1e8) or scale (1e-170 to 1e155) of the features, and exact distance ties on
    grid data stay ties. Test points are processed in blocks of about 0.25 s (one kernel call
    each), so Ctrl-C takes effect at the next block: the result then holds the exact values
    averaged over the test points done (``stopped_by="interrupted"``, ``converged=False``,
    ``n_samples`` the test points used), with a StoppedEarlyWarning, as data_shapley does.

    Parameters
    ----------
    X : array_like of shape (n, d)
        Training features (converted once to C-contiguous float64; must be finite).
    y : array_like of shape (n,)
        Training class labels (integers, booleans, strings or integral floats), at least 2 classes.
    X_test : array_like of shape (m, d)
        Test features.
    y_test : array_like of shape (m,)
        Test labels; a label absent from ``y`` never matches.
    k : int, default 5
        Neighbours K.
    soft_label : bool, default False
        Use the soft-label utility instead of the hard-label one.
    n_jobs : int, optional
        Threads (None: the OpenMP default; negative counts from the number of cores, as in
        scikit-learn).
    client : dask.distributed.Client, optional
        Run the blocks on this Dask cluster (``pip install "attrib[dask]"``): the data are
        scattered once to every worker, blocks of test points (each task carries only its shard of test points) go to the workers, and their partial
        results are merged in id order, so the result is bitwise the one of a local run for any
        number of workers; a worker that dies mid-block loses nothing (the block runs again
        elsewhere and is counted once). Each task uses ``n_jobs`` threads (default 1). See
        :mod:`attrib.distributed` and the README's "Scale-out and resume" section.
    checkpoint : str or os.PathLike, optional
        A file (conventionally ``*.attrib``) the run's state is saved to, atomically (temporary
        file + rename), every ``checkpoint_every`` blocks, at Ctrl-C and at the end: an ``.npz``
        with a JSON header holding a fingerprint of the data, ``k`` and ``soft_label`` and the attrib version
        (never a pickle). A fresh run refuses to overwrite an existing file (FileExistsError).
    resume : bool, default False
        Continue the run saved in ``checkpoint`` (start afresh if the file does not exist yet).
        Interrupted (Ctrl-C, or the process killed) and resumed gives the same bits as
        uninterrupted. A checkpoint of other data or options, of another function, or a
        truncated or corrupted file is refused with a ValueError.
    checkpoint_every : int, optional
        Save every this many merged blocks (None: about every 30 seconds).

    Returns
    -------
    ShapleyResult
        ``values`` the exact Shapley values, ``stderr`` 0, ``counts`` and ``n_samples`` the number
        of test points, ``converged`` True, ``status`` and ``stopped_by`` ``"exact"`` (or
        ``"interrupted"`` after Ctrl-C, see above).

    Raises
    ------
    TypeError
        ``k`` is not an integer, ``soft_label`` not a bool, ``n_jobs`` not an integer, or an array
        does not hold numbers (labels: integers or strings).
    ValueError
        ``k < 1`` or ``k > 2**62``, ``n_jobs == 0``, an array is empty, of the wrong shape or not finite, the
        row counts or feature counts disagree, a label is a non-integral float, or ``y`` has
        fewer than 2 classes; a ``checkpoint`` to resume was written for other data or options,
        or is truncated or corrupted.
    FileExistsError
        ``checkpoint`` exists and ``resume`` is False.

    Examples
    --------
    >>> import numpy as np
    >>> import attrib
    >>> X = np.array([[0.0], [1.0], [5.0], [6.0]])
    >>> y = np.array([0, 0, 1, 1])
    >>> attrib.knn_shapley(X, y, [[0.5]], [0], k=1).values
    array([0.5, 0.5, 0. , 0. ])
    >>> attrib.knn_shapley(X, y, [[0.5], [5.2]], [0, 1], k=2).values
    array([0.25, 0.25, 0.25, 0.25])
    """
    Xa = as_float_matrix(X, "X")
    n, d = Xa.shape
    ya = as_labels(y, "y", n)
    Xt = as_float_matrix(X_test, "X_test", n_features=d)
    yt = as_labels(y_test, "y_test", Xt.shape[0], what="X_test")
    k = _check_int_size(check_positive(k, "k", integer=True), "k")
    soft_label = check_bool(soft_label, "soft_label")
    classes, codes, test_codes = encode_labels(ya, yt)
    n_threads = resolve_n_jobs(n_jobs)
    core = _dispatch.core
    t0 = time.perf_counter()
    Xc, Tc, x_sq = knn_frame(Xa, Xt)
    m = Xt.shape[0]
    # Blocks of test points, each one kernel call of whole chunks (the chunk depends on n only), so
    # the sums, added chunk by chunk in test-point order, are bitwise the same for any blocks.
    chunk = int(core.knn_test_chunk(n))
    threads = core.default_num_threads() if n_threads < 0 else n_threads
    max_chunks = max(1, _KNN_PARTIAL_BYTES // (8 * n))  # a call holds one length-n partial row per chunk
    # First block: about 2^25 flop-equivalents (n (d + 16) per test point), at least a chunk per thread.
    first = max(chunk * max(1, threads), -(-(2**25) // (n * (d + 16))))
    # Super-blocks (a function of n and d only): each is summed from 0, chunk by chunk, and the
    # super-block sums are added in order, so the values are the same bits for any blocks, here
    # or on Dask workers. Up to one super-block of test points, this is one kernel call's sum.
    superblock = chunk * max(1, _KNN_SUPERBLOCK_WORK // (chunk * n * (d + 16)))
    spec = _KnnSpec(
        core_name=core.__name__, X=Xc, x_sq=x_sq, codes=codes, k=k, soft_label=soft_label,
        n_classes=int(classes.size), chunk=chunk, superblock=superblock, tests=(Tc, test_codes),
    )  # fmt: skip
    job = _KnnJob(spec, Tc, test_codes, first, max_chunks)
    ckpt = None
    if checkpoint is not None or resume or checkpoint_every is not None:
        fp = _checkpoint.fingerprint(
            job="knn_shapley",
            data={"X": Xa, "y": ya, "X_test": Xt, "y_test": yt},
            seed=None,
            options={"k": k, "soft_label": soft_label},
        )
        ckpt = _checkpoint.open_run(checkpoint, resume, checkpoint_every, fp)
    elapsed_before, worker_threads = _resume_and_place(job, ckpt, client, n_jobs, n_threads)
    stopped_by, _ = run_blocks(
        job,
        total=m,
        elapsed_before=elapsed_before,
        checkpointer=ckpt,
        client=client,
        n_threads=worker_threads,
        meta={"job": "knn_shapley", "unit": "test points"},
    )
    done = job.done
    stopped_by = "interrupted" if stopped_by == "interrupted" and done < m else "exact"
    method = f"knn_shapley(k={k}, soft_label={soft_label})"
    if stopped_by == "interrupted":
        warnings.warn(
            f"knn_shapley interrupted after {done} of {m} test points: returning the exact values for "
            "those test points (averaged over them), marked unconverged",
            StoppedEarlyWarning,
            stacklevel=2,
        )
    return ShapleyResult(
        job.values(),
        np.zeros(n),
        np.full(n, done),
        stopped_by != "interrupted",
        method=method,
        n_samples=done,
        status=stopped_by,
        elapsed=elapsed_before + (time.perf_counter() - t0),
        stopped_by=stopped_by,
        target_stderr=0.0,
    )


# ----------------------------------------------------------------------------------------------
# data_shapley
# ----------------------------------------------------------------------------------------------


def _shapley_fingerprint(
    utility, X, y, X_test, y_test, util, kind, a, b, antithetic, seed, trunc_fields, scoring, empty_score
):
    """What a data_shapley checkpoint must agree on: the data, the seed, the method and every
    option that changes the numbers (not the stopping rules, the threads or the block sizes)."""
    data = {}
    if not (isinstance(X, numbers.Integral) and not isinstance(X, bool)) and X is not None:
        data["X"] = X
    for name, arr in (("y", y), ("X_test", X_test), ("y_test", y_test)):
        if arr is not None:
            data[name] = arr
    options = {
        "n": util.n,
        "semivalue": [kind, a, b],
        "antithetic": antithetic,
        "truncation": {k: float(v) for k, v in trunc_fields.items()},
    }
    if isinstance(util, BuiltinUtility):
        p = util.params
        options["utility"] = p.model.name
        options["params"] = {f: repr(getattr(p, f)) for f in _PARAM_FIELDS}
    else:
        options["utility"] = getattr(utility, "__qualname__", type(utility).__qualname__)
        options["utility_code"] = _checkpoint.callable_digest(utility)
        options["scoring"] = repr(scoring)
        options["empty_score"] = repr(empty_score)
    return _checkpoint.fingerprint(job="data_shapley", data=data, seed=seed, options=options)


#: The fields of the core's UtilityParams (what a built-in utility computes depends on).
_PARAM_FIELDS = ("metric", "alpha", "C", "refactor_every", "newton_tol", "max_newton_iter", "k", "n_classes")


def _parse_semivalue(semivalue):
    if isinstance(semivalue, str):
        s = semivalue.strip().lower()
        if s in ("shapley", "banzhaf"):
            return s, 1.0, 1.0
        m = re.fullmatch(r"beta\(\s*([^,]+)\s*,\s*([^)]+)\)", s)
        if m:
            semivalue = ("beta", float(m.group(1)), float(m.group(2)))
    if isinstance(semivalue, tuple) and len(semivalue) == 3 and semivalue[0] == "beta":
        a = check_positive(semivalue[1], "the Beta semivalue's alpha")
        b = check_positive(semivalue[2], "the Beta semivalue's beta")
        return "beta", a, b
    raise ValueError(f"semivalue must be 'shapley', 'banzhaf', 'beta(a, b)' or ('beta', a, b), got {semivalue!r}")


def data_shapley(
    X,
    y=None,
    X_test=None,
    y_test=None,
    utility="ridge",
    semivalue="shapley",
    *,
    metric=None,
    alpha=_CORE_DEFAULTS.alpha,
    C=_CORE_DEFAULTS.C,
    k=_CORE_DEFAULTS.k,
    scoring=None,
    empty_score=None,
    max_permutations=None,
    rtol="auto",
    atol=None,
    min_permutations=None,
    time_budget=None,
    truncation=None,
    truncation_patience=1,
    truncation_burn_in=0.0,
    antithetic=False,
    seed=0,
    n_jobs=None,
    progress=True,
    block_size=None,
    refactor_every=_CORE_DEFAULTS.refactor_every,
    client=None,
    checkpoint=None,
    resume=False,
    checkpoint_every=None,
) -> ShapleyResult:
    """Monte Carlo semivalues (Data Shapley, Beta-Shapley, Data Banzhaf) of every training point.

    Parameters
    ----------
    X : array_like of shape (n, d), or int
        Training features. For a Python-callable utility, just the number of points n will do.
    y : array_like of shape (n,), optional
        Training targets (ridge), or class labels (logistic, knn).
    X_test, y_test : array_like of shape (m, d) and (m,), optional
        The test set the utility scores on (built-in utilities and estimators).
    utility : str, estimator or callable, default "ridge"
        "ridge", "logistic", "knn", a scikit-learn estimator, or a callable ``utility(indices) -> float``:

        - "ridge": scikit-learn's ``Ridge(alpha)`` with an intercept, scored by ``metric`` "r2"
          (default) or "neg_mse" on the test set. Exact rank-one updates along each permutation,
          the Cholesky factor recomputed every ``refactor_every`` steps. The empty set predicts
          the test-set mean (R^2 = 0).
        - "logistic": ``LogisticRegression(C)`` (L2 on the weights, intercept free), labels in two
          classes, scored by "accuracy" (default) or "neg_log_loss"; warm-started Newton run to a
          tight tolerance, so every prefix is the real fit. The empty set predicts the test set's
          majority class (TMC-Shapley's baseline); a subset with one class predicts that class
          (log-loss: probability (k1 + 1) / (k + 2)). With K > 2 classes: multinomial (softmax)
          regression, each prefix fitted as scikit-learn fits it, on the classes it holds (the
          others get probability 0, clipped to the float64 epsilon by the log-loss as in scikit-learn's
          ``log_loss``; a prefix with two classes is binary logistic regression with ``C``); the
          empty set predicts the test majority (log-loss: 1 / K), a one-class prefix its class
          (log-loss: the Laplace estimate (k_c + 1) / (k + K)).
        - "knn": test accuracy of ``KNeighborsClassifier(k)`` (uniform weights, Euclidean; vote ties
          to the smallest label, distance ties to the lower training index); a subset with fewer
          than k points votes with all of them; the empty set predicts the test majority class.
          Each test point keeps a heap of its k nearest points in the prefix (O(n_test log k) per
          step); needs an n_test x n int32 rank table (at most 2 GiB). ``k`` is capped at n (a
          subset never has more than n points, so the utility is the same). Neighbours are ranked
          on data moved and scaled by powers of two (``knn_frame``), so the values do not depend
          on a common offset or scale of the features.
        - an estimator: cloned, fitted and scored (``scoring``, default ``estimator.score``) on every
          subset; classifiers on one-class subsets predict that class; the empty set scores
          ``empty_score`` (required).
        - a callable: called with the subset's indices (int64 array, in permutation order), must
          return a finite number. Errors and NaN raise :class:`~attrib.exceptions.UtilityError`
          naming the subset; nothing is turned into 0.
    semivalue : str or tuple, default "shapley"
        "shapley", "beta(a, b)" / ("beta", a, b), or "banzhaf". Shapley and Beta(a, b) share the
        permutation sampler (a marginal at position k weighted by n p(k)); Banzhaf uses maximum
        sample reuse (MSR: uniform random subsets, each updating every point).
    metric : str, optional
        The built-in utility's score (see ``utility``); None: its default.
    alpha : float, default 1.0
        Ridge penalty (> 0), for ``utility="ridge"``.
    C : float, default 1.0
        Logistic inverse penalty (> 0), as scikit-learn's ``C``, for ``utility="logistic"``.
    k : int, default 5
        Neighbours, for ``utility="knn"``.
    scoring : str or callable, optional
        scikit-learn scoring for an estimator utility (default ``estimator.score``).
    empty_score : float, optional
        The utility of the empty training set; required for an estimator utility.
    max_permutations : int, optional
        Run this many permutations (subsets for Banzhaf); with an explicit ``rtol`` or ``atol``,
        at most this many. Without it and without ``time_budget``, the run stops at the default
        cap of 60 s (``DEFAULT_TIME_CAP``; ``stopped_by="cap"``, with a StoppedEarlyWarning that
        gives the precision reached).
    rtol : float, "auto" or None, default "auto"
        Stop once the largest standard error is at most ``rtol * scale``, where scale is
        max|value| but at least (max u - min u) / n over the utilities seen (so games whose values
        are all about 0 still stop). "auto": 0.05, unless ``max_permutations`` is given (then no
        target: the run does that many). None: no relative target.
    atol : float, optional
        Stop once the largest standard error is at most ``atol`` (with ``rtol``: whichever target is
        larger).
    min_permutations : int, optional
        No convergence check before this many samples (default 64), so a few lucky samples with
        zero spread cannot look converged.
    time_budget : float, optional
        Seconds; the run stops at the first block boundary after it (marked unconverged, with a
        StoppedEarlyWarning). Blocks are sized to take about 0.25 s and to end within the budget,
        so it holds to within one block (at least one permutation per thread).
    truncation : float, optional
        TMC-Shapley truncation: stop a permutation once the prefix utility is within
        ``truncation * |u(D)|`` of the full-data utility for ``truncation_patience`` consecutive
        prefixes, ignoring prefixes shorter than ``truncation_burn_in * n``; the remaining marginals
        are 0. None (default) evaluates every prefix (unbiased).
    truncation_patience : int, default 1
        Consecutive prefixes within tolerance before a permutation stops.
    truncation_burn_in : float, default 0.0
        Fraction of n: shorter prefixes never stop a permutation.
    antithetic : bool, default False
        Pair each permutation with its reverse (counts a pair as one sample).
    seed : int, default 0
        Random streams are keyed by (seed, permutation id), seed in [0, 2**64): the same seed gives
        the same bits for any ``n_jobs``.
    n_jobs : int, optional
        Threads for the built-in utilities (None: OpenMP default).
    progress : bool, default True
        A progress line on stderr for runs longer than a second: samples drawn, elapsed time, the
        largest standard error, the target and the estimated time to reach it.
    block_size : int, optional
        Samples per block (one kernel call, or one Dask task; time budgets and Ctrl-C are checked
        between blocks). None (default): adapted to the measured time per sample so that a block
        takes about 0.25 s (0.5 s on a Dask worker). Values are accumulated in fixed units of 16
        sample ids, so the result is bitwise the same for any block size (and any ``n_jobs`` or
        number of Dask workers), given the same number of samples. The standard-error target and
        the history are checked at fixed sample counts: every ``block_size`` ids when it is given,
        else every 16 samples, so where a converged run stops does not depend on timing.
    refactor_every : int, default 32
        Ridge: recompute the Cholesky factor from scratch every this many points.
    client : dask.distributed.Client, optional
        Run the blocks on this Dask cluster (``pip install "attrib[dask]"``): the data are
        scattered once to every worker, blocks of permutation (or subset) ids go to the workers, and their partial
        results are merged in id order, so the result is bitwise the one of a local run for any
        number of workers; a worker that dies mid-block loses nothing (the block runs again
        elsewhere and is counted once). Stopping rules, time budgets, progress and Ctrl-C work as locally. A callable or estimator utility is sent to the workers, so it must be picklable by cloudpickle (a TypeError says so otherwise). Each task uses ``n_jobs`` threads (default 1). See
        :mod:`attrib.distributed` and the README's "Scale-out and resume" section.
    checkpoint : str or os.PathLike, optional
        A file (conventionally ``*.attrib``) the run's state is saved to, atomically (temporary
        file + rename), every ``checkpoint_every`` blocks, at Ctrl-C and at the end: an ``.npz``
        with a JSON header holding a fingerprint of the data, the seed, the semivalue and every option that changes the numbers and the attrib version
        (never a pickle). A fresh run refuses to overwrite an existing file (FileExistsError).
    resume : bool, default False
        Continue the run saved in ``checkpoint`` (start afresh if the file does not exist yet).
        Interrupted (Ctrl-C, or the process killed) and resumed gives the same bits as
        uninterrupted. A checkpoint of other data or options, of another function, or a
        truncated or corrupted file is refused with a ValueError. The stopping rules (``max_permutations``, ``rtol``, ``atol``, ``min_permutations``, ``time_budget``, whose clock counts every session) may change, e.g. to run longer; for a Python callable the fingerprint covers its name and code, not the values it closes over.
    checkpoint_every : int, optional
        Save every this many merged blocks (None: about every 30 seconds).

    Returns
    -------
    ShapleyResult
        The estimates with their standard errors, counts and convergence history;
        ``stopped_by`` says why the run stopped and ``max_stderr`` / ``target_stderr`` how precise
        it is. Ctrl-C takes effect at the end of the block in flight (about 0.25 s): the result
        holds every completed block, marked unconverged (``stopped_by="interrupted"``), with a
        :class:`~attrib.exceptions.StoppedEarlyWarning` (a second Ctrl-C interrupts at once, and
        the block in flight is lost). Banzhaf values that the subsets drawn cannot define (a point
        in every subset or in none, e.g. with a single subset) are NaN with stderr inf and an
        :class:`~attrib.exceptions.UndefinedValueWarning`.

    Raises
    ------
    TypeError
        An integer argument (``k``, ``max_permutations``, ``min_permutations``, ``block_size``,
        ``refactor_every``, ``truncation_patience``, ``seed``, ``n_jobs``) is not an integer, a
        number (``alpha``, ``C``, ``rtol``, ``atol``, ``time_budget``, ``truncation``,
        ``truncation_burn_in``, ``empty_score``) is not a real number, ``antithetic`` is not a
        bool, ``utility`` is neither a name, an estimator nor a callable, an array does not
        hold numbers, ``client`` is not a dask.distributed.Client, or a utility to send to Dask
        workers cannot be pickled.
    ValueError
        A number is out of range (integers < 1, ``seed`` outside [0, 2**64), non-positive or
        non-finite reals, ``truncation_burn_in`` outside [0, 1], ``n_jobs == 0``); nothing would
        stop the run; an unknown ``utility``, ``semivalue`` or ``metric``; antithetic sampling
        with Banzhaf or an odd ``block_size``; bad arrays (empty, NaN, shapes that disagree);
        labels unusable by the utility (logistic: fewer than two classes, or test labels absent from
        ``y``); a constant ``y_test`` with R^2; an estimator without ``empty_score``; a
        ``checkpoint`` to resume that was written for other data, seed or options, or that is
        truncated or corrupted; ``resume`` or ``checkpoint_every`` without ``checkpoint``.
    FileExistsError
        ``checkpoint`` exists and ``resume`` is False.
    attrib.exceptions.UtilityError
        A callable or estimator utility raised or returned something other than a finite number
        (or an integer too large for float64), or its values are so large that their averages
        overflow float64; the message names the subset.

    Examples
    --------
    An additive game: every permutation gives each point its own weight, so the values are exact.

    >>> import numpy as np
    >>> import attrib
    >>> w = np.array([0.0, 1.0, 2.0, 3.0])
    >>> res = attrib.data_shapley(4, utility=lambda idx: float(w[idx].sum()), max_permutations=32,
    ...                           rtol=None, progress=False)
    >>> res.values
    array([0., 1., 2., 3.])
    >>> res.n_samples, res.stopped_by
    (32, 'max_permutations')

    A ridge utility (test R^2): the values add up to u(D) - u(empty) for any number of permutations.

    >>> rng = np.random.default_rng(0)
    >>> X, Xt = rng.normal(size=(20, 2)), rng.normal(size=(10, 2))
    >>> y, yt = X @ [1.0, -2.0] + 0.1 * rng.normal(size=20), Xt @ [1.0, -2.0]
    >>> res = attrib.data_shapley(X, y, Xt, yt, max_permutations=64, rtol=None, seed=1, progress=False)
    >>> from sklearn.linear_model import Ridge
    >>> bool(np.isclose(res.values.sum(), Ridge(alpha=1.0).fit(X, y).score(Xt, yt)))
    True
    """
    kind, beta_a, beta_b = _parse_semivalue(semivalue)
    block_size = check_positive(block_size, "block_size", integer=True, allow_none=True)
    max_permutations = check_positive(max_permutations, "max_permutations", integer=True, allow_none=True)
    min_permutations = check_positive(min_permutations, "min_permutations", integer=True, allow_none=True)
    if isinstance(rtol, str) and rtol == "auto":
        # An explicit workload means "run this many": the default target applies only without one.
        rtol = DEFAULT_RTOL if max_permutations is None else None
    rtol = check_positive(rtol, "rtol", allow_none=True)
    atol = check_positive(atol, "atol", allow_none=True)
    time_budget = check_positive(time_budget, "time_budget", allow_none=True)
    refactor_every = _check_int_size(check_positive(refactor_every, "refactor_every", integer=True), "refactor_every")
    k = _check_int_size(check_positive(k, "k", integer=True), "k") if isinstance(utility, str) else k
    if max_permutations is None and time_budget is None and rtol is None and atol is None:
        raise ValueError("nothing would stop the run: give max_permutations, time_budget, rtol or atol")
    antithetic = check_bool(antithetic, "antithetic")
    if antithetic and kind == "banzhaf":
        raise ValueError("antithetic sampling applies to permutations, not to Banzhaf's random subsets")
    if antithetic and block_size is not None and block_size % 2:
        raise ValueError(f"antithetic sampling needs an even block_size, got {block_size}")
    seed = check_seed(seed)
    if truncation is not None:
        truncation = check_positive(truncation, "truncation")
        truncation_patience = check_positive(truncation_patience, "truncation_patience", integer=True)
        truncation_burn_in = _check_fraction(truncation_burn_in, "truncation_burn_in")
    n_threads = resolve_n_jobs(n_jobs)

    core = _dispatch.core  # one build for the whole run: its objects work only with its own kernels
    util = make_utility(
        core,
        utility,
        X,
        y,
        X_test,
        y_test,
        metric=metric,
        scoring=scoring,
        empty_score=empty_score,
        alpha=alpha,
        C=C,
        k=k,
        refactor_every=refactor_every,
        n_threads=n_threads,
    )
    n = util.n
    # Without an explicit workload or budget, the run stops at the default cap (and says so).
    cap = DEFAULT_TIME_CAP if max_permutations is None and time_budget is None else None

    trunc = core.Truncation()
    if truncation is not None and kind != "banzhaf":
        trunc.enabled = True
        trunc.rtol = truncation
        trunc.full_utility = util.full()
        trunc.patience = truncation_patience
        trunc.burn_in = math.ceil(truncation_burn_in * n)

    weights = np.ones(n)
    if kind != "banzhaf":
        weights = semivalue_weights(n, kind, beta_a, beta_b)
    # Antithetic pairs are one sample; permutations are always drawn in whole pairs.
    per_sample = 2 if antithetic else 1
    if max_permutations is not None and antithetic:
        max_permutations += max_permutations % 2
    if min_permutations is None:
        min_permutations = DEFAULT_MIN_PERMUTATIONS
    if max_permutations is not None:
        min_permutations = min(min_permutations, max_permutations)

    # Blocks: one kernel call each, sized to take about BLOCK_SECONDS (at least one permutation per
    # thread, at most ~16 MiB of prefix utilities); the estimate does not depend on the sizes.
    threads = core.default_num_threads() if n_threads < 0 else n_threads
    builtin = isinstance(util, BuiltinUtility)
    minimum = per_sample * (max(1, threads // per_sample) if builtin else 1)
    trunc_fields = {name: getattr(trunc, name) for name in ("enabled", "rtol", "full_utility", "patience", "burn_in")}
    check_ids = block_size if block_size is not None else UNIT * per_sample
    spec = _ShapleySpec(
        core_name=core.__name__,
        make_args=(utility, X, y, X_test, y_test),
        make_kwargs=dict(
            metric=metric,
            scoring=scoring,
            empty_score=empty_score,
            alpha=alpha,
            C=C,
            k=k,
            refactor_every=refactor_every,
        ),
        kind=kind,
        weights=weights,
        antithetic=antithetic,
        trunc=trunc_fields,
        seed=seed,
        n=n,
        summarize=(check_ids // per_sample) % UNIT == 0,
    )
    spec._util, spec._truncation = util, trunc  # this process has them already
    job = _ShapleyJob(
        spec,
        block_size=block_size,
        minimum=minimum,
        total=max_permutations,
        min_ids=min_permutations,
        rtol=rtol,
        atol=atol,
        history_cap=int(min(_MAX_HISTORY, max(8, _HISTORY_BYTES // (8 * n)))),
        builtin=builtin,
        core=core,
    )
    ckpt = None
    if checkpoint is not None or resume or checkpoint_every is not None:
        fp = _shapley_fingerprint(
            utility,
            X,
            y,
            X_test,
            y_test,
            util,
            kind,
            beta_a,
            beta_b,
            antithetic,
            seed,
            trunc_fields,
            scoring,
            empty_score,
        )
        ckpt = _checkpoint.open_run(checkpoint, resume, checkpoint_every, fp)
    elapsed_before, worker_threads = _resume_and_place(job, ckpt, client, n_jobs, n_threads)

    unit = "subsets" if kind == "banzhaf" else "permutations"
    bar = Progress(bool(progress), max_permutations, unit)
    stopped_by, elapsed_total = run_blocks(
        job,
        total=max_permutations,
        time_budget=time_budget,
        cap=cap,
        elapsed_before=elapsed_before,
        progress=bar,
        checkpointer=ckpt,
        client=client,
        n_threads=worker_threads,
        meta={"job": "data_shapley", "unit": unit},
    )
    if stopped_by == "max":
        stopped_by = "max_permutations"
    converged = stopped_by == "converged"
    moments, drawn, evaluations = job.moments, job.done, job.evaluations
    hist_n, hist_se, hist_v = list(job.hist_n), list(job.hist_se), list(job.hist_v)
    if drawn and (not hist_n or hist_n[-1] != drawn):  # the final state, if it fell between check points
        hist_n.append(drawn)
        hist_se.append(float(np.max(moments.stderr)))
        hist_v.append(moments.values)
    target = _target(moments.values, job.umax - job.umin, n, rtol, atol) if drawn else math.nan

    stderr = moments.stderr
    max_se = float(np.max(stderr)) if n else math.nan
    has_target = rtol is not None or atol is not None
    precision = f"largest standard error {max_se:.3g}" + (
        f", {max_se / target:.3g}x the target {target:.3g}" if has_target and target > 0 else ""
    )
    if stopped_by == "interrupted":
        warnings.warn(
            f"data_shapley interrupted: returning the estimate from {drawn} {unit} (the completed blocks), "
            f"marked unconverged; {precision}",
            StoppedEarlyWarning,
            stacklevel=2,
        )
    elif stopped_by == "time_budget":
        why = "before the standard-error target" if has_target else "(no standard-error target was set)"
        warnings.warn(
            f"data_shapley stopped at the time budget ({time_budget} s) after {drawn} {unit}, {why}; {precision}",
            StoppedEarlyWarning,
            stacklevel=2,
        )
    elif stopped_by == "cap":
        warnings.warn(
            f"data_shapley stopped at its default cap of {DEFAULT_TIME_CAP:g} s after {drawn} {unit}, "
            f"before the standard-error target; {precision}. Pass time_budget= or max_permutations= "
            "to run longer (or a larger rtol)",
            StoppedEarlyWarning,
            stacklevel=2,
        )
    values = moments.values
    undefined = int(np.isnan(values).sum())
    if undefined:
        warnings.warn(
            f"{undefined} of {n} values are undefined (NaN, stderr inf): with {drawn} {unit}, those points "
            "were in every sampled subset or in none (Banzhaf/MSR needs both); draw more subsets",
            UndefinedValueWarning,
            stacklevel=2,
        )
    history = {
        "n_samples": np.array(hist_n, np.int64),
        "max_stderr": np.array(hist_se),
        "values": np.array(hist_v).reshape(len(hist_v), n),
    }
    name = utility if isinstance(utility, str) else type(utility).__name__
    sv = kind if kind != "beta" else f"beta({beta_a:g},{beta_b:g})"
    return ShapleyResult(
        values,
        stderr,
        moments.counts,
        converged,
        method=f"data_shapley(utility={name}, semivalue={sv})",
        n_samples=drawn // per_sample if kind != "banzhaf" else drawn,
        n_evaluations=evaluations,
        history=history,
        status=_STATUS[stopped_by],
        seed=seed,
        elapsed=elapsed_total,
        stopped_by=stopped_by,
        target_stderr=target if has_target else None,
    )
