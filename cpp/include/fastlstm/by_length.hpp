// A padded batch walked sorted by length, its padded steps skipped: lengths (right padding), or
// a mask whose rows are each one run of valid steps (left or right padding, Keras's masks).
//
// A padded step needs no work: with lengths its output is zero and the state stays as it was;
// with a mask (Keras) the state stays and the output repeats the last one (h0 before the run). A
// walk multiplies its rows together, one product per step for all of them; with every sequence
// started at step 0 and the rows sorted by length, longest first, the rows still running at step
// t are the first count(t), and the walk multiplies only those. The walk's buffers hold
// the valid steps only, in the packed order (SeqShape::packed): step t's rows one after another,
// then step t + 1's. The GEMMs over all steps (x*K + b forward, dK, dR and dX backward) then run
// over the valid rows alone, one GEMM each.
//
// The order depends only on the mask (a stable sort: rows of equal length keep the caller's
// order), not on the thread count, so that backward, from the mask alone, finds training's saved
// buffers where forward put them. The threads take contiguous runs of positions with about equal
// numbers of valid steps (Packing::bounds). The caller's buffers keep the caller's order and
// layout: x, the initial states and the recurrent dropout mask are gathered in, y and the final
// states scattered back.
#pragma once

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <tuple>
#include <utility>
#include <vector>

#include "fastlstm/blocks.hpp"
#include "fastlstm/buffers.hpp"
#include "fastlstm/threads.hpp"
#include "fastlstm/types.hpp"

namespace fastlstm {

// Row b of a (B, T) mask as one run of valid steps: (its first step, its count); (0, 0) for a
// row with none. Where the row's valid steps are not one run, the count is that of the first run.
inline std::pair<Index, Index> valid_run(const std::uint8_t* mask, Index T, Index b) {
  const std::uint8_t* row = mask + b * T;
  Index first = 0, n = 0;
  while (first < T && !row[first]) ++first;
  while (first + n < T && row[first + n]) ++n;
  return {n ? first : 0, n};
}

// Whether every row of a (B, T) mask is one run of valid steps (left padding, right padding or
// both), which Packing takes; with from_start, each run from step 0 (right padding).
inline bool single_runs(const std::uint8_t* mask, Index B, Index T, bool from_start) {
  for (Index b = 0; b < B; ++b) {
    const auto [first, n] = valid_run(mask, T, b);
    const std::uint8_t* row = mask + b * T;
    if (from_start && first > 0) return false;
    if (std::any_of(row + first + n, row + T, [](std::uint8_t v) { return v != 0; })) return false;
  }
  return true;
}

class Packing {
 public:
  // mask: (B, T), each row one run of valid steps (single_runs). Sequence step τ of a row is the
  // caller's step first + τ; the packed order starts every sequence at step 0.
  Packing(const std::uint8_t* mask, Index B, Index T)
      : T_(T), order_(B), first_(B), length_(B), offset_(T + 1, 0) {
    std::vector<std::pair<Index, Index>> runs(B);
    for (Index b = 0; b < B; ++b) runs[b] = valid_run(mask, T, b);
    std::iota(order_.begin(), order_.end(), Index{0});
    std::stable_sort(order_.begin(), order_.end(),
                     [&](Index a, Index b) { return runs[a].second > runs[b].second; });
    for (Index p = 0; p < B; ++p) std::tie(first_[p], length_[p]) = runs[order_[p]];
    // count(τ): the positions whose length exceeds τ, the first ones.
    for (Index t = 0, n = B; t < T; ++t) {
      while (n > 0 && length_[n - 1] <= t) --n;
      offset_[t + 1] = offset_[t] + n;
    }
  }

  // s with its rows in the packed order.
  SeqShape shape(const SeqShape& s) const {
    SeqShape packed = s;
    packed.packed = offset_.data();
    return packed;
  }
  Index rows() const { return offset_[T_]; }

  // Boundaries of `chunks` contiguous runs of positions (chunks + 1 values), each run non-empty
  // (chunks <= B) and holding about the same number of valid steps; a row counts one step more,
  // for the work of a row with none (its final state).
  std::vector<Index> bounds(int chunks) const {
    const Index B = static_cast<Index>(order_.size());
    std::vector<Index> ends(chunks + 1, B);
    ends[0] = 0;
    const double total = double(rows() + B);
    for (int k = 1; k < chunks; ++k) {
      double done = 0;
      Index p = 0;
      while (p < B && done + double(length_[p] + 1) <= total * k / chunks) done += length_[p++] + 1;
      ends[k] = std::clamp(p, ends[k - 1] + 1, B - (chunks - k));
    }
    return ends;
  }

  // (B, cols) rows, the caller's order to the sorted one, and back.
  template <typename T>
  void sort_rows(const T* from, Index cols, T* to) const {
    for (Index p = 0; p < Index(order_.size()); ++p)
      std::copy_n(from + order_[p] * cols, cols, to + p * cols);
  }
  template <typename T>
  void unsort_rows(const T* from, Index cols, T* to) const {
    for (Index p = 0; p < Index(order_.size()); ++p)
      std::copy_n(from + p * cols, cols, to + order_[p] * cols);
  }

  // The valid steps of a (T*B, cols) buffer in the caller's layout `s`, into packed rows.
  template <typename T>
  void gather(const SeqShape& s, const T* from, Index cols, T* to) const {
    each_row(cols, [&](Index p, Index b, Index t) {
      std::copy_n(from + s.row(b, first_[p] + t) * cols, cols, to + (offset_[t] + p) * cols);
    });
  }
  // Packed rows into a buffer in the caller's layout: the valid steps, and the masked ones zero
  // (initial nullptr), or carrying the state (Keras): before a row's run the (B, cols) row of
  // `initial` (in the caller's order), after it the run's last step.
  template <typename T>
  void unpack(const SeqShape& s, const T* from, Index cols, T* to, const T* initial) const {
    each_sequence(cols * T_, [&](Index p, Index b) {
      const Index first = first_[p], n = length_[p];
      for (Index t = 0; t < T_; ++t) {
        T* row = to + s.row(b, t) * cols;
        if (t >= first && t < first + n) {
          std::copy_n(from + (offset_[t - first] + p) * cols, cols, row);
        } else if (!initial) {
          std::fill_n(row, cols, T(0));
        } else {
          const bool before = t < first || n == 0;
          std::copy_n(before ? initial + b * cols : to + s.row(b, first + n - 1) * cols, cols, row);
        }
      }
    });
  }
  // Packed rows added into the valid steps of a buffer in the caller's layout.
  template <typename T>
  void add_unpacked(const SeqShape& s, const T* from, Index cols, T* to) const {
    each_row(cols, [&](Index p, Index b, Index t) {
      map(to + s.row(b, first_[p] + t) * cols, 1, cols) +=
          map(from + (offset_[t] + p) * cols, 1, cols);
    });
  }
  // Where masked steps carry the state (unpack with `initial`), their outputs are h0 before a
  // row's run and the run's last h after it: dL/dy at those steps (the caller's layout) is added
  // to the packed dL/dy of the run's last step, and to dL/dh0 (`dh0`, (B, cols) sorted rows).
  template <typename T>
  void fold_masked(const SeqShape& s, const T* dy, Index cols, T* packed_dy, T* dh0) const {
    each_sequence(cols * T_, [&](Index p, Index b) {
      const Index first = first_[p], n = length_[p];
      for (Index t = 0; t < T_; ++t) {
        if (t >= first && t < first + n) continue;
        T* to = n > 0 && t >= first + n ? packed_dy + (offset_[n - 1] + p) * cols : dh0 + p * cols;
        map(to, 1, cols) += map(dy + s.row(b, t) * cols, 1, cols);
      }
    });
  }

 private:
  Index T_;
  std::vector<Index> order_;   // position p in sorted order: the caller's row there
  std::vector<Index> first_;   // position p: the caller's step its run starts at
  std::vector<Index> length_;  // position p: its valid steps, longest first
  std::vector<Index> offset_;  // (T + 1): step t's first packed row; offset_[T] = rows()

  // fn(p, b) for every position p (the caller's row b), positions split over the threads.
  template <typename Fn>
  void each_sequence(Index values, Fn&& fn) const {
    const Index B = static_cast<Index>(order_.size());
    parallel_chunks(B, kFlopsPerCopiedValue * double(values) * B, [&](Index p0, Index p1) {
      for (Index p = p0; p < p1; ++p) fn(p, order_[p]);
    });
  }
  // fn(p, b, t) for every valid step t of every position p.
  template <typename Fn>
  void each_row(Index cols, Fn&& fn) const {
    each_sequence(cols * rows() / std::max<Index>(1, Index(order_.size())), [&](Index p, Index b) {
      for (Index t = 0; t < length_[p]; ++t) fn(p, b, t);
    });
  }
};

// Forward's buffers for a padded batch walked in the packed order: x's valid steps gathered,
// h0, c0 and the recurrent dropout mask sorted, the final states and y in buffers of their own
// until scatter(); for training, the caller's gates and c_all buffers hold the valid steps packed
// (their first rows()), for backward; for inference with `precomputed` (a batch split whose x*K + b
// for all steps fits), a buffer of its own for x*K + b over every valid step.
template <typename T>
class ByLength {
 public:
  ByLength(const SeqShape& s, const ForwardBuffers<T>& buf, Index SH, bool precomputed)
      : packing_(buf.mask, s.B, s.T),
        shape_(packing_.shape(s)),
        x_(packing_.rows() * s.I),
        z_(buf.gates || !precomputed ? 0 : packing_.rows() * SH),
        y_(packing_.rows() * s.state_width()),
        h0_(s.B * s.state_width()),
        recurrent_mask_(buf.recurrent_mask ? s.B * s.state_width() : 0),
        c0_(buf.c0 ? s.B * s.H : 0),
        h_last_(s.B * s.state_width()),
        c_last_(buf.c_last ? s.B * s.H : 0) {
    const Index P = s.state_width();
    packing_.gather(s, buf.x, s.I, x_.data());
    packing_.sort_rows(buf.h0, P, h0_.data());
    if (buf.recurrent_mask) packing_.sort_rows(buf.recurrent_mask, P, recurrent_mask_.data());
    if (buf.c0) packing_.sort_rows(buf.c0, s.H, c0_.data());
    sorted_ = buf;
    sorted_.x = x_.data();
    if (!buf.gates) sorted_.gates = precomputed ? z_.data() : nullptr;
    sorted_.y = y_.data();
    sorted_.h0 = h0_.data();
    sorted_.recurrent_mask = buf.recurrent_mask ? recurrent_mask_.data() : nullptr;
    sorted_.c0 = buf.c0 ? c0_.data() : nullptr;
    sorted_.h_last = h_last_.data();
    sorted_.c_last = buf.c_last ? c_last_.data() : nullptr;
    sorted_.mask = nullptr;  // the packed order holds valid steps only
    sorted_.zero_masked = false;
  }

  const Packing& packing() const { return packing_; }
  // The shape and buffers the walk runs on: rows in the packed order, x*K + b in `gates`.
  const SeqShape& shape() const { return shape_; }
  const ForwardBuffers<T>& buffers() const { return sorted_; }

  // The walk's outputs into the caller's buffers, in the caller's row order and layout.
  void scatter(const SeqShape& s, const ForwardBuffers<T>& out) const {
    // With lengths (zero_masked) the padding's outputs are zero; with a mask they repeat h.
    packing_.unpack(s, y_.data(), s.state_width(), out.y, out.zero_masked ? nullptr : out.h0);
    packing_.unsort_rows(h_last_.data(), s.state_width(), out.h_last);
    if (out.c_last) packing_.unsort_rows(c_last_.data(), s.H, out.c_last);
  }

 private:
  Packing packing_;
  SeqShape shape_;
  Buffer<T> x_, z_, y_, h0_, recurrent_mask_, c0_, h_last_, c_last_;
  ForwardBuffers<T> sorted_;
};

}  // namespace fastlstm
