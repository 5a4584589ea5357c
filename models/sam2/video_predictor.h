#pragma once
// SAM 2's video predictor (sam2/sam2_video_predictor.py: SAM2VideoPredictor, the December 2024
// version in which every object is tracked on its own): prompts (points, box, mask) on any frame
// for any number of objects, then propagation forward or backward through the video.
//
// Unlike the official predictor, which decodes every frame up front and keeps every frame's
// output, frames are decoded and encoded when they are needed (one frame's image features are
// cached, as officially), and a tracked frame's output is dropped once no later step can read
// it: farther than the memory window from the frame being tracked and from every conditioning
// frame. Memory therefore grows with the number of objects and prompts, not with the video.
// The results are those of the official predictor for every propagation that starts at a
// conditioning frame (the default); PredictorOptions::keep_all_outputs keeps everything (needed
// only for corrections on long-past frames and for propagations started elsewhere).
#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>
#include "io/video.h"
#include "models/sam2/sam2_base.h"

namespace rvos::sam2 {

struct PredictorOptions {
  // Keep every frame's output (as the official predictor does) instead of a bounded window.
  bool keep_all_outputs = false;
};

// Callbacks for those who want to see inside (tests, debugging); each may be empty.
struct PredictorObserver {
  // After each track_step: on a prompted frame (run_mem_encoder is false there) and on each
  // tracked frame, per object.
  std::function<void(int64_t frame_idx, int64_t obj_id, const TrackStepOutput&)> on_track_step;
  // When a prompted frame's memory is encoded at the start of a propagation: the float32
  // memory features before the bfloat16 storage cast.
  std::function<void(int64_t frame_idx, int64_t obj_id, const Tensor& maskmem_features)> on_memory_encoded;
};

// Masks of all objects on one frame: logits [num_objects, 1, H, W] at the video resolution, in
// the order of obj_ids.
struct FrameMasks {
  int64_t frame_idx = 0;
  std::vector<int64_t> obj_ids;
  Tensor video_res_masks;
};

class VideoPredictor {
 public:
  explicit VideoPredictor(std::shared_ptr<Sam2Base> model, PredictorOptions options = {});

  // A video of num_frames frames of video_height x video_width pixels; load_frame(i) returns
  // frame i as the normalised model input [3, S, S] float32 (see io::sam2_frame_input). Called
  // lazily; resets any previous state.
  void init_state(int64_t num_frames, int64_t video_height, int64_t video_width,
                  std::function<Tensor(int64_t)> load_frame);
  // The same for a frame folder or video file, frames prepared as the official loader does.
  void init_state(std::shared_ptr<io::VideoSource> video);

  // add_new_points_or_box: points (x, y) with labels (1 positive, 0 negative) and/or a box
  // (x0, y0, x1, y1, given first as two points labelled 2 and 3), in video pixels when
  // normalize_coords, else already divided by the video width and height (0..1). With clear_old_points false the points are
  // appended to the frame's earlier ones (a box then is refused). Returns all objects' masks on
  // the frame.
  FrameMasks add_new_points_or_box(int64_t frame_idx, int64_t obj_id,
                                   const std::vector<std::array<float, 2>>& points,
                                   const std::vector<int64_t>& labels, bool clear_old_points = true,
                                   bool normalize_coords = true,
                                   const std::optional<std::array<float, 4>>& box = std::nullopt);
  // add_new_mask: a binary mask [H, W] (bool, uint8 or float; any size, resized to S x S with
  // antialiased bilinear and thresholded at 0.5 when not S x S).
  FrameMasks add_new_mask(int64_t frame_idx, int64_t obj_id, const Tensor& mask);

  // propagate_in_video: tracks every object from start_frame_idx (default: the earliest
  // conditioning frame) over at most max_frame_num_to_track frames (default: all), forward or in
  // reverse, calling on_frame for each frame in processing order.
  void propagate_in_video(const std::function<void(const FrameMasks&)>& on_frame,
                          std::optional<int64_t> start_frame_idx = std::nullopt,
                          std::optional<int64_t> max_frame_num_to_track = std::nullopt, bool reverse = false);

  // clear_all_prompts_in_frame / remove_object / reset_state of the official predictor.
  FrameMasks clear_all_prompts_in_frame(int64_t frame_idx, int64_t obj_id);
  void remove_object(int64_t obj_id);
  void reset_state();

  const std::vector<int64_t>& obj_ids() const { return obj_ids_; }
  int64_t num_frames() const { return num_frames_; }
  int64_t video_height() const { return video_height_; }
  int64_t video_width() const { return video_width_; }
  // Frame outputs held across all objects (conditioning + tracked); bounded unless keep_all_outputs.
  int64_t stored_frame_outputs() const;
  // Frames whose outputs are kept behind the one being tracked (memory frames and pointers).
  int64_t memory_window() const;

  PredictorObserver observer;
  const std::shared_ptr<Sam2Base> model;
  const PredictorOptions options;

 private:
  struct ObjectState {
    std::map<int64_t, PointInputs> point_inputs;  // per frame, model-input pixels
    std::map<int64_t, Tensor> mask_inputs;        // per frame, [1, 1, S, S]
    MemoryBank output;                            // output_dict
    MemoryBank temp_output;                       // temp_output_dict (outputs of prompts not yet propagated)
    std::map<int64_t, bool> frames_tracked;       // frame -> tracked in reverse
  };

  int64_t obj_id_to_idx(int64_t obj_id);  // adds a new object
  int64_t find_obj_idx(int64_t obj_id) const;  // -1 when unknown
  const FrameFeatures& image_features(int64_t frame_idx);
  FrameOutput run_single_frame_inference(int64_t obj_idx, int64_t frame_idx, bool is_init_cond_frame,
                                         const PointInputs& point_inputs, const Tensor& mask_inputs, bool reverse,
                                         bool run_mem_encoder, const Tensor& prev_sam_mask_logits);
  FrameMasks prompted_frame_masks(int64_t frame_idx, bool is_cond);
  Tensor to_video_res(const Tensor& masks) const;
  void propagate_preflight();
  void evict_outputs(int64_t obj_idx, int64_t current_frame);
  void clear_non_cond_mem_around_input(int64_t obj_idx, int64_t frame_idx);

  int64_t num_frames_ = 0, video_height_ = 0, video_width_ = 0;
  std::function<Tensor(int64_t)> load_frame_;
  std::shared_ptr<io::VideoSource> video_;
  int64_t cached_frame_ = -1;
  FrameFeatures cached_features_;
  std::vector<int64_t> obj_ids_;
  std::vector<ObjectState> objects_;
};

// SAM 2's post-processing of low-res mask logits [N, 1, H, W] (sam2/utils/misc.py):
// fill_holes_in_mask_scores sets every background component (logit <= 0, 8-connected) of at most
// max_area pixels to 0.1; connected_components_8 labels the foreground (nonzero) pixels of a
// [N, 1, H, W] mask, returning (labels, component areas) as int64 tensors of the same shape
// (0 for background; labels number components from 1 in raster order of their first pixel).
Tensor fill_holes_in_mask_scores(const Tensor& mask, int64_t max_area);
std::pair<Tensor, Tensor> connected_components_8(const Tensor& mask);

}  // namespace rvos::sam2
