// Shared by the binding files only: each registers one kernel family on the module.
#pragma once

#include <pybind11/pybind11.h>

namespace attrib_bindings {

/// Options structs accept their fields by name, Options(model=..., l2=...), through the bound
/// fields, so an unknown name is an AttributeError and a wrong type a TypeError.
template <class T>
T from_kwargs(const pybind11::kwargs& fields) {
  T o;
  const pybind11::object view = pybind11::cast(&o, pybind11::return_value_policy::reference);
  for (const auto& kv : fields) pybind11::setattr(view, kv.first, kv.second);
  return o;
}

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
