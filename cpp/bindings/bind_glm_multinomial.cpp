// Multinomial logistic regression kernels: Newton fit, one-step / influence / exact leave-one-out,
// test cross-entropy changes, group removal. Arrays arrive as C-contiguous float64 (the facade
// converts once); noconvert() turns any hidden copy here into a TypeError instead.
#include <pybind11/eigen.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "attrib/glm_multinomial.hpp"
#include "bindings.hpp"
#include "numpy_out.hpp"

namespace py = pybind11;
using namespace pybind11::literals;
using attrib::RowMatrixXd;
using CRef = Eigen::Ref<const RowMatrixXd>;
using VRef = Eigen::Ref<const Eigen::VectorXd>;

namespace attrib_bindings {

namespace {
constexpr int kMultinomialFitStateVersion = 1;
}

void register_glm_multinomial(py::module_& m) {
  py::enum_<attrib::MultinomialStep>(m, "MultinomialStep", py::module_local(),
                                     "Which step multinomial_loo_rows forms.")
      .value("newton", attrib::MultinomialStep::newton)
      .value("influence", attrib::MultinomialStep::influence);
  py::class_<attrib::MultinomialFitOptions>(m, "MultinomialFitOptions", py::module_local(),
                                            "Settings of multinomial_fit; fields set by name.")
      .def(py::init(&from_kwargs<attrib::MultinomialFitOptions>))
      .def_readwrite("n_classes", &attrib::MultinomialFitOptions::n_classes)
      .def_readwrite("l2", &attrib::MultinomialFitOptions::l2)
      .def_readwrite("fit_intercept", &attrib::MultinomialFitOptions::fit_intercept)
      .def_readwrite("max_iter", &attrib::MultinomialFitOptions::max_iter)
      .def_readwrite("tol", &attrib::MultinomialFitOptions::tol)
      .def_readwrite("polish", &attrib::MultinomialFitOptions::polish)
      .def_readwrite("n_threads", &attrib::MultinomialFitOptions::n_threads);

  py::class_<attrib::MultinomialFit>(m, "MultinomialFit", py::module_local(),
                                     "A fitted multinomial model (private; see attrib.glm_loo).")
      .def_readonly("n_classes", &attrib::MultinomialFit::n_classes)
      .def_readonly("fit_intercept", &attrib::MultinomialFit::fit_intercept)
      .def_readonly("l2", &attrib::MultinomialFit::l2)
      .def_readonly("gauge", &attrib::MultinomialFit::gauge)
      .def_readonly("coef", &attrib::MultinomialFit::coef)
      .def_readonly("intercept", &attrib::MultinomialFit::intercept)
      .def_readonly("chol", &attrib::MultinomialFit::chol)
      .def_readonly("hess_inv", &attrib::MultinomialFit::hess_inv)
      .def_readonly("prob", &attrib::MultinomialFit::prob)
      .def_readonly("objective", &attrib::MultinomialFit::objective)
      .def_readonly("grad_max", &attrib::MultinomialFit::grad_max)
      .def_readonly("step_max", &attrib::MultinomialFit::step_max)
      .def_readonly("n_iter", &attrib::MultinomialFit::n_iter)
      .def_readonly("converged", &attrib::MultinomialFit::converged)
      .def_readonly("rcond", &attrib::MultinomialFit::rcond)
      .def(py::pickle(
          [](const attrib::MultinomialFit& f) {
            return py::make_tuple(kMultinomialFitStateVersion, f.n_classes, f.fit_intercept, f.l2, f.gauge, f.coef,
                                  f.intercept, f.chol, f.hess_inv, f.prob, f.objective, f.grad_max, f.step_max,
                                  f.n_iter, f.converged, f.rcond);
          },
          [](const py::tuple& t) {
            if (t.size() != 16 || t[0].cast<int>() != kMultinomialFitStateVersion)
              throw std::invalid_argument("MultinomialFit: unknown pickle state (saved by another attrib version?)");
            attrib::MultinomialFit f;
            f.n_classes = t[1].cast<attrib::Index>();
            f.fit_intercept = t[2].cast<bool>();
            f.l2 = t[3].cast<double>();
            f.gauge = t[4].cast<Eigen::VectorXd>();
            f.coef = t[5].cast<RowMatrixXd>();
            f.intercept = t[6].cast<Eigen::VectorXd>();
            f.chol = t[7].cast<RowMatrixXd>();
            f.hess_inv = t[8].cast<RowMatrixXd>();
            f.prob = t[9].cast<RowMatrixXd>();
            f.objective = t[10].cast<double>();
            f.grad_max = t[11].cast<double>();
            f.step_max = t[12].cast<double>();
            f.n_iter = t[13].cast<int>();
            f.converged = t[14].cast<bool>();
            f.rcond = t[15].cast<double>();
            const attrib::Index K = f.n_classes, p = f.n_params_per_class(), P = K * p;
            if (K < 2 || f.coef.rows() != K || f.intercept.size() != K || f.gauge.size() != p || f.chol.rows() != P ||
                f.chol.cols() != P || f.hess_inv.rows() != P || f.hess_inv.cols() != P || f.prob.cols() != K)
              throw std::invalid_argument("MultinomialFit: inconsistent pickle state");
            return f;
          }));

  m.def(
      "multinomial_fit",
      [](const CRef& X, const VRef& y, const VRef& w, const VRef& start, const attrib::MultinomialFitOptions& options) {
        py::gil_scoped_release nogil;
        return attrib::multinomial_fit(X, y, w, start, options);
      },
      "X"_a.noconvert(), "y"_a.noconvert(), "w"_a.noconvert(), "start"_a.noconvert(), "options"_a);
  m.def(
      "multinomial_loo_rows",
      [](const CRef& X, const VRef& y, const VRef& w, const attrib::MultinomialFit& fit, attrib::MultinomialStep step,
         int n_threads) {
        const attrib::Index P = fit.n_classes * fit.n_params_per_class();
        py::array_t<double> dcoef = numpy_matrix(X.rows(), P);
        Eigen::Map<RowMatrixXd> out = view(dcoef);
        attrib::MultinomialLooRows res;
        {
          py::gil_scoped_release nogil;
          res = attrib::multinomial_loo_rows(X, y, w, fit, step, out, n_threads);
        }
        return py::make_tuple(py::cast(std::move(res.hat)), py::cast(std::move(res.step_sq)),
                              to_bool_array(res.leverage_one), dcoef);
      },
      "X"_a.noconvert(), "y"_a.noconvert(), "w"_a.noconvert(), "fit"_a, "step"_a, "n_threads"_a);
  m.def(
      "multinomial_exact_loo",
      [](const CRef& X, const VRef& y, const VRef& w, const attrib::MultinomialFit& fit,
         const std::vector<std::int64_t>& rows, int max_iter, double tol, int n_threads) {
        attrib::MultinomialExactLoo res;
        {
          py::gil_scoped_release nogil;
          res = attrib::multinomial_exact_loo(X, y, w, fit, rows, max_iter, tol, n_threads);
        }
        py::array_t<std::int32_t> iters(static_cast<py::ssize_t>(res.n_iter.size()));
        std::copy(res.n_iter.begin(), res.n_iter.end(), iters.mutable_data());
        return py::make_tuple(py::cast(std::move(res.dcoef)), iters, to_bool_array(res.converged));
      },
      "X"_a.noconvert(), "y"_a.noconvert(), "w"_a.noconvert(), "fit"_a, "rows"_a, "max_iter"_a, "tol"_a,
      "n_threads"_a);
  m.def("multinomial_exact_block_rows", &attrib::multinomial_exact_block_rows, "n"_a, "n_classes"_a,
        "Rows multinomial_exact_loo solves together (split row lists into multiples of it).");
  m.attr("MULTINOMIAL_LOSS_TRAIN_TILE") = attrib::kMultinomialLossTrainTile;
  m.attr("MULTINOMIAL_LOSS_TEST_TILE") = attrib::kMultinomialLossTestTile;
  m.def(
      "multinomial_loss_change",
      [](const CRef& X_test, const VRef& y_test, const attrib::MultinomialFit& fit, const CRef& D, int n_threads,
         Eigen::Ref<RowMatrixXd> out) {
        py::gil_scoped_release nogil;
        attrib::multinomial_loss_change(X_test, y_test, fit, D, out, n_threads);
      },
      "X_test"_a.noconvert(), "y_test"_a.noconvert(), "fit"_a, "D"_a.noconvert(), "n_threads"_a, "out"_a.noconvert(),
      "Writes the loss changes into out (len(D) x len(X_test), C-contiguous float64; a row slice of a larger "
      "result is fine).");
  m.def(
      "multinomial_loss_change_topk",
      [](const CRef& X_test, const VRef& y_test, const attrib::MultinomialFit& fit, const CRef& D, attrib::Index k,
         int n_threads) {
        attrib::MultinomialTopK res;
        {
          py::gil_scoped_release nogil;
          res = attrib::multinomial_loss_change_topk(X_test, y_test, fit, D, k, n_threads);
        }
        return py::make_tuple(py::cast(std::move(res.helpful_idx)), py::cast(std::move(res.helpful_val)),
                              py::cast(std::move(res.harmful_idx)), py::cast(std::move(res.harmful_val)));
      },
      "X_test"_a.noconvert(), "y_test"_a.noconvert(), "fit"_a, "D"_a.noconvert(), "k"_a, "n_threads"_a);
  m.def(
      "multinomial_group_step",
      [](const CRef& X, const VRef& y, const VRef& w, const attrib::MultinomialFit& fit,
         const std::vector<std::int64_t>& offsets, const std::vector<std::int64_t>& indices, int n_threads) {
        attrib::MultinomialGroupStep res;
        {
          py::gil_scoped_release nogil;
          res = attrib::multinomial_group_step(X, y, w, fit, offsets, indices, n_threads);
        }
        return py::make_tuple(py::cast(std::move(res.dcoef)), to_bool_array(res.ok));
      },
      "X"_a.noconvert(), "y"_a.noconvert(), "w"_a.noconvert(), "fit"_a, "offsets"_a, "indices"_a, "n_threads"_a);
}

}  // namespace attrib_bindings
