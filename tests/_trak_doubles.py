"""Projector test doubles for the TRAK tests (the interface of attrib.Projector: n_features, dim,
project(G, feature_offset=0)); replaced by the real Projector where it exists."""

from __future__ import annotations

import numpy as np


class DenseProjector:
    """A stored seeded Gaussian matrix P (n_features x dim); project(G, off) = G @ P[off:off+width]."""

    def __init__(self, n_features: int, dim: int, seed: int = 0):
        self.n_features, self.dim = int(n_features), int(dim)
        self.matrix = np.random.default_rng(seed).normal(size=(self.n_features, self.dim))

    def project(self, G, feature_offset: int = 0):
        G = np.asarray(G, dtype=np.float64)
        return G @ self.matrix[feature_offset : feature_offset + G.shape[1]]


class IdentityProjector:
    """dim = n_features; a chunk lands at its offset."""

    def __init__(self, n_features: int):
        self.n_features = self.dim = int(n_features)

    def project(self, G, feature_offset: int = 0):
        G = np.asarray(G)
        out = np.zeros((G.shape[0], self.dim), dtype=np.float64)
        out[:, feature_offset : feature_offset + G.shape[1]] = G
        return out
