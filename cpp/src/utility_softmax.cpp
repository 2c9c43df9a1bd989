// Multinomial (softmax) logistic regression along a permutation, warm-started simplified Newton:
// the "logistic" utility on K > 2 classes.
//
// Each prefix is fitted as scikit-learn's LogisticRegression(C) fits it: on the classes present
// in the prefix (a class without rows gets probability 0, the limit of its unpenalised intercept
// running to -inf), by the multinomial objective C sum_i [logsumexp(eta_i) - eta_{i, y_i}] +
// ||W||^2 / 2 over those classes, except that a prefix holding exactly two classes is fitted as
// scikit-learn fits two classes, by binary logistic regression with the same C, which is the
// two-class softmax with C / 2 (its coefficient difference w_1 - w_0 is the binary coefficient
// vector). Intercepts are unpenalised; the softmax's flat intercept direction is fixed by a
// gauge term that changes no prediction. Newton runs to newton_tol, so every prefix is the real
// fit. Constant models as the binary utility: the empty set predicts the test set's majority
// class (accuracy) or the uniform distribution (log-loss); a one-class prefix predicts its class
// (accuracy) or the Laplace estimate (count_c + 1) / (k + K) (log-loss).
#include "attrib/utilities.hpp"

#include <Eigen/Cholesky>

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <vector>

namespace attrib {

namespace {

const double kMaxLogLossK = -std::log(std::numeric_limits<double>::epsilon());

class SoftmaxWalker final : public LinearModelWalker {
 public:
  SoftmaxWalker(const UtilityData& data, const UtilityParams& params) : LinearModelWalker(data, params) {
    if (!(params.C > 0)) throw std::invalid_argument("logistic utility: C must be > 0");
    if (!(params.newton_tol > 0) || params.max_newton_iter < 1)
      throw std::invalid_argument("logistic utility: newton_tol must be > 0 and max_newton_iter >= 1");
    K_ = params.n_classes;
    if (K_ < 3) throw std::invalid_argument("logistic utility: the softmax walker needs n_classes >= 3");
    p_ = data.d + 1;
    for (Index i = 0; i < data.n; ++i)
      if (!(y_[i] >= 0 && y_[i] < double(K_))) throw std::invalid_argument("logistic utility: bad class code in y");
    std::vector<Index> test_count(static_cast<std::size_t>(K_), 0);
    for (Index j = 0; j < data.m; ++j)
      if (yt_[j] >= 0 && yt_[j] < double(K_)) ++test_count[static_cast<std::size_t>(yt_[j])];
    test_majority_ = static_cast<Index>(std::max_element(test_count.begin(), test_count.end()) - test_count.begin());
    Z_.resize(data.n, p_);
    lab_.resize(data.n);
    count_.assign(static_cast<std::size_t>(K_), 0);
    pos_.assign(static_cast<std::size_t>(K_), -1);
  }

  double reset() override {
    k_ = 0;
    std::fill(count_.begin(), count_.end(), 0);
    std::fill(pos_.begin(), pos_.end(), -1);
    active_.clear();
    T_.resize(0, p_);
    factor_valid_ = false;
    return constant_score();
  }

  double add(Index i) override {
    const Index c = static_cast<Index>(y_[i]);
    Z_(k_, 0) = 1.0;
    Z_.row(k_).tail(data_.d) = X_.row(i);
    lab_[k_] = c;
    ++k_;
    if (count_[static_cast<std::size_t>(c)]++ == 0)
      add_class(c);
    else if (factor_valid_)
      add_newest_to_factor();
    if (active_.size() < 2) return constant_score();
    newton();
    return test_score();
  }

 private:
  // A class seen for the first time: a new row of T_ (classes kept in increasing code), with zero
  // coefficients and an intercept below the others' by the log of its share of the prefix.
  void add_class(Index c) {
    const Index A = static_cast<Index>(active_.size());
    const auto at = std::lower_bound(active_.begin(), active_.end(), c) - active_.begin();
    RowMatrixXd T(A + 1, p_);
    double mean_b = 0.0;
    for (Index a = 0; a < A; ++a) mean_b += T_(a, 0);
    mean_b = A ? mean_b / double(A) : 0.0;
    for (Index a = 0, b = 0; a <= A; ++a) {
      if (a == at) {
        T.row(a).setZero();
        T(a, 0) = mean_b - std::log(double(std::max<Index>(k_ - 1, 1)));
      } else {
        T.row(a) = T_.row(b++);
      }
    }
    T_.swap(T);
    active_.insert(active_.begin() + at, c);
    for (Index a = 0; a <= A; ++a) pos_[static_cast<std::size_t>(active_[a])] = a;
    factor_valid_ = false;
  }

  // The newest row's Hessian term at the current iterate, cs (B kron z)(B kron z)^T with
  // B = diag(sqrt(pi)) - pi sqrt(pi)^T, added to the kept factor by A rank-one updates (O(A P^2),
  // against O(P^3) to refactor); the other rows' terms stay where they were computed.
  void add_newest_to_factor() {
    const Index A = T_.rows(), P = A * p_;
    const auto z = Z_.row(k_ - 1);
    Eigen::VectorXd eta = T_ * z.transpose();
    eta.array() -= eta.maxCoeff();
    Eigen::VectorXd pi = eta.array().exp().matrix();
    pi /= pi.sum();
    const Eigen::VectorXd sq = pi.cwiseSqrt();
    const double rc = std::sqrt(loss_scale());
    Eigen::VectorXd u(P);
    for (Index c = 0; c < A; ++c) {
      for (Index a = 0; a < A; ++a) u.segment(a * p_, p_) = (rc * ((a == c ? sq[a] : 0.0) - pi[a] * sq[c])) * z.transpose();
      llt_.rankUpdate(u, 1.0);
    }
  }

  double constant_score() const {
    if (params_.metric == UtilityMetric::kAccuracy) {
      const double label = k_ == 0 ? double(test_majority_) : double(active_.front());
      return (yt_.array() == label).cast<double>().mean();
    }
    double score = 0.0;
    for (Index j = 0; j < data_.m; ++j) {
      const Index c = static_cast<Index>(yt_[j]);
      const double cnt = c >= 0 && c < K_ ? double(count_[static_cast<std::size_t>(c)]) : 0.0;
      score += std::log((cnt + 1.0) / (double(k_) + double(K_)));
    }
    return score / double(data_.m);
  }

  // The multiplier of the loss: C, or C / 2 for two classes (binary logistic regression with C).
  double loss_scale() const { return active_.size() == 2 ? 0.5 * params_.C : params_.C; }

  // Probabilities (k x A) at T, the objective and (when g is non-null) its gradient (A x p).
  double evaluate(const RowMatrixXd& T, RowMatrixXd& prob, RowMatrixXd* g) const {
    const Index A = T.rows(), k = k_;
    const double cs = loss_scale();
    prob.noalias() = Z_.topRows(k) * T.transpose();
    double loss = 0.0;
    for (Index r = 0; r < k; ++r) {
      auto row = prob.row(r);
      const double mx = row.maxCoeff();
      const double eta_y = row[pos_[static_cast<std::size_t>(lab_[r])]];
      row.array() = (row.array() - mx).exp();
      const double sum = row.sum();
      row /= sum;
      loss += std::log(sum) + mx - eta_y;
    }
    double sum_b = 0.0, pen = 0.0;
    for (Index a = 0; a < A; ++a) {
      sum_b += T(a, 0);
      pen += T.row(a).tail(data_.d).squaredNorm();
    }
    if (g) {
      RowMatrixXd Rm = prob;
      for (Index r = 0; r < k; ++r) Rm(r, pos_[static_cast<std::size_t>(lab_[r])]) -= 1.0;
      g->noalias() = cs * (Rm.transpose() * Z_.topRows(k));
      g->rightCols(data_.d) += T.rightCols(data_.d);
      g->col(0).array() += gauge_ * sum_b;
    }
    return cs * loss + 0.5 * pen + 0.5 * gauge_ * sum_b * sum_b;
  }

  // Exact Hessian at T (with prob its probabilities), factored.
  void rebuild(const RowMatrixXd& T, const RowMatrixXd& prob) {
    const Index A = T.rows(), P = A * p_, k = k_;
    const double cs = loss_scale();
    gauge_ = cs * double(k) / double(A * A);
    H_.setZero(P, P);
    const auto Zk = Z_.topRows(k);
    RowMatrixXd Yh(k, P);
    for (Index a = 0; a < A; ++a) Yh.middleCols(a * p_, p_).noalias() = prob.col(a).asDiagonal() * Zk;
    H_.selfadjointView<Eigen::Lower>().rankUpdate(Yh.transpose(), -cs);
    for (Index a = 0; a < A; ++a) {
      const RowMatrixXd Za = prob.col(a).cwiseSqrt().asDiagonal() * Zk;
      H_.block(a * p_, a * p_, p_, p_).selfadjointView<Eigen::Lower>().rankUpdate(Za.transpose(), cs);
      H_.diagonal().segment(a * p_ + 1, data_.d).array() += 1.0;
      for (Index b = 0; b <= a; ++b) H_(a * p_, b * p_) += gauge_;
    }
    llt_.compute(H_.selfadjointView<Eigen::Lower>());
    double jitter = 1e-12 * std::max(1.0, H_.diagonal().maxCoeff());
    for (int tries = 0; llt_.info() != Eigen::Success && tries < 12; ++tries, jitter *= 100.0) {
      Eigen::MatrixXd J = H_.selfadjointView<Eigen::Lower>();
      J.diagonal().array() += jitter;
      llt_.compute(J);
    }
    if (llt_.info() != Eigen::Success) throw std::domain_error("logistic utility: Hessian not positive definite");
    factor_valid_ = true;
    factored_k_ = k;
  }

  // Simplified Newton from the previous prefix's solution: the factor of an earlier Hessian is kept
  // while its (chord) steps contract fast; it is rebuilt at the iterate when they slow down, after
  // a damped step, or when the classes change. Stops once a step is below newton_tol (relative to
  // |theta|, max norm) and the contraction that certifies it is known (the previous step in the
  // same chord sequence shrank by at least half, or the Hessian is fresh at the iterate).
  void newton() {
    const Index A = T_.rows();
    RowMatrixXd prob, trial_prob, g(A, p_), T_trial;
    double f = evaluate(T_, prob, &g);
    bool fresh = false;
    if (!factor_valid_) {
      rebuild(T_, prob);
      f = evaluate(T_, prob, &g);  // the gauge weight may have changed
      fresh = true;
    }
    double previous = std::numeric_limits<double>::infinity();
    for (int it = 0; it < params_.max_newton_iter; ++it) {
      const Eigen::Map<const Eigen::VectorXd> gv(g.data(), A * p_);
      const Eigen::VectorXd step = llt_.solve(gv);
      const double size = step.lpNorm<Eigen::Infinity>();
      const double scale = std::max(1.0, T_.lpNorm<Eigen::Infinity>());
      const Eigen::Map<const RowMatrixXd> S(step.data(), A, p_);
      const bool certified = fresh || size <= 0.5 * previous;
      if (size <= params_.newton_tol * scale && certified) {
        T_ -= S;
        return;
      }
      double a = 1.0;
      if (size > 1e-4 * scale) {
        const double decrease = gv.dot(step);
        double ft = 0.0;
        for (int ls = 0; ls < 60; ++ls) {
          T_trial = T_ - a * S;
          ft = evaluate(T_trial, trial_prob, nullptr);
          if (ft <= f - 1e-4 * a * decrease || a * size <= params_.newton_tol * scale) break;
          a *= 0.5;
        }
      } else {
        T_trial = T_ - S;
      }
      T_.swap(T_trial);
      f = evaluate(T_, prob, &g);
      fresh = false;
      if (a < 1.0 || size > 0.5 * previous) {
        // A damped step or steps that stop halving: rebuild here. (A rebuild, O(k P^2 + P^3),
        // costs hundreds of chord steps, O(k d A + P^2) each, so a factor is kept while its steps
        // still shrink by half.)
        rebuild(T_, prob);
        f = evaluate(T_, prob, &g);
        fresh = true;
        previous = std::numeric_limits<double>::infinity();
      } else {
        previous = size;
      }
    }
    throw std::domain_error("logistic utility: Newton did not converge within max_newton_iter iterations");
  }

  double test_score() const {
    const Index A = T_.rows();
    RowMatrixXd eta;
    eta.noalias() = Xt_ * T_.rightCols(data_.d).transpose();
    eta.rowwise() += T_.col(0).transpose();
    double score = 0.0;
    for (Index j = 0; j < data_.m; ++j) {
      const auto row = eta.row(j);
      Index best = 0;
      for (Index a = 1; a < A; ++a)
        if (row[a] > row[best]) best = a;  // ties: the lower class, as numpy's argmax
      const Index c = static_cast<Index>(yt_[j]);
      if (params_.metric == UtilityMetric::kAccuracy) {
        score += active_[best] == c ? 1.0 : 0.0;
      } else {
        const Index a = c >= 0 && c < K_ ? pos_[static_cast<std::size_t>(c)] : -1;
        if (a < 0) {
          score -= kMaxLogLossK;  // probability 0, clipped to eps as scikit-learn's log_loss
        } else {
          const double mx = row.maxCoeff();
          const double lse = std::log((row.array() - mx).exp().sum()) + mx;
          score -= std::min(lse - row[a], kMaxLogLossK);
        }
      }
    }
    return score / double(data_.m);
  }

  Index K_ = 0, p_ = 0, k_ = 0, test_majority_ = 0, factored_k_ = 0;
  RowMatrixXd Z_;                 // [1, x] of the prefix, in order
  std::vector<Index> lab_;        // class codes of the prefix
  std::vector<Index> count_;      // rows per class in the prefix
  std::vector<Index> pos_;        // class -> row of T_ (-1: absent)
  std::vector<Index> active_;     // classes present, increasing
  RowMatrixXd T_;                 // A x p: (b_a, w_a) of the classes present
  Eigen::MatrixXd H_;
  Eigen::LLT<Eigen::MatrixXd> llt_;
  double gauge_ = 0.0;
  bool factor_valid_ = false;
};

}  // namespace

std::unique_ptr<UtilityWalker> make_softmax_walker(const UtilityData& data, const UtilityParams& params) {
  return std::make_unique<SoftmaxWalker>(data, params);
}

}  // namespace attrib
