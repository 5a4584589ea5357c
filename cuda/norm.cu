// layer_norm forward and backward.
//
// Rows of up to 1152 elements (every normalised size of the models) are held in registers by a
// warp (rows of up to 192 elements by 8 or 16 lanes, several rows per warp): one read of x for the
// mean, the variance (two passes over the registers, so that a large mean does not cancel digits)
// and the output. Longer rows take a block each and read the row again from global memory
// (mostly L2).
//
// The backward pass computes dx the same way (one read of g and x, one write of dx) and, in the
// same kernel, each lane accumulates dweight and dbias for its columns over the rows its warp
// visits; the warps of a block add their sums in shared memory in a fixed order and each block
// writes one partial row, which a second small kernel sums over blocks. No atomics: results do
// not depend on scheduling.
//
// Numerics follow the CPU kernel: mean, variance, rstd and the normalised value in float64, the
// affine step in the compute type (float32 for half types).
#include <algorithm>
#include <limits>

#include "cuda/block_reduce.cuh"
#include "cuda/norm.h"

namespace rvos::cuda {

namespace {

constexpr int kForwardWarps = 4;
constexpr int kForwardThreads = kForwardWarps * kWarpSize;
constexpr int kBackwardWarps = 8;
constexpr int kBackwardThreads = kBackwardWarps * kWarpSize;
constexpr int64_t kMaxWarpRow = 1152;        // 36 values per lane
constexpr int64_t kMaxWarpRowDouble = 512;   // float64 backward: 16 per lane keeps registers in check

// ------------------------------------------------------------------ forward

// Sum over the G lanes of a row group (aligned groups of G lanes within the warp).
template <int G, class V>
__device__ __forceinline__ V group_sum(V v) {
#pragma unroll
  for (int offset = G / 2; offset > 0; offset >>= 1) v += __shfl_xor_sync(kFullMask, v, offset);
  return v;
}

// Each warp handles 32 / G rows at a time, G lanes per row and up to G * Items values per row.
// Short rows share a warp, so that the shuffles of the row sums serve several rows at once.
template <class T, class W, int G, int Items>
__global__ void __launch_bounds__(kForwardThreads)
    layer_norm_forward_warp_kernel(const T* x, T* y, double* mean_out, double* rstd_out, const W* w, const W* b,
                                   int64_t M, int N, double eps) {
  using C = compute_t<T>;
  constexpr int kRowsPerWarp = kWarpSize / G;
  const int lane = threadIdx.x % kWarpSize, group = lane / G, glane = lane % G;
  const int64_t warp_id = int64_t(blockIdx.x) * kForwardWarps + threadIdx.x / kWarpSize;
  const int64_t stride = int64_t(gridDim.x) * kForwardWarps * kRowsPerWarp;
  for (int64_t base = warp_id * kRowsPerWarp; base < M; base += stride) {  // uniform over the warp
    const int64_t row = base + group;
    const bool valid = row < M;
    const T* xr = x + row * N;
    C v[Items];
    double s = 0;
#pragma unroll
    for (int i = 0; i < Items; ++i) {
      const int j = glane + i * G;
      v[i] = valid && j < N ? load(xr + j) : C(0);
      s += static_cast<double>(v[i]);
    }
    const double mean = group_sum<G>(s) / static_cast<double>(N);
    double ss = 0;
#pragma unroll
    for (int i = 0; i < Items; ++i) {
      const int j = glane + i * G;
      if (j < N) {
        const double d = static_cast<double>(v[i]) - mean;
        ss += d * d;
      }
    }
    const double rstd = 1.0 / sqrt(group_sum<G>(ss) / static_cast<double>(N) + eps);
    if (!valid) continue;
    if (glane == 0) {
      mean_out[row] = mean;
      rstd_out[row] = rstd;
    }
    T* yr = y + row * N;
#pragma unroll
    for (int i = 0; i < Items; ++i) {
      const int j = glane + i * G;
      if (j < N) {
        C o = static_cast<C>((static_cast<double>(v[i]) - mean) * rstd);
        if (w != nullptr) o = o * static_cast<C>(load(w + j));
        if (b != nullptr) o = o + static_cast<C>(load(b + j));
        store(yr + j, o);
      }
    }
  }
}

template <class T, class W>
__global__ void layer_norm_forward_block_kernel(const T* x, T* y, double* mean_out, double* rstd_out, const W* w,
                                                const W* b, int64_t M, int64_t N, double eps) {
  using C = compute_t<T>;
  __shared__ double scratch[kWarpSize];
  for (int64_t row = blockIdx.x; row < M; row += gridDim.x) {
    const T* xr = x + row * N;
    double s = 0;
    for (int64_t j = threadIdx.x; j < N; j += blockDim.x) s += static_cast<double>(load(xr + j));
    const double mean = block_sum(s, scratch) / static_cast<double>(N);
    double ss = 0;
    for (int64_t j = threadIdx.x; j < N; j += blockDim.x) {
      const double d = static_cast<double>(load(xr + j)) - mean;
      ss += d * d;
    }
    const double rstd = 1.0 / sqrt(block_sum(ss, scratch) / static_cast<double>(N) + eps);
    if (threadIdx.x == 0) {
      mean_out[row] = mean;
      rstd_out[row] = rstd;
    }
    T* yr = y + row * N;
    for (int64_t j = threadIdx.x; j < N; j += blockDim.x) {
      C o = static_cast<C>((static_cast<double>(load(xr + j)) - mean) * rstd);
      if (w != nullptr) o = o * static_cast<C>(load(w + j));
      if (b != nullptr) o = o + static_cast<C>(load(b + j));
      store(yr + j, o);
    }
  }
}

// ------------------------------------------------------------------ backward

// dx = rstd * (g*w - mean(g*w) - xhat * mean(g*w*xhat)), rows laid out over lanes as in the
// forward kernel. With `partials`, each block also writes its sums of g*xhat and g per column to
// partials[block, N] and partials[gridDim.x + block, N].
template <class T, class W, int G, int Items>
__global__ void __launch_bounds__(kBackwardThreads)
    layer_norm_backward_warp_kernel(const T* g, const T* x, const double* mean, const double* rstd, const W* w, T* dx,
                                    double* partials, int64_t M, int N) {
  using C = compute_t<T>;
  // Per-lane column sums over the few rows a lane visits; float beyond 16 values per lane keeps
  // the registers in check (the warp, block and grid sums are in float64).
  using Acc = std::conditional_t<(Items > 16), float, double>;
  constexpr int kRowsPerWarp = kWarpSize / G;
  extern __shared__ double block_sums[];  // [2, N] when partials are wanted
  const int lane = threadIdx.x % kWarpSize, warp = threadIdx.x / kWarpSize;
  const int group = lane / G, glane = lane % G;
  const double inv_n = 1.0 / static_cast<double>(N);
  Acc dw[Items], db[Items];
#pragma unroll
  for (int i = 0; i < Items; ++i) dw[i] = db[i] = Acc(0);
  const int64_t warp_id = int64_t(blockIdx.x) * kBackwardWarps + warp;
  const int64_t stride = int64_t(gridDim.x) * kBackwardWarps * kRowsPerWarp;
  for (int64_t base = warp_id * kRowsPerWarp; base < M; base += stride) {  // uniform over the warp
    const int64_t row = base + group;
    const bool valid = row < M;
    const T* gr = g + row * N;
    const T* xr = x + row * N;
    const double mu = valid ? mean[row] : 0.0, a = valid ? rstd[row] : 0.0;
    C gv[Items], xv[Items];
    double s1 = 0, s2 = 0;
#pragma unroll
    for (int i = 0; i < Items; ++i) {
      const int j = glane + i * G;
      const bool in = valid && j < N;
      gv[i] = in ? load(gr + j) : C(0);
      xv[i] = in ? load(xr + j) : C(0);
      if (in) {
        const double gd = static_cast<double>(gv[i]);
        const double xh = (static_cast<double>(xv[i]) - mu) * a;
        const double gw = w != nullptr ? gd * static_cast<double>(load(w + j)) : gd;
        s1 += gw;
        s2 += gw * xh;
        dw[i] += static_cast<Acc>(gd * xh);
        db[i] += static_cast<Acc>(gd);
      }
    }
    if (dx != nullptr) {
      const double m1 = group_sum<G>(s1) * inv_n, m2 = group_sum<G>(s2) * inv_n;
      T* dr = dx + row * N;
#pragma unroll
      for (int i = 0; i < Items; ++i) {
        const int j = glane + i * G;
        if (valid && j < N) {
          const double gd = static_cast<double>(gv[i]);
          const double xh = (static_cast<double>(xv[i]) - mu) * a;
          const double gw = w != nullptr ? gd * static_cast<double>(load(w + j)) : gd;
          store(dr + j, a * (gw - m1 - xh * m2));
        }
      }
    }
  }
  if (partials == nullptr) return;  // uniform over the grid
  // The row groups of a warp hold the same columns: add them up across groups first.
#pragma unroll
  for (int i = 0; i < Items; ++i) {
    for (int offset = G; offset < kWarpSize; offset <<= 1) {
      dw[i] += __shfl_xor_sync(kFullMask, dw[i], offset);
      db[i] += __shfl_xor_sync(kFullMask, db[i], offset);
    }
  }
  for (int j = threadIdx.x; j < 2 * N; j += blockDim.x) block_sums[j] = 0;
  __syncthreads();
  for (int k = 0; k < kBackwardWarps; ++k) {  // warp by warp: a fixed order of the additions
    if (warp == k && group == 0) {
#pragma unroll
      for (int i = 0; i < Items; ++i) {
        const int j = glane + i * G;
        if (j < N) {
          block_sums[j] += static_cast<double>(dw[i]);
          block_sums[N + j] += static_cast<double>(db[i]);
        }
      }
    }
    __syncthreads();
  }
  double* pdw = partials + int64_t(blockIdx.x) * N;
  double* pdb = partials + (int64_t(gridDim.x) + blockIdx.x) * N;
  for (int j = threadIdx.x; j < N; j += blockDim.x) {
    pdw[j] = block_sums[j];
    pdb[j] = block_sums[N + j];
  }
}

template <class T, class W>
__global__ void layer_norm_backward_dx_block_kernel(const T* g, const T* x, const double* mean, const double* rstd,
                                                    const W* w, T* dx, int64_t M, int64_t N) {
  __shared__ double scratch[kWarpSize];
  const double inv_n = 1.0 / static_cast<double>(N);
  for (int64_t row = blockIdx.x; row < M; row += gridDim.x) {
    const T* gr = g + row * N;
    const T* xr = x + row * N;
    const double mu = mean[row], a = rstd[row];
    double s1 = 0, s2 = 0;
    for (int64_t j = threadIdx.x; j < N; j += blockDim.x) {
      const double gd = static_cast<double>(load(gr + j));
      const double xh = (static_cast<double>(load(xr + j)) - mu) * a;
      const double gw = w != nullptr ? gd * static_cast<double>(load(w + j)) : gd;
      s1 += gw;
      s2 += gw * xh;
    }
    const double m1 = block_sum(s1, scratch) * inv_n;
    const double m2 = block_sum(s2, scratch) * inv_n;
    T* dr = dx + row * N;
    for (int64_t j = threadIdx.x; j < N; j += blockDim.x) {
      const double gd = static_cast<double>(load(gr + j));
      const double xh = (static_cast<double>(load(xr + j)) - mu) * a;
      const double gw = w != nullptr ? gd * static_cast<double>(load(w + j)) : gd;
      store(dr + j, a * (gw - m1 - xh * m2));
    }
  }
}

// Column sums of g*xhat and g over a range of rows per blockIdx.y (for rows too long for a warp):
// partials[part, N] and partials[parts + part, N].
template <class T>
__global__ void layer_norm_param_partials_kernel(const T* g, const T* x, const double* mean, const double* rstd,
                                                 double* partials, int64_t M, int64_t N, int64_t rows_per_part) {
  const int64_t j = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (j >= N) return;
  const int64_t part = blockIdx.y, parts = gridDim.y;
  const int64_t r0 = part * rows_per_part, r1 = r0 + rows_per_part < M ? r0 + rows_per_part : M;
  double sw = 0, sb = 0;
  for (int64_t r = r0; r < r1; ++r) {
    const double gd = static_cast<double>(load(g + r * N + j));
    sw += gd * ((static_cast<double>(load(x + r * N + j)) - mean[r]) * rstd[r]);
    sb += gd;
  }
  partials[part * N + j] = sw;
  partials[(parts + part) * N + j] = sb;
}

// dweight[j] = sum over parts of partials[part, j], dbias from the second half, in a fixed order:
// threadIdx.x over columns, threadIdx.y over parts, then a tree over threadIdx.y.
constexpr int kSumColumns = 32, kSumLanes = 16;

__global__ void __launch_bounds__(kSumColumns * kSumLanes)
    sum_partials_kernel(const double* partials, double* dweight, double* dbias, int64_t parts, int64_t N) {
  __shared__ double sums[2][kSumLanes][kSumColumns];
  const int64_t j = blockIdx.x * int64_t(kSumColumns) + threadIdx.x;
  double sw = 0, sb = 0;
  if (j < N) {
    for (int64_t p = threadIdx.y; p < parts; p += kSumLanes) {
      sw += partials[p * N + j];
      sb += partials[(parts + p) * N + j];
    }
  }
  sums[0][threadIdx.y][threadIdx.x] = sw;
  sums[1][threadIdx.y][threadIdx.x] = sb;
  __syncthreads();
  for (int s = kSumLanes / 2; s > 0; s >>= 1) {
    if (threadIdx.y < s) {
      sums[0][threadIdx.y][threadIdx.x] += sums[0][threadIdx.y + s][threadIdx.x];
      sums[1][threadIdx.y][threadIdx.x] += sums[1][threadIdx.y + s][threadIdx.x];
    }
    __syncthreads();
  }
  if (threadIdx.y == 0 && j < N) {
    if (dweight != nullptr) dweight[j] = sums[0][0][threadIdx.x];
    if (dbias != nullptr) dbias[j] = sums[1][0][threadIdx.x];
  }
}

// ------------------------------------------------------------------ host side

// Lanes per row and values per lane of the warp kernels for rows of N: short rows share a warp
// (fewer shuffles per row), longer ones take all 32 lanes.
template <int G, int Items>
struct RowLayout {
  static constexpr int lanes = G;
  static constexpr int items = Items;
  static constexpr int rows_per_warp = kWarpSize / G;
};

template <class F>
void with_layout(int64_t N, F&& f) {
  if (N <= 64) f(RowLayout<8, 8>{});
  else if (N <= 128) f(RowLayout<16, 8>{});
  else if (N <= 192) f(RowLayout<16, 12>{});
  else if (N <= 256) f(RowLayout<32, 8>{});
  else if (N <= 512) f(RowLayout<32, 16>{});
  else f(RowLayout<32, 36>{});
}

int block_threads_for(int64_t N) { return std::clamp(next_pow2((N + 3) / 4), 128, 1024); }

unsigned capped_blocks(int64_t wanted, int device, int per_sm) {
  return static_cast<unsigned>(std::clamp<int64_t>(wanted, 1, int64_t(multiprocessor_count(device)) * per_sm));
}

// Parameters reach the kernels as the input's type T or, when either is float64 and T is not, as
// double (exact for every parameter dtype, rounded to the compute type where the CPU rounds).
bool params_as_double(DType x_dtype, const Tensor& weight, const Tensor& bias) {
  return x_dtype != DType::F64 && ((weight.defined() && weight.dtype() == DType::F64) ||
                                   (bias.defined() && bias.dtype() == DType::F64));
}

void check_param(const Tensor& p, DType x_dtype, bool as_double, int64_t N, const Tensor& x, const char* what) {
  if (!p.defined()) return;
  const DType want = as_double ? DType::F64 : x_dtype;
  if (p.dtype() != want || !p.is_contiguous() || p.numel() != N || p.device() != x.device()) {
    throw std::invalid_argument(std::string(what) + ": weight and bias must be contiguous [N] tensors of the input's dtype "
                                "or float64, on the input's device");
  }
}

template <class P>
const P* param_ptr(const Tensor& p) {
  return p.defined() ? static_cast<const P*>(p.raw_data()) : nullptr;
}

void check_rows(const Tensor& t, DType dtype, int64_t count, const Tensor& x, const char* what) {
  if (!t.is_cuda() || t.device() != x.device() || !t.is_contiguous() || t.dtype() != dtype || t.numel() != count) {
    throw std::invalid_argument(std::string(what) + ": bad tensor arguments");
  }
}

}  // namespace

void layer_norm_forward(const Tensor& y, const Tensor& mean, const Tensor& rstd, const Tensor& x, const Tensor& weight,
                        const Tensor& bias, int64_t M, int64_t N, double eps) {
  const char* what = "cuda::layer_norm_forward";
  check_rows(x, x.dtype(), M * N, x, what);
  check_rows(y, x.dtype(), M * N, x, what);
  check_rows(mean, DType::F64, M, x, what);
  check_rows(rstd, DType::F64, M, x, what);
  const bool as_double = params_as_double(x.dtype(), weight, bias);
  check_param(weight, x.dtype(), as_double, N, x, what);
  check_param(bias, x.dtype(), as_double, N, x, what);
  if (M == 0 || N == 0) return;
  if (N > std::numeric_limits<int32_t>::max()) throw std::invalid_argument("layer_norm: rows too long");
  const int device = set_device_of(x);
  const auto stream = static_cast<cudaStream_t>(current_stream());
  dispatch_device_floating(x.dtype(), "layer_norm", [&](auto tag) {
    using T = typename decltype(tag)::type;
    auto launch = [&](auto wtag) {
      using W = typename decltype(wtag)::type;
      const T* xp = static_cast<const T*>(x.raw_data());
      T* yp = static_cast<T*>(y.raw_data());
      double* mp = static_cast<double*>(mean.raw_data());
      double* rp = static_cast<double*>(rstd.raw_data());
      const W* wp = param_ptr<W>(weight);
      const W* bp = param_ptr<W>(bias);
      if (N <= kMaxWarpRow) {
        with_layout(N, [&](auto layout) {
          using L = decltype(layout);
          const int64_t rows_per_block = kForwardWarps * L::rows_per_warp;
          const unsigned blocks = capped_blocks((M + rows_per_block - 1) / rows_per_block, device, 64);
          layer_norm_forward_warp_kernel<T, W, L::lanes, L::items><<<blocks, kForwardThreads, 0, stream>>>(
              xp, yp, mp, rp, wp, bp, M, static_cast<int>(N), eps);
        });
        RVOS_CUDA_CHECK_LAUNCH("layer_norm_forward_warp_kernel");
      } else {
        layer_norm_forward_block_kernel<T, W><<<capped_blocks(M, device, 32), block_threads_for(N), 0, stream>>>(
            xp, yp, mp, rp, wp, bp, M, N, eps);
        RVOS_CUDA_CHECK_LAUNCH("layer_norm_forward_block_kernel");
      }
    };
    if constexpr (std::is_same_v<T, double>) {
      launch(TypeTag<double>{});
    } else {
      if (as_double) launch(TypeTag<double>{});
      else launch(TypeTag<T>{});
    }
  });
}

void layer_norm_backward(const Tensor& dx, const Tensor& dweight, const Tensor& dbias, const Tensor& g,
                         const Tensor& x, const Tensor& mean, const Tensor& rstd, const Tensor& weight, int64_t M,
                         int64_t N) {
  const char* what = "cuda::layer_norm_backward";
  check_rows(x, x.dtype(), M * N, x, what);
  check_rows(g, x.dtype(), M * N, x, what);
  check_rows(mean, DType::F64, M, x, what);
  check_rows(rstd, DType::F64, M, x, what);
  if (dx.defined()) check_rows(dx, x.dtype(), M * N, x, what);
  if (dweight.defined()) check_rows(dweight, DType::F64, N, x, what);
  if (dbias.defined()) check_rows(dbias, DType::F64, N, x, what);
  const bool as_double = params_as_double(x.dtype(), weight, Tensor());
  check_param(weight, x.dtype(), as_double, N, x, what);
  const bool want_params = dweight.defined() || dbias.defined();
  if (M == 0 || N == 0 || (!dx.defined() && !want_params)) return;
  if (N > std::numeric_limits<int32_t>::max()) throw std::invalid_argument("layer_norm: rows too long");
  const int device = set_device_of(x);
  const auto stream = static_cast<cudaStream_t>(current_stream());
  double* dwp = dweight.defined() ? static_cast<double*>(dweight.raw_data()) : nullptr;
  double* dbp = dbias.defined() ? static_cast<double*>(dbias.raw_data()) : nullptr;
  dispatch_device_floating(x.dtype(), "layer_norm_backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    auto launch = [&](auto wtag) {
      using W = typename decltype(wtag)::type;
      const T* gp = static_cast<const T*>(g.raw_data());
      const T* xp = static_cast<const T*>(x.raw_data());
      const double* mp = static_cast<const double*>(mean.raw_data());
      const double* rp = static_cast<const double*>(rstd.raw_data());
      const W* wp = param_ptr<W>(weight);
      T* dxp = dx.defined() ? static_cast<T*>(dx.raw_data()) : nullptr;
      const int64_t max_warp_row = std::is_same_v<T, double> ? kMaxWarpRowDouble : kMaxWarpRow;
      Tensor partials;
      int64_t parts = 0;
      if (N <= max_warp_row) {
        // Up to four blocks of 8 warps per SM keep loads in flight; with parameter gradients, the
        // partial rows (2 x 8 bytes per column and block, written and read once) stay below about a
        // tenth of the traffic of g, x and dx.
        const int sms = multiprocessor_count(device);
        int64_t cap = 4 * int64_t(sms);
        if (want_params) cap = std::min<int64_t>(cap, std::max<int64_t>(sms, M * int64_t(sizeof(T)) / 96));
        const int64_t rows_per_block = int64_t(kBackwardWarps) * (N <= 64 ? 4 : N <= 192 ? 2 : 1);
        const unsigned blocks = static_cast<unsigned>(
            std::clamp<int64_t>((M + rows_per_block - 1) / rows_per_block, 1, cap));
        if (want_params) {
          parts = blocks;
          partials = Tensor::empty({2, parts, N}, DType::F64, x.device());
        }
        double* pp = want_params ? static_cast<double*>(partials.raw_data()) : nullptr;
        const size_t shared = want_params ? 2 * static_cast<size_t>(N) * sizeof(double) : 0;
        with_layout(N, [&](auto layout) {
          using L = decltype(layout);
          if constexpr (std::is_same_v<T, double> && L::items > 16) {
            throw std::logic_error("layer_norm_backward: float64 rows this long take the block kernels");
          } else {
            layer_norm_backward_warp_kernel<T, W, L::lanes, L::items><<<blocks, kBackwardThreads, shared, stream>>>(
                gp, xp, mp, rp, wp, dxp, pp, M, static_cast<int>(N));
          }
        });
        RVOS_CUDA_CHECK_LAUNCH("layer_norm_backward_warp_kernel");
      } else {
        if (dxp != nullptr) {
          layer_norm_backward_dx_block_kernel<T, W><<<capped_blocks(M, device, 32), block_threads_for(N), 0, stream>>>(
              gp, xp, mp, rp, wp, dxp, M, N);
          RVOS_CUDA_CHECK_LAUNCH("layer_norm_backward_dx_block_kernel");
        }
        if (want_params) {
          // Enough row ranges to fill the device, each of at least 32 rows.
          const int64_t column_blocks = (N + 255) / 256;
          const int64_t wanted = std::max<int64_t>(1, 4 * multiprocessor_count(device) / column_blocks);
          parts = std::clamp<int64_t>(std::min(wanted, (M + 31) / 32), 1, 65535);
          const int64_t rows_per_part = (M + parts - 1) / parts;
          parts = (M + rows_per_part - 1) / rows_per_part;
          partials = Tensor::empty({2, parts, N}, DType::F64, x.device());
          layer_norm_param_partials_kernel<T>
              <<<dim3(static_cast<unsigned>(column_blocks), static_cast<unsigned>(parts)), 256, 0, stream>>>(
                  gp, xp, mp, rp, static_cast<double*>(partials.raw_data()), M, N, rows_per_part);
          RVOS_CUDA_CHECK_LAUNCH("layer_norm_param_partials_kernel");
        }
      }
      if (want_params) {
        const unsigned blocks = static_cast<unsigned>((N + kSumColumns - 1) / kSumColumns);
        sum_partials_kernel<<<blocks, dim3(kSumColumns, kSumLanes), 0, stream>>>(
            static_cast<const double*>(partials.raw_data()), dwp, dbp, parts, N);
        RVOS_CUDA_CHECK_LAUNCH("sum_partials_kernel");
      }
    };
    if constexpr (std::is_same_v<T, double>) {
      launch(TypeTag<double>{});
    } else {
      if (as_double) launch(TypeTag<double>{});
      else launch(TypeTag<T>{});
    }
  });
}

}  // namespace rvos::cuda
