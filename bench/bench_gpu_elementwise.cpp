// Elementwise kernels on the GPU at model shapes (64x64x256 activations of a Hiera stage, 4096x1024
// MLP activations): add (float32 and bfloat16, same shapes, a broadcast bias, a scalar), GELU, and
// casts. Each reports the bytes it reads and writes per second, next to a device-to-device
// cudaMemcpy moving the same number of bytes (half read, half written) in the same run; "ratio" is
// the op's bandwidth over the copy's (1.0 = as fast as a plain copy).
//
// Device time comes from events around kInner calls enqueued back to back, so host-side work
// (allocation from the cache, dispatch) overlaps the kernels as in a model. Without a GPU the suite
// says that it skipped and exits 0.
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
#include "cuda/stream.h"
#include "ops/ops.h"

namespace {

using rvos::DType;
using rvos::Shape;
using rvos::Tensor;

constexpr int kInner = 20;

Tensor input(const Shape& shape, DType dtype, uint64_t seed) { return rvos::bench::device_input(shape, dtype, seed); }
using rvos::bench::bytes_of;

// Times op (which returns its fresh result) against the copy bandwidth; `bytes`: read + written per call.
void run(benchmark::State& state, const std::function<Tensor()>& op, double bytes) {
  rvos::bench::run_bandwidth(state, [&] { benchmark::DoNotOptimize(op().raw_data()); }, bytes, kInner);
}

using rvos::bench::shape_name;

void register_all() {
  const std::vector<Shape> shapes = {{64, 64, 256}, {4096, 1024}};
  constexpr auto add_case = &rvos::bench::add_manual_time_case;
  for (const Shape& s : shapes) {
    const std::string sn = shape_name(s);
    const Shape bias{s.back()};
    for (DType d : {DType::F32, DType::BF16}) {
      const std::string dn = rvos::dtype_name(d);
      add_case("add/" + dn + "/" + sn, [s, d](benchmark::State& state) {
        const Tensor a = input(s, d, 1), b = input(s, d, 2);
        run(state, [&] { return rvos::add(a, b); }, 3 * bytes_of(a));
      });
      add_case("add_broadcast/" + dn + "/" + sn + "+" + shape_name(bias), [s, d, bias](benchmark::State& state) {
        const Tensor a = input(s, d, 1), b = input(bias, d, 2);
        run(state, [&] { return rvos::add(a, b); }, 2 * bytes_of(a) + bytes_of(b));
      });
      add_case("add_scalar/" + dn + "/" + sn, [s, d](benchmark::State& state) {
        const Tensor a = input(s, d, 1);
        run(state, [&] { return rvos::add(a, 0.5); }, 2 * bytes_of(a));
      });
      add_case("gelu/" + dn + "/" + sn, [s, d](benchmark::State& state) {
        const Tensor a = input(s, d, 1);
        run(state, [&] { return rvos::gelu(a); }, 2 * bytes_of(a));
      });
      add_case("gelu_tanh/" + dn + "/" + sn, [s, d](benchmark::State& state) {
        const Tensor a = input(s, d, 1);
        run(state, [&] { return rvos::gelu(a, "tanh"); }, 2 * bytes_of(a));
      });
    }
    add_case("cast/float32->bfloat16/" + sn, [s](benchmark::State& state) {
      const Tensor a = input(s, DType::F32, 1);
      run(state, [&] { return rvos::to(a, DType::BF16); }, 1.5 * bytes_of(a));
    });
    add_case("cast/bfloat16->float32/" + sn, [s](benchmark::State& state) {
      const Tensor a = input(s, DType::BF16, 1);
      run(state, [&] { return rvos::to(a, DType::F32); }, 3 * bytes_of(a));
    });
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (!rvos::bench::gpu_ready("bench_gpu_elementwise")) return 0;
  register_all();
  return rvos::bench::run_benchmarks(argc, argv);
}
