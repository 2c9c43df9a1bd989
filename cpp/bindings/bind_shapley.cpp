// Counter-based randomness, KNN-Shapley and the Monte Carlo semivalue samplers. Arrays arrive
// as C-contiguous float64 / int64 (the facade converts once); noconvert() turns any hidden copy
// into a TypeError. Every kernel releases the GIL; the Python-callable utility path never comes
// here with a callable (it asks only for permutations or subsets and evaluates them itself).
#include <pybind11/eigen.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "attrib/knn_shapley.hpp"
#include "attrib/random.hpp"
#include "attrib/semivalues.hpp"
#include "attrib/utilities.hpp"
#include "bindings.hpp"

namespace py = pybind11;
using namespace pybind11::literals;
using attrib::RowMatrixXd;
using CRef = Eigen::Ref<const RowMatrixXd>;
using VRef = Eigen::Ref<const Eigen::VectorXd>;
using LRef = Eigen::Ref<const attrib::LabelVector>;
using IntRowMatrix = Eigen::Matrix<std::int64_t, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using RankMatrix = Eigen::Matrix<std::int32_t, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using RankRef = Eigen::Ref<const RankMatrix>;
using ByteRowMatrix = Eigen::Matrix<std::uint8_t, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

namespace attrib_bindings {

namespace {

attrib::UtilitySpec make_spec(const CRef& X, const VRef& y, const CRef& X_test, const VRef& y_test, int model,
                              int metric, double alpha, double C, std::int64_t refactor_every, const RankRef& ranks,
                              std::int64_t k, std::int64_t n_classes) {
  if (X.cols() != X_test.cols() || y.size() != X.rows() || y_test.size() != X_test.rows())
    throw std::invalid_argument("utility: inconsistent shapes");
  if (refactor_every < 1) throw std::invalid_argument("utility: refactor_every must be >= 1");
  attrib::UtilitySpec s;
  s.model = static_cast<attrib::UtilityModel>(model);
  s.metric = static_cast<attrib::UtilityMetric>(metric);
  s.X = X.data();
  s.y = y.data();
  s.X_test = X_test.data();
  s.y_test = y_test.data();
  s.n = X.rows();
  s.d = X.cols();
  s.m = X_test.rows();
  s.alpha = alpha;
  s.C = C;
  s.refactor_every = refactor_every;
  if (s.model == attrib::UtilityModel::kKnn) {
    if (ranks.rows() != X_test.rows() || ranks.cols() != X.rows())
      throw std::invalid_argument("utility: knn ranks must be n_test x n");
    s.knn_rank = ranks.data();
  }
  s.k = k;
  s.n_classes = n_classes;
  return s;
}

}  // namespace

void register_shapley(py::module_& m) {
  m.def(
      "philox4x32_10",
      [](std::array<std::uint32_t, 4> ctr, std::array<std::uint32_t, 2> key) { return attrib::philox4x32_10(ctr, key); },
      "ctr"_a, "key"_a, "One Philox4x32-10 block (for the known-answer tests).");

  m.def(
      "random_permutations",
      [](std::uint64_t seed, std::int64_t first_id, std::int64_t count, std::int64_t n, bool antithetic) {
        if (count < 0 || first_id < 0 || n < 0) throw std::invalid_argument("random_permutations: negative size");
        IntRowMatrix out(count, n);
        {
          py::gil_scoped_release nogil;
          for (std::int64_t p = 0; p < count; ++p)
            attrib::random_permutation(seed, static_cast<std::uint64_t>(first_id + p), antithetic, out.row(p).data(), n);
        }
        return out;
      },
      "seed"_a, "first_id"_a, "count"_a, "n"_a, "antithetic"_a);

  m.def(
      "random_subsets",
      [](std::uint64_t seed, std::int64_t first_id, std::int64_t count, std::int64_t n) {
        if (count < 0 || first_id < 0 || n < 0) throw std::invalid_argument("random_subsets: negative size");
        ByteRowMatrix out(count, n);
        {
          py::gil_scoped_release nogil;
          for (std::int64_t s = 0; s < count; ++s)
            attrib::random_subset(seed, static_cast<std::uint64_t>(first_id + s), out.row(s).data(), n);
        }
        return out;
      },
      "seed"_a, "first_id"_a, "count"_a, "n"_a);

  m.def(
      "knn_shapley",
      [](const CRef& X, const LRef& y, const CRef& X_test, const LRef& y_test, std::int64_t k, bool soft_label,
         std::int64_t n_classes, int n_threads) {
        py::gil_scoped_release nogil;
        return attrib::knn_shapley(X, y, X_test, y_test, k, soft_label, n_classes, n_threads);
      },
      "X"_a.noconvert(), "y"_a.noconvert(), "X_test"_a.noconvert(), "y_test"_a.noconvert(), "k"_a, "soft_label"_a,
      "n_classes"_a, "n_threads"_a);

  m.def(
      "walk_permutations",
      [](const CRef& X, const VRef& y, const CRef& X_test, const VRef& y_test, int model, int metric, double alpha,
         double C, std::int64_t refactor_every, const RankRef& ranks, std::int64_t k, std::int64_t n_classes,
         std::uint64_t seed, std::int64_t first_id, std::int64_t count,
         bool antithetic, bool truncate, double rtol, double full_utility, std::int64_t patience,
         std::int64_t burn_in, int n_threads) {
        const attrib::UtilitySpec spec = make_spec(X, y, X_test, y_test, model, metric, alpha, C, refactor_every, ranks, k,
                                                   n_classes);
        attrib::Truncation t;
        t.enabled = truncate;
        t.rtol = rtol;
        t.full_utility = full_utility;
        t.patience = patience;
        t.burn_in = burn_in;
        attrib::PermutationWalks w;
        {
          py::gil_scoped_release nogil;
          w = attrib::walk_permutations(spec, seed, first_id, count, antithetic, t, n_threads);
        }
        return py::make_tuple(py::cast(std::move(w.perms)), py::cast(std::move(w.utilities)),
                              py::cast(std::move(w.evaluated)));
      },
      "X"_a.noconvert(), "y"_a.noconvert(), "X_test"_a.noconvert(), "y_test"_a.noconvert(), "model"_a, "metric"_a,
      "alpha"_a, "C"_a, "refactor_every"_a, "ranks"_a.noconvert(), "k"_a, "n_classes"_a, "seed"_a, "first_id"_a, "count"_a, "antithetic"_a, "truncate"_a, "rtol"_a,
      "full_utility"_a, "patience"_a, "burn_in"_a, "n_threads"_a);

  m.def(
      "evaluate_subsets",
      [](const CRef& X, const VRef& y, const CRef& X_test, const VRef& y_test, int model, int metric, double alpha,
         double C, std::int64_t refactor_every, const RankRef& ranks, std::int64_t k, std::int64_t n_classes,
         std::uint64_t seed, std::int64_t first_id, std::int64_t count,
         int n_threads) {
        const attrib::UtilitySpec spec = make_spec(X, y, X_test, y_test, model, metric, alpha, C, refactor_every, ranks, k,
                                                   n_classes);
        attrib::SubsetSamples s;
        {
          py::gil_scoped_release nogil;
          s = attrib::evaluate_subsets(spec, seed, first_id, count, n_threads);
        }
        return py::make_tuple(py::cast(std::move(s.masks)), py::cast(std::move(s.utilities)));
      },
      "X"_a.noconvert(), "y"_a.noconvert(), "X_test"_a.noconvert(), "y_test"_a.noconvert(), "model"_a, "metric"_a,
      "alpha"_a, "C"_a, "refactor_every"_a, "ranks"_a.noconvert(), "k"_a, "n_classes"_a, "seed"_a, "first_id"_a, "count"_a, "n_threads"_a);

  m.def(
      "walk_order",
      [](const CRef& X, const VRef& y, const CRef& X_test, const VRef& y_test, int model, int metric, double alpha,
         double C, std::int64_t refactor_every, const RankRef& ranks, std::int64_t k, std::int64_t n_classes,
         const Eigen::Ref<const Eigen::Matrix<std::int64_t, Eigen::Dynamic, 1>>& order) {
        const attrib::UtilitySpec spec = make_spec(X, y, X_test, y_test, model, metric, alpha, C, refactor_every, ranks, k,
                                                   n_classes);
        py::gil_scoped_release nogil;
        return attrib::walk_order(spec, order.data(), order.size());
      },
      "X"_a.noconvert(), "y"_a.noconvert(), "X_test"_a.noconvert(), "y_test"_a.noconvert(), "model"_a, "metric"_a,
      "alpha"_a, "C"_a, "refactor_every"_a, "ranks"_a.noconvert(), "k"_a, "n_classes"_a, "order"_a.noconvert());

  m.def(
      "knn_ranks",
      [](const CRef& X, const CRef& X_test, int n_threads) {
        py::gil_scoped_release nogil;
        return attrib::knn_ranks(X, X_test, n_threads);
      },
      "X"_a.noconvert(), "X_test"_a.noconvert(), "n_threads"_a);
}

}  // namespace attrib_bindings
