// Streaming: one timestep per call with the state carried between calls, for services. Every
// buffer is sized at construction, so a step allocates nothing.
#pragma once

#include "fastlstm/sequence.hpp"
#include "fastlstm/small_gemm.hpp"
#include "fastlstm/types.hpp"

namespace fastlstm {

template <typename Cell, typename T>
class Stream {
 public:
  // kernel (I, G*H), recurrent (H, G*H), bias (G*H) are copied; the state is (B, H) zeros.
  Stream(const Weights<T>& w, Index B, Index I, Index H)
      : K_(map(w.kernel, I, Cell::kGates * H)),
        R_(map(w.recurrent, H, Cell::kGates * H)),
        b_(row_vector(w.bias, Cell::kGates * H)),
        h_(Matrix<T>::Zero(B, H)),
        c_(Matrix<T>::Zero(B, H)),
        x_(B, I),
        z_(B, Cell::kGates * H) {}

  Index batch() const { return h_.rows(); }
  Index input_size() const { return K_.rows(); }
  Index hidden_size() const { return h_.cols(); }
  T* h() { return h_.data(); }  // (B, H)
  T* c() { return c_.data(); }  // (B, H)

  // x: (B, I). Advances h and c by one step.
  void step(const T* x) {
    const Index B = batch(), H = hidden_size(), GH = Cell::kGates * H;
    // Copied into an aligned buffer first: Eigen's rounding depends on alignment (see bindings).
    x_ = map(x, B, input_size());
    auto z = map(z_.data(), B, GH);
    z.rowwise() = b_;
    step_product(map(static_cast<const T*>(x_.data()), B, input_size()),
                 map(K_.data(), K_.rows(), GH), z);
    step_product(map(static_cast<const T*>(h_.data()), B, H), map(R_.data(), H, GH), z);
    auto c = map(c_.data(), B, H);
    Cell::forward(z, map(static_cast<const T*>(c_.data()), B, H), c, map(h_.data(), B, H));
  }

 private:
  Matrix<T> K_, R_;
  Vector<T> b_;
  Matrix<T> h_, c_, x_, z_;
};

}  // namespace fastlstm
