// Reductions and scans on the device against the CPU: every reduction over first, middle, last and
// several dims with and without keepdim, contiguous and non-contiguous inputs, every float dtype,
// odd sizes (37x13x5, rows of 1 and 4099, 1000003 elements), split reductions, NaN/inf rules,
// integer and bool inputs, and the gradients through the autograd closures.
#include <cmath>
#include <limits>

#include "cuda_testing.h"

using namespace rvos;
using namespace rvos::testing;

namespace {

const DType kFloats[] = {DType::F32, DType::F64, DType::F16, DType::BF16};
const double kInf = std::numeric_limits<double>::infinity();
const double kNaN = std::numeric_limits<double>::quiet_NaN();

// float64 tight; float32 ~1e-6 relative (both accumulate in float64); half types ~1e-2.
DeviceCheck tolerance(DType dt, bool backward = true, bool non_contiguous = false) {
  switch (dt) {
    case DType::F64: return {1e-10, 1e-10, backward, non_contiguous};
    case DType::F32: return {1e-6, 1e-6, backward, non_contiguous};
    default: return {1e-2, 1e-2, backward, non_contiguous};
  }
}

std::string dims_str(const Dims& d) {
  std::string s = "{";
  for (size_t i = 0; i < d.size(); ++i) s += (i ? "," : "") + std::to_string(d[i]);
  return s + "}";
}

// Dim sets of a 3-D input: all, first, middle, last, several (adjacent and not), negative.
const Dims kDimSets[] = {{}, {0}, {1}, {2}, {0, 2}, {1, 2}, {0, 1}, {-1}, {0, 1, 2}};

}  // namespace

TEST_CASE("sum and mean over every dim set, keepdim, contiguous and not, every float dtype") {
  if (!gpu_present()) return;
  for (DType dt : kFloats) {
    const Tensor x = random({37, 13, 5}, dt, 1);
    for (const Dims& dims : kDimSets) {
      for (bool keepdim : {false, true}) {
        for (bool nc : {false, true}) {
          const std::string tag = std::string(dtype_name(dt)) + " dims " + dims_str(dims) +
                                  (keepdim ? " keepdim" : "") + (nc ? " non-contiguous" : "");
          check_cuda_matches_cpu("sum " + tag, [&](const TensorList& in) { return sum(in[0], dims, keepdim); }, {x},
                                 tolerance(dt, true, nc));
          check_cuda_matches_cpu("mean " + tag, [&](const TensorList& in) { return mean(in[0], dims, keepdim); }, {x},
                                 tolerance(dt, true, nc));
        }
      }
    }
  }
}

TEST_CASE("reductions of permuted and sliced views read the strides as they are") {
  if (!gpu_present()) return;
  const Tensor x = random({6, 37, 13, 5}, DType::F32, 2);
  const DeviceCheck t = tolerance(DType::F32);
  check_cuda_matches_cpu("sum of a permuted view over dims {1, 3}",
                         [](const TensorList& in) { return sum(permute(in[0], {2, 0, 3, 1}), {1, 3}); }, {x}, t);
  check_cuda_matches_cpu("amax of a strided slice over dim 1",
                         [](const TensorList& in) { return amax(slice(in[0], 1, 1, 37, 3), {1}, true); }, {x}, t);
  check_cuda_matches_cpu("var of a narrowed view over dims {0, 2}",
                         [](const TensorList& in) { return var(narrow(in[0], 2, 2, 9), {0, 2}); }, {x}, t);
  check_cuda_matches_cpu("mean over the channels of NCHW (LayerNorm2d's reduction)",
                         [](const TensorList& in) { return mean(in[0], {1}, true); },
                         {random({2, 64, 32, 32}, DType::F32, 3)}, t);
  check_cuda_matches_cpu("sum over an expanded (stride 0) dim",
                         [](const TensorList& in) { return sum(expand(in[0], {7, 37, 13}), {0}); },
                         {random({37, 13}, DType::F32, 4)}, t);
}

TEST_CASE("large and odd-sized reductions: 1000003 elements, rows of 1 and of 4099, few long columns") {
  if (!gpu_present()) return;
  for (DType dt : {DType::F32, DType::F64}) {
    const DeviceCheck t = tolerance(dt);
    const Tensor big = random({1000003}, dt, 5);
    check_cuda_matches_cpu("sum of 1000003", [](const TensorList& in) { return sum(in[0]); }, {big}, t);
    check_cuda_matches_cpu("mean of 1000003", [](const TensorList& in) { return mean(in[0]); }, {big}, t);
    check_cuda_matches_cpu("var of 1000003", [](const TensorList& in) { return var(in[0]); }, {big}, t);
    check_cuda_matches_cpu("norm of 1000003", [](const TensorList& in) { return norm(in[0]); }, {big}, t);
    check_cuda_matches_cpu("amax of 1000003", [](const TensorList& in) { return amax(in[0]); }, {big}, t);
    check_cuda_matches_cpu("logsumexp of 1000003", [](const TensorList& in) { return logsumexp(in[0], {0}); }, {big},
                           t);
    check_cuda_matches_cpu("argmax of 1000003", [](const TensorList& in) { return argmax(in[0], 0); }, {big}, t);
    // Few outputs with a long reduced dim in column mode: split over blocks, then combined.
    const Tensor tall = random({100003, 3}, dt, 6);
    check_cuda_matches_cpu("sum over dim 0 of [100003, 3]", [](const TensorList& in) { return sum(in[0], {0}); },
                           {tall}, t);
    check_cuda_matches_cpu("std over dim 0 of [100003, 3]", [](const TensorList& in) { return stddev(in[0], {0}); },
                           {tall}, t);
    check_cuda_matches_cpu("argmin over dim 0 of [100003, 3]", [](const TensorList& in) { return argmin(in[0], 0); },
                           {tall}, t);
    // Rows of 4099 and rows of 1.
    const Tensor rows = random({7, 4099}, dt, 7);
    check_cuda_matches_cpu("sum of rows of 4099", [](const TensorList& in) { return sum(in[0], {1}); }, {rows}, t);
    check_cuda_matches_cpu("var of columns of 7", [](const TensorList& in) { return var(in[0], {0}); }, {rows}, t);
    const Tensor ones_rows = random({4099, 1}, dt, 8);
    check_cuda_matches_cpu("sum of rows of 1", [](const TensorList& in) { return sum(in[0], {1}); }, {ones_rows}, t);
    check_cuda_matches_cpu("amax of rows of 1", [](const TensorList& in) { return amax(in[0], {1}, true); },
                           {ones_rows}, t);
    check_cuda_matches_cpu("logsumexp of rows of 1", [](const TensorList& in) { return logsumexp(in[0], {1}); },
                           {ones_rows}, t);
  }
}

TEST_CASE("var and stddev: dims, keepdim, corrections 0, 1, 2, and corrections at or above the count") {
  if (!gpu_present()) return;
  for (DType dt : kFloats) {
    // An offset mean: a one-pass formula would lose digits here.
    const Tensor x = add(random({37, 13, 5}, dt, 9), 100.0);
    for (const Dims& dims : kDimSets) {
      for (int64_t correction : {0, 1, 2}) {
        for (bool keepdim : {false, true}) {
          const std::string tag = std::string(dtype_name(dt)) + " dims " + dims_str(dims) + " correction " +
                                  std::to_string(correction) + (keepdim ? " keepdim" : "");
          check_cuda_matches_cpu(
              "var " + tag, [&](const TensorList& in) { return var(in[0], dims, correction, keepdim); }, {x},
              tolerance(dt, true, correction == 1));
          check_cuda_matches_cpu(
              "stddev " + tag, [&](const TensorList& in) { return stddev(in[0], dims, correction, keepdim); }, {x},
              tolerance(dt));
        }
      }
    }
    // n - correction <= 0: inf or NaN as on the CPU.
    check_cuda_matches_cpu(std::string("var of one element per row, ") + dtype_name(dt),
                           [](const TensorList& in) { return var(in[0], {1}); }, {random({5, 1}, dt, 10)},
                           tolerance(dt, false));
    check_cuda_matches_cpu(std::string("var with correction 5 of rows of 3, ") + dtype_name(dt),
                           [](const TensorList& in) { return var(in[0], {1}, 5); }, {random({4, 3}, dt, 11)},
                           tolerance(dt, false));
  }
}

TEST_CASE("amax, amin, max, min, argmax, argmin: dims, ties pick the first index, NaN wins") {
  if (!gpu_present()) return;
  for (DType dt : kFloats) {
    const Tensor x = random({37, 13, 5}, dt, 12);
    for (const Dims& dims : kDimSets) {
      for (bool keepdim : {false, true}) {
        const std::string tag = std::string(dtype_name(dt)) + " dims " + dims_str(dims) + (keepdim ? " keepdim" : "");
        check_cuda_matches_cpu("amax " + tag, [&](const TensorList& in) { return amax(in[0], dims, keepdim); }, {x},
                               tolerance(dt, true, true));
        check_cuda_matches_cpu("amin " + tag, [&](const TensorList& in) { return amin(in[0], dims, keepdim); }, {x},
                               tolerance(dt));
      }
    }
    // Small integers: many ties, also between the elements a gradient is shared among.
    const Tensor ties = round(random({37, 13, 5}, dt, 13, 2.0));
    for (int64_t dim : {0, 1, 2, -1}) {
      for (bool keepdim : {false, true}) {
        const std::string tag = std::string(dtype_name(dt)) + " dim " + std::to_string(dim) + (keepdim ? " keepdim" : "");
        check_cuda_matches_cpu("max values " + tag, [&](const TensorList& in) { return max(in[0], dim, keepdim).first; },
                               {ties}, tolerance(dt));
        check_cuda_matches_cpu("max indices " + tag,
                               [&](const TensorList& in) { return max(in[0], dim, keepdim).second; }, {ties},
                               tolerance(dt, false));
        check_cuda_matches_cpu("min values " + tag, [&](const TensorList& in) { return min(in[0], dim, keepdim).first; },
                               {ties}, tolerance(dt, true, true));
        check_cuda_matches_cpu("argmax " + tag, [&](const TensorList& in) { return argmax(in[0], dim, keepdim); },
                               {ties}, tolerance(dt, false, true));
        check_cuda_matches_cpu("argmin " + tag, [&](const TensorList& in) { return argmin(in[0], dim, keepdim); },
                               {ties}, tolerance(dt, false));
      }
      check_cuda_matches_cpu("amax with ties shares the gradient " + std::string(dtype_name(dt)),
                             [&](const TensorList& in) { return amax(in[0], {dim}); }, {ties}, tolerance(dt));
    }
  }
  // NaN: the first one wins for the indices, and propagates to the values.
  std::vector<float> nan_values = to_vector<float>(random({9, 11}, DType::F32, 14));
  nan_values[2 * 11 + 3] = NAN;
  nan_values[2 * 11 + 7] = NAN;
  nan_values[5 * 11 + 0] = NAN;
  nan_values[8 * 11 + 10] = NAN;
  const Tensor x = from_vector(nan_values, {9, 11});
  for (int64_t dim : {0, 1}) {
    check_cuda_matches_cpu("argmax with NaN, dim " + std::to_string(dim),
                           [&](const TensorList& in) { return argmax(in[0], dim); }, {x}, {0, 0, false});
    check_cuda_matches_cpu("argmin with NaN, dim " + std::to_string(dim),
                           [&](const TensorList& in) { return argmin(in[0], dim); }, {x}, {0, 0, false});
    check_cuda_matches_cpu("amax with NaN, dim " + std::to_string(dim),
                           [&](const TensorList& in) { return amax(in[0], {dim}); }, {x}, {0, 0, false});
    check_cuda_matches_cpu("amin with NaN, dim " + std::to_string(dim),
                           [&](const TensorList& in) { return amin(in[0], {dim}); }, {x}, {0, 0, false});
  }
  // A 0-d input.
  check_cuda_matches_cpu("max of a 0-d tensor", [](const TensorList& in) { return max(in[0], 0).first; },
                         {scalar_tensor(2.5, DType::F32)}, tolerance(DType::F32));
  check_cuda_matches_cpu("argmax of a 0-d tensor", [](const TensorList& in) { return argmax(in[0], -1); },
                         {scalar_tensor(2.5, DType::F32)}, tolerance(DType::F32, false));
}

TEST_CASE("amax, amin, argmax and sums of integer and bool inputs") {
  if (!gpu_present()) return;
  const Tensor values = random({37, 13, 5}, DType::F64, 15, 20.0);
  for (DType dt : {DType::U8, DType::I32, DType::I64, DType::Bool}) {
    const Tensor x = to(dt == DType::U8 ? abs(values) : values, dt);
    const std::string name = dtype_name(dt);
    for (const Dims& dims : kDimSets) {
      const std::string tag = name + " dims " + dims_str(dims);
      check_cuda_matches_cpu("sum " + tag, [&](const TensorList& in) { return sum(in[0], dims); }, {x}, {0, 0, false});
      check_cuda_matches_cpu("amax " + tag, [&](const TensorList& in) { return amax(in[0], dims, true); }, {x},
                             {0, 0, false});
      check_cuda_matches_cpu("amin " + tag, [&](const TensorList& in) { return amin(in[0], dims); }, {x},
                             {0, 0, false});
      check_cuda_matches_cpu("prod " + tag, [&](const TensorList& in) { return prod(in[0], dims); }, {x},
                             {0, 0, false});
    }
    check_cuda_matches_cpu("argmax " + name, [&](const TensorList& in) { return argmax(in[0], 1); }, {x},
                           {0, 0, false});
    check_cuda_matches_cpu("cumsum " + name, [&](const TensorList& in) { return cumsum(in[0], 1); }, {x},
                           {0, 0, false});
    check_cuda_matches_cpu("sum to int32 " + name,
                           [&](const TensorList& in) { return sum(in[0], {0}, false, DType::I32); }, {x},
                           {0, 0, false});
    check_cuda_matches_cpu("sum to float32 " + name,
                           [&](const TensorList& in) { return sum(in[0], {2}, false, DType::F32); }, {x},
                           {1e-6, 1e-6, false});
    check_cuda_matches_cpu("logsumexp of " + name + " (promoted to float32)",
                           [&](const TensorList& in) { return logsumexp(in[0], {1}); }, {x}, {1e-6, 1e-6, false});
  }
  // Floating input, integer result dtype: summed in float64, then truncated.
  check_cuda_matches_cpu("sum of float32 to int64", [](const TensorList& in) { return sum(in[0], {1}, false, DType::I64); },
                         {random({37, 13}, DType::F32, 16, 30.0)}, {0, 0, false});
  check_cuda_matches_cpu("sum of float32 in float64",
                         [](const TensorList& in) { return sum(in[0], {0, 1}, true, DType::F64); },
                         {random({37, 13}, DType::F32, 17)}, tolerance(DType::F64));
}

TEST_CASE("all and any over dims for every dtype") {
  if (!gpu_present()) return;
  // About a third zeros.
  const Tensor values = round(random({37, 13, 5}, DType::F64, 18, 0.7));
  for (DType dt : {DType::Bool, DType::U8, DType::I32, DType::I64, DType::F16, DType::BF16, DType::F32, DType::F64}) {
    const Tensor x = to(abs(values), dt);
    for (const Dims& dims : kDimSets) {
      for (bool keepdim : {false, true}) {
        const std::string tag = std::string(dtype_name(dt)) + " dims " + dims_str(dims) + (keepdim ? " keepdim" : "");
        check_cuda_matches_cpu("all " + tag, [&](const TensorList& in) { return all(in[0], dims, keepdim); }, {x},
                               {0, 0, false, true});
        check_cuda_matches_cpu("any " + tag, [&](const TensorList& in) { return any(in[0], dims, keepdim); }, {x},
                               {0, 0, false});
      }
    }
  }
  // NaN counts as true.
  check_cuda_matches_cpu("all of NaN", [](const TensorList& in) { return all(in[0]); },
                         {full({3, 4}, kNaN, DType::F32)}, {0, 0, false});
}

TEST_CASE("prod: dims, every float dtype, gradients with and without zeros") {
  if (!gpu_present()) return;
  for (DType dt : kFloats) {
    // Values near 1 keep products of 37 elements in range.
    const Tensor x = to(add(random({37, 13, 5}, DType::F64, 19, 0.2), 1.0), dt);
    for (const Dims& dims : kDimSets) {
      for (bool keepdim : {false, true}) {
        const std::string tag = std::string(dtype_name(dt)) + " dims " + dims_str(dims) + (keepdim ? " keepdim" : "");
        check_cuda_matches_cpu("prod " + tag, [&](const TensorList& in) { return prod(in[0], dims, keepdim); }, {x},
                               tolerance(dt, true, keepdim));
      }
    }
    // One zero in some rows, two in one row: the prefix/suffix gradient.
    Tensor z = to(add(random({6, 9}, DType::F64, 20, 0.2), 1.0), DType::F64);
    std::vector<double> v = to_vector<double>(z);
    v[1 * 9 + 4] = 0;
    v[3 * 9 + 0] = 0;
    v[3 * 9 + 8] = 0;
    z = to(from_vector(v, {6, 9}), dt);
    check_cuda_matches_cpu(std::string("prod with zeros over dim 1, ") + dtype_name(dt),
                           [](const TensorList& in) { return prod(in[0], {1}); }, {z}, tolerance(dt));
    check_cuda_matches_cpu(std::string("prod with zeros over dim 0, ") + dtype_name(dt),
                           [](const TensorList& in) { return prod(in[0], {0}, true); }, {z}, tolerance(dt));
    check_cuda_matches_cpu(std::string("prod with one zero over all, ") + dtype_name(dt),
                           [](const TensorList& in) { return prod(narrow(in[0], 0, 0, 2)); }, {z}, tolerance(dt));
  }
}

TEST_CASE("norm for p = 2, 1, 3, inf, -inf, 0, 0.5, -1 over dims") {
  if (!gpu_present()) return;
  for (DType dt : kFloats) {
    const Tensor x = random({37, 13, 5}, dt, 21);
    for (double p : {2.0, 1.0, 3.0, kInf, -kInf, 0.0, 0.5, -1.0}) {
      for (const Dims& dims : {Dims{}, Dims{0}, Dims{2}, Dims{0, 2}}) {
        const std::string tag = std::string(dtype_name(dt)) + " p " + std::to_string(p) + " dims " + dims_str(dims);
        // p < 1 has unbounded gradients near 0; the forward is checked for those.
        check_cuda_matches_cpu("norm " + tag, [&](const TensorList& in) { return norm(in[0], p, dims, true); }, {x},
                               tolerance(dt, p >= 1.0 || std::isinf(p), p == 2.0));
      }
    }
  }
}

TEST_CASE("logsumexp: dims, stability, infinities and NaN") {
  if (!gpu_present()) return;
  for (DType dt : kFloats) {
    const Tensor x = random({37, 13, 5}, dt, 22, 10.0);
    for (const Dims& dims : kDimSets) {
      if (dims.empty()) continue;  // logsumexp names its dims
      for (bool keepdim : {false, true}) {
        const std::string tag = std::string(dtype_name(dt)) + " dims " + dims_str(dims) + (keepdim ? " keepdim" : "");
        check_cuda_matches_cpu("logsumexp " + tag,
                               [&](const TensorList& in) { return logsumexp(in[0], dims, keepdim); }, {x},
                               tolerance(dt, true, keepdim));
      }
    }
  }
  // Large magnitudes, rows of -inf, +inf, NaN, and a mix.
  std::vector<double> v = to_vector<double>(random({6, 7}, DType::F64, 23, 1.0));
  for (int j = 0; j < 7; ++j) v[0 * 7 + j] = 1000.0 + j;  // exp would overflow without the shift
  for (int j = 0; j < 7; ++j) v[1 * 7 + j] = -kInf;
  v[2 * 7 + 3] = kInf;
  v[3 * 7 + 1] = kNaN;
  v[4 * 7 + 0] = -kInf;
  v[5 * 7 + 2] = kInf;
  v[5 * 7 + 5] = -kInf;
  for (DType dt : {DType::F32, DType::F64}) {
    check_cuda_matches_cpu(std::string("logsumexp with infinities and NaN, ") + dtype_name(dt),
                           [](const TensorList& in) { return logsumexp(in[0], {1}); },
                           {to(from_vector(v, {6, 7}), dt)}, tolerance(dt, false));
  }
}

TEST_CASE("cumsum along every dim, long rows, every dtype, gradient") {
  if (!gpu_present()) return;
  for (DType dt : kFloats) {
    const Tensor x = random({37, 13, 5}, dt, 24);
    for (int64_t dim : {0, 1, 2, -1}) {
      const std::string tag = std::string(dtype_name(dt)) + " dim " + std::to_string(dim);
      // Partial sums pass through zero: an absolute tolerance as for the sums they are.
      DeviceCheck t = tolerance(dt, true, dim == 1);
      if (dt == DType::F32) t.atol = 1e-5;
      check_cuda_matches_cpu("cumsum " + tag, [&](const TensorList& in) { return cumsum(in[0], dim); }, {x}, t);
    }
  }
  for (DType dt : {DType::F32, DType::F64}) {
    DeviceCheck t = tolerance(dt);
    t.atol = dt == DType::F32 ? 1e-3 : 1e-9;  // partial sums of up to 1e6 terms of size 1
    check_cuda_matches_cpu(std::string("cumsum of rows of 4099, ") + dtype_name(dt),
                           [](const TensorList& in) { return cumsum(in[0], 1); }, {random({5, 4099}, dt, 25)}, t);
    check_cuda_matches_cpu(std::string("cumsum of 1000003, ") + dtype_name(dt),
                           [](const TensorList& in) { return cumsum(in[0], 0); }, {random({1000003}, dt, 26)}, t);
    check_cuda_matches_cpu(std::string("cumsum of rows of 1, ") + dtype_name(dt),
                           [](const TensorList& in) { return cumsum(in[0], 1); }, {random({4099, 1}, dt, 27)}, t);
    check_cuda_matches_cpu(std::string("cumsum along the middle of [3, 4099, 2], ") + dtype_name(dt),
                           [](const TensorList& in) { return cumsum(in[0], 1); }, {random({3, 4099, 2}, dt, 28)}, t);
  }
  check_cuda_matches_cpu("cumsum of a 0-d tensor", [](const TensorList& in) { return cumsum(in[0], 0); },
                         {scalar_tensor(1.5, DType::F32)}, tolerance(DType::F32));
}

TEST_CASE("sum_to undoes broadcasting on the device") {
  if (!gpu_present()) return;
  const Tensor g = random({4, 37, 13, 5}, DType::F32, 29);
  for (const Shape& shape : {Shape{37, 13, 5}, Shape{1, 13, 1}, Shape{13, 1}, Shape{5}, Shape{}, Shape{4, 1, 1, 5}}) {
    check_cuda_matches_cpu("sum_to " + shape_str(shape), [&](const TensorList& in) { return sum_to(in[0], shape); },
                           {g}, tolerance(DType::F32));
  }
  // The gradient of a broadcast add reaches both inputs through sum_to.
  check_cuda_matches_cpu("broadcast add gradients",
                         [](const TensorList& in) { return add(in[0], in[1]); },
                         {random({37, 1, 5}, DType::F32, 30), random({13, 1}, DType::F32, 31)},
                         tolerance(DType::F32));
}

TEST_CASE("empty reductions and 0-d inputs") {
  if (!gpu_present()) return;
  const Tensor empty_rows = random({0, 5}, DType::F32, 32);
  const Tensor empty_cols = empty({4, 0}, DType::F32);
  const DeviceCheck t = tolerance(DType::F32, false);
  check_cuda_matches_cpu("sum over an empty dim", [](const TensorList& in) { return sum(in[0], {1}); }, {empty_cols}, t);
  check_cuda_matches_cpu("prod over an empty dim", [](const TensorList& in) { return prod(in[0], {1}); }, {empty_cols},
                         t);
  check_cuda_matches_cpu("mean over an empty dim (NaN)", [](const TensorList& in) { return mean(in[0], {1}); },
                         {empty_cols}, t);
  check_cuda_matches_cpu("var over an empty dim (NaN)", [](const TensorList& in) { return var(in[0], {1}); },
                         {empty_cols}, t);
  check_cuda_matches_cpu("logsumexp over an empty dim (-inf)",
                         [](const TensorList& in) { return logsumexp(in[0], {1}); }, {empty_cols}, t);
  check_cuda_matches_cpu("all over an empty dim", [](const TensorList& in) { return all(in[0], {1}); }, {empty_cols}, t);
  check_cuda_matches_cpu("sum keeping an empty dim", [](const TensorList& in) { return sum(in[0], {1}); },
                         {empty_rows}, t);
  const Tensor s = scalar_tensor(-1.25, DType::F64);
  check_cuda_matches_cpu("sum of a 0-d tensor", [](const TensorList& in) { return sum(in[0]); }, {s},
                         tolerance(DType::F64));
  check_cuda_matches_cpu("var of a 0-d tensor over dim 0",
                         [](const TensorList& in) { return var(in[0], {0}, 0); }, {s}, tolerance(DType::F64, false));
  check_cuda_matches_cpu("norm of a 0-d tensor", [](const TensorList& in) { return norm(in[0]); }, {s},
                         tolerance(DType::F64));
}

TEST_CASE("a reduction over more than eight dims that do not merge is refused, naming the dims") {
  if (!gpu_present()) return;
  Tensor x = to(random({2, 2, 2, 2, 2, 2, 2, 2, 2, 3}, DType::F32, 5), Device::cuda());
  // Reversed dims have ascending strides: no two neighbours are one run in memory.
  Tensor reversed = permute(x, {9, 8, 7, 6, 5, 4, 3, 2, 1, 0});
  CHECK_THROWS_WITH_AS(sum(reversed, {0}), doctest::Contains("dims [2, 2, 2, 2, 2, 2, 2, 2, 2] do not merge"),
                       std::invalid_argument);
  // Merged to fewer dims, the same data reduces.
  check_cuda_matches_cpu("sum of a contiguous ten-dim tensor", [](const TensorList& in) { return sum(in[0], {0}); },
                         {random({2, 2, 2, 2, 2, 2, 2, 2, 2, 3}, DType::F32, 6)}, tolerance(DType::F32));
}
