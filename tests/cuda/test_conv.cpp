// Convolutions and pooling on the device against the CPU, forward and backward (input, weight and
// bias gradients): every kernel path (depthwise tiles, pointwise GEMMs, the direct kernel, the
// non-overlapping transposed kernel, im2col), each checked to be the path taken, every floating
// dtype, odd sizes, non-contiguous inputs; cuDNN as the second backend against the CPU and
// against our kernels at the models' shapes.
#include "cuda_testing.h"
#include "rvos/version.h"

// The device layer is called directly here; a build without CUDA has none.
#if RVOS_HAVE_CUDA
#include "cuda/conv.h"

using namespace rvos;
using namespace rvos::testing;

namespace {

// Sums of up to a few thousand products of N(0, 1) values; 16-bit results round once (cuDNN's twice
// with a bias).
const DtypeTolerance kDtypes[] = {{DType::F32, 3e-4, 1e-4},
                                  {DType::F64, 1e-10, 1e-10},
                                  {DType::BF16, 3e-2, 2e-2},
                                  {DType::F16, 1e-2, 5e-3}};

int64_t out_size(int64_t in, int64_t k, int64_t s, int64_t p, int64_t d) { return (in + 2 * p - d * (k - 1) - 1) / s + 1; }

cuda::ConvGeometry geometry(int64_t N, int64_t C_in, int64_t H, int64_t W, int64_t C_out, Size2 k, Size2 s, Size2 p,
                            Size2 d, int64_t groups) {
  cuda::ConvGeometry g;
  g.N = N, g.C_in = C_in, g.H = H, g.W = W, g.C_out = C_out;
  g.kH = k[0], g.kW = k[1], g.sH = s[0], g.sW = s[1], g.pH = p[0], g.pW = p[1], g.dH = d[0], g.dW = d[1];
  g.groups = groups;
  g.OH = out_size(H, k[0], s[0], p[0], d[0]);
  g.OW = out_size(W, k[1], s[1], p[1], d[1]);
  return g;
}

struct Paths {
  cuda::ConvPath forward, input_grad, weight_grad;
};

void check_paths(const cuda::ConvGeometry& g, const Paths& expected) {
  const cuda::ConvOptions native{};
  CHECK(cuda::conv_path_name(cuda::conv2d_forward_path(g, native)) == std::string(cuda::conv_path_name(expected.forward)));
  CHECK(cuda::conv_path_name(cuda::conv2d_input_grad_path(g, native)) ==
        std::string(cuda::conv_path_name(expected.input_grad)));
  CHECK(cuda::conv_path_name(cuda::conv2d_weight_grad_path(g, native)) ==
        std::string(cuda::conv_path_name(expected.weight_grad)));
}

// A conv2d case: input [N, C_in, H, W], weight [C_out, C_in/groups, k], bias [C_out].
struct ConvCase {
  const char* name;
  int64_t N, C_in, H, W, C_out;
  Size2 k, s, p, d;
  int64_t groups;
  Paths paths;
};

const ConvCase kConvCases[] = {
    {"depthwise 7x7 (CXBlock)", 2, 12, 37, 29, 12, {7, 7}, {1, 1}, {3, 3}, {1, 1}, 12,
     {cuda::ConvPath::Depthwise, cuda::ConvPath::Depthwise, cuda::ConvPath::Depthwise}},
    {"depthwise 3x3", 2, 8, 33, 35, 8, {3, 3}, {1, 1}, {1, 1}, {1, 1}, 8,
     {cuda::ConvPath::Depthwise, cuda::ConvPath::Depthwise, cuda::ConvPath::Depthwise}},
    {"depthwise 5x3 dilated, asymmetric padding", 1, 6, 41, 23, 6, {5, 3}, {1, 1}, {4, 1}, {2, 3}, 6,
     {cuda::ConvPath::Depthwise, cuda::ConvPath::Depthwise, cuda::ConvPath::Depthwise}},
    {"depthwise 3x3 stride 2", 2, 5, 19, 22, 5, {3, 3}, {2, 2}, {1, 1}, {1, 1}, 5,
     {cuda::ConvPath::Depthwise, cuda::ConvPath::Depthwise, cuda::ConvPath::Depthwise}},
    {"depthwise 7x7 with channel multiplier 2", 2, 4, 17, 15, 8, {7, 7}, {1, 1}, {3, 3}, {1, 1}, 4,
     {cuda::ConvPath::Depthwise, cuda::ConvPath::Depthwise, cuda::ConvPath::Depthwise}},
    {"depthwise 2x4 stride (2, 3) multiplier 3", 2, 3, 13, 20, 9, {2, 4}, {2, 3}, {0, 2}, {1, 1}, 3,
     {cuda::ConvPath::Depthwise, cuda::ConvPath::Depthwise, cuda::ConvPath::Depthwise}},
    {"pointwise 1x1", 3, 13, 17, 19, 29, {1, 1}, {1, 1}, {0, 0}, {1, 1}, 1,
     {cuda::ConvPath::Pointwise, cuda::ConvPath::Pointwise, cuda::ConvPath::Pointwise}},
    {"pointwise 1x1, 2 groups", 2, 14, 9, 11, 10, {1, 1}, {1, 1}, {0, 0}, {1, 1}, 2,
     {cuda::ConvPath::Pointwise, cuda::ConvPath::Pointwise, cuda::ConvPath::Pointwise}},
    {"patch embedding 7x7 stride 4", 2, 3, 45, 37, 20, {7, 7}, {4, 4}, {3, 3}, {1, 1}, 1,
     {cuda::ConvPath::Direct, cuda::ConvPath::Im2col, cuda::ConvPath::Im2col}},
    {"mask downsampler 3x3 stride 2, 1 -> 4", 2, 1, 33, 31, 4, {3, 3}, {2, 2}, {1, 1}, {1, 1}, 1,
     {cuda::ConvPath::Direct, cuda::ConvPath::Im2col, cuda::ConvPath::Im2col}},
    {"mask downsampler 3x3 stride 2, 16 -> 64", 1, 16, 21, 19, 64, {3, 3}, {2, 2}, {1, 1}, {1, 1}, 1,
     {cuda::ConvPath::Direct, cuda::ConvPath::Im2col, cuda::ConvPath::Im2col}},
    {"mask_downsample 4x4 stride 4", 2, 1, 36, 28, 1, {4, 4}, {4, 4}, {0, 0}, {1, 1}, 1,
     {cuda::ConvPath::Direct, cuda::ConvPath::Im2col, cuda::ConvPath::Im2col}},
    {"1x1 stride 2", 2, 6, 11, 9, 7, {1, 1}, {2, 2}, {0, 0}, {1, 1}, 1,
     {cuda::ConvPath::Direct, cuda::ConvPath::Im2col, cuda::ConvPath::Im2col}},
    {"2x2 stride 2 (kernel == stride)", 2, 6, 10, 14, 12, {2, 2}, {2, 2}, {0, 0}, {1, 1}, 1,
     {cuda::ConvPath::Direct, cuda::ConvPath::NonOverlapping, cuda::ConvPath::Im2col}},
    {"grouped 3x3 with dilation (direct)", 2, 8, 15, 13, 6, {3, 3}, {1, 1}, {2, 2}, {2, 2}, 2,
     {cuda::ConvPath::Direct, cuda::ConvPath::Im2col, cuda::ConvPath::Im2col}},
    {"3x3 with 72 input channels (im2col)", 2, 72, 11, 13, 24, {3, 3}, {1, 1}, {1, 1}, {1, 1}, 1,
     {cuda::ConvPath::Im2col, cuda::ConvPath::Im2col, cuda::ConvPath::Im2col}},
    {"grouped 3x3 stride 2 dilated (im2col)", 2, 136, 13, 12, 10, {3, 3}, {2, 1}, {2, 1}, {2, 1}, 2,
     {cuda::ConvPath::Im2col, cuda::ConvPath::Im2col, cuda::ConvPath::Im2col}},
};

Tensor run_conv(const ConvCase& c, const TensorList& x) {
  return conv2d(x[0], x[1], x[2], c.s, c.p, c.d, c.groups);
}

// Runs `body` with each available convolution backend of CUDA tensors, then restores the native one.
template <class F>
void for_each_backend(F&& body) {
  set_conv_backend(ConvBackend::Native);
  body("native");
  if (cuda::cudnn_available()) {
    set_conv_backend(ConvBackend::Cudnn);
    body("cudnn");
  } else {
    MESSAGE("cuDNN: not built, its cases are skipped");
  }
  set_conv_backend(ConvBackend::Native);
}

// The same computation with our kernels and with cuDNN, on the same device inputs, forward and
// gradients (for an explicit output gradient, so that nothing but the convolution runs).
void check_native_matches_cudnn(const std::string& name, const std::function<Tensor(const TensorList&)>& f,
                                const TensorList& inputs, double atol, double rtol) {
  INFO(name);
  if (!cuda::cudnn_available()) {
    MESSAGE("cuDNN: not built, " << name << " skipped");
    return;
  }
  TensorList device;
  for (const Tensor& t : inputs) device.push_back(to(t, Device::cuda()).detach().set_requires_grad(true));
  auto run = [&](ConvBackend backend) {
    set_conv_backend(backend);
    const Tensor y = f(device);
    const Tensor gy = to(random(y.shape(), DType::F64, 321), Device::cuda(), y.dtype());
    TensorList out{to(y.detach(), Device::cpu())};
    for (const Tensor& g : grad(y, device, gy)) out.push_back(to(g, Device::cpu()));
    return out;
  };
  const TensorList ours = run(ConvBackend::Native), theirs = run(ConvBackend::Cudnn);
  set_conv_backend(ConvBackend::Native);
  for (size_t i = 0; i < ours.size(); ++i) {
    INFO((i == 0 ? "output" : "gradient of input " + std::to_string(i - 1)));
    MESSAGE(name << (i == 0 ? " output" : " gradient " + std::to_string(i - 1)) << ": max abs difference to cuDNN "
                 << max_abs_diff(ours[i], theirs[i]));
    CHECK_CLOSE(ours[i], theirs[i], atol, rtol);
  }
}

}  // namespace

TEST_CASE("conv2d kernel paths are the ones each case means to exercise") {
  // Pure geometry: runs without a GPU too.
  for (const ConvCase& c : kConvCases) {
    INFO(c.name);
    check_paths(geometry(c.N, c.C_in, c.H, c.W, c.C_out, c.k, c.s, c.p, c.d, c.groups), c.paths);
  }
  // The models' shapes.
  check_paths(geometry(1, 256, 64, 64, 256, {7, 7}, {1, 1}, {3, 3}, {1, 1}, 256),
              {cuda::ConvPath::Depthwise, cuda::ConvPath::Depthwise, cuda::ConvPath::Depthwise});
  check_paths(geometry(1, 3, 1024, 1024, 144, {7, 7}, {4, 4}, {3, 3}, {1, 1}, 1),
              {cuda::ConvPath::Direct, cuda::ConvPath::Im2col, cuda::ConvPath::Im2col});
  check_paths(geometry(1, 64, 128, 128, 256, {3, 3}, {2, 2}, {1, 1}, {1, 1}, 1),
              {cuda::ConvPath::Direct, cuda::ConvPath::Im2col, cuda::ConvPath::Im2col});
  check_paths(geometry(1, 256, 64, 64, 256, {1, 1}, {1, 1}, {0, 0}, {1, 1}, 1),
              {cuda::ConvPath::Pointwise, cuda::ConvPath::Pointwise, cuda::ConvPath::Pointwise});
  // conv_transpose2d(256 -> 64, 2x2, stride 2) at 64x64 is the input gradient of this convolution.
  check_paths(geometry(1, 64, 128, 128, 256, {2, 2}, {2, 2}, {0, 0}, {1, 1}, 1),
              {cuda::ConvPath::Direct, cuda::ConvPath::NonOverlapping, cuda::ConvPath::Im2col});
  const cuda::ConvOptions cudnn{cuda::ConvImpl::Cudnn, false};
  CHECK(cuda::conv2d_forward_path(geometry(1, 3, 8, 8, 4, {3, 3}, {1, 1}, {1, 1}, {1, 1}, 1), cudnn) ==
        cuda::ConvPath::Cudnn);
}

TEST_CASE("conv2d on every path matches the CPU in every dtype, forward and backward, both backends") {
  if (!gpu_present()) return;
  uint64_t seed = 1;
  for (const ConvCase& c : kConvCases) {
    for (const DtypeTolerance& t : kDtypes) {
      const TensorList in = {random({c.N, c.C_in, c.H, c.W}, t.dtype, ++seed),
                             random({c.C_out, c.C_in / c.groups, c.k[0], c.k[1]}, t.dtype, ++seed),
                             random({c.C_out}, t.dtype, ++seed)};
      for_each_backend([&](const char* backend) {
        if (std::string(backend) == "cudnn" && t.dtype == DType::F64) return;  // not a reference we rely on
        const std::string name = std::string(c.name) + " " + dtype_name(t.dtype) + " " + backend;
        check_cuda_matches_cpu(name, [&c](const TensorList& x) { return run_conv(c, x); }, in,
                               {t.atol, t.rtol, true});
      });
    }
  }
}

TEST_CASE("conv2d with non-contiguous inputs, without bias, unbatched, and with an empty batch") {
  if (!gpu_present()) return;
  for (const ConvCase& c : kConvCases) {
    const TensorList in = {random({c.N, c.C_in, c.H, c.W}, DType::F32, 900),
                           random({c.C_out, c.C_in / c.groups, c.k[0], c.k[1]}, DType::F32, 901)};
    check_cuda_matches_cpu(std::string(c.name) + " non-contiguous, no bias",
                           [&c](const TensorList& x) { return conv2d(x[0], x[1], Tensor(), c.s, c.p, c.d, c.groups); },
                           in, {3e-4, 1e-4, true, true});
  }
  check_cuda_matches_cpu("unbatched [C, H, W]",
                         [](const TensorList& x) { return conv2d(x[0], x[1], x[2], {1, 1}, {3, 3}, {1, 1}, 6); },
                         {random({6, 20, 21}, DType::F32, 902), random({6, 1, 7, 7}, DType::F32, 903),
                          random({6}, DType::F32, 904)},
                         {3e-4, 1e-4, true});
  const Tensor empty_batch = conv2d(zeros({0, 3, 8, 8}, DType::F32, Device::cuda()),
                                    zeros({4, 3, 3, 3}, DType::F32, Device::cuda()));
  CHECK(empty_batch.shape() == Shape{0, 4, 6, 6});
}

TEST_CASE("conv2d at the models' shapes (forward and gradients) in float32 and bfloat16") {
  if (!gpu_present()) return;
  struct Model {
    const char* name;
    Shape x;
    int64_t C_out;
    Size2 k, s, p;
    int64_t groups;
  };
  const Model models[] = {
      {"CXBlock depthwise 7x7 [1, 256, 64, 64]", {1, 256, 64, 64}, 256, {7, 7}, {1, 1}, {3, 3}, 256},
      {"mask downsampler 3x3/2 [1, 64, 128, 128] -> 256", {1, 64, 128, 128}, 256, {3, 3}, {2, 2}, {1, 1}, 1},
      {"1x1 [1, 256, 64, 64] -> 256", {1, 256, 64, 64}, 256, {1, 1}, {1, 1}, {0, 0}, 1},
      {"patch embedding 7x7/4 [1, 3, 256, 256] -> 144", {1, 3, 256, 256}, 144, {7, 7}, {4, 4}, {3, 3}, 1},
  };
  uint64_t seed = 1000;
  for (const Model& m : models) {
    for (DType dt : {DType::F32, DType::BF16}) {
      const TensorList in = {random(m.x, dt, ++seed), random({m.C_out, m.x[1] / m.groups, m.k[0], m.k[1]}, dt, ++seed),
                             random({m.C_out}, dt, ++seed)};
      const bool f32 = dt == DType::F32;
      check_cuda_matches_cpu(std::string(m.name) + " " + dtype_name(dt),
                             [&m](const TensorList& x) { return conv2d(x[0], x[1], x[2], m.s, m.p, {1, 1}, m.groups); },
                             in, {f32 ? 2e-3 : 0.25, f32 ? 1e-4 : 2e-2, true});
    }
  }
}

TEST_CASE("conv_transpose2d: the non-overlapping 2x2 kernel, im2col, depthwise, both backends") {
  if (!gpu_present()) return;
  struct Case {
    const char* name;
    Shape x;
    int64_t C_out_per_group;
    Size2 k, s, p, output_padding;
    int64_t groups;
    cuda::ConvPath path;  // of the forward (the convolution's input gradient)
  };
  const Case cases[] = {
      {"2x2 stride 2 (mask decoder upscaling)", {2, 24, 9, 11}, 12, {2, 2}, {2, 2}, {0, 0}, {0, 0}, 1,
       cuda::ConvPath::NonOverlapping},
      {"2x2 stride 2, 2 groups", {2, 16, 7, 6}, 5, {2, 2}, {2, 2}, {0, 0}, {0, 0}, 2, cuda::ConvPath::NonOverlapping},
      {"2x2 stride 2, 37 channels (partial tiles)", {1, 37, 5, 9}, 11, {2, 2}, {2, 2}, {0, 0}, {0, 0}, 1,
       cuda::ConvPath::NonOverlapping},
      {"2x2 stride 2 with output padding", {2, 8, 5, 6}, 4, {2, 2}, {2, 2}, {0, 0}, {1, 1}, 1, cuda::ConvPath::Im2col},
      {"4x4 stride 2 padding 1", {2, 6, 7, 8}, 5, {4, 4}, {2, 2}, {1, 1}, {0, 0}, 1, cuda::ConvPath::Im2col},
      {"3x3 stride 2 padding 1 output padding 1", {1, 5, 6, 7}, 3, {3, 3}, {2, 2}, {1, 1}, {1, 1}, 1,
       cuda::ConvPath::Im2col},
      {"depthwise 3x3 stride 2", {2, 6, 8, 9}, 1, {3, 3}, {2, 2}, {1, 1}, {1, 1}, 6, cuda::ConvPath::Depthwise},
      {"depthwise 7x7 stride 1, two input channels per output", {1, 8, 12, 10}, 1, {7, 7}, {1, 1}, {3, 3}, {0, 0}, 4,
       cuda::ConvPath::Depthwise},
  };
  uint64_t seed = 2000;
  for (const Case& c : cases) {
    // The geometry of the convolution whose input gradient this is.
    const int64_t C_in_t = c.x[1], C_out_t = c.C_out_per_group * c.groups;
    cuda::ConvGeometry g;
    g.N = c.x[0], g.C_out = C_in_t, g.OH = c.x[2], g.OW = c.x[3], g.C_in = C_out_t;
    g.kH = c.k[0], g.kW = c.k[1], g.sH = c.s[0], g.sW = c.s[1], g.pH = c.p[0], g.pW = c.p[1], g.groups = c.groups;
    g.H = (g.OH - 1) * g.sH - 2 * g.pH + g.kH + c.output_padding[0];
    g.W = (g.OW - 1) * g.sW - 2 * g.pW + g.kW + c.output_padding[1];
    INFO(c.name);
    CHECK(cuda::conv2d_input_grad_path(g, {}) == c.path);
    for (const DtypeTolerance& t : kDtypes) {
      const TensorList in = {random(c.x, t.dtype, ++seed), random({C_in_t, c.C_out_per_group, c.k[0], c.k[1]}, t.dtype, ++seed),
                             random({C_out_t}, t.dtype, ++seed)};
      for_each_backend([&](const char* backend) {
        if (std::string(backend) == "cudnn" && t.dtype == DType::F64) return;
        check_cuda_matches_cpu(std::string(c.name) + " " + dtype_name(t.dtype) + " " + backend,
                               [&c](const TensorList& x) {
                                 return conv_transpose2d(x[0], x[1], x[2], c.s, c.p, c.output_padding, c.groups);
                               },
                               in, {t.atol, t.rtol, true, t.dtype == DType::F32});
      });
    }
  }
}

TEST_CASE("our kernels against cuDNN at the models' shapes") {
  if (!gpu_present()) return;
  for (DType dt : {DType::F32, DType::BF16}) {
    const bool f32 = dt == DType::F32;
    const double atol = f32 ? 2e-3 : 0.25, rtol = f32 ? 1e-4 : 2e-2;
    const std::string suffix = std::string(" ") + dtype_name(dt);
    check_native_matches_cudnn("depthwise 7x7 [1, 256, 64, 64]" + suffix,
                               [](const TensorList& x) { return conv2d(x[0], x[1], x[2], {1, 1}, {3, 3}, {1, 1}, 256); },
                               {random({1, 256, 64, 64}, dt, 1), random({256, 1, 7, 7}, dt, 2), random({256}, dt, 3)}, atol,
                               rtol);
    check_native_matches_cudnn("depthwise 7x7 [4, 256, 32, 32]" + suffix,
                               [](const TensorList& x) { return conv2d(x[0], x[1], x[2], {1, 1}, {3, 3}, {1, 1}, 256); },
                               {random({4, 256, 32, 32}, dt, 4), random({256, 1, 7, 7}, dt, 5), random({256}, dt, 6)}, atol,
                               rtol);
    check_native_matches_cudnn("patch embedding [1, 3, 1024, 1024] -> 144" + suffix,
                               [](const TensorList& x) { return conv2d(x[0], x[1], x[2], {4, 4}, {3, 3}); },
                               {random({1, 3, 1024, 1024}, dt, 7), random({144, 3, 7, 7}, dt, 8), random({144}, dt, 9)},
                               f32 ? 5e-3 : 0.5, rtol);
    // The mask downsampler: four 3x3 stride-2 convolutions from the 1024x1024 mask.
    const int64_t channels[] = {1, 4, 16, 64, 256};
    for (int i = 0; i < 4; ++i) {
      const int64_t size = 1024 >> i;
      check_native_matches_cudnn(
          "mask downsampler " + std::to_string(channels[i]) + " -> " + std::to_string(channels[i + 1]) + " at " +
              std::to_string(size) + suffix,
          [](const TensorList& x) { return conv2d(x[0], x[1], x[2], {2, 2}, {1, 1}); },
          {random({1, channels[i], size, size}, dt, 10 + i), random({channels[i + 1], channels[i], 3, 3}, dt, 20 + i),
           random({channels[i + 1]}, dt, 30 + i)},
          f32 ? 2e-3 : 0.25, rtol);
    }
    check_native_matches_cudnn("mask_downsample 4x4/4 [1, 1, 1024, 1024]" + suffix,
                               [](const TensorList& x) { return conv2d(x[0], x[1], x[2], {4, 4}); },
                               {random({1, 1, 1024, 1024}, dt, 40), random({1, 1, 4, 4}, dt, 41), random({1}, dt, 42)},
                               f32 ? 5e-3 : 0.5, rtol);
    check_native_matches_cudnn("conv_transpose 2x2/2 [1, 256, 64, 64] -> 64" + suffix,
                               [](const TensorList& x) { return conv_transpose2d(x[0], x[1], x[2], {2, 2}); },
                               {random({1, 256, 64, 64}, dt, 43), random({256, 64, 2, 2}, dt, 44), random({64}, dt, 45)},
                               f32 ? 5e-3 : 0.5, rtol);
    check_native_matches_cudnn("conv_transpose 2x2/2 [1, 64, 128, 128] -> 32" + suffix,
                               [](const TensorList& x) { return conv_transpose2d(x[0], x[1], x[2], {2, 2}); },
                               {random({1, 64, 128, 128}, dt, 46), random({64, 32, 2, 2}, dt, 47), random({32}, dt, 48)},
                               f32 ? 5e-3 : 0.5, rtol);
    check_native_matches_cudnn("1x1 [2, 256, 64, 64] -> 64" + suffix,
                               [](const TensorList& x) { return conv2d(x[0], x[1], x[2]); },
                               {random({2, 256, 64, 64}, dt, 49), random({64, 256, 1, 1}, dt, 50), random({64}, dt, 51)},
                               f32 ? 5e-3 : 0.5, rtol);
  }
}

TEST_CASE("TF32 in convolutions is an opt-in") {
  if (!gpu_present()) return;
  const TensorList in = {random({2, 72, 11, 13}, DType::F32, 60), random({24, 72, 3, 3}, DType::F32, 61),
                         random({24}, DType::F32, 62)};
  const auto f = [](const TensorList& x) { return conv2d(x[0], x[1], x[2], {1, 1}, {1, 1}); };
  set_allow_tf32(true);
  for_each_backend([&](const char* backend) {
    check_cuda_matches_cpu(std::string("im2col with TF32 ") + backend, f, in, {0.2, 1e-2, false});
  });
  set_allow_tf32(false);
  for_each_backend([&](const char* backend) {
    check_cuda_matches_cpu(std::string("im2col without TF32 ") + backend, f, in, {3e-4, 1e-4, false});
  });
}

TEST_CASE("max_pool2d and avg_pool2d on the device match the CPU, forward and backward") {
  if (!gpu_present()) return;
  struct Case {
    Size2 k, s, p, d;
    bool ceil;
  };
  const Case cases[] = {
      {{3, 3}, {2, 2}, {1, 1}, {1, 1}, false}, {{2, 2}, {0, 0}, {0, 0}, {1, 1}, false},
      {{3, 3}, {2, 2}, {0, 0}, {1, 1}, true},  {{3, 2}, {1, 2}, {1, 1}, {2, 1}, false},
      {{2, 3}, {2, 2}, {1, 1}, {1, 2}, true},  {{1, 1}, {2, 3}, {0, 0}, {1, 1}, true},
      {{4, 4}, {3, 3}, {2, 1}, {1, 1}, true},
  };
  uint64_t seed = 3000;
  for (const Case& c : cases) {
    INFO("kernel " << c.k[0] << "x" << c.k[1] << " stride " << c.s[0] << "x" << c.s[1] << " ceil " << c.ceil);
    for (const DtypeTolerance& t : kDtypes) {
      const Tensor x = random({2, 3, 13, 11}, t.dtype, ++seed);
      // Max pooling selects and routes values: exact.
      check_cuda_matches_cpu(std::string("max_pool2d ") + dtype_name(t.dtype),
                             [&c](const TensorList& in) { return max_pool2d(in[0], c.k, c.s, c.p, c.d, c.ceil); }, {x},
                             {0, 0, true, true});
      if (c.d[0] != 1 || c.d[1] != 1) continue;
      for (bool include_pad : {true, false}) {
        check_cuda_matches_cpu(
            std::string("avg_pool2d ") + dtype_name(t.dtype) + (include_pad ? " counting padding" : ""),
            [&c, include_pad](const TensorList& in) { return avg_pool2d(in[0], c.k, c.s, c.p, c.ceil, include_pad); },
            {x}, {t.dtype == DType::F64 ? 1e-14 : 1e-6, t.dtype == DType::F64 ? 1e-14 : 1e-6, true});
      }
    }
  }
  // Ties go to the first maximum, NaN wins; unbatched input.
  Tensor ties = ones({1, 1, 4, 6});
  copy_(narrow(narrow(ties, 2, 1, 1), 3, 4, 1), full({1, 1, 1, 1}, NAN));
  check_cuda_matches_cpu("max_pool2d ties and NaN", [](const TensorList& in) { return max_pool2d(in[0], {2, 2}); },
                         {ties}, {0, 0, true});
  check_cuda_matches_cpu("avg_pool2d unbatched",
                         [](const TensorList& in) { return avg_pool2d(in[0], {3, 3}, {2, 2}, {1, 1}); },
                         {random({3, 9, 10}, DType::F32, 3100)}, {1e-6, 1e-6, true});
}

TEST_CASE("cuDNN is refused clearly when it is not built") {
  if (!gpu_present()) return;
  if (cuda::cudnn_available()) return;
  set_conv_backend(ConvBackend::Cudnn);
  const Tensor x = zeros({1, 1, 4, 4}, DType::F32, Device::cuda()), w = zeros({1, 1, 3, 3}, DType::F32, Device::cuda());
  CHECK_THROWS_WITH_AS(conv2d(x, w), doctest::Contains("without cuDNN"), std::runtime_error);
  set_conv_backend(ConvBackend::Native);
}

#else

TEST_CASE("CUDA kernels") { MESSAGE("skipped: rvos was built without CUDA"); }

#endif
