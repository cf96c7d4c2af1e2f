// The LSTM cell: gate math for one timestep, forward and backward. The sequence walk
// (sequence.hpp) owns the matmuls and the time loop; a cell only turns pre-activations into a new
// state and a state gradient into pre-activation gradients.
//
// Each is one fused pass over a row, a packet at a time; the last, partial packet of a row goes
// through the same packet code on a padded copy. So an element's value never depends on its
// address or on how rows and units were split across threads.
#pragma once

#include <algorithm>

#include "fastlstm/activations.hpp"
#include "fastlstm/types.hpp"

namespace fastlstm {

namespace cell_detail {

using Eigen::internal::padd;
using Eigen::internal::pload1;
using Eigen::internal::ploadu;
using Eigen::internal::pmul;
using Eigen::internal::pset1;
using Eigen::internal::pstoreu;
using Eigen::internal::psub;

// Calls body(j, ptrs...) over the H units of a row, a packet at a time. `ins` are the row's input
// pointers, `outs` its output pointers; for a last partial packet, body works on padded copies
// and the valid lanes of the outputs are copied back. Outputs may alias inputs.
template <int L, typename T, size_t NI, size_t NO, typename Body>
void for_packets(Index H, const T* const (&ins)[NI], T* const (&outs)[NO], Body&& body) {
  Index j = 0;
  for (; j + L <= H; j += L) body(ins, outs, j);
  if (j == H) return;
  const Index len = H - j;
  T in_copy[NI][L] = {}, out_copy[NO][L] = {};
  const T* in_ptrs[NI];
  T* out_ptrs[NO];
  for (size_t k = 0; k < NI; ++k) {
    std::copy(ins[k] + j, ins[k] + H, in_copy[k]);
    in_ptrs[k] = in_copy[k] - j;  // so that body's [j, j + L) lands on the copy
  }
  for (size_t k = 0; k < NO; ++k) out_ptrs[k] = out_copy[k] - j;
  body(in_ptrs, out_ptrs, j);
  for (size_t k = 0; k < NO; ++k) std::copy(out_copy[k], out_copy[k] + len, outs[k] + j);
}

}  // namespace cell_detail

struct LstmCell {
  static constexpr int kGates = 4;        // gate blocks i, f, g, o, each H wide
  static constexpr bool kHasCell = true;  // carries c_t beside h_t

  // z: (n, 4H) pre-activations x*K + h_{t-1}*R + b, overwritten with the activated gates i, f, g, o
  //    (backward needs them). c_prev: (n, H) c_{t-1}. c, h: (n, H) c_t and h_t, written.
  // c may alias c_prev: each element is read before it is written.
  template <typename T>
  static void forward(MatMap<T> z, ConstMatMap<T> c_prev, MatMap<T> c, MatMap<T> h) {
    using namespace cell_detail;
    using P = act::Packet<T>;
    constexpr int L = act::packet_traits<T>::size;
    const Index H = h.cols();
    for (Index r = 0; r < h.rows(); ++r) {
      T* zr = z.data() + r * z.outerStride();
      const T* ins[] = {zr, zr + H, zr + 2 * H, zr + 3 * H,
                        c_prev.data() + r * c_prev.outerStride()};
      T* const outs[] = {zr,
                         zr + H,
                         zr + 2 * H,
                         zr + 3 * H,
                         c.data() + r * c.outerStride(),
                         h.data() + r * h.outerStride()};
      for_packets<L>(H, ins, outs, [](const auto& in, const auto& out, Index j) {
        const P i = act::sigmoid(ploadu<P>(in[0] + j));
        const P f = act::sigmoid(ploadu<P>(in[1] + j));
        const P g = act::tanh(ploadu<P>(in[2] + j));
        const P o = act::sigmoid(ploadu<P>(in[3] + j));
        const P c_t = padd(pmul(f, ploadu<P>(in[4] + j)), pmul(i, g));
        pstoreu(out[0] + j, i);
        pstoreu(out[1] + j, f);
        pstoreu(out[2] + j, g);
        pstoreu(out[3] + j, o);
        pstoreu(out[4] + j, c_t);
        pstoreu(out[5] + j, pmul(o, act::tanh(c_t)));
      });
    }
  }

  // gates: (n, 4H) activated gates from forward. c_prev, c: (n, H) c_{t-1} and c_t.
  // dh: (n, H) dL/dh_t, all paths. dc: (n, H) in dL/dc_t from step t+1, out dL/dc_{t-1}.
  // dz: (n, 4H) dL/dz_t, written. tanh(c_t) is recomputed rather than stored by forward.
  template <typename T>
  static void backward(ConstMatMap<T> gates, ConstMatMap<T> c_prev, ConstMatMap<T> c,
                       ConstMatMap<T> dh, MatMap<T> dc, MatMap<T> dz) {
    using namespace cell_detail;
    using P = act::Packet<T>;
    constexpr int L = act::packet_traits<T>::size;
    const Index H = c.cols();
    for (Index r = 0; r < c.rows(); ++r) {
      const T* gr = gates.data() + r * gates.outerStride();
      T* dzr = dz.data() + r * dz.outerStride();
      T* dcr = dc.data() + r * dc.outerStride();
      const T* ins[] = {gr,
                        gr + H,
                        gr + 2 * H,
                        gr + 3 * H,
                        c_prev.data() + r * c_prev.outerStride(),
                        c.data() + r * c.outerStride(),
                        dh.data() + r * dh.outerStride(),
                        dcr};
      T* const outs[] = {dzr, dzr + H, dzr + 2 * H, dzr + 3 * H, dcr};
      for_packets<L>(H, ins, outs, [](const auto& in, const auto& out, Index j) {
        const P one = pset1<P>(T(1));
        const P i = ploadu<P>(in[0] + j), f = ploadu<P>(in[1] + j);
        const P g = ploadu<P>(in[2] + j), o = ploadu<P>(in[3] + j);
        const P dh_t = ploadu<P>(in[6] + j);
        const P tc = act::tanh(ploadu<P>(in[5] + j));
        // dL/dc_t: from step t+1, plus through h_t = o * tanh(c_t).
        const P dc_t = padd(ploadu<P>(in[7] + j), pmul(pmul(dh_t, o), psub(one, pmul(tc, tc))));
        pstoreu(out[0] + j, pmul(pmul(dc_t, g), pmul(i, psub(one, i))));
        pstoreu(out[1] + j, pmul(pmul(dc_t, ploadu<P>(in[4] + j)), pmul(f, psub(one, f))));
        pstoreu(out[2] + j, pmul(pmul(dc_t, i), psub(one, pmul(g, g))));
        pstoreu(out[3] + j, pmul(pmul(dh_t, tc), pmul(o, psub(one, o))));
        pstoreu(out[4] + j, pmul(dc_t, f));
      });
    }
  }
};

}  // namespace fastlstm
