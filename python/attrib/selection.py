"""Data selection for a target task: DsDm's top-k rule, with random and similarity baselines.

DsDm (Engstrom, Feldmann & Madry 2024) picks the k candidates whose inclusion is estimated to
help a weighted set of target examples most. With attrib's convention (a score is the effect of
including a candidate on a target's larger-is-better output, so helpful > 0; see
:mod:`attrib.metrics`), the estimated benefit of candidate i is

    benefit_i = sign * sum_t w_t scores[i, t]

and, the estimate being additive, the best set of size k is simply the k largest benefits (a
brute-force search over all k-subsets gives the same set; tests check it). ``sign="negative"``
is for scores where larger means *harmful*, e.g. datamodels fitted to the target *loss*, as the
DsDm paper's are.
"""

from __future__ import annotations

import numbers

import numpy as np

from ._validation import as_float_matrix, check_positive, check_seed
from .results import AttributionResult

__all__ = ["SelectionResult", "select"]

METHODS = ("dsdm", "random", "similarity")
SIGNS = ("positive", "negative")


class SelectionResult(AttributionResult):
    """The k candidates chosen by :func:`select`, and each candidate's estimated benefit.

    ``values`` is the benefit, so ``top(k)`` repeats the selection.

    Attributes
    ----------
    indices : ndarray of int64, shape (k,)
        The selected candidates, largest benefit first (ties: lower index first).
    mask : ndarray of bool, shape (n_candidates,)
        True for the selected candidates.
    benefit : ndarray of shape (n_candidates,)
        ``"dsdm"``: the weighted score sum (times ``sign``); ``"similarity"``: the weighted mean
        cosine similarity to the targets; ``"random"``: the uniform random keys whose k largest
        were taken.
    method : str
    k : int
    target_weights : ndarray or None
        The weights used (normalised to sum 1 when all are non-negative), None for "random".
    seed : int or None
        The seed of ``"random"``.
    """

    _values_name = "benefit"
    _frame_columns = ("benefit", "mask")

    def __init__(self, benefit, k, method, target_weights, seed):
        self.benefit = benefit
        self.k = k
        self.method = method
        self.target_weights = target_weights
        self.seed = seed
        self.indices = np.argsort(-benefit, kind="stable")[:k].astype(np.int64)
        self.mask = np.zeros(benefit.size, dtype=bool)
        self.mask[self.indices] = True

    def __repr__(self) -> str:
        return f"SelectionResult(method={self.method!r}, k={self.k}, n_candidates={self.benefit.size})"


def _scores_matrix(scores) -> np.ndarray:
    from .metrics import _as_scores

    return _as_scores(scores)[0]


def _weights(target_weights, n_target: int) -> np.ndarray:
    if target_weights is None:
        return np.full(n_target, 1.0 / n_target)
    w = np.asarray(target_weights, dtype=np.float64).reshape(-1) if not np.isscalar(target_weights) else None
    if w is None or w.size != n_target:
        got = "a scalar" if w is None else f"{w.size} entries"
        raise ValueError(f"target_weights must have one entry per target ({n_target}), got {got}")
    if not np.isfinite(w).all():
        raise ValueError("target_weights contains NaN or inf")
    if not (w != 0).any():
        raise ValueError("target_weights is zero for every target: nothing to select for")
    return w / w.sum() if (w >= 0).all() else w


def _unit_rows(A: np.ndarray, name: str) -> np.ndarray:
    norms = np.linalg.norm(A, axis=1)
    if not (norms > 0).all():
        raise ValueError(
            f"{name} has an all-zero row ({int(np.argmin(norms > 0))}): its cosine similarity is undefined"
        )
    return A / norms[:, None]


def select(
    scores=None,
    k: int = 1,
    target_weights=None,
    sign: str = "positive",
    method: str = "dsdm",
    seed: int = 0,
    *,
    X=None,
    X_target=None,
) -> SelectionResult:
    """Select the k candidates estimated to help a weighted target set most (DsDm), or a baseline.

    Parameters
    ----------
    scores : array-like of shape (n_candidates, n_target) or (n_candidates,), or a result
        Attribution scores of each candidate for each target example, helpful > 0 (attrib's
        convention): datamodel weights, TRAK scores, exact leave-one-out loss changes
        (``glm_loo(method="exact").influence(X_target, y_target)``), ... A datamodels result
        contributes ``.weights``, a Shapley result ``.values``. Needed for ``"dsdm"``; for the
        baselines it only fixes the number of candidates (else ``X`` does).
    k : int
        How many to select, 1 <= k <= n_candidates.
    target_weights : array-like of shape (n_target,), optional
        Importance of each target example (a task mix); default uniform. Non-negative weights
        are normalised to sum 1 (the selection does not depend on their scale).
    sign : {"positive", "negative"}, default "positive"
        "positive": larger scores are better (attrib's convention). "negative": larger scores
        are worse, e.g. datamodels fitted to the target loss (DsDm's own orientation), so the
        smallest weighted sums are selected.
    method : {"dsdm", "random", "similarity"}, default "dsdm"
        ``"dsdm"``: the k largest ``sign * scores @ target_weights``. ``"random"``: k candidates
        uniformly without replacement (the k largest of i.i.d. uniform keys from numpy's
        ``Generator(Philox(seed))``). ``"similarity"``: the k candidates with the largest
        weighted mean cosine similarity of ``X`` rows to ``X_target`` rows (the baseline DsDm
        argues against).
    seed : int, default 0
        Seed of ``"random"``.
    X, X_target : array-like of shape (n_candidates, d) and (n_target, d), optional
        Features, for ``"similarity"``.

    Returns
    -------
    SelectionResult
        ``indices`` (best first), ``mask``, ``benefit``.

    Raises
    ------
    TypeError
        ``k`` or ``seed`` not an integer.
    ValueError
        ``k`` < 1 or > n_candidates, NaN or inf in the scores or weights, weights of the wrong
        length or all zero, a bad ``sign`` or ``method``, missing or mismatched features for
        ``"similarity"``, or no way to tell the number of candidates.

    Examples
    --------
    >>> import numpy as np
    >>> import attrib
    >>> scores = np.array([[1.0, -2.0], [0.5, 0.5], [-1.0, 3.0], [0.0, 0.0]])
    >>> attrib.select(scores, k=2).indices                  # by mean score
    array([2, 1])
    >>> attrib.select(scores, k=1, target_weights=[1, 0]).indices
    array([0])
    >>> attrib.select(scores, k=2, sign="negative").indices
    array([0, 3])
    >>> int(attrib.select(scores, k=2, method="random", seed=1).mask.sum())
    2
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {list(METHODS)}, got {method!r}")
    if sign not in SIGNS:
        raise ValueError(f"sign must be 'positive' or 'negative', got {sign!r}")
    S = None if scores is None else _scores_matrix(scores)
    if method == "dsdm" and S is None:
        raise ValueError("method='dsdm' needs scores")
    if method == "similarity":
        if X is None or X_target is None:
            raise ValueError("method='similarity' needs the candidates' features X and the targets' X_target")
        Xa = as_float_matrix(X, "X")
        Xt = as_float_matrix(X_target, "X_target", n_features=Xa.shape[1])
        n = Xa.shape[0]
        if S is not None and S.shape[0] != n:
            raise ValueError(f"scores has {S.shape[0]} rows but X has {n}")
        if S is not None and S.shape[1] != Xt.shape[0]:
            raise ValueError(f"scores has {S.shape[1]} target columns but X_target has {Xt.shape[0]} rows")
        n_target = Xt.shape[0]
    else:
        if S is None and X is None:
            raise ValueError("pass scores (or X) so that the number of candidates is known")
        n = S.shape[0] if S is not None else as_float_matrix(X, "X").shape[0]
        n_target = S.shape[1] if S is not None else 1
    if isinstance(k, numbers.Real) and not isinstance(k, (bool, np.bool_, numbers.Integral)):
        raise TypeError(f"k must be a positive integer, got {type(k).__name__}")
    k = check_positive(k, "k", integer=True)
    if k > n:
        raise ValueError(f"k={k} is more than the {n} candidates")
    if method == "random":
        seed = check_seed(seed)
        keys = np.random.Generator(np.random.Philox(seed)).random(n)
        return SelectionResult(keys, k, method, None, seed)
    w = _weights(target_weights, n_target)
    if method == "dsdm":
        benefit = S @ w if sign == "positive" else -(S @ w)
    else:  # similarity ignores the scores, and so their sign
        benefit = _unit_rows(Xa, "X") @ (_unit_rows(Xt, "X_target").T @ w)
    return SelectionResult(benefit, k, method, w, None)
