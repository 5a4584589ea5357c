#pragma once
// Helpers for op implementations (not part of the public API).
#include <stdexcept>

#include "ops/autograd.h"
#include "ops/common.h"
#include "rvos/version.h"

// The kernel call for tensors on a CUDA device; a build without CUDA never holds any.
#if RVOS_HAVE_CUDA
#define RVOS_ON_CUDA(...) __VA_ARGS__
#else
#define RVOS_ON_CUDA(...) throw std::logic_error("a CUDA tensor in a build without CUDA")
#endif

namespace rvos::detail {

// A view of t broadcast to `shape` (stride 0 on expanded dims); no autograd.
Tensor broadcast_view(const Tensor& t, const Shape& shape);

// Records `backward` as the grad_fn of `out` when any input requires a gradient,
// then returns `out`.
inline Tensor with_grad(const char* name, const TensorList& inputs, Tensor out, FunctionNode::BackwardFn backward) {
  if (autograd::any_requires_grad(inputs)) autograd::record(name, inputs, {out}, std::move(backward));
  return out;
}

// A gradient brought back to an input: summed over broadcast dims, cast to the input's dtype.
Tensor reduce_grad(const Tensor& g, const Tensor& input);

// A contiguous tensor of `shape` seen as [outer, n, inner] around `dim` (n = shape[dim]; all 1 for
// a 0-d shape).
struct DimSplit {
  int64_t outer = 1, n = 1, inner = 1;
};
inline DimSplit split_at_dim(const Shape& shape, int64_t dim) {
  DimSplit s;
  for (int64_t d = 0; d < static_cast<int64_t>(shape.size()); ++d) {
    if (d < dim) s.outer *= shape[static_cast<size_t>(d)];
    else if (d == dim) s.n = shape[static_cast<size_t>(d)];
    else s.inner *= shape[static_cast<size_t>(d)];
  }
  return s;
}

// softmax along dim, except that rows made only of -inf give 0 (not NaN), with a
// zero gradient there: PyTorch's _safe_softmax, as scaled_dot_product_attention uses.
Tensor safe_softmax(const Tensor& x, int64_t dim);

}  // namespace rvos::detail
