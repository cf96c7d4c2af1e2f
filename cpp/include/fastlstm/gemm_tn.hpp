// C += A^T * D over a long inner dimension: the weight gradients' sums over every timestep's row
// (dK += X^T dZ, dR += H_prev^T dZ, rows = T*B), a thread's columns of D at a time.
//
// Eigen's GEMM blocks such a product well but runs 4-column tiles of 3 packets (12 of the 32
// vector registers as accumulators). Here small_gemm's blocks of 6 rows x 4 packets (24) run
// over copies laid out for them: a block of D's rows in panels one block strip wide (each read
// from L1 by every 6 rows of C; D's own rows are G*H values apart, often a multiple of 4 KiB,
// which maps a strip's rows onto the same few cache sets), A's rows of that block transposed, and
// a compact copy of C (C's rows are G*H apart too) that the blocks add to, copied back at the end.
#pragma once

#include <algorithm>
#include <initializer_list>

#include "fastlstm/blocks.hpp"
#include "fastlstm/small_gemm.hpp"
#include "fastlstm/types.hpp"

namespace fastlstm {

// out (n values) += the column sums of a (rows, n) row-major block, summed row after row, each
// row one contiguous stream. Eigen's colwise().sum() walked such a block column by column: 7% of
// a backward at B=64, T=50, I=64, H=128 on one thread.
template <typename A, typename T>
void add_column_sums(const A& a, T* out) {
  Matrix<T> sum = Matrix<T>::Zero(1, a.cols());
  for (Index r = 0; r < a.rows(); ++r) sum += a.row(r);
  map(out, 1, a.cols()) += sum;
}

// A left operand and where its product goes: C (m, N) += A^T D, A (rows, m) with rows lda apart,
// C's rows ldc apart (both pointers at the columns of the call: C's first column matches D's).
template <typename T>
struct TnOperand {
  const T* a;
  Index lda, m;
  T* c;
  Index ldc;
};

// Rows of D a block takes: a panel of them (kTnRows x 4 packets, 16 KiB of float with AVX-512)
// stays in L1 while every block of 6 rows of C reads it. Blocks of 64, 96 and 128 rows measured
// level (0.99-1.01x the backward's time, 2 threads, B=32, T=100, I=128, H=512 and B=128, T=50,
// H=256) on a 48 KiB L1; 64 leaves half of a 32 KiB L1 (Skylake-SP, Zen 4) to A's rows and C.
constexpr Index kTnRows = 64;
// At most this many bytes of C's compact copy: wider calls go by groups of columns (each group
// transposing A's rows again).
constexpr double kTnSumBytes = 4 << 20;

// Where gemm_tn's copies pay: rows (B*T) and C's rows (all operands') both many. Measured on a
// Sapphire Rapids VM, 2 threads, backward alone in one process alternating with Eigen's GEMM:
// C of 640 rows (I=128, H=512: an LSTM's dK and dR stacked) 0.93-0.96x the time over 1,600 to
// 3,200 rows, 0.95-0.99x over 800; of 384 rows (H=256) 0.95-0.98x over 1,600 to 6,400 rows,
// 1.00-1.035x over 800, 1.05-1.09x over 400; a GRU's separate dK and dR of 128 and 256 rows
// 1.00-1.05x over 1,600 to 3,200 rows; 1,024 rows of C (I=H=512) 1.09x over 200 rows, 1.13-1.27x
// over 25. D's copy serves all of C's rows and C's copy all of D's rows: with few of either, the
// copies cost more than the blocks gain.
constexpr Index kTnMinRows = 1024, kTnMinProducts = 384;

// For every operand, C += A^T D over D's columns [0, N) (d points at the first, rows ldd apart),
// all `rows` rows; the operands share D's copy. With colsums (N values), colsums += D's column
// sums too, row by row in order (add_column_sums's bits). From the copies, each column's sums run
// over blocks of kTnRows rows in order, each block's over k in order: the same bits whichever
// columns a call takes, so however a caller splits the columns over threads.
template <typename T>
void gemm_tn(Index rows, Index N, const T* d, Index ldd, std::initializer_list<TnOperand<T>> ops,
             T* colsums = nullptr) {
  Index M = 0;  // C's rows, all operands stacked
  for (const auto& op : ops) M += op.m;
  if (rows == 0 || N == 0) return;
  if (kStrip != 4 || rows < kTnMinRows || M < kTnMinProducts) {  // Eigen's GEMM
    const auto D = map(d, rows, N, ldd);
    for (const auto& op : ops)
      map(op.c, op.m, N, op.ldc).noalias() += map(op.a, rows, op.m, op.lda).transpose() * D;
    if (colsums) add_column_sums(D, colsums);
    return;
  }
  constexpr Index W = kStrip * small_gemm_detail::kLanes<T>;  // a panel: one block strip
  const Index kc = std::min(kTnRows, rows);
  const Index fit = static_cast<Index>(kTnSumBytes / (double(sizeof(T)) * M));  // M >= 384 here
  const Index nc = std::min(N, std::max(W, fit / W * W));
  Buffer<T> at(M * kc), panels(kc * nc), c_copy(M * nc), column_sums(nc);
  for (Index g0 = 0; g0 < N; g0 += nc) {
    const Index n = std::min(nc, N - g0);
    // C's columns [g0, g0 + n) of every operand into the compact copy, panel by panel, and back
    // once every block of rows has added its products.
    const auto each_panel = [&](auto&& fn) {
      Index r = 0;  // the operand's first row in the stack
      for (const auto& op : ops) {
        for (Index p = 0; p < n; p += W) {
          const Index w = std::min(W, n - p);
          fn(map(op.c + g0 + p, op.m, w, op.ldc), map(c_copy.data() + p * M + r * w, op.m, w));
        }
        r += op.m;
      }
    };
    each_panel([](auto c, auto copy) { copy = c; });
    std::fill_n(column_sums.data(), n, T(0));
    for (Index k0 = 0; k0 < rows; k0 += kc) {
      const Index kb = std::min(kc, rows - k0);
      Index r = 0;  // the operand's first row in the stack
      for (const auto& op : ops) {
        map(at.data() + r * kb, op.m, kb) = map(op.a + k0 * op.lda, kb, op.m, op.lda).transpose();
        r += op.m;
      }
      // Panel p (from column p, all before it W wide) is (kb, w), at panels + p * kb.
      for (Index k = 0; k < kb; ++k) {
        const T* row = d + (k0 + k) * ldd + g0;
        for (Index p = 0; p < n; p += W) {
          const Index w = std::min(W, n - p);
          std::copy(row + p, row + p + w, panels.data() + p * kb + k * w);
        }
        if (colsums) map(column_sums.data(), 1, n) += map(row, 1, n);
      }
      for (Index p = 0; p < n; p += W) {
        const Index w = std::min(W, n - p);
        small_gemm(M, w, kb, at.data(), kb, panels.data() + p * kb, w, c_copy.data() + p * M, w);
      }
    }
    each_panel([](auto c, auto copy) { c = copy; });
    if (colsums) map(colsums + g0, 1, n) += map(static_cast<const T*>(column_sums.data()), 1, n);
  }
}

}  // namespace fastlstm
