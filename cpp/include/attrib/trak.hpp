// TRAK scoring: per checkpoint, the kernel G = Phi^T W Phi + lambda I of the projected-gradient
// features Phi (n x k, float32), factored by Cholesky in float64, and scores
//   out(i, j) += s_i * phi_i^T G^{-1} phi_test_j
// formed in tiles of training rows. The facade streams the training rows in fixed chunks (so a
// memory-mapped Phi larger than memory works, and Ctrl-C takes effect between calls) and sums the
// checkpoints in the order they were added, which keeps every result bitwise the same for any
// thread count. W is the identity for TRAK's estimator and diag(p (1 - p)) for the Newton-step one.
#pragma once

#include "attrib/common.hpp"

#include <cstdint>

namespace attrib {

/// numpy's C order for float32 features.
using RowMatrixXf = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
/// numpy's C order for int64 row indices.
using RowMatrixXi64 = Eigen::Matrix<std::int64_t, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

/// Side of the square tiles of G that one task updates (a function of nothing but this constant, so
/// the summation order of every entry is fixed).
constexpr Index kTrakGramTile = 256;
/// Training rows per task in trak_score_rows and trak_quad.
constexpr Index kTrakRowTile = 256;

/// G += Phi^T diag(w) Phi over the rows given (float64 accumulation of float32 features: each
/// product of two float32 numbers is exact in float64). `w` of size 0: unit weights. `G` is k x k;
/// only its lower triangle is updated (trak_factor reads only that). Rows are summed in the order
/// given; each tile of G is one task, so the bits do not depend on n_threads.
void trak_gram(const Eigen::Ref<const RowMatrixXf>& Phi, const Eigen::Ref<const Eigen::VectorXd>& w,
               Eigen::Ref<RowMatrixXd> G, int n_threads);

/// Rows per float32 partial product in trak_gram_f32: each tile's products are summed in float32
/// over this many rows, and the partial sums added in float64 (error ~ sqrt(rows) 2^-24 per entry
/// rather than sqrt(n) 2^-24 for one float32 sum over all rows).
constexpr Index kTrakF32Block = 256;

/// trak_gram's float32 variant (TRAK(compute_dtype=float32)): the same lower triangle of
/// Phi^T diag(w) Phi, products and sums over blocks of kTrakF32Block rows in float32 GEMM (about
/// twice the float64 rate), the block sums accumulated into G in float64. The weights are applied
/// in float64 and rounded to float32 with the features. Bitwise the same for any n_threads.
void trak_gram_f32(const Eigen::Ref<const RowMatrixXf>& Phi, const Eigen::Ref<const Eigen::VectorXd>& w,
                   Eigen::Ref<RowMatrixXd> G, int n_threads);

/// A factored kernel.
struct TrakFactor {
  RowMatrixXd chol;    ///< lower Cholesky factor L of G + lambda I (k x k)
  double rcond = 0.0;  ///< reciprocal condition number estimate of G + lambda I (1-norm, LAPACK style)
  double norm1 = 0.0;  ///< 1-norm of G + lambda I
  bool ok = false;     ///< false: G + lambda I is not (numerically) positive definite; chol is empty
};

/// Cholesky of G + lambda I, G's lower triangle (from trak_gram) read.
TrakFactor trak_factor(const Eigen::Ref<const RowMatrixXd>& G, double lambda);

/// Rows Y_j = (G^{-1} phi_test_j)^T (T x k, float64) for the test features (T x k).
RowMatrixXd trak_solve(const Eigen::Ref<const RowMatrixXd>& chol, const Eigen::Ref<const RowMatrixXf>& Phi_test,
                       int n_threads);

/// out(i, j) (+)= s_i phi_i^T Y_j for the given training rows (m x k) and solved test rows Y (T x k):
/// `accumulate` adds into `out` (m x T), otherwise overwrites it. `s` of size 0: unit scale.
void trak_score_rows(const Eigen::Ref<const RowMatrixXf>& Phi, const Eigen::Ref<const Eigen::VectorXd>& s,
                     const Eigen::Ref<const RowMatrixXd>& Y, Eigen::Ref<RowMatrixXd> out, bool accumulate,
                     int n_threads);

/// trak_score_rows in float32: out(i, j) (+)= s_i (phi_i^T Y_j) with the product phi_i^T Y_j a
/// float32 GEMM of the float32 features and the solved test rows rounded to float32 (Y32, T x k);
/// the scale s_i and the sum over checkpoints stay float64.
void trak_score_rows_f32(const Eigen::Ref<const RowMatrixXf>& Phi, const Eigen::Ref<const Eigen::VectorXd>& s,
                         const Eigen::Ref<const RowMatrixXf>& Y32, Eigen::Ref<RowMatrixXd> out, bool accumulate,
                         int n_threads);

/// q_i = phi_i^T G^{-1} phi_i for the given rows (self-influence, leverages).
Eigen::VectorXd trak_quad(const Eigen::Ref<const RowMatrixXf>& Phi, const Eigen::Ref<const RowMatrixXd>& chol,
                          int n_threads);

/// Running top-k over blocks of training rows, the k largest (`hi_*`) and k smallest (`lo_*`)
/// scores per test point, best first (T x k each). Slots with index -1 are empty (the facade starts
/// with all empty). `tile` (m x T) holds the scores of training rows r0 .. r0 + m - 1. NaN ranks
/// last; ties go to the lower row index, so the answer depends neither on n_threads nor on how
/// the rows are split into tiles (as long as tiles come in row order).
void trak_topk_update(const Eigen::Ref<const RowMatrixXd>& tile, std::int64_t r0, Eigen::Ref<RowMatrixXd> hi_val,
                      Eigen::Ref<RowMatrixXi64> hi_idx, Eigen::Ref<RowMatrixXd> lo_val,
                      Eigen::Ref<RowMatrixXi64> lo_idx, int n_threads);

}  // namespace attrib
