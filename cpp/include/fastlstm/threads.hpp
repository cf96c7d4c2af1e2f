// The core's thread count and the ways it splits work: contiguous chunks or items claimed by
// whichever thread is free, and rounds of items, each round after the one before.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <thread>
#include <vector>

#if defined(__linux__)
#include <sched.h>
#endif

#include "fastlstm/pool.hpp"
#include "fastlstm/types.hpp"

namespace fastlstm {

// The most threads a call may use (a job's items are counted in 16 bits: Pool::kMaxItems).
constexpr int kMaxThreads = 1024;
static_assert(kMaxThreads <= Pool::kMaxItems);

// OMP_NUM_THREADS when it holds a positive count (the first of a list; at most kMaxThreads),
// else the CPUs the process may run on (its affinity mask on Linux), else the machine's.
inline int default_threads() {
  if (const char* env = std::getenv("OMP_NUM_THREADS")) {
    char* end = nullptr;
    const long n = std::strtol(env, &end, 10);
    if (end != env && n > 0 && (*end == '\0' || *end == ','))
      return static_cast<int>(std::min<long>(n, kMaxThreads));
  }
#if defined(__linux__)
  cpu_set_t cpus;
  if (sched_getaffinity(0, sizeof(cpus), &cpus) == 0) {
    return std::clamp(CPU_COUNT(&cpus), 1, kMaxThreads);
  }
#endif
  return std::clamp(static_cast<int>(std::thread::hardware_concurrency()), 1, kMaxThreads);
}

// Threads a call may use.
inline std::atomic<int>& thread_setting() {
  static std::atomic<int> threads{default_threads()};
  return threads;
}
// A lowered count also ends the workers it no longer uses in the pools kept from ended threads
// (each thread's own pool loses its surplus at its next call: drop_spare_workers).
inline void set_num_threads(int n) {
  thread_setting().store(std::clamp(n, 1, kMaxThreads));
  pool_shelf().shrink(std::clamp(n, 1, kMaxThreads) - 1);
}

// The count a call on this thread holds to (0: none, read the setting). A call reads the setting
// several times as it splits its parts; set_num_threads from another thread in between gave a
// backward pass whose results matched no thread count's (33 of 300 calls, up to 2.7e-5 off).
inline int& pinned_threads() {
  thread_local int n = 0;
  return n;
}
inline int num_threads() {
  const int pinned = pinned_threads();
  return pinned > 0 ? pinned : thread_setting().load(std::memory_order_relaxed);
}

// Holds this thread's calls to the thread count set when it is made, for as long as it lives
// (the outermost one counts, where they nest).
class PinThreads {
 public:
  PinThreads() : outer_(pinned_threads()) {
    if (outer_ == 0) pinned_threads() = thread_setting().load(std::memory_order_relaxed);
  }
  ~PinThreads() { pinned_threads() = outer_; }
  PinThreads(const PinThreads&) = delete;
  PinThreads& operator=(const PinThreads&) = delete;

 private:
  int outer_;
};

// Ends the calling thread's workers that a lowered thread count no longer uses (Pool::shrink).
// Not inside a job: its workers are at work.
inline void drop_spare_workers() {
  if (inside_job()) return;
  if (const auto& pool = pool_slot()) pool->shrink(num_threads() - 1);
}

// The calling thread's pool, less the workers a lowered thread count no longer uses: also a
// pool just taken from the shelf, made by an ended thread for a higher count (a server that
// starts a thread per request had kept 380 threads asleep after the count went from 64 to 2).
inline Pool& call_pool() {
  Pool& pool = this_threads_pool();
  drop_spare_workers();
  return pool;
}

// Below this many flops per thread, handing work to another thread (~2 us) costs more than it
// saves.
constexpr double kMinFlopsPerThread = 2e5;

// A copied value counts as this many flops: copies cost a thread hand-off's worth from about
// 25k values. The weights' copies into panels (pack_units, transposed_panels) counted one flop a
// value, and so ran on one thread: on a Sapphire Rapids VM 1 MiB of R took 47-61 us on one core,
// and copied on 2 threads B=16, T=50, I=128, H=256 inference ran 0.98x the time (alternating
// processes), training steps 0.98-0.99x.
constexpr double kFlopsPerCopiedValue = 8;

// Threads worth using for `flops` of work spread over `items` independent items: one inside
// parallel work already.
inline int threads_for(Index items, double flops) {
  if (inside_job()) return 1;
  const Index by_work = static_cast<Index>(flops / kMinFlopsPerThread);
  return static_cast<int>(std::max<Index>(1, std::min<Index>({num_threads(), items, by_work})));
}

// parallel_chunks with the thread count given: `threads` chunks.
template <typename Fn>
void run_chunks(Index n, int threads, Fn&& fn) {
  if (threads == 1) {
    drop_spare_workers();
    fn(Index{0}, n);
    return;
  }
  auto chunk = [&](Index k) { fn(n * k / threads, n * (k + 1) / threads); };
  call_pool().run(threads, chunk);
}

// Calls fn(ends[k], ends[k + 1]) for the ends.size() - 1 chunks those boundaries make, one per
// thread: run_chunks with boundaries of the caller's choosing.
template <typename Fn>
void run_bounds(const std::vector<Index>& ends, Fn&& fn) {
  const int threads = static_cast<int>(ends.size()) - 1;
  if (threads == 1) {
    drop_spare_workers();
    fn(ends[0], ends[1]);
    return;
  }
  auto chunk = [&](Index k) { fn(ends[k], ends[k + 1]); };
  call_pool().run(threads, chunk);
}

// run_chunks's boundaries: `threads` chunks of [0, n).
inline std::vector<Index> even_bounds(Index n, int threads) {
  std::vector<Index> ends(threads + 1);
  for (int k = 0; k <= threads; ++k) ends[k] = n * k / threads;
  return ends;
}

// Calls fn(begin, end) on contiguous chunks of [0, n), one chunk per thread, using no more
// threads than there are items or than `flops` (the whole job's work) justifies. Chunk
// boundaries depend only on n and the thread count, so results repeat run to run, whichever
// thread runs a chunk.
template <typename Fn>
void parallel_chunks(Index n, double flops, Fn&& fn) {
  run_chunks(n, threads_for(n, flops), fn);
}

// Calls fn(r0, r1, c0, c1) on blocks of a (rows, cols) matrix product, one block per thread,
// using no more threads than `flops` justifies. An Eigen GEMM copies (packs) all of both operands
// it reads: a thread with a block of rows copies the whole right-hand matrix, one with a block
// of columns the whole left-hand one. The blocks are whole rows, unless there are fewer rows
// than columns (then the right-hand matrix is the larger copy): then whole columns, in groups of
// 16 (a packet of the widest ISA's floats). At B=1, T=25, I=H=512 on 2 threads, splitting x*K by
// rows had each thread pack all 4 MiB of K; by columns the call was 1.07x faster.
template <typename Fn>
void parallel_product(Index rows, Index cols, double flops, Fn&& fn) {
  if (rows >= cols) {
    parallel_chunks(rows, flops, [&](Index r0, Index r1) { fn(r0, r1, Index{0}, cols); });
    return;
  }
  constexpr Index kGroup = 16;
  parallel_chunks((cols + kGroup - 1) / kGroup, flops, [&](Index g0, Index g1) {
    fn(Index{0}, rows, g0 * kGroup, std::min(g1 * kGroup, cols));
  });
}

// Calls fn(k) for every k in [0, n), items worth a thread each: contiguous runs of them on up to
// n threads (one inside parallel work), claimed by whichever thread is free.
template <typename Fn>
void parallel_items(Index n, Fn&& fn) {
  const int threads = inside_job() ? 1 : static_cast<int>(std::min<Index>(num_threads(), n));
  auto run = [&](Index b, Index e) {
    for (Index k = b; k < e; ++k) fn(k);
  };
  if (threads <= 1) {
    drop_spare_workers();
    return run(0, n);
  }
  auto chunk = [&](Index k) { run(n * k / threads, n * (k + 1) / threads); };
  call_pool().run(threads, chunk);
}

// Calls fn(r, j) for every round r in [0, rounds) and item j in [0, n), items worth a thread
// each, on up to n threads (one inside parallel work): round r's items start once round r - 1's
// are all done. Thread k takes item k of a round first, then any other still free (Rounds in
// pool.hpp): fn must not depend on which thread runs it.
template <typename Fn>
void parallel_rounds(Index rounds, Index n, Fn&& fn) {
  const int threads = inside_job() ? 1 : static_cast<int>(std::min<Index>(num_threads(), n));
  if (threads <= 1) {
    drop_spare_workers();
    for (Index r = 0; r < rounds; ++r) {
      for (Index j = 0; j < n; ++j) fn(r, j);
    }
    return;
  }
  Rounds state(n);
  auto member = [&](Index k) { state.take_part(k, rounds, fn); };
  call_pool().run(threads, member);
}

}  // namespace fastlstm
