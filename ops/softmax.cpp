// softmax and log_softmax along one dimension: CPU kernels and gradients.
//
// The input is made contiguous and seen as [outer, n, inner] with the softmax
// taken over n. When inner == 1 (the softmax dim is the innermost one) each row
// is handled on its own; otherwise blocks of adjacent columns are processed
// together so that every pass reads memory contiguously. Both layouts are split
// across threads. The arithmetic follows PyTorch's CPU kernels: the row max is
// subtracted, exp(x - max) is summed (here in double), then softmax multiplies
// by the reciprocal of the sum (innermost dim) or divides by it (other dims), and
// log_softmax computes (x - max) - log(sum). f16/bf16 compute in float32.
// CUDA tensors go to cuda/softmax.h, which keeps this arithmetic.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "ops/copy.h"
#include "ops/cpu_loops.h"
#include "ops/internal.h"
#include "ops/reduce.h"
#include "rvos/version.h"
#if RVOS_HAVE_CUDA
#include "cuda/softmax.h"
#endif

namespace rvos {

namespace {

enum class Kind {
  Softmax,
  LogSoftmax,
  // Softmax whose rows made only of -inf give 0 instead of NaN (PyTorch's
  // _safe_softmax, used by scaled_dot_product_attention).
  SafeSoftmax,
};

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::Softmax: return "softmax";
    case Kind::LogSoftmax: return "log_softmax";
    case Kind::SafeSoftmax: return "safe_softmax";
  }
  return "softmax";
}

// A contiguous tensor seen as [outer, n, inner], reduced over n.
using Geometry = detail::DimSplit;

// Columns per block in the non-innermost layout: a block of n x cols compute
// values stays within about 128 KiB.
int64_t block_columns(const Geometry& g, size_t elem_size) {
  const int64_t target = int64_t(128 * 1024) / std::max<int64_t>(1, g.n * static_cast<int64_t>(elem_size));
  return std::clamp<int64_t>(target, 1, g.inner);
}

// Work items (rows or column blocks) per thread task: exp/log cost several flops,
// so tasks are kept smaller than for plain elementwise loops.
int64_t task_grain(int64_t elems_per_item) { return std::max<int64_t>(1, cpu::kGrain / (4 * std::max<int64_t>(1, elems_per_item))); }

constexpr double kNegInf = -std::numeric_limits<double>::infinity();

// ------------------------------------------------------------------ forward

template <class T, Kind K>
void forward_rows(const T* x, T* y, const Geometry& g) {
  using C = compute_t<T>;
  const int64_t n = g.n;
  parallel_for(0, g.outer, task_grain(n), [&](int64_t r0, int64_t r1) {
    std::vector<C> e(static_cast<size_t>(K == Kind::LogSoftmax ? 0 : n));
    for (int64_t r = r0; r < r1; ++r) {
      const T* xr = x + r * n;
      T* yr = y + r * n;
      C m = static_cast<C>(kNegInf);
      for (int64_t i = 0; i < n; ++i) {
        const C v = static_cast<C>(xr[i]);
        m = v > m ? v : m;
      }
      if constexpr (K == Kind::SafeSoftmax) {
        if (m == static_cast<C>(kNegInf)) {
          bool all_neg_inf = true;
          for (int64_t i = 0; i < n; ++i) all_neg_inf = all_neg_inf && static_cast<C>(xr[i]) == m;
          if (all_neg_inf) {
            for (int64_t i = 0; i < n; ++i) yr[i] = convert<T>(C(0));
            continue;
          }
        }
      }
      double sum = 0;
      if constexpr (K == Kind::LogSoftmax) {
        for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(std::exp(static_cast<C>(xr[i]) - m));
        const C lse = static_cast<C>(std::log(sum));
        for (int64_t i = 0; i < n; ++i) yr[i] = convert<T>((static_cast<C>(xr[i]) - m) - lse);
      } else {
        for (int64_t i = 0; i < n; ++i) {
          e[static_cast<size_t>(i)] = std::exp(static_cast<C>(xr[i]) - m);
          sum += static_cast<double>(e[static_cast<size_t>(i)]);
        }
        const C inv = C(1) / static_cast<C>(sum);
        for (int64_t i = 0; i < n; ++i) yr[i] = convert<T>(e[static_cast<size_t>(i)] * inv);
      }
    }
  });
}

template <class T, Kind K>
void forward_columns(const T* x, T* y, const Geometry& g) {
  using C = compute_t<T>;
  const int64_t n = g.n, inner = g.inner;
  const int64_t cols = block_columns(g, sizeof(C));
  const int64_t blocks = (inner + cols - 1) / cols;
  parallel_for(0, g.outer * blocks, task_grain(n * cols), [&](int64_t t0, int64_t t1) {
    std::vector<C> m(static_cast<size_t>(cols)), lse(static_cast<size_t>(cols)), e(static_cast<size_t>(K == Kind::LogSoftmax ? 0 : n * cols));
    std::vector<double> sum(static_cast<size_t>(cols));
    std::vector<char> has_nan(static_cast<size_t>(cols));
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t o = t / blocks, c0 = (t % blocks) * cols, w = std::min(cols, inner - c0);
      const T* xb = x + o * n * inner + c0;
      T* yb = y + o * n * inner + c0;
      for (int64_t j = 0; j < w; ++j) {
        m[static_cast<size_t>(j)] = static_cast<C>(kNegInf);
        sum[static_cast<size_t>(j)] = 0;
        has_nan[static_cast<size_t>(j)] = 0;
      }
      for (int64_t d = 0; d < n; ++d) {
        const T* xr = xb + d * inner;
        for (int64_t j = 0; j < w; ++j) {
          const C v = static_cast<C>(xr[j]);
          C& mj = m[static_cast<size_t>(j)];
          mj = v > mj ? v : mj;
          if constexpr (K == Kind::SafeSoftmax) has_nan[static_cast<size_t>(j)] |= static_cast<char>(v != v);
        }
      }
      for (int64_t d = 0; d < n; ++d) {
        const T* xr = xb + d * inner;
        for (int64_t j = 0; j < w; ++j) {
          const C ev = std::exp(static_cast<C>(xr[j]) - m[static_cast<size_t>(j)]);
          if constexpr (K != Kind::LogSoftmax) e[static_cast<size_t>(d * cols + j)] = ev;
          sum[static_cast<size_t>(j)] += static_cast<double>(ev);
        }
      }
      if constexpr (K == Kind::LogSoftmax) {
        for (int64_t j = 0; j < w; ++j) lse[static_cast<size_t>(j)] = static_cast<C>(std::log(sum[static_cast<size_t>(j)]));
        for (int64_t d = 0; d < n; ++d) {
          const T* xr = xb + d * inner;
          T* yr = yb + d * inner;
          for (int64_t j = 0; j < w; ++j) {
            yr[j] = convert<T>((static_cast<C>(xr[j]) - m[static_cast<size_t>(j)]) - lse[static_cast<size_t>(j)]);
          }
        }
      } else {
        for (int64_t d = 0; d < n; ++d) {
          T* yr = yb + d * inner;
          for (int64_t j = 0; j < w; ++j) {
            C out = e[static_cast<size_t>(d * cols + j)] / static_cast<C>(sum[static_cast<size_t>(j)]);
            if constexpr (K == Kind::SafeSoftmax) {
              // Max -inf without NaN means every entry of the column is -inf.
              if (m[static_cast<size_t>(j)] == static_cast<C>(kNegInf) && !has_nan[static_cast<size_t>(j)]) out = C(0);
            }
            yr[j] = convert<T>(out);
          }
        }
      }
    }
  });
}

// ------------------------------------------------------------------ backward
// softmax: gx = y * (g - sum(g * y)); log_softmax: gx = g - exp(y) * sum(g).
// The safe softmax has the softmax's gradient (its zero rows give zero gradient).

template <class T, bool Log>
void backward_rows(const T* gy, const T* y, T* gx, const Geometry& g) {
  using C = compute_t<T>;
  const int64_t n = g.n;
  parallel_for(0, g.outer, task_grain(n), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const T* gr = gy + r * n;
      const T* yr = y + r * n;
      T* out = gx + r * n;
      double s = 0;
      if constexpr (Log) {
        for (int64_t i = 0; i < n; ++i) s += static_cast<double>(static_cast<C>(gr[i]));
        const C sc = static_cast<C>(s);
        for (int64_t i = 0; i < n; ++i) out[i] = convert<T>(static_cast<C>(gr[i]) - std::exp(static_cast<C>(yr[i])) * sc);
      } else {
        for (int64_t i = 0; i < n; ++i) s += static_cast<double>(static_cast<C>(gr[i]) * static_cast<C>(yr[i]));
        const C sc = static_cast<C>(s);
        for (int64_t i = 0; i < n; ++i) out[i] = convert<T>((static_cast<C>(gr[i]) - sc) * static_cast<C>(yr[i]));
      }
    }
  });
}

template <class T, bool Log>
void backward_columns(const T* gy, const T* y, T* gx, const Geometry& g) {
  using C = compute_t<T>;
  const int64_t n = g.n, inner = g.inner;
  const int64_t cols = block_columns(g, 2 * sizeof(T));
  const int64_t blocks = (inner + cols - 1) / cols;
  parallel_for(0, g.outer * blocks, task_grain(n * cols), [&](int64_t t0, int64_t t1) {
    std::vector<double> s(static_cast<size_t>(cols));
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t o = t / blocks, c0 = (t % blocks) * cols, w = std::min(cols, inner - c0);
      const int64_t base = o * n * inner + c0;
      for (int64_t j = 0; j < w; ++j) s[static_cast<size_t>(j)] = 0;
      for (int64_t d = 0; d < n; ++d) {
        const T* gr = gy + base + d * inner;
        const T* yr = y + base + d * inner;
        for (int64_t j = 0; j < w; ++j) {
          if constexpr (Log) s[static_cast<size_t>(j)] += static_cast<double>(static_cast<C>(gr[j]));
          else s[static_cast<size_t>(j)] += static_cast<double>(static_cast<C>(gr[j]) * static_cast<C>(yr[j]));
        }
      }
      for (int64_t d = 0; d < n; ++d) {
        const T* gr = gy + base + d * inner;
        const T* yr = y + base + d * inner;
        T* out = gx + base + d * inner;
        for (int64_t j = 0; j < w; ++j) {
          const C sc = static_cast<C>(s[static_cast<size_t>(j)]);
          if constexpr (Log) out[j] = convert<T>(static_cast<C>(gr[j]) - std::exp(static_cast<C>(yr[j])) * sc);
          else out[j] = convert<T>(static_cast<C>(yr[j]) * (static_cast<C>(gr[j]) - sc));
        }
      }
    }
  });
}

// ------------------------------------------------------------------ drivers

#if RVOS_HAVE_CUDA
cuda::SoftmaxKind device_kind(Kind k) {
  switch (k) {
    case Kind::Softmax: return cuda::SoftmaxKind::Softmax;
    case Kind::LogSoftmax: return cuda::SoftmaxKind::LogSoftmax;
    case Kind::SafeSoftmax: return cuda::SoftmaxKind::SafeSoftmax;
  }
  return cuda::SoftmaxKind::Softmax;
}
#else
[[noreturn]] void throw_no_cuda(const char* op, const Tensor& t) {
  throw std::runtime_error(std::string(op) + ": " + t.device().str() + " tensor in a build without CUDA");
}
#endif

template <Kind K>
void run_forward(const Tensor& xc, const Tensor& y, const Geometry& g) {
  if (!xc.is_cpu()) {
#if RVOS_HAVE_CUDA
    cuda::softmax_forward(y, xc, g.outer, g.n, g.inner, device_kind(K));
    return;
#else
    throw_no_cuda(kind_name(K), xc);
#endif
  }
  dispatch_floating(xc.dtype(), kind_name(K), [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* x = static_cast<const T*>(xc.raw_data());
    T* out = static_cast<T*>(y.raw_data());
    if (g.inner == 1) forward_rows<T, K>(x, out, g);
    else forward_columns<T, K>(x, out, g);
  });
}

Tensor softmax_backward(const Tensor& grad, const Tensor& y, int64_t dim, Kind kind) {
  const Geometry g = detail::split_at_dim(y.shape(), dim);
  Tensor gc = contiguous(grad.dtype() == y.dtype() ? grad : to(grad, y.dtype()));
  Tensor gx = Tensor::empty(y.shape(), y.dtype(), y.device());
  if (gx.numel() == 0) return gx;
  if (!y.is_cpu()) {
#if RVOS_HAVE_CUDA
    cuda::softmax_backward(gx, gc, y, g.outer, g.n, g.inner, kind == Kind::LogSoftmax);
    return gx;
#else
    throw_no_cuda("softmax_backward", y);
#endif
  }
  dispatch_floating(y.dtype(), "softmax_backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* gp = static_cast<const T*>(gc.raw_data());
    const T* yp = static_cast<const T*>(y.raw_data());
    T* out = static_cast<T*>(gx.raw_data());
    const bool log = kind == Kind::LogSoftmax;
    if (g.inner == 1) {
      if (log) backward_rows<T, true>(gp, yp, out, g);
      else backward_rows<T, false>(gp, yp, out, g);
    } else {
      if (log) backward_columns<T, true>(gp, yp, out, g);
      else backward_columns<T, false>(gp, yp, out, g);
    }
  });
  return gx;
}

Tensor softmax_impl(const Tensor& x, int64_t dim, Kind kind) {
  const char* name = kind_name(kind);
  check_floating(x, name, "input");
  int64_t d = 0;
  if (x.dim() == 0) {
    // A 0-d tensor behaves as one element along dim 0 (or -1), as in PyTorch.
    if (dim != 0 && dim != -1) {
      throw std::out_of_range(std::string(name) + ": dim " + std::to_string(dim) +
                              " is out of range for a 0-dimensional tensor (expected 0 or -1)");
    }
  } else {
    d = x.wrap_dim(dim, (std::string(name) + ": dim").c_str());
  }
  const Geometry g = detail::split_at_dim(x.shape(), d);
  Tensor xc = contiguous(x.detach());
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  if (y.numel() > 0) {
    switch (kind) {
      case Kind::Softmax: run_forward<Kind::Softmax>(xc, y, g); break;
      case Kind::LogSoftmax: run_forward<Kind::LogSoftmax>(xc, y, g); break;
      case Kind::SafeSoftmax: run_forward<Kind::SafeSoftmax>(xc, y, g); break;
    }
  }
  return detail::with_grad(name, {x}, y, [yd = y.detach(), d, kind](const TensorList& gr) {
    return TensorList{softmax_backward(gr[0], yd, d, kind)};
  });
}

}  // namespace

Tensor softmax(const Tensor& x, int64_t dim) { return softmax_impl(x, dim, Kind::Softmax); }

Tensor log_softmax(const Tensor& x, int64_t dim) { return softmax_impl(x, dim, Kind::LogSoftmax); }

namespace detail {
Tensor safe_softmax(const Tensor& x, int64_t dim) { return softmax_impl(x, dim, Kind::SafeSoftmax); }
}  // namespace detail

}  // namespace rvos
