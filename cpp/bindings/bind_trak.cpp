// TRAK kernels: Gram matrix, Cholesky factor, solves and tiled scores. Features arrive as
// C-contiguous float32 and everything else as float64 (the facade converts once); noconvert()
// turns any hidden copy into a TypeError instead.
#include <pybind11/eigen.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include "attrib/trak.hpp"
#include "bindings.hpp"

namespace py = pybind11;
using namespace pybind11::literals;
using attrib::RowMatrixXd;
using attrib::RowMatrixXf;
using CRef = Eigen::Ref<const RowMatrixXd>;
using FRef = Eigen::Ref<const RowMatrixXf>;
using VRef = Eigen::Ref<const Eigen::VectorXd>;
using MRef = Eigen::Ref<RowMatrixXd>;
using IRef = Eigen::Ref<attrib::RowMatrixXi64>;

namespace attrib_bindings {

void register_trak(py::module_& m) {
  py::class_<attrib::TrakFactor>(m, "TrakFactor", py::module_local(),
                                 "A Cholesky-factored TRAK kernel (private; see attrib.TRAK).")
      .def_readonly("chol", &attrib::TrakFactor::chol)
      .def_readonly("rcond", &attrib::TrakFactor::rcond)
      .def_readonly("norm1", &attrib::TrakFactor::norm1)
      .def_readonly("ok", &attrib::TrakFactor::ok);
  m.attr("TRAK_ROW_TILE") = attrib::kTrakRowTile;

  // Every kernel releases the GIL once its arguments are converted (see bind_glm.cpp).
  m.def(
      "trak_gram",
      [](const FRef& Phi, const VRef& w, MRef G, int n_threads) {
        py::gil_scoped_release nogil;
        attrib::trak_gram(Phi, w, G, n_threads);
      },
      "Phi"_a.noconvert(), "w"_a.noconvert(), "G"_a.noconvert(), "n_threads"_a);
  m.def(
      "trak_gram_f32",
      [](const FRef& Phi, const VRef& w, MRef G, int n_threads) {
        py::gil_scoped_release nogil;
        attrib::trak_gram_f32(Phi, w, G, n_threads);
      },
      "Phi"_a.noconvert(), "w"_a.noconvert(), "G"_a.noconvert(), "n_threads"_a);
  m.def(
      "trak_factor",
      [](const CRef& G, double lambda) {
        py::gil_scoped_release nogil;
        return attrib::trak_factor(G, lambda);
      },
      "G"_a.noconvert(), "lambda_"_a);
  m.def(
      "trak_solve",
      [](const CRef& chol, const FRef& Phi_test, int n_threads) {
        py::gil_scoped_release nogil;
        return attrib::trak_solve(chol, Phi_test, n_threads);
      },
      "chol"_a.noconvert(), "Phi_test"_a.noconvert(), "n_threads"_a);
  m.def(
      "trak_score_rows",
      [](const FRef& Phi, const VRef& s, const CRef& Y, MRef out, bool accumulate, int n_threads) {
        py::gil_scoped_release nogil;
        attrib::trak_score_rows(Phi, s, Y, out, accumulate, n_threads);
      },
      "Phi"_a.noconvert(), "s"_a.noconvert(), "Y"_a.noconvert(), "out"_a.noconvert(), "accumulate"_a,
      "n_threads"_a);
  m.def(
      "trak_score_rows_f32",
      [](const FRef& Phi, const VRef& s, const FRef& Y32, MRef out, bool accumulate, int n_threads) {
        py::gil_scoped_release nogil;
        attrib::trak_score_rows_f32(Phi, s, Y32, out, accumulate, n_threads);
      },
      "Phi"_a.noconvert(), "s"_a.noconvert(), "Y32"_a.noconvert(), "out"_a.noconvert(), "accumulate"_a,
      "n_threads"_a);
  m.def(
      "trak_quad",
      [](const FRef& Phi, const CRef& chol, int n_threads) {
        py::gil_scoped_release nogil;
        return attrib::trak_quad(Phi, chol, n_threads);
      },
      "Phi"_a.noconvert(), "chol"_a.noconvert(), "n_threads"_a);
  m.def(
      "trak_topk_update",
      [](const CRef& tile, std::int64_t r0, MRef hi_val, IRef hi_idx, MRef lo_val, IRef lo_idx, int n_threads) {
        py::gil_scoped_release nogil;
        attrib::trak_topk_update(tile, r0, hi_val, hi_idx, lo_val, lo_idx, n_threads);
      },
      "tile"_a.noconvert(), "r0"_a, "hi_val"_a.noconvert(), "hi_idx"_a.noconvert(), "lo_val"_a.noconvert(),
      "lo_idx"_a.noconvert(), "n_threads"_a);
}

}  // namespace attrib_bindings
