#pragma once
// Matrix products on the device through cuBLAS and cuBLASLt.
//
// One cuBLAS and one cuBLASLt handle per device and thread, created on first use and bound to the
// thread's current stream (cuda/stream.h) at every call, with a workspace from the caching
// allocator per stream. Float32 products use plain FP32 arithmetic unless TF32 is allowed;
// float16/bfloat16 products accumulate in float32 (reduced-precision split-K reductions are
// disallowed); float64 products run in float64.
#include <cstdint>

#include "tensor/tensor.h"

namespace rvos::cuda {

// What the GEMM epilogue applies after adding the bias: nothing, max(x, 0), or GELU in its tanh
// approximation (the one cuBLASLt implements).
enum class Epilogue { None, Relu, GeluTanh };

struct GemmOptions {
  // Float32 inputs may be rounded to TF32 on the tensor cores (about 1e-3 relative error).
  bool allow_tf32 = false;
};

// out[t] = epilogue(a[t] @ b[t] + bias) for a [B, n, k] and b [B, k, m] of one floating dtype and
// any strides: a batch stride of 0 broadcasts, and a matrix stored transposed is handed to cuBLAS
// as op(T) without a copy (only matrices with neither unit row nor unit column stride are copied).
// out is a contiguous [B, n, m] of the same dtype; bias is [m] (any stride) or undefined. With a
// bias or an epilogue, cuBLASLt applies them in the GEMM's epilogue where it has an algorithm for
// the problem; otherwise (and for float64) a separate kernel does.
void matmul(const Tensor& out, const Tensor& a, const Tensor& b, const Tensor& bias, Epilogue epilogue,
            const GemmOptions& options);

// A batch of row-major matrices in device memory: element (i, j) of matrix t is at
// data + t * batch_stride + i * row_stride + j * col_stride (in elements).
struct MatrixBatch {
  void* data = nullptr;
  DType dtype = DType::F32;
  int64_t rows = 0, cols = 0;
  int64_t row_stride = 0, col_stride = 1, batch_stride = 0;
};

// c[t] = alpha * a[t] @ b[t] + beta * c[t] for t < batch, on the device of the current CUDA device
// (the caller sets it). a and b share a floating dtype; c has the same dtype, or float32 for
// float16/bfloat16 inputs (the float32 sums unrounded). Operands need a unit row or column stride;
// c needs a unit stride on either side too. Throws naming the cuBLAS call when it fails.
void gemm(const MatrixBatch& c, const MatrixBatch& a, const MatrixBatch& b, int64_t batch, double alpha, double beta,
          const GemmOptions& options);

// Whether gemm() accepts this matrix as it is (one unit stride and a valid leading dimension).
bool gemm_accepts(const MatrixBatch& m);

}  // namespace rvos::cuda
