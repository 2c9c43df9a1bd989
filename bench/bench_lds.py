"""W7 benchmark: the Linear Datamodeling Score, attrib against dattri and numpy in one run.

LDS of m=100 fixed-size subsets (10,000 of n=20,000 training points) for T=1,000 targets:

* attrib: ``attrib.metrics.lds(scores, masks, outputs)`` on bit-packed masks (the
  ``attrib.SubsetMasks`` layout: ``.packed`` and ``.n_train``) and on boolean masks (packing
  included), without the bootstrap (``n_bootstrap=0``, what the peers compute) and with the
  default 1,000 resamples;
* dattri 0.3.0 ``dattri.metric.lds(score, (outputs, indices))`` (float32 torch tensors, its usual
  input): a torch gather-sum per subset, then two ``scipy.stats.spearmanr`` calls per target;
* numpy: ``masks @ scores`` (float64, OpenBLAS), ``scipy.stats.rankdata(axis=0)`` of both sides and
  a vectorised column Pearson: the fastest plain-numpy formulation.

Aims (issue 12): attrib >= 100x faster than dattri, and no slower than the numpy baseline
(ratio attrib / numpy <= 1.0). Outputs are checked against each other before anything is printed.

    python bench/bench_lds.py           # updates the bench_lds.py section of bench/RESULTS.md
    python bench/bench_lds.py --quick   # smaller sizes, prints only
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import numpy as np
from scipy import stats

import attrib
from attrib import metrics

from _report import cpu_model, write_section

SECTION = "## bench_lds.py"
AIM_DATTRI = 100.0
AIM_NUMPY = 1.0


class Packed:
    """attrib.SubsetMasks' contract: .packed (uint8, packbits little) and .n_train."""

    def __init__(self, masks):
        self.packed = np.packbits(masks, axis=1, bitorder="little")
        self.n_train = masks.shape[1]
        self.n_subsets = masks.shape[0]


def make_problem(m, n, T, seed=0):
    rng = np.random.default_rng(seed)
    theta = rng.normal(size=(n, T))
    masks = np.zeros((m, n), dtype=bool)
    for j in range(m):
        masks[j, rng.choice(n, n // 2, replace=False)] = True
    outputs = masks @ theta + rng.normal(scale=np.sqrt(n), size=(m, T))
    scores = theta + rng.normal(size=(n, T))
    return scores, masks, outputs


def numpy_lds(scores, masks_f, outputs):
    pred = masks_f @ scores
    rp = stats.rankdata(pred, axis=0)
    ro = stats.rankdata(outputs, axis=0)
    rp -= rp.mean(axis=0)
    ro -= ro.mean(axis=0)
    return (rp * ro).sum(axis=0) / np.sqrt((rp * rp).sum(axis=0) * (ro * ro).sum(axis=0))


def dattri_lds(score_t, gt_t, idx_t):
    from dattri.metric import lds as dattri_metric_lds

    corr, _ = dattri_metric_lds(score_t, (gt_t, idx_t))
    return corr.numpy().astype(np.float64)


def timed(fn, rounds):
    times, out = [], None
    for _ in range(rounds):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def cpu_timed(fn, rounds):
    """Median CPU time of this process (one thread: other load on a shared machine disturbs it less)."""
    times = []
    for _ in range(rounds):
        t0 = time.process_time()
        fn()
        times.append(time.process_time() - t0)
    return statistics.median(times)


def blas_info() -> str:
    try:
        from threadpoolctl import threadpool_info

        info = [
            f"{d.get('internal_api')} {d.get('version')} ({d.get('num_threads')} threads, {d.get('architecture')})"
            for d in threadpool_info()
            if d.get("user_api") == "blas"
        ]
        return "; ".join(info) or "unknown"
    except ImportError:  # pragma: no cover
        return "threadpoolctl not installed"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="n=4000, T=200; prints only")
    ap.add_argument("--rounds", type=int, default=5, help="timed rounds of attrib and numpy (dattri: 3)")
    args = ap.parse_args()
    m, n, T = (100, 4_000, 200) if args.quick else (100, 20_000, 1_000)
    load_start = os.getloadavg()[0]
    scores, masks, outputs = make_problem(m, n, T)
    packed = Packed(masks)
    masks_f = masks.astype(np.float64)

    # warm up (thread pools, page faults), and check the three agree
    ours = metrics.lds(scores, packed, outputs, n_bootstrap=0)
    ref = numpy_lds(scores, masks_f, outputs)
    diff_numpy = float(np.max(np.abs(ours.per_target - ref)))
    assert diff_numpy < 1e-12, diff_numpy

    have_dattri = True
    try:
        from importlib.metadata import version

        import dattri  # noqa: F401
        import torch

        score_t = torch.from_numpy(scores.astype(np.float32))
        gt_t = torch.from_numpy(outputs.astype(np.float32))
        idx_t = torch.from_numpy(np.stack([np.flatnonzero(row) for row in masks]))
        peer_name = f"dattri {version('dattri')} `metric.lds` (float32 torch {torch.__version__})"
    except ImportError:
        have_dattri = False

    rounds = args.rounds
    t_packed, _ = timed(lambda: metrics.lds(scores, packed, outputs, n_bootstrap=0), rounds)
    t_bool, _ = timed(lambda: metrics.lds(scores, masks, outputs, n_bootstrap=0), rounds)
    t_boot, boot = timed(lambda: metrics.lds(scores, packed, outputs), rounds)
    t_numpy, _ = timed(lambda: numpy_lds(scores, masks_f, outputs), rounds)
    t_packed2, _ = timed(lambda: metrics.lds(scores, packed, outputs, n_bootstrap=0), rounds)
    t_numpy2, _ = timed(lambda: numpy_lds(scores, masks_f, outputs), rounds)
    t_packed, t_numpy = min(t_packed, t_packed2), min(t_numpy, t_numpy2)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        c_ours = cpu_timed(lambda: metrics.lds(scores, packed, outputs, n_bootstrap=0, n_jobs=1), rounds)
        c_numpy = cpu_timed(lambda: numpy_lds(scores, masks_f, outputs), rounds)
    if have_dattri:
        t_dattri, theirs = timed(lambda: dattri_lds(score_t, gt_t, idx_t), 3)
        diff_dattri = float(np.max(np.abs(ours.per_target - theirs)))
        assert diff_dattri < 1e-4, diff_dattri

    size = f"m={m}, n={n:,} (subsets of {n // 2:,}), T={T:,}"
    lines = [
        f"{time.strftime('%Y-%m-%d')}, {platform.machine()}, {os.cpu_count()} CPUs ({cpu_model()}), attrib core "
        f"{attrib.build_info()['core']}, {attrib.build_info()['default_threads']} threads; BLAS: {blas_info()}. "
        f"Medians of {rounds} runs (attrib, numpy: the better of two interleaved series), dattri 3 runs. "
        f"Load average at start / end: {load_start:.1f} / {os.getloadavg()[0]:.1f}.",
        "",
        f"W7, LDS at {size}; mean LDS {ours.mean:.3f}.",
        "",
        "| implementation | time | attrib (packed) is faster by | aim | met |",
        "|---|---|---|---|---|",
        f"| attrib `metrics.lds`, packed masks, no bootstrap | {t_packed * 1e3:.1f} ms | - | - | - |",
        f"| attrib `metrics.lds`, boolean masks (packed inside), no bootstrap | {t_bool * 1e3:.1f} ms | - | - | - |",
        f"| attrib `metrics.lds`, packed masks, 1,000 bootstrap resamples | {t_boot * 1e3:.1f} ms | - | - | - |",
        f"| numpy: float64 `masks @ scores` + `rankdata(axis=0)` + column Pearson | {t_numpy * 1e3:.1f} ms | "
        f"{t_numpy / t_packed:.2f}x (attrib / numpy = {t_packed / t_numpy:.2f}) | attrib / numpy <= {AIM_NUMPY:.1f} | "
        f"{'yes' if t_packed / t_numpy <= AIM_NUMPY else '**no**'} |",
    ]
    if have_dattri:
        ratio = t_dattri / t_packed
        lines.append(
            f"| {peer_name} | {t_dattri:.2f} s | {ratio:,.0f}x | >= {AIM_DATTRI:.0f}x | "
            f"{'yes' if ratio >= AIM_DATTRI else '**no**'} |"
        )
    lines += [
        "",
        f"One thread (attrib `n_jobs=1`, BLAS limited to 1), CPU time of this process, which other load disturbs "
        f"less: attrib {c_ours * 1e3:.1f} ms, numpy {c_numpy * 1e3:.1f} ms (attrib / numpy = {c_ours / c_numpy:.2f}).",
        "",
        f"Agreement: attrib vs numpy max |diff| per target {diff_numpy:.1e}"
        + (f"; vs dattri {diff_dattri:.1e} (its float32 sums)" if have_dattri else "; dattri not installed")
        + f". Bootstrap 95% interval of the mean: ({boot.ci[0]:.4f}, {boot.ci[1]:.4f}).",
        "",
        "Command: `python bench/bench_lds.py`",
    ]
    print("\n".join(lines))
    if not args.quick:
        write_section(SECTION, lines)


if __name__ == "__main__":
    main()
