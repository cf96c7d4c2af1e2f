// Inference over a right-padded batch (lengths), its rows sorted by length inside the walk.
//
// A padded step does no work: with lengths, a sequence's steps past its length have zero outputs
// and leave its state as it was. The batch split walks its rows together, one product per step
// for all of them; sorted by length (longest first), the rows still running at a step are the
// first ones, and the walk multiplies only those (ForwardWalk's `prefix`). The caller's rows are
// not sorted: this keeps copies in sorted order, dealt round robin to the threads' chunks so
// that each chunk holds long and short sequences alike, each chunk's rows longest first. x*K + b
// is computed for each sequence's valid steps only, straight into the sorted copy; y and the
// final state go back to the caller's order at the end. (Training walks the caller's order, its
// x*K + b too for the valid steps only: project_sequence.)
#pragma once

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <vector>

#include "fastlstm/blocks.hpp"
#include "fastlstm/buffers.hpp"
#include "fastlstm/types.hpp"

namespace fastlstm {

// The valid steps of row b of a right-padded (B, T) mask: the first ones.
inline Index valid_steps(const std::uint8_t* mask, Index T, Index b) {
  Index n = 0;
  while (n < T && mask[b * T + n]) ++n;
  return n;
}

// z = x*K + b for the first n steps of the caller's row b of x, into the rows of row p of z (GH
// columns, rows SH apart): one GEMM over the sequence's valid steps. With zero_rest, z's rows of
// the steps past n are zeroed (what the projection of zero padding would leave there is the bias;
// training's walk computes those steps and sets their results aside, so any finite value does).
template <typename T>
void project_sequence(const SeqShape& s, const T* x, const T* kernel, const T* bias, Index GH,
                      Index SH, Index b, Index p, Index n, T* z, bool zero_rest) {
  const Index x_step = s.time_major ? s.B * s.I : s.I, z_step = s.time_major ? s.B * SH : SH;
  auto rows = map(z + s.row(p, 0) * SH, s.T, GH, z_step);
  if (zero_rest) rows.bottomRows(s.T - n).setZero();
  if (n == 0) return;
  auto valid = rows.topRows(n);
  valid.rowwise() = row_vector(bias, GH);
  valid.noalias() += map(x + s.row(b, 0) * s.I, n, s.I, x_step) * map(kernel, s.I, GH);
}

template <typename T>
class ByLength {
 public:
  // buf: the caller's inference buffers, with a right-padded mask (lengths); chunks: how many
  // chunks the walk will run in (run_chunks(s.B, chunks, ...)); SH: the cell's saved width (the
  // z buffer's row).
  ByLength(const SeqShape& s, const ForwardBuffers<T>& buf, int chunks, Index SH)
      : length_(s.B),
        order_(s.B),
        z_(s.rows() * SH),
        y_(s.rows() * s.state_width()),
        h0_(s.B * s.state_width()),
        c0_(buf.c0 ? s.B * s.H : 0),
        h_last_(s.B * s.state_width()),
        c_last_(buf.c_last ? s.B * s.H : 0),
        mask_(s.B * s.T) {
    for (Index b = 0; b < s.B; ++b) length_[b] = valid_steps(buf.mask, s.T, b);
    std::vector<Index> by_length(s.B);
    std::iota(by_length.begin(), by_length.end(), Index{0});
    std::stable_sort(by_length.begin(), by_length.end(),
                     [&](Index a, Index b) { return length_[a] > length_[b]; });
    // Chunk k holds positions [B*k/C, B*(k+1)/C) (parallel_chunks's); the j-th longest sequence
    // goes to the next chunk round robin that has room.
    std::vector<Index> filled(chunks, 0);
    int k = 0;
    for (Index j = 0; j < s.B; ++j) {
      const auto begin = [&](int c) { return s.B * c / chunks; };
      while (begin(k) + filled[k] == begin(k + 1)) k = (k + 1) % chunks;
      order_[begin(k) + filled[k]++] = by_length[j];
      k = (k + 1) % chunks;
    }
    const Index P = s.state_width();
    for (Index p = 0; p < s.B; ++p) {
      const Index b = order_[p];
      std::copy_n(buf.h0 + b * P, P, h0_.data() + p * P);
      if (buf.c0) std::copy_n(buf.c0 + b * s.H, s.H, c0_.data() + p * s.H);
      std::copy_n(buf.mask + b * s.T, s.T, mask_.data() + p * s.T);
    }
    sorted_ = buf;
    sorted_.gates = z_.data();
    sorted_.y = y_.data();
    sorted_.h0 = h0_.data();
    sorted_.c0 = buf.c0 ? c0_.data() : nullptr;
    sorted_.h_last = h_last_.data();
    sorted_.c_last = buf.c_last ? c_last_.data() : nullptr;
    sorted_.mask = mask_.data();
  }

  // The buffers the walk runs on: rows in sorted order, x*K + b in `gates` (project()).
  const ForwardBuffers<T>& buffers() const { return sorted_; }

  // z = x*K + b for the valid steps of the sequences at positions [p0, p1): GH columns of rows
  // SH apart, one GEMM per sequence over its steps.
  void project(const SeqShape& s, const T* x, const T* kernel, const T* bias, Index GH, Index SH,
               Index p0, Index p1) const {
    for (Index p = p0; p < p1; ++p) {
      const Index b = order_[p];
      project_sequence(s, x, kernel, bias, GH, SH, b, p, length_[b], z_.data(), false);
    }
  }

  // The walk's outputs into the caller's buffers, in the caller's row order.
  void scatter(const SeqShape& s, const ForwardBuffers<T>& out) const {
    const Index P = s.state_width();
    for (Index p = 0; p < s.B; ++p) {
      const Index b = order_[p];
      for (Index t = 0; t < s.T; ++t) {
        std::copy_n(y_.data() + s.row(p, t) * P, P, out.y + s.row(b, t) * P);
      }
      std::copy_n(h_last_.data() + p * P, P, out.h_last + b * P);
      if (out.c_last) std::copy_n(c_last_.data() + p * s.H, s.H, out.c_last + b * s.H);
    }
  }

 private:
  std::vector<Index> length_;  // the caller's row b: its valid steps
  std::vector<Index> order_;   // position p in sorted order: the caller's row there
  Buffer<T> z_, y_, h0_, c0_, h_last_, c_last_;
  std::vector<std::uint8_t> mask_;
  ForwardBuffers<T> sorted_;
};

}  // namespace fastlstm
