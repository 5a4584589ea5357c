// scaled_dot_product_attention as PyTorch's math backend
// (aten/src/ATen/native/transformers/attention.cpp, _scaled_dot_product_attention_math),
// composed of differentiable ops so that autograd comes for free:
//   - f16/bf16 q, k, v are computed in float32 and the result is cast back;
//   - sf = sqrt(scale) with scale = 1/sqrt(E) by default; q and k are each multiplied
//     by sf before the product (a negative scale multiplies q by -sf);
//   - attn = (q * sf) @ (k^T * sf), plus the mask: a bool mask becomes an additive
//     0 / -inf mask, is_causal uses the top-left aligned lower-triangular [L, S] mask;
//   - softmax over S. A row that is entirely -inf (e.g. fully masked) gives zeros,
//     not NaN, as PyTorch's math backend does since it switched to _safe_softmax;
//     its gradient is zero as well;
//   - dropout on the weights when dropout_p > 0, then @ v.
//
// CUDA tensors go to the fused kernel of cuda/attention.h (forward and backward, one autograd
// node over q, k, v), which reads q, k, v and the mask through their strides, so head-split
// views are not copied. It does not cover dropout_p > 0, float64, head dims over 256 or a
// float mask that requires a gradient: those take the composed path above on the device.
#include "ops/attention.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "ops/copy.h"
#include "ops/elementwise.h"
#include "ops/factory.h"
#include "ops/internal.h"
#include "ops/linalg.h"
#include "ops/shape.h"
#include "rvos/version.h"
#if RVOS_HAVE_CUDA
#include "cuda/attention.h"
#endif

namespace rvos {

namespace {

constexpr const char* kOp = "scaled_dot_product_attention";

Shape batch_of(const Tensor& t) { return Shape(t.shape().begin(), t.shape().end() - 2); }

void check_inputs(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask, double dropout_p,
                  bool is_causal) {
  check_floating(q, kOp, "query");
  check_floating(k, kOp, "key");
  check_floating(v, kOp, "value");
  check_same_device(kOp, {&q, &k, &v, &mask});
  if (q.dtype() != k.dtype() || q.dtype() != v.dtype()) {
    throw std::invalid_argument(std::string(kOp) + ": query, key and value must have the same dtype, got " +
                                dtype_name(q.dtype()) + ", " + dtype_name(k.dtype()) + " and " + dtype_name(v.dtype()));
  }
  if (q.dim() < 2 || k.dim() < 2 || v.dim() < 2) {
    throw_shape_error(kOp, "query, key and value must have at least 2 dimensions, got shapes " + shape_str(q.shape()) +
                               ", " + shape_str(k.shape()) + " and " + shape_str(v.shape()));
  }
  if (q.size(-1) != k.size(-1)) {
    throw_shape_error(kOp, "query [..., L, E] and key [..., S, E] must have the same E, got shapes " +
                               shape_str(q.shape()) + " and " + shape_str(k.shape()));
  }
  if (k.size(-2) != v.size(-2)) {
    throw_shape_error(kOp, "key [..., S, E] and value [..., S, Ev] must have the same S, got shapes " +
                               shape_str(k.shape()) + " and " + shape_str(v.shape()));
  }
  const Shape bq = batch_of(q), bk = batch_of(k), bv = batch_of(v);
  const Shape bqk = broadcast_shapes(bq, bk, kOp);
  broadcast_shapes(bqk, bv, kOp);
  if (!(dropout_p >= 0.0 && dropout_p <= 1.0)) {
    throw std::invalid_argument(std::string(kOp) + ": dropout_p must be in [0, 1], got " + std::to_string(dropout_p));
  }
  if (mask.defined()) {
    if (is_causal) {
      throw std::invalid_argument(std::string(kOp) + ": attn_mask must not be given when is_causal is true");
    }
    if (mask.dtype() != DType::Bool && mask.dtype() != DType::F32 && mask.dtype() != q.dtype()) {
      throw std::invalid_argument(std::string(kOp) + ": attn_mask must be bool, float32 or the query's dtype (" +
                                  dtype_name(q.dtype()) + "), got " + dtype_name(mask.dtype()));
    }
    Shape scores = bqk;
    scores.push_back(q.size(-2));
    scores.push_back(k.size(-2));
    bool ok = mask.dim() <= static_cast<int64_t>(scores.size());
    for (int64_t i = 1; ok && i <= mask.dim(); ++i) {
      const int64_t m = mask.size(-i), s = scores[scores.size() - static_cast<size_t>(i)];
      ok = m == s || m == 1;
    }
    if (!ok) {
      throw_shape_error(kOp, "attn_mask of shape " + shape_str(mask.shape()) +
                                 " does not broadcast to the attention weights' shape " + shape_str(scores));
    }
  }
}

Tensor composed_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& attn_mask, double dropout_p,
                          bool is_causal, std::optional<double> scale, Generator* gen) {
  const DType origin = q.dtype();
  const bool low = origin == DType::F16 || origin == DType::BF16;
  const Tensor qa = low ? to(q, DType::F32) : q;
  const Tensor ka = low ? to(k, DType::F32) : k;
  const Tensor va = low ? to(v, DType::F32) : v;

  const bool negative = scale.has_value() && *scale < 0.0;
  const double s = scale.has_value() ? std::abs(*scale) : 1.0 / std::sqrt(static_cast<double>(q.size(-1)));
  const double sf = std::sqrt(s);
  const int64_t L = q.size(-2), S = k.size(-2);

  Tensor attn = matmul(mul(qa, negative ? -sf : sf), mul(transpose(ka, -2, -1), sf));
  Tensor mask = attn_mask;
  if (is_causal) {
    // Top-left aligned: query i may attend to keys j <= i.
    mask = le(unsqueeze(arange(S, DType::I64), 0), unsqueeze(arange(L, DType::I64), 1));
  }
  if (mask.defined()) {
    if (mask.dtype() == DType::Bool) {
      mask = where(mask, 0.0, scalar_tensor(-std::numeric_limits<double>::infinity(), attn.dtype()));
    }
    attn = add(attn, mask);
  }
  attn = detail::safe_softmax(attn, -1);
  if (dropout_p > 0.0) attn = dropout(attn, dropout_p, true, gen);
  Tensor out = matmul(attn, va);
  return out.dtype() == origin ? out : to(out, origin);
}

#if RVOS_HAVE_CUDA
// Why the fused kernel cannot take these arguments ("" when it can).
std::string fused_cuda_gap(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask, double dropout_p) {
  if (dropout_p > 0.0) return "dropout_p > 0";
  if (!cuda::attention_supported(q.dtype(), q.size(-1), v.size(-1))) {
    return dtype_name(q.dtype()) + std::string(" with head dims ") + std::to_string(q.size(-1)) + " and " +
           std::to_string(v.size(-1));
  }
  if (mask.defined() && mask.dtype() != DType::Bool && autograd::any_requires_grad(mask)) {
    return "a float attn_mask that requires grad";
  }
  const size_t batch_dims = std::max({q.dim(), k.dim(), v.dim()}) - 2;
  if (batch_dims > 6) return "more than 6 batch dims";
  return "";
}

Tensor fused_cuda_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& attn_mask,
                            bool is_causal, std::optional<double> scale) {
  const double s = scale.has_value() ? *scale : 1.0 / std::sqrt(static_cast<double>(q.size(-1)));
  // The kernel reads bool and float32 masks; other float masks are converted once.
  Tensor mask = attn_mask.defined() ? attn_mask.detach() : Tensor();
  if (mask.defined() && mask.dtype() != DType::Bool && mask.dtype() != DType::F32) mask = to(mask, DType::F32);
  const Tensor qd = q.detach(), kd = k.detach(), vd = v.detach();
  cuda::AttentionForward fwd = cuda::attention_forward(qd, kd, vd, mask, is_causal, s);
  const Tensor out_saved = fwd.out.detach();  // the node must not own its own output
  const Tensor lse = fwd.lse;
  auto backward = [qd, kd, vd, mask, is_causal, s, out_saved, lse](const TensorList& g) {
    const Tensor grad_out = g[0].dtype() == qd.dtype() ? g[0] : to(g[0], qd.dtype());
    cuda::AttentionGrads grads = cuda::attention_backward(grad_out, qd, kd, vd, mask, is_causal, s, out_saved, lse);
    return TensorList{grads.q, grads.k, grads.v};
  };
  return detail::with_grad(kOp, {q, k, v}, fwd.out, std::move(backward));
}
#endif

}  // namespace

Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& attn_mask,
                                    double dropout_p, bool is_causal, std::optional<double> scale, Generator* gen) {
  check_inputs(q, k, v, attn_mask, dropout_p, is_causal);
  if (q.is_cuda()) {
#if RVOS_HAVE_CUDA
    const std::string gap = fused_cuda_gap(q, k, v, attn_mask, dropout_p);
    if (gap.empty()) return fused_cuda_attention(q, k, v, attn_mask, is_causal, scale);
    try {
      return composed_attention(q, k, v, attn_mask, dropout_p, is_causal, scale, gen);
    } catch (const std::exception& e) {
      throw std::runtime_error(std::string(kOp) + ": the fused CUDA kernel does not take " + gap +
                               ", and the composed ops failed on the device: " + e.what());
    }
#else
    throw std::runtime_error(std::string(kOp) + ": CUDA tensors in a build without CUDA");
#endif
  }
  return composed_attention(q, k, v, attn_mask, dropout_p, is_causal, scale, gen);
}

}  // namespace rvos
