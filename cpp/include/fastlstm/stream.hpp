// Streaming: one timestep per call with the state carried between calls, for services. Every
// buffer is sized at construction, so a step allocates nothing.
#pragma once

#include "fastlstm/cell_common.hpp"
#include "fastlstm/panels.hpp"
#include "fastlstm/sequence.hpp"
#include "fastlstm/types.hpp"

namespace fastlstm {

template <typename Cell, typename T>
class Stream {
  static constexpr Index G = Cell::kGates, S = Cell::kSaved;

 public:
  // kernel (I, G*H), recurrent (H, G*H), bias (G*H) (and the recurrent bias, for cells with one,
  // and the LSTM's options) are copied, the kernels into contiguous column panels (what a step
  // streams from cache, once per step: sequential reads are faster than row runs); the state is
  // (B, H) zeros.
  Stream(const Weights<T>& w, Index B, Index I, Index H)
      : I_(I),
        packed_(I + H, (G * H + kPanel - 1) / kPanel * kPanel),
        K_(pack_units<G>(w.kernel, I, H, 0, H, kPanel, packed_.data())),
        R_(pack_units<G>(w.recurrent, H, H, 0, H, kPanel, packed_.data() + I * packed_.cols())),
        b_(row_vector(w.bias, G * H)),
        rb_(Cell::kRecurrentBias ? Vector<T>(row_vector(w.recurrent_bias, G * H)) : Vector<T>()),
        peephole_(w.peephole ? Vector<T>(row_vector(w.peephole, 3 * H)) : Vector<T>()),
        clip_(w.clip),
        h_(Matrix<T>::Zero(B, H)),
        c_(Matrix<T>::Zero(Cell::kHasCell ? B : 0, H)),
        x_(B, I),
        z_(B, S * H) {}

  Index batch() const { return h_.rows(); }
  Index input_size() const { return I_; }
  Index hidden_size() const { return h_.cols(); }
  T* h() { return h_.data(); }  // (B, H)
  T* c() { return c_.data(); }  // (B, H) for cells with kHasCell, else empty

  // x: (B, I). Advances the state by one step: z = b + x*K, then the cell (which adds h*R).
  void step(const T* x) {
    const Index B = batch(), H = hidden_size();
    // Copied into an aligned buffer first: where step_product falls back to Eigen (ISAs with 16
    // vector registers), Eigen's rounding can depend on the input's alignment (see bindings).
    x_ = map(x, B, I_);
    auto z = map(z_.data(), B, S * H);
    cols(z, 0, G * H).rowwise() = b_;
    panel_product(map(static_cast<const T*>(x_.data()), B, I_), K_, I_, 0, G * H,
                  cols(z, 0, G * H));
    const auto rec = [&](const auto& a, Index g0, Index ng, auto out) {
      panel_product(a, R_, H, g0 * H, (g0 + ng) * H, out);
    };
    // h_{t-1} and h_t share a buffer: a cell reads all of h_{t-1} for its products before it
    // writes h_t, and reads each element before it writes it.
    const Index hc = Cell::kHasCell ? H : 0;
    Cell::forward(
        StepForward<T>{z, map(static_cast<const T*>(h_.data()), B, H), 0,
                       Cell::kRecurrentBias ? rb_.data() : nullptr,
                       map(static_cast<const T*>(c_.data()), B, hc, H), map(c_.data(), B, hc, H),
                       map(h_.data(), B, H), peephole_.size() ? peephole_.data() : nullptr, clip_},
        rec);
  }

 private:
  Index I_;
  Matrix<T> packed_;             // kernel then recurrent, each as panels (pack_units)
  Panels<T> K_, R_;              // where they lie in packed_
  Vector<T> b_, rb_, peephole_;  // peephole_ is empty without peepholes
  T clip_;
  Matrix<T> h_, c_, x_, z_;
};

}  // namespace fastlstm
