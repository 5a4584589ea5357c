// softmax, log_softmax and the safe softmax, forward and backward.
//
// The input is contiguous and seen as [outer, n, inner], normalised along n. Three layouts:
// - inner == 1, n <= 1024: one warp per row, the row held in registers (one read, one write);
// - inner == 1, n > 1024: one block per row; the row is cached in shared memory when it fits
//   (else read again from global memory, mostly from L2);
// - inner > 1: a 2-D block, threadIdx.x over neighbouring columns (coalesced), threadIdx.y
//   splitting n, partial results combined in shared memory.
// The arithmetic is the CPU kernels': the row max (NaN skipped, as `v > m ? v : m` skips it) is
// subtracted, exp is taken in the compute type and summed in float64; softmax then multiplies by
// the reciprocal of the sum along rows and divides by it along columns, log_softmax computes
// (x - max) - log(sum). The safe softmax writes zeros where the max is -inf and no NaN was seen.
#include <math_constants.h>

#include <algorithm>
#include <limits>

#include "cuda/block_reduce.cuh"
#include "cuda/softmax.h"

namespace rvos::cuda {

namespace {

constexpr int kWarpRowThreads = 128;  // 4 rows per block
constexpr int kMaxWarpRow = 1024;     // longest row held by one warp (32 values per lane)
constexpr int kColumnThreads = 256;

template <class C>
__device__ __forceinline__ C neg_inf() {
  return -std::numeric_limits<C>::infinity();
}

// ------------------------------------------------------------------ forward

template <class T, int Items>
__global__ void __launch_bounds__(kWarpRowThreads)
    softmax_warp_rows_kernel(const T* x, T* y, int64_t rows, int n, SoftmaxKind kind) {
  using C = compute_t<T>;
  const int lane = threadIdx.x % kWarpSize;
  const int64_t warps_total = int64_t(gridDim.x) * (blockDim.x / kWarpSize);
  for (int64_t row = int64_t(blockIdx.x) * (blockDim.x / kWarpSize) + threadIdx.x / kWarpSize; row < rows;
       row += warps_total) {
    const T* xr = x + row * n;
    T* yr = y + row * n;
    C v[Items];
    C m = neg_inf<C>();
    bool nan = false;
#pragma unroll
    for (int i = 0; i < Items; ++i) {
      const int j = lane + i * kWarpSize;
      v[i] = j < n ? load(xr + j) : neg_inf<C>();
      m = max_skip_nan(m, v[i]);
      nan = nan || v[i] != v[i];
    }
    m = warp_max_skip_nan(m);
    if (kind == SoftmaxKind::SafeSoftmax && m == neg_inf<C>() && !__any_sync(kFullMask, nan)) {
#pragma unroll
      for (int i = 0; i < Items; ++i) {
        const int j = lane + i * kWarpSize;
        if (j < n) store(yr + j, C(0));
      }
      continue;
    }
    double sum = 0;
#pragma unroll
    for (int i = 0; i < Items; ++i) {
      const int j = lane + i * kWarpSize;
      if (j < n) {
        const C e = exp(v[i] - m);
        sum += static_cast<double>(e);
        if (kind != SoftmaxKind::LogSoftmax) v[i] = e;
      }
    }
    sum = warp_sum(sum);
    if (kind == SoftmaxKind::LogSoftmax) {
      const C lse = static_cast<C>(log(sum));
#pragma unroll
      for (int i = 0; i < Items; ++i) {
        const int j = lane + i * kWarpSize;
        if (j < n) store(yr + j, (v[i] - m) - lse);
      }
    } else {
      const C inv = C(1) / static_cast<C>(sum);
#pragma unroll
      for (int i = 0; i < Items; ++i) {
        const int j = lane + i * kWarpSize;
        if (j < n) store(yr + j, v[i] * inv);
      }
    }
  }
}

// One block per row; `cache` (dynamic shared memory, n values) is used when `cached`.
template <class T>
__global__ void softmax_block_rows_kernel(const T* x, T* y, int64_t rows, int64_t n, SoftmaxKind kind, bool cached) {
  using C = compute_t<T>;
  extern __shared__ __align__(16) unsigned char cache_bytes[];
  C* cache = reinterpret_cast<C*>(cache_bytes);
  __shared__ double sum_scratch[kWarpSize];
  __shared__ C max_scratch[kWarpSize];
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const T* xr = x + row * n;
    T* yr = y + row * n;
    C m = neg_inf<C>();
    int nan = 0;
    for (int64_t j = threadIdx.x; j < n; j += blockDim.x) {
      const C v = load(xr + j);
      if (cached) cache[j] = v;
      m = max_skip_nan(m, v);
      nan |= v != v;
    }
    m = block_max_skip_nan(m, max_scratch, neg_inf<C>());
    nan = __syncthreads_or(nan);
    if (kind == SoftmaxKind::SafeSoftmax && m == neg_inf<C>() && !nan) {
      for (int64_t j = threadIdx.x; j < n; j += blockDim.x) store(yr + j, C(0));
      continue;
    }
    double sum = 0;
    for (int64_t j = threadIdx.x; j < n; j += blockDim.x) {
      const C e = exp((cached ? cache[j] : load(xr + j)) - m);
      sum += static_cast<double>(e);
      if (cached && kind != SoftmaxKind::LogSoftmax) cache[j] = e;
    }
    sum = block_sum(sum, sum_scratch);
    if (kind == SoftmaxKind::LogSoftmax) {
      const C lse = static_cast<C>(log(sum));
      for (int64_t j = threadIdx.x; j < n; j += blockDim.x) {
        store(yr + j, ((cached ? cache[j] : load(xr + j)) - m) - lse);
      }
    } else {
      const C inv = C(1) / static_cast<C>(sum);
      for (int64_t j = threadIdx.x; j < n; j += blockDim.x) {
        store(yr + j, (cached ? cache[j] : exp(load(xr + j) - m)) * inv);
      }
    }
    __syncthreads();  // the cache is refilled by the next row
  }
}

// Combines one value per thread along threadIdx.y (blockDim.y a power of two); every thread of a
// column gets the result. `scratch` holds blockDim.x * blockDim.y values.
template <class V, class F>
__device__ __forceinline__ V column_allreduce(V v, V* scratch, F combine) {
  const int tid = threadIdx.y * blockDim.x + threadIdx.x;
  scratch[tid] = v;
  __syncthreads();
  for (int s = blockDim.y / 2; s > 0; s >>= 1) {
    if (threadIdx.y < s) scratch[tid] = combine(scratch[tid], scratch[tid + s * blockDim.x]);
    __syncthreads();
  }
  const V r = scratch[threadIdx.x];
  __syncthreads();
  return r;
}

template <class T>
__global__ void __launch_bounds__(kColumnThreads)
    softmax_columns_kernel(const T* x, T* y, int64_t outer, int64_t n, int64_t inner, SoftmaxKind kind) {
  using C = compute_t<T>;
  __shared__ double scratch[kColumnThreads];
  const int64_t column = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  const bool active = column < outer * inner;
  const int64_t base = active ? (column / inner) * n * inner + column % inner : 0;
  C m = neg_inf<C>();
  double nan = 0;
  if (active) {
    for (int64_t d = threadIdx.y; d < n; d += blockDim.y) {
      const C v = load(x + base + d * inner);
      m = max_skip_nan(m, v);
      if (v != v) nan = 1;
    }
  }
  m = static_cast<C>(column_allreduce(static_cast<double>(m), scratch,
                                      [](double a, double b) { return max_skip_nan(a, b); }));
  nan = column_allreduce(nan, scratch, [](double a, double b) { return a + b; });
  const bool zero_row = kind == SoftmaxKind::SafeSoftmax && m == neg_inf<C>() && nan == 0;
  double sum = 0;
  if (active && !zero_row) {
    for (int64_t d = threadIdx.y; d < n; d += blockDim.y) sum += static_cast<double>(exp(load(x + base + d * inner) - m));
  }
  sum = column_allreduce(sum, scratch, [](double a, double b) { return a + b; });
  if (!active) return;
  if (zero_row) {
    for (int64_t d = threadIdx.y; d < n; d += blockDim.y) store(y + base + d * inner, C(0));
  } else if (kind == SoftmaxKind::LogSoftmax) {
    const C lse = static_cast<C>(log(sum));
    for (int64_t d = threadIdx.y; d < n; d += blockDim.y) {
      store(y + base + d * inner, (load(x + base + d * inner) - m) - lse);
    }
  } else {
    const C s = static_cast<C>(sum);
    for (int64_t d = threadIdx.y; d < n; d += blockDim.y) {
      store(y + base + d * inner, exp(load(x + base + d * inner) - m) / s);
    }
  }
}

// ------------------------------------------------------------------ backward

template <class T, int Items>
__global__ void __launch_bounds__(kWarpRowThreads)
    softmax_backward_warp_rows_kernel(const T* g, const T* y, T* gx, int64_t rows, int n, bool log_kind) {
  using C = compute_t<T>;
  const int lane = threadIdx.x % kWarpSize;
  const int64_t warps_total = int64_t(gridDim.x) * (blockDim.x / kWarpSize);
  for (int64_t row = int64_t(blockIdx.x) * (blockDim.x / kWarpSize) + threadIdx.x / kWarpSize; row < rows;
       row += warps_total) {
    const T* gr = g + row * n;
    const T* yr = y + row * n;
    T* out = gx + row * n;
    C gv[Items], yv[Items];
    double s = 0;
#pragma unroll
    for (int i = 0; i < Items; ++i) {
      const int j = lane + i * kWarpSize;
      gv[i] = j < n ? load(gr + j) : C(0);
      yv[i] = j < n ? load(yr + j) : C(0);
      s += static_cast<double>(log_kind ? gv[i] : gv[i] * yv[i]);
    }
    const C sc = static_cast<C>(warp_sum(s));
#pragma unroll
    for (int i = 0; i < Items; ++i) {
      const int j = lane + i * kWarpSize;
      if (j < n) store(out + j, log_kind ? gv[i] - exp(yv[i]) * sc : (gv[i] - sc) * yv[i]);
    }
  }
}

template <class T>
__global__ void softmax_backward_block_rows_kernel(const T* g, const T* y, T* gx, int64_t rows, int64_t n,
                                                   bool log_kind) {
  using C = compute_t<T>;
  __shared__ double scratch[kWarpSize];
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const T* gr = g + row * n;
    const T* yr = y + row * n;
    T* out = gx + row * n;
    double s = 0;
    for (int64_t j = threadIdx.x; j < n; j += blockDim.x) {
      const C gv = load(gr + j);
      s += static_cast<double>(log_kind ? gv : gv * load(yr + j));
    }
    const C sc = static_cast<C>(block_sum(s, scratch));
    for (int64_t j = threadIdx.x; j < n; j += blockDim.x) {
      const C gv = load(gr + j), yv = load(yr + j);
      store(out + j, log_kind ? gv - exp(yv) * sc : (gv - sc) * yv);
    }
  }
}

template <class T>
__global__ void __launch_bounds__(kColumnThreads)
    softmax_backward_columns_kernel(const T* g, const T* y, T* gx, int64_t outer, int64_t n, int64_t inner,
                                    bool log_kind) {
  using C = compute_t<T>;
  __shared__ double scratch[kColumnThreads];
  const int64_t column = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  const bool active = column < outer * inner;
  const int64_t base = active ? (column / inner) * n * inner + column % inner : 0;
  double s = 0;
  if (active) {
    for (int64_t d = threadIdx.y; d < n; d += blockDim.y) {
      const C gv = load(g + base + d * inner);
      s += static_cast<double>(log_kind ? gv : gv * load(y + base + d * inner));
    }
  }
  const C sc = static_cast<C>(column_allreduce(s, scratch, [](double a, double b) { return a + b; }));
  if (!active) return;
  for (int64_t d = threadIdx.y; d < n; d += blockDim.y) {
    const int64_t at = base + d * inner;
    const C gv = load(g + at), yv = load(y + at);
    store(gx + at, log_kind ? gv - exp(yv) * sc : yv * (gv - sc));
  }
}

// ------------------------------------------------------------------ launches

// The warp-per-row kernel with the fewest register slots that hold n values.
template <class T, class Launch>
void with_items(int64_t n, Launch&& launch) {
  if (n <= 32) launch(std::integral_constant<int, 1>{});
  else if (n <= 128) launch(std::integral_constant<int, 4>{});
  else if (n <= 256) launch(std::integral_constant<int, 8>{});
  else if (n <= 512) launch(std::integral_constant<int, 16>{});
  else launch(std::integral_constant<int, 32>{});
}

unsigned warp_row_blocks(int64_t rows, int device) {
  const int64_t rows_per_block = kWarpRowThreads / kWarpSize;
  const int64_t wanted = (rows + rows_per_block - 1) / rows_per_block;
  // Enough blocks to fill the device several times over; the kernels stride over the rest.
  return static_cast<unsigned>(std::max<int64_t>(1, std::min<int64_t>(wanted, int64_t(multiprocessor_count(device)) * 64)));
}

unsigned block_row_blocks(int64_t rows, int device) {
  return static_cast<unsigned>(std::max<int64_t>(1, std::min<int64_t>(rows, int64_t(multiprocessor_count(device)) * 32)));
}

int block_row_threads(int64_t n) { return std::clamp(next_pow2((n + 7) / 8), 128, 1024); }

// Shared memory a block may use on `device` with the opt-in limit (queried once per device).
size_t max_dynamic_shared(int device) {
  static size_t limits[64] = {};
  if (device < 0 || device >= 64) return 48 * 1024;
  if (limits[device] == 0) {
    int v = 0;
    RVOS_CUDA_CHECK(cudaDeviceGetAttribute(&v, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
    // Leave room for the kernel's static shared memory.
    limits[device] = v > 4096 ? static_cast<size_t>(v) - 2048 : 48 * 1024;
  }
  return limits[device];
}

struct ColumnLaunch {
  dim3 block, grid;
};

ColumnLaunch column_launch(int64_t outer, int64_t n, int64_t inner) {
  const int64_t columns = outer * inner;
  const int bx = std::min(next_pow2(inner), kWarpSize);
  const int by = std::min(kColumnThreads / bx, next_pow2(n));
  const int64_t blocks = (columns + bx - 1) / bx;
  if (blocks > int64_t(std::numeric_limits<int32_t>::max())) throw std::invalid_argument("softmax: too many columns");
  return {dim3(static_cast<unsigned>(bx), static_cast<unsigned>(by)), dim3(static_cast<unsigned>(blocks))};
}

void check_args(const Tensor& out, std::initializer_list<const Tensor*> ins, int64_t outer, int64_t n, int64_t inner,
                const char* what) {
  for (const Tensor* t : ins) {
    if (!t->is_cuda() || t->device() != out.device() || !t->is_contiguous() || t->dtype() != out.dtype() ||
        t->numel() != out.numel()) {
      throw std::invalid_argument(std::string(what) + ": tensors must be contiguous, of one dtype and shape, on one CUDA device");
    }
  }
  if (!out.is_cuda() || !out.is_contiguous() || outer * n * inner != out.numel()) {
    throw std::invalid_argument(std::string(what) + ": bad output or geometry");
  }
}

}  // namespace

void softmax_forward(const Tensor& y, const Tensor& x, int64_t outer, int64_t n, int64_t inner, SoftmaxKind kind) {
  check_args(y, {&x}, outer, n, inner, "cuda::softmax_forward");
  if (y.numel() == 0) return;
  const int device = set_device_of(y);
  const auto stream = static_cast<cudaStream_t>(current_stream());
  dispatch_device_floating(x.dtype(), "softmax", [&](auto tag) {
    using T = typename decltype(tag)::type;
    using C = compute_t<T>;
    const T* xp = static_cast<const T*>(x.raw_data());
    T* yp = static_cast<T*>(y.raw_data());
    if (inner == 1 && n <= kMaxWarpRow) {
      with_items<T>(n, [&](auto items) {
        softmax_warp_rows_kernel<T, decltype(items)::value><<<warp_row_blocks(outer, device), kWarpRowThreads, 0, stream>>>(
            xp, yp, outer, static_cast<int>(n), kind);
      });
      RVOS_CUDA_CHECK_LAUNCH("softmax_warp_rows_kernel");
    } else if (inner == 1) {
      const size_t bytes = static_cast<size_t>(n) * sizeof(C);
      const bool cached = bytes <= max_dynamic_shared(device);
      const size_t shared = cached ? bytes : 0;
      if (shared > 48 * 1024) {
        RVOS_CUDA_CHECK(cudaFuncSetAttribute(softmax_block_rows_kernel<T>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                             static_cast<int>(shared)));
      }
      softmax_block_rows_kernel<T><<<block_row_blocks(outer, device), block_row_threads(n), shared, stream>>>(
          xp, yp, outer, n, kind, cached);
      RVOS_CUDA_CHECK_LAUNCH("softmax_block_rows_kernel");
    } else {
      const ColumnLaunch l = column_launch(outer, n, inner);
      softmax_columns_kernel<T><<<l.grid, l.block, 0, stream>>>(xp, yp, outer, n, inner, kind);
      RVOS_CUDA_CHECK_LAUNCH("softmax_columns_kernel");
    }
  });
}

void softmax_backward(const Tensor& gx, const Tensor& g, const Tensor& y, int64_t outer, int64_t n, int64_t inner,
                      bool log) {
  check_args(gx, {&g, &y}, outer, n, inner, "cuda::softmax_backward");
  if (gx.numel() == 0) return;
  const int device = set_device_of(gx);
  const auto stream = static_cast<cudaStream_t>(current_stream());
  dispatch_device_floating(y.dtype(), "softmax_backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* gp = static_cast<const T*>(g.raw_data());
    const T* yp = static_cast<const T*>(y.raw_data());
    T* out = static_cast<T*>(gx.raw_data());
    if (inner == 1 && n <= kMaxWarpRow) {
      with_items<T>(n, [&](auto items) {
        softmax_backward_warp_rows_kernel<T, decltype(items)::value>
            <<<warp_row_blocks(outer, device), kWarpRowThreads, 0, stream>>>(gp, yp, out, outer, static_cast<int>(n), log);
      });
      RVOS_CUDA_CHECK_LAUNCH("softmax_backward_warp_rows_kernel");
    } else if (inner == 1) {
      softmax_backward_block_rows_kernel<T><<<block_row_blocks(outer, device), block_row_threads(n), 0, stream>>>(
          gp, yp, out, outer, n, log);
      RVOS_CUDA_CHECK_LAUNCH("softmax_backward_block_rows_kernel");
    } else {
      const ColumnLaunch l = column_launch(outer, n, inner);
      softmax_backward_columns_kernel<T><<<l.grid, l.block, 0, stream>>>(gp, yp, out, outer, n, inner, log);
      RVOS_CUDA_CHECK_LAUNCH("softmax_backward_columns_kernel");
    }
  });
}

}  // namespace rvos::cuda
