// layer_norm: CPU kernel and gradients.
//
// The input is made contiguous and seen as [M, N] with N = numel(normalized_shape).
// Per row, the mean and the biased variance are accumulated in double (two passes,
// so large offsets do not cancel), rstd = 1 / sqrt(var + eps), and the output is
// xhat = (x - mean) * rstd in double, then xhat * weight + bias in the compute type
// (float32 for f16/bf16). CUDA tensors go to cuda/norm.h, which computes the same way.
#include "ops/norm.h"

#include <cmath>
#include <vector>

#include "ops/copy.h"
#include "ops/cpu_loops.h"
#include "ops/factory.h"
#include "ops/internal.h"
#include "rvos/version.h"
#if RVOS_HAVE_CUDA
#include "cuda/norm.h"
#endif

namespace rvos {

namespace {

#if RVOS_HAVE_CUDA
// The parameters as the device kernels take them: contiguous, of x's dtype, or all float64 when
// any of them has another dtype (float64 holds every parameter value exactly).
TensorList device_params(DType x_dtype, const TensorList& params) {
  bool mixed = false;
  for (const Tensor& p : params) mixed = mixed || (p.defined() && p.dtype() != x_dtype);
  const DType dt = mixed ? DType::F64 : x_dtype;
  TensorList out;
  for (const Tensor& p : params) out.push_back(p.defined() ? contiguous(to(p.detach(), dt)) : Tensor());
  return out;
}
#else
[[noreturn]] void throw_no_cuda(const Tensor& t) {
  throw std::runtime_error("layer_norm: " + t.device().str() + " tensor in a build without CUDA");
}
#endif

// Values of an optional per-feature parameter in the compute type C (empty when undefined).
template <class C>
std::vector<C> param_values(const Tensor& p) {
  std::vector<C> out;
  if (!p.defined()) return out;
  Tensor pc = contiguous(p.detach());
  dispatch_floating(pc.dtype(), "layer_norm", [&](auto tag) {
    using P = typename decltype(tag)::type;
    const P* d = static_cast<const P*>(pc.raw_data());
    out.resize(static_cast<size_t>(pc.numel()));
    for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<C>(static_cast<compute_t<P>>(d[i]));
  });
  return out;
}

template <class T>
void layer_norm_forward(const Tensor& xc, const Tensor& y, const Tensor& weight, const Tensor& bias, int64_t M,
                        int64_t N, double eps, double* mean_out, double* rstd_out) {
  using C = compute_t<T>;
  const std::vector<C> w = param_values<C>(weight), b = param_values<C>(bias);
  const T* x = static_cast<const T*>(xc.raw_data());
  T* out = static_cast<T*>(y.raw_data());
  const bool has_w = !w.empty(), has_b = !b.empty();
  parallel_for(0, M, std::max<int64_t>(1, cpu::kGrain / std::max<int64_t>(N, 1)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const T* xr = x + r * N;
      T* yr = out + r * N;
      double s = 0;
      for (int64_t j = 0; j < N; ++j) s += static_cast<double>(static_cast<C>(xr[j]));
      const double mean = s / static_cast<double>(N);
      double ss = 0;
      for (int64_t j = 0; j < N; ++j) {
        const double dlt = static_cast<double>(static_cast<C>(xr[j])) - mean;
        ss += dlt * dlt;
      }
      const double var = ss / static_cast<double>(N);
      const double rstd = 1.0 / std::sqrt(var + eps);
      mean_out[r] = mean;
      rstd_out[r] = rstd;
      for (int64_t j = 0; j < N; ++j) {
        // The normalised value in double: (x - mean) keeps the digits a float mean would lose.
        C v = static_cast<C>((static_cast<double>(static_cast<C>(xr[j])) - mean) * rstd);
        if (has_w) v = v * w[static_cast<size_t>(j)];
        if (has_b) v = v + b[static_cast<size_t>(j)];
        yr[j] = convert<T>(v);
      }
    }
  });
}

// dx = rstd * (g*w - mean(g*w) - xhat * mean(g*w*xhat)), dweight = sum(g*xhat),
// dbias = sum(g) over rows (written as float64). Sums in double; rows are split into a fixed number of
// chunks, each with its own dweight/dbias buffer, so results do not depend on the
// thread count.
template <class T>
void layer_norm_backward(const Tensor& gc, const Tensor& xc, const double* mean, const double* rstd,
                         const Tensor& weight, int64_t M, int64_t N, const Tensor& dx, const Tensor& dw,
                         const Tensor& db) {
  using C = compute_t<T>;
  const std::vector<double> w = param_values<double>(weight);
  const bool has_w = !w.empty();
  const T* g = static_cast<const T*>(gc.raw_data());
  const T* x = static_cast<const T*>(xc.raw_data());
  T* dxp = dx.defined() ? static_cast<T*>(dx.raw_data()) : nullptr;
  const bool want_params = dw.defined() || db.defined();
  const int64_t chunks = want_params ? std::min<int64_t>(M, 16) : std::min<int64_t>(M, 64);
  const int64_t per = chunks > 0 ? (M + chunks - 1) / chunks : 0;
  std::vector<double> dw_buf(want_params ? static_cast<size_t>(chunks * N) : 0);
  std::vector<double> db_buf(want_params ? static_cast<size_t>(chunks * N) : 0);
  const double inv_n = 1.0 / static_cast<double>(N);
  parallel_for(0, chunks, 1, [&](int64_t c0, int64_t c1) {
    std::vector<double> xhat(static_cast<size_t>(N)), gw(static_cast<size_t>(N));
    for (int64_t c = c0; c < c1; ++c) {
      double* dwc = want_params ? dw_buf.data() + c * N : nullptr;
      double* dbc = want_params ? db_buf.data() + c * N : nullptr;
      for (int64_t r = c * per; r < std::min(M, (c + 1) * per); ++r) {
        const T* gr = g + r * N;
        const T* xr = x + r * N;
        const double mu = mean[r], a = rstd[r];
        double s1 = 0, s2 = 0;
        for (int64_t j = 0; j < N; ++j) {
          const double gv = static_cast<double>(static_cast<C>(gr[j]));
          const double xh = (static_cast<double>(static_cast<C>(xr[j])) - mu) * a;
          const double gwv = has_w ? gv * w[static_cast<size_t>(j)] : gv;
          xhat[static_cast<size_t>(j)] = xh;
          gw[static_cast<size_t>(j)] = gwv;
          s1 += gwv;
          s2 += gwv * xh;
          if (want_params) {
            dwc[j] += gv * xh;
            dbc[j] += gv;
          }
        }
        if (dxp) {
          const double m1 = s1 * inv_n, m2 = s2 * inv_n;
          T* dr = dxp + r * N;
          for (int64_t j = 0; j < N; ++j) {
            dr[j] = convert<T>(a * (gw[static_cast<size_t>(j)] - m1 - xhat[static_cast<size_t>(j)] * m2));
          }
        }
      }
    }
  });
  auto reduce_chunks = [&](const std::vector<double>& buf, const Tensor& out) {
    if (!out.defined()) return;
    double* o = out.data<double>();
    for (int64_t j = 0; j < N; ++j) {
      double s = 0;
      for (int64_t c = 0; c < chunks; ++c) s += buf[static_cast<size_t>(c * N + j)];
      o[j] = s;
    }
  };
  reduce_chunks(dw_buf, dw);
  reduce_chunks(db_buf, db);
}

void check_param(const Tensor& p, const char* arg, const Shape& normalized_shape) {
  if (!p.defined()) return;
  check_floating(p, "layer_norm", arg);
  if (p.shape() != normalized_shape) {
    throw_shape_error("layer_norm", std::string(arg) + " of shape " + shape_str(p.shape()) +
                                        " does not match normalized_shape " + shape_str(normalized_shape));
  }
}

}  // namespace

Tensor layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight, const Tensor& bias,
                  double eps) {
  check_floating(x, "layer_norm", "input");
  check_same_device("layer_norm", {&x, &weight, &bias});
  const int64_t k = static_cast<int64_t>(normalized_shape.size());
  if (k == 0) throw_shape_error("layer_norm", "normalized_shape must have at least one dimension");
  bool trailing_match = x.dim() >= k;
  for (int64_t i = 0; trailing_match && i < k; ++i) {
    trailing_match = x.shape()[static_cast<size_t>(x.dim() - k + i)] == normalized_shape[static_cast<size_t>(i)];
  }
  if (!trailing_match) {
    throw_shape_error("layer_norm", "normalized_shape " + shape_str(normalized_shape) +
                                        " does not match the trailing dims of the input of shape " +
                                        shape_str(x.shape()));
  }
  check_param(weight, "weight", normalized_shape);
  check_param(bias, "bias", normalized_shape);

  const int64_t N = shape_numel(normalized_shape);
  const int64_t M = N == 0 ? 0 : x.numel() / N;
  Tensor xc = contiguous(x.detach());
  Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
  Tensor mean = Tensor::empty({M}, DType::F64, x.device()), rstd = Tensor::empty({M}, DType::F64, x.device());
  if (y.numel() > 0 && !x.is_cpu()) {
#if RVOS_HAVE_CUDA
    const TensorList p = device_params(x.dtype(), {weight, bias});
    cuda::layer_norm_forward(y, mean, rstd, xc, p[0], p[1], M, N, eps);
#else
    throw_no_cuda(x);
#endif
  } else if (y.numel() > 0) {
    dispatch_floating(x.dtype(), "layer_norm", [&](auto tag) {
      using T = typename decltype(tag)::type;
      layer_norm_forward<T>(xc, y, weight, bias, M, N, eps, mean.data<double>(), rstd.data<double>());
    });
  }
  const bool gx = x.requires_grad(), gw = weight.defined() && weight.requires_grad(),
             gb = bias.defined() && bias.requires_grad();
  Tensor wd = weight.defined() ? weight.detach() : Tensor();
  Tensor bd = bias.defined() ? bias.detach() : Tensor();
  return detail::with_grad(
      "layer_norm", {x, weight, bias}, y, [xc, mean, rstd, wd, bd, M, N, gx, gw, gb](const TensorList& g) {
        const DType dt = xc.dtype();
        Tensor gc = contiguous(g[0].dtype() == dt ? g[0] : to(g[0], dt));
        Tensor dx = gx ? Tensor::empty(xc.shape(), dt, xc.device()) : Tensor();
        // Parameter gradients are summed in double and rounded once, to the parameter's dtype.
        Tensor dw = gw ? Tensor::empty(wd.shape(), DType::F64, xc.device()) : Tensor();
        Tensor db = gb ? Tensor::empty(bd.shape(), DType::F64, xc.device()) : Tensor();
        if (M > 0 && N > 0 && !xc.is_cpu()) {
#if RVOS_HAVE_CUDA
          cuda::layer_norm_backward(dx, dw, db, gc, xc, mean, rstd, device_params(dt, {wd})[0], M, N);
#else
          throw_no_cuda(xc);
#endif
        } else if (M > 0 && N > 0) {
          dispatch_floating(dt, "layer_norm_backward", [&](auto tag) {
            using T = typename decltype(tag)::type;
            layer_norm_backward<T>(gc, xc, mean.data<double>(), rstd.data<double>(), wd, M, N, dx, dw, db);
          });
        } else {
          if (dx.defined()) zero_(dx);
          if (dw.defined()) zero_(dw);
          if (db.defined()) zero_(db);
        }
        if (dw.defined() && dw.dtype() != wd.dtype()) dw = to(dw, wd.dtype());
        if (db.defined() && db.dtype() != bd.dtype()) db = to(db, bd.dtype());
        return TensorList{dx, dw, db};
      });
}

}  // namespace rvos
