// Shared runtime pieces of the kernels: error reporting, launch checks, streams, events, indexers.
#include <cstdlib>
#include <string>

#include "cuda/common.cuh"
#include "cuda/stream.h"

namespace rvos::cuda {

void throw_cuda_error(cudaError_t err, const char* call, const char* file, int line) {
  std::string where = file;
  const size_t slash = where.find_last_of('/');
  if (slash != std::string::npos) where = where.substr(slash + 1);
  throw std::runtime_error(std::string("CUDA error in ") + call + " (" + where + ":" + std::to_string(line) +
                           "): " + cudaGetErrorName(err) + " (" + cudaGetErrorString(err) + ")");
}

namespace {

bool sync_check_enabled() {
  static const bool enabled = [] {
    const char* v = std::getenv("RVOS_CUDA_SYNC_CHECK");
    return v != nullptr && std::string(v) == "1";
  }();
  return enabled;
}

thread_local cudaStream_t tls_stream = nullptr;

}  // namespace

void check_launch(const char* kernel_name, const char* file, int line) {
  cudaError_t err = cudaGetLastError();
  if (err == cudaSuccess && sync_check_enabled()) err = cudaStreamSynchronize(tls_stream);
  if (err != cudaSuccess) throw_cuda_error(err, kernel_name, file, line);
}

StridedIndexer make_indexer(const Tensor& t) {
  StridedIndexer ix;
  if (t.dim() > kMaxDims) {
    throw std::invalid_argument("CUDA kernels address at most " + std::to_string(kMaxDims) + " dimensions, got " +
                                std::to_string(t.dim()));
  }
  if (t.dim() == 0) {
    ix.ndim = 1;
    ix.sizes[0] = 1;
    ix.strides[0] = 0;
    return ix;
  }
  ix.ndim = static_cast<int32_t>(t.dim());
  for (int64_t d = 0; d < t.dim(); ++d) {
    ix.sizes[d] = t.size(d);
    ix.strides[d] = t.strides()[static_cast<size_t>(d)];
  }
  return ix;
}

int set_device_of(const Tensor& t) {
  const int device = t.device().index;
  RVOS_CUDA_CHECK(cudaSetDevice(device));
  return device;
}

StreamHandle current_stream() { return tls_stream; }

Stream::Stream(bool non_blocking) {
  cudaStream_t s = nullptr;
  RVOS_CUDA_CHECK(cudaStreamCreateWithFlags(&s, non_blocking ? cudaStreamNonBlocking : cudaStreamDefault));
  handle_ = s;
}

Stream::~Stream() {
  if (handle_ != nullptr) cudaStreamDestroy(static_cast<cudaStream_t>(handle_));
}

void Stream::synchronize() const { RVOS_CUDA_CHECK(cudaStreamSynchronize(static_cast<cudaStream_t>(handle_))); }

StreamGuard::StreamGuard(StreamHandle stream) : previous_(tls_stream) { tls_stream = static_cast<cudaStream_t>(stream); }

StreamGuard::~StreamGuard() { tls_stream = static_cast<cudaStream_t>(previous_); }

Event::Event(bool timing) {
  cudaEvent_t e = nullptr;
  RVOS_CUDA_CHECK(cudaEventCreateWithFlags(&e, timing ? cudaEventDefault : cudaEventDisableTiming));
  handle_ = e;
}

Event::~Event() {
  if (handle_ != nullptr) cudaEventDestroy(static_cast<cudaEvent_t>(handle_));
}

void Event::record(StreamHandle stream) {
  RVOS_CUDA_CHECK(cudaEventRecord(static_cast<cudaEvent_t>(handle_), static_cast<cudaStream_t>(stream)));
}

void Event::synchronize() const { RVOS_CUDA_CHECK(cudaEventSynchronize(static_cast<cudaEvent_t>(handle_))); }

void Event::block(StreamHandle stream) const {
  RVOS_CUDA_CHECK(cudaStreamWaitEvent(static_cast<cudaStream_t>(stream), static_cast<cudaEvent_t>(handle_), 0));
}

float Event::elapsed_ms(const Event& start) const {
  float ms = 0.0f;
  RVOS_CUDA_CHECK(cudaEventElapsedTime(&ms, static_cast<cudaEvent_t>(start.handle_), static_cast<cudaEvent_t>(handle_)));
  return ms;
}

}  // namespace rvos::cuda
