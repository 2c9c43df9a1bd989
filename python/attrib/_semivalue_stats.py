"""Running moments of Monte Carlo semivalue samples, merged block by block in block-id order.

Each block of samples is reduced to (count, mean, M2) per point and merged with Chan et al.'s
pairwise formula. The blocks are fixed ranges of sample ids, so the arithmetic, and hence every
bit of the result, is the same for any thread count.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["MSRMoments", "PermutationMoments", "semivalue_weights"]


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
    with np.errstate(invalid="ignore", divide="ignore"):
        delta = mean_b - mean
        frac = np.where(total > 0, c_b / np.maximum(total, 1), 0.0)
        new_mean = np.where(count > 0, mean + delta * frac, mean_b)
        new_m2 = np.where(count > 0, m2 + m2_b + delta * delta * count * frac, m2_b)
    new_mean = np.where(c_b > 0, new_mean, mean)
    new_m2 = np.where(c_b > 0, new_m2, m2)
    return total, new_mean, new_m2


class PermutationMoments:
    """Per-point moments of weighted marginals along permutations (Shapley, Beta-Shapley)."""

    def __init__(self, n: int, weights: np.ndarray, antithetic: bool):
        self.n = n
        self.weights = weights
        self.antithetic = antithetic
        self.count = np.zeros(n)
        self.mean = np.zeros(n)
        self.m2 = np.zeros(n)

    def add_block(self, perms: np.ndarray, utilities: np.ndarray) -> None:
        """perms (B x n) and the prefix utilities along them (B x (n + 1))."""
        marg = np.diff(utilities, axis=1) * self.weights  # marginal at each position
        samples = np.empty_like(marg)
        rows = np.arange(perms.shape[0])[:, None]
        samples[rows, perms] = marg  # back to point order
        if self.antithetic:  # a permutation and its reverse make one sample
            samples = 0.5 * (samples[0::2] + samples[1::2])
        c_b = float(samples.shape[0])
        mean_b = samples.mean(axis=0)
        m2_b = ((samples - mean_b) ** 2).sum(axis=0)
        self.count, self.mean, self.m2 = _merge(self.count, self.mean, self.m2, c_b, mean_b, m2_b)

    @property
    def values(self) -> np.ndarray:
        return self.mean.copy()

    @property
    def stderr(self) -> np.ndarray:
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.count > 1, np.sqrt(self.m2 / np.maximum(self.count - 1, 1) / np.maximum(self.count, 1)), np.inf)

    @property
    def counts(self) -> np.ndarray:
        return self.count.astype(np.int64)


class MSRMoments:
    """Maximum sample reuse for Banzhaf (Wang & Jia 2023): each sampled subset S updates every
    point, as an 'in' sample u(S) for i in S and an 'out' sample for i not in S; the value is
    mean_in - mean_out."""

    def __init__(self, n: int):
        self.n = n
        z = np.zeros(n)
        self.c_in, self.mean_in, self.m2_in = z.copy(), z.copy(), z.copy()
        self.c_out, self.mean_out, self.m2_out = z.copy(), z.copy(), z.copy()

    def add_block(self, masks: np.ndarray, utilities: np.ndarray) -> None:
        masks = masks.astype(bool)
        u = utilities[:, None]
        for inside in (True, False):
            sel = masks if inside else ~masks
            c_b = sel.sum(axis=0).astype(np.float64)
            with np.errstate(invalid="ignore", divide="ignore"):
                mean_b = np.where(c_b > 0, (u * sel).sum(axis=0) / np.maximum(c_b, 1), 0.0)
            m2_b = (((u - mean_b) ** 2) * sel).sum(axis=0)
            if inside:
                self.c_in, self.mean_in, self.m2_in = _merge(self.c_in, self.mean_in, self.m2_in, c_b, mean_b, m2_b)
            else:
                self.c_out, self.mean_out, self.m2_out = _merge(
                    self.c_out, self.mean_out, self.m2_out, c_b, mean_b, m2_b
                )

    @property
    def values(self) -> np.ndarray:
        ok = (self.c_in > 0) & (self.c_out > 0)
        return np.where(ok, self.mean_in - self.mean_out, np.nan)

    @property
    def stderr(self) -> np.ndarray:
        ok = (self.c_in > 1) & (self.c_out > 1)
        with np.errstate(invalid="ignore", divide="ignore"):
            var_in = self.m2_in / np.maximum(self.c_in - 1, 1) / np.maximum(self.c_in, 1)
            var_out = self.m2_out / np.maximum(self.c_out - 1, 1) / np.maximum(self.c_out, 1)
        return np.where(ok, np.sqrt(var_in + var_out), np.inf)

    @property
    def counts(self) -> np.ndarray:
        return (self.c_in + self.c_out).astype(np.int64)
