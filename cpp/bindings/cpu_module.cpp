// fastlstm._cpu: the CPU check alone, built with the compiler's plain defaults (no -march), so
// that a CPU below the baseline level can run it and hear why fastlstm will not load, where
// importing the baseline module itself (built for x86-64-v2) could stop on an illegal
// instruction first.
#include <pybind11/pybind11.h>

namespace py = pybind11;

namespace fastlstm::bindings {
void register_cpu(py::module_& m);
}  // namespace fastlstm::bindings

PYBIND11_MODULE(_cpu, m) {
  m.doc() = "What this CPU supports, for choosing fastlstm's compiled module.";
  fastlstm::bindings::register_cpu(m);
}
