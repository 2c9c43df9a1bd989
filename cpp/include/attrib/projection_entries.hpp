// The entries of attrib's random projection matrices, as pure functions of (seed, model_id, row,
// column). Shared by the CPU kernel (projection.cpp) and the CUDA kernel (cpp/cuda/projection.cu):
// both compile this header, so every device, thread count, tile shape and chunking of the feature
// axis sees the same matrix, entry for entry.
//
// Layout of one Philox4x32-10 call (philox.hpp): key = the 64-bit seed; counter =
//   (word, stream, row bits 0-31, row bits 32-47 | model_id << 16)
// where `stream` is the kind's RandomStream tag (random.hpp), so the projection streams never
// overlap the permutation/subset streams, nor each other, and (seed, model_id) pairs never alias
// (no arithmetic seed offsets). Rows (input features) are 48-bit (p < 2.8e14), model ids 16-bit.
//
//   rademacher: word w holds the 128 signs of columns 128w .. 128w+127; column j uses bit j % 32
//               of 32-bit output word (j % 128) / 32; a set bit is -1, a clear bit +1.
//   gaussian:   word w holds columns 4w .. 4w+3 as two Box-Muller pairs from the output words
//               (u0, u1) and (u2, u3): r = sqrt(-2 log((u0 + 0.5) 2^-32)), t = 2 pi u1 2^-32,
//               columns 4w, 4w+1 = r cos t, r sin t (likewise for u2, u3), computed in double.
//   sparse:     row i has `nnz` nonzeros, one in each of nnz blocks [t dim / nnz, (t+1) dim / nnz)
//               of the columns (t = 0 .. nnz-1, so they are distinct); word w = t / 4, output word
//               u = t % 4: column = block start + (((u >> 1) * block size) >> 31), sign = -1 if
//               u & 1. Value +-1 before scaling.
// Every kind is scaled afterwards, so that E |P^T g|^2 = |g|^2 (a JL embedding):
// 1/sqrt(dim) for rademacher and gaussian, 1/sqrt(nnz) for sparse.
#pragma once

#include <cmath>
#include <cstdint>

#include "attrib/philox.hpp"

namespace attrib {
namespace proj {

/// Stream tags, equal to RandomStream::kProjection* in random.hpp (kept as plain numbers here so
/// that device code needs nothing else from that header).
constexpr std::uint32_t kStreamRademacher = 5, kStreamGaussian = 6, kStreamSparse = 7;

/// The largest row (input feature) index + 1 the counter layout holds: 2^48.
constexpr std::uint64_t kMaxRows = std::uint64_t{1} << 48;
/// The largest model_id + 1: 2^16.
constexpr std::uint32_t kMaxModels = 1u << 16;

/// 128 random bits for (seed, stream, model_id, row, word).
ATTRIB_HD inline void entry_block(std::uint64_t seed, std::uint32_t stream, std::uint32_t model_id,
                                  std::uint64_t row, std::uint32_t word, std::uint32_t out[4]) {
  out[0] = word;
  out[1] = stream;
  out[2] = static_cast<std::uint32_t>(row);
  out[3] = static_cast<std::uint32_t>((row >> 32) & 0xFFFFu) | (model_id << 16);
  philox4x32_10_inplace(out, static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32));
}

/// The sign bit (1 = negative) of Rademacher column j within the 128 bits of its word j / 128.
ATTRIB_HD inline std::uint32_t rademacher_bit(const std::uint32_t bits[4], std::uint64_t j) {
  return (bits[(j & 127u) >> 5] >> (j & 31u)) & 1u;
}

/// One Rademacher entry, +1 or -1 (unscaled).
ATTRIB_HD inline int rademacher_entry(std::uint64_t seed, std::uint32_t model_id, std::uint64_t row,
                                      std::uint64_t col) {
  std::uint32_t bits[4];
  entry_block(seed, kStreamRademacher, model_id, row, static_cast<std::uint32_t>(col >> 7), bits);
  return rademacher_bit(bits, col) ? -1 : 1;
}

/// The four standard-normal values of columns 4w .. 4w+3 (unscaled), computed in double.
ATTRIB_HD inline void gaussian_quad(std::uint64_t seed, std::uint32_t model_id, std::uint64_t row,
                                    std::uint32_t word, double out[4]) {
  std::uint32_t u[4];
  entry_block(seed, kStreamGaussian, model_id, row, word, u);
  const double kTwoNeg32 = 2.3283064365386963e-10;  // 2^-32
  const double kTwoPi = 6.283185307179586;          // 2 * pi rounded to double
  for (int k = 0; k < 2; ++k) {
    // (u + 0.5) 2^-32 is exact and lies in (0, 1): the logarithm is always finite.
    const double u1 = (static_cast<double>(u[2 * k]) + 0.5) * kTwoNeg32;
    const double t = kTwoPi * (static_cast<double>(u[2 * k + 1]) * kTwoNeg32);
    const double r = std::sqrt(-2.0 * std::log(u1));
    out[2 * k] = r * std::cos(t);
    out[2 * k + 1] = r * std::sin(t);
  }
}

/// One Gaussian entry (unscaled).
ATTRIB_HD inline double gaussian_entry(std::uint64_t seed, std::uint32_t model_id, std::uint64_t row,
                                       std::uint64_t col) {
  double q[4];
  gaussian_quad(seed, model_id, row, static_cast<std::uint32_t>(col >> 2), q);
  return q[col & 3u];
}

/// The column of a sparse nonzero drawn from output word u inside its block [lo, lo + width).
ATTRIB_HD inline std::uint64_t sparse_column(std::uint32_t u, std::uint64_t lo, std::uint64_t width) {
  return lo + ((static_cast<std::uint64_t>(u >> 1) * width) >> 31);
}

/// Nonzero t of sparse row `row`: its column and its sign (+1 or -1, unscaled). Needs
/// 1 <= nnz <= dim < 2^31.
ATTRIB_HD inline void sparse_nonzero(const std::uint32_t words[4], std::uint32_t t, std::uint64_t dim,
                                     std::uint32_t nnz, std::uint64_t* col, int* sign) {
  const std::uint32_t u = words[t & 3u];
  const std::uint64_t lo = dim * t / nnz, hi = dim * (t + 1) / nnz;
  *col = sparse_column(u, lo, hi - lo);
  *sign = (u & 1u) ? -1 : 1;
}

/// All nnz nonzeros of one sparse row: columns into cols[0..nnz), signs into signs[0..nnz).
template <class Col, class Sign>
ATTRIB_HD inline void sparse_row(std::uint64_t seed, std::uint32_t model_id, std::uint64_t row, std::uint64_t dim,
                                 std::uint32_t nnz, Col* cols, Sign* signs) {
  std::uint32_t words[4];
  for (std::uint32_t t = 0; t < nnz; ++t) {
    if ((t & 3u) == 0) entry_block(seed, kStreamSparse, model_id, row, t >> 2, words);
    std::uint64_t c;
    int s;
    sparse_nonzero(words, t, dim, nnz, &c, &s);
    cols[t] = static_cast<Col>(c);
    signs[t] = static_cast<Sign>(s);
  }
}

}  // namespace proj
}  // namespace attrib
