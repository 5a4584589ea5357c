// Max and average pooling on the device, forward and backward. The backward kernels gather (one
// thread per input element, its windows in output order) instead of scattering with atomics, so
// the results are deterministic and add in the CPU kernels' order.
#include "cuda/common.cuh"
#include "cuda/conv.h"

namespace rvos::cuda {

namespace {

cudaStream_t stream() { return static_cast<cudaStream_t>(current_stream()); }

__host__ __device__ inline int64_t floor_div(int64_t a, int64_t b) {
  const int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

// Outputs o whose window [o*s - p, o*s - p + extent) contains position i: [lo, hi].
struct OutputRange {
  int64_t lo, hi;
};
__device__ inline OutputRange windows_containing(int64_t i, int64_t extent, int64_t stride, int64_t pad,
                                                 int64_t outputs) {
  const int64_t lo = floor_div(i + pad - extent, stride) + 1, hi = floor_div(i + pad, stride);
  return {lo < 0 ? 0 : lo, hi > outputs - 1 ? outputs - 1 : hi};
}

template <class T>
__global__ void max_pool_forward_kernel(const T* __restrict__ x, T* __restrict__ y, int64_t* __restrict__ indices,
                                        PoolGeometry g) {
  using C = compute_t<T>;
  const int64_t n = g.planes * g.OH * g.OW;
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < n; e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t ow = e % g.OW, oh = (e / g.OW) % g.OH, plane = e / (g.OW * g.OH);
    const T* xp = x + plane * g.H * g.W;
    int64_t h0 = oh * g.sH - g.pH, w0 = ow * g.sW - g.pW;
    const int64_t h1 = min(h0 + (g.kH - 1) * g.dH + 1, g.H), w1 = min(w0 + (g.kW - 1) * g.dW + 1, g.W);
    while (h0 < 0) h0 += g.dH;
    while (w0 < 0) w0 += g.dW;
    C best = -INFINITY;
    int64_t best_i = (h0 < h1 && w0 < w1) ? h0 * g.W + w0 : -1;
    for (int64_t ih = h0; ih < h1; ih += g.dH) {
      for (int64_t iw = w0; iw < w1; iw += g.dW) {
        const C v = load(xp + ih * g.W + iw);
        if (v > best || isnan(v)) {
          best = v;
          best_i = ih * g.W + iw;
        }
      }
    }
    store(y + e, best);
    indices[e] = best_i;
  }
}

// gx[plane][i] = the sum of gy over the outputs whose index is i, in output order.
template <class T>
__global__ void max_pool_backward_kernel(const T* __restrict__ gy, const int64_t* __restrict__ indices,
                                         T* __restrict__ gx, PoolGeometry g) {
  using C = compute_t<T>;
  const int64_t n = g.planes * g.H * g.W;
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < n; e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t iw = e % g.W, ih = (e / g.W) % g.H, plane = e / (g.W * g.H);
    const int64_t target = ih * g.W + iw;
    const OutputRange rh = windows_containing(ih, (g.kH - 1) * g.dH + 1, g.sH, g.pH, g.OH);
    const OutputRange rw = windows_containing(iw, (g.kW - 1) * g.dW + 1, g.sW, g.pW, g.OW);
    const int64_t* ip = indices + plane * g.OH * g.OW;
    const T* gp = gy + plane * g.OH * g.OW;
    C acc = 0;
    for (int64_t oh = rh.lo; oh <= rh.hi; ++oh) {
      for (int64_t ow = rw.lo; ow <= rw.hi; ++ow) {
        if (ip[oh * g.OW + ow] == target) acc += static_cast<C>(load(gp + oh * g.OW + ow));
      }
    }
    store(gx + e, acc);
  }
}

// The window of an average-pool output clipped to the input, and its divisor (ops/conv.cpp's
// avg_window).
struct AvgWindow {
  int64_t h0, h1, w0, w1, divisor;
};
__device__ inline AvgWindow avg_window(const PoolGeometry& g, int64_t oh, int64_t ow, bool count_include_pad) {
  int64_t h0 = oh * g.sH - g.pH, w0 = ow * g.sW - g.pW;
  int64_t h1 = min(h0 + g.kH, g.H + g.pH), w1 = min(w0 + g.kW, g.W + g.pW);
  const int64_t padded_size = (h1 - h0) * (w1 - w0);
  h0 = max(h0, int64_t(0));
  w0 = max(w0, int64_t(0));
  h1 = min(h1, g.H);
  w1 = min(w1, g.W);
  return {h0, h1, w0, w1, count_include_pad ? padded_size : (h1 - h0) * (w1 - w0)};
}

// Sums in double, as the CPU kernel does.
template <class T>
__global__ void avg_pool_forward_kernel(const T* __restrict__ x, T* __restrict__ y, PoolGeometry g,
                                        bool count_include_pad) {
  const int64_t n = g.planes * g.OH * g.OW;
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < n; e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t ow = e % g.OW, oh = (e / g.OW) % g.OH, plane = e / (g.OW * g.OH);
    const AvgWindow win = avg_window(g, oh, ow, count_include_pad);
    if (win.h0 >= win.h1 || win.w0 >= win.w1) {
      store(y + e, 0.0f);
      continue;
    }
    const T* xp = x + plane * g.H * g.W;
    double acc = 0;
    for (int64_t ih = win.h0; ih < win.h1; ++ih) {
      for (int64_t iw = win.w0; iw < win.w1; ++iw) acc += static_cast<double>(load(xp + ih * g.W + iw));
    }
    store(y + e, acc / static_cast<double>(win.divisor));
  }
}

// gx[plane][ih][iw] = the sum over the windows containing it of gy / divisor, in output order.
template <class T>
__global__ void avg_pool_backward_kernel(const T* __restrict__ gy, T* __restrict__ gx, PoolGeometry g,
                                         bool count_include_pad) {
  using C = compute_t<T>;
  const int64_t n = g.planes * g.H * g.W;
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < n; e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t iw = e % g.W, ih = (e / g.W) % g.H, plane = e / (g.W * g.H);
    const OutputRange rh = windows_containing(ih, g.kH, g.sH, g.pH, g.OH);
    const OutputRange rw = windows_containing(iw, g.kW, g.sW, g.pW, g.OW);
    const T* gp = gy + plane * g.OH * g.OW;
    C acc = 0;
    for (int64_t oh = rh.lo; oh <= rh.hi; ++oh) {
      for (int64_t ow = rw.lo; ow <= rw.hi; ++ow) {
        const AvgWindow win = avg_window(g, oh, ow, count_include_pad);
        if (win.h0 >= win.h1 || win.w0 >= win.w1) continue;
        acc += static_cast<C>(load(gp + oh * g.OW + ow)) / static_cast<C>(win.divisor);
      }
    }
    store(gx + e, acc);
  }
}

void check_pool(const char* op, const Tensor& out, std::initializer_list<const Tensor*> ins) {
  if (!out.is_cuda() || !out.is_contiguous()) {
    throw std::invalid_argument(std::string(op) + ": the result must be a contiguous CUDA tensor");
  }
  for (const Tensor* t : ins) {
    if (t->device() != out.device() || !t->is_contiguous()) {
      throw std::invalid_argument(std::string(op) + ": operands must be contiguous tensors of the result's device");
    }
  }
}

}  // namespace

void max_pool2d_forward(const Tensor& y, const Tensor& indices, const Tensor& x, const PoolGeometry& g) {
  check_pool("max_pool2d", y, {&indices, &x});
  set_device_of(y);
  const int64_t n = y.numel();
  if (n == 0) return;
  dispatch_device_floating(y.dtype(), "max_pool2d", [&](auto tag) {
    using T = typename decltype(tag)::type;
    max_pool_forward_kernel<T><<<blocks_for(n), 256, 0, stream()>>>(
        static_cast<const T*>(x.raw_data()), static_cast<T*>(y.raw_data()), static_cast<int64_t*>(indices.raw_data()),
        g);
    RVOS_CUDA_CHECK_LAUNCH("max_pool_forward_kernel");
  });
}

void max_pool2d_backward(const Tensor& gx, const Tensor& gy, const Tensor& indices, const PoolGeometry& g) {
  check_pool("max_pool2d backward", gx, {&gy, &indices});
  set_device_of(gx);
  const int64_t n = gx.numel();
  if (n == 0) return;
  dispatch_device_floating(gx.dtype(), "max_pool2d", [&](auto tag) {
    using T = typename decltype(tag)::type;
    max_pool_backward_kernel<T><<<blocks_for(n), 256, 0, stream()>>>(
        static_cast<const T*>(gy.raw_data()), static_cast<const int64_t*>(indices.raw_data()),
        static_cast<T*>(gx.raw_data()), g);
    RVOS_CUDA_CHECK_LAUNCH("max_pool_backward_kernel");
  });
}

void avg_pool2d_forward(const Tensor& y, const Tensor& x, const PoolGeometry& g, bool count_include_pad) {
  check_pool("avg_pool2d", y, {&x});
  set_device_of(y);
  const int64_t n = y.numel();
  if (n == 0) return;
  dispatch_device_floating(y.dtype(), "avg_pool2d", [&](auto tag) {
    using T = typename decltype(tag)::type;
    avg_pool_forward_kernel<T><<<blocks_for(n), 256, 0, stream()>>>(static_cast<const T*>(x.raw_data()),
                                                                    static_cast<T*>(y.raw_data()), g,
                                                                    count_include_pad);
    RVOS_CUDA_CHECK_LAUNCH("avg_pool_forward_kernel");
  });
}

void avg_pool2d_backward(const Tensor& gx, const Tensor& gy, const PoolGeometry& g, bool count_include_pad) {
  check_pool("avg_pool2d backward", gx, {&gy});
  set_device_of(gx);
  const int64_t n = gx.numel();
  if (n == 0) return;
  dispatch_device_floating(gx.dtype(), "avg_pool2d", [&](auto tag) {
    using T = typename decltype(tag)::type;
    avg_pool_backward_kernel<T><<<blocks_for(n), 256, 0, stream()>>>(static_cast<const T*>(gy.raw_data()),
                                                                     static_cast<T*>(gx.raw_data()), g,
                                                                     count_include_pad);
    RVOS_CUDA_CHECK_LAUNCH("avg_pool_backward_kernel");
  });
}

}  // namespace rvos::cuda
