"""The evaluation table: how well each attrib method predicts retraining, on real data.

Logistic regression (scikit-learn's ``LogisticRegression(C=1)`` objective) on breast cancer
(attrib.datasets), scikit-learn's digits with two classes (3 vs 8), and digits with ten classes
(one-vs-rest: a target's output is the margin of its own class's binary model; the ten models
are retrained on the same subsets). For each method:

* **LDS (margin)**: ``attrib.metrics.lds`` of the method's per-target scores against the margins
  of models retrained on m >= 100 fixed-size subsets (alpha = 0.5), mean over targets with a 95%
  bootstrap interval. One-column methods (Shapley, Banzhaf, KNN-Shapley) have no per-target
  scores: "-".
* **LDS (accuracy)**: the same for the test-set utility, one number: the sum of a per-target
  method's scores over the targets (or a one-column method's values) against the retrained
  models' test accuracy.
* **LOO corr.**: Pearson correlation with exact leave-one-out (``glm_loo(method="exact")``),
  per target then averaged (one-column methods: with the exact LOO change of the total test
  loss).
* **mislabel AUC**: 10% of the training labels flipped (two classes: 1 - y; ten: another class
  at random), each method rerun, points ranked by their value for the test set (lowest first):
  ``attrib.metrics.mislabel_auc``.
* **time**: wall time of computing the scores on the clean data.

Ground truth comes from ``attrib.retrain`` when it is there; otherwise from refits on
fixed-size masks with attrib's own Newton fit of scikit-learn's ``LogisticRegression(C=1)``
objective (the one ``glm_loo`` and ``removal_curve`` use), checked against scikit-learn
``newton-cholesky`` (tol=1e-12) refits on the first subsets of each data set: scikit-learn's fit
is several hundred times slower here, too slow for the thousand ten-class refits.
Datamodels and TRAK rows appear once ``attrib.datamodels`` / ``attrib.TRAK`` exist. A DsDm
selection demo (``attrib.select``) follows the table.

    python bench/bench_quality.py            # ~2-4 min; updates the bench_quality.py section of bench/RESULTS.md
    python bench/bench_quality.py --quick    # fewer permutations and subsets, prints only
"""

from __future__ import annotations

import argparse
import os
import platform
import time
import traceback
import warnings

import numpy as np

import attrib
from attrib import metrics

from _report import cpu_model, write_section

SECTION = "## bench_quality.py"
C = 1.0
ALPHA = 0.5
FLIP_FRACTION = 0.1

ANCHORS = [
    "Published anchors (dattri benchmark, MNIST-10 + logistic regression, 5,000 training points, read from its "
    "charts): LDS of the exact influence function (explicit / CG / LiSSA) about 0.80, TRAK-10 0.64, TRAK-50 0.68; "
    "LOO correlation of the influence function 0.86-0.88; noisy-label detection AUC about 0.98 for most methods.",
]


# ------------------------------------------------------------------------------- data
def standardise(X, ref=None):
    ref = X if ref is None else ref
    mu, sd = ref.mean(0), ref.std(0)
    keep = sd > 0
    return (X[:, keep] - mu[keep]) / sd[keep]


def datasets():
    from sklearn.datasets import load_digits

    rng = np.random.default_rng(0)
    out = []
    bc = attrib.datasets.load_breast_cancer()
    p = rng.permutation(bc.X.shape[0])
    X, y = bc.X[p], bc.y[p]
    out.append(dict(name="breast cancer", X=X[:400], y=y[:400], Xq=X[400:], yq=y[400:], n_classes=2))
    dg = load_digits()
    two = np.isin(dg.target, (3, 8))
    X2, y2 = dg.data[two], (dg.target[two] == 8).astype(float)
    p = rng.permutation(X2.shape[0])
    X2, y2 = X2[p], y2[p]
    out.append(dict(name="digits 3 vs 8", X=X2[:250], y=y2[:250], Xq=X2[250:], yq=y2[250:], n_classes=2))
    p = rng.permutation(dg.data.shape[0])
    X10, y10 = dg.data[p], dg.target[p].astype(np.int64)
    out.append(
        dict(
            name="digits, 10 classes",
            X=X10[:1000],
            y=y10[:1000],
            Xq=X10[1000:1300],
            yq=y10[1000:1300],
            n_classes=10,
            X_eval=X10[1300:],
            y_eval=y10[1300:],
        )
    )
    for d in out:
        Xtr = d["X"]
        d["X"], d["Xq"] = standardise(Xtr), standardise(d["Xq"], Xtr)
        if "X_eval" in d:
            d["X_eval"] = standardise(d["X_eval"], Xtr)
    return out


def flip_labels(y, n_classes, seed=1):
    rng = np.random.default_rng(seed)
    flipped = np.zeros(y.size, bool)
    flipped[rng.choice(y.size, round(FLIP_FRACTION * y.size), replace=False)] = True
    yf = y.copy()
    if n_classes == 2:
        yf[flipped] = 1 - yf[flipped]
    else:
        shift = rng.integers(1, n_classes, size=int(flipped.sum()))
        yf[flipped] = (yf[flipped] + shift) % n_classes
    return yf, flipped


# ------------------------------------------------------------------------------- ground truth
def fixed_masks(m, n, seed):
    rng = np.random.default_rng(seed)
    masks = np.zeros((m, n), bool)
    for s in range(m):
        masks[s, rng.choice(n, round(ALPHA * n), replace=False)] = True
    return masks


def retrain_decisions(X, ybin, Xq, m, seed):
    """(masks, F, source): F[s, j] = b + x_j' w of the binary logistic model fitted on subset s."""
    if hasattr(attrib, "retrain"):
        kwargs = dict(model="logistic", n_subsets=m, alpha=ALPHA, seed=seed)
        for extra in (dict(C=C, progress=False), dict(C=C), {}):
            try:
                r = attrib.retrain(X, ybin, Xq, np.ones(Xq.shape[0]), **kwargs, **extra)
            except TypeError:
                continue
            return r.masks, np.asarray(r.outputs["margin"], dtype=float), "attrib.retrain"
    masks = fixed_masks(m, X.shape[0], seed)
    F = np.empty((m, Xq.shape[0]))
    for s in range(m):
        keep = masks[s]
        b, coef = metrics._logistic_fit(X[keep], ybin[keep], C, None)
        F[s] = Xq @ coef + b
    # attrib's Newton fit solves scikit-learn's objective (tested to 1e-8 in test_metrics_detection.py);
    # check it here on the first subsets against scikit-learn itself, which is far slower
    from sklearn.linear_model import LogisticRegression

    for s in range(min(3, m)):
        keep = masks[s]
        est = LogisticRegression(C=C, solver="newton-cholesky", tol=1e-12, max_iter=500).fit(X[keep], ybin[keep])
        gap = float(np.max(np.abs(est.decision_function(Xq) - F[s])))
        assert gap < 1e-6, gap
        SKLEARN_GAP[0] = max(SKLEARN_GAP[0], gap)
    return masks, F, "attrib's logistic fit (scikit-learn's objective), checked against scikit-learn"


SKLEARN_GAP = [0.0]


def ground_truth(d, m, seed):
    """masks, per-target margins (m x T), test correctness (m x T), source."""
    X, y, Xq, yq = d["X"], d["y"], d["Xq"], d["yq"]
    if d["n_classes"] == 2:
        masks, F, source = retrain_decisions(X, y, Xq, m, seed)
        margin = (2 * yq - 1) * F
        return masks, margin, margin > 0, source
    D = []
    for c in range(d["n_classes"]):
        masks, F, source = retrain_decisions(X, (y == c).astype(float), Xq, m, seed)
        D.append(F)
    D = np.stack(D)  # classes x m x T
    T = Xq.shape[0]
    margin = D[yq, :, np.arange(T)].T
    correct = D.argmax(axis=0) == yq[None, :]
    return masks, margin, correct, source


# ------------------------------------------------------------------------------- methods
def per_target(fn, X, y, Xq, yq, n_classes):
    """n x T scores of a binary method fn(X, ybin, Xq, yqbin); one-vs-rest for ten classes."""
    if n_classes == 2:
        return fn(X, y, Xq, yq)
    S = np.zeros((X.shape[0], Xq.shape[0]))
    for c in range(n_classes):
        cols = yq == c
        if cols.any():
            S[:, cols] = fn(X, (y == c).astype(float), Xq[cols], np.ones(int(cols.sum())))
    return S


def loo_method(method):
    def fn(X, y, Xq, yq):
        return attrib.influence(X, y, Xq, yq, family="logistic", C=C, method=method)

    return fn


def self_influence(method, X, y, n_classes):
    """Each point's own loss change when it is removed, loss(y_i, eta_(i)) - loss(y_i, eta_i) (>= 0:
    large for points the rest of the data contradict); summed over the one-vs-rest models."""

    def one(yb):
        r = attrib.glm_loo(X, yb, family="logistic", C=C, method=method)
        eta, loo = np.asarray(r.linear_predictor), np.asarray(r.loo_linear_predictor)
        return np.logaddexp(0, loo) - yb * loo - (np.logaddexp(0, eta) - yb * eta)

    if n_classes == 2:
        return one(y)
    return sum(one((y == c).astype(float)) for c in range(n_classes))


def trak_scores(X, y, Xq, yq):
    """TRAK for one logistic model: features = gradients of the margin, Q = 1 - p(correct)."""
    fit = attrib.glm_loo(X, y, family="logistic", C=C, refine=0)
    Z, Zq = np.hstack([np.ones((X.shape[0], 1)), X]), np.hstack([np.ones((Xq.shape[0], 1)), Xq])
    sign, sign_q = 2 * y - 1, 2 * yq - 1
    margins = sign * (Z @ np.asarray(fit.params_))
    G, Gq = sign[:, None] * Z, sign_q[:, None] * Zq
    # The model's gradients are its (d + 1)-dimensional features: already small, so no projection
    # (dim = their width: TRAK takes them as projected). One model, no ensemble: TRAK-1. The
    # kernel takes the model's own L2 penalty (lambda = 1/C): digits have constant pixels, which
    # leave Phi' Phi singular without it.
    t = attrib.TRAK(dim=G.shape[1], lambda_reg=1.0 / C)
    t.add_checkpoint(G, 1.0 / (1.0 + np.exp(margins)))
    S = np.asarray(t.score(Gq))
    return S if S.shape == (X.shape[0], Xq.shape[0]) else S.T


def mc_samples(quick):
    """Data Shapley permutations and Data Banzhaf subsets (each a logistic fit from scratch)."""
    return (30, 200) if quick else (100, 500)


def methods(d, quick):
    """name -> (kind, fn(X, y) -> scores n x T (per-target) or values n (one column))."""
    Xq, yq, k = d["Xq"], d["yq"], d["n_classes"]
    perms, subsets = mc_samples(quick)
    out = {
        "exact LOO": ("target", lambda X, y: per_target(loo_method("exact"), X, y, Xq, yq, k)),
        "Newton LOO": ("target", lambda X, y: per_target(loo_method("newton"), X, y, Xq, yq, k)),
        "influence function": ("target", lambda X, y: per_target(loo_method("influence"), X, y, Xq, yq, k)),
    }
    if k == 2:
        out["Data Shapley"] = (
            "one",
            lambda X, y: (
                attrib.data_shapley(
                    X, y, Xq, yq, utility="logistic", C=C, max_permutations=perms, seed=0, progress=False
                ).values
            ),
        )
        out["Data Banzhaf"] = (
            "one",
            lambda X, y: (
                attrib.data_shapley(
                    X,
                    y,
                    Xq,
                    yq,
                    utility="logistic",
                    C=C,
                    semivalue="banzhaf",
                    max_permutations=subsets,
                    seed=0,
                    progress=False,
                ).values
            ),
        )
    out["KNN-Shapley (K=5)"] = ("one", lambda X, y: attrib.knn_shapley(X, y, Xq, yq, k=5).values)
    if hasattr(attrib, "TRAK"):
        out["TRAK (1 model)"] = ("target", lambda X, y: per_target(trak_scores, X, y, Xq, yq, k))
    return out


def datamodel_scores(d, y, m_train, seed):
    """Datamodels fitted on their own retrained subsets (never the LDS evaluation subsets)."""
    dd = dict(d, y=y)
    masks, margin, _, _ = ground_truth(dd, m_train, seed)
    res = attrib.datamodels(masks, margin, method="lasso", l1="cv")
    return np.asarray(res.weights)


LOO_METHODS = {"exact LOO": "exact", "Newton LOO": "newton", "influence function": "influence"}


# ------------------------------------------------------------------------------- the table
def fmt(x, digits=3):
    return "-" if x is None else f"{x:.{digits}f}"


def evaluate(d, args):
    name = d["name"]
    X, y = d["X"], d["y"]
    t0 = time.perf_counter()
    masks, margin, correct, source = ground_truth(d, args.subsets, seed=10)
    t_truth = time.perf_counter() - t0
    accuracy = correct.mean(axis=1)
    yf, flipped = flip_labels(y, d["n_classes"])
    exact = None
    rows = []
    todo = methods(d, args.quick)
    if hasattr(attrib, "datamodels") and hasattr(attrib, "retrain"):
        m_dm = 500 if args.quick else 2000
        todo["datamodels (lasso, cv)"] = ("target", lambda X_, y_: datamodel_scores(d, y_, m_dm, seed=20))
    for mname, (kind, fn) in todo.items():
        row = dict(dataset=name, method=mname)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                t = time.perf_counter()
                s = np.asarray(fn(X, y), dtype=float)
                row["time"] = time.perf_counter() - t
                sf = np.asarray(fn(X, yf), dtype=float)
            if mname == "exact LOO":
                exact = s
            col = s.sum(axis=1) if kind == "target" else s
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", attrib.UndefinedValueWarning)
                if kind == "target":
                    r = metrics.lds(s, masks, margin, seed=0)
                    row["lds"], row["ci"] = r.mean, r.ci
                row["lds_acc"] = metrics.lds(col, masks, accuracy, n_bootstrap=0).mean
                if exact is not None:
                    if kind == "target":
                        row["loo"] = metrics.loo_correlation(s, exact, n_bootstrap=0).mean
                    else:
                        row["loo"] = metrics.loo_correlation(col, exact.sum(axis=1), n_bootstrap=0).mean
            vf = sf.sum(axis=1) if kind == "target" else sf
            row["auc"] = metrics.mislabel_auc(vf, flipped).auc
            if mname in LOO_METHODS:  # high self-influence = suspect, so its negative is the value
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    si = self_influence(LOO_METHODS[mname], X, yf, d["n_classes"])
                row["auc_self"] = metrics.mislabel_auc(-si, flipped).auc
        except Exception as exc:  # a method that cannot run here is reported, not fatal
            row["error"] = f"{type(exc).__name__}: {exc}"
            if args.verbose:
                traceback.print_exc()
        rows.append(row)
        print(
            f"  {name:20s} {mname:24s} "
            + (
                row.get("error")
                or f"LDS {fmt(row.get('lds'))}  "
                f"LDS(acc) {fmt(row.get('lds_acc'))}  LOO {fmt(row.get('loo'))}  AUC {fmt(row.get('auc'))}  "
                f"{row['time']:.2f} s"
            ),
            flush=True,
        )
    info = dict(
        dataset=name,
        n=X.shape[0],
        d=X.shape[1],
        T=d["Xq"].shape[0],
        m=args.subsets,
        source=source,
        t_truth=t_truth,
        classes=d["n_classes"],
    )
    return rows, info


def selection_demo(d, args):
    """DsDm on digits: select k training points for a target class mix, retrain, target accuracy."""
    from sklearn.linear_model import LogisticRegression

    mix = {3: 0.5, 5: 0.3, 8: 0.2}
    X, y, Xq, yq, Xe, ye = d["X"], d["y"], d["Xq"], d["yq"], d["X_eval"], d["y_eval"]
    tq = np.isin(yq, list(mix))
    te = np.isin(ye, list(mix))
    Xt, yt = Xq[tq], yq[tq]
    w = np.array([mix[c] / np.sum(yt == c) for c in yt])
    we = np.array([mix[c] / np.sum(ye[te] == c) for c in ye[te]])
    k = 150

    def target_accuracy(sel):
        est = LogisticRegression(C=C, max_iter=2000).fit(X[sel], y[sel])
        return float(np.sum(we * (est.predict(Xe[te]) == ye[te])))

    t = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loo = per_target(loo_method("exact"), X, y, Xt, yt, 10)
    t_scores = time.perf_counter() - t
    lines = []
    res = {
        "DsDm, exact LOO scores": target_accuracy(attrib.select(loo, k, target_weights=w).indices),
        "similarity to the targets": target_accuracy(
            attrib.select(None, k, target_weights=w, method="similarity", X=X, X_target=Xt).indices
        ),
    }
    rand = [target_accuracy(attrib.select(loo, k, method="random", seed=s).indices) for s in range(10)]
    res["random (mean of 10 seeds)"] = float(np.mean(rand))
    if hasattr(attrib, "TRAK"):
        try:
            res["DsDm, TRAK scores"] = target_accuracy(
                attrib.select(per_target(trak_scores, X, y, Xt, yt, 10), k, target_weights=w).indices
            )
        except Exception as exc:
            res["DsDm, TRAK scores"] = f"{type(exc).__name__}: {exc}"
    if hasattr(attrib, "datamodels") and hasattr(attrib, "retrain"):
        try:
            dd = dict(d, Xq=Xt, yq=yt)
            res["DsDm, datamodel scores"] = target_accuracy(
                attrib.select(
                    datamodel_scores(dd, y, 500 if args.quick else 2000, seed=30), k, target_weights=w
                ).indices
            )
        except Exception as exc:
            res["DsDm, datamodel scores"] = f"{type(exc).__name__}: {exc}"
    full = target_accuracy(np.arange(X.shape[0]))
    lines.append(
        f"DsDm selection demo (`attrib.select`): digits, {X.shape[0]} candidates, target mix classes 3 / 5 / 8 with "
        f"weights 0.5 / 0.3 / 0.2 ({int(tq.sum())} target points score the candidates; {int(te.sum())} held-out points "
        f"of those classes are evaluated, weighted by the mix). Select k={k}, retrain scikit-learn's "
        f"`LogisticRegression(C=1)` (multinomial) on the selection, report the weighted target accuracy "
        f"(all {X.shape[0]} candidates: {full:.3f}; exact-LOO scores took {t_scores:.2f} s)."
    )
    lines += ["", f"| selection (k={k}) | target accuracy |", "|---|---|"]
    for name, v in res.items():
        lines.append(f"| {name} | {v if isinstance(v, str) else f'{v:.3f}'} |")
    return lines


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="fewer permutations / subsets; prints only")
    ap.add_argument("--subsets", type=int, default=100, help="LDS subsets per data set (>= 100 for the table)")
    ap.add_argument("--verbose", action="store_true", help="print tracebacks of methods that fail")
    args = ap.parse_args()
    load_start = os.getloadavg()[0]
    t_all = time.perf_counter()
    all_rows, infos, demo = [], [], []
    for d in datasets():
        rows, info = evaluate(d, args)
        all_rows += rows
        infos.append(info)
        if d["n_classes"] == 10:
            demo = selection_demo(d, args)
    lines = [
        f"{time.strftime('%Y-%m-%d')}, {platform.machine()}, {os.cpu_count()} CPUs ({cpu_model()}), attrib core "
        f"{attrib.build_info()['core']}. L2 logistic regression, C={C:g}. LDS: {args.subsets} fixed-size subsets "
        f"(alpha={ALPHA}) per data set, retrained outputs = margins (ten classes: one-vs-rest, each target's own "
        f"class); mislabel AUC with {FLIP_FRACTION:.0%} of the training labels flipped. Data Shapley: "
        f"{mc_samples(args.quick)[0]} permutations; Data Banzhaf: {mc_samples(args.quick)[1]} subsets (both "
        "the logistic utility, test accuracy). Total {:.0f} s; load average at start / end {:.1f} / {:.1f}.".format(
            time.perf_counter() - t_all, load_start, os.getloadavg()[0]
        ),
        "",
    ]
    for info in infos:
        lines.append(
            f"- {info['dataset']}: n={info['n']} training points, d={info['d']}, {info['T']} targets, ground truth "
            f"by {info['source']} ({info['m']} subsets, {info['t_truth']:.1f} s)."
        )
    lines += [
        "",
        "| data | method | LDS (margin) [95% CI] | LDS (accuracy) | LOO corr. | mislabel AUC (test value) | "
        "mislabel AUC (self-influence) | time |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in all_rows:
        if "error" in r:
            lines.append(f"| {r['dataset']} | {r['method']} | failed: {r['error'][:120]} | | | | | |")
            continue
        lds = "-" if "lds" not in r else f"{r['lds']:.3f} [{r['ci'][0]:.3f}, {r['ci'][1]:.3f}]"
        loo = "1 (reference)" if r["method"] == "exact LOO" else fmt(r.get("loo"))
        lines.append(
            f"| {r['dataset']} | {r['method']} | {lds} | {fmt(r.get('lds_acc'))} | {loo} | {fmt(r.get('auc'))} | "
            f"{fmt(r.get('auc_self'))} | {r['time']:.2f} s |"
        )
    lines += [
        "",
        "LDS (accuracy) is one rank correlation over the subsets (no interval); the LOO column of one-column methods "
        "correlates their values with the exact LOO change of the total test loss. Mislabel AUC ranks points by "
        "their value for the test set (per-target methods: the sum over the targets), lowest first; the "
        "self-influence AUC (leave-one-out methods) ranks them by their own loss change when removed, highest "
        "first (``mislabel_auc(-self_influence, flipped)``), dattri's protocol."
        + (
            f" The refit ground truth agreed with scikit-learn refits to {SKLEARN_GAP[0]:.1e} (max |decision "
            "function| difference on the subsets checked)."
            if SKLEARN_GAP[0] > 0
            else ""
        ),
        "",
        *ANCHORS,
        "",
        *demo,
        "",
        "Command: `python bench/bench_quality.py`",
    ]
    print("\n".join(lines))
    if not args.quick:
        write_section(SECTION, lines)


if __name__ == "__main__":
    main()
