// Shared by the binding files only: each registers one kernel family on the module.
#pragma once

#include <pybind11/pybind11.h>

namespace attrib_bindings {
void register_linear(pybind11::module_& m);
void register_glm(pybind11::module_& m);
void register_smw(pybind11::module_& m);
void register_shapley(pybind11::module_& m);
void register_projection(pybind11::module_& m);
}  // namespace attrib_bindings
