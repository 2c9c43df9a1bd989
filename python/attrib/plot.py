"""Figures of attribution results (matplotlib, imported when a function is called: ``pip install
'attrib[plot]'``).

Every function draws into one matplotlib ``Axes`` (``ax=``, or a new figure's) and returns it, so
figures compose: call two functions on the same ``ax`` to overlay them, or pass the axes of a
``plt.subplots`` grid.

- :func:`value_distribution`: histogram of the scores, optionally split by a grouping (e.g. which
  points had their labels flipped);
- :func:`top_points`: the k highest- (or lowest-) scored training points, as images for image data
  (``image_shape=(8, 8)`` for digits) or as a bar chart;
- :func:`removal_curve`: test performance as the most valuable points are removed;
- :func:`lds_scatter`: predicted (additive) vs actual retrained outputs, with the rank correlation;
- :func:`convergence`: a Monte Carlo estimate as samples accumulate, with standard-error bands.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["convergence", "lds_scatter", "removal_curve", "top_points", "value_distribution"]


def _axes(ax):
    if ax is not None:
        return ax
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError("attrib.plot needs matplotlib: pip install 'attrib[plot]' (or matplotlib)") from None
    _, ax = plt.subplots()
    return ax


def _scores(result, by: str | None = None) -> tuple[np.ndarray, str]:
    """The per-point scores of a result object (``values``, or the attribute ``by``) or an array."""
    if by is not None:
        return np.asarray(getattr(result, by), dtype=np.float64), by
    if hasattr(result, "values") and not isinstance(result, np.ndarray) and not hasattr(result, "dtype"):
        name = getattr(result, "_values_name", "values") or "values"
        return np.asarray(result.values, dtype=np.float64), "value" if name == "estimate" else name
    arr = np.asarray(result, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"expected one score per training point (a 1-D array), got shape {arr.shape}")
    return arr, "value"


def value_distribution(result, *, by=None, groups=None, bins="auto", log=False, ax=None):
    """Histogram of the scores of every training point.

    Parameters
    ----------
    result : AttributionResult or array_like of shape (n,)
        A result (its ``values``) or the scores themselves.
    by : str, optional
        Another per-point attribute of ``result`` to plot (e.g. ``"hat"``).
    groups : array_like of shape (n,), optional
        A label per point (e.g. ``"flipped"`` / ``"clean"``): one histogram per group, overlaid,
        on shared bins.
    bins : int, sequence or str, default "auto"
        As numpy's ``histogram_bin_edges``.
    log : bool, default False
        Logarithmic count axis.
    ax : matplotlib.axes.Axes, optional
        Where to draw (default: a new figure).

    Returns
    -------
    matplotlib.axes.Axes

    Raises
    ------
    ValueError
        ``groups`` does not have one entry per point, or no score is finite.
    ImportError
        matplotlib is not installed.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import attrib, attrib.plot
    >>> data = attrib.datasets.load_breast_cancer()
    >>> r = attrib.knn_shapley(data.X[:400], data.y[:400], data.X[400:], data.y[400:])
    >>> ax = attrib.plot.value_distribution(r, groups=data.y[:400])
    >>> ax.get_xlabel()
    'value'
    """
    ax = _axes(ax)
    s, name = _scores(result, by)
    finite = np.isfinite(s)
    if not finite.any():
        raise ValueError("no finite score to plot")
    edges = np.histogram_bin_edges(s[finite], bins=bins)
    if groups is None:
        ax.hist(s[finite], bins=edges, color="C0", alpha=0.85)
    else:
        g = np.asarray(groups)
        if g.shape != s.shape:
            raise ValueError(f"groups has shape {g.shape} but there are {s.size} scores")
        for j, label in enumerate(np.unique(g[finite])):
            sel = finite & (g == label)
            ax.hist(s[sel], bins=edges, alpha=0.55, color=f"C{j}", label=f"{label} ({int(sel.sum())})")
        ax.legend(frameon=False)
    if log:
        ax.set_yscale("log")
    ax.axvline(0.0, color="0.5", lw=0.8, ls=":")
    ax.set_xlabel(name)
    ax.set_ylabel("training points")
    missing = int((~finite).sum())
    ax.set_title(f"{s.size} points" + (f" ({missing} not finite, not shown)" if missing else ""))
    return ax


def top_points(result, X=None, k=10, *, by=None, largest=True, image_shape=None, labels=None, cmap="gray_r", ax=None):
    """The ``k`` training points with the largest (or smallest) scores.

    With ``image_shape``, each point's features are drawn as an image (e.g. ``(8, 8)`` for
    scikit-learn's digits), in one row, titled with its index, label and score; otherwise a
    horizontal bar chart of the k scores.

    Parameters
    ----------
    result : AttributionResult or array_like of shape (n,)
        A result (its ``values``) or the scores.
    X : array_like of shape (n, d), optional
        The training features (needed with ``image_shape``).
    k : int, default 10
        How many points.
    by : str, optional
        Another per-point attribute of ``result`` to rank by.
    largest : bool, default True
        The largest scores (False: the smallest, e.g. likely label errors).
    image_shape : tuple of int, optional
        ``(height, width)`` or ``(height, width, channels)``, with product ``d``.
    labels : array_like of shape (n,), optional
        Shown beside each point.
    cmap : str, default "gray_r"
        Colour map of single-channel images.
    ax : matplotlib.axes.Axes, optional
        Where to draw.

    Returns
    -------
    matplotlib.axes.Axes

    Raises
    ------
    ValueError
        ``k < 1``; ``image_shape`` without ``X`` or not matching its columns; ``X`` or ``labels``
        without one row per point.
    ImportError
        matplotlib is not installed.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np, attrib.plot
    >>> ax = attrib.plot.top_points(np.array([0.1, 0.5, -0.2]), k=2)
    >>> [t.get_text() for t in ax.get_yticklabels()]
    ['row 1', 'row 0']
    """
    s, name = _scores(result, by)
    if isinstance(k, bool) or int(k) != k or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    key = np.where(np.isnan(s), np.inf, -s if largest else s)
    idx = np.argsort(key, kind="stable")[: min(int(k), s.size)]
    lab = None
    if labels is not None:
        lab = np.asarray(labels)
        if lab.shape[0] != s.size:
            raise ValueError(f"labels has {lab.shape[0]} entries but there are {s.size} scores")
    ax = _axes(ax)
    which = "largest" if largest else "smallest"
    if image_shape is None:
        text = [f"row {int(i)}" + (f" ({lab[i]})" if lab is not None else "") for i in idx]
        ypos = np.arange(idx.size)[::-1]
        ax.barh(ypos, s[idx], color=["C3" if v < 0 else "C0" for v in s[idx]])
        ax.set_yticks(ypos)
        ax.set_yticklabels(text)
        ax.axvline(0.0, color="0.3", lw=0.8)
        ax.set_xlabel(name)
        ax.set_title(f"{idx.size} {which} {name}s")
        return ax
    if X is None:
        raise ValueError("image_shape needs X, the features to draw")
    Xa = np.asarray(X, dtype=np.float64)
    shape = tuple(int(v) for v in image_shape)
    if Xa.ndim != 2 or Xa.shape[0] != s.size or math.prod(shape) != Xa.shape[1]:
        raise ValueError(
            f"X has shape {Xa.shape}; with image_shape {shape} it needs {s.size} rows of {math.prod(shape)} features"
        )
    h, w = shape[0], shape[1]
    pad = max(1, h // 8)
    tiles = []
    for i in idx:
        img = Xa[i].reshape(shape)
        lo, hi = float(np.min(img)), float(np.max(img))
        img = (img - lo) / (hi - lo) if hi > lo else np.zeros_like(img)
        tiles.append(img)
    blank = np.full((h, pad) + shape[2:], np.nan)
    row = []
    for j, t in enumerate(tiles):
        if j:
            row.append(blank)
        row.append(t)
    mosaic = np.concatenate(row, axis=1)
    ax.imshow(mosaic, cmap=cmap if len(shape) == 2 else None, interpolation="nearest", vmin=0.0, vmax=1.0)
    ax.set_xticks([j * (w + pad) + (w - 1) / 2 for j in range(len(tiles))])
    ax.set_xticklabels(
        [f"{int(i)}" + (f"\n{lab[i]}" if lab is not None else "") + f"\n{s[i]:.3g}" for i in idx],
        fontsize=8,
    )
    ax.set_yticks([])
    for side in ("top", "right", "left", "bottom"):
        ax.spines[side].set_visible(False)
    ax.set_title(f"{idx.size} {which} {name}s (row" + (", label" if lab is not None else "") + f", {name})")
    return ax


def removal_curve(curve, scores=None, *, label=None, chance=None, ax=None):
    """Test performance as training points are removed, highest-valued first (or as ordered).

    Parameters
    ----------
    curve : object or array_like
        A removal-curve result (anything with ``fractions`` and ``scores`` or ``score``, such as
        ``attrib.metrics.removal_curve``'s), or the fractions removed (array of shape (m,)).
    scores : array_like of shape (m,), optional
        The performance at each fraction, when ``curve`` is the fractions.
    label : str, optional
        Legend entry (default: the curve's ``order`` where it has one). Draw several curves (e.g.
        attrib vs random removal) by calling this again with the same ``ax``.
    chance : float, optional
        A horizontal reference line (e.g. the majority-class accuracy).
    ax : matplotlib.axes.Axes, optional
        Where to draw.

    Returns
    -------
    matplotlib.axes.Axes

    Raises
    ------
    ValueError
        The fractions and scores have different lengths, or fractions fall outside [0, 1].
    TypeError
        ``curve`` is an array but ``scores`` is missing.
    ImportError
        matplotlib is not installed.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import attrib.plot
    >>> ax = attrib.plot.removal_curve([0.0, 0.1, 0.2], [0.95, 0.9, 0.8], label="Data Shapley")
    >>> ax.get_xlabel()
    'fraction of training points removed'
    """
    if scores is None:
        if not hasattr(curve, "fractions"):
            raise TypeError("pass a removal-curve result (with .fractions and .scores) or fractions and scores")
        fractions = np.asarray(curve.fractions, dtype=np.float64)
        scores = curve.scores if hasattr(curve, "scores") else curve.score
        if label is None and getattr(curve, "order", None) is not None:
            label = f"remove {curve.order}est first" if curve.order in ("high", "low") else str(curve.order)
    else:
        fractions = np.asarray(curve, dtype=np.float64)
    y = np.asarray(scores, dtype=np.float64)
    if fractions.shape != y.shape or fractions.ndim != 1:
        raise ValueError(
            f"fractions (shape {fractions.shape}) and scores (shape {y.shape}) must be two equal 1-D arrays"
        )
    if fractions.size and (np.nanmin(fractions) < 0 or np.nanmax(fractions) > 1):
        raise ValueError("fractions must lie in [0, 1]")
    ax = _axes(ax)
    ax.plot(fractions, y, marker="o", ms=3, label=label)
    if chance is not None:
        ax.axhline(float(chance), color="0.5", ls="--", lw=0.8, label="chance")
    ax.set_xlabel("fraction of training points removed")
    ax.set_ylabel("test performance")
    if label is not None or chance is not None:
        ax.legend(frameon=False)
    return ax


def _ranks(a: np.ndarray) -> np.ndarray:
    """Average ranks (ties share their mean rank), as Spearman's correlation uses."""
    order = np.argsort(a, kind="stable")
    ranks = np.empty(a.size)
    ranks[order] = np.arange(a.size, dtype=np.float64)
    _, inv, counts = np.unique(a, return_inverse=True, return_counts=True)
    sums = np.bincount(inv, weights=ranks)
    return (sums / counts)[inv]


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    ra, rb = _ranks(a), _ranks(b)
    if ra.std() == 0 or rb.std() == 0:
        return math.nan
    return float(np.corrcoef(ra, rb)[0, 1])


def lds_scatter(predicted, actual, *, target=None, max_targets=6, ax=None):
    """Predicted (additive attribution) vs actual (retrained) outputs, one point per subset.

    The linear datamodeling score (LDS) is the rank correlation of the two over subsets, averaged
    over targets; the title gives it for the targets drawn.

    Parameters
    ----------
    predicted : array_like of shape (n_subsets,) or (n_subsets, n_targets)
        Additive predictions ``sum_{i in S} score_i`` (``attrib.metrics.additive_prediction``).
    actual : array_like, the same shape
        The retrained model's outputs on each subset.
    target : int, optional
        Draw this target only (2-D input); default the first ``max_targets`` targets, in colours.
    max_targets : int, default 6
        At most this many targets drawn when ``target`` is None.
    ax : matplotlib.axes.Axes, optional
        Where to draw.

    Returns
    -------
    matplotlib.axes.Axes

    Raises
    ------
    ValueError
        The shapes differ, or ``target`` is out of range.
    ImportError
        matplotlib is not installed.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np, attrib.plot
    >>> ax = attrib.plot.lds_scatter(np.arange(10.0), np.arange(10.0) ** 2)
    >>> ax.get_title()
    'Spearman 1.00 over 10 subsets'
    """
    P = np.asarray(predicted, dtype=np.float64)
    A = np.asarray(actual, dtype=np.float64)
    if P.shape != A.shape or P.ndim not in (1, 2):
        raise ValueError(f"predicted (shape {P.shape}) and actual (shape {A.shape}) must have one shape, 1-D or 2-D")
    if P.ndim == 1:
        P, A = P[:, None], A[:, None]
    cols = range(P.shape[1])
    if target is not None:
        if not 0 <= int(target) < P.shape[1]:
            raise ValueError(f"target {target} is out of range for {P.shape[1]} targets")
        cols = range(int(target), int(target) + 1)
    else:
        cols = range(min(P.shape[1], int(max_targets)))
    ax = _axes(ax)
    rhos = []
    for j in cols:
        ok = np.isfinite(P[:, j]) & np.isfinite(A[:, j])
        rho = _spearman(P[ok, j], A[ok, j])
        rhos.append(rho)
        many = len(cols) > 1
        ax.scatter(
            P[ok, j], A[ok, j], s=10, alpha=0.6, color=f"C{j % 10}", label=f"target {j}: {rho:.2f}" if many else None
        )
    ax.set_xlabel("predicted (sum of the scores of the subset)")
    ax.set_ylabel("actual (retrained model)")
    mean = float(np.nanmean(rhos)) if np.isfinite(rhos).any() else math.nan
    if len(rhos) > 1:
        ax.legend(frameon=False, fontsize=8)
        ax.set_title(f"LDS {mean:.2f} (mean Spearman over {len(rhos)} targets, {P.shape[0]} subsets)")
    else:
        ax.set_title(f"Spearman {mean:.2f} over {P.shape[0]} subsets")
    return ax


def convergence(result, *, points=None, n_points=5, kind="values", ax=None):
    """A Monte Carlo estimate as samples accumulate (``ShapleyResult.history``).

    ``kind="values"``: the running estimate of a few points, each with a band of +-1 standard
    error. The history keeps the estimates and the largest standard error of each snapshot, not
    every point's; a point's band is its final standard error scaled to the snapshot's number of
    samples (a standard error shrinks as 1/sqrt(samples)). ``kind="stderr"``: the largest standard error against the
    samples (log-log), with the 1/sqrt(samples) slope and the target.

    Parameters
    ----------
    result : ShapleyResult
        From :func:`attrib.data_shapley` (a result with a non-empty ``history``).
    points : sequence of int, optional
        Training points to draw (default: the ``n_points`` largest |values|).
    n_points : int, default 5
        How many points by default.
    kind : {"values", "stderr"}, default "values"
        What to draw.
    ax : matplotlib.axes.Axes, optional
        Where to draw.

    Returns
    -------
    matplotlib.axes.Axes

    Raises
    ------
    ValueError
        The result has no history (e.g. KNN-Shapley, which is exact), an unknown ``kind``, or a
        point out of range.
    ImportError
        matplotlib is not installed.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np, attrib, attrib.plot
    >>> w = np.arange(6.0)
    >>> r = attrib.data_shapley(6, utility=lambda i: float(w[i].sum() + len(i) ** 1.5), max_permutations=200,
    ...                         block_size=8, progress=False)
    >>> ax = attrib.plot.convergence(r, points=[0, 5])
    >>> len(ax.lines) >= 2
    True
    """
    hist = getattr(result, "history", None) or {}
    ns = np.asarray(hist.get("n_samples", []), dtype=np.float64)
    if ns.size == 0:
        raise ValueError("this result has no Monte Carlo history to plot (exact methods have none)")
    se_max = np.asarray(hist["max_stderr"], dtype=np.float64)
    V = np.asarray(hist["values"], dtype=np.float64)
    ax = _axes(ax)
    if kind == "stderr":
        ok = np.isfinite(se_max) & (se_max > 0)
        ax.loglog(ns[ok], se_max[ok], marker="o", ms=3, label="largest standard error")
        if ok.any():
            j = int(np.flatnonzero(ok)[-1])
            ref = se_max[j] * np.sqrt(ns[j] / ns[ok])
            ax.loglog(ns[ok], ref, color="0.5", ls=":", lw=1, label="1/sqrt(samples)")
        target = getattr(result, "target_stderr", None)
        if target:
            ax.axhline(target, color="C3", ls="--", lw=1, label=f"target {target:.3g}")
        ax.set_xlabel("samples")
        ax.set_ylabel("standard error")
        ax.legend(frameon=False)
        return ax
    if kind != "values":
        raise ValueError(f"kind must be 'values' or 'stderr', got {kind!r}")
    final = np.asarray(result.values, dtype=np.float64)
    if points is None:
        key = np.where(np.isfinite(final), -np.abs(final), np.inf)
        points = np.argsort(key, kind="stable")[: min(int(n_points), final.size)]
    pts = [int(p) for p in points]
    for p in pts:
        if not 0 <= p < final.size:
            raise ValueError(f"point {p} is out of range for {final.size} training points")
    se_final = np.asarray(result.stderr, dtype=np.float64)
    n_final = ns[-1]
    for j, p in enumerate(pts):
        color = f"C{j % 10}"
        ax.plot(ns, V[:, p], color=color, lw=1.2, label=f"point {p}")
        if np.isfinite(se_final[p]):
            band = se_final[p] * np.sqrt(n_final / ns)
            ax.fill_between(ns, V[:, p] - band, V[:, p] + band, color=color, alpha=0.2, lw=0)
    ax.set_xlabel("samples")
    ax.set_ylabel("estimate")
    ax.set_title(getattr(result, "method", ""))
    ax.legend(frameon=False, fontsize=8)
    return ax
