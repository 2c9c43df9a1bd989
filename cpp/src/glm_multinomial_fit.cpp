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
  // Per-chunk Hessians of P x P doubles: at most 64 MB of them, chunks of >= 256 rows.
  const Index budget = std::max<Index>(1, (Index(64) << 20) / (8 * std::max<Index>(P * P, 1)));
  const ChunkPlan plan = plan_chunks(n, 256, std::min<Index>(64, want_hessian ? budget : Index(64)));
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
  auto pass = [&](const Eigen::VectorXd& at, bool hess, MnPass& o, RowMatrixXd& pr) {
    mn_pass(X, y, w, K, l2, fit.gauge, options.fit_intercept, at, hess, options.n_threads, o, &pr);
  };
  pass(theta, true, cur, prob);
  if (!std::isfinite(cur.F)) throw std::domain_error("multinomial_fit: the objective is not finite at the start");
  Eigen::LLT<Eigen::MatrixXd> llt;
  auto throw_singular = [&] {
    throw std::domain_error("the Hessian is singular: columns of X are collinear" +
                            std::string(off ? " (with each other or with the intercept)" : "") +
                            " or the fit separates the classes; use a penalty (C < inf)");
  };
  // Near the optimum a Hessian from an earlier iterate still contracts fast (chord steps), so
  // trial passes there skip the O(n (K p)^2) Hessian; it is refreshed when the steps stop
  // shrinking tenfold, and computed in the trial that the contraction seen predicts to be the last.
  bool chord = false;  // llt factors a Hessian from an earlier iterate
  double prev_step = std::numeric_limits<double>::infinity();
  for (int it = 0; it < options.max_iter; ++it) {
    if (check_separation && cur.not_separated == 0)
      throw std::domain_error("perfect separation: a linear function of X classifies every training row correctly, "
                              "so the unpenalised coefficients are infinite; use a penalty (C < inf)");
    if (!chord) {
      if (!cur.has_hessian) pass(theta, true, cur, prob);
      llt.compute(cur.H);
      if (llt.info() != Eigen::Success) throw_singular();
    }
    Eigen::VectorXd delta = llt.solve(cur.g);
    double step = glm_detail::max_abs(delta);
    const double scale = 1.0 + glm_detail::max_abs(theta);
    if (chord && !(step <= 0.1 * prev_step)) {  // the old Hessian no longer contracts fast
      pass(theta, true, cur, prob);
      llt.compute(cur.H);
      if (llt.info() != Eigen::Success) throw_singular();
      chord = false;
      delta = llt.solve(cur.g);
      step = glm_detail::max_abs(delta);
    }
    fit.n_iter = it + 1;
    fit.step_max = step;
    if (step <= tol * scale) {
      fit.converged = true;
      if (options.polish && step > kRoundingStep * scale) {
        theta -= delta;
        pass(theta, true, cur, prob);
      }
      break;  // a chord iterate gets its exact Hessian below
    }
    const bool next_converged = std::isfinite(prev_step) && step * (step / prev_step) <= tol * scale;
    const bool next_chord = step <= 1e-3 * scale && !next_converged;
    const double dec = cur.g.dot(delta);
    const bool near = glm_detail::in_quadratic_region(dec, cur.F, step, scale);
    double t = 1.0, t_taken = 0.0;
    bool accepted = false;
    for (int ls = 0; ls < 50 && !accepted; ++ls, t *= 0.5) {
      const Eigen::VectorXd theta_t = theta - t * delta;
      t_taken = t;
      // The full step is almost always taken: its Hessian at once (unless the next step is a chord step).
      pass(theta_t, ls == 0 && !next_chord, trial, prob_t);
      if (std::isfinite(trial.F) && (near || trial.F <= cur.F - 1e-4 * t * dec + 1e-13 * std::abs(cur.F))) {
        theta = theta_t;
        std::swap(cur, trial);
        prob.swap(prob_t);
        accepted = true;
      }
    }
    if (!accepted) break;  // no decrease possible: at the rounding floor, or stuck; reported via converged
    chord = next_chord && t_taken == 1.0;
    prev_step = step;
  }
  if (!cur.has_hessian) pass(theta, true, cur, prob);
  if (check_separation && cur.not_separated == 0)
    throw std::domain_error("perfect separation: a linear function of X classifies every training row correctly, "
                            "so the unpenalised coefficients are infinite; use a penalty (C < inf)");
  llt.compute(cur.H);
  if (llt.info() != Eigen::Success) throw_singular();
  const Eigen::VectorXd dinv = cur.H.diagonal().cwiseSqrt().cwiseInverse();
  Eigen::LLT<Eigen::MatrixXd> scaled(dinv.asDiagonal() * cur.H * dinv.asDiagonal());
  fit.rcond = scaled.info() == Eigen::Success ? scaled.rcond() : 0.0;
  if (!(fit.rcond > 10.0 * std::numeric_limits<double>::epsilon()))
    throw std::domain_error("the Hessian is numerically singular (reciprocal condition number " + fmt(fit.rcond) +
                            " of the scaled Hessian): columns of X are collinear or the fit nearly separates the "
                            "classes; use a penalty (C < inf) or remove collinear columns");
  fit.chol = llt.matrixL();
  const RowMatrixXd Linv = fit.chol.triangularView<Eigen::Lower>().solve(RowMatrixXd::Identity(P, P));
  fit.hess_inv.noalias() = Linv.transpose() * Linv;
  fit.hess_inv = (0.5 * (fit.hess_inv + fit.hess_inv.transpose())).eval();
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
