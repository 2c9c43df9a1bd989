// Multinomial leave-one-out: Newton / influence steps of every row (one K x K Woodbury solve per
// row), exact leave-one-out (chord steps with the downdated Hessian, then damped Newton per row)
// and Newton-step removal of groups.
#include "glm_multinomial_passes.hpp"

#include <stdexcept>

namespace attrib {

using namespace mn_detail;

namespace {

void check_fit_shapes(const Eigen::Ref<const RowMatrixXd>& X, const Eigen::Ref<const Eigen::VectorXd>& y,
                      const Eigen::Ref<const Eigen::VectorXd>& w, const MultinomialFit& fit, const char* who) {
  const Index n = X.rows();
  if (fit.coef.cols() != X.cols() || fit.coef.rows() != fit.n_classes || y.size() != n ||
      (w.size() != 0 && w.size() != n) || fit.prob.rows() != n || fit.prob.cols() != fit.n_classes ||
      fit.hess_inv.rows() != fit.n_classes * fit.n_params_per_class())
    throw std::invalid_argument(std::string(who) + ": shapes do not match the fit");
}

constexpr std::size_t kLbfgsMemory = 8;

// Rows per block of the leave-one-out pass: the block's (H^{-1} Z_i)^T rows, m x K P doubles,
// stay within about 2 MB.
Index loo_block_rows(Index K, Index P) { return std::clamp<Index>(262144 / std::max<Index>(K * P, 1), 8, 256); }

}  // namespace

MultinomialLooRows multinomial_loo_rows(const Eigen::Ref<const RowMatrixXd>& X, const Eigen::Ref<const Eigen::VectorXd>& y,
                                        const Eigen::Ref<const Eigen::VectorXd>& w, const MultinomialFit& fit,
                                        MultinomialStep step, Eigen::Ref<RowMatrixXd> dcoef, int n_threads) {
  check_fit_shapes(X, y, w, fit, "multinomial_loo_rows");
  const Index n = X.rows(), K = fit.n_classes, p = fit.n_params_per_class(), P = K * p;
  if (dcoef.rows() != n || dcoef.cols() != P) throw std::invalid_argument("multinomial_loo_rows: dcoef must be n x P");
  MultinomialLooRows res;
  res.hat.resize(n);
  res.step_sq.resize(n);
  res.leverage_one.assign(static_cast<std::size_t>(n), 0);
  const RowMatrixXd R = rearranged_inverse(fit);
  const Index block = loo_block_rows(K, P), n_blocks = (n + block - 1) / block;
  struct Scratch {
    RowMatrixXd Z, V;
    RowDowndate rd;
  };
  parallel_for_with_state(n_blocks, n_threads, [] { return Scratch(); }, [&](Index blk, Scratch& sc) {
    const Index r0 = blk * block, m = std::min(block, n - r0);
    glm_detail::design_rows(X, fit.fit_intercept, r0, m, sc.Z);
    sc.V.noalias() = sc.Z * R;  // row r: (H^{-1} Z_i)^T as K x P
    for (Index r = 0; r < m; ++r) {
      const Index i = r0 + r;
      const Eigen::Map<const RowMatrixXd> Vt(sc.V.row(r).data(), K, P);
      const double s = glm_detail::weight(w, i);
      row_downdate(Vt, sc.Z.row(r), fit.prob.row(i), s, sc.rd);
      res.hat[i] = sc.rd.hat;
      Eigen::VectorXd resid = fit.prob.row(i).transpose();
      resid[code(y[i])] -= 1.0;
      if (step == MultinomialStep::newton && !sc.rd.ok) {
        res.leverage_one[static_cast<std::size_t>(i)] = 1;
        dcoef.row(i).setConstant(kNaN);
        res.step_sq[i] = kNaN;
        continue;
      }
      const Eigen::VectorXd c = step == MultinomialStep::newton ? downdated(sc.rd, s, resid) : resid;
      dcoef.row(i).noalias() = (-s) * (c.transpose() * Vt);
      res.step_sq[i] = s * s * c.dot(sc.rd.Q * c);
      if (!sc.rd.ok) res.leverage_one[static_cast<std::size_t>(i)] = 1;
    }
  });
  return res;
}

MultinomialExactLoo multinomial_exact_loo(const Eigen::Ref<const RowMatrixXd>& X, const Eigen::Ref<const Eigen::VectorXd>& y,
                                          const Eigen::Ref<const Eigen::VectorXd>& w, const MultinomialFit& fit,
                                          const std::vector<std::int64_t>& rows, int max_iter, double tol, int n_threads) {
  check_fit_shapes(X, y, w, fit, "multinomial_exact_loo");
  const Index n = X.rows(), d = X.cols(), K = fit.n_classes, off = fit.fit_intercept ? 1 : 0, p = d + off, P = K * p;
  for (const std::int64_t i : rows)
    if (i < 0 || i >= n) throw std::out_of_range("multinomial_exact_loo: row index out of range");
  if (max_iter < 1 || !(tol > 0.0)) throw std::invalid_argument("multinomial_exact_loo: max_iter >= 1 and tol > 0");
  const Index m_rows = static_cast<Index>(rows.size());
  const Eigen::VectorXd theta_hat = fit.theta();
  const RowMatrixXd R = rearranged_inverse(fit);
  MultinomialExactLoo res;
  res.dcoef = RowMatrixXd::Constant(m_rows, P, kNaN);
  res.n_iter.assign(static_cast<std::size_t>(m_rows), 0);
  res.converged.assign(static_cast<std::size_t>(m_rows), 0);
  const Index B = multinomial_exact_block_rows(n, K), n_blocks = (m_rows + B - 1) / B;
  const Eigen::ArrayXd s_all = w.size() == 0 ? Eigen::ArrayXd::Ones(n) : Eigen::ArrayXd(w);
  parallel_for(n_blocks, n_threads, [&](Index blk) {
    const Index j0 = blk * B, k = std::min(B, m_rows - j0);
    RowMatrixXd Zb(k, p);
    for (Index j = 0; j < k; ++j) {
      if (off) Zb(j, 0) = 1.0;
      Zb.row(j).tail(d) = X.row(rows[j0 + j]);
    }
    const RowMatrixXd V = Zb * R;  // row j: (H^{-1} Z_j)^T as K x P
    std::vector<RowDowndate> rd(static_cast<std::size_t>(k));
    Eigen::MatrixXd Theta(P, k);
    Eigen::VectorXd prev(k), sj(k);
    std::vector<std::uint8_t> newton_mode(k, 0), restarted(k, 0), stalls(k, 0);
    // Quasi-Newton memory per row: L-BFGS pairs on top of the downdated Hessian, whose chord steps
    // alone contract slowly for the rows with the largest leave-one-out effect.
    std::vector<std::vector<Eigen::VectorXd>> mem_s(k), mem_y(k);
    std::vector<Eigen::VectorXd> last_theta(k), last_g(k);
    std::vector<Index> active;
    for (Index j = 0; j < k; ++j) {
      const Index i = rows[j0 + j];
      const double s = s_all[i];
      sj[j] = s;
      prev[j] = std::numeric_limits<double>::infinity();
      const Eigen::Map<const RowMatrixXd> Vt(V.row(j).data(), K, P);
      row_downdate(Vt, Zb.row(j), fit.prob.row(i), s, rd[j]);
      if (s == 0.0) {  // already left out
        Theta.col(j) = theta_hat;
        res.converged[j0 + j] = 1;
        continue;
      }
      if (!rd[j].ok) continue;  // undefined: stays NaN
      Eigen::VectorXd resid = fit.prob.row(i).transpose();
      resid[code(y[i])] -= 1.0;
      Theta.col(j) = theta_hat + s * (downdated(rd[j], s, resid).transpose() * Vt).transpose();
      active.push_back(j);
    }
    Eigen::MatrixXd Wst, Eta, G, Gw;
    Eigen::RowVectorXd bias;
    Eigen::VectorXd wj;
    MnPass own;
    for (int it = 1; it <= max_iter && !active.empty(); ++it) {
      const Index A = static_cast<Index>(active.size());
      // Coefficients of every active problem side by side: column a K + c is class c of problem a.
      Wst.resize(d, K * A);
      bias.setZero(K * A);
      for (Index a = 0; a < A; ++a)
        for (Index c = 0; c < K; ++c) {
          const Index col = a * K + c, j = active[a];
          Wst.col(col) = Theta.col(j).segment(c * p + off, d);
          if (off) bias[col] = Theta(c * p, j);
        }
      Eta.noalias() = X * Wst;
      if (off) Eta.rowwise() += bias;
      for (Index a = 0; a < A; ++a) {
        auto Ea = Eta.middleCols(a * K, K);
        Eigen::MatrixXd Pa = Ea;
        softmax_rows(Pa);
        for (Index r = 0; r < n; ++r) Pa(r, code(y[r])) -= 1.0;
        Pa = s_all.matrix().asDiagonal() * Pa;
        Pa.row(rows[j0 + active[a]]).setZero();  // the left-out row
        Ea = Pa;
      }
      Gw.noalias() = X.transpose() * Eta;  // d x K A
      G.resize(P, A);
      for (Index a = 0; a < A; ++a) {
        const Index j = active[a];
        for (Index c = 0; c < K; ++c) {
          if (off) G(c * p, a) = Eta.col(a * K + c).sum();
          G.col(a).segment(c * p + off, d) = Gw.col(a * K + c) + fit.l2 * Theta.col(j).segment(c * p + off, d);
        }
        for (Index q = 0; q < p; ++q) {
          if (fit.gauge[q] == 0.0) continue;
          double sum = 0.0;
          for (Index c = 0; c < K; ++c) sum += Theta(c * p + q, j);
          for (Index c = 0; c < K; ++c) G(c * p + q, a) += fit.gauge[q] * sum;
        }
      }
      std::vector<Index> still;
      for (Index a = 0; a < A; ++a) {
        const Index j = active[a], i = rows[j0 + j];
        const double s = sj[j];
        res.n_iter[j0 + j] = it;
        const Eigen::VectorXd theta = Theta.col(j);
        const double scale = 1.0 + glm_detail::max_abs(theta);
        bool done = false;
        if (!newton_mode[j]) {
          // L-BFGS whose initial inverse Hessian is the downdated one (a chord step when the memory
          // is empty): H_(i)^{-1} q = H^{-1} q + s V B M^{-1} B^T V^T q.
          const Eigen::Map<const RowMatrixXd> Vt(V.row(j).data(), K, P);
          const Eigen::VectorXd g = G.col(a);
          if (last_g[j].size()) {
            Eigen::VectorXd sv = theta - last_theta[j], yv = g - last_g[j];
            const double sy = sv.dot(yv);
            if (sy > 1e-12 * sv.norm() * yv.norm()) {
              if (mem_s[j].size() == kLbfgsMemory) {
                mem_s[j].erase(mem_s[j].begin());
                mem_y[j].erase(mem_y[j].begin());
              }
              mem_s[j].push_back(std::move(sv));
              mem_y[j].push_back(std::move(yv));
            }
          }
          last_theta[j] = theta;
          last_g[j] = g;
          const std::size_t mem = mem_s[j].size();
          Eigen::VectorXd q = g, alpha(static_cast<Index>(mem));
          for (std::size_t t = mem; t-- > 0;) {
            alpha[static_cast<Index>(t)] = mem_s[j][t].dot(q) / mem_s[j][t].dot(mem_y[j][t]);
            q -= alpha[static_cast<Index>(t)] * mem_y[j][t];
          }
          const Eigen::VectorXd u = Vt * q;
          Eigen::VectorXd delta = fit.hess_inv * q;
          delta.noalias() += Vt.transpose() * (s * (rd[j].B * rd[j].llt.solve(rd[j].B.transpose() * u)));
          for (std::size_t t = 0; t < mem; ++t) {
            const double beta = mem_y[j][t].dot(delta) / mem_s[j][t].dot(mem_y[j][t]);
            delta += (alpha[static_cast<Index>(t)] - beta) * mem_s[j][t];
          }
          const double step = glm_detail::max_abs(delta);
          // Steps that stop shrinking three times running (or blow up) hand the row to Newton.
          if (std::isfinite(step) && step > 0.5 * prev[j] && step > tol * scale) ++stalls[j];
          if (std::isfinite(step) && step <= 4.0 * std::min(prev[j], 1e300) && stalls[j] < 3) {
            Theta.col(j) = theta - delta;
            done = step <= tol * scale;
            prev[j] = step;
          } else {
            newton_mode[j] = 1;
            prev[j] = std::numeric_limits<double>::infinity();
          }
        }
        if (newton_mode[j]) {
          // Damped Newton on this row's own objective (Hessian at the iterate, line search).
          wj = s_all.matrix();
          wj[i] = 0.0;
          mn_pass(X, y, wj, K, fit.l2, fit.gauge, fit.fit_intercept, theta, true, 1, own, nullptr);
          Eigen::LLT<Eigen::MatrixXd> llt(own.H);
          if (llt.info() != Eigen::Success || !std::isfinite(own.F)) {
            if (restarted[j]) continue;  // stays NaN
            restarted[j] = 1;
            Theta.col(j) = theta_hat;
            still.push_back(j);
            continue;
          }
          const Eigen::VectorXd delta = llt.solve(own.g);
          const double step = glm_detail::max_abs(delta), dec = own.g.dot(delta), F0 = own.F;
          if (step <= tol * scale || (step <= 1e-8 * scale && step > 0.5 * prev[j])) {
            Theta.col(j) = theta - delta;
            done = true;
          } else {
            bool accepted = false;
            double t = 1.0;
            const bool near = glm_detail::in_quadratic_region(dec, F0, step, scale);
            MnPass tr;
            for (int ls = 0; ls < 50 && !accepted; ++ls, t *= 0.5) {
              const Eigen::VectorXd trial = theta - t * delta;
              mn_pass(X, y, wj, K, fit.l2, fit.gauge, fit.fit_intercept, trial, false, 1, tr, nullptr);
              if (std::isfinite(tr.F) && (near || tr.F <= F0 - 1e-4 * t * dec + 1e-13 * std::abs(F0))) {
                Theta.col(j) = trial;
                accepted = true;
              }
            }
            if (!accepted) continue;  // stays NaN
          }
          prev[j] = step;
        }
        if (done)
          res.converged[j0 + j] = 1;
        else
          still.push_back(j);
      }
      active.swap(still);
    }
    for (Index j = 0; j < k; ++j)
      if (res.converged[j0 + j]) res.dcoef.row(j0 + j) = (theta_hat - Theta.col(j)).transpose();
  });
  return res;
}

MultinomialGroupStep multinomial_group_step(const Eigen::Ref<const RowMatrixXd>& X, const Eigen::Ref<const Eigen::VectorXd>& y,
                                            const Eigen::Ref<const Eigen::VectorXd>& w, const MultinomialFit& fit,
                                            const std::vector<std::int64_t>& offsets,
                                            const std::vector<std::int64_t>& indices, int n_threads) {
  check_fit_shapes(X, y, w, fit, "multinomial_group_step");
  const Index n = X.rows(), d = X.cols(), K = fit.n_classes, off = fit.fit_intercept ? 1 : 0, p = d + off, P = K * p;
  check_groups(offsets, indices, n, "multinomial_group_step");
  const Index n_groups = static_cast<Index>(offsets.size()) - 1;
  const RowMatrixXd R = rearranged_inverse(fit);
  MultinomialGroupStep res;
  res.dcoef = RowMatrixXd::Constant(n_groups, P, kNaN);
  res.ok.assign(static_cast<std::size_t>(n_groups), 0);
  parallel_for(n_groups, n_threads, [&](Index g) {
    const Index start = offsets[g], k = offsets[g + 1] - offsets[g], kK = k * K;
    RowMatrixXd Zg(k, p);
    for (Index r = 0; r < k; ++r) {
      if (off) Zg(r, 0) = 1.0;
      Zg.row(r).tail(d) = X.row(indices[start + r]);
    }
    const RowMatrixXd V = Zg * R;  // row r: (H^{-1} Z_r)^T as K x P
    // VG: P x kK, column (r, l) = H^{-1} applied to z_r in class block l.
    Eigen::MatrixXd VG(P, kK);
    for (Index r = 0; r < k; ++r)
      for (Index l = 0; l < K; ++l) VG.col(r * K + l) = V.row(r).segment(l * P, P).transpose();
    // Q = Z_G^T H^{-1} Z_G: entry ((r, l), (r', l')) = z_r . VG[class block l of column (r', l')].
    Eigen::MatrixXd Q(kK, kK);
    for (Index r = 0; r < k; ++r)
      for (Index l = 0; l < K; ++l)
        for (Index c = 0; c < kK; ++c) Q(r * K + l, c) = VG.col(c).segment(l * p, p).dot(Zg.row(r).transpose());
    Q = (0.5 * (Q + Q.transpose())).eval();
    Eigen::MatrixXd BG = Eigen::MatrixXd::Zero(kK, kK);
    Eigen::VectorXd a(kK);
    for (Index r = 0; r < k; ++r) {
      const Index i = indices[start + r];
      const double s = glm_detail::weight(w, i);
      const Eigen::VectorXd pi = fit.prob.row(i).transpose();
      const Eigen::VectorXd sq = pi.cwiseMax(0.0).cwiseSqrt();
      Eigen::MatrixXd Bi = -(pi * sq.transpose());
      Bi.diagonal() += sq;
      BG.block(r * K, r * K, K, K) = std::sqrt(s) * Bi;
      Eigen::VectorXd resid = pi;
      resid[code(y[i])] -= 1.0;
      a.segment(r * K, K) = s * resid;
    }
    Eigen::MatrixXd M = -(BG.transpose() * Q * BG);
    M.diagonal().array() += 1.0;
    Eigen::LLT<Eigen::MatrixXd> llt(M);
    if (llt.info() != Eigen::Success) return;
    const Eigen::MatrixXd L = llt.matrixL();
    if (!(L.diagonal().array().square().minCoeff() > kLeverageOneTol)) return;
    const Eigen::VectorXd c = a + BG * llt.solve(BG.transpose() * (Q * a));
    res.dcoef.row(g) = -(VG * c).transpose();
    res.ok[static_cast<std::size_t>(g)] = 1;
  });
  return res;
}

}  // namespace attrib
