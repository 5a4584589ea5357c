// rvos track, run as users run it (the built binary) on the sam2_micro golden model and frames:
// the files it writes, agreement with the video predictor called directly, the object scheme of
// --obj-id / --mask, and one clear error (exit status 2) per kind of bad argument or file.
#include <doctest/doctest.h>

#include <sys/wait.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cuda/cuda.h"
#include "io/image.h"
#include "io/safetensors.h"
#include "io/video.h"
#include "models/sam2/config.h"
#include "models/sam2/sam2_base.h"
#include "models/sam2/video_predictor.h"
#include "testing.h"

namespace {

using namespace rvos;
using rvos::testing::TempDir;
namespace fs = std::filesystem;

const std::string kData = rvos::testing::test_data_dir() + "/sam2_micro";
const std::string kModel = kData + "/checkpoint.pt";
const std::string kConfig = kData + "/config.yaml";
const std::string kFrames = kData + "/frames";
constexpr int64_t kNumFrames = 8, kH = 216, kW = 288;

struct RunResult {
  int status = -1;
  std::string out, err;
};

std::string shell_quoted(const std::string& s) {
  std::string r = "'";
  for (char c : s) r += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return r + "'";
}

std::string read_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Runs the rvos binary with `args`, capturing its exit status, stdout and stderr.
RunResult run_rvos(const std::vector<std::string>& args) {
  static TempDir logs("track_logs");
  std::string command = shell_quoted(RVOS_BINARY);
  for (const auto& a : args) command += " " + shell_quoted(a);
  command += " >" + shell_quoted(logs.file("out")) + " 2>" + shell_quoted(logs.file("err"));
  const int rc = std::system(command.c_str());
  RunResult r;
  r.status = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  r.out = read_text(logs.file("out"));
  r.err = read_text(logs.file("err"));
  return r;
}

// `rvos track` on the micro model with the given prompt (and other) flags.
RunResult track(const std::string& out, std::vector<std::string> flags) {
  std::vector<std::string> args = {"track", "--model", kModel, "--config", kConfig, "--frames", kFrames, "--out", out};
  args.insert(args.end(), flags.begin(), flags.end());
  return run_rvos(args);
}

std::vector<std::string> frame_stems() {
  std::vector<std::string> stems;
  for (int64_t i = 0; i < kNumFrames; ++i) stems.push_back("0000" + std::to_string(i));
  return stems;
}

// The object id of every pixel as the command defines it: the object of highest positive logit.
std::vector<uint8_t> ids_of(const sam2::FrameMasks& fm) {
  const int64_t n = static_cast<int64_t>(fm.obj_ids.size()), hw = kH * kW;
  const Tensor logits = contiguous(to(reshape(fm.video_res_masks, {n, kH, kW}), DType::F32));
  const float* d = logits.data<float>();
  std::vector<uint8_t> ids(static_cast<size_t>(hw), 0);
  for (int64_t i = 0; i < hw; ++i) {
    float best = 0;
    for (int64_t k = 0; k < n; ++k)
      if (d[k * hw + i] > best) best = d[k * hw + i], ids[static_cast<size_t>(i)] = static_cast<uint8_t>(fm.obj_ids[k]);
  }
  return ids;
}

// The video predictor called directly: prompts added on `prompt_frame` by `add`, then forward
// and (from a later frame) backward propagation, as the command runs it. Object ids per frame.
std::map<int64_t, std::vector<uint8_t>> track_directly(int64_t prompt_frame,
                                                      const std::function<void(sam2::VideoPredictor&)>& add) {
  NoGradGuard no_grad;
  auto model = sam2::Sam2Base::from_checkpoint(kModel, sam2::sam2_config(kConfig));
  model->eval();
  sam2::VideoPredictor predictor(model);
  predictor.init_state(std::make_shared<io::VideoSource>(io::VideoSource::open(kFrames)));
  add(predictor);
  std::map<int64_t, std::vector<uint8_t>> ids;
  auto keep = [&](const sam2::FrameMasks& fm) { ids.emplace(fm.frame_idx, ids_of(fm)); };
  predictor.propagate_in_video(keep, prompt_frame, std::nullopt, false);
  if (prompt_frame > 0) predictor.propagate_in_video(keep, prompt_frame, std::nullopt, true);
  return ids;
}

io::IndexedImage read_mask(const fs::path& dir, const std::string& stem) {
  return io::read_png_values((dir / (stem + ".png")).string());
}

std::set<int> values_in(const io::IndexedImage& m) { return {m.values.begin(), m.values.end()}; }

// A palette PNG of the frames' size: object 1 in [20, 120) x [30, 110), object 2 in
// [160, 260) x [100, 190) (x ranges, y ranges), or only object 1 as a gray 0/255 PNG.
std::string write_prompt_mask(const TempDir& dir, bool palette) {
  io::IndexedImage m{kH, kW, std::vector<uint8_t>(static_cast<size_t>(kH * kW), 0), {}};
  for (int64_t y = 0; y < kH; ++y)
    for (int64_t x = 0; x < kW; ++x) {
      uint8_t& v = m.values[static_cast<size_t>(y * kW + x)];
      if (x >= 20 && x < 120 && y >= 30 && y < 110) v = palette ? 1 : 255;
      if (palette && x >= 160 && x < 260 && y >= 100 && y < 190) v = 2;
    }
  if (palette) m.palette = io::davis_palette();
  const std::string path = dir.file(palette ? "prompt_palette.png" : "prompt_gray.png");
  io::write_png_indexed(path, m);
  return path;
}

// Intersection over union of the pixels of `id` in `m` with the rectangle [x0, x1) x [y0, y1).
double iou_with_rect(const io::IndexedImage& m, int id, int64_t x0, int64_t y0, int64_t x1, int64_t y1) {
  int64_t inter = 0, uni = 0;
  for (int64_t y = 0; y < kH; ++y)
    for (int64_t x = 0; x < kW; ++x) {
      const bool a = m.values[static_cast<size_t>(y * kW + x)] == id;
      const bool b = x >= x0 && x < x1 && y >= y0 && y < y1;
      inter += a && b;
      uni += a || b;
    }
  return uni ? static_cast<double>(inter) / static_cast<double>(uni) : 0.0;
}

nlohmann::json read_report(const fs::path& out) {
  return nlohmann::json::parse(read_text((out / "track.json").string()));
}

}  // namespace

TEST_CASE("a point prompt writes one palette PNG per frame, equal to the video predictor's masks") {
  TempDir out("track_point");
  const RunResult r = track(out.str(), {"--point", "150,100"});
  INFO(r.err);
  REQUIRE(r.status == 0);
  CHECK(r.out.find("tracked 1 object over 8 frames") != std::string::npos);

  const auto expected = track_directly(0, [](sam2::VideoPredictor& p) {
    p.add_new_points_or_box(0, 1, {{150.0f, 100.0f}}, {1});
  });
  REQUIRE(expected.size() == static_cast<size_t>(kNumFrames));
  const io::Palette davis = io::davis_palette();
  for (int64_t f = 0; f < kNumFrames; ++f) {
    const std::string stem = frame_stems()[static_cast<size_t>(f)];
    CAPTURE(stem);
    const io::IndexedImage m = read_mask(out.path, stem);
    CHECK(m.height == kH);
    CHECK(m.width == kW);
    REQUIRE(m.palette.size() >= 3);
    CHECK(m.palette[1] == davis[1]);
    CHECK(m.palette[2] == davis[2]);
    for (int v : values_in(m)) CHECK((v == 0 || v == 1));
    CHECK(m.values == expected.at(f));
  }
  CHECK_FALSE(fs::exists(out.path / "overlay"));

  const nlohmann::json report = read_report(out.path);
  CHECK(report["num_frames"] == kNumFrames);
  CHECK(report["obj_ids"] == nlohmann::json::array({1}));
  CHECK(report["objects"][0]["points"] == nlohmann::json::parse("[[150.0, 100.0, 1]]"));
  REQUIRE(report["per_frame"].size() == static_cast<size_t>(kNumFrames));
  for (int64_t f = 0; f < kNumFrames; ++f) {
    const auto& ids = expected.at(f);
    const int64_t area = std::count(ids.begin(), ids.end(), 1);
    CHECK(report["per_frame"][f]["name"] == frame_stems()[static_cast<size_t>(f)]);
    CHECK(report["per_frame"][f]["areas"]["1"] == area);
  }
  CHECK(report["timings"]["frames_per_s"].get<double>() > 0);
}

TEST_CASE("two objects by --obj-id: ids 1 and 2 in the PNGs, overlaps to the higher logit") {
  TempDir out("track_two");
  const RunResult r = track(out.str(), {"--obj-id", "1", "--point", "60,60", "--point", "200,150,0", "--obj-id", "2",
                                        "--box", "160,100,260,190", "--point", "210,145"});
  INFO(r.err);
  REQUIRE(r.status == 0);
  const auto expected = track_directly(0, [](sam2::VideoPredictor& p) {
    p.add_new_points_or_box(0, 1, {{60.0f, 60.0f}, {200.0f, 150.0f}}, {1, 0});
    p.add_new_points_or_box(0, 2, {{210.0f, 145.0f}}, {1}, true, true, std::array<float, 4>{160, 100, 260, 190});
  });
  std::set<int> seen;
  for (int64_t f = 0; f < kNumFrames; ++f) {
    const io::IndexedImage m = read_mask(out.path, frame_stems()[static_cast<size_t>(f)]);
    CHECK(m.values == expected.at(f));
    for (int v : values_in(m)) seen.insert(v);
  }
  CHECK(seen == std::set<int>{0, 1, 2});
  const nlohmann::json report = read_report(out.path);
  CHECK(report["obj_ids"] == nlohmann::json::array({1, 2}));
  CHECK(report["objects"][1]["box"] == nlohmann::json::array({160.0, 100.0, 260.0, 190.0}));
  CHECK(report["objects"][0]["points"].size() == 2);
}

TEST_CASE("a palette --mask gives one object per index; --obj-id K --mask takes index K") {
  TempDir dir("track_mask");
  const std::string palette_mask = write_prompt_mask(dir, true);
  // On the prompt frame the mask is the output (use_mask_input_as_output_without_sam), up to
  // the resizing to the model's size and back.
  const fs::path both = dir.path / "both";
  RunResult r = track(both.string(), {"--mask", palette_mask, "--prompt-frame", "2"});
  INFO(r.err);
  REQUIRE(r.status == 0);
  io::IndexedImage m = read_mask(both, "00002");
  CHECK(values_in(m) == std::set<int>{0, 1, 2});
  CHECK(iou_with_rect(m, 1, 20, 30, 120, 110) > 0.9);
  CHECK(iou_with_rect(m, 2, 160, 100, 260, 190) > 0.9);
  CHECK(read_report(both)["obj_ids"] == nlohmann::json::array({1, 2}));

  const fs::path second = dir.path / "second";
  r = track(second.string(), {"--obj-id", "2", "--mask", palette_mask});
  REQUIRE(r.status == 0);
  m = read_mask(second, "00000");
  CHECK(values_in(m) == std::set<int>{0, 2});
  CHECK(iou_with_rect(m, 2, 160, 100, 260, 190) > 0.9);
  CHECK(read_report(second)["obj_ids"] == nlohmann::json::array({2}));

  const fs::path gray = dir.path / "gray";
  r = track(gray.string(), {"--obj-id", "7", "--mask", write_prompt_mask(dir, false)});
  REQUIRE(r.status == 0);
  m = read_mask(gray, "00000");
  CHECK(values_in(m) == std::set<int>{0, 7});
  CHECK(iou_with_rect(m, 7, 20, 30, 120, 110) > 0.9);
}

TEST_CASE("--prompt-frame 3 tracks forward to the end and backward to frame 0") {
  TempDir out("track_middle");
  const RunResult r = track(out.str(), {"--prompt-frame", "3", "--box", "100,60,220,170", "--overlay"});
  INFO(r.err);
  REQUIRE(r.status == 0);
  const auto expected = track_directly(3, [](sam2::VideoPredictor& p) {
    p.add_new_points_or_box(3, 1, {}, {}, true, true, std::array<float, 4>{100, 60, 220, 170});
  });
  REQUIRE(expected.size() == static_cast<size_t>(kNumFrames));
  for (int64_t f = 0; f < kNumFrames; ++f) {
    const std::string stem = frame_stems()[static_cast<size_t>(f)];
    CAPTURE(stem);
    CHECK(read_mask(out.path, stem).values == expected.at(f));
    const io::Image overlay = io::read_image((out.path / "overlay" / (stem + ".png")).string());
    CHECK(overlay.height == kH);
    CHECK(overlay.width == kW);
    CHECK(overlay.channels == 3);
  }
  const nlohmann::json report = read_report(out.path);
  CHECK(report["prompt_frame"]["index"] == 3);
  CHECK(report["prompt_frame"]["name"] == "00003");
  CHECK(report["per_frame"].size() == static_cast<size_t>(kNumFrames));
}

TEST_CASE("--save-logits writes one [objects, H, W] float32 tensor per frame, positive where the PNG has the object") {
  TempDir dir("track_logits");
  // The logits may go into the --out folder that the command creates.
  const fs::path out = dir.path / "masks";
  const std::string logits_path = (out / "logits.safetensors").string();
  const RunResult r = track(out.string(), {"--point", "150,100", "--obj-id", "3", "--point", "40,40", "--save-logits",
                                        logits_path, "--prompt-frame", "1", "--no-progress"});
  INFO(r.err);
  REQUIRE(r.status == 0);
  CHECK(r.err.empty());
  const io::SafetensorsFile file = io::read_safetensors(logits_path);
  REQUIRE(file.tensors.size() == static_cast<size_t>(kNumFrames));
  CHECK(file.metadata.at("obj_ids") == "[1,3]");
  for (int64_t f = 0; f < kNumFrames; ++f) {
    const auto& [name, t] = file.tensors[static_cast<size_t>(f)];
    const std::string stem = frame_stems()[static_cast<size_t>(f)];
    CHECK(name == stem);
    CHECK(t.dtype() == DType::F32);
    CHECK(t.shape() == Shape{2, kH, kW});
    const io::IndexedImage m = read_mask(out, stem);
    const Tensor c = contiguous(t);
    const float* d = c.data<float>();
    int64_t mismatches = 0;
    for (int64_t i = 0; i < kH * kW; ++i) {
      const float a = d[i], b = d[kH * kW + i];
      const int id = (a > 0 || b > 0) ? (b > a ? 3 : 1) : 0;
      mismatches += id != m.values[static_cast<size_t>(i)];
    }
    CHECK(mismatches == 0);
  }
}

TEST_CASE("a video file gives the same masks as its frame folder, named 00000, 00001, ...") {
  if (!io::VideoSource::has_video_file_support()) {
    MESSAGE("skipped: this build reads no video files (no FFmpeg)");
    return;
  }
  TempDir dir("track_video");
  // Lossless RGB (ffv1) keeps the decoded JPEG frames exactly.
  const std::string video_path = dir.file("clip.mkv");
  {
    io::VideoSource frames = io::VideoSource::open(kFrames);
    io::VideoWriter writer(video_path, kH, kW, 24, "ffv1");
    for (int64_t i = 0; i < kNumFrames; ++i) writer.write(frames.frame(i));
    writer.close();
  }
  const fs::path from_folder = dir.path / "folder", from_video = dir.path / "video";
  REQUIRE(track(from_folder.string(), {"--point", "150,100", "--prompt-frame", "5"}).status == 0);
  const RunResult r = run_rvos({"track", "--model", kModel, "--config", kConfig, "--frames", video_path, "--out",
                                from_video.string(), "--point", "150,100", "--prompt-frame", "5"});
  INFO(r.err);
  REQUIRE(r.status == 0);
  for (const std::string& stem : frame_stems()) {
    CAPTURE(stem);
    CHECK(read_mask(from_video, stem).values == read_mask(from_folder, stem).values);
  }
}

TEST_CASE("help explains the object scheme with examples") {
  RunResult r = run_rvos({"track", "--help"});
  CHECK(r.status == 0);
  CHECK(r.out.find("--obj-id") != std::string::npos);
  CHECK(r.out.find("Examples:") != std::string::npos);
  CHECK(r.out.find("sam2.1_hiera_t") != std::string::npos);
  r = run_rvos({"help", "track"});
  CHECK(r.status == 0);
  CHECK(r.out.find("--save-logits") != std::string::npos);
}

TEST_CASE("each bad argument or file gets a one-line error naming it, exit status 2") {
  TempDir dir("track_errors");
  const std::string out = dir.file("out");
  const std::string a_file = dir.file("a_file");
  std::ofstream(a_file) << "x";
  const std::string small_mask = dir.file("small.png");
  io::write_png_indexed(small_mask, {10, 10, std::vector<uint8_t>(100, 1), {}});
  const std::string empty_mask = dir.file("empty.png");
  io::write_png_indexed(empty_mask, {kH, kW, std::vector<uint8_t>(static_cast<size_t>(kH * kW), 0), {}});
  const std::string palette_mask = write_prompt_mask(dir, true);

  struct Case {
    std::vector<std::string> args;
    std::string message;
  };
  const std::vector<std::string> base = {"track", "--config", kConfig, "--frames", kFrames, "--out", out};
  auto with = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = base;
    args.insert(args.end(), {"--model", kModel});
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  };
  const std::vector<Case> cases = {
      {{"track", "--model", dir.file("none.pt"), "--config", kConfig, "--frames", kFrames, "--out", out, "--point",
        "1,1"},
       "--model '" + dir.file("none.pt") + "': no such file"},
      {{"track", "--model", kModel, "--config", kConfig, "--frames", dir.file("none"), "--out", out, "--point", "1,1"},
       "--frames '" + dir.file("none") + "'"},
      {{"track", "--model", kModel, "--frames", kFrames, "--out", out, "--point", "1,1"}, "--config is needed"},
      {{"track", "--model", kModel, "--config", "sam3_hiera_q", "--frames", kFrames, "--out", out, "--point", "1,1"},
       "--config 'sam3_hiera_q'"},
      {with({"--point", "1,1", "--prompt-frame", "8"}), "--prompt-frame 8: out of range, the video has 8 frames"},
      {with({"--point", "1,1", "--prompt-frame", "-1"}), "--prompt-frame -1: out of range"},
      {with({}), "no prompt"},
      {with({"--point", "12,x"}), "--point '12,x': expected x,y or x,y,label"},
      {with({"--point", "12"}), "--point '12': expected"},
      {with({"--point", "12,,3"}), "--point '12,,3': expected"},
      {with({"--point", "12,30,2"}), "--point '12,30,2': the label must be 1 (object) or 0 (background)"},
      {with({"--point", "300,30"}), "--point '300,30': outside the frames, which are 288x216"},
      {with({"--box", "1,2,3"}), "--box '1,2,3': expected x0,y0,x1,y1"},
      {with({"--box", "50,50,10,80"}), "--box '50,50,10,80': the second corner must be right of and below"},
      {with({"--box", "1,1,20,20", "--box", "2,2,30,30"}), "already has a box"},
      {with({"--mask", dir.file("none.png")}), "--mask '" + dir.file("none.png") + "': no such file"},
      {with({"--mask", a_file}), "--mask '" + a_file + "'"},
      {with({"--mask", dir.str()}), "--mask '" + dir.str() + "': not a file"},
      {with({"--mask", small_mask}), "the mask is 10x10 but the frames are 288x216"},
      {with({"--mask", empty_mask}), "has no object pixel"},
      {with({"--obj-id", "5", "--mask", palette_mask}), "has no pixel of index 5; its objects are 1, 2"},
      {with({"--mask", palette_mask, "--point", "5,5"}), "object 1 has both a --mask"},
      {with({"--point", "5,5", "--obj-id", "2"}), "--obj-id 2 has no --point, --box or --mask after it"},
      {with({"--obj-id", "0", "--point", "5,5"}), "--obj-id '0': object ids are whole numbers from 1 to 255"},
      {with({"--obj-id", "256", "--point", "5,5"}), "--obj-id '256'"},
      {{"track", "--model", kModel, "--config", kConfig, "--frames", kFrames, "--out", dir.file("out2"), "--point",
        "5,5", "--save-logits", dir.file("no/such/dir/l.safetensors")},
       "--save-logits '" + dir.file("no/such/dir/l.safetensors") + "': folder '" + dir.file("no/such/dir") +
           "' does not exist"},
      {{"track", "--model", kModel, "--config", kConfig, "--frames", kFrames, "--out", dir.file("out2"), "--point",
        "5,5", "--save-logits", dir.str()},
       "is a folder; give a file name"},
      {{"track", "--model", kModel, "--config", kConfig, "--frames", kFrames, "--out", a_file, "--point", "5,5"},
       "--out '" + a_file + "': exists and is not a folder"},
      {{"track", "--model", kModel, "--config", kConfig, "--frames", kFrames, "--out", a_file + "/sub", "--point",
        "5,5"},
       "--out '" + a_file + "/sub': cannot create the folder"},
  };
  for (const Case& c : cases) {
    std::string joined;
    for (const auto& a : c.args) joined += a + " ";
    CAPTURE(joined);
    const RunResult r = run_rvos(c.args);
    INFO(r.err);
    CHECK(r.status == 2);
    CHECK(r.err.find("rvos track: error: ") == 0);
    CHECK(r.err.find(c.message) != std::string::npos);
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
  }
  CHECK_FALSE(fs::exists(out));  // nothing was written for a bad argument

  // --device cuda: refused clearly without a usable GPU; with one, it tracks all frames.
  if (!cuda::is_available()) {
    const RunResult no_gpu = run_rvos(with({"--point", "5,5", "--device", "cuda"}));
    CHECK(no_gpu.status == 2);
    CHECK(no_gpu.err.find("rvos track: error: --device cuda: ") == 0);
    CHECK(std::count(no_gpu.err.begin(), no_gpu.err.end(), '\n') == 1);
    CHECK_FALSE(fs::exists(out));
  } else {
    const RunResult on_gpu = run_rvos(with({"--point", "170,80", "--device", "cuda"}));
    INFO(on_gpu.err);
    CHECK(on_gpu.status == 0);
    for (int t = 0; t < 8; ++t) CHECK(fs::exists(out + "/0000" + std::to_string(t) + ".png"));
    fs::remove_all(out);
  }

  // A checkpoint that does not fit the config is refused before anything is tracked.
  const RunResult r = run_rvos({"track", "--model", kModel, "--config", "sam2.1_hiera_t", "--frames", kFrames, "--out",
                                out, "--point", "5,5"});
  CHECK(r.status == 2);
  CHECK(r.err.find("rvos track: error: --model '" + kModel + "' (config ") == 0);
  CHECK(r.err.find("(is --config the checkpoint's model?)\n") != std::string::npos);
  CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);

  // Missing required flags are reported by the argument parser.
  const RunResult missing = run_rvos({"track", "--model", kModel, "--point", "5,5"});
  CHECK(missing.status != 0);
  CHECK(missing.err.find("--frames") != std::string::npos);
}
