"""attrib: data attribution that is exact where mathematics allows, and fast.

Which training points made this model behave this way, and what is each one worth? attrib answers
with leave-one-out and leave-group-out updates (Sherman-Morrison-Woodbury algebra instead of
refits), computed by a C++ core (Eigen, OpenMP) behind this Python facade.
"""

from __future__ import annotations

from . import datasets
from ._dispatch import core as _core_module
from ._version import __version__
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
from .linear import GroupLOOResult, LinearLOOResult, linear_group_loo, linear_loo
from .projection import Projector, cuda_available
from .results import AttributionResult
from .shapley import ShapleyResult, data_shapley, knn_shapley

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
