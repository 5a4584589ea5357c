// Convolutions on the GPU at the models' shapes: rvos's kernels against cuDNN in the same run, on
// the same tensors, through the device entry points (cuda/conv.h) so that both sides do the same
// work. Each case times ours (the benchmark's time) and cuDNN's, and reports GB/s (bytes read and
// written: the memory-bound depthwise convolutions) or TFLOP/s (2 * multiply-adds: the others),
// and "ratio" = cuDNN's time / ours (above 1: ours is faster; the depthwise target is >= 1).
//
// Shapes: the memory encoder's CXBlock depthwise 7x7 on [1, 256, 64, 64] (also a batch of 8
// objects; forward, input and weight gradients), Hiera's patch embedding 7x7 stride 4 from
// [1, 3, 1024, 1024] to 144 channels, the mask downsampler's four 3x3 stride-2 convolutions from the
// 1024x1024 mask, SAM 2's mask_downsample 4x4 stride 4, a 1x1 projection, and the mask decoder's
// 2x2 stride-2 transposed convolutions (256 -> 64 at 64x64, 64 -> 32 at 128x128). Without a GPU
// the suite says that it skipped and exits 0.
#include <benchmark/benchmark.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "cuda/conv.h"
#include "bench/gpu_bench.h"
#include "cuda/cuda.h"
#include "cuda/stream.h"
#include "ops/ops.h"

namespace {

using rvos::DType;
using rvos::Shape;
using rvos::Tensor;
using rvos::cuda::ConvGeometry;
using rvos::cuda::ConvImpl;
using rvos::cuda::ConvOptions;

constexpr int kInner = 20;

double device_ms(const std::function<void()>& f) { return rvos::bench::device_ms(f, kInner); }
Tensor input(const Shape& shape, DType dtype, uint64_t seed) { return rvos::bench::device_input(shape, dtype, seed); }

int64_t out_size(int64_t in, int64_t k, int64_t s, int64_t p) { return (in + 2 * p - k) / s + 1; }

ConvGeometry geometry(int64_t N, int64_t C_in, int64_t H, int64_t W, int64_t C_out, int64_t k, int64_t s, int64_t p,
                      int64_t groups) {
  ConvGeometry g;
  g.N = N, g.C_in = C_in, g.H = H, g.W = W, g.C_out = C_out;
  g.kH = g.kW = k, g.sH = g.sW = s, g.pH = g.pW = p, g.groups = groups;
  g.OH = out_size(H, k, s, p);
  g.OW = out_size(W, k, s, p);
  return g;
}

enum class Op { Forward, InputGrad, WeightGrad };

const char* op_name(Op op) {
  switch (op) {
    case Op::Forward: return "forward";
    case Op::InputGrad: return "input_grad";
    case Op::WeightGrad: return "weight_grad";
  }
  return "?";
}

struct Case {
  std::string name;
  ConvGeometry g;
  Op op;
  bool bias;            // forward / transposed-convolution bias
  bool memory_bound;    // report GB/s rather than TFLOP/s
};

void run_case(benchmark::State& state, const Case& c, DType dt) {
  const ConvGeometry& g = c.g;
  const Tensor x = input({g.N, g.C_in, g.H, g.W}, dt, 1);
  const Tensor w = input({g.C_out, g.C_in / g.groups, g.kH, g.kW}, dt, 2);
  const Tensor y = input({g.N, g.C_out, g.OH, g.OW}, dt, 3);  // the output, or the output gradient
  const int64_t bias_size = c.op == Op::InputGrad ? g.C_in : g.C_out;
  const Tensor bias = c.bias ? input({bias_size}, dt, 4) : Tensor();
  const Tensor gx = rvos::empty(x.shape(), dt, rvos::Device::cuda());
  const Tensor gw = rvos::empty(w.shape(), dt, rvos::Device::cuda());
  auto launch = [&](ConvImpl impl) {
    const ConvOptions options{impl, false};
    switch (c.op) {
      case Op::Forward: rvos::cuda::conv2d_forward(y, x, w, bias, g, options); break;
      case Op::InputGrad: rvos::cuda::conv2d_input_grad(gx, y, w, bias, g, options); break;
      case Op::WeightGrad: rvos::cuda::conv2d_weight_grad(gw, x, y, g, options); break;
    }
  };
  launch(ConvImpl::Native);
  launch(ConvImpl::Cudnn);  // algorithm choice and workspace before timing
  double ours_ms = 0;
  int64_t calls = 0;
  for (auto _ : state) {
    const double ms = device_ms([&] { launch(ConvImpl::Native); });
    state.SetIterationTime(ms / 1e3);
    ours_ms += ms;
    ++calls;
  }
  ours_ms /= static_cast<double>(std::max<int64_t>(calls, 1));
  double cudnn_ms = 1e30;
  for (int round = 0; round < 3; ++round) cudnn_ms = std::min(cudnn_ms, device_ms([&] { launch(ConvImpl::Cudnn); }));
  const double esize = static_cast<double>(rvos::dtype_size(dt));
  const double bytes = esize * static_cast<double>(x.numel() + w.numel() + y.numel());
  const double flops = 2.0 * static_cast<double>(g.N * g.C_out * g.OH * g.OW * (g.C_in / g.groups) * g.kH * g.kW);
  if (c.memory_bound) {
    state.counters["GB/s"] = bytes / (ours_ms * 1e-3) / 1e9;
    state.counters["cuDNN GB/s"] = bytes / (cudnn_ms * 1e-3) / 1e9;
  } else {
    state.counters["TFLOP/s"] = flops / (ours_ms * 1e-3) / 1e12;
    state.counters["cuDNN TFLOP/s"] = flops / (cudnn_ms * 1e-3) / 1e12;
  }
  state.counters["ratio"] = cudnn_ms / ours_ms;
  state.SetLabel(rvos::cuda::conv_path_name(c.op == Op::Forward     ? rvos::cuda::conv2d_forward_path(g, {})
                                            : c.op == Op::InputGrad ? rvos::cuda::conv2d_input_grad_path(g, {})
                                                                    : rvos::cuda::conv2d_weight_grad_path(g, {})));
}

std::vector<Case> cases() {
  std::vector<Case> all;
  for (int64_t n : {1, 8}) {
    const ConvGeometry dw = geometry(n, 256, 64, 64, 256, 7, 1, 3, 256);
    const std::string name = "depthwise7x7/" + std::to_string(n) + "x256x64x64";
    for (Op op : {Op::Forward, Op::InputGrad, Op::WeightGrad}) all.push_back({name, dw, op, op == Op::Forward, true});
  }
  const ConvGeometry patch = geometry(1, 3, 1024, 1024, 144, 7, 4, 3, 1);
  all.push_back({"patch_embed7x7s4/3x1024x1024->144", patch, Op::Forward, true, false});
  all.push_back({"patch_embed7x7s4/3x1024x1024->144", patch, Op::WeightGrad, false, false});
  const int64_t channels[] = {1, 4, 16, 64, 256};
  for (int i = 0; i < 4; ++i) {
    const int64_t size = 1024 >> i;
    all.push_back({"mask_downsampler3x3s2/" + std::to_string(channels[i]) + "x" + std::to_string(size) + "x" +
                       std::to_string(size) + "->" + std::to_string(channels[i + 1]),
                   geometry(1, channels[i], size, size, channels[i + 1], 3, 2, 1, 1), Op::Forward, true, false});
  }
  all.push_back({"mask_downsample4x4s4/1x1024x1024->1", geometry(1, 1, 1024, 1024, 1, 4, 4, 0, 1), Op::Forward, true,
                 true});
  all.push_back({"pointwise1x1/256x64x64->256", geometry(1, 256, 64, 64, 256, 1, 1, 0, 1), Op::Forward, true, false});
  // conv_transpose2d(C -> C', 2x2, stride 2) is the input gradient of a convolution C' -> C.
  all.push_back({"conv_transpose2x2s2/256x64x64->64", geometry(1, 64, 128, 128, 256, 2, 2, 0, 1), Op::InputGrad, true,
                 false});
  all.push_back({"conv_transpose2x2s2/64x128x128->32", geometry(1, 32, 256, 256, 64, 2, 2, 0, 1), Op::InputGrad,
                 true, false});
  return all;
}

void register_all() {
  for (const Case& c : cases()) {
    for (DType d : {DType::F32, DType::BF16}) {
      const std::string name = c.name + "/" + op_name(c.op) + "/" + rvos::dtype_name(d);
      benchmark::RegisterBenchmark(name.c_str(), [c, d](benchmark::State& state) { run_case(state, c, d); })
          ->UseManualTime()
          ->Unit(benchmark::kMicrosecond);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (!rvos::bench::gpu_ready("bench_gpu_conv")) return 0;
  if (!rvos::cuda::cudnn_available()) {
    std::printf("bench_gpu_conv: skipped: built without cuDNN, the reference\n");
    return 0;
  }
  register_all();
  return rvos::bench::run_benchmarks(argc, argv);
}
