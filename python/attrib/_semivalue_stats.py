"""Running moments of Monte Carlo semivalue samples, merged block by block in block-id order.

Samples are reduced in fixed *units* of :data:`UNIT` consecutive sample ids (ids 0..15, 16..31, ...)
to (count, mean, M2) per point, and units are merged in id order with Chan et al.'s pairwise
formula. A block of work (one kernel call) may hold any number of samples: samples that do not fill
a unit wait in a pending buffer, and the estimate folds them in without committing them. So the
arithmetic, and hence every bit of the result, depends only on the number of samples, never on the
block sizes or the thread count.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["UNIT", "MSRMoments", "PermutationMoments", "semivalue_weights"]

#: Samples per accumulation unit (even, so antithetic pairs never straddle units).
UNIT = 16


def semivalue_weights(n: int, kind: str, a: float = 1.0, b: float = 1.0) -> np.ndarray:
    """Importance weight n * p(k) of a marginal at permutation position k = 0..n-1.

    Shapley: p(k) = 1/n (weight 1). Beta(a, b) (Kwon & Zou 2022): p(k) = C(n-1, k)
    B(k + b, n - 1 - k + a) / B(a, b), the Beta-binomial pmf, computed in log space.
    """
    if kind == "shapley":
        return np.ones(n)
    if kind != "beta":
        raise ValueError(f"no permutation weights for semivalue {kind!r}")

    def lbeta(x, y):
        return math.lgamma(x) + math.lgamma(y) - math.lgamma(x + y)

    lb = lbeta(a, b)
    logp = [
        math.lgamma(n) - math.lgamma(k + 1) - math.lgamma(n - k) + lbeta(k + b, n - 1 - k + a) - lb for k in range(n)
    ]
    return n * np.exp(np.array(logp))


def _merge(count, mean, m2, c_b, mean_b, m2_b):
    """Chan's merge of two (count, mean, M2) summaries; counts may differ per point and be 0."""
    total = count + c_b
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        delta = mean_b - mean
        frac = np.where(total > 0, c_b / np.maximum(total, 1), 0.0)
        new_mean = np.where(count > 0, mean + delta * frac, mean_b)
        new_m2 = np.where(count > 0, m2 + m2_b + delta * delta * count * frac, m2_b)
    new_mean = np.where(c_b > 0, new_mean, mean)
    new_m2 = np.where(c_b > 0, new_m2, m2)
    return total, new_mean, new_m2


def _summary(samples):
    """(count, mean, M2) of the rows of `samples` (k x n)."""
    c = float(samples.shape[0])
    with np.errstate(invalid="ignore", over="ignore"):  # overflow is caught by finite()
        mean = samples.mean(axis=0)
        return c, mean, ((samples - mean) ** 2).sum(axis=0)


class PermutationMoments:
    """Per-point moments of weighted marginals along permutations (Shapley, Beta-Shapley)."""

    def __init__(self, n: int, weights: np.ndarray, antithetic: bool):
        self.n = n
        self.weights = weights
        self.antithetic = antithetic
        self.count = np.zeros(n)
        self.mean = np.zeros(n)
        self.m2 = np.zeros(n)
        self._pending = np.zeros((0, n))
        self._cache = None

    @staticmethod
    def marginals(utilities: np.ndarray) -> np.ndarray:
        """Marginal contributions along each permutation (B x n) from the prefix utilities."""
        with np.errstate(over="ignore", invalid="ignore"):
            return np.diff(utilities, axis=1)

    def rows(self, perms: np.ndarray, utilities: np.ndarray) -> np.ndarray:
        """The samples (one row per sample, in point order) of a block of permutations."""
        with np.errstate(invalid="ignore", over="ignore"):
            marg = self.marginals(utilities) * self.weights  # marginal at each position
        samples = np.empty_like(marg)
        rows = np.arange(perms.shape[0])[:, None]
        samples[rows, perms] = marg  # back to point order
        if self.antithetic:  # a permutation and its reverse make one sample
            with np.errstate(invalid="ignore", over="ignore"):
                samples = 0.5 * (samples[0::2] + samples[1::2])
        return samples

    # Rows and unit summaries, for callers that summarise units elsewhere (a Dask worker) and
    # commit them here in id order: the same arithmetic as add_block, so the same bits.
    @staticmethod
    def n_rows(rows) -> int:
        return int(rows.shape[0])

    @staticmethod
    def take(rows, a: int, b: int):
        return rows[a:b]

    @staticmethod
    def summarize(rows):
        """(count, mean, M2) of one unit's rows."""
        return _summary(rows)

    @property
    def pending(self):
        return self._pending

    def set_pending(self, rows) -> None:
        self._pending = np.ascontiguousarray(rows, dtype=np.float64).reshape(-1, self.n)
        self._cache = None

    def append_pending(self, rows) -> None:
        self.set_pending(np.concatenate([self._pending, rows]) if self._pending.shape[0] else rows.copy())

    def commit(self, summary) -> None:
        """Merge one unit's summary (the next unit in id order)."""
        self.count, self.mean, self.m2 = _merge(self.count, self.mean, self.m2, *summary)
        self._cache = None

    def state_arrays(self) -> dict:
        return {"count": self.count, "mean": self.mean, "m2": self.m2, "pending": self._pending}

    def load_state(self, arrays) -> None:
        self.count, self.mean, self.m2 = (np.array(arrays[k], dtype=np.float64) for k in ("count", "mean", "m2"))
        self.set_pending(np.array(arrays["pending"], dtype=np.float64))

    def add_block(self, perms: np.ndarray, utilities: np.ndarray) -> None:
        """perms (B x n) and the prefix utilities along them (B x (n + 1)), the next B permutation ids."""
        samples = self.rows(perms, utilities)
        if self._pending.shape[0]:
            samples = np.concatenate([self._pending, samples])
        full = (samples.shape[0] // UNIT) * UNIT
        for u0 in range(0, full, UNIT):
            self.count, self.mean, self.m2 = _merge(self.count, self.mean, self.m2, *_summary(samples[u0 : u0 + UNIT]))
        self._pending = samples[full:].copy()
        self._cache = None

    def _current(self):
        if not self._pending.shape[0]:
            return self.count, self.mean, self.m2
        if self._cache is None:
            self._cache = _merge(self.count, self.mean, self.m2, *_summary(self._pending))
        return self._cache

    def finite(self) -> bool:
        """Whether the running sums are finite (utilities so large that they overflow are not)."""
        count, mean, m2 = self._current()
        return bool(np.isfinite(mean).all() and np.isfinite(m2).all())

    @property
    def values(self) -> np.ndarray:
        return self._current()[1].copy()

    @property
    def stderr(self) -> np.ndarray:
        count, _, m2 = self._current()
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(count > 1, np.sqrt(m2 / np.maximum(count - 1, 1) / np.maximum(count, 1)), np.inf)

    @property
    def counts(self) -> np.ndarray:
        return self._current()[0].astype(np.int64)


class MSRMoments:
    """Maximum sample reuse for Banzhaf (Wang & Jia 2023): each sampled subset S updates every
    point, as an 'in' sample u(S) for i in S and an 'out' sample for i not in S; the value is
    mean_in - mean_out."""

    def __init__(self, n: int):
        self.n = n
        z = np.zeros(n)
        self.state = {True: (z.copy(), z.copy(), z.copy()), False: (z.copy(), z.copy(), z.copy())}
        self._masks = np.zeros((0, n), bool)
        self._u = np.zeros(0)
        self._cache = None

    @staticmethod
    def summarize(rows):
        """Per-point (count, mean, M2) of the 'in' and the 'out' utilities of one unit's subsets."""
        masks, u = rows
        u = u[:, None]
        out = {}
        for inside in (True, False):
            sel = masks if inside else ~masks
            c_b = sel.sum(axis=0).astype(np.float64)
            with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
                mean_b = np.where(c_b > 0, (u * sel).sum(axis=0) / np.maximum(c_b, 1), 0.0)
                m2_b = (((u - mean_b) ** 2) * sel).sum(axis=0)
            out[inside] = (c_b, mean_b, m2_b)
        return out

    @staticmethod
    def _unit(state, masks, u):
        summary = MSRMoments.summarize((masks, u))
        return {inside: _merge(*state[inside], *summary[inside]) for inside in (True, False)}

    @staticmethod
    def rows(masks: np.ndarray, utilities: np.ndarray):
        return masks.astype(bool), np.asarray(utilities, np.float64)

    @staticmethod
    def n_rows(rows) -> int:
        return int(rows[1].shape[0])

    @staticmethod
    def take(rows, a: int, b: int):
        return rows[0][a:b], rows[1][a:b]

    @property
    def pending(self):
        return self._masks, self._u

    def set_pending(self, rows) -> None:
        self._masks = np.asarray(rows[0], dtype=bool).reshape(-1, self.n).copy()
        self._u = np.asarray(rows[1], dtype=np.float64).reshape(-1).copy()
        self._cache = None

    def append_pending(self, rows) -> None:
        self.set_pending((np.concatenate([self._masks, rows[0]]), np.concatenate([self._u, rows[1]])))

    def commit(self, summary) -> None:
        self.state = {inside: _merge(*self.state[inside], *summary[inside]) for inside in (True, False)}
        self._cache = None

    def state_arrays(self) -> dict:
        out = {}
        for inside, tag in ((True, "in"), (False, "out")):
            for name, a in zip(("count", "mean", "m2"), self.state[inside]):
                out[f"{tag}_{name}"] = a
        out["pending_masks"], out["pending_u"] = self._masks, self._u
        return out

    def load_state(self, arrays) -> None:
        def three(tag):
            c, mean, m2 = (np.array(arrays[f"{tag}_{k}"], dtype=np.float64) for k in ("count", "mean", "m2"))
            return c, mean, m2

        self.state = {True: three("in"), False: three("out")}
        self.set_pending((arrays["pending_masks"], arrays["pending_u"]))

    def add_block(self, masks: np.ndarray, utilities: np.ndarray) -> None:
        """masks (B x n, 0/1) and the utilities of those subsets (B), the next B subset ids."""
        masks = np.concatenate([self._masks, masks.astype(bool)])
        u = np.concatenate([self._u, np.asarray(utilities, np.float64)])
        full = (masks.shape[0] // UNIT) * UNIT
        for u0 in range(0, full, UNIT):
            self.state = self._unit(self.state, masks[u0 : u0 + UNIT], u[u0 : u0 + UNIT])
        self._masks, self._u = masks[full:].copy(), u[full:].copy()
        self._cache = None

    def _current(self):
        if not self._u.size:
            return self.state
        if self._cache is None:
            self._cache = self._unit(self.state, self._masks, self._u)
        return self._cache

    def finite(self) -> bool:
        st = self._current()
        return all(np.isfinite(a).all() for inside in (True, False) for a in st[inside][1:])

    @property
    def values(self) -> np.ndarray:
        st = self._current()
        (c_in, mean_in, _), (c_out, mean_out, _) = st[True], st[False]
        ok = (c_in > 0) & (c_out > 0)
        return np.where(ok, mean_in - mean_out, np.nan)

    @property
    def stderr(self) -> np.ndarray:
        st = self._current()
        (c_in, _, m2_in), (c_out, _, m2_out) = st[True], st[False]
        ok = (c_in > 1) & (c_out > 1)
        with np.errstate(invalid="ignore", divide="ignore"):
            var_in = m2_in / np.maximum(c_in - 1, 1) / np.maximum(c_in, 1)
            var_out = m2_out / np.maximum(c_out - 1, 1) / np.maximum(c_out, 1)
        return np.where(ok, np.sqrt(var_in + var_out), np.inf)

    @property
    def counts(self) -> np.ndarray:
        st = self._current()
        return (st[True][0] + st[False][0]).astype(np.int64)
