// Philox4x32-10 (Salmon et al., SC 2011) on plain 32-bit words, usable from host and device code
// (nvcc sees __host__ __device__; a C++ compiler sees a plain inline function). random.hpp wraps
// it for the CPU streams and the projection entries (projection_entries.hpp) call it directly,
// so CPU and GPU draw the same bits from the same counters.
#pragma once

#include <cstdint>

#if defined(__CUDACC__)
#define ATTRIB_HD __host__ __device__
#else
#define ATTRIB_HD
#endif

namespace attrib {

/// One Philox4x32-10 block in place: ctr (128 bits) becomes 128 random bits under key (64 bits).
ATTRIB_HD inline void philox4x32_10_inplace(std::uint32_t ctr[4], std::uint32_t key0, std::uint32_t key1) {
  const std::uint32_t kMul0 = 0xD2511F53u, kMul1 = 0xCD9E8D57u;
  const std::uint32_t kWeyl0 = 0x9E3779B9u, kWeyl1 = 0xBB67AE85u;
  for (int round = 0; round < 10; ++round) {
    if (round > 0) {
      key0 += kWeyl0;
      key1 += kWeyl1;
    }
    const std::uint64_t p0 = static_cast<std::uint64_t>(kMul0) * ctr[0];
    const std::uint64_t p1 = static_cast<std::uint64_t>(kMul1) * ctr[2];
    const auto hi0 = static_cast<std::uint32_t>(p0 >> 32), lo0 = static_cast<std::uint32_t>(p0);
    const auto hi1 = static_cast<std::uint32_t>(p1 >> 32), lo1 = static_cast<std::uint32_t>(p1);
    const std::uint32_t c1 = ctr[1], c3 = ctr[3];
    ctr[0] = hi1 ^ c1 ^ key0;
    ctr[1] = lo1;
    ctr[2] = hi0 ^ c3 ^ key1;
    ctr[3] = lo0;
  }
}

}  // namespace attrib
