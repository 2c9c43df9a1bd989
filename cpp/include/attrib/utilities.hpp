// Utilities computed incrementally along a permutation: adding a training point to the current
// subset updates the model instead of refitting it, so a whole permutation costs about one fit.
// Each utility is a model fitted on a subset S of the training data and scored on a test set.
#pragma once

#include "attrib/common.hpp"

#include <cstdint>
#include <memory>
#include <string>

namespace attrib {

/// Which model a built-in utility fits, and how it is scored on the test set.
enum class UtilityModel { kRidge = 0, kLogistic = 1, kKnn = 2 };
enum class UtilityMetric { kR2 = 0, kNegMse = 1, kAccuracy = 2, kNegLogLoss = 3 };

/// Everything a built-in utility needs. The arrays are views of the caller's data, which must
/// outlive every walker made from it (the bindings hold the numpy arrays during a call).
struct UtilitySpec {
  UtilityModel model = UtilityModel::kRidge;
  UtilityMetric metric = UtilityMetric::kR2;
  const double* X = nullptr;       ///< n x d, row-major
  const double* y = nullptr;       ///< n (regression target, or 0/1 labels for logistic)
  const double* X_test = nullptr;  ///< m x d, row-major
  const double* y_test = nullptr;  ///< m
  Index n = 0, d = 0, m = 0;
  double alpha = 1.0;        ///< ridge penalty (> 0)
  double C = 1.0;            ///< logistic inverse penalty, as scikit-learn's C
  Index refactor_every = 32; ///< ridge: recompute the Cholesky factor from scratch this often
  double newton_tol = 1e-12; ///< logistic: stop Newton when the step is below this (relative, max norm)
  int max_newton_iter = 100;
  const std::int32_t* knn_rank = nullptr;  ///< knn: m x n, rank of training point i for test point j
  Index k = 5;                             ///< knn: neighbours
  Index n_classes = 2;                     ///< knn/logistic: labels are codes 0..n_classes-1
};

/// Rank (0 = nearest) of every training point for every test point, by squared Euclidean
/// distance, ties to the lower training index (m x n int32; the "knn" utility's lookup table).
Eigen::Matrix<std::int32_t, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> knn_ranks(
    const Eigen::Ref<const RowMatrixXd>& X, const Eigen::Ref<const RowMatrixXd>& X_test, int n_threads);

/// The model and its score while points are added one at a time. Not thread safe: each thread
/// makes its own walker from the shared (read-only) spec.
class UtilityWalker {
 public:
  virtual ~UtilityWalker() = default;
  /// Forget every point; returns the utility of the empty set.
  virtual double reset() = 0;
  /// Add training point i (not already in the subset); returns the utility of the new subset.
  virtual double add(Index i) = 0;
};

/// A fresh walker for `spec`. Throws std::invalid_argument for an unusable spec.
std::unique_ptr<UtilityWalker> make_walker(const UtilitySpec& spec);

}  // namespace attrib
