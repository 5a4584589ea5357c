// SAM 2 video tracking end to end against the official SAM2VideoPredictor run of both micro golden
// sets (tests/data/<set>/tracking.safetensors = stage "e. Video tracking" of shared/golden/<set>):
// two clicks on frame 0, then propagation over the 8 frames; every recorded per-frame value is
// compared. Also: hole filling on the reference input, the bounded memory of long videos, several
// objects, box and mask prompts, reverse propagation, and bad input.
#include <cmath>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "cuda/cuda.h"
#include "io/image.h"
#include "io/pil_resize.h"
#include "io/preprocess.h"
#include "io/safetensors.h"
#include "io/video.h"
#include "models/sam2/config.h"
#include "models/sam2/sam2_base.h"
#include "models/sam2/video_predictor.h"
#include "ops/copy.h"
#include "ops/elementwise.h"
#include "ops/factory.h"
#include "ops/reduce.h"
#include "ops/shape.h"
#include "testing.h"

using namespace rvos;
using namespace rvos::sam2;

namespace {

std::string data_file(const std::string& set, const std::string& file) {
  return rvos::testing::test_data_dir() + "/" + set + "/" + file;
}

const Tensor& find(const io::StateDict& sd, const std::string& name) {
  for (const auto& [k, t] : sd) {
    if (k == name) return t;
  }
  throw std::runtime_error("missing golden tensor " + name);
}

// Tolerance of the golden READMEs for "e. video tracking" (float32 implementation).
constexpr double kAtol = 5e-4;
constexpr double kRtol = 1e-4;

void check_golden(const std::string& name, const Tensor& device_actual, const Tensor& expected, double atol = kAtol) {
  INFO(name);
  const Tensor actual = rvos::to(device_actual, Device::cpu());
  REQUIRE(actual.shape() == expected.shape());
  MESSAGE(name << ": max abs error " << testing::max_abs_diff(actual, expected));
  CHECK_CLOSE(actual, expected, atol, kRtol);
}

Sam2Config config_of(const std::string& set) { return set == "sam2_micro" ? sam2_micro_config() : sam2_1_micro_config(); }

std::shared_ptr<Sam2Base> load_model(const std::string& set, Device device = Device::cpu()) {
  return Sam2Base::from_checkpoint(data_file(set, "checkpoint.pt"), config_of(set), device);
}

// What the observer saw of one frame.
struct FrameRecord {
  TrackStepOutput step;
  Tensor maskmem_features;  // float32, before the bf16 storage cast
};

std::shared_ptr<io::VideoSource> golden_frames() {
  return std::make_shared<io::VideoSource>(io::VideoSource::open(data_file("sam2_micro", "frames")));
}

void run_golden_tracking(const std::string& set, Device device = Device::cpu()) {
  const io::StateDict golden = io::read_safetensors(data_file(set, "tracking.safetensors")).tensors;
  auto model = load_model(set, device);
  CHECK(model->device() == device);
  VideoPredictor predictor(model);
  const int64_t num_frames = 8;

  // The frames as the model sees them: decoded and resized bit-exactly like the official loader.
  auto video = golden_frames();
  REQUIRE(video->num_frames() == num_frames);
  const Tensor resized_u8 = find(golden, "e.frames_resized_u8");
  for (int64_t t = 0; t < num_frames; ++t) {
    const io::Image resized = io::pil_resize(video->frame(t), 256, 256);
    const Tensor ours = from_vector<uint8_t>(resized.pixels, {256, 256, 3});
    CHECK(testing::max_abs_diff(ours, select(resized_u8, 0, t)) == 0.0);
  }
  predictor.init_state(video);
  CHECK(predictor.video_height() == 216);
  CHECK(predictor.video_width() == 288);

  std::map<int64_t, FrameRecord> records;
  predictor.observer.on_track_step = [&](int64_t frame, int64_t obj_id, const TrackStepOutput& step) {
    CHECK(obj_id == 1);
    records[frame].step = step;
    if (step.maskmem_features.defined()) records[frame].maskmem_features = step.maskmem_features;
  };
  predictor.observer.on_memory_encoded = [&](int64_t frame, int64_t obj_id, const Tensor& features) {
    CHECK(obj_id == 1);
    records[frame].maskmem_features = features;
  };

  const Tensor points = find(golden, "e.points");  // [1, 2, 2] video pixels
  const Tensor labels = find(golden, "e.labels");
  std::vector<std::array<float, 2>> clicks;
  std::vector<int64_t> click_labels;
  for (int64_t i = 0; i < points.size(1); ++i) {
    clicks.push_back({points.data<float>()[i * 2], points.data<float>()[i * 2 + 1]});
    click_labels.push_back(labels.data<int64_t>()[i]);
  }
  const FrameMasks prompted = predictor.add_new_points_or_box(0, 1, clicks, click_labels);
  CHECK(prompted.obj_ids == std::vector<int64_t>{1});
  REQUIRE(records.count(0) == 1);
  CHECK(records[0].step.sam.decoder.stability_scores.defined());
  CHECK(records[0].step.sam.low_res_masks.device() == device);
  if (records[0].step.sam.decoder.stability_scores.defined()) {
    check_golden("e.f0.stability_score", records[0].step.sam.decoder.stability_scores,
                 find(golden, "e.f0.stability_score"));
  }

  std::vector<Tensor> video_res(num_frames);
  std::vector<int64_t> order;
  predictor.propagate_in_video([&](const FrameMasks& m) {
    order.push_back(m.frame_idx);
    video_res[static_cast<size_t>(m.frame_idx)] = m.video_res_masks;
  });
  CHECK(order == std::vector<int64_t>{0, 1, 2, 3, 4, 5, 6, 7});
  REQUIRE(records.size() == static_cast<size_t>(num_frames));

  const auto per_frame = [&](auto&& get) {
    std::vector<Tensor> xs;
    for (int64_t t = 0; t < num_frames; ++t) xs.push_back(get(records[t]));
    return stack(xs, 0);
  };
  check_golden("e.pix_feat_with_mem", per_frame([](const FrameRecord& r) { return r.step.pix_feat_with_mem; }),
               find(golden, "e.pix_feat_with_mem"));
  check_golden("e.decoder_all_iou", per_frame([](const FrameRecord& r) { return r.step.sam.decoder.all.iou_pred; }),
               find(golden, "e.decoder_all_iou"));
  check_golden("e.selected_iou", per_frame([](const FrameRecord& r) {
                 return take_along_dim(r.step.sam.decoder.all.iou_pred, reshape(r.step.sam.selected_token, {1, 1}), 1);
               }),
               find(golden, "e.selected_iou"));
  const Tensor selected = rvos::to(per_frame([](const FrameRecord& r) { return r.step.sam.selected_token; }), Device::cpu());
  CHECK(testing::max_abs_diff(flatten(selected), find(golden, "e.selected_token")) == 0.0);
  const Tensor before_fill =
      rvos::to(per_frame([](const FrameRecord& r) { return r.step.sam.low_res_masks; }), Device::cpu());
  check_golden("e.low_res_masks_before_fill", before_fill, find(golden, "e.low_res_masks_before_fill"));
  check_golden("e.object_score_logits", per_frame([](const FrameRecord& r) { return r.step.sam.object_score_logits; }),
               find(golden, "e.object_score_logits"));
  check_golden("e.obj_ptr", per_frame([](const FrameRecord& r) { return r.step.sam.obj_ptr; }),
               find(golden, "e.obj_ptr"));
  check_golden("e.maskmem_features_f32", per_frame([](const FrameRecord& r) { return r.maskmem_features; }),
               find(golden, "e.maskmem_features_f32"));
  // The stored memory is the bf16 rounding: equal up to one bf16 step where a value sits on a tie.
  const Tensor stored = per_frame([](const FrameRecord& r) { return rvos::to(rvos::to(r.maskmem_features, DType::BF16), DType::F32); });
  check_golden("e.maskmem_features", stored, find(golden, "e.maskmem_features"), 2e-2);
  check_golden("e.maskmem_pos_enc", records[1].step.maskmem_pos_enc, find(golden, "e.maskmem_pos_enc"));

  std::vector<int64_t> memory_tokens, ptr_tokens;
  for (int64_t t = 0; t < num_frames; ++t) {
    memory_tokens.push_back(records[t].step.num_memory_tokens);
    ptr_tokens.push_back(records[t].step.num_obj_ptr_tokens);
  }
  const Tensor golden_memory_tokens = find(golden, "e.num_memory_tokens");
  const Tensor golden_ptr_tokens = find(golden, "e.num_obj_ptr_tokens");
  for (int64_t t = 0; t < num_frames; ++t) {
    CHECK(memory_tokens[static_cast<size_t>(t)] == golden_memory_tokens.data<int64_t>()[t]);
    CHECK(ptr_tokens[static_cast<size_t>(t)] == golden_ptr_tokens.data<int64_t>()[t]);
  }

  // Hole filling, exactly, on the reference input; then on ours.
  const Tensor golden_before = find(golden, "e.low_res_masks_before_fill");
  const Tensor golden_after = find(golden, "e.low_res_masks");
  for (int64_t t = 0; t < num_frames; ++t) {
    CHECK(testing::max_abs_diff(fill_holes_in_mask_scores(select(golden_before, 0, t), 8), select(golden_after, 0, t)) ==
          0.0);
  }
  std::vector<Tensor> filled;
  for (int64_t t = 0; t < num_frames; ++t) filled.push_back(fill_holes_in_mask_scores(select(before_fill, 0, t), 8));
  check_golden("e.low_res_masks", stack(filled, 0), golden_after);
  check_golden("e.video_res_masks", stack(video_res, 0), find(golden, "e.video_res_masks"));
}

}  // namespace

TEST_CASE("SAM 2 micro: 8-frame tracking matches the official video predictor") { run_golden_tracking("sam2_micro"); }

TEST_CASE("SAM 2.1 micro: 8-frame tracking matches the official video predictor") {
  run_golden_tracking("sam2.1_micro");
}

TEST_CASE("CUDA: 8-frame tracking of both sets matches the official video predictor") {
  if (!cuda::is_available()) {
    MESSAGE("skipped: no CUDA device (" << cuda::device_summary() << ")");
    return;
  }
  cuda::ensure_backend();
  run_golden_tracking("sam2_micro", Device::cuda());
  run_golden_tracking("sam2.1_micro", Device::cuda());
}

TEST_CASE("connected components use 8-connectivity and hole filling keeps large holes") {
  // 0 = background. Two diagonal background pixels form one component (8-connected).
  const std::vector<float> logits = {
      1, 1, 1, 1, 1,  //
      1, -1, 1, 1, 1,  //
      1, 1, -1, 1, 1,  //
      1, 1, 1, 1, -1,  //
  };
  const Tensor mask = from_vector<float>(logits, {1, 1, 4, 5});
  const auto [labels, areas] = connected_components_8(le(mask, 0.0));
  CHECK(labels.data<int64_t>()[6] == labels.data<int64_t>()[12]);
  CHECK(labels.data<int64_t>()[6] != labels.data<int64_t>()[19]);
  CHECK(areas.data<int64_t>()[6] == 2);
  CHECK(areas.data<int64_t>()[19] == 1);
  CHECK(labels.data<int64_t>()[0] == 0);
  const Tensor filled1 = fill_holes_in_mask_scores(mask, 1);
  CHECK(filled1.data<float>()[6] == -1.0f);   // area 2 > 1
  CHECK(filled1.data<float>()[19] == 0.1f);  // area 1
  const Tensor filled2 = fill_holes_in_mask_scores(mask, 2);
  CHECK(filled2.data<float>()[6] == 0.1f);
  CHECK(filled2.data<float>()[12] == 0.1f);
  CHECK_THROWS_AS(fill_holes_in_mask_scores(mask, 0), std::invalid_argument);
}

TEST_CASE("non-overlapping constraints keep the best object per pixel") {
  const Tensor a = from_vector<float>({3.0f, -2.0f, 0.5f, -20.0f}, {1, 1, 2, 2});
  const Tensor b = from_vector<float>({1.0f, 4.0f, 0.7f, -15.0f}, {1, 1, 2, 2});
  const Tensor out = Sam2Base::apply_non_overlapping_constraints(cat({a, b}, 0));
  const std::vector<float> expected = {3.0f, -10.0f, -10.0f, -20.0f, -10.0f, 4.0f, 0.7f, -15.0f};
  for (size_t i = 0; i < expected.size(); ++i) CHECK(out.data<float>()[i] == expected[i]);
}

TEST_CASE("closest conditioning frames and 1-D sine encodings") {
  auto [sel, unsel] = select_closest_cond_frames(10, {0, 4, 12, 30, 9}, 3);
  CHECK(sel == std::vector<int64_t>{4, 9, 12});
  CHECK(unsel == std::vector<int64_t>{0, 30});
  std::tie(sel, unsel) = select_closest_cond_frames(10, {0, 4, 12}, -1);
  CHECK(sel == std::vector<int64_t>{0, 4, 12});
  CHECK(unsel.empty());
  const Tensor pe = get_1d_sine_pe(from_vector<float>({0.5f}, {1}), 8);
  // dim_t = 10000^(2 floor(i/2) / 4) = 1, 1, 100, 100.
  CHECK(pe.data<float>()[0] == doctest::Approx(std::sin(0.5)));
  CHECK(pe.data<float>()[2] == doctest::Approx(std::sin(0.005)));
  CHECK(pe.data<float>()[4] == doctest::Approx(std::cos(0.5)));
}

TEST_CASE("memory stays bounded on a long video, with the same masks as keeping everything") {
  auto model = load_model("sam2.1_micro");
  auto video = golden_frames();
  // A 40-frame video cycling through the 8 golden frames.
  const int64_t num_frames = 40;
  const auto load = [&](int64_t t) { return io::sam2_frame_input(video->frame(t % 8), 256); };
  std::vector<Tensor> bounded_masks, full_masks;
  int64_t max_stored = 0;
  for (const bool keep_all : {false, true}) {
    VideoPredictor predictor(model, PredictorOptions{keep_all});
    predictor.init_state(num_frames, 216, 288, load);
    predictor.add_new_points_or_box(0, 1, {{170.0f, 80.0f}}, {1});
    predictor.add_new_points_or_box(0, 2, {}, {}, true, true, std::array<float, 4>{60.0f, 5.0f, 280.0f, 205.0f});
    predictor.propagate_in_video([&](const FrameMasks& m) {
      CHECK(m.obj_ids == std::vector<int64_t>{1, 2});
      CHECK(m.video_res_masks.shape() == Shape{2, 1, 216, 288});
      (keep_all ? full_masks : bounded_masks).push_back(m.video_res_masks);
      if (!keep_all) max_stored = std::max(max_stored, predictor.stored_frame_outputs());
    });
    if (keep_all) {
      CHECK(predictor.stored_frame_outputs() == 2 * num_frames);
    }
  }
  // Per object: the conditioning frame, the frames within the window of it and of the current frame.
  const int64_t window = 16;
  CHECK(max_stored <= 2 * (1 + 2 * window + 1));
  CHECK(max_stored < 2 * num_frames);
  REQUIRE(bounded_masks.size() == full_masks.size());
  for (size_t i = 0; i < full_masks.size(); ++i) CHECK(testing::max_abs_diff(bounded_masks[i], full_masks[i]) == 0.0);
}

TEST_CASE("prompts on a later frame: forward then reverse propagation covers the video") {
  auto model = load_model("sam2_micro");
  VideoPredictor predictor(model);
  predictor.init_state(golden_frames());
  predictor.add_new_points_or_box(3, 7, {{120.0f, 100.0f}, {20.0f, 20.0f}}, {1, 0});
  std::vector<int64_t> order;
  predictor.propagate_in_video([&](const FrameMasks& m) { order.push_back(m.frame_idx); });
  predictor.propagate_in_video([&](const FrameMasks& m) { order.push_back(m.frame_idx); }, std::nullopt, std::nullopt,
                               /*reverse=*/true);
  CHECK(order == std::vector<int64_t>{3, 4, 5, 6, 7, 3, 2, 1, 0});
}

TEST_CASE("a mask prompt is taken as the output on its frame") {
  auto model = load_model("sam2.1_micro");
  VideoPredictor predictor(model);
  predictor.init_state(golden_frames());
  // An ellipse at the video resolution.
  Tensor mask = zeros({216, 288}, DType::U8);
  for (int64_t y = 0; y < 216; ++y) {
    for (int64_t x = 0; x < 288; ++x) {
      const double dx = (x - 150.0) / 80.0, dy = (y - 100.0) / 50.0;
      mask.data<uint8_t>()[y * 288 + x] = dx * dx + dy * dy <= 1.0 ? 1 : 0;
    }
  }
  const FrameMasks m = predictor.add_new_mask(2, 1, mask);
  const Tensor inside = gt(select(select(m.video_res_masks, 0, 0), 0, 0), 0.0);
  // The output is the mask itself, up to the resizing at the ellipse border.
  const double mismatch = sum(rvos::to(ne(inside, ne(mask, 0)), DType::F64)).item_double();
  CHECK(mismatch < 0.02 * 216 * 288);
  int64_t frames = 0;
  predictor.propagate_in_video([&](const FrameMasks&) { ++frames; });
  CHECK(frames == 6);  // frames 2..7
}

TEST_CASE("bad predictor input gives clear errors") {
  auto model = load_model("sam2_micro");
  VideoPredictor predictor(model);
  CHECK_THROWS_WITH_AS(predictor.add_new_points_or_box(0, 1, {{1.0f, 1.0f}}, {1}), doctest::Contains("init_state"),
                       std::logic_error);
  predictor.init_state(golden_frames());
  CHECK_THROWS_WITH_AS(predictor.add_new_points_or_box(8, 1, {{1.0f, 1.0f}}, {1}), doctest::Contains("frame 8"),
                       std::out_of_range);
  CHECK_THROWS_AS(predictor.add_new_points_or_box(0, 1, {{1.0f, 1.0f}}, {1, 0}), std::invalid_argument);
  CHECK_THROWS_AS(predictor.add_new_points_or_box(0, 1, {}, {}), std::invalid_argument);
  CHECK_THROWS_AS(predictor.add_new_points_or_box(0, 1, {{1.0f, 1.0f}}, {5}), std::invalid_argument);
  CHECK_THROWS_AS(predictor.add_new_mask(0, 1, zeros({2, 3, 4})), std::invalid_argument);
  CHECK_THROWS_WITH_AS(predictor.propagate_in_video([](const FrameMasks&) {}), doctest::Contains("no object"),
                       std::invalid_argument);
  CHECK_THROWS_AS(model->forward_image(zeros({1, 3, 128, 128})), std::invalid_argument);
  CHECK_THROWS_AS(Sam2Base::from_checkpoint(data_file("sam2_micro", "checkpoint.pt"), sam2_1_micro_config()),
                  std::exception);
}
