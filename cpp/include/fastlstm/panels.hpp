// Where a thread's weight columns lie, and the step product over them. A thread owns a block of
// hidden units [u0, u0 + m) and all gates of each: G*m columns of the (rows, G*H) kernel and
// recurrent kernel, gate blocks side by side (column g*m + j is unit u0 + j of gate g).
#pragma once

#include <algorithm>
#include <limits>

#include "fastlstm/small_gemm.hpp"
#include "fastlstm/threads.hpp"
#include "fastlstm/types.hpp"

namespace fastlstm {

// Panel p starts at data + p * step, holds columns [p * width, (p + 1) * width) of the block (the
// last panel may hold fewer), and its rows are `ld` apart. A packed copy (pack_units) ends
// instead in a tail (from column `tail` to `cols`): panels of width/2, width/4, ... down to one
// packet, each where the block has that many columns left, then the rest, each as wide as its
// columns (rows that many apart), so that one row's product reads each as one stream.
template <typename T>
struct Panels {
  const T* data;
  Index width, step, ld;
  Index tail = std::numeric_limits<Index>::max(), cols = 0;

  // The panel that holds column c: its data, first column, width and row stride.
  struct Panel {
    const T* data;
    Index c0, width, ld;
  };
  Panel at(Index c) const {
    if (c < tail) {
      const Index p = c / width;
      return {data + p * step, p * width, width, ld};
    }
    // Every panel of a packed copy is as wide as its rows are apart, so column c0 starts at
    // c0 * rows.
    const Index rows = step / width;
    Index c0 = tail;
    for (Index w = width / 2; w >= small_gemm_detail::kLanes<T>; w /= 2) {
      if (cols - c0 < w) continue;
      if (c < c0 + w) return {data + c0 * rows, c0, w, w};
      c0 += w;
    }
    return {data + c0 * rows, c0, cols - c0, cols - c0};
  }
};

// The weights for a block of units: kernel (I rows), recurrent (H rows), bias and recurrent bias
// (G*m, contiguous; the recurrent bias is nullptr for cells without one), the LSTM's peepholes
// (3*m, blocks i, f, o; nullptr: none), cell clip (0: none) and projection.
template <typename T>
struct UnitWeights {
  Panels<T> kernel, recurrent;
  const T* bias;
  const T* recurrent_bias;
  Index u0, m;
  const T* peephole = nullptr;
  T clip = 0;
  const T* projection = nullptr;  // (H, P) the LSTM's projection (all units only), or nullptr
};

// The columns of units [u0, u0 + m) of a (rows, G*H) matrix, where they lie: one panel per gate.
template <int G, typename T>
Panels<T> units_in_place(const T* w, Index H, Index u0, Index m) {
  return {w + u0, m, H, G * H};
}

// Copies units [u0, u0 + m) of each of the `blocks` blocks of H values in src (a bias's gate
// blocks, an LSTM's peepholes) into dst, (blocks*m) contiguous.
template <typename T>
void gather_units(const T* src, Index blocks, Index H, Index u0, Index m, T* dst) {
  for (Index g = 0; g < blocks; ++g) std::copy(src + g * H + u0, src + g * H + u0 + m, dst + g * m);
}

// Copies columns [c0, c1) of rows [r0, r1) of a block of units laid out as `w` says into dst,
// row r at dst + (r - r0) * ld: runs within one of w's panels (one gate, where w is in place).
template <typename T>
void copy_columns(const Panels<T>& w, Index r0, Index r1, Index c0, Index c1, T* dst, Index ld) {
  for (Index r = r0; r < r1; ++r) {
    for (Index c = c0; c < c1;) {
      const auto p = w.at(c);
      const Index run = std::min(p.c0 + p.width, c1) - c;
      const T* from = p.data + r * p.ld + (c - p.c0);
      std::copy(from, from + run, dst + (r - r0) * ld + (c - c0));
      c += run;
    }
  }
}

// Copies the columns of units [u0, u0 + m) of a (rows, G*H) matrix into contiguous column panels
// `panel` wide, (rows, panel) each, panel after panel, and a tail of narrower ones (see Panels):
// each is one sequential stream for the step product, which the prefetchers follow better than
// short runs a row apart. dst holds G*m * rows values. Rows are split over the threads (one
// inside parallel work, as in the unit split).
template <int G, typename T>
Panels<T> pack_units(const T* src, Index rows, Index H, Index u0, Index m, Index panel, T* dst) {
  const Index width = G * m;
  const Panels<T> panels{dst, panel, panel * rows, panel, width / panel * panel, width};
  const Panels<T> from = units_in_place<G>(src, H, u0, m);
  parallel_chunks(rows, kFlopsPerCopiedValue * double(rows) * width, [&](Index r0, Index r1) {
    for (Index r = r0; r < r1; ++r) {
      for (Index c = 0; c < width;) {
        const auto p = panels.at(c);
        T* to = dst + (p.data - dst) + r * p.ld;
        copy_columns(from, r, r + 1, p.c0, p.c0 + p.width, to, p.ld);
        c = p.c0 + p.width;
      }
    }
  });
  return panels;
}

// z += a * w[:, c_begin:c_end], w being a block of units laid out as `w` says; a is (n, rows),
// z (n, c_end - c_begin). Panel by panel, from the last when `reverse`: a step loop that
// alternates the direction starts each step on the panels the step before read last, still in
// cache where the block is bigger than L2 (measured, one row: 2 MiB of panels 1.25x faster per
// step on a 1 MiB L2, 1.25 MiB 1.3x; eight rows over 1 MiB 1.06-1.15x). Each column's sum runs
// in the same order either way: the results are the same bits. With `init` (c_end - c_begin
// values), z = init + a * w[...] instead (step_product).
template <typename A, typename T, typename Z>
void panel_product(const A& a, const Panels<T>& w, Index rows, Index c_begin, Index c_end, Z z,
                   bool reverse = false, const T* init = nullptr) {
  for (Index c = reverse ? c_end : c_begin; reverse ? c > c_begin : c < c_end;) {
    const auto p = w.at(reverse ? c - 1 : c);
    const Index begin = reverse ? std::max(p.c0, c_begin) : c;
    const Index end = reverse ? c : std::min(p.c0 + p.width, c_end);
    step_product(a, map(p.data + (begin - p.c0), rows, end - begin, p.ld),
                 cols(z, begin - c_begin, end - begin), init ? init + (begin - c_begin) : nullptr);
    c = reverse ? begin : end;
  }
}

// z = init + a * w for a block of units `width` columns wide that lies as `w` says (in place)
// and is read once (a sequence's x*K where one block of timesteps covers it): each panel of a
// packed copy `panel` wide (pack_units's layout) is copied into `scratch` (rows * panel values)
// just before its product, which then reads it from cache for every row of a. The products of a
// packed copy, without writing the whole block out and reading it back: the same bits where
// small_gemm takes them (it sums each column in the same order whatever the panel's width).
template <typename A, typename T, typename Z>
void staged_product(const A& a, const Panels<T>& w, Index rows, Index width, Index panel,
                    T* scratch, Z z, const T* init) {
  const Panels<T> packed{scratch, panel, panel * rows, panel, width / panel * panel, width};
  for (Index c = 0; c < width;) {
    const auto p = packed.at(c);  // where the packed copy has it: its columns and row stride
    copy_columns(w, 0, rows, p.c0, p.c0 + p.width, scratch, p.ld);
    step_product(a, map(static_cast<const T*>(scratch), rows, p.width, p.ld),
                 cols(z, p.c0, p.width), init ? init + p.c0 : nullptr);
    c = p.c0 + p.width;
  }
}

}  // namespace fastlstm
