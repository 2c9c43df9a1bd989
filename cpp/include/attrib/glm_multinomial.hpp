// Multinomial (softmax) logistic regression: a penalised Newton fit of scikit-learn's multinomial
// LogisticRegression objective, and leave-one-out by one Newton step (a K x K Woodbury solve per
// row), by the influence function, or exactly (Newton iterations on every leave-one-out problem).
//
// The objective, in the sum convention (scikit-learn's objective divided by C):
//   F(Theta) = sum_i s_i [logsumexp(eta_i) - eta_{i, y_i}] + (l2 / 2) sum_k ||beta_k||^2,
//   eta_ik = z_i^T theta_k,  z_i = (1, x_i) (intercept first) or x_i,
// with K classes, theta_k = (b_k, beta_k) and l2 = 1 / C (0: unpenalised). Parameters are stored
// class-major: theta = (theta_0, ..., theta_{K-1}), P = K p entries, p = d (+ 1). The loss is
// invariant under adding one vector to every theta_k in the unpenalised coordinates (the
// intercepts; every coordinate when l2 = 0), so F alone has a flat direction per unpenalised
// coordinate. attrib fixes it as scikit-learn does (symmetric parametrisation: those coordinates
// sum to zero over the classes) by adding the gauge term (gamma / 2) sum_a (sum_k theta_ka)^2
// over the unpenalised coordinates a. The gauge term vanishes at the symmetric optimum, leaves
// every prediction unchanged, and makes the Hessian positive definite; its flat directions are
// eigenvectors of every row's Hessian term with eigenvalue 0, so every gradient, Newton step and
// leave-one-out step below is orthogonal to them and removing a row keeps the symmetric gauge.
//
// Row i's Hessian term is s_i (A_i kron z_i z_i^T) with A_i = diag(pi_i) - pi_i pi_i^T (rank K - 1),
// which factors as A_i = B_i B_i^T with B_i = diag(sqrt(pi_i)) - pi_i sqrt(pi_i)^T. Removing row i is
// then a K x K Woodbury solve on the full fit's (K p) x (K p) Hessian inverse.
#pragma once

#include "attrib/common.hpp"

#include <algorithm>
#include <cstdint>
#include <vector>

namespace attrib {

/// A fitted multinomial model plus what the leave-one-out formulas need.
struct MultinomialFit {
  Index n_classes = 0;
  bool fit_intercept = true;
  double l2 = 0.0;             ///< penalty on the coefficients: 1 / C, 0 when unpenalised
  Eigen::VectorXd gauge;       ///< gamma_a of the gauge term per coordinate a of theta_k (p; 0: penalised)
  RowMatrixXd coef;            ///< K x d
  Eigen::VectorXd intercept;   ///< K (zeros without an intercept)
  RowMatrixXd chol;            ///< lower Cholesky factor L of the gauge-augmented Hessian (P x P)
  RowMatrixXd hess_inv;        ///< H^{-1} (P x P, symmetric)
  RowMatrixXd prob;            ///< n x K class probabilities of the training rows at the optimum
  double objective = 0.0;      ///< F at the optimum (without the gauge term, which is 0 there)
  double grad_max = 0.0;       ///< max |dF/dtheta| at the returned theta
  double step_max = 0.0;       ///< max |Newton step| of the last iteration
  int n_iter = 0;
  bool converged = false;
  double rcond = 0.0;          ///< reciprocal condition estimate of H scaled to a unit diagonal

  Index n_params_per_class() const { return coef.cols() + (fit_intercept ? 1 : 0); }
  /// theta, class-major (P).
  Eigen::VectorXd theta() const;
};

/// Settings of multinomial_fit.
struct MultinomialFitOptions {
  Index n_classes = 2;      ///< K: labels are codes 0 .. K - 1
  double l2 = 0.0;          ///< 1 / C, 0 when unpenalised
  bool fit_intercept = true;
  int max_iter = 100;       ///< Newton iterations at most
  double tol = 1e-10;       ///< stop once the Newton step is below tol * (1 + max |theta|)
  bool polish = false;      ///< take the final step and recompute the Hessian there (the rounding floor)
  int n_threads = 0;        ///< 0: the OpenMP default
};

/// Penalised Newton fit with a backtracking line search, from `start` (P, class-major) or, when it
/// is empty, from zero coefficients and the null model's intercepts. `y` holds class codes
/// 0 .. K - 1 as doubles; `w` of size 0 means unit weights. Throws std::invalid_argument for bad
/// shapes or codes and std::domain_error for a singular Hessian or perfect separation (l2 = 0).
/// Bitwise identical for any n_threads (fixed row chunks, summed in order).
MultinomialFit multinomial_fit(const Eigen::Ref<const RowMatrixXd>& X, const Eigen::Ref<const Eigen::VectorXd>& y,
                               const Eigen::Ref<const Eigen::VectorXd>& w, const Eigen::Ref<const Eigen::VectorXd>& start,
                               const MultinomialFitOptions& options);

/// Which leave-one-out step multinomial_loo_rows forms.
enum class MultinomialStep : int {
  newton = 1,     ///< one Newton step: theta-hat - theta_(i) = -s_i H_(i)^{-1} Z_i r_i (Woodbury)
  influence = 2,  ///< influence function: -s_i H^{-1} Z_i r_i
};

/// Per-row results of multinomial_loo_rows besides the steps.
struct MultinomialLooRows {
  Eigen::VectorXd hat;      ///< generalised leverage trace(s_i A_i Q_i), Q_i = Z_i^T H^{-1} Z_i (K x K)
  Eigen::VectorXd step_sq;  ///< ||step_i||_H^2 (NaN where the step is undefined)
  std::vector<std::uint8_t> leverage_one;  ///< 1 where H_(i) is not positive definite (the step is NaN)
};

/// Leverages and the chosen step of every row (n x P written into `dcoef`, class-major, each
/// class's intercept first), in one pass over blocks of rows: one GEMM of the block's design
/// with H^{-1} rearranged gives every row's H^{-1} Z_i, then a K x K Cholesky per row.
MultinomialLooRows multinomial_loo_rows(const Eigen::Ref<const RowMatrixXd>& X, const Eigen::Ref<const Eigen::VectorXd>& y,
                                        const Eigen::Ref<const Eigen::VectorXd>& w, const MultinomialFit& fit,
                                        MultinomialStep step, Eigen::Ref<RowMatrixXd> dcoef, int n_threads);

/// Exact leave-one-out of the listed rows.
struct MultinomialExactLoo {
  RowMatrixXd dcoef;                  ///< theta-hat minus theta without the row (one row per listed row, P)
  std::vector<std::int32_t> n_iter;
  std::vector<std::uint8_t> converged;
};

/// Rows multinomial_exact_loo solves together (a function of n and K only, so blocks and bits are
/// the same for any thread count and any split of the row list into multiples of it).
inline Index multinomial_exact_block_rows(Index n, Index n_classes) {
  return std::clamp<Index>((Index(1) << 20) / std::max<Index>(n * std::max<Index>(n_classes, 1), 1), 4, 32);
}

/// Solves every listed row's leave-one-out problem (s_i = 0, l2 fixed) to convergence: blocks of
/// rows share two matrix products over the data per iteration (the leave-one-out gradients), and
/// each row steps with the full fit's Hessian downdated by its K x K Woodbury term (a chord
/// method); a row whose steps stop shrinking switches to damped Newton on its own objective.
/// Starts from the Newton-step estimate. Rows that do not converge within max_iter stay NaN.
MultinomialExactLoo multinomial_exact_loo(const Eigen::Ref<const RowMatrixXd>& X, const Eigen::Ref<const Eigen::VectorXd>& y,
                                          const Eigen::Ref<const Eigen::VectorXd>& w, const MultinomialFit& fit,
                                          const std::vector<std::int64_t>& rows, int max_iter, double tol, int n_threads);

/// Tiles of multinomial_loss_change (training rows x test points) and of its top-k (test points):
/// a caller that splits a long call into pieces of whole tiles gets the bits of one call.
inline constexpr Index kMultinomialLossTrainTile = 128;
inline constexpr Index kMultinomialLossTestTile = 64;

/// Change of each test point's cross-entropy when each training row's parameter change is applied:
/// entry (i, j) = l(y_j, Theta-hat - D_i) - l(y_j, Theta-hat), D row i = theta-hat - theta_(i) (P,
/// class-major). Positive: removing row i raises test loss j (row i helps j). Computed in tiles.
void multinomial_loss_change(const Eigen::Ref<const RowMatrixXd>& X_test, const Eigen::Ref<const Eigen::VectorXd>& y_test,
                             const MultinomialFit& fit, const Eigen::Ref<const RowMatrixXd>& D, Eigen::Ref<RowMatrixXd> out,
                             int n_threads);

/// The k most helpful and k most harmful training rows per test point, streamed (n_test x k each).
struct MultinomialTopK {
  Eigen::Matrix<std::int64_t, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> helpful_idx, harmful_idx;
  RowMatrixXd helpful_val, harmful_val;
};

/// Streaming top-k of multinomial_loss_change (k <= n_train); ties go to the lower row index, NaN last.
MultinomialTopK multinomial_loss_change_topk(const Eigen::Ref<const RowMatrixXd>& X_test,
                                             const Eigen::Ref<const Eigen::VectorXd>& y_test, const MultinomialFit& fit,
                                             const Eigen::Ref<const RowMatrixXd>& D, Index k, int n_threads);

/// Newton-step removal of whole groups (Woodbury, one (k K) x (k K) Cholesky per group of k rows),
/// groups in compressed form as glm_group_step. `ok` is 0 where the downdated Hessian is not
/// positive definite.
struct MultinomialGroupStep {
  RowMatrixXd dcoef;
  std::vector<std::uint8_t> ok;
};

MultinomialGroupStep multinomial_group_step(const Eigen::Ref<const RowMatrixXd>& X, const Eigen::Ref<const Eigen::VectorXd>& y,
                                            const Eigen::Ref<const Eigen::VectorXd>& w, const MultinomialFit& fit,
                                            const std::vector<std::int64_t>& offsets,
                                            const std::vector<std::int64_t>& indices, int n_threads);

}  // namespace attrib
