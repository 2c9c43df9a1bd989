// Outputs that the kernels fill in place, allocated by numpy (binding files only).
#pragma once

#include <pybind11/eigen.h>
#include <pybind11/numpy.h>

#include <cstddef>
#include <vector>

#include "attrib/common.hpp"

namespace attrib_bindings {

/// A C-ordered float64 array from numpy's allocator, which asks for huge pages on large blocks:
/// first-touch page faults of a malloc'd n x p output otherwise cost as much as filling it.
inline pybind11::array_t<double> numpy_matrix(attrib::Index rows, attrib::Index cols) {
  return pybind11::array_t<double>({static_cast<pybind11::ssize_t>(rows), static_cast<pybind11::ssize_t>(cols)});
}

/// A writable Eigen view of a C-ordered float64 numpy matrix (for use with the GIL released).
inline Eigen::Map<attrib::RowMatrixXd> view(pybind11::array_t<double>& a) {
  return Eigen::Map<attrib::RowMatrixXd>(a.mutable_data(), a.shape(0), a.shape(1));
}

/// A boolean numpy vector from 0/1 flags.
template <class T>
pybind11::array_t<bool> to_bool_array(const std::vector<T>& v) {
  pybind11::array_t<bool> out(static_cast<pybind11::ssize_t>(v.size()));
  auto o = out.mutable_unchecked<1>();
  for (std::size_t i = 0; i < v.size(); ++i) o(static_cast<pybind11::ssize_t>(i)) = v[i] != 0;
  return out;
}

}  // namespace attrib_bindings
