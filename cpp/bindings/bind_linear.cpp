// Exact squared-loss leave-one-out kernels. Arrays arrive as C-contiguous float64 (the facade
// converts once); noconvert() turns any hidden copy here into a TypeError instead.
#include <pybind11/eigen.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "attrib/linear.hpp"
#include "bindings.hpp"
#include "numpy_out.hpp"

namespace py = pybind11;
using namespace pybind11::literals;
using attrib::RowMatrixXd;
using CRef = Eigen::Ref<const RowMatrixXd>;
using VRef = Eigen::Ref<const Eigen::VectorXd>;

namespace attrib_bindings {

namespace {
constexpr int kLinearFitStateVersion = 1;
}  // namespace

void register_linear(py::module_& m) {
  // module_local: _core and _core_avx2 may both be loaded, each with its own LinearFit type.
  py::class_<attrib::LinearFit>(m, "LinearFit", py::module_local(), "A fitted squared-loss model (private; see attrib.linear_loo).")
      .def_readonly("coef", &attrib::LinearFit::coef)
      .def_readonly("intercept", &attrib::LinearFit::intercept)
      .def_readonly("fit_intercept", &attrib::LinearFit::fit_intercept)
      .def_readonly("x_mean", &attrib::LinearFit::x_mean)
      .def_readonly("y_mean", &attrib::LinearFit::y_mean)
      .def_readonly("sum_w", &attrib::LinearFit::sum_w)
      .def_readonly("chol", &attrib::LinearFit::chol)
      .def_readonly("chol_inv", &attrib::LinearFit::chol_inv)
      .def_readonly("hat", &attrib::LinearFit::hat)
      .def_readonly("resid", &attrib::LinearFit::resid)
      .def_readonly("rcond", &attrib::LinearFit::rcond)
      // Every field, so that a result holding the fit can be pickled (for joblib, Dask, caching).
      // The Python result re-creates the fit with the CPU build loaded where it is unpickled.
      .def(py::pickle(
          [](const attrib::LinearFit& f) {
            return py::make_tuple(kLinearFitStateVersion, f.coef, f.intercept, f.fit_intercept, f.x_mean, f.y_mean,
                                  f.sum_w, f.chol, f.chol_inv, f.hat, f.resid, f.rcond);
          },
          [](const py::tuple& t) {
            if (t.size() != 12 || t[0].cast<int>() != kLinearFitStateVersion)
              throw std::invalid_argument("LinearFit: unknown pickle state (saved by another attrib version?)");
            attrib::LinearFit f;
            f.coef = t[1].cast<Eigen::VectorXd>();
            f.intercept = t[2].cast<double>();
            f.fit_intercept = t[3].cast<bool>();
            f.x_mean = t[4].cast<Eigen::VectorXd>();
            f.y_mean = t[5].cast<double>();
            f.sum_w = t[6].cast<double>();
            f.chol = t[7].cast<RowMatrixXd>();
            f.chol_inv = t[8].cast<RowMatrixXd>();
            f.hat = t[9].cast<Eigen::VectorXd>();
            f.resid = t[10].cast<Eigen::VectorXd>();
            f.rcond = t[11].cast<double>();
            const auto p = f.chol.rows();
            if (f.chol.cols() != p || f.chol_inv.rows() != p || f.chol_inv.cols() != p || f.coef.size() != p ||
                f.x_mean.size() != p || f.hat.size() != f.resid.size())
              throw std::invalid_argument("LinearFit: inconsistent pickle state");
            return f;
          }));

  // Every kernel releases the GIL after its arguments are converted: the Eigen::Ref views stay
  // valid because the caller's arguments keep the arrays alive, and no Python object is touched
  // until the lambda returns and pybind11 converts the result with the GIL held again.
  // Returns (fit, dfbeta): dfbeta is None unless with_dfbeta, which fills it in the same pass.
  m.def(
      "linear_fit",
      [](const CRef& X, const VRef& y, const VRef& w, double alpha, bool fit_intercept, int n_threads,
         bool with_dfbeta) -> py::tuple {
        attrib::LinearFit fit;
        if (!with_dfbeta) {
          {
            py::gil_scoped_release nogil;
            fit = attrib::linear_fit(X, y, w, alpha, fit_intercept, n_threads);
          }
          return py::make_tuple(std::move(fit), py::none());
        }
        py::array_t<double> out = numpy_matrix(X.rows(), X.cols() + (fit_intercept ? 1 : 0));
        Eigen::Map<RowMatrixXd> o = view(out);
        Eigen::Ref<RowMatrixXd> ref(o);
        {
          py::gil_scoped_release nogil;
          fit = attrib::linear_fit(X, y, w, alpha, fit_intercept, n_threads, &ref);
        }
        return py::make_tuple(std::move(fit), out);
      },
      "X"_a.noconvert(), "y"_a.noconvert(), "w"_a.noconvert(), "alpha"_a, "fit_intercept"_a, "n_threads"_a,
      "with_dfbeta"_a = false);

  m.def(
      "linear_dfbeta",
      [](const CRef& X, const attrib::LinearFit& fit, const VRef& c, int n_threads) {
        py::array_t<double> out = numpy_matrix(X.rows(), X.cols() + (fit.fit_intercept ? 1 : 0));
        auto o = view(out);
        {
          py::gil_scoped_release nogil;
          attrib::linear_dfbeta(X, fit, c, o, n_threads);
        }
        return out;
      },
      "X"_a.noconvert(), "fit"_a, "c"_a.noconvert(), "n_threads"_a);

  m.def(
      "linear_prediction_change",
      [](const CRef& X, const CRef& X_test, const attrib::LinearFit& fit, const VRef& c, int n_threads) {
        py::array_t<double> out = numpy_matrix(X.rows(), X_test.rows());
        auto o = view(out);
        {
          py::gil_scoped_release nogil;
          attrib::linear_prediction_change(X, X_test, fit, c, o, n_threads);
        }
        return out;
      },
      "X"_a.noconvert(), "X_test"_a.noconvert(), "fit"_a, "c"_a.noconvert(), "n_threads"_a);

  m.def(
      "linear_group_loo",
      [](const CRef& X, const VRef& w, const attrib::LinearFit& fit, const std::vector<std::int64_t>& offsets,
         const std::vector<std::int64_t>& indices, int n_threads) {
        attrib::GroupLoo res;
        {
          py::gil_scoped_release nogil;
          res = attrib::linear_group_loo(X, w, fit, offsets, indices, n_threads);
        }
        return py::make_tuple(py::cast(std::move(res.dfbeta)), py::cast(std::move(res.loo_resid)), to_bool_array(res.ok));
      },
      "X"_a.noconvert(), "w"_a.noconvert(), "fit"_a, "offsets"_a, "indices"_a, "n_threads"_a);
}

}  // namespace attrib_bindings
