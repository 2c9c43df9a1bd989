// Metrics that judge attributions against retraining: the additive prediction of bit-packed
// subset masks, per-target rank correlation (the Linear Datamodeling Score), column-wise
// correlation (leave-one-out agreement) and a seeded bootstrap over targets.
//
// Masks arrive bit-packed, m rows of ceil(n / 8) bytes, numpy's packbits(axis=1,
// bitorder="little") layout: bit k of byte b is training point 8 b + k. Bits beyond n (the
// padding of the last byte) are ignored. The prediction sum_{i in S} scores[i, t] is formed from
// nibble lookup tables (the "four Russians" trick): for each run of 4 training points the 16
// partial sums of their score rows are tabulated once and every subset adds one table row per
// nibble of its mask, about half the additions of a dense 0/1 product and never an m x n float
// matrix. Every prediction is summed in a fixed order that depends on n only, so results are
// bitwise the same for any thread count, any number of subsets and any block of targets.
#pragma once

#include "attrib/common.hpp"

#include <cstdint>
#include <utility>
#include <vector>

namespace attrib {

/// Bit-packed masks: one row of ceil(n / 8) bytes per subset.
using PackedMasks = Eigen::Matrix<std::uint8_t, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

/// Bytes per packed mask row for n training points.
inline Index packed_row_bytes(Index n) { return (n + 7) / 8; }

/// Which correlation a column-wise comparison computes.
enum class CorrelationKind {
  kPearson,   ///< Pearson's r of the values
  kSpearman,  ///< Pearson's r of the ranks, ties given their average rank (scipy's spearmanr)
};

/// Targets per prediction tile (the width of one table row), exposed so that a caller that splits
/// the targets into calls can use whole tiles (results do not depend on it either way).
constexpr Index kLdsTargetTile = 32;

/// Subsets per prediction task: the tables of a block of training points are built once per
/// this many subsets. The sums do not depend on it.
constexpr Index kLdsSubsetBlock = 256;

/// The additive prediction of every subset for targets [t_begin, t_end):
/// out(s, t - t_begin) = sum over the points i in subset s of scores(i, t). `masks` is m x
/// packed_row_bytes(n_train), scores n_train x T. Parallel over tiles of targets and blocks of
/// subsets; each entry is summed by one task in a fixed order, so the bits depend on n_train only.
RowMatrixXd subset_predictions(const Eigen::Ref<const PackedMasks>& masks, Index n_train,
                               const Eigen::Ref<const RowMatrixXd>& scores, Index t_begin, Index t_end,
                               int n_threads);

/// The Linear Datamodeling Score of targets [t_begin, t_end): for each target t, Spearman's rank
/// correlation (ties averaged) over the m subsets between the additive prediction (see
/// subset_predictions) and outputs(:, t). NaN where either side is constant over the subsets
/// (or a prediction is not finite). outputs is m x T.
Eigen::VectorXd lds_targets(const Eigen::Ref<const PackedMasks>& masks, Index n_train,
                            const Eigen::Ref<const RowMatrixXd>& scores, const Eigen::Ref<const RowMatrixXd>& outputs,
                            Index t_begin, Index t_end, int n_threads);

/// Correlation of column j of A with column j of B over the rows, for every column (A and B of
/// the same shape); NaN where a column is constant or holds a non-finite value.
Eigen::VectorXd column_correlation(const Eigen::Ref<const RowMatrixXd>& A, const Eigen::Ref<const RowMatrixXd>& B,
                                   CorrelationKind kind, int n_threads);

/// A value and its position, the sort key of average_ranks.
using RankItem = std::pair<double, Index>;

/// Ranks of x[0], x[stride], ..., x[(m - 1) stride], 1-based, ties given their average rank
/// (scipy.stats.rankdata(method="average")); `order` is scratch of any size. Values must be finite.
void average_ranks(const double* x, Index m, Index stride, double* ranks, std::vector<RankItem>& order);

/// Means of `n_resamples` bootstrap resamples of `values` (drawn with replacement, as many as
/// there are values): resample b draws its indices from the counter stream (seed, b), so each
/// mean is a pure function of (values, seed, b), whatever the thread count.
Eigen::VectorXd bootstrap_means(const Eigen::Ref<const Eigen::VectorXd>& values, Index n_resamples,
                                std::uint64_t seed, int n_threads);

}  // namespace attrib
