// The extension module, built once per ISA level as fastlstm._core_<level> (FASTLSTM_MODULE);
// fastlstm/_core.py imports the one this CPU runs best. One register_* call per binding file.
#include <omp.h>
#include <pybind11/pybind11.h>

#include "fastlstm/info.hpp"

namespace py = pybind11;

namespace fastlstm::bindings {
void register_lstm(py::module_& m);
void register_cpu(py::module_& m);
}

PYBIND11_MODULE(FASTLSTM_MODULE, m) {
  m.doc() = "fastlstm's compiled core. Use the functions of the fastlstm package instead.";
  m.attr("__version__") = FASTLSTM_VERSION;
  m.def("simd_level", &fastlstm::simd_level, "SIMD level the core was compiled for.");
  m.def("simd_instructions", &fastlstm::simd_instructions,
        "Vector instruction sets Eigen uses in this build.");
  m.def("max_threads", &omp_get_max_threads, "Threads the core's parallel regions may use.");
  fastlstm::bindings::register_lstm(m);
  fastlstm::bindings::register_cpu(m);
}
