// Leave-one-out of single rows: leverages and Newton / influence steps in one pass, rows
// c_i H^{-1} z_i, and exact leave-one-out refits (chord steps, then damped Newton per row).
#include "glm_passes.hpp"

#include <Eigen/Cholesky>

#include <stdexcept>

namespace attrib {

using namespace glm_detail;

GlmLooRows glm_loo_rows(const Eigen::Ref<const RowMatrixXd>& X, const Eigen::Ref<const Eigen::VectorXd>& w,
                        const GlmFit& fit, GlmStep step, Eigen::Ref<RowMatrixXd> dcoef, int n_threads) {
  const Index n = X.rows(), d = X.cols(), p = d + (fit.fit_intercept ? 1 : 0);
  if (fit.coef.size() != d || fit.d1.size() != n || (w.size() != 0 && w.size() != n))
    throw std::invalid_argument("glm_loo_rows: shapes do not match the fit");
  if (step != GlmStep::none && (dcoef.rows() != n || dcoef.cols() != p))
    throw std::invalid_argument("glm_loo_rows: dcoef must be n x p");
  GlmLooRows res;
  res.quad.resize(n);
  res.hat.resize(n);
  // Leverages only: W = Z L^{-T} (a triangular-sized product) and q_i = ||W_i||^2. With a step
  // wanted, one GEMM per block, V = Z H^{-1} with H^{-1} = L^{-T} L^{-1} formed once, gives both
  // q_i = V_i . z_i and the step's rows: one product instead of two (as in linear_fit).
  // Column-major right-hand sides: Eigen's product with a row-major one ran ~3x slower (measured).
  const Eigen::MatrixXd li_t = fit.chol_inv.transpose();
  const Eigen::MatrixXd h_inv = step == GlmStep::none ? Eigen::MatrixXd() : Eigen::MatrixXd(li_t * fit.chol_inv);
  // Smaller blocks than the reduction passes: Z, W and the output block then stay in L2.
  const Index block = std::clamp<Index>(32768 / std::max<Index>(p, 1), 64, 1024), n_blocks = (n + block - 1) / block;
  parallel_for_with_state(n_blocks, n_threads, [] { return RowScratch(); }, [&](Index b, RowScratch& sc) {
    const Index r0 = b * block, m = std::min(block, n - r0);
    design_rows(X, fit.fit_intercept, r0, m, sc.Z);
    if (step == GlmStep::none) {
      sc.W.resize(m, p);
      sc.W.noalias() = sc.Z * li_t;
      for (Index r = 0; r < m; ++r) {
        const Index i = r0 + r;
        res.quad[i] = sc.W.row(r).squaredNorm();
        res.hat[i] = weight(w, i) * fit.d2[i] * res.quad[i];
      }
      return;
    }
    // V = Z H^{-1} goes straight into the output rows and is scaled there in place.
    auto out = dcoef.middleRows(r0, m);
    out.noalias() = sc.Z * h_inv;
    for (Index r = 0; r < m; ++r) {
      const Index i = r0 + r;
      const double q = out.row(r).dot(sc.Z.row(r));
      const double s = weight(w, i), h = s * fit.d2[i] * q;
      res.quad[i] = q;
      res.hat[i] = h;
      out.row(r) *= step == GlmStep::newton ? (1.0 - h < kLeverageOneTol ? kNaN : -s * fit.d1[i] / (1.0 - h)) : -s * fit.d1[i];
    }
  });
  return res;
}

RowMatrixXd glm_solve_rows(const Eigen::Ref<const RowMatrixXd>& X, const GlmFit& fit,
                           const Eigen::Ref<const Eigen::VectorXd>& c, int n_threads) {
  const Index n = X.rows(), d = X.cols(), p = d + (fit.fit_intercept ? 1 : 0);
  if (c.size() != n || fit.coef.size() != d) throw std::invalid_argument("glm_solve_rows: shapes do not match the fit");
  RowMatrixXd out(n, p);
  for_each_block(n, block_rows(p), n_threads, [&](Index r0, Index m) {
    RowMatrixXd Z;
    design_rows(X, fit.fit_intercept, r0, m, Z);
    mul_lt_inv(fit, Z);
    mul_l_inv(fit, Z);
    out.middleRows(r0, m) = c.segment(r0, m).asDiagonal() * Z;
  });
  return out;
}

namespace {

// F_(i)(theta): the objective without row i (and, when H is given, its Hessian), over fixed
// blocks of rows in order. O(n d) without the Hessian, O(n p^2) with it.
double loo_objective(const Eigen::Ref<const RowMatrixXd>& X, const Eigen::Ref<const Eigen::VectorXd>& y,
                     const Eigen::Ref<const Eigen::VectorXd>& w, const GlmFit& fit, Index i,
                     const Eigen::VectorXd& theta, Eigen::MatrixXd* H) {
  const Index n = X.rows(), d = X.cols(), p = theta.size(), block = block_rows(p);
  if (H) H->setZero(p, p);
  RowMatrixXd Z;
  Eigen::VectorXd e, sq;
  double F = 0.0;
  for (Index r0 = 0; r0 < n; r0 += block) {
    const Index m = std::min(block, n - r0);
    design_rows(X, fit.fit_intercept, r0, m, Z);
    e.noalias() = Z * theta;
    if (fit.offset.size()) e += fit.offset.segment(r0, m);
    sq.resize(m);
    for (Index r = 0; r < m; ++r) {
      const double s = r0 + r == i ? 0.0 : weight(w, r0 + r);
      const GlmLossDerivs v = glm_loss_derivs(fit.family, y[r0 + r], e[r]);
      if (s > 0.0) F += s * v.loss;
      sq[r] = std::sqrt(s * v.d2);
    }
    if (H) {
      Z = sq.asDiagonal() * Z;
      H->selfadjointView<Eigen::Lower>().rankUpdate(Z.transpose());
    }
  }
  const auto beta = theta.tail(d);
  F += 0.5 * fit.l2 * beta.squaredNorm();
  if (H) {
    H->triangularView<Eigen::StrictlyUpper>() = H->transpose();
    H->diagonal().tail(d).array() += fit.l2;
  }
  return F;
}

}  // namespace

GlmExactLoo glm_exact_loo(const Eigen::Ref<const RowMatrixXd>& X, const Eigen::Ref<const Eigen::VectorXd>& y,
                          const Eigen::Ref<const Eigen::VectorXd>& w, const GlmFit& fit,
                          const std::vector<std::int64_t>& rows, int max_iter, double tol, int n_threads) {
  const Index n = X.rows(), d = X.cols(), off = fit.fit_intercept ? 1 : 0, p = d + off;
  if (y.size() != n || (w.size() != 0 && w.size() != n) || fit.coef.size() != d || fit.d1.size() != n ||
      fit.d2.size() != n || (fit.offset.size() != 0 && fit.offset.size() != n))
    throw std::invalid_argument("glm_exact_loo: shapes do not match the fit");
  for (const std::int64_t i : rows)
    if (i < 0 || i >= n) throw std::out_of_range("glm_exact_loo: row index out of range");
  const Index m_rows = static_cast<Index>(rows.size());
  const Eigen::VectorXd theta_hat = fit.theta();
  const double l2 = fit.l2;

  GlmExactLoo res;
  res.dcoef = RowMatrixXd::Constant(m_rows, p, kNaN);
  res.loo_eta = Eigen::VectorXd::Constant(m_rows, kNaN);
  res.n_iter.assign(static_cast<std::size_t>(m_rows), 0);
  res.converged.assign(static_cast<std::size_t>(m_rows), 0);

  // Leave-one-out problems per block: each iteration costs two n x d x B matrix products for the
  // whole block. B depends only on n, so the blocks (and the bits) are the same for any thread count.
  const Index B = glm_exact_block_rows(n);
  const Index n_blocks = (m_rows + B - 1) / B;
  parallel_for(n_blocks, n_threads, [&](Index blk) {
    const Index j0 = blk * B, k = std::min(B, m_rows - j0);
    RowMatrixXd Zb(k, p);
    for (Index j = 0; j < k; ++j) {
      const Index i = rows[j0 + j];
      if (off) Zb(j, 0) = 1.0;
      Zb.row(j).tail(d) = X.row(i);
    }
    RowMatrixXd U = Zb;  // becomes Z_b H^{-1}: row j is u_j = H^{-1} z_j
    mul_lt_inv(fit, U);
    mul_l_inv(fit, U);
    Eigen::MatrixXd Theta(p, k);
    Eigen::VectorXd cdown(k), one_minus_h(k), prev(k);
    std::vector<std::uint8_t> newton_mode(k, 0), restarted(k, 0);
    std::vector<Index> active;
    for (Index j = 0; j < k; ++j) {
      const Index i = rows[j0 + j];
      const double s = weight(w, i);
      cdown[j] = s * fit.d2[i];
      one_minus_h[j] = 1.0 - cdown[j] * Zb.row(j).dot(U.row(j));
      prev[j] = std::numeric_limits<double>::infinity();
      if (s == 0.0) {  // a zero-weight row is already left out
        Theta.col(j) = theta_hat;
        res.n_iter[j0 + j] = 0;
        res.converged[j0 + j] = 1;
        continue;
      }
      if (one_minus_h[j] < kLeverageOneTol) continue;  // undefined: stays NaN, not converged
      // Start from the Newton step: theta_(i) ~ theta-hat + s d1 H_(i)^{-1} z_i (Sherman-Morrison).
      Theta.col(j) = theta_hat + (s * fit.d1[i] / one_minus_h[j]) * U.row(j).transpose();
      active.push_back(j);
    }
    Eigen::MatrixXd Eta, Lg, G;  // column-major: one contiguous column per left-out row
    const Eigen::ArrayXd y_all = y;
    const Eigen::ArrayXd s_all = w.size() == 0 ? Eigen::ArrayXd::Ones(n) : Eigen::ArrayXd(w);
    Eigen::ArrayXd d1col;
    for (int it = 1; it <= max_iter && !active.empty(); ++it) {
      const Index A = static_cast<Index>(active.size());
      Eigen::MatrixXd Ta(p, A);
      for (Index a = 0; a < A; ++a) Ta.col(a) = Theta.col(active[a]);
      // Linear predictors of every training row under each active iterate.
      Eta.noalias() = X * Ta.bottomRows(d);
      if (off) Eta.rowwise() += Ta.row(0);
      if (fit.offset.size()) Eta.colwise() += fit.offset;
      Lg.resize(n, A);
      for (Index a = 0; a < A; ++a) {
        loss_derivs_array(fit.family, y_all, Eta.col(a).array(), nullptr, &d1col, nullptr);
        Lg.col(a) = (s_all * d1col).matrix();
      }
      for (Index a = 0; a < A; ++a) Lg(rows[j0 + active[a]], a) = 0.0;  // the left-out row
      G.resize(p, A);
      G.bottomRows(d).noalias() = X.transpose() * Lg;
      if (off) G.row(0) = Lg.colwise().sum();
      G.bottomRows(d) += l2 * Ta.bottomRows(d);

      std::vector<Index> still;
      for (Index a = 0; a < A; ++a) {
        const Index j = active[a], i = rows[j0 + j];
        res.n_iter[j0 + j] = it;
        Eigen::VectorXd theta = Theta.col(j);
        const double scale = 1.0 + max_abs(theta);
        bool done = false;
        if (!newton_mode[j]) {
          // Chord step: (H - c z z^T)^{-1} g by Sherman-Morrison with the full fit's factor.
          const Eigen::VectorXd v = hess_solve(fit, G.col(a));
          const Eigen::VectorXd delta = v + (cdown[j] * Zb.row(j).dot(v) / one_minus_h[j]) * U.row(j).transpose();
          const double step = max_abs(delta);
          if (std::isfinite(step) && (step <= tol * scale || step <= 0.5 * prev[j])) {
            Theta.col(j) = theta - delta;
            done = step <= tol * scale;
            prev[j] = step;
          } else {
            newton_mode[j] = 1;  // not contracting: this row needs its own Hessian
            prev[j] = std::numeric_limits<double>::infinity();
          }
        }
        if (newton_mode[j]) {
          // Damped Newton on this row's leave-one-out objective: Hessian at the iterate, and a
          // backtracking line search, so far-off starts (leverage near 1) still converge.
          Eigen::MatrixXd Hj;
          const double F0 = loo_objective(X, y, w, fit, i, theta, &Hj);
          Eigen::LLT<Eigen::MatrixXd> llt(Hj);
          if (llt.info() != Eigen::Success || !std::isfinite(F0)) {
            // A far-off iterate where the Hessian vanishes: restart once from the full fit.
            if (restarted[j]) continue;  // stays NaN, not converged
            restarted[j] = 1;
            Theta.col(j) = theta_hat;
            prev[j] = std::numeric_limits<double>::infinity();
            still.push_back(j);
            continue;
          }
          const Eigen::VectorXd delta = llt.solve(G.col(a));
          const double step = max_abs(delta), dec = G.col(a).dot(delta);
          if (step <= tol * scale || (step <= 1e-8 * scale && step > 0.5 * prev[j])) {
            Theta.col(j) = theta - delta;  // converged, or at the rounding floor of this problem
            done = true;
          } else {
            bool accepted = false;
            double t = 1.0;
            const bool near = in_quadratic_region(dec, F0, step, scale);
            for (int ls = 0; ls < 50 && !accepted; ++ls, t *= 0.5) {
              const Eigen::VectorXd trial = theta - t * delta;
              const double Ft = loo_objective(X, y, w, fit, i, trial, nullptr);
              if (std::isfinite(Ft) && (near || Ft <= F0 - 1e-4 * t * dec + 1e-13 * std::abs(F0))) {
                Theta.col(j) = trial;
                accepted = true;
              }
            }
            if (!accepted) continue;  // no descent possible: stays NaN, not converged
          }
          prev[j] = step;
        }
        if (done) {
          res.converged[j0 + j] = 1;
        } else {
          still.push_back(j);
        }
      }
      active.swap(still);
    }
    for (Index j = 0; j < k; ++j) {
      if (!res.converged[j0 + j]) continue;
      res.dcoef.row(j0 + j) = (theta_hat - Theta.col(j)).transpose();
      res.loo_eta[j0 + j] = Zb.row(j).dot(Theta.col(j)) + (fit.offset.size() ? fit.offset[rows[j0 + j]] : 0.0);
    }
  });
  return res;
}

}  // namespace attrib
