// L2-penalised logistic regression along a permutation, warm-started (simplified) Newton.
//
// Model (scikit-learn's LogisticRegression(C) with an lbfgs/newton solver): minimise
// C sum_i log(1 + exp(-s_i (b + x_i.w))) + ||w||^2 / 2, s_i = +-1, intercept b unpenalised.
// Adding one point moves the optimum a little, so Newton started from the previous prefix's
// solution converges in a few quadratically convergent steps; it runs to `newton_tol`, so every
// prefix is the real fit, not an approximation.
//
// Subsets without both classes have no finite fit (the intercept runs off). They get a
// documented constant model instead: the empty set predicts the majority class of the test set
// (accuracy; as TMC-Shapley's baseline) or probability 1/2 (log-loss); a one-class subset predicts
// its class (accuracy) or the Laplace estimate (k1 + 1) / (k + 2) (log-loss).
#include "attrib/utilities.hpp"

#include <Eigen/Cholesky>

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <vector>

namespace attrib {

namespace {

// log(1 + exp(-z)) without overflow.
// -log(DBL_EPSILON): scikit-learn's log_loss clips probabilities to [eps, 1 - eps].
const double kMaxLogLoss = -std::log(std::numeric_limits<double>::epsilon());

// Largest margin drift for which a kept Hessian term counts as current (weights within ~5 %).
constexpr double kStaleMargin = 0.05;

inline double softplus_neg(double z) { return std::max(-z, 0.0) + std::log1p(std::exp(-std::abs(z))); }
inline double sigmoid(double z) {
  if (z >= 0) return 1.0 / (1.0 + std::exp(-z));
  const double e = std::exp(z);
  return e / (1.0 + e);
}

class LogisticWalker final : public LinearModelWalker {
 public:
  LogisticWalker(const UtilityData& data, const UtilityParams& params) : LinearModelWalker(data, params) {
    if (!(params.C > 0)) throw std::invalid_argument("logistic utility: C must be > 0");
    if (!(params.newton_tol > 0) || params.max_newton_iter < 1)
      throw std::invalid_argument("logistic utility: newton_tol must be > 0 and max_newton_iter >= 1");
    const double ones = yt_.sum();
    test_majority_ = ones * 2 > double(data.m) ? 1.0 : 0.0;
    theta_ = Eigen::VectorXd::Zero(data.d + 1);
    H_.resize(data.d + 1, data.d + 1);
    z_.resize(data.d + 1);
    grad_.resize(data.d + 1);
    Zs_.resize(data.n, data.d + 1);
    built_margin_.resize(data.n);
  }

  double reset() override {
    k_ = 0;
    count1_ = 0;
    theta_.setZero();
    hessian_valid_ = false;
    return constant_score();
  }

  double add(Index i) override {
    // Row s_i [1, x_i] of the signed design: margins are Zs theta, and the Hessian does not
    // see the signs. Kept contiguous so margins, gradient and Hessian are BLAS-2/3 calls.
    const double sign = y_[i] > 0.5 ? 1.0 : -1.0;
    Zs_(k_, 0) = sign;
    Zs_.row(k_).tail(data_.d) = sign * X_.row(i);
    ++k_;
    if (y_[i] > 0.5) ++count1_;
    if (count1_ == 0 || count1_ == k_) return constant_score();
    newton();
    return test_score();
  }

 private:
  double constant_score() const {
    const Index k = k_;
    if (params_.metric == UtilityMetric::kAccuracy) {
      const double label = k == 0 ? test_majority_ : (count1_ > 0 ? 1.0 : 0.0);
      return (yt_.array() == label).cast<double>().mean();
    }
    const double p = (double(count1_) + 1.0) / (double(k) + 2.0);
    const double ones = yt_.sum();
    return (ones * std::log(p) + (double(data_.m) - ones) * std::log1p(-p)) / double(data_.m);
  }

  double objective(const Eigen::VectorXd& theta, const Eigen::VectorXd& margin) const {
    double loss = 0.0;
    for (Index r = 0; r < margin.size(); ++r) loss += softplus_neg(margin[r]);
    return params_.C * loss + 0.5 * theta.tail(data_.d).squaredNorm();
  }

  // margin_r = s_r (b + x_r.w) for the current subset.
  void margins(const Eigen::VectorXd& theta, Eigen::VectorXd& margin) const {
    margin.noalias() = Zs_.topRows(k_) * theta;
  }

  // The exact Hessian of the current subset's objective at theta_: C Z^T diag(q(1-q)) Z + P,
  // one symmetric rank-k update (O(k d^2), blocked).
  void exact_hessian(const Eigen::VectorXd& margin) {
    Eigen::VectorXd root(k_);
    for (Index r = 0; r < k_; ++r) {
      const double q = sigmoid(margin[r]);
      root[r] = std::sqrt(params_.C * q * (1.0 - q));
    }
    weighted_ = root.asDiagonal() * Zs_.topRows(k_);
    built_margin_.head(k_) = margin;
    H_.setZero();
    H_.selfadjointView<Eigen::Lower>().rankUpdate(weighted_.transpose());
    H_.diagonal().tail(data_.d).array() += 1.0;
    hessian_valid_ = true;
  }

  // Adds the newest point's Hessian term at theta_ (the other points' terms are kept).
  void add_newest_to_hessian() {
    z_ = Zs_.row(k_ - 1).transpose();
    built_margin_[k_ - 1] = z_.dot(theta_);
    const double q = sigmoid(built_margin_[k_ - 1]);
    H_.selfadjointView<Eigen::Lower>().rankUpdate(z_, params_.C * q * (1.0 - q));
  }

  // True when some point's margin moved by more than kStaleMargin since its Hessian term was
  // computed: its weight q(1 - q) may then be off by more than about 5 %, and a small step
  // taken with that matrix no longer proves convergence (near separation the true weights
  // shrink, so a stale Hessian understates the distance to the optimum).
  bool hessian_stale(const Eigen::VectorXd& margin) const {
    return (margin - built_margin_.head(k_)).cwiseAbs().maxCoeff() > kStaleMargin;
  }

  void rebuild(const Eigen::VectorXd& margin) {
    exact_hessian(margin);
    factor();
  }

  // Factors H_. A Hessian that is positive definite in exact arithmetic can fail to factor in
  // floating point when the margins saturate (q(1 - q) ~ 1e-17 leaves the unpenalised intercept
  // direction flat to rounding). A diagonal jitter, grown until the factorisation succeeds, keeps
  // the step a descent direction; it changes only the path, never the optimum, because the step
  // vanishes exactly when the gradient does.
  void factor() {
    llt_.compute(H_.selfadjointView<Eigen::Lower>());
    double jitter = 1e-12 * std::max(1.0, H_.diagonal().maxCoeff());
    for (int tries = 0; llt_.info() != Eigen::Success && tries < 12; ++tries, jitter *= 100.0) {
      Eigen::MatrixXd J = H_.selfadjointView<Eigen::Lower>();
      J.diagonal().array() += jitter;
      llt_.compute(J);
    }
  }

  // Newton's method warm-started from the previous prefix's solution, with the Hessian kept
  // across steps and prefixes (simplified Newton): adding point i changes the Hessian at the
  // warm start by exactly one rank-one term, so the kept matrix stays close to the true one and
  // each step costs O(k d) for the gradient plus O(d^3) for the factorisation, not O(k d^2).
  // When the steps stop shrinking fast the Hessian is rebuilt exactly at the current iterate.
  // The loop ends when the step is below newton_tol (relative to |theta|, max norm).
  void newton() {
    Eigen::VectorXd margin, trial_margin, trial, q(k_);
    margins(theta_, margin);
    if (hessian_valid_)
      add_newest_to_hessian();
    else
      exact_hessian(margin);
    factor();
    double f = 0.0;
    double previous_step = std::numeric_limits<double>::infinity();
    for (int it = 0; it < params_.max_newton_iter; ++it) {
      if (llt_.info() != Eigen::Success) throw std::domain_error("logistic utility: Hessian not positive definite");
      for (Index r = 0; r < k_; ++r) q[r] = -params_.C * sigmoid(-margin[r]);
      grad_.noalias() = Zs_.topRows(k_).transpose() * q;
      grad_.tail(data_.d) += theta_.tail(data_.d);
      step_ = llt_.solve(grad_);
      const double size = step_.lpNorm<Eigen::Infinity>();
      const double scale = std::max(1.0, theta_.lpNorm<Eigen::Infinity>());
      if (size <= params_.newton_tol * scale) {
        if (hessian_stale(margin)) {  // confirm with the exact Hessian before stopping
          rebuild(margin);
          previous_step = std::numeric_limits<double>::infinity();
          continue;
        }
        theta_ -= step_;  // below tolerance: take it without a line search
        return;
      }
      // Backtracking line search (Armijo) while far from the optimum. Close to it the full step
      // is safe, and the objective's rounding (about eps * f) would make Armijo reject steps
      // that are merely below its resolution.
      double a = 1.0;
      if (size > 1e-4 * scale) {
        f = objective(theta_, margin);  // fresh: full steps below skip updating it
        const double decrease = grad_.dot(step_);
        double ft = 0.0;
        for (int ls = 0; ls < 60; ++ls) {
          trial = theta_ - a * step_;
          margins(trial, trial_margin);
          ft = objective(trial, trial_margin);
          if (ft <= f - 1e-4 * a * decrease || a * size <= params_.newton_tol * scale) break;
          a *= 0.5;
        }
        f = ft;
      } else {
        trial = theta_ - step_;
        margins(trial, trial_margin);
      }
      theta_ = trial;
      margin.swap(trial_margin);
      if (a == 1.0 && std::isfinite(previous_step) && size < 0.1 * previous_step &&
          size * (size / previous_step) <= params_.newton_tol * scale) {
        // Steps shrink at least geometrically (ratio below 0.1): the next one, about
        // size^2 / previous, would be below tolerance, so this iterate is converged to it.
        if (!hessian_stale(margin)) return;
        rebuild(margin);
        previous_step = std::numeric_limits<double>::infinity();
        continue;
      }
      // Slow contraction (or a damped step) means the kept Hessian is stale: rebuild it here.
      // (A ratio of 0.03 balanced rebuilds against extra steps on the breast cancer benchmark.)
      if (a < 1.0 || size > 0.03 * previous_step) {
        rebuild(margin);
        previous_step = std::numeric_limits<double>::infinity();
      } else {
        previous_step = size;
      }
    }
    throw std::domain_error("logistic utility: Newton did not converge within max_newton_iter iterations");
  }

  double test_score() const {
    double score = 0.0;
    for (Index j = 0; j < data_.m; ++j) {
      const double t = theta_[0] + Xt_.row(j).dot(theta_.tail(data_.d));
      const bool one = yt_[j] > 0.5;
      if (params_.metric == UtilityMetric::kAccuracy)
        score += ((t > 0) == one) ? 1.0 : 0.0;  // scikit-learn predicts class 1 when the margin is > 0
      else
        // minus the log-likelihood of the observed label, with the probability clipped to
        // [eps, 1 - eps] as scikit-learn's log_loss does (a confident mistake costs at most
        // -log(eps) = 36.04, not its full margin)
        score -= std::min(softplus_neg(one ? t : -t), kMaxLogLoss);
    }
    return score / double(data_.m);
  }

  double test_majority_ = 0.0;
  RowMatrixXd Zs_;        // signed design of the current subset, first k_ rows
  RowMatrixXd weighted_;  // scratch: sqrt(Hessian weights) times Zs
  Index k_ = 0;
  Index count1_ = 0;
  Eigen::VectorXd theta_;
  Eigen::MatrixXd H_;  // lower triangle: the (possibly slightly stale) Hessian
  Eigen::LLT<Eigen::MatrixXd> llt_;
  bool hessian_valid_ = false;
  Eigen::VectorXd built_margin_;  // each point's margin when its Hessian term was computed
  Eigen::VectorXd z_, grad_, step_;
};

}  // namespace

std::unique_ptr<UtilityWalker> make_logistic_walker(const UtilityData& data, const UtilityParams& params) {
  if (params.n_classes > 2) return make_softmax_walker(data, params);  // K classes: utility_softmax.cpp
  return std::make_unique<LogisticWalker>(data, params);
}

}  // namespace attrib
