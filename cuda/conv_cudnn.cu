// cuDNN convolutions through its legacy convolution API: per-thread handles bound to the current
// stream, algorithms from cuDNN's heuristics (cached per problem), workspaces from the caching
// allocator. Float32 convolutions are restricted to FMA kernels unless TF32 is allowed.
#include <stdexcept>
#include <string>

#include "cuda/common.cuh"
#include "cuda/conv_cudnn.h"

#if RVOS_HAVE_CUDNN

#include <cudnn.h>

#include <array>
#include <climits>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace rvos::cuda::cudnn {

namespace {

void check_cudnn(cudnnStatus_t status, const char* call) {
  if (status != CUDNN_STATUS_SUCCESS) {
    throw std::runtime_error(std::string("cuDNN error in ") + call + ": " + cudnnGetErrorString(status));
  }
}
// Calls a cuDNN function and names it in the error.
#define RVOS_CUDNN(fn, ...) check_cudnn(fn(__VA_ARGS__), #fn)

constexpr int kMaxDevices = 16;

// Handles are created once per device and thread and kept for the life of the process (returned
// to a pool when their thread ends; never destroyed during static destruction).
class HandlePool {
 public:
  cudnnHandle_t acquire(int device) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto& free = free_[static_cast<size_t>(device)];
      if (!free.empty()) {
        cudnnHandle_t h = free.back();
        free.pop_back();
        return h;
      }
    }
    cudnnHandle_t h = nullptr;
    RVOS_CUDNN(cudnnCreate, &h);
    return h;
  }
  void release(int device, cudnnHandle_t h) {
    std::lock_guard<std::mutex> lock(mutex_);
    free_[static_cast<size_t>(device)].push_back(h);
  }

 private:
  std::mutex mutex_;
  std::array<std::vector<cudnnHandle_t>, kMaxDevices> free_;
};

HandlePool& pool() {
  static auto* p = new HandlePool;
  return *p;
}

struct ThreadHandles {
  std::array<cudnnHandle_t, kMaxDevices> handles{};
  ~ThreadHandles() {
    for (int d = 0; d < kMaxDevices; ++d) {
      if (handles[static_cast<size_t>(d)] != nullptr) pool().release(d, handles[static_cast<size_t>(d)]);
    }
  }
};
thread_local ThreadHandles tls_handles;

// The thread's handle of the current device, bound to the current stream.
cudnnHandle_t handle(int device) {
  if (device < 0 || device >= kMaxDevices) {
    throw std::invalid_argument("cuDNN: device index " + std::to_string(device) + " is out of range");
  }
  cudnnHandle_t& h = tls_handles.handles[static_cast<size_t>(device)];
  if (h == nullptr) h = pool().acquire(device);
  RVOS_CUDNN(cudnnSetStream, h, static_cast<cudaStream_t>(current_stream()));
  return h;
}

int to_int(int64_t v) {
  if (v < 0 || v > INT_MAX) throw std::invalid_argument("cuDNN: dimension " + std::to_string(v) + " is too large");
  return static_cast<int>(v);
}

cudnnDataType_t data_type(DType dt) {
  switch (dt) {
    case DType::F16: return CUDNN_DATA_HALF;
    case DType::BF16: return CUDNN_DATA_BFLOAT16;
    case DType::F32: return CUDNN_DATA_FLOAT;
    case DType::F64: return CUDNN_DATA_DOUBLE;
    default: throw std::invalid_argument(std::string("cuDNN convolution: unsupported dtype ") + dtype_name(dt));
  }
}

// The convolution's descriptors.
struct Problem {
  cudnnTensorDescriptor_t x = nullptr, y = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  bool fma_only = false;  // float32 without TF32

  Problem(const ConvGeometry& g, DType dt, bool allow_tf32) {
    const cudnnDataType_t type = data_type(dt);
    RVOS_CUDNN(cudnnCreateTensorDescriptor, &x);
    RVOS_CUDNN(cudnnCreateTensorDescriptor, &y);
    RVOS_CUDNN(cudnnCreateFilterDescriptor, &w);
    RVOS_CUDNN(cudnnCreateConvolutionDescriptor, &conv);
    RVOS_CUDNN(cudnnSetTensor4dDescriptor, x, CUDNN_TENSOR_NCHW, type, to_int(g.N), to_int(g.C_in), to_int(g.H),
               to_int(g.W));
    RVOS_CUDNN(cudnnSetTensor4dDescriptor, y, CUDNN_TENSOR_NCHW, type, to_int(g.N), to_int(g.C_out), to_int(g.OH),
               to_int(g.OW));
    RVOS_CUDNN(cudnnSetFilter4dDescriptor, w, type, CUDNN_TENSOR_NCHW, to_int(g.C_out), to_int(g.C_in / g.groups),
               to_int(g.kH), to_int(g.kW));
    RVOS_CUDNN(cudnnSetConvolution2dDescriptor, conv, to_int(g.pH), to_int(g.pW), to_int(g.sH), to_int(g.sW),
               to_int(g.dH), to_int(g.dW), CUDNN_CROSS_CORRELATION,
               dt == DType::F64 ? CUDNN_DATA_DOUBLE : CUDNN_DATA_FLOAT);
    RVOS_CUDNN(cudnnSetConvolutionGroupCount, conv, to_int(g.groups));
    fma_only = dt == DType::F32 && !allow_tf32;
  }
  ~Problem() {
    if (conv) cudnnDestroyConvolutionDescriptor(conv);
    if (w) cudnnDestroyFilterDescriptor(w);
    if (y) cudnnDestroyTensorDescriptor(y);
    if (x) cudnnDestroyTensorDescriptor(x);
  }
  Problem(const Problem&) = delete;
  Problem& operator=(const Problem&) = delete;

  // The math type to run a heuristic's answer with, or false when it would break the FMA-only rule.
  bool math_for(cudnnMathType_t suggested, cudnnMathType_t* math) const {
    if (fma_only) {
      if (suggested == CUDNN_TENSOR_OP_MATH || suggested == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION) return false;
      *math = CUDNN_FMA_MATH;
      return true;
    }
    *math = suggested;
    return true;
  }
};

enum class Kind { Forward, BackwardData, BackwardFilter };

using Key = std::array<int64_t, 20>;
struct Choice {
  int algo = 0;
  cudnnMathType_t math = CUDNN_DEFAULT_MATH;
};
thread_local std::unordered_map<Key, Choice, Int64ArrayHash> tls_choices;

Key key_of(Kind kind, const ConvGeometry& g, DType dt, bool allow_tf32, int device) {
  return {static_cast<int64_t>(kind), g.N, g.C_in, g.H, g.W, g.C_out, g.OH, g.OW, g.kH, g.kW, g.sH, g.sW, g.pH, g.pW,
          g.dH, g.dW, g.groups, static_cast<int64_t>(dt), allow_tf32 ? 1 : 0, device};
}

// Scaling factors in the type cuDNN reads them (double for double data, else float).
struct Scale {
  float f[2] = {1.0f, 0.0f};
  double d[2] = {1.0, 0.0};
  const void* alpha(DType dt) const { return dt == DType::F64 ? static_cast<const void*>(&d[0]) : &f[0]; }
  const void* beta(DType dt) const { return dt == DType::F64 ? static_cast<const void*>(&d[1]) : &f[1]; }
};

// Runs one of the three operations: tries the cached choice, else the heuristic's answers in order
// until one runs (an answer cuDNN then refuses as unsupported is skipped).
template <class Perf, int kCount, class Heuristic, class WorkspaceSize, class Run>
void run_convolution(Kind kind, const ConvGeometry& g, DType dt, bool allow_tf32, const char* what,
                     Heuristic heuristic, WorkspaceSize workspace_size, Run run) {
  int device = 0;
  RVOS_CUDA_CHECK(cudaGetDevice(&device));
  cudnnHandle_t h = handle(device);
  Problem problem(g, dt, allow_tf32);
  auto attempt = [&](int algo, cudnnMathType_t math) -> cudnnStatus_t {
    RVOS_CUDNN(cudnnSetConvolutionMathType, problem.conv, math);
    size_t bytes = 0;
    const cudnnStatus_t size_status = workspace_size(h, problem, algo, &bytes);
    if (size_status != CUDNN_STATUS_SUCCESS) return size_status;
    Tensor workspace;
    if (bytes > 0) workspace = Tensor::empty({static_cast<int64_t>(bytes)}, DType::U8, Device::cuda(device));
    return run(h, problem, algo, bytes > 0 ? workspace.raw_data() : nullptr, bytes);
  };
  const Key key = key_of(kind, g, dt, allow_tf32, device);
  if (auto it = tls_choices.find(key); it != tls_choices.end()) {
    check_cudnn(attempt(it->second.algo, it->second.math), what);
    return;
  }
  std::array<Perf, kCount> perfs{};
  int returned = 0;
  check_cudnn(heuristic(h, problem, kCount, &returned, perfs.data()), what);
  cudnnStatus_t last = CUDNN_STATUS_NOT_SUPPORTED;
  for (int i = 0; i < returned; ++i) {
    cudnnMathType_t math;
    if (perfs[i].status != CUDNN_STATUS_SUCCESS || !problem.math_for(perfs[i].mathType, &math)) continue;
    last = attempt(static_cast<int>(perfs[i].algo), math);
    if (last == CUDNN_STATUS_SUCCESS) {
      tls_choices[key] = Choice{static_cast<int>(perfs[i].algo), math};
      return;
    }
    if (last != CUDNN_STATUS_NOT_SUPPORTED && last != CUDNN_STATUS_BAD_PARAM) break;
  }
  check_cudnn(last, what);
}

}  // namespace

bool available() { return true; }

void conv_forward(const Tensor& y, const Tensor& x, const Tensor& w, const ConvGeometry& g, bool allow_tf32) {
  const DType dt = y.dtype();
  const Scale s;
  run_convolution<cudnnConvolutionFwdAlgoPerf_t, CUDNN_CONVOLUTION_FWD_ALGO_COUNT>(
      Kind::Forward, g, dt, allow_tf32, "cudnnConvolutionForward",
      [](cudnnHandle_t h, const Problem& p, int count, int* returned, cudnnConvolutionFwdAlgoPerf_t* perfs) {
        return cudnnGetConvolutionForwardAlgorithm_v7(h, p.x, p.w, p.conv, p.y, count, returned, perfs);
      },
      [](cudnnHandle_t h, const Problem& p, int algo, size_t* bytes) {
        return cudnnGetConvolutionForwardWorkspaceSize(h, p.x, p.w, p.conv, p.y,
                                                       static_cast<cudnnConvolutionFwdAlgo_t>(algo), bytes);
      },
      [&](cudnnHandle_t h, const Problem& p, int algo, void* workspace, size_t bytes) {
        return cudnnConvolutionForward(h, s.alpha(dt), p.x, x.raw_data(), p.w, w.raw_data(), p.conv,
                                       static_cast<cudnnConvolutionFwdAlgo_t>(algo), workspace, bytes, s.beta(dt), p.y,
                                       y.raw_data());
      });
}

void conv_backward_data(const Tensor& gx, const Tensor& gy, const Tensor& w, const ConvGeometry& g, bool allow_tf32) {
  const DType dt = gx.dtype();
  const Scale s;
  run_convolution<cudnnConvolutionBwdDataAlgoPerf_t, CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT>(
      Kind::BackwardData, g, dt, allow_tf32, "cudnnConvolutionBackwardData",
      [](cudnnHandle_t h, const Problem& p, int count, int* returned, cudnnConvolutionBwdDataAlgoPerf_t* perfs) {
        return cudnnGetConvolutionBackwardDataAlgorithm_v7(h, p.w, p.y, p.conv, p.x, count, returned, perfs);
      },
      [](cudnnHandle_t h, const Problem& p, int algo, size_t* bytes) {
        return cudnnGetConvolutionBackwardDataWorkspaceSize(h, p.w, p.y, p.conv, p.x,
                                                            static_cast<cudnnConvolutionBwdDataAlgo_t>(algo), bytes);
      },
      [&](cudnnHandle_t h, const Problem& p, int algo, void* workspace, size_t bytes) {
        return cudnnConvolutionBackwardData(h, s.alpha(dt), p.w, w.raw_data(), p.y, gy.raw_data(), p.conv,
                                            static_cast<cudnnConvolutionBwdDataAlgo_t>(algo), workspace, bytes,
                                            s.beta(dt), p.x, gx.raw_data());
      });
}

void conv_backward_filter(const Tensor& gw, const Tensor& x, const Tensor& gy, const ConvGeometry& g,
                          bool allow_tf32) {
  const DType dt = gw.dtype();
  const Scale s;
  run_convolution<cudnnConvolutionBwdFilterAlgoPerf_t, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT>(
      Kind::BackwardFilter, g, dt, allow_tf32, "cudnnConvolutionBackwardFilter",
      [](cudnnHandle_t h, const Problem& p, int count, int* returned, cudnnConvolutionBwdFilterAlgoPerf_t* perfs) {
        return cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, p.x, p.y, p.conv, p.w, count, returned, perfs);
      },
      [](cudnnHandle_t h, const Problem& p, int algo, size_t* bytes) {
        return cudnnGetConvolutionBackwardFilterWorkspaceSize(
            h, p.x, p.y, p.conv, p.w, static_cast<cudnnConvolutionBwdFilterAlgo_t>(algo), bytes);
      },
      [&](cudnnHandle_t h, const Problem& p, int algo, void* workspace, size_t bytes) {
        return cudnnConvolutionBackwardFilter(h, s.alpha(dt), p.x, x.raw_data(), p.y, gy.raw_data(), p.conv,
                                              static_cast<cudnnConvolutionBwdFilterAlgo_t>(algo), workspace, bytes,
                                              s.beta(dt), p.w, gw.raw_data());
      });
}

}  // namespace rvos::cuda::cudnn

#else  // no cuDNN at build time

namespace rvos::cuda::cudnn {

namespace {
[[noreturn]] void unavailable() {
  throw std::runtime_error("conv2d: the cuDNN backend was requested, but rvos was built without cuDNN");
}
}  // namespace

bool available() { return false; }
void conv_forward(const Tensor&, const Tensor&, const Tensor&, const ConvGeometry&, bool) { unavailable(); }
void conv_backward_data(const Tensor&, const Tensor&, const Tensor&, const ConvGeometry&, bool) { unavailable(); }
void conv_backward_filter(const Tensor&, const Tensor&, const Tensor&, const ConvGeometry&, bool) { unavailable(); }

}  // namespace rvos::cuda::cudnn

#endif
