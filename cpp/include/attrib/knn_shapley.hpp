// Exact KNN-Shapley: the closed-form Shapley values of the K-nearest-neighbour utility (Jia et al.,
// PVLDB 2019) and of its soft-label variant (Wang & Jia 2023), one O(N log N) sort and one O(N)
// backward recursion per test point. Test points are streamed: no n_test x n matrix is formed.
#pragma once

#include "attrib/common.hpp"

#include <cstdint>

namespace attrib {

/// Integer class labels (codes 0..C-1, assigned by the facade).
using LabelVector = Eigen::Matrix<std::int64_t, Eigen::Dynamic, 1>;

/// Shapley values of every training point, averaged over the test points.
///
/// Neighbours are ranked by squared Euclidean distance, ties broken by the lower training index.
/// Hard label: U(S) = (1/K) sum over the min(K, |S|) nearest points of S of 1[y = y_test], so
/// U(empty) = 0. Soft label: U(S) = (1/min(K, |S|)) times the same sum, U(empty) = 1/n_classes.
/// K > N is valid and exact (the published base case assumes K <= N). Bitwise identical for any
/// n_threads: test points are summed in fixed chunks, chunks added in order.
Eigen::VectorXd knn_shapley(const Eigen::Ref<const RowMatrixXd>& X, const Eigen::Ref<const LabelVector>& y,
                            const Eigen::Ref<const RowMatrixXd>& X_test, const Eigen::Ref<const LabelVector>& y_test,
                            std::int64_t k, bool soft_label, std::int64_t n_classes, int n_threads);

/// Test points per accumulation chunk for n training points: it depends on n only, so a test
/// set split into calls of whole chunks sums in the same order as one call.
Index knn_test_chunk(Index n);

/// The building block of knn_shapley for a caller that drives the test points in blocks: adds to
/// `acc` (length n) the per-test-point Shapley values summed over the rows of X_test (not yet
/// divided by the number of test points). Rows are cut into chunks of `chunk` test points; each
/// chunk is summed into its own length-n row (chunks in parallel), and the rows are added to
/// `acc` in chunk order. So consecutive calls on slices whose lengths are multiples of `chunk`
/// give the same bits as one call, for any n_threads. `x_sq` holds the squared row norms of X:
/// points are ranked by x_sq - 2 x.t, so the caller centres and scales X and X_test first.
void knn_shapley_accumulate(const Eigen::Ref<const RowMatrixXd>& X, const Eigen::Ref<const Eigen::VectorXd>& x_sq,
                            const Eigen::Ref<const LabelVector>& y, const Eigen::Ref<const RowMatrixXd>& X_test,
                            const Eigen::Ref<const LabelVector>& y_test, std::int64_t k, bool soft_label,
                            std::int64_t n_classes, Index chunk, int n_threads, Eigen::Ref<Eigen::VectorXd> acc);

}  // namespace attrib
