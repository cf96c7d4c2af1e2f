// C += A * B for the few rows of a recurrent step (n = batch rows per thread, typically <= 16),
// and, with 32 vector registers, for the many rows of an input projection from K in panels
// (sequence.hpp's project_panels, which has C = b + A * B: the `init` row).
//
// Eigen's GEMM packs B into a blocked copy on every call. For a recurrent step B is the whole
// recurrent kernel R (H, G*H) and A has only a handful of rows, so that copy costs as much as the
// product. Here B is read where it lies: for a strip of columns, each row of B is loaded once into
// registers and multiplied with every row of A (broadcast), so B streams from cache exactly once
// per call and nothing is copied. Written with Eigen's packet primitives, so each ISA module gets
// its own vector width (SSE, AVX2, AVX-512, NEON).
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "fastlstm/types.hpp"

namespace fastlstm {

// Packet types (__m256 and the like) are template arguments below; GCC warns that their
// attributes (alignment, may_alias) take no part in a template's identity, which nothing here
// relies on. Eigen silences the same warning inside its own headers.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wignored-attributes"
#endif

namespace small_gemm_detail {

using Eigen::internal::padd;
using Eigen::internal::pload1;
using Eigen::internal::ploadu;
using Eigen::internal::pmadd;
using Eigen::internal::pset1;
using Eigen::internal::pstoreu;

template <typename T>
using Packet = typename Eigen::internal::packet_traits<T>::type;
// Packet P's lanes, and the packet half as wide (P itself where the ISA has none narrower).
template <typename P>
constexpr int kSize = Eigen::internal::unpacket_traits<P>::size;
template <typename P>
using Half = typename Eigen::internal::unpacket_traits<P>::half;
template <typename T>
constexpr int kLanes = kSize<Packet<T>>;  // the widest packet's

// a * b + c rounded as one vector lane of pmadd rounds it: fused where the ISA fuses (FMA, NEON
// on aarch64), else twice. So an element of C gets the same bits whether it falls in a vector
// strip or in the scalar tail, and results do not depend on how rows and columns are split.
template <typename T>
inline T madd(T a, T b, T c) {
#if defined(__FMA__) || defined(__ARM_FEATURE_FMA)
  return std::fma(a, b, c);
#else
  return a * b + c;
#endif
}

// Keeps a loaded packet in a register. Without it GCC folds the load into every row's FMA as a
// memory operand, so that a block of MR rows loads each packet of B MR times: measured, one
// thread, B from L2, 2 rows 1.76x and 3 rows 1.55x faster with it; one row (a single use)
// 0.92x, so blocks of one row leave the load to the compiler.
template <typename P>
inline void in_register(P& p) {
  if constexpr (std::is_arithmetic_v<P>) {
    (void)p;  // a scalar "packet" (no SIMD: i386 without SSE, say): no vector register for it
  } else {
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
    __asm__("" : "+v"(p));
#elif defined(__GNUC__) && defined(__aarch64__)
    __asm__("" : "+w"(p));
#else
    (void)p;
#endif
  }
}

// Rows of B a block of one row asks the cache for ahead of its loads: kPrefetchBytes of its
// strip. The hardware prefetchers alone left that product (bound by how fast B arrives) short of
// the cache's rate: measured, one thread, B 512 KiB and 768 KiB from L2 1.00-1.06x faster with
// it, 2 MiB from L3 1.16-1.19x. Blocks of more rows (strips narrower than a panel, bound by
// the FMAs sooner) measured 1.3-2x slower with it.
constexpr int kPrefetchBytes = 2048;

inline void prefetch(std::uintptr_t address) {
  prefetch_line(reinterpret_cast<const void*>(address));
}

// C[0:MR, 0:NP*L] += A[0:MR, 0:K] * B[0:K, 0:NP*L], L the lanes of packet P (the widest by
// default); MR*NP accumulators stay in registers. With `init`, C = init + A*B instead, init one
// row (NP*L values) for every row of C: C is written, not read, and each element gets the bits
// it would from C set to init first.
template <int MR, int NP, typename T, typename P = Packet<T>>
inline void block(const T* A, Index lda, const T* B, Index ldb, T* C, Index ldc, Index K,
                  const T* init) {
  constexpr int L = kSize<P>;
  constexpr int kStripBytes = NP * L * int(sizeof(T));
  constexpr Index kAhead = MR == 1 ? std::max(1, kPrefetchBytes / kStripBytes) : 0;
  P acc[MR][NP];
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NP; ++j) acc[i][j] = pset1<P>(T(0));
  for (Index k = 0; k < K; ++k) {
    if constexpr (kAhead > 0) {
      // An address, not a pointer into B: past B's last rows a prefetch is only a wasted hint.
      const std::uintptr_t ahead =
          reinterpret_cast<std::uintptr_t>(B + k * ldb) + std::uintptr_t(kAhead * ldb) * sizeof(T);
      for (int off = 0; off < kStripBytes; off += 64) prefetch(ahead + off);  // a line each
    }
    P b[NP];
    for (int j = 0; j < NP; ++j) {
      b[j] = ploadu<P>(B + k * ldb + j * L);
      if constexpr (MR > 1) in_register(b[j]);
    }
    for (int i = 0; i < MR; ++i) {
      const P a = pset1<P>(A[i * lda + k]);
      for (int j = 0; j < NP; ++j) acc[i][j] = pmadd(a, b[j], acc[i][j]);
    }
  }
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NP; ++j) {
      T* c = C + i * ldc + j * L;
      pstoreu(c, padd(ploadu<P>(init ? init + j * L : c), acc[i][j]));
    }
}

// Rows [0, MR) of C over the last N columns, fewer than a packet of P: a strip of P's half
// packet where it fits, then of its half, and so on; the last columns (fewer than the narrowest
// packet) as scalars, each an independent sum over k in order, as a vector lane sums it (the
// same bits), over contiguous loads. Measured, one thread, B=16 and 40, T=20: a GRU of H=100
// (300 columns, 12 past the last full AVX-512 packet) 170-172 GFLOP/s with the narrower packets
// against 109 with scalars only (H=96 and 200: 200-212); same-process A/B of the LSTM forward,
// H=75 1.24x, H=98 1.12x, B=1 and H=100 on 2 threads 1.10x. Before that each of those columns was
// a chain of K dependent FMAs down a strided column: a unit split of H=512 on 3 threads (12 such
// columns a block) ran 2.66x slower.
template <int MR, typename P, typename T>
inline void tail(const T* A, Index lda, const T* B, Index ldb, T* C, Index ldc, Index K, Index N,
                 const T* init) {
  using H = Half<P>;
  if constexpr (kSize<H> < kSize<P>) {
    Index c = 0;
    if (N >= kSize<H>) {
      block<MR, 1, T, H>(A, lda, B, ldb, C, ldc, K, init);
      c = kSize<H>;
    }
    tail<MR, H>(A, lda, B + c, ldb, C + c, ldc, K, N - c, init ? init + c : nullptr);
  } else if (N > 0) {
    T sum[MR][kSize<P>] = {};
    for (Index k = 0; k < K; ++k) {
      const T* b = B + k * ldb;
      for (int i = 0; i < MR; ++i) {
        const T a = A[i * lda + k];
        for (Index j = 0; j < N; ++j) sum[i][j] = madd(a, b[j], sum[i][j]);
      }
    }
    for (int i = 0; i < MR; ++i)
      for (Index j = 0; j < N; ++j) C[i * ldc + j] = (init ? init[j] : C[i * ldc + j]) + sum[i][j];
  }
}

// Rows [0, MR) of C over all N columns: strips of NP packets, the rest in strips half as wide
// (so that a narrow slice still keeps several accumulators busy), the last columns in tail().
template <int MR, int NP, typename T>
inline void rows(const T* A, Index lda, const T* B, Index ldb, T* C, Index ldc, Index K, Index N,
                 const T* init) {
  constexpr int L = kLanes<T>;
  const auto at = [init](Index c) { return init ? init + c : nullptr; };
  Index c = 0;
  for (; c + NP * L <= N; c += NP * L) block<MR, NP>(A, lda, B + c, ldb, C + c, ldc, K, at(c));
  if constexpr (NP > 1) {
    rows<MR, NP / 2>(A, lda, B + c, ldb, C + c, ldc, K, N - c, at(c));
  } else if (c < N) {
    tail<MR, Packet<T>>(A, lda, B + c, ldb, C + c, ldc, K, N - c, at(c));
  }
}

}  // namespace small_gemm_detail

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

// Packets per strip: enough accumulators to hide the FMA latency, few enough to stay in the
// vector registers (32 with AVX-512, 16 with AVX2, SSE and NEON).
constexpr int kStrip = EIGEN_ARCH_DEFAULT_NUMBER_OF_REGISTERS >= 32 ? 4 : 2;
// Packets per strip where a call has exactly 8 rows (a batch split's 8 rows a thread): with 32
// registers 8 x 3 accumulators and 3 loads of B (28 registers; 11 loads for 24 FMAs where 8 x 2
// has 10 for 16), read from panels of that strip's width (panel_for). Measured on a Sapphire
// Rapids VM, one thread, 8 x 256 by 256 x 1024 (B from L2): 166-175 GFLOP/s against 132-147 for
// 8 x 2 from panels of 128 columns, 152-162 from panels of 32; in the library, 2 threads,
// alternating processes (the same bits), B=16, T=50, I=128, H=256 inference 0.94-0.96x the time
// (GRU 0.97x), its training step 0.985x. Only where N is whole strips of 3 packets (a panel of
// that width): in wider panels (a walk packed by length, panel_for) 8 rows keep 8 x 2 blocks,
// whose 2-packet strips fill them. Where rows are left over, their blocks would read such
// narrow panels in strips too narrow to keep their accumulators busy (B=20, 10 rows a thread, ran
// 1.09-1.12x slower with 8 x 3 blocks and panels of 48 columns): blocks of 8 in calls of more
// rows keep kStrip/2 packets (with 32 registers, only calls narrower than a strip of kStrip
// packets take them; wider ones take blocks of 5 to 7 rows, see small_gemm).
constexpr int kEightStrip = kStrip == 4 ? 3 : kStrip / 2;

namespace small_gemm_detail {
// All n = 5, 6 or 7 rows of C in one block of kStrip packets (32 vector registers only). At 7
// rows 28 accumulators and 4 packets of B leave no register for A's broadcast: GCC keeps one
// accumulator on the stack, and the block still beats 4 + 3 rows (see small_gemm).
template <typename T>
inline void one_block(Index n, const T* A, Index lda, const T* B, Index ldb, T* C, Index ldc,
                      Index K, Index N, const T* init) {
  if constexpr (kStrip == 4) {
    if (n == 5) rows<5, kStrip>(A, lda, B, ldb, C, ldc, K, N, init);
    if (n == 6) rows<6, kStrip>(A, lda, B, ldb, C, ldc, K, N, init);
    if (n == 7) rows<7, kStrip>(A, lda, B, ldb, C, ldc, K, N, init);
  }
}
}  // namespace small_gemm_detail

// C (n, N) += A (n, K) * B (K, N); row-major, row strides lda, ldb, ldc. With `init` (N values),
// C = init + A * B, init added to every row (see block). Blocks of 8 rows x
// kStrip/2 packets (each B load feeds 8 rows; kEightStrip where n is 8), then 4 x kStrip; fewer
// rows take wider strips so that the accumulator count stays up. With 32 vector registers and a
// strip of kStrip packets in N: 5 to 7 rows as one block (20 to 28 accumulators; one pass over
// B where 4 + 1, 4 + 2 and 4 + 3 take two, the second with too few accumulators to keep the
// FMAs busy), and from 9 rows blocks of 6 rows x kStrip packets first (24 accumulators, 10 loads
// for 24 FMAs where 8 x 2 has 10 for 16), the 1 or 5 rows left over as a last block of 7 (6 + 1)
// or 5 (11 rows: 6 + 5). Each element's sum runs over k in order in any block: the same bits
// however the rows are blocked. Measured on a Sapphire Rapids VM, 2 threads, alternating
// processes: 6-row blocks against 8-row blocks throughout, B=256, T=100, I=256, H=512 inference
// 0.88-0.99x the time (GRU 0.92-0.99x), B=64, T=50, I=128, H=256 0.91-0.98x, B=32, T=50, I=128,
// H=512 0.89-0.91x, training steps B=64, T=50, I=64, H=128 0.89-0.96x, B=32, T=100, I=128, H=512
// 0.91-1.00x (GRU 1.00-1.03x); B=24 and B=16, H=64 and 256, within noise either way; a batch
// split's 9 and 10 rows a thread (6 + 3, 6 + 4) against 8 + 1 and 8 + 2: B=18 and 20, T=50,
// I=128, H=256 0.92x and 0.94x (GRU B=20 0.96x, the training step at B=20 0.975x), a unit
// split's blocks of all B=9 and 10 rows 0.91x and 0.97x. Later, one block of 5 to 7 rows and the
// last blocks of 7 and 5, against 4 + 1 ... 4 + 3, 6 + 6 + 1 and 8 + 3: a unit split's B=5 and 6
// rows (T=50, I=128, H=256) 0.81-0.85x and 0.87-0.89x (GRU B=6 0.89x, the LSTM's training step
// 0.95x), B=7 and 13 at T=30, H=512 0.93x and 0.94x; a batch split's 11 rows a thread (B=22)
// 0.93-0.97x; B=16 (8 rows a thread), B=1 at I=H=512 and the training step of B=64, T=50, I=64,
// H=128 (blocks unchanged) level. The Xeon and EPYC VMs of the earlier runs were not at hand.
template <typename T>
void small_gemm(Index n, Index N, Index K, const T* A, Index lda, const T* B, Index ldb, T* C,
                Index ldc, const T* init = nullptr) {
  using namespace small_gemm_detail;
  Index r = 0;
  const bool wide = kStrip == 4 && N >= kStrip * kLanes<T>;
  if (wide && n >= 5 && n <= 7) return one_block(n, A, lda, B, ldb, C, ldc, K, N, init);
  if (wide && n >= 9) {
    const Index left = n % 6;
    for (const Index sixes = n - left - (left == 1 ? 6 : 0); r < sixes; r += 6)
      rows<6, kStrip>(A + r * lda, lda, B, ldb, C + r * ldc, ldc, K, N, init);
    if (left == 1 || left == 5) {
      return one_block(n - r, A + r * lda, lda, B, ldb, C + r * ldc, ldc, K, N, init);
    }
  }
  if (n == 8 && N % (kEightStrip * kLanes<T>) == 0) {
    rows<8, kEightStrip>(A, lda, B, ldb, C, ldc, K, N, init);
    r = 8;
  }
  for (; r + 8 <= n; r += 8)
    rows<8, kStrip / 2>(A + r * lda, lda, B, ldb, C + r * ldc, ldc, K, N, init);
  for (; r + 4 <= n; r += 4)
    rows<4, kStrip>(A + r * lda, lda, B, ldb, C + r * ldc, ldc, K, N, init);
  switch (n - r) {
    case 3:
      rows<3, kStrip>(A + r * lda, lda, B, ldb, C + r * ldc, ldc, K, N, init);
      break;
    case 2:
      rows<2, 2 * kStrip>(A + r * lda, lda, B, ldb, C + r * ldc, ldc, K, N, init);
      break;
    case 1:
      rows<1, 4 * kStrip>(A + r * lda, lda, B, ldb, C + r * ldc, ldc, K, N, init);
      break;
    default:
      break;
  }
}

// Whether step_product takes small_gemm for n rows: where it measured faster than Eigen's GEMM
// (with 32 vector registers up to 64 rows; with 16, for 2 to 4 rows).
inline bool small_rows(Index n) { return kStrip == 4 ? n <= 64 : (n >= 2 && n <= 4); }

// The columns of the strips small_gemm reads B in for n rows: those of its first blocks, but
// where blocks of 6 rows x 4 packets come first (from 9 rows, 32 registers) the 2-packet strips
// of 8-row blocks, half as wide. A copy of B in panels this wide (panels.hpp) reads each
// strip as one sequential stream, where a strip narrower than its panel reads short runs a panel
// row apart. Measured, one thread, B (512 KiB, from L2) in panels of a strip's width against panels
// of 256 columns: 2 rows 1.8x faster, 3 rows 1.6x, 4 rows 1.0-1.3x.
template <typename T>
Index strip_columns(Index n) {
  const int packets = n == 8   ? kEightStrip
                      : n >= 8 ? kStrip / 2
                      : n >= 3 ? kStrip
                      : n == 2 ? 2 * kStrip
                               : 4 * kStrip;
  return packets * small_gemm_detail::kLanes<T>;
}

// With 32 vector registers, small_gemm also takes more rows where B is at most this many bytes:
// B then stays in L2 while each block of 8 rows reads it once, and Eigen's GEMM would copy both
// operands on every call. Such a B is a core's share of R in a unit split on many threads, at B
// of 96 rows and more. Measured, one thread, B contiguous, 96 to 256 rows: 64 to 512 KiB
// 1.16-1.27x faster than Eigen's GEMM on a Xeon (2.04x at 128 rows), 1.11-1.19x on an EPYC; 1 and
// 4 MiB 0.79-0.86x on the EPYC.
constexpr double kSmallGemmBytes = 512 << 10;

// c += a * b on strided windows: small_gemm for small_rows(a.rows()) or a small enough b, Eigen's
// GEMM elsewhere. With `init` (b.cols() values), c = init + a * b, init added to every row: the
// bits of c set to init first, which Eigen's GEMM does (it adds its product to c) and small_gemm
// does as it stores its sums.
template <typename A, typename B, typename C, typename T = typename std::decay_t<B>::Scalar>
void step_product(const A& a, const B& b, C&& c, const T* init = nullptr) {
  const Index n = a.rows();
  if (small_rows(n) ||
      (kStrip == 4 && double(b.rows()) * b.cols() * sizeof(T) <= kSmallGemmBytes)) {
    small_gemm(n, b.cols(), a.cols(), a.data(), a.outerStride(), b.data(), b.outerStride(),
               c.data(), c.outerStride(), init);
  } else {
    if (init) c.rowwise() = row_vector(init, c.cols());
    c.noalias() += a * b;
  }
}

}  // namespace fastlstm
