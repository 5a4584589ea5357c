// F.interpolate on the CPU: nearest, nearest-exact, linear, bilinear and bicubic
// resampling, with PyTorch's antialias option for bilinear/bicubic. Source
// indices and weights are computed as ATen's CPU kernels compute them
// (UpSample.h, cpu/UpSampleKernel.cpp), in the same float types, and applied in
// the same order, so that float32 results reproduce PyTorch's up to last-bit
// differences. The gradient is the adjoint of the forward: the same weights,
// scattered back. CUDA tensors use the same weights, computed here and applied by
// cuda/resize.h in the same order of operations.
#include "ops/resize.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <optional>
#include <sstream>
#include <type_traits>

#include "ops/copy.h"
#include "ops/factory.h"
#include "ops/internal.h"
#include "rvos/version.h"
#include "tensor/parallel.h"
#if RVOS_HAVE_CUDA
#include "cuda/resize.h"
#endif

namespace rvos {

InterpMode interp_mode_from_name(const std::string& name) {
  if (name == "nearest") return InterpMode::Nearest;
  if (name == "nearest-exact") return InterpMode::NearestExact;
  if (name == "linear") return InterpMode::Linear;
  if (name == "bilinear") return InterpMode::Bilinear;
  if (name == "bicubic") return InterpMode::Bicubic;
  throw std::invalid_argument("interpolate: unknown mode '" + name +
                              "' (expected nearest, nearest-exact, linear, bilinear or bicubic)");
}

namespace {

constexpr const char* kOp = "interpolate";
constexpr int64_t kGrain = 32768;  // multiply-adds per thread below which a loop stays serial

const char* mode_name(InterpMode m) {
  switch (m) {
    case InterpMode::Nearest: return "nearest";
    case InterpMode::NearestExact: return "nearest-exact";
    case InterpMode::Linear: return "linear";
    case InterpMode::Bilinear: return "bilinear";
    case InterpMode::Bicubic: return "bicubic";
  }
  return "?";
}

// ---------------------------------------------------------------- per-axis taps

// For each output index along one axis, the input indices it reads and their
// weights (compressed rows). Weights are stored in double but hold exactly the
// values the forward multiplies by (float values for float kernels).
struct Taps {
  int64_t out = 0;
  std::vector<int64_t> start{0};
  std::vector<int64_t> index;
  std::vector<double> weight;

  void add(int64_t i, double w) {
    index.push_back(i);
    weight.push_back(w);
  }
  void close() {
    start.push_back(static_cast<int64_t>(index.size()));
    ++out;
  }
  // The adjoint map: for each of the `in` input indices, the outputs that read it.
  Taps transposed(int64_t in) const {
    Taps r;
    r.out = in;
    r.start.assign(static_cast<size_t>(in) + 1, 0);
    for (int64_t i : index) ++r.start[static_cast<size_t>(i) + 1];
    for (int64_t i = 0; i < in; ++i) r.start[i + 1] += r.start[i];
    r.index.resize(index.size());
    r.weight.resize(index.size());
    std::vector<int64_t> fill(r.start.begin(), r.start.end() - 1);
    for (int64_t o = 0; o < out; ++o) {
      for (int64_t k = start[o]; k < start[o + 1]; ++k) {
        const int64_t pos = fill[index[k]]++;
        r.index[pos] = o;
        r.weight[pos] = weight[k];
      }
    }
    return r;
  }
};

// ATen's area_pixel_compute_scale: the input step per output step, in M.
template <class M>
M compute_scale(int64_t in, int64_t out, bool align_corners, std::optional<double> scale) {
  if (align_corners) return out > 1 ? static_cast<M>(in - 1) / static_cast<M>(out - 1) : M(0);
  return (scale && *scale > 0.) ? static_cast<M>(1.0 / *scale) : static_cast<M>(in) / static_cast<M>(out);
}

// ATen's area_pixel_compute_source_index: linear modes clamp negative indices to 0.
template <class M>
M source_index(M scale, int64_t dst, bool align_corners, bool cubic) {
  if (align_corners) return scale * static_cast<M>(dst);
  const M src = scale * (static_cast<M>(dst) + M(0.5)) - M(0.5);
  return (!cubic && src < M(0)) ? M(0) : src;
}

// ATen floors source indices with floorf, so double indices pass through float.
template <class M>
int64_t floor_index(M real) {
  return static_cast<int64_t>(std::floor(static_cast<float>(real)));
}

// Nearest (legacy floor(dst * scale)) and nearest-exact (floor((dst + 0.5) * scale))
// as ATen's generic kernel computes them, with the scale in M.
template <class M>
Taps nearest_taps(int64_t in, int64_t out, std::optional<double> scale, bool exact) {
  Taps t;
  const M s = compute_scale<M>(in, out, false, scale);
  for (int64_t o = 0; o < out; ++o) {
    int64_t i;
    if (exact) {
      const M real = source_index<M>(s, o, false, false);
      i = static_cast<int64_t>(std::floor(static_cast<float>(static_cast<double>(real) + 0.5)));
    } else {
      i = floor_index<M>(s * static_cast<M>(o));
    }
    t.add(std::min(i, in - 1), 1.0);
    t.close();
  }
  return t;
}

// ATen's nearest_idx / nearest_exact_idx, used by its kernel for small 2-D outputs:
// float scale, and (legacy mode) exact shortcuts for same size and for twice the size.
Taps nearest_taps_small(int64_t in, int64_t out, std::optional<double> scale, bool exact) {
  Taps t;
  const float s = (scale && *scale > 0.) ? static_cast<float>(1.0 / *scale)
                                         : static_cast<float>(in) / static_cast<float>(out);
  for (int64_t o = 0; o < out; ++o) {
    int64_t i;
    if (exact) {
      i = static_cast<int64_t>(std::floor(static_cast<float>((static_cast<double>(o) + 0.5) * s)));
    } else if (out == in) {
      i = o;
    } else if (out == 2 * in) {
      i = o >> 1;
    } else {
      i = static_cast<int64_t>(std::floor(static_cast<float>(o) * s));
    }
    t.add(std::min(i, in - 1), 1.0);
    t.close();
  }
  return t;
}

// Linear weights (ATen's compute_source_index_and_lambda), computed in M; `round`
// gives the value the kernel stores (ATen keeps weights in the tensor's dtype).
template <class M, class Round>
Taps linear_taps(int64_t in, int64_t out, bool align_corners, std::optional<double> scale, Round round) {
  Taps t;
  const M s = compute_scale<M>(in, out, align_corners, scale);
  for (int64_t o = 0; o < out; ++o) {
    if (out == in) {
      t.add(o, 1.0);
      t.add(o, 0.0);
    } else {
      const M real = source_index<M>(s, o, align_corners, false);
      const int64_t i0 = std::min(floor_index<M>(real), in - 1);
      const M l1 = round(std::min(std::max(real - static_cast<M>(i0), M(0)), M(1)));
      const M l0 = round(M(1) - l1);
      t.add(i0, static_cast<double>(l0));
      t.add(i0 + (i0 < in - 1 ? 1 : 0), static_cast<double>(l1));
    }
    t.close();
  }
  return t;
}

// ATen's cubic_convolution1/2 (|x| <= 1 and 1 < |x| < 2 pieces of the Keys kernel).
template <class M>
M cubic1(M x, M a) {
  return ((a + 2) * x - (a + 3)) * x * x + 1;
}
template <class M>
M cubic2(M x, M a) {
  return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a;
}

// Bicubic weights with A = -0.75 over the taps floor(src) - 1 .. floor(src) + 2,
// clamped to the border (ATen's HelperInterpCubic).
template <class M, class Round>
Taps cubic_taps(int64_t in, int64_t out, bool align_corners, std::optional<double> scale, Round round) {
  Taps t;
  const M s = compute_scale<M>(in, out, align_corners, scale);
  const M a = M(-0.75);
  for (int64_t o = 0; o < out; ++o) {
    const M real = source_index<M>(s, o, align_corners, true);
    const int64_t i = std::min(floor_index<M>(real), in - 1);
    const M lambda = std::min(std::max(real - static_cast<M>(i), M(0)), M(1));
    const M x2 = static_cast<M>(1.0 - lambda);
    const M coeffs[4] = {cubic2<M>(static_cast<M>(lambda + 1.0), a), cubic1<M>(lambda, a), cubic1<M>(x2, a),
                         cubic2<M>(static_cast<M>(x2 + 1.0), a)};
    for (int64_t j = 0; j < 4; ++j) {
      t.add(std::clamp<int64_t>(i + j - 1, 0, in - 1), static_cast<double>(round(coeffs[j])));
    }
    t.close();
  }
  return t;
}

// Antialiased weights (ATen's _compute_indices_min_size_weights_aa, as PIL): the
// filter (triangle, or Keys cubic with a = -0.5) is widened by the downsampling
// factor and its weights are normalised per output index. S is the weight type.
template <class S>
Taps antialias_taps(int64_t in, int64_t out, bool align_corners, std::optional<double> scale, bool cubic) {
  Taps t;
  const int interp_size = cubic ? 4 : 2;
  const S s = compute_scale<S>(in, out, align_corners, scale);
  const S support = (s >= 1.0) ? static_cast<S>((interp_size * 0.5) * s) : static_cast<S>(interp_size * 0.5);
  const int64_t max_taps = static_cast<int64_t>(std::ceil(support)) * 2 + 1;
  const S invscale = (s >= 1.0) ? static_cast<S>(1.0 / s) : S(1);
  auto filter = [cubic](S x) -> S {
    x = std::abs(x);
    if (cubic) {
      const S a = S(-0.5);
      if (x < 1) return cubic1<S>(x, a);
      if (x < 2) return cubic2<S>(x, a);
      return S(0);
    }
    return x < 1 ? static_cast<S>(1.0 - x) : S(0);
  };
  std::vector<S> w(static_cast<size_t>(max_taps));
  for (int64_t o = 0; o < out; ++o) {
    const S center = static_cast<S>(s * (o + 0.5));
    const int64_t xmin = std::max(static_cast<int64_t>(center - support + 0.5), int64_t{0});
    int64_t xsize = std::min(static_cast<int64_t>(center + support + 0.5), in) - xmin;
    xsize = std::clamp<int64_t>(xsize, 0, max_taps);
    S total = 0;
    for (int64_t j = 0; j < xsize; ++j) {
      w[j] = filter(static_cast<S>((static_cast<S>(j + xmin) - center + 0.5) * invscale));
      total += w[j];
    }
    for (int64_t j = 0; j < xsize; ++j) {
      if (total != S(0)) w[j] /= total;
      t.add(xmin + j, static_cast<double>(w[j]));
    }
    t.close();
  }
  return t;
}

// ---------------------------------------------------------------- kernels

// Element offsets of [N, C, H, W] (or [P, H, W] with C = 1) data; plane p is (p / C, p % C).
struct Geo {
  int64_t C = 1, sn = 0, sc = 0, sh = 0, sw = 1;
  int64_t offset(int64_t p, int64_t h) const { return (p / C) * sn + (p % C) * sc + h * sh; }
  static Geo contiguous(int64_t rows, int64_t cols) { return {1, rows * cols, 0, cols, 1}; }
};

template <class A>
std::vector<A> weights_as(const Taps& t) {
  return std::vector<A>(t.weight.begin(), t.weight.end());
}

// dst[p, h, o] = sum_k src[p, h, index_k] * weight_k along the last axis; the sum
// starts from the first product and accumulates in A. dst is contiguous [P, rows, t.out].
template <class S, class D, class A>
void pass_w(const S* src, const Geo& g, int64_t P, int64_t rows, const Taps& t, D* dst) {
  const std::vector<A> wa = weights_as<A>(t);
  const int64_t per_row = std::max<int64_t>(1, static_cast<int64_t>(t.index.size()));
  parallel_for(0, P * rows, std::max<int64_t>(1, kGrain / per_row), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const S* row = src + g.offset(r / rows, r % rows);
      D* out = dst + r * t.out;
      for (int64_t o = 0; o < t.out; ++o) {
        const int64_t b = t.start[o], e = t.start[o + 1];
        A acc = b < e ? convert<A>(row[t.index[b] * g.sw]) * wa[b] : A(0);
        for (int64_t k = b + 1; k < e; ++k) acc += convert<A>(row[t.index[k] * g.sw]) * wa[k];
        out[o] = convert<D>(acc);
      }
    }
  });
}

// dst[p, o, w] = sum_k src[p, index_k, w] * weight_k along the row axis; dst is
// contiguous [P, t.out, cols].
template <class S, class D, class A>
void pass_h(const S* src, const Geo& g, int64_t P, int64_t cols, const Taps& t, D* dst) {
  const std::vector<A> wa = weights_as<A>(t);
  const int64_t taps_per_row = std::max<int64_t>(1, static_cast<int64_t>(t.index.size()) / std::max<int64_t>(1, t.out));
  parallel_for(0, P * t.out, std::max<int64_t>(1, kGrain / (cols * taps_per_row)), [&](int64_t r0, int64_t r1) {
    std::vector<A> acc(static_cast<size_t>(cols));
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t p = r / t.out, o = r % t.out;
      const int64_t b = t.start[o], e = t.start[o + 1];
      if (b == e) {
        std::fill(acc.begin(), acc.end(), A(0));
      } else {
        const S* row = src + g.offset(p, t.index[b]);
        for (int64_t c = 0; c < cols; ++c) acc[c] = convert<A>(row[c * g.sw]) * wa[b];
        for (int64_t k = b + 1; k < e; ++k) {
          row = src + g.offset(p, t.index[k]);
          const A w = wa[k];
          for (int64_t c = 0; c < cols; ++c) acc[c] += convert<A>(row[c * g.sw]) * w;
        }
      }
      D* out = dst + r * cols;
      for (int64_t c = 0; c < cols; ++c) out[c] = convert<D>(acc[c]);
    }
  });
}

// Applies the column taps `tw` (if any), then the row taps `th` (if any), to src
// [P, H, W]; intermediate values are kept in A. At least one of them is given.
template <class S, class D, class A>
void separable(const S* src, const Geo& g, int64_t P, int64_t H, int64_t W, const Taps* tw, const Taps* th, D* dst) {
  if (tw && th) {
    std::vector<A> tmp(static_cast<size_t>(P * H * tw->out));
    pass_w<S, A, A>(src, g, P, H, *tw, tmp.data());
    pass_h<A, D, A>(tmp.data(), Geo::contiguous(H, tw->out), P, tw->out, *th, dst);
  } else if (tw) {
    pass_w<S, D, A>(src, g, P, H, *tw, dst);
  } else {
    pass_h<S, D, A>(src, g, P, W, *th, dst);
  }
}

// Nearest modes: a gather (any dtype).
template <class T>
void gather_nearest(const T* src, const Geo& g, int64_t P, const Taps& th, const Taps& tw, T* dst) {
  const int64_t OH = th.out, OW = tw.out;
  parallel_for(0, P * OH, std::max<int64_t>(1, kGrain / std::max<int64_t>(1, OW)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const T* row = src + g.offset(r / OH, th.index[r % OH]);
      T* out = dst + r * OW;
      for (int64_t o = 0; o < OW; ++o) out[o] = row[tw.index[o] * g.sw];
    }
  });
}

// Bilinear as ATen's channels-last kernel evaluates it: four products with the
// weights h_lambda * w_lambda, summed left to right in M.
template <class T>
void bilinear_direct(const T* src, const Geo& g, int64_t P, const Taps& th, const Taps& tw, T* dst) {
  using M = compute_t<T>;
  const int64_t OH = th.out, OW = tw.out;
  parallel_for(0, P * OH, std::max<int64_t>(1, kGrain / (4 * OW)), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t p = r / OH, b = th.start[r % OH];
      const T* row0 = src + g.offset(p, th.index[b]);
      const T* row1 = src + g.offset(p, th.index[b + 1]);
      const M h0 = static_cast<M>(th.weight[b]), h1 = static_cast<M>(th.weight[b + 1]);
      T* out = dst + r * OW;
      for (int64_t o = 0; o < OW; ++o) {
        const int64_t k = tw.start[o];
        const int64_t i0 = tw.index[k] * g.sw, i1 = tw.index[k + 1] * g.sw;
        const M w0 = static_cast<M>(tw.weight[k]), w1 = static_cast<M>(tw.weight[k + 1]);
        const M w00 = h0 * w0, w01 = h0 * w1, w10 = h1 * w0, w11 = h1 * w1;
        out[o] = convert<T>(convert<M>(row0[i0]) * w00 + convert<M>(row0[i1]) * w01 + convert<M>(row1[i0]) * w10 +
                            convert<M>(row1[i1]) * w11);
      }
    }
  });
}

#if RVOS_HAVE_CUDA
cuda::TapsView device_view(const Taps& t) { return {t.out, t.start.data(), t.index.data(), t.weight.data()}; }
cuda::TapsView* device_view(const Taps* t, cuda::TapsView& storage) {
  if (t == nullptr) return nullptr;
  storage = device_view(*t);
  return &storage;
}
cuda::PlaneLayout device_layout(const Geo& g) { return {g.C, g.sn, g.sc, g.sh, g.sw}; }

// separable() on the device.
void separable_cuda(const Tensor& dst, const Tensor& src, const Geo& g, int64_t P, int64_t H, int64_t W,
                    const Taps* tw, const Taps* th, bool double_accumulation) {
  cuda::TapsView vw, vh;
  cuda::resize_separable(dst, src, device_layout(g), P, H, W, device_view(tw, vw), device_view(th, vh),
                         double_accumulation);
}
#endif

// What the backward needs: the taps the forward applied (null for an axis that
// was left as it is) and the geometry.
struct Plan {
  int64_t P = 0, IH = 1, IW = 1, OH = 1, OW = 1;
  std::shared_ptr<const Taps> th, tw;
};

Tensor interpolate_backward(const Tensor& grad, const Plan& plan, const Shape& in_shape) {
  Tensor g = contiguous(grad);
  if (!plan.th && !plan.tw) return g;
  Tensor gin = Tensor::empty(in_shape, g.dtype(), g.device());
  const Taps twt = plan.tw ? plan.tw->transposed(plan.IW) : Taps();
  const Taps tht = plan.th ? plan.th->transposed(plan.IH) : Taps();
#if RVOS_HAVE_CUDA
  if (g.is_cuda()) {
    if (plan.P > 0) {
      separable_cuda(gin, g, Geo::contiguous(plan.OH, plan.OW), plan.P, plan.OH, plan.OW, plan.tw ? &twt : nullptr,
                     plan.th ? &tht : nullptr, true);
    }
    return gin;
  }
#endif
  dispatch_floating(g.dtype(), "interpolate_backward", [&](auto tag) {
    using G = typename decltype(tag)::type;
    separable<G, G, double>(g.data<G>(), Geo::contiguous(plan.OH, plan.OW), plan.P, plan.OH, plan.OW,
                            plan.tw ? &twt : nullptr, plan.th ? &tht : nullptr, gin.data<G>());
  });
  return gin;
}

// PyTorch's channels-last contiguity of an [N, C, H, W] tensor (size-1 dims ignored).
bool is_channels_last(const Tensor& x) {
  int64_t expected = 1;
  for (int64_t d : {1, 3, 2, 0}) {
    if (x.size(d) == 1) continue;
    if (x.stride(d) != expected) return false;
    expected *= x.size(d);
  }
  return true;
}

// Whether ATen runs a 2-D nearest or bilinear resize through its channels-last
// kernel (different index helpers and evaluation order) rather than the generic one.
bool uses_channels_last_kernel(const Tensor& x, int64_t out_h, int64_t out_w) {
  return (is_channels_last(x) && x.size(1) > 3) || out_h + out_w <= 128;
}

std::string doubles_str(const std::vector<double>& v) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < v.size(); ++i) os << (i ? ", " : "") << v[i];
  os << "]";
  return os.str();
}

}  // namespace

Tensor interpolate(const Tensor& x, const InterpolateOptions& options) {
  check_defined(x, kOp, "input");
  const InterpMode mode = options.mode;
  const std::string mname = mode_name(mode);
  const bool nearest = mode == InterpMode::Nearest || mode == InterpMode::NearestExact;

  if (mode == InterpMode::Linear && x.dim() != 3) {
    throw_shape_error(kOp, "mode 'linear' needs a 3-D input [N, C, W], got " + shape_str(x.shape()));
  }
  if ((mode == InterpMode::Bilinear || mode == InterpMode::Bicubic) && x.dim() != 4) {
    throw_shape_error(kOp, "mode '" + mname + "' needs a 4-D input [N, C, H, W], got " + shape_str(x.shape()));
  }
  if (nearest && x.dim() != 3 && x.dim() != 4) {
    throw_shape_error(kOp, "mode '" + mname + "' needs a 3-D input [N, C, W] or a 4-D input [N, C, H, W], got " +
                               shape_str(x.shape()));
  }
  if (nearest && options.align_corners) {
    throw std::invalid_argument("interpolate: align_corners can only be set with the interpolating modes linear, "
                                "bilinear and bicubic (mode is '" + mname + "')");
  }
  if (options.antialias && mode != InterpMode::Bilinear && mode != InterpMode::Bicubic) {
    throw std::invalid_argument("interpolate: antialias is only supported with modes bilinear and bicubic (mode is '" +
                                mname + "')");
  }
  if (!nearest && !is_floating(x.dtype())) {
    throw std::invalid_argument("interpolate: mode '" + mname + "' needs a floating-point input, got " +
                                dtype_name(x.dtype()));
  }

  const bool has_size = !options.size.empty(), has_scale = !options.scale_factor.empty();
  if (has_size && has_scale) throw std::invalid_argument("interpolate: only one of size and scale_factor may be given");
  if (!has_size && !has_scale) throw std::invalid_argument("interpolate: either size or scale_factor must be given");
  if (has_size && options.recompute_scale_factor) {
    throw std::invalid_argument("interpolate: recompute_scale_factor is not meaningful with an explicit size");
  }

  const size_t nsp = static_cast<size_t>(x.dim() - 2);
  Shape in_sp(x.shape().begin() + 2, x.shape().end());
  for (int64_t s : in_sp) {
    if (s <= 0) throw_shape_error(kOp, "input spatial sizes must be positive, got input " + shape_str(x.shape()));
  }
  Shape out_sp(nsp);
  std::vector<std::optional<double>> scales(nsp);
  if (has_size) {
    if (options.size.size() != 1 && options.size.size() != nsp) {
      throw_shape_error(kOp, "size " + shape_str(options.size) + " must have 1 or " + std::to_string(nsp) +
                                 " entries for input " + shape_str(x.shape()));
    }
    for (size_t d = 0; d < nsp; ++d) out_sp[d] = options.size[options.size.size() == 1 ? 0 : d];
  } else {
    const auto& sf = options.scale_factor;
    if (sf.size() != 1 && sf.size() != nsp) {
      throw std::invalid_argument("interpolate: scale_factor " + doubles_str(sf) + " must have 1 or " +
                                  std::to_string(nsp) + " entries for input " + shape_str(x.shape()));
    }
    for (size_t d = 0; d < nsp; ++d) {
      const double f = sf[sf.size() == 1 ? 0 : d];
      if (!(f > 0) || !std::isfinite(f)) {
        throw std::invalid_argument("interpolate: scale_factor must be positive and finite, got " + doubles_str(sf));
      }
      // floor(in * scale) in double, as PyTorch; the scale itself then maps
      // output to input coordinates unless the scale is to be recomputed.
      out_sp[d] = static_cast<int64_t>(std::floor(static_cast<double>(in_sp[d]) * f));
      if (!options.recompute_scale_factor) scales[d] = f;
    }
  }
  for (int64_t s : out_sp) {
    if (s <= 0) {
      throw_shape_error(kOp, "output spatial sizes must be positive, got " + shape_str(out_sp) + " for input " +
                                 shape_str(x.shape()));
    }
  }

  const bool is2d = nsp == 2;
  const int64_t N = x.size(0), C = x.size(1);
  Plan plan;
  plan.P = N * C;
  plan.IH = is2d ? in_sp[0] : 1;
  plan.IW = in_sp.back();
  plan.OH = is2d ? out_sp[0] : 1;
  plan.OW = out_sp.back();
  const std::optional<double> scale_h = is2d ? scales[0] : std::nullopt, scale_w = scales.back();
  const bool ac = options.align_corners;

  Shape out_shape{N, C};
  out_shape.insert(out_shape.end(), out_sp.begin(), out_sp.end());
  Tensor out = Tensor::empty(out_shape, x.dtype(), x.device());
  Tensor xd = x.detach();
  Geo geo{C, x.stride(0), x.stride(1), is2d ? x.stride(2) : 0, x.stride(-1)};

  if (nearest) {
    const bool exact = mode == InterpMode::NearestExact;
    dispatch_all(x.dtype(), kOp, [&](auto tag) {
      using T = typename decltype(tag)::type;
      using M = std::conditional_t<std::is_same_v<T, double>, double, float>;
      Taps th, tw;
      if (is2d && uses_channels_last_kernel(x, plan.OH, plan.OW)) {
        // ATen's channels-last kernel uses its float nearest_idx helpers.
        th = nearest_taps_small(plan.IH, plan.OH, scale_h, exact);
        tw = nearest_taps_small(plan.IW, plan.OW, scale_w, exact);
      } else {
        th = is2d ? nearest_taps<M>(plan.IH, plan.OH, scale_h, exact) : nearest_taps<M>(1, 1, std::nullopt, exact);
        tw = nearest_taps<M>(plan.IW, plan.OW, scale_w, exact);
      }
      if (plan.P > 0 && x.is_cuda()) {
#if RVOS_HAVE_CUDA
        cuda::resize_nearest(out, xd, device_layout(geo), plan.P, device_view(th), device_view(tw));
#endif
      } else if (plan.P > 0) {
        gather_nearest<T>(xd.data<T>(), geo, plan.P, th, tw, out.data<T>());
      }
      if (is2d) plan.th = std::make_shared<const Taps>(std::move(th));
      plan.tw = std::make_shared<const Taps>(std::move(tw));
    });
  } else if (options.antialias) {
    const bool cubic = mode == InterpMode::Bicubic;
    dispatch_floating(x.dtype(), kOp, [&](auto tag) {
      using T = typename decltype(tag)::type;
      using S = compute_t<T>;
      // An axis whose size does not change is left as it is (as ATen does).
      if (plan.IW != plan.OW) {
        plan.tw = std::make_shared<const Taps>(antialias_taps<S>(plan.IW, plan.OW, ac, scale_w, cubic));
      }
      if (plan.IH != plan.OH) {
        plan.th = std::make_shared<const Taps>(antialias_taps<S>(plan.IH, plan.OH, ac, scale_h, cubic));
      }
      if (!plan.tw && !plan.th) {
        copy_(out, xd);
      } else if (plan.P > 0 && x.is_cuda()) {
#if RVOS_HAVE_CUDA
        separable_cuda(out, xd, geo, plan.P, plan.IH, plan.IW, plan.tw.get(), plan.th.get(), false);
#endif
      } else if (plan.P > 0) {
        separable<T, T, S>(xd.data<T>(), geo, plan.P, plan.IH, plan.IW, plan.tw.get(), plan.th.get(), out.data<T>());
      }
    });
  } else {
    dispatch_floating(x.dtype(), kOp, [&](auto tag) {
      using T = typename decltype(tag)::type;
      using M = compute_t<T>;
      auto identity = [](M w) { return w; };
      // ATen stores the weights of its generic kernel in the input dtype.
      auto stored = [](M w) { return static_cast<M>(convert<T>(w)); };
      if (mode == InterpMode::Bilinear && uses_channels_last_kernel(x, plan.OH, plan.OW)) {
        // ATen's channels-last kernel: unrounded lambdas, four products summed left to
        // right (its vectorised loop, taken for 8 or more channels, sums right to
        // left instead: a last-bit difference).
        plan.th = std::make_shared<const Taps>(linear_taps<M>(plan.IH, plan.OH, ac, scale_h, identity));
        plan.tw = std::make_shared<const Taps>(linear_taps<M>(plan.IW, plan.OW, ac, scale_w, identity));
        if (plan.P > 0 && x.is_cuda()) {
#if RVOS_HAVE_CUDA
          cuda::resize_bilinear_direct(out, xd, device_layout(geo), plan.P, device_view(*plan.th),
                                       device_view(*plan.tw));
#endif
        } else if (plan.P > 0) {
          bilinear_direct<T>(xd.data<T>(), geo, plan.P, *plan.th, *plan.tw, out.data<T>());
        }
        return;
      }
      auto make = [&](int64_t in, int64_t o, std::optional<double> s) {
        return std::make_shared<const Taps>(mode == InterpMode::Bicubic ? cubic_taps<M>(in, o, ac, s, stored)
                                                                        : linear_taps<M>(in, o, ac, s, stored));
      };
      plan.tw = make(plan.IW, plan.OW, scale_w);
      if (is2d) plan.th = make(plan.IH, plan.OH, scale_h);
      if (plan.P > 0 && x.is_cuda()) {
#if RVOS_HAVE_CUDA
        separable_cuda(out, xd, geo, plan.P, plan.IH, plan.IW, plan.tw.get(), plan.th.get(), false);
#endif
      } else if (plan.P > 0) {
        separable<T, T, M>(xd.data<T>(), geo, plan.P, plan.IH, plan.IW, plan.tw.get(), plan.th.get(), out.data<T>());
      }
    });
  }

  if (!is_floating(x.dtype())) return out;
  auto saved = std::make_shared<const Plan>(std::move(plan));
  return detail::with_grad("interpolate", {x}, out, [saved, in_shape = x.shape()](const TensorList& g) {
    return TensorList{interpolate_backward(g[0], *saved, in_shape)};
  });
}

}  // namespace rvos
