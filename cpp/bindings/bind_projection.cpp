// Random projection kernels. The batch arrives as float32 or float64 row-major, possibly a column
// slice of a wider array (outer stride), without a copy; the output is the caller's C-contiguous
// accumulator of the same dtype. noconvert() turns any hidden copy into a TypeError.
#include <pybind11/eigen.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "attrib/projection.hpp"
#include "bindings.hpp"

namespace py = pybind11;
using namespace pybind11::literals;

namespace attrib_bindings {

namespace {

template <class T>
void bind_accumulate(py::module_& m, const char* name) {
  // G is taken as a raw array and mapped with its own row stride: pybind11's Eigen::Ref caster
  // would copy a column slice of a wider batch, which is exactly what layer-by-layer callers pass.
  m.def(
      name,
      [](const attrib::ProjectionSpec& spec, const py::array_t<T, 0>& G, std::int64_t feature_offset,
         Eigen::Ref<attrib::RowMatrix<T>> Y, int n_threads) {
        const auto item = static_cast<py::ssize_t>(sizeof(T));
        // A single row's row stride is meaningless (numpy may report 0 for it).
        const bool one_row = G.ndim() == 2 && G.shape(0) <= 1;
        if (G.ndim() != 2 || (G.strides(1) != item && G.shape(1) > 1) ||
            (!one_row && (G.strides(0) % item != 0 || G.strides(0) < G.shape(1) * item)))
          throw std::invalid_argument("projection: G must be 2-D, row-major, with unit column stride");
        const py::ssize_t ld = one_row ? G.shape(1) : G.strides(0) / item;
        const Eigen::Map<const attrib::RowMatrix<T>, 0, Eigen::OuterStride<>> view(G.data(), G.shape(0), G.shape(1),
                                                                                    Eigen::OuterStride<>(ld));
        // The GIL is released once the arguments are converted: the views stay valid because the
        // caller's arrays are alive for the whole call, and no Python object is touched inside.
        py::gil_scoped_release nogil;
        attrib::projection_accumulate<T>(spec, view, feature_offset, Y, n_threads);
      },
      "spec"_a, "G"_a.noconvert(), "feature_offset"_a, "Y"_a.noconvert(), "n_threads"_a,
      "Y += G S, S the unscaled rows feature_offset.. of P (multiply Y by projection_scale afterwards).");
}

template <class T>
void bind_matrix(py::module_& m, const char* name) {
  m.def(
      name,
      [](const attrib::ProjectionSpec& spec, const std::vector<std::int64_t>& rows,
         const std::vector<std::int64_t>& cols, int n_threads) {
        py::gil_scoped_release nogil;
        return attrib::projection_matrix<T>(spec, rows, cols, n_threads);
      },
      "spec"_a, "rows"_a, "cols"_a, "n_threads"_a, "The scaled entries P[rows][:, cols] (rows = input features).");
}

}  // namespace

void register_projection(py::module_& m) {
  // module_local: _core and _core_avx2 may both be loaded, each with its own types.
  py::enum_<attrib::ProjectionKind>(m, "ProjectionKind", py::module_local(), "How the entries of P are drawn.")
      .value("rademacher", attrib::ProjectionKind::rademacher)
      .value("gaussian", attrib::ProjectionKind::gaussian)
      .value("sparse", attrib::ProjectionKind::sparse);
  py::class_<attrib::ProjectionSpec>(m, "ProjectionSpec", py::module_local(),
                                     "Everything that determines a projection matrix.")
      .def(py::init([](attrib::ProjectionKind kind, std::uint64_t seed, std::uint32_t model_id,
                       std::int64_t n_features, std::int64_t dim, std::int64_t nnz) {
             attrib::ProjectionSpec s;
             s.kind = kind;
             s.seed = seed;
             s.model_id = model_id;
             s.n_features = n_features;
             s.dim = dim;
             s.nnz = nnz;
             attrib::check_projection_spec(s);
             return s;
           }),
           "kind"_a, "seed"_a, "model_id"_a, "n_features"_a, "dim"_a, "nnz"_a)
      .def_readonly("kind", &attrib::ProjectionSpec::kind)
      .def_readonly("seed", &attrib::ProjectionSpec::seed)
      .def_readonly("model_id", &attrib::ProjectionSpec::model_id)
      .def_readonly("n_features", &attrib::ProjectionSpec::n_features)
      .def_readonly("dim", &attrib::ProjectionSpec::dim)
      .def_readonly("nnz", &attrib::ProjectionSpec::nnz);
  m.attr("PROJECTION_FEATURE_TILE") = attrib::kProjectionFeatureTile;
  m.def("projection_scale", &attrib::projection_scale, "spec"_a,
        "The factor applied after accumulation: 1/sqrt(dim), or 1/sqrt(nnz) for sparse.");
  bind_accumulate<float>(m, "projection_accumulate_f32");
  bind_accumulate<double>(m, "projection_accumulate_f64");
  bind_matrix<float>(m, "projection_matrix_f32");
  bind_matrix<double>(m, "projection_matrix_f64");
}

}  // namespace attrib_bindings
