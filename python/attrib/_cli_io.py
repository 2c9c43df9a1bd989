"""Files in and out of the ``attrib`` command line: tables from CSV, NPZ or Parquet, and one row
per training point to CSV, NPZ or JSON. Needs numpy only (pyarrow for Parquet, imported when a
Parquet file is read). Every problem with a file is a :class:`CLIError` whose message names the
file, and where it helps the column and row, so the command line can print it without a traceback."""

from __future__ import annotations

import csv
import json
import math
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["CLIError", "Table", "read_table", "split_target", "write_rows"]

#: Exit status for a bad command line or unusable input (missing file or column, non-numeric data).
EXIT_INPUT = 2


class CLIError(Exception):
    """A user error: printed as ``attrib <command>: error: <message>``, exit status ``code``."""

    def __init__(self, message: str, code: int = EXIT_INPUT):
        super().__init__(message)
        self.code = code


@dataclass
class Table:
    """Named columns read from one file; ``columns[name]`` is a 1-D array (float64, or str where a
    column is not numeric), or for NPZ files with an ``X`` matrix, ``matrix`` holds it."""

    path: str
    names: list[str]
    columns: dict[str, np.ndarray]
    matrix: np.ndarray | None = None
    n_rows: int = 0


_MISSING = {"", "na", "nan", "n/a", "null", "none"}


def _format_of(path: str) -> str:
    ext = os.path.splitext(path)[1].lower()
    if path.lower().endswith((".csv.gz", ".tsv.gz")):
        ext = os.path.splitext(path[:-3])[1].lower()
    formats = {".csv": "csv", ".tsv": "csv", ".txt": "csv", ".npz": "npz", ".parquet": "parquet", ".pq": "parquet"}
    if ext not in formats:
        raise CLIError(f"{path}: unknown file type {ext or '(no suffix)'!r}; use .csv, .tsv, .npz or .parquet")
    return formats[ext]


def read_table(path: str) -> Table:
    """Read a CSV (header row), NPZ or Parquet file.

    CSV cells that parse as numbers make float64 columns; a column with any other text stays a
    column of strings (usable as class labels, refused as features). NPZ files hold either an
    ``X`` matrix (with ``y`` and optional ``feature_names``) or named 1-D arrays.
    """
    if not os.path.exists(path):
        raise CLIError(f"{path}: no such file")
    if os.path.isdir(path):
        raise CLIError(f"{path}: is a directory, not a data file")
    kind = _format_of(path)
    try:
        if kind == "csv":
            return _read_csv(path)
        if kind == "npz":
            return _read_npz(path)
        return _read_parquet(path)
    except CLIError:
        raise
    except (OSError, ValueError, KeyError, EOFError) as exc:
        raise CLIError(f"{path}: cannot read it as {kind.upper()}: {exc}") from None


def _read_csv(path: str) -> Table:
    import gzip

    opener = gzip.open if path.lower().endswith(".gz") else open
    delimiter = "\t" if ".tsv" in path.lower() else ","
    with opener(path, "rt", newline="") as fh:
        rows = list(csv.reader(fh, delimiter=delimiter))
    rows = [r for r in rows if any(cell.strip() for cell in r)]
    if not rows:
        raise CLIError(f"{path}: the file is empty")
    header = [h.strip() for h in rows[0]]
    if all(_is_number(h) for h in header):
        raise CLIError(f"{path}: the first line must name the columns (it holds numbers: {','.join(header[:4])}...)")
    if len(set(header)) != len(header):
        dup = sorted({h for h in header if header.count(h) > 1})
        raise CLIError(f"{path}: duplicate column names {dup}")
    body = rows[1:]
    if not body:
        raise CLIError(f"{path}: no data rows below the header")
    for i, r in enumerate(body):
        if len(r) != len(header):
            raise CLIError(f"{path}: line {i + 2} has {len(r)} fields but the header names {len(header)} columns")
    columns = {}
    for j, name in enumerate(header):
        cells = [r[j].strip() for r in body]
        columns[name] = _parse_column(cells)
    return Table(path, header, columns, n_rows=len(body))


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _parse_column(cells: list[str]) -> np.ndarray:
    try:
        return np.array([float(c) for c in cells], dtype=np.float64)
    except ValueError:
        return np.array(cells, dtype=str)


def _read_npz(path: str) -> Table:
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    if not arrays:
        raise CLIError(f"{path}: the archive holds no arrays")
    if "X" in arrays:
        X = arrays.pop("X")
        if X.ndim != 2:
            raise CLIError(f"{path}: X must be a 2-D array, got shape {X.shape}")
        names = [str(s) for s in arrays.pop("feature_names", np.arange(X.shape[1]).astype(str))]
        if len(names) != X.shape[1]:
            raise CLIError(f"{path}: feature_names has {len(names)} names but X has {X.shape[1]} columns")
        columns = {}
        for k, v in arrays.items():
            if v.ndim == 1 and v.shape[0] == X.shape[0]:
                columns[k] = v
        return Table(path, names + list(columns), columns, matrix=X, n_rows=X.shape[0])
    columns = {}
    n = None
    for k, v in arrays.items():
        if v.ndim != 1:
            raise CLIError(f"{path}: array {k!r} has shape {v.shape}; without an 'X' matrix every array is one column")
        if n is not None and v.shape[0] != n:
            raise CLIError(f"{path}: array {k!r} has {v.shape[0]} rows, the others {n}")
        n = v.shape[0]
        columns[k] = v
    return Table(path, list(columns), columns, n_rows=int(n or 0))


def _read_parquet(path: str) -> Table:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise CLIError(
            f"{path}: reading Parquet needs pyarrow, which is not installed: pip install pyarrow "
            "(or save the data as CSV or NPZ)"
        ) from None
    table = pq.read_table(path)
    columns = {}
    for name in table.column_names:
        col = table.column(name)
        if col.null_count:
            columns[name] = np.array([np.nan if v is None else v for v in col.to_pylist()], dtype=object)
        else:
            columns[name] = col.to_numpy()
    return Table(path, list(table.column_names), columns, n_rows=table.num_rows)


def _column(table: Table, name: str, *, role: str) -> np.ndarray:
    if name in table.columns:
        return table.columns[name]
    if table.matrix is not None and name in table.names:
        return table.matrix[:, table.names.index(name)]
    shown = ", ".join(table.names[:12]) + (", ..." if len(table.names) > 12 else "")
    raise CLIError(f"{table.path}: no column {name!r} (the {role}); its columns are: {shown}")


def _numeric(values: np.ndarray, table: Table, name: str) -> np.ndarray:
    """A float64 copy of a column, or a CLIError naming the column and the first bad row."""
    arr = np.asarray(values)
    if arr.dtype.kind in "biuf":
        out = arr.astype(np.float64)
    else:
        out = np.empty(arr.shape[0], dtype=np.float64)
        for i, v in enumerate(arr.tolist()):
            if v is None or (isinstance(v, str) and v.strip().lower() in _MISSING):
                raise CLIError(f"{table.path}: column {name!r} row {i + 1} holds a missing value; attrib needs numbers")
            try:
                out[i] = float(v)
            except (TypeError, ValueError):
                raise CLIError(f"{table.path}: column {name!r} is not numeric: row {i + 1} holds {v!r}") from None
    bad = ~np.isfinite(out)
    if bad.any():
        i = int(np.argmax(bad))
        what = "a missing value (NaN)" if np.isnan(out[i]) else repr(float(out[i]))
        raise CLIError(f"{table.path}: column {name!r} row {i + 1} holds {what}; attrib needs finite numbers")
    return out


def split_target(
    table: Table, target: str | None, *, features: list[str] | None = None, labels: bool = False, role: str = "data"
):
    """``(X, y, feature_names)``: the target column and the numeric feature columns (all but the
    target, or the named ``features``). Class labels (``labels=True``) may be text."""
    if target is None:
        for guess in ("y", "target", "label"):
            if guess in table.names:
                target = guess
                break
        else:
            raise CLIError(
                f"{table.path}: name the target column with --target (no column is called y, target or label); "
                f"its columns are: {', '.join(table.names[:12])}"
            )
    y_raw = _column(table, target, role="target")
    if labels and np.asarray(y_raw).dtype.kind not in "biuf":
        y = np.asarray([str(v) for v in np.asarray(y_raw).tolist()])
        missing = [i for i, v in enumerate(y.tolist()) if v.strip().lower() in _MISSING]
        if missing:
            raise CLIError(f"{table.path}: column {target!r} row {missing[0] + 1} holds a missing label")
    else:
        y = _numeric(y_raw, table, target)
    if features is not None:
        names = list(features)
        for name in names:
            _column(table, name, role="feature")
    elif table.matrix is not None:
        names = [nm for nm in table.names[: table.matrix.shape[1]] if nm != target]
    else:
        names = [nm for nm in table.names if nm != target]
    if not names:
        raise CLIError(f"{table.path}: no feature columns besides the target {target!r}")
    if table.matrix is not None and features is None:
        keep = [j for j, nm in enumerate(table.names[: table.matrix.shape[1]]) if nm != target]
        X = table.matrix[:, keep]
        if X.dtype.kind not in "biuf":
            raise CLIError(f"{table.path}: X is not numeric (dtype {X.dtype})")
        X = X.astype(np.float64)
        bad = ~np.isfinite(X)
        if bad.any():
            i, j = np.unravel_index(int(np.argmax(bad)), X.shape)
            raise CLIError(f"{table.path}: X[{i}, {j}] (column {names[j]!r}) is {X[i, j]}; attrib needs finite numbers")
    else:
        X = np.column_stack([_numeric(_column(table, nm, role="feature"), table, nm) for nm in names])
    return np.ascontiguousarray(X), y, names


def _json_value(v):
    if isinstance(v, (float, np.floating)):
        return float(v) if math.isfinite(v) else None
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.bool_):
        return bool(v)
    return v


def write_rows(path: str, columns: dict[str, np.ndarray], meta: dict) -> None:
    """Write one row per training point: ``columns`` (name -> 1-D array, the same length) to CSV,
    NPZ or JSON by the suffix of ``path`` (``-`` writes CSV to stdout). The file is written to a
    temporary name and renamed, so a failed run never leaves half a file."""
    import sys

    if path == "-":
        _write_csv(sys.stdout, columns)
        return
    ext = os.path.splitext(path)[1].lower()
    if ext not in (".csv", ".npz", ".json"):
        raise CLIError(f"--output {path}: unknown file type {ext or '(no suffix)'!r}; use .csv, .npz or .json")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise CLIError(f"--output {path}: the folder {folder} does not exist")
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        if ext == ".csv":
            with open(tmp, "w", newline="") as fh:
                _write_csv(fh, columns)
        elif ext == ".npz":
            with open(tmp, "wb") as fh:
                arrays: dict[str, Any] = dict(columns)
                arrays.update({f"meta_{k}": np.asarray(v) for k, v in meta.items() if v is not None})
                np.savez(fh, **arrays)
        else:
            names = list(columns)
            n = len(next(iter(columns.values()))) if columns else 0
            rows = [{nm: _json_value(columns[nm][i]) for nm in names} for i in range(n)]
            with open(tmp, "w") as fh:
                json.dump({"meta": {k: _json_value(v) for k, v in meta.items()}, "rows": rows}, fh, indent=None)
                fh.write("\n")
        os.replace(tmp, path)
    except OSError as exc:
        raise CLIError(f"--output {path}: cannot write it: {exc}") from None
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _write_csv(fh, columns: dict[str, np.ndarray]) -> None:
    writer = csv.writer(fh, lineterminator="\n")
    names = list(columns)
    writer.writerow(names)
    arrays = [np.asarray(columns[nm]) for nm in names]
    n = len(arrays[0]) if arrays else 0
    for i in range(n):
        writer.writerow([_csv_cell(a[i]) for a in arrays])


def _csv_cell(v) -> str:
    if isinstance(v, (float, np.floating)):
        return repr(float(v))  # round-trips exactly
    return str(v)
