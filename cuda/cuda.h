#pragma once
// The CUDA runtime side of rvos: registering the CUDA device backend with the
// tensor layer, device memory through a caching allocator, the stream every kernel
// runs on, and device facts. Always linkable; in a build without CUDA every
// function reports that CUDA is unavailable (the counters read zero).
#include <cstdint>
#include <string>

#include "tensor/caching_allocator.h"

namespace rvos::cuda {

// True when rvos was built with CUDA and a device is usable.
bool is_available();
// Number of visible CUDA devices (0 without CUDA).
int device_count();
// Registers the CUDA backend with the tensor layer (idempotent). Throws with the
// reason when CUDA cannot be used.
void ensure_backend();
// One line per device: name, compute capability, memory; or why there is none.
std::string device_summary();

// Device memory of `device` as its caching allocator accounts it (zeros when
// nothing was allocated there yet, or without CUDA).
AllocatorStats memory_stats(int device = 0);
// Peaks restart from the current values.
void reset_peak_memory_stats(int device = 0);
// Gives cached, unused device memory back to the driver.
void empty_cache(int device = 0);

// Host <-> device copies of at least this many bytes go through pinned staging
// buffers (faster DMA, and pageable memory is never handed to the driver).
inline constexpr size_t kPinnedStagingThreshold = size_t{1} << 20;

}  // namespace rvos::cuda
