#include "attrib/glm.hpp"

#include <Eigen/Cholesky>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <queue>
#include <stdexcept>
#include <string>
#include <utility>

namespace attrib {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Rows per block in the row passes. Fixed (never derived from the thread count): Eigen's blocked
// products may round a row differently depending on its block, so fixed blocks keep every row's
// arithmetic the same whichever thread runs it.
Index block_rows(Index p) { return std::clamp<Index>(131072 / std::max<Index>(p, 1), 64, 2048); }

// Tiles of the training x test loss-change matrix; both the dense and the top-k kernels use them,
// so their entries agree bit for bit.
constexpr Index kTrainTile = 256;
constexpr Index kTestTile = 64;

std::string fmt(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g", v);
  return buf;
}

// Z rows [r0, r0 + m): a leading column of ones when the model has an intercept.
void design_rows(const Eigen::Ref<const RowMatrixXd>& X, bool intercept, Index r0, Index m, RowMatrixXd& Z) {
  const Index d = X.cols(), off = intercept ? 1 : 0;
  Z.resize(m, d + off);
  if (intercept) Z.col(0).setOnes();
  Z.rightCols(d) = X.middleRows(r0, m);
}

// Products with the inverse Cholesky factor L^{-1} (computed once per fit by a triangular solve)
// instead of triangular solves per block: both carry the conditioning of L, not of H, but at
// p ~ 50 Eigen's blocked triangular solve (and even its triangular product) runs about 3x slower
// than a plain matrix product with the zero-filled triangle (measured on 100k x 51 blocks).

// T <- T L^{-T}: row i then has squared norm z_i^T H^{-1} z_i.
void mul_lt_inv(const GlmFit& fit, RowMatrixXd& T) {
  RowMatrixXd R;
  R.noalias() = T * fit.chol_inv.transpose();
  T.swap(R);
}

// T <- T L^{-1}; after mul_lt_inv this gives Z H^{-1}.
void mul_l_inv(const GlmFit& fit, RowMatrixXd& T) {
  RowMatrixXd R;
  R.noalias() = T * fit.chol_inv;
  T.swap(R);
}

// H^{-1} v = L^{-T} L^{-1} v.
Eigen::VectorXd hess_solve(const GlmFit& fit, const Eigen::VectorXd& v) {
  const Eigen::VectorXd t = fit.chol_inv.triangularView<Eigen::Lower>() * v;
  return fit.chol_inv.transpose().triangularView<Eigen::Upper>() * t;
}

// Scratch buffers of a row pass, one per thread (parallel_for_with_state): fresh block-sized
// buffers per task would page-fault (glibc serves them by mmap), costing as much as the arithmetic.
struct RowScratch {
  RowMatrixXd Z, W;
  Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> Zf;
  Eigen::MatrixXf Hf;
  Eigen::VectorXd v1, v2;
  Eigen::ArrayXd y, eta, loss, d1, d2, s;
};

double weight(const Eigen::Ref<const Eigen::VectorXd>& w, Index i) { return w.size() == 0 ? 1.0 : w[i]; }

// Loss and derivatives of a run of rows at once: the same formulas as glm_loss_derivs, written as
// array expressions so that Eigen's SIMD exp and log do the work (the scalar calls cost as much
// as the O(n p) products in the passes that need them). Null outputs are skipped.
void loss_derivs_array(GlmFamily family, const Eigen::ArrayXd& y, const Eigen::ArrayXd& eta, Eigen::ArrayXd* loss,
                       Eigen::ArrayXd* d1, Eigen::ArrayXd* d2) {
  switch (family) {
    case GlmFamily::logistic: {
      const Eigen::ArrayXd e = (-eta.abs()).exp();
      const Eigen::ArrayXd u = 1.0 + e, big = u.inverse(), small = e * big;
      // log1p(e) by log(u) e / (u - 1) with u = 1 + e (exact to a few ulps: the rounding of u
      // cancels), because Eigen 3.4 evaluates log1p by scalar libm calls. A plain log(u) would
      // lose the relative accuracy of tiny losses, whose differences the test-loss changes take.
      if (loss) *loss = (u == 1.0).select(e, u.log() * e / (u - 1.0)) + eta.max(0.0) - y * eta;
      if (d1) *d1 = (eta >= 0.0).select((1.0 - y) * big - y * small, (1.0 - y) * small - y * big);
      if (d2) *d2 = big * small;
      break;
    }
    case GlmFamily::poisson: {
      const Eigen::ArrayXd m = eta.exp();
      if (loss) *loss = m - y * eta;
      if (d1) *d1 = m - y;
      if (d2) *d2 = m;
      break;
    }
    case GlmFamily::gaussian:
    default: {
      if (loss) *loss = 0.5 * (eta - y).square();
      if (d1) *d1 = eta - y;
      if (d2) *d2 = Eigen::ArrayXd::Ones(eta.size());
      break;
    }
  }
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

void full_pass(const Eigen::Ref<const RowMatrixXd>& X, const Eigen::Ref<const Eigen::VectorXd>& y,
               const Eigen::Ref<const Eigen::VectorXd>& w, const Eigen::Ref<const Eigen::VectorXd>& offset,
               GlmFamily family, double l2, bool intercept,
               const Eigen::VectorXd& theta, Hess hess, int n_threads, PassOut& out, Eigen::VectorXd& eta,
               Eigen::VectorXd& d1, Eigen::VectorXd& d2) {
  const bool want_hessian = hess != Hess::none;
  const Index n = X.rows(), d = X.cols(), off = intercept ? 1 : 0, p = d + off;
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
  parallel_for_with_state(plan.n_chunks, n_threads, [] { return RowScratch(); }, [&](Index c, RowScratch& sc) {
    Eigen::MatrixXd Hc;
    if (want_hessian) Hc = Eigen::MatrixXd::Zero(p, p);
    double Fc = 0.0;
    Index ns = 0;
    for (Index r0 = plan.begin(c); r0 < plan.end(c); r0 += block) {
      const Index m = std::min(block, plan.end(c) - r0);
      RowMatrixXd& Z = sc.Z;
      design_rows(X, intercept, r0, m, Z);
      eta.segment(r0, m).noalias() = Z * theta;
      if (offset.size()) eta.segment(r0, m) += offset.segment(r0, m);
      sc.y = y.segment(r0, m);
      sc.eta = eta.segment(r0, m);
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
      // Separation is a property of X: judged on z'theta, without the offset (an offset that
      // alone classifies every row leaves a finite maximum-likelihood estimate).
      const Eigen::ArrayXd margin = offset.size() ? Eigen::ArrayXd(sc.eta - offset.segment(r0, m).array()) : sc.eta;
      ns += ((sc.s > 0.0) && !((2.0 * sc.y - 1.0) * margin > 0.0)).count();
      part_g.col(c).noalias() += Z.transpose() * sc.v1;
      if (want_hessian) {
        sc.v2 = (sc.s * sc.d2).sqrt().matrix();
        for (Index r = 0; r < m; ++r) Z.row(r) *= sc.v2[r];  // in place, row by row (contiguous)
        if (hess == Hess::exact) {
          Hc.selfadjointView<Eigen::Lower>().rankUpdate(Z.transpose());
        } else {
          sc.Zf = Z.cast<float>();
          sc.Hf.setZero(p, p);
          sc.Hf.selfadjointView<Eigen::Lower>().rankUpdate(sc.Zf.transpose());
          Hc.triangularView<Eigen::Lower>() += sc.Hf.cast<double>();
        }
      }
    }
    part_F[c] = Fc;
    part_ns[c] = ns;
    if (want_hessian) part_H[c] = std::move(Hc);
  });
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

double max_abs(const Eigen::VectorXd& v) { return v.size() ? v.cwiseAbs().maxCoeff() : 0.0; }

// A Newton step this small relative to (1 + max |theta|) is rounding: not worth a pass to take.
constexpr double kRoundingStep = 1e-14;

// Close to the optimum the decrease a Newton step promises (half its decrement g^T H^-1 g) is
// below what the objective, a sum of n rounded terms, can resolve: a line search there rejects
// good steps on rounding noise and stalls. Take the full step instead; the step-size test stops
// the iteration.
bool in_quadratic_region(double decrement, double F, double step, double scale) {
  return decrement <= 1e-10 * (1.0 + std::abs(F)) && step <= 1e-3 * scale;
}

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
               GlmFamily family, double l2, bool fit_intercept,
               const Eigen::Ref<const Eigen::VectorXd>& start, const Eigen::Ref<const RowMatrixXd>& start_hessian,
               int max_iter, double tol, bool polish, int n_threads) {
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
  auto pass = [&](const Eigen::VectorXd& at, Hess hess, PassOut& out, Eigen::VectorXd& e, Eigen::VectorXd& g1,
                  Eigen::VectorXd& g2) {
    full_pass(X, y, w, offset, family, l2, fit_intercept, at, hess, n_threads, out, e, g1, g2);
  };
  // From a given start (often at or next to the optimum: a refit, an estimator's coefficients)
  // the first Hessian may be the last, so it is exact; from the null start it is approximate.
  pass(theta, chord ? Hess::none : (start.size() ? Hess::exact : Hess::approx), cur, eta, d1, d2);
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
    sc.W.resize(m, p);
    if (step == GlmStep::none) {
      sc.W.noalias() = sc.Z * li_t;
    } else {
      sc.W.noalias() = sc.Z * h_inv;
    }
    sc.v1.resize(m);
    for (Index r = 0; r < m; ++r) {
      const Index i = r0 + r;
      const double q = step == GlmStep::none ? sc.W.row(r).squaredNorm() : sc.W.row(r).dot(sc.Z.row(r));
      const double s = weight(w, i), h = s * fit.d2[i] * q;
      res.quad[i] = q;
      res.hat[i] = h;
      sc.v1[r] = step == GlmStep::newton ? (1.0 - h < kLeverageOneTol ? kNaN : -s * fit.d1[i] / (1.0 - h)) : -s * fit.d1[i];
    }
    if (step == GlmStep::none) return;
    auto out = dcoef.middleRows(r0, m);
    for (Index r = 0; r < m; ++r) out.row(r) = sc.v1[r] * sc.W.row(r);
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
  const Index B = std::clamp<Index>((Index(1) << 20) / std::max<Index>(n, 1), 8, 64);
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
      const Index i = rows[j0 + j];
      if (!res.converged[j0 + j]) continue;
      res.dcoef.row(j0 + j) = (theta_hat - Theta.col(j)).transpose();
      res.loo_eta[j0 + j] = Zb.row(j).dot(Theta.col(j)) + (fit.offset.size() ? fit.offset[rows[j0 + j]] : 0.0);
      (void)i;
    }
  });
  return res;
}

namespace {

// Test design and the loss at the full fit.
void test_setup(const Eigen::Ref<const RowMatrixXd>& X_test, const Eigen::Ref<const Eigen::VectorXd>& y_test,
                const Eigen::Ref<const Eigen::VectorXd>& offset_test, const GlmFit& fit, RowMatrixXd& Zt,
                Eigen::VectorXd& eta_t, Eigen::VectorXd& base) {
  const Index m = X_test.rows();
  design_rows(X_test, fit.fit_intercept, 0, m, Zt);
  eta_t = Zt * fit.theta();
  if (offset_test.size()) eta_t += offset_test;
  Eigen::ArrayXd loss;
  loss_derivs_array(fit.family, y_test.array(), eta_t.array(), &loss, nullptr, nullptr);
  base = loss.matrix();
}

// One tile of loss changes: rows [r0, r0 + mr) of D against test points [c0, c0 + mc).
void change_tile(const Eigen::Ref<const RowMatrixXd>& D, const RowMatrixXd& Zt, const Eigen::VectorXd& eta_t,
                 const Eigen::VectorXd& base, const Eigen::Ref<const Eigen::VectorXd>& y_test, GlmFamily family,
                 Index r0, Index mr, Index c0, Index mc, RowMatrixXd& T) {
  T.noalias() = D.middleRows(r0, mr) * Zt.middleRows(c0, mc).transpose();  // z_j^T D_i
  const Eigen::ArrayXd yt = y_test.segment(c0, mc).array(), et = eta_t.segment(c0, mc).array();
  const Eigen::ArrayXd b = base.segment(c0, mc).array();
  Eigen::ArrayXd loss;
  for (Index r = 0; r < mr; ++r) {
    loss_derivs_array(family, yt, et - T.row(r).transpose().array(), &loss, nullptr, nullptr);
    T.row(r) = (loss - b).matrix().transpose();
  }
}

void check_change_shapes(const Eigen::Ref<const RowMatrixXd>& X_test, const Eigen::Ref<const Eigen::VectorXd>& y_test,
                         const Eigen::Ref<const Eigen::VectorXd>& offset_test, const GlmFit& fit,
                         const Eigen::Ref<const RowMatrixXd>& D) {
  const Index p = fit.coef.size() + (fit.fit_intercept ? 1 : 0);
  if (X_test.cols() != fit.coef.size() || y_test.size() != X_test.rows() || D.cols() != p ||
      (offset_test.size() != 0 && offset_test.size() != X_test.rows()))
    throw std::invalid_argument("glm_loss_change: shapes do not match the fit");
}

// "a ranks before b": NaN last, then by value (descending when `largest`), then by lower index.
struct Ranked {
  double val;
  std::int64_t idx;
};
bool ranks_before(const Ranked& a, const Ranked& b, bool largest) {
  const bool an = std::isnan(a.val), bn = std::isnan(b.val);
  if (an != bn) return bn;
  if (!an && a.val != b.val) return largest ? a.val > b.val : a.val < b.val;
  return a.idx < b.idx;
}

}  // namespace

void glm_loss_change(const Eigen::Ref<const RowMatrixXd>& X_test, const Eigen::Ref<const Eigen::VectorXd>& y_test,
                     const Eigen::Ref<const Eigen::VectorXd>& offset_test, const GlmFit& fit, const Eigen::Ref<const RowMatrixXd>& D, Eigen::Ref<RowMatrixXd> out,
                     int n_threads) {
  check_change_shapes(X_test, y_test, offset_test, fit, D);
  const Index n = D.rows(), m = X_test.rows();
  if (out.rows() != n || out.cols() != m) throw std::invalid_argument("glm_loss_change: out must be n_train x n_test");
  RowMatrixXd Zt;
  Eigen::VectorXd eta_t, base;
  test_setup(X_test, y_test, offset_test, fit, Zt, eta_t, base);
  const Index n_tr = (n + kTrainTile - 1) / kTrainTile, n_te = (m + kTestTile - 1) / kTestTile;
  const Index n_tiles = n_tr * n_te;
  parallel_for(n_tiles, n_threads, [&](Index t) {
    const Index r0 = (t / n_te) * kTrainTile, c0 = (t % n_te) * kTestTile;
    const Index mr = std::min(kTrainTile, n - r0), mc = std::min(kTestTile, m - c0);
    RowMatrixXd T;
    change_tile(D, Zt, eta_t, base, y_test, fit.family, r0, mr, c0, mc, T);
    out.block(r0, c0, mr, mc) = T;
  });
}

GlmTopK glm_loss_change_topk(const Eigen::Ref<const RowMatrixXd>& X_test, const Eigen::Ref<const Eigen::VectorXd>& y_test,
                             const Eigen::Ref<const Eigen::VectorXd>& offset_test, const GlmFit& fit, const Eigen::Ref<const RowMatrixXd>& D, Index k, int n_threads) {
  check_change_shapes(X_test, y_test, offset_test, fit, D);
  const Index n = D.rows(), m = X_test.rows();
  if (k < 1 || k > n) throw std::invalid_argument("glm_loss_change_topk: k must be in [1, n_train]");
  RowMatrixXd Zt;
  Eigen::VectorXd eta_t, base;
  test_setup(X_test, y_test, offset_test, fit, Zt, eta_t, base);
  GlmTopK res;
  res.helpful_idx.resize(m, k);
  res.harmful_idx.resize(m, k);
  res.helpful_val.resize(m, k);
  res.harmful_val.resize(m, k);
  // One test tile per task: each test point's candidates are seen by one thread in training-row
  // order, and the ranking is a total order, so the answer does not depend on the thread count.
  const Index n_te = (m + kTestTile - 1) / kTestTile;
  parallel_for(n_te, n_threads, [&](Index tt) {
    const Index c0 = tt * kTestTile, mc = std::min(kTestTile, m - c0);
    auto worse_help = [](const Ranked& a, const Ranked& b) { return ranks_before(a, b, true); };
    auto worse_harm = [](const Ranked& a, const Ranked& b) { return ranks_before(a, b, false); };
    // Heaps whose top is the worst kept candidate.
    std::vector<std::priority_queue<Ranked, std::vector<Ranked>, decltype(worse_help)>> help(
        mc, std::priority_queue<Ranked, std::vector<Ranked>, decltype(worse_help)>(worse_help));
    std::vector<std::priority_queue<Ranked, std::vector<Ranked>, decltype(worse_harm)>> harm(
        mc, std::priority_queue<Ranked, std::vector<Ranked>, decltype(worse_harm)>(worse_harm));
    RowMatrixXd T;
    for (Index r0 = 0; r0 < n; r0 += kTrainTile) {
      const Index mr = std::min(kTrainTile, n - r0);
      change_tile(D, Zt, eta_t, base, y_test, fit.family, r0, mr, c0, mc, T);
      for (Index c = 0; c < mc; ++c) {
        for (Index r = 0; r < mr; ++r) {
          const Ranked cand{T(r, c), static_cast<std::int64_t>(r0 + r)};
          if (static_cast<Index>(help[c].size()) < k) {
            help[c].push(cand);
          } else if (ranks_before(cand, help[c].top(), true)) {
            help[c].pop();
            help[c].push(cand);
          }
          if (static_cast<Index>(harm[c].size()) < k) {
            harm[c].push(cand);
          } else if (ranks_before(cand, harm[c].top(), false)) {
            harm[c].pop();
            harm[c].push(cand);
          }
        }
      }
    }
    for (Index c = 0; c < mc; ++c) {
      for (Index q = k - 1; q >= 0; --q) {  // the heap pops worst first
        res.helpful_idx(c0 + c, q) = help[c].top().idx;
        res.helpful_val(c0 + c, q) = help[c].top().val;
        help[c].pop();
        res.harmful_idx(c0 + c, q) = harm[c].top().idx;
        res.harmful_val(c0 + c, q) = harm[c].top().val;
        harm[c].pop();
      }
    }
  });
  return res;
}

GlmGroupStep glm_group_step(const Eigen::Ref<const RowMatrixXd>& X, const Eigen::Ref<const Eigen::VectorXd>& w,
                            const GlmFit& fit, const std::vector<std::int64_t>& offsets,
                            const std::vector<std::int64_t>& indices, int n_threads) {
  const Index n = X.rows(), d = X.cols(), off = fit.fit_intercept ? 1 : 0, p = d + off;
  if (fit.coef.size() != d || (w.size() != 0 && w.size() != n)) throw std::invalid_argument("glm_group_step: shapes do not match the fit");
  check_groups(offsets, indices, n, "glm_group_step");
  const Index n_groups = static_cast<Index>(offsets.size()) - 1;
  GlmGroupStep res;
  res.dcoef = RowMatrixXd::Constant(n_groups, p, kNaN);
  res.ok.assign(static_cast<std::size_t>(n_groups), 0);
  parallel_for(n_groups, n_threads, [&](Index g) {
    const Index start = offsets[g], k = offsets[g + 1] - offsets[g];
    RowMatrixXd W(k, p);
    Eigen::VectorXd a(k), sqd(k);
    for (Index r = 0; r < k; ++r) {
      const Index i = indices[start + r];
      if (off) W(r, 0) = 1.0;
      W.row(r).tail(d) = X.row(i);
      a[r] = -weight(w, i) * fit.d1[i];
      sqd[r] = std::sqrt(weight(w, i) * fit.d2[i]);
    }
    mul_lt_inv(fit, W);  // W W^T = K = Z_G H^{-1} Z_G^T
    const Eigen::MatrixXd K = W * W.transpose();
    // H_(G) = H - Z_G^T D Z_G is positive definite iff M = I - D^1/2 K D^1/2 is. Then
    // (I - D K)^{-1} a = a + D^1/2 M^{-1} D^1/2 K a, with no division by D.
    Eigen::MatrixXd M = -(sqd.asDiagonal() * K * sqd.asDiagonal());
    M.diagonal().array() += 1.0;
    Eigen::LLT<Eigen::MatrixXd> llt(M);
    if (llt.info() != Eigen::Success) return;
    const Eigen::MatrixXd Lm = llt.matrixL();
    if (!(Lm.diagonal().array().square().minCoeff() > kLeverageOneTol)) return;
    const Eigen::VectorXd r = a + sqd.cwiseProduct(llt.solve(sqd.cwiseProduct(K * a)));
    // theta-hat - theta_(G) = H^{-1} Z_G^T r = L^{-T} W^T r.
    const Eigen::VectorXd v = W.transpose() * r;
    const Eigen::VectorXd u = fit.chol_inv.transpose().triangularView<Eigen::Upper>() * v;
    res.dcoef.row(g) = u.transpose();
    res.ok[static_cast<std::size_t>(g)] = 1;
  });
  return res;
}

}  // namespace attrib
