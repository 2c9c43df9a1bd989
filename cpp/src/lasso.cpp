// Datamodel regression: the lasso of many targets on one standardised 0/1 mask design, by cyclic
// coordinate descent on the Gram matrix (Friedman, Hastie & Tibshirani 2010, "covariance
// updates"), warm-started along a lambda path, with the sequential strong rule (Tibshirani et
// al. 2012) screening coordinates and a KKT check over every coordinate before a lambda is done.
//
// The Gram matrix is shared by every target; each target keeps only its weights w and its
// gradient rho = c - G w (c = Xs^T (y - ybar) / r), so a coordinate step costs one axpy with a
// row of G. Targets run in parallel, each on one thread with its own state, so every target's
// arithmetic (and its bits) is the same for any thread count and any split of the targets into
// calls at multiples of kLassoBlockTargets.
#include "attrib/datamodels.hpp"

#include <cmath>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>

namespace attrib {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

inline double soft(double z, double lam) { return z > lam ? z - lam : (z < -lam ? z + lam : 0.0); }

// One target's coordinate descent state on a design with Gram matrix G.
class CdSolver {
 public:
  explicit CdSolver(const MaskDesign& d) : D_(d), n_(d.cols), w(Eigen::VectorXd::Zero(d.cols)), rho(d.cols) {
    in_set_.assign(static_cast<std::size_t>(n_), 0);
  }

  // Start at w = 0 with gradient c.
  void reset(const Eigen::Ref<const Eigen::VectorXd>& c) {
    w.setZero();
    rho = c;
    std::fill(in_set_.begin(), in_set_.end(), 0);
    set_.clear();
  }

  // Start at w0 (standardised units); rho = c - G w0.
  void warm(const Eigen::Ref<const Eigen::VectorXd>& c, const Eigen::VectorXd& w0) {
    reset(c);
    for (Index j = 0; j < n_; ++j) {
      if (w0[j] == 0.0 || !(D_.G(j, j) > 0.0)) continue;
      w[j] = w0[j];
      rho.noalias() -= w0[j] * D_.G.row(j).transpose();
      add(j);
    }
  }

  // The sequential strong rule for moving from lambda `prev` to `lam`: keep the coordinates
  // whose gradient is at least 2 lam - prev (and every nonzero one).
  void screen(double lam, double prev) {
    const double cut = 2.0 * lam - prev;
    for (Index j = 0; j < n_; ++j)
      if (!in_set_[j] && D_.G(j, j) > 0.0 && (w[j] != 0.0 || std::abs(rho[j]) >= cut)) add(j);
  }

  // Coordinate descent at `lam` until a full sweep over the working set moves no weight by more
  // than tol and no coordinate outside it violates the KKT condition |rho_j| <= lam.
  bool solve(double lam, double tol, Index max_sweeps, std::int64_t& sweeps, const CancelToken* cancel) {
    Index used = 0;
    while (true) {
      double moved = sweep(set_, lam);
      ++used;
      while (moved > tol) {  // settle the nonzero coordinates, then sweep the whole set again
        if (used >= max_sweeps || cancelled(cancel)) {
          sweeps += used;
          return false;
        }
        active_.clear();
        for (const Index j : set_)
          if (w[j] != 0.0) active_.push_back(j);
        double moved_a = sweep(active_, lam);
        ++used;
        while (moved_a > tol && used < max_sweeps) {
          moved_a = sweep(active_, lam);
          ++used;
        }
        moved = sweep(set_, lam);
        ++used;
      }
      bool added = false;
      for (Index j = 0; j < n_; ++j)
        if (!in_set_[j] && D_.G(j, j) > 0.0 && std::abs(rho[j]) > lam) {
          add(j);
          added = true;
        }
      if (!added) {
        sweeps += used;
        return true;
      }
      if (used >= max_sweeps) {
        sweeps += used;
        return false;
      }
    }
  }

  const MaskDesign& D_;
  Index n_;
  Eigen::VectorXd w, rho;

 private:
  void add(Index j) {
    in_set_[j] = 1;
    set_.push_back(j);
  }

  double sweep(const std::vector<Index>& list, double lam) {
    double moved = 0.0;
    for (const Index j : list) {
      const double g = D_.G(j, j);
      const double wj = w[j];
      const double wn = soft(rho[j] + g * wj, lam) / g;
      if (wn == wj) continue;
      const double delta = wn - wj;
      rho.noalias() -= delta * D_.G.row(j).transpose();
      w[j] = wn;
      moved = std::max(moved, std::abs(delta) * std::sqrt(g));
    }
    return moved;
  }

  std::vector<std::uint8_t> in_set_;
  std::vector<Index> set_, active_;
};

// Centred targets' correlations with the standardised columns, c = Xs^T (y - ybar) / r (n x T),
// the means and the standard deviations of the targets. Blocks of kLassoBlockTargets columns,
// one matrix product each.
struct TargetStats {
  Eigen::MatrixXd C;  // column-major: one contiguous column per target
  Eigen::VectorXd ybar, sd;
};

TargetStats target_stats(const MaskDesign& D, const Eigen::Ref<const RowMatrixXd>& Y, int n_threads) {
  const Index r = D.rows, n = D.cols, T = Y.cols();
  TargetStats s;
  s.C.resize(n, T);
  s.ybar.resize(T);
  s.sd.resize(T);
  const Index blocks = (T + kLassoBlockTargets - 1) / kLassoBlockTargets;
  parallel_for(blocks, n_threads, [&](Index b) {
    const Index t0 = b * kLassoBlockTargets, bw = std::min(kLassoBlockTargets, T - t0);
    Eigen::MatrixXd Yc = Y.middleCols(t0, bw);
    for (Index t = 0; t < bw; ++t) {
      const double mean = Yc.col(t).mean();
      Yc.col(t).array() -= mean;
      s.ybar[t0 + t] = mean;
      s.sd[t0 + t] = std::sqrt(Yc.col(t).squaredNorm() / double(r));
    }
    const Eigen::RowVectorXd sums = Yc.colwise().sum();  // ~0: the rounding of the centring
    Eigen::MatrixXd P = D.X.transpose() * Yc;            // n x bw
    for (Index j = 0; j < n; ++j) {
      const double q = D.sigma[j] * double(r);
      for (Index t = 0; t < bw; ++t) s.C(j, t0 + t) = q > 0.0 ? (P(j, t) - D.mu[j] * sums[t]) / q : 0.0;
    }
  });
  return s;
}

void check_design(const MaskDesign& D, const Eigen::Ref<const RowMatrixXd>& Y, const char* who) {
  if (D.G.rows() != D.cols || D.G.cols() != D.cols)
    throw std::invalid_argument(std::string(who) + ": the design has no Gram matrix");
  if (Y.rows() != D.rows) throw std::invalid_argument(std::string(who) + ": Y must have one row per design row");
  if (D.rows < 2) throw std::invalid_argument(std::string(who) + ": at least 2 subsets are needed");
}

// Standardised weights w -> original scale (theta, intercept) of target t.
void unstandardise(const MaskDesign& D, const Eigen::VectorXd& w, double ybar, RowMatrixXd& weights, Index t,
                   double& intercept) {
  double b = ybar;
  for (Index j = 0; j < D.cols; ++j) {
    const double th = w[j] != 0.0 ? w[j] / D.sigma[j] : 0.0;
    weights(j, t) = th;
    b -= th * D.mu[j];
  }
  intercept = b;
}

LassoResult make_result(Index n, Index T, Index K) {
  LassoResult out;
  out.weights = RowMatrixXd::Zero(n, T);
  out.intercept = Eigen::VectorXd::Zero(T);
  out.lambda = Eigen::VectorXd::Constant(T, kNaN);
  out.lambdas = RowMatrixXd::Constant(T, K, kNaN);
  out.val_mse = RowMatrixXd::Constant(T, K, kNaN);
  out.sweeps.assign(static_cast<std::size_t>(T), 0);
  out.converged.assign(static_cast<std::size_t>(T), 1);
  return out;
}

double lambda_max(const Eigen::Ref<const Eigen::VectorXd>& c) { return c.size() ? c.cwiseAbs().maxCoeff() : 0.0; }

}  // namespace

MaskDesign mask_design(const Eigen::Ref<const ByteRowMatrix>& masks, Index n, const std::vector<std::int64_t>& rows,
                       bool gram, int n_threads) {
  if (n < 1) throw std::invalid_argument("mask_design: n must be >= 1");
  if (masks.cols() != packed_bytes(n)) throw std::invalid_argument("mask_design: masks must have ceil(n / 8) columns");
  for (const std::int64_t r : rows)
    if (r < 0 || r >= masks.rows()) throw std::out_of_range("mask_design: row index out of range");
  MaskDesign D;
  const Index r = static_cast<Index>(rows.size());
  D.rows = r;
  D.cols = n;
  D.X.resize(r, n);
  parallel_for(
      r, n_threads,
      [&](Index s) {
        const std::uint8_t* row = masks.row(rows[s]).data();
        for (Index i = 0; i < n; ++i) D.X(s, i) = mask_bit(row, i) ? 1.0 : 0.0;
      },
      r * n > 65536);
  D.count = D.X.colwise().sum().transpose();  // integers: exact in any order
  D.mu = D.count / double(std::max<Index>(r, 1));
  Eigen::VectorXd q(n);  // sqrt(r S - S^2) = r sigma
  for (Index j = 0; j < n; ++j) {
    const double S = D.count[j];
    q[j] = std::sqrt(std::max(0.0, double(r) * S - S * S));
  }
  D.sigma = q / double(std::max<Index>(r, 1));
  if (!gram) return D;
  // Co-occurrence counts N = X^T X by column blocks (upper triangle and diagonal blocks); every
  // entry is an integer below 2^53, so the order of the sums cannot change a bit.
  constexpr Index kBlock = 128;
  const Index blocks = (n + kBlock - 1) / kBlock;
  D.G.resize(n, n);
  parallel_for(blocks, n_threads, [&](Index b) {
    const Index c0 = b * kBlock, w = std::min(kBlock, n - c0);
    D.G.block(0, c0, c0 + w, w).noalias() = D.X.leftCols(c0 + w).transpose() * D.X.middleCols(c0, w);
  });
  for (Index j = 0; j < n; ++j)
    for (Index k = 0; k < j; ++k) D.G(j, k) = D.G(k, j);
  parallel_for(
      n, n_threads,
      [&](Index j) {
        for (Index k = 0; k < n; ++k) {
          const double den = q[j] * q[k];
          D.G(j, k) = den > 0.0 ? (double(r) * D.G(j, k) - D.count[j] * D.count[k]) / den : 0.0;
        }
      },
      n > 256);
  return D;
}

LassoResult lasso_path(const MaskDesign& train, const Eigen::Ref<const RowMatrixXd>& Y, const MaskDesign& val,
                       const Eigen::Ref<const RowMatrixXd>& Y_val, const LassoOptions& opt, const CancelToken* cancel) {
  check_design(train, Y, "lasso_path");
  const Index n = train.cols, T = Y.cols(), K = opt.n_lambdas;
  if (val.cols != n || val.rows < 1 || Y_val.rows() != val.rows || Y_val.cols() != T)
    throw std::invalid_argument("lasso_path: the validation design and targets must match the training ones");
  if (K < 1 || !(opt.eps > 0.0 && opt.eps <= 1.0) || !(opt.tol > 0.0) || opt.max_sweeps < 1)
    throw std::invalid_argument("lasso_path: n_lambdas >= 1, eps in (0, 1], tol > 0 and max_sweeps >= 1 are required");
  const TargetStats st = target_stats(train, Y, opt.n_threads);
  const RowMatrixXd XvT = val.X.transpose();  // n x rv: one row per point
  LassoResult out = make_result(n, T, K);
  parallel_for_with_state(
      T, opt.n_threads, [&] { return std::make_unique<CdSolver>(train); },
      [&](Index t, std::unique_ptr<CdSolver>& solver) {
        if (cancelled(cancel)) return;
        CdSolver& cd = *solver;
        cd.reset(st.C.col(t));
        const double lmax = lambda_max(st.C.col(t));
        const double tol = opt.tol * st.sd[t];
        const auto yv = Y_val.col(t);
        Eigen::VectorXd theta(n), pred(val.rows), best_w = Eigen::VectorXd::Zero(n);
        double best_mse = std::numeric_limits<double>::infinity(), best_lam = lmax;
        Index best_k = 0;
        double prev = lmax;
        for (Index k = 0; k < K; ++k) {
          const double lam = K == 1 ? lmax : lmax * std::pow(opt.eps, double(k) / double(K - 1));
          out.lambdas(t, k) = lam;
          if (st.sd[t] > 0.0) {
            cd.screen(lam, prev);
            if (!cd.solve(lam, tol, opt.max_sweeps, out.sweeps[t], cancel)) out.converged[t] = 0;
          }
          prev = lam;
          double b = st.ybar[t];
          pred.setZero();
          for (Index j = 0; j < n; ++j) {
            if (cd.w[j] == 0.0) continue;
            const double th = cd.w[j] / train.sigma[j];
            b -= th * train.mu[j];
            pred.noalias() += th * XvT.row(j).transpose();
          }
          const double mse = ((yv.array() - b) - pred.array()).square().mean();
          out.val_mse(t, k) = mse;
          if (mse < best_mse) {
            best_mse = mse;
            best_k = k;
            best_lam = lam;
            best_w = cd.w;
          }
          if (opt.early_stop && k + 1 >= opt.min_lambdas && k - best_k >= opt.patience) break;
          if (cancelled(cancel)) return;
        }
        out.lambda[t] = best_lam;
        double b0 = 0.0;
        unstandardise(train, best_w, st.ybar[t], out.weights, t, b0);
        out.intercept[t] = b0;
      });
  out.cancelled = cancelled(cancel);
  return out;
}

LassoResult lasso_at(const MaskDesign& design, const Eigen::Ref<const RowMatrixXd>& Y,
                     const Eigen::Ref<const Eigen::VectorXd>& lambdas, const Eigen::Ref<const RowMatrixXd>& warm,
                     const LassoOptions& opt, const CancelToken* cancel) {
  check_design(design, Y, "lasso_at");
  const Index n = design.cols, T = Y.cols();
  if (lambdas.size() != T) throw std::invalid_argument("lasso_at: one lambda per target is required");
  if (warm.size() != 0 && (warm.rows() != n || warm.cols() != T))
    throw std::invalid_argument("lasso_at: warm must be empty or n x T");
  if (!(opt.tol > 0.0) || opt.max_sweeps < 1) throw std::invalid_argument("lasso_at: tol > 0 and max_sweeps >= 1 are required");
  for (Index t = 0; t < T; ++t)
    if (!(lambdas[t] >= 0.0) || !std::isfinite(lambdas[t])) throw std::invalid_argument("lasso_at: lambdas must be finite and >= 0");
  const TargetStats st = target_stats(design, Y, opt.n_threads);
  LassoResult out = make_result(n, T, 0);
  parallel_for_with_state(
      T, opt.n_threads, [&] { return std::make_unique<CdSolver>(design); },
      [&](Index t, std::unique_ptr<CdSolver>& solver) {
        if (cancelled(cancel)) return;
        CdSolver& cd = *solver;
        const double lam = lambdas[t], lmax = lambda_max(st.C.col(t)), tol = opt.tol * st.sd[t];
        out.lambda[t] = lam;
        cd.reset(st.C.col(t));
        if (st.sd[t] > 0.0 && lam < lmax) {
          if (warm.size() != 0) {
            Eigen::VectorXd w0(n);
            for (Index j = 0; j < n; ++j) w0[j] = warm(j, t) * design.sigma[j];
            cd.warm(st.C.col(t), w0);
            if (!cd.solve(lam, tol, opt.max_sweeps, out.sweeps[t], cancel)) out.converged[t] = 0;
          } else {
            // A geometric walk from lambda_max, 10 lambdas per decade, for warm starts and screening.
            const double ratio = lam > 0.0 ? lam / lmax : 1e-12;
            const Index steps = std::max<Index>(1, static_cast<Index>(std::ceil(-10.0 * std::log10(ratio))));
            double prev = lmax;
            for (Index k = 1; k <= steps; ++k) {
              const double lk = k == steps ? lam : lmax * std::pow(ratio, double(k) / double(steps));
              cd.screen(lk, prev);
              if (!cd.solve(lk, tol, opt.max_sweeps, out.sweeps[t], cancel)) out.converged[t] = 0;
              prev = lk;
            }
          }
        }
        double b0 = 0.0;
        unstandardise(design, cd.w, st.ybar[t], out.weights, t, b0);
        out.intercept[t] = b0;
      });
  out.cancelled = cancelled(cancel);
  return out;
}

}  // namespace attrib
