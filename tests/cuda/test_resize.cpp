// interpolate on the device against the CPU, forward and backward: nearest and nearest-exact (also
// on integer tensors), linear, bilinear (both kernels the CPU picks between), bicubic, antialiased
// downsampling, align_corners both ways, scale factors, odd sizes, every floating dtype, strided and
// channels-last inputs, and the models' resizes. The device applies the CPU's own weights in the
// CPU's order of operations, so the tolerances are at the level of the last bit.
#include <optional>

#include "cuda_testing.h"

using namespace rvos;
using namespace rvos::testing;

namespace {

const DtypeTolerance kDtypes[] = {{DType::F32, 1e-6, 1e-6},
                                  {DType::F64, 1e-13, 1e-13},
                                  {DType::BF16, 1e-2, 1e-2},
                                  {DType::F16, 1e-3, 1e-3}};

std::string describe(const InterpolateOptions& o) {
  static const char* names[] = {"nearest", "nearest-exact", "linear", "bilinear", "bicubic"};
  std::string s = names[static_cast<int>(o.mode)];
  if (!o.size.empty()) s += " to " + shape_str(o.size);
  if (!o.scale_factor.empty()) s += " by " + std::to_string(o.scale_factor[0]);
  if (o.align_corners) s += " align_corners";
  if (o.antialias) s += " antialias";
  return s;
}

void check_resize(const Shape& shape, const InterpolateOptions& options, uint64_t seed, bool non_contiguous = false) {
  for (const DtypeTolerance& t : kDtypes) {
    check_cuda_matches_cpu(shape_str(shape) + " " + describe(options) + " " + dtype_name(t.dtype),
                           [options](const TensorList& x) { return interpolate(x[0], options); },
                           {random(shape, t.dtype, seed)}, {t.atol, t.rtol, true, non_contiguous});
  }
}

}  // namespace

TEST_CASE("bilinear up and down, align_corners both ways, both CPU kernels") {
  if (!gpu_present()) return;
  uint64_t seed = 1;
  for (bool ac : {false, true}) {
    // Outputs with OH + OW <= 128 take the direct (channels-last) evaluation, larger ones the separable one.
    check_resize({2, 3, 13, 17}, InterpolateOptions::to_size(InterpMode::Bilinear, {29, 31}, ac), ++seed);
    check_resize({2, 3, 37, 29}, InterpolateOptions::to_size(InterpMode::Bilinear, {11, 7}, ac), ++seed);
    check_resize({1, 2, 40, 50}, InterpolateOptions::to_size(InterpMode::Bilinear, {97, 83}, ac), ++seed);
    check_resize({1, 2, 150, 90}, InterpolateOptions::to_size(InterpMode::Bilinear, {61, 77}, ac), ++seed);
    check_resize({2, 3, 13, 17}, InterpolateOptions::to_size(InterpMode::Bilinear, {13, 40}, ac), ++seed);  // one axis unchanged
    check_resize({2, 3, 13, 17}, InterpolateOptions::to_size(InterpMode::Bilinear, {29, 31}, ac), ++seed, /*non_contiguous=*/true);
  }
}

TEST_CASE("bicubic up and down, align_corners both ways") {
  if (!gpu_present()) return;
  uint64_t seed = 100;
  for (bool ac : {false, true}) {
    check_resize({2, 3, 11, 9}, InterpolateOptions::to_size(InterpMode::Bicubic, {26, 19}, ac), ++seed);
    check_resize({1, 4, 45, 38}, InterpolateOptions::to_size(InterpMode::Bicubic, {17, 23}, ac), ++seed);
    check_resize({1, 2, 7, 7}, InterpolateOptions::to_size(InterpMode::Bicubic, {64, 70}, ac), ++seed, true);
  }
}

TEST_CASE("antialiased downsampling (bilinear and bicubic), also mixed with upsampling") {
  if (!gpu_present()) return;
  uint64_t seed = 200;
  for (InterpMode mode : {InterpMode::Bilinear, InterpMode::Bicubic}) {
    for (bool ac : {false, true}) {
      check_resize({2, 3, 37, 41}, InterpolateOptions::to_size(mode, {9, 13}, ac, true), ++seed);
      check_resize({1, 3, 16, 16}, InterpolateOptions::to_size(mode, {5, 7}, ac, true), ++seed);
      check_resize({1, 2, 12, 50}, InterpolateOptions::to_size(mode, {30, 11}, ac, true), ++seed);  // up in H, down in W
      check_resize({1, 2, 12, 50}, InterpolateOptions::to_size(mode, {12, 11}, ac, true), ++seed);  // H unchanged: one pass
      check_resize({1, 2, 64, 48}, InterpolateOptions::to_size(mode, {64, 48}, ac, true), ++seed);  // nothing to do
    }
  }
}

TEST_CASE("nearest and nearest-exact, 2-D and 1-D, on floating and integer tensors") {
  if (!gpu_present()) return;
  uint64_t seed = 300;
  for (InterpMode mode : {InterpMode::Nearest, InterpMode::NearestExact}) {
    check_resize({2, 3, 13, 17}, InterpolateOptions::to_size(mode, {29, 31}), ++seed);
    check_resize({2, 3, 37, 29}, InterpolateOptions::to_size(mode, {11, 7}), ++seed);
    check_resize({1, 2, 40, 50}, InterpolateOptions::to_size(mode, {97, 83}), ++seed, true);
    check_resize({1, 2, 40, 50}, InterpolateOptions::to_size(mode, {80, 100}), ++seed);  // exactly twice: the index shortcut
    check_resize({2, 3, 23}, InterpolateOptions::to_size(mode, {50}), ++seed);
    check_resize({2, 3, 23}, InterpolateOptions::by_scale(mode, {0.61}), ++seed);
    for (DType dt : {DType::I32, DType::U8, DType::Bool, DType::I64}) {
      const Tensor x = to(abs(mul(random({2, 3, 13, 17}, DType::F64, ++seed), 50.0)), dt);
      check_cuda_matches_cpu(std::string("nearest on ") + dtype_name(dt),
                             [mode](const TensorList& in) { return interpolate(in[0], InterpolateOptions::to_size(mode, {29, 8})); }, {x},
                             {0, 0, false});
    }
  }
}

TEST_CASE("linear 1-D and scale factors") {
  if (!gpu_present()) return;
  uint64_t seed = 400;
  for (bool ac : {false, true}) {
    check_resize({2, 3, 23}, InterpolateOptions::to_size(InterpMode::Linear, {50}, ac), ++seed);
    check_resize({2, 3, 51}, InterpolateOptions::to_size(InterpMode::Linear, {17}, ac), ++seed, true);
    check_resize({2, 3, 23}, InterpolateOptions::by_scale(InterpMode::Linear, {1.7}, ac), ++seed);
  }
  check_resize({1, 3, 13, 17}, InterpolateOptions::by_scale(InterpMode::Bilinear, {1.7, 0.45}), ++seed);
  check_resize({1, 3, 13, 17}, InterpolateOptions::by_scale(InterpMode::Bilinear, {1.7, 0.45}, false, true), ++seed);
  check_resize({1, 3, 13, 17}, InterpolateOptions::by_scale(InterpMode::Bicubic, {2.5}), ++seed);
  check_resize({1, 3, 13, 17}, InterpolateOptions::by_scale(InterpMode::Nearest, {2.5, 1.3}), ++seed);
}

TEST_CASE("channels-last inputs take the CPU's channels-last kernels on the device too") {
  if (!gpu_present()) return;
  for (const DtypeTolerance& t : kDtypes) {
    // [N, H, W, C] storage viewed as [N, C, H, W] with C > 3: the CPU's channels-last path.
    const Tensor x = random({2, 21, 19, 8}, t.dtype, 500);
    for (const InterpolateOptions& o :
         {InterpolateOptions::to_size(InterpMode::Bilinear, {45, 40}), InterpolateOptions::to_size(InterpMode::Bilinear, {45, 40}, true),
          InterpolateOptions::to_size(InterpMode::Nearest, {45, 40}), InterpolateOptions::to_size(InterpMode::NearestExact, {9, 7})}) {
      check_cuda_matches_cpu(std::string("channels-last ") + describe(o) + " " + dtype_name(t.dtype),
                             [o](const TensorList& in) { return interpolate(permute(in[0], {0, 3, 1, 2}), o); }, {x},
                             {t.atol, t.rtol, true});
    }
  }
}

TEST_CASE("the models' resizes") {
  if (!gpu_present()) return;
  for (DType dt : {DType::F32, DType::BF16}) {
    const double tol = dt == DType::F32 ? 1e-6 : 1e-2;
    // SAM 2: low-resolution mask logits to the image size.
    check_cuda_matches_cpu(std::string("masks 256 -> 1024 bilinear ") + dtype_name(dt),
                           [](const TensorList& in) { return interpolate(in[0], InterpolateOptions::to_size(InterpMode::Bilinear, {1024, 1024})); },
                           {random({1, 3, 256, 256}, dt, 600)}, {tol, tol, true});
    // Video-resolution masks.
    check_cuda_matches_cpu(std::string("masks 1024 -> 480x854 bilinear ") + dtype_name(dt),
                           [](const TensorList& in) { return interpolate(in[0], InterpolateOptions::to_size(InterpMode::Bilinear, {480, 854})); },
                           {random({2, 1, 1024, 1024}, dt, 601)}, {tol, tol, false});
    // Hiera's window-tiled position embedding, interpolated bicubically to the feature size.
    check_cuda_matches_cpu(std::string("position embedding 7x7 -> 64x64 bicubic ") + dtype_name(dt),
                           [](const TensorList& in) { return interpolate(in[0], InterpolateOptions::to_size(InterpMode::Bicubic, {64, 64})); },
                           {random({1, 144, 7, 7}, dt, 602)}, {tol, tol, true});
    // Antialiased downscaling of a frame.
    check_cuda_matches_cpu(std::string("frame 540x960 -> 256x256 antialias ") + dtype_name(dt),
                           [](const TensorList& in) {
                             return interpolate(in[0], InterpolateOptions::to_size(InterpMode::Bilinear, {256, 256}, false, true));
                           },
                           {random({1, 3, 540, 960}, dt, 603)}, {tol, tol, true});
  }
}

TEST_CASE("interpolate on an empty batch") {
  if (!gpu_present()) return;
  const Tensor empty = interpolate(zeros({0, 3, 4, 5}, DType::F32, Device::cuda()), InterpolateOptions::to_size(InterpMode::Bilinear, {8, 9}));
  CHECK(empty.shape() == Shape{0, 3, 8, 9});
  CHECK(empty.is_cuda());
}
