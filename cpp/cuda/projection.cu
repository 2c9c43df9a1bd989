// CUDA projection kernel: Y = scale * (G S) with S generated on the fly from
// projection_entries.hpp, the same header the CPU kernel compiles, so both use the same matrix.
//
// Determinism: the feature axis is cut into fixed segments (kDenseSegment / kSparseSegment
// features, constants of this file); each (segment, output tile) is summed by one thread in
// feature order into a partial buffer, and the partials are added to Y in segment order by one
// thread per output entry. Nothing depends on the SM count, the block scheduling or atomics, so a
// given input gives the same bits on every GPU.
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "attrib/projection_entries.hpp"
#include "projection_cuda.hpp"

namespace attrib {
namespace cuda {
namespace {

constexpr int kBM = 64;    // batch rows per block
constexpr int kBN = 128;   // output columns per block (one Rademacher word)
constexpr int kBK = 16;    // features per shared-memory step
constexpr int kThreads = 256;
constexpr std::int64_t kDenseSegment = 16384;  // features per partial sum (dense)
constexpr std::int64_t kSparseSegment = 4096;  // features per partial sum (sparse)
constexpr std::int64_t kPartialBytes = std::int64_t{256} << 20;  // partial buffer of one launch

void check(cudaError_t err, const char* what) {
  if (err != cudaSuccess) throw std::runtime_error(std::string("CUDA error in ") + what + ": " + cudaGetErrorString(err));
}

/// Dense tile kernel. blockIdx.x: column tile, blockIdx.y: batch tile, blockIdx.z: segment within
/// this launch. Writes the segment's partial sums (unscaled) to part[z][b][c].
template <class T, int KIND>
__global__ void __launch_bounds__(kThreads) dense_partial(const T* __restrict__ G, std::int64_t B, std::int64_t p,
                                                          std::int64_t ld, std::int64_t offset,
                                                          std::int64_t first_segment, std::uint64_t seed,
                                                          std::uint32_t model_id, std::int64_t dim,
                                                          T* __restrict__ part) {
  __shared__ T Gs[kBK][kBM + 1];
  __shared__ T Ss[kBK][kBN];
  const int tid = threadIdx.x, tx = tid % 16, ty = tid / 16;
  const std::int64_t c0 = static_cast<std::int64_t>(blockIdx.x) * kBN;
  const std::int64_t b0 = static_cast<std::int64_t>(blockIdx.y) * kBM;
  const std::int64_t seg = first_segment + blockIdx.z;
  const std::int64_t f_begin = seg * kDenseSegment;
  const std::int64_t f_end = f_begin + kDenseSegment < p ? f_begin + kDenseSegment : p;
  T acc[4][8];
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 8; ++j) acc[i][j] = T(0);

  for (std::int64_t k0 = f_begin; k0 < f_end; k0 += kBK) {
    // The batch tile: 64 x 16 values, four per thread.
    for (int e = tid; e < kBM * kBK; e += kThreads) {
      const int r = e / kBK, k = e % kBK;
      const std::int64_t b = b0 + r, f = k0 + k;
      Gs[k][r] = (b < B && f < f_end) ? G[b * ld + f] : T(0);
    }
    // The matrix tile: 16 features x 128 columns, eight entries per thread.
    {
      const int k = tid / 16, part8 = tid % 16;
      const std::int64_t f = k0 + k;
      const auto row = static_cast<std::uint64_t>(offset + f);
      T* out = &Ss[k][part8 * 8];
      if (f >= f_end) {
        for (int j = 0; j < 8; ++j) out[j] = T(0);
      } else if (KIND == 0) {
        std::uint32_t bits[4];
        proj::entry_block(seed, proj::kStreamRademacher, model_id, row, static_cast<std::uint32_t>(c0 >> 7), bits);
        for (int j = 0; j < 8; ++j)
          out[j] = proj::rademacher_bit(bits, static_cast<std::uint64_t>(part8 * 8 + j)) ? T(-1) : T(1);
      } else {
        for (int q = 0; q < 2; ++q) {
          double v[4];
          proj::gaussian_quad(seed, model_id, row, static_cast<std::uint32_t>((c0 + part8 * 8 + 4 * q) >> 2), v);
          for (int j = 0; j < 4; ++j) out[4 * q + j] = static_cast<T>(v[j]);
        }
      }
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < kBK; ++kk) {
      T a[4], s[8];
      for (int i = 0; i < 4; ++i) a[i] = Gs[kk][ty * 4 + i];
      for (int j = 0; j < 8; ++j) s[j] = Ss[kk][tx * 8 + j];
      for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 8; ++j) acc[i][j] += a[i] * s[j];
    }
    __syncthreads();
  }
  T* out = part + static_cast<std::int64_t>(blockIdx.z) * B * dim;
  for (int i = 0; i < 4; ++i) {
    const std::int64_t b = b0 + ty * 4 + i;
    if (b >= B) continue;
    for (int j = 0; j < 8; ++j) {
      const std::int64_t c = c0 + tx * 8 + j;
      if (c < dim) out[b * dim + c] = acc[i][j];
    }
  }
}

/// Sparse kernel: one thread per (batch row, segment in this launch) adds its segment's features
/// in order into its own partial row part[z][b][:] (zeroed before the launch).
template <class T>
__global__ void sparse_partial(const T* __restrict__ G, std::int64_t B, std::int64_t p, std::int64_t ld,
                               std::int64_t offset, std::int64_t first_segment, std::int64_t n_segments,
                               std::uint64_t seed, std::uint32_t model_id, std::int64_t dim, std::uint32_t nnz,
                               T* __restrict__ part) {
  const std::int64_t t = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (t >= B * n_segments) return;
  const std::int64_t b = t % B, z = t / B;
  const std::int64_t f_begin = (first_segment + z) * kSparseSegment;
  const std::int64_t f_end = f_begin + kSparseSegment < p ? f_begin + kSparseSegment : p;
  T* y = part + (z * B + b) * dim;
  for (std::int64_t f = f_begin; f < f_end; ++f) {
    const T g = G[b * ld + f];
    std::uint32_t words[4];
    for (std::uint32_t k = 0; k < nnz; ++k) {
      if ((k & 3u) == 0)
        proj::entry_block(seed, proj::kStreamSparse, model_id, static_cast<std::uint64_t>(offset + f), k >> 2, words);
      std::uint64_t col;
      int sign;
      proj::sparse_nonzero(words, k, static_cast<std::uint64_t>(dim), nnz, &col, &sign);
      y[col] += sign < 0 ? -g : g;
    }
  }
}

/// Y[e] (= 0 when `first`) += part[0][e] + part[1][e] + ... in segment order; scaled when `last`.
template <class T>
__global__ void reduce_partials(const T* __restrict__ part, std::int64_t n_parts, std::int64_t n, bool first,
                                bool last, T scale, T* __restrict__ Y) {
  const std::int64_t e = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (e >= n) return;
  T acc = first ? T(0) : Y[e];
  for (std::int64_t z = 0; z < n_parts; ++z) acc += part[z * n + e];
  Y[e] = last ? acc * scale : acc;
}

template <class T>
__global__ void matrix_kernel(int kind, std::uint64_t seed, std::uint32_t model_id, std::int64_t dim,
                              std::uint32_t nnz, double scale, const std::int64_t* __restrict__ rows,
                              std::int64_t n_rows, const std::int64_t* __restrict__ cols, std::int64_t n_cols,
                              T* __restrict__ out) {
  const std::int64_t e = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (e >= n_rows * n_cols) return;
  const auto row = static_cast<std::uint64_t>(rows[e / n_cols]);
  const auto col = static_cast<std::uint64_t>(cols[e % n_cols]);
  double v = 0.0;
  if (kind == 0) {
    v = proj::rademacher_entry(seed, model_id, row, col);
  } else if (kind == 1) {
    v = proj::gaussian_entry(seed, model_id, row, col);
  } else {
    std::uint32_t words[4];
    for (std::uint32_t k = 0; k < nnz; ++k) {
      if ((k & 3u) == 0) proj::entry_block(seed, proj::kStreamSparse, model_id, row, k >> 2, words);
      std::uint64_t c;
      int sign;
      proj::sparse_nonzero(words, k, static_cast<std::uint64_t>(dim), nnz, &c, &sign);
      if (c == col) v = sign;
    }
  }
  out[e] = static_cast<T>(v * scale);
}

double scale_of(const Spec& s) { return 1.0 / std::sqrt(static_cast<double>(s.kind == 2 ? s.nnz : s.dim)); }

void check_spec(const Spec& s) {
  if (s.kind < 0 || s.kind > 2) throw std::invalid_argument("projection (CUDA): unknown kind");
  if (s.dim < 1 || s.dim >= (std::int64_t{1} << 31)) throw std::invalid_argument("projection (CUDA): bad dim");
  if (s.n_features < 1 || static_cast<std::uint64_t>(s.n_features) > proj::kMaxRows)
    throw std::invalid_argument("projection (CUDA): bad n_features");
  if (s.model_id >= proj::kMaxModels) throw std::invalid_argument("projection (CUDA): bad model_id");
  if (s.kind == 2 && (s.nnz < 1 || s.nnz > s.dim)) throw std::invalid_argument("projection (CUDA): bad nnz");
}

/// Device buffer freed on scope exit (also when an error is thrown).
struct DeviceBuffer {
  void* ptr = nullptr;
  explicit DeviceBuffer(std::size_t bytes) {
    if (bytes) check(cudaMalloc(&ptr, bytes), "cudaMalloc");
  }
  ~DeviceBuffer() {
    if (ptr) cudaFree(ptr);
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
};

template <class T>
void run(const Spec& s, const T* G, std::int64_t B, std::int64_t p, std::int64_t ld, std::int64_t offset, T* Y) {
  const std::int64_t n = B * s.dim;
  const std::int64_t segment = s.kind == 2 ? kSparseSegment : kDenseSegment;
  const std::int64_t n_segments = (p + segment - 1) / segment;
  std::int64_t per_launch = kPartialBytes / (n * static_cast<std::int64_t>(sizeof(T)));
  if (per_launch < 1) per_launch = 1;
  if (per_launch > 65535) per_launch = 65535;  // gridDim.z limit of the dense kernel
  if (per_launch > n_segments) per_launch = n_segments;
  DeviceBuffer part(static_cast<std::size_t>(per_launch * n) * sizeof(T));
  T* P = static_cast<T*>(part.ptr);
  const auto scale = static_cast<T>(scale_of(s));
  for (std::int64_t z0 = 0; z0 < n_segments; z0 += per_launch) {
    const std::int64_t nz = n_segments - z0 < per_launch ? n_segments - z0 : per_launch;
    if (s.kind == 2) {
      check(cudaMemsetAsync(P, 0, static_cast<std::size_t>(nz * n) * sizeof(T)), "cudaMemsetAsync");
      const std::int64_t threads = B * nz;
      sparse_partial<T><<<static_cast<unsigned>((threads + 127) / 128), 128>>>(
          G, B, p, ld, offset, z0, nz, s.seed, s.model_id, s.dim, static_cast<std::uint32_t>(s.nnz), P);
    } else {
      const dim3 grid(static_cast<unsigned>((s.dim + kBN - 1) / kBN), static_cast<unsigned>((B + kBM - 1) / kBM),
                      static_cast<unsigned>(nz));
      if (s.kind == 0)
        dense_partial<T, 0><<<grid, kThreads>>>(G, B, p, ld, offset, z0, s.seed, s.model_id, s.dim, P);
      else
        dense_partial<T, 1><<<grid, kThreads>>>(G, B, p, ld, offset, z0, s.seed, s.model_id, s.dim, P);
    }
    check(cudaGetLastError(), "projection kernel launch");
    reduce_partials<T><<<static_cast<unsigned>((n + 255) / 256), 256>>>(P, nz, n, z0 == 0, z0 + nz >= n_segments,
                                                                        scale, Y);
    check(cudaGetLastError(), "reduce kernel launch");
  }
  check(cudaDeviceSynchronize(), "projection");
}

}  // namespace

int device_count(std::string& why) {
  int n = 0;
  const cudaError_t err = cudaGetDeviceCount(&n);
  if (err != cudaSuccess) {
    why = cudaGetErrorString(err);
    cudaGetLastError();  // clear the sticky-free error so later calls start clean
    return 0;
  }
  if (n == 0) why = "the CUDA runtime sees no device";
  return n;
}

void project(const Spec& s, const void* G, bool f64, std::int64_t B, std::int64_t p, std::int64_t ld,
             std::int64_t offset, void* Y, bool host) {
  check_spec(s);
  if (B < 1 || p < 1 || ld < p || offset < 0 || p > s.n_features - offset)
    throw std::invalid_argument("projection (CUDA): bad batch shape or feature offset");
  if (B > std::int64_t{65535} * kBM) throw std::invalid_argument("projection (CUDA): batch larger than 4,194,240 rows");
  const std::size_t item = f64 ? sizeof(double) : sizeof(float);
  if (!host) {
    // Run on the GPU that holds the data (torch / CuPy arrays may live on any device).
    cudaPointerAttributes attr{};
    check(cudaPointerGetAttributes(&attr, G), "cudaPointerGetAttributes");
    if (attr.type != cudaMemoryTypeDevice && attr.type != cudaMemoryTypeManaged)
      throw std::invalid_argument("projection (CUDA): G is not device memory");
    check(cudaSetDevice(attr.device), "cudaSetDevice");
    // Work queued by the array's producer on other streams must be finished before we read.
    check(cudaDeviceSynchronize(), "synchronising before the projection");
    if (f64)
      run<double>(s, static_cast<const double*>(G), B, p, ld, offset, static_cast<double*>(Y));
    else
      run<float>(s, static_cast<const float*>(G), B, p, ld, offset, static_cast<float*>(Y));
    return;
  }
  DeviceBuffer dG(static_cast<std::size_t>(B * p) * item), dY(static_cast<std::size_t>(B * s.dim) * item);
  check(cudaMemcpy2D(dG.ptr, static_cast<std::size_t>(p) * item, G, static_cast<std::size_t>(ld) * item,
                     static_cast<std::size_t>(p) * item, static_cast<std::size_t>(B), cudaMemcpyHostToDevice),
        "copying G to the GPU");
  if (f64)
    run<double>(s, static_cast<const double*>(dG.ptr), B, p, p, offset, static_cast<double*>(dY.ptr));
  else
    run<float>(s, static_cast<const float*>(dG.ptr), B, p, p, offset, static_cast<float*>(dY.ptr));
  check(cudaMemcpy(Y, dY.ptr, static_cast<std::size_t>(B * s.dim) * item, cudaMemcpyDeviceToHost),
        "copying Y from the GPU");
}

void matrix(const Spec& s, const std::vector<std::int64_t>& rows, const std::vector<std::int64_t>& cols, bool f64,
            void* out_host) {
  check_spec(s);
  const auto nr = static_cast<std::int64_t>(rows.size()), nc = static_cast<std::int64_t>(cols.size());
  if (nr == 0 || nc == 0) return;
  const std::size_t item = f64 ? sizeof(double) : sizeof(float);
  DeviceBuffer dr(rows.size() * sizeof(std::int64_t)), dc(cols.size() * sizeof(std::int64_t));
  DeviceBuffer dout(static_cast<std::size_t>(nr * nc) * item);
  check(cudaMemcpy(dr.ptr, rows.data(), rows.size() * sizeof(std::int64_t), cudaMemcpyHostToDevice), "cudaMemcpy");
  check(cudaMemcpy(dc.ptr, cols.data(), cols.size() * sizeof(std::int64_t), cudaMemcpyHostToDevice), "cudaMemcpy");
  const auto blocks = static_cast<unsigned>((nr * nc + 255) / 256);
  const auto* r = static_cast<const std::int64_t*>(dr.ptr);
  const auto* c = static_cast<const std::int64_t*>(dc.ptr);
  if (f64)
    matrix_kernel<double><<<blocks, 256>>>(s.kind, s.seed, s.model_id, s.dim, static_cast<std::uint32_t>(s.nnz),
                                           scale_of(s), r, nr, c, nc, static_cast<double*>(dout.ptr));
  else
    matrix_kernel<float><<<blocks, 256>>>(s.kind, s.seed, s.model_id, s.dim, static_cast<std::uint32_t>(s.nnz),
                                          scale_of(s), r, nr, c, nc, static_cast<float*>(dout.ptr));
  check(cudaGetLastError(), "matrix kernel launch");
  check(cudaMemcpy(out_host, dout.ptr, static_cast<std::size_t>(nr * nc) * item, cudaMemcpyDeviceToHost),
        "copying the matrix from the GPU");
}

}  // namespace cuda
}  // namespace attrib
