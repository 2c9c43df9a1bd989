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

}  // namespace attrib
