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
  // kernel (I, G*H), recurrent (P, G*H), bias (G*H) (and the recurrent bias, for cells with one,
  // and the LSTM's options and (H, P) projection) are copied, the kernels into contiguous column
  // panels (what a step streams from cache, once per step: sequential reads are faster than row
  // runs); the state is zeros, h (B, P) and c (B, H). P = H without a projection.
  Stream(const Weights<T>& w, Index B, Index I, Index H, Index P)
      : I_(I),
        H_(H),
        packed_(I + P, (G * H + kPanel - 1) / kPanel * kPanel),
        K_(pack_units<G>(w.kernel, I, H, 0, H, kPanel, packed_.data())),
        R_(pack_units<G>(w.recurrent, P, H, 0, H, kPanel, packed_.data() + I * packed_.cols())),
        b_(row_vector(w.bias, G * H)),
        rb_(Cell::kRecurrentBias ? Vector<T>(row_vector(w.recurrent_bias, G * H)) : Vector<T>()),
        peephole_(w.peephole ? Vector<T>(row_vector(w.peephole, 3 * H)) : Vector<T>()),
        clip_(w.clip),
        projection_(w.projection ? Matrix<T>(map(w.projection, H, P)) : Matrix<T>()),
        h_(Matrix<T>::Zero(B, P)),
        c_(Matrix<T>::Zero(Cell::kHasCell ? B : 0, H)),
        x_(B, I),
        z_(B, S * H),
        unprojected_(w.projection ? B : 0, H) {}

  Index batch() const { return h_.rows(); }
  Index input_size() const { return I_; }
  Index hidden_size() const { return H_; }        // H
  Index state_size() const { return h_.cols(); }  // P
  T* h() { return h_.data(); }                    // (B, P)
  T* c() { return c_.data(); }                    // (B, H) for cells with kHasCell, else empty

  // x: (B, I). Advances the state by one step: z = b + x*K, then the cell (which adds h*R).
  void step(const T* x) {
    const Index B = batch(), H = hidden_size(), P = state_size();
    // Copied into an aligned buffer first: where step_product falls back to Eigen (ISAs with 16
    // vector registers), Eigen's rounding can depend on the input's alignment (see bindings).
    x_ = map(x, B, I_);
    auto z = map(z_.data(), B, S * H);
    cols(z, 0, G * H).rowwise() = b_;
    panel_product(map(static_cast<const T*>(x_.data()), B, I_), K_, I_, 0, G * H,
                  cols(z, 0, G * H));
    const auto rec = [&](const auto& a, Index g0, Index ng, auto out) {
      panel_product(a, R_, P, g0 * H, (g0 + ng) * H, out);
    };
    // h_{t-1} and h_t share a buffer: a cell reads all of h_{t-1} for its products before it
    // writes h_t, and reads each element before it writes it. With a projection the cell writes
    // its output elsewhere, and h_t = that output * W_p.
    const Index hc = Cell::kHasCell ? H : 0;
    const bool project = projection_.size() > 0;
    Cell::forward(
        StepForward<T>{z, map(static_cast<const T*>(h_.data()), B, P), 0,
                       Cell::kRecurrentBias ? rb_.data() : nullptr,
                       map(static_cast<const T*>(c_.data()), B, hc, H), map(c_.data(), B, hc, H),
                       map(project ? unprojected_.data() : h_.data(), B, H),
                       peephole_.size() ? peephole_.data() : nullptr, clip_},
        rec);
    if (!project) return;
    h_.setZero();
    step_product(map(static_cast<const T*>(unprojected_.data()), B, H),
                 map(static_cast<const T*>(projection_.data()), H, P), map(h_.data(), B, P));
  }

 private:
  Index I_, H_;
  Matrix<T> packed_;             // kernel then recurrent, each as panels (pack_units)
  Panels<T> K_, R_;              // where they lie in packed_
  Vector<T> b_, rb_, peephole_;  // peephole_ is empty without peepholes
  T clip_;
  Matrix<T> projection_;  // (H, P), or empty
  Matrix<T> h_, c_, x_, z_, unprojected_;
};

}  // namespace fastlstm
