#pragma once
// The kernels behind cuda/elementwise.h, included by the cuda/elementwise_*.cu files that
// instantiate them per op:
// - vectorized_kernel: out and every input contiguous (or a single element read by every thread)
//   and 16-byte aligned; each thread loads and stores 16 bytes of the widest operand per step, the
//   last n % kVec elements one by one;
// - strided_kernel: any strides, offsets from a MultiIndexer over the collapsed shape.
// Both are grid-stride loops; f16/bf16 load to float, compute in float and round once on store
// (load/store of common.cuh), as the CPU reference does.
#include <cuda/std/tuple>

#include <algorithm>
#include <array>
#include <cstdint>
#include <type_traits>
#include <utility>

#include "cuda/common.cuh"
#include "cuda/elementwise.h"
#include "cuda/multi_indexer.cuh"

namespace rvos::cuda::elementwise_kernels {

using elementwise::TypeSet;

template <class... I>
struct TypeList {
  static constexpr int size = sizeof...(I);
};

template <int N>
struct InputPointers {
  const void* p[N];
};

// kVec elements of T, loaded and stored as one access.
template <class T, int kVec>
struct alignas(sizeof(T) * kVec) Vec {
  T v[kVec];
};

// Elements per vector: 16 bytes of the widest operand.
template <class O, class... I>
constexpr int vector_width() {
  return static_cast<int>(16 / std::max({sizeof(O), sizeof(I)...}));
}

template <class T, int kVec>
__device__ __forceinline__ Vec<T, kVec> load_vec(const T* p, int64_t base, bool single) {
  if (single) {
    Vec<T, kVec> r;
#pragma unroll
    for (int j = 0; j < kVec; ++j) r.v[j] = p[0];
    return r;
  }
  return *reinterpret_cast<const Vec<T, kVec>*>(p + base);
}

// The op's result brought to the output's compute type first (as the CPU loops do), then stored.
template <class O, class R>
__device__ __forceinline__ void store_result(O* p, R r) {
  store(p, static_cast<compute_t<O>>(r));
}

template <int kVec, class O, class Op, class... I, size_t... K>
__device__ __forceinline__ void vectorized_body(const Op& op, int64_t n, O* out, const InputPointers<sizeof...(I)>& in,
                                                uint32_t single_mask, TypeList<I...>, std::index_sequence<K...>) {
  const int64_t start = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  const int64_t step = int64_t(gridDim.x) * blockDim.x;
  const int64_t nvec = n / kVec;
  for (int64_t v = start; v < nvec; v += step) {
    const int64_t base = v * kVec;
    const ::cuda::std::tuple<Vec<I, kVec>...> x{
        load_vec<I, kVec>(static_cast<const I*>(in.p[K]), base, (single_mask >> K) & 1u)...};
    Vec<O, kVec> y;
#pragma unroll
    for (int j = 0; j < kVec; ++j) store_result(&y.v[j], op(load(&::cuda::std::get<K>(x).v[j])...));
    *reinterpret_cast<Vec<O, kVec>*>(out + base) = y;
  }
  for (int64_t i = nvec * kVec + start; i < n; i += step) {
    store_result(out + i, op(load(static_cast<const I*>(in.p[K]) + (((single_mask >> K) & 1u) ? 0 : i))...));
  }
}

template <int kVec, class O, class Op, class Types>
__global__ void __launch_bounds__(256) vectorized_kernel(Op op, int64_t n, O* out, InputPointers<Types::size> in,
                                                         uint32_t single_mask) {
  vectorized_body<kVec>(op, n, out, in, single_mask, Types{}, std::make_index_sequence<Types::size>{});
}

template <class O, class Op, class... I, size_t... K>
__device__ __forceinline__ void strided_body(const Op& op, int64_t n, O* out, const InputPointers<sizeof...(I)>& in,
                                             const MultiIndexer<sizeof...(I) + 1>& ix, TypeList<I...>,
                                             std::index_sequence<K...>) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const auto off = ix.offsets(i);
    store_result(out + off.v[0], op(load(static_cast<const I*>(in.p[K]) + off.v[K + 1])...));
  }
}

template <class O, class Op, class Types>
__global__ void __launch_bounds__(256) strided_kernel(Op op, int64_t n, O* out, InputPointers<Types::size> in,
                                                      MultiIndexer<Types::size + 1> ix) {
  strided_body(op, n, out, in, ix, Types{}, std::make_index_sequence<Types::size>{});
}

// Every element of t is the same one (size-1 or stride-0 dimensions only).
inline bool single_element(const Tensor& t) {
  for (int64_t d = 0; d < t.dim(); ++d) {
    if (t.size(d) != 1 && t.strides()[static_cast<size_t>(d)] != 0) return false;
  }
  return true;
}

inline bool aligned(const void* p, size_t bytes) { return reinterpret_cast<uintptr_t>(p) % bytes == 0; }

// out = op(in...) with element types O and I...; shapes, devices and dtypes checked by the caller.
template <class O, class Op, class... I>
void launch(const Op& op, const Tensor& out, const std::array<const Tensor*, sizeof...(I)>& in) {
  constexpr int kInputs = sizeof...(I);
  const int64_t n = out.numel();
  if (n == 0) return;
  set_device_of(out);
  const auto stream = static_cast<cudaStream_t>(current_stream());
  O* out_ptr = static_cast<O*>(out.raw_data());
  InputPointers<kInputs> ptrs;
  for (int k = 0; k < kInputs; ++k) ptrs.p[k] = in[static_cast<size_t>(k)]->raw_data();

  constexpr int kVec = vector_width<O, I...>();
  constexpr size_t kInputSizes[kInputs] = {sizeof(I)...};
  bool vectorizable = out.is_contiguous() && aligned(out_ptr, sizeof(O) * kVec);
  uint32_t single_mask = 0;
  for (int k = 0; k < kInputs && vectorizable; ++k) {
    const Tensor& t = *in[static_cast<size_t>(k)];
    if (single_element(t)) {
      single_mask |= 1u << k;
    } else if (!t.is_contiguous() || !aligned(ptrs.p[k], kInputSizes[k] * kVec)) {
      vectorizable = false;
    }
  }
  if (vectorizable) {
    vectorized_kernel<kVec, O, Op, TypeList<I...>>
        <<<blocks_for(std::max<int64_t>(n / kVec, 1)), 256, 0, stream>>>(op, n, out_ptr, ptrs, single_mask);
    RVOS_CUDA_CHECK_LAUNCH(Op::kName);
    return;
  }
  std::array<const Shape*, kInputs + 1> strides;
  strides[0] = &out.strides();
  for (int k = 0; k < kInputs; ++k) strides[static_cast<size_t>(k) + 1] = &in[static_cast<size_t>(k)]->strides();
  const MultiIndexer<kInputs + 1> ix = make_multi_indexer<kInputs + 1>(out.shape(), strides);
  strided_kernel<O, Op, TypeList<I...>><<<blocks_for(n), 256, 0, stream>>>(op, n, out_ptr, ptrs, ix);
  RVOS_CUDA_CHECK_LAUNCH(Op::kName);
}

// Calls f(TypeTag<T>{}) with the device type of dtype t when the op accepts it (only those are
// instantiated); throws otherwise.
template <TypeSet kTypes, class F>
void dispatch_types(DType t, const char* op, F&& f) {
  using elementwise::type_set_has;
  switch (t) {
    case DType::Bool:
      if constexpr (type_set_has(kTypes, DType::Bool)) return f(TypeTag<bool>{});
      break;
    case DType::U8:
      if constexpr (type_set_has(kTypes, DType::U8)) return f(TypeTag<uint8_t>{});
      break;
    case DType::I32:
      if constexpr (type_set_has(kTypes, DType::I32)) return f(TypeTag<int32_t>{});
      break;
    case DType::I64:
      if constexpr (type_set_has(kTypes, DType::I64)) return f(TypeTag<int64_t>{});
      break;
    case DType::F16: return f(TypeTag<__half>{});
    case DType::BF16: return f(TypeTag<__nv_bfloat16>{});
    case DType::F32: return f(TypeTag<float>{});
    case DType::F64: return f(TypeTag<double>{});
  }
  throw std::invalid_argument(std::string(op) + ": dtype " + dtype_name(t) + " is not supported");
}

inline void check_operands(const char* op, const Tensor& out, std::initializer_list<const Tensor*> in) {
  if (!out.is_cuda()) throw std::invalid_argument(std::string(op) + ": the output must be on a CUDA device");
  for (const Tensor* t : in) {
    if (t->device() != out.device()) {
      throw std::invalid_argument(std::string(op) + ": operands on different devices (" + t->device().str() + " and " +
                                  out.device().str() + ")");
    }
    if (t->shape() != out.shape()) {
      throw std::invalid_argument(std::string(op) + ": operand of shape " + shape_str(t->shape()) +
                                  " for an output of shape " + shape_str(out.shape()));
    }
  }
}

inline void check_dtype(const char* op, const char* what, DType got, DType expected) {
  if (got != expected) {
    throw std::invalid_argument(std::string(op) + ": " + what + " has dtype " + dtype_name(got) + ", expected " +
                                dtype_name(expected));
  }
}

}  // namespace rvos::cuda::elementwise_kernels

namespace rvos::cuda {

template <class Op>
void unary(const Tensor& out, const Tensor& in, const Op& op) {
  using namespace elementwise_kernels;
  check_operands(Op::kName, out, {&in});
  dispatch_types<Op::kTypes>(in.dtype(), Op::kName, [&](auto tag) {
    using T = typename decltype(tag)::type;
    using O = std::conditional_t<Op::kBoolResult, bool, T>;
    check_dtype(Op::kName, "the output", out.dtype(), Op::kBoolResult ? DType::Bool : in.dtype());
    launch<O, Op, T>(op, out, {&in});
  });
}

template <class Op>
void binary(const Tensor& out, const Tensor& a, const Tensor& b, const Op& op) {
  using namespace elementwise_kernels;
  check_operands(Op::kName, out, {&a, &b});
  check_dtype(Op::kName, "the second operand", b.dtype(), a.dtype());
  dispatch_types<Op::kTypes>(a.dtype(), Op::kName, [&](auto tag) {
    using T = typename decltype(tag)::type;
    using O = std::conditional_t<Op::kBoolResult, bool, T>;
    check_dtype(Op::kName, "the output", out.dtype(), Op::kBoolResult ? DType::Bool : a.dtype());
    launch<O, Op, T, T>(op, out, {&a, &b});
  });
}

template <class Op>
void ternary(const Tensor& out, const Tensor& a, const Tensor& b, const Tensor& c, const Op& op) {
  using namespace elementwise_kernels;
  check_operands(Op::kName, out, {&a, &b, &c});
  check_dtype(Op::kName, "the first operand", a.dtype(), Op::kMaskFirst ? DType::Bool : out.dtype());
  check_dtype(Op::kName, "the second operand", b.dtype(), out.dtype());
  check_dtype(Op::kName, "the third operand", c.dtype(), out.dtype());
  dispatch_types<Op::kTypes>(out.dtype(), Op::kName, [&](auto tag) {
    using T = typename decltype(tag)::type;
    using A = std::conditional_t<Op::kMaskFirst, bool, T>;
    launch<T, Op, A, T, T>(op, out, {&a, &b, &c});
  });
}

}  // namespace rvos::cuda

// Explicit instantiations of the entry points for one op.
#define RVOS_CUDA_UNARY(Op) template void rvos::cuda::unary<Op>(const ::rvos::Tensor&, const ::rvos::Tensor&, const Op&);
#define RVOS_CUDA_BINARY(Op)                                                                            \
  template void rvos::cuda::binary<Op>(const ::rvos::Tensor&, const ::rvos::Tensor&, const ::rvos::Tensor&, \
                                       const Op&);
#define RVOS_CUDA_TERNARY(Op)                                                                            \
  template void rvos::cuda::ternary<Op>(const ::rvos::Tensor&, const ::rvos::Tensor&, const ::rvos::Tensor&, \
                                        const ::rvos::Tensor&, const Op&);
