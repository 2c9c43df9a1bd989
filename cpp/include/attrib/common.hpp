// Shared types and the rules every kernel follows for threads, row blocks and errors.
#pragma once

#include <Eigen/Core>

#include <algorithm>
#include <cstdint>
#include <exception>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#ifdef ATTRIB_HAVE_OPENMP
#include <omp.h>
#endif

namespace attrib {

/// numpy's C order: a row-major matrix maps a C-contiguous float64 array without a copy.
using RowMatrixXd = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using Index = Eigen::Index;

/// Thread requests above this many per processor are capped: OpenMP aborts the process when it
/// cannot start the threads, and far more threads than processors only add overhead.
constexpr int kMaxThreadsPerCpu = 4;

/// The most threads a kernel starts (the facade warns before capping a request to it).
inline int max_threads() {
  const unsigned procs = std::thread::hardware_concurrency();
  return kMaxThreadsPerCpu * static_cast<int>(std::clamp(procs, 1u, 1u << 16));
}

/// Threads a kernel uses: n_threads > 0 is taken as given, up to max_threads(); anything else
/// means the OpenMP default, so OMP_NUM_THREADS and threadpoolctl apply. Always 1 without OpenMP.
inline int resolve_threads(int n_threads) {
#ifdef ATTRIB_HAVE_OPENMP
  return n_threads > 0 ? std::min(n_threads, max_threads()) : omp_get_max_threads();
#else
  (void)n_threads;
  return 1;
#endif
}

/// A row (or group) whose removal leaves 1 - h below this is treated as having leverage one: its
/// leave-out fit is undefined. Computed leverages carry rounding of order cond * eps, so an exact
/// test against 1 would miss real cases; a leverage this close to 1 would amplify the residual by
/// 1e10 anyway.
constexpr double kLeverageOneTol = 1e-10;

/// True when the module was built with OpenMP.
inline bool built_with_openmp() {
#ifdef ATTRIB_HAVE_OPENMP
  return true;
#else
  return false;
#endif
}

/// A fixed partition of [0, n) into chunks that depends only on the problem size, never on the
/// thread count: partial sums are formed per chunk and added in chunk order, so a reduction is
/// bitwise the same for any number of threads.
struct ChunkPlan {
  Index n = 0;
  Index n_chunks = 1;
  Index begin(Index c) const { return n * c / n_chunks; }
  Index end(Index c) const { return n * (c + 1) / n_chunks; }
};

/// Chunks of at least `min_rows` rows, at most `max_chunks` of them.
inline ChunkPlan plan_chunks(Index n, Index min_rows, Index max_chunks) {
  ChunkPlan p;
  p.n = n;
  Index c = min_rows > 0 ? n / min_rows : n;
  if (c > max_chunks) c = max_chunks;
  p.n_chunks = c < 1 ? 1 : c;
  return p;
}

/// Keeps the first exception thrown inside an OpenMP region so it can be rethrown after the
/// region ends: an exception may never leave an OpenMP structured block.
class ErrorVault {
 public:
  template <class F>
  void run(F&& body) noexcept {
    try {
      body();
    } catch (...) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!error_) error_ = std::current_exception();
    }
  }
  void rethrow() const {
    if (error_) std::rethrow_exception(error_);
  }

 private:
  std::mutex mutex_;
  std::exception_ptr error_ = nullptr;
};

/// Runs body(i) for every i in [0, count) on up to n_threads threads, each item as one task
/// (dynamic schedule). Items must write disjoint outputs and compute them the same way whichever
/// thread runs them; that is what makes every kernel bitwise reproducible for any thread count.
/// The first exception thrown by any item is rethrown once the region has ended.
/// `worth_threads` = false runs serially (work too small to pay for a parallel region).
template <class Body>
void parallel_for(Index count, int n_threads, Body&& body, bool worth_threads = true) {
  const int nt = resolve_threads(n_threads);
  ErrorVault vault;
#ifdef ATTRIB_HAVE_OPENMP
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt) if (nt > 1 && count > 1 && worth_threads)
#endif
  for (Index i = 0; i < count; ++i) vault.run([&] { body(i); });
  (void)nt;  // unused without OpenMP
  (void)worth_threads;
  vault.rethrow();
}

/// parallel_for with per-thread state: make_state() runs once per thread and its result (scratch
/// buffers, a utility walker) is passed to every item that thread runs, as body(i, state). Items
/// must give the same result whichever thread's state they get. If make_state throws, the
/// items are skipped and the exception is rethrown after the region.
template <class MakeState, class Body>
void parallel_for_with_state(Index count, int n_threads, MakeState&& make_state, Body&& body,
                             bool worth_threads = true) {
  using State = std::decay_t<decltype(make_state())>;
  const int nt = resolve_threads(n_threads);
  ErrorVault vault;
#ifdef ATTRIB_HAVE_OPENMP
#pragma omp parallel num_threads(nt) if (nt > 1 && count > 1 && worth_threads)
#endif
  {
    State state{};
    bool ready = false;
    vault.run([&] {
      state = make_state();
      ready = true;
    });
#ifdef ATTRIB_HAVE_OPENMP
#pragma omp for schedule(dynamic, 1)
#endif
    for (Index i = 0; i < count; ++i) vault.run([&] {
        if (ready) body(i, state);
      });
  }
  (void)nt;  // unused without OpenMP
  (void)worth_threads;
  vault.rethrow();
}

/// body(r0, m) for consecutive blocks of `block` rows covering [0, n), one task per block. The
/// block size must not depend on the thread count (see parallel_for).
template <class Body>
void for_each_block(Index n, Index block, int n_threads, Body&& body) {
  parallel_for((n + block - 1) / block, n_threads, [&](Index b) {
    const Index r0 = b * block;
    body(r0, std::min(block, n - r0));
  });
}

/// Checks groups in compressed form, rows indices[offsets[g] .. offsets[g+1]) of n rows, for the
/// group kernels; `who` names the kernel in the message.
inline void check_groups(const std::vector<std::int64_t>& offsets, const std::vector<std::int64_t>& indices, Index n,
                         const char* who) {
  if (offsets.empty() || offsets.front() != 0 || offsets.back() != static_cast<std::int64_t>(indices.size()))
    throw std::invalid_argument(std::string(who) + ": offsets must start at 0 and end at len(indices)");
  for (std::size_t g = 0; g + 1 < offsets.size(); ++g)
    if (offsets[g + 1] < offsets[g]) throw std::invalid_argument(std::string(who) + ": offsets must be non-decreasing");
  for (const std::int64_t i : indices)
    if (i < 0 || i >= n) throw std::out_of_range(std::string(who) + ": row index out of range");
}

}  // namespace attrib
