// The sequence walk: one time loop shared by every cell. A cell (lstm_cell.hpp) supplies the gate
// math; the walk does the GEMMs and the bookkeeping:
//   forward:  per step Z_t = x_t*K + b + h_{t-1}*R and the cell's fused gate update. x*K + b is
//             one GEMM over all timesteps, into the gates that training keeps for backward;
//             inference with a large T*B adds x_t*K per step instead and keeps no such buffer.
//   backward: per step only the serial part, dZ_t from the cell and dh_{t-1} = dZ_t*R^T; then
//             dX, dK, dR and db as single GEMMs over all timesteps.
// Buffers are (T*B, cols) row-major in the caller's row order (see SeqShape).
#pragma once

#include <algorithm>
#include <cstdint>

#include "fastlstm/small_gemm.hpp"
#include "fastlstm/threads.hpp"
#include "fastlstm/types.hpp"

namespace fastlstm {

// Weights in the canonical layout: kernel (I, G*H), recurrent (H, G*H), bias (G*H), gate blocks in
// the cell's order.
template <typename T>
struct Weights {
  const T* kernel;
  const T* recurrent;
  const T* bias;
};

template <typename T>
struct ForwardBuffers {
  const T* x;   // (T*B, I)
  const T* h0;  // (B, H) initial hidden state
  const T* c0;  // (B, H) initial cell state (cells with kHasCell)
  T* y;         // (T*B, H) out: h_t for every step
  T* h_last;    // (B, H) out: h_T
  T* c_last;    // (B, H) out: c_T
  // Training only (both nullptr for inference): what backward needs.
  T* gates;  // (T*B, G*H) out: the activated gates
  T* c_all;  // (T*B, H) out: c_t for every step
  // Optional (B, T) batch-major, nonzero = valid. A masked step carries the state unchanged and
  // its output repeats h_{t-1} (Keras), or is zero with zero_masked (lengths: right padding only,
  // since a valid step must not follow a zeroed output).
  const std::uint8_t* mask = nullptr;
  bool zero_masked = false;
};

template <typename T>
struct BackwardBuffers {
  // What forward saw and kept.
  const T* x;
  const T* h0;
  const T* c0;
  const T* y;
  const T* gates;
  const T* c_all;
  // Upstream gradients; nullptr means zero.
  const T* dy;       // (T*B, H)
  const T* dh_last;  // (B, H)
  const T* dc_last;  // (B, H)
  // Gradients: dx, dkernel, drecurrent and dbias are added into; dh0 and dc0 are written.
  T* dx;          // (T*B, I)
  T* dkernel;     // (I, G*H)
  T* drecurrent;  // (H, G*H)
  T* dbias;       // (G*H)
  T* dh0;         // (B, H)
  T* dc0;         // (B, H)
  // The mask forward used (see ForwardBuffers).
  const std::uint8_t* mask = nullptr;
  bool zero_masked = false;
};

// Whether batch entry b takes step t (a (B, T) mask, nullptr: every step).
inline bool valid(const std::uint8_t* mask, const SeqShape& s, Index b, Index t) {
  return mask == nullptr || mask[b * s.T + t] != 0;
}

// Where the columns of a block of units lie in a weight matrix: panel p starts at
// data + p * step, holds columns [p * width, (p + 1) * width) of the block (the last panel may hold
// fewer), and its rows are `ld` apart.
template <typename T>
struct Panels {
  const T* data;
  Index width, step, ld;
};

// The weights for a block of hidden units [u0, u0 + m), all gates of each, as (rows, G*m) blocks
// with gate blocks side by side: kernel (I rows), recurrent (H rows), bias (G*m, contiguous).
template <typename T>
struct UnitWeights {
  Panels<T> kernel, recurrent;
  const T* bias;
  Index u0, m;
};

// The columns of units [u0, u0 + m) of a (rows, G*H) matrix, where they lie: one panel per gate.
template <int G, typename T>
Panels<T> units_in_place(const T* w, Index H, Index u0, Index m) {
  return {w + u0, m, H, G * H};
}

// Copies the columns of units [u0, u0 + m) of a (rows, G*H) matrix into contiguous column panels
// `panel` wide, (rows, panel) each, panel after panel: each is one sequential stream for the step
// product, which the prefetchers follow better than short runs a row apart.
template <int G, typename T>
Panels<T> pack_units(const T* src, Index rows, Index H, Index u0, Index m, Index panel, T* dst) {
  const Index width = G * m;
  for (Index r = 0; r < rows; ++r) {
    // Column c of the block is unit c % m of gate c / m; copy runs within one gate and panel.
    for (Index c = 0; c < width;) {
      const Index c0 = c / panel * panel;
      const Index run = std::min(m - c % m, std::min(c0 + panel, width) - c);
      const T* from = src + r * G * H + (c / m) * H + u0 + c % m;
      std::copy(from, from + run, dst + c0 * rows + r * panel + (c - c0));
      c += run;
    }
  }
  return {dst, panel, panel * rows, panel};
}

// z += a * w, w being a block of units laid out as `w` says, (rows, width) in all.
template <typename A, typename T, typename Z>
void panel_product(const A& a, const Panels<T>& w, Index rows, Index width, Z& z) {
  for (Index p = 0; p * w.width < width; ++p) {
    const Index c0 = p * w.width, pw = std::min(w.width, width - c0);
    step_product(a, map(w.data + p * w.step, rows, pw, w.ld), cols(z, c0, pw));
  }
}

// Forward over the whole sequence for batch entries [b0, b0 + n) and the units of `u`. One thread
// either walks a block of the batch through all units, or (small batches) a block of the units
// for the whole batch; then `sync` is a barrier after each step so that every thread sees the
// whole h_t before step t + 1. `zk` is the thread's (n, G*m) scratch for its gates.
template <typename Cell, typename T, typename Sync>
void forward_steps(const SeqShape& s, const UnitWeights<T>& u, const ForwardBuffers<T>& buf,
                   Index b0, Index n, T* zk, Sync&& sync) {
  constexpr Index G = Cell::kGates;
  const Index H = s.H, GH = G * s.H, u0 = u.u0, m = u.m;
  // precomputed: buf.gates holds x_t*K + b for every step; training: keep gates and every c_t.
  const bool precomputed = buf.gates != nullptr, training = buf.c_all != nullptr;
  const bool all_units = m == H;
  const auto h0 = map(buf.h0 + b0 * H, n, H);
  const auto c0 = map(buf.c0 + b0 * H, n, H);
  auto h_last = cols(map(buf.h_last + b0 * H, n, H), u0, m);
  auto c_last = cols(map(buf.c_last + b0 * H, n, H), u0, m);
  if (s.T == 0) {
    h_last = cols(h0, u0, m);
    c_last = cols(c0, u0, m);
    return;
  }
  Matrix<T> kept(buf.mask ? n : 0, m);  // c_{t-1} of masked rows
  for (Index t = 0; t < s.T; ++t) {
    // z_t = x_t*K + b (from the input GEMM when precomputed) + h_{t-1}*R, this thread's units.
    auto z = precomputed && all_units ? s.step(buf.gates, GH, t, b0, n) : map(zk, n, G * m);
    if (!precomputed) {
      z.rowwise() = row_vector(u.bias, G * m);
      panel_product(s.step(buf.x, s.I, t, b0, n), u.kernel, s.I, G * m, z);
    } else if (!all_units) {
      for (Index g = 0; g < G; ++g)
        cols(z, g * m, m) = cols(s.step(buf.gates, GH, t, b0, n), g * H + u0, m);
    }
    const auto h_prev = t == 0 ? h0 : s.step(static_cast<const T*>(buf.y), H, t - 1, b0, n);
    panel_product(h_prev, u.recurrent, H, G * m, z);
    // Inference keeps c_t only in c_last, updated in place; training keeps every c_t.
    const auto c_prev = t == 0 ? cols(c0, u0, m)
                        : training
                            ? cols(s.step(static_cast<const T*>(buf.c_all), H, t - 1, b0, n), u0, m)
                            : map(static_cast<const T*>(c_last.data()), n, m, H);
    auto c = training ? cols(s.step(buf.c_all, H, t, b0, n), u0, m) : c_last;
    auto h = cols(s.step(buf.y, H, t, b0, n), u0, m);
    // Masked rows go through the cell with the others (cheaper than taking them out of the
    // GEMM), then get their previous state back: c_prev may be c itself, so it is kept first.
    const auto masked = [&](Index r) { return !valid(buf.mask, s, b0 + r, t); };
    for (Index r = 0; buf.mask && r < n; ++r) {
      if (masked(r)) kept.row(r) = c_prev.row(r);
    }
    Cell::forward(z, c_prev, c, h);
    for (Index r = 0; buf.mask && r < n; ++r) {
      if (masked(r)) {
        c.row(r) = kept.row(r);
        h.row(r) = cols(h_prev, u0, m).row(r);
      }
    }
    if (training && !all_units) {  // backward reads the activated gates from the gates buffer
      for (Index g = 0; g < G; ++g)
        cols(s.step(buf.gates, GH, t, b0, n), g * H + u0, m) = cols(z, g * m, m);
    }
    sync();
  }
  h_last = cols(s.step(static_cast<const T*>(buf.y), H, s.T - 1, b0, n), u0, m);
  if (training) c_last = cols(s.step(static_cast<const T*>(buf.c_all), H, s.T - 1, b0, n), u0, m);
  if (!buf.zero_masked) return;
  for (Index t = 0; t < s.T; ++t) {  // now that no step reads them as h_{t-1}
    auto h = cols(s.step(buf.y, H, t, b0, n), u0, m);
    for (Index r = 0; r < n; ++r) {
      if (!valid(buf.mask, s, b0 + r, t)) h.row(r).setZero();
    }
  }
}

// Batches smaller than this many rows per thread split the hidden units instead of the batch:
// then R is read once per step in total, from the caches of all cores, instead of once per thread.
constexpr Index kMinRowsPerThread = 4;
// Panel width of a thread's copy of its weights: the widest strip the small GEMM takes (16
// packets of 16 floats), so that one strip reads one contiguous panel.
constexpr Index kPanel = 256;
// A thread packs its recurrent columns only while they fit in its L2 with room to spare.
constexpr double kMaxPackedBytes = 768 << 10;

// Inference computes the input projection for all timesteps at once (as training does) while its
// buffer stays this small; beyond, it adds x_t*K per step and keeps no (T*B, G*H) buffer at all.
constexpr double kMaxProjectionBytes = 8 << 20;

template <typename Cell, typename T>
void forward(const SeqShape& s, const Weights<T>& w, const ForwardBuffers<T>& in) {
  constexpr Index G = Cell::kGates;
  const Index H = s.H, GH = G * s.H;
  ForwardBuffers<T> buf = in;
  Matrix<T> projection;
  if (!buf.gates && double(s.rows()) * GH * sizeof(T) <= kMaxProjectionBytes) {
    projection.resize(s.rows(), GH);
    buf.gates = projection.data();
  }
  if (buf.gates) {  // the input projection for every timestep at once, one GEMM a thread
    parallel_chunks(s.rows(), 2.0 * s.rows() * s.I * GH, [&](Index r0, Index r1) {
      auto Z = map(buf.gates + r0 * GH, r1 - r0, GH);
      Z.noalias() = map(buf.x + r0 * s.I, r1 - r0, s.I) * map(w.kernel, s.I, GH);
      Z.rowwise() += row_vector(w.bias, GH);
    });
  }
  const double flops = 2.0 * s.T * s.B * H * (s.I + H) * G;
  const int threads = threads_for(s.B * H, flops);
  if (threads == 1 || s.B >= kMinRowsPerThread * threads) {
    // Batch entries are independent: each thread walks the whole sequence for its own block of
    // the batch, with no synchronisation between steps.
    const UnitWeights<T> all{{w.kernel, GH, 0, GH}, {w.recurrent, GH, 0, GH}, w.bias, 0, H};
    parallel_chunks(s.B, flops, [&](Index b0, Index b1) {
      Matrix<T> zk(buf.gates ? 0 : b1 - b0, GH);  // z_t when there is no precomputed projection
      forward_steps<Cell>(s, all, buf, b0, b1 - b0, zk.data(), [] {});
    });
    return;
  }
  // Small batch: each thread owns a block of hidden units and meets the others once per step.
  // Where its recurrent columns fit in its own L2, it packs them into contiguous panels first
  // (they then stream from L2 at every step); larger ones come from L3 either way, where packing
  // would cost more than it saves. Likewise its input columns, when x_t*K is added per step.
  const Index most = (H + threads - 1) / threads;
  const bool pack = double(H) * G * most * sizeof(T) <= kMaxPackedBytes;
  const Index packed_rows = pack ? (buf.gates ? 0 : s.I) + H : 0;
  const Index packed_cols = (G * most + kPanel - 1) / kPanel * kPanel;
  Matrix<T> packed(threads, packed_rows * packed_cols), bias(threads, G * most);
  Matrix<T> scratch(threads, s.B * G * most);
#pragma omp parallel num_threads(threads)
  {
    const Index k = omp_get_thread_num();
    const Index u0 = H * k / threads, m = H * (k + 1) / threads - u0;
    T* mine = packed.row(k).data();
    UnitWeights<T> units{units_in_place<G>(w.kernel, H, u0, m),
                         units_in_place<G>(w.recurrent, H, u0, m), bias.row(k).data(), u0, m};
    for (Index g = 0; g < G; ++g) {
      std::copy(w.bias + g * H + u0, w.bias + g * H + u0 + m, bias.row(k).data() + g * m);
    }
    if (pack) {
      units.recurrent = pack_units<G>(w.recurrent, H, H, u0, m, kPanel, mine);
      if (!buf.gates) {
        units.kernel = pack_units<G>(w.kernel, s.I, H, u0, m, kPanel, mine + H * packed_cols);
      }
    }
    forward_steps<Cell>(s, units, buf, 0, s.B, scratch.row(k).data(), [] {
#pragma omp barrier
    });
  }
}

// The serial part of backward for batch entries [b0, b0 + n): dZ_t for every step (into dz_all)
// and the running dh, dc, which end as dL/dh0 and dL/dc0. Also gathers h_{t-1} into h_prev, rows
// in dZ's order, so that dR is one GEMM afterwards. recurrent_t is R^T, (G*H, H) row-major.
template <typename Cell, typename T>
void backward_steps(const SeqShape& s, const T* recurrent_t, const BackwardBuffers<T>& buf,
                    T* dz_all, T* h_prev, Index b0, Index n) {
  const Index H = s.H, GH = Cell::kGates * s.H;
  const auto Rt = map(recurrent_t, GH, H);
  auto dh = map(buf.dh0 + b0 * H, n, H);  // dL/dh_t from the steps after t
  auto dc = map(buf.dc0 + b0 * H, n, H);  // dL/dc_t
  if (buf.dh_last)
    dh = map(buf.dh_last + b0 * H, n, H);
  else
    dh.setZero();
  if (buf.dc_last)
    dc = map(buf.dc_last + b0 * H, n, H);
  else
    dc.setZero();
  Matrix<T> dh_t(n, H), kept(buf.mask ? n : 0, H);
  auto dh_t_map = map(dh_t.data(), n, H);
  for (Index t = s.T - 1; t >= 0; --t) {
    const auto masked = [&](Index r) { return !valid(buf.mask, s, b0 + r, t); };
    dh_t_map = dh;
    if (buf.dy) dh_t_map += s.step(buf.dy, H, t, b0, n);
    for (Index r = 0; buf.mask && r < n; ++r) {
      if (!masked(r)) continue;
      if (buf.zero_masked) dh_t_map.row(r) = dh.row(r);  // a zero output has no gradient
      kept.row(r) = dc.row(r);
    }
    const auto c_prev = t == 0 ? map(buf.c0 + b0 * H, n, H) : s.step(buf.c_all, H, t - 1, b0, n);
    auto dz = s.step(dz_all, GH, t, b0, n);
    Cell::backward(s.step(buf.gates, GH, t, b0, n), c_prev, s.step(buf.c_all, H, t, b0, n),
                   map(static_cast<const T*>(dh_t.data()), n, H), dc, dz);
    // A masked step passed its state through unchanged: its gradients do too.
    for (Index r = 0; buf.mask && r < n; ++r) {
      if (!masked(r)) continue;
      dz.row(r).setZero();
      dc.row(r) = kept.row(r);
    }
    dh.setZero();
    step_product(map(static_cast<const T*>(dz.data()), n, GH, dz.outerStride()), Rt, dh);
    for (Index r = 0; buf.mask && r < n; ++r) {
      if (masked(r)) dh.row(r) = dh_t_map.row(r);
    }
    s.step(h_prev, H, t, b0, n) =
        t == 0 ? map(buf.h0 + b0 * H, n, H) : s.step(buf.y, H, t - 1, b0, n);
  }
}

template <typename Cell, typename T>
void backward(const SeqShape& s, const Weights<T>& w, const BackwardBuffers<T>& buf) {
  const Index H = s.H, GH = Cell::kGates * s.H, rows = s.rows();
  Matrix<T> dz_all(rows, GH), h_prev(rows, H);
  const Matrix<T> recurrent_t = map(w.recurrent, H, GH).transpose();  // row-major R^T for the steps
  parallel_chunks(s.B, 2.0 * s.T * s.B * H * GH, [&](Index b0, Index b1) {
    backward_steps<Cell>(s, recurrent_t.data(), buf, dz_all.data(), h_prev.data(), b0, b1 - b0);
  });
  if (s.T == 0) return;

  // Weight and input gradients: single GEMMs over all timesteps, split across threads by rows of
  // dX and by columns (gate units) of dK, dR and db; each thread reads only its columns of dZ.
  const auto dZ = map(static_cast<const T*>(dz_all.data()), rows, GH);
  const auto X = map(buf.x, rows, s.I);
  const auto Hp = map(static_cast<const T*>(h_prev.data()), rows, H);
  parallel_chunks(rows, 2.0 * rows * GH * s.I, [&](Index r0, Index r1) {
    map(buf.dx + r0 * s.I, r1 - r0, s.I).noalias() +=
        dZ.middleRows(r0, r1 - r0) * map(w.kernel, s.I, GH).transpose();
  });
  parallel_chunks(GH, 2.0 * rows * GH * (s.I + H), [&](Index c0, Index c1) {
    const auto dZ_cols = dZ.middleCols(c0, c1 - c0);
    map(buf.dkernel + c0, s.I, c1 - c0, GH).noalias() += X.transpose() * dZ_cols;
    map(buf.drecurrent + c0, H, c1 - c0, GH).noalias() += Hp.transpose() * dZ_cols;
    map(buf.dbias + c0, 1, c1 - c0) += dZ_cols.colwise().sum();
  });
}

}  // namespace fastlstm
