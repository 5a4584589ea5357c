// Reductions over any set of dims, argmax/argmin, cumsum, and the kernels of their gradients.
//
// Layout of a reduction: the ops give a view [kept..., reduced...]. Adjacent dims of each group are
// merged where their strides allow and size-1 dims dropped, leaving `outputs` x `reduce_size`
// elements addressed by two indexers (one multiply per element when one reduced dim remains). One
// kernel covers both access patterns with a 2-D block:
// - row mode (the smallest input stride belongs to a reduced dim, e.g. a sum over the last dim):
//   threadIdx.x walks the reduced elements of one output and threadIdx.y picks the output;
// - column mode (the smallest stride belongs to a kept dim, e.g. a mean over the channels of
//   NCHW): threadIdx.x picks the output, so that a warp reads neighbouring outputs' elements, and
//   threadIdx.y splits the reduced elements.
// Per-thread results are combined in shared memory. When the outputs are too few to fill the
// device, the reduced range is also split over gridDim.y: each block writes a partial accumulator
// and a second launch combines them in a fixed order (no atomics, so results are reproducible).
//
// Floating values accumulate in float64 (as the CPU kernels do), so float32 sums agree with the
// CPU to about one rounding of the result.
#include <math_constants.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "cuda/block_reduce.cuh"
#include "cuda/reduce.h"

namespace rvos::cuda {

namespace {

constexpr int kThreads = 256;
// A split of the reduced range gives each thread at least this many elements.
constexpr int64_t kMinElementsPerThread = 16;

template <class C>
__device__ __forceinline__ bool is_nan(C v) {
  if constexpr (std::is_floating_point_v<C>) return v != v;
  else return false;
}

// ------------------------------------------------------------------ inputs of the kernel

// Elements of a strided view: row(o) is the offset of output o's first element.
template <class T>
struct ValueInput {
  const T* data;
  StridedIndexer kept;
  StridedIndexer reduced;
  __device__ int64_t row(int64_t o) const { return kept.offset(o); }
  __device__ compute_t<T> get(int64_t base, int64_t r) const {
    const int64_t off = reduced.ndim == 1 ? r * reduced.strides[0] : reduced.offset(r);
    return load(data + base + off);
  }
  template <class Op>
  __device__ typename Op::acc_t apply(const Op& op, typename Op::acc_t a, compute_t<T> v, int64_t r) const {
    return op.fold(a, v, r);
  }
};

// Partial accumulators of a split reduction, [outputs, splits].
template <class A>
struct PartialInput {
  const A* data;
  int64_t splits;
  __device__ int64_t row(int64_t o) const { return o * splits; }
  __device__ A get(int64_t base, int64_t r) const { return data[base + r]; }
  template <class Op>
  __device__ A apply(const Op& op, A a, A v, int64_t) const {
    return op.combine(a, v);
  }
};

// ------------------------------------------------------------------ the reduction kernel

template <class Op, class In, bool ToPartials>
__global__ void __launch_bounds__(kThreads)
    reduce_kernel(Op op, In in, typename Op::acc_t* partials, int64_t outputs, int64_t reduce_size, int64_t chunk,
                  bool outputs_along_x) {
  using A = typename Op::acc_t;
  extern __shared__ __align__(16) unsigned char shared_bytes[];
  A* shared = reinterpret_cast<A*>(shared_bytes);
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int lane = outputs_along_x ? ty : tx;
  const int lanes = outputs_along_x ? blockDim.y : blockDim.x;
  const int64_t o = outputs_along_x ? blockIdx.x * int64_t(blockDim.x) + tx : blockIdx.x * int64_t(blockDim.y) + ty;
  const int64_t begin = int64_t(blockIdx.y) * chunk;
  const int64_t end = begin + chunk < reduce_size ? begin + chunk : reduce_size;
  A acc = op.identity();
  if (o < outputs) {
    const int64_t base = in.row(o);
    // Four independent accumulators keep four loads in flight per thread.
    A a1 = op.identity(), a2 = op.identity(), a3 = op.identity();
    int64_t r = begin + lane;
    for (; r + 3 * int64_t(lanes) < end; r += 4 * int64_t(lanes)) {
      const auto v0 = in.get(base, r);
      const auto v1 = in.get(base, r + lanes);
      const auto v2 = in.get(base, r + 2 * lanes);
      const auto v3 = in.get(base, r + 3 * lanes);
      acc = in.apply(op, acc, v0, r);
      a1 = in.apply(op, a1, v1, r + lanes);
      a2 = in.apply(op, a2, v2, r + 2 * lanes);
      a3 = in.apply(op, a3, v3, r + 3 * lanes);
    }
    for (; r < end; r += lanes) acc = in.apply(op, acc, in.get(base, r), r);
    acc = op.combine(op.combine(acc, a1), op.combine(a2, a3));
  }
  const int tid = ty * blockDim.x + tx;
  const int step = outputs_along_x ? blockDim.x : 1;
  shared[tid] = acc;
  __syncthreads();
  for (int s = lanes / 2; s > 0; s >>= 1) {
    if (lane < s) shared[tid] = op.combine(shared[tid], shared[tid + s * step]);
    __syncthreads();
  }
  if (lane == 0 && o < outputs) {
    if constexpr (ToPartials) partials[o * gridDim.y + blockIdx.y] = shared[tid];
    else op.write(o, shared[tid]);
  }
}

// ------------------------------------------------------------------ the reductions

template <class O, class A>
struct SumOp {
  using acc_t = A;
  O* out;
  __device__ A identity() const { return A(0); }
  template <class V>
  __device__ A fold(A a, V v, int64_t) const { return a + static_cast<A>(v); }
  __device__ A combine(A a, A b) const { return a + b; }
  __device__ void write(int64_t o, A a) const { store(out + o, a); }
};

template <class T>
struct MeanOp {
  using acc_t = double;
  T* out;
  double count;
  __device__ double identity() const { return 0.0; }
  __device__ double fold(double a, compute_t<T> v, int64_t) const { return a + static_cast<double>(v); }
  __device__ double combine(double a, double b) const { return a + b; }
  __device__ void write(int64_t o, double a) const { store(out + o, a / count); }
};

template <class O, class A>
struct ProdOp {
  using acc_t = A;
  O* out;
  __device__ A identity() const { return A(1); }
  __device__ A combine(A a, A b) const {
    if constexpr (std::is_same_v<A, double>) return a * b;
    else return static_cast<A>(static_cast<uint64_t>(a) * static_cast<uint64_t>(b));  // wraps around like the CPU
  }
  template <class V>
  __device__ A fold(A a, V v, int64_t) const { return combine(a, static_cast<A>(v)); }
  __device__ void write(int64_t o, A a) const { store(out + o, a); }
};

// Welford's running mean and sum of squared deviations, merged with Chan's formula.
struct Moments {
  double n, mean, m2;
};

template <class T>
struct VarOp {
  using acc_t = Moments;
  T* out;
  double correction;
  bool take_sqrt;
  __device__ Moments identity() const { return {0.0, 0.0, 0.0}; }
  __device__ Moments fold(Moments a, compute_t<T> v, int64_t) const {
    const double x = static_cast<double>(v);
    a.n += 1.0;
    const double d = x - a.mean;
    a.mean += d / a.n;
    a.m2 += d * (x - a.mean);
    return a;
  }
  __device__ Moments combine(Moments a, Moments b) const {
    if (a.n == 0.0) return b;
    if (b.n == 0.0) return a;
    const double n = a.n + b.n;
    const double d = b.mean - a.mean;
    return {n, a.mean + d * (b.n / n), a.m2 + b.m2 + d * d * (a.n * b.n / n)};
  }
  __device__ void write(int64_t o, Moments a) const {
    double v = CUDART_NAN;
    if (a.n > 0.0) {
      const double divisor = a.n - correction > 0.0 ? a.n - correction : 0.0;
      v = a.m2 / divisor;
      if (take_sqrt) v = sqrt(v);
    }
    store(out + o, v);
  }
};

// amax / amin: NaN wins.
template <class T>
struct ExtremeOp {
  using C = compute_t<T>;
  using acc_t = C;
  T* out;
  bool is_max;
  __device__ C identity() const {
    if constexpr (std::is_floating_point_v<C>) {
      return is_max ? -std::numeric_limits<C>::infinity() : std::numeric_limits<C>::infinity();
    } else {
      return is_max ? std::numeric_limits<C>::lowest() : std::numeric_limits<C>::max();
    }
  }
  __device__ C combine(C a, C b) const {
    if (is_nan(a)) return a;
    if (is_max) return a >= b ? a : b;  // b when b is NaN
    return a <= b ? a : b;
  }
  __device__ C fold(C a, C v, int64_t) const { return combine(a, v); }
  __device__ void write(int64_t o, C a) const { store(out + o, a); }
};

// The norms of linalg.vector_norm; `kind` is fixed for a launch.
template <class T>
struct NormOp {
  using acc_t = double;
  T* out;
  ReduceKind kind;
  double p;
  __device__ double identity() const { return kind == ReduceKind::NormNegInf ? CUDART_INF : 0.0; }
  __device__ double fold(double a, compute_t<T> v, int64_t) const {
    const double x = fabs(static_cast<double>(v));
    switch (kind) {
      case ReduceKind::NormZero: return a + (x != 0.0 ? 1.0 : 0.0);
      case ReduceKind::NormOne: return a + x;
      case ReduceKind::NormTwo: return a + x * x;
      case ReduceKind::NormP: return a + pow(x, p);
      default: return combine(a, x);
    }
  }
  __device__ double combine(double a, double b) const {
    if (kind == ReduceKind::NormInf || kind == ReduceKind::NormNegInf) {
      if (a != a) return a;
      if (b != b) return b;
      return kind == ReduceKind::NormInf ? (b > a ? b : a) : (b < a ? b : a);
    }
    return a + b;
  }
  __device__ void write(int64_t o, double a) const {
    if (kind == ReduceKind::NormTwo) a = sqrt(a);
    else if (kind == ReduceKind::NormP) a = pow(a, 1.0 / p);
    store(out + o, a);
  }
};

// log(sum(exp(x))) with a running max: the sum is kept relative to the largest value seen.
struct MaxAndSum {
  double m, s;
};

template <class T>
struct LogSumExpOp {
  using C = compute_t<T>;
  using acc_t = MaxAndSum;
  T* out;
  __device__ MaxAndSum identity() const { return {-CUDART_INF, 0.0}; }
  __device__ MaxAndSum fold(MaxAndSum a, C v, int64_t) const {
    const double x = static_cast<double>(v);
    if (a.m != a.m) return a;
    if (x != x) return {x, a.s};
    if (x == -CUDART_INF) return a;  // contributes exp(-inf) = 0
    if (x > a.m) return {x, a.s * exp(a.m - x) + 1.0};
    return {a.m, a.s + exp(x - a.m)};
  }
  __device__ MaxAndSum combine(MaxAndSum a, MaxAndSum b) const {
    if (a.m != a.m) return a;
    if (b.m != b.m) return b;
    if (b.m == -CUDART_INF) return a;
    if (a.m == -CUDART_INF) return b;
    if (a.m >= b.m) return {a.m, a.s + b.s * exp(b.m - a.m)};
    return {b.m, b.s + a.s * exp(a.m - b.m)};
  }
  __device__ void write(int64_t o, MaxAndSum a) const {
    // As the CPU: NaN if any, +-inf for an infinite max, else log(sum) rounded to C plus the max.
    C r;
    if (a.m != a.m) r = static_cast<C>(a.m);
    else if (a.m == CUDART_INF || a.m == -CUDART_INF) r = static_cast<C>(a.m);
    else r = static_cast<C>(log(static_cast<C>(a.s))) + static_cast<C>(a.m);
    store(out + o, r);
  }
};

template <class T>
struct AllAnyOp {
  using acc_t = int;
  uint8_t* out;  // bool or uint8 storage
  bool is_all;
  __device__ int identity() const { return is_all ? 1 : 0; }
  __device__ int fold(int a, compute_t<T> v, int64_t) const {
    const int b = v != compute_t<T>(0) ? 1 : 0;
    return is_all ? (a & b) : (a | b);
  }
  __device__ int combine(int a, int b) const { return is_all ? (a & b) : (a | b); }
  __device__ void write(int64_t o, int a) const { out[o] = static_cast<uint8_t>(a); }
};

// argmax / argmin with the CPU's rules: the first NaN, else the first extreme value. Combining
// compares indices, so the order in which partial results meet does not matter.
template <class C>
struct ValueIndex {
  C v;
  int64_t i;  // -1: nothing seen
};

template <class T>
struct ArgOp {
  using C = compute_t<T>;
  using acc_t = ValueIndex<C>;
  T* values;  // may be null
  int64_t* indices;
  bool is_max;
  __device__ acc_t identity() const { return {C(0), -1}; }
  __device__ acc_t combine(acc_t a, acc_t b) const {
    if (a.i < 0) return b;
    if (b.i < 0) return a;
    const bool an = is_nan(a.v), bn = is_nan(b.v);
    if (an || bn) {
      if (an && bn) return a.i <= b.i ? a : b;
      return an ? a : b;
    }
    if (a.v == b.v) return a.i <= b.i ? a : b;
    return (is_max ? a.v > b.v : a.v < b.v) ? a : b;
  }
  __device__ acc_t fold(acc_t a, C v, int64_t r) const { return combine(a, {v, r}); }
  __device__ void write(int64_t o, acc_t a) const {
    indices[o] = a.i;
    if (values != nullptr) store(values + o, a.v);
  }
};

// ------------------------------------------------------------------ host side

// Drops size-1 dims and merges neighbours that are one run in memory. The dimension limit applies
// to what remains, so a contiguous tensor of any rank reduces.
StridedIndexer coalesced(const int64_t* sizes, const int64_t* strides, int64_t ndim) {
  StridedIndexer ix;
  ix.ndim = 0;
  for (int64_t d = 0; d < ndim; ++d) {
    if (sizes[d] == 1) continue;
    if (ix.ndim > 0 && ix.strides[ix.ndim - 1] == strides[d] * sizes[d]) {
      ix.sizes[ix.ndim - 1] *= sizes[d];
      ix.strides[ix.ndim - 1] = strides[d];
    } else {
      if (ix.ndim == kMaxDims) {
        std::string dims;
        for (int64_t k = 0; k < ndim; ++k) dims += (k ? ", " : "") + std::to_string(sizes[k]);
        throw std::invalid_argument("CUDA reductions address at most " + std::to_string(kMaxDims) +
                                    " non-mergeable dimensions on each side (kept, reduced) of a reduction; the " +
                                    "dims [" + dims + "] do not merge to that many");
      }
      ix.sizes[ix.ndim] = sizes[d];
      ix.strides[ix.ndim] = strides[d];
      ++ix.ndim;
    }
  }
  if (ix.ndim == 0) {
    ix.ndim = 1;
    ix.sizes[0] = 1;
    ix.strides[0] = 0;
  }
  return ix;
}

struct Plan {
  StridedIndexer kept, reduced;
  int64_t outputs = 1, reduce_size = 1;
  bool outputs_along_x = false;
};

Plan plan_for(const Tensor& in, int64_t reduced_ndim) {
  const int64_t nk = in.dim() - reduced_ndim;
  Plan p;
  p.kept = coalesced(in.shape().data(), in.strides().data(), nk);
  p.reduced = coalesced(in.shape().data() + nk, in.strides().data() + nk, reduced_ndim);
  for (int64_t d = 0; d < nk; ++d) p.outputs *= in.shape()[static_cast<size_t>(d)];
  for (int64_t d = nk; d < in.dim(); ++d) p.reduce_size *= in.shape()[static_cast<size_t>(d)];
  // The mode follows the dim with the smallest stride: its neighbours in memory should be read by
  // neighbouring threads.
  int64_t best = std::numeric_limits<int64_t>::max();
  for (int d = 0; d < p.reduced.ndim; ++d) {
    if (p.reduced.sizes[d] > 1) best = std::min(best, p.reduced.strides[d]);
  }
  for (int d = 0; d < p.kept.ndim; ++d) {
    if (p.kept.sizes[d] > 1 && p.kept.strides[d] < best) p.outputs_along_x = true;
  }
  return p;
}

struct Launch {
  dim3 block, grid;
  int64_t chunk = 0;
  int lanes = 1;
};

Launch launch_for(int64_t outputs, int64_t reduce_size, bool outputs_along_x, int device, bool allow_split) {
  Launch l;
  int bx, by;
  if (outputs_along_x) {
    bx = std::min(next_pow2(outputs), kWarpSize);
    by = std::min(kThreads / bx, next_pow2(reduce_size));
    while (bx * by < kThreads && bx < next_pow2(outputs)) bx *= 2;
    l.lanes = by;
  } else {
    bx = std::min(next_pow2(reduce_size), kThreads);
    by = std::min(kThreads / bx, next_pow2(outputs));
    l.lanes = bx;
  }
  const int per_block = outputs_along_x ? bx : by;
  const int64_t blocks_x = (outputs + per_block - 1) / per_block;
  int64_t splits = 1;
  if (allow_split) {
    const int64_t target_blocks = 4 * int64_t(multiprocessor_count(device));
    const int64_t max_splits = std::max<int64_t>(1, reduce_size / (l.lanes * kMinElementsPerThread));
    splits = std::clamp<int64_t>((target_blocks + blocks_x - 1) / blocks_x, 1, std::min<int64_t>(max_splits, 65535));
  }
  // Chunks are whole multiples of the lane count, so that every split starts aligned.
  int64_t chunk = (reduce_size + splits - 1) / splits;
  chunk = (chunk + l.lanes - 1) / l.lanes * l.lanes;
  if (chunk == 0) chunk = l.lanes;
  splits = std::max<int64_t>(1, (reduce_size + chunk - 1) / chunk);
  if (blocks_x > int64_t(std::numeric_limits<int32_t>::max())) {
    throw std::invalid_argument("CUDA reduction: too many outputs for one launch");
  }
  l.block = dim3(static_cast<unsigned>(bx), static_cast<unsigned>(by));
  l.grid = dim3(static_cast<unsigned>(blocks_x), static_cast<unsigned>(splits));
  l.chunk = splits == 1 ? reduce_size : chunk;
  return l;
}

template <class Op, class T>
void run_reduce(const Op& op, const Tensor& in, const Plan& p, int device) {
  using A = typename Op::acc_t;
  if (p.outputs == 0) return;
  const auto stream = static_cast<cudaStream_t>(current_stream());
  const ValueInput<T> input{static_cast<const T*>(in.raw_data()), p.kept, p.reduced};
  const Launch l = launch_for(p.outputs, p.reduce_size, p.outputs_along_x, device, true);
  const size_t shared = size_t(l.block.x) * l.block.y * sizeof(A);
  if (l.grid.y == 1) {
    reduce_kernel<Op, ValueInput<T>, false><<<l.grid, l.block, shared, stream>>>(
        op, input, nullptr, p.outputs, p.reduce_size, l.chunk, p.outputs_along_x);
    RVOS_CUDA_CHECK_LAUNCH("reduce_kernel");
    return;
  }
  const int64_t splits = l.grid.y;
  Tensor workspace = Tensor::empty({p.outputs * splits * int64_t(sizeof(A))}, DType::U8, in.device());
  A* partials = static_cast<A*>(workspace.raw_data());
  reduce_kernel<Op, ValueInput<T>, true><<<l.grid, l.block, shared, stream>>>(
      op, input, partials, p.outputs, p.reduce_size, l.chunk, p.outputs_along_x);
  RVOS_CUDA_CHECK_LAUNCH("reduce_kernel (partials)");
  const Launch l2 = launch_for(p.outputs, splits, false, device, false);
  const size_t shared2 = size_t(l2.block.x) * l2.block.y * sizeof(A);
  reduce_kernel<Op, PartialInput<A>, false><<<l2.grid, l2.block, shared2, stream>>>(
      op, PartialInput<A>{partials, splits}, nullptr, p.outputs, splits, l2.chunk, false);
  RVOS_CUDA_CHECK_LAUNCH("reduce_kernel (combine)");
}

void check_tensors(const Tensor& out, const Tensor& in, const char* what) {
  if (!out.is_cuda() || !in.is_cuda() || out.device() != in.device()) {
    throw std::invalid_argument(std::string(what) + ": tensors must be on one CUDA device");
  }
  if (!out.is_contiguous()) throw std::invalid_argument(std::string(what) + ": the output must be contiguous");
}

[[noreturn]] void throw_dtypes(const char* what, const Tensor& out, const Tensor& in) {
  throw std::invalid_argument(std::string(what) + ": unsupported dtypes on CUDA (input " + dtype_name(in.dtype()) +
                              ", output " + dtype_name(out.dtype()) + ")");
}

template <class T>
constexpr bool is_floating_type = std::is_floating_point_v<compute_t<T>>;

}  // namespace

void reduce(const Tensor& out, const Tensor& in, int64_t reduced_ndim, ReduceKind kind, const ReduceParams& params) {
  check_tensors(out, in, "cuda::reduce");
  if (reduced_ndim < 0 || reduced_ndim > in.dim()) throw std::invalid_argument("cuda::reduce: bad reduced_ndim");
  const int device = set_device_of(out);
  const Plan p = plan_for(in, reduced_ndim);
  if (p.outputs != out.numel()) throw std::invalid_argument("cuda::reduce: output size does not match the input");
  const char* what = "cuda::reduce";
  dispatch_device_all(in.dtype(), what, [&](auto tag) {
    using T = typename decltype(tag)::type;
    constexpr bool floating = is_floating_type<T>;
    switch (kind) {
      case ReduceKind::Sum:
      case ReduceKind::Prod: {
        const bool is_sum = kind == ReduceKind::Sum;
        if constexpr (floating) {
          if (out.dtype() != in.dtype()) throw_dtypes(what, out, in);
          T* o = static_cast<T*>(out.raw_data());
          if (is_sum) run_reduce<SumOp<T, double>, T>({o}, in, p, device);
          else run_reduce<ProdOp<T, double>, T>({o}, in, p, device);
        } else {
          if (out.dtype() != DType::I64) throw_dtypes(what, out, in);
          int64_t* o = static_cast<int64_t*>(out.raw_data());
          if (is_sum) run_reduce<SumOp<int64_t, int64_t>, T>({o}, in, p, device);
          else run_reduce<ProdOp<int64_t, int64_t>, T>({o}, in, p, device);
        }
        return;
      }
      case ReduceKind::Amax:
      case ReduceKind::Amin:
        if (out.dtype() != in.dtype()) throw_dtypes(what, out, in);
        run_reduce<ExtremeOp<T>, T>({static_cast<T*>(out.raw_data()), kind == ReduceKind::Amax}, in, p, device);
        return;
      case ReduceKind::All:
      case ReduceKind::Any:
        if (out.dtype() != DType::Bool && out.dtype() != DType::U8) throw_dtypes(what, out, in);
        run_reduce<AllAnyOp<T>, T>({static_cast<uint8_t*>(out.raw_data()), kind == ReduceKind::All}, in, p, device);
        return;
      default:
        break;
    }
    if constexpr (floating) {
      if (out.dtype() != in.dtype()) throw_dtypes(what, out, in);
      T* o = static_cast<T*>(out.raw_data());
      switch (kind) {
        case ReduceKind::Mean:
          run_reduce<MeanOp<T>, T>({o, static_cast<double>(p.reduce_size)}, in, p, device);
          return;
        case ReduceKind::Var:
        case ReduceKind::Std:
          run_reduce<VarOp<T>, T>({o, static_cast<double>(params.correction), kind == ReduceKind::Std}, in, p, device);
          return;
        case ReduceKind::LogSumExp:
          run_reduce<LogSumExpOp<T>, T>({o}, in, p, device);
          return;
        default:  // the norms
          run_reduce<NormOp<T>, T>({o, kind, params.p}, in, p, device);
          return;
      }
    } else {
      throw_dtypes(what, out, in);
    }
  });
}

void arg_reduce(const Tensor& values, const Tensor& indices, const Tensor& in, bool is_max) {
  check_tensors(indices, in, "cuda::arg_reduce");
  if (indices.dtype() != DType::I64) throw std::invalid_argument("cuda::arg_reduce: indices must be int64");
  if (values.defined()) {
    check_tensors(values, in, "cuda::arg_reduce");
    if (values.dtype() != in.dtype()) throw_dtypes("cuda::arg_reduce", values, in);
  }
  if (in.dim() == 0 || in.size(-1) == 0) throw std::invalid_argument("cuda::arg_reduce: empty reduction");
  const int device = set_device_of(in);
  const Plan p = plan_for(in, 1);
  if (p.outputs != indices.numel()) throw std::invalid_argument("cuda::arg_reduce: output size does not match");
  dispatch_device_all(in.dtype(), "cuda::arg_reduce", [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* v = values.defined() ? static_cast<T*>(values.raw_data()) : nullptr;
    run_reduce<ArgOp<T>, T>({v, static_cast<int64_t*>(indices.raw_data()), is_max}, in, p, device);
  });
}

// ------------------------------------------------------------------ cumsum

namespace {

// Accumulator of cumulative sums, as the CPU's: float for half types, double for float32/64.
template <class T>
using scan_acc_t = std::conditional_t<std::is_same_v<T, __half> || std::is_same_v<T, __nv_bfloat16>, float,
                                      std::conditional_t<std::is_floating_point_v<T>, double, int64_t>>;

// The scanned dim is not the innermost: one thread per (outer, inner) column walks n; neighbouring
// threads read neighbouring columns.
template <class T, class O>
__global__ void cumsum_columns_kernel(const T* in, O* out, int64_t outer, int64_t n, int64_t inner, bool reverse) {
  using A = scan_acc_t<T>;
  for (int64_t c = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; c < outer * inner;
       c += int64_t(gridDim.x) * blockDim.x) {
    const int64_t base = (c / inner) * n * inner + c % inner;
    A acc = A(0);
    for (int64_t s = 0; s < n; ++s) {
      const int64_t at = base + (reverse ? n - 1 - s : s) * inner;
      acc += static_cast<A>(load(in + at));
      store(out + at, acc);
    }
  }
}

// The scanned dim is the innermost: one block per row scans chunks of blockDim elements (warp
// shuffles, then the warp totals), carrying the running total from chunk to chunk.
template <class T, class O>
__global__ void cumsum_rows_kernel(const T* in, O* out, int64_t rows, int64_t n, bool reverse) {
  using A = scan_acc_t<T>;
  __shared__ A warp_totals[32];
  const int lane = threadIdx.x % kWarpSize, warp = threadIdx.x / kWarpSize;
  const int warps = blockDim.x / kWarpSize;
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const T* x = in + row * n;
    O* y = out + row * n;
    A carry = A(0);
    for (int64_t c0 = 0; c0 < n; c0 += blockDim.x) {
      const int64_t s = c0 + threadIdx.x;
      const int64_t at = reverse ? n - 1 - s : s;
      A v = s < n ? static_cast<A>(load(x + at)) : A(0);
#pragma unroll
      for (int off = 1; off < kWarpSize; off <<= 1) {
        const A t = __shfl_up_sync(kFullMask, v, off);
        if (lane >= off) v += t;
      }
      if (lane == kWarpSize - 1) warp_totals[warp] = v;
      __syncthreads();
      if (warp == 0) {
        A t = lane < warps ? warp_totals[lane] : A(0);
#pragma unroll
        for (int off = 1; off < kWarpSize; off <<= 1) {
          const A u = __shfl_up_sync(kFullMask, t, off);
          if (lane >= off) t += u;
        }
        if (lane < warps) warp_totals[lane] = t;
      }
      __syncthreads();
      if (warp > 0) v += warp_totals[warp - 1];
      if (s < n) store(y + at, carry + v);
      carry += warp_totals[warps - 1];
      __syncthreads();  // warp_totals is rewritten by the next chunk
    }
  }
}

}  // namespace

void cumsum(const Tensor& out, const Tensor& in, int64_t outer, int64_t n, int64_t inner, bool reverse) {
  check_tensors(out, in, "cuda::cumsum");
  if (!in.is_contiguous()) throw std::invalid_argument("cuda::cumsum: the input must be contiguous");
  if (outer * n * inner != in.numel() || out.numel() != in.numel()) {
    throw std::invalid_argument("cuda::cumsum: sizes do not match");
  }
  if (in.numel() == 0) return;
  set_device_of(in);
  const auto stream = static_cast<cudaStream_t>(current_stream());
  dispatch_device_all(in.dtype(), "cumsum", [&](auto tag) {
    using T = typename decltype(tag)::type;
    using O = std::conditional_t<is_floating_type<T>, T, int64_t>;
    if (out.dtype() != (is_floating_type<T> ? in.dtype() : DType::I64)) throw_dtypes("cuda::cumsum", out, in);
    const T* x = static_cast<const T*>(in.raw_data());
    O* y = static_cast<O*>(out.raw_data());
    if (inner == 1) {
      const int threads = std::clamp(next_pow2(n), kWarpSize, 1024);
      const unsigned blocks = static_cast<unsigned>(std::min<int64_t>(outer, 65535 * 32));
      cumsum_rows_kernel<T, O><<<blocks, threads, 0, stream>>>(x, y, outer, n, reverse);
      RVOS_CUDA_CHECK_LAUNCH("cumsum_rows_kernel");
    } else {
      cumsum_columns_kernel<T, O><<<blocks_for(outer * inner), 256, 0, stream>>>(x, y, outer, n, inner, reverse);
      RVOS_CUDA_CHECK_LAUNCH("cumsum_columns_kernel");
    }
  });
}

// ------------------------------------------------------------------ gradients

namespace {

template <class T>
__global__ void scatter_along_dim_kernel(T* out, const T* g, const int64_t* index, int64_t count, int64_t n,
                                         int64_t inner) {
  for (int64_t r = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; r < count; r += int64_t(gridDim.x) * blockDim.x) {
    out[(r / inner * n + index[r]) * inner + r % inner] = g[r];
  }
}

// One thread per row, in the CPU kernel's order and with its roundings (prod's gradient with zeros
// is rare; rows are independent).
template <class T>
__global__ void prod_backward_kernel(const T* x, const T* g, const T* y, T* out, int64_t outer, int64_t inner,
                                     bool quotient) {
  using C = compute_t<T>;
  using A = scan_acc_t<T>;
  for (int64_t r = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; r < outer; r += int64_t(gridDim.x) * blockDim.x) {
    const T* xr = x + r * inner;
    T* o = out + r * inner;
    const C gv = load(g + r);
    if (quotient) {
      const C yv = load(y + r);
      for (int64_t i = 0; i < inner; ++i) {
        T q;
        store(&q, yv / load(xr + i));
        store(o + i, gv * load(&q));
      }
      continue;
    }
    A suffix = A(1);
    for (int64_t i = inner; i-- > 0;) {
      store(o + i, suffix);
      suffix *= static_cast<A>(load(xr + i));
    }
    A prefix = A(1);
    for (int64_t i = 0; i < inner; ++i) {
      T prefix_t, both;
      store(&prefix_t, prefix);
      store(&both, load(&prefix_t) * load(o + i));
      store(o + i, gv * load(&both));
      prefix *= static_cast<A>(load(xr + i));
    }
  }
}

}  // namespace

void scatter_along_dim(const Tensor& out, const Tensor& g, const Tensor& index, int64_t outer, int64_t n,
                       int64_t inner) {
  check_tensors(out, g, "cuda::scatter_along_dim");
  if (!g.is_contiguous() || !index.is_contiguous() || index.dtype() != DType::I64 || g.dtype() != out.dtype() ||
      !index.is_cuda()) {
    throw std::invalid_argument("cuda::scatter_along_dim: bad arguments");
  }
  const int64_t count = outer * inner;
  if (count == 0) return;
  set_device_of(out);
  dispatch_device_floating(out.dtype(), "max_backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    scatter_along_dim_kernel<T><<<blocks_for(count), 256, 0, static_cast<cudaStream_t>(current_stream())>>>(
        static_cast<T*>(out.raw_data()), static_cast<const T*>(g.raw_data()),
        static_cast<const int64_t*>(index.raw_data()), count, n, inner);
    RVOS_CUDA_CHECK_LAUNCH("scatter_along_dim_kernel");
  });
}

void prod_backward(const Tensor& out, const Tensor& x, const Tensor& g, const Tensor& y, bool quotient) {
  check_tensors(out, x, "cuda::prod_backward");
  if (x.dim() != 2 || !x.is_contiguous() || !g.is_contiguous() || !y.is_contiguous() || out.shape() != x.shape() ||
      g.numel() != x.size(0) || y.numel() != x.size(0) || g.dtype() != x.dtype() || y.dtype() != x.dtype()) {
    throw std::invalid_argument("cuda::prod_backward: bad arguments");
  }
  const int64_t outer = x.size(0), inner = x.size(1);
  if (outer == 0) return;
  set_device_of(out);
  dispatch_device_floating(x.dtype(), "prod_backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    prod_backward_kernel<T><<<blocks_for(outer, 128), 128, 0, static_cast<cudaStream_t>(current_stream())>>>(
        static_cast<const T*>(x.raw_data()), static_cast<const T*>(g.raw_data()), static_cast<const T*>(y.raw_data()),
        static_cast<T*>(out.raw_data()), outer, inner, quotient);
    RVOS_CUDA_CHECK_LAUNCH("prod_backward_kernel");
  });
}

}  // namespace rvos::cuda
