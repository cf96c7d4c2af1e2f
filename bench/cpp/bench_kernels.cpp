// Google Benchmark micro-benchmarks of the core's kernels: forward (inference and training),
// backward, and one streaming step, float32, at the peer benchmark's shapes; and the rate at
// which one row's product streams a core's weights (the hardware limit of a batch of one). Built
// only with -DFASTLSTM_BENCH=ON when Google Benchmark is installed (Debian: libbenchmark-dev):
//
//   cmake -S . -B build-bench -DFASTLSTM_BENCH=ON -DCMAKE_BUILD_TYPE=Release \
//         -DCMAKE_PREFIX_PATH="$(python -c 'import sysconfig;
//         print(sysconfig.get_paths()["purelib"])')"
//   cmake --build build-bench --target bench_kernels && build-bench/bench_kernels
#include <benchmark/benchmark.h>

#include "fastlstm/cells.hpp"
#include "fastlstm/panels.hpp"

namespace {

using fastlstm::Index;
using Mat = fastlstm::Matrix<float>;

// Random weights and input for one (B, T, I, H) problem, batch-major, and every buffer the core
// writes, allocated once so that only the kernels are timed.
struct Problem {
  fastlstm::SeqShape s;
  Mat x, kernel, recurrent, bias, h0, c0, y, h, c, gates, c_all, dy, dx, dk, dr, db, dh0, dc0;

  Problem(Index B, Index T, Index I, Index H)
      : s{B, T, I, H, false},
        x(Mat::Random(B * T, I)),
        kernel(Mat::Random(I, 4 * H) * 0.1f),
        recurrent(Mat::Random(H, 4 * H) * 0.1f),
        bias(Mat::Zero(1, 4 * H)),
        h0(Mat::Zero(B, H)),
        c0(Mat::Zero(B, H)),
        y(B * T, H),
        h(B, H),
        c(B, H),
        gates(B * T, 4 * H),
        c_all(B * T, H),
        dy(Mat::Random(B * T, H)),
        dx(B * T, I),
        dk(I, 4 * H),
        dr(H, 4 * H),
        db(1, 4 * H),
        dh0(B, H),
        dc0(B, H) {}

  fastlstm::Weights<float> weights() const {
    return {kernel.data(), recurrent.data(), bias.data()};
  }

  fastlstm::ForwardBuffers<float> forward(bool training) {
    return {x.data(),
            h0.data(),
            c0.data(),
            y.data(),
            h.data(),
            c.data(),
            training ? gates.data() : nullptr,
            training ? c_all.data() : nullptr};
  }

  fastlstm::BackwardBuffers<float> backward() {
    return {x.data(),  h0.data(), c0.data(),  y.data(),  gates.data(), c_all.data(),
            dy.data(), nullptr,   nullptr,    dx.data(), dk.data(),    dr.data(),
            db.data(), nullptr,   dh0.data(), dc0.data()};
  }
};

Problem make(const benchmark::State& state) {
  return Problem(state.range(0), state.range(1), state.range(2), state.range(3));
}

void set_flops(benchmark::State& state, double per_call) {
  state.counters["GFLOP"] =
      benchmark::Counter(per_call * state.iterations() / 1e9, benchmark::Counter::kIsRate);
}

void BM_Forward(benchmark::State& state) {
  Problem p = make(state);
  const auto buf = p.forward(/*training=*/false);
  for (auto _ : state) fastlstm::forward<fastlstm::LstmCell, float>(p.s, p.weights(), buf);
  set_flops(state, 8.0 * p.s.B * p.s.T * p.s.H * (p.s.I + p.s.H));
}

void BM_ForwardTraining(benchmark::State& state) {
  Problem p = make(state);
  const auto buf = p.forward(/*training=*/true);
  for (auto _ : state) fastlstm::forward<fastlstm::LstmCell, float>(p.s, p.weights(), buf);
  set_flops(state, 8.0 * p.s.B * p.s.T * p.s.H * (p.s.I + p.s.H));
}

void BM_Backward(benchmark::State& state) {
  Problem p = make(state);
  fastlstm::forward<fastlstm::LstmCell, float>(p.s, p.weights(), p.forward(/*training=*/true));
  const auto buf = p.backward();
  for (auto _ : state) fastlstm::backward<fastlstm::LstmCell, float>(p.s, p.weights(), buf);
  set_flops(state, 16.0 * p.s.B * p.s.T * p.s.H * (p.s.I + p.s.H));
}

void BM_Step(benchmark::State& state) {
  Problem p = make(state);
  fastlstm::Stream<fastlstm::LstmCell, float> stream(p.weights(), p.s.B, p.s.I, p.s.H, p.s.H);
  for (auto _ : state) stream.step(p.x.data());
  set_flops(state, 8.0 * p.s.B * p.s.H * (p.s.I + p.s.H));
}

// One row times a (rows, cols) block of weights packed in panels, as a step of a batch of one
// multiplies h_{t-1} by a thread's columns of R: the product that bounds such a step, which
// reads every weight once for 2 flops. Each benchmark thread streams its own block, as the
// threads of a unit split do (one each per core), so ->Threads(2) gives the rate with both
// cores reading at once. bytes_per_second is the weights' rate from wherever the block lives
// (a 1 MiB L2 holds 256 x 512; 512 x 1024 comes from L3).
void BM_WeightStream(benchmark::State& state) {
  const Index rows = state.range(0), cols = state.range(1);
  const Index panel = fastlstm::panel_for<float>(1);
  const Mat weights = Mat::Random(rows, cols);
  std::vector<float> packed(rows * fastlstm::padded_width(cols, panel));
  const auto panels =
      fastlstm::pack_units<1>(weights.data(), rows, cols, 0, cols, panel, packed.data());
  Mat h = Mat::Random(1, rows), z = Mat::Zero(1, cols);
  bool reverse = false;  // alternating, as the step loop reads them
  for (auto _ : state) {
    fastlstm::panel_product(fastlstm::map(static_cast<const float*>(h.data()), 1, rows), panels,
                            rows, 0, cols, fastlstm::map(z.data(), 1, cols), reverse);
    reverse = !reverse;
    benchmark::DoNotOptimize(z.data());
  }
  state.SetBytesProcessed(state.iterations() * rows * cols * Index(sizeof(float)));
}

const std::vector<std::string> kNames = {"B", "T", "I", "H"};

}  // namespace

BENCHMARK(BM_Forward)
    ->ArgNames(kNames)
    ->Args({1, 100, 64, 256})
    ->Args({1, 25, 512, 512})
    ->Args({16, 50, 128, 256})
    ->Args({256, 100, 256, 512})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_ForwardTraining)
    ->ArgNames(kNames)
    ->Args({64, 50, 64, 128})
    ->Args({32, 100, 128, 512})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Backward)
    ->ArgNames(kNames)
    ->Args({64, 50, 64, 128})
    ->Args({32, 100, 128, 512})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Step)->ArgNames(kNames)->Args({1, 1, 64, 128})->UseRealTime();
// A core's share of a step's weights on 2 threads: the LSTM step row (I=64, H=128: (I + H) x 2H,
// 192 KiB) and the GRU's ((I + H) x 1.5H, 144 KiB); R at B=1: H=256, the LSTM's (H x 2H,
// 512 KiB) and the GRU's (H x 1.5H, 384 KiB); H=512, the GRU's (1.5 MiB) and the LSTM's (2 MiB).
BENCHMARK(BM_WeightStream)
    ->ArgNames({"rows", "cols"})
    ->Args({192, 256})
    ->Args({192, 192})
    ->Args({256, 512})
    ->Args({256, 384})
    ->Args({512, 768})
    ->Args({512, 1024})
    ->Threads(1)
    ->Threads(2)
    ->UseRealTime();

BENCHMARK_MAIN();
