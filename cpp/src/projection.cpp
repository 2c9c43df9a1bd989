// CPU projection kernel: tiles of P are generated from (seed, model_id, row, column) into a
// cache-sized buffer and multiplied into the batch with Eigen's GEMM; P is never stored.
#include "attrib/projection.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>
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

/// out[i] = -1 where bit i of u is set, else +1 (i < 32): the sign bit of 1.0 set from the bit,
/// branch-free and vectorisable (the tile fill is then small beside the GEMM it feeds).
template <class T>
inline void expand_signs(std::uint32_t u, T* out) {
  using U = std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>;
  static_assert(sizeof(U) == sizeof(T), "float or double");
  constexpr U kOne = sizeof(T) == 4 ? U(0x3F800000u) : U(0x3FF0000000000000ull);
  constexpr int kSignShift = 8 * sizeof(T) - 1;
  U v[32];
  for (int i = 0; i < 32; ++i) v[i] = kOne | (static_cast<U>((u >> i) & 1u) << kSignShift);
  std::memcpy(out, v, sizeof v);
}

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
        if (j1 - j0 == 128) {
          for (int q = 0; q < 4; ++q) expand_signs(bits[q], out + j0 + 32 * q);
        } else {
          for (std::int64_t j = j0; j < j1; ++j)
            out[j] = T(1) - T(2) * static_cast<T>((bits[(j & 127) >> 5] >> (j & 31)) & 1u);
        }
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

/// Features whose nonzeros are generated together (shared by every batch block) before the batch
/// blocks sweep them: kSparseChunk x nnz columns and signs, a few hundred KB.
constexpr Index kSparseChunk = 8192;
/// Features per generation task.
constexpr Index kSparseGenTask = 512;
/// Batch rows per scatter task. The task keeps its rows' outputs transposed (dim x kSparseRows,
/// 256 KB at dim = 2048: in L2), so that each nonzero (feature f, column c) is one vector update
/// Yt[c, :] += sign * G[:, f] over the rows instead of kSparseRows scalar scattered adds.
constexpr Index kSparseRows = 32;
/// Features of G transposed at a time into the task's scratch (kSparseTrans x kSparseRows, L1).
constexpr Index kSparseTrans = 64;

template <class T>
struct SparseScratch {
  std::vector<T> yt;  // dim x kSparseRows: the task's rows of Y, transposed
  std::vector<T> gt;  // kSparseTrans x kSparseRows: a block of G, transposed
};

template <class T>
void accumulate_sparse(const ProjectionSpec& s, const BatchRef<T>& G, std::int64_t offset, Eigen::Ref<RowMatrix<T>> Y,
                       int n_threads) {
  const Index B = G.rows(), p = G.cols(), dim = Y.cols();
  const auto nnz = static_cast<std::uint32_t>(s.nnz);
  const Index n_blocks = (B + kSparseRows - 1) / kSparseRows;
  const bool worth = static_cast<double>(B) * static_cast<double>(nnz) * static_cast<double>(p) > 2e5;
  // Column blocks of the nonzeros (sparse_nonzero's divisions, hoisted out of the feature loop).
  std::vector<std::uint64_t> lo(nnz), width(nnz);
  for (std::uint32_t t = 0; t < nnz; ++t) {
    lo[t] = static_cast<std::uint64_t>(s.dim) * t / nnz;
    width[t] = static_cast<std::uint64_t>(s.dim) * (t + 1) / nnz - lo[t];
  }
  const Index chunk = std::min(kSparseChunk, p);
  std::vector<std::int32_t> cols(static_cast<std::size_t>(chunk) * nnz);
  std::vector<T> signs(cols.size());
  // Every output entry Y(b, c) adds its terms in feature order (then nonzero order), whatever
  // the blocking, thread count or split of the features over calls: no atomics, the same bits.
  for (Index f0 = 0; f0 < p; f0 += kSparseChunk) {
    const Index nf = std::min(kSparseChunk, p - f0);
    parallel_for(
        (nf + kSparseGenTask - 1) / kSparseGenTask, n_threads,
        [&](Index task) {
          const Index a = task * kSparseGenTask, b = std::min(nf, a + kSparseGenTask);
          for (Index f = a; f < b; ++f) {
            const auto row = static_cast<std::uint64_t>(offset + f0 + f);
            std::int32_t* c = cols.data() + f * nnz;
            T* sg = signs.data() + f * nnz;
            std::uint32_t words[4];
            for (std::uint32_t t = 0; t < nnz; ++t) {
              if ((t & 3u) == 0) proj::entry_block(s.seed, proj::kStreamSparse, s.model_id, row, t >> 2, words);
              const std::uint32_t u = words[t & 3u];
              c[t] = static_cast<std::int32_t>(proj::sparse_column(u, lo[t], width[t]));
              sg[t] = (u & 1u) ? T(-1) : T(1);
            }
          }
        },
        worth && nf > kSparseGenTask);
    parallel_for_with_state(
        n_blocks, n_threads,
        [dim] {
          SparseScratch<T> st;
          st.yt.resize(static_cast<std::size_t>(dim) * kSparseRows);
          st.gt.resize(static_cast<std::size_t>(kSparseTrans) * kSparseRows);
          return st;
        },
        [&](Index blk, SparseScratch<T>& st) {
          const Index b0 = blk * kSparseRows, nb = std::min<Index>(kSparseRows, B - b0);
          T* yt = st.yt.data();
          T* gt = st.gt.data();
          for (Index r = 0; r < nb; ++r) {
            const T* y = Y.row(b0 + r).data();
            for (Index c = 0; c < dim; ++c) yt[c * kSparseRows + r] = y[c];
          }
          for (Index a = 0; a < nf; a += kSparseTrans) {
            const Index na = std::min(kSparseTrans, nf - a);
            for (Index r = 0; r < nb; ++r) {
              const T* g = G.row(b0 + r).data() + f0 + a;
              for (Index f = 0; f < na; ++f) gt[f * kSparseRows + r] = g[f];
            }
            for (Index f = 0; f < na; ++f) {
              const std::int32_t* c = cols.data() + (a + f) * nnz;
              const T* sg = signs.data() + (a + f) * nnz;
              const T* gf = gt + f * kSparseRows;
              for (std::uint32_t t = 0; t < nnz; ++t) {
                T* yc = yt + static_cast<Index>(c[t]) * kSparseRows;
                const T sv = sg[t];
                if (nb == kSparseRows) {
                  for (Index r = 0; r < kSparseRows; ++r) yc[r] += sv * gf[r];  // fixed trip count: vectorised
                } else {
                  for (Index r = 0; r < nb; ++r) yc[r] += sv * gf[r];
                }
              }
            }
          }
          for (Index r = 0; r < nb; ++r) {
            T* y = Y.row(b0 + r).data();
            for (Index c = 0; c < dim; ++c) y[c] = yt[c * kSparseRows + r];
          }
        },
        worth);
  }
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
