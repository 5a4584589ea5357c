#pragma once
// Reductions and scans on the device.
//
// The ops layer (ops/reduce.cpp) decides dtypes and shapes; these entry points get a view of the
// input whose dims are in block order: the kept dims first, then the reduced ones (a permuted view,
// any strides, no copy), and a contiguous output holding one value per combination of kept dims.
#include <cstdint>

#include "tensor/tensor.h"

namespace rvos::cuda {

enum class ReduceKind {
  Sum,        // float inputs: out dtype = input dtype; integer and bool inputs: out int64
  Mean,       // floating only
  Prod,       // as Sum
  Var,        // floating; Welford in float64; divisor max(0, n - correction)
  Std,
  Amax,       // any dtype, out dtype = input dtype; NaN propagates
  Amin,
  NormZero,   // floating, p = 0: count of nonzeros
  NormOne,
  NormTwo,
  NormInf,
  NormNegInf,
  NormP,      // general p (ReduceParams::p)
  LogSumExp,  // floating
  All,        // any dtype; out bool or uint8
  Any,
};

struct ReduceParams {
  double p = 2.0;          // NormP
  int64_t correction = 1;  // Var, Std
};

// out[o] = reduction over the trailing `reduced_ndim` dims of `in` (o runs over the leading dims in
// row-major order). Floating values accumulate in float64 (half types load as float), integers in
// int64 (products wrap around). An empty reduction gives the identity (sum 0, prod 1, all true,
// any false), NaN for mean/var/std and -inf for logsumexp; the ops refuse it for max/min-like kinds.
void reduce(const Tensor& out, const Tensor& in, int64_t reduced_ndim, ReduceKind kind,
            const ReduceParams& params = {});

// The max (or min) along the last dim of `in` (kept dims first, n >= 1): int64 indices and, when
// `values` is defined, the values. Ties pick the first index; a NaN wins, the first one.
void arg_reduce(const Tensor& values, const Tensor& indices, const Tensor& in, bool is_max);

// Cumulative sum of a contiguous `in` seen as [outer, n, inner] along n (from the end when
// `reverse`) into a contiguous `out` (input dtype for floating inputs, int64 for the others).
// Accumulates in float for half types, float64 for float32/64, int64 for integers.
void cumsum(const Tensor& out, const Tensor& in, int64_t outer, int64_t n, int64_t inner, bool reverse);

// Gradient of max/min along a dim: `out` (contiguous [outer, n, inner], zero) gets g[o, i] at
// [o, index[o, i], i]; g and index contiguous [outer, inner].
void scatter_along_dim(const Tensor& out, const Tensor& g, const Tensor& index, int64_t outer, int64_t n,
                       int64_t inner);

// prod's gradient, row by row of a contiguous [outer, inner] block x, with g and y of [outer]:
// g * (y / x) when `quotient` (no zero in the input), else g * (product before) * (product after),
// rounded as the CPU kernel rounds them.
void prod_backward(const Tensor& out, const Tensor& x, const Tensor& g, const Tensor& y, bool quotient);

}  // namespace rvos::cuda
