// 2-D convolution, transposed convolution and pooling: CPU kernels and gradients.
//
// Convolutions run on three kernels over contiguous NCHW data in float or double:
// forward (im2col + GEMM), input gradient (GEMM + col2im) and weight gradient
// (im2col + GEMM). A transposed convolution is the input gradient of a convolution,
// so conv_transpose2d reuses the same kernels with the roles swapped. Depthwise
// convolutions (one input channel per group) use direct loops instead, where
// im2col would copy the input kH*kW times for a tiny GEMM. Half and bfloat16
// tensors are computed in float32 and rounded once at the end.
//
// CUDA tensors go to cuda/conv.h (rvos's kernels, or cuDNN when conv_backend() says so) at the
// same three entry points; their bias gradients are channel sums on the device.
#include "ops/conv.h"

#include <Eigen/Core>
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <memory>
#include <string>

#include "ops/copy.h"
#include "ops/cpu_loops.h"
#include "ops/factory.h"
#include "ops/internal.h"
#include "ops/linalg.h"
#include "ops/reduce.h"
#include "ops/shape.h"
#include "rvos/version.h"
#if RVOS_HAVE_CUDA
#include "cuda/conv.h"
#endif

namespace rvos {

using detail::with_grad;

namespace {

template <class T>
using RowMat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <class T>
using ConstMat = Eigen::Map<const RowMat<T>>;
template <class T>
using MutMat = Eigen::Map<RowMat<T>>;
// A block of columns of a row-major matrix whose rows are `stride` elements apart.
template <class T>
using ConstBlock = Eigen::Map<const RowMat<T>, 0, Eigen::OuterStride<>>;
template <class T>
using MutBlock = Eigen::Map<RowMat<T>, 0, Eigen::OuterStride<>>;

std::string size2_str(Size2 s) { return "(" + std::to_string(s[0]) + ", " + std::to_string(s[1]) + ")"; }

// Geometry of a convolution from an input [N, C_in, H, W] to an output
// [N, C_out, OH, OW] with a weight [C_out, C_in/groups, kH, kW]. For a transposed
// convolution the roles are swapped: its input is this convolution's output.
struct ConvGeom {
  int64_t N = 0, C_in = 0, H = 0, W = 0;
  int64_t C_out = 0, OH = 0, OW = 0;
  int64_t kH = 0, kW = 0, sH = 1, sW = 1, pH = 0, pW = 0, dH = 1, dW = 1, groups = 1;

  int64_t cin_g() const { return C_in / groups; }
  int64_t cout_g() const { return C_out / groups; }
  int64_t K() const { return cin_g() * kH * kW; }  // GEMM depth: one im2col row per (channel, ki, kj)
  int64_t in_plane() const { return H * W; }
  int64_t out_plane() const { return OH * OW; }
  // One input channel per group: the direct loop path.
  bool depthwise() const { return groups > 1 && cin_g() == 1; }
  // im2col would be the identity: the input planes are the GEMM operand as they are.
  bool pointwise() const {
    return kH == 1 && kW == 1 && sH == 1 && sW == 1 && pH == 0 && pW == 0 && OH == H && OW == W;
  }
};

// Output positions o in [0, n_out) whose input position o * stride + offset lies in [0, n_in).
struct Range {
  int64_t lo, hi;
};
Range valid_outputs(int64_t n_in, int64_t n_out, int64_t stride, int64_t offset) {
  const int64_t lo = offset >= 0 ? 0 : (-offset + stride - 1) / stride;
  const int64_t last = n_in - 1 - offset;
  const int64_t hi = last < 0 ? 0 : std::min(n_out, last / stride + 1);
  return {std::min(lo, hi), hi};
}
// The part of r inside [lo, hi).
Range clip(Range r, int64_t lo, int64_t hi) {
  const int64_t a = std::clamp(r.lo, lo, hi);
  return {a, std::clamp(r.hi, a, hi)};
}

// im2col works on tiles of output rows so that its buffer stays under this many
// elements (16 MiB of float) whatever the image size.
constexpr int64_t kColBudget = int64_t(1) << 22;

int64_t tile_rows(const ConvGeom& g) {
  return std::clamp<int64_t>(kColBudget / std::max<int64_t>(1, g.K() * g.OW), 1, std::max<int64_t>(g.OH, 1));
}
int64_t col_buffer_size(const ConvGeom& g) { return g.pointwise() ? 0 : g.K() * tile_rows(g) * g.OW; }

// Items (one sample and group each) go to threads whole when there are enough to
// keep every thread equally busy; otherwise each item is parallelised inside
// (im2col over channels, the GEMM by Eigen).
bool split_items(int64_t items) {
  const int64_t nt = num_threads();
  return items >= nt && (items % nt == 0 || items >= 4 * nt);
}

template <class T>
std::unique_ptr<T[]> scratch(int64_t n) {
  return std::unique_ptr<T[]>(new T[static_cast<size_t>(std::max<int64_t>(n, 1))]);
}

// For output rows [oh0, oh1) and channels [c0, c1) of one item's input planes:
// col[(c*kH + ki)*kW + kj][(oh - oh0)*OW + ow] = x[c][oh*sH - pH + ki*dH][ow*sW - pW + kj*dW]
// (0 in the padding).
template <class T>
void im2col(const T* x, T* col, const ConvGeom& g, int64_t c0, int64_t c1, int64_t oh0, int64_t oh1) {
  const int64_t cols = (oh1 - oh0) * g.OW;
  for (int64_t c = c0; c < c1; ++c) {
    for (int64_t ki = 0; ki < g.kH; ++ki) {
      const int64_t off_h = ki * g.dH - g.pH;
      const Range rh = clip(valid_outputs(g.H, g.OH, g.sH, off_h), oh0, oh1);
      for (int64_t kj = 0; kj < g.kW; ++kj) {
        const int64_t off_w = kj * g.dW - g.pW;
        const Range rw = valid_outputs(g.W, g.OW, g.sW, off_w);
        T* dst = col + ((c * g.kH + ki) * g.kW + kj) * cols;
        std::fill(dst, dst + (rh.lo - oh0) * g.OW, T(0));
        for (int64_t oh = rh.lo; oh < rh.hi; ++oh) {
          T* d = dst + (oh - oh0) * g.OW;
          const T* src = x + (c * g.H + oh * g.sH + off_h) * g.W + off_w;
          std::fill(d, d + rw.lo, T(0));
          if (g.sW == 1) {
            std::copy(src + rw.lo, src + rw.hi, d + rw.lo);
          } else {
            for (int64_t ow = rw.lo; ow < rw.hi; ++ow) d[ow] = src[ow * g.sW];
          }
          std::fill(d + rw.hi, d + g.OW, T(0));
        }
        std::fill(dst + (rh.hi - oh0) * g.OW, dst + cols, T(0));
      }
    }
  }
}

// The adjoint of im2col on the same tile: x[c][ih][iw] += every col entry that
// was read from it.
template <class T>
void col2im_add(const T* col, T* x, const ConvGeom& g, int64_t c0, int64_t c1, int64_t oh0, int64_t oh1) {
  const int64_t cols = (oh1 - oh0) * g.OW;
  for (int64_t c = c0; c < c1; ++c) {
    for (int64_t ki = 0; ki < g.kH; ++ki) {
      const int64_t off_h = ki * g.dH - g.pH;
      const Range rh = clip(valid_outputs(g.H, g.OH, g.sH, off_h), oh0, oh1);
      for (int64_t kj = 0; kj < g.kW; ++kj) {
        const int64_t off_w = kj * g.dW - g.pW;
        const Range rw = valid_outputs(g.W, g.OW, g.sW, off_w);
        const T* src = col + ((c * g.kH + ki) * g.kW + kj) * cols;
        for (int64_t oh = rh.lo; oh < rh.hi; ++oh) {
          const T* s = src + (oh - oh0) * g.OW;
          T* d = x + (c * g.H + oh * g.sH + off_h) * g.W + off_w;
          if (g.sW == 1) {
#pragma omp simd
            for (int64_t ow = rw.lo; ow < rw.hi; ++ow) d[ow] += s[ow];
          } else {
            for (int64_t ow = rw.lo; ow < rw.hi; ++ow) d[ow * g.sW] += s[ow];
          }
        }
      }
    }
  }
}

int64_t channel_grain(const ConvGeom& g, int64_t rows) {
  return std::max<int64_t>(1, cpu::kGrain / std::max<int64_t>(1, g.kH * g.kW * rows * g.OW));
}

// Fills one item's im2col tile, over threads (by channel) when `parallel`.
template <class T>
void fill_cols(const T* x, T* col, const ConvGeom& g, int64_t oh0, int64_t oh1, bool parallel) {
  if (parallel) {
    parallel_for(0, g.cin_g(), channel_grain(g, oh1 - oh0),
                 [&](int64_t c0, int64_t c1) { im2col(x, col, g, c0, c1, oh0, oh1); });
  } else {
    im2col(x, col, g, 0, g.cin_g(), oh0, oh1);
  }
}

// Calls f(oh0, oh1) for each tile of output rows (the whole image when pointwise).
template <class F>
void for_each_tile(const ConvGeom& g, const F& f) {
  const int64_t rows = g.pointwise() ? std::max<int64_t>(g.OH, 1) : tile_rows(g);
  for (int64_t oh0 = 0; oh0 < g.OH; oh0 += rows) f(oh0, std::min(g.OH, oh0 + rows));
}

// Runs item(i, scratch, inner_parallel) for every (sample, group) item.
template <class T, class Item>
void for_each_item(const ConvGeom& g, const Item& item) {
  const int64_t items = g.N * g.groups, scratch_size = col_buffer_size(g);
  if (split_items(items)) {
    parallel_for(0, items, 1, [&](int64_t b, int64_t e) {
      auto buf = scratch<T>(scratch_size);
      for (int64_t i = b; i < e; ++i) item(i, buf.get(), false);
    });
  } else {
    auto buf = scratch<T>(scratch_size);
    for (int64_t i = 0; i < items; ++i) item(i, buf.get(), true);
  }
}

// ---- GEMM path -------------------------------------------------------------

// y[n, group] = w[group] (cout_g x K) @ im2col(x[n, group]) (K x OH*OW), by row tiles.
template <class T>
void conv_forward_gemm(const T* x, const T* w, T* y, const ConvGeom& g) {
  const int64_t K = g.K(), OHW = g.out_plane(), cin_g = g.cin_g(), cout_g = g.cout_g();
  const bool pw = g.pointwise();
  for_each_item<T>(g, [&](int64_t item, T* buf, bool inner_parallel) {
    const int64_t n = item / g.groups, gi = item % g.groups;
    const T* xg = x + (n * g.C_in + gi * cin_g) * g.in_plane();
    T* yg = y + (n * g.C_out + gi * cout_g) * OHW;
    ConstMat<T> Wg(w + gi * cout_g * K, cout_g, K);
    for_each_tile(g, [&](int64_t oh0, int64_t oh1) {
      const int64_t cols = (oh1 - oh0) * g.OW;
      const T* col = pw ? xg + oh0 * g.OW : buf;
      if (!pw) fill_cols(xg, buf, g, oh0, oh1, inner_parallel);
      MutBlock<T>(yg + oh0 * g.OW, cout_g, cols, Eigen::OuterStride<>(OHW)).noalias() =
          Wg * ConstBlock<T>(col, K, cols, Eigen::OuterStride<>(pw ? OHW : cols));
    });
  });
}

// gx[n, group] = col2im(w[group]^T @ gy[n, group]), by row tiles.
template <class T>
void conv_input_grad_gemm(const T* gy, const T* w, T* gx, const ConvGeom& g) {
  const int64_t K = g.K(), OHW = g.out_plane(), cin_g = g.cin_g(), cout_g = g.cout_g();
  const bool pw = g.pointwise();
  for_each_item<T>(g, [&](int64_t item, T* buf, bool inner_parallel) {
    const int64_t n = item / g.groups, gi = item % g.groups;
    const T* gyg = gy + (n * g.C_out + gi * cout_g) * OHW;
    ConstMat<T> Wg(w + gi * cout_g * K, cout_g, K);
    T* gxg = gx + (n * g.C_in + gi * cin_g) * g.in_plane();
    if (pw) {
      MutMat<T>(gxg, K, OHW).noalias() = Wg.transpose() * ConstMat<T>(gyg, cout_g, OHW);
      return;
    }
    std::fill(gxg, gxg + cin_g * g.in_plane(), T(0));
    for_each_tile(g, [&](int64_t oh0, int64_t oh1) {
      const int64_t cols = (oh1 - oh0) * g.OW;
      MutMat<T>(buf, K, cols).noalias() =
          Wg.transpose() * ConstBlock<T>(gyg + oh0 * g.OW, cout_g, cols, Eigen::OuterStride<>(OHW));
      if (inner_parallel) {
        parallel_for(0, cin_g, channel_grain(g, oh1 - oh0),
                     [&](int64_t c0, int64_t c1) { col2im_add(buf, gxg, g, c0, c1, oh0, oh1); });
      } else {
        col2im_add(buf, gxg, g, 0, cin_g, oh0, oh1);
      }
    });
  });
}

// gw[group] = sum over n of gy[n, group] @ im2col(x[n, group])^T; gw is [C_out, K].
template <class T>
void conv_weight_grad_gemm(const T* x, const T* gy, T* gw, const ConvGeom& g) {
  const int64_t K = g.K(), OHW = g.out_plane(), cin_g = g.cin_g(), cout_g = g.cout_g();
  const bool pw = g.pointwise();
  const int64_t col_size = col_buffer_size(g);
  // Adds the samples [n0, n1) of group gi into dst (a [C_out, K] buffer).
  auto accumulate = [&](int64_t gi, int64_t n0, int64_t n1, T* dst, T* buf, bool inner_parallel) {
    MutMat<T> GW(dst + gi * cout_g * K, cout_g, K);
    for (int64_t n = n0; n < n1; ++n) {
      const T* xg = x + (n * g.C_in + gi * cin_g) * g.in_plane();
      const T* gyg = gy + (n * g.C_out + gi * cout_g) * OHW;
      for_each_tile(g, [&](int64_t oh0, int64_t oh1) {
        const int64_t cols = (oh1 - oh0) * g.OW;
        const T* col = pw ? xg + oh0 * g.OW : buf;
        if (!pw) fill_cols(xg, buf, g, oh0, oh1, inner_parallel);
        GW.noalias() += ConstBlock<T>(gyg + oh0 * g.OW, cout_g, cols, Eigen::OuterStride<>(OHW)) *
                        ConstBlock<T>(col, K, cols, Eigen::OuterStride<>(pw ? OHW : cols)).transpose();
      });
    }
  };
  const int64_t wsize = g.C_out * K;
  std::fill(gw, gw + wsize, T(0));
  const int64_t nt = num_threads();
  if (g.groups >= nt && g.groups > 1) {
    parallel_for(0, g.groups, 1, [&](int64_t b, int64_t e) {
      auto buf = scratch<T>(col_size);
      for (int64_t gi = b; gi < e; ++gi) accumulate(gi, 0, g.N, gw, buf.get(), false);
    });
  } else if (nt > 1 && g.N >= nt) {
    // Each thread sums its share of the batch into its own buffer; the shares are
    // then added in a fixed order, so the result does not depend on scheduling.
    std::vector<std::unique_ptr<T[]>> partial(static_cast<size_t>(nt));
    for (int64_t p = 1; p < nt; ++p) partial[static_cast<size_t>(p)] = scratch<T>(wsize);
    parallel_for(0, nt, 1, [&](int64_t b, int64_t e) {
      auto buf = scratch<T>(col_size);
      for (int64_t p = b; p < e; ++p) {
        T* dst = p == 0 ? gw : partial[static_cast<size_t>(p)].get();
        if (p > 0) std::fill(dst, dst + wsize, T(0));
        for (int64_t gi = 0; gi < g.groups; ++gi)
          accumulate(gi, p * g.N / nt, (p + 1) * g.N / nt, dst, buf.get(), false);
      }
    });
    for (int64_t p = 1; p < nt; ++p) {
      const T* src = partial[static_cast<size_t>(p)].get();
      for (int64_t i = 0; i < wsize; ++i) gw[i] += src[i];
    }
  } else {
    auto buf = scratch<T>(col_size);
    for (int64_t gi = 0; gi < g.groups; ++gi) accumulate(gi, 0, g.N, gw, buf.get(), true);
  }
}

// ---- Depthwise path ----------------------------------------------------------
// One input channel per group: output channel oc reads input channel oc / cout_g.
// The forward and input-gradient loops accumulate whole rows in the compute type
// (vectorised; a double row would halve the SIMD width, and each sum has only
// kH*kW terms); the weight gradient, a long scalar reduction, sums in double.

int64_t plane_grain(const ConvGeom& g) {
  return std::max<int64_t>(1, cpu::kGrain / std::max<int64_t>(1, g.kH * g.kW * g.out_plane()));
}

template <class T>
void depthwise_forward(const T* x, const T* w, T* y, const ConvGeom& g) {
  const int64_t m = g.cout_g(), OHW = g.out_plane(), kk = g.kH * g.kW;
  // The valid output columns of each kernel column, the same for every row.
  std::vector<Range> col_range(static_cast<size_t>(g.kW));
  for (int64_t kj = 0; kj < g.kW; ++kj)
    col_range[static_cast<size_t>(kj)] = valid_outputs(g.W, g.OW, g.sW, kj * g.dW - g.pW);
  parallel_for(0, g.N * g.C_out, plane_grain(g), [&](int64_t b, int64_t e) {
    for (int64_t plane = b; plane < e; ++plane) {
      const int64_t n = plane / g.C_out, oc = plane % g.C_out;
      const T* xp = x + (n * g.C_in + oc / m) * g.in_plane();
      const T* wp = w + oc * kk;
      for (int64_t oh = 0; oh < g.OH; ++oh) {
        T* a = y + plane * OHW + oh * g.OW;
        std::fill(a, a + g.OW, T(0));
        for (int64_t ki = 0; ki < g.kH; ++ki) {
          const int64_t ih = oh * g.sH - g.pH + ki * g.dH;
          if (ih < 0 || ih >= g.H) continue;
          for (int64_t kj = 0; kj < g.kW; ++kj) {
            const int64_t off_w = kj * g.dW - g.pW;
            const Range rw = col_range[static_cast<size_t>(kj)];
            const T wv = wp[ki * g.kW + kj];
            const T* src = xp + ih * g.W + off_w;
            if (g.sW == 1) {
#pragma omp simd
              for (int64_t ow = rw.lo; ow < rw.hi; ++ow) a[ow] += wv * src[ow];
            } else {
              for (int64_t ow = rw.lo; ow < rw.hi; ++ow) a[ow] += wv * src[ow * g.sW];
            }
          }
        }
      }
    }
  });
}

template <class T>
void depthwise_input_grad(const T* gy, const T* w, T* gx, const ConvGeom& g) {
  const int64_t m = g.cout_g(), OHW = g.out_plane(), HW = g.in_plane(), kk = g.kH * g.kW;
  parallel_for(0, g.N * g.C_in, std::max<int64_t>(1, plane_grain(g) / m), [&](int64_t b, int64_t e) {
    for (int64_t plane = b; plane < e; ++plane) {
      const int64_t n = plane / g.C_in, ic = plane % g.C_in;
      T* xp = gx + plane * HW;
      std::fill(xp, xp + HW, T(0));
      for (int64_t oc = ic * m; oc < (ic + 1) * m; ++oc) {
        const T* gp = gy + (n * g.C_out + oc) * OHW;
        const T* wp = w + oc * kk;
        for (int64_t ki = 0; ki < g.kH; ++ki) {
          const int64_t off_h = ki * g.dH - g.pH;
          const Range rh = valid_outputs(g.H, g.OH, g.sH, off_h);
          for (int64_t kj = 0; kj < g.kW; ++kj) {
            const int64_t off_w = kj * g.dW - g.pW;
            const Range rw = valid_outputs(g.W, g.OW, g.sW, off_w);
            const T wv = wp[ki * g.kW + kj];
            for (int64_t oh = rh.lo; oh < rh.hi; ++oh) {
              T* d = xp + (oh * g.sH + off_h) * g.W + off_w;
              const T* s = gp + oh * g.OW;
              if (g.sW == 1) {
#pragma omp simd
                for (int64_t ow = rw.lo; ow < rw.hi; ++ow) d[ow] += wv * s[ow];
              } else {
                for (int64_t ow = rw.lo; ow < rw.hi; ++ow) d[ow * g.sW] += wv * s[ow];
              }
            }
          }
        }
      }
    }
  });
}

template <class T>
void depthwise_weight_grad(const T* x, const T* gy, T* gw, const ConvGeom& g) {
  const int64_t m = g.cout_g(), OHW = g.out_plane(), kk = g.kH * g.kW;
  const int64_t work = std::max<int64_t>(1, g.N * kk * OHW);
  parallel_for(0, g.C_out, std::max<int64_t>(1, cpu::kGrain / work), [&](int64_t b, int64_t e) {
    for (int64_t oc = b; oc < e; ++oc) {
      const int64_t ic = oc / m;
      for (int64_t ki = 0; ki < g.kH; ++ki) {
        const int64_t off_h = ki * g.dH - g.pH;
        const Range rh = valid_outputs(g.H, g.OH, g.sH, off_h);
        for (int64_t kj = 0; kj < g.kW; ++kj) {
          const int64_t off_w = kj * g.dW - g.pW;
          const Range rw = valid_outputs(g.W, g.OW, g.sW, off_w);
          double acc = 0;
          for (int64_t n = 0; n < g.N; ++n) {
            const T* gp = gy + (n * g.C_out + oc) * OHW;
            const T* xp = x + (n * g.C_in + ic) * g.in_plane();
            for (int64_t oh = rh.lo; oh < rh.hi; ++oh) {
              const T* s = gp + oh * g.OW;
              const T* xr = xp + (oh * g.sH + off_h) * g.W + off_w;
              if (g.sW == 1) {
#pragma omp simd reduction(+ : acc)
                for (int64_t ow = rw.lo; ow < rw.hi; ++ow)
                  acc += static_cast<double>(s[ow]) * static_cast<double>(xr[ow]);
              } else {
                for (int64_t ow = rw.lo; ow < rw.hi; ++ow) {
                  acc += static_cast<double>(s[ow]) * static_cast<double>(xr[ow * g.sW]);
                }
              }
            }
          }
          gw[oc * kk + ki * g.kW + kj] = static_cast<T>(acc);
        }
      }
    }
  });
}

// ---- Dtype handling ----------------------------------------------------------

DType compute_dtype(DType dt) { return dt == DType::F64 ? DType::F64 : DType::F32; }

// A contiguous copy of t in dtype dt (t itself when it already is one).
Tensor prepared(const Tensor& t, DType dt) { return contiguous(to(t.detach(), dt)); }

template <class F>
void with_compute_type(DType cdt, F&& f) {
  if (cdt == DType::F64) {
    f(type_tag<double>{});
  } else {
    f(type_tag<float>{});
  }
}

Tensor finish(const Tensor& t, DType dt) { return t.dtype() == dt ? t : to(t, dt); }

template <class T>
void add_bias(T* y, const T* b, int64_t N, int64_t C, int64_t plane) {
  parallel_for(0, N * C, std::max<int64_t>(1, cpu::kGrain / std::max<int64_t>(plane, 1)), [&](int64_t s, int64_t e) {
    for (int64_t i = s; i < e; ++i) {
      const T bv = b[i % C];
      T* p = y + i * plane;
#pragma omp simd
      for (int64_t j = 0; j < plane; ++j) p[j] += bv;
    }
  });
}

#if RVOS_HAVE_CUDA
cuda::ConvGeometry device_geometry(const ConvGeom& g) {
  cuda::ConvGeometry d;
  d.N = g.N, d.C_in = g.C_in, d.H = g.H, d.W = g.W, d.C_out = g.C_out, d.OH = g.OH, d.OW = g.OW;
  d.kH = g.kH, d.kW = g.kW, d.sH = g.sH, d.sW = g.sW, d.pH = g.pH, d.pW = g.pW, d.dH = g.dH, d.dW = g.dW;
  d.groups = g.groups;
  return d;
}

cuda::ConvOptions device_options() {
  return {conv_backend() == ConvBackend::Cudnn ? cuda::ConvImpl::Cudnn : cuda::ConvImpl::Native, allow_tf32()};
}

// A contiguous copy of t in dtype dt (t itself when it already is one); undefined stays undefined.
Tensor device_operand(const Tensor& t, DType dt) { return t.defined() ? prepared(t, dt) : Tensor(); }
#endif

// The bias gradient: gy [N, C, H, W] summed over N, H and W.
Tensor bias_grad(const Tensor& gy) {
#if RVOS_HAVE_CUDA
  if (gy.is_cuda()) {
    Tensor out = Tensor::empty({gy.size(1)}, gy.dtype(), gy.device());
    cuda::channel_sum(out, contiguous(gy));
    return out;
  }
#endif
  return sum(gy, {0, 2, 3});
}

// The convolution of x (the geometry's input) with w, plus bias when defined, in dtype dt.
Tensor conv_forward(const Tensor& x, const Tensor& w, const Tensor& bias, const ConvGeom& g, DType dt) {
#if RVOS_HAVE_CUDA
  if (x.is_cuda()) {
    Tensor y = Tensor::empty({g.N, g.C_out, g.OH, g.OW}, dt, x.device());
    cuda::conv2d_forward(y, device_operand(x, dt), device_operand(w, dt), device_operand(bias, dt),
                         device_geometry(g), device_options());
    return y;
  }
#endif
  const DType cdt = compute_dtype(dt);
  Tensor xc = prepared(x, cdt), wc = prepared(w, cdt);
  Tensor y = Tensor::empty({g.N, g.C_out, g.OH, g.OW}, cdt, x.device());
  with_compute_type(cdt, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (g.N == 0) return;
    if (g.depthwise()) {
      depthwise_forward(xc.data<T>(), wc.data<T>(), y.data<T>(), g);
    } else {
      conv_forward_gemm(xc.data<T>(), wc.data<T>(), y.data<T>(), g);
    }
    if (bias.defined()) add_bias(y.data<T>(), prepared(bias, cdt).data<T>(), g.N, g.C_out, g.out_plane());
  });
  return finish(y, dt);
}

// The gradient of the convolution's input given its output gradient gy (also the
// transposed convolution of gy), plus bias when defined, in dtype dt.
Tensor conv_input_grad(const Tensor& gy, const Tensor& w, const Tensor& bias, const ConvGeom& g, DType dt) {
#if RVOS_HAVE_CUDA
  if (gy.is_cuda()) {
    Tensor gx = Tensor::empty({g.N, g.C_in, g.H, g.W}, dt, gy.device());
    cuda::conv2d_input_grad(gx, device_operand(gy, dt), device_operand(w, dt), device_operand(bias, dt),
                            device_geometry(g), device_options());
    return gx;
  }
#endif
  const DType cdt = compute_dtype(dt);
  Tensor gc = prepared(gy, cdt), wc = prepared(w, cdt);
  Tensor gx = Tensor::empty({g.N, g.C_in, g.H, g.W}, cdt, gy.device());
  with_compute_type(cdt, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (g.N == 0) return;
    if (g.depthwise()) {
      depthwise_input_grad(gc.data<T>(), wc.data<T>(), gx.data<T>(), g);
    } else {
      conv_input_grad_gemm(gc.data<T>(), wc.data<T>(), gx.data<T>(), g);
    }
    if (bias.defined()) add_bias(gx.data<T>(), prepared(bias, cdt).data<T>(), g.N, g.C_in, g.in_plane());
  });
  return finish(gx, dt);
}

// The gradient of the convolution's weight [C_out, C_in/groups, kH, kW] in dtype dt.
Tensor conv_weight_grad(const Tensor& x, const Tensor& gy, const ConvGeom& g, DType dt) {
#if RVOS_HAVE_CUDA
  if (x.is_cuda()) {
    Tensor gw = Tensor::empty({g.C_out, g.cin_g(), g.kH, g.kW}, dt, x.device());
    cuda::conv2d_weight_grad(gw, device_operand(x, dt), device_operand(gy, dt), device_geometry(g), device_options());
    return gw;
  }
#endif
  const DType cdt = compute_dtype(dt);
  Tensor xc = prepared(x, cdt), gc = prepared(gy, cdt);
  Tensor gw = Tensor::empty({g.C_out, g.cin_g(), g.kH, g.kW}, cdt, x.device());
  with_compute_type(cdt, [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (g.depthwise()) {
      depthwise_weight_grad(xc.data<T>(), gc.data<T>(), gw.data<T>(), g);
    } else {
      conv_weight_grad_gemm(xc.data<T>(), gc.data<T>(), gw.data<T>(), g);
    }
  });
  return finish(gw, dt);
}

// ---- Argument checks ---------------------------------------------------------

void check_positive(const char* op, const char* what, Size2 v) {
  if (v[0] <= 0 || v[1] <= 0) {
    throw std::invalid_argument(std::string(op) + ": " + what + " must be positive, got " + size2_str(v));
  }
}

void check_non_negative(const char* op, const char* what, Size2 v) {
  if (v[0] < 0 || v[1] < 0) {
    throw std::invalid_argument(std::string(op) + ": " + what + " must be non-negative, got " + size2_str(v));
  }
}

// Common checks of conv2d and conv_transpose2d: defined, CPU, floating, same dtype,
// ranks, hyper-parameters.
void check_conv_args(const char* op, const Tensor& x, const Tensor& w, const Tensor& bias, Size2 stride, Size2 padding,
                     Size2 dilation, int64_t groups, const char* weight_layout) {
  check_defined(x, op, "input");
  check_defined(w, op, "weight");
  check_same_device(op, {&x, &w, &bias});
  check_floating(x, op, "input");
  auto same_dtype = [&](const Tensor& t, const char* name) {
    if (t.dtype() != x.dtype()) {
      throw std::invalid_argument(std::string(op) + ": input dtype (" + dtype_name(x.dtype()) + ") and " + name +
                                  " dtype (" + dtype_name(t.dtype()) + ") should be the same");
    }
  };
  same_dtype(w, "weight");
  if (bias.defined()) same_dtype(bias, "bias");
  if (x.dim() != 3 && x.dim() != 4) {
    throw_shape_error(op, "expected a 3-D (unbatched) or 4-D (batched) input, got " + shape_str(x.shape()));
  }
  if (w.dim() != 4) {
    throw_shape_error(op, std::string("expected a 4-D weight ") + weight_layout + ", got " + shape_str(w.shape()));
  }
  for (int64_t s : w.shape()) {
    if (s == 0) throw_shape_error(op, "weight " + shape_str(w.shape()) + " has a zero-sized dimension");
  }
  if (groups <= 0)
    throw std::invalid_argument(std::string(op) + ": groups must be positive, got " + std::to_string(groups));
  check_positive(op, "stride", stride);
  check_non_negative(op, "padding", padding);
  check_positive(op, "dilation", dilation);
  if (bias.defined() && bias.dim() != 1) {
    throw_shape_error(op, "expected a 1-D bias, got " + shape_str(bias.shape()));
  }
}

// The batched shape [N, C, H, W] of a 3-D or 4-D input.
Shape batched_shape(const Tensor& x) { return x.dim() == 4 ? x.shape() : Shape{1, x.size(0), x.size(1), x.size(2)}; }

ConvGeom conv2d_geometry(const Tensor& x, const Tensor& w, const Tensor& bias, Size2 stride, Size2 padding,
                         Size2 dilation, int64_t groups) {
  const char* op = "conv2d";
  check_conv_args(op, x, w, bias, stride, padding, dilation, groups, "[C_out, C_in/groups, kH, kW]");
  const Shape xs = batched_shape(x);
  ConvGeom g;
  g.N = xs[0], g.C_in = xs[1], g.H = xs[2], g.W = xs[3];
  g.C_out = w.size(0), g.kH = w.size(2), g.kW = w.size(3);
  g.sH = stride[0], g.sW = stride[1], g.pH = padding[0], g.pW = padding[1], g.dH = dilation[0], g.dW = dilation[1];
  g.groups = groups;
  if (g.C_out % groups != 0) {
    throw_shape_error(op, "weight " + shape_str(w.shape()) + " has " + std::to_string(g.C_out) +
                              " output channels, which is not divisible by groups=" + std::to_string(groups));
  }
  if (g.C_in != w.size(1) * groups) {
    throw_shape_error(op, "input " + shape_str(x.shape()) + " has " + std::to_string(g.C_in) +
                              " channels, but weight " + shape_str(w.shape()) + " with groups=" +
                              std::to_string(groups) + " expects " + std::to_string(w.size(1) * groups));
  }
  if (bias.defined() && bias.size(0) != g.C_out) {
    throw_shape_error(op, "bias " + shape_str(bias.shape()) + " does not match the " + std::to_string(g.C_out) +
                              " output channels of weight " + shape_str(w.shape()));
  }
  const int64_t eff_h = g.dH * (g.kH - 1) + 1, eff_w = g.dW * (g.kW - 1) + 1;
  const int64_t padded_h = g.H + 2 * g.pH, padded_w = g.W + 2 * g.pW;
  if (padded_h < eff_h || padded_w < eff_w) {
    throw_shape_error(op, "padded input size " + size2_str({padded_h, padded_w}) + " of input " + shape_str(x.shape()) +
                              " is smaller than the effective kernel size " + size2_str({eff_h, eff_w}) +
                              " (output size would be <= 0)");
  }
  g.OH = (padded_h - eff_h) / g.sH + 1;
  g.OW = (padded_w - eff_w) / g.sW + 1;
  return g;
}

// The geometry of the convolution whose input gradient is the transposed convolution.
ConvGeom conv_transpose2d_geometry(const Tensor& x, const Tensor& w, const Tensor& bias, Size2 stride, Size2 padding,
                                   Size2 output_padding, int64_t groups, Size2 dilation) {
  const char* op = "conv_transpose2d";
  check_conv_args(op, x, w, bias, stride, padding, dilation, groups, "[C_in, C_out/groups, kH, kW]");
  check_non_negative(op, "output_padding", output_padding);
  for (int d = 0; d < 2; ++d) {
    if (output_padding[d] >= stride[d] && output_padding[d] >= dilation[d]) {
      throw std::invalid_argument(std::string(op) + ": output_padding " + size2_str(output_padding) +
                                  " must be smaller than either stride " + size2_str(stride) + " or dilation " +
                                  size2_str(dilation));
    }
  }
  const Shape xs = batched_shape(x);
  ConvGeom g;
  g.N = xs[0];
  g.C_out = xs[1], g.OH = xs[2], g.OW = xs[3];  // the transposed input is the convolution's output
  g.kH = w.size(2), g.kW = w.size(3);
  g.sH = stride[0], g.sW = stride[1], g.pH = padding[0], g.pW = padding[1], g.dH = dilation[0], g.dW = dilation[1];
  g.groups = groups;
  if (w.size(0) % groups != 0) {
    throw_shape_error(op, "weight " + shape_str(w.shape()) + " has " + std::to_string(w.size(0)) +
                              " input channels, which is not divisible by groups=" + std::to_string(groups));
  }
  if (g.C_out != w.size(0)) {
    throw_shape_error(op, "input " + shape_str(x.shape()) + " has " + std::to_string(g.C_out) +
                              " channels, but weight " + shape_str(w.shape()) + " expects " +
                              std::to_string(w.size(0)));
  }
  g.C_in = w.size(1) * groups;
  if (bias.defined() && bias.size(0) != g.C_in) {
    throw_shape_error(op, "bias " + shape_str(bias.shape()) + " does not match the " + std::to_string(g.C_in) +
                              " output channels of weight " + shape_str(w.shape()) +
                              " with groups=" + std::to_string(groups));
  }
  g.H = (g.OH - 1) * g.sH - 2 * g.pH + g.dH * (g.kH - 1) + output_padding[0] + 1;
  g.W = (g.OW - 1) * g.sW - 2 * g.pW + g.dW * (g.kW - 1) + output_padding[1] + 1;
  if (g.OH <= 0 || g.OW <= 0 || g.H <= 0 || g.W <= 0) {
    throw_shape_error(op, "input " + shape_str(x.shape()) + " gives an output size " + size2_str({g.H, g.W}) +
                              ", which is too small");
  }
  return g;
}

// ---- Differentiable batched ops ---------------------------------------------

Tensor conv2d_batched(const Tensor& x, const Tensor& w, const Tensor& bias, const ConvGeom& g) {
  const DType dt = x.dtype();
  Tensor y = conv_forward(x, w, bias, g, dt);
  const bool need_x = x.requires_grad(), need_w = w.requires_grad(), need_b = bias.defined() && bias.requires_grad();
  return with_grad("conv2d", {x, w, bias}, y,
                   [xd = need_w ? x.detach() : Tensor(), wd = need_x ? w.detach() : Tensor(), g, dt, need_x, need_w,
                    need_b](const TensorList& grads) {
                     const Tensor& gy = grads[0];
                     return TensorList{need_x ? conv_input_grad(gy, wd, Tensor(), g, dt) : Tensor(),
                                       need_w ? conv_weight_grad(xd, gy, g, dt) : Tensor(),
                                       need_b ? bias_grad(gy) : Tensor()};
                   });
}

Tensor conv_transpose2d_batched(const Tensor& x, const Tensor& w, const Tensor& bias, const ConvGeom& g) {
  const DType dt = x.dtype();
  Tensor y = conv_input_grad(x, w, bias, g, dt);
  const bool need_x = x.requires_grad(), need_w = w.requires_grad(), need_b = bias.defined() && bias.requires_grad();
  return with_grad("conv_transpose2d", {x, w, bias}, y,
                   [xd = need_w ? x.detach() : Tensor(), wd = need_x ? w.detach() : Tensor(), g, dt, need_x, need_w,
                    need_b](const TensorList& grads) {
                     const Tensor& gy = grads[0];
                     // The output gradient plays the convolution's input, x its output gradient.
                     return TensorList{need_x ? conv_forward(gy, wd, Tensor(), g, dt) : Tensor(),
                                       need_w ? conv_weight_grad(gy, xd, g, dt) : Tensor(),
                                       need_b ? bias_grad(gy) : Tensor()};
                   });
}

// ---- Pooling -------------------------------------------------------------------

struct PoolGeom {
  int64_t planes = 0, H = 0, W = 0, OH = 0, OW = 0;
  int64_t kH = 1, kW = 1, sH = 1, sW = 1, pH = 0, pW = 0, dH = 1, dW = 1;
  bool ceil_mode = false;
};

int64_t floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  if (a % b != 0 && ((a < 0) != (b < 0))) --q;
  return q;
}

// PyTorch's pooling output size: in ceil mode the last window must start inside
// the input or its left padding.
int64_t pooled_size(int64_t in, int64_t k, int64_t pad, int64_t stride, int64_t dilation, bool ceil_mode) {
  int64_t out = floor_div(in + 2 * pad - dilation * (k - 1) - 1 + (ceil_mode ? stride - 1 : 0), stride) + 1;
  if (ceil_mode && (out - 1) * stride >= in + pad) --out;
  return out;
}

PoolGeom pool_geometry(const char* op, const Tensor& x, Size2 kernel, Size2 stride, Size2 padding, Size2 dilation,
                       bool ceil_mode) {
  check_defined(x, op, "input");
  check_floating(x, op, "input");
  const bool rank_ok = x.dim() == 3 || x.dim() == 4;
  if (!rank_ok || x.size(-1) == 0 || x.size(-2) == 0 || x.size(-3) == 0) {
    throw_shape_error(
        op, "expected a 3-D [C, H, W] or 4-D [N, C, H, W] input with non-zero C, H and W, got " + shape_str(x.shape()));
  }
  check_positive(op, "kernel_size", kernel);
  if (stride[0] == 0 && stride[1] == 0) stride = kernel;
  check_positive(op, "stride", stride);
  check_positive(op, "dilation", dilation);
  check_non_negative(op, "padding", padding);
  const Size2 eff = {(kernel[0] - 1) * dilation[0] + 1, (kernel[1] - 1) * dilation[1] + 1};
  if (padding[0] > eff[0] / 2 || padding[1] > eff[1] / 2) {
    throw std::invalid_argument(std::string(op) + ": padding " + size2_str(padding) +
                                " must be at most half of the effective kernel size " + size2_str(eff));
  }
  PoolGeom g;
  g.H = x.size(-2), g.W = x.size(-1);
  g.planes = g.H * g.W == 0 ? 0 : x.numel() / (g.H * g.W);
  g.kH = kernel[0], g.kW = kernel[1], g.sH = stride[0], g.sW = stride[1], g.pH = padding[0], g.pW = padding[1];
  g.dH = dilation[0], g.dW = dilation[1], g.ceil_mode = ceil_mode;
  g.OH = pooled_size(g.H, g.kH, g.pH, g.sH, g.dH, ceil_mode);
  g.OW = pooled_size(g.W, g.kW, g.pW, g.sW, g.dW, ceil_mode);
  if (g.OH < 1 || g.OW < 1) {
    throw_shape_error(
        op, "input " + shape_str(x.shape()) + " is too small: the output size would be " + size2_str({g.OH, g.OW}));
  }
  return g;
}

Shape pooled_shape(const Tensor& x, const PoolGeom& g) {
  Shape s = x.shape();
  s[s.size() - 2] = g.OH;
  s[s.size() - 1] = g.OW;
  return s;
}

int64_t pool_grain(const PoolGeom& g) {
  return std::max<int64_t>(1, cpu::kGrain / std::max<int64_t>(1, g.OH * g.OW * g.kH * g.kW));
}

// Max over each window (dilated, padding never wins), with the flat in-plane index
// of the first maximum in scan order; NaN propagates. -1 marks a window without
// any input element.
template <class T>
void max_pool_forward(const T* x, T* y, int64_t* idx, const PoolGeom& g) {
  using C = compute_t<T>;
  parallel_for(0, g.planes, pool_grain(g), [&](int64_t b, int64_t e) {
    for (int64_t p = b; p < e; ++p) {
      const T* xp = x + p * g.H * g.W;
      T* yp = y + p * g.OH * g.OW;
      int64_t* ip = idx + p * g.OH * g.OW;
      for (int64_t oh = 0; oh < g.OH; ++oh) {
        int64_t h0 = oh * g.sH - g.pH;
        const int64_t h1 = std::min(h0 + (g.kH - 1) * g.dH + 1, g.H);
        while (h0 < 0) h0 += g.dH;
        for (int64_t ow = 0; ow < g.OW; ++ow) {
          int64_t w0 = ow * g.sW - g.pW;
          const int64_t w1 = std::min(w0 + (g.kW - 1) * g.dW + 1, g.W);
          while (w0 < 0) w0 += g.dW;
          C best = -std::numeric_limits<C>::infinity();
          int64_t best_i = (h0 < h1 && w0 < w1) ? h0 * g.W + w0 : -1;
          for (int64_t ih = h0; ih < h1; ih += g.dH) {
            for (int64_t iw = w0; iw < w1; iw += g.dW) {
              const C v = static_cast<C>(xp[ih * g.W + iw]);
              if (v > best || std::isnan(v)) {
                best = v;
                best_i = ih * g.W + iw;
              }
            }
          }
          yp[oh * g.OW + ow] = static_cast<T>(best);
          ip[oh * g.OW + ow] = best_i;
        }
      }
    }
  });
}

// gx[plane][idx] += gy for each output, in output order.
template <class T>
void max_pool_backward(const T* gy, const int64_t* idx, T* gx, const PoolGeom& g) {
  parallel_for(0, g.planes, std::max<int64_t>(1, cpu::kGrain / std::max<int64_t>(1, g.OH * g.OW)),
               [&](int64_t b, int64_t e) {
                 for (int64_t p = b; p < e; ++p) {
                   T* xp = gx + p * g.H * g.W;
                   std::fill(xp, xp + g.H * g.W, T(0));
                   const T* gp = gy + p * g.OH * g.OW;
                   const int64_t* ip = idx + p * g.OH * g.OW;
                   for (int64_t o = 0; o < g.OH * g.OW; ++o) {
                     if (ip[o] >= 0) xp[ip[o]] += gp[o];
                   }
                 }
               });
}

// The window of an average-pool output clipped to the input, and its divisor:
// with count_include_pad the window clipped to the padded input (so a ceil-mode
// window hanging past the padding counts only up to it), else the clipped window.
struct AvgWindow {
  int64_t h0, h1, w0, w1, divisor;
};
AvgWindow avg_window(const PoolGeom& g, int64_t oh, int64_t ow, bool count_include_pad) {
  int64_t h0 = oh * g.sH - g.pH, w0 = ow * g.sW - g.pW;
  int64_t h1 = std::min(h0 + g.kH, g.H + g.pH), w1 = std::min(w0 + g.kW, g.W + g.pW);
  const int64_t padded_size = (h1 - h0) * (w1 - w0);
  h0 = std::max<int64_t>(h0, 0);
  w0 = std::max<int64_t>(w0, 0);
  h1 = std::min(h1, g.H);
  w1 = std::min(w1, g.W);
  return {h0, h1, w0, w1, count_include_pad ? padded_size : (h1 - h0) * (w1 - w0)};
}

template <class T>
void avg_pool_forward(const T* x, T* y, const PoolGeom& g, bool count_include_pad) {
  parallel_for(0, g.planes, pool_grain(g), [&](int64_t b, int64_t e) {
    for (int64_t p = b; p < e; ++p) {
      const T* xp = x + p * g.H * g.W;
      T* yp = y + p * g.OH * g.OW;
      for (int64_t oh = 0; oh < g.OH; ++oh) {
        for (int64_t ow = 0; ow < g.OW; ++ow) {
          const AvgWindow win = avg_window(g, oh, ow, count_include_pad);
          if (win.h0 >= win.h1 || win.w0 >= win.w1) {
            yp[oh * g.OW + ow] = T(0);
            continue;
          }
          double acc = 0;
          for (int64_t ih = win.h0; ih < win.h1; ++ih) {
            for (int64_t iw = win.w0; iw < win.w1; ++iw)
              acc += static_cast<double>(static_cast<compute_t<T>>(xp[ih * g.W + iw]));
          }
          yp[oh * g.OW + ow] = convert<T>(acc / static_cast<double>(win.divisor));
        }
      }
    }
  });
}

// Each output's gradient divided by its divisor, added over its clipped window.
template <class T>
void avg_pool_backward(const T* gy, T* gx, const PoolGeom& g, bool count_include_pad) {
  parallel_for(0, g.planes, pool_grain(g), [&](int64_t b, int64_t e) {
    for (int64_t p = b; p < e; ++p) {
      T* xp = gx + p * g.H * g.W;
      std::fill(xp, xp + g.H * g.W, T(0));
      const T* gp = gy + p * g.OH * g.OW;
      for (int64_t oh = 0; oh < g.OH; ++oh) {
        for (int64_t ow = 0; ow < g.OW; ++ow) {
          const AvgWindow win = avg_window(g, oh, ow, count_include_pad);
          if (win.h0 >= win.h1 || win.w0 >= win.w1) continue;
          const T delta = gp[oh * g.OW + ow] / static_cast<T>(win.divisor);
          for (int64_t ih = win.h0; ih < win.h1; ++ih) {
            for (int64_t iw = win.w0; iw < win.w1; ++iw) xp[ih * g.W + iw] += delta;
          }
        }
      }
    }
  });
}

}  // namespace

namespace {
// -1 until read from RVOS_CONV_BACKEND.
std::atomic<int> conv_backend_setting{-1};
}  // namespace

ConvBackend conv_backend() {
  int v = conv_backend_setting.load(std::memory_order_relaxed);
  if (v < 0) {
    const char* env = std::getenv("RVOS_CONV_BACKEND");
    const std::string name = env != nullptr ? env : "";
    if (!name.empty() && name != "native" && name != "cudnn") {
      throw std::invalid_argument("RVOS_CONV_BACKEND must be 'native' or 'cudnn', got '" + name + "'");
    }
    int expected = -1;
    conv_backend_setting.compare_exchange_strong(expected, static_cast<int>(name == "cudnn" ? ConvBackend::Cudnn
                                                                                            : ConvBackend::Native));
    v = conv_backend_setting.load(std::memory_order_relaxed);
  }
  return static_cast<ConvBackend>(v);
}

void set_conv_backend(ConvBackend backend) {
  conv_backend_setting.store(static_cast<int>(backend), std::memory_order_relaxed);
}

Tensor conv2d(const Tensor& x, const Tensor& weight, const Tensor& bias, Size2 stride, Size2 padding, Size2 dilation,
              int64_t groups) {
  const ConvGeom g = conv2d_geometry(x, weight, bias, stride, padding, dilation, groups);
  if (x.dim() == 3) return squeeze(conv2d_batched(unsqueeze(x, 0), weight, bias, g), 0);
  return conv2d_batched(x, weight, bias, g);
}

Tensor conv_transpose2d(const Tensor& x, const Tensor& weight, const Tensor& bias, Size2 stride, Size2 padding,
                        Size2 output_padding, int64_t groups, Size2 dilation) {
  const ConvGeom g = conv_transpose2d_geometry(x, weight, bias, stride, padding, output_padding, groups, dilation);
  if (x.dim() == 3) return squeeze(conv_transpose2d_batched(unsqueeze(x, 0), weight, bias, g), 0);
  return conv_transpose2d_batched(x, weight, bias, g);
}

#if RVOS_HAVE_CUDA
namespace {
cuda::PoolGeometry device_pool_geometry(const PoolGeom& g) {
  cuda::PoolGeometry d;
  d.planes = g.planes, d.H = g.H, d.W = g.W, d.OH = g.OH, d.OW = g.OW;
  d.kH = g.kH, d.kW = g.kW, d.sH = g.sH, d.sW = g.sW, d.pH = g.pH, d.pW = g.pW, d.dH = g.dH, d.dW = g.dW;
  return d;
}
}  // namespace
#endif

Tensor max_pool2d(const Tensor& x, Size2 kernel_size, Size2 stride, Size2 padding, Size2 dilation, bool ceil_mode) {
  const PoolGeom g = pool_geometry("max_pool2d", x, kernel_size, stride, padding, dilation, ceil_mode);
  Tensor xc = contiguous(x.detach());
  Tensor y = Tensor::empty(pooled_shape(x, g), x.dtype(), x.device());
  Tensor indices = Tensor::empty(pooled_shape(x, g), DType::I64, x.device());
  if (x.is_cuda()) {
#if RVOS_HAVE_CUDA
    cuda::max_pool2d_forward(y, indices, xc, device_pool_geometry(g));
#endif
  } else {
    dispatch_floating(x.dtype(), "max_pool2d", [&](auto tag) {
      using T = typename decltype(tag)::type;
      max_pool_forward(xc.data<T>(), y.data<T>(), indices.data<int64_t>(), g);
    });
  }
  const Shape in_shape = x.shape();
  const DType dt = x.dtype();
  return with_grad("max_pool2d", {x}, y, [indices, in_shape, dt, g](const TensorList& grads) {
#if RVOS_HAVE_CUDA
    if (grads[0].is_cuda()) {
      Tensor gx = Tensor::empty(in_shape, dt, grads[0].device());
      cuda::max_pool2d_backward(gx, prepared(grads[0], dt), indices, device_pool_geometry(g));
      return TensorList{gx};
    }
#endif
    const DType cdt = compute_dtype(dt);
    Tensor gc = prepared(grads[0], cdt);
    Tensor gx = Tensor::empty(in_shape, cdt, gc.device());
    with_compute_type(cdt, [&](auto tag) {
      using T = typename decltype(tag)::type;
      max_pool_backward(gc.data<T>(), indices.data<int64_t>(), gx.data<T>(), g);
    });
    return TensorList{finish(gx, dt)};
  });
}

Tensor avg_pool2d(const Tensor& x, Size2 kernel_size, Size2 stride, Size2 padding, bool ceil_mode,
                  bool count_include_pad) {
  const PoolGeom g = pool_geometry("avg_pool2d", x, kernel_size, stride, padding, {1, 1}, ceil_mode);
  Tensor xc = contiguous(x.detach());
  Tensor y = Tensor::empty(pooled_shape(x, g), x.dtype(), x.device());
  if (x.is_cuda()) {
#if RVOS_HAVE_CUDA
    cuda::avg_pool2d_forward(y, xc, device_pool_geometry(g), count_include_pad);
#endif
  } else {
    dispatch_floating(x.dtype(), "avg_pool2d", [&](auto tag) {
      using T = typename decltype(tag)::type;
      avg_pool_forward(xc.data<T>(), y.data<T>(), g, count_include_pad);
    });
  }
  const Shape in_shape = x.shape();
  const DType dt = x.dtype();
  return with_grad("avg_pool2d", {x}, y, [in_shape, dt, g, count_include_pad](const TensorList& grads) {
#if RVOS_HAVE_CUDA
    if (grads[0].is_cuda()) {
      Tensor gx = Tensor::empty(in_shape, dt, grads[0].device());
      cuda::avg_pool2d_backward(gx, prepared(grads[0], dt), device_pool_geometry(g), count_include_pad);
      return TensorList{gx};
    }
#endif
    const DType cdt = compute_dtype(dt);
    Tensor gc = prepared(grads[0], cdt);
    Tensor gx = Tensor::empty(in_shape, cdt, gc.device());
    with_compute_type(cdt, [&](auto tag) {
      using T = typename decltype(tag)::type;
      avg_pool_backward(gc.data<T>(), gx.data<T>(), g, count_include_pad);
    });
    return TensorList{finish(gx, dt)};
  });
}

}  // namespace rvos
