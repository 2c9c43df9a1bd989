"""Checkpoints of long jobs: a safe file format, fingerprints, and the save-every-N-blocks policy.

A checkpoint is one ``.npz`` file (a zip of ``.npy`` arrays, read back with
``allow_pickle=False``, so loading never runs code) holding the job's numeric state and one
array ``__header__``: UTF-8 JSON with the format name and version, the job ("data_shapley",
"knn_shapley", ...), the attrib version, the run's *fingerprint* and a SHA-256 digest of every
array's dtype, shape and bytes. It is written to a temporary file in the same directory, flushed
to disk and moved over the old one with ``os.replace`` (atomic on POSIX and Windows), so a crash
or SIGKILL at any moment leaves either the previous checkpoint or the new one, never a mix.

The fingerprint says what the state means: a digest of the data (every array's dtype, shape
and bytes), the seed, the method and every option that changes the numbers, and the attrib
version. :func:`load` refuses (ValueError, naming what differs) a checkpoint whose fingerprint
differs from the run's, one of another job, and one that is truncated, corrupted or not a
checkpoint at all; nothing is ever mixed into a run silently. Options that only decide *when*
a run stops (``max_permutations``, ``rtol``, ``time_budget``...) are not fingerprinted, so a
finished run can be resumed to run longer.

How a future long job uses this: build a fingerprint with :func:`fingerprint` (hash its arrays
with :func:`array_digest`), open the run with :func:`open_run` (which loads the state when
resuming), give its state as a dict of arrays to :meth:`Checkpointer.save` (the block runner in
``_blocks.py`` does this every N blocks, at Ctrl-C and at the end), and restore it from
``Checkpointer.arrays``.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
import time
import zipfile

import numpy as np

from ._validation import check_bool
from ._version import __version__

__all__ = ["Checkpointer", "array_digest", "callable_digest", "fingerprint", "load", "open_run", "save"]

FORMAT = "attrib-checkpoint"
FORMAT_VERSION = 1
_HEADER = "__header__"
#: Without ``checkpoint_every``, a checkpoint is written about this often (seconds), and at the end.
DEFAULT_SECONDS = 30.0


def array_digest(a) -> str:
    """SHA-256 of an array's dtype, shape and bytes (numbers and strings; objects by their repr)."""
    arr = np.asarray(a)
    h = hashlib.sha256()
    if arr.dtype.kind == "O":
        h.update(b"O" + repr(arr.shape).encode() + repr(arr.tolist()).encode())
    else:
        h.update(arr.dtype.str.encode() + repr(arr.shape).encode())
        h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()


def callable_digest(func) -> str:
    """A digest of a Python callable's name and code (best effort: the values it closes over or
    reads from globals are not seen). A scikit-learn estimator is described by its parameters."""
    h = hashlib.sha256()
    if hasattr(func, "get_params"):
        h.update(type(func).__qualname__.encode())
        h.update(repr(sorted((k, repr(v)) for k, v in func.get_params(deep=True).items())).encode())
        return h.hexdigest()
    code = getattr(func, "__code__", None)
    if code is None:
        call = vars(type(func)).get("__call__")  # a callable object: its class's method
        code = getattr(call, "__code__", None)
    h.update(getattr(func, "__qualname__", type(func).__qualname__).encode())
    if code is not None:
        h.update(code.co_code)
        h.update(repr(code.co_consts).encode())
        h.update(repr(code.co_names).encode())
    return h.hexdigest()


def fingerprint(*, job: str, data: dict, seed, options: dict) -> dict:
    """The fingerprint of a run: ``data`` maps names to arrays (or digests), ``options`` to
    JSON-representable values that change the numbers."""
    return {
        "job": job,
        "attrib_version": __version__,
        "seed": None if seed is None else int(seed),
        "data": {k: v if isinstance(v, str) else array_digest(v) for k, v in data.items()},
        "options": json.loads(json.dumps(options, default=repr)),
    }


def _state_digest(arrays: dict) -> str:
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.asarray(arrays[name], order="C")
        h.update(name.encode() + b"\0" + a.dtype.str.encode() + repr(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def save(path, fp: dict, arrays: dict, meta: dict | None = None) -> None:
    """Write a checkpoint atomically (temporary file in the same directory, fsync, os.replace)."""
    path = os.fspath(path)
    arrays = {k: np.asarray(v, order="C") for k, v in arrays.items()}
    for k, a in arrays.items():
        if a.dtype.kind not in "biuf":
            raise TypeError(f"checkpoint array {k!r} must be numeric, got {a.dtype}")
    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "fingerprint": fp,
        "meta": meta or {},
        "digest": _state_digest(arrays),
        "written": time.time(),
    }
    blob = np.frombuffer(json.dumps(header, sort_keys=True).encode(), dtype=np.uint8)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=os.path.basename(path) + ".", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **{_HEADER: blob, **arrays})
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    try:  # make the rename itself durable (POSIX); harmless where directories cannot be opened
        dfd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


def _describe_difference(path, want: dict, got: dict) -> str:
    if got.get("job") != want["job"]:
        return f"it was written by {got.get('job')!r}, not {want['job']!r}"
    if got.get("attrib_version") != want["attrib_version"]:
        return f"it was written by attrib {got.get('attrib_version')}, this is attrib {want['attrib_version']}"
    gd, wd = got.get("data", {}), want["data"]
    changed = sorted(k for k in set(gd) | set(wd) if gd.get(k) != wd.get(k))
    if changed:
        return f"it was written for other data ({', '.join(changed)} differ)"
    if got.get("seed") != want["seed"]:
        return f"it was written with seed={got.get('seed')}, this run has seed={want['seed']}"
    go, wo = got.get("options", {}), want["options"]
    changed = sorted(k for k in set(go) | set(wo) if go.get(k) != wo.get(k))
    if changed:
        parts = [f"{k}={go.get(k)!r} there, {wo.get(k)!r} here" for k in changed]
        return "it was written with other options: " + "; ".join(parts)
    return "its fingerprint differs"


def load(path, fp: dict) -> tuple[dict, dict]:
    """(arrays, meta) of a checkpoint written for fingerprint ``fp``; ValueError otherwise."""
    path = os.fspath(path)
    try:
        with open(path, "rb") as fh, np.load(fh, allow_pickle=False) as z:
            if _HEADER not in z.files:
                raise ValueError("no header")
            header = json.loads(bytes(z[_HEADER]).decode())
            arrays = {k: z[k] for k in z.files if k != _HEADER}
    except (zipfile.BadZipFile, OSError, EOFError, KeyError, ValueError, UnicodeDecodeError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise ValueError(
            f"{path} is not a readable attrib checkpoint (truncated, corrupted or another kind of file: "
            f"{type(exc).__name__}: {exc}); delete it to start afresh"
        ) from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ValueError(f"{path} is not an attrib checkpoint")
    if header.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"{path} is a checkpoint of format version {header.get('format_version')}, not {FORMAT_VERSION}"
        )
    if header.get("digest") != _state_digest(arrays):
        raise ValueError(f"{path} is corrupted (its arrays do not match the digest in its header); delete it")
    got = header.get("fingerprint", {})
    if got != fp:
        raise ValueError(
            f"cannot resume from {path}: {_describe_difference(path, fp, got)}. A checkpoint is only "
            "resumed by the same job on the same data with the same seed and options; delete it or "
            "pass another checkpoint file"
        )
    return arrays, header.get("meta", {})


class Checkpointer:
    """Saves a job's state to ``path`` every ``every`` blocks (int), or about every
    :data:`DEFAULT_SECONDS` seconds (``every=None``), and on demand (Ctrl-C, the end)."""

    def __init__(self, path, fp: dict, every=None, arrays=None, meta=None):
        self.path = os.fspath(path)
        self.fp = fp
        self.every = every
        self.arrays = arrays  # the loaded state when resuming, else None
        self.meta = meta or {}
        self._blocks = 0
        self._last = time.perf_counter()
        self.writes = 0

    @property
    def resumed(self) -> bool:
        return self.arrays is not None

    def due(self) -> bool:
        """Count one merged block; whether a periodic save is due."""
        self._blocks += 1
        if self.every is None:
            return time.perf_counter() - self._last >= DEFAULT_SECONDS
        return self._blocks % self.every == 0

    def save(self, arrays: dict, meta: dict | None = None) -> None:
        save(self.path, self.fp, arrays, meta)
        self._last = time.perf_counter()
        self.writes += 1


def check_every(value):
    """``checkpoint_every``: None or a positive integer number of blocks."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"checkpoint_every must be a positive integer (blocks) or None, got {type(value).__name__}")
    if value < 1:
        raise ValueError(f"checkpoint_every must be at least 1, got {value}")
    return int(value)


def open_run(checkpoint, resume, checkpoint_every, fp: dict) -> Checkpointer | None:
    """The checkpointer for a run (None without ``checkpoint``), with the state loaded when
    ``resume`` is True and the file exists. A fresh run refuses to overwrite an existing file."""
    resume = check_bool(resume, "resume")
    every = check_every(checkpoint_every)
    if checkpoint is None:
        if resume:
            raise ValueError("resume=True needs checkpoint=, the file to resume from")
        if every is not None:
            raise ValueError("checkpoint_every needs checkpoint=, the file to write")
        return None
    if not isinstance(checkpoint, (str, os.PathLike)):
        raise TypeError(f"checkpoint must be a path (str or os.PathLike), got {type(checkpoint).__name__}")
    path = os.fspath(checkpoint)
    if os.path.isdir(path):
        raise ValueError(f"checkpoint {path!r} is a directory, not a file")
    if os.path.exists(path):
        if not resume:
            raise FileExistsError(
                f"checkpoint {path!r} exists: pass resume=True to continue that run, or delete the file "
                "(or pick another name) to start a new one"
            )
        arrays, meta = load(path, fp)
        return Checkpointer(path, fp, every, arrays, meta)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise ValueError(f"checkpoint {path!r}: the directory {folder!r} does not exist")
    return Checkpointer(path, fp, every)


def scalar(arrays: dict, name: str, default=math.nan) -> float:
    a = arrays.get(name)
    return default if a is None else float(np.asarray(a).reshape(-1)[0])
