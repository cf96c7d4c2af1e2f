// The extension module `fastlstm._core`: one register_* call per binding file.
#include <omp.h>
#include <pybind11/pybind11.h>

#include "fastlstm/info.hpp"

namespace py = pybind11;

namespace fastlstm::bindings {
void register_lstm(py::module_& m);
}

PYBIND11_MODULE(_core, m) {
  m.doc() = "fastlstm's compiled core. Use the functions of the fastlstm package instead.";
  m.attr("__version__") = FASTLSTM_VERSION;
  m.def("simd_level", &fastlstm::simd_level, "SIMD level the core was compiled for.");
  m.def("simd_instructions", &fastlstm::simd_instructions,
        "Vector instruction sets Eigen uses in this build.");
  m.def("max_threads", &omp_get_max_threads, "Threads the core's parallel regions may use.");
  fastlstm::bindings::register_lstm(m);
}
