// Python bindings for the LSTM: validate, map the NumPy buffers, release the GIL, call the core.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstring>
#include <mutex>
#include <optional>
#include <vector>

#include "checks.hpp"
#include "fastlstm/lstm.hpp"

namespace fastlstm::bindings {
namespace {

using Shape = std::vector<py::ssize_t>;

// H from recurrent_kernel (H, 4H), checked against kernel (I, 4H) and bias (4H,). I comes from x
// when a sequence is given (input_size >= 0), else from the kernel.
template <typename T>
SeqShape check_weights(const Array<T>& kernel, const Array<T>& recurrent, const Array<T>& bias,
                       py::ssize_t input_size = -1) {
  expect_ndim(recurrent, "recurrent_kernel", 2, "(hidden, 4*hidden)");
  SeqShape s;
  s.H = recurrent.shape(0);
  if (s.H < 1) {
    throw std::invalid_argument(
        "recurrent_kernel: expected shape (hidden, 4*hidden) with hidden >= 1, got " +
        shape_str(recurrent));
  }
  const py::ssize_t G = 4 * s.H;
  expect_shape(recurrent, "recurrent_kernel", {s.H, G}, "(hidden, 4*hidden)");
  if (input_size < 0) {
    expect_ndim(kernel, "kernel", 2, "(input, 4*hidden)");
    input_size = kernel.shape(0);
  }
  s.I = input_size;
  expect_shape(kernel, "kernel", {s.I, G}, "(input, 4*hidden) to match x and recurrent_kernel");
  expect_shape(bias, "bias", {G}, "(4*hidden,) to match recurrent_kernel");
  return s;
}

// Sizes from x (3-D) and the weights, checked against each other.
template <typename T>
SeqShape check_sizes(const Array<T>& x, const Array<T>& kernel, const Array<T>& recurrent,
                     const Array<T>& bias, bool time_major) {
  expect_ndim(x, "x", 3, time_major ? "(time, batch, input)" : "(batch, time, input)");
  SeqShape s = check_weights(kernel, recurrent, bias, x.shape(2));
  s.time_major = time_major;
  s.B = x.shape(time_major ? 1 : 0);
  s.T = x.shape(time_major ? 0 : 1);
  return s;
}

// Shape of a per-timestep array with `cols` features, in the caller's layout.
Shape seq_shape(const SeqShape& s, py::ssize_t cols) {
  return s.time_major ? Shape{s.T, s.B, cols} : Shape{s.B, s.T, cols};
}

template <typename T>
void expect_seq(const Array<T>& a, const char* name, const SeqShape& s, py::ssize_t cols,
                const char* meaning) {
  expect_shape(a, name, seq_shape(s, cols), meaning);
}

template <typename T>
Array<T> zeros(const Shape& shape) {
  Array<T> a = aligned_empty<T>(shape);
  if (a.size()) std::memset(a.mutable_data(), 0, sizeof(T) * a.size());
  return a;
}

// A (B, H) state argument, or zeros when it is None.
template <typename T>
Array<T> state_or_zeros(const py::handle& obj, const char* name, const SeqShape& s) {
  if (obj.is_none()) return zeros<T>({s.B, s.H});
  Array<T> a = as_array<T>(obj, name);
  expect_shape(a, name, {s.B, s.H}, "(batch, hidden)");
  return a;
}

template <typename T>
py::tuple forward(const py::handle& x_obj, const py::handle& kernel_obj,
                  const py::handle& recurrent_obj, const py::handle& bias_obj,
                  const py::handle& h0_obj, const py::handle& c0_obj, bool time_major,
                  bool training) {
  const auto x = as_array<T>(x_obj, "x");
  const auto kernel = as_array<T>(kernel_obj, "kernel");
  const auto recurrent = as_array<T>(recurrent_obj, "recurrent_kernel");
  const auto bias = as_array<T>(bias_obj, "bias");
  const SeqShape s = check_sizes(x, kernel, recurrent, bias, time_major);
  const auto h0 = state_or_zeros<T>(h0_obj, "initial_state[0]", s);
  const auto c0 = state_or_zeros<T>(c0_obj, "initial_state[1]", s);

  auto y = aligned_empty<T>(seq_shape(s, s.H));
  auto h = aligned_empty<T>({s.B, s.H});
  auto c = aligned_empty<T>({s.B, s.H});
  auto gates = aligned_empty<T>(seq_shape(s, 4 * s.H));
  auto c_all = aligned_empty<T>(training ? seq_shape(s, s.H) : Shape{0});
  const Weights<T> w{kernel.data(), recurrent.data(), bias.data()};
  const ForwardBuffers<T> buf{x.data(),
                              h0.data(),
                              c0.data(),
                              y.mutable_data(),
                              h.mutable_data(),
                              c.mutable_data(),
                              gates.mutable_data(),
                              training ? c_all.mutable_data() : nullptr};
  {
    py::gil_scoped_release nogil;
    lstm_forward<T>(s, w, buf);
  }
  if (!training) return py::make_tuple(y, h, c, py::none());
  // What backward needs besides x and the weights: the states it started from, y, the gates, c_t.
  return py::make_tuple(y, h, c,
                        py::make_tuple(x, kernel, recurrent, bias, h0, c0, y, gates, c_all));
}

template <typename T>
py::tuple backward(const py::tuple& saved, const py::handle& dy_obj, const py::handle& dh_obj,
                   const py::handle& dc_obj, bool time_major) {
  if (saved.size() != 9) throw std::invalid_argument("cache: not a cache from lstm_forward");
  SeqShape s;
  Array<T> x, kernel, recurrent, bias, h0, c0, y, gates, c_all;
  try {  // a cache that lstm_forward made always passes; anything else is named as the cache
    x = as_array<T>(saved[0], "x");
    kernel = as_array<T>(saved[1], "kernel");
    recurrent = as_array<T>(saved[2], "recurrent_kernel");
    bias = as_array<T>(saved[3], "bias");
    s = check_sizes(x, kernel, recurrent, bias, time_major);
    h0 = as_array<T>(saved[4], "h0");
    c0 = as_array<T>(saved[5], "c0");
    y = as_array<T>(saved[6], "y");
    gates = as_array<T>(saved[7], "gates");
    c_all = as_array<T>(saved[8], "c");
    expect_shape(h0, "h0", {s.B, s.H}, "(batch, hidden)");
    expect_shape(c0, "c0", {s.B, s.H}, "(batch, hidden)");
    expect_seq(y, "y", s, s.H, "matching x");
    expect_seq(gates, "gates", s, 4 * s.H, "matching x");
    expect_seq(c_all, "c", s, s.H, "matching x");
  } catch (const std::exception& e) {
    throw std::invalid_argument(std::string("cache: not a cache made by lstm_forward (") +
                                e.what() + ")");
  }

  // Each upstream gradient is optional: None means zero.
  const auto optional_grad = [&](const py::handle& obj, const char* name, const Shape& shape,
                                 const char* meaning) -> std::optional<Array<T>> {
    if (obj.is_none()) return std::nullopt;
    auto a = as_array<T>(obj, name);
    expect_shape(a, name, shape, meaning);
    return a;
  };
  const auto dy =
      optional_grad(dy_obj, "dy", seq_shape(s, s.H),
                    time_major ? "(time, batch, hidden) like y" : "(batch, time, hidden) like y");
  const auto dh = optional_grad(dh_obj, "dstate[0]", {s.B, s.H}, "(batch, hidden) like h");
  const auto dc = optional_grad(dc_obj, "dstate[1]", {s.B, s.H}, "(batch, hidden) like c");

  auto dx = zeros<T>(seq_shape(s, s.I));
  auto dkernel = zeros<T>({s.I, 4 * s.H});
  auto drecurrent = zeros<T>({s.H, 4 * s.H});
  auto dbias = zeros<T>({4 * s.H});
  auto dh0 = aligned_empty<T>({s.B, s.H});
  auto dc0 = aligned_empty<T>({s.B, s.H});
  const Weights<T> w{kernel.data(), recurrent.data(), bias.data()};
  const BackwardBuffers<T> buf{x.data(),
                               h0.data(),
                               c0.data(),
                               y.data(),
                               gates.data(),
                               c_all.data(),
                               dy ? dy->data() : nullptr,
                               dh ? dh->data() : nullptr,
                               dc ? dc->data() : nullptr,
                               dx.mutable_data(),
                               dkernel.mutable_data(),
                               drecurrent.mutable_data(),
                               dbias.mutable_data(),
                               dh0.mutable_data(),
                               dc0.mutable_data()};
  {
    py::gil_scoped_release nogil;
    lstm_backward<T>(s, w, buf);
  }
  return py::make_tuple(dx, dkernel, drecurrent, dbias, dh0, dc0);
}

// One timestep per call. The weights are copied in, so later changes to the caller's arrays do
// not reach a running stream. A mutex makes concurrent steps on one stream safe (they serialise).
template <typename T>
class StreamBinding {
 public:
  StreamBinding(const py::handle& kernel_obj, const py::handle& recurrent_obj,
                const py::handle& bias_obj, py::ssize_t batch)
      : StreamBinding(as_array<T>(kernel_obj, "kernel"),
                      as_array<T>(recurrent_obj, "recurrent_kernel"), as_array<T>(bias_obj, "bias"),
                      batch) {}

  py::ssize_t batch() const { return core_.batch(); }
  py::ssize_t input_size() const { return core_.input_size(); }
  py::ssize_t hidden_size() const { return core_.hidden_size(); }

  // x: (B, I). Returns h_t (B, H), written into `out` when one is given (no allocation).
  py::object step(const py::handle& x_obj, const py::handle& out_obj) {
    const auto x = as_array<T>(x_obj, "x_t", /*align=*/false);  // the core copies it in
    expect_shape(x, "x_t", {batch(), input_size()}, "(batch, input)");
    Array<T> out;
    if (out_obj.is_none()) {
      out = Array<T>({batch(), hidden_size()});
    } else {
      if (!py::isinstance<Array<T>>(out_obj)) {
        throw py::type_error(std::string("out: expected a C-contiguous ") +
                             std::string(py::str(py::dtype::of<T>())) + " array, got " +
                             describe(out_obj));
      }
      out = py::reinterpret_borrow<Array<T>>(out_obj);
      expect_shape(out, "out", {batch(), hidden_size()}, "(batch, hidden)");
      if (!out.writeable()) throw std::invalid_argument("out: the array is read-only");
    }
    {
      py::gil_scoped_release nogil;
      std::lock_guard<std::mutex> lock(mu_);
      core_.step(x.data());
      std::memcpy(out.mutable_data(), core_.h(), sizeof(T) * out.size());
    }
    return std::move(out);
  }

  py::tuple state() {
    Array<T> h({batch(), hidden_size()}), c({batch(), hidden_size()});
    std::lock_guard<std::mutex> lock(mu_);
    std::memcpy(h.mutable_data(), core_.h(), sizeof(T) * h.size());
    std::memcpy(c.mutable_data(), core_.c(), sizeof(T) * c.size());
    return py::make_tuple(h, c);
  }

  // Sets (h, c); None for either means zeros. `name` is the argument's name in messages.
  void set_state(const py::handle& h_obj, const py::handle& c_obj, const std::string& name) {
    const auto h = optional_state(h_obj, (name + "[0]").c_str());
    const auto c = optional_state(c_obj, (name + "[1]").c_str());
    const size_t bytes = sizeof(T) * batch() * hidden_size();
    std::lock_guard<std::mutex> lock(mu_);
    h ? (void)std::memcpy(core_.h(), h->data(), bytes) : (void)std::memset(core_.h(), 0, bytes);
    c ? (void)std::memcpy(core_.c(), c->data(), bytes) : (void)std::memset(core_.c(), 0, bytes);
  }

 private:
  std::optional<Array<T>> optional_state(const py::handle& obj, const char* name) const {
    if (obj.is_none()) return std::nullopt;
    auto a = as_array<T>(obj, name);
    expect_shape(a, name, {batch(), hidden_size()}, "(batch, hidden)");
    return a;
  }

  StreamBinding(const Array<T>& kernel, const Array<T>& recurrent, const Array<T>& bias,
                py::ssize_t batch)
      : core_(make_core(kernel, recurrent, bias, batch)) {}

  static LstmStream<T> make_core(const Array<T>& kernel, const Array<T>& recurrent,
                                 const Array<T>& bias, py::ssize_t batch) {
    if (batch < 1) {
      throw std::invalid_argument("batch_size: expected a positive integer, got " +
                                  std::to_string(batch));
    }
    const SeqShape s = check_weights(kernel, recurrent, bias);
    try {
      return LstmStream<T>({kernel.data(), recurrent.data(), bias.data()}, batch, s.I, s.H);
    } catch (const std::bad_alloc&) {
      throw std::invalid_argument("batch_size: " + std::to_string(batch) +
                                  " streams do not fit in memory");
    }
  }

  std::mutex mu_;
  LstmStream<T> core_;
};

template <typename T>
void register_stream(py::module_& m, const char* name) {
  using S = StreamBinding<T>;
  py::class_<S>(m, name)
      .def(py::init<const py::handle&, const py::handle&, const py::handle&, py::ssize_t>(),
           py::arg("kernel"), py::arg("recurrent_kernel"), py::arg("bias"), py::arg("batch_size"))
      .def_property_readonly("batch_size", &S::batch)
      .def_property_readonly("input_size", &S::input_size)
      .def_property_readonly("units", &S::hidden_size)
      .def("step", &S::step, py::arg("x_t"), py::arg("out") = py::none(),
           "Advance one timestep. x_t: (batch, input). Returns h_t (batch, units); with `out` "
           "given, h_t is written into it and nothing is allocated.")
      .def("state", &S::state, "A copy of the carried state (h, c), each (batch, units).")
      .def("set_state", &S::set_state, py::arg("h"), py::arg("c"), py::arg("name") = "state",
           "Set the carried state; None for either means zeros.");
}

}  // namespace

void register_lstm(py::module_& m) {
  m.def(
      "compute_dtype",
      [](const py::handle& kernel) {
        return wants_double(kernel) ? py::dtype::of<double>() : py::dtype::of<float>();
      },
      py::arg("kernel"), "The dtype fastlstm computes in for these weights (the dtype rule).");
  m.def(
      "lstm_forward",
      [](const py::handle& x, const py::handle& kernel, const py::handle& recurrent,
         const py::handle& bias, const py::handle& h0, const py::handle& c0, bool time_major,
         bool training) {
        return wants_double(kernel)
                   ? forward<double>(x, kernel, recurrent, bias, h0, c0, time_major, training)
                   : forward<float>(x, kernel, recurrent, bias, h0, c0, time_major, training);
      },
      py::arg("x"), py::arg("kernel"), py::arg("recurrent_kernel"), py::arg("bias"), py::arg("h0"),
      py::arg("c0"), py::arg("time_major"), py::arg("training"),
      "LSTM over a sequence. Returns (y, h, c, saved); saved is None unless training.");
  m.def(
      "lstm_backward",
      [](const py::tuple& saved, const py::handle& dy, const py::handle& dh, const py::handle& dc,
         bool time_major) {
        if (saved.size() < 2) throw std::invalid_argument("cache: not a cache from lstm_forward");
        return wants_double(saved[1]) ? backward<double>(saved, dy, dh, dc, time_major)
                                      : backward<float>(saved, dy, dh, dc, time_major);
      },
      py::arg("saved"), py::arg("dy"), py::arg("dh"), py::arg("dc"), py::arg("time_major"),
      "Backward through lstm_forward. Returns (dx, dkernel, drecurrent_kernel, dbias, dh0, dc0).");
  register_stream<float>(m, "LstmStreamF32");
  register_stream<double>(m, "LstmStreamF64");
}

}  // namespace fastlstm::bindings
