// Index-driven shape kernels: separable gathers and their adjoint, gather / scatter-add along a
// dim, index bounds. Data movement is dispatched on the element size only (the bytes are copied as
// they are); sums on the floating dtype.
#include <limits>
#include <string>

#include "cuda/common.cuh"
#include "cuda/multi_indexer.cuh"
#include "cuda/shape.h"

namespace rvos::cuda {

namespace {

constexpr int64_t kFillEntry = std::numeric_limits<int64_t>::min();

// A host table copied into a fresh device tensor (kept alive by the caller until the kernels using
// it have been queued; the stream orders its reuse).
Tensor upload(const std::vector<int64_t>& values, Device device) {
  Tensor t = Tensor::empty({std::max<int64_t>(static_cast<int64_t>(values.size()), 1)}, DType::I64, device);
  if (!values.empty()) {
    RVOS_CUDA_CHECK(cudaMemcpyAsync(t.raw_data(), values.data(), values.size() * sizeof(int64_t),
                                    cudaMemcpyHostToDevice, static_cast<cudaStream_t>(current_stream())));
  }
  return t;
}

// Where each dimension's part of a packed table starts, and the sizes iterated over.
struct TableLayout {
  int32_t ndim = 0;
  int64_t sizes[kMaxDims];
  int64_t first[kMaxDims];   // gather: offsets per output coordinate; adjoint: CSR starts per input coordinate
  int64_t second[kMaxDims];  // adjoint: the CSR entries (offsets into g)
};

void check_dims(const char* op, int64_t nd) {
  if (nd > kMaxDims) {
    throw std::invalid_argument(std::string(op) + ": CUDA kernels address at most " + std::to_string(kMaxDims) +
                                " dimensions, got " + std::to_string(nd));
  }
}

// Calls f(TypeTag<W>{}) with the unsigned word of the element size of dtype t.
template <class F>
void dispatch_word(DType t, F&& f) {
  switch (dtype_size(t)) {
    case 1: return f(TypeTag<uint8_t>{});
    case 2: return f(TypeTag<uint16_t>{});
    case 4: return f(TypeTag<uint32_t>{});
    case 8: return f(TypeTag<uint64_t>{});
    default: throw std::invalid_argument(std::string("unsupported element size for dtype ") + dtype_name(t));
  }
}

template <class F>
void dispatch_index(DType t, const char* op, F&& f) {
  if (t == DType::I64) return f(TypeTag<int64_t>{});
  if (t == DType::I32) return f(TypeTag<int32_t>{});
  throw std::invalid_argument(std::string(op) + ": index must be int64 or int32, got " + dtype_name(t));
}

template <class F>
void dispatch_floating_dtype(DType t, const char* op, F&& f) {
  dispatch_device_floating(t, op, std::forward<F>(f));
}

// ------------------------------------------------------------ separable gather

template <class W>
__global__ void gather_maps_kernel(W* __restrict__ out, const W* __restrict__ in, const int64_t* __restrict__ table,
                                   TableLayout layout, W fill, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    int64_t r = i, off = 0;
    bool filled = false;
    for (int d = layout.ndim - 1; d >= 0; --d) {
      const int64_t c = r % layout.sizes[d];
      r /= layout.sizes[d];
      const int64_t v = table[layout.first[d] + c];
      if (v == kFillEntry) filled = true;
      else off += v;
    }
    out[i] = filled ? fill : in[off];
  }
}

// ------------------------------------------------------------ its adjoint

template <class T>
__global__ void scatter_add_maps_kernel(T* __restrict__ gin, const T* __restrict__ g, const int64_t* __restrict__ table,
                                        TableLayout layout, int64_t n) {
  using C = compute_t<T>;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    // Per dim, the range of CSR entries (output coordinates) reading this input coordinate.
    int64_t lo[kMaxDims], hi[kMaxDims], cur[kMaxDims];
    int64_t r = i;
    bool empty = false;
    for (int d = layout.ndim - 1; d >= 0; --d) {
      const int64_t c = r % layout.sizes[d];
      r /= layout.sizes[d];
      lo[d] = table[layout.first[d] + c];
      hi[d] = table[layout.first[d] + c + 1];
      cur[d] = lo[d];
      if (lo[d] == hi[d]) empty = true;
    }
    C acc = C(0);
    // Every combination, last dim fastest: the row-major order of the output positions.
    while (!empty) {
      int64_t off = 0;
      for (int d = 0; d < layout.ndim; ++d) off += table[layout.second[d] + cur[d]];
      acc += load(g + off);
      int d = layout.ndim - 1;
      for (; d >= 0; --d) {
        if (++cur[d] < hi[d]) break;
        cur[d] = lo[d];
      }
      if (d < 0) break;
    }
    store(gin + i, acc);
  }
}

// ------------------------------------------------------------ along a dim

template <class W, class I>
__global__ void gather_kernel(W* __restrict__ out, const W* __restrict__ in, const I* __restrict__ index,
                              MultiIndexer<3> ix, int64_t dim_stride, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const auto off = ix.offsets(i);
    out[off.v[0]] = in[off.v[1] + static_cast<int64_t>(index[off.v[2]]) * dim_stride];
  }
}

// One thread per line along dim (lines write disjoint elements of gin).
template <class T, class I>
__global__ void scatter_add_kernel(T* __restrict__ gin, const T* __restrict__ g, const I* __restrict__ index,
                                   MultiIndexer<3> lines_ix, int64_t lines, int64_t len, int64_t gin_stride,
                                   int64_t g_stride, int64_t index_stride) {
  using C = compute_t<T>;
  for (int64_t line = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; line < lines;
       line += int64_t(gridDim.x) * blockDim.x) {
    const auto off = lines_ix.offsets(line);
    for (int64_t k = 0; k < len; ++k) {
      T* dst = gin + off.v[0] + static_cast<int64_t>(index[off.v[2] + k * index_stride]) * gin_stride;
      store(dst, static_cast<C>(load(dst) + load(g + off.v[1] + k * g_stride)));
    }
  }
}

template <class I>
__global__ void out_of_bounds_kernel(const I* __restrict__ index, StridedIndexer ix, int64_t size, int64_t n,
                                     int* __restrict__ found) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t v = static_cast<int64_t>(index[ix.offset(i)]);
    if (v < 0 || v >= size) *found = 1;
  }
}

}  // namespace

void gather_maps(const Tensor& out, const Tensor& in, const DimMaps& maps, uint64_t fill_bits) {
  const int64_t nd = static_cast<int64_t>(maps.size());
  check_dims("gather_maps", nd);
  if (in.dim() != nd || out.dim() != nd || !out.is_contiguous() || out.dtype() != in.dtype()) {
    throw std::invalid_argument("cuda::gather_maps: expects a contiguous output of the input's rank and dtype");
  }
  const int64_t n = out.numel();
  if (n == 0) return;
  set_device_of(out);
  TableLayout layout;
  layout.ndim = static_cast<int32_t>(nd);
  std::vector<int64_t> table;
  for (int64_t d = 0; d < nd; ++d) {
    const auto& m = maps[static_cast<size_t>(d)];
    if (static_cast<int64_t>(m.size()) != out.size(d)) throw std::invalid_argument("cuda::gather_maps: map size mismatch");
    layout.sizes[d] = out.size(d);
    layout.first[d] = static_cast<int64_t>(table.size());
    for (int64_t v : m) table.push_back(v < 0 ? kFillEntry : v * in.strides()[static_cast<size_t>(d)]);
  }
  const Tensor device_table = upload(table, out.device());
  dispatch_word(out.dtype(), [&](auto tag) {
    using W = typename decltype(tag)::type;
    gather_maps_kernel<W><<<blocks_for(n), 256, 0, static_cast<cudaStream_t>(current_stream())>>>(
        static_cast<W*>(out.raw_data()), static_cast<const W*>(in.raw_data()),
        static_cast<const int64_t*>(device_table.raw_data()), layout, static_cast<W>(fill_bits), n);
    RVOS_CUDA_CHECK_LAUNCH("gather_maps_kernel");
  });
}

void scatter_add_maps(const Tensor& gin, const Tensor& g, const DimMaps& maps) {
  const int64_t nd = static_cast<int64_t>(maps.size());
  check_dims("scatter_add_maps", nd);
  if (gin.dim() != nd || g.dim() != nd || !gin.is_contiguous() || gin.dtype() != g.dtype()) {
    throw std::invalid_argument("cuda::scatter_add_maps: expects a contiguous result of the gradient's rank and dtype");
  }
  const int64_t n = gin.numel();
  if (n == 0) return;
  set_device_of(gin);
  // Per dim, CSR of the output coordinates reading each input coordinate, in increasing order:
  // starts (n_in + 1 entries) and entries (as element offsets into g).
  TableLayout layout;
  layout.ndim = static_cast<int32_t>(nd);
  std::vector<int64_t> table;
  for (int64_t d = 0; d < nd; ++d) {
    const auto& m = maps[static_cast<size_t>(d)];
    if (static_cast<int64_t>(m.size()) != g.size(d)) throw std::invalid_argument("cuda::scatter_add_maps: map size mismatch");
    const int64_t n_in = gin.size(d);
    layout.sizes[d] = n_in;
    std::vector<int64_t> start(static_cast<size_t>(n_in) + 1, 0);
    for (int64_t v : m) {
      if (v >= 0) ++start[static_cast<size_t>(v) + 1];
    }
    for (size_t i = 0; i < static_cast<size_t>(n_in); ++i) start[i + 1] += start[i];
    std::vector<int64_t> entries(static_cast<size_t>(start.back()));
    std::vector<int64_t> next(start.begin(), start.end() - 1);
    for (size_t o = 0; o < m.size(); ++o) {
      const int64_t v = m[o];
      if (v >= 0) entries[static_cast<size_t>(next[static_cast<size_t>(v)]++)] = static_cast<int64_t>(o) * g.strides()[static_cast<size_t>(d)];
    }
    layout.first[d] = static_cast<int64_t>(table.size());
    table.insert(table.end(), start.begin(), start.end());
    layout.second[d] = static_cast<int64_t>(table.size());
    table.insert(table.end(), entries.begin(), entries.end());
  }
  const Tensor device_table = upload(table, gin.device());
  dispatch_floating_dtype(gin.dtype(), "scatter_add_maps", [&](auto tag) {
    using T = typename decltype(tag)::type;
    scatter_add_maps_kernel<T><<<blocks_for(n), 256, 0, static_cast<cudaStream_t>(current_stream())>>>(
        static_cast<T*>(gin.raw_data()), static_cast<const T*>(g.raw_data()),
        static_cast<const int64_t*>(device_table.raw_data()), layout, n);
    RVOS_CUDA_CHECK_LAUNCH("scatter_add_maps_kernel");
  });
}

void gather(const Tensor& out, const Tensor& in, const Tensor& index, int64_t dim_stride) {
  if (out.shape() != index.shape() || in.shape() != index.shape() || !out.is_contiguous() || out.dtype() != in.dtype()) {
    throw std::invalid_argument("cuda::gather: expects a contiguous output and an input view of the index's shape");
  }
  const int64_t n = out.numel();
  if (n == 0) return;
  set_device_of(out);
  const MultiIndexer<3> ix = make_multi_indexer<3>(index.shape(), {&out.strides(), &in.strides(), &index.strides()});
  dispatch_word(out.dtype(), [&](auto tag) {
    using W = typename decltype(tag)::type;
    dispatch_index(index.dtype(), "gather", [&](auto itag) {
      using I = typename decltype(itag)::type;
      gather_kernel<W, I><<<blocks_for(n), 256, 0, static_cast<cudaStream_t>(current_stream())>>>(
          static_cast<W*>(out.raw_data()), static_cast<const W*>(in.raw_data()), static_cast<const I*>(index.raw_data()),
          ix, dim_stride, n);
      RVOS_CUDA_CHECK_LAUNCH("gather_kernel");
    });
  });
}

void scatter_add(const Tensor& gin, const Tensor& g, const Tensor& index, int64_t dim) {
  if (g.shape() != index.shape() || gin.dim() != index.dim() || !gin.is_contiguous() || gin.dtype() != g.dtype() ||
      dim < 0 || dim >= index.dim()) {
    throw std::invalid_argument("cuda::scatter_add: expects a contiguous result of the index's rank and g of its shape");
  }
  if (index.numel() == 0) return;
  set_device_of(gin);
  const size_t d = static_cast<size_t>(dim);
  // The lines: index's shape without dim, each operand's strides without dim.
  Shape outer = index.shape(), gin_st = gin.strides(), g_st = g.strides(), index_st = index.strides();
  const int64_t len = outer[d];
  outer.erase(outer.begin() + dim);
  gin_st.erase(gin_st.begin() + dim);
  g_st.erase(g_st.begin() + dim);
  index_st.erase(index_st.begin() + dim);
  const int64_t lines = shape_numel(outer);
  const MultiIndexer<3> ix = make_multi_indexer<3>(outer, {&gin_st, &g_st, &index_st});
  dispatch_floating_dtype(gin.dtype(), "scatter_add", [&](auto tag) {
    using T = typename decltype(tag)::type;
    dispatch_index(index.dtype(), "scatter_add", [&](auto itag) {
      using I = typename decltype(itag)::type;
      scatter_add_kernel<T, I><<<blocks_for(lines), 256, 0, static_cast<cudaStream_t>(current_stream())>>>(
          static_cast<T*>(gin.raw_data()), static_cast<const T*>(g.raw_data()), static_cast<const I*>(index.raw_data()),
          ix, lines, len, gin.strides()[d], g.strides()[d], index.strides()[d]);
      RVOS_CUDA_CHECK_LAUNCH("scatter_add_kernel");
    });
  });
}

bool any_out_of_bounds(const Tensor& index, int64_t size) {
  const int64_t n = index.numel();
  if (n == 0) return false;
  if (!index.is_cuda()) throw std::invalid_argument("cuda::any_out_of_bounds: the index must be on a CUDA device");
  set_device_of(index);
  const auto stream = static_cast<cudaStream_t>(current_stream());
  Tensor found = Tensor::empty({1}, DType::I32, index.device());
  RVOS_CUDA_CHECK(cudaMemsetAsync(found.raw_data(), 0, sizeof(int), stream));
  dispatch_index(index.dtype(), "index bounds", [&](auto itag) {
    using I = typename decltype(itag)::type;
    out_of_bounds_kernel<I><<<blocks_for(n), 256, 0, stream>>>(static_cast<const I*>(index.raw_data()),
                                                                 make_indexer(index), size, n,
                                                                 static_cast<int*>(found.raw_data()));
    RVOS_CUDA_CHECK_LAUNCH("out_of_bounds_kernel");
  });
  int host = 0;
  RVOS_CUDA_CHECK(cudaMemcpyAsync(&host, found.raw_data(), sizeof(int), cudaMemcpyDeviceToHost, stream));
  RVOS_CUDA_CHECK(cudaStreamSynchronize(stream));
  return host != 0;
}

}  // namespace rvos::cuda
