// Fused scaled-dot-product attention on the GPU (cuda/attention.h) at the shapes of the models:
// SAM 2 memory attention (1 head, dim 256, 4096 queries against 4096 or ~29k memory tokens),
// Hiera-L windowed attention (dim 72, thousands of 64- or 256-token windows), BEiT-3 (dim 64,
// 240 tokens), and the SAM mask decoder (dim 16, 8 tokens against 4096 image tokens and back).
//
// Each benchmark times our kernel and, in the same run, the references:
//   - cuDNN's fused SDPA (the backend graph API's SDPA forward / backward operations, cuDNN
//     9.13 or later; half types only), "vs cudnn" = cuDNN time / our time;
//   - the unfused path: cuBLAS strided-batched GEMM for Q K^T, a one-warp-per-row softmax
//     kernel (bench_gpu_attention_kernels.cu), GEMM for P V (backward: four GEMMs and a softmax-backward kernel, P kept from the
//     forward), "vs unfused" = unfused time / our time.
// A ratio above 1 means ours is faster. TFLOP/s counts the products: 4 L S E per head forward,
// 10 L S E backward (Ev = E). Device time comes from events around kInner calls enqueued back
// to back. Without a GPU the suite says that it skipped and exits 0.
#include <benchmark/benchmark.h>
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "cuda/attention.h"
#include "bench/gpu_bench.h"
#include "cuda/cuda.h"
#include "cuda/stream.h"
#include "ops/ops.h"

#if __has_include(<cudnn.h>)
#include <cudnn.h>
#define BENCH_HAVE_CUDNN 1
#else
#define BENCH_HAVE_CUDNN 0
#endif

namespace {

using rvos::DType;
using rvos::Shape;
using rvos::Tensor;

constexpr int kInner = 10;

double device_ms(const std::function<void()>& f, int rounds = 3) { return rvos::bench::device_ms(f, kInner, rounds); }
Tensor input(const Shape& shape, DType dtype, uint64_t seed) { return rvos::bench::device_input(shape, dtype, seed); }

void cuda_check(cudaError_t err, const char* what) {
  if (err != cudaSuccess) throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(err));
}
void cublas_check(cublasStatus_t s, const char* what) {
  if (s != CUBLAS_STATUS_SUCCESS) throw std::runtime_error(std::string(what) + ": cuBLAS status " + std::to_string(s));
}

cudaStream_t stream() { return static_cast<cudaStream_t>(rvos::cuda::current_stream()); }

struct Problem {
  std::string name;
  int64_t B, H, L, S, E;
};

// ---------------------------------------------------------------------------------------------
// Unfused reference: cuBLAS + softmax kernels.

}  // namespace

// bench_gpu_attention_kernels.cu; dtype: 0 float32, 1 bfloat16, 2 float16.
cudaError_t bench_softmax_rows(void* x, int dtype, int64_t rows, int64_t n, cudaStream_t stream);
cudaError_t bench_softmax_backward_rows(const void* p, void* dp, int dtype, int64_t rows, int64_t n,
                                        cudaStream_t stream);

namespace {

int dtype_code(DType d) { return d == DType::BF16 ? 1 : d == DType::F16 ? 2 : 0; }

cudaDataType cuda_type(DType d) {
  switch (d) {
    case DType::BF16: return CUDA_R_16BF;
    case DType::F16: return CUDA_R_16F;
    default: return CUDA_R_32F;
  }
}

class Unfused {
 public:
  Unfused(const Problem& pr, DType dtype) : pr_(pr), dtype_(dtype) {
    cublas_check(cublasCreate(&handle_), "cublasCreate");
    cublas_check(cublasSetStream(handle_, stream()), "cublasSetStream");
    const int64_t bh = pr.B * pr.H;
    scores_ = rvos::empty({bh, pr.L, pr.S}, dtype, rvos::Device::cuda());
    grad_scores_ = rvos::empty({bh, pr.L, pr.S}, dtype, rvos::Device::cuda());
  }
  ~Unfused() { cublasDestroy(handle_); }
  Unfused(const Unfused&) = delete;
  Unfused& operator=(const Unfused&) = delete;

  // out = softmax(scale q k^T) v; q, k, v, out contiguous [B, H, rows, E]. Keeps P.
  void forward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& out) {
    const float scale = 1.0f / std::sqrt(static_cast<float>(pr_.E));
    // Row-major C = A B^T as column-major C^T = B A^T.
    gemm(CUBLAS_OP_T, CUBLAS_OP_N, pr_.S, pr_.L, pr_.E, scale, k, pr_.E, pr_.S * pr_.E, q, pr_.E, pr_.L * pr_.E,
         scores_, pr_.S, pr_.L * pr_.S);
    softmax(scores_);
    gemm(CUBLAS_OP_N, CUBLAS_OP_N, pr_.E, pr_.L, pr_.S, 1.0f, v, pr_.E, pr_.S * pr_.E, scores_, pr_.S, pr_.L * pr_.S,
         out, pr_.E, pr_.L * pr_.E);
  }

  // dv = P^T do; dP = do v^T; dS = softmax backward; dq = scale dS k; dk = scale dS^T q.
  void backward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& dout, const Tensor& dq,
                const Tensor& dk, const Tensor& dv) {
    const float scale = 1.0f / std::sqrt(static_cast<float>(pr_.E));
    const int64_t L = pr_.L, S = pr_.S, E = pr_.E;
    gemm(CUBLAS_OP_N, CUBLAS_OP_T, E, S, L, 1.0f, dout, E, L * E, scores_, S, L * S, dv, E, S * E);
    gemm(CUBLAS_OP_T, CUBLAS_OP_N, S, L, E, 1.0f, v, E, S * E, dout, E, L * E, grad_scores_, S, L * S);
    softmax_backward();
    gemm(CUBLAS_OP_N, CUBLAS_OP_N, E, L, S, scale, k, E, S * E, grad_scores_, S, L * S, dq, E, L * E);
    gemm(CUBLAS_OP_N, CUBLAS_OP_T, E, S, L, scale, q, E, L * E, grad_scores_, S, L * S, dk, E, S * E);
  }

 private:
  // Column-major strided-batched C = alpha op(A) op(B), float32 accumulation (no TF32).
  void gemm(cublasOperation_t ta, cublasOperation_t tb, int64_t m, int64_t n, int64_t k, float alpha, const Tensor& a,
            int64_t lda, int64_t sa, const Tensor& b, int64_t ldb, int64_t sb, const Tensor& c, int64_t ldc,
            int64_t sc) {
    const float beta = 0.0f;
    const cudaDataType t = cuda_type(dtype_);
    cublas_check(cublasGemmStridedBatchedEx(handle_, ta, tb, int(m), int(n), int(k), &alpha, a.raw_data(), t, int(lda),
                                            sa, b.raw_data(), t, int(ldb), sb, &beta, c.raw_data(), t, int(ldc), sc,
                                            int(pr_.B * pr_.H), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
                 "cublasGemmStridedBatchedEx");
  }
  void softmax(const Tensor& x) {
    cuda_check(bench_softmax_rows(x.raw_data(), dtype_code(dtype_), pr_.B * pr_.H * pr_.L, pr_.S, stream()),
               "softmax_rows_kernel");
  }
  void softmax_backward() {
    cuda_check(bench_softmax_backward_rows(scores_.raw_data(), grad_scores_.raw_data(), dtype_code(dtype_),
                                           pr_.B * pr_.H * pr_.L, pr_.S, stream()),
               "softmax_backward_rows_kernel");
  }

  Problem pr_;
  DType dtype_;
  cublasHandle_t handle_ = nullptr;
  Tensor scores_, grad_scores_;
};

// ---------------------------------------------------------------------------------------------
// cuDNN fused SDPA through the backend graph API (no frontend).

#if BENCH_HAVE_CUDNN
void cudnn_check(cudnnStatus_t s, const char* what) {
  if (s != CUDNN_STATUS_SUCCESS) throw std::runtime_error(std::string(what) + ": " + cudnnGetErrorString(s));
}

class Desc {
 public:
  explicit Desc(cudnnBackendDescriptorType_t type) { cudnn_check(cudnnBackendCreateDescriptor(type, &d_), "create"); }
  ~Desc() {
    if (d_ != nullptr) cudnnBackendDestroyDescriptor(d_);
  }
  Desc(const Desc&) = delete;
  Desc& operator=(const Desc&) = delete;
  cudnnBackendDescriptor_t get() const { return d_; }
  const cudnnBackendDescriptor_t* ptr() const { return &d_; }
  void set(cudnnBackendAttributeName_t name, cudnnBackendAttributeType_t type, int64_t count, const void* values,
           const char* what) {
    cudnn_check(cudnnBackendSetAttribute(d_, name, type, count, values), what);
  }
  void set_desc(cudnnBackendAttributeName_t name, const Desc& other, const char* what) {
    set(name, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, other.ptr(), what);
  }
  void finalize(const char* what) { cudnn_check(cudnnBackendFinalize(d_), what); }

 private:
  cudnnBackendDescriptor_t d_ = nullptr;
};

std::unique_ptr<Desc> tensor_desc(int64_t uid, std::vector<int64_t> dims, std::vector<int64_t> strides,
                                  cudnnDataType_t type, bool by_value = false) {
  auto t = std::make_unique<Desc>(CUDNN_BACKEND_TENSOR_DESCRIPTOR);
  const int64_t alignment = 16;
  t->set(CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &type, "tensor dtype");
  t->set(CUDNN_ATTR_TENSOR_DIMENSIONS, CUDNN_TYPE_INT64, int64_t(dims.size()), dims.data(), "tensor dims");
  t->set(CUDNN_ATTR_TENSOR_STRIDES, CUDNN_TYPE_INT64, int64_t(strides.size()), strides.data(), "tensor strides");
  t->set(CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, 1, &uid, "tensor uid");
  t->set(CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, CUDNN_TYPE_INT64, 1, &alignment, "tensor alignment");
  if (by_value) {
    const bool yes = true;
    t->set(CUDNN_ATTR_TENSOR_IS_BY_VALUE, CUDNN_TYPE_BOOLEAN, 1, &yes, "tensor by value");
  }
  t->finalize("tensor finalize");
  return t;
}

// A finalized execution plan for a one-operation graph: the first engine configuration of the
// heuristics that finalizes.
struct Plan {
  std::unique_ptr<Desc> graph, heur, plan;
  std::vector<std::unique_ptr<Desc>> configs;
  int64_t workspace = 0;
};

Plan make_plan(cudnnHandle_t handle, const Desc& op) {
  Plan p;
  p.graph = std::make_unique<Desc>(CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR);
  p.graph->set(CUDNN_ATTR_OPERATIONGRAPH_HANDLE, CUDNN_TYPE_HANDLE, 1, &handle, "graph handle");
  p.graph->set(CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, op.ptr(), "graph ops");
  p.graph->finalize("graph finalize");
  p.heur = std::make_unique<Desc>(CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR);
  p.heur->set_desc(CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH, *p.graph, "heuristics graph");
  const cudnnBackendHeurMode_t mode = CUDNN_HEUR_MODE_A;
  p.heur->set(CUDNN_ATTR_ENGINEHEUR_MODE, CUDNN_TYPE_HEUR_MODE, 1, &mode, "heuristics mode");
  p.heur->finalize("heuristics finalize");
  int64_t count = 0;
  cudnn_check(cudnnBackendGetAttribute(p.heur->get(), CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR, 0,
                                       &count, nullptr),
              "heuristics count");
  if (count <= 0) throw std::runtime_error("no cuDNN engine for this SDPA graph");
  std::vector<cudnnBackendDescriptor_t> raw;
  for (int64_t i = 0; i < count; ++i) {
    p.configs.push_back(std::make_unique<Desc>(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR));
    raw.push_back(p.configs.back()->get());
  }
  int64_t returned = 0;
  cudnn_check(cudnnBackendGetAttribute(p.heur->get(), CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR,
                                       count, &returned, raw.data()),
              "heuristics results");
  std::string last_error = "no engine configuration finalized";
  for (int64_t i = 0; i < returned; ++i) {
    auto plan = std::make_unique<Desc>(CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR);
    try {
      plan->set(CUDNN_ATTR_EXECUTION_PLAN_HANDLE, CUDNN_TYPE_HANDLE, 1, &handle, "plan handle");
      plan->set_desc(CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG, *p.configs[size_t(i)], "plan config");
      plan->finalize("plan finalize");
    } catch (const std::exception& e) {
      last_error = e.what();
      continue;
    }
    int64_t n = 0;
    cudnn_check(cudnnBackendGetAttribute(plan->get(), CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE, CUDNN_TYPE_INT64, 1, &n,
                                         &p.workspace),
                "workspace size");
    p.plan = std::move(plan);
    return p;
  }
  throw std::runtime_error(last_error);
}

class CudnnSdpa {
 public:
  enum Uid : int64_t { kQ = 1, kK, kV, kO, kStats, kScale, kDq, kDk, kDv, kDo };

  CudnnSdpa(const Problem& pr, DType dtype, bool with_backward) : pr_(pr) {
    if (dtype != DType::BF16 && dtype != DType::F16) throw std::runtime_error("cuDNN SDPA takes half types only");
    cudnn_check(cudnnCreate(&handle_), "cudnnCreate");
    try {
      build(dtype, with_backward);
    } catch (...) {
      release();
      throw;
    }
  }
  ~CudnnSdpa() { release(); }
  CudnnSdpa(const CudnnSdpa&) = delete;
  CudnnSdpa& operator=(const CudnnSdpa&) = delete;

  void forward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& o) {
    std::vector<int64_t> uids = {kQ, kK, kV, kO, kScale};
    std::vector<void*> ptrs = {q.raw_data(), k.raw_data(), v.raw_data(), o.raw_data(), &scale_};
    if (backward_.plan) {
      uids.push_back(kStats);
      ptrs.push_back(stats_.raw_data());
    }
    execute(forward_, uids, ptrs);
  }
  void backward(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& o, const Tensor& dout,
                const Tensor& dq, const Tensor& dk, const Tensor& dv) {
    execute(backward_, {kQ, kK, kV, kO, kStats, kScale, kDq, kDk, kDv, kDo},
            {q.raw_data(), k.raw_data(), v.raw_data(), o.raw_data(), stats_.raw_data(), &scale_, dq.raw_data(),
             dk.raw_data(), dv.raw_data(), dout.raw_data()});
  }

 private:
  void build(DType dtype, bool with_backward) {
    cudnn_check(cudnnSetStream(handle_, stream()), "cudnnSetStream");
    const Problem& pr = pr_;
    const cudnnDataType_t t = dtype == DType::BF16 ? CUDNN_DATA_BFLOAT16 : CUDNN_DATA_HALF;
    const int64_t B = pr.B, H = pr.H, L = pr.L, S = pr.S, E = pr.E;
    // Every descriptor stays alive as long as the plans that were built from it.
    auto keep = [this](std::unique_ptr<Desc> d) -> Desc& {
      keep_.push_back(std::move(d));
      return *keep_.back();
    };
    Desc& q = keep(tensor_desc(kQ, {B, H, L, E}, {H * L * E, L * E, E, 1}, t));
    Desc& k = keep(tensor_desc(kK, {B, H, S, E}, {H * S * E, S * E, E, 1}, t));
    Desc& v = keep(tensor_desc(kV, {B, H, S, E}, {H * S * E, S * E, E, 1}, t));
    Desc& o = keep(tensor_desc(kO, {B, H, L, E}, {H * L * E, L * E, E, 1}, t));
    Desc& stats = keep(tensor_desc(kStats, {B, H, L, 1}, {H * L, L, 1, 1}, CUDNN_DATA_FLOAT));
    Desc& scale = keep(tensor_desc(kScale, {1, 1, 1, 1}, {1, 1, 1, 1}, CUDNN_DATA_FLOAT, true));
    Desc& fwd = keep(std::make_unique<Desc>(CUDNN_BACKEND_OPERATION_SDPA_FWD_DESCRIPTOR));
    fwd.set_desc(CUDNN_ATTR_OPERATION_SDPA_FWD_QDESC, q, "sdpa q");
    fwd.set_desc(CUDNN_ATTR_OPERATION_SDPA_FWD_KDESC, k, "sdpa k");
    fwd.set_desc(CUDNN_ATTR_OPERATION_SDPA_FWD_VDESC, v, "sdpa v");
    fwd.set_desc(CUDNN_ATTR_OPERATION_SDPA_FWD_ODESC, o, "sdpa o");
    if (with_backward) fwd.set_desc(CUDNN_ATTR_OPERATION_SDPA_FWD_STATSDESC, stats, "sdpa stats");
    fwd.set_desc(CUDNN_ATTR_OPERATION_SDPA_FWD_SCALEDESC, scale, "sdpa scale");
    fwd.finalize("sdpa forward finalize");
    forward_ = make_plan(handle_, fwd);
    if (with_backward) {
      Desc& dq = keep(tensor_desc(kDq, {B, H, L, E}, {H * L * E, L * E, E, 1}, t));
      Desc& dk = keep(tensor_desc(kDk, {B, H, S, E}, {H * S * E, S * E, E, 1}, t));
      Desc& dv = keep(tensor_desc(kDv, {B, H, S, E}, {H * S * E, S * E, E, 1}, t));
      Desc& dout = keep(tensor_desc(kDo, {B, H, L, E}, {H * L * E, L * E, E, 1}, t));
      Desc& bwd = keep(std::make_unique<Desc>(CUDNN_BACKEND_OPERATION_SDPA_BWD_DESCRIPTOR));
      bwd.set_desc(CUDNN_ATTR_OPERATION_SDPA_BWD_QDESC, q, "sdpa bwd q");
      bwd.set_desc(CUDNN_ATTR_OPERATION_SDPA_BWD_KDESC, k, "sdpa bwd k");
      bwd.set_desc(CUDNN_ATTR_OPERATION_SDPA_BWD_VDESC, v, "sdpa bwd v");
      bwd.set_desc(CUDNN_ATTR_OPERATION_SDPA_BWD_ODESC, o, "sdpa bwd o");
      bwd.set_desc(CUDNN_ATTR_OPERATION_SDPA_BWD_STATSDESC, stats, "sdpa bwd stats");
      bwd.set_desc(CUDNN_ATTR_OPERATION_SDPA_BWD_SCALEDESC, scale, "sdpa bwd scale");
      bwd.set_desc(CUDNN_ATTR_OPERATION_SDPA_BWD_DQDESC, dq, "sdpa bwd dq");
      bwd.set_desc(CUDNN_ATTR_OPERATION_SDPA_BWD_DKDESC, dk, "sdpa bwd dk");
      bwd.set_desc(CUDNN_ATTR_OPERATION_SDPA_BWD_DVDESC, dv, "sdpa bwd dv");
      bwd.set_desc(CUDNN_ATTR_OPERATION_SDPA_BWD_DODDESC, dout, "sdpa bwd do");
      bwd.finalize("sdpa backward finalize");
      backward_ = make_plan(handle_, bwd);
    }
    const int64_t ws = std::max(forward_.workspace, backward_.workspace);
    workspace_ = rvos::empty({std::max<int64_t>(ws, 1)}, DType::U8, rvos::Device::cuda());
    stats_ = rvos::empty({B, H, L}, DType::F32, rvos::Device::cuda());
  }

  // Plans and descriptors go before the handle they were made with.
  void release() {
    forward_ = Plan();
    backward_ = Plan();
    keep_.clear();
    if (handle_ != nullptr) cudnnDestroy(handle_);
    handle_ = nullptr;
  }

  void execute(const Plan& plan, const std::vector<int64_t>& uids, const std::vector<void*>& ptrs) {
    Desc pack(CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR);
    void* ws = workspace_.raw_data();
    pack.set(CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS, CUDNN_TYPE_INT64, int64_t(uids.size()), uids.data(), "pack uids");
    pack.set(CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS, CUDNN_TYPE_VOID_PTR, int64_t(ptrs.size()), ptrs.data(),
             "pack pointers");
    pack.set(CUDNN_ATTR_VARIANT_PACK_WORKSPACE, CUDNN_TYPE_VOID_PTR, 1, &ws, "pack workspace");
    pack.finalize("pack finalize");
    cudnn_check(cudnnBackendExecute(handle_, plan.plan->get(), pack.get()), "cudnnBackendExecute");
  }

  Problem pr_;
  cudnnHandle_t handle_ = nullptr;
  std::vector<std::unique_ptr<Desc>> keep_;
  Plan forward_, backward_;
  Tensor workspace_, stats_;
  float scale_ = 1.0f / std::sqrt(static_cast<float>(pr_.E));
};
#endif

// ---------------------------------------------------------------------------------------------

void set_counters(benchmark::State& state, double flops, double ours_ms, double cudnn_ms, double unfused_ms) {
  state.counters["TFLOP/s"] = flops / (ours_ms * 1e-3) / 1e12;
  if (cudnn_ms > 0) {
    state.counters["cudnn TFLOP/s"] = flops / (cudnn_ms * 1e-3) / 1e12;
    state.counters["vs cudnn"] = cudnn_ms / ours_ms;
  }
  if (unfused_ms > 0) {
    state.counters["unfused TFLOP/s"] = flops / (unfused_ms * 1e-3) / 1e12;
    state.counters["vs unfused"] = unfused_ms / ours_ms;
  }
  state.counters["ms"] = ours_ms;
}

// Runs `ours` under the benchmark loop, the references once each (best of a few rounds).
void time_all(benchmark::State& state, double flops, const std::function<void()>& ours,
              const std::function<void()>& cudnn, const std::function<void()>& unfused) {
  ours();
  double total = 0;
  int64_t n = 0;
  for (auto _ : state) {
    const double ms = device_ms(ours, 1);
    state.SetIterationTime(ms / 1e3);
    total += ms;
    ++n;
  }
  const double ours_ms = std::min(total / double(std::max<int64_t>(n, 1)), device_ms(ours));
  double cudnn_ms = -1, unfused_ms = -1;
  if (cudnn) {
    try {
      cudnn();
      cudnn_ms = device_ms(cudnn);
    } catch (const std::exception& e) {
      state.SetLabel(std::string("cuDNN: ") + e.what());
    }
  }
  if (unfused) {
    try {
      unfused();
      unfused_ms = device_ms(unfused);
    } catch (const std::exception& e) {
      state.SetLabel(std::string("unfused: ") + e.what());
    }
  }
  set_counters(state, flops, ours_ms, cudnn_ms, unfused_ms);
}

void bench_forward(benchmark::State& state, const Problem& pr, DType dtype) {
  const Tensor q = input({pr.B, pr.H, pr.L, pr.E}, dtype, 1);
  const Tensor k = input({pr.B, pr.H, pr.S, pr.E}, dtype, 2);
  const Tensor v = input({pr.B, pr.H, pr.S, pr.E}, dtype, 3);
  const Tensor out = rvos::empty({pr.B, pr.H, pr.L, pr.E}, dtype, rvos::Device::cuda());
  const double scale = 1.0 / std::sqrt(static_cast<double>(pr.E));
  const double flops = 4.0 * double(pr.B * pr.H) * double(pr.L) * double(pr.S) * double(pr.E);
  auto ours = [&] {
    auto r = rvos::cuda::attention_forward(q, k, v, Tensor(), false, scale);
    benchmark::DoNotOptimize(r.out.raw_data());
  };
  std::function<void()> cudnn, unfused;
#if BENCH_HAVE_CUDNN
  std::unique_ptr<CudnnSdpa> sdpa;
  if (dtype != DType::F32) {
    try {
      sdpa = std::make_unique<CudnnSdpa>(pr, dtype, false);
      cudnn = [&] { sdpa->forward(q, k, v, out); };
    } catch (const std::exception& e) {
      state.SetLabel(std::string("cuDNN SDPA unavailable: ") + e.what());
    }
  }
#endif
  Unfused ref(pr, dtype);
  unfused = [&] { ref.forward(q, k, v, out); };
  time_all(state, flops, ours, cudnn, unfused);
}

void bench_backward(benchmark::State& state, const Problem& pr, DType dtype) {
  const Tensor q = input({pr.B, pr.H, pr.L, pr.E}, dtype, 1);
  const Tensor k = input({pr.B, pr.H, pr.S, pr.E}, dtype, 2);
  const Tensor v = input({pr.B, pr.H, pr.S, pr.E}, dtype, 3);
  const Tensor dout = input({pr.B, pr.H, pr.L, pr.E}, dtype, 4);
  const Tensor out = rvos::empty({pr.B, pr.H, pr.L, pr.E}, dtype, rvos::Device::cuda());
  const Tensor dq = rvos::empty(q.shape(), dtype, rvos::Device::cuda());
  const Tensor dk = rvos::empty(k.shape(), dtype, rvos::Device::cuda());
  const Tensor dv = rvos::empty(v.shape(), dtype, rvos::Device::cuda());
  const double scale = 1.0 / std::sqrt(static_cast<double>(pr.E));
  const double flops = 10.0 * double(pr.B * pr.H) * double(pr.L) * double(pr.S) * double(pr.E);
  const auto fwd = rvos::cuda::attention_forward(q, k, v, Tensor(), false, scale);
  auto ours = [&] {
    auto g = rvos::cuda::attention_backward(dout, q, k, v, Tensor(), false, scale, fwd.out, fwd.lse);
    benchmark::DoNotOptimize(g.q.raw_data());
  };
  std::function<void()> cudnn, unfused;
#if BENCH_HAVE_CUDNN
  std::unique_ptr<CudnnSdpa> sdpa;
  if (dtype != DType::F32) {
    try {
      sdpa = std::make_unique<CudnnSdpa>(pr, dtype, true);
      sdpa->forward(q, k, v, out);
      cudnn = [&] { sdpa->backward(q, k, v, out, dout, dq, dk, dv); };
    } catch (const std::exception& e) {
      state.SetLabel(std::string("cuDNN SDPA unavailable: ") + e.what());
    }
  }
#endif
  Unfused ref(pr, dtype);
  ref.forward(q, k, v, out);
  unfused = [&] { ref.backward(q, k, v, dout, dq, dk, dv); };
  time_all(state, flops, ours, cudnn, unfused);
}

void register_all() {
  const std::vector<Problem> problems = {
      {"sam2_memory_cross_4096x28736_d256", 1, 1, 4096, 28736, 256},
      {"sam2_memory_self_4096x4096_d256", 1, 1, 4096, 4096, 256},
      {"hiera_l_windows_2048x2h_64tok_d72", 2048, 2, 64, 64, 72},
      {"hiera_l_windows_256x2h_256tok_d72", 256, 2, 256, 256, 72},
      {"beit3_4x16h_240tok_d64", 4, 16, 240, 240, 64},
      {"sam_decoder_token_to_image_4x8h_8x4096_d16", 4, 8, 8, 4096, 16},
      {"sam_decoder_image_to_token_4x8h_4096x8_d16", 4, 8, 4096, 8, 16},
  };
  for (const Problem& pr : problems) {
    for (DType d : {DType::BF16, DType::F32}) {
      const std::string dn = rvos::dtype_name(d);
      benchmark::RegisterBenchmark(("forward/" + dn + "/" + pr.name).c_str(),
                                   [pr, d](benchmark::State& state) { bench_forward(state, pr, d); })
          ->UseManualTime()
          ->Unit(benchmark::kMillisecond);
      benchmark::RegisterBenchmark(("backward/" + dn + "/" + pr.name).c_str(),
                                   [pr, d](benchmark::State& state) { bench_backward(state, pr, d); })
          ->UseManualTime()
          ->Unit(benchmark::kMillisecond);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (!rvos::bench::gpu_ready("bench_gpu_attention")) return 0;
  register_all();
  return rvos::bench::run_benchmarks(argc, argv);
}
