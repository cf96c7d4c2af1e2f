// Google Benchmark micro-benchmarks of the core's kernels: forward (inference and training),
// backward, and one streaming step, float32, at the peer benchmark's shapes. Built only with
// -DFASTLSTM_BENCH=ON when Google Benchmark is installed (Debian: libbenchmark-dev):
//
//   cmake -S . -B build-bench -DFASTLSTM_BENCH=ON -DCMAKE_BUILD_TYPE=Release \
//         -DCMAKE_PREFIX_PATH="$(python -c 'import sysconfig;
//         print(sysconfig.get_paths()["purelib"])')"
//   cmake --build build-bench --target bench_kernels && build-bench/bench_kernels
#include <benchmark/benchmark.h>

#include "fastlstm/cells.hpp"

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

BENCHMARK_MAIN();
