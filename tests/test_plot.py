"""attrib.plot: each function draws what it is given (checked on the artists), returns the Axes it
drew into, accepts ax=, and renders to PNG with the Agg backend."""

from __future__ import annotations

import doctest
import io

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import attrib

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import attrib.plot  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def knn():
    d = attrib.datasets.load_breast_cancer()
    return attrib.knn_shapley(d.X[:300], d.y[:300], d.X[300:400], d.y[300:400]), d


@pytest.fixture(scope="module")
def mc():
    w = np.arange(8.0)
    return attrib.data_shapley(
        8, utility=lambda i: float(w[i].sum() + np.sqrt(len(i))), max_permutations=160, block_size=16, progress=False
    )


def png_bytes(ax) -> bytes:
    buf = io.BytesIO()
    ax.figure.savefig(buf, format="png", dpi=40)
    data = buf.getvalue()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 500
    return data


def test_value_distribution_counts_every_finite_point(knn):
    res, d = knn
    fig, ax = plt.subplots()
    assert attrib.plot.value_distribution(res, ax=ax) is ax
    heights = sum(p.get_height() for p in ax.patches)
    assert heights == 300
    png_bytes(ax)


def test_value_distribution_groups_and_nan():
    s = np.array([0.1, 0.2, np.nan, -0.3, 0.5, 0.4])
    g = np.array(["a", "b", "a", "a", "b", "b"])
    ax = attrib.plot.value_distribution(s, groups=g, bins=4)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a (2)", "b (3)"]
    assert sum(p.get_height() for p in ax.patches) == 5
    assert "1 not finite" in ax.get_title()
    with pytest.raises(ValueError, match="groups has shape"):
        attrib.plot.value_distribution(s, groups=g[:3])
    with pytest.raises(ValueError, match="no finite score"):
        attrib.plot.value_distribution(np.full(3, np.nan))
    png_bytes(ax)


def test_value_distribution_by_attribute():
    d = attrib.datasets.load_breast_cancer()
    r = attrib.linear_loo(d.X, d.y, alpha=1.0)
    ax = attrib.plot.value_distribution(r, by="hat", log=True)
    assert ax.get_xlabel() == "hat" and ax.get_yscale() == "log"


def test_top_points_bar_chart_order(knn):
    res, _ = knn
    ax = attrib.plot.top_points(res, k=4, largest=False)
    idx = res.top(4, largest=False)
    # Bars from the top of the chart down: the smallest value first.
    bars = sorted(ax.patches, key=lambda p: -p.get_y())
    assert_allclose([b.get_width() for b in bars], res.values[idx])
    ticks = sorted(zip(ax.get_yticks(), (t.get_text() for t in ax.get_yticklabels())), key=lambda t: -t[0])
    labels = [text for _, text in ticks]
    assert labels == [f"row {i}" for i in idx]
    png_bytes(ax)


def test_top_points_images_tile_the_rows():
    rng = np.random.default_rng(0)
    X = rng.random((20, 12))
    s = rng.normal(size=20)
    fig, ax = plt.subplots()
    out = attrib.plot.top_points(s, X, k=3, image_shape=(3, 4), labels=np.arange(20) % 2, ax=ax)
    assert out is ax
    img = ax.get_images()[0].get_array()
    assert img.shape == (3, 3 * 4 + 2 * 1)  # three 3x4 tiles, one blank column between
    first = X[int(np.argmax(s))].reshape(3, 4)
    assert_allclose(img[:, :4], (first - first.min()) / (first.max() - first.min()))
    assert len(ax.get_xticklabels()) == 3
    png_bytes(ax)
    with pytest.raises(ValueError, match="image_shape"):
        attrib.plot.top_points(s, X, image_shape=(5, 5))
    with pytest.raises(ValueError, match="needs X"):
        attrib.plot.top_points(s, image_shape=(3, 4))
    with pytest.raises(ValueError, match="k must be"):
        attrib.plot.top_points(s, k=0)


def test_removal_curve_arrays_and_duck_typed_result():
    ax = attrib.plot.removal_curve([0.0, 0.2, 0.4], [0.9, 0.8, 0.6], label="attrib", chance=0.5)
    line = ax.get_lines()[0]
    assert_array_equal(line.get_xdata(), [0.0, 0.2, 0.4]) and line.get_label() == "attrib"

    class Curve:  # attrib.metrics.removal_curve's result: .fractions, .scores (or .score), .order
        fractions = np.array([0.0, 0.5])
        score = np.array([0.7, 0.4])
        order = "high"

    attrib.plot.removal_curve(Curve(), ax=ax)
    assert_array_equal(ax.get_lines()[-1].get_ydata(), [0.7, 0.4])
    assert ax.get_lines()[-1].get_label() == "remove highest first"
    png_bytes(ax)
    with pytest.raises(ValueError, match="equal 1-D"):
        attrib.plot.removal_curve([0.0, 0.1], [0.9])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        attrib.plot.removal_curve([0.0, 2.0], [0.9, 0.8])
    with pytest.raises(TypeError, match="fractions"):
        attrib.plot.removal_curve([0.0, 0.1])


def test_lds_scatter_spearman_matches_scipy():
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(1)
    P = rng.normal(size=(50, 3))
    A = P + rng.normal(size=(50, 3))
    A[:5, 0] = A[0, 0]  # ties
    ax = attrib.plot.lds_scatter(P, A)
    rho = [stats.spearmanr(P[:, j], A[:, j])[0] for j in range(3)]
    assert f"LDS {np.mean(rho):.2f}" in ax.get_title()
    assert len(ax.collections) == 3
    one = attrib.plot.lds_scatter(P, A, target=0)
    assert one.get_title() == f"Spearman {rho[0]:.2f} over 50 subsets"
    assert_allclose(attrib.plot._spearman(P[:, 0], A[:, 0]), rho[0], rtol=1e-12)
    png_bytes(ax)
    with pytest.raises(ValueError, match="one shape"):
        attrib.plot.lds_scatter(P, A[:, :2])
    with pytest.raises(ValueError, match="out of range"):
        attrib.plot.lds_scatter(P, A, target=3)


def test_convergence_draws_the_history(mc):
    ax = attrib.plot.convergence(mc, points=[1, 7])
    lines = ax.get_lines()
    assert_array_equal(lines[0].get_xdata(), mc.history["n_samples"])
    assert_array_equal(lines[1].get_ydata(), mc.history["values"][:, 7])
    assert_allclose(lines[1].get_ydata()[-1], mc.values[7])
    assert len(ax.collections) == 2  # one standard-error band per point
    # The band at the last snapshot is the final standard error.
    band = ax.collections[1].get_paths()[0].vertices
    last = band[band[:, 0] == mc.history["n_samples"][-1], 1]
    assert_allclose(last.max() - mc.values[7], mc.stderr[7], rtol=1e-9, atol=1e-12)
    png_bytes(ax)


def test_convergence_stderr_panel(mc):
    ax = attrib.plot.convergence(mc, kind="stderr")
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert_allclose(ax.get_lines()[0].get_ydata(), mc.history["max_stderr"][np.isfinite(mc.history["max_stderr"])])
    png_bytes(ax)


def test_convergence_refuses_exact_results_and_bad_arguments(knn, mc):
    with pytest.raises(ValueError, match="no Monte Carlo history"):
        attrib.plot.convergence(knn[0])
    with pytest.raises(ValueError, match="kind"):
        attrib.plot.convergence(mc, kind="nope")
    with pytest.raises(ValueError, match="out of range"):
        attrib.plot.convergence(mc, points=[99])


def test_functions_make_their_own_axes_and_docstrings_run():
    ax = attrib.plot.value_distribution(np.arange(5.0))
    assert ax.figure is not None
    failed, tried = doctest.testmod(attrib.plot, optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS)
    assert failed == 0 and tried > 5


def test_clear_error_without_matplotlib(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match=r"attrib\[plot\]"):
        attrib.plot.value_distribution(np.arange(3.0))
