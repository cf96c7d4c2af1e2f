// Argument checks for the bindings. Every message names the argument, what was expected and what
// arrived; std::invalid_argument becomes ValueError in Python.
#pragma once

#include <pybind11/numpy.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <limits>
#include <new>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "fastlstm/blocks.hpp"
#include "fastlstm/types.hpp"
#include "memory.hpp"

namespace fastlstm::bindings {

namespace py = pybind11;

template <typename T>
using Array = py::array_t<T, py::array::c_style | py::array::forcecast>;

inline std::string shape_str(const py::array& a) {
  std::string s = "(";
  for (py::ssize_t d = 0; d < a.ndim(); ++d) {
    if (d) s += ", ";
    s += std::to_string(a.shape(d));
  }
  return s + (a.ndim() == 1 ? ",)" : ")");
}

// Raise unless `a` has exactly `dims`; `meaning` names the axes, e.g. "(batch, hidden)".
// (Takes any sequence of sizes: an initializer list costs no allocation on the streaming path.)
template <typename Dims>
void expect_shape_of(const py::array& a, const char* name, const Dims& dims, const char* meaning) {
  bool ok = a.ndim() == static_cast<py::ssize_t>(dims.size());
  py::ssize_t d = 0;
  for (auto it = dims.begin(); ok && it != dims.end(); ++it) ok = a.shape(d++) == *it;
  if (!ok) {
    std::string want = "(";
    for (auto it = dims.begin(); it != dims.end(); ++it) {
      want += (it == dims.begin() ? "" : ", ") + std::to_string(*it);
    }
    want += dims.size() == 1 ? ",)" : ")";
    throw std::invalid_argument(std::string(name) + ": expected shape " + want + " " + meaning +
                                ", got " + shape_str(a));
  }
}

inline void expect_shape(const py::array& a, const char* name,
                         std::initializer_list<py::ssize_t> dims, const char* meaning) {
  expect_shape_of(a, name, dims, meaning);
}

inline void expect_shape(const py::array& a, const char* name, const std::vector<py::ssize_t>& dims,
                         const char* meaning) {
  expect_shape_of(a, name, dims, meaning);
}

// A 2-D weight given as (cols, rows) where (rows, cols) was expected: PyTorch's and ONNX's
// layout (W @ x) for fastlstm's (x @ kernel). Said so, rather than read with its sizes swapped.
inline void refuse_transposed(const py::array& a, const char* name, py::ssize_t rows,
                              py::ssize_t cols, const std::string& meaning) {
  if (a.ndim() != 2 || rows == cols || a.shape(0) != cols || a.shape(1) != rows) return;
  throw std::invalid_argument(std::string(name) + ": expected shape (" + std::to_string(rows) +
                              ", " + std::to_string(cols) + ") " + meaning +
                              ", got its transpose " + shape_str(a) +
                              " (PyTorch's and ONNX's layout: fastlstm.convert's from_torch and "
                              "from_onnx functions convert their weights)");
}

inline void expect_ndim(const py::array& a, const char* name, py::ssize_t ndim,
                        const char* meaning) {
  if (a.ndim() != ndim) {
    throw std::invalid_argument(std::string(name) + ": expected a " + std::to_string(ndim) +
                                "-D array " + meaning + ", got shape " + shape_str(a));
  }
}

}  // namespace fastlstm::bindings

namespace fastlstm::bindings {

// Arrays the binding makes, and small inputs, start on a 64-byte boundary. Eigen peels scalar
// iterations off
// unaligned vector loops, and scalar and vector paths round differently, so without this the same
// call could give different last bits depending on where NumPy placed its arrays. (Large inputs
// are exempt: see as_array.)
constexpr std::size_t kAlign = 64;
// Inputs with at least this many elements are used where they are (see as_array).
constexpr py::ssize_t kAlignCopyLimit = 4096;

// " (N GiB)" for a count of bytes.
inline std::string gib(double bytes) {
  char text[48];
  std::snprintf(text, sizeof text, " (%.1f GiB)", bytes / double(1 << 30));
  return text;
}

// A MemoryError: `what` cannot be allocated at `shape`, for the reason `why` (", ..." or "").
[[noreturn]] inline void cannot_allocate(const std::vector<py::ssize_t>& shape,
                                         const std::string& what, const std::string& why) {
  std::string dims;
  for (auto d : shape) dims += (dims.empty() ? "" : ", ") + std::to_string(d);
  PyErr_SetString(PyExc_MemoryError,
                  (what + ": cannot allocate an array of shape (" + dims + ")" + why).c_str());
  throw py::error_already_set();
}

// The bytes of an array of `shape` with items of `item` bytes; MemoryError, naming `what`, where
// no process could hold it (the product overflows, or passes PTRDIFF_MAX: a zero-size input of
// 2^30 x 2^30 rows asks for outputs of 2^60 rows, and its size in size_t wraps round) or where it
// exceeds this machine's memory.
inline std::size_t checked_bytes(const std::vector<py::ssize_t>& shape, std::size_t item,
                                 const std::string& what) {
  std::size_t bytes = item;
  bool fits = true;
  for (auto d : shape) {
    const auto n = static_cast<std::size_t>(d);
    if (n != 0 && bytes > std::size_t(PTRDIFF_MAX) / n) fits = false;
    bytes *= n;
  }
  const double memory = physical_memory();
  if (fits && bytes <= std::size_t(PTRDIFF_MAX) - 2 * kAlign &&
      (memory == 0 || double(bytes) <= memory)) {
    if (room_for(double(bytes))) return bytes;
    cannot_allocate(
        shape, what,
        gib(double(bytes)) + ", more than the memory free now" + gib(available_memory()));
  }
  for (auto d : shape) {
    if (d == 0) return 0;
  }
  cannot_allocate(shape, what,
                  fits && memory > 0 ? ", more than this machine's memory" + gib(memory) : "");
}

// A MemoryError where arrays that each fit take more than the memory free now together (Linux
// grants each allocation, then ends the process while their pages are filled). `parts`: each
// array's bytes and what it is.
inline void check_room(std::initializer_list<std::pair<double, const char*>> parts) {
  double total = 0;
  for (const auto& part : parts) total += part.first;
  if (room_for(total)) return;
  std::string names;
  for (const auto& part : parts) {
    if (part.first > 0) names += (names.empty() ? "" : "; ") + std::string(part.second);
  }
  PyErr_SetString(PyExc_MemoryError, (names + ": cannot allocate them together" + gib(total) +
                                      ", more than the memory free now" + gib(available_memory()))
                                         .c_str());
  throw py::error_already_set();
}

inline bool is_aligned(const void* p) { return reinterpret_cast<std::uintptr_t>(p) % kAlign == 0; }

// Whether two arrays' elements may lie in the same bytes: the spans from their lowest to their
// highest element overlap (strides of either sign).
inline bool spans_overlap(const py::array& a, const py::array& b) {
  const auto span = [](const py::array& x) {
    const char* lo = static_cast<const char*>(x.data());
    const char* hi = lo + x.itemsize();
    for (py::ssize_t d = 0; d < x.ndim(); ++d) {
      const py::ssize_t reach = (x.shape(d) - 1) * x.strides(d);
      (reach < 0 ? lo : hi) += reach;
    }
    return std::pair{lo, hi};
  };
  if (a.size() == 0 || b.size() == 0) return false;
  const auto [a0, a1] = span(a);
  const auto [b0, b1] = span(b);
  return a0 < b1 && b0 < a1;
}

// An uninitialised C-contiguous array whose data is 64-byte aligned, in a block from the core's
// block cache (blocks.hpp): the block's first kAlign bytes hold its size, for giving it back.
// `what` names it where it is too large (checked_bytes).
template <typename T>
Array<T> aligned_empty(const std::vector<py::ssize_t>& shape, const char* what) {
  static_assert(kAlign % kBlockAlign == 0 && kAlign >= sizeof(std::size_t));
  const std::size_t bytes = (checked_bytes(shape, sizeof(T), what) / kAlign + 2) * kAlign;
  unsigned char* block = nullptr;
  try {
    block = static_cast<unsigned char*>(block_cache().acquire(bytes));
  } catch (const std::bad_alloc&) {  // below the machine's memory, above the process's limit
    cannot_allocate(shape, what,
                    gib(double(bytes)) +
                        ": the allocator refused it (a limit on this process's memory, or memory "
                        "in use)");
  }
  *reinterpret_cast<std::size_t*>(block) = bytes;
  py::capsule owner(block,
                    [](void* p) { block_cache().release(p, *static_cast<const std::size_t*>(p)); });
  return Array<T>(shape, reinterpret_cast<T*>(block + kAlign), owner);
}

// Whether `array` holds floats of 8 bytes or more: float64, or a wider float (long double),
// which computes in float64, the widest there is here (float32 would narrow it most).
// (No py::array is default-constructed here: that makes and frees an empty NumPy array.)
inline bool is_float64(const py::array& array) {
  const py::dtype dt = array.dtype();
  return dt.kind() == 'f' && dt.itemsize() >= 8;
}

// The one dtype rule: compute in float64 when the kernel is float64 (or wider), in float32
// otherwise. Any float of 8 bytes or more counts, whatever its byte order or provenance (an
// unpickled array's dtype is equal to, but not the same object as, NumPy's float64). An array
// of another library (a torch tensor: it has a dtype and converts through __array__) counts by
// the array it converts to; a Python list has no dtype and counts as float32.
inline bool wants_double(const py::handle& kernel) {
  if (py::isinstance<py::array>(kernel))
    return is_float64(py::reinterpret_borrow<py::array>(kernel));
  if (!py::hasattr(kernel, "dtype") || !py::hasattr(kernel, "__array__")) return false;
  try {
    const py::array array = py::array::ensure(py::module_::import("numpy").attr("asarray")(kernel));
    return array && is_float64(array);
  } catch (py::error_already_set&) {
    return false;  // as_array then names what arrived
  }
}

// "float32 array of shape (2, 3), not C-contiguous": what arrived, for error messages.
inline std::string describe(const py::handle& obj) {
  if (!py::isinstance<py::array>(obj)) {
    return std::string(py::str(py::type::of(obj).attr("__name__")));
  }
  const auto a = py::reinterpret_borrow<py::array>(obj);
  std::string s = std::string(py::str(a.dtype())) + " array of shape " + shape_str(a);
  if (!(a.flags() & py::array::c_style)) s += ", not C-contiguous";
  if (!a.writeable()) s += ", read-only";
  return s;
}

// TypeError for a NumPy masked array (numpy.ma): its mask would be ignored, the values under it
// used. A plain ndarray costs one comparison of its type; only a subclass is looked at.
inline void refuse_masked(const py::handle& obj, const char* name) {
  const auto& api = py::detail::npy_api::get();
  if (Py_TYPE(obj.ptr()) == api.PyArray_Type_ || !api.PyArray_Check_(obj.ptr())) return;
  const py::object masked = py::module_::import("numpy.ma").attr("MaskedArray");
  if (PyObject_IsInstance(obj.ptr(), masked.ptr()) != 1) return;
  // The words of the Python layer's refuse_masked (_arrays.py), for arrays it converts itself.
  throw py::type_error(std::string(name) +
                       ": expected an array, got a numpy.ma.MaskedArray, whose mask would be "
                       "ignored; pass its data (np.ma.getdata) or its values filled in "
                       "(.filled()), and for a batch of sequences say which steps are valid "
                       "with mask= or lengths=, or a Masking layer");
}

// ValueError naming `name` where a finite value of `a`, floats wider than T, lies beyond T's range:
// NumPy's cast makes it inf with only a RuntimeWarning (1e300 as float32), and the call would
// compute on inf. Infinities and NaN given as such are kept. The words of the Python layer's
// cast_within_range (_arrays.py). A C-contiguous float64 array, the usual case, is scanned
// here; any other (strided, byte-swapped, long double) and a found value go through NumPy.
template <typename T>
void refuse_beyond_range(const py::array& a, const char* name) {
  if constexpr (std::is_same_v<T, float>) {
    // The least double that float rounds to infinity: halfway from FLT_MAX to 2^128 (a tie goes
    // to 2^128, FLT_MAX's last bit being 1). Compared, not cast: a cast past float's range is
    // undefined behaviour in C++ (inf on IEEE hardware, but not promised).
    constexpr double kOverflow = 0x1.ffffffp127;
    if (a.dtype().equal(py::dtype::of<double>()) && (a.flags() & py::array::c_style)) {
      const auto* v = static_cast<const double*>(a.data());
      bool beyond = false;
      for (py::ssize_t i = 0, n = a.size(); i < n; ++i) {
        beyond |= std::fabs(v[i]) >= kOverflow && std::isfinite(v[i]);
      }
      if (!beyond) return;
    }
  }
  const py::module_ np = py::module_::import("numpy");
  py::object quiet = np.attr("errstate")(py::arg("over") = "ignore");
  quiet.attr("__enter__")();
  py::object cast;
  try {
    cast = a.attr("astype")(py::dtype::of<T>());
  } catch (...) {
    quiet.attr("__exit__")(py::none(), py::none(), py::none());
    throw;
  }
  quiet.attr("__exit__")(py::none(), py::none(), py::none());
  const py::array lost =
      np.attr("flatnonzero")(np.attr("isinf")(cast).attr("__and__")(np.attr("isfinite")(a)));
  if (lost.size() == 0) return;
  const py::tuple index = np.attr("unravel_index")(lost.attr("__getitem__")(0), a.attr("shape"));
  py::list at;
  for (const auto& i : index) at.append(py::int_(py::reinterpret_borrow<py::object>(i)));
  const auto format = py::module_::import("builtins").attr("format");
  const py::object value = a.attr("__getitem__")(py::tuple(at));
  std::string shown = py::str(format(value, ".9g"));
  // format() goes through a Python float: a long double beyond float64 would read "inf"
  if (shown == "inf" || shown == "-inf") shown = py::str(value);
  const py::ssize_t count = lost.size();
  throw std::invalid_argument(std::string(name) + ": expected values within " +
                              std::string(py::str(py::dtype::of<T>())) + "'s range (magnitude <= " +
                              std::string(py::str(format(std::numeric_limits<T>::max(), ".9g"))) +
                              "), got " + shown + " at index " +
                              std::string(py::str(py::tuple(at))) + " (" + std::to_string(count) +
                              " such value" + (count > 1 ? "s" : "") + ")");
}

// Any array-like of real numbers (bool, integer or float) as a C-contiguous array of T, copied
// only when its dtype, layout or (with `align`) alignment differs. Complex, object and string
// data raise TypeError, as a masked array does.
template <typename T>
Array<T> as_array(const py::handle& obj, const char* name, bool align = true) {
  refuse_masked(obj, name);
  if (py::isinstance<Array<T>>(obj)) {  // already C-contiguous T: no conversion (the hot path)
    auto ready = py::reinterpret_borrow<Array<T>>(obj);
    if (!align || ready.size() == 0 || ready.size() >= kAlignCopyLimit ||
        is_aligned(ready.data())) {
      return ready;
    }
  }
  py::array a = py::array::ensure(obj);  // empty where NumPy cannot convert obj
  if (!a) {
    // A torch tensor converts only once it needs no gradient.
    const bool grad = py::hasattr(obj, "requires_grad") && py::bool_(obj.attr("requires_grad"));
    std::string why;  // else what NumPy says (ensure() cleared it): a ragged list, a bfloat16
    try {
      py::module_::import("numpy").attr("asarray")(obj);
    } catch (const py::error_already_set& e) {
      why = " (" + std::string(py::str(e.type().attr("__name__"))) + ": " +
            std::string(py::str(e.value())) + ")";
    }
    const std::string type = py::str(py::type::of(obj).attr("__name__"));
    if (type == "PackedSequence") {  // torch's: a tuple of tensors, which NumPy cannot stack
      why =
          " (torch.nn.utils.rnn.pad_packed_sequence(..., batch_first=True) gives the padded "
          "batch and its lengths: pass those, with lengths=)";
    }
    throw py::type_error(std::string(name) + ": expected an array of real numbers, got " + type +
                         (grad ? " that requires grad (pass .detach())" : why));
  }
  const char kind = a.dtype().kind();
  if (kind != 'f' && kind != 'i' && kind != 'u' && kind != 'b') {
    // What arrived: an array's dtype, or what NumPy made an array of (None: an object array).
    const std::string dtype = "dtype " + std::string(py::str(a.dtype()));
    const std::string got =
        py::isinstance<py::array>(obj) ? dtype
        : obj.is_none()
            ? std::string("None")
            : std::string(py::str(py::type::of(obj).attr("__name__"))) + " (as " + dtype + ")";
    throw py::type_error(std::string(name) + ": expected an array of real numbers (" +
                         std::string(py::str(py::dtype::of<T>())) + "), got " + got);
  }
  // A copy that no process could hold (a broadcast view of 2^62 elements, say) is refused by
  // name, where NumPy would say "array is too big" (a ValueError) or allocate.
  if (!py::isinstance<Array<T>>(a)) {
    checked_bytes(std::vector<py::ssize_t>(a.shape(), a.shape() + a.ndim()), sizeof(T), name);
  }
  if (kind == 'f' && a.dtype().itemsize() > static_cast<py::ssize_t>(sizeof(T))) {
    refuse_beyond_range<T>(a, name);
  }
  Array<T> converted = Array<T>::ensure(a);
  if (!converted) {
    // ensure() drops NumPy's reason: a copy too large for memory would read as a dtype that
    // cannot be converted. Converting again through NumPy gives the reason; a MemoryError comes
    // out as one, naming the argument.
    try {
      converted = Array<T>::ensure(
          py::module_::import("numpy").attr("ascontiguousarray")(a, py::dtype::of<T>()));
    } catch (py::error_already_set& e) {
      if (!e.matches(PyExc_MemoryError)) throw;
      const std::string why = std::string(name) + ": " + std::string(py::str(e.value()));
      PyErr_SetString(PyExc_MemoryError, why.c_str());
      throw py::error_already_set();
    }
  }
  if (!converted) {
    throw py::type_error(std::string(name) + ": cannot convert dtype " +
                         std::string(py::str(a.dtype())) + " to " +
                         std::string(py::str(py::dtype::of<T>())));
  }
  // Large inputs only meet Eigen's packed GEMM (which copies them into aligned blocks anyway), the
  // small GEMM (unaligned loads, no peeling) and exact elementwise copies and sums, none of which
  // depends on alignment; copying them would cost more than the call (megabytes of weights).
  if (!align || converted.size() == 0 || converted.size() >= kAlignCopyLimit ||
      is_aligned(converted.data())) {
    return converted;
  }
  std::vector<py::ssize_t> shape(converted.shape(), converted.shape() + converted.ndim());
  Array<T> aligned = aligned_empty<T>(shape, name);
  std::memcpy(aligned.mutable_data(), converted.data(), sizeof(T) * converted.size());
  return aligned;
}

// "(input, 4*hidden)" and the like, for G gate blocks.
inline std::string gates_of(const char* rows, int G) {
  return std::string("(") + rows + ", " + (G == 1 ? "" : std::to_string(G) + "*") + "hidden)";
}

// H from recurrent_kernel (H, G*H), checked against kernel (I, G*H) and bias: (G*H,), or (2, G*H)
// (input bias, recurrent bias) for cells with a recurrent bias. I comes from x when a sequence is
// given (input_size >= 0), else from the kernel. With an LSTM's (H, P) projection, H and P come
// from it and recurrent_kernel is (P, 4H).
template <typename Cell, typename T>
SeqShape check_weights(const Array<T>& kernel, const Array<T>& recurrent, const Array<T>& bias,
                       py::ssize_t input_size = -1, const Array<T>* projection = nullptr) {
  constexpr int G = Cell::kGates;
  const std::string ker = gates_of("input", G);
  SeqShape s;
  if (projection) {
    expect_ndim(*projection, "projection", 2, "(hidden, proj)");
    // PyTorch's weight_hr (P, H) passed as it is: the recurrent kernel (P, G*H) tells H and P,
    // where the projection's own shape, read as (H, P), blamed the recurrent kernel.
    if (recurrent.ndim() == 2 && recurrent.shape(1) % G == 0) {
      refuse_transposed(
          *projection, "projection", recurrent.shape(1) / G, recurrent.shape(0),
          "(hidden, proj) to match recurrent_kernel (proj, " + std::to_string(G) + "*hidden)");
    }
    s.H = projection->shape(0);
    s.P = projection->shape(1);
    if (s.H < 1 || s.P < 1) {
      throw std::invalid_argument("projection: expected shape (hidden, proj) with both >= 1, got " +
                                  shape_str(*projection));
    }
    expect_shape(recurrent, "recurrent_kernel", {s.P, G * s.H},
                 (gates_of("proj", G) + " to match projection (hidden, proj)").c_str());
  } else {
    const std::string rec = gates_of("hidden", G);
    expect_ndim(recurrent, "recurrent_kernel", 2, rec.c_str());
    // (G*h, h): the transpose of an (h, G*h) recurrent kernel (one gate: square, either way).
    if (G > 1)
      refuse_transposed(recurrent, "recurrent_kernel", recurrent.shape(1), G * recurrent.shape(1),
                        rec);
    s.H = recurrent.shape(0);
    if (s.H < 1) {
      throw std::invalid_argument("recurrent_kernel: expected shape " + rec +
                                  " with hidden >= 1, got " + shape_str(recurrent));
    }
    expect_shape(recurrent, "recurrent_kernel", {s.H, G * s.H}, rec.c_str());
  }
  const py::ssize_t GH = G * s.H;
  const std::string source = projection ? "projection" : "recurrent_kernel";
  const std::string match = (input_size < 0 ? " to match " : " to match x and ") + source;
  if (input_size < 0) {
    expect_ndim(kernel, "kernel", 2, ker.c_str());
    refuse_transposed(kernel, "kernel", kernel.shape(1), GH, ker + match);
    input_size = kernel.shape(0);
  }
  s.I = input_size;
  refuse_transposed(kernel, "kernel", s.I, GH, ker + match);
  expect_shape(kernel, "kernel", {s.I, GH}, (ker + match).c_str());
  const std::string cols = G == 1 ? "hidden" : std::to_string(G) + "*hidden";
  if (Cell::kRecurrentBias) {
    expect_shape(bias, "bias", {2, GH},
                 ("(2, " + cols + ") (input bias, recurrent bias) to match " + source).c_str());
  } else {
    expect_shape(bias, "bias", {GH}, ("(" + cols + ",) to match " + source).c_str());
  }
  return s;
}

// The LSTM's options as Python passes them: peepholes, a (3H,) array (blocks i, f, o) or None;
// clip, a positive number or None. Other cells take neither.
template <typename T>
struct LstmOptions {
  std::optional<Array<T>> peephole;
  T clip = 0;  // 0: none
  const T* peephole_data() const { return peephole ? peephole->data() : nullptr; }
};

// The LSTM's optional (H, P) projection (shapes are checked by check_weights), or none.
template <typename Cell, typename T>
std::optional<Array<T>> projection_or_none(const py::handle& obj) {
  if (obj.is_none()) return std::nullopt;
  if (!Cell::kHasCell) {
    throw std::invalid_argument("projection: only the LSTM has a projection, expected None");
  }
  return as_array<T>(obj, "projection");
}

template <typename Cell, typename T>
LstmOptions<T> check_options(const py::handle& peephole, const py::handle& clip, py::ssize_t H) {
  LstmOptions<T> o;
  if (!Cell::kHasCell && !peephole.is_none()) {
    throw std::invalid_argument("peephole: only the LSTM has peepholes, expected None");
  }
  if (!Cell::kHasCell && !clip.is_none()) {
    throw std::invalid_argument("clip: only the LSTM has a cell clip, expected None");
  }
  if (!peephole.is_none()) {
    o.peephole = as_array<T>(peephole, "peephole");
    expect_shape(*o.peephole, "peephole", {3 * H},
                 "(3*hidden,) (blocks i, f, o) to match recurrent_kernel");
  }
  if (clip.is_none()) return o;
  double v = 0;
  // Python and NumPy real scalars; not bools, which are ints in Python.
  const py::object np_real = py::module_::import("numpy").attr("floating");
  const py::object np_int = py::module_::import("numpy").attr("integer");
  const bool number = !py::isinstance<py::bool_>(clip) &&
                      (py::isinstance<py::float_>(clip) || py::isinstance<py::int_>(clip) ||
                       py::isinstance(clip, np_real) || py::isinstance(clip, np_int));
  const std::string expected = "clip: expected a positive finite number or None, got " +
                               std::string(py::str(py::repr(clip)));
  if (!number) throw py::type_error(expected);  // a str, a bool, an array: not a number
  try {
    v = py::float_(py::reinterpret_borrow<py::object>(clip)).cast<double>();
  } catch (const py::error_already_set&) {  // an int beyond a double's range (OverflowError)
    v = HUGE_VAL;
  }
  if (!(v > 0) || !std::isfinite(v)) throw std::invalid_argument(expected);
  o.clip = static_cast<T>(v);
  if (!(o.clip > 0) || !std::isfinite(o.clip)) {  // 0 would mean no clip at all
    throw std::invalid_argument(
        std::string("clip: expected a bound that ") + (sizeof(T) == 4 ? "float32" : "float64") +
        " holds as a positive finite number, got " + std::string(py::str(py::repr(clip))));
  }
  return o;
}

}  // namespace fastlstm::bindings
