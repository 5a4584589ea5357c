#pragma once
// cuDNN convolutions: the alternative backend of cuda/conv.h and the reference of its tests and
// benchmarks. Without cuDNN at build time, available() is false and the calls throw.
#include "cuda/conv.h"

namespace rvos::cuda::cudnn {

bool available();
// y = conv(x, w) (no bias), gx = its input gradient, gw = its weight gradient; contiguous NCHW.
void conv_forward(const Tensor& y, const Tensor& x, const Tensor& w, const ConvGeometry& g, bool allow_tf32);
void conv_backward_data(const Tensor& gx, const Tensor& gy, const Tensor& w, const ConvGeometry& g, bool allow_tf32);
void conv_backward_filter(const Tensor& gw, const Tensor& x, const Tensor& gy, const ConvGeometry& g,
                          bool allow_tf32);

}  // namespace rvos::cuda::cudnn
