// layer_norm on the device against the CPU: the models' shapes ([4096, 256], [B, 64, 64, 144],
// [16, 37]), every row length class of the kernels (12 .. 1152 in a warp, longer rows per block),
// with and without weight and bias, parameters of another dtype, several normalised dims,
// non-contiguous inputs, every float dtype, forward and the gradients of x, weight and bias.
#include <cmath>

#include "cuda_testing.h"

using namespace rvos;
using namespace rvos::testing;

namespace {

const DType kFloats[] = {DType::F32, DType::F64, DType::F16, DType::BF16};

DeviceCheck tolerance(DType dt, bool backward = true, bool non_contiguous = false) {
  switch (dt) {
    case DType::F64: return {1e-10, 1e-10, backward, non_contiguous};
    case DType::F32: return {1e-5, 1e-5, backward, non_contiguous};
    default: return {2e-2, 2e-2, backward, non_contiguous};
  }
}

Tensor rand_in(const Shape& shape, DType dt, uint64_t seed, double scale = 1.0, double offset = 0.0) {
  return to(add(random(shape, DType::F64, seed, scale), offset), dt);
}

// layer_norm over the last dim of x with optional weight and bias (inputs 1 and 2 when present).
std::function<Tensor(const TensorList&)> ln(int64_t n, bool has_weight, bool has_bias, double eps = 1e-5) {
  return [=](const TensorList& in) {
    const Tensor w = has_weight ? in[1] : Tensor();
    const Tensor b = has_bias ? in[has_weight ? 2 : 1] : Tensor();
    return layer_norm(in[0], {n}, w, b, eps);
  };
}

void check_layer_norm(const Shape& shape, DType dt, uint64_t seed, bool has_weight = true, bool has_bias = true,
                      bool non_contiguous = false) {
  const int64_t n = shape.back();
  // A mean away from zero: the statistics must not cancel digits.
  TensorList inputs = {rand_in(shape, dt, seed, 2.0, 3.0)};
  if (has_weight) inputs.push_back(rand_in({n}, dt, seed + 1, 0.5, 1.0));
  if (has_bias) inputs.push_back(rand_in({n}, dt, seed + 2));
  const std::string tag = "layer_norm " + shape_str(shape) + " " + dtype_name(dt) + (has_weight ? " weight" : "") +
                          (has_bias ? " bias" : "") + (non_contiguous ? " non-contiguous" : "");
  check_cuda_matches_cpu(tag, ln(n, has_weight, has_bias), inputs, tolerance(dt, true, non_contiguous));
}

}  // namespace

TEST_CASE("layer_norm on the models' shapes, every float dtype") {
  if (!gpu_present()) return;
  for (DType dt : kFloats) {
    check_layer_norm({4096, 256}, dt, 1);
    check_layer_norm({2, 64, 64, 144}, dt, 4);
    check_layer_norm({16, 37}, dt, 7);
  }
}

TEST_CASE("layer_norm row lengths of every kernel variant, odd row counts") {
  if (!gpu_present()) return;
  for (int64_t n : {1, 12, 37, 64, 65, 96, 128, 129, 192, 256, 257, 384, 512, 513, 576, 768, 1152, 1153, 4099}) {
    for (DType dt : {DType::F32, DType::F64, DType::BF16}) {
      check_layer_norm({37, n}, dt, 10 + static_cast<uint64_t>(n));
    }
  }
  // A single row, and many short rows (the grid strides over them).
  check_layer_norm({1, 300}, DType::F32, 11);
  check_layer_norm({100003, 12}, DType::F32, 12);
}

TEST_CASE("layer_norm without weight or bias, eps, non-contiguous inputs") {
  if (!gpu_present()) return;
  for (DType dt : {DType::F32, DType::F16}) {
    for (int64_t n : {37, 256, 1152, 2000}) {
      check_layer_norm({19, n}, dt, 20, false, false);
      check_layer_norm({19, n}, dt, 21, true, false);
      check_layer_norm({19, n}, dt, 22, false, true);
      check_layer_norm({19, n}, dt, 23, true, true, true);
    }
  }
  check_cuda_matches_cpu("layer_norm eps 0.25", ln(48, true, true, 0.25),
                         {rand_in({9, 48}, DType::F32, 24), rand_in({48}, DType::F32, 25), rand_in({48}, DType::F32, 26)},
                         tolerance(DType::F32));
}

TEST_CASE("layer_norm over several trailing dims and of permuted views") {
  if (!gpu_present()) return;
  const DeviceCheck t = tolerance(DType::F32);
  check_cuda_matches_cpu(
      "layer_norm over [3, 5]",
      [](const TensorList& in) { return layer_norm(in[0], {3, 5}, in[1], in[2]); },
      {rand_in({4, 3, 5}, DType::F32, 27), rand_in({3, 5}, DType::F32, 28), rand_in({3, 5}, DType::F32, 29)}, t);
  check_cuda_matches_cpu(
      "layer_norm over every dim", [](const TensorList& in) { return layer_norm(in[0], {4, 3, 5}); },
      {rand_in({4, 3, 5}, DType::F32, 30)}, t);
  // Channels-last normalisation of an NCHW tensor through a permuted view.
  check_cuda_matches_cpu(
      "layer_norm of NCHW over C through permute",
      [](const TensorList& in) { return permute(layer_norm(permute(in[0], {0, 2, 3, 1}), {96}, in[1], in[2]), {0, 3, 1, 2}); },
      {rand_in({2, 96, 17, 19}, DType::F32, 31), rand_in({96}, DType::F32, 32), rand_in({96}, DType::F32, 33)}, t);
}

TEST_CASE("layer_norm with parameters of another dtype than the input") {
  if (!gpu_present()) return;
  // bf16 activations with float32 parameters (autocast-style), and float32 activations with
  // float64 parameters: parameter values are used exactly as the CPU uses them.
  check_cuda_matches_cpu("bf16 input, f32 weight and bias", ln(144, true, true),
                         {rand_in({33, 144}, DType::BF16, 34), rand_in({144}, DType::F32, 35),
                          rand_in({144}, DType::F32, 36)},
                         tolerance(DType::BF16));
  check_cuda_matches_cpu("f32 input, f64 weight, f32 bias", ln(100, true, true),
                         {rand_in({33, 100}, DType::F32, 37), rand_in({100}, DType::F64, 38),
                          rand_in({100}, DType::F32, 39)},
                         tolerance(DType::F32));
  check_cuda_matches_cpu("f16 input, bf16 weight", ln(1500, true, false),
                         {rand_in({5, 1500}, DType::F16, 40), rand_in({1500}, DType::BF16, 41)},
                         tolerance(DType::F16));
}

TEST_CASE("layer_norm gradients of weight and bias alone, and of x alone") {
  if (!gpu_present()) return;
  for (int64_t n : {96, 1152, 3000}) {
    const Tensor x = rand_in({129, n}, DType::F32, 42);
    const Tensor w = rand_in({n}, DType::F32, 43), b = rand_in({n}, DType::F32, 44);
    const Tensor weights = rand_in({129, n}, DType::F32, 45);
    for (bool grad_x : {false, true}) {
      INFO("n " << n << (grad_x ? ": gradient of x alone" : ": gradients of weight and bias alone"));
      auto run = [&](Device dev) {
        Tensor xd = to(x, dev).detach(), wd = to(w, dev).detach(), bd = to(b, dev).detach();
        if (grad_x) {
          xd.set_requires_grad(true);
        } else {
          wd.set_requires_grad(true);
          bd.set_requires_grad(true);
        }
        const Tensor loss = sum(mul(layer_norm(xd, {n}, wd, bd), to(weights, dev)));
        return grad(loss, grad_x ? TensorList{xd} : TensorList{wd, bd});
      };
      const TensorList cpu = run(Device::cpu()), gpu = run(Device::cuda());
      REQUIRE(cpu.size() == gpu.size());
      for (size_t i = 0; i < cpu.size(); ++i) CHECK_CLOSE(to(gpu[i], Device::cpu()), cpu[i], 1e-4, 1e-5);
    }
  }
}

TEST_CASE("empty inputs") {
  if (!gpu_present()) return;
  check_cuda_matches_cpu("layer_norm of no rows", ln(16, true, true),
                         {empty({0, 16}, DType::F32), rand_in({16}, DType::F32, 45), rand_in({16}, DType::F32, 46)},
                         tolerance(DType::F32));
}

TEST_CASE("LayerNorm2d's formula on NCHW (mean over channels, then elementwise)") {
  if (!gpu_present()) return;
  for (DType dt : {DType::F32, DType::BF16}) {
    check_cuda_matches_cpu(std::string("LayerNorm2d formula ") + dtype_name(dt),
                           [](const TensorList& in) {
                             const Tensor& x = in[0];
                             const int64_t c = x.size(1);
                             const Tensor u = mean(x, {1}, true);
                             const Tensor centered = sub(x, u);
                             const Tensor s = mean(pow(centered, 2), {1}, true);
                             const Tensor normalized = div(centered, sqrt(add(s, 1e-6)));
                             return add(mul(view(in[1], {c, 1, 1}), normalized), view(in[2], {c, 1, 1}));
                           },
                           {rand_in({2, 64, 32, 32}, dt, 47), rand_in({64}, dt, 48), rand_in({64}, dt, 49)},
                           tolerance(dt));
  }
}
