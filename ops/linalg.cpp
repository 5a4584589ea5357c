// Matrix products. The CPU GEMM is Eigen's (multithreaded with OpenMP for large
// products); batches of small products are spread over threads instead. CUDA tensors go to
// cuBLAS (cuda/gemm.h), linear with its bias fused into the GEMM.
#include "ops/linalg.h"

#include <Eigen/Core>
#include <atomic>
#include <cstdlib>
#include <string>

#include "ops/copy.h"
#include "ops/cpu_loops.h"
#include "ops/elementwise.h"
#include "ops/factory.h"
#include "ops/internal.h"
#include "ops/reduce.h"
#include "ops/shape.h"
#include "rvos/version.h"
#if RVOS_HAVE_CUDA
#include "cuda/gemm.h"
#endif

namespace rvos {

namespace {

template <class T>
using StridedMat = Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>, 0,
                              Eigen::Stride<Eigen::Dynamic, Eigen::Dynamic>>;
template <class T>
using OutMat = Eigen::Map<Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>;

// out[b] = a[b] @ w[b] for a [B, n, k], w [B, k, m] of any strides (batch stride
// may be 0), out contiguous [B, n, m]. T is float or double.
template <class T>
void gemm_batched(const Tensor& a, const Tensor& w, const Tensor& out) {
  const int64_t B = a.shape()[0], n = a.shape()[1], k = a.shape()[2], m = w.shape()[2];
  const T* ap = static_cast<const T*>(a.raw_data());
  const T* wp = static_cast<const T*>(w.raw_data());
  T* op = static_cast<T*>(out.raw_data());
  auto one = [&](int64_t b) {
    StridedMat<T> A(ap + b * a.strides()[0], n, k, Eigen::Stride<Eigen::Dynamic, Eigen::Dynamic>(a.strides()[1], a.strides()[2]));
    StridedMat<T> W(wp + b * w.strides()[0], k, m, Eigen::Stride<Eigen::Dynamic, Eigen::Dynamic>(w.strides()[1], w.strides()[2]));
    OutMat<T> O(op + b * n * m, n, m);
    if (k == 0) {
      O.setZero();
    } else {
      O.noalias() = A * W;
    }
  };
  // Large products parallelise inside Eigen; many small ones over the batch.
  const int64_t flops = n * m * k;
  if (B > 1 && flops < (int64_t(1) << 21)) {
    parallel_for(0, B, std::max<int64_t>(1, (int64_t(1) << 18) / std::max<int64_t>(flops, 1)), [&](int64_t b0, int64_t b1) {
      for (int64_t b = b0; b < b1; ++b) one(b);
    });
  } else {
    for (int64_t b = 0; b < B; ++b) one(b);
  }
}

// -1 until read from RVOS_ALLOW_TF32.
std::atomic<int> tf32_allowed{-1};

#if RVOS_HAVE_CUDA
cuda::GemmOptions gemm_options() { return cuda::GemmOptions{allow_tf32()}; }
#endif

Tensor bmm_forward(const Tensor& a, const Tensor& b) {
  const DType dt = a.dtype();
  Tensor out = Tensor::empty({a.shape()[0], a.shape()[1], b.shape()[2]}, dt, a.device());
  if (out.numel() == 0) return out;
  if (a.is_cuda()) {
    if (!is_floating(dt)) throw_unsupported_dtype("matmul", dt);
#if RVOS_HAVE_CUDA
    cuda::matmul(out, a, b, Tensor(), cuda::Epilogue::None, gemm_options());
#endif
    return out;
  }
  if (dt == DType::F32) {
    gemm_batched<float>(a, b, out);
  } else if (dt == DType::F64) {
    gemm_batched<double>(a, b, out);
  } else if (dt == DType::F16 || dt == DType::BF16) {
    // 16-bit floats: products in float32, rounded once at the end.
    Tensor o32 = Tensor::empty(out.shape(), DType::F32, out.device());
    gemm_batched<float>(to(a, DType::F32), to(b, DType::F32), o32);
    copy_(out, o32);
  } else {
    throw_unsupported_dtype("matmul", dt);
  }
  return out;
}

}  // namespace

Tensor bmm(const Tensor& a, const Tensor& b) {
  check_defined(a, "bmm", "input");
  check_defined(b, "bmm", "mat2");
  check_same_device("bmm", {&a, &b});
  if (a.dim() != 3 || b.dim() != 3 || a.shape()[0] != b.shape()[0] || a.shape()[2] != b.shape()[1]) {
    throw_shape_error("bmm", "expected [B, n, k] and [B, k, m], got " + shape_str(a.shape()) + " and " +
                                 shape_str(b.shape()));
  }
  if (a.dtype() != b.dtype()) {
    throw std::invalid_argument(std::string("bmm: dtypes differ (") + dtype_name(a.dtype()) + " and " +
                                dtype_name(b.dtype()) + ")");
  }
  Tensor y = bmm_forward(a.detach(), b.detach());
  const bool ga = a.requires_grad(), gb = b.requires_grad();
  return detail::with_grad("bmm", {a, b}, y, [ad = a.detach(), bd = b.detach(), ga, gb](const TensorList& g) {
    return TensorList{ga ? bmm(g[0], transpose(bd, 1, 2)) : Tensor(), gb ? bmm(transpose(ad, 1, 2), g[0]) : Tensor()};
  });
}

Tensor matmul(const Tensor& a, const Tensor& b) {
  check_defined(a, "matmul", "input");
  check_defined(b, "matmul", "other");
  if (a.dim() == 0 || b.dim() == 0) throw_shape_error("matmul", "both arguments need at least one dimension");
  auto mismatch = [&] {
    throw_shape_error("matmul", "shapes " + shape_str(a.shape()) + " and " + shape_str(b.shape()) +
                                    " cannot be multiplied");
  };
  if (a.size(-1) != (b.dim() == 1 ? b.size(0) : b.size(-2))) mismatch();
  Tensor a2 = a, b2 = b;
  if (a.dtype() != b.dtype()) {
    const DType dt = promote_types(a.dtype(), b.dtype());
    a2 = to(a, dt);
    b2 = to(b, dt);
  }
  const bool a_vec = a.dim() == 1, b_vec = b.dim() == 1;
  if (a_vec) a2 = unsqueeze(a2, 0);
  if (b_vec) b2 = unsqueeze(b2, 1);
  const int64_t n = a2.size(-2), k = a2.size(-1), m = b2.size(-1);
  Tensor out;
  if (b2.dim() == 2) {
    // Fold a's batch dims into its rows: one large GEMM.
    Shape batch(a2.shape().begin(), a2.shape().end() - 2);
    Tensor rows = reshape(a2, {1, shape_numel(batch) * n, k});
    out = reshape(bmm(rows, unsqueeze(b2, 0)), [&] {
      Shape s = batch;
      s.push_back(n);
      s.push_back(m);
      return s;
    }());
  } else {
    Shape ba(a2.shape().begin(), a2.shape().end() - 2), bb(b2.shape().begin(), b2.shape().end() - 2);
    Shape batch = broadcast_shapes(ba, bb, "matmul");
    const int64_t nb = shape_numel(batch);
    Shape ea = batch, eb = batch;
    ea.insert(ea.end(), {n, k});
    eb.insert(eb.end(), {k, m});
    Tensor a3 = reshape(expand(a2, ea), {nb, n, k});
    Tensor b3 = reshape(expand(b2, eb), {nb, k, m});
    Shape os = batch;
    os.insert(os.end(), {n, m});
    out = reshape(bmm(a3, b3), os);
  }
  if (a_vec) out = squeeze(out, -2);
  if (b_vec) out = squeeze(out, -1);
  return out;
}

namespace {

Tensor activate(const Tensor& y, LinearActivation activation) {
  switch (activation) {
    case LinearActivation::None: return y;
    case LinearActivation::Relu: return relu(y);
    case LinearActivation::GeluTanh: return gelu(y, "tanh");
  }
  return y;
}

#if RVOS_HAVE_CUDA
// x [..., in] as rows [R, in] times weight^T in one GEMM whose epilogue adds the bias (and applies
// the activation when no gradient is recorded). The gradients are GEMMs too: the bias gradient is
// ones [1, R] @ grad [R, out].
Tensor linear_cuda(const Tensor& x, const Tensor& weight, const Tensor& bias, LinearActivation activation) {
  const bool record = autograd::any_requires_grad({x, weight, bias});
  if (record && activation != LinearActivation::None) {
    return activate(linear_cuda(x, weight, bias, LinearActivation::None), activation);
  }
  const int64_t in = weight.size(1), out_features = weight.size(0);
  Shape lead(x.shape().begin(), x.shape().end() - 1);
  const int64_t rows = shape_numel(lead);
  const Tensor x2 = reshape(x.detach(), {rows, in});
  const Tensor wd = weight.detach();
  Tensor y2 = Tensor::empty({rows, out_features}, x.dtype(), x.device());
  const cuda::Epilogue epilogue = activation == LinearActivation::Relu       ? cuda::Epilogue::Relu
                                  : activation == LinearActivation::GeluTanh ? cuda::Epilogue::GeluTanh
                                                                             : cuda::Epilogue::None;
  cuda::matmul(Tensor::view_of(y2, {1, rows, out_features}, {rows * out_features, out_features, 1}, y2.offset()),
               Tensor::view_of(x2, {1, rows, in}, {rows * in, x2.stride(0), x2.stride(1)}, x2.offset()),
               Tensor::view_of(wd, {1, in, out_features}, {in * out_features, wd.stride(1), wd.stride(0)}, wd.offset()),
               bias.defined() ? bias.detach() : Tensor(), epilogue, gemm_options());
  Shape out_shape = lead;
  out_shape.push_back(out_features);
  Tensor y = reshape(y2, out_shape);
  if (!record) return y;
  const bool need_x = x.requires_grad(), need_w = weight.requires_grad(), need_b = bias.defined() && bias.requires_grad();
  return detail::with_grad(
      "linear", {x, weight, bias}, y,
      [x2 = need_w ? x2 : Tensor(), wd = need_x ? wd : Tensor(), x_shape = x.shape(), rows, out_features, need_x,
       need_w, need_b](const TensorList& g) {
        const Tensor g2 = reshape(g[0], {rows, out_features});
        return TensorList{
            need_x ? reshape(matmul(g2, wd), x_shape) : Tensor(),
            need_w ? matmul(transpose(g2, 0, 1), x2) : Tensor(),
            need_b ? reshape(matmul(ones({1, rows}, g2.dtype(), g2.device()), g2), {out_features}) : Tensor()};
      });
}
#endif

}  // namespace

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  return linear(x, weight, bias, LinearActivation::None);
}

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias, LinearActivation activation) {
  check_defined(x, "linear", "input");
  check_defined(weight, "linear", "weight");
  if (weight.dim() != 2 || x.dim() == 0 || x.size(-1) != weight.size(1)) {
    throw_shape_error("linear", "input " + shape_str(x.shape()) + " does not match weight " + shape_str(weight.shape()) +
                                    " (expected input [..., " + std::to_string(weight.dim() == 2 ? weight.size(1) : -1) +
                                    "])");
  }
  if (bias.defined() && (bias.dim() != 1 || bias.size(0) != weight.size(0))) {
    throw_shape_error("linear", "bias " + shape_str(bias.shape()) + " does not match weight " + shape_str(weight.shape()));
  }
#if RVOS_HAVE_CUDA
  if (x.is_cuda() && is_floating(x.dtype()) && weight.dtype() == x.dtype() &&
      (!bias.defined() || bias.dtype() == x.dtype())) {
    check_same_device("linear", {&x, &weight, &bias});
    return linear_cuda(x, weight, bias, activation);
  }
#endif
  Tensor y = matmul(x, transpose(weight, 0, 1));
  if (bias.defined()) y = add(y, bias);
  return activate(y, activation);
}

bool allow_tf32() {
  int v = tf32_allowed.load(std::memory_order_relaxed);
  if (v < 0) {
    const char* env = std::getenv("RVOS_ALLOW_TF32");
    int expected = -1;
    tf32_allowed.compare_exchange_strong(expected, env != nullptr && std::string(env) == "1" ? 1 : 0);
    v = tf32_allowed.load(std::memory_order_relaxed);
  }
  return v == 1;
}

void set_allow_tf32(bool allow) { tf32_allowed.store(allow ? 1 : 0, std::memory_order_relaxed); }

}  // namespace rvos
