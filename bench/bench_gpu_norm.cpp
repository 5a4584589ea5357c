// Normalisation, softmax and reduction kernels on the GPU at model shapes: layer_norm forward and
// backward (float32 and bfloat16 at [4096, 256], [16384, 144], [65536, 96] — Hiera and SAM 2
// token rows), softmax forward and backward over rows of 4096 and 30000, and sums (over the last
// dim, over the first dim, over everything). Each reports the bytes it reads and writes per
// second, next to a device-to-device cudaMemcpy moving the same number of bytes (half read, half
// written) in the same run; "ratio" is the kernel's bandwidth over the copy's (1.0 = as fast as a
// plain copy; the layer_norm target is 0.8 or more).
//
// Device time comes from events around kInner calls enqueued back to back. The backward cases
// call the kernels of cuda/norm.h and cuda/softmax.h directly (no autograd graph). Without a GPU
// the suite says that it skipped and exits 0.
#include <benchmark/benchmark.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "bench/gpu_bench.h"
#include "cuda/cuda.h"
#include "cuda/norm.h"
#include "cuda/softmax.h"
#include "cuda/stream.h"
#include "ops/ops.h"

namespace {

using rvos::DType;
using rvos::Shape;
using rvos::Tensor;

constexpr int kInner = 20;

Tensor input(const Shape& shape, DType dtype, uint64_t seed) { return rvos::bench::device_input(shape, dtype, seed); }
using rvos::bench::bytes_of;

// Times op against the copy bandwidth; `bytes`: read + written per call.
void run(benchmark::State& state, const std::function<void()>& op, double bytes) {
  rvos::bench::run_bandwidth(state, op, bytes, kInner);
}

using rvos::bench::shape_name;
constexpr auto add_case = &rvos::bench::add_manual_time_case;

void register_layer_norm() {
  for (const Shape& s : {Shape{4096, 256}, Shape{16384, 144}, Shape{65536, 96}}) {
    const int64_t m = s[0], n = s[1];
    for (DType d : {DType::F32, DType::BF16}) {
      const std::string tag = std::string(rvos::dtype_name(d)) + "/" + shape_name(s);
      // x read, y written, plus the per-row mean and rstd (float64) and the parameters.
      add_case("layer_norm_forward/" + tag, [=](benchmark::State& state) {
        const Tensor x = input(s, d, 1), w = input({n}, d, 2), b = input({n}, d, 3);
        const double bytes = 2 * bytes_of(x) + 16.0 * double(m) + 2 * bytes_of(w);
        run(state, [&] { benchmark::DoNotOptimize(rvos::layer_norm(x, {n}, w, b).raw_data()); }, bytes);
      });
      // g and x read, dx written, mean and rstd read; dweight and dbias are sums over rows.
      add_case("layer_norm_backward/" + tag, [=](benchmark::State& state) {
        const Tensor x = input(s, d, 1), g = input(s, d, 4), w = input({n}, d, 2), b = input({n}, d, 3);
        const Tensor y = rvos::empty(s, d, rvos::Device::cuda());
        const Tensor mean = rvos::empty({m}, DType::F64, rvos::Device::cuda());
        const Tensor rstd = rvos::empty({m}, DType::F64, rvos::Device::cuda());
        rvos::cuda::layer_norm_forward(y, mean, rstd, x, w, b, m, n, 1e-5);
        const double bytes = 3 * bytes_of(x) + 16.0 * double(m) + bytes_of(w) + 16.0 * double(n);
        run(state,
            [&] {
              const Tensor dx = rvos::empty(s, d, rvos::Device::cuda());
              const Tensor dw = rvos::empty({n}, DType::F64, rvos::Device::cuda());
              const Tensor db = rvos::empty({n}, DType::F64, rvos::Device::cuda());
              rvos::cuda::layer_norm_backward(dx, dw, db, g, x, mean, rstd, w, m, n);
            },
            bytes);
      });
    }
  }
}

void register_softmax() {
  for (const Shape& s : {Shape{1024, 4096}, Shape{8, 4096, 4096}, Shape{128, 30000}}) {
    for (DType d : {DType::F32, DType::BF16}) {
      const std::string tag = std::string(rvos::dtype_name(d)) + "/" + shape_name(s);
      add_case("softmax_forward/" + tag, [=](benchmark::State& state) {
        const Tensor x = input(s, d, 5);
        run(state, [&] { benchmark::DoNotOptimize(rvos::softmax(x, -1).raw_data()); }, 2 * bytes_of(x));
      });
      add_case("softmax_backward/" + tag, [=](benchmark::State& state) {
        const Tensor g = input(s, d, 6);
        const Tensor y = [&] {
          rvos::NoGradGuard no_grad;
          return rvos::softmax(input(s, d, 5), -1);
        }();
        const int64_t n = s.back(), rows = y.numel() / n;
        run(state,
            [&] {
              const Tensor gx = rvos::empty(s, d, rvos::Device::cuda());
              rvos::cuda::softmax_backward(gx, g, y, rows, n, 1, false);
            },
            3 * bytes_of(y));
      });
    }
  }
}

void register_sum() {
  const Shape s{4096, 4096};
  for (DType d : {DType::F32, DType::BF16}) {
    const std::string dn = rvos::dtype_name(d);
    add_case("sum_last_dim/" + dn + "/" + shape_name(s), [=](benchmark::State& state) {
      const Tensor x = input(s, d, 7);
      run(state, [&] { benchmark::DoNotOptimize(rvos::sum(x, {1}).raw_data()); }, bytes_of(x));
    });
    add_case("sum_first_dim/" + dn + "/" + shape_name(s), [=](benchmark::State& state) {
      const Tensor x = input(s, d, 7);
      run(state, [&] { benchmark::DoNotOptimize(rvos::sum(x, {0}).raw_data()); }, bytes_of(x));
    });
    add_case("sum_all/" + dn + "/" + shape_name(s), [=](benchmark::State& state) {
      const Tensor x = input(s, d, 7);
      run(state, [&] { benchmark::DoNotOptimize(rvos::sum(x).raw_data()); }, bytes_of(x));
    });
  }
  // LayerNorm2d's reduction: the mean over the channels of NCHW.
  add_case("mean_channels/float32/1x256x64x64", [](benchmark::State& state) {
    const Tensor x = input({1, 256, 64, 64}, DType::F32, 8);
    run(state, [&] { benchmark::DoNotOptimize(rvos::mean(x, {1}, true).raw_data()); }, bytes_of(x));
  });
}

}  // namespace

int main(int argc, char** argv) {
  if (!rvos::bench::gpu_ready("bench_gpu_norm")) return 0;
  register_layer_norm();
  register_softmax();
  register_sum();
  return rvos::bench::run_benchmarks(argc, argv);
}
