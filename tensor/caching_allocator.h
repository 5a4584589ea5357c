#pragma once
// A caching allocator for device memory: memory is taken from the device in large segments,
// split into blocks for tensors, and kept for reuse when tensors die, so that the hot path of
// a model (thousands of short-lived activations per frame) never calls cudaMalloc / cudaFree.
//
// The scheme follows the well-known one of deep-learning frameworks:
// - sizes are rounded up to 512 bytes (every block stays 512-byte aligned);
// - requests of at most 1 MiB are served from 2 MiB "small" segments, larger ones from segments
//   of their own size rounded up to 2 MiB ("large"); the two pools never mix, which keeps small
//   blocks from fragmenting the large segments;
// - the smallest cached block that fits is taken (best fit) and split when the rest is worth
//   keeping (>= 512 B in the small pool, > 1 MiB in the large one);
// - a freed block merges with free neighbours of its segment;
// - when the device is out of memory, segments with no block in use are given back and the
//   request is retried once; then an error reports the request and the allocator's state.
//
// Blocks are reused as soon as they are freed. That is safe because every kernel and copy of a
// device runs on one stream (in order); work on other streams would need the block's last use
// recorded first.
//
// The allocator does not know about CUDA: it gets raw memory from a RawAllocator, so that it is
// tested on any machine with a fake one.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>

namespace rvos {

// The device's own allocation calls. alloc returns nullptr when the device is out of memory
// (other failures throw).
struct RawAllocator {
  std::function<void*(size_t nbytes)> alloc;
  std::function<void(void* ptr, size_t nbytes)> free;
};

struct AllocatorStats {
  int64_t allocated_bytes = 0;       // in blocks handed out (rounded sizes)
  int64_t peak_allocated_bytes = 0;
  int64_t reserved_bytes = 0;        // taken from the device (segments)
  int64_t peak_reserved_bytes = 0;
  int64_t requested_bytes = 0;       // as asked for (unrounded), in blocks handed out
  int64_t num_allocs = 0;            // allocate() calls served
  int64_t num_frees = 0;             // deallocate() calls
  int64_t num_cache_hits = 0;        // allocations served from cached blocks, no device call
  int64_t num_device_allocs = 0;     // segments taken from the device
  int64_t num_device_frees = 0;      // segments given back
  int64_t num_ooms = 0;              // device out-of-memory answers (before the retry)
  int64_t active_blocks = 0;
  int64_t segments = 0;
  std::string str() const;  // one line, MiB
};

class CachingAllocator {
 public:
  static constexpr size_t kMinBlockSize = 512;
  static constexpr size_t kSmallRequest = size_t{1} << 20;  // 1 MiB
  static constexpr size_t kSmallSegment = size_t{2} << 20;  // 2 MiB
  static constexpr size_t kLargeRound = size_t{2} << 20;    // large segments are multiples of 2 MiB

  // `name` (e.g. "cuda:0") appears in error messages.
  CachingAllocator(RawAllocator raw, std::string name);
  ~CachingAllocator();  // gives every segment back
  CachingAllocator(const CachingAllocator&) = delete;
  CachingAllocator& operator=(const CachingAllocator&) = delete;

  // nbytes == 0 gives nullptr. Throws std::runtime_error when the device cannot provide it.
  void* allocate(size_t nbytes);
  // ptr must come from allocate (nullptr is ignored); an unknown pointer throws std::logic_error.
  void deallocate(void* ptr);

  // Gives back every segment that has no block in use.
  void empty_cache();
  AllocatorStats stats() const;
  // Peaks restart from the current values.
  void reset_peak_stats();

  static size_t round_size(size_t nbytes);

 private:
  struct Block {
    char* ptr = nullptr;
    size_t size = 0;
    size_t requested = 0;
    bool allocated = false;
    bool small_pool = false;
    Block* prev = nullptr;  // neighbours in the same segment
    Block* next = nullptr;
    char* segment = nullptr;  // start of the segment
  };
  struct BySize {
    bool operator()(const Block* a, const Block* b) const {
      return a->size != b->size ? a->size < b->size : a->ptr < b->ptr;
    }
  };
  using Pool = std::set<Block*, BySize>;

  Block* find_free_block(Pool& pool, size_t size);
  Block* new_segment(size_t segment_size, bool small_pool);
  void split(Block* block, size_t size, Pool& pool);
  void release_free_segments();
  void free_block(Block* block);

  RawAllocator raw_;
  std::string name_;
  mutable std::mutex mutex_;
  Pool small_free_, large_free_;
  std::map<char*, Block*> active_;             // handed-out blocks by address
  std::map<char*, size_t> segment_sizes_;      // segments by start address
  AllocatorStats stats_;
};

}  // namespace rvos
