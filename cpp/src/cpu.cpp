#include "attrib/cpu.hpp"

namespace attrib {

bool cpu_supports_x86_64_v3() {
#if (defined(__x86_64__) || defined(_M_X64)) && (defined(__GNUC__) || defined(__clang__))
  // GCC's and Clang's cpuid helpers also check that the OS saves the AVX state (XGETBV).
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx") && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
         __builtin_cpu_supports("bmi") && __builtin_cpu_supports("bmi2") && __builtin_cpu_supports("f16c") &&
         __builtin_cpu_supports("popcnt");
#else
  return false;
#endif
}

std::string compiled_isa() {
#if defined(__AVX512F__)
  return "x86-64-v4";
#elif defined(__AVX2__) && defined(__FMA__)
  return "x86-64-v3";
#else
  return "baseline";
#endif
}

}  // namespace attrib
