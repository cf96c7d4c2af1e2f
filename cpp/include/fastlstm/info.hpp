// What this build of the core runs on: its SIMD level and its thread count.
#pragma once

#include <Eigen/Core>
#include <string>

namespace fastlstm {

// The vector instruction level this translation unit was compiled for. Eigen chooses its kernels
// from the same compiler macros, so this is the level the core's math uses.
inline std::string simd_level() {
#if defined(__AVX512F__)
  return "avx512";
#elif defined(__AVX2__) && defined(__FMA__)
  return "avx2";
#elif defined(__SSE4_2__)
  return "sse4.2";
#elif defined(__SSE2__)
  return "sse2";
#elif defined(__ARM_NEON)
  return "neon";
#else
  return "scalar";
#endif
}

inline std::string simd_instructions() { return Eigen::SimdInstructionSetsInUse(); }

}  // namespace fastlstm
