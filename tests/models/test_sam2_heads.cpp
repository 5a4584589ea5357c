// SAM 2 prompt encoder, mask decoder and _forward_sam_heads against the official
// implementation's outputs on the micro golden sets (shared/golden/<set>, stage c):
// tests/data/<set>/checkpoint.pt holds the weights, tests/data/<set>/sam_heads.safetensors
// the stage-c inputs and outputs plus the high-resolution features.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "io/checkpoint.h"
#include "io/safetensors.h"
#include "models/sam2/sam_heads.h"
#include "nn/conv.h"
#include "nn/linear.h"
#include "nn/mlp.h"
#include "testing.h"

using namespace rvos;
using namespace rvos::sam2;

namespace {

struct GoldenSet {
  std::string name;
  int64_t hidden_dim;
  // The mask token every stage-c case outputs. The README's "Discrete decisions" give
  // it as the argmax position among tokens 1..3 (0-based), i.e. this minus 1.
  int64_t expected_token;
  // Tolerances of the README's table (atol; rtol 1e-4 everywhere).
  std::map<std::string, double> atol;
};

const std::vector<GoldenSet>& golden_sets() {
  static const std::vector<GoldenSet> sets = {
      {"sam2_micro", 48, 3,
       {{"points", 1e-4}, {"points_multimask", 1e-4}, {"click1", 1e-4}, {"box", 1e-4}, {"refine", 5e-4},
        {"mask", 1e-4}}},
      {"sam2.1_micro", 32, 2,
       {{"points", 1e-4}, {"points_multimask", 1e-4}, {"click1", 2e-4}, {"box", 1e-4}, {"refine", 2e-4},
        {"mask", 1e-4}}},
  };
  return sets;
}
constexpr double kRtol = 1e-4;

const char* kHeadPrefixes[] = {"sam_prompt_encoder.", "sam_mask_decoder.", "obj_ptr_proj."};

bool is_head_key(const std::string& k) {
  if (k == "no_obj_ptr") return true;
  return std::any_of(std::begin(kHeadPrefixes), std::end(kHeadPrefixes),
                     [&](const char* p) { return k.rfind(p, 0) == 0; });
}

std::string data_path(const GoldenSet& s, const std::string& file) {
  return rvos::testing::test_data_dir() + "/" + s.name + "/" + file;
}

// The micro configs: every flag as in the official YAMLs (the SamHeadsConfig defaults),
// hidden size from the set, image 256 (16 x 16 features).
SamHeadsConfig micro_config(const GoldenSet& s) {
  SamHeadsConfig c;
  c.hidden_dim = s.hidden_dim;
  c.image_size = 256;
  c.backbone_stride = 16;
  return c;
}

// Golden tensors of one set, and the weights, read once.
struct Golden {
  std::map<std::string, Tensor> t;
  io::StateDict checkpoint;
  const Tensor& operator[](const std::string& k) const {
    auto it = t.find(k);
    if (it == t.end()) throw std::runtime_error("golden tensor missing: " + k);
    return it->second;
  }
};

const Golden& golden(const GoldenSet& s) {
  static std::map<std::string, Golden> cache;
  auto it = cache.find(s.name);
  if (it != cache.end()) return it->second;
  Golden g;
  for (auto& [k, v] : io::read_safetensors(data_path(s, "sam_heads.safetensors")).tensors) g.t[k] = v;
  g.checkpoint = io::read_state_dict(data_path(s, "checkpoint.pt"));
  return cache.emplace(s.name, std::move(g)).first->second;
}

io::StateDict head_entries(const Golden& g) {
  io::StateDict sd;
  for (const auto& [k, v] : g.checkpoint) {
    if (is_head_key(k)) sd.emplace_back(k, v);
  }
  return sd;
}

std::shared_ptr<SamHeads> load_heads(const GoldenSet& s, const SamHeadsConfig& config) {
  auto heads = std::make_shared<SamHeads>(config);
  heads->load_state_dict(head_entries(golden(s)), /*strict=*/true);
  heads->eval();
  return heads;
}

// Worst error per case, reported at the end of each case.
struct CaseReport {
  CaseReport(std::string label_, double atol_) : label(std::move(label_)), atol(atol_) {}
  std::string label;
  double atol;
  double worst = 0;
  std::string worst_name;

  void check(const std::string& name, const Tensor& actual, const Tensor& expected, double tol = -1) {
    const double t = tol < 0 ? atol : tol;
    INFO(label << " " << name);
    REQUIRE(actual.defined());
    REQUIRE(actual.shape() == expected.shape());
    const Tensor a = rvos::to(actual, DType::F64), e = rvos::to(expected, DType::F64);
    const double err = testing::max_abs_diff(a, e);
    if (err > worst) {
      worst = err;
      worst_name = name;
    }
    CHECK_CLOSE(a, e, t, kRtol);
  }
  ~CaseReport() {
    std::printf("  %-28s max abs error %.3g (%s), atol %.0e + rtol %.0e\n", label.c_str(), worst,
                worst_name.c_str(), atol, kRtol);
  }
};

int64_t argmax_of(const Tensor& t) { return argmax(flatten(t), 0).item<int64_t>(); }

// The token the official run selected, from the golden values alone.
int64_t golden_selected_token(const Golden& g, const std::string& c, bool multimask, double thresh) {
  if (multimask) return 1 + argmax_of(g["c." + c + ".ious"]);
  if (g["c." + c + ".stability_score"].item<double>() >= thresh) return 0;
  return 1 + argmax_of(narrow(g["c." + c + ".decoder.all_iou"], 1, 1, 3));
}

struct PointCase {
  std::string name;
  bool has_mask_input = false;
};

void run_point_case(const GoldenSet& s, const PointCase& pc) {
  const Golden& g = golden(s);
  const SamHeadsConfig config = micro_config(s);
  auto heads = load_heads(s, config);
  const std::string p = "c." + pc.name + ".";
  const Tensor coords = g[p + "point_coords"], labels = g[p + "point_labels"];
  const std::vector<Tensor> high_res = {g["b.backbone_fpn0_conv_s0"], g["b.backbone_fpn1_conv_s1"]};

  // points_multimask forces multimask output; the others follow SAM2Base._use_multimask
  // on an initial conditioning frame.
  const bool multimask = pc.name == "points_multimask" || config.use_multimask(true, coords.size(1));
  CHECK(multimask == (pc.name == "points_multimask" || pc.name == "click1"));

  NoGradGuard no_grad;
  const Tensor mask_inputs = pc.has_mask_input ? g[p + "mask_inputs"] : Tensor();
  const SamHeadsOutput out =
      heads->forward(g["c.pix_feat_with_mem"], coords, labels, mask_inputs, high_res, multimask);

  CaseReport r{s.name + " " + pc.name, s.atol.at(pc.name)};
  r.check("sparse_embeddings", out.prompt.sparse, g[p + "sparse_embeddings"]);
  r.check("dense_embeddings", out.prompt.dense, g[p + "dense_embeddings"]);
  r.check("decoder.all_masks", out.decoder.all.masks, g[p + "decoder.all_masks"]);
  r.check("decoder.all_iou", out.decoder.all.iou_pred, g[p + "decoder.all_iou"]);
  r.check("decoder.mask_tokens_out", out.decoder.all.mask_tokens_out, g[p + "decoder.mask_tokens_out"]);
  r.check("object_score_logits", out.object_score_logits, g[p + "object_score_logits"]);
  r.check("low_res_multimasks", out.low_res_multimasks, g[p + "low_res_multimasks"]);
  r.check("ious", out.ious, g[p + "ious"]);
  r.check("low_res_masks", out.low_res_masks, g[p + "low_res_masks"]);
  r.check("obj_ptr", out.obj_ptr, g[p + "obj_ptr"]);
  r.check("sam_output_token", out.sam_output_token, g[p + "sam_output_token"]);
  if (g.t.count(p + "high_res_masks")) r.check("high_res_masks", out.high_res_masks, g[p + "high_res_masks"]);
  if (!multimask) r.check("stability_score", out.decoder.stability_scores, g[p + "stability_score"]);

  // Discrete decisions: the object is present and the same mask token is chosen.
  CHECK(g[p + "object_score_logits"].item<double>() > 0);
  CHECK(out.is_obj_appearing.item<bool>());
  const int64_t expected = golden_selected_token(g, pc.name, multimask, config.dynamic_multimask_stability_thresh);
  CHECK(expected == s.expected_token);
  CHECK(out.selected_token.item<int64_t>() == expected);
  // The single-mask path keeps token 0 for the pointer even after the fallback.
  if (!multimask) {
    CHECK(testing::max_abs_diff(out.sam_output_token, select(out.decoder.all.mask_tokens_out, 1, 0)) == 0);
  }

  if (pc.name == "box") {
    // The same box through the prompt encoder's boxes argument (no padding point).
    const Tensor box = reshape(coords, {1, 4});
    const PromptEmbeddings via_boxes = heads->sam_prompt_encoder->forward(Tensor(), Tensor(), box, Tensor());
    r.check("sparse_embeddings_via_boxes_arg", via_boxes.sparse, g[p + "sparse_embeddings_via_boxes_arg"]);
  }
}

}  // namespace

TEST_CASE("sam2 heads: module structure and checkpoint keys") {
  for (const GoldenSet& s : golden_sets()) {
    INFO(s.name);
    const Golden& g = golden(s);
    SamHeads heads(micro_config(s));
    // Every head entry of the checkpoint has a slot and every slot an entry, in the
    // checkpoint's order.
    std::vector<std::string> expected_keys, keys;
    for (const auto& [k, v] : head_entries(g)) expected_keys.push_back(k);
    for (const auto& [k, v] : heads.state_dict()) keys.push_back(k);
    CHECK(keys == expected_keys);
    const nn::LoadReport report = heads.load_state_dict(head_entries(g), /*strict=*/false);
    INFO(report.str());
    CHECK(report.ok());
  }

  // The real configs: C = 256, fixed sizes of SAM2Base._build_sam_heads.
  SamHeads real{SamHeadsConfig{}};
  std::map<std::string, Shape> shapes;
  for (const auto& [k, v] : real.state_dict()) shapes[k] = v.shape();
  CHECK(shapes.at("sam_prompt_encoder.pe_layer.positional_encoding_gaussian_matrix") == Shape{2, 128});
  CHECK(shapes.at("sam_prompt_encoder.mask_downscaling.3.weight") == Shape{16, 4, 2, 2});
  CHECK(shapes.at("sam_prompt_encoder.mask_downscaling.6.weight") == Shape{256, 16, 1, 1});
  CHECK(shapes.at("sam_mask_decoder.transformer.layers.1.cross_attn_image_to_token.q_proj.weight") == Shape{128, 256});
  CHECK(shapes.at("sam_mask_decoder.transformer.layers.0.mlp.layers.0.weight") == Shape{2048, 256});
  CHECK(shapes.at("sam_mask_decoder.transformer.final_attn_token_to_image.out_proj.weight") == Shape{256, 128});
  CHECK(shapes.at("sam_mask_decoder.output_upscaling.0.weight") == Shape{256, 64, 2, 2});
  CHECK(shapes.at("sam_mask_decoder.output_upscaling.3.weight") == Shape{64, 32, 2, 2});
  CHECK(shapes.at("sam_mask_decoder.conv_s0.weight") == Shape{32, 256, 1, 1});
  CHECK(shapes.at("sam_mask_decoder.conv_s1.weight") == Shape{64, 256, 1, 1});
  CHECK(shapes.at("sam_mask_decoder.output_hypernetworks_mlps.3.layers.2.weight") == Shape{32, 256});
  CHECK(shapes.at("sam_mask_decoder.iou_prediction_head.layers.2.weight") == Shape{4, 256});
  CHECK(shapes.at("sam_mask_decoder.pred_obj_score_head.layers.2.weight") == Shape{1, 256});
  CHECK(shapes.at("obj_ptr_proj.layers.2.weight") == Shape{256, 256});
  CHECK(shapes.at("no_obj_ptr") == Shape{1, 256});
}

TEST_CASE("sam2 heads: dense PE and conv_s1 against the image side") {
  for (const GoldenSet& s : golden_sets()) {
    const Golden& g = golden(s);
    auto heads = load_heads(s, micro_config(s));
    NoGradGuard no_grad;
    CaseReport r{s.name + " shared inputs", 1e-4};
    r.check("image_pe", heads->sam_prompt_encoder->get_dense_pe(), g["c.image_pe"]);
    r.check("conv_s1(neck.level1)", heads->sam_mask_decoder->conv_s1->forward(g["b.neck.level1"]),
            g["b.backbone_fpn1_conv_s1"]);
  }
}

TEST_CASE("sam2 heads: point, box and refinement prompts match the official _forward_sam_heads") {
  for (const GoldenSet& s : golden_sets()) {
    for (const PointCase& pc : std::vector<PointCase>{
             {"points"}, {"points_multimask"}, {"click1"}, {"box"}, {"refine", /*has_mask_input=*/true}}) {
      run_point_case(s, pc);
    }
  }
}

TEST_CASE("sam2 heads: the refinement mask prompt is the clamped previous output") {
  for (const GoldenSet& s : golden_sets()) {
    const Golden& g = golden(s);
    // add_new_points_or_box feeds the previous low-res logits clamped to +-32.
    CaseReport r{s.name + " refine input", s.atol.at("points")};
    r.check("mask_inputs", clamp(g["c.points.low_res_masks"], -32.0, 32.0), g["c.refine.mask_inputs"]);
  }
}

TEST_CASE("sam2 heads: mask prompt used as output (SAM2Base._use_mask_as_output)") {
  for (const GoldenSet& s : golden_sets()) {
    const Golden& g = golden(s);
    const SamHeadsConfig config = micro_config(s);
    auto heads = load_heads(s, config);
    nn::Conv2d mask_downsample(1, 1, 4, 4);
    mask_downsample.load_state_dict(io::map_keys(g.checkpoint, {"mask_downsample.", "", ""}));
    const std::vector<Tensor> high_res = {g["b.backbone_fpn0_conv_s0"], g["b.backbone_fpn1_conv_s1"]};
    const Tensor mask_u8 = g["c.mask.input_u8"];

    NoGradGuard no_grad;
    const SamHeadsOutput out =
        use_mask_as_output(heads->modules(), config, mask_downsample, g["c.pix_feat_with_mem"], high_res, mask_u8);

    CaseReport r{s.name + " mask", s.atol.at("mask")};
    r.check("mask_downsample_out", mask_downsample.forward(rvos::to(mask_u8, DType::F32)),
            g["c.mask.mask_downsample_out"]);
    r.check("dense_embeddings", out.prompt.dense, g["c.mask.dense_embeddings"]);
    r.check("decoder.all_masks", out.decoder.all.masks, g["c.mask.decoder.all_masks"]);
    r.check("decoder.all_iou", out.decoder.all.iou_pred, g["c.mask.decoder.all_iou"]);
    r.check("decoder.object_score_logits", out.decoder.object_score_logits, g["c.mask.decoder.object_score_logits"]);
    r.check("low_res_masks", out.low_res_masks, g["c.mask.low_res_masks"]);
    r.check("obj_ptr", out.obj_ptr, g["c.mask.obj_ptr"]);
    r.check("object_score_logits", out.object_score_logits, g["c.mask.object_score_logits"], 0.0);
    // High-res output is the mask itself as +-10 logits; IoU is a dummy 1.
    r.check("high_res_masks", out.high_res_masks, add(mul(rvos::to(mask_u8, DType::F32), 20.0), -10.0), 0.0);
    r.check("ious", out.ious, ones({1, 1}), 0.0);
    CHECK(g["c.mask.decoder.object_score_logits"].item<double>() > 0);
    CHECK(out.decoder.object_score_logits.item<double>() > 0);
    CHECK(out.is_obj_appearing.item<bool>());
  }
}

TEST_CASE("sam2 heads: stable token 0 is kept, absent objects are gated") {
  const GoldenSet& s = golden_sets()[0];
  const Golden& g = golden(s);
  const std::vector<Tensor> high_res = {g["b.backbone_fpn0_conv_s0"], g["b.backbone_fpn1_conv_s1"]};
  const Tensor feat = g["c.pix_feat_with_mem"];
  const Tensor coords = g["c.points.point_coords"], labels = g["c.points.point_labels"];
  NoGradGuard no_grad;

  SUBCASE("a threshold every mask passes keeps token 0's mask and IoU") {
    SamHeadsConfig config = micro_config(s);
    config.dynamic_multimask_stability_thresh = 0.0;
    const SamHeadsOutput out = load_heads(s, config)->forward(feat, coords, labels, Tensor(), high_res, false);
    CHECK(out.selected_token.item<int64_t>() == 0);
    CHECK(testing::max_abs_diff(out.low_res_masks, narrow(g["c.points.decoder.all_masks"], 1, 0, 1)) < 1e-4);
    CHECK(testing::max_abs_diff(out.ious, narrow(g["c.points.decoder.all_iou"], 1, 0, 1)) < 1e-5);
    CHECK(testing::max_abs_diff(out.obj_ptr, g["c.points.obj_ptr"]) < 1e-4);
  }

  SUBCASE("a negative object score sets every logit to -1024 and the pointer to no_obj_ptr") {
    for (const bool soft : {false, true}) {
      SamHeadsConfig config = micro_config(s);
      config.soft_no_obj_ptr = soft;
      auto heads = load_heads(s, config);
      // Push the object score below zero through the last bias of its head.
      auto head = std::static_pointer_cast<nn::MLP>(heads->sam_mask_decoder->pred_obj_score_head);
      const Tensor bias = head->layers->at<nn::Linear>(2)->bias;
      copy_(bias, add(bias, -50.0));
      const SamHeadsOutput out = heads->forward(feat, coords, labels, Tensor(), high_res, false);
      const double score = out.object_score_logits.item<double>();
      CHECK(score == doctest::Approx(g["c.points.object_score_logits"].item<double>() - 50.0).epsilon(1e-5));
      CHECK_FALSE(out.is_obj_appearing.item<bool>());
      CHECK(amax(abs(add(out.low_res_multimasks, 1024.0))).item<double>() == 0);
      CHECK(amax(abs(add(out.high_res_masks, 1024.0))).item<double>() == 0);
      // Hard gate: exactly no_obj_ptr; soft gate: sigmoid(score) * ptr + (1 - sigmoid(score)) * no_obj_ptr.
      const Tensor proj = heads->obj_ptr_proj->forward(out.sam_output_token);
      const double lambda = soft ? 1.0 / (1.0 + std::exp(-score)) : 0.0;
      const Tensor expected = add(mul(proj, lambda), mul(heads->no_obj_ptr, 1.0 - lambda));
      CHECK(testing::max_abs_diff(out.obj_ptr, expected) < 1e-6);
    }
  }
}

TEST_CASE("sam2 heads: a batch of prompt sets gives each set's own result") {
  for (const GoldenSet& s : golden_sets()) {
    INFO(s.name);
    const Golden& g = golden(s);
    auto heads = load_heads(s, micro_config(s));
    // The points and box cases (two clicks each, single-mask output) as a batch of 2
    // over the same image, with multimask output and without.
    const Tensor coords = cat({g["c.points.point_coords"], g["c.box.point_coords"]}, 0);
    const Tensor labels = cat({g["c.points.point_labels"], g["c.box.point_labels"]}, 0);
    auto twice = [](const Tensor& t) { return expand(t, {2, -1, -1, -1}); };
    const std::vector<Tensor> high_res = {twice(g["b.backbone_fpn0_conv_s0"]), twice(g["b.backbone_fpn1_conv_s1"])};
    NoGradGuard no_grad;
    for (const bool multimask : {false, true}) {
      const SamHeadsOutput out =
          heads->forward(twice(g["c.pix_feat_with_mem"]), coords, labels, Tensor(), high_res, multimask);
      const char* cases[] = {"points", "box"};
      for (int64_t i = 0; i < 2; ++i) {
        const std::string p = std::string("c.") + cases[i] + ".";
        CaseReport r{s.name + " batch " + cases[i] + (multimask ? " mm" : ""), s.atol.at(cases[i])};
        r.check("decoder.all_masks", select(out.decoder.all.masks, 0, i), select(g[p + "decoder.all_masks"], 0, 0));
        r.check("object_score_logits", select(out.object_score_logits, 0, i),
                select(g[p + "object_score_logits"], 0, 0));
        if (!multimask) {
          r.check("low_res_masks", select(out.low_res_masks, 0, i), select(g[p + "low_res_masks"], 0, 0));
          r.check("ious", select(out.ious, 0, i), select(g[p + "ious"], 0, 0));
          r.check("obj_ptr", select(out.obj_ptr, 0, i), select(g[p + "obj_ptr"], 0, 0));
          CHECK(out.selected_token.size(0) == 2);
          CHECK(select(out.selected_token, 0, i).item<int64_t>() == s.expected_token);
        } else {
          // Multimask: the best of tokens 1..3 by IoU, with its token for the pointer.
          const Tensor all_iou = select(g[p + "decoder.all_iou"], 0, 0);
          const int64_t best = 1 + argmax_of(narrow(all_iou, 0, 1, 3));
          CHECK(select(out.selected_token, 0, i).item<int64_t>() == best);
          r.check("low_res_masks", select(out.low_res_masks, 0, i),
                  narrow(select(g[p + "decoder.all_masks"], 0, 0), 0, best, 1));
          r.check("sam_output_token", select(out.sam_output_token, 0, i),
                  select(select(g[p + "decoder.mask_tokens_out"], 0, 0), 0, best));
        }
      }
    }
  }
}
