// SAM 2 memory encoder, axial RoPE and memory attention against the official outputs of the micro golden sets
// (tests/data/<set>/memory.safetensors, extracted from shared/golden/<set>/io.safetensors, stage "d. Memory
// encoder" / "d. Memory attention"), plus RoPE and attention against naive formulas.
#include <cmath>
#include <complex>
#include <map>
#include <string>
#include <vector>

#include "io/checkpoint.h"
#include "io/safetensors.h"
#include "io/state_dict.h"
#include "models/sam2/memory_attention.h"
#include "models/sam2/memory_encoder.h"
#include "models/sam2/rope.h"
#include "testing.h"

using namespace rvos;
using namespace rvos::sam2;
using rvos::testing::random;

namespace {

std::string data_file(const std::string& set, const std::string& file) {
  return rvos::testing::test_data_dir() + "/" + set + "/" + file;
}

Tensor find(const io::StateDict& sd, const std::string& name) {
  for (const auto& [k, t] : sd) {
    if (k == name) return t;
  }
  FAIL("missing tensor " << name);
  return Tensor();
}

// Tolerances of the golden READMEs' table (float32 implementation), each with rtol 1e-4.
struct Tolerances {
  double memory_encoder, rope, memory_attention;
};
constexpr double kRtol = 1e-4;

void check_golden(const std::string& name, const Tensor& actual, const io::StateDict& golden, double atol) {
  const Tensor expected = find(golden, name);
  REQUIRE(actual.shape() == expected.shape());
  MESSAGE(name << ": max abs error " << testing::max_abs_diff(actual, expected) << " (atol " << atol << ")");
  INFO(name);
  CHECK_CLOSE(actual, expected, atol, kRtol);
}

// Loads `prefix` of the checkpoint strictly, after checking that the module has the same keys in the same order.
void load_part(nn::Module& module, const io::StateDict& checkpoint, const std::string& prefix) {
  const io::StateDict weights = io::select_prefix(checkpoint, prefix);
  REQUIRE(!weights.empty());
  std::vector<std::string> ours, theirs;
  for (const auto& [k, t] : module.state_dict()) ours.push_back(k);
  for (const auto& [k, t] : weights) theirs.push_back(k);
  CHECK(ours == theirs);
  const nn::LoadReport report = module.load_state_dict(weights, /*strict=*/true);
  REQUIRE_MESSAGE(report.ok(), report.str());
}

void run_memory_encoder(const std::string& set, const MemoryEncoderConfig& config, const io::StateDict& checkpoint,
                        const io::StateDict& golden, double atol, bool sam2_1) {
  auto encoder = std::make_shared<MemoryEncoder>(config);
  encoder->eval();
  load_part(*encoder, checkpoint, "memory_encoder.");
  Tensor no_obj_embed_spatial;
  if (sam2_1) no_obj_embed_spatial = find(checkpoint, "no_obj_embed_spatial");

  NoGradGuard no_grad;
  const Tensor pix_feat = find(golden, "d.pix_feat");
  const Tensor logits = find(golden, "c.points.high_res_masks");
  struct Path {
    std::string name;
    bool binarize;
  };
  std::vector<Path> paths = {{"d.memenc_sigmoid", false}, {"d.memenc_binarized", true}};
  if (sam2_1) paths.push_back({"d.memenc_no_object", false});
  for (const Path& p : paths) {
    CAPTURE(set);
    CAPTURE(p.name);
    const Tensor mask = mask_for_memory(logits, p.binarize);
    const Tensor downsampled = encoder->mask_downsampler->forward(mask);
    check_golden(p.name + ".mask_downsampler_out", downsampled, golden, atol);
    const Tensor fused = encoder->fuser->forward(add(encoder->pix_feat_proj->forward(pix_feat), downsampled));
    check_golden(p.name + ".fuser_out", fused, golden, atol);

    const MemoryEncoderOutput out = encoder->forward(pix_feat, mask, /*skip_mask_sigmoid=*/true);
    REQUIRE(out.vision_pos_enc.size() == 1);
    Tensor features = out.vision_features;
    if (sam2_1) {
      const Tensor score = find(golden, p.name + ".object_score_logits");
      features = add_no_obj_embed_spatial(features, score, no_obj_embed_spatial);
      // The embedding is added exactly when the object is absent.
      const bool absent = score.item<float>() <= 0.0f;
      CHECK((testing::max_abs_diff(features, out.vision_features) > 1e-3) == absent);
    }
    check_golden(p.name + ".maskmem_features", features, golden, atol);
    check_golden("d.maskmem_pos_enc", out.vision_pos_enc[0], golden, atol);
    // The module's own forward runs the same steps as the ones above.
    CHECK(testing::max_abs_diff(encoder->out_proj->forward(fused), out.vision_features) == 0.0);
  }
  // Without skip_mask_sigmoid the encoder applies the sigmoid itself (x20 - 10 are then the caller's business).
  const MemoryEncoderOutput own = encoder->forward(pix_feat, logits);
  const MemoryEncoderOutput manual = encoder->forward(pix_feat, sigmoid(logits), /*skip_mask_sigmoid=*/true);
  CHECK(testing::max_abs_diff(own.vision_features, manual.vision_features) == 0.0);
}

void run_memory_attention(const std::string& set, const MemoryAttentionConfig& config,
                          const io::StateDict& checkpoint, const io::StateDict& golden, const Tolerances& tol) {
  auto attention = std::make_shared<MemoryAttention>(config);
  attention->eval();
  load_part(*attention, checkpoint, "memory_attention.");

  NoGradGuard no_grad;
  // The RoPE table of the 16 x 16 grid, as the module builds it and as the free function does.
  const int64_t head_dim = config.d_model / config.layer.self_attention.num_heads;
  const Tensor curr = find(golden, "d.memattn.curr");
  check_golden("d.rope.freqs_cis", compute_axial_cis(head_dim, 16, 16), golden, tol.rope);
  check_golden("d.rope.freqs_cis", attention->layer(0)->self_attn->freqs_cis(curr.size(0)), golden, tol.rope);
  check_golden("d.rope.freqs_cis", attention->layer(1)->cross_attn_image->freqs_cis(curr.size(0)), golden, tol.rope);

  const Tensor memory = find(golden, "d.memattn.memory");
  const int64_t num_obj_ptr_tokens = find(golden, "d.memattn.num_obj_ptr_tokens").item<int64_t>();
  MESSAGE(set << ": " << memory.size(0) << " memory tokens, of which " << num_obj_ptr_tokens << " object pointers");
  CHECK(num_obj_ptr_tokens > 0);
  CHECK((memory.size(0) - num_obj_ptr_tokens) % curr.size(0) == 0);
  const Tensor out = attention->forward(curr, memory, find(golden, "d.memattn.curr_pos"),
                                        find(golden, "d.memattn.memory_pos"), num_obj_ptr_tokens);
  check_golden("d.memattn.out", out, golden, tol.memory_attention);

  // Blocked queries (bounded score memory) give the same result, up to the summation order of the products.
  for (const auto& l : *attention->layers) {
    auto layer = std::dynamic_pointer_cast<MemoryAttentionLayer>(l);
    layer->self_attn->max_score_elements = 1000;
    layer->cross_attn_image->max_score_elements = 3000;
  }
  const Tensor blocked = attention->forward(curr, memory, find(golden, "d.memattn.curr_pos"),
                                            find(golden, "d.memattn.memory_pos"), num_obj_ptr_tokens);
  CHECK_CLOSE(blocked, out, 1e-5, 1e-5);
}

void run_golden_set(const std::string& set, const MemoryEncoderConfig& encoder_config,
                    const MemoryAttentionConfig& attention_config, const Tolerances& tol, bool sam2_1) {
  const io::StateDict checkpoint = io::read_state_dict(data_file(set, "checkpoint.pt"));
  const io::StateDict golden = io::read_safetensors(data_file(set, "memory.safetensors")).tensors;
  SUBCASE("memory encoder") { run_memory_encoder(set, encoder_config, checkpoint, golden, tol.memory_encoder, sam2_1); }
  SUBCASE("memory attention") { run_memory_attention(set, attention_config, checkpoint, golden, tol); }
}

// Naive rotation of x [L, D] (float64): pair j of token t times cs[t][j] = (cos, sin) as a complex product.
std::vector<double> naive_rotate(const std::vector<double>& x, int64_t L, int64_t D, const std::vector<double>& cs) {
  std::vector<double> out(x.size());
  for (int64_t t = 0; t < L; ++t) {
    for (int64_t j = 0; j < D / 2; ++j) {
      const auto at = static_cast<size_t>(t * D + 2 * j), rot = static_cast<size_t>((t * (D / 2) + j) * 2);
      const std::complex<double> v(x[at], x[at + 1]), c(cs[rot], cs[rot + 1]);
      const std::complex<double> r = v * c;
      out[at] = r.real();
      out[at + 1] = r.imag();
    }
  }
  return out;
}

// The axial table from the formula, in float64: x = t mod w for the first D/4 pairs, y = t div w for the last
// D/4, frequency 1 / theta^(4i / D); (cos, sin) per pair.
std::vector<double> naive_cis(int64_t D, int64_t w, int64_t h, double theta = 10000.0) {
  std::vector<double> cs;
  for (int64_t t = 0; t < w * h; ++t) {
    for (int64_t j = 0; j < D / 2; ++j) {
      const int64_t i = j % (D / 4);
      const double pos = j < D / 4 ? static_cast<double>(t % w) : static_cast<double>(t / w);
      const double a = pos / std::pow(theta, 4.0 * static_cast<double>(i) / static_cast<double>(D));
      cs.push_back(std::cos(a));
      cs.push_back(std::sin(a));
    }
  }
  return cs;
}

}  // namespace

TEST_CASE("SAM 2 memory encoder and memory attention match the official outputs (sam2_micro)") {
  run_golden_set("sam2_micro", sam2_micro_memory_encoder(), sam2_micro_memory_attention(), {2e-4, 1e-5, 5e-5},
                 /*sam2_1=*/false);
}

TEST_CASE("SAM 2.1 memory encoder and memory attention match the official outputs (sam2.1_micro, no-object path)") {
  run_golden_set("sam2.1_micro", sam2_1_micro_memory_encoder(), sam2_1_micro_memory_attention(), {2e-4, 5e-6, 5e-5},
                 /*sam2_1=*/true);
}

TEST_CASE("compute_axial_cis matches the formula on square and odd, non-square grids") {
  struct Case {
    int64_t D, w, h;
  };
  for (const Case& c : {Case{8, 5, 3}, Case{16, 7, 7}, Case{48, 16, 16}, Case{4, 1, 9}, Case{12, 3, 1}}) {
    CAPTURE(c.D);
    CAPTURE(c.w);
    CAPTURE(c.h);
    const Tensor table = compute_axial_cis(c.D, c.w, c.h);
    REQUIRE(table.shape() == Shape{c.w * c.h, c.D / 2, 2});
    CHECK(table.dtype() == DType::F32);
    // Angles up to ~w are rounded to float32 before cos/sin: a few float32 ulps of the angle.
    CHECK_CLOSE(table, from_vector(naive_cis(c.D, c.w, c.h), table.shape()), 1e-5, 0.0);
  }
  CHECK_THROWS(compute_axial_cis(6, 4, 4));  // D/4 frequencies per axis need a multiple of 4
  CHECK_THROWS(compute_axial_cis(8, 0, 4));
}

TEST_CASE("apply_rotary rotates each (even, odd) pair like a complex product, in float32 and float64") {
  const int64_t w = 5, h = 3, L = w * h, D = 8;  // 15 tokens: an odd count
  const Tensor table = compute_axial_cis(D, w, h);
  const Tensor x = random({2, 3, L, D}, DType::F64, 3);
  const Tensor rotated = apply_rotary(x, table);
  REQUIRE(rotated.shape() == x.shape());
  CHECK(rotated.dtype() == DType::F64);
  // Naive rotation by the float32 table's own values, per (batch, head).
  const auto tv = to_vector<double>(table);
  const auto xv = to_vector<double>(x);
  std::vector<double> expected;
  for (int64_t bh = 0; bh < 6; ++bh) {
    const std::vector<double> slab(xv.begin() + bh * L * D, xv.begin() + (bh + 1) * L * D);
    const auto r = naive_rotate(slab, L, D, tv);
    expected.insert(expected.end(), r.begin(), r.end());
  }
  CHECK_CLOSE(rotated, from_vector(expected, x.shape()), 1e-12, 1e-12);

  // float32 input, non-contiguous: same values within float32 rounding.
  const Tensor x32 = testing::non_contiguous(to(x, DType::F32));
  const Tensor r32 = apply_rotary(x32, table);
  CHECK(r32.dtype() == DType::F32);
  CHECK_CLOSE(r32, rotated, 1e-5, 1e-5);
  const Tensor pairs_in = sum(square(unflatten(x, -1, {D / 2, 2})), {-1});
  const Tensor pairs_out = sum(square(unflatten(rotated, -1, {D / 2, 2})), {-1});
  // A rotation keeps each pair's norm (up to the float32 rounding of cos and sin).
  CHECK_CLOSE(pairs_out, pairs_in, 1e-12, 1e-6);

  CHECK_THROWS(apply_rotary(x, compute_axial_cis(D, 4, 4)));  // 16 rows for 15 tokens
  CHECK_THROWS(apply_rotary(x, compute_axial_cis(4, w, h)));  // wrong head dim
}

TEST_CASE("apply_rotary gradients match finite differences") {
  const Tensor table = compute_axial_cis(8, 3, 3);
  CHECK_GRADCHECK([&](const TensorList& in) { return apply_rotary(in[0], table); },
                  {random({2, 9, 8}, DType::F64, 11)});
}

TEST_CASE("apply_rotary_enc repeats the table per memory frame and leaves the excluded keys alone") {
  const int64_t w = 3, h = 3, L = w * h, D = 8, frames = 3, excluded = 5;
  const Tensor table = compute_axial_cis(D, w, h);
  const Tensor q = random({1, 2, L, D}, DType::F32, 21);
  const Tensor k = random({1, 2, frames * L + excluded, D}, DType::F32, 22);
  const auto [q_rot, k_rot] = apply_rotary_enc(q, k, table, /*repeat_freqs_k=*/true, excluded);
  CHECK(testing::max_abs_diff(q_rot, apply_rotary(q, table)) == 0.0);
  REQUIRE(k_rot.shape() == k.shape());
  for (int64_t f = 0; f < frames; ++f) {
    CAPTURE(f);
    CHECK(testing::max_abs_diff(narrow(k_rot, 2, f * L, L), apply_rotary(narrow(k, 2, f * L, L), table)) == 0.0);
  }
  CHECK(testing::max_abs_diff(narrow(k_rot, 2, frames * L, excluded), narrow(k, 2, frames * L, excluded)) == 0.0);

  // Only excluded keys: returned as they are.
  const Tensor only_ptrs = random({1, 2, 4, D}, DType::F32, 23);
  CHECK(apply_rotary_enc(q, only_ptrs, table, true, 4).second.is_same(only_ptrs));
  // Rotated keys must be whole copies of the query grid, and need repeat_freqs_k when they differ from Lq.
  CHECK_THROWS(apply_rotary_enc(q, k, table, true, excluded - 1));
  CHECK_THROWS(apply_rotary_enc(q, k, table, false, excluded));
  CHECK_THROWS(apply_rotary_enc(q, k, table, true, frames * L + excluded + 1));
  CHECK_NOTHROW(apply_rotary_enc(q, narrow(k, 2, 0, L), table, false, 0));
}

TEST_CASE("RoPEAttention with several heads and a downsample rate matches a per-head reference") {
  RoPEAttentionConfig cfg;
  cfg.embedding_dim = 32;
  cfg.num_heads = 2;
  cfg.downsample_rate = 2;  // internal dim 16, head dim 8
  cfg.kv_in_dim = 6;
  cfg.rope_k_repeat = true;
  cfg.feat_sizes = {5, 3};  // a configured non-square grid
  auto attn = std::make_shared<RoPEAttention>(cfg);
  attn->eval();
  CHECK(attn->internal_dim == 16);
  CHECK(attn->head_dim == 8);
  const int64_t B = 2, L = 15, excluded = 4, S = 2 * L + excluded;
  const Tensor q = random({B, L, 32}, DType::F32, 31);
  const Tensor k = random({B, S, 6}, DType::F32, 32);
  const Tensor v = random({B, S, 6}, DType::F32, 33);
  NoGradGuard no_grad;
  const Tensor out = attn->forward(q, k, v, excluded);
  REQUIRE(out.shape() == Shape{B, L, 32});

  // Reference in float64 with explicit loops over batch and heads.
  auto proj = [](const Tensor& x, const std::shared_ptr<nn::Linear>& l) {
    return linear(to(x, DType::F64), to(l->weight, DType::F64), to(l->bias, DType::F64));
  };
  const auto qp = to_vector<double>(proj(q, attn->q_proj)), kp = to_vector<double>(proj(k, attn->k_proj));
  const auto vp = to_vector<double>(proj(v, attn->v_proj));
  const std::vector<double> cis = naive_cis(8, 5, 3);
  std::vector<double> heads_out(static_cast<size_t>(B * L * 16));
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t hd = 0; hd < 2; ++hd) {
      auto gather = [&](const std::vector<double>& src, int64_t n) {
        std::vector<double> r;
        for (int64_t t = 0; t < n; ++t) {
          for (int64_t c = 0; c < 8; ++c) r.push_back(src[static_cast<size_t>((b * n + t) * 16 + hd * 8 + c)]);
        }
        return r;
      };
      const auto qh = naive_rotate(gather(qp, L), L, 8, cis);
      auto kh = gather(kp, S);
      const auto vh = gather(vp, S);
      for (int64_t f = 0; f < 2; ++f) {
        const std::vector<double> part(kh.begin() + f * L * 8, kh.begin() + (f + 1) * L * 8);
        const auto r = naive_rotate(part, L, 8, cis);
        std::copy(r.begin(), r.end(), kh.begin() + f * L * 8);
      }
      for (int64_t i = 0; i < L; ++i) {
        std::vector<double> s(static_cast<size_t>(S));
        double mx = -INFINITY;
        for (int64_t j = 0; j < S; ++j) {
          double d = 0;
          for (int64_t c = 0; c < 8; ++c) d += qh[static_cast<size_t>(i * 8 + c)] * kh[static_cast<size_t>(j * 8 + c)];
          s[static_cast<size_t>(j)] = d / std::sqrt(8.0);
          mx = std::max(mx, s[static_cast<size_t>(j)]);
        }
        double z = 0;
        for (double& e : s) z += (e = std::exp(e - mx));
        for (int64_t c = 0; c < 8; ++c) {
          double acc = 0;
          for (int64_t j = 0; j < S; ++j) acc += s[static_cast<size_t>(j)] / z * vh[static_cast<size_t>(j * 8 + c)];
          heads_out[static_cast<size_t>((b * L + i) * 16 + hd * 8 + c)] = acc;
        }
      }
    }
  }
  const Tensor expected = linear(from_vector(heads_out, {B, L, 16}), to(attn->out_proj->weight, DType::F64),
                                 to(attn->out_proj->bias, DType::F64));
  CHECK_CLOSE(out, expected, 1e-5, 1e-4);

  // The configured grid serves its own token count; other counts need a square grid.
  CHECK(testing::max_abs_diff(attn->freqs_cis(15), compute_axial_cis(8, 5, 3)) == 0.0);
  CHECK(testing::max_abs_diff(attn->freqs_cis(25), compute_axial_cis(8, 5, 5)) == 0.0);
  CHECK_THROWS(attn->freqs_cis(14));
  // Different key and query counts need rope_k_repeat.
  RoPEAttentionConfig plain = cfg;
  plain.rope_k_repeat = false;
  auto self_attn = std::make_shared<RoPEAttention>(plain);
  CHECK_THROWS(self_attn->forward(q, k, v, excluded));
  CHECK_NOTHROW(self_attn->forward(q, narrow(k, 1, 0, L), narrow(v, 1, 0, L)));
}

TEST_CASE("MemoryAttention on a 5 x 5 grid: odd token count, batch of 2, gradients flow") {
  MemoryAttentionConfig cfg = sam2_memory_attention(16, 32, 8, 2, 4);  // configured 4 x 4; 25 tokens rebuild 5 x 5
  auto attention = std::make_shared<MemoryAttention>(cfg);
  attention->eval();
  const int64_t L = 25, N = 3 * L + 8;
  const Tensor curr = random({L, 2, 16}, DType::F32, 41);
  const Tensor curr_pos = random({L, 2, 16}, DType::F32, 42);
  const Tensor memory = random({N, 2, 8}, DType::F32, 43).set_requires_grad(true);
  const Tensor memory_pos = random({N, 2, 8}, DType::F32, 44);
  const Tensor out = attention->forward(curr, memory, curr_pos, memory_pos, 8);
  REQUIRE(out.shape() == Shape{L, 2, 16});
  // Each batch element is independent of the other.
  const Tensor single = attention->forward(narrow(curr, 1, 1, 1), narrow(memory, 1, 1, 1), narrow(curr_pos, 1, 1, 1),
                                           narrow(memory_pos, 1, 1, 1), 8);
  CHECK_CLOSE(single, narrow(out, 1, 1, 1), 1e-5, 1e-5);
  // The object-pointer tokens take part in the attention (their gradient is not zero).
  const TensorList g = grad(sum(out), {memory});
  CHECK(amax(abs(narrow(g[0], 0, 3 * L, 8))).item<float>() > 0.0f);
  // 3 * 25 + 8 memory tokens with 9 declared pointers leave 74 rotated keys: not whole frames.
  NoGradGuard no_grad;
  CHECK_THROWS(attention->forward(curr, memory, curr_pos, memory_pos, 9));
}

TEST_CASE("MaskDownSampler channel chain, CXBlock layer scale and memory encoder shapes") {
  const MemoryEncoderConfig cfg = sam2_memory_encoder(32, 8);
  auto encoder = std::make_shared<MemoryEncoder>(cfg);
  CHECK(encoder->mask_downsampler->num_layers == 4);
  std::vector<std::pair<std::string, Shape>> shapes;
  for (const auto& [k, t] : encoder->state_dict()) shapes.emplace_back(k, t.shape());
  const std::vector<std::pair<std::string, Shape>> expected_head = {
      {"mask_downsampler.encoder.0.weight", {4, 1, 3, 3}},   {"mask_downsampler.encoder.0.bias", {4}},
      {"mask_downsampler.encoder.1.weight", {4}},            {"mask_downsampler.encoder.1.bias", {4}},
      {"mask_downsampler.encoder.3.weight", {16, 4, 3, 3}},  {"mask_downsampler.encoder.3.bias", {16}},
      {"mask_downsampler.encoder.4.weight", {16}},           {"mask_downsampler.encoder.4.bias", {16}},
      {"mask_downsampler.encoder.6.weight", {64, 16, 3, 3}}, {"mask_downsampler.encoder.6.bias", {64}},
      {"mask_downsampler.encoder.7.weight", {64}},           {"mask_downsampler.encoder.7.bias", {64}},
      {"mask_downsampler.encoder.9.weight", {256, 64, 3, 3}}, {"mask_downsampler.encoder.9.bias", {256}},
      {"mask_downsampler.encoder.10.weight", {256}},         {"mask_downsampler.encoder.10.bias", {256}},
      {"mask_downsampler.encoder.12.weight", {32, 256, 1, 1}}, {"mask_downsampler.encoder.12.bias", {32}},
      {"pix_feat_proj.weight", {32, 32, 1, 1}},              {"pix_feat_proj.bias", {32}},
      {"fuser.layers.0.gamma", {32}},                        {"fuser.layers.0.dwconv.weight", {32, 1, 7, 7}},
  };
  REQUIRE(shapes.size() > expected_head.size());
  for (size_t i = 0; i < expected_head.size(); ++i) {
    CAPTURE(expected_head[i].first);
    CHECK(shapes[i] == expected_head[i]);
  }
  CHECK(shapes.back() == std::pair<std::string, Shape>{"out_proj.bias", {8}});
  // Layer scale starts at layer_scale_init_value.
  CHECK(amax(abs(sub(encoder->fuser->layers->at<CXBlock>(0)->gamma, 1e-6))).item<float>() < 1e-12f);

  NoGradGuard no_grad;
  const MemoryEncoderOutput out = encoder->forward(random({2, 32, 4, 6}, DType::F32, 51),
                                                   random({2, 1, 64, 96}, DType::F32, 52));
  CHECK(out.vision_features.shape() == Shape{2, 8, 4, 6});
  REQUIRE(out.vision_pos_enc.size() == 1);
  CHECK(out.vision_pos_enc[0].shape() == Shape{2, 8, 4, 6});
  // A mask that does not downsample to the feature grid is refused.
  CHECK_THROWS(encoder->forward(random({1, 32, 4, 4}, DType::F32, 53), random({1, 1, 32, 32}, DType::F32, 54)));
  // No layer scale, no gamma parameter; equal in/out dims, no out_proj parameters.
  MemoryEncoderConfig plain = sam2_memory_encoder(16, 16);
  plain.fuser.layer.layer_scale_init_value = 0;
  auto plain_encoder = std::make_shared<MemoryEncoder>(plain);
  for (const auto& [k, t] : plain_encoder->state_dict()) {
    CHECK(k.find("gamma") == std::string::npos);
    CHECK(k.rfind("out_proj", 0) == std::string::npos);
  }
  MaskDownSamplerConfig bad;
  bad.total_stride = 12;  // not a power of 2
  CHECK_THROWS(std::make_shared<MaskDownSampler>(bad));
}

TEST_CASE("mask_for_memory and add_no_obj_embed_spatial follow _encode_new_memory") {
  const Tensor logits = from_vector<float>({-3.0f, -0.0f, 0.0f, 1e-6f, 2.5f, -1e-6f}, {1, 1, 2, 3});
  const auto bin = to_vector<float>(mask_for_memory(logits, true));
  CHECK(bin == std::vector<float>{-10, -10, -10, 10, 10, -10});
  const auto sig = to_vector<float>(mask_for_memory(logits, false));
  const auto lv = to_vector<float>(logits);
  for (size_t i = 0; i < lv.size(); ++i) {
    const float s = 1.0f / (1.0f + std::exp(-lv[i]));
    CHECK(sig[i] == doctest::Approx(s * 20.0f - 10.0f).epsilon(1e-5));
  }
  // Scale 1 and bias 0 are skipped: the plain sigmoid.
  CHECK(testing::max_abs_diff(mask_for_memory(logits, false, 1.0, 0.0), sigmoid(logits)) == 0.0);

  const Tensor features = random({2, 3, 2, 2}, DType::F32, 61);
  const Tensor embed = from_vector<float>({1.0f, 2.0f, 3.0f}, {1, 3});
  const Tensor scores = from_vector<float>({0.5f, 0.0f}, {2, 1});  // object 0 present, object 1 absent (<= 0)
  const Tensor out = add_no_obj_embed_spatial(features, scores, embed);
  CHECK(testing::max_abs_diff(narrow(out, 0, 0, 1), narrow(features, 0, 0, 1)) == 0.0);
  CHECK(testing::max_abs_diff(narrow(out, 0, 1, 1),
                              add(narrow(features, 0, 1, 1), reshape(embed, {1, 3, 1, 1}))) == 0.0);
}

TEST_CASE("Real SAM 2 presets: memory encoder and memory attention state-dict shapes") {
  auto encoder = std::make_shared<MemoryEncoder>(sam2_memory_encoder());
  auto attention = std::make_shared<MemoryAttention>(sam2_memory_attention());
  std::map<std::string, Shape> shapes;
  for (const auto& [k, t] : encoder->state_dict()) shapes["memory_encoder." + k] = t.shape();
  for (const auto& [k, t] : attention->state_dict()) shapes["memory_attention." + k] = t.shape();
  const std::vector<std::pair<std::string, Shape>> expected = {
      {"memory_encoder.mask_downsampler.encoder.9.weight", {256, 64, 3, 3}},
      {"memory_encoder.mask_downsampler.encoder.12.weight", {256, 256, 1, 1}},
      {"memory_encoder.pix_feat_proj.weight", {256, 256, 1, 1}},
      {"memory_encoder.fuser.layers.1.dwconv.weight", {256, 1, 7, 7}},
      {"memory_encoder.fuser.layers.1.norm.weight", {256}},
      {"memory_encoder.fuser.layers.1.pwconv1.weight", {1024, 256}},
      {"memory_encoder.fuser.layers.1.pwconv2.weight", {256, 1024}},
      {"memory_encoder.fuser.layers.1.gamma", {256}},
      {"memory_encoder.out_proj.weight", {64, 256, 1, 1}},
      {"memory_attention.layers.3.self_attn.q_proj.weight", {256, 256}},
      {"memory_attention.layers.3.cross_attn_image.q_proj.weight", {256, 256}},
      {"memory_attention.layers.3.cross_attn_image.k_proj.weight", {256, 64}},
      {"memory_attention.layers.3.cross_attn_image.v_proj.weight", {256, 64}},
      {"memory_attention.layers.3.cross_attn_image.out_proj.weight", {256, 256}},
      {"memory_attention.layers.3.linear1.weight", {2048, 256}},
      {"memory_attention.layers.3.linear2.weight", {256, 2048}},
      {"memory_attention.layers.3.norm3.bias", {256}},
      {"memory_attention.norm.weight", {256}},
  };
  for (const auto& [k, shape] : expected) {
    CAPTURE(k);
    REQUIRE(shapes.count(k) == 1);
    CHECK(shapes[k] == shape);
  }
  // 40 memory-encoder and 4 x 26 + 2 memory-attention tensors, as in the public checkpoints.
  CHECK(encoder->state_dict().size() == 40);
  CHECK(attention->state_dict().size() == 106);
  CHECK(attention->layer(0)->self_attn->freqs_cis(64 * 64).shape() == Shape{4096, 128, 2});
}
