// Matrix products through cuBLAS (cublasGemmStridedBatchedEx) and cuBLASLt (fused bias and
// activation epilogues), with per-thread handles bound to the current stream.
//
// rvos tensors are row-major and cuBLAS is column-major: a row-major [n, m] matrix is the
// column-major [m, n] matrix of its transpose, so C = A @ B is computed as C^T = B^T @ A^T with
// the operands swapped. A row-major operand is then passed as it is (op N) and a column-major one
// (a transposed view) as op T, so neither is copied.
#include <cublasLt.h>
#include <cublas_v2.h>

#include <algorithm>
#include <array>
#include <climits>
#include <cstring>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <utility>
#include <vector>

#include "cuda/common.cuh"
#include "cuda/copy.h"
#include "cuda/gemm.h"

namespace rvos::cuda {

namespace {

void check_cublas(cublasStatus_t status, const char* call) {
  if (status != CUBLAS_STATUS_SUCCESS) {
    throw std::runtime_error(std::string("cuBLAS error in ") + call + ": " + cublasGetStatusName(status) + " (" +
                             cublasGetStatusString(status) + ")");
  }
}
// Calls a cuBLAS / cuBLASLt function and names it in the error.
#define RVOS_CUBLAS(fn, ...) check_cublas(fn(__VA_ARGS__), #fn)

constexpr int kMaxDevices = 16;
// cuBLAS's recommended workspace on Hopper; also what cuBLASLt may use for split-K.
constexpr size_t kWorkspaceBytes = size_t{32} << 20;

// The handles of one device, used by one thread at a time.
struct BlasContext {
  int device = 0;
  cublasHandle_t blas = nullptr;
  cublasLtHandle_t lt = nullptr;
  bool bound = false;
  cudaStream_t stream = nullptr;
  // One workspace per stream the handles were used on: work still queued on an earlier stream may
  // be using that stream's workspace.
  std::vector<std::pair<cudaStream_t, Tensor>> workspaces;
  void* workspace = nullptr;
};

// Contexts are handed back here when their thread ends and reused by later threads. The pool and
// its handles are never destroyed: destroying handles during static destruction races the CUDA
// runtime's own teardown.
class ContextPool {
 public:
  BlasContext* acquire(int device) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto& free = free_[static_cast<size_t>(device)];
      if (!free.empty()) {
        BlasContext* c = free.back();
        free.pop_back();
        return c;
      }
    }
    auto* c = new BlasContext;
    c->device = device;
    RVOS_CUBLAS(cublasCreate, &c->blas);
    // Half-precision products reduce split-K partial sums in float32, never in the output type.
    RVOS_CUBLAS(cublasSetMathMode, c->blas,
                static_cast<cublasMath_t>(CUBLAS_DEFAULT_MATH | CUBLAS_MATH_DISALLOW_REDUCED_PRECISION_REDUCTION));
    RVOS_CUBLAS(cublasLtCreate, &c->lt);
    return c;
  }
  void release(BlasContext* c) {
    std::lock_guard<std::mutex> lock(mutex_);
    free_[static_cast<size_t>(c->device)].push_back(c);
  }

 private:
  std::mutex mutex_;
  std::array<std::vector<BlasContext*>, kMaxDevices> free_;
};

ContextPool& pool() {
  static auto* p = new ContextPool;
  return *p;
}

struct ThreadContexts {
  std::array<BlasContext*, kMaxDevices> contexts{};
  ~ThreadContexts() {
    for (BlasContext* c : contexts) {
      if (c != nullptr) pool().release(c);
    }
  }
};
thread_local ThreadContexts tls_contexts;

// The calling thread's handles for `device` (the current device), bound to the current stream.
BlasContext& context(int device) {
  if (device < 0 || device >= kMaxDevices) {
    throw std::invalid_argument("cuBLAS: device index " + std::to_string(device) + " is out of range");
  }
  BlasContext*& c = tls_contexts.contexts[static_cast<size_t>(device)];
  if (c == nullptr) c = pool().acquire(device);
  const auto stream = static_cast<cudaStream_t>(current_stream());
  if (!c->bound || c->stream != stream) {
    // cublasSetStream resets the workspace to cuBLAS's own pool, so the workspace is set after it.
    RVOS_CUBLAS(cublasSetStream, c->blas, stream);
    auto it = std::find_if(c->workspaces.begin(), c->workspaces.end(),
                           [&](const auto& w) { return w.first == stream; });
    if (it == c->workspaces.end()) {
      c->workspaces.emplace_back(stream, Tensor::empty({static_cast<int64_t>(kWorkspaceBytes)}, DType::U8,
                                                       Device::cuda(device)));
      it = c->workspaces.end() - 1;
    }
    c->workspace = it->second.raw_data();
    RVOS_CUBLAS(cublasSetWorkspace, c->blas, c->workspace, kWorkspaceBytes);
    c->stream = stream;
    c->bound = true;
  }
  return *c;
}

cudaDataType_t data_type(DType dt) {
  switch (dt) {
    case DType::F16: return CUDA_R_16F;
    case DType::BF16: return CUDA_R_16BF;
    case DType::F32: return CUDA_R_32F;
    case DType::F64: return CUDA_R_64F;
    default: throw std::invalid_argument(std::string("matmul: CUDA GEMM needs a floating dtype, got ") + dtype_name(dt));
  }
}

cublasComputeType_t compute_type(DType inputs, const GemmOptions& options) {
  if (inputs == DType::F64) return CUBLAS_COMPUTE_64F;
  if (inputs == DType::F32 && options.allow_tf32) return CUBLAS_COMPUTE_32F_FAST_TF32;
  return CUBLAS_COMPUTE_32F;
}

bool is_half(DType dt) { return dt == DType::F16 || dt == DType::BF16; }

// How cuBLAS reads a row-major matrix operand so that op(stored) is its transpose.
struct BlasOperand {
  cublasOperation_t op;
  int64_t ld;
};

std::optional<BlasOperand> blas_operand(const MatrixBatch& m) {
  // Row-major storage, X[i][j] at i * ld + j: column-major it is X^T already.
  if (m.col_stride == 1 || m.cols == 1) {
    const int64_t ld = m.rows == 1 ? std::max<int64_t>(m.cols, 1) : m.row_stride;
    if (ld >= std::max<int64_t>(m.cols, 1)) return BlasOperand{CUBLAS_OP_N, ld};
  }
  // Column-major storage, X[i][j] at i + j * ld: column-major it is X, so op T.
  if (m.row_stride == 1 || m.rows == 1) {
    const int64_t ld = m.cols == 1 ? std::max<int64_t>(m.rows, 1) : m.col_stride;
    if (ld >= std::max<int64_t>(m.rows, 1)) return BlasOperand{CUBLAS_OP_T, ld};
  }
  return std::nullopt;
}

MatrixBatch transposed(MatrixBatch m) {
  std::swap(m.rows, m.cols);
  std::swap(m.row_stride, m.col_stride);
  return m;
}

int to_int(int64_t v, const char* what) {
  if (v < 0 || v > INT_MAX) {
    throw std::invalid_argument(std::string("matmul: ") + what + " " + std::to_string(v) +
                                " exceeds what one cuBLAS call takes (2^31 - 1)");
  }
  return static_cast<int>(v);
}

// ---- small kernels ----------------------------------------------------------------------------

// c[t][i][j] *= beta (0 writes zeros, whatever c held). beta is taken in double so that float64
// results are scaled at full precision.
template <class T>
__global__ void scale_kernel(T* c, int64_t rows, int64_t cols, int64_t ldc, int64_t batch_stride, int64_t n,
                             double beta) {
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < n; e += int64_t(gridDim.x) * blockDim.x) {
    const int64_t j = e % cols, i = (e / cols) % rows, t = e / (cols * rows);
    T* p = c + t * batch_stride + i * ldc + j;
    if (beta == 0.0) {
      store(p, 0.0f);
    } else {
      store(p, load(p) * static_cast<compute_t<T>>(beta));
    }
  }
}

template <class C>
__device__ inline C apply_epilogue(C v, int epilogue) {
  if (epilogue == static_cast<int>(Epilogue::Relu)) return v > C(0) ? v : C(0);
  if (epilogue == static_cast<int>(Epilogue::GeluTanh)) {
    const C inner = C(0.7978845608028654) * (v + C(0.044715) * v * v * v);
    return C(0.5) * v * (C(1) + tanh(inner));
  }
  return v;
}

// out[e] = epilogue(out[e] + bias[e % m]) over a contiguous output.
template <class T>
__global__ void bias_epilogue_kernel(T* out, const T* bias, int64_t bias_stride, int64_t m, int64_t n,
                                     int epilogue) {
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < n; e += int64_t(gridDim.x) * blockDim.x) {
    compute_t<T> v = load(out + e);
    if (bias != nullptr) v += load(bias + (e % m) * bias_stride);
    store(out + e, apply_epilogue(v, epilogue));
  }
}

void bias_epilogue(const Tensor& out, const Tensor& bias, Epilogue epilogue) {
  const int64_t n = out.numel(), m = out.size(-1);
  dispatch_device_floating(out.dtype(), "linear", [&](auto tag) {
    using T = typename decltype(tag)::type;
    bias_epilogue_kernel<T><<<blocks_for(n), 256, 0, static_cast<cudaStream_t>(current_stream())>>>(
        static_cast<T*>(out.raw_data()), bias.defined() ? static_cast<const T*>(bias.raw_data()) : nullptr,
        bias.defined() ? bias.stride(0) : 0, m, n, static_cast<int>(epilogue));
    RVOS_CUDA_CHECK_LAUNCH("bias_epilogue_kernel");
  });
}

// ---- cuBLASLt -----------------------------------------------------------------------------------

uint32_t alignment_of(const void* p) {
  const auto address = reinterpret_cast<uintptr_t>(p);
  uint32_t a = 256;
  while (a > 1 && address % a != 0) a /= 2;
  return a;
}

template <class Desc, class Destroy>
struct LtDescriptor {
  Desc desc = nullptr;
  Destroy destroy;
  explicit LtDescriptor(Destroy d) : destroy(d) {}
  ~LtDescriptor() {
    if (desc != nullptr) destroy(desc);
  }
  LtDescriptor(const LtDescriptor&) = delete;
  LtDescriptor& operator=(const LtDescriptor&) = delete;
};

// Key of a cuBLASLt problem whose heuristic answer is cached per thread.
using LtKey = std::array<int64_t, 20>;
struct LtChoice {
  bool found = false;
  cublasLtMatmulAlgo_t algo{};
};
thread_local std::unordered_map<LtKey, LtChoice, Int64ArrayHash> tls_lt_choices;

// C^T = op(B) op(A) + bias with the epilogue through cuBLASLt; false when it offers no algorithm.
bool lt_matmul(BlasContext& ctx, const MatrixBatch& c, const MatrixBatch& a, const MatrixBatch& b, int64_t batch,
               const void* bias, Epilogue epilogue, const GemmOptions& options) {
  const auto opa = blas_operand(b), opb = blas_operand(a);  // swapped: C^T = B^T A^T
  if (!opa || !opb) return false;
  const int64_t M = c.cols, N = c.rows, K = a.cols, ldc = c.rows == 1 ? std::max<int64_t>(c.cols, 1) : c.row_stride;
  const cudaDataType_t type = data_type(a.dtype);
  const cublasComputeType_t compute = compute_type(a.dtype, options);

  cublasLtEpilogue_t epi = CUBLASLT_EPILOGUE_DEFAULT;
  switch (epilogue) {
    case Epilogue::None: epi = bias ? CUBLASLT_EPILOGUE_BIAS : CUBLASLT_EPILOGUE_DEFAULT; break;
    case Epilogue::Relu: epi = bias ? CUBLASLT_EPILOGUE_RELU_BIAS : CUBLASLT_EPILOGUE_RELU; break;
    case Epilogue::GeluTanh: epi = bias ? CUBLASLT_EPILOGUE_GELU_BIAS : CUBLASLT_EPILOGUE_GELU; break;
  }

  LtDescriptor<cublasLtMatmulDesc_t, decltype(&cublasLtMatmulDescDestroy)> op(&cublasLtMatmulDescDestroy);
  RVOS_CUBLAS(cublasLtMatmulDescCreate, &op.desc, compute, CUDA_R_32F);
  const cublasOperation_t ta = opa->op, tb = opb->op;
  RVOS_CUBLAS(cublasLtMatmulDescSetAttribute, op.desc, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof(ta));
  RVOS_CUBLAS(cublasLtMatmulDescSetAttribute, op.desc, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof(tb));
  RVOS_CUBLAS(cublasLtMatmulDescSetAttribute, op.desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof(epi));
  if (bias) {
    RVOS_CUBLAS(cublasLtMatmulDescSetAttribute, op.desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof(bias));
  }

  using Layout = LtDescriptor<cublasLtMatrixLayout_t, decltype(&cublasLtMatrixLayoutDestroy)>;
  Layout la(&cublasLtMatrixLayoutDestroy), lb(&cublasLtMatrixLayoutDestroy), lc(&cublasLtMatrixLayoutDestroy);
  // Stored shapes (column-major rows x cols): A is M x K (op N) or K x M (op T), B is K x N or N x K.
  RVOS_CUBLAS(cublasLtMatrixLayoutCreate, &la.desc, type, ta == CUBLAS_OP_N ? M : K, ta == CUBLAS_OP_N ? K : M, opa->ld);
  RVOS_CUBLAS(cublasLtMatrixLayoutCreate, &lb.desc, type, tb == CUBLAS_OP_N ? K : N, tb == CUBLAS_OP_N ? N : K, opb->ld);
  RVOS_CUBLAS(cublasLtMatrixLayoutCreate, &lc.desc, type, M, N, ldc);
  if (batch > 1) {
    const int32_t count = to_int(batch, "batch");
    const std::array<std::pair<cublasLtMatrixLayout_t, int64_t>, 3> layouts = {
        {{la.desc, b.batch_stride}, {lb.desc, a.batch_stride}, {lc.desc, c.batch_stride}}};
    for (const auto& [layout, stride] : layouts) {
      RVOS_CUBLAS(cublasLtMatrixLayoutSetAttribute, layout, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &count, sizeof(count));
      RVOS_CUBLAS(cublasLtMatrixLayoutSetAttribute, layout, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride,
                  sizeof(stride));
    }
  }

  const uint32_t align_a = alignment_of(b.data), align_b = alignment_of(a.data), align_c = alignment_of(c.data),
                 align_bias = bias ? alignment_of(bias) : 256;
  const LtKey key = {static_cast<int64_t>(a.dtype), static_cast<int64_t>(compute), ta, tb, M, N, K, opa->ld, opb->ld,
                     ldc, batch, b.batch_stride, a.batch_stride, c.batch_stride, static_cast<int64_t>(epi),
                     align_a, align_b, align_c, align_bias, ctx.device};
  auto cached = tls_lt_choices.find(key);
  if (cached == tls_lt_choices.end()) {
    LtDescriptor<cublasLtMatmulPreference_t, decltype(&cublasLtMatmulPreferenceDestroy)> pref(
        &cublasLtMatmulPreferenceDestroy);
    RVOS_CUBLAS(cublasLtMatmulPreferenceCreate, &pref.desc);
    const uint64_t workspace = kWorkspaceBytes;
    RVOS_CUBLAS(cublasLtMatmulPreferenceSetAttribute, pref.desc, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &workspace,
                sizeof(workspace));
    // Split-K partial sums in the compute type (float32), not in the half-precision output.
    const uint32_t reductions = CUBLASLT_REDUCTION_SCHEME_COMPUTE_TYPE;
    RVOS_CUBLAS(cublasLtMatmulPreferenceSetAttribute, pref.desc, CUBLASLT_MATMUL_PREF_REDUCTION_SCHEME_MASK,
                &reductions, sizeof(reductions));
    const std::array<std::pair<cublasLtMatmulPreferenceAttributes_t, uint32_t>, 4> alignments = {
        {{CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, align_a},
         {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, align_b},
         {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, align_c},
         {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, align_c}}};
    for (const auto& [attribute, value] : alignments) {
      RVOS_CUBLAS(cublasLtMatmulPreferenceSetAttribute, pref.desc, attribute, &value, sizeof(value));
    }
    cublasLtMatmulHeuristicResult_t result{};
    int returned = 0;
    const cublasStatus_t status = cublasLtMatmulAlgoGetHeuristic(ctx.lt, op.desc, la.desc, lb.desc, lc.desc, lc.desc,
                                                                 pref.desc, 1, &result, &returned);
    LtChoice choice;
    if (status == CUBLAS_STATUS_SUCCESS && returned > 0 && result.state == CUBLAS_STATUS_SUCCESS) {
      choice.found = true;
      choice.algo = result.algo;
    } else if (status != CUBLAS_STATUS_SUCCESS && status != CUBLAS_STATUS_NOT_SUPPORTED &&
               status != CUBLAS_STATUS_INVALID_VALUE) {
      // No algorithm for this layout (NOT_SUPPORTED, or INVALID_VALUE for layouts cuBLASLt does
      // not take) leaves the problem to cublasGemmStridedBatchedEx and the epilogue kernel.
      check_cublas(status, "cublasLtMatmulAlgoGetHeuristic");
    }
    cached = tls_lt_choices.emplace(key, choice).first;
  }
  if (!cached->second.found) return false;

  const float alpha = 1.0f, beta = 0.0f;
  RVOS_CUBLAS(cublasLtMatmul, ctx.lt, op.desc, &alpha, b.data, la.desc, a.data, lb.desc, &beta, c.data, lc.desc,
              c.data, lc.desc, &cached->second.algo, ctx.workspace, kWorkspaceBytes, ctx.stream);
  return true;
}

MatrixBatch matrices_of(const Tensor& t) {
  MatrixBatch m;
  m.data = t.raw_data();
  m.dtype = t.dtype();
  m.rows = t.size(1);
  m.cols = t.size(2);
  m.row_stride = t.stride(1);
  m.col_stride = t.stride(2);
  m.batch_stride = t.size(0) == 1 ? 0 : t.stride(0);
  return m;
}

// t itself when cuBLAS can read its matrices, else a contiguous copy.
Tensor gemm_operand(const Tensor& t) {
  if (gemm_accepts(matrices_of(t))) return t;
  Tensor c = Tensor::empty(t.shape(), t.dtype(), t.device());
  copy_strided(c, t);
  return c;
}

}  // namespace

bool gemm_accepts(const MatrixBatch& m) { return blas_operand(m).has_value(); }

void gemm(const MatrixBatch& c, const MatrixBatch& a, const MatrixBatch& b, int64_t batch, double alpha, double beta,
          const GemmOptions& options) {
  if (a.cols != b.rows || c.rows != a.rows || c.cols != b.cols) {
    throw std::invalid_argument("cuda::gemm: shapes do not match ([" + std::to_string(a.rows) + ", " +
                                std::to_string(a.cols) + "] @ [" + std::to_string(b.rows) + ", " +
                                std::to_string(b.cols) + "] -> [" + std::to_string(c.rows) + ", " +
                                std::to_string(c.cols) + "])");
  }
  if (a.dtype != b.dtype || !(c.dtype == a.dtype || (is_half(a.dtype) && c.dtype == DType::F32))) {
    throw std::invalid_argument(std::string("cuda::gemm: unsupported dtypes ") + dtype_name(a.dtype) + " @ " +
                                dtype_name(b.dtype) + " -> " + dtype_name(c.dtype));
  }
  if (c.rows == 0 || c.cols == 0 || batch == 0) return;
  // A column-major c is the transposed problem with a row-major result.
  if (!(c.col_stride == 1 || c.cols == 1)) {
    if (c.row_stride == 1 || c.rows == 1) {
      gemm(transposed(c), transposed(b), transposed(a), batch, alpha, beta, options);
      return;
    }
    throw std::invalid_argument("cuda::gemm: the result needs a unit row or column stride");
  }
  const int64_t ldc = c.rows == 1 ? std::max<int64_t>(c.cols, 1) : c.row_stride;
  if (ldc < c.cols || (batch > 1 && c.batch_stride == 0)) {
    throw std::invalid_argument("cuda::gemm: the result matrices overlap");
  }
  const int device = [] {
    int d = 0;
    RVOS_CUDA_CHECK(cudaGetDevice(&d));
    return d;
  }();
  BlasContext& ctx = context(device);
  const cudaDataType_t ctype = data_type(c.dtype);
  if (a.cols == 0) {
    // An empty sum: cuBLAS's leading-dimension rules do not cover K = 0.
    const int64_t n = batch * c.rows * c.cols;
    dispatch_device_floating(c.dtype, "matmul", [&](auto tag) {
      using T = typename decltype(tag)::type;
      scale_kernel<T><<<blocks_for(n), 256, 0, ctx.stream>>>(static_cast<T*>(c.data), c.rows, c.cols, ldc,
                                                              c.batch_stride, n, beta);
      RVOS_CUDA_CHECK_LAUNCH("scale_kernel");
    });
    return;
  }
  const auto opa = blas_operand(b), opb = blas_operand(a);  // swapped: C^T = B^T A^T
  if (!opa || !opb) throw std::invalid_argument("cuda::gemm: an operand needs a unit row or column stride");
  const int M = to_int(c.cols, "dimension"), N = to_int(c.rows, "dimension"), K = to_int(a.cols, "dimension");
  const int lda = to_int(opa->ld, "leading dimension"), ldb = to_int(opb->ld, "leading dimension"),
            ldc32 = to_int(ldc, "leading dimension");
  const int count = to_int(batch, "batch");
  const cublasComputeType_t compute = compute_type(a.dtype, options);
  const cudaDataType_t abtype = data_type(a.dtype);
  if (compute == CUBLAS_COMPUTE_64F) {
    const double al = alpha, be = beta;
    RVOS_CUBLAS(cublasGemmStridedBatchedEx, ctx.blas, opa->op, opb->op, M, N, K, &al, b.data, abtype, lda,
                b.batch_stride, a.data, abtype, ldb, a.batch_stride, &be, c.data, ctype, ldc32, c.batch_stride, count,
                compute, CUBLAS_GEMM_DEFAULT);
  } else {
    const float al = static_cast<float>(alpha), be = static_cast<float>(beta);
    RVOS_CUBLAS(cublasGemmStridedBatchedEx, ctx.blas, opa->op, opb->op, M, N, K, &al, b.data, abtype, lda,
                b.batch_stride, a.data, abtype, ldb, a.batch_stride, &be, c.data, ctype, ldc32, c.batch_stride, count,
                compute, CUBLAS_GEMM_DEFAULT);
  }
}

void matmul(const Tensor& out, const Tensor& a, const Tensor& b, const Tensor& bias, Epilogue epilogue,
            const GemmOptions& options) {
  if (a.dim() != 3 || b.dim() != 3 || out.dim() != 3 || a.size(0) != b.size(0) || a.size(2) != b.size(1) ||
      out.size(0) != a.size(0) || out.size(1) != a.size(1) || out.size(2) != b.size(2)) {
    throw std::invalid_argument("cuda::matmul: expected [B, n, k] @ [B, k, m] -> [B, n, m], got " +
                                shape_str(a.shape()) + " @ " + shape_str(b.shape()) + " -> " + shape_str(out.shape()));
  }
  if (a.dtype() != b.dtype() || out.dtype() != a.dtype() || (bias.defined() && bias.dtype() != a.dtype())) {
    throw std::invalid_argument("cuda::matmul: operands, result and bias must share one dtype");
  }
  data_type(a.dtype());  // refuses non-floating dtypes
  // An empty result has nothing to write, whatever strides it was given.
  if (out.numel() > 0 && !out.is_contiguous()) {
    throw std::invalid_argument("cuda::matmul: the result must be contiguous");
  }
  if (bias.defined() && (bias.dim() != 1 || bias.size(0) != out.size(2))) {
    throw std::invalid_argument("cuda::matmul: bias " + shape_str(bias.shape()) + " does not match " +
                                shape_str(out.shape()));
  }
  const int device = set_device_of(out);
  if (out.numel() == 0) return;
  const bool has_epilogue = bias.defined() || epilogue != Epilogue::None;
  if (a.size(2) == 0) {
    RVOS_CUDA_CHECK(cudaMemsetAsync(out.raw_data(), 0, static_cast<size_t>(out.numel()) * out.element_size(),
                                    static_cast<cudaStream_t>(current_stream())));
    if (has_epilogue) bias_epilogue(out, bias, epilogue);
    return;
  }
  const Tensor ac = gemm_operand(a), bc = gemm_operand(b);
  const MatrixBatch am = matrices_of(ac), bm = matrices_of(bc), cm = matrices_of(out);
  const int64_t batch = out.size(0);
  if (has_epilogue && a.dtype() != DType::F64) {
    Tensor bias_c = bias;
    if (bias.defined() && bias.stride(0) != 1) {
      bias_c = Tensor::empty(bias.shape(), bias.dtype(), bias.device());
      copy_strided(bias_c, bias);
    }
    BlasContext& ctx = context(device);
    if (lt_matmul(ctx, cm, am, bm, batch, bias_c.defined() ? bias_c.raw_data() : nullptr, epilogue, options)) return;
  }
  gemm(cm, am, bm, batch, 1.0, 0.0, options);
  if (has_epilogue) bias_epilogue(out, bias, epilogue);
}

}  // namespace rvos::cuda
