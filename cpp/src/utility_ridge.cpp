// Ridge regression along a permutation (recursive least squares in centred coordinates).
//
// Model (scikit-learn's Ridge with fit_intercept=True): minimise ||y - b - X w||^2 + alpha ||w||^2
// with b unpenalised, so w = (C + alpha I)^{-1} c with C, c the centred scatter of the subset and
// b = ybar - xbar.w. Adding a point with k points already in: C gains f dx dx^T and c gains
// f dx dy (dx = x - xbar, dy = y - ybar, f = k / (k + 1); Welford), a rank-one change, so the
// Cholesky factor of C + alpha I is updated in O(d^2) and w costs two triangular solves. The
// factor is recomputed from C every `refactor_every` steps so rounding cannot accumulate.
#include "attrib/smw.hpp"
#include "attrib/utilities.hpp"

#include <Eigen/Cholesky>

#include <cmath>
#include <stdexcept>

namespace attrib {

namespace {

class RidgeWalker final : public LinearModelWalker {
 public:
  RidgeWalker(const UtilityData& data, const UtilityParams& params) : LinearModelWalker(data, params) {
    if (!(params.alpha > 0)) throw std::invalid_argument("ridge utility: alpha must be > 0");
    if (params.refactor_every < 1) throw std::invalid_argument("ridge utility: refactor_every must be >= 1");
    yt_mean_ = yt_.mean();
    sst_ = (yt_.array() - yt_mean_).square().sum();
    if (params.metric == UtilityMetric::kR2 && !(sst_ > 0))
      throw std::invalid_argument("ridge utility: y_test is constant, so R^2 is undefined");
    xbar_.resize(data.d);
    scatter_.resize(data.d, data.d);
    cross_.resize(data.d);
    L_.resize(data.d, data.d);
    w_.resize(data.d);
    pred_.resize(data.m);
  }

  double reset() override {
    k_ = 0;
    // The empty set predicts the test-set mean: R^2 = 0, and -MSE is minus the test variance.
    return params_.metric == UtilityMetric::kR2 ? 0.0 : -sst_ / double(data_.m);
  }

  double add(Index i) override {
    const auto x = X_.row(i).transpose();
    const double yi = y_[i];
    if (k_ == 0) {
      xbar_ = x;
      ybar_ = yi;
      scatter_.setZero();
      cross_.setZero();
      refactor();
    } else {
      const double f = double(k_) / double(k_ + 1);
      const Eigen::VectorXd dx = x - xbar_;
      const double dy = yi - ybar_;
      scatter_.noalias() += f * dx * dx.transpose();
      cross_.noalias() += (f * dy) * dx;
      xbar_ += dx / double(k_ + 1);
      ybar_ += dy / double(k_ + 1);
      if ((k_ + 1) % params_.refactor_every == 0)
        refactor();
      else
        cholesky_update(L_, std::sqrt(f) * dx);
    }
    ++k_;
    // w = (L L^T)^{-1} c by two triangular solves.
    w_ = L_.triangularView<Eigen::Lower>().solve(cross_);
    L_.transpose().triangularView<Eigen::Upper>().solveInPlace(w_);
    const double b = ybar_ - xbar_.dot(w_);
    pred_.noalias() = Xt_ * w_;
    const double sse = (yt_.array() - pred_.array() - b).square().sum();
    return params_.metric == UtilityMetric::kR2 ? 1.0 - sse / sst_ : -sse / double(data_.m);
  }

 private:
  void refactor() {
    RowMatrixXd A = scatter_;
    A.diagonal().array() += params_.alpha;
    Eigen::LLT<RowMatrixXd> llt(A);
    if (llt.info() != Eigen::Success) throw std::domain_error("ridge utility: Cholesky factorisation failed");
    L_ = llt.matrixL();
  }

  double yt_mean_ = 0.0, sst_ = 0.0;
  Index k_ = 0;
  Eigen::VectorXd xbar_, cross_, w_, pred_;
  double ybar_ = 0.0;
  RowMatrixXd scatter_, L_;
};

}  // namespace

std::unique_ptr<UtilityWalker> make_ridge_walker(const UtilityData& data, const UtilityParams& params) {
  return std::make_unique<RidgeWalker>(data, params);
}

}  // namespace attrib
