"""Warnings attrib raises. All derive from :class:`AttribWarning`, so one filter silences them."""

from __future__ import annotations

__all__ = ["AttribWarning", "IllConditionedWarning", "LeverageOneWarning", "StoppedEarlyWarning", "UtilityError"]


class AttribWarning(UserWarning):
    """Base class of every warning attrib emits."""


class LeverageOneWarning(AttribWarning):
    """Some rows (or groups) cannot be left out: without them the model is not identified.

    Their leave-out quantities are NaN; the message lists which rows.
    """


class IllConditionedWarning(AttribWarning):
    """The problem is solvable but so ill-conditioned that results may have lost many digits."""


class StoppedEarlyWarning(AttribWarning):
    """A Monte Carlo run stopped before converging (Ctrl-C or the time budget); the result holds
    what was computed so far and is marked ``converged=False``."""


class UtilityError(ValueError):
    """A utility raised, or returned NaN, inf or a non-number; the message names the subset."""
