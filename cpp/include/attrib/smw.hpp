// Sherman-Morrison-Woodbury algebra: the primitives behind every "update instead of refit" in
// attrib. Exact leave-one-out downdates a Gram matrix by one row, leave-group-out by k rows, a
// Shapley permutation adds rows one at a time, and a GLM's Newton-step LOO downdates its Hessian.
#pragma once

#include "attrib/common.hpp"

namespace attrib {

/// Sherman-Morrison: overwrite `Ainv` (= A^{-1}, symmetric) with (A + s u u^T)^{-1}.
/// Returns the denominator 1 + s u^T A^{-1} u. Throws std::domain_error when it is (numerically)
/// zero, i.e. when the update makes A singular (a downdate of a row with leverage 1).
double sherman_morrison_update(Eigen::Ref<RowMatrixXd> Ainv, const Eigen::Ref<const Eigen::VectorXd>& u,
                               double s);

/// Woodbury: overwrite `Ainv` (= A^{-1}, symmetric) with (A + U diag(c) U^T)^{-1}, where U is
/// p x k. One k x k factorisation; throws std::domain_error when the update is singular.
void woodbury_update(Eigen::Ref<RowMatrixXd> Ainv, const Eigen::Ref<const RowMatrixXd>& U,
                     const Eigen::Ref<const Eigen::VectorXd>& c);

/// Cholesky rank-one update in place: L L^T + x x^T, L lower triangular (O(p^2), no refactor).
void cholesky_update(Eigen::Ref<RowMatrixXd> L, Eigen::VectorXd x);

/// Cholesky rank-one downdate in place: L L^T - x x^T. Throws std::domain_error when the result
/// would not be positive definite (L is then left unchanged).
void cholesky_downdate(Eigen::Ref<RowMatrixXd> L, Eigen::VectorXd x);

/// Leave-group-out residuals by Woodbury. For a group G with K = Z_G A^{-1} Z_G^T (k x k),
/// weights s_G = d^2 and in-sample residuals e_G, returns r = (I - K S_G)^{-1} e_G, the residuals of
/// the group's rows under the fit without the group. Solved in the symmetric form
/// I - D K D (D = diag(d)), which is positive definite exactly when removing the group leaves the
/// problem well posed; returns false (and leaves r untouched) when it is not.
bool woodbury_group_residuals(const Eigen::Ref<const Eigen::MatrixXd>& K, const Eigen::Ref<const Eigen::VectorXd>& d,
                              const Eigen::Ref<const Eigen::VectorXd>& e, Eigen::Ref<Eigen::VectorXd> r);

}  // namespace attrib
