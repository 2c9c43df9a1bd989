"""TRAK: attribution from projected gradients, ensembled over checkpoints (Park et al. 2023).

For one checkpoint with training features ``Phi`` (n x k, one row per training point: the
projected gradient of the model output, TRAK's correct-class margin) and out-to-loss weights
``Q`` (``1 - p(correct)`` for classification), the score of training point i for test point j is

    tau(i, j) = Q_i * phi_i' (Phi' Phi + lambda I)^-1 phi_test_j

Positive: training point i raises test point j's output. This is one Newton step of leave-one-out
for a logistic regression on the features with two terms dropped (reference: Pregibon 1981, TRAK
section 3): the GLM weights R = diag(p (1 - p)) inside the kernel, and the leverage factor
1 / (1 - h_i). ``estimator="newton"`` keeps both, and then equals the change of the test margin
that :func:`attrib.glm_loo`'s Newton step predicts when the features are a logistic regression's
design (see ``tests/test_trak.py``).

Over checkpoints m = 1..M the scores are averaged uniformly, as in the paper:
``tau = Qbar * (1/M) sum_m Phi_m G_m^-1 phi_m`` with ``Qbar`` the mean of the checkpoints'
out-to-loss weights. ``weighting="trak"`` reproduces MadryLab's ``traker`` 0.3.2 instead, which
divides each checkpoint's ``G_m^-1`` by ``mean |G_m^-1|`` (a weighted mean over checkpoints), and
``score(soft_threshold=...)`` applies the paper's soft-thresholding.

Every kernel is factored once per checkpoint (Cholesky in float64 of a Gram matrix accumulated in
float64 from float32 features); scores are formed in tiles of training rows, so a memory-mapped
``.npy`` of features larger than memory works, ``top_k`` never holds the n x T matrix, and Ctrl-C
takes effect between tiles.

``compute_dtype=numpy.float32`` trades digits for about twice the speed of the two products that
dominate (the Gram matrix, n k^2 / 2, and the scores, n k T): both run as float32 GEMMs, the Gram
matrix summed in float32 over blocks of 256 rows and in float64 across blocks, while the Cholesky
factor, its condition estimate and the solves for the test points stay float64. The scores then
differ from the float64 ones by about ``(cond(G) 2^-24 sqrt(256) + 2^-24 sqrt(k)) |Q_i| |phi_i|
|G^-1 phi_test|`` (Gram rounding amplified by the kernel's condition number, plus a k-term float32
dot product), that is ~1e-5 of the largest score for a well-conditioned kernel; MadryLab's traker
computes in float32 (or float16) throughout.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import _dispatch
from ._loo import DEFAULT_MAX_BYTES, ILL_CONDITIONED_RCOND, LEVERAGE_ONE_TOL, DataGuard, check_dense_size, describe_rows
from ._validation import check_alpha, check_positive, check_seed, resolve_n_jobs
from .exceptions import IllConditionedWarning, LeverageOneWarning

__all__ = ["TRAK", "TRAKTopK"]

ESTIMATORS = ("trak", "newton")
WEIGHTINGS = ("uniform", "trak")
#: Below this reciprocal condition number the kernel counts as singular (an error that suggests
#: lambda_reg); below ILL_CONDITIONED_RCOND, a warning.
SINGULAR_RCOND = 1e-14
#: The lambda_reg suggested for an ill-conditioned kernel: this times its 1-norm (a bound on its
#: largest eigenvalue), which puts its condition number near 1 / SUGGEST_RCOND.
SUGGEST_RCOND = 1e-6
#: Test points solved per kernel call (a multiple of the core's test block of 64).
TEST_ROWS_PER_CALL = 1024
COMPUTE_DTYPES = (np.dtype(np.float64), np.dtype(np.float32))
#: score(top_k=...) takes the test points in chunks of this many (a multiple of TEST_ROWS_PER_CALL):
#: memory O(n k + n_test top_k + checkpoints x chunk x k), the training features read once per chunk.
TOPK_TEST_CHUNK = 4096


def _rows_per_call(k: int) -> int:
    """Training rows per kernel call: a function of k alone (the Gram matrix sums the calls in
    order, so the split must not vary), a multiple of the core's row tile, about 2^22 entries
    (a few tenths of a second per call at k = 2048: Ctrl-C is honoured between calls)."""
    tile = int(_dispatch.core.TRAK_ROW_TILE)
    return max(tile, (2**22 // max(k, 1)) // tile * tile)


def _check_choice(value, name: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError(f"{name} must be one of {list(choices)}, got {value!r}")
    return value


def _as_matrix(X, name: str):
    """A 2-D numeric array without copying (memory-mapped arrays stay mapped); a path names a .npy
    file, opened memory-mapped."""
    if isinstance(X, (str, os.PathLike)):
        X = np.load(X, mmap_mode="r")
    if X is None:
        raise TypeError(f"{name} must be an array, got None")
    if not isinstance(X, np.ndarray):
        X = np.asarray(X)
    if X.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got dtype {X.dtype}")
    if X.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n_samples, n_features), got {X.ndim}-D array of shape {X.shape}")
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"{name} must have at least one row and one column, got shape {X.shape}")
    return X


def _chunk_f32(X, r0: int, r1: int, name: str) -> np.ndarray:
    """Rows r0..r1 of X as C-contiguous float32 (a view when X already is), checked finite."""
    c = np.ascontiguousarray(X[r0:r1], dtype=np.float32)
    with np.errstate(over="ignore", invalid="ignore"):
        total = c.sum(dtype=np.float64)
    if not np.isfinite(total) and not np.isfinite(c).all():
        r, j = (int(v) for v in np.argwhere(~np.isfinite(c))[0])
        raise ValueError(f"{name} contains NaN or inf (first at row {r0 + r}, column {j}: {c[r, j]})")
    return c


def _check_compute_dtype(dtype) -> np.dtype:
    if dtype is None:  # np.dtype(None) would silently mean float64
        raise TypeError("compute_dtype must be numpy.float64 or numpy.float32, got None")
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"compute_dtype must be numpy.float64 or numpy.float32, got {dtype!r}") from None
    if dt not in COMPUTE_DTYPES:
        raise TypeError(f"compute_dtype must be numpy.float64 or numpy.float32, got {dt}")
    return dt


def _check_projector(P, name: str = "projector"):
    for attr in ("n_features", "dim", "project"):
        if not hasattr(P, attr):
            raise TypeError(
                f"{name} must have n_features, dim and project(G, feature_offset=0), got {type(P).__name__}"
            )
    return P


def _default_projector(n_features: int, dim: int, seed: int, model_id: int):
    try:
        from .projection import Projector
    except ImportError as exc:
        raise ImportError(
            "TRAK(projector=None) projects gradients with attrib.Projector, which this build of attrib does not "
            "have; pass projector= (an object with n_features, dim and project(G, feature_offset=0)), or pass "
            "features already projected to dim columns"
        ) from exc
    return Projector(n_features, dim, seed=seed, model_id=model_id)


@dataclass
class _Checkpoint:
    features: np.ndarray  # n x k float32 (or a read-only memory map)
    out_to_loss: np.ndarray  # n, float64
    projector: Any  # None: the features were given projected
    chol: np.ndarray  # k x k lower Cholesky factor of Phi' W Phi + lambda I
    rcond: float
    weight: float  # 1, or traker's 1 / mean |G^-1|
    leverage: np.ndarray | None  # newton: h_i = R_i phi_i' G^-1 phi_i
    quad: np.ndarray | None  # newton: phi_i' G^-1 phi_i
    guard: DataGuard  # features and out_to_loss may be the caller's arrays: edits after add are caught


@dataclass
class TRAKTopK:
    """The ``k`` most positive (proponents) and most negative (opponents) training points per test
    point, from :meth:`TRAK.score` with ``top_k``.

    Each array is (n_test, k), best first: proponents by decreasing score, opponents by increasing
    score. Ties go to the lower training index; NaN scores rank last.

    Attributes
    ----------
    proponent_idx, opponent_idx : ndarray of int64, shape (n_test, k)
        Training indices.
    proponent_val, opponent_val : ndarray of float64, shape (n_test, k)
        Their scores.
    """

    proponent_idx: np.ndarray
    proponent_val: np.ndarray
    opponent_idx: np.ndarray
    opponent_val: np.ndarray


class TRAK:
    """TRAK scores from per-checkpoint projected gradients.

    Parameters
    ----------
    projector : object or list of objects, optional
        Projects per-example gradients: anything with ``n_features``, ``dim`` and
        ``project(G, feature_offset=0)`` returning ``G @ P`` (an :class:`attrib.Projector`), or one
        such object per checkpoint. Given, every ``train_features`` and test array is a gradient
        matrix with ``n_features`` columns and is projected. None: arrays with ``dim`` columns are
        features already projected (say by :func:`attrib.torch.featurize`) and used as they are;
        wider arrays are gradients, projected with ``attrib.Projector(p, dim, seed=seed,
        model_id=<checkpoint index>)``.
    dim : int, default 2048
        Projection dimension k when ``projector`` is None.
    lambda_reg : float, default 0.0
        Ridge term added to every kernel: ``Phi' Phi + lambda_reg I``.
    seed : int, default 0
        Seed of the default projector.
    estimator : {"trak", "newton"}, default "trak"
        ``"trak"``: the paper's estimator ``Q_i phi_i' (Phi' Phi)^-1 phi``. ``"newton"``: the
        one-step Newton leave-one-out of a logistic regression on the features, keeping what TRAK
        drops: ``Q_i phi_i' (Phi' R Phi)^-1 phi / (1 - h_i)`` with ``R_i = Q_i (1 - Q_i)`` and
        ``h_i = R_i phi_i' (Phi' R Phi)^-1 phi_i``; it needs ``0 <= out_to_loss <= 1``.
    weighting : {"uniform", "trak"}, default "uniform"
        How checkpoints are averaged: uniformly (the paper), or as MadryLab's ``traker`` does, each
        checkpoint's inverse kernel divided by the mean absolute value of its entries (costs one
        k x k inverse per checkpoint).
    compute_dtype : {numpy.float64, numpy.float32}, default numpy.float64
        Precision of the Gram matrix and score products. float64 (the default) is what the 1e-8
        Newton-step oracle needs. float32 runs both products as float32 GEMMs (the Gram matrix
        summed in float64 across blocks of 256 rows; the Cholesky factor and the test solves stay
        float64), about twice as fast; scores then agree with float64 to about ``cond(G) 1e-6 +
        sqrt(k) 6e-8`` relative to ``|Q_i| |phi_i| |G^-1 phi_test|`` (see the module docstring).
        ``self_influence`` and the newton leverages are computed in float64 either way.
    n_jobs : int, optional
        Threads (None: the OpenMP default). Results are bitwise identical for every value.

    Attributes
    ----------
    n_checkpoints : int
    n_train : int or None
        Training points (None before the first checkpoint).
    dim : int
    rcond, condition_number : list of float
        (Reciprocal) condition number estimate of each checkpoint's kernel (LAPACK-style 1-norm
        estimate from its Cholesky factor). Below 1e-10 (reciprocal) ``add_checkpoint`` warns,
        below 1e-14 it refuses; both messages suggest a ``lambda_reg``.

    Raises
    ------
    TypeError, ValueError
        Arguments of the wrong type or out of range.

    Examples
    --------
    >>> import numpy as np
    >>> import attrib
    >>> rng = np.random.default_rng(0)
    >>> phi = rng.normal(size=(200, 16)).astype(np.float32)        # projected train gradients
    >>> q = rng.uniform(0.1, 0.9, size=200)                        # 1 - p(correct)
    >>> t = attrib.TRAK(dim=16)
    >>> t.add_checkpoint(phi, q)
    >>> scores = t.score(phi[:5])                                  # first 5 points as test points
    >>> scores.shape
    (200, 5)
    >>> top = t.score(phi[:5], top_k=3)
    >>> top.proponent_idx.shape
    (5, 3)
    """

    dim: int
    lambda_reg: float
    seed: int
    estimator: str
    weighting: str
    compute_dtype: np.dtype
    _f32: bool
    _n_threads: int

    def __init__(
        self,
        projector=None,
        dim: int = 2048,
        lambda_reg: float = 0.0,
        seed: int = 0,
        estimator: str = "trak",
        *,
        weighting: str = "uniform",
        compute_dtype=np.float64,
        n_jobs=None,
    ):
        if isinstance(projector, (list, tuple)):
            if not projector:
                raise ValueError("projector is an empty list: give one projector per checkpoint, or None")
            projector = [_check_projector(p) for p in projector]
        elif projector is not None:
            _check_projector(projector)
        self._projector = projector
        self.dim = check_positive(dim, "dim", integer=True)
        self.lambda_reg = check_alpha(lambda_reg, "lambda_reg")
        self.seed = check_seed(seed)
        self.estimator = _check_choice(estimator, "estimator", ESTIMATORS)
        self.weighting = _check_choice(weighting, "weighting", WEIGHTINGS)
        self.compute_dtype = _check_compute_dtype(compute_dtype)
        self._f32 = self.compute_dtype == np.float32
        self._n_threads = resolve_n_jobs(n_jobs)
        self._ckpts: list[_Checkpoint] = []

    # ------------------------------------------------------------------------- properties
    @property
    def n_checkpoints(self) -> int:
        """Checkpoints added so far."""
        return len(self._ckpts)

    @property
    def n_train(self) -> int | None:
        """Training points (None before :meth:`add_checkpoint`)."""
        return self._ckpts[0].features.shape[0] if self._ckpts else None

    @property
    def rcond(self) -> list[float]:
        """Reciprocal condition number estimate (1-norm) of each checkpoint's kernel."""
        return [c.rcond for c in self._ckpts]

    @property
    def condition_number(self) -> list[float]:
        """Condition number estimate (1-norm) of each checkpoint's kernel, ``1 / rcond``."""
        return [1.0 / c.rcond for c in self._ckpts]

    # ------------------------------------------------------------------------- features
    def _projector_for(self, m: int, width: int):
        """The projector of checkpoint m for input of ``width`` columns, or None (already features)."""
        P = self._projector
        if isinstance(P, list):
            if m >= len(P):
                raise ValueError(f"projector lists {len(P)} projectors but checkpoint {m} is being added")
            P = P[m]
        if P is not None:
            if width != P.n_features:
                raise ValueError(
                    f"the features have {width} columns but the projector takes gradients of {P.n_features}"
                )
            return P
        if width == self.dim:
            return None
        if width < self.dim:
            raise ValueError(
                f"the features have {width} columns, fewer than dim={self.dim}: pass dim={width} for features "
                "already projected, or gradients with more than dim columns to project"
            )
        return _default_projector(width, self.dim, self.seed, m)

    def _project(self, X, P, name: str) -> np.ndarray:
        """X (n x p gradients) projected by P to a float32 n x dim array, in row chunks."""
        n = X.shape[0]
        out = np.empty((n, int(P.dim)), dtype=np.float32)
        step = _rows_per_call(X.shape[1])
        for r0 in range(0, n, step):
            r1 = min(n, r0 + step)
            G = _chunk_f32(X, r0, r1, name)
            Z = np.asarray(P.project(G, feature_offset=0))
            if Z.shape != (r1 - r0, int(P.dim)):
                raise ValueError(f"the projector returned shape {Z.shape}, expected {(r1 - r0, int(P.dim))}")
            out[r0:r1] = Z
        return out

    def _features(self, X, name: str, m: int, P):
        """(features as float32 n x k, projector or None) for checkpoint m."""
        if P is not None:
            return self._project(X, P, name)
        if X.dtype == np.float32 and X.flags.c_contiguous:
            return X  # used in place (a memory map stays mapped); finiteness checked chunk by chunk
        out = np.empty(X.shape, dtype=np.float32)
        step = _rows_per_call(X.shape[1])
        for r0 in range(0, X.shape[0], step):
            out[r0 : r0 + step] = _chunk_f32(X, r0, min(X.shape[0], r0 + step), name)
        return out

    def add_checkpoint(self, train_features, out_to_loss) -> None:
        """Add one checkpoint: its training features and out-to-loss weights; factors its kernel.

        Parameters
        ----------
        train_features : array-like of shape (n_train, k) or (n_train, p), or a path to a .npy file
            Projected gradients of the model output (float32 is used in place, without a copy;
            memory-mapped arrays stay mapped and are read in row chunks), or per-example gradients
            to project (see ``projector``). Do not modify the array afterwards: scoring reads it.
        out_to_loss : array-like of shape (n_train,)
            TRAK's Q: ``1 - p(correct)`` of each training point at this checkpoint.

        Raises
        ------
        ValueError
            Mismatched shapes (rows against out_to_loss; rows or dimension against earlier
            checkpoints), NaN or inf, out_to_loss outside [0, 1] with ``estimator="newton"``, or a
            singular kernel (the message suggests ``lambda_reg``).

        Warns
        -----
        IllConditionedWarning
            The kernel's reciprocal condition number is below 1e-10 (the message suggests
            ``lambda_reg``).
        LeverageOneWarning
            ``estimator="newton"``: training points with leverage 1 (their scores are NaN).
        """
        core = _dispatch.core
        m = len(self._ckpts)
        X = _as_matrix(train_features, "train_features")
        n = X.shape[0]
        if self._ckpts and n != self.n_train:
            raise ValueError(f"train_features has {n} rows but the earlier checkpoints have {self.n_train}")
        q = np.asarray(out_to_loss)
        if q.ndim == 2 and q.shape[1] == 1:
            q = q[:, 0]
        if q.ndim != 1 or q.shape[0] != n:
            raise ValueError(f"train_features has {n} rows but out_to_loss has shape {q.shape}")
        if q.dtype.kind not in "biuf":
            raise TypeError(f"out_to_loss must hold real numbers, got dtype {q.dtype}")
        q = np.ascontiguousarray(q, dtype=np.float64)
        if not np.isfinite(q).all():
            i = int(np.argmax(~np.isfinite(q)))
            raise ValueError(f"out_to_loss contains NaN or inf (first at index {i}: {q[i]})")
        if self.estimator == "newton" and ((q < 0) | (q > 1)).any():
            i = int(np.argmax((q < 0) | (q > 1)))
            raise ValueError(f"estimator='newton' needs out_to_loss = 1 - p(correct) in [0, 1] (index {i} is {q[i]})")
        P = self._projector_for(m, X.shape[1])
        F = self._features(X, "train_features", m, P)
        k = F.shape[1]
        if self._ckpts and k != self._ckpts[0].features.shape[1]:
            raise ValueError(
                f"checkpoint {m} has dimension {k} but the earlier checkpoints have {self._ckpts[0].features.shape[1]}"
            )
        w = q * (1.0 - q) if self.estimator == "newton" else np.empty(0)
        G = np.zeros((k, k))
        step = _rows_per_call(k)
        gram = core.trak_gram_f32 if self._f32 else core.trak_gram
        for r0 in range(0, n, step):
            r1 = min(n, r0 + step)
            gram(_chunk_f32(F, r0, r1, "train_features"), w[r0:r1] if w.size else w, G, self._n_threads)
        fac = core.trak_factor(G, self.lambda_reg)
        self._check_factor(fac, n, k, m)
        chol = np.asarray(fac.chol)
        weight = 1.0
        if self.weighting == "trak":
            Linv = np.linalg.inv(chol)  # triangular, from the factor: G^-1 = L^-T L^-1
            weight = 1.0 / float(np.mean(np.abs(Linv.T @ Linv)))
        lev = quad = None
        if self.estimator == "newton":
            quad = self._quad(F, chol)
            lev = w * quad
            bad = np.flatnonzero(1.0 - lev < LEVERAGE_ONE_TOL)
            if bad.size:
                warnings.warn(
                    f"{describe_rows(bad)} of checkpoint {m} have leverage 1: their newton scores are NaN",
                    LeverageOneWarning,
                    stacklevel=2,
                )
        guard = DataGuard(train_features=F, out_to_loss=q)
        self._ckpts.append(_Checkpoint(F, q, P, chol, float(fac.rcond), weight, lev, quad, guard))

    def _check_factor(self, fac, n: int, k: int, m: int) -> None:
        lam = max(SUGGEST_RCOND * float(fac.norm1), np.finfo(float).tiny)
        hint = f"pass lambda_reg >= {lam:.1g} (or more training points than the dimension)"
        if not fac.ok or fac.rcond < SINGULAR_RCOND:
            raise ValueError(
                f"the kernel of checkpoint {m} (Phi' Phi + lambda_reg I, {n} points of dimension {k}) is singular "
                f"or numerically singular (reciprocal condition number {fac.rcond:.2g}); {hint}"
            )
        if fac.rcond < ILL_CONDITIONED_RCOND:
            warnings.warn(
                f"the kernel of checkpoint {m} is ill-conditioned (reciprocal condition number {fac.rcond:.2g}, "
                f"condition number {1 / fac.rcond:.2g}): scores may have lost digits; {hint}",
                IllConditionedWarning,
                stacklevel=3,
            )

    def _quad(self, F, chol) -> np.ndarray:
        n = F.shape[0]
        out = np.empty(n)
        step = _rows_per_call(F.shape[1])
        for r0 in range(0, n, step):
            r1 = min(n, r0 + step)
            out[r0:r1] = _dispatch.core.trak_quad(_chunk_f32(F, r0, r1, "train_features"), chol, self._n_threads)
        return out

    # ------------------------------------------------------------------------- scoring
    def _row_scales(self) -> list[np.ndarray]:
        """Per checkpoint, the factor s_i that multiplies phi_i' G^-1 phi (averaging included).
        Every scoring path starts here, so this is where in-place edits of the stored features are
        caught (the kernels were factored from the arrays as they were when added)."""
        for c in self._ckpts:
            c.guard.check({"train_features": c.features, "out_to_loss": c.out_to_loss}, "TRAK.add_checkpoint")
        M = len(self._ckpts)
        if self.estimator == "trak":
            qbar = np.sum([c.out_to_loss for c in self._ckpts], axis=0) / M
            return [qbar * (c.weight / M) for c in self._ckpts]
        out = []
        for c in self._ckpts:
            assert c.leverage is not None
            with np.errstate(divide="ignore", invalid="ignore"):
                one_minus_h = np.where(1.0 - c.leverage < LEVERAGE_ONE_TOL, np.nan, 1.0 - c.leverage)
                out.append(c.out_to_loss / one_minus_h * (c.weight / M))
        return out

    def _test_arrays(self, test_features) -> list:
        """Per checkpoint, the test features (validated shapes; gradients projected)."""
        M = len(self._ckpts)
        if not self._ckpts:
            raise ValueError("no checkpoint: call add_checkpoint(train_features, out_to_loss) before score()")
        if isinstance(test_features, (list, tuple)):
            if len(test_features) != M:
                raise ValueError(f"test_features has {len(test_features)} arrays but {M} checkpoints were added")
            arrays = list(test_features)
        elif M == 1:
            arrays = [test_features]
        else:
            raise ValueError(f"test_features must be a list of {M} arrays, one per checkpoint, in the order added")
        out, T = [], None
        for m, (c, A) in enumerate(zip(self._ckpts, arrays)):
            name = "test_features" if M == 1 else f"test_features[{m}]"
            X = _as_matrix(A, name)
            if T is not None and X.shape[0] != T:
                raise ValueError(f"{name} has {X.shape[0]} rows but test_features[0] has {T}")
            T = X.shape[0]
            if c.projector is not None:
                if X.shape[1] != c.projector.n_features:
                    raise ValueError(
                        f"{name} has {X.shape[1]} columns but checkpoint {m} projects gradients of "
                        f"{c.projector.n_features}"
                    )
                X = self._project(X, c.projector, name)
            elif X.shape[1] != c.features.shape[1]:
                raise ValueError(
                    f"{name} has {X.shape[1]} columns but checkpoint {m} has dimension {c.features.shape[1]}"
                )
            out.append((X, name))
        return out

    def _solve(self, tests, t0: int, t1: int) -> list[np.ndarray]:
        """Per checkpoint, the rows (G^-1 phi_test_j)' of test points t0..t1."""
        Ys = []
        for c, (X, name) in zip(self._ckpts, tests):
            Y = np.empty((t1 - t0, c.features.shape[1]))
            for a in range(t0, t1, TEST_ROWS_PER_CALL):
                b = min(t1, a + TEST_ROWS_PER_CALL)
                Y[a - t0 : b - t0] = _dispatch.core.trak_solve(c.chol, _chunk_f32(X, a, b, name), self._n_threads)
            Ys.append(Y.astype(np.float32) if self._f32 else Y)
        return Ys

    def _score_rows(self, T: int) -> int:
        """Training rows per scoring call: as for the Gram matrix, and a tile of rows x T of at
        most about 2^22 entries (the top-k buffer), a multiple of the core's row tile."""
        tile = int(_dispatch.core.TRAK_ROW_TILE)
        rows = _rows_per_call(max(c.features.shape[1] for c in self._ckpts))
        return max(tile, min(rows, (2**22 // max(T, 1)) // tile * tile))

    def _tiles(self, Ys, out_rows):
        """Yield (r0, tile) over training row chunks: tile = summed checkpoint scores of those rows,
        written into out_rows(r0, r1) (a view of the dense result, or a scratch buffer)."""
        core = _dispatch.core
        scales = self._row_scales()
        n = self._ckpts[0].features.shape[0]
        step = self._score_rows(Ys[0].shape[0])
        kernel = core.trak_score_rows_f32 if self._f32 else core.trak_score_rows
        for r0 in range(0, n, step):
            r1 = min(n, r0 + step)
            tile = out_rows(r0, r1)
            for m, (c, Y) in enumerate(zip(self._ckpts, Ys)):
                F = _chunk_f32(c.features, r0, r1, "train_features")
                kernel(F, scales[m][r0:r1], Y, tile, m > 0, self._n_threads)
            yield r0, tile

    def score(self, test_features, top_k=None, *, soft_threshold=None, max_bytes: int = DEFAULT_MAX_BYTES):
        """Scores of every training point for each test point.

        Parameters
        ----------
        test_features : list of array-like, or array-like for a single checkpoint
            One (n_test, k) array (or gradients to project, as for training) per checkpoint, in
            the order the checkpoints were added; a bare array when there is one checkpoint.
        top_k : int, optional
            Return a :class:`TRAKTopK` with the ``top_k`` most positive and most negative training
            points per test point, streamed over training tiles in O(n k + n_test top_k) memory.
        soft_threshold : float, optional
            The paper's soft-thresholding ``sign(t) max(|t| - soft_threshold, 0)`` of the
            averaged scores (traker does not apply it).
        max_bytes : int, default 2**31
            Largest dense result built (without ``top_k``).

        Returns
        -------
        ndarray of shape (n_train, n_test), or TRAKTopK with ``top_k``
            Positive: the training point raises the test point's output (model output margin).

        Raises
        ------
        ValueError
            No checkpoint added, the wrong number of arrays, mismatched dimensions or test
            counts, NaN or inf, or a dense result over ``max_bytes``.
        """
        thr = None if soft_threshold is None else check_alpha(soft_threshold, "soft_threshold")
        kk = None if top_k is None else check_positive(top_k, "top_k", integer=True)
        tests = self._test_arrays(test_features)
        n, T = self._ckpts[0].features.shape[0], tests[0][0].shape[0]
        if kk is None:
            check_dense_size(
                n,
                T,
                max_bytes,
                "TRAK.score",
                "pass top_k= for the most positive and negative training points "
                "per test point without it, split the test points, or raise max_bytes",
            )
            out = np.empty((n, T))
            for _ in self._tiles(self._solve(tests, 0, T), lambda r0, r1: out[r0:r1]):
                pass
            if thr is not None:
                np.copysign(np.maximum(np.abs(out) - thr, 0.0), out, out=out)
            return out
        kk = min(kk, n)
        hi_val, lo_val = np.full((T, kk), np.nan), np.full((T, kk), np.nan)
        hi_idx, lo_idx = np.full((T, kk), -1, dtype=np.int64), np.full((T, kk), -1, dtype=np.int64)
        # Test points in chunks, so that the solved test rows (M x chunk x k) and the row tile stay
        # bounded however many test points there are; each chunk streams over the training rows.
        for t0 in range(0, T, TOPK_TEST_CHUNK):
            t1 = min(T, t0 + TOPK_TEST_CHUNK)
            Ys = self._solve(tests, t0, t1)
            buf = np.empty((self._score_rows(t1 - t0), t1 - t0))
            for r0, tile in self._tiles(Ys, lambda r0, r1, buf=buf: buf[: r1 - r0]):
                if thr is not None:
                    np.copysign(np.maximum(np.abs(tile) - thr, 0.0), tile, out=tile)
                _dispatch.core.trak_topk_update(
                    tile, r0, hi_val[t0:t1], hi_idx[t0:t1], lo_val[t0:t1], lo_idx[t0:t1], self._n_threads
                )
        return TRAKTopK(hi_idx, hi_val, lo_idx, lo_val)

    def self_influence(self) -> np.ndarray:
        """Each training point's score for itself, ``tau(i, i)``, without the n x n matrix.

        Returns
        -------
        ndarray of shape (n_train,)
            ``Qbar_i (1/M) sum_m w_m phi_m,i' G_m^-1 phi_m,i`` (for ``estimator="newton"``:
            the mean over checkpoints of ``Q_i q_i / (1 - h_i)``).

        Raises
        ------
        ValueError
            No checkpoint added.
        """
        if not self._ckpts:
            raise ValueError("no checkpoint: call add_checkpoint(train_features, out_to_loss) before self_influence()")
        total = np.zeros(self._ckpts[0].features.shape[0])
        for c, s in zip(self._ckpts, self._row_scales()):
            quad = c.quad if c.quad is not None else self._quad(c.features, c.chol)
            total += s * quad
        return total
