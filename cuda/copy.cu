// Strided copy with dtype conversion, and fill. Copies run on the elementwise kernels
// (elementwise_loops.cuh): 16-byte vectorised loads and stores when both sides are contiguous,
// otherwise offsets over the collapsed dimensions (views of any rank whose dimensions merge to at
// most kMaxDims).
#include "cuda/common.cuh"
#include "cuda/copy.h"
#include "cuda/elementwise_loops.cuh"

namespace rvos::cuda {

namespace {

// The value itself: the conversion is the kernels' load and store (float compute for half types,
// bool as != 0), the rules of convert().
struct CopyValue {
  static constexpr const char* kName = "copy_kernel";
  template <class C>
  __device__ C operator()(C v) const {
    return v;
  }
};

template <class T>
__global__ void fill_kernel(T* dst, StridedIndexer ix, T value, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    dst[ix.offset(i)] = value;
  }
}

}  // namespace

void copy_strided(const Tensor& dst, const Tensor& src) {
  if (dst.shape() != src.shape()) throw std::invalid_argument("cuda::copy_strided: shapes differ");
  if (!dst.is_cuda() || !src.is_cuda() || dst.device() != src.device()) {
    throw std::invalid_argument("cuda::copy_strided: both tensors must be on the same CUDA device");
  }
  const int64_t n = dst.numel();
  if (n == 0) return;
  set_device_of(dst);
  const auto stream = static_cast<cudaStream_t>(current_stream());
  if (dst.dtype() == src.dtype() && dst.is_contiguous() && src.is_contiguous()) {
    RVOS_CUDA_CHECK(cudaMemcpyAsync(dst.raw_data(), src.raw_data(), static_cast<size_t>(n) * dst.element_size(),
                                    cudaMemcpyDeviceToDevice, stream));
    return;
  }
  dispatch_device_all(dst.dtype(), "copy_", [&](auto dtag) {
    using D = typename decltype(dtag)::type;
    dispatch_device_all(src.dtype(), "copy_", [&](auto stag) {
      using S = typename decltype(stag)::type;
      elementwise_kernels::launch<D, CopyValue, S>(CopyValue{}, dst, {&src});
    });
  });
}

void fill(const Tensor& dst, double float_value, int64_t int_value) {
  if (!dst.is_cuda()) throw std::invalid_argument("cuda::fill: the tensor must be on a CUDA device");
  const int64_t n = dst.numel();
  if (n == 0) return;
  set_device_of(dst);
  dispatch_device_all(dst.dtype(), "fill_", [&](auto tag) {
    using T = typename decltype(tag)::type;
    T v;
    if constexpr (std::is_same_v<compute_t<T>, float> || std::is_same_v<T, double>) {
      convert(&v, &float_value);
    } else {
      convert(&v, &int_value);
    }
    fill_kernel<T><<<blocks_for(n), 256, 0, static_cast<cudaStream_t>(current_stream())>>>(
        static_cast<T*>(dst.raw_data()), make_indexer(dst), v, n);
    RVOS_CUDA_CHECK_LAUNCH("fill_kernel");
  });
}

}  // namespace rvos::cuda
