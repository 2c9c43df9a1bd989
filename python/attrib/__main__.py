"""The ``attrib`` command line: ``python -m attrib demo`` and ``python -m attrib info``."""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np


def _demo(args) -> int:
    import attrib

    data = attrib.datasets.load_breast_cancer()
    X = (data.X - data.X.mean(axis=0)) / data.X.std(axis=0)
    y = data.y
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
    return 0


def _info(_args) -> int:
    import attrib

    for key, value in attrib.build_info().items():
        print(f"{key}: {value}")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="attrib", description="Data attribution, exact where possible.")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="leave-one-out influence on the embedded breast cancer data")
    demo.add_argument("--top", type=int, default=10, help="how many rows to list (default 10)")
    demo.add_argument("--alpha", type=float, default=1.0, help="ridge penalty (default 1.0)")
    demo.set_defaults(run=_demo)
    info = sub.add_parser("info", help="which compiled core is in use")
    info.set_defaults(run=_info)
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
