// The plain RNN cell (Elman; Keras SimpleRNN, torch nn.RNN): h_t = act(x_t*K + h_{t-1}*R + b),
// act tanh or relu (see cell_common.hpp for the contract).
#pragma once

#include "fastlstm/cell_common.hpp"

namespace fastlstm {

enum class Activation { kTanh, kRelu };

template <Activation kAct>
struct RnnCell {
  static constexpr int kGates = 1;
  static constexpr int kSaved = 1;  // h_t itself: both derivatives follow from it
  static constexpr bool kHasCell = false;
  static constexpr bool kRecurrentBias = false;
  static constexpr int kPhases = 1;
  static constexpr bool kSeparateRecurrentGrad = false;
  static constexpr int recurrent_input(int) { return -1; }

  template <typename T, typename Rec>
  static void forward(StepForward<T> f, Rec&& rec) {
    using namespace cell_detail;
    using Pk = P<T>;
    rec(f.h_prev, 0, 1, f.z);
    for (Index r = 0; r < f.h.rows(); ++r) {
      const T* ins[] = {row_ptr(f.z, r)};
      T* const outs[] = {row_ptr(f.z, r), row_ptr(f.h, r)};
      for_packets<kLanes<T>>(f.h.cols(), ins, outs, [](const auto& in, const auto& out, Index j) {
        const Pk z = ploadu<Pk>(in[0] + j);
        const Pk h = kAct == Activation::kTanh ? act::tanh(z)
                                               : pmax<Eigen::PropagateNaN>(z, pset1<Pk>(T(0)));
        pstoreu(out[0] + j, h);
        pstoreu(out[1] + j, h);
      });
    }
  }

  template <typename T, typename RecT>
  static void backward(StepBackward<T> b, RecT&& rec_t) {
    using namespace cell_detail;
    using Pk = P<T>;
    for (Index r = 0; r < b.dh.rows(); ++r) {
      const T* ins[] = {row_ptr(b.saved, r), row_ptr(b.dh, r)};
      T* const outs[] = {row_ptr(b.dz, r)};
      for_packets<kLanes<T>>(b.dh.cols(), ins, outs, [](const auto& in, const auto& out, Index j) {
        const Pk h = ploadu<Pk>(in[0] + j), dh = ploadu<Pk>(in[1] + j);
        const Pk zero = pset1<Pk>(T(0)), one = pset1<Pk>(T(1));
        // tanh' = 1 - h^2; relu' = 1 where h > 0 (0 at 0, as torch).
        const Pk d = kAct == Activation::kTanh
                         ? pmul(dh, psub(one, pmul(h, h)))
                         : Eigen::internal::pand(dh, Eigen::internal::pcmp_lt(zero, h));
        pstoreu(out[0] + j, d);
      });
    }
    b.dh_prev.setZero();
    rec_t(b.dz, 0, 1, b.dh_prev);
  }
};

}  // namespace fastlstm
