"""The ``attrib`` command line (``attrib ...`` or ``python -m attrib ...``).

Each subcommand reads a training table (CSV, NPZ or Parquet; ``--target`` names the column to
explain), calls one library function with the options given, and writes one row per training
point (``-o`` CSV / NPZ / JSON, columns named as the result's attributes) or prints the most
influential rows. Progress and timings go to stderr, results to stdout or the output file.

Exit status: 0 done; 1 the computation refused the problem (e.g. a singular design, a message
from the library); 2 a bad command line or unusable input (missing file or column, non-numeric
data); 130 interrupted (Ctrl-C; Monte Carlo runs still write what they completed).
"""

from __future__ import annotations

import argparse
import contextlib
import inspect
import os
import sys
import time
import warnings

import numpy as np

from ._cli_io import CLIError, read_table, split_target, write_rows

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INTERRUPTED = 130

_COMMANDS = (
    "linear-loo", "glm-loo", "influence", "shapley", "knn-shapley", "retrain", "datamodels", "lds", "trak", "demo",
    "info",
)  # fmt: skip


# ---------------------------------------------------------------------------------------------
# small helpers
# ---------------------------------------------------------------------------------------------


def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {v}")
    return v


def _n_jobs(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an integer (negative counts back from the cores), got {text!r}"
        ) from None
    if v == 0:
        raise argparse.ArgumentTypeError("0 threads: use 1 or more, or a negative number")
    return v


def _float_or_none(text: str):
    if text.strip().lower() in ("none", "inf"):
        return None
    if text.strip().lower() == "auto":
        return "auto"
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or 'none', got {text!r}") from None


def _seed(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer seed, got {text!r}") from None
    if not 0 <= v < 2**64:
        raise argparse.ArgumentTypeError(f"the seed must be in [0, 2**64), got {v}")
    return v


def _refine(text: str):
    if text == "auto":
        return "auto"
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected 'auto' or a number of rows, got {text!r}") from None


def _split_names(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _load(args, *, labels: bool = False, test_needed: bool = False):
    """Training (and test) data from the files the command line names."""
    table = read_table(args.data)
    features = _split_names(args.features) if args.features else None
    X, y, names = split_target(table, args.target, features=features, labels=labels)
    weights = None
    if getattr(args, "weights", None):
        from ._cli_io import _column, _numeric

        weights = _numeric(_column(table, args.weights, role="sample weights"), table, args.weights)
        if args.weights in names:
            keep = [j for j, nm in enumerate(names) if nm != args.weights]
            X, names = np.ascontiguousarray(X[:, keep]), [names[j] for j in keep]
    test = None
    if getattr(args, "test", None):
        ttable = read_table(args.test)
        target = args.target if args.target is not None else None
        Xt, yt, _ = split_target(ttable, target, features=names, labels=labels)
        test = (Xt, yt)
    elif test_needed:
        raise CLIError(f"{args.command} needs a test set: --test FILE (the same columns as {args.data})")
    return X, y, names, weights, test


def _param_columns(prefix: str, names: list[str], matrix: np.ndarray) -> dict[str, np.ndarray]:
    return {f"{prefix}_{nm}": matrix[:, j] for j, nm in enumerate(names)}


def _result_columns(result) -> dict[str, np.ndarray]:
    """One column per per-item attribute the result lists (``_frame_columns``); a Shapley
    result's ``estimate`` is written under its public name ``values``."""
    cols: dict[str, np.ndarray] = {}
    for name in result._frame_columns:
        cols["values" if name == "estimate" else name] = np.asarray(getattr(result, name))
    return cols


def _emit(args, columns: dict[str, np.ndarray], meta: dict, score: str, *, largest: bool = True) -> None:
    """Write the rows to ``--output``, or print the ``--top`` rows by ``score``."""
    n = len(next(iter(columns.values())))
    rows = {"row": np.arange(n)}
    rows.update(columns)
    meta = {"attrib_version": _version(), "command": args.command, "data": args.data, **meta}
    if args.output:
        write_rows(args.output, rows, meta)
        if args.output != "-" and not args.quiet:
            _say(f"wrote {n} rows x {len(rows)} columns ({', '.join(list(rows)[:6])}...) to {args.output}")
        return
    s = np.asarray(columns[score], dtype=np.float64)
    key = np.where(np.isnan(s), np.inf, -s if largest else s)
    top = np.argsort(key, kind="stable")[: min(args.top, n)]
    shown = [score] + [c for c in columns if c != score][:4]
    print(f"top {len(top)} of {n} rows by {score} (write them all with -o FILE.csv):")
    print("  " + " ".join(f"{c:>14}" for c in ["row", *shown]))
    for i in top:
        cells = [f"{int(i):>14d}"] + [f"{float(columns[c][i]):>14.6g}" for c in shown]
        print("  " + " ".join(cells))


def _version() -> str:
    from ._version import __version__

    return __version__


@contextlib.contextmanager
def _timed(what: str, quiet: bool):
    t0 = time.perf_counter()
    yield
    if not quiet:
        _say(f"{what}: {time.perf_counter() - t0:.3f} s")


# ---------------------------------------------------------------------------------------------
# subcommands
# ---------------------------------------------------------------------------------------------


def _cmd_linear_loo(args) -> int:
    import attrib

    X, y, names, w, _ = _load(args)
    with _timed(f"linear_loo on {X.shape[0]} rows x {X.shape[1]} features", args.quiet):
        r = attrib.linear_loo(
            X, y, alpha=args.alpha, sample_weight=w, fit_intercept=not args.no_intercept, n_jobs=args.n_jobs
        )
        cols = _result_columns(r)
        if args.params:
            cols.update(_param_columns("dfbeta", _param_names(names, not args.no_intercept), r.dfbeta))
    _emit(args, cols, {"alpha": args.alpha, "n_params": r.n_params}, "cooks_distance")
    return EXIT_OK


def _param_names(names: list[str], intercept: bool) -> list[str]:
    return (["intercept"] if intercept else []) + list(names)


def _cmd_glm_loo(args) -> int:
    import attrib

    X, y, names, w, _ = _load(args)
    with _timed(f"glm_loo({args.family}, {args.method}) on {X.shape[0]} rows x {X.shape[1]} features", args.quiet):
        r = attrib.glm_loo(
            X,
            y,
            family=args.family,
            C=args.C,
            sample_weight=w,
            fit_intercept=not args.no_intercept,
            method=args.method,
            refine=args.refine,
            n_jobs=args.n_jobs,
            max_iter=args.max_iter,
        )
        cols = _result_columns(r)
        if args.params:
            cols.update(_param_columns("dcoef", _param_names(names, not args.no_intercept), r.dcoef))
    meta = {"family": args.family, "C": args.C, "method": args.method, "error_bound": r.error_bound}
    _emit(args, cols, meta, "cooks_distance")
    return EXIT_OK


def _cmd_influence(args) -> int:
    import attrib

    X, y, names, w, test = _load(args, test_needed=True)
    Xt, yt = test
    with _timed(f"influence({args.family}) of {X.shape[0]} training rows on {Xt.shape[0]} test rows", args.quiet):
        E = attrib.influence(
            X,
            y,
            Xt,
            yt,
            family=args.family,
            C=args.C,
            sample_weight=w,
            fit_intercept=not args.no_intercept,
            method=args.method,
            refine=args.refine,
            n_jobs=args.n_jobs,
        )
    E = np.asarray(E)
    cols = {"mean_test_loss_change": E.mean(axis=1), "total_test_loss_change": E.sum(axis=1)}
    if args.per_test:
        cols.update({f"test_{j}": E[:, j] for j in range(E.shape[1])})
    meta = {"family": args.family, "C": args.C, "method": args.method, "n_test": int(E.shape[1])}
    _emit(args, cols, meta, "mean_test_loss_change")
    return EXIT_OK


def _long_job_options(func, args) -> tuple[dict, contextlib.ExitStack]:
    """``client=``, ``checkpoint=``, ``resume=`` for the functions that take them; an error for a
    flag whose parameter this build's function lacks."""
    params = inspect.signature(func).parameters
    kw: dict = {}
    stack = contextlib.ExitStack()
    wanted = {
        "checkpoint": ("--checkpoint", args.checkpoint is not None),
        "resume": ("--resume", bool(args.resume)),
        "client": ("--scheduler", args.scheduler is not None),
    }
    for param, (flag, given) in wanted.items():
        if given and param not in params:
            raise CLIError(f"{flag}: this attrib's {func.__name__} has no {param}= parameter (version {_version()})")
    if args.resume and args.checkpoint is None:
        raise CLIError("--resume needs --checkpoint FILE (the checkpoint to continue from)")
    if args.checkpoint is not None:
        kw["checkpoint"] = args.checkpoint
    if args.resume:
        kw["resume"] = True
    if args.scheduler is not None:
        try:
            from dask.distributed import Client
        except ImportError:
            raise CLIError("--scheduler needs dask.distributed: pip install 'dask[distributed]'") from None
        try:
            client = Client(args.scheduler, timeout=args.scheduler_timeout)
        except (OSError, TimeoutError, ValueError) as exc:
            raise CLIError(f"--scheduler {args.scheduler}: cannot connect: {exc}") from None
        stack.callback(client.close)
        kw["client"] = client
        if not args.quiet:
            _say(f"connected to the Dask scheduler at {args.scheduler}")
    return kw, stack


def _shapley_meta(r) -> dict:
    return {
        "method": r.method,
        "n_samples": r.n_samples,
        "converged": r.converged,
        "stopped_by": r.stopped_by,
        "max_stderr": r.max_stderr,
        "target_stderr": r.target_stderr,
        "seed": r.seed,
        "elapsed": r.elapsed,
    }


def _cmd_shapley(args) -> int:
    import attrib

    labels = args.utility in ("logistic", "knn")
    X, y, names, _, test = _load(args, labels=labels, test_needed=True)
    Xt, yt = test
    kw, stack = _long_job_options(attrib.data_shapley, args)
    options = dict(
        utility=args.utility,
        semivalue=args.semivalue,
        metric=args.metric,
        alpha=args.alpha,
        C=args.C,
        k=args.k,
        max_permutations=args.max_permutations,
        rtol=args.rtol,
        atol=args.atol,
        time_budget=args.time_budget,
        truncation=args.truncation,
        antithetic=args.antithetic,
        seed=args.seed,
        n_jobs=args.n_jobs,
        progress=not args.quiet,
    )
    with stack:
        r = attrib.data_shapley(X, y, Xt, yt, **options, **kw)
    if not args.quiet:
        _say(
            f"{r.method}: {r.n_samples} samples in {r.elapsed:.2f} s, {r.status}; "
            f"largest standard error {r.max_stderr:.3g}"
        )
    _emit(args, _result_columns(r), _shapley_meta(r), "values")
    return EXIT_INTERRUPTED if r.stopped_by == "interrupted" else EXIT_OK


def _cmd_knn_shapley(args) -> int:
    import attrib

    X, y, names, _, test = _load(args, labels=True, test_needed=True)
    Xt, yt = test
    kw, stack = _long_job_options(attrib.knn_shapley, args)
    with stack:
        r = attrib.knn_shapley(X, y, Xt, yt, k=args.k, soft_label=args.soft_label, n_jobs=args.n_jobs, **kw)
    if not args.quiet:
        _say(f"{r.method}: {X.shape[0]} training points, {r.n_samples} test points in {r.elapsed:.3f} s")
    _emit(args, _result_columns(r), _shapley_meta(r), "values")
    return EXIT_INTERRUPTED if r.stopped_by == "interrupted" else EXIT_OK


def _cmd_info(_args) -> int:
    import importlib.util

    import attrib

    for key, value in attrib.build_info().items():
        print(f"{key}: {value}")
    for module in ("pandas", "pyarrow", "matplotlib", "tqdm", "dask"):
        found = importlib.util.find_spec(module) is not None
        print(f"optional {module}: {'installed' if found else 'not installed'}")
    return EXIT_OK


def _cmd_demo(args) -> int:
    from ._cli_demo import run_demo

    return run_demo(args)


# ---------------------------------------------------------------------------------------------
# the parser
# ---------------------------------------------------------------------------------------------


def _data_args(p: argparse.ArgumentParser, *, test: str) -> None:
    g = p.add_argument_group("data")
    g.add_argument("data", metavar="FILE", help="training data: .csv (with a header), .npz or .parquet")
    g.add_argument("--target", metavar="COLUMN", help="the column to explain (default: y, target or label)")
    g.add_argument("--features", metavar="A,B,...", help="feature columns (default: every other column)")
    g.add_argument("--test", metavar="FILE", help=test)
    out = p.add_argument_group("output")
    out.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="one row per training point, .csv / .npz / .json by the suffix ('-': CSV to stdout); "
        "without it the --top rows are printed",
    )
    out.add_argument("--top", type=_positive_int, default=10, help="rows to print without --output (default 10)")
    out.add_argument("-q", "--quiet", action="store_true", help="no progress or timings on stderr")
    p.add_argument("--n-jobs", type=_n_jobs, default=None, help="threads (default: OpenMP's; -1 all cores)")


def _glm_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--family", choices=("logistic", "poisson", "gaussian"), default="logistic")
    p.add_argument("--C", type=_float_or_none, default=1.0, help="inverse L2 penalty as scikit-learn's; 'none'")
    p.add_argument("--method", choices=("newton", "influence", "exact"), default="newton")
    p.add_argument("--refine", type=_refine, default="auto", help="'auto' (default) or rows solved exactly")
    p.add_argument("--no-intercept", action="store_true", help="fit without an intercept")
    p.add_argument("--weights", metavar="COLUMN", help="a column of sample weights")


def _long_job_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("long runs")
    g.add_argument("--scheduler", metavar="ADDRESS", help="run on a Dask cluster (e.g. tcp://host:8786)")
    g.add_argument("--scheduler-timeout", type=float, default=30.0, help=argparse.SUPPRESS)
    g.add_argument("--checkpoint", metavar="FILE", help="save progress to FILE while running")
    g.add_argument("--resume", action="store_true", help="continue from --checkpoint FILE")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="attrib",
        description="Data attribution, exact where possible: which training points matter, and how much.",
        epilog="Exit status: 0 done, 1 the computation failed, 2 bad command line or input, 130 interrupted.",
    )
    from ._version import __version__

    parser.add_argument("--version", action="version", version=f"attrib {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("linear-loo", help="exact leave-one-out of OLS / WLS / ridge (Cook's distance, ...)")
    _data_args(p, test="(unused)")
    p.add_argument("--alpha", type=float, default=0.0, help="ridge penalty (default 0: OLS)")
    p.add_argument("--no-intercept", action="store_true", help="fit without an intercept")
    p.add_argument("--weights", metavar="COLUMN", help="a column of sample weights (WLS)")
    p.add_argument("--params", action="store_true", help="also write dfbeta_<parameter> columns")
    p.set_defaults(run=_cmd_linear_loo)

    p = sub.add_parser("glm-loo", help="GLM leave-one-out: Newton step, influence function or exact")
    _data_args(p, test="(unused)")
    _glm_args(p)
    p.add_argument("--max-iter", type=_positive_int, default=100, help="Newton iterations (default 100)")
    p.add_argument("--params", action="store_true", help="also write dcoef_<parameter> columns")
    p.set_defaults(run=_cmd_glm_loo)

    p = sub.add_parser("influence", help="change of the test losses when each training point is removed")
    _data_args(p, test="test data with the same columns (required)")
    _glm_args(p)
    p.add_argument("--per-test", action="store_true", help="also write one test_<j> column per test point")
    p.set_defaults(run=_cmd_influence)

    p = sub.add_parser("shapley", help="Monte Carlo Data Shapley / Beta-Shapley / Banzhaf")
    _data_args(p, test="test data the utility scores on (required)")
    p.add_argument("--utility", choices=("ridge", "logistic", "knn"), default="logistic")
    p.add_argument("--semivalue", default="shapley", help="shapley (default), banzhaf or 'beta(a,b)'")
    p.add_argument("--metric", default=None, help="r2 / neg_mse (ridge), accuracy / neg_log_loss (logistic)")
    p.add_argument("--alpha", type=float, default=1.0, help="ridge penalty (default 1)")
    p.add_argument("--C", type=float, default=1.0, help="logistic inverse penalty (default 1)")
    p.add_argument("--k", type=_positive_int, default=5, help="neighbours of the knn utility (default 5)")
    p.add_argument("--max-permutations", type=_positive_int, default=None, help="run this many permutations")
    p.add_argument("--rtol", type=_float_or_none, default="auto", help="relative standard-error target; 'none'")
    p.add_argument("--atol", type=float, default=None, help="absolute standard-error target")
    p.add_argument("--time-budget", type=float, default=None, help="seconds")
    p.add_argument("--truncation", type=float, default=None, help="TMC truncation tolerance (default: none)")
    p.add_argument("--antithetic", action="store_true", help="pair each permutation with its reverse")
    p.add_argument("--seed", type=_seed, default=0, help="random seed (default 0)")
    _long_job_args(p)
    p.set_defaults(run=_cmd_shapley)

    p = sub.add_parser("knn-shapley", help="exact KNN-Shapley values")
    _data_args(p, test="test data (required)")
    p.add_argument("--k", type=_positive_int, default=5, help="neighbours (default 5)")
    p.add_argument("--soft-label", action="store_true", help="the soft-label utility")
    _long_job_args(p)
    p.set_defaults(run=_cmd_knn_shapley)

    from ._cli_datamodels import add_parsers
    from ._cli_trak import add_parser as add_trak

    add_parsers(sub)
    add_trak(sub)

    p = sub.add_parser("demo", help="a tour on the embedded breast cancer data, with timings")
    p.add_argument("--top", type=_positive_int, default=10, help="how many rows to list (default 10)")
    p.add_argument("--alpha", type=float, default=1.0, help="ridge penalty (default 1.0)")
    p.add_argument("--short", action="store_true", help="only the leave-one-out table")
    p.set_defaults(run=_cmd_demo)

    p = sub.add_parser("info", help="which compiled core is in use, and the optional packages")
    p.set_defaults(run=_cmd_info)
    return parser


def _show_warning(message, category, filename, lineno, file=None, line=None):
    print(f"attrib: warning: {message}", file=sys.stderr, flush=True)


def main(argv=None) -> int:
    """Run the command line; returns the exit status (see the module docstring)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "command", None) not in _COMMANDS:  # pragma: no cover - argparse enforces it
        parser.error("no command")
    with warnings.catch_warnings():
        # The library's warnings (a leverage-1 row, a run stopped early) are one line on stderr,
        # whatever the caller's filters say; catch_warnings restores both afterwards.
        warnings.simplefilter("default")
        warnings.showwarning = _show_warning
        return _run(args)


def _run(args) -> int:
    try:
        return int(args.run(args))
    except CLIError as exc:
        print(f"attrib {args.command}: error: {exc}", file=sys.stderr)
        return exc.code
    except (ValueError, TypeError) as exc:
        # The library's messages name the argument and the problem; the traceback adds nothing
        # (ATTRIB_DEBUG=1 shows it).
        if os.environ.get("ATTRIB_DEBUG"):
            raise
        print(f"attrib {args.command}: error: {_clean(exc)}", file=sys.stderr)
        return EXIT_FAILED
    except FileExistsError as exc:  # a checkpoint from an earlier run: continue it or start anew
        print(f"attrib {args.command}: error: {_clean(exc)} (on the command line: --resume)", file=sys.stderr)
        return 2
    except MemoryError:
        print(f"attrib {args.command}: error: out of memory", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print(f"attrib {args.command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # e.g. `attrib ... -o - | head`: the reader has what it wanted
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return EXIT_OK


def _clean(exc: Exception) -> str:
    return str(exc).strip() or type(exc).__name__
