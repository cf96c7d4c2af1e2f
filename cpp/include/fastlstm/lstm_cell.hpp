// The LSTM cell: gate math for one timestep, forward and backward (see cell_common.hpp for the
// contract). The sequence walk (sequence.hpp) owns the time loop and the big GEMMs; a cell turns
// pre-activations into a new state and a state gradient into pre-activation gradients.
//
//   z = x_t*K + b + h_{t-1}*R       blocks i, f, g, o
//   c_t = σ(f) ⊙ c_{t-1} + σ(i) ⊙ tanh(g),   h_t = σ(o) ⊙ tanh(c_t)
#pragma once

#include "fastlstm/cell_common.hpp"

namespace fastlstm {

struct LstmCell {
  static constexpr int kGates = 4;  // i, f, g, o
  static constexpr int kSaved = 4;  // the activated gates
  static constexpr bool kHasCell = true;
  static constexpr bool kRecurrentBias = false;
  static constexpr bool kSplitUnits = true;
  static constexpr bool kSeparateRecurrentGrad = false;
  static constexpr int recurrent_input(int) { return -1; }

  // z ends as the activated gates i, f, g, o.
  template <typename T, typename Rec>
  static void forward(StepForward<T> f, Rec&& rec) {
    using namespace cell_detail;
    using Pk = P<T>;
    rec(f.h_prev, 0, 4, f.z);
    const Index m = f.h.cols();
    for (Index r = 0; r < f.h.rows(); ++r) {
      T* zr = row_ptr(f.z, r);
      const T* ins[] = {zr, zr + m, zr + 2 * m, zr + 3 * m, row_ptr(f.c_prev, r)};
      T* const outs[] = {zr, zr + m, zr + 2 * m, zr + 3 * m, row_ptr(f.c, r), row_ptr(f.h, r)};
      for_packets<kLanes<T>>(m, ins, outs, [](const auto& in, const auto& out, Index j) {
        const Pk i = act::sigmoid(ploadu<Pk>(in[0] + j));
        const Pk fg = act::sigmoid(ploadu<Pk>(in[1] + j));
        const Pk g = act::tanh(ploadu<Pk>(in[2] + j));
        const Pk o = act::sigmoid(ploadu<Pk>(in[3] + j));
        const Pk c_t = padd(pmul(fg, ploadu<Pk>(in[4] + j)), pmul(i, g));
        pstoreu(out[0] + j, i);
        pstoreu(out[1] + j, fg);
        pstoreu(out[2] + j, g);
        pstoreu(out[3] + j, o);
        pstoreu(out[4] + j, c_t);
        pstoreu(out[5] + j, pmul(o, act::tanh(c_t)));
      });
    }
  }

  // tanh(c_t) is recomputed rather than stored by forward.
  template <typename T, typename RecT>
  static void backward(StepBackward<T> b, RecT&& rec_t) {
    using namespace cell_detail;
    using Pk = P<T>;
    const Index H = b.c.cols();
    for (Index r = 0; r < b.c.rows(); ++r) {
      const T* gr = row_ptr(b.saved, r);
      T* dzr = row_ptr(b.dz, r);
      T* dcr = row_ptr(b.dc, r);
      const T* ins[] = {gr,
                        gr + H,
                        gr + 2 * H,
                        gr + 3 * H,
                        row_ptr(b.c_prev, r),
                        row_ptr(b.c, r),
                        row_ptr(b.dh, r),
                        dcr};
      T* const outs[] = {dzr, dzr + H, dzr + 2 * H, dzr + 3 * H, dcr};
      for_packets<kLanes<T>>(H, ins, outs, [](const auto& in, const auto& out, Index j) {
        const Pk one = pset1<Pk>(T(1));
        const Pk i = ploadu<Pk>(in[0] + j), f = ploadu<Pk>(in[1] + j);
        const Pk g = ploadu<Pk>(in[2] + j), o = ploadu<Pk>(in[3] + j);
        const Pk dh_t = ploadu<Pk>(in[6] + j);
        const Pk tc = act::tanh(ploadu<Pk>(in[5] + j));
        // dL/dc_t: from step t+1, plus through h_t = o * tanh(c_t).
        const Pk dc_t = padd(ploadu<Pk>(in[7] + j), pmul(pmul(dh_t, o), psub(one, pmul(tc, tc))));
        pstoreu(out[0] + j, pmul(pmul(dc_t, g), pmul(i, psub(one, i))));
        pstoreu(out[1] + j, pmul(pmul(dc_t, ploadu<Pk>(in[4] + j)), pmul(f, psub(one, f))));
        pstoreu(out[2] + j, pmul(pmul(dc_t, i), psub(one, pmul(g, g))));
        pstoreu(out[3] + j, pmul(pmul(dh_t, tc), pmul(o, psub(one, o))));
        pstoreu(out[4] + j, pmul(dc_t, f));
      });
    }
    b.dh_prev.setZero();
    rec_t(b.dz, 0, 4, b.dh_prev);
  }
};

}  // namespace fastlstm
