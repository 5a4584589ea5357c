#pragma once
// Matrix products: on the CPU through Eigen's multithreaded GEMM, on CUDA through cuBLAS.
#include "ops/common.h"

namespace rvos {

// torch.matmul: 1-D/2-D/batched with broadcasting of the batch dimensions.
Tensor matmul(const Tensor& a, const Tensor& b);
// [B, n, k] x [B, k, m] -> [B, n, m].
Tensor bmm(const Tensor& a, const Tensor& b);
// x [..., in] times weight [out, in] transposed, plus bias [out] when defined.
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor());

enum class LinearActivation { None, Relu, GeluTanh };
// activation(linear(x, weight, bias)) with relu or gelu(approximate="tanh"). On CUDA tensors, when
// no gradient is recorded, the bias and the activation are applied in the GEMM's epilogue.
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias, LinearActivation activation);

// Whether float32 matrix products and convolutions on CUDA may round their inputs to TF32 on the
// tensor cores (faster, about 1e-3 relative error). Off by default, so that float32 results match
// the CPU within float32 rounding; RVOS_ALLOW_TF32=1 in the environment turns it on.
void set_allow_tf32(bool allow);
bool allow_tf32();

}  // namespace rvos
