"""Warnings (all derived from :class:`AttribWarning`, so one filter silences them) and errors
attrib raises."""

from __future__ import annotations

__all__ = [
    "AttribWarning",
    "ConvergenceWarning",
    "ExactFitWarning",
    "IllConditionedWarning",
    "LeverageOneWarning",
    "NotAtOptimumWarning",
    "StoppedEarlyWarning",
    "ThreadCountWarning",
    "UndefinedValueWarning",
    "UtilityError",
]


class AttribWarning(UserWarning):
    """Base class of every warning attrib emits."""


class LeverageOneWarning(AttribWarning):
    """Some rows (or groups) cannot be left out: without them the model is not identified.

    Their leave-out quantities are NaN; the message lists which rows.
    """


class IllConditionedWarning(AttribWarning):
    """The problem is solvable but so ill-conditioned that results may have lost many digits."""


class ConvergenceWarning(AttribWarning):
    """An iterative solver (a Newton fit, or exact leave-one-out of some rows) stopped before its
    tolerance; the message says how far it got and which rows are affected."""


class NotAtOptimumWarning(AttribWarning):
    """A fitted estimator's coefficients are not at the optimum of its own objective to the
    precision leave-one-out needs; attrib refitted precisely and used its own coefficients."""


class StoppedEarlyWarning(AttribWarning):
    """A Monte Carlo run stopped before converging (Ctrl-C or the time budget); the result holds
    what was computed so far and is marked ``converged=False``."""


class ThreadCountWarning(AttribWarning):
    """``n_jobs`` asked for far more threads than the machine has CPUs; attrib used fewer (results
    do not depend on the thread count)."""


class UtilityError(ValueError):
    """A utility raised, or returned NaN, inf or a non-number; the message names the subset."""


class ExactFitWarning(AttribWarning):
    """The response is fitted exactly (residuals are zero up to rounding relative to the scale of
    y), so the residual variance is 0: residuals, leave-one-out residuals and coefficient changes
    are returned as exact zeros, and every diagnostic divided by the residual scale (Cook's
    distance, studentized residuals, DFFITS, COVRATIO, DFBETAS) is NaN."""


class UndefinedValueWarning(AttribWarning):
    """Some Monte Carlo values could not be estimated from the samples drawn (Banzhaf/MSR: a point
    that was in every sampled subset, or in none); they are NaN with an infinite standard error.
    Also: a metric (LDS, LOO correlation) undefined for some targets, e.g. constant outputs."""
