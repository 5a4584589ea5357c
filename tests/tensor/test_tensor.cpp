#include "cuda/cuda.h"
#include "testing.h"

using namespace rvos;

TEST_CASE("empty tensor has contiguous geometry") {
  Tensor t = Tensor::empty({2, 3, 4}, DType::F32);
  CHECK(t.shape() == Shape{2, 3, 4});
  CHECK(t.strides() == Shape{12, 4, 1});
  CHECK(t.numel() == 24);
  CHECK(t.dim() == 3);
  CHECK(t.is_contiguous());
  CHECK(t.size(-1) == 4);
  CHECK(t.storage()->nbytes() == 24 * 4);
  CHECK(reinterpret_cast<uintptr_t>(t.raw_data()) % 64 == 0);
}

TEST_CASE("a tensor without elements is contiguous whatever its strides") {
  Tensor t = Tensor::empty({2, 0, 7}, DType::F32);
  CHECK(t.numel() == 0);
  CHECK(t.is_contiguous());
  CHECK(permute(t, {2, 0, 1}).is_contiguous());
  CHECK(transpose(Tensor::empty({0, 3}, DType::F32), 0, 1).is_contiguous());
  CHECK_FALSE(transpose(Tensor::empty({2, 3}, DType::F32), 0, 1).is_contiguous());
}

TEST_CASE("every dtype has a size and a name") {
  for (DType d : {DType::Bool, DType::U8, DType::I32, DType::I64, DType::F16, DType::BF16, DType::F32, DType::F64}) {
    Tensor t = zeros({3}, d);
    CHECK(t.dtype() == d);
    CHECK(t.element_size() == dtype_size(d));
    CHECK(dtype_from_name(dtype_name(d)) == d);
  }
  CHECK_THROWS_WITH_AS(dtype_from_name("float17"), doctest::Contains("unknown dtype 'float17'"), std::invalid_argument);
}

TEST_CASE("type promotion follows PyTorch") {
  CHECK(promote_types(DType::I64, DType::F32) == DType::F32);
  CHECK(promote_types(DType::F16, DType::BF16) == DType::F32);
  CHECK(promote_types(DType::F16, DType::F32) == DType::F32);
  CHECK(promote_types(DType::U8, DType::I32) == DType::I32);
  CHECK(promote_types(DType::Bool, DType::U8) == DType::U8);
  CHECK(promote_types(DType::F32, DType::F64) == DType::F64);
}

TEST_CASE("views share storage and are not copies") {
  Tensor a = arange(24, DType::F32);
  Tensor b = reshape(a, {2, 3, 4});
  CHECK(b.storage() == a.storage());
  Tensor p = permute(b, {2, 0, 1});
  CHECK(p.storage() == a.storage());
  CHECK_FALSE(p.is_contiguous());
  CHECK(p.shape() == Shape{4, 2, 3});
  CHECK(p.strides() == Shape{1, 12, 4});
  Tensor c = contiguous(p);
  CHECK(c.storage() != a.storage());
  CHECK(c.is_contiguous());
  Tensor same = contiguous(b);
  CHECK(same.is_same(b));
  // Writes through a view are visible in the base.
  fill_(select(b, 1, 2), -1.0);
  auto v = to_vector<float>(a);
  CHECK(v[8] == -1.0f);
  CHECK(v[20] == -1.0f);
  CHECK(v[7] == 7.0f);
}

TEST_CASE("printing shows shape, dtype, device and abbreviated values") {
  Tensor t = reshape(arange(6, DType::F32), {2, 3});
  std::string s = t.to_string();
  CHECK(s.find("shape=[2, 3]") != std::string::npos);
  CHECK(s.find("dtype=float32") != std::string::npos);
  CHECK(s.find("device=cpu") != std::string::npos);
  CHECK(s.find("5.0000") != std::string::npos);
  std::string big = arange(100, DType::I64).to_string();
  CHECK(big.find("...") != std::string::npos);
  CHECK(big.find("99") != std::string::npos);
  CHECK(big.find(" 50") == std::string::npos);
  CHECK(Tensor().to_string() == "tensor(undefined)");
  CHECK(to(tensor({1, 0}), DType::Bool).to_string().find("True, False") != std::string::npos);
}

TEST_CASE("item reads one element and refuses more") {
  CHECK(scalar_tensor(2.5, DType::F64).item<double>() == 2.5);
  CHECK(full({1, 1}, 7, DType::I32).item<int64_t>() == 7);
  CHECK_THROWS_WITH_AS(zeros({2}).item<float>(), doctest::Contains("has 2 elements"), std::invalid_argument);
}

TEST_CASE("typed access checks the dtype") {
  Tensor t = zeros({2}, DType::F32);
  CHECK_THROWS_WITH_AS(t.data<double>(), doctest::Contains("float32, accessed as float64"), std::invalid_argument);
}

TEST_CASE("wrap_dim names the bad dim") {
  Tensor t = zeros({2, 3});
  CHECK(t.wrap_dim(-1) == 1);
  CHECK_THROWS_WITH_AS(t.size(2), doctest::Contains("dim 2 is out of range"), std::out_of_range);
}

TEST_CASE("devices parse and CUDA without a backend fails clearly") {
  CHECK(Device::parse("cpu") == Device::cpu());
  CHECK(Device::parse("cuda:1") == Device::cuda(1));
  CHECK_THROWS_WITH_AS(Device::parse("tpu"), doctest::Contains("unknown device 'tpu'"), std::invalid_argument);
  if (!cuda::is_available()) {
    CHECK_THROWS_WITH_AS(zeros({2}, DType::F32, Device::cuda()), doctest::Contains("CUDA device requested"),
                         std::runtime_error);
  }
}

TEST_CASE("from_blob wraps external memory and keeps its owner alive") {
  auto owner = std::make_shared<std::vector<float>>(std::vector<float>{1, 2, 3, 4});
  Tensor t = Tensor::from_blob(owner->data(), {2, 2}, DType::F32, Device::cpu(), owner);
  std::weak_ptr<std::vector<float>> weak = owner;
  owner.reset();
  CHECK_FALSE(weak.expired());
  CHECK(to_vector<float>(t) == std::vector<float>{1, 2, 3, 4});
  t = Tensor();
  CHECK(weak.expired());
}

TEST_CASE("set_data swaps the data under every handle, keeping the leaf") {
  Tensor p = zeros({2});
  p.set_requires_grad(true);
  Tensor alias = p;
  p.set_data(from_vector<float>({1, 2, 3}, {3}));
  CHECK(alias.shape() == Shape{3});
  CHECK(to_vector<float>(alias) == std::vector<float>{1, 2, 3});
  CHECK(alias.requires_grad());
  CHECK_THROWS_WITH_AS(p.set_data(zeros({1}, DType::I64)), doctest::Contains("cannot take int64"), std::invalid_argument);
  Tensor q = mul(p, 2.0);
  CHECK_THROWS_AS(q.set_data(zeros({1})), std::logic_error);
}
