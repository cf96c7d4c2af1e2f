// The sequence walk's backward (see sequence.hpp for the walk and its buffers): per step only the
// serial part, dZ_t and dh_{t-1} from the cell; then dX, dK, dR and db as single GEMMs over all
// timesteps (dK and dR by gemm_tn.hpp's blocks where they pay), or, where that pays, summed by
// blocks of rows (grads_by_rows).
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <tuple>
#include <vector>

#include "fastlstm/gemm_tn.hpp"
#include "fastlstm/sequence.hpp"

namespace fastlstm {

// The serial part of backward for batch entries [b0, b0 + n): dZ_t (and dZr_t, the recurrent
// side, where the cell has a separate one) for every step, and the running dh, dc, which end as
// dL/dh0 and dL/dc0. Also gathers h_{t-1} into h_prev (⊙ the recurrent mask: dR's operand),
// for peepholes c_{t-1} into c_prev_all, and for a projection dL/dh_t into dh_all (each nullptr
// when not wanted), rows in dZ's order, so that dR and the peephole and projection gradients are
// single reductions afterwards. recurrent_t is R^T, (G*H, P), in column panels (transposed_panels);
// projection_t is W_p^T, (P, H), or nullptr. Steps go from T - 1 down to 0, one call each.
template <typename Cell, typename T>
class BackwardSteps {
 public:
  BackwardSteps(const SeqShape& s, const Weights<T>& w, const Panels<T>& recurrent_t,
                const T* projection_t, const BackwardBuffers<T>& buf, T* dz_all, T* dzr_all,
                T* h_prev, T* c_prev_all, T* dh_all, Index b0, Index n)
      : s_(s),
        w_(w),
        recurrent_t_(recurrent_t),
        projection_t_(projection_t),
        buf_(buf),
        dz_all_(dz_all),
        dzr_all_(dzr_all),
        h_prev_(h_prev),
        c_prev_all_(c_prev_all),
        dh_all_(dh_all),
        b0_(b0),
        all_(n),
        product_(buf.recurrent_mask ? n : 0, s.state_width()),
        dh_t_(n, s.state_width()),
        kept_(buf.mask && kCell ? n : 0, s.H),
        dm_(projection_t ? n : 0, s.H) {
    const Index P = s.state_width(), H = s.H;
    auto dh = map(buf.dh0 + b0 * P, n, P);  // dL/dh_t from the steps after t
    auto dc = kCell ? map(buf.dc0 + b0 * H, n, H) : no_state<T>(n);  // dL/dc_t
    if (buf.dh_last)
      dh = map(buf.dh_last + b0 * P, n, P);
    else
      dh.setZero();
    if (kCell && buf.dc_last)
      dc = map(buf.dc_last + b0 * H, n, H);
    else
      dc.setZero();
  }

  // Step t. With `product`, dL/dh_{t-1} gets dZr_t * R^T (⊙ the recurrent mask) here; without
  // it the cell leaves that term out, and the caller adds it for every row before step t - 1
  // (backward_by_units). A masked row's dZ_t is zero by then, so the caller's product adds
  // nothing to the dh it carried. `phase` (a cell of phases, without `product`): only that
  // phase of the step, the caller taking the phase's product (Cell::backward_gates) before the
  // next; -1: the whole step.
  void step(Index t, bool product, int phase = -1) {
    const SeqShape& s = s_;
    const BackwardBuffers<T>& buf = buf_;
    const Index H = s.H, P = s.state_width(), GH = Cell::kGates * s.H, SH = Cell::kSaved * s.H;
    // In the packed order, the rows still running at step t (the first ones); the others carry
    // their dh and dc back unchanged.
    const Index b0 = b0_, n = s.rows_at(t, b0, all_);
    if (n == 0) return;
    const bool reverse = t % 2 == 1;  // R^T's panels in alternating directions (panel_product)
    const auto rec_t = [&](const auto& d, Index g0, Index ng, auto out) {
      if (!product) return;
      // Gate blocks [g0, g0 + ng) of R are rows [g0*H, (g0 + ng)*H) of every panel of R^T.
      Panels<T> Rt = recurrent_t_;
      Rt.data += g0 * H * recurrent_t_.ld;
      if (!buf.recurrent_mask) return panel_product(d, Rt, ng * H, 0, P, out, reverse);
      product_.setZero();  // dL/d(h_{t-1} ⊙ mask), then the mask's factor
      panel_product(d, Rt, ng * H, 0, P, map(product_.data(), d.rows(), P), reverse);
      out += product_.topRows(d.rows()).cwiseProduct(map(buf.recurrent_mask + b0 * P, d.rows(), P));
    };
    const auto masked = [&](Index r) { return !valid(buf.mask, s, b0 + r, t); };
    auto dh = map(buf.dh0 + b0 * P, n, P);
    auto dc = kCell ? map(buf.dc0 + b0 * H, n, H) : no_state<T>(n);
    auto dh_t = map(dh_t_.data(), n, P);
    if (phase <= 0) {  // dL/dh_t, before the cell's first phase overwrites dh
      dh_t = dh;
      if (buf.dy) dh_t += s.step(buf.dy, P, t, b0, n);
      if (kCell && buf.dc_all) dc += s.step(buf.dc_all, H, t, b0, n);  // c_t read as an output
      for (Index r = 0; buf.mask && r < n; ++r) {
        if (!masked(r)) continue;
        if (buf.zero_masked) dh_t.row(r) = dh.row(r);  // a zero output has no gradient
        if (kCell) kept_.row(r) = dc.row(r);
      }
    }
    const auto hp = t == 0 ? map(buf.h0 + b0 * P, n, P) : s.step(buf.y, P, t - 1, b0, n);
    const auto c_prev = !kCell   ? no_state<const T>(n)
                        : t == 0 ? map(buf.c0 + b0 * H, n, H)
                                 : s.step(buf.c_all, H, t - 1, b0, n);
    const auto c = kCell ? s.step(buf.c_all, H, t, b0, n) : no_state<const T>(n);
    auto dz = s.step(dz_all_, GH, t, b0, n);
    auto dzr = s.step(dzr_all_, GH, t, b0, n);
    if (projection_t_ && phase <= 0) {
      dm_.topRows(n).setZero();
      step_product(dh_t, map(projection_t_, P, H), map(dm_.data(), n, H));
    }
    const T* dh_cell = projection_t_ ? dm_.data() : dh_t_.data();
    const StepBackward<T> cell{s.step(buf.gates, SH, t, b0, n),
                               hp,
                               c_prev,
                               c,
                               map(dh_cell, n, H),
                               dc,
                               dz,
                               dzr,
                               dh,
                               w_.peephole,
                               w_.clip};
    if constexpr (Cell::kPhases > 1) {
      if (phase >= 0) {
        Cell::backward_phase(cell, rec_t, phase);
        if (phase < Cell::kPhases - 1) return;
      } else {
        Cell::backward(cell, rec_t);
      }
    } else {
      Cell::backward(cell, rec_t);
    }
    // A masked step passed its state through unchanged: its gradients do too.
    for (Index r = 0; buf.mask && r < n; ++r) {
      if (!masked(r)) continue;
      dz.row(r).setZero();
      dzr.row(r).setZero();
      dh.row(r) = dh_t.row(r);
      if (kCell) dc.row(r) = kept_.row(r);
    }
    if (buf.recurrent_mask)
      s.step(h_prev_, P, t, b0, n) = hp.cwiseProduct(map(buf.recurrent_mask + b0 * P, n, P));
    else
      s.step(h_prev_, P, t, b0, n) = hp;
    if (projection_t_) {  // dL/dh_t where the projection made h_t (a masked step did not)
      auto d = s.step(dh_all_, P, t, b0, n);
      d = dh_t;
      for (Index r = 0; buf.mask && r < n; ++r) {
        if (masked(r)) d.row(r).setZero();
      }
    }
    if constexpr (kCell) {
      if (c_prev_all_) s.step(c_prev_all_, H, t, b0, n) = c_prev;
    }
  }

 private:
  static constexpr bool kCell = Cell::kHasCell;
  const SeqShape& s_;
  const Weights<T>& w_;
  const Panels<T>& recurrent_t_;
  const T* projection_t_;
  const BackwardBuffers<T>& buf_;
  T *dz_all_, *dzr_all_, *h_prev_, *c_prev_all_, *dh_all_;
  Index b0_, all_;
  Matrix<T> product_, dh_t_, kept_;
  Matrix<T> dm_;  // dL/d(the cell's h_t), before the projection
};

// The threads that take the products dL/dh_{t-1} += dZr_t R^T of backward's steps by hidden
// units, as forward splits a step (unit_threads), where nothing else in a step needs all its
// units between the products (recurrent dropout's mask scales each unit's column of the
// product, which a block applies to its own; a projection's step reads dL/dh_t whole, after the
// products of step t + 1; a padded batch's valid steps, packed, carry no mask; under a mask with
// gaps a masked row's dZ_t is zero, and its carried dh gets nothing from the products; the
// reset-before GRU's dr needs dn R_h^T of every unit, so its step is two phases, each with its
// product); and R of at least kMinBackwardUnitBytes: a backward step meets twice (a phase, a
// cell of phases) where forward's meets once. Measured
// in alternating processes, 2 threads, against the batch split: LSTM training steps at I=64,
// B=1, T=200, H=64, 96, 128 (R 64 to 256 KiB) 0.89x, 0.92x, 0.98x, B=2, T=100, H=96 0.86x; at
// H=512 (4 MiB) B=1 1.50x, B=4 and 8 1.36x and 1.27x; the same under recurrent dropout B=1,
// T=25, I=512 1.53x, B=4, T=50, I=128 1.54x, B=8 1.28x, B=32, T=100 1.07x (GRU, B=2 1.47x);
// with a projection to P=256 (R 2 MiB) B=1 1.18x, B=4 1.15x, H=1024, P=512, B=8 1.15x, B=32
// 0.99x. Under a mask with gaps (a fifth of the steps masked at random), on a Xeon (2 MiB L2),
// whole training steps against the batch split, which a mask took before: LSTM B=1, T=100,
// I=128, H=512 1.70x, T=25, I=512 1.46x, B=4 and 8 (T=50, I=128) 1.36x and 1.12x, B=16 1.07x,
// B=32 0.99x, B=2, T=100, I=64, H=256 1.06x; GRU B=2, T=100, I=128, H=512 1.55x. The
// reset-before GRU, its two phases split against the batch split there (four meetings a step):
// B=1, T=100, I=128, H=512 2.20x, B=4, 8, 16, 32 (T=50) 1.46x, 1.24x, 1.10x, 1.03x; H=256 (768
// KiB), I=64, T=100, B=1 1.09x, B=2 0.98x; under a mask with gaps, B=2, H=512 1.68x. 1: none.
constexpr double kMinBackwardUnitBytes = 512 << 10;
template <typename Cell, typename T>
int backward_units(const SeqShape& s) {
  const Index P = s.state_width(), GH = Cell::kGates * s.H;
  const double bytes = double(P) * GH * sizeof(T);
  if (bytes < kMinBackwardUnitBytes) return 1;
  const double flops = 2.0 * s.T * s.B * P * GH;
  return unit_threads(s.B, threads_for(s.B * P, flops), bytes, Cell::kGates);
}

// Backward's steps with their products split by hidden units over `units` threads: at each
// step the walks of the chunks of rows (`ends`, one BackwardSteps each, made by walk(b0, b1))
// compute their rows' dZ_t, then each thread adds dZr_t R^T for every running row and its own
// block of units, reading its share of R^T alone, where a batch split reads all of R^T in every
// thread; two meetings a step (a cell of phases: two a phase, each phase's product taking its
// gate blocks of dZ_t and R^T, Cell::backward_gates). Blocks of units start at whole panels of
// R^T where it has several. Under recurrent dropout each block's product goes through a buffer
// of its own first, then into dL/dh_{t-1} times the mask's columns of the block, as
// BackwardSteps adds it.
template <typename Cell, typename T, typename Walk>
void backward_by_units(const SeqShape& s, const BackwardBuffers<T>& buf,
                       const std::vector<Index>& ends, int units, Walk&& walk,
                       const Panels<T>& recurrent_t, const T* dzr) {
  const Index P = s.state_width(), GH = Cell::kGates * s.H;
  const Index chunks = Index(ends.size()) - 1;
  const Index width = recurrent_t.width < P ? recurrent_t.width : 1;
  std::vector<Index> unit_ends(units + 1, P);
  for (int k = 0; k < units; ++k)
    unit_ends[k] = std::min(P, (P * k / units + width / 2) / width * width);
  std::vector<std::optional<BackwardSteps<Cell, T>>> walks(chunks);
  std::vector<Matrix<T>> products(buf.recurrent_mask ? units : 0);  // (B, m), block k's
  for (std::size_t k = 0; k < products.size(); ++k)
    products[k].resize(s.B, unit_ends[k + 1] - unit_ends[k]);
  constexpr int kPhases = Cell::kPhases;
  const Index rounds = 2 * kPhases;  // a step's: the rows' phase, then its products, per phase
  parallel_rounds(rounds * s.T + 1, std::max<Index>(chunks, units), [&](Index round, Index k) {
    if (round == 0) {
      if (k < chunks) walks[k].emplace(walk(ends[k], ends[k + 1]));
      return;
    }
    const Index t = s.T - 1 - (round - 1) / rounds;
    const int phase = static_cast<int>((round - 1) % rounds / 2);
    if ((round - 1) % 2 == 0) {
      if (k < chunks) walks[k]->step(t, false, kPhases > 1 ? phase : -1);
      return;
    }
    const Index n = s.rows_at(t, 0, s.B);
    if (k >= units || n == 0 || unit_ends[k] == unit_ends[k + 1]) return;
    const Index u0 = unit_ends[k], m = unit_ends[k + 1] - u0;
    int g0 = 0, ng = Cell::kGates;  // the gate blocks of this phase's product
    if constexpr (kPhases > 1) std::tie(g0, ng) = Cell::backward_gates(phase);
    const auto dzr_t = cols(s.step(dzr, GH, t, 0, n), g0 * s.H, ng * s.H);
    Panels<T> rt = recurrent_t;  // gate blocks [g0, g0 + ng): rows g0*H... of every panel
    rt.data += g0 * s.H * recurrent_t.ld;
    auto dh = cols(map(buf.dh0, n, P), u0, m);
    if (!buf.recurrent_mask) return panel_product(dzr_t, rt, ng * s.H, u0, u0 + m, dh, t % 2 == 1);
    auto product = map(products[k].data(), n, m);
    product.setZero();
    panel_product(dzr_t, rt, ng * s.H, u0, u0 + m, product, t % 2 == 1);
    dh += product.cwiseProduct(cols(map(buf.recurrent_mask, n, P), u0, m));
  });
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

// dK, dR, db (and the recurrent bias's gradient) += their sums over all rows for the columns
// [c0, c1) of dZ (gemm_tn): X^T dZ and dR's operands^T dZr, db and drb from dZ's and dZr's column
// sums. Where dZr is dZ, dK and dR are one product (their rows stacked), sharing dZ's copies.
template <typename Cell, typename T, typename XMap, typename ZMap, typename Operand>
void grads_by_columns(const SeqShape& s, const BackwardBuffers<T>& buf, const XMap& X,
                      const ZMap& dZ, const ZMap& dZr, Operand&& operand, Index c0, Index c1) {
  // A recurrent bias's gradient sums dZr: only cells with a dZr of their own have one.
  static_assert(!Cell::kRecurrentBias || Cell::kSeparateRecurrentGrad);
  const Index rows = X.rows(), GH = dZ.cols(), ldz = dZ.outerStride();
  const auto dk = [&](Index c) {
    return TnOperand<T>{X.data(), X.outerStride(), X.cols(), buf.dkernel + c, GH};
  };
  if constexpr (Cell::kSeparateRecurrentGrad) {
    gemm_tn(rows, c1 - c0, dZ.data() + c0, ldz, {dk(c0)}, buf.dbias + c0);
  }
  operand_runs<Cell>(c0, c1, s.H, [&](Index c, Index end, int k) {
    const auto A = operand(k);
    const TnOperand<T> dr{A.data(), A.outerStride(), A.cols(), buf.drecurrent + c, GH};
    if constexpr (Cell::kSeparateRecurrentGrad) {
      T* const drb = Cell::kRecurrentBias ? buf.drecurrent_bias + c : nullptr;
      gemm_tn(rows, end - c, dZr.data() + c, dZr.outerStride(), {dr}, drb);
    } else {
      gemm_tn(rows, end - c, dZ.data() + c, ldz, {dk(c), dr}, buf.dbias + c);
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
  // Split by units, each step's product takes every row at once.
  const int units = backward_units<Cell, T>(s);
  const Index most = units > 1 ? s.B : most_rows(ends);
  const Index panel = pack_shared(s.T, most) ? shared_panel<T>(most, GH, s.packed != nullptr)
                                             : std::max<Index>(P, 1);
  Buffer<T> rt_data(padded_width(P, panel) * GH);
  const Panels<T> recurrent_t = transposed_panels(w.recurrent, P, GH, panel, rt_data.data());
  Matrix<T> projection_t;
  if (project) projection_t = map(w.projection, H, P).transpose();
  const auto walk = [&](Index b0, Index b1) {
    return BackwardSteps<Cell, T>(s, w, recurrent_t, project ? projection_t.data() : nullptr, buf,
                                  dz_all.data(), dzr, h_prev.data(),
                                  peepholes ? c_prev.data() : nullptr,
                                  project ? dh_all.data() : nullptr, b0, b1 - b0);
  };
  if (units > 1) {
    backward_by_units<Cell>(s, buf, ends, units, walk, recurrent_t, static_cast<const T*>(dzr));
  } else {
    run_bounds(ends, [&](Index b0, Index b1) {
      auto steps = walk(b0, b1);
      for (Index t = s.T - 1; t >= 0; --t) steps.step(t, true);
    });
  }
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
    grads_by_columns<Cell>(s, buf, X, dZ, dZr, operand, c0, c1);
  });
}

// Bytes of the working arrays a backward call allocates, one row per step of each sequence
// (T*B rows): dZ (and the GRU's recurrent part of it), h_{t-1}, c_{t-1} with peepholes, dL/dh and
// the unprojected h with a projection, under a mask x with its masked steps zeroed, under
// recurrent dropout the saved gates masked, and over a packed batch the gathered x, y, dy, dx and
// dL/dc_t. The binding checks them against free memory before the call, before its buffers
// exist: on a machine that grants every allocation, pages beyond memory end the process while
// they are filled. Buffers of a step or of the weights' size are left out.
struct BackwardOptions {
  bool peepholes = false, projection = false, mask = false, recurrent_mask = false, packed = false;
};
template <typename Cell, typename T>
double backward_work_bytes(const SeqShape& s, const BackwardOptions& o) {
  const double H = double(s.H), P = double(s.state_width()), I = double(s.I);
  const bool cell = Cell::kHasCell;
  double per_row = Cell::kGates * H * (Cell::kSeparateRecurrentGrad ? 2 : 1) + P;
  if (cell && o.peepholes) per_row += H;
  if (cell && o.projection) per_row += P + H;
  if (o.mask) per_row += I;
  if (o.recurrent_mask) per_row += H;
  if (o.packed) per_row += 2 * I + 2 * P + H;
  return per_row * double(s.rows()) * sizeof(T);
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
  Buffer<T> dc_all(kCell && buf.dc_all ? rows * H : 0);
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
  // A masked step's c_t is the state carried (c0 before a row's run, its last c_t after it, with
  // lengths too, where y is zero there): its dL/dc_t goes to that state.
  Matrix<T> dc0_masked = Matrix<T>::Zero(dc_all.size() ? s.B : 0, H);  // sorted rows
  if (dc_all.size()) {
    packing.gather(s, buf.dc_all, H, dc_all.data());
    packing.fold_masked(s, buf.dc_all, H, dc_all.data(), dc0_masked.data());
  }
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
  sorted.dc_all = dc_all.size() ? dc_all.data() : nullptr;
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
  if (dc_all.size()) map(dc0, s.B, H) += dc0_masked;
  packing.unsort_rows(dh0, P, buf.dh0);
  if (kCell) packing.unsort_rows(dc0, H, buf.dc0);
}

}  // namespace fastlstm
