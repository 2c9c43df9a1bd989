// K-nearest-neighbour classifier accuracy along a permutation (scikit-learn's
// KNeighborsClassifier(n_neighbors=K), uniform weights). Each test point keeps a max-heap of the
// ranks of its K nearest points in the subset and their class votes: adding a point touches a
// test point only when it enters that heap, O(m log K) per step instead of a refit.
//
// Small sets: a subset with fewer than K points votes with all its points; the empty set predicts
// the majority class of the test set (as the logistic utility). Vote ties go to the lowest class
// code, as scikit-learn's argmax does.
#include "attrib/utilities.hpp"

#include <algorithm>
#include <limits>
#include <stdexcept>
#include <vector>

namespace attrib {

namespace {

struct Member {
  KnnRank rank;
  std::int32_t label;
  bool operator<(const Member& o) const { return rank < o.rank; }  // max-heap on rank
};

class KnnWalker final : public UtilityWalker {
 public:
  KnnWalker(const UtilityData& data, const UtilityParams& params) : data_(data), params_(params) {
    if (params.k < 1) throw std::invalid_argument("knn utility: k must be >= 1");
    if (data.knn_rank == nullptr) throw std::invalid_argument("knn utility: missing neighbour ranks");
    if (params.n_classes < 1) throw std::invalid_argument("knn utility: n_classes must be >= 1");
    std::vector<Index> test_counts(static_cast<std::size_t>(params.n_classes), 0);
    for (Index j = 0; j < data.m; ++j) {
      const auto c = static_cast<Index>(data.y_test[j]);
      if (c >= 0 && c < params.n_classes) ++test_counts[c];
    }
    // majority class of the test set (lowest code on ties)
    const Index best = std::max_element(test_counts.begin(), test_counts.end()) - test_counts.begin();
    empty_score_ = double(test_counts[best]) / double(data.m);
    heaps_.resize(static_cast<std::size_t>(data.m * params.k));
    sizes_.resize(static_cast<std::size_t>(data.m));
    votes_.resize(static_cast<std::size_t>(data.m * params.n_classes));
    correct_.resize(static_cast<std::size_t>(data.m));
  }

  double reset() override {
    std::fill(sizes_.begin(), sizes_.end(), 0);
    std::fill(votes_.begin(), votes_.end(), 0);
    std::fill(correct_.begin(), correct_.end(), 0);
    n_correct_ = 0;
    return empty_score_;
  }

  double add(Index i) override {
    const auto label = static_cast<std::int32_t>(data_.y[i]);
    for (Index j = 0; j < data_.m; ++j) {
      const KnnRank r = data_.knn_rank[j * data_.n + i];
      Member* heap = heaps_.data() + j * params_.k;
      std::int32_t& size = sizes_[j];
      std::int32_t* votes = votes_.data() + j * params_.n_classes;
      if (size < params_.k) {
        heap[size++] = {r, label};
        std::push_heap(heap, heap + size);
      } else if (r < heap[0].rank) {
        --votes[heap[0].label];
        std::pop_heap(heap, heap + size);
        heap[size - 1] = {r, label};
        std::push_heap(heap, heap + size);
      } else {
        continue;  // not among this test point's K nearest: its prediction is unchanged
      }
      ++votes[label];
      const Index pred = std::max_element(votes, votes + params_.n_classes) - votes;
      const std::uint8_t now = pred == static_cast<Index>(data_.y_test[j]) ? 1 : 0;
      n_correct_ += Index(now) - Index(correct_[j]);
      correct_[j] = now;
    }
    return double(n_correct_) / double(data_.m);
  }

 private:
  const UtilityData& data_;
  const UtilityParams& params_;
  double empty_score_ = 0.0;
  std::vector<Member> heaps_;
  std::vector<std::int32_t> sizes_, votes_;
  std::vector<std::uint8_t> correct_;
  Index n_correct_ = 0;
};

}  // namespace

std::unique_ptr<UtilityWalker> make_knn_walker(const UtilityData& data, const UtilityParams& params) {
  return std::make_unique<KnnWalker>(data, params);
}

KnnRankMatrix knn_ranks(const Eigen::Ref<const RowMatrixXd>& X, const Eigen::Ref<const RowMatrixXd>& X_test,
                        int n_threads) {
  const Index n = X.rows(), m = X_test.rows();
  if (X_test.cols() != X.cols()) throw std::invalid_argument("knn_ranks: X and X_test differ in features");
  if (n >= Index(std::numeric_limits<KnnRank>::max())) throw std::invalid_argument("knn_ranks: too many training points");
  KnnRankMatrix ranks(m, n);
  const Eigen::VectorXd x_sq = X.rowwise().squaredNorm();
  parallel_for(m, n_threads, [&](Index j) {
    // |x - t|^2 up to the constant |t|^2, as in knn_shapley, so both rank points alike.
    const Eigen::VectorXd key = x_sq - 2.0 * (X * X_test.row(j).transpose());
    std::vector<KnnRank> order(static_cast<std::size_t>(n));
    for (Index i = 0; i < n; ++i) order[i] = static_cast<KnnRank>(i);
    std::sort(order.begin(), order.end(), [&](KnnRank a, KnnRank b) {
      return key[a] < key[b] || (key[a] == key[b] && a < b);
    });
    for (Index r = 0; r < n; ++r) ranks(j, order[r]) = static_cast<KnnRank>(r);
  });
  return ranks;
}

}  // namespace attrib
