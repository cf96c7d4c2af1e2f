// Elementwise activations on Eigen arrays, vectorised by Eigen's packet math. Call them qualified,
// act::tanh(x), so that argument-dependent lookup does not also find Eigen::tanh.
#pragma once

#include <Eigen/Core>

namespace fastlstm::act {

// sigma(z) = 1 / (1 + exp(-z)); Eigen's logistic is vectorised and saturates cleanly at +-inf.
template <typename Derived>
auto sigmoid(const Eigen::ArrayBase<Derived>& z) {
  return z.logistic();
}

// tanh with Eigen's vectorised rational approximation for float (within a few ulp) and the exact
// libm value for double.
template <typename Derived>
auto tanh(const Eigen::ArrayBase<Derived>& z) {
  return z.tanh();
}

}  // namespace fastlstm::act
