#pragma once
// The whole SAM 2 / SAM 2.1 model (sam2/modeling/sam2_base.py: SAM2Base): image encoder, memory
// attention, memory encoder, SAM heads and the learned memory embeddings, with one tracking step
// (track_step) that conditions a frame on an object's memory bank, decodes its mask and encodes
// the new memory.
//
// State-dict names are those of the public checkpoints' "model" dict: maskmem_tpos_enc,
// no_mem_embed, no_mem_pos_enc, no_obj_ptr, no_obj_embed_spatial (2.1), image_encoder.*,
// mask_downsample.*, memory_attention.*, memory_encoder.*, sam_prompt_encoder.*,
// sam_mask_decoder.*, obj_ptr_proj.*, obj_ptr_tpos_proj.* (2.1).
//
// Feature maps are NCHW throughout; the memory attention's tokens-first layout is made inside.
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>
#include "models/sam2/config.h"
#include "models/sam2/image_encoder.h"
#include "models/sam2/mask_decoder.h"
#include "models/sam2/memory_attention.h"
#include "models/sam2/memory_encoder.h"
#include "models/sam2/prompt_encoder.h"
#include "models/sam2/sam_heads.h"
#include "nn/conv.h"
#include "nn/linear.h"
#include "nn/module.h"

namespace rvos::sam2 {

// SAM2Base.forward_image + _prepare_backbone_features for one frame: the feature levels the
// heads use, shallowest first. With use_high_res_features_in_sam: [B, C/8, 4h, 4w] (after
// conv_s0), [B, C/4, 2h, 2w] (after conv_s1), [B, C, h, w]; else only the last.
struct FrameFeatures {
  std::vector<Tensor> backbone_fpn;
  std::vector<Tensor> vision_pos_enc;  // sine encodings of the same levels
  const Tensor& vision_features() const { return backbone_fpn.back(); }  // [B, C, h, w]
  const Tensor& vision_pos() const { return vision_pos_enc.back(); }
  // The levels before the last (the decoder's high-resolution inputs); empty without them.
  std::vector<Tensor> high_res_features() const;
  // The same features for `batch` objects (broadcast views of a batch-1 result).
  FrameFeatures expand(int64_t batch) const;
};

// One frame's entry in an object's memory bank: the compact output the video predictor keeps.
struct FrameOutput {
  Tensor maskmem_features;     // [B, mem_dim, h, w] bfloat16 as the predictor stores it; undefined until encoded
  Tensor pred_masks;           // [B, 1, 4h, 4w] float32 low-res mask logits (after hole filling)
  Tensor obj_ptr;              // [B, C]
  Tensor object_score_logits;  // [B, 1]
};

// An object's memory, keyed by frame index (output_dict of the official tracker).
struct MemoryBank {
  std::map<int64_t, FrameOutput> cond_frame_outputs;      // frames with prompts
  std::map<int64_t, FrameOutput> non_cond_frame_outputs;  // tracked frames
};

// Point prompt in model-input pixels: coords [B, N, 2] (x, y), labels [B, N] int64 (1 positive,
// 0 negative, 2 / 3 box corners).
struct PointInputs {
  Tensor point_coords;
  Tensor point_labels;
  bool defined() const { return point_coords.defined(); }
  int64_t num_points() const { return defined() ? point_labels.size(1) : 0; }
};

// What track_step computed, with the intermediate values that explain it.
struct TrackStepOutput {
  SamHeadsOutput sam;        // masks, IoUs, object pointer and score (see sam_heads.h)
  Tensor pix_feat_with_mem;  // [B, C, h, w] the memory-conditioned feature fed to the decoder
  int64_t num_memory_tokens = 0;   // tokens fed to the memory attention (0: none ran)
  int64_t num_obj_ptr_tokens = 0;  // of which object-pointer tokens
  Tensor maskmem_features;   // [B, mem_dim, h, w] float32 (before any storage cast); undefined unless encoded
  Tensor maskmem_pos_enc;    // [B, mem_dim, h, w]
};

class Sam2Base : public nn::Module {
 public:
  explicit Sam2Base(const Sam2Config& config);

  // A model built from `config` with the weights of a SAM 2 checkpoint (.pt or .safetensors;
  // the "model" dict of the official files), loaded strictly (a missing, unexpected or
  // mis-shaped key throws naming it), in eval mode, on `device`.
  static std::shared_ptr<Sam2Base> from_checkpoint(const std::string& path, const Sam2Config& config,
                                                   Device device = Device::cpu());

  // Where the parameters are; inputs are expected there.
  Device device() const { return maskmem_tpos_enc.device(); }

  // Image encoder + conv_s0 / conv_s1 on a normalised image [B, 3, S, S].
  FrameFeatures forward_image(const Tensor& image);

  // SAM2Base._prepare_memory_conditioned_features: the frame's top-level feature conditioned on
  // `bank` (or + no_mem_embed on an initial conditioning frame). num_frames bounds the object
  // pointers (min(num_frames, max_obj_ptrs_in_encoder)). The token counts fed to the memory
  // attention are written to the optional outputs.
  Tensor prepare_memory_conditioned_features(int64_t frame_idx, bool is_init_cond_frame,
                                             const FrameFeatures& features, const MemoryBank& bank,
                                             int64_t num_frames, bool track_in_reverse,
                                             int64_t* num_memory_tokens = nullptr,
                                             int64_t* num_obj_ptr_tokens = nullptr);

  // SAM2Base._encode_new_memory: memory features [B, mem_dim, h, w] (float32) and their position
  // encoding from high-resolution mask logits [B, 1, S, S].
  std::pair<Tensor, Tensor> encode_new_memory(const FrameFeatures& features, const Tensor& pred_masks_high_res,
                                              const Tensor& object_score_logits, bool is_mask_from_pts);

  // SAM2Base.track_step. point_inputs and mask_inputs ([B, 1, S, S] binary) may be undefined;
  // prev_sam_mask_logits [B, 1, 4h, 4w] are fed as the mask prompt together with new points.
  TrackStepOutput track_step(int64_t frame_idx, bool is_init_cond_frame, const FrameFeatures& features,
                             const PointInputs& point_inputs, const Tensor& mask_inputs, const MemoryBank& bank,
                             int64_t num_frames, bool track_in_reverse = false, bool run_mem_encoder = true,
                             const Tensor& prev_sam_mask_logits = Tensor());

  // SAM2Base._use_multimask.
  bool use_multimask(bool is_init_cond_frame, int64_t num_points) const;
  // SAM2Base._apply_non_overlapping_constraints on [N, 1, H, W] logits: at each pixel only the
  // highest-scoring object keeps its score, the others are clamped to at most -10.
  static Tensor apply_non_overlapping_constraints(const Tensor& pred_masks);

  // The pieces as the free functions of sam_heads.h take them.
  SamHeadsModules heads() const;

  const Sam2Config config;
  Tensor maskmem_tpos_enc;      // [num_maskmem, 1, 1, mem_dim]
  Tensor no_mem_embed;          // [1, 1, C]
  Tensor no_mem_pos_enc;        // [1, 1, C]
  Tensor no_obj_ptr;            // [1, C] (pred_obj_scores && use_obj_ptrs_in_encoder)
  Tensor no_obj_embed_spatial;  // [1, mem_dim] (no_obj_embed_spatial)
  std::shared_ptr<ImageEncoder> image_encoder;
  std::shared_ptr<nn::Conv2d> mask_downsample;  // 1 -> 1, 4x4 stride 4 (use_obj_ptrs_in_encoder)
  std::shared_ptr<MemoryAttention> memory_attention;
  std::shared_ptr<MemoryEncoder> memory_encoder;
  std::shared_ptr<PromptEncoder> sam_prompt_encoder;
  std::shared_ptr<MaskDecoder> sam_mask_decoder;
  nn::ModulePtr obj_ptr_proj;
  nn::ModulePtr obj_ptr_tpos_proj;  // Linear(C, mem_dim) with proj_tpos_enc_in_obj_ptrs, else Identity

 private:
  // Temporal encodings of the object pointers [P, mem_dim] for signed/unsigned frame distances.
  Tensor obj_ptr_temporal_encoding(const std::vector<int64_t>& distances, int64_t max_obj_ptrs);
};

// get_1d_sine_pe (sam2/modeling/sam2_utils.py): [N] positions -> [N, dim] (sin half, cos half),
// frequencies temperature^(2 floor(i/2) / (dim/2)), float32.
Tensor get_1d_sine_pe(const Tensor& positions, int64_t dim, double temperature = 10000.0);

// select_closest_cond_frames: up to max_cond_frame_num (-1: all) conditioning frames closest to
// frame_idx (the nearest before, the nearest at-or-after, then by distance). Returns the selected
// and the unselected frame indices, each ascending.
std::pair<std::vector<int64_t>, std::vector<int64_t>> select_closest_cond_frames(
    int64_t frame_idx, const std::vector<int64_t>& cond_frames, int64_t max_cond_frame_num);

}  // namespace rvos::sam2
