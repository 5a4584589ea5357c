#include "tensor/caching_allocator.h"

#include <algorithm>
#include <cstdio>
#include <stdexcept>
#include <utility>
#include <vector>

namespace rvos {

namespace {

double mib(int64_t bytes) { return static_cast<double>(bytes) / (1024.0 * 1024.0); }

}  // namespace

std::string AllocatorStats::str() const {
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "allocated %.1f MiB (peak %.1f), reserved %.1f MiB (peak %.1f) in %lld segment(s), "
                "%lld allocations (%lld from the cache), %lld device allocations, %lld device frees, "
                "%lld out-of-memory retries",
                mib(allocated_bytes), mib(peak_allocated_bytes), mib(reserved_bytes), mib(peak_reserved_bytes),
                static_cast<long long>(segments), static_cast<long long>(num_allocs),
                static_cast<long long>(num_cache_hits), static_cast<long long>(num_device_allocs),
                static_cast<long long>(num_device_frees), static_cast<long long>(num_ooms));
  return buf;
}

CachingAllocator::CachingAllocator(RawAllocator raw, std::string name) : raw_(std::move(raw)), name_(std::move(name)) {
  if (!raw_.alloc || !raw_.free) throw std::invalid_argument("CachingAllocator: raw alloc and free must be given");
}

CachingAllocator::~CachingAllocator() {
  std::lock_guard<std::mutex> lock(mutex_);
  // Every block, free or not, belongs to a segment; giving the segments back frees everything.
  std::vector<Block*> blocks(small_free_.begin(), small_free_.end());
  blocks.insert(blocks.end(), large_free_.begin(), large_free_.end());
  for (const auto& [ptr, block] : active_) blocks.push_back(block);
  for (Block* b : blocks) delete b;
  for (const auto& [segment, size] : segment_sizes_) raw_.free(segment, size);
}

size_t CachingAllocator::round_size(size_t nbytes) {
  if (nbytes < kMinBlockSize) return kMinBlockSize;
  return (nbytes + kMinBlockSize - 1) / kMinBlockSize * kMinBlockSize;
}

CachingAllocator::Block* CachingAllocator::find_free_block(Pool& pool, size_t size) {
  Block key;
  key.size = size;
  key.ptr = nullptr;
  const auto it = pool.lower_bound(&key);  // the smallest free block of at least `size`
  if (it == pool.end()) return nullptr;
  Block* block = *it;
  pool.erase(it);
  return block;
}

CachingAllocator::Block* CachingAllocator::new_segment(size_t segment_size, bool small_pool) {
  void* ptr = raw_.alloc(segment_size);
  if (ptr == nullptr) return nullptr;
  auto* block = new Block;
  block->ptr = static_cast<char*>(ptr);
  block->size = segment_size;
  block->small_pool = small_pool;
  block->segment = block->ptr;
  segment_sizes_[block->ptr] = segment_size;
  stats_.reserved_bytes += static_cast<int64_t>(segment_size);
  stats_.peak_reserved_bytes = std::max(stats_.peak_reserved_bytes, stats_.reserved_bytes);
  ++stats_.num_device_allocs;
  ++stats_.segments;
  return block;
}

void CachingAllocator::split(Block* block, size_t size, Pool& pool) {
  const size_t remaining = block->size - size;
  // Small leftovers of a large segment stay attached: a 1 MiB sliver would only fragment it.
  const bool worth = block->small_pool ? remaining >= kMinBlockSize : remaining > kSmallRequest;
  if (!worth) return;
  auto* rest = new Block;
  rest->ptr = block->ptr + size;
  rest->size = remaining;
  rest->small_pool = block->small_pool;
  rest->segment = block->segment;
  rest->prev = block;
  rest->next = block->next;
  if (block->next != nullptr) block->next->prev = rest;
  block->next = rest;
  block->size = size;
  pool.insert(rest);
}

void* CachingAllocator::allocate(size_t nbytes) {
  if (nbytes == 0) return nullptr;
  std::lock_guard<std::mutex> lock(mutex_);
  const size_t size = round_size(nbytes);
  const bool small_pool = size <= kSmallRequest;
  Pool& pool = small_pool ? small_free_ : large_free_;
  Block* block = find_free_block(pool, size);
  if (block != nullptr) {
    ++stats_.num_cache_hits;
  } else {
    const size_t segment_size =
        small_pool ? kSmallSegment : (size + kLargeRound - 1) / kLargeRound * kLargeRound;
    block = new_segment(segment_size, small_pool);
    if (block == nullptr) {
      // Out of device memory: give back what the cache holds unused, and try once more.
      ++stats_.num_ooms;
      release_free_segments();
      block = new_segment(segment_size, small_pool);
    }
    if (block == nullptr) {
      throw std::runtime_error(name_ + ": out of memory allocating " + std::to_string(nbytes) + " bytes (a " +
                               std::to_string(segment_size) + "-byte segment); " + stats_.str());
    }
  }
  split(block, size, pool);
  block->allocated = true;
  block->requested = nbytes;
  active_[block->ptr] = block;
  ++stats_.num_allocs;
  ++stats_.active_blocks;
  stats_.allocated_bytes += static_cast<int64_t>(block->size);
  stats_.requested_bytes += static_cast<int64_t>(nbytes);
  stats_.peak_allocated_bytes = std::max(stats_.peak_allocated_bytes, stats_.allocated_bytes);
  return block->ptr;
}

void CachingAllocator::deallocate(void* ptr) {
  if (ptr == nullptr) return;
  std::lock_guard<std::mutex> lock(mutex_);
  const auto it = active_.find(static_cast<char*>(ptr));
  if (it == active_.end()) throw std::logic_error(name_ + ": freeing memory this allocator did not hand out");
  Block* block = it->second;
  active_.erase(it);
  ++stats_.num_frees;
  --stats_.active_blocks;
  stats_.allocated_bytes -= static_cast<int64_t>(block->size);
  stats_.requested_bytes -= static_cast<int64_t>(block->requested);
  free_block(block);
}

void CachingAllocator::free_block(Block* block) {
  Pool& pool = block->small_pool ? small_free_ : large_free_;
  block->allocated = false;
  block->requested = 0;
  // Merge with free neighbours, so that a segment whose blocks are all free is one block again.
  if (block->prev != nullptr && !block->prev->allocated) {
    Block* prev = block->prev;
    pool.erase(prev);
    prev->size += block->size;
    prev->next = block->next;
    if (block->next != nullptr) block->next->prev = prev;
    delete block;
    block = prev;
  }
  if (block->next != nullptr && !block->next->allocated) {
    Block* next = block->next;
    pool.erase(next);
    block->size += next->size;
    block->next = next->next;
    if (next->next != nullptr) next->next->prev = block;
    delete next;
  }
  pool.insert(block);
}

void CachingAllocator::release_free_segments() {
  for (Pool* pool : {&small_free_, &large_free_}) {
    for (auto it = pool->begin(); it != pool->end();) {
      Block* block = *it;
      if (block->prev == nullptr && block->next == nullptr) {
        // The whole segment is this one free block.
        raw_.free(block->segment, block->size);
        segment_sizes_.erase(block->segment);
        stats_.reserved_bytes -= static_cast<int64_t>(block->size);
        ++stats_.num_device_frees;
        --stats_.segments;
        it = pool->erase(it);
        delete block;
      } else {
        ++it;
      }
    }
  }
}

void CachingAllocator::empty_cache() {
  std::lock_guard<std::mutex> lock(mutex_);
  release_free_segments();
}

AllocatorStats CachingAllocator::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

void CachingAllocator::reset_peak_stats() {
  std::lock_guard<std::mutex> lock(mutex_);
  stats_.peak_allocated_bytes = stats_.allocated_bytes;
  stats_.peak_reserved_bytes = stats_.reserved_bytes;
}

}  // namespace rvos
