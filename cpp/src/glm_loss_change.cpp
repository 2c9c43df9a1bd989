// Change of test losses when each training row's parameter change is applied: the dense
// n_train x n_test matrix in tiles, and a streaming top-k that never forms it.
#include "glm_passes.hpp"
#include "two_sided_topk.hpp"

#include <stdexcept>

namespace attrib {

using namespace glm_detail;

namespace {

// Tiles of the training x test loss-change matrix; both the dense and the top-k kernels use them,
// so their entries agree bit for bit.
constexpr Index kTrainTile = kLossTrainTile;
constexpr Index kTestTile = kLossTestTile;

// Test design and the loss at the full fit.
void test_setup(const Eigen::Ref<const RowMatrixXd>& X_test, const Eigen::Ref<const Eigen::VectorXd>& y_test,
                const Eigen::Ref<const Eigen::VectorXd>& offset_test, const GlmFit& fit, RowMatrixXd& Zt,
                Eigen::VectorXd& eta_t, Eigen::VectorXd& base) {
  const Index m = X_test.rows();
  design_rows(X_test, fit.fit_intercept, 0, m, Zt);
  eta_t = Zt * fit.theta();
  if (offset_test.size()) eta_t += offset_test;
  Eigen::ArrayXd loss;
  loss_derivs_array(fit.family, y_test.array(), eta_t.array(), &loss, nullptr, nullptr);
  base = loss.matrix();
}

// One tile of loss changes: rows [r0, r0 + mr) of D against test points [c0, c0 + mc).
void change_tile(const Eigen::Ref<const RowMatrixXd>& D, const RowMatrixXd& Zt, const Eigen::VectorXd& eta_t,
                 const Eigen::VectorXd& base, const Eigen::Ref<const Eigen::VectorXd>& y_test, GlmFamily family,
                 Index r0, Index mr, Index c0, Index mc, RowMatrixXd& T) {
  T.noalias() = D.middleRows(r0, mr) * Zt.middleRows(c0, mc).transpose();  // z_j^T D_i
  const Eigen::ArrayXd yt = y_test.segment(c0, mc).array(), et = eta_t.segment(c0, mc).array();
  const Eigen::ArrayXd b = base.segment(c0, mc).array();
  Eigen::ArrayXd loss;
  for (Index r = 0; r < mr; ++r) {
    loss_derivs_array(family, yt, et - T.row(r).transpose().array(), &loss, nullptr, nullptr);
    T.row(r) = (loss - b).matrix().transpose();
  }
}

void check_change_shapes(const Eigen::Ref<const RowMatrixXd>& X_test, const Eigen::Ref<const Eigen::VectorXd>& y_test,
                         const Eigen::Ref<const Eigen::VectorXd>& offset_test, const GlmFit& fit,
                         const Eigen::Ref<const RowMatrixXd>& D) {
  const Index p = fit.coef.size() + (fit.fit_intercept ? 1 : 0);
  if (X_test.cols() != fit.coef.size() || y_test.size() != X_test.rows() || D.cols() != p ||
      (offset_test.size() != 0 && offset_test.size() != X_test.rows()))
    throw std::invalid_argument("glm_loss_change: shapes do not match the fit");
}


}  // namespace

void glm_loss_change(const Eigen::Ref<const RowMatrixXd>& X_test, const Eigen::Ref<const Eigen::VectorXd>& y_test,
                     const Eigen::Ref<const Eigen::VectorXd>& offset_test, const GlmFit& fit, const Eigen::Ref<const RowMatrixXd>& D, Eigen::Ref<RowMatrixXd> out,
                     int n_threads) {
  check_change_shapes(X_test, y_test, offset_test, fit, D);
  const Index n = D.rows(), m = X_test.rows();
  if (out.rows() != n || out.cols() != m) throw std::invalid_argument("glm_loss_change: out must be n_train x n_test");
  RowMatrixXd Zt;
  Eigen::VectorXd eta_t, base;
  test_setup(X_test, y_test, offset_test, fit, Zt, eta_t, base);
  const Index n_tr = (n + kTrainTile - 1) / kTrainTile, n_te = (m + kTestTile - 1) / kTestTile;
  const Index n_tiles = n_tr * n_te;
  parallel_for(n_tiles, n_threads, [&](Index t) {
    const Index r0 = (t / n_te) * kTrainTile, c0 = (t % n_te) * kTestTile;
    const Index mr = std::min(kTrainTile, n - r0), mc = std::min(kTestTile, m - c0);
    RowMatrixXd T;
    change_tile(D, Zt, eta_t, base, y_test, fit.family, r0, mr, c0, mc, T);
    out.block(r0, c0, mr, mc) = T;
  });
}

GlmTopK glm_loss_change_topk(const Eigen::Ref<const RowMatrixXd>& X_test, const Eigen::Ref<const Eigen::VectorXd>& y_test,
                             const Eigen::Ref<const Eigen::VectorXd>& offset_test, const GlmFit& fit, const Eigen::Ref<const RowMatrixXd>& D, Index k, int n_threads) {
  check_change_shapes(X_test, y_test, offset_test, fit, D);
  const Index n = D.rows(), m = X_test.rows();
  if (k < 1 || k > n) throw std::invalid_argument("glm_loss_change_topk: k must be in [1, n_train]");
  RowMatrixXd Zt;
  Eigen::VectorXd eta_t, base;
  test_setup(X_test, y_test, offset_test, fit, Zt, eta_t, base);
  GlmTopK res;
  res.helpful_idx.resize(m, k);
  res.harmful_idx.resize(m, k);
  res.helpful_val.resize(m, k);
  res.harmful_val.resize(m, k);
  // One test tile per task: each test point's candidates are seen by one thread in training-row
  // order, and the ranking is a total order, so the answer does not depend on the thread count.
  const Index n_te = (m + kTestTile - 1) / kTestTile;
  parallel_for(n_te, n_threads, [&](Index tt) {
    const Index c0 = tt * kTestTile, mc = std::min(kTestTile, m - c0);
    topk_detail::TwoSidedTopK heaps(mc, k);
    RowMatrixXd T;
    for (Index r0 = 0; r0 < n; r0 += kTrainTile) {
      const Index mr = std::min(kTrainTile, n - r0);
      change_tile(D, Zt, eta_t, base, y_test, fit.family, r0, mr, c0, mc, T);
      for (Index c = 0; c < mc; ++c)
        for (Index r = 0; r < mr; ++r) heaps.offer(c, T(r, c), static_cast<std::int64_t>(r0 + r));
    }
    for (Index c = 0; c < mc; ++c)
      heaps.write(c, c0 + c, res.helpful_idx, res.helpful_val, res.harmful_idx, res.harmful_val);
  });
  return res;
}

}  // namespace attrib
