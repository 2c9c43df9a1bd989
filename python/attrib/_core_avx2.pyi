"""Same API as attrib._core, built for x86-64-v3 (AVX2 + FMA); see attrib/_dispatch.py."""

from attrib._core import *  # noqa: F403
