// The softmax kernels of bench_gpu_attention's unfused reference (cuBLAS GEMMs around them); in
// a .cu of their own so that the benchmark itself stays host code.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <type_traits>

namespace {

__device__ __forceinline__ float to_float(float x) { return x; }
__device__ __forceinline__ float to_float(__nv_bfloat16 x) { return __bfloat162float(x); }
__device__ __forceinline__ float to_float(__half x) { return __half2float(x); }
template <class T>
__device__ __forceinline__ T from_float(float x) {
  if constexpr (std::is_same_v<T, __nv_bfloat16>) return __float2bfloat16_rn(x);
  else if constexpr (std::is_same_v<T, __half>) return __float2half_rn(x);
  else return x;
}

// In place over rows of n elements: x = softmax(x), one warp per row.
template <class T>
__global__ void softmax_rows_kernel(T* x, int64_t rows, int64_t n) {
  const int64_t row = int64_t(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (row >= rows) return;
  T* p = x + row * n;
  float m = -INFINITY;
  for (int64_t j = lane; j < n; j += 32) m = fmaxf(m, to_float(p[j]));
  for (int w = 16; w >= 1; w /= 2) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, w));
  float s = 0.0f;
  for (int64_t j = lane; j < n; j += 32) s += __expf(to_float(p[j]) - m);
  for (int w = 16; w >= 1; w /= 2) s += __shfl_xor_sync(0xffffffffu, s, w);
  const float inv = 1.0f / s;
  for (int64_t j = lane; j < n; j += 32) p[j] = from_float<T>(__expf(to_float(p[j]) - m) * inv);
}

// In place: dp = p * (dp - rowsum(dp * p)), the gradient of the scores.
template <class T>
__global__ void softmax_backward_rows_kernel(const T* p, T* dp, int64_t rows, int64_t n) {
  const int64_t row = int64_t(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (row >= rows) return;
  const T* pr = p + row * n;
  T* dr = dp + row * n;
  float d = 0.0f;
  for (int64_t j = lane; j < n; j += 32) d += to_float(pr[j]) * to_float(dr[j]);
  for (int w = 16; w >= 1; w /= 2) d += __shfl_xor_sync(0xffffffffu, d, w);
  for (int64_t j = lane; j < n; j += 32) dr[j] = from_float<T>(to_float(pr[j]) * (to_float(dr[j]) - d));
}

unsigned blocks_for_rows(int64_t rows) { return static_cast<unsigned>((rows + 7) / 8); }

}  // namespace

// dtype: 0 float32, 1 bfloat16, 2 float16. Returns the launch error.
cudaError_t bench_softmax_rows(void* x, int dtype, int64_t rows, int64_t n, cudaStream_t stream) {
  const unsigned blocks = blocks_for_rows(rows);
  if (dtype == 1) softmax_rows_kernel<<<blocks, 256, 0, stream>>>(static_cast<__nv_bfloat16*>(x), rows, n);
  else if (dtype == 2) softmax_rows_kernel<<<blocks, 256, 0, stream>>>(static_cast<__half*>(x), rows, n);
  else softmax_rows_kernel<<<blocks, 256, 0, stream>>>(static_cast<float*>(x), rows, n);
  return cudaGetLastError();
}

cudaError_t bench_softmax_backward_rows(const void* p, void* dp, int dtype, int64_t rows, int64_t n,
                                        cudaStream_t stream) {
  const unsigned blocks = blocks_for_rows(rows);
  if (dtype == 1) {
    softmax_backward_rows_kernel<<<blocks, 256, 0, stream>>>(static_cast<const __nv_bfloat16*>(p),
                                                             static_cast<__nv_bfloat16*>(dp), rows, n);
  } else if (dtype == 2) {
    softmax_backward_rows_kernel<<<blocks, 256, 0, stream>>>(static_cast<const __half*>(p), static_cast<__half*>(dp),
                                                             rows, n);
  } else {
    softmax_backward_rows_kernel<<<blocks, 256, 0, stream>>>(static_cast<const float*>(p), static_cast<float*>(dp),
                                                             rows, n);
  }
  return cudaGetLastError();
}
