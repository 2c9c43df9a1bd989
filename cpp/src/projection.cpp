// CPU projection kernel: tiles of P are generated from (seed, model_id, row, column) into a
// cache-sized buffer and multiplied into the batch with Eigen's GEMM; P is never stored.
#include "attrib/projection.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "attrib/projection_entries.hpp"
#include "attrib/random.hpp"

namespace attrib {

static_assert(static_cast<std::uint32_t>(RandomStream::kProjectionRademacher) == proj::kStreamRademacher &&
                  static_cast<std::uint32_t>(RandomStream::kProjectionGaussian) == proj::kStreamGaussian &&
                  static_cast<std::uint32_t>(RandomStream::kProjectionSparse) == proj::kStreamSparse,
              "projection stream tags must match random.hpp");
static_assert(kProjectionColumnTile % 128 == 0, "a column tile holds whole Rademacher words");

void check_projection_spec(const ProjectionSpec& s) {
  if (s.dim < 1 || s.dim >= (std::int64_t{1} << 31))
    throw std::invalid_argument("projection: dim must be in [1, 2^31), got " + std::to_string(s.dim));
  if (s.n_features < 1 || static_cast<std::uint64_t>(s.n_features) > proj::kMaxRows)
    throw std::invalid_argument("projection: n_features must be in [1, 2^48], got " + std::to_string(s.n_features));
  if (s.model_id >= proj::kMaxModels)
    throw std::invalid_argument("projection: model_id must be in [0, 65535], got " + std::to_string(s.model_id));
  if (s.kind == ProjectionKind::sparse && (s.nnz < 1 || s.nnz > s.dim))
    throw std::invalid_argument("projection: nnz per row must be in [1, dim], got " + std::to_string(s.nnz));
  if (s.kind != ProjectionKind::rademacher && s.kind != ProjectionKind::gaussian && s.kind != ProjectionKind::sparse)
    throw std::invalid_argument("projection: unknown kind");
}

double projection_scale(const ProjectionSpec& s) {
  return 1.0 / std::sqrt(static_cast<double>(s.kind == ProjectionKind::sparse ? s.nnz : s.dim));
}

namespace {

/// Unscaled entries of P for rows f0 .. f0+nf and columns c0 .. c0+nc into buf (row-major, ld nc).
template <class T>
void fill_dense_tile(const ProjectionSpec& s, std::int64_t f0, Index nf, Index c0, Index nc, T* buf) {
  const std::int64_t c1 = c0 + nc;
  if (s.kind == ProjectionKind::rademacher) {
    for (Index f = 0; f < nf; ++f) {
      T* out = buf + f * nc - c0;
      for (std::int64_t w = c0 >> 7; (w << 7) < c1; ++w) {
        std::uint32_t bits[4];
        proj::entry_block(s.seed, proj::kStreamRademacher, s.model_id, static_cast<std::uint64_t>(f0 + f),
                          static_cast<std::uint32_t>(w), bits);
        const std::int64_t j0 = std::max<std::int64_t>(c0, w << 7), j1 = std::min<std::int64_t>(c1, (w + 1) << 7);
        for (std::int64_t j = j0; j < j1; ++j)
          out[j] = T(1) - T(2) * static_cast<T>((bits[(j & 127) >> 5] >> (j & 31)) & 1u);
      }
    }
  } else {
    for (Index f = 0; f < nf; ++f) {
      T* out = buf + f * nc - c0;
      for (std::int64_t w = c0 >> 2; (w << 2) < c1; ++w) {
        double q[4];
        proj::gaussian_quad(s.seed, s.model_id, static_cast<std::uint64_t>(f0 + f), static_cast<std::uint32_t>(w), q);
        const std::int64_t j0 = std::max<std::int64_t>(c0, w << 2), j1 = std::min<std::int64_t>(c1, (w + 1) << 2);
        for (std::int64_t j = j0; j < j1; ++j) out[j] = static_cast<T>(q[j & 3]);
      }
    }
  }
}

template <class T>
void accumulate_dense(const ProjectionSpec& s, const BatchRef<T>& G, std::int64_t offset, Eigen::Ref<RowMatrix<T>> Y,
                      int n_threads) {
  const Index B = G.rows(), p = G.cols(), dim = Y.cols();
  const Index n_bt = (B + kProjectionBatchTile - 1) / kProjectionBatchTile;
  const Index n_ct = (dim + kProjectionColumnTile - 1) / kProjectionColumnTile;
  const double work = static_cast<double>(B) * static_cast<double>(p) * static_cast<double>(dim);
  // One task = one (batch tile, column tile) block of Y, summed over the feature tiles in order by
  // one thread: the tile shapes depend on the problem only, so the bits never depend on n_threads.
  parallel_for_with_state(
      n_bt * n_ct, n_threads, [] { return RowMatrix<T>(kProjectionFeatureTile, kProjectionColumnTile); },
      [&](Index task, RowMatrix<T>& tile) {
        const Index b0 = (task / n_ct) * kProjectionBatchTile, c0 = (task % n_ct) * kProjectionColumnTile;
        const Index nb = std::min(kProjectionBatchTile, B - b0), nc = std::min(kProjectionColumnTile, dim - c0);
        for (Index f = 0; f < p; f += kProjectionFeatureTile) {
          const Index nf = std::min(kProjectionFeatureTile, p - f);
          fill_dense_tile<T>(s, offset + f, nf, c0, nc, tile.data());
          const Eigen::Map<const RowMatrix<T>> P(tile.data(), nf, nc);
          Y.block(b0, c0, nb, nc).noalias() += G.block(b0, f, nb, nf) * P;
        }
      },
      work > 4e6);
}

/// Features whose sparse rows are generated together before a block of batch rows sweeps them.
constexpr Index kSparseChunk = 2048;
/// Batch rows per task of the sparse kernel: the rows' outputs stay in L2, and each feature's
/// columns and signs are generated once per this many rows.
constexpr Index kSparseRows = 16;

template <class T>
struct SparseScratch {
  std::vector<std::int32_t> cols;
  std::vector<T> signs;
};

template <class T>
void accumulate_sparse(const ProjectionSpec& s, const BatchRef<T>& G, std::int64_t offset, Eigen::Ref<RowMatrix<T>> Y,
                       int n_threads) {
  const Index B = G.rows(), p = G.cols();
  const auto nnz = static_cast<std::uint32_t>(s.nnz);
  const Index n_blocks = (B + kSparseRows - 1) / kSparseRows;
  const bool worth = static_cast<double>(B) * static_cast<double>(nnz) * static_cast<double>(p) > 2e5;
  // One parallel region per call (many short regions cost a scheduler slice each on a busy
  // machine): each task owns kSparseRows rows of Y and adds every feature to them in feature
  // order, generating the rows of P chunk by chunk into its own scratch. No atomics; the same
  // bits for any thread count, and for any split of the features over calls.
  parallel_for_with_state(
      n_blocks, n_threads,
      [nnz] {
        SparseScratch<T> st;
        st.cols.resize(static_cast<std::size_t>(kSparseChunk) * nnz);
        st.signs.resize(st.cols.size());
        return st;
      },
      [&](Index blk, SparseScratch<T>& st) {
        const Index b0 = blk * kSparseRows, nb = std::min<Index>(kSparseRows, B - b0);
        T* y[kSparseRows];
        const T* g[kSparseRows];
        for (Index r = 0; r < nb; ++r) {
          y[r] = Y.row(b0 + r).data();
          g[r] = G.row(b0 + r).data();
        }
        for (Index f0 = 0; f0 < p; f0 += kSparseChunk) {
          const Index nf = std::min(kSparseChunk, p - f0);
          for (Index f = 0; f < nf; ++f)
            proj::sparse_row(s.seed, s.model_id, static_cast<std::uint64_t>(offset + f0 + f),
                             static_cast<std::uint64_t>(s.dim), nnz, st.cols.data() + f * nnz,
                             st.signs.data() + f * nnz);
          for (Index f = 0; f < nf; ++f) {
            const std::int32_t* c = st.cols.data() + f * nnz;
            const T* sg = st.signs.data() + f * nnz;
            for (Index r = 0; r < nb; ++r) {
              const T gf = g[r][f0 + f];
              T* yr = y[r];
              for (std::uint32_t t = 0; t < nnz; ++t) yr[c[t]] += sg[t] * gf;
            }
          }
        }
      },
      worth);
}

}  // namespace

template <class T>
void projection_accumulate(const ProjectionSpec& spec, const BatchRef<T>& G, std::int64_t feature_offset,
                           Eigen::Ref<RowMatrix<T>> Y, int n_threads) {
  check_projection_spec(spec);
  if (feature_offset < 0 || G.cols() > spec.n_features - feature_offset)
    throw std::invalid_argument("projection: features " + std::to_string(feature_offset) + " .. " +
                                std::to_string(feature_offset + G.cols()) + " exceed n_features " +
                                std::to_string(spec.n_features));
  if (Y.rows() != G.rows() || Y.cols() != spec.dim)
    throw std::invalid_argument("projection: output must be batch x dim");
  if (G.rows() == 0 || G.cols() == 0) return;
  if (spec.kind == ProjectionKind::sparse)
    accumulate_sparse<T>(spec, G, feature_offset, Y, n_threads);
  else
    accumulate_dense<T>(spec, G, feature_offset, Y, n_threads);
}

template <class T>
RowMatrix<T> projection_matrix(const ProjectionSpec& spec, const std::vector<std::int64_t>& rows,
                               const std::vector<std::int64_t>& cols, int n_threads) {
  check_projection_spec(spec);
  for (const std::int64_t r : rows)
    if (r < 0 || r >= spec.n_features) throw std::out_of_range("projection_matrix: row index out of range");
  for (const std::int64_t c : cols)
    if (c < 0 || c >= spec.dim) throw std::out_of_range("projection_matrix: column index out of range");
  const auto n_rows = static_cast<Index>(rows.size()), n_cols = static_cast<Index>(cols.size());
  RowMatrix<T> out(n_rows, n_cols);
  const double scale = projection_scale(spec);
  const auto nnz = static_cast<std::uint32_t>(spec.nnz);
  parallel_for(
      n_rows, n_threads,
      [&](Index a) {
        const auto row = static_cast<std::uint64_t>(rows[static_cast<std::size_t>(a)]);
        std::vector<std::int64_t> sc;
        std::vector<int> ss;
        if (spec.kind == ProjectionKind::sparse) {
          sc.resize(nnz);
          ss.resize(nnz);
          proj::sparse_row(spec.seed, spec.model_id, row, static_cast<std::uint64_t>(spec.dim), nnz, sc.data(),
                           ss.data());
        }
        for (Index b = 0; b < n_cols; ++b) {
          const auto col = static_cast<std::uint64_t>(cols[static_cast<std::size_t>(b)]);
          double v = 0.0;
          if (spec.kind == ProjectionKind::rademacher) {
            v = proj::rademacher_entry(spec.seed, spec.model_id, row, col);
          } else if (spec.kind == ProjectionKind::gaussian) {
            v = proj::gaussian_entry(spec.seed, spec.model_id, row, col);
          } else {
            for (std::uint32_t t = 0; t < nnz; ++t)
              if (static_cast<std::uint64_t>(sc[t]) == col) v = ss[t];
          }
          out(a, b) = static_cast<T>(v * scale);
        }
      },
      static_cast<double>(n_rows) * static_cast<double>(n_cols) > 1e5);
  return out;
}

template void projection_accumulate<float>(const ProjectionSpec&, const BatchRef<float>&, std::int64_t,
                                           Eigen::Ref<RowMatrix<float>>, int);
template void projection_accumulate<double>(const ProjectionSpec&, const BatchRef<double>&, std::int64_t,
                                            Eigen::Ref<RowMatrix<double>>, int);
template RowMatrix<float> projection_matrix<float>(const ProjectionSpec&, const std::vector<std::int64_t>&,
                                                   const std::vector<std::int64_t>&, int);
template RowMatrix<double> projection_matrix<double>(const ProjectionSpec&, const std::vector<std::int64_t>&,
                                                     const std::vector<std::int64_t>&, int);

}  // namespace attrib
