// Host API of the CUDA projection kernel (plain C++: the binding TU includes it without nvcc).
// The entries are those of projection_entries.hpp, the same bits the CPU kernel uses.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace attrib {
namespace cuda {

/// Everything that determines P (kind: 0 rademacher, 1 gaussian, 2 sparse), as in ProjectionSpec.
struct Spec {
  int kind = 0;
  std::uint64_t seed = 0;
  std::uint32_t model_id = 0;
  std::int64_t n_features = 1;
  std::int64_t dim = 1;
  std::int64_t nnz = 1;
};

/// GPUs visible to the runtime; 0 with the reason in `why` when none is usable.
int device_count(std::string& why);

/// Y = scale * (G S) for a B x p batch G (row stride ld elements, dtype float32 or float64 as
/// `f64` says) starting at feature `offset`; Y is B x dim, C-contiguous, same dtype. With
/// `host` the pointers are host memory (copied to the current GPU and back); otherwise device
/// memory on one GPU (the kernel runs on that GPU). Synchronous. The work is split into fixed
/// segments of the feature axis whose partial sums are added in segment order, so the bits depend
/// neither on the GPU model, its SM count, nor the batch size of other calls.
void project(const Spec& spec, const void* G, bool f64, std::int64_t B, std::int64_t p, std::int64_t ld,
             std::int64_t offset, void* Y, bool host);

/// The scaled entries P[rows[a], cols[b]] computed on the GPU, into a host buffer (row-major).
void matrix(const Spec& spec, const std::vector<std::int64_t>& rows, const std::vector<std::int64_t>& cols, bool f64,
            void* out_host);

}  // namespace cuda
}  // namespace attrib
