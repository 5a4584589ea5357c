#pragma once
// The whole configuration of a SAM 2 / SAM 2.1 model as the official video predictor builds it
// (sam2/build_sam.py: build_sam2_video_predictor): the SAM2Base constructor arguments, the
// configs of its sub-modules, and the SAM2VideoPredictor post-processing settings.
//
// Three ways to get one:
// - a preset for each public checkpoint ("sam2_hiera_t" .. "sam2.1_hiera_l", see
//   sam2_preset_names()), equal to what the official YAML of that name gives;
// - an official-format YAML file (hydra `_target_`s, `# @package _global_`), read key by key,
//   refusing unknown keys and wrong value types with the key's dotted path in the message;
// - the micro configs of the golden sets (tests).
//
// Defaults of the fields are those of the official SAM 2.1 configs with the video predictor's
// post-processing (what build_sam2_video_predictor("configs/sam2.1/sam2.1_hiera_*.yaml") gives);
// a YAML file is applied on top of the official constructor defaults instead
// (sam2_constructor_defaults()), as hydra does.
#include <cstdint>
#include <string>
#include <vector>
#include "models/sam2/image_encoder.h"
#include "models/sam2/memory_attention.h"
#include "models/sam2/memory_encoder.h"
#include "models/sam2/sam_heads.h"

namespace rvos::sam2 {

struct Sam2Config {
  // Where it came from: the preset name or the YAML path (for messages and `rvos info`).
  std::string name = "sam2.1_hiera_b+";

  ImageEncoderConfig image_encoder = sam2_image_encoder_base_plus();
  MemoryAttentionConfig memory_attention = sam2_memory_attention();
  MemoryEncoderConfig memory_encoder = sam2_memory_encoder();
  // Prompt encoder, mask decoder and object-pointer settings; heads.hidden_dim is the neck's
  // d_model, heads.image_size the model input size (SAM2Base image_size).
  SamHeadsConfig heads{};

  // ---- SAM2Base constructor arguments not in `heads` ----
  int64_t num_maskmem = 7;  // 1 conditioning frame + 6 previous frames
  double sigmoid_scale_for_mem_enc = 20.0;
  double sigmoid_bias_for_mem_enc = -10.0;
  bool binarize_mask_from_pts_for_mem_enc = true;  // video predictor override
  bool use_mask_input_as_output_without_sam = true;
  int64_t max_cond_frames_in_attn = -1;  // -1: all conditioning frames
  bool directly_add_no_mem_embed = true;
  int64_t memory_temporal_stride_for_eval = 1;
  bool non_overlap_masks_for_mem_enc = false;
  int64_t max_obj_ptrs_in_encoder = 16;
  bool add_tpos_enc_to_obj_ptrs = true;
  bool proj_tpos_enc_in_obj_ptrs = true;
  bool use_signed_tpos_enc_to_obj_ptrs = true;
  bool only_obj_ptrs_in_the_past_for_eval = true;
  bool no_obj_embed_spatial = true;  // SAM 2.1: a learned embedding added to no-object memories
  bool compile_image_encoder = false;  // accepted for YAML compatibility; no effect here

  // ---- SAM2VideoPredictor settings ----
  int64_t fill_hole_area = 8;  // background components of at most this many low-res pixels become foreground
  bool non_overlap_masks = false;
  bool clear_non_cond_mem_around_input = false;
  bool add_all_frames_to_correct_as_cond = false;

  int64_t hidden_dim() const { return heads.hidden_dim; }
  int64_t mem_dim() const { return memory_encoder.out_dim; }
  int64_t image_size() const { return heads.image_size; }
  // Throws std::invalid_argument naming the field when the parts disagree (neck d_model vs
  // memory attention d_model vs heads.hidden_dim, memory dim vs cross-attention kv_in_dim, an
  // image size that is not a multiple of the backbone stride, proj_tpos_enc without
  // add_tpos_enc, fixed_no_obj_ptr without pred_obj_scores, ...).
  void validate() const;
};

// The SAM2Base / SAM2VideoPredictor constructor defaults (what a YAML file is applied to): e.g.
// num_maskmem 7, image_size 512, sigmoid scale 1 / bias 0, every optional feature off. The
// sub-modules, which SAM2Base requires (a file must give them), are those of the default
// Sam2Config; each sub-module section of a file starts from its own class's constructor defaults
// (e.g. FpnNeck's bilinear top-down interpolation, MaskDownSampler's kernel 4 / stride 4).
Sam2Config sam2_constructor_defaults();

// Presets for the eight public checkpoints. Names: "sam2_hiera_t", "sam2_hiera_s",
// "sam2_hiera_b+", "sam2_hiera_l", "sam2.1_hiera_t", ..., "sam2.1_hiera_l"; also accepted: the
// official config paths ("configs/sam2.1/sam2.1_hiera_t.yaml", "sam2.1_hiera_t.yaml") and the
// checkpoint stems ("sam2.1_hiera_tiny", "sam2_hiera_base_plus", "sam2.1_hiera_large.pt", ...).
// Throws std::invalid_argument listing the known names for anything else.
Sam2Config sam2_preset(const std::string& name);
std::vector<std::string> sam2_preset_names();
bool is_sam2_preset(const std::string& name);

// The preset matching a checkpoint file name (e.g. ".../sam2.1_hiera_small.pt" -> "sam2.1_hiera_s");
// empty when the name matches none.
std::string sam2_preset_for_checkpoint(const std::string& checkpoint_path);

// An official-format YAML config file (the `model:` tree of configs/sam2*/sam2*_hiera_*.yaml).
// `_target_`s are matched by their class path inside the package, so MPG-SAM 2's copies
// (`models.sam2.modeling...`) are read too; the model may be SAM2Base, SAM2VideoPredictor or
// SAM2VideoPredictorVOS (built as the video predictor either way). Top-level groups other than
// `model` (hydra's trainer, scratch, dataset, ...) are not read; `${...}` interpolations are
// refused. When apply_postprocessing (build_sam2_video_predictor's default), the video
// predictor's overrides are applied after the file: dynamic multimask via stability (delta 0.05,
// thresh 0.98), binarize_mask_from_pts_for_mem_enc, fill_hole_area 8. Then validate() runs.
// Unknown keys, missing required ones, `_target_`s other than the official classes, and values of
// the wrong type throw std::invalid_argument naming the file and the dotted key, e.g.
// "config.yaml: model.memory_attention.layer.foo: unknown key (line 40)"; a missing or unreadable
// file throws std::runtime_error.
Sam2Config load_sam2_yaml(const std::string& path, bool apply_postprocessing = true);
// The same from YAML text (`origin` names it in messages).
Sam2Config parse_sam2_yaml(const std::string& text, const std::string& origin = "<yaml>",
                           bool apply_postprocessing = true);

// `name_or_path`: a preset name, or a path to a YAML file.
Sam2Config sam2_config(const std::string& name_or_path);

// The configs of the golden micro sets (shared/golden/sam2_micro and sam2.1_micro), with the
// video predictor's post-processing, as their README describes them.
Sam2Config sam2_micro_config();
Sam2Config sam2_1_micro_config();

// Every field as one `dotted.key: value` line (named after the YAML keys where a field has one,
// heads.* for the SamHeadsConfig fields): for messages, `rvos info`, and comparing two configs
// (equal when these are, name aside).
std::string describe(const Sam2Config& config);

}  // namespace rvos::sam2
