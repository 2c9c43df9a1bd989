// Checksum behind the facade's in-place edit check (see fingerprint.hpp). Memory-bound: about one
// pass over the array at memory speed, a few percent of any kernel that reads the array once.
#include "attrib/fingerprint.hpp"

#include "attrib/common.hpp"

#include <algorithm>
#include <vector>

namespace attrib {

namespace {

constexpr std::size_t kChunkWords = std::size_t(1) << 16;  // fixed: never from the thread count
constexpr int kLanes = 8;                                   // independent sums, so the loop vectorises

std::uint64_t mix(std::uint64_t z) {  // splitmix64's finaliser
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

Fingerprint chunk_sums(const std::uint64_t* p, std::size_t m) {
  std::uint64_t a[kLanes] = {}, b[kLanes] = {};
  std::size_t i = 0;
  for (; i + kLanes <= m; i += kLanes)
    for (int l = 0; l < kLanes; ++l) {
      a[l] += p[i + l];
      b[l] += a[l];
    }
  Fingerprint f;
  for (int l = 0; l < kLanes; ++l) {
    f.lo = mix(f.lo ^ a[l]) + std::uint64_t(l);
    f.hi = mix(f.hi ^ b[l]) + std::uint64_t(l);
  }
  for (; i < m; ++i) {
    f.lo = mix(f.lo ^ p[i]);
    f.hi = mix(f.hi + f.lo);
  }
  return f;
}

}  // namespace

Fingerprint fingerprint_words(const std::uint64_t* data, std::size_t n_words, int n_threads) {
  const std::size_t n_chunks = std::max<std::size_t>(1, (n_words + kChunkWords - 1) / kChunkWords);
  std::vector<Fingerprint> parts(n_chunks);
  parallel_for(
      static_cast<Index>(n_chunks), n_threads,
      [&](Index c) {
        const std::size_t start = static_cast<std::size_t>(c) * kChunkWords;
        parts[c] = chunk_sums(data + start, std::min(kChunkWords, n_words - std::min(start, n_words)));
      },
      // Threads pay only past ~8 MB: below, one core reads at memory speed and waking a team costs
      // as much (80 MB: 2.9 ms on one thread, 2.1 ms on two; 3 MB: 0.1 ms serial, and up to 14 ms
      // with 2 threads on a loaded 2-core machine).
      n_words > (std::size_t(1) << 20));
  Fingerprint f{mix(n_words), mix(~n_words)};
  for (std::size_t c = 0; c < n_chunks; ++c) {  // chunk order: the same for any thread count
    f.lo = mix(f.lo ^ parts[c].lo) + c;
    f.hi = mix(f.hi ^ parts[c].hi) + c;
  }
  return f;
}

}  // namespace attrib
