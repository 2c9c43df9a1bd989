// What the running CPU supports, so Python can import the fastest build of the core it can run.
#pragma once

#include <string>

namespace attrib {

/// True when the CPU (and the OS, for the AVX register state) supports x86-64-v3:
/// AVX, AVX2, FMA, F16C, BMI1/2, LZCNT, MOVBE. Always false off x86-64.
bool cpu_supports_x86_64_v3();

/// The instruction-set level this module was compiled for, e.g. "x86-64-v3" or "baseline".
std::string compiled_isa();

}  // namespace attrib
