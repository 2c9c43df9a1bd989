// Exact leave-one-out and leave-group-out for squared loss (OLS, WLS, ridge) without refits.
//
// The model: minimise sum_i w_i (y_i - b - x_i^T beta)^2 + alpha ||beta||^2, the intercept b
// unpenalised. With x-bar and y-bar the weighted means, the centred design Xc = X - 1 x-bar^T is
// orthogonal to the intercept column, so the Gram matrix of [1, X] in centred coordinates is
// block diagonal: diag(sum w, G) with G = Xc^T W Xc + alpha I. Everything below is expressed with
// one Cholesky factor G = L L^T, which keeps the intercept out of the conditioning of G.
#pragma once

#include "attrib/common.hpp"

#include <cstdint>
#include <vector>

namespace attrib {

/// A fitted squared-loss model plus what every leave-out formula needs.
struct LinearFit {
  Eigen::VectorXd coef;        ///< slopes beta (d)
  double intercept = 0.0;      ///< b (0 without an intercept)
  bool fit_intercept = true;
  Eigen::VectorXd x_mean;      ///< weighted column means (zeros without an intercept)
  double y_mean = 0.0;         ///< weighted mean of y (0 without an intercept)
  double sum_w = 0.0;          ///< sum of the weights
  RowMatrixXd chol;            ///< lower Cholesky factor L of G = Xc^T W Xc + alpha I
  RowMatrixXd chol_inv;        ///< L^{-1} (lower): turns the per-row triangular solves into products
  Eigen::VectorXd hat;         ///< leverages h_i = w_i z_i^T A^{-1} z_i (n)
  Eigen::VectorXd resid;       ///< y_i - b - x_i^T beta, unweighted (n)
  double rcond = 0.0;          ///< reciprocal condition estimate of G scaled to a unit diagonal
};

/// Fit, leverages and residuals in O(n d^2): one pass for the means, one for G, one for the
/// leverages. `w` of size 0 means unit weights. Throws std::domain_error for a singular design.
/// Bitwise identical for any n_threads (fixed row chunks, partial sums added in chunk order).
/// When `dfbeta` is given (n x p), the leverage pass also fills it, as linear_dfbeta would with
/// c_i = w_i e_i / (1 - h_i): one O(n d^2) pass fewer than asking for it afterwards. Leverages
/// then come from that product and may differ from the other path in the last bits.
LinearFit linear_fit(const Eigen::Ref<const RowMatrixXd>& X, const Eigen::Ref<const Eigen::VectorXd>& y,
                     const Eigen::Ref<const Eigen::VectorXd>& w, double alpha, bool fit_intercept, int n_threads,
                     Eigen::Ref<RowMatrixXd>* dfbeta = nullptr);

/// DFBETA scaled per row: row i is c_i A^{-1} z_i in the original parametrisation, with the
/// intercept in column 0 when the model has one (n x p). With c_i = w_i e_i / (1 - h_i) this is
/// beta-hat minus beta-hat without row i. Written into `out`, which the caller allocates.
void linear_dfbeta(const Eigen::Ref<const RowMatrixXd>& X, const LinearFit& fit, const Eigen::Ref<const Eigen::VectorXd>& c,
                   Eigen::Ref<RowMatrixXd> out, int n_threads);

/// Change of the predictions at test points: entry (i, j) is c_i z_j^T A^{-1} z_i, i.e. the
/// prediction at test point j of the full fit minus that of the fit without row i (n x m).
/// Never forms anything n x n. Written into `out`, which the caller allocates.
void linear_prediction_change(const Eigen::Ref<const RowMatrixXd>& X, const Eigen::Ref<const RowMatrixXd>& X_test,
                              const LinearFit& fit, const Eigen::Ref<const Eigen::VectorXd>& c,
                              Eigen::Ref<RowMatrixXd> out, int n_threads);

/// Exact leave-group-out results.
struct GroupLoo {
  RowMatrixXd dfbeta;            ///< (n_groups x p) coefficients minus coefficients without the group
  Eigen::VectorXd loo_resid;     ///< residual of each listed row under the fit without its group
  std::vector<std::uint8_t> ok;  ///< 0 where removing the group leaves a singular problem
};

/// Woodbury removal of each group: one k x k Cholesky per group of k rows. Groups are given in
/// compressed form: rows indices[offsets[g] .. offsets[g+1]) form group g. Groups run in parallel,
/// each independently, so the result does not depend on n_threads.
GroupLoo linear_group_loo(const Eigen::Ref<const RowMatrixXd>& X, const Eigen::Ref<const Eigen::VectorXd>& w,
                          const LinearFit& fit, const std::vector<std::int64_t>& offsets,
                          const std::vector<std::int64_t>& indices, int n_threads);

}  // namespace attrib
