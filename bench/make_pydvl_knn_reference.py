"""Writes tests/data/pydvl_knn_shapley.npz: a small continuous data set (no distance ties) and
pyDVL 0.10's KNNShapleyValuation values on it, so the test suite can compare attrib with pyDVL
without installing pyDVL (it needs numpy < 2). Run with pyDVL's Python:

    bench/.peer-env/bin/python bench/make_pydvl_knn_reference.py   # pyDVL 0.10 + numpy < 2
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydvl import __version__ as pydvl_version
from pydvl.valuation import Dataset, KNNShapleyValuation
from sklearn.neighbors import KNeighborsClassifier

OUT = Path(__file__).resolve().parents[1] / "tests" / "data" / "pydvl_knn_shapley.npz"


def main():
    rng = np.random.default_rng(2026)
    X = rng.normal(size=(300, 5))
    y = (X[:, 0] + 0.5 * X[:, 1] + 0.8 * rng.normal(size=300) > 0).astype(np.int64) + (X[:, 2] > 1)
    X_test = rng.normal(size=(60, 5))
    y_test = (X_test[:, 0] + 0.5 * X_test[:, 1] > 0).astype(np.int64) + (X_test[:, 2] > 1)
    out = {"X": X, "y": y, "X_test": X_test, "y_test": y_test, "pydvl_version": pydvl_version}
    for k in (1, 5, 20):
        v = KNNShapleyValuation(
            KNeighborsClassifier(n_neighbors=k), test_data=Dataset(X_test, y_test), progress=False
        ).fit(Dataset(X, y))
        values = np.empty(len(X))
        values[np.asarray(v.result.indices)] = v.result.values
        out[f"values_k{k}"] = values
    np.savez_compressed(OUT, **out)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
