// softmax, log_softmax and the safe softmax on the device against the CPU: every layout (rows held
// by a warp, rows per block with and without the shared-memory cache, columns), odd sizes, every
// float dtype, masked and NaN rows, non-contiguous inputs and gradients, forward and backward.
#include <cmath>
#include <limits>

#include "cuda_testing.h"
#include "ops/internal.h"

using namespace rvos;
using namespace rvos::testing;

namespace {

const DType kFloats[] = {DType::F32, DType::F64, DType::F16, DType::BF16};
const double kInf = std::numeric_limits<double>::infinity();

DeviceCheck tolerance(DType dt, bool backward = true, bool non_contiguous = false) {
  switch (dt) {
    case DType::F64: return {1e-12, 1e-10, backward, non_contiguous};
    case DType::F32: return {1e-6, 1e-5, backward, non_contiguous};
    default: return {1e-2, 1e-2, backward, non_contiguous};
  }
}

using SoftmaxFn = Tensor (*)(const Tensor&, int64_t);

struct Variant {
  const char* name;
  SoftmaxFn fn;
};

const Variant kVariants[] = {
    {"softmax", [](const Tensor& x, int64_t d) { return softmax(x, d); }},
    {"log_softmax", [](const Tensor& x, int64_t d) { return log_softmax(x, d); }},
    {"safe_softmax", [](const Tensor& x, int64_t d) { return detail::safe_softmax(x, d); }},
};

// Rows (along `dim`) of x set to -inf: every third row fully, and one element in others.
Tensor with_masked_rows(const Tensor& x, int64_t dim) {
  Tensor xd = to(x, DType::F64);
  const int64_t d = xd.wrap_dim(dim);
  const Tensor moved = contiguous(transpose(xd, d, -1));
  std::vector<double> v = to_vector<double>(moved);
  const int64_t n = moved.size(-1), rows = moved.numel() / std::max<int64_t>(n, 1);
  for (int64_t r = 0; r < rows; ++r) {
    if (r % 3 == 0) {
      for (int64_t j = 0; j < n; ++j) v[static_cast<size_t>(r * n + j)] = -kInf;
    } else if (r % 3 == 1) {
      v[static_cast<size_t>(r * n + (r % n))] = -kInf;
    }
  }
  return to(contiguous(transpose(from_vector(v, moved.shape()), d, -1)), x.dtype());
}

}  // namespace

TEST_CASE("softmax variants along every dim of 37x13x5, every float dtype, contiguous and not") {
  if (!gpu_present()) return;
  for (DType dt : kFloats) {
    const Tensor x = random({37, 13, 5}, dt, 1, 3.0);
    for (const Variant& v : kVariants) {
      for (int64_t dim : {0, 1, 2, -1}) {
        for (bool nc : {false, true}) {
          const std::string tag = std::string(v.name) + " " + dtype_name(dt) + " dim " + std::to_string(dim) +
                                  (nc ? " non-contiguous" : "");
          check_cuda_matches_cpu(tag, [&](const TensorList& in) { return v.fn(in[0], dim); }, {x},
                                 tolerance(dt, true, nc));
        }
      }
    }
  }
}

TEST_CASE("softmax row lengths across the warp and block kernels: 1, 31, 32, 33, 100, 257, 1000, 1024, 1025, 4096, "
          "4099, 30000, 100000") {
  if (!gpu_present()) return;
  for (int64_t n : {1, 31, 32, 33, 100, 257, 1000, 1024, 1025, 4096, 4099, 30000, 100000}) {
    const int64_t rows = n > 10000 ? 3 : 9;
    for (DType dt : {DType::F32, DType::BF16, DType::F64}) {
      const Tensor x = random({rows, n}, dt, 2 + static_cast<uint64_t>(n), 4.0);
      for (const Variant& v : kVariants) {
        const std::string tag = std::string(v.name) + " rows of " + std::to_string(n) + " " + dtype_name(dt);
        check_cuda_matches_cpu(tag, [&](const TensorList& in) { return v.fn(in[0], -1); }, {x}, tolerance(dt));
      }
    }
  }
}

TEST_CASE("softmax along non-innermost dims: few and many columns, long columns") {
  if (!gpu_present()) return;
  for (const Shape& shape : {Shape{4, 2000, 7}, Shape{2, 3, 4099}, Shape{30000, 3}, Shape{1, 5, 1}, Shape{64, 33, 257}}) {
    for (DType dt : {DType::F32, DType::F16}) {
      const Tensor x = random(shape, dt, 3, 2.0);
      const int64_t dim = shape.size() == 2 ? 0 : 1;
      for (const Variant& v : kVariants) {
        const std::string tag = std::string(v.name) + " " + shape_str(shape) + " dim " + std::to_string(dim) + " " +
                                dtype_name(dt);
        check_cuda_matches_cpu(tag, [&](const TensorList& in) { return v.fn(in[0], dim); }, {x}, tolerance(dt));
      }
    }
  }
}

TEST_CASE("masked rows: the safe softmax gives zeros (and zero gradients) where softmax gives NaN") {
  if (!gpu_present()) return;
  for (DType dt : kFloats) {
    for (const Shape& shape : {Shape{12, 37}, Shape{6, 2000}, Shape{6, 4099}, Shape{5, 9, 7}}) {
      for (int64_t dim : {int64_t{-1}, shape.size() == 3 ? int64_t{1} : int64_t{0}}) {
        const Tensor x = with_masked_rows(random(shape, dt, 4), dim);
        for (const Variant& v : kVariants) {
          const std::string tag = std::string(v.name) + " masked " + shape_str(shape) + " dim " + std::to_string(dim) +
                                  " " + dtype_name(dt);
          check_cuda_matches_cpu(tag, [&](const TensorList& in) { return v.fn(in[0], dim); }, {x}, tolerance(dt));
        }
      }
    }
  }
  // The zeros themselves, and NaN rows staying NaN in the safe softmax.
  std::vector<float> values(3 * 4, -INFINITY);
  values[4 + 1] = 0.5f;
  values[8 + 2] = NAN;
  const Tensor masked = to(from_vector(values, {3, 4}), Device::cuda());
  const std::vector<float> safe = to_vector<float>(detail::safe_softmax(masked, 1));
  for (int j = 0; j < 4; ++j) CHECK(safe[static_cast<size_t>(j)] == 0.0f);
  CHECK(safe[4 + 1] == 1.0f);
  CHECK(std::isnan(safe[8 + 2]));
}

TEST_CASE("softmax is stable for large magnitudes and propagates NaN") {
  if (!gpu_present()) return;
  for (DType dt : {DType::F32, DType::F64}) {
    const Tensor big = add(random({7, 300}, dt, 5, 50.0), 1e4);
    for (const Variant& v : kVariants) {
      check_cuda_matches_cpu(std::string(v.name) + " large magnitudes " + dtype_name(dt),
                             [&](const TensorList& in) { return v.fn(in[0], 1); }, {big}, tolerance(dt));
    }
  }
  std::vector<double> values = to_vector<double>(random({4, 2100}, DType::F64, 6));
  values[2100 + 17] = std::nan("");
  values[3 * 2100 + 2099] = kInf;
  for (const Variant& v : kVariants) {
    check_cuda_matches_cpu(std::string(v.name) + " with NaN and +inf",
                           [&](const TensorList& in) { return v.fn(in[0], 1); },
                           {to(from_vector(values, {4, 2100}), DType::F32)}, tolerance(DType::F32, false));
  }
}

TEST_CASE("softmax backward with non-contiguous and expanded gradients, empty and 0-d inputs") {
  if (!gpu_present()) return;
  for (DType dt : {DType::F32, DType::BF16}) {
    const Tensor x = random({33, 65}, dt, 7);
    for (const Variant& v : kVariants) {
      // mean's gradient reaches the softmax as an expanded (stride 0) tensor.
      check_cuda_matches_cpu(std::string(v.name) + " under mean " + dtype_name(dt),
                             [&](const TensorList& in) { return mean(v.fn(in[0], 1), {1}); }, {x}, tolerance(dt));
      check_cuda_matches_cpu(std::string(v.name) + " of a transposed view " + dtype_name(dt),
                             [&](const TensorList& in) { return v.fn(transpose(in[0], 0, 1), 0); }, {x},
                             tolerance(dt));
    }
  }
  check_cuda_matches_cpu("softmax of an empty tensor", [](const TensorList& in) { return softmax(in[0], 1); },
                         {empty({0, 5}, DType::F32)}, tolerance(DType::F32));
  check_cuda_matches_cpu("log_softmax of a 0-d tensor", [](const TensorList& in) { return log_softmax(in[0], 0); },
                         {scalar_tensor(0.75, DType::F32)}, tolerance(DType::F32));
}

TEST_CASE("attention-shaped softmax: [B, heads, queries, keys] over keys") {
  if (!gpu_present()) return;
  for (const Shape& shape : {Shape{2, 8, 64, 64}, Shape{1, 4, 16, 4096}, Shape{1, 1, 5, 4101}}) {
    for (DType dt : {DType::F32, DType::BF16}) {
      check_cuda_matches_cpu(std::string("softmax ") + shape_str(shape) + " " + dtype_name(dt),
                             [](const TensorList& in) { return softmax(in[0], -1); }, {random(shape, dt, 8, 3.0)},
                             tolerance(dt));
    }
  }
}
