#pragma once
// Kernels of the shape ops that move data by index (ops/shape_join.cpp): the separable gathers
// (pad, flip, index_select) and their adjoint, gather along a dim and its scatter-add, and the
// index bounds check. cat, stack, repeat and flip itself are strided copies (cuda/copy.h).
//
// As everywhere in cuda/: the ops layer checks arguments and allocates; tensors arrive on one CUDA
// device, outputs contiguous, inputs any strides. Sums are deterministic: each output element is
// accumulated by one thread in a fixed order, the order of the CPU reference.
#include <cstdint>
#include <vector>

#include "tensor/tensor.h"

namespace rvos::cuda {

// Per dimension, the input coordinate that each output coordinate reads, or -1 for the fill value.
using DimMaps = std::vector<std::vector<int64_t>>;

// out[o_0, ..., o_n] = in[maps[0][o_0], ..., maps[n][o_n]], or the fill value where any of these
// is negative. out: contiguous, sizes the map lengths, in's dtype; in: one dimension per map.
// fill_bits: the fill value's bytes in out's dtype (low bytes of the word).
void gather_maps(const Tensor& out, const Tensor& in, const DimMaps& maps, uint64_t fill_bits);

// The adjoint of gather_maps: gin (contiguous, floating, the input's shape) [i] = the sum of g over
// the output positions reading i, added from zero in the compute type in row-major order of those
// positions. g: the maps' shape, gin's dtype, any strides.
void scatter_add_maps(const Tensor& gin, const Tensor& g, const DimMaps& maps);

// out[p] = in[p with its coordinate along dim replaced by index[p]]. out: contiguous, index's shape;
// in: a view with index's shape and stride 0 along dim, whose real stride along dim is dim_stride;
// index: int32 or int64, values already checked.
void gather(const Tensor& out, const Tensor& in, const Tensor& index, int64_t dim_stride);

// gin[p with its coordinate along dim replaced by index[p]] += g[p] for every p of index's shape.
// gin: contiguous, floating, zero on entry, at least index's sizes outside dim; g: index's shape,
// gin's dtype. Each line along dim is added by one thread in increasing position.
void scatter_add(const Tensor& gin, const Tensor& g, const Tensor& index, int64_t dim);

// Whether an int32/int64 index on a CUDA device holds a value outside [0, size). Waits for the
// device (the answer is needed on the host).
bool any_out_of_bounds(const Tensor& index, int64_t size);

}  // namespace rvos::cuda
