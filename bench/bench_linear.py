"""W1 benchmark: exact OLS leave-one-out diagnostics, attrib against its peers in one run.

Rows (see the project reference peer-figures.md, W1):

* statsmodels ``OLSInfluence`` at n=2000, d=20 (it refits n times): ``dfbeta`` alone, and the
  usual summary diagnostics.
* a vectorised numpy closed form at n=200,000, d=100: fit + leverages + PRESS, and the full
  diagnostics with the n x p ``dfbeta``.
* numpy's ``X.T @ X`` at the same size, the floor any O(n d^2) method has to pay.
* peak extra memory (peak RSS, VmHWM) of each big-size method, each in a fresh subprocess.

Only ratios measured in the same run mean anything (run-to-run noise on small shared machines
reaches about 30 %), so every peer runs beside attrib here. Outputs are checked against each other
before anything is printed.

    python bench/bench_linear.py            # full run, updates bench/RESULTS.md (~1-2 min)
    python bench/bench_linear.py --quick    # smoke run, smaller sizes, does not touch RESULTS.md
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import attrib

from _report import RESULTS_PATH, cpu_model, write_section

SECTION = "## bench_linear.py"

# Aims the project is judged against.
AIM_STATSMODELS = 1000.0  # attrib at least this many times faster than statsmodels
AIM_NUMPY = 1.0  # attrib at least as fast as the numpy closed form
AIM_FLOOR = 3.0  # full diagnostics within this many times X.T @ X

SMALL_N, SMALL_D = 2000, 20
BIG_N, BIG_D = 200_000, 100
QUICK_BIG_N = 50_000

THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OPENBLAS_CORETYPE")
BIG_METHODS = ("attrib_press", "attrib_full", "attrib_full_lazy", "numpy_press", "numpy_full", "floor_xtx")


# -- data ----------------------------------------------------------------------------------------
def make_data(n: int, d: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian design (no constant column) and a linear response with unit noise."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    beta = rng.standard_normal(d)
    y = 0.5 + X @ beta + rng.standard_normal(n)
    return X, y


def with_constant(X: np.ndarray) -> np.ndarray:
    # Constant first, so column 0 lines up with attrib's intercept column of dfbeta.
    Z = np.empty((X.shape[0], X.shape[1] + 1))
    Z[:, 0] = 1.0
    Z[:, 1:] = X
    return Z


# -- methods -------------------------------------------------------------------------------------
def attrib_press(X, y):
    r = attrib.linear_loo(X, y)
    r.loo_resid
    return r


def attrib_full(X, y):
    # dfbeta=True: dfbeta comes out of the leverage pass (the way to ask for everything at once).
    r = attrib.linear_loo(X, y, dfbeta=True)
    r.loo_resid, r.cooks_distance, r.resid_studentized_external, r.dffits, r.dfbeta
    return r


def attrib_full_lazy(X, y):
    # dfbeta on first access: one more O(n d^2) pass over X.
    r = attrib.linear_loo(X, y)
    r.loo_resid, r.cooks_distance, r.resid_studentized_external, r.dffits, r.dfbeta
    return r


def numpy_press(X, y):
    """Closed form up to PRESS: Gram, Cholesky inverse, leverages, residuals."""
    Z = with_constant(X)
    n, p = Z.shape
    L = np.linalg.cholesky(Z.T @ Z)
    Linv = np.linalg.inv(L)  # p x p, negligible next to the n p^2 Gram
    Ainv = Linv.T @ Linv
    ZA = Z @ Ainv
    # einsum gives the row-wise sum without another n x p temporary (a fairer baseline).
    h = np.einsum("ij,ij->i", ZA, Z)
    coef = Ainv @ (Z.T @ y)
    e = y - Z @ coef
    press = e / (1.0 - h)
    return {"hat": h, "resid": e, "loo_resid": press, "_ZA": ZA, "_n": n, "_p": p}


def numpy_full(X, y):
    """numpy_press plus Cook's D, external studentised residuals, DFFITS and dfbeta."""
    out = numpy_press(X, y)
    h, e, press, n, p = out["hat"], out["resid"], out["loo_resid"], out["_n"], out["_p"]
    s2 = e @ e / (n - p)
    s2_loo = ((n - p) * s2 - e * press) / (n - p - 1)
    t = e / np.sqrt(s2_loo * (1.0 - h))
    out["cooks_distance"] = e * press * h / (p * s2 * (1.0 - h))
    out["resid_studentized_external"] = t
    out["dffits"] = t * np.sqrt(h / (1.0 - h))
    out["dfbeta"] = out.pop("_ZA") * press[:, None]
    return out


def floor_xtx(X, y):
    return X.T @ X


BIG_FUNCS = {
    "attrib_press": attrib_press,
    "attrib_full": attrib_full,
    "attrib_full_lazy": attrib_full_lazy,
    "numpy_press": numpy_press,
    "numpy_full": numpy_full,
    "floor_xtx": floor_xtx,
}


def sm_fit(Xc, y):
    import statsmodels.api as sm

    return sm.OLS(y, Xc).fit()


def sm_dfbeta(Xc, y):
    # A fresh OLSInfluence every call: it caches its LOO loop.
    return sm_fit(Xc, y).get_influence().dfbeta


def sm_summary(Xc, y):
    infl = sm_fit(Xc, y).get_influence()
    return {
        "hat": infl.hat_matrix_diag,
        "cooks_distance": infl.cooks_distance[0],
        "resid_studentized_external": infl.resid_studentized_external,
        "dffits": infl.dffits[0],
        "dfbetas": infl.dfbetas,
        "cov_ratio": infl.cov_ratio,
    }


def attrib_dfbeta(X, y):
    return attrib.linear_loo(X, y).dfbeta


def attrib_summary(X, y):
    r = attrib.linear_loo(X, y)
    return {
        "hat": r.hat,
        "cooks_distance": r.cooks_distance,
        "resid_studentized_external": r.resid_studentized_external,
        "dffits": r.dffits,
        "dfbetas": r.dfbetas,
        "cov_ratio": r.cov_ratio,
    }


# -- timing and checks ---------------------------------------------------------------------------
def time_calls(fn, args, repeats: int) -> tuple[list[float], object]:
    """Seconds of each call and the last output (the caller warms up first)."""
    times, out = [], None
    for _ in range(repeats):
        out = None  # free the previous output before the next call allocates its own
        t0 = time.perf_counter()
        out = fn(*args)
        times.append(time.perf_counter() - t0)
    return times, out


def time_interleaved(funcs: dict, args, repeats: int) -> dict[str, list[float]]:
    """Round-robin repeats, so slow drift of the machine hits every method alike."""
    times = {name: [] for name in funcs}
    for _ in range(repeats):
        for name, fn in funcs.items():
            t0 = time.perf_counter()
            out = fn(*args)
            times[name].append(time.perf_counter() - t0)
            del out
    return times


def assert_close(actual, desired, what: str, rtol: float = 1e-8) -> float:
    """rtol 1e-8, plus an absolute floor 1e-12 x the array's scale so that entries that are zero
    up to rounding (a dfbeta entry of 1e-17) do not fail a purely relative test. Returns the
    largest relative deviation seen, for the report."""
    actual, desired = np.asarray(actual), np.asarray(desired)
    scale = float(np.max(np.abs(desired)))
    np.testing.assert_allclose(actual, desired, rtol=rtol, atol=1e-12 * scale, err_msg=what)
    return float(np.max(np.abs(actual - desired)) / scale)


def median_ms(times: list[float]) -> float:
    return 1e3 * statistics.median(times)


# -- workloads -----------------------------------------------------------------------------------
def run_statsmodels(repeats: int, seed: int) -> dict:
    X, y = make_data(SMALL_N, SMALL_D, seed)
    Xc = with_constant(X)
    # Warm statsmodels on a small problem (same code paths, not 2 s per warm-up).
    Xw, yw = make_data(200, SMALL_D, seed + 1)
    sm_summary(with_constant(Xw), yw)
    attrib_dfbeta(X, y), attrib_summary(X, y)

    rows, dev = {}, 0.0
    t_sm, sm_out = time_calls(sm_dfbeta, (Xc, y), repeats)
    t_at, at_out = time_calls(attrib_dfbeta, (X, y), max(repeats, 20))
    dev = max(dev, assert_close(at_out, sm_out, "dfbeta vs statsmodels"))
    rows["dfbeta"] = (t_at, t_sm)

    t_sm, sm_out = time_calls(sm_summary, (Xc, y), repeats)
    t_at, at_out = time_calls(attrib_summary, (X, y), max(repeats, 20))
    for key in sm_out:
        dev = max(dev, assert_close(at_out[key], sm_out[key], f"{key} vs statsmodels"))
    rows["summary"] = (t_at, t_sm)
    return {"rows": rows, "max_rel_dev": dev}


def check_big(X, y) -> float:
    """Warm-up call of each big method, doubling as the agreement check attrib vs numpy."""
    r = attrib_full(X, y)
    ref = numpy_full(X, y)
    dev = 0.0
    for key in ("hat", "loo_resid", "cooks_distance", "resid_studentized_external", "dffits", "dfbeta"):
        dev = max(dev, assert_close(getattr(r, key), ref[key], f"{key} vs numpy closed form"))
    del r, ref
    attrib_press(X, y), numpy_press(X, y), floor_xtx(X, y)
    return dev


def run_big(n: int, d: int, repeats: int, seed: int) -> dict:
    X, y = make_data(n, d, seed)
    dev = check_big(X, y)
    times = time_interleaved(BIG_FUNCS, (X, y), repeats)
    return {"times": times, "max_rel_dev": dev}


def run_memory(n: int, d: int, seed: int) -> dict[str, float]:
    """Peak extra RSS (MiB) of each big method, each in a fresh interpreter."""
    out = {}
    for method in BIG_METHODS:
        cmd = [sys.executable, __file__, "--memory-child", method, "--n", str(n), "--d", str(d), "--seed", str(seed)]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
        match = re.search(r"^PEAK_EXTRA_MIB (\S+)$", proc.stdout, re.M)
        if match is None:
            raise RuntimeError(f"memory child {method} printed no result:\n{proc.stdout}\n{proc.stderr}")
        out[method] = float(match.group(1))
    return out


def run_floor_haswell(n: int, d: int, repeats: int, seed: int) -> float | None:
    """Median ms of X.T @ X with OpenBLAS forced to its Haswell kernels, in a fresh interpreter
    (the variable is read when numpy loads). On Zen 4 the auto-picked SkylakeX kernel is slower,
    so this is the stricter floor; None when the machine's OpenBLAS refuses the setting."""
    env = {**os.environ, "OPENBLAS_CORETYPE": "Haswell"}
    env.pop("OPENBLAS_L2_SIZE", None)
    cmd = [
        sys.executable,
        __file__,
        "--floor-child",
        "--n",
        str(n),
        "--d",
        str(d),
        "--seed",
        str(seed),
        "--repeats",
        str(repeats),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    match = re.search(r"^FLOOR_MS (\S+)$", proc.stdout, re.M)
    return float(match.group(1)) if match else None


def floor_child(n: int, d: int, repeats: int, seed: int) -> None:
    X, y = make_data(n, d, seed)
    times, _ = time_calls(floor_xtx, (X, y), repeats)
    print(f"FLOOR_MS {median_ms(times):.3f}")


def peak_rss_kib() -> int:
    """Peak resident set of this process, KiB.

    Prefers VmHWM from /proc: Linux carries ru_maxrss over fork + exec, so a child's ru_maxrss
    starts at the parent's peak (here GiBs from the timing runs) and the difference reads 0.
    VmHWM belongs to the new address space. ru_maxrss (KiB on Linux) is the fallback elsewhere.
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def memory_child(method: str, n: int, d: int, seed: int) -> None:
    fn = BIG_FUNCS[method]
    # Load BLAS buffers, OpenMP threads and lazy imports on a small problem first, so the figure is
    # the method's working memory at this size, not one-off library start-up.
    fn(*make_data(1000, d, seed + 1))
    X, y = make_data(n, d, seed)
    before = peak_rss_kib()
    out = fn(X, y)  # kept alive until measured: the outputs count, as they would for a user
    after = peak_rss_kib()
    del out
    print(f"PEAK_EXTRA_MIB {(after - before) / 1024:.1f}")


# -- environment ---------------------------------------------------------------------------------
def usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def environment() -> list[str]:
    import statsmodels
    import statsmodels.api  # noqa: F401  (loads scipy, whose BLAS then shows in threadpool_info)
    import threadpoolctl

    lines = [
        f"CPU: {cpu_model()}, {usable_cores()} usable cores (os.cpu_count() = {os.cpu_count()})",
        f"Python {platform.python_version()}, numpy {np.__version__}, statsmodels {statsmodels.__version__}",
        f"attrib.build_info(): {attrib.build_info()}",
        "env: " + ", ".join(f"{k}={os.environ.get(k, '(unset)')}" for k in THREAD_ENV),
    ]
    # statsmodels imported scipy by now, so scipy's BLAS shows too; numpy's is under numpy.libs.
    for lib in threadpoolctl.threadpool_info():
        path = Path(lib["filepath"])
        kernel = f", kernel {lib['architecture']}" if lib.get("architecture") else ""
        lines.append(
            f"threadpool: {lib['internal_api']} {lib.get('version') or ''} ({path.parent.name}/{path.name})"
            f"{kernel}, {lib['num_threads']} threads"
        )
    return lines


class OtherLoad:
    """Share of the machine's CPU time that other processes took during the run.

    Other work skews every row, statsmodels most (its BLAS threads wait on each other, so one busy
    core can stretch a 2 s run to 40 s), so the report says how quiet the machine was.
    """

    def __init__(self):
        self._start = self._sample()

    @staticmethod
    def _sample() -> tuple[float, float, float] | None:
        try:
            with open("/proc/stat") as f:
                ticks = [int(x) for x in f.readline().split()[1:]]
        except (OSError, ValueError):
            return None
        hz = os.sysconf("SC_CLK_TCK")
        total = sum(ticks[:8]) / hz  # user..steal; guest time is already inside user
        idle = (ticks[3] + ticks[4]) / hz  # idle + iowait
        t = os.times()
        own = t.user + t.system + t.children_user + t.children_system
        return total, total - idle, own

    def report(self) -> str:
        end = self._sample()
        if self._start is None or end is None:
            return "CPU time taken by other processes: unknown (no /proc/stat)"
        total, busy, own = (b - a for a, b in zip(self._start, end))
        other = max(busy - own, 0.0) / total if total > 0 else 0.0
        line = f"CPU time taken by other processes during the run: {100 * other:.0f}% of {usable_cores()} cores"
        if other > 0.05:
            line += " - the machine was not quiet, so the timings (statsmodels' most) are unreliable"
        return line


# -- report --------------------------------------------------------------------------------------
def fmt_ms(ms: float) -> str:
    return f"{ms:.3g}" if ms < 100 else f"{ms:.0f}"


def verdict(ok: bool) -> str:
    return "yes" if ok else "**no**"


def build_tables(sm: dict, big: dict, mem: dict, n_big: int, reps: dict) -> list[str]:
    t = big["times"]
    med = {k: median_ms(v) for k, v in t.items()}
    lines = [
        f"Timings: median ms. Ratio = peer / attrib (times faster), except the floor rows "
        f"(attrib / `X.T @ X`). Repeats: statsmodels {reps['sm']}, attrib small {max(reps['sm'], 20)}, "
        f"big size {reps['big']} (interleaved).",
        "",
        "| workload | size | attrib (ms) | peer | peer (ms) | ratio | aim | met |",
        "|---|---|---|---|---|---|---|---|",
    ]
    small = f"n={SMALL_N}, d={SMALL_D}"
    labels = {"dfbeta": "dfbeta", "summary": "summary diagnostics (hat, Cook, ext. stud., dffits, dfbetas, cov_ratio)"}
    for key, label in labels.items():
        t_at, t_sm = sm["rows"][key]
        a, p = median_ms(t_at), median_ms(t_sm)
        ratio = p / a
        lines.append(
            f"| {label} | {small} | {fmt_ms(a)} | statsmodels OLSInfluence | {fmt_ms(p)} | "
            f"{ratio:,.0f}x | >= {AIM_STATSMODELS:,.0f}x | {verdict(ratio >= AIM_STATSMODELS)} |"
        )
    size = f"n={n_big:,}, d={BIG_D}"
    for at, np_, label in (
        ("attrib_press", "numpy_press", "fit + leverages + PRESS"),
        ("attrib_full", "numpy_full", "full diagnostics with dfbeta (`dfbeta=True`)"),
        ("attrib_full_lazy", "numpy_full", "full diagnostics, dfbeta on first access"),
    ):
        ratio = med[np_] / med[at]
        lines.append(
            f"| {label} | {size} | {fmt_ms(med[at])} | numpy closed form | {fmt_ms(med[np_])} | "
            f"{ratio:.2f}x | >= {AIM_NUMPY:g}x | {verdict(ratio >= AIM_NUMPY)} |"
        )
    for at, label, aim in (
        ("attrib_press", "fit + leverages + PRESS vs floor", None),
        ("attrib_full", "full diagnostics with dfbeta (`dfbeta=True`) vs floor", AIM_FLOOR),
        ("attrib_full_lazy", "full diagnostics, dfbeta on first access, vs floor", AIM_FLOOR),
    ):
        ratio = med[at] / med["floor_xtx"]
        aim_s = f"<= {aim:g}x" if aim else "-"
        met = verdict(ratio <= aim) if aim else "-"
        lines.append(
            f"| {label} | {size} | {fmt_ms(med[at])} | numpy `X.T @ X` (floor) | {fmt_ms(med['floor_xtx'])} | "
            f"{ratio:.2f}x | {aim_s} | {met} |"
        )
    if big.get("floor_haswell"):
        ratio = med["attrib_full"] / big["floor_haswell"]
        lines.append(
            f"| full diagnostics with dfbeta (`dfbeta=True`) vs Haswell-kernel floor | {size} | {fmt_ms(med['attrib_full'])} | "
            f"numpy `X.T @ X`, OPENBLAS_CORETYPE=Haswell (own process) | {fmt_ms(big['floor_haswell'])} | "
            f"{ratio:.2f}x | <= {AIM_FLOOR:g}x | {verdict(ratio <= AIM_FLOOR)} |"
        )
    lines += [
        "",
        f"Peak extra memory (MiB of peak RSS over the data, fresh process per method, {size}; "
        f"X itself is {n_big * BIG_D * 8 / 2**20:.0f} MiB):",
        "",
        "| method | attrib (MiB) | numpy closed form (MiB) | numpy / attrib | aim | met |",
        "|---|---|---|---|---|---|",
    ]
    for at, np_, label in (
        ("attrib_press", "numpy_press", "fit + leverages + PRESS"),
        ("attrib_full", "numpy_full", "full diagnostics with dfbeta (`dfbeta=True`)"),
        ("attrib_full_lazy", "numpy_full", "full diagnostics, dfbeta on first access"),
    ):
        ratio = mem[np_] / mem[at] if mem[at] > 0 else float("inf")
        lines.append(
            f"| {label} | {mem[at]:.1f} | {mem[np_]:.1f} | {ratio:.2f}x | attrib < numpy | "
            f"{verdict(mem[at] < mem[np_])} |"
        )
    lines.append(f"| numpy `X.T @ X` (floor) | - | {mem['floor_xtx']:.1f} | - | - | - |")
    raw = {k: ", ".join(f"{x:.2f}" for x in sorted(v[1])) for k, v in sm["rows"].items()}
    lines += [
        "",
        f"statsmodels runs (s): dfbeta {raw['dfbeta']}; summary {raw['summary']}.",
        f"Agreement (assert_allclose rtol 1e-8, checked before printing), largest deviation relative "
        f"to each array's largest entry: attrib vs statsmodels {sm['max_rel_dev']:.1e}, "
        f"attrib vs numpy closed form {big['max_rel_dev']:.1e}.",
    ]
    return lines


# -- main ----------------------------------------------------------------------------------------
def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="smoke run: fewer repeats, n=50,000 for the big size")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--write",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="update bench/RESULTS.md (default: yes for a full run, no with --quick)",
    )
    # Internal: one big-size method in a fresh process, for its peak memory.
    ap.add_argument("--memory-child", choices=BIG_METHODS, help=argparse.SUPPRESS)
    ap.add_argument("--n", type=int, default=BIG_N, help=argparse.SUPPRESS)
    ap.add_argument("--d", type=int, default=BIG_D, help=argparse.SUPPRESS)
    # Internal: X.T @ X timed in a fresh process under OPENBLAS_CORETYPE=Haswell.
    ap.add_argument("--floor-child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--repeats", type=int, default=5, help=argparse.SUPPRESS)
    return ap.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.memory_child:
        memory_child(args.memory_child, args.n, args.d, args.seed)
        return
    if args.floor_child:
        floor_child(args.n, args.d, args.repeats, args.seed)
        return
    reps = {"sm": 1 if args.quick else 3, "big": 2 if args.quick else 5}
    n_big = QUICK_BIG_N if args.quick else BIG_N
    command = "python bench/bench_linear.py" + (" " + " ".join(sys.argv[1:]) if sys.argv[1:] else "")

    other_load = OtherLoad()
    env = environment()
    print("\n".join(env), flush=True)
    print(f"\n[1/3] statsmodels vs attrib, n={SMALL_N}, d={SMALL_D} ...", flush=True)
    sm = run_statsmodels(reps["sm"], args.seed)
    print(f"[2/3] numpy closed form, X.T @ X and attrib, n={n_big:,}, d={BIG_D} ...", flush=True)
    big = run_big(n_big, BIG_D, reps["big"], args.seed)
    big["floor_haswell"] = run_floor_haswell(n_big, BIG_D, reps["big"], args.seed)
    print("[3/3] peak memory, one subprocess per method ...", flush=True)
    mem = run_memory(n_big, BIG_D, args.seed)

    env.append(other_load.report())
    tables = build_tables(sm, big, mem, n_big, reps)
    print("\n" + env[-1] + "\n\n" + "\n".join(tables))

    if args.write if args.write is not None else not args.quick:
        date = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        section = [f"Run {date}: `{command}`", "", "Machine:", ""] + [f"- {line}" for line in env] + [""] + tables
        write_section(SECTION, section)
        print(f"\nwrote section '{SECTION}' of {RESULTS_PATH}")


if __name__ == "__main__":
    main()
