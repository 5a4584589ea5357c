#pragma once
// Convolutions and pooling on the device.
//
// A convolution maps an input [N, C_in, H, W] to an output [N, C_out, OH, OW] with a weight
// [C_out, C_in/groups, kH, kW]; a transposed convolution is the input gradient of the
// convolution whose output it takes (as in ops/conv.cpp), so three entry points cover both.
// Tensors are contiguous NCHW of one floating dtype; half types compute in float32.
#include <cstdint>

#include "tensor/tensor.h"

namespace rvos::cuda {

struct ConvGeometry {
  int64_t N = 0, C_in = 0, H = 0, W = 0;
  int64_t C_out = 0, OH = 0, OW = 0;
  int64_t kH = 1, kW = 1, sH = 1, sW = 1, pH = 0, pW = 0, dH = 1, dW = 1, groups = 1;
};

// Who computes: rvos's kernels, or cuDNN (the reference in tests and benchmarks).
enum class ConvImpl { Native, Cudnn };

struct ConvOptions {
  ConvImpl impl = ConvImpl::Native;
  bool allow_tf32 = false;  // float32 GEMMs / cuDNN kernels may use TF32 tensor cores
};

// The kernel a native convolution runs; what a benchmark or test expects to exercise.
enum class ConvPath {
  Depthwise,       // one input channel per group: tiled direct kernels
  Pointwise,       // 1x1, stride 1, no padding: one cuBLAS GEMM per sample or group
  Direct,          // small C_in/groups * kH * kW: direct kernel, weights in shared memory
  NonOverlapping,  // input gradient / transposed convolution with kernel == stride: direct kernel
  Im2col,          // the general path: im2col (or col2im) around cuBLAS GEMMs
  Cudnn,
};
const char* conv_path_name(ConvPath path);
ConvPath conv2d_forward_path(const ConvGeometry& g, const ConvOptions& options);
ConvPath conv2d_input_grad_path(const ConvGeometry& g, const ConvOptions& options);
ConvPath conv2d_weight_grad_path(const ConvGeometry& g, const ConvOptions& options);

// y [N, C_out, OH, OW] = conv(x, w) + bias [C_out] (bias may be undefined).
void conv2d_forward(const Tensor& y, const Tensor& x, const Tensor& w, const Tensor& bias, const ConvGeometry& g,
                    const ConvOptions& options);
// gx [N, C_in, H, W] = the input gradient for the output gradient gy, + bias [C_in] when defined
// (the forward of conv_transpose2d).
void conv2d_input_grad(const Tensor& gx, const Tensor& gy, const Tensor& w, const Tensor& bias,
                       const ConvGeometry& g, const ConvOptions& options);
// gw [C_out, C_in/groups, kH, kW] = the weight gradient for input x and output gradient gy.
void conv2d_weight_grad(const Tensor& gw, const Tensor& x, const Tensor& gy, const ConvGeometry& g,
                        const ConvOptions& options);
// out [C] = the sum of t [N, C, H, W] over N, H and W (a bias gradient).
void channel_sum(const Tensor& out, const Tensor& t);

// Whether rvos was built with cuDNN (ConvImpl::Cudnn throws otherwise).
bool cudnn_available();

// Pooling over planes [P, H, W] -> [P, OH, OW] (P = N * C), geometry as ops/conv.cpp computes it.
struct PoolGeometry {
  int64_t planes = 0, H = 0, W = 0, OH = 0, OW = 0;
  int64_t kH = 1, kW = 1, sH = 1, sW = 1, pH = 0, pW = 0, dH = 1, dW = 1;
};
// y = the maximum of each window (NaN wins), indices (int64) = the in-plane index of its first
// maximum in scan order, -1 for a window without input elements.
void max_pool2d_forward(const Tensor& y, const Tensor& indices, const Tensor& x, const PoolGeometry& g);
void max_pool2d_backward(const Tensor& gx, const Tensor& gy, const Tensor& indices, const PoolGeometry& g);
void avg_pool2d_forward(const Tensor& y, const Tensor& x, const PoolGeometry& g, bool count_include_pad);
void avg_pool2d_backward(const Tensor& gx, const Tensor& gy, const PoolGeometry& g, bool count_include_pad);

}  // namespace rvos::cuda
