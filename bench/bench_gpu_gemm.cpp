// Matrix products on the GPU at the models' shapes: rvos matmul, bmm and linear (bias, and ReLU,
// fused through cuBLASLt) in bfloat16 and float32, next to a plain cublasGemmEx of the same
// problem. Each reports TFLOP/s (2*M*N*K per product) and "ratio", its TFLOP/s over the cuBLAS
// peak measured at 8192^3 in bfloat16 in the same run; float32 cases also report "fp32 ratio",
// over cuBLAS's own float32 (FP32 arithmetic, no TF32) at 8192^3.
//
// Shapes: 4096 tokens of a 64x64 feature map through 256-wide projections and a 2048-wide MLP
// (memory attention), 16384 tokens through a 288 -> 1152 -> 288 MLP (Hiera stage), attention
// scores over 1024 tokens. Device time comes from events around kInner calls enqueued back to back.
// Without a GPU the suite says that it skipped and exits 0.
#include <benchmark/benchmark.h>
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "bench/gpu_bench.h"
#include "cuda/cuda.h"
#include "cuda/stream.h"
#include "ops/ops.h"

namespace {

using rvos::DType;
using rvos::Shape;
using rvos::Tensor;

constexpr int kInner = 20;

double device_ms(const std::function<void()>& f) { return rvos::bench::device_ms(f, kInner); }
Tensor input(const Shape& shape, DType dtype, uint64_t seed, double scale = 1.0) {
  return rvos::bench::device_input(shape, dtype, seed, scale);
}

double peak_bf16_tflops = 0;  // cuBLAS at 8192^3, measured in main()
double peak_f32_tflops = 0;

void check(cublasStatus_t status, const char* what) {
  if (status != CUBLAS_STATUS_SUCCESS) throw std::runtime_error(std::string(what) + ": " + cublasGetStatusString(status));
}

// A cuBLAS handle of the benchmark's own (not rvos's), on the current stream.
cublasHandle_t reference_handle() {
  static cublasHandle_t h = [] {
    cublasHandle_t handle = nullptr;
    check(cublasCreate(&handle), "cublasCreate");
    return handle;
  }();
  check(cublasSetStream(h, static_cast<cudaStream_t>(rvos::cuda::current_stream())), "cublasSetStream");
  return h;
}

// Row-major c [M, N] = a [M, K] @ b [K, N] with cublasGemmEx (float32 accumulation, no TF32).
void reference_gemm(const Tensor& c, const Tensor& a, const Tensor& b) {
  const int M = static_cast<int>(a.size(0)), K = static_cast<int>(a.size(1)), N = static_cast<int>(b.size(1));
  const cudaDataType_t type = a.dtype() == DType::BF16 ? CUDA_R_16BF : CUDA_R_32F;
  const float alpha = 1.0f, beta = 0.0f;
  check(cublasGemmEx(reference_handle(), CUBLAS_OP_N, CUBLAS_OP_N, N, M, K, &alpha, b.raw_data(), type, N,
                     a.raw_data(), type, K, &beta, c.raw_data(), type, N, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
        "cublasGemmEx");
}

double cublas_peak_tflops(DType dtype) {
  const int64_t n = 8192;
  const Tensor a = input({n, n}, dtype, 1, 0.01), b = input({n, n}, dtype, 2, 0.01);
  const Tensor c = rvos::empty({n, n}, dtype, rvos::Device::cuda());
  reference_gemm(c, a, b);
  double best = 1e30;
  for (int round = 0; round < 3; ++round) best = std::min(best, device_ms([&] { reference_gemm(c, a, b); }));
  return 2.0 * static_cast<double>(n * n * n) / (best * 1e-3) / 1e12;
}

// Times op (the products of `flops` floating-point operations) and sets the counters.
void run(benchmark::State& state, const std::function<void()>& op, double flops, DType dtype) {
  op();  // first use: handles, workspaces, allocator blocks, heuristics
  double total_ms = 0;
  int64_t calls = 0;
  for (auto _ : state) {
    const double ms = device_ms(op);
    state.SetIterationTime(ms / 1e3);
    total_ms += ms;
    ++calls;
  }
  const double tflops = flops / (total_ms / static_cast<double>(std::max<int64_t>(calls, 1)) * 1e-3) / 1e12;
  state.counters["TFLOP/s"] = tflops;
  state.counters["ratio"] = tflops / peak_bf16_tflops;
  if (dtype == DType::F32) state.counters["fp32 ratio"] = tflops / peak_f32_tflops;
}

struct Problem {
  int64_t M, K, N;
};

std::string name_of(const Problem& p) {
  return std::to_string(p.M) + "x" + std::to_string(p.K) + "x" + std::to_string(p.N);
}

void register_all() {
  auto add_case = [](const std::string& name, std::function<void(benchmark::State&)> fn) {
    benchmark::RegisterBenchmark(name.c_str(), [fn](benchmark::State& state) { fn(state); })
        ->UseManualTime()
        ->Unit(benchmark::kMicrosecond);
  };
  // [M, K] @ [K, N].
  const std::vector<Problem> problems = {{4096, 256, 256},    {4096, 256, 2048},   {4096, 2048, 256},
                                         {16384, 288, 1152}, {16384, 1152, 288}, {8192, 8192, 8192}};
  for (DType d : {DType::BF16, DType::F32}) {
    const std::string dn = rvos::dtype_name(d);
    for (const Problem& p : problems) {
      const double flops = 2.0 * static_cast<double>(p.M * p.K * p.N);
      add_case("cublas/" + dn + "/" + name_of(p), [p, d, flops](benchmark::State& state) {
        const Tensor a = input({p.M, p.K}, d, 1), b = input({p.K, p.N}, d, 2);
        const Tensor c = rvos::empty({p.M, p.N}, d, rvos::Device::cuda());
        run(state, [&] { reference_gemm(c, a, b); }, flops, d);
      });
      add_case("matmul/" + dn + "/" + name_of(p), [p, d, flops](benchmark::State& state) {
        const Tensor a = input({p.M, p.K}, d, 1), b = input({p.K, p.N}, d, 2);
        run(state, [&] { benchmark::DoNotOptimize(rvos::matmul(a, b).raw_data()); }, flops, d);
      });
      if (p.M == 8192) continue;
      // linear: x [M, K] @ weight [N, K]^T + bias, the weight read transposed (op T, no copy).
      add_case("linear_bias/" + dn + "/" + name_of(p), [p, d, flops](benchmark::State& state) {
        const Tensor x = input({p.M, p.K}, d, 1), w = input({p.N, p.K}, d, 2), bias = input({p.N}, d, 3);
        run(state, [&] { benchmark::DoNotOptimize(rvos::linear(x, w, bias).raw_data()); }, flops, d);
      });
    }
    const Problem mlp{4096, 256, 2048};
    add_case("linear_bias_relu/" + dn + "/" + name_of(mlp), [mlp, d](benchmark::State& state) {
      const Tensor x = input({mlp.M, mlp.K}, d, 1), w = input({mlp.N, mlp.K}, d, 2), bias = input({mlp.N}, d, 3);
      run(state, [&] {
        benchmark::DoNotOptimize(rvos::linear(x, w, bias, rvos::LinearActivation::Relu).raw_data());
      }, 2.0 * static_cast<double>(mlp.M * mlp.K * mlp.N), d);
    });
    // Attention scores q @ k^T: [8, 1024, 64] @ [8, 64, 1024] with k stored [8, 1024, 64].
    add_case("bmm_qkT/" + dn + "/8x1024x64x1024", [d](benchmark::State& state) {
      const Tensor q = input({8, 1024, 64}, d, 1), k = input({8, 1024, 64}, d, 2);
      run(state, [&] { benchmark::DoNotOptimize(rvos::bmm(q, rvos::transpose(k, 1, 2)).raw_data()); },
          2.0 * 8 * 1024 * 64 * 1024, d);
    });
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (!rvos::bench::gpu_ready("bench_gpu_gemm")) return 0;
  rvos::NoGradGuard no_grad;
  peak_bf16_tflops = cublas_peak_tflops(DType::BF16);
  peak_f32_tflops = cublas_peak_tflops(DType::F32);
  std::printf("cuBLAS at 8192^3: %.1f TFLOP/s bfloat16, %.1f TFLOP/s float32 (the ratios' references)\n",
              peak_bf16_tflops, peak_f32_tflops);
  register_all();
  return rvos::bench::run_benchmarks(argc, argv);
}
