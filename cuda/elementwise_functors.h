#pragma once
// The formulas of the elementwise ops, one functor each, shared by the CPU reference loops
// (ops/elementwise.cpp) and the CUDA kernels (cuda/elementwise_*.cu), so that both devices compute
// the same expression in the same compute type: float for float16/bfloat16, double for float64,
// the integer type itself for integers (integer pow, wrap-around, comparisons after promotion).
//
// Plain C++ (no CUDA headers): under nvcc the call operators are host and device functions and
// the math calls go to the CUDA math library (float overloads for float), elsewhere to <cmath>.
//
// Every functor says which dtypes it takes (kTypes: the ops layer casts its inputs first) and
// whether it gives a bool (kBoolResult), and is called with compute-type values.
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "tensor/dtype.h"

#if defined(__CUDACC__)
#define RVOS_HOST_DEVICE __host__ __device__
#else
#define RVOS_HOST_DEVICE
#endif

namespace rvos::elementwise {

inline constexpr double kSqrt1_2 = 0.70710678118654752440;
inline constexpr double kTwoOverSqrtPi = 1.12837916709551257390;
inline constexpr double kGeluTanhBeta = 0.79788456080286535588;  // sqrt(2/pi)
inline constexpr double kGeluTanhKappa = 0.044715;

// ------------------------------------------------------------------ math

namespace math {

// f(v) through <cmath> on the host; on the device the float or double function of CUDA's library.
#if defined(__CUDA_ARCH__)
#define RVOS_ELEMENTWISE_MATH1(name)                                          \
  template <class C>                                                          \
  RVOS_HOST_DEVICE inline C name(C v) {                                       \
    if constexpr (std::is_same_v<C, float>) return ::name##f(v);              \
    else return ::name(v);                                                    \
  }
#define RVOS_ELEMENTWISE_MATH2(name)                                          \
  template <class C>                                                          \
  RVOS_HOST_DEVICE inline C name(C a, C b) {                                  \
    if constexpr (std::is_same_v<C, float>) return ::name##f(a, b);           \
    else return ::name(a, b);                                                 \
  }
#else
#define RVOS_ELEMENTWISE_MATH1(name)                                          \
  template <class C>                                                          \
  inline C name(C v) {                                                        \
    return std::name(v);                                                      \
  }
#define RVOS_ELEMENTWISE_MATH2(name)                                          \
  template <class C>                                                          \
  inline C name(C a, C b) {                                                   \
    return std::name(a, b);                                                   \
  }
#endif
RVOS_ELEMENTWISE_MATH1(exp)
RVOS_ELEMENTWISE_MATH1(log)
RVOS_ELEMENTWISE_MATH1(sqrt)
RVOS_ELEMENTWISE_MATH1(sin)
RVOS_ELEMENTWISE_MATH1(cos)
RVOS_ELEMENTWISE_MATH1(tanh)
RVOS_ELEMENTWISE_MATH1(erf)
RVOS_ELEMENTWISE_MATH1(floor)
RVOS_ELEMENTWISE_MATH1(ceil)
RVOS_ELEMENTWISE_MATH1(nearbyint)  // half to even in the default rounding mode
RVOS_ELEMENTWISE_MATH1(fabs)
RVOS_ELEMENTWISE_MATH2(pow)
RVOS_ELEMENTWISE_MATH2(atan2)
#undef RVOS_ELEMENTWISE_MATH1
#undef RVOS_ELEMENTWISE_MATH2

template <class C>
RVOS_HOST_DEVICE inline bool isnan(C v) {
#if defined(__CUDA_ARCH__)
  return ::isnan(v);
#else
  return std::isnan(v);
#endif
}

template <class C>
RVOS_HOST_DEVICE inline bool isfinite(C v) {
#if defined(__CUDA_ARCH__)
  return ::isfinite(v);
#else
  return std::isfinite(v);
#endif
}

}  // namespace math

// ----------------------------------------------------------- op metadata

// The dtypes an op accepts.
enum class TypeSet { All, Numeric, Floating };

constexpr bool type_set_has(TypeSet s, DType t) {
  switch (s) {
    case TypeSet::All: return true;
    case TypeSet::Numeric: return t != DType::Bool;
    case TypeSet::Floating: return t == DType::F16 || t == DType::BF16 || t == DType::F32 || t == DType::F64;
  }
  return false;
}

struct AllTypesToBool {
  static constexpr TypeSet kTypes = TypeSet::All;
  static constexpr bool kBoolResult = true;
};
struct NumericOp {
  static constexpr TypeSet kTypes = TypeSet::Numeric;
  static constexpr bool kBoolResult = false;
};
struct FloatingOp {
  static constexpr TypeSet kTypes = TypeSet::Floating;
  static constexpr bool kBoolResult = false;
};

// A scalar operand already rounded to the tensor's dtype: `f` for floating compute types, `i` for
// integers (exact for all of int64).
struct ScalarValue {
  double f = 0;
  int64_t i = 0;
  template <class C>
  RVOS_HOST_DEVICE C as() const {
    if constexpr (std::is_integral_v<C>) return static_cast<C>(i);
    else return static_cast<C>(f);
  }
};

// ------------------------------------------------------------ unary, same dtype

struct Neg : NumericOp {
  static constexpr const char* kName = "neg";
  template <class C> RVOS_HOST_DEVICE auto operator()(C v) const { return -v; }
};

struct Abs : NumericOp {
  static constexpr const char* kName = "abs";
  template <class C> RVOS_HOST_DEVICE auto operator()(C v) const {
    if constexpr (std::is_unsigned_v<C>) return v;
    else return v < 0 ? -v : v;
  }
};

struct Sign : NumericOp {
  static constexpr const char* kName = "sign";
  template <class C> RVOS_HOST_DEVICE C operator()(C v) const {
    if constexpr (std::is_unsigned_v<C>) return static_cast<C>(v > 0);
    else return static_cast<C>((v > 0) - (v < 0));
  }
};

struct Square : NumericOp {
  static constexpr const char* kName = "square";
  template <class C> RVOS_HOST_DEVICE auto operator()(C v) const { return v * v; }
};

struct Relu : NumericOp {
  static constexpr const char* kName = "relu";
  template <class C> RVOS_HOST_DEVICE C operator()(C v) const { return v > 0 ? v : C(0); }
};

struct Floor : NumericOp {
  static constexpr const char* kName = "floor";
  template <class C> RVOS_HOST_DEVICE C operator()(C v) const {
    if constexpr (std::is_floating_point_v<C>) return math::floor(v);
    else return v;
  }
};

struct Ceil : NumericOp {
  static constexpr const char* kName = "ceil";
  template <class C> RVOS_HOST_DEVICE C operator()(C v) const {
    if constexpr (std::is_floating_point_v<C>) return math::ceil(v);
    else return v;
  }
};

struct Round : NumericOp {
  static constexpr const char* kName = "round";
  template <class C> RVOS_HOST_DEVICE C operator()(C v) const {
    if constexpr (std::is_floating_point_v<C>) return math::nearbyint(v);
    else return v;
  }
};

// NaN stays NaN; bounds already rounded to the dtype.
struct Clamp : NumericOp {
  static constexpr const char* kName = "clamp";
  ScalarValue lo, hi;
  bool has_lo = false, has_hi = false;
  template <class C> RVOS_HOST_DEVICE C operator()(C v) const {
    if constexpr (std::is_floating_point_v<C>) {
      if (math::isnan(v)) return v;
    }
    if (has_lo && v < lo.as<C>()) v = lo.as<C>();
    if (has_hi && v > hi.as<C>()) v = hi.as<C>();
    return v;
  }
};

// ------------------------------------------------------------ unary, floating

struct Exp : FloatingOp {
  static constexpr const char* kName = "exp";
  template <class C> RVOS_HOST_DEVICE C operator()(C v) const { return math::exp(v); }
};
struct Log : FloatingOp {
  static constexpr const char* kName = "log";
  template <class C> RVOS_HOST_DEVICE C operator()(C v) const { return math::log(v); }
};
struct Sqrt : FloatingOp {
  static constexpr const char* kName = "sqrt";
  template <class C> RVOS_HOST_DEVICE C operator()(C v) const { return math::sqrt(v); }
};
struct Rsqrt : FloatingOp {
  static constexpr const char* kName = "rsqrt";
  template <class C> RVOS_HOST_DEVICE C operator()(C v) const { return 1 / math::sqrt(v); }
};
struct Reciprocal : FloatingOp {
  static constexpr const char* kName = "reciprocal";
  template <class C> RVOS_HOST_DEVICE C operator()(C v) const { return 1 / v; }
};
struct Sin : FloatingOp {
  static constexpr const char* kName = "sin";
  template <class C> RVOS_HOST_DEVICE C operator()(C v) const { return math::sin(v); }
};
struct Cos : FloatingOp {
  static constexpr const char* kName = "cos";
  template <class C> RVOS_HOST_DEVICE C operator()(C v) const { return math::cos(v); }
};
struct Tanh : FloatingOp {
  static constexpr const char* kName = "tanh";
  template <class C> RVOS_HOST_DEVICE C operator()(C v) const { return math::tanh(v); }
};
struct Erf : FloatingOp {
  static constexpr const char* kName = "erf";
  template <class C> RVOS_HOST_DEVICE C operator()(C v) const { return math::erf(v); }
};
struct Sigmoid : FloatingOp {
  static constexpr const char* kName = "sigmoid";
  template <class C> RVOS_HOST_DEVICE C operator()(C v) const { return 1 / (1 + math::exp(-v)); }
};
struct Silu : FloatingOp {
  static constexpr const char* kName = "silu";
  template <class C> RVOS_HOST_DEVICE C operator()(C v) const { return v / (1 + math::exp(-v)); }
};

// gelu with approximate="none": x * Phi(x).
struct Gelu : FloatingOp {
  static constexpr const char* kName = "gelu";
  template <class C> RVOS_HOST_DEVICE C operator()(C v) const {
    return v * C(0.5) * (C(1) + math::erf(v * static_cast<C>(kSqrt1_2)));
  }
};

// gelu with approximate="tanh".
struct GeluTanh : FloatingOp {
  static constexpr const char* kName = "gelu";
  template <class C> RVOS_HOST_DEVICE C operator()(C v) const {
    const C inner = static_cast<C>(kGeluTanhBeta) * (v + static_cast<C>(kGeluTanhKappa) * v * v * v);
    return C(0.5) * v * (C(1) + math::tanh(inner));
  }
};

// x^e for a floating scalar exponent; the special exponents PyTorch computes without pow, for
// identical rounding.
struct PowScalar : FloatingOp {
  static constexpr const char* kName = "pow";
  double e = 1;
  template <class C> RVOS_HOST_DEVICE C operator()(C v) const {
    if (e == 2.0) return v * v;
    if (e == 3.0) return v * v * v;
    if (e == 0.5) return math::sqrt(v);
    if (e == -0.5) return C(1) / math::sqrt(v);
    if (e == -1.0) return C(1) / v;
    if (e == -2.0) return C(1) / (v * v);
    return math::pow(v, static_cast<C>(e));
  }
};

// --------------------------------------------------------------- predicates

struct LogicalNot : AllTypesToBool {
  static constexpr const char* kName = "logical_not";
  template <class C> RVOS_HOST_DEVICE bool operator()(C v) const { return !v; }
};
struct IsNan : AllTypesToBool {
  static constexpr const char* kName = "isnan";
  template <class C> RVOS_HOST_DEVICE bool operator()(C v) const {
    if constexpr (std::is_floating_point_v<C>) return math::isnan(v);
    else return false;
  }
};
struct IsFinite : AllTypesToBool {
  static constexpr const char* kName = "isfinite";
  template <class C> RVOS_HOST_DEVICE bool operator()(C v) const {
    if constexpr (std::is_floating_point_v<C>) return math::isfinite(v);
    else return true;
  }
};

// ------------------------------------------------------------------ binary

struct Add : NumericOp {
  static constexpr const char* kName = "add";
  template <class C> RVOS_HOST_DEVICE auto operator()(C x, C z) const { return x + z; }
};
// x + alpha * z, alpha taken to the compute type through double (as the CPU always did).
struct AddScaled : NumericOp {
  static constexpr const char* kName = "add";
  double alpha = 1;
  template <class C> RVOS_HOST_DEVICE auto operator()(C x, C z) const { return x + static_cast<C>(alpha) * z; }
};
struct Sub : NumericOp {
  static constexpr const char* kName = "sub";
  template <class C> RVOS_HOST_DEVICE auto operator()(C x, C z) const { return x - z; }
};
struct Mul : NumericOp {
  static constexpr const char* kName = "mul";
  template <class C> RVOS_HOST_DEVICE auto operator()(C x, C z) const { return x * z; }
};
struct Div : FloatingOp {
  static constexpr const char* kName = "div";
  template <class C> RVOS_HOST_DEVICE C operator()(C x, C z) const { return x / z; }
};

// Integers by squaring (negative exponents give 0 except for bases 1 and -1, as PyTorch).
struct Pow : NumericOp {
  static constexpr const char* kName = "pow";
  template <class C> RVOS_HOST_DEVICE C operator()(C x, C z) const {
    if constexpr (std::is_integral_v<C>) {
      C r = 1, base = x;
      for (C e = z; e > 0; e >>= 1) {
        if (e & 1) r *= base;
        base *= base;
      }
      if constexpr (std::is_signed_v<C>) {
        if (z < 0) return C(x == 1 ? 1 : (x == -1 ? (z % 2 ? -1 : 1) : 0));
      }
      return r;
    } else {
      return math::pow(x, z);
    }
  }
};

// NaN wins.
struct Maximum : NumericOp {
  static constexpr const char* kName = "maximum";
  template <class C> RVOS_HOST_DEVICE C operator()(C x, C z) const {
    if constexpr (std::is_floating_point_v<C>) {
      if (math::isnan(x) || math::isnan(z)) return std::numeric_limits<C>::quiet_NaN();
    }
    return x > z ? x : z;
  }
};
struct Minimum : NumericOp {
  static constexpr const char* kName = "minimum";
  template <class C> RVOS_HOST_DEVICE C operator()(C x, C z) const {
    if constexpr (std::is_floating_point_v<C>) {
      if (math::isnan(x) || math::isnan(z)) return std::numeric_limits<C>::quiet_NaN();
    }
    return x < z ? x : z;
  }
};

struct Atan2 : FloatingOp {
  static constexpr const char* kName = "atan2";
  template <class C> RVOS_HOST_DEVICE C operator()(C x, C z) const { return math::atan2(x, z); }
};

// PyTorch's form of x + w * (z - x): accurate at both ends.
struct Lerp : FloatingOp {
  static constexpr const char* kName = "lerp";
  double weight = 0;
  template <class C> RVOS_HOST_DEVICE C operator()(C x, C z) const {
    const C w = static_cast<C>(weight);
    return math::fabs(w) < C(0.5) ? x + w * (z - x) : z - (z - x) * (C(1) - w);
  }
};

// Comparisons and logic: every dtype (operands promoted to one), bool result.
#define RVOS_ELEMENTWISE_COMPARISON(Name, name, expr)                                         \
  struct Name : AllTypesToBool {                                                              \
    static constexpr const char* kName = name;                                                \
    template <class C> RVOS_HOST_DEVICE bool operator()(C x, C z) const { return expr; }      \
  };
RVOS_ELEMENTWISE_COMPARISON(Eq, "eq", x == z)
RVOS_ELEMENTWISE_COMPARISON(Ne, "ne", x != z)
RVOS_ELEMENTWISE_COMPARISON(Lt, "lt", x < z)
RVOS_ELEMENTWISE_COMPARISON(Le, "le", x <= z)
RVOS_ELEMENTWISE_COMPARISON(Gt, "gt", x > z)
RVOS_ELEMENTWISE_COMPARISON(Ge, "ge", x >= z)
RVOS_ELEMENTWISE_COMPARISON(LogicalAnd, "logical_and", bool(x) && bool(z))
RVOS_ELEMENTWISE_COMPARISON(LogicalOr, "logical_or", bool(x) || bool(z))
RVOS_ELEMENTWISE_COMPARISON(LogicalXor, "logical_xor", bool(x) != bool(z))
#undef RVOS_ELEMENTWISE_COMPARISON

// ----------------------------------------------------------------- ternary

// cond ? x : z; the condition is a bool tensor.
struct Where {
  static constexpr const char* kName = "where";
  static constexpr TypeSet kTypes = TypeSet::All;
  static constexpr bool kBoolResult = false;
  static constexpr bool kMaskFirst = true;
  template <class C> RVOS_HOST_DEVICE C operator()(bool m, C x, C z) const { return m ? x : z; }
};

// ------------------------------------------------------- gradient formulas
//
// Called as f(grad, saved) in the dtype of the gradient (floating).

struct SquareBackward : FloatingOp {
  static constexpr const char* kName = "square_backward";
  template <class C> RVOS_HOST_DEVICE C operator()(C g, C x) const { return g * 2 * x; }
};
struct SqrtBackward : FloatingOp {  // saved: the result
  static constexpr const char* kName = "sqrt_backward";
  template <class C> RVOS_HOST_DEVICE C operator()(C g, C y) const { return g / (2 * y); }
};
struct RsqrtBackward : FloatingOp {  // saved: the result
  static constexpr const char* kName = "rsqrt_backward";
  template <class C> RVOS_HOST_DEVICE C operator()(C g, C y) const { return -0.5f * g * y * y * y; }
};
struct ReciprocalBackward : FloatingOp {  // saved: the result
  static constexpr const char* kName = "reciprocal_backward";
  template <class C> RVOS_HOST_DEVICE C operator()(C g, C y) const { return -g * y * y; }
};
struct TanhBackward : FloatingOp {  // saved: the result
  static constexpr const char* kName = "tanh_backward";
  template <class C> RVOS_HOST_DEVICE C operator()(C g, C y) const { return g * (1 - y * y); }
};
struct ErfBackward : FloatingOp {
  static constexpr const char* kName = "erf_backward";
  template <class C> RVOS_HOST_DEVICE C operator()(C g, C x) const {
    return g * static_cast<C>(kTwoOverSqrtPi) * math::exp(-x * x);
  }
};
struct SigmoidBackward : FloatingOp {  // saved: the result
  static constexpr const char* kName = "sigmoid_backward";
  template <class C> RVOS_HOST_DEVICE C operator()(C g, C y) const { return g * (1 - y) * y; }
};
struct ReluBackward : FloatingOp {  // saved: the result
  static constexpr const char* kName = "relu_backward";
  template <class C> RVOS_HOST_DEVICE C operator()(C g, C y) const { return y > 0 ? g : C(0); }
};
struct GeluBackward : FloatingOp {
  static constexpr const char* kName = "gelu_backward";
  template <class C> RVOS_HOST_DEVICE C operator()(C g, C x) const {
    const C cdf = C(0.5) * (C(1) + math::erf(x * static_cast<C>(kSqrt1_2)));
    const C pdf = math::exp(C(-0.5) * x * x) * static_cast<C>(kTwoOverSqrtPi * kSqrt1_2 * 0.5);
    return g * (cdf + x * pdf);
  }
};
struct GeluTanhBackward : FloatingOp {
  static constexpr const char* kName = "gelu_tanh_backward";
  template <class C> RVOS_HOST_DEVICE C operator()(C g, C x) const {
    const C beta = static_cast<C>(kGeluTanhBeta), kappa = static_cast<C>(kGeluTanhKappa);
    const C x_sq = x * x;
    const C t = math::tanh(beta * (x + kappa * x_sq * x));
    const C left = C(0.5) * x, right = C(1) + t;
    const C left_d = C(0.5) * right, right_d = C(1) - t * t;
    const C inner_d = beta * (C(1) + C(3) * kappa * x_sq);
    return g * (left_d + left * right_d * inner_d);
  }
};
struct SiluBackward : FloatingOp {
  static constexpr const char* kName = "silu_backward";
  template <class C> RVOS_HOST_DEVICE C operator()(C g, C x) const {
    const C s = C(1) / (C(1) + math::exp(-x));
    return g * s * (C(1) + x * (C(1) - s));
  }
};
// The share of the gradient going to the first operand: 1, 0, or 0.5 on ties (as PyTorch).
struct MaximumBackward : FloatingOp {
  static constexpr const char* kName = "maximum_backward";
  template <class C> RVOS_HOST_DEVICE C operator()(C x, C z) const {
    return static_cast<C>(x > z ? 1.0f : (x == z ? 0.5f : 0.0f));
  }
};
struct MinimumBackward : FloatingOp {
  static constexpr const char* kName = "minimum_backward";
  template <class C> RVOS_HOST_DEVICE C operator()(C x, C z) const {
    return static_cast<C>(x < z ? 1.0f : (x == z ? 0.5f : 0.0f));
  }
};
// The gradient passes where lo <= x <= hi (bounds as doubles; absent ones infinite).
struct ClampBackward : FloatingOp {
  static constexpr const char* kName = "clamp_backward";
  double lo = 0, hi = 0;
  template <class C> RVOS_HOST_DEVICE C operator()(C g, C x) const {
    return (static_cast<double>(x) >= lo && static_cast<double>(x) <= hi) ? g : C(0);
  }
};
struct PowScalarBackward : FloatingOp {
  static constexpr const char* kName = "pow_backward";
  double e = 1;
  template <class C> RVOS_HOST_DEVICE C operator()(C g, C x) const {
    return g * static_cast<C>(e) * math::pow(x, static_cast<C>(e - 1.0));
  }
};
// d/da of a^b: b * a^(b-1), 0 where b == 0. Called as f(grad, a, b).
struct PowBackwardSelf : FloatingOp {
  static constexpr const char* kName = "pow_backward_self";
  static constexpr bool kMaskFirst = false;
  template <class C> RVOS_HOST_DEVICE C operator()(C g, C a, C b) const {
    return b == C(0) ? C(0) : g * b * math::pow(a, b - C(1));
  }
};
// d/db of a^b: a^b * log(a), taken as 0 where a == 0. Called as f(grad, a, a^b).
struct PowBackwardExponent : FloatingOp {
  static constexpr const char* kName = "pow_backward_exponent";
  static constexpr bool kMaskFirst = false;
  template <class C> RVOS_HOST_DEVICE C operator()(C g, C a, C y) const {
    return a == C(0) ? C(0) : g * y * math::log(a);
  }
};

}  // namespace rvos::elementwise
