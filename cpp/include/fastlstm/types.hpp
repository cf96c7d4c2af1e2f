// Types shared by the core: row-major Eigen matrices, strided maps, and the sequence layout.
#pragma once

#include <Eigen/Core>
#include <algorithm>

namespace fastlstm {

using Index = Eigen::Index;

template <typename T>
using Matrix = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <typename T>
using Vector = Eigen::Matrix<T, 1, Eigen::Dynamic, Eigen::RowMajor>;

// A strided window on a row-major buffer: `rows` rows of `cols` values, `stride` values apart.
template <typename T>
using MatMap = Eigen::Map<Matrix<T>, Eigen::Unaligned, Eigen::OuterStride<>>;
template <typename T>
using ConstMatMap = Eigen::Map<const Matrix<T>, Eigen::Unaligned, Eigen::OuterStride<>>;

template <typename T>
MatMap<T> map(T* data, Index rows, Index cols, Index stride) {
  return MatMap<T>(data, rows, cols, Eigen::OuterStride<>(stride));
}
template <typename T>
ConstMatMap<T> map(const T* data, Index rows, Index cols, Index stride) {
  return ConstMatMap<T>(data, rows, cols, Eigen::OuterStride<>(stride));
}
template <typename T>
MatMap<T> map(T* data, Index rows, Index cols) {
  return map(data, rows, cols, cols);
}
template <typename T>
ConstMatMap<T> map(const T* data, Index rows, Index cols) {
  return map(data, rows, cols, cols);
}

// Columns [c0, c0 + n) of a strided window, as a window of its own.
template <typename M>
auto cols(M m, Index c0, Index n) {
  return map(m.data() + c0, m.rows(), n, m.outerStride());
}

// Asks for every cache line of a small window at once, ahead of a product that reads it value
// by value. Where another core has just written the window (h_{t-1} in a unit split, whose
// blocks each write their own units), each line is a transfer between cores, ~0.15 us on a VM;
// found one at a time as the product reaches them, the transfers follow one another. Windows
// over kPrefetchWindowBytes are left to the hardware prefetcher.
constexpr Index kPrefetchWindowBytes = 8 << 10;

// Asks the cache for the line holding `address`, to be read soon (a hint: any address will do).
inline void prefetch_line(const void* address) {
#if defined(__GNUC__)
  __builtin_prefetch(address, 0, 3);
#else
  (void)address;
#endif
}

template <typename M>
void prefetch_window(const M& m) {
  const Index row_bytes = m.cols() * Index(sizeof(typename M::Scalar));
  if (m.rows() * row_bytes > kPrefetchWindowBytes) return;
  for (Index r = 0; r < m.rows(); ++r) {
    const char* row = reinterpret_cast<const char*>(m.data() + r * m.outerStride());
    for (Index b = 0; b < row_bytes; b += 64) prefetch_line(row + b);
  }
}

template <typename T>
Eigen::Map<const Vector<T>> row_vector(const T* data, Index n) {
  return Eigen::Map<const Vector<T>>(data, n);
}

// Sizes of one sequence batch and the order of its rows.
//
// Every per-timestep buffer (x, y, gates, cell states, their gradients) is a (T*B, cols) row-major
// matrix in the caller's order: batch-major rows are b*T + t, time-major rows are t*B + b. The
// big GEMMs over all timesteps do not care about row order, and a step t is a strided window of B
// rows, so neither layout is ever transposed.
//
// A third order holds only the valid steps of a right-padded batch sorted by length, longest
// first (Packing, by_length.hpp): step t's rows are the first sequences, those still running,
// from row packed[t] on, one after another; rows() is packed[T]. Rows past a step's count are
// the next step's: a walk in this order touches only the valid rows of each step.
struct SeqShape {
  Index B = 0;  // batch
  Index T = 0;  // time steps
  Index I = 0;  // input features
  Index H = 0;  // hidden units
  bool time_major = false;
  Index P = 0;  // the width of h and y where it differs from H (an LSTM's projection), else 0
  const Index* packed = nullptr;  // (T + 1) step offsets in the packed order, or nullptr

  Index state_width() const { return P > 0 ? P : H; }

  Index rows() const { return packed ? packed[T] : T * B; }
  // First row of step t for batch entry b, and the distance in rows between batch entries.
  Index row(Index b, Index t) const {
    return packed ? packed[t] + b : time_major ? t * B + b : b * T + t;
  }
  Index batch_stride() const { return packed || time_major ? 1 : T; }
  // In the packed order: how many sequences step t has (the first ones).
  Index count(Index t) const { return packed[t + 1] - packed[t]; }
  // How many of rows [b0, b0 + n) step t has: all of them, or in the packed order those still
  // running (the first ones).
  Index rows_at(Index t, Index b0, Index n) const {
    return packed ? std::clamp(count(t) - b0, Index{0}, n) : n;
  }

  // Rows [b0, b0 + n) of step t in a buffer of `cols` columns.
  template <typename P>
  auto step(P* data, Index cols, Index t, Index b0, Index n) const {
    return map(data + row(b0, t) * cols, n, cols, batch_stride() * cols);
  }
};

}  // namespace fastlstm
