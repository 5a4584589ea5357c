// Fused scaled-dot-product attention (see attention.h).
//
// Tensor-core path (bfloat16 / float16), forward: a block of 4 warps owns 64 query rows (16 per
// warp) and walks the key blocks of 64; Q, K and V tiles are copied to shared memory with
// cp.async (V of this block and K of the next load while the scores are computed), products
// use mma.sync m16n8k16 with float32 accumulators fed by ldmatrix, and the probabilities stay in
// registers between the two products. When the grid would leave the GPU half idle (few query
// blocks: one head, or a handful of queries against many keys) the keys are split across blocks
// and a second kernel merges the partial rows by their log-sum-exp.
//
// Backward (flash-attention 2): delta = rowsum(dO * O) first; then one block per 64 keys keeps
// K, V and the dK, dV accumulators on chip and walks the query blocks: S^T = K Q^T and
// dP^T = V dO^T, P = exp(S - lse), dS = P (dP - delta) into shared memory, dV += P^T dO,
// dK += dS^T Q, and dQ += dS K added to a float32 buffer with atomics. dK and dV are added
// atomically too, which makes broadcast batch dims (one k for many queries' batches) and
// splitting the query range across blocks free of special cases.
//
// Float32 path: the same two algorithms on FMAs, with register tiles read from shared memory.
#include <cuda_runtime.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "cuda/attention.h"
#include "cuda/common.cuh"
#include "cuda/copy.h"

namespace rvos::cuda {

namespace {

constexpr float kLog2e = 1.4426950408889634f;
constexpr float kLn2 = 0.6931471805599453f;
constexpr float kInf = std::numeric_limits<float>::infinity();

// ---------------------------------------------------------------------------------------------
// Parameters

constexpr int kMaxBatchDims = 6;
enum Slot { kSlotQ, kSlotK, kSlotV, kSlotMask, kSlotGradOut, kSlotGradQ, kSlotGradK, kSlotGradV, kSlots };
enum MaskKind : int32_t { kNoMask = 0, kBoolMask = 1, kFloatMask = 2 };

// Element offsets of every operand for one index of the (broadcast) batch.
struct BatchMap {
  int32_t ndim = 0;
  int64_t sizes[kMaxBatchDims] = {};
  int64_t strides[kSlots][kMaxBatchDims] = {};
};

// One [rows, cols] matrix per batch element, read through its strides.
struct Operand {
  const void* data = nullptr;  // at the tensor's own offset
  int64_t row_stride = 0, col_stride = 0;
  int64_t rows = 0, cols = 0;
  bool vec = false;  // 16-byte copies allowed: contiguous rows, 16-byte aligned, cols % 8 == 0
};

struct AttentionParams {
  Operand q, k, v, grad_out;
  const void* mask = nullptr;
  int32_t mask_kind = kNoMask;
  int64_t mask_row_stride = 0, mask_col_stride = 0;
  bool causal = false;
  float scale = 1.0f;  // scores are scale * (q . k)
  int64_t L = 0, S = 0, E = 0, Ev = 0, batch = 0;
  BatchMap batch_map;
  // Forward results: out [batch, L, Ev] (contiguous, input dtype), lse [batch, L]; with key
  // splits, the splits' normalised rows and log-sum-exps first.
  void* out = nullptr;
  float* lse = nullptr;
  bool out_vec = false;  // Ev % 8 == 0: rows of `out` take 16-byte stores
  int32_t num_splits = 1;
  int64_t kv_blocks_per_split = 0;
  float* out_partial = nullptr;  // [num_splits, batch, L, Ev]
  float* lse_partial = nullptr;  // [num_splits, batch, L]
  // Backward: delta [batch, L]; float32 gradient accumulators with the shapes of q, k, v
  // (contiguous; broadcast batch dims reach them through stride-0 slots of batch_map).
  const void* out_saved = nullptr;
  float* delta = nullptr;
  float* grad_q = nullptr;
  float* grad_k = nullptr;
  float* grad_v = nullptr;
  int64_t q_blocks_per_split = 0;
};

__device__ __forceinline__ void batch_offsets(const BatchMap& m, int64_t b, int64_t (&off)[kSlots]) {
#pragma unroll
  for (int s = 0; s < kSlots; ++s) off[s] = 0;
  for (int d = m.ndim - 1; d >= 0; --d) {
    const int64_t i = b % m.sizes[d];
    b /= m.sizes[d];
#pragma unroll
    for (int s = 0; s < kSlots; ++s) off[s] += i * m.strides[s][d];
  }
}

__host__ __device__ constexpr int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// The score of (row, col) in log2 units when `log2_units` (tensor-core path) or natural units,
// given x = scale * (q . k) in those units; -inf where masked, outside the keys, or outside the
// queries (padding rows of the last block: the mask must not be read there).
template <bool kLog2Units>
__device__ __forceinline__ float masked_score(const AttentionParams& p, const void* mask, float x, int64_t row,
                                              int64_t col) {
  if (col >= p.S || row >= p.L || (p.causal && col > row)) return -kInf;
  if (p.mask_kind == kBoolMask) {
    if (!static_cast<const uint8_t*>(mask)[row * p.mask_row_stride + col * p.mask_col_stride]) return -kInf;
  } else if (p.mask_kind == kFloatMask) {
    const float m = static_cast<const float*>(mask)[row * p.mask_row_stride + col * p.mask_col_stride];
    x += kLog2Units ? m * kLog2e : m;
  }
  return x;
}

// ---------------------------------------------------------------------------------------------
// PTX wrappers

__device__ __forceinline__ uint32_t smem_u32(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

// 16 bytes global -> shared; the bytes past src_bytes (all 16 when 0) are zero-filled.
__device__ __forceinline__ void cp_async_16(void* dst, const void* src, int src_bytes) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(smem_u32(dst)), "l"(src), "r"(src_bytes)
               : "memory");
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
}

__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], const void* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_u32(p)));
}
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t (&r)[4], const void* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_u32(p)));
}

// c += a (16x16, row-major) * b (16x8, column-major), float32 accumulators.
template <class T>
__device__ __forceinline__ void mma_16816(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  if constexpr (std::is_same_v<T, __nv_bfloat16>) {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
        "{%0, %1, %2, %3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  } else {
    asm volatile(
        "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
        "{%0, %1, %2, %3};\n"
        : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
        : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
  }
}

// Two floats as a packed pair of T (lo in the low half: the smaller column index).
template <class T>
__device__ __forceinline__ uint32_t pack2(float lo, float hi) {
  if constexpr (std::is_same_v<T, __nv_bfloat16>) {
    const __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
    return *reinterpret_cast<const uint32_t*>(&v);
  } else {
    const __half2 v = __floats2half2_rn(lo, hi);
    return *reinterpret_cast<const uint32_t*>(&v);
  }
}

__device__ __forceinline__ float fast_exp2(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
  return y;
}

// ---------------------------------------------------------------------------------------------
// Tiles: ROWS x D elements from rows [row0, row0 + ROWS) of an operand into shared memory with
// row pitch PITCH elements; rows and columns outside the operand read as zeros.

template <class T, int D, int ROWS, int THREADS, int PITCH>
__device__ __forceinline__ void load_tile(T* smem, const Operand& op, const T* base, int64_t row0, int tid) {
  if (op.vec) {
    constexpr int kChunks = D / 8;  // 16-byte chunks per row
    for (int c = tid; c < ROWS * kChunks; c += THREADS) {
      const int r = c / kChunks, col = (c % kChunks) * 8;
      const int64_t gr = row0 + r;
      const bool valid = gr < op.rows && col < op.cols;
      const T* src = valid ? base + gr * op.row_stride + col : base;
      cp_async_16(smem + r * PITCH + col, src, valid ? 16 : 0);
    }
  } else {
    for (int i = tid; i < ROWS * D; i += THREADS) {
      const int r = i / D, col = i % D;
      const int64_t gr = row0 + r;
      T v;
      if (gr < op.rows && col < op.cols) {
        v = base[gr * op.row_stride + col * op.col_stride];
      } else {
        store(&v, 0.0f);
      }
      smem[r * PITCH + col] = v;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Tensor-core forward

constexpr int kTcForwardThreads = 128;
constexpr int kTcForwardBlockM = 64;  // 16 query rows per warp
constexpr int kTcForwardBlockN = 64;
constexpr int kSmemPad = 8;  // elements added to each shared row: ldmatrix rows fall in distinct banks

template <int D>
constexpr size_t tc_forward_smem_bytes() {
  return size_t(kTcForwardBlockM + 2 * kTcForwardBlockN) * (D + kSmemPad) * 2;
}

template <class T, int D>
__global__ void __launch_bounds__(kTcForwardThreads) attention_forward_tc_kernel(const AttentionParams p) {
  constexpr int BM = kTcForwardBlockM, BN = kTcForwardBlockN, P = D + kSmemPad;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  T* q_s = reinterpret_cast<T*>(smem_raw);
  T* k_s = q_s + BM * P;
  T* v_s = k_s + BN * P;

  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  const int g = lane / 4, t = lane % 4;  // mma fragment row group and column pair
  const int64_t m_blocks = ceil_div(p.L, BM);
  const int64_t b = blockIdx.x / m_blocks;
  const int64_t m0 = (blockIdx.x % m_blocks) * BM;
  const int split = blockIdx.y;
  int64_t off[kSlots];
  batch_offsets(p.batch_map, b, off);
  const T* q = static_cast<const T*>(p.q.data) + off[kSlotQ];
  const T* k = static_cast<const T*>(p.k.data) + off[kSlotK];
  const T* v = static_cast<const T*>(p.v.data) + off[kSlotV];
  const void* mask = p.mask_kind == kNoMask ? nullptr
                     : p.mask_kind == kBoolMask
                         ? static_cast<const void*>(static_cast<const uint8_t*>(p.mask) + off[kSlotMask])
                         : static_cast<const void*>(static_cast<const float*>(p.mask) + off[kSlotMask]);

  int64_t n_last = ceil_div(p.S, BN);
  if (p.causal) n_last = min(n_last, ceil_div(min(p.S, m0 + BM), BN));
  const int64_t n_begin = split * p.kv_blocks_per_split;
  const int64_t n_end = min(n_last, n_begin + p.kv_blocks_per_split);

  load_tile<T, D, BM, kTcForwardThreads, P>(q_s, p.q, q, m0, tid);
  if (n_begin < n_end) load_tile<T, D, BN, kTcForwardThreads, P>(k_s, p.k, k, n_begin * BN, tid);
  cp_async_commit();
  cp_async_wait<0>();
  __syncthreads();

  float o[D / 8][4];
#pragma unroll
  for (int j = 0; j < D / 8; ++j) o[j][0] = o[j][1] = o[j][2] = o[j][3] = 0.0f;
  float row_max[2] = {-kInf, -kInf};
  float row_sum[2] = {0.0f, 0.0f};  // this thread's columns only; summed over the quad at the end
  const float scale_log2 = p.scale * kLog2e;
  const int64_t row_g = m0 + warp * 16 + g;  // this thread's rows: row_g and row_g + 8
  const T* q_warp = q_s + (warp * 16) * P;

  for (int64_t nb = n_begin; nb < n_end; ++nb) {
    const int64_t n0 = nb * BN;
    load_tile<T, D, BN, kTcForwardThreads, P>(v_s, p.v, v, n0, tid);
    cp_async_commit();

    // S = Q K^T for this warp's 16 rows.
    float s[BN / 8][4];
#pragma unroll
    for (int j = 0; j < BN / 8; ++j) s[j][0] = s[j][1] = s[j][2] = s[j][3] = 0.0f;
#pragma unroll
    for (int kk = 0; kk < D / 16; ++kk) {
      uint32_t a[4];
      ldmatrix_x4(a, q_warp + (lane % 16) * P + kk * 16 + (lane / 16) * 8);
#pragma unroll
      for (int np = 0; np < BN / 16; ++np) {
        uint32_t bk[4];
        ldmatrix_x4(bk, k_s + (np * 16 + lane % 8 + (lane / 16) * 8) * P + kk * 16 + ((lane / 8) % 2) * 8);
        mma_16816<T>(s[2 * np], a, bk[0], bk[1]);
        mma_16816<T>(s[2 * np + 1], a, bk[2], bk[3]);
      }
    }
    __syncthreads();  // every warp is done with k_s
    if (nb + 1 < n_end) load_tile<T, D, BN, kTcForwardThreads, P>(k_s, p.k, k, n0 + BN, tid);
    cp_async_commit();

    // Scale, mask, online softmax.
    const bool edge = p.mask_kind != kNoMask || p.causal || n0 + BN > p.S;
#pragma unroll
    for (int j = 0; j < BN / 8; ++j) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const float x = s[j][e] * scale_log2;
        s[j][e] = edge ? masked_score<true>(p, mask, x, row_g + (e / 2) * 8, n0 + j * 8 + 2 * t + (e % 2)) : x;
      }
    }
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      float mx = -kInf;
#pragma unroll
      for (int j = 0; j < BN / 8; ++j) mx = fmaxf(mx, fmaxf(s[j][2 * r], s[j][2 * r + 1]));
      mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
      mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
      const float m_new = fmaxf(row_max[r], mx);
      const float m_use = m_new == -kInf ? 0.0f : m_new;  // all masked so far: exp2(-inf - 0) = 0
      const float alpha = fast_exp2(row_max[r] - m_use);
      row_max[r] = m_new;
      float sum = 0.0f;
#pragma unroll
      for (int j = 0; j < BN / 8; ++j) {
        s[j][2 * r] = fast_exp2(s[j][2 * r] - m_use);
        s[j][2 * r + 1] = fast_exp2(s[j][2 * r + 1] - m_use);
        sum += s[j][2 * r] + s[j][2 * r + 1];
      }
      row_sum[r] = row_sum[r] * alpha + sum;
#pragma unroll
      for (int j = 0; j < D / 8; ++j) {
        o[j][2 * r] *= alpha;
        o[j][2 * r + 1] *= alpha;
      }
    }

    cp_async_wait<1>();  // V of this block (the next K may still be in flight)
    __syncthreads();
    // O += P V, P taken from the score registers (the accumulator layout of two n8 tiles is the
    // A-operand layout of one k16 step).
#pragma unroll
    for (int kk = 0; kk < BN / 16; ++kk) {
      const uint32_t a[4] = {pack2<T>(s[2 * kk][0], s[2 * kk][1]), pack2<T>(s[2 * kk][2], s[2 * kk][3]),
                             pack2<T>(s[2 * kk + 1][0], s[2 * kk + 1][1]),
                             pack2<T>(s[2 * kk + 1][2], s[2 * kk + 1][3])};
#pragma unroll
      for (int dp = 0; dp < D / 16; ++dp) {
        uint32_t bv[4];
        ldmatrix_x4_trans(bv, v_s + (kk * 16 + lane % 8 + ((lane / 8) % 2) * 8) * P + dp * 16 + (lane / 16) * 8);
        mma_16816<T>(o[2 * dp], a, bv[0], bv[1]);
        mma_16816<T>(o[2 * dp + 1], a, bv[2], bv[3]);
      }
    }
    cp_async_wait<0>();
    __syncthreads();  // the next K has landed; every warp is done with v_s
  }

  float inv[2], lse[2];
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    float sum = row_sum[r];
    sum += __shfl_xor_sync(0xffffffffu, sum, 1);
    sum += __shfl_xor_sync(0xffffffffu, sum, 2);
    inv[r] = sum > 0.0f ? 1.0f / sum : 0.0f;
    lse[r] = sum > 0.0f ? (row_max[r] + __log2f(sum)) * kLn2 : -kInf;
  }

  if (p.num_splits == 1) {
    // Through this warp's own rows of q_s (no other warp reads them), then 16-byte stores.
    T* stage = q_s + (warp * 16) * P;
#pragma unroll
    for (int j = 0; j < D / 8; ++j) {
      const int c = j * 8 + 2 * t;
      *reinterpret_cast<uint32_t*>(stage + g * P + c) = pack2<T>(o[j][0] * inv[0], o[j][1] * inv[0]);
      *reinterpret_cast<uint32_t*>(stage + (g + 8) * P + c) = pack2<T>(o[j][2] * inv[1], o[j][3] * inv[1]);
    }
    __syncwarp();
    T* out = static_cast<T*>(p.out) + b * p.L * p.Ev;
    if (p.out_vec) {
      constexpr int kChunks = D / 8;
      for (int c = lane; c < 16 * kChunks; c += 32) {
        const int r = c / kChunks, col = (c % kChunks) * 8;
        const int64_t row = m0 + warp * 16 + r;
        if (row < p.L && col < p.Ev) {
          *reinterpret_cast<uint4*>(out + row * p.Ev + col) = *reinterpret_cast<const uint4*>(stage + r * P + col);
        }
      }
    } else {
      for (int i = lane; i < 16 * D; i += 32) {
        const int r = i / D, col = i % D;
        const int64_t row = m0 + warp * 16 + r;
        if (row < p.L && col < p.Ev) out[row * p.Ev + col] = stage[r * P + col];
      }
    }
    if (t == 0) {
      if (row_g < p.L) p.lse[b * p.L + row_g] = lse[0];
      if (row_g + 8 < p.L) p.lse[b * p.L + row_g + 8] = lse[1];
    }
  } else {
    const int64_t base_row = (int64_t(split) * p.batch + b) * p.L;
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      const int64_t row = row_g + r * 8;
      if (row >= p.L) continue;
      float* dst = p.out_partial + (base_row + row) * p.Ev;
#pragma unroll
      for (int j = 0; j < D / 8; ++j) {
        const int c = j * 8 + 2 * t;
        if (c < p.Ev) dst[c] = o[j][2 * r] * inv[r];
        if (c + 1 < p.Ev) dst[c + 1] = o[j][2 * r + 1] * inv[r];
      }
      if (t == 0) p.lse_partial[base_row + row] = lse[r];
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Float32 forward: 256 threads as 16 x 16; thread (ty, tx) owns query rows 4ty..4ty+3, the keys
// tx + 16j of each key block, and output columns in groups of VW starting at VW * tx.

constexpr int kF32Threads = 256;

template <int D>
struct F32Forward {
  static constexpr int BM = 64;
  static constexpr int BN = D == 256 ? 32 : 64;
  static constexpr int P = D + 4;       // float4 rows, 16-byte aligned
  static constexpr int PP = BN + 4;     // probability tile pitch
  static constexpr int KPT = BN / 16;   // keys per thread
  static constexpr int VW = D >= 64 ? 4 : 2;
  static constexpr int CG = D / (16 * VW);  // column groups per thread
  static constexpr size_t smem_bytes = (size_t(BM + 2 * BN) * P + size_t(BM) * PP) * sizeof(float);
};

template <int VW>
struct FloatVec;
template <>
struct FloatVec<4> {
  using type = float4;
};
template <>
struct FloatVec<2> {
  using type = float2;
};

template <int VW>
__device__ __forceinline__ void load_vec(float (&dst)[VW], const float* src) {
  if constexpr (VW == 4) {
    const float4 x = *reinterpret_cast<const float4*>(src);
    dst[0] = x.x, dst[1] = x.y, dst[2] = x.z, dst[3] = x.w;
  } else {
    const float2 x = *reinterpret_cast<const float2*>(src);
    dst[0] = x.x, dst[1] = x.y;
  }
}

template <int D>
__global__ void __launch_bounds__(kF32Threads) attention_forward_f32_kernel(const AttentionParams p) {
  using C = F32Forward<D>;
  constexpr int BM = C::BM, BN = C::BN, P = C::P, PP = C::PP, KPT = C::KPT, VW = C::VW, CG = C::CG;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  float* q_s = reinterpret_cast<float*>(smem_raw);
  float* k_s = q_s + BM * P;
  float* v_s = k_s + BN * P;
  float* p_s = v_s + BN * P;

  const int tid = threadIdx.x, tx = tid % 16, ty = tid / 16;
  const int64_t m_blocks = ceil_div(p.L, BM);
  const int64_t b = blockIdx.x / m_blocks;
  const int64_t m0 = (blockIdx.x % m_blocks) * BM;
  const int split = blockIdx.y;
  int64_t off[kSlots];
  batch_offsets(p.batch_map, b, off);
  const float* q = static_cast<const float*>(p.q.data) + off[kSlotQ];
  const float* k = static_cast<const float*>(p.k.data) + off[kSlotK];
  const float* v = static_cast<const float*>(p.v.data) + off[kSlotV];
  const void* mask = p.mask_kind == kNoMask ? nullptr
                     : p.mask_kind == kBoolMask
                         ? static_cast<const void*>(static_cast<const uint8_t*>(p.mask) + off[kSlotMask])
                         : static_cast<const void*>(static_cast<const float*>(p.mask) + off[kSlotMask]);

  int64_t n_last = ceil_div(p.S, BN);
  if (p.causal) n_last = min(n_last, ceil_div(min(p.S, m0 + BM), BN));
  const int64_t n_begin = split * p.kv_blocks_per_split;
  const int64_t n_end = min(n_last, n_begin + p.kv_blocks_per_split);

  load_tile<float, D, BM, kF32Threads, P>(q_s, p.q, q, m0, tid);

  float o[4][CG][VW] = {};
  float row_max[4], row_sum[4];
#pragma unroll
  for (int i = 0; i < 4; ++i) row_max[i] = -kInf, row_sum[i] = 0.0f;

  for (int64_t nb = n_begin; nb < n_end; ++nb) {
    const int64_t n0 = nb * BN;
    __syncthreads();  // the previous block's k_s, v_s, p_s are no longer read
    load_tile<float, D, BN, kF32Threads, P>(k_s, p.k, k, n0, tid);
    load_tile<float, D, BN, kF32Threads, P>(v_s, p.v, v, n0, tid);
    __syncthreads();

    float s[4][KPT] = {};
    for (int e = 0; e < D; e += 4) {
      float qv[4][4], kv[KPT][4];
#pragma unroll
      for (int i = 0; i < 4; ++i) load_vec<4>(qv[i], q_s + (4 * ty + i) * P + e);
#pragma unroll
      for (int j = 0; j < KPT; ++j) load_vec<4>(kv[j], k_s + (tx + 16 * j) * P + e);
#pragma unroll
      for (int i = 0; i < 4; ++i) {
#pragma unroll
        for (int j = 0; j < KPT; ++j) {
          s[i][j] = fmaf(qv[i][0], kv[j][0], s[i][j]);
          s[i][j] = fmaf(qv[i][1], kv[j][1], s[i][j]);
          s[i][j] = fmaf(qv[i][2], kv[j][2], s[i][j]);
          s[i][j] = fmaf(qv[i][3], kv[j][3], s[i][j]);
        }
      }
    }

#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const int64_t row = m0 + 4 * ty + i;
      float mx = -kInf;
#pragma unroll
      for (int j = 0; j < KPT; ++j) {
        s[i][j] = masked_score<false>(p, mask, s[i][j] * p.scale, row, n0 + tx + 16 * j);
        mx = fmaxf(mx, s[i][j]);
      }
#pragma unroll
      for (int w = 8; w >= 1; w /= 2) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, w));
      const float m_new = fmaxf(row_max[i], mx);
      const float m_use = m_new == -kInf ? 0.0f : m_new;
      const float alpha = expf(row_max[i] - m_use);
      row_max[i] = m_new;
      float sum = 0.0f;
#pragma unroll
      for (int j = 0; j < KPT; ++j) {
        const float e = expf(s[i][j] - m_use);
        sum += e;
        p_s[(4 * ty + i) * PP + tx + 16 * j] = e;
      }
      row_sum[i] = row_sum[i] * alpha + sum;
#pragma unroll
      for (int c = 0; c < CG; ++c) {
#pragma unroll
        for (int x = 0; x < VW; ++x) o[i][c][x] *= alpha;
      }
    }
    __syncthreads();

    for (int j = 0; j < BN; ++j) {
      float pv[4], vv[CG][VW];
#pragma unroll
      for (int i = 0; i < 4; ++i) pv[i] = p_s[(4 * ty + i) * PP + j];
#pragma unroll
      for (int c = 0; c < CG; ++c) load_vec<VW>(vv[c], v_s + j * P + c * 16 * VW + tx * VW);
#pragma unroll
      for (int i = 0; i < 4; ++i) {
#pragma unroll
        for (int c = 0; c < CG; ++c) {
#pragma unroll
          for (int x = 0; x < VW; ++x) o[i][c][x] = fmaf(pv[i], vv[c][x], o[i][c][x]);
        }
      }
    }
  }

#pragma unroll
  for (int i = 0; i < 4; ++i) {
    float sum = row_sum[i];
#pragma unroll
    for (int w = 8; w >= 1; w /= 2) sum += __shfl_xor_sync(0xffffffffu, sum, w);
    const float inv = sum > 0.0f ? 1.0f / sum : 0.0f;
    const float lse = sum > 0.0f ? row_max[i] + logf(sum) : -kInf;
    const int64_t row = m0 + 4 * ty + i;
    if (row >= p.L) continue;
    float* dst;
    float* lse_dst;
    if (p.num_splits == 1) {
      dst = static_cast<float*>(p.out) + (b * p.L + row) * p.Ev;
      lse_dst = p.lse + b * p.L + row;
    } else {
      const int64_t r = (int64_t(split) * p.batch + b) * p.L + row;
      dst = p.out_partial + r * p.Ev;
      lse_dst = p.lse_partial + r;
    }
#pragma unroll
    for (int c = 0; c < CG; ++c) {
#pragma unroll
      for (int x = 0; x < VW; ++x) {
        const int col = c * 16 * VW + tx * VW + x;
        if (col < p.Ev) dst[col] = o[i][c][x] * inv;
      }
    }
    if (tx == 0) *lse_dst = lse;
  }
}

// ---------------------------------------------------------------------------------------------
// Merging key splits: one warp per query row.

template <class T>
__global__ void attention_combine_kernel(const AttentionParams p) {
  const int64_t rows = p.batch * p.L;
  const int64_t row = int64_t(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (row >= rows) return;
  float m = -kInf;
  for (int s = 0; s < p.num_splits; ++s) m = fmaxf(m, p.lse_partial[s * rows + row]);
  T* out = static_cast<T*>(p.out) + row * p.Ev;
  if (m == -kInf) {  // every key of the row is masked
    for (int64_t c = lane; c < p.Ev; c += 32) store(out + c, 0.0f);
    if (lane == 0) p.lse[row] = -kInf;
    return;
  }
  float wsum = 0.0f;
  for (int s = 0; s < p.num_splits; ++s) wsum += expf(p.lse_partial[s * rows + row] - m);
  for (int64_t c = lane; c < p.Ev; c += 32) {
    float acc = 0.0f;
    for (int s = 0; s < p.num_splits; ++s) {
      const float w = expf(p.lse_partial[s * rows + row] - m);
      if (w > 0.0f) acc += w * p.out_partial[(s * rows + row) * p.Ev + c];
    }
    store(out + c, acc / wsum);
  }
  if (lane == 0) p.lse[row] = m + logf(wsum);
}

// ---------------------------------------------------------------------------------------------
// Backward preprocessing: delta = rowsum(dO * O), one warp per query row.

template <class T>
__global__ void attention_delta_kernel(const AttentionParams p) {
  const int64_t rows = p.batch * p.L;
  const int64_t row = int64_t(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (row >= rows) return;
  const int64_t b = row / p.L, i = row % p.L;
  int64_t off[kSlots];
  batch_offsets(p.batch_map, b, off);
  const T* dout = static_cast<const T*>(p.grad_out.data) + off[kSlotGradOut] + i * p.grad_out.row_stride;
  const T* out = static_cast<const T*>(p.out_saved) + row * p.Ev;
  float acc = 0.0f;
  for (int64_t c = lane; c < p.Ev; c += 32) acc += float(load(dout + c * p.grad_out.col_stride)) * float(load(out + c));
#pragma unroll
  for (int w = 16; w >= 1; w /= 2) acc += __shfl_xor_sync(0xffffffffu, acc, w);
  if (lane == 0) p.delta[row] = acc;
}

// Per-row backward inputs of a query block in shared memory: lse in the units of the caller
// (+inf where the row is outside the queries or fully masked, so that every P there is 0) and
// delta.
template <bool kLog2Units>
__device__ __forceinline__ void load_row_stats(float* lse_s, float* delta_s, const AttentionParams& p, int64_t b,
                                               int64_t m0, int rows, int tid) {
  for (int i = tid; i < rows; i += blockDim.x) {
    const int64_t row = m0 + i;
    float l = kInf, d = 0.0f;
    if (row < p.L) {
      const float x = p.lse[b * p.L + row];
      if (x != -kInf) l = kLog2Units ? x * kLog2e : x;
      d = p.delta[b * p.L + row];
    }
    lse_s[i] = l;
    delta_s[i] = d;
  }
}

// ---------------------------------------------------------------------------------------------
// Tensor-core backward: one block per 64 keys (and query split); W warps.
//   phase A: warp w computes S^T and dP^T for keys [16 (w % 4), +16) and a 64 / (W / 4) wide
//            range of queries, writes P^T and dS^T (input type) to shared memory;
//   phase B: warp w accumulates dV and dK for the same 16 keys and a D / (W / 4) wide range of
//            columns;
//   phase C: warp w computes dQ for queries [16 (w % 4), +16) and the same columns, and adds
//            it to the float32 accumulator.

constexpr int kTcBackwardBlockM = 64;
constexpr int kTcBackwardBlockN = 64;

template <int D>
struct TcBackward {
  static constexpr int W = D >= 128 ? 8 : 4;
  static constexpr int kThreads = W * 32;
  static constexpr int WN = W / 4;  // warps sharing one 16-row tile
  static constexpr int P = D + kSmemPad;
  static constexpr int PP = kTcBackwardBlockM + kSmemPad;
  static constexpr int AQ = kTcBackwardBlockM / WN;  // phase A query columns per warp
  static constexpr int BD = D / WN;                  // phase B / C head-dim columns per warp
  static constexpr int CW = BD % 64 == 0 ? 64 : BD;  // phase C column chunk
  static constexpr size_t smem_bytes = size_t(2 * kTcBackwardBlockN + 2 * kTcBackwardBlockM) * P * 2 +
                                       size_t(2 * kTcBackwardBlockN) * PP * 2 +
                                       size_t(2 * kTcBackwardBlockM) * sizeof(float);
  static_assert(AQ % 16 == 0 && BD % 16 == 0 && CW % 16 == 0 && BD % CW == 0, "tile split");
};

template <class T, int D>
__global__ void __launch_bounds__(TcBackward<D>::kThreads) attention_backward_tc_kernel(const AttentionParams p) {
  using C = TcBackward<D>;
  constexpr int BM = kTcBackwardBlockM, BN = kTcBackwardBlockN, P = C::P, PP = C::PP, AQ = C::AQ, BD = C::BD,
                CW = C::CW, kThreads = C::kThreads;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  T* k_s = reinterpret_cast<T*>(smem_raw);
  T* v_s = k_s + BN * P;
  T* q_s = v_s + BN * P;
  T* do_s = q_s + BM * P;
  T* pt_s = do_s + BM * P;
  T* dst_s = pt_s + BN * PP;
  float* lse_s = reinterpret_cast<float*>(dst_s + BN * PP);
  float* delta_s = lse_s + BM;

  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  const int g = lane / 4, t = lane % 4;
  const int64_t n_blocks = ceil_div(p.S, BN);
  const int64_t b = blockIdx.x / n_blocks;
  const int64_t n0 = (blockIdx.x % n_blocks) * BN;
  int64_t off[kSlots];
  batch_offsets(p.batch_map, b, off);
  const T* q = static_cast<const T*>(p.q.data) + off[kSlotQ];
  const T* k = static_cast<const T*>(p.k.data) + off[kSlotK];
  const T* v = static_cast<const T*>(p.v.data) + off[kSlotV];
  const T* dout = static_cast<const T*>(p.grad_out.data) + off[kSlotGradOut];
  const void* mask = p.mask_kind == kNoMask ? nullptr
                     : p.mask_kind == kBoolMask
                         ? static_cast<const void*>(static_cast<const uint8_t*>(p.mask) + off[kSlotMask])
                         : static_cast<const void*>(static_cast<const float*>(p.mask) + off[kSlotMask]);
  float* grad_q = p.grad_q + off[kSlotGradQ];

  // Query blocks of this split; with a causal mask, queries before n0 see none of these keys.
  const int64_t m_first = p.causal ? n0 / BM : 0;
  const int64_t m_begin = max(m_first, int64_t(blockIdx.y) * p.q_blocks_per_split);
  const int64_t m_end = min(ceil_div(p.L, BM), int64_t(blockIdx.y + 1) * p.q_blocks_per_split);

  load_tile<T, D, BN, kThreads, P>(k_s, p.k, k, n0, tid);
  load_tile<T, D, BN, kThreads, P>(v_s, p.v, v, n0, tid);
  cp_async_commit();

  const int mt = warp % 4;   // 16-row tile of phases A, B (keys) and C (queries)
  const int wn = warp / 4;   // column range
  float dv[BD / 8][4], dk[BD / 8][4];
#pragma unroll
  for (int j = 0; j < BD / 8; ++j) {
#pragma unroll
    for (int e = 0; e < 4; ++e) dv[j][e] = dk[j][e] = 0.0f;
  }
  const float scale_log2 = p.scale * kLog2e;

  for (int64_t mb = m_begin; mb < m_end; ++mb) {
    const int64_t m0 = mb * BM;
    __syncthreads();  // the previous block's tiles are no longer read
    load_tile<T, D, BM, kThreads, P>(q_s, p.q, q, m0, tid);
    load_tile<T, D, BM, kThreads, P>(do_s, p.grad_out, dout, m0, tid);
    cp_async_commit();
    load_row_stats<true>(lse_s, delta_s, p, b, m0, BM, tid);
    cp_async_wait<0>();
    __syncthreads();

    // Phase A.
    {
      const int qc0 = wn * AQ;
      float s[AQ / 8][4], dp[AQ / 8][4];
#pragma unroll
      for (int j = 0; j < AQ / 8; ++j) {
#pragma unroll
        for (int e = 0; e < 4; ++e) s[j][e] = dp[j][e] = 0.0f;
      }
#pragma unroll
      for (int kk = 0; kk < D / 16; ++kk) {
        uint32_t ak[4], av[4];
        ldmatrix_x4(ak, k_s + (mt * 16 + lane % 16) * P + kk * 16 + (lane / 16) * 8);
        ldmatrix_x4(av, v_s + (mt * 16 + lane % 16) * P + kk * 16 + (lane / 16) * 8);
#pragma unroll
        for (int np = 0; np < AQ / 16; ++np) {
          const int r = qc0 + np * 16 + lane % 8 + (lane / 16) * 8;
          const int c = kk * 16 + ((lane / 8) % 2) * 8;
          uint32_t bq[4], bo[4];
          ldmatrix_x4(bq, q_s + r * P + c);
          ldmatrix_x4(bo, do_s + r * P + c);
          mma_16816<T>(s[2 * np], ak, bq[0], bq[1]);
          mma_16816<T>(s[2 * np + 1], ak, bq[2], bq[3]);
          mma_16816<T>(dp[2 * np], av, bo[0], bo[1]);
          mma_16816<T>(dp[2 * np + 1], av, bo[2], bo[3]);
        }
      }
      const bool edge = p.mask_kind != kNoMask || p.causal || n0 + BN > p.S || m0 + BM > p.L;
#pragma unroll
      for (int j = 0; j < AQ / 8; ++j) {
        const int qc = qc0 + j * 8 + 2 * t;  // this thread's query columns qc, qc + 1
#pragma unroll
        for (int h = 0; h < 2; ++h) {        // key rows g and g + 8
          const int kr = mt * 16 + g + h * 8;
          float pv[2], ds[2];
#pragma unroll
          for (int e = 0; e < 2; ++e) {
            float x = s[j][2 * h + e] * scale_log2;
            if (edge) x = masked_score<true>(p, mask, x, m0 + qc + e, n0 + kr);
            pv[e] = fast_exp2(x - lse_s[qc + e]);
            ds[e] = pv[e] * (dp[j][2 * h + e] - delta_s[qc + e]);
          }
          *reinterpret_cast<uint32_t*>(pt_s + kr * PP + qc) = pack2<T>(pv[0], pv[1]);
          *reinterpret_cast<uint32_t*>(dst_s + kr * PP + qc) = pack2<T>(ds[0], ds[1]);
        }
      }
    }
    __syncthreads();

    // Phase B: dV += P^T dO, dK += dS^T Q (scaled at the end).
    {
      const int dc0 = wn * BD;
#pragma unroll
      for (int kk = 0; kk < BM / 16; ++kk) {
        uint32_t ap[4], ads[4];
        ldmatrix_x4(ap, pt_s + (mt * 16 + lane % 16) * PP + kk * 16 + (lane / 16) * 8);
        ldmatrix_x4(ads, dst_s + (mt * 16 + lane % 16) * PP + kk * 16 + (lane / 16) * 8);
#pragma unroll
        for (int dpi = 0; dpi < BD / 16; ++dpi) {
          const int r = kk * 16 + lane % 8 + ((lane / 8) % 2) * 8;
          const int c = dc0 + dpi * 16 + (lane / 16) * 8;
          uint32_t bo[4], bq[4];
          ldmatrix_x4_trans(bo, do_s + r * P + c);
          ldmatrix_x4_trans(bq, q_s + r * P + c);
          mma_16816<T>(dv[2 * dpi], ap, bo[0], bo[1]);
          mma_16816<T>(dv[2 * dpi + 1], ap, bo[2], bo[3]);
          mma_16816<T>(dk[2 * dpi], ads, bq[0], bq[1]);
          mma_16816<T>(dk[2 * dpi + 1], ads, bq[2], bq[3]);
        }
      }
    }

    // Phase C: dQ (this block's share) = scale * dS K, added to the accumulator.
    {
#pragma unroll
      for (int cc = 0; cc < BD / CW; ++cc) {
        const int c0 = wn * BD + cc * CW;
        float acc[CW / 8][4];
#pragma unroll
        for (int j = 0; j < CW / 8; ++j) acc[j][0] = acc[j][1] = acc[j][2] = acc[j][3] = 0.0f;
#pragma unroll
        for (int kk = 0; kk < BN / 16; ++kk) {
          uint32_t a[4];  // dS [queries, keys] read from its transpose
          ldmatrix_x4_trans(a, dst_s + (kk * 16 + lane % 8 + (lane / 16) * 8) * PP + mt * 16 + ((lane / 8) % 2) * 8);
#pragma unroll
          for (int dpi = 0; dpi < CW / 16; ++dpi) {
            uint32_t bk[4];
            ldmatrix_x4_trans(bk, k_s + (kk * 16 + lane % 8 + ((lane / 8) % 2) * 8) * P + c0 + dpi * 16 +
                                      (lane / 16) * 8);
            mma_16816<T>(acc[2 * dpi], a, bk[0], bk[1]);
            mma_16816<T>(acc[2 * dpi + 1], a, bk[2], bk[3]);
          }
        }
#pragma unroll
        for (int h = 0; h < 2; ++h) {
          const int64_t row = m0 + mt * 16 + g + h * 8;
          if (row >= p.L) continue;
          float* dst = grad_q + row * p.E;
#pragma unroll
          for (int j = 0; j < CW / 8; ++j) {
            const int c = c0 + j * 8 + 2 * t;
            if (c < p.E) atomicAdd(dst + c, acc[j][2 * h] * p.scale);
            if (c + 1 < p.E) atomicAdd(dst + c + 1, acc[j][2 * h + 1] * p.scale);
          }
        }
      }
    }
  }
  cp_async_wait<0>();  // K and V were never waited for when this split had no query block

  float* grad_k = p.grad_k + off[kSlotGradK];
  float* grad_v = p.grad_v + off[kSlotGradV];
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    const int64_t key = n0 + mt * 16 + g + h * 8;
    if (key >= p.S) continue;
#pragma unroll
    for (int j = 0; j < BD / 8; ++j) {
      const int c = wn * BD + j * 8 + 2 * t;
      if (c < p.Ev) atomicAdd(grad_v + key * p.Ev + c, dv[j][2 * h]);
      if (c + 1 < p.Ev) atomicAdd(grad_v + key * p.Ev + c + 1, dv[j][2 * h + 1]);
      if (c < p.E) atomicAdd(grad_k + key * p.E + c, dk[j][2 * h] * p.scale);
      if (c + 1 < p.E) atomicAdd(grad_k + key * p.E + c + 1, dk[j][2 * h + 1] * p.scale);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Float32 backward: 32 keys and 32 queries per step, 256 threads as 16 x 16.
//   phase A: thread (ty, tx) computes S^T, dP^T for keys 2ty, 2ty+1 and queries tx, tx+16;
//   phase B: dV, dK for keys 2ty, 2ty+1 and its output columns;
//   phase C: dQ for queries 2ty, 2ty+1 and its output columns.

template <int D>
struct F32Backward {
  static constexpr int BM = 32, BN = 32;
  static constexpr int P = D + 4;
  static constexpr int PP = BM + 8;  // conflict-free for the row and column walks of phases B, C
  static constexpr int VW = D >= 64 ? 4 : 2;
  static constexpr int CG = D / (16 * VW);
  static constexpr size_t smem_bytes =
      (size_t(2 * BN + 2 * BM) * P + size_t(2 * BN) * PP + size_t(2 * BM)) * sizeof(float);
};

template <int D>
__global__ void __launch_bounds__(kF32Threads) attention_backward_f32_kernel(const AttentionParams p) {
  using C = F32Backward<D>;
  constexpr int BM = C::BM, BN = C::BN, P = C::P, PP = C::PP, VW = C::VW, CG = C::CG;
  extern __shared__ __align__(16) unsigned char smem_raw[];
  float* k_s = reinterpret_cast<float*>(smem_raw);
  float* v_s = k_s + BN * P;
  float* q_s = v_s + BN * P;
  float* do_s = q_s + BM * P;
  float* pt_s = do_s + BM * P;
  float* dst_s = pt_s + BN * PP;
  float* lse_s = dst_s + BN * PP;
  float* delta_s = lse_s + BM;

  const int tid = threadIdx.x, tx = tid % 16, ty = tid / 16;
  const int64_t n_blocks = ceil_div(p.S, BN);
  const int64_t b = blockIdx.x / n_blocks;
  const int64_t n0 = (blockIdx.x % n_blocks) * BN;
  int64_t off[kSlots];
  batch_offsets(p.batch_map, b, off);
  const float* q = static_cast<const float*>(p.q.data) + off[kSlotQ];
  const float* k = static_cast<const float*>(p.k.data) + off[kSlotK];
  const float* v = static_cast<const float*>(p.v.data) + off[kSlotV];
  const float* dout = static_cast<const float*>(p.grad_out.data) + off[kSlotGradOut];
  const void* mask = p.mask_kind == kNoMask ? nullptr
                     : p.mask_kind == kBoolMask
                         ? static_cast<const void*>(static_cast<const uint8_t*>(p.mask) + off[kSlotMask])
                         : static_cast<const void*>(static_cast<const float*>(p.mask) + off[kSlotMask]);
  float* grad_q = p.grad_q + off[kSlotGradQ];

  const int64_t m_first = p.causal ? n0 / BM : 0;
  const int64_t m_begin = max(m_first, int64_t(blockIdx.y) * p.q_blocks_per_split);
  const int64_t m_end = min(ceil_div(p.L, BM), int64_t(blockIdx.y + 1) * p.q_blocks_per_split);

  load_tile<float, D, BN, kF32Threads, P>(k_s, p.k, k, n0, tid);
  load_tile<float, D, BN, kF32Threads, P>(v_s, p.v, v, n0, tid);

  float dv[2][CG][VW] = {}, dk[2][CG][VW] = {};

  for (int64_t mb = m_begin; mb < m_end; ++mb) {
    const int64_t m0 = mb * BM;
    __syncthreads();
    load_tile<float, D, BM, kF32Threads, P>(q_s, p.q, q, m0, tid);
    load_tile<float, D, BM, kF32Threads, P>(do_s, p.grad_out, dout, m0, tid);
    load_row_stats<false>(lse_s, delta_s, p, b, m0, BM, tid);
    __syncthreads();

    // Phase A.
    {
      float s[2][2] = {}, dp[2][2] = {};
      for (int e = 0; e < D; e += 4) {
        float kv[2][4], vv[2][4], qv[2][4], ov[2][4];
#pragma unroll
        for (int i = 0; i < 2; ++i) {
          load_vec<4>(kv[i], k_s + (2 * ty + i) * P + e);
          load_vec<4>(vv[i], v_s + (2 * ty + i) * P + e);
          load_vec<4>(qv[i], q_s + (tx + 16 * i) * P + e);
          load_vec<4>(ov[i], do_s + (tx + 16 * i) * P + e);
        }
#pragma unroll
        for (int i = 0; i < 2; ++i) {
#pragma unroll
          for (int j = 0; j < 2; ++j) {
#pragma unroll
            for (int x = 0; x < 4; ++x) {
              s[i][j] = fmaf(kv[i][x], qv[j][x], s[i][j]);
              dp[i][j] = fmaf(vv[i][x], ov[j][x], dp[i][j]);
            }
          }
        }
      }
#pragma unroll
      for (int i = 0; i < 2; ++i) {
        const int kr = 2 * ty + i;
#pragma unroll
        for (int j = 0; j < 2; ++j) {
          const int qc = tx + 16 * j;
          const float x = masked_score<false>(p, mask, s[i][j] * p.scale, m0 + qc, n0 + kr);
          const float pv = expf(x - lse_s[qc]);
          pt_s[kr * PP + qc] = pv;
          dst_s[kr * PP + qc] = pv * (dp[i][j] - delta_s[qc]);
        }
      }
    }
    __syncthreads();

    // Phase B.
    for (int qi = 0; qi < BM; ++qi) {
      float pv[2], dsv[2], ov[CG][VW], qv[CG][VW];
#pragma unroll
      for (int i = 0; i < 2; ++i) {
        pv[i] = pt_s[(2 * ty + i) * PP + qi];
        dsv[i] = dst_s[(2 * ty + i) * PP + qi];
      }
#pragma unroll
      for (int c = 0; c < CG; ++c) {
        load_vec<VW>(ov[c], do_s + qi * P + c * 16 * VW + tx * VW);
        load_vec<VW>(qv[c], q_s + qi * P + c * 16 * VW + tx * VW);
      }
#pragma unroll
      for (int i = 0; i < 2; ++i) {
#pragma unroll
        for (int c = 0; c < CG; ++c) {
#pragma unroll
          for (int x = 0; x < VW; ++x) {
            dv[i][c][x] = fmaf(pv[i], ov[c][x], dv[i][c][x]);
            dk[i][c][x] = fmaf(dsv[i], qv[c][x], dk[i][c][x]);
          }
        }
      }
    }

    // Phase C.
    {
      float acc[2][CG][VW] = {};
      for (int kj = 0; kj < BN; ++kj) {
        float dsv[2], kv[CG][VW];
#pragma unroll
        for (int i = 0; i < 2; ++i) dsv[i] = dst_s[kj * PP + 2 * ty + i];
#pragma unroll
        for (int c = 0; c < CG; ++c) load_vec<VW>(kv[c], k_s + kj * P + c * 16 * VW + tx * VW);
#pragma unroll
        for (int i = 0; i < 2; ++i) {
#pragma unroll
          for (int c = 0; c < CG; ++c) {
#pragma unroll
            for (int x = 0; x < VW; ++x) acc[i][c][x] = fmaf(dsv[i], kv[c][x], acc[i][c][x]);
          }
        }
      }
#pragma unroll
      for (int i = 0; i < 2; ++i) {
        const int64_t row = m0 + 2 * ty + i;
        if (row >= p.L) continue;
#pragma unroll
        for (int c = 0; c < CG; ++c) {
#pragma unroll
          for (int x = 0; x < VW; ++x) {
            const int col = c * 16 * VW + tx * VW + x;
            if (col < p.E) atomicAdd(grad_q + row * p.E + col, acc[i][c][x] * p.scale);
          }
        }
      }
    }
  }

  float* grad_k = p.grad_k + off[kSlotGradK];
  float* grad_v = p.grad_v + off[kSlotGradV];
#pragma unroll
  for (int i = 0; i < 2; ++i) {
    const int64_t key = n0 + 2 * ty + i;
    if (key >= p.S) continue;
#pragma unroll
    for (int c = 0; c < CG; ++c) {
#pragma unroll
      for (int x = 0; x < VW; ++x) {
        const int col = c * 16 * VW + tx * VW + x;
        if (col < p.Ev) atomicAdd(grad_v + key * p.Ev + col, dv[i][c][x]);
        if (col < p.E) atomicAdd(grad_k + key * p.E + col, dk[i][c][x] * p.scale);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Host side

// Kernel head dims: the smallest that holds max(E, Ev).
template <class F>
void dispatch_tc_head_dim(int64_t d, F&& f) {
  if (d <= 16) return f(std::integral_constant<int, 16>{});
  if (d <= 32) return f(std::integral_constant<int, 32>{});
  if (d <= 64) return f(std::integral_constant<int, 64>{});
  if (d <= 80) return f(std::integral_constant<int, 80>{});
  if (d <= 128) return f(std::integral_constant<int, 128>{});
  if (d <= 256) return f(std::integral_constant<int, 256>{});
  throw std::invalid_argument("scaled_dot_product_attention: CUDA head dim " + std::to_string(d) + " exceeds 256");
}

template <class F>
void dispatch_f32_head_dim(int64_t d, F&& f) {
  if (d <= 32) return f(std::integral_constant<int, 32>{});
  if (d <= 64) return f(std::integral_constant<int, 64>{});
  if (d <= 128) return f(std::integral_constant<int, 128>{});
  if (d <= 256) return f(std::integral_constant<int, 256>{});
  throw std::invalid_argument("scaled_dot_product_attention: CUDA head dim " + std::to_string(d) + " exceeds 256");
}

int multiprocessor_count(int device) {
  static std::atomic<int> counts[16] = {};
  if (device < 0 || device >= 16) return 132;
  int n = counts[device].load();
  if (n == 0) {
    RVOS_CUDA_CHECK(cudaDeviceGetAttribute(&n, cudaDevAttrMultiProcessorCount, device));
    counts[device].store(n);
  }
  return n;
}

// Raises a kernel's dynamic shared-memory limit, once per kernel and device.
template <auto Kernel>
void allow_smem(size_t bytes, int device) {
  static std::atomic<uint32_t> done{0};
  const uint32_t bit = 1u << (device & 31);
  if (bytes <= 48 * 1024 || (done.load() & bit)) return;
  RVOS_CUDA_CHECK(cudaFuncSetAttribute(Kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(bytes)));
  done.fetch_or(bit);
}

// Blocks of `Kernel` the whole GPU holds at once (its shared-memory limit raised first).
template <auto Kernel>
int64_t resident_blocks(int threads, size_t smem, int device) {
  allow_smem<Kernel>(smem, device);
  int per_sm = 0;
  RVOS_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, Kernel, threads, smem));
  return int64_t(std::max(per_sm, 1)) * multiprocessor_count(device);
}

// How many parts to split a loop of `steps` blocks into when `blocks` blocks alone would fill
// less than one wave of `resident` (so that one wave stays one wave); each part keeps at least 4
// steps.
int64_t split_count(int64_t blocks, int64_t resident, int64_t steps) {
  if (blocks >= resident || steps < 8) return 1;
  return std::clamp<int64_t>(resident / blocks, 1, std::min<int64_t>(steps / 4, 64));
}

Shape with_tail(Shape s, int64_t a, int64_t b) {
  s.push_back(a);
  s.push_back(b);
  return s;
}

Shape batch_of(const Tensor& t) { return Shape(t.shape().begin(), t.shape().end() - 2); }

Shape broadcast_batch(const Shape& a, const Shape& b) {
  const size_t n = std::max(a.size(), b.size());
  Shape r(n, 1);
  for (size_t i = 0; i < n; ++i) {
    const int64_t x = i < n - a.size() ? 1 : a[i - (n - a.size())];
    const int64_t y = i < n - b.size() ? 1 : b[i - (n - b.size())];
    if (x != y && x != 1 && y != 1) {
      throw std::invalid_argument("scaled_dot_product_attention: batch dims " + shape_str(a) + " and " +
                                  shape_str(b) + " do not broadcast");
    }
    r[i] = x == 1 ? y : x;
  }
  return r;
}

// `t` viewed with `shape` (stride 0 where t has size 1 or lacks the dim); no copy.
Tensor broadcast_view_of(const Tensor& t, const Shape& shape) {
  const size_t n = shape.size(), td = static_cast<size_t>(t.dim());
  if (td > n) throw std::invalid_argument("scaled_dot_product_attention: cannot broadcast " + shape_str(t.shape()) +
                                          " to " + shape_str(shape));
  Shape strides(n, 0);
  for (size_t i = 0; i < td; ++i) {
    const size_t o = n - td + i;
    if (t.shape()[i] == shape[o]) {
      strides[o] = t.strides()[i];
    } else if (t.shape()[i] != 1) {
      throw std::invalid_argument("scaled_dot_product_attention: cannot broadcast " + shape_str(t.shape()) + " to " +
                                  shape_str(shape));
    }
  }
  return Tensor::view_of(t, shape, strides, t.offset());
}

Operand make_operand(const Tensor& view) {
  Operand op;
  op.data = view.raw_data();
  op.rows = view.size(-2);
  op.cols = view.size(-1);
  op.row_stride = view.stride(-2);
  op.col_stride = view.stride(-1);
  if (view.element_size() == 2) {
    bool vec = (op.col_stride == 1 || op.cols <= 1) && op.cols % 8 == 0 && op.row_stride % 8 == 0 &&
               reinterpret_cast<uintptr_t>(op.data) % 16 == 0;
    for (int64_t d = 0; d + 2 < view.dim(); ++d) vec = vec && view.stride(d) % 8 == 0;
    op.vec = vec;
  }
  return op;
}

// What forward and backward share: the broadcast batch, operands and mask.
struct Setup {
  Shape batch;
  AttentionParams p;
};

Setup make_setup(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask, bool is_causal, double scale) {
  const char* op = "scaled_dot_product_attention";
  if (!q.is_cuda() || !k.is_cuda() || !v.is_cuda() || q.device() != k.device() || q.device() != v.device()) {
    throw std::invalid_argument(std::string(op) + ": q, k and v must be on one CUDA device");
  }
  if (q.dtype() != k.dtype() || q.dtype() != v.dtype()) {
    throw std::invalid_argument(std::string(op) + ": q, k and v must have one dtype");
  }
  const int64_t L = q.size(-2), S = k.size(-2), E = q.size(-1), Ev = v.size(-1);
  if (!attention_supported(q.dtype(), E, Ev)) {
    throw std::invalid_argument(std::string(op) + ": the CUDA kernel takes float32, float16 and bfloat16 with head "
                                "dims up to 256, got " + dtype_name(q.dtype()) + " with E = " + std::to_string(E) +
                                " and Ev = " + std::to_string(Ev));
  }
  Setup st;
  st.batch = broadcast_batch(broadcast_batch(batch_of(q), batch_of(k)), batch_of(v));
  if (st.batch.size() > size_t(kMaxBatchDims)) {
    throw std::invalid_argument(std::string(op) + ": the CUDA kernel takes at most " + std::to_string(kMaxBatchDims) +
                                " batch dims, got " + std::to_string(st.batch.size()));
  }
  AttentionParams& p = st.p;
  p.L = L, p.S = S, p.E = E, p.Ev = Ev;
  p.batch = shape_numel(st.batch);
  p.causal = is_causal;
  p.scale = static_cast<float>(scale);
  const int nb = static_cast<int>(st.batch.size());
  p.batch_map.ndim = nb;
  for (int d = 0; d < nb; ++d) p.batch_map.sizes[d] = st.batch[size_t(d)];
  auto set_slot = [&](Slot slot, const Tensor& view) {
    for (int d = 0; d < nb; ++d) p.batch_map.strides[slot][d] = view.stride(d);
  };
  const Tensor qv = broadcast_view_of(q, with_tail(st.batch, L, E));
  const Tensor kv = broadcast_view_of(k, with_tail(st.batch, S, E));
  const Tensor vv = broadcast_view_of(v, with_tail(st.batch, S, Ev));
  p.q = make_operand(qv);
  p.k = make_operand(kv);
  p.v = make_operand(vv);
  set_slot(kSlotQ, qv);
  set_slot(kSlotK, kv);
  set_slot(kSlotV, vv);
  if (mask.defined()) {
    if (!mask.is_cuda() || mask.device() != q.device()) {
      throw std::invalid_argument(std::string(op) + ": attn_mask must be on the device of q");
    }
    if (mask.dtype() != DType::Bool && mask.dtype() != DType::F32) {
      throw std::invalid_argument(std::string(op) + ": the CUDA kernel takes a bool or float32 attn_mask");
    }
    const Tensor mv = broadcast_view_of(mask, with_tail(st.batch, L, S));
    p.mask = mv.raw_data();
    p.mask_kind = mask.dtype() == DType::Bool ? kBoolMask : kFloatMask;
    p.mask_row_stride = mv.stride(-2);
    p.mask_col_stride = mv.stride(-1);
    set_slot(kSlotMask, mv);
  }
  return st;
}

}  // namespace

bool attention_supported(DType dtype, int64_t E, int64_t Ev) {
  const bool type_ok = dtype == DType::F32 || dtype == DType::F16 || dtype == DType::BF16;
  return type_ok && E <= kAttentionMaxHeadDim && Ev <= kAttentionMaxHeadDim;
}

AttentionForward attention_forward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask,
                                   bool is_causal, double scale) {
  Setup st = make_setup(q, k, v, mask, is_causal, scale);
  AttentionParams& p = st.p;
  const Device device = q.device();
  AttentionForward r;
  r.out = Tensor::empty(with_tail(st.batch, p.L, p.Ev), q.dtype(), device);
  Shape lse_shape = st.batch;
  lse_shape.push_back(p.L);
  r.lse = Tensor::empty(lse_shape, DType::F32, device);
  if (p.batch == 0 || p.L == 0) return r;
  const int dev = set_device_of(q);
  const auto stream = static_cast<cudaStream_t>(current_stream());
  p.out = r.out.raw_data();
  p.lse = r.lse.data<float>();
  p.out_vec = p.Ev % 8 == 0;

  const bool f32 = q.dtype() == DType::F32;
  const int64_t d_needed = std::max<int64_t>(p.E, p.Ev);
  Tensor out_partial, lse_partial;
  // Sizes the key split from the kernel's occupancy, then launches it and (with a split) the merge.
  auto launch = [&](auto kernel_tag, int threads, size_t smem, int64_t block_m, int64_t block_n) {
    constexpr auto kernel = decltype(kernel_tag)::value;
    const int64_t blocks = ceil_div(p.L, block_m) * p.batch;
    if (blocks > int64_t(std::numeric_limits<int32_t>::max())) {
      throw std::invalid_argument("scaled_dot_product_attention: too many query blocks for one CUDA launch");
    }
    const int64_t n_blocks = std::max<int64_t>(ceil_div(p.S, block_n), 1);
    int64_t splits = split_count(blocks, resident_blocks<kernel>(threads, smem, dev), n_blocks);
    p.kv_blocks_per_split = ceil_div(n_blocks, splits);
    splits = ceil_div(n_blocks, p.kv_blocks_per_split);
    p.num_splits = static_cast<int32_t>(splits);
    if (splits > 1) {
      out_partial = Tensor::empty({splits, p.batch, p.L, p.Ev}, DType::F32, device);
      lse_partial = Tensor::empty({splits, p.batch, p.L}, DType::F32, device);
      p.out_partial = out_partial.data<float>();
      p.lse_partial = lse_partial.data<float>();
    }
    kernel<<<dim3(static_cast<unsigned>(blocks), static_cast<unsigned>(splits)), threads, smem, stream>>>(p);
    RVOS_CUDA_CHECK_LAUNCH("attention_forward kernel");
  };
  if (f32) {
    dispatch_f32_head_dim(d_needed, [&](auto dc) {
      constexpr int D = decltype(dc)::value;
      launch(std::integral_constant<decltype(&attention_forward_f32_kernel<D>), &attention_forward_f32_kernel<D>>{},
             kF32Threads, F32Forward<D>::smem_bytes, F32Forward<D>::BM, F32Forward<D>::BN);
    });
  } else {
    dispatch_device_floating(q.dtype(), "scaled_dot_product_attention", [&](auto tag) {
      using T = typename decltype(tag)::type;
      if constexpr (std::is_same_v<T, __half> || std::is_same_v<T, __nv_bfloat16>) {
        dispatch_tc_head_dim(d_needed, [&](auto dc) {
          constexpr int D = decltype(dc)::value;
          launch(std::integral_constant<decltype(&attention_forward_tc_kernel<T, D>),
                                        &attention_forward_tc_kernel<T, D>>{},
                 kTcForwardThreads, tc_forward_smem_bytes<D>(), kTcForwardBlockM, kTcForwardBlockN);
        });
      }
    });
  }
  if (p.num_splits > 1) {
    const int64_t rows = p.batch * p.L;
    const unsigned combine_blocks = static_cast<unsigned>(ceil_div(rows, 8));
    dispatch_device_floating(q.dtype(), "scaled_dot_product_attention", [&](auto tag) {
      using T = typename decltype(tag)::type;
      if constexpr (!std::is_same_v<T, double>) {
        attention_combine_kernel<T><<<combine_blocks, 256, 0, stream>>>(p);
        RVOS_CUDA_CHECK_LAUNCH("attention_combine_kernel");
      }
    });
  }
  return r;
}

AttentionGrads attention_backward(const Tensor& grad_out, const Tensor& q, const Tensor& k, const Tensor& v,
                                  const Tensor& mask, bool is_causal, double scale, const Tensor& out,
                                  const Tensor& lse) {
  Setup st = make_setup(q, k, v, mask, is_causal, scale);
  AttentionParams& p = st.p;
  const Device device = q.device();
  const Shape out_shape = with_tail(st.batch, p.L, p.Ev);
  if (grad_out.shape() != out_shape || out.shape() != out_shape || !out.is_contiguous() ||
      out.dtype() != q.dtype() || grad_out.dtype() != q.dtype() || lse.dtype() != DType::F32 ||
      !lse.is_contiguous() || lse.numel() != p.batch * p.L || grad_out.device() != device) {
    throw std::invalid_argument("scaled_dot_product_attention backward: the output gradient, output or lse do not "
                                "match the inputs");
  }
  const bool f32 = q.dtype() == DType::F32;
  // Float32 accumulators with the inputs' shapes (the gradients themselves for float32).
  Tensor gq = Tensor::empty(q.shape(), DType::F32, device);
  Tensor gk = Tensor::empty(k.shape(), DType::F32, device);
  Tensor gv = Tensor::empty(v.shape(), DType::F32, device);
  const int dev = set_device_of(q);
  const auto stream = static_cast<cudaStream_t>(current_stream());
  for (const Tensor* t : {&gq, &gk, &gv}) {
    if (t->numel() > 0) RVOS_CUDA_CHECK(cudaMemsetAsync(t->raw_data(), 0, size_t(t->numel()) * 4, stream));
  }
  auto finish = [&]() {
    if (f32) return AttentionGrads{gq, gk, gv};
    AttentionGrads g{Tensor::empty(q.shape(), q.dtype(), device), Tensor::empty(k.shape(), k.dtype(), device),
                     Tensor::empty(v.shape(), v.dtype(), device)};
    if (g.q.numel() > 0) copy_strided(g.q, gq);
    if (g.k.numel() > 0) copy_strided(g.k, gk);
    if (g.v.numel() > 0) copy_strided(g.v, gv);
    return g;
  };
  if (p.batch == 0 || p.L == 0 || p.S == 0) return finish();

  const int nb = static_cast<int>(st.batch.size());
  const Tensor gov = broadcast_view_of(grad_out, out_shape);
  p.grad_out = make_operand(gov);
  const Tensor gqv = broadcast_view_of(gq, with_tail(st.batch, p.L, p.E));
  const Tensor gkv = broadcast_view_of(gk, with_tail(st.batch, p.S, p.E));
  const Tensor gvv = broadcast_view_of(gv, with_tail(st.batch, p.S, p.Ev));
  for (int d = 0; d < nb; ++d) {
    p.batch_map.strides[kSlotGradOut][d] = gov.stride(d);
    p.batch_map.strides[kSlotGradQ][d] = gqv.stride(d);
    p.batch_map.strides[kSlotGradK][d] = gkv.stride(d);
    p.batch_map.strides[kSlotGradV][d] = gvv.stride(d);
  }
  p.grad_q = gq.data<float>();
  p.grad_k = gk.data<float>();
  p.grad_v = gv.data<float>();
  p.out_saved = out.raw_data();
  p.lse = const_cast<float*>(lse.data<float>());
  Tensor delta = Tensor::empty({p.batch, p.L}, DType::F32, device);
  p.delta = delta.data<float>();

  const int64_t rows = p.batch * p.L;
  dispatch_device_floating(q.dtype(), "scaled_dot_product_attention", [&](auto tag) {
    using T = typename decltype(tag)::type;
    if constexpr (!std::is_same_v<T, double>) {
      attention_delta_kernel<T><<<static_cast<unsigned>(ceil_div(rows, 8)), 256, 0, stream>>>(p);
      RVOS_CUDA_CHECK_LAUNCH("attention_delta_kernel");
    }
  });

  const int64_t d_needed = std::max<int64_t>(p.E, p.Ev);
  // Sizes the query split from the kernel's occupancy (each split's dK, dV are added to the
  // others' atomically), then launches.
  auto launch = [&](auto kernel_tag, int threads, size_t smem, int64_t block_m, int64_t block_n) {
    constexpr auto kernel = decltype(kernel_tag)::value;
    const int64_t blocks = ceil_div(p.S, block_n) * p.batch;
    if (blocks > int64_t(std::numeric_limits<int32_t>::max())) {
      throw std::invalid_argument("scaled_dot_product_attention: too many key blocks for one CUDA launch");
    }
    const int64_t m_blocks = ceil_div(p.L, block_m);
    int64_t splits = split_count(blocks, resident_blocks<kernel>(threads, smem, dev), m_blocks);
    p.q_blocks_per_split = ceil_div(m_blocks, splits);
    splits = ceil_div(m_blocks, p.q_blocks_per_split);
    kernel<<<dim3(static_cast<unsigned>(blocks), static_cast<unsigned>(splits)), threads, smem, stream>>>(p);
    RVOS_CUDA_CHECK_LAUNCH("attention_backward kernel");
  };
  if (f32) {
    dispatch_f32_head_dim(d_needed, [&](auto dc) {
      constexpr int D = decltype(dc)::value;
      launch(std::integral_constant<decltype(&attention_backward_f32_kernel<D>), &attention_backward_f32_kernel<D>>{},
             kF32Threads, F32Backward<D>::smem_bytes, F32Backward<D>::BM, F32Backward<D>::BN);
    });
  } else {
    dispatch_device_floating(q.dtype(), "scaled_dot_product_attention", [&](auto tag) {
      using T = typename decltype(tag)::type;
      if constexpr (std::is_same_v<T, __half> || std::is_same_v<T, __nv_bfloat16>) {
        dispatch_tc_head_dim(d_needed, [&](auto dc) {
          constexpr int D = decltype(dc)::value;
          launch(std::integral_constant<decltype(&attention_backward_tc_kernel<T, D>),
                                        &attention_backward_tc_kernel<T, D>>{},
                 TcBackward<D>::kThreads, TcBackward<D>::smem_bytes, kTcBackwardBlockM, kTcBackwardBlockN);
        });
      }
    });
  }
  return finish();
}

}  // namespace rvos::cuda
