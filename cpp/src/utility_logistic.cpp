// L2-penalised logistic regression along a permutation, warm-started Newton.
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
#include <stdexcept>
#include <vector>

namespace attrib {

namespace {

using ConstRowMap = Eigen::Map<const RowMatrixXd>;
using ConstVecMap = Eigen::Map<const Eigen::VectorXd>;

// log(1 + exp(-z)) without overflow.
inline double softplus_neg(double z) { return std::max(-z, 0.0) + std::log1p(std::exp(-std::abs(z))); }
inline double sigmoid(double z) {
  if (z >= 0) return 1.0 / (1.0 + std::exp(-z));
  const double e = std::exp(z);
  return e / (1.0 + e);
}

class LogisticWalker final : public UtilityWalker {
 public:
  explicit LogisticWalker(const UtilitySpec& s)
      : s_(s), X_(s.X, s.n, s.d), y_(s.y, s.n), Xt_(s.X_test, s.m, s.d), yt_(s.y_test, s.m) {
    if (!(s.C > 0)) throw std::invalid_argument("logistic utility: C must be > 0");
    if (s.metric != UtilityMetric::kAccuracy && s.metric != UtilityMetric::kNegLogLoss)
      throw std::invalid_argument("logistic utility: metric must be accuracy or neg_log_loss");
    const double ones = yt_.sum();
    test_majority_ = ones * 2 > double(s.m) ? 1.0 : 0.0;
    theta_ = Eigen::VectorXd::Zero(s.d + 1);
    members_.reserve(static_cast<std::size_t>(s.n));
  }

  double reset() override {
    members_.clear();
    count1_ = 0;
    theta_.setZero();
    return constant_score();
  }

  double add(Index i) override {
    members_.push_back(i);
    if (y_[i] > 0.5) ++count1_;
    const Index k = static_cast<Index>(members_.size());
    if (count1_ == 0 || count1_ == k) return constant_score();
    newton();
    return test_score();
  }

 private:
  double constant_score() const {
    const Index k = static_cast<Index>(members_.size());
    if (s_.metric == UtilityMetric::kAccuracy) {
      const double label = k == 0 ? test_majority_ : (count1_ > 0 ? 1.0 : 0.0);
      return (yt_.array() == label).cast<double>().mean();
    }
    const double p = (double(count1_) + 1.0) / (double(k) + 2.0);
    const double ones = yt_.sum();
    return (ones * std::log(p) + (double(s_.m) - ones) * std::log1p(-p)) / double(s_.m);
  }

  double objective(const Eigen::VectorXd& theta, const Eigen::VectorXd& margin) const {
    double loss = 0.0;
    for (Index r = 0; r < margin.size(); ++r) loss += softplus_neg(margin[r]);
    return s_.C * loss + 0.5 * theta.tail(s_.d).squaredNorm();
  }

  // margin_r = s_r (b + x_r.w) for the current subset.
  void margins(const Eigen::VectorXd& theta, Eigen::VectorXd& margin) const {
    const Index k = static_cast<Index>(members_.size());
    margin.resize(k);
    for (Index r = 0; r < k; ++r) {
      const Index i = members_[r];
      const double t = theta[0] + X_.row(i).dot(theta.tail(s_.d));
      margin[r] = y_[i] > 0.5 ? t : -t;
    }
  }

  void newton() {
    const Index k = static_cast<Index>(members_.size()), p = s_.d + 1;
    Eigen::VectorXd margin, trial_margin, grad(p), step(p), z(p);
    Eigen::MatrixXd H(p, p);
    margins(theta_, margin);
    double f = objective(theta_, margin);
    for (int it = 0; it < s_.max_newton_iter; ++it) {
      grad.setZero();
      H.setZero();
      grad.tail(s_.d) = theta_.tail(s_.d);
      for (Index r = 0; r < k; ++r) {
        const Index i = members_[r];
        z[0] = 1.0;
        z.tail(s_.d) = X_.row(i).transpose();
        const double q = sigmoid(-margin[r]);   // 1 - sigma(margin)
        const double sign = y_[i] > 0.5 ? 1.0 : -1.0;
        grad.noalias() -= (s_.C * sign * q) * z;
        H.selfadjointView<Eigen::Lower>().rankUpdate(z, s_.C * q * (1.0 - q));
      }
      H.diagonal().tail(s_.d).array() += 1.0;
      Eigen::LLT<Eigen::MatrixXd> llt(H.selfadjointView<Eigen::Lower>());
      if (llt.info() != Eigen::Success) throw std::domain_error("logistic utility: Hessian not positive definite");
      step = llt.solve(grad);
      const double decrease = grad.dot(step);
      // Backtracking line search (Armijo); a full step is almost always taken near the optimum.
      double a = 1.0;
      Eigen::VectorXd trial;
      double ft = 0.0;
      for (int ls = 0; ls < 60; ++ls) {
        trial = theta_ - a * step;
        margins(trial, trial_margin);
        ft = objective(trial, trial_margin);
        if (ft <= f - 1e-4 * a * decrease || a * step.lpNorm<Eigen::Infinity>() <= s_.newton_tol) break;
        a *= 0.5;
      }
      theta_ = trial;
      margin.swap(trial_margin);
      f = ft;
      if (a * step.lpNorm<Eigen::Infinity>() <= s_.newton_tol * std::max(1.0, theta_.lpNorm<Eigen::Infinity>()))
        return;
    }
    throw std::domain_error("logistic utility: Newton did not converge within max_newton_iter iterations");
  }

  double test_score() const {
    double score = 0.0;
    for (Index j = 0; j < s_.m; ++j) {
      const double t = theta_[0] + Xt_.row(j).dot(theta_.tail(s_.d));
      const bool one = yt_[j] > 0.5;
      if (s_.metric == UtilityMetric::kAccuracy)
        score += ((t > 0) == one) ? 1.0 : 0.0;  // scikit-learn predicts class 1 when the margin is > 0
      else
        score -= softplus_neg(one ? t : -t);  // log-likelihood of the observed label
    }
    return score / double(s_.m);
  }

  const UtilitySpec& s_;
  ConstRowMap X_;
  ConstVecMap y_;
  ConstRowMap Xt_;
  ConstVecMap yt_;
  double test_majority_ = 0.0;
  std::vector<Index> members_;
  Index count1_ = 0;
  Eigen::VectorXd theta_;
};

}  // namespace

std::unique_ptr<UtilityWalker> make_logistic_walker(const UtilitySpec& spec) {
  return std::make_unique<LogisticWalker>(spec);
}

}  // namespace attrib
