#include "models/hiera/hiera.h"

#include <algorithm>
#include <stdexcept>
#include <tuple>

#include "nn/activation.h"
#include "ops/attention.h"
#include "ops/conv.h"
#include "ops/elementwise.h"
#include "ops/factory.h"
#include "ops/resize.h"
#include "ops/shape.h"

namespace rvos::hiera {

namespace {

bool contains(const std::vector<int64_t>& v, int64_t x) { return std::find(v.begin(), v.end(), x) != v.end(); }

bool pools(const std::array<int64_t, 2>& q_stride) { return q_stride[0] > 0 && q_stride[1] > 0; }

std::string join(const std::vector<int64_t>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + "]";
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------------
// Presets

HieraConfig hiera_tiny() {
  HieraConfig c;
  c.embed_dim = 96;
  c.num_heads = 1;
  c.stages = {1, 2, 7, 2};
  c.global_att_blocks = {5, 7, 9};
  c.window_pos_embed_bkg_spatial_size = {7, 7};
  return c;
}

HieraConfig hiera_small() {
  HieraConfig c;
  c.embed_dim = 96;
  c.num_heads = 1;
  c.stages = {1, 2, 11, 2};
  c.global_att_blocks = {7, 10, 13};
  c.window_pos_embed_bkg_spatial_size = {7, 7};
  return c;
}

HieraConfig hiera_base_plus() {
  HieraConfig c;  // the b+ configs leave every trunk argument but these at the constructor default
  c.embed_dim = 112;
  c.num_heads = 2;
  return c;
}

HieraConfig hiera_large() {
  HieraConfig c;
  c.embed_dim = 144;
  c.num_heads = 2;
  c.stages = {2, 6, 36, 4};
  c.global_att_blocks = {23, 33, 43};
  c.window_pos_embed_bkg_spatial_size = {7, 7};
  c.window_spec = {8, 4, 16, 8};
  return c;
}

HieraConfig hiera_preset(const std::string& name) {
  if (name == "t" || name == "tiny") return hiera_tiny();
  if (name == "s" || name == "small") return hiera_small();
  if (name == "b+" || name == "base_plus") return hiera_base_plus();
  if (name == "l" || name == "large") return hiera_large();
  throw std::invalid_argument("hiera_preset: unknown model size '" + name + "' (expected t, s, b+ or l)");
}

HieraConfig hiera_sam2_micro() {
  HieraConfig c;
  c.embed_dim = 12;
  c.num_heads = 2;
  c.stages = {1, 2, 4, 2};
  c.global_att_blocks = {4, 6};
  c.window_pos_embed_bkg_spatial_size = {7, 7};
  c.window_spec = {8, 4, 4, 2};
  return c;
}

HieraConfig hiera_sam2_1_micro() {
  HieraConfig c;
  c.embed_dim = 16;
  c.num_heads = 1;
  c.stages = {1, 2, 4, 2};
  c.global_att_blocks = {5, 6};
  c.window_pos_embed_bkg_spatial_size = {7, 7};
  c.window_spec = {8, 4, 6, 3};
  return c;
}

HieraLayout hiera_layout(const HieraConfig& c) {
  if (c.stages.empty()) throw std::invalid_argument("Hiera: stages must not be empty");
  if (c.stages.size() != c.window_spec.size()) {
    throw std::invalid_argument("Hiera: stages " + join(c.stages) + " and window_spec " + join(c.window_spec) +
                                " must have the same length");
  }
  for (int64_t s : c.stages) {
    if (s < 1) throw std::invalid_argument("Hiera: every stage needs at least one block, got " + join(c.stages));
  }
  if (c.embed_dim < 1 || c.num_heads < 1) throw std::invalid_argument("Hiera: embed_dim and num_heads must be positive");
  HieraLayout l;
  int64_t depth = 0;
  for (int64_t s : c.stages) {
    depth += s;
    l.stage_ends.push_back(depth - 1);
  }
  if (c.q_pool < 0 || c.q_pool > static_cast<int64_t>(c.stages.size()) - 1) {
    throw std::invalid_argument("Hiera: q_pool must be in [0, " + std::to_string(c.stages.size() - 1) + "], got " +
                                std::to_string(c.q_pool));
  }
  for (int64_t i = 0; i < c.q_pool; ++i) l.q_pool_blocks.push_back(l.stage_ends[static_cast<size_t>(i)] + 1);

  int64_t dim = c.embed_dim, heads = c.num_heads;
  size_t cur_stage = 1;
  for (int64_t i = 0; i < depth; ++i) {
    int64_t dim_out = dim;
    // The window lags one block: the first block of a stage still uses the
    // previous stage's window (it is the block that pools q).
    int64_t window = c.window_spec[cur_stage - 1];
    if (contains(c.global_att_blocks, i)) window = 0;
    if (contains(l.stage_ends, i - 1)) {
      dim_out = static_cast<int64_t>(static_cast<double>(dim) * c.dim_mul);
      heads = static_cast<int64_t>(static_cast<double>(heads) * c.head_mul);
      ++cur_stage;
    }
    l.blocks.push_back({dim, dim_out, heads, window, contains(l.q_pool_blocks, i)});
    dim = dim_out;
  }
  if (c.return_interm_layers) {
    for (auto it = l.stage_ends.rbegin(); it != l.stage_ends.rend(); ++it) {
      l.channel_list.push_back(l.blocks[static_cast<size_t>(*it)].dim_out);
    }
  } else {
    l.channel_list.push_back(l.blocks.back().dim_out);
  }
  return l;
}

// ---------------------------------------------------------------------------------------------------------------
// Windows

std::pair<Tensor, std::array<int64_t, 2>> window_partition(const Tensor& x, int64_t ws) {
  if (x.dim() != 4) throw_shape_error("window_partition", "expected [B, H, W, C], got " + shape_str(x.shape()));
  if (ws < 1) throw std::invalid_argument("window_partition: window size must be positive, got " + std::to_string(ws));
  const int64_t B = x.size(0), H = x.size(1), W = x.size(2), C = x.size(3);
  const int64_t pad_h = (ws - H % ws) % ws, pad_w = (ws - W % ws) % ws;
  const Tensor xp = (pad_h > 0 || pad_w > 0) ? pad(x, {0, 0, 0, pad_w, 0, pad_h}) : x;
  const int64_t Hp = H + pad_h, Wp = W + pad_w;
  Tensor windows = reshape(xp, {B, Hp / ws, ws, Wp / ws, ws, C});
  windows = reshape(permute(windows, {0, 1, 3, 2, 4, 5}), {-1, ws, ws, C});
  return {windows, {Hp, Wp}};
}

Tensor window_unpartition(const Tensor& windows, int64_t ws, std::array<int64_t, 2> padded_hw,
                          std::array<int64_t, 2> hw) {
  const auto [Hp, Wp] = padded_hw;
  const auto [H, W] = hw;
  if (windows.dim() != 4 || windows.size(1) != ws || windows.size(2) != ws || Hp % ws != 0 || Wp % ws != 0 ||
      H > Hp || W > Wp) {
    throw_shape_error("window_unpartition", "windows " + shape_str(windows.shape()) + " of size " +
                                                std::to_string(ws) + " do not tile a padded " + std::to_string(Hp) +
                                                "x" + std::to_string(Wp) + " map of " + std::to_string(H) + "x" +
                                                std::to_string(W));
  }
  const int64_t per_image = (Hp / ws) * (Wp / ws);
  if (windows.size(0) % per_image != 0) {
    throw_shape_error("window_unpartition", std::to_string(windows.size(0)) + " windows are not a multiple of the " +
                                                std::to_string(per_image) + " windows of one image");
  }
  const int64_t B = windows.size(0) / per_image;
  Tensor x = reshape(windows, {B, Hp / ws, Wp / ws, ws, ws, -1});
  x = reshape(permute(x, {0, 1, 3, 2, 4, 5}), {B, Hp, Wp, -1});
  if (Hp > H || Wp > W) x = slice(slice(x, 1, 0, H), 2, 0, W);
  return x;
}

// ---------------------------------------------------------------------------------------------------------------
// Modules

PatchEmbed::PatchEmbed(int64_t in_chans, int64_t embed_dim, nn::IntPair kernel_size, nn::IntPair stride,
                       nn::IntPair padding)
    : Module("PatchEmbed") {
  proj = register_module("proj", std::make_shared<nn::Conv2d>(in_chans, embed_dim, kernel_size, stride, padding));
}

Tensor PatchEmbed::forward(const Tensor& x) { return permute(proj->forward(x), {0, 2, 3, 1}); }

MultiScaleAttention::MultiScaleAttention(int64_t dim_, int64_t dim_out_, int64_t num_heads_,
                                         std::array<int64_t, 2> q_stride_)
    : Module("MultiScaleAttention"), dim(dim_), dim_out(dim_out_), num_heads(num_heads_), q_stride(q_stride_) {
  if (num_heads < 1 || dim_out % num_heads != 0) {
    throw std::invalid_argument("MultiScaleAttention: dim_out " + std::to_string(dim_out) +
                                " must be a positive multiple of num_heads " + std::to_string(num_heads));
  }
  qkv = register_module("qkv", std::make_shared<nn::Linear>(dim, dim_out * 3));
  proj = register_module("proj", std::make_shared<nn::Linear>(dim_out, dim_out));
}

Tensor MultiScaleAttention::forward(const Tensor& x) {
  if (x.dim() != 4 || x.size(3) != dim) {
    throw_shape_error("MultiScaleAttention", "expected [B, H, W, " + std::to_string(dim) + "], got " +
                                                 shape_str(x.shape()));
  }
  const int64_t B = x.size(0);
  int64_t H = x.size(1), W = x.size(2);
  // Channels of qkv are [q | k | v], each split into consecutive heads.
  const Tensor qkv5 = reshape(qkv->forward(x), {B, H * W, 3, num_heads, -1});
  Tensor q = select(qkv5, 2, 0);  // [B, HW, heads, head_dim]
  const Tensor k = select(qkv5, 2, 1), v = select(qkv5, 2, 2);
  if (pools(q_stride)) {
    // Pool over the map with all heads' channels together (NCHW for max_pool2d).
    Tensor qmap = permute(reshape(q, {B, H, W, dim_out}), {0, 3, 1, 2});
    qmap = max_pool2d(qmap, {q_stride[0], q_stride[1]}, {q_stride[0], q_stride[1]});
    H = qmap.size(2);
    W = qmap.size(3);
    q = reshape(permute(qmap, {0, 2, 3, 1}), {B, H * W, num_heads, -1});
  }
  Tensor out = scaled_dot_product_attention(transpose(q, 1, 2), transpose(k, 1, 2), transpose(v, 1, 2));
  out = reshape(transpose(out, 1, 2), {B, H, W, dim_out});
  return proj->forward(out);
}

MultiScaleBlock::MultiScaleBlock(int64_t dim_, int64_t dim_out_, int64_t num_heads, double mlp_ratio,
                                 std::array<int64_t, 2> q_stride_, int64_t window_size_)
    : Module("MultiScaleBlock"), dim(dim_), dim_out(dim_out_), window_size(window_size_), q_stride(q_stride_) {
  if (window_size < 0) throw std::invalid_argument("MultiScaleBlock: window_size must be >= 0");
  if (pools(q_stride)) {
    // The shortcut is pooled only on the projection path, so pooling needs a
    // dimension change; a pooled window must keep at least one token.
    if (dim == dim_out) {
      throw std::invalid_argument("MultiScaleBlock: q pooling needs dim != dim_out (got " + std::to_string(dim) + ")");
    }
    if (window_size > 0 && window_size / q_stride[0] < 1) {
      throw std::invalid_argument("MultiScaleBlock: window " + std::to_string(window_size) +
                                  " is smaller than the q stride");
    }
  }
  norm1 = register_module("norm1", std::make_shared<nn::LayerNorm>(dim, 1e-6));
  attn = register_module("attn", std::make_shared<MultiScaleAttention>(dim, dim_out, num_heads, q_stride));
  norm2 = register_module("norm2", std::make_shared<nn::LayerNorm>(dim_out, 1e-6));
  const auto hidden = static_cast<int64_t>(static_cast<double>(dim_out) * mlp_ratio);
  mlp = register_module("mlp", std::make_shared<nn::MLP>(dim_out, hidden, dim_out, 2,
                                                          [] { return std::make_shared<nn::GELU>(); }));
  if (dim != dim_out) proj = register_module("proj", std::make_shared<nn::Linear>(dim, dim_out));
}

Tensor MultiScaleBlock::pool(const Tensor& x) const {
  if (!pools(q_stride)) return x;
  const Tensor y = max_pool2d(permute(x, {0, 3, 1, 2}), {q_stride[0], q_stride[1]}, {q_stride[0], q_stride[1]});
  return permute(y, {0, 2, 3, 1});
}

Tensor MultiScaleBlock::forward(const Tensor& x) {
  if (x.dim() != 4 || x.size(3) != dim) {
    throw_shape_error("MultiScaleBlock", "expected [B, H, W, " + std::to_string(dim) + "], got " +
                                             shape_str(x.shape()));
  }
  Tensor shortcut = x;
  const Tensor xn = norm1->forward(x);
  // The projected shortcut starts from the normed input.
  if (proj) shortcut = pool(proj->forward(xn));

  int64_t ws = window_size;
  int64_t H = xn.size(1), W = xn.size(2);
  std::array<int64_t, 2> padded{H, W};
  Tensor y = xn;
  if (ws > 0) std::tie(y, padded) = window_partition(xn, ws);
  y = attn->forward(y);
  if (pools(q_stride)) {
    // q pooling shrank every window: re-derive the padded map from the pooled size.
    ws = window_size / q_stride[0];
    H = shortcut.size(1);
    W = shortcut.size(2);
    if (ws > 0) padded = {H + (ws - H % ws) % ws, W + (ws - W % ws) % ws};
  }
  if (window_size > 0) y = window_unpartition(y, ws, padded, {H, W});
  Tensor out = add(shortcut, y);
  return add(out, mlp->forward(norm2->forward(out)));
}

Hiera::Hiera(const HieraConfig& c) : Module("Hiera"), config(c), layout(hiera_layout(c)) {
  patch_embed = register_module("patch_embed", std::make_shared<PatchEmbed>(3, c.embed_dim));
  const auto [bh, bw] = c.window_pos_embed_bkg_spatial_size;
  if (bh < 1 || bw < 1 || c.window_spec[0] < 1) {
    throw std::invalid_argument("Hiera: window_pos_embed_bkg_spatial_size and window_spec[0] must be positive");
  }
  // Zero-initialised like the official module; real values come from a checkpoint.
  pos_embed = register_parameter("pos_embed", zeros({1, c.embed_dim, bh, bw}));
  pos_embed_window =
      register_parameter("pos_embed_window", zeros({1, c.embed_dim, c.window_spec[0], c.window_spec[0]}));
  blocks = register_module("blocks", std::make_shared<nn::ModuleList>());
  for (const BlockSpec& b : layout.blocks) {
    const std::array<int64_t, 2> stride = b.q_pool ? c.q_stride : std::array<int64_t, 2>{0, 0};
    blocks->push_back(std::make_shared<MultiScaleBlock>(b.dim, b.dim_out, b.num_heads, 4.0, stride, b.window_size));
  }
}

Tensor Hiera::get_pos_embed(int64_t h, int64_t w) const {
  const int64_t wh = pos_embed_window.size(2), ww = pos_embed_window.size(3);
  if (h % wh != 0 || w % ww != 0) {
    throw_shape_error("Hiera", "the feature map " + std::to_string(h) + "x" + std::to_string(w) +
                                   " (input / 4) must be a multiple of the window position embedding " +
                                   std::to_string(wh) + "x" + std::to_string(ww));
  }
  Tensor pe = interpolate(pos_embed, InterpolateOptions::to_size(InterpMode::Bicubic, {h, w}));
  pe = add(pe, repeat(pos_embed_window, {1, 1, h / wh, w / ww}));
  return permute(pe, {0, 2, 3, 1});
}

std::vector<Tensor> Hiera::forward_features(const Tensor& x) {
  if (x.dim() != 4 || x.size(1) != 3) throw_shape_error("Hiera", "expected [B, 3, H, W], got " + shape_str(x.shape()));
  Tensor h = patch_embed->forward(x);
  h = add(h, get_pos_embed(h.size(1), h.size(2)));
  std::vector<Tensor> outputs;
  const int64_t n = static_cast<int64_t>(blocks->size());
  for (int64_t i = 0; i < n; ++i) {
    h = (*blocks)[i]->forward(h);
    if (i == layout.stage_ends.back() || (config.return_interm_layers && contains(layout.stage_ends, i))) {
      outputs.push_back(permute(h, {0, 3, 1, 2}));
    }
  }
  return outputs;
}

Tensor Hiera::forward(const Tensor& x) { return forward_features(x).back(); }

}  // namespace rvos::hiera
