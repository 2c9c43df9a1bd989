#include "attrib/random.hpp"

#include <stdexcept>
#include <utility>

namespace attrib {

void random_permutation(std::uint64_t seed, std::uint64_t id, bool antithetic, std::int64_t* out, std::int64_t n) {
  if (n < 0 || n > static_cast<std::int64_t>(UINT32_MAX)) throw std::invalid_argument("random_permutation: bad n");
  const bool reverse = antithetic && (id & 1u);
  CounterRng rng(seed, RandomStream::kPermutation, antithetic ? (id & ~std::uint64_t{1}) : id);
  for (std::int64_t i = 0; i < n; ++i) out[i] = i;
  for (std::int64_t i = n - 1; i > 0; --i) {
    const std::int64_t j = rng.bounded(static_cast<std::uint32_t>(i + 1));
    std::swap(out[i], out[j]);
  }
  if (reverse)
    for (std::int64_t i = 0, j = n - 1; i < j; ++i, --j) std::swap(out[i], out[j]);
}

void random_subset(std::uint64_t seed, std::uint64_t id, std::uint8_t* out, std::int64_t n) {
  CounterRng rng(seed, RandomStream::kSubset, id);
  for (std::int64_t i = 0; i < n; i += 32) {
    std::uint32_t bits = rng.next_u32();
    for (std::int64_t b = i; b < n && b < i + 32; ++b, bits >>= 1) out[b] = static_cast<std::uint8_t>(bits & 1u);
  }
}

}  // namespace attrib
