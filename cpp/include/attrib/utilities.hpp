// Utilities computed incrementally along a permutation: adding a training point to the current
// subset updates the model instead of refitting it, so a whole permutation costs about one fit.
// Each utility is a model fitted on a subset S of the training data and scored on a test set.
//
// Adding a utility: a UtilityModel value, its factory below, its utility_<model>.cpp, one row in
// utilities.cpp (its metrics and factory), its py::enum_ value and its Python entry.
#pragma once

#include "attrib/common.hpp"

#include <cstdint>
#include <memory>
#include <vector>

namespace attrib {

/// Which model a built-in utility fits, and how it is scored on the test set.
enum class UtilityModel { kRidge = 0, kLogistic = 1, kKnn = 2 };
enum class UtilityMetric { kR2 = 0, kNegMse = 1, kAccuracy = 2, kNegLogLoss = 3 };

/// Rank (0 = nearest) of a training point among one test point's neighbours.
using KnnRank = std::int32_t;
using KnnRankMatrix = Eigen::Matrix<KnnRank, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

/// The data a utility fits on and scores on: views of the caller's arrays, which must outlive
/// every walker made from it (the Python object holding these views keeps the arrays alive).
struct UtilityData {
  const double* X = nullptr;       ///< n x d, row-major
  const double* y = nullptr;       ///< n (regression target, or class codes as doubles)
  const double* X_test = nullptr;  ///< m x d, row-major
  const double* y_test = nullptr;  ///< m
  const KnnRank* knn_rank = nullptr;  ///< m x n, rank of training point i for test point j (knn only)
  Index n = 0, d = 0, m = 0;
};

/// Views of the four arrays after checking that their shapes agree.
UtilityData utility_data(const Eigen::Ref<const RowMatrixXd>& X, const Eigen::Ref<const Eigen::VectorXd>& y,
                         const Eigen::Ref<const RowMatrixXd>& X_test, const Eigen::Ref<const Eigen::VectorXd>& y_test);

/// `data` with the neighbour ranks the knn utility needs (m x n, see knn_ranks).
UtilityData with_knn_ranks(UtilityData data, const Eigen::Ref<const KnnRankMatrix>& ranks);

/// A built-in utility: the model, its score and its hyperparameters (each model reads its own).
struct UtilityParams {
  UtilityModel model = UtilityModel::kRidge;
  UtilityMetric metric = UtilityMetric::kR2;
  double alpha = 1.0;         ///< ridge penalty (> 0)
  double C = 1.0;             ///< logistic inverse penalty, as scikit-learn's C
  Index refactor_every = 32;  ///< ridge: recompute the Cholesky factor from scratch this often
  double newton_tol = 1e-12;  ///< logistic: stop Newton when the step is below this (relative, max norm)
  int max_newton_iter = 100;
  Index k = 5;                ///< knn: neighbours
  Index n_classes = 2;        ///< knn, logistic: labels are codes 0..n_classes-1 (logistic > 2: softmax)
};

/// The metrics `model` can be scored by, its default first.
const std::vector<UtilityMetric>& utility_metrics(UtilityModel model);

/// Rank of every training point for every test point, by squared Euclidean distance, ties to
/// the lower training index (m x n; the "knn" utility's lookup table).
KnnRankMatrix knn_ranks(const Eigen::Ref<const RowMatrixXd>& X, const Eigen::Ref<const RowMatrixXd>& X_test,
                        int n_threads);

/// The model and its score while points are added one at a time. Not thread safe: each thread
/// makes its own walker from the shared (read-only) data and parameters.
class UtilityWalker {
 public:
  virtual ~UtilityWalker() = default;
  /// Forget every point; returns the utility of the empty set.
  virtual double reset() = 0;
  /// Add training point i (not already in the subset); returns the utility of the new subset.
  virtual double add(Index i) = 0;
};

/// Base of the walkers that fit a linear model (ridge, logistic): the data and parameters they
/// read, and Eigen views of the dense arrays for their linear algebra.
class LinearModelWalker : public UtilityWalker {
 protected:
  LinearModelWalker(const UtilityData& data, const UtilityParams& params)
      : data_(data),
        params_(params),
        X_(data.X, data.n, data.d),
        y_(data.y, data.n),
        Xt_(data.X_test, data.m, data.d),
        yt_(data.y_test, data.m) {}

  const UtilityData& data_;
  const UtilityParams& params_;
  Eigen::Map<const RowMatrixXd> X_;
  Eigen::Map<const Eigen::VectorXd> y_;
  Eigen::Map<const RowMatrixXd> Xt_;
  Eigen::Map<const Eigen::VectorXd> yt_;
};

/// A fresh walker for `params` on `data` (both must outlive it). Throws std::invalid_argument for
/// an unusable combination (empty data, a metric the model does not offer, a bad hyperparameter).
std::unique_ptr<UtilityWalker> make_walker(const UtilityData& data, const UtilityParams& params);

/// Per-model factories, each defined in its utility_<model>.cpp; make_walker dispatches to them
/// after the checks that every model shares.
std::unique_ptr<UtilityWalker> make_ridge_walker(const UtilityData& data, const UtilityParams& params);
std::unique_ptr<UtilityWalker> make_logistic_walker(const UtilityData& data, const UtilityParams& params);
std::unique_ptr<UtilityWalker> make_knn_walker(const UtilityData& data, const UtilityParams& params);
/// The logistic utility on n_classes > 2 classes (softmax regression; utility_softmax.cpp).
std::unique_ptr<UtilityWalker> make_softmax_walker(const UtilityData& data, const UtilityParams& params);

}  // namespace attrib
