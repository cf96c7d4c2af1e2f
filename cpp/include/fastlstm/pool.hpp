// The core's own worker threads: one small pool per calling thread, and rounds of work.
//
// Why not OpenMP: with libgomp, a thread that waits (at a barrier, or for the team to finish)
// spins for up to ~300,000 pause instructions, several milliseconds, before it sleeps; on a
// machine where another process keeps a core busy, the thread it waits for is often the one that
// cannot get a core, so a call of 0.5 ms took 10-150 ms. And libgomp's threads do not survive
// fork(): a child process that calls the core after its parent did hangs (a pre-forking server).
// Here every wait spins for tens of microseconds, then sleeps, giving the core back; work is
// claimed item by item, so the caller does it all itself when a worker is slow to get a core; and
// a forked child starts a new pool.
//
// Nothing here waits for a particular thread to arrive. Work that must proceed in steps (the
// unit split of a sequence meets after every timestep) is rounds of items, each round's items
// claimed by whichever thread gets to them first: a thread without a core holds up only an item
// it has started. A barrier among a fixed team runs at the pace of its slowest thread: measured
// on a 2-vCPU VM, after 0.1 s idle the kernel put the woken worker on the caller's vCPU (the idle
// one, preempted by the host, counts as unavailable) and every step of a single sequence paid two
// context switches, 1.1 ms per call against 0.2 ms back to back and 0.42 ms on one thread.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <limits>
#include <memory>
#include <mutex>
#include <system_error>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(__i386__) || defined(_M_X64)
#include <immintrin.h>
#endif
#if defined(__unix__) || defined(__APPLE__)
#include <pthread.h>
#endif

#include "fastlstm/types.hpp"

namespace fastlstm {

// How long a waiting thread spins before it sleeps. Within a call (a round, the end of a job)
// waits are a few microseconds when every thread has a core, and a sleep and wake-up costs more;
// between calls a worker spins a little longer, so that a burst of calls finds it awake.
constexpr std::chrono::microseconds kWaitSpin{50};
constexpr std::chrono::microseconds kIdleSpin{200};
// A wait's spin once the machine has been seen short of cores.
constexpr std::chrono::microseconds kBusySpin{2};

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__) || defined(_M_X64)
  _mm_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// A spin that has lasted this long also offers its core to the OS's other runnable threads,
// which may be the very thread it waits for (more threads than free cores).
constexpr std::chrono::microseconds kYieldAfter{5};

// A spin of up to `length`: each next() pauses (after kYieldAfter, yields the core) and says
// whether time is left, false once it is over.
class Spin {
 public:
  explicit Spin(std::chrono::steady_clock::duration length)
      : start_(std::chrono::steady_clock::now()), until_(start_ + length) {}

  bool next() {
    const auto now = std::chrono::steady_clock::now();
    if (now >= until_) return false;
    if (now >= start_ + kYieldAfter)
      std::this_thread::yield();
    else
      cpu_relax();
    return true;
  }

 private:
  std::chrono::steady_clock::time_point start_, until_;
};

// Sleeping for a condition that other threads make true. wait(ready) spins on ready() for up to
// `spin`, then sleeps, and says whether it slept; whoever makes ready() true calls notify()
// afterwards. A notify() finds no sleeper most of the time and then costs one atomic load.
class Signal {
 public:
  template <typename Ready>
  bool wait(Ready&& ready, std::chrono::steady_clock::duration spin) {
    Spin spinning(spin);
    while (!ready()) {
      if (spinning.next()) continue;
      // Sleeping. The fences here and in notify() order "count myself, then look at the state"
      // against the notifier's "change the state, then count sleepers" (whatever orders the
      // state's own loads and stores use): a notifier cannot miss this thread while this thread
      // misses the change. One that sees it takes the lock, so its notification waits until this
      // thread is inside cv_.wait.
      std::unique_lock<std::mutex> lock(mutex_);
      sleepers_.fetch_add(1);
      std::atomic_thread_fence(std::memory_order_seq_cst);
      while (!ready()) cv_.wait(lock);
      sleepers_.fetch_sub(1);
      return true;
    }
    return false;
  }

  // Wakes up to `most` sleepers (all by default). Where any thread may do the work a waker
  // makes (a job's items), waking more than the work can use only costs: every woken thread
  // takes a context switch and spins. Measured: once a pool had grown to 1024 workers, a job of
  // 2 items woke all of them, 3x the call's time.
  void notify(int most = std::numeric_limits<int>::max()) {
    std::atomic_thread_fence(std::memory_order_seq_cst);
    const int sleeping = sleepers_.load(std::memory_order_relaxed);
    if (sleeping == 0 || most <= 0) return;
    std::lock_guard<std::mutex> lock(mutex_);
    if (most >= sleeping) return cv_.notify_all();
    for (int i = 0; i < most; ++i) cv_.notify_one();
  }

 private:
  std::atomic<int> sleepers_{0};
  std::mutex mutex_;
  std::condition_variable cv_;
};

// The shared state of rounds of `items` items (parallel_rounds in threads.hpp): per item the
// next round it may be taken for, and the items done over all rounds. Round r opens when every
// item of round r - 1 is done. Thread k (of those taking part) takes item k of each round first,
// so that an item's data stays in one core's cache, then any other item still free; one that
// finds every item of the round taken waits for the round to end. If an item throws, the others
// stop at the next round instead of waiting for it for ever.
//
// Taking another thread's item: at once if that thread has not reached the round before (it has
// no core: asleep, or queued behind this one); if it has, this thread first waits for it to take
// its item for as long as its own item took (as long as doing the item itself would cost), so
// that a thread held up for a moment does not lose its item, and a step its time twice over.
class Rounds {
 public:
  explicit Rounds(Index items) : items_(items), slots_(new Slot[items]) {}

  // Runs what thread k can take of rounds [0, rounds): fn(r, j) for item j of round r.
  template <typename Fn>
  void take_part(Index k, Index rounds, Fn& fn) {
    std::chrono::steady_clock::duration own{0};  // how long this thread's own item took
    for (Index r = 0;;) {
      if (!wait_for(r * items_, own)) return;
      // A thread that was slow to start catches up with the round now open.
      r = std::max(r, done_.load(std::memory_order_acquire) / items_);
      if (r >= rounds) return;
      if (k < items_) slots_[k].round.store(r, std::memory_order_release);
      for (Index i = 0; i < items_; ++i) {
        const Index j = (k + i) % items_;
        if (i > 0 && !free_after(j, r, own)) continue;
        Index expected = r;
        if (!slots_[j].next.compare_exchange_strong(expected, r + 1, std::memory_order_acq_rel)) {
          continue;
        }
        const auto start = std::chrono::steady_clock::now();
        try {
          fn(r, j);
        } catch (...) {
          failed_.store(true);
          signal_.notify();
          throw;
        }
        if (i == 0) own = std::chrono::steady_clock::now() - start;
        if (done_.fetch_add(1, std::memory_order_acq_rel) + 1 == (r + 1) * items_) {
          // The round is complete: nothing is left to take, so the thread that completed it goes
          // on without reading the other items' slots (each read a line from another core, and
          // makes that core's next claim wait for the line back). Measured, 2 threads, rounds of
          // 100 KiB items: 2.37-2.52 -> 2.26-2.51 us a round, empty items 0.27-0.30 -> 0.25-0.28.
          signal_.notify();
          break;
        }
      }
      ++r;
    }
  }

 private:
  // One cache line per item, so that threads taking different items do not contend.
  struct alignas(64) Slot {
    std::atomic<Index> next{0};    // the next round the item may be taken for
    std::atomic<Index> round{-2};  // the round that thread j (whose item it is) is at
  };

  // Whether item j of round r is free to take once its own thread had the chance (see above).
  bool free_after(Index j, Index r, std::chrono::steady_clock::duration grace) {
    const Slot& slot = slots_[j];
    const auto free = [&] { return slot.next.load(std::memory_order_acquire) == r; };
    if (!free() || slot.round.load(std::memory_order_acquire) < r - 1) return free();
    Spin spinning(grace);
    while (free() && spinning.next()) {
    }
    return free();
  }

  // Waits until `count` items are done; false if an item failed. It spins for as long as an item
  // takes (`item`, this thread's last), at least kWaitSpin, then sleeps. Once waits have had to
  // sleep in kBusyRounds rounds (threads that took items lack cores: the machine is busy), later
  // waits spin only briefly, so that they give their core to those threads at once.
  bool wait_for(Index count, std::chrono::steady_clock::duration item) {
    const auto ready = [&] {
      return done_.load(std::memory_order_acquire) >= count || failed_.load();
    };
    const auto spin = busy_.load(std::memory_order_relaxed)
                          ? std::chrono::steady_clock::duration(kBusySpin)
                          : std::max<std::chrono::steady_clock::duration>(kWaitSpin, item);
    if (!ready() && signal_.wait(ready, spin)) slept(count);
    return !failed_.load();
  }

  // A wait for `count` items slept. One round's sleeps say little: a worker asleep between calls
  // takes a wake-up to arrive, and among 16 threads one is held up for a moment in many calls.
  // Marking the machine busy at the first sleep had the rest of the call sleep and wake at every
  // round: on a 16-core VM, B=1, T=25, I=H=512 served from a stream on 16 threads took 259-428
  // us against 242-266 us counting rounds (same run, alternating builds), and 608 us beside
  // other libraries' thread pools (266 us counting rounds, in another run). Sleeps in several
  // rounds mean threads lacking cores.
  void slept(Index count) {
    if (slept_at_.exchange(count, std::memory_order_relaxed) == count) return;  // round counted
    if (slept_rounds_.fetch_add(1, std::memory_order_relaxed) + 1 >= kBusyRounds) {
      busy_.store(true, std::memory_order_relaxed);
    }
  }
  static constexpr Index kBusyRounds = 3;

  const Index items_;
  std::unique_ptr<Slot[]> slots_;
  alignas(64) std::atomic<Index> done_{0};
  std::atomic<bool> failed_{false}, busy_{false};
  // The count the last sleeping wait waited for, and the rounds in which waits slept.
  std::atomic<Index> slept_at_{-1}, slept_rounds_{0};
  Signal signal_;
};

// fork() copies a pool's memory but not its threads: the child's pools must be replaced.
inline std::atomic<unsigned>& fork_count() {
  static std::atomic<unsigned> count{0};
#if defined(__unix__) || defined(__APPLE__)
  static const int registered = pthread_atfork(nullptr, nullptr, [] { count.fetch_add(1); });
  (void)registered;
#endif
  return count;
}

// The process's one T, never destroyed (threads may still use it while static destructors run),
// and a new one in a forked child: the parent's may hold a lock taken by a thread the child does
// not have. (The child handler runs while the child has one thread.)
template <typename T>
T& renewed_at_fork() {
  static T* object = new T;
#if defined(__unix__) || defined(__APPLE__)
  static const int registered = pthread_atfork(nullptr, nullptr, [] { object = new T; });
  (void)registered;
#endif
  return *object;
}

// Whether this thread is running an item of a job (a worker, or a caller inside run()): then the
// core runs any further parallel work on this thread alone.
inline bool& inside_job() {
  thread_local bool inside = false;
  return inside;
}

// A pause, in microseconds, that a test puts into the window between a woken worker's reads of
// the job and of whether to end (Pool::worker): a shrink in that window once hung the process,
// seen only under heavy load. 0 (no pause) in use; an atomic load per woken worker.
inline std::atomic<int>& worker_pause_us() {
  static std::atomic<int> pause{0};
  return pause;
}

// Workers that run the items of one job at a time for the thread that owns the pool.
class Pool {
 public:
  Pool() = default;
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;
  ~Pool() {
    stop_.store(true);
    ticket_.store(++job_ << kJobShift);  // a new job number wakes every worker
    wake_.notify();
    for (auto& t : threads_) t.join();
  }

  // Runs fn(i) for every i in [0, n), n <= kMaxItems, on this thread and up to n - 1 workers:
  // item 0 on this thread, the others on whichever thread claims them first (fn must not depend
  // on which thread runs it). The first exception any item throws is rethrown here.
  //
  // Item 0 is the caller's so that it stays on one core from job to job: a stream's step is a
  // job per call, its blocks each with weights in a core's L2, and a block that changed cores
  // read them from the other one. Claimed by ticket as the others, item 0 went to the woken
  // worker in 62% of 2-thread steps (I=128, H=256: 10.2 us a step, 8.1 us with item 0 the
  // caller's; B=1, T=100, I=64, H=256 run from a stream 1.06-1.11x faster; batch splits level).
  template <typename Fn>
  void run(Index n, Fn& fn) {
    if (n <= 0) return;
    grow(static_cast<int>(n - 1));
    call_ = [](void* f, Index i) { (*static_cast<Fn*>(f))(i); };
    context_ = &fn;
    error_ = nullptr;
    finished_.store(0, std::memory_order_relaxed);
    // The new job's ticket: its number, its item count and its next unclaimed item (1: item 0
    // is the caller's), all in one word, so that a claim sees either the old job whole or the
    // new one whole.
    const std::uint64_t job = ++job_ << kJobShift;
    ticket_.store(job | std::uint64_t(n) << kCountShift | 1, std::memory_order_release);
    wake_.notify(static_cast<int>(n - 1));  // its fence orders the store before sleepers' count
    inside_job() = true;
    run_item(fn, 0, n);  // fn itself: call_ and context_ lie on the line the workers claim on
    work(job >> kJobShift);
    inside_job() = false;
    done_.wait([&] { return finished_.load(std::memory_order_acquire) == n; }, kWaitSpin);
    if (error_) std::rethrow_exception(error_);
  }

  // Ends the workers past the first `workers`, where a lowered thread count no longer uses them:
  // each would otherwise sleep for the life of the owning thread, holding its stack (after one
  // call on 256 threads, 255 of them). On the owner's thread, between jobs.
  void shrink(int workers) {
    workers = std::max(workers, 0);
    if (static_cast<int>(threads_.size()) <= workers) return;
    keep_.store(workers);
    ticket_.store(++job_ << kJobShift);  // a job with no items wakes every worker
    wake_.notify();
    for (std::size_t i = workers; i < threads_.size(); ++i) threads_[i].join();
    threads_.resize(workers);
  }

  // The worker threads the pool has (they end only in shrink and when the pool goes).
  std::size_t workers() const { return threads_.size(); }

  // The most items a job may have (the ticket's field for them).
  static constexpr Index kMaxItems = 0xffff;

 private:
  // A ticket: the job's number (high 32 bits), its item count (16) and its next unclaimed item
  // (low 16). With the count kept apart from the ticket, a worker still claiming items of the
  // job just finished could read the new job's count with the old job's ticket while the owner
  // was between writing the two, claim an item past the old job's end, and run the new job's
  // item of that number before the new job began (twice, or counted once too often: the owner
  // then waited for ever; seen on 16 threads, and on 2 cores with 16 threads in a loop of jobs
  // of 1 to 16 items).
  static constexpr int kJobShift = 32, kCountShift = 16;
  static constexpr std::uint64_t kField = 0xffff;
  static std::uint64_t job_of(std::uint64_t t) { return t >> kJobShift; }
  static Index count_of(std::uint64_t t) { return Index((t >> kCountShift) & kField); }
  static Index item_of(std::uint64_t t) { return Index(t & kField); }

  // Claims the next item of job `number`; -1 when that job has no item left (or is over). Also
  // gives the job's item count.
  Index claim(std::uint64_t number, Index& count) {
    std::uint64_t t = ticket_.load(std::memory_order_acquire);
    while (job_of(t) == number && item_of(t) < count_of(t)) {
      if (ticket_.compare_exchange_weak(t, t + 1, std::memory_order_acq_rel)) {
        count = count_of(t);
        return item_of(t);
      }
    }
    return -1;
  }

  // Runs items of job `number` until none is left.
  void work(std::uint64_t number) {
    Index count = 0;
    for (Index i; (i = claim(number, count)) >= 0;) run_item(i, count);
  }

  // Runs item i of the job in hand, of `count` items.
  void run_item(Index i, Index count) {
    const auto call = [this](Index item) { call_(context_, item); };
    run_item(call, i, count);
  }
  template <typename Fn>
  void run_item(Fn& fn, Index i, Index count) {
    try {
      fn(i);
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_mutex_);
      if (!error_) error_ = std::current_exception();
    }
    // The owner may return (and fn's data go away) as soon as the last item is counted.
    if (finished_.fetch_add(1, std::memory_order_acq_rel) + 1 == count) done_.notify();
  }

  // A worker starts knowing the last job it need not run: one made while it starts is its to run.
  // It is the pool's worker number `index`, and ends when the pool keeps fewer (shrink).
  //
  // The job is read before whether to end: shrink and the destructor store keep_ or stop_ before
  // their ticket, so a worker that reads their ticket also reads its end. Read the other way
  // round, a shrink between the two reads (its keep_ after the worker's check, its ticket before
  // the worker's read) left the worker asleep waiting for a job after shrink's, and shrink
  // joining it for ever: set_num_threads from one thread while others' calls came and went hung
  // the process (it holds the GIL there).
  void worker(std::uint64_t seen, int index) {
    inside_job() = true;
    for (;;) {
      wake_.wait([&] { return job_of(ticket_.load()) != seen; }, kIdleSpin);
      seen = job_of(ticket_.load());
      if (const int pause = worker_pause_us().load(std::memory_order_relaxed)) {
        std::this_thread::sleep_for(std::chrono::microseconds(pause));
      }
      if (stop_.load() || index >= keep_.load()) return;
      work(seen);
    }
  }

  // Up to `workers` workers. Where the system refuses a thread (its thread limit, or no address
  // space for another stack) the pool stays as it is: whoever is there claims the items, the
  // caller at least, so the job runs on fewer threads instead of failing.
  void grow(int workers) {
    if (static_cast<int>(threads_.size()) >= workers) return;
    keep_.store(std::numeric_limits<int>::max());  // those past an earlier shrink are gone
    const std::uint64_t seen = job_;
    while (static_cast<int>(threads_.size()) < workers) {
      const int index = static_cast<int>(threads_.size());
      try {
        threads_.emplace_back([this, seen, index] { worker(seen, index); });
      } catch (const std::system_error&) {
        return;
      }
    }
  }

 public:
  const unsigned forks = fork_count().load();  // the forks before this pool was made

 private:
  // Laid out by who writes what (each alignas(64) starts a cache line), so that a job's start
  // moves few lines between cores: the owner's (and an item's exception, rare); those workers read
  // at every job, written rarely; the ticket with the job it announces, which a worker reads once
  // it has claimed an item; the count of items done; each Signal's count of sleepers. Measured, 2
  // threads, a stream's step forced to split in two blocks (I=64, H=128, B=1), 0.5 us between
  // steps, four alternations: GRU 2.97-3.15 -> 2.79-2.99 us, LSTM 3.30-3.47 -> 3.10-3.28 us.
  // (Before, a worker's claim on the ticket took from the owner the line that held the pool's fork
  // count, and the count of items done shared a line with the job.)
  std::vector<std::thread> threads_;
  std::uint64_t job_ = 0;  // the last job's number (only the owner makes jobs)
  std::mutex error_mutex_;
  std::exception_ptr error_;
  alignas(64) std::atomic<bool> stop_{false};
  std::atomic<int> keep_{std::numeric_limits<int>::max()};  // workers numbered below this stay
  // The job, written by the owner before it publishes the ticket, read by a worker after it
  // claims an item (so never while the owner writes the next one).
  alignas(64) std::atomic<std::uint64_t> ticket_{0};
  void (*call_)(void*, Index) = nullptr;
  void* context_ = nullptr;
  alignas(64) std::atomic<Index> finished_{0};
  alignas(64) Signal wake_;
  alignas(64) Signal done_;
};

// Pools of Python threads that have ended, kept for threads still to come: a server that starts
// a thread per request (ThreadingHTTPServer) otherwise started and joined a pool's workers for
// every request (2 threads, B=1, T=25, H=256: 406 us a request against 199 from a thread that
// lives on). At most kShelved are kept, idle; the rest are joined as before. Never destroyed (a
// thread may end while static destructors run), so the kept pools' workers stay asleep until the
// process ends.
class PoolShelf {
 public:
  static constexpr std::size_t kShelved = 8;

  std::unique_ptr<Pool> take() {
    std::lock_guard<std::mutex> lock(mutex_);
    while (!pools_.empty()) {
      std::unique_ptr<Pool> pool = std::move(pools_.back());
      pools_.pop_back();
      if (pool->forks == fork_count().load()) return pool;
      (void)pool.release();  // the parent's: it can be neither used nor joined
    }
    return nullptr;
  }

  // Ends the kept pools' workers beyond `workers` each (a lowered thread count: a burst of
  // threads at 8 had left 56 workers asleep on the shelf after the count went to 1).
  void shrink(int workers) {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const auto& pool : pools_) {
      if (pool->forks == fork_count().load()) pool->shrink(workers);
    }
  }

  // Keeps `pool` unless the shelf is full; then it goes (joining its workers).
  void put(std::unique_ptr<Pool> pool) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (pools_.size() < kShelved) {
        pools_.push_back(std::move(pool));
        return;
      }
    }
  }

 private:
  std::mutex mutex_;
  std::vector<std::unique_ptr<Pool>> pools_;
};

// A forked child starts with an empty shelf (the parent's pools are of no use to it).
inline PoolShelf& pool_shelf() { return renewed_at_fork<PoolShelf>(); }

// A thread's pool, handed to the shelf when the thread ends.
struct PoolHolder {
  std::unique_ptr<Pool> pool;
  PoolHolder() = default;
  PoolHolder(const PoolHolder&) = delete;
  PoolHolder& operator=(const PoolHolder&) = delete;
  ~PoolHolder() {
    if (!pool) return;
    if (pool->forks != fork_count().load()) {
      (void)pool.release();  // the parent's: it can be neither used nor joined
      return;
    }
    pool_shelf().put(std::move(pool));
  }
};

// The calling thread's pool: none before its first parallel call, and none again in a forked
// child.
inline std::unique_ptr<Pool>& pool_slot() {
  thread_local PoolHolder holder;
  std::unique_ptr<Pool>& pool = holder.pool;
  if (pool && pool->forks != fork_count().load()) {
    (void)pool.release();  // its threads are the parent's: it can be neither used nor joined
  }
  return pool;
}

// The calling thread's pool: a kept one where there is one (see PoolShelf), else a new one.
inline Pool& this_threads_pool() {
  std::unique_ptr<Pool>& pool = pool_slot();
  if (!pool) pool = pool_shelf().take();
  if (!pool) pool = std::make_unique<Pool>();
  return *pool;
}

}  // namespace fastlstm
