// Counter-based randomness, KNN-Shapley and the Monte Carlo semivalue samplers. Arrays arrive
// as C-contiguous float64 / int64 (the facade converts once); noconvert() turns any hidden copy
// into a TypeError. A built-in utility crosses as two bound objects: UtilityData (views of the
// arrays, built once per run) and UtilityParams (model, metric, hyperparameters); kinds are
// enums, so an out-of-range code cannot reach the core. Every kernel releases the GIL; the
// Python-callable utility path never comes here with a callable (it asks only for permutations
// or subsets and evaluates them itself).
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
using RankRef = Eigen::Ref<const attrib::KnnRankMatrix>;
using OrderRef = Eigen::Ref<const Eigen::Matrix<std::int64_t, Eigen::Dynamic, 1>>;
using ByteRowMatrix = Eigen::Matrix<std::uint8_t, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

namespace attrib_bindings {

namespace {

// module_local throughout: _core and _core_avx2 may both be loaded, each with its own types.
void register_utility_types(py::module_& m) {
  using attrib::UtilityMetric;
  using attrib::UtilityModel;
  // Member names are the strings the facade accepts (utility="ridge", metric="r2").
  py::enum_<UtilityModel>(m, "UtilityModel", py::module_local(), "The model a built-in utility fits.")
      .value("ridge", UtilityModel::kRidge)
      .value("logistic", UtilityModel::kLogistic)
      .value("knn", UtilityModel::kKnn);
  py::enum_<UtilityMetric>(m, "UtilityMetric", py::module_local(), "How a built-in utility scores on the test set.")
      .value("r2", UtilityMetric::kR2)
      .value("neg_mse", UtilityMetric::kNegMse)
      .value("accuracy", UtilityMetric::kAccuracy)
      .value("neg_log_loss", UtilityMetric::kNegLogLoss);
  m.def("utility_metrics", &attrib::utility_metrics, "model"_a, "The metrics a model is scored by, its default first.");

  using attrib::UtilityParams;
  py::class_<UtilityParams>(m, "UtilityParams", py::module_local(),
                            "A built-in utility's model, metric and hyperparameters (defaults: the core's).")
      .def(py::init<>())
      .def_readwrite("model", &UtilityParams::model)
      .def_readwrite("metric", &UtilityParams::metric)
      .def_readwrite("alpha", &UtilityParams::alpha)
      .def_readwrite("C", &UtilityParams::C)
      .def_readwrite("refactor_every", &UtilityParams::refactor_every)
      .def_readwrite("newton_tol", &UtilityParams::newton_tol)
      .def_readwrite("max_newton_iter", &UtilityParams::max_newton_iter)
      .def_readwrite("k", &UtilityParams::k)
      .def_readwrite("n_classes", &UtilityParams::n_classes);

  // The views point into the caller's arrays: keep_alive ties each array to the object.
  using attrib::UtilityData;
  py::class_<UtilityData>(m, "UtilityData", py::module_local(),
                          "Views of a utility's training and test arrays (kept alive by this object).")
      .def(py::init(&attrib::utility_data), "X"_a.noconvert(), "y"_a.noconvert(), "X_test"_a.noconvert(),
           "y_test"_a.noconvert(), py::keep_alive<1, 2>(), py::keep_alive<1, 3>(), py::keep_alive<1, 4>(),
           py::keep_alive<1, 5>())
      .def(py::init([](const CRef& X, const VRef& y, const CRef& X_test, const VRef& y_test, const RankRef& ranks) {
             return attrib::with_knn_ranks(attrib::utility_data(X, y, X_test, y_test), ranks);
           }),
           "X"_a.noconvert(), "y"_a.noconvert(), "X_test"_a.noconvert(), "y_test"_a.noconvert(),
           "knn_ranks"_a.noconvert(), py::keep_alive<1, 2>(), py::keep_alive<1, 3>(), py::keep_alive<1, 4>(),
           py::keep_alive<1, 5>(), py::keep_alive<1, 6>())
      .def_readonly("n", &UtilityData::n)
      .def_readonly("d", &UtilityData::d)
      .def_readonly("m", &UtilityData::m);
  m.attr("knn_rank_itemsize") = sizeof(attrib::KnnRank);

  py::class_<attrib::CancelToken>(m, "CancelToken", py::module_local(),
                                  "Set from another thread to abandon a block in flight (Ctrl-C).")
      .def(py::init<>())
      .def("cancel", &attrib::CancelToken::cancel)
      .def("requested", &attrib::CancelToken::requested);

  using attrib::Truncation;
  py::class_<Truncation>(m, "Truncation", py::module_local(), "TMC-Shapley truncation of a permutation walk.")
      .def(py::init<>())
      .def_readwrite("enabled", &Truncation::enabled)
      .def_readwrite("rtol", &Truncation::rtol)
      .def_readwrite("full_utility", &Truncation::full_utility)
      .def_readwrite("patience", &Truncation::patience)
      .def_readwrite("burn_in", &Truncation::burn_in);
}

}  // namespace

void register_shapley(py::module_& m) {
  register_utility_types(m);

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

  m.def("knn_test_chunk", &attrib::knn_test_chunk, "n"_a,
        "Test points per accumulation chunk of knn_shapley_accumulate for n training points.");

  m.def(
      "knn_shapley_accumulate",
      [](const CRef& X, const VRef& x_sq, const LRef& y, const CRef& X_test, const LRef& y_test, std::int64_t k,
         bool soft_label, std::int64_t n_classes, std::int64_t chunk, int n_threads, Eigen::Ref<Eigen::VectorXd> acc) {
        py::gil_scoped_release nogil;
        attrib::knn_shapley_accumulate(X, x_sq, y, X_test, y_test, k, soft_label, n_classes, chunk, n_threads, acc);
      },
      "X"_a.noconvert(), "x_sq"_a.noconvert(), "y"_a.noconvert(), "X_test"_a.noconvert(), "y_test"_a.noconvert(),
      "k"_a, "soft_label"_a, "n_classes"_a, "chunk"_a, "n_threads"_a, "acc"_a.noconvert(),
      "Adds the per-test-point KNN-Shapley values of X_test's rows to acc (see the core's documentation).");

  using attrib::UtilityData;
  using attrib::UtilityParams;
  m.def(
      "walk_permutations",
      [](const UtilityData& data, const UtilityParams& params, std::uint64_t seed, std::int64_t first_id,
         std::int64_t count, bool antithetic, const attrib::Truncation& truncation, int n_threads,
         const attrib::CancelToken* cancel) -> py::object {
        attrib::PermutationWalks w;
        {
          py::gil_scoped_release nogil;
          w = attrib::walk_permutations(data, params, seed, first_id, count, antithetic, truncation, n_threads,
                                        cancel);
        }
        if (w.cancelled) return py::none();  // incomplete: the caller discards the block
        return py::make_tuple(py::cast(std::move(w.perms)), py::cast(std::move(w.utilities)),
                              py::cast(std::move(w.evaluated)));
      },
      "data"_a, "params"_a, "seed"_a, "first_id"_a, "count"_a, "antithetic"_a, "truncation"_a, "n_threads"_a,
      "cancel"_a = nullptr);

  m.def(
      "evaluate_subsets",
      [](const UtilityData& data, const UtilityParams& params, std::uint64_t seed, std::int64_t first_id,
         std::int64_t count, int n_threads, const attrib::CancelToken* cancel) -> py::object {
        attrib::SubsetSamples s;
        {
          py::gil_scoped_release nogil;
          s = attrib::evaluate_subsets(data, params, seed, first_id, count, n_threads, cancel);
        }
        if (s.cancelled) return py::none();  // incomplete: the caller discards the block
        return py::make_tuple(py::cast(std::move(s.masks)), py::cast(std::move(s.utilities)));
      },
      "data"_a, "params"_a, "seed"_a, "first_id"_a, "count"_a, "n_threads"_a, "cancel"_a = nullptr);

  m.def(
      "walk_order",
      [](const UtilityData& data, const UtilityParams& params, const OrderRef& order) {
        py::gil_scoped_release nogil;
        return attrib::walk_order(data, params, order.data(), order.size());
      },
      "data"_a, "params"_a, "order"_a.noconvert());

  m.def(
      "knn_ranks",
      [](const CRef& X, const CRef& X_test, int n_threads) {
        py::gil_scoped_release nogil;
        return attrib::knn_ranks(X, X_test, n_threads);
      },
      "X"_a.noconvert(), "X_test"_a.noconvert(), "n_threads"_a);
}

}  // namespace attrib_bindings
