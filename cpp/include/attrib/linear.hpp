// Exact leave-one-out and leave-group-out for squared loss (OLS, WLS, ridge) without refits.
//
// The model: minimise sum_i w_i (y_i - b - x_i^T beta)^2 + alpha ||beta||^2, the intercept b
// unpenalised. With x-bar and y-bar the weighted means, the centred design Xc = X - 1 x-bar^T is
// orthogonal to the intercept column, so the Gram matrix of [1, X] in centred coordinates is
// block diagonal: diag(sum w, G) with G = Xc^T W Xc + alpha I. Everything below is expressed with
// one Cholesky factor G = L L^T, which keeps the intercept out of the conditioning of G.
#pragma once

#include "attrib/common.hpp"
#include "attrib/fingerprint.hpp"

#include <cstdint>
#include <vector>

namespace attrib {

/// Which factorisation carries the fit. The primal form factors the d x d Gram matrix; the dual
/// form (ridge only, alpha > 0) factors the n x n kernel I + Z Z^T with Z = W^{1/2} Xc / sqrt(alpha),
/// which is what pays when there are more features than rows. `automatic` picks the dual form
/// exactly when alpha > 0 and d > n.
enum class LinearForm { automatic, primal, dual };

/// A fitted squared-loss model plus what every leave-out formula needs.
///
/// Numerics. The kernels centre X at `x_mean` (a representable vector), so x - x_mean is exact for
/// rows near the mean, and carry the rounding of the mean separately in `x_mean_lo`: the weighted
/// mean is x_mean + x_mean_lo, and every centred row is (x - x_mean) - x_mean_lo. The same holds
/// for y. In the primal form, columns are scaled by powers of two (`col_scale`) before anything
/// is squared, so no scale of X between about 1e-300 and 1e300 underflows or overflows the Gram
/// matrix; the scaling is exact, so ordinary data gets the same bits as without it.
struct LinearFit {
  Eigen::VectorXd coef;        ///< slopes beta (d)
  double intercept = 0.0;      ///< b (0 without an intercept)
  bool fit_intercept = true;
  Eigen::VectorXd x_mean;      ///< centre of the columns: the weighted means up to x_mean_lo (zeros without an intercept)
  Eigen::VectorXd x_mean_lo;   ///< low-order part of the weighted means (zeros without an intercept)
  double y_mean = 0.0;         ///< centre of y (0 without an intercept)
  double y_mean_lo = 0.0;      ///< low-order part of the weighted mean of y
  double sum_w = 0.0;          ///< sum of the weights
  Eigen::VectorXd col_scale;   ///< D: powers of two, G = D L L^T D (primal); ones in the dual form
  RowMatrixXd chol;            ///< lower Cholesky factor L of D^-1 G D^-1, G = Xc^T W Xc + alpha I (primal; empty in the dual form)
  RowMatrixXd chol_inv;        ///< L^{-1} (lower): turns the per-row triangular solves into products (primal)
  bool dual = false;           ///< true: the fit is held in the dual (n x n) form below
  double alpha = 0.0;          ///< the ridge penalty
  RowMatrixXd dual_z;          ///< Z = W^{1/2} Xc / sqrt(alpha) (n x d; dual form only)
  RowMatrixXd dual_r;          ///< R = (I + Z Z^T)^{-1} (n x n; dual form only)
  Eigen::VectorXd dual_v_scale;///< per row: sqrt(w_i alpha), 0 for zero weights (dual form only)
  Eigen::VectorXd hat;         ///< leverages h_i = w_i z_i^T A^{-1} z_i (n)
  Eigen::VectorXd resid;       ///< y_i - b - x_i^T beta, unweighted (n); exact zeros on an exact fit
  double rcond = 0.0;          ///< reciprocal condition estimate of G scaled to a unit diagonal (of I + Z Z^T in the dual form)
  bool exact_fit = false;      ///< residuals of the positive-weight rows are zero to rounding (then set to 0)
  /// With linear_fit's `fingerprint`: checksums of X and w (else, and for an empty w, zeros) as
  /// core.fingerprint gives them, taken in the first pass over the rows for the facade's in-place
  /// edit check (not part of the fit's state).
  Fingerprint x_fingerprint, w_fingerprint;
};

/// Residuals count as zero to rounding when ||W^{1/2} e|| <= kExactFitTol * max(1, 1/sqrt(rcond)) *
/// ||W^{1/2} y||: about 256 units of the last place of y, inflated by the condition of the design.
constexpr double kExactFitTol = 256.0 * 2.220446049250313e-16;

/// Fit, leverages and residuals in O(n d^2): one pass for the means, one for G, one for the
/// leverages. `w` of size 0 means unit weights. Throws std::domain_error for a singular design.
/// Bitwise identical for any n_threads (fixed row chunks, partial sums added in chunk order).
/// When `dfbeta` is given (n x p), the leverage pass also fills it, as linear_dfbeta would with
/// c_i = w_i e_i / (1 - h_i): one O(n d^2) pass fewer than asking for it afterwards. Leverages
/// then come from that product and may differ from the other path in the last bits.
/// Every reduction over rows runs in a fixed order on data copied into the kernel's own buffers, so
/// the result does not depend on the memory addresses of X, y or w either. On an exact fit
/// (`exact_fit`) the residuals of positive-weight rows, and dfbeta, are exact zeros. With
/// `fingerprint`, the first pass also checksums X and w (x_fingerprint, w_fingerprint).
LinearFit linear_fit(const Eigen::Ref<const RowMatrixXd>& X, const Eigen::Ref<const Eigen::VectorXd>& y,
                     const Eigen::Ref<const Eigen::VectorXd>& w, double alpha, bool fit_intercept, int n_threads,
                     Eigen::Ref<RowMatrixXd>* dfbeta = nullptr, LinearForm form = LinearForm::automatic,
                     bool fingerprint = false);

/// sqrt(diag(A^{-1})) in the original parametrisation, intercept first (p): the scale of each
/// parameter, computed without forming A^{-1} (no overflow for tiny columns).
Eigen::VectorXd linear_inv_gram_sd(const LinearFit& fit);

/// Row g of the result is d_g^T A d_g for row g of D (n_groups x p, original parametrisation,
/// intercept first): the quadratic form of a generalised Cook's distance. NaN rows give NaN.
Eigen::VectorXd linear_gram_quad(const LinearFit& fit, const Eigen::Ref<const RowMatrixXd>& D);

/// Rows per block of the row passes for `cols` columns (fixed, never from the thread count).
Index linear_row_block(Index cols);

/// DFBETA scaled per row: row i is c_i A^{-1} z_i in the original parametrisation, with the
/// intercept in column 0 when the model has one (n x p). With c_i = w_i e_i / (1 - h_i) this is
/// beta-hat minus beta-hat without row i. Written into `out`, which the caller allocates. In the
/// primal form every row is computed on its own in fixed blocks of linear_row_block(d) rows, so
/// rows [a, b) of X, c and out with a a multiple of it give the bits of the whole call (the
/// facade calls it in such pieces so that Ctrl-C takes effect between them).
void linear_dfbeta(const Eigen::Ref<const RowMatrixXd>& X, const LinearFit& fit, const Eigen::Ref<const Eigen::VectorXd>& c,
                   Eigen::Ref<RowMatrixXd> out, int n_threads);

/// Change of the predictions at test points: entry (i, j) is c_i z_j^T A^{-1} z_i, i.e. the
/// prediction at test point j of the full fit minus that of the fit without row i (n x m).
/// Never forms anything n x n. Written into `out`, which the caller allocates. Primal form: rows
/// are independent in blocks of linear_row_block(max(d, m)) rows, as for linear_dfbeta.
void linear_prediction_change(const Eigen::Ref<const RowMatrixXd>& X, const Eigen::Ref<const RowMatrixXd>& X_test,
                              const LinearFit& fit, const Eigen::Ref<const Eigen::VectorXd>& c,
                              Eigen::Ref<RowMatrixXd> out, int n_threads);

/// Exact leave-group-out results.
struct GroupLoo {
  RowMatrixXd dfbeta;            ///< (n_groups x p) coefficients minus coefficients without the group
  Eigen::VectorXd loo_resid;     ///< residual of each listed row under the fit without its group
  std::vector<std::uint8_t> ok;  ///< 0 where removing the group leaves a singular problem
};

/// Removal of each group: per group of k rows the cheaper of Woodbury (one k x k Cholesky) and the
/// downdated Gram matrix (A - Z_G^T S_G Z_G, one p x p Cholesky), chosen from k and p only. Groups are given in
/// compressed form: rows indices[offsets[g] .. offsets[g+1]) form group g. Groups run in parallel,
/// each independently, so the result does not depend on n_threads.
GroupLoo linear_group_loo(const Eigen::Ref<const RowMatrixXd>& X, const Eigen::Ref<const Eigen::VectorXd>& w,
                          const LinearFit& fit, const std::vector<std::int64_t>& offsets,
                          const std::vector<std::int64_t>& indices, int n_threads);

}  // namespace attrib
