// Generalised linear models: a penalised Newton fit, and leave-one-out by one Newton step
// (Pregibon / ALO), by the influence function, or exactly (Newton iterations on every leave-one-out
// problem, warm-started from the full fit).
//
// The objective, in the sum convention (scikit-learn's LogisticRegression divided by C):
//   F(theta) = sum_i s_i l(y_i, z_i^T theta) + (l2 / 2) ||beta||^2,   l2 = 1 / C (0: unpenalised),
// with z_i = (1, x_i) and theta = (b, beta) when the model has an intercept (never penalised), else
// z_i = x_i and theta = beta. Removing row i is setting s_i = 0 with l2 fixed. Everything that needs
// H^{-1} uses one Cholesky factor H = L L^T of the Hessian at the optimum; the intercept is column 0.
#pragma once

#include "attrib/common.hpp"
#include "attrib/fingerprint.hpp"

#include <algorithm>
#include <cstdint>
#include <vector>

namespace attrib {

/// The loss l(y, eta) of one row as a function of the linear predictor eta (canonical links).
enum class GlmFamily : int {
  logistic = 0,  ///< y in {0, 1}: log(1 + e^eta) - y eta
  poisson = 1,   ///< y >= 0: e^eta - y eta (log link; the log(y!) constant is dropped)
  gaussian = 2,  ///< (y - eta)^2 / 2 (identity link)
};

/// Loss and its first two derivatives in eta.
struct GlmLossDerivs {
  double loss, d1, d2;
};

/// l, dl/deta and d2l/deta2 of one row.
GlmLossDerivs glm_loss_derivs(GlmFamily family, double y, double eta);

/// A fitted GLM plus what every leave-out formula needs (per-row arrays have n entries).
struct GlmFit {
  GlmFamily family = GlmFamily::logistic;
  bool fit_intercept = true;
  double l2 = 0.0;           ///< penalty on beta: 1 / C, 0 when unpenalised
  Eigen::VectorXd coef;      ///< beta (d)
  double intercept = 0.0;    ///< b (0 without an intercept)
  RowMatrixXd chol;          ///< lower Cholesky factor L of the Hessian H at the optimum (p x p)
  RowMatrixXd chol_inv;      ///< L^{-1} (lower triangular), applied by products in the row passes
  Eigen::VectorXd offset;    ///< per-row offsets o_i added to the linear predictor (empty: none)
  Eigen::VectorXd eta;       ///< linear predictors z_i^T theta + o_i
  Eigen::VectorXd d1;        ///< dl/deta per row (unweighted)
  Eigen::VectorXd d2;        ///< d2l/deta2 per row (unweighted)
  double objective = 0.0;    ///< F at the optimum
  double grad_max = 0.0;     ///< max |dF/dtheta| at the returned theta
  double step_max = 0.0;     ///< max |Newton step| of the last iteration
  int n_iter = 0;            ///< Newton iterations taken
  bool converged = false;
  double rcond = 0.0;        ///< reciprocal condition estimate of H scaled to a unit diagonal
  /// With GlmFitOptions::fingerprint: checksums of X, y, w and offset (empty arrays: zeros) as
  /// core.fingerprint gives them, taken in the fit's first pass (not part of the fit's state).
  Fingerprint x_fingerprint, y_fingerprint, w_fingerprint, offset_fingerprint;

  /// theta = (b, beta) or beta.
  Eigen::VectorXd theta() const;
};

/// Settings of glm_fit. A new one is a field here, its use in glm_fit.cpp, one def_readwrite in
/// bind_glm.cpp and its value from the facade.
struct GlmFitOptions {
  GlmFamily family = GlmFamily::logistic;
  double l2 = 0.0;            ///< penalty on beta: 1 / C, 0 when unpenalised
  bool fit_intercept = true;
  int max_iter = 100;         ///< Newton iterations at most
  double tol = 1e-10;         ///< stop once the Newton step is below tol * (1 + max |theta|)
  bool polish = false;        ///< end at the rounding floor rather than within tol (see glm_fit)
  bool fingerprint = false;   ///< checksum the inputs in the first pass (GlmFit::x_fingerprint...)
  int n_threads = 0;          ///< 0: the OpenMP default
};

/// Penalised (l2 > 0) or unpenalised Newton fit with a backtracking line search, from `start`
/// (size p) or, when `start` is empty, from beta = 0 and the intercept of the null model. A non-empty
/// `start_hessian` (p x p, positive definite, only with `start`) is an estimate of the Hessian at
/// `start` (say from a subsample) used for the first steps instead of an O(n p^2) pass. Stops once
/// the Newton step is below tol * (1 + max |theta|). With the exact Hessian fresh at that iterate
/// and `polish` false it stops there, within the step of the optimum, everything consistent.
/// Otherwise it takes the step (Newton lands at the rounding floor, which exact leave-one-out
/// needs: it subtracts the fit from problems solved far below tol); the Hessian returned is then
/// the fresh one (when the step is at most tol / 10: it moved by O(step)) or evaluated anew. The
/// Hessians of earlier steps may be summed in single precision; the one the fit returns (its
/// Cholesky factor) always in double. Throws std::domain_error for a singular Hessian or perfect
/// separation (logistic, l2 = 0). `w` of size 0 means unit weights, `offset` of size 0 no offset
/// (otherwise eta_i = z_i^T theta + offset_i, as statsmodels' GLM offset; log exposure for a
/// Poisson rate). Bitwise identical for any n_threads (fixed row chunks, summed in order).
GlmFit glm_fit(const Eigen::Ref<const RowMatrixXd>& X, const Eigen::Ref<const Eigen::VectorXd>& y,
               const Eigen::Ref<const Eigen::VectorXd>& w, const Eigen::Ref<const Eigen::VectorXd>& offset,
               const Eigen::Ref<const Eigen::VectorXd>& start, const Eigen::Ref<const RowMatrixXd>& start_hessian,
               const GlmFitOptions& options);

/// Which leave-one-out step glm_loo_rows forms besides the leverages.
enum class GlmStep : int {
  none = 0,       ///< leverages only
  newton = 1,     ///< one Newton step: theta-hat - theta_(i) = -s_i d1_i H^{-1} z_i / (1 - h_i)
  influence = 2,  ///< influence function: the same without 1 / (1 - h_i)
};

/// Leverages and leave-one-out steps of every row.
struct GlmLooRows {
  Eigen::VectorXd quad;  ///< z_i^T H^{-1} z_i
  Eigen::VectorXd hat;   ///< leverages h_i = s_i d2_i z_i^T H^{-1} z_i
};

/// Leverages and, in the same pass over the rows, the chosen step (O(n p^2)) written into `dcoef`
/// (n x p, intercept in column 0; NaN rows where h_i ~ 1; ignored for GlmStep::none). The caller
/// owns the output so that a large one can come from numpy's allocator (huge pages).
GlmLooRows glm_loo_rows(const Eigen::Ref<const RowMatrixXd>& X, const Eigen::Ref<const Eigen::VectorXd>& w,
                        const GlmFit& fit, GlmStep step, Eigen::Ref<RowMatrixXd> dcoef, int n_threads);

/// Rows c_i H^{-1} z_i (n x p, intercept in column 0). With c_i = -s_i d1_i / (1 - h_i) this is the
/// Newton-step theta-hat minus theta without row i; without the 1 / (1 - h_i), the influence function.
RowMatrixXd glm_solve_rows(const Eigen::Ref<const RowMatrixXd>& X, const GlmFit& fit,
                           const Eigen::Ref<const Eigen::VectorXd>& c, int n_threads);

/// Exact leave-one-out of the listed rows.
struct GlmExactLoo {
  RowMatrixXd dcoef;              ///< theta-hat minus theta without row (one row per listed row)
  Eigen::VectorXd loo_eta;        ///< z_i^T theta_(i): the row's linear predictor without it
  std::vector<std::int32_t> n_iter;  ///< iterations each row took
  std::vector<std::uint8_t> converged;
};

/// Rows glm_exact_loo solves together (a function of n only, so the blocks and the bits are the
/// same for any thread count and for any split of the row list into multiples of it).
inline Index glm_exact_block_rows(Index n) { return std::clamp<Index>((Index(1) << 20) / std::max<Index>(n, 1), 8, 64); }

/// Solves every listed row's leave-one-out problem (s_i = 0) to convergence. Rows are processed in
/// fixed blocks of columns: each iteration evaluates the leave-one-out gradients of a whole block
/// with two matrix products over the data, and steps with the full fit's Hessian downdated by the
/// row (Sherman-Morrison: a chord method, O(p^2) per step). A row whose steps stop shrinking
/// switches to damped Newton on its own objective (Hessian at the iterate, backtracking line
/// search). Starts from the Newton-step estimate. Blocks are fixed by the row list, so the result
/// does not depend on n_threads. Rows that do not converge within max_iter stay NaN.
GlmExactLoo glm_exact_loo(const Eigen::Ref<const RowMatrixXd>& X, const Eigen::Ref<const Eigen::VectorXd>& y,
                          const Eigen::Ref<const Eigen::VectorXd>& w, const GlmFit& fit,
                          const std::vector<std::int64_t>& rows, int max_iter, double tol, int n_threads);

/// Tiles of glm_loss_change (training rows x test points) and glm_loss_change_topk (test points):
/// a caller that splits a long call into pieces of whole tiles gets the bits of one call.
inline constexpr Index kLossTrainTile = 256;
inline constexpr Index kLossTestTile = 64;

/// Change of each test point's loss when each training row's parameter change is applied:
/// entry (i, j) = l(y_j, eta_j - z_j^T D_i) - l(y_j, eta_j), with D row i = theta-hat - theta_(i)
/// and eta_j = z_j^T theta-hat + offset_test_j (`offset_test` of size 0: no offset).
/// Positive: removing row i raises test loss j (row i helps j). Written into `out` (n_train x n_test).
void glm_loss_change(const Eigen::Ref<const RowMatrixXd>& X_test, const Eigen::Ref<const Eigen::VectorXd>& y_test,
                     const Eigen::Ref<const Eigen::VectorXd>& offset_test, const GlmFit& fit, const Eigen::Ref<const RowMatrixXd>& D, Eigen::Ref<RowMatrixXd> out,
                     int n_threads);

/// The k most helpful (largest change) and k most harmful (smallest change) training rows per test
/// point, streamed over training rows without the n_train x n_test matrix. Ties go to the lower
/// row index. Each matrix is n_test x k.
struct GlmTopK {
  Eigen::Matrix<std::int64_t, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> helpful_idx, harmful_idx;
  RowMatrixXd helpful_val, harmful_val;
};

/// Streaming top-k of glm_loss_change (k <= n_train).
GlmTopK glm_loss_change_topk(const Eigen::Ref<const RowMatrixXd>& X_test, const Eigen::Ref<const Eigen::VectorXd>& y_test,
                             const Eigen::Ref<const Eigen::VectorXd>& offset_test, const GlmFit& fit, const Eigen::Ref<const RowMatrixXd>& D, Index k, int n_threads);

/// Newton-step removal of whole groups (Woodbury): one k x k Cholesky per group of k rows. Groups in
/// compressed form: rows indices[offsets[g] .. offsets[g+1]). `ok` is 0 where the downdated Hessian
/// is not positive definite (removing the group leaves the problem unidentified).
struct GlmGroupStep {
  RowMatrixXd dcoef;             ///< theta-hat minus the one-step estimate without the group
  std::vector<std::uint8_t> ok;
};

/// See GlmGroupStep.
GlmGroupStep glm_group_step(const Eigen::Ref<const RowMatrixXd>& X, const Eigen::Ref<const Eigen::VectorXd>& w,
                            const GlmFit& fit, const std::vector<std::int64_t>& offsets,
                            const std::vector<std::int64_t>& indices, int n_threads);

}  // namespace attrib
