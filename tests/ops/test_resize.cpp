#include <cmath>
#include <optional>

#include "testing.h"

using namespace rvos;
using namespace rvos::testing;

namespace {

// ---------------------------------------------------------------- references
// Each axis of every mode is a linear map input -> output, written here as a dense
// [out, in] matrix straight from the textbook definitions (in double); the 2-D
// result is A_h * X * A_w^T per plane.
using Mat = std::vector<std::vector<double>>;

Mat zeros_mat(int64_t out, int64_t in) {
  return Mat(static_cast<size_t>(out), std::vector<double>(static_cast<size_t>(in), 0.0));
}

// Input step per output step: (in-1)/(out-1) with align_corners, else 1/scale_factor
// when one is given, else in/out.
double step(int64_t in, int64_t out, bool align_corners, std::optional<double> sf) {
  if (align_corners) return out > 1 ? double(in - 1) / double(out - 1) : 0.0;
  return sf ? 1.0 / *sf : double(in) / double(out);
}

Mat nearest_mat(int64_t in, int64_t out, bool exact, std::optional<double> sf = std::nullopt) {
  Mat m = zeros_mat(out, in);
  const double s = step(in, out, false, sf);
  for (int64_t o = 0; o < out; ++o) {
    const double src = exact ? (o + 0.5) * s : o * s;
    m[o][std::min<int64_t>(static_cast<int64_t>(std::floor(src)), in - 1)] = 1.0;
  }
  return m;
}

Mat linear_mat(int64_t in, int64_t out, bool align_corners, std::optional<double> sf = std::nullopt) {
  Mat m = zeros_mat(out, in);
  const double s = step(in, out, align_corners, sf);
  for (int64_t o = 0; o < out; ++o) {
    if (in == out) {
      m[o][o] = 1.0;
      continue;
    }
    // Half-pixel centres; source positions left of the first centre read pixel 0.
    double src = align_corners ? o * s : std::max(0.0, (o + 0.5) * s - 0.5);
    const int64_t i0 = std::min<int64_t>(static_cast<int64_t>(std::floor(src)), in - 1);
    const int64_t i1 = std::min<int64_t>(i0 + 1, in - 1);
    const double t = std::clamp(src - i0, 0.0, 1.0);
    m[o][i0] += 1 - t;
    m[o][i1] += t;
  }
  return m;
}

// Keys' cubic convolution kernel with parameter a.
double keys(double x, double a) {
  x = std::fabs(x);
  if (x <= 1) return (a + 2) * x * x * x - (a + 3) * x * x + 1;
  if (x < 2) return a * x * x * x - 5 * a * x * x + 8 * a * x - 4 * a;
  return 0;
}

Mat cubic_mat(int64_t in, int64_t out, bool align_corners, std::optional<double> sf = std::nullopt) {
  Mat m = zeros_mat(out, in);
  const double s = step(in, out, align_corners, sf);
  for (int64_t o = 0; o < out; ++o) {
    const double src = align_corners ? o * s : (o + 0.5) * s - 0.5;  // not clamped
    const int64_t i = static_cast<int64_t>(std::floor(src));
    const double t = src - i;
    for (int64_t j = -1; j <= 2; ++j) {
      // Taps outside the image read the border pixel.
      m[o][std::clamp<int64_t>(i + j, 0, in - 1)] += keys(j - t, -0.75);
    }
  }
  return m;
}

// Antialiased resampling (PIL's definition): the filter (triangle, or Keys with
// a = -0.5) stretched by the downsampling factor, centred on the output pixel's
// centre, evaluated at the input pixel centres that fall within its support, and
// normalised to sum to one.
Mat antialias_mat(int64_t in, int64_t out, bool cubic, std::optional<double> sf = std::nullopt) {
  Mat m = zeros_mat(out, in);
  const double s = step(in, out, false, sf);
  const double stretch = std::max(s, 1.0);
  const double support = (cubic ? 2.0 : 1.0) * stretch;
  for (int64_t o = 0; o < out; ++o) {
    const double center = (o + 0.5) * s;
    const int64_t lo = std::max<int64_t>(0, static_cast<int64_t>(std::floor(center - support + 0.5)));
    const int64_t hi = std::min<int64_t>(in, static_cast<int64_t>(std::floor(center + support + 0.5)));
    double total = 0;
    for (int64_t i = lo; i < hi; ++i) {
      const double x = (i + 0.5 - center) / stretch;
      const double w = cubic ? keys(x, -0.5) : std::max(0.0, 1 - std::fabs(x));
      m[o][i] = w;
      total += w;
    }
    for (int64_t i = lo; i < hi; ++i) m[o][i] /= total;
  }
  return m;
}

Mat identity_mat(int64_t n) {
  Mat m = zeros_mat(n, n);
  for (int64_t i = 0; i < n; ++i) m[i][i] = 1;
  return m;
}

// out[n, c] = Ah * x[n, c] * Aw^T for x [N, C, H, W] (or [N, C, W] with Ah = [[1]]).
Tensor apply_ref(const Tensor& x, const Mat& Ah, const Mat& Aw) {
  const bool is2d = x.dim() == 4;
  const int64_t N = x.size(0), C = x.size(1), H = is2d ? x.size(2) : 1, W = x.size(-1);
  const int64_t OH = static_cast<int64_t>(Ah.size()), OW = static_cast<int64_t>(Aw.size());
  auto xv = to_vector<double>(x);
  std::vector<double> o(static_cast<size_t>(N * C * OH * OW), 0.0);
  for (int64_t p = 0; p < N * C; ++p)
    for (int64_t oh = 0; oh < OH; ++oh)
      for (int64_t ow = 0; ow < OW; ++ow) {
        double acc = 0;
        for (int64_t h = 0; h < H; ++h)
          for (int64_t w = 0; w < W; ++w) acc += Ah[oh][h] * Aw[ow][w] * xv[(p * H + h) * W + w];
        o[(p * OH + oh) * OW + ow] = acc;
      }
  Shape s = is2d ? Shape{N, C, OH, OW} : Shape{N, C, OW};
  return from_vector(o, s);
}

Mat axis_mat(InterpMode mode, int64_t in, int64_t out, bool ac, std::optional<double> sf = std::nullopt) {
  switch (mode) {
    case InterpMode::Nearest: return nearest_mat(in, out, false, sf);
    case InterpMode::NearestExact: return nearest_mat(in, out, true, sf);
    case InterpMode::Linear:
    case InterpMode::Bilinear: return linear_mat(in, out, ac, sf);
    case InterpMode::Bicubic: return cubic_mat(in, out, ac, sf);
  }
  return {};
}

// float32 against the double references: positions like scale * o are rounded to
// float (as in PyTorch), which moves samples by up to ~1e-6 of a pixel.
constexpr double kF32Tol = 1e-5;

Tensor grid2x2() { return from_vector<double>({1, 2, 3, 4}, {1, 1, 2, 2}); }

}  // namespace

TEST_CASE("interp_mode_from_name") {
  CHECK(interp_mode_from_name("nearest") == InterpMode::Nearest);
  CHECK(interp_mode_from_name("nearest-exact") == InterpMode::NearestExact);
  CHECK(interp_mode_from_name("linear") == InterpMode::Linear);
  CHECK(interp_mode_from_name("bilinear") == InterpMode::Bilinear);
  CHECK(interp_mode_from_name("bicubic") == InterpMode::Bicubic);
  CHECK_THROWS_WITH_AS(interp_mode_from_name("area"), doctest::Contains("unknown mode 'area'"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(interp_mode_from_name("Bilinear"), doctest::Contains("expected nearest, nearest-exact"),
                       std::invalid_argument);
}

TEST_CASE("interpolate known values on a 2x2 grid") {
  Tensor x = grid2x2();
  // Bilinear, half-pixel centres: source positions -0.25 (clamped to 0), 0.25, 0.75, 1.25.
  Tensor b = interpolate(x, InterpolateOptions::to_size(InterpMode::Bilinear, {4, 4}));
  CHECK(b.shape() == Shape{1, 1, 4, 4});
  CHECK(to_vector<double>(b) == std::vector<double>{1.0, 1.25, 1.75, 2.0, 1.5, 1.75, 2.25, 2.5,
                                                    2.5, 2.75, 3.25, 3.5, 3.0, 3.25, 3.75, 4.0});
  CHECK(to_vector<float>(interpolate(to(x, DType::F32), InterpolateOptions::to_size(InterpMode::Bilinear, {4, 4})))[1] == 1.25f);
  // align_corners: positions 0, 1/3, 2/3, 1.
  Tensor bc = interpolate(x, InterpolateOptions::to_size(InterpMode::Bilinear, {4, 4}, true));
  CHECK_CLOSE(select(select(select(bc, 0, 0), 0, 0), 0, 0), from_vector<double>({1.0, 4.0 / 3, 5.0 / 3, 2.0}, {4}),
              1e-15, 0);
  // Legacy nearest 2 -> 3 reads floor(o * 2/3) = [0, 0, 1].
  CHECK(to_vector<double>(interpolate(x, InterpolateOptions::to_size(InterpMode::Nearest, {3, 3}))) ==
        std::vector<double>{1, 1, 2, 1, 1, 2, 3, 3, 4});
  // nearest-exact reads floor((o + 0.5) * 2/3) = [0, 1, 1].
  CHECK(to_vector<double>(interpolate(x, InterpolateOptions::to_size(InterpMode::NearestExact, {3, 3}))) ==
        std::vector<double>{1, 2, 2, 3, 4, 4, 3, 4, 4});
  // Same size: every mode is the identity.
  for (InterpMode m : {InterpMode::Nearest, InterpMode::NearestExact, InterpMode::Bilinear, InterpMode::Bicubic}) {
    CHECK(to_vector<double>(interpolate(x, InterpolateOptions::to_size(m, {2, 2}))) == to_vector<double>(x));
  }
  // Bicubic of a constant stays constant (weights sum to one), including at the borders.
  Tensor k = full({1, 2, 3, 4}, 2.5, DType::F64);
  CHECK_CLOSE(interpolate(k, InterpolateOptions::to_size(InterpMode::Bicubic, {7, 5})), full({1, 2, 7, 5}, 2.5, DType::F64), 1e-14, 0);
}

TEST_CASE("interpolate output size 1") {
  Tensor x = from_vector<double>({1, 2, 4, 8}, {1, 1, 4});
  // Without align_corners the single output samples the centre: position 4 * 0.5 - 0.5 = 1.5.
  CHECK(to_vector<double>(interpolate(x, InterpolateOptions::to_size(InterpMode::Linear, {1}))) == std::vector<double>{3.0});
  // With align_corners the scale is 0: the first pixel.
  CHECK(to_vector<double>(interpolate(x, InterpolateOptions::to_size(InterpMode::Linear, {1}, true))) == std::vector<double>{1.0});
  CHECK(to_vector<double>(interpolate(x, InterpolateOptions::to_size(InterpMode::Nearest, {1}))) == std::vector<double>{1.0});
  CHECK(to_vector<double>(interpolate(x, InterpolateOptions::to_size(InterpMode::NearestExact, {1}))) == std::vector<double>{4.0});
  Tensor x2 = reshape(x, {1, 1, 1, 4});
  CHECK_CLOSE(interpolate(x2, InterpolateOptions::to_size(InterpMode::Bicubic, {1, 1})),
              apply_ref(x2, cubic_mat(1, 1, false), cubic_mat(4, 1, false)), 1e-15, 0);
}

TEST_CASE("interpolate matches the references on odd sizes, up and down") {
  const Shape in{2, 3, 7, 9};
  Tensor x = random(in, DType::F64, 11);
  Tensor xf = to(x, DType::F32);
  for (InterpMode m : {InterpMode::Nearest, InterpMode::NearestExact, InterpMode::Bilinear, InterpMode::Bicubic}) {
    for (bool ac : {false, true}) {
      if (ac && (m == InterpMode::Nearest || m == InterpMode::NearestExact)) continue;
      for (Shape size : {Shape{16, 5}, Shape{5, 16}, Shape{3, 13}, Shape{70, 61}}) {
        INFO("mode " << int(m) << " align_corners " << ac << " size " << shape_str(size));
        Tensor ref = apply_ref(x, axis_mat(m, 7, size[0], ac), axis_mat(m, 9, size[1], ac));
        CHECK_CLOSE(interpolate(x, InterpolateOptions::to_size(m, size, ac)), ref, 1e-12, 1e-12);
        CHECK_CLOSE(interpolate(non_contiguous(x), InterpolateOptions::to_size(m, size, ac)), ref, 1e-12, 1e-12);
        Tensor yf = interpolate(xf, InterpolateOptions::to_size(m, size, ac));
        CHECK(yf.dtype() == DType::F32);
        CHECK_CLOSE(yf, ref, kF32Tol, 0);
      }
    }
  }
}

TEST_CASE("interpolate 1-D linear and nearest") {
  Tensor x = random({2, 3, 9}, DType::F64, 5);
  for (int64_t out : {1, 4, 9, 20, 31}) {
    for (bool ac : {false, true}) {
      INFO("out " << out << " align_corners " << ac);
      Tensor ref = apply_ref(x, identity_mat(1), linear_mat(9, out, ac));
      CHECK_CLOSE(interpolate(x, InterpolateOptions::to_size(InterpMode::Linear, {out}, ac)), ref, 1e-12, 1e-12);
      CHECK_CLOSE(interpolate(non_contiguous(x), InterpolateOptions::to_size(InterpMode::Linear, {out}, ac)), ref, 1e-12, 1e-12);
      CHECK_CLOSE(interpolate(to(x, DType::F32), InterpolateOptions::to_size(InterpMode::Linear, {out}, ac)), ref, kF32Tol, 0);
    }
    for (InterpMode m : {InterpMode::Nearest, InterpMode::NearestExact}) {
      Tensor ref = apply_ref(x, identity_mat(1), axis_mat(m, 9, out, false));
      CHECK(to_vector<double>(interpolate(non_contiguous(x), InterpolateOptions::to_size(m, {out}))) == to_vector<double>(ref));
    }
  }
}

TEST_CASE("interpolate reads inputs of any layout") {
  // A channels-last tensor seen as [N, C, H, W]: N and C are not mergeable.
  Tensor nhwc = random({2, 5, 6, 3}, DType::F64, 21);
  Tensor x = permute(nhwc, {0, 3, 1, 2});
  REQUIRE_FALSE(x.is_contiguous());
  Tensor xc = contiguous(x);
  for (InterpMode m : {InterpMode::Nearest, InterpMode::Bilinear, InterpMode::Bicubic}) {
    CHECK(to_vector<double>(interpolate(x, InterpolateOptions::to_size(m, {9, 4}))) == to_vector<double>(interpolate(xc, InterpolateOptions::to_size(m, {9, 4}))));
    CHECK(to_vector<double>(interpolate(x, InterpolateOptions::to_size(m, {40, 100}))) ==
          to_vector<double>(interpolate(xc, InterpolateOptions::to_size(m, {40, 100}))));
  }
  InterpolateOptions aa = InterpolateOptions::to_size(InterpMode::Bicubic, {3, 2}, false, true);
  CHECK(to_vector<double>(interpolate(x, aa)) == to_vector<double>(interpolate(xc, aa)));
  // A strided slice along H.
  Tensor big = random({1, 2, 13, 7}, DType::F64, 22);
  Tensor sl = slice(big, 2, 1, 13, 2);
  CHECK_CLOSE(interpolate(sl, InterpolateOptions::to_size(InterpMode::Bilinear, {11, 3})),
              apply_ref(contiguous(sl), linear_mat(6, 11, false), linear_mat(7, 3, false)), 1e-12, 1e-12);
}

TEST_CASE("interpolate with scale_factor maps coordinates by 1/scale_factor") {
  Tensor x = random({1, 2, 7, 9}, DType::F64, 3);
  // 7 * 2.3 = 16.1 -> 16 rows, 9 * 0.6 = 5.4 -> 5 columns; the mapping uses 1/2.3 and 1/0.6,
  // not 7/16 and 9/5.
  for (InterpMode m : {InterpMode::Nearest, InterpMode::NearestExact, InterpMode::Bilinear, InterpMode::Bicubic}) {
    INFO("mode " << int(m));
    Tensor y = interpolate(x, InterpolateOptions::by_scale(m, {2.3, 0.6}));
    CHECK(y.shape() == Shape{1, 2, 16, 5});
    Tensor ref = apply_ref(x, axis_mat(m, 7, 16, false, 2.3), axis_mat(m, 9, 5, false, 0.6));
    CHECK_CLOSE(y, ref, 1e-12, 1e-12);
    CHECK_CLOSE(interpolate(to(x, DType::F32), InterpolateOptions::by_scale(m, {2.3, 0.6})), ref, kF32Tol, 0);
    // recompute_scale_factor: the same output size, mapped by in/out as with an explicit size.
    Tensor r = interpolate(x, InterpolateOptions::by_scale(m, {2.3, 0.6}, false, true));
    CHECK(to_vector<double>(r) == to_vector<double>(interpolate(x, InterpolateOptions::to_size(m, {16, 5}))));
  }
  // The two mappings really differ.
  CHECK(max_abs_diff(interpolate(x, InterpolateOptions::by_scale(InterpMode::Bilinear, {2.3, 0.6})),
                     interpolate(x, InterpolateOptions::to_size(InterpMode::Bilinear, {16, 5}))) > 1e-3);
  // align_corners ignores the scale factor for the mapping.
  CHECK_CLOSE(interpolate(x, InterpolateOptions::by_scale(InterpMode::Bicubic, {2.3, 0.6}, true)),
              apply_ref(x, cubic_mat(7, 16, true), cubic_mat(9, 5, true)), 1e-12, 1e-12);
  // One factor for every spatial dim, one size for every spatial dim.
  CHECK(interpolate(x, InterpolateOptions::by_scale(InterpMode::Nearest, {1.5})).shape() == Shape{1, 2, 10, 13});
  CHECK(interpolate(x, InterpolateOptions::to_size(InterpMode::Nearest, {4})).shape() == Shape{1, 2, 4, 4});
  // 1-D linear with a scale factor.
  Tensor v = random({1, 1, 6}, DType::F64, 4);
  CHECK_CLOSE(interpolate(v, InterpolateOptions::by_scale(InterpMode::Linear, {1.7})),
              apply_ref(v, identity_mat(1), linear_mat(6, 10, false, 1.7)), 1e-12, 1e-12);
}

TEST_CASE("interpolate nearest follows PyTorch's index shortcuts") {
  // For 2-D outputs with H + W <= 128 PyTorch maps output size 2 * input to o >> 1
  // and equal sizes to the identity whatever the scale factor; larger outputs and
  // 1-D inputs use floor(o / scale_factor).
  Tensor x = reshape(arange(5, DType::F64), {1, 1, 1, 5});
  Tensor small = interpolate(x, InterpolateOptions::by_scale(InterpMode::Nearest, {1.0, 2.1}));
  CHECK(to_vector<double>(small) == std::vector<double>{0, 0, 1, 1, 2, 2, 3, 3, 4, 4});
  Tensor one_d = interpolate(reshape(x, {1, 1, 5}), InterpolateOptions::by_scale(InterpMode::Nearest, {2.1}));
  CHECK(to_vector<double>(one_d) == std::vector<double>{0, 0, 0, 1, 1, 2, 2, 3, 3, 4});
  Tensor same = interpolate(x, InterpolateOptions::by_scale(InterpMode::Nearest, {1.0, 1.1}));
  CHECK(to_vector<double>(same) == std::vector<double>{0, 1, 2, 3, 4});
  // Larger outputs use the generic rule: 100 * 2.005 -> 200 columns read floor(o / 2.005).
  Tensor wide = reshape(arange(100, DType::F64), {1, 1, 1, 100});
  Tensor big = interpolate(wide, InterpolateOptions::by_scale(InterpMode::Nearest, {1.0, 2.005}));
  CHECK(big.size(3) == 200);
  CHECK_CLOSE(big, apply_ref(wide, identity_mat(1), nearest_mat(100, 200, false, 2.005)), 0, 0);
  std::vector<double> halves(200);
  for (int64_t o = 0; o < 200; ++o) halves[o] = double(o >> 1);
  CHECK(to_vector<double>(big) != halves);
  // A channels-last input with more than 3 channels takes the shortcut at any size.
  Tensor cl = permute(contiguous(permute(expand(wide, {1, 4, 1, 100}), {0, 2, 3, 1})), {0, 3, 1, 2});
  Tensor big_cl = interpolate(cl, InterpolateOptions::by_scale(InterpMode::Nearest, {1.0, 2.005}));
  for (int64_t c = 0; c < 4; ++c) CHECK(to_vector<double>(select(big_cl, 1, c)) == halves);
  // Three channels-last channels do not.
  Tensor cl3 = permute(contiguous(permute(expand(wide, {1, 3, 1, 100}), {0, 2, 3, 1})), {0, 3, 1, 2});
  CHECK(to_vector<double>(select(interpolate(cl3, InterpolateOptions::by_scale(InterpMode::Nearest, {1.0, 2.005})), 1, 2)) ==
        to_vector<double>(big));
}

TEST_CASE("interpolate nearest on integer tensors") {
  Tensor x = randint(-50, 50, {2, 3, 5, 7}, DType::I64);
  Tensor y = interpolate(x, InterpolateOptions::to_size(InterpMode::Nearest, {8, 3}));
  CHECK(y.dtype() == DType::I64);
  Tensor ref = apply_ref(to(x, DType::F64), nearest_mat(5, 8, false), nearest_mat(7, 3, false));
  CHECK(to_vector<double>(y) == to_vector<double>(ref));
  Tensor u = interpolate(to(x, DType::U8), InterpolateOptions::to_size(InterpMode::NearestExact, {3, 11}));
  CHECK(to_vector<double>(u) ==
        to_vector<double>(to(interpolate(to(x, DType::U8), InterpolateOptions::to_size(InterpMode::NearestExact, {3, 11})), DType::F64)));
}

TEST_CASE("interpolate bilinear: small and large outputs agree with the reference") {
  // PyTorch evaluates outputs with H + W <= 128 in a different order; both must
  // match the definition.
  Tensor x = random({1, 2, 9, 11}, DType::F64, 8);
  Tensor xf = to(x, DType::F32);
  for (Shape size : {Shape{64, 64}, Shape{64, 65}, Shape{130, 3}}) {
    for (bool ac : {false, true}) {
      Tensor ref = apply_ref(x, linear_mat(9, size[0], ac), linear_mat(11, size[1], ac));
      CHECK_CLOSE(interpolate(x, InterpolateOptions::to_size(InterpMode::Bilinear, size, ac)), ref, 1e-12, 1e-12);
      CHECK_CLOSE(interpolate(xf, InterpolateOptions::to_size(InterpMode::Bilinear, size, ac)), ref, kF32Tol, 0);
    }
  }
}

TEST_CASE("interpolate antialias downsampling 16x16 -> 5x7") {
  Tensor x = random({2, 3, 16, 16}, DType::F64, 13);
  for (bool cubic : {false, true}) {
    INFO("cubic " << cubic);
    InterpMode m = cubic ? InterpMode::Bicubic : InterpMode::Bilinear;
    Tensor ref = apply_ref(x, antialias_mat(16, 5, cubic), antialias_mat(16, 7, cubic));
    CHECK_CLOSE(interpolate(x, InterpolateOptions::to_size(m, {5, 7}, false, true)), ref, 1e-12, 1e-12);
    CHECK_CLOSE(interpolate(non_contiguous(x), InterpolateOptions::to_size(m, {5, 7}, false, true)), ref, 1e-12, 1e-12);
    CHECK_CLOSE(interpolate(to(x, DType::F32), InterpolateOptions::to_size(m, {5, 7}, false, true)), ref, kF32Tol, 0);
    // Antialiasing really changes a downsampled result.
    CHECK(max_abs_diff(interpolate(x, InterpolateOptions::to_size(m, {5, 7})), ref) > 0.05);
    // One axis unchanged: only the other is filtered.
    CHECK_CLOSE(interpolate(x, InterpolateOptions::to_size(m, {16, 7}, false, true)),
                apply_ref(x, identity_mat(16), antialias_mat(16, 7, cubic)), 1e-12, 1e-12);
    // With a scale factor the filter is stretched by 1/scale_factor.
    InterpolateOptions sf = InterpolateOptions::by_scale(m, {0.35, 0.45});
    sf.antialias = true;
    CHECK_CLOSE(interpolate(x, sf), apply_ref(x, antialias_mat(16, 5, cubic, 0.35), antialias_mat(16, 7, cubic, 0.45)),
                1e-12, 1e-12);
  }
}

TEST_CASE("interpolate antialias when upsampling") {
  // With scale < 1 the filter keeps its natural support: antialiased bilinear equals
  // plain bilinear, but antialiased bicubic uses Keys' a = -0.5 and renormalises at
  // the borders, so it differs from plain bicubic (a = -0.75, border replication).
  Tensor x = random({1, 2, 3, 4}, DType::F64, 17);
  Tensor aa_lin = interpolate(x, InterpolateOptions::to_size(InterpMode::Bilinear, {7, 9}, false, true));
  CHECK_CLOSE(aa_lin, interpolate(x, InterpolateOptions::to_size(InterpMode::Bilinear, {7, 9})), 1e-12, 1e-12);
  Tensor aa_cub = interpolate(x, InterpolateOptions::to_size(InterpMode::Bicubic, {7, 9}, false, true));
  CHECK_CLOSE(aa_cub, apply_ref(x, antialias_mat(3, 7, true), antialias_mat(4, 9, true)), 1e-12, 1e-12);
  CHECK(max_abs_diff(aa_cub, interpolate(x, InterpolateOptions::to_size(InterpMode::Bicubic, {7, 9}))) > 1e-3);
  // Mixed: up in H, down in W.
  CHECK_CLOSE(interpolate(x, InterpolateOptions::to_size(InterpMode::Bicubic, {5, 3}, false, true)),
              apply_ref(x, antialias_mat(3, 5, true), antialias_mat(4, 3, true)), 1e-12, 1e-12);
  // Same size: a copy.
  CHECK(to_vector<double>(interpolate(x, InterpolateOptions::to_size(InterpMode::Bicubic, {3, 4}, false, true))) == to_vector<double>(x));
}

TEST_CASE("interpolate 16-bit floats compute through float32") {
  Tensor x = to(random({1, 2, 6, 7}, DType::F64, 19), DType::F16);
  Tensor x32 = to(x, DType::F32);
  for (InterpMode m : {InterpMode::Nearest, InterpMode::Bilinear, InterpMode::Bicubic}) {
    Tensor y = interpolate(x, InterpolateOptions::to_size(m, {11, 4}));
    CHECK(y.dtype() == DType::F16);
    CHECK_CLOSE(y, interpolate(x32, InterpolateOptions::to_size(m, {11, 4})), 1e-2, 1e-2);
    Tensor b = interpolate(to(x, DType::BF16), InterpolateOptions::to_size(m, {11, 4}));
    CHECK(b.dtype() == DType::BF16);
    CHECK_CLOSE(b, interpolate(x32, InterpolateOptions::to_size(m, {11, 4})), 5e-2, 2e-2);
  }
  CHECK(to_vector<float>(interpolate(x, InterpolateOptions::to_size(InterpMode::Nearest, {11, 4}))) ==
        to_vector<float>(interpolate(x32, InterpolateOptions::to_size(InterpMode::Nearest, {11, 4}))));
  Tensor aa = interpolate(x, InterpolateOptions::to_size(InterpMode::Bilinear, {3, 2}, false, true));
  CHECK(aa.dtype() == DType::F16);
  CHECK_CLOSE(aa, interpolate(x32, InterpolateOptions::to_size(InterpMode::Bilinear, {3, 2}, false, true)), 1e-2, 1e-2);
  // Gradients come back in the input dtype.
  Tensor leaf = to(x, DType::F32).set_requires_grad(true);
  Tensor h = to(leaf, DType::BF16);
  backward(sum(to(interpolate(h, InterpolateOptions::to_size(InterpMode::Bilinear, {4, 5})), DType::F32)));
  CHECK(leaf.grad().dtype() == DType::F32);
  // 2 planes of 4 x 5 outputs, each spreading a gradient of 1 (bfloat16 rounding).
  CHECK_CLOSE(sum(leaf.grad()), scalar_tensor(40.0, DType::F32), 0.1, 0);
}

TEST_CASE("interpolate gradients") {
  auto check_mode = [](InterpolateOptions o, Shape in_shape) {
    CHECK_GRADCHECK([o](const TensorList& in) { return interpolate(in[0], o); }, {random(in_shape, DType::F64, 31)});
  };
  for (bool ac : {false, true}) {
    check_mode(InterpolateOptions::to_size(InterpMode::Linear, {7}, ac), {1, 2, 4});
    check_mode(InterpolateOptions::to_size(InterpMode::Linear, {3}, ac), {1, 2, 7});
    check_mode(InterpolateOptions::to_size(InterpMode::Bilinear, {5, 2}, ac), {1, 2, 3, 4});
    check_mode(InterpolateOptions::to_size(InterpMode::Bicubic, {5, 3}, ac), {1, 1, 3, 4});
    check_mode(InterpolateOptions::to_size(InterpMode::Bicubic, {2, 7}, ac), {1, 1, 5, 3});
  }
  check_mode(InterpolateOptions::to_size(InterpMode::Bilinear, {2, 130}), {1, 1, 2, 3});  // the large-output evaluation order
  check_mode(InterpolateOptions::to_size(InterpMode::Nearest, {5, 2}), {1, 2, 3, 4});
  check_mode(InterpolateOptions::to_size(InterpMode::Nearest, {7}), {1, 2, 3});
  check_mode(InterpolateOptions::to_size(InterpMode::NearestExact, {2, 7}), {2, 1, 5, 3});
  check_mode(InterpolateOptions::to_size(InterpMode::NearestExact, {2}), {1, 1, 5});
  check_mode(InterpolateOptions::to_size(InterpMode::Bilinear, {3, 2}, false, true), {1, 2, 7, 5});
  check_mode(InterpolateOptions::to_size(InterpMode::Bicubic, {2, 3}, false, true), {1, 1, 7, 6});
  check_mode(InterpolateOptions::to_size(InterpMode::Bicubic, {6, 2}, false, true), {1, 1, 3, 7});
  check_mode(InterpolateOptions::to_size(InterpMode::Bicubic, {3, 5}, false, true), {1, 1, 3, 5});  // unchanged: the identity
  check_mode(InterpolateOptions::by_scale(InterpMode::Bicubic, {1.6, 0.7}), {1, 1, 3, 5});
}

TEST_CASE("interpolate gradient is the transposed map on a larger input") {
  // grad_x = A_h^T * grad_y * A_w per plane.
  Tensor x = random({2, 1, 12, 10}, DType::F64, 41).set_requires_grad(true);
  for (InterpMode m : {InterpMode::Nearest, InterpMode::Bilinear, InterpMode::Bicubic}) {
    Tensor y = interpolate(x, InterpolateOptions::to_size(m, {25, 140}));
    Tensor gy = random(y.shape(), DType::F64, 42);
    Tensor gx = grad(y, {x}, gy)[0];
    Mat Ah = axis_mat(m, 12, 25, false), Aw = axis_mat(m, 10, 140, false);
    Mat AhT = zeros_mat(12, 25), AwT = zeros_mat(10, 140);
    for (size_t i = 0; i < Ah.size(); ++i)
      for (size_t j = 0; j < Ah[i].size(); ++j) AhT[j][i] = Ah[i][j];
    for (size_t i = 0; i < Aw.size(); ++i)
      for (size_t j = 0; j < Aw[i].size(); ++j) AwT[j][i] = Aw[i][j];
    CHECK_CLOSE(gx, apply_ref(gy, AhT, AwT), 1e-11, 1e-11);
    Tensor xf = to(x.detach(), DType::F32).set_requires_grad(true);
    Tensor gxf = grad(interpolate(xf, InterpolateOptions::to_size(m, {25, 140})), {xf}, to(gy, DType::F32))[0];
    CHECK(gxf.dtype() == DType::F32);
    CHECK_CLOSE(gxf, gx, 1e-5, 1e-5);
  }
}

TEST_CASE("interpolate argument errors") {
  Tensor x4 = random({1, 2, 3, 4}), x3 = random({1, 2, 5});
  auto fails = [](const Tensor& t, const InterpolateOptions& o, const char* msg) {
    CHECK_THROWS_WITH_AS(interpolate(t, o), doctest::Contains(msg), std::invalid_argument);
  };
  fails(x4, InterpolateOptions::to_size(InterpMode::Linear, {3}), "mode 'linear' needs a 3-D input [N, C, W], got [1, 2, 3, 4]");
  fails(x3, InterpolateOptions::to_size(InterpMode::Bilinear, {3, 3}), "mode 'bilinear' needs a 4-D input [N, C, H, W], got [1, 2, 5]");
  fails(x3, InterpolateOptions::to_size(InterpMode::Bicubic, {3, 3}), "mode 'bicubic' needs a 4-D input");
  fails(random({2, 5}), InterpolateOptions::to_size(InterpMode::Nearest, {3}), "mode 'nearest' needs a 3-D input [N, C, W] or a 4-D input");
  fails(random({1, 1, 2, 2, 2}), InterpolateOptions::to_size(InterpMode::NearestExact, {3, 3, 3}), "mode 'nearest-exact' needs a 3-D");
  fails(x4, InterpolateOptions::to_size(InterpMode::Nearest, {3, 3}, true), "align_corners can only be set with the interpolating modes");
  fails(x4, InterpolateOptions::to_size(InterpMode::NearestExact, {3, 3}, true), "(mode is 'nearest-exact')");
  fails(x4, InterpolateOptions::to_size(InterpMode::Nearest, {3, 3}, false, true),
        "antialias is only supported with modes bilinear and bicubic");
  fails(x3, InterpolateOptions::to_size(InterpMode::Linear, {3}, false, true), "antialias is only supported");
  InterpolateOptions both = InterpolateOptions::to_size(InterpMode::Nearest, {3, 3});
  both.scale_factor = {2.0};
  fails(x4, both, "only one of size and scale_factor");
  fails(x4, InterpolateOptions::to_size(InterpMode::Nearest, {}), "either size or scale_factor must be given");
  InterpolateOptions rec = InterpolateOptions::to_size(InterpMode::Bilinear, {3, 3});
  rec.recompute_scale_factor = true;
  fails(x4, rec, "recompute_scale_factor is not meaningful with an explicit size");
  fails(x4, InterpolateOptions::to_size(InterpMode::Bilinear, {3, 0}), "output spatial sizes must be positive, got [3, 0]");
  fails(x4, InterpolateOptions::to_size(InterpMode::Bilinear, {-2, 3}), "output spatial sizes must be positive");
  fails(x4, InterpolateOptions::by_scale(InterpMode::Bilinear, {0.2, 1.0}), "output spatial sizes must be positive, got [0, 4]");
  fails(x4, InterpolateOptions::by_scale(InterpMode::Bilinear, {0.0}), "scale_factor must be positive and finite, got [0]");
  fails(x4, InterpolateOptions::by_scale(InterpMode::Bilinear, {2.0, NAN}), "scale_factor must be positive and finite");
  fails(x4, InterpolateOptions::to_size(InterpMode::Bilinear, {3, 3, 3}), "size [3, 3, 3] must have 1 or 2 entries for input [1, 2, 3, 4]");
  fails(x4, InterpolateOptions::by_scale(InterpMode::Bilinear, {2, 2, 2}), "scale_factor [2, 2, 2] must have 1 or 2 entries");
  fails(random({1, 2, 0, 4}), InterpolateOptions::to_size(InterpMode::Nearest, {3, 3}), "input spatial sizes must be positive");
  fails(randint(0, 5, {1, 1, 3, 3}), InterpolateOptions::to_size(InterpMode::Bilinear, {4, 4}),
        "mode 'bilinear' needs a floating-point input, got int64");
  CHECK_THROWS_WITH_AS(interpolate(Tensor(), InterpolateOptions::to_size(InterpMode::Nearest, {3})),
                       doctest::Contains("interpolate: argument 'input'"), std::invalid_argument);
  // An empty batch is fine.
  CHECK(interpolate(random({0, 2, 3, 4}), InterpolateOptions::to_size(InterpMode::Bilinear, {5, 6})).shape() == Shape{0, 2, 5, 6});
}
