// Convolutions on the device: hand-written kernels for the shapes the models use and a general
// im2col + cuBLAS path for the rest, with cuDNN as an alternative backend.
//
// Which kernel runs (ConvPath):
// - Depthwise (one input channel per group, e.g. the 7x7 convolutions of the memory encoder's
//   CXBlocks): the forward and the stride-1 input gradient (a correlation with the flipped
//   kernel) tile the output in 32x32 blocks, the input tile with its halo in shared memory, each
//   thread computing 4 rows with the kernel in registers (7x7 and 3x3 specialised); the weight
//   gradient reduces over (sample, row) chunks in registers, then over the chunks in a fixed order.
// - Pointwise (1x1): the input planes are the GEMM operand as they are.
// - Direct (C_in/groups * kH * kW <= 576: the patch embedding, the mask downsamplers): one thread
//   per output pixel and 4 or 16 output channels, their weights in shared memory.
// - NonOverlapping (2x2 kernel with stride 2: the mask decoder's transposed convolutions): each
//   thread owns one input pixel of the transposed convolution and writes its 2x2 output block.
// - Im2col: everything else; im2col / col2im around cuBLAS GEMMs, the column buffer bounded in size.
// Half types compute in float32: GEMMs accumulate into float32 buffers, rounded once at the end.
#include <algorithm>
#include <cstring>
#include <initializer_list>

#include "cuda/common.cuh"
#include "cuda/conv.h"
#include "cuda/conv_cudnn.h"
#include "cuda/gemm.h"

namespace rvos::cuda {

namespace {

constexpr int kThreads = 256;
// Largest GEMM depth (C_in/groups * kH * kW) of the direct kernel: its weights fit shared memory.
constexpr int64_t kDirectMaxDepth = 576;
// Elements of one im2col buffer (a chunk of samples); larger problems loop over chunks.
constexpr int64_t kColBudget = int64_t(1) << 25;
// Depthwise tiles: 32 x 32 outputs per block of 32 x 8 threads, 4 rows per thread.
constexpr int kTile = 32, kTileThreadsY = 8, kTileRows = 4;
constexpr int64_t kMaxGridZ = 65535;
constexpr size_t kDefaultSharedBytes = 48 * 1024;

bool is_half(DType dt) { return dt == DType::F16 || dt == DType::BF16; }
int64_t cin_g(const ConvGeometry& g) { return g.C_in / g.groups; }
int64_t cout_g(const ConvGeometry& g) { return g.C_out / g.groups; }
int64_t gemm_depth(const ConvGeometry& g) { return cin_g(g) * g.kH * g.kW; }
bool is_depthwise(const ConvGeometry& g) { return g.groups > 1 && cin_g(g) == 1; }
bool is_pointwise(const ConvGeometry& g) {
  return g.kH == 1 && g.kW == 1 && g.sH == 1 && g.sW == 1 && g.pH == 0 && g.pW == 0 && g.OH == g.H && g.OW == g.W;
}
bool is_direct(const ConvGeometry& g) { return gemm_depth(g) <= kDirectMaxDepth; }
bool is_non_overlapping_2x2(const ConvGeometry& g) {
  return g.kH == 2 && g.kW == 2 && g.sH == 2 && g.sW == 2 && g.pH == 0 && g.pW == 0 && g.dH == 1 && g.dW == 1 &&
         g.H == g.OH * 2 && g.W == g.OW * 2;
}

unsigned int grid_z(int64_t n) { return static_cast<unsigned int>(std::clamp<int64_t>(n, 1, kMaxGridZ)); }
unsigned int ceil_div(int64_t a, int64_t b) { return static_cast<unsigned int>((a + b - 1) / b); }
cudaStream_t stream() { return static_cast<cudaStream_t>(current_stream()); }

// The address `elements` elements past t's first element.
void* at(const Tensor& t, int64_t elements) {
  return static_cast<char*>(t.raw_data()) + elements * static_cast<int64_t>(t.element_size());
}

template <class T>
__device__ inline T zero_value() {
  T v;
  store(&v, 0.0f);
  return v;
}

template <class A>
__device__ inline A warp_reduce_sum(A v) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

// ---- elementwise finishing -------------------------------------------------------------------

// y[e] = acc[e] + bias[channel of e], rounded to T. acc is y itself (Acc = T) or a float32 /
// float64 accumulator (Acc = compute_t<T>).
template <class T, class Acc>
__global__ void finish_kernel(T* y, const Acc* acc, const T* bias, int64_t channels, int64_t plane, int64_t n) {
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < n; e += int64_t(gridDim.x) * blockDim.x) {
    compute_t<T> v = load(acc + e);
    if (bias != nullptr) v += load(bias + (e / plane) % channels);
    store(y + e, v);
  }
}

// y = acc (+ bias per channel) for y [N, channels, plane]; acc is y itself or a float32 buffer.
void finish(const Tensor& y, const Tensor& acc, const Tensor& bias, int64_t channels, int64_t plane) {
  const int64_t n = y.numel();
  if (n == 0 || (acc.is_same(y) && !bias.defined())) return;
  dispatch_device_floating(y.dtype(), "conv2d", [&](auto tag) {
    using T = typename decltype(tag)::type;
    using C = compute_t<T>;
    const T* b = bias.defined() ? static_cast<const T*>(bias.raw_data()) : nullptr;
    // A 16-bit result finished in place (the cuDNN path) is read as 16-bit values.
    if (acc.dtype() == y.dtype()) {
      finish_kernel<T, T><<<blocks_for(n), kThreads, 0, stream()>>>(
          static_cast<T*>(y.raw_data()), static_cast<const T*>(acc.raw_data()), b, channels, plane, n);
    } else {
      finish_kernel<T, C><<<blocks_for(n), kThreads, 0, stream()>>>(
          static_cast<T*>(y.raw_data()), static_cast<const C*>(acc.raw_data()), b, channels, plane, n);
    }
    RVOS_CUDA_CHECK_LAUNCH("finish_kernel");
  });
}

// Where a GEMM writes a result of dtype dt: the result itself, or a float32 buffer for half types.
Tensor accumulator_for(const Tensor& result) {
  return is_half(result.dtype()) ? Tensor::empty(result.shape(), DType::F32, result.device()) : result;
}

MatrixBatch matrices(void* data, DType dtype, int64_t rows, int64_t cols, int64_t row_stride, int64_t col_stride,
                     int64_t batch_stride) {
  MatrixBatch m;
  m.data = data;
  m.dtype = dtype;
  m.rows = rows;
  m.cols = cols;
  m.row_stride = row_stride;
  m.col_stride = col_stride;
  m.batch_stride = batch_stride;
  return m;
}

// ---- im2col / col2im ----------------------------------------------------------------------------

// col[s][(c*kH + ki)*kW + kj][oh*OW + ow] = x[s][c][oh*sH - pH + ki*dH][ow*sW - pW + kj*dW] for the
// ns samples at x (0 in the padding), over all C_in channels.
template <class T>
__global__ void im2col_kernel(const T* __restrict__ x, T* __restrict__ col, ConvGeometry g, int64_t ns) {
  const int64_t OHW = g.OH * g.OW, rows = g.C_in * g.kH * g.kW, n = ns * rows * OHW;
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < n; e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t p = e % OHW, r = (e / OHW) % rows, s = e / (OHW * rows);
    const int64_t kj = r % g.kW, ki = (r / g.kW) % g.kH, c = r / (g.kW * g.kH);
    const int64_t ih = (p / g.OW) * g.sH - g.pH + ki * g.dH, iw = (p % g.OW) * g.sW - g.pW + kj * g.dW;
    col[e] = (ih >= 0 && ih < g.H && iw >= 0 && iw < g.W) ? x[((s * g.C_in + c) * g.H + ih) * g.W + iw]
                                                          : zero_value<T>();
  }
}

void im2col(const Tensor& col, const Tensor& x, int64_t n0, int64_t ns, const ConvGeometry& g) {
  const int64_t n = ns * g.C_in * g.kH * g.kW * g.OH * g.OW;
  dispatch_device_floating(x.dtype(), "conv2d", [&](auto tag) {
    using T = typename decltype(tag)::type;
    im2col_kernel<T><<<blocks_for(n), kThreads, 0, stream()>>>(
        static_cast<const T*>(at(x, n0 * g.C_in * g.H * g.W)), static_cast<T*>(col.raw_data()), g, ns);
    RVOS_CUDA_CHECK_LAUNCH("im2col_kernel");
  });
}

// The adjoint of im2col as a gather (no atomics, a fixed order): gx[s][c][h][w] = the sum of the
// column entries read from it, in (ki, kj) order, + bias[c]; the columns are in the compute type.
template <class T>
__global__ void col2im_kernel(T* __restrict__ gx, const compute_t<T>* __restrict__ col, const T* __restrict__ bias,
                              ConvGeometry g, int64_t ns) {
  using A = compute_t<T>;
  const int64_t HW = g.H * g.W, OHW = g.OH * g.OW, rows = g.C_in * g.kH * g.kW, n = ns * g.C_in * HW;
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < n; e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t w = e % g.W, h = (e / g.W) % g.H, c = (e / HW) % g.C_in, s = e / (g.C_in * HW);
    const A* cs = col + (s * rows + c * g.kH * g.kW) * OHW;
    A acc = 0;
    for (int64_t ki = 0; ki < g.kH; ++ki) {
      const int64_t nh = h + g.pH - ki * g.dH;
      if (nh < 0 || nh % g.sH != 0 || nh / g.sH >= g.OH) continue;
      const int64_t oh = nh / g.sH;
      for (int64_t kj = 0; kj < g.kW; ++kj) {
        const int64_t nw = w + g.pW - kj * g.dW;
        if (nw < 0 || nw % g.sW != 0 || nw / g.sW >= g.OW) continue;
        acc += cs[(ki * g.kW + kj) * OHW + oh * g.OW + nw / g.sW];
      }
    }
    if (bias != nullptr) acc += load(bias + c);
    store(gx + e, acc);
  }
}

// ---- general path: im2col + GEMM -------------------------------------------------------------------

int64_t samples_per_chunk(const ConvGeometry& g) {
  const int64_t per_sample = std::max<int64_t>(1, g.C_in * g.kH * g.kW * g.OH * g.OW);
  return std::clamp<int64_t>(kColBudget / per_sample, 1, std::max<int64_t>(g.N, 1));
}

// acc[n] (groups of [cout_g, OHW]) = w (groups of [cout_g, K]) @ cols[n] (groups of [K, OHW]) for
// the ns samples from n0; `cols` holds them one after another, `col_sample_stride` apart.
void forward_gemms(const Tensor& acc, const Tensor& w, void* cols, int64_t col_sample_stride, int64_t n0, int64_t ns,
                   const ConvGeometry& g, const GemmOptions& options) {
  const int64_t K = gemm_depth(g), OHW = g.OH * g.OW, co = cout_g(g);
  const DType dt = w.dtype();
  const size_t esize = w.element_size();
  if (g.groups == 1) {
    gemm(matrices(at(acc, n0 * g.C_out * OHW), acc.dtype(), g.C_out, OHW, OHW, 1, g.C_out * OHW),
         matrices(w.raw_data(), dt, g.C_out, K, K, 1, 0), matrices(cols, dt, K, OHW, OHW, 1, col_sample_stride), ns,
         1.0, 0.0, options);
    return;
  }
  for (int64_t s = 0; s < ns; ++s) {
    void* col = static_cast<char*>(cols) + s * col_sample_stride * static_cast<int64_t>(esize);
    gemm(matrices(at(acc, (n0 + s) * g.C_out * OHW), acc.dtype(), co, OHW, OHW, 1, co * OHW),
         matrices(w.raw_data(), dt, co, K, K, 1, co * K), matrices(col, dt, K, OHW, OHW, 1, K * OHW), g.groups, 1.0,
         0.0, options);
  }
}

void forward_general(const Tensor& y, const Tensor& x, const Tensor& w, const Tensor& bias, const ConvGeometry& g,
                     const GemmOptions& options) {
  const Tensor acc = accumulator_for(y);
  if (is_pointwise(g)) {
    forward_gemms(acc, w, x.raw_data(), g.C_in * g.H * g.W, 0, g.N, g, options);
  } else {
    const int64_t chunk = samples_per_chunk(g), per_sample = g.C_in * g.kH * g.kW * g.OH * g.OW;
    const Tensor col = Tensor::empty({chunk * per_sample}, x.dtype(), x.device());
    for (int64_t n0 = 0; n0 < g.N; n0 += chunk) {
      const int64_t ns = std::min(chunk, g.N - n0);
      im2col(col, x, n0, ns, g);
      forward_gemms(acc, w, col.raw_data(), per_sample, n0, ns, g, options);
    }
  }
  finish(y, acc, bias, g.C_out, g.OH * g.OW);
}

// cols[n] (groups of [K, OHW]) = w^T (groups of [K, cout_g]) @ gy[n] (groups of [cout_g, OHW]).
void input_grad_gemms(void* cols, DType cols_dtype, int64_t col_sample_stride, const Tensor& gy, const Tensor& w,
                      int64_t n0, int64_t ns, const ConvGeometry& g, const GemmOptions& options) {
  const int64_t K = gemm_depth(g), OHW = g.OH * g.OW, co = cout_g(g);
  const DType dt = w.dtype();
  const size_t csize = dtype_size(cols_dtype);
  // w^T: element (k, o) of group gi at w[(gi*cout_g + o)*K + k].
  if (g.groups == 1) {
    gemm(matrices(cols, cols_dtype, K, OHW, OHW, 1, col_sample_stride), matrices(w.raw_data(), dt, K, g.C_out, 1, K, 0),
         matrices(at(gy, n0 * g.C_out * OHW), dt, g.C_out, OHW, OHW, 1, g.C_out * OHW), ns, 1.0, 0.0, options);
    return;
  }
  for (int64_t s = 0; s < ns; ++s) {
    void* col = static_cast<char*>(cols) + s * col_sample_stride * static_cast<int64_t>(csize);
    gemm(matrices(col, cols_dtype, K, OHW, OHW, 1, K * OHW), matrices(w.raw_data(), dt, K, co, 1, K, co * K),
         matrices(at(gy, (n0 + s) * g.C_out * OHW), dt, co, OHW, OHW, 1, co * OHW), g.groups, 1.0, 0.0, options);
  }
}

void input_grad_general(const Tensor& gx, const Tensor& gy, const Tensor& w, const Tensor& bias, const ConvGeometry& g,
                        const GemmOptions& options) {
  if (is_pointwise(g)) {
    const Tensor acc = accumulator_for(gx);
    input_grad_gemms(acc.raw_data(), acc.dtype(), g.C_in * g.H * g.W, gy, w, 0, g.N, g, options);
    finish(gx, acc, bias, g.C_in, g.H * g.W);
    return;
  }
  const DType col_dtype = gx.dtype() == DType::F64 ? DType::F64 : DType::F32;
  const int64_t chunk = samples_per_chunk(g), per_sample = g.C_in * g.kH * g.kW * g.OH * g.OW;
  const Tensor col = Tensor::empty({chunk * per_sample}, col_dtype, gx.device());
  for (int64_t n0 = 0; n0 < g.N; n0 += chunk) {
    const int64_t ns = std::min(chunk, g.N - n0);
    input_grad_gemms(col.raw_data(), col_dtype, per_sample, gy, w, n0, ns, g, options);
    const int64_t n = ns * g.C_in * g.H * g.W;
    dispatch_device_floating(gx.dtype(), "conv2d backward", [&](auto tag) {
      using T = typename decltype(tag)::type;
      col2im_kernel<T><<<blocks_for(n), kThreads, 0, stream()>>>(
          static_cast<T*>(at(gx, n0 * g.C_in * g.H * g.W)), static_cast<const compute_t<T>*>(col.raw_data()),
          bias.defined() ? static_cast<const T*>(bias.raw_data()) : nullptr, g, ns);
      RVOS_CUDA_CHECK_LAUNCH("col2im_kernel");
    });
  }
}

void weight_grad_general(const Tensor& gw, const Tensor& x, const Tensor& gy, const ConvGeometry& g,
                         const GemmOptions& options) {
  const int64_t K = gemm_depth(g), OHW = g.OH * g.OW, co = cout_g(g);
  const DType dt = x.dtype();
  const Tensor acc = accumulator_for(gw);
  const bool pointwise = is_pointwise(g);
  const int64_t chunk = pointwise ? g.N : samples_per_chunk(g), per_sample = g.C_in * g.kH * g.kW * OHW;
  const Tensor col = pointwise ? Tensor() : Tensor::empty({chunk * per_sample}, dt, x.device());
  bool first = true;
  for (int64_t n0 = 0; n0 < g.N; n0 += chunk) {
    const int64_t ns = std::min(chunk, g.N - n0);
    if (!pointwise) im2col(col, x, n0, ns, g);
    for (int64_t s = 0; s < ns; ++s) {
      // gw[group] (+)= gy[n, group] [cout_g, OHW] @ cols[s, group]^T [OHW, K]; the samples add up in
      // the float32 (or float64) accumulator.
      void* cols = pointwise ? at(x, (n0 + s) * g.C_in * OHW) : at(col, s * per_sample);
      gemm(matrices(acc.raw_data(), acc.dtype(), co, K, K, 1, co * K),
           matrices(at(gy, (n0 + s) * g.C_out * OHW), dt, co, OHW, OHW, 1, co * OHW),
           matrices(cols, dt, OHW, K, 1, OHW, K * OHW), g.groups, 1.0, first ? 0.0 : 1.0, options);
      first = false;
    }
  }
  if (g.N == 0) {
    RVOS_CUDA_CHECK(cudaMemsetAsync(gw.raw_data(), 0, static_cast<size_t>(gw.numel()) * gw.element_size(), stream()));
    return;
  }
  finish(gw, acc, Tensor(), 1, gw.numel());
}

// ---- direct kernel (small GEMM depth) ------------------------------------------------------------

// One thread per output pixel and CO_TILE output channels of one (sample, group); the block's
// weights [K][CO_TILE] in shared memory.
template <class T, int CO_TILE>
__global__ void __launch_bounds__(kThreads)
    direct_conv_kernel(const T* __restrict__ x, const T* __restrict__ w, const T* __restrict__ bias,
                       T* __restrict__ y, ConvGeometry g) {
  using C = compute_t<T>;
  extern __shared__ __align__(16) unsigned char shared_bytes[];
  C* ws = reinterpret_cast<C*>(shared_bytes);
  const int64_t ci_n = g.C_in / g.groups, co_n = g.C_out / g.groups, OHW = g.OH * g.OW;
  const int K = static_cast<int>(ci_n * g.kH * g.kW);
  const int64_t co0 = int64_t(blockIdx.y) * CO_TILE;
  const int64_t p = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  for (int64_t item = blockIdx.z; item < g.N * g.groups; item += gridDim.z) {
    const int64_t n = item / g.groups, gi = item % g.groups;
    __syncthreads();  // the previous item is done with the weights
    for (int i = threadIdx.x; i < K * CO_TILE; i += blockDim.x) {
      const int64_t co = co0 + i % CO_TILE;
      ws[i] = co < co_n ? static_cast<C>(load(w + (gi * co_n + co) * K + i / CO_TILE)) : C(0);
    }
    __syncthreads();
    if (p >= OHW) continue;
    const int64_t ih0 = (p / g.OW) * g.sH - g.pH, iw0 = (p % g.OW) * g.sW - g.pW;
    const T* xg = x + (n * g.C_in + gi * ci_n) * g.H * g.W;
    C acc[CO_TILE];
#pragma unroll
    for (int t = 0; t < CO_TILE; ++t) acc[t] = C(0);
    for (int c = 0; c < ci_n; ++c) {
      for (int ki = 0; ki < g.kH; ++ki) {
        const int64_t ih = ih0 + ki * g.dH;
        if (ih < 0 || ih >= g.H) continue;
        const T* xr = xg + (c * g.H + ih) * g.W;
        const C* wk = ws + (c * g.kH + ki) * g.kW * CO_TILE;
        for (int kj = 0; kj < g.kW; ++kj) {
          const int64_t iw = iw0 + kj * g.dW;
          if (iw < 0 || iw >= g.W) continue;
          const C v = load(xr + iw);
#pragma unroll
          for (int t = 0; t < CO_TILE; ++t) acc[t] += v * wk[kj * CO_TILE + t];
        }
      }
    }
    T* yo = y + (n * g.C_out + gi * co_n + co0) * OHW + p;
#pragma unroll
    for (int t = 0; t < CO_TILE; ++t) {
      if (co0 + t >= co_n) break;
      C v = acc[t];
      if (bias != nullptr) v += load(bias + gi * co_n + co0 + t);
      store(yo + t * OHW, v);
    }
  }
}

template <class T>
void launch_direct(const Tensor& y, const Tensor& x, const Tensor& w, const Tensor& bias, const ConvGeometry& g) {
  using C = compute_t<T>;
  const int64_t K = gemm_depth(g), co = cout_g(g);
  const bool wide = co > 4 && static_cast<size_t>(K) * 16 * sizeof(C) <= kDefaultSharedBytes;
  const int tile = wide ? 16 : 4;
  const dim3 grid(ceil_div(g.OH * g.OW, kThreads), ceil_div(co, tile), grid_z(g.N * g.groups));
  const size_t shared = static_cast<size_t>(K) * tile * sizeof(C);
  const T* xp = static_cast<const T*>(x.raw_data());
  const T* wp = static_cast<const T*>(w.raw_data());
  const T* bp = bias.defined() ? static_cast<const T*>(bias.raw_data()) : nullptr;
  T* yp = static_cast<T*>(y.raw_data());
  if (wide) {
    direct_conv_kernel<T, 16><<<grid, kThreads, shared, stream()>>>(xp, wp, bp, yp, g);
  } else {
    direct_conv_kernel<T, 4><<<grid, kThreads, shared, stream()>>>(xp, wp, bp, yp, g);
  }
  RVOS_CUDA_CHECK_LAUNCH("direct_conv_kernel");
}

// ---- non-overlapping 2x2 stride-2 input gradient (transposed convolution) ---------------------------

constexpr int kNonOverlapThreads = 128, kNonOverlapChannels = 8, kNonOverlapChunk = 32;

// gx[n][c][2*oh + ki][2*ow + kj] = bias[c] + sum over the group's output channels o of
// gy[n][o][oh][ow] * w[o][c][ki][kj]: one thread per (oh, ow) and 8 channels c, weights by chunks
// of 32 output channels in shared memory.
template <class T>
__global__ void __launch_bounds__(kNonOverlapThreads)
    non_overlapping_input_grad_kernel(const T* __restrict__ gy, const T* __restrict__ w, const T* __restrict__ bias,
                                      T* __restrict__ gx, ConvGeometry g) {
  using C = compute_t<T>;
  constexpr int kTaps = 4, kCh = kNonOverlapChannels;
  __shared__ C ws[kNonOverlapChunk][kCh][kTaps];
  const int64_t ci_n = g.C_in / g.groups, co_n = g.C_out / g.groups, OHW = g.OH * g.OW;
  const int64_t c0 = int64_t(blockIdx.y) * kCh;
  const int64_t q = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  for (int64_t item = blockIdx.z; item < g.N * g.groups; item += gridDim.z) {
    const int64_t n = item / g.groups, gi = item % g.groups;
    const T* gyg = gy + (n * g.C_out + gi * co_n) * OHW;
    C acc[kCh][kTaps];
#pragma unroll
    for (int c = 0; c < kCh; ++c) {
#pragma unroll
      for (int t = 0; t < kTaps; ++t) acc[c][t] = C(0);
    }
    for (int64_t o0 = 0; o0 < co_n; o0 += kNonOverlapChunk) {
      __syncthreads();
      for (int i = threadIdx.x; i < kNonOverlapChunk * kCh * kTaps; i += blockDim.x) {
        const int t = i % kTaps, c = (i / kTaps) % kCh, o = i / (kTaps * kCh);
        const bool valid = o0 + o < co_n && c0 + c < ci_n;
        ws[o][c][t] = valid ? static_cast<C>(load(w + ((gi * co_n + o0 + o) * ci_n + c0 + c) * kTaps + t)) : C(0);
      }
      __syncthreads();
      if (q < OHW) {
        const int chunk = static_cast<int>(co_n - o0 < kNonOverlapChunk ? co_n - o0 : kNonOverlapChunk);
        for (int o = 0; o < chunk; ++o) {
          const C v = load(gyg + (o0 + o) * OHW + q);
#pragma unroll
          for (int c = 0; c < kCh; ++c) {
#pragma unroll
            for (int t = 0; t < kTaps; ++t) acc[c][t] += v * ws[o][c][t];
          }
        }
      }
    }
    if (q < OHW) {
      const int64_t oh = q / g.OW, ow = q % g.OW;
#pragma unroll
      for (int c = 0; c < kCh; ++c) {
        if (c0 + c >= ci_n) break;
        const int64_t channel = gi * ci_n + c0 + c;
        const C b = bias != nullptr ? static_cast<C>(load(bias + channel)) : C(0);
        T* out = gx + ((n * g.C_in + channel) * g.H + 2 * oh) * g.W + 2 * ow;
        store(out, acc[c][0] + b);
        store(out + 1, acc[c][1] + b);
        store(out + g.W, acc[c][2] + b);
        store(out + g.W + 1, acc[c][3] + b);
      }
    }
  }
}

// ---- depthwise -------------------------------------------------------------------------------------

// An output plane (n, c) sums J input planes: input channel (c*J + j) / D, with the weight of that
// input channel when D == 1 (input gradient: J = multiplier) or of c otherwise (forward: D = multiplier).
struct DepthwiseParams {
  int64_t planes = 0, out_channels = 0, in_channels = 0, J = 1, D = 1;
  int64_t H = 0, W = 0, OH = 0, OW = 0;  // input and output plane sizes
  int64_t kH = 1, kW = 1, sH = 1, sW = 1, pH = 0, pW = 0, dH = 1, dW = 1;
  int64_t tile_h = 0, tile_w = 0;  // the shared input tile
  bool flip = false;               // read the kernel rotated by 180 degrees
};

// KH, KW > 0: that kernel size with stride 1 and dilation 1, unrolled with the kernel in registers;
// 0: everything from the parameters.
template <class T, int KH, int KW>
__global__ void __launch_bounds__(kTile* kTileThreadsY)
    depthwise_tiled_kernel(const T* __restrict__ in, const T* __restrict__ w, const T* __restrict__ bias,
                           T* __restrict__ out, DepthwiseParams p) {
  using C = compute_t<T>;
  extern __shared__ __align__(16) unsigned char shared_bytes[];
  C* tile = reinterpret_cast<C*>(shared_bytes);
  const int tx = threadIdx.x, ty = threadIdx.y, tid = ty * kTile + tx;
  const int64_t ow0 = int64_t(blockIdx.x) * kTile, oh0 = int64_t(blockIdx.y) * kTile;
  const int64_t ih_base = oh0 * p.sH - p.pH, iw_base = ow0 * p.sW - p.pW;
  const int64_t tile_h = KH > 0 ? kTile + KH - 1 : p.tile_h, tile_w = KW > 0 ? kTile + KW - 1 : p.tile_w;
  const int64_t kk = p.kH * p.kW;
  for (int64_t plane = blockIdx.z; plane < p.planes; plane += gridDim.z) {
    const int64_t n = plane / p.out_channels, c = plane % p.out_channels;
    C acc[kTileRows];
#pragma unroll
    for (int r = 0; r < kTileRows; ++r) acc[r] = C(0);
    for (int64_t j = 0; j < p.J; ++j) {
      const int64_t ic = (c * p.J + j) / p.D;
      const T* src = in + (n * p.in_channels + ic) * p.H * p.W;
      const T* wp = w + (p.D == 1 ? ic : c) * kk;
      __syncthreads();  // the previous plane is done with the tile
      for (int64_t i = tid; i < tile_h * tile_w; i += kTile * kTileThreadsY) {
        const int64_t ih = ih_base + i / tile_w, iw = iw_base + i % tile_w;
        tile[i] = (ih >= 0 && ih < p.H && iw >= 0 && iw < p.W) ? static_cast<C>(load(src + ih * p.W + iw)) : C(0);
      }
      __syncthreads();
      if constexpr (KH > 0) {
        constexpr int KK = KH * KW;
        C wr[KK];
#pragma unroll
        for (int t = 0; t < KK; ++t) wr[t] = load(wp + (p.flip ? KK - 1 - t : t));
        const C* base = tile + (ty * kTileRows) * tile_w + tx;
#pragma unroll
        for (int rr = 0; rr < kTileRows + KH - 1; ++rr) {
          C v[KW];
#pragma unroll
          for (int kj = 0; kj < KW; ++kj) v[kj] = base[rr * tile_w + kj];
#pragma unroll
          for (int r = 0; r < kTileRows; ++r) {
            const int ki = rr - r;
            if (ki >= 0 && ki < KH) {
#pragma unroll
              for (int kj = 0; kj < KW; ++kj) acc[r] += wr[ki * KW + kj] * v[kj];
            }
          }
        }
      } else {
        for (int64_t ki = 0; ki < p.kH; ++ki) {
          for (int64_t kj = 0; kj < p.kW; ++kj) {
            const int64_t t = ki * p.kW + kj;
            const C wv = load(wp + (p.flip ? kk - 1 - t : t));
            const C* col = tile + ki * p.dH * tile_w + tx * p.sW + kj * p.dW;
#pragma unroll
            for (int r = 0; r < kTileRows; ++r) acc[r] += wv * col[(ty * kTileRows + r) * p.sH * tile_w];
          }
        }
      }
    }
    const int64_t ow = ow0 + tx;
#pragma unroll
    for (int r = 0; r < kTileRows; ++r) {
      const int64_t oh = oh0 + ty * kTileRows + r;
      if (oh < p.OH && ow < p.OW) {
        C v = acc[r];
        if (bias != nullptr) v += load(bias + c);
        store(out + (plane * p.OH + oh) * p.OW + ow, v);
      }
    }
  }
}

// The same sums without tiles (for geometries whose input tile would not fit shared memory).
template <class T>
__global__ void depthwise_simple_kernel(const T* __restrict__ in, const T* __restrict__ w,
                                        const T* __restrict__ bias, T* __restrict__ out, DepthwiseParams p) {
  using C = compute_t<T>;
  const int64_t kk = p.kH * p.kW, n_out = p.planes * p.OH * p.OW;
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < n_out; e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t ow = e % p.OW, oh = (e / p.OW) % p.OH, plane = e / (p.OW * p.OH);
    const int64_t n = plane / p.out_channels, c = plane % p.out_channels;
    C acc = 0;
    for (int64_t j = 0; j < p.J; ++j) {
      const int64_t ic = (c * p.J + j) / p.D;
      const T* src = in + (n * p.in_channels + ic) * p.H * p.W;
      const T* wp = w + (p.D == 1 ? ic : c) * kk;
      for (int64_t ki = 0; ki < p.kH; ++ki) {
        const int64_t ih = oh * p.sH - p.pH + ki * p.dH;
        if (ih < 0 || ih >= p.H) continue;
        for (int64_t kj = 0; kj < p.kW; ++kj) {
          const int64_t iw = ow * p.sW - p.pW + kj * p.dW;
          if (iw < 0 || iw >= p.W) continue;
          const int64_t t = ki * p.kW + kj;
          acc += static_cast<C>(load(wp + (p.flip ? kk - 1 - t : t))) * static_cast<C>(load(src + ih * p.W + iw));
        }
      }
    }
    if (bias != nullptr) acc += load(bias + c);
    store(out + e, acc);
  }
}

template <class T>
void launch_depthwise(const Tensor& out, const Tensor& in, const Tensor& w, const Tensor& bias, DepthwiseParams p) {
  using C = compute_t<T>;
  const T* ip = static_cast<const T*>(in.raw_data());
  const T* wp = static_cast<const T*>(w.raw_data());
  const T* bp = bias.defined() ? static_cast<const T*>(bias.raw_data()) : nullptr;
  T* op = static_cast<T*>(out.raw_data());
  p.tile_h = (kTile - 1) * p.sH + (p.kH - 1) * p.dH + 1;
  p.tile_w = (kTile - 1) * p.sW + (p.kW - 1) * p.dW + 1;
  const size_t shared = static_cast<size_t>(p.tile_h * p.tile_w) * sizeof(C);
  if (shared > kDefaultSharedBytes) {
    const int64_t n = p.planes * p.OH * p.OW;
    depthwise_simple_kernel<T><<<blocks_for(n), kThreads, 0, stream()>>>(ip, wp, bp, op, p);
    RVOS_CUDA_CHECK_LAUNCH("depthwise_simple_kernel");
    return;
  }
  const dim3 grid(ceil_div(p.OW, kTile), ceil_div(p.OH, kTile), grid_z(p.planes));
  const dim3 block(kTile, kTileThreadsY);
  const bool unit = p.sH == 1 && p.sW == 1 && p.dH == 1 && p.dW == 1;
  if (unit && p.kH == 7 && p.kW == 7) {
    depthwise_tiled_kernel<T, 7, 7><<<grid, block, shared, stream()>>>(ip, wp, bp, op, p);
  } else if (unit && p.kH == 3 && p.kW == 3) {
    depthwise_tiled_kernel<T, 3, 3><<<grid, block, shared, stream()>>>(ip, wp, bp, op, p);
  } else {
    depthwise_tiled_kernel<T, 0, 0><<<grid, block, shared, stream()>>>(ip, wp, bp, op, p);
  }
  RVOS_CUDA_CHECK_LAUNCH("depthwise_tiled_kernel");
}

// The input gradient of a strided depthwise convolution, one thread per input element.
template <class T>
__global__ void depthwise_input_grad_kernel(const T* __restrict__ gy, const T* __restrict__ w,
                                            const T* __restrict__ bias, T* __restrict__ gx, ConvGeometry g) {
  using C = compute_t<T>;
  const int64_t m = g.C_out / g.groups, kk = g.kH * g.kW, HW = g.H * g.W, OHW = g.OH * g.OW;
  const int64_t n_in = g.N * g.C_in * HW;
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < n_in; e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t iw = e % g.W, ih = (e / g.W) % g.H, ci = (e / HW) % g.C_in, n = e / (g.C_in * HW);
    C acc = 0;
    for (int64_t j = 0; j < m; ++j) {
      const int64_t co = ci * m + j;
      const T* gp = gy + (n * g.C_out + co) * OHW;
      const T* wp = w + co * kk;
      for (int64_t ki = 0; ki < g.kH; ++ki) {
        const int64_t nh = ih + g.pH - ki * g.dH;
        if (nh < 0 || nh % g.sH != 0 || nh / g.sH >= g.OH) continue;
        for (int64_t kj = 0; kj < g.kW; ++kj) {
          const int64_t nw = iw + g.pW - kj * g.dW;
          if (nw < 0 || nw % g.sW != 0 || nw / g.sW >= g.OW) continue;
          acc += static_cast<C>(load(gp + (nh / g.sH) * g.OW + nw / g.sW)) * static_cast<C>(load(wp + ki * g.kW + kj));
        }
      }
    }
    if (bias != nullptr) acc += load(bias + ci);
    store(gx + e, acc);
  }
}

// Partial weight gradients of one output channel (blockIdx.x) over one chunk of (sample, row) rows
// (blockIdx.y): partial[chunk][channel][tap]. KH, KW > 0 keep every tap's sum in registers.
template <class T, int KH, int KW>
__global__ void __launch_bounds__(kThreads)
    depthwise_weight_grad_kernel(const T* __restrict__ x, const T* __restrict__ gy, compute_t<T>* __restrict__ partial,
                                 ConvGeometry g, int64_t rows_per_chunk) {
  using A = compute_t<T>;
  constexpr int kWarps = kThreads / 32;
  constexpr int KK = KH * KW;
  __shared__ A warp_sums[kWarps][KK > 0 ? KK : 1];
  const int64_t co = blockIdx.x, chunk = blockIdx.y;
  const int64_t m = g.C_out / g.groups, ci = co / m, kk = g.kH * g.kW;
  const int64_t r0 = chunk * rows_per_chunk, r1 = r0 + rows_per_chunk < g.N * g.OH ? r0 + rows_per_chunk : g.N * g.OH;
  const int64_t pixels = (r1 - r0) * g.OW;
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  A* out = partial + (chunk * g.C_out + co) * kk;
  if constexpr (KK > 0) {
    A acc[KK];
#pragma unroll
    for (int t = 0; t < KK; ++t) acc[t] = A(0);
    for (int64_t q = threadIdx.x; q < pixels; q += kThreads) {
      const int64_t r = r0 + q / g.OW, ow = q % g.OW, n = r / g.OH, oh = r % g.OH;
      const A gv = load(gy + ((n * g.C_out + co) * g.OH + oh) * g.OW + ow);
      const T* xp = x + (n * g.C_in + ci) * g.H * g.W;
      const int64_t ih0 = oh * g.sH - g.pH, iw0 = ow * g.sW - g.pW;
#pragma unroll
      for (int ki = 0; ki < KH; ++ki) {
        const int64_t ih = ih0 + ki * g.dH;
        const bool row_inside = ih >= 0 && ih < g.H;
#pragma unroll
        for (int kj = 0; kj < KW; ++kj) {
          const int64_t iw = iw0 + kj * g.dW;
          if (row_inside && iw >= 0 && iw < g.W) acc[ki * KW + kj] += gv * static_cast<A>(load(xp + ih * g.W + iw));
        }
      }
    }
#pragma unroll
    for (int t = 0; t < KK; ++t) {
      const A s = warp_reduce_sum(acc[t]);
      if (lane == 0) warp_sums[warp][t] = s;
    }
    __syncthreads();
    if (threadIdx.x < KK) {
      A s = 0;
      for (int i = 0; i < kWarps; ++i) s += warp_sums[i][threadIdx.x];
      out[threadIdx.x] = s;
    }
  } else {
    for (int64_t t = 0; t < kk; ++t) {
      const int64_t ki = t / g.kW, kj = t % g.kW;
      A acc = 0;
      for (int64_t q = threadIdx.x; q < pixels; q += kThreads) {
        const int64_t r = r0 + q / g.OW, ow = q % g.OW, n = r / g.OH, oh = r % g.OH;
        const int64_t ih = oh * g.sH - g.pH + ki * g.dH, iw = ow * g.sW - g.pW + kj * g.dW;
        if (ih < 0 || ih >= g.H || iw < 0 || iw >= g.W) continue;
        acc += static_cast<A>(load(gy + ((n * g.C_out + co) * g.OH + oh) * g.OW + ow)) *
               static_cast<A>(load(x + ((n * g.C_in + ci) * g.H + ih) * g.W + iw));
      }
      acc = warp_reduce_sum(acc);
      __syncthreads();  // the previous tap's sums were read
      if (lane == 0) warp_sums[warp][0] = acc;
      __syncthreads();
      if (threadIdx.x == 0) {
        A s = 0;
        for (int i = 0; i < kWarps; ++i) s += warp_sums[i][0];
        out[t] = s;
      }
    }
  }
}

// gw[e] = the sum of the chunks' partial sums, in chunk order.
template <class T>
__global__ void sum_partials_kernel(const compute_t<T>* __restrict__ partial, T* __restrict__ gw, int64_t chunks,
                                    int64_t n) {
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < n; e += int64_t(gridDim.x) * blockDim.x) {
    compute_t<T> s = 0;
    for (int64_t c = 0; c < chunks; ++c) s += partial[c * n + e];
    store(gw + e, s);
  }
}

template <class T>
void depthwise_weight_grad(const Tensor& gw, const Tensor& x, const Tensor& gy, const ConvGeometry& g) {
  using A = compute_t<T>;
  const int64_t rows = g.N * g.OH;
  // About 2048 output pixels per block, at most 65535 chunks.
  int64_t rows_per_chunk = std::max<int64_t>(1, (2048 + g.OW - 1) / std::max<int64_t>(g.OW, 1));
  rows_per_chunk = std::max(rows_per_chunk, (rows + kMaxGridZ - 1) / kMaxGridZ);
  const int64_t chunks = std::max<int64_t>(1, (rows + rows_per_chunk - 1) / rows_per_chunk);
  const int64_t n = gw.numel();
  const Tensor partial = Tensor::empty({chunks * n}, gw.dtype() == DType::F64 ? DType::F64 : DType::F32, gw.device());
  const dim3 grid(static_cast<unsigned int>(g.C_out), static_cast<unsigned int>(chunks));
  const T* xp = static_cast<const T*>(x.raw_data());
  const T* gp = static_cast<const T*>(gy.raw_data());
  A* pp = static_cast<A*>(partial.raw_data());
  if (rows == 0) {
    RVOS_CUDA_CHECK(cudaMemsetAsync(pp, 0, static_cast<size_t>(partial.numel()) * partial.element_size(), stream()));
  } else if (g.kH == 7 && g.kW == 7) {
    depthwise_weight_grad_kernel<T, 7, 7><<<grid, kThreads, 0, stream()>>>(xp, gp, pp, g, rows_per_chunk);
  } else if (g.kH == 3 && g.kW == 3) {
    depthwise_weight_grad_kernel<T, 3, 3><<<grid, kThreads, 0, stream()>>>(xp, gp, pp, g, rows_per_chunk);
  } else {
    depthwise_weight_grad_kernel<T, 0, 0><<<grid, kThreads, 0, stream()>>>(xp, gp, pp, g, rows_per_chunk);
  }
  RVOS_CUDA_CHECK_LAUNCH("depthwise_weight_grad_kernel");
  sum_partials_kernel<T><<<blocks_for(n), kThreads, 0, stream()>>>(pp, static_cast<T*>(gw.raw_data()), chunks, n);
  RVOS_CUDA_CHECK_LAUNCH("sum_partials_kernel");
}

// ---- channel sums ---------------------------------------------------------------------------------

template <class T>
__global__ void __launch_bounds__(kThreads)
    channel_sum_kernel(const T* __restrict__ t, T* __restrict__ out, int64_t N, int64_t C, int64_t plane) {
  using A = compute_t<T>;
  __shared__ A warp_sums[kThreads / 32];
  const int64_t c = blockIdx.x;
  A acc = 0;
  for (int64_t i = threadIdx.x; i < N * plane; i += kThreads) acc += load(t + ((i / plane) * C + c) * plane + i % plane);
  acc = warp_reduce_sum(acc);
  if (threadIdx.x % 32 == 0) warp_sums[threadIdx.x / 32] = acc;
  __syncthreads();
  if (threadIdx.x == 0) {
    A s = 0;
    for (int i = 0; i < kThreads / 32; ++i) s += warp_sums[i];
    store(out + c, s);
  }
}

void check_conv_tensors(const char* op, const Tensor& out, std::initializer_list<const Tensor*> ins) {
  if (!out.is_cuda() || !out.is_contiguous()) {
    throw std::invalid_argument(std::string(op) + ": the result must be a contiguous CUDA tensor");
  }
  for (const Tensor* t : ins) {
    if (!t->defined()) continue;
    if (t->device() != out.device() || t->dtype() != out.dtype() || !t->is_contiguous()) {
      throw std::invalid_argument(std::string(op) +
                                  ": operands must be contiguous tensors of the result's device and dtype");
    }
  }
}

GemmOptions gemm_options(const ConvOptions& options) { return GemmOptions{options.allow_tf32}; }

}  // namespace

const char* conv_path_name(ConvPath path) {
  switch (path) {
    case ConvPath::Depthwise: return "depthwise";
    case ConvPath::Pointwise: return "pointwise";
    case ConvPath::Direct: return "direct";
    case ConvPath::NonOverlapping: return "non-overlapping";
    case ConvPath::Im2col: return "im2col";
    case ConvPath::Cudnn: return "cudnn";
  }
  return "?";
}

ConvPath conv2d_forward_path(const ConvGeometry& g, const ConvOptions& options) {
  if (options.impl == ConvImpl::Cudnn) return ConvPath::Cudnn;
  if (is_depthwise(g)) return ConvPath::Depthwise;
  if (is_pointwise(g)) return ConvPath::Pointwise;
  if (is_direct(g)) return ConvPath::Direct;
  return ConvPath::Im2col;
}

ConvPath conv2d_input_grad_path(const ConvGeometry& g, const ConvOptions& options) {
  if (options.impl == ConvImpl::Cudnn) return ConvPath::Cudnn;
  if (is_depthwise(g)) return ConvPath::Depthwise;
  if (is_pointwise(g)) return ConvPath::Pointwise;
  if (is_non_overlapping_2x2(g)) return ConvPath::NonOverlapping;
  return ConvPath::Im2col;
}

ConvPath conv2d_weight_grad_path(const ConvGeometry& g, const ConvOptions& options) {
  if (options.impl == ConvImpl::Cudnn) return ConvPath::Cudnn;
  if (is_depthwise(g)) return ConvPath::Depthwise;
  if (is_pointwise(g)) return ConvPath::Pointwise;
  return ConvPath::Im2col;
}

void conv2d_forward(const Tensor& y, const Tensor& x, const Tensor& w, const Tensor& bias, const ConvGeometry& g,
                    const ConvOptions& options) {
  check_conv_tensors("conv2d", y, {&x, &w, &bias});
  set_device_of(y);
  if (y.numel() == 0) return;
  const ConvPath path = conv2d_forward_path(g, options);
  if (path == ConvPath::Cudnn) {
    cudnn::conv_forward(y, x, w, g, options.allow_tf32);
    finish(y, y, bias, g.C_out, g.OH * g.OW);
    return;
  }
  if (path == ConvPath::Pointwise || path == ConvPath::Im2col) {
    forward_general(y, x, w, bias, g, gemm_options(options));
    return;
  }
  dispatch_device_floating(y.dtype(), "conv2d", [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (path == ConvPath::Direct) {
      launch_direct<T>(y, x, w, bias, g);
      return;
    }
    DepthwiseParams p;
    p.planes = g.N * g.C_out;
    p.out_channels = g.C_out;
    p.in_channels = g.C_in;
    p.J = 1;
    p.D = cout_g(g);
    p.H = g.H, p.W = g.W, p.OH = g.OH, p.OW = g.OW;
    p.kH = g.kH, p.kW = g.kW, p.sH = g.sH, p.sW = g.sW, p.pH = g.pH, p.pW = g.pW, p.dH = g.dH, p.dW = g.dW;
    launch_depthwise<T>(y, x, w, bias, p);
  });
}

void conv2d_input_grad(const Tensor& gx, const Tensor& gy, const Tensor& w, const Tensor& bias, const ConvGeometry& g,
                       const ConvOptions& options) {
  check_conv_tensors("conv2d backward", gx, {&gy, &w, &bias});
  set_device_of(gx);
  if (gx.numel() == 0) return;
  const ConvPath path = conv2d_input_grad_path(g, options);
  if (path == ConvPath::Cudnn) {
    cudnn::conv_backward_data(gx, gy, w, g, options.allow_tf32);
    finish(gx, gx, bias, g.C_in, g.H * g.W);
    return;
  }
  if (path == ConvPath::Pointwise || path == ConvPath::Im2col) {
    input_grad_general(gx, gy, w, bias, g, gemm_options(options));
    return;
  }
  dispatch_device_floating(gx.dtype(), "conv2d backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* gp = static_cast<const T*>(gy.raw_data());
    const T* wp = static_cast<const T*>(w.raw_data());
    const T* bp = bias.defined() ? static_cast<const T*>(bias.raw_data()) : nullptr;
    T* xp = static_cast<T*>(gx.raw_data());
    if (path == ConvPath::NonOverlapping) {
      const dim3 grid(ceil_div(g.OH * g.OW, kNonOverlapThreads), ceil_div(cin_g(g), kNonOverlapChannels),
                      grid_z(g.N * g.groups));
      non_overlapping_input_grad_kernel<T><<<grid, kNonOverlapThreads, 0, stream()>>>(gp, wp, bp, xp, g);
      RVOS_CUDA_CHECK_LAUNCH("non_overlapping_input_grad_kernel");
      return;
    }
    if (g.sH != 1 || g.sW != 1) {
      const int64_t n = gx.numel();
      depthwise_input_grad_kernel<T><<<blocks_for(n), kThreads, 0, stream()>>>(gp, wp, bp, xp, g);
      RVOS_CUDA_CHECK_LAUNCH("depthwise_input_grad_kernel");
      return;
    }
    // Stride 1: a depthwise correlation of gy with the flipped kernel, padded by (k - 1) * d - p.
    DepthwiseParams p;
    p.planes = g.N * g.C_in;
    p.out_channels = g.C_in;
    p.in_channels = g.C_out;
    p.J = cout_g(g);
    p.D = 1;
    p.H = g.OH, p.W = g.OW, p.OH = g.H, p.OW = g.W;
    p.kH = g.kH, p.kW = g.kW, p.dH = g.dH, p.dW = g.dW;
    p.pH = (g.kH - 1) * g.dH - g.pH;
    p.pW = (g.kW - 1) * g.dW - g.pW;
    p.flip = true;
    launch_depthwise<T>(gx, gy, w, bias, p);
  });
}

void conv2d_weight_grad(const Tensor& gw, const Tensor& x, const Tensor& gy, const ConvGeometry& g,
                        const ConvOptions& options) {
  check_conv_tensors("conv2d backward", gw, {&x, &gy});
  set_device_of(gw);
  if (gw.numel() == 0) return;
  const ConvPath path = conv2d_weight_grad_path(g, options);
  if (path == ConvPath::Cudnn) {
    cudnn::conv_backward_filter(gw, x, gy, g, options.allow_tf32);
    return;
  }
  if (path == ConvPath::Depthwise) {
    dispatch_device_floating(gw.dtype(), "conv2d backward", [&](auto tag) {
      depthwise_weight_grad<typename decltype(tag)::type>(gw, x, gy, g);
    });
    return;
  }
  weight_grad_general(gw, x, gy, g, gemm_options(options));
}

void channel_sum(const Tensor& out, const Tensor& t) {
  if (t.dim() != 4 || out.dim() != 1 || out.size(0) != t.size(1)) {
    throw std::invalid_argument("cuda::channel_sum: expected [N, C, H, W] -> [C], got " + shape_str(t.shape()) +
                                " -> " + shape_str(out.shape()));
  }
  check_conv_tensors("channel_sum", out, {&t});
  set_device_of(out);
  if (out.numel() == 0) return;
  dispatch_device_floating(out.dtype(), "conv2d backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    channel_sum_kernel<T><<<static_cast<unsigned int>(t.size(1)), kThreads, 0, stream()>>>(
        static_cast<const T*>(t.raw_data()), static_cast<T*>(out.raw_data()), t.size(0), t.size(1),
        t.size(2) * t.size(3));
    RVOS_CUDA_CHECK_LAUNCH("channel_sum_kernel");
  });
}

bool cudnn_available() { return cudnn::available(); }

}  // namespace rvos::cuda
