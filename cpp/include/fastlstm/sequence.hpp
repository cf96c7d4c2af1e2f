// The sequence walk: one time loop shared by every cell (LSTM, GRU, plain RNN). A cell
// (cell_common.hpp) supplies the gate math and says which recurrent products it needs; the walk
// does the GEMMs, the threads, masks and the bookkeeping:
//   forward:  x*K + b as one GEMM over all timesteps (each thread's over its rows), into the
//             buffer that training keeps for backward (inference with a large T*B computes it
//             a block of timesteps at a time instead and keeps no such buffer); per step, the
//             cell adds h_{t-1}*R through the walk's step product and updates the state.
//   backward: per step only the serial part, dZ_t and dh_{t-1} from the cell; then dX, dK, dR and
//             db as single GEMMs over all timesteps, or, where that pays, summed by blocks of
//             rows (grads_by_rows).
// The backward is in sequence_backward.hpp, the rules for sharing the work in walk_plan.hpp.
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
#include "fastlstm/walk_plan.hpp"

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
// all the units only). With `stage`, K lies in place and is read once (one block of steps covers
// the sequence): its columns go through `stage`, (I, panel), a panel at a time (staged_product).
template <typename T>
struct InputBlocks {
  T* z;
  T* x;
  Index steps;
  bool precomputed;
  T* stage = nullptr;
  Index panel = 0;
};

// Z = X*K + b on the calling thread for the n rows of X (`lda` apart), from K in panels
// (pack_units): small_gemm over a chunk of rows (at most kChunkBytes of X, which stays in L2) a
// panel at a time, each panel's columns for all of the chunk's rows (a panel, I rows by one
// 6-row block's strip, 32 KiB of float32 at I=128, stays in L1 while X streams past it), b added
// as the sums are stored.
// Eigen's GEMM copies both operands on every call, and adding its product to Z needs a pass that
// first sets Z to b: over a thread's (T*n, G*H) block of Z, most of it out of cache (1.6 MiB a
// thread at B=16, T=50, H=256). Measured on a Sapphire Rapids VM, 2 threads, alternating
// processes, against project_rows: inference at T=50: B=16, I=128, H=256 0.95-0.97x the time (GRU
// 0.96x), B=64, I=64, H=128 0.91x; GRU B=8, T=100, I=40, H=100 0.95x; training steps B=64, T=50,
// I=64, H=128 0.96-0.98x, B=128, T=50, I=256, H=512 0.95x, B=64, T=50, I=512, H=256 0.96x, GRU
// B=32, T=50, I=128, H=256 0.97x; B=32, T=100, I=128, H=512, B=4, T=50, I=H=256 and smaller level.
template <typename T>
void project_panels(const T* x, Index lda, Index n, Index I, const Panels<T>& k, const T* bias,
                    Index GH, T* z, Index ld) {
  constexpr double kChunkBytes = 256 << 10;
  const double row_bytes = double(std::max<Index>(I, 1)) * sizeof(T);
  const Index chunk = std::max<Index>(6, static_cast<Index>(kChunkBytes / row_bytes));
  for (Index a = 0; a < n; a += chunk) {
    const Index rows = std::min(chunk, n - a);
    // small_gemm (step_product): the panels hold at most 512 KiB, or a chunk fewer than 32 rows.
    panel_product(map(x + a * lda, rows, I, lda), k, I, 0, GH, map(z + a * ld, rows, GH, ld), false,
                  bias);
  }
}

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
  // z = b + x*K, b added as the sums are stored where small_gemm takes the product.
  const auto product = [&](const auto& a) {
    if (blocks.stage) {
      return staged_product(a, u.kernel, s.I, G * m, blocks.panel, blocks.stage, z, u.bias);
    }
    panel_product(a, u.kernel, s.I, 0, G * m, z, false, u.bias);
  };
  // In the packed order one step's rows are one run of x, and so are the whole batch's of
  // several steps.
  if (s.packed && (steps == 1 || (b0 == 0 && n == s.B))) {
    return product(map(x + s.row(b0, t0) * s.I, rows, s.I));
  }
  if (blocks.steps == 1) return product(s.step(x, s.I, t0, b0, n));
  auto gathered = map(blocks.x, rows, s.I);
  for (Index t = t0, r = 0; t < t0 + steps; r += s.rows_at(t++, b0, n)) {
    gathered.middleRows(r, s.rows_at(t, b0, n)) = s.step(x, s.I, t, b0, s.rows_at(t, b0, n));
  }
  product(gathered);
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
        // Over the whole batch, not this walk's rows: whether step 0 skips its product (see
        // step()) must not depend on how the rows are split over threads.
        zero_start_(all_zero(buf.h0, s.B * s.state_width())) {}

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
      // NaN, 0 * inf: its NaN then first shows at step 1, not step 0; README, "NaN and inf".)
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
    // In a unit split the other blocks have just written most of h_{t-1} (prefetch_window).
    // Measured, 2 threads, B=1: T=100, I=64, H=256 1.03x, from a stream 1.05x; T=25, I=H=512
    // 1.01-1.02x.
    if (!all_units && t > 0 && phase == 0) prefetch_window(h_prev);
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
  const bool zero_start_;  // whether every row of h0 is zero
};

// Inference computes the input projection for all timesteps at once (as training does) while its
// buffer stays this small; beyond, each thread computes it for a block of timesteps at a time
// (InputBlocks) and no (T*B, S*H) buffer is kept at all.
constexpr double kMaxProjectionBytes = 8 << 20;

// Z = X*K + b for rows [r0, r1): X (rows, I), K (I, GH), Z (rows, GH) with rows `ld` apart,
// split over the threads (by rows where there are more rows than columns, else by columns).
template <typename T>
void project_rows(const SeqShape& s, const T* x, const T* kernel, const T* bias, Index GH, T* z,
                  Index ld, Index r0, Index r1) {
  const Index rows = r1 - r0;
  parallel_product(rows, GH, 2.0 * rows * s.I * GH, [&](Index a, Index b, Index c0, Index c1) {
    auto Z = map(z + (r0 + a) * ld + c0, b - a, c1 - c0, ld);
    // The bias first and the product added to it: `Z = X*K` would zero Z, then add the product.
    Z.rowwise() = row_vector(bias + c0, c1 - c0);
    Z.noalias() += map(x + (r0 + a) * s.I, b - a, s.I) * map(kernel + c0, s.I, c1 - c0, GH);
  });
}

// The blocks' scratch for z_t = x_t*K + b (InputBlocks) in a unit split of `n` blocks of at most
// `z_cols` columns of z each: z for a block of timesteps and the x rows it gathers, and, with a
// `stage_panel` (0: none), each block's (I, stage_panel) panel for K read in place.
template <typename T>
class UnitInputs {
 public:
  UnitInputs(const SeqShape& s, Index n, Index z_cols, Index stage_panel = 0)
      : steps_(block_steps(s.T, s.B, z_cols, sizeof(T))),
        z_size_(steps_ * s.B * z_cols),
        x_size_(steps_ > 1 ? steps_ * s.B * s.I : 0),
        stage_size_(s.I * stage_panel),
        panel_(stage_panel),
        z_(n * z_size_),
        x_(n * x_size_),
        stage_(n * stage_size_) {}

  Index steps() const { return steps_; }
  InputBlocks<T> blocks(Index k) const {
    return {z_.data() + k * z_size_,
            x_.data() + k * x_size_,
            steps_,
            false,
            panel_ > 0 ? stage_.data() + k * stage_size_ : nullptr,
            panel_};
  }

 private:
  Index steps_, z_size_, x_size_, stage_size_, panel_;
  Buffer<T> z_, x_, stage_;
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
  // where that fits in L2, else from K where it lies, or through a scratch panel where one block
  // of steps covers the sequence (the small batch's rules, below). Measured (before that scratch
  // panel), 2 threads, blocks against the GEMM over all steps first, both call orders: inference at
  // B=1, T=25, I=256, H=512 1.33-1.38x and B=2, T=25, I=H=512 1.29x; B=1, T=25, I=H=512 1.05x and
  // T=20, I=1024, H=512 1.04-1.17x (K where it lies); T=50, I=H=256, T=200, I=H=128 and T=100,
  // I=64, H=256 level to 1.2x; B=4, T=25, I=H=512 0.97-0.98x. Training steps at B=1, T=25, I=256,
  // H=512 0.95-0.97x (the forward alone 1.08-1.11x), B=2, T=50, I=H=256 0.98-0.99x, B=1 and 2,
  // T=25, I=H=512 level.
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
  const bool shrinking = ws.packed != nullptr;        // later steps take fewer rows (panel_for)
  Buffer<T> projection(whole && !sorted ? s.rows() * SH : 0);
  if (whole && !sorted) buf.gates = projection.data();
  const ForwardBuffers<T>& walked = sorted ? sorted->buffers() : buf;
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
    // x*K + b for every step where it is computed first (training, small inference). Where a
    // block of the batch is one run of rows (batch-major, not packed), the block's thread
    // computes that run just before it walks it, and reads at every step z that it wrote. Split
    // otherwise (by columns where the rows are fewer), a thread read half of its z at every step
    // from the other core's cache. Measured on a Xeon, 2 threads, alternating processes, against
    // that split by columns: inference at T=50, I=128: B=16, H=256 1.07-1.11x, B=8 1.10x, GRU
    // B=16, H=384 1.08x; T=20: B=16, I=64, H=128 1.19x, B=32, I=128, H=256 1.09x; the training
    // step of B=16, T=50, I=128, H=256 1.04x, GRU B=16, T=30, H=384 0.94-1.00x.
    const bool own_rows = walked.gates && !ws.packed && !ws.time_major;
    const Index most = most_rows(ends);
    const bool pack = pack_shared(s.T, most);
    // Where each thread computes x*K + b for its own rows (all steps first, or blocks of steps
    // as it walks), with 32 vector registers: by small_gemm (project_panels) from one copy of K
    // in panels as wide as its 6-row blocks' strips, which every thread reads. For blocks of
    // steps Eigen's GEMM had copied all of K for each block's 128 or so rows; measured as for
    // project_panels: inference at B=8, T=500, I=H=256 0.92x the time (GRU 0.92x), B=256,
    // T=100, I=256, H=512 0.96x; B=64, T=100, I=256, H=512 (GRU too), B=4, T=1000, I=512,
    // H=256 and B=2, T=1000, I=256, H=128 level. With 16 registers small_gemm's blocks of many
    // rows have too few accumulators (8 x 1 packets): Eigen's GEMM (project_rows, panel_product).
    const Index k_panel = kStrip * small_gemm_detail::kLanes<T>;
    // The same kernel where the rows are split over the threads first (packed by length, or
    // time-major), so that a padded batch's valid steps get the bits the same steps get alone.
    const bool k_panels = kStrip == 4;
    Buffer<T> kernel(k_panels ? s.I * padded_width(GH, k_panel) : 0);
    Panels<T> k_packed{};
    if (k_panels) k_packed = pack_units<G>(w.kernel, s.I, H, 0, H, k_panel, kernel.data());
    if (k_panels && !walked.gates) all.kernel = k_packed;
    // x*K + b for rows [r0, r1) of the walk (step-major within a row) into its gates buffer.
    const auto project = [&](Index r0, Index r1) {
      if (k_panels) {
        project_panels(walked.x + r0 * s.I, s.I, r1 - r0, s.I, k_packed, w.bias, GH,
                       walked.gates + r0 * SH, SH);
      } else {
        project_rows(ws, walked.x, w.kernel, w.bias, GH, walked.gates, SH, r0, r1);
      }
    };
    // project_rows splits its columns or rows over the threads itself.
    if (walked.gates && !own_rows && k_panels) {
      parallel_chunks(ws.rows(), 2.0 * ws.rows() * s.I * GH, project);
    } else if (walked.gates && !own_rows) {
      project(0, ws.rows());
    }
    const Index panel = shared_panel<T>(most, P, shrinking);
    Buffer<T> shared(pack ? P * padded_width(GH, panel) : 0);  // R in panels, read by every thread
    if (pack) all.recurrent = pack_units<G>(w.recurrent, P, H, 0, H, panel, shared.data());
    run_bounds(ends, [&](Index b0, Index b1) {
      const Index n = b1 - b0, steps = walked.gates ? 0 : block_steps(s.T, n, SH, sizeof(T));
      if (own_rows) project(b0 * s.T, b1 * s.T);
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
  // input columns with them where those fit in L2 (else its x*K reads K where it lies), but
  // where a scratch panel takes them (below).
  const bool pack = pack_blocks(double(H) * G * most * sizeof(T), s.T);
  const bool k_fits = double(s.I) * G * most * sizeof(T) <= l2_bytes();
  // Every block multiplies all B rows by its R, and `steps` * B rows (a block of timesteps) by
  // its K.
  const Index steps = block_steps(s.T, s.B, S * most, sizeof(T));
  const Index r_panel = panel_for<T>(s.B, shrinking);
  const Index k_panel = panel_for<T>(steps * s.B, shrinking);
  // Where one block of timesteps covers the sequence a block reads its K once, and where its K
  // and R together are beyond L2 a packed copy of K would be written out and read back from
  // L3, pushing R out: K's panels are then copied one at a time into a scratch panel of at most
  // a quarter of L2, each just before its product (staged_product: the bits of a packed copy
  // where small_gemm takes the product). Measured on a Sapphire Rapids VM (2 MiB L2), 2 threads,
  // alternating processes, against a packed copy of K (where it fits in L2) or K where it lies:
  // inference at B=1, T=25, I=H=512 0.94x the time (GRU 0.94x), B=2 0.96x, B=1, T=20, I=1024,
  // H=512 0.70x (GRU 0.86x); the training step of B=1, T=25, I=H=512 0.99x. In one process,
  // scratch panels of at most 128 KiB and 2 MiB against a quarter of L2: B=1, T=20, I=1024 1.11x
  // and 1.03x the time (GRU 1.08x, 1.03x), B=1, T=25, I=2048, H=256 1.12x and 1.28x, I=H=512
  // level.
  const bool stage_k = pack && steps >= s.T && double(s.I + H) * G * most * sizeof(T) > l2_bytes();
  const bool pack_k = pack && k_fits && !stage_k;
  const Index stage_panel =
      stage_k ? panel_within<T>(steps * s.B, s.I, l2_bytes() / 4, shrinking) : 0;
  const UnitInputs<T> inputs(s, threads, S * most, stage_panel);
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

}  // namespace fastlstm
