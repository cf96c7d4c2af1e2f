// Streaming: one timestep per call with the state carried between calls, for services. Every
// buffer is sized at construction, so a step allocates nothing. run() advances a chunk of
// timesteps in one call from the same packed weights (a request answered with weights loaded
// once, with no per-call packing of them).
//
// A step reads all of its weights once, (I + P) * G*H values, from cache. From 256 KiB of them
// on, the hidden units are split into blocks, each with its own packed columns of K and R, and
// the threads take the blocks at each step: a core then streams only its blocks' weights, from
// its own L2. A block is the same whichever thread runs it, so the results do not depend on the
// threads; nor on the split where small_gemm takes the step products (each column summed in
// order: with 32 vector registers up to 64 rows), while Eigen's GEMM, which takes them elsewhere
// (16 registers: one row, or 5 and more), may sum a narrower block in another order. Where
// small_gemm takes them and the weights are small, a stream also keeps them packed as one block,
// for the steps that stay on the caller (kWholeCopyBytes).
#pragma once

#include <algorithm>
#include <chrono>
#include <optional>
#include <vector>

#include "fastlstm/cell_common.hpp"
#include "fastlstm/panels.hpp"
#include "fastlstm/sequence.hpp"
#include "fastlstm/threads.hpp"
#include "fastlstm/types.hpp"

namespace fastlstm {

// Weight bytes per block of units: at (I, H) = (64, 128) an LSTM step's 384 KiB took 2.0 us on
// one core; a hand-off to another thread costs a few tenths of a microsecond.
constexpr double kStreamBlockBytes = 128 << 10;
// The fewest units in a block: a whole packet of the widest ISA's floats.
constexpr Index kMinBlockUnits = 16;
// Up to this many weight bytes, a stream split into blocks also keeps a copy of its weights as one
// block, for the steps HandOff keeps on the caller: one product per matrix, not one per block.
// Measured, 2 threads, alternating processes, against those steps in two blocks: B=1, I=64,
// H=128 GRU 2.80 -> 2.57 us (one thread's stream: 2.35), LSTM 3.32 -> 3.13 us; B=4 LSTM 5.79 ->
// 5.44 us; I=128, H=192 GRU 4.66 -> 4.40 us. Above this the split wins by more (I=128, H=256
// LSTM: 7.5 us split, 11.3 us on one thread) and a second copy would cost more memory.
constexpr double kWholeCopyBytes = 1 << 20;

// Whether a stream's steps hand blocks to other threads, chosen by timing both ways. A hand-off
// costs a few cache-line transfers between cores each step. On this project's 2-vCPU VM some
// processes see those cost ~1.8 us more a step for their whole life (the threads on different
// vCPUs, no steal time showing: the host's placement of the vCPUs, presumably), and there the
// split step (I=64, H=128 on 2 threads: 1.65 us in other processes) took 3.5 us against 2.0 us
// on one thread. A block's result does not depend on the thread that computes it, so the choice
// changes no bits. A timing runs kTimedSteps steps each way and the lower median wins (a median:
// the first split step may wait for a worker thread to start or wake). A stream times its first
// steps, again kFirstGap steps later, then at gaps twice as long up to kRetimeSteps: a worker
// woken from sleep can run at a fraction of its speed for tens of milliseconds, so the first
// timing may rightly find the split no faster. Measured, I=256, H=512 on 2 threads, streams
// made 0.2 s apart: one in eight stepped at one thread's speed (47 us, split or not) for its
// first 256 steps and more, then split at 25 us; with one timing every 4096 steps such a stream
// stayed at 47 us until step 4096.
class HandOff {
 public:
  static constexpr Index kTimedSteps = 16, kFirstGap = 256, kRetimeSteps = 4096;
  static constexpr double kSplitMargin = 1.05;

  // Whether this step splits its `blocks` blocks over threads.
  bool split(Index blocks) {
    if (blocks <= 1 || num_threads() <= 1) {
      step_ = 0;
      return false;
    }
    if (step_ == 0) {  // the first such step, or the first after steps that could not split
      window_ = 0;
      gap_ = kFirstGap;
    } else if (step_ - window_ >= gap_) {
      window_ = step_;
      gap_ = std::min(2 * gap_, kRetimeSteps);
    }
    phase_ = step_ - window_;
    ++step_;
    return phase_ < 2 * kTimedSteps ? phase_ < kTimedSteps : split_;  // timed: split first
  }
  bool timing() const { return step_ > 0 && phase_ < 2 * kTimedSteps; }
  void record(std::chrono::steady_clock::duration took) {
    times_[phase_] = took;
    if (phase_ + 1 < 2 * kTimedSteps) return;
    const auto median = [](auto* begin) {
      std::nth_element(begin, begin + kTimedSteps / 2, begin + kTimedSteps);
      return begin[kTimedSteps / 2];
    };
    // Within kSplitMargin the split wins: a worker whose vCPU the host has set aside takes no
    // item, the caller runs them all, and the two ways time alike; left idle by steps that stay
    // whole, the worker was still set aside at every later timing.
    split_ = median(times_) <= median(times_ + kTimedSteps) * kSplitMargin;
  }

 private:
  Index step_ = 0;         // steps taken with more than one block and thread (0: none yet)
  Index window_ = 0;       // the step the last timing began at
  Index gap_ = kFirstGap;  // steps from that one to the next timing
  Index phase_ = 0;        // steps since window_
  bool split_ = true;
  std::chrono::steady_clock::duration times_[2 * kTimedSteps] = {};
};

template <typename Cell, typename T>
class Stream {
  using Clock = std::chrono::steady_clock;
  static constexpr Index G = Cell::kGates, S = Cell::kSaved;

  // Units [u0, u0 + m) and what a step needs of them: their columns of K and R in panels, their
  // biases (G*m; the recurrent bias, for cells with one, G*m more; an LSTM's peepholes 3*m) and
  // their pre-activations z (B, S*m).
  struct Block {
    Index u0, m;
    Panels<T> K, R;
    const T* bias;
    const T* rbias;
    const T* peephole;
    T* z;
  };

 public:
  // kernel (I, G*H), recurrent (P, G*H), bias (G*H) (and the recurrent bias, for cells with one,
  // and the LSTM's options and (H, P) projection) are copied; the state is zeros, h (B, P) and
  // c (B, H). P = H without a projection. The split into blocks follows the thread count now.
  Stream(const Weights<T>& w, Index B, Index I, Index H, Index P)
      : I_(I),
        H_(H),
        clip_(w.clip),
        projection_(w.projection ? Matrix<T>(map(w.projection, H, P)) : Matrix<T>()),
        h_(Matrix<T>::Zero(B, P)),
        h_next_(B, P),
        c_(Matrix<T>::Zero(Cell::kHasCell ? B : 0, H)),
        x_(B, I),
        unprojected_(w.projection ? B : 0, H) {
    const double bytes = double(I + P) * G * H * sizeof(T);
    Index n = static_cast<Index>(bytes / kStreamBlockBytes);
    n = std::max<Index>(1, std::min<Index>({n, num_threads(), H / kMinBlockUnits}));
    // A step multiplies B rows by K and by R (run() more rows by K: a block of timesteps).
    const Index most = (H + n - 1) / n, panel = panel_for<T>(B);
    const Index width = padded_width(G * most, panel);
    packed_.resize(n, (I + P) * width);
    vectors_.resize(n, (2 * G + 3) * most);
    z_.resize(n, B * S * most);
    for (Index k = 0; k < n; ++k) {
      const Index u0 = H * k / n, m = H * (k + 1) / n - u0;
      blocks_.push_back(make_block(w, u0, m, panel, width, packed_.row(k).data(),
                                   vectors_.row(k).data(), z_.row(k).data()));
    }
    if (Cell::kPhases > 1 && n > 1) shared_.resize(B, H);
    // The whole step as one block too, for steps that stay on the caller, where every step
    // product sums each column in order whatever its block (the same bits either way).
    if (n > 1 && bytes <= kWholeCopyBytes && small_rows(B)) {
      const Index whole_width = padded_width(G * H, panel);
      whole_packed_.resize(1, (I + P) * whole_width);
      whole_vectors_.resize(1, (2 * G + 3) * H);
      whole_z_.resize(1, B * S * H);
      whole_ = make_block(w, 0, H, panel, whole_width, whole_packed_.data(), whole_vectors_.data(),
                          whole_z_.data());
    }
  }

  Index batch() const { return h_.rows(); }
  Index input_size() const { return I_; }
  Index hidden_size() const { return H_; }        // H
  Index state_size() const { return h_.cols(); }  // P
  Index blocks() const { return static_cast<Index>(blocks_.size()); }
  T* h() { return h_.data(); }  // (B, P)
  T* c() { return c_.data(); }  // (B, H) for cells with kHasCell, else empty

  // x: (B, I). Advances the state by one step: per block, z = b + x*K, then the cell (which adds
  // h*R); h_t goes to a second buffer, since other blocks still read h_{t-1}.
  void step(const T* x) {
    // Copied into an aligned buffer first: where step_product falls back to Eigen (ISAs with 16
    // vector registers), Eigen's rounding can depend on the input's alignment (see bindings).
    x_ = map(x, batch(), I_);
    step_copied();
  }

  // x: (B, steps, I), y: (B, steps, P) out, both batch-major. Advances the state by `steps`
  // steps, as `steps` calls of step() would (to float rounding: x*K is one product per block of
  // timesteps here), in one job: the blocks walk the sequence as forward()'s unit split does,
  // meeting once per step, each from its own packed K and R, so nothing is packed per call.
  // With a projection, which needs all of h_t before the next step, it is those step() calls.
  void run(const T* x, Index steps, T* y) {
    const Index B = batch(), P = state_size();
    if (steps == 0) return;
    if (projection_.size() > 0) {
      for (Index t = 0; t < steps; ++t) {
        x_ = map(x + t * I_, B, I_, steps * I_);  // step t of every row, a sequence apart
        step_copied();
        map(y + t * P, B, P, steps * P) = h_;
      }
      return;
    }
    SeqShape s;
    s.B = B;
    s.T = steps;
    s.I = I_;
    s.H = H_;
    // c_t is updated in place, as inference's walk does from its second step on.
    const ForwardBuffers<T> buf{x,         h_.data(), c_.data(), y, h_next_.data(),
                                c_.data(), nullptr,   nullptr};
    const Index most = (H_ + blocks() - 1) / blocks();
    const UnitInputs<T> inputs(s, blocks(), S * most);
    walk_unit_blocks<Cell>(s, buf, false, blocks(), shared(), [&](Index k) {
      const Block& u = blocks_[k];
      const UnitWeights<T> units{u.K, u.R, u.bias, u.rbias, u.u0, u.m, u.peephole, clip_};
      return std::pair{units, inputs.blocks(k)};
    });
    h_.swap(h_next_);
  }

 private:
  // step() for the input in x_.
  void step_copied() {
    const Index B = batch(), H = hidden_size(), P = state_size();
    const bool project = projection_.size() > 0;
    // The cells' h_t: the state itself, or o ⊙ tanh(c_t) before the projection.
    T* out = project ? unprojected_.data() : h_next_.data();
    // A hand-off per phase, the blocks exchanging values through shared() between phases.
    // Measured, the reset-before GRU (two phases) on 2 threads, split against both blocks on the
    // caller: I=64, H=128 about equal (two hand-offs cost what the split saves), H=256 1.04x,
    // I=128, H=512 1.56x. A step that stays whole runs the one-block copy where there is one.
    const bool split = handoff_.split(blocks());
    const auto start = handoff_.timing() ? Clock::now() : Clock::time_point();
    for (int phase = 0; phase < Cell::kPhases; ++phase) {
      if (split) {
        parallel_items(blocks(), [&](Index k) { step_block(blocks_[k], out, phase, shared()); });
      } else if (whole_) {
        step_block(*whole_, out, phase, nullptr);
      } else {
        for (Index k = 0; k < blocks(); ++k) step_block(blocks_[k], out, phase, shared());
      }
    }
    if (handoff_.timing()) handoff_.record(Clock::now() - start);
    reverse_ = !reverse_;
    if (project) {
      h_next_.setZero();
      step_product(map(static_cast<const T*>(unprojected_.data()), B, H),
                   map(static_cast<const T*>(projection_.data()), H, P), map(h_next_.data(), B, P));
    }
    h_.swap(h_next_);
  }

  // Block of units [u0, u0 + m): its K and R packed into `panels` ((I + P) * width values, K's
  // panels then R's), its biases and peepholes gathered into `vectors`, z at `z` (B * S*m).
  Block make_block(const Weights<T>& w, Index u0, Index m, Index panel, Index width, T* panels,
                   T* vectors, T* z) const {
    const Index H = hidden_size(), P = state_size();
    gather_units(w.bias, G, H, u0, m, vectors);
    if (Cell::kRecurrentBias) gather_units(w.recurrent_bias, G, H, u0, m, vectors + G * m);
    if (w.peephole) gather_units(w.peephole, 3, H, u0, m, vectors + 2 * G * m);
    return {u0,
            m,
            pack_units<G>(w.kernel, I_, H, u0, m, panel, panels),
            pack_units<G>(w.recurrent, P, H, u0, m, panel, panels + I_ * width),
            vectors,
            Cell::kRecurrentBias ? vectors + G * m : nullptr,
            w.peephole ? vectors + 2 * G * m : nullptr,
            z};
  }

  // For cells with phases split into blocks: the (B, H) buffer the blocks exchange values of
  // their units through between phases (StepForward::shared); else nullptr.
  T* shared() { return shared_.size() > 0 ? shared_.data() : nullptr; }

  // Phase `phase` of one block's share of a step (cells without phases: the whole step); out:
  // (B, H), the cells' h_t, this block's columns written.
  void step_block(const Block& u, T* out, int phase, T* shared) {
    const Index B = batch(), H = hidden_size(), P = state_size(), m = u.m;
    auto z = map(u.z, B, S * m);
    if (phase == 0) {
      // x_t and h_{t-1} were written by the caller and the other blocks (prefetch_window).
      // Measured, 2 threads, split steps: I=64, H=128 3.25-3.41 us against 3.42-3.75 without.
      prefetch_window(x_);
      prefetch_window(h_);
      panel_product(map(static_cast<const T*>(x_.data()), B, I_), u.K, I_, 0, G * m,
                    cols(z, 0, G * m), false, u.bias);
    }
    const auto rec = [&](const auto& a, Index g0, Index ng, auto product) {
      panel_product(a, u.R, P, g0 * m, (g0 + ng) * m, product, reverse_);
    };
    const Index hc = Cell::kHasCell ? m : 0;
    T* c = Cell::kHasCell ? c_.data() + u.u0 : c_.data();
    const StepForward<T> f{z,
                           map(static_cast<const T*>(h_.data()), B, P),
                           u.u0,
                           u.rbias,
                           map(static_cast<const T*>(c), B, hc, H),
                           map(c, B, hc, H),
                           map(out + u.u0, B, m, H),
                           u.peephole,
                           clip_,
                           shared,
                           reverse_};
    if constexpr (Cell::kPhases == 1) {
      Cell::forward(f, rec);
    } else {
      Cell::forward_phase(f, rec, phase);
    }
  }

  Index I_, H_;
  T clip_;
  Matrix<T> projection_;      // (H, P), or empty
  Matrix<T> packed_;          // a row per block: its K then its R, each as panels (pack_units)
  Matrix<T> vectors_;         // a row per block: its biases and peepholes
  Matrix<T> z_;               // a row per block: its z
  Matrix<T> h_, h_next_, c_;  // h_t and the buffer for h_{t+1}, (B, P); c_t (B, H)
  Matrix<T> x_, unprojected_;
  Matrix<T> shared_;  // (B, H) for a cell with phases in more than one block, else empty
  std::vector<Block> blocks_;
  // All units as one block, for steps that stay whole (see the constructor), or none.
  std::optional<Block> whole_;
  Matrix<T> whole_packed_, whole_vectors_, whole_z_;  // one row each, as packed_ and the others
  HandOff handoff_;
  bool reverse_ = false;  // R's panels in alternating directions, step to step (panel_product)
};

}  // namespace fastlstm
