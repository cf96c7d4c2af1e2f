// The LSTM cell: gate math for one timestep, forward and backward (see cell_common.hpp for the
// contract). The sequence walk (sequence.hpp) owns the time loop and the big GEMMs; a cell turns
// pre-activations into a new state and a state gradient into pre-activation gradients.
//
//   z = x_t*K + b + h_{t-1}*R       blocks i, f, g, o
//   c_t = σ(f) ⊙ c_{t-1} + σ(i) ⊙ tanh(g),   h_t = σ(o) ⊙ tanh(c_t)
//
// Options (ONNX's LSTM): peepholes p_i, p_f, p_o add p_i ⊙ c_{t-1} to z_i, p_f ⊙ c_{t-1} to z_f
// and p_o ⊙ c_t to z_o; a cell clip bounds every activation's input (z after the peepholes) to
// [-clip, clip], so a clipped input has no gradient. Backward tells a clipped input by its
// activation: equal to the activation of ±clip (an input within rounding of the bound counts as
// clipped). The options take a second packet loop; the plain LSTM keeps its own.
#pragma once

#include <limits>

#include "fastlstm/cell_common.hpp"

namespace fastlstm {

struct LstmCell {
  static constexpr int kGates = 4;  // i, f, g, o
  static constexpr int kSaved = 4;  // the activated gates
  static constexpr bool kHasCell = true;
  static constexpr bool kRecurrentBias = false;
  static constexpr int kPhases = 1;
  static constexpr bool kSeparateRecurrentGrad = false;
  static constexpr int recurrent_input(int) { return -1; }

  // z ends as the activated gates i, f, g, o.
  template <typename T, typename Rec>
  static void forward(StepForward<T> f, Rec&& rec) {
    using namespace cell_detail;
    using Pk = P<T>;
    rec(f.h_prev, 0, 4, f.z);
    if (f.peephole || f.clip > 0) return forward_options(f);
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
    if (b.peephole || b.clip > 0) backward_options(b);
    for (Index r = 0; !b.peephole && !(b.clip > 0) && r < b.c.rows(); ++r) {
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

  // What forward wrote as h_t before a projection, o ⊙ tanh(c_t), from what it saved (rows, 4H)
  // and c_t (rows, H), into out (rows, H).
  template <typename T>
  static void unprojected(ConstMatMap<T> saved, ConstMatMap<T> c, MatMap<T> out) {
    const Index H = c.cols();
    out = cols(saved, 3 * H, H).cwiseProduct(c.array().tanh().matrix());
  }

  // dL/d(peepholes) (3H, blocks i, f, o) += the sums over rows of dZ_i ⊙ C_prev, dZ_f ⊙ C_prev and
  // dZ_o ⊙ C: dZ (rows, 4H), C_prev and C (rows, H).
  template <typename T>
  static void peephole_grads(ConstMatMap<T> dZ, ConstMatMap<T> c_prev, ConstMatMap<T> c, T* dp) {
    const Index H = c.cols();
    map(dp, 1, H) += cols(dZ, 0, H).cwiseProduct(c_prev).colwise().sum();
    map(dp + H, 1, H) += cols(dZ, H, H).cwiseProduct(c_prev).colwise().sum();
    map(dp + 2 * H, 1, H) += cols(dZ, 3 * H, H).cwiseProduct(c).colwise().sum();
  }

 private:
  // Both options in one loop; without peepholes p is a zero packet (the loop reads, but does not
  // use, the row's own gates in their place: no buffer of zeros, so no allocation per step),
  // without a clip the bound is infinite.
  template <typename T>
  static void forward_options(StepForward<T> f) {
    using namespace cell_detail;
    using Pk = P<T>;
    const Index m = f.h.cols();
    const bool peep = f.peephole != nullptr;
    const T bound = f.clip > 0 ? f.clip : std::numeric_limits<T>::infinity();
    for (Index r = 0; r < f.h.rows(); ++r) {
      T* zr = row_ptr(f.z, r);
      const T* pe = peep ? f.peephole : zr;
      const T* ins[] = {zr, zr + m, zr + 2 * m, zr + 3 * m, row_ptr(f.c_prev, r),
                        pe, pe + m, pe + 2 * m};
      T* const outs[] = {zr, zr + m, zr + 2 * m, zr + 3 * m, row_ptr(f.c, r), row_ptr(f.h, r)};
      for_packets<kLanes<T>>(m, ins, outs, [bound, peep](const auto& in, const auto& out, Index j) {
        const Pk hi = pset1<Pk>(bound), lo = pset1<Pk>(-bound);
        const auto p = [&](int k) { return peep ? ploadu<Pk>(in[k] + j) : pset1<Pk>(T(0)); };
        const auto clip = [&](Pk z) { return pmin(pmax(z, lo), hi); };
        const Pk c_prev = ploadu<Pk>(in[4] + j);
        const Pk i = act::sigmoid(clip(padd(ploadu<Pk>(in[0] + j), pmul(p(5), c_prev))));
        const Pk fg = act::sigmoid(clip(padd(ploadu<Pk>(in[1] + j), pmul(p(6), c_prev))));
        const Pk g = act::tanh(clip(ploadu<Pk>(in[2] + j)));
        const Pk c_t = padd(pmul(fg, c_prev), pmul(i, g));
        const Pk o = act::sigmoid(clip(padd(ploadu<Pk>(in[3] + j), pmul(p(7), c_t))));
        pstoreu(out[0] + j, i);
        pstoreu(out[1] + j, fg);
        pstoreu(out[2] + j, g);
        pstoreu(out[3] + j, o);
        pstoreu(out[4] + j, c_t);
        pstoreu(out[5] + j, pmul(o, act::tanh(c_t)));
      });
    }
  }

  // dz and dc (dL/dc_{t-1}) for the options; the caller then adds rec_t as for the plain cell.
  template <typename T>
  static void backward_options(StepBackward<T> b) {
    using namespace cell_detail;
    using Pk = P<T>;
    const Index H = b.c.cols();
    const bool peep = b.peephole != nullptr;
    // An activation strictly inside (act(-clip), act(clip)) had an unclipped input; without a
    // clip the bounds lie outside the activations' ranges.
    const bool clipped = b.clip > 0;
    const T s_lo = clipped ? act_scalar<T>(true, -b.clip) : T(-1);
    const T s_hi = clipped ? act_scalar<T>(true, b.clip) : T(2);
    const T t_lo = clipped ? act_scalar<T>(false, -b.clip) : T(-2);
    const T t_hi = clipped ? act_scalar<T>(false, b.clip) : T(2);
    for (Index r = 0; r < b.c.rows(); ++r) {
      const T* gr = row_ptr(b.saved, r);
      const T* pe = peep ? b.peephole : gr;  // as in forward_options
      T* dzr = row_ptr(b.dz, r);
      T* dcr = row_ptr(b.dc, r);
      const T* ins[] = {gr,
                        gr + H,
                        gr + 2 * H,
                        gr + 3 * H,
                        row_ptr(b.c_prev, r),
                        row_ptr(b.c, r),
                        row_ptr(b.dh, r),
                        dcr,
                        pe,
                        pe + H,
                        pe + 2 * H};
      T* const outs[] = {dzr, dzr + H, dzr + 2 * H, dzr + 3 * H, dcr};
      for_packets<kLanes<T>>(H, ins, outs, [&](const auto& in, const auto& out, Index j) {
        const Pk one = pset1<Pk>(T(1));
        const auto p = [&](int k) { return peep ? ploadu<Pk>(in[k] + j) : pset1<Pk>(T(0)); };
        const auto inside = [](Pk a, T lo, T hi, Pk d) {
          return pand(pand(pcmp_lt(pset1<Pk>(lo), a), pcmp_lt(a, pset1<Pk>(hi))), d);
        };
        const Pk i = ploadu<Pk>(in[0] + j), f = ploadu<Pk>(in[1] + j);
        const Pk g = ploadu<Pk>(in[2] + j), o = ploadu<Pk>(in[3] + j);
        const Pk c_prev = ploadu<Pk>(in[4] + j), dh_t = ploadu<Pk>(in[6] + j);
        const Pk tc = act::tanh(ploadu<Pk>(in[5] + j));
        const Pk dzo = inside(o, s_lo, s_hi, pmul(pmul(dh_t, tc), pmul(o, psub(one, o))));
        // dL/dc_t: from step t+1, through h_t = o * tanh(c_t), and through o's peephole.
        const Pk dc_t =
            padd(padd(ploadu<Pk>(in[7] + j), pmul(pmul(dh_t, o), psub(one, pmul(tc, tc)))),
                 pmul(dzo, p(10)));
        const Pk dzi = inside(i, s_lo, s_hi, pmul(pmul(dc_t, g), pmul(i, psub(one, i))));
        const Pk dzf = inside(f, s_lo, s_hi, pmul(pmul(dc_t, c_prev), pmul(f, psub(one, f))));
        pstoreu(out[0] + j, dzi);
        pstoreu(out[1] + j, dzf);
        pstoreu(out[2] + j, inside(g, t_lo, t_hi, pmul(pmul(dc_t, i), psub(one, pmul(g, g)))));
        pstoreu(out[3] + j, dzo);
        // dL/dc_{t-1}: through f, and through the peepholes of i and f.
        pstoreu(out[4] + j, padd(pmul(dc_t, f), padd(pmul(dzi, p(8)), pmul(dzf, p(9)))));
      });
    }
  }

  // σ(x) (sigmoid) or tanh(x) as the packet code computes them, lane 0.
  template <typename T>
  static T act_scalar(bool sigmoid, T x) {
    using Pk = cell_detail::P<T>;
    const Pk v = Eigen::internal::pset1<Pk>(x);
    return Eigen::internal::pfirst(sigmoid ? act::sigmoid(v) : act::tanh(v));
  }
};

}  // namespace fastlstm
