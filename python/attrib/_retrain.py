"""Retraining on random subsets: one model per subset, every target point's output recorded
(the ground truth of datamodels and of the LDS). Exposed as :func:`attrib.retrain`.

Built-in learners run in C++ a block of subsets per call (GIL released, subsets in parallel,
each on one thread, so the outputs are bitwise the same for any ``n_jobs`` and any block size);
a callable or a scikit-learn estimator is called once per subset on the same masks and blocks.
"""

from __future__ import annotations

import math
import numbers
import warnings

import numpy as np

from . import _checkpoint, _dispatch
from ._blocks import run_blocks
from ._progress import Progress
from ._retrain_job import RetrainJob, _RetrainSpec
from ._utilities import KNN_RANK_MAX_BYTES, knn_frame
from ._validation import (
    as_float_matrix,
    as_float_vector,
    as_labels,
    check_binary_labels,
    check_bool,
    check_positive,
    encode_labels,
    offset_column_means,
    resolve_n_jobs,
)
from .datamodels import SubsetMasks, check_sampling, data_fingerprint
from .exceptions import ConvergenceWarning, StoppedEarlyWarning, UtilityError

__all__ = ["BUILTIN_MODELS", "RetrainResult", "retrain"]

#: The built-in learners, as the core's RetrainModel enum names them.
BUILTIN_MODELS = ("logistic", "ridge", "knn")
#: Newton tolerance of the built-in logistic fits (each is then polished to the rounding floor).
LOGISTIC_TOL = 1e-10
#: Probabilities are clipped to [EPS, 1 - EPS] for estimator log-odds and log-losses (as scikit-learn's log_loss).
EPS = 1e-15

_EMPTY = np.empty(0)
_NO_ORDER = np.empty((0, 0), np.int32)


class RetrainResult:
    """Outputs of models retrained on random subsets: one row per subset, one column per target.

    Returned by :func:`retrain`; not usually built by hand.

    Parameters
    ----------
    masks : SubsetMasks
        The subsets trained on (only those completed).
    outputs : dict of str to ndarray of shape (m, n_target)
        The recorded outputs.
    model : str
        The learner, for display.
    complete : bool, default True
        False when Ctrl-C stopped the run.
    elapsed : float, default 0.0
        Wall-clock seconds.
    n_iter : ndarray of int32, optional
        Newton iterations per subset (built-in logistic).

    Attributes
    ----------
    masks : SubsetMasks
        The subsets (``.bool()`` gives the m x n_train boolean matrix; ``.packed`` the bits).
    outputs : dict of str to ndarray of shape (m, n_target)
        ``"margin"``, ``"loss"`` and, for classifiers, ``"correct"`` (float 0/1): see :func:`retrain`.
    margin, loss, correct : ndarray of shape (m, n_target)
        Shortcuts to the outputs (``correct`` raises KeyError for a regressor).
    model : str
        The learner.
    n_subsets : int
        Models trained (rows of the outputs).
    complete : bool
        Whether every requested subset was trained.
    elapsed : float
        Wall-clock seconds.
    n_iter : ndarray of int32 or None
        Newton iterations per subset for the built-in logistic learner.

    Examples
    --------
    >>> import attrib
    >>> data = attrib.datasets.load_breast_cancer()
    >>> r = attrib.retrain(data.X[:100], data.y[:100], data.X[100:103], data.y[100:103], model="knn",
    ...                    n_subsets=4, progress=False)
    >>> r.outputs["margin"].shape, sorted(r.outputs)
    ((4, 3), ['correct', 'loss', 'margin'])
    """

    def __init__(self, masks, outputs, model, *, complete=True, elapsed=0.0, n_iter=None):
        self.masks = masks
        self.outputs = outputs
        self.model = model
        self.complete = bool(complete)
        self.elapsed = float(elapsed)
        self.n_iter = n_iter

    @property
    def n_subsets(self) -> int:
        return self.masks.n_subsets

    @property
    def margin(self) -> np.ndarray:
        return self.outputs["margin"]

    @property
    def loss(self) -> np.ndarray:
        return self.outputs["loss"]

    @property
    def correct(self) -> np.ndarray:
        return self.outputs["correct"]

    def __repr__(self) -> str:
        T = next(iter(self.outputs.values())).shape[1] if self.outputs else 0
        return (
            f"RetrainResult(model={self.model!r}, n_subsets={self.n_subsets}, n_target={T}, complete={self.complete})"
        )


# ----------------------------------------------------------------------------------------------
# Learners: each offers run(first_row, rows, n_threads, token) -> dict of (rows x T) arrays or None
# ----------------------------------------------------------------------------------------------


class _Builtin:
    def __init__(self, core, name, X, y, X_target, y_target, *, C, l2, k, fit_intercept, max_iter, n_threads):
        self.core = core
        self.name = name
        self.X = as_float_matrix(X, "X")
        n, d = self.X.shape
        self.X_target = as_float_matrix(X_target, "X_target", n_features=d)
        T = self.X_target.shape[0]
        opts = core.RetrainOptions(model=getattr(core.RetrainModel, name), fit_intercept=fit_intercept)
        opts.max_iter = max_iter
        opts.tol = LOGISTIC_TOL
        self.start, self.order = _EMPTY, _NO_ORDER
        self.fingerprint = data_fingerprint(self.X, y)
        if name == "logistic":
            # The intercept is unpenalised, so centring X and X_target alike is a reparametrisation
            # that leaves every margin as it is; it keeps an offset of 1e8 from making each fit's
            # Hessian singular (the same rule as glm_loo).
            center = offset_column_means(self.X) if fit_intercept else None
            if center is not None:
                self.X, self.X_target = self.X - center, self.X_target - center
            self.y, classes = check_binary_labels(y, "y", n)
            self.y_target, _ = check_binary_labels(y_target, "y_target", T, classes=classes)
            opts.l2 = 1.0 / check_positive(C, "C")
            fo = core.GlmFitOptions(
                family=core.GlmFamily.logistic,
                l2=opts.l2,
                fit_intercept=fit_intercept,
                n_threads=n_threads,
                tol=LOGISTIC_TOL,
                polish=True,
                max_iter=max_iter,
            )
            full = core.glm_fit(self.X, self.y, _EMPTY, _EMPTY, _EMPTY, np.empty((0, 0)), fo)
            self.start = np.concatenate([[full.intercept], full.coef]) if fit_intercept else np.array(full.coef)
        elif name == "ridge":
            self.y = as_float_vector(y, "y", n)
            self.y_target = as_float_vector(y_target, "y_target", T, what="X_target")
            if isinstance(l2, bool) or not isinstance(l2, numbers.Real) or not (math.isfinite(l2) and l2 >= 0):
                raise ValueError(f"l2 (the ridge penalty, scikit-learn's alpha) must be finite and >= 0, got {l2!r}")
            opts.l2 = float(l2)
        else:  # knn
            yt = as_labels(y_target, "y_target", T, what="X_target")
            classes, codes, test_codes = encode_labels(as_labels(y, "y", n), yt)
            self.y, self.y_target = codes.astype(np.float64), test_codes.astype(np.float64)
            opts.k = min(check_positive(k, "k", integer=True), n)
            opts.n_classes = int(classes.size)
            need = 4 * n * T
            if need > KNN_RANK_MAX_BYTES:
                raise ValueError(
                    f"the knn learner needs an n_target x n neighbour table of {need / 2**30:.1f} GiB; use fewer targets"
                )
            Xc, Tc, _ = knn_frame(self.X, self.X_target)
            ranks = core.knn_ranks(Xc, Tc, n_threads)
            self.order = np.ascontiguousarray(np.argsort(ranks, axis=1), dtype=np.int32)
        opts.n_threads = n_threads
        self.opts = opts
        self.n = n
        self.classifier = name != "ridge"

    # Picklable for Dask: the core module and its options object travel as names and fields, and
    # are rebuilt with the same build of the core where the learner is unpickled.
    _OPTION_FIELDS = ("fit_intercept", "max_iter", "tol", "l2", "k", "n_classes", "n_threads")

    def __getstate__(self):
        state = self.__dict__.copy()
        state["core"] = self.core.__name__
        state["opts"] = {f: getattr(self.opts, f) for f in self._OPTION_FIELDS}
        return state

    def __setstate__(self, state):
        import importlib

        fields = state.pop("opts")
        core = importlib.import_module(state["core"])
        state["core"] = core
        opts = core.RetrainOptions(model=getattr(core.RetrainModel, state["name"]))
        for f, v in fields.items():
            setattr(opts, f, v)
        state["opts"] = opts
        self.__dict__.update(state)

    def user_objects(self):
        return ()

    def run(self, packed, first_id, token, n_threads=None):
        """Outputs of the subsets ``packed`` (ids from ``first_id``) and, for logistic, the Newton
        iterations and the ids of the fits that stopped at max_iter; None if cancelled."""
        if n_threads is not None:
            self.opts.n_threads = n_threads
        out = self.core.retrain_subsets(
            self.X, self.y, self.X_target, self.y_target, packed, first_id, self.start, self.order, self.opts, token
        )
        if out is None:
            return None
        margin, loss, correct, n_iter, converged = out
        res = {"margin": margin, "loss": loss}
        if self.classifier:
            res["correct"] = correct
        info = {}
        if self.name == "logistic":
            info = {"n_iter": np.asarray(n_iter, np.int32), "bad": first_id + np.flatnonzero(~converged)}
        return res, info


class _PerSubset:
    """A callable(indices) or a scikit-learn estimator, one call per subset (GIL held)."""

    def __init__(self, func, n, fingerprint, name):
        self.func = func
        self.n = n
        self.fingerprint = fingerprint
        self.name = name
        self.keys: tuple[str, ...] | None = None
        self.T: int | None = None

    def user_objects(self):
        return (("model", self.func),)

    def run(self, packed, first_id, token, n_threads=None):
        B = np.unpackbits(packed, axis=1, count=self.n, bitorder="little").view(bool)
        rows: dict[str, list] = {}
        for s in range(B.shape[0]):
            idx = np.flatnonzero(B[s]).astype(np.int64)
            where = f"subset {first_id + s} ({idx.size} points)"
            try:
                got = self.func(idx)
            except Exception as exc:  # never KeyboardInterrupt: Ctrl-C must reach the run loop
                raise UtilityError(f"the model raised {type(exc).__name__}: {exc} on {where}") from exc
            got = self._check(got, where)
            for key, val in got.items():
                rows.setdefault(key, []).append(val)
        return {key: np.vstack(vals) for key, vals in rows.items()}, {}

    def _check(self, got, where):
        if not isinstance(got, dict):
            got = {"margin": got}
        out = {}
        for key, val in got.items():
            arr = np.asarray(val, dtype=np.float64).reshape(-1)
            if self.T is None:
                self.T = arr.size
            if arr.size != self.T:
                raise UtilityError(f"output {key!r} has {arr.size} values on {where}, but {self.T} before")
            if not np.isfinite(arr).all():
                raise UtilityError(f"output {key!r} holds NaN or inf on {where}")
            out[str(key)] = arr
        keys = tuple(sorted(out))
        if self.keys is None:
            self.keys = keys
        elif keys != self.keys:
            raise UtilityError(f"the model returned outputs {list(keys)} on {where}, but {list(self.keys)} before")
        return out


def _estimator_func(est, X, y, X_target, y_target):
    """outputs(indices) for a scikit-learn estimator: clone, fit on the subset, score the targets."""
    from sklearn.base import clone, is_classifier

    classifier = is_classifier(est)

    def outputs(idx):
        model = clone(est).fit(X[idx], y[idx])
        if not classifier:
            pred = np.asarray(model.predict(X_target), dtype=np.float64).reshape(-1)
            return {"margin": pred, "loss": (y_target - pred) ** 2}
        classes = list(model.classes_)
        correct = (np.asarray(model.predict(X_target)) == y_target).astype(np.float64)
        col = np.array([classes.index(v) if v in classes else -1 for v in y_target.tolist()])
        proba = model.predict_proba(X_target) if hasattr(model, "predict_proba") else None
        if proba is not None:
            p_y = np.where(col >= 0, proba[np.arange(len(col)), np.maximum(col, 0)], 0.0)
            p_y = np.clip(p_y, EPS, 1 - EPS)
        if len(classes) == 2 and hasattr(model, "decision_function"):
            dec = np.asarray(model.decision_function(X_target), dtype=np.float64).reshape(-1)
            margin = np.where(col == 1, dec, -dec)
            loss = -np.log(p_y) if proba is not None else np.logaddexp(0.0, -margin)
        elif proba is not None:
            margin = np.log(p_y) - np.log1p(-p_y)
            loss = -np.log(p_y)
        else:
            raise TypeError("a classifier estimator needs decision_function (two classes) or predict_proba")
        return {"margin": margin, "loss": loss, "correct": correct}

    return outputs


def _retrain_fingerprint(model, learner, X, y, X_target, y_target, masks, meta, C, l2, k, fit_intercept, max_iter):
    """What a retrain checkpoint must agree on: the data, the masks (seed, sampler, alpha, or the
    given bits), the learner and its options. ``n_subsets`` only says when to stop, so a finished
    run resumes to train more subsets."""
    data: dict = {}
    if not (isinstance(X, numbers.Integral) and not isinstance(X, bool)):
        data = {
            "X": np.asarray(X),
            "y": np.asarray(y),
            "X_target": np.asarray(X_target),
            "y_target": np.asarray(y_target),
        }
    else:
        data = {"n": str(int(X))}
    if masks is not None:
        data["masks"] = masks.packed
    options: dict = {
        "alpha": meta["alpha"],
        "sampler": meta["sampler"],
        "first_id": meta["first_id"],
        "fit_intercept": bool(fit_intercept),
    }
    if isinstance(model, str):
        name = model.strip().lower()
        options["model"] = name
        options.update({"logistic": {"C": C, "max_iter": max_iter}, "ridge": {"l2": l2}, "knn": {"k": k}}[name])
    else:
        options["model"] = type(model).__qualname__ if hasattr(model, "fit") else getattr(model, "__qualname__", "")
        options["model_code"] = _checkpoint.callable_digest(model)
    return _checkpoint.fingerprint(job="retrain", data=data, seed=meta["seed"], options=options)


def retrain(
    X,
    y=None,
    X_target=None,
    y_target=None,
    model="logistic",
    *,
    n_subsets=100,
    alpha=0.5,
    seed=0,
    sampler="fixed",
    masks=None,
    n_jobs=None,
    progress=True,
    C=1.0,
    l2=1.0,
    k=5,
    fit_intercept=True,
    max_iter=100,
    client=None,
    checkpoint=None,
    resume=False,
    checkpoint_every=None,
) -> RetrainResult:
    """Train one model per random training subset and record every target point's output.

    The ground truth of datamodels (:func:`attrib.datamodels`) and of the linear datamodeling
    score: subsets come from :func:`attrib.sample_subsets` (or ``masks``), and for each the model
    is trained on those points only.

    Outputs per subset s and target t (``outputs[name][s, t]``), with "margin" the quantity a
    datamodel predicts and helpful training points raising it:

    - ``"logistic"``: L2 logistic regression with scikit-learn's ``LogisticRegression(C)``
      objective (intercept unpenalised), Newton's method warm-started from the full-data fit and
      polished to the rounding floor. margin = the decision function signed by the target's label
      (+ for the larger class, - for the other; = log p_y / (1 - p_y)), loss = log-loss
      log(1 + e^-margin), correct = 1.0 when the predicted class is the label (else 0.0). Two classes only.
    - ``"ridge"``: ``Ridge(alpha=l2)`` regression (a Cholesky factor of the subset's centred Gram
      matrix). margin = the prediction, loss = squared error; no "correct".
    - ``"knn"``: ``KNeighborsClassifier(k)`` with uniform weights (a subset smaller than k votes
      with all its points; distance ties: lower training index first; vote ties: the smallest
      class). With p_c the fraction of neighbours of class c: margin = p_y - max_{c != y} p_c,
      loss = 1 - p_y, correct as above.
    - a scikit-learn estimator: cloned and fitted per subset. Classifiers: with two classes and
      ``decision_function``, margin as for logistic and loss from ``predict_proba`` (or the
      logistic loss of the margin); otherwise margin = log p_y - log(1 - p_y) and loss = -log p_y
      from ``predict_proba`` (clipped to [1e-15, 1 - 1e-15]); correct from ``predict``. Regressors:
      as ridge.
    - a callable ``model(indices) -> outputs``: indices (int64) of the subset's points; returns an
      array of n_target margins, or a dict of named arrays (the same names every time). ``X`` may
      then be the number of training points.

    Subsets run in blocks (about 0.25 s each) of consecutive subset ids; built-in learners fit the
    subsets of a block in parallel, each on one thread, so the outputs are bitwise the same for
    any ``n_jobs``. Ctrl-C returns the completed blocks (``complete=False``) with a StoppedEarlyWarning.

    Parameters
    ----------
    X : array_like of shape (n, d), or int
        Training features (an int n only with a callable model).
    y : array_like of shape (n,)
        Training labels (logistic: two classes; knn: any labels) or targets (ridge).
    X_target : array_like of shape (n_target, d)
        The points whose outputs are recorded.
    y_target : array_like of shape (n_target,)
        Their labels (targets).
    model : {"logistic", "ridge", "knn"}, estimator or callable, default "logistic"
        The learner.
    n_subsets : int, default 100
        Models to train (ignored when ``masks`` is given).
    alpha : float, default 0.5
        Subset fraction, in (0, 1).
    seed : int, default 0
        Seed of the subset streams.
    sampler : {"fixed", "bernoulli"}, default "fixed"
        Fixed-size (round(alpha n) points) or Bernoulli(alpha) subsets.
    masks : SubsetMasks, optional
        Train on these subsets instead (their data fingerprint, if any, must match X and y).
    n_jobs : int, optional
        Threads for the built-in learners (None: the OpenMP default).
    progress : bool, default True
        A progress line on stderr for runs longer than a second.
    C : float, default 1.0
        Logistic inverse penalty, as scikit-learn's C.
    l2 : float, default 1.0
        Ridge penalty, as scikit-learn's Ridge alpha.
    k : int, default 5
        KNN neighbours.
    fit_intercept : bool, default True
        Logistic and ridge: fit an (unpenalised) intercept.
    max_iter : int, default 100
        Logistic: Newton iterations per fit at most.
    client : dask.distributed.Client, optional
        Run the blocks of subsets as tasks on this Dask cluster (the data scattered once, blocks
        merged in id order): bitwise the local outputs for any number of workers. See
        :mod:`attrib.distributed`.
    checkpoint : str or os.PathLike, optional
        Save the outputs of the subsets trained so far to this file (atomically: temporary file +
        rename) every ``checkpoint_every`` blocks, at Ctrl-C and at the end. The file is fingerprinted
        with the data, the masks (seed, sampler, alpha), the model and its options, and the attrib version.
    resume : bool, default False
        Continue the run saved in ``checkpoint`` (start afresh if the file does not exist yet):
        interrupted (Ctrl-C, or the process killed) and resumed gives the same bits as uninterrupted;
        a larger ``n_subsets`` trains more. A checkpoint of other data or options, or a damaged one,
        is refused (ValueError).
    checkpoint_every : int, optional
        Blocks between checkpoints (default: about every 30 seconds).

    Returns
    -------
    RetrainResult
        ``.masks`` (SubsetMasks) and ``.outputs`` ({"margin", "loss"[, "correct"]}: m x n_target).

    Raises
    ------
    TypeError
        ``model`` is neither a name, an estimator nor a callable; an argument has the wrong type.
    ValueError
        Bad arrays (empty, NaN, shapes that disagree), labels the learner cannot use (logistic:
        not two classes), ``alpha`` outside (0, 1), an unknown model or sampler, masks for other
        data, or a subset the learner cannot fit (empty, one class for logistic: the message names
        the subset); a ``checkpoint`` to resume written for other data or options, or damaged;
        ``resume`` or ``checkpoint_every`` without ``checkpoint``.
    FileExistsError
        ``checkpoint`` exists and ``resume`` is False.
    attrib.exceptions.UtilityError
        A callable or estimator raised or returned something unusable; the message names the subset.

    Examples
    --------
    >>> import numpy as np
    >>> import attrib
    >>> data = attrib.datasets.load_breast_cancer()
    >>> X = (data.X - data.X.mean(0)) / data.X.std(0)
    >>> r = attrib.retrain(X[:200], data.y[:200], X[200:205], data.y[200:205], n_subsets=8, seed=0,
    ...                    progress=False)
    >>> r.masks.bool().shape, r.outputs["margin"].shape
    ((8, 200), (8, 5))
    >>> bool(np.allclose(r.outputs["loss"], np.logaddexp(0, -r.outputs["margin"])))
    True
    """
    core = _dispatch.core
    learner: _Builtin | _PerSubset
    n_threads = resolve_n_jobs(n_jobs)
    max_iter = check_positive(max_iter, "max_iter", integer=True)
    fit_intercept = check_bool(fit_intercept, "fit_intercept")
    if isinstance(model, str):
        name = model.strip().lower()
        if name not in BUILTIN_MODELS:
            raise ValueError(
                f"model must be one of {list(BUILTIN_MODELS)}, a scikit-learn estimator or a callable, got {model!r}"
            )
        learner = _Builtin(
            core,
            name,
            X,
            y,
            X_target,
            y_target,
            C=C,
            l2=l2,
            k=k,
            fit_intercept=bool(fit_intercept),
            max_iter=max_iter,
            n_threads=n_threads,
        )
        label = name
    elif hasattr(model, "fit"):
        Xa = as_float_matrix(X, "X")
        n, d = Xa.shape
        Xt = as_float_matrix(X_target, "X_target", n_features=d)
        ya, yt = np.asarray(y), np.asarray(y_target)
        if ya.shape[:1] != (n,) or yt.shape[:1] != (Xt.shape[0],):
            raise ValueError(
                f"X has {n} rows and y {ya.shape[:1]}; X_target has {Xt.shape[0]} and y_target {yt.shape[:1]}"
            )
        learner = _PerSubset(_estimator_func(model, Xa, ya, Xt, yt), n, data_fingerprint(Xa, ya), type(model).__name__)
        label = type(model).__name__
    elif callable(model):
        if isinstance(X, numbers.Integral) and not isinstance(X, bool):
            n, fp = int(X), ""
        else:
            Xa = as_float_matrix(X, "X")
            n, fp = Xa.shape[0], data_fingerprint(Xa, y)
        if n < 1:
            raise ValueError(f"X (or the number of training points) must give at least one point, got {X!r}")
        learner = _PerSubset(model, n, fp, getattr(model, "__name__", type(model).__name__))
        label = learner.name
    else:
        raise TypeError(f"model must be a name, a scikit-learn estimator or a callable, got {type(model).__name__}")
    n = learner.n

    if masks is None:  # drawn block by block (Ctrl-C never waits for masks of models not trained)
        _, m, alpha, sampler, seed, _ = check_sampling(n, n_subsets, alpha, sampler, seed)
        meta = {"seed": seed, "alpha": alpha, "sampler": sampler, "first_id": 0}
        fingerprint = learner.fingerprint
        spec = _RetrainSpec(learner, n=n, draw=(alpha, sampler, seed))
    else:
        if not isinstance(masks, SubsetMasks):
            raise TypeError(f"masks must be SubsetMasks (see attrib.sample_subsets), got {type(masks).__name__}")
        if masks.n_train != n:
            raise ValueError(f"masks are for {masks.n_train} training points but X has {n}")
        masks.check_data(learner.fingerprint)
        fingerprint = masks.fingerprint or learner.fingerprint
        m = masks.n_subsets
        meta = {"seed": masks.seed, "alpha": masks.alpha, "sampler": masks.sampler, "first_id": masks.first_id}
        spec = _RetrainSpec(learner, n=n, packed=masks.packed, first_id=masks.first_id)

    builtin = isinstance(learner, _Builtin)
    threads = core.default_num_threads() if n_threads < 0 else n_threads
    minimum = max(1, threads) if builtin and client is None else 1
    keys = None
    if isinstance(learner, _Builtin):
        keys = ("correct", "loss", "margin") if learner.classifier else ("loss", "margin")
    job = RetrainJob(spec, m=m, minimum=minimum, builtin=builtin, core=core, keys=keys)
    ckpt = None
    if checkpoint is not None or resume or checkpoint_every is not None:
        fp = _retrain_fingerprint(
            model, learner, X, y, X_target, y_target, masks, meta, C, l2, k, fit_intercept, max_iter
        )
        ckpt = _checkpoint.open_run(checkpoint, resume, checkpoint_every, fp)
    elapsed_before = 0.0
    if ckpt is not None and ckpt.resumed:
        job.restore(ckpt.arrays)
        elapsed_before = _checkpoint.scalar(ckpt.arrays, "__elapsed__", 0.0)
    worker_threads = n_threads
    if client is not None:
        from . import distributed

        distributed.check_client(client)
        worker_threads = n_threads if n_jobs is not None else 1  # the workers are the parallelism
    _, elapsed = run_blocks(
        job,
        total=m,
        elapsed_before=elapsed_before,
        progress=Progress(bool(progress), m, "models"),
        checkpointer=ckpt,
        client=client,
        n_threads=worker_threads,
        meta={"job": "retrain", "unit": "subsets"},
    )
    done = min(job.done, m)
    T = learner.X_target.shape[0] if isinstance(learner, _Builtin) else 0
    outputs = {key: val[:done] for key, val in job.outputs(T).items()}
    if not outputs and isinstance(learner, _Builtin):
        outputs = {key: np.empty((0, T)) for key in keys or ()}
    done_masks = SubsetMasks(spec.masks(0, done), n, fingerprint=fingerprint, **meta)
    complete = done == m
    if not complete:
        warnings.warn(
            f"retrain interrupted: returning the {done} of {m} models trained (the completed blocks)",
            StoppedEarlyWarning,
            stacklevel=2,
        )
    n_iter = None
    if isinstance(learner, _Builtin) and learner.name == "logistic":
        n_iter = np.concatenate(job.n_iter)[:done] if job.n_iter else np.zeros(0, np.int32)
        bad = [b for b in job.bad if b < meta["first_id"] + done]
        if bad:
            warnings.warn(
                f"{len(bad)} logistic fit(s) stopped at max_iter={max_iter} before the tolerance (subsets "
                f"{bad[:10]}{' ...' if len(bad) > 10 else ''}); their outputs may be inaccurate",
                ConvergenceWarning,
                stacklevel=2,
            )
    return RetrainResult(done_masks, outputs, label, complete=complete, elapsed=elapsed, n_iter=n_iter)
