// Sherman-Morrison-Woodbury primitives, exposed for testing them against dense numpy algebra.
#include <pybind11/eigen.h>
#include <pybind11/pybind11.h>

#include "attrib/smw.hpp"
#include "bindings.hpp"

namespace py = pybind11;
using attrib::RowMatrixXd;

namespace attrib_bindings {

void register_smw(py::module_& m) {
  // Each takes a copy of the matrix and returns the updated one: these are test hooks, not hot paths.
  m.def("_sherman_morrison_update", [](RowMatrixXd Ainv, const Eigen::VectorXd& u, double s) {
    attrib::sherman_morrison_update(Ainv, u, s);
    return Ainv;
  });
  m.def("_woodbury_update", [](RowMatrixXd Ainv, const RowMatrixXd& U, const Eigen::VectorXd& c) {
    attrib::woodbury_update(Ainv, U, c);
    return Ainv;
  });
  m.def("_cholesky_update", [](RowMatrixXd L, const Eigen::VectorXd& x) {
    attrib::cholesky_update(L, x);
    return L;
  });
  m.def("_cholesky_downdate", [](RowMatrixXd L, const Eigen::VectorXd& x) {
    attrib::cholesky_downdate(L, x);
    return L;
  });
}

}  // namespace attrib_bindings
