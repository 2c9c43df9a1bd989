"""Metrics that judge attributions against retraining: LDS, LOO correlation, mislabel detection
and removal curves.

Conventions
-----------
attrib states the conventions that peers leave implicit, so that every method's result plugs
into every metric without sign flips or reshaping:

**Sign.** A score is the effect of *including* a training point on a target's **output**, and
the output is a quantity where *larger is better* for the target. So a positive score means the
point **helps** (it raises the target's margin, lowers its loss), a negative one that it harms.
Every attrib method returns scores in this orientation.

**Output.** What a retrained model reports for a target point: by default the correct-class
*margin* (a binary logistic model's decision function signed by the label, ``(2 y - 1) (b + x'
coef)``), or any other larger-is-better quantity (correctness 0/1, ``-loss``). A loss is
smaller-is-better: pass ``-loss`` (attrib's ``retrain(...).outputs["loss"]`` is the loss itself).

**Shapes.** ``scores`` is (n_train, n_target) (a 1-D array is one target), ``masks`` is
(n_subsets, n_train) (boolean, 0/1, or bit-packed with ``.packed`` and ``.n_train``),
``outputs`` is (n_subsets, n_target) (1-D for one target). One training point per row of
``scores``, one subset per row of ``masks`` and ``outputs``.

How each method plugs in (``Xq, yq`` the target points; masks and outputs from
``attrib.retrain`` when it is available, otherwise from any retraining of your own):

- ``linear_loo(X, y).prediction_change(Xq)``: full-fit minus without-i prediction, (n_train,
  n_target); output: the ridge / OLS prediction.
- ``glm_loo(X, y, method=m).influence(Xq, yq)`` and ``influence(X, y, Xq, yq, method=m)`` for
  ``m`` in "exact", "newton", "influence": loss without i minus full-fit loss, (n_train,
  n_target); output: the margin (to first order the loss change is the margin change times a
  positive factor per target, which no rank correlation sees), or ``-loss``.
- ``data_shapley(..., semivalue="shapley" | "banzhaf")`` and ``knn_shapley(...)``: the result
  itself (its ``.values``), one column: each point's value for the test-set utility; output: that
  utility, e.g. the mean correctness over the test set.
- ``datamodels(...)`` (when it lands): the result itself (its ``.weights``, (n_train,
  n_target)); output: what the datamodels were fitted to.
- ``TRAK(...).score(...)`` (when it lands): (n_train, n_target); output: the margin.

For a per-target method, ``lds(scores, masks, outputs)``. For a one-column method (Shapley,
Banzhaf, KNN-Shapley), ``lds(values, masks, outputs.mean(axis=1))``: LDS of the test-set
utility. ``loo_correlation(scores, exact)`` compares against exact leave-one-out
(``glm_loo(method="exact").influence(Xq, yq)``); ``mislabel_auc(values, is_flipped)`` and
``removal_curve(values, ...)`` take one value per training point, e.g. a Shapley result itself
or a self-influence column. Result objects are accepted where the table says ``.values`` or
``.weights``.

Low value means suspect: a mislabelled point harms the model, so its value is low (negative);
:func:`mislabel_auc` inspects points from the lowest value up.
"""

from __future__ import annotations

import math
import numbers
import operator
import time
import warnings
from collections.abc import Mapping

import numpy as np

from . import _dispatch
from ._progress import BlockSizer, DeferredInterrupt
from ._validation import (
    as_float_matrix,
    check_binary_labels,
    check_positive,
    check_seed,
    resolve_n_jobs,
)
from .exceptions import StoppedEarlyWarning, UndefinedValueWarning
from .results import AttributionResult

__all__ = [
    "CorrelationResult",
    "MislabelResult",
    "RemovalCurve",
    "additive_prediction",
    "lds",
    "loo_correlation",
    "mislabel_auc",
    "removal_curve",
]

#: How a metric treats targets where it is undefined (constant outputs or predictions).
NAN_POLICIES = ("omit", "raise", "propagate")
#: Bootstrap resamples over targets for the confidence interval, by default.
DEFAULT_BOOTSTRAP = 1000
#: Default removal fractions of :func:`removal_curve`.
DEFAULT_FRACTIONS = tuple(round(0.05 * i, 2) for i in range(11))
#: The most bytes of predictions one LDS kernel call holds (n_subsets x a block of targets).
_PREDICTION_BYTES = 64 * 2**20


# ------------------------------------------------------------------------------- inputs
def _unwrap(value):
    """A result object's scores: ``.weights`` (datamodels) or a semivalue result's ``.values``.
    Leave-one-out results are refused: their ``values`` are unsigned Cook's distances."""
    if isinstance(value, np.ndarray):
        return value
    weights = getattr(value, "weights", None)
    if weights is not None and not callable(weights):
        return weights
    from .shapley import ShapleyResult

    if isinstance(value, ShapleyResult):
        return value.values
    if isinstance(value, AttributionResult):
        raise TypeError(
            f"a {type(value).__name__}'s values are Cook's distances (unsigned), not attribution scores; pass "
            "its influence(X_test, y_test) (GLM) or prediction_change(X_test) (linear) instead"
        )
    return value


def _as_scores(scores, name: str = "scores") -> tuple[np.ndarray, bool]:
    """(n_train, n_target) float64, C-contiguous, finite; and whether the input was 1-D."""
    arr = _unwrap(scores)
    if isinstance(arr, Mapping):
        raise TypeError(f"{name} is a mapping; pass one array of scores")
    if arr is None:
        raise TypeError(f"{name} must be an array, got None")
    shape = np.shape(arr)
    one = len(shape) == 1
    if one:
        arr = np.asarray(arr).reshape(-1, 1)
    if len(shape) not in (1, 2):
        raise ValueError(f"{name} must be 1-D or 2-D (n_train, n_target), got {len(shape)}-D array of shape {shape}")
    return as_float_matrix(arr, name), one


def _pack_bool(masks: np.ndarray) -> np.ndarray:
    return np.packbits(masks, axis=1, bitorder="little")


def _as_masks(masks, n_train: int, what: str = "scores") -> np.ndarray:
    """Packed uint8 masks (m, ceil(n_train / 8)), C-contiguous. Accepts a boolean or 0/1 array
    (m, n_train) or an object with ``.packed`` and ``.n_train`` (attrib's SubsetMasks)."""
    if masks is None:
        raise TypeError("masks must be an array of subsets, got None")
    n_bytes = (n_train + 7) // 8
    if hasattr(masks, "packed") and hasattr(masks, "n_train"):
        packed = np.asarray(masks.packed)
        if int(masks.n_train) != n_train:
            raise ValueError(f"masks cover {int(masks.n_train)} training points but {what} has {n_train} rows")
        if packed.dtype != np.uint8 or packed.ndim != 2 or packed.shape[1] != n_bytes:
            raise ValueError(
                f"masks.packed must be uint8 of shape (n_subsets, {n_bytes}) (np.packbits(axis=1, "
                f"bitorder='little')), got {packed.dtype} array of shape {packed.shape}"
            )
        packed = np.ascontiguousarray(packed)
    else:
        arr = np.asarray(masks)
        if arr.ndim != 2:
            raise ValueError(f"masks must be 2-D (n_subsets, n_train), got {arr.ndim}-D array of shape {arr.shape}")
        if arr.shape[1] != n_train:
            raise ValueError(f"masks has {arr.shape[1]} columns but {what} has {n_train} rows (training points)")
        if arr.dtype != np.bool_:
            if arr.dtype.kind not in "biuf":
                raise TypeError(f"masks must be boolean or 0/1, got dtype {arr.dtype}")
            bad = (arr != 0) & (arr != 1)
            if bad.any():
                pos = tuple(int(i) for i in np.argwhere(bad)[0])
                raise ValueError(f"masks must be boolean or 0/1 (row {pos[0]}, column {pos[1]} is {arr[pos]})")
            arr = arr != 0
        packed = _pack_bool(arr)
    if packed.shape[0] < 2:
        raise ValueError(f"masks must hold at least 2 subsets, got {packed.shape[0]}")
    return packed


def _as_outputs(outputs, m: int, n_target: int) -> np.ndarray:
    if isinstance(outputs, Mapping):
        raise TypeError(
            f"outputs is a mapping with keys {sorted(map(str, outputs))}; pass one entry, e.g. outputs['margin']"
        )
    arr = np.asarray(outputs) if not isinstance(outputs, np.ndarray) else outputs
    if arr.ndim == 1:
        arr = arr.reshape(-1, 1)
    if arr.ndim != 2:
        raise ValueError(f"outputs must be 1-D or 2-D (n_subsets, n_target), got {arr.ndim}-D array")
    if arr.shape != (m, n_target):
        raise ValueError(f"outputs must have shape ({m}, {n_target}) (subsets x targets), got {arr.shape}")
    return as_float_matrix(arr, "outputs")


def _check_ci(ci) -> float:
    if isinstance(ci, (bool, np.bool_)) or not isinstance(ci, numbers.Real):
        raise TypeError(f"ci must be a number in (0, 1), got {type(ci).__name__}")
    ci = float(ci)
    if not 0 < ci < 1:
        raise ValueError(f"ci must be in (0, 1), got {ci}")
    return ci


def _check_n_bootstrap(n_bootstrap) -> int:
    if isinstance(n_bootstrap, (bool, np.bool_)):
        raise TypeError("n_bootstrap must be an integer >= 0, got bool")
    try:
        n_bootstrap = operator.index(n_bootstrap)
    except TypeError:
        raise TypeError(f"n_bootstrap must be an integer >= 0, got {type(n_bootstrap).__name__}") from None
    if n_bootstrap < 0:
        raise ValueError(f"n_bootstrap must be >= 0, got {n_bootstrap}")
    return int(n_bootstrap)


def _check_policy(nan_policy) -> str:
    if nan_policy not in NAN_POLICIES:
        raise ValueError(f"nan_policy must be one of {list(NAN_POLICIES)}, got {nan_policy!r}")
    return nan_policy


def _describe(idx: np.ndarray) -> str:
    shown = ", ".join(str(int(i)) for i in idx[:5])
    return f"{shown}{', ...' if idx.size > 5 else ''}"


# ------------------------------------------------------------------------------- results
class CorrelationResult:
    """A per-target correlation metric, its mean and a bootstrap interval over targets.

    Returned by :func:`lds` and :func:`loo_correlation`; not usually built by hand.

    Attributes
    ----------
    metric : str
        ``"lds"``, ``"loo_pearson"`` or ``"loo_spearman"``.
    mean : float
        The mean over the targets where the metric is defined (``nan_policy="omit"``), or over
        all targets (``"propagate"``: NaN if any is undefined).
    per_target : ndarray of shape (n_target,)
        The metric of each target; NaN where undefined (constant outputs or predictions) or not
        computed (after Ctrl-C).
    ci : tuple of float
        The percentile bootstrap interval of the mean at level :attr:`ci_level`, resampling
        targets with replacement; (nan, nan) with ``n_bootstrap=0`` or a NaN mean.
    ci_level : float
    bootstrap_means : ndarray of shape (n_bootstrap,)
        The resampled means behind :attr:`ci`.
    n_bootstrap : int
    seed : int
        Resample b draws its targets from attrib's Philox stream keyed by (seed, b).
    nan_policy : str
    undefined : ndarray of int
        Targets where the metric is undefined.
    n_subsets : int or None
        Subsets behind each LDS (None for LOO correlation).
    n_train : int
    complete : bool
        False when Ctrl-C stopped the computation early (the targets not reached are NaN and
        left out of the mean).
    """

    def __init__(
        self,
        metric: str,
        per_target: np.ndarray,
        *,
        n_bootstrap: int,
        ci: float,
        seed: int,
        nan_policy: str,
        n_threads: int,
        n_train: int,
        n_subsets: int | None,
        done: int,
        stacklevel: int,
    ):
        self.metric = metric
        self.per_target = per_target
        self.ci_level = ci
        self.n_bootstrap = n_bootstrap
        self.seed = seed
        self.nan_policy = nan_policy
        self.n_train = n_train
        self.n_subsets = n_subsets
        self.complete = done == per_target.size
        computed = per_target[:done]
        self.undefined = np.flatnonzero(np.isnan(computed))
        k = self.undefined.size
        why = (
            "their outputs or predictions are constant over the subsets"
            if metric == "lds"
            else "a column of scores or of the exact values is constant"
        )
        if k and nan_policy == "raise":
            raise ValueError(
                f"{metric} is undefined for {k} of {done} targets (columns {_describe(self.undefined)}): {why}; "
                "pass nan_policy='omit' to leave them out of the mean"
            )
        values = computed if nan_policy == "propagate" else computed[~np.isnan(computed)]
        if values.size == 0:
            raise ValueError(f"{metric} is undefined for every target: {why}")
        if k and nan_policy == "omit":
            warnings.warn(
                f"{metric} is undefined for {k} of {done} targets (columns {_describe(self.undefined)}): {why}; "
                "they are NaN in per_target and left out of the mean and interval",
                UndefinedValueWarning,
                stacklevel=stacklevel,
            )
        self.mean = float(np.mean(values))
        if n_bootstrap and math.isfinite(self.mean):
            core = _dispatch.core
            self.bootstrap_means = np.asarray(
                core.bootstrap_means(np.ascontiguousarray(values), n_bootstrap, seed, n_threads)
            )
            lo, hi = np.quantile(self.bootstrap_means, [(1 - ci) / 2, (1 + ci) / 2])
            self.ci = (float(lo), float(hi))
        else:
            self.bootstrap_means = np.zeros(0)
            self.ci = (math.nan, math.nan)

    def __float__(self) -> float:
        return self.mean

    def __repr__(self) -> str:
        lo, hi = self.ci
        return (
            f"CorrelationResult(metric={self.metric!r}, mean={self.mean:.4f}, ci=({lo:.4f}, {hi:.4f}), "
            f"n_target={self.per_target.size}, undefined={self.undefined.size})"
        )


class MislabelResult:
    """How well low values single out flipped labels (from :func:`mislabel_auc`).

    Attributes
    ----------
    auc : float
        Probability that a flipped point has a lower value than a clean one (ties count half):
        ``sklearn.metrics.roc_auc_score(is_flipped, -values)``. 0.5 is chance, 1 perfect.
    order : ndarray of int
        Training points in inspection order: lowest value first, ties by lower index.
    inspected : ndarray of shape (n + 1,)
        Fraction of the training points inspected, 0, 1/n, ..., 1.
    found : ndarray of shape (n + 1,)
        Fraction of the flipped points found among those inspected.
    n_flipped : int
    """

    def __init__(self, auc: float, order: np.ndarray, found: np.ndarray, n_flipped: int):
        self.auc = auc
        self.order = order
        n = order.size
        self.inspected = np.arange(n + 1) / n
        self.found = found
        self.n_flipped = n_flipped

    def found_at(self, fraction: float) -> float:
        """Fraction of flipped points found after inspecting ``fraction`` of the data.

        Parameters
        ----------
        fraction : float
            In [0, 1]; the first ``floor(fraction * n)`` points of :attr:`order` are inspected.

        Returns
        -------
        float

        Raises
        ------
        ValueError
            ``fraction`` outside [0, 1].

        Examples
        --------
        >>> from attrib.metrics import mislabel_auc
        >>> mislabel_auc([-1.0, 0.5, 0.2, -0.3], [True, False, False, True]).found_at(0.5)
        1.0
        """
        if not 0 <= fraction <= 1:
            raise ValueError(f"fraction must be in [0, 1], got {fraction}")
        n = self.order.size
        return float(self.found[int(math.floor(fraction * n + 1e-9))])

    def __repr__(self) -> str:
        return f"MislabelResult(auc={self.auc:.4f}, n={self.order.size}, n_flipped={self.n_flipped})"


class RemovalCurve:
    """Test performance after removing the highest- (or lowest-) valued training points.

    Returned by :func:`removal_curve`.

    Attributes
    ----------
    fractions : ndarray
        The fractions asked for.
    n_removed : ndarray of int
        Points removed at each fraction, ``round(fraction * n)``.
    score : ndarray
        Test accuracy after each removal (an estimator: its ``score``); NaN where Ctrl-C stopped
        the run first.
    log_loss : ndarray or None
        Mean test log-loss (built-in logistic model only).
    removal_order : ndarray of int
        The order in which points are removed (``order="high"``: largest value first; ties by
        lower index).
    order : str
    model : str
    complete : bool
    """

    def __init__(self, fractions, n_removed, score, log_loss, removal_order, order, model, complete):
        self.fractions = fractions
        self.n_removed = n_removed
        self.score = score
        self.log_loss = log_loss
        self.removal_order = removal_order
        self.order = order
        self.model = model
        self.complete = complete

    def __repr__(self) -> str:
        return f"RemovalCurve(model={self.model!r}, order={self.order!r}, fractions={self.fractions.size})"


# ------------------------------------------------------------------------------- LDS
def additive_prediction(scores, masks, *, n_jobs=None) -> np.ndarray:
    """The additive prediction of each subset: ``sum_{i in S} scores[i, t]``.

    Computed from the bit-packed masks with nibble lookup tables (never an n_subsets x n_train
    float matrix); each entry is summed in an order that depends on n_train only, so the result
    is bitwise the same for any ``n_jobs`` and for boolean or packed masks.

    Parameters
    ----------
    scores : array-like of shape (n_train, n_target) or (n_train,)
        One score per training point and target (see the module's conventions).
    masks : array-like of shape (n_subsets, n_train), or packed masks
        Boolean or 0/1, or an object with ``.packed`` (uint8 (n_subsets, ceil(n_train / 8)),
        ``np.packbits(..., axis=1, bitorder="little")``) and ``.n_train``.
    n_jobs : int, optional
        Threads (None: OpenMP default).

    Returns
    -------
    ndarray of shape (n_subsets, n_target), or (n_subsets,) for 1-D scores

    Raises
    ------
    TypeError, ValueError
        Malformed scores or masks (see :func:`lds`).

    Examples
    --------
    >>> import numpy as np
    >>> from attrib.metrics import additive_prediction
    >>> additive_prediction(np.array([1.0, 2.0, 4.0]), np.array([[1, 0, 1], [0, 1, 1]], bool))
    array([5., 6.])
    """
    S, one = _as_scores(scores)
    packed = _as_masks(masks, S.shape[0])
    pred = np.asarray(_dispatch.core.subset_predictions(packed, S.shape[0], S, 0, S.shape[1], resolve_n_jobs(n_jobs)))
    return pred[:, 0] if one else pred


def lds(
    scores,
    masks,
    outputs,
    *,
    n_bootstrap: int = DEFAULT_BOOTSTRAP,
    ci: float = 0.95,
    seed: int = 0,
    nan_policy: str = "omit",
    n_jobs=None,
) -> CorrelationResult:
    """The Linear Datamodeling Score: how well additive scores predict retrained outputs.

    For each target t, Spearman's rank correlation (ties given average ranks, as
    ``scipy.stats.spearmanr``) over the subsets between the additive prediction
    ``sum_{i in S_j} scores[i, t]`` and the measured output ``outputs[j, t]`` (Park et al. 2023).
    The prediction is formed directly from bit-packed masks; targets run in parallel blocks,
    bitwise identical for any ``n_jobs``. Invariant to a positive scale of each target's scores;
    with fixed-size subsets also to adding a constant to them.

    Parameters
    ----------
    scores : array-like of shape (n_train, n_target) or (n_train,), or a result
        Attribution scores, helpful > 0 (the module's table lists each method's). A result
        object contributes ``.weights`` (datamodels) or ``.values``. Must be finite.
    masks : array-like of shape (n_subsets, n_train), or packed masks
        Which training points each retrained model saw: boolean or 0/1, or an object with
        ``.packed`` (uint8 (n_subsets, ceil(n_train / 8)), numpy's ``packbits(axis=1,
        bitorder="little")``; padding bits are ignored) and ``.n_train``, such as
        ``attrib.retrain(...).masks``. At least 2 subsets.
    outputs : array-like of shape (n_subsets, n_target) or (n_subsets,)
        What each retrained model gave each target, larger is better (margin, correctness,
        ``-loss``). Must be finite.
    n_bootstrap : int, default 1000
        Bootstrap resamples of the targets for :attr:`CorrelationResult.ci` (0: no interval).
    ci : float, default 0.95
        Level of the percentile interval.
    seed : int, default 0
        Key of the resampling stream (attrib's Philox4x32-10, stream "bootstrap", id = resample).
    nan_policy : {"omit", "raise", "propagate"}, default "omit"
        Targets whose outputs (or predictions) are constant over the subsets have no rank
        correlation. "omit": NaN in ``per_target``, left out of the mean and the interval, with an
        :class:`~attrib.exceptions.UndefinedValueWarning` (an error if every target is
        undefined). "raise": ValueError. "propagate": the mean is NaN.
    n_jobs : int, optional
        Threads (None: OpenMP default).

    Returns
    -------
    CorrelationResult
        ``mean``, ``per_target``, ``ci``. Ctrl-C stops at the next block of targets (about 0.25
        s) and returns the targets done, ``complete=False``, with a StoppedEarlyWarning.

    Raises
    ------
    TypeError
        Masks that are not boolean/0-1 or packed; outputs given as a mapping (pass one entry).
    ValueError
        Shapes that disagree (masks vs scores rows, outputs vs masks and scores columns), NaN or
        inf in scores or outputs, fewer than 2 subsets, bad ``ci`` / ``n_bootstrap`` / ``seed``
        / ``nan_policy``, or undefined targets under ``nan_policy="raise"``.

    Examples
    --------
    >>> import numpy as np
    >>> from attrib.metrics import lds
    >>> rng = np.random.default_rng(0)
    >>> theta = rng.normal(size=(50, 3))                 # the true additive model
    >>> masks = rng.random((40, 50)) < 0.5
    >>> outputs = masks @ theta + 2.0 * rng.normal(size=(40, 3))
    >>> r = lds(theta, masks, outputs)
    >>> round(r.mean, 2), r.per_target.shape
    (0.84, (3,))
    """
    S, _ = _as_scores(scores)
    n, T = S.shape
    packed = _as_masks(masks, n)
    m = packed.shape[0]
    Y = _as_outputs(outputs, m, T)
    n_bootstrap, ci, seed = _check_n_bootstrap(n_bootstrap), _check_ci(ci), check_seed(seed)
    nan_policy = _check_policy(nan_policy)
    n_threads = resolve_n_jobs(n_jobs)
    core = _dispatch.core
    tile = int(core.LDS_TARGET_TILE)
    per = np.full(T, np.nan)
    # Blocks of whole tiles of targets, one kernel call each (the values do not depend on the
    # blocks); the first aims at about 2^26 table additions.
    first = max(tile, int(2**26 // max(1, m * (n // 4 + 1))))
    sizer = BlockSizer(first, minimum=tile, maximum=max(tile, _PREDICTION_BYTES // (8 * m)), multiple=tile)
    done = 0
    try:
        with DeferredInterrupt() as interrupt:
            while done < T:
                count = sizer.next(T - done)
                t0 = time.perf_counter()
                per[done : done + count] = core.lds_targets(packed, n, S, Y, done, done + count, n_threads)
                done += count
                sizer.record(count, time.perf_counter() - t0)
                if interrupt.hit and done < T:
                    raise KeyboardInterrupt
    except KeyboardInterrupt:
        warnings.warn(
            f"lds interrupted after {done} of {T} targets: the rest are NaN and left out of the mean",
            StoppedEarlyWarning,
            stacklevel=2,
        )
        if done == 0:
            raise
    return CorrelationResult(
        "lds",
        per,
        n_bootstrap=n_bootstrap,
        ci=ci,
        seed=seed,
        nan_policy=nan_policy,
        n_threads=n_threads,
        n_train=n,
        n_subsets=m,
        done=done,
        stacklevel=3,
    )


def loo_correlation(
    scores,
    exact_loo,
    method: str = "pearson",
    *,
    n_bootstrap: int = DEFAULT_BOOTSTRAP,
    ci: float = 0.95,
    seed: int = 0,
    nan_policy: str = "omit",
    n_jobs=None,
) -> CorrelationResult:
    """Agreement of scores with exact leave-one-out effects, per target, over training points.

    For each target column t, the correlation over the training points between ``scores[:, t]``
    and ``exact_loo[:, t]`` (dattri's ``loo_corr`` convention), then the mean over targets with a
    bootstrap interval as in :func:`lds`.

    Parameters
    ----------
    scores : array-like of shape (n_train, n_target) or (n_train,), or a result
        The estimates (helpful > 0).
    exact_loo : array-like of the same shape, or a result
        The true effects of removing each point, in the same orientation, e.g.
        ``attrib.glm_loo(X, y, method="exact").influence(X_test, y_test)``.
    method : {"pearson", "spearman"}, default "pearson"
        Pearson's r, or Spearman's rho with ties averaged.
    n_bootstrap, ci, seed, nan_policy, n_jobs
        As in :func:`lds` (a target is undefined when a column is constant).

    Returns
    -------
    CorrelationResult
        ``metric`` is ``"loo_pearson"`` or ``"loo_spearman"``; ``n_subsets`` is None.

    Raises
    ------
    ValueError
        The two arrays differ in shape, hold NaN or inf, have fewer than 2 training points, a bad
        ``method``, or undefined targets under ``nan_policy="raise"``.

    Examples
    --------
    >>> import numpy as np
    >>> from attrib.metrics import loo_correlation
    >>> exact = np.array([[1.0, 0.5], [2.0, -1.0], [3.0, 0.0]])
    >>> loo_correlation(2 * exact + 1, exact).mean
    1.0
    >>> loo_correlation(exact ** 3, exact, "spearman").mean
    1.0
    """
    if method not in ("pearson", "spearman"):
        raise ValueError(f"method must be 'pearson' or 'spearman', got {method!r}")
    A, _ = _as_scores(scores, "scores")
    B, _ = _as_scores(exact_loo, "exact_loo")
    if A.shape != B.shape:
        raise ValueError(f"scores has shape {A.shape} but exact_loo has shape {B.shape}")
    if A.shape[0] < 2:
        raise ValueError(f"need at least 2 training points, got {A.shape[0]}")
    n_bootstrap, ci, seed = _check_n_bootstrap(n_bootstrap), _check_ci(ci), check_seed(seed)
    nan_policy = _check_policy(nan_policy)
    n_threads = resolve_n_jobs(n_jobs)
    core = _dispatch.core
    per = np.asarray(core.column_correlation(A, B, getattr(core.CorrelationKind, method), n_threads))
    return CorrelationResult(
        f"loo_{method}",
        per,
        n_bootstrap=n_bootstrap,
        ci=ci,
        seed=seed,
        nan_policy=nan_policy,
        n_threads=n_threads,
        n_train=A.shape[0],
        n_subsets=None,
        done=per.size,
        stacklevel=3,
    )


# ------------------------------------------------------------------------------- mislabels
def _average_ranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks with ties averaged (scipy.stats.rankdata), O(n log n)."""
    order = np.argsort(x, kind="stable")
    xs = x[order]
    starts = np.flatnonzero(np.concatenate([[True], xs[1:] != xs[:-1]]))
    ends = np.concatenate([starts[1:], [x.size]])
    ranks = np.empty(x.size)
    ranks[order] = np.repeat(0.5 * (starts + 1 + ends), ends - starts)
    return ranks


def _as_values(values, name: str = "values") -> np.ndarray:
    arr = _unwrap(values)
    if isinstance(arr, Mapping) or arr is None:
        raise TypeError(f"{name} must be one value per training point")
    arr = np.asarray(arr)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D (one value per training point), got shape {arr.shape}")
    return as_float_matrix(arr.reshape(-1, 1), name)[:, 0]


def mislabel_auc(values, is_flipped) -> MislabelResult:
    """Detection of flipped labels by low value: the ROC AUC and the fraction-found curve.

    A mislabelled point harms the model, so attrib's values (helpful > 0) should be low for it:
    points are inspected from the lowest value up. O(n log n).

    Parameters
    ----------
    values : array-like of shape (n_train,), or a result
        One value per training point, helpful > 0 (e.g. ``data_shapley(...).values``, or the
        self-influence of each point).
    is_flipped : array-like of shape (n_train,)
        True (or 1) for the points whose labels were flipped; at least one of each kind.

    Returns
    -------
    MislabelResult
        ``auc`` (``roc_auc_score(is_flipped, -values)``), ``order``, ``inspected``, ``found``.

    Raises
    ------
    ValueError
        NaN or inf values, lengths that differ, ``is_flipped`` not boolean/0-1, or no flipped
        (or no clean) point.

    Examples
    --------
    >>> from attrib.metrics import mislabel_auc
    >>> r = mislabel_auc([-1.0, 0.5, 0.2, -0.3], [True, False, False, True])
    >>> r.auc, r.found.tolist()
    (1.0, [0.0, 0.5, 1.0, 1.0, 1.0])
    """
    v = _as_values(values)
    flip = np.asarray(is_flipped)
    if flip.shape != v.shape:
        raise ValueError(f"is_flipped must have shape {v.shape} (one flag per value), got {flip.shape}")
    if flip.dtype != np.bool_:
        if flip.dtype.kind not in "biuf" or ((flip != 0) & (flip != 1)).any():
            raise ValueError("is_flipped must be boolean or 0/1")
        flip = flip != 0
    n_pos = int(flip.sum())
    n_neg = v.size - n_pos
    if n_pos == 0 or n_neg == 0:
        raise ValueError(f"is_flipped must mark at least one flipped and one clean point, got {n_pos} of {v.size}")
    ranks = _average_ranks(-v)  # larger -v (lower value) = more suspect
    auc = (float(ranks[flip].sum()) - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)
    order = np.argsort(v, kind="stable")
    found = np.concatenate([[0.0], np.cumsum(flip[order]) / n_pos])
    return MislabelResult(auc, order, found, n_pos)


# ------------------------------------------------------------------------------- removal
def _check_fractions(fractions, n: int) -> tuple[np.ndarray, np.ndarray]:
    f = np.asarray(DEFAULT_FRACTIONS if fractions is None else fractions, dtype=np.float64).reshape(-1)
    if f.size == 0:
        raise ValueError("fractions must not be empty")
    if not np.isfinite(f).all() or (f < 0).any() or (f >= 1).any():
        raise ValueError(f"fractions must lie in [0, 1), got {f.tolist()}")
    k = np.rint(f * n).astype(np.int64)
    if (k >= n).any():
        raise ValueError(f"a fraction of {f[np.argmax(k >= n)]} removes every one of the {n} training points")
    return f, k


def _logistic_fit(X, y01, C, n_jobs):
    """(intercept, coef) of attrib's logistic fit: scikit-learn's LogisticRegression(C)
    objective with the intercept unpenalised, Newton to full precision."""
    from . import glm

    prob, _ = glm._prepare(X, y01, "logistic", C, None, True, n_jobs)
    fit = glm._fit(prob)
    return float(fit.intercept), np.asarray(fit.coef)


def removal_curve(
    values,
    X,
    y,
    X_test,
    y_test,
    model="logistic",
    fractions=None,
    order: str = "high",
    C: float = 1.0,
    *,
    n_jobs=None,
) -> RemovalCurve:
    """Retrain after removing the highest- (or lowest-) valued points; test performance per fraction.

    The point-removal experiment of the Data Shapley paper (Ghorbani & Zou 2019): good values
    make accuracy drop fastest when the most valuable points go first (``order="high"``), and
    rise (or hold) when the least valuable, e.g. mislabelled, go first (``order="low"``).

    Parameters
    ----------
    values : array-like of shape (n_train,), or a result
        One value per training point, helpful > 0.
    X, y : array-like of shape (n_train, d) and (n_train,)
        Training data (two classes for ``model="logistic"``).
    X_test, y_test : array-like
        Where the retrained models are scored.
    model : "logistic" or a scikit-learn estimator, default "logistic"
        ``"logistic"``: attrib's own fit of scikit-learn's ``LogisticRegression(C)`` objective
        (L2 on the weights, intercept unpenalised), solved by Newton to full precision: the same
        as ``LogisticRegression(C, solver="newton-cholesky", tol=1e-12)``. An estimator is cloned
        and fitted on each remaining set and scored with its ``score``. A remaining set with one
        class predicts that class (log-loss with probability (k1 + 1) / (k + 2), as
        ``data_shapley``'s logistic utility).
    fractions : array-like of float in [0, 1), optional
        Fractions of the training points to remove, each ``round(fraction * n)`` points (default
        0, 0.05, ..., 0.5); none may remove every point.
    order : {"high", "low"}, default "high"
        Remove the largest values first, or the smallest; ties by lower index.
    C : float, default 1.0
        Inverse penalty of the built-in logistic model.
    n_jobs : int, optional
        Threads for the built-in fit.

    Returns
    -------
    RemovalCurve
        ``fractions``, ``n_removed``, ``score`` (accuracy), ``log_loss`` (built-in model),
        ``removal_order``. Ctrl-C stops after the refit in flight and returns the fractions done
        (the rest NaN, ``complete=False``) with a StoppedEarlyWarning.

    Raises
    ------
    TypeError, ValueError
        Malformed data, labels that are not two classes (built-in model), bad fractions or
        ``order``, values of another length than ``X``.

    Examples
    --------
    >>> import numpy as np
    >>> import attrib
    >>> from attrib.metrics import removal_curve
    >>> data = attrib.datasets.load_breast_cancer()
    >>> X = (data.X - data.X.mean(0)) / data.X.std(0)
    >>> v = attrib.knn_shapley(X[:300], data.y[:300], X[300:], data.y[300:]).values
    >>> curve = removal_curve(v, X[:300], data.y[:300], X[300:], data.y[300:], fractions=[0, 0.3])
    >>> curve.n_removed.tolist(), bool(curve.score[1] < curve.score[0])
    ([0, 90], True)
    """
    if order not in ("high", "low"):
        raise ValueError(f"order must be 'high' or 'low', got {order!r}")
    Xa = as_float_matrix(X, "X")
    n = Xa.shape[0]
    v = _as_values(values)
    if v.size != n:
        raise ValueError(f"values has {v.size} entries but X has {n} rows")
    Xt = as_float_matrix(X_test, "X_test", n_features=Xa.shape[1])
    f, ks = _check_fractions(fractions, n)
    removal = np.argsort(-v if order == "high" else v, kind="stable")
    builtin = isinstance(model, str)
    if builtin:
        if model != "logistic":
            raise ValueError(f"model must be 'logistic' or a scikit-learn estimator, got {model!r}")
        C = check_positive(C, "C")
        y01, classes = check_binary_labels(y, "y", n)
        yt01, _ = check_binary_labels(y_test, "y_test", Xt.shape[0], classes=classes)
        name = f"logistic(C={C:g})"
    else:
        if not hasattr(model, "fit"):
            raise TypeError(f"model must be 'logistic' or a scikit-learn estimator, got {type(model).__name__}")
        from sklearn.base import clone, is_classifier

        ya, yt = np.asarray(y), np.asarray(y_test)
        if ya.shape[0] != n:
            raise ValueError(f"X has {n} rows but y has {ya.shape[0]}")
        name = type(model).__name__
    score = np.full(f.size, np.nan)
    log_loss = np.full(f.size, np.nan)
    done = 0
    try:
        with DeferredInterrupt() as interrupt:
            for j, k in enumerate(ks):
                keep = np.sort(removal[k:])
                if builtin:
                    yk = y01[keep]
                    k1 = float(yk.sum())
                    if k1 in (0.0, float(keep.size)):  # one class left: predict it
                        p = (k1 + 1) / (keep.size + 2)
                        score[j] = float(np.mean(yt01 == (k1 > 0)))
                        log_loss[j] = -float(np.mean(yt01 * np.log(p) + (1 - yt01) * np.log1p(-p)))
                    else:
                        b, coef = _logistic_fit(Xa[keep], yk, C, n_jobs)
                        eta = Xt @ coef + b
                        score[j] = float(np.mean((eta > 0) == (yt01 > 0)))
                        log_loss[j] = float(np.mean(np.logaddexp(0.0, eta) - yt01 * eta))
                else:
                    yk = ya[keep]
                    uniq = np.unique(yk)
                    if is_classifier(model) and uniq.size == 1:
                        score[j] = float(np.mean(yt == uniq[0]))
                    else:
                        est = clone(model).fit(Xa[keep], yk)
                        score[j] = float(est.score(Xt, yt))
                done = j + 1
                if interrupt.hit and done < f.size:
                    raise KeyboardInterrupt
    except KeyboardInterrupt:
        warnings.warn(
            f"removal_curve interrupted after {done} of {f.size} fractions: the rest are NaN",
            StoppedEarlyWarning,
            stacklevel=2,
        )
    return RemovalCurve(f, ks, score, log_loss if builtin else None, removal, order, name, done == f.size)
