// Shared by the binding files only: each registers one kernel family on the module.
#pragma once

#include <pybind11/pybind11.h>

namespace attrib_bindings {
void register_linear(pybind11::module_& m);
void register_glm(pybind11::module_& m);
void register_glm_multinomial(pybind11::module_& m);
void register_smw(pybind11::module_& m);
void register_shapley(pybind11::module_& m);
void register_trak(pybind11::module_& m);
void register_metrics(pybind11::module_& m);
void register_datamodels(pybind11::module_& m);
void register_projection(pybind11::module_& m);
}  // namespace attrib_bindings
