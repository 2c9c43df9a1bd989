// Datamodels: subset samplers, retraining the built-in learners on packed masks, and the lasso
// kernels (MaskDesign holds a design and its Gram matrix across calls). Arrays arrive
// C-contiguous in the dtype each kernel names (noconvert: a hidden copy is a TypeError); every
// kernel releases the GIL; a cancelled block returns None.
#include <pybind11/eigen.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "attrib/datamodels.hpp"
#include "bindings.hpp"
#include "numpy_out.hpp"

namespace py = pybind11;
using namespace pybind11::literals;
using attrib::RowMatrixXd;
using CRef = Eigen::Ref<const RowMatrixXd>;
using VRef = Eigen::Ref<const Eigen::VectorXd>;
using BRef = Eigen::Ref<const attrib::ByteRowMatrix>;
using ORef = Eigen::Ref<const attrib::RankRowMatrix>;

namespace attrib_bindings {

namespace {

py::dict lasso_dict(attrib::LassoResult&& r) {
  py::dict d;
  d["weights"] = py::cast(std::move(r.weights));
  d["intercept"] = py::cast(std::move(r.intercept));
  d["lambda"] = py::cast(std::move(r.lambda));
  d["lambdas"] = py::cast(std::move(r.lambdas));
  d["val_mse"] = py::cast(std::move(r.val_mse));
  d["sweeps"] = py::array_t<std::int64_t>(static_cast<py::ssize_t>(r.sweeps.size()), r.sweeps.data());
  d["converged"] = to_bool_array(r.converged);
  return d;
}

}  // namespace

void register_datamodels(py::module_& m) {
  using attrib::LassoOptions;
  using attrib::RetrainModel;
  using attrib::RetrainOptions;
  using attrib::SubsetSampler;
  // module_local throughout: _core and _core_avx2 may both be loaded, each with its own types.
  py::enum_<SubsetSampler>(m, "SubsetSampler", py::module_local(), "How a datamodel subset is drawn.")
      .value("fixed", SubsetSampler::fixed)
      .value("bernoulli", SubsetSampler::bernoulli);
  py::enum_<RetrainModel>(m, "RetrainModel", py::module_local(), "A built-in learner of retrain.")
      .value("logistic", RetrainModel::logistic)
      .value("ridge", RetrainModel::ridge)
      .value("knn", RetrainModel::knn);

  py::class_<RetrainOptions>(m, "RetrainOptions", py::module_local(), "Settings of retrain_subsets.")
      .def(py::init(&from_kwargs<RetrainOptions>))
      .def_readwrite("model", &RetrainOptions::model)
      .def_readwrite("l2", &RetrainOptions::l2)
      .def_readwrite("fit_intercept", &RetrainOptions::fit_intercept)
      .def_readwrite("max_iter", &RetrainOptions::max_iter)
      .def_readwrite("tol", &RetrainOptions::tol)
      .def_readwrite("k", &RetrainOptions::k)
      .def_readwrite("n_classes", &RetrainOptions::n_classes)
      .def_readwrite("n_threads", &RetrainOptions::n_threads);

  py::class_<LassoOptions>(m, "LassoOptions", py::module_local(), "Settings of the lasso kernels.")
      .def(py::init(&from_kwargs<LassoOptions>))
      .def_readwrite("n_lambdas", &LassoOptions::n_lambdas)
      .def_readwrite("eps", &LassoOptions::eps)
      .def_readwrite("tol", &LassoOptions::tol)
      .def_readwrite("max_sweeps", &LassoOptions::max_sweeps)
      .def_readwrite("early_stop", &LassoOptions::early_stop)
      .def_readwrite("min_lambdas", &LassoOptions::min_lambdas)
      .def_readwrite("patience", &LassoOptions::patience)
      .def_readwrite("n_threads", &LassoOptions::n_threads);
  m.attr("LASSO_BLOCK_TARGETS") = attrib::kLassoBlockTargets;

  m.def("fixed_subset_size", &attrib::fixed_subset_size, "n"_a, "alpha"_a,
        "Points in a fixed-size subset: floor(alpha n + 0.5).");

  m.def(
      "draw_subsets",
      [](std::uint64_t seed, std::uint64_t first_id, attrib::Index count, SubsetSampler sampler, double alpha,
         attrib::Index n, int n_threads) {
        py::gil_scoped_release nogil;
        return attrib::draw_subsets(seed, first_id, count, sampler, alpha, n, n_threads);
      },
      "seed"_a, "first_id"_a, "count"_a, "sampler"_a, "alpha"_a, "n"_a, "n_threads"_a,
      "Packed masks of subsets first_id .. first_id + count - 1 (count x ceil(n / 8) uint8).");

  m.def(
      "retrain_subsets",
      [](const CRef& X, const VRef& y, const CRef& X_target, const VRef& y_target, const BRef& masks,
         std::int64_t first_id, const VRef& start, const ORef& knn_order, const RetrainOptions& options,
         const attrib::CancelToken* cancel) -> py::object {
        attrib::RetrainBlock b;
        {
          py::gil_scoped_release nogil;
          b = attrib::retrain_subsets(X, y, X_target, y_target, masks, first_id, start, knn_order, options, cancel);
        }
        if (b.cancelled) return py::none();
        return py::make_tuple(py::cast(std::move(b.margin)), py::cast(std::move(b.loss)),
                              py::cast(std::move(b.correct)),
                              py::array_t<std::int32_t>(static_cast<py::ssize_t>(b.n_iter.size()), b.n_iter.data()),
                              to_bool_array(b.converged));
      },
      "X"_a.noconvert(), "y"_a.noconvert(), "X_target"_a.noconvert(), "y_target"_a.noconvert(),
      "masks"_a.noconvert(), "first_id"_a, "start"_a.noconvert(), "knn_order"_a.noconvert(), "options"_a,
      "cancel"_a = nullptr, "(margin, loss, correct, n_iter, converged) of one model per mask row, or None if cancelled.");

  using attrib::MaskDesign;
  py::class_<MaskDesign>(m, "MaskDesign", py::module_local(),
                         "Some rows of a packed mask matrix as a dense design (and its standardised Gram matrix).")
      .def(py::init([](const BRef& masks, attrib::Index n, const std::vector<std::int64_t>& rows, bool gram,
                       int n_threads) {
             py::gil_scoped_release nogil;
             return attrib::mask_design(masks, n, rows, gram, n_threads);
           }),
           "masks"_a.noconvert(), "n"_a, "rows"_a, "gram"_a, "n_threads"_a)
      .def_readonly("rows", &MaskDesign::rows)
      .def_readonly("cols", &MaskDesign::cols)
      .def_property_readonly("count", [](const MaskDesign& d) { return Eigen::VectorXd(d.count); })
      .def_property_readonly("mu", [](const MaskDesign& d) { return Eigen::VectorXd(d.mu); })
      .def_property_readonly("sigma", [](const MaskDesign& d) { return Eigen::VectorXd(d.sigma); })
      .def_property_readonly("has_gram", [](const MaskDesign& d) { return d.G.size() > 0; });

  m.def(
      "lasso_path",
      [](const MaskDesign& train, const CRef& Y, const MaskDesign& val, const CRef& Y_val, const LassoOptions& options,
         const attrib::CancelToken* cancel) -> py::object {
        attrib::LassoResult r;
        {
          py::gil_scoped_release nogil;
          r = attrib::lasso_path(train, Y, val, Y_val, options, cancel);
        }
        if (r.cancelled) return py::none();
        return lasso_dict(std::move(r));
      },
      "train"_a, "Y"_a.noconvert(), "val"_a, "Y_val"_a.noconvert(), "options"_a, "cancel"_a = nullptr);

  m.def(
      "lasso_at",
      [](const MaskDesign& design, const CRef& Y, const VRef& lambdas, const CRef& warm, const LassoOptions& options,
         const attrib::CancelToken* cancel) -> py::object {
        attrib::LassoResult r;
        {
          py::gil_scoped_release nogil;
          r = attrib::lasso_at(design, Y, lambdas, warm, options, cancel);
        }
        if (r.cancelled) return py::none();
        return lasso_dict(std::move(r));
      },
      "design"_a, "Y"_a.noconvert(), "lambdas"_a.noconvert(), "warm"_a.noconvert(), "options"_a,
      "cancel"_a = nullptr);
}

}  // namespace attrib_bindings
