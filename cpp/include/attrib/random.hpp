// Counter-based randomness: every random draw in attrib is a pure function of (seed, stream,
// item id, position), so any thread, process or machine that handles item `id` draws the same
// numbers, whatever the thread count, block size or scheduling. Philox4x32-10 (Salmon et al.,
// SC 2011) is used as published, so its Random123 known-answer vectors check it.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "attrib/philox.hpp"

namespace attrib {

/// One Philox4x32-10 block: 128 random bits from a 128-bit counter and a 64-bit key (the rounds
/// live in philox.hpp, shared with the CUDA projection kernel).
inline std::array<std::uint32_t, 4> philox4x32_10(std::array<std::uint32_t, 4> ctr,
                                                  std::array<std::uint32_t, 2> key) {
  philox4x32_10_inplace(ctr.data(), key[0], key[1]);
  return ctr;
}

/// What a stream of draws is for. Part of the counter, so streams for different purposes never
/// overlap, whatever the ids (no arithmetic seed offsets that could collide).
enum class RandomStream : std::uint32_t {
  kPermutation = 1,  ///< Monte Carlo permutations (Shapley, Beta-Shapley)
  kSubset = 2,       ///< Bernoulli(1/2) subsets (Banzhaf / MSR)
  kDatamodelFixed = 3,        ///< datamodel subsets of a fixed size (datamodels.hpp)
  kDatamodelBernoulli = 4,    ///< datamodel Bernoulli(alpha) subsets (datamodels.hpp)
  kProjectionRademacher = 5,  ///< random-sign projection entries (projection_entries.hpp)
  kProjectionGaussian = 6,    ///< Gaussian projection entries
  kProjectionSparse = 7,      ///< sparse JL (CountSketch-style) rows
  kBootstrap = 16,            ///< bootstrap resamples of per-target metrics (attrib.metrics)
};

/// The sequence of 32-bit words for one (seed, stream, id): key = seed, counter =
/// (word block, stream, id low, id high). Deterministic, cheap to construct, never shared.
class CounterRng {
 public:
  /// Draws for item `id` of `stream` under `seed`.
  CounterRng(std::uint64_t seed, RandomStream stream, std::uint64_t id)
      : key_{static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32)},
        stream_(static_cast<std::uint32_t>(stream)),
        id_lo_(static_cast<std::uint32_t>(id)),
        id_hi_(static_cast<std::uint32_t>(id >> 32)) {}

  /// The next 32 random bits.
  std::uint32_t next_u32() {
    if (used_ == 4) {
      buffer_ = philox4x32_10({block_++, stream_, id_lo_, id_hi_}, key_);
      used_ = 0;
    }
    return buffer_[used_++];
  }

  /// Uniform integer in [0, bound), bound >= 1, without modulo bias (Lemire 2019: multiply, and
  /// reject the few low products that would favour small values).
  std::uint32_t bounded(std::uint32_t bound) {
    std::uint64_t m = static_cast<std::uint64_t>(next_u32()) * bound;
    auto low = static_cast<std::uint32_t>(m);
    if (low < bound) {
      const std::uint32_t threshold = static_cast<std::uint32_t>(-bound) % bound;
      while (low < threshold) {
        m = static_cast<std::uint64_t>(next_u32()) * bound;
        low = static_cast<std::uint32_t>(m);
      }
    }
    return static_cast<std::uint32_t>(m >> 32);
  }

 private:
  std::array<std::uint32_t, 2> key_;
  std::uint32_t stream_, id_lo_, id_hi_;
  std::uint32_t block_ = 0;
  std::array<std::uint32_t, 4> buffer_{};
  int used_ = 4;
};

/// Permutation `id` of 0..n-1 under `seed` (Fisher-Yates driven by the counter stream). With
/// `antithetic`, odd ids are the reverse of the preceding even id (Mitchell et al. 2022), so a
/// pair (2j, 2j+1) is one antithetic sample.
void random_permutation(std::uint64_t seed, std::uint64_t id, bool antithetic, std::int64_t* out, std::int64_t n);

/// Subset `id` under `seed`: each of the n points independently included with probability 1/2
/// (one random bit per point), written as 0/1 bytes.
void random_subset(std::uint64_t seed, std::uint64_t id, std::uint8_t* out, std::int64_t n);

}  // namespace attrib
