// The shape operations of shape.h that copy data: cat, stack, pad, index_select,
// gather, take_along_dim, repeat, flip; and the splits, which return views.
#include <algorithm>
#include <array>
#include <cstring>
#include <limits>

#include "ops/copy.h"
#include "ops/cpu_loops.h"
#include "ops/factory.h"
#include "ops/internal.h"
#include "ops/reduce.h"
#include "ops/shape.h"
#include "rvos/version.h"
#if RVOS_HAVE_CUDA
#include "cuda/shape.h"
#endif


namespace rvos {

using detail::with_grad;

namespace {

// ---------------------------------------------------------------- helpers

// A gradient slice brought to the dtype of its input (cat and stack may promote).
Tensor grad_as(const Tensor& g, DType dtype) { return g.dtype() == dtype ? g : to(g, dtype); }

// Wraps `d` for dim lists of ops that, as PyTorch, treat a 0-d tensor as having one dim.
int64_t wrap_dim_scalar_ok(const Tensor& t, int64_t d, const char* what) {
  if (t.dim() == 0) {
    if (d != 0 && d != -1) {
      throw std::out_of_range(std::string(what) + " " + std::to_string(d) +
                              " is out of range for a zero-dimensional tensor (expected 0 or -1)");
    }
    return 0;
  }
  return t.wrap_dim(d, what);
}

// The same tensor seen as 1-D [1] when it is 0-d (no copy, no autograd).
Tensor at_least_1d(const Tensor& t) { return t.dim() == 0 ? Tensor::view_of(t, {1}, {1}, t.offset()) : t; }

template <class F>
decltype(auto) dispatch_index(DType t, const char* op, F&& f) {
  if (t == DType::I64) return f(type_tag<int64_t>{});
  if (t == DType::I32) return f(type_tag<int32_t>{});
  throw std::invalid_argument(std::string(op) + ": index must be int64 or int32, got " + dtype_name(t));
}

// Throws std::out_of_range naming the first (row-major) index outside [0, size).
void check_index_bounds(const Tensor& index, int64_t size, const char* op, int64_t dim) {
  if (index.is_cuda()) {
    // Checked on the device; the rare failure is reported from a host copy, with the same message.
    bool out_of_bounds = false;
    RVOS_ON_CUDA(out_of_bounds = cuda::any_out_of_bounds(index, size));
    if (out_of_bounds) {
      check_index_bounds(to(index, Device::cpu()), size, op, dim);
      throw std::out_of_range(std::string(op) + ": index out of bounds for dim " + std::to_string(dim));
    }
    return;
  }
  dispatch_index(index.dtype(), op, [&](auto tag) {
    using I = typename decltype(tag)::type;
    // Serial (huge grain), so the reported index is the first in row-major order.
    cpu::for_each_run<1>(index.shape(), {&index}, [&](const std::array<char*, 1>& p, const std::array<int64_t, 1>& s,
                                                      int64_t n) {
      for (int64_t i = 0; i < n; ++i) {
        const int64_t v = static_cast<int64_t>(*reinterpret_cast<const I*>(p[0] + i * s[0]));
        if (v < 0 || v >= size) {
          throw std::out_of_range(std::string(op) + ": index " + std::to_string(v) + " is out of bounds for dim " +
                                  std::to_string(dim) + " of size " + std::to_string(size));
        }
      }
    }, std::numeric_limits<int64_t>::max());
  });
}


// ------------------------------------------------------- separable index maps
//
// flip, pad and index_select are separable gathers: output coordinate o along dim d
// reads input coordinate maps[d][o], or is the fill value where that is -1. Their
// gradients are the adjoint: each input position receives the sum of the output
// gradients at the positions that read it.
using DimMaps = std::vector<std::vector<int64_t>>;

std::vector<int64_t> identity_map(int64_t n) {
  std::vector<int64_t> m(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) m[static_cast<size_t>(i)] = i;
  return m;
}

// out (fresh, contiguous, one dim per map, sizes the map lengths) = in through maps.
template <class T>
void gather_maps_kernel(const Tensor& out, const Tensor& in, const DimMaps& maps, T fill) {
  constexpr int64_t kFill = std::numeric_limits<int64_t>::min();
  const size_t nd = maps.size();
  T* o = static_cast<T*>(out.raw_data());
  const T* src = static_cast<const T*>(in.raw_data());
  if (out.numel() == 0) return;
  if (nd == 0) {
    o[0] = src[0];
    return;
  }
  std::vector<std::vector<int64_t>> offs(nd);
  for (size_t d = 0; d < nd; ++d) {
    offs[d].resize(maps[d].size());
    for (size_t i = 0; i < maps[d].size(); ++i) offs[d][i] = maps[d][i] < 0 ? kFill : maps[d][i] * in.strides()[d];
  }
  const Shape& shape = out.shape();
  const int64_t n = shape[nd - 1];
  const std::vector<int64_t>& last = offs[nd - 1];
  bool last_identity = in.strides()[nd - 1] == 1;
  for (int64_t j = 0; j < n && last_identity; ++j) last_identity = maps[nd - 1][static_cast<size_t>(j)] == j;
  const int64_t rows = out.numel() / n;
  parallel_for(0, rows, std::max<int64_t>(1, cpu::kGrain / n), [&](int64_t b, int64_t e) {
    Shape idx(nd - 1, 0);
    int64_t r = b;
    for (size_t d = nd - 1; d-- > 0;) {
      idx[d] = r % shape[d];
      r /= shape[d];
    }
    for (int64_t row = b; row < e; ++row) {
      int64_t base = 0;
      bool filled = false;
      for (size_t d = 0; d + 1 < nd; ++d) {
        const int64_t v = offs[d][static_cast<size_t>(idx[d])];
        if (v == kFill) filled = true;
        else base += v;
      }
      T* orow = o + row * n;
      if (filled) {
        std::fill(orow, orow + n, fill);
      } else if (last_identity) {
        std::copy(src + base, src + base + n, orow);
      } else {
        for (int64_t j = 0; j < n; ++j) {
          const int64_t v = last[static_cast<size_t>(j)];
          orow[j] = v == kFill ? fill : src[base + v];
        }
      }
      for (size_t d = nd - 1; d-- > 0;) {
        if (++idx[d] < shape[d]) break;
        idx[d] = 0;
      }
    }
  });
}

// gin (fresh, contiguous, the input's shape) = adjoint of the gather through maps
// applied to g (shaped like the output, any strides, same dtype). Each input element
// sums its contributions from zero in row-major order of the output positions, the
// order in which PyTorch's index_add_ and padding backward kernels add them.
template <class T>
void scatter_add_maps_kernel(const Tensor& gin, const Tensor& g, const DimMaps& maps) {
  using C = compute_t<T>;
  const size_t nd = maps.size();
  T* o = static_cast<T*>(gin.raw_data());
  const T* gp = static_cast<const T*>(g.raw_data());
  if (gin.numel() == 0) return;
  if (nd == 0) {
    o[0] = gp[0];
    return;
  }
  const Shape& shape = gin.shape();
  // Per dim, the output coordinates reading each input coordinate (as element offsets
  // into g), grouped by input coordinate: inv_outs[d][inv_start[d][i] .. inv_start[d][i+1]).
  std::vector<std::vector<int64_t>> inv_start(nd), inv_outs(nd);
  for (size_t d = 0; d < nd; ++d) {
    const int64_t n_in = shape[d];
    std::vector<int64_t>& start = inv_start[d];
    start.assign(static_cast<size_t>(n_in) + 1, 0);
    for (int64_t m : maps[d]) {
      if (m >= 0) ++start[static_cast<size_t>(m) + 1];
    }
    for (size_t i = 0; i < static_cast<size_t>(n_in); ++i) start[i + 1] += start[i];
    std::vector<int64_t> fill_pos(start.begin(), start.end() - 1);
    inv_outs[d].resize(static_cast<size_t>(start.back()));
    for (size_t oc = 0; oc < maps[d].size(); ++oc) {
      const int64_t m = maps[d][oc];
      if (m >= 0) inv_outs[d][static_cast<size_t>(fill_pos[static_cast<size_t>(m)]++)] = static_cast<int64_t>(oc) * g.strides()[d];
    }
  }
  const int64_t n = shape[nd - 1];
  const int64_t rows = gin.numel() / n;
  const std::vector<int64_t>& last_start = inv_start[nd - 1];
  const std::vector<int64_t>& last_outs = inv_outs[nd - 1];
  parallel_for(0, rows, std::max<int64_t>(1, cpu::kGrain / n), [&](int64_t b, int64_t e) {
    Shape idx(nd - 1, 0);
    int64_t r = b;
    for (size_t d = nd - 1; d-- > 0;) {
      idx[d] = r % shape[d];
      r /= shape[d];
    }
    std::vector<int64_t> row_offs, next;
    for (int64_t row = b; row < e; ++row) {
      // Offsets in g of the output rows reading this input row, in lexicographic order.
      row_offs.assign(1, 0);
      for (size_t d = 0; d + 1 < nd; ++d) {
        next.clear();
        const size_t i = static_cast<size_t>(idx[d]);
        for (int64_t ro : row_offs) {
          for (int64_t k = inv_start[d][i]; k < inv_start[d][i + 1]; ++k) next.push_back(ro + inv_outs[d][static_cast<size_t>(k)]);
        }
        row_offs.swap(next);
      }
      T* orow = o + row * n;
      for (int64_t j = 0; j < n; ++j) {
        C acc = C(0);
        for (int64_t ro : row_offs) {
          for (int64_t k = last_start[static_cast<size_t>(j)]; k < last_start[static_cast<size_t>(j) + 1]; ++k) {
            acc += static_cast<C>(gp[ro + last_outs[static_cast<size_t>(k)]]);
          }
        }
        orow[j] = static_cast<T>(acc);
      }
      for (size_t d = nd - 1; d-- > 0;) {
        if (++idx[d] < shape[d]) break;
        idx[d] = 0;
      }
    }
  });
}

Tensor gather_maps(const Tensor& in, const DimMaps& maps, Scalar fill, const char* op) {
  Shape shape;
  for (const auto& m : maps) shape.push_back(static_cast<int64_t>(m.size()));
  Tensor out = Tensor::empty(shape, in.dtype(), in.device());
  if (out.is_cuda()) {
    // The fill value's bytes in the dtype, converted as on the CPU.
    const Tensor fill_value = full({}, fill, in.dtype());
    uint64_t fill_bits = 0;
    std::memcpy(&fill_bits, fill_value.raw_data(), fill_value.element_size());
    RVOS_ON_CUDA(cuda::gather_maps(out, in, maps, fill_bits));
    return out;
  }
  dispatch_all(in.dtype(), op, [&](auto tag) {
    using T = typename decltype(tag)::type;
    gather_maps_kernel<T>(out, in, maps, fill.to<T>());
  });
  return out;
}

Tensor scatter_add_maps(const Tensor& g, const Shape& in_shape, DType in_dtype, const DimMaps& maps, const char* op) {
  Tensor gc = grad_as(g, in_dtype);
  Tensor gin = Tensor::empty(in_shape, in_dtype, g.device());
  if (gin.is_cuda()) {
    if (!is_floating(in_dtype)) throw_unsupported_dtype(op, in_dtype);
    RVOS_ON_CUDA(cuda::scatter_add_maps(gin, gc, maps));
    return gin;
  }
  dispatch_floating(in_dtype, op, [&](auto tag) {
    using T = typename decltype(tag)::type;
    scatter_add_maps_kernel<T>(gin, gc, maps);
  });
  return gin;
}

// Records the adjoint of a separable gather as the gradient of `out`.
Tensor with_maps_grad(const char* name, const Tensor& t, Tensor out, DimMaps maps) {
  if (!autograd::any_requires_grad(t)) return out;
  Shape in_shape = t.shape();
  DType in_dtype = t.dtype();
  return with_grad(name, {t}, out, [name, in_shape, in_dtype, maps = std::move(maps)](const TensorList& g) {
    return TensorList{scatter_add_maps(g[0], in_shape, in_dtype, maps, name)};
  });
}

// ----------------------------------------------------------- gather/scatter

// out[p] = in[p with coordinate dim replaced by index[p]]; all three have index's
// shape except that in may be larger outside dim. Indices already checked.
Tensor gather_forward(const Tensor& in, int64_t dim, const Tensor& index, const char* op) {
  Tensor out = Tensor::empty(index.shape(), in.dtype(), in.device());
  Shape st = in.strides();
  const int64_t dim_stride = st[static_cast<size_t>(dim)];
  st[static_cast<size_t>(dim)] = 0;
  Tensor in_view = Tensor::view_of(in, index.shape(), st, in.offset());
  if (out.is_cuda()) {
    RVOS_ON_CUDA(cuda::gather(out, in_view, index, dim_stride));
    return out;
  }
  dispatch_all(in.dtype(), op, [&](auto tag) {
    using T = typename decltype(tag)::type;
    dispatch_index(index.dtype(), op, [&](auto itag) {
      using I = typename decltype(itag)::type;
      cpu::for_each_run<3>(index.shape(), {&out, &in_view, &index},
                           [&](const std::array<char*, 3>& p, const std::array<int64_t, 3>& s, int64_t n) {
        const int64_t so = s[0] / int64_t(sizeof(T)), sx = s[1] / int64_t(sizeof(T)), si = s[2] / int64_t(sizeof(I));
        T* o = reinterpret_cast<T*>(p[0]);
        const T* x = reinterpret_cast<const T*>(p[1]);
        const I* ix = reinterpret_cast<const I*>(p[2]);
        for (int64_t i = 0; i < n; ++i) o[i * so] = x[i * sx + static_cast<int64_t>(ix[i * si]) * dim_stride];
      });
    });
  });
  return out;
}

// Zeros of `in_shape` with g scatter-added along dim at index (torch's scatter_add_ into
// zeros): each element accumulates its contributions in increasing index position.
Tensor scatter_add_forward(const Tensor& g, int64_t dim, const Tensor& index, const Shape& in_shape, DType dtype,
                           const char* op) {
  Tensor gc = grad_as(g, dtype);
  Tensor gin = zeros(in_shape, dtype, g.device());
  const int64_t len = index.shape()[static_cast<size_t>(dim)];
  const int64_t gin_dim_stride = gin.strides()[static_cast<size_t>(dim)];
  if (gin.is_cuda()) {
    if (!is_floating(dtype)) throw_unsupported_dtype(op, dtype);
    RVOS_ON_CUDA(cuda::scatter_add(gin, gc, index, dim));
    return gin;
  }
  dispatch_floating(dtype, op, [&](auto tag) {
    using T = typename decltype(tag)::type;
    using C = compute_t<T>;
    dispatch_index(index.dtype(), op, [&](auto itag) {
      using I = typename decltype(itag)::type;
      T* o = static_cast<T*>(gin.raw_data());
      const T* gp = static_cast<const T*>(gc.raw_data());
      const I* ip = static_cast<const I*>(index.raw_data());
      const int64_t gs = gc.strides()[static_cast<size_t>(dim)], is = index.strides()[static_cast<size_t>(dim)];
      cpu::for_each_line<3>(index.shape(), dim, {gin.strides(), gc.strides(), index.strides()}, index.size(dim),
                       [&](const std::array<int64_t, 3>& off) {
        for (int64_t k = 0; k < len; ++k) {
          T& dst = o[off[0] + static_cast<int64_t>(ip[off[2] + k * is]) * gin_dim_stride];
          dst = static_cast<T>(static_cast<C>(dst) + static_cast<C>(gp[off[1] + k * gs]));
        }
      });
    });
  });
  return gin;
}

// Checks of torch.gather: same rank (0-d counting as 1-d), index no larger than the
// input outside dim, indices within the input's size along dim.
void check_gather(const Tensor& t, int64_t d, const Tensor& index, const char* op) {
  const int64_t rank = std::max<int64_t>(t.dim(), 1);
  if (std::max<int64_t>(index.dim(), 1) != rank) {
    throw_shape_error(op, "index " + shape_str(index.shape()) + " must have the same number of dimensions as input " +
                              shape_str(t.shape()));
  }
  Tensor t1 = at_least_1d(t), i1 = at_least_1d(index);
  for (int64_t k = 0; k < rank; ++k) {
    if (k != d && i1.shape()[static_cast<size_t>(k)] > t1.shape()[static_cast<size_t>(k)]) {
      throw_shape_error(op, "index " + shape_str(index.shape()) + " is larger than input " + shape_str(t.shape()) +
                                " at dimension " + std::to_string(k) + " (only dim " + std::to_string(d) +
                                " may be larger)");
    }
  }
  check_index_bounds(i1, t1.shape()[static_cast<size_t>(d)], op, d);
}

// --------------------------------------------------------------- pad maps

enum class PadMode { Constant, Reflect, Replicate };

PadMode parse_pad_mode(const std::string& mode) {
  if (mode == "constant") return PadMode::Constant;
  if (mode == "reflect") return PadMode::Reflect;
  if (mode == "replicate") return PadMode::Replicate;
  throw std::invalid_argument("pad: mode must be 'constant', 'reflect' or 'replicate', got '" + mode + "'");
}

}  // namespace

// ------------------------------------------------------------------- cat

Tensor cat(const std::vector<Tensor>& ts, int64_t dim) {
  if (ts.empty()) throw std::invalid_argument("cat: expected a non-empty list of tensors");
  for (size_t i = 0; i < ts.size(); ++i) {
    check_defined(ts[i], "cat", ("tensors[" + std::to_string(i) + "]").c_str());
    if (ts[i].dim() == 0) {
      throw_shape_error("cat", "zero-dimensional tensor (at position " + std::to_string(i) + ") cannot be concatenated");
    }
    if (ts[i].device() != ts[0].device()) {
      throw std::invalid_argument("cat: tensors are on different devices (" + ts[0].device().str() + " at position 0 and " +
                                  ts[i].device().str() + " at position " + std::to_string(i) + ")");
    }
  }
  // Legacy empty 1-D tensors [0] are skipped, as PyTorch does; they still take part in
  // the dtype promotion.
  auto skipped = [](const Tensor& t) { return t.dim() == 1 && t.shape()[0] == 0; };
  DType dtype = ts[0].dtype();
  for (const Tensor& t : ts) dtype = promote_types(dtype, t.dtype());
  size_t valid = ts.size();
  for (size_t i = 0; i < ts.size() && valid == ts.size(); ++i) {
    if (!skipped(ts[i])) valid = i;
  }
  if (valid == ts.size()) {  // nothing but legacy empties: an empty [0] result
    Tensor out = Tensor::empty({0}, dtype, ts[0].device());
    std::vector<DType> dtypes;
    for (const Tensor& t : ts) dtypes.push_back(t.dtype());
    return with_grad("cat", ts, out, [dtypes](const TensorList& g) {
      TensorList r;
      for (DType dt : dtypes) r.push_back(is_floating(dt) ? zeros({0}, dt, g[0].device()) : Tensor());
      return r;
    });
  }
  const Tensor& ref = ts[valid];
  const int64_t d = ref.wrap_dim(dim, "cat dim");
  Shape shape = ref.shape();
  int64_t total = 0;
  for (size_t i = 0; i < ts.size(); ++i) {
    const Tensor& t = ts[i];
    if (skipped(t)) continue;
    if (t.dim() != ref.dim()) {
      throw_shape_error("cat", "tensors must have the same number of dimensions: got " + std::to_string(ref.dim()) +
                                   " and " + std::to_string(t.dim()) + " (tensor " + std::to_string(i) + ")");
    }
    for (int64_t k = 0; k < t.dim(); ++k) {
      if (k != d && t.shape()[static_cast<size_t>(k)] != shape[static_cast<size_t>(k)]) {
        throw_shape_error("cat", "sizes of tensors must match except in dimension " + std::to_string(d) +
                                     ": expected " + shape_str(ref.shape()) + " but got " + shape_str(t.shape()) +
                                     " for tensor " + std::to_string(i));
      }
    }
    total += t.shape()[static_cast<size_t>(d)];
  }
  shape[static_cast<size_t>(d)] = total;
  Tensor out = Tensor::empty(shape, dtype, ref.device());
  std::vector<int64_t> starts(ts.size(), 0);
  int64_t pos = 0;
  for (size_t i = 0; i < ts.size(); ++i) {
    starts[i] = pos;
    if (skipped(ts[i])) continue;
    const int64_t len = ts[i].shape()[static_cast<size_t>(d)];
    Tensor dst = Tensor::view_of(out, ts[i].shape(), out.strides(), pos * out.strides()[static_cast<size_t>(d)]);
    copy_(dst, ts[i].detach());
    pos += len;
  }
  std::vector<Shape> shapes;
  std::vector<DType> dtypes;
  for (const Tensor& t : ts) {
    shapes.push_back(t.shape());
    dtypes.push_back(t.dtype());
  }
  return with_grad("cat", ts, out, [d, starts, shapes, dtypes](const TensorList& g) {
    TensorList r;
    for (size_t i = 0; i < shapes.size(); ++i) {
      if (!is_floating(dtypes[i])) {
        r.emplace_back();
      } else if (shapes[i].size() == 1 && shapes[i][0] == 0) {
        r.push_back(zeros({0}, dtypes[i], g[0].device()));
      } else {
        r.push_back(grad_as(narrow(g[0], d, starts[i], shapes[i][static_cast<size_t>(d)]), dtypes[i]));
      }
    }
    return r;
  });
}

Tensor stack(const std::vector<Tensor>& ts, int64_t dim) {
  if (ts.empty()) throw std::invalid_argument("stack: expected a non-empty list of tensors");
  for (size_t i = 0; i < ts.size(); ++i) {
    check_defined(ts[i], "stack", ("tensors[" + std::to_string(i) + "]").c_str());
    if (ts[i].shape() != ts[0].shape()) {
      throw_shape_error("stack", "expects each tensor to be equal size, but got " + shape_str(ts[0].shape()) +
                                     " at entry 0 and " + shape_str(ts[i].shape()) + " at entry " + std::to_string(i));
    }
    if (ts[i].device() != ts[0].device()) {
      throw std::invalid_argument("stack: tensors are on different devices (" + ts[0].device().str() +
                                  " at position 0 and " + ts[i].device().str() + " at position " + std::to_string(i) +
                                  ")");
    }
  }
  const int64_t rank = ts[0].dim() + 1;
  const int64_t d = dim < 0 ? dim + rank : dim;
  if (d < 0 || d >= rank) {
    throw std::out_of_range("stack: dim " + std::to_string(dim) + " is out of range for a result of " +
                            std::to_string(rank) + " dimensions");
  }
  DType dtype = ts[0].dtype();
  for (const Tensor& t : ts) dtype = promote_types(dtype, t.dtype());
  Shape shape = ts[0].shape();
  shape.insert(shape.begin() + d, static_cast<int64_t>(ts.size()));
  Tensor out = Tensor::empty(shape, dtype, ts[0].device());
  Shape slot_strides = out.strides();
  const int64_t step = slot_strides[static_cast<size_t>(d)];
  slot_strides.erase(slot_strides.begin() + d);
  for (size_t i = 0; i < ts.size(); ++i) {
    copy_(Tensor::view_of(out, ts[i].shape(), slot_strides, static_cast<int64_t>(i) * step), ts[i].detach());
  }
  std::vector<DType> dtypes;
  for (const Tensor& t : ts) dtypes.push_back(t.dtype());
  return with_grad("stack", ts, out, [d, dtypes](const TensorList& g) {
    TensorList r;
    for (size_t i = 0; i < dtypes.size(); ++i) {
      if (is_floating(dtypes[i])) r.push_back(grad_as(select(g[0], d, static_cast<int64_t>(i)), dtypes[i]));
      else r.emplace_back();
    }
    return r;
  });
}

// ----------------------------------------------------------------- splits

std::vector<Tensor> split(const Tensor& t, int64_t split_size, int64_t dim) {
  check_defined(t, "split", "input");
  if (t.dim() == 0) throw_shape_error("split", "expects at least a 1-dimensional tensor");
  if (split_size < 0) {
    throw_shape_error("split", "split_size must be non-negative, got " + std::to_string(split_size));
  }
  const int64_t d = t.wrap_dim(dim, "split dim");
  const int64_t n = t.shape()[static_cast<size_t>(d)];
  if (split_size == 0 && n != 0) {
    throw_shape_error("split", "split_size can only be 0 if the dimension size is 0, but dim " + std::to_string(d) +
                                   " has size " + std::to_string(n));
  }
  const int64_t pieces = split_size == 0 ? 1 : std::max<int64_t>((n + split_size - 1) / split_size, 1);
  std::vector<Tensor> out;
  for (int64_t i = 0; i < pieces; ++i) {
    const int64_t start = i * split_size;
    out.push_back(narrow(t, d, start, std::min(split_size, n - start)));
  }
  return out;
}

std::vector<Tensor> split_with_sizes(const Tensor& t, const std::vector<int64_t>& sizes, int64_t dim) {
  check_defined(t, "split_with_sizes", "input");
  if (t.dim() == 0) throw_shape_error("split_with_sizes", "expects at least a 1-dimensional tensor");
  const int64_t d = t.wrap_dim(dim, "split_with_sizes dim");
  const int64_t n = t.shape()[static_cast<size_t>(d)];
  int64_t total = 0;
  for (int64_t s : sizes) {
    if (s < 0) throw_shape_error("split_with_sizes", "sizes must be non-negative, got " + shape_str(sizes));
    total += s;
  }
  if (total != n) {
    throw_shape_error("split_with_sizes", "sizes " + shape_str(sizes) + " must sum exactly to " + std::to_string(n) +
                                              " (the size of dim " + std::to_string(d) + ")");
  }
  std::vector<Tensor> out;
  int64_t start = 0;
  for (int64_t s : sizes) {
    out.push_back(narrow(t, d, start, s));
    start += s;
  }
  return out;
}

std::vector<Tensor> chunk(const Tensor& t, int64_t chunks, int64_t dim) {
  check_defined(t, "chunk", "input");
  if (t.dim() == 0) throw_shape_error("chunk", "expects at least a 1-dimensional tensor");
  if (chunks <= 0) throw_shape_error("chunk", "chunks must be greater than 0, got " + std::to_string(chunks));
  const int64_t d = t.wrap_dim(dim, "chunk dim");
  const int64_t n = t.shape()[static_cast<size_t>(d)];
  const int64_t size = (n + chunks - 1) / chunks;
  // An empty dim gives `chunks` empty pieces (split would give one).
  if (n == 0) return split_with_sizes(t, std::vector<int64_t>(static_cast<size_t>(chunks), 0), d);
  return split(t, size, d);
}

std::vector<Tensor> unbind(const Tensor& t, int64_t dim) {
  check_defined(t, "unbind", "input");
  const int64_t d = t.wrap_dim(dim, "unbind dim");
  std::vector<Tensor> out;
  for (int64_t i = 0; i < t.shape()[static_cast<size_t>(d)]; ++i) out.push_back(select(t, d, i));
  return out;
}

// -------------------------------------------------------------------- pad

Tensor pad(const Tensor& t, const std::vector<int64_t>& pads, const std::string& mode, double value) {
  check_defined(t, "pad", "input");
  const PadMode m = parse_pad_mode(mode);
  if (m != PadMode::Constant && value != 0.0) {
    throw std::invalid_argument("pad: mode '" + mode + "' does not take a value");
  }
  if (pads.size() % 2 != 0) {
    throw_shape_error("pad", "padding length must be divisible by 2, got " + std::to_string(pads.size()));
  }
  const int64_t npad = static_cast<int64_t>(pads.size() / 2);
  if (npad > t.dim()) {
    throw_shape_error("pad", "padding length " + std::to_string(pads.size()) +
                                 " is more than twice the number of dimensions of input " + shape_str(t.shape()));
  }
  // Reflect and replicate accept any number of padded dims here (PyTorch limits them to the
  // last 1-3 dims of batched inputs); results agree wherever PyTorch accepts the input.
  DimMaps maps;
  for (int64_t d = 0; d < t.dim(); ++d) {
    const int64_t n = t.shape()[static_cast<size_t>(d)];
    const int64_t k = t.dim() - 1 - d;  // pair index, counted from the last dim
    if (k >= npad) {
      maps.push_back(identity_map(n));
      continue;
    }
    const int64_t before = pads[static_cast<size_t>(2 * k)], after = pads[static_cast<size_t>(2 * k + 1)];
    const int64_t out_n = n + before + after;
    if (out_n < 0) {
      throw_shape_error("pad", "the input size " + std::to_string(n) + ", plus negative padding " +
                                   std::to_string(before) + " and " + std::to_string(after) +
                                   " resulted in a negative output size at dimension " + std::to_string(d));
    }
    if (m == PadMode::Reflect && ((before > 0 && before >= n) || (after > 0 && after >= n))) {
      throw_shape_error("pad", "reflect padding (" + std::to_string(before) + ", " + std::to_string(after) +
                                   ") must be smaller than the size " + std::to_string(n) + " of dimension " +
                                   std::to_string(d));
    }
    if (m == PadMode::Replicate && n == 0 && out_n > 0) {
      throw_shape_error("pad", "replicate padding needs a non-empty dimension, but dimension " + std::to_string(d) +
                                   " has size 0");
    }
    std::vector<int64_t> map(static_cast<size_t>(out_n));
    for (int64_t o = 0; o < out_n; ++o) {
      int64_t src = o - before;
      if (m == PadMode::Constant) {
        if (src < 0 || src >= n) src = -1;
      } else if (m == PadMode::Reflect) {
        if (src < 0) src = -src;
        if (src >= n) src = 2 * (n - 1) - src;
      } else {
        src = std::clamp<int64_t>(src, 0, n - 1);
      }
      map[static_cast<size_t>(o)] = src;
    }
    maps.push_back(std::move(map));
  }
  Tensor out = gather_maps(t.detach(), maps, Scalar(value), "pad");
  return with_maps_grad("pad", t, out, std::move(maps));
}

// ------------------------------------------------------------ index ops

Tensor index_select(const Tensor& t, int64_t dim, const Tensor& index) {
  check_defined(t, "index_select", "input");
  check_defined(index, "index_select", "index");
  check_same_device("index_select", {&t, &index});
  const int64_t d = wrap_dim_scalar_ok(t, dim, "index_select dim");
  if (index.dim() > 1) {
    throw_shape_error("index_select", "index must be a vector (0-d or 1-d), got shape " + shape_str(index.shape()));
  }
  dispatch_index(index.dtype(), "index_select", [](auto) {});
  if (t.dim() == 0 && index.numel() != 1) {
    throw_shape_error("index_select", "an index into a 0-d tensor must have exactly one value, got " +
                                          std::to_string(index.numel()));
  }
  Tensor t1 = at_least_1d(t.detach());
  check_index_bounds(index, t1.shape()[static_cast<size_t>(d)], "index_select", d);
  DimMaps maps;
  for (int64_t k = 0; k < t1.dim(); ++k) {
    maps.push_back(k == d ? to_vector<int64_t>(index) : identity_map(t1.shape()[static_cast<size_t>(k)]));
  }
  if (t.dim() == 0) maps.clear();  // the single element
  Tensor out = gather_maps(t.detach(), maps, Scalar(0), "index_select");
  return with_maps_grad("index_select", t, out, std::move(maps));
}

Tensor gather(const Tensor& t, int64_t dim, const Tensor& index) {
  check_defined(t, "gather", "input");
  check_defined(index, "gather", "index");
  check_same_device("gather", {&t, &index});
  const int64_t d = wrap_dim_scalar_ok(t, dim, "gather dim");
  dispatch_index(index.dtype(), "gather", [](auto) {});
  check_gather(t, d, index, "gather");
  Tensor i1 = at_least_1d(index);
  Tensor out1 = gather_forward(at_least_1d(t.detach()), d, i1, "gather");
  Tensor out = Tensor::view_of(out1, index.shape(), contiguous_strides(index.shape()), 0);
  if (!autograd::any_requires_grad(t)) return out;
  Shape in_shape = t.shape();
  DType in_dtype = t.dtype();
  return with_grad("gather", {t}, out, [d, i1, in_shape, in_dtype](const TensorList& g) {
    Tensor g1 = at_least_1d(g[0]);
    Shape in1 = in_shape.empty() ? Shape{1} : in_shape;
    Tensor gin = scatter_add_forward(g1, d, i1, in1, in_dtype, "gather_backward");
    return TensorList{in_shape.empty() ? reshape(gin, in_shape) : gin};
  });
}

Tensor take_along_dim(const Tensor& t, const Tensor& index, int64_t dim) {
  check_defined(t, "take_along_dim", "input");
  check_defined(index, "take_along_dim", "index");
  check_same_device("take_along_dim", {&t, &index});
  if (t.dim() != index.dim()) {
    throw_shape_error("take_along_dim", "input " + shape_str(t.shape()) + " and index " + shape_str(index.shape()) +
                                            " must have the same number of dimensions");
  }
  dispatch_index(index.dtype(), "take_along_dim", [](auto) {});
  const int64_t d = wrap_dim_scalar_ok(t, dim, "take_along_dim dim");
  if (t.dim() == 0) return gather(t, d, index);
  // Broadcast input and index against each other in every dim but `dim`.
  Shape self_sizes = t.shape();
  self_sizes[static_cast<size_t>(d)] = index.shape()[static_cast<size_t>(d)];
  Tensor index_b = detail::broadcast_view(index, broadcast_shapes(self_sizes, index.shape(), "take_along_dim"));
  Shape index_sizes = index.shape();
  index_sizes[static_cast<size_t>(d)] = t.shape()[static_cast<size_t>(d)];
  const Shape self_b_shape = broadcast_shapes(index_sizes, t.shape(), "take_along_dim");
  Tensor self_b = detail::broadcast_view(t.detach(), self_b_shape);
  check_index_bounds(index_b, t.shape()[static_cast<size_t>(d)], "take_along_dim", d);
  Tensor out = gather_forward(self_b, d, index_b, "take_along_dim");
  if (!autograd::any_requires_grad(t)) return out;
  Shape in_shape = t.shape();
  DType in_dtype = t.dtype();
  return with_grad("take_along_dim", {t}, out, [d, index_b, self_b_shape, in_shape, in_dtype](const TensorList& g) {
    Tensor gb = scatter_add_forward(g[0], d, index_b, self_b_shape, in_dtype, "take_along_dim_backward");
    return TensorList{sum_to(gb, in_shape)};
  });
}

// -------------------------------------------------------- repeat and flip

Tensor repeat(const Tensor& t, const Shape& repeats) {
  check_defined(t, "repeat", "input");
  if (static_cast<int64_t>(repeats.size()) < t.dim()) {
    throw_shape_error("repeat", "the number of repeat dims (" + std::to_string(repeats.size()) +
                                    ") can not be smaller than the number of dimensions of the tensor (" +
                                    std::to_string(t.dim()) + ")");
  }
  for (int64_t r : repeats) {
    if (r < 0) throw_shape_error("repeat", "repeats must be non-negative, got " + shape_str(repeats));
  }
  const size_t nd = repeats.size(), lead = nd - static_cast<size_t>(t.dim());
  // The output seen as [r0, n0, r1, n1, ...], read from the input broadcast over the r dims.
  Shape out_shape(nd), pair_shape, src_strides, repeat_dims;
  for (size_t i = 0; i < nd; ++i) {
    const int64_t n = i < lead ? 1 : t.shape()[i - lead];
    out_shape[i] = n * repeats[i];
    pair_shape.push_back(repeats[i]);
    pair_shape.push_back(n);
    src_strides.push_back(0);
    src_strides.push_back(i < lead ? 0 : t.strides()[i - lead]);
    repeat_dims.push_back(static_cast<int64_t>(2 * i));
  }
  Tensor out = Tensor::empty(out_shape, t.dtype(), t.device());
  copy_(Tensor::view_of(out, pair_shape, contiguous_strides(pair_shape), 0),
        Tensor::view_of(t, pair_shape, src_strides, t.offset()));
  Shape in_shape = t.shape();
  return with_grad("repeat", {t}, out, [pair_shape, repeat_dims, in_shape](const TensorList& g) {
    if (repeat_dims.empty()) return TensorList{reshape(g[0], in_shape)};
    return TensorList{reshape(sum(reshape(g[0], pair_shape), repeat_dims), in_shape)};
  });
}

Tensor flip(const Tensor& t, const std::vector<int64_t>& dims) {
  check_defined(t, "flip", "input");
  std::vector<bool> flipped(static_cast<size_t>(std::max<int64_t>(t.dim(), 1)), false);
  std::vector<int64_t> wrapped;
  for (int64_t dim : dims) {
    const int64_t d = wrap_dim_scalar_ok(t, dim, "flip dim");
    if (flipped[static_cast<size_t>(d)]) {
      throw_shape_error("flip", "dim " + std::to_string(d) + " appears multiple times in the list of dims");
    }
    flipped[static_cast<size_t>(d)] = true;
    wrapped.push_back(d);
  }
  // The input read backwards through negative strides, copied into a fresh tensor.
  Shape st = t.strides();
  int64_t offset = t.offset();
  for (int64_t d = 0; d < t.dim(); ++d) {
    const size_t i = static_cast<size_t>(d);
    if (!flipped[i] || t.shape()[i] == 0) continue;
    offset += (t.shape()[i] - 1) * st[i];
    st[i] = -st[i];
  }
  Tensor out = Tensor::empty(t.shape(), t.dtype(), t.device());
  copy_(out, Tensor::view_of(t, t.shape(), st, offset));
  return with_grad("flip", {t}, out, [wrapped](const TensorList& g) { return TensorList{flip(g[0], wrapped)}; });
}

}  // namespace rvos
