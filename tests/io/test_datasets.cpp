// Dataset readers on small fixtures written here in the exact on-disk formats
// (meta_expressions.json, palette-PNG annotations, mask_dict.json with RLEs made by
// our encoder, the DAVIS text files), plus the MeViS-style golden files.
//
// Frame images are tiny PNGs stored under .jpg names: the readers only check that
// frames exist, and the image decoder recognises the format by its content.
#include "io/datasets.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "io/rle.h"
#include "testing.h"

using namespace rvos;
using namespace rvos::io;
namespace fs = std::filesystem;
using nlohmann::ordered_json;

namespace {

using rvos::testing::TempDir;
using rvos::testing::error_of;

void write_text(const fs::path& path, const std::string& content) {
  fs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary);
  out << content;
  REQUIRE(out.good());
}

void write_json(const fs::path& path, const ordered_json& value) { write_text(path, value.dump(1)); }

// A small gray frame image under a .jpg name.
void write_frame(const fs::path& path, int64_t height, int64_t width) {
  fs::create_directories(path.parent_path());
  Image image;
  image.height = height;
  image.width = width;
  image.channels = 1;
  image.pixels.assign(static_cast<size_t>(height * width), 128);
  write_png(path.string(), image);
}

// A palette annotation PNG with the DAVIS colour map.
void write_annotation(const fs::path& path, int64_t height, int64_t width, const std::vector<uint8_t>& values) {
  fs::create_directories(path.parent_path());
  IndexedImage image;
  image.height = height;
  image.width = width;
  image.values = values;
  image.palette = davis_palette();
  write_png_indexed(path.string(), image);
}

std::vector<uint8_t> mask_values(const Tensor& mask) {
  REQUIRE(mask.dtype() == DType::U8);
  REQUIRE(mask.dim() == 2);
  const uint8_t* p = mask.data<uint8_t>();
  return std::vector<uint8_t>(p, p + mask.numel());
}

std::vector<uint8_t> equal_to(const std::vector<uint8_t>& values, uint8_t id) {
  std::vector<uint8_t> out;
  for (uint8_t v : values) out.push_back(v == id);
  return out;
}

std::vector<std::string> names_of(const std::vector<Video>& videos) {
  std::vector<std::string> names;
  for (const auto& v : videos) names.push_back(v.name);
  return names;
}

std::vector<std::string> ids_of(const Video& video) {
  std::vector<std::string> ids;
  for (const auto& e : video.expressions) ids.push_back(e.id);
  return ids;
}

#define CHECK_ERROR_CONTAINS(expr, text)                        \
  do {                                                          \
    const std::string error_ = error_of([&] { (void)(expr); }); \
    INFO("error: " << error_);                                  \
    CHECK(!error_.empty());                                     \
    CHECK(error_.find(text) != std::string::npos);              \
  } while (0)

// ---- Ref-YouTube-VOS fixture ------------------------------------------------------------

constexpr int64_t kH = 4, kW = 5;

// Per frame of vidB: palette indices, objects 1 and 2.
std::vector<uint8_t> ytvos_annotation(int frame) {
  std::vector<uint8_t> v(kH * kW, 0);
  for (int64_t i = 0; i < kH * kW; ++i) {
    if ((i + frame) % 3 == 0) v[static_cast<size_t>(i)] = 1;
    if ((i + frame) % 7 == 1) v[static_cast<size_t>(i)] = 2;
  }
  return v;
}

void write_ytvos(const fs::path& root) {
  ordered_json train;
  train["videos"]["vidB"]["expressions"]["1"] = {{"exp", "A Brown  DOG\trunning"}, {"obj_id", "1"}};
  train["videos"]["vidB"]["expressions"]["0"] = {{"exp", "the person holding a leash"}, {"obj_id", "2"}};
  train["videos"]["vidB"]["frames"] = {"00000", "00005", "00010"};
  train["videos"]["vidA"]["expressions"]["0"] = {{"exp", "a cat"}, {"obj_id", 1}};  // an integer obj_id
  train["videos"]["vidA"]["frames"] = {"00010", "00000"};
  write_json(root / "meta_expressions/train/meta_expressions.json", train);
  const char* frames_b[] = {"00000", "00005", "00010"};
  for (int t = 0; t < 3; ++t) {
    write_frame(root / "train/JPEGImages/vidB" / (std::string(frames_b[t]) + ".jpg"), kH, kW);
    write_annotation(root / "train/Annotations/vidB" / (std::string(frames_b[t]) + ".png"), kH, kW,
                     ytvos_annotation(t));
  }
  for (const char* f : {"00000", "00010"}) {
    write_frame(root / "train/JPEGImages/vidA" / (std::string(f) + ".jpg"), kH, kW);
    write_annotation(root / "train/Annotations/vidA" / (std::string(f) + ".png"), kH, kW,
                     std::vector<uint8_t>(kH * kW, 1));
  }

  // valid holds the competition's valid videos and the test videos; no annotations, no obj_id.
  ordered_json valid, test;
  for (const char* name : {"v2", "t1", "v1"}) {
    valid["videos"][name]["expressions"]["0"] = {{"exp", std::string("caption of ") + name}};
    valid["videos"][name]["frames"] = {"00000"};
    write_frame(root / "valid/JPEGImages" / name / "00000.jpg", kH, kW);
  }
  test["videos"]["t1"]["expressions"]["0"] = {{"exp", "caption of t1"}};
  test["videos"]["t1"]["frames"] = {"00000"};
  write_json(root / "meta_expressions/valid/meta_expressions.json", valid);
  write_json(root / "meta_expressions/test/meta_expressions.json", test);
}

}  // namespace

TEST_CASE("datasets: Ref-YouTube-VOS train: videos, frames, expressions in file order, masks") {
  TempDir dir("ytvos");
  write_ytvos(dir.path);
  const RvosDataset ds = RvosDataset::read_ref_youtube_vos(dir.path.string(), "train");
  CHECK(ds.kind() == DatasetKind::RefYouTubeVOS);
  CHECK(std::string(dataset_kind_name(ds.kind())) == "Ref-YouTube-VOS");
  CHECK(ds.split() == "train");
  CHECK(ds.source() == (dir.path / "meta_expressions/train/meta_expressions.json").string());
  REQUIRE(names_of(ds.videos()) == std::vector<std::string>{"vidB", "vidA"});
  const Video& b = ds.videos()[0];
  CHECK(b.frames == std::vector<std::string>{"00000", "00005", "00010"});
  CHECK(b.frame_paths[1] == (dir.path / "train/JPEGImages/vidB/00005.jpg").string());
  CHECK(ids_of(b) == std::vector<std::string>{"1", "0"});
  CHECK(b.expressions[0].text == "A Brown  DOG\trunning");  // raw, as inference feeds it
  CHECK(b.expressions[0].raw_text == "A Brown  DOG\trunning");
  CHECK(b.expressions[0].obj_ids == std::vector<std::string>{"1"});
  CHECK(b.expressions[0].anno_ids.empty());
  CHECK(ds.videos()[1].expressions[0].obj_ids == std::vector<std::string>{"1"});
  CHECK(ds.videos()[1].frames == std::vector<std::string>{"00010", "00000"});  // file order kept
  CHECK(ds.video_index("vidA") == 1);
  CHECK_ERROR_CONTAINS(ds.video_index("nope"), "no video 'nope'");

  REQUIRE(ds.has_masks());
  for (size_t t = 0; t < 3; ++t) {
    CAPTURE(t);
    const auto written = ytvos_annotation(static_cast<int>(t));
    const Tensor dog = ds.expression_mask(0, 0, t);
    CHECK(dog.shape() == Shape{kH, kW});
    CHECK(mask_values(dog) == equal_to(written, 1));
    CHECK(mask_values(ds.expression_mask(0, 1, t)) == equal_to(written, 2));
    CHECK(ds.frame_annotation(0, t).values == written);
  }
  CHECK(mask_values(ds.expression_mask(1, 0, 0)) == std::vector<uint8_t>(kH * kW, 1));
  CHECK_ERROR_CONTAINS(ds.expression_mask(0, 2, 0), "expression index 2 out of range (2 expressions)");
  CHECK_ERROR_CONTAINS(ds.expression_mask(0, 0, 3), "video 'vidB': frame index 3 out of range (3 frames)");
  CHECK_ERROR_CONTAINS(ds.expression_mask(5, 0, 0), "video index 5 out of range (2 videos)");

  // Training options: cleaned captions and sorted frames.
  DatasetOptions training;
  training.captions = CaptionCleaning::kTraining;
  training.sort_frames = true;
  const RvosDataset train = RvosDataset::read_ref_youtube_vos(dir.path.string(), "train", training);
  CHECK(train.videos()[0].expressions[0].text == "a brown dog running");
  CHECK(train.videos()[0].expressions[0].raw_text == "A Brown  DOG\trunning");
  CHECK(train.videos()[1].frames == std::vector<std::string>{"00000", "00010"});
  CHECK(train.videos()[1].frame_paths[0] == (dir.path / "train/JPEGImages/vidA/00000.jpg").string());
}

TEST_CASE("datasets: Ref-YouTube-VOS valid: no obj_id, no annotations, the test-video rule") {
  TempDir dir("ytvos_valid");
  write_ytvos(dir.path);
  const RvosDataset all = RvosDataset::read_ref_youtube_vos(dir.path.string(), "valid");
  CHECK(names_of(all.videos()) == std::vector<std::string>{"v2", "t1", "v1"});
  CHECK(all.videos()[0].expressions[0].obj_ids.empty());
  CHECK_FALSE(all.has_masks());
  CHECK_ERROR_CONTAINS(all.expression_mask(0, 0, 0), "video 'v2' expression '0': no obj_id");
  CHECK_ERROR_CONTAINS(all.frame_annotation(0, 0), "split 'valid' has no annotations");

  DatasetOptions options;
  options.exclude_test_videos = true;
  const RvosDataset valid = RvosDataset::read_ref_youtube_vos(dir.path.string(), "valid", options);
  CHECK(names_of(valid.videos()) == std::vector<std::string>{"v1", "v2"});  // test videos out, then sorted
  options.expected_video_count = 2;
  CHECK(RvosDataset::read_ref_youtube_vos(dir.path.string(), "valid", options).videos().size() == 2);
  options.expected_video_count = kRefYouTubeVOSValidVideos;
  CHECK_ERROR_CONTAINS(RvosDataset::read_ref_youtube_vos(dir.path.string(), "valid", options),
                       "expected 202 videos, found 2");
  fs::remove(dir.path / "meta_expressions/test/meta_expressions.json");
  options.expected_video_count.reset();
  CHECK_ERROR_CONTAINS(RvosDataset::read_ref_youtube_vos(dir.path.string(), "valid", options),
                       "meta_expressions/test/meta_expressions.json: cannot open");
}

TEST_CASE("datasets: Ref-YouTube-VOS errors name the file, the video and the key") {
  TempDir dir("ytvos_errors");
  write_ytvos(dir.path);
  const fs::path meta = dir.path / "meta_expressions/train/meta_expressions.json";
  const std::string root = dir.path.string();
  const auto read = [&] { return RvosDataset::read_ref_youtube_vos(root, "train"); };
  std::ifstream in(meta);
  const ordered_json good = ordered_json::parse(in);

  CHECK_ERROR_CONTAINS(RvosDataset::read_ref_youtube_vos(root, "nosplit"),
                       "meta_expressions/nosplit/meta_expressions.json: cannot open");

  write_text(meta, "{\"videos\": {\"vidB\": ");
  CHECK_ERROR_CONTAINS(read(), meta.string() + ": invalid JSON");

  ordered_json j = good;
  j["videos"]["vidB"].erase("frames");
  write_json(meta, j);
  CHECK_ERROR_CONTAINS(read(), meta.string() + ": video 'vidB': missing key 'frames'");

  j = good;
  j["videos"]["vidA"]["frames"][1] = 7;
  write_json(meta, j);
  CHECK_ERROR_CONTAINS(read(), "video 'vidA': 'frames' element 1 must be a string, found an integer");

  j = good;
  j["videos"]["vidB"]["expressions"]["0"].erase("exp");
  write_json(meta, j);
  CHECK_ERROR_CONTAINS(read(), "video 'vidB' expression '0': missing key 'exp'");

  j = good;
  j["videos"]["vidB"]["expressions"]["1"]["exp"] = ordered_json::array({"a", "dog"});
  write_json(meta, j);
  CHECK_ERROR_CONTAINS(read(), "video 'vidB' expression '1': 'exp' must be a string, found a list");

  j = good;
  j["videos"]["vidB"]["expressions"]["1"]["obj_id"] = 1.5;
  write_json(meta, j);
  CHECK_ERROR_CONTAINS(read(), "video 'vidB' expression '1': 'obj_id' must hold integers or strings, found a float");

  j = good;
  j["videos"].erase("vidA");
  j["videos"]["vidB"]["frames"].push_back("00015");
  write_json(meta, j);
  CHECK_ERROR_CONTAINS(read(), "video 'vidB' lists frame '00015', but " +
                                   (dir.path / "train/JPEGImages/vidB/00015.jpg").string() + " does not exist");
  DatasetOptions unchecked;
  unchecked.check_frames_exist = false;
  const RvosDataset lenient = RvosDataset::read_ref_youtube_vos(root, "train", unchecked);
  CHECK(lenient.videos()[0].frames.size() == 4);
  // ... and the missing annotation is reported when its mask is asked for.
  CHECK_ERROR_CONTAINS(lenient.expression_mask(0, 0, 3), "video 'vidB' frame '00015': annotation " +
                                                             (dir.path / "train/Annotations/vidB/00015.png").string() +
                                                             " does not exist");

  j = good;
  j["videos"]["vidB"]["expressions"]["1"]["obj_id"] = "dog";
  write_json(meta, j);
  CHECK_ERROR_CONTAINS(read().expression_mask(0, 0, 0),
                       "video 'vidB' expression '1': obj_id 'dog' is not a palette index");

  write_json(meta, ordered_json::array({1, 2}));
  CHECK_ERROR_CONTAINS(read(), "the top level must be an object, found a list");
  write_json(meta, ordered_json::object({{"vids", 1}}));
  CHECK_ERROR_CONTAINS(read(), meta.string() + ": missing key 'videos'");
}

// ---- MeViS ----------------------------------------------------------------------------------

namespace {

constexpr int64_t kMH = 3, kMW = 4;

std::vector<uint8_t> mevis_object(int anno, int frame) {
  std::vector<uint8_t> v(kMH * kMW, 0);
  for (int64_t i = 0; i < kMH * kMW; ++i) v[static_cast<size_t>(i)] = ((i * anno + frame) % 4) < 2;
  return v;
}

ordered_json rle_json(const std::vector<uint8_t>& mask) {
  const Rle rle = rle_encode(mask.data(), kMH, kMW);
  return {{"size", {kMH, kMW}}, {"counts", rle_to_string(rle)}};
}

void write_mevis(const fs::path& root) {
  ordered_json meta;
  auto& video = meta["videos"]["m1"];
  video["expressions"]["0"] = {{"exp", "the bird flying away"}, {"obj_id", {1}}, {"anno_id", {11}}};
  video["expressions"]["1"] = {{"exp", "Two birds"}, {"obj_id", {0, 2}}, {"anno_id", {"11", 12}}, {"extra", true}};
  video["expressions"]["2"] = {{"exp", "never visible"}, {"obj_id", {3}}, {"anno_id", {13}}};
  video["frames"] = {"00000", "00001", "00002"};
  video["vid_id"] = 0;
  write_json(root / "train/meta_expressions.json", meta);
  for (const char* f : {"00000", "00001", "00002"})
    write_frame(root / "train/JPEGImages/m1" / (std::string(f) + ".jpg"), kMH, kMW);
  ordered_json dict;
  dict["11"] = {rle_json(mevis_object(11, 0)), nullptr, rle_json(mevis_object(11, 2))};
  dict["12"] = {rle_json(mevis_object(12, 0)), rle_json(mevis_object(12, 1)), nullptr};
  dict["13"] = {nullptr, nullptr, nullptr};
  write_json(root / "train/mask_dict.json", dict);
}

std::vector<uint8_t> sum_of(const std::vector<std::vector<uint8_t>>& masks) {
  std::vector<uint8_t> out(kMH * kMW, 0);
  for (const auto& m : masks)
    for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<uint8_t>(out[i] + m[i]);
  return out;
}

}  // namespace

TEST_CASE("datasets: MeViS: expressions, anno ids as ints or strings, the union of several objects") {
  TempDir dir("mevis");
  write_mevis(dir.path);
  const RvosDataset ds = RvosDataset::read_mevis(dir.path.string(), "train");
  CHECK(ds.kind() == DatasetKind::MeViS);
  REQUIRE(names_of(ds.videos()) == std::vector<std::string>{"m1"});
  const Video& v = ds.videos()[0];
  CHECK(v.frame_paths[2] == (dir.path / "train/JPEGImages/m1/00002.jpg").string());
  CHECK(ids_of(v) == std::vector<std::string>{"0", "1", "2"});
  CHECK(v.expressions[1].obj_ids == std::vector<std::string>{"0", "2"});
  CHECK(v.expressions[1].anno_ids == std::vector<std::string>{"11", "12"});
  CHECK(v.expressions[1].text == "Two birds");
  CHECK(v.annotation_dir.empty());
  REQUIRE(ds.has_masks());

  const std::vector<uint8_t> zero(kMH * kMW, 0);
  // Frame 0: both visible (overlaps sum to 2); frame 1: only 12; frame 2: only 11.
  CHECK(mask_values(ds.expression_mask(0, 0, 0)) == mevis_object(11, 0));
  CHECK(mask_values(ds.expression_mask(0, 0, 1)) == zero);
  CHECK(mask_values(ds.expression_mask(0, 1, 0)) == sum_of({mevis_object(11, 0), mevis_object(12, 0)}));
  CHECK(mask_values(ds.expression_mask(0, 1, 1)) == mevis_object(12, 1));
  CHECK(mask_values(ds.expression_mask(0, 1, 2)) == mevis_object(11, 2));
  bool overlap = false;
  for (uint8_t value : mask_values(ds.expression_mask(0, 1, 0))) overlap |= value == 2;
  CHECK(overlap);
  // Never visible: all null, the size comes from the frame image.
  const Tensor nothing = ds.expression_mask(0, 2, 1);
  CHECK(nothing.shape() == Shape{kMH, kMW});
  CHECK(mask_values(nothing) == zero);
  CHECK_ERROR_CONTAINS(ds.frame_annotation(0, 0), "MeViS has no annotation PNGs");

  // The training cleaning applies to MeViS too.
  DatasetOptions training;
  training.captions = CaptionCleaning::kTraining;
  CHECK(RvosDataset::read_mevis(dir.path.string(), "train", training).videos()[0].expressions[1].text == "two birds");
}

TEST_CASE("datasets: MeViS: a split without mask_dict.json, and mask_dict errors") {
  TempDir dir("mevis_errors");
  write_mevis(dir.path);
  const std::string root = dir.path.string();
  const fs::path dict_path = dir.path / "train/mask_dict.json";
  std::ifstream in(dict_path);
  const ordered_json good = ordered_json::parse(in);
  in.close();

  const auto mask_error = [&](const ordered_json& dict, size_t expression = 1, size_t frame = 0) {
    write_json(dict_path, dict);
    const RvosDataset ds = RvosDataset::read_mevis(root, "train");
    return error_of([&] { ds.expression_mask(0, expression, frame); });
  };
  ordered_json d = good;
  d["12"][0]["counts"] = "41 010";
  std::string e = mask_error(d);
  CHECK(e.find(dict_path.string() + ": key '12' entry 0 (video 'm1' frame '00000'): COCO RLE: invalid character ' '") !=
        std::string::npos);
  d = good;
  d["12"][0]["counts"] = "5";
  CHECK(mask_error(d).find("key '12' entry 0 (video 'm1' frame '00000'): COCO RLE: counts string: the runs add up "
                           "to 5 pixels, but a mask of size [3, 4] has 12") != std::string::npos);
  d = good;
  d.erase("12");
  CHECK(mask_error(d).find(dict_path.string() + ": no key '12' (anno_id of video 'm1' expression '1')") !=
        std::string::npos);
  d = good;
  d["12"][0]["size"] = {kMH, kMW + 1};
  d["12"][0]["counts"] = rle_to_string(Rle{kMH, kMW + 1, {static_cast<uint32_t>(kMH * (kMW + 1))}});
  CHECK(mask_error(d).find("key '12' entry 0 (video 'm1' frame '00000'): size [3, 5] differs from the frame's "
                           "[3, 4]") != std::string::npos);
  d = good;
  d["12"][1]["counts"] = {12};
  CHECK(mask_error(d).find("key '12' entry 1: 'counts' is a list (uncompressed RLE)") != std::string::npos);
  d = good;
  d["12"][1].erase("size");
  CHECK(mask_error(d).find("key '12' entry 1: missing key 'size'") != std::string::npos);
  d = good;
  d["12"][1]["size"] = {3};
  CHECK(mask_error(d).find("key '12' entry 1: 'size' must be [height, width]") != std::string::npos);
  d = good;
  d["12"][2] = "oops";
  CHECK(mask_error(d).find("key '12' entry 2: an entry must be an RLE object or null, found a string") !=
        std::string::npos);
  d = good;
  d["13"] = 5;
  CHECK(mask_error(d).find("key '13' must hold a list of RLEs, found an integer") != std::string::npos);
  d = good;
  d["11"].erase(2);
  CHECK(mask_error(d, 0, 2).find("key '11' has 2 entries, but video 'm1' has 3 frames") != std::string::npos);
  write_text(dict_path, "{\"11\": [");
  {
    const RvosDataset ds = RvosDataset::read_mevis(root, "train");
    CHECK_ERROR_CONTAINS(ds.load_masks(), dict_path.string() + ": invalid JSON");
  }

  // Another entry key is ignored; a valid dictionary loads up front with load_masks.
  d = good;
  d["11"][0]["area"] = {{"nested", {1, 2}}};
  write_json(dict_path, d);
  {
    const RvosDataset ds = RvosDataset::read_mevis(root, "train");
    ds.load_masks();
    CHECK(mask_values(ds.expression_mask(0, 0, 0)) == mevis_object(11, 0));
  }

  // No mask_dict.json (the valid split): not an error until a mask is asked for.
  fs::remove(dict_path);
  const RvosDataset no_masks = RvosDataset::read_mevis(root, "train");
  CHECK_FALSE(no_masks.has_masks());
  CHECK_ERROR_CONTAINS(no_masks.expression_mask(0, 0, 0), "split 'train' has no mask_dict.json");

  // anno_id must be a list.
  const fs::path meta = dir.path / "train/meta_expressions.json";
  std::ifstream meta_in(meta);
  ordered_json m = ordered_json::parse(meta_in);
  meta_in.close();
  m["videos"]["m1"]["expressions"]["2"]["anno_id"] = 13;
  write_json(meta, m);
  CHECK_ERROR_CONTAINS(RvosDataset::read_mevis(root, "train"),
                       "video 'm1' expression '2': 'anno_id' must be a list, found an integer");
  // Valid splits store only "exp".
  m["videos"]["m1"]["expressions"]["2"] = {{"exp", "only text"}};
  write_json(meta, m);
  const RvosDataset valid_like = RvosDataset::read_mevis(root, "train");
  CHECK(valid_like.videos()[0].expressions[2].anno_ids.empty());
  CHECK(valid_like.videos()[0].expressions[2].obj_ids.empty());
}

TEST_CASE("datasets: MeViS golden valid_u files (real format)") {
  TempDir dir("mevis_golden");
  const fs::path split = dir.path / "valid_u";
  fs::create_directories(split);
  fs::copy_file(rvos::testing::test_data_dir() + "/mevis_valid_u/meta_expressions.json", split / "meta_expressions.json");
  fs::copy_file(rvos::testing::test_data_dir() + "/mevis_valid_u/mask_dict.json", split / "mask_dict.json");
  DatasetOptions options;
  options.check_frames_exist = false;  // the golden set ships no frames
  const RvosDataset ds = RvosDataset::read_mevis(dir.path.string(), "valid_u", options);
  REQUIRE(names_of(ds.videos()) == std::vector<std::string>{"toyvid01"});
  const Video& v = ds.videos()[0];
  CHECK(v.frames.size() == 8);
  CHECK(v.frames[7] == "00007");
  CHECK(ids_of(v) == std::vector<std::string>{"0", "1", "2"});
  CHECK(v.expressions[1].text == "the two boxes");
  CHECK(v.expressions[1].anno_ids == std::vector<std::string>{"102", "103"});

  std::ifstream in(split / "mask_dict.json");
  const auto dict = nlohmann::json::parse(in);
  for (size_t t = 0; t < 8; ++t) {
    CAPTURE(t);
    std::vector<uint8_t> expected(64 * 96, 0);
    for (const char* key : {"102", "103"}) {
      const auto& entry = dict[key][t];
      if (entry.is_null()) continue;
      const auto decoded = rle_decode(rle_from_string(64, 96, entry["counts"].get<std::string>()));
      for (size_t i = 0; i < decoded.size(); ++i) expected[i] = static_cast<uint8_t>(expected[i] + decoded[i]);
    }
    const Tensor mask = ds.expression_mask(0, 1, t);
    CHECK(mask.shape() == Shape{64, 96});
    CHECK(mask_values(mask) == expected);
  }
}

// ---- Ref-DAVIS17 ----------------------------------------------------------------------------

namespace {

void write_davis_release(const fs::path& root) {
  const fs::path text = root / "davis_text_annotations";
  // Objects of bike-packing sorted as strings: "1", "10", "2". annot2_full lacks "10", so only
  // two objects survive the zip, and slot 3 of the second one is annot2_full's second entry ("2").
  write_text(text / "Davis17_annot1.txt",
             "bike-packing 2 \"a bicycle\"\n"
             "bike-packing 1 \"a man riding a bike\"\n"
             "clasic-car 1 \"a classic  car\"\n"
             "bike-packing 10 \"a helmet\"\n");
  write_text(text / "Davis17_annot1_full_video.txt",
             "bike-packing 1 \"man on a bicycle going up a trail\"\r\n"
             "bike-packing 10 \"the helmet\"\r\n"
             "bike-packing 2 \"the bike\"\r\n"
             "\r\n"
             "classic-car 1 \"a car driving\"\r\n");
  write_text(text / "Davis17_annot2.txt",
             "bike-packing 1 \"a caf\xE9 cyclist\"\n"  // Latin-1
             "bike-packing 2 \"bicycle\"\n"
             "bike-packing 10 \"helmet\"\n"
             "classic-car 1 \"old car\"\n");
  write_text(text / "Davis17_annot2_full_video.txt",
             "bike-packing 2 \"bike being ridden\"\n"
             "bike-packing 1 \"cyclist riding along the dirt path\"\n"
             "classic-car 1 \xABvintage car\xBB\n");  // Latin-1 guillemets as the quotes
  write_text(root / "DAVIS/ImageSets/2017/train.txt", "bike-packing\nclassic-car\n\n");
  write_text(root / "DAVIS/ImageSets/2017/val.txt", "classic-car\n");
  for (const char* video : {"bike-packing", "classic-car"}) {
    for (const char* f : {"00001", "00000"}) {
      write_frame(root / "DAVIS/JPEGImages/480p" / video / (std::string(f) + ".jpg"), kH, kW);
      std::vector<uint8_t> values(kH * kW, 0);
      for (size_t i = 0; i < values.size(); ++i) values[i] = static_cast<uint8_t>(i % 4 == 3 ? 255 : i % 3);
      write_annotation(root / "DAVIS/Annotations_unsupervised/480p" / video / (std::string(f) + ".png"), kH, kW,
                       values);
    }
  }
}

}  // namespace

TEST_CASE("datasets: Ref-DAVIS17 text files: parsing, encodings, corrections, sorting") {
  TempDir dir("davis_text");
  write_davis_release(dir.path);
  const fs::path text = dir.path / "davis_text_annotations";
  const auto annot1 = read_davis_text_annotations((text / "Davis17_annot1.txt").string(), TextEncoding::kUtf8);
  REQUIRE(annot1.size() == 2);
  CHECK(annot1[0].name == "bike-packing");
  CHECK(annot1[1].name == "classic-car");  // corrected
  REQUIRE(annot1[0].entries.size() == 3);
  CHECK(annot1[0].entries[0].obj_id == "1");
  CHECK(annot1[0].entries[1].obj_id == "10");
  CHECK(annot1[0].entries[2].obj_id == "2");
  CHECK(annot1[0].entries[0].text == "a man riding a bike");
  CHECK(annot1[1].entries[0].text == "a classic car");  // words re-joined by one space
  const auto annot2 = read_davis_text_annotations((text / "Davis17_annot2.txt").string(), TextEncoding::kLatin1);
  CHECK(annot2[0].entries[0].text == "a café cyclist");
  const auto annot2_full =
      read_davis_text_annotations((text / "Davis17_annot2_full_video.txt").string(), TextEncoding::kLatin1);
  CHECK(annot2_full[1].entries[0].text == "vintage car");  // the two-byte quotes dropped whole

  // annot2 read as UTF-8 is refused at the Latin-1 byte.
  CHECK_ERROR_CONTAINS(read_davis_text_annotations((text / "Davis17_annot2.txt").string(), TextEncoding::kUtf8),
                       (text / "Davis17_annot2.txt").string() + " line 1: not valid UTF-8");
  write_text(dir.path / "bad.txt", "bear 1 \"a bear\"\nlonely\n");
  CHECK_ERROR_CONTAINS(read_davis_text_annotations((dir.path / "bad.txt").string(), TextEncoding::kUtf8),
                       "bad.txt line 2: expected <video> <obj_id> \"<sentence>\", found 'lonely'");
  CHECK_ERROR_CONTAINS(read_davis_text_annotations((dir.path / "none.txt").string(), TextEncoding::kUtf8),
                       "none.txt: cannot open for reading");
}

TEST_CASE("datasets: Ref-DAVIS17 from the release: expression numbering, frames, masks with void") {
  TempDir dir("davis");
  write_davis_release(dir.path);
  const RvosDataset ds = RvosDataset::read_ref_davis17(dir.path.string(), "train");
  CHECK(ds.kind() == DatasetKind::RefDAVIS17);
  CHECK(ds.source() == (dir.path / "DAVIS/ImageSets/2017/train.txt").string());
  REQUIRE(names_of(ds.videos()) == std::vector<std::string>{"bike-packing", "classic-car"});
  const Video& bike = ds.videos()[0];
  CHECK(bike.frames == std::vector<std::string>{"00000", "00001"});  // sorted file names
  CHECK(bike.frame_paths[0] == (dir.path / "DAVIS/JPEGImages/480p/bike-packing/00000.jpg").string());
  REQUIRE(bike.expressions.size() == 8);  // zipped to the shortest list: 2 objects x 4
  CHECK(ids_of(bike) == std::vector<std::string>{"0", "1", "2", "3", "4", "5", "6", "7"});
  const std::vector<std::pair<std::string, std::string>> expected = {
      {"1", "a man riding a bike"}, {"1", "man on a bicycle going up a trail"}, {"1", "a café cyclist"},
      {"1", "cyclist riding along the dirt path"}, {"10", "a helmet"}, {"10", "the helmet"},
      {"10", "helmet"}, {"2", "bike being ridden"}};
  for (size_t i = 0; i < expected.size(); ++i) {
    CAPTURE(i);
    CHECK(bike.expressions[i].obj_ids == std::vector<std::string>{expected[i].first});
    CHECK(bike.expressions[i].text == expected[i].second);
  }
  const Video& car = ds.videos()[1];
  REQUIRE(car.expressions.size() == 4);
  CHECK(car.expressions[0].text == "a classic car");
  CHECK(car.expressions[3].text == "vintage car");

  CHECK(davis_expression_slot("0").object_index == 0);
  CHECK(davis_expression_slot("7").object_index == 1);
  CHECK(davis_expression_slot("7").slot == 3);
  CHECK(davis_expression_slot("6").slot == 2);
  CHECK_THROWS_AS(davis_expression_slot("x"), std::invalid_argument);

  REQUIRE(ds.has_masks());
  const IndexedImage annotation = ds.frame_annotation(1, 0);
  bool has_void = false;
  for (uint8_t v : annotation.values) has_void |= v == 255;
  CHECK(has_void);
  CHECK(mask_values(ds.expression_mask(1, 0, 0)) == equal_to(annotation.values, 1));  // void is not the object
  CHECK(mask_values(ds.expression_mask(0, 7, 1)) == equal_to(annotation.values, 2));
  // Object 10 has text but no pixels in the annotation: an empty mask, not an error.
  CHECK(mask_values(ds.expression_mask(0, 4, 0)) == std::vector<uint8_t>(kH * kW, 0));
}

TEST_CASE("datasets: Ref-DAVIS17 release errors and the valid split") {
  TempDir dir("davis_errors");
  write_davis_release(dir.path);
  const std::string root = dir.path.string();
  const RvosDataset valid = RvosDataset::read_ref_davis17(root, "valid");
  CHECK(names_of(valid.videos()) == std::vector<std::string>{"classic-car"});
  CHECK_ERROR_CONTAINS(RvosDataset::read_ref_davis17(root, "test"), "unknown split 'test'");

  write_text(dir.path / "DAVIS/ImageSets/2017/val.txt", "classic-car\nmissing-video\n");
  CHECK_ERROR_CONTAINS(RvosDataset::read_ref_davis17(root, "valid"),
                       (dir.path / "davis_text_annotations/Davis17_annot1.txt").string() +
                           ": no annotations for video 'missing-video' (listed in " +
                           (dir.path / "DAVIS/ImageSets/2017/val.txt").string() + ")");
  write_text(dir.path / "DAVIS/ImageSets/2017/val.txt", "classic-car\n");
  fs::remove_all(dir.path / "DAVIS/JPEGImages/480p/classic-car");
  CHECK_ERROR_CONTAINS(RvosDataset::read_ref_davis17(root, "valid"), "video 'classic-car' has no frame folder");
  write_text(dir.path / "davis_text_annotations/Davis17_annot1_full_video.txt", "bike-packing 1 \"caf\xE9\"\n");
  CHECK_ERROR_CONTAINS(RvosDataset::read_ref_davis17(root, "valid"),
                       "Davis17_annot1_full_video.txt line 1: not valid UTF-8");
}

TEST_CASE("datasets: Ref-DAVIS17 in the converted layout") {
  TempDir dir("davis_converted");
  ordered_json meta;
  auto& video = meta["videos"]["bike-packing"];
  for (int k = 0; k < 8; ++k)
    video["expressions"][std::to_string(k)] = {{"exp", "caption " + std::to_string(k)},
                                               {"obj_id", std::to_string(k / 4 + 1)}};
  video["frames"] = {"00000", "00001"};
  write_json(dir.path / "meta_expressions/valid/meta_expressions.json", meta);
  std::vector<uint8_t> values(kH * kW, 0);
  for (size_t i = 0; i < values.size(); ++i) values[i] = static_cast<uint8_t>(i % 5 == 4 ? 255 : i % 3);
  for (const char* f : {"00000", "00001"}) {
    write_frame(dir.path / "valid/JPEGImages/bike-packing" / (std::string(f) + ".jpg"), kH, kW);
    write_annotation(dir.path / "valid/Annotations/bike-packing" / (std::string(f) + ".png"), kH, kW, values);
  }
  const RvosDataset ds = RvosDataset::read_ref_davis17_converted(dir.path.string(), "valid");
  CHECK(ds.kind() == DatasetKind::RefDAVIS17);
  REQUIRE(ds.videos().size() == 1);
  CHECK(ds.videos()[0].expressions.size() == 8);
  CHECK(ds.videos()[0].expressions[5].obj_ids == std::vector<std::string>{"2"});
  CHECK(mask_values(ds.expression_mask(0, 5, 1)) == equal_to(values, 2));
  CHECK(mask_values(ds.expression_mask(0, 0, 0)) == equal_to(values, 1));
  CHECK(ds.frame_annotation(0, 0).values == values);
}
