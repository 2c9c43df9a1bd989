// The multinomial fit: the full pass (objective, gradient, Hessian of the gauge-augmented
// objective), the null-model start and the penalised Newton iteration.
#include "glm_multinomial_passes.hpp"

#include <cstdio>
#include <stdexcept>
#include <string>
#include <utility>

namespace attrib {

namespace mn_detail {

void mn_pass(const Eigen::Ref<const RowMatrixXd>& X, const Eigen::Ref<const Eigen::VectorXd>& y,
             const Eigen::Ref<const Eigen::VectorXd>& w, Index K, double l2, const Eigen::VectorXd& gauge,
             bool intercept, const Eigen::VectorXd& theta, bool want_hessian, int n_threads, MnPass& out,
             RowMatrixXd* prob) {
  const Index n = X.rows(), d = X.cols(), off = intercept ? 1 : 0, p = d + off, P = K * p;
  const bool count_separation = l2 == 0.0;
  Eigen::MatrixXd Wt;
  Eigen::VectorXd b;
  unpack(theta, K, d, intercept, Wt, b);
  // Per-chunk Hessians of P x P doubles: at most 64 MB of them.
  const Index budget = std::max<Index>(1, (Index(64) << 20) / (8 * std::max<Index>(P * P, 1)));
  // Chunks of >= 1,024 rows: every chunk's Hessian is a fresh P x P accumulator (at 256, seven of
  // them on digits, 1,797 x 650 parameters, cost a third of the pass in first-touch memory).
  const ChunkPlan plan = plan_chunks(n, 1024, std::min<Index>(64, want_hessian ? budget : Index(64)));
  std::vector<Eigen::MatrixXd> part_H(want_hessian ? plan.n_chunks : 0);
  Eigen::MatrixXd part_g = Eigen::MatrixXd::Zero(P, plan.n_chunks);
  Eigen::VectorXd part_F = Eigen::VectorXd::Zero(plan.n_chunks);
  std::vector<Index> part_ns(plan.n_chunks, 0);
  const Index block = std::clamp<Index>(65536 / std::max<Index>(P, 1), 32, 512);
  parallel_for(plan.n_chunks, n_threads, [&](Index c) {
    Eigen::MatrixXd Hc;
    if (want_hessian) Hc = Eigen::MatrixXd::Zero(P, P);
    RowMatrixXd E, R, Z, Yh;
    Eigen::MatrixXd Gw = Eigen::MatrixXd::Zero(d, K);
    Eigen::VectorXd gb = Eigen::VectorXd::Zero(K);
    double Fc = 0.0;
    Index ns = 0;
    for (Index r0 = plan.begin(c); r0 < plan.end(c); r0 += block) {
      const Index m = std::min(block, plan.end(c) - r0);
      const auto Xb = X.middleRows(r0, m);
      E.noalias() = Xb * Wt;
      if (intercept) E.rowwise() += b.transpose();
      if (count_separation) {
        for (Index r = 0; r < m; ++r) {
          const Index yk = code(y[r0 + r]);
          const double s = glm_detail::weight(w, r0 + r);
          double other = -std::numeric_limits<double>::infinity();
          for (Index k = 0; k < K; ++k)
            if (k != yk) other = std::max(other, E(r, k));
          if (s > 0.0 && !(E(r, yk) > other)) ++ns;
        }
      }
      Eigen::VectorXd eta_y(m);
      for (Index r = 0; r < m; ++r) eta_y[r] = E(r, code(y[r0 + r]));
      const Eigen::ArrayXd lse = softmax_rows(E);  // E is now the probabilities
      if (prob) prob->middleRows(r0, m) = E;
      Eigen::VectorXd s(m);
      for (Index r = 0; r < m; ++r) s[r] = glm_detail::weight(w, r0 + r);
      Fc += (s.array() * (lse - eta_y.array())).sum();
      R = E;
      for (Index r = 0; r < m; ++r) R(r, code(y[r0 + r])) -= 1.0;
      R = s.asDiagonal() * R;
      Gw.noalias() += Xb.transpose() * R;
      if (intercept) gb += R.colwise().sum().transpose();
      if (want_hessian) {
        glm_detail::design_rows(X, intercept, r0, m, Z);
        const Eigen::VectorXd rs = s.cwiseSqrt();
        // H_block = sum_i s_i (diag(pi_i) - pi_i pi_i^T) kron z_i z_i^T: the K diagonal blocks
        // sum_i s_i pi_ik z_i z_i^T, minus Yh^T Yh with Yh row i = sqrt(s_i) (pi_i kron z_i).
        Yh.resize(m, P);
        for (Index k = 0; k < K; ++k) {
          Yh.middleCols(k * p, p).noalias() = (rs.array() * E.col(k).array()).matrix().asDiagonal() * Z;
        }
        Hc.selfadjointView<Eigen::Lower>().rankUpdate(Yh.transpose(), -1.0);
        for (Index k = 0; k < K; ++k) {
          const RowMatrixXd Zk = (s.array() * E.col(k).array()).sqrt().matrix().asDiagonal() * Z;
          Hc.block(k * p, k * p, p, p).selfadjointView<Eigen::Lower>().rankUpdate(Zk.transpose(), 1.0);
        }
      }
    }
    auto gc = part_g.col(c);
    for (Index k = 0; k < K; ++k) {
      if (intercept) gc[k * p] = gb[k];
      gc.segment(k * p + off, d) = Gw.col(k);
    }
    part_F[c] = Fc;
    part_ns[c] = ns;
    if (want_hessian) part_H[c] = std::move(Hc);
  });
  out.F = 0.0;
  out.g = Eigen::VectorXd::Zero(P);
  out.not_separated = 0;
  out.has_hessian = want_hessian;
  if (want_hessian) out.H = Eigen::MatrixXd::Zero(P, P);
  for (Index c = 0; c < plan.n_chunks; ++c) {
    out.F += part_F[c];
    out.g += part_g.col(c);
    out.not_separated += part_ns[c];
    if (want_hessian) out.H.triangularView<Eigen::Lower>() += part_H[c];
  }
  // Penalty on every coefficient of every class (never the intercepts).
  double pen = 0.0;
  for (Index k = 0; k < K; ++k) {
    const auto beta = theta.segment(k * p + off, d);
    pen += beta.squaredNorm();
    out.g.segment(k * p + off, d) += l2 * beta;
    if (want_hessian) out.H.diagonal().segment(k * p + off, d).array() += l2;
  }
  out.F += 0.5 * l2 * pen;
  out.F_data = out.F;
  // Gauge term (gamma_a / 2) (sum_k theta_ka)^2 over the unpenalised coordinates a.
  for (Index a = 0; a < p; ++a) {
    if (gauge[a] == 0.0) continue;
    double sum = 0.0;
    for (Index k = 0; k < K; ++k) sum += theta[k * p + a];
    out.F += 0.5 * gauge[a] * sum * sum;
    for (Index k = 0; k < K; ++k) {
      out.g[k * p + a] += gauge[a] * sum;
      if (want_hessian)
        for (Index l = 0; l <= k; ++l) out.H(k * p + a, l * p + a) += gauge[a];
    }
  }
  if (want_hessian) out.H.triangularView<Eigen::StrictlyUpper>() = out.H.transpose();
}

Eigen::VectorXd mn_hessian_times(const Eigen::Ref<const RowMatrixXd>& X, const Eigen::Ref<const Eigen::VectorXd>& w,
                                 Index K, double l2, const Eigen::VectorXd& gauge, bool intercept,
                                 const RowMatrixXd& prob, const Eigen::VectorXd& v, int n_threads) {
  const Index n = X.rows(), d = X.cols(), off = intercept ? 1 : 0, p = d + off, P = K * p;
  Eigen::MatrixXd Vw;
  Eigen::VectorXd vb;
  unpack(v, K, d, intercept, Vw, vb);
  const ChunkPlan plan = plan_chunks(n, 1024, 64);  // long chunks: two skinny products each
  Eigen::MatrixXd part = Eigen::MatrixXd::Zero(P, plan.n_chunks);
  parallel_for(plan.n_chunks, n_threads, [&](Index c) {
    const Index r0 = plan.begin(c), m = plan.end(c) - r0;
    const auto Xb = X.middleRows(r0, m);
    const auto Pr = prob.middleRows(r0, m);
    // Row i's term s_i (diag(pi_i) - pi_i pi_i^T) (V^T z_i), then the design's transpose.
    RowMatrixXd U = Xb * Vw;
    if (intercept) U.rowwise() += vb.transpose();
    U = Pr.cwiseProduct(U);
    const Eigen::VectorXd dot = U.rowwise().sum();
    U.noalias() -= dot.asDiagonal() * Pr;
    if (w.size()) U = w.segment(r0, m).asDiagonal() * U;
    const Eigen::MatrixXd Gw = Xb.transpose() * U;
    auto gc = part.col(c);
    for (Index k = 0; k < K; ++k) {
      if (intercept) gc[k * p] = U.col(k).sum();
      gc.segment(k * p + off, d) = Gw.col(k);
    }
  });
  Eigen::VectorXd out = Eigen::VectorXd::Zero(P);
  for (Index c = 0; c < plan.n_chunks; ++c) out += part.col(c);
  for (Index k = 0; k < K; ++k) out.segment(k * p + off, d) += l2 * v.segment(k * p + off, d);
  for (Index a = 0; a < p; ++a) {
    if (gauge[a] == 0.0) continue;
    double sum = 0.0;
    for (Index k = 0; k < K; ++k) sum += v[k * p + a];
    for (Index k = 0; k < K; ++k) out[k * p + a] += gauge[a] * sum;
  }
  return out;
}

RowMatrixXd rearranged_inverse(const MultinomialFit& fit) {
  const Index K = fit.n_classes, p = fit.n_params_per_class(), P = K * p;
  RowMatrixXd R(p, K * P);
  for (Index l = 0; l < K; ++l)
    for (Index b = 0; b < p; ++b) R.row(b).segment(l * P, P) = fit.hess_inv.row(l * p + b);
  return R;
}

}  // namespace mn_detail

using namespace mn_detail;

namespace {

std::string fmt(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g", v);
  return buf;
}

constexpr double kRoundingStep = 1e-14;
// Conjugate-gradient products per Newton step before the preconditioner is refreshed, and the
// relative residual each step is solved to.
constexpr int kMaxCg = 25;
constexpr double kCgTol = 1e-2;

// H^{-1} = L^{-T} L^{-1} from the lower Cholesky factor, by blocks of columns so that both the
// triangular inverse and the product skip the zero triangles (P^3 / 3 multiply-adds in all,
// against P^3 for a solve with the identity); exactly symmetric.
RowMatrixXd inverse_from_cholesky(const RowMatrixXd& L) {
  const Index P = L.rows(), nb = 64;
  Eigen::MatrixXd Linv = Eigen::MatrixXd::Zero(P, P);
  for (Index j0 = 0; j0 < P; j0 += nb) {
    const Index jb = std::min(nb, P - j0), m = P - j0;
    Linv.block(j0, j0, jb, jb).setIdentity();
    L.block(j0, j0, m, m).triangularView<Eigen::Lower>().solveInPlace(Linv.block(j0, j0, m, jb));
  }
  Eigen::MatrixXd Hi(P, P);
  for (Index j0 = 0; j0 < P; j0 += nb) {
    const Index jb = std::min(nb, P - j0), m = P - j0;
    // Rows j0.. of columns j0..j0+jb: (L^{-1}[j0:, j0:])^T L^{-1}[j0:, block] (zero above row j0).
    Hi.block(j0, j0, m, jb).noalias() =
        Linv.block(j0, j0, m, m).transpose().triangularView<Eigen::Upper>() * Linv.block(j0, j0, m, jb);
  }
  RowMatrixXd out(P, P);
  out.triangularView<Eigen::Lower>() = Hi;
  out.triangularView<Eigen::StrictlyUpper>() = Hi.transpose();
  return out;
}

}  // namespace

Eigen::VectorXd MultinomialFit::theta() const {
  const Index K = n_classes, d = coef.cols(), off = fit_intercept ? 1 : 0, p = d + off;
  Eigen::VectorXd t(K * p);
  for (Index k = 0; k < K; ++k) {
    if (fit_intercept) t[k * p] = intercept[k];
    t.segment(k * p + off, d) = coef.row(k).transpose();
  }
  return t;
}

MultinomialFit multinomial_fit(const Eigen::Ref<const RowMatrixXd>& X, const Eigen::Ref<const Eigen::VectorXd>& y,
                               const Eigen::Ref<const Eigen::VectorXd>& w, const Eigen::Ref<const Eigen::VectorXd>& start,
                               const MultinomialFitOptions& options) {
  const Index K = options.n_classes, n = X.rows(), d = X.cols(), off = options.fit_intercept ? 1 : 0, p = d + off;
  const Index P = K * p;
  const double l2 = options.l2, tol = options.tol;
  if (K < 2) throw std::invalid_argument("multinomial_fit: n_classes must be >= 2");
  if (y.size() != n) throw std::invalid_argument("multinomial_fit: y must have one entry per row of X");
  if (w.size() != 0 && w.size() != n) throw std::invalid_argument("multinomial_fit: w must be empty or of length n");
  if (start.size() != 0 && start.size() != P)
    throw std::invalid_argument("multinomial_fit: start must be empty or of length n_classes * p");
  if (!(l2 >= 0.0)) throw std::invalid_argument("multinomial_fit: l2 must be >= 0");
  if (options.max_iter < 1 || !(tol > 0.0)) throw std::invalid_argument("multinomial_fit: max_iter >= 1 and tol > 0");
  Eigen::VectorXd count = Eigen::VectorXd::Zero(K), zsq = Eigen::VectorXd::Zero(p);
  double sw = 0.0;
  for (Index i = 0; i < n; ++i) {
    const double c = y[i];
    if (!(c >= 0.0 && c < double(K) && c == std::floor(c)))
      throw std::invalid_argument("multinomial_fit: y must hold class codes 0 .. n_classes - 1");
    const double s = glm_detail::weight(w, i);
    count[code(c)] += s;
    sw += s;
  }
  if (!(sw > 0.0)) throw std::invalid_argument("multinomial_fit: the weights sum to zero");

  MultinomialFit fit;
  fit.n_classes = K;
  fit.fit_intercept = options.fit_intercept;
  fit.l2 = l2;
  // Gauge weights: the unpenalised coordinates' mean weighted square over K^2 (the scale of the
  // data Hessian along them), so the gauge directions do not spoil the conditioning.
  fit.gauge = Eigen::VectorXd::Zero(p);
  if (off || l2 == 0.0) {
    for (Index i = 0; i < n; ++i) {
      const double s = glm_detail::weight(w, i);
      if (off) zsq[0] += s;
      if (l2 == 0.0) zsq.tail(d) += s * X.row(i).transpose().cwiseAbs2();
    }
    for (Index a = 0; a < p; ++a) {
      const bool unpenalised = (off && a == 0) || l2 == 0.0;
      if (unpenalised) fit.gauge[a] = std::max(zsq[a], 1e-300) / double(K * K);
    }
  }
  Eigen::VectorXd theta = Eigen::VectorXd::Zero(P);
  if (start.size()) {
    theta = start;
  } else if (off) {
    double mean = 0.0;
    for (Index k = 0; k < K; ++k) mean += std::log(std::max(count[k] / sw, 1e-10));
    mean /= double(K);
    for (Index k = 0; k < K; ++k) theta[k * p] = std::log(std::max(count[k] / sw, 1e-10)) - mean;
  }
  const bool check_separation = l2 == 0.0;
  RowMatrixXd prob(n, K), prob_t(n, K);
  MnPass cur, trial;
  bool cur_exact = false;  // cur.H is the double-precision Hessian at theta
  auto pass = [&](const Eigen::VectorXd& at, bool hess, MnPass& o, RowMatrixXd& pr) {
    mn_pass(X, y, w, K, l2, fit.gauge, options.fit_intercept, at, hess, options.n_threads, o, &pr);
  };
  auto throw_singular = [&] {
    throw std::domain_error("the Hessian is singular: columns of X are collinear" +
                            std::string(off ? " (with each other or with the intercept)" : "") +
                            " or the fit separates the classes; use a penalty (C < inf)");
  };
  auto throw_separation = [] {
    throw std::domain_error("perfect separation: a linear function of X classifies every training row correctly, "
                            "so the unpenalised coefficients are infinite; use a penalty (C < inf)");
  };
  // Newton steps are solved by conjugate gradients with exact Hessian-vector products (O(n K p)
  // each), preconditioned by the Cholesky factor of a Hessian from an earlier iterate. Forming and
  // factoring the (K p)^2 Hessian costs as much as hundreds of products, so it is refreshed only
  // when the preconditioner no longer solves within kMaxCg products (on digits, 1,797 x 64 with
  // K = 10: once, against 11 Hessians for plain Newton). A Hessian at the start may be the last
  // (a start at or next to the optimum), so it is kept if the fit ends there.
  if (start.size()) {
    pass(theta, true, cur, prob);
    cur_exact = true;
  } else {
    // The null start gives every row the same probabilities pi, so its Hessian is a Kronecker
    // product, (diag(pi) - pi pi^T) kron Z^T S Z plus the penalty and the gauge term: O(n p^2)
    // instead of a pass of O(n (K p)^2).
    pass(theta, false, cur, prob);
    Eigen::MatrixXd G = Eigen::MatrixXd::Zero(p, p);
    RowMatrixXd Zb;
    for (Index r0 = 0; r0 < n; r0 += 512) {
      const Index m = std::min<Index>(512, n - r0);
      glm_detail::design_rows(X, options.fit_intercept, r0, m, Zb);
      if (w.size()) Zb = w.segment(r0, m).cwiseSqrt().asDiagonal() * Zb;
      G.selfadjointView<Eigen::Lower>().rankUpdate(Zb.transpose());
    }
    G.triangularView<Eigen::StrictlyUpper>() = G.transpose();
    Eigen::RowVectorXd pi(K);
    for (Index k = 0; k < K; ++k) pi[k] = theta[k * p];
    pi = (pi.array() - pi.maxCoeff()).exp().matrix();
    pi /= pi.sum();
    cur.H.resize(P, P);
    for (Index k = 0; k < K; ++k)
      for (Index l = 0; l < K; ++l) cur.H.block(k * p, l * p, p, p) = ((k == l ? pi[k] : 0.0) - pi[k] * pi[l]) * G;
    for (Index k = 0; k < K; ++k) {
      cur.H.diagonal().segment(k * p + off, d).array() += l2;
      for (Index a = 0; a < p; ++a)
        for (Index l = 0; l < K; ++l) cur.H(k * p + a, l * p + a) += fit.gauge[a];
    }
    cur.has_hessian = true;
    cur_exact = false;
  }
  if (!std::isfinite(cur.F)) throw std::domain_error("multinomial_fit: the objective is not finite at the start");
  Eigen::LLT<Eigen::MatrixXd> pre;
  bool pre_here = false;  // pre factors a Hessian at the current theta
  auto refresh = [&] {
    if (!cur.has_hessian) {
      pass(theta, true, cur, prob);
      cur_exact = true;
    }
    pre.compute(cur.H);
    if (pre.info() != Eigen::Success) throw_singular();
    pre_here = true;
  };
  auto hv = [&](const Eigen::VectorXd& v) {
    return mn_hessian_times(X, w, K, l2, fit.gauge, options.fit_intercept, prob, v, options.n_threads);
  };
  // Preconditioned conjugate gradients on H x = g to a relative residual kCgTol (an inexact Newton
  // step: the fit then converges linearly at about that rate once Newton's own rate is faster).
  auto pcg = [&](const Eigen::VectorXd& g, Eigen::VectorXd& x) -> bool {
    x.setZero(P);
    const double target = kCgTol * g.norm();
    if (!(target > 0.0)) return true;
    Eigen::VectorXd r = g, z = pre.solve(r), q = z, Aq;
    double rz = r.dot(z);
    for (int k = 0; k < kMaxCg; ++k) {
      Aq = hv(q);
      const double qAq = q.dot(Aq);
      if (!(qAq > 0.0) || !(rz > 0.0)) return false;
      const double alpha = rz / qAq;
      x += alpha * q;
      r -= alpha * Aq;
      if (r.norm() <= target) return true;
      z = pre.solve(r);
      const double rz_next = r.dot(z);
      q = z + (rz_next / rz) * q;
      rz = rz_next;
    }
    return false;
  };
  refresh();
  Eigen::VectorXd delta;
  for (int it = 0; it < options.max_iter; ++it) {
    if (check_separation && cur.not_separated == 0) throw_separation();
    if (!pcg(cur.g, delta)) {
      if (!pre_here) {  // the preconditioner is stale: refresh it here and solve again
        refresh();
      }
      // Even the Hessian here does not solve within kMaxCg products (rounding, on an ill-conditioned
      // H): its Newton step. A Kronecker start is recomputed by a pass (it is exact only in theory).
      if (!pcg(cur.g, delta)) {
        if (!cur_exact) {
          pass(theta, true, cur, prob);
          cur_exact = true;
          pre.compute(cur.H);
          if (pre.info() != Eigen::Success) throw_singular();
        }
        delta = pre.solve(cur.g);
      }
    }
    const double step = glm_detail::max_abs(delta);
    const double scale = 1.0 + glm_detail::max_abs(theta);
    fit.n_iter = it + 1;
    fit.step_max = step;
    if (step <= tol * scale) {
      fit.converged = true;
      if (options.polish && step > kRoundingStep * scale) {
        theta -= delta;
        pass(theta, false, cur, prob);
        cur_exact = false;
      }
      break;
    }
    const double dec = cur.g.dot(delta);
    const bool near = glm_detail::in_quadratic_region(dec, cur.F, step, scale);
    double t = 1.0;
    bool accepted = false;
    for (int ls = 0; ls < 50 && !accepted; ++ls, t *= 0.5) {
      const Eigen::VectorXd theta_t = theta - t * delta;
      pass(theta_t, false, trial, prob_t);  // gradient only: the steps need no Hessian
      if (std::isfinite(trial.F) && (near || trial.F <= cur.F - 1e-4 * t * dec + 1e-13 * std::abs(cur.F))) {
        theta = theta_t;
        std::swap(cur, trial);
        prob.swap(prob_t);
        cur_exact = false;
        pre_here = false;
        accepted = true;
      }
    }
    if (!accepted) break;  // no decrease possible: at the rounding floor, or stuck; reported via converged
  }
  if (!(cur.has_hessian && cur_exact)) pass(theta, true, cur, prob);
  if (check_separation && cur.not_separated == 0) throw_separation();
  Eigen::LLT<Eigen::MatrixXd> llt(cur.H);
  if (llt.info() != Eigen::Success) throw_singular();
  fit.chol = llt.matrixL();
  fit.hess_inv = inverse_from_cholesky(fit.chol);
  // Reciprocal condition number (1-norm) of H scaled to a unit diagonal, from H and its inverse.
  const Eigen::VectorXd dh = cur.H.diagonal().cwiseSqrt();
  const Eigen::VectorXd dinv = dh.cwiseInverse();
  const double norm_s = (dinv.asDiagonal() * cur.H.cwiseAbs() * dinv.asDiagonal()).colwise().sum().maxCoeff();
  const double norm_si = (dh.asDiagonal() * fit.hess_inv.cwiseAbs() * dh.asDiagonal()).colwise().sum().maxCoeff();
  fit.rcond = std::isfinite(norm_s * norm_si) && norm_s * norm_si > 0.0 ? 1.0 / (norm_s * norm_si) : 0.0;
  if (!(fit.rcond > 10.0 * std::numeric_limits<double>::epsilon()))
    throw std::domain_error("the Hessian is numerically singular (reciprocal condition number " + fmt(fit.rcond) +
                            " of the scaled Hessian): columns of X are collinear or the fit nearly separates the "
                            "classes; use a penalty (C < inf) or remove collinear columns");
  fit.coef.resize(K, d);
  fit.intercept = Eigen::VectorXd::Zero(K);
  for (Index k = 0; k < K; ++k) {
    if (off) fit.intercept[k] = theta[k * p];
    fit.coef.row(k) = theta.segment(k * p + off, d).transpose();
  }
  fit.prob = std::move(prob);
  fit.objective = cur.F_data;
  fit.grad_max = glm_detail::max_abs(cur.g);
  return fit;
}

}  // namespace attrib
