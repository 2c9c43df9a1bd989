#include "attrib/linear.hpp"

#include "attrib/smw.hpp"

#include <Eigen/Cholesky>

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

namespace attrib {

namespace {

// Rows per block in the row passes. Fixed (not derived from the thread count) because Eigen's
// blocked kernels may round a row differently depending on its place in a block: with fixed
// blocks every row sees the same arithmetic whichever thread runs it. About 1 MB of doubles.
Index block_rows(Index d) { return std::clamp<Index>(131072 / std::max<Index>(d, 1), 64, 2048); }

// Copies rows [r0, r0 + m) of X into T, centred by the means when the model has an intercept.
void centred_rows(const Eigen::Ref<const RowMatrixXd>& X, const LinearFit& fit, Index r0, Index m, RowMatrixXd& T) {
  T = X.middleRows(r0, m);
  if (fit.fit_intercept) T.rowwise() -= fit.x_mean.transpose();
}

// W = T L^{-T}, so that ||W_i||^2 = xc_i^T G^{-1} xc_i. A product with the precomputed triangular
// inverse instead of a triangular solve: the same flops run about 1.4x faster (Eigen's TRMM vs
// TRSM, measured at n = 200,000, d = 100), and the inverse of a triangular factor of a matrix that
// passed the rcond check is as accurate as the solve (the oracle tests hold at rtol 1e-10).
RowMatrixXd times_chol_inv_t(const LinearFit& fit, const RowMatrixXd& T) {
  RowMatrixXd W(T.rows(), T.cols());
  W.noalias() = T * fit.chol_inv.transpose().triangularView<Eigen::Upper>();
  return W;
}

// G^{-1} = L^{-T} L^{-1}, formed once per call so that per-row work is one dense product (GEMM).
Eigen::MatrixXd gram_inverse(const LinearFit& fit) { return fit.chol_inv.transpose() * fit.chol_inv; }

void weighted_means(const Eigen::Ref<const RowMatrixXd>& X, const Eigen::Ref<const Eigen::VectorXd>& y,
                    const Eigen::Ref<const Eigen::VectorXd>& w, int n_threads, LinearFit& fit) {
  const Index n = X.rows(), d = X.cols();
  const bool unit = w.size() == 0;
  const ChunkPlan plan = plan_chunks(n, 4096, 256);
  Eigen::MatrixXd part_x = Eigen::MatrixXd::Zero(d, plan.n_chunks);
  Eigen::VectorXd part_y = Eigen::VectorXd::Zero(plan.n_chunks), part_w = Eigen::VectorXd::Zero(plan.n_chunks);
  parallel_for(plan.n_chunks, n_threads, [&](Index c) {
    const Index r0 = plan.begin(c), m = plan.end(c) - r0;
    if (unit) {
      part_x.col(c) = X.middleRows(r0, m).colwise().sum().transpose();
      part_y[c] = y.segment(r0, m).sum();
      part_w[c] = static_cast<double>(m);
    } else {
      part_x.col(c) = (X.middleRows(r0, m).transpose() * w.segment(r0, m));
      part_y[c] = w.segment(r0, m).dot(y.segment(r0, m));
      part_w[c] = w.segment(r0, m).sum();
    }
  });
  // Chunk order, not thread order: the same bits for any thread count.
  Eigen::VectorXd sx = Eigen::VectorXd::Zero(d);
  double sy = 0.0, sw = 0.0;
  for (Index c = 0; c < plan.n_chunks; ++c) {
    sx += part_x.col(c);
    sy += part_y[c];
    sw += part_w[c];
  }
  fit.sum_w = sw;
  if (fit.fit_intercept) {
    fit.x_mean = sx / sw;
    fit.y_mean = sy / sw;
  } else {
    fit.x_mean = Eigen::VectorXd::Zero(d);
    fit.y_mean = 0.0;
  }
}

// G = Xc^T W Xc (lower triangle) and b = Xc^T W (y - y-bar), summed over fixed chunks.
void gram(const Eigen::Ref<const RowMatrixXd>& X, const Eigen::Ref<const Eigen::VectorXd>& y,
          const Eigen::Ref<const Eigen::VectorXd>& w, int n_threads, const LinearFit& fit, Eigen::MatrixXd& G,
          Eigen::VectorXd& b) {
  const Index n = X.rows(), d = X.cols();
  const bool unit = w.size() == 0;
  // Each chunk keeps a d x d partial; cap their total at about 64 MB.
  const Index budget = std::max<Index>(1, (Index(64) << 20) / (8 * std::max<Index>(d * d, 1)));
  const ChunkPlan plan = plan_chunks(n, 2048, std::min<Index>(64, budget));
  std::vector<Eigen::MatrixXd> part_G(plan.n_chunks);
  Eigen::MatrixXd part_b = Eigen::MatrixXd::Zero(d, plan.n_chunks);
  const Index block = block_rows(d);
  parallel_for(plan.n_chunks, n_threads, [&](Index c) {
    Eigen::MatrixXd Gc = Eigen::MatrixXd::Zero(d, d);
    RowMatrixXd T;
    Eigen::VectorXd yc;
    for (Index r0 = plan.begin(c); r0 < plan.end(c); r0 += block) {
      const Index m = std::min(block, plan.end(c) - r0);
      centred_rows(X, fit, r0, m, T);
      yc = y.segment(r0, m).array() - fit.y_mean;
      if (!unit) {
        const Eigen::VectorXd sw = w.segment(r0, m).cwiseSqrt();
        T = sw.asDiagonal() * T;
        yc = yc.cwiseProduct(sw);
      }
      Gc.selfadjointView<Eigen::Lower>().rankUpdate(T.transpose());
      part_b.col(c).noalias() += T.transpose() * yc;
    }
    part_G[c] = std::move(Gc);
  });
  G = Eigen::MatrixXd::Zero(d, d);
  b = Eigen::VectorXd::Zero(d);
  for (Index c = 0; c < plan.n_chunks; ++c) {
    G.triangularView<Eigen::Lower>() += part_G[c];
    b += part_b.col(c);
  }
  G.triangularView<Eigen::StrictlyUpper>() = G.transpose();
}

std::string fmt(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g", v);
  return buf;
}

}  // namespace

LinearFit linear_fit(const Eigen::Ref<const RowMatrixXd>& X, const Eigen::Ref<const Eigen::VectorXd>& y,
                     const Eigen::Ref<const Eigen::VectorXd>& w, double alpha, bool fit_intercept, int n_threads,
                     Eigen::Ref<RowMatrixXd>* dfbeta) {
  const Index n = X.rows(), d = X.cols(), off = fit_intercept ? 1 : 0;
  if (dfbeta && (dfbeta->rows() != n || dfbeta->cols() != d + off))
    throw std::invalid_argument("linear_fit: dfbeta must be n x p");
  if (y.size() != n) throw std::invalid_argument("linear_fit: y must have one entry per row of X");
  if (w.size() != 0 && w.size() != n) throw std::invalid_argument("linear_fit: w must be empty or of length n");
  if (!(alpha >= 0.0)) throw std::invalid_argument("linear_fit: alpha must be >= 0");
  LinearFit fit;
  fit.fit_intercept = fit_intercept;
  weighted_means(X, y, w, n_threads, fit);
  if (!(fit.sum_w > 0.0)) throw std::domain_error("linear_fit: the weights sum to zero");

  Eigen::MatrixXd G;
  Eigen::VectorXd b;
  gram(X, y, w, n_threads, fit, G, b);
  G.diagonal().array() += alpha;

  // A zero diagonal entry is a column that carries no information (constant, or all zero).
  for (Index j = 0; j < d; ++j) {
    if (!(G(j, j) > 0.0))
      throw std::domain_error("the design is singular: column " + std::to_string(j) + " of X is " +
                              (fit_intercept ? "constant (collinear with the intercept)" : "all zeros") +
                              "; use alpha > 0 or drop the column");
  }
  // Conditioning judged after scaling G to a unit diagonal, so that columns in different units
  // do not count as ill-conditioning.
  const Eigen::VectorXd dinv = G.diagonal().cwiseSqrt().cwiseInverse();
  Eigen::LLT<Eigen::MatrixXd> scaled(dinv.asDiagonal() * G * dinv.asDiagonal());
  fit.rcond = scaled.info() == Eigen::Success ? scaled.rcond() : 0.0;
  Eigen::LLT<Eigen::MatrixXd> llt(G);
  if (llt.info() != Eigen::Success || !(fit.rcond > 10.0 * std::numeric_limits<double>::epsilon()))
    throw std::domain_error("the design is singular or numerically singular (reciprocal condition number " +
                            fmt(fit.rcond) + " of the scaled Gram matrix): columns of X are collinear" +
                            std::string(fit_intercept ? " (with each other or with the intercept)" : "") +
                            "; use alpha > 0 or remove collinear columns");
  fit.chol = llt.matrixL();
  fit.chol_inv = fit.chol.triangularView<Eigen::Lower>().solve(RowMatrixXd::Identity(d, d));
  fit.coef = llt.solve(b);
  fit.intercept = fit_intercept ? fit.y_mean - fit.x_mean.dot(fit.coef) : 0.0;

  // Leverages and residuals, one fixed block of rows at a time.
  fit.hat.resize(n);
  fit.resid.resize(n);
  const double h0 = fit_intercept ? 1.0 / fit.sum_w : 0.0;
  const bool unit = w.size() == 0;
  if (!dfbeta) {
    for_each_block(n, block_rows(d), n_threads, [&](Index r0, Index m) {
      RowMatrixXd T;
      centred_rows(X, fit, r0, m, T);
      fit.resid.segment(r0, m) = (y.segment(r0, m).array() - fit.y_mean).matrix() - T * fit.coef;
      Eigen::VectorXd h = times_chol_inv_t(fit, T).rowwise().squaredNorm().array() + h0;
      if (!unit) h = h.cwiseProduct(w.segment(r0, m));
      fit.hat.segment(r0, m) = h;
    });
    return fit;
  }
  // With dfbeta wanted now, one GEMM per block gives both: V = Xc G^{-1} holds the dfbeta rows up
  // to their scale, and h_i = w_i (xc_i . V_i + h0). This skips the separate leverage product.
  const Eigen::MatrixXd Ginv = gram_inverse(fit);
  Eigen::Ref<RowMatrixXd>& out = *dfbeta;
  for_each_block(n, block_rows(d), n_threads, [&](Index r0, Index m) {
    RowMatrixXd T;
    centred_rows(X, fit, r0, m, T);
    const Eigen::VectorXd e = (y.segment(r0, m).array() - fit.y_mean).matrix() - T * fit.coef;
    // The product goes to a contiguous block-sized buffer: GEMM into the (n x (d + 1))-strided
    // output directly runs slower, and the buffer is still in cache when it is scaled out.
    RowMatrixXd V(m, d);
    V.noalias() = T * Ginv;
    Eigen::VectorXd h = V.cwiseProduct(T).rowwise().sum().array() + h0;
    Eigen::VectorXd c = e.array() / (1.0 - h.array());
    if (!unit) {
      h = h.cwiseProduct(w.segment(r0, m));
      c = w.segment(r0, m).cwiseProduct(e).array() / (1.0 - h.array());
    }
    auto coef_part = out.block(r0, off, m, d);
    coef_part = c.asDiagonal() * V;
    if (off) out.col(0).segment(r0, m) = c / fit.sum_w - coef_part * fit.x_mean;
    fit.resid.segment(r0, m) = e;
    fit.hat.segment(r0, m) = h;
  });
  return fit;
}

void linear_dfbeta(const Eigen::Ref<const RowMatrixXd>& X, const LinearFit& fit, const Eigen::Ref<const Eigen::VectorXd>& c,
                   Eigen::Ref<RowMatrixXd> out, int n_threads) {
  const Index n = X.rows(), d = X.cols(), off = fit.fit_intercept ? 1 : 0;
  if (c.size() != n || fit.coef.size() != d || out.rows() != n || out.cols() != d + off)
    throw std::invalid_argument("linear_dfbeta: shapes do not match the fit");
  const Eigen::MatrixXd Ginv = gram_inverse(fit);
  for_each_block(n, block_rows(d), n_threads, [&](Index r0, Index m) {
    RowMatrixXd T;
    centred_rows(X, fit, r0, m, T);
    // Scale the block while it is in cache, and multiply into a contiguous buffer rather than the
    // (n x (d + 1))-strided output, where the GEMM runs slower.
    T = c.segment(r0, m).asDiagonal() * T;
    RowMatrixXd V(m, d);
    V.noalias() = T * Ginv;  // rows c_i xc_i^T G^{-1}
    auto coef_part = out.block(r0, off, m, d);
    coef_part = V;
    // Intercept of the original parametrisation: b = y-bar - x-bar^T beta.
    if (off) out.col(0).segment(r0, m) = c.segment(r0, m) / fit.sum_w - coef_part * fit.x_mean;
  });
}

void linear_prediction_change(const Eigen::Ref<const RowMatrixXd>& X, const Eigen::Ref<const RowMatrixXd>& X_test,
                              const LinearFit& fit, const Eigen::Ref<const Eigen::VectorXd>& c,
                              Eigen::Ref<RowMatrixXd> out, int n_threads) {
  const Index n = X.rows(), d = X.cols(), m_test = X_test.rows();
  if (c.size() != n || X_test.cols() != d || fit.coef.size() != d || out.rows() != n || out.cols() != m_test)
    throw std::invalid_argument("linear_prediction_change: shapes do not match the fit");
  RowMatrixXd Xt;
  centred_rows(X_test, fit, 0, m_test, Xt);
  const Eigen::MatrixXd Q = gram_inverse(fit) * Xt.transpose();  // d x m_test: G^{-1} xc_j
  const double h0 = fit.fit_intercept ? 1.0 / fit.sum_w : 0.0;
  for_each_block(n, block_rows(std::max(d, m_test)), n_threads, [&](Index r0, Index m) {
    RowMatrixXd T;
    centred_rows(X, fit, r0, m, T);
    auto blk = out.middleRows(r0, m);
    blk.noalias() = T * Q;
    blk.array() += h0;
    blk = c.segment(r0, m).asDiagonal() * blk;
  });
}

GroupLoo linear_group_loo(const Eigen::Ref<const RowMatrixXd>& X, const Eigen::Ref<const Eigen::VectorXd>& w,
                          const LinearFit& fit, const std::vector<std::int64_t>& offsets,
                          const std::vector<std::int64_t>& indices, int n_threads) {
  const Index n = X.rows(), d = X.cols(), off = fit.fit_intercept ? 1 : 0;
  check_groups(offsets, indices, n, "linear_group_loo");
  const Index n_groups = static_cast<Index>(offsets.size()) - 1;
  const bool unit = w.size() == 0;
  const double h0 = fit.fit_intercept ? 1.0 / fit.sum_w : 0.0;

  GroupLoo res;
  res.dfbeta = RowMatrixXd::Constant(n_groups, d + off, std::numeric_limits<double>::quiet_NaN());
  res.loo_resid = Eigen::VectorXd::Constant(static_cast<Index>(indices.size()), std::numeric_limits<double>::quiet_NaN());
  res.ok.assign(static_cast<std::size_t>(n_groups), 0);
  parallel_for(n_groups, n_threads, [&](Index g) {
    const Index start = offsets[g], k = offsets[g + 1] - offsets[g];
    RowMatrixXd T(k, d);
    Eigen::VectorXd e(k), sd(k);
    for (Index a = 0; a < k; ++a) {
      const Index i = indices[start + a];
      T.row(a) = X.row(i) - fit.x_mean.transpose();  // x_mean is 0 without an intercept
      e[a] = fit.resid[i];
      sd[a] = unit ? 1.0 : std::sqrt(w[i]);
    }
    const RowMatrixXd W = times_chol_inv_t(fit, T);  // k x d, W W^T = Xc_G G^{-1} Xc_G^T
    Eigen::MatrixXd K = W * W.transpose();
    K.array() += h0;
    Eigen::VectorXd r(k);
    if (!woodbury_group_residuals(K, sd, e, r)) return;  // stays NaN, ok = 0
    // beta - beta_(G) = G^{-1} Xc_G^T S_G r; intercept change in centred coordinates sum(S r)/sum_w.
    const Eigen::VectorXd sr = r.cwiseProduct(sd).cwiseProduct(sd);
    const Eigen::VectorXd u = fit.chol_inv.transpose().triangularView<Eigen::Upper>() * (W.transpose() * sr);
    res.dfbeta.row(g).segment(off, d) = u.transpose();
    if (off) res.dfbeta(g, 0) = sr.sum() / fit.sum_w - fit.x_mean.dot(u);
    res.loo_resid.segment(start, k) = r;
    res.ok[static_cast<std::size_t>(g)] = 1;
  });
  return res;
}

}  // namespace attrib
