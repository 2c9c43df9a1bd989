// Retraining the built-in learners on datamodel subsets: one model per mask row, each fitted by
// one thread from scratch data of its own (logistic: glm_fit's objective by a lean Newton
// iteration warm-started from the full fit (glm_fit) and ended at the rounding floor, with
// glm_fit's safeguarded iteration as the fallback; ridge: the Cholesky factor
// of the subset's centred Gram matrix; knn: the first k subset members in each target's
// distance order).
#include "attrib/datamodels.hpp"
#include "attrib/glm.hpp"

#include <Eigen/Cholesky>

#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

namespace attrib {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

[[noreturn]] void subset_error(std::int64_t id, const std::string& what) {
  throw std::invalid_argument("subset " + std::to_string(id) + ": " + what);
}

// Indices of the points in one packed mask row.
void members(const std::uint8_t* row, Index n, std::vector<Index>& out) {
  out.clear();
  for (Index i = 0; i < n; ++i)
    if (mask_bit(row, i)) out.push_back(i);
}

struct Scratch {
  std::vector<Index> idx;
  RowMatrixXd Xs;
  Eigen::VectorXd ys, theta;
  std::vector<double> votes;
};

void gather(const Eigen::Ref<const RowMatrixXd>& X, const Eigen::Ref<const Eigen::VectorXd>& y, Scratch& sc) {
  const Index k = static_cast<Index>(sc.idx.size());
  sc.Xs.resize(k, X.cols());
  sc.ys.resize(k);
  for (Index r = 0; r < k; ++r) {
    sc.Xs.row(r) = X.row(sc.idx[r]);
    sc.ys[r] = y[sc.idx[r]];
  }
}

// A lean penalised Newton fit of one subset's logistic regression (glm_fit's objective: the sum of
// log-losses plus l2 / 2 ||beta||^2, intercept unpenalised), on the signed design Zs (rows
// s_i z_i, s_i = +1 for y = 1 and -1 for y = 0, so margins are Zs theta). From the full fit it
// needs a few Newton steps: Hessians are refreshed while steps are large and reused (chord
// steps, two matrix-vector products each) once they are small and contracting; a backtracking
// line search guards every step. Ends by taking the step that met the tolerance (the rounding
// floor) and forms nothing else: no final Hessian factor, no diagnostics, which the retraining
// outputs do not need. Returns false when a step fails (the caller then falls back to glm_fit).
bool lean_logistic(const RowMatrixXd& Zs, double l2, bool intercept, const Eigen::Ref<const Eigen::VectorXd>& start,
                   double tol, int max_iter, Eigen::VectorXd& theta, int& iters) {
  const Index k = Zs.rows(), p = Zs.cols(), off = intercept ? 1 : 0;
  theta = start;
  Eigen::VectorXd margin = Zs * theta, trial_margin(k), r(k), g(p), delta(p), trial(p);
  Eigen::ArrayXd w(k);
  auto objective = [&](const Eigen::VectorXd& th, const Eigen::VectorXd& m) {
    double F = 0.0;
    for (Index i = 0; i < k; ++i) F += std::log1p(std::exp(-std::abs(m[i]))) + std::max(-m[i], 0.0);
    return F + 0.5 * l2 * th.tail(p - off).squaredNorm();
  };
  double F = objective(theta, margin);
  Eigen::MatrixXd H(p, p);
  RowMatrixXd Wz(k, p);
  Eigen::LLT<Eigen::MatrixXd> llt;
  bool need_h = true;
  double prev_step = std::numeric_limits<double>::infinity();
  iters = 0;
  for (int it = 0; it < max_iter; ++it) {
    for (Index i = 0; i < k; ++i) {  // r = sigma(-m), w = sigma(m) sigma(-m), without overflow
      const double e = std::exp(-std::abs(margin[i]));
      const double big = 1.0 / (1.0 + e), small = e / (1.0 + e);
      r[i] = margin[i] >= 0 ? small : big;
      w[i] = big * small;
    }
    g.noalias() = -(Zs.transpose() * r);
    g.tail(p - off) += l2 * theta.tail(p - off);
    auto refresh = [&] {
      Wz = w.sqrt().matrix().asDiagonal() * Zs;
      H.setZero();
      H.selfadjointView<Eigen::Lower>().rankUpdate(Wz.transpose());
      H.diagonal().tail(p - off).array() += l2;
      llt.compute(H);
      need_h = false;
      return llt.info() == Eigen::Success;
    };
    if (need_h && !refresh()) return false;
    delta = llt.solve(g);
    double step = delta.cwiseAbs().maxCoeff();
    if (step > 0.1 * prev_step && it > 0) {  // a reused Hessian stopped contracting: refresh it
      if (!refresh()) return false;
      delta = llt.solve(g);
      step = delta.cwiseAbs().maxCoeff();
    }
    const double scale = 1.0 + theta.cwiseAbs().maxCoeff();
    iters = it + 1;
    if (!std::isfinite(step)) return false;
    if (step <= tol * scale) {
      theta -= delta;
      return true;
    }
    const double dec = g.dot(delta);
    double t = 1.0;
    bool accepted = false;
    for (int ls = 0; ls < 50 && !accepted; ++ls, t *= 0.5) {
      trial = theta - t * delta;
      trial_margin.noalias() = Zs * trial;
      const double Ft = objective(trial, trial_margin);
      if (std::isfinite(Ft) && Ft <= F - 1e-4 * t * dec + 1e-13 * std::abs(F)) {
        theta.swap(trial);
        margin.swap(trial_margin);
        F = Ft;
        accepted = true;
      }
    }
    if (!accepted) return false;
    need_h = step > 1e-3 * scale;  // close to the optimum the Hessian barely moves: chord steps
    prev_step = step;
  }
  return false;
}

}  // namespace

RetrainBlock retrain_subsets(const Eigen::Ref<const RowMatrixXd>& X, const Eigen::Ref<const Eigen::VectorXd>& y,
                             const Eigen::Ref<const RowMatrixXd>& X_target,
                             const Eigen::Ref<const Eigen::VectorXd>& y_target,
                             const Eigen::Ref<const ByteRowMatrix>& masks, std::int64_t first_id,
                             const Eigen::Ref<const Eigen::VectorXd>& start,
                             const Eigen::Ref<const RankRowMatrix>& knn_order, const RetrainOptions& opt,
                             const CancelToken* cancel) {
  const Index n = X.rows(), d = X.cols(), T = X_target.rows(), count = masks.rows();
  if (y.size() != n) throw std::invalid_argument("retrain_subsets: y must have one entry per row of X");
  if (X_target.cols() != d) throw std::invalid_argument("retrain_subsets: X_target must have the columns of X");
  if (y_target.size() != T) throw std::invalid_argument("retrain_subsets: y_target must have one entry per target");
  if (masks.cols() != packed_bytes(n)) throw std::invalid_argument("retrain_subsets: masks must have ceil(n / 8) columns");
  if (!(opt.l2 >= 0.0)) throw std::invalid_argument("retrain_subsets: l2 must be >= 0");
  const bool intercept = opt.fit_intercept;
  if (opt.model == RetrainModel::logistic && start.size() != d + (intercept ? 1 : 0))
    throw std::invalid_argument("retrain_subsets: start must hold the full fit (intercept first)");
  if (opt.model == RetrainModel::knn) {
    if (knn_order.rows() != T || knn_order.cols() != n)
      throw std::invalid_argument("retrain_subsets: knn_order must be n_target x n");
    if (opt.k < 1 || opt.n_classes < 1) throw std::invalid_argument("retrain_subsets: k and n_classes must be >= 1");
  }

  RetrainBlock out;
  out.margin.resize(count, T);
  out.loss.resize(count, T);
  out.correct.resize(count, T);
  out.n_iter.assign(static_cast<std::size_t>(count), 0);
  out.converged.assign(static_cast<std::size_t>(count), 1);

  // Ridge works on data centred by the full-data means (a shift the intercept absorbs, so the
  // fits are unchanged), which keeps each subset's own centring free of cancellation.
  Eigen::RowVectorXd xbar = Eigen::RowVectorXd::Zero(d);
  RowMatrixXd Xc, Tc;
  if (opt.model == RetrainModel::ridge) {
    if (intercept) xbar = X.colwise().mean();
    Xc = X.rowwise() - xbar;
    Tc = X_target.rowwise() - xbar;
  }

  GlmFitOptions glm;
  glm.family = GlmFamily::logistic;
  glm.l2 = opt.l2;
  glm.fit_intercept = intercept;
  glm.max_iter = opt.max_iter;
  glm.tol = opt.tol;
  glm.polish = true;
  glm.n_threads = 1;
  const Eigen::VectorXd no_vec;
  const RowMatrixXd no_mat;

  parallel_for_with_state(
      count, opt.n_threads, [] { return Scratch(); },
      [&](Index s, Scratch& sc) {
        if (cancelled(cancel)) return;
        const std::int64_t id = first_id + s;
        members(masks.row(s).data(), n, sc.idx);
        const Index k = static_cast<Index>(sc.idx.size());
        if (k == 0) subset_error(id, "the subset is empty");
        auto margin = out.margin.row(s);
        auto loss = out.loss.row(s);
        auto correct = out.correct.row(s);
        switch (opt.model) {
          case RetrainModel::logistic: {
            gather(X, y, sc);
            const double ones = sc.ys.sum();
            if (ones == 0.0 || ones == static_cast<double>(k))
              subset_error(id, "the subset holds one class only, so the logistic fit does not exist");
            // The signed design: margins of the current coefficients are Zs theta.
            const Index p = d + (intercept ? 1 : 0), off = intercept ? 1 : 0;
            sc.Xs.resize(k, p);
            for (Index r = 0; r < k; ++r) {
              const double sign = sc.ys[r] > 0.5 ? 1.0 : -1.0;
              if (intercept) sc.Xs(r, 0) = sign;
              sc.Xs.row(r).tail(d) = sign * X.row(sc.idx[r]);
            }
            int iters = 0;
            if (!lean_logistic(sc.Xs, opt.l2, intercept, start, opt.tol, opt.max_iter, sc.theta, iters)) {
              gather(X, y, sc);  // a step failed (or max_iter): glm_fit's safeguarded iteration decides
              GlmFit fit;
              try {
                fit = glm_fit(sc.Xs, sc.ys, no_vec, no_vec, start, no_mat, glm);
              } catch (const std::exception& e) {
                subset_error(id, e.what());
              }
              sc.theta = fit.theta();
              iters += fit.n_iter;
              out.converged[s] = fit.converged ? 1 : 0;
            }
            out.n_iter[s] = iters;
            const double b = intercept ? sc.theta[0] : 0.0;
            const auto beta = sc.theta.tail(d);
            for (Index t = 0; t < T; ++t) {
              const double eta = X_target.row(t).dot(beta) + b;
              const bool one = y_target[t] > 0.5;
              margin[t] = one ? eta : -eta;
              loss[t] = glm_loss_derivs(GlmFamily::logistic, one ? 1.0 : 0.0, eta).loss;
              correct[t] = ((eta > 0.0) == one) ? 1.0 : 0.0;
            }
            (void)off;
            break;
          }
          case RetrainModel::ridge: {
            gather(Xc, y, sc);
            Eigen::RowVectorXd mu = Eigen::RowVectorXd::Zero(d);
            double yb = 0.0;
            if (intercept) {
              mu = sc.Xs.colwise().mean();
              yb = sc.ys.mean();
              sc.Xs.rowwise() -= mu;
              sc.ys.array() -= yb;
            }
            Eigen::MatrixXd A = Eigen::MatrixXd::Zero(d, d);
            A.selfadjointView<Eigen::Lower>().rankUpdate(sc.Xs.transpose());
            A.diagonal().array() += opt.l2;
            Eigen::LLT<Eigen::MatrixXd> llt(A);  // reads the lower triangle
            if (llt.info() != Eigen::Success)
              subset_error(id, "the ridge Gram matrix is singular; use a penalty alpha > 0");
            const Eigen::VectorXd beta = llt.solve(sc.Xs.transpose() * sc.ys);
            for (Index t = 0; t < T; ++t) {
              const double pred = (Tc.row(t) - mu).dot(beta) + yb;
              const double r = y_target[t] - pred;
              margin[t] = pred;
              loss[t] = r * r;
              correct[t] = kNaN;
            }
            break;
          }
          case RetrainModel::knn: {
            const Index kk = std::min(opt.k, k);
            sc.votes.assign(static_cast<std::size_t>(opt.n_classes), 0.0);
            const std::uint8_t* row = masks.row(s).data();
            for (Index t = 0; t < T; ++t) {
              std::fill(sc.votes.begin(), sc.votes.end(), 0.0);
              Index found = 0;
              for (Index r = 0; r < n && found < kk; ++r) {
                const Index i = knn_order(t, r);
                if (mask_bit(row, i)) {
                  sc.votes[static_cast<std::size_t>(y[i])] += 1.0;
                  ++found;
                }
              }
              Index best = 0;
              for (Index c = 1; c < opt.n_classes; ++c)
                if (sc.votes[c] > sc.votes[best]) best = c;
              const auto label = static_cast<Index>(y_target[t]);
              const double p_y = label >= 0 && label < opt.n_classes ? sc.votes[label] / double(kk) : 0.0;
              double other = 0.0;
              for (Index c = 0; c < opt.n_classes; ++c)
                if (c != label) other = std::max(other, sc.votes[c] / double(kk));
              margin[t] = p_y - other;
              loss[t] = 1.0 - p_y;
              correct[t] = best == label ? 1.0 : 0.0;
            }
            break;
          }
        }
      },
      count > 1);
  out.cancelled = cancelled(cancel);
  return out;
}

}  // namespace attrib
