// The GLM fit: loss derivatives, the full pass over the rows (objective, gradient, Hessian in
// single or double precision), the null-model start and the penalised Newton iteration.
#include "glm_passes.hpp"

#include <Eigen/Cholesky>

#include <cstdio>
#include <stdexcept>
#include <string>
#include <utility>

namespace attrib {

using namespace glm_detail;

namespace {

std::string fmt(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g", v);
  return buf;
}


// Which Hessian a pass computes. Newton steps far from the optimum only need a good enough
// matrix: single-precision rank updates (summed per block into double) serve them at a fraction
// of the cost, while the Hessian the fit ends with, which every leave-one-out formula uses, is
// always accumulated in double.
enum class Hess { none, approx, exact };

// Objective, gradient and Hessian at theta in one pass over fixed row chunks, summed in chunk
// order. Also stores eta, d1, d2 per row and counts rows that theta misclassifies (or puts on
// the boundary), which is how perfect separation is detected.
struct PassOut {
  double F = 0.0;
  Eigen::VectorXd g;
  Eigen::MatrixXd H;
  Hess hess = Hess::none;
  Index not_separated = 0;
};

// Checksums of the inputs, taken by one pass while each block is in cache (see fingerprint.hpp).
struct InputSums {
  FingerprintSums x, y, w, offset;
  void append(const InputSums& o) {
    x.append(o.x);
    y.append(o.y);
    w.append(o.w);
    offset.append(o.offset);
  }
};

FingerprintSums vector_sums(const Eigen::Ref<const Eigen::VectorXd>& v, Index r0, Index m) {
  return v.size() ? FingerprintSums::of(v.data() + r0, static_cast<std::size_t>(m), static_cast<std::size_t>(r0))
                  : FingerprintSums();
}

void full_pass(const Eigen::Ref<const RowMatrixXd>& X, const Eigen::Ref<const Eigen::VectorXd>& y,
               const Eigen::Ref<const Eigen::VectorXd>& w, const Eigen::Ref<const Eigen::VectorXd>& offset,
               GlmFamily family, double l2, bool intercept,
               const Eigen::VectorXd& theta, Hess hess, int n_threads, PassOut& out, Eigen::VectorXd& eta,
               Eigen::VectorXd& d1, Eigen::VectorXd& d2, InputSums* sums = nullptr) {
  const bool want_hessian = hess != Hess::none;
  const Index n = X.rows(), d = X.cols(), off = intercept ? 1 : 0, p = d + off;
  const bool count_separation = family == GlmFamily::logistic && l2 == 0.0;  // only glm_fit's check reads it
  const Index budget = std::max<Index>(1, (Index(64) << 20) / (8 * std::max<Index>(p * p, 1)));
  // Chunks of >= 1,024 rows: small fits (a warm start's 6,250 rows) still split evenly over the
  // threads, and at n = 100,000 each of the 64 chunks is one block (with 2,048, chunks of 2,083
  // rows ended in a 35-row sliver; measured 3 ms faster end to end at n = 100,000, d = 50).
  const ChunkPlan plan = plan_chunks(n, 1024, std::min<Index>(64, budget));
  std::vector<Eigen::MatrixXd> part_H(want_hessian ? plan.n_chunks : 0);
  Eigen::MatrixXd part_g = Eigen::MatrixXd::Zero(p, plan.n_chunks);
  Eigen::VectorXd part_F = Eigen::VectorXd::Zero(plan.n_chunks);
  std::vector<Index> part_ns(plan.n_chunks, 0);
  eta.resize(n);
  d1.resize(n);
  d2.resize(n);
  const Index block = block_rows(p);
  std::vector<InputSums> part_sums(sums ? plan.n_chunks : 0);
  parallel_for_with_state(plan.n_chunks, n_threads, [] { return RowScratch(); }, [&](Index c, RowScratch& sc) {
    Eigen::MatrixXd Hc;
    if (want_hessian) Hc = Eigen::MatrixXd::Zero(p, p);
    double Fc = 0.0;
    Index ns = 0;
    for (Index r0 = plan.begin(c); r0 < plan.end(c); r0 += block) {
      const Index m = std::min(block, plan.end(c) - r0);
      // Straight from the rows of X, without a design copy: eta = X theta_beta + b, and the
      // gradient X^T v plus sum(v) for the intercept. Only a Hessian needs the scaled rows.
      const auto Xb = X.middleRows(r0, m);
      auto e = eta.segment(r0, m);
      e.noalias() = Xb * theta.tail(d);
      if (intercept) e.array() += theta[0];
      if (offset.size()) e += offset.segment(r0, m);
      sc.y = y.segment(r0, m);
      sc.eta = e;
      if (w.size() == 0) {
        sc.s.setOnes(m);
      } else {
        sc.s = w.segment(r0, m);
      }
      loss_derivs_array(family, sc.y, sc.eta, &sc.loss, &sc.d1, &sc.d2);
      d1.segment(r0, m) = sc.d1.matrix();
      d2.segment(r0, m) = sc.d2.matrix();
      Fc += (sc.s * sc.loss).sum();
      sc.v1 = (sc.s * sc.d1).matrix();
      if (count_separation) {
        // Separation is a property of X: judged on z'theta, without the offset (an offset that
        // alone classifies every row leaves a finite maximum-likelihood estimate).
        const Eigen::ArrayXd margin = offset.size() ? Eigen::ArrayXd(sc.eta - offset.segment(r0, m).array()) : sc.eta;
        ns += ((sc.s > 0.0) && !((2.0 * sc.y - 1.0) * margin > 0.0)).count();
      }
      auto gc = part_g.col(c);
      gc.tail(d).noalias() += Xb.transpose() * sc.v1;
      if (intercept) gc[0] += sc.v1.sum();
      if (want_hessian) {
        // Rows of Z scaled by sqrt(s d2), written once (in float for an approximate Hessian).
        sc.v2 = (sc.s * sc.d2).sqrt().matrix();
        if (hess == Hess::exact) {
          RowMatrixXd& Z = sc.Z;
          Z.resize(m, p);
          if (intercept) Z.col(0) = sc.v2;
          Z.rightCols(d).noalias() = sc.v2.asDiagonal() * Xb;
          Hc.selfadjointView<Eigen::Lower>().rankUpdate(Z.transpose());
        } else {
          sc.Zf.resize(m, p);
          if (intercept) sc.Zf.col(0) = sc.v2.cast<float>();
          sc.Zf.rightCols(d) = (sc.v2.asDiagonal() * Xb).cast<float>();
          sc.Hf.setZero(p, p);
          sc.Hf.selfadjointView<Eigen::Lower>().rankUpdate(sc.Zf.transpose());
          Hc.triangularView<Eigen::Lower>() += sc.Hf.cast<double>();
        }
      }
      if (sums) {
        InputSums& ps = part_sums[c];
        if (X.outerStride() == d) {
          ps.x.append(FingerprintSums::of(X.data() + r0 * d, static_cast<std::size_t>(m * d),
                                          static_cast<std::size_t>(r0 * d)));
        } else {
          for (Index i = r0; i < r0 + m; ++i)
            ps.x.append(FingerprintSums::of(X.row(i).data(), static_cast<std::size_t>(d), static_cast<std::size_t>(i * d)));
        }
        ps.y.append(vector_sums(y, r0, m));
        ps.w.append(vector_sums(w, r0, m));
        ps.offset.append(vector_sums(offset, r0, m));
      }
    }
    part_F[c] = Fc;
    part_ns[c] = ns;
    if (want_hessian) part_H[c] = std::move(Hc);
  });
  if (sums)
    for (const InputSums& ps : part_sums) sums->append(ps);
  // Chunk order, not thread order: the same bits for any thread count.
  out.F = 0.0;
  out.hess = hess;
  out.g = Eigen::VectorXd::Zero(p);
  out.not_separated = 0;
  if (want_hessian) out.H = Eigen::MatrixXd::Zero(p, p);
  for (Index c = 0; c < plan.n_chunks; ++c) {
    out.F += part_F[c];
    out.g += part_g.col(c);
    out.not_separated += part_ns[c];
    if (want_hessian) out.H.triangularView<Eigen::Lower>() += part_H[c];
  }
  const auto beta = theta.tail(d);
  out.F += 0.5 * l2 * beta.squaredNorm();
  out.g.tail(d) += l2 * beta;
  if (want_hessian) {
    out.H.diagonal().tail(d).array() += l2;
    out.H.triangularView<Eigen::StrictlyUpper>() = out.H.transpose();
  }
}

// Initial theta: beta = 0, intercept of the null model (weighted mean of y through the link).
Eigen::VectorXd null_start(const Eigen::Ref<const Eigen::VectorXd>& y, const Eigen::Ref<const Eigen::VectorXd>& w,
                           const Eigen::Ref<const Eigen::VectorXd>& offset, GlmFamily family, Index p, bool intercept) {
  Eigen::VectorXd theta = Eigen::VectorXd::Zero(p);
  if (!intercept) return theta;
  double sy = 0.0, sw = 0.0;
  for (Index i = 0; i < y.size(); ++i) {
    sy += weight(w, i) * y[i];
    sw += weight(w, i);
  }
  const double ybar = sy / sw;
  switch (family) {
    case GlmFamily::logistic: {
      const double m = std::clamp(ybar, 1e-10, 1.0 - 1e-10);
      theta[0] = std::log(m / (1.0 - m));
      break;
    }
    case GlmFamily::poisson: {
      // With offsets (log exposures) the null model's rate is sum(s y) / sum(s e^o).
      double exposure = sw;
      if (offset.size()) {
        exposure = 0.0;
        for (Index i = 0; i < y.size(); ++i) exposure += weight(w, i) * std::exp(offset[i]);
      }
      theta[0] = std::log(std::max(sy / exposure, 1e-10));
      break;
    }
    case GlmFamily::gaussian:
      theta[0] = ybar;
      break;
  }
  return theta;
}

// A Newton step this small relative to (1 + max |theta|) is rounding: not worth a pass to take.
constexpr double kRoundingStep = 1e-14;

[[noreturn]] void throw_separation() {
  throw std::domain_error(
      "perfect separation: a linear function of X classifies every training row correctly, so the "
      "unpenalised maximum-likelihood coefficients are infinite; use a penalty (C < inf)");
}

}  // namespace

GlmLossDerivs glm_loss_derivs(GlmFamily family, double y, double eta) {
  switch (family) {
    case GlmFamily::logistic: {
      // e = exp(-|eta|) never overflows; mu and 1 - mu are each formed without cancellation.
      const double e = std::exp(-std::abs(eta));
      const double big = 1.0 / (1.0 + e), small = e / (1.0 + e);
      const double mu = eta >= 0 ? big : small, omm = eta >= 0 ? small : big;
      const double loss = std::log1p(e) + std::max(eta, 0.0) - y * eta;
      return {loss, (1.0 - y) * mu - y * omm, big * small};
    }
    case GlmFamily::poisson: {
      const double m = std::exp(eta);
      return {m - y * eta, m - y, m};
    }
    case GlmFamily::gaussian:
    default: {
      const double r = eta - y;
      return {0.5 * r * r, r, 1.0};
    }
  }
}

Eigen::VectorXd GlmFit::theta() const {
  Eigen::VectorXd t(coef.size() + (fit_intercept ? 1 : 0));
  if (fit_intercept) t[0] = intercept;
  t.tail(coef.size()) = coef;
  return t;
}

GlmFit glm_fit(const Eigen::Ref<const RowMatrixXd>& X, const Eigen::Ref<const Eigen::VectorXd>& y,
               const Eigen::Ref<const Eigen::VectorXd>& w, const Eigen::Ref<const Eigen::VectorXd>& offset,
               const Eigen::Ref<const Eigen::VectorXd>& start, const Eigen::Ref<const RowMatrixXd>& start_hessian,
               const GlmFitOptions& options) {
  const GlmFamily family = options.family;
  const double l2 = options.l2, tol = options.tol;
  const bool fit_intercept = options.fit_intercept, polish = options.polish;
  const int max_iter = options.max_iter, n_threads = options.n_threads;
  const Index n = X.rows(), d = X.cols(), off = fit_intercept ? 1 : 0, p = d + off;
  if (y.size() != n) throw std::invalid_argument("glm_fit: y must have one entry per row of X");
  if (w.size() != 0 && w.size() != n) throw std::invalid_argument("glm_fit: w must be empty or of length n");
  if (offset.size() != 0 && offset.size() != n)
    throw std::invalid_argument("glm_fit: offset must be empty or of length n");
  if (start.size() != 0 && start.size() != p) throw std::invalid_argument("glm_fit: start must be empty or of length p");
  if (start_hessian.size() != 0 && (start.size() == 0 || start_hessian.rows() != p || start_hessian.cols() != p))
    throw std::invalid_argument("glm_fit: start_hessian must be empty, or p x p together with start");
  if (!(l2 >= 0.0)) throw std::invalid_argument("glm_fit: l2 must be >= 0");
  if (max_iter < 1 || !(tol > 0.0)) throw std::invalid_argument("glm_fit: max_iter must be >= 1 and tol > 0");
  const bool check_separation = family == GlmFamily::logistic && l2 == 0.0;

  GlmFit fit;
  fit.family = family;
  fit.fit_intercept = fit_intercept;
  fit.l2 = l2;
  Eigen::VectorXd theta = start.size() ? Eigen::VectorXd(start) : null_start(y, w, offset, family, p, fit_intercept);
  Eigen::VectorXd eta, d1, d2, eta_t, d1_t, d2_t;
  PassOut cur, trial;
  // A given starting Hessian (an estimate from a subsample) stands in for the first O(n p^2) pass:
  // it is used as a chord, so it is replaced as soon as its steps stop contracting fast.
  bool chord = start_hessian.size() != 0;  // llt factors a Hessian from elsewhere than theta
  bool hess_valid = !chord;                // cur.H is a Hessian at theta (cur.hess says which)
  InputSums sums;  // checksums of the inputs, when asked for, from the first pass
  bool first_pass = options.fingerprint;
  auto pass = [&](const Eigen::VectorXd& at, Hess hess, PassOut& out, Eigen::VectorXd& e, Eigen::VectorXd& g1,
                  Eigen::VectorXd& g2) {
    full_pass(X, y, w, offset, family, l2, fit_intercept, at, hess, n_threads, out, e, g1, g2,
              first_pass ? &sums : nullptr);
    first_pass = false;
  };
  // From a given start (often at or next to the optimum: a refit, an estimator's coefficients)
  // the first Hessian may be the last, so it is exact; from the null start it is approximate.
  pass(theta, chord ? Hess::none : (start.size() ? Hess::exact : Hess::approx), cur, eta, d1, d2);
  if (options.fingerprint) {
    const auto bytes = [](Index words) { return static_cast<std::size_t>(8 * words); };
    fit.x_fingerprint = sums.x.finish(0, bytes(n * d));
    fit.y_fingerprint = sums.y.finish(0, bytes(n));
    if (w.size()) fit.w_fingerprint = sums.w.finish(0, bytes(n));
    if (offset.size()) fit.offset_fingerprint = sums.offset.finish(0, bytes(n));
  }
  if (!std::isfinite(cur.F)) throw std::domain_error("glm_fit: the objective is not finite at the starting point");

  Eigen::LLT<Eigen::MatrixXd> llt;
  // Factors cur.H. A single-precision Hessian carries relative errors ~1e-7 times the condition
  // number of H scaled to a unit diagonal, which is how much slower than Newton its steps
  // converge: past a scaled condition number of 1e5 (or when rounding costs definiteness) it is
  // recomputed in double, and the fit stays in double from then on.
  bool approx_ok = true;
  auto factor = [&] {
    llt.compute(cur.H);
    if (cur.hess == Hess::approx) {
      bool good = llt.info() == Eigen::Success;
      if (good) {
        const Eigen::VectorXd dinv = cur.H.diagonal().cwiseSqrt().cwiseInverse();
        const Eigen::LLT<Eigen::MatrixXd> scaled(dinv.asDiagonal() * cur.H * dinv.asDiagonal());
        good = scaled.info() == Eigen::Success && scaled.rcond() > 1e-5;
      }
      if (!good) {
        approx_ok = false;
        pass(theta, Hess::exact, cur, eta, d1, d2);
        llt.compute(cur.H);
      }
    }
    if (llt.info() != Eigen::Success)
      throw std::domain_error("the Hessian is singular: columns of X are collinear" +
                              std::string(fit_intercept ? " (with each other or with the intercept)" : "") +
                              " or the weights d2l/deta2 vanish (separation); use a penalty (C < inf)");
  };
  if (chord) {
    llt.compute(Eigen::MatrixXd(start_hessian));
    if (llt.info() != Eigen::Success) throw std::invalid_argument("glm_fit: start_hessian is not positive definite");
  } else {
    factor();
  }
  double prev_step = std::numeric_limits<double>::infinity();
  for (int it = 0; it < max_iter; ++it) {
    if (check_separation && cur.not_separated == 0) throw_separation();
    Eigen::VectorXd delta = llt.solve(cur.g);
    double step = max_abs(delta);
    if (chord && step > 0.1 * prev_step) {
      // The older Hessian no longer contracts fast: refresh it at the current iterate.
      pass(theta, approx_ok ? Hess::approx : Hess::exact, cur, eta, d1, d2);
      hess_valid = true;
      factor();
      chord = false;
      delta = llt.solve(cur.g);
      step = max_abs(delta);
    }
    const double dec = cur.g.dot(delta), scale = 1.0 + max_abs(theta);
    fit.step_max = step;
    fit.n_iter = it + 1;
    if (step <= tol * scale) {
      fit.converged = true;
      // With the exact Hessian fresh at theta, Newton's quadratic convergence puts theta within
      // this step of the optimum and eta, d1, d2 and H all belong to it: unless asked to polish,
      // stop here (taking the step costs one more pass to keep them consistent).
      const bool fresh = !chord && cur.hess == Hess::exact;
      if (fresh && !polish) break;
      // Take the step: it lands at the rounding floor. When the fresh exact Hessian moved by
      // O(step) <= tol / 10, a gradient-only pass refreshes eta, d1 and d2 and the Hessian is
      // kept, an order below the tolerance of everything computed from it; otherwise the Hessian
      // is computed exactly where the step lands.
      const bool keep_hessian = fresh && step <= 0.1 * tol * scale;
      if (step > kRoundingStep * scale) {
        theta -= delta;
        Eigen::MatrixXd H_kept;
        if (keep_hessian) H_kept.swap(cur.H);
        pass(theta, keep_hessian ? Hess::none : Hess::exact, cur, eta, d1, d2);
        if (keep_hessian) {
          cur.H.swap(H_kept);
          cur.hess = Hess::exact;
        }
      } else if (!keep_hessian) {
        pass(theta, Hess::exact, cur, eta, d1, d2);
      }
      hess_valid = true;
      break;
    }
    // Near the optimum a Hessian from an earlier iterate still contracts fast (chord steps), so
    // trial passes skip the O(n p^2) Hessian; farther out each trial computes it at once, since
    // the full Newton step is almost always accepted. The trial also computes it when the next
    // step, at the contraction just seen (an overestimate for Newton steps, which converge
    // quadratically), will be below the tolerance: the fit then ends on that pass, so that
    // Hessian is exact; the ones before it are approximate.
    const bool next_converged = std::isfinite(prev_step) && step * (step / prev_step) <= tol * scale;
    const bool next_chord = step <= 1e-3 * scale && !next_converged;
    const Hess next_hess = next_chord ? Hess::none : (next_converged || !approx_ok ? Hess::exact : Hess::approx);
    // Backtracking (Armijo) from the full step; the slack absorbs rounding in F near the optimum.
    double t = 1.0;
    bool accepted = false;
    const bool near = in_quadratic_region(dec, cur.F, step, scale);
    for (int ls = 0; ls < 50 && !accepted; ++ls, t *= 0.5) {
      const Eigen::VectorXd theta_t = theta - t * delta;
      pass(theta_t, next_hess, trial, eta_t, d1_t, d2_t);
      if (std::isfinite(trial.F) && (near || trial.F <= cur.F - 1e-4 * t * dec + 1e-13 * std::abs(cur.F))) {
        theta = theta_t;
        std::swap(cur, trial);
        eta.swap(eta_t);
        d1.swap(d1_t);
        d2.swap(d2_t);
        accepted = true;
      }
    }
    if (!accepted) break;  // no decrease possible: at the rounding floor, or stuck; reported via converged
    hess_valid = !next_chord;
    if (hess_valid) factor();
    chord = next_chord;
    prev_step = step;
  }
  if (!hess_valid || cur.hess != Hess::exact) pass(theta, Hess::exact, cur, eta, d1, d2);
  if (check_separation && cur.not_separated == 0) throw_separation();

  llt.compute(cur.H);
  if (llt.info() != Eigen::Success)
    throw std::domain_error("the Hessian at the solution is singular: columns of X are collinear or the "
                            "fit separates the data; use a penalty (C < inf)");
  const Eigen::VectorXd dinv = cur.H.diagonal().cwiseSqrt().cwiseInverse();
  Eigen::LLT<Eigen::MatrixXd> scaled(dinv.asDiagonal() * cur.H * dinv.asDiagonal());
  fit.rcond = scaled.info() == Eigen::Success ? scaled.rcond() : 0.0;
  if (!(fit.rcond > 10.0 * std::numeric_limits<double>::epsilon()))
    throw std::domain_error("the Hessian is numerically singular (reciprocal condition number " + fmt(fit.rcond) +
                            " of the scaled Hessian): columns of X are collinear or the fit nearly separates "
                            "the data; use a penalty (C < inf) or remove collinear columns");
  fit.chol = llt.matrixL();
  fit.chol_inv = fit.chol.triangularView<Eigen::Lower>().solve(RowMatrixXd::Identity(p, p));
  fit.intercept = fit_intercept ? theta[0] : 0.0;
  fit.coef = theta.tail(d);
  fit.offset = offset;
  fit.eta = std::move(eta);
  fit.d1 = std::move(d1);
  fit.d2 = std::move(d2);
  fit.objective = cur.F;
  fit.grad_max = max_abs(cur.g);

  return fit;
}

}  // namespace attrib
