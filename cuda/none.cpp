// Build without CUDA: the same interface, reporting that CUDA is unavailable.
#include <stdexcept>

#include "cuda/cuda.h"

namespace rvos::cuda {

bool is_available() { return false; }
int device_count() { return 0; }
void ensure_backend() {
  throw std::runtime_error("CUDA device requested, but rvos was built without CUDA (no nvcc found at configure time)");
}
std::string device_summary() { return "CUDA: not built (no CUDA compiler at configure time)"; }
AllocatorStats memory_stats(int) { return {}; }
void reset_peak_memory_stats(int) {}
void empty_cache(int) {}

}  // namespace rvos::cuda
