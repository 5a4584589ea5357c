// J, F, boundary maps, the disk dilation, numpy's summation order and the per-object
// statistics against the values the official DAVIS 2017 code produced
// (tests/data/jf_metrics, see its README).
#include <doctest/doctest.h>

#include "test_data.h"

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <algorithm>
#include <functional>
#include <numeric>
#include <random>

#include "eval/assignment.h"
#include "eval/metrics.h"
#include "io/image.h"

namespace {

using namespace rvos;
using nlohmann::json;

const std::string kDir = rvos::testing::test_data_dir() + "/jf_metrics";

json load_expected() {
  std::ifstream f(kDir + "/expected.json");
  REQUIRE(f.good());
  return json::parse(f);
}

double from_hex(const json& j) { return std::strtod(j.get<std::string>().c_str(), nullptr); }

io::IndexedImage read_case(const std::string& rel) { return io::read_png_values(kDir + "/" + rel); }

// A brute-force reference for small images: the boundary map as _seg2bmap writes it
// and the dilation as a full disk scan.
std::vector<uint8_t> reference_bmap(const std::vector<uint8_t>& s, int64_t h, int64_t w) {
  auto at = [&](int64_t y, int64_t x) -> uint8_t { return y < h && x < w ? (s[y * w + x] != 0) : 0; };
  std::vector<uint8_t> b(static_cast<size_t>(h * w));
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x) {
      const uint8_t a = at(y, x);
      uint8_t v = (a ^ at(y, x + 1)) | (a ^ at(y + 1, x)) | (a ^ at(y + 1, x + 1));
      if (y == h - 1) v = a ^ at(y, x + 1);
      if (x == w - 1) v = a ^ at(y + 1, x);
      if (y == h - 1 && x == w - 1) v = 0;
      b[static_cast<size_t>(y * w + x)] = v;
    }
  return b;
}

int64_t reference_matches(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b, int64_t h, int64_t w, int64_t r) {
  int64_t n = 0;
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x) {
      if (!a[static_cast<size_t>(y * w + x)]) continue;
      bool hit = false;
      for (int64_t dy = -r; dy <= r && !hit; ++dy)
        for (int64_t dx = -r; dx <= r && !hit; ++dx) {
          const int64_t yy = y + dy, xx = x + dx;
          hit = dx * dx + dy * dy <= r * r && yy >= 0 && yy < h && xx >= 0 && xx < w && b[static_cast<size_t>(yy * w + xx)];
        }
      n += hit;
    }
  return n;
}

}  // namespace

TEST_CASE("bound_pix: float64 ceil of bound_th times the diagonal, or bound_th itself") {
  using eval::bound_pixels;
  CHECK(bound_pixels(0.008, 1, 1) == 1);
  CHECK(bound_pixels(0.008, 480, 854) == 8);
  CHECK(bound_pixels(0.008, 720, 1280) == 12);
  CHECK(bound_pixels(0.008, 1080, 1920) == 18);
  CHECK(bound_pixels(0.008, 225, 300) == 3);  // diagonal 375 exactly; float32 would give 4
  CHECK(bound_pixels(2, 480, 854) == 2);
  CHECK(bound_pixels(0, 480, 854) == 0);
  CHECK_THROWS_WITH_AS(bound_pixels(2.5, 10, 10), doctest::Contains("whole number"), std::invalid_argument);
  CHECK_THROWS_WITH_AS(bound_pixels(-0.1, 10, 10), doctest::Contains(">= 0"), std::invalid_argument);
}

TEST_CASE("disk half widths are skimage's disk") {
  CHECK(eval::disk_half_widths(0) == std::vector<int32_t>{0});
  CHECK(eval::disk_half_widths(1) == std::vector<int32_t>{1, 0});
  CHECK(eval::disk_half_widths(3) == std::vector<int32_t>{3, 2, 2, 0});
  const auto half8 = eval::disk_half_widths(8);
  CHECK(half8 == std::vector<int32_t>{8, 7, 7, 7, 6, 6, 5, 3, 0});
}

TEST_CASE("boundary map of an interior pixel: itself, left, up, up-left") {
  std::vector<uint8_t> m(25, 0);
  m[2 * 5 + 2] = 1;
  const auto b = eval::label_boundaries(m.data(), 5, 5, 1);
  CHECK(b.count(1) == 4);
  CHECK(b.xs[1] == std::vector<int32_t>{1, 2, 1, 2});
  CHECK(b.row_begin[1] == std::vector<int32_t>{0, 0, 2, 4, 4, 4});
  // Full and empty masks have no boundary; neither does a 1x1 image.
  std::vector<uint8_t> full(25, 1), one(1, 1);
  CHECK(eval::label_boundaries(full.data(), 5, 5, 1).count(1) == 0);
  CHECK(eval::label_boundaries(one.data(), 1, 1, 1).count(1) == 0);
}

TEST_CASE("multi-label boundaries and sparse dilation agree with a brute-force reference") {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 40; ++trial) {
    const int64_t h = 1 + rng() % 23, w = 1 + rng() % 29;
    const int labels = 1 + static_cast<int>(rng() % 4);
    std::vector<uint8_t> a(static_cast<size_t>(h * w)), b(a.size());
    // Blobby label images: random rectangles painted over each other.
    for (auto* img : {&a, &b}) {
      for (int k = 0; k < 6; ++k) {
        const int64_t y0 = rng() % h, x0 = rng() % w, y1 = y0 + rng() % (h - y0 + 1), x1 = x0 + rng() % (w - x0 + 1);
        const uint8_t v = static_cast<uint8_t>(rng() % (labels + 1));
        for (int64_t y = y0; y < y1; ++y)
          for (int64_t x = x0; x < x1; ++x) (*img)[static_cast<size_t>(y * w + x)] = v;
      }
    }
    const int64_t r = rng() % 5;
    const auto half = eval::disk_half_widths(r);
    const auto ba = eval::label_boundaries(a.data(), h, w, labels);
    const auto bb = eval::label_boundaries(b.data(), h, w, labels);
    for (int la = 1; la <= labels; ++la) {
      std::vector<uint8_t> ma(a.size()), mb(b.size());
      for (size_t i = 0; i < a.size(); ++i) ma[i] = a[i] == la;
      const auto ref_a = reference_bmap(ma, h, w);
      int64_t n_ref = 0;
      for (uint8_t v : ref_a) n_ref += v;
      CHECK(ba.count(la) == n_ref);
      for (int lb = 1; lb <= labels; ++lb) {
        for (size_t i = 0; i < b.size(); ++i) mb[i] = b[i] == lb;
        const auto ref_b = reference_bmap(mb, h, w);
        CHECK(eval::count_boundary_matches(ba, la, bb, lb, half) == reference_matches(ref_a, ref_b, h, w, r));
      }
    }
  }
}

TEST_CASE("all 45 cases: J, F, precision, recall, bound_pix and counts equal the official values bit for bit") {
  const json expected = load_expected();
  REQUIRE(expected["cases"].size() == 45);
  int exact = 0;
  for (const json& c : expected["cases"]) {
    const std::string id = c["id"].get<std::string>() + " " + c["name"].get<std::string>();
    INFO("case " << id);
    const io::IndexedImage pred = read_case(c["pred"]), gt = read_case(c["gt"]);
    REQUIRE(pred.height == c["height"].get<int64_t>());
    REQUIRE(pred.width == c["width"].get<int64_t>());
    REQUIRE(gt.height == pred.height);
    const auto s = eval::score_frame(pred.values.data(), gt.values.data(), nullptr, pred.height, pred.width,
                                     c["bound_th"].get<double>());
    CHECK(s.bound_pix == c["bound_pix"].get<int64_t>());
    const json& n = c["counts"];
    CHECK(s.intersection == n["intersection"].get<int64_t>());
    CHECK(s.union_ == n["union"].get<int64_t>());
    CHECK(s.pred_boundary == n["pred_boundary_pixels"].get<int64_t>());
    CHECK(s.gt_boundary == n["gt_boundary_pixels"].get<int64_t>());
    CHECK(s.pred_boundary_matched == n["pred_boundary_matched"].get<int64_t>());
    CHECK(s.gt_boundary_matched == n["gt_boundary_matched"].get<int64_t>());
    CHECK(s.J == from_hex(c["J_hex"]));
    CHECK(s.F == from_hex(c["F_hex"]));
    CHECK(s.precision == from_hex(c["precision_hex"]));
    CHECK(s.recall == from_hex(c["recall_hex"]));
    CHECK(s.J == c["J"].get<double>());
    CHECK(s.F == c["F"].get<double>());
    exact += s.J == from_hex(c["J_hex"]) && s.F == from_hex(c["F_hex"]) && s.precision == from_hex(c["precision_hex"]) &&
             s.recall == from_hex(c["recall_hex"]);
    if (c.contains("F_other_bound_th")) {
      for (const json& o : c["F_other_bound_th"]) {
        INFO("bound_th " << o["bound_th"].get<double>());
        const auto so = eval::score_frame(pred.values.data(), gt.values.data(), nullptr, pred.height, pred.width,
                                          o["bound_th"].get<double>());
        CHECK(so.bound_pix == o["bound_pix"].get<int64_t>());
        CHECK(so.F == from_hex(o["F_hex"]));
        CHECK(so.precision == o["precision"].get<double>());
        CHECK(so.recall == o["recall"].get<double>());
        CHECK(so.pred_boundary_matched == o["counts"]["pred_boundary_matched"].get<int64_t>());
        CHECK(so.gt_boundary_matched == o["counts"]["gt_boundary_matched"].get<int64_t>());
      }
    }
  }
  CHECK(exact == 45);
}

TEST_CASE("the 1080x1920 cases take milliseconds") {
  const json expected = load_expected();
  for (const json& c : expected["cases"]) {
    if (c["height"].get<int64_t>() != 1080) continue;
    const io::IndexedImage pred = read_case(c["pred"]), gt = read_case(c["gt"]);
    const auto t0 = std::chrono::steady_clock::now();
    const auto s = eval::score_frame(pred.values.data(), gt.values.data(), nullptr, pred.height, pred.width);
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    MESSAGE("case " << c["id"].get<std::string>() << ": " << ms << " ms");
    CHECK(s.F == from_hex(c["F_hex"]));
    CHECK(ms < 2000);  // generous: a per-pixel disk scan would take far longer on shared CI cores
  }
}

TEST_CASE("void pixels leave J and are background in both masks before boundaries") {
  // 1x6: pred 1 1 1 0 0 0, gt 1 1 0 0 0 0, void on column 2.
  const std::vector<uint8_t> pred{1, 1, 1, 0, 0, 0}, gt{1, 1, 0, 0, 0, 0}, void_mask{0, 0, 1, 0, 0, 0};
  const auto s = eval::score_frame(pred.data(), gt.data(), void_mask.data(), 1, 6);
  CHECK(s.intersection == 2);
  CHECK(s.union_ == 2);
  CHECK(s.J == 1.0);
  CHECK(s.F == 1.0);  // pred zeroed on void equals gt
  const auto no_void = eval::score_frame(pred.data(), gt.data(), nullptr, 1, 6);
  CHECK(no_void.J == 2.0 / 3.0);
}

TEST_CASE("numpy pairwise summation order") {
  const std::vector<double> nine(9, 0.1);
  double naive = 0;
  for (double v : nine) naive += v;
  CHECK(naive == 0.8999999999999999);
  CHECK(eval::numpy_sum(nine) == 0.9);  // 8 accumulators combined in a tree, then the rest
  CHECK(eval::numpy_mean(std::vector<double>{}) != eval::numpy_mean(std::vector<double>{}));  // NaN
  CHECK(eval::numpy_nanmean(std::vector<double>{1.0, NAN, 3.0}) == 2.0);
  // Above 128 values the halves are split at a multiple of 8: a reference written from
  // numpy's description must agree on random data to the last bit.
  std::function<double(const double*, int64_t)> ref = [&](const double* a, int64_t n) -> double {
    if (n < 8) {
      double s = 0;
      for (int64_t i = 0; i < n; ++i) s += a[i];
      return s;
    }
    if (n <= 128) {
      std::vector<double> r(a, a + 8);
      int64_t i = 8;
      for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; ++j) r[static_cast<size_t>(j)] += a[i + j];
      double s = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
      for (; i < n; ++i) s += a[i];
      return s;
    }
    const int64_t half = n / 2 - (n / 2) % 8;
    return ref(a, half) + ref(a + half, n - half);
  };
  std::mt19937_64 rng(3);
  std::uniform_real_distribution<double> u(0, 1);
  for (int n : {0, 1, 7, 8, 9, 15, 16, 127, 128, 129, 300, 1001}) {
    std::vector<double> v(static_cast<size_t>(n));
    for (double& x : v) x = u(rng);
    CHECK(eval::numpy_sum(v) == ref(v.data(), n));
  }
}

TEST_CASE("decay bins: overlapping slices, uint8 wrap for long sequences") {
  using Bins = std::array<std::array<int64_t, 2>, 4>;
  CHECK(eval::decay_bins(6) == Bins{{{0, 2}, {1, 4}, {3, 5}, {4, 6}}});
  CHECK(eval::decay_bins(5) == Bins{{{0, 2}, {1, 3}, {2, 4}, {3, 5}}});
  CHECK(eval::decay_bins(9) == Bins{{{0, 3}, {2, 5}, {4, 7}, {6, 9}}});
  CHECK(eval::decay_bins(1) == Bins{{{0, 1}, {0, 1}, {0, 1}, {0, 1}}});
  // n = 300: ids 0, 75, 150, 224, 299 -> uint8 43; the last bin [224:44] is empty.
  const Bins b300 = eval::decay_bins(300);
  CHECK(b300[3][0] == 224);
  CHECK(b300[3][1] == 44);
  std::vector<double> v(300, 0.75);
  const auto st = eval::sequence_statistics(v);
  CHECK(st.mean == 0.75);
  CHECK(st.recall == 1.0);
  CHECK(std::isnan(st.decay));
  // n = 256: the last id is 255 and 255 + 1 wraps to 0 in uint8.
  CHECK(eval::decay_bins(256)[3][1] == 0);
}

TEST_CASE("sequence statistics of the golden objects") {
  const json expected = load_expected();
  int checked = 0;
  for (const json& seq : expected["sequences"]["per_sequence"]) {
    for (const json& o : seq["objects"]) {
      const auto j = o["J_per_frame"].get<std::vector<double>>();
      const auto f = o["F_per_frame"].get<std::vector<double>>();
      const auto sj = eval::sequence_statistics(j), sf = eval::sequence_statistics(f);
      INFO(o["official_key"].get<std::string>());
      CHECK(sj.mean == o["J_mean"].get<double>());
      CHECK(sj.recall == o["J_recall"].get<double>());
      CHECK(sj.decay == o["J_decay"].get<double>());
      CHECK(sf.mean == o["F_mean"].get<double>());
      CHECK(sf.recall == o["F_recall"].get<double>());
      CHECK(sf.decay == o["F_decay"].get<double>());
      ++checked;
    }
  }
  CHECK(checked == 6);
}

TEST_CASE("linear_sum_assignment: optimum, rectangular shapes, scipy's tie breaking") {
  // scipy's documented example.
  const std::vector<double> c{4, 1, 3, 2, 0, 5, 3, 2, 2};
  auto a = eval::linear_sum_assignment(c, 3, 3);
  CHECK(a.rows == std::vector<int64_t>{0, 1, 2});
  CHECK(a.cols == std::vector<int64_t>{1, 0, 2});
  // Constant matrix: the identity.
  a = eval::linear_sum_assignment(std::vector<double>(16, 1.0), 4, 4);
  CHECK(a.cols == std::vector<int64_t>{0, 1, 2, 3});
  // Tall: 4 rows, 2 columns; rows come back increasing.
  const std::vector<double> tall{-0.9, 0, 0, -0.03, 0, 0, 0, -0.7};
  a = eval::linear_sum_assignment(tall, 4, 2);
  CHECK(a.rows == std::vector<int64_t>{0, 3});
  CHECK(a.cols == std::vector<int64_t>{0, 1});
  // Tall with all-equal rows: scipy gives rows 0 and 1.
  a = eval::linear_sum_assignment(std::vector<double>(6, 0.0), 3, 2);
  CHECK(a.rows == std::vector<int64_t>{0, 1});
  CHECK(a.cols == std::vector<int64_t>{0, 1});
  // Wide.
  a = eval::linear_sum_assignment(std::vector<double>{5, 1, 9, 2, 8, 0}, 2, 3);
  CHECK(a.rows == std::vector<int64_t>{0, 1});
  CHECK(a.cols == std::vector<int64_t>{1, 2});
  // Random matrices against brute force over permutations.
  std::mt19937 rng(11);
  for (int trial = 0; trial < 50; ++trial) {
    const int64_t n = 1 + rng() % 5;
    std::vector<double> m(static_cast<size_t>(n * n));
    for (double& x : m) x = static_cast<double>(rng() % 7) / 3.0;
    const auto r = eval::linear_sum_assignment(m, n, n);
    double got = 0;
    for (size_t i = 0; i < r.rows.size(); ++i) got += m[static_cast<size_t>(r.rows[i] * n + r.cols[i])];
    std::vector<int64_t> perm(static_cast<size_t>(n));
    std::iota(perm.begin(), perm.end(), 0);
    double best = 1e300;
    do {
      double s = 0;
      for (int64_t i = 0; i < n; ++i) s += m[static_cast<size_t>(i * n + perm[static_cast<size_t>(i)])];
      best = std::min(best, s);
    } while (std::next_permutation(perm.begin(), perm.end()));
    CHECK(got == doctest::Approx(best).epsilon(1e-12));
  }
  CHECK_THROWS_WITH_AS(eval::linear_sum_assignment(std::vector<double>{NAN}, 1, 1), doctest::Contains("NaN"),
                       std::invalid_argument);
}
