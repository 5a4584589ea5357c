// The official preprocessings against the golden data of the official code (see
// tests/data/extract_image_goldens.py for how the reference files were derived):
// SAM 2's loader (JPEG decode, Pillow BICUBIC to 256, float normalisation), the
// BEiT-3 input (torchvision Resize([224, 224]) = Pillow BILINEAR, ToTensor,
// Normalize) and MPG-SAM 2's two resized inputs. Everything must be exact.
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "io/pil_resize.h"
#include "io/preprocess.h"
#include "testing.h"

using namespace rvos;
using namespace rvos::io;

namespace {

const std::string kData = rvos::testing::test_data_dir();

// The [3, 256] float32 table `name` of a small safetensors file: 8-byte header
// length, JSON header, raw little-endian data.
std::vector<float> read_table(const std::string& path, const std::string& name) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE(in);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), {});
  REQUIRE(bytes.size() >= 8);
  uint64_t header_size = 0;
  std::memcpy(&header_size, bytes.data(), 8);
  REQUIRE(8 + header_size <= bytes.size());
  const auto header = nlohmann::json::parse(bytes.begin() + 8, bytes.begin() + 8 + static_cast<int64_t>(header_size));
  const auto& entry = header.at(name);
  REQUIRE(entry.at("dtype") == "F32");
  REQUIRE(entry.at("shape") == nlohmann::json::array({3, 256}));
  const size_t begin = entry.at("data_offsets")[0], end = entry.at("data_offsets")[1];
  REQUIRE(end - begin == 3 * 256 * sizeof(float));
  std::vector<float> table(3 * 256);
  std::memcpy(table.data(), bytes.data() + 8 + header_size + begin, end - begin);
  return table;
}

int max_abs_diff(const Image& a, const Image& b) {
  REQUIRE(a.height == b.height);
  REQUIRE(a.width == b.width);
  REQUIRE(a.channels == b.channels);
  int m = 0;
  for (size_t i = 0; i < a.pixels.size(); ++i) m = std::max(m, std::abs(int(a.pixels[i]) - int(b.pixels[i])));
  return m;
}

// Number of elements of the float32 [3, H, W] `input` whose bits differ from the
// golden tensor, rebuilt as table[c][golden_u8(y, x, c)].
int64_t count_float_mismatches(const Tensor& input, const Image& golden_u8, const std::vector<float>& table) {
  REQUIRE(input.dtype() == DType::F32);
  REQUIRE(input.shape() == Shape{3, golden_u8.height, golden_u8.width});
  const std::vector<float> values = to_vector<float>(input);
  const int64_t hw = golden_u8.height * golden_u8.width;
  int64_t mismatches = 0;
  for (int64_t c = 0; c < 3; ++c) {
    for (int64_t i = 0; i < hw; ++i) {
      const float expected = table[static_cast<size_t>(c * 256 + golden_u8.pixels[static_cast<size_t>(i * 3 + c)])];
      const float got = values[static_cast<size_t>(c * hw + i)];
      if (std::memcmp(&expected, &got, sizeof(float)) != 0) ++mismatches;
    }
  }
  return mismatches;
}

Image crop(const Image& image, int64_t y0, int64_t x0, int64_t h, int64_t w) {
  Image out{h, w, image.channels, {}};
  for (int64_t y = 0; y < h; ++y) {
    const uint8_t* row = image.pixels.data() + ((y0 + y) * image.width + x0) * image.channels;
    out.pixels.insert(out.pixels.end(), row, row + w * image.channels);
  }
  return out;
}

}  // namespace

TEST_CASE("SAM 2 loader: decode and Pillow BICUBIC resize of all 8 frames (e.frames_resized_u8)") {
  for (int k = 0; k < 8; ++k) {
    CAPTURE(k);
    char name[32];
    std::snprintf(name, sizeof(name), "%05d", k);
    const Image decoded = read_image(kData + "/sam2_micro/frames/" + name + ".jpg", 3);
    CHECK(decoded.height == 216);
    CHECK(decoded.width == 288);
    const Image golden = read_image(kData + "/sam2_micro/frames_resized/" + name + ".png");
    const int diff = max_abs_diff(pil_resize(decoded, 256, 256, PilFilter::Bicubic), golden);
    MESSAGE("frame " << k << ": bicubic 288x216 -> 256x256 vs e.frames_resized_u8: max |diff| = " << diff);
    CHECK(diff == 0);
  }
}

TEST_CASE("SAM 2 loader: resize of the golden decoded frame 0 (a.frame0_resized_u8) and the model input (a.input)") {
  const Image decoded = read_image(kData + "/sam2_micro/frame0_decoded.png");  // a.frame0_decoded_u8
  const Image golden_resized = read_image(kData + "/sam2_micro/frames_resized/00000.png");
  CHECK(max_abs_diff(pil_resize(decoded, 256, 256), golden_resized) == 0);  // BICUBIC is the default
  const std::vector<float> table = read_table(kData + "/sam2_micro/input_table.safetensors", "a.input");
  const Tensor input = sam2_frame_input(read_image(kData + "/sam2_micro/frames/00000.jpg", 3), 256);
  const int64_t mismatches = count_float_mismatches(input, golden_resized, table);
  MESSAGE("sam2_frame_input vs a.input: " << mismatches << " of " << input.numel() << " floats differ");
  CHECK(mismatches == 0);
  // torchvision's float32 u8 / 255 rounds differently from SAM 2's float64 division; the two
  // inputs stay within a few float32 ulps of each other.
  const Tensor f32_path = normalize_image(golden_resized, UnitScaling::Float32Divide);
  CHECK(rvos::testing::max_abs_diff(f32_path, input) <= 1e-6);
}

TEST_CASE("BEiT-3 input: torchvision Resize([224, 224]) + ToTensor + Normalize (input.image_u8, input.image)") {
  const Image raw = read_image(kData + "/beit3_micro/image_raw.png");  // input.image_raw, 512x512
  REQUIRE(raw.height == 512);
  const Image golden_u8 = read_image(kData + "/beit3_micro/image_u8.png");
  const int diff = max_abs_diff(pil_resize(raw, 224, 224, PilFilter::Bilinear), golden_u8);
  MESSAGE("bilinear 512x512 -> 224x224 vs input.image_u8: max |diff| = " << diff);
  CHECK(diff == 0);
  const std::vector<float> table = read_table(kData + "/beit3_micro/input_table.safetensors", "input.image");
  const Tensor input = torchvision_input(raw, 224, 224);
  const int64_t mismatches = count_float_mismatches(input, golden_u8, table);
  MESSAGE("torchvision_input vs input.image: " << mismatches << " of " << input.numel() << " floats differ");
  CHECK(mismatches == 0);
}

TEST_CASE("MPG-SAM 2 inputs: bilinear 384x216 -> 256x256 and -> 224x224 (input.sam_image_u8, input.beit_image_u8)") {
  // The four frames are 216x384 crops at (y, x) = (20,0), (28,20), (36,40), (44,60) of one
  // picture, stored as the union of the crops (whose top-left corner is (20, 0)).
  const Image union_image = read_image(kData + "/mpgsam2_micro/frames_union.png");
  const int64_t offsets[4][2] = {{20, 0}, {28, 20}, {36, 40}, {44, 60}};
  for (int k = 0; k < 4; ++k) {
    CAPTURE(k);
    const Image frame = crop(union_image, offsets[k][0] - 20, offsets[k][1], 216, 384);
    const Image sam = read_image(kData + "/mpgsam2_micro/sam_image_u8_" + std::to_string(k) + ".png");
    const Image beit = read_image(kData + "/mpgsam2_micro/beit_image_u8_" + std::to_string(k) + ".png");
    const int d_sam = max_abs_diff(pil_resize(frame, 256, 256, PilFilter::Bilinear), sam);
    const int d_beit = max_abs_diff(pil_resize(frame, 224, 224, PilFilter::Bilinear), beit);
    MESSAGE("frame " << k << ": vs input.sam_image_u8 max |diff| = " << d_sam << ", vs input.beit_image_u8 = "
                     << d_beit);
    CHECK(d_sam == 0);
    CHECK(d_beit == 0);
    // The model inputs are the normalised resized images.
    const Tensor input = torchvision_input(frame, 256, 256);
    CHECK(rvos::testing::max_abs_diff(input, normalize_image(sam, UnitScaling::Float32Divide)) == 0);
  }
}

TEST_CASE("preprocessing converts gray and RGBA to RGB first and checks sizes") {
  Image gray{4, 4, 1, std::vector<uint8_t>(16, 200)};
  const Tensor t = sam2_frame_input(gray, 8);
  CHECK(t.shape() == Shape{3, 8, 8});
  const std::vector<float> v = to_vector<float>(t);
  // Channel 0 of a constant 200 image: (200/255 - 0.485) / 0.229.
  CHECK(v[0] == doctest::Approx((200.0 / 255.0 - 0.485) / 0.229).epsilon(1e-6));
  CHECK_THROWS_AS(torchvision_input(gray, 0, 5), std::invalid_argument);
  CHECK_THROWS_AS(normalize_image(gray, UnitScaling::Float32Divide), std::invalid_argument);
}
