// The private extension module. The same file builds _core (baseline x86-64) and _core_avx2
// (x86-64-v3); attrib/_dispatch.py picks one at import. Bindings only convert, release the GIL
// and call: validation with user-facing messages lives in the Python facade.
#include <pybind11/pybind11.h>
#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "attrib/common.hpp"
#include "attrib/cpu.hpp"
#include "attrib/fingerprint.hpp"
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
  m.def(
      "fingerprint",
      [](const py::array& a, int n_threads) {
        if (!(a.flags() & py::array::c_style))
          throw std::invalid_argument("fingerprint: the array must be C-contiguous");
        const auto* bytes = static_cast<const unsigned char*>(a.data());
        const std::size_t nbytes = static_cast<std::size_t>(a.nbytes()), n_words = nbytes / 8;
        attrib::Fingerprint f;
        {
          py::gil_scoped_release release;
          std::vector<std::uint64_t> copy;  // only for a misaligned view
          const std::uint64_t* words = reinterpret_cast<const std::uint64_t*>(bytes);
          if (reinterpret_cast<std::uintptr_t>(bytes) % alignof(std::uint64_t) != 0) {
            copy.resize(n_words);
            if (n_words) std::memcpy(copy.data(), bytes, n_words * 8);
            words = copy.data();
          }
          std::uint64_t tail = 0;  // the bytes past the last whole word
          std::memcpy(&tail, bytes + n_words * 8, nbytes % 8);
          f = attrib::fingerprint_words(words, n_words, n_threads, tail, nbytes);
        }
        return py::make_tuple(f.lo, f.hi);
      },
      py::arg("a"), py::arg("n_threads") = 0,
      "128-bit checksum (two ints) of a C-contiguous array's bytes, the same for any thread count: "
      "the in-place edit check of results that read their training data again.");
  attrib_bindings::register_smw(m);
  attrib_bindings::register_linear(m);
  attrib_bindings::register_glm(m);
  attrib_bindings::register_glm_multinomial(m);
  attrib_bindings::register_shapley(m);
  attrib_bindings::register_trak(m);
  attrib_bindings::register_metrics(m);
  attrib_bindings::register_datamodels(m);
  attrib_bindings::register_projection(m);
}
