// The CUDA device backend: device memory through the caching allocator, copies
// between host and device (pinned staging for large ones), and device facts,
// every runtime call checked with the call named in the error.
#include <cuda_runtime.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <string>

#include "cuda/cuda.h"
#include "tensor/storage.h"

namespace rvos::cuda {

namespace {

void check(cudaError_t err, const char* call) {
  if (err != cudaSuccess) {
    throw std::runtime_error(std::string("CUDA error in ") + call + ": " + cudaGetErrorName(err) + " (" +
                             cudaGetErrorString(err) + ")");
  }
}
#define RVOS_CUDA_CHECK(call) check((call), #call)

constexpr int kMaxDevices = 16;

void check_device_index(int device) {
  if (device < 0 || device >= kMaxDevices) {
    throw std::invalid_argument("CUDA device index " + std::to_string(device) + " is out of range");
  }
}

// One caching allocator per device, created on first use and never destroyed: tensors in
// static objects may outlive any destruction order we could choose.
CachingAllocator& allocator_for(int device) {
  check_device_index(device);
  static std::array<CachingAllocator*, kMaxDevices> allocators{};
  static std::mutex mutex;
  std::lock_guard<std::mutex> lock(mutex);
  CachingAllocator*& a = allocators[static_cast<size_t>(device)];
  if (a == nullptr) {
    RawAllocator raw;
    raw.alloc = [device](size_t nbytes) -> void* {
      RVOS_CUDA_CHECK(cudaSetDevice(device));
      void* p = nullptr;
      const cudaError_t err = cudaMalloc(&p, nbytes);
      if (err == cudaErrorMemoryAllocation) {
        cudaGetLastError();  // clear the sticky-free error so that the retry can succeed
        return nullptr;
      }
      check(err, "cudaMalloc");
      return p;
    };
    raw.free = [device](void* p, size_t) {
      cudaSetDevice(device);
      cudaFree(p);  // no throw: also runs on error paths
    };
    a = new CachingAllocator(std::move(raw), "cuda:" + std::to_string(device));
  }
  return *a;
}

bool allocator_exists(int device) { return device >= 0 && device < device_count(); }

// A pinned host buffer reused for large transfers, chunk by chunk.
class PinnedStaging {
 public:
  static constexpr size_t kChunk = size_t{8} << 20;

  void copy_to_device(void* dst, const void* src, size_t nbytes) {
    std::lock_guard<std::mutex> lock(mutex_);
    ensure();
    for (size_t done = 0; done < nbytes; done += kChunk) {
      const size_t n = std::min(kChunk, nbytes - done);
      std::memcpy(buffer_, static_cast<const char*>(src) + done, n);
      RVOS_CUDA_CHECK(cudaMemcpy(static_cast<char*>(dst) + done, buffer_, n, cudaMemcpyHostToDevice));
    }
  }
  void copy_to_host(void* dst, const void* src, size_t nbytes) {
    std::lock_guard<std::mutex> lock(mutex_);
    ensure();
    for (size_t done = 0; done < nbytes; done += kChunk) {
      const size_t n = std::min(kChunk, nbytes - done);
      RVOS_CUDA_CHECK(cudaMemcpy(buffer_, static_cast<const char*>(src) + done, n, cudaMemcpyDeviceToHost));
      std::memcpy(static_cast<char*>(dst) + done, buffer_, n);
    }
  }

 private:
  void ensure() {
    if (buffer_ == nullptr) RVOS_CUDA_CHECK(cudaMallocHost(&buffer_, kChunk));
  }
  std::mutex mutex_;
  void* buffer_ = nullptr;  // kept for the life of the process
};

PinnedStaging& staging() {
  static auto* s = new PinnedStaging;
  return *s;
}

class CudaBackend final : public DeviceBackend {
 public:
  void* allocate(size_t nbytes, int device) override {
    if (nbytes == 0) return nullptr;
    return allocator_for(device).allocate(nbytes);
  }
  void deallocate(void* ptr, size_t, int device) override {
    if (!ptr) return;
    allocator_for(device).deallocate(ptr);
  }
  void copy(void* dst, Device dst_device, const void* src, Device src_device, size_t nbytes) override {
    if (nbytes == 0) return;
    if (dst_device.is_cuda() && src_device.is_cuda()) {
      RVOS_CUDA_CHECK(cudaMemcpy(dst, src, nbytes, cudaMemcpyDeviceToDevice));
    } else if (dst_device.is_cuda()) {
      RVOS_CUDA_CHECK(cudaSetDevice(dst_device.index));
      if (nbytes >= kPinnedStagingThreshold) {
        staging().copy_to_device(dst, src, nbytes);
      } else {
        RVOS_CUDA_CHECK(cudaMemcpy(dst, src, nbytes, cudaMemcpyHostToDevice));
      }
    } else {
      RVOS_CUDA_CHECK(cudaSetDevice(src_device.index));
      if (nbytes >= kPinnedStagingThreshold) {
        staging().copy_to_host(dst, src, nbytes);
      } else {
        RVOS_CUDA_CHECK(cudaMemcpy(dst, src, nbytes, cudaMemcpyDeviceToHost));
      }
    }
  }
  void fill_zero(void* ptr, size_t nbytes, int device) override {
    if (nbytes == 0) return;
    RVOS_CUDA_CHECK(cudaSetDevice(device));
    RVOS_CUDA_CHECK(cudaMemset(ptr, 0, nbytes));
  }
  int device_count() override { return cuda::device_count(); }
  void synchronize(int device) override {
    RVOS_CUDA_CHECK(cudaSetDevice(device));
    RVOS_CUDA_CHECK(cudaDeviceSynchronize());
  }
};

}  // namespace

int device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) return 0;
  return n;
}

bool is_available() { return device_count() > 0; }

void ensure_backend() {
  static std::once_flag once;
  std::call_once(once, [] {
    static CudaBackend backend;
    register_backend(DeviceType::CUDA, &backend);
  });
  if (!is_available()) {
    int n = 0;
    cudaError_t err = cudaGetDeviceCount(&n);
    throw std::runtime_error(std::string("CUDA device requested, but no CUDA device is usable: ") +
                             (err != cudaSuccess ? cudaGetErrorString(err) : "no devices found"));
  }
}

AllocatorStats memory_stats(int device) {
  if (!allocator_exists(device)) return {};
  return allocator_for(device).stats();
}

void reset_peak_memory_stats(int device) {
  if (allocator_exists(device)) allocator_for(device).reset_peak_stats();
}

void empty_cache(int device) {
  if (allocator_exists(device)) allocator_for(device).empty_cache();
}

std::string device_summary() {
  int n = 0;
  cudaError_t err = cudaGetDeviceCount(&n);
  if (err != cudaSuccess) {
    return std::string("CUDA: built, but no usable GPU (") + cudaGetErrorString(err) + ")";
  }
  if (n == 0) return "CUDA: built, but no device found";
  std::ostringstream os;
  int runtime = 0, driver = 0;
  cudaRuntimeGetVersion(&runtime);
  cudaDriverGetVersion(&driver);
  os << "CUDA: runtime " << runtime / 1000 << "." << (runtime % 1000) / 10 << ", driver " << driver / 1000 << "."
     << (driver % 1000) / 10 << ", " << n << " device(s)";
  for (int i = 0; i < n; ++i) {
    cudaDeviceProp prop{};
    if (cudaGetDeviceProperties(&prop, i) != cudaSuccess) continue;
    os << "\n  cuda:" << i << " " << prop.name << ", sm_" << prop.major << prop.minor << ", "
       << (prop.totalGlobalMem >> 20) << " MiB, " << prop.multiProcessorCount << " SMs";
  }
  return os.str();
}

}  // namespace rvos::cuda
