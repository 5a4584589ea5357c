// Reductions and scans: CPU reference kernels and gradients.
//
// Every reduction is computed by moving the reduced dims to the end (a view),
// making that [outer, inner] block contiguous when needed, and reducing each
// inner run. Float32 accumulates in double, so results are at least as accurate
// as PyTorch's pairwise sums. Gradients follow PyTorch's formulas
// (FunctionsManual.cpp), including their handling of zeros, ties and NaNs.
// CUDA tensors go to the kernels of cuda/reduce.h, which read the permuted view
// as it is (no copy) and accumulate as these CPU kernels do.
#include "ops/reduce.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "ops/copy.h"
#include "ops/cpu_loops.h"
#include "ops/elementwise.h"
#include "ops/factory.h"
#include "ops/internal.h"
#include "ops/shape.h"
#include "rvos/version.h"
#if RVOS_HAVE_CUDA
#include "cuda/reduce.h"
#endif

namespace rvos {

using detail::with_grad;

namespace {

template <class T> using acc_t = std::conditional_t<std::is_floating_point_v<compute_t<T>> || std::is_same_v<T, Half> ||
                                                        std::is_same_v<T, BFloat16>, double, int64_t>;

// Accumulator of cumulative ops (cumsum, and the cumulative products of prod's
// gradient), as PyTorch's CPU acc_type: float for f16/bf16, double for f32/f64.
template <class T> using cum_acc_t =
    std::conditional_t<std::is_same_v<T, Half> || std::is_same_v<T, BFloat16>, float,
                       std::conditional_t<std::is_floating_point_v<T>, double, int64_t>>;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

template <class C> bool is_nan_value(C v) {
  if constexpr (std::is_floating_point_v<C>) return std::isnan(v);
  else return false;
}

struct ReducePlan {
  std::vector<bool> reduced;  // per input dim
  Shape out_shape;            // with keepdim
  Shape out_shape_squeezed;   // without keepdim
  Shape perm;                 // input dims in block order: kept dims, then reduced dims
  int64_t outer = 1, inner = 1;
  int64_t reduced_ndim = 0;   // trailing dims of `block` that are reduced
  // The input with its dims in `perm` order: contiguous (an [outer, inner] block) on the CPU; on a
  // device, the permuted view itself (the kernels take any strides).
  Tensor block;
};

// Which dims of x are reduced. A 0-dim tensor accepts dim 0 and -1 (as PyTorch).
std::vector<bool> reduced_dims(const Tensor& x, const Dims& dims, const char* op) {
  const std::string what = std::string(op) + " dim";
  if (x.dim() == 0) {
    bool seen = false;
    for (int64_t d : dims) {
      if (d != 0 && d != -1) {
        throw std::out_of_range(what + " " + std::to_string(d) + " is out of range for a tensor of 0 dimensions");
      }
      if (seen) throw std::invalid_argument(std::string(op) + ": dim " + std::to_string(d) + " appears more than once");
      seen = true;
    }
    return {};
  }
  std::vector<bool> red(static_cast<size_t>(x.dim()), dims.empty());
  for (int64_t d : dims) {
    int64_t w = x.wrap_dim(d, what.c_str());
    if (red[static_cast<size_t>(w)] && !dims.empty()) {
      throw std::invalid_argument(std::string(op) + ": dim " + std::to_string(d) + " appears more than once");
    }
    red[static_cast<size_t>(w)] = true;
  }
  return red;
}

ReducePlan plan_reduce(const Tensor& x, const Dims& dims, const char* op) {
  ReducePlan p;
  p.reduced = reduced_dims(x, dims, op);
  for (int64_t d = 0; d < x.dim(); ++d) {
    if (!p.reduced[static_cast<size_t>(d)]) {
      p.perm.push_back(d);
      p.outer *= x.shape()[d];
      p.out_shape.push_back(x.shape()[d]);
      p.out_shape_squeezed.push_back(x.shape()[d]);
    } else {
      p.out_shape.push_back(1);
    }
  }
  for (int64_t d = 0; d < x.dim(); ++d) {
    if (p.reduced[static_cast<size_t>(d)]) {
      p.perm.push_back(d);
      p.inner *= x.shape()[d];
      ++p.reduced_ndim;
    }
  }
  Shape ps, pst;
  for (int64_t d : p.perm) {
    ps.push_back(x.shape()[d]);
    pst.push_back(x.strides()[d]);
  }
  Tensor pv = Tensor::view_of(x, ps, pst, x.offset());
  if (!pv.is_contiguous() && x.is_cpu()) {
    Tensor c = Tensor::empty(ps, x.dtype(), x.device());
    copy_(c, pv);
    pv = c;
  }
  p.block = pv;
  return p;
}

// A tensor laid out like plan.block (dims in plan.perm order), viewed in the input's dim order.
Tensor unblock(const Tensor& block, const ReducePlan& p) {
  Shape inverse(p.perm.size());
  for (size_t i = 0; i < p.perm.size(); ++i) inverse[static_cast<size_t>(p.perm[i])] = static_cast<int64_t>(i);
  return permute(block, inverse);
}

#if RVOS_HAVE_CUDA
using DeviceKind = cuda::ReduceKind;
#else
enum class DeviceKind { Sum, Mean, Prod, Var, Std, Amax, Amin, NormZero, NormOne, NormTwo, NormInf, NormNegInf, NormP,
                        LogSumExp, All, Any };
#endif

#if !RVOS_HAVE_CUDA
[[noreturn]] void throw_no_cuda(const char* op, const Tensor& t) {
  throw std::runtime_error(std::string(op) + ": " + t.device().str() + " tensor in a build without CUDA");
}
#endif

// The reduction of the plan's block on its device, into a new tensor of `out_dtype`.
Tensor device_reduce(const ReducePlan& p, DType out_dtype, bool keepdim, DeviceKind kind, double norm_p = 2.0,
                     int64_t correction = 1) {
  Tensor out = Tensor::empty(keepdim ? p.out_shape : p.out_shape_squeezed, out_dtype, p.block.device());
#if RVOS_HAVE_CUDA
  cuda::ReduceParams params;
  params.p = norm_p;
  params.correction = correction;
  cuda::reduce(out, p.block, p.reduced_ndim, kind, params);
#else
  (void)kind, (void)norm_p, (void)correction;
  throw_no_cuda("reduce", out);
#endif
  return out;
}

// Ops without an identity (max, min, inf-norms) refuse to reduce an empty dim.
void check_nonempty_reduction(const Tensor& x, const ReducePlan& p, const char* op) {
  for (int64_t d = 0; d < x.dim(); ++d) {
    if (p.reduced[static_cast<size_t>(d)] && x.shape()[d] == 0) {
      throw std::invalid_argument(std::string(op) + ": cannot reduce over dim " + std::to_string(d) +
                                  " of size 0 (input shape " + shape_str(x.shape()) +
                                  ") because the operation has no identity");
    }
  }
}

void check_floating_input(const Tensor& x, const char* op) {
  check_defined(x, op, "input");
  if (!is_floating(x.dtype())) {
    throw std::invalid_argument(std::string(op) + ": input dtype must be floating point, got " + dtype_name(x.dtype()));
  }
}

// For each outer row: out[row] = finish(fold over inner elements).
template <class O, class T, class Init, class Fold, class Finish>
Tensor reduce_rows(const ReducePlan& p, DType out_dtype, bool keepdim, Init init, Fold fold, Finish finish) {
  Tensor out = Tensor::empty(keepdim ? p.out_shape : p.out_shape_squeezed, out_dtype, p.block.device());
  const T* in = static_cast<const T*>(p.block.raw_data());
  O* o = static_cast<O*>(out.raw_data());
  const int64_t inner = p.inner;
  parallel_for(0, p.outer, std::max<int64_t>(1, cpu::kGrain / std::max<int64_t>(inner, 1)), [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      auto acc = init();
      const T* row = in + r * inner;
      for (int64_t i = 0; i < inner; ++i) fold(acc, row[i], i);
      o[r] = finish(acc);
    }
  });
  return out;
}

// For each outer row: out[row] = f(row pointer, inner) (for reductions that read a row more than once).
template <class O, class T, class F>
Tensor map_rows(const ReducePlan& p, DType out_dtype, bool keepdim, F f) {
  Tensor out = Tensor::empty(keepdim ? p.out_shape : p.out_shape_squeezed, out_dtype, p.block.device());
  const T* in = static_cast<const T*>(p.block.raw_data());
  O* o = static_cast<O*>(out.raw_data());
  const int64_t inner = p.inner;
  parallel_for(0, p.outer, std::max<int64_t>(1, cpu::kGrain / std::max<int64_t>(inner, 1)), [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) o[r] = f(in + r * inner, inner);
  });
  return out;
}

// Index of the max (IsMax) or min of row[0, n), n >= 1: the first one among ties,
// and the first NaN if there is one (PyTorch's rule for max/min/argmax/argmin).
template <bool IsMax, class T>
int64_t extreme_index(const T* row, int64_t n) {
  using C = compute_t<T>;
  C best = convert<C>(row[0]);
  int64_t best_i = 0;
  if (is_nan_value(best)) return 0;
  for (int64_t i = 1; i < n; ++i) {
    const C v = convert<C>(row[i]);
    if (IsMax ? !(v <= best) : !(v >= best)) {
      best = v;
      best_i = i;
      if (is_nan_value(v)) break;
    }
  }
  return best_i;
}

// amax / amin.
template <bool IsMax>
Tensor extreme_values(const Tensor& x, const Dims& dims, bool keepdim, const char* name) {
  check_defined(x, name, "input");
  ReducePlan p = plan_reduce(x.detach(), dims, name);
  check_nonempty_reduction(x, p, name);
  Tensor y = !x.is_cpu() ? device_reduce(p, x.dtype(), keepdim, IsMax ? DeviceKind::Amax : DeviceKind::Amin)
                         : dispatch_all(x.dtype(), name, [&](auto tag) {
    using T = typename decltype(tag)::type;
    return map_rows<T, T>(p, x.dtype(), keepdim,
                          [](const T* row, int64_t n) { return row[extreme_index<IsMax>(row, n)]; });
  });
  if (!is_floating(x.dtype())) return y;
  Shape keep_shape = p.out_shape;
  // PyTorch's amax backward: the gradient is shared evenly among the elements equal to the result.
  return with_grad(name, {x}, y, [xd = x.detach(), yd = y.detach(), keep_shape, dims](const TensorList& g) {
    Tensor mask = eq(reshape(yd, keep_shape), xd);
    Tensor count = sum(mask, dims, true);
    return TensorList{mul(div(reshape(g[0], keep_shape), count), mask)};
  });
}

// Gradient of a value picked along `dim` at `index` (shape of the output, keepdim or not):
// zeros with the gradient written at the picked positions.
Tensor scatter_picked(const Tensor& g, const Tensor& index, const Shape& in_shape, int64_t dim) {
  if (in_shape.empty()) return reshape(g, in_shape);
  Tensor out = zeros(in_shape, g.dtype(), g.device());
  Tensor gc = contiguous(g), ic = contiguous(index);
  const detail::DimSplit split = detail::split_at_dim(in_shape, dim);
  const int64_t outer = split.outer, n = split.n, inner = split.inner;
  if (!g.is_cpu()) {
#if RVOS_HAVE_CUDA
    cuda::scatter_along_dim(out, gc, ic, outer, n, inner);
    return out;
#else
    throw_no_cuda("max_backward", g);
#endif
  }
  dispatch_floating(g.dtype(), "max_backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* o = static_cast<T*>(out.raw_data());
    const T* gv = static_cast<const T*>(gc.raw_data());
    const int64_t* iv = static_cast<const int64_t*>(ic.raw_data());
    parallel_for(0, outer * inner, cpu::kGrain, [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) o[(r / inner * n + iv[r]) * inner + r % inner] = gv[r];
    });
  });
  return out;
}

// max / min / argmax / argmin along one dim: (values or undefined, int64 indices).
template <bool IsMax>
std::pair<Tensor, Tensor> extreme_along(const Tensor& x, int64_t dim, bool keepdim, bool want_values,
                                        const char* name) {
  check_defined(x, name, "input");
  ReducePlan p = plan_reduce(x.detach(), {dim}, name);
  check_nonempty_reduction(x, p, name);
  Tensor values = want_values ? Tensor::empty(keepdim ? p.out_shape : p.out_shape_squeezed, x.dtype(), x.device())
                              : Tensor();
  Tensor indices = Tensor::empty(keepdim ? p.out_shape : p.out_shape_squeezed, DType::I64, x.device());
  if (!x.is_cpu()) {
#if RVOS_HAVE_CUDA
    // A 0-d input is one element along a dim of size 1.
    const Tensor block = p.block.dim() == 0 ? Tensor::view_of(p.block, {1}, {1}, p.block.offset()) : p.block;
    cuda::arg_reduce(values, indices, block, IsMax);
#else
    throw_no_cuda(name, x);
#endif
  } else {
    dispatch_all(x.dtype(), name, [&](auto tag) {
      using T = typename decltype(tag)::type;
      const T* in = static_cast<const T*>(p.block.raw_data());
      T* vo = want_values ? static_cast<T*>(values.raw_data()) : nullptr;
      int64_t* io = static_cast<int64_t*>(indices.raw_data());
      const int64_t n = p.inner;
      parallel_for(0, p.outer, std::max<int64_t>(1, cpu::kGrain / std::max<int64_t>(n, 1)), [&](int64_t b, int64_t e) {
        for (int64_t r = b; r < e; ++r) {
          const int64_t i = extreme_index<IsMax>(in + r * n, n);
          io[r] = i;
          if (vo) vo[r] = in[r * n + i];
        }
      });
    });
  }
  if (!want_values || !is_floating(x.dtype())) return {values, indices};
  const int64_t wdim = x.dim() == 0 ? 0 : x.wrap_dim(dim);
  values = with_grad(name, {x}, values, [idx = indices, in_shape = x.shape(), wdim](const TensorList& g) {
    return TensorList{scatter_picked(g[0], idx, in_shape, wdim)};
  });
  return {values, indices};
}

// all / any: bool result (uint8 for a uint8 input, as PyTorch).
template <bool All>
Tensor all_any(const Tensor& x, const Dims& dims, bool keepdim, const char* name) {
  check_defined(x, name, "input");
  ReducePlan p = plan_reduce(x.detach(), dims, name);
  const DType out_dt = x.dtype() == DType::U8 ? DType::U8 : DType::Bool;
  if (!x.is_cpu()) return device_reduce(p, out_dt, keepdim, All ? DeviceKind::All : DeviceKind::Any);
  return dispatch_all(x.dtype(), name, [&](auto tag) {
    using T = typename decltype(tag)::type;
    return dispatch_all(out_dt, name, [&](auto otag) {
      using O = typename decltype(otag)::type;
      return map_rows<O, T>(p, out_dt, keepdim, [](const T* row, int64_t n) {
        for (int64_t i = 0; i < n; ++i) {
          if (convert<bool>(row[i]) != All) return O(!All);
        }
        return O(All);
      });
    });
  });
}

// var (TakeSqrt = false) or std over the plan's rows: two passes in double (mean,
// then squared deviations), divided by max(0, n - correction) as PyTorch.
template <bool TakeSqrt>
Tensor var_forward(const ReducePlan& p, DType dt, int64_t correction, bool keepdim) {
  if (!p.block.is_cpu()) {
    return device_reduce(p, dt, keepdim, TakeSqrt ? DeviceKind::Std : DeviceKind::Var, 2.0, correction);
  }
  return dispatch_floating(dt, "var", [&](auto tag) {
    using T = typename decltype(tag)::type;
    return map_rows<T, T>(p, dt, keepdim, [correction](const T* row, int64_t n) {
      if (n == 0) return convert<T>(kNaN);
      double s = 0;
      for (int64_t i = 0; i < n; ++i) s += static_cast<double>(convert<compute_t<T>>(row[i]));
      const double mean = s / static_cast<double>(n);
      double m2 = 0;
      for (int64_t i = 0; i < n; ++i) {
        const double d = static_cast<double>(convert<compute_t<T>>(row[i])) - mean;
        m2 += d * d;
      }
      const double divisor = std::max(0.0, static_cast<double>(n) - static_cast<double>(correction));
      const double v = m2 / divisor;
      return convert<T>(TakeSqrt ? std::sqrt(v) : v);
    });
  });
}

// PyTorch's var_backward. `g` has the output's shape.
Tensor var_backward(const Tensor& g, const Tensor& xd, const Dims& dims, const Shape& keep_shape, int64_t correction) {
  if (dims.empty() || xd.dim() == 0) {
    const double dof = static_cast<double>(xd.numel()) - static_cast<double>(correction);
    if (dof <= 0) {
      // 2 / dof is infinite: NaN where x equals the mean (inf * 0), inf elsewhere.
      return mul(g, where(eq(xd, mean(xd)), kNaN, full_like(xd, kInf)));
    }
    return mul(mul(g, 2.0 / dof), sub(xd, mean(xd)));
  }
  int64_t n = 1;
  for (size_t d = 0; d < keep_shape.size(); ++d) {
    if (keep_shape[d] == 1 && xd.shape()[d] != 1) n *= xd.shape()[d];
  }
  const double scale = 2.0 / (static_cast<double>(n) - static_cast<double>(correction));
  return mul(mul(reshape(g, keep_shape), scale), sub(xd, mean(xd, dims, true)));
}

// prod's gradient over the plan's rows, in block layout. x: [outer, inner] block,
// g and y: [outer]. With no zero anywhere in the input it is g * (y / x); otherwise
// g * (product of the elements before) * (product of the elements after), the
// prefix and suffix products being cumulative products as PyTorch computes them.
template <class T>
void prod_backward_rows(const T* x, const T* g, const T* y, T* out, int64_t outer, int64_t inner, bool quotient) {
  using C = compute_t<T>;
  using A = cum_acc_t<T>;
  parallel_for(0, outer, std::max<int64_t>(1, cpu::kGrain / std::max<int64_t>(inner, 1)), [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const T* xr = x + r * inner;
      T* o = out + r * inner;
      const C gv = convert<C>(g[r]);
      if (quotient) {
        const C yv = convert<C>(y[r]);
        for (int64_t i = 0; i < inner; ++i) {
          const T q = convert<T>(yv / convert<C>(xr[i]));
          o[i] = convert<T>(gv * convert<C>(q));
        }
        continue;
      }
      A suffix = A(1);
      for (int64_t i = inner; i-- > 0;) {
        o[i] = convert<T>(suffix);
        suffix *= static_cast<A>(convert<C>(xr[i]));
      }
      A prefix = A(1);
      for (int64_t i = 0; i < inner; ++i) {
        const T both = convert<T>(convert<C>(convert<T>(prefix)) * convert<C>(o[i]));
        o[i] = convert<T>(gv * convert<C>(both));
        prefix *= static_cast<A>(convert<C>(xr[i]));
      }
    }
  });
}

// Cumulative sum along `dim` of a contiguous tensor viewed as [outer, n, inner]
// (Reverse: from the end). Runs of the inner dim are scanned together.
template <class O, class T>
void scan_sum(const T* in, O* out, int64_t outer, int64_t n, int64_t inner, bool reverse) {
  using A = cum_acc_t<T>;
  constexpr int64_t kChunk = 1024;
  const int64_t chunks = (inner + kChunk - 1) / kChunk;
  const int64_t work = n * std::min(inner, kChunk);
  parallel_for(0, outer * chunks, std::max<int64_t>(1, cpu::kGrain / std::max<int64_t>(work, 1)),
               [&](int64_t b, int64_t e) {
    std::vector<A> acc;
    for (int64_t t = b; t < e; ++t) {
      const int64_t o = t / chunks, i0 = (t % chunks) * kChunk, w = std::min(kChunk, inner - i0);
      acc.assign(static_cast<size_t>(w), A(0));
      for (int64_t s = 0; s < n; ++s) {
        const int64_t k = reverse ? n - 1 - s : s;
        const T* row = in + (o * n + k) * inner + i0;
        O* orow = out + (o * n + k) * inner + i0;
        for (int64_t i = 0; i < w; ++i) {
          acc[static_cast<size_t>(i)] += static_cast<A>(convert<compute_t<T>>(row[i]));
          orow[i] = convert<O>(acc[static_cast<size_t>(i)]);
        }
      }
    }
  });
}

Tensor cumsum_kernel(const Tensor& x, int64_t dim, bool reverse) {
  const DType out_dt = sum_result_type(x.dtype());
  Tensor xc = contiguous(x.detach());
  Tensor out = Tensor::empty(x.shape(), out_dt, x.device());
  const detail::DimSplit split = detail::split_at_dim(x.shape(), dim);
  const int64_t outer = split.outer, n = split.n, inner = split.inner;
  if (!x.is_cpu()) {
#if RVOS_HAVE_CUDA
    cuda::cumsum(out, xc, outer, n, inner, reverse);
    return out;
#else
    throw_no_cuda("cumsum", x);
#endif
  }
  dispatch_all(x.dtype(), "cumsum", [&](auto tag) {
    using T = typename decltype(tag)::type;
    using O = std::conditional_t<std::is_floating_point_v<compute_t<T>>, T, int64_t>;
    scan_sum<O, T>(static_cast<const T*>(xc.raw_data()), static_cast<O*>(out.raw_data()), outer, n, inner, reverse);
  });
  return out;
}

enum class NormKind { Zero, One, Two, Inf, NegInf, General };

}  // namespace

Tensor sum(const Tensor& x, const Dims& dims, bool keepdim, std::optional<DType> dtype) {
  check_defined(x, "sum", "input");
  const DType out_dt = dtype.value_or(sum_result_type(x.dtype()));
  Tensor xin = x.dtype() == out_dt || !is_floating(out_dt) ? x.detach() : to(x.detach(), out_dt);
  ReducePlan p = plan_reduce(xin, dims, "sum");
  Tensor y;
  if (!x.is_cpu()) {
    if (is_floating(out_dt)) {
      y = device_reduce(p, out_dt, keepdim, DeviceKind::Sum);
    } else {
      // Integer results: summed in int64 (integer inputs) or float64 (floating ones), then cast
      // as the CPU casts its accumulator.
      const bool floating_in = is_floating(xin.dtype());
      const DType acc_dt = floating_in ? DType::F64 : DType::I64;
      y = device_reduce(floating_in ? plan_reduce(to(xin, DType::F64), dims, "sum") : p, acc_dt, keepdim,
                        DeviceKind::Sum);
      if (acc_dt != out_dt) y = to(y, out_dt);
    }
  } else {
    y = dispatch_all(xin.dtype(), "sum", [&](auto tag) {
      using T = typename decltype(tag)::type;
      using A = acc_t<T>;
      return dispatch_all(out_dt, "sum", [&](auto otag) {
        using O = typename decltype(otag)::type;
        return reduce_rows<O, T>(p, out_dt, keepdim, [] { return A(0); },
                                 [](A& a, T v, int64_t) { a += static_cast<A>(convert<compute_t<T>>(v)); },
                                 [](A a) { return convert<O>(a); });
      });
    });
  }
  if (!is_floating(out_dt)) return y;
  Shape in_shape = x.shape(), keep_shape = p.out_shape;
  return with_grad("sum", {x}, y, [in_shape, keep_shape](const TensorList& g) {
    return TensorList{expand(reshape(g[0], keep_shape), in_shape)};
  });
}

Tensor mean(const Tensor& x, const Dims& dims, bool keepdim) {
  check_defined(x, "mean", "input");
  if (!is_floating(x.dtype())) {
    throw std::invalid_argument(std::string("mean: input dtype must be floating point, got ") + dtype_name(x.dtype()));
  }
  ReducePlan p = plan_reduce(x.detach(), dims, "mean");
  const double n = static_cast<double>(p.inner);
  Tensor y = !x.is_cpu() ? device_reduce(p, x.dtype(), keepdim, DeviceKind::Mean)
                         : dispatch_floating(x.dtype(), "mean", [&](auto tag) {
    using T = typename decltype(tag)::type;
    return reduce_rows<T, T>(p, x.dtype(), keepdim, [] { return 0.0; },
                             [](double& a, T v, int64_t) { a += static_cast<double>(static_cast<compute_t<T>>(v)); },
                             [n](double a) { return convert<T>(a / n); });
  });
  Shape in_shape = x.shape(), keep_shape = p.out_shape;
  return with_grad("mean", {x}, y, [in_shape, keep_shape, n](const TensorList& g) {
    return TensorList{expand(reshape(div(g[0], n), keep_shape), in_shape)};
  });
}

Tensor var(const Tensor& x, const Dims& dims, int64_t correction, bool keepdim) {
  check_floating_input(x, "var");
  ReducePlan p = plan_reduce(x.detach(), dims, "var");
  Tensor y = var_forward<false>(p, x.dtype(), correction, keepdim);
  return with_grad("var", {x}, y, [xd = x.detach(), dims, keep_shape = p.out_shape, correction](const TensorList& g) {
    return TensorList{var_backward(g[0], xd, dims, keep_shape, correction)};
  });
}

Tensor stddev(const Tensor& x, const Dims& dims, int64_t correction, bool keepdim) {
  check_floating_input(x, "stddev");
  ReducePlan p = plan_reduce(x.detach(), dims, "stddev");
  Tensor y = var_forward<true>(p, x.dtype(), correction, keepdim);
  return with_grad("stddev", {x}, y,
                   [xd = x.detach(), yd = y.detach(), dims, keep_shape = p.out_shape, correction](const TensorList& g) {
    // PyTorch's std_backward: d std = d var / (2 std), taken as 0 where std is 0.
    Tensor g_var = masked_fill(div(g[0], mul(yd, 2)), eq(yd, 0), 0);
    return TensorList{var_backward(g_var, xd, dims, keep_shape, correction)};
  });
}

Tensor amax(const Tensor& x, const Dims& dims, bool keepdim) { return extreme_values<true>(x, dims, keepdim, "amax"); }
Tensor amin(const Tensor& x, const Dims& dims, bool keepdim) { return extreme_values<false>(x, dims, keepdim, "amin"); }

Tensor prod(const Tensor& x, const Dims& dims, bool keepdim) {
  check_defined(x, "prod", "input");
  const DType out_dt = sum_result_type(x.dtype());
  ReducePlan p = plan_reduce(x.detach(), dims, "prod");
  Tensor y = !x.is_cpu() ? device_reduce(p, out_dt, keepdim, DeviceKind::Prod)
                         : dispatch_all(x.dtype(), "prod", [&](auto tag) {
    using T = typename decltype(tag)::type;
    using A = acc_t<T>;
    using O = std::conditional_t<std::is_same_v<A, double>, T, int64_t>;
    return reduce_rows<O, T>(p, out_dt, keepdim, [] { return A(1); },
                             [](A& a, T v, int64_t) {
                               if constexpr (std::is_same_v<A, double>) {
                                 a *= static_cast<double>(convert<compute_t<T>>(v));
                               } else {  // integer products wrap around like PyTorch's, without signed overflow
                                 a = static_cast<int64_t>(static_cast<uint64_t>(a) *
                                                          static_cast<uint64_t>(static_cast<int64_t>(v)));
                               }
                             },
                             [](A a) { return convert<O>(a); });
  });
  if (!is_floating(out_dt)) return y;
  return with_grad("prod", {x}, y, [xd = x.detach(), yd = y.detach(), dims](const TensorList& g) {
    if (xd.dim() == 0) return TensorList{g[0]};
    const int64_t zero_count = sum(eq(xd, 0)).item<int64_t>();
    // PyTorch: over all dims, two or more zeros make every partial product zero.
    if (dims.empty() && zero_count > 1) return TensorList{zeros(xd.shape(), xd.dtype(), xd.device())};
    ReducePlan bp = plan_reduce(xd, dims, "prod_backward");
    Tensor gc = contiguous(g[0]), yc = contiguous(yd);
    Tensor out = Tensor::empty(bp.block.shape(), xd.dtype(), xd.device());
    if (!xd.is_cpu()) {
#if RVOS_HAVE_CUDA
      const Tensor xb = reshape(contiguous(bp.block), {bp.outer, bp.inner});
      cuda::prod_backward(reshape(out, {bp.outer, bp.inner}), xb, gc, yc, zero_count == 0);
      return TensorList{unblock(out, bp)};
#else
      throw_no_cuda("prod_backward", xd);
#endif
    }
    dispatch_floating(xd.dtype(), "prod_backward", [&](auto tag) {
      using T = typename decltype(tag)::type;
      prod_backward_rows<T>(static_cast<const T*>(bp.block.raw_data()), static_cast<const T*>(gc.raw_data()),
                            static_cast<const T*>(yc.raw_data()), static_cast<T*>(out.raw_data()), bp.outer,
                            bp.inner, zero_count == 0);
    });
    return TensorList{unblock(out, bp)};
  });
}

Tensor norm(const Tensor& x, double p, const Dims& dims, bool keepdim) {
  check_floating_input(x, "norm");
  ReducePlan plan = plan_reduce(x.detach(), dims, "norm");
  // Like linalg.vector_norm: the inf-norm and negative orders have no value on an empty reduction.
  if (p < 0 || p == kInf) check_nonempty_reduction(x, plan, "norm");
  const NormKind kind = p == 0 ? NormKind::Zero : p == 1 ? NormKind::One : p == 2 ? NormKind::Two
                      : p == kInf ? NormKind::Inf : p == -kInf ? NormKind::NegInf : NormKind::General;
  const DeviceKind device_kind = kind == NormKind::Zero ? DeviceKind::NormZero
                               : kind == NormKind::One ? DeviceKind::NormOne
                               : kind == NormKind::Two ? DeviceKind::NormTwo
                               : kind == NormKind::Inf ? DeviceKind::NormInf
                               : kind == NormKind::NegInf ? DeviceKind::NormNegInf : DeviceKind::NormP;
  Tensor y = !x.is_cpu() ? device_reduce(plan, x.dtype(), keepdim, device_kind, p)
                         : dispatch_floating(x.dtype(), "norm", [&](auto tag) {
    using T = typename decltype(tag)::type;
    return map_rows<T, T>(plan, x.dtype(), keepdim, [kind, p](const T* row, int64_t n) {
      auto at = [row](int64_t i) { return static_cast<double>(convert<compute_t<T>>(row[i])); };
      double acc = 0;
      switch (kind) {
        case NormKind::Zero:
          for (int64_t i = 0; i < n; ++i) acc += at(i) != 0 ? 1.0 : 0.0;
          break;
        case NormKind::One:
          for (int64_t i = 0; i < n; ++i) acc += std::fabs(at(i));
          break;
        case NormKind::Two:
          for (int64_t i = 0; i < n; ++i) acc += at(i) * at(i);
          acc = std::sqrt(acc);
          break;
        case NormKind::Inf:
        case NormKind::NegInf:
          acc = std::fabs(at(0));
          for (int64_t i = 1; i < n && !std::isnan(acc); ++i) {
            const double v = std::fabs(at(i));
            if (std::isnan(v) || (kind == NormKind::Inf ? v > acc : v < acc)) acc = v;
          }
          break;
        case NormKind::General:
          for (int64_t i = 0; i < n; ++i) acc += std::pow(std::fabs(at(i)), p);
          acc = std::pow(acc, 1.0 / p);
          break;
      }
      return convert<T>(acc);
    });
  });
  return with_grad("norm", {x}, y,
                   [xd = x.detach(), yd = y.detach(), p, dims, keep_shape = plan.out_shape](const TensorList& g) {
    // PyTorch's norm_backward.
    Tensor gk = reshape(g[0], keep_shape), nk = reshape(yd, keep_shape);
    if (p == 0) return TensorList{zeros(xd.shape(), xd.dtype(), xd.device())};
    if (p == 1) return TensorList{mul(sign(xd), gk)};
    if (p == 2) return TensorList{mul(gk, masked_fill(div(xd, nk), eq(nk, 0), 0))};
    if (std::isinf(p)) {
      Tensor ax = abs(xd);
      Tensor mask = logical_or(eq(ax, nk), isnan(ax));
      return TensorList{mul(sign(xd), mul(div(gk, sum(mask, dims, true)), mask))};
    }
    if (p < 1) {
      Tensor scaled = mul(sign(xd), masked_fill(pow(abs(xd), p - 1), eq(xd, 0), 0));
      return TensorList{mul(mul(scaled, gk), pow(nk, 1 - p))};
    }
    Tensor scaled = p < 2 ? mul(sign(xd), pow(abs(xd), p - 1)) : mul(xd, pow(abs(xd), p - 2));
    Tensor scale = masked_fill(div(gk, pow(nk, p - 1)), eq(nk, 0), 0);
    return TensorList{mul(scaled, scale)};
  });
}

Tensor logsumexp(const Tensor& x, const Dims& dims, bool keepdim) {
  check_defined(x, "logsumexp", "input");
  // Integer inputs are promoted to the default float dtype (as PyTorch).
  Tensor xin = is_floating(x.dtype()) ? x.detach() : to(x.detach(), DType::F32);
  ReducePlan p = plan_reduce(xin, dims, "logsumexp");
  Tensor y = !x.is_cpu() ? device_reduce(p, xin.dtype(), keepdim, DeviceKind::LogSumExp)
                         : dispatch_floating(xin.dtype(), "logsumexp", [&](auto tag) {
    using T = typename decltype(tag)::type;
    using C = compute_t<T>;
    return map_rows<T, T>(p, xin.dtype(), keepdim, [](const T* row, int64_t n) {
      // Shift by the max (NaN if any), or by 0 when the max is infinite.
      C m = 0;
      if (n > 0) {
        m = convert<C>(row[extreme_index<true>(row, n)]);
        if (std::isinf(m)) m = 0;
      }
      double s = 0;
      for (int64_t i = 0; i < n; ++i) s += std::exp(static_cast<double>(convert<C>(row[i])) - static_cast<double>(m));
      return convert<T>(static_cast<C>(std::log(static_cast<C>(s))) + m);
    });
  });
  if (!is_floating(x.dtype())) return y;
  return with_grad("logsumexp", {x}, y,
                   [xd = x.detach(), yd = y.detach(), keep_shape = p.out_shape](const TensorList& g) {
    return TensorList{mul(reshape(g[0], keep_shape), exp(sub(xd, reshape(yd, keep_shape))))};
  });
}

std::pair<Tensor, Tensor> max(const Tensor& x, int64_t dim, bool keepdim) {
  return extreme_along<true>(x, dim, keepdim, true, "max");
}
std::pair<Tensor, Tensor> min(const Tensor& x, int64_t dim, bool keepdim) {
  return extreme_along<false>(x, dim, keepdim, true, "min");
}
Tensor argmax(const Tensor& x, int64_t dim, bool keepdim) {
  return extreme_along<true>(x, dim, keepdim, false, "argmax").second;
}
Tensor argmin(const Tensor& x, int64_t dim, bool keepdim) {
  return extreme_along<false>(x, dim, keepdim, false, "argmin").second;
}

Tensor all(const Tensor& x, const Dims& dims, bool keepdim) { return all_any<true>(x, dims, keepdim, "all"); }
Tensor any(const Tensor& x, const Dims& dims, bool keepdim) { return all_any<false>(x, dims, keepdim, "any"); }

Tensor cumsum(const Tensor& x, int64_t dim) {
  check_defined(x, "cumsum", "input");
  int64_t wdim = 0;
  if (x.dim() == 0) {
    if (dim != 0 && dim != -1) {
      throw std::out_of_range("cumsum dim " + std::to_string(dim) + " is out of range for a tensor of 0 dimensions");
    }
  } else {
    wdim = x.wrap_dim(dim, "cumsum dim");
  }
  Tensor y = cumsum_kernel(x, wdim, false);
  if (!is_floating(x.dtype())) return y;
  // The gradient of a prefix sum is the suffix sum of the gradient.
  return with_grad("cumsum", {x}, y, [wdim](const TensorList& g) {
    return TensorList{cumsum_kernel(g[0], wdim, true)};
  });
}

Tensor sum_to(const Tensor& g, const Shape& shape) {
  if (g.shape() == shape) return g;
  const int64_t lead = g.dim() - static_cast<int64_t>(shape.size());
  if (lead < 0) throw_shape_error("sum_to", "cannot reduce " + shape_str(g.shape()) + " to " + shape_str(shape));
  Dims dims;
  for (int64_t d = 0; d < g.dim(); ++d) {
    if (d < lead) {
      dims.push_back(d);
    } else if (shape[static_cast<size_t>(d - lead)] == 1 && g.shape()[d] != 1) {
      dims.push_back(d);
    } else if (shape[static_cast<size_t>(d - lead)] != g.shape()[d]) {
      throw_shape_error("sum_to", "cannot reduce " + shape_str(g.shape()) + " to " + shape_str(shape));
    }
  }
  if (dims.empty()) return reshape(g, shape);
  return reshape(sum(g, dims, true), shape);
}

}  // namespace rvos
