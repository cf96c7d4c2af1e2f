// Activations on SIMD packets (Eigen's packet types, so each ISA module gets its own width).
// Cells apply them to whole packets only, so every element is computed by the same code.
#pragma once

#include <Eigen/Core>
#include <cmath>

namespace fastlstm::act {

using Eigen::internal::packet_traits;
using Eigen::internal::unpacket_traits;

template <typename T>
using Packet = typename packet_traits<T>::type;

// sigma(z) = 1 / (1 + exp(-z)): Eigen's vectorised logistic, which saturates cleanly at +-inf.
template <typename P>
P sigmoid(const P& z) {
  return Eigen::internal::scalar_logistic_op<typename unpacket_traits<P>::type>().packetOp(z);
}

// tanh: Eigen's vectorised rational approximation where it has one (float, within a few ulp),
// else the C library's, lane by lane (double).
template <typename P>
P tanh(const P& z) {
  using T = typename unpacket_traits<P>::type;
  if constexpr (packet_traits<T>::HasTanh) {
    return Eigen::internal::ptanh(z);
  } else {
    constexpr int L = packet_traits<T>::size;
    T v[L];
    Eigen::internal::pstoreu(v, z);
    for (T& e : v) e = std::tanh(e);
    return Eigen::internal::ploadu<P>(v);
  }
}

}  // namespace fastlstm::act
