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
using IndexArray = py::array_t<std::int64_t, py::array::c_style | py::array::forcecast>;

namespace attrib_bindings {

namespace {
constexpr int kLinearFitStateVersion = 2;
constexpr std::size_t kLinearFitStateSize = 21;
}  // namespace

void register_linear(py::module_& m) {
  py::enum_<attrib::LinearForm>(m, "LinearForm", py::module_local(),
                                "Factorisation of a squared-loss fit: the d x d Gram matrix (primal) or the n x n kernel "
                                "(dual, ridge only); automatic takes the dual form when alpha > 0 and d > n.")
      .value("automatic", attrib::LinearForm::automatic)
      .value("primal", attrib::LinearForm::primal)
      .value("dual", attrib::LinearForm::dual);

  // module_local: _core and _core_avx2 may both be loaded, each with its own LinearFit type.
  py::class_<attrib::LinearFit>(m, "LinearFit", py::module_local(), "A fitted squared-loss model (private; see attrib.linear_loo).")
      .def_readonly("coef", &attrib::LinearFit::coef)
      .def_readonly("intercept", &attrib::LinearFit::intercept)
      .def_readonly("fit_intercept", &attrib::LinearFit::fit_intercept)
      .def_readonly("x_mean", &attrib::LinearFit::x_mean)
      .def_readonly("x_mean_lo", &attrib::LinearFit::x_mean_lo)
      .def_readonly("y_mean", &attrib::LinearFit::y_mean)
      .def_readonly("y_mean_lo", &attrib::LinearFit::y_mean_lo)
      .def_readonly("sum_w", &attrib::LinearFit::sum_w)
      .def_readonly("col_scale", &attrib::LinearFit::col_scale)
      .def_readonly("chol", &attrib::LinearFit::chol)
      .def_readonly("chol_inv", &attrib::LinearFit::chol_inv)
      .def_readonly("dual", &attrib::LinearFit::dual)
      .def_readonly("alpha", &attrib::LinearFit::alpha)
      .def_readonly("hat", &attrib::LinearFit::hat)
      .def_readonly("resid", &attrib::LinearFit::resid)
      .def_readonly("rcond", &attrib::LinearFit::rcond)
      .def_readonly("exact_fit", &attrib::LinearFit::exact_fit)
      // (lo, hi) as core.fingerprint(X) / (w) gives them, taken by the fit's first pass; not
      // pickled (results keep their own copy).
      .def_property_readonly("x_fingerprint",
                             [](const attrib::LinearFit& f) { return py::make_tuple(f.x_fingerprint.lo, f.x_fingerprint.hi); })
      .def_property_readonly("w_fingerprint",
                             [](const attrib::LinearFit& f) { return py::make_tuple(f.w_fingerprint.lo, f.w_fingerprint.hi); })
      .def(
          "inv_gram_sd",
          [](const attrib::LinearFit& f) {
            Eigen::VectorXd out;
            {
              py::gil_scoped_release nogil;
              out = attrib::linear_inv_gram_sd(f);
            }
            return out;
          },
          "sqrt(diag(A^-1)) in the original parametrisation, intercept first (p).")
      .def(
          "gram_quad",
          [](const attrib::LinearFit& f, const CRef& D) {
            Eigen::VectorXd out;
            {
              py::gil_scoped_release nogil;
              out = attrib::linear_gram_quad(f, D);
            }
            return out;
          },
          "D"_a.noconvert(), "d_g' A d_g for each row d_g of D (n_groups x p, intercept first).")
      // Every field, so that a result holding the fit can be pickled (for joblib, Dask, caching).
      // The Python result re-creates the fit with the CPU build loaded where it is unpickled.
      .def(py::pickle(
          [](const attrib::LinearFit& f) {
            return py::make_tuple(kLinearFitStateVersion, f.coef, f.intercept, f.fit_intercept, f.x_mean, f.y_mean,
                                  f.sum_w, f.chol, f.chol_inv, f.hat, f.resid, f.rcond, f.x_mean_lo, f.y_mean_lo,
                                  f.col_scale, f.dual, f.alpha, f.dual_z, f.dual_r, f.dual_v_scale, f.exact_fit);
          },
          [](const py::tuple& t) {
            if (t.size() != kLinearFitStateSize || t[0].cast<int>() != kLinearFitStateVersion)
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
            f.x_mean_lo = t[12].cast<Eigen::VectorXd>();
            f.y_mean_lo = t[13].cast<double>();
            f.col_scale = t[14].cast<Eigen::VectorXd>();
            f.dual = t[15].cast<bool>();
            f.alpha = t[16].cast<double>();
            f.dual_z = t[17].cast<RowMatrixXd>();
            f.dual_r = t[18].cast<RowMatrixXd>();
            f.dual_v_scale = t[19].cast<Eigen::VectorXd>();
            f.exact_fit = t[20].cast<bool>();
            const auto d = f.coef.size(), n = f.hat.size();
            const bool primal_ok = f.chol.rows() == d && f.chol.cols() == d && f.chol_inv.rows() == d && f.chol_inv.cols() == d;
            const bool dual_ok = f.dual_z.rows() == n && f.dual_z.cols() == d && f.dual_r.rows() == n &&
                                 f.dual_r.cols() == n && f.dual_v_scale.size() == n;
            if (!(f.dual ? dual_ok : primal_ok) || f.x_mean.size() != d || f.x_mean_lo.size() != d ||
                f.col_scale.size() != d || f.hat.size() != f.resid.size())
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
         bool with_dfbeta, attrib::LinearForm form, bool fingerprint) -> py::tuple {
        attrib::LinearFit fit;
        if (!with_dfbeta) {
          {
            py::gil_scoped_release nogil;
            fit = attrib::linear_fit(X, y, w, alpha, fit_intercept, n_threads, nullptr, form, fingerprint);
          }
          return py::make_tuple(std::move(fit), py::none());
        }
        py::array_t<double> out = numpy_matrix(X.rows(), X.cols() + (fit_intercept ? 1 : 0));
        Eigen::Map<RowMatrixXd> o = view(out);
        Eigen::Ref<RowMatrixXd> ref(o);
        {
          py::gil_scoped_release nogil;
          fit = attrib::linear_fit(X, y, w, alpha, fit_intercept, n_threads, &ref, form, fingerprint);
        }
        return py::make_tuple(std::move(fit), out);
      },
      "X"_a.noconvert(), "y"_a.noconvert(), "w"_a.noconvert(), "alpha"_a, "fit_intercept"_a, "n_threads"_a,
      "with_dfbeta"_a = false, "form"_a = attrib::LinearForm::automatic, "fingerprint"_a = false);

  m.def(
      "linear_dfbeta",
      [](const CRef& X, const attrib::LinearFit& fit, const VRef& c, int n_threads, Eigen::Ref<RowMatrixXd> out) {
        py::gil_scoped_release nogil;
        attrib::linear_dfbeta(X, fit, c, out, n_threads);
      },
      "X"_a.noconvert(), "fit"_a, "c"_a.noconvert(), "n_threads"_a, "out"_a.noconvert(),
      "Writes dfbeta rows into out (len(X) x p, C-contiguous float64; a row slice of a larger result is fine).");

  m.def(
      "linear_prediction_change",
      [](const CRef& X, const CRef& X_test, const attrib::LinearFit& fit, const VRef& c, int n_threads,
         Eigen::Ref<RowMatrixXd> out) {
        py::gil_scoped_release nogil;
        attrib::linear_prediction_change(X, X_test, fit, c, out, n_threads);
      },
      "X"_a.noconvert(), "X_test"_a.noconvert(), "fit"_a, "c"_a.noconvert(), "n_threads"_a, "out"_a.noconvert(),
      "Writes the prediction changes into out (len(X) x len(X_test), C-contiguous float64; a row slice is fine).");

  m.def("linear_row_block", &attrib::linear_row_block, "cols"_a,
        "Rows per fixed block of the linear row passes for this many columns (pieces start at its multiples).");

  m.def(
      "linear_group_loo",
      [](const CRef& X, const VRef& w, const attrib::LinearFit& fit, const IndexArray& offsets_in,
         const IndexArray& indices_in, int n_threads) {
        // int64 arrays copied in one go (a std::vector argument would convert element by element
        // through Python integers: 0.1 s per 100,000 rows).
        const auto as_vector = [](const IndexArray& a) {
          if (a.ndim() != 1) throw std::invalid_argument("linear_group_loo: offsets and indices must be 1-D");
          return std::vector<std::int64_t>(a.data(), a.data() + a.size());
        };
        const std::vector<std::int64_t> offsets = as_vector(offsets_in), indices = as_vector(indices_in);
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
