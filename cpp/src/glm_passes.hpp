// Row-pass helpers shared by the GLM sources (glm_fit.cpp, glm_loo.cpp, glm_loss_change.cpp,
// glm_groups.cpp): design rows, fixed block sizes, per-thread scratch, vectorised loss
// derivatives and products with L^{-1}. Internal to the core; not part of the public headers.
#pragma once

#include "attrib/glm.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace attrib::glm_detail {

inline constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();


// Rows per block in the row passes. Fixed (never derived from the thread count): Eigen's blocked
// products may round a row differently depending on its block, so fixed blocks keep every row's
// arithmetic the same whichever thread runs it.
inline Index block_rows(Index p) { return std::clamp<Index>(131072 / std::max<Index>(p, 1), 64, 2048); }

// Z rows [r0, r0 + m): a leading column of ones when the model has an intercept.
inline void design_rows(const Eigen::Ref<const RowMatrixXd>& X, bool intercept, Index r0, Index m, RowMatrixXd& Z) {
  const Index d = X.cols(), off = intercept ? 1 : 0;
  Z.resize(m, d + off);
  if (intercept) Z.col(0).setOnes();
  Z.rightCols(d) = X.middleRows(r0, m);
}

// Products with the inverse Cholesky factor L^{-1} (computed once per fit by a triangular solve)
// instead of triangular solves per block: both carry the conditioning of L, not of H, but at
// p ~ 50 Eigen's blocked triangular solve (and even its triangular product) runs about 3x slower
// than a plain matrix product with the zero-filled triangle (measured on 100k x 51 blocks).

// T <- T L^{-T}: row i then has squared norm z_i^T H^{-1} z_i.
inline void mul_lt_inv(const GlmFit& fit, RowMatrixXd& T) {
  RowMatrixXd R;
  R.noalias() = T * fit.chol_inv.transpose();
  T.swap(R);
}

// T <- T L^{-1}; after mul_lt_inv this gives Z H^{-1}.
inline void mul_l_inv(const GlmFit& fit, RowMatrixXd& T) {
  RowMatrixXd R;
  R.noalias() = T * fit.chol_inv;
  T.swap(R);
}

// H^{-1} v = L^{-T} L^{-1} v.
inline Eigen::VectorXd hess_solve(const GlmFit& fit, const Eigen::VectorXd& v) {
  const Eigen::VectorXd t = fit.chol_inv.triangularView<Eigen::Lower>() * v;
  return fit.chol_inv.transpose().triangularView<Eigen::Upper>() * t;
}

// Scratch buffers of a row pass, one per thread (parallel_for_with_state): fresh block-sized
// buffers per task would page-fault (glibc serves them by mmap), costing as much as the arithmetic.
struct RowScratch {
  RowMatrixXd Z, W;
  Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> Zf;
  Eigen::MatrixXf Hf;
  Eigen::VectorXd v1, v2;
  Eigen::ArrayXd y, eta, loss, d1, d2, s;
};

inline double weight(const Eigen::Ref<const Eigen::VectorXd>& w, Index i) { return w.size() == 0 ? 1.0 : w[i]; }

// Loss and derivatives of a run of rows at once: the same formulas as glm_loss_derivs, written as
// array expressions so that Eigen's SIMD exp and log do the work (the scalar calls cost as much
// as the O(n p) products in the passes that need them). Null outputs are skipped.
inline void loss_derivs_array(GlmFamily family, const Eigen::ArrayXd& y, const Eigen::ArrayXd& eta, Eigen::ArrayXd* loss,
                              Eigen::ArrayXd* d1, Eigen::ArrayXd* d2) {
  switch (family) {
    case GlmFamily::logistic: {
      const Eigen::ArrayXd e = (-eta.abs()).exp();
      const Eigen::ArrayXd u = 1.0 + e, big = u.inverse(), small = e * big;
      // log1p(e) by log(u) e / (u - 1) with u = 1 + e (exact to a few ulps: the rounding of u
      // cancels), because Eigen 3.4 evaluates log1p by scalar libm calls. A plain log(u) would
      // lose the relative accuracy of tiny losses, whose differences the test-loss changes take.
      if (loss) *loss = (u == 1.0).select(e, u.log() * e / (u - 1.0)) + eta.max(0.0) - y * eta;
      if (d1) *d1 = (eta >= 0.0).select((1.0 - y) * big - y * small, (1.0 - y) * small - y * big);
      if (d2) *d2 = big * small;
      break;
    }
    case GlmFamily::poisson: {
      const Eigen::ArrayXd m = eta.exp();
      if (loss) *loss = m - y * eta;
      if (d1) *d1 = m - y;
      if (d2) *d2 = m;
      break;
    }
    case GlmFamily::gaussian:
    default: {
      if (loss) *loss = 0.5 * (eta - y).square();
      if (d1) *d1 = eta - y;
      if (d2) *d2 = Eigen::ArrayXd::Ones(eta.size());
      break;
    }
  }
}

// Which Hessian a pass computes. Newton steps far from the optimum only need a good enough

inline double max_abs(const Eigen::VectorXd& v) { return v.size() ? v.cwiseAbs().maxCoeff() : 0.0; }

// Close to the optimum the decrease a Newton step promises (half its decrement g^T H^-1 g) is
// below what the objective, a sum of n rounded terms, can resolve: a line search there rejects
// good steps on rounding noise and stalls. Take the full step instead; the step-size test stops
// the iteration.
inline bool in_quadratic_region(double decrement, double F, double step, double scale) {
  return decrement <= 1e-10 * (1.0 + std::abs(F)) && step <= 1e-3 * scale;
}

}  // namespace attrib::glm_detail
