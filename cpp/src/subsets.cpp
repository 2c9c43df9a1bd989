// Datamodel subset samplers (see datamodels.hpp for the exact definition of every bit).
#include "attrib/datamodels.hpp"
#include "attrib/random.hpp"

#include <cmath>
#include <cstring>
#include <stdexcept>
#include <utility>

namespace attrib {

Index fixed_subset_size(Index n, double alpha) {
  const double k = std::floor(alpha * static_cast<double>(n) + 0.5);
  return std::clamp<Index>(static_cast<Index>(k), 0, n);
}

void draw_subset(std::uint64_t seed, std::uint64_t id, SubsetSampler sampler, double alpha, Index n,
                 std::uint8_t* out) {
  if (n < 0 || n >= (Index(1) << 32)) throw std::invalid_argument("draw_subset: n must be in [0, 2^32)");
  if (!(alpha > 0.0 && alpha < 1.0)) throw std::invalid_argument("draw_subset: alpha must be in (0, 1)");
  const Index nb = packed_bytes(n);
  std::memset(out, 0, static_cast<std::size_t>(nb));
  if (sampler == SubsetSampler::bernoulli) {
    CounterRng rng(seed, RandomStream::kDatamodelBernoulli, id);
    const double threshold = std::ldexp(alpha, 53);  // exact: a power-of-two scaling
    for (Index i = 0; i < n; ++i) {
      const std::uint64_t hi = rng.next_u32(), lo = rng.next_u32();
      const std::uint64_t u = ((hi << 32) | lo) >> 11;
      if (static_cast<double>(u) < threshold) out[i >> 3] |= static_cast<std::uint8_t>(1u << (i & 7));
    }
    return;
  }
  const Index k = fixed_subset_size(n, alpha);
  const bool complement = k > n - k;
  const Index pick = complement ? n - k : k;
  CounterRng rng(seed, RandomStream::kDatamodelFixed, id);
  std::vector<std::uint32_t> idx(static_cast<std::size_t>(n));
  for (Index i = 0; i < n; ++i) idx[i] = static_cast<std::uint32_t>(i);
  std::vector<std::uint8_t> picked(static_cast<std::size_t>(nb), 0);
  for (Index i = 0; i < pick; ++i) {
    const Index j = i + rng.bounded(static_cast<std::uint32_t>(n - i));
    std::swap(idx[i], idx[j]);
    const std::uint32_t p = idx[i];
    picked[p >> 3] |= static_cast<std::uint8_t>(1u << (p & 7));
  }
  if (!complement) {
    std::memcpy(out, picked.data(), static_cast<std::size_t>(nb));
    return;
  }
  for (Index b = 0; b < nb; ++b) out[b] = static_cast<std::uint8_t>(~picked[b]);
  if (n % 8) out[nb - 1] &= static_cast<std::uint8_t>((1u << (n % 8)) - 1u);  // padding bits stay zero
}

ByteRowMatrix draw_subsets(std::uint64_t seed, std::uint64_t first_id, Index count, SubsetSampler sampler,
                           double alpha, Index n, int n_threads) {
  if (count < 0) throw std::invalid_argument("draw_subsets: count must be >= 0");
  ByteRowMatrix out(count, packed_bytes(n));
  if (count == 0 || n == 0) {
    out.setZero();
    return out;
  }
  parallel_for(
      count, n_threads,
      [&](Index s) { draw_subset(seed, first_id + static_cast<std::uint64_t>(s), sampler, alpha, n, out.row(s).data()); },
      count * n > 65536);
  return out;
}

}  // namespace attrib
