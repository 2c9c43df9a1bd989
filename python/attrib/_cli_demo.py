"""``attrib demo``: a short tour of what attrib answers, on the embedded Breast Cancer Wisconsin
data, each step with its time. The first table (the rows with the largest Cook's distance, one
line each, starting with the row number) is what ``demo --top N`` has always printed; the lines
of the later steps never start with a number, so scripts that read the table keep working."""

from __future__ import annotations

import time

import numpy as np


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def _rows(idx) -> str:
    return ", ".join(str(int(i)) for i in idx)


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    ra = np.argsort(np.argsort(a, kind="stable"), kind="stable").astype(float)
    rb = np.argsort(np.argsort(b, kind="stable"), kind="stable").astype(float)
    return float(np.corrcoef(ra, rb)[0, 1])


def run_demo(args) -> int:
    import attrib

    data = attrib.datasets.load_breast_cancer()
    X = (data.X - data.X.mean(axis=0)) / data.X.std(axis=0)
    y = data.y
    t_start = time.perf_counter()
    print(
        f"attrib {attrib.__version__} ({attrib.build_info()['isa']} core) on the embedded Breast Cancer "
        f"Wisconsin data: {X.shape[0]} tumours, {X.shape[1]} standardised features, target = benign."
    )
    print(f"Model: ridge linear probability model, alpha = {args.alpha:g}, intercept unpenalised.\n")
    t0 = time.perf_counter()
    r = attrib.linear_loo(X, y, alpha=args.alpha)
    names = ["intercept", *data.feature_names]
    dfbetas = r.dfbetas
    elapsed = time.perf_counter() - t0
    print(
        f"Exact leave-one-out for all {X.shape[0]} rows (leverages, PRESS residuals, Cook's distance, "
        f"DFBETAS) in {elapsed * 1e3:.2f} ms, no refits."
    )
    print(
        f"PRESS (leave-one-out) RMSE {np.sqrt(np.mean(r.loo_resid**2)):.4f} vs in-sample RMSE "
        f"{np.sqrt(np.mean(r.resid**2)):.4f}.\n"
    )
    print(f"The {args.top} most influential tumours (Cook's distance):")
    print(
        f"{'row':>5} {'label':>9} {'fitted':>7} {'LOO pred':>8} {'leverage':>8} {'Cook D':>8}  "
        f"most moved coefficient (DFBETAS)"
    )
    for i in r.top(args.top):
        j = int(np.argmax(np.abs(dfbetas[i])))
        label = "benign" if y[i] == 1 else "malignant"
        fitted = y[i] - r.resid[i]
        loo_pred = y[i] - r.loo_resid[i]
        print(
            f"{i:>5} {label:>9} {fitted:>7.3f} {loo_pred:>8.3f} {r.hat[i]:>8.3f} {r.cooks_distance[i]:>8.4f}  "
            f"{names[j]} ({dfbetas[i, j]:+.2f})"
        )
    if getattr(args, "short", False):
        return 0

    k = min(args.top, 5)
    # GLM: logistic regression, leave-one-out by one Newton step per row (with the rows that carry
    # its error solved exactly), next to the exact answer (a warm-started refit per row).
    print("\nLogistic regression (C = 1): leave-one-out without refits.")
    t0 = time.perf_counter()
    m = attrib.glm_loo(X, y, family="logistic", C=1.0)
    t_newton = time.perf_counter() - t0
    t0 = time.perf_counter()
    exact = attrib.glm_loo(X, y, family="logistic", C=1.0, method="exact")
    t_exact = time.perf_counter() - t0
    rel = float(np.linalg.norm(m.dcoef - exact.dcoef) / np.linalg.norm(exact.dcoef))
    print(
        f"  Newton step for all {X.shape[0]} rows ({m.refined.size} refined exactly) in {_ms(t_newton)}; "
        f"exact refits in {_ms(t_exact)}; relative difference {rel:.2g}."
    )
    print(f"  most influential rows: {_rows(m.top(k))} (exact: {_rows(exact.top(k))})")
    print("  attrib glm-loo data.csv --target y --family logistic -o loo.csv")

    # Game-theoretic values: train on the first 400 tumours, score on the other 169.
    Xtr, ytr, Xte, yte = X[:400], y[:400], X[400:], y[400:]
    print(f"\nData valuation: train on {Xtr.shape[0]} tumours, test accuracy on the other {Xte.shape[0]}.")
    t0 = time.perf_counter()
    kv = attrib.knn_shapley(Xtr, ytr, Xte, yte, k=5)
    t_knn = time.perf_counter() - t0
    print(
        f"  KNN-Shapley (K = 5), exact: {_ms(t_knn)}; least valuable rows (candidates for label errors): "
        f"{_rows(kv.top(k, largest=False))}"
    )
    t0 = time.perf_counter()
    v = attrib.data_shapley(
        Xtr, ytr, Xte, yte, utility="logistic", max_permutations=200, truncation=0.01, seed=0, progress=False
    )
    t_ds = time.perf_counter() - t0
    print(
        f"  Data Shapley (logistic utility, TMC truncation 0.01): {v.n_samples} permutations, "
        f"{v.n_evaluations} incremental fits in {_ms(t_ds)}; largest standard error {v.max_stderr:.2g}."
    )
    print(
        f"  least valuable rows: {_rows(v.top(k, largest=False))}; "
        f"rank correlation with KNN-Shapley {_spearman(v.values, kv.values):.2f}."
    )
    print("  attrib shapley train.csv --test test.csv --target y --utility logistic --max-permutations 200")
    print(f"\nTour done in {_ms(time.perf_counter() - t_start)}.")
    return 0
