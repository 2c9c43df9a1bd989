"""What the safety checks of issue 9 cost on the timed paths: the in-place edit checksum (every
byte, instead of 64 sampled rows), the test for columns far from zero (GLM centring), and running
influence() in short calls for Ctrl-C. Each is timed A/B in one run, interleaved, against the same
call with the check replaced by the old behaviour (monkeypatched), and the median ratio printed.
The 3% rule: no timed path in bench/ may slow down by more than 3%.

    python bench/bench_guards.py [--repeats 15] [--write]
"""

from __future__ import annotations

import argparse
import hashlib
import time

import numpy as np

import attrib
from attrib import _loo, glm

from _report import cpu_model, write_section


def _old_digest(a: np.ndarray) -> bytes:
    step = max(1, a.shape[0] // 64)
    return hashlib.blake2b(a[::step].tobytes(), digest_size=16).digest()


def _ab(run_new, run_old, repeats: int) -> tuple[float, float]:
    """Median times of two calls, interleaved so that machine noise hits both alike."""
    new, old = [], []
    run_new(), run_old()  # warm up
    for _ in range(repeats):
        for f, out in ((run_new, new), (run_old, old)):
            t0 = time.perf_counter()
            f()
            out.append(time.perf_counter() - t0)
    return float(np.median(new)), float(np.median(old))


class _Patched:
    def __init__(self, obj, name, value):
        self.obj, self.name, self.value = obj, name, value

    def __enter__(self):
        self.saved = getattr(self.obj, self.name)
        setattr(self.obj, self.name, self.value)

    def __exit__(self, *exc):
        setattr(self.obj, self.name, self.saved)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--write", action="store_true", help="update bench/RESULTS.md")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    rows = []

    def case(name, call, patches):
        def old():
            with _Stack(patches):
                call()

        t_new, t_old = _ab(call, old, args.repeats)
        rows.append(f"| {name} | {t_old * 1e3:.2f} | {t_new * 1e3:.2f} | {t_new / t_old:.3f} |")
        print(rows[-1], flush=True)

    no_centre = (glm, "offset_column_means", lambda X: None)
    one_call = (glm, "in_timed_pieces", lambda n, unit, first, run: run(0, n))
    # before: no checksum in the kernels' own pass, and 64 sampled rows hashed in Python
    sampled = [(_loo, "_digest", _old_digest), (_loo, "KERNEL_CHECKSUMS", False)]
    for n, d in ((20_000, 20), (200_000, 50)):
        X = rng.normal(size=(n, d))
        y = X @ rng.normal(size=d) + rng.normal(size=n)
        b = (y > np.median(y)).astype(float)
        case(f"linear_loo + dfbeta, n={n:,}, d={d}", lambda: attrib.linear_loo(X, y, alpha=1.0).dfbeta, sampled)
        case(f"glm_loo logistic, n={n:,}, d={d}", lambda: attrib.glm_loo(X, b), [*sampled, no_centre])
    n, m = 20_000, 2_000
    X = rng.normal(size=(n, 10))
    b = (X @ rng.normal(size=10) + rng.logistic(size=n) > 0).astype(float)
    r = attrib.glm_loo(X, b, refine=0)
    Xt, bt = X[:m], b[:m]
    case(
        f"influence dense, {n:,} x {m:,}",
        lambda: r.influence(Xt, bt),
        [one_call],
    )
    case(
        f"influence top_k=10, {n:,} x {m:,}",
        lambda: r.influence(Xt, bt, top_k=10),
        [one_call],
    )
    header = [
        f"CPU: {cpu_model()}; threads: {attrib.build_info()['default_threads']}; medians of {args.repeats} "
        "interleaved runs. 'before' is the same call with the check as it was (64 sampled rows for the "
        "in-place check, no checksum in the kernels' first pass, no centring test, influence in one call).",
        "",
        "| call | before (ms) | now (ms) | now / before |",
        "|---|---:|---:|---:|",
    ]
    if args.write:
        write_section("## Cost of the safety checks (bench_guards.py)", header + rows)


class _Stack:
    def __init__(self, patches):
        self.items = [_Patched(*p) for p in patches]

    def __enter__(self):
        for p in self.items:
            p.__enter__()

    def __exit__(self, *exc):
        for p in reversed(self.items):
            p.__exit__(*exc)


if __name__ == "__main__":
    main()
