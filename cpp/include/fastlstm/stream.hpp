// Streaming: one timestep per call with the state carried between calls, for services. Every
// buffer is sized at construction, so a step allocates nothing.
#pragma once

#include "fastlstm/sequence.hpp"
#include "fastlstm/small_gemm.hpp"
#include "fastlstm/types.hpp"

namespace fastlstm {

template <typename Cell, typename T>
class Stream {
  static constexpr Index G = Cell::kGates;

 public:
  // kernel (I, G*H), recurrent (H, G*H), bias (G*H) are copied, into contiguous column panels
  // (what a step streams from cache, once per step: sequential reads are faster than row runs);
  // the state is (B, H) zeros.
  Stream(const Weights<T>& w, Index B, Index I, Index H)
      : I_(I),
        packed_(I + H, (G * H + kPanel - 1) / kPanel * kPanel),
        K_(pack_units<G>(w.kernel, I, H, 0, H, kPanel, packed_.data())),
        R_(pack_units<G>(w.recurrent, H, H, 0, H, kPanel, packed_.data() + I * packed_.cols())),
        b_(row_vector(w.bias, G * H)),
        h_(Matrix<T>::Zero(B, H)),
        c_(Matrix<T>::Zero(B, H)),
        x_(B, I),
        z_(B, G * H) {}

  Index batch() const { return h_.rows(); }
  Index input_size() const { return I_; }
  Index hidden_size() const { return h_.cols(); }
  T* h() { return h_.data(); }  // (B, H)
  T* c() { return c_.data(); }  // (B, H)

  // x: (B, I). Advances h and c by one step: z = b + x*K + h*R, then the cell.
  void step(const T* x) {
    const Index B = batch(), H = hidden_size();
    // Copied into an aligned buffer first: where step_product falls back to Eigen (ISAs with 16
    // vector registers), Eigen's rounding can depend on the input's alignment (see bindings).
    x_ = map(x, B, I_);
    auto z = map(z_.data(), B, G * H);
    z.rowwise() = b_;
    panel_product(map(static_cast<const T*>(x_.data()), B, I_), K_, I_, G * H, z);
    panel_product(map(static_cast<const T*>(h_.data()), B, H), R_, H, G * H, z);
    auto c = map(c_.data(), B, H);
    Cell::forward(z, map(static_cast<const T*>(c_.data()), B, H), c, map(h_.data(), B, H));
  }

 private:
  Index I_;
  Matrix<T> packed_;  // kernel then recurrent, each as panels (pack_units)
  Panels<T> K_, R_;   // where they lie in packed_
  Vector<T> b_;
  Matrix<T> h_, c_, x_, z_;
};

}  // namespace fastlstm
