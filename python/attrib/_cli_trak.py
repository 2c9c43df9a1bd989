"""``attrib trak``: TRAK scores from per-checkpoint projected features (``.npy`` files, memory-mapped,
as :func:`attrib.torch.featurize` or any featuriser writes them) and out-to-loss weights.

One checkpoint: ``attrib trak train.npy --out-to-loss q.npy --test test.npy``; several: give the
training features, the out-to-loss weights and the test features once per checkpoint, in the
same order (``attrib trak t0.npy t1.npy --out-to-loss q0.npy q1.npy --test s0.npy s1.npy``).
"""

from __future__ import annotations

import os

import numpy as np

from ._cli_io import CLIError


def _array(path: str, role: str, *, ndim: int, mmap: bool):
    """A numeric array from .npy (memory-mapped when ``mmap``), .npz (one array) or, for a vector,
    a one-column CSV; CLIError naming the file otherwise."""
    if not os.path.exists(path):
        raise CLIError(f"{path}: no such file ({role})")
    low = path.lower()
    try:
        if low.endswith(".npy"):
            a = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
        elif low.endswith(".npz"):
            with np.load(path, allow_pickle=False) as z:
                if len(z.files) != 1:
                    raise CLIError(f"{path}: the {role} .npz must hold one array, it holds {', '.join(z.files)}")
                a = z[z.files[0]]
        elif ndim == 1 and low.endswith(".csv"):
            from ._cli_io import _numeric, read_table

            t = read_table(path)
            if len(t.names) != 1:
                raise CLIError(f"{path}: the {role} CSV must have one column, it has {len(t.names)}")
            a = _numeric(t.columns[t.names[0]], t, t.names[0])
        else:
            raise CLIError(
                f"{path}: the {role} must be a .npy or .npz file" + (" (or a one-column .csv)" if ndim == 1 else "")
            )
    except CLIError:
        raise
    except (OSError, ValueError, EOFError) as exc:
        raise CLIError(f"{path}: cannot read the {role}: {exc}") from None
    if a.dtype.kind not in "biuf":
        raise CLIError(f"{path}: the {role} are not numeric (dtype {a.dtype})")
    if ndim == 1 and a.ndim == 2 and a.shape[1] == 1:
        a = a[:, 0]
    if a.ndim != ndim:
        want = "a vector (n_train,)" if ndim == 1 else "a matrix (rows, features)"
        raise CLIError(f"{path}: the {role} must be {want}, got shape {a.shape}")
    return a


def cmd_trak(args) -> int:
    import attrib

    from . import _cli

    n_ck = len(args.features)
    q_paths, t_paths = args.out_to_loss or [], args.test or []
    if len(q_paths) != n_ck or len(t_paths) != n_ck:
        raise CLIError(
            f"{n_ck} training feature file(s) but {len(q_paths)} --out-to-loss and {len(t_paths)} --test file(s): "
            "give one of each per checkpoint, in the same order"
        )
    train = [_array(p, "training features", ndim=2, mmap=True) for p in args.features]
    q = [_array(p, "out-to-loss weights", ndim=1, mmap=False) for p in q_paths]
    tests = [_array(p, "test features", ndim=2, mmap=True) for p in t_paths]
    dim = args.dim if args.dim is not None else int(train[0].shape[1])
    t = attrib.TRAK(
        dim=dim, lambda_reg=args.lambda_reg, seed=args.seed, estimator=args.estimator, weighting=args.weighting,
        n_jobs=args.n_jobs,
    )  # fmt: skip
    n, T = train[0].shape[0], tests[0].shape[0]
    with _cli._timed(
        f"TRAK ({args.estimator}) of {n} training points on {T} test points, {n_ck} checkpoint(s)", args.quiet
    ):
        for F, w in zip(train, q):
            t.add_checkpoint(F, w)
        res = t.score(tests if n_ck > 1 else tests[0], top_k=args.top_k, soft_threshold=args.soft_threshold)
    meta = {
        "estimator": args.estimator, "weighting": args.weighting, "lambda_reg": args.lambda_reg, "dim": dim,
        "n_checkpoints": n_ck, "n_test": T, "features": ",".join(args.features),
    }  # fmt: skip
    if args.top_k is None:
        cols = {f"score_{j}": res[:, j] for j in range(res.shape[1])}
        if not args.output:
            cols = {"mean_score": res.mean(axis=1), **cols}
        args.data = args.features[0]
        _cli._emit(args, cols, meta, "mean_score" if not args.output else "score_0")
        return _cli.EXIT_OK
    k = res.proponent_idx.shape[1]
    rows = {
        "test": np.repeat(np.arange(T), k),
        "rank": np.tile(np.arange(k), T),
        "proponent_idx": res.proponent_idx.reshape(-1),
        "proponent_val": res.proponent_val.reshape(-1),
        "opponent_idx": res.opponent_idx.reshape(-1),
        "opponent_val": res.opponent_val.reshape(-1),
    }
    if args.output:
        from ._cli_io import write_rows

        write_rows(args.output, rows, {"attrib_version": _cli._version(), "command": "trak", "top_k": k, **meta})
        if args.output != "-" and not args.quiet:
            _cli._say(f"wrote the top {k} proponents and opponents of {T} test points to {args.output}")
        return _cli.EXIT_OK
    print(f"top {k} proponents / opponents of each of {T} test points (write them all with -o FILE.csv):")
    print("  " + " ".join(f"{c:>14}" for c in rows))
    for i in range(min(len(rows["test"]), args.top * k)):
        print("  " + " ".join(f"{float(rows[c][i]):>14.6g}" for c in rows))
    return _cli.EXIT_OK


def add_parser(sub) -> None:
    from . import _cli
    from ._cli_datamodels import _output_args

    p = sub.add_parser("trak", help="TRAK scores from projected per-checkpoint features (.npy)")
    p.add_argument("features", metavar="TRAIN.npy", nargs="+", help="training features, one file per checkpoint")
    p.add_argument(
        "--out-to-loss", metavar="Q.npy", nargs="+", help="out-to-loss weights, one per checkpoint (required)"
    )
    p.add_argument("--test", metavar="TEST.npy", nargs="+", help="test features, one per checkpoint (required)")
    p.add_argument("--dim", type=_cli._positive_int, default=None,
                   help="project gradients to DIM columns (default: the features' width, used as they are)")  # fmt: skip
    p.add_argument("--lambda-reg", type=float, default=0.0, help="ridge term of every kernel (default 0)")
    p.add_argument("--estimator", choices=("trak", "newton"), default="trak")
    p.add_argument("--weighting", choices=("uniform", "trak"), default="uniform")
    p.add_argument("--soft-threshold", type=float, default=None, help="soft-threshold the averaged scores")
    p.add_argument("--top-k", type=_cli._positive_int, default=None,
                   help="write the K most positive and negative training points per test point instead")  # fmt: skip
    p.add_argument("--seed", type=_cli._seed, default=0, help="seed of the projector for --dim (default 0)")
    _output_args(
        p, "one row per training point, one score_<j> column per test point (--top-k: one row per test and rank)"
    )
    p.set_defaults(run=cmd_trak)
