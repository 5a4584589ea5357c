// Copies, casts and fills on the device against the CPU: every dtype pair, strided and broadcast
// sources, strided destinations, odd sizes.
#include "cuda_testing.h"

using namespace rvos;
using namespace rvos::testing;

namespace {
const DType kAll[] = {DType::Bool, DType::U8, DType::I32, DType::I64, DType::F16, DType::BF16, DType::F32, DType::F64};
}

TEST_CASE("device casts between every pair of dtypes match the CPU") {
  if (!gpu_present()) return;
  const Tensor values = mul(random({37, 13}, DType::F64, 5), 40.0);
  for (DType from : kAll) {
    for (DType to_dtype : kAll) {
      INFO(dtype_name(from) << " -> " << dtype_name(to_dtype));
      const Tensor src = to(abs(values), from);  // non-negative: casts to uint8 are defined
      const Tensor expected = to(src, to_dtype);
      const Tensor on_device = to(to(src, Device::cuda()), to_dtype);
      CHECK(on_device.is_cuda());
      CHECK(to_vector<double>(to(on_device, Device::cpu())) == to_vector<double>(expected));
    }
  }
}

TEST_CASE("strided and broadcast device copies, strided destinations") {
  if (!gpu_present()) return;
  const Tensor h = random({5, 7, 3}, DType::F32, 6);
  const Tensor g = to(h, Device::cuda());
  // Transposed source made contiguous on the device.
  const Tensor t = contiguous(permute(g, {2, 0, 1}));
  CHECK(to_vector<float>(t) == to_vector<float>(contiguous(permute(h, {2, 0, 1}))));
  // Broadcast source into a larger destination.
  Tensor dst = zeros({4, 5, 7, 3}, DType::F64, Device::cuda());
  copy_(dst, g);
  CHECK(to_vector<double>(dst) == to_vector<double>(expand(to(h, DType::F64), {4, 5, 7, 3})));
  // Strided destination (a slice), other elements untouched.
  Tensor big = full({6, 9}, -1.0, DType::F32, Device::cuda());
  copy_(narrow(narrow(big, 0, 1, 4), 1, 2, 5), ones({4, 5}, DType::F32));
  Tensor expected = full({6, 9}, -1.0, DType::F32);
  copy_(narrow(narrow(expected, 0, 1, 4), 1, 2, 5), ones({4, 5}, DType::F32));
  CHECK(to_vector<float>(big) == to_vector<float>(expected));
}

TEST_CASE("device fills keep integers exact") {
  if (!gpu_present()) return;
  Tensor i = empty({3, 5}, DType::I64, Device::cuda());
  fill_(i, int64_t{9007199254740993});  // 2^53 + 1: not a double
  CHECK(to_vector<int64_t>(i) == std::vector<int64_t>(15, 9007199254740993));
  Tensor h = empty({1001}, DType::BF16, Device::cuda());
  fill_(h, 0.1);
  CHECK(to_vector<float>(h) == to_vector<float>(full({1001}, 0.1, DType::BF16)));
  Tensor strided = zeros({4, 6}, DType::F32, Device::cuda());
  fill_(select(strided, 1, 2), 3.5);
  Tensor expected = zeros({4, 6}, DType::F32);
  fill_(select(expected, 1, 2), 3.5);
  CHECK(to_vector<float>(strided) == to_vector<float>(expected));
}

TEST_CASE("cast gradients flow back to the device input") {
  if (!gpu_present()) return;
  check_cuda_matches_cpu("to(float64 -> float32)", [](const TensorList& x) { return to(x[0], DType::F32); },
                         {random({17, 3})}, {1e-6, 1e-6, true, true});
}

TEST_CASE("casts of a million and three elements, misaligned views and many-dimensional views") {
  if (!gpu_present()) return;
  const Tensor values = mul(random({1000003}, DType::F64, 7), 40.0);
  for (DType from : kAll) {
    for (DType to_dtype : kAll) {
      INFO(dtype_name(from) << " -> " << dtype_name(to_dtype));
      const Tensor src = to(abs(values), from);
      const Tensor g = to(src, Device::cuda());
      // Contiguous and 16-byte aligned: the vectorised path, with a tail of 1000003 % width elements.
      CHECK(to_vector<double>(to(g, to_dtype)) == to_vector<double>(to(src, to_dtype)));
      // A contiguous view three elements in (misaligned for 16-byte access).
      CHECK(to_vector<double>(to(narrow(g, 0, 3, 1000000), to_dtype)) ==
            to_vector<double>(to(narrow(src, 0, 3, 1000000), to_dtype)));
    }
  }
  // Nine dimensions that merge into fewer; reversed strides.
  const Tensor nine = random({2, 2, 2, 2, 2, 2, 2, 2, 5}, DType::F32, 8);
  const Tensor gnine = to(nine, Device::cuda());
  CHECK(to_vector<double>(to(gnine, DType::BF16)) == to_vector<double>(to(nine, DType::BF16)));
  CHECK(to_vector<float>(contiguous(slice(gnine, 8, 1, 5, 2))) == to_vector<float>(contiguous(slice(nine, 8, 1, 5, 2))));
  CHECK(to_vector<float>(flip(gnine, {0, 8})) == to_vector<float>(flip(nine, {0, 8})));
}
