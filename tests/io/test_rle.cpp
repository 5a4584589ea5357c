// COCO compressed RLE against the examples of maskApi.c's format, random round
// trips, the MeViS-style golden mask_dict.json, and malformed input.
#include "io/rle.h"

#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <stdexcept>
#include <string>

#include "testing.h"

using namespace rvos::io;

namespace {

std::vector<uint8_t> rows_to_mask(const std::vector<std::string>& rows) {
  std::vector<uint8_t> mask;
  for (const auto& row : rows)
    for (char c : row) mask.push_back(c == '1');
  return mask;
}

std::string error_of(int64_t h, int64_t w, const std::string& counts) {
  try {
    rle_from_string(h, w, counts);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("rle: the 3x4 example of the format notes") {
  const auto mask = rows_to_mask({"0000", "0110", "0001"});
  const Rle rle = rle_encode(mask.data(), 3, 4);
  CHECK(rle.height == 3);
  CHECK(rle.width == 4);
  CHECK(rle.counts == std::vector<uint32_t>{4, 1, 2, 1, 3, 1});
  CHECK(rle_to_string(rle) == "412010");
  const Rle back = rle_from_string(3, 4, "412010");
  CHECK(back.counts == rle.counts);
  CHECK(rle_decode(back) == mask);
}

TEST_CASE("rle: strings with deltas, negative values and multi-group values") {
  // Runs [5,20,3,18,2]: the 4th and 5th runs are written as 18-20 = -2 and 2-3 = -1.
  Rle rle{6, 8, {5, 20, 3, 18, 2}};
  CHECK(rle_to_string(rle) == "5d03NO");
  CHECK(rle_from_string(6, 8, "5d03NO").counts == rle.counts);

  // All ones 6x8: [0, 48]; 48 needs two groups.
  std::vector<uint8_t> ones(48, 1), zeros(48, 0);
  CHECK(rle_encode(ones.data(), 6, 8).counts == std::vector<uint32_t>{0, 48});
  CHECK(rle_to_string(rle_encode(ones.data(), 6, 8)) == "0`1");
  CHECK(rle_encode(zeros.data(), 6, 8).counts == std::vector<uint32_t>{48});
  CHECK(rle_to_string(rle_encode(zeros.data(), 6, 8)) == "`1");
  CHECK(rle_decode(rle_from_string(6, 8, "0`1")) == ones);
  CHECK(rle_decode(rle_from_string(6, 8, "`1")) == zeros);

  // The mask_dict example of the format notes: "<" is one run of 12, "0<" a run of 0 then 12 ones.
  CHECK(rle_from_string(3, 4, "<").counts == std::vector<uint32_t>{12});
  CHECK(rle_decode(rle_from_string(3, 4, "0<")) == std::vector<uint8_t>(12, 1));

  // A large run: 2^20 needs 5 groups (the sign bit of the 4th group is set, so a 5th follows).
  Rle big{1024, 1024, {1u << 20}};
  const std::string text = rle_to_string(big);
  CHECK(text.size() == 5);
  CHECK(rle_from_string(1024, 1024, text).counts == big.counts);
}

TEST_CASE("rle: empty masks") {
  const Rle empty = rle_encode(nullptr, 0, 7);
  CHECK(empty.counts == std::vector<uint32_t>{0});
  CHECK(rle_to_string(empty) == "0");
  CHECK(rle_decode(rle_from_string(0, 7, "0")).empty());
  CHECK(rle_from_string(0, 0, "").counts.empty());
}

TEST_CASE("rle: decode is column-major") {
  // A run of 2 zeros then 1 one in a 2x3 mask: flat index 2 is x=1, y=0.
  const auto mask = rle_decode(rle_from_string(2, 3, "213"));
  CHECK(mask == std::vector<uint8_t>{0, 1, 0, 0, 0, 0});
}

TEST_CASE("rle: random round trips on odd sizes") {
  std::mt19937 rng(1234);
  const std::pair<int64_t, int64_t> sizes[] = {{1, 1}, {1, 17}, {13, 1}, {3, 5}, {7, 11}, {31, 29}, {64, 97}, {101, 3}};
  for (auto [h, w] : sizes) {
    for (int density = 0; density <= 4; ++density) {
      std::bernoulli_distribution fg(density / 4.0);
      std::vector<uint8_t> mask(static_cast<size_t>(h * w));
      // Blocky masks (long runs, deltas of both signs) and noise.
      const bool blocky = density % 2 == 0;
      for (int64_t y = 0; y < h; ++y)
        for (int64_t x = 0; x < w; ++x)
          mask[static_cast<size_t>(y * w + x)] = blocky ? ((x / 3 + y / 5) % 3 == 0) != fg(rng) : fg(rng);
      CAPTURE(h);
      CAPTURE(w);
      CAPTURE(density);
      const Rle rle = rle_encode(mask.data(), h, w);
      uint64_t total = 0;
      for (auto r : rle.counts) total += r;
      CHECK(total == static_cast<uint64_t>(h * w));
      const std::string text = rle_to_string(rle);
      const Rle back = rle_from_string(h, w, text);
      CHECK(back.counts == rle.counts);
      CHECK(rle_decode(back) == mask);
      CHECK(rle_to_string(back) == text);
    }
  }
  // Nonzero values other than 1 count as foreground.
  std::vector<uint8_t> values = {0, 7, 255, 1, 0, 2};
  CHECK(rle_decode(rle_encode(values.data(), 2, 3)) == std::vector<uint8_t>{0, 1, 1, 1, 0, 1});
}

TEST_CASE("rle: every RLE of the MeViS-style golden mask_dict.json") {
  std::ifstream in(rvos::testing::test_data_dir() + "/mevis_valid_u/mask_dict.json");
  REQUIRE(in);
  const auto dict = nlohmann::json::parse(in);
  int decoded = 0, nulls = 0;
  for (const auto& [key, frames] : dict.items()) {
    REQUIRE(frames.size() == 8);
    for (const auto& entry : frames) {
      if (entry.is_null()) {
        ++nulls;
        continue;
      }
      const int64_t h = entry["size"][0], w = entry["size"][1];
      CHECK(h == 64);
      CHECK(w == 96);
      const std::string counts = entry["counts"];
      const Rle rle = rle_from_string(h, w, counts);
      uint64_t total = 0;
      for (auto r : rle.counts) total += r;
      CHECK(total == 64u * 96u);
      const auto mask = rle_decode(rle);
      int64_t foreground = 0;
      for (auto v : mask) foreground += v;
      CHECK(foreground > 0);
      // pycocotools' own strings are canonical: re-encoding the decoded mask gives them back.
      CHECK(rle_to_string(rle_encode(mask.data(), h, w)) == counts);
      ++decoded;
    }
  }
  CHECK(decoded == 20);
  CHECK(nulls == 4);
}

TEST_CASE("rle: malformed strings are refused with clear errors") {
  CHECK(error_of(3, 4, "41201").find("add up to 11 pixels, but a mask of size [3, 4] has 12") != std::string::npos);
  CHECK(error_of(3, 4, "412011").find("add up to 13") != std::string::npos);
  CHECK(error_of(3, 4, "41 010").find("invalid character ' ' at position 2") != std::string::npos);
  CHECK(error_of(3, 4, "41p010").find("invalid character 'p' at position 2") != std::string::npos);
  CHECK(error_of(3, 4, std::string("41\x01") + "010").find("invalid byte 1 at position 2") != std::string::npos);
  CHECK(error_of(6, 8, "0`").find("ends in the middle of a value") != std::string::npos);
  CHECK(error_of(6, 8, "O").find("decodes to -1") != std::string::npos);
  CHECK(error_of(3, 4, "````````1").find("more than 7 groups") != std::string::npos);
  CHECK(error_of(-1, 4, "").find("negative") != std::string::npos);
  CHECK(error_of(1000000, 1000000, "0").find("exceeds the limit") != std::string::npos);
  // A 4th run whose delta (-2) makes it negative: 1 - 2.
  CHECK(error_of(3, 4, "412N").find("run 3 (characters 3..3) decodes to -1") != std::string::npos);
  CHECK_THROWS_AS(rle_decode(Rle{2, 2, {1, 1}}), std::invalid_argument);
}
