// MeViS (eval_mevis.py) and Ref-YouTube-VOS hold-out evaluation: the golden
// mevis_style numbers, the JSON and CSV files, missing videos and errors.
#include <doctest/doctest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "eval/mevis.h"
#include "eval/run.h"
#include "eval/ytvos.h"
#include "io/image.h"
#include "io/rle.h"
#include "testing.h"

namespace {

using rvos::testing::TempDir;
using rvos::testing::error_of;

using namespace rvos;
using nlohmann::json;
namespace fs = std::filesystem;

const std::string kDir = rvos::testing::test_data_dir() + "/jf_metrics";

json load_expected() {
  std::ifstream f(kDir + "/expected.json");
  REQUIRE(f.good());
  return json::parse(f);
}

std::string read_text(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void check_golden(const eval::ExpressionReport& r) {
  const json m = load_expected()["mevis_style"];
  REQUIRE(r.expressions.size() == m["per_expression"].size());
  for (size_t i = 0; i < r.expressions.size(); ++i) {
    const json& e = m["per_expression"][i];
    const auto& x = r.expressions[i];
    INFO(e["key"].get<std::string>());
    CHECK(x.key() == e["key"].get<std::string>());
    CHECK(x.J == e["J_per_frame"].get<std::vector<double>>());
    CHECK(x.F == e["F_per_frame"].get<std::vector<double>>());
    CHECK(x.j == e["J"].get<double>());
    CHECK(x.f == e["F"].get<double>());
  }
  CHECK(r.J == m["global_results"]["J"].get<double>());
  CHECK(r.F == m["global_results"]["F"].get<double>());
  CHECK(r.JF == m["global_results"]["J&F"].get<double>());
}

}  // namespace

TEST_CASE("mevis_style: per-frame, per-expression and overall numbers are exact") {
  eval::MevisOptions o;
  o.pred_dir = kDir + "/mevis_style/pred";
  o.gt_dir = kDir + "/mevis_style/valid_u";
  const eval::ExpressionReport r = eval::evaluate_mevis(o);
  check_golden(r);
  CHECK(r.videos_listed == 1);
  CHECK(r.videos_evaluated == 1);
  // A MeViS root holding valid_u/ works too.
  o.gt_dir = kDir + "/mevis_style";
  check_golden(eval::evaluate_mevis(o));
}

TEST_CASE("mevis_style through run_evaluation: JSON and CSV") {
  TempDir tmp("run");
  eval::EvalOptions e;
  e.dataset = "mevis";
  e.pred_dir = kDir + "/mevis_style/pred";
  e.gt_dir = kDir + "/mevis_style/valid_u";
  e.out = tmp.str() + "/mevis.json";
  e.progress = false;
  std::ostringstream printed;
  const auto out = eval::run_evaluation(e, printed);
  const json g = load_expected()["mevis_style"]["global_results"];
  CHECK(out.JF == g["J&F"].get<double>());
  CHECK(printed.str().find("J: 0.80525  F: 0.84510  J&F: 0.82518") != std::string::npos);
  const json report = json::parse(read_text(e.out));
  CHECK(report["global"]["J"].get<double>() == g["J"].get<double>());
  CHECK(report["global"]["F"].get<double>() == g["F"].get<double>());
  CHECK(report["global"]["J&F"].get<double>() == g["J&F"].get<double>());
  CHECK(report["expressions"][1]["key"] == "toyvid01_1");
  REQUIRE(out.csv_paths.size() == 1);
  CHECK(out.csv_paths[0] == tmp.str() + "/mevis.csv");
  CHECK(read_text(out.csv_paths[0]) ==
        "Video,Expression,Frames,J,F,J&F\n"
        "toyvid01,0,8,0.82070,0.75516,0.78793\n"
        "toyvid01,1,8,0.81240,0.91347,0.86294\n"
        "toyvid01,2,8,0.78267,0.86667,0.82467\n"
        "overall,,,0.80525,0.84510,0.82518\n");
}

TEST_CASE("mevis: a video without predictions scores 0, as eval_mevis.py does") {
  TempDir tmp("missing");
  fs::create_directories(tmp.path / "pred");
  eval::MevisOptions o;
  o.pred_dir = tmp.str() + "/pred";
  o.gt_dir = kDir + "/mevis_style/valid_u";
  const auto r = eval::evaluate_mevis(o);
  REQUIRE(r.expressions.size() == 3);
  CHECK(r.expressions[0].missing_video);
  CHECK(r.J == 0.0);
  CHECK(r.F == 0.0);
  CHECK(r.videos_evaluated == 0);
  REQUIRE(r.notes.size() == 1);
  CHECK(r.notes[0].find("score J = F = 0") != std::string::npos);
}

TEST_CASE("mevis errors: missing frame, missing expression folder, size mismatch") {
  TempDir tmp("errors");
  fs::copy(kDir + "/mevis_style/pred", tmp.path / "pred", fs::copy_options::recursive);
  eval::MevisOptions o;
  o.pred_dir = tmp.str() + "/pred";
  o.gt_dir = kDir + "/mevis_style/valid_u";
  SUBCASE("frame") {
    fs::remove(tmp.path / "pred" / "toyvid01" / "1" / "00005.png");
    CHECK_THROWS_WITH(eval::evaluate_mevis(o), doctest::Contains("expression 'toyvid01_1', frame '00005'"));
    CHECK_THROWS_WITH(eval::evaluate_mevis(o), doctest::Contains("does not exist"));
  }
  SUBCASE("first frame gives the size") {
    fs::remove(tmp.path / "pred" / "toyvid01" / "2" / "00000.png");
    CHECK_THROWS_WITH(eval::evaluate_mevis(o), doctest::Contains("takes the frame size from the prediction 00000.png"));
  }
  SUBCASE("expression folder") {
    fs::remove_all(tmp.path / "pred" / "toyvid01" / "0");
    CHECK_THROWS_WITH(eval::evaluate_mevis(o), doctest::Contains("prediction folder"));
  }
  SUBCASE("size") {
    io::IndexedImage img;
    img.height = 32;
    img.width = 48;
    img.values.assign(32 * 48, 0);
    for (int f = 0; f < 8; ++f)
      io::write_png_indexed((tmp.path / "pred" / "toyvid01" / "0" / ("0000" + std::to_string(f) + ".png")).string(), img);
    CHECK_THROWS_WITH(eval::evaluate_mevis(o), doctest::Contains("is 64x96 but the prediction"));
  }
  SUBCASE("no masks") {
    o.gt_dir = tmp.str();
    CHECK_THROWS_WITH(eval::evaluate_mevis(o), doctest::Contains("meta_expressions.json' not found"));
  }
}

TEST_CASE("ytvos hold-out: palette annotations and obj_id against per-expression predictions") {
  // Build a small annotated split from the MeViS toy video: object 1 = anno 101,
  // object 2 = anno 102 where visible. Expressions 0 and 2 point at them.
  TempDir tmp("ytvos");
  const json masks = json::parse(read_text(kDir + "/mevis_style/valid_u/mask_dict.json"));
  const json meta = json::parse(read_text(kDir + "/mevis_style/valid_u/meta_expressions.json"));
  const auto frames = meta["videos"]["toyvid01"]["frames"].get<std::vector<std::string>>();
  const fs::path ann = tmp.path / "train" / "Annotations" / "toyvid01";
  fs::create_directories(ann);
  for (size_t t = 0; t < frames.size(); ++t) {
    io::IndexedImage img;
    img.height = 64;
    img.width = 96;
    img.values.assign(64 * 96, 0);
    img.palette = io::davis_palette();
    for (int obj : {1, 2}) {
      const json& rle = masks[obj == 1 ? "101" : "102"][t];
      if (rle.is_null()) continue;
      const auto m = io::rle_decode(io::rle_from_string(64, 96, rle["counts"].get<std::string>()));
      for (size_t p = 0; p < m.size(); ++p)
        if (m[p]) img.values[p] = static_cast<uint8_t>(obj);
    }
    io::write_png_indexed((ann / (frames[t] + ".png")).string(), img);
  }
  json ymeta;
  ymeta["videos"]["toyvid01"]["frames"] = frames;
  ymeta["videos"]["toyvid01"]["expressions"]["0"] = {{"exp", "the ball"}, {"obj_id", "1"}};
  ymeta["videos"]["toyvid01"]["expressions"]["2"] = {{"exp", "the box"}, {"obj_id", "2"}};
  ymeta["videos"]["not_predicted"]["frames"] = frames;
  ymeta["videos"]["not_predicted"]["expressions"]["0"] = {{"exp", "x"}, {"obj_id", "1"}};
  fs::create_directories(tmp.path / "meta_expressions" / "train");
  std::ofstream(tmp.path / "meta_expressions" / "train" / "meta_expressions.json") << ymeta.dump();
  // Predictions in the inference layout <out>/valid/... are found too.
  fs::create_directories(tmp.path / "out" / "valid" / "toyvid01");
  for (const char* exp : {"0", "2"})
    fs::copy(kDir + "/mevis_style/pred/toyvid01/" + exp, tmp.path / "out" / "valid" / "toyvid01" / exp);

  eval::YtvosOptions o;
  o.pred_dir = tmp.str() + "/out";
  o.gt_dir = tmp.str();
  const auto r = eval::evaluate_ytvos(o);
  REQUIRE(r.expressions.size() == 2);
  CHECK(r.videos_listed == 2);
  CHECK(r.videos_evaluated == 1);
  // Expression 0 is the single object 101: the same numbers as the MeViS golden.
  const json golden = load_expected()["mevis_style"]["per_expression"];
  CHECK(r.expressions[0].J == golden[0]["J_per_frame"].get<std::vector<double>>());
  CHECK(r.expressions[0].F == golden[0]["F_per_frame"].get<std::vector<double>>());
  CHECK(r.expressions[0].text == "the ball");
  CHECK(r.J == doctest::Approx((r.expressions[0].j + r.expressions[1].j) / 2).epsilon(1e-15));
  bool noted = false;
  for (const auto& n : r.notes) noted |= n.find("evaluated the 1 of 2 videos") != std::string::npos;
  CHECK(noted);

  fs::remove(tmp.path / "out" / "valid" / "toyvid01" / "2" / "00007.png");
  CHECK_THROWS_WITH(eval::evaluate_ytvos(o), doctest::Contains("expression 'toyvid01_2', frame '00007'"));
  o.gt_dir = tmp.str() + "/out";
  CHECK_THROWS_WITH(eval::evaluate_ytvos(o), doctest::Contains("has neither Annotations/"));
}
