// What a sequence walk reads and writes: the weights and the caller's buffers, forward and
// backward (sequence.hpp). Buffers are (T*B, cols) row-major in the caller's row order (SeqShape).
#pragma once

#include <cstdint>

#include "fastlstm/types.hpp"

namespace fastlstm {

// Weights in the canonical layout, gate blocks in the cell's order.
template <typename T>
struct Weights {
  const T* kernel;                    // (I, G*H)
  const T* recurrent;                 // (P, G*H)
  const T* bias;                      // (G*H)
  const T* recurrent_bias = nullptr;  // (G*H), cells with kRecurrentBias
  // LSTM options (cell_common.hpp): peepholes (3H, blocks i, f, o) or nullptr; clip, 0 for none.
  const T* peephole = nullptr;
  T clip = 0;
  const T* projection = nullptr;  // (H, P) W_p, or nullptr (then P = H)
};

template <typename T>
struct ForwardBuffers {
  const T* x;   // (T*B, I)
  const T* h0;  // (B, P) initial hidden state
  const T* c0;  // (B, H) initial cell state (cells with kHasCell; else unused)
  T* y;         // (T*B, P) out: h_t for every step
  T* h_last;    // (B, P) out: h_T
  T* c_last;    // (B, H) out: c_T (cells with kHasCell)
  // What backward needs: both for training; for inference, gates nullptr, and c_all nullptr
  // unless the caller asks for every c_t. Over a right-padded batch (lengths), only the valid
  // steps, packed (forward's return value says so; by_length.hpp).
  T* gates;  // (T*B, S*H) out: what the cell saves per step
  T* c_all;  // (T*B, H) out: c_t for every step (cells with kHasCell)
  // Optional (B, T) batch-major, nonzero = valid. A masked step carries the state unchanged and
  // its output repeats h_{t-1} (Keras), or is zero with zero_masked (lengths: right padding only,
  // since a valid step must not follow a zeroed output).
  const std::uint8_t* mask = nullptr;
  bool zero_masked = false;
  // Optional (B, P): recurrent dropout. The recurrent products read h_{t-1} ⊙ this, fixed over
  // time (Keras); everything else (the state update, the outputs) reads h_{t-1}.
  const T* recurrent_mask = nullptr;
};

template <typename T>
struct BackwardBuffers {
  // What forward saw and kept.
  const T* x;
  const T* h0;
  const T* c0;
  const T* y;
  const T* gates;
  const T* c_all;
  // Upstream gradients; nullptr means zero.
  const T* dy;       // (T*B, P)
  const T* dh_last;  // (B, P)
  const T* dc_last;  // (B, H)
  // Gradients: dx, dkernel, drecurrent, dbias and drecurrent_bias are added into; dh0 and dc0 are
  // written.
  T* dx;               // (T*B, I), or nullptr where dL/dx is not wanted (its GEMM is skipped)
  T* dkernel;          // (I, G*H)
  T* drecurrent;       // (P, G*H)
  T* dbias;            // (G*H)
  T* drecurrent_bias;  // (G*H), cells with kRecurrentBias
  T* dh0;              // (B, P)
  T* dc0;              // (B, H)
  // The masks forward used (see ForwardBuffers).
  const std::uint8_t* mask = nullptr;
  bool zero_masked = false;
  const T* recurrent_mask = nullptr;
  T* dpeephole = nullptr;    // (3H), added into, where the weights have peepholes
  T* dprojection = nullptr;  // (H, P), added into, where they have a projection
  // What forward returned: whether gates and c_all hold the valid steps only, packed (ByLength).
  bool packed = false;
  // Optional (T*B, H): dL/dc_t for every step, where the caller used the cell states as an
  // output too (a masked step's c_t is the state it carried: its gradient goes to that state).
  const T* dc_all = nullptr;
};

}  // namespace fastlstm
