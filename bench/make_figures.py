"""Make the README's figures (docs/figures/*.png) with attrib.plot.

    python bench/make_figures.py            # writes docs/figures/, about a minute on 2 cores

Data: scikit-learn's digits (8x8 images, 10% of the training labels flipped at random, seed 0)
and the embedded breast cancer data. Every number in the figures is computed here, nothing is
typed in.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import attrib  # noqa: E402
import attrib.plot  # noqa: E402

OUT = Path(__file__).resolve().parents[1] / "docs" / "figures"


def digits_with_flipped_labels(seed=0, flip=0.1):
    from sklearn.datasets import load_digits

    d = load_digits()
    rng = np.random.default_rng(seed)
    order = rng.permutation(d.target.size)
    X, y = d.data[order] / 16.0, d.target[order].copy()
    Xtr, ytr, Xte, yte = X[:1000], y[:1000].copy(), X[1000:], y[1000:]
    flipped = rng.random(1000) < flip
    ytr[flipped] = (ytr[flipped] + rng.integers(1, 10, flipped.sum())) % 10
    return Xtr, ytr, Xte, yte, flipped


def save(fig, name):
    fig.tight_layout()
    path = OUT / name
    fig.savefig(path, dpi=90)
    plt.close(fig)
    print(f"wrote {path.relative_to(OUT.parents[1])} ({path.stat().st_size // 1024} KiB)")


def main():
    names = ["value_distribution", "top_points", "removal_curve", "convergence", "lds_scatter"]
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", nargs="+", choices=names, default=names, help="make only these figures")
    want = set(parser.parse_args().only)
    OUT.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()

    from sklearn.linear_model import LogisticRegression

    # 1-3. KNN-Shapley on digits with flipped labels: the distribution by group, the lowest values,
    # and a logistic model retrained without the highest- / lowest-valued points or random ones.
    if want & {"value_distribution", "top_points", "removal_curve"}:
        Xtr, ytr, Xte, yte, flipped = digits_with_flipped_labels()
        knn = attrib.knn_shapley(Xtr, ytr, Xte, yte, k=5)
    if "value_distribution" in want:
        fig, ax = plt.subplots(figsize=(5.5, 3.2))
        attrib.plot.value_distribution(knn, groups=np.where(flipped, "flipped label", "clean"), bins=40, ax=ax)
        ax.set_title("KNN-Shapley on digits, 10% of the labels flipped")
        save(fig, "value_distribution.png")
    if "top_points" in want:
        fig, ax = plt.subplots(figsize=(8, 2.0))
        attrib.plot.top_points(knn, Xtr, k=10, largest=False, image_shape=(8, 8), labels=ytr, ax=ax)
        lowest = knn.top(10, largest=False)
        ax.set_title(f"The 10 lowest KNN-Shapley values: {int(flipped[lowest].sum())} of them have flipped labels")
        save(fig, "top_points.png")
    if "removal_curve" in want:
        fractions = np.linspace(0.0, 0.4, 5)

        def curve(order):
            out = []
            for f in fractions:
                keep = order[int(round(f * order.size)) :]
                model = LogisticRegression(C=0.1, max_iter=300).fit(Xtr[keep], ytr[keep])
                out.append(model.score(Xte, yte))
            return np.array(out)

        n = knn.values.size
        fig, ax = plt.subplots(figsize=(5.5, 3.2))
        attrib.plot.removal_curve(fractions, curve(knn.top(n)), label="highest KNN-Shapley first", ax=ax)
        attrib.plot.removal_curve(fractions, curve(knn.top(n, largest=False)), label="lowest first", ax=ax)
        attrib.plot.removal_curve(fractions, curve(np.random.default_rng(1).permutation(n)), label="at random", ax=ax)
        ax.set_ylabel("test accuracy (logistic regression)")
        save(fig, "removal_curve.png")

    data = attrib.datasets.load_breast_cancer()
    X = (data.X - data.X.mean(0)) / data.X.std(0)
    # 4. Monte Carlo convergence: Data Shapley with the logistic utility on the breast cancer data.
    if "convergence" in want:
        res = attrib.data_shapley(
            X[:200], data.y[:200], X[400:], data.y[400:], utility="logistic", max_permutations=600, progress=False
        )
        fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
        attrib.plot.convergence(res, n_points=4, ax=axes[0])
        axes[0].set_title("Data Shapley estimates, +-1 standard error")
        attrib.plot.convergence(res, kind="stderr", ax=axes[1])
        axes[1].set_title(f"{res.n_samples} permutations, logistic utility, 200 points")
        save(fig, "convergence.png")

    # 5. LDS: additive predictions from GLM leave-one-out vs logistic refits on random half subsets.
    if "lds_scatter" in want:
        Xb, yb, xt = X[:300], data.y[:300], X[450]
        m = attrib.glm_loo(Xb, yb, family="logistic", C=1.0)
        effect = m.dcoef @ np.concatenate([[1.0], xt])  # change of the test margin from each point
        masks = np.random.default_rng(2).random((100, 300)) < 0.5
        actual = np.array(
            [LogisticRegression(C=1.0, max_iter=2000).fit(Xb[s], yb[s]).decision_function(xt[None])[0] for s in masks]
        )
        fig, ax = plt.subplots(figsize=(4.5, 3.6))
        attrib.plot.lds_scatter(masks @ effect, actual, ax=ax)
        ax.set_title("Test margin: GLM leave-one-out effects\nvs logistic refits, " + ax.get_title(), fontsize=10)
        save(fig, "lds_scatter.png")
    print(f"figures in {time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    main()
