// GLM kernels: Newton fit, one-step / influence / exact leave-one-out, test-loss changes, group
// removal. Arrays arrive as C-contiguous float64 (the facade converts once); noconvert() turns any
// hidden copy here into a TypeError instead.
#include <pybind11/eigen.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "attrib/glm.hpp"
#include "bindings.hpp"
#include "numpy_out.hpp"

namespace py = pybind11;
using namespace pybind11::literals;
using attrib::RowMatrixXd;
using CRef = Eigen::Ref<const RowMatrixXd>;
using VRef = Eigen::Ref<const Eigen::VectorXd>;

namespace attrib_bindings {

namespace {

constexpr int kGlmFitStateVersion = 1;

attrib::GlmFamily to_family(int family) {
  if (family < 0 || family > 2) throw std::invalid_argument("family code must be 0, 1 or 2");
  return static_cast<attrib::GlmFamily>(family);
}

}  // namespace

void register_glm(py::module_& m) {
  // module_local throughout: _core and _core_avx2 may both be loaded, each with its own types.
  // Enums refuse anything but their own values, so every code reaching C++ is in range.
  py::enum_<attrib::GlmFamily>(m, "GlmFamily", py::module_local(), "The loss of one row (canonical links).")
      .value("logistic", attrib::GlmFamily::logistic)
      .value("poisson", attrib::GlmFamily::poisson)
      .value("gaussian", attrib::GlmFamily::gaussian);
  py::enum_<attrib::GlmStep>(m, "GlmStep", py::module_local(), "Which step glm_loo_rows forms besides leverages.")
      .value("none", attrib::GlmStep::none)
      .value("newton", attrib::GlmStep::newton)
      .value("influence", attrib::GlmStep::influence);
  py::class_<attrib::GlmFitOptions>(m, "GlmFitOptions", py::module_local(),
                                    "Settings of glm_fit; GlmFitOptions(family=..., l2=...) sets fields by name.")
      .def(py::init(&from_kwargs<attrib::GlmFitOptions>))
      .def_readwrite("family", &attrib::GlmFitOptions::family)
      .def_readwrite("l2", &attrib::GlmFitOptions::l2)
      .def_readwrite("fit_intercept", &attrib::GlmFitOptions::fit_intercept)
      .def_readwrite("max_iter", &attrib::GlmFitOptions::max_iter)
      .def_readwrite("tol", &attrib::GlmFitOptions::tol)
      .def_readwrite("polish", &attrib::GlmFitOptions::polish)
      .def_readwrite("fingerprint", &attrib::GlmFitOptions::fingerprint)
      .def_readwrite("n_threads", &attrib::GlmFitOptions::n_threads);

  py::class_<attrib::GlmFit>(m, "GlmFit", py::module_local(), "A fitted GLM (private; see attrib.glm_loo).")
      .def_readonly("family", &attrib::GlmFit::family)
      .def_readonly("fit_intercept", &attrib::GlmFit::fit_intercept)
      .def_readonly("l2", &attrib::GlmFit::l2)
      .def_readonly("coef", &attrib::GlmFit::coef)
      .def_readonly("intercept", &attrib::GlmFit::intercept)
      .def_readonly("chol", &attrib::GlmFit::chol)
      .def_readonly("eta", &attrib::GlmFit::eta)
      .def_readonly("d1", &attrib::GlmFit::d1)
      .def_readonly("d2", &attrib::GlmFit::d2)
      .def_readonly("objective", &attrib::GlmFit::objective)
      .def_readonly("grad_max", &attrib::GlmFit::grad_max)
      .def_readonly("step_max", &attrib::GlmFit::step_max)
      .def_readonly("n_iter", &attrib::GlmFit::n_iter)
      .def_readonly("converged", &attrib::GlmFit::converged)
      // (lo, hi) as core.fingerprint gives them for X, y, w, offset (with options.fingerprint;
      // zeros otherwise, and after unpickling: results keep their own copy)
      .def_property_readonly("fingerprints",
                             [](const attrib::GlmFit& f) {
                               const auto t = [](const attrib::Fingerprint& g) { return py::make_tuple(g.lo, g.hi); };
                               return py::make_tuple(t(f.x_fingerprint), t(f.y_fingerprint), t(f.w_fingerprint),
                                                     t(f.offset_fingerprint));
                             })
      .def_readonly("rcond", &attrib::GlmFit::rcond)
      // Every field, so that a result holding the fit can be pickled (for joblib, Dask, caching).
      // The Python result re-creates the fit with the CPU build loaded where it is unpickled.
      .def(py::pickle(
          [](const attrib::GlmFit& f) {
            return py::make_tuple(kGlmFitStateVersion, static_cast<int>(f.family), f.fit_intercept, f.l2, f.coef,
                                  f.intercept, f.chol, f.chol_inv, f.eta, f.d1, f.d2, f.objective, f.grad_max,
                                  f.step_max, f.n_iter, f.converged, f.rcond, f.offset);
          },
          [](const py::tuple& t) {
            if (t.size() != 18 || t[0].cast<int>() != kGlmFitStateVersion)
              throw std::invalid_argument("GlmFit: unknown pickle state (saved by another attrib version?)");
            attrib::GlmFit f;
            f.family = to_family(t[1].cast<int>());
            f.fit_intercept = t[2].cast<bool>();
            f.l2 = t[3].cast<double>();
            f.coef = t[4].cast<Eigen::VectorXd>();
            f.intercept = t[5].cast<double>();
            f.chol = t[6].cast<RowMatrixXd>();
            f.chol_inv = t[7].cast<RowMatrixXd>();
            f.eta = t[8].cast<Eigen::VectorXd>();
            f.d1 = t[9].cast<Eigen::VectorXd>();
            f.d2 = t[10].cast<Eigen::VectorXd>();
            f.objective = t[11].cast<double>();
            f.grad_max = t[12].cast<double>();
            f.step_max = t[13].cast<double>();
            f.n_iter = t[14].cast<int>();
            f.converged = t[15].cast<bool>();
            f.rcond = t[16].cast<double>();
            f.offset = t[17].cast<Eigen::VectorXd>();
            const auto p = f.coef.size() + (f.fit_intercept ? 1 : 0), n = f.eta.size();
            if (f.chol.rows() != p || f.chol.cols() != p || f.chol_inv.rows() != p || f.chol_inv.cols() != p ||
                f.d1.size() != n || f.d2.size() != n || (f.offset.size() != 0 && f.offset.size() != n))
              throw std::invalid_argument("GlmFit: inconsistent pickle state");
            return f;
          }));

  // Every kernel releases the GIL once its arguments are converted: the Eigen::Ref views stay
  // valid because the caller's arguments keep the arrays alive, and no Python object is touched
  // until the result is converted with the GIL held again.
  m.def(
      "glm_fit",
      [](const CRef& X, const VRef& y, const VRef& w, const VRef& offset, const VRef& start, const CRef& start_hessian,
         const attrib::GlmFitOptions& options) {
        py::gil_scoped_release nogil;
        return attrib::glm_fit(X, y, w, offset, start, start_hessian, options);
      },
      "X"_a.noconvert(), "y"_a.noconvert(), "w"_a.noconvert(), "offset"_a.noconvert(), "start"_a.noconvert(),
      "start_hessian"_a.noconvert(), "options"_a);
  m.def(
      "glm_loo_rows",
      [](const CRef& X, const VRef& w, const attrib::GlmFit& fit, attrib::GlmStep step, int n_threads) {
        const attrib::Index p = fit.coef.size() + (fit.fit_intercept ? 1 : 0);
        py::array_t<double> dcoef = step == attrib::GlmStep::none ? numpy_matrix(0, p) : numpy_matrix(X.rows(), p);
        Eigen::Map<RowMatrixXd> out = view(dcoef);
        attrib::GlmLooRows res;
        {
          py::gil_scoped_release nogil;
          res = attrib::glm_loo_rows(X, w, fit, step, out, n_threads);
        }
        return py::make_tuple(py::cast(std::move(res.quad)), py::cast(std::move(res.hat)), dcoef);
      },
      "X"_a.noconvert(), "w"_a.noconvert(), "fit"_a, "step"_a, "n_threads"_a);

  m.def(
      "glm_solve_rows",
      [](const CRef& X, const attrib::GlmFit& fit, const VRef& c, int n_threads) {
        py::gil_scoped_release nogil;
        return attrib::glm_solve_rows(X, fit, c, n_threads);
      },
      "X"_a.noconvert(), "fit"_a, "c"_a.noconvert(), "n_threads"_a);

  m.def(
      "glm_exact_loo",
      [](const CRef& X, const VRef& y, const VRef& w, const attrib::GlmFit& fit, const std::vector<std::int64_t>& rows,
         int max_iter, double tol, int n_threads) {
        attrib::GlmExactLoo res;
        {
          py::gil_scoped_release nogil;
          res = attrib::glm_exact_loo(X, y, w, fit, rows, max_iter, tol, n_threads);
        }
        py::array_t<std::int32_t> iters(static_cast<py::ssize_t>(res.n_iter.size()));
        std::copy(res.n_iter.begin(), res.n_iter.end(), iters.mutable_data());
        return py::make_tuple(py::cast(std::move(res.dcoef)), py::cast(std::move(res.loo_eta)), iters,
                              to_bool_array(res.converged));
      },
      "X"_a.noconvert(), "y"_a.noconvert(), "w"_a.noconvert(), "fit"_a, "rows"_a, "max_iter"_a, "tol"_a,
      "n_threads"_a);

  m.def("glm_exact_block_rows", &attrib::glm_exact_block_rows, "n"_a,
        "Rows glm_exact_loo solves together for n training rows (split row lists into multiples of it).");

  m.attr("GLM_LOSS_TRAIN_TILE") = attrib::kLossTrainTile;
  m.attr("GLM_LOSS_TEST_TILE") = attrib::kLossTestTile;
  m.def(
      "glm_loss_change",
      [](const CRef& X_test, const VRef& y_test, const VRef& offset_test, const attrib::GlmFit& fit, const CRef& D,
         int n_threads, Eigen::Ref<RowMatrixXd> out) {
        {
          py::gil_scoped_release nogil;
          attrib::glm_loss_change(X_test, y_test, offset_test, fit, D, out, n_threads);
        }
      },
      "X_test"_a.noconvert(), "y_test"_a.noconvert(), "offset_test"_a.noconvert(), "fit"_a, "D"_a.noconvert(),
      "n_threads"_a, "out"_a.noconvert(),
      "Writes the loss changes into out (len(D) x len(X_test), C-contiguous float64; a row slice of a larger "
      "result is fine).");

  m.def(
      "glm_loss_change_topk",
      [](const CRef& X_test, const VRef& y_test, const VRef& offset_test, const attrib::GlmFit& fit, const CRef& D,
         attrib::Index k, int n_threads) {
        attrib::GlmTopK res;
        {
          py::gil_scoped_release nogil;
          res = attrib::glm_loss_change_topk(X_test, y_test, offset_test, fit, D, k, n_threads);
        }
        return py::make_tuple(py::cast(std::move(res.helpful_idx)), py::cast(std::move(res.helpful_val)),
                              py::cast(std::move(res.harmful_idx)), py::cast(std::move(res.harmful_val)));
      },
      "X_test"_a.noconvert(), "y_test"_a.noconvert(), "offset_test"_a.noconvert(), "fit"_a, "D"_a.noconvert(), "k"_a,
      "n_threads"_a);

  m.def(
      "glm_group_step",
      [](const CRef& X, const VRef& w, const attrib::GlmFit& fit, const std::vector<std::int64_t>& offsets,
         const std::vector<std::int64_t>& indices, int n_threads) {
        attrib::GlmGroupStep res;
        {
          py::gil_scoped_release nogil;
          res = attrib::glm_group_step(X, w, fit, offsets, indices, n_threads);
        }
        return py::make_tuple(py::cast(std::move(res.dcoef)), to_bool_array(res.ok));
      },
      "X"_a.noconvert(), "w"_a.noconvert(), "fit"_a, "offsets"_a, "indices"_a, "n_threads"_a);
}

}  // namespace attrib_bindings
