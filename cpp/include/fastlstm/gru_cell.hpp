// The GRU cell, in both placements of the reset gate (see cell_common.hpp for the contract).
// Gate blocks z (update), r (reset), h (candidate), Keras's order; u below is the update gate.
//
//   u = σ(x_t*K_z + h_{t-1}*R_z + b_z),   r = σ(x_t*K_r + h_{t-1}*R_r + b_r)
//   reset after (PyTorch, Keras reset_after=True, ONNX linear_before_reset=1), bias (2, 3H):
//     n = tanh(x_t*K_h + b_h + r ⊙ (h_{t-1}*R_h + b'_h))      b' is the recurrent bias
//   reset before (the original GRU, ONNX's default), bias (3H,):
//     n = tanh(x_t*K_h + (r ⊙ h_{t-1})*R_h + b_h)
//   h_t = u ⊙ h_{t-1} + (1 - u) ⊙ n
//
// Reset-before needs r ⊙ h_{t-1} of every unit before its candidate product: split by units, its
// step is two phases, and the threads meet between them (kPhases).
#pragma once

#include <utility>

#include "fastlstm/cell_common.hpp"

namespace fastlstm {

template <bool kResetAfter>
struct GruCell {
  static constexpr int kGates = 3;  // z, r, h
  // Saved: u, r, n and a fourth block: h_{t-1}*R_h + b'_h (reset after; backward needs it for
  // dr) or r ⊙ h_{t-1} (reset before; dR_h's left operand).
  static constexpr int kSaved = 4;
  static constexpr bool kHasCell = false;
  static constexpr bool kRecurrentBias = kResetAfter;
  static constexpr int kPhases = kResetAfter ? 1 : 2;
  static constexpr bool kSeparateRecurrentGrad = kResetAfter;
  static constexpr int recurrent_input(int g) { return !kResetAfter && g == 2 ? 3 : -1; }

  template <typename T, typename Rec>
  static void forward(StepForward<T> f, Rec&& rec) {
    using namespace cell_detail;
    using Pk = P<T>;
    const Index m = f.h.cols(), n = f.h.rows();
    if constexpr (kResetAfter) {
      auto fourth = cols(f.z, 3 * m, m);
      fourth.rowwise() = row_vector(f.rbias + 2 * m, m);
      if (!f.reverse) rec(f.h_prev, 0, 2, cols(f.z, 0, 2 * m));
      rec(f.h_prev, 2, 1, fourth);
      if (f.reverse) rec(f.h_prev, 0, 2, cols(f.z, 0, 2 * m));
      for (Index r = 0; r < n; ++r) {
        T* zr = row_ptr(f.z, r);
        const T* ins[] = {zr,      zr + m,     zr + 2 * m, zr + 3 * m, row_ptr(f.h_prev, r) + f.u0,
                          f.rbias, f.rbias + m};
        T* const outs[] = {zr, zr + m, zr + 2 * m, row_ptr(f.h, r)};
        for_packets<kLanes<T>>(m, ins, outs, [](const auto& in, const auto& out, Index j) {
          const Pk one = pset1<Pk>(T(1));
          const Pk u = act::sigmoid(padd(ploadu<Pk>(in[0] + j), ploadu<Pk>(in[5] + j)));
          const Pk rs = act::sigmoid(padd(ploadu<Pk>(in[1] + j), ploadu<Pk>(in[6] + j)));
          const Pk nc = act::tanh(padd(ploadu<Pk>(in[2] + j), pmul(rs, ploadu<Pk>(in[3] + j))));
          pstoreu(out[0] + j, u);
          pstoreu(out[1] + j, rs);
          pstoreu(out[2] + j, nc);
          pstoreu(out[3] + j, padd(pmul(u, ploadu<Pk>(in[4] + j)), pmul(psub(one, u), nc)));
        });
      }
    } else {
      forward_phase(f, rec, 0);
      forward_phase(f, rec, 1);
    }
  }

  // Reset before, in two phases around the candidate product: u, r and r ⊙ h_{t-1} first (also
  // into f.shared, where other threads' units are), then n and h_t.
  template <typename T, typename Rec>
  static void forward_phase(StepForward<T> f, Rec&& rec, int phase) {
    using namespace cell_detail;
    using Pk = P<T>;
    const Index m = f.h.cols(), n = f.h.rows(), H = f.h_prev.cols();
    auto fourth = cols(f.z, 3 * m, m);
    if (phase == 0) {
      rec(f.h_prev, 0, 2, cols(f.z, 0, 2 * m));
      for (Index r = 0; r < n; ++r) {
        T* zr = row_ptr(f.z, r);
        const T* ins[] = {zr, zr + m, row_ptr(f.h_prev, r) + f.u0};
        T* const outs[] = {zr, zr + m, zr + 3 * m};
        for_packets<kLanes<T>>(m, ins, outs, [](const auto& in, const auto& out, Index j) {
          const Pk rs = act::sigmoid(ploadu<Pk>(in[1] + j));
          pstoreu(out[0] + j, act::sigmoid(ploadu<Pk>(in[0] + j)));
          pstoreu(out[1] + j, rs);
          pstoreu(out[2] + j, pmul(rs, ploadu<Pk>(in[2] + j)));
        });
      }
      if (f.shared) cols(map(f.shared, n, H), f.u0, m) = fourth;
      return;
    }
    const auto reset =
        f.shared ? map(static_cast<const T*>(f.shared), n, H)
                 : ConstMatMap<T>(fourth.data(), n, m, Eigen::OuterStride<>(fourth.outerStride()));
    rec(reset, 2, 1, cols(f.z, 2 * m, m));
    for (Index r = 0; r < n; ++r) {
      T* zr = row_ptr(f.z, r);
      const T* ins[] = {zr, zr + 2 * m, row_ptr(f.h_prev, r) + f.u0};
      T* const outs[] = {zr + 2 * m, row_ptr(f.h, r)};
      for_packets<kLanes<T>>(m, ins, outs, [](const auto& in, const auto& out, Index j) {
        const Pk one = pset1<Pk>(T(1));
        const Pk u = ploadu<Pk>(in[0] + j), nc = act::tanh(ploadu<Pk>(in[1] + j));
        pstoreu(out[0] + j, nc);
        pstoreu(out[1] + j, padd(pmul(u, ploadu<Pk>(in[2] + j)), pmul(psub(one, u), nc)));
      });
    }
  }

  template <typename T, typename RecT>
  static void backward(StepBackward<T> b, RecT&& rec_t) {
    using namespace cell_detail;
    using Pk = P<T>;
    const Index H = b.dh.cols(), n = b.dh.rows();
    if constexpr (kResetAfter) {
      for (Index r = 0; r < n; ++r) {
        const T* s = row_ptr(b.saved, r);
        T *dz = row_ptr(b.dz, r), *dzr = row_ptr(b.dzr, r);
        const T* ins[] = {s, s + H, s + 2 * H, s + 3 * H, row_ptr(b.h_prev, r), row_ptr(b.dh, r)};
        T* const outs[] = {dz,      dz + H,      dz + 2 * H,           dzr,
                           dzr + H, dzr + 2 * H, row_ptr(b.dh_prev, r)};
        for_packets<kLanes<T>>(H, ins, outs, [](const auto& in, const auto& out, Index j) {
          const Pk one = pset1<Pk>(T(1));
          const Pk u = ploadu<Pk>(in[0] + j), rs = ploadu<Pk>(in[1] + j);
          const Pk nc = ploadu<Pk>(in[2] + j), hn = ploadu<Pk>(in[3] + j);
          const Pk hp = ploadu<Pk>(in[4] + j), dh = ploadu<Pk>(in[5] + j);
          const Pk dn = pmul(pmul(dh, psub(one, u)), psub(one, pmul(nc, nc)));
          const Pk du = pmul(pmul(dh, psub(hp, nc)), pmul(u, psub(one, u)));
          const Pk dr = pmul(pmul(dn, hn), pmul(rs, psub(one, rs)));
          pstoreu(out[0] + j, du);
          pstoreu(out[1] + j, dr);
          pstoreu(out[2] + j, dn);
          pstoreu(out[3] + j, du);
          pstoreu(out[4] + j, dr);
          pstoreu(out[5] + j, pmul(dn, rs));  // the candidate's recurrent term is scaled by r
          pstoreu(out[6] + j, pmul(dh, u));   // h_t's direct dependence on h_{t-1}
        });
      }
      rec_t(b.dzr, 0, 3, b.dh_prev);
    } else {
      backward_phase(b, rec_t, 0);
      backward_phase(b, rec_t, 1);
    }
  }

  // Reset before, in two phases around the products: dn and du first, then dL/d(r ⊙ h_{t-1}) =
  // dn * R_h^T (into dh_prev as scratch), which phase 1 needs for every unit of its rows (dr),
  // then dh_{t-1} = dh_t ⊙ u + that ⊙ r and its product with [du, dr]. A unit split leaves
  // rec_t out and takes each phase's product (backward_gates) between the phases.
  static constexpr std::pair<int, int> backward_gates(int phase) {
    return phase == 0 ? std::pair<int, int>{2, 1} : std::pair<int, int>{0, 2};
  }

  template <typename T, typename RecT>
  static void backward_phase(StepBackward<T> b, RecT&& rec_t, int phase) {
    using namespace cell_detail;
    using Pk = P<T>;
    const Index H = b.dh.cols(), n = b.dh.rows();
    if (phase == 0) {
      for (Index r = 0; r < n; ++r) {
        const T* s = row_ptr(b.saved, r);
        T* dz = row_ptr(b.dz, r);
        const T* ins[] = {s, s + 2 * H, row_ptr(b.h_prev, r), row_ptr(b.dh, r)};
        T* const outs[] = {dz, dz + 2 * H};
        for_packets<kLanes<T>>(H, ins, outs, [](const auto& in, const auto& out, Index j) {
          const Pk one = pset1<Pk>(T(1));
          const Pk u = ploadu<Pk>(in[0] + j), nc = ploadu<Pk>(in[1] + j);
          const Pk hp = ploadu<Pk>(in[2] + j), dh = ploadu<Pk>(in[3] + j);
          pstoreu(out[0] + j, pmul(pmul(dh, psub(hp, nc)), pmul(u, psub(one, u))));
          pstoreu(out[1] + j, pmul(pmul(dh, psub(one, u)), psub(one, pmul(nc, nc))));
        });
      }
      b.dh_prev.setZero();
      rec_t(cols(b.dz, 2 * H, H), 2, 1, b.dh_prev);
      return;
    }
    for (Index r = 0; r < n; ++r) {
      const T* s = row_ptr(b.saved, r);
      T* dz = row_ptr(b.dz, r);
      T* dhp = row_ptr(b.dh_prev, r);
      const T* ins[] = {s, s + H, row_ptr(b.h_prev, r), row_ptr(b.dh, r), dhp};
      T* const outs[] = {dz + H, dhp};
      for_packets<kLanes<T>>(H, ins, outs, [](const auto& in, const auto& out, Index j) {
        const Pk one = pset1<Pk>(T(1));
        const Pk u = ploadu<Pk>(in[0] + j), rs = ploadu<Pk>(in[1] + j);
        const Pk drh = ploadu<Pk>(in[4] + j);
        pstoreu(out[0] + j, pmul(pmul(drh, ploadu<Pk>(in[2] + j)), pmul(rs, psub(one, rs))));
        pstoreu(out[1] + j, padd(pmul(ploadu<Pk>(in[3] + j), u), pmul(drh, rs)));
      });
    }
    rec_t(cols(b.dz, 0, 2 * H), 0, 2, b.dh_prev);
  }
};

}  // namespace fastlstm
