// Elementwise ops: the formulas (cuda/elementwise_functors.h) run by the CPU reference loops
// (cpu_loops.h) or, for CUDA tensors, by the kernels of cuda/elementwise.h; and their gradients.
#include "ops/elementwise.h"

#include <cmath>

#include "cuda/elementwise_functors.h"
#include "ops/copy.h"
#include "ops/cpu_loops.h"
#include "ops/factory.h"
#include "ops/internal.h"
#include "ops/reduce.h"
#include "ops/shape.h"
#include "rvos/version.h"
#if RVOS_HAVE_CUDA
#include "cuda/elementwise.h"
#endif


namespace rvos {

namespace detail {
Tensor reduce_grad(const Tensor& g, const Tensor& input) {
  Tensor r = sum_to(g, input.shape());
  return r.dtype() == input.dtype() ? r : to(r, input.dtype());
}
}  // namespace detail

using detail::reduce_grad;
using detail::with_grad;
namespace ew = elementwise;

namespace {

Tensor scalar_like(Scalar s, DType dtype, Device device) { return scalar_tensor(s, dtype, device); }

// Calls f(type_tag<T>{}) for the dtypes op accepts; others are refused with the op's name.
template <class Op, class F>
void dispatch_op(DType t, const char* name, F&& f) {
  if (!ew::type_set_has(Op::kTypes, t)) throw_unsupported_dtype(name, t);
  dispatch_all(t, name, [&](auto tag) {
    if constexpr (ew::type_set_has(Op::kTypes, dtype_v<typename decltype(tag)::type>)) f(tag);
  });
}

// y = op(x) over floating dtypes; integer inputs are first cast to float32 (as
// torch.exp(int_tensor) gives float32).
template <class Op>
Tensor unary_float(const char* name, const Tensor& x, const Op& op) {
  check_defined(x, name, "input");
  const DType dt = is_floating(x.dtype()) ? x.dtype() : DType::F32;
  Tensor xin = x.dtype() == dt ? x.detach() : to(x.detach(), dt);
  Tensor out = Tensor::empty(x.shape(), dt, x.device());
  if (out.is_cuda()) {
    RVOS_ON_CUDA(cuda::unary(out, xin, op));
    return out;
  }
  dispatch_floating(dt, name, [&](auto tag) {
    using T = typename decltype(tag)::type;
    cpu::map1<T, T>(out, xin, [&](compute_t<T> v) { return static_cast<compute_t<T>>(op(v)); });
  });
  return out;
}

// y = op(x) keeping the dtype (numeric dtypes).
template <class Op>
Tensor unary_same(const char* name, const Tensor& x, const Op& op) {
  check_defined(x, name, "input");
  Tensor out = Tensor::empty(x.shape(), x.dtype(), x.device());
  if (out.is_cuda()) {
    if (x.dtype() == DType::Bool) throw_unsupported_dtype(name, x.dtype());
    RVOS_ON_CUDA(cuda::unary(out, x.detach(), op));
    return out;
  }
  dispatch_numeric(x.dtype(), name, [&](auto tag) {
    using T = typename decltype(tag)::type;
    cpu::map1<T, T>(out, x.detach(), [&](compute_t<T> v) { return static_cast<compute_t<T>>(op(v)); });
  });
  return out;
}

// out = op(a, b) with a, b broadcast; both cast to `compute`, result in `compute` (or bool for
// comparisons).
template <class Op>
Tensor binary_kernel(const char* name, const Tensor& a, const Tensor& b, DType compute, const Op& op) {
  check_defined(a, name, "input");
  check_defined(b, name, "other");
  check_same_device(name, {&a, &b});
  if (!ew::type_set_has(Op::kTypes, compute)) throw_unsupported_dtype(name, compute);
  Shape shape = broadcast_shapes(a.shape(), b.shape(), name);
  Tensor ac = a.dtype() == compute ? a.detach() : to(a.detach(), compute);
  Tensor bc = b.dtype() == compute ? b.detach() : to(b.detach(), compute);
  Tensor out = Tensor::empty(shape, Op::kBoolResult ? DType::Bool : compute, a.device());
  Tensor av = detail::broadcast_view(ac, shape), bv = detail::broadcast_view(bc, shape);
  if (out.is_cuda()) {
    RVOS_ON_CUDA(cuda::binary(out, av, bv, op));
    return out;
  }
  dispatch_op<Op>(compute, name, [&](auto tag) {
    using T = typename decltype(tag)::type;
    using C = compute_t<T>;
    if constexpr (Op::kBoolResult) {
      cpu::map2<bool, T, T>(out, av, bv, [&](C x, C y) { return op(x, y); });
    } else {
      cpu::map2<T, T, T>(out, av, bv, [&](C x, C y) { return static_cast<C>(op(x, y)); });
    }
  });
  return out;
}

DType arith_type(const Tensor& a, const Tensor& b, const char* name) {
  DType t = promote_types(a.dtype(), b.dtype());
  if (t == DType::Bool) throw_unsupported_dtype(name, t);
  return t;
}

// Gradient helpers: out = op(a, b) or op(a, b, c) in a's dtype, the others cast to it.
template <class Op>
Tensor grad_kernel2(const char* name, const Tensor& a, const Tensor& b, const Op& op) {
  return binary_kernel(name, a, b, a.dtype(), op);
}
template <class Op>
Tensor grad_kernel3(const char* name, const Tensor& a, const Tensor& b, const Tensor& c, const Op& op) {
  check_same_device(name, {&a, &b, &c});
  Shape shape = broadcast_shapes(broadcast_shapes(a.shape(), b.shape(), name), c.shape(), name);
  const DType dt = a.dtype();
  Tensor bc = b.dtype() == dt ? b : to(b, dt), cc = c.dtype() == dt ? c : to(c, dt);
  Tensor out = Tensor::empty(shape, dt, a.device());
  Tensor av = detail::broadcast_view(a, shape), bv = detail::broadcast_view(bc, shape),
         cv = detail::broadcast_view(cc, shape);
  if (out.is_cuda()) {
    if (!is_floating(dt)) throw_unsupported_dtype(name, dt);
    RVOS_ON_CUDA(cuda::ternary(out, av, bv, cv, op));
    return out;
  }
  dispatch_floating(dt, name, [&](auto tag) {
    using T = typename decltype(tag)::type;
    using C = compute_t<T>;
    cpu::map3<T, T, T, T>(out, av, bv, cv, [&](C x, C y, C z) { return static_cast<C>(op(x, y, z)); });
  });
  return out;
}

Tensor zero_grad_like(const Tensor& x) { return zeros(x.shape(), x.dtype(), x.device()); }

}  // namespace

// ---------------------------------------------------------------- unary

Tensor neg(const Tensor& x) {
  Tensor y = unary_same("neg", x, ew::Neg{});
  return with_grad("neg", {x}, y, [](const TensorList& g) { return TensorList{neg(g[0])}; });
}

Tensor abs(const Tensor& x) {
  Tensor y = unary_same("abs", x, ew::Abs{});
  return with_grad("abs", {x}, y, [xd = x.detach()](const TensorList& g) { return TensorList{mul(g[0], sign(xd))}; });
}

Tensor sign(const Tensor& x) {
  Tensor y = unary_same("sign", x, ew::Sign{});
  return with_grad("sign", {x}, y, [xd = x.detach()](const TensorList&) { return TensorList{zero_grad_like(xd)}; });
}

Tensor square(const Tensor& x) {
  Tensor y = unary_same("square", x, ew::Square{});
  return with_grad("square", {x}, y, [xd = x.detach()](const TensorList& g) {
    return TensorList{grad_kernel2("square_backward", g[0], xd, ew::SquareBackward{})};
  });
}

Tensor exp(const Tensor& x) {
  Tensor y = unary_float("exp", x, ew::Exp{});
  return with_grad("exp", {x}, y, [yd = y.detach()](const TensorList& g) { return TensorList{mul(g[0], yd)}; });
}

Tensor log(const Tensor& x) {
  Tensor y = unary_float("log", x, ew::Log{});
  return with_grad("log", {x}, y, [xd = x.detach()](const TensorList& g) { return TensorList{div(g[0], xd)}; });
}

Tensor sqrt(const Tensor& x) {
  Tensor y = unary_float("sqrt", x, ew::Sqrt{});
  return with_grad("sqrt", {x}, y, [yd = y.detach()](const TensorList& g) {
    return TensorList{grad_kernel2("sqrt_backward", g[0], yd, ew::SqrtBackward{})};
  });
}

Tensor rsqrt(const Tensor& x) {
  Tensor y = unary_float("rsqrt", x, ew::Rsqrt{});
  return with_grad("rsqrt", {x}, y, [yd = y.detach()](const TensorList& g) {
    return TensorList{grad_kernel2("rsqrt_backward", g[0], yd, ew::RsqrtBackward{})};
  });
}

Tensor reciprocal(const Tensor& x) {
  Tensor y = unary_float("reciprocal", x, ew::Reciprocal{});
  return with_grad("reciprocal", {x}, y, [yd = y.detach()](const TensorList& g) {
    return TensorList{grad_kernel2("reciprocal_backward", g[0], yd, ew::ReciprocalBackward{})};
  });
}

Tensor sin(const Tensor& x) {
  Tensor y = unary_float("sin", x, ew::Sin{});
  return with_grad("sin", {x}, y, [xd = x.detach()](const TensorList& g) { return TensorList{mul(g[0], cos(xd))}; });
}

Tensor cos(const Tensor& x) {
  Tensor y = unary_float("cos", x, ew::Cos{});
  return with_grad("cos", {x}, y, [xd = x.detach()](const TensorList& g) { return TensorList{neg(mul(g[0], sin(xd)))}; });
}

Tensor tanh(const Tensor& x) {
  Tensor y = unary_float("tanh", x, ew::Tanh{});
  return with_grad("tanh", {x}, y, [yd = y.detach()](const TensorList& g) {
    return TensorList{grad_kernel2("tanh_backward", g[0], yd, ew::TanhBackward{})};
  });
}

Tensor erf(const Tensor& x) {
  Tensor y = unary_float("erf", x, ew::Erf{});
  return with_grad("erf", {x}, y, [xd = x.detach()](const TensorList& g) {
    return TensorList{grad_kernel2("erf_backward", g[0], xd, ew::ErfBackward{})};
  });
}

Tensor sigmoid(const Tensor& x) {
  Tensor y = unary_float("sigmoid", x, ew::Sigmoid{});
  return with_grad("sigmoid", {x}, y, [yd = y.detach()](const TensorList& g) {
    return TensorList{grad_kernel2("sigmoid_backward", g[0], yd, ew::SigmoidBackward{})};
  });
}

Tensor relu(const Tensor& x) {
  Tensor y = unary_same("relu", x, ew::Relu{});
  return with_grad("relu", {x}, y, [yd = y.detach()](const TensorList& g) {
    return TensorList{grad_kernel2("relu_backward", g[0], yd, ew::ReluBackward{})};
  });
}

Tensor gelu(const Tensor& x, const std::string& approximate) {
  if (approximate == "none") {
    Tensor y = unary_float("gelu", x, ew::Gelu{});
    return with_grad("gelu", {x}, y, [xd = x.detach()](const TensorList& g) {
      return TensorList{grad_kernel2("gelu_backward", g[0], xd, ew::GeluBackward{})};
    });
  }
  if (approximate == "tanh") {
    Tensor y = unary_float("gelu", x, ew::GeluTanh{});
    return with_grad("gelu_tanh", {x}, y, [xd = x.detach()](const TensorList& g) {
      return TensorList{grad_kernel2("gelu_tanh_backward", g[0], xd, ew::GeluTanhBackward{})};
    });
  }
  throw std::invalid_argument("gelu: approximate must be 'none' or 'tanh', got '" + approximate + "'");
}

Tensor silu(const Tensor& x) {
  Tensor y = unary_float("silu", x, ew::Silu{});
  return with_grad("silu", {x}, y, [xd = x.detach()](const TensorList& g) {
    return TensorList{grad_kernel2("silu_backward", g[0], xd, ew::SiluBackward{})};
  });
}

Tensor floor(const Tensor& x) {
  Tensor y = unary_same("floor", x, ew::Floor{});
  return with_grad("floor", {x}, y, [xd = x.detach()](const TensorList&) { return TensorList{zero_grad_like(xd)}; });
}

Tensor ceil(const Tensor& x) {
  Tensor y = unary_same("ceil", x, ew::Ceil{});
  return with_grad("ceil", {x}, y, [xd = x.detach()](const TensorList&) { return TensorList{zero_grad_like(xd)}; });
}

Tensor round(const Tensor& x) {
  Tensor y = unary_same("round", x, ew::Round{});
  return with_grad("round", {x}, y, [xd = x.detach()](const TensorList&) { return TensorList{zero_grad_like(xd)}; });
}

namespace {
// A bool per element of x, any dtype.
template <class Op>
Tensor predicate(const char* name, const Tensor& x, const Op& op) {
  check_defined(x, name, "input");
  Tensor out = Tensor::empty(x.shape(), DType::Bool, x.device());
  if (out.is_cuda()) {
    RVOS_ON_CUDA(cuda::unary(out, x.detach(), op));
    return out;
  }
  dispatch_all(x.dtype(), name, [&](auto tag) {
    using T = typename decltype(tag)::type;
    cpu::map1<bool, T>(out, x, [&](compute_t<T> v) { return op(v); });
  });
  return out;
}
}  // namespace

Tensor logical_not(const Tensor& x) { return predicate("logical_not", x, ew::LogicalNot{}); }
Tensor isnan(const Tensor& x) { return predicate("isnan", x, ew::IsNan{}); }
Tensor isfinite(const Tensor& x) { return predicate("isfinite", x, ew::IsFinite{}); }

// ---------------------------------------------------------------- binary

Tensor add(const Tensor& a, const Tensor& b) {
  Tensor y = binary_kernel("add", a, b, arith_type(a, b, "add"), ew::Add{});
  return with_grad("add", {a, b}, y, [ad = a.detach(), bd = b.detach()](const TensorList& g) {
    return TensorList{reduce_grad(g[0], ad), reduce_grad(g[0], bd)};
  });
}

Tensor add(const Tensor& a, const Tensor& b, Scalar alpha) {
  if (!alpha.is_integral && alpha.d == 1.0) return add(a, b);
  if (alpha.is_integral && alpha.i == 1) return add(a, b);
  const DType dt = arith_type(a, b, "add");
  ew::AddScaled op;
  op.alpha = alpha.is_integral ? static_cast<double>(alpha.i) : alpha.d;
  Tensor y = binary_kernel("add", a, b, dt, op);
  return with_grad("add", {a, b}, y, [ad = a.detach(), bd = b.detach(), alpha](const TensorList& g) {
    return TensorList{reduce_grad(g[0], ad), reduce_grad(mul(g[0], alpha), bd)};
  });
}

Tensor sub(const Tensor& a, const Tensor& b) {
  Tensor y = binary_kernel("sub", a, b, arith_type(a, b, "sub"), ew::Sub{});
  return with_grad("sub", {a, b}, y, [ad = a.detach(), bd = b.detach()](const TensorList& g) {
    return TensorList{reduce_grad(g[0], ad), reduce_grad(neg(g[0]), bd)};
  });
}

Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor y = binary_kernel("mul", a, b, arith_type(a, b, "mul"), ew::Mul{});
  const bool ga = a.requires_grad(), gb = b.requires_grad();
  return with_grad("mul", {a, b}, y, [ad = a.detach(), bd = b.detach(), ga, gb](const TensorList& g) {
    return TensorList{ga ? reduce_grad(mul(g[0], bd), ad) : Tensor(), gb ? reduce_grad(mul(g[0], ad), bd) : Tensor()};
  });
}

Tensor div(const Tensor& a, const Tensor& b) {
  DType dt = arith_type(a, b, "div");
  if (!is_floating(dt)) dt = DType::F32;
  Tensor y = binary_kernel("div", a, b, dt, ew::Div{});
  const bool gb = b.requires_grad();
  return with_grad("div", {a, b}, y, [ad = a.detach(), bd = b.detach(), yd = y.detach(), gb](const TensorList& g) {
    Tensor ga = reduce_grad(div(g[0], bd), ad);
    Tensor gbt = gb ? reduce_grad(neg(div(mul(g[0], yd), bd)), bd) : Tensor();
    return TensorList{ga, gbt};
  });
}

Tensor pow(const Tensor& a, const Tensor& b) {
  Tensor y = binary_kernel("pow", a, b, arith_type(a, b, "pow"), ew::Pow{});
  const bool gb = b.requires_grad();
  return with_grad("pow", {a, b}, y, [ad = a.detach(), bd = b.detach(), yd = y.detach(), gb](const TensorList& g) {
    // d/da = b * a^(b-1); d/db = a^b * log(a), taken as 0 where a == 0 and b >= 0.
    Tensor ga = reduce_grad(grad_kernel3("pow_backward_self", g[0], ad, bd, ew::PowBackwardSelf{}), ad);
    Tensor gbt;
    if (gb) gbt = reduce_grad(grad_kernel3("pow_backward_exponent", g[0], ad, yd, ew::PowBackwardExponent{}), bd);
    return TensorList{ga, gbt};
  });
}

Tensor maximum(const Tensor& a, const Tensor& b) {
  Tensor y = binary_kernel("maximum", a, b, arith_type(a, b, "maximum"), ew::Maximum{});
  return with_grad("maximum", {a, b}, y, [ad = a.detach(), bd = b.detach()](const TensorList& g) {
    // Ties share the gradient equally (as PyTorch).
    Tensor wa = grad_kernel2("maximum_backward", ad, bd, ew::MaximumBackward{});
    return TensorList{reduce_grad(mul(g[0], wa), ad), reduce_grad(mul(g[0], sub(1.0, wa)), bd)};
  });
}

Tensor minimum(const Tensor& a, const Tensor& b) {
  Tensor y = binary_kernel("minimum", a, b, arith_type(a, b, "minimum"), ew::Minimum{});
  return with_grad("minimum", {a, b}, y, [ad = a.detach(), bd = b.detach()](const TensorList& g) {
    Tensor wa = grad_kernel2("minimum_backward", ad, bd, ew::MinimumBackward{});
    return TensorList{reduce_grad(mul(g[0], wa), ad), reduce_grad(mul(g[0], sub(1.0, wa)), bd)};
  });
}

Tensor atan2(const Tensor& a, const Tensor& b) {
  DType dt = arith_type(a, b, "atan2");
  if (!is_floating(dt)) dt = DType::F32;
  Tensor y = binary_kernel("atan2", a, b, dt, ew::Atan2{});
  return with_grad("atan2", {a, b}, y, [ad = a.detach(), bd = b.detach()](const TensorList& g) {
    Tensor denom = add(mul(ad, ad), mul(bd, bd));
    return TensorList{reduce_grad(div(mul(g[0], bd), denom), ad), reduce_grad(neg(div(mul(g[0], ad), denom)), bd)};
  });
}

// Scalar forms: the scalar becomes a 0-d tensor of the result dtype.
Tensor add(const Tensor& a, Scalar b) { return add(a, scalar_like(b, result_type(a, b), a.device())); }
Tensor sub(const Tensor& a, Scalar b) { return sub(a, scalar_like(b, result_type(a, b), a.device())); }
Tensor sub(Scalar a, const Tensor& b) { return sub(scalar_like(a, result_type(b, a), b.device()), b); }
Tensor mul(const Tensor& a, Scalar b) { return mul(a, scalar_like(b, result_type(a, b), a.device())); }
Tensor div(const Tensor& a, Scalar b) { return div(a, scalar_like(b, result_type(a, b), a.device())); }
Tensor div(Scalar a, const Tensor& b) { return div(scalar_like(a, result_type(b, a), b.device()), b); }
Tensor maximum(const Tensor& a, Scalar b) { return maximum(a, scalar_like(b, result_type(a, b), a.device())); }
Tensor minimum(const Tensor& a, Scalar b) { return minimum(a, scalar_like(b, result_type(a, b), a.device())); }
Tensor pow(Scalar base, const Tensor& exponent) {
  return pow(scalar_like(base, result_type(exponent, base), exponent.device()), exponent);
}

Tensor pow(const Tensor& a, Scalar exponent) {
  check_defined(a, "pow", "input");
  const DType dt = result_type(a, exponent);
  if (!is_floating(dt)) return pow(a, scalar_like(exponent, dt, a.device()));
  const double e = exponent.is_integral ? static_cast<double>(exponent.i) : exponent.d;
  Tensor ac = a.dtype() == dt ? a.detach() : to(a.detach(), dt);
  ew::PowScalar op;
  op.e = e;
  Tensor y = unary_float("pow", ac, op);
  return with_grad("pow", {a}, y, [ad = a.detach(), e](const TensorList& g) {
    if (e == 0.0) return TensorList{zero_grad_like(ad)};
    ew::PowScalarBackward backward;
    backward.e = e;
    return TensorList{grad_kernel2("pow_backward", g[0], ad, backward)};
  });
}

// ---------------------------------------------------------------- comparisons

#define RVOS_COMPARISON(NAME, OP)                                                                          \
  Tensor NAME(const Tensor& a, const Tensor& b) {                                                          \
    return binary_kernel(#NAME, a, b, promote_types(a.dtype(), b.dtype()), ew::OP{});                      \
  }                                                                                                        \
  Tensor NAME(const Tensor& a, Scalar b) { return NAME(a, scalar_like(b, result_type(a, b), a.device())); }
RVOS_COMPARISON(eq, Eq)
RVOS_COMPARISON(ne, Ne)
RVOS_COMPARISON(lt, Lt)
RVOS_COMPARISON(le, Le)
RVOS_COMPARISON(gt, Gt)
RVOS_COMPARISON(ge, Ge)
#undef RVOS_COMPARISON

Tensor logical_and(const Tensor& a, const Tensor& b) {
  return binary_kernel("logical_and", a, b, promote_types(a.dtype(), b.dtype()), ew::LogicalAnd{});
}
Tensor logical_or(const Tensor& a, const Tensor& b) {
  return binary_kernel("logical_or", a, b, promote_types(a.dtype(), b.dtype()), ew::LogicalOr{});
}
Tensor logical_xor(const Tensor& a, const Tensor& b) {
  return binary_kernel("logical_xor", a, b, promote_types(a.dtype(), b.dtype()), ew::LogicalXor{});
}

// ---------------------------------------------------------------- selection

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  check_defined(cond, "where", "condition");
  check_defined(a, "where", "input");
  check_defined(b, "where", "other");
  check_same_device("where", {&cond, &a, &b});
  const DType dt = promote_types(a.dtype(), b.dtype());
  Shape shape = broadcast_shapes(broadcast_shapes(cond.shape(), a.shape(), "where"), b.shape(), "where");
  Tensor c = cond.dtype() == DType::Bool ? cond.detach() : ne(cond.detach(), 0);
  Tensor ac = a.dtype() == dt ? a.detach() : to(a.detach(), dt);
  Tensor bc = b.dtype() == dt ? b.detach() : to(b.detach(), dt);
  Tensor out = Tensor::empty(shape, dt, a.device());
  Tensor cv = detail::broadcast_view(c, shape), av = detail::broadcast_view(ac, shape),
         bv = detail::broadcast_view(bc, shape);
  if (out.is_cuda()) {
    RVOS_ON_CUDA(cuda::ternary(out, cv, av, bv, ew::Where{}));
  } else {
    dispatch_all(dt, "where", [&](auto tag) {
      using T = typename decltype(tag)::type;
      using C = compute_t<T>;
      cpu::map3<T, bool, T, T>(out, cv, av, bv, [](bool m, C x, C z) { return ew::Where{}(m, x, z); });
    });
  }
  return with_grad("where", {a, b}, out, [c, ad = a.detach(), bd = b.detach()](const TensorList& g) {
    Tensor z = zeros({}, g[0].dtype(), g[0].device());
    return TensorList{reduce_grad(where(c, g[0], z), ad), reduce_grad(where(c, z, g[0]), bd)};
  });
}

Tensor where(const Tensor& cond, const Tensor& a, Scalar b) {
  return where(cond, a, scalar_like(b, result_type(a, b), a.device()));
}
Tensor where(const Tensor& cond, Scalar a, const Tensor& b) {
  return where(cond, scalar_like(a, result_type(b, a), b.device()), b);
}

Tensor clamp(const Tensor& x, std::optional<Scalar> lo, std::optional<Scalar> hi) {
  check_defined(x, "clamp", "input");
  if (!lo && !hi) throw std::invalid_argument("clamp: at least one of min and max must be given");
  const double l = lo ? (lo->is_integral ? static_cast<double>(lo->i) : lo->d) : -INFINITY;
  const double h = hi ? (hi->is_integral ? static_cast<double>(hi->i) : hi->d) : INFINITY;
  // The bounds rounded to x's dtype first (as PyTorch casts them).
  ew::Clamp op;
  op.has_lo = lo.has_value();
  op.has_hi = hi.has_value();
  dispatch_numeric(x.dtype(), "clamp", [&](auto tag) {
    using T = typename decltype(tag)::type;
    using C = compute_t<T>;
    auto rounded = [](const Scalar& s) {
      const C v = static_cast<C>(s.to<T>());
      ew::ScalarValue r;
      if constexpr (std::is_integral_v<C>) r.i = static_cast<int64_t>(v);
      else r.f = static_cast<double>(v);
      return r;
    };
    if (lo) op.lo = rounded(*lo);
    if (hi) op.hi = rounded(*hi);
  });
  Tensor y = unary_same("clamp", x, op);
  return with_grad("clamp", {x}, y, [xd = x.detach(), l, h](const TensorList& g) {
    ew::ClampBackward backward;
    backward.lo = l;
    backward.hi = h;
    return TensorList{grad_kernel2("clamp_backward", g[0], xd, backward)};
  });
}

Tensor masked_fill(const Tensor& x, const Tensor& mask, Scalar value) {
  check_defined(mask, "masked_fill", "mask");
  if (mask.dtype() != DType::Bool) {
    throw std::invalid_argument(std::string("masked_fill: mask must be bool, got ") + dtype_name(mask.dtype()));
  }
  Shape shape = broadcast_shapes(x.shape(), mask.shape(), "masked_fill");
  if (shape != x.shape()) {
    throw_shape_error("masked_fill", "mask of shape " + shape_str(mask.shape()) + " does not broadcast to the input's " +
                                         shape_str(x.shape()));
  }
  Tensor v = scalar_like(value, x.dtype(), x.device());
  Tensor y = where(mask.detach(), v, x.detach());
  Tensor md = mask.detach();
  return with_grad("masked_fill", {x}, y, [md](const TensorList& g) {
    return TensorList{where(md, zeros({}, g[0].dtype(), g[0].device()), g[0])};
  });
}

Tensor lerp(const Tensor& a, const Tensor& b, Scalar weight) {
  const DType dt = arith_type(a, b, "lerp");
  if (!is_floating(dt)) throw_unsupported_dtype("lerp", dt);
  const double w = weight.is_integral ? static_cast<double>(weight.i) : weight.d;
  ew::Lerp op;
  op.weight = w;
  Tensor y = binary_kernel("lerp", a, b, dt, op);
  return with_grad("lerp", {a, b}, y, [ad = a.detach(), bd = b.detach(), w](const TensorList& g) {
    return TensorList{reduce_grad(mul(g[0], 1.0 - w), ad), reduce_grad(mul(g[0], w), bd)};
  });
}

// The mask is drawn on the CPU (so a seed gives the same mask on every device), then applied
// where x lives.
Tensor dropout(const Tensor& x, double p, bool training, Generator* gen) {
  check_defined(x, "dropout", "input");
  if (!(p >= 0.0 && p <= 1.0)) throw std::invalid_argument("dropout: p must be in [0, 1], got " + std::to_string(p));
  if (!training || p == 0.0) return x;
  if (p == 1.0) return mul(x, 0.0);
  Tensor mask = bernoulli(x.shape(), 1.0 - p, x.dtype(), x.device(), gen);
  return mul(x, mul(mask, 1.0 / (1.0 - p)));
}

}  // namespace rvos
