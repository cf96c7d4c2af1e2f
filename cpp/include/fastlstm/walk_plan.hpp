// How the sequence walk shares its work and lays out its weights: whether a batch splits its
// rows or its hidden units over the threads (and over how many), and when weights are first
// copied into panels that stream well. Each rule gives the measurements it was chosen by.
#pragma once

#include <algorithm>
#include <cstddef>
#include <vector>

#include "fastlstm/panels.hpp"
#include "fastlstm/small_gemm.hpp"
#include "fastlstm/threads.hpp"
#include "fastlstm/types.hpp"

namespace fastlstm {

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
// rows per thread the unit split reads less of R; so it does from 5 to 7 rows with 16 vector
// registers, where the batch split reads all of R twice (a block of 4 and the rest). Measured on
// 2 threads, unit split against batch split: B=10, 12, 14 at H=128-384 1.08-1.27x; B=8 (4 rows
// a thread) 0.90x at H=128, 1.07-1.13x at H=256, so it stays a batch split. With 32 registers
// small_gemm takes 5 to 7 rows in one block, and the batch split, whose threads never meet, is
// the faster there: on a Sapphire Rapids VM (2 MiB L2), 2 threads, alternating processes, batch
// split against unit split, T=50, I=128: B=10, 12 and 14 at H=256 0.97x the time, B=12 at I=64,
// H=128 0.82x, GRU B=12, H=256 0.94x, the training step of B=12, H=256 0.91x. (Larger R still
// splits units by the rules below.)
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
//
// Where R is larger than L2, a batch split's threads each stream all of R from L3 at every step,
// and on a Xeon (2 MiB L2, 2 threads) L3 did not keep up with two at once: B=32, T=50, I=128,
// H=512 ran 1.52x faster on 2 threads than on one, against 1.90x at H=256 (R in L2). A unit split
// streams a thread's share alone. Measured there, 2 threads, I=128, T=50, unit split against
// batch split: LSTM B=24 (12 rows a thread), H=512 1.30x (R's panels 256 columns wide); with
// shared_panel's panels, B=32, H=1024 1.16x, H=512 (T=100) 1.11x, B=64, H=512 1.05x; GRU B=32,
// H=512 1.07x (a training step, whose backward splits rows either way, 1.03x). Hence up to
// kMaxUnitRowsBeyondL2 rows a thread, cells of 3 or more gates.
constexpr Index kMinRowsPerThread = 4;
constexpr Index kMaxUnitRowsBeyondL2 = 32;
inline bool split_units(Index B, int threads, double recurrent_bytes, int gates) {
  const Index rows = (B + threads - 1) / threads;  // per thread, in a batch split
  const bool five_to_seven = rows > kMinRowsPerThread && rows < 2 * kMinRowsPerThread;
  if (rows < kMinRowsPerThread || (five_to_seven && kStrip != 4)) return true;
  if (gates >= 3 && rows <= 10 && recurrent_bytes >= 0.9 * l2_bytes()) return true;
  if (gates >= 3 && rows <= kMaxUnitRowsBeyondL2 && recurrent_bytes > l2_bytes()) return true;
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
// columns (GRU 1.08-1.12x), B=3 1.03-1.12x, B=1 (T=100, I=64) 1.01-1.08x. So for 8 rows, one
// block of kEightStrip packets (see there). From 9 rows on (blocks of 8 or 6 rows, bound by the
// FMAs) kPanel: on a Xeon without AMX, 32-column panels for blocks of 8 x 2 packets, eight times
// the product calls, were 1.035x slower at B=16, T=50, I=128, H=256. Eigen's GEMM, where it
// takes the product, copies what it reads anyway. A walk packed by length (`shrinking`: its
// later steps take fewer rows than `rows`) keeps kPanel for 8 rows, where small_gemm then takes
// blocks of 8 x 2 packets: panels of 3 packets left the later steps' blocks of 4 rows and fewer
// strips too narrow for their accumulators (a run of bench_lengths with them, B=16, T=50, I=128,
// H=256, 2 threads: the SimpleRNN's inference took 1.03x as long with its lengths as without;
// 0.84x in the run before them, 0.90-0.99x with the kernels before them in alternating processes
// the same hour, 0.97x in this rule's run).
constexpr Index kPanel = 256;
template <typename T>
Index panel_for(Index rows, bool shrinking = false) {
  return small_rows(rows) && (rows < 8 || (rows == 8 && !shrinking)) ? strip_columns<T>(rows)
                                                                     : kPanel;
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
// 8 KiB apart. The copy costs about one step's reading of R, so it waits for enough steps. With
// 32 vector registers, more rows too: their panels (shared_panel) are then small enough for
// small_gemm (kSmallGemmBytes), which reads R's panels where Eigen's GEMM copied all of R at
// every step (14% of the time at B=256, T=100, I=256, H=512 on 2 threads). Measured on a Xeon (2
// MiB L2), 2 threads, against Eigen's GEMM: that row 1.06x, B=256, T=50, I=64, H=128 1.10x,
// B=128, T=50, I=128, H=256 1.04x (its training step 0.98x), B=96, H=384 1.00x. With 16
// registers, more rows take Eigen's GEMM, R read where it lies.
constexpr Index kMinPackSteps = 4;
inline bool pack_shared(Index T, Index rows_per_thread) {
  return T >= kMinPackSteps && (small_rows(rows_per_thread) || kStrip == 4);
}

// For `rows` rows: panel_for's width, halved while a panel of K rows holds more than `bytes`,
// down to the strips of the rows' first blocks.
template <typename T>
Index panel_within(Index rows, Index K, double bytes, bool shrinking = false) {
  Index panel = panel_for<T>(rows, shrinking);
  const Index strip = strip_columns<T>(rows);
  while (panel > strip && double(K) * panel * sizeof(T) > bytes) panel /= 2;
  return panel;
}

// Panel width of the copy of R (forward: K = P rows) or of R^T (backward: K = G*H rows) that the
// threads of a batch split share: panel_for's, halved while a panel holds more than
// kSharedPanelBytes, down to the strips of the rows' first blocks. small_gemm reads a panel once
// per block of 8 rows; a panel small enough to stay in cache between the blocks comes from L3
// once per step where R does not fit in L2 (from L2 where it does), and a narrower panel pads
// less where the columns are fewer than 256. Measured on a Xeon (2 MiB L2), 2 threads, against
// panels of 256 columns (the results the same bits): training steps B=32, T=100, I=128, H=512
// 1.15x, B=16, T=50, I=128, H=1024 1.14x, B=32, T=50, I=256, H=384 1.11x, I=128, H=256 1.06x,
// B=64, T=50, I=64, H=128 1.06x; inference at T=50, I=128: B=32, H=1024 1.23x, B=64, H=512
// 1.08x, B=16, H=256 0.99-1.04x. A budget of 256 KiB measured within 2% of this one, but for
// inference at H=1024 (1.14x).
constexpr double kSharedPanelBytes = 128 << 10;
template <typename T>
Index shared_panel(Index rows, Index K, bool shrinking = false) {
  return panel_within<T>(rows, K, kSharedPanelBytes, shrinking);
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
  parallel_chunks(cols, kFlopsPerCopiedValue * double(rows) * cols, [&](Index k0, Index k1) {
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

}  // namespace fastlstm
