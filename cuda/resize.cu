// Resampling kernels: separable tap passes (bilinear, bicubic, antialiased, and every backward),
// nearest gathers and the direct bilinear evaluation. Products and sums are rounded one by one
// (no fused multiply-add), as the CPU kernels compute them.
#include <algorithm>
#include <cstring>
#include <type_traits>
#include <vector>

#include "cuda/common.cuh"
#include "cuda/resize.h"

namespace rvos::cuda {

namespace {

cudaStream_t stream() { return static_cast<cudaStream_t>(current_stream()); }

// The taps of one axis in device memory.
struct DeviceTaps {
  int64_t out = 0;
  const int64_t* start = nullptr;
  const int64_t* index = nullptr;
  const double* weight = nullptr;
};

// Copies the given taps (nulls skipped) to the device in one transfer on the current stream; the
// returned tensor owns the memory the DeviceTaps point into.
Tensor upload(const std::vector<const TapsView*>& taps, Device device, std::vector<DeviceTaps>& out) {
  std::vector<int64_t> words;
  std::vector<size_t> offsets;
  for (const TapsView* t : taps) {
    offsets.push_back(words.size());
    if (t == nullptr) continue;
    const int64_t count = t->start[t->out];
    words.insert(words.end(), t->start, t->start + t->out + 1);
    words.insert(words.end(), t->index, t->index + count);
    const size_t at = words.size();
    words.resize(at + static_cast<size_t>(count));
    if (count > 0) std::memcpy(words.data() + at, t->weight, static_cast<size_t>(count) * sizeof(double));
  }
  Tensor buffer = Tensor::empty({static_cast<int64_t>(std::max<size_t>(words.size(), 1))}, DType::I64, device);
  if (!words.empty()) {
    // From pageable memory the copy is staged before the call returns, so `words` may go.
    RVOS_CUDA_CHECK(cudaMemcpyAsync(buffer.raw_data(), words.data(), words.size() * sizeof(int64_t),
                                    cudaMemcpyHostToDevice, stream()));
  }
  const auto* base = static_cast<const int64_t*>(buffer.raw_data());
  out.clear();
  for (size_t i = 0; i < taps.size(); ++i) {
    DeviceTaps d;
    if (const TapsView* t = taps[i]) {
      const int64_t count = t->start[t->out];
      d.out = t->out;
      d.start = base + offsets[i];
      d.index = d.start + t->out + 1;
      d.weight = reinterpret_cast<const double*>(d.index + count);
    }
    out.push_back(d);
  }
  return buffer;
}

__device__ inline float mul_rn(float a, float b) { return __fmul_rn(a, b); }
__device__ inline double mul_rn(double a, double b) { return __dmul_rn(a, b); }
__device__ inline float add_rn(float a, float b) { return __fadd_rn(a, b); }
__device__ inline double add_rn(double a, double b) { return __dadd_rn(a, b); }

__device__ inline int64_t plane_offset(const PlaneLayout& l, int64_t p) { return (p / l.C) * l.sn + (p % l.C) * l.sc; }

// dst[p][h][o] = sum over the taps of output o of src[p][h][index] * weight, in A; dst contiguous.
template <class S, class D, class A>
__global__ void pass_w_kernel(const S* __restrict__ src, PlaneLayout l, int64_t rows, DeviceTaps t,
                              D* __restrict__ dst, int64_t n) {
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < n; e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t o = e % t.out, r = e / t.out;
    const S* row = src + plane_offset(l, r / rows) + (r % rows) * l.sh;
    const int64_t b = t.start[o], end = t.start[o + 1];
    A acc = A(0);
    if (b < end) {
      acc = mul_rn(static_cast<A>(load(row + t.index[b] * l.sw)), static_cast<A>(t.weight[b]));
      for (int64_t k = b + 1; k < end; ++k) {
        acc = add_rn(acc, mul_rn(static_cast<A>(load(row + t.index[k] * l.sw)), static_cast<A>(t.weight[k])));
      }
    }
    store(dst + e, acc);
  }
}

// dst[p][o][c] = sum over the taps of output o of src[p][index][c] * weight, in A; dst contiguous.
template <class S, class D, class A>
__global__ void pass_h_kernel(const S* __restrict__ src, PlaneLayout l, int64_t cols, DeviceTaps t,
                              D* __restrict__ dst, int64_t n) {
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < n; e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t c = e % cols, r = e / cols, o = r % t.out;
    const S* col = src + plane_offset(l, r / t.out) + c * l.sw;
    const int64_t b = t.start[o], end = t.start[o + 1];
    A acc = A(0);
    if (b < end) {
      acc = mul_rn(static_cast<A>(load(col + t.index[b] * l.sh)), static_cast<A>(t.weight[b]));
      for (int64_t k = b + 1; k < end; ++k) {
        acc = add_rn(acc, mul_rn(static_cast<A>(load(col + t.index[k] * l.sh)), static_cast<A>(t.weight[k])));
      }
    }
    store(dst + e, acc);
  }
}

template <class T>
__global__ void nearest_kernel(const T* __restrict__ src, PlaneLayout l, DeviceTaps th, DeviceTaps tw,
                               T* __restrict__ dst, int64_t n) {
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < n; e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t ow = e % tw.out, oh = (e / tw.out) % th.out, p = e / (tw.out * th.out);
    dst[e] = src[plane_offset(l, p) + th.index[th.start[oh]] * l.sh + tw.index[tw.start[ow]] * l.sw];
  }
}

template <class T>
__global__ void bilinear_direct_kernel(const T* __restrict__ src, PlaneLayout l, DeviceTaps th, DeviceTaps tw,
                                       T* __restrict__ dst, int64_t n) {
  using M = compute_t<T>;
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < n; e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t ow = e % tw.out, oh = (e / tw.out) % th.out, p = e / (tw.out * th.out);
    const int64_t b = th.start[oh], k = tw.start[ow];
    const T* row0 = src + plane_offset(l, p) + th.index[b] * l.sh;
    const T* row1 = src + plane_offset(l, p) + th.index[b + 1] * l.sh;
    const M h0 = static_cast<M>(th.weight[b]), h1 = static_cast<M>(th.weight[b + 1]);
    const M w0 = static_cast<M>(tw.weight[k]), w1 = static_cast<M>(tw.weight[k + 1]);
    const int64_t i0 = tw.index[k] * l.sw, i1 = tw.index[k + 1] * l.sw;
    const M w00 = mul_rn(h0, w0), w01 = mul_rn(h0, w1), w10 = mul_rn(h1, w0), w11 = mul_rn(h1, w1);
    M v = add_rn(mul_rn(static_cast<M>(load(row0 + i0)), w00), mul_rn(static_cast<M>(load(row0 + i1)), w01));
    v = add_rn(v, mul_rn(static_cast<M>(load(row1 + i0)), w10));
    v = add_rn(v, mul_rn(static_cast<M>(load(row1 + i1)), w11));
    store(dst + e, v);
  }
}

void check_resize(const char* what, const Tensor& dst, const Tensor& src) {
  if (!dst.is_cuda() || !src.is_cuda() || dst.device() != src.device() || !dst.is_contiguous() ||
      dst.dtype() != src.dtype()) {
    throw std::invalid_argument(std::string("interpolate: ") + what +
                                " needs a contiguous result on the source's device, of its dtype");
  }
}

}  // namespace

void resize_separable(const Tensor& dst, const Tensor& src, const PlaneLayout& layout, int64_t P, int64_t H,
                      int64_t W, const TapsView* tw, const TapsView* th, bool double_accumulation) {
  check_resize("resize_separable", dst, src);
  if (tw == nullptr && th == nullptr) throw std::invalid_argument("interpolate: no axis to resample");
  set_device_of(dst);
  if (dst.numel() == 0 || P == 0) return;
  std::vector<DeviceTaps> taps;
  const Tensor keep = upload({tw, th}, dst.device(), taps);
  const DeviceTaps dtw = taps[0], dth = taps[1];
  dispatch_device_floating(src.dtype(), "interpolate", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* s = static_cast<const T*>(src.raw_data());
    T* d = static_cast<T*>(dst.raw_data());
    auto run = [&](auto accumulator) {
      using A = typename decltype(accumulator)::type;
      if (tw != nullptr && th != nullptr) {
        const int64_t n1 = P * H * dtw.out, n2 = P * dth.out * dtw.out;
        const Tensor tmp = Tensor::empty({n1}, std::is_same_v<A, double> ? DType::F64 : DType::F32, dst.device());
        A* t = static_cast<A*>(tmp.raw_data());
        pass_w_kernel<T, A, A><<<blocks_for(n1), 256, 0, stream()>>>(s, layout, H, dtw, t, n1);
        RVOS_CUDA_CHECK_LAUNCH("pass_w_kernel");
        const PlaneLayout contiguous{1, H * dtw.out, 0, dtw.out, 1};
        pass_h_kernel<A, T, A><<<blocks_for(n2), 256, 0, stream()>>>(t, contiguous, dtw.out, dth, d, n2);
        RVOS_CUDA_CHECK_LAUNCH("pass_h_kernel");
      } else if (tw != nullptr) {
        const int64_t n = P * H * dtw.out;
        pass_w_kernel<T, T, A><<<blocks_for(n), 256, 0, stream()>>>(s, layout, H, dtw, d, n);
        RVOS_CUDA_CHECK_LAUNCH("pass_w_kernel");
      } else {
        const int64_t n = P * dth.out * W;
        pass_h_kernel<T, T, A><<<blocks_for(n), 256, 0, stream()>>>(s, layout, W, dth, d, n);
        RVOS_CUDA_CHECK_LAUNCH("pass_h_kernel");
      }
    };
    if (double_accumulation || std::is_same_v<T, double>) {
      run(TypeTag<double>{});
    } else {
      run(TypeTag<float>{});
    }
  });
}

void resize_nearest(const Tensor& dst, const Tensor& src, const PlaneLayout& layout, int64_t P, const TapsView& th,
                    const TapsView& tw) {
  check_resize("resize_nearest", dst, src);
  set_device_of(dst);
  const int64_t n = P * th.out * tw.out;
  if (n == 0) return;
  std::vector<DeviceTaps> taps;
  const Tensor keep = upload({&th, &tw}, dst.device(), taps);
  dispatch_device_all(src.dtype(), "interpolate", [&](auto tag) {
    using T = typename decltype(tag)::type;
    nearest_kernel<T><<<blocks_for(n), 256, 0, stream()>>>(static_cast<const T*>(src.raw_data()), layout, taps[0],
                                                            taps[1], static_cast<T*>(dst.raw_data()), n);
    RVOS_CUDA_CHECK_LAUNCH("nearest_kernel");
  });
}

void resize_bilinear_direct(const Tensor& dst, const Tensor& src, const PlaneLayout& layout, int64_t P,
                            const TapsView& th, const TapsView& tw) {
  check_resize("resize_bilinear_direct", dst, src);
  set_device_of(dst);
  const int64_t n = P * th.out * tw.out;
  if (n == 0) return;
  std::vector<DeviceTaps> taps;
  const Tensor keep = upload({&th, &tw}, dst.device(), taps);
  dispatch_device_floating(src.dtype(), "interpolate", [&](auto tag) {
    using T = typename decltype(tag)::type;
    bilinear_direct_kernel<T><<<blocks_for(n), 256, 0, stream()>>>(static_cast<const T*>(src.raw_data()), layout,
                                                                    taps[0], taps[1], static_cast<T*>(dst.raw_data()),
                                                                    n);
    RVOS_CUDA_CHECK_LAUNCH("bilinear_direct_kernel");
  });
}

}  // namespace rvos::cuda
