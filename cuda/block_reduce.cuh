#pragma once
// Warp and block reductions and launch sizing shared by the reduction, softmax and normalisation
// kernels.
#include <cuda_runtime.h>

#include <cstdint>

#include "cuda/common.cuh"

namespace rvos::cuda {

inline constexpr int kWarpSize = 32;
inline constexpr unsigned kFullMask = 0xffffffffu;

// Streaming multiprocessors of `device` (queried once per device).
inline int multiprocessor_count(int device) {
  static int counts[64] = {};
  if (device < 0 || device >= 64) return 1;
  if (counts[device] == 0) {
    int n = 0;
    RVOS_CUDA_CHECK(cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, device));
    counts[device] = n > 0 ? n : 1;
  }
  return counts[device];
}

// Smallest power of two >= n (1 for n <= 1), capped at 2^30.
inline int next_pow2(int64_t n) {
  int p = 1;
  while (p < n && p < (1 << 30)) p <<= 1;
  return p;
}

template <class T>
__device__ __forceinline__ T warp_sum(T v) {
#pragma unroll
  for (int offset = kWarpSize / 2; offset > 0; offset >>= 1) v += __shfl_xor_sync(kFullMask, v, offset);
  return v;
}

// Max that lets NaN through (fmax would drop it).
template <class T>
__device__ __forceinline__ T max_propagate_nan(T a, T b) {
  return (a != a || a > b) ? a : b;
}

// Max ignoring NaN the way `v > m ? v : m` does: the running value stays unless the new one is
// greater (so NaN never replaces a number and a NaN seed is replaced by the first number).
template <class T>
__device__ __forceinline__ T max_skip_nan(T a, T b) {
  return b > a ? b : a;
}

template <class T>
__device__ __forceinline__ T warp_max_skip_nan(T v) {
#pragma unroll
  for (int offset = kWarpSize / 2; offset > 0; offset >>= 1) v = max_skip_nan(v, __shfl_xor_sync(kFullMask, v, offset));
  return v;
}

// Sum over the whole block (every thread gets the result). `scratch` holds one T per warp; the
// block size is a multiple of the warp size. Callable repeatedly with the same scratch.
template <class T>
__device__ __forceinline__ T block_sum(T v, T* scratch) {
  const int lane = threadIdx.x % kWarpSize, warp = threadIdx.x / kWarpSize;
  const int warps = blockDim.x / kWarpSize;
  v = warp_sum(v);
  __syncthreads();  // scratch may still be read by a previous call
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  T total = lane < warps ? scratch[lane] : T(0);
  return warp_sum(total);
}

template <class T>
__device__ __forceinline__ T block_max_skip_nan(T v, T* scratch, T lowest) {
  const int lane = threadIdx.x % kWarpSize, warp = threadIdx.x / kWarpSize;
  const int warps = blockDim.x / kWarpSize;
  v = warp_max_skip_nan(v);
  __syncthreads();
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  T m = lane < warps ? scratch[lane] : lowest;
  return warp_max_skip_nan(m);
}

}  // namespace rvos::cuda
