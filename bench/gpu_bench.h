#pragma once
// What the GPU benchmark suites (bench_gpu_*.cpp) share: device-side timing with events, the
// measured device-to-device copy as a bandwidth reference, random device inputs, and the start-up
// that skips (exit 0) without a GPU.
#include <benchmark/benchmark.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <stdexcept>
#include <string>

#include "cuda/cuda.h"
#include "cuda/stream.h"
#include "ops/ops.h"

namespace rvos::bench {

// Milliseconds of device time per call of f: `inner` calls between two events, the best of
// `rounds` such measurements.
inline double device_ms(const std::function<void()>& f, int inner = 20, int rounds = 1) {
  double best = 1e30;
  for (int r = 0; r < rounds; ++r) {
    cuda::Event start, stop;
    start.record();
    for (int i = 0; i < inner; ++i) f();
    stop.record();
    stop.synchronize();
    best = std::min(best, static_cast<double>(stop.elapsed_ms(start)) / inner);
  }
  return best;
}

// The bandwidth reference: a device-to-device cudaMemcpy of bytes / 2 (so that it moves `bytes`
// read plus written), the best of 5 rounds.
inline double copy_ms(double bytes) {
  const int64_t n = std::max<int64_t>(static_cast<int64_t>(bytes / 2), 1);
  const Tensor src = zeros({n}, DType::U8, Device::cuda());
  const Tensor dst = empty({n}, DType::U8, Device::cuda());
  const auto stream = static_cast<cudaStream_t>(cuda::current_stream());
  const auto copy = [&] {
    if (cudaMemcpyAsync(dst.raw_data(), src.raw_data(), static_cast<size_t>(n), cudaMemcpyDeviceToDevice, stream) !=
        cudaSuccess) {
      throw std::runtime_error("cudaMemcpyAsync failed");
    }
  };
  copy();
  return device_ms(copy, 20, 5);
}

// Normal random values (seeded on the CPU) on cuda:0 in `dtype`.
inline Tensor device_input(const Shape& shape, DType dtype, uint64_t seed, double scale = 1.0) {
  Generator g(seed);
  Tensor x = randn(shape, DType::F32, Device::cpu(), &g);
  if (scale != 1.0) x = mul(x, scale);
  return to(x, Device::cuda(), dtype);
}

inline double bytes_of(const Tensor& t) { return static_cast<double>(t.numel()) * static_cast<double>(t.element_size()); }

// Times op (device time, `inner` calls per event pair) against a device-to-device copy of the
// same bytes in the same run; `bytes`: read + written per call. Counters: GB/s, the copy's GB/s,
// their ratio, and MB.
inline void run_bandwidth(benchmark::State& state, const std::function<void()>& op, double bytes, int inner = 20) {
  NoGradGuard no_grad;
  op();  // first use: allocator blocks, lazy initialisation
  const double reference_ms = copy_ms(bytes);
  double total_ms = 0;
  int64_t calls = 0;
  for (auto _ : state) {
    const double ms = device_ms(op, inner);
    state.SetIterationTime(ms / 1e3);
    total_ms += ms;
    ++calls;
  }
  const double op_ms = total_ms / static_cast<double>(std::max<int64_t>(calls, 1));
  state.counters["GB/s"] = benchmark::Counter(bytes / 1e9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["copy GB/s"] = bytes / (reference_ms * 1e-3) / 1e9;
  state.counters["ratio"] = reference_ms / op_ms;
  state.counters["MB"] = bytes / 1e6;
}

// "64x64x256".
inline std::string shape_name(const Shape& s) {
  std::string r;
  for (size_t i = 0; i < s.size(); ++i) r += (i ? "x" : "") + std::to_string(s[i]);
  return r;
}

// Registers a case timed by the suite itself (UseManualTime), reported in microseconds.
inline void add_manual_time_case(const std::string& name, std::function<void(benchmark::State&)> fn) {
  benchmark::RegisterBenchmark(name.c_str(), [fn](benchmark::State& state) { fn(state); })
      ->UseManualTime()
      ->Unit(benchmark::kMicrosecond);
}

// False (after saying so) when there is no usable GPU; the suite then exits 0.
inline bool gpu_ready(const char* suite) {
  if (!cuda::is_available()) {
    std::printf("%s: skipped: no CUDA device (%s)\n", suite, cuda::device_summary().c_str());
    return false;
  }
  cuda::ensure_backend();
  return true;
}

// Google Benchmark's main, after the suite registered its cases.
inline int run_benchmarks(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

}  // namespace rvos::bench
