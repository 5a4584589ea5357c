// Elementwise ops on the device against the CPU reference: every op, forward and backward, every
// dtype it takes, odd sizes, non-contiguous and broadcast operands, the vectorised path with a tail
// and with misaligned views, scalar operands, type promotion. Ops without a math-library call are
// expected to match the CPU bit for bit.
#include <cmath>
#include <limits>
#include <string>

#include "cuda_testing.h"

using namespace rvos;
using namespace rvos::testing;

namespace {

const DType kFloats[] = {DType::F32, DType::F64, DType::F16, DType::BF16};
const DType kInts[] = {DType::U8, DType::I32, DType::I64};

// Tolerances of one op in a dtype: float64 and float32 differ from the CPU by the math libraries'
// last bits; the 16-bit types by a rounding step of their own.
DeviceCheck tolerance(DType d, bool backward = true, bool non_contiguous = false) {
  switch (d) {
    case DType::F64: return {1e-10, 1e-10, backward, non_contiguous};
    case DType::F32: return {1e-5, 1e-5, backward, non_contiguous};
    case DType::F16: return {1e-2, 1e-2, backward, non_contiguous};
    case DType::BF16: return {2e-2, 2e-2, backward, non_contiguous};
    default: return {0, 0, false, non_contiguous};
  }
}

DeviceCheck exact(bool non_contiguous = false) { return {0, 0, false, non_contiguous}; }

std::string label(const std::string& name, DType d, const Shape& s) {
  return name + " " + dtype_name(d) + " " + shape_str(s);
}

enum class Domain { Any, Positive, AwayFromZero };

// Random values of the domain, seeded, in float64 (never zeros).
Tensor values(const Shape& s, Domain domain, uint64_t seed, double scale = 1.0) {
  Tensor x = random(s, DType::F64, seed, scale);
  if (domain == Domain::Positive) return add(abs(x), 0.25);
  if (domain == Domain::AwayFromZero) return add(x, mul(sign(x), 0.5));
  return x;
}

// Integer values in [-range, range] (non-negative for uint8), with many repeats.
Tensor int_values(const Shape& s, DType d, uint64_t seed, double range = 20.0) {
  Tensor x = round(mul(random(s, DType::F64, seed), range / 2.5));
  x = clamp(x, -range, range);
  if (d == DType::U8) x = abs(x);
  return to(x, d);
}

using UnaryFn = Tensor (*)(const Tensor&);

struct UnaryCase {
  const char* name;
  UnaryFn op;
  Domain domain;
  bool exact;    // no math-library call: bit-exact against the CPU
  bool integer;  // also takes integer dtypes keeping them
};

const UnaryCase kUnary[] = {
    {"neg", neg, Domain::Any, true, true},
    {"abs", abs, Domain::Any, true, true},
    {"sign", sign, Domain::Any, true, true},
    {"square", square, Domain::Any, true, true},
    {"relu", relu, Domain::Any, true, true},
    {"floor", floor, Domain::Any, true, true},
    {"ceil", ceil, Domain::Any, true, true},
    {"round", round, Domain::Any, true, true},
    {"sqrt", sqrt, Domain::Positive, true, false},
    {"reciprocal", reciprocal, Domain::AwayFromZero, true, false},
    {"exp", exp, Domain::Any, false, false},
    {"log", log, Domain::Positive, false, false},
    {"rsqrt", rsqrt, Domain::Positive, false, false},
    {"sin", sin, Domain::Any, false, false},
    {"cos", cos, Domain::Any, false, false},
    {"tanh", tanh, Domain::Any, false, false},
    {"erf", erf, Domain::Any, false, false},
    {"sigmoid", sigmoid, Domain::Any, false, false},
    {"gelu", [](const Tensor& x) { return gelu(x); }, Domain::Any, false, false},
    {"gelu_tanh", [](const Tensor& x) { return gelu(x, "tanh"); }, Domain::Any, false, false},
    {"silu", silu, Domain::Any, false, false},
    {"pow 2", [](const Tensor& x) { return pow(x, 2.0); }, Domain::Any, true, false},
    {"pow 3", [](const Tensor& x) { return pow(x, 3); }, Domain::Any, true, false},
    {"pow 0.5", [](const Tensor& x) { return pow(x, 0.5); }, Domain::Positive, true, false},
    {"pow -0.5", [](const Tensor& x) { return pow(x, -0.5); }, Domain::Positive, false, false},
    {"pow -1", [](const Tensor& x) { return pow(x, -1.0); }, Domain::AwayFromZero, true, false},
    {"pow -2", [](const Tensor& x) { return pow(x, -2.0); }, Domain::AwayFromZero, false, false},
    {"pow 1.7", [](const Tensor& x) { return pow(x, 1.7); }, Domain::Positive, false, false},
    {"pow 0", [](const Tensor& x) { return pow(x, 0.0); }, Domain::Positive, false, false},
    {"clamp", [](const Tensor& x) { return clamp(x, -0.5, 0.75); }, Domain::Any, true, false},
    {"clamp_min", [](const Tensor& x) { return clamp_min(x, -0.25); }, Domain::Any, true, false},
    {"clamp_max", [](const Tensor& x) { return clamp_max(x, 0.3); }, Domain::Any, true, false},
};

using BinaryFn = Tensor (*)(const Tensor&, const Tensor&);

struct BinaryCase {
  const char* name;
  BinaryFn op;
  Domain a_domain, b_domain;
  bool exact;
  bool integer;  // defined on integer dtypes (keeping them, or giving float32 for div/atan2)
};

const BinaryCase kBinary[] = {
    {"add", [](const Tensor& a, const Tensor& b) { return add(a, b); }, Domain::Any, Domain::Any, true, true},
    {"sub", [](const Tensor& a, const Tensor& b) { return sub(a, b); }, Domain::Any, Domain::Any, true, true},
    {"mul", [](const Tensor& a, const Tensor& b) { return mul(a, b); }, Domain::Any, Domain::Any, true, true},
    {"div", [](const Tensor& a, const Tensor& b) { return div(a, b); }, Domain::Any, Domain::AwayFromZero, true, true},
    {"maximum", [](const Tensor& a, const Tensor& b) { return maximum(a, b); }, Domain::Any, Domain::Any, true, true},
    {"minimum", [](const Tensor& a, const Tensor& b) { return minimum(a, b); }, Domain::Any, Domain::Any, true, true},
    {"pow", [](const Tensor& a, const Tensor& b) { return pow(a, b); }, Domain::Positive, Domain::Any, false, false},
    {"atan2", [](const Tensor& a, const Tensor& b) { return atan2(a, b); }, Domain::Any, Domain::AwayFromZero, false,
     true},
    {"add alpha", [](const Tensor& a, const Tensor& b) { return add(a, b, 0.75); }, Domain::Any, Domain::Any, false,
     false},
    {"lerp 0.3", [](const Tensor& a, const Tensor& b) { return lerp(a, b, 0.3); }, Domain::Any, Domain::Any, false,
     false},
    {"lerp 0.8", [](const Tensor& a, const Tensor& b) { return lerp(a, b, 0.8); }, Domain::Any, Domain::Any, false,
     false},
};

struct ComparisonCase {
  const char* name;
  BinaryFn op;
};

const ComparisonCase kComparisons[] = {
    {"eq", [](const Tensor& a, const Tensor& b) { return eq(a, b); }},
    {"ne", [](const Tensor& a, const Tensor& b) { return ne(a, b); }},
    {"lt", [](const Tensor& a, const Tensor& b) { return lt(a, b); }},
    {"le", [](const Tensor& a, const Tensor& b) { return le(a, b); }},
    {"gt", [](const Tensor& a, const Tensor& b) { return gt(a, b); }},
    {"ge", [](const Tensor& a, const Tensor& b) { return ge(a, b); }},
    {"logical_and", logical_and},
    {"logical_or", logical_or},
    {"logical_xor", logical_xor},
};

// Operand shapes: same shape (odd sizes), broadcasting both ways, a single element, 0-d.
const std::pair<Shape, Shape> kShapePairs[] = {
    {{37, 13, 5}, {37, 13, 5}}, {{5, 1, 7}, {3, 7}}, {{37, 1}, {1, 13}}, {{1}, {17, 3}},
    {{}, {11, 4}},              {{9, 6}, {}},        {{1}, {1}},
};

Tensor with_ties(const Tensor& a, const Tensor& b) {
  // b takes a's values where a > 0.5 (broadcast shapes agree on the result): ties for maximum/minimum.
  if (a.shape() != b.shape()) return b;
  return where(gt(a, 0.5), a, b);
}

}  // namespace

// ------------------------------------------------------------------ unary

TEST_CASE("unary ops match the CPU in every float dtype, forward and backward") {
  if (!gpu_present()) return;
  for (const UnaryCase& c : kUnary) {
    for (DType d : kFloats) {
      for (const Shape& s : {Shape{37, 13, 5}, Shape{1}, Shape{}}) {
        const Tensor x = to(values(s, c.domain, 11), d);
        const auto f = [op = c.op](const TensorList& in) { return op(in[0]); };
        check_cuda_matches_cpu(label(c.name, d, s), f, {x}, tolerance(d));
        if (s.size() >= 2) check_cuda_matches_cpu(label(c.name, d, s) + " strided", f, {x}, tolerance(d, true, true));
      }
    }
  }
}

TEST_CASE("unary ops without math-library calls are bit-exact against the CPU") {
  if (!gpu_present()) return;
  for (const UnaryCase& c : kUnary) {
    if (!c.exact) continue;
    for (DType d : kFloats) {
      const Tensor x = to(values({37, 13, 5}, c.domain, 12, 3.0), d);
      const auto f = [op = c.op](const TensorList& in) { return op(in[0]); };
      check_cuda_matches_cpu(label(c.name, d, x.shape()), f, {x}, exact());
      check_cuda_matches_cpu(label(c.name, d, x.shape()) + " strided", f, {x}, exact(true));
    }
  }
}

TEST_CASE("unary ops on integer dtypes: same-dtype ops keep them, floating ops give float32") {
  if (!gpu_present()) return;
  for (DType d : kInts) {
    const Tensor x = int_values({37, 13, 5}, d, 13);
    for (const UnaryCase& c : kUnary) {
      const auto f = [op = c.op](const TensorList& in) { return op(in[0]); };
      if (c.integer) {
        check_cuda_matches_cpu(label(c.name, d, x.shape()), f, {x}, exact());
        check_cuda_matches_cpu(label(c.name, d, x.shape()) + " strided", f, {x}, exact(true));
      }
    }
    // Floating ops on integers: computed in float32.
    for (UnaryFn op : {UnaryFn(exp), UnaryFn(sin), UnaryFn(tanh), UnaryFn(sigmoid), UnaryFn(erf)}) {
      const Tensor xi = int_values({41, 3}, d, 14, 4.0);
      check_cuda_matches_cpu(label("float op", d, xi.shape()), [op](const TensorList& in) { return op(in[0]); }, {xi},
                             {1e-5, 1e-5, false, false});
    }
    check_cuda_matches_cpu(label("clamp", d, x.shape()), [](const TensorList& in) { return clamp(in[0], 3, 11); }, {x},
                           exact(true));
    check_cuda_matches_cpu(label("clamp float bounds", d, x.shape()),
                           [](const TensorList& in) { return clamp(in[0], -2.5, 7.9); }, {x}, exact());
  }
  // int64 bounds beyond double precision stay exact.
  const Tensor big = add(to(int_values({33}, DType::I64, 15), DType::I64), int64_t{9007199254740993});
  check_cuda_matches_cpu("clamp int64 exact bounds",
                         [](const TensorList& in) { return clamp(in[0], int64_t{9007199254740991}, int64_t{9007199254740995}); },
                         {big}, exact());
}

TEST_CASE("predicates: isnan, isfinite, logical_not on every dtype, with NaN and infinities") {
  if (!gpu_present()) return;
  Tensor x = random({37, 13, 5}, DType::F64, 16, 2.0);
  x = where(gt(x, 2.0), std::numeric_limits<double>::quiet_NaN(), x);
  x = where(lt(x, -2.0), std::numeric_limits<double>::infinity(), x);
  x = where(lt(abs(sub(x, 1.0)), 0.05), -std::numeric_limits<double>::infinity(), x);
  x = where(lt(abs(x), 0.1), 0.0, x);  // logical_not sees zeros
  for (DType d : kFloats) {
    const Tensor xd = to(x, d);
    for (UnaryFn op : {UnaryFn(isnan), UnaryFn(isfinite), UnaryFn(logical_not)}) {
      check_cuda_matches_cpu(label("predicate", d, xd.shape()), [op](const TensorList& in) { return op(in[0]); }, {xd},
                             exact());
      check_cuda_matches_cpu(label("predicate strided", d, xd.shape()),
                             [op](const TensorList& in) { return op(in[0]); }, {xd}, exact(true));
    }
  }
  for (DType d : {DType::Bool, DType::U8, DType::I32, DType::I64}) {
    const Tensor xd = d == DType::Bool ? gt(random({37, 13}, DType::F64, 17), 0.0) : int_values({37, 13}, d, 17, 2.0);
    for (UnaryFn op : {UnaryFn(isnan), UnaryFn(isfinite), UnaryFn(logical_not)}) {
      check_cuda_matches_cpu(label("predicate", d, xd.shape()), [op](const TensorList& in) { return op(in[0]); }, {xd},
                             exact(true));
    }
  }
}

// ------------------------------------------------------------------ binary

TEST_CASE("binary ops match the CPU with broadcasting in every float dtype, forward and backward") {
  if (!gpu_present()) return;
  for (const BinaryCase& c : kBinary) {
    for (DType d : kFloats) {
      for (const auto& [sa, sb] : kShapePairs) {
        const Tensor a = to(values(sa, c.a_domain, 21), d);
        const Tensor b = to(values(sb, c.b_domain, 22), d);
        const auto f = [op = c.op](const TensorList& in) { return op(in[0], in[1]); };
        const std::string name = std::string(c.name) + " " + dtype_name(d) + " " + shape_str(sa) + " with " + shape_str(sb);
        check_cuda_matches_cpu(name, f, {a, b}, tolerance(d));
        check_cuda_matches_cpu(name + " strided", f, {a, b}, tolerance(d, true, true));
        if (c.exact) check_cuda_matches_cpu(name + " exact", f, {a, b}, exact());
      }
    }
  }
}

TEST_CASE("maximum and minimum: ties share the gradient, NaN propagates") {
  if (!gpu_present()) return;
  for (DType d : kFloats) {
    const Tensor a = to(random({37, 13}, DType::F64, 23), d);
    const Tensor b = with_ties(a, to(random({37, 13}, DType::F64, 24), d));
    for (BinaryFn op : {BinaryFn([](const Tensor& x, const Tensor& y) { return maximum(x, y); }),
                        BinaryFn([](const Tensor& x, const Tensor& y) { return minimum(x, y); })}) {
      check_cuda_matches_cpu(label("max/min ties", d, a.shape()), [op](const TensorList& in) { return op(in[0], in[1]); },
                             {a, b}, tolerance(d));
    }
    const Tensor n = where(gt(a, 1.0), std::numeric_limits<double>::quiet_NaN(), a);
    check_cuda_matches_cpu(label("maximum NaN", d, a.shape()),
                           [](const TensorList& in) { return maximum(in[0], in[1]); }, {to(n, d), b}, exact());
  }
}

TEST_CASE("binary ops on integer dtypes, and mixed dtypes promoted as PyTorch") {
  if (!gpu_present()) return;
  for (const BinaryCase& c : kBinary) {
    if (!c.integer) continue;
    for (DType d : kInts) {
      for (const auto& [sa, sb] : kShapePairs) {
        const Tensor a = int_values(sa, d, 25);
        Tensor b = int_values(sb, d, 26);
        if (c.b_domain == Domain::AwayFromZero) b = add(b, to(eq(b, 0), d));  // no zero divisors
        const auto f = [op = c.op](const TensorList& in) { return op(in[0], in[1]); };
        const std::string name = std::string(c.name) + " " + dtype_name(d) + " " + shape_str(sa) + " with " + shape_str(sb);
        check_cuda_matches_cpu(name, f, {a, b}, c.exact ? exact() : tolerance(DType::F32, false));
        check_cuda_matches_cpu(name + " strided", f, {a, b}, c.exact ? exact(true) : tolerance(DType::F32, false, true));
      }
    }
  }
  // Integer pow: by squaring, negative exponents of 1 and -1.
  for (DType d : {DType::I32, DType::I64}) {
    const Tensor base = int_values({23, 7}, d, 27, 3.0);
    const Tensor exponent = abs(int_values({23, 7}, d, 28, 5.0));
    check_cuda_matches_cpu(label("pow int", d, base.shape()), [](const TensorList& in) { return pow(in[0], in[1]); },
                           {base, exponent}, exact(true));
    const Tensor unit = sub(mul(to(gt(random({23, 7}, DType::F64, 29), 0.0), d), 2), 1);  // +-1
    check_cuda_matches_cpu(label("pow int negative exponent", d, base.shape()),
                           [](const TensorList& in) { return pow(in[0], in[1]); }, {unit, neg(exponent)}, exact());
    check_cuda_matches_cpu(label("pow int zero base, negative exponent", d, base.shape()),
                           [](const TensorList& in) { return pow(in[0], in[1]); }, {base, sub(neg(exponent), 1)}, exact());
  }
  check_cuda_matches_cpu("pow uint8 wraps", [](const TensorList& in) { return pow(in[0], in[1]); },
                         {int_values({19, 5}, DType::U8, 30, 9.0), abs(int_values({19, 5}, DType::U8, 31, 4.0))}, exact());
  // Promotion: results must come back in the CPU's dtype (checked by the helper) with its values.
  const std::pair<DType, DType> kMixed[] = {
      {DType::F16, DType::BF16}, {DType::F32, DType::F64}, {DType::I32, DType::F16}, {DType::U8, DType::I64},
      {DType::I64, DType::BF16}, {DType::Bool, DType::I32}, {DType::Bool, DType::F32}, {DType::U8, DType::I32},
  };
  for (const auto& [da, db] : kMixed) {
    const Tensor a = da == DType::Bool ? gt(random({5, 1, 7}, DType::F64, 32), 0.0)
                     : is_floating(da) ? to(random({5, 1, 7}, DType::F64, 32), da)
                                       : int_values({5, 1, 7}, da, 32);
    const Tensor b = is_floating(db) ? to(values({3, 7}, Domain::AwayFromZero, 33), db) : add(abs(int_values({3, 7}, db, 33)), 1);
    const std::string name = std::string(dtype_name(da)) + " with " + dtype_name(db);
    const DType promoted = promote_types(da, db);
    const DeviceCheck check = is_floating(promoted) ? tolerance(promoted, false) : exact();
    check_cuda_matches_cpu("add " + name, [](const TensorList& in) { return add(in[0], in[1]); }, {a, b}, check);
    check_cuda_matches_cpu("mul " + name, [](const TensorList& in) { return mul(in[0], in[1]); }, {a, b}, check);
    check_cuda_matches_cpu("div " + name, [](const TensorList& in) { return div(in[0], in[1]); }, {a, b},
                           tolerance(is_floating(promoted) ? promoted : DType::F32, false));
    check_cuda_matches_cpu("maximum " + name, [](const TensorList& in) { return maximum(in[0], in[1]); }, {a, b}, check);
  }
}

TEST_CASE("comparisons and logic on every dtype, mixed dtypes and broadcasting") {
  if (!gpu_present()) return;
  const DType kAll[] = {DType::Bool, DType::U8, DType::I32, DType::I64, DType::F16, DType::BF16, DType::F32, DType::F64};
  auto make = [](const Shape& s, DType d, uint64_t seed) {
    if (d == DType::Bool) return gt(random(s, DType::F64, seed), 0.0);
    return to(int_values(s, DType::I32, seed, 3.0), d);  // few distinct values: many ties
  };
  for (const ComparisonCase& c : kComparisons) {
    const auto f = [op = c.op](const TensorList& in) { return op(in[0], in[1]); };
    for (DType d : kAll) {
      for (const auto& [sa, sb] : kShapePairs) {
        const Tensor a = make(sa, d, 41), b = make(sb, d, 42);
        const std::string name = std::string(c.name) + " " + dtype_name(d) + " " + shape_str(sa) + " with " + shape_str(sb);
        check_cuda_matches_cpu(name, f, {a, b}, exact());
        check_cuda_matches_cpu(name + " strided", f, {a, b}, exact(true));
      }
    }
    for (const auto& [da, db] : {std::pair{DType::I64, DType::F32}, std::pair{DType::U8, DType::I32},
                                 std::pair{DType::BF16, DType::F16}, std::pair{DType::Bool, DType::F64}}) {
      check_cuda_matches_cpu(std::string(c.name) + " " + dtype_name(da) + " with " + dtype_name(db), f,
                             {make({37, 13}, da, 43), make({13}, db, 44)}, exact(true));
    }
    // Fractional values against their integer parts after promotion.
    const Tensor x = mul(random({29, 3}, DType::F64, 45), 3.0);
    check_cuda_matches_cpu(std::string(c.name) + " float64 with int64", f, {x, to(x, DType::I64)}, exact());
  }
  // Scalar forms.
  const Tensor x = to(int_values({37, 13}, DType::I32, 46, 3.0), DType::F32);
  check_cuda_matches_cpu("eq scalar", [](const TensorList& in) { return eq(in[0], 2); }, {x}, exact());
  check_cuda_matches_cpu("lt scalar", [](const TensorList& in) { return lt(in[0], 0.5); }, {x}, exact(true));
  check_cuda_matches_cpu("ge int scalar float", [](const TensorList& in) { return ge(in[0], 1.5); },
                         {int_values({37, 13}, DType::I64, 47, 3.0)}, exact());
}

TEST_CASE("scalar operands on either side, with integer and floating scalars") {
  if (!gpu_present()) return;
  using Fn = Tensor (*)(const Tensor&);
  const std::pair<const char*, Fn> kScalarOps[] = {
      {"x + 2", [](const Tensor& x) { return add(x, 2); }},
      {"x - 0.5", [](const Tensor& x) { return sub(x, 0.5); }},
      {"3 - x", [](const Tensor& x) { return sub(3, x); }},
      {"x * 2.5", [](const Tensor& x) { return mul(x, 2.5); }},
      {"x / 3", [](const Tensor& x) { return div(x, 3); }},
      {"2 / x", [](const Tensor& x) { return div(2.0, x); }},
      {"maximum(x, 0.1)", [](const Tensor& x) { return maximum(x, 0.1); }},
      {"minimum(x, -0.1)", [](const Tensor& x) { return minimum(x, -0.1); }},
      {"2 ^ x", [](const Tensor& x) { return pow(2.0, x); }},
      {"operators", [](const Tensor& x) { return (x * 2 + 1) / (x - 10) - 3 * x; }},
  };
  for (const auto& [name, op] : kScalarOps) {
    for (DType d : kFloats) {
      const Tensor x = to(values({37, 13, 5}, Domain::AwayFromZero, 51), d);
      const auto f = [op = op](const TensorList& in) { return op(in[0]); };
      check_cuda_matches_cpu(label(name, d, x.shape()), f, {x}, tolerance(d));
      check_cuda_matches_cpu(label(name, d, x.shape()) + " strided", f, {x}, tolerance(d, true, true));
    }
    for (DType d : kInts) {
      const Tensor x = add(abs(int_values({37, 13}, d, 52, 6.0)), 1);
      check_cuda_matches_cpu(label(name, d, x.shape()), [op = op](const TensorList& in) { return op(in[0]); }, {x},
                             tolerance(DType::F32, false));
    }
  }
  // A [1, 1] tensor broadcast over a large one takes the vectorised path's single-element input.
  for (DType d : kFloats) {
    check_cuda_matches_cpu(label("x * [1, 1]", d, {64, 1000}), [](const TensorList& in) { return mul(in[0], in[1]); },
                           {to(random({64, 1000}, DType::F64, 53), d), to(random({1, 1}, DType::F64, 54), d)},
                           tolerance(d));
  }
}

// ------------------------------------------------------------------ selection

TEST_CASE("where, masked_fill, clamp, lerp with broadcasting and promotion") {
  if (!gpu_present()) return;
  const DType kAll[] = {DType::Bool, DType::U8, DType::I32, DType::I64, DType::F16, DType::BF16, DType::F32, DType::F64};
  const Tensor cond = gt(random({5, 1, 7}, DType::F64, 61), 0.0);
  for (DType d : kAll) {
    const Tensor a = d == DType::Bool ? gt(random({3, 7}, DType::F64, 62), 0.0) : to(mul(random({3, 7}, DType::F64, 62), 5.0), d);
    const Tensor b = d == DType::Bool ? gt(random({5, 3, 1}, DType::F64, 63), 0.0) : to(mul(random({5, 3, 1}, DType::F64, 63), 5.0), d);
    const auto f = [](const TensorList& in) { return where(in[0], in[1], in[2]); };
    check_cuda_matches_cpu(std::string("where ") + dtype_name(d), f, {cond, a, b}, is_floating(d) ? tolerance(d) : exact());
    check_cuda_matches_cpu(std::string("where exact ") + dtype_name(d), f, {cond, a, b}, exact(true));
  }
  check_cuda_matches_cpu("where promotes float16 with bfloat16",
                         [](const TensorList& in) { return where(in[0], in[1], in[2]); },
                         {cond, to(random({3, 7}, DType::F64, 64), DType::F16), to(random({7}, DType::F64, 65), DType::BF16)},
                         tolerance(DType::F32));
  check_cuda_matches_cpu("where with a uint8 condition and a scalar",
                         [](const TensorList& in) { return where(in[0], in[1], 0.25); },
                         {int_values({37, 13}, DType::U8, 66, 2.0), random({37, 13}, DType::F32, 67)}, tolerance(DType::F32));
  check_cuda_matches_cpu("where large", [](const TensorList& in) { return where(in[0], in[1], in[2]); },
                         {gt(random({1000003}, DType::F64, 68), 0.0), random({1000003}, DType::F32, 69),
                          random({1000003}, DType::F32, 70)},
                         tolerance(DType::F32));
  for (DType d : kFloats) {
    const Tensor x = to(random({37, 13, 5}, DType::F64, 71), d);
    const Tensor mask = gt(random({13, 1}, DType::F64, 72), 0.3);
    check_cuda_matches_cpu(label("masked_fill", d, x.shape()),
                           [](const TensorList& in) { return masked_fill(in[0], in[1], -1.5); }, {x, mask}, tolerance(d));
    check_cuda_matches_cpu(label("masked_fill -inf", d, x.shape()),
                           [](const TensorList& in) {
                             return masked_fill(in[0], in[1], -std::numeric_limits<double>::infinity());
                           },
                           {x, mask}, tolerance(d, true, true));
  }
  for (DType d : kInts) {
    check_cuda_matches_cpu(label("masked_fill", d, {37, 13}),
                           [](const TensorList& in) { return masked_fill(in[0], in[1], 7); },
                           {int_values({37, 13}, d, 73), gt(random({37, 1}, DType::F64, 74), 0.0)}, exact(true));
  }
  // clamp keeps NaN; its gradient passes inside the bounds only.
  for (DType d : kFloats) {
    Tensor x = random({37, 13}, DType::F64, 75);
    x = where(gt(x, 1.8), std::numeric_limits<double>::quiet_NaN(), x);
    check_cuda_matches_cpu(label("clamp NaN", d, x.shape()), [](const TensorList& in) { return clamp(in[0], -1, 1); },
                           {to(x, d)}, exact());
  }
}

// ------------------------------------------------------------------ kernel paths

TEST_CASE("vectorised path: a million and three elements (a tail) in every float dtype") {
  if (!gpu_present()) return;
  const Shape s{1000003};
  for (DType d : kFloats) {
    const Tensor a = to(random(s, DType::F64, 81), d), b = to(random(s, DType::F64, 82), d);
    check_cuda_matches_cpu(label("add", d, s), [](const TensorList& in) { return add(in[0], in[1]); }, {a, b}, exact());
    check_cuda_matches_cpu(label("mul", d, s), [](const TensorList& in) { return mul(in[0], in[1]); }, {a, b},
                           tolerance(d));
    check_cuda_matches_cpu(label("gelu", d, s), [](const TensorList& in) { return gelu(in[0]); }, {a}, tolerance(d));
    check_cuda_matches_cpu(label("exp", d, s), [](const TensorList& in) { return exp(in[0]); }, {a}, tolerance(d, false));
    check_cuda_matches_cpu(label("lt", d, s), [](const TensorList& in) { return lt(in[0], in[1]); }, {a, b}, exact());
    check_cuda_matches_cpu(label("isfinite", d, s), [](const TensorList& in) { return isfinite(in[0]); }, {a}, exact());
    check_cuda_matches_cpu(label("add scalar", d, s), [](const TensorList& in) { return add(in[0], 0.5); }, {a},
                           exact());
  }
  for (DType d : {DType::U8, DType::I32, DType::I64}) {
    const Tensor a = int_values(s, d, 83), b = int_values(s, d, 84);
    check_cuda_matches_cpu(label("add", d, s), [](const TensorList& in) { return add(in[0], in[1]); }, {a, b}, exact());
    check_cuda_matches_cpu(label("eq", d, s), [](const TensorList& in) { return eq(in[0], in[1]); }, {a, b}, exact());
  }
  const Tensor m = gt(random(s, DType::F64, 85), 0.0);
  check_cuda_matches_cpu("logical_not bool", [](const TensorList& in) { return logical_not(in[0]); }, {m}, exact());
  check_cuda_matches_cpu("logical_xor bool", [](const TensorList& in) { return logical_xor(in[0], in[1]); },
                         {m, gt(random(s, DType::F64, 86), 0.0)}, exact());
}

TEST_CASE("contiguous views that are not 16-byte aligned take the strided path") {
  if (!gpu_present()) return;
  for (DType d : kFloats) {
    for (int64_t n : {int64_t{4099}, int64_t{17}}) {
      const Tensor a = to(random({n}, DType::F64, 91), d), b = to(random({n}, DType::F64, 92), d);
      // Views starting 1 and 3 elements in: contiguous, misaligned for 16-byte access.
      check_cuda_matches_cpu(label("exp of an offset view", d, {n}),
                             [n](const TensorList& in) { return exp(narrow(in[0], 0, 1, n - 1)); }, {a}, tolerance(d));
      check_cuda_matches_cpu(label("add of offset views", d, {n}),
                             [n](const TensorList& in) { return add(narrow(in[0], 0, 1, n - 3), narrow(in[1], 0, 3, n - 3)); },
                             {a, b}, exact());
      check_cuda_matches_cpu(label("add of one aligned and one offset view", d, {n}),
                             [n](const TensorList& in) { return add(narrow(in[0], 0, 0, n - 1), narrow(in[1], 0, 1, n - 1)); },
                             {a, b}, exact());
    }
  }
}

TEST_CASE("strided path: permuted, sliced, expanded and flipped views, many dimensions") {
  if (!gpu_present()) return;
  for (DType d : kFloats) {
    const Tensor x = to(random({6, 5, 4, 3}, DType::F64, 101), d);
    const Tensor y = to(random({3, 4, 5, 6}, DType::F64, 102), d);
    check_cuda_matches_cpu(label("permuted operands", d, x.shape()),
                           [](const TensorList& in) { return add(permute(in[0], {3, 2, 1, 0}), mul(in[1], 2.0)); }, {x, y},
                           tolerance(d));
    check_cuda_matches_cpu(label("sliced operands", d, x.shape()),
                           [](const TensorList& in) { return sub(slice(in[0], 1, 0, 4, 2), slice(in[0], 1, 1, 5, 2)); },
                           {x}, tolerance(d));
    check_cuda_matches_cpu(label("flipped operand", d, x.shape()),
                           [](const TensorList& in) { return mul(flip(in[0], {1, 3}), in[0]); }, {x}, tolerance(d));
    check_cuda_matches_cpu(label("expanded operand", d, x.shape()),
                           [](const TensorList& in) { return tanh(expand(in[0], {7, 6, 5, 4, 3})); }, {x}, tolerance(d));
  }
  // Eight dimensions that do not collapse, and nine that collapse to fewer.
  const Tensor eight = random({2, 3, 2, 3, 2, 3, 2, 3}, DType::F32, 103);
  check_cuda_matches_cpu("eight reversed dimensions",
                         [](const TensorList& in) { return add(permute(in[0], {7, 6, 5, 4, 3, 2, 1, 0}), 1.0); }, {eight},
                         exact());
  const Tensor nine = random({2, 2, 2, 2, 2, 2, 2, 2, 3}, DType::F32, 104);
  check_cuda_matches_cpu("nine contiguous dimensions", [](const TensorList& in) { return sigmoid(in[0]); }, {nine},
                         tolerance(DType::F32));
  check_cuda_matches_cpu("nine dimensions, one broadcast",
                         [](const TensorList& in) { return add(in[0], slice(in[0], 8, 0, 1, 1)); }, {nine}, exact());
}

TEST_CASE("more than eight non-collapsible dimensions are refused clearly") {
  if (!gpu_present()) return;
  const Tensor nine = to(random({2, 3, 2, 3, 2, 3, 2, 3, 2}, DType::F32, 105), Device::cuda());
  const std::string err = error_of([&] { add(permute(nine, {8, 7, 6, 5, 4, 3, 2, 1, 0}), 1.0); });
  CHECK(err.find("at most 8 dimensions") != std::string::npos);
}

TEST_CASE("dropout on the device draws the CPU's mask for the same seed") {
  if (!gpu_present()) return;
  for (DType d : kFloats) {
    const Tensor x = to(random({37, 13, 5}, DType::F64, 111), d);
    Generator g_cpu(7), g_gpu(7);
    const Tensor expected = dropout(x, 0.3, true, &g_cpu);
    const Tensor got = dropout(to(x, Device::cuda()), 0.3, true, &g_gpu);
    REQUIRE(got.is_cuda());
    CHECK_CLOSE(to(got, Device::cpu()), expected, 0, 0);
  }
}

TEST_CASE("elementwise ops refuse mixed devices and unsupported dtypes on the device") {
  if (!gpu_present()) return;
  const Tensor g = to(random({4, 3}, DType::F32, 121), Device::cuda());
  const Tensor h = random({4, 3}, DType::F32, 122);
  CHECK(error_of([&] { add(g, h); }).find("different devices") != std::string::npos);
  CHECK(error_of([&] { where(gt(h, 0.0), g, g); }).find("different devices") != std::string::npos);
  const Tensor b = gt(g, 0.0);
  CHECK(error_of([&] { neg(b); }) == error_of([&] { neg(to(b, Device::cpu())); }));
  CHECK(error_of([&] { add(b, b); }) == error_of([&] { add(to(b, Device::cpu()), to(b, Device::cpu())); }));
}
