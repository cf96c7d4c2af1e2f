// The LSTM cell: gate math for one timestep, forward and backward. The sequence walk
// (sequence.hpp) owns the matmuls and the time loop; a cell only turns pre-activations into a new
// state and a state gradient into pre-activation gradients.
#pragma once

#include "fastlstm/activations.hpp"
#include "fastlstm/types.hpp"

namespace fastlstm {

struct LstmCell {
  static constexpr int kGates = 4;        // gate blocks i, f, g, o, each H wide
  static constexpr bool kHasCell = true;  // carries c_t beside h_t

  // z: (n, 4H) pre-activations x*K + h_{t-1}*R + b, overwritten with the activated gates i, f, g, o
  //    (backward needs them). c_prev: (n, H) c_{t-1}. c, h: (n, H) c_t and h_t, written.
  // c may alias c_prev: each element is read before it is written.
  template <typename T>
  static void forward(MatMap<T> z, ConstMatMap<T> c_prev, MatMap<T> c, MatMap<T> h) {
    const Index H = h.cols();
    auto i = z.leftCols(H).array();
    auto f = z.middleCols(H, H).array();
    auto g = z.middleCols(2 * H, H).array();
    auto o = z.rightCols(H).array();
    i = act::sigmoid(i);
    f = act::sigmoid(f);
    g = act::tanh(g);
    o = act::sigmoid(o);
    c.array() = f * c_prev.array() + i * g;
    h.array() = o * act::tanh(c.array());
  }

  // gates: (n, 4H) activated gates from forward. c_prev, c: (n, H) c_{t-1} and c_t.
  // dh: (n, H) dL/dh_t, all paths. dc: (n, H) in dL/dc_t from step t+1, out dL/dc_{t-1}.
  // dz: (n, 4H) dL/dz_t, written. tc: (n, H) scratch for tanh(c_t), which is recomputed here
  // rather than stored by forward (cheaper than a (T*B, H) buffer).
  template <typename T>
  static void backward(ConstMatMap<T> gates, ConstMatMap<T> c_prev, ConstMatMap<T> c,
                       ConstMatMap<T> dh, MatMap<T> dc, MatMap<T> dz, MatMap<T> tc) {
    const Index H = c.cols();
    auto i = gates.leftCols(H).array();
    auto f = gates.middleCols(H, H).array();
    auto g = gates.middleCols(2 * H, H).array();
    auto o = gates.rightCols(H).array();
    tc.array() = act::tanh(c.array());
    dc.array() += dh.array() * o * (T(1) - tc.array().square());
    dz.leftCols(H).array() = dc.array() * g * i * (T(1) - i);
    dz.middleCols(H, H).array() = dc.array() * c_prev.array() * f * (T(1) - f);
    dz.middleCols(2 * H, H).array() = dc.array() * i * (T(1) - g.square());
    dz.rightCols(H).array() = dh.array() * tc.array() * o * (T(1) - o);
    dc.array() *= f;
  }
};

}  // namespace fastlstm
