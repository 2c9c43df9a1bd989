#include "attrib/smw.hpp"

#include <Eigen/Cholesky>
#include <Eigen/LU>

#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

namespace attrib {

namespace {
// A denominator this small relative to its terms means the updated matrix is singular to
// working precision; dividing by it would return garbage rather than an error.
bool negligible(double denom, double scale) {
  return !(std::abs(denom) > 64.0 * std::numeric_limits<double>::epsilon() * std::max(1.0, scale));
}
}  // namespace

double sherman_morrison_update(Eigen::Ref<RowMatrixXd> Ainv, const Eigen::Ref<const Eigen::VectorXd>& u,
                               double s) {
  if (Ainv.rows() != Ainv.cols() || Ainv.rows() != u.size())
    throw std::invalid_argument("sherman_morrison_update: Ainv must be p x p and u of length p");
  const Eigen::VectorXd Au = Ainv * u;
  const double quad = s * u.dot(Au);
  const double denom = 1.0 + quad;
  if (negligible(denom, std::abs(quad)))
    throw std::domain_error("sherman_morrison_update: the update makes the matrix singular (1 + s u'A^-1 u = 0)");
  Ainv.noalias() -= (s / denom) * Au * Au.transpose();
  return denom;
}

void woodbury_update(Eigen::Ref<RowMatrixXd> Ainv, const Eigen::Ref<const RowMatrixXd>& U,
                     const Eigen::Ref<const Eigen::VectorXd>& c) {
  const Index p = Ainv.rows(), k = U.cols();
  if (Ainv.cols() != p || U.rows() != p || c.size() != k)
    throw std::invalid_argument("woodbury_update: Ainv must be p x p, U p x k and c of length k");
  if (k == 0) return;
  // (A + U C U^T)^{-1} = A^{-1} - A^{-1} U (C^{-1} + U^T A^{-1} U)^{-1} U^T A^{-1}. C^{-1} does not
  // exist for c_j = 0, so use the equivalent form with M = I + C U^T A^{-1} U (k x k):
  // A^{-1} - A^{-1} U M^{-1} C U^T A^{-1}.
  const Eigen::MatrixXd AU = Ainv * U;                       // p x k
  Eigen::MatrixXd M = c.asDiagonal() * (U.transpose() * AU);  // k x k
  M.diagonal().array() += 1.0;
  Eigen::FullPivLU<Eigen::MatrixXd> lu(M);
  if (!lu.isInvertible())
    throw std::domain_error("woodbury_update: the update makes the matrix singular");
  const Eigen::MatrixXd rhs = c.asDiagonal() * AU.transpose();  // k x p
  Ainv.noalias() -= AU * lu.solve(rhs);
}

void cholesky_update(Eigen::Ref<RowMatrixXd> L, Eigen::VectorXd x) {
  const Index p = L.rows();
  if (L.cols() != p || x.size() != p) throw std::invalid_argument("cholesky_update: L must be p x p and x of length p");
  // Givens-style sweep (Golub & Van Loan 6.5.4): one column at a time, O(p^2).
  for (Index k = 0; k < p; ++k) {
    const double lkk = L(k, k);
    const double r = std::hypot(lkk, x[k]);
    const double c = r / lkk, s = x[k] / lkk;
    L(k, k) = r;
    for (Index i = k + 1; i < p; ++i) {
      L(i, k) = (L(i, k) + s * x[i]) / c;
      x[i] = c * x[i] - s * L(i, k);
    }
  }
}

void cholesky_downdate(Eigen::Ref<RowMatrixXd> L, Eigen::VectorXd x) {
  const Index p = L.rows();
  if (L.cols() != p || x.size() != p)
    throw std::invalid_argument("cholesky_downdate: L must be p x p and x of length p");
  // Check first, so a failed downdate leaves L untouched: L L^T - x x^T is positive definite
  // iff ||L^{-1} x|| < 1.
  const Eigen::VectorXd w = L.triangularView<Eigen::Lower>().solve(x);
  if (!(w.squaredNorm() < 1.0 - 64.0 * std::numeric_limits<double>::epsilon()))
    throw std::domain_error("cholesky_downdate: the result is not positive definite (||L^-1 x|| >= 1)");
  for (Index k = 0; k < p; ++k) {
    const double lkk = L(k, k);
    const double r = std::sqrt((lkk - x[k]) * (lkk + x[k]));
    const double c = r / lkk, s = x[k] / lkk;
    L(k, k) = r;
    for (Index i = k + 1; i < p; ++i) {
      L(i, k) = (L(i, k) - s * x[i]) / c;
      x[i] = c * x[i] - s * L(i, k);
    }
  }
}

bool woodbury_group_residuals(const Eigen::Ref<const Eigen::MatrixXd>& K, const Eigen::Ref<const Eigen::VectorXd>& d,
                              const Eigen::Ref<const Eigen::VectorXd>& e, Eigen::Ref<Eigen::VectorXd> r) {
  // (I - K S)^{-1} e = e + K D u with u = (I - D K D)^{-1} D e: substitute and expand to check.
  Eigen::MatrixXd M = -(d.asDiagonal() * K * d.asDiagonal());
  M.diagonal().array() += 1.0;
  Eigen::LLT<Eigen::MatrixXd> llt(M);
  if (llt.info() != Eigen::Success) return false;
  // The leave-group-out problem is singular when I - DKD is; a Cholesky of a matrix that is
  // singular only up to rounding can still succeed, so check the smallest pivot too.
  const double min_pivot = llt.matrixLLT().diagonal().minCoeff();
  if (!(min_pivot * min_pivot > kLeverageOneTol)) return false;
  const Eigen::VectorXd u = llt.solve(d.cwiseProduct(e));
  r = e + K * d.cwiseProduct(u);
  return true;
}

}  // namespace attrib
