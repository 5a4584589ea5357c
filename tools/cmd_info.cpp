// rvos info: what this build is and what it can run on.
#include <iostream>
#include <algorithm>
#include <memory>

#include "cuda/cuda.h"
#include "ops/copy.h"
#include "ops/factory.h"
#include "rvos/version.h"
#include "tensor/parallel.h"
#include "tools/commands.h"

namespace rvos::cli {

Command add_info(CLI::App& parent) {
  CLI::App* cmd = parent.add_subcommand("info", "Print the version, build options, CPU threads and CUDA devices");
  auto cuda_check = std::make_shared<bool>(false);
  cmd->add_flag("--cuda", *cuda_check,
                "Also exercise device memory (a 64 MiB round trip through the caching allocator) and print its "
                "counters: allocated / reserved bytes with their peaks, allocations served from the cache, device "
                "allocations");
  cmd->footer("Examples:\n  rvos info\n  rvos info --cuda");
  return {cmd, [cuda_check] {
    std::cout << "rvos " << RVOS_VERSION << "\n";
#ifdef NDEBUG
    std::cout << "build: release";
#else
    std::cout << "build: debug";
#endif
    std::cout << ", C++" << __cplusplus / 100 % 100 << ", CUDA backend " << (RVOS_HAVE_CUDA ? "compiled" : "not compiled")
              << "\n";
    std::cout << "cpu: " << num_threads() << " thread(s) (OMP_NUM_THREADS to change)\n";
    std::cout << "dtypes: bool uint8 int32 int64 float16 bfloat16 float32 float64\n";
    std::cout << cuda::device_summary() << "\n";
    if (*cuda_check) {
      if (!cuda::is_available()) {
        std::cerr << "rvos info --cuda: no usable CUDA device\n";
        return 1;
      }
      cuda::ensure_backend();
      // A round trip large enough for the pinned staging path, then the allocator's counters.
      const Tensor host = arange(int64_t{16} << 20, DType::F32);
      const Tensor back = to(to(host, Device::cuda()), Device::cpu());
      const bool same = std::equal(host.data<float>(), host.data<float>() + host.numel(), back.data<float>());
      std::cout << "cuda:0 round trip of 64 MiB: " << (same ? "ok" : "MISMATCH") << "\n";
      std::cout << "cuda:0 memory: " << cuda::memory_stats(0).str() << "\n";
      if (!same) return 1;
    }
    return 0;
  }};
}

}  // namespace rvos::cli
