"""Dask scale-out of data_shapley: throughput with 1 and 2 worker processes on one Shapley run,
and the per-block overhead of the Dask path.

- Throughput: one Shapley run (logistic utility, a warm-started Newton fit per prefix, so the
  utility dominates the scheduling cost) of a fixed number of permutations on a LocalCluster of
  1 and of 2 worker processes (1 thread each), after a warm-up run; the values are checked to be
  bitwise those of the local run. Aim: 2 workers >= 1.7x the throughput of 1 on 2 cores.
- Overhead: a utility that costs almost nothing (ridge, n = 30), in fixed blocks of 16
  permutations, locally and on the cluster: (Dask wall - local wall) / blocks.

The machine is shared: the load average is printed with the results, and a load above the core
count takes CPU from the workers (the 2-worker run most). Writes its section of RESULTS.md.
Command: ``python bench/bench_distributed.py``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import date

import numpy as np

import attrib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _report import cpu_model, write_section  # noqa: E402


def _problem(n, m, d, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = (X[:, 0] - X[:, 1] + rng.normal(size=n) > 0).astype(int)
    Xt = rng.normal(size=(m, d))
    yt = (Xt[:, 0] - Xt[:, 1] > 0).astype(int)
    return X, y, Xt, yt


def _median_wall(fn, repeats):
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def _spin(seconds, q):
    t0, k = time.perf_counter(), 0
    while time.perf_counter() - t0 < seconds:
        k += 1
    q.put(k)


def parallel_capacity(seconds=2.0):
    """Total work of 2 busy processes / that of 1: what 2 workers can gain on this machine now
    (2.0 on 2 idle cores; about 1.0 when other jobs saturate it)."""
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    work = {}
    for k in (1, 2):
        q = ctx.Queue()
        procs = [ctx.Process(target=_spin, args=(seconds, q)) for _ in range(k)]
        for p in procs:
            p.start()
        total = sum(q.get() for _ in procs)
        for p in procs:
            p.join()
        work[k] = total
    return work[2] / work[1]


def main(argv=None):
    from distributed import Client, LocalCluster

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--permutations", type=int, default=2000)  # long enough that the tail block does not dominate
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md alone")
    args = ap.parse_args(argv)

    X, y, Xt, yt = _problem(300, 200, 10)
    kw = dict(utility="logistic", max_permutations=args.permutations, rtol=None, progress=False, seed=0, n_jobs=1)
    small = _problem(30, 20, 3)
    blocks = 200
    okw = dict(max_permutations=16 * blocks, block_size=16, rtol=None, progress=False, seed=0, n_jobs=1)
    sy = small[0] @ [1.0, -1.0, 0.5]
    syt = small[2] @ [1.0, -1.0, 0.5]

    load_start = os.getloadavg()[0]
    cap_start = parallel_capacity()
    local_wall, local = _median_wall(lambda: attrib.data_shapley(X, y, Xt, yt, **kw), 1)
    over_local, _ = _median_wall(lambda: attrib.data_shapley(small[0], sy, small[2], syt, **okw), args.repeats)
    rows, walls, over = [], {}, {}
    clusters = {
        w: LocalCluster(n_workers=w, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=40)
        for w in (1, 2)
    }
    clients = {w: Client(c) for w, c in clusters.items()}
    try:
        for c in clients.values():
            c.wait_for_workers(len(c.nthreads()))
            attrib.data_shapley(X, y, Xt, yt, **dict(kw, max_permutations=32), client=c)  # warm-up
        # Interleaved (1, 2, 1, 2, ...), so that a change in the machine's load hits both alike.
        times: dict = {1: [], 2: []}
        otimes: dict = {1: [], 2: []}
        same = {1: True, 2: True}
        for _ in range(args.repeats):
            for w, c in clients.items():
                t0 = time.perf_counter()
                res = attrib.data_shapley(X, y, Xt, yt, **kw, client=c)
                times[w].append(time.perf_counter() - t0)
                same[w] &= np.array_equal(res.values, local.values) and np.array_equal(res.stderr, local.stderr)
                t0 = time.perf_counter()
                attrib.data_shapley(small[0], sy, small[2], syt, **okw, client=c)
                otimes[w].append(time.perf_counter() - t0)
    finally:
        for c in clients.values():
            c.close()
        for c in clusters.values():
            c.close()
    for w in (1, 2):
        walls[w] = statistics.median(times[w])
        over[w] = (statistics.median(otimes[w]) - over_local) / blocks
        rows.append((w, walls[w], args.permutations / walls[w], same[w]))
    load_end = os.getloadavg()[0]
    cap_end = parallel_capacity()

    speedup = walls[1] / walls[2]
    lines = [
        f"{date.today().isoformat()}, {cpu_model()}, {os.cpu_count()} CPUs, attrib core "
        f"{attrib._dispatch.core.__name__.split('.')[-1]}, dask.distributed LocalCluster (processes, 1 thread "
        f"per worker). Load average at start / end: {load_start:.1f} / {load_end:.1f} (shared machine: a "
        "load above the CPU count takes CPU from the workers, the 2-worker run most).",
        "",
        f"Throughput: data_shapley(utility='logistic', n=300, d=10, 200 test points, {args.permutations} "
        f"permutations, n_jobs=1 per task); median of {args.repeats} runs, 1 and 2 workers interleaved, after a warm-up. Local run "
        f"(this process, 1 thread): {local_wall:.2f} s, {args.permutations / local_wall:.0f} permutations/s.",
        "",
        "| workers | wall (s) | permutations/s | speedup vs 1 worker | values bitwise = local |",
        "|---|---|---|---|---|",
    ]
    for workers, wall, rate, same in rows:
        lines.append(f"| {workers} | {wall:.2f} | {rate:.0f} | {walls[1] / wall:.2f}x | {same} |")
    lines += [
        "",
        f"Aim: 2 workers >= 1.7x the throughput of 1: {speedup:.2f}x, "
        f"{'met' if speedup >= 1.7 else '**not met**'} at this load. Parallel capacity of the machine "
        f"during the run (total work of 2 busy processes / 1, measured before and after): {cap_start:.2f} / "
        f"{cap_end:.2f} (2.0 on 2 idle cores), so 2 workers reached {speedup / max(cap_start, cap_end, 1e-9):.0%}"
        "-"
        f"{speedup / max(min(cap_start, cap_end), 1e-9):.0%} of what the machine offered.",
        "",
        f"Per-block overhead of the Dask path (ridge n=30, {blocks} blocks of 16 permutations; "
        f"(Dask wall - local wall) / blocks): {over[1] * 1e3:.1f} ms with 1 worker, "
        f"{over[2] * 1e3:.1f} ms with 2 (local: {over_local / blocks * 1e3:.2f} ms per block). "
        "Blocks aim at 0.5 s of worker time (attrib._blocks.DASK_BLOCK_SECONDS), so this is about "
        f"{100 * over[1] / 0.5:.1f}% of a block.",
        "",
        "Command: `python bench/bench_distributed.py`",
    ]
    print("\n".join(lines))
    if not args.no_write:
        write_section("## bench_distributed.py", lines)


if __name__ == "__main__":
    main()
