"""W6 benchmark: TRAK scoring, attrib against numpy and MadryLab's traker 0.3.2 in one run.

Rows:

* W6 scoring, one checkpoint, n=20,000 training features of k=2,048 (float32), T=1,000 test
  points, from features to the dense n x T scores: ``attrib.TRAK`` (float64 Gram and Cholesky) against
  the same algebra in numpy/scipy (``Phi.T @ Phi`` in float64, ``cholesky``, ``cho_solve``, one
  product; aim: attrib <= 1.1x numpy) and against traker's ``BasicScoreComputer`` (``get_xtx``,
  ``get_x_xtx_inv``, ``get_scores``: what ``finalize_features`` + ``finalize_scores`` run) in float32
  and in its default float16 (aim: attrib >= 2.5x faster). Scores are compared before timing.
* top_k memory: the peak resident memory that ``score`` adds, dense against ``top_k=10``, each in a
  fresh process (Linux: VmHWM after resetting it through /proc/self/clear_refs).
* Digits MLP end to end: a 64-32-10 MLP trained with torch on scikit-learn's digits (1,500 train,
  297 test), 5 checkpoints; featurize + project + score with ``attrib.torch.featurize`` +
  ``attrib.TRAK`` against traker's TRAKer on CPU (its defaults: BasicProjector, float16), with the
  time split printed; one torch thread on both sides. The projector is ``attrib.Projector`` when this build has it, else a stored
  seeded Gaussian matrix in numpy (named in the output).

    python bench/bench_trak.py            # full run (~5 min on 2 cores), updates bench/RESULTS.md
    python bench/bench_trak.py --quick    # smaller sizes, does not touch RESULTS.md
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

import attrib

from _report import cpu_model, write_section

SECTION = "## bench_trak.py"
AIM_NUMPY = 1.1  # attrib / numpy Cholesky solve at most this
AIM_TRAKER = 2.5  # traker / attrib at least this
NOTES = [
    "",
    "Notes. attrib's default keeps the kernel in float64 (Gram accumulated in float64 from float32 features, Cholesky, solves and the score product in float64: what the 1e-8 Newton-step oracle needs), traker works in float32 (or float16) throughout. attrib does about 2.4x fewer operations (the lower triangle of the Gram matrix; Cholesky instead of an inverse; the k x T solve instead of forming Phi G^-1, n x k), which float64 arithmetic at half the float32 rate turns into a small factor against traker float32. `TRAK(compute_dtype=numpy.float32)` runs the Gram and score products as float32 GEMMs (Gram summed in float64 across 256-row blocks; Cholesky and the test solves float64): the row 'against attrib compute_dtype=float32' and the agreement line give its speed and its deviation from float64. Against traker's default float16 storage attrib is several times faster. Digits end to end (profiled): traker's featurize time is mostly its BasicProjector.project, a float16 matrix product on CPU (its default precision); regenerating the projection blocks on each call is a small part.",
]


def _features(n, k, T, seed=0):
    rng = np.random.default_rng(seed)
    phi = rng.standard_normal((n, k), dtype=np.float32)
    test = rng.standard_normal((T, k), dtype=np.float32)
    q = rng.uniform(0.05, 0.95, n)
    return phi, test, q


def run_attrib(phi, test, q, compute_dtype=np.float64):
    t = attrib.TRAK(dim=phi.shape[1], compute_dtype=compute_dtype)
    t.add_checkpoint(phi, q)
    return t.score(test)


def run_numpy(phi, test, q):
    import scipy.linalg as sl

    P = phi.astype(np.float64)
    L = np.linalg.cholesky(P.T @ P)
    Y = sl.cho_solve((L, True), test.astype(np.float64).T)
    return q[:, None] * (P @ Y)


def run_traker(phi, test, q, dtype_name="float32"):
    import torch
    from trak.score_computers import BasicScoreComputer

    dtype = getattr(torch, dtype_name)
    sc = BasicScoreComputer(dtype=dtype, device="cpu", logging_level=logging.ERROR)
    g = torch.from_numpy(phi).to(dtype)
    feats = sc.get_x_xtx_inv(g, sc.get_xtx(g))
    acc = torch.zeros(phi.shape[0], test.shape[0])
    sc.get_scores(feats, torch.from_numpy(test).to(dtype), accumulator=acc)
    return acc.numpy() * q[:, None]


def timed(fn, *args, repeat=3):
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn(*args)
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def w6(n, k, T, repeat, fp16, f32):
    phi, test, q = _features(n, k, T)
    rows, checks = [], []
    ta, Sa = timed(run_attrib, phi, test, q, repeat=repeat)
    t32 = None
    if f32:
        t32, S32 = timed(run_attrib, phi, test, q, np.float32, repeat=repeat)
        checks.append(
            f"attrib float32 vs float64 max dev. / max |score| {np.abs(S32 - Sa).max() / np.abs(Sa).max():.1e}"
        )
    tn, Sn = timed(run_numpy, phi, test, q, repeat=repeat)
    checks.append(f"attrib vs numpy max rel. dev. {np.abs(Sa - Sn).max() / np.abs(Sn).max():.1e}")
    rows.append(
        ("numpy/scipy Cholesky solve, float64", tn, ta / tn, f"attrib / numpy <= {AIM_NUMPY}x", ta / tn <= AIM_NUMPY)
    )
    try:
        import trak  # noqa: F401
    except ImportError:
        trak_ok = False
    else:
        trak_ok = True
    if trak_ok:
        import torch

        tt, St = timed(run_traker, phi, test, q, repeat=repeat)
        # traker divides G^-1 by mean |G^-1| (see weighting="trak"): compare after that scale
        scale = np.median(St / Sa)
        checks.append(
            f"traker float32 vs attrib (after traker's global scale {scale:.3g}) max rel. dev. "
            f"{np.abs(St - scale * Sa).max() / np.abs(St).max():.1e}"
        )
        rows.append(
            (
                f"traker BasicScoreComputer float32 (torch {torch.__version__}, {torch.get_num_threads()} threads)",
                tt,
                tt / ta,
                f"traker / attrib >= {AIM_TRAKER}x",
                tt / ta >= AIM_TRAKER,
            )
        )
        if t32 is not None:
            rows.append(
                (
                    "the same traker float32, against attrib compute_dtype=float32",
                    tt,
                    tt / t32,
                    f"traker / attrib float32 >= {AIM_TRAKER}x",
                    tt / t32 >= AIM_TRAKER,
                )
            )
        if fp16:
            th, _ = timed(run_traker, phi, test, q, "float16", repeat=1)
            rows.append(
                (
                    "traker BasicScoreComputer float16 (its default; 1 run)",
                    th,
                    th / ta,
                    f"traker / attrib >= {AIM_TRAKER}x",
                    th / ta >= AIM_TRAKER,
                )
            )
    if t32 is not None:
        rows.insert(
            1,
            (
                "numpy/scipy Cholesky solve, float64, against attrib compute_dtype=float32",
                tn,
                t32 / tn,
                f"attrib float32 / numpy <= {AIM_NUMPY}x",
                t32 / tn <= AIM_NUMPY,
            ),
        )
    return ta, t32, rows, checks


# ----------------------------------------------------------------------------- top_k memory
def _child_memory(n, k, T, top_k):
    phi, test, q = _features(n, k, T)
    t = attrib.TRAK(dim=k)
    t.add_checkpoint(phi, q)

    def status(key):
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key):
                    return int(line.split()[1]) * 1024
        return 0

    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset the peak (VmHWM) to the current RSS
    before = status("VmRSS")
    t0 = time.perf_counter()
    out = t.score(test, top_k=top_k)
    elapsed = time.perf_counter() - t0
    peak = status("VmHWM")
    del out
    print(json.dumps({"added": peak - before, "seconds": elapsed}))


def topk_memory(n, k, T):
    if not os.path.exists("/proc/self/clear_refs"):
        return None
    res = {}
    for top_k in (None, 10):
        code = f"import sys; sys.path.insert(0, {os.path.dirname(os.path.abspath(__file__))!r}); import bench_trak; bench_trak._child_memory({n}, {k}, {T}, {top_k})"
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        res[top_k] = json.loads(out.stdout.strip().splitlines()[-1])
    return res


# ----------------------------------------------------------------------------- digits MLP
class StoredProjector:
    """A stored seeded Gaussian matrix, multiplied with torch (the stand-in where attrib.Projector is
    not built; torch's matmul, so that no second BLAS thread pool competes with torch's)."""

    def __init__(self, n_features, dim, seed=0):
        import torch

        self.n_features, self.dim = n_features, dim
        self.matrix = torch.from_numpy(np.random.default_rng(seed).standard_normal((n_features, dim), dtype=np.float32))

    def project(self, G, feature_offset=0):
        import torch

        return (torch.as_tensor(G) @ self.matrix[feature_offset : feature_offset + G.shape[1]]).numpy()


def _projector(p, k, model_id):
    if hasattr(attrib, "Projector"):
        return attrib.Projector(p, k, seed=0, model_id=model_id), "attrib.Projector (rademacher)"
    return StoredProjector(
        p, k, seed=model_id
    ), "a stored Gaussian matrix, torch matmul (attrib.Projector not in this build)"


def digits_mlp(k, n_ckpt, epochs_between):
    import torch
    from sklearn.datasets import load_digits

    from attrib.torch import featurize

    # One torch thread for both sides: the per-example problems are small, and oversubscribed
    # thread pools on a shared machine slow each small op by an order of magnitude.
    torch.set_num_threads(1)
    d = load_digits()
    X = (d.data / 16.0).astype(np.float32)
    y = d.target.astype(np.int64)
    Xtr, ytr, Xte, yte = (
        torch.from_numpy(X[:1500]),
        torch.from_numpy(y[:1500]),
        torch.from_numpy(X[1500:]),
        torch.from_numpy(y[1500:]),
    )
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    ckpts = []
    for _ in range(n_ckpt):
        for _ in range(epochs_between):
            perm = torch.randperm(1500)
            for i in range(0, 1500, 100):
                b = perm[i : i + 100]
                opt.zero_grad()
                torch.nn.functional.cross_entropy(model(Xtr[b]), ytr[b]).backward()
                opt.step()
        ckpts.append({kk: v.detach().clone() for kk, v in model.state_dict().items()})
    acc = float((model(Xte).argmax(1) == yte).float().mean())
    p = sum(t.numel() for t in model.parameters())
    batches = lambda X_, y_: [(X_[i : i + 100], y_[i : i + 100]) for i in range(0, len(X_), 100)]  # noqa: E731

    # attrib: featurize (gradients + projection) and score
    t0 = time.perf_counter()
    projs, pname = zip(*[_projector(p, k, m) for m in range(n_ckpt)])
    train = featurize(model, ckpts, batches(Xtr, ytr), list(projs))
    test = featurize(model, ckpts, batches(Xte, yte), list(projs))
    t1 = time.perf_counter()
    tr = attrib.TRAK(dim=k)
    for F, q in zip(*train):
        tr.add_checkpoint(F, q)
    S = tr.score(test[0])
    top = tr.score(test[0], top_k=5)
    t2 = time.perf_counter()
    a_split = {"featurize + project (train and test)": t1 - t0, "factor + score + top-5": t2 - t1}

    # traker on CPU, its defaults (BasicProjector with normal entries, float16)
    import trak

    with tempfile.TemporaryDirectory() as tmp:
        m2 = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10))
        t0 = time.perf_counter()
        tk = trak.TRAKer(
            model=m2,
            task="image_classification",
            train_set_size=1500,
            save_dir=tmp,
            device="cpu",
            proj_dim=k,
            logging_level=logging.ERROR,
        )
        for mid, sd in enumerate(ckpts):
            tk.load_checkpoint(sd, model_id=mid)
            for xb, yb in batches(Xtr, ytr):
                tk.featurize(batch=(xb, yb), num_samples=len(xb))
        t1 = time.perf_counter()
        tk.finalize_features()
        t2 = time.perf_counter()
        for mid, sd in enumerate(ckpts):
            tk.start_scoring_checkpoint("digits", sd, model_id=mid, num_targets=len(Xte))
            for xb, yb in batches(Xte, yte):
                tk.score(batch=(xb, yb), num_samples=len(xb))
        t3 = time.perf_counter()
        St = np.array(tk.finalize_scores("digits"), dtype=np.float64)
        t4 = time.perf_counter()
    t_split = {
        "featurize train": t1 - t0,
        "finalize_features": t2 - t1,
        "featurize test (score)": t3 - t2,
        "finalize_scores": t4 - t3,
    }
    # Different projections, so scores differ; how similar are the two rankings?
    from scipy.stats import spearmanr

    rho = float(np.median([spearmanr(S[:, j], St[:, j])[0] for j in range(S.shape[1])]))
    self_proponent = float(np.mean(ytr.numpy()[top.proponent_idx[:, 0]] == yte.numpy()))
    return {
        "p": p,
        "accuracy": acc,
        "projector": pname[0],
        "attrib": a_split,
        "traker": t_split,
        "rho": rho,
        "top1_same_label": self_proponent,
    }


def fmt_s(t):
    return f"{t:.2f} s" if t >= 1 else f"{1e3 * t:.0f} ms"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="smaller sizes; RESULTS.md untouched")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-fp16", action="store_true", help="skip traker's float16 run")
    ap.add_argument("--no-f32", action="store_true", help="skip attrib's compute_dtype=float32 rows")
    ap.add_argument("--no-write", action="store_true", help="print only; RESULTS.md untouched")
    ap.add_argument("--no-digits", action="store_true", help="skip the digits MLP end-to-end run")
    args = ap.parse_args(argv)
    n, k, T = (4000, 512, 200) if args.quick else (20_000, 2048, 1000)
    info = attrib.build_info()
    env = [
        f"{time.strftime('%Y-%m-%d')}, {platform.machine()}, {os.cpu_count()} CPUs ({cpu_model()}), attrib core "
        f"{info['core']} ({info['isa']}), OpenMP {info['openmp']}, {info['default_threads']} threads; load average at "
        f"start {os.getloadavg()[0]:.1f} (a shared machine: only ratios from the same run mean anything)",
    ]
    print(env[0])
    ta, t32, rows, checks = w6(n, k, T, args.repeat, not args.no_fp16, not args.no_f32)
    report = [
        f"### W6 scoring: n={n:,}, k={k:,}, T={T:,}, one checkpoint, features to dense scores",
        "",
        f"Medians of {args.repeat} runs (wall clock). attrib: {fmt_s(ta)}"
        + (f"; attrib compute_dtype=float32: {fmt_s(t32)}." if t32 is not None else "."),
        "",
        "| peer | peer time | ratio | aim | met |",
        "|---|---|---|---|---|",
    ]
    for name, tp, ratio, aim, met in rows:
        report.append(f"| {name} | {fmt_s(tp)} | {ratio:.2f}x | {aim} | {'yes' if met else '**no**'} |")
    report += ["", "Agreement: " + "; ".join(checks) + "."]
    mem = topk_memory(n, k, T)
    if mem:
        report += [
            "",
            f"### top_k memory (n={n:,}, k={k:,}, T={T:,})",
            "",
            "| call | peak memory added by score | time |",
            "|---|---|---|",
            f"| dense `score(test)` | {mem[None]['added'] / 2**20:.0f} MiB (the n x T float64 result is {n * T * 8 / 2**20:.0f} MiB) | {fmt_s(mem[None]['seconds'])} |",
            f"| `score(test, top_k=10)` | {mem[10]['added'] / 2**20:.0f} MiB (solved test rows T x k float64 {T * k * 8 / 2**20:.0f} MiB + one row tile) | {fmt_s(mem[10]['seconds'])} |",
        ]
    try:
        import torch  # noqa: F401
        import trak  # noqa: F401
    except ImportError:
        report += ["", "Digits MLP end to end: skipped (torch or traker not installed)."]
    else:
        if not args.no_digits:
            dm = digits_mlp(k=256 if args.quick else 512, n_ckpt=5, epochs_between=1 if args.quick else 4)
            ta_tot, tt_tot = sum(dm["attrib"].values()), sum(dm["traker"].values())
            report += [
                "",
                f"### Digits MLP end to end (64-32-10, p={dm['p']:,} parameters, 1,500 train, 297 test, 5 checkpoints, "
                f"k={256 if args.quick else 512}; test accuracy {dm['accuracy']:.3f})",
                "",
                f"attrib projector: {dm['projector']}. traker: TRAKer on CPU with its defaults (BasicProjector, normal "
                "entries, float16 storage).",
                "",
                "| | total | split |",
                "|---|---|---|",
                f"| attrib (featurize + TRAK) | {fmt_s(ta_tot)} | "
                + ", ".join(f"{kk} {fmt_s(v)}" for kk, v in dm["attrib"].items())
                + " |",
                f"| traker TRAKer | {fmt_s(tt_tot)} | "
                + ", ".join(f"{kk} {fmt_s(v)}" for kk, v in dm["traker"].items())
                + " |",
                f"| ratio traker / attrib | {tt_tot / ta_tot:.1f}x | aim: faster than traker end to end: "
                f"{'yes' if tt_tot > ta_tot else '**no**'} |",
                "",
                f"Median Spearman correlation per test point between attrib's and traker's scores (different random "
                f"projections): {dm['rho']:.3f}; the top proponent has the test point's label for {100 * dm['top1_same_label']:.0f} % "
                "of test points.",
            ]
    report += NOTES
    print("\n".join(report))
    print(f"load average at the end {os.getloadavg()[0]:.1f}")
    if not (args.quick or args.no_write):
        write_section(SECTION, ["`python bench/bench_trak.py`", ""] + [f"- {e}" for e in env] + [""] + report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
