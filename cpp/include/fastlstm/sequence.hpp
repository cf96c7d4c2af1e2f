// The sequence walk: one time loop shared by every cell (LSTM, GRU, plain RNN). A cell
// (cell_common.hpp) supplies the gate math and says which recurrent products it needs; the walk
// does the GEMMs, the threads, masks and the bookkeeping:
//   forward:  x*K + b as one GEMM over all timesteps, into the buffer that training keeps for
//             backward (inference with a large T*B computes it a block of timesteps at a time
//             instead and keeps no such buffer); per step, the cell adds h_{t-1}*R through the
//             walk's step product and updates the state.
//   backward: per step only the serial part, dZ_t and dh_{t-1} from the cell; then dX, dK, dR and
//             db as single GEMMs over all timesteps, or, where that pays, summed by blocks of
//             rows (grads_by_rows).
// Buffers are (T*B, cols) row-major in the caller's row order (see SeqShape), or, for a padded
// batch, its valid steps only, sorted by length and packed (by_length.hpp). G = Cell::kGates
// blocks of H columns in the weights, S = Cell::kSaved blocks per step kept for backward. h and
// y are P = s.state_width() wide: H, or an LSTM's projection size (h_t = (o ⊙ tanh(c_t))·W_p,
// PyTorch's proj_size), which the walk applies after the cell, one small GEMM per step.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include "fastlstm/blocks.hpp"
#include "fastlstm/buffers.hpp"
#include "fastlstm/by_length.hpp"
#include "fastlstm/cell_common.hpp"
#include "fastlstm/panels.hpp"
#include "fastlstm/small_gemm.hpp"
#include "fastlstm/threads.hpp"
#include "fastlstm/types.hpp"

namespace fastlstm {

// Multiplies the (n, H) rows of `a` for batch entries [b0, b0 + n) by a (B, H) mask, into `out`.
template <typename T, typename A>
void masked_rows(const A& a, const T* mask, Index b0, Matrix<T>& out) {
  out = a.cwiseProduct(map(mask + b0 * a.cols(), a.rows(), a.cols()));
}

// Whether batch entry b takes step t (a (B, T) mask, nullptr: every step).
inline bool valid(const std::uint8_t* mask, const SeqShape& s, Index b, Index t) {
  return mask == nullptr || mask[b * s.T + t] != 0;
}

// An empty (n, 0) window, for the cell state of cells without one.
template <typename T>
auto no_state(Index n) {
  return map(static_cast<T*>(nullptr), n, 0, 0);
}

// Whether the n values at p are all zero (either sign).
template <typename T>
bool all_zero(const T* p, Index n) {
  return std::all_of(p, p + n, [](T v) { return v == T(0); });
}

// A thread's scratch for z_t = x_t*K + b when the input projection is not precomputed for the
// whole sequence: z for `steps` timesteps at a time, (steps*n, S*m) (rows in step order; the
// cell's saved blocks after the G gate blocks), and, with more than one step, those steps' rows
// of x gathered, (steps*n, I), so that K is read once per block by one GEMM instead of once per
// step. With `precomputed`, the gates buffer holds x_t*K + b for every step instead (a walk of
// all the units only).
template <typename T>
struct InputBlocks {
  T* z;
  T* x;
  Index steps;
  bool precomputed;
};

// Timesteps per input block: about kBlockRows rows of x for the GEMM (fewer rows than that and
// the GEMM runs below speed), while the block's z stays within kMaxBlockBytes.
constexpr Index kBlockRows = 128;
constexpr double kMaxBlockBytes = 2 << 20;
inline Index block_steps(Index T, Index n, Index z_cols, Index bytes) {
  const Index by_rows = (kBlockRows + n - 1) / std::max<Index>(n, 1);
  const Index by_size = static_cast<Index>(kMaxBlockBytes / (double(n) * z_cols * bytes));
  return std::max<Index>(1, std::min({by_rows, by_size, T}));
}

// z = x*K + b for steps [t0, t0 + blocks.steps) ∩ [0, T), rows [b0, b0 + n), the units of `u`:
// each step's rows (all n, or in the packed order those still running) after the step before's.
template <int G, int S, typename T>
void project_block(const SeqShape& s, const UnitWeights<T>& u, const T* x, Index t0, Index b0,
                   Index n, const InputBlocks<T>& blocks) {
  const Index m = u.m, steps = std::min(blocks.steps, s.T - t0);
  Index rows = 0;
  for (Index t = t0; t < t0 + steps; ++t) rows += s.rows_at(t, b0, n);
  auto z = map(blocks.z, rows, G * m, S * m);
  z.rowwise() = row_vector(u.bias, G * m);
  if (rows == 0) return;
  // In the packed order one step's rows are one run of x, and so are the whole batch's of
  // several steps.
  if (s.packed && (steps == 1 || (b0 == 0 && n == s.B))) {
    return panel_product(map(x + s.row(b0, t0) * s.I, rows, s.I), u.kernel, s.I, 0, G * m, z);
  }
  if (blocks.steps == 1)
    return panel_product(s.step(x, s.I, t0, b0, n), u.kernel, s.I, 0, G * m, z);
  auto gathered = map(blocks.x, rows, s.I);
  for (Index t = t0, r = 0; t < t0 + steps; r += s.rows_at(t++, b0, n)) {
    gathered.middleRows(r, s.rows_at(t, b0, n)) = s.step(x, s.I, t, b0, s.rows_at(t, b0, n));
  }
  panel_product(gathered, u.kernel, s.I, 0, G * m, z);
}

// Forward for batch entries [b0, b0 + n) and the units of `u`, one step at a time. A thread
// either walks a block of the batch through all units and steps, or (small batches) the threads
// walk blocks of the units for the whole batch, meeting after each step so that every block sees
// the whole h_t before step t + 1.
template <typename Cell, typename T>
class ForwardWalk {
  static constexpr Index G = Cell::kGates, S = Cell::kSaved;
  static constexpr bool kCell = Cell::kHasCell;

 public:
  // shared: for cells with phases, in a unit split, the (B, H) buffer every walk exchanges
  // values of its units through between phases (StepForward::shared); else nullptr. With s in
  // the packed order (ByLength: z precomputed in a batch split, the whole batch in a unit
  // split), the rows a step computes are its first ones, those still running: a step computes
  // only those.
  ForwardWalk(const SeqShape& s, const UnitWeights<T>& u, const ForwardBuffers<T>& buf,
              bool training, Index b0, Index n, const InputBlocks<T>& blocks, T* shared = nullptr)
      : s_(s),
        u_(u),
        buf_(buf),
        training_(training),
        b0_(b0),
        n_(n),
        blocks_(blocks),
        // The columns of h this walk writes: its units, or all of h after a projection.
        hu0_(u.projection ? 0 : u.u0),
        hm_(u.projection ? s.state_width() : u.m),
        c_last_(kCell ? buf.c_last + b0 * s.H + u.u0 : nullptr),
        kept_(buf.mask && kCell ? n : 0, u.m),
        unprojected_(u.projection ? n : 0, s.H),
        shared_(shared ? shared + b0 * s.H : nullptr),
        zero_start_(all_zero(buf.h0 + b0 * s.state_width(), n * s.state_width())) {}

  // Phase `phase` of step t (Cell::kPhases of them), after the phase before (of step t, or the
  // last of step t - 1) of every walk that shares this one's rows of h.
  void step(Index t, int phase = 0) {
    const SeqShape& s = s_;
    const UnitWeights<T>& u = u_;
    const ForwardBuffers<T>& buf = buf_;
    const Index H = s.H, P = s.state_width(), SH = S * H, u0 = u.u0, m = u.m, b0 = b0_;
    const Index n = s.rows_at(t, b0, n_);  // the rows this step computes
    if (n == 0) return;
    // precomputed: buf.gates holds x_t*K + b for every step (see forward()).
    const bool precomputed = blocks_.precomputed, all_units = m == H;
    const bool project = u.projection != nullptr;
    // R's panels in alternating directions, step to step (panel_product).
    const bool reverse = t % 2 == 1;
    const auto rec = [&](const auto& a, Index g0, Index ng, auto out) {
      // From a zero state (the default initial state, a stream just reset) the first step's
      // products are zero: adding them changes nothing, and at B=1, T=25, H=512 they are one
      // step's 4 MiB of R in 25. (A recurrent kernel holding inf or NaN would have made them
      // NaN, 0 * inf: its NaN then first shows at step 1, not step 0.)
      if (t == 0 && zero_start_) return;
      const Index c0 = g0 * m, c1 = (g0 + ng) * m;
      if (!buf.recurrent_mask) return panel_product(a, u.recurrent, P, c0, c1, out, reverse);
      masked_rows(a, buf.recurrent_mask, b0, dropped_);  // the operand under recurrent dropout
      panel_product(dropped_, u.recurrent, P, c0, c1, out, reverse);
    };
    // z_t = x_t*K + b for this walk's units (from the input GEMM when precomputed, which only a
    // walk of all units is).
    if (phase == 0 && !precomputed && t % blocks_.steps == 0) {
      project_block<G, S>(s, u, buf.x, t, b0, n_, blocks_);
    }
    auto z = [&] {
      if (precomputed) return s.step(buf.gates, SH, t, b0, n);
      Index row = 0;  // the block's rows before step t's (project_block)
      for (Index k = t - t % blocks_.steps; k < t; ++k) row += s.rows_at(k, b0, n_);
      return map(blocks_.z + row * S * m, n, S * m);
    }();
    const auto h0 = map(buf.h0 + b0 * P, n, P);
    const auto h_prev = t == 0 ? h0 : s.step(static_cast<const T*>(buf.y), P, t - 1, b0, n);
    auto y_t = cols(s.step(buf.y, P, t, b0, n), hu0_, hm_);
    auto h = project ? map(unprojected_.data(), n, H) : y_t;
    // With c_all (training, or a caller that asks for every c_t) each c_t goes there; else
    // c_t lives only in c_last, updated in place.
    const auto c_prev = [&]() -> ConstMatMap<T> {
      if constexpr (!kCell) return no_state<const T>(n);
      if (t == 0) return cols(map(buf.c0 + b0 * H, n, H), u0, m);
      if (buf.c_all) return cols(s.step(static_cast<const T*>(buf.c_all), H, t - 1, b0, n), u0, m);
      return map(static_cast<const T*>(c_last_), n, m, H);
    }();
    auto c = !kCell      ? no_state<T>(n)
             : buf.c_all ? cols(s.step(buf.c_all, H, t, b0, n), u0, m)
                         : map(c_last_, n, m, H);
    // Masked rows go through the cell with the others (cheaper than taking them out of the
    // GEMM), then get their previous state back: c_prev may be c itself, so it is kept first.
    const auto masked = [&](Index r) { return !valid(buf.mask, s, b0 + r, t); };
    for (Index r = 0; kCell && buf.mask && phase == 0 && r < n; ++r) {
      if (masked(r)) kept_.row(r) = c_prev.row(r);
    }
    const StepForward<T> f{z, h_prev,     u0,     u.recurrent_bias, c_prev, c,
                           h, u.peephole, u.clip, shared_,          reverse};
    if constexpr (Cell::kPhases == 1) {
      Cell::forward(f, rec);
    } else {
      Cell::forward_phase(f, rec, phase);
      if (phase < Cell::kPhases - 1) return;
    }
    if (project) {
      y_t.setZero();
      step_product(h, map(u.projection, H, P), y_t);
    }
    for (Index r = 0; buf.mask && r < n; ++r) {
      if (!masked(r)) continue;
      y_t.row(r) = cols(h_prev, hu0_, hm_).row(r);
      if (kCell) c.row(r) = kept_.row(r);
      // What the cell saved of a masked step came from its x, which may be anything (NaN
      // padding, say); backward's products read it against a zero gradient, and 0 * NaN is NaN.
      if (training_) z.row(r).setZero();
    }
    if (training_ && !all_units) {  // backward reads what the cell saved from the gates buffer
      for (Index g = 0; g < S; ++g)
        cols(s.step(buf.gates, SH, t, b0, n), g * H + u0, m) = cols(z, g * m, m);
    }
  }

  // After the last step of every walk that shares this one's rows of h (or instead of any, when
  // T = 0): the final state, and zeros for masked outputs with zero_masked.
  void finish() {
    const SeqShape& s = s_;
    const ForwardBuffers<T>& buf = buf_;
    const Index H = s.H, P = s.state_width(), u0 = u_.u0, m = u_.m, b0 = b0_, n = n_;
    auto h_last = cols(map(buf.h_last + b0 * P, n, P), hu0_, hm_);
    const auto h0 = cols(map(buf.h0 + b0 * P, n, P), hu0_, hm_);
    const auto c0 = kCell ? cols(map(buf.c0 + b0 * H, n, H), u0, m) : no_state<const T>(n);
    auto c_last = kCell ? map(c_last_, n, m, H) : no_state<T>(n);
    if (s.packed) {  // each row's state is that of its last valid step
      for (Index r = 0; r < n; ++r) {
        Index steps = 0;
        while (steps < s.T && s.count(steps) > b0 + r) ++steps;
        if (steps == 0) {
          h_last.row(r) = h0.row(r);
          if constexpr (kCell) c_last.row(r) = c0.row(r);
          continue;
        }
        h_last.row(r) =
            cols(s.step(static_cast<const T*>(buf.y), P, steps - 1, b0 + r, 1), hu0_, hm_);
        // Without c_all, c_t was updated in c_last in place.
        if (kCell && buf.c_all)
          c_last.row(r) =
              cols(s.step(static_cast<const T*>(buf.c_all), H, steps - 1, b0 + r, 1), u0, m);
      }
      return;
    }
    if (s.T == 0) {
      h_last = h0;
      c_last = c0;
      return;
    }
    h_last = cols(s.step(static_cast<const T*>(buf.y), P, s.T - 1, b0, n), hu0_, hm_);
    if (kCell && buf.c_all) {
      c_last = cols(s.step(static_cast<const T*>(buf.c_all), H, s.T - 1, b0, n), u0, m);
    }
    if (!buf.zero_masked) return;
    for (Index t = 0; t < s.T; ++t) {  // now that no step reads them as h_{t-1}
      auto y = cols(s.step(buf.y, P, t, b0, n), hu0_, hm_);
      for (Index r = 0; r < n; ++r) {
        if (!valid(buf.mask, s, b0 + r, t)) y.row(r).setZero();
      }
    }
  }

 private:
  const SeqShape& s_;
  UnitWeights<T> u_;
  const ForwardBuffers<T>& buf_;
  const bool training_;
  const Index b0_, n_;
  const InputBlocks<T> blocks_;
  const Index hu0_, hm_;
  T* const c_last_;        // (n, m), rows H apart
  Matrix<T> kept_;         // c_{t-1} of masked rows
  Matrix<T> unprojected_;  // the cell's h_t before the projection
  Matrix<T> dropped_;      // the recurrent product's operand under recurrent dropout
  T* const shared_;        // (n, H), rows H apart, or nullptr
  const bool zero_start_;  // whether this walk's rows of h0 are all zero
};

// A core's L2 in bytes, as the CPU reports it; 768 KiB where it reports nothing.
inline double l2_bytes() {
  static const double l2 = [] {
    const std::ptrdiff_t bytes = Eigen::l2CacheSize();
    return bytes > 0 ? double(bytes) : double(768 << 10);
  }();
  return l2;
}

// Whether a batch of B rows on `threads` threads splits its hidden units instead of its rows.
// The batch split reads all of R at every step, once per block of rows the small GEMM takes (8,
// then 4, then the rest); the unit split reads a thread's share of R, from that core's cache,
// once per such block of the whole batch, and meets the other threads once per step. Below 4
// rows per thread the unit split reads less of R; so it does from 5 to 7 rows, where the batch
// split reads all of R twice (a block of 4 and the rest). Measured on 2 threads, unit split
// against batch split: B=10, 12, 14 at H=128-384 1.08-1.27x; B=8 (4 rows a thread) 0.90x at
// H=128, 1.07-1.13x at H=256, so it stays a batch split.
//
// With many threads and an R (`recurrent_bytes`) larger than a core's L2, the batch split has
// every thread stream all of R from L3 at every step (once per block of rows), and the threads
// together outrun the L3: at B=256, T=100, I=256, H=512 on a 16-core Xeon (2 MiB L2) 16 threads
// ran 7.6x faster than one. Where a thread's share of R fits in half its L2, the unit split
// keeps that share there and reads only h_{t-1} (B, H) from the others at each step. Measured
// there, 16 threads: B=64, T=50, I=256, H=512 1.5x (15.4-16.1 ms before, 9.3-10.7 after); at
// B=256 the runs spread too widely (77-113 ms) to tell.
//
// With 8 to 10 rows a thread, one block of 8 rows (and the rest) reads all of R from L3 at
// every step where R does not fit in L2 beside the rest; a thread's share of R stays in its L2.
// Measured on 2 threads (a 1 MiB L2), unit split against batch split, T=50, I=128 (64): LSTM
// B=16, H=256 (R 1 MiB) 1.07-1.13x, H=224 (784 KiB) 1.08x, H=384 1.10x, H=512 1.08x, B=18 and
// 20 at H=256 1.13x and 1.18x, B=20 at H=512 1.19x; GRU B=16, H=288 (972 KiB) 1.15x, H=256 (768
// KiB) 0.96x; SimpleRNN (one gate) B=16, H=448 and 512 0.83x and 0.92x; LSTM B=22 and 24 (11 and
// 12 rows) at H=256 0.97x and 0.96x. Hence cells of 3 or more gates with R at least 0.9 of L2.
constexpr Index kMinRowsPerThread = 4;
inline bool split_units(Index B, int threads, double recurrent_bytes, int gates) {
  const Index rows = (B + threads - 1) / threads;  // per thread, in a batch split
  if (rows < kMinRowsPerThread || (rows < 2 * kMinRowsPerThread && rows % kMinRowsPerThread)) {
    return true;
  }
  if (gates >= 3 && rows <= 10 && recurrent_bytes >= 0.9 * l2_bytes()) return true;
  return recurrent_bytes > l2_bytes() && recurrent_bytes / threads <= l2_bytes() / 2;
}

// The threads a unit split takes (1: split the rows instead). Its threads meet once per step, so
// each one's share of R must take long enough to stream to pay for that: at least
// kMinUnitShareBytes where a thread would have one row or none in a batch split, twice that
// where it would have more (and walk them with no meetings). Measured on 2 threads (1 MiB L2),
// T=1000, I=H, the unit split against one thread at B=1: LSTM H=16, 32, 48 (R 16, 36 KiB) 3.2x,
// 1.7x and 1.5x slower, H=64 (64 KiB) 0.65x; GRU H=64 (48 KiB) 1.09x, H=96 0.66x; SimpleRNN H=64
// 1.9x, H=128 (64 KiB) 0.74x. Against the batch split: B=2, LSTM H=32 and 48 2.0x slower, H=64
// 0.95x, H=96 0.88x; B=4, H=64 1.19x, H=96 (144 KiB) 1.03x; GRU B=2, H=64 1.35x; SimpleRNN B=4,
// H=128 1.17x. (In those of this VM's processes whose cores meet slowly, a whole process long,
// the unit split of B=1, H=64 ran 1.5x slower than one thread.)
constexpr double kMinUnitShareBytes = 32 << 10;
inline int unit_threads(Index B, int threads, double recurrent_bytes, int gates) {
  if (threads < 2 || !split_units(B, threads, recurrent_bytes, gates)) return 1;
  const double share = (B <= threads ? 1 : 2) * kMinUnitShareBytes;
  return static_cast<int>(std::min<double>(threads, std::floor(recurrent_bytes / share)));
}

// Panel width of a packed copy of weights that products of `rows` rows read. Below 8 rows, the
// strips small_gemm reads them in (strip_columns), so that a strip is one sequential stream:
// measured, 2 threads, B=2, T=50, I=128, H=256 1.17-1.26x faster than from panels of 256
// columns (GRU 1.08-1.12x), B=3 1.03-1.12x, B=1 (T=100, I=64) 1.01-1.08x. From 8 rows on
// (blocks of 8 rows, bound by the FMAs) kPanel: 32-column panels, eight times the product
// calls, were 1.035x slower at B=16, T=50, I=128, H=256. Eigen's GEMM, where it takes the
// product, copies what it reads anyway.
constexpr Index kPanel = 256;
template <typename T>
Index panel_for(Index rows) {
  return small_rows(rows) && rows < 8 ? strip_columns<T>(rows) : kPanel;
}
// A unit-split block packs its recurrent columns into contiguous panels, which then stream at
// every step: from its core's L2 where they fit (as the CPU reports it; 768 KiB where it reports
// nothing), else from L3 or memory, still as one sequential stream that the prefetchers follow
// better than runs of a few KiB a row apart. Measured, 2 threads: on a 2 MiB L2, B=1, T=25,
// H=512 (the GRU's 1.5 MiB, the LSTM's 2 MiB per thread) 1.5x faster than reading R in place; on
// a 1 MiB L2, LSTM B=1, T=25, H=512 1.05x, T=20, H=1024 1.38x, B=2, T=30, H=1024 1.53x, T=10,
// H=1536 1.18x. The copy costs one to two steps' reading of columns that do not fit in L2, so
// those wait for enough steps (B=1, T=2, H=1024 was 1.65x slower with it). Columns that fit in L2
// wait too: both threads copying from the caller's R at once, the copy cost about five steps'
// reading of R in place (measured, 1 MiB L2, B=1, I=64, 2 threads, calls back to back: H=192
// and 256 even at T=6 and 7; T=2 1.9-2.9x faster without it, T=3 1.4-1.9x, T=4 1.1-1.5x).
constexpr Index kMinPackStepsInL2 = 6;
constexpr Index kMinPackStepsBeyondL2 = 8;
inline bool pack_blocks(double bytes_per_block, Index T) {
  return T >= (bytes_per_block <= l2_bytes() ? kMinPackStepsInL2 : kMinPackStepsBeyondL2);
}

// The batch split reads all of R at every step. Where the steps' products are small_gemm's for
// their few rows (small_rows), R is first packed into panels that every thread shares: at
// (16, 512) x (512, 2048) that product measured 1.2-2x faster from panels than from R's rows,
// 8 KiB apart. The copy costs about one step's reading of R, so it waits for enough steps. More
// rows than that take small_gemm only for an R of at most kSmallGemmBytes, read where it lies
// (it stays in L2; at B=256, H=128 on 2 threads 1.03x Eigen's GEMM).
constexpr Index kMinPackSteps = 4;
inline bool pack_shared(Index T, Index rows_per_thread) {
  return T >= kMinPackSteps && small_rows(rows_per_thread);
}

// The most rows of the chunks that boundaries `ends` make.
inline Index most_rows(const std::vector<Index>& ends) {
  Index most = 0;
  for (std::size_t k = 0; k + 1 < ends.size(); ++k) most = std::max(most, ends[k + 1] - ends[k]);
  return most;
}

// Columns of a panel copy: `width` rounded up to whole panels.
inline Index padded_width(Index width, Index panel = kPanel) {
  return (width + panel - 1) / panel * panel;
}

// The transpose of a (rows, cols) matrix, (cols, rows), in column panels `panel` wide, (cols,
// panel) each (the last may be partly unused), rows of the panels split over the threads. A
// tile of kTransposeTile columns at a time: each source row gives one cache line, and the tile's
// output rows fill side by side, where a whole source row had scattered over all the thread's
// output rows, evicting them before they filled (2.5% of a training step at B=32, T=100,
// H=512).
constexpr Index kTransposeTile = 16;
template <typename T>
Panels<T> transposed_panels(const T* src, Index rows, Index cols, Index panel, T* dst) {
  parallel_chunks(cols, double(rows) * cols, [&](Index k0, Index k1) {
    for (Index t0 = k0; t0 < k1; t0 += kTransposeTile) {
      const Index t1 = std::min(t0 + kTransposeTile, k1);
      for (Index j = 0; j < rows; ++j) {
        T* to = dst + j / panel * panel * cols + j % panel;
        for (Index k = t0; k < t1; ++k) to[k * panel] = src[j * cols + k];
      }
    }
  });
  return {dst, panel, panel * cols, panel};
}

// Inference computes the input projection for all timesteps at once (as training does) while its
// buffer stays this small; beyond, each thread computes it for a block of timesteps at a time
// (InputBlocks) and no (T*B, S*H) buffer is kept at all.
constexpr double kMaxProjectionBytes = 8 << 20;

// Z = X*K + b for every row at once: X (rows, I), K (I, GH), Z (rows, GH) with rows `ld` apart.
template <typename T>
void project_all(const SeqShape& s, const T* x, const T* kernel, const T* bias, Index GH, T* z,
                 Index ld) {
  const Index rows = s.rows();
  parallel_product(rows, GH, 2.0 * rows * s.I * GH, [&](Index r0, Index r1, Index c0, Index c1) {
    auto Z = map(z + r0 * ld + c0, r1 - r0, c1 - c0, ld);
    // The bias first and the product added to it: `Z = X*K` would zero Z, then add the product.
    Z.rowwise() = row_vector(bias + c0, c1 - c0);
    Z.noalias() += map(x + r0 * s.I, r1 - r0, s.I) * map(kernel + c0, s.I, c1 - c0, GH);
  });
}

// The blocks' scratch for z_t = x_t*K + b (InputBlocks) in a unit split of `n` blocks of at most
// `z_cols` columns of z each: z for a block of timesteps and the x rows it gathers.
template <typename T>
class UnitInputs {
 public:
  UnitInputs(const SeqShape& s, Index n, Index z_cols)
      : steps_(block_steps(s.T, s.B, z_cols, sizeof(T))),
        z_size_(steps_ * s.B * z_cols),
        x_size_(steps_ > 1 ? steps_ * s.B * s.I : 0),
        z_(n * z_size_),
        x_(n * x_size_) {}

  Index steps() const { return steps_; }
  InputBlocks<T> blocks(Index k) const {
    return {z_.data() + k * z_size_, x_.data() + k * x_size_, steps_, false};
  }

 private:
  Index steps_, z_size_, x_size_;
  Buffer<T> z_, x_;
};

// Forward for the whole batch, its hidden units split into n blocks that meet once per step
// (once per phase of a step, for cells with phases). Each block's step is taken by whichever
// thread gets to it first, its own thread first (parallel_rounds): a thread slow to get a core
// holds up no step it has not started. Round 0 makes each block's walk from make(k), which
// returns the block's UnitWeights and InputBlocks; then come a round per step (per phase) and
// one for the final state. shared: see ForwardWalk.
template <typename Cell, typename T, typename Make>
void walk_unit_blocks(const SeqShape& s, const ForwardBuffers<T>& buf, bool training, Index n,
                      T* shared, Make&& make) {
  constexpr Index kPhases = Cell::kPhases;
  std::vector<std::optional<ForwardWalk<Cell, T>>> walks(n);
  parallel_rounds(s.T * kPhases + 2, n, [&](Index round, Index k) {
    if (round > s.T * kPhases) return walks[k]->finish();
    if (round > 0) return walks[k]->step((round - 1) / kPhases, (round - 1) % kPhases);
    const auto [units, blocks] = make(k);
    walks[k].emplace(s, units, buf, training, 0, s.B, blocks, shared);
  });
}

// Returns whether training's gates and c_all buffers hold the valid steps only, packed
// (ByLength): backward is to be told so (BackwardBuffers::packed).
template <typename Cell, typename T>
bool forward(const SeqShape& s, const Weights<T>& w, const ForwardBuffers<T>& in) {
  constexpr Index G = Cell::kGates, S = Cell::kSaved;
  const Index H = s.H, GH = G * s.H, SH = S * s.H;
  if (s.B == 0) return false;  // no rows: nothing to compute, however long the sequence
  const bool training = in.gates != nullptr;
  ForwardBuffers<T> buf = in;
  // A mask with every step valid changes nothing: it is dropped (its checks cost time).
  if (buf.mask && std::all_of(buf.mask, buf.mask + s.rows(), [](std::uint8_t v) { return v; }))
    buf.mask = nullptr;
  const Index P = s.state_width();
  const double flops = 2.0 * s.T * s.B * H * ((s.I + P) * G + (w.projection ? P : 0));
  const int most_threads = threads_for(s.B * H, flops);
  // A projection needs all of a row's units before h_t: it splits by batch rows only.
  const int unit =
      w.projection ? 1 : unit_threads(s.B, most_threads, double(P) * GH * sizeof(T), G);
  const bool by_rows = unit < 2;
  const int threads = by_rows ? most_threads : unit;
  const Index most = (H + threads - 1) / threads;  // units per block in a unit split
  // x*K + b for every step at once (one GEMM; training keeps it in its gates buffer) in a batch
  // split; in a unit split each block computes its own columns for blocks of steps, training
  // and inference alike (so they give the same bits), from a packed copy of its columns of K
  // where that fits in L2, else from K where it lies. Measured, 2 threads, blocks against the
  // GEMM over all steps first, both call orders: inference at B=1, T=25, I=256, H=512
  // 1.33-1.38x and B=2, T=25, I=H=512 1.29x; B=1, T=25, I=H=512 1.05x and T=20, I=1024, H=512
  // 1.04-1.17x (K where it lies); T=50, I=H=256, T=200, I=H=128 and T=100, I=64, H=256 level to
  // 1.2x; B=4, T=25, I=H=512 0.97-0.98x. Training steps at B=1, T=25, I=256, H=512 0.95-0.97x (the
  // forward alone 1.08-1.11x), B=2, T=50, I=H=256 0.98-0.99x, B=1 and 2, T=25, I=H=512 level.
  const bool whole =
      !buf.gates && by_rows && double(s.rows()) * SH * sizeof(T) <= kMaxProjectionBytes;
  // A padded batch walks its valid steps only, sorted by length and packed (ByLength), training
  // (its gates and c_all buffers hold those steps packed, and backward finds them there: the
  // return value says so) and inference. Lengths (zero_masked) promise right padding; a mask
  // qualifies where each row's valid steps are one run. Other masks, from the caller of the core
  // itself for zero_masked, take the walk that sets every masked step aside.
  const bool by_length = buf.mask && single_runs(buf.mask, s.B, s.T, buf.zero_masked);
  std::optional<ByLength<T>> sorted;
  if (by_length) sorted.emplace(s, buf, SH, whole);
  const SeqShape& ws = sorted ? sorted->shape() : s;  // the walk's shape
  Buffer<T> projection(whole && !sorted ? s.rows() * SH : 0);
  if (whole && !sorted) buf.gates = projection.data();
  const ForwardBuffers<T>& walked = sorted ? sorted->buffers() : buf;
  if (by_rows && walked.gates) project_all(ws, walked.x, w.kernel, w.bias, GH, walked.gates, SH);
  if (by_rows) {
    // Batch entries are independent: each thread walks the whole sequence for its own block of
    // the batch, with no synchronisation between steps.
    UnitWeights<T> all{{w.kernel, GH, 0, GH},
                       {w.recurrent, GH, 0, GH},
                       w.bias,
                       w.recurrent_bias,
                       0,
                       H,
                       w.peephole,
                       w.clip,
                       w.projection};
    const int chunks = threads_for(s.B, flops);
    const std::vector<Index> ends =
        sorted ? sorted->packing().bounds(chunks) : even_bounds(s.B, chunks);
    const Index most = most_rows(ends);
    const bool pack = pack_shared(s.T, most);
    const Index panel = panel_for<T>(most);
    Buffer<T> shared(pack ? P * padded_width(GH, panel) : 0);  // R in panels, read by every thread
    if (pack) all.recurrent = pack_units<G>(w.recurrent, P, H, 0, H, panel, shared.data());
    run_bounds(ends, [&](Index b0, Index b1) {
      const Index n = b1 - b0, steps = walked.gates ? 0 : block_steps(s.T, n, SH, sizeof(T));
      Buffer<T> z(steps * n * SH), x(steps > 1 ? steps * n * s.I : 0);
      ForwardWalk<Cell, T> walk(ws, all, walked, training, b0, n,
                                InputBlocks<T>{z.data(), x.data(), steps, walked.gates != nullptr});
      for (Index t = 0; t < s.T; ++t) {
        for (int phase = 0; phase < Cell::kPhases; ++phase) walk.step(t, phase);
      }
      walk.finish();
    });
    if (sorted) sorted->scatter(s, buf);
    return sorted.has_value();
  }
  // Small batch: the hidden units are split into one block per thread (walk_unit_blocks). A
  // block's recurrent columns are first packed into contiguous panels (pack_blocks), and its
  // input columns with them where those fit in L2 (else its x*K reads K where it lies).
  const bool pack = pack_blocks(double(H) * G * most * sizeof(T), s.T);
  const bool pack_k = pack && double(s.I) * G * most * sizeof(T) <= l2_bytes();
  const UnitInputs<T> inputs(s, threads, S * most);
  // Every block multiplies all B rows by its R, and inputs.steps() * B rows (a block of
  // timesteps) by its K.
  const Index r_panel = panel_for<T>(s.B), k_panel = panel_for<T>(inputs.steps() * s.B);
  const Index packed_rows = pack ? (pack_k ? s.I : 0) + H : 0;
  const Index packed_cols =
      std::max(padded_width(G * most, r_panel), padded_width(G * most, k_panel));
  Buffer<T> packed(threads * packed_rows * packed_cols);
  Matrix<T> biases(threads, (2 * G + 3) * most);
  Buffer<T> shared(Cell::kPhases > 1 ? s.B * H : 0);
  walk_unit_blocks<Cell>(ws, walked, training, threads, shared.data(), [&](Index k) {
    const Index u0 = H * k / threads, m = H * (k + 1) / threads - u0;
    T* mine = packed.data() + k * packed_rows * packed_cols;
    // The units' bias, then their recurrent bias, then their peepholes.
    T* bias = biases.row(k).data();
    T* peephole = bias + 2 * G * m;
    gather_units(w.bias, G, H, u0, m, bias);
    if (w.recurrent_bias) gather_units(w.recurrent_bias, G, H, u0, m, bias + G * m);
    if (w.peephole) gather_units(w.peephole, 3, H, u0, m, peephole);
    UnitWeights<T> units{units_in_place<G>(w.kernel, H, u0, m),
                         units_in_place<G>(w.recurrent, H, u0, m),
                         bias,
                         w.recurrent_bias ? bias + G * m : nullptr,
                         u0,
                         m,
                         w.peephole ? peephole : nullptr,
                         w.clip};
    if (pack) {
      units.recurrent = pack_units<G>(w.recurrent, H, H, u0, m, r_panel, mine);
      if (pack_k) {
        units.kernel = pack_units<G>(w.kernel, s.I, H, u0, m, k_panel, mine + H * packed_cols);
      }
    }
    return std::pair{units, inputs.blocks(k)};
  });
  if (sorted) sorted->scatter(s, buf);
  return sorted.has_value();
}

// The serial part of backward for batch entries [b0, b0 + n): dZ_t (and dZr_t, the recurrent
// side, where the cell has a separate one) for every step, and the running dh, dc, which end as
// dL/dh0 and dL/dc0. Also gathers h_{t-1} into h_prev (⊙ the recurrent mask: dR's operand),
// for peepholes c_{t-1} into c_prev_all, and for a projection dL/dh_t into dh_all (each nullptr
// when not wanted), rows in dZ's order, so that dR and the peephole and projection gradients are
// single reductions afterwards. recurrent_t is R^T, (G*H, P), in column panels (transposed_panels);
// projection_t is W_p^T, (P, H), or nullptr.
template <typename Cell, typename T>
void backward_steps(const SeqShape& s, const Weights<T>& w, const Panels<T>& recurrent_t,
                    const T* projection_t, const BackwardBuffers<T>& buf, T* dz_all, T* dzr_all,
                    T* h_prev, T* c_prev_all, T* dh_all, Index b0, Index n) {
  constexpr bool kCell = Cell::kHasCell;
  const Index H = s.H, P = s.state_width(), GH = Cell::kGates * s.H, SH = Cell::kSaved * s.H;
  Matrix<T> product(buf.recurrent_mask ? n : 0, P);
  bool reverse = false;  // R^T's panels in alternating directions, step to step (panel_product)
  const auto rec_t = [&](const auto& d, Index g0, Index ng, auto out) {
    // Gate blocks [g0, g0 + ng) of R are rows [g0*H, (g0 + ng)*H) of every panel of R^T.
    Panels<T> Rt = recurrent_t;
    Rt.data += g0 * H * recurrent_t.ld;
    if (!buf.recurrent_mask) return panel_product(d, Rt, ng * H, 0, P, out, reverse);
    product.setZero();  // dL/d(h_{t-1} ⊙ mask), then the mask's factor
    panel_product(d, Rt, ng * H, 0, P, map(product.data(), d.rows(), P), reverse);
    out += product.topRows(d.rows()).cwiseProduct(map(buf.recurrent_mask + b0 * P, d.rows(), P));
  };
  auto dh = map(buf.dh0 + b0 * P, n, P);                           // dL/dh_t from the steps after t
  auto dc = kCell ? map(buf.dc0 + b0 * H, n, H) : no_state<T>(n);  // dL/dc_t
  if (buf.dh_last)
    dh = map(buf.dh_last + b0 * P, n, P);
  else
    dh.setZero();
  if (kCell && buf.dc_last)
    dc = map(buf.dc_last + b0 * H, n, H);
  else
    dc.setZero();
  Matrix<T> dh_t(n, P), kept(buf.mask && kCell ? n : 0, H);
  Matrix<T> dm(projection_t ? n : 0, H);  // dL/d(the cell's h_t), before the projection
  const Index all = n;
  for (Index t = s.T - 1; t >= 0; --t) {
    // In the packed order, the rows still running at step t (the first ones); the others carry
    // their dh and dc back unchanged.
    const Index n = s.rows_at(t, b0, all);
    if (n == 0) continue;
    reverse = t % 2 == 1;
    const auto masked = [&](Index r) { return !valid(buf.mask, s, b0 + r, t); };
    auto dh = map(buf.dh0 + b0 * P, n, P);
    auto dc = kCell ? map(buf.dc0 + b0 * H, n, H) : no_state<T>(n);
    auto dh_t_map = map(dh_t.data(), n, P);
    dh_t_map = dh;
    if (buf.dy) dh_t_map += s.step(buf.dy, P, t, b0, n);
    for (Index r = 0; buf.mask && r < n; ++r) {
      if (!masked(r)) continue;
      if (buf.zero_masked) dh_t_map.row(r) = dh.row(r);  // a zero output has no gradient
      if (kCell) kept.row(r) = dc.row(r);
    }
    const auto hp = t == 0 ? map(buf.h0 + b0 * P, n, P) : s.step(buf.y, P, t - 1, b0, n);
    const auto c_prev = !kCell   ? no_state<const T>(n)
                        : t == 0 ? map(buf.c0 + b0 * H, n, H)
                                 : s.step(buf.c_all, H, t - 1, b0, n);
    const auto c = kCell ? s.step(buf.c_all, H, t, b0, n) : no_state<const T>(n);
    auto dz = s.step(dz_all, GH, t, b0, n);
    auto dzr = s.step(dzr_all, GH, t, b0, n);
    if (projection_t) {
      dm.topRows(n).setZero();
      step_product(dh_t_map, map(projection_t, P, H), map(dm.data(), n, H));
    }
    const T* dh_cell = projection_t ? dm.data() : dh_t.data();
    Cell::backward(StepBackward<T>{s.step(buf.gates, SH, t, b0, n), hp, c_prev, c,
                                   map(dh_cell, n, H), dc, dz, dzr, dh, w.peephole, w.clip},
                   rec_t);
    // A masked step passed its state through unchanged: its gradients do too.
    for (Index r = 0; buf.mask && r < n; ++r) {
      if (!masked(r)) continue;
      dz.row(r).setZero();
      dzr.row(r).setZero();
      dh.row(r) = dh_t_map.row(r);
      if (kCell) dc.row(r) = kept.row(r);
    }
    if (buf.recurrent_mask)
      s.step(h_prev, P, t, b0, n) = hp.cwiseProduct(map(buf.recurrent_mask + b0 * P, n, P));
    else
      s.step(h_prev, P, t, b0, n) = hp;
    if (projection_t) {  // dL/dh_t where the projection made h_t (a masked step did not)
      auto d = s.step(dh_all, P, t, b0, n);
      d = dh_t_map;
      for (Index r = 0; buf.mask && r < n; ++r) {
        if (masked(r)) d.row(r).setZero();
      }
    }
    if constexpr (kCell) {
      if (c_prev_all) s.step(c_prev_all, H, t, b0, n) = c_prev;
    }
  }
}

// out (n values) += the column sums of a (rows, n) row-major block, summed row after row, each
// row one contiguous stream. Eigen's colwise().sum() walked such a block column by column: 7% of
// a backward at B=64, T=50, I=64, H=128 on one thread.
template <typename A, typename T>
void add_column_sums(const A& a, T* out) {
  Matrix<T> sum = Matrix<T>::Zero(1, a.cols());
  for (Index r = 0; r < a.rows(); ++r) sum += a.row(r);
  map(out, 1, a.cols()) += sum;
}

// x (rows, I) as dK's GEMM reads it: a masked step's x may be anything (NaN padding, say), and its
// zero row of dZ times NaN would be NaN. Where a masked step's row holds inf or NaN, a copy with
// every masked step's row zeroed (into `copy`); else x itself.
template <typename T>
const T* finite_masked_steps(const SeqShape& s, const T* x, const std::uint8_t* mask,
                             Matrix<T>& copy) {
  if (mask == nullptr) return x;
  const auto masked = [&](Index r) {
    return s.time_major ? !valid(mask, s, r % s.B, r / s.B) : !valid(mask, s, r / s.T, r % s.T);
  };
  const auto X = map(x, s.rows(), s.I);
  bool finite = true;
  for (Index r = 0; r < s.rows() && finite; ++r) finite = !masked(r) || X.row(r).allFinite();
  if (finite) return x;
  copy = X;
  for (Index r = 0; r < s.rows(); ++r) {
    if (masked(r)) copy.row(r).setZero();
  }
  return copy.data();
}

// Calls fn(c, end, k) for each run [c, end) of the columns [c0, c1) of dR (G*H wide) whose gate
// blocks have the same left operand k = Cell::recurrent_input: one product for each run.
template <typename Cell, typename Fn>
void operand_runs(Index c0, Index c1, Index H, Fn&& fn) {
  for (Index c = c0; c < c1;) {
    const int k = Cell::recurrent_input(static_cast<int>(c / H));
    Index end = std::min((c / H + 1) * H, c1);
    while (end < c1 && Cell::recurrent_input(static_cast<int>(end / H)) == k)
      end = std::min(end + H, c1);
    fn(c, end, k);
    c = end;
  }
}

// Rows of dZ that grads_by_rows takes at a time: a block of them (128 KiB at G*H = 512) stays in
// L2 while every gradient reads it.
constexpr Index kGradRows = 64;

// Whether backward sums the weight gradients by blocks of rows (grads_by_rows) rather than by
// columns with Eigen's GEMM: with 32 vector registers, where a thread's sums for dK and dR,
// (I + P, G*H), stay in L2 (kSmallGemmBytes) and each thread has four blocks of rows or more.
// Measured, one thread's half of the work, blocks of 64 rows: B=64, T=50, I=64, H=128 1.07-1.10x
// faster, with dX 1.11-1.12x; at H=256 and 512 the sums spill from L2 and neither way won. A
// whole training step at I=64, H=128 (LSTM), 2 threads: 3,200 rows 1.07-1.09x (GRU 1.06x,
// SimpleRNN 1.10x), 2,048 1.10x, 1,024 1.08x, 512 1.01x, 256 0.96x; 1 thread: 2,048 rows 1.02x,
// 512 1.00x, 256 0.99x, 200 0.96x. On 2 threads Eigen's GEMMs split by columns, each thread
// copying all rows of X and h_{t-1}.
template <typename T>
bool grads_by_rows_pays(Index I, Index P, Index GH, Index rows_per_thread) {
  return kStrip == 4 && double(I + P) * GH * sizeof(T) <= kSmallGemmBytes &&
         rows_per_thread >= 4 * kGradRows;
}

// dK, dR and db (and the recurrent bias's gradient) += their sums over all rows, and dX for the
// rows where wanted, the threads taking contiguous chunks of rows and each chunk blocks of
// kGradRows: small_gemm reads each block of dZ where it lies, once, from cache, with X's and dR's
// operands' rows transposed into small buffers; Eigen's GEMM would copy (pack) dZ for every
// product. The first chunk adds into the gradients, the others into their own sums, added after
// in chunk order: the same bits for a thread count. X (rows, I); dZ and dZr (rows, G*H); operand(k)
// is dR's left operand for gate blocks whose recurrent_input is k, (rows, P) or (rows, H).
template <typename Cell, typename T, typename XMap, typename Operand>
void grads_by_rows(const SeqShape& s, const Weights<T>& w, const BackwardBuffers<T>& buf,
                   const std::vector<Index>& ends, const XMap& X, const T* dz, const T* dzr,
                   Operand&& operand) {
  constexpr bool kRecurrentBias = Cell::kRecurrentBias;
  const Index I = s.I, P = s.state_width(), H = s.H, GH = Cell::kGates * H;
  const int chunks = static_cast<int>(ends.size()) - 1;
  // A chunk's own sums, the gradients' layout stacked: dK (I rows), dR (P rows), db, drb.
  const Index sum_rows = I + P + 1 + (kRecurrentBias ? 1 : 0);
  Buffer<T> sums((chunks - 1) * sum_rows * GH);
  std::fill(sums.data(), sums.data() + sums.size(), T(0));
  T* const grads[] = {buf.dkernel, buf.drecurrent, buf.dbias, buf.drecurrent_bias};
  const Index grad_rows[] = {I, P, 1, 1};
  Matrix<T> kernel_t;  // K^T (G*H, I): dX's right operand
  if (buf.dx) kernel_t = map(w.kernel, I, GH).transpose();
  run_bounds(ends, [&](Index r0, Index r1) {
    const Index k = std::lower_bound(ends.begin(), ends.end(), r0) - ends.begin();
    T* own = k == 0 ? nullptr : sums.data() + (k - 1) * sum_rows * GH;
    T* const dk = own ? own : buf.dkernel;
    T* const dr = own ? own + I * GH : buf.drecurrent;
    T* const db = own ? own + (I + P) * GH : buf.dbias;
    T* const drb = own ? own + (I + P + 1) * GH : buf.drecurrent_bias;
    Matrix<T> x_t(I, kGradRows), a_t(std::max(P, H), kGradRows);  // rows transposed
    for (Index b0 = r0; b0 < r1; b0 += kGradRows) {
      const Index n = std::min(kGradRows, r1 - b0);
      const T* dz_b = dz + b0 * GH;
      const T* dzr_b = dzr + b0 * GH;
      x_t.leftCols(n) = X.middleRows(b0, n).transpose();
      small_gemm(I, GH, n, x_t.data(), kGradRows, dz_b, GH, dk, GH);
      int staged = -2;  // the operand whose rows a_t holds
      operand_runs<Cell>(0, GH, H, [&](Index c, Index end, int k) {
        const auto A = operand(k);
        if (k != staged) a_t.topLeftCorner(A.cols(), n) = A.middleRows(b0, n).transpose();
        staged = k;
        small_gemm(A.cols(), end - c, n, a_t.data(), kGradRows, dzr_b + c, GH, dr + c, GH);
      });
      add_column_sums(map(dz_b, n, GH), db);
      if (kRecurrentBias) add_column_sums(map(dzr_b, n, GH), drb);
      if (buf.dx) small_gemm(n, I, GH, dz_b, GH, kernel_t.data(), I, buf.dx + b0 * I, I);
    }
  });
  if (chunks == 1) return;
  // The chunks' sums into the gradients, row by row of the stacked layout, in chunk order.
  parallel_chunks(sum_rows, double(chunks) * sum_rows * GH, [&](Index i0, Index i1) {
    for (Index i = i0; i < i1; ++i) {
      Index g = 0, row = i;
      while (row >= grad_rows[g]) row -= grad_rows[g++];
      auto to = map(grads[g] + row * GH, 1, GH);
      for (int k = 1; k < chunks; ++k)
        to += map(sums.data() + ((k - 1) * sum_rows + i) * GH, 1, GH);
    }
  });
}

// backward() for rows in the order and layout of s, the threads taking the chunks of batch
// entries that boundaries `ends` make.
template <typename Cell, typename T>
void backward_rows(const SeqShape& s, const Weights<T>& w, const BackwardBuffers<T>& buf,
                   const std::vector<Index>& ends) {
  constexpr bool kSeparate = Cell::kSeparateRecurrentGrad;
  const Index H = s.H, P = s.state_width(), GH = Cell::kGates * s.H, SH = Cell::kSaved * s.H;
  const Index rows = s.rows();
  const bool peepholes = Cell::kHasCell && w.peephole;
  const bool project = Cell::kHasCell && w.projection;
  Buffer<T> dz_all(rows * GH), dzr_all(kSeparate ? rows * GH : 0), h_prev(rows * P);
  Buffer<T> c_prev(peepholes ? rows * H : 0), dh_all(project ? rows * P : 0);
  T* const dzr = kSeparate ? dzr_all.data() : dz_all.data();
  // R^T for the steps: in panels where forward would pack R, else one panel, plain row-major.
  const Index most = most_rows(ends);
  const Index panel = pack_shared(s.T, most) ? panel_for<T>(most) : std::max<Index>(P, 1);
  Buffer<T> rt_data(padded_width(P, panel) * GH);
  const Panels<T> recurrent_t = transposed_panels(w.recurrent, P, GH, panel, rt_data.data());
  Matrix<T> projection_t;
  if (project) projection_t = map(w.projection, H, P).transpose();
  run_bounds(ends, [&](Index b0, Index b1) {
    backward_steps<Cell>(s, w, recurrent_t, project ? projection_t.data() : nullptr, buf,
                         dz_all.data(), dzr, h_prev.data(), peepholes ? c_prev.data() : nullptr,
                         project ? dh_all.data() : nullptr, b0, b1 - b0);
  });
  if (s.T == 0) return;
  // Weight and input gradients: single GEMMs over all timesteps, split across threads by rows
  // (or columns: parallel_product) of dX and by columns (gate units) of dK, dR and db; each
  // thread reads only its columns of dZ.
  const auto dZ = map(static_cast<const T*>(dz_all.data()), rows, GH);
  const auto dZr = map(static_cast<const T*>(dzr), rows, GH);
  Matrix<T> x_copy;
  const auto X = map(finite_masked_steps(s, buf.x, buf.mask, x_copy), rows, s.I);
  const auto Hp = map(static_cast<const T*>(h_prev.data()), rows, P);
  if constexpr (Cell::kHasCell) {
    if (peepholes) {
      Cell::peephole_grads(dZ, map(static_cast<const T*>(c_prev.data()), rows, H),
                           map(buf.c_all, rows, H), buf.dpeephole);
    }
    if (project) {  // dW_p = sum over steps of (o ⊙ tanh(c_t))^T dL/dh_t
      Buffer<T> unprojected(rows * H);
      Cell::unprojected(map(buf.gates, rows, SH), map(buf.c_all, rows, H),
                        map(unprojected.data(), rows, H));
      map(buf.dprojection, H, P).noalias() +=
          map(static_cast<const T*>(unprojected.data()), rows, H).transpose() *
          map(static_cast<const T*>(dh_all.data()), rows, P);
    }
  }
  // Under recurrent dropout, dR's operands that the cell saved get the mask too (h_prev has it).
  Matrix<T> saved_masked;
  for (int g = 0; buf.recurrent_mask && g < Cell::kGates; ++g) {
    const int k = Cell::recurrent_input(g);
    if (k < 0 || saved_masked.size()) continue;
    saved_masked.resize(rows, H);
    for (Index t = 0; t < s.T; ++t) {
      for (Index b = 0; b < s.rows_at(t, 0, s.B); ++b) {
        const Index r = s.row(b, t);
        saved_masked.row(r) = map(buf.gates + r * SH + k * H, 1, H)
                                  .cwiseProduct(map(buf.recurrent_mask + b * H, 1, H));
      }
    }
  }
  // dR's left operand for gate blocks whose recurrent_input is k: h_{t-1}, or a block the cell
  // saved.
  const auto operand = [&](int k) {
    return k < 0                 ? Hp
           : saved_masked.size() ? map(static_cast<const T*>(saved_masked.data()), rows, H)
                                 : map(buf.gates + k * H, rows, H, SH);
  };
  const double grad_flops = 2.0 * rows * GH * (s.I + P + (buf.dx ? s.I : 0));
  const std::vector<Index> row_ends = even_bounds(rows, threads_for(rows, grad_flops));
  if (grads_by_rows_pays<T>(s.I, P, GH, rows / (Index(row_ends.size()) - 1))) {
    return grads_by_rows<Cell>(s, w, buf, row_ends, X, dz_all.data(), static_cast<const T*>(dzr),
                               operand);
  }
  if (buf.dx) {
    parallel_product(rows, s.I, 2.0 * rows * GH * s.I, [&](Index r0, Index r1, Index c0, Index c1) {
      map(buf.dx + r0 * s.I + c0, r1 - r0, c1 - c0, s.I).noalias() +=
          dZ.middleRows(r0, r1 - r0) * map(w.kernel + c0 * GH, c1 - c0, GH).transpose();
    });
  }
  parallel_chunks(GH, 2.0 * rows * GH * (s.I + P), [&](Index c0, Index c1) {
    map(buf.dkernel + c0, s.I, c1 - c0, GH).noalias() += X.transpose() * dZ.middleCols(c0, c1 - c0);
    add_column_sums(dZ.middleCols(c0, c1 - c0), buf.dbias + c0);
    if (Cell::kRecurrentBias)
      add_column_sums(dZr.middleCols(c0, c1 - c0), buf.drecurrent_bias + c0);
    operand_runs<Cell>(c0, c1, H, [&](Index c, Index end, int k) {
      map(buf.drecurrent + c, P, end - c, GH).noalias() +=
          operand(k).transpose() * dZr.middleCols(c, end - c);
    });
  });
}

template <typename Cell, typename T>
void backward(const SeqShape& s, const Weights<T>& w, const BackwardBuffers<T>& buf) {
  if (s.B == 0) return;  // no rows: no gradient to add, however long the sequence
  const Index P = s.state_width(), GH = Cell::kGates * s.H;
  const double flops = 2.0 * s.T * s.B * (P * GH + (Cell::kHasCell && w.projection ? s.H * P : 0));
  const int chunks = threads_for(s.B, flops);
  if (!buf.packed) return backward_rows<Cell>(s, w, buf, even_bounds(s.B, chunks));
  // Forward kept the valid steps only, packed (ByLength): the packed order again, from the mask,
  // and x, y and dy gathered into it, the states sorted; dL/dx and the initial states' gradients
  // go back to the caller's order. Under a mask (not lengths) the masked steps' outputs repeat
  // h0 or the run's last h: their dL/dy goes to those (Packing::fold_masked).
  const Packing packing(buf.mask, s.B, s.T);
  const SeqShape ps = packing.shape(s);
  const Index rows = ps.rows(), H = s.H;
  constexpr bool kCell = Cell::kHasCell;
  Buffer<T> x(rows * s.I), y(rows * P), dy(buf.dy ? rows * P : 0), dx(buf.dx ? rows * s.I : 0);
  Buffer<T> states(3 * s.B * (P + H));  // sorted: h0, dh_last, dh0, then c0, dc_last, dc0
  T* const h0 = states.data();
  T *const dh_last = h0 + s.B * P, *const dh0 = dh_last + s.B * P;
  T *const c0 = dh0 + s.B * P, *const dc_last = c0 + s.B * H, *const dc0 = dc_last + s.B * H;
  packing.gather(s, buf.x, s.I, x.data());
  packing.gather(s, buf.y, P, y.data());
  const bool fold = buf.dy && !buf.zero_masked;
  Matrix<T> dh0_masked = Matrix<T>::Zero(fold ? s.B : 0, P);  // sorted rows
  if (buf.dy) packing.gather(s, buf.dy, P, dy.data());
  if (fold) packing.fold_masked(s, buf.dy, P, dy.data(), dh0_masked.data());
  Matrix<T> recurrent_mask(buf.recurrent_mask ? s.B : 0, P);  // sorted rows
  if (buf.recurrent_mask) packing.sort_rows(buf.recurrent_mask, P, recurrent_mask.data());
  packing.sort_rows(buf.h0, P, h0);
  if (buf.dh_last) packing.sort_rows(buf.dh_last, P, dh_last);
  if (kCell) packing.sort_rows(buf.c0, H, c0);
  if (kCell && buf.dc_last) packing.sort_rows(buf.dc_last, H, dc_last);
  BackwardBuffers<T> sorted = buf;
  sorted.x = x.data();
  sorted.h0 = h0;
  sorted.c0 = kCell ? c0 : nullptr;
  sorted.y = y.data();
  sorted.dy = buf.dy ? dy.data() : nullptr;
  sorted.dh_last = buf.dh_last ? dh_last : nullptr;
  sorted.dc_last = buf.dc_last ? dc_last : nullptr;
  sorted.dx = buf.dx ? dx.data() : nullptr;
  sorted.dh0 = dh0;
  sorted.dc0 = kCell ? dc0 : nullptr;
  sorted.recurrent_mask = buf.recurrent_mask ? recurrent_mask.data() : nullptr;
  sorted.mask = nullptr;  // the packed order holds valid steps only
  sorted.zero_masked = false;
  sorted.packed = false;
  if (buf.dx) std::fill_n(dx.data(), dx.size(), T(0));
  backward_rows<Cell>(ps, w, sorted, packing.bounds(chunks));
  if (buf.dx) packing.add_unpacked(s, static_cast<const T*>(dx.data()), s.I, buf.dx);
  if (fold) map(dh0, s.B, P) += dh0_masked;
  packing.unsort_rows(dh0, P, buf.dh0);
  if (kCell) packing.unsort_rows(dc0, H, buf.dc0);
}

}  // namespace fastlstm
