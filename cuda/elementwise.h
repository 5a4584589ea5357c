#pragma once
// Elementwise kernels: out[i] = op(inputs[i]...) for the functors of cuda/elementwise_functors.h.
//
// The ops layer (ops/elementwise.cpp) checks arguments, promotes and casts, broadcasts and
// allocates; these entry points receive ready tensors on one CUDA device:
// - every input has out's shape (broadcast views with stride 0 are fine, any strides);
// - inputs have the op's compute dtype T (ternary ops with a mask: a bool first input);
// - out has dtype T, or bool for ops with a bool result (comparisons, predicates); any strides
//   without overlap (the ops layer gives fresh contiguous tensors).
// Contiguous operands take a vectorised path (16-byte loads and stores; a single-element input is
// read once per thread); the rest a strided path over collapsed dimensions.
//
// Each op is instantiated in one of cuda/elementwise_{unary,binary,compare,backward}.cu for the
// dtypes its kTypes names; other dtypes are refused with the op's name.
#include "cuda/elementwise_functors.h"
#include "tensor/tensor.h"

namespace rvos::cuda {

template <class Op>
void unary(const Tensor& out, const Tensor& in, const Op& op);

template <class Op>
void binary(const Tensor& out, const Tensor& a, const Tensor& b, const Op& op);

template <class Op>
void ternary(const Tensor& out, const Tensor& a, const Tensor& b, const Tensor& c, const Op& op);

}  // namespace rvos::cuda
