#pragma once
// Resampling (F.interpolate) on the device. The source indices and weights of each axis are
// computed on the host exactly as the CPU computes them (ops/resize.cpp), copied to the device
// with the call, and applied here in the CPU kernels' order of operations, so that the results
// equal the CPU's.
#include <cstdint>

#include "tensor/tensor.h"

namespace rvos::cuda {

// For each of the `out` output indices along one axis, the input indices it reads and their
// weights, in compressed rows: output o reads index[k] with weight[k] for k in [start[o], start[o+1]).
// Host memory, valid for the duration of the call.
struct TapsView {
  int64_t out = 0;
  const int64_t* start = nullptr;  // out + 1 entries
  const int64_t* index = nullptr;
  const double* weight = nullptr;
};

// Element (h, w) of plane p of the source is at (p / C) * sn + (p % C) * sc + h * sh + w * sw
// (planes are the N * C planes of an [N, C, H, W] or [N, C, W] tensor).
struct PlaneLayout {
  int64_t C = 1, sn = 0, sc = 0, sh = 0, sw = 1;
};

// dst (contiguous [P, OH, OW]) = the column taps `tw` applied along W, then the row taps `th` along
// H, to the P planes [H, W] of src (either may be null: that axis is kept). Each sum starts from its
// first product and accumulates in float32 (float64 for float64 data, or for every dtype when
// `double_accumulation`: the backward); a two-pass result keeps its intermediate in that type.
void resize_separable(const Tensor& dst, const Tensor& src, const PlaneLayout& layout, int64_t P, int64_t H,
                      int64_t W, const TapsView* tw, const TapsView* th, bool double_accumulation);

// dst[p][oh][ow] = src[p][th.index[oh]][tw.index[ow]] (one tap per output), any dtype.
void resize_nearest(const Tensor& dst, const Tensor& src, const PlaneLayout& layout, int64_t P, const TapsView& th,
                    const TapsView& tw);

// Bilinear with two taps per axis as four products with the weights h * w, summed left to right
// (the CPU's channels-last evaluation).
void resize_bilinear_direct(const Tensor& dst, const Tensor& src, const PlaneLayout& layout, int64_t P,
                            const TapsView& th, const TapsView& tw);

}  // namespace rvos::cuda
