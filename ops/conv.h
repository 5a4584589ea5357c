#pragma once
// 2-D convolution and pooling on NCHW tensors (batch dim optional, as in PyTorch), on the CPU and CUDA.
#include <array>

#include "ops/common.h"

namespace rvos {

using Size2 = std::array<int64_t, 2>;

// weight [C_out, C_in/groups, kH, kW], bias [C_out] optional.
Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor(), Size2 stride = {1, 1},
              Size2 padding = {0, 0}, Size2 dilation = {1, 1}, int64_t groups = 1);
// weight [C_in, C_out/groups, kH, kW] (PyTorch's layout), bias [C_out] optional.
Tensor conv_transpose2d(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor(), Size2 stride = {1, 1},
                        Size2 padding = {0, 0}, Size2 output_padding = {0, 0}, int64_t groups = 1,
                        Size2 dilation = {1, 1});
// stride defaults to kernel_size when {0, 0}.
Tensor max_pool2d(const Tensor& x, Size2 kernel_size, Size2 stride = {0, 0}, Size2 padding = {0, 0},
                  Size2 dilation = {1, 1}, bool ceil_mode = false);
Tensor avg_pool2d(const Tensor& x, Size2 kernel_size, Size2 stride = {0, 0}, Size2 padding = {0, 0},
                  bool ceil_mode = false, bool count_include_pad = true);

// Who computes convolutions of CUDA tensors: rvos's own kernels (the default) or cuDNN. The
// default is read from RVOS_CONV_BACKEND ("native" or "cudnn") on first use; CPU tensors ignore it.
enum class ConvBackend { Native, Cudnn };
void set_conv_backend(ConvBackend backend);
ConvBackend conv_backend();

}  // namespace rvos
