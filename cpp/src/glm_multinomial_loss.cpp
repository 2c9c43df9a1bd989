// Change of test cross-entropies when each training row's parameter change is applied: the dense
// n_train x n_test matrix in tiles, and a streaming top-k that never forms it.
#include "glm_multinomial_passes.hpp"
#include "two_sided_topk.hpp"

#include <stdexcept>

namespace attrib {

using namespace mn_detail;

namespace {

constexpr Index kTrainTile = kMultinomialLossTrainTile;
constexpr Index kTestTile = kMultinomialLossTestTile;

struct TestSetup {
  RowMatrixXd Zt;     // m x p test design
  RowMatrixXd eta;    // m x K linear predictors at the fit
  Eigen::VectorXd base;  // m losses at the fit
};

void check_shapes(const Eigen::Ref<const RowMatrixXd>& X_test, const Eigen::Ref<const Eigen::VectorXd>& y_test,
                  const MultinomialFit& fit, const Eigen::Ref<const RowMatrixXd>& D) {
  const Index K = fit.n_classes, P = K * fit.n_params_per_class();
  if (X_test.cols() != fit.coef.cols() || y_test.size() != X_test.rows() || D.cols() != P ||
      (D.rows() > 1 && D.outerStride() != P))
    throw std::invalid_argument("multinomial_loss_change: shapes do not match the fit");
  for (Index j = 0; j < y_test.size(); ++j)
    if (!(y_test[j] >= 0.0 && y_test[j] < double(K) && y_test[j] == std::floor(y_test[j])))
      throw std::invalid_argument("multinomial_loss_change: y_test must hold class codes 0 .. n_classes - 1");
}

TestSetup test_setup(const Eigen::Ref<const RowMatrixXd>& X_test, const Eigen::Ref<const Eigen::VectorXd>& y_test,
                     const MultinomialFit& fit) {
  TestSetup t;
  const Index m = X_test.rows();
  glm_detail::design_rows(X_test, fit.fit_intercept, 0, m, t.Zt);
  t.eta.noalias() = X_test * fit.coef.transpose();
  if (fit.fit_intercept) t.eta.rowwise() += fit.intercept.transpose();
  RowMatrixXd E = t.eta;
  const Eigen::ArrayXd lse = softmax_rows(E);
  t.base.resize(m);
  for (Index j = 0; j < m; ++j) t.base[j] = lse[j] - t.eta(j, code(y_test[j]));
  return t;
}

// Tile: training rows [r0, r0 + mr) against test points [c0, c0 + mc); T is mr x mc.
void change_tile(const Eigen::Ref<const RowMatrixXd>& D, const TestSetup& ts, const Eigen::Ref<const Eigen::VectorXd>& y_test,
                 Index K, Index r0, Index mr, Index c0, Index mc, RowMatrixXd& S, RowMatrixXd& T) {
  const Index p = ts.Zt.cols();
  // D rows [r0, r0 + mr) read as (mr K) x p: row (i, k) is class k's parameter change of row i.
  const Eigen::Map<const RowMatrixXd, 0, Eigen::OuterStride<>> Dk(D.row(r0).data(), mr * K, p,
                                                                  Eigen::OuterStride<>(p));
  S.noalias() = Dk * ts.Zt.middleRows(c0, mc).transpose();  // (mr K) x mc: z_j^T D_ik
  T.resize(mr, mc);
  Eigen::VectorXd e(K);
  for (Index r = 0; r < mr; ++r)
    for (Index c = 0; c < mc; ++c) {
      const Index j = c0 + c;
      double mx = -std::numeric_limits<double>::infinity();
      for (Index k = 0; k < K; ++k) {
        e[k] = ts.eta(j, k) - S(r * K + k, c);
        mx = std::max(mx, e[k]);
      }
      double sum = 0.0;
      for (Index k = 0; k < K; ++k) sum += std::exp(e[k] - mx);
      T(r, c) = (std::log(sum) + mx - e[code(y_test[j])]) - ts.base[j];
    }
}


}  // namespace

void multinomial_loss_change(const Eigen::Ref<const RowMatrixXd>& X_test, const Eigen::Ref<const Eigen::VectorXd>& y_test,
                             const MultinomialFit& fit, const Eigen::Ref<const RowMatrixXd>& D, Eigen::Ref<RowMatrixXd> out,
                             int n_threads) {
  check_shapes(X_test, y_test, fit, D);
  const Index n = D.rows(), m = X_test.rows(), K = fit.n_classes;
  if (out.rows() != n || out.cols() != m) throw std::invalid_argument("multinomial_loss_change: out must be n_train x n_test");
  if (n == 0 || m == 0) return;
  const TestSetup ts = test_setup(X_test, y_test, fit);
  const Index n_tr = (n + kTrainTile - 1) / kTrainTile, n_te = (m + kTestTile - 1) / kTestTile;
  parallel_for(n_tr * n_te, n_threads, [&](Index t) {
    const Index r0 = (t / n_te) * kTrainTile, c0 = (t % n_te) * kTestTile;
    const Index mr = std::min(kTrainTile, n - r0), mc = std::min(kTestTile, m - c0);
    RowMatrixXd S, T;
    change_tile(D, ts, y_test, K, r0, mr, c0, mc, S, T);
    out.block(r0, c0, mr, mc) = T;
  });
}

MultinomialTopK multinomial_loss_change_topk(const Eigen::Ref<const RowMatrixXd>& X_test,
                                             const Eigen::Ref<const Eigen::VectorXd>& y_test, const MultinomialFit& fit,
                                             const Eigen::Ref<const RowMatrixXd>& D, Index k, int n_threads) {
  check_shapes(X_test, y_test, fit, D);
  const Index n = D.rows(), m = X_test.rows(), K = fit.n_classes;
  if (k < 1 || k > n) throw std::invalid_argument("multinomial_loss_change_topk: k must be in [1, n_train]");
  const TestSetup ts = test_setup(X_test, y_test, fit);
  MultinomialTopK res;
  res.helpful_idx.resize(m, k);
  res.harmful_idx.resize(m, k);
  res.helpful_val.resize(m, k);
  res.harmful_val.resize(m, k);
  const Index n_te = (m + kTestTile - 1) / kTestTile;
  parallel_for(n_te, n_threads, [&](Index tt) {
    const Index c0 = tt * kTestTile, mc = std::min(kTestTile, m - c0);
    topk_detail::TwoSidedTopK heaps(mc, k);
    RowMatrixXd S, T;
    for (Index r0 = 0; r0 < n; r0 += kTrainTile) {
      const Index mr = std::min(kTrainTile, n - r0);
      change_tile(D, ts, y_test, K, r0, mr, c0, mc, S, T);
      for (Index c = 0; c < mc; ++c)
        for (Index r = 0; r < mr; ++r) heaps.offer(c, T(r, c), static_cast<std::int64_t>(r0 + r));
    }
    for (Index c = 0; c < mc; ++c)
      heaps.write(c, c0 + c, res.helpful_idx, res.helpful_val, res.harmful_idx, res.harmful_val);
  });
  return res;
}

}  // namespace attrib
