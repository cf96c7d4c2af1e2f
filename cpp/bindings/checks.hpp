// Argument checks for the bindings. Every message names the argument, what was expected and what
// arrived; std::invalid_argument becomes ValueError in Python.
#pragma once

#include <pybind11/numpy.h>

#include <vector>
#include <stdexcept>
#include <string>

namespace fastlstm::bindings {

namespace py = pybind11;

template <typename T>
using Array = py::array_t<T, py::array::c_style | py::array::forcecast>;

inline std::string shape_str(const py::array& a) {
  std::string s = "(";
  for (py::ssize_t d = 0; d < a.ndim(); ++d) {
    if (d) s += ", ";
    s += std::to_string(a.shape(d));
  }
  return s + (a.ndim() == 1 ? ",)" : ")");
}

// Raise unless `a` has exactly `dims`; `meaning` names the axes, e.g. "(batch, hidden)".
inline void expect_shape(const py::array& a, const char* name,
                         const std::vector<py::ssize_t>& dims, const char* meaning) {
  bool ok = a.ndim() == static_cast<py::ssize_t>(dims.size());
  for (size_t d = 0; ok && d < dims.size(); ++d) ok = a.shape(d) == dims[d];
  if (!ok) {
    std::string want = "(";
    for (size_t d = 0; d < dims.size(); ++d) want += (d ? ", " : "") + std::to_string(dims[d]);
    want += dims.size() == 1 ? ",)" : ")";
    throw std::invalid_argument(std::string(name) + ": expected shape " + want + " " + meaning +
                                ", got " + shape_str(a));
  }
}

inline void expect_ndim(const py::array& a, const char* name, py::ssize_t ndim,
                        const char* meaning) {
  if (a.ndim() != ndim) {
    throw std::invalid_argument(std::string(name) + ": expected a " + std::to_string(ndim) +
                                "-D array " + meaning + ", got shape " + shape_str(a));
  }
}

}  // namespace fastlstm::bindings

namespace fastlstm::bindings {

// The one dtype rule: compute in float64 when the kernel is float64, in float32 otherwise.
inline bool wants_double(const py::handle& kernel) {
  return py::isinstance<py::array>(kernel) &&
         py::reinterpret_borrow<py::array>(kernel).dtype().is(py::dtype::of<double>());
}

// Any array-like of real numbers (bool, integer or float) as a C-contiguous array of T, copied
// only when its dtype or layout differs. Complex, object and string data raise TypeError.
template <typename T>
Array<T> as_array(const py::handle& obj, const char* name) {
  py::array a;
  try {
    a = py::array::ensure(obj);
  } catch (const py::error_already_set&) {
  }
  if (!a) {
    throw py::type_error(std::string(name) + ": expected an array of real numbers, got " +
                         std::string(py::str(py::type::of(obj).attr("__name__"))));
  }
  const char kind = a.dtype().kind();
  if (kind != 'f' && kind != 'i' && kind != 'u' && kind != 'b') {
    throw py::type_error(std::string(name) + ": expected an array of real numbers (" +
                         std::string(py::str(py::dtype::of<T>())) + "), got dtype " +
                         std::string(py::str(a.dtype())));
  }
  Array<T> converted = Array<T>::ensure(a);
  if (!converted) {
    throw py::type_error(std::string(name) + ": cannot convert dtype " +
                         std::string(py::str(a.dtype())) + " to " +
                         std::string(py::str(py::dtype::of<T>())));
  }
  return converted;
}

}  // namespace fastlstm::bindings
