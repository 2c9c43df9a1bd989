// The built-in utilities' registry: which metrics each model offers and which factory makes its
// walker, plus the checks every model shares (shapes, empty data, metric).
#include "attrib/utilities.hpp"

#include <algorithm>
#include <stdexcept>

namespace attrib {

namespace {

struct UtilityKind {
  UtilityModel model;
  std::vector<UtilityMetric> metrics;  // default first
  std::unique_ptr<UtilityWalker> (*make)(const UtilityData&, const UtilityParams&);
};

const UtilityKind& kind_of(UtilityModel model) {
  static const std::vector<UtilityKind> kinds = {
      {UtilityModel::kRidge, {UtilityMetric::kR2, UtilityMetric::kNegMse}, &make_ridge_walker},
      {UtilityModel::kLogistic, {UtilityMetric::kAccuracy, UtilityMetric::kNegLogLoss}, &make_logistic_walker},
      {UtilityModel::kKnn, {UtilityMetric::kAccuracy}, &make_knn_walker},
  };
  for (const UtilityKind& k : kinds)
    if (k.model == model) return k;
  throw std::invalid_argument("utility: unknown model");
}

}  // namespace

UtilityData utility_data(const Eigen::Ref<const RowMatrixXd>& X, const Eigen::Ref<const Eigen::VectorXd>& y,
                         const Eigen::Ref<const RowMatrixXd>& X_test, const Eigen::Ref<const Eigen::VectorXd>& y_test) {
  if (X.cols() != X_test.cols() || y.size() != X.rows() || y_test.size() != X_test.rows())
    throw std::invalid_argument("utility: inconsistent shapes");
  UtilityData data;
  data.X = X.data();
  data.y = y.data();
  data.X_test = X_test.data();
  data.y_test = y_test.data();
  data.n = X.rows();
  data.d = X.cols();
  data.m = X_test.rows();
  return data;
}

UtilityData with_knn_ranks(UtilityData data, const Eigen::Ref<const KnnRankMatrix>& ranks) {
  if (ranks.rows() != data.m || ranks.cols() != data.n)
    throw std::invalid_argument("utility: knn ranks must be n_test x n");
  data.knn_rank = ranks.data();
  return data;
}

const std::vector<UtilityMetric>& utility_metrics(UtilityModel model) { return kind_of(model).metrics; }

std::unique_ptr<UtilityWalker> make_walker(const UtilityData& data, const UtilityParams& params) {
  if (data.n < 1 || data.d < 1 || data.m < 1) throw std::invalid_argument("utility: empty training or test data");
  const UtilityKind& kind = kind_of(params.model);
  if (std::find(kind.metrics.begin(), kind.metrics.end(), params.metric) == kind.metrics.end())
    throw std::invalid_argument("utility: this model is not scored by that metric");
  return kind.make(data, params);
}

}  // namespace attrib
