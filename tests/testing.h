#pragma once
// Shared test helpers: random inputs (also non-contiguous), closeness checks,
// and a float64 finite-difference gradient checker.
#include <doctest/doctest.h>

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <functional>
#include <sstream>
#include <string>

#include "ops/ops.h"
#include "test_data.h"

namespace rvos::testing {

// A fresh directory under the system's temporary directory, removed with its
// contents at the end of the scope. Names are unique per process and instance.
struct TempDir {
  std::filesystem::path path;
  explicit TempDir(const std::string& tag = "test") {
    static int counter = 0;
    path = std::filesystem::temp_directory_path() /
           ("rvos_" + tag + "_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string str() const { return path.string(); }
  std::string file(const std::string& name) const { return (path / name).string(); }
};

// The message of the std::exception `f` throws ("" when it throws nothing).
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

// Normal random values (never all zeros), deterministic per seed.
inline Tensor random(const Shape& shape, DType dtype = DType::F64, uint64_t seed = 1, double scale = 1.0) {
  Generator g(seed);
  return to(normal(shape, 0.0, scale, DType::F64, Device::cpu(), &g), dtype);
}

// Same values as `t`, laid out so that the result is not contiguous: stored
// transposed in its last two dims (or strided by 2 for 1-D).
inline Tensor non_contiguous(const Tensor& t) {
  if (t.dim() >= 2) {
    Tensor tr = contiguous(transpose(t.detach(), -1, -2));
    Tensor r = transpose(tr, -1, -2).detach();
    REQUIRE_FALSE((r.is_contiguous() && t.size(-1) > 1 && t.size(-2) > 1));
    return r;
  }
  Shape s = t.shape();
  if (s.empty()) return t;
  Tensor big = zeros({s[0] * 2}, t.dtype());
  Tensor v = slice(big, 0, 0, s[0] * 2, 2);
  copy_(v, t.detach());
  return v.detach();
}

inline double max_abs_diff(const Tensor& a, const Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  auto va = to_vector<double>(a), vb = to_vector<double>(b);
  double m = 0;
  for (size_t i = 0; i < va.size(); ++i) {
    if (std::isnan(va[i]) != std::isnan(vb[i])) return INFINITY;
    if (std::isnan(va[i])) continue;
    if (std::isinf(va[i]) || std::isinf(vb[i])) {
      if (va[i] != vb[i]) return INFINITY;
      continue;
    }
    m = std::max(m, std::fabs(va[i] - vb[i]));
  }
  return m;
}

// |a - b| <= atol + rtol * |b| elementwise; prints the worst element on failure.
inline bool all_close(const Tensor& a, const Tensor& b, double atol = 1e-6, double rtol = 1e-5,
                      std::string* why = nullptr) {
  if (a.shape() != b.shape()) {
    if (why) *why = "shapes differ: " + shape_str(a.shape()) + " vs " + shape_str(b.shape());
    return false;
  }
  auto va = to_vector<double>(a), vb = to_vector<double>(b);
  for (size_t i = 0; i < va.size(); ++i) {
    bool ok = (std::isnan(va[i]) && std::isnan(vb[i])) || va[i] == vb[i] ||
              std::fabs(va[i] - vb[i]) <= atol + rtol * std::fabs(vb[i]);
    if (!ok) {
      if (why) {
        std::ostringstream os;
        os << "element " << i << ": " << va[i] << " vs " << vb[i];
        *why = os.str();
      }
      return false;
    }
  }
  return true;
}

#define CHECK_CLOSE(a, b, atol, rtol)                                   \
  do {                                                                  \
    std::string why_;                                                   \
    bool ok_ = ::rvos::testing::all_close((a), (b), (atol), (rtol), &why_); \
    INFO(why_);                                                         \
    CHECK(ok_);                                                         \
  } while (0)

struct GradcheckResult {
  bool ok = true;
  double max_error = 0;
  std::string detail;
};

// Compares autograd's gradients of sum(f(inputs) * w) (w random) with central
// finite differences. Inputs must be contiguous float64 leaves; they are marked
// requires_grad here.
inline GradcheckResult gradcheck(const std::function<Tensor(const TensorList&)>& f, TensorList inputs,
                                 double eps = 1e-6, double atol = 1e-6, double rtol = 1e-4) {
  GradcheckResult r;
  for (Tensor& x : inputs) {
    REQUIRE(x.dtype() == DType::F64);
    REQUIRE(x.is_contiguous());
    x.set_requires_grad(true);
    x.set_grad(Tensor());
  }
  Tensor y = f(inputs);
  Tensor w = random(y.shape(), DType::F64, 777);
  Tensor loss = sum(mul(y, w));
  TensorList analytic = grad(loss, inputs);
  auto objective = [&]() {
    NoGradGuard ng;
    return sum(mul(f(inputs), w)).item<double>();
  };
  for (size_t k = 0; k < inputs.size(); ++k) {
    double* p = inputs[k].data<double>();
    auto ana = to_vector<double>(analytic[k]);
    for (int64_t j = 0; j < inputs[k].numel(); ++j) {
      const double orig = p[j];
      p[j] = orig + eps;
      const double lp = objective();
      p[j] = orig - eps;
      const double lm = objective();
      p[j] = orig;
      const double num = (lp - lm) / (2 * eps);
      const double err = std::fabs(num - ana[static_cast<size_t>(j)]);
      r.max_error = std::max(r.max_error, err);
      if (!(err <= atol + rtol * std::fabs(num))) {
        if (r.ok) {
          std::ostringstream os;
          os << "input " << k << " element " << j << ": analytic " << ana[static_cast<size_t>(j)] << ", numeric "
             << num;
          r.detail = os.str();
        }
        r.ok = false;
      }
    }
  }
  return r;
}

#define CHECK_GRADCHECK(...)                          \
  do {                                                \
    auto gc_ = ::rvos::testing::gradcheck(__VA_ARGS__); \
    INFO(gc_.detail);                                 \
    CHECK(gc_.ok);                                    \
  } while (0)

}  // namespace rvos::testing
