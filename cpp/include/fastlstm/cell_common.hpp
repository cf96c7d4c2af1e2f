// What the cells share: the arguments of a step, and a row walked a packet at a time, with the
// last, partial packet going through the same packet code on a padded copy (so an element's value
// never depends on its address or on how rows and units were split across threads).
//
// A cell is a struct with
//   kGates                  column blocks of the kernel and recurrent kernel, H wide each
//   kSaved                  blocks per step that forward keeps for backward (>= kGates)
//   kHasCell                carries c_t beside h_t (LSTM)
//   kRecurrentBias          has a second bias inside the recurrent term (GRU, reset after)
//   kPhases                 a step's phases: a step can be split by hidden units over threads,
//                           which meet after each phase. 1 (a thread needs only h_{t-1} and its
//                           own units' columns), or 2 for a cell whose second product needs a
//                           value of every unit (the reset-before GRU's r ⊙ h_{t-1}); such a
//                           cell has forward_phase(StepForward, rec, phase), which exchanges
//                           that value through StepForward::shared, and backward_phase(
//                           StepBackward, rec_t, phase) with backward_gates(phase), the gate
//                           blocks (first, count) of dZ that phase's product rec_t multiplies
//   kSeparateRecurrentGrad  dL/d(recurrent term) differs from dL/d(input term) (GRU, reset after)
//   recurrent_input(g)      dR's left operand for gate block g: -1 = h_{t-1}, k = saved block k
//   forward(StepForward, rec) and backward(StepBackward, rec_t): one step, see below.
// The walk may make rec and rec_t read h_{t-1} ⊙ a fixed mask (recurrent dropout): a cell passes
// them the operand it multiplies by R and gets back the product, or dL/d(that operand).
#pragma once

#include <algorithm>

#include "fastlstm/activations.hpp"
#include "fastlstm/types.hpp"

namespace fastlstm {

// One forward step for n rows and the units [u0, u0 + m) of one thread.
template <typename T>
struct StepForward {
  MatMap<T> z;            // (n, kSaved*m): in x_t*K + b in the first kGates blocks; out: saved
  ConstMatMap<T> h_prev;  // (n, H) h_{t-1}, every unit (the recurrent product needs them all)
  Index u0;               // the first of the thread's units
  const T* rbias;         // (kGates*m) the units' recurrent bias, or nullptr
  ConstMatMap<T> c_prev;  // (n, m) c_{t-1} (cells with kHasCell)
  MatMap<T> c, h;         // (n, m) c_t and h_t, written; c may alias c_prev
  // LSTM options (the walk passes them to every cell; the others have none):
  const T* peephole = nullptr;  // (3*m) the units' peepholes, blocks i, f, o; nullptr: none
  T clip = 0;                   // > 0: the activations' inputs are clipped to [-clip, clip]
  // Cells with kPhases > 1, in a unit split: (n, H), rows H apart, where each thread writes its
  // units' columns in one phase and every thread reads all of them in the next; nullptr when
  // this thread has every unit.
  T* shared = nullptr;
  // The walk reads the recurrent kernel's panels from the last this step (panel_product): a cell
  // that makes several products from one operand makes them from the last gate block first.
  bool reverse = false;
};
// rec(a, g0, ng, out): out (n, ng*m) += a (n, H) * the recurrent kernel's gate blocks
// [g0, g0 + ng), the thread's units only.

// One backward step for n rows, all units.
template <typename T>
struct StepBackward {
  ConstMatMap<T> saved;         // (n, kSaved*H) what forward kept
  ConstMatMap<T> h_prev;        // (n, H) h_{t-1}
  ConstMatMap<T> c_prev, c;     // (n, H) c_{t-1}, c_t (cells with kHasCell)
  ConstMatMap<T> dh;            // (n, H) dL/dh_t, all paths
  MatMap<T> dc;                 // (n, H) in: dL/dc_t from step t+1; out: dL/dc_{t-1}
  MatMap<T> dz;                 // (n, kGates*H) out: dL/d(x_t*K + b)
  MatMap<T> dzr;                // (n, kGates*H) out: dL/d(recurrent term); may be dz itself
  MatMap<T> dh_prev;            // (n, H) out: dL/dh_{t-1}
  const T* peephole = nullptr;  // (3*H), as in StepForward
  T clip = 0;
};
// rec_t(d, g0, ng, out): out (n, H) += d (n, ng*H) * (gate blocks [g0, g0 + ng) of R)^T.

}  // namespace fastlstm

namespace fastlstm::cell_detail {

using Eigen::internal::padd;
using Eigen::internal::pand;
using Eigen::internal::pcmp_lt;
using Eigen::internal::pload1;
using Eigen::internal::ploadu;
using Eigen::internal::pmax;
using Eigen::internal::pmin;
using Eigen::internal::pmul;
using Eigen::internal::pset1;
using Eigen::internal::pstoreu;
using Eigen::internal::psub;

template <typename T>
using P = act::Packet<T>;
template <typename T>
constexpr int kLanes = act::packet_traits<T>::size;

// Calls body(ins, outs, j) over the H units of a row, a packet at a time. `ins` are the row's
// input pointers, `outs` its output pointers; for a last partial packet, body works on padded
// copies and the valid lanes of the outputs are copied back. Outputs may alias inputs.
template <int L, typename T, size_t NI, size_t NO, typename Body>
void for_packets(Index H, const T* const (&ins)[NI], T* const (&outs)[NO], Body&& body) {
  Index j = 0;
  for (; j + L <= H; j += L) body(ins, outs, j);
  if (j == H) return;
  const Index len = H - j;
  T in_copy[NI][L] = {}, out_copy[NO][L] = {};
  const T* in_ptrs[NI];
  T* out_ptrs[NO];
  for (size_t k = 0; k < NI; ++k) {
    std::copy(ins[k] + j, ins[k] + H, in_copy[k]);
    in_ptrs[k] = in_copy[k] - j;  // so that body's [j, j + L) lands on the copy
  }
  for (size_t k = 0; k < NO; ++k) out_ptrs[k] = out_copy[k] - j;
  body(in_ptrs, out_ptrs, j);
  for (size_t k = 0; k < NO; ++k) std::copy(out_copy[k], out_copy[k] + len, outs[k] + j);
}

// Pointer to row r of a strided window.
template <typename M>
auto row_ptr(M& m, Index r) {
  return m.data() + r * m.outerStride();
}

}  // namespace fastlstm::cell_detail
