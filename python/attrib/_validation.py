"""Input checks shared by every public function (see the bad-input catalogue in the docs).

Arrays are converted once to C-contiguous float64 here, so the kernels receive them without a
further copy; float32, integer, boolean, Fortran-ordered and strided inputs therefore cost one copy.
"""

from __future__ import annotations

import numbers
import operator
import sys
import types
import warnings

import numpy as np

from . import _dispatch
from .exceptions import ThreadCountWarning

__all__ = [
    "as_float_matrix",
    "as_float_vector",
    "as_labels",
    "check_alpha",
    "check_binary_labels",
    "check_bool",
    "check_counts",
    "check_positive",
    "check_sample_weight",
    "column_names",
    "encode_labels",
    "resolve_n_jobs",
]

_BAD_KINDS = {
    "O": "object",
    "U": "string",
    "S": "bytes",
    "c": "complex",
    "M": "datetime",
    "m": "timedelta",
    "V": "void",
}


def _is_numeric_pandas(value) -> bool:
    """A pandas Series or DataFrame whose columns are all numeric (numpy or nullable dtypes)."""
    dtypes = getattr(value, "dtypes", None)
    if dtypes is None or not hasattr(value, "to_numpy"):
        return False
    dtypes = dtypes if getattr(value, "ndim", 1) == 2 else [dtypes]
    return all(getattr(t, "kind", "O") in "biuf" for t in dtypes)


def _to_array(value, name: str) -> np.ndarray:
    if value is None:
        raise TypeError(f"{name} must be an array, got None")
    if isinstance(value, np.ma.MaskedArray):
        # np.asarray would drop the mask and use the hidden values as data.
        raise TypeError(
            f"{name} is a numpy masked array: attrib does not skip masked entries; pass {name}.filled(value) "
            "or drop the masked rows"
        )
    if _is_numeric_pandas(value):
        # A pandas frame of numeric (also nullable, e.g. Int64) columns: missing values become NaN,
        # reported with their position, rather than an object array of mixed types.
        return value.to_numpy(dtype=np.float64, na_value=np.nan)
    arr = np.asarray(value)
    if arr.dtype.kind in _BAD_KINDS:
        raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype} ({_BAD_KINDS[arr.dtype.kind]})")
    return arr


def _check_finite(arr: np.ndarray, name: str) -> None:
    # A finite sum proves every entry finite (NaN and inf propagate; a sum of finite numbers that
    # overflows is inf and falls through to the exact test) and costs a third less than
    # isfinite(arr).all(), which also allocates an array of the input's size.
    with np.errstate(over="ignore", invalid="ignore"):
        total = arr.sum()
    if np.isfinite(total) or np.isfinite(arr).all():
        return
    pos = tuple(int(i) for i in np.argwhere(~np.isfinite(arr))[0])
    where = f"index {pos[0]}" if len(pos) == 1 else f"row {pos[0]}, column {pos[1]}"
    raise ValueError(f"{name} contains NaN or inf (first at {where}: {arr[pos]})")


def as_float_matrix(X, name: str = "X", *, n_features: int | None = None) -> np.ndarray:
    """X as a C-contiguous float64 2-D array with at least one row and column, all finite."""
    arr = _to_array(X, name)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n_samples, n_features), got {arr.ndim}-D array of shape {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name} must have at least one row and one column, got shape {arr.shape}")
    if n_features is not None and arr.shape[1] != n_features:
        raise ValueError(f"{name} has {arr.shape[1]} features but the training data has {n_features}")
    arr = np.ascontiguousarray(arr, dtype=np.float64)
    _check_finite(arr, name)
    return arr


def _one_per_row(arr: np.ndarray, name: str, n: int, what: str) -> np.ndarray:
    """arr as a 1-D array of length n; a single column (n, 1) is accepted."""
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got {arr.ndim}-D array of shape {arr.shape}")
    if arr.shape[0] != n:
        raise ValueError(f"{what} has {n} rows but {name} has {arr.shape[0]}")
    return arr


def as_float_vector(y, name: str, n: int, *, what: str = "X") -> np.ndarray:
    """y as a C-contiguous float64 vector of length n; a single column (n, 1) is accepted."""
    arr = _one_per_row(_to_array(y, name), name, n, what)
    arr = np.ascontiguousarray(arr, dtype=np.float64)
    _check_finite(arr, name)
    return arr


def check_sample_weight(sample_weight, n: int) -> np.ndarray | None:
    """None (unit weights) or a float64 vector of non-negative weights, not all zero."""
    if sample_weight is None:
        return None
    if isinstance(sample_weight, numbers.Real) and not isinstance(sample_weight, bool):
        sample_weight = np.full(n, float(sample_weight))
    w = as_float_vector(sample_weight, "sample_weight", n)
    if (w < 0).any():
        i = int(np.argmax(w < 0))
        raise ValueError(f"sample_weight must be non-negative (index {i} is {w[i]})")
    if not (w > 0).any():
        raise ValueError("sample_weight is zero for every row: there is nothing to fit")
    return w


def check_bool(value, name: str) -> bool:
    """True or False (numpy booleans included); anything else is a TypeError."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def check_alpha(alpha, name: str = "alpha") -> float:
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(alpha).__name__}")
    alpha = float(alpha)
    if not np.isfinite(alpha) or alpha < 0:
        raise ValueError(f"{name} must be finite and >= 0, got {alpha}")
    return alpha


def _caller_stacklevel() -> int:
    """The stacklevel of the first frame outside attrib, so a warning names the user's line."""
    frame: types.FrameType | None = sys._getframe(1)
    level = 1
    while frame is not None and frame.f_globals.get("__name__", "").split(".")[0] == "attrib":
        frame, level = frame.f_back, level + 1
    return level


def resolve_n_jobs(n_jobs) -> int:
    """scikit-learn's convention: None follows OpenMP (OMP_NUM_THREADS, threadpoolctl), n > 0 is
    exact, n < 0 means (threads + 1 + n), 0 is an error; more than the core's ``max_threads()`` (a
    few per CPU) are capped with a ThreadCountWarning. Returns -1 for "OpenMP default"."""
    if n_jobs is None:
        return -1
    try:
        n_jobs = operator.index(n_jobs)
    except TypeError:
        raise TypeError(f"n_jobs must be an integer or None, got {type(n_jobs).__name__}") from None
    if n_jobs == 0:
        raise ValueError("n_jobs must not be 0 (use None for the default, or a positive count)")
    if n_jobs < 0:
        n_jobs = max(1, _dispatch.core.default_num_threads() + 1 + n_jobs)
    cap = _dispatch.core.max_threads()
    if n_jobs > cap:
        # Thousands of threads cannot all be started (OpenMP then aborts the process) and far
        # more threads than CPUs only add overhead; results do not depend on the count.
        warnings.warn(
            f"n_jobs={n_jobs} is more than this machine's thread cap ({cap}: a few per CPU); using {cap}",
            ThreadCountWarning,
            stacklevel=_caller_stacklevel(),
        )
        return cap
    return n_jobs


def column_names(X) -> list[str] | None:
    """Column labels of a pandas DataFrame (or anything with .columns), else None."""
    cols = getattr(X, "columns", None)
    if cols is None or getattr(X, "ndim", 2) != 2:
        return None
    return [str(c) for c in cols]


def _two_numeric_classes(arr: np.ndarray):
    """np.unique(arr) when arr is numeric and holds exactly two values (by min and max, without
    sorting: np.unique costs as much as a GLM gradient pass at n = 100,000); else None."""
    if arr.dtype.kind not in "biuf" or arr.size == 0:
        return None
    lo, hi = arr.min(), arr.max()
    if lo == hi or not ((arr == lo) | (arr == hi)).all():
        return None
    return np.array([lo, hi], dtype=arr.dtype)


def check_binary_labels(y, name: str, n: int, *, classes=None) -> tuple[np.ndarray, np.ndarray]:
    """Two-class labels as float64 0/1 (the larger label is 1, as in scikit-learn) and the classes.

    With ``classes`` given (the training classes), labels outside them are an error."""
    if y is None:
        raise TypeError(f"{name} must be an array, got None")
    arr = _one_per_row(np.asarray(y), name, n, "X")
    if arr.dtype.kind in "fc":
        _check_finite(arr, name)
    if classes is None:
        classes = _two_numeric_classes(arr)
    if classes is None:
        classes = np.unique(arr)
        if classes.size != 2:
            shown = ", ".join(repr(c.item() if hasattr(c, "item") else c) for c in classes[:5])
            raise ValueError(
                f"{name} must hold exactly two classes for family='logistic', got {classes.size} ({shown}"
                f"{', ...' if classes.size > 5 else ''})"
                + ("; for more classes use family='multinomial'" if classes.size > 2 else "")
            )
    bad = ~np.isin(arr, classes)
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"{name} has a label not among the training classes {list(classes)} (index {i}: {arr[i]!r})")
    return (arr == classes[1]).astype(np.float64), classes


def check_counts(y, name: str, n: int) -> np.ndarray:
    """Non-negative float64 targets for family='poisson' (non-integer values are allowed: rates)."""
    arr = as_float_vector(y, name, n)
    if (arr < 0).any():
        i = int(np.argmax(arr < 0))
        raise ValueError(f"{name} must be non-negative counts for family='poisson' (index {i} is {arr[i]})")
    return arr


def as_labels(y, name: str, n: int, *, what: str = "X") -> np.ndarray:
    """Class labels as a 1-D array of length n (integers, booleans, strings or integral floats)."""
    if y is None:
        raise TypeError(f"{name} must be an array of class labels, got None")
    arr = _one_per_row(np.asarray(y), name, n, what)
    if arr.dtype.kind in "cMmV" or (arr.dtype.kind == "O" and n and not isinstance(arr[0], (str, numbers.Integral))):
        raise TypeError(f"{name} must hold class labels (integers or strings), got dtype {arr.dtype}")
    if arr.dtype.kind == "f":
        _check_finite(arr, name)
        if (arr != np.round(arr)).any():
            i = int(np.argmax(arr != np.round(arr)))
            raise ValueError(f"{name} must hold class labels, but index {i} is {arr[i]} (not an integer)")
    return arr


def encode_labels(y: np.ndarray, y_test: np.ndarray, *, min_classes: int = 2):
    """Integer codes (int64) of y and y_test over the classes of y; errors when y has fewer than
    `min_classes` classes. Test labels absent from y get code -1 (never a match)."""
    classes = np.unique(y)
    if classes.size < min_classes:
        raise ValueError(f"y must hold at least {min_classes} classes, got {classes.size} ({classes.tolist()[:5]})")
    codes = np.searchsorted(classes, y).astype(np.int64)
    pos = np.clip(np.searchsorted(classes, y_test), 0, classes.size - 1)
    test_codes = np.where(classes[pos] == y_test, pos, -1).astype(np.int64)
    return classes, codes, test_codes


def check_seed(seed, name: str = "seed") -> int:
    """A seed of the counter-based streams: an integer in [0, 2**64) (the Philox key)."""
    if isinstance(seed, (bool, np.bool_)):
        raise TypeError(f"{name} must be an integer, got bool")
    try:
        seed = operator.index(seed)
    except TypeError:
        raise TypeError(f"{name} must be an integer in [0, 2**64), got {type(seed).__name__}") from None
    if not 0 <= seed < 2**64:
        raise ValueError(f"{name} must be an integer in [0, 2**64), got {seed}")
    return int(seed)


def check_positive(value, name: str, *, integer: bool = False, allow_none: bool = False):
    """A finite number > 0 (an integer when asked), or None when allowed."""
    if value is None and allow_none:
        return None
    if integer:
        if isinstance(value, (bool, np.bool_)):
            raise TypeError(f"{name} must be a positive integer, got bool")
        try:
            value = operator.index(value)
        except TypeError:
            raise TypeError(f"{name} must be a positive integer, got {type(value).__name__}") from None
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
        return int(value)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a positive number, got {type(value).__name__}")
    value = float(value)
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be finite and > 0, got {value}")
    return value


#: Columns whose mean exceeds this many standard deviations are centred (see offset_column_means).
CENTRE_RATIO = 8.0
#: Rows sampled (a fixed stride) to decide whether to centre: the check stays O(d) per call.
CENTRE_SAMPLE_ROWS = 4096


def offset_column_means(X: np.ndarray) -> np.ndarray | None:
    """The column means of X when some column sits far from zero relative to its spread, else None.

    With an intercept, a model is the same for X and X - c (only the intercept moves by c' coef),
    but the Hessian of a column offset by m standard deviations has a condition number ~ m^2 worse:
    an offset of 1e8 on unit-variance data makes it numerically singular. Models with an intercept
    (glm_loo, the logistic utility) therefore run on X - mean for such data (one copy, made only
    then), so that answers do not move with a translation of X. The check reads a fixed subsample
    of rows, so it costs O(d) per call."""
    n = X.shape[0]
    S = X[:: max(1, n // CENTRE_SAMPLE_ROWS)]
    m = S.mean(axis=0)
    spread = S.std(axis=0)
    if not np.any(np.abs(m) > CENTRE_RATIO * spread):
        return None
    return X.mean(axis=0)
