// Datamodels (Ilyas et al. 2022): random training subsets, one model retrained per subset with
// each target point's output recorded, and a sparse linear regression of those outputs on the
// subset masks.
//
// Masks are bit-packed: subset s, point i is bit (i % 8) of byte (i / 8) of row s (numpy's
// packbits with bitorder="little"). Every mask is a pure function of (seed, sampler, alpha, n,
// subset id) through the counter-based Philox stream (random.hpp), so any block of ids, on any
// thread or process, draws the same bits.
#pragma once

#include "attrib/common.hpp"
#include "attrib/semivalues.hpp"  // CancelToken

#include <cstdint>
#include <vector>

namespace attrib {

using ByteRowMatrix = Eigen::Matrix<std::uint8_t, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using RankRowMatrix = Eigen::Matrix<std::int32_t, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// ---------------------------------------------------------------------------------------------
// Subsets
// ---------------------------------------------------------------------------------------------

/// How a subset is drawn.
enum class SubsetSampler : int {
  fixed = 0,      ///< exactly fixed_subset_size(n, alpha) points, uniformly without replacement
  bernoulli = 1,  ///< each point independently with probability alpha
};

/// Points in a fixed-size subset: floor(alpha n + 0.5) (alpha n rounded half up).
Index fixed_subset_size(Index n, double alpha);

/// Bytes per packed mask row: ceil(n / 8).
inline Index packed_bytes(Index n) { return (n + 7) / 8; }

/// Writes subset `id` as packed bits into out[0 .. packed_bytes(n)), padding bits zero.
/// fixed: a partial Fisher-Yates shuffle of 0..n-1 drawn from the stream
///   (seed, kDatamodelFixed, id) picks min(k, n - k) points (k = fixed_subset_size); they are the
///   subset when k <= n - k, else its complement.
/// bernoulli: point i is in when the i-th 53-bit uniform u_i (two 32-bit words, high word first,
///   top 53 bits) of the stream (seed, kDatamodelBernoulli, id) satisfies u_i * 2^-53 < alpha.
/// n must be below 2^32 and alpha in (0, 1).
void draw_subset(std::uint64_t seed, std::uint64_t id, SubsetSampler sampler, double alpha, Index n,
                 std::uint8_t* out);

/// Subsets first_id .. first_id + count - 1 (count x packed_bytes(n)), in parallel over subsets.
ByteRowMatrix draw_subsets(std::uint64_t seed, std::uint64_t first_id, Index count, SubsetSampler sampler,
                           double alpha, Index n, int n_threads);

/// True when point i is in mask row `row` (a pointer to packed_bytes(n) bytes).
inline bool mask_bit(const std::uint8_t* row, Index i) { return (row[i >> 3] >> (i & 7)) & 1u; }

// ---------------------------------------------------------------------------------------------
// Retraining
// ---------------------------------------------------------------------------------------------

/// The built-in learners retrained on each subset.
enum class RetrainModel : int {
  logistic = 0,  ///< L2 logistic regression: scikit-learn's LogisticRegression(C), intercept unpenalised
  ridge = 1,     ///< ridge regression: scikit-learn's Ridge(alpha)
  knn = 2,       ///< K-nearest-neighbour classifier, uniform weights (KNeighborsClassifier)
};

/// Settings of retrain_subsets.
struct RetrainOptions {
  RetrainModel model = RetrainModel::logistic;
  double l2 = 1.0;            ///< logistic: 1 / C; ridge: alpha (>= 0; 0 needs a nonsingular Gram)
  bool fit_intercept = true;  ///< logistic and ridge
  int max_iter = 100;         ///< logistic: Newton iterations at most
  double tol = 1e-10;         ///< logistic: Newton step tolerance (the fit is then polished)
  Index k = 5;                ///< knn: neighbours (a subset smaller than k votes with all its points)
  Index n_classes = 2;        ///< knn: labels are codes 0 .. n_classes - 1
  int n_threads = 0;          ///< 0: the OpenMP default
};

/// Outputs of a block of retrained models, one row per subset and one column per target.
///  logistic: margin = the decision function signed by the target label (+ for 1, - for 0),
///            loss = log-loss, correct = 1 when the predicted class is the label;
///  ridge:    margin = the prediction, loss = squared error, correct = NaN (a regressor);
///  knn:      with p_c the fraction of the neighbours of class c, margin = p_y - max_{c != y} p_c,
///            loss = 1 - p_y, correct = 1 when the vote (ties: the lowest class code) is the label.
struct RetrainBlock {
  RowMatrixXd margin, loss, correct;
  std::vector<std::int32_t> n_iter;     ///< logistic: Newton iterations per subset (else 0)
  std::vector<std::uint8_t> converged;  ///< logistic: 1 when the fit met its tolerance (else 1)
  bool cancelled = false;               ///< the token was set: the block is incomplete
};

/// Retrains the built-in model on every mask row of `masks` (count x packed_bytes(n)) and records
/// the targets' outputs. X (n x d), y (n: 0/1 for logistic, real for ridge, class codes for knn),
/// X_target (T x d), y_target (T; knn: codes, -1 for a label absent from y). logistic: `start` is
/// the full-data fit (b, beta) the subset fits are warm-started from. knn: `knn_order` (T x n)
/// lists the training points by distance to each target (nearest first); empty otherwise.
/// Subsets run in parallel, each on one thread from the same start, so every row is bitwise the
/// same for any n_threads and any split of the masks into blocks. Throws std::invalid_argument
/// naming the subset (its row in `masks` plus `first_id`) for an empty subset, a logistic subset
/// with one class, or a singular ridge Gram matrix.
RetrainBlock retrain_subsets(const Eigen::Ref<const RowMatrixXd>& X, const Eigen::Ref<const Eigen::VectorXd>& y,
                             const Eigen::Ref<const RowMatrixXd>& X_target,
                             const Eigen::Ref<const Eigen::VectorXd>& y_target,
                             const Eigen::Ref<const ByteRowMatrix>& masks, std::int64_t first_id,
                             const Eigen::Ref<const Eigen::VectorXd>& start,
                             const Eigen::Ref<const RankRowMatrix>& knn_order, const RetrainOptions& options,
                             const CancelToken* cancel = nullptr);

// ---------------------------------------------------------------------------------------------
// Datamodel regression (lasso path by coordinate descent on the standardised masks)
// ---------------------------------------------------------------------------------------------

/// Some rows (subsets) of a mask matrix as a dense 0/1 design with, per column, the number of
/// subsets holding the point, its mean and population standard deviation, and (when asked) the
/// standardised Gram matrix G = Xs^T Xs / rows, Xs = (X - mu) / sigma. Columns with sigma = 0 (a
/// point in every subset or in none) are zero in Xs: their datamodel weight is 0.
struct MaskDesign {
  Index rows = 0, cols = 0;
  RowMatrixXd X;            ///< rows x cols, entries 0 / 1
  Eigen::VectorXd count;    ///< subsets holding each point
  Eigen::VectorXd mu;       ///< count / rows
  Eigen::VectorXd sigma;    ///< sqrt(mu (1 - mu))
  RowMatrixXd G;            ///< cols x cols, or empty
};

/// The design of rows `rows` of `masks` (packed, n points). G is formed from exact integer
/// co-occurrence counts: G_jk = (r N_jk - S_j S_k) / sqrt((r S_j - S_j^2)(r S_k - S_k^2)).
MaskDesign mask_design(const Eigen::Ref<const ByteRowMatrix>& masks, Index n, const std::vector<std::int64_t>& rows,
                       bool gram, int n_threads);

/// Settings of the lasso kernels. Objective per target, in standardised coordinates w:
///   (1 / 2r) || y - ybar - Xs w ||^2 + lambda || w ||_1   (scikit-learn's Lasso(alpha=lambda)),
/// solved by cyclic coordinate descent on the Gram matrix with the sequential strong rule, an
/// active-set inner loop and a KKT check over every coordinate. A lambda stops once a full sweep
/// moves no weight by more than tol * sd(y) (weights measured in standardised units).
struct LassoOptions {
  Index n_lambdas = 100;     ///< path: lambdas from lambda_max down to eps * lambda_max, geometric
  double eps = 1e-3;
  double tol = 1e-7;
  Index max_sweeps = 100000; ///< coordinate sweeps per lambda at most
  bool early_stop = true;    ///< path: stop once the validation error has not improved for `patience`
  Index min_lambdas = 10;    ///< ... lambdas, and at least this many were tried
  Index patience = 3;
  int n_threads = 0;
};

/// Targets per block: each block's targets are centred and correlated with the masks in one
/// matrix product, so blocks (and the bits) depend on the target index only; callers that split
/// the targets into calls do so at multiples of this.
constexpr Index kLassoBlockTargets = 32;

/// Per-target lasso results; weights are on the original 0/1 scale: y ~ intercept + masks . weights.
struct LassoResult {
  RowMatrixXd weights;          ///< n x T
  Eigen::VectorXd intercept;    ///< T
  Eigen::VectorXd lambda;       ///< T: the lambda of the returned weights
  RowMatrixXd lambdas;          ///< T x n_lambdas: the path grid (path only; NaN where not reached)
  RowMatrixXd val_mse;          ///< T x n_lambdas: validation mean squared error along the path
  std::vector<std::int64_t> sweeps;     ///< coordinate sweeps per target
  std::vector<std::uint8_t> converged;  ///< 0 where some lambda hit max_sweeps
  bool cancelled = false;
};

/// The lasso path of every column of Y (train.rows x T) on `train` (which needs G), each target
/// on its own grid lambda_max * eps^(k / (n_lambdas - 1)), lambda_max = max_j |Xs_j^T (y - ybar)| / r
/// (the smallest lambda with w = 0). At every lambda the validation MSE of the unstandardised
/// model on `val` (val.rows x cols, Y_val val.rows x T) is recorded; the returned weights are at
/// the lambda of least validation error. With early_stop the path ends once that error has not
/// improved for `patience` lambdas (after at least `min_lambdas`).
LassoResult lasso_path(const MaskDesign& train, const Eigen::Ref<const RowMatrixXd>& Y, const MaskDesign& val,
                       const Eigen::Ref<const RowMatrixXd>& Y_val, const LassoOptions& options,
                       const CancelToken* cancel = nullptr);

/// The lasso of every column of Y (design.rows x T) at its own lambda (lambdas, size T), on
/// `design` (which needs G). `warm` (n x T, original scale, or empty) is a starting point; without
/// one each target walks a geometric grid from lambda_max down to its lambda (10 per decade).
LassoResult lasso_at(const MaskDesign& design, const Eigen::Ref<const RowMatrixXd>& Y,
                     const Eigen::Ref<const Eigen::VectorXd>& lambdas, const Eigen::Ref<const RowMatrixXd>& warm,
                     const LassoOptions& options, const CancelToken* cancel = nullptr);

}  // namespace attrib
