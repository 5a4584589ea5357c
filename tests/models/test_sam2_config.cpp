// SAM 2 configs: the presets of the public checkpoints, official-format YAML files read as hydra
// and build_sam2_video_predictor would (the micro golden configs, texts written here), the
// consistency checks, and the errors for bad files.
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "models/sam2/config.h"
#include "testing.h"

using namespace rvos;
using namespace rvos::sam2;
using rvos::testing::error_of;

namespace {

std::string data_file(const std::string& set, const std::string& file) {
  return rvos::testing::test_data_dir() + "/" + set + "/" + file;
}

// describe() as key -> value, without the name.
std::map<std::string, std::string> fields(const Sam2Config& c) {
  std::map<std::string, std::string> m;
  std::istringstream in(describe(c));
  for (std::string line; std::getline(in, line);) {
    const size_t colon = line.find(": ");
    if (colon == std::string::npos) throw std::runtime_error("describe: a line without ': ': " + line);
    m[line.substr(0, colon)] = line.substr(colon + 2);
  }
  m.erase("name");
  return m;
}

// The fields that differ, as "key: a != b" lines ("" when the configs are equal).
std::string differences(const Sam2Config& a, const Sam2Config& b) {
  const auto fa = fields(a), fb = fields(b);
  std::string out;
  for (const auto& [k, v] : fa) {
    auto it = fb.find(k);
    if (it == fb.end()) {
      out += k + ": only in the first\n";
    } else if (it->second != v) {
      out += k + ": " + v + " != " + it->second + "\n";
    }
  }
  for (const auto& [k, v] : fb) {
    if (!fa.count(k)) out += k + ": only in the second\n";
  }
  return out;
}

// An official-format config (the layout of configs/sam2*/sam2*_hiera_*.yaml) with the sizes given.
struct YamlSizes {
  std::string package = "sam2.";  // MPG-SAM 2: "models.sam2."
  std::string model_target = "sam2.modeling.sam2_base.SAM2Base";
  int embed_dim = 96, num_heads = 1;
  std::string stages = "[1, 2, 7, 2]", global_att_blocks = "[5, 7, 9]";
  std::string window_spec;                  // absent when empty
  std::string bkg_size = "[7, 7]";          // absent when empty
  std::string channels = "[768, 384, 192, 96]";
  int hidden = 256, mem = 64, ffn = 2048, layers = 4;
  std::string feat_sizes = "[64, 64]";
  bool explicit_hidden_args = false;        // memory_encoder.in_dim and mask_downsampler.embed_dim
  int image_size = 1024;
  bool v2_1 = true;
};

std::string official_format_yaml(const YamlSizes& z) {
  const std::string p = z.package, h = std::to_string(z.hidden), m = std::to_string(z.mem);
  std::string s = "# @package _global_\n\n# Model\nmodel:\n";
  s += "  _target_: " + z.model_target + "\n";
  s += "  image_encoder:\n    _target_: " + p + "modeling.backbones.image_encoder.ImageEncoder\n    scalp: 1\n";
  s += "    trunk:\n      _target_: " + p + "modeling.backbones.hieradet.Hiera\n";
  s += "      embed_dim: " + std::to_string(z.embed_dim) + "\n      num_heads: " + std::to_string(z.num_heads) + "\n";
  if (!z.stages.empty()) s += "      stages: " + z.stages + "\n      global_att_blocks: " + z.global_att_blocks + "\n";
  if (!z.bkg_size.empty()) s += "      window_pos_embed_bkg_spatial_size: " + z.bkg_size + "\n";
  if (!z.window_spec.empty()) s += "      window_spec: " + z.window_spec + "\n";
  s += "    neck:\n      _target_: " + p + "modeling.backbones.image_encoder.FpnNeck\n";
  s += "      position_encoding:\n        _target_: " + p + "modeling.position_encoding.PositionEmbeddingSine\n";
  s += "        num_pos_feats: " + h + "\n        normalize: true\n        scale: null\n        temperature: 10000\n";
  s += "      d_model: " + h + "\n      backbone_channel_list: " + z.channels + "\n";
  s += "      fpn_top_down_levels: [2, 3]  # output level 0 and 1 directly use the backbone features\n";
  s += "      fpn_interp_model: nearest\n\n";
  s += "  memory_attention:\n    _target_: " + p + "modeling.memory_attention.MemoryAttention\n";
  s += "    d_model: " + h + "\n    pos_enc_at_input: true\n";
  s += "    layer:\n      _target_: " + p + "modeling.memory_attention.MemoryAttentionLayer\n";
  s += "      activation: relu\n      dim_feedforward: " + std::to_string(z.ffn) + "\n      dropout: 0.1\n";
  s += "      pos_enc_at_attn: false\n";
  s += "      self_attention:\n        _target_: " + p + "modeling.sam.transformer.RoPEAttention\n";
  s += "        rope_theta: 10000.0\n        feat_sizes: " + z.feat_sizes + "\n        embedding_dim: " + h + "\n";
  s += "        num_heads: 1\n        downsample_rate: 1\n        dropout: 0.1\n";
  s += "      d_model: " + h + "\n      pos_enc_at_cross_attn_keys: true\n      pos_enc_at_cross_attn_queries: false\n";
  s += "      cross_attention:\n        _target_: " + p + "modeling.sam.transformer.RoPEAttention\n";
  s += "        rope_theta: 10000.0\n        feat_sizes: " + z.feat_sizes + "\n        rope_k_repeat: True\n";
  s += "        embedding_dim: " + h + "\n        num_heads: 1\n        downsample_rate: 1\n        dropout: 0.1\n";
  s += "        kv_in_dim: " + m + "\n";
  s += "    num_layers: " + std::to_string(z.layers) + "\n\n";
  s += "  memory_encoder:\n      _target_: " + p + "modeling.memory_encoder.MemoryEncoder\n      out_dim: " + m + "\n";
  if (z.explicit_hidden_args) s += "      in_dim: " + h + "\n";
  s += "      position_encoding:\n        _target_: " + p + "modeling.position_encoding.PositionEmbeddingSine\n";
  s += "        num_pos_feats: " + m + "\n        normalize: true\n        scale: null\n        temperature: 10000\n";
  s += "      mask_downsampler:\n        _target_: " + p + "modeling.memory_encoder.MaskDownSampler\n";
  s += "        kernel_size: 3\n        stride: 2\n        padding: 1\n";
  if (z.explicit_hidden_args) s += "        embed_dim: " + h + "\n";
  s += "      fuser:\n        _target_: " + p + "modeling.memory_encoder.Fuser\n        layer:\n";
  s += "          _target_: " + p + "modeling.memory_encoder.CXBlock\n          dim: " + h + "\n";
  s += "          kernel_size: 7\n          padding: 3\n          layer_scale_init_value: 1e-6\n";
  s += "          use_dwconv: True  # depth-wise convs\n        num_layers: 2\n\n";
  s += "  num_maskmem: 7\n  image_size: " + std::to_string(z.image_size) + "\n";
  s += "  sigmoid_scale_for_mem_enc: 20.0\n  sigmoid_bias_for_mem_enc: -10.0\n";
  s += "  use_mask_input_as_output_without_sam: true\n  directly_add_no_mem_embed: true\n";
  if (z.v2_1) s += "  no_obj_embed_spatial: true\n";
  s += "  use_high_res_features_in_sam: true\n  multimask_output_in_sam: true\n  iou_prediction_use_sigmoid: True\n";
  s += "  use_obj_ptrs_in_encoder: true\n";
  if (z.v2_1) {
    s += "  add_tpos_enc_to_obj_ptrs: true\n  proj_tpos_enc_in_obj_ptrs: true\n  use_signed_tpos_enc_to_obj_ptrs: true\n";
  } else {
    s += "  add_tpos_enc_to_obj_ptrs: false\n";
  }
  s += "  only_obj_ptrs_in_the_past_for_eval: true\n";
  s += "  pred_obj_scores: true\n  pred_obj_scores_mlp: true\n  fixed_no_obj_ptr: true\n";
  s += "  multimask_output_for_tracking: true\n  use_multimask_token_for_obj_ptr: true\n";
  s += "  multimask_min_pt_num: 0\n  multimask_max_pt_num: 1\n  use_mlp_for_obj_ptr_proj: true\n";
  s += "  compile_image_encoder: False\n";
  return s;
}

// The sizes of the official configs of each model size.
YamlSizes official_sizes(const std::string& size, bool v2_1) {
  YamlSizes z;
  z.v2_1 = v2_1;
  if (size == "t") return z;
  if (size == "s") {
    z.stages = "[1, 2, 11, 2]";
    z.global_att_blocks = "[7, 10, 13]";
  } else if (size == "b+") {
    z.embed_dim = 112;
    z.num_heads = 2;
    z.stages.clear();  // b+ leaves the trunk's stages, global blocks and window sizes at their defaults
    z.bkg_size.clear();
    z.channels = "[896, 448, 224, 112]";
  } else if (size == "l") {
    z.embed_dim = 144;
    z.num_heads = 2;
    z.stages = "[2, 6, 36, 4]";
    z.global_att_blocks = "[23, 33, 43]";
    z.window_spec = "[8, 4, 16, 8]";
    z.channels = "[1152, 576, 288, 144]";
  }
  return z;
}

// A small config of the official layout (hidden 16, memory 4, image 128).
YamlSizes small_sizes() {
  YamlSizes z;
  z.embed_dim = 8;
  z.num_heads = 1;
  z.stages = "[1, 1, 2, 1]";
  z.global_att_blocks = "[3]";
  z.window_spec = "[4, 4, 2, 2]";
  z.channels = "[64, 32, 16, 8]";
  z.hidden = 16;
  z.mem = 4;
  z.ffn = 32;
  z.layers = 1;
  z.feat_sizes = "[8, 8]";
  z.explicit_hidden_args = true;
  z.image_size = 128;
  return z;
}

std::string replaced(std::string text, const std::string& from, const std::string& to) {
  const size_t at = text.find(from);
  REQUIRE_MESSAGE(at != std::string::npos, "not in the text: " << from);
  return text.replace(at, from.size(), to);
}

// SamHeadsConfig of the micro golden sets as the heads test builds it.
SamHeadsConfig micro_heads(int64_t hidden_dim) {
  SamHeadsConfig c;
  c.hidden_dim = hidden_dim;
  c.image_size = 256;
  c.backbone_stride = 16;
  return c;
}

}  // namespace

TEST_CASE("micro configs equal what their golden YAML files give") {
  struct Case {
    std::string set;
    Sam2Config expected;
    int64_t hidden, mem;
    bool v2_1;
  };
  for (const Case& k : {Case{"sam2_micro", sam2_micro_config(), 48, 12, false},
                        Case{"sam2.1_micro", sam2_1_micro_config(), 32, 8, true}}) {
    CAPTURE(k.set);
    const std::string path = data_file(k.set, "config.yaml");
    const Sam2Config c = load_sam2_yaml(path);
    CHECK(c.name == path);
    CHECK(k.expected.name == k.set);
    CHECK_MESSAGE(differences(c, k.expected).empty(), differences(c, k.expected));
    k.expected.validate();

    CHECK(c.hidden_dim() == k.hidden);
    CHECK(c.mem_dim() == k.mem);
    CHECK(c.image_size() == 256);
    CHECK(c.memory_attention.num_layers == 2);
    CHECK(c.memory_attention.layer.cross_attention.kv_in_dim == k.mem);
    CHECK(c.memory_attention.layer.self_attention.feat_sizes == std::array<int64_t, 2>{16, 16});
    CHECK(c.memory_encoder.fuser.layer.layer_scale_init_value == 1e-6);  // written 1e-6
    CHECK(c.image_encoder.neck.pos_scale == 0.0);                        // scale: null
    CHECK(c.memory_encoder.fuser.layer.use_dwconv);                      // True
    // Post-processing of build_sam2_video_predictor.
    CHECK(c.heads.dynamic_multimask_via_stability);
    CHECK(c.heads.dynamic_multimask_stability_delta == 0.05);
    CHECK(c.heads.dynamic_multimask_stability_thresh == 0.98);
    CHECK(c.binarize_mask_from_pts_for_mem_enc);
    CHECK(c.fill_hole_area == 8);
    // The SAM 2 / SAM 2.1 differences.
    CHECK(c.add_tpos_enc_to_obj_ptrs == k.v2_1);
    CHECK(c.proj_tpos_enc_in_obj_ptrs == k.v2_1);
    CHECK(c.use_signed_tpos_enc_to_obj_ptrs == k.v2_1);
    CHECK(c.no_obj_embed_spatial == k.v2_1);

    // The heads are those the heads test runs the goldens with.
    Sam2Config with_test_heads = c;
    with_test_heads.heads = micro_heads(k.hidden);
    CHECK(differences(c, with_test_heads).empty());
    // And the sub-configs those of the other micro tests.
    Sam2Config with_parts = c;
    with_parts.image_encoder = k.v2_1 ? sam2_1_micro_image_encoder() : sam2_micro_image_encoder();
    with_parts.memory_attention = k.v2_1 ? sam2_1_micro_memory_attention() : sam2_micro_memory_attention();
    with_parts.memory_encoder = k.v2_1 ? sam2_1_micro_memory_encoder() : sam2_micro_memory_encoder();
    CHECK(differences(c, with_parts).empty());

    // Without post-processing: the constructor defaults of those settings.
    const Sam2Config raw = load_sam2_yaml(path, /*apply_postprocessing=*/false);
    CHECK_FALSE(raw.heads.dynamic_multimask_via_stability);
    CHECK_FALSE(raw.binarize_mask_from_pts_for_mem_enc);
    CHECK(raw.fill_hole_area == 0);
    Sam2Config post = raw;
    post.heads.dynamic_multimask_via_stability = true;
    post.binarize_mask_from_pts_for_mem_enc = true;
    post.fill_hole_area = 8;
    CHECK(differences(post, c).empty());
  }
}

TEST_CASE("presets: the eight public checkpoints") {
  const std::vector<std::string> names = sam2_preset_names();
  REQUIRE(names.size() == 8);
  const std::map<std::string, std::vector<int64_t>> channels = {{"t", {768, 384, 192, 96}},
                                                                {"s", {768, 384, 192, 96}},
                                                                {"b+", {896, 448, 224, 112}},
                                                                {"l", {1152, 576, 288, 144}}};
  for (const std::string& name : names) {
    CAPTURE(name);
    const bool v2_1 = name.rfind("sam2.1_", 0) == 0;
    const std::string size = name.substr(name.rfind('_') + 1);
    const Sam2Config c = sam2_preset(name);
    CHECK(c.name == name);
    CHECK(is_sam2_preset(name));
    CHECK_NOTHROW(c.validate());

    // Image encoder: the trunk preset and its channels.
    Sam2Config with_trunk = c;
    with_trunk.image_encoder.trunk = hiera::hiera_preset(size);
    CHECK(differences(c, with_trunk).empty());
    Sam2Config with_encoder = c;
    with_encoder.image_encoder = sam2_image_encoder_preset(size);
    CHECK(differences(c, with_encoder).empty());
    CHECK(c.image_encoder.neck.backbone_channel_list == channels.at(size));
    CHECK(hiera::hiera_layout(c.image_encoder.trunk).channel_list == channels.at(size));
    CHECK(c.image_encoder.scalp == 1);
    CHECK(c.image_encoder.neck.fpn_interp_model == "nearest");

    // Memory and heads: the same in every public model.
    CHECK(c.hidden_dim() == 256);
    CHECK(c.mem_dim() == 64);
    CHECK(c.image_size() == 1024);
    Sam2Config with_memory = c;
    with_memory.memory_attention = sam2_memory_attention();
    with_memory.memory_encoder = sam2_memory_encoder();
    with_memory.heads = SamHeadsConfig{};
    CHECK(differences(c, with_memory).empty());
    CHECK(c.memory_attention.num_layers == 4);
    CHECK(c.memory_attention.layer.cross_attention.kv_in_dim == 64);
    CHECK(c.memory_encoder.mask_downsampler.kernel_size == 3);
    CHECK(c.num_maskmem == 7);
    CHECK(c.sigmoid_scale_for_mem_enc == 20.0);
    CHECK(c.sigmoid_bias_for_mem_enc == -10.0);
    CHECK(c.use_mask_input_as_output_without_sam);
    CHECK(c.directly_add_no_mem_embed);
    CHECK(c.only_obj_ptrs_in_the_past_for_eval);
    CHECK(c.heads.use_high_res_features_in_sam);
    CHECK(c.heads.pred_obj_scores);
    CHECK(c.heads.fixed_no_obj_ptr);
    CHECK(c.heads.multimask_min_pt_num == 0);
    CHECK(c.heads.dynamic_multimask_via_stability);
    CHECK(c.binarize_mask_from_pts_for_mem_enc);
    CHECK(c.fill_hole_area == 8);

    CHECK(c.add_tpos_enc_to_obj_ptrs == v2_1);
    CHECK(c.proj_tpos_enc_in_obj_ptrs == v2_1);
    CHECK(c.use_signed_tpos_enc_to_obj_ptrs == v2_1);
    CHECK(c.no_obj_embed_spatial == v2_1);

    // What an official-format text of that model gives.
    const Sam2Config from_yaml = parse_sam2_yaml(official_format_yaml(official_sizes(size, v2_1)), name + ".yaml");
    CHECK_MESSAGE(differences(from_yaml, c).empty(), differences(from_yaml, c));
  }
  // The struct defaults are the SAM 2.1 b+ model.
  CHECK(differences(Sam2Config{}, sam2_preset("sam2.1_hiera_b+")).empty());
}

TEST_CASE("presets: names, config paths and checkpoint names") {
  CHECK(sam2_preset("configs/sam2.1/sam2.1_hiera_t.yaml").name == "sam2.1_hiera_t");
  CHECK(sam2_preset("sam2.1_hiera_t.yaml").name == "sam2.1_hiera_t");
  CHECK(sam2_preset("configs/sam2/sam2_hiera_b+.yaml").name == "sam2_hiera_b+");
  CHECK(sam2_preset("sam2.1_hiera_tiny").name == "sam2.1_hiera_t");
  CHECK(sam2_preset("sam2_hiera_small.pt").name == "sam2_hiera_s");
  CHECK(sam2_preset("sam2_hiera_base_plus").name == "sam2_hiera_b+");
  CHECK(sam2_preset("sam2.1_hiera_large.pt").name == "sam2.1_hiera_l");
  for (const char* bad : {"", "sam2_hiera", "sam2_hiera_xl", "sam3_hiera_t", "sam2.1_hiera_t2", "hiera_t", "b+"}) {
    CAPTURE(bad);
    CHECK_FALSE(is_sam2_preset(bad));
  }
  const std::string e = error_of([] { sam2_preset("sam2_hiera_xl"); });
  CHECK(e.find("sam2_hiera_xl") != std::string::npos);
  CHECK(e.find("sam2.1_hiera_b+") != std::string::npos);  // lists the known names
  CHECK_THROWS_AS(sam2_preset("nope"), std::invalid_argument);

  CHECK(sam2_preset_for_checkpoint("/checkpoints/sam2.1_hiera_small.pt") == "sam2.1_hiera_s");
  CHECK(sam2_preset_for_checkpoint("sam2.1_hiera_tiny.pt") == "sam2.1_hiera_t");
  CHECK(sam2_preset_for_checkpoint("sam2.1_hiera_base_plus.pt") == "sam2.1_hiera_b+");
  CHECK(sam2_preset_for_checkpoint("sam2.1_hiera_large.safetensors") == "sam2.1_hiera_l");
  CHECK(sam2_preset_for_checkpoint("sam2_hiera_tiny.pt") == "sam2_hiera_t");
  CHECK(sam2_preset_for_checkpoint("weights/sam2_hiera_large.pt") == "sam2_hiera_l");
  CHECK(sam2_preset_for_checkpoint("sam2_hiera_b+.pt") == "sam2_hiera_b+");
  CHECK(sam2_preset_for_checkpoint("SAM2.1_Hiera_Small.PT") == "sam2.1_hiera_s");
  CHECK(sam2_preset_for_checkpoint("sam2.1-hiera-base-plus.pt") == "sam2.1_hiera_b+");
  CHECK(sam2_preset_for_checkpoint("ft_sam2_hiera_large_mevis.pth") == "sam2_hiera_l");
  CHECK(sam2_preset_for_checkpoint("model.pt") == "");
  CHECK(sam2_preset_for_checkpoint("sam2.1_hiera_tinyer.pt") == "");
  CHECK(sam2_preset_for_checkpoint("sam2_hiera_large/model.pt") == "");  // the file name, not the folder
}

TEST_CASE("official-format texts: MPG-SAM 2 package paths, model classes, a small model") {
  // MPG-SAM 2's copy: its package root and 32 x 32 RoPE tables.
  YamlSizes mpg = official_sizes("l", false);
  mpg.package = "models.sam2.";
  mpg.model_target = "models.sam2.modeling.sam2_base.SAM2Base";
  mpg.feat_sizes = "[32, 32]";
  const Sam2Config c = parse_sam2_yaml(official_format_yaml(mpg), "mpg.yaml");
  Sam2Config expected = sam2_preset("sam2_hiera_l");
  expected.memory_attention.layer.self_attention.feat_sizes = {32, 32};
  expected.memory_attention.layer.cross_attention.feat_sizes = {32, 32};
  CHECK_MESSAGE(differences(c, expected).empty(), differences(c, expected));

  for (const char* target : {"sam2.sam2_video_predictor.SAM2VideoPredictor",
                             "sam2.sam2_video_predictor.SAM2VideoPredictorVOS",
                             "models.sam2.sam2_video_predictor.SAM2VideoPredictor"}) {
    CAPTURE(target);
    YamlSizes z = official_sizes("t", true);
    z.model_target = target;
    CHECK(differences(parse_sam2_yaml(official_format_yaml(z)), sam2_preset("sam2.1_hiera_t")).empty());
  }

  const Sam2Config s = parse_sam2_yaml(official_format_yaml(small_sizes()), "small.yaml");
  CHECK(s.name == "small.yaml");
  CHECK(s.hidden_dim() == 16);
  CHECK(s.mem_dim() == 4);
  CHECK(s.image_size() == 128);
  CHECK(s.heads.hidden_dim == 16);
  CHECK(s.image_encoder.trunk.stages == std::vector<int64_t>{1, 1, 2, 1});
  CHECK(s.image_encoder.trunk.window_spec == std::vector<int64_t>{4, 4, 2, 2});
  CHECK(s.memory_attention.layer.self_attention.feat_sizes == std::array<int64_t, 2>{8, 8});
  CHECK(s.memory_encoder.in_dim == 16);
  CHECK(s.memory_encoder.mask_downsampler.embed_dim == 16);
  CHECK(s.memory_encoder.fuser.dim == 16);

  // Hydra groups besides `model` are not read; YAML 1.1 booleans and a numeric scale are.
  std::string text = "scratch:\n  resolution: 1024\ntrainer:\n  max_epochs: 1\n" + official_format_yaml(small_sizes());
  text = replaced(text, "pos_enc_at_attn: false", "pos_enc_at_attn: yes");
  text = replaced(text, "scale: null", "scale: 3.5");
  const Sam2Config t = parse_sam2_yaml(text);
  CHECK(t.memory_attention.layer.pos_enc_at_attn);
  CHECK(t.image_encoder.neck.pos_scale == 3.5);
}

TEST_CASE("constructor defaults: what a section leaves out") {
  const Sam2Config d = sam2_constructor_defaults();
  CHECK(d.num_maskmem == 7);
  CHECK(d.image_size() == 512);
  CHECK(d.sigmoid_scale_for_mem_enc == 1.0);
  CHECK(d.sigmoid_bias_for_mem_enc == 0.0);
  CHECK_FALSE(d.binarize_mask_from_pts_for_mem_enc);
  CHECK_FALSE(d.use_mask_input_as_output_without_sam);
  CHECK_FALSE(d.directly_add_no_mem_embed);
  CHECK_FALSE(d.heads.use_high_res_features_in_sam);
  CHECK_FALSE(d.heads.use_obj_ptrs_in_encoder);
  CHECK_FALSE(d.heads.pred_obj_scores);
  CHECK_FALSE(d.heads.dynamic_multimask_via_stability);
  CHECK(d.heads.multimask_min_pt_num == 1);
  CHECK(d.heads.multimask_max_pt_num == 1);
  CHECK(d.add_tpos_enc_to_obj_ptrs);
  CHECK_FALSE(d.proj_tpos_enc_in_obj_ptrs);
  CHECK_FALSE(d.no_obj_embed_spatial);
  CHECK(d.fill_hole_area == 0);
  CHECK(d.max_obj_ptrs_in_encoder == 16);

  // Only the required keys (and a scalp, without which the features' stride is 32).
  const std::string minimal = R"(model:
  image_encoder:
    _target_: sam2.modeling.backbones.image_encoder.ImageEncoder
    scalp: 1
    trunk:
      _target_: sam2.modeling.backbones.hieradet.Hiera
    neck:
      _target_: sam2.modeling.backbones.image_encoder.FpnNeck
      position_encoding:
        _target_: sam2.modeling.position_encoding.PositionEmbeddingSine
        num_pos_feats: 256
      d_model: 256
      backbone_channel_list: [768, 384, 192, 96]
  memory_attention:
    _target_: sam2.modeling.memory_attention.MemoryAttention
    d_model: 256
    pos_enc_at_input: true
    num_layers: 4
    layer:
      _target_: sam2.modeling.memory_attention.MemoryAttentionLayer
      activation: relu
      d_model: 256
      dim_feedforward: 2048
      dropout: 0.1
      pos_enc_at_attn: false
      pos_enc_at_cross_attn_keys: true
      pos_enc_at_cross_attn_queries: false
      self_attention:
        _target_: sam2.modeling.sam.transformer.RoPEAttention
        embedding_dim: 256
        num_heads: 1
      cross_attention:
        _target_: sam2.modeling.sam.transformer.RoPEAttention
        embedding_dim: 256
        num_heads: 1
        kv_in_dim: 64
  memory_encoder:
    _target_: sam2.modeling.memory_encoder.MemoryEncoder
    out_dim: 64
    position_encoding:
      _target_: sam2.modeling.position_encoding.PositionEmbeddingSine
      num_pos_feats: 64
    mask_downsampler:
      _target_: sam2.modeling.memory_encoder.MaskDownSampler
    fuser:
      _target_: sam2.modeling.memory_encoder.Fuser
      num_layers: 2
      layer:
        _target_: sam2.modeling.memory_encoder.CXBlock
        dim: 256
)";
  const Sam2Config c = parse_sam2_yaml(minimal, "minimal.yaml", /*apply_postprocessing=*/false);
  // The top level is the constructor defaults, the heads' width the neck's.
  Sam2Config top = d;
  top.image_encoder = c.image_encoder;
  top.memory_attention = c.memory_attention;
  top.memory_encoder = c.memory_encoder;
  CHECK_MESSAGE(differences(c, top).empty(), differences(c, top));
  // Each section at its class's constructor defaults.
  CHECK(c.image_encoder.trunk.embed_dim == 96);
  CHECK(c.image_encoder.trunk.stages == std::vector<int64_t>{2, 3, 16, 3});
  CHECK(c.image_encoder.trunk.window_spec == std::vector<int64_t>{8, 4, 14, 7});
  CHECK(c.image_encoder.trunk.window_pos_embed_bkg_spatial_size == std::array<int64_t, 2>{14, 14});
  CHECK(c.image_encoder.neck.fpn_interp_model == "bilinear");
  CHECK(c.image_encoder.neck.fpn_top_down_levels == std::vector<int64_t>{0, 1, 2, 3});  // None: all levels
  CHECK(c.image_encoder.neck.pos_temperature == 10000.0);
  CHECK(c.memory_attention.layer.self_attention.dropout == 0.0);
  CHECK_FALSE(c.memory_attention.layer.self_attention.kv_in_dim.has_value());
  CHECK_FALSE(c.memory_attention.layer.cross_attention.rope_k_repeat);
  CHECK(c.memory_attention.layer.cross_attention.feat_sizes == std::array<int64_t, 2>{64, 64});
  CHECK(c.memory_encoder.in_dim == 256);
  CHECK(c.memory_encoder.mask_downsampler.kernel_size == 4);
  CHECK(c.memory_encoder.mask_downsampler.stride == 4);
  CHECK(c.memory_encoder.mask_downsampler.padding == 0);
  CHECK(c.memory_encoder.mask_downsampler.embed_dim == 256);
  CHECK(c.memory_encoder.fuser.layer.kernel_size == 7);
  CHECK(c.memory_encoder.fuser.layer.layer_scale_init_value == 1e-6);
  CHECK_FALSE(c.memory_encoder.fuser.input_projection);

  // With the post-processing.
  const Sam2Config p = parse_sam2_yaml(minimal, "minimal.yaml");
  CHECK(p.heads.dynamic_multimask_via_stability);
  CHECK(p.binarize_mask_from_pts_for_mem_enc);
  CHECK(p.fill_hole_area == 8);
}

TEST_CASE("sam2_config: a preset name or a file") {
  CHECK(sam2_config("sam2.1_hiera_s").name == "sam2.1_hiera_s");
  CHECK(sam2_config("sam2_hiera_large.pt").name == "sam2_hiera_l");
  rvos::testing::TempDir dir("sam2_config");
  const std::string path = dir.file("sam2.1_hiera_t.yaml");  // a file of a preset's name is read as a file
  {
    std::ofstream out(path);
    out << official_format_yaml(small_sizes());
  }
  const Sam2Config c = sam2_config(path);
  CHECK(c.name == path);
  CHECK(c.hidden_dim() == 16);
  CHECK(load_sam2_yaml(path).hidden_dim() == 16);
  CHECK_THROWS_AS(sam2_config(dir.file("missing.yaml")), std::invalid_argument);
}

TEST_CASE("YAML errors name the file and the dotted key") {
  const std::string good = official_format_yaml(small_sizes());
  REQUIRE_NOTHROW(parse_sam2_yaml(good, "config.yaml"));
  auto error = [](const std::string& text) { return error_of([&] { parse_sam2_yaml(text, "config.yaml"); }); };
  auto contains = [](const std::string& e, const std::string& part) {
    INFO(e);
    CHECK(e.find(part) != std::string::npos);
  };

  SUBCASE("missing or unreadable file") {
    CHECK_THROWS_AS(load_sam2_yaml("/nonexistent/config.yaml"), std::runtime_error);
    contains(error_of([] { load_sam2_yaml("/nonexistent/config.yaml"); }), "/nonexistent/config.yaml");
    rvos::testing::TempDir dir("sam2_config");
    CHECK_THROWS_AS(load_sam2_yaml(dir.str()), std::runtime_error);  // a folder
  }
  SUBCASE("unknown keys") {
    std::string e = error(replaced(good, "      dim_feedforward:", "      foo: 1\n      dim_feedforward:"));
    contains(e, "config.yaml: model.memory_attention.layer.foo: unknown key");
    contains(e, "(line ");
    contains(error(replaced(good, "  num_maskmem: 7", "  num_mask_mem: 7")), "model.num_mask_mem: unknown key");
    contains(error(replaced(good, "        padding: 1\n", "        padding: 1\n        activation: gelu\n")),
             "model.memory_encoder.mask_downsampler.activation: unknown key");
    contains(error(good + "  sam_mask_decoder_extra_args:\n    dynamic_multimask_via_stabilty: true\n"),
             "model.sam_mask_decoder_extra_args.dynamic_multimask_via_stabilty: unknown key");
    contains(error(replaced(good, "  num_maskmem: 7", "  num_maskmem: 7\n  num_maskmem: 6")),
             "model.num_maskmem: duplicate key");
  }
  SUBCASE("missing keys and sections") {
    contains(error(replaced(good, "    num_layers: 1\n", "")),
             "config.yaml: model.memory_attention: missing required key 'num_layers'");
    contains(error(replaced(good, "      d_model: 16\n      backbone", "      backbone")),
             "model.image_encoder.neck: missing required key 'd_model'");
    contains(error(replaced(good, "    _target_: sam2.modeling.memory_attention.MemoryAttention\n", "")),
             "model.memory_attention: missing _target_");
    contains(error("scratch:\n  resolution: 1024\n"), "config.yaml: no `model:` section");
    contains(error(""), "no `model:` section");
  }
  SUBCASE("wrong value types") {
    contains(error(replaced(good, "num_maskmem: 7", "num_maskmem: seven")),
             "config.yaml: model.num_maskmem: expected an integer, got 'seven'");
    contains(error(replaced(good, "image_size: 128", "image_size: \"128\"")),
             "model.image_size: expected an integer, got the string '128'");
    contains(error(replaced(good, "image_size: 128", "image_size: 128.0")), "model.image_size: expected an integer");
    contains(error(replaced(good, "use_dwconv: True", "use_dwconv: 1")),
             "model.memory_encoder.fuser.layer.use_dwconv: expected true or false");
    contains(error(replaced(good, "sigmoid_scale_for_mem_enc: 20.0", "sigmoid_scale_for_mem_enc: high")),
             "model.sigmoid_scale_for_mem_enc: expected a number");
    contains(error(replaced(good, "stages: [1, 1, 2, 1]", "stages: 5")),
             "model.image_encoder.trunk.stages: expected a list of integers");
    contains(error(replaced(good, "stages: [1, 1, 2, 1]", "stages: [1, 1, x, 1]")),
             "model.image_encoder.trunk.stages[2]: expected an integer");
    contains(error(replaced(good, "feat_sizes: [8, 8]", "feat_sizes: [8]")),
             "model.memory_attention.layer.self_attention.feat_sizes: expected a list of 2 integers");
    contains(error(replaced(good, "    trunk:\n", "    trunk: 3\n    unused:\n")), "model.image_encoder.trunk: expected a mapping");
    contains(error(replaced(good, "activation: relu", "activation: glu")), "model.memory_attention.layer.activation");
    contains(error(replaced(good, "image_size: 128", "image_size: ${scratch.resolution}")), "interpolations");
    contains(error(replaced(good, "scale: null", "scale: -1.0")), "position_encoding.scale: must be > 0");
    contains(error(replaced(replaced(good, "scale: null", "scale: 2.0"), "normalize: true", "normalize: false")),
             "position_encoding.scale: a scale needs normalize: true");
  }
  SUBCASE("unknown classes") {
    contains(error(replaced(good, "hieradet.Hiera\n", "hieradet.HieraX\n")),
             "config.yaml: model.image_encoder.trunk._target_: unknown class 'sam2.modeling.backbones.hieradet.HieraX'");
    contains(error(replaced(good, "sam2.modeling.sam2_base.SAM2Base", "training.model.sam2.SAM2Train")),
             "model._target_: unknown class 'training.model.sam2.SAM2Train'");
    // A class path must match whole components.
    contains(error(replaced(good, "sam2.modeling.memory_encoder.Fuser", "sam2.xmodeling.memory_encoder.Fuser")),
             "model.memory_encoder.fuser._target_: unknown class");
  }
  SUBCASE("YAML syntax") {
    contains(error(replaced(good, "stages: [1, 1, 2, 1]", "stages: [1, 1, 2, 1")), "config.yaml: invalid YAML at line");
  }
  SUBCASE("inconsistent sizes (validate)") {
    contains(error(replaced(good, "    d_model: 16\n    pos_enc_at_input", "    d_model: 24\n    pos_enc_at_input")),
             "memory_attention.d_model (24) differs from image_encoder.neck.d_model (16)");
    contains(error(replaced(good, "kv_in_dim: 4", "kv_in_dim: 8")),
             "memory_attention.layer.cross_attention.kv_in_dim (8) differs from memory_encoder.out_dim (4)");
    contains(error(replaced(good, "backbone_channel_list: [64, 32, 16, 8]", "backbone_channel_list: [64, 32, 16, 16]")),
             "image_encoder.neck.backbone_channel_list [64, 32, 16, 16] differs from the trunk's stage dims");
    contains(error(replaced(good, "image_size: 128", "image_size: 120")), "image_size (120) is not a multiple");
    contains(error(replaced(good, "  add_tpos_enc_to_obj_ptrs: true", "  add_tpos_enc_to_obj_ptrs: false")),
             "proj_tpos_enc_in_obj_ptrs needs add_tpos_enc_to_obj_ptrs");
    contains(error(replaced(good, "  pred_obj_scores: true", "  pred_obj_scores: false")),
             "fixed_no_obj_ptr needs pred_obj_scores");
  }
}

TEST_CASE("validate names the field that disagrees") {
  const Sam2Config good = sam2_preset("sam2.1_hiera_t");
  auto error = [](const Sam2Config& c) { return error_of([&] { c.validate(); }); };
  auto contains = [](const std::string& e, const std::string& part) {
    INFO(e);
    CHECK(e.find(part) != std::string::npos);
  };
  Sam2Config c = good;
  c.heads.hidden_dim = 128;
  contains(error(c), "sam2.1_hiera_t: heads.hidden_dim (128) differs from image_encoder.neck.d_model (256)");
  c = good;
  c.memory_encoder.in_dim = 128;
  contains(error(c), "memory_encoder.in_dim (128) differs");
  c = good;
  c.memory_encoder.fuser.layer.dim = 128;
  contains(error(c), "memory_encoder.fuser.layer.dim (128) differs");
  c = good;
  c.memory_encoder.pos_num_pos_feats = 32;
  contains(error(c), "memory_encoder.position_encoding.num_pos_feats (32) differs");
  c = good;
  c.memory_encoder.out_dim = 48;  // also the cross-attention's kv dim: the pointer split fails
  c.memory_encoder.pos_num_pos_feats = 48;
  c.memory_attention.layer.cross_attention.kv_in_dim = 48;
  contains(error(c), "cannot be split into memory tokens of dim 48");
  c = good;
  c.memory_attention.layer.self_attention.num_heads = 3;
  contains(error(c), "memory_attention.layer.self_attention: num_heads (3) must divide");
  c = good;
  c.image_encoder.trunk.window_spec = {8, 4, 14};
  contains(error(c), "image_encoder.trunk: Hiera: stages");
  c = good;
  c.image_encoder.scalp = 2;
  contains(error(c), "use_high_res_features_in_sam needs 3 feature levels");
  c = good;
  c.heads.backbone_stride = 32;
  contains(error(c), "backbone_stride (32) differs from the stride of the image encoder's last kept level (16)");
  c = good;
  c.memory_encoder.mask_downsampler.total_stride = 8;
  contains(error(c), "memory_encoder.mask_downsampler.total_stride (8) differs from backbone_stride (16)");
  c = good;
  c.image_encoder.neck.fpn_top_down_levels = {2, 4};
  contains(error(c), "fpn_top_down_levels [2, 4] must be in [0, 4)");
  c = good;
  c.image_encoder.neck.fuse_type = "max";
  contains(error(c), "fuse_type must be sum or avg");
  c = good;
  c.memory_temporal_stride_for_eval = 0;
  contains(error(c), "memory_temporal_stride_for_eval must be positive");
  c = good;
  c.fill_hole_area = -1;
  contains(error(c), "fill_hole_area must be >= 0");
}
