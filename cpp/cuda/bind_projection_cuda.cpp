// The private CUDA extension attrib._cuda: plain C++ (no nvcc), linked with the static library
// built from projection.cu and with the static CUDA runtime, so importing it needs no libcudart
// and works on a machine without a GPU (device_count() then reports 0 and the reason).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "projection_cuda.hpp"

namespace py = pybind11;
using namespace pybind11::literals;

namespace {

attrib::cuda::Spec make_spec(int kind, std::uint64_t seed, std::uint32_t model_id, std::int64_t n_features,
                             std::int64_t dim, std::int64_t nnz) {
  attrib::cuda::Spec s;
  s.kind = kind;
  s.seed = seed;
  s.model_id = model_id;
  s.n_features = n_features;
  s.dim = dim;
  s.nnz = nnz;
  return s;
}

template <class T>
py::array_t<T> project_host(const attrib::cuda::Spec& s, const py::array_t<T, 0>& G, std::int64_t offset) {
  if (G.ndim() != 2) throw std::invalid_argument("G must be 2-D");
  const auto item = static_cast<py::ssize_t>(sizeof(T));
  const bool one_row = G.shape(0) <= 1;  // a single row's row stride is meaningless
  if ((G.strides(1) != item && G.shape(1) > 1) ||
      (!one_row && (G.strides(0) < G.shape(1) * item || G.strides(0) % item != 0)))
    throw std::invalid_argument("G must be row-major with unit column stride");
  const std::int64_t B = G.shape(0), p = G.shape(1), ld = one_row ? G.shape(1) : G.strides(0) / item;
  py::array_t<T> Y({static_cast<py::ssize_t>(B), static_cast<py::ssize_t>(s.dim)});
  const T* g = G.data();
  T* y = Y.mutable_data();
  {
    py::gil_scoped_release nogil;  // no Python object is touched while the GPU works
    attrib::cuda::project(s, g, sizeof(T) == 8, B, p, ld, offset, y, true);
  }
  return Y;
}

template <class T>
py::array_t<T> matrix(const attrib::cuda::Spec& s, const std::vector<std::int64_t>& rows,
                      const std::vector<std::int64_t>& cols) {
  py::array_t<T> out({static_cast<py::ssize_t>(rows.size()), static_cast<py::ssize_t>(cols.size())});
  T* o = out.mutable_data();
  {
    py::gil_scoped_release nogil;
    attrib::cuda::matrix(s, rows, cols, sizeof(T) == 8, o);
  }
  return out;
}

}  // namespace

PYBIND11_MODULE(_cuda, m) {
  m.doc() = "Private CUDA projection kernel of attrib. Use attrib.Projector(..., device='cuda').";
  m.def("device_count", [] {
    std::string why;
    const int n = attrib::cuda::device_count(why);
    return py::make_tuple(n, why);
  });
  py::class_<attrib::cuda::Spec>(m, "Spec", py::module_local())
      .def(py::init(&make_spec), "kind"_a, "seed"_a, "model_id"_a, "n_features"_a, "dim"_a, "nnz"_a);
  // Device pointers from __cuda_array_interface__; the caller keeps both arrays alive.
  m.def(
      "project_device",
      [](const attrib::cuda::Spec& s, std::uintptr_t G, bool f64, std::int64_t B, std::int64_t p, std::int64_t ld,
         std::int64_t offset, std::uintptr_t Y) {
        py::gil_scoped_release nogil;
        attrib::cuda::project(s, reinterpret_cast<const void*>(G), f64, B, p, ld, offset, reinterpret_cast<void*>(Y),
                              false);
      },
      "spec"_a, "G"_a, "f64"_a, "B"_a, "p"_a, "ld"_a, "offset"_a, "Y"_a);
  m.def("project_host_f32", &project_host<float>, "spec"_a, "G"_a.noconvert(), "offset"_a);
  m.def("project_host_f64", &project_host<double>, "spec"_a, "G"_a.noconvert(), "offset"_a);
  m.def("matrix_f32", &matrix<float>, "spec"_a, "rows"_a, "cols"_a);
  m.def("matrix_f64", &matrix<double>, "spec"_a, "rows"_a, "cols"_a);
}
