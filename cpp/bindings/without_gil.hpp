// Work with the GIL released, and what becomes of it when the interpreter exits.
//
// Python 3.11 to 3.13 end a thread that wants the GIL back once the interpreter is finalizing by
// pthread_exit, whose unwinding through pybind11's gil_scoped_release (noexcept) calls
// std::terminate: a service whose daemon threads (ThreadingHTTPServer's request threads) were
// inside calls aborted at exit with SIGABRT, 8 runs of 8. So an atexit hook (at_exit) closes the
// calls: a thread other than the exiting one that finishes a call from then on does not take the
// GIL back while the exit may be about to finalize the interpreter. It waits without the GIL:
// once the interpreter is finalizing, for good (the process is ending); if the interpreter is
// still up kExitGrace after the hook (atexit handlers registered before fastlstm was imported
// run after its hook, and one may be joining this very thread), it takes the GIL and returns.
// The hook first lets calls that were already past that point take the GIL and go.
#pragma once

#include <pybind11/pybind11.h>

#include <atomic>
#include <chrono>
#include <new>
#include <thread>

#include "fastlstm/threads.hpp"

namespace fastlstm::bindings {

namespace py = pybind11;

// How long after the hook a finishing call waits before it takes the GIL back all the same.
constexpr std::chrono::seconds kExitGrace{1};

struct ExitState {
  std::atomic<bool> closing{false};
  std::atomic<std::chrono::steady_clock::rep> closed_at{0};
  std::atomic<int> leaving{0};  // calls between their look at `closing` and holding the GIL
  std::atomic<std::thread::id> closer{};
};

// Never destroyed: daemon threads may still look at it while static destructors run.
inline ExitState& exit_state() {
  static ExitState* state = new ExitState;
  return *state;
}

inline bool finalizing() {
#if PY_VERSION_HEX >= 0x030D0000
  return Py_IsFinalizing() != 0;
#else
  return _Py_IsFinalizing() != 0;
#endif
}

// A call that finished after the hook: returns once it may take the GIL back (see above).
inline void wait_out_exit(const ExitState& e) {
  const auto closed = std::chrono::steady_clock::time_point(
      std::chrono::steady_clock::duration(e.closed_at.load()));
  for (;;) {
    if (finalizing()) {
      for (;;) std::this_thread::sleep_for(std::chrono::hours(1));
    }
    if (std::chrono::steady_clock::now() >= closed + kExitGrace) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

// Runs fn() with the GIL released (fn must not touch Python objects), at the thread count set
// when it starts. The core's own buffers that cannot be allocated (std::bad_alloc: the arrays a
// call returns are allocated and named before) raise a MemoryError saying so.
template <typename Fn>
void without_gil(Fn&& fn) {
  ExitState& e = exit_state();
  bool out_of_memory = false;
  {
    py::gil_scoped_release nogil;
    {
      PinThreads pin;
      try {
        fn();
      } catch (const std::bad_alloc&) {
        out_of_memory = true;
      }
    }
    // Counted before looking (both sequentially consistent, as at_exit's store and load are):
    // at_exit either sees this call leaving and waits for it, or this call sees `closing`.
    e.leaving.fetch_add(1);
    if (e.closing.load() && std::this_thread::get_id() != e.closer.load()) {
      e.leaving.fetch_sub(1);
      wait_out_exit(e);
      e.leaving.fetch_add(1);
    }
  }
  e.leaving.fetch_sub(1);  // with the GIL
  if (out_of_memory) {
    PyErr_SetString(PyExc_MemoryError,
                    "the call's working buffers (sized by its batch, sequence and weights) cannot "
                    "be allocated: the allocator refused them (a limit on this process's memory, "
                    "or memory in use)");
    throw py::error_already_set();
  }
}

// The atexit hook, called with the GIL held by the thread that exits.
inline void at_exit() {
  ExitState& e = exit_state();
  e.closer.store(std::this_thread::get_id());
  e.closed_at.store(std::chrono::steady_clock::now().time_since_epoch().count());
  e.closing.store(true);
  py::gil_scoped_release nogil;  // calls already leaving need the GIL to leave
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  while (e.leaving.load() > 0 && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::microseconds(20));
  }
}

}  // namespace fastlstm::bindings
