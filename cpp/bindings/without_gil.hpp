// Work with the GIL released, and what becomes of it when the interpreter exits.
//
// Python 3.11 ends a daemon thread that wants the GIL back once the interpreter is finalizing by
// pthread_exit, whose unwinding through pybind11's gil_scoped_release (noexcept) calls
// std::terminate: a service whose daemon threads (ThreadingHTTPServer's request threads) were
// inside calls aborted at exit with SIGABRT, 8 runs of 8. So an atexit hook (at_exit, which
// Python runs before finalizing) closes the calls: a thread other than the exiting one that
// finishes a call from then on never takes the GIL back, and sleeps until the process ends. The
// hook first lets calls that were already past that point take the GIL and go.
#pragma once

#include <pybind11/pybind11.h>

#include <atomic>
#include <chrono>
#include <thread>

namespace fastlstm::bindings {

namespace py = pybind11;

struct ExitState {
  std::atomic<bool> closing{false};
  std::atomic<int> leaving{0};  // calls between their look at `closing` and holding the GIL
  std::atomic<std::thread::id> closer{};
};

// Never destroyed: daemon threads may still look at it while static destructors run.
inline ExitState& exit_state() {
  static ExitState* state = new ExitState;
  return *state;
}

// Runs fn() with the GIL released (fn must not touch Python objects).
template <typename Fn>
void without_gil(Fn&& fn) {
  ExitState& e = exit_state();
  {
    py::gil_scoped_release nogil;
    fn();
    // Counted before looking (both sequentially consistent, as at_exit's store and load are):
    // at_exit either sees this call leaving and waits for it, or this call sees `closing`.
    e.leaving.fetch_add(1);
    if (e.closing.load() && std::this_thread::get_id() != e.closer.load()) {
      e.leaving.fetch_sub(1);
      for (;;) std::this_thread::sleep_for(std::chrono::hours(1));
    }
  }
  e.leaving.fetch_sub(1);  // with the GIL
}

// The atexit hook, called with the GIL held by the thread that exits.
inline void at_exit() {
  ExitState& e = exit_state();
  e.closer.store(std::this_thread::get_id());
  e.closing.store(true);
  py::gil_scoped_release nogil;  // calls already leaving need the GIL to leave
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  while (e.leaving.load() > 0 && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::microseconds(20));
  }
}

}  // namespace fastlstm::bindings
