// Helpers shared by the multinomial sources (glm_multinomial_fit.cpp, glm_multinomial_loo.cpp,
// glm_multinomial_loss.cpp): the softmax of a block of linear predictors, the full pass over the
// rows (objective, gradient, Hessian) and the rearranged Hessian inverse the row passes multiply
// by. Internal to the core; not part of the public headers.
#pragma once

#include "attrib/glm_multinomial.hpp"
#include "glm_passes.hpp"

#include <Eigen/Cholesky>

#include <cmath>
#include <limits>

namespace attrib::mn_detail {

using glm_detail::kNaN;

// Class code of a label stored as a double (checked by the callers).
inline Index code(double y) { return static_cast<Index>(y); }

// Row-wise softmax of E (m x K, any layout) in place, returning log-sum-exp per row.
template <class Mat>
inline Eigen::ArrayXd softmax_rows(Mat& E) {
  const Eigen::ArrayXd mx = E.rowwise().maxCoeff().array();
  E.colwise() -= mx.matrix();
  E = E.array().exp().matrix();
  const Eigen::ArrayXd sum = E.rowwise().sum().array();
  E = sum.inverse().matrix().asDiagonal() * E;
  return sum.log() + mx;
}

// The class-k coefficient block of theta (class-major): (b_k, beta_k) or beta_k.
inline Index block_of(Index k, Index p) { return k * p; }

// theta's coefficients as a d x K matrix and its intercepts as a K vector.
inline void unpack(const Eigen::VectorXd& theta, Index K, Index d, bool intercept, Eigen::MatrixXd& Wt,
                   Eigen::VectorXd& b) {
  const Index off = intercept ? 1 : 0, p = d + off;
  Wt.resize(d, K);
  b.setZero(K);
  for (Index k = 0; k < K; ++k) {
    if (intercept) b[k] = theta[k * p];
    Wt.col(k) = theta.segment(k * p + off, d);
  }
}

// Result of mn_pass.
struct MnPass {
  double F = 0.0;      // objective including the gauge term
  double F_data = 0.0; // sum of weighted losses plus the penalty (no gauge term)
  Eigen::VectorXd g;   // gradient (with the gauge term)
  Eigen::MatrixXd H;   // Hessian (with the gauge term), when asked for
  bool has_hessian = false;
  Index not_separated = 0;  // rows that theta does not classify strictly correctly (separation check)
};

// Objective, gradient and (optionally) Hessian at theta over fixed row chunks summed in order (the
// same bits for any n_threads). Writes the class probabilities into `prob` (n x K) when non-null.
void mn_pass(const Eigen::Ref<const RowMatrixXd>& X, const Eigen::Ref<const Eigen::VectorXd>& y,
             const Eigen::Ref<const Eigen::VectorXd>& w, Index K, double l2, const Eigen::VectorXd& gauge,
             bool intercept, const Eigen::VectorXd& theta, bool want_hessian, int n_threads, MnPass& out,
             RowMatrixXd* prob);

// The gauge-augmented Hessian at the probabilities `prob` (n x K) applied to v (P), without forming
// it: two skinny products with the design, O(n K p). Fixed row chunks summed in order.
Eigen::VectorXd mn_hessian_times(const Eigen::Ref<const RowMatrixXd>& X, const Eigen::Ref<const Eigen::VectorXd>& w,
                                 Index K, double l2, const Eigen::VectorXd& gauge, bool intercept,
                                 const RowMatrixXd& prob, const Eigen::VectorXd& v, int n_threads);

// R (p x K P): R(b, l P + c) = H^{-1}(l p + b, c), so that z^T R, read as K x P row-major, is
// (H^{-1} Z_i)^T for Z_i = I_K kron z (row l is H^{-1} applied to z placed in class block l).
RowMatrixXd rearranged_inverse(const MultinomialFit& fit);

// What a row's Woodbury downdate needs, from Vt = (H^{-1} Z_i)^T (K x P) and the row's design z:
// Q = Z_i^T H^{-1} Z_i, B = diag(sqrt(pi)) - pi sqrt(pi)^T, and the Cholesky factor of
// M = I - s B^T Q B. `ok` is false when M is not (numerically) positive definite.
struct RowDowndate {
  Eigen::MatrixXd Q, B;
  Eigen::LLT<Eigen::MatrixXd> llt;
  double hat = 0.0;
  bool ok = false;
};

inline void row_downdate(const Eigen::Ref<const RowMatrixXd>& Vt, const Eigen::Ref<const Eigen::RowVectorXd>& z,
                         const Eigen::Ref<const Eigen::RowVectorXd>& pi, double s, RowDowndate& rd) {
  const Index K = Vt.rows(), p = z.size();
  rd.Q.resize(K, K);
  for (Index l = 0; l < K; ++l)
    for (Index k = 0; k < K; ++k) rd.Q(l, k) = Vt.row(l).segment(k * p, p).dot(z);
  rd.Q = 0.5 * (rd.Q + rd.Q.transpose()).eval();
  const Eigen::VectorXd sq = pi.transpose().cwiseMax(0.0).cwiseSqrt();
  rd.B = -(pi.transpose() * sq.transpose());
  rd.B.diagonal() += sq;
  const Eigen::MatrixXd T = rd.B.transpose() * rd.Q * rd.B;
  rd.hat = s * T.trace();
  Eigen::MatrixXd M = -s * T;
  M.diagonal().array() += 1.0;
  rd.llt.compute(M);
  rd.ok = rd.llt.info() == Eigen::Success;
  if (rd.ok) {
    const Eigen::MatrixXd L = rd.llt.matrixL();
    rd.ok = L.diagonal().array().square().minCoeff() > kLeverageOneTol;
  }
}

// (I + s B M^{-1} B^T Q) v: the K x K factor of H_(i)^{-1} Z_i = H^{-1} Z_i (I - s A Q)^{-1}.
inline Eigen::VectorXd downdated(const RowDowndate& rd, double s, const Eigen::VectorXd& v) {
  return v + s * (rd.B * rd.llt.solve(rd.B.transpose() * (rd.Q * v)));
}

}  // namespace attrib::mn_detail
