#pragma once
// Copies, casts and fills on the device.
#include "tensor/tensor.h"

namespace rvos::cuda {

// dst[i] = cast(src[i]) for tensors of the same shape on one CUDA device, any dtypes, any strides
// (src may be a broadcast view; dst must not overlap itself, i.e. no stride-0 dimension of size > 1).
void copy_strided(const Tensor& dst, const Tensor& src);

// Every element of dst (any strides) set to a value: `int_value` for integer and bool dtypes
// (exact for all of int64), `float_value` for floating ones.
void fill(const Tensor& dst, double float_value, int64_t int_value);

}  // namespace rvos::cuda
