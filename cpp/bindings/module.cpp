// The private extension module. The same file builds _core (baseline x86-64) and _core_avx2
// (x86-64-v3); attrib/_dispatch.py picks one at import. Bindings only convert, release the GIL
// and call: validation with user-facing messages lives in the Python facade.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "attrib/common.hpp"
#include "attrib/cpu.hpp"
#include "bindings.hpp"

namespace py = pybind11;

PYBIND11_MODULE(ATTRIB_MODULE_NAME, m) {
  m.doc() = "Private kernels of attrib. Import attrib, not this module.";
  m.attr("_openmp") = attrib::built_with_openmp();
  m.attr("_isa") = attrib::compiled_isa();
  // Numbers the facade needs, read from here so that Python never keeps a copy that can drift.
  m.attr("LEVERAGE_ONE_TOL") = attrib::kLeverageOneTol;
  m.def("max_threads", &attrib::max_threads, "The most threads a kernel starts; larger requests are capped.");
  m.def("cpu_supports_x86_64_v3", &attrib::cpu_supports_x86_64_v3,
        "True when this CPU can run the x86-64-v3 (AVX2 + FMA) build.");
  m.def("default_num_threads", [] { return attrib::resolve_threads(0); },
        "Threads a kernel uses when not told: the OpenMP default (OMP_NUM_THREADS, threadpoolctl).");
  attrib_bindings::register_smw(m);
  attrib_bindings::register_linear(m);
  attrib_bindings::register_glm(m);
  attrib_bindings::register_shapley(m);
  attrib_bindings::register_projection(m);
}
