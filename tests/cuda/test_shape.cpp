// Shape ops that copy data, on the device against the CPU reference: cat, stack, pad (every mode),
// index_select, gather, take_along_dim, repeat, flip, forward and backward, every dtype, odd sizes,
// non-contiguous inputs; index bounds errors; factories creating device tensors.
#include <string>

#include "cuda_testing.h"

using namespace rvos;
using namespace rvos::testing;

namespace {

const DType kAll[] = {DType::Bool, DType::U8, DType::I32, DType::I64, DType::F16, DType::BF16, DType::F32, DType::F64};
const DType kFloats[] = {DType::F32, DType::F64, DType::F16, DType::BF16};

// Values of any dtype (random, never all zeros); data movement is checked bit for bit.
Tensor values(const Shape& s, DType d, uint64_t seed) {
  if (d == DType::Bool) return gt(random(s, DType::F64, seed), 0.0);
  if (d == DType::U8) return to(abs(mul(random(s, DType::F64, seed), 60.0)), d);
  return to(mul(random(s, DType::F64, seed), is_floating(d) ? 1.0 : 1000.0), d);
}

// Gradients of data movement sum copies of the output gradient: exact in float64, one rounding
// per addition otherwise.
DeviceCheck moved(DType d, bool non_contiguous = false) {
  if (!is_floating(d)) return {0, 0, false, non_contiguous};
  if (d == DType::F64) return {1e-12, 1e-12, true, non_contiguous};
  if (d == DType::F32) return {1e-5, 1e-5, true, non_contiguous};
  return {2e-2, 2e-2, true, non_contiguous};
}

Tensor indices(const Shape& s, int64_t high, DType d, uint64_t seed) {
  Generator g(seed);
  return randint(0, high, s, d, Device::cpu(), &g);
}

std::string label(const std::string& name, DType d) { return name + " " + dtype_name(d); }

}  // namespace

TEST_CASE("cat and stack along every dim, every dtype, non-contiguous inputs, promotion") {
  if (!gpu_present()) return;
  for (DType d : kAll) {
    const Tensor a = values({7, 5, 3}, d, 1), b = values({7, 2, 3}, d, 2), c = values({7, 1, 3}, d, 3);
    for (bool strided : {false, true}) {
      check_cuda_matches_cpu(label("cat dim 1", d), [](const TensorList& in) { return cat({in[0], in[1], in[2]}, 1); },
                             {a, b, c}, moved(d, strided));
      check_cuda_matches_cpu(label("cat dim 0", d), [](const TensorList& in) { return cat({in[0], in[1]}, 0); },
                             {a, values({2, 5, 3}, d, 4)}, moved(d, strided));
      check_cuda_matches_cpu(label("cat dim -1", d), [](const TensorList& in) { return cat({in[0], in[1]}, -1); },
                             {a, values({7, 5, 4}, d, 5)}, moved(d, strided));
      for (int64_t dim : {0, 1, 2, 3}) {
        check_cuda_matches_cpu(label("stack dim " + std::to_string(dim), d),
                               [dim](const TensorList& in) { return stack({in[0], in[1], in[2]}, dim); },
                               {a, values({7, 5, 3}, d, 6), values({7, 5, 3}, d, 7)}, moved(d, strided));
      }
    }
  }
  check_cuda_matches_cpu("cat promotes float16 with float32",
                         [](const TensorList& in) { return cat({in[0], in[1]}, 0); },
                         {values({3, 4}, DType::F16, 8), values({2, 4}, DType::F32, 9)}, moved(DType::F32));
  check_cuda_matches_cpu("cat promotes int32 with bfloat16",
                         [](const TensorList& in) { return cat({in[0], in[1]}, 1); },
                         {values({3, 4}, DType::I32, 10), values({3, 2}, DType::BF16, 11)}, moved(DType::BF16));
  check_cuda_matches_cpu("cat skips legacy empty tensors",
                         [](const TensorList& in) { return cat({in[0], in[1], in[2]}, 0); },
                         {values({0}, DType::F32, 12), values({3, 4}, DType::F32, 13), values({2, 4}, DType::F32, 14)},
                         moved(DType::F32));
  check_cuda_matches_cpu("stack of 0-d tensors", [](const TensorList& in) { return stack({in[0], in[1]}, 0); },
                         {values({}, DType::F32, 15), values({}, DType::F32, 16)}, moved(DType::F32));
  // Many pieces (a model's frame list).
  TensorList many;
  for (int i = 0; i < 33; ++i) many.push_back(values({2, 3, 5}, DType::F32, 100 + static_cast<uint64_t>(i)));
  check_cuda_matches_cpu("cat of 33 pieces", [](const TensorList& in) { return cat(in, 1); }, many, moved(DType::F32));
}

TEST_CASE("pad: constant (with a value, negative pads), reflect and replicate, every dtype") {
  if (!gpu_present()) return;
  for (DType d : kAll) {
    const Tensor x = values({3, 5, 7, 6}, d, 21);
    for (bool strided : {false, true}) {
      check_cuda_matches_cpu(label("pad constant", d), [](const TensorList& in) { return pad(in[0], {1, 2, 3, 0}); },
                             {x}, moved(d, strided));
      check_cuda_matches_cpu(label("pad constant value", d),
                             [](const TensorList& in) { return pad(in[0], {2, 1, 0, 1, 1, 1}, "constant", 1.5); }, {x},
                             moved(d, strided));
      check_cuda_matches_cpu(label("pad negative (crop)", d),
                             [](const TensorList& in) { return pad(in[0], {-1, 2, -2, -1}); }, {x}, moved(d, strided));
      if (!is_floating(d) && d != DType::Bool) continue;  // reflect/replicate tested on floats and bool
      check_cuda_matches_cpu(label("pad reflect", d), [](const TensorList& in) { return pad(in[0], {3, 2, 4, 1}, "reflect"); },
                             {x}, moved(d, strided));
      check_cuda_matches_cpu(label("pad replicate", d),
                             [](const TensorList& in) { return pad(in[0], {5, 2, 1, 6}, "replicate"); }, {x},
                             moved(d, strided));
    }
  }
  for (DType d : {DType::I32, DType::U8, DType::I64}) {
    check_cuda_matches_cpu(label("pad reflect", d), [](const TensorList& in) { return pad(in[0], {2, 2}, "reflect"); },
                           {values({4, 9}, d, 22)}, moved(d));
  }
  // Large padded activations (a conv input), and padding all dims of a 1-D tensor.
  check_cuda_matches_cpu("pad activation", [](const TensorList& in) { return pad(in[0], {1, 1, 1, 1}); },
                         {values({2, 16, 63, 65}, DType::F32, 23)}, moved(DType::F32));
  check_cuda_matches_cpu("pad 1-D reflect", [](const TensorList& in) { return pad(in[0], {4, 4}, "reflect"); },
                         {values({11}, DType::F64, 24)}, moved(DType::F64));
}

TEST_CASE("index_select: duplicate indices, int32 and int64 indices, every dim and dtype") {
  if (!gpu_present()) return;
  for (DType d : kAll) {
    const Tensor x = values({9, 7, 5}, d, 31);
    for (int64_t dim : {0, 1, 2}) {
      for (DType id : {DType::I64, DType::I32}) {
        const Tensor index = indices({13}, x.size(dim), id, 32 + static_cast<uint64_t>(dim));  // duplicates: 13 of <= 9
        check_cuda_matches_cpu(label("index_select dim " + std::to_string(dim) + " " + dtype_name(id), d),
                               [dim](const TensorList& in) { return index_select(in[0], dim, in[1]); }, {x, index},
                               moved(d, dim != 2));
      }
    }
  }
  check_cuda_matches_cpu("index_select of a 0-d tensor",
                         [](const TensorList& in) { return index_select(in[0], 0, in[1]); },
                         {values({}, DType::F32, 33), from_vector<int64_t>({0}, {1})}, moved(DType::F32));
  check_cuda_matches_cpu("index_select with a 0-d index",
                         [](const TensorList& in) { return index_select(in[0], 1, in[1]); },
                         {values({4, 6}, DType::F32, 34), from_vector<int64_t>({5}, {})}, moved(DType::F32));
  check_cuda_matches_cpu("index_select with an empty index",
                         [](const TensorList& in) { return index_select(in[0], 0, in[1]); },
                         {values({4, 6}, DType::F32, 35), from_vector<int64_t>({}, {0})}, moved(DType::F32));
  // Embedding-like lookups: many rows, many repeats (the backward sums up to ~40 rows each).
  check_cuda_matches_cpu("index_select rows of a table",
                         [](const TensorList& in) { return index_select(in[0], 0, in[1]); },
                         {values({50, 64}, DType::F32, 36), indices({2000}, 50, DType::I64, 37)}, moved(DType::F32));
}

TEST_CASE("gather and take_along_dim: smaller and broadcast indices, duplicates, every dtype") {
  if (!gpu_present()) return;
  for (DType d : kAll) {
    const Tensor x = values({6, 7, 5}, d, 41);
    for (int64_t dim : {0, 1, 2}) {
      for (DType id : {DType::I64, DType::I32}) {
        // Larger than the input along dim, smaller elsewhere.
        Shape is{4, 5, 3};
        is[static_cast<size_t>(dim)] = 11;
        const Tensor index = indices(is, x.size(dim), id, 42 + static_cast<uint64_t>(dim));
        check_cuda_matches_cpu(label("gather dim " + std::to_string(dim) + " " + dtype_name(id), d),
                               [dim](const TensorList& in) { return gather(in[0], dim, in[1]); }, {x, index},
                               moved(d));
        check_cuda_matches_cpu(label("gather strided dim " + std::to_string(dim), d),
                               [dim](const TensorList& in) { return gather(in[0], dim, in[1]); }, {x, index},
                               moved(d, true));
      }
      // take_along_dim: index broadcast against the input outside dim.
      Shape ts{6, 1, 5};
      ts[static_cast<size_t>(dim)] = 4;
      if (dim == 1) ts = {1, 4, 5};
      const Tensor tindex = indices(ts, x.size(dim), DType::I64, 43 + static_cast<uint64_t>(dim));
      check_cuda_matches_cpu(label("take_along_dim dim " + std::to_string(dim), d),
                             [dim](const TensorList& in) { return take_along_dim(in[0], in[1], dim); }, {x, tindex},
                             moved(d));
    }
  }
  check_cuda_matches_cpu("gather of a 0-d tensor", [](const TensorList& in) { return gather(in[0], 0, in[1]); },
                         {values({}, DType::F64, 44), from_vector<int64_t>({0}, {})}, moved(DType::F64));
  // One long line along dim (the backward adds 100000 values in one thread, in order).
  check_cuda_matches_cpu("gather 1-D, long", [](const TensorList& in) { return gather(in[0], 0, in[1]); },
                         {values({1000}, DType::F64, 45), indices({100000}, 1000, DType::I64, 46)}, moved(DType::F64));
  // Sorted-index selection as a model does it (top-k then gather).
  check_cuda_matches_cpu("take_along_dim rows", [](const TensorList& in) { return take_along_dim(in[0], in[1], 1); },
                         {values({8, 300, 16}, DType::F32, 47), indices({8, 20, 1}, 300, DType::I64, 48)},
                         moved(DType::F32));
}

TEST_CASE("out-of-range indices on the device give the CPU's error") {
  if (!gpu_present()) return;
  const Tensor x = values({4, 6}, DType::F32, 51);
  const Tensor bad = from_vector<int64_t>({1, 2, 7, -1, 3}, {5});
  const Tensor bad32 = from_vector<int32_t>({0, 6}, {2});
  const Tensor gx = to(x, Device::cuda());
  const std::string cpu_err = error_of([&] { index_select(x, 1, bad); });
  CHECK(cpu_err.find("index 7 is out of bounds") != std::string::npos);
  CHECK(error_of([&] { index_select(gx, 1, to(bad, Device::cuda())); }) == cpu_err);
  CHECK(error_of([&] { index_select(gx, 1, to(bad32, Device::cuda())); }) == error_of([&] { index_select(x, 1, bad32); }));
  const Tensor gbad = from_vector<int64_t>({0, 1, 2, 4, 0, 1}, {1, 6});
  CHECK(error_of([&] { gather(gx, 0, to(gbad, Device::cuda())); }) == error_of([&] { gather(x, 0, gbad); }));
  CHECK(error_of([&] { take_along_dim(gx, to(gbad, Device::cuda()), 0); }) == error_of([&] { take_along_dim(x, gbad, 0); }));
  CHECK(error_of([&] { index_select(gx, 1, bad); }).find("different devices") != std::string::npos);
  // In-range indices after a failure still work (no sticky device error).
  CHECK(to_vector<float>(index_select(gx, 1, to(from_vector<int64_t>({5, 0}, {2}), Device::cuda()))) ==
        to_vector<float>(index_select(x, 1, from_vector<int64_t>({5, 0}, {2}))));
}

TEST_CASE("repeat and flip, every dtype, non-contiguous inputs") {
  if (!gpu_present()) return;
  for (DType d : kAll) {
    const Tensor x = values({5, 3, 4}, d, 61);
    for (bool strided : {false, true}) {
      check_cuda_matches_cpu(label("repeat", d), [](const TensorList& in) { return repeat(in[0], {2, 1, 3}); }, {x},
                             moved(d, strided));
      check_cuda_matches_cpu(label("repeat with leading dims", d),
                             [](const TensorList& in) { return repeat(in[0], {2, 1, 2, 1, 2}); }, {x}, moved(d, strided));
      check_cuda_matches_cpu(label("flip 0 2", d), [](const TensorList& in) { return flip(in[0], {0, 2}); }, {x},
                             moved(d, strided));
      check_cuda_matches_cpu(label("flip -1", d), [](const TensorList& in) { return flip(in[0], {-1}); }, {x},
                             moved(d, strided));
      check_cuda_matches_cpu(label("flip all", d), [](const TensorList& in) { return flip(in[0], {0, 1, 2}); }, {x},
                             moved(d, strided));
    }
  }
  check_cuda_matches_cpu("flip of a large image", [](const TensorList& in) { return flip(in[0], {-1}); },
                         {values({3, 257, 251}, DType::BF16, 62)}, moved(DType::BF16));
}

TEST_CASE("factories create device tensors with the CPU's values") {
  if (!gpu_present()) return;
  const Device dev = Device::cuda();
  auto same = [](const Tensor& g, const Tensor& c) {
    REQUIRE(g.is_cuda());
    CHECK(g.dtype() == c.dtype());
    CHECK(g.shape() == c.shape());
    CHECK_CLOSE(to(g, Device::cpu()), c, 0, 0);
  };
  for (DType d : kAll) {
    INFO(dtype_name(d));
    same(zeros({37, 13}, d, dev), zeros({37, 13}, d));
    same(ones({5, 1, 7}, d, dev), ones({5, 1, 7}, d));
    same(full({1000003}, 3, d, dev), full({1000003}, 3, d));
    same(eye(17, d, dev), eye(17, d));
    same(zeros_like(to(values({3, 4}, d, 71), dev)), zeros({3, 4}, d));
    same(full_like(to(values({3, 4}, d, 72), dev), 2), full({3, 4}, 2, d));
    same(scalar_tensor(1, d, dev), scalar_tensor(1, d));
    if (d != DType::Bool) same(arange(2, 77, 3, d, dev), arange(2, 77, 3, d));
  }
  for (DType d : kFloats) {
    INFO(dtype_name(d));
    same(full({9, 9}, 0.1, d, dev), full({9, 9}, 0.1, d));
    same(arange(-1.5, 2.25, 0.25, d, dev), arange(-1.5, 2.25, 0.25, d));
    same(linspace(-3.0, 5.0, 101, d, dev), linspace(-3.0, 5.0, 101, d));
    Generator g1(9), g2(9);
    same(rand({37, 13}, d, dev, &g1), rand({37, 13}, d, Device::cpu(), &g2));
    same(randn({37, 13}, d, dev, &g1), randn({37, 13}, d, Device::cpu(), &g2));
    same(uniform({1001}, -2.0, 3.0, d, dev, &g1), uniform({1001}, -2.0, 3.0, d, Device::cpu(), &g2));
    same(normal({1001}, 1.0, 0.5, d, dev, &g1), normal({1001}, 1.0, 0.5, d, Device::cpu(), &g2));
    same(bernoulli({1001}, 0.3, d, dev, &g1), bernoulli({1001}, 0.3, d, Device::cpu(), &g2));
  }
  Generator g1(10), g2(10);
  same(randint(-5, 9, {37, 13}, DType::I64, dev, &g1), randint(-5, 9, {37, 13}, DType::I64, Device::cpu(), &g2));
  same(randint(0, 200, {100}, DType::U8, dev, &g1), randint(0, 200, {100}, DType::U8, Device::cpu(), &g2));
  same(from_vector<float>({1.5f, -2.0f, 3.25f}, {3}, dev), from_vector<float>({1.5f, -2.0f, 3.25f}, {3}));
}
