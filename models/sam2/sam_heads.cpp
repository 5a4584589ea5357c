#include "models/sam2/sam_heads.h"

#include <stdexcept>
#include <string>

#include "nn/activation.h"
#include "nn/init.h"
#include "nn/linear.h"
#include "nn/mlp.h"
#include "ops/copy.h"
#include "ops/elementwise.h"
#include "ops/factory.h"
#include "ops/reduce.h"
#include "ops/resize.h"
#include "ops/shape.h"
#include "tensor/autograd.h"

namespace rvos::sam2 {

// ---------------------------------------------------------------------------------------------
// Configuration

PromptEncoderConfig SamHeadsConfig::prompt_encoder_config() const {
  PromptEncoderConfig c;
  c.embed_dim = hidden_dim;
  c.image_embedding_h = c.image_embedding_w = image_embedding_size();
  c.input_image_h = c.input_image_w = image_size;
  c.mask_in_chans = mask_in_chans;
  return c;
}

MaskDecoderConfig SamHeadsConfig::mask_decoder_config() const {
  MaskDecoderConfig c;
  c.transformer_dim = hidden_dim;
  c.transformer.depth = transformer_depth;
  c.transformer.embedding_dim = hidden_dim;
  c.transformer.num_heads = transformer_num_heads;
  c.transformer.mlp_dim = transformer_mlp_dim;
  c.transformer.attention_downsample_rate = attention_downsample_rate;
  c.num_multimask_outputs = num_multimask_outputs;
  c.iou_head_depth = iou_head_depth;
  c.iou_head_hidden_dim = iou_head_hidden_dim;
  c.use_high_res_features = use_high_res_features_in_sam;
  c.iou_prediction_use_sigmoid = iou_prediction_use_sigmoid;
  c.dynamic_multimask_via_stability = dynamic_multimask_via_stability;
  c.dynamic_multimask_stability_delta = dynamic_multimask_stability_delta;
  c.dynamic_multimask_stability_thresh = dynamic_multimask_stability_thresh;
  c.pred_obj_scores = pred_obj_scores;
  c.pred_obj_scores_mlp = pred_obj_scores_mlp;
  c.use_multimask_token_for_obj_ptr = use_multimask_token_for_obj_ptr;
  return c;
}

bool SamHeadsConfig::use_multimask(bool is_init_cond_frame, int64_t num_points) const {
  return multimask_output_in_sam && (is_init_cond_frame || multimask_output_for_tracking) &&
         multimask_min_pt_num <= num_points && num_points <= multimask_max_pt_num;
}

nn::ModulePtr make_obj_ptr_proj(const SamHeadsConfig& config) {
  const int64_t c = config.hidden_dim;
  if (!config.use_obj_ptrs_in_encoder) return std::make_shared<nn::Identity>();
  if (config.use_mlp_for_obj_ptr_proj) return std::make_shared<nn::MLP>(c, c, c, 3);
  return std::make_shared<nn::Linear>(c, c);
}

// ---------------------------------------------------------------------------------------------
// Forward

namespace {

Tensor bilinear_resize(const Tensor& x, int64_t h, int64_t w, bool antialias) {
  return interpolate(x, InterpolateOptions::to_size(InterpMode::Bilinear, {h, w}, /*align_corners=*/false, antialias));
}

// The pointer of a frame without the object moves towards no_obj_ptr: by the hard
// presence (or sigmoid of the score with soft_no_obj_ptr), and with fixed_no_obj_ptr
// the projected pointer is dropped entirely.
Tensor gate_obj_ptr(const SamHeadsConfig& config, const Tensor& no_obj_ptr, Tensor obj_ptr, const Tensor& lambda) {
  if (!config.pred_obj_scores) return obj_ptr;
  if (!no_obj_ptr.defined()) {
    throw std::invalid_argument("SAM heads: pred_obj_scores with object pointers needs no_obj_ptr");
  }
  if (config.fixed_no_obj_ptr) obj_ptr = mul(lambda, obj_ptr);
  return add(obj_ptr, mul(sub(1.0, lambda), no_obj_ptr));
}

void check_modules(const SamHeadsModules& heads) {
  if (heads.sam_prompt_encoder == nullptr || heads.sam_mask_decoder == nullptr || heads.obj_ptr_proj == nullptr) {
    throw std::invalid_argument("SAM heads: the prompt encoder, mask decoder and obj_ptr_proj must all be given");
  }
}

}  // namespace

SamHeadsOutput forward_sam_heads(const SamHeadsModules& heads, const SamHeadsConfig& config,
                                 const Tensor& backbone_features, const Tensor& point_coords,
                                 const Tensor& point_labels, const Tensor& mask_inputs,
                                 const std::vector<Tensor>& high_res_features, bool multimask_output) {
  check_modules(heads);
  const int64_t hw = config.image_embedding_size();
  if (backbone_features.dim() != 4 || backbone_features.size(1) != config.hidden_dim ||
      backbone_features.size(2) != hw || backbone_features.size(3) != hw) {
    throw std::invalid_argument("SAM heads: backbone_features must be [B, " + std::to_string(config.hidden_dim) +
                                ", " + std::to_string(hw) + ", " + std::to_string(hw) + "], got " +
                                shape_str(backbone_features.shape()));
  }
  const int64_t b = backbone_features.size(0);
  const Device device = backbone_features.device();
  PromptEncoder& prompt_encoder = *heads.sam_prompt_encoder;

  // a) Points; none means one padding point (label -1).
  Tensor coords = point_coords, labels = point_labels;
  if (coords.defined() != labels.defined()) {
    throw std::invalid_argument("SAM heads: point_coords and point_labels must be given together");
  }
  if (!coords.defined()) {
    coords = zeros({b, 1, 2}, DType::F32, device);
    labels = full({b, 1}, -1, DType::I64, device);
  } else if (coords.size(0) != b || labels.size(0) != b) {
    throw std::invalid_argument("SAM heads: the points' batch differs from the image's");
  }

  // b) Mask prompt, brought to the size mask_downscaling expects.
  Tensor mask_prompt;
  if (mask_inputs.defined()) {
    if (mask_inputs.dim() != 4 || mask_inputs.size(0) != b || mask_inputs.size(1) != 1) {
      throw std::invalid_argument("SAM heads: mask_inputs must be [B, 1, H, W], got " +
                                  shape_str(mask_inputs.shape()));
    }
    const auto [mh, mw] = prompt_encoder.mask_input_size();
    if (mask_inputs.size(2) != mh || mask_inputs.size(3) != mw) {
      mask_prompt = bilinear_resize(rvos::to(mask_inputs, DType::F32), mh, mw, /*antialias=*/true);
    } else {
      mask_prompt = mask_inputs;
    }
  }

  SamHeadsOutput out;
  out.prompt = prompt_encoder.forward(coords, labels, Tensor(), mask_prompt);
  const Tensor dense_pe = prompt_encoder.get_dense_pe();
  out.decoder = heads.sam_mask_decoder->forward(backbone_features, dense_pe, out.prompt.sparse, out.prompt.dense,
                                                multimask_output, /*repeat_image=*/false, high_res_features);
  const MaskDecoderOutput& dec = out.decoder;
  out.ious = dec.iou_pred;
  out.object_score_logits = dec.object_score_logits;
  out.is_obj_appearing = gt(out.object_score_logits, 0.0);

  Tensor low_res_multimasks = dec.masks;
  if (config.pred_obj_scores) {
    // The masks (unlike the pointer) always take the hard decision, so that spatial
    // memories agree with the output.
    low_res_multimasks = where(reshape(out.is_obj_appearing, {b, 1, 1, 1}), low_res_multimasks, kNoObjScore);
  }
  out.low_res_multimasks = rvos::to(low_res_multimasks, DType::F32);
  out.high_res_multimasks = bilinear_resize(out.low_res_multimasks, config.image_size, config.image_size, false);

  out.sam_output_token = select(dec.sam_tokens_out, 1, 0);
  if (multimask_output) {
    const Tensor best = argmax(out.ious, -1);  // [b]
    const Tensor best4 = reshape(best, {b, 1, 1, 1});
    out.low_res_masks = take_along_dim(out.low_res_multimasks, best4, 1);
    out.high_res_masks = take_along_dim(out.high_res_multimasks, best4, 1);
    if (dec.sam_tokens_out.size(1) > 1) {
      out.sam_output_token = squeeze(take_along_dim(dec.sam_tokens_out, reshape(best, {b, 1, 1}), 1), 1);
    }
    out.selected_token = add(best, 1);  // the multimask tokens start at 1
  } else {
    out.low_res_masks = out.low_res_multimasks;
    out.high_res_masks = out.high_res_multimasks;
    out.selected_token = dec.selected_token;
  }

  // Object pointer from the chosen output token, gated by the object score.
  out.obj_ptr = heads.obj_ptr_proj->forward(out.sam_output_token);
  if (config.pred_obj_scores && config.use_obj_ptrs_in_encoder) {
    const Tensor lambda = config.soft_no_obj_ptr ? sigmoid(out.object_score_logits)
                                                 : rvos::to(out.is_obj_appearing, out.obj_ptr.dtype());
    out.obj_ptr = gate_obj_ptr(config, heads.no_obj_ptr, out.obj_ptr, lambda);
  }
  return out;
}

SamHeadsOutput use_mask_as_output(const SamHeadsModules& heads, const SamHeadsConfig& config,
                                  nn::Conv2d& mask_downsample, const Tensor& backbone_features,
                                  const std::vector<Tensor>& high_res_features, const Tensor& mask_inputs) {
  check_modules(heads);
  if (mask_inputs.dim() != 4 || mask_inputs.size(1) != 1) {
    throw std::invalid_argument("SAM heads: mask_inputs must be [B, 1, H, W], got " + shape_str(mask_inputs.shape()));
  }
  // Logits -10 / +10 for background / foreground (sigmoid(-10) = 4.5e-5).
  constexpr double out_scale = 20.0, out_bias = -10.0;
  const Tensor mask_f = rvos::to(mask_inputs, DType::F32);
  const int64_t b = mask_f.size(0);
  const Tensor high_res_masks = add(mul(mask_f, out_scale), out_bias);
  const Tensor low_res_masks =
      bilinear_resize(high_res_masks, high_res_masks.size(2) / 4, high_res_masks.size(3) / 4, /*antialias=*/true);

  SamHeadsOutput out;
  if (!config.use_obj_ptrs_in_encoder) {
    out.obj_ptr = zeros({b, config.hidden_dim}, DType::F32, mask_f.device());
  } else {
    // The pointer comes from the decoder prompted by the downsampled mask alone.
    out = forward_sam_heads(heads, config, backbone_features, Tensor(), Tensor(), mask_downsample.forward(mask_f),
                            high_res_features, /*multimask_output=*/false);
  }
  // The mask itself, not the decoder's score, says whether the object is present.
  out.is_obj_appearing = unsqueeze(any(gt(flatten(mask_f, 1), 0.0), {1}), -1);  // [b, 1]
  const Tensor lambda = rvos::to(out.is_obj_appearing, DType::F32);
  out.object_score_logits = add(mul(lambda, out_scale), out_bias);
  if (config.pred_obj_scores && config.use_obj_ptrs_in_encoder) {
    out.obj_ptr = gate_obj_ptr(config, heads.no_obj_ptr, out.obj_ptr, lambda);
  }
  out.low_res_multimasks = out.low_res_masks = low_res_masks;
  out.high_res_multimasks = out.high_res_masks = high_res_masks;
  out.ious = ones({b, 1}, DType::F32, mask_f.device());
  return out;
}

// ---------------------------------------------------------------------------------------------
// SamHeads

SamHeads::SamHeads(const SamHeadsConfig& cfg) : nn::Module("SamHeads"), config(cfg) {
  if (config.backbone_stride <= 0 || config.image_size % config.backbone_stride != 0) {
    throw std::invalid_argument("SamHeads: image_size must be a multiple of backbone_stride");
  }
  if (config.fixed_no_obj_ptr && !(config.pred_obj_scores && config.use_obj_ptrs_in_encoder)) {
    throw std::invalid_argument("SamHeads: fixed_no_obj_ptr needs pred_obj_scores and use_obj_ptrs_in_encoder");
  }
  if (config.pred_obj_scores && config.use_obj_ptrs_in_encoder) {
    no_obj_ptr = register_parameter("no_obj_ptr", zeros({1, config.hidden_dim}));
    NoGradGuard no_grad;
    nn::init::trunc_normal_(no_obj_ptr, 0.0, 0.02);
  }
  sam_prompt_encoder =
      register_module("sam_prompt_encoder", std::make_shared<PromptEncoder>(config.prompt_encoder_config()));
  sam_mask_decoder = register_module("sam_mask_decoder", std::make_shared<MaskDecoder>(config.mask_decoder_config()));
  obj_ptr_proj = register_module("obj_ptr_proj", make_obj_ptr_proj(config));
}

SamHeadsModules SamHeads::modules() const {
  return {sam_prompt_encoder.get(), sam_mask_decoder.get(), obj_ptr_proj.get(), no_obj_ptr};
}

SamHeadsOutput SamHeads::forward(const Tensor& backbone_features, const Tensor& point_coords,
                                 const Tensor& point_labels, const Tensor& mask_inputs,
                                 const std::vector<Tensor>& high_res_features, bool multimask_output) {
  return forward_sam_heads(modules(), config, backbone_features, point_coords, point_labels, mask_inputs,
                           high_res_features, multimask_output);
}

}  // namespace rvos::sam2
