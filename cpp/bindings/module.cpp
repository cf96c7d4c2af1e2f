// The extension module, built once per ISA level as fastlstm._core_<level> (FASTLSTM_MODULE);
// fastlstm/_core.py imports the one this CPU runs best. One register_* call per binding file.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "checks.hpp"
#include "fastlstm/blocks.hpp"
#include "fastlstm/info.hpp"
#include "fastlstm/threads.hpp"
#include "without_gil.hpp"

namespace py = pybind11;

namespace fastlstm::bindings {
namespace {

// (directory, is_v2) pairs from Python, for the memory checks (memory.hpp).
std::vector<MemoryGroup> memory_groups(const py::sequence& items) {
  std::vector<MemoryGroup> groups;
  for (const py::handle item : items) {
    const auto pair = item.cast<py::tuple>();
    groups.push_back({pair[0].cast<std::string>(), pair[1].cast<bool>()});
  }
  return groups;
}

// erf of every element, for the gelu activation (NumPy has no erf). Any shape; the result is a
// new C-ordered array of x's dtype (float32 or float64: activations.py passes only those).
template <typename T>
py::array_t<T> erf_of(const py::array_t<T, py::array::c_style>& x) {
  py::array_t<T> y(std::vector<py::ssize_t>(x.shape(), x.shape() + x.ndim()));
  const T* in = x.data();
  T* out = y.mutable_data();
  const py::ssize_t n = x.size();
  {
    py::gil_scoped_release nogil;
    for (py::ssize_t i = 0; i < n; ++i) out[i] = std::erf(in[i]);
  }
  return y;
}

}  // namespace

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
        if (n < 1 || n > fastlstm::kMaxThreads) {
          throw std::invalid_argument("n: expected a number of threads from 1 to " +
                                      std::to_string(fastlstm::kMaxThreads) + ", got " +
                                      std::to_string(n));
        }
        fastlstm::set_num_threads(n);
      },
      py::arg("n"), "Set the threads one call of the core may use.");
  m.def(
      "_pause_workers_for_tests",
      [](int microseconds) { fastlstm::worker_pause_us().store(std::max(microseconds, 0)); },
      py::arg("microseconds"),
      "Tests only: woken workers pause this long between reading their job and whether to end.");
  m.def(
      "max_threads", [] { return fastlstm::kMaxThreads; },
      "The most threads set_num_threads takes.");
  m.def("_room_for", &fastlstm::bindings::room_for, py::arg("bytes"),
        "Whether `bytes` more fit in the memory free now (asked of the system only for sizes "
        "beyond _unchecked_bytes()).");
  m.def("_unchecked_bytes", &fastlstm::bindings::unchecked_bytes,
        "Sizes up to this fit without asking the system: a sixteenth of the memory this process "
        "may use, at most 32 MiB.");
  m.def("_available_memory", &fastlstm::bindings::available_memory,
        "Bytes new arrays can take now: MemAvailable plus SwapFree, or a cgroup's room.");
  m.def("_memory_limit", &fastlstm::bindings::memory_limit,
        "The most memory this process may use: the machine's, or its cgroups' limit (0: unknown).");
  m.def(
      "_set_memory_groups",
      [](const py::sequence& groups) {
        fastlstm::bindings::set_memory_groups(fastlstm::bindings::memory_groups(groups));
      },
      py::arg("groups"),
      "The process's cgroups with a memory controller, (directory, is_v2) each, whose limits "
      "and use the memory checks read (fastlstm/_cgroups.py finds them at import).");
  m.def(
      "_group_memory",
      [](const py::sequence& groups) {
        using namespace fastlstm::bindings;
        const GroupMemory g = group_memory(memory_groups(groups));
        return py::make_tuple(g.limit, g.room);
      },
      py::arg("groups"),
      "(limit, room) in bytes that the cgroups (directory, is_v2) allow now (inf: no limit).");
  m.def("_at_exit", &fastlstm::bindings::at_exit,
        "Registered with atexit by fastlstm._core: calls that end after it keep their thread "
        "(other than the exiting one) from taking the GIL again (see without_gil.hpp).");
  // For the tests: the pool's hand-over from one job to the next, many times over, with jobs of
  // 1 to `items` items in turn. Returns the items that did not run exactly once, and the jobs
  // whose item 0 ran on a thread other than the caller's (Pool::run keeps it there).
  m.def(
      "check_pool",
      [](long jobs, int items) {
        if (items < 1 || items > fastlstm::kMaxThreads) {
          throw std::invalid_argument("items: expected 1 to " +
                                      std::to_string(fastlstm::kMaxThreads) + ", got " +
                                      std::to_string(items));
        }
        py::gil_scoped_release nogil;
        std::vector<std::atomic<int>> runs(items);
        const std::thread::id caller = std::this_thread::get_id();
        std::thread::id first;
        long bad = 0, moved = 0;
        for (long j = 0; j < jobs; ++j) {
          // Every other job has them all, after one with fewer: a worker still claiming items
          // of the smaller job must not take one of the larger.
          const fastlstm::Index n = j % 2 ? items : 1 + j / 2 % items;
          for (fastlstm::Index i = 0; i < n; ++i) runs[i].store(0);
          auto item = [&](fastlstm::Index i) {
            runs[i].fetch_add(1);
            if (i == 0) first = std::this_thread::get_id();
          };
          fastlstm::this_threads_pool().run(n, item);
          for (fastlstm::Index i = 0; i < n; ++i) bad += runs[i].load() != 1 ? 1 : 0;
          moved += first != caller ? 1 : 0;
        }
        return std::pair{bad, moved};
      },
      py::arg("jobs"), py::arg("items"));
  m.def(
      "pool_workers",
      [] {
        const auto& pool = fastlstm::pool_slot();
        return pool ? pool->workers() : std::size_t{0};
      },
      "For tests: the worker threads of the calling thread's pool (0 before its first parallel "
      "call).");
  m.def("erf", &fastlstm::bindings::erf_of<float>, py::arg("x").noconvert(),
        "The error function of every element of a float32 array.");
  m.def("erf", &fastlstm::bindings::erf_of<double>, py::arg("x").noconvert(),
        "The error function of every element of a float64 array.");
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
