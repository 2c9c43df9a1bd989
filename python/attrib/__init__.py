"""attrib: data attribution that is exact where mathematics allows, and fast.

Which training points made this model behave this way, and what is each one worth? attrib answers
with leave-one-out and leave-group-out updates (Sherman-Morrison-Woodbury algebra instead of
refits), computed by a C++ core (Eigen, OpenMP) behind this Python facade.
"""

from __future__ import annotations

from . import datasets, metrics  # metrics: LDS, LOO correlation, mislabel AUC, removal curves
from ._dispatch import core as _core_module
from ._retrain import RetrainResult, retrain  # datamodels family
from ._version import __version__
from .datamodels import DatamodelResult, SubsetMasks, data_fingerprint, datamodels, sample_subsets  # datamodels family
from .exceptions import (
    AttribWarning,
    ConvergenceWarning,
    ExactFitWarning,
    IllConditionedWarning,
    LeverageOneWarning,
    NotAtOptimumWarning,
    StoppedEarlyWarning,
    ThreadCountWarning,
    UndefinedValueWarning,
    UtilityError,
)
from .glm import GLMGroupResult, GLMLOOResult, TopKInfluence, glm_loo, influence
from .glm_multinomial import MultinomialGroupResult, MultinomialLOOResult  # softmax regression (issue 10)
from .linear import GroupLOOResult, LinearLOOResult, linear_group_loo, linear_loo
from .projection import Projector, cuda_available
from .results import AttributionResult
from .selection import SelectionResult, select  # DsDm data selection
from .shapley import ShapleyResult, data_shapley, knn_shapley
from .trak import TRAK, TRAKTopK

__all__ = [
    "AttribWarning",
    "AttributionResult",
    "ExactFitWarning",
    "GroupLOOResult",
    "IllConditionedWarning",
    "LeverageOneWarning",
    "LinearLOOResult",
    "ShapleyResult",
    "StoppedEarlyWarning",
    "ThreadCountWarning",
    "UndefinedValueWarning",
    "UtilityError",
    "build_info",
    "data_shapley",
    "datasets",
    "knn_shapley",
    "linear_group_loo",
    "linear_loo",
    # GLM leave-one-out (attrib.glm)
    "ConvergenceWarning",
    "GLMGroupResult",
    "GLMLOOResult",
    "NotAtOptimumWarning",
    "TopKInfluence",
    "glm_loo",
    "influence",
    # TRAK (attrib.trak; attrib.torch holds the optional torch featurizer and is not imported here)
    "TRAK",
    "TRAKTopK",
    # metrics and selection (attrib.metrics, attrib.selection)
    "SelectionResult",
    "metrics",
    "select",
    # datamodels (attrib.datamodels)
    "DatamodelResult",
    "RetrainResult",
    "SubsetMasks",
    "data_fingerprint",
    "datamodels",
    "retrain",
    "sample_subsets",
    # multinomial (softmax) regression in glm_loo / influence (attrib.glm_multinomial)
    "MultinomialGroupResult",
    "MultinomialLOOResult",
    # random projection (attrib.projection)
    "Projector",
    "cuda_available",
]


def build_info() -> dict:
    """Which compiled core is in use, and how it was built.

    Returns
    -------
    dict
        ``version``, ``core`` (the extension module: ``_core`` for baseline x86-64, ``_core_avx2``
        for x86-64-v3), ``isa``, ``openmp`` (built with OpenMP) and ``default_threads``.

    Examples
    --------
    >>> import attrib
    >>> sorted(attrib.build_info())
    ['core', 'default_threads', 'isa', 'openmp', 'version']
    """
    return {
        "version": __version__,
        "core": _core_module.__name__.rsplit(".", 1)[-1],
        "isa": _core_module._isa,
        "openmp": bool(_core_module._openmp),
        "default_threads": int(_core_module.default_num_threads()),
    }
