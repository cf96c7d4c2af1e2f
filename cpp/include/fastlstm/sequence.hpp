// The sequence walk: one time loop shared by every cell. A cell (lstm_cell.hpp) supplies the gate
// math; the walk does the GEMMs and the bookkeeping:
//   forward:  Z = X*K + b for all timesteps at once (one GEMM), then per step Z_t += h_{t-1}*R
//             (one GEMM) and the cell's fused gate update.
//   backward: per step only the serial part, dZ_t from the cell and dh_{t-1} = dZ_t*R^T; then
//             dX, dK, dR and db as single GEMMs over all timesteps.
// Buffers are (T*B, cols) row-major in the caller's row order (see SeqShape).
#pragma once

#include <algorithm>
#include <vector>

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
  T* gates;     // (T*B, G*H) scratch; out: the activated gates, which backward needs
  T* c_all;     // (T*B, H) out: c_t for every step, for backward; nullptr for inference
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
  const T* dy;      // (T*B, H)
  const T* dh_last; // (B, H)
  const T* dc_last; // (B, H)
  // Gradients: dx, dkernel, drecurrent and dbias are added into; dh0 and dc0 are written.
  T* dx;          // (T*B, I)
  T* dkernel;     // (I, G*H)
  T* drecurrent;  // (H, G*H)
  T* dbias;       // (G*H)
  T* dh0;         // (B, H)
  T* dc0;         // (B, H)
};

// Forward over the whole sequence for batch entries [b0, b0 + n), after the input projection.
template <typename Cell, typename T>
void forward_steps(const SeqShape& s, const Weights<T>& w, const ForwardBuffers<T>& buf, Index b0,
                   Index n) {
  const Index H = s.H, GH = Cell::kGates * s.H;
  const auto R = map(w.recurrent, H, GH);
  const auto h0 = map(buf.h0 + b0 * H, n, H);
  const auto c0 = map(buf.c0 + b0 * H, n, H);
  auto h_last = map(buf.h_last + b0 * H, n, H);
  auto c_last = map(buf.c_last + b0 * H, n, H);
  if (s.T == 0) {
    h_last = h0;
    c_last = c0;
    return;
  }
  for (Index t = 0; t < s.T; ++t) {
    auto z = s.step(buf.gates, GH, t, b0, n);
    auto h = s.step(buf.y, H, t, b0, n);
    const auto h_prev = t == 0 ? h0 : s.step(static_cast<const T*>(buf.y), H, t - 1, b0, n);
    z.noalias() += h_prev * R;
    // Inference keeps c_t only in c_last, updated in place; training keeps every c_t.
    const auto c_prev = t == 0 ? c0
                        : buf.c_all ? s.step(static_cast<const T*>(buf.c_all), H, t - 1, b0, n)
                                    : map(static_cast<const T*>(c_last.data()), n, H);
    auto c = buf.c_all ? s.step(buf.c_all, H, t, b0, n) : c_last;
    Cell::forward(z, c_prev, c, h);
  }
  h_last = s.step(static_cast<const T*>(buf.y), H, s.T - 1, b0, n);
  if (buf.c_all) c_last = s.step(static_cast<const T*>(buf.c_all), H, s.T - 1, b0, n);
}

template <typename Cell, typename T>
void forward(const SeqShape& s, const Weights<T>& w, const ForwardBuffers<T>& buf) {
  const Index GH = Cell::kGates * s.H;
  // Input projection for every timestep at once: the part of the work that is not serial.
  auto Z = map(buf.gates, s.rows(), GH);
  Z.noalias() = map(buf.x, s.rows(), s.I) * map(w.kernel, s.I, GH);
  Z.rowwise() += row_vector(w.bias, GH);
  forward_steps<Cell>(s, w, buf, 0, s.B);
}

template <typename Cell, typename T>
void backward(const SeqShape& s, const Weights<T>& w, const BackwardBuffers<T>& buf) {
  const Index B = s.B, H = s.H, GH = Cell::kGates * s.H;
  const auto R = map(w.recurrent, H, GH);
  auto dh = map(buf.dh0, B, H);  // running dL/dh_{t}, from the steps after t
  auto dc = map(buf.dc0, B, H);  // running dL/dc_{t}
  if (buf.dh_last) dh = map(buf.dh_last, B, H); else dh.setZero();
  if (buf.dc_last) dc = map(buf.dc_last, B, H); else dc.setZero();
  if (s.T == 0) return;

  Matrix<T> dz_all(s.rows(), GH), dh_t(B, H), tc(B, H);
  auto dh_t_map = map(dh_t.data(), B, H);
  auto tc_map = map(tc.data(), B, H);
  for (Index t = s.T - 1; t >= 0; --t) {
    dh_t_map = dh;
    if (buf.dy) dh_t_map += s.step(buf.dy, H, t, 0, B);
    const auto c_prev = t == 0 ? map(buf.c0, B, H) : s.step(buf.c_all, H, t - 1, 0, B);
    auto dz = s.step(dz_all.data(), GH, t, 0, B);
    Cell::backward(s.step(buf.gates, GH, t, 0, B), c_prev, s.step(buf.c_all, H, t, 0, B),
                   map(static_cast<const T*>(dh_t.data()), B, H), dc, dz, tc_map);
    dh.noalias() = dz * R.transpose();
  }

  // Weight and input gradients: single GEMMs over all timesteps.
  const auto dZ = map(static_cast<const T*>(dz_all.data()), s.rows(), GH);
  const auto X = map(buf.x, s.rows(), s.I);
  map(buf.dx, s.rows(), s.I).noalias() += dZ * map(w.kernel, s.I, GH).transpose();
  map(buf.dkernel, s.I, GH).noalias() += X.transpose() * dZ;
  map(buf.dbias, 1, GH) += dZ.colwise().sum();
  // h_{t-1} for every row, in the same row order as dZ, so that dR is one GEMM too.
  Matrix<T> h_prev(s.rows(), H);
  for (Index t = 0; t < s.T; ++t) {
    s.step(h_prev.data(), H, t, 0, B) =
        t == 0 ? map(buf.h0, B, H) : s.step(buf.y, H, t - 1, 0, B);
  }
  map(buf.drecurrent, H, GH).noalias() += h_prev.transpose() * dZ;
}

}  // namespace fastlstm
