"""Pick the fastest build of the compiled core that this CPU can run.

Eigen vectorises at compile time, so the core is built twice: ``_core`` for baseline x86-64 (and
every other architecture) and ``_core_avx2`` for x86-64-v3 (AVX2 + FMA), about twice as fast on
the dense kernels. ``ATTRIB_CPU=baseline`` forces the portable build.
"""

from __future__ import annotations

import os

from . import _core as _baseline

__all__ = ["core", "variants"]


def _select():
    choice = os.environ.get("ATTRIB_CPU", "auto").strip().lower()
    if choice not in ("auto", "baseline", "avx2", "x86-64-v3"):
        raise ImportError(f"ATTRIB_CPU must be 'auto', 'baseline' or 'avx2', got {choice!r}")
    if choice == "baseline":
        return _baseline
    try:
        from . import _core_avx2
    except ImportError:
        _core_avx2 = None
    usable = _core_avx2 is not None and _baseline.cpu_supports_x86_64_v3()
    if choice in ("avx2", "x86-64-v3") and not usable:
        raise ImportError("ATTRIB_CPU=avx2 but this CPU or this build has no x86-64-v3 variant")
    return _core_avx2 if usable else _baseline


def variants():
    """Every core build this machine can run, baseline first (used by the tests)."""
    out = [_baseline]
    try:
        from . import _core_avx2

        if _baseline.cpu_supports_x86_64_v3():
            out.append(_core_avx2)
    except ImportError:
        pass
    return out


core = _select()
