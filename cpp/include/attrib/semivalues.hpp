// Samplers for Monte Carlo semivalues: utilities along random permutations (Shapley, Beta) and
// on random subsets (Banzhaf by maximum sample reuse). A call handles one fixed block of sample
// ids; the facade turns the utilities into marginals, weights and running moments in block
// order, so the result never depends on the thread count.
#pragma once

#include "attrib/common.hpp"
#include "attrib/utilities.hpp"

#include <atomic>
#include <cmath>
#include <cstdint>

namespace attrib {

/// Lets another thread abandon a block in flight (Ctrl-C): the walks check it at every step and
/// stop; a cancelled block's numbers are incomplete and must be discarded.
struct CancelToken {
  std::atomic<bool> flag{false};
  void cancel() { flag.store(true, std::memory_order_relaxed); }
  bool requested() const { return flag.load(std::memory_order_relaxed); }
};

inline bool cancelled(const CancelToken* token) { return token != nullptr && token->requested(); }

/// TMC-Shapley truncation: once the prefix utility is within rtol * |u(D)| of the full-data
/// utility u(D) for `patience` consecutive prefixes (counting only prefixes of at least
/// `burn_in` points), the rest of the permutation is skipped and its marginals are zero.
struct Truncation {
  bool enabled = false;
  double rtol = 0.01;
  double full_utility = 0.0;
  Index patience = 1;
  Index burn_in = 0;
};

/// Applies the truncation rule to a prefix of size k (>= 1) with utility u; `run` counts the
/// consecutive prefixes within tolerance. Returns true when the permutation stops here.
inline bool truncation_fires(const Truncation& t, Index k, double u, Index& run) {
  if (!t.enabled || k < t.burn_in) return false;
  if (std::abs(u - t.full_utility) <= t.rtol * std::abs(t.full_utility))
    ++run;
  else
    run = 0;
  return run >= t.patience;
}

/// Utilities along permutations first_id .. first_id + count - 1 (see random_permutation).
struct PermutationWalks {
  Eigen::Matrix<std::int64_t, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> perms;  ///< count x n
  RowMatrixXd utilities;  ///< count x (n + 1): entry k is u(first k points); constant after truncation
  Eigen::Matrix<std::int64_t, Eigen::Dynamic, 1> evaluated;  ///< prefixes actually evaluated, per permutation
  bool cancelled = false;  ///< the token was set: the block is incomplete
};

/// Walks each permutation with an incremental utility. Permutations run in parallel, each in
/// its own walker, so every row is the same for any n_threads.
PermutationWalks walk_permutations(const UtilityData& data, const UtilityParams& params, std::uint64_t seed,
                                   std::int64_t first_id, std::int64_t count, bool antithetic,
                                   const Truncation& truncation, int n_threads,
                                   const CancelToken* cancel = nullptr);

/// Utilities of random subsets first_id .. first_id + count - 1 (see random_subset); each subset is
/// built by adding its points in index order.
struct SubsetSamples {
  Eigen::Matrix<std::uint8_t, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> masks;  ///< count x n
  Eigen::VectorXd utilities;                                                      ///< count
  bool cancelled = false;  ///< the token was set: the block is incomplete
};

/// Evaluates the utility on each random subset, in parallel over subsets.
SubsetSamples evaluate_subsets(const UtilityData& data, const UtilityParams& params, std::uint64_t seed,
                               std::int64_t first_id, std::int64_t count, int n_threads,
                               const CancelToken* cancel = nullptr);

/// Utilities of the prefixes of one given order of points (any subset of 0..n-1): entry k is the
/// utility of the first k points. Used for u(D) and by the tests against fresh fits.
Eigen::VectorXd walk_order(const UtilityData& data, const UtilityParams& params, const std::int64_t* order,
                           std::int64_t len);

}  // namespace attrib
