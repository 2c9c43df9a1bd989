"""What the leave-one-out families (:mod:`attrib.linear`, :mod:`attrib.glm`) share: tolerances,
how rows and groups are described and encoded for the kernels, parameter names, and the guard
that catches training data modified in place before a lazy computation reads it again."""

from __future__ import annotations

import math
import numbers
import time
import warnings
from dataclasses import dataclass

import numpy as np

from . import _dispatch
from .exceptions import LeverageOneWarning, NotAtOptimumWarning

__all__ = [
    "DEFAULT_MAX_BYTES",
    "EMPTY",
    "ILL_CONDITIONED_RCOND",
    "LEVERAGE_ONE_TOL",
    "DataGuard",
    "Groups",
    "check_dense_size",
    "describe_rows",
    "leverage_one",
    "or_empty",
    "param_names",
    "parse_groups",
    "warn_leverage_one",
]

#: 1 - h below this counts as leverage one; read from the compiled core, which decides it.
LEVERAGE_ONE_TOL: float = float(_dispatch.core.LEVERAGE_ONE_TOL)
#: Reciprocal condition number of the unit-diagonal Gram matrix or Hessian below which results
#: may have lost many digits (IllConditionedWarning).
ILL_CONDITIONED_RCOND = 1e-10
#: Largest dense output (bytes) built without being asked to go beyond it.
DEFAULT_MAX_BYTES = 2**31

#: "None" for the kernels' optional per-row arrays (weights, offsets).
EMPTY = np.empty(0)


def or_empty(a: np.ndarray | None) -> np.ndarray:
    """``a``, or :data:`EMPTY` when it is None (the kernels take an empty array for "none")."""
    return EMPTY if a is None else a


def describe_rows(rows: np.ndarray, what: str = "rows") -> str:
    """ "rows 3, 17 and 2 more": the first ten indices of a list, for messages."""
    shown = ", ".join(str(int(i)) for i in rows[:10])
    more = f" and {rows.size - 10} more" if rows.size > 10 else ""
    return f"{what} {shown}{more}"


def leverage_one(hat: np.ndarray, w: np.ndarray | None) -> np.ndarray:
    """Rows with positive weight whose leverage is 1: without them the model is not identified."""
    positive = np.ones(hat.shape[0], bool) if w is None else w > 0
    return positive & ((1.0 - hat) < LEVERAGE_ONE_TOL)


def warn_leverage_one(rows: np.ndarray, *, what: str = "rows", stacklevel: int = 2) -> None:
    """One LeverageOneWarning listing rows (or groups) whose leave-out quantities are NaN;
    ``stacklevel`` as the caller's own ``warnings.warn`` would take it."""
    if rows.size:
        warnings.warn(
            f"{describe_rows(rows, what)} {'have leverage 1' if what == 'rows' else 'cannot be removed'}: without "
            "them the model is not identified, so their leave-out quantities are NaN",
            LeverageOneWarning,
            stacklevel=stacklevel + 1,
        )


def param_names(feature_names: list[str] | None, n_features: int, fit_intercept: bool) -> list[str]:
    """Names of the parameter columns (``dfbeta``, ``dcoef``): the intercept first, then the features."""
    feats = feature_names or [f"x{j}" for j in range(n_features)]
    return (["intercept"] if fit_intercept else []) + list(feats)


def check_dense_size(rows: int, cols: int, max_bytes: int, what: str, hint: str) -> None:
    """Refuse to allocate a rows x cols float64 result larger than ``max_bytes``."""
    need = rows * cols * 8
    if need > max_bytes:
        raise ValueError(
            f"{what} would allocate a {rows} x {cols} float64 matrix ({need / 2**30:.1f} GiB > "
            f"max_bytes={max_bytes}); {hint}"
        )


@dataclass(frozen=True)
class Groups:
    """Groups of rows, with their labels, in the compressed form the kernels take: the rows of
    group g are ``indices[offsets[g]:offsets[g + 1]]``."""

    labels: np.ndarray
    arrays: list[np.ndarray]
    offsets: np.ndarray
    indices: np.ndarray

    @property
    def sizes(self) -> np.ndarray:
        return np.diff(self.offsets)

    def consistent(self, n: int) -> bool:
        """The compressed form agrees with the arrays and every row index is in [0, n) (checked on
        unpickling: the kernels must never see a tampered list)."""
        o, idx = self.offsets, self.indices
        return (
            o.ndim == 1
            and o.size == len(self.arrays) + 1
            and o[0] == 0
            and bool(np.all(np.diff(o) > 0))
            and o[-1] == idx.size
            and bool(np.all((idx >= 0) & (idx < n)))
            and all(np.array_equal(a, idx[o[g] : o[g + 1]]) for g, a in enumerate(self.arrays))
        )

    def sum_rows(self, A: np.ndarray) -> np.ndarray:
        """Per group, the sum of A's rows in it (len(groups) x A.shape[1])."""
        return np.add.reduceat(A[self.indices], self.offsets[:-1], axis=0)


def _group_arrays(groups, n: int) -> tuple[np.ndarray, list[np.ndarray]]:
    is_list = isinstance(groups, (list, tuple)) and len(groups) > 0 and np.ndim(groups[0]) >= 1
    if not is_list:
        lab = np.asarray(groups)
        if lab.ndim != 1 or lab.shape[0] != n:
            raise ValueError(
                f"groups must be a label per row (length {n}) or a list of row-index arrays, got shape {lab.shape}"
            )
        labels, inverse = np.unique(lab, return_inverse=True)
        order = np.argsort(inverse, kind="stable")
        bounds = np.searchsorted(inverse[order], np.arange(labels.size + 1))
        return labels, [order[bounds[g] : bounds[g + 1]].astype(np.int64) for g in range(labels.size)]
    arrays = []
    for g, idx in enumerate(groups):
        a = np.asarray(idx)
        if a.ndim != 1:
            raise ValueError(f"groups[{g}] must be a 1-D array of row indices, got shape {a.shape}")
        if a.dtype == bool:
            if a.size != n:
                raise ValueError(f"groups[{g}] is a boolean mask of length {a.size}, but X has {n} rows")
            a = np.flatnonzero(a)
        elif a.size and not np.issubdtype(a.dtype, np.integer):
            raise TypeError(f"groups[{g}] must hold integer row indices, got dtype {a.dtype}")
        a = a.astype(np.int64)
        if a.size == 0:
            raise ValueError(f"groups[{g}] is empty")
        if a.min() < -n or a.max() >= n:
            raise ValueError(f"groups[{g}] has a row index out of range for X with {n} rows")
        a = np.where(a < 0, a + n, a)
        if np.unique(a).size != a.size:
            raise ValueError(f"groups[{g}] lists a row more than once")
        arrays.append(a)
    return np.arange(len(arrays)), arrays


def parse_groups(groups, n: int, w: np.ndarray | None) -> Groups:
    """Groups from a label per row (ordered as ``numpy.unique`` orders the labels) or a list of
    row-index arrays or boolean masks (which may overlap). A group holding every row with positive
    weight is refused: nothing would be left to fit."""
    if groups is None:
        raise TypeError("groups must be a label per row or a list of row-index arrays, got None")
    labels, arrays = _group_arrays(groups, n)
    positive = np.ones(n, bool) if w is None else w > 0
    n_pos = int(positive.sum())
    for g, a in enumerate(arrays):
        if int(positive[a].sum()) == n_pos:
            raise ValueError(
                f"group {labels[g]!r} contains every row{' with positive weight' if w is not None else ''}: "
                "nothing would be left to fit"
            )
    offsets = np.zeros(len(arrays) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum([a.size for a in arrays])
    return Groups(labels, arrays, offsets, np.concatenate(arrays).astype(np.int64))


#: Long kernels run as calls of about this long, so that Ctrl-C (which Python raises between
#: calls) takes effect within a fraction of a second.
PIECE_SECONDS = 0.2


def in_timed_pieces(n: int, unit: int, first_units: int, run) -> None:
    """``run(start, stop)`` over [0, n) in pieces of whole ``unit``s (the kernel's own blocks, so
    the bits are those of one call), the first of ``first_units`` units, then sized from the time
    the last one took to last about PIECE_SECONDS (growing at most 4x per piece)."""
    seconds = PIECE_SECONDS
    start, units = 0, max(1, int(first_units))
    while start < n:
        stop = min(n, start + units * unit)
        t0 = time.perf_counter()
        run(start, stop)
        elapsed, start = time.perf_counter() - t0, stop
        units = max(1, min(4 * units, int(units * seconds / max(elapsed, 1e-6))))


def _digest(a: np.ndarray) -> tuple:
    # Every byte (a memory-speed checksum in the core, the same in every process and CPU build,
    # unlike hash(), which is salted per process): an edit anywhere is caught, not only in sampled
    # rows.
    return tuple(_dispatch.core.fingerprint(np.ascontiguousarray(a)))


#: Kernels that read the training arrays anyway (linear_fit, glm_fit) checksum them in that pass,
#: for DataGuard (bench/bench_guards.py turns this off for its A/B against the old sampled check).
KERNEL_CHECKSUMS = True


class DataGuard:
    """Checksums of the training arrays a result reads again for lazy computations, taken at fit
    time; :meth:`check` raises when one of them was modified in place since (any byte)."""

    def __init__(self, known: dict[str, tuple] | None = None, **arrays: np.ndarray | None):
        # ``known``: digests a kernel already took of these very arrays in its own pass over them
        # (linear_fit, glm_fit), which saves a pass over the data here; (0, 0) means not taken.
        known = {k: v for k, v in (known or {}).items() if tuple(v) != (0, 0)}
        self._digests = {
            name: known[name] if name in known else _digest(a) for name, a in arrays.items() if a is not None
        }

    def check(self, arrays: dict[str, np.ndarray | None], fitted_by: str) -> None:
        for name, digest in self._digests.items():
            a = arrays[name]
            if a is None or _digest(a) != digest:
                raise RuntimeError(
                    f"{name} was modified in place after {fitted_by}(); fit again to get consistent results"
                )


def check_refine_rows(refine, n: int, score) -> np.ndarray:
    """Rows to solve exactly: the k with the largest score (leverage or Cook's distance; computed
    only when needed), or the rows named."""
    if isinstance(refine, (numbers.Integral, np.integer)):
        key = -np.nan_to_num(np.asarray(score()), nan=-np.inf)
        return np.sort(np.argsort(key, kind="stable")[: min(int(refine), n)]).astype(np.int64)
    rows = np.asarray(refine)
    if rows.dtype == bool:
        if rows.shape != (n,):
            raise ValueError(f"refine as a boolean mask must have length {n}, got shape {rows.shape}")
        return np.flatnonzero(rows).astype(np.int64)
    if rows.ndim != 1 or (rows.size and not np.issubdtype(rows.dtype, np.integer)):
        raise TypeError("refine must be 'auto', an int (how many rows to pick by refine_by) or an array of row indices")
    if rows.size and (rows.min() < -n or rows.max() >= n):
        raise ValueError(f"refine has a row index out of range for X with {n} rows")
    return np.unique(np.where(rows < 0, rows + n, rows)).astype(np.int64)


def penalty_from_C(C) -> float:
    """C as the penalty l2 = 1 / C (0 for C=None or inf)."""
    if C is None:
        return 0.0
    if isinstance(C, bool) or not isinstance(C, numbers.Real):
        raise TypeError(f"C must be a positive real number or None (no penalty), got {type(C).__name__}")
    C = float(C)
    if math.isnan(C) or C <= 0:
        raise ValueError(f"C must be > 0 (or None for no penalty), got {C}")
    return 0.0 if math.isinf(C) else 1.0 / C


#: Newton fit: stop once the step is below this times (1 + max|theta|), after taking that step
#: (quadratic convergence puts the result at the rounding floor).
FIT_TOL = 1e-10
#: Exact leave-one-out: stop a row once its step is below this times (1 + max|theta|).
EXACT_TOL = 1e-12
#: A fitted estimator's coefficients count as optimal when they are this close (relative to
#: 1 + max|theta|) to attrib's precise fit; otherwise NotAtOptimumWarning.
OPTIMUM_RTOL = 1e-7


def warn_if_not_at_optimum(theta: np.ndarray, start: np.ndarray, stacklevel: int) -> None:
    """NotAtOptimumWarning when a fitted estimator's parameters (``start``) were not within
    OPTIMUM_RTOL of the optimum attrib found from them (``theta``, the same coordinates)."""
    gap = float(np.max(np.abs(np.ravel(theta) - np.ravel(start))))
    if gap > OPTIMUM_RTOL * (1.0 + float(np.max(np.abs(theta)))):
        warnings.warn(
            f"the estimator's coefficients differ from the optimum of its objective by up to {gap:.2g} "
            "(fit it with a tighter tol, e.g. solver='newton-cholesky', tol=1e-12); attrib refitted "
            "precisely and uses its own coefficients",
            NotAtOptimumWarning,
            stacklevel=stacklevel + 1,
        )
