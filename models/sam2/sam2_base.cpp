#include "models/sam2/sam2_base.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "nn/activation.h"
#include "nn/init.h"
#include "nn/serialize.h"
#include "ops/copy.h"
#include "ops/elementwise.h"
#include "ops/factory.h"
#include "ops/reduce.h"
#include "ops/shape.h"
#include "tensor/autograd.h"

namespace rvos::sam2 {

// ---------------------------------------------------------------------------------------------
// Features

std::vector<Tensor> FrameFeatures::high_res_features() const {
  return std::vector<Tensor>(backbone_fpn.begin(), backbone_fpn.end() - 1);
}

FrameFeatures FrameFeatures::expand(int64_t batch) const {
  FrameFeatures out;
  for (const Tensor& t : backbone_fpn) out.backbone_fpn.push_back(rvos::expand(t, {batch, -1, -1, -1}));
  for (const Tensor& t : vision_pos_enc) out.vision_pos_enc.push_back(rvos::expand(t, {batch, -1, -1, -1}));
  return out;
}

// ---------------------------------------------------------------------------------------------
// Helpers of the memory bank

Tensor get_1d_sine_pe(const Tensor& positions, int64_t dim, double temperature) {
  if (positions.dim() != 1) throw std::invalid_argument("get_1d_sine_pe: positions must be 1-D");
  const int64_t pe_dim = dim / 2;
  // Float32 steps as the official code takes them: dim_t = T^(2 floor(i/2) / pe_dim), then pos / dim_t.
  std::vector<float> dim_t(static_cast<size_t>(pe_dim));
  for (int64_t i = 0; i < pe_dim; ++i) {
    const float exponent = static_cast<float>(2 * (i / 2)) / static_cast<float>(pe_dim);
    dim_t[static_cast<size_t>(i)] = std::pow(static_cast<float>(temperature), exponent);
  }
  const Tensor pos = contiguous(rvos::to(positions, Device::cpu(), DType::F32));
  const int64_t n = pos.size(0);
  Tensor out = empty({n, 2 * pe_dim}, DType::F32);
  const float* p = pos.data<float>();
  float* o = out.data<float>();
  for (int64_t r = 0; r < n; ++r) {
    for (int64_t i = 0; i < pe_dim; ++i) {
      const float x = p[r] / dim_t[static_cast<size_t>(i)];
      o[r * 2 * pe_dim + i] = std::sin(x);
      o[r * 2 * pe_dim + pe_dim + i] = std::cos(x);
    }
  }
  return rvos::to(out, positions.device());
}

std::pair<std::vector<int64_t>, std::vector<int64_t>> select_closest_cond_frames(
    int64_t frame_idx, const std::vector<int64_t>& cond_frames, int64_t max_cond_frame_num) {
  std::vector<int64_t> frames = cond_frames;
  std::sort(frames.begin(), frames.end());
  if (max_cond_frame_num == -1 || static_cast<int64_t>(frames.size()) <= max_cond_frame_num) return {frames, {}};
  if (max_cond_frame_num < 2) {
    throw std::invalid_argument("max_cond_frames_in_attn must be -1 or at least 2, got " +
                                std::to_string(max_cond_frame_num));
  }
  std::vector<int64_t> selected;
  // The closest conditioning frame before, and the closest at or after.
  const auto after = std::lower_bound(frames.begin(), frames.end(), frame_idx);
  if (after != frames.begin()) selected.push_back(*(after - 1));
  if (after != frames.end()) selected.push_back(*after);
  // Then the temporally closest others (a stable sort keeps the earlier of equally distant frames first).
  std::vector<int64_t> rest;
  for (int64_t t : frames) {
    if (std::find(selected.begin(), selected.end(), t) == selected.end()) rest.push_back(t);
  }
  std::stable_sort(rest.begin(), rest.end(),
                   [&](int64_t a, int64_t b) { return std::llabs(a - frame_idx) < std::llabs(b - frame_idx); });
  const size_t remain = static_cast<size_t>(max_cond_frame_num) - selected.size();
  for (size_t i = 0; i < rest.size() && i < remain; ++i) selected.push_back(rest[i]);
  std::sort(selected.begin(), selected.end());
  std::vector<int64_t> unselected;
  for (int64_t t : frames) {
    if (!std::binary_search(selected.begin(), selected.end(), t)) unselected.push_back(t);
  }
  return {selected, unselected};
}

namespace {

// NCHW -> tokens-first [HW, B, C] (x.flatten(2).permute(2, 0, 1)).
Tensor to_tokens(const Tensor& x) { return permute(flatten(x, 2), {2, 0, 1}); }

// Tokens-first [HW, B, C] -> NCHW.
Tensor from_tokens(const Tensor& x, int64_t h, int64_t w) {
  return reshape(permute(x, {1, 2, 0}), {x.size(1), x.size(2), h, w});
}

const FrameOutput* find_output(const std::map<int64_t, FrameOutput>& outputs, int64_t frame) {
  const auto it = outputs.find(frame);
  return it == outputs.end() ? nullptr : &it->second;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Sam2Base

Sam2Base::Sam2Base(const Sam2Config& cfg) : nn::Module("SAM2Base"), config(cfg) {
  config.validate();
  const int64_t c = config.hidden_dim();
  const int64_t mem = config.mem_dim();
  {
    NoGradGuard no_grad;
    maskmem_tpos_enc = register_parameter("maskmem_tpos_enc", zeros({config.num_maskmem, 1, 1, mem}));
    nn::init::trunc_normal_(maskmem_tpos_enc, 0.0, 0.02);
    no_mem_embed = register_parameter("no_mem_embed", zeros({1, 1, c}));
    no_mem_pos_enc = register_parameter("no_mem_pos_enc", zeros({1, 1, c}));
    nn::init::trunc_normal_(no_mem_embed, 0.0, 0.02);
    nn::init::trunc_normal_(no_mem_pos_enc, 0.0, 0.02);
    if (config.heads.pred_obj_scores && config.heads.use_obj_ptrs_in_encoder) {
      no_obj_ptr = register_parameter("no_obj_ptr", zeros({1, c}));
      nn::init::trunc_normal_(no_obj_ptr, 0.0, 0.02);
    }
    if (config.no_obj_embed_spatial) {
      no_obj_embed_spatial = register_parameter("no_obj_embed_spatial", zeros({1, mem}));
      nn::init::trunc_normal_(no_obj_embed_spatial, 0.0, 0.02);
    }
  }
  image_encoder = register_module("image_encoder", std::make_shared<ImageEncoder>(config.image_encoder));
  if (config.heads.use_obj_ptrs_in_encoder) {
    // Brings a mask prompt to the low-res logit grid (stride 4) for the pointer of a mask input.
    mask_downsample = register_module("mask_downsample", std::make_shared<nn::Conv2d>(1, 1, 4, 4));
  }
  memory_attention = register_module("memory_attention", std::make_shared<MemoryAttention>(config.memory_attention));
  memory_encoder = register_module("memory_encoder", std::make_shared<MemoryEncoder>(config.memory_encoder));
  sam_prompt_encoder =
      register_module("sam_prompt_encoder", std::make_shared<PromptEncoder>(config.heads.prompt_encoder_config()));
  sam_mask_decoder =
      register_module("sam_mask_decoder", std::make_shared<MaskDecoder>(config.heads.mask_decoder_config()));
  obj_ptr_proj = register_module("obj_ptr_proj", make_obj_ptr_proj(config.heads));
  if (config.proj_tpos_enc_in_obj_ptrs) {
    obj_ptr_tpos_proj = register_module("obj_ptr_tpos_proj", std::make_shared<nn::Linear>(c, mem));
  } else {
    obj_ptr_tpos_proj = register_module("obj_ptr_tpos_proj", std::make_shared<nn::Identity>());
  }
}

std::shared_ptr<Sam2Base> Sam2Base::from_checkpoint(const std::string& path, const Sam2Config& config,
                                                    Device device) {
  auto model = std::make_shared<Sam2Base>(config);
  nn::LoadOptions options;
  options.strict = true;
  nn::load_checkpoint(*model, path, options);
  model->eval();
  if (device != Device::cpu()) model->to(device);
  return model;
}

SamHeadsModules Sam2Base::heads() const {
  return {sam_prompt_encoder.get(), sam_mask_decoder.get(), obj_ptr_proj.get(), no_obj_ptr};
}

bool Sam2Base::use_multimask(bool is_init_cond_frame, int64_t num_points) const {
  return config.heads.use_multimask(is_init_cond_frame, num_points);
}

FrameFeatures Sam2Base::forward_image(const Tensor& image) {
  if (image.dim() != 4 || image.size(1) != 3 || image.size(2) != config.image_size() ||
      image.size(3) != config.image_size()) {
    throw std::invalid_argument("SAM 2: the image must be [B, 3, " + std::to_string(config.image_size()) + ", " +
                                std::to_string(config.image_size()) + "], got " + shape_str(image.shape()));
  }
  ImageEncoderOutput backbone = image_encoder->forward_image(image);
  if (config.heads.use_high_res_features_in_sam) {
    // Projected once per frame rather than on every decoder call.
    backbone.backbone_fpn[0] = sam_mask_decoder->conv_s0->forward(backbone.backbone_fpn[0]);
    backbone.backbone_fpn[1] = sam_mask_decoder->conv_s1->forward(backbone.backbone_fpn[1]);
  }
  const size_t levels = config.heads.use_high_res_features_in_sam ? 3 : 1;
  if (backbone.backbone_fpn.size() < levels) {
    throw std::invalid_argument("SAM 2: the image encoder gives " + std::to_string(backbone.backbone_fpn.size()) +
                                " feature levels, the heads need " + std::to_string(levels));
  }
  FrameFeatures out;
  out.backbone_fpn.assign(backbone.backbone_fpn.end() - static_cast<std::ptrdiff_t>(levels),
                          backbone.backbone_fpn.end());
  out.vision_pos_enc.assign(backbone.vision_pos_enc.end() - static_cast<std::ptrdiff_t>(levels),
                            backbone.vision_pos_enc.end());
  return out;
}

Tensor Sam2Base::obj_ptr_temporal_encoding(const std::vector<int64_t>& distances, int64_t max_obj_ptrs) {
  const int64_t n = static_cast<int64_t>(distances.size());
  const int64_t t_diff_max = max_obj_ptrs - 1;
  const int64_t tpos_dim = config.proj_tpos_enc_in_obj_ptrs ? config.hidden_dim() : config.mem_dim();
  // Distances normalised by the largest pointer distance, a float32 division as officially.
  Tensor pos = empty({n}, DType::F32);
  for (int64_t i = 0; i < n; ++i) {
    pos.data<float>()[i] = static_cast<float>(distances[static_cast<size_t>(i)]) / static_cast<float>(t_diff_max);
  }
  return obj_ptr_tpos_proj->forward(get_1d_sine_pe(rvos::to(pos, device()), tpos_dim));  // [n, mem_dim]
}

Tensor Sam2Base::prepare_memory_conditioned_features(int64_t frame_idx, bool is_init_cond_frame,
                                                     const FrameFeatures& features, const MemoryBank& bank,
                                                     int64_t num_frames, bool track_in_reverse,
                                                     int64_t* num_memory_tokens, int64_t* num_obj_ptr_tokens) {
  const Tensor& vision = features.vision_features();  // [B, C, H, W]
  const int64_t b = vision.size(0), c = config.hidden_dim(), h = vision.size(2), w = vision.size(3);
  const int64_t mem = config.mem_dim();
  if (num_memory_tokens != nullptr) *num_memory_tokens = 0;
  if (num_obj_ptr_tokens != nullptr) *num_obj_ptr_tokens = 0;
  // Without memory (SAM on images) the feature is used as it is.
  if (config.num_maskmem == 0) return vision;

  std::vector<Tensor> memories, memory_pos;
  int64_t ptr_tokens = 0;
  if (is_init_cond_frame) {
    if (config.directly_add_no_mem_embed) {
      // No memory yet: the learned no-memory embedding is added instead of running the attention.
      return add(vision, reshape(no_mem_embed, {1, c, 1, 1}));
    }
    // A dummy memory token, so that the attention has something to attend to.
    memories.push_back(rvos::expand(no_mem_embed, {1, b, mem}));
    memory_pos.push_back(rvos::expand(no_mem_pos_enc, {1, b, mem}));
  } else {
    if (bank.cond_frame_outputs.empty()) {
      throw std::logic_error("SAM 2: tracking frame " + std::to_string(frame_idx) +
                             " needs at least one conditioning frame in the memory bank");
    }
    std::vector<int64_t> cond_frames;
    for (const auto& [t, out] : bank.cond_frame_outputs) cond_frames.push_back(t);
    const auto [selected, unselected] = select_closest_cond_frames(frame_idx, cond_frames, config.max_cond_frames_in_attn);
    const auto find_unselected = [&](int64_t t) -> const FrameOutput* {
      return std::binary_search(unselected.begin(), unselected.end(), t) ? &bank.cond_frame_outputs.at(t) : nullptr;
    };

    // Spatial memories: the selected conditioning frames (temporal position 0), then the
    // num_maskmem - 1 previous frames, the nearest one last (position num_maskmem - 1).
    std::vector<std::pair<int64_t, const FrameOutput*>> t_pos_and_prevs;
    for (int64_t t : selected) t_pos_and_prevs.emplace_back(0, &bank.cond_frame_outputs.at(t));
    const int64_t stride = is_training() ? 1 : config.memory_temporal_stride_for_eval;
    for (int64_t t_pos = 1; t_pos < config.num_maskmem; ++t_pos) {
      const int64_t t_rel = config.num_maskmem - t_pos;  // frames before the current one
      int64_t prev;
      if (t_rel == 1) {
        prev = track_in_reverse ? frame_idx + 1 : frame_idx - 1;
      } else if (!track_in_reverse) {
        // The nearest multiple of the stride at or before frame_idx - 2, then further back by strides
        // (floor division, as Python's // on possibly negative numbers).
        const int64_t base = frame_idx - 2;
        const int64_t floored = (base >= 0 ? base / stride : -((-base + stride - 1) / stride)) * stride;
        prev = floored - (t_rel - 2) * stride;
      } else {
        const int64_t base = frame_idx + 2;
        const int64_t ceiled = (base >= 0 ? (base + stride - 1) / stride : -((-base) / stride)) * stride;
        prev = ceiled + (t_rel - 2) * stride;
      }
      const FrameOutput* out = find_output(bank.non_cond_frame_outputs, prev);
      // An unselected conditioning frame among the recent ones still counts as a recent memory.
      if (out == nullptr) out = find_unselected(prev);
      t_pos_and_prevs.emplace_back(t_pos, out);
    }
    for (const auto& [t_pos, prev] : t_pos_and_prevs) {
      if (prev == nullptr || !prev->maskmem_features.defined()) continue;  // frames outside the video
      const Tensor feats = rvos::to(prev->maskmem_features, vision.device(), DType::F32);
      memories.push_back(to_tokens(feats));
      // Spatial encoding (the same for every frame) plus the temporal encoding of the slot.
      const Tensor pos = to_tokens(memory_encoder->position_encoding->forward(feats));
      memory_pos.push_back(add(pos, select(maskmem_tpos_enc, 0, config.num_maskmem - t_pos - 1)));
    }

    // Object pointers: the selected conditioning frames' (only those not in the future, by default),
    // then up to max_obj_ptrs - 1 previous frames', nearest first.
    if (config.heads.use_obj_ptrs_in_encoder) {
      const int64_t max_obj_ptrs = std::min(num_frames, config.max_obj_ptrs_in_encoder);
      const int64_t sign = track_in_reverse ? -1 : 1;
      std::vector<int64_t> distances;
      std::vector<Tensor> ptrs;
      for (int64_t t : selected) {
        if (!is_training() && config.only_obj_ptrs_in_the_past_for_eval &&
            (track_in_reverse ? t < frame_idx : t > frame_idx)) {
          continue;
        }
        distances.push_back(config.use_signed_tpos_enc_to_obj_ptrs ? (frame_idx - t) * sign
                                                                   : std::llabs(frame_idx - t));
        ptrs.push_back(bank.cond_frame_outputs.at(t).obj_ptr);
      }
      for (int64_t t_diff = 1; t_diff < max_obj_ptrs; ++t_diff) {
        const int64_t t = track_in_reverse ? frame_idx + t_diff : frame_idx - t_diff;
        if (t < 0 || t >= num_frames) break;
        const FrameOutput* out = find_output(bank.non_cond_frame_outputs, t);
        if (out == nullptr) out = find_unselected(t);
        if (out != nullptr) {
          distances.push_back(t_diff);
          ptrs.push_back(out->obj_ptr);
        }
      }
      if (!ptrs.empty()) {
        const int64_t p = static_cast<int64_t>(ptrs.size());
        Tensor obj_ptrs = rvos::to(stack(ptrs, 0), vision.device(), DType::F32);  // [P, B, C]
        Tensor obj_pos;
        if (config.add_tpos_enc_to_obj_ptrs) {
          obj_pos = rvos::expand(unsqueeze(obj_ptr_temporal_encoding(distances, max_obj_ptrs), 1), {p, b, mem});
        } else {
          obj_pos = zeros({p, b, mem}, DType::F32, vision.device());
        }
        if (mem < c) {
          // Each pointer becomes C / mem tokens of the memory's width.
          const int64_t split = c / mem;
          obj_ptrs = flatten(permute(reshape(obj_ptrs, {p, b, split, mem}), {0, 2, 1, 3}), 0, 1);
          obj_pos = reshape(rvos::expand(unsqueeze(obj_pos, 1), {p, split, b, mem}), {p * split, b, mem});
        }
        memories.push_back(obj_ptrs);
        memory_pos.push_back(obj_pos);
        ptr_tokens = obj_ptrs.size(0);
      }
    }
  }

  const Tensor memory = cat(memories, 0);
  const Tensor memory_pos_embed = cat(memory_pos, 0);
  if (num_memory_tokens != nullptr) *num_memory_tokens = memory.size(0);
  if (num_obj_ptr_tokens != nullptr) *num_obj_ptr_tokens = ptr_tokens;
  const Tensor out = memory_attention->forward(to_tokens(vision), memory, to_tokens(features.vision_pos()),
                                               memory_pos_embed, ptr_tokens);
  return from_tokens(out, h, w);
}

std::pair<Tensor, Tensor> Sam2Base::encode_new_memory(const FrameFeatures& features, const Tensor& pred_masks_high_res,
                                                      const Tensor& object_score_logits, bool is_mask_from_pts) {
  Tensor masks = pred_masks_high_res;
  if (config.non_overlap_masks_for_mem_enc && !is_training()) masks = apply_non_overlapping_constraints(masks);
  // Masks from clicks are binarised (evaluation only); tracked masks go through a scaled sigmoid.
  const bool binarize = config.binarize_mask_from_pts_for_mem_enc && is_mask_from_pts && !is_training();
  const Tensor mask_for_mem =
      mask_for_memory(masks, binarize, config.sigmoid_scale_for_mem_enc, config.sigmoid_bias_for_mem_enc);
  MemoryEncoderOutput out = memory_encoder->forward(features.vision_features(), mask_for_mem, /*skip_mask_sigmoid=*/true);
  Tensor maskmem_features = out.vision_features;
  if (no_obj_embed_spatial.defined()) {
    maskmem_features = add_no_obj_embed_spatial(maskmem_features, object_score_logits, no_obj_embed_spatial);
  }
  return {maskmem_features, out.vision_pos_enc.back()};
}

TrackStepOutput Sam2Base::track_step(int64_t frame_idx, bool is_init_cond_frame, const FrameFeatures& features,
                                     const PointInputs& point_inputs, const Tensor& mask_inputs, const MemoryBank& bank,
                                     int64_t num_frames, bool track_in_reverse, bool run_mem_encoder,
                                     const Tensor& prev_sam_mask_logits) {
  TrackStepOutput out;
  const std::vector<Tensor> high_res = features.high_res_features();
  if (mask_inputs.defined() && config.use_mask_input_as_output_without_sam) {
    // The mask input is taken as the output (as a ground-truth mask), without the memory.
    out.pix_feat_with_mem = features.vision_features();
    out.sam = use_mask_as_output(heads(), config.heads, *mask_downsample, out.pix_feat_with_mem, high_res, mask_inputs);
  } else {
    out.pix_feat_with_mem =
        prepare_memory_conditioned_features(frame_idx, is_init_cond_frame, features, bank, num_frames,
                                            track_in_reverse, &out.num_memory_tokens, &out.num_obj_ptr_tokens);
    Tensor mask_prompt = mask_inputs;
    if (prev_sam_mask_logits.defined()) {
      // Earlier logits of this frame refine the new clicks.
      if (!point_inputs.defined() || mask_inputs.defined()) {
        throw std::invalid_argument("SAM 2 track_step: previous mask logits go with points and without a mask input");
      }
      mask_prompt = prev_sam_mask_logits;
    }
    const bool multimask = use_multimask(is_init_cond_frame, point_inputs.num_points());
    out.sam = forward_sam_heads(heads(), config.heads, out.pix_feat_with_mem, point_inputs.point_coords,
                                point_inputs.point_labels, mask_prompt, high_res, multimask);
  }
  if (run_mem_encoder && config.num_maskmem > 0) {
    std::tie(out.maskmem_features, out.maskmem_pos_enc) =
        encode_new_memory(features, out.sam.high_res_masks, out.sam.object_score_logits, point_inputs.defined());
  }
  return out;
}

Tensor Sam2Base::apply_non_overlapping_constraints(const Tensor& pred_masks) {
  const int64_t n = pred_masks.size(0);
  if (n == 1) return pred_masks;
  // The object with the highest score keeps it; the others are pushed below -10 (sigmoid 4.5e-5).
  const Tensor best = argmax(pred_masks, 0, /*keepdim=*/true);  // [1, 1, H, W]
  const Tensor index = reshape(arange(n, DType::I64, pred_masks.device()), {n, 1, 1, 1});
  const Tensor keep = eq(best, index);
  return where(keep, pred_masks, clamp(pred_masks, std::nullopt, -10.0));
}

}  // namespace rvos::sam2
