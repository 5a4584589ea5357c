// The fused CUDA attention (cuda/attention.h through scaled_dot_product_attention) against the
// CPU op on fresh random inputs, forward and backward: every kernel head dim, float32 / bfloat16 /
// float16, odd lengths (a single key, a few queries against thousands of keys and back, which
// take the key-split and query-split paths), broadcast batch dims, bool and float masks with
// fully masked rows, causal masks, explicit and negative scales, strided / transposed /
// misaligned inputs, and a memory-attention-sized case.
//
// Gradients are compared through grad(out, inputs, w) with the same random w on both devices.
// Before each case the device cache is filled with NaN blocks, so an output element the kernels
// never write shows up as NaN.
#include <cmath>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "cuda_testing.h"

using namespace rvos;
using namespace rvos::testing;

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

enum class Layout {
  Contiguous,
  Transposed,  // stored transposed in the last two dims: element-wise loads
  Heads,       // [B, H, N, E] stored as [B, N, H, E] (a head-split view): strided 16-byte loads
  Misaligned,  // contiguous but one element past an aligned start: element-wise loads
};

const char* layout_name(Layout l) {
  switch (l) {
    case Layout::Contiguous: return "contiguous";
    case Layout::Transposed: return "transposed";
    case Layout::Heads: return "head-split view";
    case Layout::Misaligned: return "misaligned";
  }
  return "?";
}

// The values of `t` (CPU) on the device, laid out as asked.
Tensor to_device(const Tensor& t, Layout layout) {
  const Tensor d = to(t.detach(), Device::cuda());
  switch (layout) {
    case Layout::Contiguous: return d;
    case Layout::Transposed: return transpose(contiguous(transpose(d, -1, -2)), -1, -2);
    case Layout::Heads: {
      REQUIRE(t.dim() == 4);
      return permute(contiguous(permute(d, {0, 2, 1, 3})), {0, 2, 1, 3});
    }
    case Layout::Misaligned: {
      Tensor flat = empty({t.numel() + 1}, t.dtype(), Device::cuda());
      Tensor view = reshape(narrow(flat, 0, 1, t.numel()), t.shape());
      copy_(view, d);
      return view;
    }
  }
  return d;
}

// Fills blocks of the device cache with 0xff bytes (NaN in every float type) and frees them, so
// that fresh device tensors start out as NaN.
void poison_device_cache() {
  for (int64_t n : {int64_t{1} << 28, int64_t{1} << 22, int64_t{1} << 18, int64_t{1} << 14}) {
    Tensor t = empty({n}, DType::U8, Device::cuda());
    fill_(t, int64_t{255});
  }
}

struct Tolerance {
  double atol, rtol;  // |gpu - cpu| <= atol * max(1, max |cpu|) + rtol * |cpu|
  double rel_norm;    // ||gpu - cpu|| <= rel_norm * max(||cpu||, sqrt(numel))
};

Tolerance forward_tolerance(DType d) {
  if (d == DType::F32) return {1e-5, 1e-5, 1e-5};
  if (d == DType::F16) return {5e-3, 1e-2, 2e-3};
  return {2e-2, 2e-2, 1e-2};
}
Tolerance backward_tolerance(DType d) {
  if (d == DType::F32) return {2e-5, 1e-4, 2e-5};
  if (d == DType::F16) return {1e-2, 2e-2, 5e-3};
  return {3e-2, 5e-2, 2e-2};
}

void check_close(const std::string& what, const Tensor& gpu, const Tensor& cpu, const Tolerance& tol) {
  INFO(what);
  REQUIRE(gpu.shape() == cpu.shape());
  const std::vector<double> a = to_vector<double>(to(gpu.detach(), Device::cpu()));
  const std::vector<double> b = to_vector<double>(cpu.detach());
  double max_ref = 0, max_diff = 0, diff2 = 0, ref2 = 0;
  size_t bad = 0, first_bad = 0, non_finite = 0;
  for (double x : b) max_ref = std::max(max_ref, std::fabs(x));
  const double abs_tol = tol.atol * std::max(1.0, max_ref);
  for (size_t i = 0; i < a.size(); ++i) {
    if (!std::isfinite(a[i]) || !std::isfinite(b[i])) {
      if (!non_finite++) first_bad = i;
      continue;
    }
    const double d = std::fabs(a[i] - b[i]);
    max_diff = std::max(max_diff, d);
    diff2 += d * d;
    ref2 += b[i] * b[i];
    if (d > abs_tol + tol.rtol * std::fabs(b[i])) {
      if (!bad++ && !non_finite) first_bad = i;
    }
  }
  // Relative to the reference's norm, or to an all-ones tensor when the reference is smaller
  // (exactly zero gradients, as with a single key, compare in absolute terms).
  const double rel = std::sqrt(diff2) / std::max(std::sqrt(ref2), std::sqrt(double(a.size())));
  MESSAGE(what << ": max |diff| " << max_diff << " (max |ref| " << max_ref << "), relative norm error " << rel);
  INFO("first bad element " << first_bad << ": gpu " << a[first_bad] << ", cpu " << b[first_bad]);
  CHECK(non_finite == 0);
  CHECK(bad == 0);
  CHECK(rel <= tol.rel_norm + 1e-12);
}

struct Case {
  std::string name;
  Tensor q, k, v;      // CPU, in the dtype under test
  Tensor mask;         // CPU, or undefined
  bool causal = false;
  std::optional<double> scale;
  bool backward = true;
  Layout layout = Layout::Contiguous;
};

// Runs the case on both devices and compares outputs and, with backward, the gradients of q, k
// and v for a random output gradient.
void check_case(const Case& c) {
  INFO(c.name << " [" << dtype_name(c.q.dtype()) << ", " << layout_name(c.layout) << "]");
  poison_device_cache();
  const DType dtype = c.q.dtype();
  Tensor qc = c.q.detach(), kc = c.k.detach(), vc = c.v.detach();
  Tensor qg = to_device(c.q, c.layout), kg = to_device(c.k, c.layout), vg = to_device(c.v, c.layout);
  const Tensor mg = c.mask.defined() ? to(c.mask, Device::cuda()) : Tensor();
  if (c.backward) {
    for (Tensor* t : {&qc, &kc, &vc, &qg, &kg, &vg}) t->set_requires_grad(true);
  }
  const Tensor out_cpu = scaled_dot_product_attention(qc, kc, vc, c.mask, 0.0, c.causal, c.scale);
  const Tensor out_gpu = scaled_dot_product_attention(qg, kg, vg, mg, 0.0, c.causal, c.scale);
  REQUIRE(out_gpu.is_cuda());
  CHECK(out_gpu.dtype() == dtype);
  check_close(c.name + " output", out_gpu, out_cpu, forward_tolerance(dtype));
  if (!c.backward) return;
  REQUIRE(out_gpu.requires_grad());
  const Tensor w = to(random(out_cpu.shape(), DType::F64, 99, 1.5), dtype);
  const TensorList g_cpu = grad(out_cpu, {qc, kc, vc}, w);
  const TensorList g_gpu = grad(out_gpu, {qg, kg, vg}, to(w, Device::cuda()));
  const char* names[] = {"dq", "dk", "dv"};
  for (size_t i = 0; i < 3; ++i) {
    REQUIRE(g_gpu[i].defined());
    CHECK(g_gpu[i].shape() == g_cpu[i].shape());
    CHECK(g_gpu[i].dtype() == dtype);
    check_close(c.name + " " + names[i], g_gpu[i], g_cpu[i], backward_tolerance(dtype));
  }
}

Tensor rnd(const Shape& s, DType d, uint64_t seed, double scale = 1.5) { return to(random(s, DType::F64, seed, scale), d); }

const DType kTypes[] = {DType::F32, DType::BF16, DType::F16};

}  // namespace

TEST_CASE("fused attention matches the CPU for every kernel head dim") {
  if (!gpu_present()) return;
  uint64_t seed = 100;
  for (int64_t E : {16, 32, 64, 72, 128, 256}) {
    for (DType d : kTypes) {
      Case c;
      c.name = "E = " + std::to_string(E) + ", L = 77, S = 150";
      c.q = rnd({2, 3, 77, E}, d, seed++, 2.0);
      c.k = rnd({2, 3, 150, E}, d, seed++, 2.0);
      c.v = rnd({2, 3, 150, E}, d, seed++);
      check_case(c);
    }
  }
}

TEST_CASE("fused attention: odd lengths, few queries against many keys and back") {
  if (!gpu_present()) return;
  uint64_t seed = 200;
  struct Dims {
    int64_t L, S, E;
  };
  for (Dims dm : {Dims{7, 4099, 32}, Dims{4099, 7, 16}, Dims{37, 1, 64}, Dims{1, 37, 72}, Dims{65, 63, 16}}) {
    for (DType d : kTypes) {
      Case c;
      c.name = "L = " + std::to_string(dm.L) + ", S = " + std::to_string(dm.S) + ", E = " + std::to_string(dm.E);
      c.q = rnd({2, 4, dm.L, dm.E}, d, seed++, 2.0);
      c.k = rnd({2, 4, dm.S, dm.E}, d, seed++, 2.0);
      c.v = rnd({2, 4, dm.S, dm.E}, d, seed++);
      check_case(c);
    }
  }
}

TEST_CASE("fused attention: broadcast batch dims, Ev != E, 2-D inputs") {
  if (!gpu_present()) return;
  uint64_t seed = 300;
  for (DType d : kTypes) {
    Case c;
    c.name = "q [2, 1, L, E], k [3, S, E], v [1, 3, S, Ev]";
    c.q = rnd({2, 1, 41, 64}, d, seed++, 2.0);
    c.k = rnd({3, 90, 64}, d, seed++, 2.0);
    c.v = rnd({1, 3, 90, 32}, d, seed++);
    check_case(c);

    Case e;
    e.name = "E = 16, Ev = 72";
    e.q = rnd({3, 70, 16}, d, seed++, 2.0);
    e.k = rnd({3, 130, 16}, d, seed++, 2.0);
    e.v = rnd({3, 130, 72}, d, seed++);
    check_case(e);

    Case two;
    two.name = "2-D q, k, v; E = 5 (element-wise loads)";
    two.q = rnd({33, 5}, d, seed++, 2.0);
    two.k = rnd({70, 5}, d, seed++, 2.0);
    two.v = rnd({70, 3}, d, seed++);
    check_case(two);
  }
}

TEST_CASE("fused attention: bool and float masks, fully masked rows give zeros and zero gradients") {
  if (!gpu_present()) return;
  uint64_t seed = 400;
  for (DType d : kTypes) {
    const int64_t B = 2, H = 3, L = 70, S = 133, E = 32;
    // Bool [L, S] broadcast over batch and heads; query 5 may attend to nothing.
    Tensor allow = ge(random({L, S}, DType::F64, seed++), -0.5);
    fill_(select(allow, 0, 5), false);
    Case c;
    c.name = "bool [L, S] mask with a fully masked row";
    c.q = rnd({B, H, L, E}, d, seed++, 2.0);
    c.k = rnd({B, H, S, E}, d, seed++, 2.0);
    c.v = rnd({B, H, S, E}, d, seed++);
    c.mask = allow;
    check_case(c);
    {
      // The masked row's output and its query gradient are exactly zero.
      const Tensor qg = to(c.q, Device::cuda()).set_requires_grad(true);
      const Tensor out = scaled_dot_product_attention(qg, to(c.k, Device::cuda()), to(c.v, Device::cuda()),
                                                      to(allow, Device::cuda()));
      const Tensor row = to(select(out, 2, 5), Device::cpu());
      CHECK(to_vector<double>(row) == std::vector<double>(size_t(row.numel()), 0.0));
      const Tensor dq = grad(out, {qg}, to(rnd(out.shape(), d, seed++), Device::cuda()))[0];
      const Tensor dq_row = to(select(dq, 2, 5), Device::cpu());
      CHECK(to_vector<double>(dq_row) == std::vector<double>(size_t(dq_row.numel()), 0.0));
    }

    // Key padding [B, 1, 1, S]: the second batch element pads its last 40 keys; then also every
    // key of the first batch element (all its rows fully masked).
    Tensor keep = ones({B, 1, 1, S}, DType::Bool);
    fill_(narrow(select(keep, 0, 1), -1, S - 40, 40), false);
    Case kp;
    kp.name = "key padding [B, 1, 1, S]";
    kp.q = c.q, kp.k = c.k, kp.v = c.v;
    kp.mask = keep;
    check_case(kp);
    Tensor none = clone(keep);
    fill_(select(none, 0, 0), false);
    kp.name = "key padding masking every key of one batch element";
    kp.mask = none;
    check_case(kp);

    // Float [B, 1, L, S] with -inf entries, finite biases and a fully -inf row; in float32 and
    // in the input dtype (converted once by the op).
    Tensor bias = random({B, 1, L, S}, DType::F64, seed++, 2.0);
    bias = masked_fill(bias, lt(random({B, 1, L, S}, DType::F64, seed++), -0.8), -kInf);
    fill_(select(select(bias, 0, 1), 1, 9), -kInf);
    Case fm;
    fm.name = "float32 [B, 1, L, S] mask";
    fm.q = c.q, fm.k = c.k, fm.v = c.v;
    fm.mask = to(bias, DType::F32);
    check_case(fm);
    if (d != DType::F32) {
      fm.name = "float [B, 1, L, S] mask in the input dtype";
      fm.mask = to(bias, d);
      check_case(fm);
    }
    // A per-key float mask [S] (both strides of the mask's [L, S] are 0 and 1).
    fm.name = "float32 [S] mask";
    fm.mask = to(select(select(select(bias, 0, 0), 0, 0), 0, 3), DType::F32);
    check_case(fm);
  }
}

TEST_CASE("fused attention: causal masks for L < S, L == S, L > S, and with key splits") {
  if (!gpu_present()) return;
  uint64_t seed = 500;
  struct Dims {
    int64_t L, S;
  };
  for (Dims dm : {Dims{40, 150}, Dims{130, 130}, Dims{150, 40}, Dims{7, 4099}}) {
    for (DType d : kTypes) {
      Case c;
      c.name = "causal L = " + std::to_string(dm.L) + ", S = " + std::to_string(dm.S);
      c.q = rnd({2, 2, dm.L, 64}, d, seed++, 2.0);
      c.k = rnd({2, 2, dm.S, 64}, d, seed++, 2.0);
      c.v = rnd({2, 2, dm.S, 64}, d, seed++);
      c.causal = true;
      check_case(c);
    }
  }
}

TEST_CASE("fused attention: explicit and negative scales") {
  if (!gpu_present()) return;
  uint64_t seed = 600;
  for (DType d : kTypes) {
    for (double s : {0.3, -0.2}) {
      Case c;
      c.name = "scale " + std::to_string(s);
      c.q = rnd({3, 50, 32}, d, seed++, 2.0);
      c.k = rnd({3, 80, 32}, d, seed++, 2.0);
      c.v = rnd({3, 80, 32}, d, seed++);
      c.scale = s;
      check_case(c);
    }
  }
}

TEST_CASE("fused attention: non-contiguous, head-split and misaligned inputs") {
  if (!gpu_present()) return;
  uint64_t seed = 700;
  for (DType d : kTypes) {
    for (Layout layout : {Layout::Transposed, Layout::Heads, Layout::Misaligned}) {
      for (int64_t E : {64, 72}) {
        Case c;
        c.name = "E = " + std::to_string(E);
        c.q = rnd({2, 3, 45, E}, d, seed++, 2.0);
        c.k = rnd({2, 3, 99, E}, d, seed++, 2.0);
        c.v = rnd({2, 3, 99, E}, d, seed++);
        c.layout = layout;
        check_case(c);
      }
    }
  }
  // The helper of the CUDA op tests: non-contiguous inputs, forward only (its backward goes
  // through other device ops).
  check_cuda_matches_cpu(
      "scaled_dot_product_attention, float32",
      [](const TensorList& x) { return scaled_dot_product_attention(x[0], x[1], x[2]); },
      {rnd({2, 19, 24}, DType::F32, seed++), rnd({2, 31, 24}, DType::F32, seed++),
       rnd({2, 31, 24}, DType::F32, seed++)},
      DeviceCheck{1e-5, 1e-5, false, true});
}

TEST_CASE("fused attention at model shapes: Hiera windows, BEiT-3, the SAM decoder") {
  if (!gpu_present()) return;
  uint64_t seed = 800;
  for (DType d : {DType::F32, DType::BF16}) {
    Case hiera;
    hiera.name = "Hiera-L windows [64, 2, 64, 72]";
    hiera.q = rnd({64, 2, 64, 72}, d, seed++, 2.0);
    hiera.k = rnd({64, 2, 64, 72}, d, seed++, 2.0);
    hiera.v = rnd({64, 2, 64, 72}, d, seed++);
    hiera.layout = Layout::Heads;
    check_case(hiera);

    Case beit;
    beit.name = "BEiT-3 [2, 12, 197, 64] with key padding";
    beit.q = rnd({2, 12, 197, 64}, d, seed++, 2.0);
    beit.k = rnd({2, 12, 197, 64}, d, seed++, 2.0);
    beit.v = rnd({2, 12, 197, 64}, d, seed++);
    Tensor keep = ones({2, 1, 1, 197}, DType::Bool);
    fill_(narrow(select(keep, 0, 1), -1, 180, 17), false);
    beit.mask = keep;
    check_case(beit);

    Case t2i;
    t2i.name = "SAM decoder tokens to image [1, 8, 7, 16] x 4096";
    t2i.q = rnd({1, 8, 7, 16}, d, seed++, 2.0);
    t2i.k = rnd({1, 8, 4096, 16}, d, seed++, 2.0);
    t2i.v = rnd({1, 8, 4096, 16}, d, seed++);
    check_case(t2i);
  }
}

TEST_CASE("fused attention, memory-attention size: 4096 queries against 8256 keys, dim 256") {
  if (!gpu_present()) return;
  for (DType d : {DType::F32, DType::BF16}) {
    Case c;
    c.name = "memory attention [1, 1, 4096, 256] x 8256";
    c.q = rnd({1, 1, 4096, 256}, d, 900, 1.5);
    c.k = rnd({1, 1, 8256, 256}, d, 901, 1.5);
    c.v = rnd({1, 1, 8256, 256}, d, 902);
    check_case(c);
  }
}

TEST_CASE("fused attention: what the kernel does not take") {
  if (!gpu_present()) return;
  const Tensor q = to(rnd({2, 9, 16}, DType::F32, 1), Device::cuda());
  // Dropout goes to the composed ops on the device; until they all exist there, a clear error.
  const std::string dropout_error = error_of([&] { scaled_dot_product_attention(q, q, q, Tensor(), 0.5); });
  if (!dropout_error.empty()) CHECK(dropout_error.find("dropout_p > 0") != std::string::npos);
  // Head dims over 256 likewise.
  const Tensor big = to(rnd({1, 5, 300}, DType::BF16, 2), Device::cuda());
  const std::string dim_error = error_of([&] { scaled_dot_product_attention(big, big, big); });
  if (!dim_error.empty()) CHECK(dim_error.find("head dims 300") != std::string::npos);
  // Inputs on different devices are refused before any kernel runs.
  CHECK(error_of([&] { scaled_dot_product_attention(q, rnd({2, 9, 16}, DType::F32, 3), q); })
            .find("different devices") != std::string::npos);
}
