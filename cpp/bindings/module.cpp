// The extension module, built once per ISA level as fastlstm._core_<level> (FASTLSTM_MODULE);
// fastlstm/_core.py imports the one this CPU runs best. One register_* call per binding file.
#include <pybind11/pybind11.h>

#include <stdexcept>
#include <string>

#include "fastlstm/blocks.hpp"
#include "fastlstm/info.hpp"
#include "fastlstm/threads.hpp"

namespace py = pybind11;

namespace fastlstm::bindings {
void register_rnn(py::module_& m);
void register_cpu(py::module_& m);
void register_stream(py::module_& m);
}  // namespace fastlstm::bindings

PYBIND11_MODULE(FASTLSTM_MODULE, m) {
  m.doc() = "fastlstm's compiled core. Use the functions of the fastlstm package instead.";
  m.attr("__version__") = FASTLSTM_VERSION;
  m.def("simd_level", &fastlstm::simd_level, "SIMD level the core was compiled for.");
  m.def("simd_instructions", &fastlstm::simd_instructions,
        "Vector instruction sets Eigen uses in this build.");
  m.def("get_num_threads", &fastlstm::num_threads, "Threads one call of the core may use.");
  m.def(
      "set_num_threads",
      [](int n) {
        if (n < 1) {
          throw std::invalid_argument("n: expected a positive number of threads, got " +
                                      std::to_string(n));
        }
        fastlstm::set_num_threads(n);
      },
      py::arg("n"), "Set the threads one call of the core may use.");
  m.def(
      "cached_bytes", [] { return fastlstm::block_cache().held(); },
      "Bytes of freed large buffers the core keeps for reuse.");
  m.def(
      "empty_cache", [] { return fastlstm::block_cache().clear(); },
      "Free the large buffers the core keeps for reuse; returns their bytes.");
  fastlstm::bindings::register_rnn(m);
  fastlstm::bindings::register_stream(m);
  fastlstm::bindings::register_cpu(m);
}
