"""Random projection (Johnson-Lindenstrauss) of gradient batches, on CPU and CUDA, from one
counter-based random stream.

:class:`Projector` maps a batch ``G`` (B x p, e.g. per-example gradients) to ``G @ P`` (B x dim)
without ever storing the p x dim matrix ``P``. Every entry of ``P`` is a pure function of
``(seed, model_id, row, column)`` through Philox4x32-10 (the generator attrib uses everywhere), so
the matrix is the same, entry for entry, on the CPU for any thread count, on any GPU for any grid,
and for any chunking of the feature axis. Long gradients can therefore be projected layer by
layer: ``project(G[:, a:b], feature_offset=a)`` summed over the pieces is the projection of the
whole (up to the order of the float additions).

Entries are scaled so that ``E |G @ P|^2 = |G|^2`` (a JL embedding): ``+-1/sqrt(dim)``
(Rademacher), ``N(0, 1/dim)`` (Gaussian) or, for the sparse JL transform, ``nnz_per_column``
entries ``+-1/sqrt(nnz_per_column)`` per input coordinate, one in each of ``nnz_per_column``
blocks of the output coordinates. ``cpp/include/attrib/projection_entries.hpp`` defines the bits.

This module matches the C++ family (``projection.hpp``, ``projection.cpp``, ``bind_projection.cpp``,
``cpp/cuda/projection.cu``) and its tests (``tests/test_projection*.py``).
"""

from __future__ import annotations

import hashlib
import numbers
import operator

import numpy as np

from . import _dispatch
from ._validation import _to_array, resolve_n_jobs

__all__ = ["Projector", "cuda_available"]

_KINDS = ("rademacher", "gaussian", "sparse")
_MAX_FEATURES = 1 << 48
_MAX_DIM = (1 << 31) - 1
_MAX_MODEL_ID = (1 << 16) - 1
#: Entries ``matrix()`` materialises at most (larger slices must be asked for piece by piece).
_MAX_MATRIX_ENTRIES = 1 << 28
#: Multiply-adds one kernel call aims at (about a tenth of a second on a laptop core pair), so
#: that Ctrl-C is honoured between calls within a second.
_CALL_WORK = 1e10
#: Version of the entry definition (projection_entries.hpp); part of :attr:`Projector.fingerprint`.
ENTRY_VERSION = 1


def _int_in(value, name: str, lo: int, hi: int) -> int:
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be an integer, got bool")
    try:
        value = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}") from None
    if not lo <= value <= hi:
        raise ValueError(f"{name} must be in [{lo}, {hi}], got {value}")
    return int(value)


def _cuda_module():
    """The CUDA extension, or a ValueError saying why it cannot be used."""
    try:
        from . import _cuda
    except ImportError as exc:
        raise ValueError(
            "device='cuda' needs attrib's CUDA extension, which this installation does not have "
            "(build from source with nvcc on PATH and ATTRIB_WITH_CUDA=ON; "
            f"import failed: {exc})"
        ) from None
    count, why = _cuda.device_count()
    if count < 1:
        raise ValueError(f"device='cuda': attrib's CUDA extension is built, but no GPU is usable ({why})")
    return _cuda


def cuda_available() -> bool:
    """Whether ``device="cuda"`` works here: the CUDA extension is built and a GPU is visible.

    Returns
    -------
    bool

    Examples
    --------
    >>> import attrib
    >>> isinstance(attrib.cuda_available(), bool)
    True
    """
    try:
        _cuda_module()
    except ValueError:
        return False
    return True


def _index_list(value, name: str, n: int):
    """rows/cols for matrix(): None (all), an int, a slice, a range or integer array-like, as a range
    (not materialised: its length is checked first) or an int64 array."""
    if value is None:
        return range(n)
    if isinstance(value, slice):
        return range(n)[value]
    if isinstance(value, range):
        if len(value) and (min(value[0], value[-1]) < 0 or max(value[0], value[-1]) >= n):
            raise ValueError(f"{name} = {value} is out of range [0, {n})")
        return value
    if isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_)):
        value = [int(value)]
    arr = np.asarray(value)
    if arr.ndim != 1 or (arr.size and arr.dtype.kind not in "iu"):
        raise TypeError(f"{name} must be None, an integer, a slice, a range or a 1-D integer array")
    arr = arr.astype(np.int64)
    bad = (arr < 0) | (arr >= n)
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"{name}[{i}] = {arr[i]} is out of range [0, {n})")
    return arr


def _as_int64(idx) -> np.ndarray:
    if isinstance(idx, range):
        return np.arange(idx.start, idx.stop, idx.step, dtype=np.int64)
    return idx


class Projector:
    """A random projection ``G -> G @ P`` whose matrix is never stored.

    Parameters
    ----------
    n_features : int
        Rows of ``P``: the length of the full feature (gradient) vector, up to 2**48.
    dim : int
        Columns of ``P``: the projected dimension (any value >= 1; no multiple of 512 needed).
    kind : {"rademacher", "gaussian", "sparse"}, default "rademacher"
        Entries ``+-1/sqrt(dim)``, ``N(0, 1/dim)``, or the sparse JL transform (see
        ``nnz_per_column``).
    seed : int, default 0
        Any integer in [0, 2**64). Together with ``model_id`` it fixes the matrix.
    model_id : int, default 0
        The checkpoint (model) number in [0, 65535]: each gets an independent matrix, with no
        seed arithmetic that could alias two of them.
    nnz_per_column : int or None, default None
        For ``kind="sparse"``: nonzeros per input coordinate (each input column of ``G`` goes to
        this many output coordinates with random signs, scaled by ``1/sqrt(nnz_per_column)``).
        None means ``min(8, dim)``. Must be None for the dense kinds.
    dtype : numpy float dtype, default numpy.float32
        float32 or float64: the precision of the computation and of the result (the batch is
        converted to it, chunk by chunk, when it has another dtype). Sums accumulate in this type.
    device : {"cpu", "cuda"}, default "cpu"
        ``"cuda"`` needs the CUDA extension (built when nvcc is found) and a GPU; it accepts torch
        or CuPy CUDA arrays without a host round trip (``__cuda_array_interface__``) and returns
        one of the same library, and copies numpy arrays to the GPU and back.
    n_jobs : int or None, default None
        CPU threads (None follows OpenMP). The result is bitwise the same for any value.

    Attributes
    ----------
    n_features, dim, kind, seed, model_id, nnz_per_column, dtype, device, n_jobs
        The parameters, as validated (``dtype`` a ``numpy.dtype``; ``nnz_per_column`` None for
        the dense kinds).
    scale : float
        The factor applied to the unscaled entries (+-1, N(0, 1), sparse signs).
    fingerprint : str
        A short hash of the entry definition, the parameters and a few golden entries: equal
        fingerprints mean equal matrices (store it with projected features).

    Raises
    ------
    ValueError
        A parameter out of range (``dim`` < 1, ``model_id`` > 65535, ``dim > n_features`` or
        ``nnz_per_column > dim`` for ``kind="sparse"``), an unknown ``kind``, or ``device="cuda"``
        where the CUDA extension or a GPU is missing (the message says which).
    TypeError
        A parameter of the wrong type.

    Notes
    -----
    ``project(G)`` computes ``scale * (G @ S)`` with ``S`` the unscaled entries, so it equals
    ``G @ P.matrix(...)`` up to float rounding. On the CPU, tiles of 256 features x 256 output
    columns of ``S`` are generated into a cache-resident buffer and multiplied into the batch with
    Eigen's GEMM, each block of the output summed by one thread in feature order: the bits do not
    depend on ``n_jobs``. One call and any split of the same call into chunks whose boundaries are
    multiples of 256 features (the facade does this to honour Ctrl-C) give identical bits;
    projecting pieces separately and adding the results agrees to float rounding (about 1e-6
    relative in float32).

    Examples
    --------
    >>> import numpy as np
    >>> import attrib
    >>> P = attrib.Projector(1000, 64, kind="rademacher", seed=0)
    >>> G = np.random.default_rng(0).normal(size=(4, 1000)).astype(np.float32)
    >>> Y = P.project(G)
    >>> Y.shape, Y.dtype
    ((4, 64), dtype('float32'))
    >>> parts = P.project(G[:, :600]) + P.project(G[:, 600:], feature_offset=600)
    >>> bool(np.allclose(parts, Y, rtol=1e-5, atol=1e-5))
    True
    >>> M = P.matrix(range(1000))          # rows = input features, columns = output dims
    >>> bool(np.allclose(G @ M, Y, rtol=1e-4, atol=1e-4))
    True
    """

    def __init__(
        self,
        n_features,
        dim,
        kind="rademacher",
        seed=0,
        model_id=0,
        nnz_per_column=None,
        dtype=np.float32,
        device="cpu",
        n_jobs=None,
    ):
        self._n_features = _int_in(n_features, "n_features", 1, _MAX_FEATURES)
        self._dim = _int_in(dim, "dim", 1, _MAX_DIM)
        if not isinstance(kind, str) or kind not in _KINDS:
            raise ValueError(f"kind must be one of {', '.join(map(repr, _KINDS))}, got {kind!r}")
        self._kind = kind
        self._seed = _int_in(seed, "seed", 0, (1 << 64) - 1)
        self._model_id = _int_in(model_id, "model_id", 0, _MAX_MODEL_ID)
        if kind == "sparse":
            if self._dim > self._n_features:
                raise ValueError(
                    f"dim ({self._dim}) must not exceed n_features ({self._n_features}) for kind='sparse': "
                    "a sparse sketch into more coordinates than it has inputs only adds zeros"
                )
            nnz = (
                min(8, self._dim) if nnz_per_column is None else _int_in(nnz_per_column, "nnz_per_column", 1, _MAX_DIM)
            )
            if nnz > self._dim:
                raise ValueError(f"nnz_per_column ({nnz}) must not exceed dim ({self._dim})")
            self._nnz: int | None = nnz
        else:
            if nnz_per_column is not None:
                raise ValueError(f"nnz_per_column applies to kind='sparse' only, not kind={kind!r}")
            self._nnz = None
        try:
            dt = np.dtype(dtype)
        except TypeError:
            raise TypeError(f"dtype must be numpy.float32 or numpy.float64, got {dtype!r}") from None
        if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
            raise TypeError(f"dtype must be numpy.float32 or numpy.float64, got {dt}")
        self._dtype = dt
        if not isinstance(device, str) or device not in ("cpu", "cuda"):
            raise ValueError(f"device must be 'cpu' or 'cuda', got {device!r}")
        if device == "cuda":
            _cuda_module()  # fails now, with the reason, rather than at the first project()
        self._device = device
        resolve_n_jobs(n_jobs)  # validate now
        self._n_jobs = n_jobs

    # ------------------------------------------------------------------ attributes
    n_features = property(lambda self: self._n_features, doc="Rows of P (input features).")
    dim = property(lambda self: self._dim, doc="Columns of P (output dimensions).")
    kind = property(lambda self: self._kind, doc="'rademacher', 'gaussian' or 'sparse'.")
    seed = property(lambda self: self._seed, doc="The seed.")
    model_id = property(lambda self: self._model_id, doc="The checkpoint number.")
    nnz_per_column = property(lambda self: self._nnz, doc="Nonzeros per input coordinate (sparse), else None.")
    dtype = property(lambda self: self._dtype, doc="float32 or float64.")
    device = property(lambda self: self._device, doc="'cpu' or 'cuda'.")
    n_jobs = property(lambda self: self._n_jobs, doc="CPU threads (None: OpenMP default).")

    @property
    def scale(self) -> float:
        """The factor applied to the unscaled entries: 1/sqrt(dim), or 1/sqrt(nnz_per_column)."""
        return float(_dispatch.core.projection_scale(self._spec()))

    @property
    def fingerprint(self) -> str:
        """A 16-hex-digit hash of the entry definition, the parameters and golden entries."""
        h = hashlib.sha256()
        h.update(repr((ENTRY_VERSION, self._kind, self._seed, self._model_id, self._n_features)).encode())
        h.update(repr((self._dim, self._nnz)).encode())
        rows = np.arange(min(4, self._n_features))
        cols = np.arange(min(4, self._dim))
        h.update(_dispatch.core.projection_matrix_f64(self._spec(), rows, cols, 1).tobytes())
        return h.hexdigest()[:16]

    def __repr__(self) -> str:
        extra = f", nnz_per_column={self._nnz}" if self._nnz is not None else ""
        return (
            f"Projector(n_features={self._n_features}, dim={self._dim}, kind={self._kind!r}, seed={self._seed}, "
            f"model_id={self._model_id}{extra}, dtype={self._dtype.name}, device={self._device!r})"
        )

    def __eq__(self, other) -> bool:
        if not isinstance(other, Projector):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def _key(self):
        return (self._kind, self._seed, self._model_id, self._n_features, self._dim, self._nnz)

    def _spec(self, core=None):
        core = _dispatch.core if core is None else core
        kind = getattr(core.ProjectionKind, self._kind)
        return core.ProjectionSpec(
            kind, self._seed, self._model_id, self._n_features, self._dim, self._nnz if self._nnz else 1
        )

    # ------------------------------------------------------------------ matrix
    def matrix(self, rows=None, cols=None) -> np.ndarray:
        """Materialise a slice of ``P`` (for tests, checks, and small problems).

        Parameters
        ----------
        rows : None, int, slice, range or 1-D integer array, default None
            Input-feature indices (rows of ``P``); None means all ``n_features``.
        cols : None, int, slice, range or 1-D integer array, default None
            Output dimensions (columns of ``P``); None means all ``dim``.

        Returns
        -------
        numpy.ndarray
            ``P[rows][:, cols]``, shape ``(len(rows), len(cols))``, in :attr:`dtype`, computed on
            the CPU (the GPU generates the same entries). So ``project(G, feature_offset=a)``
            equals ``G @ matrix(range(a, a + G.shape[1]))`` up to float rounding.

        Raises
        ------
        ValueError
            An index out of range, or a slice of more than 2**28 entries.
        TypeError
            Indices that are not integers.

        Examples
        --------
        >>> import attrib
        >>> P = attrib.Projector(10, 4, kind="rademacher")
        >>> M = P.matrix(range(3))
        >>> M.shape
        (3, 4)
        >>> bool((abs(M) == 0.5).all())
        True
        """
        r = _index_list(rows, "rows", self._n_features)
        c = _index_list(cols, "cols", self._dim)
        nr, nc = len(r), len(c)
        if nr * nc > _MAX_MATRIX_ENTRIES:
            raise ValueError(
                f"matrix({nr} rows x {nc} cols) would materialise {nr * nc} entries; ask for "
                f"slices of at most {_MAX_MATRIX_ENTRIES} entries (project() never materialises P)"
            )
        r, c = _as_int64(r), _as_int64(c)
        core = _dispatch.core
        fn = core.projection_matrix_f32 if self._dtype == np.float32 else core.projection_matrix_f64
        return fn(self._spec(core), r, c, resolve_n_jobs(self._n_jobs))

    # ------------------------------------------------------------------ project
    def project(self, G, feature_offset=0):
        """Project a batch: ``G @ P[feature_offset : feature_offset + G.shape[1]]``.

        Parameters
        ----------
        G : array-like, shape (B, p_chunk) or (p_chunk,)
            The batch (float32 or float64; other real dtypes are converted). Any row-major view,
            e.g. a column slice of a wider array, is read without a copy. With ``device="cuda"``,
            a torch or CuPy CUDA array is read on the device.
        feature_offset : int, default 0
            Where the chunk starts in the full feature vector, so that a long gradient can be
            projected layer by layer and the parts summed.

        Returns
        -------
        numpy.ndarray, or a torch / CuPy CUDA array for a CUDA input
            Shape (B, dim) (or (dim,) for a 1-D ``G``), in :attr:`dtype`.

        Raises
        ------
        ValueError
            ``G`` empty, not 1-D/2-D, holding NaN or inf (the message gives the first position),
            or ``feature_offset + G.shape[1] > n_features``.
        TypeError
            ``G`` not real numbers, or a CUDA array passed to a ``device="cpu"`` projector.
        KeyboardInterrupt
            Ctrl-C: the projection is long and runs in chunks, so it stops within about a second.

        Examples
        --------
        >>> import numpy as np
        >>> import attrib
        >>> P = attrib.Projector(50, 8, kind="sparse", nnz_per_column=2)
        >>> P.project(np.ones(50)).shape
        (8,)
        """
        if hasattr(G, "__cuda_array_interface__"):
            if self._device != "cuda":
                raise TypeError(
                    "G is a CUDA array but this Projector has device='cpu': pass device='cuda', or copy G to the host"
                )
            from ._projection_cuda import project_device

            return project_device(self, G, feature_offset)
        arr = _to_array(G, "G")
        squeeze = arr.ndim == 1
        if squeeze:
            arr = arr[None, :]
        if arr.ndim != 2:
            raise ValueError(f"G must be 2-D (batch, features) or 1-D, got {arr.ndim}-D array of shape {arr.shape}")
        if arr.shape[0] == 0 or arr.shape[1] == 0:
            raise ValueError(f"G must have at least one row and one column, got shape {arr.shape}")
        B, p = arr.shape
        offset = _int_in(feature_offset, "feature_offset", 0, self._n_features - 1)
        if offset + p > self._n_features:
            raise ValueError(
                f"G has {p} features starting at feature_offset={offset}, which ends at {offset + p} beyond "
                f"n_features={self._n_features}"
            )
        if self._device == "cuda":
            from ._projection_cuda import project_host

            Y = project_host(self, arr, offset)
        else:
            Y = self._project_cpu(arr, offset)
        if not np.isfinite(Y).all():
            self._raise_not_finite(arr)
        return Y[0] if squeeze else Y

    def _project_cpu(self, arr: np.ndarray, offset: int) -> np.ndarray:
        core = _dispatch.core
        spec = self._spec(core)
        n_threads = resolve_n_jobs(self._n_jobs)
        f32 = self._dtype == np.float32
        kernel = core.projection_accumulate_f32 if f32 else core.projection_accumulate_f64
        B, p = arr.shape
        Y = np.zeros((B, self._dim), dtype=self._dtype)
        # Chunks of whole feature tiles, each one short kernel call: between calls Python handles
        # Ctrl-C. Tile-aligned chunks add in exactly the order of one call (same bits).
        tile = int(core.PROJECTION_FEATURE_TILE)
        per_feature = B * (self._nnz if self._nnz else self._dim)
        step = max(tile, int(_CALL_WORK // max(per_feature, 1)) // tile * tile)
        item = self._dtype.itemsize
        for a in range(0, p, step):
            chunk = arr[:, a : a + step]
            usable = (
                chunk.dtype == self._dtype
                and (chunk.strides[1] == item or chunk.shape[1] == 1)
                and (B == 1 or (chunk.strides[0] >= chunk.shape[1] * item and chunk.strides[0] % item == 0))
            )
            if not usable:
                chunk = np.ascontiguousarray(chunk, dtype=self._dtype)
            kernel(spec, chunk, offset + a, Y, n_threads)
        Y *= self._dtype.type(self.scale)
        return Y

    def _raise_not_finite(self, arr: np.ndarray):
        bad = np.argwhere(~np.isfinite(arr))
        if bad.size:
            r, c = (int(v) for v in bad[0])
            raise ValueError(f"G contains NaN or inf (first at row {r}, column {c}: {arr[r, c]})")
        raise ValueError(
            f"the projection of G overflowed {self._dtype.name} (G is finite but too large: rescale it, "
            "or use dtype=numpy.float64)"
        )
