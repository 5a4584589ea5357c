// The DAVIS 2017 (unsupervised, as MPG-SAM 2 runs it) evaluation of the three golden
// sequences: per-frame values, pair scores, matching, per-object statistics, the
// global table, the CSV files and the errors for bad inputs.
#include <doctest/doctest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "eval/davis.h"
#include "eval/run.h"
#include "io/image.h"
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

// The golden sequences in the toolkit's layout: gt/<seq>/*.png and pred/<seq>/*.png.
void make_davis_layout(const fs::path& root) {
  for (const auto& seq : fs::directory_iterator(kDir + "/sequences")) {
    const std::string name = seq.path().filename().string();
    fs::create_directories(root / "gt" / name);
    fs::create_directories(root / "pred" / name);
    fs::copy(seq.path() / "gt", root / "gt" / name, fs::copy_options::recursive);
    fs::copy(seq.path() / "pred", root / "pred" / name, fs::copy_options::recursive);
  }
}

std::string read_text(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void check_against_golden(const std::vector<eval::DavisSequenceResult>& results, const eval::DavisGlobal& g) {
  const json expected = load_expected()["sequences"];
  REQUIRE(results.size() == expected["per_sequence"].size());
  for (size_t si = 0; si < results.size(); ++si) {
    const json& es = expected["per_sequence"][si];
    const auto& rs = results[si];
    INFO("sequence " << rs.name);
    CHECK(rs.name == es["name"].get<std::string>());
    CHECK(rs.frames == es["frames"].get<std::vector<std::string>>());
    CHECK(rs.bound_pix == es["bound_pix"].get<int64_t>());
    CHECK(rs.num_gt == es["n_gt_objects_evaluated"].get<int>());
    CHECK(rs.num_pred == es["n_pred_ids"].get<int>());
    const auto pair = es["hungarian_pair_score"].get<std::vector<std::vector<double>>>();
    REQUIRE(rs.pair_score.size() == pair.size() * pair[0].size());
    for (size_t p = 0; p < pair.size(); ++p)
      for (size_t gi = 0; gi < pair[p].size(); ++gi) CHECK(rs.pair_score[p * pair[p].size() + gi] == pair[p][gi]);
    REQUIRE(rs.objects.size() == es["objects"].size());
    for (size_t oi = 0; oi < rs.objects.size(); ++oi) {
      const json& eo = es["objects"][oi];
      const auto& ro = rs.objects[oi];
      INFO("object " << ro.key);
      CHECK(ro.key == eo["official_key"].get<std::string>());
      CHECK(ro.pred_id == eo["matched_pred_id"].get<int>());
      CHECK(ro.gt_id == eo["gt_id"].get<int>());
      CHECK(ro.J == eo["J_per_frame"].get<std::vector<double>>());
      CHECK(ro.F == eo["F_per_frame"].get<std::vector<double>>());
      CHECK(ro.j_stats.mean == eo["J_mean"].get<double>());
      CHECK(ro.j_stats.recall == eo["J_recall"].get<double>());
      CHECK(ro.j_stats.decay == eo["J_decay"].get<double>());
      CHECK(ro.f_stats.mean == eo["F_mean"].get<double>());
      CHECK(ro.f_stats.recall == eo["F_recall"].get<double>());
      CHECK(ro.f_stats.decay == eo["F_decay"].get<double>());
    }
  }
  const json& eg = expected["global_results"];
  CHECK(g.jf_mean == eg["J&F-Mean"].get<double>());
  CHECK(g.j_mean == eg["J-Mean"].get<double>());
  CHECK(g.j_recall == eg["J-Recall"].get<double>());
  CHECK(g.j_decay == eg["J-Decay"].get<double>());
  CHECK(g.f_mean == eg["F-Mean"].get<double>());
  CHECK(g.f_recall == eg["F-Recall"].get<double>());
  CHECK(g.f_decay == eg["F-Decay"].get<double>());
}

}  // namespace

TEST_CASE("in memory: every golden sequence, object and global number is exact") {
  const json expected = load_expected()["sequences"];
  std::vector<eval::DavisSequenceResult> results;
  for (const json& es : expected["per_sequence"]) {
    const std::string name = es["name"];
    const auto frames = es["frames"].get<std::vector<std::string>>();
    std::vector<io::IndexedImage> gt, pred;
    for (const auto& f : frames) {
      gt.push_back(io::read_png_values(kDir + "/sequences/" + name + "/gt/" + f + ".png"));
      pred.push_back(io::read_png_values(kDir + "/sequences/" + name + "/pred/" + f + ".png"));
    }
    const int k = eval::DavisSequence::count_gt_objects(gt[0].values.data(), gt[0].height * gt[0].width);
    eval::DavisSequence seq(name, frames, gt[0].height, gt[0].width, k);
    // Frames may come in any order (the folder reader scores them in parallel).
    for (size_t t = frames.size(); t-- > 0;) seq.add_frame(t, gt[t].values.data(), pred[t].values.data());
    results.push_back(seq.finish());
  }
  check_against_golden(results, eval::davis_global(results));
}

TEST_CASE("folders: evaluate_davis, the CSV files and the JSON report of run_evaluation") {
  TempDir tmp("folders");
  make_davis_layout(tmp.path);
  eval::DavisOptions o;
  o.pred_dir = tmp.str() + "/pred";
  o.gt_dir = tmp.str() + "/gt";
  int64_t ticks = 0;
  const eval::DavisReport r = eval::evaluate_davis(o, [&](int64_t done, int64_t total, const std::string&) {
    ++ticks;
    CHECK(total == 3);
    CHECK(done <= total);
  });
  CHECK(ticks == 3);
  check_against_golden(r.sequences, r.global);

  eval::EvalOptions e;
  e.dataset = "davis";
  e.pred_dir = o.pred_dir;
  e.gt_dir = o.gt_dir;
  e.out = tmp.str() + "/report.json";
  e.progress = false;
  std::ostringstream printed;
  const eval::EvalOutcome out = eval::run_evaluation(e, printed);
  const json eg = load_expected()["sequences"]["global_results"];
  CHECK(out.JF == eg["J&F-Mean"].get<double>());
  CHECK(printed.str().find("seqA_two_objects_swapped_ids_1") != std::string::npos);
  CHECK(printed.str().find("0.81605") != std::string::npos);
  // The CSV files as eval_davis.py writes them (pandas, %.5f).
  CHECK(read_text(tmp.str() + "/global_results-val.csv") ==
        "J&F-Mean,J-Mean,J-Recall,J-Decay,F-Mean,F-Recall,F-Decay\n"
        "0.81605,0.80375,0.95370,0.01308,0.82835,0.92593,0.05239\n");
  CHECK(read_text(tmp.str() + "/per-sequence_results-val.csv") ==
        "Sequence,J-Mean,F-Mean\n"
        "seqA_two_objects_swapped_ids_1,0.80405,0.94578\n"
        "seqA_two_objects_swapped_ids_2,0.69512,0.66524\n"
        "seqB_void_pixels_1,0.81328,0.80547\n"
        "seqC_missing_and_extra_1,0.90991,1.00000\n"
        "seqC_missing_and_extra_2,0.78883,0.83680\n"
        "seqC_missing_and_extra_3,0.81131,0.71682\n");
  // The JSON report holds the full-precision numbers.
  const json report = json::parse(read_text(e.out));
  CHECK(report["dataset"] == "davis");
  CHECK(report["global"]["J&F-Mean"].get<double>() == eg["J&F-Mean"].get<double>());
  CHECK(report["global"]["F-Decay"].get<double>() == eg["F-Decay"].get<double>());
  CHECK(report["sequences"][2]["objects"][2]["pred_id"] == 4);
  CHECK(report["sequences"][2]["objects"][2]["gt_id"] == 2);
}

TEST_CASE("folders: anno_* slots are evaluated one by one and averaged") {
  TempDir tmp("anno");
  make_davis_layout(tmp.path);
  fs::create_directories(tmp.path / "valid");
  fs::copy(tmp.path / "pred", tmp.path / "valid" / "anno_0", fs::copy_options::recursive);
  fs::copy(tmp.path / "pred", tmp.path / "valid" / "anno_1", fs::copy_options::recursive);
  eval::EvalOptions e;
  e.dataset = "davis";
  e.pred_dir = tmp.str() + "/valid";
  e.gt_dir = tmp.str() + "/gt";
  e.progress = false;
  std::ostringstream printed;
  const eval::EvalOutcome out = eval::run_evaluation(e, printed);
  const json eg = load_expected()["sequences"]["global_results"];
  CHECK(out.JF == eg["J&F-Mean"].get<double>());
  CHECK(out.json_path == e.pred_dir + "/metrics.json");
  CHECK(fs::exists(tmp.path / "valid" / "anno_0" / "global_results-val.csv"));
  CHECK(fs::exists(tmp.path / "valid" / "anno_1" / "per-sequence_results-val.csv"));
  const json report = json::parse(read_text(out.json_path));
  CHECK(report["annotations"].size() == 2);
  CHECK(report["mean_over_annotations"]["J&F-Mean"].get<double>() == eg["J&F-Mean"].get<double>());
}

TEST_CASE("DAVIS root layout: Annotations_unsupervised/480p and ImageSets/2017/<set>.txt") {
  TempDir tmp("root");
  make_davis_layout(tmp.path);
  fs::create_directories(tmp.path / "DAVIS" / "Annotations_unsupervised");
  fs::rename(tmp.path / "gt", tmp.path / "DAVIS" / "Annotations_unsupervised" / "480p");
  fs::create_directories(tmp.path / "DAVIS" / "ImageSets" / "2017");
  std::ofstream(tmp.path / "DAVIS" / "ImageSets" / "2017" / "val.txt") << "seqB_void_pixels\n";
  eval::DavisOptions o;
  o.pred_dir = tmp.str() + "/pred";
  o.gt_dir = tmp.str() + "/DAVIS";
  const auto r = eval::evaluate_davis(o);
  REQUIRE(r.sequences.size() == 1);
  CHECK(r.sequences[0].objects[0].j_stats.mean == 0.8132793587821918);
  o.set = "train";
  CHECK_THROWS_WITH(eval::evaluate_davis(o), doctest::Contains("ImageSets/2017/train.txt"));
}

TEST_CASE("errors name what is missing or wrong") {
  TempDir tmp("errors");
  make_davis_layout(tmp.path);
  eval::DavisOptions o;
  o.pred_dir = tmp.str() + "/pred";
  o.gt_dir = tmp.str() + "/gt";

  SUBCASE("missing predicted frame") {
    fs::remove(tmp.path / "pred" / "seqC_missing_and_extra" / "00004.png");
    CHECK_THROWS_WITH(eval::evaluate_davis(o), doctest::Contains("sequence 'seqC_missing_and_extra', frame '00004': "
                                                                 "predicted mask"));
    CHECK_THROWS_WITH(eval::evaluate_davis(o), doctest::Contains("does not exist"));
  }
  SUBCASE("missing sequence folder") {
    fs::remove_all(tmp.path / "pred" / "seqB_void_pixels");
    CHECK_THROWS_WITH(eval::evaluate_davis(o), doctest::Contains("lacks 1 of 3 sequence folders (seqB_void_pixels)"));
  }
  SUBCASE("size mismatch") {
    io::IndexedImage small;
    small.height = 10;
    small.width = 12;
    small.values.assign(120, 0);
    small.palette = io::davis_palette();
    io::write_png_indexed((tmp.path / "pred" / "seqA_two_objects_swapped_ids" / "00002.png").string(), small);
    CHECK_THROWS_WITH(eval::evaluate_davis(o), doctest::Contains("is 10x12 (HxW) but the GT mask"));
  }
  SUBCASE("binary 0/255 predictions exceed the 20 proposals") {
    io::IndexedImage binary = io::read_png_values((tmp.path / "pred" / "seqB_void_pixels" / "00001.png").string());
    for (auto& v : binary.values) v = v ? 255 : 0;
    binary.palette.clear();
    io::write_png_indexed((tmp.path / "pred" / "seqB_void_pixels" / "00001.png").string(), binary);
    CHECK_THROWS_WITH(eval::evaluate_davis(o), doctest::Contains("holds id 255, more than the 20 proposals"));
  }
  SUBCASE("unreadable PNG") {
    std::ofstream(tmp.path / "pred" / "seqA_two_objects_swapped_ids" / "00003.png") << "not a png";
    CHECK_THROWS_WITH(eval::evaluate_davis(o), doctest::Contains("predicted mask of sequence "
                                                                 "'seqA_two_objects_swapped_ids', frame '00003'"));
  }
  SUBCASE("missing folders and a bad dataset name") {
    o.gt_dir = tmp.str() + "/nope";
    CHECK_THROWS_WITH(eval::evaluate_davis(o), doctest::Contains(("--gt folder '" + tmp.str() + "/nope' does not exist").c_str()));
    eval::EvalOptions e;
    e.dataset = "kitti";
    e.pred_dir = tmp.str() + "/pred";
    e.gt_dir = tmp.str() + "/gt";
    e.progress = false;
    std::ostringstream sink;
    CHECK_THROWS_WITH(eval::run_evaluation(e, sink), doctest::Contains("--dataset must be davis, mevis or ytvos"));
  }
}
