#include "ops/copy.h"

#include <cstring>

#include "ops/cpu_loops.h"
#include "rvos/version.h"
#if RVOS_HAVE_CUDA
#include "cuda/copy.h"
#endif
#include "ops/factory.h"
#include "ops/internal.h"
#include "ops/shape.h"

namespace rvos {

namespace detail {

Tensor broadcast_view(const Tensor& t, const Shape& shape) {
  if (t.shape() == shape) return t;
  const int64_t nd = static_cast<int64_t>(shape.size());
  const int64_t td = t.dim();
  if (td > nd) throw_shape_error("broadcast", "cannot broadcast " + shape_str(t.shape()) + " to " + shape_str(shape));
  Shape strides(shape.size(), 0);
  for (int64_t i = 0; i < td; ++i) {
    int64_t od = nd - td + i;
    if (t.shape()[i] == shape[od]) {
      strides[od] = t.strides()[i];
    } else if (t.shape()[i] == 1) {
      strides[od] = 0;
    } else {
      throw_shape_error("broadcast", "cannot broadcast " + shape_str(t.shape()) + " to " + shape_str(shape));
    }
  }
  return Tensor::view_of(t, shape, strides, t.offset());
}

}  // namespace detail

namespace {

void copy_cpu(const Tensor& dst, const Tensor& src) {
  Tensor s = detail::broadcast_view(src, dst.shape());
  if (dst.dtype() == s.dtype() && dst.is_contiguous() && s.is_contiguous()) {
    std::memcpy(dst.raw_data(), s.raw_data(), static_cast<size_t>(dst.numel()) * dst.element_size());
    return;
  }
  dispatch_all(dst.dtype(), "copy_", [&](auto dtag) {
    using D = typename decltype(dtag)::type;
    dispatch_all(s.dtype(), "copy_", [&](auto stag) {
      using S = typename decltype(stag)::type;
      cpu::map1<D, S>(dst, s, [](auto v) { return v; });
    });
  });
}

// Contiguous bytes between devices.
void raw_transfer(const Tensor& dst, const Tensor& src) {
  const Device other = dst.is_cpu() ? src.device() : dst.device();
  backend_for(other.type).copy(dst.raw_data(), dst.device(), src.raw_data(), src.device(),
                               static_cast<size_t>(dst.numel()) * dst.element_size());
}

}  // namespace

void copy_(const Tensor& dst, const Tensor& src) {
  check_defined(dst, "copy_", "dst");
  check_defined(src, "copy_", "src");
  if (GradMode::is_enabled() && dst.requires_grad()) {
    throw std::invalid_argument("copy_: the destination requires grad; modify it under NoGradGuard");
  }
  if (dst.numel() == 0) return;
  if (dst.is_cpu() && src.is_cpu()) {
    copy_cpu(dst, src);
    return;
  }
  if (src.shape() == dst.shape() && src.dtype() == dst.dtype() && src.is_contiguous() && dst.is_contiguous() &&
      (dst.is_cpu() || src.is_cpu())) {
    raw_transfer(dst, src);  // plain bytes between host and device
    return;
  }
#if RVOS_HAVE_CUDA
  if (dst.is_cuda() && src.is_cuda()) {
    if (dst.device() != src.device()) {
      // Between two GPUs: through a contiguous staging copy on the destination.
      Tensor staged = Tensor::empty(src.shape(), src.dtype(), dst.device());
      copy_(staged, contiguous(src.detach()));
      cuda::copy_strided(dst, staged);
      return;
    }
    cuda::copy_strided(dst, detail::broadcast_view(src, dst.shape()));
    return;
  }
  if (dst.is_cuda()) {
    // Host source: its bytes as they are (made contiguous on the host), then cast / scattered on the device.
    Tensor host = Tensor::empty(dst.shape(), src.dtype(), Device::cpu());
    copy_cpu(host, src);
    Tensor device = Tensor::empty(dst.shape(), src.dtype(), dst.device());
    raw_transfer(device, host);
    cuda::copy_strided(dst, device);
    return;
  }
  // Device source: gathered into contiguous device memory, then converted on the host.
  Tensor device = src.is_contiguous() ? src : Tensor::empty(src.shape(), src.dtype(), src.device());
  if (!src.is_contiguous()) cuda::copy_strided(device, src);
  Tensor host = Tensor::empty(src.shape(), src.dtype(), Device::cpu());
  raw_transfer(host, device);
  copy_cpu(dst, host);
#else
  throw std::runtime_error(std::string("copy_: ") + src.device().str() + " -> " + dst.device().str() +
                           " in a build without CUDA");
#endif
}

void fill_(const Tensor& dst, Scalar value) {
  check_defined(dst, "fill_", "dst");
  if (dst.numel() == 0) return;
  if (!dst.is_cpu()) {
#if RVOS_HAVE_CUDA
    // Integer values stay exact; a floating value given to an integer tensor truncates, as on the CPU.
    cuda::fill(dst, value.to<double>(), value.to<int64_t>());
#else
    throw std::runtime_error("fill_: " + dst.device().str() + " tensor in a build without CUDA");
#endif
    return;
  }
  dispatch_all(dst.dtype(), "fill_", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T v = value.to<T>();
    cpu::for_each_run<1>(dst.shape(), {&dst}, [&](const std::array<char*, 1>& p, const std::array<int64_t, 1>& s,
                                                  int64_t n) {
      T* o = reinterpret_cast<T*>(p[0]);
      const int64_t st = s[0] / int64_t(sizeof(T));
      for (int64_t i = 0; i < n; ++i) o[i * st] = v;
    });
  });
}

Tensor clone(const Tensor& t) {
  check_defined(t, "clone", "input");
  Tensor out = Tensor::empty(t.shape(), t.dtype(), t.device());
  copy_(out, t.detach());
  return detail::with_grad("clone", {t}, out, [](const TensorList& g) { return TensorList{g[0]}; });
}

Tensor contiguous(const Tensor& t) {
  check_defined(t, "contiguous", "input");
  return t.is_contiguous() ? t : clone(t);
}

Tensor to(const Tensor& t, Device device, DType dtype) {
  check_defined(t, "to", "input");
  if (t.device() == device && t.dtype() == dtype) return t;
  ensure_device(device);
  Tensor out = Tensor::empty(t.shape(), dtype, device);
  copy_(out, t.detach());
  const DType in_dtype = t.dtype();
  const Device in_device = t.device();
  if (!is_floating(dtype) || !is_floating(in_dtype)) return out;  // casts to/from integers carry no gradient
  return detail::with_grad("to", {t}, out, [in_dtype, in_device](const TensorList& g) {
    return TensorList{to(g[0], in_device, in_dtype)};
  });
}

Tensor to(const Tensor& t, DType dtype) { return to(t, t.device(), dtype); }
Tensor to(const Tensor& t, Device device) { return to(t, device, t.dtype()); }

template <class T>
std::vector<T> to_vector(const Tensor& t) {
  check_defined(t, "to_vector", "input");
  Tensor c = to(t.detach(), Device::cpu(), dtype_v<T>);
  c = contiguous(c);
  std::vector<T> out(static_cast<size_t>(c.numel()));
  if (!out.empty()) std::memcpy(out.data(), c.raw_data(), out.size() * sizeof(T));
  return out;
}
template <>
std::vector<bool> to_vector<bool>(const Tensor& t) {
  std::vector<uint8_t> u = to_vector<uint8_t>(to(t.detach(), DType::Bool));
  return std::vector<bool>(u.begin(), u.end());
}
template std::vector<uint8_t> to_vector<uint8_t>(const Tensor&);
template std::vector<int32_t> to_vector<int32_t>(const Tensor&);
template std::vector<int64_t> to_vector<int64_t>(const Tensor&);
template std::vector<Half> to_vector<Half>(const Tensor&);
template std::vector<BFloat16> to_vector<BFloat16>(const Tensor&);
template std::vector<float> to_vector<float>(const Tensor&);
template std::vector<double> to_vector<double>(const Tensor&);

}  // namespace rvos
