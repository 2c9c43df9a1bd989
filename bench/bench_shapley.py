"""W3/W4 benchmark: Monte Carlo Data Shapley and exact KNN-Shapley, attrib beside pyDVL 0.10.

Rows (see shared/reference/peer-figures.md, W3 and W4):

* logistic utility (test accuracy), 200 training / 100 test points of the breast cancer data;
* ridge utility (-MSE), scikit-learn's diabetes data, 300 training / 142 test points;
  both with the same number of permutations (20), truncation off and on (pyDVL's
  RelativeTruncation(0.01, burn_in_fraction=0.4), attrib's truncation=0.01, truncation_burn_in=0.4);
* exact KNN-Shapley (K=5) on digits (1,500 train / 297 test) and on 20,000 x 64 synthetic points
  with 1,000 test points.

pyDVL needs numpy < 2, so it runs in its own environment (``--peer-python``; default
bench/.peer-env/bin/python, or $PYDVL_PYTHON) through bench/_peer_pydvl.py, timed inside that process around
``fit`` only. Both sides use the same utility: the same model, score and empty-set value, and a
one-class subset predicting its class. Values are checked against a long attrib reference run
(Spearman), utilities against pyDVL's on the same subsets, and KNN values against pyDVL's.

    python bench/bench_shapley.py            # full run (~6 min), updates bench/RESULTS.md
    python bench/bench_shapley.py --quick    # smoke run, one repetition, does not touch RESULTS.md
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

import attrib
from attrib._utilities import make_utility

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _report import write_section  # noqa: E402
from _shapley_data import DATASETS  # noqa: E402

SECTION = "## bench_shapley.py"
AIMS = {"logistic": 100.0, "ridge": 1000.0, "knn": 50.0}
PERMUTATIONS = 20


# pyDVL 0.10 needs numpy < 2: it lives in its own virtual environment (git-ignored).
PEER_ENV = Path(__file__).resolve().parent / ".peer-env"


def peer(job: dict, python: str) -> dict:
    out = subprocess.run(
        [python, str(HERE / "_peer_pydvl.py")], input=json.dumps(job), capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def timed(fn, repeat):
    # One untimed call first: the first run pays for thread start-up and first-touch allocations,
    # which on millisecond workloads (ridge) outweighs the work itself.
    result = fn()
    walls = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        walls.append(time.perf_counter() - t0)
    return statistics.median(walls), result


def empty_value(kind, yt):
    if kind == "logistic":
        return float(max(np.mean(yt == 1), np.mean(yt == 0)))  # test-set majority class
    return float(-np.var(yt))  # -MSE of predicting the test mean


def run_mc(kind, data, truncate, args):
    X, y, Xt, yt = DATASETS[data]()
    kw = dict(utility=kind, metric="accuracy" if kind == "logistic" else "neg_mse", rtol=None, progress=False)
    if truncate:
        kw.update(truncation=0.01, truncation_burn_in=0.4)
    job = {
        "data": data,
        "kind": kind,
        "empty": empty_value(kind, yt),
        "truncate": truncate,
        "rtol": 0.01,
        "burn_in": 0.4,
        "seed": 0,
        "permutations": PERMUTATIONS,
    }
    peer_runs = [peer(job, args.peer_python) for _ in range(args.peer_repeat)]
    p_wall = statistics.median(r["wall"] for r in peer_runs)
    p_evals = peer_runs[0]["evals"]
    p_values = np.array(peer_runs[0]["values"])
    row = {
        "workload": f"{kind} ({data}, {len(X)} train, {len(Xt)} test), truncation {'on' if truncate else 'off'}",
        "kind": kind,
        "peer_wall": p_wall,
        "peer_evals_per_s": p_evals / p_wall,
    }
    for n_jobs in (1, 2):
        wall, res = timed(
            lambda: attrib.data_shapley(X, y, Xt, yt, max_permutations=PERMUTATIONS, seed=0, n_jobs=n_jobs, **kw),
            args.repeat,
        )
        row[f"wall_{n_jobs}"] = wall
        row[f"evals_per_s_{n_jobs}"] = res.n_evaluations / wall
    row["attrib_evals"] = res.n_evaluations
    row["peer_evals"] = p_evals
    row["speedup_1"] = row["evals_per_s_1"] / row["peer_evals_per_s"]
    row["speedup_2"] = row["evals_per_s_2"] / row["peer_evals_per_s"]
    # Values: a long attrib run as the reference, then each side's estimate against it.
    reference = args.reference[kind]
    ref = attrib.data_shapley(X, y, Xt, yt, max_permutations=reference, seed=12345, **kw)
    row["reference_permutations"] = reference
    row["rho_peer"] = spearmanr(ref.values, p_values)[0]
    row["rho_attrib_same_perms"] = spearmanr(ref.values, res.values)[0]
    # As many permutations as attrib (1 thread) runs in pyDVL's wall time, capped at the reference's.
    same_time = min(reference, max(PERMUTATIONS, int(PERMUTATIONS * row["speedup_1"])))
    st = attrib.data_shapley(X, y, Xt, yt, max_permutations=same_time, seed=7, **kw)
    row["attrib_same_time_perms"] = same_time
    row["rho_attrib_same_time"] = spearmanr(ref.values, st.values)[0]
    # Utilities: pyDVL's ModelUtility and attrib's incremental walk on the same prefixes.
    order = np.random.default_rng(3).permutation(len(X))
    sizes = np.unique(np.linspace(1, len(X), 40).astype(int))
    pu = np.array(peer({**job, "subsets": [order[:k].tolist() for k in sizes]}, args.peer_python)["utilities"])
    util = make_utility(
        attrib._dispatch.core,
        kind,
        X,
        y,
        Xt,
        yt,
        metric=kw["metric"],
        scoring=None,
        empty_score=None,
        alpha=1.0,
        C=1.0,
        k=5,
        refactor_every=32,
        n_threads=1,
    )
    au = util.prefixes(order)[sizes]
    row["utility_max_abs_diff"] = float(np.max(np.abs(au - pu)))
    row["utility_scale"] = float(np.max(np.abs(pu)))
    return row


def run_knn(data, args, peer_repeat):
    X, y, Xt, yt = DATASETS[data]()
    job = {"data": data, "kind": "knn", "k": 5}
    peer_runs = [peer(job, args.peer_python) for _ in range(peer_repeat)]
    p_wall = statistics.median(r["wall"] for r in peer_runs)
    p_values = np.array(peer_runs[0]["values"])
    row = {
        "workload": f"KNN-Shapley K=5 ({data}, {len(X)} x {X.shape[1]} train, {len(Xt)} test)",
        "kind": "knn",
        "peer_wall": p_wall,
    }
    for n_jobs in (1, 2):
        wall, res = timed(lambda: attrib.knn_shapley(X, y, Xt, yt, k=5, n_jobs=n_jobs), args.repeat)
        row[f"wall_{n_jobs}"] = wall
    row["speedup_1"] = p_wall / row["wall_1"]
    row["speedup_2"] = p_wall / row["wall_2"]
    row["max_abs_diff"] = float(np.max(np.abs(res.values - p_values)))
    row["value_scale"] = float(np.max(np.abs(p_values)))
    row["rho_peer"] = spearmanr(res.values, p_values)[0]
    return row


def fmt_table(rows):
    lines = [
        "| workload | pyDVL wall | pyDVL evals/s | attrib wall (1 / 2 threads) | attrib evals/s (1 / 2) "
        "| speedup (1 / 2 threads) | aim | values |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        aim = AIMS[r["kind"]]
        if r["kind"] == "knn":
            evals = "-"
            peer_evals = "-"
            values = (
                f"max abs diff vs pyDVL {r['max_abs_diff']:.1e} (scale {r['value_scale']:.1e}), "
                f"Spearman {r['rho_peer']:.4f}"
            )
        else:
            peer_evals = f"{r['peer_evals_per_s']:,.0f}"
            evals = f"{r['evals_per_s_1']:,.0f} / {r['evals_per_s_2']:,.0f}"
            values = (
                f"Spearman vs {r['reference_permutations']}-perm reference: pyDVL@{PERMUTATIONS} "
                f"{r['rho_peer']:.3f}, attrib@{PERMUTATIONS} {r['rho_attrib_same_perms']:.3f}, "
                f"attrib@{r['attrib_same_time_perms']} (in pyDVL's wall time) {r['rho_attrib_same_time']:.3f}; "
                f"utility max abs diff {r['utility_max_abs_diff']:.1e} (scale {r['utility_scale']:.1e})"
            )
        lines.append(
            f"| {r['workload']} | {r['peer_wall']:.3f} s | {peer_evals} | {r['wall_1'] * 1e3:.1f} / "
            f"{r['wall_2'] * 1e3:.1f} ms | {evals} | {r['speedup_1']:,.0f}x / {r['speedup_2']:,.0f}x | "
            f"{aim:.0f}x {'met' if max(r['speedup_1'], r['speedup_2']) >= aim else 'NOT met'} | {values} |"
        )
    return lines


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="one repetition, short reference, no RESULTS.md")
    ap.add_argument("--peer-python", default=os.environ.get("PYDVL_PYTHON", str(PEER_ENV / "bin" / "python")))
    args = ap.parse_args()
    args.repeat = 1 if args.quick else 5
    args.peer_repeat = 1 if args.quick else 3
    # Reference runs: long enough that their own noise does not cap the rank correlations.
    args.reference = {"logistic": 500, "ridge": 500} if args.quick else {"logistic": 10000, "ridge": 20000}
    warnings.simplefilter("ignore")
    if not Path(args.peer_python).exists():
        sys.exit(
            f"pyDVL's Python not found at {args.peer_python}: python -m venv {PEER_ENV} && "
            f"{PEER_ENV}/bin/pip install 'pydvl==0.10.0' 'numpy<2' scikit-learn (or set PYDVL_PYTHON)"
        )
    load_start = os.getloadavg()[0]
    rows = []
    for kind, data in (("logistic", "breast_cancer"), ("ridge", "diabetes")):
        for truncate in (False, True):
            rows.append(run_mc(kind, data, truncate, args))
            print(fmt_table(rows[-1:])[-1], flush=True)
    rows.append(run_knn("digits", args, args.peer_repeat))
    print(fmt_table(rows[-1:])[-1], flush=True)
    rows.append(run_knn("synthetic_knn", args, 1))
    print(fmt_table(rows[-1:])[-1], flush=True)
    info = attrib.build_info()
    peer_version = subprocess.run(
        [args.peer_python, "-c", "import pydvl; print(pydvl.__version__)"], capture_output=True, text=True
    ).stdout.strip()
    header = [
        f"{_dt.date.today().isoformat()}, {platform.machine()}, {os.cpu_count()} CPUs, attrib core "
        f"{info['core']} ({info['isa']}), OpenMP {info['openmp']}, pyDVL {peer_version} with n_jobs=1 "
        f"(its own venv). Medians of {args.repeat} attrib runs and {args.peer_repeat} pyDVL runs "
        f"({PERMUTATIONS} permutations each for Monte Carlo; synthetic KNN: 1 pyDVL run). Speedup = attrib "
        "utility evaluations per second / pyDVL's (Monte Carlo), or pyDVL wall / attrib wall (KNN); the aim is "
        "judged on attrib's faster configuration (1 or 2 threads). "
        f"Load average at start / end: {load_start:.1f} / {os.getloadavg()[0]:.1f} on a shared machine: "
        "a load above the CPU count slows both sides, and the single-process peer most.",
        "",
    ]
    table = fmt_table(rows)
    print("\n".join(header + table))
    if not args.quick:
        write_section(SECTION, header + table + ["", "Command: `python bench/bench_shapley.py`"])


if __name__ == "__main__":
    main()
