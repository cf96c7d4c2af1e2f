// What the running CPU supports, for choosing a module at import. Every module has this; the
// loader asks the baseline one, which runs on any x86-64-v2 CPU.
#include <pybind11/pybind11.h>

#include <string>

namespace py = pybind11;

namespace fastlstm::bindings {

namespace {

// True when the CPU (and the OS, which must save the wider registers) supports `level`.
bool cpu_supports(const std::string& level) {
#if defined(__x86_64__) && defined(__GNUC__)
  __builtin_cpu_init();
  if (level == "baseline") return __builtin_cpu_supports("x86-64-v2");
  if (level == "v3") return __builtin_cpu_supports("x86-64-v3");
  if (level == "v4") return __builtin_cpu_supports("x86-64-v4");
  return false;
#else
  return level == "baseline";
#endif
}

}  // namespace

void register_cpu(py::module_& m) {
  m.def("cpu_supports", &cpu_supports, py::arg("level"),
        "Whether this CPU can run the module built for `level` (baseline, v3 or v4).");
}

}  // namespace fastlstm::bindings
