// The core's thread pool size and the one way it splits work: contiguous chunks, one per thread.
#pragma once

#include <omp.h>

#include <algorithm>
#include <atomic>

#include "fastlstm/types.hpp"

namespace fastlstm {

// Threads a call may use. Starts at OpenMP's default, which honours OMP_NUM_THREADS and the CPUs
// the process may run on.
inline std::atomic<int>& thread_setting() {
  static std::atomic<int> threads{std::max(1, omp_get_max_threads())};
  return threads;
}
inline int num_threads() { return thread_setting().load(std::memory_order_relaxed); }
inline void set_num_threads(int n) { thread_setting().store(std::max(1, n)); }

// Below this many flops per thread a parallel region (~2 us) costs more than it saves.
constexpr double kMinFlopsPerThread = 2e5;

// Threads worth using for `flops` of work spread over `items` independent items.
inline int threads_for(Index items, double flops) {
  const Index by_work = static_cast<Index>(flops / kMinFlopsPerThread);
  return static_cast<int>(std::max<Index>(1, std::min<Index>({num_threads(), items, by_work})));
}

// Calls fn(begin, end) on contiguous chunks of [0, n), one chunk per thread, using no more
// threads than there are items or than `flops` (the whole job's work) justifies. Chunk
// boundaries depend only on n and the thread count, so results repeat run to run.
template <typename Fn>
void parallel_chunks(Index n, double flops, Fn&& fn) {
  const int threads = threads_for(n, flops);
  if (threads == 1) {
    fn(Index{0}, n);
    return;
  }
#pragma omp parallel num_threads(threads)
  {
    const Index k = omp_get_thread_num();
    fn(n * k / threads, n * (k + 1) / threads);
  }
}

}  // namespace fastlstm
