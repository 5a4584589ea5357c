#pragma once
// softmax and log_softmax on the device, forward and backward.
#include <cstdint>

#include "tensor/tensor.h"

namespace rvos::cuda {

enum class SoftmaxKind {
  Softmax,
  LogSoftmax,
  // Rows made only of -inf give 0 instead of NaN (PyTorch's _safe_softmax).
  SafeSoftmax,
};

// y = softmax of a contiguous x seen as [outer, n, inner], along n; y contiguous, same dtype.
// Arithmetic as the CPU kernels: max subtracted, exp in the compute type, sums in float64.
void softmax_forward(const Tensor& y, const Tensor& x, int64_t outer, int64_t n, int64_t inner, SoftmaxKind kind);

// The input gradient from contiguous g and y (same dtype and shape): y * (g - sum(g * y)) for
// softmax (the safe softmax too), g - exp(y) * sum(g) for log_softmax (`log`).
void softmax_backward(const Tensor& gx, const Tensor& g, const Tensor& y, int64_t outer, int64_t n, int64_t inner,
                      bool log);

}  // namespace rvos::cuda
