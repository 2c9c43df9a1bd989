// The k largest and the k smallest candidates of each column of a stream of (value, row) pairs,
// shared by the streaming top-k kernels (glm_loss_change_topk, multinomial_loss_change_topk).
// Internal to the core; not part of the public headers.
#pragma once

#include "attrib/common.hpp"

#include <cmath>
#include <cstdint>
#include <queue>
#include <vector>

namespace attrib::topk_detail {

struct Ranked {
  double val;
  std::int64_t idx;
};

// "a ranks before b": NaN last, then by value (descending when `largest`), then by lower index.
// A total order, so the k kept do not depend on the order candidates arrive in.
inline bool ranks_before(const Ranked& a, const Ranked& b, bool largest) {
  const bool an = std::isnan(a.val), bn = std::isnan(b.val);
  if (an != bn) return bn;
  if (!an && a.val != b.val) return largest ? a.val > b.val : a.val < b.val;
  return a.idx < b.idx;
}

/// One bounded heap per column and side, whose top is the worst candidate kept.
class TwoSidedTopK {
 public:
  TwoSidedTopK(Index cols, Index k)
      : k_(k), high_(static_cast<std::size_t>(cols), Heap(Worse{true})), low_(static_cast<std::size_t>(cols), Heap(Worse{false})) {}

  void offer(Index col, double val, std::int64_t idx) {
    const Ranked cand{val, idx};
    keep(high_[static_cast<std::size_t>(col)], cand, true);
    keep(low_[static_cast<std::size_t>(col)], cand, false);
  }

  /// Writes column `col`'s k largest (high) and k smallest (low), best first, into row `row` of
  /// the outputs, emptying its heaps. Each column must have seen at least k candidates.
  template <class IdxMat, class ValMat>
  void write(Index col, Index row, IdxMat& high_idx, ValMat& high_val, IdxMat& low_idx, ValMat& low_val) {
    Heap& hi = high_[static_cast<std::size_t>(col)];
    Heap& lo = low_[static_cast<std::size_t>(col)];
    for (Index q = k_ - 1; q >= 0; --q) {  // a heap pops its worst first
      high_idx(row, q) = hi.top().idx;
      high_val(row, q) = hi.top().val;
      hi.pop();
      low_idx(row, q) = lo.top().idx;
      low_val(row, q) = lo.top().val;
      lo.pop();
    }
  }

 private:
  struct Worse {
    bool largest;
    bool operator()(const Ranked& a, const Ranked& b) const { return ranks_before(a, b, largest); }
  };
  using Heap = std::priority_queue<Ranked, std::vector<Ranked>, Worse>;

  void keep(Heap& h, const Ranked& cand, bool largest) const {
    if (static_cast<Index>(h.size()) < k_) {
      h.push(cand);
    } else if (ranks_before(cand, h.top(), largest)) {
      h.pop();
      h.push(cand);
    }
  }

  Index k_;
  std::vector<Heap> high_, low_;
};

}  // namespace attrib::topk_detail
