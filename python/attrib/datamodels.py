"""Datamodels (Ilyas et al., ICML 2022): random training subsets, the models retrained on them,
and a sparse linear model of each target's output as a function of which points were in.

Three steps, each usable on its own:

1. :func:`sample_subsets` draws the subsets: fixed size (``round(alpha n)`` points without
   replacement) or Bernoulli(``alpha``) masks, every one a pure function of (seed, subset id)
   through attrib's counter-based Philox stream, stored bit-packed (:class:`SubsetMasks`, with a
   documented ``.npz`` layout so that ground truth is portable).
2. :func:`~attrib.retrain` trains one model per subset and records every target point's margin,
   loss and correctness (built-in logistic, ridge and KNN learners in C++, or any callable or
   scikit-learn estimator).
3. :func:`datamodels` regresses the outputs on the masks: a multi-target lasso path by
   coordinate descent (warm starts, strong-rule screening, internal standardisation) with the
   penalty chosen per target on held-out subsets and a refit on all of them, or ridge.
"""

from __future__ import annotations

import builtins
import hashlib
import math
import numbers
import operator
import os
import time
import warnings

import numpy as np

from . import _dispatch
from ._loo import DEFAULT_MAX_BYTES
from ._progress import BlockSizer, DeferredInterrupt, Progress
from ._validation import check_bool, check_positive, check_seed, resolve_n_jobs
from .exceptions import ConvergenceWarning, StoppedEarlyWarning
from .results import AttributionResult

__all__ = ["DatamodelResult", "SubsetMasks", "data_fingerprint", "datamodels", "sample_subsets"]

#: The samplers, as the core's SubsetSampler enum names them; "custom" marks masks given as an array.
SAMPLERS = ("fixed", "bernoulli")
#: The ``format`` entry of a saved SubsetMasks file, and its layout version.
FILE_FORMAT = "attrib.SubsetMasks"
FILE_VERSION = 1
#: Largest number of training points a sampler handles (the core draws indices as 32-bit integers).
MAX_N = 2**32 - 1
#: Lasso kernels: the Gram matrix (n x n float64) may take at most this many bytes.
GRAM_MAX_BYTES = 4 * 2**30


# ----------------------------------------------------------------------------------------------
# Argument checks
# ----------------------------------------------------------------------------------------------


def _check_alpha(alpha) -> float:
    if isinstance(alpha, (bool, np.bool_)) or not isinstance(alpha, numbers.Real):
        raise TypeError(f"alpha must be a fraction in (0, 1), got {type(alpha).__name__}")
    alpha = float(alpha)
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be a fraction strictly between 0 and 1, got {alpha!r}")
    return alpha


def _check_sampler(sampler) -> str:
    if not isinstance(sampler, str) or sampler not in SAMPLERS:
        raise ValueError(f"sampler must be one of {list(SAMPLERS)}, got {sampler!r}")
    return sampler


def _check_count(value, name: str, maximum: int = 2**62) -> int:
    value = check_positive(value, name, integer=True)
    if value > maximum:
        raise ValueError(f"{name} must be at most {maximum}, got {value}")
    return value


def data_fingerprint(X, y=None) -> str:
    """A short hash of the training data that masks index into.

    Masks are only meaningful for the data they were drawn for: :class:`SubsetMasks` carries this
    fingerprint so that ground truth saved for one data set is refused on another.

    Parameters
    ----------
    X : array_like of shape (n, d)
        Training features (hashed as C-contiguous float64).
    y : array_like of shape (n,), optional
        Training targets or labels (hashed with their dtype).

    Returns
    -------
    str
        16 hexadecimal digits of a SHA-256 over the shapes, X as float64 and y.

    Raises
    ------
    TypeError
        ``X`` does not hold numbers.

    Examples
    --------
    >>> import numpy as np
    >>> import attrib
    >>> X = np.arange(6.0).reshape(3, 2)
    >>> a = attrib.data_fingerprint(X, [0, 1, 0])
    >>> a == attrib.data_fingerprint(X.astype(np.float32), [0, 1, 0]), a == attrib.data_fingerprint(X, [1, 1, 0])
    (True, False)
    """
    Xa = np.ascontiguousarray(np.asarray(X, dtype=np.float64))
    h = hashlib.sha256(b"attrib-data-v1")
    h.update(repr(Xa.shape).encode())
    h.update(Xa.tobytes())
    if y is not None:
        ya = np.ascontiguousarray(np.asarray(y))
        if ya.dtype.kind in "biuf":
            ya = ya.astype(np.float64)
        h.update(repr((ya.shape, ya.dtype.str)).encode())
        h.update(ya.tobytes() if ya.dtype.kind != "O" else repr(ya.tolist()).encode())
    return h.hexdigest()[:16]


# ----------------------------------------------------------------------------------------------
# Masks
# ----------------------------------------------------------------------------------------------


class SubsetMasks:
    """Bit-packed training-subset masks: row s says which training points subset s holds.

    Made by :func:`sample_subsets` (or :func:`~attrib.retrain`), or from any boolean matrix with
    :meth:`from_bool`. Point i of subset s is bit ``i % 8`` of byte ``i // 8`` of row s, so
    ``packed == np.packbits(bool_masks, axis=1, bitorder="little")``; padding bits are zero.

    Parameters
    ----------
    packed : array_like of uint8, shape (m, ceil(n_train / 8))
        The packed masks.
    n_train : int
        Training points n.
    seed : int, optional
        The sampler's seed (None for custom masks).
    alpha : float, default nan
        The subset fraction (nan for custom masks).
    sampler : {"fixed", "bernoulli", "custom"}, default "custom"
        How the masks were drawn.
    first_id : int, default 0
        The subset id of row 0 (rows hold consecutive ids).
    fingerprint : str, default ""
        :func:`data_fingerprint` of the training data ("" when not tied to data).

    Attributes
    ----------
    packed : ndarray of uint8, shape (m, ceil(n_train / 8))
        The packed masks (read-only).
    n_train : int
        Training points.
    n_subsets : int
        Subsets m (also ``len(masks)``).
    seed : int or None
        Seed of the random streams.
    alpha : float
        Subset fraction (nan for custom masks).
    sampler : str
        ``"fixed"``, ``"bernoulli"`` or ``"custom"``.
    first_id : int
        Subset id of row 0.
    fingerprint : str
        Fingerprint of the training data the masks index ("" if none).
    sizes : ndarray of int64, shape (m,)
        Points per subset.

    Examples
    --------
    >>> import numpy as np
    >>> import attrib
    >>> masks = attrib.sample_subsets(10, 4, alpha=0.5, seed=0)
    >>> masks.packed.shape, masks.bool().shape, len(masks)
    ((4, 2), (4, 10), 4)
    >>> masks.sizes
    array([5, 5, 5, 5])
    >>> bool((np.packbits(masks.bool(), axis=1, bitorder="little") == masks.packed).all())
    True
    """

    def __init__(self, packed, n_train, *, seed=None, alpha=math.nan, sampler="custom", first_id=0, fingerprint=""):
        packed = np.ascontiguousarray(packed)
        if packed.dtype != np.uint8 or packed.ndim != 2:
            raise ValueError(f"packed must be a 2-D uint8 array, got {packed.ndim}-D {packed.dtype}")
        n_train = check_positive(n_train, "n_train", integer=True)
        if packed.shape[1] != (n_train + 7) // 8:
            raise ValueError(
                f"packed has {packed.shape[1]} bytes per row but n_train={n_train} needs {(n_train + 7) // 8}"
            )
        if n_train % 8 and packed.shape[0] and (packed[:, -1] >> (n_train % 8)).any():
            raise ValueError("packed has bits set beyond n_train (padding bits must be zero)")
        if sampler not in SAMPLERS + ("custom",):
            raise ValueError(f"sampler must be one of {list(SAMPLERS) + ['custom']}, got {sampler!r}")
        packed = packed.copy() if packed.flags.writeable else packed
        packed.flags.writeable = False
        self.packed = packed
        self.n_train = int(n_train)
        self.seed = None if seed is None else check_seed(seed)
        self.alpha = float(alpha)
        self.sampler = sampler
        self.first_id = int(first_id)
        self.fingerprint = str(fingerprint)

    @classmethod
    def from_bool(cls, masks, *, fingerprint: str = "") -> SubsetMasks:
        """Custom masks from a boolean (or 0/1) matrix.

        Parameters
        ----------
        masks : array_like of shape (m, n)
            True (or 1) where subset s holds point i.
        fingerprint : str, default ""
            :func:`data_fingerprint` of the training data, if known.

        Returns
        -------
        SubsetMasks
            With ``sampler="custom"``, no seed and ``alpha`` nan.

        Raises
        ------
        ValueError
            ``masks`` is not 2-D with at least one row and column, or holds values other than 0 and 1.

        Examples
        --------
        >>> import attrib
        >>> attrib.SubsetMasks.from_bool([[1, 0, 1], [0, 1, 1]]).sizes
        array([2, 2])
        """
        return cls(_pack(masks, "masks"), np.asarray(masks).shape[1], fingerprint=fingerprint)

    # -- views ----------------------------------------------------------------------------------
    @property
    def n_subsets(self) -> int:
        """Subsets m."""
        return int(self.packed.shape[0])

    def __len__(self) -> int:
        return self.n_subsets

    def bool(self) -> np.ndarray:
        """The masks as an (m, n_train) boolean matrix (a new array).

        Returns
        -------
        ndarray of bool, shape (m, n_train)
            ``masks.bool()[s, i]`` is True when subset s holds point i.

        Examples
        --------
        >>> import attrib
        >>> attrib.SubsetMasks.from_bool([[1, 0, 1]]).bool()
        array([[ True, False,  True]])
        """
        return np.unpackbits(self.packed, axis=1, count=self.n_train, bitorder="little").view(bool)

    def __array__(self, dtype=None, copy=None):
        out = self.bool()
        return out if dtype is None else out.astype(dtype)

    @property
    def sizes(self) -> np.ndarray:
        """Points per subset (int64, shape (m,))."""
        return np.unpackbits(self.packed, axis=1, bitorder="little").sum(axis=1, dtype=np.int64)

    def __getitem__(self, rows) -> SubsetMasks:
        """Consecutive rows (a slice with step 1) as masks of their own, metadata kept."""
        if not isinstance(rows, slice) or rows.step not in (None, 1):
            raise TypeError("SubsetMasks can be sliced by consecutive rows only (masks[a:b]); use .bool() otherwise")
        start, stop, _ = rows.indices(self.n_subsets)
        return SubsetMasks(
            self.packed[start:stop],
            self.n_train,
            seed=self.seed,
            alpha=self.alpha,
            sampler=self.sampler,
            first_id=self.first_id + start,
            fingerprint=self.fingerprint,
        )

    def __repr__(self) -> str:
        return (
            f"SubsetMasks(n_subsets={self.n_subsets}, n_train={self.n_train}, sampler={self.sampler!r}, "
            f"alpha={self.alpha:g}, seed={self.seed}, first_id={self.first_id}, fingerprint={self.fingerprint!r})"
        )

    def __eq__(self, other) -> builtins.bool:
        if not isinstance(other, SubsetMasks):
            return NotImplemented
        return self._meta() == other._meta() and np.array_equal(self.packed, other.packed)

    __hash__ = None  # type: ignore[assignment]

    def _meta(self):
        alpha = None if math.isnan(self.alpha) else self.alpha
        return (self.n_train, self.seed, alpha, self.sampler, self.first_id, self.fingerprint)

    # -- compatibility --------------------------------------------------------------------------
    def check_compatible(self, other: SubsetMasks) -> None:
        """Refuse masks from another sampler, seed, alpha, size or data set.

        Parameters
        ----------
        other : SubsetMasks
            Masks to combine with these.

        Returns
        -------
        None

        Raises
        ------
        ValueError
            The two differ in n_train, sampler, seed, alpha or data fingerprint (the message says which).

        Examples
        --------
        >>> import attrib
        >>> a = attrib.sample_subsets(10, 2, seed=0)
        >>> a.check_compatible(attrib.sample_subsets(10, 2, seed=0, first_id=2))
        >>> a.check_compatible(attrib.sample_subsets(10, 2, seed=1))
        Traceback (most recent call last):
        ...
        ValueError: incompatible masks: seed 0 != 1
        """
        for name in ("n_train", "sampler", "seed", "alpha", "fingerprint"):
            a, b = getattr(self, name), getattr(other, name)
            same = (math.isnan(a) and math.isnan(b)) or a == b if name == "alpha" else a == b
            if not same:
                raise ValueError(f"incompatible masks: {name} {a!r} != {b!r}")

    def check_data(self, fingerprint: str) -> None:
        """Refuse use on other training data than the masks were drawn for.

        Parameters
        ----------
        fingerprint : str
            :func:`data_fingerprint` of the data at hand.

        Returns
        -------
        None

        Raises
        ------
        ValueError
            The masks carry a different, non-empty fingerprint.

        Examples
        --------
        >>> import attrib
        >>> attrib.sample_subsets(3, 1).check_data("0123456789abcdef")  # not tied to data: accepted
        """
        if self.fingerprint and fingerprint and self.fingerprint != fingerprint:
            raise ValueError(
                f"these masks were drawn for other training data (fingerprint {self.fingerprint}, the data given "
                f"have {fingerprint}); masks index points by position, so they are refused"
            )

    @classmethod
    def concat(cls, parts) -> SubsetMasks:
        """Join masks of consecutive subset ids (say, drawn on several machines).

        Parameters
        ----------
        parts : sequence of SubsetMasks
            Compatible masks whose ids follow on: part k + 1 starts where part k ends.

        Returns
        -------
        SubsetMasks
            All rows, in order.

        Raises
        ------
        ValueError
            ``parts`` is empty, the parts are incompatible (see :meth:`check_compatible`), or their
            ids do not follow on.

        Examples
        --------
        >>> import attrib
        >>> whole = attrib.sample_subsets(20, 6, seed=3)
        >>> attrib.SubsetMasks.concat([whole[:2], whole[2:]]) == whole
        True
        """
        parts = list(parts)
        if not parts:
            raise ValueError("concat needs at least one SubsetMasks")
        first = parts[0]
        nxt = first.first_id + first.n_subsets
        for p in parts[1:]:
            first.check_compatible(p)
            if p.first_id != nxt:
                raise ValueError(
                    f"subset ids do not follow on: a part ends at id {nxt - 1} and the next starts at {p.first_id}"
                )
            nxt += p.n_subsets
        return cls(
            np.concatenate([p.packed for p in parts]),
            first.n_train,
            seed=first.seed,
            alpha=first.alpha,
            sampler=first.sampler,
            first_id=first.first_id,
            fingerprint=first.fingerprint,
        )

    # -- files ----------------------------------------------------------------------------------
    def save(self, path) -> None:
        """Write the masks to an ``.npz`` file (no pickles).

        Layout (version 1): ``format`` ("attrib.SubsetMasks"), ``version`` (1), ``packed``
        (uint8, m x ceil(n/8), little bit order), ``n_train``, ``first_id`` (int64), ``seed``
        (uint64; ``has_seed`` False for custom masks), ``alpha`` (float64, nan for custom),
        ``sampler`` and ``fingerprint`` (strings).

        Parameters
        ----------
        path : str or os.PathLike
            The file (numpy adds ``.npz`` if missing).

        Returns
        -------
        None

        Raises
        ------
        OSError
            The file cannot be written.

        Examples
        --------
        >>> import os, tempfile
        >>> import attrib
        >>> masks = attrib.sample_subsets(12, 3, seed=5)
        >>> path = os.path.join(tempfile.mkdtemp(), "masks.npz")
        >>> masks.save(path)
        >>> attrib.SubsetMasks.load(path) == masks
        True
        """
        np.savez(
            path,
            format=np.array(FILE_FORMAT),
            version=np.array(FILE_VERSION, np.int64),
            packed=self.packed,
            n_train=np.array(self.n_train, np.int64),
            first_id=np.array(self.first_id, np.int64),
            seed=np.array(0 if self.seed is None else self.seed, np.uint64),
            has_seed=np.array(self.seed is not None),
            alpha=np.array(self.alpha, np.float64),
            sampler=np.array(self.sampler),
            fingerprint=np.array(self.fingerprint),
        )

    @classmethod
    def load(
        cls, path, *, X=None, y=None, like: SubsetMasks | None = None, verify: builtins.bool = True
    ) -> SubsetMasks:
        """Read masks written by :meth:`save`, refusing files that do not fit.

        Parameters
        ----------
        path : str or os.PathLike
            The ``.npz`` file.
        X, y : array_like, optional
            Training data the masks are for: refused if the file's fingerprint differs.
        like : SubsetMasks, optional
            Masks these must be compatible with (see :meth:`check_compatible`).
        verify : bool, default True
            For sampled masks, redraw them from (seed, ids) and refuse a file whose bits differ.

        Returns
        -------
        SubsetMasks
            The masks.

        Raises
        ------
        ValueError
            Not an attrib masks file, an unknown version, inconsistent contents, bits that are not
            the sampler's, or masks for other data or incompatible with ``like``.

        Examples
        --------
        See :meth:`save`.
        """
        with np.load(os.fspath(path), allow_pickle=False) as f:
            try:
                fmt = str(f["format"])
                version = int(f["version"])
            except KeyError:
                raise ValueError(f"{path} is not an attrib SubsetMasks file (no format/version entries)") from None
            if fmt != FILE_FORMAT:
                raise ValueError(f"{path} is not an attrib SubsetMasks file (format {fmt!r})")
            if version != FILE_VERSION:
                raise ValueError(f"{path} has SubsetMasks layout version {version}; this attrib reads {FILE_VERSION}")
            masks = cls(
                f["packed"],
                int(f["n_train"]),
                seed=int(f["seed"]) if bool(f["has_seed"]) else None,
                alpha=float(f["alpha"]),
                sampler=str(f["sampler"]),
                first_id=int(f["first_id"]),
                fingerprint=str(f["fingerprint"]),
            )
        if masks.sampler in SAMPLERS:
            if masks.seed is None:
                raise ValueError(f"{path}: sampled masks without a seed")
            if verify:
                fresh = _draw(
                    masks.n_train, masks.n_subsets, masks.alpha, masks.sampler, masks.seed, masks.first_id, -1
                )
                if not np.array_equal(fresh, masks.packed):
                    raise ValueError(
                        f"{path}: the masks are not those of sampler={masks.sampler!r}, seed={masks.seed}, "
                        f"alpha={masks.alpha} (modified, or written by an incompatible version)"
                    )
        if X is not None:
            masks.check_data(data_fingerprint(X, y))
        if like is not None:
            like.check_compatible(masks)
        return masks


def _pack(masks, name: str) -> np.ndarray:
    """A boolean / 0-1 matrix packed with little bit order (errors name ``name``)."""
    if isinstance(masks, SubsetMasks):
        return masks.packed
    arr = np.asarray(masks)
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name} must be a 2-D (n_subsets, n_train) matrix, got shape {arr.shape}")
    if arr.dtype != bool:
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"{name} must hold booleans or 0/1, got dtype {arr.dtype}")
        bad = (arr != 0) & (arr != 1)
        if bad.any():
            pos = tuple(int(i) for i in np.argwhere(bad)[0])
            raise ValueError(f"{name} must hold only 0 and 1 (row {pos[0]}, column {pos[1]} is {arr[pos]})")
        arr = arr != 0
    return np.packbits(arr, axis=1, bitorder="little")


def _draw(n, count, alpha, sampler, seed, first_id, n_threads) -> np.ndarray:
    core = _dispatch.core
    return core.draw_subsets(seed, first_id, count, getattr(core.SubsetSampler, sampler), alpha, n, n_threads)


def check_sampling(n, n_subsets, alpha, sampler, seed, first_id=0):
    """The arguments of sample_subsets, checked (shared with retrain, which draws block by block)."""
    n = _check_count(n, "n", MAX_N)
    n_subsets = _check_count(n_subsets, "n_subsets")
    alpha = _check_alpha(alpha)
    sampler = _check_sampler(sampler)
    seed = check_seed(seed)
    if isinstance(first_id, (bool, np.bool_)):
        raise TypeError("first_id must be an integer, got bool")
    first_id = operator.index(first_id)
    if not 0 <= first_id < 2**63 - n_subsets:
        raise ValueError(f"first_id must be in [0, 2**63 - n_subsets), got {first_id}")
    packed = n_subsets * -(-n // 8)
    if packed > DEFAULT_MAX_BYTES:  # refused here, not as a bare std::bad_alloc from the core
        raise ValueError(
            f"n_subsets={n_subsets} masks of n={n} points take {packed / 2**30:.1f} GiB bit-packed, above the "
            f"{DEFAULT_MAX_BYTES / 2**30:.0f} GiB limit: draw them in parts with first_id= (ids are global, so the "
            "parts concatenate to the same masks)"
        )
    if sampler == "fixed":
        k = int(_dispatch.core.fixed_subset_size(n, alpha))
        if k == 0 or k == n:
            raise ValueError(
                f"alpha={alpha} gives fixed-size subsets of {k} of {n} points (floor(alpha n + 0.5)); "
                "every subset would be the same: choose alpha so that 0 < alpha n + 0.5 < n"
            )
    return n, n_subsets, alpha, sampler, seed, first_id


def sample_subsets(n, n_subsets, alpha=0.5, sampler="fixed", seed=0, *, first_id=0, n_jobs=None) -> SubsetMasks:
    """Random training subsets for datamodels and the LDS, bit-packed.

    Subset ``id`` is a pure function of (seed, sampler, alpha, n, id) through attrib's Philox4x32-10
    counter stream, so any block of ids, drawn on any thread or machine, gives the same bits.

    - ``"fixed"``: exactly ``floor(alpha n + 0.5)`` points, uniformly without replacement (a
      partial Fisher-Yates shuffle; for alpha > 1/2 the complement is drawn).
    - ``"bernoulli"``: each point independently with probability ``alpha`` (53-bit uniforms),
      as MadryLab's datamodels code draws its masks.

    Parameters
    ----------
    n : int
        Training points (at most 2**32 - 1).
    n_subsets : int
        Subsets m to draw.
    alpha : float, default 0.5
        Subset fraction, strictly between 0 and 1.
    sampler : {"fixed", "bernoulli"}, default "fixed"
        Fixed-size or Bernoulli subsets.
    seed : int, default 0
        Seed in [0, 2**64).
    first_id : int, default 0
        Id of the first subset (ids first_id .. first_id + m - 1): draw further subsets later, or
        elsewhere, and join them with :meth:`SubsetMasks.concat`.
    n_jobs : int, optional
        Threads (None: the OpenMP default); the bits never depend on it.

    Returns
    -------
    SubsetMasks
        The masks (``.packed`` m x ceil(n/8) uint8; ``.bool()`` m x n).

    Raises
    ------
    TypeError
        An argument has the wrong type.
    ValueError
        ``n`` or ``n_subsets`` < 1, ``alpha`` outside (0, 1), an unknown sampler, a fixed size
        ``floor(alpha n + 0.5)`` of 0 or n (every subset would be empty or everything), or a seed
        outside [0, 2**64).

    Examples
    --------
    >>> import attrib
    >>> masks = attrib.sample_subsets(8, 3, alpha=0.25, seed=0)
    >>> masks.sizes
    array([2, 2, 2])
    >>> masks.bool().astype(int)
    array([[1, 0, 0, 0, 0, 0, 1, 0],
           [0, 0, 0, 1, 0, 0, 1, 0],
           [0, 0, 0, 0, 0, 0, 1, 1]])
    """
    n, n_subsets, alpha, sampler, seed, first_id = check_sampling(n, n_subsets, alpha, sampler, seed, first_id)
    packed = _draw(n, n_subsets, alpha, sampler, seed, first_id, resolve_n_jobs(n_jobs))
    return SubsetMasks(packed, n, seed=seed, alpha=alpha, sampler=sampler, first_id=first_id)


def as_masks(masks, name: str = "masks") -> SubsetMasks:
    """A SubsetMasks as it is, or one made from a boolean / 0-1 matrix."""
    if isinstance(masks, SubsetMasks):
        return masks
    return SubsetMasks.from_bool(masks)


# ----------------------------------------------------------------------------------------------
# Datamodel regression
# ----------------------------------------------------------------------------------------------


class DatamodelResult(AttributionResult):
    """Linear datamodels: for each target, output ~ intercept + sum of the weights of the points in.

    Returned by :func:`datamodels`; not usually built by hand.

    Parameters
    ----------
    weights : array_like of shape (n_train, n_target)
        Weights on the original 0/1 scale.
    intercept : array_like of shape (n_target,)
        Intercepts.
    penalty : array_like of shape (n_target,)
        The penalty of each target's model (lasso: sklearn Lasso's alpha on the standardised
        masks; ridge: sklearn Ridge's alpha on them).
    method : str
        ``"lasso"`` or ``"ridge"``.
    lambda_path, val_mse : array_like of shape (n_target, k), optional
        The penalty grid and the validation mean squared error along it (cross-validated runs).
    converged : array_like of bool, optional
        Per target, whether the solver met its tolerance at every penalty.
    complete : bool, default True
        False for a run interrupted by Ctrl-C (targets not reached are NaN).

    Attributes
    ----------
    weights : ndarray of shape (n_train, n_target)
        Datamodel weights theta (also :attr:`values`): positive weights mark training points whose
        presence raises the output (the margin, for example), i.e. helpful points.
    intercept : ndarray of shape (n_target,)
        theta_0.
    penalty : ndarray of shape (n_target,)
        The chosen (or given) penalty per target (also ``l1`` for the lasso, ``l2`` for ridge).
    method : str
        ``"lasso"`` or ``"ridge"``.
    lambda_path : ndarray of shape (n_target, k) or None
        The grid of penalties tried per target (NaN past an early stop); None when the penalty was given.
    val_mse : ndarray of shape (n_target, k) or None
        Validation mean squared error along :attr:`lambda_path`.
    converged : ndarray of bool, shape (n_target,)
        Whether every coordinate-descent solve met its tolerance.
    complete : bool
        False when Ctrl-C stopped the run (the targets not reached have NaN weights).
    nnz : ndarray of int64, shape (n_target,)
        Nonzero weights per target.

    Examples
    --------
    >>> import numpy as np
    >>> import attrib
    >>> masks = attrib.sample_subsets(20, 400, seed=0)
    >>> theta = np.zeros(20); theta[[3, 7]] = [2.0, -1.0]
    >>> y = masks.bool() @ theta + 0.5
    >>> dm = attrib.datamodels(masks, y, l1=0.01, progress=False)
    >>> np.round(dm.weights[[3, 7], 0], 2), int(dm.nnz[0])
    (array([ 1.98, -0.98]), 2)
    >>> dm.top(1)
    array([3])
    """

    _values_name = "weights"

    def __init__(
        self, weights, intercept, penalty, method, *, lambda_path=None, val_mse=None, converged=None, complete=True
    ):
        self.weights = np.asarray(weights, dtype=np.float64)
        self.intercept = np.asarray(intercept, dtype=np.float64)
        self.penalty = np.asarray(penalty, dtype=np.float64)
        self.method = method
        self.lambda_path = None if lambda_path is None else np.asarray(lambda_path, dtype=np.float64)
        self.val_mse = None if val_mse is None else np.asarray(val_mse, dtype=np.float64)
        T = self.weights.shape[1]
        self.converged = np.ones(T, bool) if converged is None else np.asarray(converged, dtype=bool)
        self.complete = bool(complete)

    @property
    def l1(self) -> np.ndarray:
        """The lasso penalty per target (NaN for ridge)."""
        return self.penalty if self.method == "lasso" else np.full_like(self.penalty, np.nan)

    @property
    def l2(self) -> np.ndarray:
        """The ridge penalty per target (NaN for the lasso)."""
        return self.penalty if self.method == "ridge" else np.full_like(self.penalty, np.nan)

    @property
    def nnz(self) -> np.ndarray:
        """Nonzero weights per target."""
        return np.count_nonzero(self.weights, axis=0).astype(np.int64)

    def predict(self, masks) -> np.ndarray:
        """The datamodels' predicted outputs on subsets.

        Parameters
        ----------
        masks : SubsetMasks or array_like of shape (m, n_train)
            Subsets.

        Returns
        -------
        ndarray of shape (m, n_target)
            ``intercept + masks @ weights``.

        Raises
        ------
        ValueError
            ``masks`` do not have n_train columns.

        Examples
        --------
        >>> import numpy as np
        >>> import attrib
        >>> dm = attrib.DatamodelResult(np.array([[1.0], [2.0]]), [0.5], [0.0], "lasso")
        >>> dm.predict([[1, 1], [0, 1]])
        array([[3.5],
               [2.5]])
        """
        B = as_masks(masks).bool()
        if B.shape[1] != self.weights.shape[0]:
            raise ValueError(
                f"masks have {B.shape[1]} columns but the datamodels {self.weights.shape[0]} training points"
            )
        return B @ self.weights + self.intercept

    def top(self, k: int = 10, *, by: str | None = None, largest: bool = True, target: int | None = None) -> np.ndarray:
        """Training points with the largest (or smallest) weight for one target, or on average.

        Parameters
        ----------
        k : int, default 10
            How many.
        by : str, optional
            Rank by another per-point attribute instead (see :meth:`AttributionResult.top`).
        target : int, optional
            Which target's weights (default: the mean weight over the targets).
        largest : bool, default True
            The largest weights (the most helpful points); False for the smallest.

        Returns
        -------
        ndarray of int
            Training indices, best first (ties: lower index first; NaN last).

        Raises
        ------
        ValueError
            ``k < 1``.
        IndexError
            ``target`` out of range.

        Examples
        --------
        >>> import numpy as np
        >>> import attrib
        >>> dm = attrib.DatamodelResult(np.array([[0.1, 3.0], [2.0, 0.0], [-1.0, 0.0]]), [0, 0], [0, 0], "lasso")
        >>> dm.top(2), dm.top(1, target=1), dm.top(1, largest=False)
        (array([0, 1]), array([0]), array([2]))
        """
        if by is not None:
            return super().top(k, by=by, largest=largest)
        score = self.weights.mean(axis=1) if target is None else self.weights[:, target]
        k = check_positive(k, "k", integer=True)
        key = -score if largest else score
        key = np.where(np.isnan(key), np.inf, key)
        return np.argsort(key, kind="stable")[: min(int(k), score.size)]

    def __repr__(self) -> str:
        return f"DatamodelResult(method={self.method!r}, n_train={self.weights.shape[0]}, n_target={self.weights.shape[1]})"


def _as_outputs(outputs, m: int) -> tuple[np.ndarray, bool]:
    if isinstance(outputs, dict):
        raise TypeError(
            "outputs must be one (n_subsets, n_target) array; pick one of the retrain outputs, e.g. "
            f"r.outputs['margin'] (keys: {sorted(outputs)})"
        )
    Y = np.asarray(outputs)
    if Y.dtype.kind not in "biuf":
        raise TypeError(f"outputs must hold real numbers, got dtype {Y.dtype}")
    one = Y.ndim == 1
    if one:
        Y = Y[:, None]
    if Y.ndim != 2 or Y.shape[1] == 0:
        raise ValueError(f"outputs must be 1-D or 2-D (n_subsets, n_target), got shape {np.shape(outputs)}")
    if Y.shape[0] != m:
        raise ValueError(f"masks have {m} subsets (rows) but outputs have {Y.shape[0]}")
    Y = np.ascontiguousarray(Y, dtype=np.float64)
    if not np.isfinite(Y).all():
        pos = tuple(int(i) for i in np.argwhere(~np.isfinite(Y))[0])
        raise ValueError(f"outputs contain NaN or inf (first at subset {pos[0]}, target {pos[1]}: {Y[pos]})")
    return Y, one


def _check_penalty(value, name: str, T: int):
    if isinstance(value, str):
        if value != "cv":
            raise ValueError(
                f"{name} must be a non-negative number, an array of one per target, or 'cv', got {value!r}"
            )
        return "cv"
    arr = np.asarray(value)
    if arr.dtype.kind not in "biuf" or arr.dtype == bool:
        raise TypeError(f"{name} must be a non-negative number, an array of one per target, or 'cv'")
    arr = np.broadcast_to(arr.astype(np.float64), (T,)) if arr.ndim == 0 else arr.astype(np.float64)
    if arr.shape != (T,):
        raise ValueError(f"{name} must be a number or have one entry per target ({T}), got shape {arr.shape}")
    if not (np.isfinite(arr).all() and (arr >= 0).all()):
        raise ValueError(f"{name} must be finite and >= 0, got {value!r}")
    return np.ascontiguousarray(arr)


def datamodels(
    masks,
    outputs,
    *,
    method="lasso",
    l1="cv",
    l2="cv",
    validation=0.1,
    n_lambdas=100,
    eps=1e-3,
    tol=1e-7,
    max_sweeps=100_000,
    early_stop=True,
    constant="error",
    n_jobs=None,
    progress=True,
) -> DatamodelResult:
    """Linear datamodels: regress each target's output on the subset masks.

    For each target (column of ``outputs``) finds theta, theta_0 with
    ``output(S) ~ theta_0 + sum_{i in S} theta_i``. The masks are standardised internally
    (column mean mu_i and population standard deviation sigma_i over the subsets); the weights
    returned are on the original 0/1 scale (theta_i = w_i / sigma_i, theta_0 = mean(y) -
    sum_i theta_i mu_i). A point in every subset or in none has weight 0.

    - ``method="lasso"``: w minimises scikit-learn's ``Lasso(alpha=l1)`` objective on the
      standardised masks, ``(1 / 2m) ||y - mean(y) - Xs w||^2 + l1 ||w||_1``, by coordinate
      descent on the Gram matrix (warm starts along the path, sequential strong rule, KKT checks).
      With ``l1="cv"`` (the protocol of MadryLab's datamodels): the last ``validation`` fraction
      of the subsets is held out; each target walks its own path of ``n_lambdas`` penalties from
      lambda_max (all weights zero) down to ``eps * lambda_max``, fitted on the other subsets, and
      keeps the penalty of least validation error (with ``early_stop``, the path ends once that
      error has not improved for 3 penalties after at least 10); the model is then refitted on
      all subsets at that penalty. A number (or one per target) fits that penalty on all subsets.
    - ``method="ridge"``: w minimises ``Ridge(alpha=l2)``'s ``||y - mean(y) - Xs w||^2 + l2 ||w||^2``;
      ``l2="cv"`` chooses per target from 25 values m * 10^[-3, 3] by the same held-out subsets, then refits.

    Parameters
    ----------
    masks : SubsetMasks or array_like of shape (m, n_train)
        The subsets (boolean or 0/1 matrix, or packed masks).
    outputs : array_like of shape (m,) or (m, n_target)
        Each model's output on each target, e.g. ``retrain(...).outputs["margin"]``.
    method : {"lasso", "ridge"}, default "lasso"
        The regression.
    l1 : float, array_like of shape (n_target,), or "cv", default "cv"
        Lasso penalty (scikit-learn's ``alpha`` on the standardised masks), or chosen per target.
    l2 : float, array_like of shape (n_target,), or "cv", default "cv"
        Ridge penalty.
    validation : float, default 0.1
        Fraction of the subsets (the last rows) held out when a penalty is chosen.
    n_lambdas : int, default 100
        Lasso path length.
    eps : float, default 1e-3
        Smallest lasso penalty on the path, relative to lambda_max.
    tol : float, default 1e-7
        Coordinate descent stops at a penalty once a full sweep moves no standardised weight by
        more than ``tol`` times the standard deviation of the output.
    max_sweeps : int, default 100000
        Coordinate sweeps per penalty at most (ConvergenceWarning when reached).
    early_stop : bool, default True
        End a cross-validated path once the validation error stops improving.
    constant : {"error", "zero"}, default "error"
        A target whose output is the same on every subset has no datamodel: an error, or zero
        weights with the constant as intercept.
    n_jobs : int, optional
        Threads (None: the OpenMP default). Results are bitwise the same for any value.
    progress : bool, default True
        A progress line on stderr for runs longer than a second.

    Returns
    -------
    DatamodelResult
        ``.weights`` (n_train x n_target), ``.intercept``, ``.penalty`` (``.l1`` / ``.l2``), the
        path and validation errors. Ctrl-C returns the targets done (``complete=False``, NaN for the
        rest) with a StoppedEarlyWarning.

    Raises
    ------
    TypeError
        ``outputs`` is a mapping (pick one output) or does not hold numbers; an argument has the wrong type.
    ValueError
        Masks and outputs disagree in rows, masks are not 0/1, NaN or inf outputs, a constant output
        (with ``constant="error"``), too few subsets to hold out a validation set, an unknown
        method, or a penalty out of range.

    Examples
    --------
    >>> import numpy as np
    >>> import attrib
    >>> masks = attrib.sample_subsets(30, 300, seed=1)
    >>> rng = np.random.default_rng(0)
    >>> theta = np.where(np.arange(30) < 3, 1.0, 0.0)
    >>> y = masks.bool() @ theta + 0.1 * rng.normal(size=300)
    >>> dm = attrib.datamodels(masks, y, progress=False)
    >>> np.round(dm.weights[:4, 0], 1)
    array([1., 1., 1., 0.])
    """
    M = as_masks(masks)
    m, n = M.n_subsets, M.n_train
    Y, _ = _as_outputs(outputs, m)
    T = Y.shape[1]
    if method not in ("lasso", "ridge"):
        raise ValueError(f"method must be 'lasso' or 'ridge', got {method!r}")
    if constant not in ("error", "zero"):
        raise ValueError(f"constant must be 'error' or 'zero', got {constant!r}")
    penalty = _check_penalty(l1 if method == "lasso" else l2, "l1" if method == "lasso" else "l2", T)
    n_lambdas = _check_count(n_lambdas, "n_lambdas", 10_000)
    eps = check_positive(eps, "eps")
    if eps > 1:
        raise ValueError(f"eps must be in (0, 1], got {eps}")
    tol = check_positive(tol, "tol")
    max_sweeps = _check_count(max_sweeps, "max_sweeps")
    early_stop = check_bool(early_stop, "early_stop")
    n_threads = resolve_n_jobs(n_jobs)
    if m < 2:
        raise ValueError(f"datamodels need at least 2 subsets, got {m}")
    if 8 * n * n > GRAM_MAX_BYTES:
        raise ValueError(
            f"the datamodel solver keeps an n_train x n_train Gram matrix: {8 * n * n / 2**30:.1f} GiB for "
            f"n_train={n}, above the {GRAM_MAX_BYTES / 2**30:.0f} GiB limit"
        )
    const = np.ptp(Y, axis=0) == 0
    if const.any() and constant == "error":
        idx = np.flatnonzero(const)
        shown = ", ".join(str(int(i)) for i in idx[:10]) + (", ..." if idx.size > 10 else "")
        raise ValueError(
            f"outputs of {idx.size} target(s) are the same on every subset (targets {shown}): a constant "
            "has no datamodel; drop them, or pass constant='zero' for zero weights"
        )
    rows_all = list(range(m))
    if isinstance(penalty, str):
        if isinstance(validation, bool) or not isinstance(validation, numbers.Real) or not 0 < float(validation) < 1:
            raise ValueError(f"validation must be a fraction in (0, 1), got {validation!r}")
        n_val = max(1, int(round(float(validation) * m)))
        if m - n_val < 2:
            raise ValueError(f"{m} subsets are too few to hold out {n_val} for validation and fit on the rest")
        split = m - n_val
    core = _dispatch.core
    opts = core.LassoOptions(
        n_lambdas=n_lambdas, eps=eps, tol=tol, max_sweeps=max_sweeps, early_stop=bool(early_stop), n_threads=n_threads
    )
    bar = Progress(bool(progress), T, "targets")
    try:
        if method == "ridge":
            res = _ridge(M, Y, penalty, split if isinstance(penalty, str) else m)
        else:
            full = core.MaskDesign(M.packed, n, rows_all, True, n_threads)
            if isinstance(penalty, str):
                train = core.MaskDesign(M.packed, n, rows_all[:split], True, n_threads)
                val = core.MaskDesign(M.packed, n, rows_all[split:], False, n_threads)
                Ytr, Yva = np.ascontiguousarray(Y[:split]), np.ascontiguousarray(Y[split:])

                def call(token, sl):
                    path = core.lasso_path(
                        train, np.ascontiguousarray(Ytr[:, sl]), val, np.ascontiguousarray(Yva[:, sl]), opts, token
                    )
                    if path is None:
                        return None
                    refit = core.lasso_at(
                        full, np.ascontiguousarray(Y[:, sl]), path["lambda"], path["weights"], opts, token
                    )
                    if refit is None:
                        return None
                    refit["lambdas"], refit["val_mse"] = path["lambdas"], path["val_mse"]
                    refit["converged"] = refit["converged"] & path["converged"]
                    return refit
            else:

                def call(token, sl):
                    return core.lasso_at(full, np.ascontiguousarray(Y[:, sl]), penalty[sl], _NO_WARM, opts, token)

            res = _run_targets(call, T, n, n_lambdas, bar)
    finally:
        bar.close()
    weights, intercept, pen, lam_path, val_mse, converged, done = res
    if const.any():  # constant="zero": exact zeros and the constant
        weights[:, const] = 0.0
        intercept[const] = Y[0, const]
    complete = done == T
    if not complete:
        warnings.warn(
            f"datamodels interrupted: returning the {done} of {T} targets done (the rest are NaN)",
            StoppedEarlyWarning,
            stacklevel=2,
        )
    bad = np.flatnonzero(~converged[:done])
    if bad.size:
        warnings.warn(
            f"coordinate descent reached max_sweeps={max_sweeps} before tol={tol:g} for {bad.size} target(s) "
            f"(first: {bad[:5].tolist()}); raise max_sweeps or tol",
            ConvergenceWarning,
            stacklevel=2,
        )
    return DatamodelResult(
        weights,
        intercept,
        pen,
        method,
        lambda_path=lam_path,
        val_mse=val_mse,
        converged=converged,
        complete=complete,
    )


_NO_WARM = np.empty((0, 0))


def _run_targets(call, T, n, n_lambdas, bar):
    """Targets in chunks (multiples of the core's block) with progress and Ctrl-C between them."""
    core = _dispatch.core
    block = int(core.LASSO_BLOCK_TARGETS)
    weights = np.full((n, T), np.nan)
    intercept = np.full(T, np.nan)
    pen = np.full(T, np.nan)
    lam_path = val_mse = None
    converged = np.ones(T, bool)
    sizer = BlockSizer(block, minimum=block, maximum=max(block, 64 * block), multiple=block)
    done = 0
    try:
        with DeferredInterrupt() as interrupt:
            while done < T:
                count = min(sizer.next(T - done), T - done)
                sl = slice(done, done + count)
                t0 = time.perf_counter()
                out = interrupt.run(lambda token, sl=sl: call(token, sl), core.CancelToken)
                weights[:, sl] = out["weights"]
                intercept[sl] = out["intercept"]
                pen[sl] = out["lambda"]
                if out["lambdas"].shape[1]:
                    if lam_path is None:
                        lam_path = np.full((T, out["lambdas"].shape[1]), np.nan)
                        val_mse = np.full_like(lam_path, np.nan)
                    lam_path[sl] = out["lambdas"]
                    val_mse[sl] = out["val_mse"]
                converged[sl] = out["converged"]
                done += count
                sizer.record(count, time.perf_counter() - t0)
                bar.update(done)
                if interrupt.hit:
                    raise KeyboardInterrupt
    except KeyboardInterrupt:
        pass
    return weights, intercept, pen, lam_path, val_mse, converged, done


def _standardised(B: np.ndarray):
    mu = B.mean(axis=0)
    sigma = B.std(axis=0)
    Xs = np.zeros(B.shape)
    ok = sigma > 0
    Xs[:, ok] = (B[:, ok] - mu[ok]) / sigma[ok]
    return Xs, mu, sigma


def _ridge_fit(Xs, Yc, l2):
    G = Xs.T @ Xs
    G[np.diag_indices_from(G)] += l2
    try:
        return np.linalg.solve(G, Xs.T @ Yc)
    except np.linalg.LinAlgError:
        raise ValueError(f"the ridge system is singular at l2={l2:g}; use l2 > 0") from None


def _ridge(M: SubsetMasks, Y: np.ndarray, penalty, split: int):
    """Ridge datamodels in numpy (one eigendecomposition of the Gram matrix for the whole grid)."""
    B = M.bool().astype(np.float64)
    m, n = B.shape
    T = Y.shape[1]
    lam_path = val_mse = None
    if isinstance(penalty, str):
        grid = m * np.logspace(-3, 3, 25)
        Xs, mu, sigma = _standardised(B[:split])
        ybar = Y[:split].mean(axis=0)
        evals, V = np.linalg.eigh(Xs.T @ Xs)
        proj = V.T @ (Xs.T @ (Y[:split] - ybar))  # n x T
        Bv = B[split:]
        scale = np.where(sigma > 0, 1.0 / np.where(sigma > 0, sigma, 1.0), 0.0)
        val_mse = np.empty((T, grid.size))
        for g, lam in enumerate(grid):
            W = V @ (proj / (evals + lam)[:, None])
            theta = W * scale[:, None]
            pred = Bv @ theta + (ybar - mu @ theta)
            val_mse[:, g] = ((Y[split:] - pred) ** 2).mean(axis=0)
        best = np.argmin(val_mse, axis=1)
        penalty = grid[best]
        lam_path = np.broadcast_to(grid, (T, grid.size)).copy()
    Xs, mu, sigma = _standardised(B)
    ybar = Y.mean(axis=0)
    Yc = Y - ybar
    weights = np.empty((n, T))
    for lam in np.unique(penalty):
        cols = np.flatnonzero(penalty == lam)
        weights[:, cols] = _ridge_fit(Xs, Yc[:, cols], lam)
    ok = sigma > 0
    weights[ok] /= sigma[ok, None]
    weights[~ok] = 0.0
    intercept = ybar - mu @ weights
    return weights, intercept, np.asarray(penalty, np.float64), lam_path, val_mse, np.ones(T, bool), T
