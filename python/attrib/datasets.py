"""Small real data sets shipped inside the package, so examples and the demo run offline.

Breast Cancer Wisconsin (Diagnostic): W. Wolberg, O. Mangasarian, N. Street, W. Street (1993),
UCI Machine Learning Repository, https://doi.org/10.24432/C5DW2B, licensed CC BY 4.0. 569 tumours,
30 real-valued features computed from digitised images of fine needle aspirates; the target is 1
for benign and 0 for malignant (the same encoding as scikit-learn's ``load_breast_cancer``).
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from importlib import resources

import numpy as np

__all__ = ["Dataset", "load_breast_cancer"]


@dataclass(frozen=True)
class Dataset:
    """A design matrix, its target and their names."""

    X: np.ndarray
    y: np.ndarray
    feature_names: list[str]
    target_name: str
    description: str


def load_breast_cancer() -> Dataset:
    """The Breast Cancer Wisconsin (Diagnostic) data, shipped with the package (CC BY 4.0).

    Returns
    -------
    Dataset
        ``X`` (569, 30) float64, ``y`` (569,) float64 with 1 = benign and 0 = malignant (as
        scikit-learn's ``load_breast_cancer``), the 30 feature names, the target name and the
        data set's description and citation.

    Examples
    --------
    >>> import attrib
    >>> data = attrib.datasets.load_breast_cancer()
    >>> data.X.shape, int(data.y.sum())
    ((569, 30), 357)
    """
    with resources.files("attrib").joinpath("data/breast_cancer.csv.gz").open("rb") as raw:
        with gzip.open(raw, "rt") as fh:
            header = fh.readline().strip().split(",")
            data = np.loadtxt(fh, delimiter=",", dtype=np.float64)
    return Dataset(
        X=np.ascontiguousarray(data[:, :-1]),
        y=np.ascontiguousarray(data[:, -1]),
        feature_names=header[:-1],
        target_name=header[-1],
        description=__doc__.split("\n\n", 1)[1].strip(),
    )
