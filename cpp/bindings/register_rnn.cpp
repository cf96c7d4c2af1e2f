// Python bindings for every cell over a sequence: validate, map the NumPy buffers, release the
// GIL, call the core. The cell is named by a string ("lstm", "gru", ...; see with_cell).
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "cell_kind.hpp"
#include "checks.hpp"
#include "without_gil.hpp"

namespace fastlstm::bindings {
namespace {

using Shape = std::vector<py::ssize_t>;
using Mask = py::array_t<std::uint8_t, py::array::c_style | py::array::forcecast>;

// Sizes from x (3-D) and the weights, checked against each other.
template <typename Cell, typename T>
SeqShape check_sizes(const Array<T>& x, const Array<T>& kernel, const Array<T>& recurrent,
                     const Array<T>& bias, bool time_major,
                     const std::optional<Array<T>>& projection) {
  expect_ndim(x, "x", 3, time_major ? "(time, batch, input)" : "(batch, time, input)");
  SeqShape s =
      check_weights<Cell>(kernel, recurrent, bias, x.shape(2), projection ? &*projection : nullptr);
  s.time_major = time_major;
  s.B = x.shape(time_major ? 1 : 0);
  s.T = x.shape(time_major ? 0 : 1);
  return s;
}

// What a MemoryError calls the forward pass's other per-step outputs (beside y).
constexpr const char* kCacheGates = "the cache's gates (forward's saved pre-activations)";
constexpr const char* kCellStates = "the cell states c_t for every step";

// Shape of a per-timestep array with `cols` features, in the caller's layout.
Shape seq_shape(const SeqShape& s, py::ssize_t cols) {
  return s.time_major ? Shape{s.T, s.B, cols} : Shape{s.B, s.T, cols};
}

// Bytes of an array of T of `shape` (a double: no overflow; checked_bytes has refused the
// sizes no process could hold).
template <typename T>
double bytes_of(const Shape& shape) {
  double n = sizeof(T);
  for (auto d : shape) n *= double(d);
  return n;
}

template <typename T>
Array<T> zeros(const Shape& shape, const char* what) {
  Array<T> a = aligned_empty<T>(shape, what);
  if (a.size()) std::memset(a.mutable_data(), 0, sizeof(T) * a.size());
  return a;
}

// A (B, width) state argument, or zeros when it is None.
template <typename T>
Array<T> state_or_zeros(const py::handle& obj, const char* name, const SeqShape& s,
                        py::ssize_t width, const char* meaning) {
  if (obj.is_none()) {
    return zeros<T>({s.B, width}, name);  // a MemoryError naming it, not bad_alloc
  }
  Array<T> a = as_array<T>(obj, name);
  expect_shape(a, name, {s.B, width}, meaning);
  return a;
}

// "(batch, hidden)", or "(batch, proj)" for h with a projection.
const char* h_meaning(const SeqShape& s) { return s.P ? "(batch, proj)" : "(batch, hidden)"; }

// The (B, T) mask argument (nonzero = valid), or None.
std::optional<Mask> mask_or_none(const py::handle& obj, const SeqShape& s) {
  if (obj.is_none()) return std::nullopt;
  Mask mask = Mask::ensure(obj);
  if (!mask) throw std::invalid_argument("mask: expected a (batch, time) array of bools");
  expect_shape(mask, "mask", {s.B, s.T}, "(batch, time)");
  return mask;
}

// The optional (B, H) recurrent dropout mask, or None.
template <typename T>
std::optional<Array<T>> recurrent_mask_or_none(const py::handle& obj, const SeqShape& s) {
  if (obj.is_none()) return std::nullopt;
  Array<T> a = as_array<T>(obj, "recurrent_dropout_mask");
  expect_shape(a, "recurrent_dropout_mask", {s.B, s.state_width()}, h_meaning(s));
  return a;
}

template <typename Cell, typename T>
Weights<T> weights(const Array<T>& kernel, const Array<T>& recurrent, const Array<T>& bias,
                   const LstmOptions<T>& options, const std::optional<Array<T>>& projection) {
  const T* rb = Cell::kRecurrentBias ? bias.data() + bias.shape(1) : nullptr;
  return {kernel.data(),
          recurrent.data(),
          bias.data(),
          rb,
          options.peephole_data(),
          options.clip,
          projection ? projection->data() : nullptr};
}

// An array, or None where the cell has no such buffer. (No global py::object for None: it would
// be released after the interpreter has gone.)
template <typename A>
py::object or_none(bool present, const A& a) {
  return present ? py::object(a) : py::object(py::none());
}

// The optional arguments of a forward call.
struct Extras {
  py::handle mask;            // (B, T) or None
  bool zero_masked;           // lengths: masked outputs are zero
  py::handle recurrent_mask;  // (B, H) or None
  py::handle peephole, clip;  // LSTM options, or None
  py::handle projection;      // the LSTM's (H, P) projection, or None
};

// Items of a training forward's `saved` tuple.
constexpr std::size_t kSavedItems = 16;

// Returns (y, h, c, saved): c is None for cells without a cell state, saved None unless training
// or `cells` (an LSTM's c_t for every step asked for: saved then holds them, for cell_states, and
// None for the gates, which inference does not keep).
template <typename Cell, typename T>
py::tuple forward(const py::handle& x_obj, const py::handle& kernel_obj,
                  const py::handle& recurrent_obj, const py::handle& bias_obj,
                  const py::handle& h0_obj, const py::handle& c0_obj, const Extras& extras,
                  bool time_major, bool training, bool cells) {
  constexpr bool kCell = Cell::kHasCell;
  const auto x = as_array<T>(x_obj, "x");
  const auto kernel = as_array<T>(kernel_obj, "kernel");
  const auto recurrent = as_array<T>(recurrent_obj, "recurrent_kernel");
  const auto bias = as_array<T>(bias_obj, "bias");
  const auto projection = projection_or_none<Cell, T>(extras.projection);
  const SeqShape s = check_sizes<Cell>(x, kernel, recurrent, bias, time_major, projection);
  const py::ssize_t P = s.state_width();
  // Before the initial states are made: outputs no process could hold are a MemoryError now,
  // not after gigabytes of zeros for h0 and c0. Each is named by what it is.
  const bool keep_c = kCell && (training || cells);
  checked_bytes(seq_shape(s, P), sizeof(T), "y");
  if (training) checked_bytes(seq_shape(s, Cell::kSaved * s.H), sizeof(T), kCacheGates);
  if (keep_c) checked_bytes(seq_shape(s, s.H), sizeof(T), kCellStates);
  // ... and together: each may fit where all three do not.
  check_room({{bytes_of<T>(seq_shape(s, P)), "y"},
              {training ? bytes_of<T>(seq_shape(s, Cell::kSaved * s.H)) : 0, kCacheGates},
              {keep_c ? bytes_of<T>(seq_shape(s, s.H)) : 0, kCellStates}});
  const auto h0 =
      state_or_zeros<T>(h0_obj, kCell ? "initial_state[0]" : "initial_state", s, P, h_meaning(s));
  const auto c0 =
      kCell ? state_or_zeros<T>(c0_obj, "initial_state[1]", s, s.H, "(batch, hidden)") : Array<T>();
  const auto mask = mask_or_none(extras.mask, s);
  const bool zero_masked = extras.zero_masked;
  const auto rmask = recurrent_mask_or_none<T>(extras.recurrent_mask, s);
  const auto options = check_options<Cell, T>(extras.peephole, extras.clip, s.H);

  auto y = aligned_empty<T>(seq_shape(s, P), "y");
  auto h = aligned_empty<T>({s.B, P}, "h");
  auto c = aligned_empty<T>(kCell ? Shape{s.B, s.H} : Shape{0}, "c");
  // Training keeps what the cell saves per step and every c_t for backward; inference neither,
  // but every c_t where the caller asks for them.
  auto gates =
      aligned_empty<T>(training ? seq_shape(s, Cell::kSaved * s.H) : Shape{0}, kCacheGates);
  auto c_all = aligned_empty<T>(keep_c ? seq_shape(s, s.H) : Shape{0}, kCellStates);
  const ForwardBuffers<T> buf{x.data(),
                              h0.data(),
                              kCell ? c0.data() : nullptr,
                              y.mutable_data(),
                              h.mutable_data(),
                              kCell ? c.mutable_data() : nullptr,
                              training ? gates.mutable_data() : nullptr,
                              keep_c ? c_all.mutable_data() : nullptr,
                              mask ? mask->data() : nullptr,
                              mask && zero_masked,
                              rmask ? rmask->data() : nullptr};
  bool packed = false;
  without_gil([&] {
    packed = fastlstm::forward<Cell, T>(
        s, weights<Cell>(kernel, recurrent, bias, options, projection), buf);
  });
  const py::object c_out = or_none(kCell, c);
  if (!training && !keep_c) return py::make_tuple(y, h, c_out, py::none());
  // What backward needs besides x and the weights: the states it started from, y, the saved
  // gates, every c_t, the masks, the options, and whether gates and c_t are packed.
  return py::make_tuple(
      y, h, c_out,
      py::make_tuple(
          x, kernel, recurrent, bias, h0, or_none(kCell, c0), y, or_none(training, gates),
          or_none(kCell, c_all), mask ? py::object(*mask) : py::object(py::none()),
          mask && zero_masked, rmask ? py::object(*rmask) : py::object(py::none()),
          options.peephole ? py::object(*options.peephole) : py::object(py::none()),
          options.clip > 0 ? py::object(py::float_(options.clip)) : py::object(py::none()),
          projection ? py::object(*projection) : py::object(py::none()), packed));
}

template <typename Cell, typename T>
py::tuple backward(const py::tuple& saved, const py::handle& dy_obj, const py::handle& dh_obj,
                   const py::handle& dc_obj, bool time_major, bool input_grad,
                   const py::handle& dc_all_obj) {
  constexpr bool kCell = Cell::kHasCell;
  if (saved.size() != kSavedItems) {
    throw std::invalid_argument("cache: not a cache from a forward call");
  }
  SeqShape s;
  Array<T> x, kernel, recurrent, bias, h0, c0, y, gates, c_all;
  std::optional<Mask> mask;
  std::optional<Array<T>> rmask, projection;
  LstmOptions<T> options;
  try {  // a cache that forward made always passes; anything else is named as the cache
    x = as_array<T>(saved[0], "x");
    kernel = as_array<T>(saved[1], "kernel");
    recurrent = as_array<T>(saved[2], "recurrent_kernel");
    bias = as_array<T>(saved[3], "bias");
    projection = projection_or_none<Cell, T>(saved[14]);
    s = check_sizes<Cell>(x, kernel, recurrent, bias, time_major, projection);
    h0 = as_array<T>(saved[4], "h0");
    y = as_array<T>(saved[6], "y");
    gates = as_array<T>(saved[7], "gates");
    expect_shape(h0, "h0", {s.B, s.state_width()}, h_meaning(s));
    expect_shape(y, "y", seq_shape(s, s.state_width()), "matching x");
    expect_shape(gates, "gates", seq_shape(s, Cell::kSaved * s.H), "matching x");
    if (kCell) {
      c0 = as_array<T>(saved[5], "c0");
      c_all = as_array<T>(saved[8], "c");
      expect_shape(c0, "c0", {s.B, s.H}, "(batch, hidden)");
      expect_shape(c_all, "c", seq_shape(s, s.H), "matching x");
    }
    mask = mask_or_none(saved[9], s);
    rmask = recurrent_mask_or_none<T>(saved[11], s);
    options = check_options<Cell, T>(saved[12], saved[13], s.H);
  } catch (const std::exception& e) {
    throw std::invalid_argument(std::string("cache: not a cache made by a forward call (") +
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
  const py::ssize_t P = s.state_width();
  const auto dy =
      optional_grad(dy_obj, "dy", seq_shape(s, P),
                    time_major ? "(time, batch, hidden) like y" : "(batch, time, hidden) like y");
  const auto dh = optional_grad(dh_obj, kCell ? "dstate[0]" : "dh", {s.B, P},
                                s.P ? "(batch, proj) like h" : "(batch, hidden) like h");
  const auto dc = kCell ? optional_grad(dc_obj, "dstate[1]", {s.B, s.H}, "(batch, hidden) like c")
                        : std::nullopt;
  if (!kCell && !dc_all_obj.is_none()) {
    throw std::invalid_argument("dcell_states: expected None for a cell without a cell state");
  }
  const auto dc_all =
      kCell ? optional_grad(dc_all_obj, "dcell_states", seq_shape(s, s.H),
                            time_major ? "(time, batch, hidden) like the cache's cell_states"
                                       : "(batch, time, hidden) like the cache's cell_states")
            : std::nullopt;

  // dx and the walk's working arrays together, before any is made.
  BackwardOptions work;
  work.peepholes = bool(options.peephole);
  work.projection = bool(projection);
  work.mask = bool(mask);
  work.recurrent_mask = bool(rmask);
  work.packed = mask && saved[15].cast<bool>();
  check_room({{input_grad ? bytes_of<T>(seq_shape(s, s.I)) : 0, "dx"},
              {backward_work_bytes<Cell, T>(s, work),
               "backward's working arrays (dL/dz and h_{t-1} for every step)"}});
  const py::ssize_t GH = Cell::kGates * s.H;
  auto dx = zeros<T>(input_grad ? seq_shape(s, s.I) : Shape{0}, "dx");
  auto dkernel = zeros<T>({s.I, GH}, "dkernel");
  auto drecurrent = zeros<T>({P, GH}, "drecurrent_kernel");
  auto dbias = zeros<T>(Cell::kRecurrentBias ? Shape{2, GH} : Shape{GH}, "dbias");
  auto dh0 = aligned_empty<T>({s.B, P}, "dh0");
  auto dc0 = aligned_empty<T>(kCell ? Shape{s.B, s.H} : Shape{0}, "dc0");
  auto dpeephole = zeros<T>(options.peephole ? Shape{3 * s.H} : Shape{0}, "dpeephole");
  auto dprojection = zeros<T>(projection ? Shape{s.H, P} : Shape{0}, "dprojection");
  const BackwardBuffers<T> buf{x.data(),
                               h0.data(),
                               kCell ? c0.data() : nullptr,
                               y.data(),
                               gates.data(),
                               kCell ? c_all.data() : nullptr,
                               dy ? dy->data() : nullptr,
                               dh ? dh->data() : nullptr,
                               dc ? dc->data() : nullptr,
                               input_grad ? dx.mutable_data() : nullptr,
                               dkernel.mutable_data(),
                               drecurrent.mutable_data(),
                               dbias.mutable_data(),
                               Cell::kRecurrentBias ? dbias.mutable_data() + GH : nullptr,
                               dh0.mutable_data(),
                               kCell ? dc0.mutable_data() : nullptr,
                               mask ? mask->data() : nullptr,
                               mask && saved[10].cast<bool>(),
                               rmask ? rmask->data() : nullptr,
                               options.peephole ? dpeephole.mutable_data() : nullptr,
                               projection ? dprojection.mutable_data() : nullptr,
                               mask && saved[15].cast<bool>(),
                               dc_all ? dc_all->data() : nullptr};
  without_gil([&] {
    fastlstm::backward<Cell, T>(s, weights<Cell>(kernel, recurrent, bias, options, projection),
                                buf);
  });
  return py::make_tuple(or_none(input_grad, dx), dkernel, drecurrent, dbias, dh0,
                        or_none(kCell, dc0), or_none(bool(options.peephole), dpeephole),
                        or_none(bool(projection), dprojection));
}

// c_t for every step from a training forward's `saved` tuple, in the caller's layout: the kept
// buffer itself, or, where it holds the valid steps only (packed), a copy with them in place and
// the masked steps carrying the state: c0 before a row's valid steps, their last c_t after.
template <typename T>
py::object cell_states(const py::tuple& saved, bool time_major) {
  if (saved.size() != kSavedItems || saved[8].is_none()) {
    throw std::invalid_argument("cache: not an LSTM cache from a forward call");
  }
  if (!saved[15].cast<bool>()) return saved[8];
  const auto c_all = as_array<T>(saved[8], "c");
  const auto c0 = as_array<T>(saved[5], "c0");
  expect_ndim(c_all, "c", 3, "like y");
  SeqShape s;
  s.time_major = time_major;
  s.B = c_all.shape(time_major ? 1 : 0);
  s.T = c_all.shape(time_major ? 0 : 1);
  s.H = c_all.shape(2);
  expect_shape(c0, "c0", {s.B, s.H}, "(batch, hidden)");
  const auto mask = mask_or_none(saved[9], s);
  if (!mask) throw std::invalid_argument("cache: packed cell states without a mask");
  auto out = aligned_empty<T>(seq_shape(s, s.H), kCellStates);
  const Packing packing(mask->data(), s.B, s.T);
  T* const to = out.mutable_data();
  without_gil([&] { packing.unpack(s, c_all.data(), s.H, to, c0.data()); });
  return std::move(out);
}

}  // namespace

void register_rnn(py::module_& m) {
  m.def(
      "compute_dtype",
      [](const py::handle& kernel) {
        return wants_double(kernel) ? py::dtype::of<double>() : py::dtype::of<float>();
      },
      py::arg("kernel"), "The dtype fastlstm computes in for these weights (the dtype rule).");
  m.def(
      "rnn_forward",
      [](const std::string& cell, const py::handle& x, const py::handle& kernel,
         const py::handle& recurrent, const py::handle& bias, const py::handle& h0,
         const py::handle& c0, const py::handle& mask, bool zero_masked, bool time_major,
         bool training, bool cells, const py::handle& recurrent_mask, const py::handle& peephole,
         const py::handle& clip, const py::handle& projection) {
        const Extras extras{mask, zero_masked, recurrent_mask, peephole, clip, projection};
        return with_cell(cell, [&](auto tag) {
          using Cell = decltype(tag);
          return wants_double(kernel) ? forward<Cell, double>(x, kernel, recurrent, bias, h0, c0,
                                                              extras, time_major, training, cells)
                                      : forward<Cell, float>(x, kernel, recurrent, bias, h0, c0,
                                                             extras, time_major, training, cells);
        });
      },
      py::arg("cell"), py::arg("x"), py::arg("kernel"), py::arg("recurrent_kernel"),
      py::arg("bias"), py::arg("h0"), py::arg("c0"), py::arg("mask"), py::arg("zero_masked"),
      py::arg("time_major"), py::arg("training"), py::arg("cells") = false,
      py::arg("recurrent_dropout_mask") = py::none(), py::arg("peephole") = py::none(),
      py::arg("clip") = py::none(), py::arg("projection") = py::none(),
      "A cell over a sequence. Returns (y, h, c, saved); c is None for cells without a cell "
      "state, saved is None unless training or `cells` (every c_t kept, for cell_states).");
  m.def(
      "rnn_backward",
      [](const std::string& cell, const py::tuple& saved, const py::handle& dy,
         const py::handle& dh, const py::handle& dc, bool time_major, bool input_grad,
         const py::handle& dc_all) {
        if (saved.size() < 2) throw std::invalid_argument("cache: not a cache from a forward call");
        return with_cell(cell, [&](auto tag) {
          using Cell = decltype(tag);
          return wants_double(saved[1])
                     ? backward<Cell, double>(saved, dy, dh, dc, time_major, input_grad, dc_all)
                     : backward<Cell, float>(saved, dy, dh, dc, time_major, input_grad, dc_all);
        });
      },
      py::arg("cell"), py::arg("saved"), py::arg("dy"), py::arg("dh"), py::arg("dc"),
      py::arg("time_major"), py::arg("input_grad") = true, py::arg("dc_all") = py::none(),
      "Backward through rnn_forward. dc_all: dL/dc_t for every step (an LSTM's cell states read "
      "as an output), or None. Returns (dx, dkernel, drecurrent_kernel, dbias, dh0, dc0, "
      "dpeephole, dprojection); dx is None without input_grad, dc0 for cells without a cell "
      "state, dpeephole without peepholes, dprojection without a projection.");
  m.def(
      "cell_states",
      [](const py::tuple& saved, bool time_major) {
        if (saved.size() < 2) throw std::invalid_argument("cache: not a cache from a forward call");
        return wants_double(saved[1]) ? cell_states<double>(saved, time_major)
                                      : cell_states<float>(saved, time_major);
      },
      py::arg("saved"), py::arg("time_major"),
      "c_t for every step, shaped like y, from an LSTM training forward's saved tuple.");
}

}  // namespace fastlstm::bindings
