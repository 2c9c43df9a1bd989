// Newton-step removal of whole groups of rows: per group of k rows the cheaper of Woodbury (one
// k x k Cholesky) and the downdated Hessian (one p x p Cholesky).
#include "glm_passes.hpp"

#include <Eigen/Cholesky>

#include <stdexcept>

namespace attrib {

using namespace glm_detail;

GlmGroupStep glm_group_step(const Eigen::Ref<const RowMatrixXd>& X, const Eigen::Ref<const Eigen::VectorXd>& w,
                            const GlmFit& fit, const std::vector<std::int64_t>& offsets,
                            const std::vector<std::int64_t>& indices, int n_threads) {
  const Index n = X.rows(), d = X.cols(), off = fit.fit_intercept ? 1 : 0, p = d + off;
  if (fit.coef.size() != d || (w.size() != 0 && w.size() != n)) throw std::invalid_argument("glm_group_step: shapes do not match the fit");
  check_groups(offsets, indices, n, "glm_group_step");
  const Index n_groups = static_cast<Index>(offsets.size()) - 1;
  GlmGroupStep res;
  res.dcoef = RowMatrixXd::Constant(n_groups, p, kNaN);
  res.ok.assign(static_cast<std::size_t>(n_groups), 0);
  parallel_for(n_groups, n_threads, [&](Index g) {
    const Index start = offsets[g], k = offsets[g + 1] - offsets[g];
    RowMatrixXd W(k, p);
    Eigen::VectorXd a(k), sqd(k);
    for (Index r = 0; r < k; ++r) {
      const Index i = indices[start + r];
      if (off) W(r, 0) = 1.0;
      W.row(r).tail(d) = X.row(i);
      a[r] = -weight(w, i) * fit.d1[i];
      sqd[r] = std::sqrt(weight(w, i) * fit.d2[i]);
    }
    mul_lt_inv(fit, W);  // W = Z_G L^{-T}: W W^T = K = Z_G H^{-1} Z_G^T
    // Work beyond that shared k x p^2 product: Woodbury k^2 p + k^3 / 3, the downdated Hessian
    // k p^2 + p^3 / 3 (a group of 4,000 rows at p = 21 took 38 s by Woodbury). Chosen from k and
    // p only, so deterministic.
    const double kk = static_cast<double>(k), pp = static_cast<double>(p);
    Eigen::VectorXd u;
    if (pp * pp * (kk + pp / 3.0) < kk * kk * (pp + kk / 3.0)) {
      // Whitened coordinates: H_(G) = H - Z_G^T D Z_G = L (I - Y^T Y) L^T with Y = D^1/2 W, so
      // theta-hat - theta_(G) = L^{-T} M^{-1} W^T a, M = I - Y^T Y. M is positive definite exactly
      // when I - D^1/2 K D^1/2 is (their eigenvalues other than 1 agree): the same pivot test.
      const RowMatrixXd Y = sqd.asDiagonal() * W;
      Eigen::MatrixXd M = Eigen::MatrixXd::Identity(p, p);
      M.noalias() -= Y.transpose() * Y;
      Eigen::LLT<Eigen::MatrixXd> llt(M);
      if (llt.info() != Eigen::Success) return;
      const double min_pivot = llt.matrixLLT().diagonal().minCoeff();
      if (!(min_pivot * min_pivot > kLeverageOneTol)) return;
      const Eigen::VectorXd dphi = llt.solve(W.transpose() * a);
      u = fit.chol_inv.transpose().triangularView<Eigen::Upper>() * dphi;
    } else {
      const Eigen::MatrixXd K = W * W.transpose();
      // H_(G) = H - Z_G^T D Z_G is positive definite iff M = I - D^1/2 K D^1/2 is. Then
      // (I - D K)^{-1} a = a + D^1/2 M^{-1} D^1/2 K a, with no division by D.
      Eigen::MatrixXd M = -(sqd.asDiagonal() * K * sqd.asDiagonal());
      M.diagonal().array() += 1.0;
      Eigen::LLT<Eigen::MatrixXd> llt(M);
      if (llt.info() != Eigen::Success) return;
      const Eigen::MatrixXd Lm = llt.matrixL();
      if (!(Lm.diagonal().array().square().minCoeff() > kLeverageOneTol)) return;
      const Eigen::VectorXd r = a + sqd.cwiseProduct(llt.solve(sqd.cwiseProduct(K * a)));
      // theta-hat - theta_(G) = H^{-1} Z_G^T r = L^{-T} W^T r.
      const Eigen::VectorXd v = W.transpose() * r;
      u = fit.chol_inv.transpose().triangularView<Eigen::Upper>() * v;
    }
    res.dcoef.row(g) = u.transpose();
    res.ok[static_cast<std::size_t>(g)] = 1;
  });
  return res;
}

}  // namespace attrib
