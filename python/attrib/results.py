"""The shape every per-training-point result shares, so results of different methods can be
ranked, compared and saved the same way."""

from __future__ import annotations

import numpy as np

from ._validation import check_positive

__all__ = ["AttributionResult"]


class AttributionResult:
    """Base of attrib's result objects.

    Subclasses name one per-item score :attr:`values` (one entry per training point, or per group)
    and list in ``_frame_columns`` the per-item arrays :meth:`to_frame` collects.
    """

    _frame_columns: tuple[str, ...] = ()
    _values_name: str = ""

    # Pickling (joblib, Dask, caching). A result that keeps a fitted model from the compiled core
    # (``_fit``, made by the CPU build in ``_core``) stores the fit's fields instead, and is rebuilt
    # with the CPU build loaded where it is unpickled: the two builds differ in speed and in the
    # last bits of what they compute next (they agree to rounding, see test_pickle.py).
    def __getstate__(self):
        state = self.__dict__.copy()
        if state.get("_core") is not None:
            fit = state["_fit"]
            state["_core"] = None
            state["_fit"] = (type(fit).__name__, fit.__getstate__())
        return state

    def __setstate__(self, state):
        if "_core" in state and state["_core"] is None:
            from . import _dispatch

            core = _dispatch.core
            name, fit_state = state["_fit"]
            cls = getattr(core, name)
            fit = cls.__new__(cls)
            fit.__setstate__(fit_state)
            state = {**state, "_core": core, "_fit": fit}
        self.__dict__.update(state)
        self._check_state()

    def _check_state(self) -> None:
        """Refuse an unpickled state whose arrays disagree with each other (a tampered or mixed
        pickle would otherwise reach the kernels); subclasses list what must agree."""

    @staticmethod
    def _expect(ok: bool, what: str) -> None:
        if not ok:
            raise ValueError(f"the pickle state does not match its fit: {what}; it was modified or mixed up")

    @property
    def values(self) -> np.ndarray:
        """The default per-item score, one entry per item (Cook's distance for leave-one-out
        results, the semivalue for Shapley results; the subclass says which)."""
        return getattr(self, self._values_name)

    def top(self, k: int = 10, *, by: str | None = None, largest: bool = True) -> np.ndarray:
        """Indices of the ``k`` items with the largest (or smallest) score, best first.

        Parameters
        ----------
        k : int, default 10
            How many (all of them when there are fewer).
        by : str, optional
            Another per-item attribute to rank by (default :attr:`values`).
        largest : bool, default True
            Rank by the largest scores (False: the smallest).

        Returns
        -------
        ndarray of int
            Item indices; NaN scores (items that could not be evaluated) rank last either way,
            ties keep the lower index first.

        Raises
        ------
        TypeError
            ``k`` is not an integer.
        ValueError
            ``k < 1``, or ``by`` names an attribute that is not one score per item.

        Examples
        --------
        >>> import attrib
        >>> data = attrib.datasets.load_breast_cancer()
        >>> r = attrib.linear_loo(data.X, data.y, alpha=1.0)
        >>> idx = r.top(5)
        >>> bool((r.cooks_distance[idx[0]] >= r.cooks_distance[idx[1:]]).all())
        True
        >>> r.top(2, by="hat").shape
        (2,)
        """
        score = np.asarray(self.values if by is None else getattr(self, by), dtype=np.float64)
        if score.ndim != 1:
            raise ValueError(f"{by!r} is not a per-item score (shape {score.shape})")
        k = check_positive(k, "k", integer=True)
        key = -score if largest else score
        key = np.where(np.isnan(key), np.inf, key)
        return np.argsort(key, kind="stable")[: min(int(k), score.size)]

    def to_frame(self):
        """The per-item arrays as a pandas DataFrame, one row per item.

        Returns
        -------
        pandas.DataFrame
            The columns the result type lists (e.g. ``hat``, ``cooks_distance``).

        Raises
        ------
        ImportError
            pandas is not installed (it is needed only here).

        Examples
        --------
        >>> import attrib
        >>> data = attrib.datasets.load_breast_cancer()
        >>> attrib.linear_loo(data.X, data.y, alpha=1.0).to_frame().shape
        (569, 8)
        """
        try:
            import pandas as pd
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError("to_frame() needs pandas: pip install pandas") from exc
        return pd.DataFrame({name: getattr(self, name) for name in self._frame_columns})

    def __len__(self) -> int:
        return int(np.asarray(self.values).shape[0])
