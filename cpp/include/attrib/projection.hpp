// Random projection (Johnson-Lindenstrauss) of gradient batches: Y = G P with P (n_features x dim)
// never stored. Every entry of P is a pure function of (seed, model_id, row, column)
// (projection_entries.hpp, shared with the CUDA kernel), so the matrix is the same on every device,
// for any thread count and any chunking of the feature axis.
#pragma once

#include <Eigen/Core>

#include <cstdint>
#include <vector>

#include "attrib/common.hpp"

namespace attrib {

/// How the entries of P are drawn.
enum class ProjectionKind : int {
  rademacher = 0,  ///< +-1/sqrt(dim), one Philox bit per entry
  gaussian = 1,    ///< N(0, 1/dim), Box-Muller in double
  sparse = 2,      ///< nnz signs +-1/sqrt(nnz) per row (input feature), one per column block
};

/// Which matrix: everything that determines P. The kernels check it (check_projection_spec).
struct ProjectionSpec {
  ProjectionKind kind = ProjectionKind::rademacher;
  std::uint64_t seed = 0;
  std::uint32_t model_id = 0;
  std::int64_t n_features = 1;  ///< rows of P
  std::int64_t dim = 1;         ///< columns of P
  std::int64_t nnz = 1;         ///< nonzeros per row (sparse only)
};

/// Throws std::invalid_argument when the spec is out of range (dim < 1 or >= 2^31, n_features < 1
/// or >= 2^48, model_id >= 2^16, sparse nnz outside [1, dim]).
void check_projection_spec(const ProjectionSpec& spec);

/// The factor applied after the unscaled accumulation: 1/sqrt(dim), or 1/sqrt(nnz) for sparse.
double projection_scale(const ProjectionSpec& spec);

/// Features per tile of the CPU kernel. Calls that split the feature axis at multiples of this
/// (relative to the first call's offset) and accumulate into the same output add in exactly the
/// order of a single call, so they give the same bits.
constexpr Index kProjectionFeatureTile = 256;
/// Output columns per task of the dense CPU kernel (a multiple of 128: one Rademacher word).
constexpr Index kProjectionColumnTile = 256;
/// Batch rows per task of the dense CPU kernel.
constexpr Index kProjectionBatchTile = 256;

template <class T>
using RowMatrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
/// A row-major batch that may be a column slice of a wider one (outer stride >= cols).
template <class T>
using BatchRef = Eigen::Ref<const RowMatrix<T>, 0, Eigen::OuterStride<>>;

/// Y += G S, where S is the *unscaled* slice of P for rows feature_offset .. feature_offset +
/// G.cols() (entries +-1, N(0,1), or the sparse signs). Multiply Y by projection_scale afterwards.
/// G is B x p_chunk, Y is B x dim. Parallel over (batch tile x column tile) for dense kinds and
/// over batch rows for sparse: every output entry is summed by one thread in feature order, so the
/// result is bitwise the same for any n_threads. T is float or double (also the accumulation type).
template <class T>
void projection_accumulate(const ProjectionSpec& spec, const BatchRef<T>& G, std::int64_t feature_offset,
                           Eigen::Ref<RowMatrix<T>> Y, int n_threads);

/// The scaled entries P[rows[a], cols[b]] as a rows.size() x cols.size() matrix (rows are input
/// features, columns output dimensions). Indices are checked (std::out_of_range).
template <class T>
RowMatrix<T> projection_matrix(const ProjectionSpec& spec, const std::vector<std::int64_t>& rows,
                               const std::vector<std::int64_t>& cols, int n_threads);

}  // namespace attrib
