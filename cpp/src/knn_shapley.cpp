#include "attrib/knn_shapley.hpp"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <vector>

namespace attrib {

namespace {

// Sorts training points by key (ascending), ties by index, with a stable LSD radix sort on the
// keys' order-preserving 64-bit images: O(n) per test point where std::sort's O(n log n)
// comparisons were most of the cost. `order` receives the indices, nearest first.
class RadixRanker {
 public:
  explicit RadixRanker(Index n) : keys_(n), keys_tmp_(n), idx_tmp_(n) {}

  void rank(const double* key, std::vector<std::uint32_t>& order) {
    const Index n = static_cast<Index>(keys_.size());
    for (Index i = 0; i < n; ++i) {
      double v = key[i];
      if (v == 0.0) v = 0.0;  // -0.0 and +0.0 compare equal: give them one image
      std::uint64_t u;
      std::memcpy(&u, &v, sizeof u);
      keys_[i] = (u >> 63) ? ~u : (u | (std::uint64_t{1} << 63));
      order[i] = static_cast<std::uint32_t>(i);
    }
    // All eight byte histograms in one read of the keys; a byte that is the same for every key
    // (typically the sign and top exponent bits) needs no pass at all.
    std::size_t count[8][257];
    std::memset(count, 0, sizeof count);
    for (Index i = 0; i < n; ++i) {
      const std::uint64_t k = keys_[i];
      for (int b = 0; b < 8; ++b) ++count[b][((k >> (8 * b)) & 0xFF) + 1];
    }
    std::uint64_t* src_k = keys_.data();
    std::uint64_t* dst_k = keys_tmp_.data();
    std::uint32_t* src_i = order.data();
    std::uint32_t* dst_i = idx_tmp_.data();
    for (int b = 0; b < 8; ++b) {
      std::size_t* c = count[b];
      if (c[((src_k[0] >> (8 * b)) & 0xFF) + 1] == static_cast<std::size_t>(n)) continue;  // one bucket: no-op
      for (int v = 0; v < 256; ++v) c[v + 1] += c[v];
      const int shift = 8 * b;
      for (Index i = 0; i < n; ++i) {
        const std::size_t pos = c[(src_k[i] >> shift) & 0xFF]++;
        dst_k[pos] = src_k[i];
        dst_i[pos] = src_i[i];
      }
      std::swap(src_k, dst_k);
      std::swap(src_i, dst_i);
    }
    if (src_i != order.data()) std::copy(src_i, src_i + n, order.data());
  }

 private:
  std::vector<std::uint64_t> keys_, keys_tmp_;
  std::vector<std::uint32_t> idx_tmp_;
};

// Adds the Shapley values for one test point to acc (indexed by training point). `order` holds
// the training points sorted nearest first; m[i] = 1 when the i-th nearest has the test label.
void accumulate_hard(const std::vector<std::uint32_t>& order, const std::vector<double>& m, double K, double* acc) {
  const Index N = static_cast<Index>(order.size());
  // Base case for the farthest point: it counts (weight 1/K) exactly when fewer than K others
  // precede it, which happens for min(K, N) of the N equally likely prefix sizes. Jia et al.
  // write m_N / N, which is this expression for K <= N only.
  double s = m[N - 1] * std::min(K, double(N)) / (double(N) * K);
  acc[order[N - 1]] += s;
  for (Index i = N - 1; i >= 1; --i) {  // i is the 1-based rank of order[i - 1]
    s += (m[i - 1] - m[i]) / K * std::min(K, double(i)) / double(i);
    acc[order[i - 1]] += s;
  }
}

// Soft-label recursion (Wang & Jia 2023); H_r is the r-th harmonic number.
void accumulate_soft(const std::vector<std::uint32_t>& order, const std::vector<double>& m, double K, double inv_classes,
                     double* acc) {
  const Index N = static_cast<Index>(order.size());
  if (N == 1) {  // one player: its value is U({1}) - U(empty); the recursion divides by N - 1
    acc[order[0]] += m[0] - inv_classes;
    return;
  }
  // With K >= N every subset has at most K points, so the utility is the K = N one. The
  // published recursion (H_{min(K,N)} plus a term gated by 1[N >= K]) drops the -1/N of that
  // term when K > N and disagrees with brute force; clamping K to N makes it exact.
  K = std::min(K, double(N));
  double harmonic = 0.0;
  for (Index j = 1; j <= static_cast<Index>(K); ++j) harmonic += 1.0 / double(j);
  double c = 0.0;
  for (Index i = 0; i < N - 1; ++i) c += m[i];
  const double nm1 = double(N - 1);
  double s = (m[N - 1] - c / nm1) / double(N) * (harmonic - 1.0) + (m[N - 1] - inv_classes) / double(N);
  acc[order[N - 1]] += s;
  for (Index i = N - 1; i >= 1; --i) {
    const double bracket = harmonic + (std::min(double(i), K) * nm1 / double(i) - K) / K;
    s += (m[i - 1] - m[i]) / nm1 * bracket;
    acc[order[i - 1]] += s;
  }
}

}  // namespace

Index knn_test_chunk(Index n) { return std::clamp<Index>((Index(1) << 19) / std::max<Index>(n, 1), 1, 16); }

void knn_shapley_accumulate(const Eigen::Ref<const RowMatrixXd>& X, const Eigen::Ref<const Eigen::VectorXd>& x_sq,
                            const Eigen::Ref<const LabelVector>& y, const Eigen::Ref<const RowMatrixXd>& X_test,
                            const Eigen::Ref<const LabelVector>& y_test, std::int64_t k, bool soft_label,
                            std::int64_t n_classes, Index chunk, int n_threads, Eigen::Ref<Eigen::VectorXd> acc) {
  const Index n = X.rows(), m_test = X_test.rows();
  if (n >= Index(UINT32_MAX)) throw std::invalid_argument("knn_shapley: too many training points");
  if (n < 1 || X_test.cols() != X.cols() || y.size() != n || y_test.size() != m_test || x_sq.size() != n ||
      acc.size() != n)
    throw std::invalid_argument("knn_shapley: inconsistent shapes");
  if (k < 1) throw std::invalid_argument("knn_shapley: k must be >= 1");
  if (chunk < 1) throw std::invalid_argument("knn_shapley: chunk must be >= 1");
  if (soft_label && n_classes < 1) throw std::invalid_argument("knn_shapley: n_classes must be >= 1");
  if (m_test == 0) return;

  // Chunks of `chunk` test points (fixed by the caller, independent of the thread count); each
  // chunk sums its test points into its own length-n row, rows are added in chunk order.
  const Index n_chunks = (m_test + chunk - 1) / chunk;
  RowMatrixXd partial = RowMatrixXd::Zero(n_chunks, n);
  const double K = double(k), inv_classes = soft_label ? 1.0 / double(n_classes) : 0.0;
  constexpr Index kTestBlock = 16;  // test points per distance GEMM

  // Tiny problems run serially (the parallel region would cost more); chunks stay the same, so
  // the result does not depend on that choice.
  parallel_for(n_chunks, n_threads, [&](Index c) {
    std::vector<std::uint32_t> order(static_cast<std::size_t>(n));
    std::vector<double> match(static_cast<std::size_t>(n));
    RadixRanker ranker(n);
    std::vector<double> key(static_cast<std::size_t>(n));
    RowMatrixXd G;
    double* row = partial.row(c).data();
    const Index c0 = c * chunk, c1 = std::min(m_test, c0 + chunk);
    for (Index t0 = c0; t0 < c1; t0 += kTestBlock) {
      const Index bt = std::min(kTestBlock, c1 - t0);
      // |x - t|^2 = |x|^2 - 2 x.t + |t|^2; the last term is the same for every x, so the
      // ranking needs only |x|^2 - 2 x.t, computed for a block of test points by one GEMM.
      G.noalias() = X * X_test.middleRows(t0, bt).transpose();  // n x bt
      for (Index j = 0; j < bt; ++j) {
        for (Index i = 0; i < n; ++i) key[i] = x_sq[i] - 2.0 * G(i, j);
        ranker.rank(key.data(), order);
        const std::int64_t label = y_test[t0 + j];
        for (Index i = 0; i < n; ++i) match[i] = y[order[i]] == label ? 1.0 : 0.0;
        if (soft_label)
          accumulate_soft(order, match, K, inv_classes, row);
        else
          accumulate_hard(order, match, K, row);
      }
    }
  }, n * m_test >= 65536);
  for (Index c = 0; c < n_chunks; ++c) acc += partial.row(c).transpose();
}

Eigen::VectorXd knn_shapley(const Eigen::Ref<const RowMatrixXd>& X, const Eigen::Ref<const LabelVector>& y,
                            const Eigen::Ref<const RowMatrixXd>& X_test, const Eigen::Ref<const LabelVector>& y_test,
                            std::int64_t k, bool soft_label, std::int64_t n_classes, int n_threads) {
  const Index n = X.rows(), m_test = X_test.rows();
  if (n < 1 || m_test < 1) throw std::invalid_argument("knn_shapley: inconsistent shapes");
  const Eigen::VectorXd x_sq = X.rowwise().squaredNorm();
  Eigen::VectorXd values = Eigen::VectorXd::Zero(n);
  knn_shapley_accumulate(X, x_sq, y, X_test, y_test, k, soft_label, n_classes, knn_test_chunk(n), n_threads, values);
  return values / double(m_test);
}

}  // namespace attrib
