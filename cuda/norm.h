#pragma once
// layer_norm on the device, forward and backward.
#include <cstdint>

#include "tensor/tensor.h"

namespace rvos::cuda {

// y = layer_norm of the M rows of N elements of a contiguous x (y contiguous, x's dtype); the rows'
// mean and 1 / sqrt(var + eps) are written to `mean` and `rstd` (float64 [M]). weight and bias
// are optional (undefined) contiguous [N] tensors, either of x's dtype or float64 (both the same
// kind when both are given). Statistics and the normalised value are computed in float64 as the
// CPU kernel computes them; the affine step in the compute type.
void layer_norm_forward(const Tensor& y, const Tensor& mean, const Tensor& rstd, const Tensor& x, const Tensor& weight,
                        const Tensor& bias, int64_t M, int64_t N, double eps);

// Gradients of layer_norm from contiguous g and x (same dtype) and the saved mean and rstd:
// dx (x's dtype) and the float64 sums over rows dweight = sum(g * xhat), dbias = sum(g); each of
// the three is optional (undefined: not computed). weight as in the forward.
void layer_norm_backward(const Tensor& dx, const Tensor& dweight, const Tensor& dbias, const Tensor& g,
                         const Tensor& x, const Tensor& mean, const Tensor& rstd, const Tensor& weight, int64_t M,
                         int64_t N);

}  // namespace rvos::cuda
