// Python bindings for the streams of every cell: one timestep per call, the state carried
// between calls.
#include <pybind11/pybind11.h>

#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "cell_kind.hpp"
#include "checks.hpp"
#include "without_gil.hpp"

namespace fastlstm::bindings {
namespace {

using Shape = std::vector<py::ssize_t>;

// One timestep per call. The weights are copied in, so later changes to the caller's arrays do
// not reach a running stream. A mutex makes concurrent steps on one stream safe (they serialise).
template <typename Cell, typename T>
class StreamBinding {
  static constexpr bool kCell = Cell::kHasCell;

 public:
  StreamBinding(const py::handle& kernel_obj, const py::handle& recurrent_obj,
                const py::handle& bias_obj, py::ssize_t batch, const py::handle& peephole,
                const py::handle& clip, const py::handle& projection)
      : StreamBinding(as_array<T>(kernel_obj, "kernel"),
                      as_array<T>(recurrent_obj, "recurrent_kernel"), as_array<T>(bias_obj, "bias"),
                      batch, peephole, clip, projection_or_none<Cell, T>(projection)) {}

  py::ssize_t batch() const { return core_.batch(); }
  py::ssize_t input_size() const { return core_.input_size(); }
  py::ssize_t hidden_size() const { return core_.hidden_size(); }
  py::ssize_t blocks() const { return core_.blocks(); }  // unit blocks a step is split into
  py::ssize_t state_size() const {
    return core_.state_size();
  }  // h's width: H, or the projection's

  // x: (B, I). Returns h_t (B, H), written into `out` when one is given (no allocation).
  py::object step(const py::handle& x_obj, const py::handle& out_obj) {
    const auto x = as_array<T>(x_obj, "x_t", /*align=*/false);  // the core copies it in
    expect_shape(x, "x_t", {batch(), input_size()}, "(batch, input)");
    // Not default-constructed then assigned: an empty Array<T> is a NumPy array made and freed
    // each step. Dropping it took the step at I=64, H=128 from 3.35 to 3.26 us (GRU 2.92 to 2.77).
    Array<T> out = out_obj.is_none() ? Array<T>({batch(), state_size()})
                                     : writable_out(out_obj, {batch(), state_size()});
    std::mutex& mu = lock_for_this_process();
    without_gil([&] {
      std::lock_guard<std::mutex> lock(mu);
      core_.step(x.data());
      std::memcpy(out.mutable_data(), core_.h(), sizeof(T) * out.size());
    });
    return std::move(out);
  }

  // x: (B, T, I). Advances T steps; returns h_t for each, (B, T, H), written into `out` when one
  // is given. With `reset`, from a zero state, set under the same hold of the lock (two threads
  // answering requests on one stream must not start from each other's states).
  py::object run(const py::handle& x_obj, const py::handle& out_obj, bool reset) {
    const auto x = as_array<T>(x_obj, "x");
    expect_ndim(x, "x", 3, "(batch, time, input)");
    const py::ssize_t steps = x.shape(1);
    if (x.shape(0) != batch() || x.shape(2) != input_size()) {  // any number of steps will do
      throw std::invalid_argument("x: expected shape (" + std::to_string(batch()) + ", time, " +
                                  std::to_string(input_size()) +
                                  ") (batch, time, input; batch-major), got " + shape_str(x));
    }
    const Shape shape{batch(), steps, state_size()};
    Array<T> out = out_obj.is_none() ? aligned_empty<T>(shape, "run's output for x's steps")
                                     : writable_out(out_obj, {batch(), steps, state_size()});
    // The walk writes h_t while later steps of x are still to be read. The caller's x is
    // checked too, not only the copy that as_array may have made of it: whether a call is
    // refused must not depend on where x happens to lie.
    if (spans_overlap(out, x) || (py::isinstance<py::array>(x_obj) &&
                                  spans_overlap(out, py::reinterpret_borrow<py::array>(x_obj)))) {
      throw std::invalid_argument(
          "out: expected an array that does not share memory with x, got one that does");
    }
    std::mutex& mu = lock_for_this_process();
    without_gil([&] {
      std::lock_guard<std::mutex> lock(mu);
      if (reset) zero_state();
      core_.run(x.data(), steps, out.mutable_data());
    });
    return std::move(out);
  }

  // A copy of the carried state: (h, c), or (h,) for cells without a cell state.
  py::tuple state() {
    Array<T> h({batch(), state_size()}), c(kCell ? Shape{batch(), hidden_size()} : Shape{0});
    T* const hd = h.mutable_data();
    T* const cd = c.mutable_data();
    std::mutex& mu = lock_for_this_process();
    without_gil([&] {  // a run() in another thread may hold the lock for a long time
      std::lock_guard<std::mutex> lock(mu);
      std::memcpy(hd, core_.h(), sizeof(T) * batch() * state_size());
      if (kCell) std::memcpy(cd, core_.c(), sizeof(T) * batch() * hidden_size());
    });
    if (!kCell) return py::make_tuple(h);
    return py::make_tuple(h, c);
  }

  // Sets h (and c); None means zeros. `name` is the argument's name in messages.
  void set_state(const py::handle& h_obj, const py::handle& c_obj, const std::string& name) {
    const auto h =
        optional_state(h_obj, kCell ? (name + "[0]").c_str() : name.c_str(), state_size());
    const auto c =
        kCell ? optional_state(c_obj, (name + "[1]").c_str(), hidden_size()) : std::nullopt;
    const size_t h_bytes = sizeof(T) * batch() * state_size();
    const size_t c_bytes = sizeof(T) * batch() * hidden_size();
    const T* const hd = h ? h->data() : nullptr;
    const T* const cd = c ? c->data() : nullptr;
    std::mutex& mu = lock_for_this_process();
    without_gil([&] {
      std::lock_guard<std::mutex> lock(mu);
      hd ? (void)std::memcpy(core_.h(), hd, h_bytes) : (void)std::memset(core_.h(), 0, h_bytes);
      if (!kCell) return;
      cd ? (void)std::memcpy(core_.c(), cd, c_bytes) : (void)std::memset(core_.c(), 0, c_bytes);
    });
  }

 private:
  // h (and c) = 0; the caller holds the lock.
  void zero_state() {
    std::memset(core_.h(), 0, sizeof(T) * batch() * state_size());
    if (kCell) std::memset(core_.c(), 0, sizeof(T) * batch() * hidden_size());
  }

  // The caller's `out`: a C-contiguous, writable array of this dtype and shape (the last
  // dimension h's width). The shape is a list, not a vector: nothing allocated on a step.
  Array<T> writable_out(const py::handle& obj, std::initializer_list<py::ssize_t> shape) const {
    refuse_masked(obj, "out");  // its mask would be returned unchanged over new values
    if (!py::isinstance<Array<T>>(obj)) {
      throw py::type_error(std::string("out: expected a C-contiguous ") +
                           std::string(py::str(py::dtype::of<T>())) + " array, got " +
                           describe(obj));
    }
    auto out = py::reinterpret_borrow<Array<T>>(obj);
    const bool seq = shape.size() == 3;
    const char* meaning = state_size() == hidden_size()
                              ? (seq ? "(batch, time, hidden)" : "(batch, hidden)")
                              : (seq ? "(batch, time, proj)" : "(batch, proj)");
    expect_shape(out, "out", shape, meaning);
    if (!out.writeable()) throw std::invalid_argument("out: the array is read-only");
    return out;
  }

  std::optional<Array<T>> optional_state(const py::handle& obj, const char* name,
                                         py::ssize_t width) const {
    if (obj.is_none()) return std::nullopt;
    auto a = as_array<T>(obj, name);
    expect_shape(a, name, {batch(), width},
                 width == hidden_size() ? "(batch, hidden)" : "(batch, proj)");
    return a;
  }

  StreamBinding(const Array<T>& kernel, const Array<T>& recurrent, const Array<T>& bias,
                py::ssize_t batch, const py::handle& peephole, const py::handle& clip,
                const std::optional<Array<T>>& projection)
      : core_(make_core(kernel, recurrent, bias, batch, peephole, clip, projection)) {}

  static Stream<Cell, T> make_core(const Array<T>& kernel, const Array<T>& recurrent,
                                   const Array<T>& bias, py::ssize_t batch,
                                   const py::handle& peephole, const py::handle& clip,
                                   const std::optional<Array<T>>& projection) {
    if (batch < 1) {
      throw std::invalid_argument("batch_size: expected a positive integer, got " +
                                  std::to_string(batch));
    }
    const SeqShape s =
        check_weights<Cell>(kernel, recurrent, bias, -1, projection ? &*projection : nullptr);
    const T* rb = Cell::kRecurrentBias ? bias.data() + bias.shape(1) : nullptr;
    const auto options = check_options<Cell, T>(peephole, clip, s.H);
    // Its buffers hold at least x_t, h twice, c and the saved blocks for every row: a batch
    // beyond the machine's memory is refused before the allocator says yes to it.
    const double row_bytes =
        double(s.I + 2 * s.state_width() + s.H + Cell::kSaved * s.H) * sizeof(T);
    if (physical_memory() > 0 && double(batch) * row_bytes > physical_memory()) {
      throw std::invalid_argument("batch_size: " + std::to_string(batch) +
                                  " streams need more than this machine's memory" +
                                  gib(physical_memory()));
    }
    try {
      return Stream<Cell, T>(
          {kernel.data(), recurrent.data(), bias.data(), rb, options.peephole_data(), options.clip,
           projection ? projection->data() : nullptr},
          batch, s.I, s.H, s.state_width());
    } catch (const std::bad_alloc&) {
      throw std::invalid_argument("batch_size: " + std::to_string(batch) +
                                  " streams do not fit in memory");
    }
  }

  // The lock that serialises calls on this stream, taken with the GIL released. A child forked
  // while another thread held it would wait for ever on the copy: the first call in a new
  // process (under the GIL, so one at a time) gives the stream a new lock and leaves the old one
  // unused (fastlstm::fork_count counts the forks).
  std::mutex& lock_for_this_process() {
    const unsigned forks = fork_count().load();
    if (forks != forks_) {
      (void)mu_.release();
      mu_ = std::make_unique<std::mutex>();
      forks_ = forks;
    }
    return *mu_;
  }

  std::unique_ptr<std::mutex> mu_ = std::make_unique<std::mutex>();
  unsigned forks_ = fork_count().load();
  Stream<Cell, T> core_;
};

template <typename Cell, typename T>
void register_stream(py::module_& m, const std::string& name) {
  using S = StreamBinding<Cell, T>;
  py::class_<S>(m, name.c_str())
      .def(py::init<const py::handle&, const py::handle&, const py::handle&, py::ssize_t,
                    const py::handle&, const py::handle&, const py::handle&>(),
           py::arg("kernel"), py::arg("recurrent_kernel"), py::arg("bias"), py::arg("batch_size"),
           py::arg("peephole") = py::none(), py::arg("clip") = py::none(),
           py::arg("projection") = py::none())
      .def_property_readonly("batch_size", &S::batch)
      .def_property_readonly("input_size", &S::input_size)
      .def_property_readonly("units", &S::hidden_size)
      .def_property_readonly("state_size", &S::state_size)
      .def_property_readonly("blocks", &S::blocks)
      .def("step", &S::step, py::arg("x_t"), py::arg("out") = py::none(),
           "Advance one timestep. x_t: (batch, input). Returns h_t (batch, units); with `out` "
           "given, h_t is written into it and nothing is allocated.")
      .def("run", &S::run, py::arg("x"), py::arg("out") = py::none(), py::arg("reset") = false,
           "Advance x.shape[1] timesteps. x: (batch, time, input). Returns h_t for each, "
           "(batch, time, units); with `out` given, they are written into it. reset=True starts "
           "from a zero state, set in the same step (one request on a shared stream).")
      .def("state", &S::state, "A copy of the carried state, (h, c) or (h,), each (batch, units).")
      .def("set_state", &S::set_state, py::arg("h"), py::arg("c"), py::arg("name") = "state",
           "Set the carried state; None for either means zeros.");
}

}  // namespace

// One class per cell and dtype: Stream_<cell>_f32 and Stream_<cell>_f64.
void register_stream(py::module_& m) {
  for (const char* cell : {"lstm", "gru", "gru_reset_before", "rnn_tanh", "rnn_relu"}) {
    with_cell(cell, [&](auto tag) {
      using Cell = decltype(tag);
      register_stream<Cell, float>(m, std::string("Stream_") + cell + "_f32");
      register_stream<Cell, double>(m, std::string("Stream_") + cell + "_f64");
    });
  }
}

}  // namespace fastlstm::bindings
