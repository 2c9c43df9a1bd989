"""Runs pyDVL 0.10 for bench_shapley.py in pyDVL's own environment (it needs numpy < 2).

Reads one JSON job on stdin, prints one JSON line: wall seconds, utility evaluations and values.
The utilities are defined to be the same as attrib's (see bench_shapley.py): the same model, the
same score, the same value for the empty set, and a one-class subset predicting its class.
"""

from __future__ import annotations

import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _shapley_data import DATASETS  # noqa: E402

warnings.filterwarnings("ignore")
CALLS = {"n": 0}


def main():
    job = json.loads(sys.stdin.read())
    from pydvl.valuation import Dataset

    X, y, Xt, yt = DATASETS[job["data"]]()
    train, test = Dataset(X, y), Dataset(Xt, yt)
    if job["kind"] == "knn":
        from pydvl.valuation import KNNShapleyValuation
        from sklearn.neighbors import KNeighborsClassifier

        t0 = time.perf_counter()
        v = KNNShapleyValuation(KNeighborsClassifier(n_neighbors=job["k"]), test_data=test, progress=False).fit(train)
        wall = time.perf_counter() - t0
        res = v.result
        values = np.empty(len(X))
        values[np.asarray(res.indices)] = res.values
        print(json.dumps({"wall": wall, "evals": 0, "values": values.tolist()}))
        return

    from pydvl.valuation import (
        MaxSamples,
        ModelUtility,
        NoTruncation,
        PermutationSampler,
        RelativeTruncation,
        ShapleyValuation,
        SupervisedScorer,
    )
    from sklearn.base import BaseEstimator, ClassifierMixin
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.metrics import accuracy_score, mean_squared_error

    class OneClassSafeLogistic(ClassifierMixin, BaseEstimator):
        """LogisticRegression, except that a one-class subset predicts its class (attrib's rule)."""

        def __init__(self, C=1.0):
            self.C = C

        def fit(self, X, y):
            labels = np.unique(y)
            self.constant_ = labels[0] if labels.size == 1 else None
            if self.constant_ is None:
                self.model_ = LogisticRegression(C=self.C).fit(X, y)
            return self

        def predict(self, X):
            if self.constant_ is not None:
                return np.full(len(X), self.constant_)
            return self.model_.predict(X)

    def counted(score):
        def scorer(model, X, y):
            CALLS["n"] += 1
            return score(model, X, y)

        return scorer

    if job["kind"] == "logistic":
        model = OneClassSafeLogistic(C=1.0)
        score = counted(lambda m, X, y: accuracy_score(y, m.predict(X)))
    else:
        model = Ridge(alpha=1.0)
        score = counted(lambda m, X, y: -mean_squared_error(y, m.predict(X)))
    utility = ModelUtility(model, SupervisedScorer(score, test, default=job["empty"]), catch_errors=False)

    if job.get("subsets") is not None:  # utility agreement check
        from pydvl.valuation.types import Sample

        u = utility.with_dataset(train)
        vals = [u(Sample(None, np.asarray(s, dtype=int))) for s in job["subsets"]]
        print(json.dumps({"utilities": vals}))
        return

    truncation = (
        RelativeTruncation(rtol=job["rtol"], burn_in_fraction=job["burn_in"]) if job["truncate"] else NoTruncation()
    )
    sampler = PermutationSampler(truncation=truncation, seed=job["seed"])
    valuation = ShapleyValuation(utility, sampler, is_done=MaxSamples(sampler, job["permutations"]), progress=False)
    from joblib import parallel_config

    CALLS["n"] = 0
    t0 = time.perf_counter()
    with parallel_config(n_jobs=1):
        valuation.fit(train)
    wall = time.perf_counter() - t0
    res = valuation.result
    values = np.empty(len(X))
    values[np.asarray(res.indices)] = res.values
    print(json.dumps({"wall": wall, "evals": CALLS["n"], "values": values.tolist()}))


if __name__ == "__main__":
    main()
