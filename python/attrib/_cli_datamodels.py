"""``attrib retrain``, ``attrib datamodels`` and ``attrib lds``: the retraining ground truth, the
datamodels fitted to it, and the LDS of any scores against it.

``retrain`` writes one ``.npz`` (the *runs file*): the subset masks in :meth:`SubsetMasks.save`'s
layout (so ``attrib.SubsetMasks.load(path)`` reads it) plus one (n_subsets, n_test) array per
recorded output (``margin``, ``loss``, and ``correct`` for classifiers) and ``runs_format`` /
``model`` / ``complete`` entries. ``datamodels`` and ``lds`` read it back.
"""

from __future__ import annotations

import io
import os

import numpy as np

from ._cli_io import CLIError, read_table

RUNS_FORMAT = "attrib.RetrainRuns"
OUTPUT_NAMES = ("margin", "loss", "correct")


# ---------------------------------------------------------------------------------------------
# the runs file
# ---------------------------------------------------------------------------------------------


def write_runs(path: str, result, meta: dict) -> None:
    """The runs file of a RetrainResult, written atomically (temporary name, then rename)."""
    if not path.lower().endswith(".npz"):
        raise CLIError(f"--output {path}: retrain writes an .npz runs file (the masks and the outputs)")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise CLIError(f"--output {path}: the folder {folder} does not exist")
    buf = io.BytesIO()
    result.masks.save(buf)  # the library's own masks layout, merged with the outputs
    buf.seek(0)
    with np.load(buf, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    arrays.update({k: np.ascontiguousarray(v) for k, v in result.outputs.items()})
    arrays["runs_format"] = np.array(RUNS_FORMAT)
    arrays["model"] = np.array(str(result.model))
    arrays["complete"] = np.array(bool(result.complete))
    arrays.update({f"meta_{k}": np.asarray(v) for k, v in meta.items() if v is not None})
    tmp = f"{path}.tmp-{os.getpid()}"
    try:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
        os.replace(tmp, path)
    except OSError as exc:
        raise CLIError(f"--output {path}: cannot write it: {exc}") from None
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def read_runs(path: str, output: str):
    """(SubsetMasks, outputs array (n_subsets, n_test)) of a runs file; CLIError if unusable."""
    import attrib

    if not os.path.exists(path):
        raise CLIError(f"{path}: no such file")
    if not path.lower().endswith(".npz"):
        raise CLIError(f"{path}: expected the .npz runs file written by `attrib retrain -o FILE.npz`")
    try:
        masks = attrib.SubsetMasks.load(path)
        with np.load(path, allow_pickle=False) as z:
            names = list(z.files)
            if output not in names:
                present = [n for n in names if n in OUTPUT_NAMES or n not in _MASK_KEYS and not n.startswith("meta_")]
                raise CLIError(f"{path}: no output {output!r} (the runs file holds: {', '.join(present)})")
            Y = np.asarray(z[output])
    except CLIError:
        raise
    except (OSError, ValueError, KeyError, EOFError) as exc:
        raise CLIError(f"{path}: not a runs file of `attrib retrain`: {exc}") from None
    if Y.dtype.kind not in "biuf" or Y.ndim not in (1, 2):
        raise CLIError(
            f"{path}: output {output!r} must be a numeric (n_subsets, n_test) array, got {Y.dtype} {Y.shape}"
        )
    if Y.shape[0] != masks.n_subsets:
        raise CLIError(f"{path}: output {output!r} has {Y.shape[0]} rows but the file holds {masks.n_subsets} subsets")
    return masks, np.asarray(Y, dtype=np.float64)


_MASK_KEYS = {
    "format", "version", "packed", "n_train", "first_id", "seed", "has_seed", "alpha", "sampler",
    "fingerprint", "runs_format", "model", "complete",
}  # fmt: skip


def read_scores(path: str, columns: str | None):
    """An (n_train, n_test) score matrix: a 2-D .npy, an .npz with one 2-D array, or a table (CSV,
    NPZ columns, Parquet) of one row per training point whose score columns are those starting
    with ``columns`` (default: ``weights_`` or ``score_`` columns, else every column but ``row``)."""
    if not os.path.exists(path):
        raise CLIError(f"{path}: no such file")
    if path.lower().endswith(".npy"):
        try:
            S = np.load(path, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise CLIError(f"{path}: cannot read it as .npy: {exc}") from None
        return _check_scores(path, np.asarray(S))
    if path.lower().endswith(".npz"):
        with np.load(path, allow_pickle=False) as z:
            if "runs_format" in z.files or "packed" in z.files:
                raise CLIError(f"{path}: is a runs file (masks and outputs), not scores: give the scores first")
            two_d = [k for k in z.files if z[k].ndim == 2]
            if len(two_d) == 1 and columns is None and "X" not in z.files:
                return _check_scores(path, np.asarray(z[two_d[0]]))
    table = read_table(path)
    names = [nm for nm in table.names if nm != "row"]
    if columns is not None:
        picked = [nm for nm in names if nm.startswith(columns)]
        if not picked:
            raise CLIError(f"{path}: no column starts with {columns!r}; its columns are: {', '.join(names[:12])}")
    else:
        picked = [nm for nm in names if nm.startswith("weights_")] or [nm for nm in names if nm.startswith("score_")]
        picked = picked or names
    from ._cli_io import _column, _numeric

    return np.column_stack([_numeric(_column(table, nm, role="scores"), table, nm) for nm in picked])


def _check_scores(path, S):
    if S.dtype.kind not in "biuf":
        raise CLIError(f"{path}: the scores are not numeric (dtype {S.dtype})")
    if S.ndim == 1:
        S = S[:, None]
    if S.ndim != 2:
        raise CLIError(f"{path}: the scores must be an (n_train, n_test) matrix, got shape {S.shape}")
    return np.asarray(S, dtype=np.float64)


# ---------------------------------------------------------------------------------------------
# subcommands
# ---------------------------------------------------------------------------------------------


def cmd_retrain(args) -> int:
    import attrib

    from . import _cli

    if not args.output:
        raise CLIError("retrain needs --output FILE.npz (the runs file that datamodels and lds read)")
    if not args.output.lower().endswith(".npz"):
        raise CLIError(f"--output {args.output}: retrain writes an .npz runs file (the masks and the outputs)")
    labels = args.model in ("logistic", "knn")
    X, y, names, _, test = _cli._load(args, labels=labels, test_needed=True)
    Xt, yt = test
    kw, stack = _cli._long_job_options(attrib.retrain, args)
    with stack, _cli._timed(f"retrain({args.model}) of {args.n_subsets} subsets of {X.shape[0]} rows", args.quiet):
        r = attrib.retrain(
            X, y, Xt, yt, model=args.model, n_subsets=args.n_subsets, alpha=args.alpha, seed=args.seed,
            sampler=args.sampler, n_jobs=args.n_jobs, progress=not args.quiet, C=args.C, l2=args.l2, k=args.k,
            fit_intercept=not args.no_intercept, max_iter=args.max_iter, **kw,
        )  # fmt: skip
    meta = {"attrib_version": _cli._version(), "command": "retrain", "data": args.data, "test": args.test}
    write_runs(args.output, r, meta)
    if not args.quiet:
        _cli._say(
            f"wrote {r.n_subsets} subsets x {Xt.shape[0]} test points ({', '.join(sorted(r.outputs))}) to {args.output}"
        )
    return _cli.EXIT_OK if r.complete else _cli.EXIT_INTERRUPTED


def _penalty(text: str):
    if text.strip().lower() == "cv":
        return "cv"
    try:
        return float(text)
    except ValueError:
        import argparse

        raise argparse.ArgumentTypeError(f"expected 'cv' or a number, got {text!r}") from None


def cmd_datamodels(args) -> int:
    import attrib

    from . import _cli

    masks, Y = read_runs(args.data, args.output_name)
    with _cli._timed(
        f"datamodels({args.method}) on {masks.n_subsets} subsets x {Y.shape[-1] if Y.ndim == 2 else 1} targets",
        args.quiet,
    ):
        dm = attrib.datamodels(
            masks, Y, method=args.method, l1=args.l1, l2=args.l2, validation=args.validation,
            n_lambdas=args.n_lambdas, n_jobs=args.n_jobs, progress=not args.quiet,
        )  # fmt: skip
    W = dm.weights
    cols = {f"weights_{j}": W[:, j] for j in range(W.shape[1])}
    meta = {
        "method": dm.method, "output": args.output_name, "n_subsets": masks.n_subsets,
        "intercept": dm.intercept.tolist(), "penalty": dm.penalty.tolist(), "complete": dm.complete,
    }  # fmt: skip
    if not args.output:
        cols = {"mean_weight": W.mean(axis=1), **cols}
    _cli._emit(args, cols, meta, "mean_weight" if not args.output else "weights_0")
    return _cli.EXIT_OK if dm.complete else _cli.EXIT_INTERRUPTED


def cmd_lds(args) -> int:
    import attrib

    from . import _cli
    from ._cli_io import write_rows

    S = read_scores(args.scores, args.columns)
    masks, Y = read_runs(args.data, args.output_name)
    with _cli._timed(f"lds of {S.shape[0]} x {S.shape[1]} scores on {masks.n_subsets} subsets", args.quiet):
        r = attrib.metrics.lds(
            S, masks, Y, n_bootstrap=args.n_bootstrap, ci=args.ci, seed=args.seed, nan_policy=args.nan_policy,
            n_jobs=args.n_jobs,
        )  # fmt: skip
    lo, hi = r.ci
    print(f"LDS {r.mean:.6g}  ({r.ci_level:.0%} interval {lo:.6g} .. {hi:.6g}; {r.per_target.size} targets, "
          f"{r.undefined.size} undefined, {masks.n_subsets} subsets)")  # fmt: skip
    if args.output:
        meta = {
            "attrib_version": _cli._version(), "command": "lds", "scores": args.scores, "data": args.data,
            "output": args.output_name, "mean": r.mean, "ci_low": lo, "ci_high": hi, "ci_level": r.ci_level,
            "n_bootstrap": r.n_bootstrap, "seed": r.seed, "n_subsets": masks.n_subsets,
        }  # fmt: skip
        write_rows(args.output, {"target": np.arange(r.per_target.size), "lds": r.per_target}, meta)
        if args.output != "-" and not args.quiet:
            _cli._say(f"wrote {r.per_target.size} targets' LDS to {args.output}")
    return _cli.EXIT_OK


# ---------------------------------------------------------------------------------------------
# parsers
# ---------------------------------------------------------------------------------------------


def add_parsers(sub) -> None:
    from . import _cli

    p = sub.add_parser("retrain", help="retrain on random subsets; write the masks and test outputs (.npz)")
    _cli._data_args(p, test="test data whose outputs are recorded (required)")
    p.add_argument("--model", choices=("logistic", "ridge", "knn"), default="logistic")
    p.add_argument("--n-subsets", type=_cli._positive_int, default=100, help="models to train (default 100)")
    p.add_argument("--alpha", type=float, default=0.5, help="subset fraction in (0, 1) (default 0.5)")
    p.add_argument("--sampler", choices=("fixed", "bernoulli"), default="fixed")
    p.add_argument("--seed", type=_cli._seed, default=0, help="random seed of the subsets (default 0)")
    p.add_argument("--C", type=float, default=1.0, help="logistic inverse penalty (default 1)")
    p.add_argument("--l2", type=float, default=1.0, help="ridge penalty (default 1)")
    p.add_argument("--k", type=_cli._positive_int, default=5, help="knn neighbours (default 5)")
    p.add_argument("--no-intercept", action="store_true", help="fit without an intercept")
    p.add_argument("--max-iter", type=_cli._positive_int, default=100, help="logistic Newton iterations")
    _cli._long_job_args(p)
    p.set_defaults(run=cmd_retrain)

    p = sub.add_parser("datamodels", help="fit linear datamodels to a retrain runs file")
    p.add_argument("data", metavar="RUNS.npz", help="the runs file of `attrib retrain -o RUNS.npz`")
    p.add_argument("--output-name", default="margin", help="which recorded output to model (default margin)")
    p.add_argument("--method", choices=("lasso", "ridge"), default="lasso")
    p.add_argument("--l1", type=_penalty, default="cv", help="lasso penalty, or 'cv' (default)")
    p.add_argument("--l2", type=_penalty, default="cv", help="ridge penalty, or 'cv' (default)")
    p.add_argument("--validation", type=float, default=0.1, help="held-out fraction for 'cv' (default 0.1)")
    p.add_argument("--n-lambdas", type=_cli._positive_int, default=100, help="lasso path length (default 100)")
    _output_args(p, "one row per training point, one weights_<j> column per test point")
    p.set_defaults(run=cmd_datamodels)

    p = sub.add_parser("lds", help="linear datamodeling score of attribution scores against a runs file")
    p.add_argument("scores", metavar="SCORES", help="n_train x n_test scores: .npy, or a table from datamodels/trak")
    p.add_argument("data", metavar="RUNS.npz", help="the runs file of `attrib retrain -o RUNS.npz`")
    p.add_argument("--columns", metavar="PREFIX", help="score columns of a table: those starting with PREFIX")
    p.add_argument("--output-name", default="margin", help="which recorded output to correlate (default margin)")
    p.add_argument("--n-bootstrap", type=int, default=1000, help="bootstrap resamples of the targets (default 1000)")
    p.add_argument("--ci", type=float, default=0.95, help="interval level (default 0.95)")
    p.add_argument("--seed", type=_cli._seed, default=0, help="bootstrap seed (default 0)")
    p.add_argument("--nan-policy", choices=("omit", "raise", "propagate"), default="omit")
    _output_args(p, "one row per test point (target, lds); the mean and interval in the metadata")
    p.set_defaults(run=cmd_lds)


def _output_args(p, what: str) -> None:
    from . import _cli

    out = p.add_argument_group("output")
    out.add_argument("-o", "--output", metavar="FILE", help=f"{what}; .csv / .npz / .json by the suffix ('-': stdout)")
    out.add_argument("--top", type=_cli._positive_int, default=10, help="rows to print without --output (default 10)")
    out.add_argument("-q", "--quiet", action="store_true", help="no progress or timings on stderr")
    p.add_argument("--n-jobs", type=_cli._n_jobs, default=None, help="threads (default: OpenMP's; -1 all cores)")
