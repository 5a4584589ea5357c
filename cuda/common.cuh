#pragma once
// What every CUDA kernel file of rvos shares: checked calls, the stream kernels run on, strided
// tensor access, dtype dispatch with float32 compute for half types, and launch sizing.
//
// Conventions of the kernels in cuda/:
// - the ops layer (ops/*.cpp) checks arguments, shapes and dtypes and allocates outputs; a kernel
//   entry point (declared in cuda/<family>.h, namespace rvos::cuda) receives ready tensors;
// - inputs may be any strided view (broadcast views have stride 0); outputs are contiguous
//   unless the entry point says otherwise;
// - half and bfloat16 load to float, compute in float and round once on store;
// - every launch is followed by RVOS_CUDA_CHECK_LAUNCH, so an error names the kernel.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "cuda/stream.h"
#include "tensor/tensor.h"

namespace rvos::cuda {

[[noreturn]] void throw_cuda_error(cudaError_t err, const char* call, const char* file, int line);

}  // namespace rvos::cuda

#define RVOS_CUDA_CHECK(call)                                                                 \
  do {                                                                                        \
    const cudaError_t rvos_err_ = (call);                                                     \
    if (rvos_err_ != cudaSuccess) ::rvos::cuda::throw_cuda_error(rvos_err_, #call, __FILE__, __LINE__); \
  } while (0)

// After a kernel launch: launch-configuration errors now, and (with RVOS_CUDA_SYNC_CHECK=1 in
// the environment) execution errors of this very kernel.
#define RVOS_CUDA_CHECK_LAUNCH(kernel_name) ::rvos::cuda::check_launch(kernel_name, __FILE__, __LINE__)

namespace rvos::cuda {

void check_launch(const char* kernel_name, const char* file, int line);

// Up to this many dimensions are addressed by the strided kernels (the ops layer collapses or
// refuses more).
inline constexpr int kMaxDims = 8;

// Element offsets of a strided view, computed from a linear index in row-major order of `sizes`.
struct StridedIndexer {
  int32_t ndim = 0;
  int64_t sizes[kMaxDims];
  int64_t strides[kMaxDims];  // in elements

  __host__ __device__ int64_t offset(int64_t linear) const {
    int64_t off = 0;
    for (int32_t d = ndim - 1; d >= 0; --d) {
      const int64_t i = linear % sizes[d];
      linear /= sizes[d];
      off += i * strides[d];
    }
    return off;
  }
};

// The indexer of `t` (throws beyond kMaxDims); a 0-d tensor gets one dimension of size 1.
StridedIndexer make_indexer(const Tensor& t);

// Float compute type of a storage type.
template <class T> struct Compute { using type = T; };
template <> struct Compute<__half> { using type = float; };
template <> struct Compute<__nv_bfloat16> { using type = float; };
template <> struct Compute<bool> { using type = bool; };
template <class T> using compute_t = typename Compute<T>::type;

template <class T>
__host__ __device__ inline compute_t<T> load(const T* p) {
  if constexpr (std::is_same_v<T, __half>) return __half2float(*p);
  else if constexpr (std::is_same_v<T, __nv_bfloat16>) return __bfloat162float(*p);
  else return *p;
}

template <class T, class C>
__host__ __device__ inline void store(T* p, C v) {
  if constexpr (std::is_same_v<T, __half>) *p = __float2half_rn(static_cast<float>(v));
  else if constexpr (std::is_same_v<T, __nv_bfloat16>) *p = __float2bfloat16_rn(static_cast<float>(v));
  else if constexpr (std::is_same_v<T, bool>) *p = static_cast<bool>(v);
  else *p = static_cast<T>(v);
}

// Conversion between any two element types through their compute types (bool: != 0).
template <class D, class S>
__host__ __device__ inline void convert(D* dst, const S* src) {
  const auto v = load(src);
  if constexpr (std::is_same_v<D, bool>) *dst = v != decltype(v)(0);
  else if constexpr (std::is_same_v<D, __half> || std::is_same_v<D, __nv_bfloat16>) store(dst, static_cast<float>(v));
  else *dst = static_cast<D>(v);
}

template <class T> struct TypeTag { using type = T; };

// Calls f(TypeTag<T>{}) with the device type of `dtype`.
template <class F>
void dispatch_device_all(DType dtype, const char* op, F&& f) {
  switch (dtype) {
    case DType::Bool: return f(TypeTag<bool>{});
    case DType::U8: return f(TypeTag<uint8_t>{});
    case DType::I32: return f(TypeTag<int32_t>{});
    case DType::I64: return f(TypeTag<int64_t>{});
    case DType::F16: return f(TypeTag<__half>{});
    case DType::BF16: return f(TypeTag<__nv_bfloat16>{});
    case DType::F32: return f(TypeTag<float>{});
    case DType::F64: return f(TypeTag<double>{});
  }
  throw std::invalid_argument(std::string(op) + ": unsupported dtype on CUDA");
}

template <class F>
void dispatch_device_floating(DType dtype, const char* op, F&& f) {
  switch (dtype) {
    case DType::F16: return f(TypeTag<__half>{});
    case DType::BF16: return f(TypeTag<__nv_bfloat16>{});
    case DType::F32: return f(TypeTag<float>{});
    case DType::F64: return f(TypeTag<double>{});
    default: throw std::invalid_argument(std::string(op) + ": CUDA kernel needs a floating dtype, got " + dtype_name(dtype));
  }
}

// Grid for a grid-stride loop over n elements.
inline unsigned int blocks_for(int64_t n, int threads = 256) {
  const int64_t b = (n + threads - 1) / threads;
  return static_cast<unsigned int>(b < 1 ? 1 : (b > 65535 * 8 ? 65535 * 8 : b));
}

// The device index of a CUDA tensor, made current for the launches that follow.
int set_device_of(const Tensor& t);

// FNV-1a over an array of int64 values: the hash of the problem keys under which per-thread caches
// keep library answers (cuBLASLt heuristics, cuDNN algorithm choices).
struct Int64ArrayHash {
  template <size_t N>
  size_t operator()(const std::array<int64_t, N>& key) const {
    size_t h = 1469598103934665603ull;
    for (int64_t v : key) h = (h ^ static_cast<size_t>(v)) * 1099511628211ull;
    return h;
  }
};

}  // namespace rvos::cuda
