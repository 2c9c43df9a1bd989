// The additive prediction of packed subset masks, the Linear Datamodeling Score, column-wise
// correlation, average ranks and the bootstrap over targets (see metrics.hpp).
#include "attrib/metrics.hpp"

#include "attrib/random.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

namespace attrib {

namespace {

constexpr Index kTile = kLdsTargetTile;
/// Training points per nibble table, and entries per table.
constexpr Index kNibble = 4;
constexpr Index kEntries = 16;
/// Training points per block of tables: 32 tables of 16 x 32 doubles, 128 KiB, stay in L2
/// while every subset of the block reads them.
constexpr Index kRowBlock = 128;
constexpr Index kGroups = kRowBlock / kNibble;

static_assert(kRowBlock % 8 == 0, "a block of tables must start on a mask byte");

const double kNaN = std::numeric_limits<double>::quiet_NaN();

// Table rows are added as whole SIMD packets of the build's width (SSE2: 2 doubles, AVX2: 4),
// through Eigen's packet primitives, so the accumulators of a tile stay in registers and no
// compiler heuristic turns the lookups into gathers. Each column is still added on its own,
// so the sums do not depend on the packet width.
using Packet = Eigen::internal::packet_traits<double>::type;
constexpr Index kPacket = Eigen::internal::packet_traits<double>::size;
constexpr Index kPackets = kTile / kPacket;
static_assert(kTile % kPacket == 0, "a tile must be whole packets");

/// dst = src + row, one tile.
inline void add_rows(double* dst, const double* src, const double* row) {
  for (Index k = 0; k < kPackets; ++k)
    Eigen::internal::pstoreu(dst + k * kPacket, Eigen::internal::padd(Eigen::internal::ploadu<Packet>(src + k * kPacket),
                                                                      Eigen::internal::ploadu<Packet>(row + k * kPacket)));
}

/// The 16 subset sums of each run of 4 training points in [r0, r0 + kRowBlock), for the targets
/// [t0, t0 + width) padded with zeros to kTile. Entry e of run g sums the rows whose bit is set
/// in e, adding them in increasing bit order (entry e + 2^b = entry e + row b, e < 2^b); rows at
/// or beyond n count as zero, so a mask's padding bits add nothing.
void build_tables(const Eigen::Ref<const RowMatrixXd>& scores, Index n, Index r0, Index t0, Index width,
                  double* tables) {
  const Index rows = std::min(kRowBlock, n - r0);
  const Index groups = (rows + kNibble - 1) / kNibble;
  alignas(64) double padded[kTile];
  alignas(64) static constexpr double kZeros[kTile] = {};
  for (Index g = 0; g < groups; ++g) {
    double* table = tables + g * kEntries * kTile;
    for (Index c = 0; c < kTile; ++c) table[c] = 0.0;
    for (Index b = 0; b < kNibble; ++b) {
      const Index i = r0 + g * kNibble + b;
      const double* row = kZeros;
      if (i < n) {
        row = scores.data() + i * scores.outerStride() + t0;
        if (width < kTile) {
          for (Index c = 0; c < kTile; ++c) padded[c] = c < width ? row[c] : 0.0;
          row = padded;
        }
      }
      const Index half = Index{1} << b;
      for (Index e = 0; e < half; ++e) add_rows(table + (half + e) * kTile, table + e * kTile, row);
    }
  }
}

/// Predictions of subsets [s0, s1) for the targets [t0, t0 + width): subset s's go to out + s *
/// ld, one per target. Each subset adds one table row per nibble of its mask, in nibble order,
/// block by block: the order depends on n only.
void predict_tile(const Eigen::Ref<const PackedMasks>& masks, Index n, const Eigen::Ref<const RowMatrixXd>& scores,
                  Index t0, Index width, Index s0, Index s1, double* out, Index ld) {
  using Eigen::internal::padd;
  using Eigen::internal::ploadu;
  std::vector<double> tables(static_cast<std::size_t>(kGroups * kEntries * kTile));
  std::vector<double> sums(static_cast<std::size_t>((s1 - s0) * kTile), 0.0);
  for (Index r0 = 0; r0 < n; r0 += kRowBlock) {
    build_tables(scores, n, r0, t0, width, tables.data());
    const Index groups = (std::min(kRowBlock, n - r0) + kNibble - 1) / kNibble;
    const Index full_bytes = groups / 2;  // bytes whose two nibbles are both in range
    const double* tab = tables.data();
    for (Index s = s0; s < s1; ++s) {
      const std::uint8_t* bytes = masks.data() + s * masks.outerStride() + r0 / 8;
      Packet acc[kPackets];
      for (Index k = 0; k < kPackets; ++k) acc[k] = Eigen::internal::pset1<Packet>(0.0);
      for (Index j = 0; j < full_bytes; ++j) {
        const unsigned byte = bytes[j];
        const double* lo = tab + (2 * j * kEntries + (byte & 15u)) * kTile;
        const double* hi = tab + ((2 * j + 1) * kEntries + (byte >> 4)) * kTile;
        for (Index k = 0; k < kPackets; ++k) acc[k] = padd(acc[k], ploadu<Packet>(lo + k * kPacket));
        for (Index k = 0; k < kPackets; ++k) acc[k] = padd(acc[k], ploadu<Packet>(hi + k * kPacket));
      }
      if (groups & 1) {  // the last nibble of a block that ends inside a byte
        const double* lo = tab + (2 * full_bytes * kEntries + (bytes[full_bytes] & 15u)) * kTile;
        for (Index k = 0; k < kPackets; ++k) acc[k] = padd(acc[k], ploadu<Packet>(lo + k * kPacket));
      }
      double* dst = sums.data() + (s - s0) * kTile;
      for (Index k = 0; k < kPackets; ++k)
        Eigen::internal::pstoreu(dst + k * kPacket, padd(ploadu<Packet>(dst + k * kPacket), acc[k]));
    }
  }
  for (Index s = s0; s < s1; ++s)
    for (Index c = 0; c < width; ++c) out[s * ld + c] = sums[static_cast<std::size_t>((s - s0) * kTile + c)];
}

void check_masks(const Eigen::Ref<const PackedMasks>& masks, Index n_train, const Eigen::Ref<const RowMatrixXd>& scores,
                 Index t_begin, Index t_end, const char* who) {
  if (n_train < 1) throw std::invalid_argument(std::string(who) + ": n_train must be >= 1");
  if (masks.cols() != packed_row_bytes(n_train))
    throw std::invalid_argument(std::string(who) + ": masks must have ceil(n_train / 8) bytes per row");
  if (scores.rows() != n_train) throw std::invalid_argument(std::string(who) + ": scores must have n_train rows");
  if (t_begin < 0 || t_begin > t_end || t_end > scores.cols())
    throw std::invalid_argument(std::string(who) + ": target range out of bounds");
}

/// Pearson's r of a[0..m) and b[0..m), summed in order; NaN when either is constant.
double pearson(const double* a, const double* b, Index m) {
  double ma = 0.0, mb = 0.0;
  for (Index i = 0; i < m; ++i) {
    ma += a[i];
    mb += b[i];
  }
  ma /= static_cast<double>(m);
  mb /= static_cast<double>(m);
  double sab = 0.0, saa = 0.0, sbb = 0.0;
  for (Index i = 0; i < m; ++i) {
    const double da = a[i] - ma, db = b[i] - mb;
    sab += da * db;
    saa += da * da;
    sbb += db * db;
  }
  if (!(saa > 0.0) || !(sbb > 0.0)) return kNaN;
  const double r = sab / std::sqrt(saa * sbb);
  return std::max(-1.0, std::min(1.0, r));
}

bool all_finite(const double* x, Index m, Index stride) {
  for (Index i = 0; i < m; ++i)
    if (!std::isfinite(x[i * stride])) return false;
  return true;
}

/// Spearman's rho of two strided columns of length m, with scratch buffers; NaN when either is
/// constant or not finite.
double spearman(const double* a, Index stride_a, const double* b, Index stride_b, Index m, std::vector<double>& ra,
                std::vector<double>& rb, std::vector<RankItem>& order) {
  if (!all_finite(a, m, stride_a) || !all_finite(b, m, stride_b)) return kNaN;
  ra.resize(static_cast<std::size_t>(m));
  rb.resize(static_cast<std::size_t>(m));
  average_ranks(a, m, stride_a, ra.data(), order);
  average_ranks(b, m, stride_b, rb.data(), order);
  return pearson(ra.data(), rb.data(), m);
}

}  // namespace

void average_ranks(const double* x, Index m, Index stride, double* ranks, std::vector<RankItem>& order) {
  // (value, index) pairs sorted as one key: no indirect loads in the comparisons, and the index
  // makes the order total (finite values only, so no NaN can break it).
  order.resize(static_cast<std::size_t>(m));
  for (Index i = 0; i < m; ++i) order[static_cast<std::size_t>(i)] = {x[i * stride], i};
  std::sort(order.begin(), order.end());
  for (Index i = 0; i < m;) {
    Index j = i + 1;
    const double v = order[static_cast<std::size_t>(i)].first;
    while (j < m && order[static_cast<std::size_t>(j)].first == v) ++j;
    // positions i .. j-1 (0-based) share the ranks i+1 .. j: their mean, an exact half-integer
    const double r = 0.5 * static_cast<double>(i + 1 + j);
    for (Index k = i; k < j; ++k) ranks[order[static_cast<std::size_t>(k)].second] = r;
    i = j;
  }
}

RowMatrixXd subset_predictions(const Eigen::Ref<const PackedMasks>& masks, Index n_train,
                               const Eigen::Ref<const RowMatrixXd>& scores, Index t_begin, Index t_end,
                               int n_threads) {
  check_masks(masks, n_train, scores, t_begin, t_end, "subset_predictions");
  const Index m = masks.rows(), width = t_end - t_begin;
  RowMatrixXd out(m, width);
  if (m == 0 || width == 0) return out;
  const Index n_tiles = (width + kTile - 1) / kTile;
  const Index n_sblocks = (m + kLdsSubsetBlock - 1) / kLdsSubsetBlock;
  parallel_for(n_tiles * n_sblocks, n_threads, [&](Index task) {
    const Index tile = task / n_sblocks, sb = task % n_sblocks;
    const Index t0 = t_begin + tile * kTile;
    const Index s0 = sb * kLdsSubsetBlock;
    predict_tile(masks, n_train, scores, t0, std::min(kTile, t_end - t0), s0, std::min(m, s0 + kLdsSubsetBlock),
                 out.data() + (t0 - t_begin), width);
  });
  return out;
}

Eigen::VectorXd lds_targets(const Eigen::Ref<const PackedMasks>& masks, Index n_train,
                            const Eigen::Ref<const RowMatrixXd>& scores, const Eigen::Ref<const RowMatrixXd>& outputs,
                            Index t_begin, Index t_end, int n_threads) {
  check_masks(masks, n_train, scores, t_begin, t_end, "lds_targets");
  if (outputs.rows() != masks.rows() || outputs.cols() != scores.cols())
    throw std::invalid_argument("lds_targets: outputs must be (number of masks) x (columns of scores)");
  const Index m = masks.rows(), width = t_end - t_begin;
  Eigen::VectorXd rho(width);
  if (width == 0) return rho;
  const Index n_tiles = (width + kTile - 1) / kTile;
  if (n_tiles < resolve_threads(n_threads)) {
    // Few tiles: predict in parallel over blocks of subsets too, then rank (the same sums).
    const RowMatrixXd pred = subset_predictions(masks, n_train, scores, t_begin, t_end, n_threads);
    parallel_for(n_tiles, n_threads, [&](Index tile) {
      std::vector<double> ra, rb;
      std::vector<RankItem> order;
      const Index c0 = tile * kTile, c1 = std::min(width, c0 + kTile);
      for (Index c = c0; c < c1; ++c)
        rho[c] = m < 2 ? kNaN
                       : spearman(pred.data() + c, pred.outerStride(), outputs.data() + (t_begin + c),
                                  outputs.outerStride(), m, ra, rb, order);
    });
    return rho;
  }
  // One task per tile: its predictions and outputs stay in a local m x kTile block (no m x T
  // matrix, and the ranking reads cached rows instead of striding through the outputs).
  parallel_for(n_tiles, n_threads, [&](Index tile) {
    const Index t0 = t_begin + tile * kTile, w = std::min(kTile, t_end - t0);
    std::vector<double> pred(static_cast<std::size_t>(m * kTile)), out(static_cast<std::size_t>(m * kTile));
    for (Index s0 = 0; s0 < m; s0 += kLdsSubsetBlock)
      predict_tile(masks, n_train, scores, t0, w, s0, std::min(m, s0 + kLdsSubsetBlock), pred.data(), kTile);
    for (Index s = 0; s < m; ++s)
      for (Index c = 0; c < w; ++c) out[static_cast<std::size_t>(s * kTile + c)] = outputs(s, t0 + c);
    std::vector<double> ra, rb;
    std::vector<RankItem> order;
    for (Index c = 0; c < w; ++c)
      rho[t0 - t_begin + c] =
          m < 2 ? kNaN : spearman(pred.data() + c, kTile, out.data() + c, kTile, m, ra, rb, order);
  });
  return rho;
}

Eigen::VectorXd column_correlation(const Eigen::Ref<const RowMatrixXd>& A, const Eigen::Ref<const RowMatrixXd>& B,
                                   CorrelationKind kind, int n_threads) {
  if (A.rows() != B.rows() || A.cols() != B.cols())
    throw std::invalid_argument("column_correlation: the two matrices must have the same shape");
  const Index n = A.rows(), cols = A.cols();
  Eigen::VectorXd r(cols);
  const Index n_tiles = (cols + kTile - 1) / kTile;
  parallel_for(n_tiles, n_threads, [&](Index tile) {
    std::vector<double> a, b;
    std::vector<RankItem> order;
    const Index c0 = tile * kTile, c1 = std::min(cols, c0 + kTile);
    for (Index c = c0; c < c1; ++c) {
      const double* pa = A.data() + c;
      const double* pb = B.data() + c;
      if (n < 2 || !all_finite(pa, n, A.outerStride()) || !all_finite(pb, n, B.outerStride())) {
        r[c] = kNaN;
      } else if (kind == CorrelationKind::kSpearman) {
        r[c] = spearman(pa, A.outerStride(), pb, B.outerStride(), n, a, b, order);
      } else {
        a.resize(static_cast<std::size_t>(n));
        b.resize(static_cast<std::size_t>(n));
        for (Index i = 0; i < n; ++i) {
          a[static_cast<std::size_t>(i)] = pa[i * A.outerStride()];
          b[static_cast<std::size_t>(i)] = pb[i * B.outerStride()];
        }
        r[c] = pearson(a.data(), b.data(), n);
      }
    }
  });
  return r;
}

Eigen::VectorXd bootstrap_means(const Eigen::Ref<const Eigen::VectorXd>& values, Index n_resamples,
                                std::uint64_t seed, int n_threads) {
  const Index k = values.size();
  if (k < 1) throw std::invalid_argument("bootstrap_means: no values");
  if (k > static_cast<Index>(UINT32_MAX)) throw std::invalid_argument("bootstrap_means: too many values");
  if (n_resamples < 0) throw std::invalid_argument("bootstrap_means: negative number of resamples");
  Eigen::VectorXd means(n_resamples);
  const auto bound = static_cast<std::uint32_t>(k);
  parallel_for(
      n_resamples, n_threads,
      [&](Index b) {
        CounterRng rng(seed, RandomStream::kBootstrap, static_cast<std::uint64_t>(b));
        double sum = 0.0;
        for (Index j = 0; j < k; ++j) sum += values[rng.bounded(bound)];
        means[b] = sum / static_cast<double>(k);
      },
      n_resamples * k > 4096);
  return means;
}

}  // namespace attrib
