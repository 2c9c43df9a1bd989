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

// Power of two at or above |v| (1 for 0 and non-finite values): scaling by it is exact.
double pow2_above(double v) {
  v = std::abs(v);
  if (!(v > 0.0) || !std::isfinite(v)) return 1.0;
  int e = 0;
  std::frexp(v, &e);  // v = f 2^e, f in [0.5, 1)
  return std::ldexp(1.0, e);
}

// Copies rows [r0, r0 + m) of X into T, centred ((x - x_mean) - x_mean_lo) when the model has an
// intercept and scaled by 1 / col_scale (exact: powers of two). One fused pass over the block.
void centred_rows(const Eigen::Ref<const RowMatrixXd>& X, const LinearFit& fit, const Eigen::RowVectorXd& dinv, Index r0,
                  Index m, RowMatrixXd& T) {
  if (fit.fit_intercept)
    T = (((X.middleRows(r0, m).rowwise() - fit.x_mean.transpose()).rowwise() - fit.x_mean_lo.transpose()).array().rowwise() *
         dinv.array())
            .matrix();
  else
    T = (X.middleRows(r0, m).array().rowwise() * dinv.array()).matrix();
}

Eigen::RowVectorXd inverse_scale(const LinearFit& fit) { return fit.col_scale.cwiseInverse().transpose(); }

// W = T L^{-T}, so that ||W_i||^2 = t_i^T G_s^{-1} t_i. A product with the precomputed triangular
// inverse instead of a triangular solve: the same flops run about 1.4x faster (Eigen's TRMM vs
// TRSM, measured at n = 200,000, d = 100), and the inverse of a triangular factor of a matrix that
// passed the rcond check is as accurate as the solve (the oracle tests hold at rtol 1e-10).
RowMatrixXd times_chol_inv_t(const LinearFit& fit, const RowMatrixXd& T) {
  RowMatrixXd W(T.rows(), T.cols());
  W.noalias() = T * fit.chol_inv.transpose().triangularView<Eigen::Upper>();
  return W;
}

// G_s^{-1} = L^{-T} L^{-1}, formed once per call so that per-row work is one dense product (GEMM).
Eigen::MatrixXd gram_inverse(const LinearFit& fit) { return fit.chol_inv.transpose() * fit.chol_inv; }

// Weighted mean of each column (the centre), the largest |x| of each column and the sums of w, w y.
// Fixed order: rows in sequence within fixed chunks, chunks added in chunk order, with no
// vectorised horizontal reduction whose peeling would depend on the addresses of X, y or w.
void weighted_means(const Eigen::Ref<const RowMatrixXd>& X, const Eigen::Ref<const Eigen::VectorXd>& y,
                    const Eigen::Ref<const Eigen::VectorXd>& w, int n_threads, bool fingerprint, LinearFit& fit,
                    Eigen::VectorXd& max_abs) {
  const Index n = X.rows(), d = X.cols();
  const bool unit = w.size() == 0;
  const ChunkPlan plan = plan_chunks(n, 4096, 256);
  Eigen::MatrixXd part_x = Eigen::MatrixXd::Zero(d, plan.n_chunks), part_m = Eigen::MatrixXd::Zero(d, plan.n_chunks);
  Eigen::VectorXd part_y = Eigen::VectorXd::Zero(plan.n_chunks), part_w = Eigen::VectorXd::Zero(plan.n_chunks);
  std::vector<FingerprintSums> part_fx(plan.n_chunks), part_fw(plan.n_chunks);
  const bool contiguous = X.outerStride() == d;
  constexpr Index kSub = 64;  // rows checksummed together, while the means loop left them in L1
  parallel_for(plan.n_chunks, n_threads, [&](Index c) {
    Eigen::RowVectorXd sx = Eigen::RowVectorXd::Zero(d), mx = Eigen::RowVectorXd::Zero(d);
    double sy = 0.0, sw = 0.0;
    FingerprintSums fx;
    for (Index s0 = plan.begin(c); s0 < plan.end(c); s0 += kSub) {
      const Index s1 = std::min(s0 + kSub, plan.end(c));
      for (Index i = s0; i < s1; ++i) {
        const double wi = unit ? 1.0 : w[i];
        if (unit)
          sx += X.row(i);
        else
          sx += wi * X.row(i);
        mx = mx.cwiseMax(X.row(i).cwiseAbs());
        sy += wi * y[i];
        sw += wi;
      }
      if (fingerprint && contiguous) {
        fx.append(FingerprintSums::of(X.data() + s0 * d, static_cast<std::size_t>((s1 - s0) * d),
                                      static_cast<std::size_t>(s0 * d)));
      } else if (fingerprint) {
        for (Index i = s0; i < s1; ++i)
          fx.append(FingerprintSums::of(X.row(i).data(), static_cast<std::size_t>(d), static_cast<std::size_t>(i * d)));
      }
    }
    part_x.col(c) = sx.transpose();
    part_m.col(c) = mx.transpose();
    part_y[c] = sy;
    part_w[c] = sw;
    part_fx[c] = fx;
    if (fingerprint && !unit)
      part_fw[c] = FingerprintSums::of(w.data() + plan.begin(c), static_cast<std::size_t>(plan.end(c) - plan.begin(c)),
                                       static_cast<std::size_t>(plan.begin(c)));
  });
  FingerprintSums fx, fw;
  for (Index c = 0; c < plan.n_chunks; ++c) {
    fx.append(part_fx[c]);
    fw.append(part_fw[c]);
  }
  if (fingerprint) fit.x_fingerprint = fx.finish(0, static_cast<std::size_t>(8 * n * d));
  if (fingerprint && !unit) fit.w_fingerprint = fw.finish(0, static_cast<std::size_t>(8 * n));
  // Chunk order, not thread order: the same bits for any thread count.
  Eigen::VectorXd sx = Eigen::VectorXd::Zero(d);
  max_abs = Eigen::VectorXd::Zero(d);
  double sy = 0.0, sw = 0.0;
  for (Index c = 0; c < plan.n_chunks; ++c) {
    sx += part_x.col(c);
    max_abs = max_abs.cwiseMax(part_m.col(c));
    sy += part_y[c];
    sw += part_w[c];
  }
  fit.sum_w = sw;
  fit.x_mean_lo = Eigen::VectorXd::Zero(d);
  fit.y_mean_lo = 0.0;
  if (fit.fit_intercept) {
    fit.x_mean = sx / sw;
    fit.y_mean = sy / sw;
  } else {
    fit.x_mean = Eigen::VectorXd::Zero(d);
    fit.y_mean = 0.0;
  }
}

// G_s = T^T W T (lower triangle) and b_s = T^T W (y - y_mean) with T = (X - x_mean) D^-1, summed
// over fixed chunks, and the sums of w t and w (y - y_mean), which are the rounding of the means:
// the caller turns them into x_mean_lo, y_mean_lo and corrects G_s and b_s.
void gram(const Eigen::Ref<const RowMatrixXd>& X, const Eigen::Ref<const Eigen::VectorXd>& y,
          const Eigen::Ref<const Eigen::VectorXd>& w, int n_threads, const LinearFit& fit, Eigen::MatrixXd& G,
          Eigen::VectorXd& b, Eigen::VectorXd& st, double& sy) {
  const Index n = X.rows(), d = X.cols();
  const bool unit = w.size() == 0;
  const Eigen::RowVectorXd dinv = inverse_scale(fit);
  // Each chunk keeps a d x d partial; cap their total at about 64 MB.
  const Index budget = std::max<Index>(1, (Index(64) << 20) / (8 * std::max<Index>(d * d, 1)));
  const ChunkPlan plan = plan_chunks(n, 2048, std::min<Index>(64, budget));
  std::vector<Eigen::MatrixXd> part_G(plan.n_chunks);
  Eigen::MatrixXd part_b = Eigen::MatrixXd::Zero(d, plan.n_chunks), part_t = Eigen::MatrixXd::Zero(d, plan.n_chunks);
  Eigen::VectorXd part_y = Eigen::VectorXd::Zero(plan.n_chunks);
  const Index block = block_rows(d);
  parallel_for(plan.n_chunks, n_threads, [&](Index c) {
    Eigen::MatrixXd Gc = Eigen::MatrixXd::Zero(d, d);
    RowMatrixXd T;
    Eigen::VectorXd yc, wt;
    Eigen::RowVectorXd tsum = Eigen::RowVectorXd::Zero(d);
    double ysum = 0.0;
    for (Index r0 = plan.begin(c); r0 < plan.end(c); r0 += block) {
      const Index m = std::min(block, plan.end(c) - r0);
      centred_rows(X, fit, dinv, r0, m, T);
      yc = y.segment(r0, m).array() - fit.y_mean;
      // Sums of w t and w yc (the rounding of the means, tiny), reduced over the kernel's own
      // buffers only, so their bits do not depend on where X, y and w live.
      if (!unit) {
        const Eigen::VectorXd sw = w.segment(r0, m).cwiseSqrt();
        T = sw.asDiagonal() * T;
        yc = yc.cwiseProduct(sw);
        if (fit.fit_intercept) {
          tsum.noalias() += sw.transpose() * T;
          ysum += yc.dot(sw);
        }
      } else if (fit.fit_intercept) {
        tsum += T.colwise().sum();
        ysum += yc.sum();
      }
      Gc.selfadjointView<Eigen::Lower>().rankUpdate(T.transpose());
      part_b.col(c).noalias() += T.transpose() * yc;
    }
    part_G[c] = std::move(Gc);
    part_t.col(c) = tsum.transpose();
    part_y[c] = ysum;
  });
  G = Eigen::MatrixXd::Zero(d, d);
  b = Eigen::VectorXd::Zero(d);
  st = Eigen::VectorXd::Zero(d);
  sy = 0.0;
  for (Index c = 0; c < plan.n_chunks; ++c) {
    G.triangularView<Eigen::Lower>() += part_G[c];
    b += part_b.col(c);
    st += part_t.col(c);
    sy += part_y[c];
  }
  G.triangularView<Eigen::StrictlyUpper>() = G.transpose();
}

// ||W^{1/2} v|| over rows with positive weight, without overflow or underflow, in pieces: each
// fixed block of rows gives its largest entry's power of two and the sum of squares scaled by it
// (block_norm, run inside the row passes so that it costs no extra pass or parallel region), and
// the blocks are combined in block order (combine_norms): the same bits for any thread count.
struct NormParts {
  Eigen::VectorXd scale, ssq;
  explicit NormParts(Index n_blocks) : scale(Eigen::VectorXd::Zero(n_blocks)), ssq(Eigen::VectorXd::Zero(n_blocks)) {}
};

template <class Get>
void block_norm(Index r0, Index m, const Eigen::Ref<const Eigen::VectorXd>& w, Get&& get, NormParts& parts, Index b) {
  const bool unit = w.size() == 0;
  double mx = 0.0;
  for (Index i = r0; i < r0 + m; ++i) {
    if (unit)
      mx = std::max(mx, std::abs(get(i)));
    else if (w[i] > 0.0)
      mx = std::max(mx, std::sqrt(w[i]) * std::abs(get(i)));
  }
  if (!(mx > 0.0)) return;
  const double s = 1.0 / pow2_above(mx);
  double acc = 0.0;
  for (Index i = r0; i < r0 + m; ++i) {
    if (unit) {
      const double v = get(i) * s;
      acc += v * v;
    } else if (w[i] > 0.0) {
      const double v = std::sqrt(w[i]) * get(i) * s;
      acc += v * v;
    }
  }
  parts.scale[b] = 1.0 / s;
  parts.ssq[b] = acc;
}

double combine_norms(const NormParts& parts) {
  const double top = parts.scale.size() ? parts.scale.maxCoeff() : 0.0;
  if (!(top > 0.0)) return 0.0;
  double acc = 0.0;
  for (Index b = 0; b < parts.scale.size(); ++b) {
    const double r = parts.scale[b] / top;  // a power of two <= 1
    acc += parts.ssq[b] * r * r;
  }
  return std::sqrt(acc) * top;
}

// Residuals zero to rounding relative to y (kExactFitTol): zero them (positive weights only;
// rows with weight 0 are not fitted and keep their real residual) and report it.
bool settle_exact_fit(const NormParts& y_parts, const NormParts& e_parts, const Eigen::Ref<const Eigen::VectorXd>& w,
                      LinearFit& fit) {
  const double ynorm = combine_norms(y_parts), enorm = combine_norms(e_parts);
  const double cond = fit.rcond > 0.0 ? 1.0 / std::sqrt(fit.rcond) : 1e8;
  if (!(enorm <= kExactFitTol * std::max(1.0, cond) * ynorm)) return false;
  for (Index i = 0; i < fit.resid.size(); ++i)
    if (w.size() == 0 || w[i] > 0.0) fit.resid[i] = 0.0;
  fit.exact_fit = true;
  return true;
}

// The whole vectors as one block (the dual form, where n is small).
bool settle_exact_fit(const Eigen::Ref<const Eigen::VectorXd>& y, const Eigen::Ref<const Eigen::VectorXd>& w, LinearFit& fit) {
  NormParts yp(1), ep(1);
  const Index n = y.size();
  block_norm(0, n, w, [&](Index i) { return y[i]; }, yp, 0);
  block_norm(0, n, w, [&](Index i) { return fit.resid[i]; }, ep, 0);
  return settle_exact_fit(yp, ep, w, fit);
}

// Rows of V = Xc G^{-1} (n x d) in the dual form, for the training rows. For a row with positive
// weight the push-through identity G^{-1} Xc^T W^{1/2} = Z^T R / sqrt(alpha) gives it without
// cancellation: V_i = (R Z)_i / sqrt(w_i alpha). Rows with weight 0 take (xc_i - (xc_i Z^T) R Z) / alpha.
RowMatrixXd dual_ginv_rows(const Eigen::Ref<const RowMatrixXd>& X, const LinearFit& fit) {
  const Index n = X.rows(), d = X.cols();
  RowMatrixXd RZ(n, d);
  RZ.noalias() = fit.dual_r * fit.dual_z;
  for (Index i = 0; i < n; ++i) {
    const double s = fit.dual_v_scale[i];
    if (s > 0.0) {
      RZ.row(i) /= s;
    } else {
      Eigen::RowVectorXd t = X.row(i);
      if (fit.fit_intercept) t = (t - fit.x_mean.transpose()) - fit.x_mean_lo.transpose();
      const Eigen::RowVectorXd tz = t * fit.dual_z.transpose();
      RZ.row(i) = (t - (tz * fit.dual_r) * fit.dual_z) / fit.alpha;
    }
  }
  return RZ;
}

// x-bar = x_mean + x_mean_lo, the weighted means (zeros without an intercept).
Eigen::VectorXd full_mean(const LinearFit& fit) { return fit.x_mean + fit.x_mean_lo; }

std::string fmt(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g", v);
  return buf;
}

}  // namespace

namespace {

// The dual form: K0 = Z Z^T with Z = W^{1/2} Xc / sqrt(alpha), R = (I + K0)^{-1} (n x n), and
// G = alpha (I + Z^T Z). Coefficients Z^T R W^{1/2} yc / sqrt(alpha); centred leverages
// diag(K0 R) = 1 - diag(R). Costs O(n^2 d + n^3) and never anything d x d.
void fit_dual(const Eigen::Ref<const RowMatrixXd>& X, const Eigen::Ref<const Eigen::VectorXd>& y,
              const Eigen::Ref<const Eigen::VectorXd>& w, LinearFit& fit, Eigen::Ref<RowMatrixXd>* dfbeta) {
  const Index n = X.rows(), d = X.cols(), off = fit.fit_intercept ? 1 : 0;
  const bool unit = w.size() == 0;
  const double alpha = fit.alpha;
  fit.dual = true;
  fit.col_scale = Eigen::VectorXd::Ones(d);
  RowMatrixXd T = X;  // own copy: nothing below depends on the address of X
  Eigen::VectorXd yc = y.array() - fit.y_mean;
  if (fit.fit_intercept) {
    T.rowwise() -= fit.x_mean.transpose();
    // The rounding of the means, in row order.
    Eigen::RowVectorXd st = Eigen::RowVectorXd::Zero(d);
    double sy = 0.0;
    for (Index i = 0; i < n; ++i) {
      const double wi = unit ? 1.0 : w[i];
      st += wi * T.row(i);
      sy += wi * yc[i];
    }
    fit.x_mean_lo = st.transpose() / fit.sum_w;
    fit.y_mean_lo = sy / fit.sum_w;
    T.rowwise() -= fit.x_mean_lo.transpose();
    yc.array() -= fit.y_mean_lo;
  }
  fit.dual_v_scale = (unit ? Eigen::VectorXd::Ones(n) : Eigen::VectorXd(w.cwiseSqrt())) * std::sqrt(alpha);
  const Eigen::VectorXd zs = unit ? Eigen::VectorXd::Constant(n, 1.0 / std::sqrt(alpha))
                                  : Eigen::VectorXd(w.cwiseSqrt() / std::sqrt(alpha));
  fit.dual_z = zs.asDiagonal() * T;
  Eigen::MatrixXd M = Eigen::MatrixXd::Identity(n, n);
  M.selfadjointView<Eigen::Lower>().rankUpdate(fit.dual_z);
  M.triangularView<Eigen::StrictlyUpper>() = M.transpose();
  Eigen::LLT<Eigen::MatrixXd> llt(M);
  fit.rcond = llt.info() == Eigen::Success ? llt.rcond() : 0.0;
  if (llt.info() != Eigen::Success || !(fit.rcond > 10.0 * std::numeric_limits<double>::epsilon()))
    throw std::domain_error("the kernel matrix I + X X^T / alpha is numerically singular (reciprocal condition number " +
                            fmt(fit.rcond) + "); use a larger alpha");
  fit.dual_r = llt.solve(Eigen::MatrixXd::Identity(n, n));
  const Eigen::VectorXd yt = unit ? yc : Eigen::VectorXd(yc.cwiseProduct(w.cwiseSqrt()));
  const Eigen::VectorXd u = fit.dual_r * yt;
  fit.coef = fit.dual_z.transpose() * u / std::sqrt(alpha);
  fit.intercept = fit.fit_intercept ? (fit.y_mean + fit.y_mean_lo) - full_mean(fit).dot(fit.coef) : 0.0;
  // Residuals: for rows with positive weight from W^{1/2} e = R W^{1/2} yc, without the cancellation
  // of yc - Xc beta (which is large when the fit nearly interpolates); rows with weight 0 directly.
  fit.resid.resize(n);
  for (Index i = 0; i < n; ++i) {
    const double sw = unit ? 1.0 : std::sqrt(w[i]);
    fit.resid[i] = sw > 0.0 ? u[i] / sw : yc[i] - T.row(i).dot(fit.coef);
  }
  RowMatrixXd RZ(n, d);
  RZ.noalias() = fit.dual_r * fit.dual_z;
  const double h0 = fit.fit_intercept ? 1.0 / fit.sum_w : 0.0;
  fit.hat.resize(n);
  for (Index i = 0; i < n; ++i) {
    const double g = fit.dual_r(i, i);
    const double hc = g < 0.5 ? 1.0 - g : fit.dual_z.row(i).dot(RZ.row(i));
    fit.hat[i] = (unit ? 1.0 : w[i]) * h0 + hc;
  }
  settle_exact_fit(y, w, fit);
  if (!dfbeta) return;
  const RowMatrixXd V = dual_ginv_rows(X, fit);
  Eigen::Ref<RowMatrixXd>& out = *dfbeta;
  const Eigen::VectorXd wv = unit ? Eigen::VectorXd::Ones(n) : Eigen::VectorXd(w);
  const Eigen::VectorXd c = wv.cwiseProduct(fit.resid).array() / (1.0 - fit.hat.array());
  out.block(0, off, n, d) = c.asDiagonal() * V;
  if (off) out.col(0) = c / fit.sum_w - out.block(0, off, n, d) * full_mean(fit);
}

}  // namespace

LinearFit linear_fit(const Eigen::Ref<const RowMatrixXd>& X, const Eigen::Ref<const Eigen::VectorXd>& y,
                     const Eigen::Ref<const Eigen::VectorXd>& w, double alpha, bool fit_intercept, int n_threads,
                     Eigen::Ref<RowMatrixXd>* dfbeta, LinearForm form, bool fingerprint) {
  const Index n = X.rows(), d = X.cols(), off = fit_intercept ? 1 : 0;
  if (dfbeta && (dfbeta->rows() != n || dfbeta->cols() != d + off))
    throw std::invalid_argument("linear_fit: dfbeta must be n x p");
  if (y.size() != n) throw std::invalid_argument("linear_fit: y must have one entry per row of X");
  if (w.size() != 0 && w.size() != n) throw std::invalid_argument("linear_fit: w must be empty or of length n");
  if (!(alpha >= 0.0)) throw std::invalid_argument("linear_fit: alpha must be >= 0");
  if (form == LinearForm::dual && !(alpha > 0.0)) throw std::invalid_argument("linear_fit: the dual form needs alpha > 0");
  LinearFit fit;
  fit.fit_intercept = fit_intercept;
  fit.alpha = alpha;
  Eigen::VectorXd max_abs;
  weighted_means(X, y, w, n_threads, fingerprint, fit, max_abs);
  if (!(fit.sum_w > 0.0)) throw std::domain_error("linear_fit: the weights sum to zero");
  if (form == LinearForm::dual || (form == LinearForm::automatic && alpha > 0.0 && d > n)) {
    fit_dual(X, y, w, fit, dfbeta);
    return fit;
  }

  // Column scales: powers of two at the size of each column, so that no square under- or
  // overflows. Exact, so they change no bits where nothing under- or overflowed before.
  fit.col_scale.resize(d);
  for (Index j = 0; j < d; ++j) fit.col_scale[j] = pow2_above(max_abs[j]);
  const Eigen::RowVectorXd dinv = inverse_scale(fit);
  Eigen::MatrixXd G;
  Eigen::VectorXd b, st;
  double sy = 0.0;
  gram(X, y, w, n_threads, fit, G, b, st, sy);
  if (fit_intercept) {
    // The computed means are off by their rounding; with t = (x - x_mean) / D exact, the true
    // centred sums follow exactly: G -= W dx dx^T, b -= W dx dy (dx = sum w t / W, dy likewise).
    const Eigen::VectorXd dx = st / fit.sum_w;
    const double dy = sy / fit.sum_w;
    G.noalias() -= fit.sum_w * dx * dx.transpose();
    b -= (fit.sum_w * dy) * dx;
    fit.x_mean_lo = dx.cwiseProduct(fit.col_scale);
    fit.y_mean_lo = dy;
  }
  // The penalty in scaled coordinates, alpha / D_j^2 (as (sqrt(alpha) / D_j)^2: 1 / D_j^2 alone may overflow).
  if (alpha > 0.0) G.diagonal() += (std::sqrt(alpha) * dinv.transpose()).cwiseAbs2();

  // A zero diagonal entry is a column that carries no information (constant, or all zero).
  for (Index j = 0; j < d; ++j) {
    if (!(G(j, j) > 0.0))
      throw std::domain_error("the design is singular: column " + std::to_string(j) + " of X is " +
                              (fit_intercept ? "constant (collinear with the intercept)" : "all zeros") +
                              "; use alpha > 0 or drop the column");
  }
  // Conditioning judged after scaling G to a unit diagonal, so that columns in different units
  // do not count as ill-conditioning.
  const Eigen::VectorXd uinv = G.diagonal().cwiseSqrt().cwiseInverse();
  Eigen::LLT<Eigen::MatrixXd> scaled(uinv.asDiagonal() * G * uinv.asDiagonal());
  fit.rcond = scaled.info() == Eigen::Success ? scaled.rcond() : 0.0;
  Eigen::LLT<Eigen::MatrixXd> llt(G);
  if (llt.info() != Eigen::Success || !(fit.rcond > 10.0 * std::numeric_limits<double>::epsilon()))
    throw std::domain_error("the design is singular or numerically singular (reciprocal condition number " +
                            fmt(fit.rcond) + " of the scaled Gram matrix): columns of X are collinear" +
                            std::string(fit_intercept ? " (with each other or with the intercept)" : "") +
                            "; use alpha > 0 or remove collinear columns");
  fit.chol = llt.matrixL();
  fit.chol_inv = fit.chol.triangularView<Eigen::Lower>().solve(RowMatrixXd::Identity(d, d));
  const Eigen::VectorXd coef_s = llt.solve(b);  // coefficients of the scaled columns
  fit.coef = coef_s.cwiseProduct(dinv.transpose());
  fit.intercept = fit_intercept ? (fit.y_mean + fit.y_mean_lo) - full_mean(fit).dot(fit.coef) : 0.0;

  // Leverages and residuals, one fixed block of rows at a time.
  fit.hat.resize(n);
  fit.resid.resize(n);
  const double h0 = fit_intercept ? 1.0 / fit.sum_w : 0.0;
  const double ylo = fit.y_mean_lo;
  const bool unit = w.size() == 0;
  const Index block = block_rows(d);
  NormParts y_parts((n + block - 1) / block), e_parts((n + block - 1) / block);
  const auto norms = [&](Index r0, Index m) {
    block_norm(r0, m, w, [&](Index i) { return y[i]; }, y_parts, r0 / block);
    block_norm(r0, m, w, [&](Index i) { return fit.resid[i]; }, e_parts, r0 / block);
  };
  if (!dfbeta) {
    for_each_block(n, block, n_threads, [&](Index r0, Index m) {
      RowMatrixXd T;
      centred_rows(X, fit, dinv, r0, m, T);
      fit.resid.segment(r0, m) = ((y.segment(r0, m).array() - fit.y_mean) - ylo).matrix() - T * coef_s;
      Eigen::VectorXd h = times_chol_inv_t(fit, T).rowwise().squaredNorm().array() + h0;
      if (!unit) h = h.cwiseProduct(w.segment(r0, m));
      fit.hat.segment(r0, m) = h;
      norms(r0, m);
    });
    settle_exact_fit(y_parts, e_parts, w, fit);
    return fit;
  }
  // With dfbeta wanted now, one GEMM per block gives both: V = T G_s^{-1} D^{-1} holds the dfbeta
  // rows up to their scale c_i, and h_i = w_i ((V_i o t_i) . D + h0) (D a power of two: the same
  // bits as t_i . (T G_s^{-1})_i). This skips the separate leverage product. G_s^{-1} D^{-1} is
  // formed rather than D^{-1} G_s^{-1} D^{-1}, which may overflow where G^{-1} does not fit.
  const Eigen::MatrixXd Ginv = gram_inverse(fit) * dinv.asDiagonal();
  const Eigen::VectorXd xbar = full_mean(fit);
  Eigen::Ref<RowMatrixXd>& out = *dfbeta;
  for_each_block(n, block, n_threads, [&](Index r0, Index m) {
    RowMatrixXd T;
    centred_rows(X, fit, dinv, r0, m, T);
    const Eigen::VectorXd e = ((y.segment(r0, m).array() - fit.y_mean) - ylo).matrix() - T * coef_s;
    // The product goes to a contiguous block-sized buffer: GEMM into the (n x (d + 1))-strided
    // output directly runs slower, and the buffer is still in cache when it is scaled out.
    RowMatrixXd V(m, d);
    V.noalias() = T * Ginv;
    Eigen::VectorXd h = (V.cwiseProduct(T) * fit.col_scale).array() + h0;
    Eigen::VectorXd c = e.array() / (1.0 - h.array());
    if (!unit) {
      h = h.cwiseProduct(w.segment(r0, m));
      c = w.segment(r0, m).cwiseProduct(e).array() / (1.0 - h.array());
    }
    auto coef_part = out.block(r0, off, m, d);
    coef_part = c.asDiagonal() * V;
    if (off) out.col(0).segment(r0, m) = c / fit.sum_w - coef_part * xbar;
    fit.resid.segment(r0, m) = e;
    fit.hat.segment(r0, m) = h;
    norms(r0, m);
  });
  if (settle_exact_fit(y_parts, e_parts, w, fit)) out.setZero();  // c = w e / (1 - h) = 0 for every row
  return fit;
}

Index linear_row_block(Index cols) { return block_rows(cols); }

void linear_dfbeta(const Eigen::Ref<const RowMatrixXd>& X, const LinearFit& fit, const Eigen::Ref<const Eigen::VectorXd>& c,
                   Eigen::Ref<RowMatrixXd> out, int n_threads) {
  const Index n = X.rows(), d = X.cols(), off = fit.fit_intercept ? 1 : 0;
  if (c.size() != n || fit.coef.size() != d || out.rows() != n || out.cols() != d + off)
    throw std::invalid_argument("linear_dfbeta: shapes do not match the fit");
  const Eigen::VectorXd xbar = full_mean(fit);
  if (fit.dual) {
    if (fit.dual_z.rows() != n) throw std::invalid_argument("linear_dfbeta: X does not match the fit");
    const RowMatrixXd V = dual_ginv_rows(X, fit);
    out.block(0, off, n, d) = c.asDiagonal() * V;
    if (off) out.col(0) = c / fit.sum_w - out.block(0, off, n, d) * xbar;
    return;
  }
  const Eigen::RowVectorXd dinv = inverse_scale(fit);
  const Eigen::MatrixXd Ginv = gram_inverse(fit) * dinv.asDiagonal();  // G_s^{-1} D^{-1}: see linear_fit
  for_each_block(n, block_rows(d), n_threads, [&](Index r0, Index m) {
    RowMatrixXd T;
    centred_rows(X, fit, dinv, r0, m, T);
    // Scale the block while it is in cache, and multiply into a contiguous buffer rather than the
    // (n x (d + 1))-strided output, where the GEMM runs slower.
    T = c.segment(r0, m).asDiagonal() * T;
    RowMatrixXd V(m, d);
    V.noalias() = T * Ginv;  // rows c_i t_i^T G_s^{-1} D^{-1} = c_i xc_i^T G^{-1}
    auto coef_part = out.block(r0, off, m, d);
    coef_part = V;
    // Intercept of the original parametrisation: b = y-bar - x-bar^T beta.
    if (off) out.col(0).segment(r0, m) = c.segment(r0, m) / fit.sum_w - coef_part * xbar;
  });
}

void linear_prediction_change(const Eigen::Ref<const RowMatrixXd>& X, const Eigen::Ref<const RowMatrixXd>& X_test,
                              const LinearFit& fit, const Eigen::Ref<const Eigen::VectorXd>& c,
                              Eigen::Ref<RowMatrixXd> out, int n_threads) {
  const Index n = X.rows(), d = X.cols(), m_test = X_test.rows();
  if (c.size() != n || X_test.cols() != d || fit.coef.size() != d || out.rows() != n || out.cols() != m_test)
    throw std::invalid_argument("linear_prediction_change: shapes do not match the fit");
  const Eigen::RowVectorXd dinv = inverse_scale(fit);
  RowMatrixXd Xt;
  centred_rows(X_test, fit, dinv, 0, m_test, Xt);
  const double h0 = fit.fit_intercept ? 1.0 / fit.sum_w : 0.0;
  if (fit.dual) {
    if (fit.dual_z.rows() != n) throw std::invalid_argument("linear_prediction_change: X does not match the fit");
    const RowMatrixXd V = dual_ginv_rows(X, fit);
    out.noalias() = V * Xt.transpose();
    out.array() += h0;
    out = c.asDiagonal() * out;
    return;
  }
  const Eigen::MatrixXd Q = gram_inverse(fit) * Xt.transpose();  // d x m_test: G_s^{-1} t_j
  for_each_block(n, block_rows(std::max(d, m_test)), n_threads, [&](Index r0, Index m) {
    RowMatrixXd T;
    centred_rows(X, fit, dinv, r0, m, T);
    auto blk = out.middleRows(r0, m);
    blk.noalias() = T * Q;
    blk.array() += h0;
    blk = c.segment(r0, m).asDiagonal() * blk;
  });
}

GroupLoo linear_group_loo(const Eigen::Ref<const RowMatrixXd>& X, const Eigen::Ref<const Eigen::VectorXd>& w,
                          const LinearFit& fit, const std::vector<std::int64_t>& offsets,
                          const std::vector<std::int64_t>& indices, int n_threads) {
  const Index n = X.rows(), d = X.cols(), off = fit.fit_intercept ? 1 : 0, p = d + off;
  check_groups(offsets, indices, n, "linear_group_loo");
  if (fit.coef.size() != d || fit.resid.size() != n) throw std::invalid_argument("linear_group_loo: X does not match the fit");
  const Index n_groups = static_cast<Index>(offsets.size()) - 1;
  const bool unit = w.size() == 0;
  const double h0 = fit.fit_intercept ? 1.0 / fit.sum_w : 0.0;
  const Eigen::RowVectorXd dinv = inverse_scale(fit);
  const Eigen::VectorXd xbar = full_mean(fit);
  // Dual form: the rows of Xc G^{-1}, once (n x d, n < d); every group then takes Woodbury.
  const RowMatrixXd V = fit.dual ? dual_ginv_rows(X, fit) : RowMatrixXd();

  GroupLoo res;
  res.dfbeta = RowMatrixXd::Constant(n_groups, p, std::numeric_limits<double>::quiet_NaN());
  res.loo_resid = Eigen::VectorXd::Constant(static_cast<Index>(indices.size()), std::numeric_limits<double>::quiet_NaN());
  res.ok.assign(static_cast<std::size_t>(n_groups), 0);
  parallel_for(n_groups, n_threads, [&](Index g) {
    const Index start = offsets[g], k = offsets[g + 1] - offsets[g];
    RowMatrixXd T(k, d);
    Eigen::VectorXd e(k), sd(k);
    for (Index a = 0; a < k; ++a) {
      const Index i = indices[start + a];
      if (fit.fit_intercept)
        T.row(a) = (((X.row(i) - fit.x_mean.transpose()) - fit.x_mean_lo.transpose()).array() * dinv.array()).matrix();
      else
        T.row(a) = (X.row(i).array() * dinv.array()).matrix();
      e[a] = fit.resid[i];
      sd[a] = unit ? 1.0 : std::sqrt(w[i]);
    }
    Eigen::VectorXd r(k), u(d);
    double db_c = 0.0;  // change of the intercept in centred coordinates
    // Work of the two forms beyond the shared k x d product: Woodbury k^2 p + k^3 / 3, the
    // downdated Gram matrix k p^2 + p^3 / 3. Chosen from k and p only, so deterministic.
    const double kk = static_cast<double>(k), pp = static_cast<double>(p);
    const bool use_gram = !fit.dual && pp * pp * (kk + pp / 3.0) < kk * kk * (pp + kk / 3.0);
    if (!use_gram) {
      Eigen::MatrixXd K(k, k);
      RowMatrixXd W;
      if (fit.dual) {
        RowMatrixXd VG(k, d);
        for (Index a = 0; a < k; ++a) VG.row(a) = V.row(indices[start + a]);
        K.noalias() = VG * T.transpose();
        K = 0.5 * (K + K.transpose()).eval();
        K.array() += h0;
        if (!woodbury_group_residuals(K, sd, e, r)) return;  // stays NaN, ok = 0
        const Eigen::VectorXd sr = r.cwiseProduct(sd).cwiseProduct(sd);
        u = VG.transpose() * sr;
        db_c = sr.sum() / fit.sum_w;
      } else {
        W = times_chol_inv_t(fit, T);  // k x d, W W^T = T G_s^{-1} T^T
        K.noalias() = W * W.transpose();
        K.array() += h0;
        if (!woodbury_group_residuals(K, sd, e, r)) return;  // stays NaN, ok = 0
        // beta - beta_(G) = G^{-1} Xc_G^T S_G r; intercept change in centred coordinates sum(S r)/sum_w.
        const Eigen::VectorXd sr = r.cwiseProduct(sd).cwiseProduct(sd);
        u = (fit.chol_inv.transpose().triangularView<Eigen::Upper>() * (W.transpose() * sr)).cwiseProduct(dinv.transpose());
        db_c = sr.sum() / fit.sum_w;
      }
    } else {
      // In whitened coordinates phi = L_A^T theta, with A = diag(sum_w, G_s) = L_A L_A^T and
      // Y = Z_G L_A^{-T} (k x p): the Gram matrix without the group is L_A (I - Y^T S Y) L_A^T, so
      // theta - theta_(G) = L_A^{-T} M^{-1} Y^T S e with M = I - Y^T S Y, and the group's
      // leave-out residuals are e + Y M^{-1} Y^T S e. M is positive definite exactly when the
      // problem without the group is well posed (its eigenvalues other than 1 are those of
      // I - D K D in the Woodbury form), so the same pivot test applies.
      RowMatrixXd Y(k, p);
      if (off) Y.col(0).setConstant(std::sqrt(h0));
      Y.rightCols(d) = times_chol_inv_t(fit, T);
      const RowMatrixXd SY = sd.cwiseAbs2().asDiagonal() * Y;
      Eigen::MatrixXd M = Eigen::MatrixXd::Identity(p, p);
      M.noalias() -= Y.transpose() * SY;
      Eigen::LLT<Eigen::MatrixXd> llt(M);
      if (llt.info() != Eigen::Success) return;
      const double min_pivot = llt.matrixLLT().diagonal().minCoeff();
      if (!(min_pivot * min_pivot > kLeverageOneTol)) return;
      const Eigen::VectorXd dphi = llt.solve(SY.transpose() * e);
      r = e + Y * dphi;
      u = (fit.chol_inv.transpose().triangularView<Eigen::Upper>() * dphi.tail(d)).cwiseProduct(dinv.transpose());
      db_c = off ? dphi[0] * std::sqrt(h0) : 0.0;
    }
    res.dfbeta.row(g).segment(off, d) = u.transpose();
    if (off) res.dfbeta(g, 0) = db_c - xbar.dot(u);
    res.loo_resid.segment(start, k) = r;
    res.ok[static_cast<std::size_t>(g)] = 1;
  });
  return res;
}

Eigen::VectorXd linear_inv_gram_sd(const LinearFit& fit) {
  const Index d = fit.coef.size(), off = fit.fit_intercept ? 1 : 0;
  Eigen::VectorXd sd(d + off);
  const Eigen::VectorXd xbar = full_mean(fit);
  double x_quad = 0.0;  // x-bar^T G^{-1} x-bar
  if (fit.dual) {
    // G^{-1} = (I - Z^T R Z) / alpha
    const RowMatrixXd RZ = fit.dual_r * fit.dual_z;
    const Eigen::VectorXd diag = (Eigen::VectorXd::Ones(d) - fit.dual_z.cwiseProduct(RZ).colwise().sum().transpose()) / fit.alpha;
    sd.tail(d) = diag.cwiseMax(0.0).cwiseSqrt();
    if (off) {
      const Eigen::VectorXd zx = fit.dual_z * xbar;
      x_quad = (xbar.squaredNorm() - zx.dot(fit.dual_r * zx)) / fit.alpha;
    }
  } else {
    // diag(G^{-1}) = diag(D^-1 L^-T L^-1 D^-1): column norms of L^-1, then the scale, so no square
    // of 1 / D is ever formed.
    const Eigen::RowVectorXd dinv = inverse_scale(fit);
    sd.tail(d) = fit.chol_inv.colwise().norm().cwiseProduct(dinv).transpose();
    if (off) x_quad = (fit.chol_inv * xbar.cwiseProduct(dinv.transpose())).squaredNorm();
  }
  if (off) sd[0] = std::sqrt(1.0 / fit.sum_w + x_quad);
  return sd;
}

Eigen::VectorXd linear_gram_quad(const LinearFit& fit, const Eigen::Ref<const RowMatrixXd>& D) {
  const Index d = fit.coef.size(), off = fit.fit_intercept ? 1 : 0;
  if (D.cols() != d + off) throw std::invalid_argument("linear_gram_quad: D must have p columns");
  const Eigen::VectorXd xbar = full_mean(fit);
  Eigen::VectorXd q(D.rows());
  for (Index g = 0; g < D.rows(); ++g) {
    const Eigen::VectorXd db = D.row(g).segment(off, d).transpose();
    double quad;
    if (fit.dual) {
      quad = fit.alpha * ((fit.dual_z * db).squaredNorm() + db.squaredNorm());
    } else {
      // G = D L L^T D: ||L^T D db||^2
      const Eigen::VectorXd s = db.cwiseProduct(fit.col_scale);
      quad = (fit.chol.transpose().triangularView<Eigen::Upper>() * s).squaredNorm();
    }
    if (off) {
      // Intercept change in centred coordinates, where the Gram matrix is diag(sum w, G).
      const double c = D(g, 0) + xbar.dot(db);
      quad += fit.sum_w * c * c;
    }
    q[g] = quad;
  }
  return q;
}

}  // namespace attrib
