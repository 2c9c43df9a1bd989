// Checksum behind the facade's in-place edit check (see fingerprint.hpp). Memory-bound: about one
// pass over the array at memory speed; kernels that read the array anyway fold it into that pass.
#include "attrib/fingerprint.hpp"

#include "attrib/common.hpp"

#include <algorithm>
#include <cstring>
#include <vector>

namespace attrib {

namespace {

constexpr int kLanes = FingerprintSums::kLanes;
constexpr std::size_t kChunkWords = std::size_t(1) << 16;  // parallel work unit (any split gives the same sums)

std::uint64_t mix(std::uint64_t z) {  // splitmix64's finaliser
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// The words are read through memcpy: doubles are checksummed by their bits, at any alignment
// the caller's type allows, and the compiler still emits plain vector loads.
template <class T>
std::uint64_t word(const T* p, std::size_t i) {
  static_assert(sizeof(T) == 8, "64-bit words only");
  std::uint64_t w;
  std::memcpy(&w, p + i, 8);
  return w;
}

template <class T>
FingerprintSums sums_of(const T* p, std::size_t m, std::size_t start) {
  FingerprintSums s;
  s.start = start;
  s.n_words = m;
  std::size_t i = 0;
  const auto one = [&](std::size_t j) {
    const int l = static_cast<int>((start + j) % kLanes);
    s.a[l] += word(p, j);
    s.b[l] += s.a[l];
    ++s.count[l];
  };
  for (; i < m && (start + i) % kLanes != 0; ++i) one(i);  // up to the next lane-0 word
  std::uint64_t a[kLanes], b[kLanes];
  for (int l = 0; l < kLanes; ++l) a[l] = s.a[l], b[l] = s.b[l];
  std::uint64_t rounds = 0;
  for (; i + kLanes <= m; i += kLanes, ++rounds)
    for (int l = 0; l < kLanes; ++l) {
      a[l] += word(p, i + l);
      b[l] += a[l];
    }
  for (int l = 0; l < kLanes; ++l) s.a[l] = a[l], s.b[l] = b[l], s.count[l] += rounds;
  for (; i < m; ++i) one(i);
  return s;
}

}  // namespace

FingerprintSums FingerprintSums::of(const double* p, std::size_t m, std::size_t start) { return sums_of(p, m, start); }

void FingerprintSums::append(const FingerprintSums& next) {
  if (n_words == 0) {
    const std::size_t s = start;
    *this = next;
    if (next.n_words == 0) start = s;
    return;
  }
  // b sums, for each word, the number of words of its lane from it to the end: appending
  // count' more words to the lane adds count' times each earlier word, i.e. count' * a.
  for (int l = 0; l < kLanes; ++l) {
    b[l] += next.count[l] * a[l] + next.b[l];
    a[l] += next.a[l];
    count[l] += next.count[l];
  }
  n_words += next.n_words;
}

Fingerprint FingerprintSums::finish(std::uint64_t tail_bytes, std::size_t n_bytes) const {
  Fingerprint f{mix(n_words), mix(~n_words)};
  for (int l = 0; l < kLanes; ++l) {
    f.lo = mix(f.lo ^ a[l]) + std::uint64_t(l);
    f.hi = mix(f.hi ^ b[l]) + std::uint64_t(l);
  }
  f.hi ^= tail_bytes * 0x9e3779b97f4a7c15ULL;
  f.lo ^= n_bytes;
  return f;
}

Fingerprint fingerprint_words(const std::uint64_t* data, std::size_t n_words, int n_threads, std::uint64_t tail_bytes,
                              std::size_t n_bytes) {
  const std::size_t n_chunks = std::max<std::size_t>(1, (n_words + kChunkWords - 1) / kChunkWords);
  std::vector<FingerprintSums> parts(n_chunks);
  parallel_for(
      static_cast<Index>(n_chunks), n_threads,
      [&](Index c) {
        const std::size_t start = std::min(static_cast<std::size_t>(c) * kChunkWords, n_words);
        parts[c] = sums_of(data + start, std::min(kChunkWords, n_words - start), start);
      },
      // Threads pay only past ~8 MB: below, one core reads at memory speed and waking a team costs
      // as much (80 MB: 2.9 ms on one thread, 2.1 ms on two; 3 MB: 0.1 ms serial, and up to 14 ms
      // with 2 threads on a loaded 2-core machine).
      n_words > (std::size_t(1) << 20));
  FingerprintSums all;
  for (const auto& p : parts) all.append(p);  // in order (exact integers: any grouping agrees)
  return all.finish(tail_bytes, n_bytes);
}

}  // namespace attrib
