// TRAK kernels: the Gram matrix of the features in float64, its Cholesky factor, solves for the
// test features, and scores in tiles of training rows (see trak.hpp).
#include "attrib/trak.hpp"

#include <Eigen/Cholesky>

#include <cmath>
#include <stdexcept>
#include <utility>
#include <vector>

namespace attrib {

namespace {

constexpr Index kTestBlock = 64;  // test points per task in trak_solve

struct Tile {
  Index i0, j0, bi, bj;
};

// Lower-triangle tiles (diagonal included) of a k x k matrix.
std::vector<Tile> lower_tiles(Index k) {
  std::vector<Tile> t;
  for (Index i0 = 0; i0 < k; i0 += kTrakGramTile)
    for (Index j0 = 0; j0 <= i0; j0 += kTrakGramTile)
      t.push_back({i0, j0, std::min(kTrakGramTile, k - i0), std::min(kTrakGramTile, k - j0)});
  return t;
}

// "a ranks before b": NaN last, then by value (descending when `largest`), then by lower index.
bool ranks_before(double av, std::int64_t ai, double bv, std::int64_t bi, bool largest) {
  const bool an = std::isnan(av), bn = std::isnan(bv);
  if (an != bn) return bn;
  if (!an && av != bv) return largest ? av > bv : av < bv;
  return ai < bi;
}

// Inserts candidate (v, i) into row j of a best-first list when it ranks before the last slot.
void offer(double v, std::int64_t i, Index j, bool largest, Eigen::Ref<RowMatrixXd>& vals,
           Eigen::Ref<RowMatrixXi64>& idx) {
  const Index k = vals.cols();
  auto beats = [&](Index q) { return idx(j, q) < 0 || ranks_before(v, i, vals(j, q), idx(j, q), largest); };
  if (!beats(k - 1)) return;
  Index q = k - 1;
  while (q > 0 && beats(q - 1)) {
    vals(j, q) = vals(j, q - 1);
    idx(j, q) = idx(j, q - 1);
    --q;
  }
  vals(j, q) = v;
  idx(j, q) = i;
}

struct RowScratch {
  RowMatrixXd B, T;
  Eigen::MatrixXd V;
};

}  // namespace

void trak_gram(const Eigen::Ref<const RowMatrixXf>& Phi, const Eigen::Ref<const Eigen::VectorXd>& w,
               Eigen::Ref<RowMatrixXd> G, int n_threads) {
  const Index m = Phi.rows(), k = Phi.cols();
  if (G.rows() != k || G.cols() != k) throw std::invalid_argument("trak_gram: G must be k x k for k features");
  if (w.size() != 0 && w.size() != m) throw std::invalid_argument("trak_gram: one weight per row expected");
  if (m == 0) return;
  const RowMatrixXd B = Phi.cast<double>();
  RowMatrixXd Bw;
  if (w.size() != 0) Bw = w.asDiagonal() * B;
  const RowMatrixXd& L = w.size() != 0 ? Bw : B;
  const std::vector<Tile> tiles = lower_tiles(k);
  parallel_for(static_cast<Index>(tiles.size()), n_threads, [&](Index t) {
    const Tile& c = tiles[static_cast<std::size_t>(t)];
    G.block(c.i0, c.j0, c.bi, c.bj).noalias() += L.middleCols(c.i0, c.bi).transpose() * B.middleCols(c.j0, c.bj);
  });
}

void trak_gram_f32(const Eigen::Ref<const RowMatrixXf>& Phi, const Eigen::Ref<const Eigen::VectorXd>& w,
                   Eigen::Ref<RowMatrixXd> G, int n_threads) {
  const Index m = Phi.rows(), k = Phi.cols();
  if (G.rows() != k || G.cols() != k) throw std::invalid_argument("trak_gram_f32: G must be k x k for k features");
  if (w.size() != 0 && w.size() != m) throw std::invalid_argument("trak_gram_f32: one weight per row expected");
  if (m == 0) return;
  RowMatrixXf Lw;
  if (w.size() != 0) Lw = (w.asDiagonal() * Phi.cast<double>()).cast<float>();
  const std::vector<Tile> tiles = lower_tiles(k);
  // One task per tile of G; inside it the row blocks are summed in order (fixed bits).
  parallel_for_with_state(
      static_cast<Index>(tiles.size()), n_threads, [] { return RowMatrixXf{}; },
      [&](Index t, RowMatrixXf& part) {
        const Tile& c = tiles[static_cast<std::size_t>(t)];
        for (Index r0 = 0; r0 < m; r0 += kTrakF32Block) {
          const Index mr = std::min(kTrakF32Block, m - r0);
          const auto R = Phi.block(r0, c.j0, mr, c.bj);
          if (w.size() != 0)
            part.noalias() = Lw.block(r0, c.i0, mr, c.bi).transpose() * R;
          else
            part.noalias() = Phi.block(r0, c.i0, mr, c.bi).transpose() * R;
          G.block(c.i0, c.j0, c.bi, c.bj) += part.cast<double>();
        }
      });
}

TrakFactor trak_factor(const Eigen::Ref<const RowMatrixXd>& G, double lambda) {
  const Index k = G.rows();
  if (G.cols() != k || k == 0) throw std::invalid_argument("trak_factor: G must be square and non-empty");
  Eigen::MatrixXd A = G.triangularView<Eigen::Lower>();
  A.triangularView<Eigen::StrictlyUpper>() = A.transpose();
  A.diagonal().array() += lambda;
  TrakFactor f;
  f.norm1 = A.cwiseAbs().colwise().sum().maxCoeff();
  Eigen::LLT<Eigen::MatrixXd> llt(A);
  if (llt.info() != Eigen::Success || !(llt.matrixLLT().diagonal().array() > 0.0).all()) return f;
  f.ok = true;
  f.rcond = llt.rcond();
  f.chol = llt.matrixL();
  return f;
}

RowMatrixXd trak_solve(const Eigen::Ref<const RowMatrixXd>& chol, const Eigen::Ref<const RowMatrixXf>& Phi_test,
                       int n_threads) {
  const Index k = chol.rows(), T = Phi_test.rows();
  if (chol.cols() != k || Phi_test.cols() != k)
    throw std::invalid_argument("trak_solve: the test features must have as many columns as the kernel");
  RowMatrixXd Y(T, k);
  const Index n_blocks = (T + kTestBlock - 1) / kTestBlock;
  parallel_for(n_blocks, n_threads, [&](Index b) {
    const Index c0 = b * kTestBlock, mc = std::min(kTestBlock, T - c0);
    Eigen::MatrixXd X = Phi_test.middleRows(c0, mc).cast<double>().transpose();  // k x mc
    chol.triangularView<Eigen::Lower>().solveInPlace(X);
    chol.transpose().triangularView<Eigen::Upper>().solveInPlace(X);
    Y.middleRows(c0, mc) = X.transpose();
  });
  return Y;
}

void trak_score_rows(const Eigen::Ref<const RowMatrixXf>& Phi, const Eigen::Ref<const Eigen::VectorXd>& s,
                     const Eigen::Ref<const RowMatrixXd>& Y, Eigen::Ref<RowMatrixXd> out, bool accumulate,
                     int n_threads) {
  const Index m = Phi.rows(), k = Phi.cols(), T = Y.rows();
  if (Y.cols() != k) throw std::invalid_argument("trak_score_rows: the solved test rows must have k columns");
  if (out.rows() != m || out.cols() != T) throw std::invalid_argument("trak_score_rows: out must be rows x n_test");
  if (s.size() != 0 && s.size() != m) throw std::invalid_argument("trak_score_rows: one scale per row expected");
  const Index n_tiles = (m + kTrakRowTile - 1) / kTrakRowTile;
  parallel_for_with_state(
      n_tiles, n_threads, [] { return RowScratch{}; },
      [&](Index t, RowScratch& sc) {
        const Index r0 = t * kTrakRowTile, mr = std::min(kTrakRowTile, m - r0);
        sc.B = Phi.middleRows(r0, mr).cast<double>();
        sc.T.noalias() = sc.B * Y.transpose();
        if (s.size() != 0) sc.T = s.segment(r0, mr).asDiagonal() * sc.T;
        if (accumulate)
          out.middleRows(r0, mr) += sc.T;
        else
          out.middleRows(r0, mr) = sc.T;
      });
}

void trak_score_rows_f32(const Eigen::Ref<const RowMatrixXf>& Phi, const Eigen::Ref<const Eigen::VectorXd>& s,
                         const Eigen::Ref<const RowMatrixXf>& Y32, Eigen::Ref<RowMatrixXd> out, bool accumulate,
                         int n_threads) {
  const Index m = Phi.rows(), k = Phi.cols(), T = Y32.rows();
  if (Y32.cols() != k) throw std::invalid_argument("trak_score_rows_f32: the solved test rows must have k columns");
  if (out.rows() != m || out.cols() != T)
    throw std::invalid_argument("trak_score_rows_f32: out must be rows x n_test");
  if (s.size() != 0 && s.size() != m) throw std::invalid_argument("trak_score_rows_f32: one scale per row expected");
  const Index n_tiles = (m + kTrakRowTile - 1) / kTrakRowTile;
  parallel_for_with_state(
      n_tiles, n_threads, [] { return RowMatrixXf{}; },
      [&](Index t, RowMatrixXf& prod) {
        const Index r0 = t * kTrakRowTile, mr = std::min(kTrakRowTile, m - r0);
        prod.noalias() = Phi.middleRows(r0, mr) * Y32.transpose();
        auto dst = out.middleRows(r0, mr);
        if (s.size() != 0) {
          if (accumulate)
            dst.noalias() += s.segment(r0, mr).asDiagonal() * prod.cast<double>();
          else
            dst.noalias() = s.segment(r0, mr).asDiagonal() * prod.cast<double>();
        } else if (accumulate) {
          dst += prod.cast<double>();
        } else {
          dst = prod.cast<double>();
        }
      });
}

Eigen::VectorXd trak_quad(const Eigen::Ref<const RowMatrixXf>& Phi, const Eigen::Ref<const RowMatrixXd>& chol,
                          int n_threads) {
  const Index m = Phi.rows(), k = Phi.cols();
  if (chol.rows() != k || chol.cols() != k)
    throw std::invalid_argument("trak_quad: the features must have as many columns as the kernel");
  Eigen::VectorXd q(m);
  const Index n_tiles = (m + kTrakRowTile - 1) / kTrakRowTile;
  parallel_for_with_state(
      n_tiles, n_threads, [] { return RowScratch{}; },
      [&](Index t, RowScratch& sc) {
        const Index r0 = t * kTrakRowTile, mr = std::min(kTrakRowTile, m - r0);
        sc.V = Phi.middleRows(r0, mr).cast<double>().transpose();  // k x mr
        chol.triangularView<Eigen::Lower>().solveInPlace(sc.V);
        q.segment(r0, mr) = sc.V.colwise().squaredNorm().transpose();
      });
  return q;
}

void trak_topk_update(const Eigen::Ref<const RowMatrixXd>& tile, std::int64_t r0, Eigen::Ref<RowMatrixXd> hi_val,
                      Eigen::Ref<RowMatrixXi64> hi_idx, Eigen::Ref<RowMatrixXd> lo_val,
                      Eigen::Ref<RowMatrixXi64> lo_idx, int n_threads) {
  const Index m = tile.rows(), T = tile.cols(), k = hi_val.cols();
  if (k < 1 || hi_val.rows() != T || hi_idx.rows() != T || lo_val.rows() != T || lo_idx.rows() != T ||
      hi_idx.cols() != k || lo_val.cols() != k || lo_idx.cols() != k)
    throw std::invalid_argument("trak_topk_update: the top-k arrays must be n_test x k");
  const Index n_blocks = (T + kTestBlock - 1) / kTestBlock;
  // One block of test points per task: each test point's candidates are seen by one thread in
  // row order.
  parallel_for(n_blocks, n_threads, [&](Index b) {
    const Index c0 = b * kTestBlock, c1 = std::min(T, c0 + kTestBlock);
    for (Index r = 0; r < m; ++r) {
      const std::int64_t i = r0 + static_cast<std::int64_t>(r);
      for (Index j = c0; j < c1; ++j) {
        const double v = tile(r, j);
        offer(v, i, j, true, hi_val, hi_idx);
        offer(v, i, j, false, lo_val, lo_idx);
      }
    }
  });
}

}  // namespace attrib
