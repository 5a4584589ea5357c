#pragma once
// Fused scaled-dot-product attention on the device, forward and backward, flash-attention style:
// tiled over queries and keys with an online softmax (running max and sum in float32), so the
// [L, S] score matrix is never stored. The forward keeps only the output and each row's
// log-sum-exp; the backward recomputes the probabilities from them.
//
// - bfloat16 / float16 run on the tensor cores (mma.sync, float32 accumulation; the probabilities
//   are rounded to the input type before the product with V, as in flash attention);
// - float32 runs on plain FMAs with expf, so it follows the softmax of the CPU op within rounding;
// - head dims E and Ev up to kAttentionMaxHeadDim, padded on chip to the next kernel size
//   (16, 32, 64, 80, 128, 256 on the tensor cores; 32, 64, 128, 256 in float32);
// - q, k, v are read through their strides (head-split views need no copy); 16-byte loads are
//   used when the last dimension is contiguous and rows are 16-byte aligned, element loads
//   otherwise;
// - a fully masked query row gives zeros and a zero gradient (PyTorch's _safe_softmax).
#include "tensor/tensor.h"

namespace rvos::cuda {

inline constexpr int64_t kAttentionMaxHeadDim = 256;

// True when the fused kernels take this dtype and these head dims (float32, float16 and
// bfloat16 with E, Ev <= kAttentionMaxHeadDim).
bool attention_supported(DType dtype, int64_t E, int64_t Ev);

struct AttentionForward {
  Tensor out;  // batch + [L, Ev], the dtype of q, contiguous
  Tensor lse;  // batch + [L], float32: log-sum-exp of each row's scaled, masked scores (-inf: fully masked)
};

// q [..., L, E], k [..., S, E], v [..., S, Ev] (one CUDA device, one dtype) whose batch dims
// broadcast together; `mask` undefined, bool (true = may attend) or float32 (added to the
// scores), broadcastable to batch + [L, S]; `is_causal`: query i sees keys j <= i (top-left
// aligned). Scores are scale * (q . k).
AttentionForward attention_forward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask,
                                   bool is_causal, double scale);

struct AttentionGrads {
  Tensor q, k, v;  // the shapes and dtypes of q, k and v (summed over broadcast batch dims)
};

// Gradients of attention_forward for the output gradient `grad_out` (batch + [L, Ev], any
// strides), from the forward's `out` and `lse` and the same q, k, v, mask, is_causal, scale.
AttentionGrads attention_backward(const Tensor& grad_out, const Tensor& q, const Tensor& k, const Tensor& v,
                                  const Tensor& mask, bool is_causal, double scale, const Tensor& out,
                                  const Tensor& lse);

}  // namespace rvos::cuda
