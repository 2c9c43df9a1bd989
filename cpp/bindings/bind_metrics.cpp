// Metrics: additive predictions of packed subset masks, the Linear Datamodeling Score,
// column-wise correlation and the bootstrap over targets. Arrays arrive as C-contiguous float64
// (masks: uint8, packed) from the facade; noconvert() turns any hidden copy into a TypeError.
#include <pybind11/eigen.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include "attrib/metrics.hpp"
#include "bindings.hpp"

namespace py = pybind11;
using namespace pybind11::literals;
using attrib::RowMatrixXd;
using CRef = Eigen::Ref<const RowMatrixXd>;
using VRef = Eigen::Ref<const Eigen::VectorXd>;
using MRef = Eigen::Ref<const attrib::PackedMasks>;

namespace attrib_bindings {

void register_metrics(py::module_& m) {
  using attrib::CorrelationKind;
  py::enum_<CorrelationKind>(m, "CorrelationKind", py::module_local(), "Pearson or Spearman (ties averaged).")
      .value("pearson", CorrelationKind::kPearson)
      .value("spearman", CorrelationKind::kSpearman);
  m.attr("LDS_TARGET_TILE") = attrib::kLdsTargetTile;

  m.def(
      "subset_predictions",
      [](const MRef& masks, attrib::Index n_train, const CRef& scores, attrib::Index t_begin, attrib::Index t_end,
         int n_threads) {
        py::gil_scoped_release nogil;
        return attrib::subset_predictions(masks, n_train, scores, t_begin, t_end, n_threads);
      },
      "masks"_a.noconvert(), "n_train"_a, "scores"_a.noconvert(), "t_begin"_a, "t_end"_a, "n_threads"_a,
      "Additive predictions masks @ scores[:, t_begin:t_end] from packed masks.");

  m.def(
      "lds_targets",
      [](const MRef& masks, attrib::Index n_train, const CRef& scores, const CRef& outputs, attrib::Index t_begin,
         attrib::Index t_end, int n_threads) {
        py::gil_scoped_release nogil;
        return attrib::lds_targets(masks, n_train, scores, outputs, t_begin, t_end, n_threads);
      },
      "masks"_a.noconvert(), "n_train"_a, "scores"_a.noconvert(), "outputs"_a.noconvert(), "t_begin"_a, "t_end"_a,
      "n_threads"_a, "Per-target Spearman of the additive prediction with the outputs (NaN where undefined).");

  m.def(
      "column_correlation",
      [](const CRef& A, const CRef& B, CorrelationKind kind, int n_threads) {
        py::gil_scoped_release nogil;
        return attrib::column_correlation(A, B, kind, n_threads);
      },
      "A"_a.noconvert(), "B"_a.noconvert(), "kind"_a, "n_threads"_a,
      "Correlation of each column of A with the same column of B (NaN where undefined).");

  m.def(
      "bootstrap_means",
      [](const VRef& values, attrib::Index n_resamples, std::uint64_t seed, int n_threads) {
        py::gil_scoped_release nogil;
        return attrib::bootstrap_means(values, n_resamples, seed, n_threads);
      },
      "values"_a.noconvert(), "n_resamples"_a, "seed"_a, "n_threads"_a,
      "Means of bootstrap resamples of values, resample b drawn from the stream (seed, b).");
}

}  // namespace attrib_bindings
