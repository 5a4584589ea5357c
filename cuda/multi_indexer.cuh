#pragma once
// Element offsets of N strided operands of one shape, from a linear index in row-major order. Like
// StridedIndexer (common.cuh), but the coordinates are computed once for all operands, in 32-bit
// arithmetic when the shape allows it (64-bit division is several times slower on the GPU), over
// dimensions collapsed first: size-1 dimensions dropped, and neighbours merged where every operand
// steps through them as through one.
#include <array>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>

#include "cuda/common.cuh"

namespace rvos::cuda {

template <int N>
struct MultiIndexer {
  int32_t ndim = 0;      // collapsed dimensions, innermost first
  bool index32 = false;  // every linear index fits in 32 bits
  int64_t sizes[kMaxDims];
  int64_t strides[kMaxDims][N];  // in elements

  struct Offsets {
    int64_t v[N];
  };

  __device__ __forceinline__ Offsets offsets(int64_t linear) const {
    Offsets o;
#pragma unroll
    for (int k = 0; k < N; ++k) o.v[k] = 0;
    if (index32) {
      uint32_t r = static_cast<uint32_t>(linear);
#pragma unroll
      for (int d = 0; d < kMaxDims; ++d) {
        if (d == ndim) break;
        const uint32_t size = static_cast<uint32_t>(sizes[d]);
        const uint32_t q = r / size;
        const int64_t i = static_cast<int64_t>(r - q * size);
        r = q;
#pragma unroll
        for (int k = 0; k < N; ++k) o.v[k] += i * strides[d][k];
      }
    } else {
      int64_t r = linear;
#pragma unroll
      for (int d = 0; d < kMaxDims; ++d) {
        if (d == ndim) break;
        const int64_t q = r / sizes[d];
        const int64_t i = r - q * sizes[d];
        r = q;
#pragma unroll
        for (int k = 0; k < N; ++k) o.v[k] += i * strides[d][k];
      }
    }
    return o;
  }
};

// The indexer of N operands with strides strides[k] (in elements) over `shape`; throws when more
// than kMaxDims dimensions remain after collapsing.
template <int N>
MultiIndexer<N> make_multi_indexer(const Shape& shape, const std::array<const Shape*, N>& strides) {
  MultiIndexer<N> ix;
  // Innermost first.
  for (size_t i = shape.size(); i-- > 0;) {
    if (shape[i] == 1) continue;
    if (ix.ndim > 0) {
      // Merge into the previous (inner) kept dimension when every operand steps through both as one.
      const int d = ix.ndim - 1;
      bool mergeable = true;
      for (int k = 0; k < N; ++k) {
        if ((*strides[k])[i] != ix.strides[d][k] * ix.sizes[d]) mergeable = false;
      }
      if (mergeable) {
        ix.sizes[d] *= shape[i];
        continue;
      }
    }
    if (ix.ndim == kMaxDims) {
      throw std::invalid_argument("CUDA elementwise kernels address at most " + std::to_string(kMaxDims) +
                                  " dimensions after collapsing, got shape " + shape_str(shape));
    }
    ix.sizes[ix.ndim] = shape[i];
    for (int k = 0; k < N; ++k) ix.strides[ix.ndim][k] = (*strides[k])[i];
    ++ix.ndim;
  }
  ix.index32 = shape_numel(shape) <= std::numeric_limits<int32_t>::max();
  return ix;
}

}  // namespace rvos::cuda
