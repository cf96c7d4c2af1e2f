// Large buffers, kept for reuse once freed.
//
// A training loop asks for the same sizes at every step (at B=32, T=100, H=512 the saved gates
// and dZ take 26 MB each, with ~30 MB more beside them). Memory fresh from the system costs a
// page fault and the kernel's zeroing for every 4 KiB page: ~15,000 faults and up to a quarter of
// that step's time, whenever the C library had handed the last step's memory back (which depends
// on everything else the process allocates). So blocks of kMinCached bytes or more go to a
// process-wide cache when released, up to kMaxCached bytes in all (the oldest leave first), and a
// request takes the smallest cached block that holds it, up to kMaxReuse times its size.
// Smaller buffers come and go through the C library as usual. Thread-safe; a forked child starts
// with an empty cache.
//
// Taking only blocks of a request's own size class, a service whose calls vary in length kept a
// block of every size it met: training steps at B=8, I=H=64 and T from 1 to 1000 held 244 MiB
// where the largest step used 24 MiB (inference 99 MiB against 10), up to the 512 MiB cap.
//
// kMinCached is 128 KiB, where glibc starts to map blocks of their own by default. From 1 MiB
// only, the buffers below it freed at the end of each call left enough free memory at the top of
// glibc's heap for it to hand that back, and the next call's buffers (the core's, Eigen's and
// NumPy's) came fresh from the system: measured on 2 threads, a backward at B=16, T=50, I=128,
// H=256 took ~330 page faults a call, none from 128 KiB; alternating processes, its training
// step ran 1.12x faster, B=8 1.03x, GRU B=16, T=30, H=384 1.04x, larger steps level.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <deque>
#include <mutex>
#include <new>
#include <unordered_map>

#include "fastlstm/pool.hpp"  // renewed_at_fork
#include "fastlstm/types.hpp"

#if defined(__GLIBC__) || defined(_WIN32)
#include <malloc.h>  // malloc_trim; _aligned_malloc
#endif

namespace fastlstm {

constexpr std::size_t kBlockAlign = 64;  // a cache line, and any ISA's vector width

// `size` bytes aligned to `align` (a power of two, a multiple of sizeof(void*)), or nullptr;
// given back with free_aligned. posix_memalign rather than std::aligned_alloc, which macOS's
// libc++ hides below macOS 10.15 and MSVC lacks.
inline void* alloc_aligned(std::size_t align, std::size_t size) {
#if defined(_WIN32)
  return _aligned_malloc(size, align);
#else
  void* p = nullptr;
  return posix_memalign(&p, align, size) == 0 ? p : nullptr;
#endif
}
inline void free_aligned(void* p) {
#if defined(_WIN32)
  _aligned_free(p);
#else
  std::free(p);
#endif
}
constexpr std::size_t kMinCached = std::size_t(128) << 10;
constexpr std::size_t kMaxCached = std::size_t(512) << 20;
// A request takes a cached block up to this many times its size (a block holds up to twice the
// bytes a buffer uses, where a fresh one would cost page faults).
constexpr std::size_t kMaxReuse = 2;

// The size class of a request: `bytes` rounded up to a multiple of the largest power of two that
// is at most an eighth of it (and at least kBlockAlign). Near sizes share blocks, at most 1/8 is
// wasted, and a block's size follows from the request alone.
inline std::size_t block_size(std::size_t bytes) {
  std::size_t step = kBlockAlign;
  while (step * 16 <= bytes) step *= 2;
  return (bytes + step - 1) / step * step;
}

class BlockCache {
 public:
  // A block of at least `bytes` bytes, kBlockAlign-aligned, uninitialised; nullptr for 0.
  void* acquire(std::size_t bytes) {
    if (bytes == 0) return nullptr;
    const std::size_t size = block_size(bytes);
    if (size < kMinCached) return allocate(size);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto best = blocks_.end();  // the smallest that fits, the most recent of equals
      for (auto it = blocks_.begin(); it != blocks_.end(); ++it) {
        if (it->size >= size && it->size / kMaxReuse <= size &&
            (best == blocks_.end() || it->size <= best->size)) {
          best = it;
        }
      }
      if (best != blocks_.end()) {
        const Block block = *best;
        lent_[block.data] = block.size;  // first: where it throws, the cache is as it was
        held_ -= block.size;
        blocks_.erase(best);
        return block.data;
      }
    }
    void* data = allocate(size);  // outside the lock: other threads' calls go on meanwhile
    try {
      std::lock_guard<std::mutex> lock(mutex_);
      lent_[data] = size;
    } catch (...) {
      free_aligned(data);
      throw;
    }
    return data;
  }

  // Gives back a block from acquire(bytes), with the same `bytes`.
  void release(void* data, std::size_t bytes) {
    if (!data) return;
    std::size_t size = block_size(bytes);
    if (size < kMinCached) return free_aligned(data);
    std::lock_guard<std::mutex> lock(mutex_);
    // The block's own size (a cached block may be larger than the request it was lent for). One
    // lent by the parent of a forked child is not in this cache's record: its request's size.
    if (const auto it = lent_.find(data); it != lent_.end()) {
      size = it->second;
      lent_.erase(it);
    }
    if (size > kMaxCached) return free_aligned(data);
    blocks_.push_back({data, size});
    held_ += size;
    while (held_ > kMaxCached) {
      held_ -= blocks_.front().size;
      free_aligned(blocks_.front().data);
      blocks_.pop_front();
    }
  }

  // Frees every cached block and gives the memory back to the system; returns their bytes.
  std::size_t clear() {
    std::lock_guard<std::mutex> lock(mutex_);
    const std::size_t freed = held_;
    for (const Block& b : blocks_) free_aligned(b.data);
    blocks_.clear();
    held_ = 0;
#if defined(__GLIBC__)
    // Once a large block has been freed, glibc serves blocks up to 32 MiB from its heap rather
    // than mapping each, and keeps freed heap memory: measured, 510 MiB cleared left the
    // process 322 MiB above where it started, 2 MiB after this.
    malloc_trim(0);
#endif
    return freed;
  }

  std::size_t held() {
    std::lock_guard<std::mutex> lock(mutex_);
    return held_;
  }

 private:
  struct Block {
    void* data;
    std::size_t size;
  };
  static void* allocate(std::size_t size) {
    void* data = alloc_aligned(kBlockAlign, size);
    if (!data) throw std::bad_alloc();
    return data;
  }

  std::mutex mutex_;
  std::deque<Block> blocks_;  // oldest first
  std::size_t held_ = 0;
  std::unordered_map<void*, std::size_t> lent_;  // blocks of kMinCached and up in use: sizes
};

// The process's cache: never destroyed (NumPy arrays holding blocks may be freed after static
// destructors have run), a new one in a forked child (the parent's blocks are left where they
// are).
inline BlockCache& block_cache() { return renewed_at_fork<BlockCache>(); }

// An uninitialised buffer of n values from the block cache, given back when it goes.
template <typename T>
class Buffer {
 public:
  Buffer() = default;
  explicit Buffer(Index n)
      : n_(n), data_(static_cast<T*>(block_cache().acquire(sizeof(T) * std::size_t(n)))) {}
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  ~Buffer() { block_cache().release(data_, sizeof(T) * std::size_t(n_)); }

  T* data() const { return data_; }
  Index size() const { return n_; }

 private:
  Index n_ = 0;
  T* data_ = nullptr;
};

}  // namespace fastlstm
