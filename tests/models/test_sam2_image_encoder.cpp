// SAM 2 image encoder (Hiera trunk + FPN neck) against the official outputs of
// the micro golden sets (tests/data/<set>/image_encoder.safetensors, extracted
// from shared/golden/<set>/io.safetensors, stage "b. Image encoder"), the sine
// position encoding against a naive formula, and the real presets on a small input.
#include <chrono>
#include <cmath>
#include <string>
#include <vector>

#include "io/checkpoint.h"
#include "io/safetensors.h"
#include "io/state_dict.h"
#include "models/sam2/image_encoder.h"
#include "nn/conv.h"
#include "testing.h"

using namespace rvos;
using namespace rvos::sam2;

namespace {

std::string data_file(const std::string& set, const std::string& file) {
  return rvos::testing::test_data_dir() + "/" + set + "/" + file;
}

Tensor find(const io::StateDict& sd, const std::string& name) {
  for (const auto& [k, t] : sd) {
    if (k == name) return t;
  }
  FAIL("missing tensor " << name);
  return Tensor();
}

// Tolerance of stage "b. image encoder" in the golden READMEs (float32 implementation).
constexpr double kAtol = 1e-4, kRtol = 1e-4;

void check_golden(const std::string& name, const Tensor& actual, const io::StateDict& golden) {
  const Tensor expected = find(golden, name);
  REQUIRE(actual.shape() == expected.shape());
  MESSAGE(name << ": max abs error " << testing::max_abs_diff(actual, expected));
  INFO(name);
  CHECK_CLOSE(actual, expected, kAtol, kRtol);
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void run_golden_set(const std::string& set, const ImageEncoderConfig& config) {
  const io::StateDict checkpoint = io::read_state_dict(data_file(set, "checkpoint.pt"));
  const io::StateDict golden = io::read_safetensors(data_file(set, "image_encoder.safetensors")).tensors;

  auto encoder = std::make_shared<ImageEncoder>(config);
  encoder->eval();
  const io::StateDict weights = io::select_prefix(checkpoint, "image_encoder.");
  // Same keys in the same (state_dict) order as the official module: nothing missing, nothing unused.
  std::vector<std::string> ours, theirs;
  for (const auto& [k, t] : encoder->state_dict()) ours.push_back(k);
  for (const auto& [k, t] : weights) theirs.push_back(k);
  CHECK(ours == theirs);
  const nn::LoadReport report = encoder->load_state_dict(weights, /*strict=*/true);
  REQUIRE_MESSAGE(report.ok(), report.str());

  // SAM2Base.forward_image projects levels 0 and 1 with the mask decoder's conv_s0 / conv_s1.
  const int64_t C = config.neck.d_model;
  auto conv_s0 = std::make_shared<nn::Conv2d>(C, C / 8, 1);
  auto conv_s1 = std::make_shared<nn::Conv2d>(C, C / 4, 1);
  REQUIRE(conv_s0->load_state_dict(io::select_prefix(checkpoint, "sam_mask_decoder.conv_s0.")).ok());
  REQUIRE(conv_s1->load_state_dict(io::select_prefix(checkpoint, "sam_mask_decoder.conv_s1.")).ok());

  NoGradGuard no_grad;
  const Tensor input = find(golden, "a.input");
  const int64_t h = input.size(2) / 4, w = input.size(3) / 4;
  check_golden("b.trunk.pos_embed", encoder->trunk->get_pos_embed(h, w), golden);

  const std::vector<Tensor> stages = encoder->trunk->forward_features(input);
  REQUIRE(stages.size() == 4);
  for (size_t i = 0; i < 4; ++i) check_golden("b.trunk.stage" + std::to_string(i + 1), stages[i], golden);

  const auto [levels, pos] = encoder->neck->forward_levels(stages);
  REQUIRE(levels.size() == 4);
  for (size_t i = 1; i < 4; ++i) check_golden("b.neck.level" + std::to_string(i), levels[i], golden);
  check_golden("b.neck.pos_level2", pos[2], golden);

  const auto t0 = std::chrono::steady_clock::now();
  const ImageEncoderOutput out = encoder->forward_image(input);
  MESSAGE(set << ": image encoder forward on " << shape_str(input.shape()) << " in " << seconds_since(t0) * 1e3
              << " ms");
  REQUIRE(out.backbone_fpn.size() == 3);  // scalp 1 dropped the stride-32 level
  REQUIRE(out.vision_pos_enc.size() == 3);
  check_golden("b.vision_features", out.vision_features, golden);
  check_golden("b.backbone_fpn0_conv_s0", conv_s0->forward(out.backbone_fpn[0]), golden);
  check_golden("b.backbone_fpn1_conv_s1", conv_s1->forward(out.backbone_fpn[1]), golden);
  check_golden("b.neck.pos_level2", out.vision_pos_enc[2], golden);
  // The whole encoder runs the same computation as the step-by-step calls.
  for (size_t i = 0; i < 3; ++i) CHECK(testing::max_abs_diff(out.backbone_fpn[i], levels[i]) == 0.0);
}

}  // namespace

TEST_CASE("SAM 2 image encoder matches the official outputs (sam2_micro)") {
  run_golden_set("sam2_micro", sam2_micro_image_encoder());
}

TEST_CASE("SAM 2 image encoder matches the official outputs (sam2.1_micro, padded windows)") {
  run_golden_set("sam2.1_micro", sam2_1_micro_image_encoder());
}

TEST_CASE("PositionEmbeddingSine on a non-square map matches the formula, y channels first") {
  const int64_t C = 16, H = 5, W = 7, n = C / 2;
  auto pe = std::make_shared<PositionEmbeddingSine>(C);
  const Tensor out = pe->forward(zeros({2, 3, H, W}));
  REQUIRE(out.shape() == Shape{2, C, H, W});
  std::vector<double> expected;
  for (int64_t b = 0; b < 2; ++b) {
    for (int64_t c = 0; c < C; ++c) {
      for (int64_t i = 0; i < H; ++i) {
        for (int64_t j = 0; j < W; ++j) {
          const bool is_y = c < n;
          const int64_t k = is_y ? c : c - n;
          const double pos = is_y ? (i + 1) / (H + 1e-6) : (j + 1) / (W + 1e-6);
          const double v = pos * 2 * M_PI / std::pow(10000.0, 2.0 * static_cast<double>(k / 2) / n);
          expected.push_back(k % 2 == 0 ? std::sin(v) : std::cos(v));
        }
      }
    }
  }
  CHECK_CLOSE(out, from_vector(expected, out.shape()), 1e-6, 1e-5);
  // A second call reuses the cached table.
  CHECK(testing::max_abs_diff(pe->forward(zeros({1, 1, H, W})), slice(out, 0, 0, 1)) == 0.0);
  CHECK_THROWS(PositionEmbeddingSine(18));
}

TEST_CASE("every official image encoder preset builds and runs on a small image") {
  // 64x64: feature maps 16/8/4/2, so stages 3 and 4 run on windows padded far beyond the map (14 or 16, 7 or 8).
  for (const char* name : {"t", "s", "b+", "l"}) {
    CAPTURE(name);
    const ImageEncoderConfig config = sam2_image_encoder_preset(name);
    auto encoder = std::make_shared<ImageEncoder>(config);
    encoder->eval();
    // image_encoder.* keys; with the 306 keys of the other modules these are the
    // official checkpoints' 468 / 516 / 612 / 900 keys.
    const size_t keys = encoder->state_dict().size();
    const std::string n = name;
    CHECK(keys == (n == "t" ? 162u : n == "s" ? 210u : n == "b+" ? 306u : 594u));

    NoGradGuard no_grad;
    const int64_t S = 64;
    const Tensor image = testing::random({1, 3, S, S}, DType::F32, 5);
    const auto t0 = std::chrono::steady_clock::now();
    const ImageEncoderOutput out = encoder->forward_image(image);
    MESSAGE(std::string(name) << ": image encoder forward on " << S << "x" << S << " in " << seconds_since(t0) * 1e3 << " ms");
    REQUIRE(out.backbone_fpn.size() == 3);
    for (size_t i = 0; i < 3; ++i) {
      const int64_t side = S / (4 << i);
      CHECK(out.backbone_fpn[i].shape() == Shape{1, 256, side, side});
      CHECK(out.vision_pos_enc[i].shape() == Shape{1, 256, side, side});
    }
    CHECK(out.vision_features.is_same(out.backbone_fpn[2]));
    const auto v = to_vector<float>(out.vision_features);
    bool finite = true;
    for (float x : v) finite = finite && std::isfinite(x);
    CHECK(finite);
  }
  CHECK(sam2_image_encoder_preset("l").neck.backbone_channel_list == std::vector<int64_t>{1152, 576, 288, 144});
  CHECK_THROWS(sam2_image_encoder_preset("h"));
}

TEST_CASE("ImageEncoder refuses a neck that does not match the trunk") {
  ImageEncoderConfig config = sam2_micro_image_encoder();
  config.neck.backbone_channel_list = {96, 48, 24, 16};
  CHECK_THROWS(ImageEncoder(config));
}
