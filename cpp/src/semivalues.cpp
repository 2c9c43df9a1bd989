#include "attrib/semivalues.hpp"

#include "attrib/random.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

namespace attrib {

namespace {
// Below this many utility steps in a block (permutations x points) a parallel region costs more
// than it saves, badly so when the cores are shared; results do not depend on the choice.
constexpr std::int64_t kMinParallelSteps = 4096;

void check_finite(double u, const char* where, std::int64_t id, Index k) {
  if (!std::isfinite(u))
    throw std::domain_error(std::string("utility: non-finite value in ") + where + " " + std::to_string(id) +
                            " at subset size " + std::to_string(k));
}
}  // namespace

PermutationWalks walk_permutations(const UtilityData& data, const UtilityParams& params, std::uint64_t seed,
                                   std::int64_t first_id, std::int64_t count, bool antithetic,
                                   const Truncation& truncation, int n_threads, const CancelToken* cancel) {
  if (count < 0 || first_id < 0) throw std::invalid_argument("walk_permutations: negative id range");
  const Index n = data.n;
  PermutationWalks out;
  out.perms.resize(count, n);
  out.utilities.resize(count, n + 1);
  out.evaluated.resize(count);
  make_walker(data, params);  // validate once, outside the parallel region
  // One utility walker per thread, reused across its permutations or subsets.
  parallel_for_with_state(
      count, n_threads, [&] { return make_walker(data, params); },
      [&](Index p, std::unique_ptr<UtilityWalker>& walker) {
        const std::int64_t id = first_id + p;
        std::int64_t* perm = out.perms.row(p).data();
        random_permutation(seed, static_cast<std::uint64_t>(id), antithetic, perm, n);
        double* u = out.utilities.row(p).data();
        u[0] = walker->reset();
        check_finite(u[0], "permutation", id, 0);
        Index run = 0, k = 1;
        for (; k <= n; ++k) {
          if (cancelled(cancel)) return;
          u[k] = walker->add(perm[k - 1]);
          check_finite(u[k], "permutation", id, k);
          if (k < n && truncation_fires(truncation, k, u[k], run)) break;
        }
        out.evaluated[p] = std::min<Index>(k, n);
        for (Index j = k + 1; j <= n; ++j) u[j] = u[k];
      },
      count * n >= kMinParallelSteps);
  out.cancelled = cancelled(cancel);
  return out;
}

SubsetSamples evaluate_subsets(const UtilityData& data, const UtilityParams& params, std::uint64_t seed,
                               std::int64_t first_id, std::int64_t count, int n_threads,
                               const CancelToken* cancel) {
  if (count < 0 || first_id < 0) throw std::invalid_argument("evaluate_subsets: negative id range");
  const Index n = data.n;
  SubsetSamples out;
  out.masks.resize(count, n);
  out.utilities.resize(count);
  make_walker(data, params);
  // One utility walker per thread, reused across its permutations or subsets.
  parallel_for_with_state(
      count, n_threads, [&] { return make_walker(data, params); },
      [&](Index s, std::unique_ptr<UtilityWalker>& walker) {
        const std::int64_t id = first_id + s;
        std::uint8_t* mask = out.masks.row(s).data();
        random_subset(seed, static_cast<std::uint64_t>(id), mask, n);
        double u = walker->reset();
        for (Index i = 0; i < n; ++i) {
          if (cancelled(cancel)) return;
          if (mask[i]) u = walker->add(i);
        }
        check_finite(u, "subset", id, -1);
        out.utilities[s] = u;
      },
      count * n >= kMinParallelSteps);
  out.cancelled = cancelled(cancel);
  return out;
}

Eigen::VectorXd walk_order(const UtilityData& data, const UtilityParams& params, const std::int64_t* order,
                           std::int64_t len) {
  std::vector<std::uint8_t> seen(static_cast<std::size_t>(data.n), 0);
  for (std::int64_t j = 0; j < len; ++j) {
    if (order[j] < 0 || order[j] >= data.n || seen[order[j]]++)
      throw std::invalid_argument("walk_order: order must list distinct training indices");
  }
  auto walker = make_walker(data, params);
  Eigen::VectorXd u(len + 1);
  u[0] = walker->reset();
  for (std::int64_t j = 0; j < len; ++j) u[j + 1] = walker->add(order[j]);
  return u;
}

}  // namespace attrib
