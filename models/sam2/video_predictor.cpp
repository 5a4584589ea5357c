#include "models/sam2/video_predictor.h"

#include <algorithm>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <utility>

#include "io/preprocess.h"
#include "ops/copy.h"
#include "ops/elementwise.h"
#include "ops/factory.h"
#include "ops/resize.h"
#include "ops/shape.h"
#include "tensor/autograd.h"

namespace rvos::sam2 {

// ---------------------------------------------------------------------------------------------
// Post-processing

std::pair<Tensor, Tensor> connected_components_8(const Tensor& mask) {
  if (mask.dim() != 4 || mask.size(1) != 1) {
    throw std::invalid_argument("connected_components_8: the mask must be [N, 1, H, W], got " + shape_str(mask.shape()));
  }
  const Tensor m = contiguous(rvos::to(ne(rvos::to(mask, Device::cpu()), 0), DType::U8));
  const int64_t n = m.size(0), h = m.size(2), w = m.size(3);
  Tensor labels = zeros({n, 1, h, w}, DType::I64);
  Tensor areas = zeros({n, 1, h, w}, DType::I64);
  const uint8_t* in = m.data<uint8_t>();
  int64_t* lab = labels.data<int64_t>();
  int64_t* area = areas.data<int64_t>();
  std::vector<int64_t> stack, members;
  for (int64_t b = 0; b < n; ++b) {
    const uint8_t* fg = in + b * h * w;
    int64_t* l = lab + b * h * w;
    int64_t* a = area + b * h * w;
    int64_t next_label = 0;
    for (int64_t start = 0; start < h * w; ++start) {
      if (fg[start] == 0 || l[start] != 0) continue;
      // Flood fill over the 8 neighbours, then write the component's size to each of its pixels.
      const int64_t label = ++next_label;
      members.clear();
      stack.assign(1, start);
      l[start] = label;
      while (!stack.empty()) {
        const int64_t p = stack.back();
        stack.pop_back();
        members.push_back(p);
        const int64_t y = p / w, x = p % w;
        for (int64_t dy = -1; dy <= 1; ++dy) {
          for (int64_t dx = -1; dx <= 1; ++dx) {
            const int64_t yy = y + dy, xx = x + dx;
            if (yy < 0 || yy >= h || xx < 0 || xx >= w) continue;
            const int64_t q = yy * w + xx;
            if (fg[q] != 0 && l[q] == 0) {
              l[q] = label;
              stack.push_back(q);
            }
          }
        }
      }
      for (int64_t p : members) a[p] = static_cast<int64_t>(members.size());
    }
  }
  return {rvos::to(labels, mask.device()), rvos::to(areas, mask.device())};
}

Tensor fill_holes_in_mask_scores(const Tensor& mask, int64_t max_area) {
  if (max_area <= 0) throw std::invalid_argument("fill_holes_in_mask_scores: max_area must be positive");
  // Holes: background (score <= 0) components of at most max_area pixels, given a small positive score.
  const auto [labels, areas] = connected_components_8(le(mask, 0.0));
  const Tensor is_hole = logical_and(gt(labels, 0), le(areas, max_area));
  return where(is_hole, 0.1, mask);
}

// ---------------------------------------------------------------------------------------------
// VideoPredictor

namespace {

Tensor resize_bilinear(const Tensor& x, int64_t h, int64_t w, bool antialias = false) {
  return interpolate(x, InterpolateOptions::to_size(InterpMode::Bilinear, {h, w}, /*align_corners=*/false, antialias));
}

Tensor to_storage(const Tensor& maskmem_features) {
  // The official predictor keeps memories in bfloat16; they are read back through that rounding.
  return maskmem_features.defined() ? rvos::to(maskmem_features, DType::BF16) : Tensor();
}

}  // namespace

VideoPredictor::VideoPredictor(std::shared_ptr<Sam2Base> m, PredictorOptions o) : model(std::move(m)), options(o) {
  if (!model) throw std::invalid_argument("VideoPredictor: no model");
}

void VideoPredictor::init_state(int64_t num_frames, int64_t video_height, int64_t video_width,
                                std::function<Tensor(int64_t)> load_frame) {
  if (num_frames <= 0) throw std::invalid_argument("VideoPredictor: the video has no frames");
  if (video_height <= 0 || video_width <= 0) throw std::invalid_argument("VideoPredictor: empty video frames");
  reset_state();
  num_frames_ = num_frames;
  video_height_ = video_height;
  video_width_ = video_width;
  load_frame_ = std::move(load_frame);
  video_.reset();
  cached_frame_ = -1;
  cached_features_ = FrameFeatures();
}

void VideoPredictor::init_state(std::shared_ptr<io::VideoSource> video) {
  if (!video) throw std::invalid_argument("VideoPredictor: no video");
  const int64_t size = model->config.image_size();
  io::VideoSource* source = video.get();
  init_state(video->num_frames(), video->height(), video->width(), [source, size](int64_t index) {
    const io::Image frame = source->frame(index);
    if (frame.height != source->height() || frame.width != source->width()) {
      throw std::runtime_error(source->path() + ": frame " + std::to_string(index) + " is " +
                               std::to_string(frame.width) + "x" + std::to_string(frame.height) +
                               ", the first frame is " + std::to_string(source->width()) + "x" +
                               std::to_string(source->height()));
    }
    return io::sam2_frame_input(frame, size);
  });
  video_ = std::move(video);
}

int64_t VideoPredictor::find_obj_idx(int64_t obj_id) const {
  const auto it = std::find(obj_ids_.begin(), obj_ids_.end(), obj_id);
  return it == obj_ids_.end() ? -1 : static_cast<int64_t>(it - obj_ids_.begin());
}

int64_t VideoPredictor::obj_id_to_idx(int64_t obj_id) {
  const int64_t idx = find_obj_idx(obj_id);
  if (idx >= 0) return idx;
  // New objects may be added at any time, also after tracking started.
  obj_ids_.push_back(obj_id);
  objects_.emplace_back();
  return static_cast<int64_t>(objects_.size()) - 1;
}

const FrameFeatures& VideoPredictor::image_features(int64_t frame_idx) {
  if (cached_frame_ != frame_idx) {
    if (!load_frame_) throw std::logic_error("VideoPredictor: init_state was not called");
    // Only the latest frame is kept: every object of a frame is processed before the next frame.
    cached_frame_ = -1;
    cached_features_ = FrameFeatures();
    const Tensor image = rvos::to(load_frame_(frame_idx), model->device());
    cached_features_ = model->forward_image(unsqueeze(image, 0));
    cached_frame_ = frame_idx;
  }
  return cached_features_;
}

FrameOutput VideoPredictor::run_single_frame_inference(int64_t obj_idx, int64_t frame_idx, bool is_init_cond_frame,
                                                       const PointInputs& point_inputs, const Tensor& mask_inputs,
                                                       bool reverse, bool run_mem_encoder,
                                                       const Tensor& prev_sam_mask_logits) {
  const FrameFeatures& features = image_features(frame_idx);
  ObjectState& obj = objects_[static_cast<size_t>(obj_idx)];
  const TrackStepOutput step =
      model->track_step(frame_idx, is_init_cond_frame, features, point_inputs, mask_inputs, obj.output, num_frames_,
                        reverse, run_mem_encoder, prev_sam_mask_logits);
  if (observer.on_track_step) observer.on_track_step(frame_idx, obj_ids_[static_cast<size_t>(obj_idx)], step);
  FrameOutput out;
  out.maskmem_features = to_storage(step.maskmem_features);
  out.pred_masks = step.sam.low_res_masks;
  if (model->config.fill_hole_area > 0) {
    out.pred_masks = fill_holes_in_mask_scores(out.pred_masks, model->config.fill_hole_area);
  }
  out.obj_ptr = step.sam.obj_ptr;
  out.object_score_logits = step.sam.object_score_logits;
  return out;
}

Tensor VideoPredictor::to_video_res(const Tensor& masks) const {
  Tensor out = masks;
  if (masks.size(2) != video_height_ || masks.size(3) != video_width_) {
    out = resize_bilinear(masks, video_height_, video_width_);
  }
  if (model->config.non_overlap_masks) out = Sam2Base::apply_non_overlapping_constraints(out);
  return out;
}

FrameMasks VideoPredictor::prompted_frame_masks(int64_t frame_idx, bool is_cond) {
  // _consolidate_temp_output_across_obj at the video resolution: each object's newest output on
  // the frame, or the no-object score for objects without one.
  std::vector<Tensor> per_object;
  for (const ObjectState& obj : objects_) {
    const auto& temp = is_cond ? obj.temp_output.cond_frame_outputs : obj.temp_output.non_cond_frame_outputs;
    const FrameOutput* out = nullptr;
    for (const auto* outputs : {&temp, &obj.output.cond_frame_outputs, &obj.output.non_cond_frame_outputs}) {
      const auto it = outputs->find(frame_idx);
      if (it != outputs->end()) {
        out = &it->second;
        break;
      }
    }
    if (out == nullptr || !out->pred_masks.defined()) {
      per_object.push_back(full({1, 1, video_height_, video_width_}, kNoObjScore, DType::F32, model->device()));
    } else {
      per_object.push_back(resize_bilinear(out->pred_masks, video_height_, video_width_));
    }
  }
  FrameMasks masks;
  masks.frame_idx = frame_idx;
  masks.obj_ids = obj_ids_;
  masks.video_res_masks = to_video_res(cat(per_object, 0));
  return masks;
}

namespace {

void check_frame(int64_t frame_idx, int64_t num_frames) {
  if (num_frames == 0) throw std::logic_error("VideoPredictor: init_state was not called");
  if (frame_idx < 0 || frame_idx >= num_frames) {
    throw std::out_of_range("frame " + std::to_string(frame_idx) + " is outside the video (frames 0.." +
                            std::to_string(num_frames - 1) + ")");
  }
}

}  // namespace

FrameMasks VideoPredictor::add_new_points_or_box(int64_t frame_idx, int64_t obj_id,
                                                 const std::vector<std::array<float, 2>>& points,
                                                 const std::vector<int64_t>& labels, bool clear_old_points,
                                                 bool normalize_coords, const std::optional<std::array<float, 4>>& box) {
  NoGradGuard no_grad;
  check_frame(frame_idx, num_frames_);
  if (points.size() != labels.size()) {
    throw std::invalid_argument("add_new_points_or_box: " + std::to_string(points.size()) + " points but " +
                                std::to_string(labels.size()) + " labels");
  }
  if (points.empty() && !box) throw std::invalid_argument("add_new_points_or_box: give points or a box");
  if (box && !clear_old_points) {
    // A box must come before any point, as in training.
    throw std::invalid_argument("add_new_points_or_box: a box cannot be added to earlier points; clear them");
  }
  for (int64_t label : labels) {
    if (label < 0 || label > 3) {
      throw std::invalid_argument("add_new_points_or_box: point labels are 0 (negative) or 1 (positive), got " +
                                  std::to_string(label));
    }
  }
  // The box first, as two corner points labelled 2 and 3.
  std::vector<std::array<float, 2>> xy;
  std::vector<int64_t> point_labels;
  if (box) {
    xy.push_back({(*box)[0], (*box)[1]});
    xy.push_back({(*box)[2], (*box)[3]});
    point_labels = {2, 3};
  }
  xy.insert(xy.end(), points.begin(), points.end());
  point_labels.insert(point_labels.end(), labels.begin(), labels.end());
  const int64_t n = static_cast<int64_t>(xy.size());
  Tensor coords = empty({1, n, 2}, DType::F32);
  Tensor lab = empty({1, n}, DType::I64);
  const float size = static_cast<float>(model->config.image_size());
  for (int64_t i = 0; i < n; ++i) {
    for (int k = 0; k < 2; ++k) {
      float v = xy[static_cast<size_t>(i)][static_cast<size_t>(k)];
      // Float32 steps of the official code: / (W, H), then * S.
      if (normalize_coords) v = v / static_cast<float>(k == 0 ? video_width_ : video_height_);
      coords.data<float>()[i * 2 + k] = v * size;
    }
    lab.data<int64_t>()[i] = point_labels[static_cast<size_t>(i)];
  }

  coords = rvos::to(coords, model->device());
  lab = rvos::to(lab, model->device());
  const int64_t obj_idx = obj_id_to_idx(obj_id);
  ObjectState& obj = objects_[static_cast<size_t>(obj_idx)];
  PointInputs inputs{coords, lab};
  if (!clear_old_points) {
    const auto old = obj.point_inputs.find(frame_idx);
    if (old != obj.point_inputs.end()) {
      inputs.point_coords = cat({old->second.point_coords, coords}, 1);
      inputs.point_labels = cat({old->second.point_labels, lab}, 1);
    }
  }
  obj.point_inputs[frame_idx] = inputs;
  obj.mask_inputs.erase(frame_idx);

  // A frame not tracked yet is an initial conditioning frame (segmented without memory, as SAM
  // does); on a tracked frame the points correct the tracked mask.
  const auto tracked = obj.frames_tracked.find(frame_idx);
  const bool is_init_cond_frame = tracked == obj.frames_tracked.end();
  const bool reverse = is_init_cond_frame ? false : tracked->second;
  const bool is_cond = is_init_cond_frame || model->config.add_all_frames_to_correct_as_cond;
  auto& temp = is_cond ? obj.temp_output.cond_frame_outputs : obj.temp_output.non_cond_frame_outputs;

  // The newest logits of this object on this frame go with the new clicks into the decoder.
  Tensor prev_sam_mask_logits;
  const FrameOutput* prev = nullptr;
  for (const auto* outputs : {&temp, &obj.output.cond_frame_outputs, &obj.output.non_cond_frame_outputs}) {
    const auto it = outputs->find(frame_idx);
    if (it != outputs->end()) {
      prev = &it->second;
      break;
    }
  }
  if (prev != nullptr && prev->pred_masks.defined()) prev_sam_mask_logits = clamp(prev->pred_masks, -32.0, 32.0);

  // The memory is encoded when propagation starts, after every object's prompts are in.
  temp[frame_idx] = run_single_frame_inference(obj_idx, frame_idx, is_init_cond_frame, inputs, Tensor(), reverse,
                                               /*run_mem_encoder=*/false, prev_sam_mask_logits);
  return prompted_frame_masks(frame_idx, is_cond);
}

FrameMasks VideoPredictor::add_new_mask(int64_t frame_idx, int64_t obj_id, const Tensor& mask) {
  NoGradGuard no_grad;
  check_frame(frame_idx, num_frames_);
  if (mask.dim() != 2) {
    throw std::invalid_argument("add_new_mask: the mask must be 2-D [H, W], got " + shape_str(mask.shape()));
  }
  const int64_t size = model->config.image_size();
  Tensor mask_inputs = unsqueeze(unsqueeze(rvos::to(mask, Device::cpu(), DType::F32), 0), 0);
  if (mask.size(0) != size || mask.size(1) != size) {
    mask_inputs = rvos::to(ge(resize_bilinear(mask_inputs, size, size, /*antialias=*/true), 0.5), DType::F32);
  }
  mask_inputs = rvos::to(mask_inputs, model->device());
  const int64_t obj_idx = obj_id_to_idx(obj_id);
  ObjectState& obj = objects_[static_cast<size_t>(obj_idx)];
  obj.mask_inputs[frame_idx] = mask_inputs;
  obj.point_inputs.erase(frame_idx);
  const auto tracked = obj.frames_tracked.find(frame_idx);
  const bool is_init_cond_frame = tracked == obj.frames_tracked.end();
  const bool reverse = is_init_cond_frame ? false : tracked->second;
  const bool is_cond = is_init_cond_frame || model->config.add_all_frames_to_correct_as_cond;
  auto& temp = is_cond ? obj.temp_output.cond_frame_outputs : obj.temp_output.non_cond_frame_outputs;
  temp[frame_idx] = run_single_frame_inference(obj_idx, frame_idx, is_init_cond_frame, PointInputs(), mask_inputs,
                                               reverse, /*run_mem_encoder=*/false, Tensor());
  return prompted_frame_masks(frame_idx, is_cond);
}

void VideoPredictor::propagate_preflight() {
  if (objects_.empty()) throw std::invalid_argument("propagate: no object has points, a box or a mask yet");
  const int64_t size = model->config.image_size();
  for (size_t i = 0; i < objects_.size(); ++i) {
    ObjectState& obj = objects_[i];
    for (const bool is_cond : {false, true}) {
      auto& temp = is_cond ? obj.temp_output.cond_frame_outputs : obj.temp_output.non_cond_frame_outputs;
      auto& dest = is_cond ? obj.output.cond_frame_outputs : obj.output.non_cond_frame_outputs;
      for (auto& [frame_idx, out] : temp) {
        if (!out.maskmem_features.defined()) {
          // The prompted frame's memory, from its (hole-filled) low-res logits brought back to S x S.
          const Tensor high_res = resize_bilinear(out.pred_masks, size, size);
          const FrameFeatures& features = image_features(frame_idx);
          const Tensor maskmem = model->encode_new_memory(features, high_res, out.object_score_logits,
                                                          /*is_mask_from_pts=*/true).first;
          if (observer.on_memory_encoded) observer.on_memory_encoded(frame_idx, obj_ids_[i], maskmem);
          out.maskmem_features = to_storage(maskmem);
        }
        dest[frame_idx] = out;
        if (model->config.clear_non_cond_mem_around_input) clear_non_cond_mem_around_input(static_cast<int64_t>(i), frame_idx);
      }
      temp.clear();
    }
    if (obj.output.cond_frame_outputs.empty()) {
      throw std::invalid_argument("propagate: object " + std::to_string(obj_ids_[i]) +
                                  " has no points, box or mask on any frame");
    }
    // A frame that became a conditioning frame is no longer a tracked one.
    for (const auto& [frame_idx, out] : obj.output.cond_frame_outputs) obj.output.non_cond_frame_outputs.erase(frame_idx);
  }
}

void VideoPredictor::propagate_in_video(const std::function<void(const FrameMasks&)>& on_frame,
                                        std::optional<int64_t> start_frame_idx,
                                        std::optional<int64_t> max_frame_num_to_track, bool reverse) {
  NoGradGuard no_grad;
  if (num_frames_ == 0) throw std::logic_error("VideoPredictor: init_state was not called");
  propagate_preflight();
  int64_t start = 0;
  if (start_frame_idx) {
    check_frame(*start_frame_idx, num_frames_);
    start = *start_frame_idx;
  } else {
    // The earliest prompted frame of any object.
    start = num_frames_;
    for (const ObjectState& obj : objects_) start = std::min(start, obj.output.cond_frame_outputs.begin()->first);
  }
  const int64_t max_frames = max_frame_num_to_track.value_or(num_frames_);
  if (max_frames < 0) throw std::invalid_argument("propagate: max_frame_num_to_track must not be negative");
  std::vector<int64_t> order;
  if (reverse) {
    const int64_t end = std::max<int64_t>(start - max_frames, 0);
    if (start > 0) {
      for (int64_t t = start; t >= end; --t) order.push_back(t);
    }
  } else {
    const int64_t end = std::min(start + max_frames, num_frames_ - 1);
    for (int64_t t = start; t <= end; ++t) order.push_back(t);
  }

  for (int64_t frame_idx : order) {
    std::vector<Tensor> per_object;
    for (size_t i = 0; i < objects_.size(); ++i) {
      ObjectState& obj = objects_[i];
      const auto cond = obj.output.cond_frame_outputs.find(frame_idx);
      if (cond != obj.output.cond_frame_outputs.end()) {
        // Prompted frames keep their output.
        per_object.push_back(cond->second.pred_masks);
        if (model->config.clear_non_cond_mem_around_input) clear_non_cond_mem_around_input(static_cast<int64_t>(i), frame_idx);
      } else {
        FrameOutput out = run_single_frame_inference(static_cast<int64_t>(i), frame_idx, /*is_init_cond_frame=*/false,
                                                     PointInputs(), Tensor(), reverse, /*run_mem_encoder=*/true, Tensor());
        per_object.push_back(out.pred_masks);
        obj.output.non_cond_frame_outputs[frame_idx] = std::move(out);
      }
      obj.frames_tracked[frame_idx] = reverse;
      if (!options.keep_all_outputs) evict_outputs(static_cast<int64_t>(i), frame_idx);
    }
    FrameMasks masks;
    masks.frame_idx = frame_idx;
    masks.obj_ids = obj_ids_;
    masks.video_res_masks = to_video_res(cat(per_object, 0));
    if (on_frame) on_frame(masks);
  }
}

int64_t VideoPredictor::memory_window() const {
  const Sam2Config& c = model->config;
  // The farthest frame a step reads: a spatial memory (num_maskmem - 1 slots, strided) or an
  // object pointer (max_obj_ptrs_in_encoder - 1 frames back).
  return std::max({c.num_maskmem * std::max<int64_t>(c.memory_temporal_stride_for_eval, 1), c.max_obj_ptrs_in_encoder,
                   int64_t{1}});
}

void VideoPredictor::evict_outputs(int64_t obj_idx, int64_t current_frame) {
  ObjectState& obj = objects_[static_cast<size_t>(obj_idx)];
  const int64_t window = memory_window();
  auto& tracked = obj.output.non_cond_frame_outputs;
  for (auto it = tracked.begin(); it != tracked.end();) {
    const int64_t t = it->first;
    // Kept while a step near the current frame, or a propagation started at a prompted frame, may read it.
    bool keep = std::llabs(t - current_frame) <= window;
    for (auto c = obj.output.cond_frame_outputs.begin(); !keep && c != obj.output.cond_frame_outputs.end(); ++c) {
      keep = std::llabs(t - c->first) <= window;
    }
    it = keep ? std::next(it) : tracked.erase(it);
  }
}

void VideoPredictor::clear_non_cond_mem_around_input(int64_t obj_idx, int64_t frame_idx) {
  // Memories around a corrected frame may hold the outdated appearance; they are dropped.
  const Sam2Config& c = model->config;
  const int64_t r = c.memory_temporal_stride_for_eval;
  auto& tracked = objects_[static_cast<size_t>(obj_idx)].output.non_cond_frame_outputs;
  for (int64_t t = frame_idx - r * c.num_maskmem; t <= frame_idx + r * c.num_maskmem; ++t) tracked.erase(t);
}

FrameMasks VideoPredictor::clear_all_prompts_in_frame(int64_t frame_idx, int64_t obj_id) {
  NoGradGuard no_grad;
  check_frame(frame_idx, num_frames_);
  const int64_t obj_idx = find_obj_idx(obj_id);
  if (obj_idx < 0) throw std::invalid_argument("clear_all_prompts_in_frame: unknown object id " + std::to_string(obj_id));
  ObjectState& obj = objects_[static_cast<size_t>(obj_idx)];
  obj.point_inputs.erase(frame_idx);
  obj.mask_inputs.erase(frame_idx);
  obj.temp_output.cond_frame_outputs.erase(frame_idx);
  obj.temp_output.non_cond_frame_outputs.erase(frame_idx);
  // Without prompts the frame is an ordinary tracked frame again.
  const auto cond = obj.output.cond_frame_outputs.find(frame_idx);
  if (cond != obj.output.cond_frame_outputs.end()) {
    obj.output.non_cond_frame_outputs[frame_idx] = std::move(cond->second);
    obj.output.cond_frame_outputs.erase(cond);
    obj.frames_tracked.erase(frame_idx);
  }
  bool is_cond = false;
  for (const ObjectState& o : objects_) is_cond = is_cond || o.temp_output.cond_frame_outputs.count(frame_idx) > 0;
  return prompted_frame_masks(frame_idx, is_cond);
}

void VideoPredictor::remove_object(int64_t obj_id) {
  const int64_t obj_idx = find_obj_idx(obj_id);
  if (obj_idx < 0) throw std::invalid_argument("remove_object: unknown object id " + std::to_string(obj_id));
  obj_ids_.erase(obj_ids_.begin() + obj_idx);
  objects_.erase(objects_.begin() + obj_idx);
}

void VideoPredictor::reset_state() {
  obj_ids_.clear();
  objects_.clear();
}

int64_t VideoPredictor::stored_frame_outputs() const {
  int64_t n = 0;
  for (const ObjectState& obj : objects_) {
    n += static_cast<int64_t>(obj.output.cond_frame_outputs.size() + obj.output.non_cond_frame_outputs.size() +
                              obj.temp_output.cond_frame_outputs.size() + obj.temp_output.non_cond_frame_outputs.size());
  }
  return n;
}

}  // namespace rvos::sam2
