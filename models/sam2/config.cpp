#include "models/sam2/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <utility>

namespace rvos::sam2 {

namespace {

std::string str(int64_t v) { return std::to_string(v); }

std::string str(double v) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  return ec == std::errc() ? std::string(buf, end) : std::to_string(v);
}

std::string str(bool v) { return v ? "true" : "false"; }

template <class Seq>
std::string list_str(const Seq& v) {
  std::string s = "[";
  for (auto x : v) s += (s.size() > 1 ? ", " : "") + str(static_cast<int64_t>(x));
  return s + "]";
}

// ---------------------------------------------------------------------------------------------
// Constructor defaults of the official classes, where a YAML section starts before its keys are
// applied. Arguments the official constructor requires keep the values of the struct defaults
// (those of the official configs); a section that leaves one out is refused.

hiera::HieraConfig hiera_constructor_defaults() { return hiera::HieraConfig{}; }

FpnNeckConfig fpn_neck_constructor_defaults() {
  FpnNeckConfig c;
  c.fpn_interp_model = "bilinear";
  c.fpn_top_down_levels = {0, 1, 2, 3};  // None: every level (set from the channel list when read)
  c.pos_temperature = 10000.0;
  c.pos_normalize = true;
  c.pos_scale = 0.0;
  return c;
}

RoPEAttentionConfig rope_attention_constructor_defaults() {
  RoPEAttentionConfig c;
  c.downsample_rate = 1;
  c.dropout = 0.0;
  c.kv_in_dim.reset();
  c.rope_theta = 10000.0;
  c.rope_k_repeat = false;
  c.feat_sizes = {64, 64};
  return c;
}

MaskDownSamplerConfig mask_downsampler_constructor_defaults() {
  MaskDownSamplerConfig c;
  c.embed_dim = 256;
  c.kernel_size = 4;
  c.stride = 4;
  c.padding = 0;
  c.total_stride = 16;
  return c;
}

CXBlockConfig cx_block_constructor_defaults() {
  CXBlockConfig c;
  c.kernel_size = 7;
  c.padding = 3;
  c.layer_scale_init_value = 1e-6;
  c.use_dwconv = true;
  return c;
}

// The SAM2Base arguments that SamHeadsConfig holds, at their constructor defaults (MaskDecoder's
// for the dynamic multimask settings); hidden_dim follows the neck.
SamHeadsConfig heads_constructor_defaults() {
  SamHeadsConfig h;
  h.hidden_dim = 256;
  h.image_size = 512;
  h.backbone_stride = 16;
  h.use_high_res_features_in_sam = false;
  h.iou_prediction_use_sigmoid = false;
  h.pred_obj_scores = false;
  h.pred_obj_scores_mlp = false;
  h.use_multimask_token_for_obj_ptr = false;
  h.dynamic_multimask_via_stability = false;
  h.dynamic_multimask_stability_delta = 0.05;
  h.dynamic_multimask_stability_thresh = 0.98;
  h.use_obj_ptrs_in_encoder = false;
  h.use_mlp_for_obj_ptr_proj = false;
  h.fixed_no_obj_ptr = false;
  h.soft_no_obj_ptr = false;
  h.multimask_output_in_sam = false;
  h.multimask_output_for_tracking = false;
  h.multimask_min_pt_num = 1;
  h.multimask_max_pt_num = 1;
  return h;
}

// ---------------------------------------------------------------------------------------------
// YAML reading

// `_target_` class paths, matched by their trailing part so that copies of the package under
// another root (MPG-SAM 2's `models.sam2.modeling...`) are accepted too.
const std::vector<std::string> kModelTargets = {"modeling.sam2_base.SAM2Base",
                                                "sam2_video_predictor.SAM2VideoPredictor",
                                                "sam2_video_predictor.SAM2VideoPredictorVOS"};
const std::string kImageEncoderTarget = "modeling.backbones.image_encoder.ImageEncoder";
const std::string kHieraTarget = "modeling.backbones.hieradet.Hiera";
const std::string kFpnNeckTarget = "modeling.backbones.image_encoder.FpnNeck";
const std::string kPositionEncodingTarget = "modeling.position_encoding.PositionEmbeddingSine";
const std::string kMemoryAttentionTarget = "modeling.memory_attention.MemoryAttention";
const std::string kMemoryAttentionLayerTarget = "modeling.memory_attention.MemoryAttentionLayer";
const std::string kRoPEAttentionTarget = "modeling.sam.transformer.RoPEAttention";
const std::string kMemoryEncoderTarget = "modeling.memory_encoder.MemoryEncoder";
const std::string kMaskDownSamplerTarget = "modeling.memory_encoder.MaskDownSampler";
const std::string kFuserTarget = "modeling.memory_encoder.Fuser";
const std::string kCXBlockTarget = "modeling.memory_encoder.CXBlock";

bool target_matches(const std::string& target, const std::string& class_path) {
  if (target == class_path) return true;
  return target.size() > class_path.size() &&
         target.compare(target.size() - class_path.size(), class_path.size(), class_path) == 0 &&
         target[target.size() - class_path.size() - 1] == '.';
}

using Read = std::function<void(const YAML::Node& value, const std::string& path)>;

struct Key {
  std::string name;
  bool required;
  Read read;
};

Key opt(std::string name, Read read) { return {std::move(name), false, std::move(read)}; }
Key req(std::string name, Read read) { return {std::move(name), true, std::move(read)}; }

// Reads values with the types the official constructors expect, refusing anything else with the
// origin, the dotted key and the line in the message.
class Reader {
 public:
  explicit Reader(std::string origin) : origin_(std::move(origin)) {}

  [[noreturn]] void fail(const YAML::Node& at, const std::string& path, const std::string& what) const {
    std::string msg = origin_ + ": " + path + ": " + what;
    if (at.IsDefined() && at.Mark().line >= 0) msg += " (line " + std::to_string(at.Mark().line + 1) + ")";
    throw std::invalid_argument(msg);
  }

  // The text of a plain (unquoted, untagged) scalar; nullopt for quoted or tagged strings.
  std::optional<std::string> plain(const YAML::Node& n, const std::string& path, const char* expected) const {
    if (!n.IsScalar()) fail(n, path, std::string("expected ") + expected + ", got " + kind(n));
    const std::string& s = n.Scalar();
    if (s.rfind("${", 0) == 0) fail(n, path, "interpolations (${...}) are not supported; write the value itself");
    if (n.Tag() == "!" || n.Tag() == "tag:yaml.org,2002:str") return std::nullopt;
    return s;
  }

  int64_t integer(const YAML::Node& n, const std::string& path) const {
    auto s = plain(n, path, "an integer");
    static const std::regex re("[-+]?[0-9]+");
    int64_t v = 0;
    if (s && std::regex_match(*s, re)) {
      const char* b = s->data() + (s->front() == '+' ? 1 : 0);
      auto [end, ec] = std::from_chars(b, s->data() + s->size(), v);
      if (ec == std::errc() && end == s->data() + s->size()) return v;
    }
    fail(n, path, "expected an integer, got " + describe_scalar(n));
  }

  double number(const YAML::Node& n, const std::string& path) const {
    auto s = plain(n, path, "a number");
    // Decimal forms only (YAML's .inf / .nan are no sensible values here); 1e-6 is accepted, as
    // OmegaConf does.
    static const std::regex re("[-+]?([0-9]+\\.?[0-9]*|\\.[0-9]+)([eE][-+]?[0-9]+)?");
    if (s && std::regex_match(*s, re)) {
      try {
        size_t used = 0;
        double v = std::stod(*s, &used);
        if (used == s->size()) return v;
      } catch (const std::exception&) {
      }
    }
    fail(n, path, "expected a number, got " + describe_scalar(n));
  }

  bool boolean(const YAML::Node& n, const std::string& path) const {
    auto s = plain(n, path, "true or false");
    // The YAML 1.1 booleans that OmegaConf's loader accepts.
    static const std::set<std::string> yes = {"true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON"};
    static const std::set<std::string> no = {"false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF"};
    if (s && yes.count(*s)) return true;
    if (s && no.count(*s)) return false;
    fail(n, path, "expected true or false, got " + describe_scalar(n));
  }

  std::string text(const YAML::Node& n, const std::string& path) const {
    plain(n, path, "a string");
    return n.Scalar();
  }

  std::vector<int64_t> integers(const YAML::Node& n, const std::string& path) const {
    if (!n.IsSequence()) fail(n, path, "expected a list of integers, got " + kind(n));
    std::vector<int64_t> v;
    for (size_t i = 0; i < n.size(); ++i) v.push_back(integer(n[i], path + "[" + std::to_string(i) + "]"));
    return v;
  }

  std::array<int64_t, 2> pair(const YAML::Node& n, const std::string& path) const {
    auto v = integers(n, path);
    if (v.size() != 2) fail(n, path, "expected a list of 2 integers, got " + std::to_string(v.size()));
    return {v[0], v[1]};
  }

  Read into(int64_t& f) const {
    return [this, &f](const YAML::Node& n, const std::string& p) { f = integer(n, p); };
  }
  Read into(double& f) const {
    return [this, &f](const YAML::Node& n, const std::string& p) { f = number(n, p); };
  }
  Read into(bool& f) const {
    return [this, &f](const YAML::Node& n, const std::string& p) { f = boolean(n, p); };
  }
  Read into(std::string& f) const {
    return [this, &f](const YAML::Node& n, const std::string& p) { f = text(n, p); };
  }
  Read into(std::vector<int64_t>& f) const {
    return [this, &f](const YAML::Node& n, const std::string& p) { f = integers(n, p); };
  }
  Read into(std::array<int64_t, 2>& f) const {
    return [this, &f](const YAML::Node& n, const std::string& p) { f = pair(n, p); };
  }
  // `null` gives nullopt (the official None).
  Read into(std::optional<int64_t>& f) const {
    return [this, &f](const YAML::Node& n, const std::string& p) {
      if (n.IsNull()) {
        f.reset();
      } else {
        f = integer(n, p);
      }
    };
  }
  // Accepted for compatibility, without effect here; the value must still have the right type.
  Read ignored_bool() const {
    return [this](const YAML::Node& n, const std::string& p) { boolean(n, p); };
  }
  Read ignored_int() const {
    return [this](const YAML::Node& n, const std::string& p) { integer(n, p); };
  }
  Read ignored_number() const {
    return [this](const YAML::Node& n, const std::string& p) { number(n, p); };
  }
  Read ignored_integers() const {
    return [this](const YAML::Node& n, const std::string& p) { integers(n, p); };
  }

  // A mapping whose `_target_` must name one of `targets` (an empty list: a plain dict, where
  // `_target_` is an unknown key), with the given keys; `target_optional` for the model, whose
  // target the video predictor builder replaces anyway.
  void section(const YAML::Node& node, const std::string& path, const std::vector<std::string>& targets,
               const std::vector<Key>& keys, bool target_optional = false) const {
    if (!node.IsMap()) {
      fail(node, path, "expected a mapping" + (targets.empty() ? "" : " with _target_: " + targets.front()) +
                           ", got " + kind(node));
    }
    std::set<std::string> seen;
    bool has_target = false;
    for (auto it = node.begin(); it != node.end(); ++it) {
      if (!it->first.IsScalar()) fail(it->first, path, "keys must be plain names");
      const std::string name = it->first.Scalar();
      const std::string key_path = path + "." + name;
      if (!seen.insert(name).second) fail(it->first, key_path, "duplicate key");
      if (name == "_target_" && !targets.empty()) {
        const std::string target = text(it->second, key_path);
        bool ok = false;
        for (const auto& t : targets) ok = ok || target_matches(target, t);
        if (!ok) {
          std::string expected;
          for (const auto& t : targets) expected += (expected.empty() ? "" : " or ") + t;
          fail(it->second, key_path, "unknown class '" + target + "' (expected " + expected + ")");
        }
        has_target = true;
        continue;
      }
      auto k = std::find_if(keys.begin(), keys.end(), [&](const Key& key) { return key.name == name; });
      if (k == keys.end()) fail(it->first, key_path, "unknown key");
      k->read(it->second, key_path);
    }
    if (!targets.empty() && !has_target && !target_optional) {
      fail(node, path, "missing _target_ (expected " + targets.front() + ")");
    }
    for (const auto& k : keys) {
      if (k.required && !seen.count(k.name)) fail(node, path, "missing required key '" + k.name + "'");
    }
  }

 private:
  static std::string kind(const YAML::Node& n) {
    switch (n.Type()) {
      case YAML::NodeType::Null: return "null";
      case YAML::NodeType::Scalar: return "'" + n.Scalar() + "'";
      case YAML::NodeType::Sequence: return "a list";
      case YAML::NodeType::Map: return "a mapping";
      default: return "nothing";
    }
  }
  static std::string describe_scalar(const YAML::Node& n) {
    if (n.Tag() == "!" || n.Tag() == "tag:yaml.org,2002:str") return "the string '" + n.Scalar() + "'";
    return kind(n);
  }

  std::string origin_;
};

// Each reader starts from its class's constructor defaults, as hydra instantiates each
// `_target_` afresh.
class ModelReader {
 public:
  explicit ModelReader(const Reader& r) : r_(r) {}

  void position_encoding(const YAML::Node& n, const std::string& path, int64_t& num_pos_feats, double& temperature,
                         bool& normalize, double& scale) const {
    temperature = 10000.0;
    normalize = true;
    std::optional<double> given_scale;
    r_.section(n, path, {kPositionEncodingTarget},
               {req("num_pos_feats", r_.into(num_pos_feats)),
                opt("temperature", r_.into(temperature)),
                opt("normalize", r_.into(normalize)),
                opt("scale",
                    [&](const YAML::Node& v, const std::string& p) {
                      if (v.IsNull()) {
                        given_scale.reset();
                      } else {
                        given_scale = r_.number(v, p);
                        if (*given_scale <= 0) r_.fail(v, p, "must be > 0 (null: 2*pi)");
                      }
                    }),
                // Only warm up a CUDA cache in the official code.
                opt("warmup_cache", r_.ignored_bool()), opt("image_size", r_.ignored_int()),
                opt("strides", r_.ignored_integers())});
    if (num_pos_feats % 2 != 0) r_.fail(n, path + ".num_pos_feats", "must be even");
    if (given_scale && !normalize) r_.fail(n, path + ".scale", "a scale needs normalize: true");
    scale = given_scale.value_or(0.0);
  }

  void trunk(const YAML::Node& n, const std::string& path, hiera::HieraConfig& c) const {
    c = hiera_constructor_defaults();
    r_.section(n, path, {kHieraTarget},
               {opt("embed_dim", r_.into(c.embed_dim)), opt("num_heads", r_.into(c.num_heads)),
                opt("drop_path_rate", r_.into(c.drop_path_rate)), opt("q_pool", r_.into(c.q_pool)),
                opt("q_stride", r_.into(c.q_stride)), opt("stages", r_.into(c.stages)),
                opt("dim_mul", r_.into(c.dim_mul)), opt("head_mul", r_.into(c.head_mul)),
                opt("window_pos_embed_bkg_spatial_size", r_.into(c.window_pos_embed_bkg_spatial_size)),
                opt("window_spec", r_.into(c.window_spec)), opt("global_att_blocks", r_.into(c.global_att_blocks)),
                opt("return_interm_layers", r_.into(c.return_interm_layers)),
                opt("weights_path", [&](const YAML::Node& v, const std::string& p) {
                  if (!v.IsNull()) r_.fail(v, p, "trunk weights are loaded from the model checkpoint; must be null");
                })});
  }

  void neck(const YAML::Node& n, const std::string& path, FpnNeckConfig& c) const {
    c = fpn_neck_constructor_defaults();
    std::optional<std::vector<int64_t>> top_down;
    r_.section(n, path, {kFpnNeckTarget},
               {req("position_encoding",
                    [&](const YAML::Node& v, const std::string& p) {
                      position_encoding(v, p, c.pos_num_pos_feats, c.pos_temperature, c.pos_normalize, c.pos_scale);
                    }),
                req("d_model", r_.into(c.d_model)), req("backbone_channel_list", r_.into(c.backbone_channel_list)),
                opt("kernel_size", r_.into(c.kernel_size)), opt("stride", r_.into(c.stride)),
                opt("padding", r_.into(c.padding)), opt("fpn_interp_model", r_.into(c.fpn_interp_model)),
                opt("fuse_type", r_.into(c.fuse_type)),
                opt("fpn_top_down_levels", [&](const YAML::Node& v, const std::string& p) {
                  if (v.IsNull()) {
                    top_down.reset();
                  } else {
                    top_down = r_.integers(v, p);
                  }
                })});
    if (top_down) {
      c.fpn_top_down_levels = *top_down;
    } else {  // None: top-down features on every level
      c.fpn_top_down_levels.clear();
      for (size_t i = 0; i < c.backbone_channel_list.size(); ++i) c.fpn_top_down_levels.push_back(int64_t(i));
    }
  }

  void image_encoder(const YAML::Node& n, const std::string& path, ImageEncoderConfig& c) const {
    c.scalp = 0;
    r_.section(n, path, {kImageEncoderTarget},
               {req("trunk", [&](const YAML::Node& v, const std::string& p) { trunk(v, p, c.trunk); }),
                req("neck", [&](const YAML::Node& v, const std::string& p) { neck(v, p, c.neck); }),
                opt("scalp", r_.into(c.scalp))});
  }

  void rope_attention(const YAML::Node& n, const std::string& path, RoPEAttentionConfig& c) const {
    c = rope_attention_constructor_defaults();
    r_.section(n, path, {kRoPEAttentionTarget},
               {req("embedding_dim", r_.into(c.embedding_dim)), req("num_heads", r_.into(c.num_heads)),
                opt("downsample_rate", r_.into(c.downsample_rate)), opt("dropout", r_.into(c.dropout)),
                opt("kv_in_dim", r_.into(c.kv_in_dim)), opt("rope_theta", r_.into(c.rope_theta)),
                opt("rope_k_repeat", r_.into(c.rope_k_repeat)), opt("feat_sizes", r_.into(c.feat_sizes))});
  }

  void memory_attention_layer(const YAML::Node& n, const std::string& path, MemoryAttentionLayerConfig& c) const {
    auto attention = [&](RoPEAttentionConfig& a) {
      return [&](const YAML::Node& v, const std::string& p) { rope_attention(v, p, a); };
    };
    // Every argument of the official MemoryAttentionLayer is required.
    r_.section(n, path, {kMemoryAttentionLayerTarget},
               {req("activation",
                    [&](const YAML::Node& v, const std::string& p) {
                      c.activation = r_.text(v, p);
                      if (c.activation != "relu" && c.activation != "gelu") {
                        r_.fail(v, p, "unsupported activation '" + c.activation + "' (relu or gelu)");
                      }
                    }),
                req("cross_attention", attention(c.cross_attention)), req("d_model", r_.into(c.d_model)),
                req("dim_feedforward", r_.into(c.dim_feedforward)), req("dropout", r_.into(c.dropout)),
                req("pos_enc_at_attn", r_.into(c.pos_enc_at_attn)),
                req("pos_enc_at_cross_attn_keys", r_.into(c.pos_enc_at_cross_attn_keys)),
                req("pos_enc_at_cross_attn_queries", r_.into(c.pos_enc_at_cross_attn_queries)),
                req("self_attention", attention(c.self_attention))});
  }

  void memory_attention(const YAML::Node& n, const std::string& path, MemoryAttentionConfig& c) const {
    c.batch_first = true;
    r_.section(n, path, {kMemoryAttentionTarget},
               {req("d_model", r_.into(c.d_model)), req("pos_enc_at_input", r_.into(c.pos_enc_at_input)),
                req("layer", [&](const YAML::Node& v, const std::string& p) { memory_attention_layer(v, p, c.layer); }),
                req("num_layers", r_.into(c.num_layers)), opt("batch_first", r_.into(c.batch_first))});
  }

  void mask_downsampler(const YAML::Node& n, const std::string& path, MaskDownSamplerConfig& c) const {
    c = mask_downsampler_constructor_defaults();
    r_.section(n, path, {kMaskDownSamplerTarget},
               {opt("embed_dim", r_.into(c.embed_dim)), opt("kernel_size", r_.into(c.kernel_size)),
                opt("stride", r_.into(c.stride)), opt("padding", r_.into(c.padding)),
                opt("total_stride", r_.into(c.total_stride))});
  }

  void cx_block(const YAML::Node& n, const std::string& path, CXBlockConfig& c) const {
    c = cx_block_constructor_defaults();
    r_.section(n, path, {kCXBlockTarget},
               {req("dim", r_.into(c.dim)), opt("kernel_size", r_.into(c.kernel_size)),
                opt("padding", r_.into(c.padding)),
                // Stochastic depth acts only in training.
                opt("drop_path", r_.ignored_number()),
                opt("layer_scale_init_value", r_.into(c.layer_scale_init_value)),
                opt("use_dwconv", r_.into(c.use_dwconv))});
  }

  void fuser(const YAML::Node& n, const std::string& path, FuserConfig& c) const {
    c.input_projection = false;
    std::optional<int64_t> dim;
    r_.section(n, path, {kFuserTarget},
               {req("layer", [&](const YAML::Node& v, const std::string& p) { cx_block(v, p, c.layer); }),
                req("num_layers", r_.into(c.num_layers)), opt("dim", r_.into(dim)),
                opt("input_projection", r_.into(c.input_projection))});
    if (c.input_projection && !dim) r_.fail(n, path + ".dim", "input_projection needs dim");
    c.dim = dim.value_or(c.layer.dim);  // None: unused without the input projection
  }

  void memory_encoder(const YAML::Node& n, const std::string& path, MemoryEncoderConfig& c) const {
    c.in_dim = 256;
    r_.section(n, path, {kMemoryEncoderTarget},
               {req("out_dim", r_.into(c.out_dim)),
                req("mask_downsampler",
                    [&](const YAML::Node& v, const std::string& p) { mask_downsampler(v, p, c.mask_downsampler); }),
                req("fuser", [&](const YAML::Node& v, const std::string& p) { fuser(v, p, c.fuser); }),
                req("position_encoding",
                    [&](const YAML::Node& v, const std::string& p) {
                      position_encoding(v, p, c.pos_num_pos_feats, c.pos_temperature, c.pos_normalize, c.pos_scale);
                    }),
                opt("in_dim", r_.into(c.in_dim))});
  }

  void mask_decoder_extra_args(const YAML::Node& n, const std::string& path, SamHeadsConfig& h) const {
    if (n.IsNull()) return;
    r_.section(n, path, {},
               {opt("dynamic_multimask_via_stability", r_.into(h.dynamic_multimask_via_stability)),
                opt("dynamic_multimask_stability_delta", r_.into(h.dynamic_multimask_stability_delta)),
                opt("dynamic_multimask_stability_thresh", r_.into(h.dynamic_multimask_stability_thresh)),
                opt("num_multimask_outputs", r_.into(h.num_multimask_outputs)),
                opt("iou_head_depth", r_.into(h.iou_head_depth)),
                opt("iou_head_hidden_dim", r_.into(h.iou_head_hidden_dim))});
  }

  void model(const YAML::Node& n, const std::string& path, Sam2Config& c) const {
    SamHeadsConfig& h = c.heads;
    auto sub = [&](auto member, auto& field) {
      return [this, member, &field](const YAML::Node& v, const std::string& p) { (this->*member)(v, p, field); };
    };
    r_.section(
        n, path, kModelTargets,
        {req("image_encoder", sub(&ModelReader::image_encoder, c.image_encoder)),
         req("memory_attention", sub(&ModelReader::memory_attention, c.memory_attention)),
         req("memory_encoder", sub(&ModelReader::memory_encoder, c.memory_encoder)),
         opt("num_maskmem", r_.into(c.num_maskmem)),
         opt("image_size", r_.into(h.image_size)),
         opt("backbone_stride", r_.into(h.backbone_stride)),
         opt("sigmoid_scale_for_mem_enc", r_.into(c.sigmoid_scale_for_mem_enc)),
         opt("sigmoid_bias_for_mem_enc", r_.into(c.sigmoid_bias_for_mem_enc)),
         opt("binarize_mask_from_pts_for_mem_enc", r_.into(c.binarize_mask_from_pts_for_mem_enc)),
         opt("use_mask_input_as_output_without_sam", r_.into(c.use_mask_input_as_output_without_sam)),
         opt("max_cond_frames_in_attn", r_.into(c.max_cond_frames_in_attn)),
         opt("directly_add_no_mem_embed", r_.into(c.directly_add_no_mem_embed)),
         opt("use_high_res_features_in_sam", r_.into(h.use_high_res_features_in_sam)),
         opt("multimask_output_in_sam", r_.into(h.multimask_output_in_sam)),
         opt("multimask_min_pt_num", r_.into(h.multimask_min_pt_num)),
         opt("multimask_max_pt_num", r_.into(h.multimask_max_pt_num)),
         opt("multimask_output_for_tracking", r_.into(h.multimask_output_for_tracking)),
         opt("use_multimask_token_for_obj_ptr", r_.into(h.use_multimask_token_for_obj_ptr)),
         opt("iou_prediction_use_sigmoid", r_.into(h.iou_prediction_use_sigmoid)),
         opt("memory_temporal_stride_for_eval", r_.into(c.memory_temporal_stride_for_eval)),
         opt("non_overlap_masks_for_mem_enc", r_.into(c.non_overlap_masks_for_mem_enc)),
         opt("use_obj_ptrs_in_encoder", r_.into(h.use_obj_ptrs_in_encoder)),
         opt("max_obj_ptrs_in_encoder", r_.into(c.max_obj_ptrs_in_encoder)),
         opt("add_tpos_enc_to_obj_ptrs", r_.into(c.add_tpos_enc_to_obj_ptrs)),
         opt("proj_tpos_enc_in_obj_ptrs", r_.into(c.proj_tpos_enc_in_obj_ptrs)),
         opt("use_signed_tpos_enc_to_obj_ptrs", r_.into(c.use_signed_tpos_enc_to_obj_ptrs)),
         opt("only_obj_ptrs_in_the_past_for_eval", r_.into(c.only_obj_ptrs_in_the_past_for_eval)),
         opt("pred_obj_scores", r_.into(h.pred_obj_scores)),
         opt("pred_obj_scores_mlp", r_.into(h.pred_obj_scores_mlp)),
         opt("fixed_no_obj_ptr", r_.into(h.fixed_no_obj_ptr)),
         opt("soft_no_obj_ptr", r_.into(h.soft_no_obj_ptr)),
         opt("use_mlp_for_obj_ptr_proj", r_.into(h.use_mlp_for_obj_ptr_proj)),
         opt("no_obj_embed_spatial", r_.into(c.no_obj_embed_spatial)),
         opt("sam_mask_decoder_extra_args", sub(&ModelReader::mask_decoder_extra_args, h)),
         opt("compile_image_encoder", r_.into(c.compile_image_encoder)),
         // SAM2VideoPredictor; build_sam2_video_predictor makes every model one.
         opt("fill_hole_area", r_.into(c.fill_hole_area)),
         opt("non_overlap_masks", r_.into(c.non_overlap_masks)),
         opt("clear_non_cond_mem_around_input", r_.into(c.clear_non_cond_mem_around_input)),
         opt("add_all_frames_to_correct_as_cond", r_.into(c.add_all_frames_to_correct_as_cond))},
        /*target_optional=*/true);
    h.hidden_dim = c.image_encoder.neck.d_model;  // SAM2Base: image_encoder.neck.d_model
  }

 private:
  const Reader& r_;
};

// ---------------------------------------------------------------------------------------------
// Presets

struct PresetName {
  bool v2_1;
  std::string size;  // t, s, b+, l
};

const char* const kPresetNames[] = {"sam2_hiera_t",   "sam2_hiera_s",   "sam2_hiera_b+",   "sam2_hiera_l",
                                    "sam2.1_hiera_t", "sam2.1_hiera_s", "sam2.1_hiera_b+", "sam2.1_hiera_l"};

std::string basename_of(const std::string& path) {
  const size_t slash = path.find_last_of("/\\");
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::optional<std::string> size_code(const std::string& s) {
  if (s == "t" || s == "tiny") return "t";
  if (s == "s" || s == "small") return "s";
  if (s == "b+" || s == "base_plus") return "b+";
  if (s == "l" || s == "large") return "l";
  return std::nullopt;
}

// "sam2.1_hiera_t", "configs/sam2.1/sam2.1_hiera_t.yaml", "sam2.1_hiera_tiny.pt", ...
std::optional<PresetName> parse_preset_name(const std::string& name) {
  std::string base = basename_of(name);
  for (const char* ext : {".yaml", ".yml", ".pt", ".pth", ".safetensors"}) {
    const std::string e = ext;
    if (base.size() > e.size() && base.compare(base.size() - e.size(), e.size(), e) == 0) {
      base.resize(base.size() - e.size());
      break;
    }
  }
  for (auto [prefix, v2_1] : {std::pair<std::string, bool>{"sam2.1_hiera_", true}, {"sam2_hiera_", false}}) {
    if (base.rfind(prefix, 0) == 0) {
      if (auto size = size_code(base.substr(prefix.size()))) return PresetName{v2_1, *size};
    }
  }
  return std::nullopt;
}

Sam2Config make_preset(const PresetName& p) {
  Sam2Config c;  // the SAM 2.1 values; the configs differ only in the trunk and the neck's channels
  c.name = std::string(p.v2_1 ? "sam2.1" : "sam2") + "_hiera_" + p.size;
  c.image_encoder = sam2_image_encoder_preset(p.size);
  if (!p.v2_1) {
    // The SAM 2 configs leave these at the constructor defaults, except add_tpos_enc_to_obj_ptrs
    // which they switch off.
    c.add_tpos_enc_to_obj_ptrs = false;
    c.proj_tpos_enc_in_obj_ptrs = false;
    c.use_signed_tpos_enc_to_obj_ptrs = false;
    c.no_obj_embed_spatial = false;
  }
  return c;
}

void apply_video_predictor_postprocessing(Sam2Config& c) {
  c.heads.dynamic_multimask_via_stability = true;
  c.heads.dynamic_multimask_stability_delta = 0.05;
  c.heads.dynamic_multimask_stability_thresh = 0.98;
  c.binarize_mask_from_pts_for_mem_enc = true;
  c.fill_hole_area = 8;
}

Sam2Config micro_config(bool v2_1) {
  Sam2Config c;
  c.name = v2_1 ? "sam2.1_micro" : "sam2_micro";
  c.image_encoder = v2_1 ? sam2_1_micro_image_encoder() : sam2_micro_image_encoder();
  c.memory_attention = v2_1 ? sam2_1_micro_memory_attention() : sam2_micro_memory_attention();
  c.memory_encoder = v2_1 ? sam2_1_micro_memory_encoder() : sam2_micro_memory_encoder();
  c.heads.hidden_dim = c.image_encoder.neck.d_model;
  c.heads.image_size = 256;
  if (!v2_1) {  // the flags of sam2_hiera_l.yaml
    c.add_tpos_enc_to_obj_ptrs = false;
    c.proj_tpos_enc_in_obj_ptrs = false;
    c.use_signed_tpos_enc_to_obj_ptrs = false;
    c.no_obj_embed_spatial = false;
  }
  return c;
}

// ---------------------------------------------------------------------------------------------
// Validation

class Checker {
 public:
  explicit Checker(const std::string& name) : prefix_((name.empty() ? std::string("Sam2Config") : name) + ": ") {}

  [[noreturn]] void fail(const std::string& what) const { throw std::invalid_argument(prefix_ + what); }

  void same(const std::string& a, int64_t va, const std::string& b, int64_t vb) const {
    if (va != vb) fail(a + " (" + str(va) + ") differs from " + b + " (" + str(vb) + ")");
  }
  void positive(const std::string& a, int64_t v) const {
    if (v < 1) fail(a + " must be positive, got " + str(v));
  }
  void at_least(const std::string& a, int64_t v, int64_t min) const {
    if (v < min) fail(a + " must be >= " + str(min) + ", got " + str(v));
  }

 private:
  std::string prefix_;
};

void check_rope(const Checker& k, const std::string& path, const RoPEAttentionConfig& a) {
  k.positive(path + ".embedding_dim", a.embedding_dim);
  k.positive(path + ".num_heads", a.num_heads);
  k.positive(path + ".downsample_rate", a.downsample_rate);
  if (a.embedding_dim % a.downsample_rate != 0 || (a.embedding_dim / a.downsample_rate) % a.num_heads != 0) {
    k.fail(path + ": num_heads (" + str(a.num_heads) + ") must divide embedding_dim / downsample_rate (" +
           str(a.embedding_dim) + " / " + str(a.downsample_rate) + ")");
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------

void Sam2Config::validate() const {
  const Checker k(name);
  const auto& trunk = image_encoder.trunk;
  const auto& neck = image_encoder.neck;

  hiera::HieraLayout layout;
  try {
    layout = hiera::hiera_layout(trunk);
  } catch (const std::invalid_argument& e) {
    k.fail(std::string("image_encoder.trunk: ") + e.what());
  }
  if (layout.channel_list != neck.backbone_channel_list) {
    k.fail("image_encoder.neck.backbone_channel_list " + list_str(neck.backbone_channel_list) +
           " differs from the trunk's stage dims " + list_str(layout.channel_list));
  }
  const int64_t levels = static_cast<int64_t>(neck.backbone_channel_list.size());
  if (image_encoder.scalp < 0 || image_encoder.scalp >= levels) {
    k.fail("image_encoder.scalp (" + str(image_encoder.scalp) + ") must keep at least one of the " + str(levels) +
           " feature levels");
  }
  const int64_t kept = levels - image_encoder.scalp;
  if (heads.use_high_res_features_in_sam && kept < 3) {
    k.fail("use_high_res_features_in_sam needs 3 feature levels after the scalp, got " + str(kept));
  }
  for (int64_t l : neck.fpn_top_down_levels) {
    if (l < 0 || l >= levels) {
      k.fail("image_encoder.neck.fpn_top_down_levels " + list_str(neck.fpn_top_down_levels) + " must be in [0, " +
             str(levels) + ")");
    }
  }
  if (neck.fuse_type != "sum" && neck.fuse_type != "avg") {
    k.fail("image_encoder.neck.fuse_type must be sum or avg, got '" + neck.fuse_type + "'");
  }
  k.same("image_encoder.neck.position_encoding.num_pos_feats", neck.pos_num_pos_feats, "image_encoder.neck.d_model",
         neck.d_model);

  // The feature the heads and the memory work on: the last kept level, at stride 4 (patch embedding)
  // times q_stride per pooled stage before it.
  const int64_t last_stage = trunk.return_interm_layers ? kept - 1 : static_cast<int64_t>(trunk.stages.size()) - 1;
  const int64_t pooled = std::min(last_stage, trunk.q_pool);
  for (int64_t q : trunk.q_stride) {
    int64_t stride = 4;
    for (int64_t i = 0; i < pooled; ++i) stride *= q;
    if (stride != heads.backbone_stride) {
      k.fail("backbone_stride (" + str(heads.backbone_stride) + ") differs from the stride of the image encoder's "
             "last kept level (" + str(stride) + ")");
    }
  }
  k.positive("image_size", heads.image_size);
  k.positive("backbone_stride", heads.backbone_stride);
  if (heads.image_size % heads.backbone_stride != 0) {
    k.fail("image_size (" + str(heads.image_size) + ") is not a multiple of backbone_stride (" +
           str(heads.backbone_stride) + ")");
  }

  k.same("heads.hidden_dim", heads.hidden_dim, "image_encoder.neck.d_model", neck.d_model);
  k.same("memory_attention.d_model", memory_attention.d_model, "image_encoder.neck.d_model", neck.d_model);
  k.same("memory_attention.layer.d_model", memory_attention.layer.d_model, "memory_attention.d_model",
         memory_attention.d_model);
  const auto& sa = memory_attention.layer.self_attention;
  const auto& ca = memory_attention.layer.cross_attention;
  check_rope(k, "memory_attention.layer.self_attention", sa);
  check_rope(k, "memory_attention.layer.cross_attention", ca);
  k.same("memory_attention.layer.self_attention.embedding_dim", sa.embedding_dim, "memory_attention.d_model",
         memory_attention.d_model);
  k.same("memory_attention.layer.self_attention.kv_in_dim", sa.kv_in_dim.value_or(sa.embedding_dim),
         "memory_attention.d_model", memory_attention.d_model);
  k.same("memory_attention.layer.cross_attention.embedding_dim", ca.embedding_dim, "memory_attention.d_model",
         memory_attention.d_model);
  k.same("memory_attention.layer.cross_attention.kv_in_dim", ca.kv_in_dim.value_or(ca.embedding_dim),
         "memory_encoder.out_dim", memory_encoder.out_dim);
  k.positive("memory_attention.num_layers", memory_attention.num_layers);
  k.positive("memory_attention.layer.dim_feedforward", memory_attention.layer.dim_feedforward);
  const auto& act = memory_attention.layer.activation;
  if (act != "relu" && act != "gelu") k.fail("memory_attention.layer.activation must be relu or gelu, got '" + act + "'");

  k.same("memory_encoder.in_dim", memory_encoder.in_dim, "image_encoder.neck.d_model", neck.d_model);
  k.same("memory_encoder.mask_downsampler.embed_dim", memory_encoder.mask_downsampler.embed_dim,
         "memory_encoder.in_dim", memory_encoder.in_dim);
  k.same("memory_encoder.fuser.layer.dim", memory_encoder.fuser.layer.dim, "memory_encoder.in_dim",
         memory_encoder.in_dim);
  k.same("memory_encoder.position_encoding.num_pos_feats", memory_encoder.pos_num_pos_feats,
         "memory_encoder.out_dim", memory_encoder.out_dim);
  k.same("memory_encoder.mask_downsampler.total_stride", memory_encoder.mask_downsampler.total_stride,
         "backbone_stride", heads.backbone_stride);
  k.positive("memory_encoder.out_dim", memory_encoder.out_dim);
  if (heads.use_obj_ptrs_in_encoder && mem_dim() < hidden_dim() && hidden_dim() % mem_dim() != 0) {
    k.fail("the object pointer (hidden dim " + str(hidden_dim()) + ") cannot be split into memory tokens of dim " +
           str(mem_dim()));
  }

  if (proj_tpos_enc_in_obj_ptrs && !add_tpos_enc_to_obj_ptrs) {
    k.fail("proj_tpos_enc_in_obj_ptrs needs add_tpos_enc_to_obj_ptrs");
  }
  if (heads.fixed_no_obj_ptr && !(heads.pred_obj_scores && heads.use_obj_ptrs_in_encoder)) {
    k.fail("fixed_no_obj_ptr needs pred_obj_scores and use_obj_ptrs_in_encoder");
  }
  k.at_least("num_maskmem", num_maskmem, 0);
  k.positive("memory_temporal_stride_for_eval", memory_temporal_stride_for_eval);
  k.at_least("max_obj_ptrs_in_encoder", max_obj_ptrs_in_encoder, 0);
  k.at_least("fill_hole_area", fill_hole_area, 0);
}

Sam2Config sam2_constructor_defaults() {
  Sam2Config c;
  c.name = "constructor defaults";
  // The sub-modules are required arguments of SAM2Base: those of the default Sam2Config stand in.
  c.heads = heads_constructor_defaults();
  c.heads.hidden_dim = c.image_encoder.neck.d_model;
  c.num_maskmem = 7;
  c.sigmoid_scale_for_mem_enc = 1.0;
  c.sigmoid_bias_for_mem_enc = 0.0;
  c.binarize_mask_from_pts_for_mem_enc = false;
  c.use_mask_input_as_output_without_sam = false;
  c.max_cond_frames_in_attn = -1;
  c.directly_add_no_mem_embed = false;
  c.memory_temporal_stride_for_eval = 1;
  c.non_overlap_masks_for_mem_enc = false;
  c.max_obj_ptrs_in_encoder = 16;
  c.add_tpos_enc_to_obj_ptrs = true;
  c.proj_tpos_enc_in_obj_ptrs = false;
  c.use_signed_tpos_enc_to_obj_ptrs = false;
  c.only_obj_ptrs_in_the_past_for_eval = false;
  c.no_obj_embed_spatial = false;
  c.compile_image_encoder = false;
  c.fill_hole_area = 0;
  c.non_overlap_masks = false;
  c.clear_non_cond_mem_around_input = false;
  c.add_all_frames_to_correct_as_cond = false;
  return c;
}

std::vector<std::string> sam2_preset_names() { return {std::begin(kPresetNames), std::end(kPresetNames)}; }

bool is_sam2_preset(const std::string& name) { return parse_preset_name(name).has_value(); }

Sam2Config sam2_preset(const std::string& name) {
  auto p = parse_preset_name(name);
  if (!p) {
    std::string known;
    for (const char* n : kPresetNames) known += (known.empty() ? "" : ", ") + std::string(n);
    throw std::invalid_argument("sam2_preset: unknown name '" + name + "' (known: " + known +
                                "; also their config paths such as configs/sam2.1/sam2.1_hiera_t.yaml and checkpoint "
                                "names such as sam2.1_hiera_tiny.pt)");
  }
  return make_preset(*p);
}

std::string sam2_preset_for_checkpoint(const std::string& checkpoint_path) {
  std::string base = basename_of(checkpoint_path);
  std::transform(base.begin(), base.end(), base.begin(), [](unsigned char ch) {
    return ch == '-' ? '_' : static_cast<char>(std::tolower(ch));
  });
  // Longer size names first, so that "small" is not read as "s".
  static const char* const sizes[] = {"base_plus", "large", "small", "tiny", "b+", "t", "s", "l"};
  for (auto [prefix, version] : {std::pair<std::string, std::string>{"sam2.1_hiera_", "sam2.1"}, {"sam2_hiera_", "sam2"}}) {
    for (size_t at = base.find(prefix); at != std::string::npos; at = base.find(prefix, at + 1)) {
      const size_t from = at + prefix.size();
      for (const char* size : sizes) {
        const std::string s = size;
        if (base.compare(from, s.size(), s) != 0) continue;
        const size_t end = from + s.size();
        if (end < base.size() && (std::isalnum(static_cast<unsigned char>(base[end])) || base[end] == '+')) continue;
        return version + "_hiera_" + *size_code(s);
      }
    }
  }
  return "";
}

Sam2Config parse_sam2_yaml(const std::string& text, const std::string& origin, bool apply_postprocessing) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw std::invalid_argument(origin + ": invalid YAML at line " + std::to_string(e.mark.line + 1) + ", column " +
                                std::to_string(e.mark.column + 1) + ": " + e.msg);
  }
  // Other top-level groups of a hydra config (trainer, scratch, dataset, ...) do not describe the
  // model and are not read.
  if (!root.IsMap() || !root["model"]) {
    const bool training = root.IsMap() && root["trainer"].IsMap() && root["trainer"]["model"];
    throw std::invalid_argument(origin + ": no `model:` section" +
                                (training ? " (the trainer.model of a training config is not read)" : ""));
  }
  const Reader reader(origin);
  Sam2Config c = sam2_constructor_defaults();
  c.name = origin;
  ModelReader(reader).model(root["model"], "model", c);
  if (apply_postprocessing) apply_video_predictor_postprocessing(c);
  c.validate();
  return c;
}

Sam2Config load_sam2_yaml(const std::string& path, bool apply_postprocessing) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    throw std::runtime_error("load_sam2_yaml: no such file: " + path);
  }
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  if (!in && !in.eof()) throw std::runtime_error("load_sam2_yaml: cannot read " + path);
  return parse_sam2_yaml(text.str(), path, apply_postprocessing);
}

Sam2Config sam2_config(const std::string& name_or_path) {
  std::error_code ec;
  // A file of that name wins, so that an edited copy of an official config is read as it is.
  if (std::filesystem::is_regular_file(name_or_path, ec)) return load_sam2_yaml(name_or_path);
  if (is_sam2_preset(name_or_path)) return sam2_preset(name_or_path);
  std::string known;
  for (const char* n : kPresetNames) known += (known.empty() ? "" : ", ") + std::string(n);
  throw std::invalid_argument("sam2_config: '" + name_or_path + "' is neither a file nor a preset (" + known + ")");
}

Sam2Config sam2_micro_config() { return micro_config(false); }
Sam2Config sam2_1_micro_config() { return micro_config(true); }

// ---------------------------------------------------------------------------------------------

// A field added to any of the config structs belongs here too: the tests compare configs by this.
std::string describe(const Sam2Config& c) {
  std::ostringstream o;
  auto line = [&](const std::string& key, const std::string& value) { o << key << ": " << value << "\n"; };
  auto pos = [&](const std::string& p, int64_t feats, double temperature, bool normalize, double scale) {
    line(p + ".num_pos_feats", str(feats));
    line(p + ".temperature", str(temperature));
    line(p + ".normalize", str(normalize));
    line(p + ".scale", scale > 0 ? str(scale) : "null");
  };
  auto rope = [&](const std::string& p, const RoPEAttentionConfig& a) {
    line(p + ".embedding_dim", str(a.embedding_dim));
    line(p + ".num_heads", str(a.num_heads));
    line(p + ".downsample_rate", str(a.downsample_rate));
    line(p + ".dropout", str(a.dropout));
    line(p + ".kv_in_dim", a.kv_in_dim ? str(*a.kv_in_dim) : "null");
    line(p + ".rope_theta", str(a.rope_theta));
    line(p + ".rope_k_repeat", str(a.rope_k_repeat));
    line(p + ".feat_sizes", list_str(a.feat_sizes));
  };

  line("name", c.name);
  const auto& t = c.image_encoder.trunk;
  const std::string tp = "image_encoder.trunk";
  line(tp + ".embed_dim", str(t.embed_dim));
  line(tp + ".num_heads", str(t.num_heads));
  line(tp + ".drop_path_rate", str(t.drop_path_rate));
  line(tp + ".q_pool", str(t.q_pool));
  line(tp + ".q_stride", list_str(t.q_stride));
  line(tp + ".stages", list_str(t.stages));
  line(tp + ".dim_mul", str(t.dim_mul));
  line(tp + ".head_mul", str(t.head_mul));
  line(tp + ".window_pos_embed_bkg_spatial_size", list_str(t.window_pos_embed_bkg_spatial_size));
  line(tp + ".window_spec", list_str(t.window_spec));
  line(tp + ".global_att_blocks", list_str(t.global_att_blocks));
  line(tp + ".return_interm_layers", str(t.return_interm_layers));
  const auto& n = c.image_encoder.neck;
  const std::string np = "image_encoder.neck";
  line(np + ".d_model", str(n.d_model));
  line(np + ".backbone_channel_list", list_str(n.backbone_channel_list));
  line(np + ".kernel_size", str(n.kernel_size));
  line(np + ".stride", str(n.stride));
  line(np + ".padding", str(n.padding));
  line(np + ".fpn_interp_model", n.fpn_interp_model);
  line(np + ".fuse_type", n.fuse_type);
  line(np + ".fpn_top_down_levels", list_str(n.fpn_top_down_levels));
  pos(np + ".position_encoding", n.pos_num_pos_feats, n.pos_temperature, n.pos_normalize, n.pos_scale);
  line("image_encoder.scalp", str(c.image_encoder.scalp));

  const auto& ma = c.memory_attention;
  line("memory_attention.d_model", str(ma.d_model));
  line("memory_attention.pos_enc_at_input", str(ma.pos_enc_at_input));
  line("memory_attention.num_layers", str(ma.num_layers));
  line("memory_attention.batch_first", str(ma.batch_first));
  const std::string lp = "memory_attention.layer";
  line(lp + ".activation", ma.layer.activation);
  line(lp + ".d_model", str(ma.layer.d_model));
  line(lp + ".dim_feedforward", str(ma.layer.dim_feedforward));
  line(lp + ".dropout", str(ma.layer.dropout));
  line(lp + ".pos_enc_at_attn", str(ma.layer.pos_enc_at_attn));
  line(lp + ".pos_enc_at_cross_attn_keys", str(ma.layer.pos_enc_at_cross_attn_keys));
  line(lp + ".pos_enc_at_cross_attn_queries", str(ma.layer.pos_enc_at_cross_attn_queries));
  rope(lp + ".self_attention", ma.layer.self_attention);
  rope(lp + ".cross_attention", ma.layer.cross_attention);

  const auto& me = c.memory_encoder;
  line("memory_encoder.out_dim", str(me.out_dim));
  line("memory_encoder.in_dim", str(me.in_dim));
  const auto& md = me.mask_downsampler;
  line("memory_encoder.mask_downsampler.embed_dim", str(md.embed_dim));
  line("memory_encoder.mask_downsampler.kernel_size", str(md.kernel_size));
  line("memory_encoder.mask_downsampler.stride", str(md.stride));
  line("memory_encoder.mask_downsampler.padding", str(md.padding));
  line("memory_encoder.mask_downsampler.total_stride", str(md.total_stride));
  const auto& fu = me.fuser;
  line("memory_encoder.fuser.num_layers", str(fu.num_layers));
  line("memory_encoder.fuser.input_projection", str(fu.input_projection));
  line("memory_encoder.fuser.dim", str(fu.dim));
  line("memory_encoder.fuser.layer.dim", str(fu.layer.dim));
  line("memory_encoder.fuser.layer.kernel_size", str(fu.layer.kernel_size));
  line("memory_encoder.fuser.layer.padding", str(fu.layer.padding));
  line("memory_encoder.fuser.layer.layer_scale_init_value", str(fu.layer.layer_scale_init_value));
  line("memory_encoder.fuser.layer.use_dwconv", str(fu.layer.use_dwconv));
  pos("memory_encoder.position_encoding", me.pos_num_pos_feats, me.pos_temperature, me.pos_normalize, me.pos_scale);

  const auto& h = c.heads;
  line("heads.hidden_dim", str(h.hidden_dim));
  line("heads.image_size", str(h.image_size));
  line("heads.backbone_stride", str(h.backbone_stride));
  line("heads.use_high_res_features_in_sam", str(h.use_high_res_features_in_sam));
  line("heads.iou_prediction_use_sigmoid", str(h.iou_prediction_use_sigmoid));
  line("heads.pred_obj_scores", str(h.pred_obj_scores));
  line("heads.pred_obj_scores_mlp", str(h.pred_obj_scores_mlp));
  line("heads.use_multimask_token_for_obj_ptr", str(h.use_multimask_token_for_obj_ptr));
  line("heads.dynamic_multimask_via_stability", str(h.dynamic_multimask_via_stability));
  line("heads.dynamic_multimask_stability_delta", str(h.dynamic_multimask_stability_delta));
  line("heads.dynamic_multimask_stability_thresh", str(h.dynamic_multimask_stability_thresh));
  line("heads.use_obj_ptrs_in_encoder", str(h.use_obj_ptrs_in_encoder));
  line("heads.use_mlp_for_obj_ptr_proj", str(h.use_mlp_for_obj_ptr_proj));
  line("heads.fixed_no_obj_ptr", str(h.fixed_no_obj_ptr));
  line("heads.soft_no_obj_ptr", str(h.soft_no_obj_ptr));
  line("heads.multimask_output_in_sam", str(h.multimask_output_in_sam));
  line("heads.multimask_output_for_tracking", str(h.multimask_output_for_tracking));
  line("heads.multimask_min_pt_num", str(h.multimask_min_pt_num));
  line("heads.multimask_max_pt_num", str(h.multimask_max_pt_num));
  line("heads.mask_in_chans", str(h.mask_in_chans));
  line("heads.num_multimask_outputs", str(h.num_multimask_outputs));
  line("heads.transformer_depth", str(h.transformer_depth));
  line("heads.transformer_num_heads", str(h.transformer_num_heads));
  line("heads.transformer_mlp_dim", str(h.transformer_mlp_dim));
  line("heads.attention_downsample_rate", str(h.attention_downsample_rate));
  line("heads.iou_head_depth", str(h.iou_head_depth));
  line("heads.iou_head_hidden_dim", str(h.iou_head_hidden_dim));

  line("num_maskmem", str(c.num_maskmem));
  line("sigmoid_scale_for_mem_enc", str(c.sigmoid_scale_for_mem_enc));
  line("sigmoid_bias_for_mem_enc", str(c.sigmoid_bias_for_mem_enc));
  line("binarize_mask_from_pts_for_mem_enc", str(c.binarize_mask_from_pts_for_mem_enc));
  line("use_mask_input_as_output_without_sam", str(c.use_mask_input_as_output_without_sam));
  line("max_cond_frames_in_attn", str(c.max_cond_frames_in_attn));
  line("directly_add_no_mem_embed", str(c.directly_add_no_mem_embed));
  line("memory_temporal_stride_for_eval", str(c.memory_temporal_stride_for_eval));
  line("non_overlap_masks_for_mem_enc", str(c.non_overlap_masks_for_mem_enc));
  line("max_obj_ptrs_in_encoder", str(c.max_obj_ptrs_in_encoder));
  line("add_tpos_enc_to_obj_ptrs", str(c.add_tpos_enc_to_obj_ptrs));
  line("proj_tpos_enc_in_obj_ptrs", str(c.proj_tpos_enc_in_obj_ptrs));
  line("use_signed_tpos_enc_to_obj_ptrs", str(c.use_signed_tpos_enc_to_obj_ptrs));
  line("only_obj_ptrs_in_the_past_for_eval", str(c.only_obj_ptrs_in_the_past_for_eval));
  line("no_obj_embed_spatial", str(c.no_obj_embed_spatial));
  line("compile_image_encoder", str(c.compile_image_encoder));
  line("fill_hole_area", str(c.fill_hole_area));
  line("non_overlap_masks", str(c.non_overlap_masks));
  line("clear_non_cond_mem_around_input", str(c.clear_non_cond_mem_around_input));
  line("add_all_frames_to_correct_as_cond", str(c.add_all_frames_to_correct_as_cond));
  return o.str();
}

}  // namespace rvos::sam2
