// CUDA device memory and transfers. Runs only where a GPU is present; elsewhere
// every case reports that it was skipped.
#include "cuda/cuda.h"
#include "testing.h"

using namespace rvos;
using namespace rvos::testing;

namespace {
bool gpu_present() {
  if (cuda::is_available()) return true;
  MESSAGE("skipped: no CUDA device (" << cuda::device_summary() << ")");
  return false;
}
}  // namespace

TEST_CASE("device summary always answers") { CHECK_FALSE(cuda::device_summary().empty()); }

TEST_CASE("host -> device -> host round trip keeps every dtype's bits") {
  if (!gpu_present()) return;
  for (DType d : {DType::Bool, DType::U8, DType::I32, DType::I64, DType::F16, DType::BF16, DType::F32, DType::F64}) {
    INFO(dtype_name(d));
    Tensor h = to(random({37, 5}, DType::F64, 3, 10.0), d);
    Tensor g = to(h, Device::cuda());
    CHECK(g.is_cuda());
    CHECK(g.dtype() == d);
    Tensor back = to(g, Device::cpu());
    CHECK(to_vector<double>(back) == to_vector<double>(h));
  }
}

TEST_CASE("device tensors: zeros, fill, item, printing, strided host sources") {
  if (!gpu_present()) return;
  Tensor z = zeros({3, 4}, DType::F32, Device::cuda());
  CHECK(to_vector<float>(z) == std::vector<float>(12, 0.0f));
  Tensor f = full({2}, 2.5, DType::F32, Device::cuda());
  CHECK(to_vector<float>(f) == std::vector<float>{2.5f, 2.5f});
  CHECK(select(f, 0, 1).item<float>() == 2.5f);
  CHECK(f.to_string().find("device=cuda:0") != std::string::npos);
  Tensor h = random({6, 7});
  Tensor g = to(non_contiguous(h), Device::cuda());  // strided host source, contiguous device copy
  CHECK(to_vector<double>(g) == to_vector<double>(h));
  Tensor cast = to(h, Device::cuda(), DType::F32);
  CHECK_CLOSE(to(cast, Device::cpu()), h, 1e-6, 1e-6);
}

TEST_CASE("ops without CUDA kernels refuse device tensors clearly") {
  if (!gpu_present()) return;
  // Sorting is the one op family that stays CPU-only.
  Tensor g = ones({2}, DType::F32, Device::cuda());
  CHECK_THROWS_WITH_AS(sort(g), doctest::Contains("no implementation for cuda:0"), std::runtime_error);
  CHECK_THROWS_WITH_AS(topk(g, 1), doctest::Contains("no implementation for cuda:0"), std::runtime_error);
}

TEST_CASE("device memory comes from the caching allocator and is reused") {
  // Without a GPU the counters exist and read zero.
  if (!cuda::is_available()) {
    CHECK(cuda::memory_stats(0).allocated_bytes == 0);
    CHECK(cuda::memory_stats(0).num_device_allocs == 0);
    MESSAGE("skipped: no CUDA device (" << cuda::device_summary() << ")");
    return;
  }
  cuda::ensure_backend();
  const AllocatorStats before = cuda::memory_stats(0);
  {
    Tensor a = zeros({1000, 1000}, DType::F32, Device::cuda());  // 4 MB: a large block
    Tensor b = zeros({100}, DType::F32, Device::cuda());         // a small block
    const AllocatorStats during = cuda::memory_stats(0);
    CHECK(during.allocated_bytes - before.allocated_bytes >= 4000000 + 400);
    CHECK(during.active_blocks - before.active_blocks == 2);
  }
  const AllocatorStats after = cuda::memory_stats(0);
  CHECK(after.allocated_bytes == before.allocated_bytes);
  CHECK(after.peak_allocated_bytes >= before.allocated_bytes + 4000000);
  // The same sizes again come from the cache, without asking the driver.
  for (int i = 0; i < 10; ++i) {
    Tensor a = zeros({1000, 1000}, DType::F32, Device::cuda());
    Tensor b = zeros({100}, DType::F32, Device::cuda());
  }
  const AllocatorStats again = cuda::memory_stats(0);
  CHECK(again.num_device_allocs == after.num_device_allocs);
  CHECK(again.num_cache_hits >= after.num_cache_hits + 20);
  cuda::empty_cache(0);
  CHECK(cuda::memory_stats(0).reserved_bytes <= again.reserved_bytes);
  cuda::reset_peak_memory_stats(0);
  CHECK(cuda::memory_stats(0).peak_allocated_bytes == cuda::memory_stats(0).allocated_bytes);
}

TEST_CASE("large host <-> device copies (pinned staging, several chunks) keep every bit") {
  if (!gpu_present()) return;
  // 9 M floats = 36 MB: above the staging threshold, and not a multiple of the chunk.
  Tensor h = random({3001, 2999}, DType::F64, 11, 100.0);
  Tensor f = to(h, DType::F32);
  Tensor g = to(f, Device::cuda());
  CHECK(to_vector<float>(to(g, Device::cpu())) == to_vector<float>(f));
  Tensor g64 = to(h, Device::cuda());
  CHECK(to_vector<double>(to(g64, Device::cpu())) == to_vector<double>(h));
}
