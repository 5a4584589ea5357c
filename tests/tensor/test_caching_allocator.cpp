// The caching allocator behind device memory, on a fake device (host memory with a capacity), so
// that its reuse, splitting, merging, out-of-memory retry and counters are tested everywhere.
#include <cstdlib>
#include <map>
#include <random>
#include <vector>

#include "tensor/caching_allocator.h"
#include "testing.h"

using namespace rvos;

namespace {

// Host memory standing in for a device of `capacity` bytes.
struct FakeDevice {
  size_t capacity = size_t{1} << 30;
  size_t used = 0;
  int allocs = 0, frees = 0;
  std::map<void*, size_t> live;

  RawAllocator raw() {
    return {[this](size_t n) -> void* {
              if (used + n > capacity) return nullptr;
              void* p = std::aligned_alloc(512, n);
              used += n;
              ++allocs;
              live[p] = n;
              return p;
            },
            [this](void* p, size_t n) {
              REQUIRE(live.count(p) == 1);
              CHECK(live[p] == n);
              live.erase(p);
              used -= n;
              ++frees;
              std::free(p);
            }};
  }
};

constexpr size_t kMiB = size_t{1} << 20;

}  // namespace

TEST_CASE("sizes round up to 512 bytes") {
  CHECK(CachingAllocator::round_size(1) == 512);
  CHECK(CachingAllocator::round_size(512) == 512);
  CHECK(CachingAllocator::round_size(513) == 1024);
}

TEST_CASE("small blocks share a 2 MiB segment and freed blocks are reused without device calls") {
  FakeDevice device;
  {
    CachingAllocator alloc(device.raw(), "fake:0");
    void* a = alloc.allocate(1000);
    void* b = alloc.allocate(3000);
    CHECK(device.allocs == 1);  // one small segment serves both
    CHECK(static_cast<char*>(b) - static_cast<char*>(a) == 1024);
    CHECK(reinterpret_cast<uintptr_t>(b) % 512 == 0);
    AllocatorStats s = alloc.stats();
    CHECK(s.allocated_bytes == 1024 + 3072);
    CHECK(s.requested_bytes == 4000);
    CHECK(s.reserved_bytes == static_cast<int64_t>(2 * kMiB));
    CHECK(s.active_blocks == 2);

    alloc.deallocate(a);
    void* c = alloc.allocate(700);  // fits in a's block
    CHECK(c == a);
    CHECK(alloc.stats().num_cache_hits >= 2);
    alloc.deallocate(b);
    alloc.deallocate(c);
    s = alloc.stats();
    CHECK(s.allocated_bytes == 0);
    CHECK(s.active_blocks == 0);
    CHECK(s.peak_allocated_bytes == 1024 + 3072);
    CHECK(device.frees == 0);  // cached, not given back
    alloc.empty_cache();
    CHECK(device.frees == 1);
    CHECK(alloc.stats().reserved_bytes == 0);
  }
  CHECK(device.live.empty());
}

TEST_CASE("large blocks get their own segments, split only for large leftovers") {
  FakeDevice device;
  CachingAllocator alloc(device.raw(), "fake:0");
  void* a = alloc.allocate(5 * kMiB + 1);  // segment of 6 MiB, 1 MiB less 511 bytes left: not split
  CHECK(device.allocs == 1);
  CHECK(alloc.stats().allocated_bytes == static_cast<int64_t>(6 * kMiB));
  alloc.deallocate(a);
  void* b = alloc.allocate(2 * kMiB);  // reuses the 6 MiB segment, split: 4 MiB stay free
  CHECK(b == a);
  CHECK(device.allocs == 1);
  void* c = alloc.allocate(3 * kMiB);
  CHECK(c == static_cast<char*>(a) + 2 * kMiB);
  CHECK(device.allocs == 1);
  // Small requests never come from large segments.
  void* d = alloc.allocate(100);
  CHECK(device.allocs == 2);
  alloc.deallocate(b);
  alloc.deallocate(c);
  alloc.deallocate(d);
  // Freed neighbours merged back into whole segments, which empty_cache returns.
  alloc.empty_cache();
  CHECK(device.live.empty());
  CHECK(alloc.stats().segments == 0);
}

TEST_CASE("out of memory: cached segments are released and the request retried, then a clear error") {
  FakeDevice device;
  device.capacity = 8 * kMiB;
  CachingAllocator alloc(device.raw(), "fake:0");
  void* a = alloc.allocate(6 * kMiB);
  alloc.deallocate(a);  // cached: 6 MiB reserved, nothing in use
  void* b = alloc.allocate(4 * kMiB);  // served by splitting the cached 6 MiB block
  CHECK(b == a);
  alloc.deallocate(b);
  void* c = alloc.allocate(7 * kMiB);  // needs the cache emptied first
  CHECK(c != nullptr);
  CHECK(alloc.stats().num_ooms == 1);
  CHECK(alloc.stats().num_device_frees == 1);
  CHECK_THROWS_WITH_AS(alloc.allocate(2 * kMiB), doctest::Contains("fake:0: out of memory"), std::runtime_error);
  alloc.deallocate(c);
  CHECK_THROWS_AS(alloc.deallocate(reinterpret_cast<void*>(0x1234)), std::logic_error);
  alloc.deallocate(nullptr);
  CHECK(alloc.allocate(0) == nullptr);
}

TEST_CASE("random allocation patterns keep blocks disjoint and the accounting exact") {
  FakeDevice device;
  CachingAllocator alloc(device.raw(), "fake:0");
  std::mt19937 rng(7);
  std::map<char*, size_t> live;
  int64_t live_rounded = 0;
  for (int step = 0; step < 4000; ++step) {
    if (live.empty() || (live.size() < 200 && rng() % 2 == 0)) {
      const size_t n = (rng() % 4 == 0) ? 1 + rng() % (5 * kMiB) : 1 + rng() % 20000;
      char* p = static_cast<char*>(alloc.allocate(n));
      // No overlap with any live block.
      auto next = live.lower_bound(p);
      if (next != live.end()) REQUIRE(p + n <= next->first);
      if (next != live.begin()) {
        auto prev = std::prev(next);
        REQUIRE(prev->first + prev->second <= p);
      }
      live[p] = n;
      live_rounded += static_cast<int64_t>(CachingAllocator::round_size(n));
    } else {
      auto it = live.begin();
      std::advance(it, static_cast<long>(rng() % live.size()));
      alloc.deallocate(it->first);
      live_rounded -= static_cast<int64_t>(CachingAllocator::round_size(it->second));
      live.erase(it);
    }
    const AllocatorStats s = alloc.stats();
    REQUIRE(s.active_blocks == static_cast<int64_t>(live.size()));
    // Large blocks may keep an unsplit leftover of under 1 MiB.
    REQUIRE(s.allocated_bytes >= live_rounded);
    REQUIRE(s.reserved_bytes == static_cast<int64_t>(device.used));
  }
  for (const auto& [p, n] : live) alloc.deallocate(p);
  alloc.empty_cache();
  CHECK(device.live.empty());
  CHECK(alloc.stats().num_cache_hits > 1000);
  CHECK_FALSE(alloc.stats().str().empty());
}
