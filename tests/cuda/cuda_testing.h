#pragma once
// Helpers of the CUDA op tests: every CUDA op is checked against the CPU reference on the same
// random inputs, forward and backward (as ggml's test-backend-ops does for each backend). Where no
// GPU is present, each case reports that it was skipped and passes.
#include <functional>
#include <string>
#include <vector>

#include "cuda/cuda.h"
#include "testing.h"

namespace rvos::testing {

inline bool gpu_present() {
  if (cuda::is_available()) {
    cuda::ensure_backend();
    return true;
  }
  MESSAGE("skipped: no CUDA device (" << cuda::device_summary() << ")");
  return false;
}

// The tolerances of one dtype, for suites that run every case in each dtype.
struct DtypeTolerance {
  DType dtype;
  double atol, rtol;
};

struct DeviceCheck {
  double atol = 1e-5;
  double rtol = 1e-5;
  // Also compare the gradients of sum(out * w), w random, with respect to every floating input.
  bool backward = true;
  // Give the device the inputs as non-contiguous views (same values).
  bool non_contiguous_inputs = false;
};

// Runs f on `inputs` (CPU tensors) and on copies of them on cuda:0; the device result, moved back,
// must match the CPU one within atol + rtol * |cpu|; with backward, so must every input gradient.
inline void check_cuda_matches_cpu(const std::string& name, const std::function<Tensor(const TensorList&)>& f,
                                   const TensorList& inputs, const DeviceCheck& check = {}) {
  INFO(name);
  TensorList cpu_in, gpu_in;
  for (const Tensor& t : inputs) {
    const bool grad = check.backward && is_floating(t.dtype());
    Tensor c = t.detach();
    Tensor g = to(t.detach(), Device::cuda());
    if (check.non_contiguous_inputs && t.dim() >= 2) {
      // The same values stored transposed in the last two dimensions, viewed back.
      g = transpose(contiguous(transpose(g, -1, -2)), -1, -2);
    }
    if (grad) {
      c.set_requires_grad(true);
      g.set_requires_grad(true);
    }
    cpu_in.push_back(c);
    gpu_in.push_back(g);
  }
  const Tensor cpu_out = f(cpu_in);
  const Tensor gpu_out = f(gpu_in);
  REQUIRE(gpu_out.is_cuda());
  REQUIRE(gpu_out.shape() == cpu_out.shape());
  CHECK(gpu_out.dtype() == cpu_out.dtype());
  const Tensor back = to(gpu_out.detach(), Device::cpu());
  MESSAGE(name << ": max abs difference to the CPU " << max_abs_diff(back, cpu_out.detach()));
  CHECK_CLOSE(back, cpu_out.detach(), check.atol, check.rtol);
  if (!check.backward || !cpu_out.requires_grad()) return;
  const Tensor w = to(random(cpu_out.shape(), DType::F64, 99), cpu_out.dtype());
  TensorList cpu_grad_inputs, gpu_grad_inputs;
  for (size_t i = 0; i < cpu_in.size(); ++i) {
    if (cpu_in[i].requires_grad()) {
      cpu_grad_inputs.push_back(cpu_in[i]);
      gpu_grad_inputs.push_back(gpu_in[i]);
    }
  }
  const TensorList cpu_grads = grad(sum(mul(cpu_out, w)), cpu_grad_inputs);
  const TensorList gpu_grads = grad(sum(mul(gpu_out, to(w, Device::cuda()))), gpu_grad_inputs);
  for (size_t i = 0; i < cpu_grads.size(); ++i) {
    INFO("gradient of input " << i);
    if (!cpu_grads[i].defined()) continue;
    REQUIRE(gpu_grads[i].defined());
    const Tensor gb = to(gpu_grads[i], Device::cpu());
    MESSAGE(name << ": gradient " << i << " max abs difference " << max_abs_diff(gb, cpu_grads[i]));
    CHECK_CLOSE(gb, cpu_grads[i], check.atol, check.rtol);
  }
}

}  // namespace rvos::testing
