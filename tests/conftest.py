from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pytest
from hypothesis import settings

import attrib
from attrib import _dispatch

# Property tests compare against brute-force refits: no deadline (CI machines are noisy).
settings.register_profile("ci", deadline=None, max_examples=40, derandomize=True)
settings.load_profile("ci")


@pytest.fixture
def rng():
    return np.random.default_rng(20261129)


def refit_least_squares(X, y, w=None, alpha=0.0, fit_intercept=True):
    """Independent oracle: weighted ridge by SVD least squares on the augmented system
    [sqrt(W) Z; sqrt(P)] beta = [sqrt(W) y; 0]; never the normal equations. Returns (b, coef)."""
    n, d = X.shape
    Z = np.hstack([np.ones((n, 1)), X]) if fit_intercept else X
    sw = np.ones(n) if w is None else np.sqrt(w)
    P = np.sqrt(alpha) * np.eye(d)
    if fit_intercept:
        P = np.hstack([np.zeros((d, 1)), P])
    A = np.vstack([sw[:, None] * Z, P])
    rhs = np.concatenate([sw * y, np.zeros(d)])
    beta = np.linalg.lstsq(A, rhs, rcond=None)[0]
    return (beta[0], beta[1:]) if fit_intercept else (0.0, beta)


def full_params(b, coef, fit_intercept=True):
    return np.concatenate([[b], coef]) if fit_intercept else np.asarray(coef)


# ---------------------------------------------------------------- the leave-one-out families
@dataclass(frozen=True)
class LooFamily:
    """One leave-one-out family as the shared tests see it: its data, how to fit it, its main
    output, and a call that reads the training data again (lazy paths check for in-place edits)."""

    name: str
    data: tuple
    fit: Callable
    lazy: Callable
    reread: Callable


def _loo_families():
    rng = np.random.default_rng(20261202)
    X = rng.normal(size=(60, 3))
    eta = X @ np.array([1.0, -1.0, 0.5])
    groups = np.arange(60) % 3

    def glm(family, y):
        return LooFamily(
            f"glm-{family}",
            (X, y),
            lambda X, y, **kw: attrib.glm_loo(X, y, family=family, **kw),
            lambda r: r.dcoef,
            lambda r: r.group_loo(groups).dcoef,
        )

    return [
        LooFamily(
            "linear",
            (X, eta + rng.normal(size=60)),
            attrib.linear_loo,
            lambda r: r.dfbeta,
            lambda r: r.group_loo(groups).dfbeta,
        ),
        glm("logistic", (rng.random(60) < 1 / (1 + np.exp(-eta))).astype(float)),
        glm("poisson", rng.poisson(np.exp(0.3 * eta)).astype(float)),
    ]


@pytest.fixture(params=_loo_families(), ids=lambda f: f.name)
def family(request):
    return request.param


# ---------------------------------------------------------------- the CPU builds
@pytest.fixture(params=_dispatch.variants(), ids=lambda m: m.__name__.rsplit(".", 1)[-1])
def core(request, monkeypatch):
    """The compiled core: the test runs once per CPU build this machine can import, with that
    build in use (``_dispatch.core``) for the public functions too."""
    monkeypatch.setattr(_dispatch, "core", request.param)
    return request.param


@pytest.fixture
def on_every_core(monkeypatch):
    """on_every_core(run): run() under each CPU build, the list of results (the test is skipped
    where only the baseline build runs)."""
    variants = _dispatch.variants()
    if len(variants) < 2:
        pytest.skip("only the baseline build runs on this CPU")

    def run_all(run):
        out = []
        for core in variants:
            monkeypatch.setattr(_dispatch, "core", core)
            out.append(run())
        return out

    return run_all
