"""W2 benchmark: GLM leave-one-out, attrib against its peers in one run.

Rows (see the project reference peer-figures.md, W2a/W2b):

* W2b, Newton-step LOO of an unpenalised logistic regression at n=100,000, d=50: statsmodels
  ``GLM(Binomial).fit()`` + ``get_influence().d_params`` against ``attrib.glm_loo(C=None)``, end to
  end and the leave-one-out part alone; numpy's time for one IRLS iteration at that size as the
  floor; statsmodels at a second size for the scaling.
* Scaling: the end-to-end Newton-step LOO as a user calls it, ``glm_loo(X, y, C=1.0).dcoef`` (no
  refinement), at n = 5,000 to 1,000,000 and d = 20 and 50, against one numpy Hessian
  ``Z.T @ (w[:, None] * Z)`` on the same data (the floor: aim <= 3x for n >= 20,000) and against
  statsmodels ``GLM(Binomial).fit()`` + ``get_influence().d_params`` (aim >= 50x for n >= 20,000).
  statsmodels is unpenalised, attrib uses C=1 (the issue's call); the W2b rows keep C=None, where
  the two agree and are checked against each other.
* W2a, exact LOO of an L2 logistic regression (C=1) on the embedded breast cancer data (standardised,
  n=569, p=31): a loop of scikit-learn refits (``newton-cholesky``, ``tol=1e-12``, ``sample_weight``
  0 at the row) against ``glm_loo(method="exact")``.
* Accuracy: Pearson correlation between the estimated and the exact leave-one-out change of test
  loss for the Newton step and the influence function, on breast cancer and scikit-learn's digits
  (two classes), and how it grows with ``refine=k`` (by leverage and by Cook's distance), at what cost.
* Groups (reference loo-influence.md §3.4.6 and §6.2): removing coherent groups of 1-25 % of the rows
  of an L2 logistic regression (n=500, p=11, C=1): how the Woodbury group Newton step and the
  additive sums of individual estimates track the exact group removal, and the exact removal's
  time against scikit-learn refits without each group.

Only ratios measured in the same run mean anything (run-to-run noise on small shared machines
reaches about 30 %), so every peer runs beside attrib here. Outputs are checked against each other
before anything is printed.

    python bench/bench_glm.py            # full run (~3 min), updates the bench_glm.py section of bench/RESULTS.md
    python bench/bench_glm.py --quick    # smoke run, smaller sizes, does not touch RESULTS.md
    python bench/bench_glm.py --scaling-only --sizes 20000,100000   # the scaling table alone
    python bench/bench_glm.py --multiclass-only   # multinomial LOO and Shapley (issue 10), its own section

Timings are taken twice: with every thread by wall clock, and with one thread (attrib and the
peers' BLAS) by this process's CPU time, which other load on a shared machine disturbs far less.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
import warnings

import numpy as np

import attrib

from _report import RESULTS_PATH, cpu_model, write_section

SECTION = "## bench_glm.py"

# Aims from the issue.
AIM_STATSMODELS = 50.0  # Newton-step LOO at least this many times faster than statsmodels
AIM_REFITS = 100.0  # exact LOO at least this many times faster than a loop of refits
AIM_FLOOR = 3.0  # Newton-step LOO (from the fit) within this many times one numpy IRLS iteration

BIG_N, BIG_D = 100_000, 50
SCALING_SIZES = (5_000, 20_000, 100_000, 1_000_000)
SCALING_DIMS = (20, 50)
SCALING_AIM_FROM = 20_000  # the aims apply from this n on
#: Interleaved rounds per size in the scaling table (statsmodels once per round): fewer where one
#: statsmodels call takes seconds.
SCALING_ROUNDS = {5_000: 5, 20_000: 5, 100_000: 3, 1_000_000: 1}
SCALING_N = 25_000
QUICK_N = 20_000


def median_ms(times) -> float:
    return 1e3 * statistics.median(times)


#: The clock of the timings: wall time, or this process's CPU time (--clock cpu; with one thread
#: this is close to the wall time on an idle machine, and much less disturbed by other load).
CLOCK = time.perf_counter

# Pause before each timed call: OpenBLAS worker threads keep spinning for a while after a BLAS
# call (and OpenMP workers after a parallel region), and on a 2-core machine they would steal the
# cores of whichever method runs next.
SETTLE_S = 0.3


#: Extra calls per round for the fast (attrib, numpy) methods: their medians then rest on more
#: samples at little cost, which matters on a shared machine.
FAST_CALLS = 3


def time_interleaved(funcs: dict, repeats: int) -> dict[str, list[float]]:
    """Round-robin repeats, so slow drift of the machine hits every method alike; methods whose
    name does not start with "sm_" run FAST_CALLS times per round."""
    times = {name: [] for name in funcs}
    for _ in range(repeats):
        for name, fn in funcs.items():
            for _ in range(1 if name.startswith("sm_") else FAST_CALLS):
                time.sleep(SETTLE_S)
                t0 = CLOCK()
                out = fn()
                times[name].append(CLOCK() - t0)
                del out
    return times


def rel_dev(actual, desired) -> float:
    actual, desired = np.asarray(actual), np.asarray(desired)
    return float(np.max(np.abs(actual - desired)) / np.max(np.abs(desired)))


# -- W2b: Newton-step LOO at scale ---------------------------------------------------------------
def logistic_data(n: int, d: int, seed: int):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    beta = 0.3 * rng.standard_normal(d)
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-(0.2 + X @ beta)))).astype(float)
    return X, y


def with_constant(X):
    Z = np.empty((X.shape[0], X.shape[1] + 1))
    Z[:, 0] = 1.0
    Z[:, 1:] = X
    return Z


def sm_fit(Z, y):
    import statsmodels.api as sm

    return sm.GLM(y, Z, family=sm.families.Binomial()).fit()


def numpy_irls_iteration(Z, y, theta):
    """One IRLS (Newton) iteration for logistic regression: the floor of any O(n p^2) method."""
    eta = Z @ theta
    mu = 1.0 / (1.0 + np.exp(-eta))
    W = mu * (1.0 - mu)
    H = Z.T @ (W[:, None] * Z)
    g = Z.T @ (y - mu)
    return theta + np.linalg.solve(H, g)


def attrib_loo_from_fit(r):
    """The leave-one-out part alone, from a finished fit: leverages and the n x p Newton steps in one
    pass (what statsmodels' get_influence().d_params computes from its fitted model)."""
    prob = r._prob
    return r._core.glm_loo_rows(prob.X, np.empty(0), r._fit, r._core.GlmStep.newton, prob.n_threads)[2]


def run_newton_step(n: int, d: int, repeats: int, seed: int, scaling_n: int | None) -> dict:
    X, y = logistic_data(n, d, seed)
    Z = with_constant(X)
    # Warm-up and agreement check (statsmodels fits to its default tolerance, so compare loosely).
    r = attrib.glm_loo(X, y, C=None)
    res = sm_fit(Z, y)
    d_params = res.get_influence().d_params
    dev_params = rel_dev(r.params_, res.params)
    dev_dparams = rel_dev(r.dcoef, d_params)
    np.testing.assert_allclose(r.dcoef, d_params, rtol=1e-6, atol=1e-9 * np.abs(d_params).max())
    dev_step = rel_dev(attrib_loo_from_fit(r), r.dcoef)
    theta0 = np.zeros(Z.shape[1])

    def sm_total():
        return sm_fit(Z, y).get_influence().d_params

    fitted = {"res": res}

    def sm_influence():
        # A fresh GLMInfluence each call (it caches), from the already fitted model.
        return fitted["res"].get_influence().d_params

    funcs = {
        "attrib_total": lambda: attrib.glm_loo(X, y, C=None).dcoef,
        "sm_total": sm_total,
        "attrib_loo": lambda: attrib_loo_from_fit(r),
        "sm_influence": sm_influence,
        "numpy_irls": lambda: numpy_irls_iteration(Z, y, theta0),
    }
    times = time_interleaved(funcs, repeats)
    out = {
        "times": times,
        "n_iter": r.n_iter_,
        "dev_params": dev_params,
        "dev_dparams": dev_dparams,
        "dev_step": dev_step,
    }
    if scaling_n:
        Xs, ys = X[:scaling_n], y[:scaling_n]
        Zs = Z[:scaling_n]
        out["scaling"] = time_interleaved(
            {
                "attrib_total": lambda: attrib.glm_loo(Xs, ys, C=None).dcoef,
                "sm_total": lambda: sm_fit(Zs, ys).get_influence().d_params,
            },
            repeats,
        )
    return out


# -- scaling: the end-to-end call against one numpy Hessian and statsmodels ----------------------
def _no_refine() -> dict:
    """The glm_loo argument that means "no refinement": refine=None where that is the default (no
    refinement), else refine=0 (where the default is an automatic refine)."""
    import inspect

    default = inspect.signature(attrib.glm_loo).parameters["refine"].default
    return {"refine": None} if default is None else {"refine": 0}


def numpy_hessian(Z, w):
    return Z.T @ (w[:, None] * Z)


def run_scaling(sizes, dims, n_jobs, seed: int) -> list[dict]:
    kw = {"C": 1.0, "n_jobs": n_jobs, **_no_refine()}
    rows = []
    for n in sizes:
        for d in dims:
            X, y = logistic_data(n, d, seed)
            Z = with_constant(X)
            r = attrib.glm_loo(X, y, **kw)  # warm-up
            mu = 1.0 / (1.0 + np.exp(-r.linear_predictor))
            w = mu * (1.0 - mu)
            funcs = {
                "attrib": lambda X=X, y=y: attrib.glm_loo(X, y, **kw).dcoef,
                "numpy_hessian": lambda Z=Z, w=w: numpy_hessian(Z, w),
                "sm_total": lambda Z=Z, y=y: sm_fit(Z, y).get_influence().d_params,
            }
            times = time_interleaved(funcs, SCALING_ROUNDS.get(n, 3))
            med = {k: median_ms(v) for k, v in times.items()}
            rows.append({"n": n, "d": d, "n_iter": r.n_iter_, **med})
            print(
                f"  scaling n={n:,} d={d}: attrib {fmt_ms(med['attrib'])} ms, numpy Hessian "
                f"{fmt_ms(med['numpy_hessian'])} ms, statsmodels {fmt_ms(med['sm_total'])} ms",
                flush=True,
            )
            del X, y, Z, r, w
    return rows


def scaling_report(rows: list[dict], label: str) -> list[str]:
    lines = [
        f"### Scaling, {label}",
        "",
        "End to end, `glm_loo(X, y, C=1.0).dcoef` without refinement (logistic, synthetic data as in W2b), against "
        "one numpy Hessian `Z.T @ (w[:, None] * Z)` (Z with the intercept column) and statsmodels "
        "`GLM(Binomial).fit().get_influence().d_params` (unpenalised). Median ms over interleaved rounds "
        f"({', '.join(f'n={n:,}: {k}' for n, k in SCALING_ROUNDS.items())} rounds; attrib and numpy {FAST_CALLS} "
        f"calls per round). Aims for n >= {SCALING_AIM_FROM:,}: attrib <= {AIM_FLOOR:g}x one numpy Hessian, "
        f">= {AIM_STATSMODELS:g}x faster than statsmodels.",
        "",
        "| n | d | attrib (ms) | numpy Hessian (ms) | attrib / Hessian | aim met | statsmodels (ms) | statsmodels / attrib | aim met | Newton iterations |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        floor = r["attrib"] / r["numpy_hessian"]
        peer = r["sm_total"] / r["attrib"]
        aimed = r["n"] >= SCALING_AIM_FROM
        lines.append(
            f"| {r['n']:,} | {r['d']} | {fmt_ms(r['attrib'])} | {fmt_ms(r['numpy_hessian'])} | {floor:.2f}x | "
            f"{verdict(floor <= AIM_FLOOR) if aimed else '-'} | {fmt_ms(r['sm_total'])} | {peer:.1f}x | "
            f"{verdict(peer >= AIM_STATSMODELS) if aimed else '-'} | {r['n_iter']} |"
        )
    return lines


# -- W2a: exact LOO against refits ---------------------------------------------------------------
def breast_cancer():
    from sklearn.preprocessing import StandardScaler

    d = attrib.datasets.load_breast_cancer()
    return StandardScaler().fit_transform(d.X), d.y


def digits_two_classes():
    from sklearn.datasets import load_digits

    X, y = load_digits(n_class=2, return_X_y=True)
    return X / 16.0, y


def sklearn_refits(X, y, C):
    from sklearn.linear_model import LogisticRegression

    n = X.shape[0]
    est = LogisticRegression(C=C, solver="newton-cholesky", tol=1e-12, max_iter=1000)
    full = est.fit(X, y)
    theta = np.concatenate([full.intercept_, full.coef_[0]])
    out = np.empty((n, theta.size))
    for i in range(n):
        w = np.ones(n)
        w[i] = 0.0
        m = est.fit(X, y, sample_weight=w)
        out[i] = theta - np.concatenate([m.intercept_, m.coef_[0]])
    return out


def run_exact(repeats: int) -> dict:
    X, y = breast_cancer()
    C = 1.0
    ref = sklearn_refits(X, y, C)
    r = attrib.glm_loo(X, y, C=C, method="exact")
    max_abs = float(np.max(np.abs(r.dcoef - ref)))
    assert max_abs <= 1e-8, f"exact LOO differs from scikit-learn refits by {max_abs:.2g}"
    times = {"sklearn_refits": [], "attrib_exact": [], "attrib_newton": []}
    for _ in range(repeats):
        time.sleep(SETTLE_S)
        t0 = CLOCK()
        sklearn_refits(X, y, C)
        times["sklearn_refits"].append(CLOCK() - t0)
        for _ in range(5):
            time.sleep(SETTLE_S)
            t0 = CLOCK()
            attrib.glm_loo(X, y, C=C, method="exact")
            times["attrib_exact"].append(CLOCK() - t0)
            time.sleep(SETTLE_S)
            t0 = CLOCK()
            attrib.glm_loo(X, y, C=C)
            times["attrib_newton"].append(CLOCK() - t0)
    ns = attrib.glm_loo(X, y, C=C)
    ij = attrib.glm_loo(X, y, C=C, method="influence")
    rel = lambda a: float(np.linalg.norm(a.dcoef - r.dcoef) / np.linalg.norm(r.dcoef))  # noqa: E731
    row_rel = lambda a: np.linalg.norm(a.dcoef - r.dcoef, axis=1) / np.linalg.norm(r.dcoef, axis=1)  # noqa: E731
    return {
        "times": times,
        "rounds": repeats,
        "max_abs": max_abs,
        "n": X.shape[0],
        "p": X.shape[1] + 1,
        "frob": {"newton": rel(ns), "influence": rel(ij)},
        "median_row": {"newton": float(np.median(row_rel(ns))), "influence": float(np.median(row_rel(ij)))},
        "rows_over_100pct": {"newton": int((row_rel(ns) > 1).sum()), "influence": int((row_rel(ij) > 1).sum())},
    }


# -- accuracy: test-loss changes -----------------------------------------------------------------
def run_accuracy(ks=(0, 5, 10, 20, 50)) -> list[dict]:
    from sklearn.model_selection import train_test_split

    rows = []
    for name, load in (("breast cancer", breast_cancer), ("digits 0/1", digits_two_classes)):
        X, y = load()
        Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
        for C in (0.1, 1.0):
            ex = attrib.glm_loo(Xtr, ytr, C=C, method="exact")
            truth = ex.influence(Xte, yte).ravel()
            row = {"data": name, "n": Xtr.shape[0], "n_test": Xte.shape[0], "C": C}
            for method in ("influence", "newton"):
                est = attrib.glm_loo(Xtr, ytr, C=C, method=method, refine=0)
                row[method] = float(np.corrcoef(est.influence(Xte, yte).ravel(), truth)[0, 1])
            # The default call (refine="auto") against the bare Newton step, timed interleaved.
            auto = attrib.glm_loo(Xtr, ytr, C=C)
            row["auto"] = float(np.corrcoef(auto.influence(Xte, yte).ravel(), truth)[0, 1])
            row["auto_rows"], row["auto_bound"] = int(auto.refined.size), float(auto.error_bound)
            t_bare, t_auto = [], []
            for _ in range(15):
                t_bare += _time(lambda: attrib.glm_loo(Xtr, ytr, C=C, refine=0), 1)
                t_auto += _time(lambda: attrib.glm_loo(Xtr, ytr, C=C), 1)
            row["t_newton_ms"], row["t_auto_ms"] = 1e3 * statistics.median(t_bare), 1e3 * statistics.median(t_auto)
            t_ex = statistics.median(_time(lambda: attrib.glm_loo(Xtr, ytr, C=C, method="exact"), 5))
            row["t_exact_ms"] = 1e3 * t_ex
            for by in ("hat", "cooks_distance"):
                curve = []
                for k in ks:
                    fn = lambda k=k: attrib.glm_loo(Xtr, ytr, C=C, refine=k, refine_by=by)  # noqa: E731
                    t = statistics.median(_time(fn, 5))
                    rr = fn()
                    curve.append((k, float(np.corrcoef(rr.influence(Xte, yte).ravel(), truth)[0, 1]), 1e3 * t))
                row["refine_" + by] = curve
            rows.append(row)
    return rows


# -- groups: Koh et al. 2019's experiment, exact group removal against refits ----------------------
GROUP_FRACTIONS = (0.01, 0.05, 0.10, 0.25)
GROUPS_PER_SIZE = 40


def run_groups(repeats: int) -> dict:
    from scipy.stats import spearmanr
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(5)
    n, d, C = 500, 10, 1.0
    X = rng.normal(size=(n, d))
    beta = rng.normal(size=d)
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-(X @ beta)))).astype(float)
    Xt = rng.normal(size=(200, d))
    yt = (rng.uniform(size=200) < 1 / (1 + np.exp(-(Xt @ beta)))).astype(float)
    r = attrib.glm_loo(X, y, C=C)
    rows, all_groups = [], []
    for frac in GROUP_FRACTIONS:
        size = int(frac * n)
        groups = []
        for _ in range(GROUPS_PER_SIZE):  # "coherent" groups: windows of the rows sorted by one feature
            order = np.argsort(X[:, rng.integers(d)])
            start = rng.integers(n - size + 1)
            groups.append(order[start : start + size])
        all_groups += groups
        g = r.group_loo(groups, method="exact")
        actual = g.influence(Xt, yt).mean(axis=1)
        row = {"frac": frac, "size": size}
        for name, estimate in (
            ("group_newton", "newton"),
            ("sum_newton", "sum_newton"),
            ("sum_influence", "sum_influence"),
        ):
            pred = g.influence(Xt, yt, estimate=estimate).mean(axis=1)
            row[name] = (float(spearmanr(actual, pred)[0]), float(np.abs(actual).sum() / np.abs(pred).sum()))
        rows.append(row)

    est = LogisticRegression(C=C, solver="newton-cholesky", tol=1e-12, max_iter=1000)
    full = est.fit(X, y)
    theta = np.concatenate([full.intercept_, full.coef_[0]])

    def sk_groups():
        out = np.empty((len(all_groups), d + 1))
        for k, G in enumerate(all_groups):
            w = np.ones(n)
            w[G] = 0.0
            m = est.fit(X, y, sample_weight=w)
            out[k] = theta - np.concatenate([m.intercept_, m.coef_[0]])
        return out

    ref = sk_groups()
    ours = r.group_loo(all_groups, method="exact").dcoef
    max_abs = float(np.max(np.abs(ours - ref)))
    assert max_abs <= 1e-8, f"exact group removal differs from scikit-learn refits by {max_abs:.2g}"
    t_sk = statistics.median(_time(sk_groups, repeats))
    t_ex = statistics.median(_time(lambda: r.group_loo(all_groups, method="exact"), 3 * repeats))
    t_nt = statistics.median(_time(lambda: r.group_loo(all_groups), 3 * repeats))
    return {
        "rows": rows,
        "n_groups": len(all_groups),
        "max_abs": max_abs,
        "t_sk": t_sk,
        "t_exact": t_ex,
        "t_newton": t_nt,
    }


def group_report(gr: dict) -> list[str]:
    lines = [
        "### Group removal",
        "",
        f"L2 logistic regression (n=500, p=11, C=1), {GROUPS_PER_SIZE} coherent groups per size (windows of the rows "
        "sorted by a random feature), change of the mean test loss (200 test points) by the exact group removal "
        "against three estimates: Spearman correlation / magnitude ratio (sum of |actual| over sum of |estimate|; "
        "above 1 means the estimate is too small).",
        "",
        "| group size | Woodbury Newton step | sum of Newton steps | sum of influence functions (Koh et al.) |",
        "|---|---|---|---|",
    ]
    for row in gr["rows"]:
        cells = " | ".join(
            f"{row[k][0]:.4f} / {row[k][1]:.3f}" for k in ("group_newton", "sum_newton", "sum_influence")
        )
        lines.append(f"| {row['frac']:.0%} ({row['size']} rows) | {cells} |")
    lines += [
        "",
        f'Exact removal of all {gr["n_groups"]} groups (`group_loo(method="exact")`): {fmt_ms(1e3 * gr["t_exact"])} ms '
        f"against {fmt_ms(1e3 * gr['t_sk'])} ms for scikit-learn refits (newton-cholesky, tol=1e-12, the group's "
        f"weights 0): {gr['t_sk'] / gr['t_exact']:.0f}x; max abs. difference {gr['max_abs']:.1e}. The Newton step "
        f"for all groups: {fmt_ms(1e3 * gr['t_newton'])} ms.",
    ]
    return lines


def _time(fn, repeats):
    out = []
    for _ in range(repeats):
        time.sleep(SETTLE_S / 3)
        t0 = CLOCK()
        fn()
        out.append(CLOCK() - t0)
    return out


# -- environment and report ----------------------------------------------------------------------
def environment() -> list[str]:
    import sklearn
    import statsmodels
    import threadpoolctl

    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    lines = [
        f"CPU: {cpu_model()}, {cpus} usable cores; load average before the run {os.getloadavg()[0]:.2f}",
        f"Python {platform.python_version()}, numpy {np.__version__}, statsmodels {statsmodels.__version__}, "
        f"scikit-learn {sklearn.__version__}",
        f"attrib.build_info(): {attrib.build_info()}",
    ]
    for lib in threadpoolctl.threadpool_info():
        kernel = f", kernel {lib['architecture']}" if lib.get("architecture") else ""
        lines.append(
            f"threadpool: {lib['internal_api']} {lib.get('version') or ''}{kernel}, {lib['num_threads']} threads"
        )
    return lines


def verdict(ok: bool) -> str:
    return "yes" if ok else "**no**"


def fmt_ms(ms: float) -> str:
    return f"{ms:.3g}" if ms < 100 else f"{ms:,.0f}"


def build_report(
    ns: dict, ex: dict, acc: list[dict] | None, n: int, d: int, repeats: int, scaling_n, label: str
) -> list[str]:
    med = {k: median_ms(v) for k, v in ns["times"].items()}
    size = f"n={n:,}, d={d}"
    lines = [
        f"### {label}",
        "",
        f"Timings: median ms over {repeats} interleaved rounds (statsmodels once per round, attrib and numpy "
        f"{FAST_CALLS} times; exact LOO: scikit-learn {ex['rounds']}, attrib {5 * ex['rounds']}). "
        "Ratio = peer / attrib (times faster), except the floor row (attrib / numpy).",
        "",
        "| workload | size | attrib (ms) | peer | peer (ms) | ratio | aim | met |",
        "|---|---|---|---|---|---|---|---|",
    ]
    r_total = med["sm_total"] / med["attrib_total"]
    lines.append(
        f"| Newton-step LOO, end to end (fit + d_params) | {size} | {fmt_ms(med['attrib_total'])} | statsmodels "
        f"GLM fit + get_influence().d_params | {fmt_ms(med['sm_total'])} | {r_total:.1f}x | >= {AIM_STATSMODELS:g}x | "
        f"{verdict(r_total >= AIM_STATSMODELS)} |"
    )
    r_loo = med["sm_influence"] / med["attrib_loo"]
    lines.append(
        f"| Newton-step LOO from a fitted model (leverages + d_params) | {size} | {fmt_ms(med['attrib_loo'])} | "
        f"statsmodels get_influence().d_params | {fmt_ms(med['sm_influence'])} | {r_loo:.1f}x | >= {AIM_STATSMODELS:g}x | "
        f"{verdict(r_loo >= AIM_STATSMODELS)} |"
    )
    r_floor = med["attrib_loo"] / med["numpy_irls"]
    lines.append(
        f"| Newton-step LOO from a fitted model vs floor | {size} | {fmt_ms(med['attrib_loo'])} | numpy: one IRLS "
        f"iteration | {fmt_ms(med['numpy_irls'])} | {r_floor:.2f}x | <= {AIM_FLOOR:g}x | {verdict(r_floor <= AIM_FLOOR)} |"
    )
    if "scaling" in ns:
        sc = {k: median_ms(v) for k, v in ns["scaling"].items()}
        r_sc = sc["sm_total"] / sc["attrib_total"]
        lines.append(
            f"| Newton-step LOO, end to end (scaling point) | n={scaling_n:,}, d={d} | {fmt_ms(sc['attrib_total'])} | "
            f"statsmodels, same | {fmt_ms(sc['sm_total'])} | {r_sc:.1f}x | - | - |"
        )
    et = {k: median_ms(v) for k, v in ex["times"].items()}
    r_ex = et["sklearn_refits"] / et["attrib_exact"]
    lines.append(
        f"| exact LOO (C=1) | breast cancer n={ex['n']}, p={ex['p']} | {fmt_ms(et['attrib_exact'])} | scikit-learn "
        f"newton-cholesky tol=1e-12, {ex['n']} refits | {fmt_ms(et['sklearn_refits'])} | {r_ex:.0f}x | "
        f">= {AIM_REFITS:g}x | {verdict(r_ex >= AIM_REFITS)} |"
    )
    lines.append(
        f"| Newton-step LOO (C=1), for scale | breast cancer n={ex['n']}, p={ex['p']} | {fmt_ms(et['attrib_newton'])} | "
        f"same refits | {fmt_ms(et['sklearn_refits'])} | {et['sklearn_refits'] / et['attrib_newton']:.0f}x | - | - |"
    )
    lines += [
        "",
        f"Agreement, checked before timing: attrib vs statsmodels ({size}) params max rel. dev. "
        f"{ns['dev_params']:.1e}, d_params {ns['dev_dparams']:.1e} (statsmodels at its default tolerance; "
        f"attrib's fit took {ns['n_iter']} Newton iterations); the from-a-fit LOO timed above equals "
        f"glm_loo's dcoef to {ns['dev_step']:.1e}; exact LOO vs scikit-learn refits max abs. diff. "
        f"{ex['max_abs']:.1e} (required <= 1e-8).",
        "",
    ]
    if acc is None:
        return lines
    return lines + accuracy_report(acc, ex)


def accuracy_report(acc: list[dict], ex: dict | None = None) -> list[str]:
    lines = ["### Accuracy", ""]
    if ex is not None:
        lines += [
            f"Accuracy against exact LOO on breast cancer (all {ex['n']} rows, C=1), coefficient space: relative "
            f"Frobenius error Newton step {ex['frob']['newton']:.3f}, influence function {ex['frob']['influence']:.3f}; "
            f"median row relative error {ex['median_row']['newton']:.1e} / {ex['median_row']['influence']:.1e}; rows "
            f"off by more than 100%: {ex['rows_over_100pct']['newton']} / {ex['rows_over_100pct']['influence']}.",
            "",
        ]
    lines += [
        "Pearson correlation of the estimated with the exact leave-one-out change of test loss (all n_train x "
        "n_test entries; 75/25 stratified split, random_state=0, features standardised (breast cancer) or /16 "
        "(digits)); aim >= 0.99 for the Newton step:",
        "",
        "| data | n_train x n_test | C | influence function | Newton step | met | exact LOO (ms) |",
        "|---|---|---|---|---|---|---|",
    ]
    for a in acc:
        lines.append(
            f"| {a['data']} | {a['n']} x {a['n_test']} | {a['C']:g} | {a['influence']:.4f} | {a['newton']:.4f} | "
            f"{verdict(a['newton'] >= 0.99)} | {a['t_exact_ms']:.3g} |"
        )
    lines += [
        "",
        "The default call, `glm_loo(X, y, C=C)` (`refine='auto'`: the rows with the largest Newton steps solved "
        "exactly until the error bound holds, at most one per 10 parameters), against the bare Newton step "
        "(`refine=0`), timed interleaved (median ms of 15 each); aims: Pearson >= 0.999 at no more than twice the "
        "bare step's time:",
        "",
        "| data | C | Newton step | default | rows refined | error bound | met | bare (ms) | default (ms) | cost | met |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for a in acc:
        cost = a["t_auto_ms"] / a["t_newton_ms"]
        lines.append(
            f"| {a['data']} | {a['C']:g} | {a['newton']:.4f} | {a['auto']:.5f} | {a['auto_rows']} | "
            f"{a['auto_bound']:.2g} | {verdict(a['auto'] >= 0.999)} | {a['t_newton_ms']:.3g} | {a['t_auto_ms']:.3g} | "
            f"{cost:.2f}x | {verdict(cost <= 2.0)} |"
        )
    lines += [
        "",
        "`refine=k`: the k rows picked by Cook's distance (`refine_by='cooks_distance'`, the default) or by leverage are "
        "solved exactly, the rest keep the Newton step. Pearson correlation (time in ms):",
        "",
    ]
    ks = [k for k, _, _ in acc[0]["refine_hat"]]
    lines.append("| data | C | refine_by | " + " | ".join(f"k={k}" for k in ks) + " |")
    lines.append("|---|---|---|" + "---|" * len(ks))
    for a in acc:
        for by in ("hat", "cooks_distance"):
            cells = " | ".join(f"{c:.4f} ({t:.2g})" for _, c, t in a["refine_" + by])
            lines.append(f"| {a['data']} | {a['C']:g} | {by} | {cells} |")
    return lines


def main(argv=None) -> int:
    global CLOCK
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help=f"smoke run: n={QUICK_N:,}, fewer repeats, no RESULTS.md")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--sizes",
        default=None,
        help="comma-separated n of the scaling table (default: "
        + ",".join(map(str, SCALING_SIZES))
        + "; --quick: 5000,20000)",
    )
    ap.add_argument("--scaling-only", action="store_true", help="only the scaling table; does not touch RESULTS.md")
    ap.add_argument(
        "--accuracy-only", action="store_true", help="only the accuracy tables (all threads); does not touch RESULTS.md"
    )
    ap.add_argument(
        "--multiclass-only",
        action="store_true",
        help="only the multinomial section (bench/_bench_glm_multiclass.py); writes its own RESULTS.md section",
    )
    args = ap.parse_args(argv)
    if args.multiclass_only:  # issue 10: softmax regression (its own section of RESULTS.md)
        import _bench_glm_multiclass as mc

        env = environment()
        print("\n".join(env), flush=True)
        peer = os.environ.get("PYDVL_PYTHON", str(mc.PEER_ENV / "bin" / "python"))
        lines = mc.main(args.quick, peer)
        print("\n".join(lines))
        if not args.quick:
            heading = SECTION + " --multiclass-only"
            write_section(
                heading, ["`python bench/bench_glm.py --multiclass-only`", ""] + [f"- {e}" for e in env] + [""] + lines
            )
            print(f"\nwrote the {heading!r} section of {RESULTS_PATH}")
        return 0
    if args.sizes:
        sizes = tuple(int(v) for v in args.sizes.split(","))
    else:
        sizes = SCALING_SIZES[:2] if args.quick else SCALING_SIZES
    import sklearn.linear_model  # noqa: F401  (load every BLAS and OpenMP pool before limiting them)
    import statsmodels.api  # noqa: F401
    from threadpoolctl import threadpool_limits

    warnings.simplefilter("error", attrib.AttribWarning)
    n = QUICK_N if args.quick else BIG_N
    repeats = 2 if args.quick else 3
    scaling_n = None if args.quick else SCALING_N
    env = environment()
    print("\n".join(env), flush=True)
    if args.accuracy_only:
        CLOCK = time.perf_counter
        print("\n".join(accuracy_report(run_accuracy())))
        return 0
    report = []
    # Two configurations in one run: every thread by wall clock (what a user sees), then one
    # thread by CPU time (robust to other load on a shared machine). Accuracy does not depend on it.
    configs = [
        (None, time.perf_counter, "All threads, wall-clock time"),
        (1, time.process_time, "One thread (attrib and every BLAS), CPU time of this process"),
    ]
    for threads, clock, label in configs:
        CLOCK = clock
        with threadpool_limits(threads):
            scaling = run_scaling(sizes, SCALING_DIMS, threads, args.seed)
        part = scaling_report(scaling, label)
        print()
        print("\n".join(part), flush=True)
        report += part + [""]
        if args.scaling_only:
            continue
        with threadpool_limits(threads):
            ns = run_newton_step(n, BIG_D, repeats, args.seed, scaling_n)
            ex = run_exact(1 if args.quick else 3)
            acc = run_accuracy() if threads is None else None
            groups = run_groups(1 if args.quick else 3) if threads is None else None
        part = build_report(ns, ex, acc, n, BIG_D, repeats, scaling_n, label)
        if groups is not None:
            part += [""] + group_report(groups)
        print()
        print("\n".join(part), flush=True)
        report += part + [""]
    if not (args.quick or args.scaling_only or args.sizes):
        write_section(SECTION, ["`python bench/bench_glm.py`", ""] + [f"- {e}" for e in env] + [""] + report)
        print(f"\nwrote the {SECTION!r} section of {RESULTS_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
