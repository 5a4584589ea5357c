#include "tensor/tensor.h"

#include <cstring>
#include <stdexcept>

#include "tensor/autograd.h"

namespace rvos {

int64_t shape_numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

Shape contiguous_strides(const Shape& s) {
  Shape st(s.size());
  int64_t acc = 1;
  for (size_t i = s.size(); i-- > 0;) {
    st[i] = acc;
    acc *= std::max<int64_t>(s[i], 1);
  }
  return st;
}

std::string shape_str(const Shape& s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i) {
    if (i) r += ", ";
    r += std::to_string(s[i]);
  }
  return r + "]";
}

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  for (int64_t d : shape) {
    if (d < 0) throw std::invalid_argument("empty: negative dimension in shape " + shape_str(shape));
  }
  auto impl = std::make_shared<TensorImpl>();
  int64_t n = shape_numel(shape);
  impl->storage = std::make_shared<StorageImpl>(static_cast<size_t>(n) * dtype_size(dtype), device);
  impl->shape = shape;
  impl->strides = contiguous_strides(shape);
  impl->dtype = dtype;
  return Tensor(std::move(impl));
}

Tensor Tensor::view_of(const Tensor& base, const Shape& shape, const Shape& strides, int64_t offset) {
  if (shape.size() != strides.size()) throw std::invalid_argument("view_of: shape and strides differ in rank");
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = base.storage();
  impl->shape = shape;
  impl->strides = strides;
  impl->offset = offset;
  impl->dtype = base.dtype();
  return Tensor(std::move(impl));
}

Tensor Tensor::from_blob(void* data, const Shape& shape, DType dtype, Device device,
                         std::shared_ptr<void> keep_alive) {
  auto impl = std::make_shared<TensorImpl>();
  size_t nbytes = static_cast<size_t>(shape_numel(shape)) * dtype_size(dtype);
  impl->storage = std::make_shared<StorageImpl>(data, nbytes, device, std::move(keep_alive));
  impl->shape = shape;
  impl->strides = contiguous_strides(shape);
  impl->dtype = dtype;
  return Tensor(std::move(impl));
}

TensorImpl& Tensor::impl() const {
  if (!impl_) throw std::logic_error("use of an undefined tensor");
  return *impl_;
}

int64_t Tensor::wrap_dim(int64_t d, const char* what) const {
  int64_t n = dim();
  int64_t w = d < 0 ? d + n : d;
  if (w < 0 || w >= n) {
    throw std::out_of_range(std::string(what) + " " + std::to_string(d) + " is out of range for a tensor of " +
                            std::to_string(n) + " dimensions (shape " + shape_str(shape()) + ")");
  }
  return w;
}

int64_t Tensor::size(int64_t d) const { return impl().shape[wrap_dim(d)]; }
int64_t Tensor::stride(int64_t d) const { return impl().strides[wrap_dim(d)]; }
int64_t Tensor::numel() const { return shape_numel(impl().shape); }

bool Tensor::is_contiguous() const {
  const auto& s = shape();
  const auto& st = strides();
  if (numel() == 0) return true;  // nothing to address, whatever the strides (as in PyTorch)
  int64_t expected = 1;
  for (size_t i = s.size(); i-- > 0;) {
    if (s[i] == 1) continue;
    if (st[i] != expected) return false;
    expected *= s[i];
  }
  return true;
}

void* Tensor::raw_data() const {
  auto& im = impl();
  return static_cast<char*>(im.storage->data()) + im.offset * static_cast<int64_t>(dtype_size(im.dtype));
}

void Tensor::check_dtype(DType t) const {
  if (dtype() != t) {
    throw std::invalid_argument(std::string("tensor has dtype ") + dtype_name(dtype()) + ", accessed as " +
                                dtype_name(t));
  }
}

double Tensor::item_double() const {
  if (numel() != 1) {
    throw std::invalid_argument("item(): tensor of shape " + shape_str(shape()) + " has " +
                                std::to_string(numel()) + " elements, not one");
  }
  alignas(8) unsigned char buf[8];
  size_t es = element_size();
  if (is_cpu()) {
    std::memcpy(buf, raw_data(), es);
  } else {
    backend_for(device().type).copy(buf, Device::cpu(), raw_data(), device(), es);
  }
  return dispatch_all(dtype(), "item", [&](auto tag) {
    using T = typename decltype(tag)::type;
    T v;
    std::memcpy(&v, buf, sizeof(T));
    return convert<double>(v);
  });
}

template <class T> T Tensor::item() const { return convert<T>(item_double()); }
template bool Tensor::item<bool>() const;
template uint8_t Tensor::item<uint8_t>() const;
template int32_t Tensor::item<int32_t>() const;
template int64_t Tensor::item<int64_t>() const;
template float Tensor::item<float>() const;
template double Tensor::item<double>() const;

bool Tensor::requires_grad() const {
  auto& im = impl();
  return im.requires_grad || im.grad_fn != nullptr;
}

Tensor& Tensor::set_requires_grad(bool r) {
  auto& im = impl();
  if (im.grad_fn) {
    throw std::logic_error("set_requires_grad: only leaf tensors can be marked; use detach() on a computed tensor");
  }
  if (r && !is_floating(im.dtype)) {
    throw std::invalid_argument(std::string("set_requires_grad: only floating-point tensors can require "
                                            "gradients, this one is ") + dtype_name(im.dtype));
  }
  im.requires_grad = r;
  return *this;
}

void Tensor::set_data(const Tensor& src) const {
  TensorImpl& im = impl();
  const TensorImpl& s = src.impl();
  if (im.grad_fn) throw std::logic_error("set_data: only leaf tensors can have their data replaced");
  if (im.requires_grad && !is_floating(s.dtype)) {
    throw std::invalid_argument(std::string("set_data: a tensor that requires grad cannot take ") + dtype_name(s.dtype) +
                                " data");
  }
  im.storage = s.storage;
  im.shape = s.shape;
  im.strides = s.strides;
  im.offset = s.offset;
  im.dtype = s.dtype;
  im.grad.reset();
}

Tensor Tensor::detach() const { return view_of(*this, shape(), strides(), offset()); }

std::ostream& operator<<(std::ostream& os, const Tensor& t) { return os << t.to_string(); }

}  // namespace rvos
